"""Clocks (CONTRACT §9 "a node whose clock is more than --max-clock-offset (default 1000 ms) away
from its peers refuses writes (503) and reports /health 503 within 5 s; no node moves its clock
more than that offset ahead of its own wall time because of a received stamp"; review F8).

Real nodes; a wrong clock comes from libfaketime (LD_PRELOAD), the node itself is unchanged.
Replicated states are sent the way peers send them: POST /internal/apply with wire states
(src/node/status.cpp, to_wire_json: u, h, n, x, t, d).
"""
import time

import harness
from harness import request, wait_until

FLAGS = ["--publish-timeout", "1000", "--anti-entropy-interval-ms", "1000"]


def now_ms():
    return int(time.time() * 1000)


def wire(user, hlc, node="elsewhere", text="replicated", time_ms=None):
    return {"u": user, "h": hlc, "n": node, "x": text, "t": time_ms if time_ms is not None else now_ms()}


def apply(url, states):
    return request("POST", f"{url}/internal/apply", states)


def version_ms(version):
    """Physical milliseconds of a version "<16 hex hlc>.<node>"."""
    return int(version.split(".", 1)[0], 16) >> 16


def test_node_with_a_skewed_clock_is_degraded_and_refuses_writes(tmp_path, procs, broker):
    """§9: n3 runs 10 s ahead (libfaketime +10), its peers n1 and n2 are right. Within 5 s of
    answering, n3 reports /health 503 "DEGRADED" with "clock":"skewed" (offset ~10 s) and refuses
    writes with 503; n1 and n2 keep taking writes."""
    n1, n2, n3 = harness.make_cluster(str(tmp_path), procs, "skew-", 3, amqp=broker.url,
                                      extra=FLAGS, env={2: harness.faketime_env("+10")})
    # All three start together (an empty cluster waits for every peer it knows of).
    n3.start(wait=False)
    harness.start_all([n1, n2])
    assert harness.put_status(n1.url, "before", "written by a correct node").status == 201
    wait_until(lambda: harness.health(n3.url)[1], 15, what="n3 answering /health")

    def degraded():
        code, body = harness.health(n3.url)
        return code == 503 and body.get("status") == "DEGRADED" and body.get("clock") == "skewed" and body
    body = wait_until(degraded, 5, interval=0.1, what="n3 DEGRADED with a skewed clock")
    offset = body.get("clockOffsetMs")
    assert offset is not None and 8000 <= abs(offset) <= 12000, body
    for i in range(3):
        r = harness.put_status(n3.url, f"skewed-{i}", "stamped 10 s ahead")
        assert r.status == 503, r
        assert r.header("Content-Type", "").startswith("application/problem+json"), r.headers
    assert request("GET", f"{n1.url}/api/statuses/skewed-0").status == 404
    for n in (n1, n2):
        assert harness.put_status(n.url, f"fine-{n.name}", "correct clock").status in (200, 201)
        assert harness.health(n.url)[0] == 200, harness.health(n.url)


def test_stamp_far_ahead_is_refused_and_does_not_move_the_clock(tmp_path, procs):
    """§9 (review F8): a replicated stamp 1 h ahead of the node's wall clock is refused (400) and
    not applied; the node's next own write is stamped within 1 s of real time. A stamp in the
    past, or less than --max-clock-offset ahead, is applied as before."""
    n = harness.node(str(tmp_path), "stamp-1", extra=FLAGS)
    procs.append(n)
    n.start()
    r = apply(n.url, [wire("past", (now_ms() - 5000) << 16)])
    assert r.status == 200, r
    assert request("GET", f"{n.url}/api/statuses/past").status == 200
    r = apply(n.url, [wire("soon", (now_ms() + 300) << 16)])
    assert r.status == 200, r

    r = apply(n.url, [wire("future", (now_ms() + 3600 * 1000) << 16)])
    assert r.status == 400, r
    assert request("GET", f"{n.url}/api/statuses/future").status == 404
    r = harness.put_status(n.url, "local", "stamped by the node itself")
    assert r.status == 201, r
    assert abs(version_ms(r.json()["version"]) - now_ms()) < 1000, r.json()["version"]


def test_stamp_near_2_pow_64_is_refused(tmp_path, procs):
    """§9 (review F8, wrap): replicated stamps >= 2^63 (up to 2^64-1) are refused (400), and the
    node's own stamps stay sane (within 1 s of real time) and ordered after them."""
    n = harness.node(str(tmp_path), "wrap-1", extra=FLAGS)
    procs.append(n)
    n.start()
    assert harness.put_status(n.url, "w", "before").status == 201
    for h in (2**64 - 1, 2**64 - 2, 2**63):
        r = apply(n.url, [wire("w", h, text="poisoned")])
        assert r.status == 400, (h, r)
    got = request("GET", f"{n.url}/api/statuses/w").json()
    assert got["statusText"] == "before", got
    r = harness.put_status(n.url, "w", "after")
    assert r.status == 200, r
    assert abs(version_ms(r.json()["version"]) - now_ms()) < 1000, r.json()["version"]
