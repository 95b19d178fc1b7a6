# shellcheck shell=bash
# AWS's part of infra/deploy.sh, which sources it: the functions every
# cloud's deploy.sh defines, over Terraform (this directory), Packer
# (images/) and the AWS CLI. infra/deploy.sh holds what clouds share (usage,
# messages, validate, the traffic of load, its plot).
#
#   cloud_check_env        tools and credentials, or die saying what to do
#   cloud_apply            everything up; returns once the group is rolled
#   cloud_url              the deployment's URL, or die
#   cloud_load_begin SECS  before a load: find the group, or die
#   cloud_load_round LEFT  each round of a load (LOAD_CPU=1: stress-ng on
#                          instances that do not run it yet)
#   cloud_instances        "DESIRED IN_SERVICE", or fail
#   cloud_average_cpu      the group's average CPU percent, or fail
#   cloud_load_end         after a load: what to watch next
#   cloud_destroy ARGS     everything apply made but the table, unless
#                          --delete-table; asks first unless --yes
#   cloud_wait_healthy S   (optional) before validate's checks on the
#                          deployment's own URL: wait up to S seconds for
#                          the front's backends to be healthy. AWS has
#                          none: its group's roll already waited for them.
#
# Settings from the environment: AWS_REGION (else the AWS CLI's region,
# else us-east-1), WEB (nginx or lighttpd, for the image), TF_VAR_* for any
# Terraform variable (variables.tf), TF_BACKEND_BUCKET (keep the state in
# that S3 bucket, locked by a lock file beside it; TF_BACKEND_REGION, else
# the region; the key is <name>/terraform.tfstate), ROLL_TIMEOUT (seconds
# apply waits for an instance refresh, default 3600) and ROLL_POLL (seconds
# between its looks, 15).

# root, say, ok, bad, die, packer_dir, git_commit, public_address and
# confirm are infra/deploy.sh's.
# shellcheck disable=SC2154
tf_dir=$root/infra/aws

tf() { terraform -chdir="$tf_dir" "$@"; }

# The region: the environment's, else the AWS CLI's, else Terraform's default.
region() {
	local r=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
	[ -n "$r" ] || r=$(aws configure get region 2>/dev/null || true)
	echo "${r:-us-east-1}"
}

# The deployment's name: Terraform's var.name, from the state while there
# is one, else what the next terraform run would use. It tags the images
# too (Project=<name>), so destroy removes this deployment's images only.
deployment_name() {
	local name
	name=$(tf output -raw name 2>/dev/null) || name=""
	echo "${name:-${TF_VAR_name:-candidates}}"
}

# terraform init, with the S3 backend when TF_BACKEND_BUCKET names a
# bucket: a backend block in an override file (git ignores it), its
# settings as -backend-config, and S3's own lock file (use_lockfile) so
# two operators never apply at once. Without it the state stays local.
tf_init() {
	local override=$tf_dir/backend_override.tf args=(-input=false)
	if [ -n "${TF_BACKEND_BUCKET:-}" ]; then
		printf '%s\n' '# Written by infra/deploy.sh because TF_BACKEND_BUCKET is set.' \
		    'terraform {' '  backend "s3" {}' '}' >"$override"
		args+=(-reconfigure
			"-backend-config=bucket=$TF_BACKEND_BUCKET"
			"-backend-config=key=$(deployment_name)/terraform.tfstate"
			"-backend-config=region=${TF_BACKEND_REGION:-$(region)}"
			-backend-config=use_lockfile=true
			-backend-config=encrypt=true)
	elif [ -e "$override" ]; then
		die "this deployment's state is in S3 ($override) but TF_BACKEND_BUCKET is not set" \
		    "set TF_BACKEND_BUCKET to its bucket, or remove $override to go back to local state"
	fi
	tf init "${args[@]}" >/dev/null ||
	    die "terraform init failed" "check the network (and TF_BACKEND_BUCKET's bucket) and rerun"
}

cloud_url() {
	local url
	url=$(tf output -raw url 2>/dev/null) ||
	    die "no URL given and no deployment found in $tf_dir" \
		"pass the URL (make validate URL=http://...), or run make deploy-aws first"
	echo "$url"
}

cloud_check_env() {
	say "checking the tools and the AWS account"
	local tool
	for tool in aws terraform packer curl git; do
		command -v "$tool" >/dev/null ||
		    die "$tool is not installed" \
			"install it (Debian: apt-get install awscli terraform packer curl git; or the vendors' packages)"
		ok "$tool: $(command -v "$tool")"
	done
	local account
	account=$(aws sts get-caller-identity --query Account --output text 2>&1) ||
	    die "the AWS credentials do not work: $account" \
		"run aws configure (or aws sso login, or set AWS_PROFILE)"
	ok "AWS account $account, region $(region)"
}

