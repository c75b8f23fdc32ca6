#!/usr/bin/env bash
# Status features (issue 13): what the list filters and a burst of expiries cost. One status-node
# (no broker) on a temporary data dir, loaded with BENCH_USERS statuses that have texts,
# availabilities and (nine in ten) coordinates; then
#  1. wrk against GET /api/statuses with ?q=… and ?bbox=… (and combinations, and no filter for
#     scale): p50/p99 with one connection (what one query costs) and req/s with one and with
#     BENCH_CONNECTIONS, with the number of statuses each query matches;
#  2. PUT latency under a paced load (bench/lib/expiry_burst.py, an open-loop asyncio writer:
#     requests are sent on a fixed schedule whatever the answers do, and each latency is counted
#     from the scheduled time, so a stall shows in full) before and during the second in which
#     BURST statuses expire together (all with the same expiresAt), side by side, and while two
#     clients run ?q= scans; BURST_ROUNDS rounds; and how long after that second they were gone.
# Prints a Markdown section on stdout (bench/run collects it into build/bench/report.md).
# Everything binds to 127.0.0.1; every load is bounded in time.
#
# Knobs (environment): STATUS_BUILD_DIR (default build), BENCH_USERS (100000), BENCH_SECONDS (5,
# per wrk run), BENCH_CONNECTIONS (wrk -c of the second run per query: 8), NODE_THREADS (1),
# BURST (1000), BURST_ROUNDS (3), PUT_RATE (400/s of the paced writer), PUT_CONNECTIONS (16).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${STATUS_BUILD_DIR:-${BUILD:-build}}
NODE_BIN=$BUILD_DIR/bin/status-node
USERS=${BENCH_USERS:-100000}
SECS=${BENCH_SECONDS:-3}
CONNS=${BENCH_CONNECTIONS:-8}
NODE_THREADS=${NODE_THREADS:-1}
BURST=${BURST:-1000}
BURST_ROUNDS=${BURST_ROUNDS:-3}
PUT_RATE=${PUT_RATE:-400}
PUT_CONNS=${PUT_CONNECTIONS:-16}

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "queries.sh: $tool is missing (scripts/install-deps --all)" >&2; exit 1; }
done
[[ -x $NODE_BIN ]] || { echo "queries.sh: $NODE_BIN not built (make build)" >&2; exit 1; }
(( USERS % 2 == 0 )) || { echo "queries.sh: BENCH_USERS must be even" >&2; exit 1; }

