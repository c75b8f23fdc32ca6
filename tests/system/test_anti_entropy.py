"""Anti-entropy stays cheap (issue 11, replication review F7): nodes forget tombstones by the
wall clock, all at the same moment, so collection never makes them copy state back and forth.
"""
import time

import harness
from harness import request, wait_until


def metric(node, name):
    for line in request("GET", node.url + "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_tombstone_collection_out_of_phase_does_not_copy_state(tmp_path, procs, broker):
    """Two nodes started at different moments collect the same tombstones within a second of
    each other; anti-entropy pulls (almost) nothing while they do. With collection phased by each
    process's start, every bucket holding such a tombstone would differ for the whole gap."""
    ports = [harness.free_port(), harness.free_port()]
    flags = ["--tombstone-ttl", "6", "--queue-expiry", "3", "--anti-entropy-interval-ms", "300"]
    nodes = []
    for i, prefix in enumerate(("ae-phase-a", "ae-phase-b")):
        n = harness.node(str(tmp_path), prefix, amqp=broker.url, port=ports[i],
                         peers=[f"http://127.0.0.1:{ports[1 - i]}"], extra=flags)
        procs.append(n)
        nodes.append(n)
    a, b = nodes
    for n in nodes:  # each waits for the other before it serves (an empty cluster starting)
        n.start(wait=False)
    for n in nodes:
        n.wait_ready()
    users = [f"gone{i}" for i in range(300)]
    for u in users:
        assert request("PUT", f"{a.url}/api/statuses/{u}", {"statusText": "x"}).status == 201
    for u in users:
        assert request("DELETE", f"{a.url}/api/statuses/{u}").status == 204
    wait_until(lambda: metric(b, "status_tombstones") == 300, 10, what="tombstones on b")
    # Restart b: a process-start phase would now differ from a's by several seconds.
    b.stop()
    b.start()
    pulled_before = metric(a, "status_anti_entropy_pulled_total") + metric(b, "status_anti_entropy_pulled_total")
    # Past the TTL (6 s) and a horizon step (1 s): both forget all of them.
    wait_until(lambda: metric(a, "status_tombstones") == 0 and metric(b, "status_tombstones") == 0,
               20, interval=0.2, what="tombstones collected on both")
    time.sleep(2)  # several anti-entropy rounds after the collection
    pulled = (metric(a, "status_anti_entropy_pulled_total") + metric(b, "status_anti_entropy_pulled_total")
              - pulled_before)
    # In phase, the two nodes' collection tasks (each once a second) still differ by up to a
    # second: a round or two may pull the buckets in between (measured 0-42 states). Phased by
    # process start, every bucket would differ for seconds: hundreds of states every round.
    assert pulled < 150, f"anti-entropy pulled {pulled} states while tombstones were collected"
    for n in nodes:
        assert request("GET", f"{n.url}/api/statuses").header("X-Total-Count") == "0"
