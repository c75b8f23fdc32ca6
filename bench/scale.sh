#!/usr/bin/env bash
# A million statuses (issue 15): one status-node (no broker) loaded with SCALE_USERS statuses,
# then
#  1. its memory: VmRSS and peak (VmHWM) after loading, and again after a restart that reads them
#     back from SQLite (the bound: RSS < 600 MiB at 1,000,000);
#  2. an empty node started with --peer: the time until it has bootstrapped all of them from the
#     first (the bound: < 30 s), and its RSS;
#  3. GET /api/statuses?limit=100&offset=X at the start, the middle and the end of the list: p50
#     and p99 with one connection (the bound: p99 < 10 ms at any offset), and GET of one status.
# Prints a Markdown section on stdout. Everything on 127.0.0.1; every wait and load is bounded.
#
# Knobs: STATUS_BUILD_DIR (build), SCALE_USERS (1000000), BENCH_SECONDS (3 per wrk run),
# NODE_THREADS (2), LOAD_CONNECTIONS (64), BENCH_KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${STATUS_BUILD_DIR:-${BUILD:-build}}
NODE_BIN=$BUILD_DIR/bin/status-node
USERS=${SCALE_USERS:-1000000}
SECS=${BENCH_SECONDS:-3}
NODE_THREADS=${NODE_THREADS:-2}
LOAD_CONNS=${LOAD_CONNECTIONS:-64}

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "scale.sh: $tool is missing (scripts/install-deps --all)" >&2; exit 1; }
done
[[ -x $NODE_BIN ]] || { echo "scale.sh: $NODE_BIN not built (make build)" >&2; exit 1; }
(( USERS % 2 == 0 && USERS >= 1000 )) || { echo "scale.sh: SCALE_USERS must be even, >= 1000" >&2; exit 1; }

load_before=$(cut -d" " -f1-3 /proc/loadavg)
work=$(mktemp -d /tmp/status-bench-scale.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n ${BENCH_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { python3 -c "import time; print(f'{time.time() - $1:.1f}')"; }
mib() { awk -v f="$2" '$1 == f":" {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
total_count() {  # url
  curl -fs -m 5 -D - -o /dev/null "$1/api/statuses?limit=1" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="x-total-count" {print $2}'
}
start_node() {  # name port [flags...]; sets node_pid
  local name=$1 port=$2
  shift 2
  "$NODE_BIN" --port "$port" --node-id "$name" --data-dir "$work/$name" --threads "$NODE_THREADS" \
    --auth off --log-level warn "$@" >>"$work/$name.log" 2>&1 &
  node_pid=$!
  pids+=("$node_pid")
}
wait_ready() {  # url seconds
  local deadline=$((SECONDS + $2))
  until curl -fs -m 2 -o /dev/null "$1/health"; do
    (( SECONDS < deadline )) || { echo "scale.sh: $1 not ready in $2 s" >&2; return 1; }
    sleep 0.05
  done
}

port_a=$(free_port)
url_a=http://127.0.0.1:$port_a
start_node a "$port_a"
pid_a=$node_pid
wait_ready "$url_a" 30

# ---- loading: wrk PUTs each thread's half of the users until the node holds them all.
cat >"$work/load.lua" <<EOF
local quota = $((USERS / 2))
local words = {"meeting", "lunch", "train", "coding", "holiday", "doctor", "commute", "focus", "gym", "travel"}
local n = 0
setup = function(thread) thread:set("tid", n); n = n + 1 end
local sent = 0
request = function()
  local i = (tid or 0) * quota + sent % quota
  sent = sent + 1
  local body = string.format('{"statusText":"%s then %s #%d","latitude":%.2f,"longitude":%.2f}',
                             words[i % 10 + 1], words[math.floor(i / 10) % 10 + 1], i,
                             (i * 7919) % 17000 / 100 - 85, (i * 104729) % 36000 / 100 - 180)
  return wrk.format("PUT", string.format("/api/statuses/user%07d", i),
                    {["Content-Type"] = "application/json"}, body)
end
EOF
echo "scale.sh: loading $USERS statuses" >&2
t0=$(now)
wrk -t2 -c"$LOAD_CONNS" -d900s --timeout 10s -s "$work/load.lua" "$url_a" >"$work/wrk-load.txt" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
deadline=$((SECONDS + 900))
until [[ $(total_count "$url_a") == "$USERS" ]] || (( SECONDS >= deadline )); do sleep 0.5; done
kill -INT "$wrk_pid" 2>/dev/null || true
wait "$wrk_pid" 2>/dev/null || true
load_secs=$(since "$t0")
[[ $(total_count "$url_a") == "$USERS" ]] || { echo "scale.sh: loaded $(total_count "$url_a") of $USERS" >&2; exit 1; }
rss_loaded=$(mib "$pid_a" VmRSS) hwm_loaded=$(mib "$pid_a" VmHWM)
db_mib=$(du -sm "$work/a" | cut -f1)

# ---- restart: the same data read back from SQLite.
kill -TERM "$pid_a"
wait "$pid_a" 2>/dev/null || true
t0=$(now)
start_node a "$port_a"
pid_a=$node_pid
wait_ready "$url_a" 120
restart_secs=$(since "$t0")
rss_restarted=$(mib "$pid_a" VmRSS) hwm_restarted=$(mib "$pid_a" VmHWM)

# ---- bootstrap: an empty node with --peer a.
port_b=$(free_port)
url_b=http://127.0.0.1:$port_b
t0=$(now)
start_node b "$port_b" --peer "$url_a"
pid_b=$node_pid
wait_ready "$url_b" 120
boot_secs=$(since "$t0")
count_b=$(total_count "$url_b")
rss_b=$(mib "$pid_b" VmRSS) hwm_b=$(mib "$pid_b" VmHWM)

# ---- pages at offsets, one connection: wrk's percentiles.
page() {  # path
  local out
  out=$(wrk -t1 -c1 -d"${SECS}s" --timeout 10s --latency "$url_a$1" 2>&1)
  python3 - "$out" <<'PY'
import re, sys
t = sys.argv[1]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"| {rps:.0f} | {pct(50):.2f} | {pct(99):.2f} | {bad.group(1) if bad else 0} |")
PY
}
rows=""
for off in 0 $((USERS / 2)) $((USERS - 100)); do
  rows+="| \`?limit=100&offset=$off\` $(page "/api/statuses?limit=100&offset=$off")"$'\n'
done
rows+="| \`/api/statuses/user0000042\` $(page "/api/statuses/user0000042")"$'\n'

cat <<MD
### A million statuses (\`bench/scale.sh\`)

$USERS statuses (text ~25 characters, coordinates), one node, \`--threads $NODE_THREADS\`, no
broker. Load average before: $load_before; after: $(cut -d" " -f1-3 /proc/loadavg).

| what | figure |
|---|---|
| loading by PUT (wrk, $LOAD_CONNS connections) | $load_secs s ($(python3 -c "print(f'{$USERS / $load_secs:.0f}')") statuses/s) |
| data directory | $db_mib MiB |
| RSS after loading (peak) | $rss_loaded MiB ($hwm_loaded MiB) |
| restart: until ready | $restart_secs s |
| RSS after the restart (peak) | $rss_restarted MiB ($hwm_restarted MiB) |
| empty node with \`--peer\`: until ready | $boot_secs s, $count_b statuses |
| its RSS (peak) | $rss_b MiB ($hwm_b MiB) |

| request (one connection, ${SECS} s) | req/s | p50 ms | p99 ms | non-2xx |
|---|---|---|---|---|
$rows
MD
