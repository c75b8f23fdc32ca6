"""A node whose queue (its backlog) is lost, while it runs or while it is down (CONTRACT §9 "A
node whose backlog is lost … notices within 30 s and resynchronises so that it converges without
undoing any delete", §3 "A delete is not undone by an older write that arrives late").

Real nodes on the session broker; each test uses node ids (so queues) of its own.
"""
import time

import harness
from harness import request, wait_until

FAST = ["--publish-timeout", "1000"]


def status(url, user):
    return request("GET", f"{url}/api/statuses/{user}").status


def queue_of(node_id):
    return f"status.node.{node_id}"


def delete_queue(broker, node_id):
    try:
        broker.ctl("delete_queue", queue_of(node_id))
    except Exception:  # already gone (expired): that is the point
        pass


def test_queue_deleted_while_running_is_redeclared_and_resynced(tmp_path, procs, broker):
    """§9 (review F5): `rabbitmqctl delete_queue` of a running node's queue. Within 30 s the node
    re-declares it and resynchronises: a write made elsewhere after the deletion and a delete
    made elsewhere during the gap both reach it (anti-entropy is off: only the resync can carry
    them), the delete is not undone anywhere, and later writes arrive through the new queue."""
    n1, n2 = harness.start_all(harness.make_cluster(
        str(tmp_path), procs, "qdel-", 2, amqp=broker.url,
        extra=FAST + ["--anti-entropy-interval-ms", "3600000"]))
    assert harness.put_status(n1.url, "kept", "before").status == 201
    assert harness.put_status(n1.url, "gone", "deleted in the gap").status == 201
    harness.wait_converged([n1.url, n2.url], 10, expect=2)

    broker.ctl("delete_queue", queue_of("qdel-2"))
    assert request("DELETE", f"{n1.url}/api/statuses/gone").status == 204
    assert harness.put_status(n1.url, "after", "written after the deletion").status == 201
    wait_until(lambda: status(n2.url, "after") == 200 and status(n2.url, "gone") == 404, 30,
               interval=0.25, what="n2 resynchronised after its queue was deleted")
    # The queue is back: a new write travels through the broker again, at once.
    assert harness.put_status(n1.url, "later", "through the re-declared queue").status == 201
    wait_until(lambda: status(n2.url, "later") == 200, 2, what="a later write on n2 within 2 s")
    assert queue_of("qdel-2") in broker.ctl("list_queues", "name")
    final = harness.wait_converged([n1.url, n2.url], 10)
    assert "gone" not in final and status(n1.url, "gone") == 404


def test_queue_lost_while_down_does_not_bring_back_a_collected_delete(tmp_path, procs, broker):
    """§9 (review F1), with small lifetimes: --queue-expiry 2 s, --tombstone-ttl 4 s. n2 is down
    while bob is deleted; its queue expires (and is deleted); n1 and n3 collect the tombstone
    (restarted, so their collection runs); then n2 comes back holding the old live bob. bob must
    stay deleted on every node, also after several anti-entropy rounds (500 ms)."""
    flags = FAST + ["--queue-expiry", "2", "--tombstone-ttl", "4", "--anti-entropy-interval-ms", "500"]
    n1, n2, n3 = nodes = harness.start_all(harness.make_cluster(
        str(tmp_path), procs, "ttl-", 3, amqp=broker.url, extra=flags))
    urls = [n.url for n in nodes]
    assert harness.put_status(n1.url, "bob", "alive before the outage").status == 201
    harness.wait_converged(urls, 10, expect=1)

    assert n2.stop() == 0
    assert request("DELETE", f"{n1.url}/api/statuses/bob").status == 204
    deleted_at = time.monotonic()
    wait_until(lambda: status(n3.url, "bob") == 404, 5, what="bob deleted on n3")
    time.sleep(max(0.0, deleted_at + 5.0 - time.monotonic()))  # the tombstone is past its TTL
    delete_queue(broker, "ttl-2")
    for n in (n1, n3):  # one at a time: the other stays UP for a resync
        assert n.stop() == 0
        n.start(wait=False)
        n.wait_ready(timeout=30)
    for n in (n1, n3):
        wait_until(lambda: harness.metric(n.url, "status_tombstones") == 0, 10,
                   what=f"{n.name} collected the tombstone (older than --tombstone-ttl)")

    n2.start(wait=False)
    n2.wait_ready(timeout=30)
    time.sleep(3.0)  # six anti-entropy rounds
    for n in nodes:
        assert status(n.url, "bob") == 404, f"bob came back on {n.name}"
    harness.wait_converged(urls, 10, expect=0)


def test_queue_lost_while_down_no_resurrection_after_clock_moves_past_ttl(tmp_path, procs, broker):
    """§9 (review F1, its test sketch), default lifetimes: n3 is down while bob is deleted; its
    queue is deleted (as 7 days of x-expires would); n1 and n2 restart 9 days later
    (libfaketime +9d) and collect the tombstone; n3 starts, also 9 days later, with the old live
    bob. bob must not come back on any node."""
    flags = FAST + ["--anti-entropy-interval-ms", "500"]
    n1, n2, n3 = nodes = harness.start_all(harness.make_cluster(
        str(tmp_path), procs, "fk9d-", 3, amqp=broker.url, extra=flags))
    urls = [n.url for n in nodes]
    assert harness.put_status(n1.url, "bob", "alive before the outage").status == 201
    harness.wait_converged(urls, 10, expect=1)
    assert n3.stop() == 0
    assert request("DELETE", f"{n1.url}/api/statuses/bob").status == 204
    harness.wait_converged([n1.url, n2.url], 10, expect=0)
    delete_queue(broker, "fk9d-3")

    later = harness.faketime_env("+9d")
    for n in (n1, n2):
        assert n.stop() == 0
        n.env.update(later)
    for n in (n1, n2):
        n.start(wait=False)
    for n in (n1, n2):
        n.wait_ready(timeout=30)
        wait_until(lambda: harness.metric(n.url, "status_tombstones") == 0, 10,
                   what=f"{n.name} collected the 9-day-old tombstone")
    n3.env.update(later)
    n3.start(wait=False)
    n3.wait_ready(timeout=30)
    time.sleep(3.0)  # six anti-entropy rounds
    for n in nodes:
        assert status(n.url, "bob") == 404, f"bob came back on {n.name}"
    harness.wait_converged(urls, 10, expect=0)
