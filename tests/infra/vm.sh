#!/bin/bash
# Runs the image's provisioning in a fresh Debian 12 root the way Packer
# runs it on a cloud instance, then starts what systemd would start at boot
# from the unit files the provisioning installed, and serves on loopback:
#
#   tests/infra/vm.sh --web nginx|lighttpd --port N --work DIR [--cache DIR]
#
# The Debian root comes from debootstrap once and is kept in --cache
# (tests/.cache/debian12), with the packages apt downloads, so later runs
# start from a copy. DIR receives the root and one log per unit. Prints
# `ready: http://127.0.0.1:N` when /gtg answers; SIGTERM stops the units
# in reverse order, as systemd would, and reports how each ended.
#
# Needs root: it runs in its own mount namespace, so every mount it makes
# goes away with it, and nothing on the host is touched.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
web=nginx port="" work="" cache=$repo/tests/.cache/debian12
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
while [ $# -gt 0 ]; do
	case "$1" in
	--web) web=$2 ;;
	--port) port=$2 ;;
	--work) work=$2 ;;
	--cache) cache=$2 ;;
	*) echo "vm.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift 2
done
if [ -z "$port" ] || [ -z "$work" ]; then
	echo "vm.sh: --port and --work are required" >&2
	exit 2
fi

say() { printf 'vm.sh: [%3ds] %s\n' "$SECONDS" "$*"; }
die() { printf 'vm.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"
if [ -z "${VM_SH_NAMESPACE:-}" ]; then
	export VM_SH_NAMESPACE=1
	exec unshare --mount --propagation private -- "$0" --web "$web" \
	    --port "$port" --work "$work" --cache "$cache"
fi

mkdir -p "$cache/archives" "$cache/lists" "$work"
work=$(cd "$work" && pwd)
root=$work/root

# --- A stock Debian 12 machine ------------------------------------------

# What a Debian cloud image has that minbase lacks: systemd as init (whose
# systemctl enables units), sudo (Packer's execute_command uses it) and
# procps (Debian's lighttpd.service names its /bin/kill). The base is kept
# per list, so a change to it makes a new one.
include=systemd-sysv,sudo,procps
base=$cache/base-$(echo "$include" | sha256sum | cut -c1-8)
(
	flock 9
	if [ ! -x "$base/usr/bin/systemctl" ]; then
		say "debootstrap: Debian 12 into $base (once, then cached)"
		rm -rf "$cache"/base "$cache"/base-* "$cache/layers"
		debootstrap --variant=minbase --include="$include" \
		    --cache-dir="$cache/archives" bookworm "$base.tmp" "$mirror" \
		    >"$cache/debootstrap.log" 2>&1 ||
		    { tail -n 20 "$cache/debootstrap.log" >&2; die "debootstrap failed"; }
		mv "$base.tmp" "$base"
	fi
) 9>"$cache/lock"
say "copying the Debian root"
rm -rf "$root"
cp -a "$base" "$root"

mount -t proc proc "$root/proc"
mount -t sysfs -o ro sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A cloud instance resolves its own name (cloud-init writes it); sudo asks.
printf '127.0.1.1\t%s\n' "$(uname -n)" >>"$root/etc/hosts"
# Package scripts must not start nginx on the host's port 80: a chroot has
# no init, and this tells invoke-rc.d so (the standard chroot convention).
# dpkg skips its fsyncs, as in Debian's container images: a test root
# need not survive a power cut. Both go again before the units start.
harness_files=(/usr/sbin/policy-rc.d /etc/dpkg/dpkg.cfg.d/vm-sh-unsafe-io)
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/vm-sh-unsafe-io"

# apt's downloads survive between runs: linked in before, collected after
# every step (cleanup.sh empties them in the root, as an image should).
cp -a "$cache/lists/." "$root/var/lib/apt/lists/"
rm -f "$root"/var/cache/apt/archives/*.deb
find "$cache/archives" -maxdepth 1 -name '*.deb' -exec cp -al -t "$root/var/cache/apt/archives/" {} + 2>/dev/null ||
    find "$cache/archives" -maxdepth 1 -name '*.deb' -exec cp -a -t "$root/var/cache/apt/archives/" {} +
keep_apt_cache() {
	local f
	for f in "$root"/var/cache/apt/archives/*.deb; do
		[ -e "$f" ] || continue
		[ ! -e "$cache/archives/${f##*/}" ] || continue
		cp -al "$f" "$cache/archives/" 2>/dev/null || cp -a "$f" "$cache/archives/"
	done
	if compgen -G "$root/var/lib/apt/lists/*_Packages*" >/dev/null; then
		rm -rf "$cache/lists.new"
		mkdir "$cache/lists.new"
		find "$root/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock \
		    -exec cp -a -t "$cache/lists.new/" {} +
		rm -rf "$cache/lists"
		mv "$cache/lists.new" "$cache/lists"
	fi
}

