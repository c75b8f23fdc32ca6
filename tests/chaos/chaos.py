"""A Jepsen-style run: a seeded nemesis over a bounded mixed load through the gateway, then heal,
wait for convergence and check every acknowledged write against the final state.
Usage: tests/chaos/run [--seconds N] [--seed S] [--nodes 3] [--report FILE] (see --help)."""
import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checker  # noqa: E402
import cluster as cluster_mod  # noqa: E402
import load  # noqa: E402
import nemesis as nemesis_mod  # noqa: E402
from cluster import harness  # noqa: E402

METRICS = ("status_publish_timeouts_total", "status_write_failures_total",
           "status_replication_rejected_total", "status_anti_entropy_pulled_total",
           "status_outbox", "status_clock_offset_ms")


def log(msg):
    print(msg, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="tests/chaos/run",
                                description=" ".join(__doc__.split("\n")[:2]))
    p.add_argument("--seconds", type=float, default=60, help="length of the load + faults phase")
    p.add_argument("--seed", type=int, default=1, help="seeds the nemesis and the load")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--report", help="write the full report as JSON to this file")
    p.add_argument("--faults", default="all",
                   help="all, none (the checker's self-test), a,b (only these) or =-a,-b (all but "
                        "these); kinds: " + ", ".join(nemesis_mod.KINDS))
    p.add_argument("--workers", type=int, default=6)
    p.add_argument("--rate", type=float, default=120, help="requests/s of all workers together")
    p.add_argument("--users", type=int, default=30)
    p.add_argument("--timeout", type=float, default=5.0, help="per-request timeout (s)")
    p.add_argument("--converge-timeout", type=float, default=90.0)
    p.add_argument("--tmpfs-mb", type=int, default=16, help="size of each node's data disk (MiB)")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs) afterwards")
    p.add_argument("--self-test", action="store_true",
                   help="no faults; after the load, re-write one user's old acknowledged text "
                        "directly on a node (unrecorded): passes only if the checker reports "
                        "exactly that user's writes as lost and everything else clean")
    a = p.parse_args(argv)
    if a.self_test:
        a.faults = "none"
    if not (1 <= a.nodes <= 9) or a.seconds <= 0 or not (1 <= a.workers <= 32):
        p.error("--nodes 1..9, --workers 1..32, --seconds > 0")
    try:
        a.kinds = nemesis_mod.parse_kinds(a.faults)
    except ValueError as e:
        p.error(str(e))
    if a.nodes < 2:
        a.kinds = [k for k in a.kinds if k != "kill_node"]
    return a


