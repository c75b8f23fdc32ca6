"""status-registry with --credentials-file (contract §6 "Registry", security review F2, F7, F15,
F20, F23): HTTP Basic on every write (and on reads with --protect-reads), no takeover of another
user's instance, peers with credentials in their URLs, real status-node and status-gateway
processes taking the credentials from the registry URL in their environment, and no password in
any log or command line. Real processes throughout."""
import os
import subprocess

import pytest

import harness
from harness import request, wait_until

JSON = {"Accept": "application/json", "Content-Type": "application/json"}
# Generated-looking passwords, distinct enough to grep for in logs and command lines.
USERS = {"node": "node-pw-5b8e2c", "other": "other-pw-91d0aa", "peer": "peer-pw-c4f7e1",
         "gw": "gw-pw-0e6d3b"}
SECRETS = list(USERS.values())


def instance(iid, app="ORDERS", host="127.0.0.1", port=8080, **extra):
    """What a Java (Spring) client sends when it registers."""
    doc = {"instanceId": iid, "hostName": host, "app": app, "ipAddr": host, "status": "UP",
           "port": {"$": port, "@enabled": "true"},
           "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                              "name": "MyOwn"},
           "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90}}
    doc.update(extra)
    return {"instance": doc}


def base(reg, who=None):
    """The registry's Eureka URL, with `who`'s credentials in its userinfo."""
    if who is None:
        return reg.url + "/eureka"
    password = USERS.get(who, "wrong-password")
    return f"http://{who}:{password}@127.0.0.1:{reg.port}/eureka"


def start(tmp_path, procs, name="registry", **kw):
    kw.setdefault("users", USERS)
    reg = harness.registry(str(tmp_path), name=name, **kw)
    procs.append(reg)
    return reg.start()


def writes(iid="a"):
    """Every write route, as (method, path below /eureka, body)."""
    return [("POST", "/apps/ORDERS", instance(iid)),
            ("PUT", f"/apps/ORDERS/{iid}?status=UP", None),
            ("PUT", f"/apps/ORDERS/{iid}/status?value=OUT_OF_SERVICE", None),
            ("DELETE", f"/apps/ORDERS/{iid}/status", None),
            ("PUT", f"/apps/ORDERS/{iid}/metadata?zone=a", None),
            ("DELETE", f"/apps/ORDERS/{iid}", None)]


def app_instances(reg, app, who=None):
    r = request("GET", f"{base(reg, who)}/apps/{app}", headers={"Accept": "application/json"},
                timeout=2)
    if r.status == 404:
        return {}
    assert r.status == 200, r
    return {i["instanceId"]: i for i in r.json()["application"]["instance"]}


def assert_no_secret_in(text, where):
    for secret in SECRETS:
        assert secret not in text, f"a password appears in {where}"


def assert_no_secret_in_logs(*procs):
    for p in procs:
        with open(p.log_path, errors="replace") as f:
            assert_no_secret_in(f.read(), p.log_path)


def assert_no_secret_on_command_lines(*procs):
    for p in procs:
        with open(f"/proc/{p.p.pid}/cmdline", "rb") as f:
            assert_no_secret_in(f.read().decode(errors="replace"), f"{p.name}'s command line")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=10).stdout
    assert_no_secret_in(ps, "ps output")


# --- writes and reads ----------------------------------------------------------------------------

def test_every_write_needs_valid_credentials(tmp_path, procs):
    reg = start(tmp_path, procs)
    assert request("POST", base(reg, "node") + "/apps/ORDERS", instance("a"), JSON).status == 204
    for method, path, body in writes():
        for who in (None, "nobody"):
            r = request(method, base(reg, who) + path, body, JSON)
            assert r.status == 401, (method, path, who, r)
            assert r.header("WWW-Authenticate") == 'Basic realm="eureka"'
            assert r.header("Content-Type") == "application/problem+json"
        wrong = f"http://node:{USERS['other']}@127.0.0.1:{reg.port}/eureka"
        assert request(method, wrong + path, body, JSON).status == 401, (method, path)
    # Nothing changed: still there, UP, without metadata.
    a = app_instances(reg, "ORDERS")["a"]
    assert a["status"] == "UP" and "zone" not in a["metadata"]
    # The same calls with the right credentials, each answered as Eureka answers it.
    answers = [request(m, base(reg, "node") + p, b, JSON).status for m, p, b in writes()]
    assert answers == [204, 200, 200, 200, 200, 200]
    assert app_instances(reg, "ORDERS") == {}
    assert_no_secret_in_logs(reg)


