"""Several gateways over one cluster: each registers at the registries as app STATUS-GATEWAY
under its --advertise-url, GET /api/gateways lists every UP one (for the web client to move to
another), a stopped gateway deregisters, a killed one's lease runs out."""
import pytest

import harness
from harness import wait_until


def gateways(gw):
    r = harness.request("GET", gw.url + "/api/gateways")
    assert r.status == 200, r
    assert r.header("cache-control") == "no-store"
    return [g["url"] for g in r.json()]


def test_gateways_register_and_list_each_other(tmp_path, procs):
    w = str(tmp_path)
    reg = harness.registry(w)
    procs.append(reg)
    reg.start()
    registry = reg.url + "/eureka"
    n = harness.node(w, "n1", registry=registry)
    procs.append(n)
    n.start()
    ports = [harness.free_port() for _ in range(3)]
    gws = []
    for i, port in enumerate(ports):
        extra = []
        if i == 2:  # behind a name of its own, as a load balancer or DNS would give it
            extra = ["--advertise-url", f"http://localhost:{port}"]
        g = harness.gateway(w, registry_url=registry, port=port, name=f"gw{i}", extra=extra)
        procs.append(g)
        g.start()
        gws.append(g)
    expected = sorted([f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}",
                       f"http://localhost:{ports[2]}"])
    for g in gws:
        wait_until(lambda: gateways(g) == expected, 10, what=f"{g.name} lists all three")
    r = harness.request("GET", reg.url + "/eureka/apps/STATUS-GATEWAY",
                        headers={"Accept": "application/json"})
    assert r.status == 200 and len(r.json()["application"]["instance"]) == 3, r
    # The nodes' list is not mixed with the gateways'.
    services = harness.request("GET", gws[0].url + "/api/services").json()
    assert [s["instanceId"] for s in services] == ["n1"], services

    # A gateway that stops deregisters at once; one killed is gone when its lease runs out.
    assert gws[1].stop() == 0
    wait_until(lambda: f"http://127.0.0.1:{ports[1]}" not in gateways(gws[0]), 5,
               what="the stopped gateway is gone from the list")
    gws[2].kill()
    wait_until(lambda: gateways(gws[0]) == [f"http://127.0.0.1:{ports[0]}"], 15,
               what="the killed gateway's lease ran out")


def test_a_gateway_without_registry_lists_itself(tmp_path, procs):
    n = harness.node(str(tmp_path), "n1")
    procs.append(n)
    n.start()
    g = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{n.port}"])
    procs.append(g)
    g.start()
    assert gateways(g) == [f"http://127.0.0.1:{g.port}"]


def test_a_bad_advertise_url_is_a_configuration_error(tmp_path):
    import subprocess
    import os
    out = subprocess.run([os.path.join(harness.BIN, "status-gateway"), "--port", "0",
                          "--upstream", "127.0.0.1:1", "--advertise-url", "javascript:alert(1)"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2 and "--advertise-url" in out.stderr, out