# --- Packer's provisioners ----------------------------------------------

# Packer's {{.Vars}}: KEY='value' pairs, its own two first.
packer_vars() {
	local v out="PACKER_BUILDER_TYPE='chroot' PACKER_BUILD_NAME='vm.sh' "
	for v in "$@"; do
		out+="${v%%=*}='${v#*=}' "
	done
	printf '%s' "$out"
}

# The package step takes most of a run and its result depends only on its
# own text, the web server and the Makefile's DEPS_BUILD; so the root as
# it leaves that step is kept (one per web server) and reused while those
# are unchanged, like a container build's layer. The first run on a
# machine, and every run after a change to them, runs it for real;
# VM_SH_FRESH=1 always does.
layer_script=$repo/images/provision/packages.sh
layer_key() {
	{
		cat "$layer_script" "$repo/images/provision/deps-build.awk"
		awk -f "$repo/images/provision/deps-build.awk" "$repo/Makefile"
		echo "$web"
		stat -c %Y "$base"
	} | sha256sum | cut -c1-16
}

step=0
# packer_run EXECUTE_COMMAND VARS... -- FILE [LABEL]: upload FILE to /tmp
# and run it with the provisioner's execute_command, as the shell
# provisioner does.
packer_run() {
	local exec=$1 vars=() file
	shift
	while [ "$1" != -- ]; do vars+=("$1"); shift; done
	file=$2
	step=$((step + 1))
	local layer=""
	if [ "$file" = "$layer_script" ]; then
		layer=$cache/layers/packages-$web-$(layer_key)
		if [ -d "$layer" ] && [ -z "${VM_SH_FRESH:-}" ]; then
			say "provisioner shell: ${3:-$file} (reused: ${layer#"$cache"/})"
			# Not proc, sys, dev and run, which are mounted, nor tmp, which
			# holds this run's upload.
			find "$root" -mindepth 1 -maxdepth 1 ! -name proc ! -name sys \
			    ! -name dev ! -name run ! -name tmp -exec rm -rf {} +
			(cd "$layer" && find . -mindepth 1 -maxdepth 1 -exec cp -a -t "$root/" {} +)
			return 0
		fi
	fi
	local remote="/tmp/script_$step.sh" cmd
	cp "$file" "$root$remote"
	cmd=${exec//\{\{ .Path \}\}/$remote}
	cmd=${cmd//\{\{.Path\}\}/$remote}
	cmd=${cmd//\{\{ .Vars \}\}/$(packer_vars "${vars[@]}")}
	cmd=${cmd//\{\{.Vars\}\}/$(packer_vars "${vars[@]}")}
	say "provisioner shell: ${3:-$file}"
	chroot "$root" /bin/sh -c "$cmd" >>"$work/provision.log" 2>&1 ||
	    { tail -n 30 "$work/provision.log" >&2; die "provisioning step ${3:-$file} failed"; }
	rm -f "$root$remote"
	keep_apt_cache
	if [ -n "$layer" ]; then
		rm -rf "$cache/layers/packages-$web-"*
		mkdir -p "$layer.tmp"
		(cd "$root" && find . -mindepth 1 -maxdepth 1 ! -name proc ! -name sys \
		    ! -name dev ! -name run ! -name tmp -exec cp -a -t "$layer.tmp/" {} +)
		mv "$layer.tmp" "$layer"
	fi
}

packer_shell() {
	local exec=$1 vars=()
	shift
	while [ "$1" != -- ]; do vars+=("$1"); shift; done
	shift
	local script
	for script in "$@"; do
		packer_run "$exec" "${vars[@]}" -- "$script" "${script#"$repo"/}"
	done
}

# Inline commands go into one script with Packer's default shebang.
packer_inline() {
	local exec=$1 vars=()
	shift
	while [ "$1" != -- ]; do vars+=("$1"); shift; done
	shift
	local tmp
	tmp=$(mktemp)
	{ echo '#!/bin/sh -e'; printf '%s\n' "$@"; } >"$tmp"
	packer_run "$exec" "${vars[@]}" -- "$tmp" "inline: $*"
	rm -f "$tmp"
}

packer_skip() {
	say "provisioner skipped, as for any source but the cloud's: $1"
}

# A directory source without a trailing slash lands as DEST/name, with
# its contents, like Packer's upload; the destination's parent must exist.
packer_file() {
	local dest=$1 src
	shift
	[ -d "$root${dest%/*}" ] || die "file provisioner: $dest's parent does not exist"
	for src in "$@"; do
		say "provisioner file: ${src#"$repo"/} -> $dest"
		cp -a "$src" "$root$dest"
	done
}

say "provisioning as Packer would (log: $work/provision.log)"
: >"$work/provision.log"
steps=$(node "$here/packer-steps.js" --var "source_root=$repo" \
    --var "web_server=$web" --var "web_port=$port" --var "web_address=127.0.0.1")
eval "$steps"
for f in "${harness_files[@]}"; do
	rm -f "$root$f"
done
say "provisioned"

# --- What systemd would start at boot -----------------------------------

# A unit's file and drop-ins as "Section.Key=Value" lines, /etc before /lib.
unit_lines() {
	local name=$1 f dir section=""
	f=$root/etc/systemd/system/$name
	[ -e "$f" ] || f=$root/lib/systemd/system/$name
	[ -e "$f" ] || die "$name: no unit file"
	local files=("$f")
	for dir in "$root/lib/systemd/system/$name.d" "$root/etc/systemd/system/$name.d"; do
		[ -d "$dir" ] && files+=("$dir"/*.conf)
	done
	local line
	for f in "${files[@]}"; do
		while IFS= read -r line || [ -n "$line" ]; do
			case "$line" in
			'' | '#'* | ';'*) ;;
			*\\) die "$name: continued lines are not emulated" ;;
			'['*']') section=${line#[}; section=${section%]} ;;
			*=*) printf '%s.%s\n' "$section" "$line" ;;
			*) die "$name: cannot read '$line'" ;;
			esac
		done <"$f"
	done
}

# Directives the emulation applies, and the ones systemd alone can apply
# (systemd-analyze verify checks those parse): anything else is an error,
# so a new directive is noticed here instead of first on a cloud.
declare -A applied=(
	[Unit.Description]=1 [Unit.Documentation]=1 [Unit.After]=1 [Unit.Wants]=1
	[Service.Type]=1 [Service.PIDFile]=1 [Service.EnvironmentFile]=1
	[Service.RuntimeDirectory]=1 [Service.RuntimeDirectoryMode]=1
	[Service.ExecStartPre]=1 [Service.ExecStart]=1 [Service.ExecStartPost]=1
	[Service.ExecStop]=1
	[Service.TimeoutStopSec]=1 [Service.NoNewPrivileges]=1
	[Service.CapabilityBoundingSet]=1 [Service.ProtectSystem]=1
	[Service.ReadWritePaths]=1 [Service.PrivateTmp]=1 [Service.ProtectHome]=1
	[Install.WantedBy]=1
)
declare -A systemd_only=(
	[Service.ExecReload]=1 [Service.Restart]=1 [Service.RestartSec]=1
	[Service.KillMode]=1 [Service.PrivateDevices]=1
	[Service.ProtectKernelTunables]=1 [Service.ProtectKernelModules]=1
	[Service.ProtectControlGroups]=1 [Service.RestrictAddressFamilies]=1
	[Service.RestrictNamespaces]=1 [Service.RestrictRealtime]=1
	[Service.LockPersonality]=1 [Service.MemoryDenyWriteExecute]=1
	[Service.SystemCallArchitectures]=1 [Unit.Requires]=1
	[Unit.StartLimitIntervalSec]=1 [Unit.StartLimitBurst]=1
)

# A command line split into words as systemd does for these units (quotes,
# no variables); a prefix other than "-" is not emulated.
declare -a words
split() {
	case "$1" in
	*'$'* | *'`'*) die "variables in '$1' are not emulated" ;;
	[@+!:]*) die "the prefix of '$1' is not emulated" ;;
	esac
	eval "words=($1)"
}

# The environment a service sees: systemd's PATH and its EnvironmentFile.
service_env() {
	local file=$1 line
	echo "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	[ -n "$file" ] || return 0
	local optional=0
	case "$file" in -*) optional=1 file=${file#-} ;; esac
	if [ ! -e "$root$file" ]; then
		[ "$optional" = 1 ] && return 0
		die "EnvironmentFile $file is missing"
	fi
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in
		'' | '#'* | ';'*) ;;
		*=*)
			local k=${line%%=*} v=${line#*=}
			case "$v" in \"*\" | \'*\') v=${v:1:${#v}-2} ;; esac
			echo "$k=$v"
			;;
		esac
	done <"$root$file"
}

declare -A main_pid stop_timeout stop_cmd child
order=()
start_unit() {
	local name=$1 key value
	local type=simple pidfile="" envfile="" rundir="" runmode=0755 nnp=no caps=""
	local protect="" rw="" ptmp=no phome=no timeout=90 start="" stop=""
	local pre=() post=()
	while IFS= read -r line; do
		key=${line%%=*} value=${line#*=}
		[ -n "${applied[$key]:-}${systemd_only[$key]:-}" ] ||
		    die "$name: $key is not emulated by vm.sh; teach it or check it another way"
		case "$key" in
		Service.Type) type=$value ;;
		Service.PIDFile) pidfile=$value ;;
		Service.EnvironmentFile) envfile=$value ;;
		Service.RuntimeDirectory) rundir=$value ;;
		Service.RuntimeDirectoryMode) runmode=$value ;;
		Service.ExecStartPre) pre+=("$value") ;;
		Service.ExecStart) start=$value ;;
		Service.ExecStartPost) post+=("$value") ;;
		Service.ExecStop) stop=$value ;;
		Service.TimeoutStopSec) timeout=${value%s} ;;
		Service.NoNewPrivileges) nnp=$value ;;
		Service.CapabilityBoundingSet) caps=$value ;;
		Service.ProtectSystem) protect=$value ;;
		Service.ReadWritePaths) rw="$rw $value" ;;
		Service.PrivateTmp) ptmp=$value ;;
		Service.ProtectHome) phome=$value ;;
		esac
	done < <(unit_lines "$name")
	[ -L "$root/etc/systemd/system/multi-user.target.wants/$name" ] ||
	    die "$name is not enabled for multi-user.target"
	[ -n "$start" ] || die "$name has no ExecStart"
	case "$type" in simple | exec | forking) ;; *) die "$name: Type=$type is not emulated" ;; esac

	# Privileges: setpriv does what NoNewPrivileges= and
	# CapabilityBoundingSet= ask of the kernel.
	local priv=()
	if [ "$nnp" = yes ] || [ -n "$caps" ]; then
		priv=(/usr/bin/setpriv)
		[ "$nnp" != yes ] || priv+=(--no-new-privs)
		if [ -n "$caps" ]; then
			local c set=-all
			for c in $caps; do
				c=${c#CAP_}
				set+=",+${c,,}"
			done
			priv+=(--bounding-set "$set")
		fi
		priv+=(--)
	fi

	# The file system: ProtectSystem=strict makes everything read-only but
	# ReadWritePaths= and the runtime directory; PrivateTmp= and
	# ProtectHome= give empty /tmp, /var/tmp, /home and /root. Done in a
	# mount namespace of the service's own, as systemd does.
	local fs=""
	if [ -n "$rundir" ]; then
		mkdir -p "$root/run/$rundir"
		chmod "$runmode" "$root/run/$rundir"
	fi
	case "$protect" in
	'' | no) ;;
	strict)
		fs="mount --rbind $root $root"
		local p
		for p in $rw ${rundir:+/run/$rundir}; do
			fs+=" && mount --bind $root$p $root$p"
		done
		fs+=" && mount -o remount,bind,ro $root && mount -o remount,bind,ro $root/run"
		;;
	*) die "$name: ProtectSystem=$protect is not emulated" ;;
	esac
	if [ "$ptmp" = yes ]; then
		fs+="${fs:+ && }mount -t tmpfs -o mode=1777 tmpfs $root/tmp && mount -t tmpfs -o mode=1777 tmpfs $root/var/tmp"
	fi
	if [ "$phome" = yes ]; then
		fs+="${fs:+ && }mount -t tmpfs -o ro,mode=0755 tmpfs $root/home && mount -t tmpfs -o ro,mode=0700 tmpfs $root/root"
	fi

	local env=()
	mapfile -t env < <(service_env "$envfile")
	local log=$work/$name.log
	# run_cmd LINE: one Exec line the way the service runs, to completion.
	run_cmd() {
		local cmd=$1 must=1
		case "$cmd" in -*) must=0 cmd=${cmd#-} ;; esac
		split "$cmd"
		local run=(chroot "$root" /usr/bin/env -i "${env[@]}" "${priv[@]}" "${words[@]}")
		[ -z "$fs" ] || run=(unshare --mount --propagation private -- /bin/sh -c "$fs && exec \"\$@\"" sh "${run[@]}")
		if ! "${run[@]}" >>"$log" 2>&1; then
			[ "$must" = 0 ] || { cat "$log" >&2; die "$name: $2 failed: $cmd"; }
		fi
	}
	local cmd
	for cmd in "${pre[@]}"; do
		run_cmd "$cmd" ExecStartPre
	done
	split "$start"
	local run=(chroot "$root" /usr/bin/env -i "${env[@]}" "${priv[@]}" "${words[@]}")
	[ -z "$fs" ] || run=(unshare --mount --propagation private -- /bin/sh -c "$fs && exec \"\$@\"" sh "${run[@]}")
	say "starting $name: $start"
	if [ "$type" = forking ]; then
		"${run[@]}" >>"$log" 2>&1 || { cat "$log" >&2; die "$name: ExecStart failed"; }
		[ -n "$pidfile" ] || die "$name: Type=forking needs PIDFile="
		local pid=""
		for _ in $(seq 50); do
			pid=$(cat "$root$pidfile" 2>/dev/null || true)
			[ -n "$pid" ] && break
			sleep 0.1
		done
		[ -n "$pid" ] || die "$name: no pid in $pidfile"
		main_pid[$name]=$pid
		child[$name]=0
	else
		"${run[@]}" >>"$log" 2>&1 &
		main_pid[$name]=$!
		child[$name]=1
	fi
	# Units ordered after this one wait for its ExecStartPost, as in systemd.
	for cmd in "${post[@]}"; do
		run_cmd "$cmd" ExecStartPost
	done
	stop_timeout[$name]=$((timeout > 30 ? 30 : timeout))
	stop_cmd[$name]=$stop
	order+=("$name")
}

# Alive and not a zombie (an exited child of ours until it is waited for).
alive() {
	[ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat"
}

stop_unit() {
	local name=$1 pid=${main_pid[$1]} how
	[ -n "$pid" ] || return 0
	if [ -n "${stop_cmd[$name]}" ]; then
		local cmd=${stop_cmd[$name]}
		case "$cmd" in -*) cmd=${cmd#-} ;; esac
		split "$cmd"
		chroot "$root" "${words[@]}" >>"$work/$name.log" 2>&1 || true
	fi
	kill -TERM "$pid" 2>/dev/null || true
	local waited=0
	while alive "$pid"; do
		if [ "$waited" -ge $((stop_timeout[$name] * 10)) ]; then
			kill -KILL "$pid" 2>/dev/null || true
			say "$name: killed after ${stop_timeout[$name]} s"
			break
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	if [ "${child[$name]}" = 1 ]; then
		local rc=0
		wait "$pid" || rc=$?
		how="exit $rc"
	else
		how="stopped"
	fi
	main_pid[$name]=""
	say "stopped $name ($how)"
}

stop_all() {
	trap - INT TERM EXIT
	local i
	for ((i = ${#order[@]} - 1; i >= 0; i--)); do
		stop_unit "${order[i]}"
	done
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# The units the provisioning enabled, each after those it is ordered after.
units=(candidates.service "$web.service")
declare -A started
while [ ${#order[@]} -lt ${#units[@]} ]; do
	progress=0
	for u in "${units[@]}"; do
		[ -z "${started[$u]:-}" ] || continue
		ready=1
		for a in $(unit_lines "$u" | sed -n 's/^Unit\.After=//p'); do
			for other in "${units[@]}"; do
				[ "$a" != "$other" ] || [ -n "${started[$other]:-}" ] || ready=0
			done
		done
		[ "$ready" = 1 ] || continue
		start_unit "$u"
		started[$u]=1
		progress=1
	done
	[ "$progress" = 1 ] || die "the units' After= form a cycle"
done

for _ in $(seq 200); do
	curl -fsS -o /dev/null "http://127.0.0.1:$port/gtg" 2>/dev/null && break
	for u in "${order[@]}"; do
		alive "${main_pid[$u]}" || { cat "$work/$u.log" >&2; die "$u died"; }
	done
	sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$port/gtg" || die "no answer on /gtg"
for u in "${order[@]}"; do
	echo "pid $u ${main_pid[$u]}"
done
echo "ready: http://127.0.0.1:$port"

# Until SIGTERM; a unit that dies meanwhile ends the run with its log.
while :; do
	for u in "${order[@]}"; do
		if ! alive "${main_pid[$u]}"; then
			cat "$work/$u.log" >&2
			die "$u died"
		fi
	done
	sleep 0.5 &
	wait $! || true
done
