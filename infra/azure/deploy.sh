# shellcheck shell=bash
# Azure's part of infra/deploy.sh, which sources it: the functions every
# cloud's deploy.sh defines (infra/aws/deploy.sh lists them), over
# Terraform (this directory), Packer (images/) and the Azure CLI, whose
# JSON answers jq reads.
#
# Settings from the environment: ARM_SUBSCRIPTION_ID (else the Azure CLI's
# subscription), WEB (nginx or lighttpd, for the image), TF_VAR_* for any
# Terraform variable (variables.tf; TF_VAR_image_version=1.x.y runs that
# version instead of the newest, a roll back; TF_VAR_admin_ssh_public_key, else
# ~/.ssh/id_ed25519.pub or ~/.ssh/id_rsa.pub, is the key Azure requires
# on the instances), ROLL_TIMEOUT (seconds apply waits for a rolling
# upgrade, default 3600) and ROLL_POLL (seconds between its looks, 15).

# root, say, ok, bad, die, packer_dir, git_commit, public_address and
# confirm are infra/deploy.sh's.
# shellcheck disable=SC2154
tf_dir=$root/infra/azure

tf() { terraform -chdir="$tf_dir" "$@"; }

# The deployment's name: Terraform's var.name, from the state while there
# is one, else what the next terraform run would use. Everything of the
# deployment is in the resource group <name>-rg and tagged Project=<name>
# (network.tf), Packer's managed images included.
deployment_name() {
	local name
	name=$(tf output -raw name 2>/dev/null) || name=""
	echo "${name:-${TF_VAR_name:-candidates}}"
}

resource_group() {
	local rg
	rg=$(tf output -raw resource_group 2>/dev/null) || rg=""
	echo "${rg:-$(deployment_name)-rg}"
}

# A Terraform variable's value as the next run sees it (the environment's
# TF_VAR_, else its default), read without an account.
tf_var() {
	tf console <<<"var.$1" 2>/dev/null | tr -d '"'
}

# The subscription: ARM_SUBSCRIPTION_ID, else the Azure CLI's. azurerm 4
# needs one, so it is exported for Terraform.
subscription() {
	if [ -n "${ARM_SUBSCRIPTION_ID:-}" ]; then
		echo "$ARM_SUBSCRIPTION_ID"
		return 0
	fi
	az account show --output json 2>/dev/null | jq -r '.id // empty'
}

# The instances' admin key, which Azure requires on a Linux scale set;
# nothing admits SSH, so it serves only through Azure Bastion or a rule
# added by hand. The same key every run, or each apply would change the
# scale set's model and roll every instance.
admin_key() {
	if [ -n "${TF_VAR_admin_ssh_public_key:-}" ]; then
		echo "$TF_VAR_admin_ssh_public_key"
		return 0
	fi
	local f
	for f in "$HOME/.ssh/id_ed25519.pub" "$HOME/.ssh/id_rsa.pub"; do
		if [ -r "$f" ]; then
			cat "$f"
			return 0
		fi
	done
	return 1
}

cloud_url() {
	local url
	url=$(tf output -raw url 2>/dev/null) ||
	    die "no URL given and no deployment found in $tf_dir" \
		"pass the URL (make validate CLOUD=azure URL=http://...), or run make deploy-azure first"
	echo "$url"
}

cloud_check_env() {
	say "checking the tools and the Azure subscription"
	local tool
	for tool in az terraform packer curl git jq; do
		command -v "$tool" >/dev/null ||
		    die "$tool is not installed" \
			"install it (Debian: apt-get install terraform packer curl git jq; the Azure CLI from Microsoft's packages)"
		ok "$tool: $(command -v "$tool")"
	done
	local account sub args=()
	sub=${ARM_SUBSCRIPTION_ID:-}
	[ -z "$sub" ] || args=(--subscription "$sub")
	account=$(az account show "${args[@]}" --output json 2>&1) ||
	    die "the Azure CLI has no usable subscription${sub:+ $sub}: $account" \
		"run az login (and az account set --subscription <id>, or set ARM_SUBSCRIPTION_ID)"
	local id name state
	id=$(jq -r '.id // empty' <<<"$account")
	name=$(jq -r '.name // empty' <<<"$account")
	state=$(jq -r '.state // empty' <<<"$account")
	[ -n "$id" ] || die "az account show named no subscription" "run az login"
	[ "$state" = Enabled ] ||
	    die "the subscription $name ($id) is $state" "use an enabled subscription: az account set --subscription <id>"
	ok "Azure subscription $name ($id), signed in as $(jq -r '.user.name // "?"' <<<"$account")"
	admin_key >/dev/null ||
	    die "no SSH public key for the instances' admin user, which Azure requires" \
		"set TF_VAR_admin_ssh_public_key, or make one with ssh-keygen -t ed25519"
	ok "admin key for the instances (no rule admits SSH)"
}

