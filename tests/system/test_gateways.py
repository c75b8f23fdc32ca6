"""Several gateways over one cluster: each registers at the registries as app STATUS-GATEWAY
under its --advertise-url, GET /api/gateways lists every UP one (for the web client to move to
another), a stopped gateway deregisters, a killed one's lease runs out."""
import time

import pytest

import harness
from harness import wait_until


def gateways(gw):
    r = harness.request("GET", gw.url + "/api/gateways")
    assert r.status == 200, r
    assert r.header("cache-control") == "no-store"
    return [g["url"] for g in r.json()]


def registry_and_node(w, procs):
    """A registry and one node registered there: (the registry, its Eureka URL)."""
    reg = harness.registry(w)
    procs.append(reg)
    reg.start()
    registry = reg.url + "/eureka"
    n = harness.node(w, "n1", registry=registry)
    procs.append(n)
    n.start()
    return reg, registry


def test_gateways_register_and_list_each_other(tmp_path, procs):
    w = str(tmp_path)
    reg, registry = registry_and_node(w, procs)
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


def access_control(r):
    return {k: v for k, v in r.headers.items() if k.startswith("access-control-")}


def stream_head(url, headers):
    """The status and the header fields of GET /api/events (the stream itself is not read)."""
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", "/api/events", headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


EXPOSED = "X-Served-By, X-Request-Id, ETag, X-Total-Count, Link, Retry-After, X-Replicated, X-Event-Id"


