#!/bin/sh
# Installs the app's systemd unit and its environment file, and enables
# the app and the web server for the next boot. store.sh, which runs next,
# fills in the store the file names as shipped; the instance's user data
# overwrites the file at boot, before the unit starts.
#
# Environment: SRC, WEB (nginx or lighttpd).
set -eu

: "${SRC:?SRC must name the uploaded source directory}"
: "${WEB:=nginx}"

install -m 0644 "$SRC/images/files/candidates.service" \
    /etc/systemd/system/candidates.service
install -m 0644 "$SRC/images/files/candidates.env" /etc/default/candidates
# systemctl only links the units when nothing runs (a chroot); on the build
# instance, nothing needs to run before the image is taken either.
systemctl enable candidates.service "$WEB.service"
echo "units.sh: candidates.service and $WEB.service enabled"

# The image is immutable: an update is a new image rolled through the
# group. And instances may have no route to Debian's mirrors (on AWS they
# have none), where apt's daily runs would only wait on timeouts.
systemctl mask apt-daily.timer apt-daily-upgrade.timer
echo "units.sh: apt's daily timers masked"