# A table kept by an earlier destroy is taken back into the state, so that
# apply serves its data instead of failing on "Table already exists".
adopt_table() {
	tf state list 2>/dev/null | grep -qx aws_dynamodb_table.candidates && return 0
	local table
	table=$(tf console <<<'local.table_name' 2>/dev/null | tr -d '"') || return 0
	[ -n "$table" ] || return 0
	aws dynamodb describe-table --region "$1" --table-name "$table" >/dev/null 2>&1 || return 0
	say "adopting the table $table, which an earlier destroy kept"
	tf import -input=false aws_dynamodb_table.candidates "$table" >/dev/null ||
	    die "could not take the table $table into the state" \
		"fix the error above and run apply again"
}

# Waits for the group's newest instance refresh, which phase 3 starts when
# the launch template changes: launch before terminate, rolled back by AWS
# on failed health checks or the 5xx alarm. Bounded by ROLL_TIMEOUT. An
# image that did not take is tagged away from the deployment ($name-
# rolled-back): kept for a post-mortem and for destroy, but no longer the
# newest image of the deployment, which the next apply would roll again.
wait_for_roll() {
	local reg=$1 asg=$2 ami=$3 name=$4 limit=${ROLL_TIMEOUT:-3600} start=$SECONDS out id status pct
	while :; do
		# shellcheck disable=SC2016 # backquotes are JMESPath literals
		out=$(aws autoscaling describe-instance-refreshes --region "$reg" \
		    --auto-scaling-group-name "$asg" --max-records 1 --output text \
		    --query 'InstanceRefreshes[0].[InstanceRefreshId, Status, PercentageComplete]') ||
		    die "could not read the group's instance refresh" "look at it in the EC2 console, then run validate"
		read -r id status pct <<<"$out"
		case "$status" in
		None | '' | Successful) break ;;
		Pending | InProgress | Cancelling | RollbackInProgress | Baking) ;;
		*)
			aws ec2 create-tags --region "$reg" --resources "$ami" \
			    --tags "Key=Project,Value=$name-rolled-back" ||
			    die "the instance refresh $id ended $status, and the image $ami could not be tagged away from $name" \
				"deregister $ami (aws ec2 deregister-image --region $reg --image-id $ami) before the next apply, which would roll it out again"
			die "the instance refresh $id ended $status: the new image did not take (AWS rolled back to the previous one where it could); $ami is now tagged Project=$name-rolled-back, so the next apply does not pick it" \
			    "see why with: aws autoscaling describe-instance-refreshes --region $reg --auto-scaling-group-name $asg"
			;;
		esac
		[ $((SECONDS - start)) -lt "$limit" ] ||
		    die "the instance refresh $id is still $status after $limit s" \
			"watch it with aws autoscaling describe-instance-refreshes, then run validate"
		printf '  instance refresh %s: %s, %s %% (%d s)\n' "$id" "$status" "$pct" $((SECONDS - start))
		sleep "${ROLL_POLL:-15}"
	done
	[ -z "$id" ] || [ "$id" = None ] || ok "instance refresh $id: Successful"
}

