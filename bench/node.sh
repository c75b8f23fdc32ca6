#!/usr/bin/env bash
# Node benchmark (issue 2): one status-node on a temporary data dir, loaded with 100,000
# statuses, then wrk against GET /api/statuses/{user} (random users) and PUT, and nginx serving
# the same JSON body as a static answer under the same wrk load, for scale. Prints a Markdown
# section on stdout (bench/run collects it into build/bench/report.md); progress goes to a log in
# the temporary directory. Everything binds to 127.0.0.1; every load is bounded in time.
#
# Knobs (environment): STATUS_BUILD_DIR (default build), BENCH_USERS (100000), BENCH_SECONDS (5),
# BENCH_THREADS / BENCH_CONNECTIONS (wrk -t / -c: 2 / 64), BENCH_ROUNDS (3 GET runs each of node
# and nginx, alternating), NODE_THREADS (1: one I/O thread, like nginx's one worker).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${STATUS_BUILD_DIR:-${BUILD:-build}}
NODE_BIN=$BUILD_DIR/bin/status-node
USERS=${BENCH_USERS:-100000}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
WRK_T=${BENCH_THREADS:-2}
WRK_C=${BENCH_CONNECTIONS:-64}
NODE_THREADS=${NODE_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-3}

for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "node.sh: $tool is missing (scripts/install-deps --all)" >&2; exit 1; }
done
[[ -x $NODE_BIN ]] || { echo "node.sh: $NODE_BIN not built (make build)" >&2; exit 1; }
(( USERS % WRK_T == 0 )) || { echo "node.sh: BENCH_USERS must be a multiple of BENCH_THREADS" >&2; exit 1; }

work=$(mktemp -d /tmp/status-bench-node.XXXXXX)
log=$work/bench.log
node_pid="" nginx_pid="" wrk_pid=""
cleanup() {
  [[ -n $node_pid ]] && kill -KILL "$node_pid" 2>/dev/null || true
  [[ -n $nginx_pid ]] && kill -TERM "$nginx_pid" 2>/dev/null || true
  [[ -n $wrk_pid ]] && kill -TERM "$wrk_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [[ -n ${BENCH_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {  # url, seconds
  local deadline=$((SECONDS + $2))
  until curl -fs -o /dev/null "$1"; do
    (( SECONDS < deadline )) || { echo "node.sh: $1 did not answer within $2 s" >&2; return 1; }
    sleep 0.05
  done
}

start_node() {  # extra flags...
  node_port=$(free_port)
  # The open mode: this bench measures the store and the HTTP path (bench/auth.sh measures
  # what authentication adds).
  "$NODE_BIN" --port "$node_port" --node-id bench --data-dir "$work/data" --threads "$NODE_THREADS" \
    --auth off --log-level warn "$@" >>"$work/node.log" 2>&1 &
  node_pid=$!
  wait_http "http://127.0.0.1:$node_port/health" 20
}

stop_node() {
  kill -TERM "$node_pid"
  wait "$node_pid" || true
  node_pid=""
}

# wrk's figures: "Requests/sec", the 99th percentile latency in ms, and non-2xx answers.
run_wrk() {  # name, url, script [connections]
  local out=$work/wrk-$1.txt
  wrk -t"$WRK_T" -c"${4:-$WRK_C}" -d"${SECONDS_PER_RUN}s" --timeout 5s --latency -s "$3" "$2" >"$out" 2>&1
  cat "$out" >>"$log"
  python3 - "$out" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
err = re.search(r"Socket errors: (.*)", t)
print(f"{rps:.0f} {p99:.2f} {bad.group(1) if bad else 0} {'yes' if err else 'no'}")
EOF
}

