#!/bin/sh
# Names the store the image serves as shipped in /etc/default/candidates
# (units.sh installs it). The instance's user data rewrites the whole file
# at boot; this is what an instance serves when it did not run. So a
# cloud's image names that cloud's shared store, whose table and region
# have defaults (on AWS: Candidates, and the region from IMDSv2): such an
# instance serves the same data as the others, or fails to start and its
# health check fails, never a private SQLite file behind the load balancer.
#
# Environment: STORE (sqlite, or a store whose module the image has).
set -eu

: "${STORE:?STORE must name the store, such as sqlite or dynamodb}"
env=/etc/default/candidates
case "$STORE" in
sqlite) ;;
*[!a-z0-9_]*)
	echo "store.sh: STORE must be a store's name, not '$STORE'" >&2
	exit 2
	;;
*)
	# A name the app does not know would stop it at every boot: stop the
	# build instead.
	[ -e "/usr/local/lib/candidates/store_$STORE.so" ] || {
		echo "store.sh: the image has no store_$STORE.so for STORE=$STORE" >&2
		exit 2
	}
	;;
esac

sed "s/^CANDIDATES_STORE=.*/CANDIDATES_STORE=$STORE/" "$env" >"$env.new"
grep -qx "CANDIDATES_STORE=$STORE" "$env.new" || {
	echo "store.sh: $env has no CANDIDATES_STORE line" >&2
	rm -f "$env.new"
	exit 1
}
chmod 0644 "$env.new"
mv "$env.new" "$env"
echo "store.sh: $env: CANDIDATES_STORE=$STORE"
