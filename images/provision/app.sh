#!/bin/sh
# Builds the app from the uploaded source and installs it as
# /usr/local/bin/candidates, with the unprivileged user it runs as and the
# directory that holds its SQLite file when the store is sqlite.
#
# Environment: SRC (the uploaded source).
set -eu

: "${SRC:?SRC must name the uploaded source directory}"

# A system user with no login and no home: spawn-fcgi drops to it before
# it starts the app.
if ! getent passwd candidates >/dev/null; then
	useradd --system --user-group --no-create-home \
	    --home-dir /nonexistent --shell /usr/sbin/nologin candidates
fi

make -C "$SRC" clean
make -C "$SRC" install PREFIX=/usr/local
install -d -o candidates -g candidates -m 0750 /var/lib/candidates
echo "app.sh: installed /usr/local/bin/candidates"
