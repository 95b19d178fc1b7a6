#!/bin/sh
# Installs the chosen web server's configuration from nginx-conf/ or
# lighttpd-conf/, filled in for a VM, and orders the web server after the
# app so its first requests find the socket.
#
# Environment: SRC, WEB (nginx or lighttpd), WEB_PORT (80),
# WEB_ADDR (0.0.0.0; the tests use 127.0.0.1).
set -eu

: "${SRC:?SRC must name the uploaded source directory}"
: "${WEB:=nginx}" "${WEB_PORT:=80}" "${WEB_ADDR:=0.0.0.0}"

# Where Debian's packages keep each server's configuration and state, so
# the stock nginx.service and lighttpd.service run ours unchanged (both
# expect their pid file in /run).
case "$WEB" in
nginx)
	conf=/etc/nginx/nginx.conf
	statedir=/var/lib/nginx
	;;
lighttpd)
	conf=/etc/lighttpd/lighttpd.conf
	statedir=/var/cache/lighttpd/uploads
	;;
*)
	echo "web.sh: WEB must be nginx or lighttpd, not '$WEB'" >&2
	exit 2
	;;
esac

sed -e "s|@ADDR@|$WEB_ADDR|g" -e "s|@PORT@|$WEB_PORT|g" \
    -e "s|@SOCKET@|/run/candidates/fcgi.sock|g" -e "s|@RUNDIR@|/run|g" \
    -e "s|@STATEDIR@|$statedir|g" -e "s|@USER@|www-data|g" \
    "$SRC/$WEB-conf/$WEB.conf" >"$conf.new"
if grep -v '^[[:space:]]*#' "$conf.new" | grep '@[A-Z_]*@'; then
	echo "web.sh: $WEB.conf has a placeholder web.sh does not fill" >&2
	exit 1
fi
mv "$conf.new" "$conf"

install -d "/etc/systemd/system/$WEB.service.d"
install -m 0644 "$SRC/images/files/web-after-app.conf" \
    "/etc/systemd/system/$WEB.service.d/candidates.conf"
echo "web.sh: $conf listens on $WEB_ADDR:$WEB_PORT"
