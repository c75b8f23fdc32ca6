"""Refusals that keep a node from doing damage (CONTRACT §1 "exits non-zero with one clear line
on bad configuration", §9 "Tombstones are kept longer than a queue lives (… a node refuses to
start otherwise)", "Two live nodes with the same node id: the second refuses to start, with one
clear line"; review F1, F11, F15) and the escaped slash in a path (issue 11 item 13).

Real processes; the session broker and a real registry where they take part.
"""
import os
import subprocess
import time

import harness
from harness import request, wait_until


def run_node(tmp_path, *args, timeout=10):
    """Runs status-node to its end; returns (exit code, output lines)."""
    cmd = [os.path.join(harness.BIN, "status-node"), "--port", "0",
           "--data-dir", os.path.join(str(tmp_path), "cfg-data")] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, [line for line in (p.stdout + p.stderr).splitlines() if line.strip()]


CONFLICT_WORDS = ("duplicate", "already", "conflict", "in use", "another", "lock")


def names_conflict(proc, what):
    """A line of the process's output that names `what` and says it conflicts."""
    return [line for line in proc.log_text().splitlines()
            if what in line and any(w in line.lower() for w in CONFLICT_WORDS)]


def wait_exit(proc, seconds):
    try:
        return proc.p.wait(seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{proc.name} still runs after {seconds}s: {proc.log_tail(5)}")


def test_tombstone_ttl_must_exceed_queue_expiry(tmp_path, procs):
    """§9 (review F1): --tombstone-ttl <= --queue-expiry → exit non-zero with one line naming
    the rule; a TTL longer than the expiry starts."""
    ok = harness.node(str(tmp_path), "ttl-ok", extra=["--queue-expiry", "5", "--tombstone-ttl", "6"])
    procs.append(ok)
    ok.start()
    assert ok.stop() == 0
    for ttl, expiry in (("5", "5"), ("4", "5"), ("604800", "604800")):
        rc, lines = run_node(tmp_path, "--node-id", "ttl-bad", "--tombstone-ttl", ttl,
                             "--queue-expiry", expiry)
        assert rc != 0, (ttl, expiry, lines)
        assert len(lines) == 1, lines
        assert "tombstone-ttl" in lines[0] and "queue-expiry" in lines[0], lines
        assert "unknown option" not in lines[0], lines


def test_second_node_with_the_same_id_on_the_same_broker_refuses_to_start(tmp_path, procs, broker):
    """§9 (review F11): a second live process with node id `dupb-x` on the same broker (another
    data dir, another port) exits non-zero with a line naming the id; the first keeps serving."""
    first = harness.node(str(tmp_path), "dupb-x", amqp=broker.url, data=os.path.join(str(tmp_path), "d1"))
    second = harness.node(str(tmp_path), "dupb-x", amqp=broker.url, data=os.path.join(str(tmp_path), "d2"),
                          name="node-dupb-x-second")
    procs.extend([first, second])
    first.start()
    second.start(wait=False)
    rc = wait_exit(second, 15)
    assert rc != 0
    assert names_conflict(second, "dupb-x"), second.log_tail()
    assert harness.health(first.url)[0] == 200
    assert harness.put_status(first.url, "still", "serving").status == 201


def test_second_node_with_the_same_id_in_the_same_registry_refuses_to_start(tmp_path, procs):
    """§9 (review F11): the same with a registry instead of a broker: an UP instance `dupr-x` is
    registered at another URL, so the second exits non-zero with a line naming the id."""
    reg = harness.registry(str(tmp_path))
    procs.append(reg)
    reg.start()
    url = reg.url + "/eureka"
    first = harness.node(str(tmp_path), "dupr-x", registry=url, data=os.path.join(str(tmp_path), "d1"))
    second = harness.node(str(tmp_path), "dupr-x", registry=url, data=os.path.join(str(tmp_path), "d2"),
                          name="node-dupr-x-second")
    procs.extend([first, second])
    first.start()
    wait_until(lambda: "dupr-x" in request("GET", url + "/apps/STATUS-NODE",
                                             headers={"Accept": "application/json"}).body.decode(),
               10, what="first registered")
    second.start(wait=False)
    rc = wait_exit(second, 15)
    assert rc != 0
    assert names_conflict(second, "dupr-x"), second.log_tail()
    assert harness.health(first.url)[0] == 200


def test_second_process_on_the_same_data_dir_exits_at_once(tmp_path, procs):
    """§9 (review F11, F2): a second process on a data dir in use (another port) exits non-zero
    within 5 s, and the first is unaffected."""
    data = os.path.join(str(tmp_path), "shared")
    first = harness.node(str(tmp_path), "lock-a", data=data)
    second = harness.node(str(tmp_path), "lock-b", data=data)
    procs.extend([first, second])
    first.start()
    t0 = time.monotonic()
    second.start(wait=False)
    rc = wait_exit(second, 5)
    assert rc != 0
    assert time.monotonic() - t0 < 5
    assert any(any(w in line.lower() for w in CONFLICT_WORDS) for line in second.log_text().splitlines()), \
        second.log_tail()
    assert harness.put_status(first.url, "mine", "only one writer").status == 201


def test_queue_argument_mismatch_is_reported_and_repaired_by_anti_entropy(tmp_path, procs, broker):
    """§9 (review F15): n1's queue exists as a quorum queue; n1 restarts with --queue-type
    classic, so declaring it fails (PRECONDITION_FAILED). n1 keeps serving (200) with
    "queue":"mismatch" in /health, logs a warning about it, and still receives n2's writes
    (through anti-entropy)."""
    extra = ["--publish-timeout", "1000", "--anti-entropy-interval-ms", "500"]
    n1, n2 = harness.start_all(harness.make_cluster(str(tmp_path), procs, "qmm-", 2,
                                                    amqp=broker.url, extra=extra + ["--queue-type", "quorum"]))
    assert n1.stop() == 0
    n1.args[n1.args.index("--queue-type") + 1] = "classic"
    n1.start()
    body = wait_until(lambda: (lambda h: h[1].get("queue") == "mismatch" and h)(harness.health(n1.url)),
                      10, what='"queue":"mismatch" in /health')
    assert body[0] == 200, body
    warnings = [line for line in n1.log_text().splitlines()
                if " warn" in line and ("mismatch" in line.lower() or "precondition" in line.lower())]
    assert warnings, n1.log_tail()
    assert harness.put_status(n2.url, "via-repair", "written on n2").status == 201
    wait_until(lambda: request("GET", f"{n1.url}/api/statuses/via-repair").status == 200, 5,
               what="n2's write on n1 despite the mismatch")
    assert harness.put_status(n1.url, "from-n1", "still writable").status in (200, 201)


def test_escaped_slash_in_the_username_is_400(tmp_path, procs):
    """Issue 11 item 13: PUT /api/statuses/al%2Fice names no valid user: 400 problem+json (not a
    404 for an unknown path)."""
    n = harness.node(str(tmp_path), "slash-1")
    procs.append(n)
    n.start()
    r = harness.put_status(n.url, "al%2Fice", "escaped slash")
    assert r.status == 400, r
    assert r.header("Content-Type", "").startswith("application/problem+json"), r.headers
    assert r.json()["status"] == 400
