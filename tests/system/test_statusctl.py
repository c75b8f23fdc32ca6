"""statusctl against the real system: a node behind the real gateway (or the node alone when the
gateway is not built; statusctl works against any base URL serving the API)."""
import json
import os
import subprocess

import pytest

import harness
from harness import request

CTL = os.path.join(harness.BIN, "statusctl")
HAVE_GATEWAY = os.path.exists(os.path.join(harness.BIN, "status-gateway"))

pytestmark = pytest.mark.skipif(not os.path.exists(CTL), reason="statusctl is not built")


def ctl(base, *args, env=None, timeout=20):
    e = {k: v for k, v in os.environ.items() if not k.startswith("STATUS_")}
    e.update(env or {})
    cmd = [CTL] + (["--gateway", base] if base else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e)


@pytest.fixture
def system(tmp_path, procs):
    """(base URL statusctl talks to, the node's Proc, the gateway's Proc or None)."""
    n = harness.node(str(tmp_path), "c1")
    procs.append(n)
    n.start()
    if not HAVE_GATEWAY:
        return n.url, n, None
    g = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{n.port}"])
    procs.append(g)
    g.start()
    harness.wait_until(lambda: request("GET", g.url + "/api/statuses").status == 200, 10,
                       what="the gateway to route to the node")
    return g.url, n, g


def test_help_and_usage_errors():
    r = ctl(None, "--help")
    assert r.returncode == 0
    for word in ("set USER", "get USER", "list", "delete USER", "watch", "nodes", "--gateway",
                 "STATUS_GATEWAY", "--json", "Exit codes"):
        assert word in r.stdout, word
    for args in ([], ["frobnicate"], ["get"], ["get", "a", "b"], ["set", "alice"],
                 ["set", "alice", "x", "--lat", "1"], ["set", "alice", "x", "--lat", "91", "--lon", "0"],
                 ["set", "alice", "x", "--lat", "north", "--lon", "0"], ["list", "--limit", "0"],
                 ["get", "alice", "--no-such-flag"], ["get", "alice", "--gateway", "ftp://x"]):
        r = ctl("http://127.0.0.1:9", *args)
        assert r.returncode == 2, (args, r)
        assert r.stderr.startswith("statusctl: "), (args, r.stderr)
        assert r.stderr.count("\n") == 1, (args, r.stderr)


def test_unreachable_is_exit_3():
    port = harness.free_port()  # nobody listens there
    for args in (["get", "alice"], ["list"], ["set", "alice", "x"], ["delete", "alice"], ["watch"],
                 ["nodes"]):
        r = ctl(f"http://127.0.0.1:{port}", *args)
        assert r.returncode == 3, (args, r)
        assert "cannot reach" in r.stderr


