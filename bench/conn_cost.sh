#!/usr/bin/env bash
# What one new connection costs the gateway and nginx, counted in CPU instructions (valgrind's
# callgrind, user space), side by side: a count does not move with the load of a shared machine
# the way wrk's throughput and CPU seconds do (bench/gateway.sh's `newconn` ratio swung 0.52-1.85
# between runs). Both proxies serve the same upstream (an nginx stub answering a fixed JSON),
# with one thread (the gateway) and one process (nginx, master_process off); the client
# (bench/lib/conn_client.py) makes N connections one after another, one GET each with
# `Connection: close`, over TLS resuming its previous session (as browsers and wrk do), and also
# in plain HTTP. Counters are zeroed after a warm-up of 20 connections and dumped after the N.
#
#   bench/conn_cost.sh            # N=200 (about 30 s)
#   N=500 bench/conn_cost.sh
#
# Prints per mode: instructions per connection of each proxy and the ratio gateway / nginx.
# Kernel work (syscalls, TCP) is not in the count: `strace -c` shows both making the same
# syscalls per connection (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
BIN=${BUILD:-build}/bin
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
for t in valgrind callgrind_control python3 openssl; do
  command -v "$t" >/dev/null || { echo "conn_cost.sh: $t is missing (valgrind, python3, openssl)" >&2; exit 1; }
done
[[ -x $NGINX ]] || { echo "conn_cost.sh: nginx is missing (scripts/install-deps --all)" >&2; exit 1; }
[[ -x $BIN/status-gateway ]] || { echo "conn_cost.sh: $BIN/status-gateway is missing (make build)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/bench-conn-cost.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "${KEEP:-}" ]] || rm -rf "$tmp"
}
trap cleanup EXIT
scripts/tls-pki "$tmp/pki" gateway >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
temp_paths() {  # nginx's temp directories under $1
  echo "client_body_temp_path $1/b; proxy_temp_path $1/p; fastcgi_temp_path $1/f; uwsgi_temp_path $1/u; scgi_temp_path $1/s;"
}
up=$(free_port)
mkdir -p "$tmp/stub"
cat > "$tmp/stub.conf" <<CONF
daemon off; pid $tmp/stub/pid; error_log $tmp/stub/err warn; worker_processes 1;
events { worker_connections 1024; }
http { access_log off; $(temp_paths "$tmp/stub")
  server { listen 127.0.0.1:$up; keepalive_requests 100000;
    location / { default_type application/json; return 200 '{"username":"bench","statusText":"benchmarking"}'; } } }
CONF
"$NGINX" -p "$tmp/stub" -c "$tmp/stub.conf" & pids+=($!)

# count MODE: prints "<gateway instructions/conn> <nginx instructions/conn>"
count() {
  local mode=$1 gw_port ng_port tls_args=() ssl="" scheme=http
  gw_port=$(free_port); ng_port=$(free_port)
  if [[ $mode == tls ]]; then
    tls_args=(--tls-cert "$tmp/pki/gateway.crt" --tls-key "$tmp/pki/gateway.key")
    ssl=" ssl; ssl_certificate $tmp/pki/gateway.crt; ssl_certificate_key $tmp/pki/gateway.key; ssl_session_cache shared:SSL:10m; ssl_protocols TLSv1.2 TLSv1.3"
    scheme=https
  fi
  mkdir -p "$tmp/ng-$mode"
  cat > "$tmp/ng-$mode.conf" <<CONF
daemon off; master_process off; pid $tmp/ng-$mode/pid; error_log $tmp/ng-$mode/err warn; worker_processes 1;
events { worker_connections 1024; }
http { access_log off; $(temp_paths "$tmp/ng-$mode")
  upstream nodes { server 127.0.0.1:$up; keepalive 64; }
  server { listen 127.0.0.1:$ng_port$ssl; keepalive_requests 100000;
    location /api/ { proxy_pass http://nodes; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Request-Id \$request_id; } } }
CONF
  # An empty web root: nginx serves no files either, and the gateway's compression of the web
  # client at start (brotli -q 11, minutes under valgrind) would be counted into the connections.
  mkdir -p "$tmp/no-web"
  valgrind --tool=callgrind --callgrind-out-file="$tmp/gw-$mode.out" "$BIN/status-gateway" \
    --port "$gw_port" --threads 1 --log-level warn --rate-limit 0 --upstream "127.0.0.1:$up" \
    --web-root "$tmp/no-web" \
    "${tls_args[@]}" 2>"$tmp/gw-$mode.log" &
  local gw=$!; pids+=($gw)
  valgrind --tool=callgrind --callgrind-out-file="$tmp/ng-$mode.out" "$NGINX" -p "$tmp/ng-$mode" \
    -c "$tmp/ng-$mode.conf" 2>"$tmp/ng-$mode.log" &
  local ng=$!; pids+=($ng)
  local client=(python3 bench/lib/conn_client.py --ca "$tmp/pki/ca.crt")
  for port in "$gw_port" "$ng_port"; do  # up (under valgrind: slow to start) and warm
    for _ in $(seq 300); do "${client[@]}" "$scheme://127.0.0.1:$port/api/x" 1 >/dev/null 2>&1 && break; sleep 0.2; done
    "${client[@]}" "$scheme://127.0.0.1:$port/api/x" 20 >/dev/null
  done
  callgrind_control -z "$gw" >/dev/null 2>&1; callgrind_control -z "$ng" >/dev/null 2>&1
  "${client[@]}" "$scheme://127.0.0.1:$gw_port/api/x" "$N" > "$tmp/client-gw-$mode.txt"
  "${client[@]}" "$scheme://127.0.0.1:$ng_port/api/x" "$N" > "$tmp/client-ng-$mode.txt"
  callgrind_control -d "$gw" >/dev/null 2>&1; callgrind_control -d "$ng" >/dev/null 2>&1
  local out=()
  for w in gw ng; do
    # The dump is the numbered file (the unnumbered one comes at exit).
    local f
    f=$(ls "$tmp/$w-$mode.out".* | sort -V | tail -1)
    out+=($(( $(awk '/^(summary|totals):/ {print $2; exit}' "$f") / N )))
  done
  kill "$gw" "$ng"; wait "$gw" "$ng" 2>/dev/null || true
  echo "${out[0]} ${out[1]} $(cat "$tmp/client-gw-$mode.txt") / $(cat "$tmp/client-ng-$mode.txt")"
}

echo "## Instructions per new connection (callgrind, user space; $N connections, one GET each)"
echo
echo "| mode | gateway | nginx | ratio | client (gateway / nginx) |"
echo "|---|---|---|---|---|"
for mode in plain tls; do
  read -r g n rest <<<"$(count "$mode")"
  ratio=$(awk -v g="$g" -v n="$n" 'BEGIN {printf "%.3f", g / n}')
  what=$([[ $mode == tls ]] && echo "TLS, resumed" || echo "plain")
  echo "| $what | $g | $n | $ratio | $rest |"
done
