#!/bin/sh
# Installs the Debian packages the image runs (the web server, spawn-fcgi,
# stress-ng for the CPU-load demo) and the ones that build the app. The
# build packages are the Makefile's DEPS_BUILD, read from the uploaded
# source so the image and a developer's machine never disagree;
# cleanup.sh removes them again once the app is installed.
#
# Environment: SRC (the uploaded source), WEB (nginx or lighttpd).
set -eu

: "${SRC:?SRC must name the uploaded source directory}"
: "${WEB:=nginx}"
case "$WEB" in
nginx | lighttpd) ;;
*)
	echo "packages.sh: WEB must be nginx or lighttpd, not '$WEB'" >&2
	exit 2
	;;
esac

build=$(awk -f "$SRC/images/provision/deps-build.awk" "$SRC/Makefile")
[ -n "${build% }" ] || {
	echo "packages.sh: no DEPS_BUILD in $SRC/Makefile" >&2
	exit 1
}

# Packer connects as soon as SSH answers, while cloud-init may still be
# configuring apt or installing packages and apt's daily timers may start
# an update of their own: all of them take apt's and dpkg's locks. So wait
# for cloud-init to finish, stop the timers and wait for a run they
# started; then apt-get waits for any lock left (DPkg::Lock::Timeout
# covers dpkg's lock, not the package lists', hence the waits before).
if command -v cloud-init >/dev/null; then
	echo "packages.sh: waiting for cloud-init to finish"
	cloud-init status --wait >/dev/null ||
	    echo "packages.sh: cloud-init finished with an error (see cloud-init status --long); going on"
fi
if [ -d /run/systemd/system ]; then
	systemctl stop apt-daily.timer apt-daily-upgrade.timer
	# A unit ordered after them starts once a running update is done.
	systemd-run --quiet --wait --property=After=apt-daily.service \
	    --property=After=apt-daily-upgrade.service /bin/true
fi

export DEBIAN_FRONTEND=noninteractive
echo "packages.sh: installing $WEB, spawn-fcgi, stress-ng and:$build"
apt-get -o DPkg::Lock::Timeout=300 update -qq
# shellcheck disable=SC2086 # $build is a list of package names
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
	"$WEB" spawn-fcgi stress-ng ca-certificates curl $build
