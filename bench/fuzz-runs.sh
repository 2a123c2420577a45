#!/bin/sh
# fuzz-runs.sh: runs every libFuzzer target of a fuzzing build for a fixed
# number of executions and prints one row per target: executions, wall time,
# executions per second, peak RSS, corpus size and the exit status.
#
# Usage (from a build directory configured with
#   ../configure CC=clang --enable-fuzzing; make -j2):
#   ../bench/fuzz-runs.sh [RUNS] [TARGET...]
# RUNS defaults to 10000000; TARGET names (e.g. toml sse) restrict the run.
# Each target starts from its seed corpus in tests/fuzz/corpus/NAME (read
# only) and a scratch corpus fuzz-runs/corpus-NAME that it grows; the full
# libFuzzer log is fuzz-runs/NAME.log, and a crash, leak or timeout is kept as
# fuzz-runs/NAME-crash-*, -leak-* or -timeout-* (libFuzzer's artifact prefix)
# and makes the script exit 1. Run it under `nice -n 19`: it is CPU bound.
set -u
runs=${1:-10000000}
[ $# -gt 0 ] && shift
build=$(pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
[ -d "$build/tests/fuzz" ] || {
	echo "fuzz-runs.sh: run it from a build directory configured with --enable-fuzzing" >&2
	exit 2; }
out=$build/fuzz-runs
mkdir -p "$out"
if [ $# -gt 0 ]; then targets=$*; else
	targets=$(for f in "$build"/tests/fuzz/fuzz_*; do
		case $f in *.o) continue ;; esac
		[ -x "$f" ] && echo "${f##*/fuzz_}"; done)
fi
[ -n "$targets" ] || { echo "fuzz-runs.sh: no fuzz_* binaries in $build/tests/fuzz" >&2; exit 2; }
status=0
printf '%-13s %12s %9s %9s %8s %7s %s\n' target executions seconds 'exec/s' rss_mb corpus rc
for name in $targets; do
	bin=$build/tests/fuzz/fuzz_$name
	[ -x "$bin" ] || { echo "fuzz-runs.sh: no $bin" >&2; status=1; continue; }
	mkdir -p "$out/corpus-$name"
	start=$(date +%s)
	"$bin" -runs="$runs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
	    -artifact_prefix="$out/$name-" "$out/corpus-$name" "$src/tests/fuzz/corpus/$name" \
	    </dev/null >"$out/$name.log" 2>&1
	rc=$?
	end=$(date +%s)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log" | tail -n1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$out/$name.log" | tail -n1)
	secs=$((end - start))
	[ "$secs" -gt 0 ] || secs=1
	corpus=$(ls "$out/corpus-$name" | wc -l)
	printf '%-13s %12s %9s %9s %8s %7s %s\n' "$name" "${execs:-?}" "$secs" \
	    "$(( ${execs:-0} / secs ))" "${rss:-?}" "$corpus" "$rc"
	if [ "$rc" -ne 0 ]; then
		status=1
		ls "$out/$name"-* 2>/dev/null | sed 's/^/    artifact: /'
	fi
done
exit $status
