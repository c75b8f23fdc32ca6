"""Replication through a real RabbitMQ (contract section 3, issue 3): real processes, real kills."""
import concurrent.futures as cf
import os
import threading
import time

import pytest

import harness
from harness import request, wait_until


def put(node, user, text, **kw):
    headers = kw.pop("headers", {})
    headers.setdefault("Content-Type", "application/json")
    return request("PUT", f"{node.url}/api/statuses/{user}", {"statusText": text, **kw}, headers)


def state(node):
    """The node's whole state: {username: version}."""
    r = request("GET", f"{node.url}/api/statuses?limit=1000")
    assert r.status == 200, r
    total = int(r.header("X-Total-Count"))
    out = {s["username"]: s for s in r.json()}
    offset = 1000
    while offset < total:
        r = request("GET", f"{node.url}/api/statuses?limit=1000&offset={offset}")
        out.update({s["username"]: s for s in r.json()})
        offset += 1000
    return out


def versions(node):
    return {u: s["version"] for u, s in state(node).items()}


def version_key(v):
    hlc, node = v.split(".", 1)
    return (int(hlc, 16), node)


class Cluster:
    """N nodes that know each other as --peer, all on one broker."""

    def __init__(self, workdir, procs, prefix, n, amqp, extra=()):
        self.workdir, self.procs, self.prefix, self.amqp, self.extra = workdir, procs, prefix, amqp, extra
        self.ports = [harness.free_port() for _ in range(n)]
        self.nodes = [self.make(i) for i in range(n)]

    def make(self, i, amqp=None, extra=()):
        peers = [f"http://127.0.0.1:{p}" for j, p in enumerate(self.ports) if j != i]
        n = harness.node(self.workdir, f"{self.prefix}{i + 1}", amqp=amqp or self.amqp, peers=peers,
                         port=self.ports[i], extra=list(self.extra) + list(extra))
        self.procs.append(n)
        return n

    def start(self):
        for n in self.nodes:
            n.start(wait=False)
        for n in self.nodes:
            n.wait_ready()
        return self

    def converged(self, timeout=10):
        def same():
            vs = [versions(n) for n in self.nodes]
            return all(v == vs[0] for v in vs) and (vs[0],)
        return wait_until(same, timeout, interval=0.1, what="identical state on all nodes")[0]


@pytest.fixture
def cluster(tmp_path, procs, broker, request):
    prefix = request.node.name.replace("test_", "")[:20].replace("[", "").replace("]", "") + "-"

    def make(n=3, **kw):
        return Cluster(str(tmp_path), procs, prefix, n, broker.url, **kw).start()
    return make


def test_write_on_each_node_is_readable_on_all_within_one_second(cluster):
    c = cluster(3)
    for i, n in enumerate(c.nodes):
        r = put(n, f"user{i}", f"written on node {i}")
        assert r.status == 201, r
        t0 = time.monotonic()
        for other in c.nodes:
            wait_until(lambda: request("GET", f"{other.url}/api/statuses/user{i}").status == 200,
                       timeout=1.0, what=f"user{i} on {other.name}")
        assert time.monotonic() - t0 < 1.0
    for n in c.nodes:
        assert request("GET", f"{n.url}/api/statuses/user1").json()["statusText"] == "written on node 1"


def test_concurrent_conflicting_writes_converge_to_last_writer_wins(cluster):
    c = cluster(3)
    acked = {}
    lock = threading.Lock()

    def write(i):
        node = c.nodes[i % 3]
        user = f"u{i % 10}"
        r = put(node, user, f"write {i}")
        assert r.status in (200, 201), r
        with lock:
            acked.setdefault(user, []).append(r.json()["version"])

    with cf.ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(300)))
    final = c.converged(15)
    assert len(final) == 10
    for user, vs in acked.items():
        assert final[user] == max(vs, key=version_key), user


