# shellcheck shell=bash
# GCP's part of infra/deploy.sh, which sources it: the functions every
# cloud's deploy.sh defines (infra/aws/deploy.sh lists them), over
# Terraform (this directory), Packer (images/), the gcloud CLI and the
# Cloud Monitoring API, whose JSON answers jq reads.
#
# Settings from the environment: TF_VAR_project (else gcloud's project),
# WEB (nginx or lighttpd, for the image), TF_VAR_* for any Terraform
# variable (variables.tf; image_build_access is true unless set: the image
# is built without an external IP, through Cloud NAT and IAP),
# ROLL_TIMEOUT (seconds apply waits for the group to be stable, default
# 3600) and ROLL_POLL (seconds between its looks, 15).

# root, say, ok, bad, die, packer_dir, git_commit and confirm are
# infra/deploy.sh's.
# shellcheck disable=SC2154
tf_dir=$root/infra/gcp

tf() { terraform -chdir="$tf_dir" "$@"; }

# The deployment's name: Terraform's var.name, from the state while there
# is one, else what the next terraform run would use. The image family is
# named for it, so destroy deletes this deployment's images only.
deployment_name() {
	local name
	name=$(tf output -raw name 2>/dev/null) || name=""
	echo "${name:-${TF_VAR_name:-candidates}}"
}

# The project: Terraform's (state, then TF_VAR_project), else gcloud's.
project() {
	local p
	p=$(tf output -raw project 2>/dev/null) || p=""
	[ -n "$p" ] || p=${TF_VAR_project:-}
	[ -n "$p" ] || p=$(gcloud config get-value project 2>/dev/null) || p=""
	echo "$p"
}

# A Terraform variable's value as the next run sees it (the environment's
# TF_VAR_, else its default), read without an account.
tf_var() {
	tf console <<<"var.$1" 2>/dev/null | tr -d '"'
}

cloud_url() {
	local url
	url=$(tf output -raw url 2>/dev/null) ||
	    die "no URL given and no deployment found in $tf_dir" \
		"pass the URL (make validate CLOUD=gcp URL=http://...), or run make deploy-gcp first"
	echo "$url"
}

cloud_check_env() {
	say "checking the tools and the Google Cloud project"
	local tool
	for tool in gcloud terraform packer curl git jq; do
		command -v "$tool" >/dev/null ||
		    die "$tool is not installed" \
			"install it (Debian: apt-get install terraform packer curl git jq; gcloud from Google's packages)"
		ok "$tool: $(command -v "$tool")"
	done
	local accounts who
	accounts=$(gcloud auth list --filter=status:ACTIVE --format=json 2>&1) ||
	    die "gcloud cannot list its accounts: $accounts" "run gcloud auth login"
	who=$(jq -r '.[0].account // empty' <<<"$accounts")
	[ -n "$who" ] || die "gcloud has no active account" "run gcloud auth login"
	# Terraform and Packer use Application Default Credentials, which
	# gcloud auth login does not set.
	gcloud auth application-default print-access-token >/dev/null 2>&1 ||
	    die "no Application Default Credentials, which Terraform and Packer use" \
		"run gcloud auth application-default login"
	ok "signed in as $who, with Application Default Credentials"
	local p info state
	p=$(project)
	[ -n "$p" ] || die "no project" "set TF_VAR_project=<project id>, or gcloud config set project <project id>"
	info=$(gcloud projects describe "$p" --format=json 2>&1) ||
	    die "the project $p cannot be read: $info" "check the id, and that $who may use it"
	state=$(jq -r '.lifecycleState // empty' <<<"$info")
	[ "$state" = ACTIVE ] || die "the project $p is $state" "use an active project"
	ok "project $p ($(jq -r '.name // "?"' <<<"$info"))"
}

# The newest image of the family, as JSON, or fail.
family_image() {
	gcloud compute images describe-from-family "$1" --project "$2" --format=json 2>/dev/null
}

# A Firestore database kept by an earlier destroy (Terraform abandons it)
# is taken back into the state, so that apply serves its data instead of
# failing on "already exists".
adopt_database() {
	tf state list 2>/dev/null | grep -qx google_firestore_database.this && return 0
	local p=$1 db
	db=$(tf_var firestore_database)
	[ -n "$db" ] || return 0
	gcloud firestore databases describe --database="$db" --project "$p" --format=json >/dev/null 2>&1 || return 0
	say "adopting the Firestore database $db, which an earlier destroy kept"
	tf import -input=false google_firestore_database.this "projects/$p/databases/$db" >/dev/null ||
	    die "could not take the Firestore database $db into the state" "fix the error above and run apply again"
}

