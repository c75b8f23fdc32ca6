#!/usr/bin/env bash
# The web client as a browser loads it (issue 17): bytes of a first load and of a reload, the
# time until the status list shows data (also under Chromium's "Fast 3G"), modulepreload on/off,
# and the requests of an idle open page. Debian's Chromium driven by playwright-core
# (tests/browser's node_modules) against a real cluster started by tests/browser/cluster.mjs
# (BENCH_NODES nodes, RabbitMQ when more than one, one gateway). Prints a Markdown section
# (bench/run collects it). 127.0.0.1 only; bounded by timeout.
#
# Knobs: STATUS_BUILD_DIR (build), BENCH_NODES (3), BENCH_STATUSES (40), BENCH_LOADS (10),
# IDLE_SECONDS (60), LIST_SELECTOR ('#feed-list li[data-username]'),
# CHROMIUM (/usr/bin/chromium), BENCH_TIMEOUT (900 s).
set -euo pipefail
cd "$(dirname "$0")/.."

export STATUS_BUILD_DIR=${STATUS_BUILD_DIR:-${BUILD:-build}}
chromium=${CHROMIUM:-/usr/bin/chromium}
[[ -x "$chromium" ]] || { echo "web.sh: $chromium is missing (WITH_BROWSER=1 scripts/install-deps)" >&2; exit 1; }
command -v node >/dev/null || { echo "web.sh: node is missing (scripts/install-deps)" >&2; exit 1; }
for b in status-node status-gateway; do
  [[ -x $STATUS_BUILD_DIR/bin/$b ]] || { echo "web.sh: $STATUS_BUILD_DIR/bin/$b not built (make build)" >&2; exit 1; }
done
if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  # Only the driver library: the browser is Debian's, never downloaded.
  (cd tests/browser && timeout 300 npm ci --no-audit --no-fund >/dev/null) || { echo "web.sh: npm ci failed" >&2; exit 1; }
fi
timeout -k 20 "${BENCH_TIMEOUT:-900}" node bench/web.mjs