total_count() {
  curl -fs -D - -o /dev/null "$node_url/api/statuses?limit=1" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="x-total-count" {print $2}'
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$node_pid/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$node_pid/status"; }

# ---- wrk scripts
cat >"$work/load.lua" <<EOF
local quota = $((USERS / WRK_T))
local n = 0
setup = function(thread) thread:set("tid", n); n = n + 1 end
local sent = 0
request = function()
  local user = string.format("user%06d", (tid or 0) * quota + sent % quota)
  sent = sent + 1
  return wrk.format("PUT", "/api/statuses/" .. user, {["Content-Type"] = "application/json"},
                    '{"statusText":"status of ' .. user .. '","latitude":48.2082,"longitude":16.3738}')
end
EOF
cat >"$work/get.lua" <<EOF
local users = $USERS
init = function() math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end
request = function()
  return wrk.format("GET", string.format("/api/statuses/user%06d", math.random(0, users - 1)))
end
EOF
cat >"$work/put.lua" <<EOF
local users = $USERS
local count = 0
init = function() math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end
request = function()
  count = count + 1
  return wrk.format("PUT", string.format("/api/statuses/user%06d", math.random(0, users - 1)),
                    {["Content-Type"] = "application/json"}, '{"statusText":"bench update ' .. count .. '"}')
end
EOF

load_before=$(cut -d" " -f1-3 /proc/loadavg)

# ---- the node, loaded with USERS statuses. The SQLite sync mode is always given explicitly, so
# the rows say what they measured whatever the default is (normal since 668771d).
echo "node.sh: loading $USERS statuses" >&2
start_node --sync normal
node_url=http://127.0.0.1:$node_port
load_start=$(date +%s.%N)
# wrk PUTs each thread's share of users in turn, cycling, until the node holds them all; then it is
# stopped (SIGINT: wrk's clean stop). Cycling makes up for the one request wrk 4 generates on
# thread 0 only to check the script; wrk also waits out -d even when its threads stop.
wrk -t"$WRK_T" -c"$WRK_C" -d300s --timeout 10s -s "$work/load.lua" "$node_url" >"$work/wrk-load.txt" 2>&1 &
wrk_pid=$!
deadline=$((SECONDS + 300))
until [[ $(total_count) == "$USERS" ]] || (( SECONDS >= deadline )); do sleep 0.2; done
kill -INT "$wrk_pid"
wait "$wrk_pid" || true
wrk_pid=""
load_secs=$(python3 -c "import time; print(f'{time.time() - $load_start:.1f}')")
total=$(total_count)
[[ $total == "$USERS" ]] || { echo "node.sh: loaded $total statuses, expected $USERS" >&2; exit 1; }
rss_loaded=$(rss_kib)
sample=$(curl -fs "$node_url/api/statuses/user000042")

# ---- nginx, one worker, answering every GET with the node's JSON body
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200 '$sample'; }
  }
}
EOF
nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" >>"$log" 2>&1 &
nginx_pid=$!
wait_http "http://127.0.0.1:$nginx_port/api/statuses/user000001" 10
[[ $(curl -fs "http://127.0.0.1:$nginx_port/api/statuses/user000001") == "$sample" ]]

# ---- GET: node and nginx in alternation, ROUNDS times each; the medians are reported (on a
# shared machine one run alone says little).
echo "node.sh: GET, node and nginx, $ROUNDS rounds" >&2
node_runs=() ngx_runs=() get_bad=0 ngx_bad=0 get_err=no ngx_err=no
for ((r = 1; r <= ROUNDS; r++)); do
  read -r rps p99 bad err < <(run_wrk "node-get-$r" "$node_url" "$work/get.lua")
  node_runs+=("$rps:$p99"); get_bad=$((get_bad + bad)); [[ $err == no ]] || get_err=yes
  read -r rps p99 bad err < <(run_wrk "nginx-get-$r" "http://127.0.0.1:$nginx_port" "$work/get.lua")
  ngx_runs+=("$rps:$p99"); ngx_bad=$((ngx_bad + bad)); [[ $err == no ]] || ngx_err=yes
