"""CONTRACT §10: `--amqp-url` is repeatable: a node uses any broker of a RabbitMQ cluster and fails
over between them; with `--queue-type quorum` its queue is replicated by the brokers.

A real cluster of three private brokers (scripts/rabbitmq-private start ×3 with one COOKIE_FILE,
join ×2), this module's alone; three nodes, each given all three broker URLs in a different order
and `--queue-type quorum`. Anti-entropy is off (`--anti-entropy-interval-ms 3600000`): what
reaches another node came through the brokers."""
import os
import tempfile
import time

import harness
from harness import wait_until

import pytest

FLAGS = ["--queue-type", "quorum", "--anti-entropy-interval-ms", "3600000",
         "--publish-timeout", "2000"]


@pytest.fixture(scope="module")
def cluster():
    cookie_dir = tempfile.mkdtemp(prefix="status-cookie-")  # 0700: the cookie is nobody else's
    cookie = os.path.join(cookie_dir, "cookie")
    brokers = [harness.Broker(cookie_file=cookie) for _ in range(3)]
    try:
        for b in brokers:
            b.start()
        for b in brokers[1:]:
            b.join(brokers[0])
        yield brokers
    finally:
        for b in brokers:
            b.remove()
        import shutil
        shutil.rmtree(cookie_dir, ignore_errors=True)


def alive(brokers):
    return [b for b in brokers if b.healthy(timeout=5)]


def ensure_running(brokers):
    """A broker an earlier test killed is started again and rejoins (its database is kept)."""
    for b in brokers:
        if not b.healthy(timeout=5):
            b.start()
    wait_until(lambda: all(f"{b.node_name}" in brokers[0].ctl("cluster_status") for b in brokers),
               30, what="three running brokers")


def queue_types(broker):
    out = broker.ctl("list_queues", "-q", "name", "type", "leader")
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return {r[0]: r[1:] for r in rows if len(r) >= 2 and r[0] != "name"}


def start_nodes(tmp_path, procs, brokers, prefix):
    """Node i is given the brokers rotated by i: each starts on a different broker."""
    urls = [b.url for b in brokers]
    nodes = harness.make_cluster(str(tmp_path), procs, prefix, 3, extra=FLAGS)
    for i, nd in enumerate(nodes):
        nd.env["STATUS_AMQP_URL"] = ",".join(urls[i:] + urls[:i])
    harness.start_all(nodes)
    return nodes


def replicating_nodes(tmp_path, procs, cluster, prefix, n):
    """Three running brokers, three nodes on them, `n` writes replicated to all: (nodes, urls,
    the acknowledged writes)."""
    ensure_running(cluster)
    nodes = start_nodes(tmp_path, procs, cluster, prefix)
    urls = [nd.url for nd in nodes]
    acked = set()
    write_all(urls, f"{prefix}-warm-", n, acked)
    harness.wait_converged(urls, 20, expect=len(acked))
    return nodes, urls, acked


def write_all(urls, prefix, n, acked):
    for i in range(n):
        r = harness.put_status(urls[i % len(urls)], f"{prefix}{i}", f"write {i}", timeout=10)
        if r.status in (200, 201):
            acked.add(f"{prefix}{i}")


def test_quorum_queues_and_failover_to_another_broker(tmp_path, procs, cluster):
    """Writes replicate through a 3-broker cluster; `list_queues` shows the nodes' queues as
    quorum queues. kill -9 of the broker node 1 is connected to (its first URL): node 1
    reconnects to another broker, replication continues, no acknowledged write is lost."""
    nodes, urls, acked = replicating_nodes(tmp_path, procs, cluster, "fo", 30)
    types = queue_types(cluster[1])
    ours = {q: t for q, t in types.items() if q.endswith(tuple(f"fo{i}" for i in (1, 2, 3)))}
    assert len(ours) == 3 and all(t[0] == "quorum" for t in ours.values()), types

    load = harness.WriteLoad(urls, threads=3, seconds=8.0, prefix="during-", timeout=10.0,
                             pause=0.02).start()
    time.sleep(2.0)
    victim = cluster[0]  # node 1's first URL: the one it is connected to
    victim_pid = victim.beam_pid()
    os.kill(victim_pid, 9)
    t_kill = time.monotonic()
    results = load.join()
    acked |= load.acked()
    failed = [r for r in results if r[3] not in (200, 201)]
    print(f"{len(results)} writes during the kill, {len(failed)} not acknowledged")
    # Node 1 noticed and is connected to another broker again (consumer and publisher).
    wait_until(lambda: harness.health(urls[0])[0] == 200, 20, what="node 1 healthy again")
    log = nodes[0].log_text()
    assert "event=consumer_disconnected" in log and "event=publisher_disconnected" in log, log[-2000:]
    assert log.count("event=consumer_connected") >= 2, log[-2000:]
    write_all(urls, "after-", 30, acked)
    t0 = time.monotonic()
    state = harness.wait_converged(urls, 30)
    print(f"converged {time.monotonic() - t0:.1f}s after the last write, "
          f"{time.monotonic() - t_kill:.1f}s after the kill")
    missing = acked - set(state)
    assert not missing, f"{len(missing)} acknowledged writes lost: {sorted(missing)[:5]}"
    # Every queue is still a quorum queue, on the two surviving brokers.
    assert all(t[0] == "quorum" for q, t in queue_types(cluster[1]).items() if q in ours)


def test_quorum_queue_keeps_a_stopped_nodes_backlog_through_a_broker_loss(tmp_path, procs, cluster):
    """Node 3 stops; writes go on through nodes 1 and 2; the broker that leads node 3's queue is
    killed; node 3 starts again: it receives what it missed from its (quorum) queue, on the two
    brokers left, without a snapshot from a peer (no `event=snapshot_loaded`, no
    `event=backlog_lost` in its log; replication_received_total counts the backlog)."""
    nodes, urls, acked = replicating_nodes(tmp_path, procs, cluster, "bk", 10)
    assert nodes[2].stop() == 0
    write_all(urls[:2], "missed-", 60, acked)
    queue = next(q for q in queue_types(cluster[0]) if q.endswith("bk3"))
    leader = queue_types(cluster[0])[queue][1]
    victim = next(b for b in cluster if b.node_name == leader)
    os.kill(victim.beam_pid(), 9)
    survivor = next(b for b in cluster if b is not victim)
    # The queue keeps its messages on the two brokers left (a majority of its three replicas).
    wait_until(lambda: queue_types(survivor).get(queue, [None, None])[1] not in (None, leader),
               20, what="a new leader of node 3's queue")
    before = nodes[2].log_text()
    nodes[2].start()
    state = harness.wait_converged(urls, 30, expect=len(acked))
    assert acked <= set(state)
    after = nodes[2].log_text()[len(before):]
    assert "event=snapshot_loaded" not in after and "event=backlog_lost" not in after, after[-3000:]
    received = harness.metric(urls[2], "replication_received_total")
    assert received >= 60, f"node 3 received {received} changes from its queue"
    print(f"node 3 got {received:.0f} changes from its quorum queue after broker {leader} died")
