#!/usr/bin/env bash
# Issue 5's benchmark: the same upstreams behind status-gateway and behind nginx (upstream
# keepalive 64, as many workers as our I/O threads, access log off), under the same wrk load,
# alternated; at 1 and 2 threads. Prints a markdown table: requests/s and p99 of each, the
# ratios, and the gateway's peak RSS under load. Everything on 127.0.0.1, bounded in time.
#
#   bench/gateway.sh                      # defaults below
#   DURATION=10 ROUNDS=3 CONNECTIONS=64 UPSTREAM=stub bench/gateway.sh
#
# UPSTREAM=node (default): two real status-nodes (--threads 1, no broker), GET of one status.
# UPSTREAM=stub: two tiny nginx servers answering a fixed JSON — isolates the proxies' own cost.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/bin
DURATION=${DURATION:-8}        # seconds per wrk run
ROUNDS=${ROUNDS:-2}            # alternations gateway/nginx per thread count
CONNECTIONS=${CONNECTIONS:-64}
THREAD_COUNTS=${THREAD_COUNTS:-"1 2"}
UPSTREAM=${UPSTREAM:-node}
PATH_UNDER_TEST=/api/statuses/bench

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "gateway.sh: $tool is not installed (scripts/install-deps --all)" >&2; exit 1; }
done
[[ -x $BIN/status-gateway && -x $BIN/status-node ]] || { echo "gateway.sh: build first ($BIN)" >&2; exit 1; }
NGINX=$(command -v nginx)

tmp=$(mktemp -d /tmp/bench-gateway.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # url, at most 15 s
  for _ in $(seq 150); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "gateway.sh: $1 did not come up" >&2; return 1
}
nginx_common() {  # the parts of an nginx config every instance here shares; $1 = its dir
  mkdir -p "$1"
  cat <<CONF
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
CONF
}
nginx_http_common() {
  cat <<CONF
  access_log off;
  client_body_temp_path $1/body; proxy_temp_path $1/proxy; fastcgi_temp_path $1/fcgi;
  uwsgi_temp_path $1/uwsgi; scgi_temp_path $1/scgi;
CONF
}

# ---- upstreams
up_ports=($(free_port) $(free_port))
if [[ $UPSTREAM == node ]]; then
  for i in 0 1; do
    "$BIN/status-node" --port "${up_ports[$i]}" --node-id "b$((i + 1))" --data-dir "$tmp/data$i" \
      --threads 1 --auth off --log-level warn 2>"$tmp/node$i.log" &
    pids+=($!)
  done
  for i in 0 1; do
    wait_http "http://127.0.0.1:${up_ports[$i]}/health"
    curl -fs -o /dev/null -X PUT -H 'Content-Type: application/json' \
      -d '{"statusText":"benchmarking","latitude":48.2,"longitude":16.37}' \
      "http://127.0.0.1:${up_ports[$i]}$PATH_UNDER_TEST"
  done
else
  d=$tmp/stub
  { nginx_common "$d"; echo "worker_processes 1; events { worker_connections 4096; }"
    echo "http {"; nginx_http_common "$d"
    for i in 0 1; do
      echo "  server { listen 127.0.0.1:${up_ports[$i]}; keepalive_requests 100000;"
      echo "    location / { add_header X-Served-By stub$((i + 1)); default_type application/json;"
      echo "      return 200 '{\"username\":\"bench\",\"statusText\":\"benchmarking\",\"time\":\"2026-11-25T10:15:00Z\",\"version\":\"1\"}'; } }"
    done
    echo "}"; } > "$d.conf"
  "$NGINX" -p "$d" -c "$d.conf" & pids+=($!)
  for i in 0 1; do wait_http "http://127.0.0.1:${up_ports[$i]}$PATH_UNDER_TEST"; done
fi

# ---- one wrk run: prints "<requests/s> <p99 ms>"
run_wrk() {
  local out
  out=$(timeout $((DURATION + 20)) wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1")
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' <<<"$out")
  local errors
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  [[ -z $errors ]] || echo "  wrk $1: $errors" >&2
  echo "$rps $p99"
}

echo "Upstreams: $UPSTREAM x2; wrk -t1 -c$CONNECTIONS -d${DURATION}s; $ROUNDS alternated rounds each; $(nproc) cores"
echo
echo "| threads | gateway req/s | nginx req/s | ratio | gateway p99 ms | nginx p99 ms | p99 ratio | gateway peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
for t in $THREAD_COUNTS; do
  gw_port=$(free_port); ng_port=$(free_port)
  # No rate limit (wrk is one client; nginx has none either); otherwise the defaults.
  "$BIN/status-gateway" --port "$gw_port" --threads "$t" --log-level warn --rate-limit 0 \
    --upstream "127.0.0.1:${up_ports[0]}" --upstream "127.0.0.1:${up_ports[1]}" 2>"$tmp/gw$t.log" &
  gw_pid=$!; pids+=($gw_pid)
  d=$tmp/nginx$t
  { nginx_common "$d"; echo "worker_processes $t; events { worker_connections 4096; }"
    echo "http {"; nginx_http_common "$d"
    echo "  upstream nodes { server 127.0.0.1:${up_ports[0]}; server 127.0.0.1:${up_ports[1]}; keepalive 64; }"
    echo "  server { listen 127.0.0.1:$ng_port; keepalive_requests 100000;"
    echo "    location /api/ { proxy_pass http://nodes; proxy_http_version 1.1;"
    echo "      proxy_set_header Connection \"\"; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
    echo "      proxy_set_header X-Request-Id \$request_id; } } }"; } > "$d.conf"
  "$NGINX" -p "$d" -c "$d.conf" & ng_pid=$!; pids+=($ng_pid)
  wait_http "http://127.0.0.1:$gw_port$PATH_UNDER_TEST"
  wait_http "http://127.0.0.1:$ng_port$PATH_UNDER_TEST"
  # Warm both (pools, caches) briefly, then alternate.
  DURATION=2 run_wrk "http://127.0.0.1:$gw_port$PATH_UNDER_TEST" >/dev/null
  DURATION=2 run_wrk "http://127.0.0.1:$ng_port$PATH_UNDER_TEST" >/dev/null
  gw_rps=(); gw_p99=(); ng_rps=(); ng_p99=()
  for r in $(seq "$ROUNDS"); do
    read -r a b < <(run_wrk "http://127.0.0.1:$gw_port$PATH_UNDER_TEST"); gw_rps+=("$a"); gw_p99+=("$b")
    read -r a b < <(run_wrk "http://127.0.0.1:$ng_port$PATH_UNDER_TEST"); ng_rps+=("$a"); ng_p99+=("$b")
  done
  rss_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$gw_pid/status")
  mean() { printf '%s\n' "$@" | awk '{s+=$1} END {printf "%.2f", s/NR}'; }
  g=$(mean "${gw_rps[@]}"); n=$(mean "${ng_rps[@]}")
  gp=$(mean "${gw_p99[@]}"); np=$(mean "${ng_p99[@]}")
  awk -v t="$t" -v g="$g" -v n="$n" -v gp="$gp" -v np="$np" -v rss="$rss_kib" 'BEGIN {
    printf "| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.1f |\n", t, g, n, g/n, gp, np, gp/np, rss/1024 }'
  kill "$gw_pid" "$ng_pid"; wait "$gw_pid" "$ng_pid" 2>/dev/null || true
done
echo
echo "Per-run figures are the mean of the rounds; ratio = gateway / nginx (throughput: higher is"
echo "better, p99: lower is better). Peak RSS is the gateway's VmHWM after all its runs."