def metric(node, name):
    text = request("GET", node.url + "/metrics").body.decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def test_concurrent_writes_travel_packed_and_all_arrive(cluster):
    """Under concurrent writes the publisher packs pending changes into one message; the other
    nodes unpack every change. Anti-entropy is off, so only the messages can carry them."""
    c = cluster(3, extra=["--anti-entropy-interval-ms", "3600000"])
    a = c.nodes[0]

    def write(i):
        r = put(a, f"packed{i}", f"write {i}")
        assert r.status == 201, r

    with cf.ThreadPoolExecutor(32) as pool:
        list(pool.map(write, range(600)))
    for other in c.nodes[1:]:
        wait_until(lambda: request("GET", f"{other.url}/api/statuses?limit=1").header("x-total-count")
                   == "600", timeout=5, what=f"600 statuses on {other.name}")
    assert c.converged(5)
    published, messages = metric(a, "replication_published_total"), metric(a, "replication_messages_total")
    assert published == 600, published
    assert messages < published, (messages, published)  # some messages carried several changes


def test_delete_is_not_undone_by_an_older_update_arriving_late(cluster, tmp_path, procs, broker):
    c = cluster(3)
    assert put(c.nodes[0], "carol", "original").status == 201
    c.converged()
    # Node 3 is cut off from the broker (wrong port) and updates carol: an older write held back.
    c.nodes[2].stop()
    dead_port = harness.free_port()
    cut = harness.node(str(tmp_path), f"{c.prefix}3", amqp=f"amqp://guest:guest@127.0.0.1:{dead_port}/",
                       port=c.ports[2])  # no peers either: truly cut off
    procs.append(cut)
    cut.start()
    r = put(cut, "carol", "older update from a cut-off node")
    assert r.status == 200, r
    time.sleep(0.01)
    # A later delete on node 1.
    assert request("DELETE", f"{c.nodes[0].url}/api/statuses/carol").status == 204
    cut.stop()
    # Node 3 comes back connected: its held-back update reaches the others, and loses.
    c.nodes[2] = c.make(2)
    c.nodes[2].start()
    time.sleep(1.5)
    for n in c.nodes:
        wait_until(lambda: request("GET", f"{n.url}/api/statuses/carol").status == 404, 10,
                   what=f"carol deleted on {n.name}")
    c.converged()


def test_killed_node_catches_up_after_restart(cluster):
    c = cluster(3)
    victim = c.nodes[2]
    victim.kill()
    with cf.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda i: put(c.nodes[i % 2], f"k{i}", f"while down {i}"), range(1000)))
    assert all(r.status == 201 for r in rs)
    victim.start()
    final = c.converged(20)
    assert len(final) == 1000


def test_new_node_bootstraps_before_serving(cluster, tmp_path, procs):
    c = cluster(3)
    with cf.ThreadPoolExecutor(16) as pool:
        rs = list(pool.map(lambda i: put(c.nodes[i % 3], f"b{i}", f"status {i}"), range(10000)))
    assert all(r.status == 201 for r in rs)
    c.converged(30)
    # A fourth node with an empty data dir: every /api answer is 503 or the full state.
    port = harness.free_port()
    fourth = harness.node(str(tmp_path), c.prefix + "4", amqp=c.amqp, port=port,
                          peers=[n.url for n in c.nodes])
    procs.append(fourth)
    fourth.start(wait=False)
    seen = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            r = request("GET", f"{fourth.url}/api/statuses?limit=1", timeout=2)
        except OSError:
            time.sleep(0.02)
            continue
        seen.add(r.status)
        if r.status == 200:
            assert r.header("X-Total-Count") == "10000", "served /api before it had the full state"
            break
        assert r.status == 503 and r.header("Retry-After"), r
    assert 200 in seen
    c.nodes.append(fourth)
    c.converged(10)


def test_writes_survive_a_broker_outage(tmp_path, procs):
    own = harness.Broker()
    own.start()
    try:
        c = Cluster(str(tmp_path), procs, "outage-", 3, own.url).start()
        stop = threading.Event()
        results, lock = [], threading.Lock()

        def load(w):
            i = 0
            while not stop.is_set() and i < 100000:
                r = put(c.nodes[(w + i) % 3], f"o{w}-{i}", f"during outage {i}")
                with lock:
                    results.append(r.status)
                i += 1
                time.sleep(0.005)

        threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        time.sleep(1)
        own.stop()
        time.sleep(10)
        subprocess_restart = own.start
        subprocess_restart()
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join(30)
        assert results and all(s in (200, 201) for s in results), set(results)
        final = c.converged(60)
        assert len(final) == len(results)
    finally:
        own.remove()


