#!/usr/bin/env bash
# Issues 5 and 14's benchmark: the same upstreams (three status-nodes) behind status-gateway and
# behind nginx (upstream keepalive 64, as many workers as our I/O threads, access log off), under
# the same wrk load, alternated in one run; at 1 and 2 proxy threads and 32 and 64 connections,
# in each of these modes:
#   plain      HTTP, keep-alive (client -> proxy -> nodes, all plain)
#   https      HTTPS with keep-alive: client -> proxy over TLS (the same certificate and key for
#              both; nginx: ssl_session_cache shared:SSL:10m, TLSv1.2 TLSv1.3), proxy -> nodes plain
#   newconn    HTTPS, one request per connection (wrk -H 'Connection: close'): new TLS connections
#              per second. wrk resumes sessions (it reuses its SSL object after SSL_shutdown +
#              SSL_clear), so all but each connection slot's first handshake are resumptions;
#              the resumed column counts them (bench/lib/tls_resumed.c, preloaded into wrk).
# and, on request (not in the default MODES):
#   fullhs     as newconn, but every handshake a full one (the shim drops wrk's session)
#   plainclose plain HTTP, one request per connection: the TCP share of newconn's cost
# Prints a markdown table per mode — requests/s and p99 of each proxy, the ratios, and the CPU
# time (user + system, from /proc/PID/stat, nginx's master and workers together) each proxy
# spent per request — then the CPU per request of every mode side by side (the TLS cost) and
# the gateways' peak RSS. Everything on 127.0.0.1, bounded in count and time, cleaned up on exit.
#
#   bench/gateway.sh                                    # defaults below (~5.5 min)
#   MODES=plain,https DURATION=10 ROUNDS=3 CONNECTIONS=64 bench/gateway.sh
#   MODES=newconn,fullhs,plainclose THREAD_COUNTS=1 bench/gateway.sh
#
# UPSTREAM=node (default): NODES real status-nodes (--threads 1, --auth off, no broker), GET of
# one status. UPSTREAM=stub: NODES tiny nginx servers answering a fixed JSON — the proxies' own
# cost. Rounds alternate the order (gateway first, then nginx first, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/bin
DURATION=${DURATION:-6}              # seconds per wrk run
ROUNDS=${ROUNDS:-2}                  # alternated runs of each proxy per mode, thread count, connections
CONNECTIONS=${CONNECTIONS:-"32 64"}  # wrk connection counts (spaces or commas)
THREAD_COUNTS=${THREAD_COUNTS:-"1 2"} # the proxies' I/O threads / worker processes
MODES=${MODES:-plain,https,newconn}  # also: fullhs, plainclose
NODES=${NODES:-3}
UPSTREAM=${UPSTREAM:-node}
WRK_THREADS=${WRK_THREADS:-1}
WARMUP=${WARMUP:-2}                  # seconds of warm-up per proxy, mode and thread count
PATH_UNDER_TEST=/api/statuses/bench
CONNECTIONS=${CONNECTIONS//,/ }
THREAD_COUNTS=${THREAD_COUNTS//,/ }
read -r -a modes <<<"${MODES//,/ }"

for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "gateway.sh: $tool is not installed (scripts/install-deps --all)" >&2; exit 1; }
done
[[ -x $BIN/status-gateway && -x $BIN/status-node ]] || { echo "gateway.sh: build first ($BIN)" >&2; exit 1; }
((NODES >= 1 && NODES <= 8)) || { echo "gateway.sh: NODES must be 1..8" >&2; exit 2; }
want_plain=0 want_tls=0
for m in "${modes[@]}"; do
  case $m in
    plain | plainclose) want_plain=1 ;;
    https | newconn | fullhs) want_tls=1 ;;
    *) echo "gateway.sh: unknown mode '$m' (plain, https, newconn, fullhs, plainclose)" >&2; exit 2 ;;
  esac
done
NGINX=$(command -v nginx)
TICK=$(getconf CLK_TCK)