def test_cors_for_the_clusters_gateways_only(tmp_path, procs):
    """The web client may move from one gateway to another (web/js/gateways.js): each gateway
    answers CORS for the origins of the gateways it lists, and for no other origin."""
    w = str(tmp_path)
    _, registry = registry_and_node(w, procs)
    a = harness.gateway(w, registry_url=registry, name="gwa")
    # b remembers a gone gateway's origin for 6 s here (default a day).
    b = harness.gateway(w, registry_url=registry, name="gwb", extra=["--gateway-origin-ttl", "6"])
    for g in (a, b):
        procs.append(g)
        g.start()
    for g in (a, b):
        wait_until(lambda: gateways(g) == sorted([a.url, b.url]), 10, what=f"{g.name} lists both")
        wait_until(lambda: harness.request("GET", g.url + "/api/services").json(), 10,
                   what=f"{g.name} knows the node")
    # Both lists are current; the policy follows the same poll (every 2 s).
    wait_until(lambda: a.url in harness.request("GET", b.url + "/").header(
        "content-security-policy"), 5, what="b's CSP lists a")

    # A preflight from a gateway of the cluster: answered by the gateway itself.
    r = harness.request("OPTIONS", b.url + "/api/statuses/alice",
                        headers={"Origin": a.url, "Access-Control-Request-Method": "PUT",
                                 "Access-Control-Request-Headers": "content-type, authorization"})
    assert r.status == 204, r
    assert r.header("access-control-allow-origin") == a.url
    assert r.header("access-control-allow-credentials") == "true"
    assert r.header("access-control-allow-methods") == "GET, HEAD, POST, PUT, DELETE, PATCH"
    assert r.header("access-control-allow-headers") == (
        "Content-Type, Authorization, If-Match, If-None-Match, X-Consistency, Last-Event-ID, "
        "traceparent")
    assert r.header("access-control-max-age") == "600"
    assert r.header("vary") == "Origin"
    assert r.header("x-served-by") is None, "not forwarded to a node"
    # From any other origin: refused, with nothing a browser could use.
    for evil in ("http://evil.example", f"http://127.0.0.1:{harness.free_port()}", "null",
                 a.url + ".evil.example", a.url.replace("http:", "https:")):
        r = harness.request("OPTIONS", b.url + "/api/statuses/alice",
                            headers={"Origin": evil, "Access-Control-Request-Method": "PUT"})
        assert r.status == 403, (evil, r)
        assert r.header("content-type") == "application/problem+json", r
        assert access_control(r) == {}, (evil, r.headers)

    # Actual requests from a's origin: the CORS fields on the node's answers and the gateway's own.
    r = harness.request("PUT", b.url + "/api/statuses/alice", {"statusText": "hello"},
                        headers={"Origin": a.url})
    assert r.status in (200, 201), r
    assert r.header("access-control-allow-origin") == a.url
    assert r.header("access-control-allow-credentials") == "true"
    assert r.header("access-control-expose-headers") == EXPOSED
    assert "Origin" in r.header("vary")
    for path in ("/api/statuses/alice", "/api/gateways", "/health", "/api/statuses/nobody"):
        r = harness.request("GET", b.url + path, headers={"Origin": a.url})
        assert r.header("access-control-allow-origin") == a.url, (path, r.headers)
        assert r.header("access-control-allow-credentials") == "true", path
    # The canonical form is what is matched (and named): scheme and host case, default ports.
    r = harness.request("GET", b.url + "/api/statuses/alice",
                        headers={"Origin": a.url.replace("http://", "HTTP://")})
    assert r.header("access-control-allow-origin") == a.url, r.headers
    # Another origin gets an ordinary answer without any CORS field.
    for evil in ("http://evil.example", "null", "*"):
        r = harness.request("GET", b.url + "/api/statuses/alice", headers={"Origin": evil})
        assert r.status == 200, r
        assert access_control(r) == {}, (evil, r.headers)
    r = harness.request("GET", b.url + "/api/statuses/alice")
    assert access_control(r) == {}, r.headers

    # The event stream's head too (it is passed through, not buffered).
    status, head = stream_head(b.url, {"Origin": a.url, "Accept": "text/event-stream"})
    assert status == 200 and head["content-type"].startswith("text/event-stream"), head
    assert head["access-control-allow-origin"] == a.url, head
    assert head["access-control-allow-credentials"] == "true", head
    assert head["access-control-expose-headers"] == EXPOSED, head
    status, head = stream_head(b.url, {"Origin": "http://evil.example"})
    assert status == 200 and not [k for k in head if k.startswith("access-control-")], head

    # The page's CSP: connect-src 'self' and the other gateway, the rest unchanged.
    csp = harness.request("GET", b.url + "/").header("content-security-policy")
    assert f"connect-src 'self' {a.url};" in csp, csp
    assert "default-src 'self'; script-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    csp_a = harness.request("GET", a.url + "/").header("content-security-policy")
    assert f"connect-src 'self' {b.url};" in csp_a, csp_a

    # A gateway gone from the list: no longer listed, but still an allowed origin for a while
    # (--gateway-origin-ttl), since the pages it served have moved to b and call from a's origin.
    assert a.stop() == 0
    wait_until(lambda: gateways(b) == [b.url], 10, what="a gone from b's list")
    gone = time.monotonic()
    r = harness.request("PUT", b.url + "/api/statuses/alice", {"statusText": "moved over"},
                        headers={"Origin": a.url})
    assert r.status in (200, 201) and r.header("access-control-allow-origin") == a.url, r
    # Then, the time over, refused.
    wait_until(lambda: harness.request("OPTIONS", b.url + "/api/statuses/alice", headers={
        "Origin": a.url, "Access-Control-Request-Method": "PUT"}).status == 403, 20,
        what="a's origin refused once its time is over")
    assert time.monotonic() - gone > 3, "refused too early"
    csp = harness.request("GET", b.url + "/").header("content-security-policy")
    assert "connect-src 'self';" in csp, csp


def test_the_advertised_name_is_an_allowed_host(tmp_path, procs):
    n = harness.node(str(tmp_path), "n1")
    procs.append(n)
    n.start()
    port = harness.free_port()
    g = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{n.port}"], port=port,
                        extra=["--advertise-url", f"http://gw-b.test:{port}"])
    procs.append(g)
    g.start()
    assert harness.request("GET", g.url + "/", headers={"Host": f"gw-b.test:{port}"}).status == 200
    assert harness.request("GET", g.url + "/", headers={"Host": f"gw-c.test:{port}"}).status == 421
    # Its own origin is the one its page calls it by.
    r = harness.request("GET", g.url + "/api/gateways", headers={"Origin": f"http://gw-b.test:{port}"})
    assert r.header("access-control-allow-origin") == f"http://gw-b.test:{port}", r.headers
