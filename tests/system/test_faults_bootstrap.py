"""Bootstrap of a node with an empty data dir (CONTRACT §3 "loads the full state from a peer
before it answers /api or reports UP", §9 "reports UP only after loading a complete snapshot
from a peer that is itself UP. It starts empty only when the registry (or --peer) shows no
other node; while it cannot tell, it waits (503). Killed during bootstrap, it starts over").

Real nodes, a real registry, the session broker.
"""
import concurrent.futures as cf
import signal
import threading
import time

import harness
from harness import request, wait_until

FLAGS = ["--publish-timeout", "1000", "--anti-entropy-interval-ms", "1000"]


def api_total(url, timeout=2):
    """(status, X-Total-Count or None) of GET /api/statuses?limit=1; a 503 must carry
    Retry-After."""
    r = request("GET", f"{url}/api/statuses?limit=1", timeout=timeout)
    if r.status == 503:
        assert r.header("Retry-After"), f"503 without Retry-After: {r.headers}"
    total = r.header("X-Total-Count")
    return r.status, int(total) if total is not None else None


def load_users(url, n, prefix="u"):
    with cf.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: harness.put_status(url, f"{prefix}{i}", f"status {i}").status,
                              range(n)))
    assert all(c == 201 for c in codes), set(codes)


def watch_never_partial(url, seconds, full, allow_up=True):
    """Polls `url` for `seconds`: /api must answer 503 (with Retry-After), or 200 with the full
    total; with allow_up=False also /health must stay 503. Returns the statuses seen."""
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            code, total = api_total(url)
            hcode, body = harness.health(url)
        except OSError:
            time.sleep(0.05)
            continue
        seen.add(code)
        if code == 200:
            assert total == full, f"/api served with {total} of {full} statuses"
        else:
            assert code == 503, code
        if not allow_up:
            assert hcode == 503, f"/health {hcode} {body} while it cannot have the state"
            assert code == 503, "served /api while it cannot have the state"
        time.sleep(0.1)
    return seen


def start_registry(tmp_path, procs, port=None):
    reg = harness.registry(str(tmp_path), port=port)
    procs.append(reg)
    return reg.start()


