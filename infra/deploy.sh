#!/bin/bash
# Puts the candidates service on a cloud, checks it, loads it, takes it down.
#
#   infra/deploy.sh aws check-env          tools present, credentials work
#   infra/deploy.sh aws apply              phase 1 network, table, IAM;
#                                          phase 2 image; phase 3 instances
#   infra/deploy.sh aws validate [URL]     wait for /gtg, then the API works
#   infra/deploy.sh aws load [URL]         traffic, and the group's size
#   infra/deploy.sh aws destroy [--yes]    everything apply made, images too
#
# URL defaults to the deployment's load balancer; validate and load also
# take a local stack's URL (make run), where they only send traffic.
#
# Settings from the environment: AWS_REGION (else the AWS CLI's region,
# else us-east-1), WEB (nginx or lighttpd, for the image), TF_VAR_* for any
# Terraform variable (infra/aws/variables.tf), VALIDATE_TIMEOUT (seconds
# to wait for /gtg, default 600), LOAD_SECONDS (default 300 on AWS, 10
# locally), LOAD_CPU=1 (also run stress-ng on the instances through SSM).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tf_dir=$root/infra/aws

say() { printf '==> %s\n' "$*"; }
ok() { printf '  \342\234\223 %s\n' "$*"; }
bad() { printf '  \342\234\227 %s\n' "$*" >&2; }
die() {
	printf 'deploy.sh: %s\n' "$1" >&2
	[ $# -lt 2 ] || printf '  what to do: %s\n' "$2" >&2
	exit 1
}

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

tf() { terraform -chdir="$tf_dir" "$@"; }

# The region: the environment's, else the AWS CLI's, else Terraform's default.
region() {
	local r=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
	[ -n "$r" ] || r=$(aws configure get region 2>/dev/null || true)
	echo "${r:-us-east-1}"
}

# A URL on this machine is a local stack: no cloud to ask about it.
is_local() {
	case "$1" in
	http://127.* | http://localhost[:/]* | http://localhost | http://\[::1\]*) return 0 ;;
	*) return 1 ;;
	esac
}

# The deployment's URL when none is given.
default_url() {
	local url
	url=$(tf output -raw url 2>/dev/null) ||
	    die "no URL given and no deployment found in $tf_dir" \
		"pass the URL (make validate URL=http://...), or run make deploy-aws first"
	echo "$url"
}

# The deployment's name: Terraform's var.name, from the state while there
# is one, else what the next terraform run would use. It tags the images
# too (Project=<name>), so destroy removes this deployment's images only.
deployment_name() {
	local name
	name=$(tf output -raw name 2>/dev/null) || name=""
	echo "${name:-${TF_VAR_name:-candidates}}"
}

check_env() {
	say "checking the tools and the AWS account"
	local tool
	for tool in aws terraform packer curl; do
		command -v "$tool" >/dev/null ||
		    die "$tool is not installed" \
			"install it (Debian: apt-get install awscli terraform packer curl; or the vendors' packages)"
		ok "$tool: $(command -v "$tool")"
	done
	local account
	account=$(aws sts get-caller-identity --query Account --output text 2>&1) ||
	    die "the AWS credentials do not work: $account" \
		"run aws configure (or aws sso login, or set AWS_PROFILE)"
	ok "AWS account $account, region $(region)"
}

# Debian's packer 1.6.6 has the amazon builder built in and rejects the
# required_plugins block; later versions need that block and packer init.
# Prints the directory to build from.
packer_dir() {
	local version
	version=$(packer version | sed -n '1s/^Packer v\{0,1\}\([0-9.]*\).*/\1/p')
	case "$version" in
	0.* | 1.[0-6].*)
		local dir
		dir=$(mktemp -d)
		find "$root/images" -maxdepth 1 -name '*.pkr.hcl' \
		    ! -name plugins.pkr.hcl -exec cp {} "$dir/" \;
		echo "$dir"
		;;
	*)
		packer init "$root/images" >&2
		echo "$root/images"
		;;
	esac
}