done
kill -TERM "$nginx_pid"
wait "$nginx_pid" || true
nginx_pid=""
median() {  # field (1 = req/s, 2 = p99), runs...
  local f=$1; shift
  printf '%s\n' "$@" | cut -d: -f"$f" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
get_rps=$(median 1 "${node_runs[@]}") get_p99=$(median 2 "${node_runs[@]}")
ngx_rps=$(median 1 "${ngx_runs[@]}") ngx_p99=$(median 2 "${ngx_runs[@]}")
get_all=$(printf '%s ' "${node_runs[@]}" | sed 's/:[^ ]*//g')
ngx_all=$(printf '%s ' "${ngx_runs[@]}" | sed 's/:[^ ]*//g')

echo "node.sh: PUT" >&2
read -r put_rps put_p99 put_bad put_err < <(run_wrk node-put "$node_url" "$work/put.lua")
# Group commit batches what is queued during one fsync: more concurrent writers, bigger batches.
read -r put4_rps put4_p99 put4_bad put4_err < <(run_wrk node-put-c256 "$node_url" "$work/put.lua" 256)
# Reads are served from memory and never wait for SQLite: GETs while a PUT load commits.
echo "node.sh: GET while PUTs run" >&2
wrk -t1 -c16 -d"$((SECONDS_PER_RUN + 1))s" --timeout 5s -s "$work/put.lua" "$node_url" >"$work/wrk-put-bg.txt" 2>&1 &
bg_pid=$!
sleep 0.5
read -r mix_rps mix_p99 mix_bad mix_err < <(run_wrk node-get-during-put "$node_url" "$work/get.lua")
wait "$bg_pid" || true
cat "$work/wrk-put-bg.txt" >>"$log"
bg_put_rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk-put-bg.txt")
rss_after=$(rss_kib)
hwm_after=$(hwm_kib)
stop_node

# ---- the same PUT loads with --sync full (an fsync per commit), for comparison
start_node --sync full
node_url=http://127.0.0.1:$node_port
read -r putf_rps putf_p99 putf_bad putf_err < <(run_wrk node-put-full "$node_url" "$work/put.lua")
read -r putf4_rps putf4_p99 putf4_bad putf4_err < <(run_wrk node-put-full-c256 "$node_url" "$work/put.lua" 256)
stop_node

ratio=$(python3 -c "print(f'{$get_rps / $ngx_rps:.2f}')")
verdict() { python3 -c "print('met' if $1 else 'MISSED')"; }

cat <<EOF
Node benchmark: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),
$USERS statuses, wrk -t$WRK_T -c$WRK_C, ${SECONDS_PER_RUN} s per run, status-node --threads $NODE_THREADS,
nginx worker_processes 1, load average before the runs: ${load_before}. Loading took ${load_secs} s (wrk PUTs, --sync normal).

| run | req/s | p99 (ms) | non-2xx | socket errors |
|---|---:|---:|---:|---|
| node GET /api/statuses/{user}, median of $ROUNDS ($get_all) | $get_rps | $get_p99 | $get_bad | $get_err |
| nginx static, same body, median of $ROUNDS ($ngx_all) | $ngx_rps | $ngx_p99 | $ngx_bad | $ngx_err |
| node PUT, --sync normal | $put_rps | $put_p99 | $put_bad | $put_err |
| node PUT, --sync normal, wrk -c256 | $put4_rps | $put4_p99 | $put4_bad | $put4_err |
| node GET while PUTs run (another wrk, -c16: $bg_put_rps PUT/s) | $mix_rps | $mix_p99 | $mix_bad | $mix_err |
| node PUT, --sync full | $putf_rps | $putf_p99 | $putf_bad | $putf_err |
| node PUT, --sync full, wrk -c256 | $putf4_rps | $putf4_p99 | $putf4_bad | $putf4_err |

| target | figure | |
|---|---:|---|
| node GET ≥ 0.7 × nginx | ${ratio} × | $(verdict "$get_rps >= 0.7 * $ngx_rps") |
| PUT ≥ 10,000/s (--sync normal, -c$WRK_C) | $put_rps/s | $(verdict "$put_rps >= 10000") |
| RSS < 64 MiB with $USERS statuses | $((rss_loaded / 1024)) MiB after loading, $((rss_after / 1024)) MiB after the runs (peak $((hwm_after / 1024)) MiB) | $(verdict "$rss_after < 65536") |
EOF