def test_registry_down_new_node_waits_then_bootstraps_when_it_returns(tmp_path, procs, broker):
    """§9 (review F4.1): registry-only discovery. Three nodes hold 300 statuses; the registry
    stops; a new empty node (registry URL only) cannot tell whether it is alone, so it stays 503
    STARTING (watched for 8 s). When the registry is back, it loads the 300 and becomes UP —
    and never serves /api with fewer."""
    reg = start_registry(tmp_path, procs)
    reg_url = reg.url + "/eureka"
    nodes = harness.make_cluster(str(tmp_path), procs, "regdown-", 4, amqp=broker.url,
                                 registry=reg_url, with_peers=False, extra=FLAGS)
    for n in nodes[:3]:  # one after the other: the first starts alone, the others join it
        n.start(wait=False)
        n.wait_ready(timeout=30)
    load_users(nodes[0].url, 300)
    harness.wait_converged([n.url for n in nodes[:3]], 15, expect=300)

    assert reg.stop() == 0
    n4 = nodes[3]
    n4.start(wait=False)
    seen = watch_never_partial(n4.url, 8.0, 300, allow_up=False)
    assert seen == {503}, seen
    code, body = harness.health(n4.url)
    assert body.get("status") == "STARTING", body

    # The registry returns empty; n4 is held (SIGSTOP) until the three have re-registered, so
    # that it does not look at the registry in the moment it lists no node at all (which, by
    # the contract's letter, is what a first node sees).
    n4.signal(signal.SIGSTOP)
    try:
        reg.start(wait=False)
        reg.wait_ready()
        wait_until(lambda: all(n.name.replace("node-", "") in request(
            "GET", reg_url + "/apps/STATUS-NODE", headers={"Accept": "application/json"}).body.decode()
            for n in nodes[:3]), 15, what="the three nodes registered again")
    finally:
        n4.signal(signal.SIGCONT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, total = api_total(n4.url)
        if code == 200:
            assert total == 300, f"/api served with {total} of 300 statuses"
            break
        assert code == 503
        time.sleep(0.1)
    else:
        raise AssertionError(f"n4 not UP 30 s after the registry returned: {harness.health(n4.url)}")
    assert harness.health(n4.url)[0] == 200
    harness.wait_converged([n.url for n in nodes], 15, expect=300)


def test_peer_that_is_itself_starting_is_no_snapshot_source(tmp_path, procs, broker):
    """§9 (review F4.2): B's only --peer is A, an empty node that cannot bootstrap yet (its own
    peer C, which holds 100 statuses, is down). B must not take A's empty state for a snapshot:
    both stay 503. Once C is back, A loads C's state, then B loads A's, both UP with all 100."""
    ports = {k: harness.free_port() for k in "abc"}
    url = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    c = harness.node(str(tmp_path), "chain-c", amqp=broker.url, port=ports["c"], extra=FLAGS)
    a = harness.node(str(tmp_path), "chain-a", amqp=broker.url, port=ports["a"], peers=[url["c"]],
                     extra=FLAGS)
    b = harness.node(str(tmp_path), "chain-b", amqp=broker.url, port=ports["b"], peers=[url["a"]],
                     extra=FLAGS)
    procs.extend([a, b, c])
    c.start()
    load_users(c.url, 100)
    assert c.stop() == 0

    a.start(wait=False)
    time.sleep(0.5)
    b.start(wait=False)
    seen = watch_never_partial(b.url, 6.0, 100, allow_up=False)
    assert seen == {503}, seen
    assert harness.health(a.url)[0] == 503

    c.start()
    for n in (a, b):
        deadline = time.monotonic() + 30
        while True:
            code, total = api_total(n.url)
            if code == 200:
                assert total == 100, f"{n.name} served /api with {total} of 100 statuses"
                break
            assert time.monotonic() < deadline, f"{n.name} not UP: {harness.health(n.url)}"
            time.sleep(0.1)
    harness.wait_converged([a.url, b.url, c.url], 15, expect=100)


def test_node_killed_during_bootstrap_starts_over(tmp_path, procs, broker):
    """§9 (review F4.3): a new node is killed (-9) while its snapshot transfer hangs (its only
    peer is SIGSTOPped), after its consumer may already have applied replicated changes. On
    restart it bootstraps again: whenever /api answers 200, X-Total-Count is the full 2,000."""
    p1, p2 = harness.start_all(harness.make_cluster(str(tmp_path), procs, "kboot-", 2,
                                                    amqp=broker.url, extra=FLAGS))
    load_users(p1.url, 2000)
    harness.wait_converged([p1.url, p2.url], 20, expect=2000)

    # Updates of existing users keep flowing from p2 (the total stays 2,000).
    stop = threading.Event()

    def updates():
        i = 0
        while not stop.is_set() and i < 5000:
            try:
                harness.put_status(p2.url, f"u{i % 100}", f"update {i}")
            except OSError:
                return
            i += 1
            time.sleep(0.02)
    writer = threading.Thread(target=updates, daemon=True)
    writer.start()
    try:
        new = harness.node(str(tmp_path), "kboot-new", amqp=broker.url, peers=[p1.url],
                           extra=FLAGS)
        procs.append(new)
        p1.signal(signal.SIGSTOP)
        try:
            new.start(wait=False)
            try:  # give its consumer time to apply some of p2's updates before the snapshot
                wait_until(lambda: harness.health(new.url)[1].get("statuses", 0) > 0, 5,
                           what="replicated changes applied before the snapshot")
            except AssertionError:
                time.sleep(1.0)
            new.kill()
            new.start(wait=False)
            seen = watch_never_partial(new.url, 4.0, 2000)
            assert 200 not in seen, "UP although its only peer could not have sent a snapshot"
        finally:
            p1.signal(signal.SIGCONT)
        deadline = time.monotonic() + 30
        while True:
            code, total = api_total(new.url)
            if code == 200:
                assert total == 2000, f"/api served with {total} of 2000 statuses"
                break
            assert code == 503, code
            assert time.monotonic() < deadline, \
                f"not UP 30 s after the peer thawed: {harness.health(new.url)}"
            time.sleep(0.05)
        watch_never_partial(new.url, 1.0, 2000)
    finally:
        stop.set()
        writer.join(10)
    harness.wait_converged([p1.url, p2.url, new.url], 20, expect=2000)


def test_registry_shows_no_other_node_so_it_starts_empty(tmp_path, procs, broker):
    """§9: when the registry answers and lists no other node, an empty node is the first one:
    it starts empty, UP, and takes writes."""
    reg = start_registry(tmp_path, procs)
    n = harness.node(str(tmp_path), "alone-1", amqp=broker.url, registry=reg.url + "/eureka",
                     extra=FLAGS)
    procs.append(n)
    n.start(wait=False)
    n.wait_ready(timeout=15)
    code, body = harness.health(n.url)
    assert code == 200 and body["status"] == "UP" and body["statuses"] == 0, body
    assert harness.put_status(n.url, "first", "the first node").status == 201