apply() {
	check_env
	local reg web=${WEB:-nginx}
	reg=$(region)
	export TF_VAR_region=$reg
	tf init -input=false >/dev/null ||
	    die "terraform init failed" "check the network and rerun"

	say "phase 1/3: network, load balancer, DynamoDB table, IAM (terraform)"
	# With image.auto.tfvars from an earlier run this also keeps the running
	# group as it is; only phase 3 changes it.
	tf apply -auto-approve -input=false ||
	    die "phase 1 failed" "fix the error above and run apply again (it resumes), or destroy"
	local subnet name
	subnet=$(tf output -raw packer_subnet_id)
	name=$(deployment_name)

	say "phase 2/3: the image ($web on Debian 12) for $name in subnet $subnet (packer, about 10 minutes)"
	local ip dir
	ip=$(curl -fsS --max-time 10 https://checkip.amazonaws.com) ||
	    die "cannot find this machine's public address for Packer's SSH rule" \
		"check the network, or run packer yourself with -var 'aws_ssh_cidrs=[\"YOUR.IP/32\"]'"
	dir=$(packer_dir)
	mkdir -p "$root/build"
	packer build -color=false \
	    -var "source_root=$root" -var "aws_region=$reg" \
	    -var "aws_subnet_id=$subnet" -var "web_server=$web" \
	    -var "deployment=$name" -var "aws_ssh_cidrs=[\"$ip/32\"]" "$dir" ||
	    die "phase 2 (packer) failed; the network from phase 1 is still there" \
		"fix the error above and run apply again, or destroy"
	[ "$dir" = "$root/images" ] || rm -rf "$dir"
	local ami
	ami=$(grep -o '"artifact_id": *"[^"]*"' "$root/build/packer-manifest.json" |
	    tail -n 1 | sed 's/.*:\(ami-[0-9a-f]*\)"$/\1/')
	case "$ami" in
	ami-*) ;;
	*) die "no AMI id in build/packer-manifest.json" "look at packer's output above" ;;
	esac
	printf '# Written by infra/deploy.sh: the image phase 2 built.\nami_id = "%s"\n' \
	    "$ami" >"$tf_dir/image.auto.tfvars"
	ok "image $ami"

	say "phase 3/3: launch template and Auto Scaling Group on $ami (terraform)"
	tf apply -auto-approve -input=false ||
	    die "phase 3 failed" "fix the error above and run apply again, or destroy"
	local url
	url=$(tf output -raw url)
	say "deployed: $url"
	echo "next: make validate URL=$url"
}

