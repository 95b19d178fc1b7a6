#!/bin/bash
# Where the app's memory goes under load: for each binary given, starts the
# shipped stack (tests/stack.sh, nginx, SQLite seeded with 1000 names) and
# runs wrk on every endpoint in bench.js's order, at each concurrency, the
# stack on core 1 and wrk on core 0 as there. Then prints the app's peak
# RSS (VmHWM) and a breakdown of its RSS at the end (/proc/<pid>/smaps) by
# mapping: each shared library, the main heap, the other malloc arenas,
# thread stacks, the rest. Several binaries run back to back in one call,
# so they compare fairly.
#
#   tests/bench/rss.sh [--seconds S] APP [APP...]
#
# RSS_CONCURRENCY="1 16 64" by default; CANDIDATES_THREADS etc. as for the
# app.
set -euo pipefail

seconds=3 concurrency=${RSS_CONCURRENCY:-1 16 64}
if [ "${1:-}" = --seconds ]; then
	seconds=$2
	shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [--seconds S] APP [APP...]" >&2; exit 2; }

here=$(cd "$(dirname "$0")/../.." && pwd)
addr=127.0.0.1

# A stack left running by a failure or ^C is stopped on the way out.
stack_pid=""
trap '[ -z "$stack_pid" ] || kill -TERM "$stack_pid" 2>/dev/null' EXIT

# The smaps breakdown: one row per library (its mappings summed), and the
# anonymous mappings sorted into what made them. A thread's stack is a
# read-write mapping right above a small no-access guard; a malloc arena
# is the read-write head of a large (64 MiB) no-access reservation.
breakdown() {
	awk '
	function flush() {
		if (name == "") return
		rss[name] += r; dirty[name] += d; anon[name] += a
		order[name] = 1
	}
	# First pass: the anonymous no-access mappings, by their ends.
	FNR == NR {
		if ($1 ~ /^[0-9a-f]+-[0-9a-f]+$/) {
			noaccess = $2 == "---p" && NF < 6
			split($1, ab, "-")
		} else if (noaccess && $1 == "Size:") {
			if ($2 <= 64) guard[ab[2]] = 1
			else reserve[ab[1]] = 1
		}
		next
	}
	/^[0-9a-f]+-[0-9a-f]+ / {
		flush()
		split($1, ab, "-")
		path = NF >= 6 ? $6 : ""
		if (path ~ /^\//) {
			n = split(path, parts, "/"); name = parts[n]
		} else if (path != "") {
			name = path
		} else if ($2 == "---p") {
			name = "(no access)"
		} else if (ab[1] in guard) {
			name = "[thread stacks]"
		} else if (ab[2] in reserve) {
			name = "[malloc arenas]"
		} else {
			name = "[anon other]"
		}
		r = d = a = 0
		next
	}
	/^Rss:/ { r = $2 }
	/^Private_Dirty:/ { d = $2 }
	/^Anonymous:/ { a = $2 }
	END {
		flush()
		for (k in order) {
			printf "%8d %17d %8d  %s\n", rss[k], dirty[k], anon[k], k
			tr += rss[k]; td += dirty[k]; ta += anon[k]
		}
		printf "%8d %17d %8d  %s\n", tr, td, ta, "TOTAL" > "/dev/stderr"
	}' "$1" "$1" 2>"$1.total" | sort -rn
	cat "$1.total"
}

measure() {
	local app=$1 dir port parent pid i ep c
	dir=$(mktemp -d /tmp/rss.XXXXXX)
	# The same table the app creates, filled before it starts.
	{
		echo "CREATE TABLE candidates (CandidateName TEXT PRIMARY KEY" \
		    "NOT NULL) WITHOUT ROWID; BEGIN;"
		for i in $(seq -w 0 999); do
			echo "INSERT INTO candidates VALUES ('candidate-$i');"
		done
		echo "COMMIT;"
	} | sqlite3 "$dir/candidates.db"
	# A port below the kernel's ephemeral range; another one if taken.
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 12000))
		CANDIDATES_SQLITE_PATH=$dir/candidates.db taskset -c 1 \
		    "$here/tests/stack.sh" \
		    --web nginx --port "$port" --dir "$dir" --app "$app" \
		    >"$dir/stack.log" 2>&1 &
		stack_pid=$!
		for _ in $(seq 100); do
			grep -q '^ready:' "$dir/stack.log" && break 2
			kill -0 "$stack_pid" 2>/dev/null || break
			sleep 0.1
		done
		wait "$stack_pid" || true
	done
	grep -q '^ready:' "$dir/stack.log" || { cat "$dir/stack.log" >&2; return 1; }
	# The app may keep the socket and serve from a child it forks: the
	# child is measured, and what the parent holds alone is added, as
	# bench.js does.
	parent=$(cat "$dir/app.pid") pid=$parent
	i=$(cat "/proc/$parent/task/$parent/children")
	[ -n "$i" ] && pid=${i%% *}
	for ep in /gtg '/gtg?details' /candidate/candidate-0500 \
	    /candidate/missing /candidates post; do
		for c in $concurrency; do
			if [ "$ep" = post ]; then
				taskset -c 0 wrk -t1 -c"$c" -d"${seconds}s" \
				    -s "$here/tests/bench/post.lua" \
				    "http://$addr:$port/" -- "rss-$c" >/dev/null
			else
				taskset -c 0 wrk -t1 -c"$c" -d"${seconds}s" \
				    "http://$addr:$port$ep" >/dev/null
			fi
		done
	done
	cp "/proc/$pid/smaps" "$dir/smaps"
	echo "== $app (pid $pid, ${CANDIDATES_THREADS:-16} threads)"
	grep -E '^(VmHWM|VmRSS|RssAnon|RssFile|Threads)' "/proc/$pid/status"
	if [ "$pid" != "$parent" ]; then
		awk '/^VmHWM/ { hwm = $2 } FNR == 1 && NR > 1 { p = 1 }
		    p && /^Private_(Clean|Dirty)/ { own += $2 }
		    END { printf "parent alone: %d kB; whole app: %d kB\n",
		    own, hwm + own }' "/proc/$pid/status" \
		    "/proc/$parent/smaps_rollup"
	fi
	echo "  Rss kB  Private_Dirty kB  Anon kB  mapping"
	breakdown "$dir/smaps"
	kill -TERM "$stack_pid"
	wait "$stack_pid" || true
	stack_pid=""
	rm -rf "$dir"
}

for app in "$@"; do
	measure "$(cd "$(dirname "$app")" && pwd)/$(basename "$app")"
done
