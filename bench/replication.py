#!/usr/bin/env python3
"""Replication benchmark (issue 3): three nodes on one private RabbitMQ.

1. Replicated write throughput: wrk PUTs distinct users to all three nodes at once for a
   bounded time; the figure is acknowledged writes / time until every node holds all of them.
2. Replication lag at a paced 1,000 writes/s: write acknowledged on A → change event seen on B
   (its /api/events stream fires after B's commit); p50 / p99.
Prints a small Markdown report.
"""
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import harness  # noqa: E402

DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
# Each write is answered after the broker confirmed it, so throughput needs writes in flight.
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "128"))
LUA = r"""
local counter = 0
local tid = 0
local threads = {}
setup = function(thread) thread:set("tid", #threads + 1); table.insert(threads, thread) end
request = function()
  counter = counter + 1
  local body = '{"statusText":"bench write ' .. counter .. '"}'
  return wrk.format("PUT", "/api/statuses/" .. prefix .. tid .. "-" .. counter,
                    {["Content-Type"] = "application/json"}, body)
end
"""


def total(node):
    r = harness.request("GET", node.url + "/api/statuses?limit=1")
    return int(r.header("X-Total-Count"))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    # Nine client threads share the GIL: switch often, so timestamps are taken when things happen.
    sys.setswitchinterval(0.0002)
    work = tempfile.mkdtemp(prefix="status-bench-repl-")
    broker = harness.Broker()
    nodes = []
    try:
        broker.start()
        ports = [harness.free_port() for _ in range(3)]
        for i in range(3):
            peers = [f"http://127.0.0.1:{p}" for j, p in enumerate(ports) if j != i]
            n = harness.node(work, f"bench{i + 1}", amqp=broker.url, peers=peers, port=ports[i],
                             extra=["--threads", "1"])
            n.start(wait=False)
            nodes.append(n)
        for n in nodes:
            n.wait_ready()

        # 1. throughput
        procs = []
        for i, n in enumerate(nodes):
            script = os.path.join(work, f"put{i}.lua")
            with open(script, "w") as f:
                f.write(f'prefix = "w{i}-"\n' + LUA)
            procs.append(subprocess.Popen(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}s", "-s", script, n.url],
                                          stdout=subprocess.PIPE, text=True))
        t0 = time.monotonic()
        acked = 0
        for p in procs:
            out = p.communicate(timeout=DURATION + 60)[0]
            reqs = int(re.search(r"(\d+) requests in", out).group(1))
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            acked += reqs - (int(non2xx.group(1)) if non2xx else 0)
        t_load = time.monotonic() - t0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(total(n) >= acked for n in nodes):
            time.sleep(0.05)
        t_conv = time.monotonic() - t0
        counts = [total(n) for n in nodes]
        print("| measure | value |\n|---|---|")
        print(f"| writes acknowledged (3 nodes, wrk -t1 -c{CONNECTIONS} each, {DURATION}s) | {acked} |")
        print(f"| write rate while loading | {acked / t_load:.0f}/s |")
        print(f"| replicated writes/s (all on every node) | {acked / t_conv:.0f}/s |")
        print(f"| time until converged after load end | {t_conv - t_load:.2f}s |")
        print(f"| per-node totals | {counts} |")

        # 2. lag at 1,000 writes/s: A = node 1, B = node 2
        seen = {}
        ready = threading.Event()

        def listen():
            c = http.client.HTTPConnection("127.0.0.1", nodes[1].port, timeout=30)
            c.request("GET", "/api/events")
            r = c.getresponse()
            ready.set()
            buf = b""
            end = time.monotonic() + 30
            while time.monotonic() < end:
                chunk = r.fp.read1(65536)
                if not chunk:
                    break
                now = time.monotonic()
                buf += chunk
                for m in re.finditer(rb'"username":"(lag-\d+)"', buf):
                    seen.setdefault(m.group(1).decode(), now)
                buf = buf[-200:]
                if len(seen) >= 5000:
                    break

        t = threading.Thread(target=listen, daemon=True)
        t.start()
        ready.wait(10)
        # 1,000 writes/s from 8 writers of 125/s each (one writer alone is bounded by the
        # confirm round trip, ~3 ms).
        acks = {}
        start = time.monotonic() + 0.1

        def writer(w):
            conn = http.client.HTTPConnection("127.0.0.1", nodes[0].port, timeout=10)
            for i in range(w, 5000, 8):
                delay = start + i / 1000.0 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                conn.request("PUT", f"/api/statuses/lag-{i}", body=b'{"statusText":"lag probe"}',
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                acks[f"lag-{i}"] = time.monotonic()

        writers = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
        for wt in writers:
            wt.start()
        for wt in writers:
            wt.join(60)
        rate = 5000 / (time.monotonic() - start)
        t.join(15)
        lags = [(seen[u] - acks[u]) * 1000 for u in acks if u in seen]
        lags = [max(0.0, x) for x in lags]
        print(f"| paced write rate on A | {rate:.0f}/s |")
        print(f"| events seen on B | {len(lags)} of {len(acks)} |")
        if lags:
            print(f"| lag A ack → B applied p50 | {pct(lags, 50):.1f} ms |")
            print(f"| lag p99 | {pct(lags, 99):.1f} ms |")
    finally:
        for n in nodes:
            if n.running():
                n.stop()
        broker.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
