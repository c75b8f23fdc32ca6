#!/usr/bin/env python3
"""Anti-entropy round cost (issue 11): two nodes holding the same N statuses, peers of each other.

For N in BENCH_SIZES (default 100000,1000000):
1. load N identical statuses into both nodes through POST /internal/apply (no broker);
2. in sync: CPU seconds (user+system, /proc/PID/stat) both nodes spend over a window with
   anti-entropy every 1 s, minus the same window with anti-entropy off (the other background
   work), divided by the rounds run -> CPU ms per round per node;
3. out of sync: before each round 20 statuses are written to one node only (no broker carries
   them), so ~20 buckets differ and are pulled -> CPU ms per repairing round, states pulled.
Also reports each node's RSS. Prints a small Markdown report.
"""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "system"))
import harness  # noqa: E402

SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "100000,1000000").split(",")]
WINDOW = float(os.environ.get("BENCH_WINDOW", "10"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def metric(node, name):
    body = harness.request("GET", node.url + "/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def wire(i, stamp):
    return {"u": f"user{i:07d}", "h": stamp + i, "n": "bench", "x": f"status text number {i}",
            "t": 1764065700000}


def load(nodes, n):
    stamp = (int(time.time() * 1000) - 60000) << 16
    chunk = 500  # a node takes request bodies up to 64 KiB
    for start in range(0, n, chunk):
        body = json.dumps([wire(i, stamp) for i in range(start, min(n, start + chunk))])
        for node in nodes:
            r = harness.request("POST", node.url + "/internal/apply", body,
                                {"Content-Type": "application/json"}, timeout=120)
            assert r.status == 200, r


def start_pair(workdir, interval_ms):
    ports = [harness.free_port(), harness.free_port()]
    nodes = []
    for i in range(2):
        peer = f"http://127.0.0.1:{ports[1 - i]}"
        nodes.append(harness.node(workdir, f"ae{i}", peers=[peer], port=ports[i],
                                  extra=["--anti-entropy-interval-ms", str(interval_ms)]))
    for n in nodes:
        n.start(wait=False)
    for n in nodes:
        n.wait_ready(timeout=120)
    return nodes


def measure(nodes, seconds, dirty=False):
    before = [cpu_seconds(n.p.pid) for n in nodes]
    rounds0 = [metric(n, "status_anti_entropy_rounds_total") for n in nodes]
    pulled0 = sum(metric(n, "status_anti_entropy_pulled_total") for n in nodes)
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < end:
        if dirty:  # statuses on node 0 only: a few buckets differ at the next round
            stamp = int(time.time() * 1000) << 16
            body = json.dumps([{"u": f"dirty{k}-{j}", "h": stamp + j, "n": "bench", "x": "d",
                                "t": 1764065700000} for j in range(20)])
            harness.request("POST", nodes[0].url + "/internal/apply", body,
                            {"Content-Type": "application/json"})
            k += 1
        time.sleep(1.0)
    cpu = sum(cpu_seconds(n.p.pid) - b for n, b in zip(nodes, before))
    rounds = sum(metric(n, "status_anti_entropy_rounds_total") - r for n, r in zip(nodes, rounds0))
    pulled = sum(metric(n, "status_anti_entropy_pulled_total") for n in nodes) - pulled0
    return cpu, rounds, pulled


def run(n):
    out = {}
    for mode, interval in (("off", 3600000), ("on", 1000)):
        workdir = tempfile.mkdtemp(prefix="bench-ae-")
        nodes = start_pair(workdir, interval)
        try:
            t0 = time.monotonic()
            load(nodes, n)
            out["load_s"] = time.monotonic() - t0
            time.sleep(2)
            cpu, rounds, _ = measure(nodes, WINDOW)
            out[f"cpu_{mode}"] = cpu
            out[f"rounds_{mode}"] = rounds
            if mode == "on":
                out["rss"] = [rss_mib(x.p.pid) for x in nodes]
                cpu_d, rounds_d, pulled = measure(nodes, WINDOW, dirty=True)
                out["cpu_dirty"], out["rounds_dirty"], out["pulled"] = cpu_d, rounds_d, pulled
        finally:
            for x in nodes:
                x.stop(timeout=60)
            shutil.rmtree(workdir, ignore_errors=True)
    return out


def main():
    print("| statuses | in-sync round, CPU ms per node | repairing round (20 changes), CPU ms per node | states pulled per round | RSS per node | load time |")
    print("|---|---|---|---|---|---|")
    for n in SIZES:
        r = run(n)
        base = r["cpu_off"] / max(1.0, WINDOW)  # background CPU per second, both nodes
        sync_ms = max(0.0, (r["cpu_on"] - r["cpu_off"])) / max(1, r["rounds_on"]) * 1000
        dirty_ms = max(0.0, (r["cpu_dirty"] - base * WINDOW)) / max(1, r["rounds_dirty"]) * 1000
        print(f"| {n:,} | {sync_ms:.2f} | {dirty_ms:.1f} | {r['pulled'] / max(1, r['rounds_dirty']):.0f} "
              f"| {r['rss'][0]:.0f} MiB | {r['load_s']:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