def test_reads_are_open_unless_protect_reads(tmp_path, procs):
    reg = start(tmp_path, procs)
    request("POST", base(reg, "node") + "/apps/ORDERS", instance("a"), JSON)
    for path in ("/eureka/apps", "/eureka/apps/ORDERS", "/eureka/apps/delta", "/", "/metrics",
                 "/health"):
        assert request("GET", reg.url + path).status == 200, path
    reg.stop()
    guarded = start(tmp_path, procs, name="guarded", extra=["--protect-reads"])
    request("POST", base(guarded, "node") + "/apps/ORDERS", instance("a"), JSON)
    for path in ("/eureka/apps", "/eureka/v2/apps", "/eureka/apps/ORDERS", "/eureka/apps/ORDERS/a",
                 "/eureka/apps/delta", "/", "/metrics"):
        r = request("GET", guarded.url + path)
        assert r.status == 401 and r.header("WWW-Authenticate") == 'Basic realm="eureka"', path
        auth = f"http://other:{USERS['other']}@127.0.0.1:{guarded.port}{path}"
        assert request("GET", auth).status == 200, path
    assert request("GET", guarded.url + "/health").status == 200, "probes need no credentials"


def test_no_takeover_of_another_users_instance(tmp_path, procs):
    reg = start(tmp_path, procs)
    assert request("POST", base(reg, "node") + "/apps/ORDERS", instance("a"), JSON).status == 204
    # The review's attack (F2 b): the same id, another host, with credentials of another user.
    hijack = instance("a", host="10.6.6.6", port=9999, lastDirtyTimestamp="99999999999999")
    r = request("POST", base(reg, "other") + "/apps/ORDERS", hijack, JSON)
    assert r.status == 409, r
    assert "other credentials" in r.json()["detail"]
    for method, path, body in writes():
        assert request(method, base(reg, "other") + path, hijack if body else None,
                       JSON).status == 409, (method, path)
    a = app_instances(reg, "ORDERS")["a"]
    assert (a["hostName"], a["status"]) == ("127.0.0.1", "UP")
    # Its owner may register again and change it; another id is free for anyone.
    assert request("POST", base(reg, "node") + "/apps/ORDERS", instance("a", port=8088),
                   JSON).status == 204
    assert app_instances(reg, "ORDERS")["a"]["port"]["$"] == 8088
    assert request("POST", base(reg, "other") + "/apps/ORDERS", instance("b"), JSON).status == 204
    # The replication header does not make a client a peer (nor hide its change from the peers).
    r = request("PUT", base(reg, "other") + "/apps/ORDERS/a/status?value=OUT_OF_SERVICE",
                headers={"x-netflix-discovery-replication": "true"})
    assert r.status == 403, r
    assert app_instances(reg, "ORDERS")["a"]["status"] == "UP"


