#!/usr/bin/env bash
# bench/load.sh - WebSocket load test of 'amtsbot serve' (part of 'make bench').
#
# The server runs on core 0 and the generator (bench/load.c) on core 1, so
# the generator does not steal the server's CPU.  Three figures:
#   1. closed loop, CONNS connections, DURATION s: messages answered per second
#   2. open loop at half that rate (at most 15,000/s): latency percentiles
#   3. the server's peak memory (VmHWM)
# and a check that every answered exchange was stored (2 rows each).
#
# Environment: LOAD_CONNS (5000), LOAD_DURATION (10), LOAD_PORT (free port).
set -eu
cd "$(dirname "$0")/.."

conns=${LOAD_CONNS:-5000}
duration=${LOAD_DURATION:-10}
gen=build/load

if [ ! -x ./amtsbot ]; then
	echo "load.sh: ./amtsbot is missing: run 'make' first" >&2
	exit 1
fi
if [ ! -x "$gen" ] || [ bench/load.c -nt "$gen" ]; then
	mkdir -p build
	cc -O2 -std=gnu11 -Wall -Wextra -o "$gen" bench/load.c
fi

# a free loopback port: ask the kernel for one
port=${LOAD_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# The sample knowledge base, but with the netiquette's flood limit out of
# the way: each generated conversation asks a question every few hundred
# milliseconds, which a citizen would not, and muted answers would be
# cheaper than real ones.
mkdir -p "$tmp/kb"
cp intents/*.yaml "$tmp/kb/"
sed -i -e 's/^\(  *flood_messages:\).*/\1 1000/' \
	-e 's/^\(  *flood_seconds:\).*/\1 1/' "$tmp/kb/netiquette.yaml"

taskset -c 0 ./amtsbot serve --listen "127.0.0.1:$port" --kb "$tmp/kb" \
	--db "$tmp/load.db" --rate-limit 0 --log-level warning \
	>"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
	sleep 0.1
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
field() { sed -n "s/^RESULT.* $1=\([^ ]*\).*/\1/p" "$2"; }

echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
echo
echo "-- 1. closed loop: $conns connections, each sends its next question when the answer is in"
t0=$(cpu_ticks)
w0=$(date +%s%N)
taskset -c 1 "$gen" -p "$port" -c "$conns" -d "$duration" | tee "$tmp/closed.txt"
t1=$(cpu_ticks)
w1=$(date +%s%N)
tput=$(field per_s "$tmp/closed.txt")
echo "server        $(( (t1 - t0) * 100000000000 / $(getconf CLK_TCK) / (w1 - w0) ))% of one core (connect + measure + drain)"

rate=$(( ${tput:-0} / 2 ))
[ "$rate" -gt 15000 ] && rate=15000
[ "$rate" -lt 100 ] && rate=100
echo
echo "-- 2. open loop: $conns connections, $rate messages/s in all, latency from the due time"
taskset -c 1 "$gen" -p "$port" -c "$conns" -d "$duration" -r "$rate" | tee "$tmp/open.txt"

hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=

answered=$(( $(field answered "$tmp/closed.txt") + $(field answered "$tmp/open.txt") ))
rows=$(sqlite3 "$tmp/load.db" "SELECT count(*) FROM messages")
conv=$(sqlite3 "$tmp/load.db" "SELECT count(*) FROM conversations")
echo
echo "-- 3. server memory and storage"
echo "peak memory   $(( hwm / 1024 )) MB (VmHWM; $(( rss / 1024 )) MB resident at the end)"
echo "stored        $rows message rows in $conv conversations; 2 x $answered answered = $(( 2 * answered ))"
if grep -qv '^$' "$tmp/server.log"; then
	echo "server log (warnings, last 5 lines):"
	tail -n 5 "$tmp/server.log" | sed 's/^/  /'
fi
# the targets of issue 3; a missed target is reported, lost data fails
verdict() { if [ "$1" = 1 ]; then echo "ok    "; else echo "MISSED"; fi; }
p99=$(field p99 "$tmp/open.txt")
echo
echo "-- targets"
echo "$(verdict $(( ${tput:-0} >= 30000 ))) throughput $tput/s (target >= 30000/s, closed loop, $conns connections)"
echo "$(verdict $(awk -v p="$p99" 'BEGIN { print (p < 20) }')) p99 $p99 ms at $rate/s (target < 20 ms)"
echo "$(verdict $(( hwm < 150 * 1024 ))) peak memory $(( hwm / 1024 )) MB (target < 150 MB)"
echo "$(verdict $(( rows == 2 * answered ))) stored rows $rows = 2 x answered $answered"
[ "$rows" -eq $(( 2 * answered )) ]