load_before=$(cut -d" " -f1-3 /proc/loadavg)
work=$(mktemp -d /tmp/status-bench-queries.XXXXXX)
log=$work/bench.log
node_pid="" wrk_pid=""
cleanup() {
  [[ -n $node_pid ]] && kill -KILL "$node_pid" 2>/dev/null || true
  [[ -n $wrk_pid ]] && kill -TERM "$wrk_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ -n ${BENCH_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
"$NODE_BIN" --port "$port" --node-id bench --data-dir "$work/data" --threads "$NODE_THREADS" \
  --auth off --log-level warn >>"$work/node.log" 2>&1 &
node_pid=$!
deadline=$((SECONDS + 30))
until curl -fs -o /dev/null "$url/health"; do
  (( SECONDS < deadline )) || { echo "queries.sh: the node did not start: $(tail -3 "$work/node.log")" >&2; exit 1; }
  sleep 0.05
done

total_count() {  # query
  curl -fs -D - -o /dev/null "$url/api/statuses?$1" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="x-total-count" {print $2}'
}

# ---- loading: wrk PUTs each thread's half of the users in turn until the node holds them all.
# user i: text "<word i%10> then <word (i/10)%10> #i", availability i%4, coordinates unless
# i%10 == 9 (lat -85…85, lon -180…180, spread by two multiplicative hashes).
cat >"$work/load.lua" <<EOF
local quota = $((USERS / 2))
local words = {"meeting", "lunch", "train", "coding", "holiday", "doctor", "commute", "focus", "gym", "travel"}
local avs = {"available", "busy", "away", "dnd"}
local n = 0
setup = function(thread) thread:set("tid", n); n = n + 1 end
local sent = 0
request = function()
  local i = (tid or 0) * quota + sent % quota
  sent = sent + 1
  local body = string.format('{"statusText":"%s then %s #%d","availability":"%s"', words[i % 10 + 1],
                             words[math.floor(i / 10) % 10 + 1], i, avs[i % 4 + 1])
  if i % 10 ~= 9 then
    body = body .. string.format(',"latitude":%.2f,"longitude":%.2f', (i * 7919) % 17000 / 100 - 85,
                                 (i * 104729) % 36000 / 100 - 180)
  end
  return wrk.format("PUT", string.format("/api/statuses/user%06d", i), {["Content-Type"] = "application/json"},
                    body .. "}")
end
EOF
echo "queries.sh: loading $USERS statuses" >&2
load_start=$(date +%s.%N)
wrk -t2 -c32 -d300s --timeout 10s -s "$work/load.lua" "$url" >"$work/wrk-load.txt" 2>&1 &
wrk_pid=$!
deadline=$((SECONDS + 300))
until [[ $(total_count limit=1) == "$USERS" ]] || (( SECONDS >= deadline )); do sleep 0.2; done
kill -INT "$wrk_pid"
wait "$wrk_pid" || true
wrk_pid=""
load_secs=$(python3 -c "import time; print(f'{time.time() - $load_start:.1f}')")
[[ $(total_count limit=1) == "$USERS" ]] || { echo "queries.sh: loaded $(total_count limit=1) of $USERS" >&2; exit 1; }
curl -fs "$url/api/statuses/user000042" | grep -q '"latitude"' || { echo "queries.sh: the node stored no coordinates" >&2; exit 1; }

# ---- 1. queries: two wrk runs each (-c1, -c$CONNS); wrk's req/s and percentiles.
run_wrk() {  # name, path, connections
  local out=$work/wrk-$1-c$3.txt
  wrk -t1 -c"$3" -d"${SECS}s" --timeout 10s --latency "$url$2" >"$out" 2>&1
  cat "$out" >>"$log"
  python3 - "$out" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {pct(50):.2f} {pct(99):.2f} {bad.group(1) if bad else 0}")
EOF
}
QUERIES=(
  "none|no filter (the first 100)|limit=100"
  "q-common|q=meeting (a word of about one status in five)|q=meeting"
  "q-rare|q=%234213 (one status and ten more with #4213…)|q=%234213"
  "q-none|q=zzz (no match: every status looked at)|q=zzz"
  "q-user|q=USER04213 (a username prefix, other case)|q=USER04213"
  "bbox-small|bbox=16,48,17,49 (1° × 1°)|bbox=16,48,17,49"
  "bbox-medium|bbox=0,0,10,10 (10° × 10°)|bbox=0,0,10,10"
  "bbox-large|bbox=-180,-85,180,85 (the whole map)|bbox=-180,-85,180,85"
  "combined|q=meeting&availability=busy&bbox=-90,-45,90,45|q=meeting&availability=busy&bbox=-90,-45,90,45"
  "users|username=… ×100|$(python3 -c "print('&'.join(f'username=user{i * 997:06d}' for i in range(100)))")"
)
rows=""
for entry in "${QUERIES[@]}"; do
  IFS='|' read -r name label query <<<"$entry"
  echo "queries.sh: GET ?$label" >&2
  matched=$(total_count "$query&limit=1")
  read -r rps1 p50 p99 bad1 < <(run_wrk "$name" "/api/statuses?$query" 1)
  read -r rps _ p99c bad < <(run_wrk "$name" "/api/statuses?$query" "$CONNS")
  rows+="| \`$label\` | $matched | $p50 | $p99 | $rps1 | $rps | $p99c | $((bad1 + bad)) |"$'\n'
done

# ---- 2. PUT latency before and during a burst of expiries (bench/lib/expiry_burst.py).
echo "queries.sh: PUT p99 before and during $BURST expiries in one second" >&2
python3 bench/lib/expiry_burst.py "$url" "$USERS" "$BURST" "$PUT_RATE" "$PUT_CONNS" "$BURST_ROUNDS" \
  >"$work/burst.txt" 2>>"$log" || { echo "queries.sh: the burst rounds failed: $(tail -5 "$log")" >&2; exit 1; }
burst_rows=""
while read -r round b_n b_p50 b_p99 b_max b_bad d_n d_p50 d_p99 d_max d_bad s_n s_p50 s_p99 s_max s_bad gone; do
  burst_rows+="| $round | $b_n | $b_p50 | **$b_p99** | $b_max | $d_n | $d_p50 | **$d_p99** | $d_max | $s_p99 | $s_max | $((b_bad + d_bad + s_bad)) | $gone |"$'\n'
done <"$work/burst.txt"
[[ -n $burst_rows ]] || { echo "queries.sh: the burst rounds gave no figures" >&2; exit 1; }
rss=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$node_pid/status")
kill -TERM "$node_pid"; wait "$node_pid" || true; node_pid=""

cat <<EOF
Queries and expiries: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),
$USERS statuses (nine in ten with coordinates), status-node --threads $NODE_THREADS, no broker. Load average
before the runs: ${load_before}; after: $(cut -d" " -f1-3 /proc/loadavg). Loading took ${load_secs} s. Peak RSS ${rss} MiB.

GET /api/statuses with filters (default limit 100), wrk -t1, ${SECS} s per run: latency with one
connection (what one query costs), throughput with one and with $CONNS connections:

| query | matches | p50 ms (-c1) | p99 ms (-c1) | req/s (-c1) | req/s (-c$CONNS) | p99 ms (-c$CONNS) | non-2xx |
|---|---:|---:|---:|---:|---:|---:|---:|
${rows}
PUT (replacing existing users) at $PUT_RATE/s on $PUT_CONNS connections, open loop (bench/lib/expiry_burst.py;
latency from the scheduled send time, so a stall counts in full), around the second T in which $BURST statuses
expire (all with the same expiresAt), $BURST_ROUNDS rounds: before (T−5 s … T−1 s), during (T−0.5 s … T+1.5 s),
and while two clients run back-to-back \`?q=zzz\` scans (T+2.5 s … T+6 s):

| round | PUTs before | p50 ms | p99 ms before | max ms | PUTs during | p50 ms | p99 ms during | max ms | p99 ms during scans | max ms | non-2xx | all $BURST gone after T (s) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${burst_rows}
EOF
