#!/bin/bash
# Runs the whole stack in the foreground: spawn-fcgi starting the app on a
# unix socket, and nginx or lighttpd with the shipped configuration in
# front of it. `make run` and every end-to-end test start it this way.
#
#   tests/stack.sh --web nginx|lighttpd --port N --dir DIR --app PATH
#                  [--addr 127.0.0.1] [--log FILE]
#
# The app's settings come from the environment (CANDIDATES_STORE, ...).
# DIR receives the rendered configuration, the socket, app.pid and web.pid.
# SIGTERM or SIGINT stops the web server, then the app, and waits for both.
set -euo pipefail

web=nginx port=8080 dir=var app=build/candidates addr=127.0.0.1 log=""
while [ $# -gt 0 ]; do
	case "$1" in
	--web) web=$2 ;;
	--port) port=$2 ;;
	--dir) dir=$2 ;;
	--app) app=$2 ;;
	--addr) addr=$2 ;;
	--log) log=$2 ;;
	*) echo "stack.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift 2
done
case "$web" in
nginx|lighttpd) ;;
*) echo "stack.sh: --web must be nginx or lighttpd, not '$web'" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
app=$(cd "$(dirname "$app")" && pwd)/$(basename "$app")
sock=$dir/fcgi.sock
export CANDIDATES_SQLITE_PATH=${CANDIDATES_SQLITE_PATH:-$dir/candidates.db}

# The web server runs as whoever runs this. lighttpd refuses to "switch"
# to root, and an empty server.username means "do not switch".
web_user=$(id -un)
[ "$web" = lighttpd ] && [ "$(id -u)" -eq 0 ] && web_user=""

render() {
	sed -e "s|@ADDR@|$addr|g" -e "s|@PORT@|$port|g" \
	    -e "s|@SOCKET@|$sock|g" -e "s|@RUNDIR@|$dir|g" \
	    -e "s|@STATEDIR@|$dir|g" -e "s|@USER@|$web_user|g" "$1" >"$2"
}

app_pid="" web_pid=""
stop() {
	trap - INT TERM EXIT
	# The web server first, so nothing new reaches the app while it drains.
	[ -n "$web_pid" ] && kill -TERM "$web_pid" 2>/dev/null && wait "$web_pid" 2>/dev/null
	[ -n "$app_pid" ] && kill -TERM "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
	rm -f "$sock" "$dir/app.pid" "$dir/web.pid"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

start_app() {
	rm -f "$sock"
	# -n: spawn-fcgi execs the app in place, so $! is the app itself
	# (the process that keeps the socket; its worker is its child).
	if [ -n "$log" ]; then
		spawn-fcgi -n -s "$sock" -M 0600 -- "$app" 2>>"$log" &
	else
		spawn-fcgi -n -s "$sock" -M 0600 -- "$app" &
	fi
	app_pid=$!
	echo "$app_pid" >"$dir/app.pid"
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		kill -0 "$app_pid" 2>/dev/null || { echo "stack.sh: the app did not start" >&2; exit 1; }
		sleep 0.05
	done
}
start_app

case "$web" in
nginx)
	render "$here/nginx-conf/nginx.conf" "$dir/nginx.conf"
	nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
	;;
lighttpd)
	render "$here/lighttpd-conf/lighttpd.conf" "$dir/lighttpd.conf"
	lighttpd -D -f "$dir/lighttpd.conf" &
	;;
esac
web_pid=$!
echo "$web_pid" >"$dir/web.pid"

for _ in $(seq 100); do
	if curl -fsS -o /dev/null "http://$addr:$port/gtg" 2>/dev/null; then
		echo "ready: http://$addr:$port ($web, store ${CANDIDATES_STORE:-sqlite})"
		break
	fi
	kill -0 "$web_pid" 2>/dev/null || { echo "stack.sh: $web did not start" >&2; exit 1; }
	sleep 0.05
done

# Whichever stops first takes the other down with it, except that an app
# killed by a signal (the OOM killer, kill -9) is started again at once, as
# systemd's Restart=on-failure does on a VM; more than 5 deaths in 10 s is
# a crash loop, and the stack stops (systemd's StartLimitBurst). A worker
# that dies is the app's own business: the app forks another and keeps
# the socket (fcgi-app/supervise.h), and its worker never outlives it.
set +e
deaths=0 since=$SECONDS
while :; do
	wait -n "$app_pid" "$web_pid"
	rc=$?
	if [ "$rc" -gt 128 ] && ! kill -0 "$app_pid" 2>/dev/null &&
	    kill -0 "$web_pid" 2>/dev/null; then
		[ $((SECONDS - since)) -ge 10 ] && deaths=0 since=$SECONDS
		deaths=$((deaths + 1))
		if [ "$deaths" -le 5 ]; then
			echo "stack.sh: the app died of signal $((rc - 128)), starting it again" >&2
			start_app
			continue
		fi
		echo "stack.sh: the app keeps dying, stopping" >&2
	fi
	break
done
stop
exit "$rc"