tmp=$(mktemp -d /tmp/bench-gateway.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# The handshake counter preloaded into wrk (needs a C compiler and OpenSSL's headers).
shim=$tmp/tls_resumed.so
if ((want_tls)) && ! cc -shared -fPIC -O2 -o "$shim" bench/lib/tls_resumed.c -ldl -lssl 2>"$tmp/cc.log"; then
  shim=""
  echo "gateway.sh: bench/lib/tls_resumed.c did not build (no resumption counts): $(head -1 "$tmp/cc.log")" >&2
  [[ " ${modes[*]} " != *" fullhs "* ]] || { echo "gateway.sh: MODES=fullhs needs it" >&2; exit 1; }
fi
if ((want_tls)); then
  scripts/tls-pki "$tmp/pki" gateway
  CERT=$tmp/pki/gateway.crt KEY=$tmp/pki/gateway.key
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # url, at most 15 s
  for _ in $(seq 150); do
    curl -fs --max-time 2 ${CERT:+--cacert "$tmp/pki/ca.crt"} -o /dev/null "$1" && return 0
    sleep 0.1
  done
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
load() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- upstreams
up_ports=()
for ((i = 0; i < NODES; i++)); do up_ports+=("$(free_port)"); done
if [[ $UPSTREAM == node ]]; then
  for ((i = 0; i < NODES; i++)); do
    "$BIN/status-node" --port "${up_ports[$i]}" --node-id "b$((i + 1))" --data-dir "$tmp/data$i" \
      --threads 1 --auth off --log-level warn 2>"$tmp/node$i.log" &
    pids+=($!)
  done
  for ((i = 0; i < NODES; i++)); do
    wait_http "http://127.0.0.1:${up_ports[$i]}/health"
    curl -fs -o /dev/null -X PUT -H 'Content-Type: application/json' \
      -d '{"statusText":"benchmarking","latitude":48.2,"longitude":16.37}' \
      "http://127.0.0.1:${up_ports[$i]}$PATH_UNDER_TEST"
  done
else
  d=$tmp/stub
  { nginx_common "$d"; echo "worker_processes 1; events { worker_connections 4096; }"
    echo "http {"; nginx_http_common "$d"
    for ((i = 0; i < NODES; i++)); do
      echo "  server { listen 127.0.0.1:${up_ports[$i]}; keepalive_requests 100000;"
      echo "    location / { add_header X-Served-By stub$((i + 1)); default_type application/json;"
      echo "      return 200 '{\"username\":\"bench\",\"statusText\":\"benchmarking\",\"time\":\"2026-11-25T10:15:00Z\",\"version\":\"1\"}'; } }"
    done
    echo "}"; } > "$d.conf"
  "$NGINX" -p "$d" -c "$d.conf" & pids+=($!)
  for ((i = 0; i < NODES; i++)); do wait_http "http://127.0.0.1:${up_ports[$i]}$PATH_UNDER_TEST"; done
fi
gw_upstreams=() ng_upstreams=""
for p in "${up_ports[@]}"; do gw_upstreams+=(--upstream "127.0.0.1:$p"); ng_upstreams+="server 127.0.0.1:$p; "; done

# ---- the proxies of one thread count: start_pair KIND(plain|tls) THREADS; sets gw_pid, ng_pids, ports
start_pair() {
  local kind=$1 t=$2 gw_port ng_port d tls_args=() listen_ssl="" ssl_conf=""
  gw_port=$(free_port); ng_port=$(free_port)
  if [[ $kind == tls ]]; then
    tls_args=(--tls-cert "$CERT" --tls-key "$KEY")
    listen_ssl=" ssl"
    ssl_conf="ssl_certificate $CERT; ssl_certificate_key $KEY; ssl_session_cache shared:SSL:10m; ssl_protocols TLSv1.2 TLSv1.3;"
  fi
  # No rate limit (wrk is one client; nginx has none either); otherwise the defaults.
  "$BIN/status-gateway" --port "$gw_port" --threads "$t" --log-level warn --rate-limit 0 \
    "${tls_args[@]}" "${gw_upstreams[@]}" 2>"$tmp/gw-$kind$t.log" &
  gw_pid=$!; pids+=($gw_pid)
  d=$tmp/nginx-$kind$t
  { nginx_common "$d"; echo "worker_processes $t; events { worker_connections 4096; }"
    echo "http {"; nginx_http_common "$d"
    echo "  upstream nodes { $ng_upstreams keepalive 64; }"
    echo "  server { listen 127.0.0.1:$ng_port$listen_ssl; keepalive_requests 100000; $ssl_conf"
    echo "    location /api/ { proxy_pass http://nodes; proxy_http_version 1.1;"
    echo "      proxy_set_header Connection \"\"; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;"
    echo "      proxy_set_header X-Request-Id \$request_id; } } }"; } > "$d.conf"
  "$NGINX" -p "$d" -c "$d.conf" & ng_master=$!; pids+=($ng_master)
  local scheme=http; [[ $kind == tls ]] && scheme=https
  gw_url="$scheme://127.0.0.1:$gw_port$PATH_UNDER_TEST"
  ng_url="$scheme://127.0.0.1:$ng_port$PATH_UNDER_TEST"
  wait_http "$gw_url"
  wait_http "$ng_url"
  ng_pids="$ng_master $(ps -o pid= --ppid "$ng_master" | tr '\n' ' ')"
}

# CPU ticks (user system) of processes, summed: /proc/PID/stat fields 14 and 15.
cpu_ticks() {
  local p u=0 s=0 a b
  for p in "$@"; do
    read -r a b < <(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12, $13}')
    u=$((u + a)); s=$((s + b))
  done
  echo "$u $s"
}

# One wrk run against URL with the mode's options, the CPU of PIDS measured around it.
# Prints "<requests/s> <p99 ms> <requests> <user ticks> <system ticks> <handshakes> <resumed> <errors>
# <wrk CPU % of one core>".
run_wrk() {  # mode url seconds pids...
  local mode=$1 url=$2 secs=$3; shift 3
  local args=(-t"$WRK_THREADS" -c"$c" -d"${secs}s" --latency) env_args=()
  [[ $mode == newconn || $mode == fullhs || $mode == plainclose ]] && args+=(-H 'Connection: close')
  if [[ -n ${shim:-} && $url == https:* ]]; then
    rm -f "$tmp/hs.txt"
    env_args=(LD_PRELOAD="$shim" TLS_RESUMED_OUT="$tmp/hs.txt")
    [[ $mode == fullhs ]] && env_args+=(TLS_NO_RESUME=1)
  fi
  local before after out wrk_cpu
  before=$(cpu_ticks "$@")
  # wrk's own CPU (user + system s) from bash's time: on 2 cores the client's share matters.
  out=$(TIMEFORMAT='%U %S'; { time timeout $((secs + 20)) env "${env_args[@]}" wrk "${args[@]}" "$url" 2>&1; } 2>"$tmp/wrk-time")
  after=$(cpu_ticks "$@")
  wrk_cpu=$(awk -v d="$secs" '{printf "%.0f", 100 * ($1 + $2) / d}' "$tmp/wrk-time")
  local rps p99 reqs errors hs="- -"
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' <<<"$out")
  errors=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(/,/,""); n+=$4+$6+$8+$10} END {print n+0}' <<<"$out")
  ((errors == 0)) || echo "  wrk $mode -c$c $url: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')" >&2
  [[ -s $tmp/hs.txt && ${#env_args[@]} -gt 0 ]] && hs=$(sed -E 's/handshakes=([0-9]+) resumed=([0-9]+).*/\1 \2/' "$tmp/hs.txt" | tail -1)
  read -r bu bs <<<"$before"; read -r au as <<<"$after"
  echo "$rps $p99 $reqs $((au - bu)) $((as - bs)) $hs $errors $wrk_cpu"
}

declare -A R  # results: R[mode/t/c/proxy/field]
add() { R[$1]=$(awk -v a="${R[$1]:-0}" -v b="$2" 'BEGIN {print a + b}'); }
measure() {  # proxy mode url pids...: one run, added to the cell of mode/t/c/proxy
  local proxy=$1 mode=$2 url=$3; shift 3
  local rps p99 reqs u s hs rs err wc k="$mode/$t/$c/$proxy"
  read -r rps p99 reqs u s hs rs err wc < <(run_wrk "$mode" "$url" "$DURATION" "$@")
  add "$k/rps" "$rps"; add "$k/p99" "$p99"; add "$k/reqs" "$reqs"; add "$k/u" "$u"; add "$k/s" "$s"
  add "$k/err" "$err"; add "$k/wrk" "$wc"; add "$k/n" 1
  if [[ $hs != - ]]; then add "$k/hs" "$hs"; add "$k/rs" "$rs"; fi
  echo "  $mode t=$t c=$c $proxy: $rps req/s, p99 $p99 ms, proxy cpu ${u}+${s} ticks," \
    "wrk cpu $wc %, handshakes $hs resumed $rs" >&2
}

start_load=$(load); start_time=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "gateway.sh: modes ${modes[*]}; threads $THREAD_COUNTS; connections $CONNECTIONS; ${DURATION}s x $ROUNDS rounds" >&2
declare -A RSS
for t in $THREAD_COUNTS; do
  for kind in plain tls; do
    [[ $kind == plain ]] && ((want_plain == 0)) && continue
    [[ $kind == tls ]] && ((want_tls == 0)) && continue
    start_pair "$kind" "$t"
    for mode in "${modes[@]}"; do
      case $mode in plain | plainclose) [[ $kind == plain ]] || continue ;; *) [[ $kind == tls ]] || continue ;; esac
      first=1
      for c in $CONNECTIONS; do
        if ((first)); then  # warm both (pools, caches, session caches) briefly
          run_wrk "$mode" "$gw_url" "$WARMUP" "$gw_pid" >/dev/null
          run_wrk "$mode" "$ng_url" "$WARMUP" $ng_pids >/dev/null
          first=0
        fi
        for ((r = 1; r <= ROUNDS; r++)); do
          if ((r % 2)); then
            measure gateway "$mode" "$gw_url" "$gw_pid"; measure nginx "$mode" "$ng_url" $ng_pids
          else
            measure nginx "$mode" "$ng_url" $ng_pids; measure gateway "$mode" "$gw_url" "$gw_pid"
          fi
        done
      done
    done
    RSS[$kind/$t]=$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$gw_pid/status")
    kill "$gw_pid" "$ng_master"; wait "$gw_pid" "$ng_master" 2>/dev/null || true
    live=(); for p in "${pids[@]}"; do [[ $p == "$gw_pid" || $p == "$ng_master" ]] || live+=("$p"); done
    pids=("${live[@]}")
  done
done
end_load=$(load)

# ---- tables
cell() { echo "${R[$1/$2]:-0}"; }  # key field
mean() { awk -v s="$(cell "$1" "$2")" -v n="$(cell "$1" n)" 'BEGIN {printf "%.2f", n ? s / n : 0}'; }
cpu_us() {  # key: "user+system=total" µs per request over all its rounds
  awk -v u="$(cell "$1" u)" -v s="$(cell "$1" s)" -v q="$(cell "$1" reqs)" -v tk="$TICK" 'BEGIN {
    if (q == 0) { print "-"; exit }
    printf "%.1f+%.1f=%.1f", u / tk * 1e6 / q, s / tk * 1e6 / q, (u + s) / tk * 1e6 / q }'
}
cpu_total() { awk -v u="$(cell "$1" u)" -v s="$(cell "$1" s)" -v q="$(cell "$1" reqs)" -v tk="$TICK" \
  'BEGIN {if (q == 0) print ""; else printf "%.1f", (u + s) / tk * 1e6 / q}'; }