@pytest.mark.parametrize("content, mode, expected", [
    (None, 0o600, "cannot read credentials file"),
    ("node:pw\n", 0o644, "is accessible to every user of the machine; chmod 600 it"),
    ("node:pw\nhunter2-without-a-user\n", 0o600, "line 2: expected user:password"),
    ("node:hunter2\nnode:hunter3\n", 0o600, "line 2: user node appears twice"),
    ("# only a comment\n", 0o600, "no user:password line"),
])
def test_unusable_credentials_file_is_one_line_and_exit_2(tmp_path, content, mode, expected):
    path = tmp_path / "credentials"
    if content is not None:
        path.write_text(content)
        path.chmod(mode)
    r = subprocess.run([os.path.join(harness.BIN, "status-registry"), "--port", "0",
                        "--credentials-file", str(path)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], r.stderr
    assert "hunter" not in r.stderr


def test_protect_reads_without_credentials_is_a_configuration_error():
    r = subprocess.run([os.path.join(harness.BIN, "status-registry"), "--port", "0",
                        "--protect-reads"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_open_registry_warns_and_a_group_readable_file_too(tmp_path, procs):
    reg = harness.registry(str(tmp_path), name="open")
    procs.append(reg)
    reg.start()
    assert "event=registry_open" in open(reg.log_path).read()
    reg.stop()
    path = tmp_path / "group-readable"
    path.write_text("node:pw-group\n")
    path.chmod(0o640)
    guarded = harness.registry(str(tmp_path), name="guarded",
                               extra=["--credentials-file", str(path)])
    procs.append(guarded)
    guarded.start()
    log = open(guarded.log_path).read()
    assert "event=registry_open" not in log
    assert "is readable by its group" in log and "pw-group" not in log


def test_credentials_file_from_the_environment(tmp_path, procs):
    path = tmp_path / "creds"
    path.write_text("node:env-pw\n")
    path.chmod(0o600)
    reg = harness.registry(str(tmp_path), env={"STATUS_CREDENTIALS_FILE": str(path)})
    procs.append(reg)
    reg.start()
    assert request("POST", reg.url + "/eureka/apps/ORDERS", instance("a"), JSON).status == 401
    assert request("POST", f"http://node:env-pw@127.0.0.1:{reg.port}/eureka/apps/ORDERS",
                   instance("a"), JSON).status == 204


# --- peers ---------------------------------------------------------------------------------------

def test_peers_replicate_with_the_credentials_of_their_urls(tmp_path, procs):
    pa, pb = harness.free_port(), harness.free_port()
    peer_url = lambda port, pw=USERS["peer"]: f"http://peer:{pw}@127.0.0.1:{port}/eureka"
    # Peer URLs with passwords through the environment (STATUS_PEER), not the command line.
    a = start(tmp_path, procs, name="a", port=pa, env={"STATUS_PEER": peer_url(pb)})
    b = start(tmp_path, procs, name="b", port=pb, env={"STATUS_PEER": peer_url(pa)})
    assert request("POST", base(a, "node") + "/apps/ORDERS", instance("a"), JSON).status == 204
    wait_until(lambda: "a" in app_instances(b, "ORDERS"), 5, what="replicated to b")
    # The node fails over to b: its own credentials work there, nobody else's.
    assert request("PUT", base(b, "node") + "/apps/ORDERS/a").status == 200
    assert request("PUT", base(b, "other") + "/apps/ORDERS/a").status == 409
    assert request("POST", base(b, "other") + "/apps/ORDERS", instance("a"), JSON).status == 409
    assert request("PUT", base(b, "node") + "/apps/ORDERS/a/status?value=OUT_OF_SERVICE").status == 200
    wait_until(lambda: app_instances(a, "ORDERS")["a"]["status"] == "OUT_OF_SERVICE", 5,
               what="b's change replicated back to a")
    # A registry whose peer URL has the wrong password replicates nothing, and says so.
    c = start(tmp_path, procs, name="c", env={"STATUS_PEER": peer_url(pb, "wrong-pw")})
    assert request("POST", base(c, "node") + "/apps/ORDERS", instance("c1"), JSON).status == 204
    wait_until(lambda: "event=replication_refused" in open(c.log_path).read(), 5,
               what="c reports the refusal")
    assert "c1" not in app_instances(b, "ORDERS")
    # A restarted peer copies the registry, owners included.
    b.stop()
    b2 = start(tmp_path, procs, name="b2", port=pb, env={"STATUS_PEER": peer_url(pa)})
    assert "a" in app_instances(b2, "ORDERS")
    assert request("PUT", base(b2, "other") + "/apps/ORDERS/a").status == 409
    assert request("PUT", base(b2, "node") + "/apps/ORDERS/a").status == 200
    assert_no_secret_in_logs(a, b, c, b2)
    assert_no_secret_on_command_lines(a, c, b2)


# --- real nodes and gateways ---------------------------------------------------------------------

def test_node_and_gateway_use_credentials_from_the_registry_url_in_their_environment(
        tmp_path, procs):
    reg = start(tmp_path, procs, extra=["--protect-reads"])
    node_url = base(reg, "node")
    n1 = harness.node(str(tmp_path), "n1", env={"STATUS_REGISTRY_URL": node_url})
    procs.append(n1)
    n1.start()
    wait_until(lambda: app_instances(reg, "STATUS-NODE", "gw").get("n1", {}).get("status") == "UP",
               10, what="n1 UP in the registry")
    # The gateway reads the registry (protected here) with its own credentials.
    gw = harness.gateway(str(tmp_path), env={"STATUS_REGISTRY_URL": base(reg, "gw")})
    procs.append(gw)
    gw.start()
    wait_until(lambda: [s["instanceId"] for s in request("GET", gw.url + "/api/services").json()]
               == ["n1"], 10, what="the gateway discovers n1")
    r = request("GET", gw.url + "/api/statuses")
    assert r.status == 200 and r.header("X-Served-By") == "n1", r
    # Nobody else can take the node's id, even with valid credentials of their own.
    assert request("POST", base(reg, "other") + "/apps/STATUS-NODE",
                   instance("n1", app="STATUS-NODE", port=9), JSON).status == 409
    assert_no_secret_on_command_lines(reg, n1, gw)
    # A graceful stop deregisters with the same credentials.
    assert n1.stop() == 0
    assert "n1" not in app_instances(reg, "STATUS-NODE", "gw")
    assert gw.stop() == 0
    assert_no_secret_in_logs(reg, n1, gw)


def test_node_with_wrong_or_no_credentials_is_refused_and_says_why(tmp_path, procs):
    reg = start(tmp_path, procs)
    wrong = f"http://node:{USERS['other']}@127.0.0.1:{reg.port}/eureka"
    n1 = harness.node(str(tmp_path), "n1", env={"STATUS_REGISTRY_URL": wrong})
    n2 = harness.node(str(tmp_path), "n2", registry=base(reg))
    procs.extend([n1, n2])
    n1.start()
    n2.start()
    for n in (n1, n2):
        wait_until(lambda: "event=eureka_register_refused" in open(n.log_path).read(), 10,
                   what=f"{n.name} logs the refusal")
        assert "status=401" in open(n.log_path).read()
    assert app_instances(reg, "STATUS-NODE") == {}
    assert_no_secret_in_logs(n1, n2, reg)


def test_a_bad_registry_url_is_reported_without_its_password(tmp_path):
    for binary in ("status-node", "status-gateway"):
        r = subprocess.run([os.path.join(harness.BIN, binary), "--port", "0", "--data-dir",
                            str(tmp_path / "d")] if binary == "status-node" else
                           [os.path.join(harness.BIN, binary), "--port", "0"],
                           capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, STATUS_REGISTRY_URL="ftp://node:s3cr3t-x@h/eureka"))
        assert r.returncode != 0, (binary, r)
        assert "s3cr3t-x" not in r.stderr and "node:***@" in r.stderr, (binary, r.stderr)


def test_statusctl_never_prints_the_password_of_its_url():
    r = subprocess.run([os.path.join(harness.BIN, "statusctl"), "get", "alice", "--timeout-ms",
                        "500"], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, STATUS_GATEWAY="http://u:s3cr3t-y@127.0.0.1:1"))
    assert r.returncode == 3, r
    assert "s3cr3t-y" not in r.stderr + r.stdout and "u:***@127.0.0.1:1" in r.stderr, r.stderr


# --- bounds (F7), the dashboard (F20), metrics labels (F15) ----------------------------------------

def test_metadata_and_capacity_are_bounded(tmp_path, procs):
    reg = start(tmp_path, procs, users=None, extra=["--max-instances", "3"])
    assert request("POST", base(reg) + "/apps/STATUS-NODE", instance("n1", app="STATUS-NODE"),
                   JSON).status == 204
    # The review's repro, bounded: PUT …/metadata?k{i}=<7000 bytes> a few hundred times.
    answers = {}
    for i in range(300):
        r = request("PUT", f"{base(reg)}/apps/STATUS-NODE/n1/metadata?k{i}=" + "A" * 1900)
        answers[r.status] = answers.get(r.status, 0) + 1
    assert answers.get(413, 0) > 280 and set(answers) == {200, 413}, answers
    doc = request("GET", base(reg) + "/apps/STATUS-NODE", headers={"Accept": "application/json"})
    assert len(doc.body) < 20_000, len(doc.body)
    big = instance("n2", app="STATUS-NODE", homePageUrl="http://h/" + "x" * 5000)
    r = request("POST", base(reg) + "/apps/STATUS-NODE", big, JSON)
    assert r.status == 413 and "homePageUrl" in r.json()["detail"], r
    for iid in ("n2", "n3"):
        assert request("POST", base(reg) + "/apps/STATUS-NODE", instance(iid, app="STATUS-NODE"),
                       JSON).status == 204
    r = request("POST", base(reg) + "/apps/STATUS-NODE", instance("n4", app="STATUS-NODE"), JSON)
    assert r.status == 507 and "at most 3 instances" in r.json()["detail"], r


def test_dashboard_shows_a_javascript_url_as_text_only(tmp_path, procs):
    reg = start(tmp_path, procs, users=None)
    evil = "javascript:fetch(\"/eureka/apps/STATUS-NODE/n1/status?value=OUT_OF_SERVICE\",{method:\"PUT\"})"
    assert request("POST", base(reg) + "/apps/EVIL", instance("x", app="EVIL", host="x",
                   homePageUrl=evil), JSON).status == 204
    assert request("POST", base(reg) + "/apps/GOOD", instance("g", app="GOOD",
                   homePageUrl="http://127.0.0.1:8081/"), JSON).status == 204
    r = request("GET", reg.url + "/")
    html = r.body.decode()
    assert 'href="javascript' not in html.lower()
    assert "javascript:fetch(&quot;" in html, "shown, escaped, as text"
    assert '<a href="http://127.0.0.1:8081/"' in html
    assert "default-src 'none'" in r.header("Content-Security-Policy")


def test_gateway_metrics_escape_instance_ids_from_the_registry(tmp_path, procs):
    reg = start(tmp_path, procs, users=None)
    # A line break in an id is refused by the registry itself (review F21)...
    assert request("POST", base(reg) + "/apps/STATUS-NODE",
                   instance('p"} 1\nfake_metric{x="y', app="STATUS-NODE", status="DOWN", port=9),
                   JSON).status == 400
    # ...and what it lets through is escaped in the gateway's labels (F15).
    forged = 'p"} 1 fake_metric{x="y\\'
    assert request("POST", base(reg) + "/apps/STATUS-NODE",
                   instance(forged, app="STATUS-NODE", status="DOWN", port=9), JSON).status == 204
    gw = harness.gateway(str(tmp_path), registry_url=base(reg))
    procs.append(gw)
    gw.start()
    def scraped():
        text = request("GET", gw.url + "/metrics").body.decode()
        return text if "gateway_upstream_healthy{" in text else None
    text = wait_until(scraped, 10, what="the instance in the gateway's metrics")
    assert not any(line.startswith("fake_metric") for line in text.splitlines()), text
    assert 'instance="p\\"} 1 fake_metric{x=\\"y\\\\"' in text, text