def test_set_get_list_delete(system):
    base, node, _ = system
    r = ctl(base, "set", "ctl.alice", "In a meeting", "until", "3", "--lat", "-48.2082", "--lon", "16.3738")
    assert r.returncode == 0, r
    assert r.stdout.startswith("created ctl.alice (served by c1)")
    assert "In a meeting until 3" in r.stdout and "-48.2082, 16.3738" in r.stdout

    stored = request("GET", node.url + "/api/statuses/ctl.alice").json()
    assert stored["statusText"] == "In a meeting until 3"
    assert (stored["latitude"], stored["longitude"]) == (-48.2082, 16.3738)

    r = ctl(base, "set", "ctl.alice", "Lunch", "--time", "2026-01-02T03:04:05+01:00")
    assert r.returncode == 0 and r.stdout.startswith("updated ctl.alice"), r
    r = ctl(base, "get", "ctl.alice", "--json")
    assert r.returncode == 0, r
    got = json.loads(r.stdout)
    assert got["statusText"] == "Lunch" and got["time"].startswith("2026-01-02T02:04:05")
    r = ctl(base, "get", "ctl.alice")
    assert r.returncode == 0 and "Lunch" in r.stdout and "version" in r.stdout

    ctl(base, "set", "ctl.bob", "ünïcode ✓ text")
    r = ctl(base, "list")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["USER", "TIME", "LOCATION", "STATUS"]
    assert any(l.startswith("ctl.bob") and "ünïcode ✓ text" in l for l in lines)
    assert lines[-1] == "2 shown of 2"
    r = ctl(base, "list", "--limit", "1", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 1

    r = ctl(base, "delete", "ctl.bob")
    assert r.returncode == 0 and r.stdout.startswith("deleted ctl.bob"), r
    r = ctl(base, "get", "ctl.bob")
    assert r.returncode == 1 and "404" in r.stderr, r
    assert ctl(base, "delete", "ctl.bob").returncode == 1


def test_server_refusal_is_exit_2_and_env_gives_the_url(system):
    base, _, _ = system
    r = ctl(None, "set", "not valid!", "x", env={"STATUS_GATEWAY": base})
    assert r.returncode == 2, r
    assert "400" in r.stderr and "username" in r.stderr
    r = ctl(None, "set", "ctl.carol", "x" * 1001, env={"STATUS_GATEWAY": base})
    assert r.returncode == 2, r
    r = ctl(None, "get", "ctl.nobody", env={"STATUS_GATEWAY": base})
    assert r.returncode == 1, r


def watcher(base, node, *args):
    """statusctl watch, returned once the node counts it as a subscriber."""
    w = subprocess.Popen([CTL, "--gateway", base, "watch", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)

    def subscribed():
        assert w.poll() is None, w.communicate()
        m = request("GET", node.url + "/metrics").body.decode()
        return any(l.startswith("status_event_subscribers ") and float(l.split()[1]) >= 1
                   for l in m.splitlines())
    harness.wait_until(subscribed, 10, what="the watcher to subscribe")
    return w


def finish(w):
    try:
        return w.communicate(timeout=15)
    finally:
        if w.poll() is None:
            w.kill()
            w.wait(5)


def test_watch_prints_every_change(system):
    base, node, _ = system
    w = watcher(base, node, "--json", "--count", "2")
    assert ctl(base, "set", "ctl.dave", "watch me").returncode == 0
    assert ctl(base, "delete", "ctl.dave").returncode == 0
    out, err = finish(w)
    assert w.returncode == 0, err
    events = [json.loads(l) for l in out.splitlines()]
    assert [e["event"] for e in events] == ["upsert", "delete"], out
    assert events[0]["data"]["statusText"] == "watch me"
    assert events[1]["data"]["username"] == "ctl.dave"


def test_watch_human_readable(system):
    base, node, _ = system
    w = watcher(base, node, "--count", "1")
    assert ctl(base, "set", "ctl.erin", "hello", "--lat", "1.5", "--lon", "2").returncode == 0
    out, err = finish(w)
    assert w.returncode == 0, err
    assert out.startswith("upsert ctl.erin "), out
    assert "(1.5, 2)" in out and out.rstrip().endswith("hello")


def test_watch_ends_with_exit_3_when_the_stream_ends(system):
    base, node, _ = system
    w = watcher(node.url, node)
    node.stop()
    _, err = finish(w)
    assert w.returncode == 3 and "closed" in err


@pytest.mark.skipif(not HAVE_GATEWAY, reason="status-gateway is not built")
def test_nodes_through_the_gateway(system):
    base, node, _ = system
    r = ctl(base, "nodes", "--json")
    assert r.returncode == 0, r
    services = json.loads(r.stdout)
    assert any(s["url"].endswith(f":{node.port}") for s in services), services
    r = ctl(base, "nodes")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].split()[:3] == ["INSTANCE", "URL", "STATUS"]
    # A node has no /api/services: said clearly, exit 1.
    r = ctl(node.url, "nodes")
    assert r.returncode == 1 and "gateway" in r.stderr


@pytest.mark.skipif(not HAVE_GATEWAY, reason="status-gateway is not built")
def test_no_node_behind_the_gateway_is_exit_3(tmp_path, procs):
    dead = harness.free_port()
    g = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{dead}"])
    procs.append(g)
    g.start(ready_status=(200, 503))
    r = ctl(g.url, "get", "alice")
    assert r.returncode == 3, r