resumed() { local h; h=$(cell "$1" hs); [[ $h == 0 ]] && { echo "n/a"; return; }
  awk -v h="$h" -v r="$(cell "$1" rs)" 'BEGIN {printf "%.1f %% of %d", 100 * r / h, h}'; }
declare -A title=(
  [plain]="plain HTTP, keep-alive"
  [https]="HTTPS (client -> proxy), keep-alive; proxy -> nodes plain"
  [newconn]="HTTPS, one request per connection (Connection: close; wrk resumes sessions)"
  [fullhs]="HTTPS, one request per connection, every handshake full (no resumption)"
  [plainclose]="plain HTTP, one request per connection (Connection: close)")

echo "Upstreams: $UPSTREAM x$NODES; wrk -t$WRK_THREADS -d${DURATION}s, $ROUNDS alternated rounds per cell;" \
  "$(nproc) cores; $start_time; load average before $start_load, after $end_load"
for mode in "${modes[@]}"; do
  tls_cols=0; [[ $mode == https || $mode == newconn || $mode == fullhs ]] && tls_cols=1
  echo
  echo "### $mode: ${title[$mode]}"
  echo
  h="| threads | conns | gateway req/s | nginx req/s | ratio | gateway p99 ms | nginx p99 ms | p99 ratio | gateway CPU µs/req user+sys | nginx CPU µs/req user+sys |"
  s="|---|---|---|---|---|---|---|---|---|---|"
  ((tls_cols)) && { h+=" resumed, gateway | resumed, nginx |"; s+="---|---|"; }
  h+=" wrk CPU % gw / ng | wrk errors gw / ng |"; s+="---|---|"
  echo "$h"; echo "$s"
  for t in $THREAD_COUNTS; do
    for c in $CONNECTIONS; do
      g="$mode/$t/$c/gateway" n="$mode/$t/$c/nginx"
      line=$(awk -v t="$t" -v c="$c" -v g="$(mean "$g" rps)" -v n="$(mean "$n" rps)" \
        -v gp="$(mean "$g" p99)" -v np="$(mean "$n" p99)" 'BEGIN {
          printf "| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f |", t, c, g, n, n ? g / n : 0, gp, np, np ? gp / np : 0 }')
      line+=" $(cpu_us "$g") | $(cpu_us "$n") |"
      ((tls_cols)) && line+=" $(resumed "$g") | $(resumed "$n") |"
      line+=" $(mean "$g" wrk | cut -d. -f1) / $(mean "$n" wrk | cut -d. -f1) | $(cell "$g" err) / $(cell "$n" err) |"
      echo "$line"
    done
  done
