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

export DEBIAN_FRONTEND=noninteractive
echo "packages.sh: installing $WEB, spawn-fcgi, stress-ng and:$build"
apt-get update -qq
# shellcheck disable=SC2086 # $build is a list of package names
apt-get install -y -qq --no-install-recommends \
	"$WEB" spawn-fcgi stress-ng ca-certificates curl $build
