"""status-node registers itself at status-registry (issue 4): real processes, real kills.

The node registers as app STATUS-NODE with its node id as instanceId, renews every 1 s and
its lease expires after 3 s."""
import time

import harness
from harness import request, wait_until

LEASE_S = 3


def node_view(reg):
    """{instanceId: instance} of app STATUS-NODE (empty when the app is unknown)."""
    r = request("GET", reg.url + "/eureka/apps/STATUS-NODE", headers={"Accept": "application/json"},
                timeout=2)
    if r.status == 404:
        return {}
    assert r.status == 200, r
    return {i["instanceId"]: i for i in r.json()["application"]["instance"]}


def start(tmp_path, procs, reg_port=None, nodes=("n1",)):
    reg = harness.registry(str(tmp_path), port=reg_port)
    procs.append(reg)
    reg.start()
    started = []
    for node_id in nodes:
        n = harness.node(str(tmp_path), node_id, registry=reg.url + "/eureka")
        procs.append(n)
        n.start()
        started.append(n)
    return reg, started


def test_node_appears_up_after_start(tmp_path, procs):
    reg, (node,) = start(tmp_path, procs)
    inst = wait_until(lambda: node_view(reg).get("n1", {}).get("status") == "UP" and node_view(reg)["n1"],
                      timeout=5, what="n1 UP in the registry")
    assert inst["app"] == "STATUS-NODE"
    assert inst["port"] == {"$": node.port, "@enabled": "true"}
    assert inst["hostName"] == "127.0.0.1"
    assert inst["leaseInfo"]["renewalIntervalInSecs"] == 1
    assert inst["leaseInfo"]["durationInSecs"] == LEASE_S
    assert inst["dataCenterInfo"]["name"] == "MyOwn"
    # It stays there: heartbeats keep the 3 s lease alive.
    time.sleep(LEASE_S + 1.5)
    assert node_view(reg)["n1"]["status"] == "UP"
    # And the renewals are recent.
    lease = node_view(reg)["n1"]["leaseInfo"]
    assert lease["lastRenewalTimestamp"] > lease["registrationTimestamp"]


def test_killed_node_is_gone_within_lease_plus_one_second(tmp_path, procs):
    reg, (node,) = start(tmp_path, procs)
    wait_until(lambda: node_view(reg).get("n1", {}).get("status") == "UP", timeout=5, what="n1 UP")
    node.kill()
    killed = time.monotonic()
    wait_until(lambda: "n1" not in node_view(reg), timeout=LEASE_S + 2, interval=0.05,
               what="killed node evicted")
    # The last heartbeat was at most 1 s before the kill; eviction comes ≤ 1 s after expiry.
    assert time.monotonic() - killed <= LEASE_S + 1 + 0.3


def test_gracefully_stopped_node_is_gone_at_once(tmp_path, procs):
    reg, (node, other) = start(tmp_path, procs, nodes=("n1", "n2"))
    wait_until(lambda: {k: v["status"] for k, v in node_view(reg).items()} == {"n1": "UP", "n2": "UP"},
               timeout=5, what="both nodes UP")
    assert node.stop() == 0
    # Deregistered before it exited: no waiting for the lease.
    assert set(node_view(reg)) == {"n2"}


def test_restarted_registry_has_the_node_back_within_two_heartbeats(tmp_path, procs):
    reg, (node,) = start(tmp_path, procs)
    wait_until(lambda: node_view(reg).get("n1", {}).get("status") == "UP", timeout=5, what="n1 UP")
    assert reg.stop() == 0
    reg.start()  # same port, empty registry
    back = time.monotonic()
    wait_until(lambda: node_view(reg).get("n1", {}).get("status") == "UP", timeout=5, interval=0.05,
               what="n1 back after the registry restarted")
    # The next heartbeat gets 404 and registers at once: within two renewal intervals.
    assert time.monotonic() - back <= 2 * 1 + 0.3