# curl's status code into $code and the body into $body. A POST sends an
# empty body with its length: lighttpd refuses a POST without one (411).
request() {
	local out data=()
	[ "$1" != POST ] || data=(--data-binary '')
	out=$(curl -sS --max-time 10 -X "$1" "${data[@]}" -w '\n%{http_code}' "$2" 2>&1) || {
		code=000 body=${out%%$'\n'*}
		return 0
	}
	code=${out##*$'\n'}
	body=${out%$'\n'*}
	# The API ends JSON with a newline, like Flask's jsonify.
	body=${body%$'\n'}
}

validate() {
	local url=${1:-}
	[ -n "$url" ] || url=$(default_url)
	url=${url%/}
	local limit=${VALIDATE_TIMEOUT:-600} start=$SECONDS code body
	say "validating $url"
	# Bounded wait: a new group takes minutes before a target is healthy,
	# and until then the load balancer answers 502 or 503.
	while :; do
		request GET "$url/gtg"
		[ "$code" = 200 ] && break
		if [ $((SECONDS - start)) -ge "$limit" ]; then
			bad "good to go: no 200 from /gtg in ${limit} s (last: $code $body)"
			exit 1
		fi
		printf '  waiting for /gtg (HTTP %s, %d s)\n' "$code" $((SECONDS - start))
		sleep 5
	done
	ok "good to go"

	# Only characters that need no escaping, so the bodies can be compared
	# byte for byte.
	local name want
	name="validate-$(date +%s)-$$"
	want="{\"CandidateName\":\"$name\"}"
	request POST "$url/candidate/$name"
	if [ "$code" != 200 ] || [ "$body" != "$want" ]; then
		bad "insert: POST /candidate/$name: HTTP $code: $body"
		exit 1
	fi
	ok "insert"
	request GET "$url/candidate/$name"
	if [ "$code" != 200 ] || [ "$body" != "[$want]" ]; then
		bad "verify: GET /candidate/$name: HTTP $code: $body"
		exit 1
	fi
	ok "verify"
	request GET "$url/candidates"
	if [ "$code" != 200 ] || [[ $body != *"$want"* ]]; then
		bad "list: GET /candidates: HTTP $code, $name missing"
		exit 1
	fi
	ok "list"
}

# The group's size, as "desired D, in service N". A failed call (throttled,
# say) says so on the line, and the load goes on.
group_size() {
	local out
	# shellcheck disable=SC2016 # backquotes are JMESPath literals
	out=$(aws autoscaling describe-auto-scaling-groups --region "$1" \
	    --auto-scaling-group-names "$2" --output text \
	    --query 'AutoScalingGroups[0].[DesiredCapacity, length(Instances[?LifecycleState==`InService`])]' 2>/dev/null) || {
		printf 'size unknown (describe-auto-scaling-groups failed)'
		return 0
	}
	awk '{ printf "desired %s, in service %s", $1, $2 }' <<<"$out"
}

load() {
	local url=${1:-}
	[ -n "$url" ] || url=$(default_url)
	url=${url%/}
	local seconds asg="" reg=""
	if is_local "$url"; then
		seconds=${LOAD_SECONDS:-10}
	else
		seconds=${LOAD_SECONDS:-300}
		reg=$(tf output -raw region 2>/dev/null || region)
		asg=$(tf output -raw asg_name 2>/dev/null || true)
		[ -n "$asg" ] || die "no Auto Scaling Group in $tf_dir's state" \
		    "run make deploy-aws first (load against a local URL needs no state)"
	fi
	say "load: $url for $seconds s"

	if [ -n "$asg" ] && [ "${LOAD_CPU:-0}" = 1 ]; then
		aws ssm send-command --region "$reg" --document-name AWS-RunShellScript \
		    --targets "Key=tag:aws:autoscaling:groupName,Values=$asg" \
		    --parameters "commands=[\"stress-ng --cpu 0 --cpu-load 90 --timeout ${seconds}s\"]" \
		    --query Command.CommandId --output text >/dev/null ||
		    die "SSM could not start stress-ng" "check that the instances show in Systems Manager > Fleet Manager"
		ok "stress-ng runs on the group's instances for $seconds s"
	fi

	# One name the load reads back: a Query per request on DynamoDB.
	local name="load-test" code body
	request POST "$url/candidate/$name"
	[ "$code" = 200 ] || die "POST /candidate/$name answered $code: $body" "run validate first"

	# One curl process per round, requests in parallel on kept-alive
	# connections; every round is bounded in count and time.
	local batch=${LOAD_BATCH:-2000} conf total=0 start=$SECONDS
	conf=$(mktemp)
	trap 'rm -f "$conf"' RETURN
	local i
	for ((i = 0; i < batch; i++)); do
		printf 'url = "%s/candidate/%s"\noutput = "/dev/null"\n' "$url" "$name"
	done >"$conf"
	while [ $((SECONDS - start)) -lt "$seconds" ]; do
		local t0=$SECONDS codes
		codes=$(curl --silent --parallel --parallel-max 32 --max-time 30 \
		    -w '%{http_code}\n' -K "$conf" 2>/dev/null | sort | uniq -c |
		    awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')
		total=$((total + batch))
		local line
		line=$(printf 'load: %d requests in %d s (%s)' "$total" \
		    $((SECONDS - start)) "$codes")
		[ -z "$asg" ] || line="$line; group: $(group_size "$reg" "$asg")"
		echo "$line"
		[ $((SECONDS - t0)) -gt 0 ] || sleep 1
	done
	if [ -n "$asg" ]; then
		echo "the group scales in after the load stops; watch it with:"
		echo "  aws autoscaling describe-auto-scaling-groups --region $reg --auto-scaling-group-names $asg"
	fi
}

destroy() {
	local yes=${1:-}
	command -v terraform >/dev/null || die "terraform is not installed" "install it"
	command -v aws >/dev/null || die "aws is not installed" "install the AWS CLI"
	local reg name
	reg=$(tf output -raw region 2>/dev/null || region)
	# Before terraform destroy empties the state it comes from.
	name=$(deployment_name)
	if [ "$yes" != --yes ]; then
		[ -t 0 ] || die "destroy deletes the table and its data" "run it with --yes"
		printf 'This deletes the deployment %s in %s, the Candidates table and its data, and its images. Type yes: ' "$name" "$reg"
		local answer
		read -r answer
		[ "$answer" = yes ] || die "not destroyed" "type yes to destroy"
	fi
	say "destroying the group, load balancer, table, IAM and network (terraform)"
	tf init -input=false >/dev/null
	TF_VAR_region=$reg tf destroy -auto-approve -input=false ||
	    die "terraform destroy failed" "run destroy again; it resumes"
	rm -f "$tf_dir/image.auto.tfvars"

	say "deregistering the images of $name (tag Project=$name) and deleting their snapshots in $reg"
	# Listed first, whole: a failed listing must stop destroy, not look
	# like a region without images. Later runs have no state to take the
	# name from, hence TF_VAR_name in what to do.
	# shellcheck disable=SC2016 # backquotes are JMESPath literals
	local images image snapshots query='Images[].[ImageId, join(`" "`, BlockDeviceMappings[].Ebs.SnapshotId)]'
	images=$(aws ec2 describe-images --region "$reg" --owners self \
	    --filters "Name=tag:Project,Values=$name" --output text --query "$query") ||
	    die "could not list the images of $name in $reg; they and their snapshots are still there" \
		"fix the error above, then run destroy again with TF_VAR_name=$name; it resumes"
	while read -r image snapshots; do
		[ -n "$image" ] || continue
		aws ec2 deregister-image --region "$reg" --image-id "$image" ||
		    die "could not deregister $image" "fix the error above, then run destroy again with TF_VAR_name=$name"
		ok "image $image"
		local s
		for s in $snapshots; do
			aws ec2 delete-snapshot --region "$reg" --snapshot-id "$s" ||
			    die "could not delete $s (its image $image is gone, so destroy will not list it again)" \
				"fix the error above, then: aws ec2 delete-snapshot --region $reg --snapshot-id $s"
			ok "snapshot $s"
		done
	done <<<"$images"
	say "destroyed"
}

[ $# -ge 2 ] || usage
cloud=$1 command=$2
shift 2
[ "$cloud" = aws ] || die "unknown cloud '$cloud'" "use aws (Azure and GCP come later)"
case "$command" in
check-env) check_env ;;
apply) apply ;;
validate) validate "$@" ;;
load) load "$@" ;;
destroy) destroy "$@" ;;
*) usage ;;
esac
