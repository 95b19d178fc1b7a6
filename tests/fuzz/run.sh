#!/bin/bash
# Runs each libFuzzer harness for SECONDS from its seed corpus
# (tests/fuzz/corpus/NAME, copied to a scratch directory so the repo's
# seeds stay as written), then prints what it did: executions, libFuzzer's
# edge and feature counts, and the edges covered in each file of fcgi-app/
# that the harness reaches (over all the file's functions, so code only
# the network reaches counts against it). Fails on the first crash, leak,
# timeout or broken check, leaving the input that did it in build/fuzz/.
#
#   tests/fuzz/run.sh SECONDS build/fuzz/fuzz_name ...
set -euo pipefail

seconds=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/../.." && pwd)/build/fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
summary=""

for bin in "$@"; do
	name=$(basename "$bin")
	short=${name#fuzz_}
	corpus=$work/$short
	mkdir -p "$corpus"
	cp "$here/corpus/$short"/* "$corpus/" 2>/dev/null || true
	echo "== $name: ${seconds}s from $(find "$corpus" -type f | wc -l) seeds"
	# One input may take 10 s before it counts as a hang; leaks are
	# checked after every input that allocated (libFuzzer's default).
	if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -dict="$here/target.dict" \
	    -artifact_prefix="$out/$name-" "$corpus" >"$work/$short.log" 2>&1; then
		tail -n 60 "$work/$short.log"
		echo "FAIL: $name: crash, leak, timeout or broken check;" \
		    "input saved as $out/$name-*" >&2
		exit 1
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$short.log")
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$short.log" | tail -n 1)
	cov=$(sed -E 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/\1 edges, \2 features, corpus \3/' <<<"$done_line")
	# A second pass over the grown corpus, only to read the coverage.
	"$bin" -runs=0 -print_coverage=1 "$corpus" >"$work/$short.cov" 2>&1 || true
	files=$(awk '
	    /^(UN)?COVERED_FUNC:/ && /\/fcgi-app\// {
		split($5, e, "/"); f = $NF; sub(/:[0-9]+$/, "", f);
		sub(/.*\/fcgi-app\//, "", f); hit[f] += e[1]; all[f] += e[2] }
	    END { for (f in all) if (hit[f] > 0) printf "%s %d/%d (%d%%), ",
		f, hit[f], all[f], 100 * hit[f] / all[f] }' "$work/$short.cov")
	line="$name: $execs execs in ${seconds}s; $cov; fcgi-app edges: ${files%, }"
	echo "$line"
	summary+="$line"$'\n'
done
echo
echo "fuzz summary (${seconds}s each, no crash, leak or timeout):"
printf '%s' "$summary"