# Waits until the group has reached its new version and is stable: the
# proactive update surges new instances, waits for their health check and
# only then removes old ones. Bounded by ROLL_TIMEOUT.
wait_for_roll() {
	local mig=$1 region=$2 p=$3 limit=${ROLL_TIMEOUT:-3600} start=$SECONDS out
	while :; do
		out=$(gcloud compute instance-groups managed describe "$mig" --region "$region" \
		    --project "$p" --format=json) ||
		    die "could not read the group $mig" "look at it in the console, then run validate"
		if [ "$(jq -r '.status.isStable and .status.versionTarget.isReached' <<<"$out")" = true ]; then
			break
		fi
		[ $((SECONDS - start)) -lt "$limit" ] ||
		    die "the group $mig is still updating after $limit s" \
			"watch it with gcloud compute instance-groups managed list-instances $mig --region $region, then run validate"
		printf '  group %s: updating to %s instances of its new version (%d s)\n' "$mig" \
		    "$(jq -r '.targetSize' <<<"$out")" $((SECONDS - start))
		sleep "${ROLL_POLL:-15}"
	done
	ok "group $mig: stable on its new version"
}

cloud_apply() {
	cloud_check_env
	local web=${WEB:-nginx} p name
	p=$(project)
	export TF_VAR_project=$p
	# The build subnet (Cloud NAT, SSH from IAP only): Packer's instance
	# needs no external IP. It costs nothing while no build runs.
	export TF_VAR_image_build_access=${TF_VAR_image_build_access:-true}
	tf init -input=false >/dev/null || die "terraform init failed" "check the network and rerun"
	adopt_database "$p"

	# With an image in the family this also keeps the running group as it
	# is (without image_family Terraform would delete it); only phase 3
	# changes it.
	name=$(deployment_name)
	local keep=""
	! family_image "$name" "$p" >/dev/null || keep=$name
	say "phase 1/3: APIs, network, firewall, service account, load balancer, Firestore (terraform)"
	TF_VAR_image_family=$keep tf apply -auto-approve -input=false ||
	    die "phase 1 failed" "fix the error above and run apply again (it resumes), or destroy"
	local zones zone network subnet tag port
	zones=$(tf output -json zones)
	zone=$(jq -r '.[0] // empty' <<<"$zones")
	network=$(tf output -raw network)
	subnet=$(tf output -raw build_subnetwork)
	tag=$(tf output -raw build_tag)
	port=$(tf_var web_port)
	[[ $port =~ ^[0-9]+$ ]] || die "cannot read Terraform's web_port" "check TF_VAR_web_port"
	local where=(-var "gcp_network=$network" -var "gcp_subnetwork=$subnet" -var "gcp_build_tag=$tag")
	local how="without an external IP, in $subnet through IAP"
	if [ -z "$subnet" ]; then
		# The deployment's network admits no SSH but IAP's on the build
		# subnet: without one, the project's default network.
		where=()
		how="with an external IP on the project's default network (image_build_access=false)"
	fi

	say "phase 2/3: the image ($web on Debian 12, port $port) into the family $name, $how (packer, about 10 minutes)"
	local dir
	dir=$(packer_dir)
	mkdir -p "$root/build"
	packer build -color=false -only=googlecompute.debian \
	    -var "source_root=$root" -var "gcp_project=$p" -var "gcp_zone=${zone:-us-central1-a}" \
	    "${where[@]}" -var "web_server=$web" -var "web_port=$port" \
	    -var "git_commit=$(git_commit)" -var "deployment=$name" "$dir" ||
	    die "phase 2 (packer) failed; what phase 1 made is still there" \
		"fix the error above and run apply again, or destroy"
	[ "$dir" = "$root/images" ] || rm -rf "$dir"
	local newest
	newest=$(family_image "$name" "$p" | jq -r '.name // empty') || newest=""
	[ -n "$newest" ] || die "no image in the family $name after the build" "look at packer's output above"
	ok "image $newest (family $name)"

	say "phase 3/3: instance template, group, autoscaler on the family's newest image (terraform)"
	TF_VAR_image_family=$name tf apply -auto-approve -input=false ||
	    die "phase 3 failed" "fix the error above and run apply again, or destroy"
	local running mig region
	running=$(tf output -raw image)
	[ "${running##*/}" = "$newest" ] ||
	    die "Terraform chose the image ${running##*/}, not $newest just built" \
		"check the family: gcloud compute images list --project $p --filter=family=$name"
	mig=$(tf output -raw instance_group)
	region=$(tf output -raw region)
	say "rolling the group $mig onto $newest"
	wait_for_roll "$mig" "$region" "$p"
	say "deployed: $(tf output -raw url)"
}