cloud_apply() {
	cloud_check_env
	local reg web=${WEB:-nginx}
	reg=$(region)
	export TF_VAR_region=$reg
	tf_init
	# The image is found in AWS by its tag now; an old run's file would
	# pin the group to the image it names.
	if [ -e "$tf_dir/image.auto.tfvars" ]; then
		rm -f "$tf_dir/image.auto.tfvars"
		ok "removed image.auto.tfvars: Terraform finds the newest image of the deployment in AWS"
	fi
	adopt_table "$reg"

	# One source for the port, Terraform's var.web_port: Packer builds the
	# image for it, and the launch template refuses an image for another.
	local port was
	port=$(tf console <<<'var.web_port') || port=""
	[[ $port =~ ^[0-9]+$ ]] ||
	    die "could not read web_port from Terraform (got '$port')" "fix the error above and run apply again"
	was=$(tf output -raw web_port 2>/dev/null) || was=""

	say "phase 1/3: network, load balancer, DynamoDB table, IAM (terraform)"
	# With an image of this deployment in AWS this also keeps the running
	# group as it is; only phase 3 changes it. A deployment that moves to
	# another port keeps the old one here: its image, built for that port,
	# still passes the launch template's check; the target group, security
	# groups and template move together in phase 3, on the new image.
	if [ -n "$was" ] && [ "$was" != "$port" ]; then
		echo "  web_port $was -> $port: phase 1 keeps $was until the image for $port is built"
		TF_VAR_web_port=$was tf apply -auto-approve -input=false ||
		    die "phase 1 failed" "fix the error above and run apply again (it resumes), or destroy"
	else
		tf apply -auto-approve -input=false ||
		    die "phase 1 failed" "fix the error above and run apply again (it resumes), or destroy"
	fi
	local subnet name
	subnet=$(tf output -raw packer_subnet_id)
	name=$(deployment_name)

	say "phase 2/3: the image ($web on Debian 12, port $port) for $name in subnet $subnet (packer, about 10 minutes)"
	local ip dir
	ip=$(public_address) ||
	    die "cannot find this machine's public address for Packer's SSH rule" \
		"check the network, or run packer yourself with -var 'aws_ssh_cidrs=[\"YOUR.IP/32\"]'"
	dir=$(packer_dir)
	mkdir -p "$root/build"
	packer build -color=false -only=amazon-ebs.debian \
	    -var "source_root=$root" -var "aws_region=$reg" \
	    -var "aws_subnet_id=$subnet" -var "web_server=$web" \
	    -var "web_port=$port" -var "git_commit=$(git_commit)" \
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
	ok "image $ami (tagged Project=$name)"

	say "phase 3/3: launch template and Auto Scaling Group on the newest image of $name (terraform)"
	tf apply -auto-approve -input=false ||
	    die "phase 3 failed" "fix the error above and run apply again, or destroy"
	local running asg
	running=$(tf output -raw ami_id)
	[ "$running" = "$ami" ] ||
	    die "Terraform chose the image $running, not $ami just built" \
		"check the images tagged Project=$name (aws ec2 describe-images --owners self), or set TF_VAR_ami_id"
	asg=$(tf output -raw asg_name)
	say "rolling the group $asg onto $ami"
	wait_for_roll "$reg" "$asg" "$ami" "$name"
	say "deployed: $(tf output -raw url)"
}

cloud_load_begin() {
	load_region=$(tf output -raw region 2>/dev/null || region)
	load_asg=$(tf output -raw asg_name 2>/dev/null || true)
	[ -n "$load_asg" ] || die "no Auto Scaling Group in $tf_dir's state" \
	    "run make deploy-aws first (load against a local URL needs no state)"
	load_stressed=" "
	load_rounds=0
	[ "${LOAD_CPU:-0}" != 1 ] ||
	    echo "load: stress-ng (90 % of every CPU) on each instance as it comes into service, through SSM"
}

# With LOAD_CPU=1, stress-ng on every instance in service that does not run
# it yet, until the load ends: a new instance takes its share of the load
# at once, so the average stays high and the group grows to its maximum.
# An instance SSM does not know yet (still registering) is tried again
# next round; none at all on the first round stops the load.
cloud_load_round() {
	load_rounds=$((load_rounds + 1))
	[ "${LOAD_CPU:-0}" = 1 ] || return 0
	local left=$1 ids id started=0
	# shellcheck disable=SC2016 # backquotes are JMESPath literals
	ids=$(aws autoscaling describe-auto-scaling-groups --region "$load_region" \
	    --auto-scaling-group-names "$load_asg" --output text \
	    --query 'AutoScalingGroups[0].Instances[?LifecycleState==`InService`].InstanceId' 2>/dev/null) || ids=""
	for id in $ids; do
		[[ $load_stressed != *" $id "* ]] || continue
		if aws ssm send-command --region "$load_region" --document-name AWS-RunShellScript \
		    --instance-ids "$id" \
		    --parameters "commands=[\"stress-ng --cpu 0 --cpu-load 90 --timeout ${left}s\"]" \
		    --query Command.CommandId --output text >/dev/null 2>&1; then
			load_stressed="$load_stressed$id "
			started=$((started + 1))
			ok "stress-ng on $id for $left s"
		else
			echo "  stress-ng not started on $id yet (SSM does not reach it); next round"
		fi
	done
	[ "$load_rounds" -gt 1 ] || [ "$load_stressed" != " " ] ||
	    die "SSM could not start stress-ng on any instance" \
		"check that the instances show in Systems Manager > Fleet Manager (ssm_endpoints must be true)"
}

