#!/bin/sh
# pages.sh: times every dashboard page and JSON dataset through lighttpd and
# quotapool on a database of a million requests spread over 30 days.
#
# Usage (from a build directory, after make): ../bench/pages.sh [ROWS]
# It builds the database with bench/bench_stats --keep, starts an instance
# on it with `quotapool-admin serve` on a free loopback port, fetches each
# page and /api/stats dataset for each period five times with an admin key,
# prints the median and worst time in ms, and stops everything it started.
set -u
rows=${1:-1000000}
build=$(pwd)
admin=$build/admin/quotapool-admin
[ -x "$admin" ] && [ -x "$build/bench/bench_stats" ] || {
	echo "pages.sh: run it from a build directory after make" >&2; exit 2; }
work=$(mktemp -d /tmp/qp-bench-pages-XXXXXX)
serve_pid=
cleanup() {
	[ -n "$serve_pid" ] && kill -TERM "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
	rm -rf "$work" "${db:-/nonexistent}" "${db:-/nonexistent}-wal" "${db:-/nonexistent}-shm"
}
trap cleanup EXIT INT TERM

echo "generating $rows requests (bench_stats --keep)..."
"$build/bench/bench_stats" --rows "$rows" --keep > "$work/stats.txt" || exit 1
db=$(sed -n 's/^database //p' "$work/stats.txt" | head -n1)
[ -f "$db" ] || { echo "pages.sh: no database from bench_stats" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
	printf '[server]\nport = %s\nstate_dir = "state"\nthreads = 8\n' "$port"
	printf '[database]\npath = "%s"\n' "$db"
	for p in openrouter anthropic zai local; do
		printf '[providers.%s]\nbase_url = "http://127.0.0.1:9/v1"\nmodels = ["m"]\n' "$p"
		for a in 1 2 3; do
			printf '[[providers.%s.accounts]]\nname = "%s-%s"\napi_key = "k-%s-%s-bench"\n' \
			    "$p" "$p" "$a" "$p" "$a"
			printf 'five_hour_requests = 2000\nweekly_microdollars = 50000000\n'
			printf 'monthly_tokens = 2000000000\n'
		done
	done
	printf '[models]\nstartup_refresh = false\nrefresh_interval_s = 0\n'
} > "$work/config.toml"
key=$("$admin" --config "$work/config.toml" key new bench --admin 2>/dev/null) || exit 1
"$admin" --config "$work/config.toml" serve > "$work/serve.out" 2>&1 &
serve_pid=$!
i=0
until curl -sf "http://127.0.0.1:$port/v1/readyz" > /dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && { echo "pages.sh: gateway did not start" >&2; exit 1; }
	sleep 0.1
done

time_url() {
	# prints the median and the worst of five fetches, in ms
	for n in 1 2 3 4 5; do
		curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
		    -H "Authorization: Bearer $key" "http://127.0.0.1:$port$1"
	done > "$work/t"
	bad=$(awk '$1 != 200 { print $1; exit }' "$work/t")
	awk '{ print $2 * 1000 }' "$work/t" | sort -n | awk -v bad="$bad" \
	    '{ t[NR] = $1 } END { printf "%8.1f %8.1f%s", t[3], t[5], bad != "" ? "  (HTTP " bad ")" : "" }'
}

printf '\n%-34s %8s %8s   (ms, median and worst of 5, %s rows)\n' "page" "median" "worst" "$rows"
for page in / /accounts /models /latency /timeseries /bandwidth /reliability /routing \
    /pings /runtime /traces; do
	for period in 1h 24h 7d 30d; do
		printf '%-34s %s\n' "$page?period=$period" "$(time_url "$page?period=$period")"
	done
done
for ds in summary accounts models latency timeseries bandwidth attempts retries routing \
    pings errors operational pending-health recent-requests; do
	printf '%-34s %s\n' "/api/stats/$ds?period=30d" "$(time_url "/api/stats/$ds?period=30d")"
done
printf '%-34s %s\n' "/metrics" "$(time_url /metrics)"