# The newest version of the gallery image, numbers compared as numbers.
newest_version() {
	local list
	list=$(az sig image-version list --resource-group "$1" --gallery-name "$2" \
	    --gallery-image-definition "$3" --output json) || return 1
	jq -r '.[].name' <<<"$list" | sort -t . -k1,1n -k2,2n -k3,3n | tail -n 1
}

# A Cosmos DB account kept by an earlier destroy stays in its resource
# group, which destroy keeps with it: both, with the database and the
# container, are taken back into the state, so that apply serves the data
# again instead of failing on names already taken.
adopt_database() {
	tf state list 2>/dev/null | grep -qx azurerm_resource_group.this && return 0
	local rg name sub
	name=$(deployment_name)
	rg="$name-rg"
	[ "$(az group exists --name "$rg" --output json 2>/dev/null)" = true ] || return 0
	local accounts id
	accounts=$(az cosmosdb list --resource-group "$rg" --output json) ||
	    die "the resource group $rg exists but its Cosmos DB accounts cannot be listed" "fix the error above and run apply again"
	id=$(jq -r --arg n "$name" '[.[] | select(.tags.Project == $n)][0].id // empty' <<<"$accounts")
	[ -n "$id" ] || die "the resource group $rg exists but holds no Cosmos DB account of $name" \
	    "delete it (az group delete --name $rg) or choose another TF_VAR_name"
	sub=$(subscription)
	say "adopting the resource group $rg and the Cosmos DB account ${id##*/}, which an earlier destroy kept"
	local db=$id/sqlDatabases/CandidateDatabase r
	for r in "azurerm_resource_group.this /subscriptions/$sub/resourceGroups/$rg" \
	    "azurerm_cosmosdb_account.this $id" \
	    "azurerm_cosmosdb_sql_database.candidates $db" \
	    "azurerm_cosmosdb_sql_container.candidates $db/containers/Candidates"; do
		# shellcheck disable=SC2086 # the address and the id, split
		tf import -input=false $r >/dev/null ||
		    die "could not take ${r%% *} into the state" "fix the error above and run apply again"
	done
}

# Waits for the scale set's latest rolling upgrade, which a new image
# version starts (upgrade_mode Rolling, with surge): each batch's new
# instances must pass the Application Health extension's /gtg before old
# ones go. Bounded by ROLL_TIMEOUT.
wait_for_roll() {
	local rg=$1 vmss=$2 limit=${ROLL_TIMEOUT:-3600} start=$SECONDS out code
	while :; do
		out=$(az vmss rolling-upgrade get-latest --resource-group "$rg" --name "$vmss" --output json 2>/dev/null) || {
			ok "no rolling upgrade to wait for (a new scale set starts on the image)"
			return 0
		}
		code=$(jq -r '.runningStatus.code // empty' <<<"$out")
		case "$code" in
		Completed) break ;;
		RollingForward) ;;
		*)
			die "the rolling upgrade of $vmss ended $code: $(jq -r '.error.message // "no reason given"' <<<"$out")" \
			    "see it with: az vmss rolling-upgrade get-latest --resource-group $rg --name $vmss"
			;;
		esac
		[ $((SECONDS - start)) -lt "$limit" ] ||
		    die "the rolling upgrade of $vmss is still $code after $limit s" \
			"watch it with az vmss rolling-upgrade get-latest, then run validate"
		printf '  rolling upgrade: %s, %s of %s instances done (%d s)\n' "$code" \
		    "$(jq -r '.progress.successfulInstanceCount // 0' <<<"$out")" \
		    "$(jq -r '[.progress.successfulInstanceCount, .progress.failedInstanceCount, .progress.inProgressInstanceCount, .progress.pendingInstanceCount] | map(. // 0) | add' <<<"$out")" \
		    $((SECONDS - start))
		sleep "${ROLL_POLL:-15}"
	done
	ok "rolling upgrade: Completed"
}

