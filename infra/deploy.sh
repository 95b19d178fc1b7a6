#!/bin/bash
# Puts the candidates service on a cloud, checks it, loads it, takes it down.
#
#   infra/deploy.sh <cloud> check-env         tools present, credentials work
#   infra/deploy.sh <cloud> apply             network, table, IAM; the image;
#                                             the instances; then validate
#   infra/deploy.sh <cloud> validate [URL]    wait for healthy instances and
#                                             /gtg, then the API works
#   infra/deploy.sh <cloud> load [URL]        traffic, with the group's size
#                                             and average CPU, then a plot
#   infra/deploy.sh <cloud> destroy [--yes] [--delete-table|--delete-database]
#                                             everything apply made but the
#                                             data (AWS: --delete-table;
#                                             Azure, GCP: --delete-database)
#
# Clouds: aws, azure, gcp (infra/<cloud>/deploy.sh). URL defaults to the
# deployment's load balancer, whose backends validate first waits to see
# healthy; validate and load also take any other URL, such as a local
# stack's (make run), where they only send traffic.
#
# Settings from the environment: VALIDATE_TIMEOUT (seconds to wait for
# /gtg, default 600), LOAD_SECONDS (default 600 on a cloud, 10 locally),
# LOAD_BATCH (requests per round, 2000), LOAD_CPU=1 (also run stress-ng on
# every instance, new ones included), LOAD_PLOT_DIR (where load writes its
# data and plot, build/); each cloud's own in its deploy.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

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

# A URL on this machine is a local stack: no cloud to ask about it.
is_local() {
	case "$1" in
	http://127.* | http://localhost[:/]* | http://localhost | http://\[::1\]*) return 0 ;;
	*) return 1 ;;
	esac
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
	local url=${1:-} own=""
	[ -n "$url" ] || { url=$(cloud_url); own=1; }
	url=${url%/}
	local limit=${VALIDATE_TIMEOUT:-600} start=$SECONDS code body
	say "validating $url"
	# The deployment's own front: first what the cloud says of its
	# backends, where it says (cloud_wait_healthy, within the same bound).
	if [ -n "$own" ] && declare -F cloud_wait_healthy >/dev/null; then
		cloud_wait_healthy "$limit"
	fi
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

apply() {
	cloud_apply
	validate
}

# What every cloud's apply needs for its image.

# Debian's packer 1.6.6 has the builders built in and rejects the
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

# The commit the image is built from, marked when the work tree differs.
git_commit() {
	local c
	c=$(git -C "$root" rev-parse HEAD 2>/dev/null) || {
		echo unknown
		return 0
	}
	git -C "$root" diff --quiet HEAD 2>/dev/null || c="$c-dirty"
	echo "$c"
}

# This machine's public address, for the build machine's SSH rule.
public_address() {
	curl -fsS --max-time 10 https://checkip.amazonaws.com
}

# A yes for destroy: --yes, or typed at a terminal.
confirm() {
	[ -z "$1" ] || return 0
	[ -t 0 ] || die "destroy needs a yes" "run it with --yes"
	printf 'Type yes to destroy: '
	local answer
	read -r answer
	[ "$answer" = yes ] || die "not destroyed" "type yes to destroy"
}

# Draws the group's size and average CPU over the load from the data file:
# seconds, desired, in service, CPU ("?" where CloudWatch had none yet).
plot() {
	local series=$1 out=$2
	command -v gnuplot >/dev/null || {
		echo "load: no plot: gnuplot is not installed (apt-get install gnuplot-nox); the data is in $series"
		return 0
	}
	awk -F '\t' '!/^#/ && $2 ~ /^[0-9]+$/ { found = 1 } END { exit !found }' "$series" || {
		echo "load: no plot: the cloud never told the group's size; the data is in $series"
		return 0
	}
	gnuplot <<-EOF || die "gnuplot could not draw $out" "the data is in $series"
		set terminal svg size 900,450 dynamic background rgb 'white'
		set output '$out'
		set datafile missing '?'
		set title 'make load: the group and its average CPU'
		set xlabel 'seconds since the load started'
		set ylabel 'instances'
		set y2label 'average CPU (%)'
		set yrange [0:*]
		set y2range [0:100]
		set ytics 1 nomirror
		set y2tics 20
		set key outside bottom center horizontal
		plot '$series' using 1:2 with steps lw 2 title 'desired', \\
		     '' using 1:3 with steps lw 2 title 'in service', \\
		     '' using 1:4 axes x1y2 with linespoints pt 7 title 'average CPU'
	EOF
	echo "load: plot of the group and its CPU: $out"
}

