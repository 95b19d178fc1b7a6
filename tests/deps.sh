#!/bin/sh
# Installs the Debian packages named as arguments that are not installed
# yet, so `make run` and `make test` work on a fresh Debian 12 machine.
set -eu
missing=""
for pkg in "$@"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $pkg"
	fi
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# Debian's maintainer scripts start nginx and lighttpd on port 80 where
# systemd runs; the local stack has no use for that.
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