cloud_apply() {
	cloud_check_env
	local web=${WEB:-nginx} sub key
	sub=$(subscription)
	export ARM_SUBSCRIPTION_ID=$sub
	key=$(admin_key)
	tf init -input=false >/dev/null || die "terraform init failed" "check the network and rerun"
	adopt_database

	# With a version of the image already published this also keeps the
	# running scale set as it is (without image_version Terraform would
	# delete it); only phase 3 changes it.
	local name rg keep=${TF_VAR_image_version:-} pin=${TF_VAR_image_version:-}
	name=$(deployment_name)
	rg=$(resource_group)
	if [ -z "$keep" ] && tf state list 2>/dev/null | grep -qx azurerm_shared_image.app &&
	    [ -n "$(newest_version "$rg" "$(tf output -raw gallery_name)" "$(tf output -raw image_name)" 2>/dev/null)" ]; then
		keep=latest
	fi
	say "phase 1/3: resource group, network, front, gallery, identity, Cosmos DB (terraform)"
	TF_VAR_image_version=$keep TF_VAR_admin_ssh_public_key=${keep:+$key} tf apply -auto-approve -input=false ||
	    die "phase 1 failed" "fix the error above and run apply again (it resumes), or destroy"
	local location gallery image port
	rg=$(tf output -raw resource_group)
	location=$(tf output -raw location)
	gallery=$(tf output -raw gallery_name)
	image=$(tf output -raw image_name)
	port=$(tf_var web_port)
	[[ $port =~ ^[0-9]+$ ]] || die "cannot read Terraform's web_port" "check TF_VAR_web_port"

	say "phase 2/3: the image ($web on Debian 12, port $port) as a version of $gallery/$image (packer, about 15 minutes)"
	local ip dir
	ip=$(public_address) ||
	    die "cannot find this machine's public address for Packer's SSH rule" \
		"check the network, or run packer yourself with -var 'azure_ssh_cidrs=[\"YOUR.IP/32\"]'"
	dir=$(packer_dir)
	mkdir -p "$root/build"
	packer build -color=false -only=azure-arm.debian \
	    -var "source_root=$root" -var "azure_subscription_id=$sub" \
	    -var "azure_location=$location" -var "azure_resource_group=$rg" \
	    -var "azure_gallery_name=$gallery" -var "azure_image_name=$image" \
	    -var "web_server=$web" -var "web_port=$port" -var "git_commit=$(git_commit)" \
	    -var "deployment=$name" -var "azure_ssh_cidrs=[\"$ip/32\"]" "$dir" ||
	    die "phase 2 (packer) failed; what phase 1 made is still there" \
		"fix the error above and run apply again, or destroy"
	[ "$dir" = "$root/images" ] || rm -rf "$dir"
	local version
	version=$(newest_version "$rg" "$gallery" "$image") || version=""
	[ -n "$version" ] || die "no version of $gallery/$image after the build" "look at packer's output above"
	ok "image version $version of $gallery/$image"

	say "phase 3/3: the scale set and its autoscale on ${pin:-the newest version, $version} (terraform)"
	TF_VAR_image_version=${pin:-latest} TF_VAR_admin_ssh_public_key=$key tf apply -auto-approve -input=false ||
	    die "phase 3 failed" "fix the error above and run apply again, or destroy"
	local running vmss
	running=$(tf output -raw image_version_id)
	[ -n "$pin" ] || [[ $running == */versions/"$version" ]] ||
	    die "Terraform chose the image version ${running##*/}, not $version just built" \
		"check the versions: az sig image-version list --resource-group $rg --gallery-name $gallery --gallery-image-definition $image"
	vmss=$(tf output -raw vmss_name)
	say "rolling the scale set $vmss onto $version"
	wait_for_roll "$rg" "$vmss"
	say "deployed: $(tf output -raw url)"
}