load() {
	local url=${1:-} cloud_group=0
	[ -n "$url" ] || url=$(cloud_url)
	url=${url%/}
	local seconds
	if is_local "$url"; then
		seconds=${LOAD_SECONDS:-10}
	else
		seconds=${LOAD_SECONDS:-600}
		cloud_load_begin "$seconds"
		cloud_group=1
	fi
	say "load: $url for $seconds s"

	# One name the load reads back: a Query per request on DynamoDB.
	local name="load-test" code body
	request POST "$url/candidate/$name"
	[ "$code" = 200 ] || die "POST /candidate/$name answered $code: $body" "run validate first"

	local stamp series="" plotted=""
	if [ "$cloud_group" = 1 ]; then
		stamp=$(date -u +%Y%m%d-%H%M%S)
		mkdir -p "${LOAD_PLOT_DIR:=$root/build}"
		series=$LOAD_PLOT_DIR/load-$stamp.tsv
		plotted=$LOAD_PLOT_DIR/load-$stamp.svg
		printf '# seconds\tdesired\tin_service\tcpu_percent\n' >"$series"
	fi

	# One curl process per round, requests in parallel on kept-alive
	# connections; every round is bounded in count and time.
	local batch=${LOAD_BATCH:-2000} conf total=0 start=$SECONDS
	conf=$(mktemp)
	trap 'rm -f "$conf"' RETURN
	local i
	for ((i = 0; i < batch; i++)); do
		printf 'url = "%s/candidate/%s"\noutput = "/dev/null"\n' "$url" "$name"
	done >"$conf"
	local most=0
	while [ $((SECONDS - start)) -lt "$seconds" ]; do
		local t0=$SECONDS codes
		[ "$cloud_group" = 0 ] || cloud_load_round $((seconds - (SECONDS - start)))
		codes=$(curl --silent --parallel --parallel-max 32 --max-time 30 \
		    -w '%{http_code}\n' -K "$conf" 2>/dev/null | sort | uniq -c |
		    awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')
		total=$((total + batch))
		local line
		line=$(printf 'load: %d requests in %d s (%s)' "$total" \
		    $((SECONDS - start)) "$codes")
		if [ "$cloud_group" = 1 ]; then
			local size desired="?" serving="?" cpu
			if size=$(cloud_instances); then
				read -r desired serving <<<"$size"
				line="$line; group: desired $desired, in service $serving"
				[ "$serving" -le "$most" ] || most=$serving
			else
				line="$line; group: size unknown (the cloud did not answer)"
			fi
			cpu=$(cloud_average_cpu) || cpu=""
			line="$line; CPU ${cpu:-unknown yet}${cpu:+ %}"
			printf '%d\t%s\t%s\t%s\n' $((SECONDS - start)) "$desired" "$serving" "${cpu:-?}" >>"$series"
		fi
		echo "$line"
		[ $((SECONDS - t0)) -gt 0 ] || sleep 1
	done
	if [ "$cloud_group" = 1 ]; then
		echo "load: at most $most instances in service"
		plot "$series" "$plotted"
		cloud_load_end
	fi
}

[ $# -ge 2 ] || usage
cloud=$1 command=$2
shift 2
clouds=$(cd "$root/infra" && for f in */deploy.sh; do printf '%s ' "${f%/deploy.sh}"; done)
case "$cloud" in
*[!a-z0-9]* | '') die "unknown cloud '$cloud'" "use one of: $clouds" ;;
esac
[ -f "$root/infra/$cloud/deploy.sh" ] || die "unknown cloud '$cloud'" "use one of: $clouds"
# The cloud's own functions: cloud_check_env, cloud_apply, cloud_url,
# cloud_load_begin, cloud_load_round, cloud_instances, cloud_average_cpu,
# cloud_load_end and cloud_destroy, and cloud_wait_healthy where the cloud
# reports its backends' health (infra/aws/deploy.sh says what each does).
# shellcheck source=/dev/null # each cloud's file is checked on its own
. "$root/infra/$cloud/deploy.sh"
case "$command" in
check-env) cloud_check_env ;;
apply) apply ;;
validate) validate "$@" ;;
load) load "$@" ;;
destroy) cloud_destroy "$@" ;;
*) usage ;;
esac