def test_change_committed_but_not_published_survives_a_kill(cluster, tmp_path, procs):
    c = cluster(2)
    # A third node whose broker is unreachable keeps its change in the outbox...
    port = harness.free_port()
    lonely = harness.node(str(tmp_path), c.prefix + "3", amqp=f"amqp://guest:guest@127.0.0.1:{harness.free_port()}/",
                          port=port)
    procs.append(lonely)
    lonely.start()
    assert put(lonely, "dave", "committed, not yet published").status == 201
    lonely.kill()  # ...and dies before it could publish.
    lonely.env["STATUS_AMQP_URL"] = c.amqp
    lonely.start()
    for n in c.nodes:
        wait_until(lambda: request("GET", f"{n.url}/api/statuses/dave").status == 200, 10,
                   what=f"dave on {n.name}")


def test_consistency_all_is_visible_everywhere_on_answer(cluster):
    c = cluster(3)
    r = put(c.nodes[0], "erin", "sync write", headers={"X-Consistency": "all"})
    assert r.status == 201
    assert r.header("X-Replicated") == "3/3"
    for n in c.nodes:
        assert request("GET", f"{n.url}/api/statuses/erin").json()["statusText"] == "sync write"


def test_purged_queue_is_healed_by_anti_entropy(cluster, broker):
    c = cluster(3)
    victim = c.nodes[1]
    victim.stop()
    for i in range(50):
        assert put(c.nodes[0], f"p{i}", "lost message").status == 201
    queue = f"status.node.{c.prefix}2"
    broker.ctl("purge_queue", queue)
    victim.start()
    t0 = time.monotonic()
    c.converged(30)
    assert time.monotonic() - t0 < 30


def test_event_stream_on_one_node_sees_write_on_another(cluster):
    import http.client
    c = cluster(2)
    conn = http.client.HTTPConnection("127.0.0.1", c.nodes[1].port, timeout=5)
    conn.request("GET", "/api/events")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    assert put(c.nodes[0], "frank", "hello stream").status == 201
    buf = b""
    deadline = time.monotonic() + 5
    while b"frank" not in buf and time.monotonic() < deadline:
        buf += resp.fp.read1(65536)
    conn.close()
    assert b"event: upsert" in buf and b"hello stream" in buf


def test_quorum_queues_and_several_broker_urls(tmp_path, procs, broker):
    """--queue-type quorum, and a first broker URL that is dead: the next one is used."""
    dead = f"amqp://guest:guest@127.0.0.1:{harness.free_port()}/"
    ports = [harness.free_port() for _ in range(2)]
    nodes = []
    for i in range(2):
        n = harness.node(str(tmp_path), f"quorum-{i + 1}", port=ports[i], amqp=[dead, broker.url],
                         peers=[f"http://127.0.0.1:{ports[1 - i]}"], extra=["--queue-type", "quorum"])
        procs.append(n)
        nodes.append(n.start(wait=False))
    for n in nodes:
        n.wait_ready()
    wait_until(lambda: "quorum" in broker.ctl("list_queues", "name", "type"), 10, what="quorum queues")
    queues = broker.ctl("list_queues", "name", "type")
    assert any("status.node.quorum-1" in line and "quorum" in line for line in queues.splitlines()), queues
    assert put(nodes[0], "quinn", "via a quorum queue").status == 201
    wait_until(lambda: request("GET", f"{nodes[1].url}/api/statuses/quinn").status == 200, 5,
               what="replicated through quorum queues")


def test_the_broker_has_a_user_of_its_own_and_no_guest(tmp_path, procs, broker):
    """The test broker, like make up's: user `status`, its generated password only in a 0600 file,
    no `guest`; a node gets the URL in its environment, so no command line shows the password."""
    password = harness.assert_own_user(broker.dir, broker.port)
    n = harness.node(str(tmp_path), "cred-1", amqp=broker.url)
    procs.append(n)
    n.start()
    wait_until(lambda: "status.node.cred-1" in broker.ctl("list_queues", "name"), 10,
               what="the node's queue, declared with the broker's own user")
    with open(f"/proc/{n.p.pid}/cmdline", "rb") as f:
        assert password.encode() not in f.read()
    with open(f"/proc/{n.p.pid}/environ", "rb") as f:
        assert f"STATUS_AMQP_URL={broker.url}".encode() in f.read().split(b"\0")