def git_commit():
    try:
        rev = subprocess.run(["git", "-C", harness.ROOT, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", harness.ROOT, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "") if rev else None
    except (OSError, subprocess.SubprocessError):
        return None


def binary_id(name):
    """The first 12 hex digits of a binary's SHA-256: which build ran (the commit is the
    checkout's, and STATUS_BUILD_DIR may point elsewhere)."""
    import hashlib
    try:
        with open(os.path.join(harness.BIN, name), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:12]
    except OSError:
        return None


def wait_converged(c, timeout):
    """Polls every node's whole state until all answer and agree twice in a row.
    Returns (converged, seconds until the first of the two agreeing polls, states, last error)."""
    t0 = time.monotonic()
    first_equal_at, last_err, states = None, None, {}
    while time.monotonic() - t0 < timeout:
        try:
            states = {n.id: c.node_state(n) for n in c.nodes}
            vals = list(states.values())
            if all(v == vals[0] for v in vals):
                if first_equal_at is not None:
                    return True, first_equal_at - t0, states, None
                first_equal_at = time.monotonic()
            else:
                first_equal_at = None
                diff = sum(1 for u in set().union(*vals)
                           if len({json.dumps(v.get(u), sort_keys=True) for v in vals}) > 1)
                last_err = f"{diff} users differ between nodes"
        except (OSError, RuntimeError, ValueError) as e:
            first_equal_at, last_err = None, str(e)
        time.sleep(0.2)
    # Not converged: whatever each node answers now.
    for n in c.nodes:
        try:
            states[n.id] = c.node_state(n)
        except (OSError, RuntimeError, ValueError) as e:
            states.pop(n.id, None)
            last_err = f"{n.id}: {e}"
    return False, None, states, last_err


def stale_reads(c, users, expected):
    """After convergence: every user read on every node and through the gateway."""
    targets = [(n.id, n.url) for n in c.nodes] + [("gateway", c.gateway.url)]
    bad, total = [], 0
    for user in sorted(users):
        want = expected.get(user)
        for name, url in targets:
            total += 1
            try:
                r = harness.request("GET", f"{url}/api/statuses/{user}", timeout=3)
                got = ({"statusText": r.json()["statusText"], "version": r.json()["version"]}
                       if r.status == 200 else None if r.status == 404 else f"HTTP {r.status}")
            except (OSError, ValueError, KeyError) as e:
                got = type(e).__name__
            if got != want:
                bad.append({"user": user, "on": name, "got": got, "expected": want})
    return total, bad


def summarize(rep):
    out = []
    out.append(f"== chaos result: seed {rep['seed']}, {rep['seconds']:g} s, {rep['nodes']} nodes, "
               f"checkout {rep['commit']}, binaries {rep['bin']} (status-node sha256 "
               f"{rep['node_sha256']})")
    out.append(f"faults injected: {len(rep['faults'])}" + (
        " (" + ", ".join(f"{k} {v}" for k, v in sorted(rep["fault_counts"].items())) + ")"
        if rep["faults"] else ""))
    for f in rep["faults"]:
        err = f"  ERROR {f['error']}" if f.get("error") else ""
        out.append(f"  +{f['t']:6.1f}s..{f.get('end', 0):6.1f}s  {f['kind']:<14} "
                   f"{f['target'] or '':<8} {f['detail']}{err}")
    req = rep["requests"]
    out.append("requests: " + ", ".join(f"{k} {v['total']}" for k, v in req.items())
               + f"; failed {rep['requests_failed']}")
    for k, v in req.items():
        if v["failed"]:
            out.append(f"  {k} failed: " + ", ".join(f"{s} x{n}" for s, n in
                                                    sorted(v["failed"].items())))
    if rep["failed_by_fault"]:
        out.append("  failed during (a fault, or < 2 s after it): " + ", ".join(
            f"{k} {v}" for k, v in rep["failed_by_fault"].items()))
    out.append(f"acknowledged: {rep['acked']['puts']} puts, {rep['acked']['deletes']} deletes")
    if rep["converged"]:
        out.append(f"converged: yes, {rep['convergence_s']:.2f} s after healing "
                   f"({rep['final_users']} statuses)")
    else:
        out.append(f"converged: NO within {rep['converge_timeout']:g} s ({rep['converge_error']})")
    lost = rep["lost"]
    def short(text):
        return text if text is None or len(text) <= 40 else text[:37] + "..."

    def items(ds, total):
        for d in ds[:10]:
            fin = d["final"] and d["final"]["statusText"]
            out.append(f"  {d['user']}: {d['lost']['kind']} {short(d['lost']['text']) or ''} "
                       f"[{d['lost']['start']:.3f}..{d['lost']['end']:.3f} s via "
                       f"{d['lost']['node']}]; final {short(fin)} "
                       f"({short(d['final_explained_by'])}) on {', '.join(d['on_nodes'])}"
                       + ("; " + "; ".join(d["notes"]) if d["notes"] else ""))
        if total > 10:
            out.append(f"  … {total - 10} more in the JSON report")

    out.append(f"acknowledged writes lost: {lost['count']}"
               + (f" ({lost['clock_skewed']} with a clock-skewed stamp)" if lost["count"] else ""))
    items(lost["items"], lost["count"])
    part = rep["missing_on_some_nodes"]
    if part["count"]:
        out.append(f"acknowledged writes missing on some nodes only: {part['count']} ("
                   + ", ".join(f"{k} {v}" for k, v in sorted(part["by_node"].items())) + ")")
        items(part["items"], part["count"])
    s = rep["stale_reads_after_convergence"]
    out.append(f"stale reads after convergence: "
               + (f"{s['count']} of {s['reads']}" if s["reads"] is not None else "not checked"))
    for b in s["items"][:5]:
        got, want = b["got"], b["expected"]
        got = got.get("statusText") if isinstance(got, dict) else got
        want = want.get("statusText") if isinstance(want, dict) else want
        out.append(f"  {b['user']} on {b['on']}: got {short(got)}, expected {short(want)}")
    g = rep["gateway_routing_after_s"]
    out.append("gateway routing to every node: " + (f"{g:.1f} s after convergence"
                                                    if g is not None else "NO (30 s)"))
    out.append(f"phantom reads (a value never written): {rep['phantom_reads']['count']}; "
               f"final values never written: {len(rep['phantom_final_values'])}")
    inv = rep["version_inversions"]
    out.append(f"version inversions among acked writes (informational): {inv['count']}"
               + (f" ({inv['clock_skewed']} with a stamp > {checker.CLOCK_SLACK_MS} ms off the "
                  "real time)" if inv["count"] else ""))
    out.append("stamps off the real time (ms, min/max by node): " + ", ".join(
        f"{k} {v['min']:+d}/{v['max']:+d}" for k, v in rep["stamp_skew_ms"].items()))
    if rep["writes_stamped_over_1s_off"]:
        out.append("acked writes stamped > 1 s off the real time: " + ", ".join(
            f"{k} {v['count']} (+{v['first']:.1f}..{v['last']:.1f}s)"
            for k, v in rep["writes_stamped_over_1s_off"].items()))
    if rep["unexpected_exits"]:
        out.append("unexpected exits:")
        for ex in rep["unexpected_exits"]:
            out.append(f"  +{ex['t']:.1f}s {ex['process']} exit code {ex['exit_code']}")
    else:
        out.append("unexpected exits: none")
    q = rep["queues_missing"]
    out.append("node queues missing on the broker at the end: "
               + ("unknown" if q is None else ", ".join(q) or "none"))
    for nid, h in rep["final_health"].items():
        body = json.dumps(h.get("body", h.get("error")))
        out.append(f"  {nid} /health {h.get('status')}: {body}")
    if rep.get("nemesis_error"):
        out.append(f"nemesis error: {rep['nemesis_error']}")
    if rep.get("self_test"):
        out.append(f"self-test: planted a loss for {rep['self_test']['user']}; "
                   + ("the checker found exactly that" if rep["ok"] else "NOT found as expected"))
    out.append("result: " + ("PASS" if rep["ok"] else "FAIL (" + "; ".join(rep["why"]) + ")"))
    return "\n".join(out)


def run(a, c):
    rec = load.Recorder()
    users = [f"u{i:03d}" for i in range(a.users)]
    t0 = time.monotonic()
    stop_load = threading.Event()
    deadline = t0 + a.seconds
    workers = [load.Worker(i, c.gateway.port, a.seed, users, t0, deadline, a.rate / a.workers, rec,
                           stop_load, timeout=a.timeout) for i in range(a.workers)]
    nem = nemesis_mod.Nemesis(c, a.seed, a.kinds, t0, log)
    log(f"chaos: load {a.workers} workers at {a.rate:g} req/s over {a.users} users for "
        f"{a.seconds:g} s; faults: {', '.join(a.kinds) or 'none'}")
    for w in workers:
        w.start()
    nem.start()
    while time.monotonic() < deadline:
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    # End of the run: the load stops; no new fault, the fault under way is undone.
    stop_load.set()
    nem.stop()
    for w in workers:
        w.join(a.timeout + 5)
    nem.join(240)
    if nem.is_alive():
        log("chaos: warning: the nemesis did not finish its fault within 240 s")
    faults_end = time.monotonic() - t0
    canary = plant_loss(c, rec.ops) if a.self_test else None
    exits = list(nem.exits) + c.check_exits(time.monotonic() - t0)
    actions = c.heal()
    log(f"chaos: +{time.monotonic() - t0:.1f}s load stopped at +{a.seconds:g}s, the last fault "
        f"ended at +{faults_end:.1f}s; healed: "
        f"{', '.join(actions) or 'nothing to do'}")
    converged, conv_s, states, conv_err = wait_converged(c, a.converge_timeout)
    log(f"chaos: +{time.monotonic() - t0:.1f}s " + (f"converged in {conv_s:.2f} s" if converged
                                                    else f"NOT converged: {conv_err}"))
    return rec, nem, exits, actions, converged, conv_s, states, conv_err, users, canary


def missing_queues(c):
    """Nodes whose queue is not on the broker after the run (deleted by a fault and not declared
    again), or None when the broker cannot tell."""
    try:
        out = c.ctl("list_queues", "name", "--quiet", "--no-table-headers")
    except (subprocess.SubprocessError, OSError):
        return None
    have = set(out.split())
    return [n.id for n in c.nodes if n.queue not in have]


def plant_loss(c, ops):
    """The self-test's planted loss: an acknowledged PUT that a later-started acknowledged
    operation superseded is written again, directly on a node and unrecorded, so that it wins."""
    by_user = collections.defaultdict(list)
    for o in ops:
        if o.acked:
            by_user[o.user].append(o)
    best = None
    for user, uops in by_user.items():
        latest_start = max(o.start for o in uops)
        for o in uops:
            if (o.kind == "put" and o.end + 0.05 < latest_start
                    and (best is None or o.end < best.end)):
                best = o
    if best is None:
        raise RuntimeError("self-test: no user with two sequential acknowledged writes")
    r = harness.request("PUT", f"{c.nodes[0].url}/api/statuses/{best.user}",
                        {"statusText": best.text}, timeout=5)
    if r.status not in (200, 201):
        raise RuntimeError(f"self-test: planting the loss failed: {r}")
    log(f"chaos: self-test: re-wrote {best.user}'s old text {best.text!r} on {c.nodes[0].id}")
    return {"user": best.user, "text": best.text}


def build_report(a, c, rec, nem, exits, actions, converged, conv_s, states, conv_err, users,
                 canary):
    ops = rec.ops
    by_user = collections.defaultdict(list)
    for o in ops:
        by_user[o.user].append(o)
    # Losses per node (all the same once converged); an op lost on any node counts once.
    lost_items = {}
    phantom_final = {}
    for nid, state in states.items():
        verdicts, lost = checker.check(ops, state)
        for v in verdicts:
            if v.final is not None and v.explained_by is None:
                phantom_final.setdefault(v.user, {"final": v.final, "on_nodes": []})
                phantom_final[v.user]["on_nodes"].append(nid)
        for verdict, op in lost:
            key = id(op)
            if key not in lost_items:
                lost_items[key] = checker.describe_lost(verdict, op, by_user)
                lost_items[key]["on_nodes"] = []
            lost_items[key]["on_nodes"].append(nid)
    missing_states = [n.id for n in c.nodes if n.id not in states]
    # Lost: missing on every node that answered. Missing on some nodes only: not converged (yet).
    items = sorted(lost_items.values(), key=lambda d: d["lost"]["start"])
    lost_list = [d for d in items if len(d["on_nodes"]) == len(states)]
    partial = [d for d in items if len(d["on_nodes"]) < len(states)]
    expected = next(iter(states.values())) if converged and states else None
    # The gateway routes again once the (restarted) registry lists every node: bounded wait.
    t = time.monotonic()
    want = {n.id for n in c.nodes}
    gateway_s = None
    while time.monotonic() - t < 30:
        try:
            if c.gateway_sees() == want:
                gateway_s = time.monotonic() - t
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    if expected is not None:
        n_reads, stale = stale_reads(c, set(users) | set(expected), expected)
    else:
        n_reads, stale = None, []
    phantoms = checker.check_reads(rec.reads, by_user)
    inversions = []
    for user, uops in by_user.items():
        for x, y in checker.version_inversions(uops):
            clock = any(abs(checker.stamp_skew_ms(o, o.version)) > checker.CLOCK_SLACK_MS
                        for o in (x, y))
            inversions.append({"user": user, "earlier": [x.text, x.version, x.node],
                               "later": [y.text, y.version, y.node], "clock_skewed": clock})
    # How far acknowledged stamps lay from the real time of their requests, per serving node:
    # shows whether a clock fault reached the node's stamps.
    skew = {}
    skewed = {}  # acked writes stamped more than 1 s (the default --max-clock-offset) off
    for o in ops:
        if o.kind == "put" and o.acked and o.version and o.node:
            ms = checker.stamp_skew_ms(o, o.version)
            lo, hi = skew.get(o.node, (0, 0))
            skew[o.node] = (min(lo, ms), max(hi, ms))
            if abs(ms) > 1000:
                d = skewed.setdefault(o.node, {"count": 0, "first": o.start, "last": o.end})
                d["count"] += 1
                d["first"], d["last"] = min(d["first"], o.start), max(d["last"], o.end)
    # Failed requests by the fault under way when they started (or that ended < 2 s before).
    by_fault = collections.Counter()
    for kind, label, start in rec.failures:
        f = next((f for f in reversed(nem.faults)
                  if f["t"] <= start <= f.get("end", float("inf")) + 2.0), None)
        by_fault[f"{f['kind']} {f['target'] or ''}".strip() if f else "no fault"] += 1
    requests = {}
    failed_total = 0
    for kind in ("put", "create", "delete", "get", "list"):
        cnt = rec.counts.get(kind, collections.Counter())
        failed = {k: v for k, v in cnt.items() if k != "ok"}
        failed_total += sum(failed.values())
        requests[kind] = {"total": sum(cnt.values()), "ok": cnt.get("ok", 0), "failed": failed}
    why = []
    if canary is not None:
        lost_users = {d["user"] for d in lost_list}
        if lost_users != {canary["user"]}:
            why.append(f"self-test: expected losses for {canary['user']} only, the checker "
                       f"reported them for {sorted(lost_users) or 'nobody'}")
    elif lost_list:
        why.append(f"{len(lost_list)} acknowledged writes lost")
    if partial:
        why.append(f"{len(partial)} acknowledged writes missing on some nodes")
    if not converged:
        why.append("no convergence")
    if missing_states:
        why.append("no state from " + ", ".join(missing_states))
    if stale:
        why.append(f"{len(stale)} stale reads after convergence")
    if gateway_s is None:
        why.append("the gateway did not route to every node within 30 s of convergence")
    if phantoms:
        why.append(f"{len(phantoms)} phantom reads")
    if phantom_final:
        why.append(f"{len(phantom_final)} final values never written")
    if nem.error:
        why.append("the nemesis failed")
    rep = {
        "seed": a.seed, "seconds": a.seconds, "nodes": a.nodes, "commit": git_commit(),
        "bin": harness.BIN, "node_sha256": binary_id("status-node"),
        "node_flags": c.node_extra, "publish_timeout_flag": c.publish_timeout,
        "load": {"workers": a.workers, "rate": a.rate, "users": a.users, "timeout": a.timeout},
        "fault_kinds": a.kinds,
        "faults": nem.faults,
        "fault_counts": dict(collections.Counter(f["kind"] for f in nem.faults)),
        "nemesis_error": nem.error,
        "unexpected_exits": exits,
        "heal_actions": actions,
        "requests": requests,
        "requests_failed": failed_total,
        "failed_by_fault": dict(by_fault.most_common()),
        "acked": {"puts": sum(1 for o in ops if o.kind == "put" and o.acked),
                  "deletes": sum(1 for o in ops if o.kind == "delete" and o.acked)},
        "indeterminate": sum(1 for o in ops if o.indeterminate),
        "converged": converged, "convergence_s": conv_s, "converge_timeout": a.converge_timeout,
        "converge_error": conv_err,
        "final_users": len(expected) if expected is not None else None,
        "lost": {"count": len(lost_list),
                 "clock_skewed": sum(1 for d in lost_list if d["clock_skewed"]),
                 "items": lost_list[:1000]},
        "missing_on_some_nodes": {
            "count": len(partial),
            "by_node": dict(collections.Counter(n for d in partial for n in d["on_nodes"])),
            "items": partial[:200]},
        "gateway_routing_after_s": gateway_s,
        "stale_reads_after_convergence": {"count": len(stale), "reads": n_reads,
                                          "items": stale[:100]},
        "phantom_final_values": phantom_final,
        "phantom_reads": {"count": len(phantoms),
                          "items": [list(p) for p in phantoms[:100]]},
        "version_inversions": {"count": len(inversions),
                               "clock_skewed": sum(1 for i in inversions if i["clock_skewed"]),
                               "items": inversions[:100]},
        "stamp_skew_ms": {k: {"min": round(v[0]), "max": round(v[1])}
                          for k, v in sorted(skew.items())},
        "writes_stamped_over_1s_off": {k: {"count": v["count"], "first": round(v["first"], 2),
                                           "last": round(v["last"], 2)}
                                       for k, v in sorted(skewed.items())},
        "queues_missing": missing_queues(c),
        "final_health": {n.id: c.health(n) for n in c.nodes},
        "final_metrics": {n.id: c.metrics(n, METRICS) for n in c.nodes},
        "self_test": canary,
        "ok": not why, "why": why,
    }
    return rep


def write_history(path, ops):
    """Every recorded PUT and DELETE, one JSON object a line (kept with the logs on failure)."""
    with open(path, "w") as f:
        for o in sorted(ops, key=lambda o: o.start):
            f.write(json.dumps({k: getattr(o, k) for k in (
                "kind", "user", "start", "end", "status", "text", "version", "node", "wall_start",
                "wall_end", "error")}) + "\n")


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    for b in ("status-node", "status-registry", "status-gateway"):
        if not os.access(os.path.join(harness.BIN, b), os.X_OK):
            log(f"chaos: {harness.BIN}/{b} is missing: run 'make build' (or set STATUS_BUILD_DIR)")
            return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    def new_cluster():
        return cluster_mod.Cluster(a.nodes, tmpfs_mb=a.tmpfs_mb, log=log, keep=a.keep)
    c = new_cluster()
    if c.sudo is None and "fill_disk" in a.kinds:
        a.kinds.remove("fill_disk")
        log("chaos: warning: not root and no passwordless sudo: no tmpfs per node, so no "
            "fill_disk faults")
    rep = None
    code = 1
    try:
        for attempt in range(3):
            try:
                c.start()
                break
            except AssertionError as e:
                # Ports come from the OS and are free when chosen; on a shared machine another
                # process may take one before our process binds it.
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
                log("chaos: a chosen port was taken meanwhile; starting over on other ports")
                c.cleanup()
                c = new_cluster()
        result = run(a, c)
        rep = build_report(a, c, *result)
        code = 0 if rep["ok"] else 1
        write_history(os.path.join(c.workdir, "history.jsonl"), result[0].ops)
    except KeyboardInterrupt as e:
        log(f"chaos: interrupted ({e or 'Ctrl-C'}); cleaning up")
        code = 130
    except Exception as e:  # noqa: BLE001 — reported, then everything is cleaned up
        import traceback
        traceback.print_exc()
        log(f"chaos: the run failed: {e!r}")
        code = 2
    finally:
        # A second Ctrl-C must not interrupt the cleanup.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if code != 0:
            c.keep = True
        c.cleanup()
    if rep is not None:
        log(summarize(rep))
        if a.report:
            with open(a.report, "w") as f:
                json.dump(rep, f, indent=2, sort_keys=True)
            log(f"chaos: report written to {a.report}")
    return code


if __name__ == "__main__":
    sys.exit(main())