cloud_instances() {
	local out
	# shellcheck disable=SC2016 # backquotes are JMESPath literals
	out=$(aws autoscaling describe-auto-scaling-groups --region "$load_region" \
	    --auto-scaling-group-names "$load_asg" --output text \
	    --query 'AutoScalingGroups[0].[DesiredCapacity, length(Instances[?LifecycleState==`InService`])]' 2>/dev/null) ||
	    return 1
	[[ $out =~ ^([0-9]+)[[:space:]]+([0-9]+)$ ]] || return 1
	echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
}

# The newest one-minute average of the group's CPU (detailed monitoring).
cloud_average_cpu() {
	local out
	out=$(aws cloudwatch get-metric-statistics --region "$load_region" \
	    --namespace AWS/EC2 --metric-name CPUUtilization \
	    --dimensions "Name=AutoScalingGroupName,Value=$load_asg" \
	    --statistics Average --period 60 \
	    --start-time "$(date -u -d '-5 minutes' +%Y-%m-%dT%H:%M:%SZ)" \
	    --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	    --query 'sort_by(Datapoints, &Timestamp)[-1].Average' --output text 2>/dev/null) ||
	    return 1
	[[ $out =~ ^[0-9]+(\.[0-9]+)?$ ]] || return 1
	printf '%.0f\n' "$out"
}

cloud_load_end() {
	echo "the group scales in after the load stops; watch it with:"
	echo "  aws autoscaling describe-auto-scaling-groups --region $load_region --auto-scaling-group-names $load_asg"
}

cloud_destroy() {
	local yes="" delete_table="" arg
	for arg in "$@"; do
		case "$arg" in
		--yes) yes=1 ;;
		--delete-table) delete_table=1 ;;
		*) die "destroy takes --yes and --delete-table, not '$arg'" "see infra/deploy.sh's usage" ;;
		esac
	done
	command -v terraform >/dev/null || die "terraform is not installed" "install it"
	command -v aws >/dev/null || die "aws is not installed" "install the AWS CLI"
	local reg name table
	# First: with the state in S3, a fresh checkout reads no output before.
	tf_init
	reg=$(tf output -raw region 2>/dev/null || region)
	# Before terraform destroy empties the state they come from.
	name=$(deployment_name)
	table=$(tf output -raw table_name 2>/dev/null) || table=""

	local fate
	if [ -n "$delete_table" ]; then
		fate="DELETED WITH ALL ITS DATA"
	else
		fate="kept with its data (--delete-table deletes it)"
	fi
	echo "destroy deletes the deployment $name in $reg: its Auto Scaling Group and instances,"
	echo "load balancer, alarms, VPC and endpoints, IAM role, and its images (tag Project=$name or $name-rolled-back)"
	echo "with their snapshots. The DynamoDB table ${table:-(none in the state)} is $fate."
	confirm "$yes"
	export TF_VAR_region=$reg
	if [ -n "$delete_table" ]; then
		if [ -n "$table" ]; then
			say "turning off the deletion protection of $table"
			TF_VAR_table_deletion_protection=false tf apply -auto-approve -input=false \
			    -target=aws_dynamodb_table.candidates ||
			    die "could not turn off the table's deletion protection" "fix the error above and run destroy again"
		fi
	elif tf state list 2>/dev/null | grep -qx aws_dynamodb_table.candidates; then
		# Out of the state, the table is no longer Terraform's to delete.
		tf state rm aws_dynamodb_table.candidates >/dev/null ||
		    die "could not set the table $table aside" "fix the error above and run destroy again"
		ok "table $table set aside: it stays, with its data"
	fi
	say "destroying the group, load balancer, alarms, IAM and network (terraform)"
	tf destroy -auto-approve -input=false ||
	    die "terraform destroy failed" "run destroy again; it resumes"

	say "deregistering the images of $name (tag Project=$name or $name-rolled-back) and deleting their snapshots in $reg"
	# Listed first, whole: a failed listing must stop destroy, not look
	# like a region without images. Later runs have no state to take the
	# name from, hence TF_VAR_name in what to do.
	# shellcheck disable=SC2016 # backquotes are JMESPath literals
	local images image snapshots query='Images[].[ImageId, join(`" "`, BlockDeviceMappings[].Ebs.SnapshotId)]'
	images=$(aws ec2 describe-images --region "$reg" --owners self \
	    --filters "Name=tag:Project,Values=$name,$name-rolled-back" --output text --query "$query") ||
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
	if [ -z "$delete_table" ] && [ -n "$table" ]; then
		echo "kept: the table $table in $reg, with its data; make deploy-aws with the same name serves it again"
	fi
	say "destroyed"
}
