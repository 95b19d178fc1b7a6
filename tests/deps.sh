#!/bin/sh
# Installs the Debian packages named as arguments that are not installed
# yet, so `make run` and `make test` work on a fresh Debian 12 machine.
# An argument "pkg:command" is skipped when the command is already on the
# PATH however it got there (Node.js often comes from elsewhere, bringing
# its own npm, and Debian's npm would fight it).
set -eu
missing=""
for arg in "$@"; do
	pkg=${arg%%:*}
	cmd=${arg#*:}
	if [ "$cmd" != "$arg" ] && command -v "$cmd" >/dev/null 2>&1; then
		continue
	fi
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