done

# ---- the CPU per request of each mode side by side, and the differences (the TLS cost)
echo
echo "### CPU per request (µs, user + system, all rounds), and what TLS adds"
echo
h="| threads | conns | proxy |"; s="|---|---|---|"
for mode in "${modes[@]}"; do h+=" $mode |"; s+="---|"; done
diffs=()
has() { [[ " ${modes[*]} " == *" $1 "* ]]; }
has https && has plain && diffs+=("https-plain")
if has plainclose; then
  has newconn && diffs+=("newconn-plainclose"); has fullhs && diffs+=("fullhs-plainclose")
elif has plain; then
  has newconn && diffs+=("newconn-plain"); has fullhs && diffs+=("fullhs-plain")
fi
for d in "${diffs[@]}"; do h+=" ${d/-/ − } |"; s+="---|"; done
echo "$h"; echo "$s"
for t in $THREAD_COUNTS; do
  for c in $CONNECTIONS; do
    for proxy in gateway nginx; do
      line="| $t | $c | $proxy |"
      for mode in "${modes[@]}"; do line+=" $(cpu_total "$mode/$t/$c/$proxy") |"; done
      for d in "${diffs[@]}"; do
        a=$(cpu_total "${d%-*}/$t/$c/$proxy"); b=$(cpu_total "${d#*-}/$t/$c/$proxy")
        line+=" $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%+.1f", a - b}') |"
      done
      echo "$line"
    done
  done
done
echo
rss="Gateway peak RSS (VmHWM after all its runs):"
for t in $THREAD_COUNTS; do
  for kind in plain tls; do [[ -n ${RSS[$kind/$t]:-} ]] && rss+=" $kind, $t threads: ${RSS[$kind/$t]} MiB;"; done
done
echo "$rss"
echo
echo "Figures are the mean of the rounds; ratio = gateway / nginx (throughput: higher is better, p99:"
echo "lower is better). CPU: utime + stime of the proxy (nginx: master and workers) over each wrk run,"
echo "summed over the rounds, divided by the requests wrk counted. 'resumed': handshakes wrk completed"
echo "with a resumed session (counted inside wrk). In the newconn rows a request is a connection."
echo "wrk CPU: the client's user + system time as % of one core (it shares the machine's cores)."
for f in "$tmp"/gw-*.log; do
  [[ -s $f ]] && echo "gateway.sh: $(basename "$f"): $(wc -l <"$f") lines, first: $(head -1 "$f")" >&2
done
true