# The load balancer's view of the instances: its backend service's health
# check results. All healthy, and at least one, within LIMIT seconds.
cloud_wait_healthy() {
	local limit=$1 start=$SECONDS bs p out healthy total
	bs=$(tf output -raw backend_service)
	p=$(project)
	while :; do
		out=$(gcloud compute backend-services get-health "$bs" --global --project "$p" \
		    --format=json 2>/dev/null) || out='[]'
		read -r healthy total < <(jq -r '[.[].status.healthStatus[]?]
		    | "\(map(select(.healthState == "HEALTHY")) | length) \(length)"' <<<"$out")
		if [ "$total" -gt 0 ] && [ "$healthy" = "$total" ]; then
			ok "healthy backends: $healthy of $total behind $bs"
			return 0
		fi
		if [ $((SECONDS - start)) -ge "$limit" ]; then
			bad "healthy backends: $healthy of $total behind $bs after $limit s"
			exit 1
		fi
		printf '  waiting for healthy backends (%s of %s, %d s)\n' "$healthy" "$total" $((SECONDS - start))
		sleep "${VALIDATE_POLL:-5}"
	done
}

# No stress-ng on GCP: the instances admit no SSH and run no agent that
# takes commands (infra/gcp), so LOAD_CPU cannot reach them; the traffic
# alone must raise the CPU.
cloud_load_begin() {
	load_mig=$(tf output -raw instance_group 2>/dev/null) || load_mig=""
	load_region=$(tf output -raw region 2>/dev/null) || load_region=""
	load_project=$(project)
	[ -n "$load_mig" ] || die "no instance group in $tf_dir's state" \
	    "run make deploy-gcp first (load against a local URL needs no state)"
	[ "${LOAD_CPU:-0}" != 1 ] ||
	    die "LOAD_CPU=1 cannot run on GCP: its instances admit no SSH and take no commands" \
		"run load without LOAD_CPU; lower TF_VAR_cpu_target to see the group grow on traffic alone"
}

cloud_load_round() {
	:
}

# The group's instances, as JSON.
group_instances() {
	gcloud compute instance-groups managed list-instances "$load_mig" --region "$load_region" \
	    --project "$load_project" --format=json 2>/dev/null
}

# "DESIRED IN_SERVICE": the group's target size, and its instances that
# run and have nothing left to do.
cloud_instances() {
	local out list desired serving
	out=$(gcloud compute instance-groups managed describe "$load_mig" --region "$load_region" \
	    --project "$load_project" --format=json 2>/dev/null) || return 1
	list=$(group_instances) || return 1
	desired=$(jq -r '.targetSize // empty' <<<"$out")
	[[ $desired =~ ^[0-9]+$ ]] || return 1
	serving=$(jq -r '[.[] | select(.instanceStatus == "RUNNING" and .currentAction == "NONE")] | length' <<<"$list")
	echo "$desired $serving"
}

# The mean CPU of the group's running instances over the newest minute
# Cloud Monitoring has, from its API (gcloud has no command that reads
# time series), with gcloud's token.
cloud_average_cpu() {
	local list names token out cpu
	list=$(group_instances) || return 1
	names=$(jq -r '[.[] | select(.instanceStatus == "RUNNING") | .instance | split("/") | last
	    | "\"\(.)\""] | join(",")' <<<"$list")
	[ -n "$names" ] || return 1
	token=$(gcloud auth print-access-token 2>/dev/null) || return 1
	out=$(curl -fsS --max-time 20 -G -H "Authorization: Bearer $token" \
	    "https://monitoring.googleapis.com/v3/projects/$load_project/timeSeries" \
	    --data-urlencode "filter=metric.type=\"compute.googleapis.com/instance/cpu/utilization\" AND metric.labels.instance_name=one_of($names)" \
	    --data-urlencode "interval.startTime=$(date -u -d '-5 minutes' +%Y-%m-%dT%H:%M:%SZ)" \
	    --data-urlencode "interval.endTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	    --data-urlencode "aggregation.alignmentPeriod=60s" \
	    --data-urlencode "aggregation.perSeriesAligner=ALIGN_MEAN" \
	    --data-urlencode "aggregation.crossSeriesReducer=REDUCE_MEAN" 2>/dev/null) || return 1
	# Points come newest first; the value is a fraction.
	cpu=$(jq -r '.timeSeries[0].points[0].value.doubleValue // empty' <<<"$out")
	[[ $cpu =~ ^[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?$ ]] || return 1
	awk -v c="$cpu" 'BEGIN { printf "%.0f\n", c * 100 }'
}

cloud_load_end() {
	echo "the group scales in after the load stops (over the autoscaler's 10-minute window); watch it with:"
	echo "  gcloud compute instance-groups managed list-instances $load_mig --region $load_region --project $load_project"
}

cloud_destroy() {
	local yes="" delete_db="" arg
	for arg in "$@"; do
		case "$arg" in
		--yes) yes=1 ;;
		--delete-database) delete_db=1 ;;
		*) die "destroy takes --yes and --delete-database, not '$arg'" "see infra/deploy.sh's usage" ;;
		esac
	done
	local tool
	for tool in terraform gcloud jq; do
		command -v "$tool" >/dev/null || die "$tool is not installed" "install it"
	done
	local name p db
	# Before terraform destroy empties the state they come from.
	name=$(deployment_name)
	p=$(project)
	[ -n "$p" ] || die "no project" "set TF_VAR_project=<project id>"
	db=$(tf output -raw firestore_database 2>/dev/null) || db=""

	local fate
	if [ -n "$delete_db" ]; then
		fate="DELETED WITH ALL ITS DATA"
	else
		fate="kept with its data (--delete-database deletes it)"
	fi
	echo "destroy deletes the deployment $name in the project $p: its instance group and instances,"
	echo "template, autoscaler, load balancer, health check, firewall rules, network, service account,"
	echo "and its images (family $name). The Firestore database ${db:-(none in the state)} is $fate."
	echo "The APIs it enabled stay enabled."
	confirm "$yes"
	export TF_VAR_project=$p
	tf init -input=false >/dev/null || die "terraform init failed" "check the network and rerun"
	say "destroying the group, load balancer, network and service account (terraform)"
	# Terraform abandons the database (deletion_policy ABANDON): it leaves
	# the state and keeps its data.
	tf destroy -auto-approve -input=false ||
	    die "terraform destroy failed" "run destroy again; it resumes"

	say "deleting the images of the family $name in $p"
	# Listed first, whole: a failed listing must stop destroy, not look
	# like a project without images.
	local images i
	images=$(gcloud compute images list --project "$p" --no-standard-images \
	    --filter="family=$name" --format=json) ||
	    die "could not list the images of the family $name; they are still there" \
		"fix the error above, then run destroy again with TF_VAR_name=$name"
	for i in $(jq -r --arg n "$name" '.[] | select(.family == $n) | .name' <<<"$images"); do
		gcloud compute images delete "$i" --project "$p" --quiet ||
		    die "could not delete the image $i" "fix the error above, then run destroy again with TF_VAR_name=$name"
		ok "image $i"
	done

	if [ -n "$delete_db" ] && [ -n "$db" ]; then
		say "deleting the Firestore database $db: its delete protection off, then the database"
		gcloud firestore databases update --database="$db" --no-delete-protection --project "$p" >/dev/null ||
		    die "could not turn off the delete protection of the Firestore database $db" "fix the error above and run destroy again"
		gcloud firestore databases delete --database="$db" --project "$p" --quiet >/dev/null ||
		    die "could not delete the Firestore database $db" "fix the error above, then: gcloud firestore databases delete --database=$db --project $p"
		ok "Firestore database $db"
	elif [ -n "$db" ]; then
		echo "kept: the Firestore database $db in $p, with its data; make deploy-gcp in the same project serves it again"
	fi
	say "destroyed"
}
