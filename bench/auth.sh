#!/usr/bin/env bash
# Cost of identity and access (issue 12): one status-node on one data dir with BENCH_USERS
# statuses, run alternately with --auth off and with --auth required --read-access authenticated
# (every GET and PUT then carries a session token that the node checks: a SHA-256 of the token
# and two lookups), the same wrk loads on both, BENCH_ROUNDS times each. Then the sign-in rate,
# which the Argon2id hash bounds on purpose. Prints a Markdown section (bench/run collects it).
# Everything binds to 127.0.0.1; every load is bounded in time.
#
# Knobs: STATUS_BUILD_DIR (build), BENCH_USERS (20000), BENCH_SECONDS (4), BENCH_ROUNDS (3),
# BENCH_CONNECTIONS (64), NODE_THREADS (1).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${STATUS_BUILD_DIR:-${BUILD:-build}}
NODE_BIN=$BUILD_DIR/bin/status-node
USERS=${BENCH_USERS:-20000}
SECS=${BENCH_SECONDS:-4}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
NODE_THREADS=${NODE_THREADS:-1}
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "auth.sh: $tool is missing" >&2; exit 1; }
done
[[ -x $NODE_BIN ]] || { echo "auth.sh: $NODE_BIN not built (make build)" >&2; exit 1; }

work=$(mktemp -d /tmp/status-bench-auth.XXXXXX)
node_pid=""
cleanup() {
  [[ -n $node_pid ]] && kill -KILL "$node_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
(umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$work/admin-password")

start_node() {  # flags...
  "$NODE_BIN" --port "$port" --node-id bench --data-dir "$work/data" --threads "$NODE_THREADS" \
    --log-level warn "$@" >>"$work/node.log" 2>&1 &
  node_pid=$!
  local deadline=$((SECONDS + 30))
  until curl -fs -o /dev/null "$url/health"; do
    (( SECONDS < deadline )) || { echo "auth.sh: node did not start" >&2; exit 1; }
    sleep 0.05
  done
}
stop_node() { kill -TERM "$node_pid"; wait "$node_pid" || true; node_pid=""; }

# wrk scripts: GET and PUT of random users, with an Authorization header when TOKEN is set.
cat >"$work/get.lua" <<EOF
local users, token = $USERS, os.getenv("TOKEN")
init = function() math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end
request = function()
  local h = {}
  if token and token ~= "" then h["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", string.format("/api/statuses/user%06d", math.random(0, users - 1)), h)
end
EOF
cat >"$work/put.lua" <<EOF
local users, token, count = $USERS, os.getenv("TOKEN"), 0
init = function() math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end
request = function()
  count = count + 1
  local h = {["Content-Type"] = "application/json"}
  if token and token ~= "" then h["Authorization"] = "Bearer " .. token end
  return wrk.format("PUT", string.format("/api/statuses/user%06d", math.random(0, users - 1)), h,
                    '{"statusText":"bench update ' .. count .. '"}')
end
EOF
pw=$(cat "$work/admin-password")
cat >"$work/login.lua" <<EOF
request = function()
  return wrk.format("POST", "/api/sessions", {["Content-Type"] = "application/json"},
                    '{"username":"admin","password":"$pw"}')
end
EOF

run() {  # script connections -> "rps p99 non2xx"
  wrk -t2 -c"$2" -d"${SECS}s" --timeout 5s --latency -s "$1" "$url" >"$work/wrk.txt" 2>&1
  python3 - "$work/wrk.txt" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {p99:.2f} {bad.group(1) if bad else 0}")
EOF
}

# Load the users once (open mode), through /internal/apply in pages within the 64 KiB body limit.
start_node --auth off
python3 - "$url" "$USERS" <<'EOF'
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); n = int(sys.argv[2])
stamp = (int(time.time() * 1000) - 60000) << 16
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
for start in range(0, n, 400):
    body = json.dumps([{"u": f"user{i:06d}", "h": stamp + i, "n": "bench", "x": f"status {i}",
                        "t": 1764065700000} for i in range(start, min(n, start + 400))])
    c.request("POST", "/internal/apply", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
EOF
stop_node

load_before=$(cut -d" " -f1-3 /proc/loadavg)
declare -A rps p99 bad
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in off on; do
    if [[ $mode == off ]]; then
      start_node --auth off
      token=""
    else
      start_node --auth required --read-access authenticated --admin-password-file "$work/admin-password"
      token=$(curl -fs -X POST "$url/api/sessions" -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$pw\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    fi
    for kind in get put; do
      read -r a b c < <(TOKEN=$token run "$work/$kind.lua" "$CONNS")
      rps[$mode-$kind]+="$a " p99[$mode-$kind]+="$b " bad[$mode-$kind]=$(( ${bad[$mode-$kind]:-0} + c ))
    done
    if [[ $mode == on && $r == 1 ]]; then
      read -r login_rps login_p99 login_bad < <(run "$work/login.lua" 4)
    fi
    stop_node
  done
done
# The best run of each mode: on a shared machine the others lose to whatever else runs, and the
# modes alternate, so both get the same chances.
med() { printf '%s\n' $1 | sort -g | tail -n 1; }
low() { printf '%s\n' $1 | sort -g | head -n 1; }
row() {  # mode kind label
  echo "| $3 | $(med "${rps[$1-$2]}") (${rps[$1-$2]% }) | $(low "${p99[$1-$2]}") | ${bad[$1-$2]} |"
}
ratio() { python3 -c "print(f'{$(med "${rps[on-$1]}") / $(med "${rps[off-$1]}"):.3f}')"; }
cat <<EOF
Identity and access cost: $(nproc) cores, $USERS statuses, wrk -t2 -c$CONNS, ${SECS} s per run,
status-node --threads $NODE_THREADS, $ROUNDS alternating rounds per mode (the best of each; every
run in brackets), load average before: ${load_before}.

| run | req/s | p99 (ms) | non-2xx |
|---|---:|---:|---:|
$(row off get "GET, --auth off")
$(row on get "GET, --auth required --read-access authenticated, bearer token")
$(row off put "PUT, --auth off")
$(row on put "PUT, --auth required, bearer token (admin)")
| sign-in (POST /api/sessions, wrk -c4; Argon2id, 2 hash threads) | $login_rps | $login_p99 | $login_bad |

| target | figure | |
|---|---:|---|
| GET with auth ≥ 0.9 × without | $(ratio get) × | $(python3 -c "print('met' if $(ratio get) >= 0.9 else 'MISSED')") |
| PUT with auth ≥ 0.9 × without | $(ratio put) × | $(python3 -c "print('met' if $(ratio put) >= 0.9 else 'MISSED')") |
| sign-ins bounded by the hash | $login_rps/s | (by design) |
EOF