# The front's view of the instances: the Application Gateway's backend
# health, or, behind the load balancer (whose probe results the CLI does
# not report), the Application Health extension's, which probes the same
# /gtg. All healthy, and at least one, within LIMIT seconds.
cloud_wait_healthy() {
	local limit=$1 start=$SECONDS rg front vmss gateway="" out counts
	rg=$(tf output -raw resource_group)
	front=$(tf output -raw front)
	vmss=$(tf output -raw vmss_name)
	if [ "$front" = application-gateway ]; then
		out=$(az network application-gateway list --resource-group "$rg" --output json) ||
		    die "cannot list the Application Gateway of $rg" "fix the error above and run validate again"
		gateway=$(jq -r '.[0].name // empty' <<<"$out")
		[ -n "$gateway" ] || die "no Application Gateway in $rg" "run make deploy-azure first"
	fi
	while :; do
		if [ -n "$gateway" ]; then
			out=$(az network application-gateway show-backend-health --resource-group "$rg" \
			    --name "$gateway" --output json 2>/dev/null) || out='{}'
			counts=$(jq -r '[.backendAddressPools[]?.backendHttpSettingsCollection[]?.servers[]?]
			    | "\(map(select(.health == "Healthy")) | length) \(length)"' <<<"$out")
		else
			out=$(az vmss get-instance-view --resource-group "$rg" --name "$vmss" \
			    --instance-id '*' --output json 2>/dev/null) || out='[]'
			counts=$(jq -r 'map(.vmHealth.status.code // "")
			    | "\(map(select(. == "HealthState/healthy")) | length) \(length)"' <<<"$out")
		fi
		local healthy total
		read -r healthy total <<<"$counts"
		if [ "$total" -gt 0 ] && [ "$healthy" = "$total" ]; then
			ok "healthy backends: $healthy of $total${gateway:+ behind $gateway}"
			return 0
		fi
		if [ $((SECONDS - start)) -ge "$limit" ]; then
			bad "healthy backends: $healthy of $total after $limit s"
			exit 1
		fi
		printf '  waiting for healthy backends (%s of %s, %d s)\n' "$healthy" "$total" $((SECONDS - start))
		sleep "${VALIDATE_POLL:-5}"
	done
}

cloud_load_begin() {
	load_rg=$(tf output -raw resource_group 2>/dev/null) || load_rg=""
	load_vmss=$(tf output -raw vmss_name 2>/dev/null) || load_vmss=""
	[ -n "$load_vmss" ] || die "no scale set in $tf_dir's state" \
	    "run make deploy-azure first (load against a local URL needs no state)"
	local out
	out=$(az vmss show --resource-group "$load_rg" --name "$load_vmss" --output json) ||
	    die "cannot read the scale set $load_vmss" "fix the error above and run load again"
	load_vmss_id=$(jq -r '.id' <<<"$out")
	load_stressed=" "
	load_rounds=0
	[ "${LOAD_CPU:-0}" != 1 ] ||
	    echo "load: stress-ng (90 % of every CPU) on each instance as it comes into service, through Run Command"
}

# The scale set's instances that Azure has finished creating.
running_instances() {
	local out
	out=$(az vmss list-instances --resource-group "$load_rg" --name "$load_vmss" --output json 2>/dev/null) ||
	    return 1
	jq -r '.[] | select(.provisioningState == "Succeeded") | .instanceId' <<<"$out"
}

# With LOAD_CPU=1, stress-ng on every running instance that does not run
# it yet, through Run Command (the Azure agent, no network rule needed);
# systemd-run detaches it, so the command returns at once. An instance
# that refuses is tried again next round; none at all on the first round
# stops the load.
cloud_load_round() {
	load_rounds=$((load_rounds + 1))
	[ "${LOAD_CPU:-0}" = 1 ] || return 0
	local left=$1 ids id out
	ids=$(running_instances) || ids=""
	for id in $ids; do
		[[ $load_stressed != *" $id "* ]] || continue
		if out=$(az vmss run-command invoke --resource-group "$load_rg" --name "$load_vmss" \
		    --instance-id "$id" --command-id RunShellScript \
		    --scripts "systemd-run --collect --unit=candidates-stress stress-ng --cpu 0 --cpu-load 90 --timeout ${left}s" \
		    --output json 2>/dev/null) &&
		    [ "$(jq -r '.value[0].code // empty' <<<"$out")" = ProvisioningState/succeeded ]; then
			load_stressed="$load_stressed$id "
			ok "stress-ng on instance $id for $left s"
		else
			echo "  stress-ng not started on instance $id yet (Run Command failed); next round"
		fi
	done
	[ "$load_rounds" -gt 1 ] || [ "$load_stressed" != " " ] ||
	    die "Run Command could not start stress-ng on any instance" \
		"check the instances' agent: az vmss get-instance-view --resource-group $load_rg --name $load_vmss --instance-id '*'"
}

cloud_instances() {
	local out desired serving
	out=$(az vmss show --resource-group "$load_rg" --name "$load_vmss" --output json 2>/dev/null) || return 1
	desired=$(jq -r '.sku.capacity // empty' <<<"$out")
	serving=$(running_instances) || return 1
	serving=$(grep -c . <<<"$serving")
	[[ $desired =~ ^[0-9]+$ ]] || return 1
	echo "$desired $serving"
}

# The newest one-minute average of the scale set's CPU that Azure Monitor
# has (the current minute has none yet).
cloud_average_cpu() {
	local out cpu
	out=$(az monitor metrics list --resource "$load_vmss_id" --metric "Percentage CPU" \
	    --aggregation Average --interval PT1M \
	    --start-time "$(date -u -d '-5 minutes' +%Y-%m-%dT%H:%M:%SZ)" \
	    --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --output json 2>/dev/null) || return 1
	cpu=$(jq -r '[.value[0].timeseries[0].data[]? | select(.average != null)] | last | .average // empty' <<<"$out")
	[[ $cpu =~ ^[0-9]+(\.[0-9]+)?$ ]] || return 1
	printf '%.0f\n' "$cpu"
}

cloud_load_end() {
	echo "the scale set scales in after the load stops; watch it with:"
	echo "  az vmss list-instances --resource-group $load_rg --name $load_vmss --output table"
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
	for tool in terraform az jq; do
		command -v "$tool" >/dev/null || die "$tool is not installed" "install it"
	done
	local name rg account gallery image
	# Before terraform destroy empties the state they come from.
	name=$(deployment_name)
	rg=$(resource_group)
	account=$(tf output -raw cosmos_account 2>/dev/null) || account=""
	gallery=$(tf output -raw gallery_name 2>/dev/null) || gallery=""
	image=$(tf output -raw image_name 2>/dev/null) || image=""

	local fate
	if [ -n "$delete_db" ]; then
		fate="DELETED WITH ALL ITS DATA, and the resource group with it"
	else
		fate="kept with its data, and the resource group $rg with it (--delete-database deletes both)"
	fi
	echo "destroy deletes the deployment $name in the resource group $rg: its scale set and instances,"
	echo "front, network, private endpoint, identity, autoscale, the gallery ${gallery:-(none in the state)} with its image"
	echo "versions, and Packer's managed images (tag Project=$name)."
	echo "The Cosmos DB account ${account:-(none in the state)} is $fate."
	confirm "$yes"
	export ARM_SUBSCRIPTION_ID
	ARM_SUBSCRIPTION_ID=$(subscription)
	tf init -input=false >/dev/null || die "terraform init failed" "check the network and rerun"

	# Packer's, not in Terraform's state: a gallery image with versions
	# cannot be deleted, nor a resource group that holds what Terraform
	# does not know. Listed first, whole: a failed listing must stop
	# destroy, not look like none.
	if [ -n "$gallery" ] && [ -n "$image" ]; then
		say "deleting the image versions of $gallery/$image"
		local versions v
		versions=$(az sig image-version list --resource-group "$rg" --gallery-name "$gallery" \
		    --gallery-image-definition "$image" --output json) ||
		    die "could not list the image versions of $gallery/$image; nothing is deleted yet" \
			"fix the error above, then run destroy again"
		for v in $(jq -r '.[].name' <<<"$versions"); do
			az sig image-version delete --resource-group "$rg" --gallery-name "$gallery" \
			    --gallery-image-definition "$image" --gallery-image-version "$v" ||
			    die "could not delete the image version $v" "fix the error above, then run destroy again"
			ok "image version $v"
		done
	fi
	if [ "$(az group exists --name "$rg" --output json)" = true ]; then
		say "deleting Packer's managed images of $name (tag Project=$name) in $rg"
		local images i
		images=$(az image list --resource-group "$rg" --output json) ||
		    die "could not list the managed images in $rg; they are still there" \
			"fix the error above, then run destroy again with TF_VAR_name=$name"
		for i in $(jq -r --arg n "$name" '.[] | select(.tags.Project == $n) | .name' <<<"$images"); do
			az image delete --resource-group "$rg" --name "$i" ||
			    die "could not delete the managed image $i" "fix the error above, then run destroy again with TF_VAR_name=$name"
			ok "managed image $i"
		done
	fi

	if [ -z "$delete_db" ]; then
		# Out of the state, they are no longer Terraform's to delete; the
		# account's children go with it.
		local r kept=()
		for r in azurerm_resource_group.this azurerm_cosmosdb_account.this \
		    azurerm_cosmosdb_sql_database.candidates azurerm_cosmosdb_sql_container.candidates; do
			! tf state list 2>/dev/null | grep -qx "$r" || kept+=("$r")
		done
		if [ ${#kept[@]} -gt 0 ]; then
			tf state rm "${kept[@]}" >/dev/null ||
			    die "could not set the Cosmos DB account aside" "fix the error above and run destroy again"
			ok "Cosmos DB account ${account:-?} and resource group $rg set aside: they stay, with the data"
		fi
	fi
	say "destroying the scale set, front, network, identity and gallery (terraform)"
	tf destroy -auto-approve -input=false ||
	    die "terraform destroy failed" "run destroy again; it resumes"
	if [ -z "$delete_db" ] && [ -n "$account" ]; then
		echo "kept: the Cosmos DB account $account in $rg, with its data; make deploy-azure with the same name serves it again"
	fi
	say "destroyed"
}
