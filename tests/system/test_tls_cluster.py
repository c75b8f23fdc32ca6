"""TLS on every HTTP hop: registries, nodes and a gateway serving HTTPS, every client side
(gateway → nodes and registry, node → registry and peers, registry → registry, statusctl)
verifying the server's certificate and name against --tls-ca; the gateway's --redirect-port and
HSTS. Certificates come from scripts/tls-pki and the openssl command; a bad certificate (another
CA, another name, expired) is refused by each client side, seen by the server as a failed
handshake."""
import json
import os
import shutil
import ssl
import subprocess

import pytest

import harness
from harness import wait_until

ROOT = harness.ROOT
TLS_PKI = os.path.join(ROOT, "scripts", "tls-pki")


def run(*cmd, env=None):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The cluster's CA and certificates, and three bad ones: `other` (another CA), `elsewhere`
    (our CA, but naming only elsewhere.example) and `expired` (our CA, expired yesterday)."""
    if not shutil.which("openssl"):
        pytest.skip("no openssl command")
    d = tmp_path_factory.mktemp("pki")
    run(TLS_PKI, str(d), "registry", "registry2", "n1", "n2", "gateway")
    other = d / "other"
    run(TLS_PKI, str(other), "other")
    shutil.copy(other / "other.crt", d / "other.crt")
    shutil.copy(other / "other.key", d / "other.key")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for name, san, days, env in [
        ("elsewhere", "DNS:elsewhere.example", "30", None),
        ("expired", "DNS:localhost,IP:127.0.0.1", "1", harness.faketime_env("-3d")),
    ]:
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        run("openssl", "req", *ec, "-keyout", str(d / f"{name}.key"), "-out",
            str(d / f"{name}.csr"), "-subj", f"/CN={name}")
        run("openssl", "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"),
            "-CAkey", str(d / "ca.key"), "-set_serial", "77", "-days", days, "-extfile",
            str(d / f"{name}.ext"), "-out", str(d / f"{name}.crt"), env=env)
    out = subprocess.run(["openssl", "x509", "-in", str(d / "expired.crt"), "-noout",
                          "-checkend", "0"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "will expire" in out.stdout, "it really is expired"
    harness.trust(d / "ca.crt")
    yield d
    harness.trust(None)


def tls(pki, name):
    return ["--tls-cert", str(pki / f"{name}.crt"), "--tls-key", str(pki / f"{name}.key"),
            "--tls-ca", str(pki / "ca.crt")]


def handshake_failures(proc):
    """The server's count of failed TLS handshakes (read over a verified connection)."""
    r = harness.request("GET", proc.url + "/metrics")
    assert r.status == 200, r
    for line in r.body.decode().splitlines():
        if line.startswith("http_tls_handshake_failures_total"):
            return float(line.split()[-1])
    return 0.0


def test_every_hop_over_https(tmp_path, procs, broker, pki):
    w = str(tmp_path)
    r1_port, r2_port = harness.free_port(), harness.free_port()
    r1 = harness.registry(w, "registry", port=r1_port, peers=[f"https://localhost:{r2_port}/eureka"],
                          extra=tls(pki, "registry"))
    r2 = harness.registry(w, "registry2", port=r2_port, peers=[f"https://localhost:{r1_port}/eureka"],
                          extra=tls(pki, "registry2"))
    procs += [r1, r2]
    r1.start()
    r2.start()
    nodes = []
    for name in ("n1", "n2"):
        n = harness.node(w, name, amqp=broker.url, registry=r1.url + "/eureka", extra=tls(pki, name))
        procs.append(n)
        nodes.append(n)
        n.start(wait=False)
    for n in nodes:
        n.wait_ready()
    gw = harness.gateway(w, registry_url=r2.url + "/eureka", extra=tls(pki, "gateway"))
    procs.append(gw)
    gw.start()

    # Registered at registry 1 as secure instances, replicated to registry 2 over https.
    def registered(reg):
        r = harness.request("GET", reg.url + "/eureka/apps/STATUS-NODE",
                            headers={"Accept": "application/json"})
        if r.status != 200:
            return None
        inst = r.json()["application"]["instance"]
        return inst if len(inst) == 2 else None
    wait_until(lambda: registered(r1) and registered(r2), 15, what="both nodes at both registries")
    for inst in registered(r2):
        assert inst["securePort"]["@enabled"] == "true", inst
        assert inst["port"]["@enabled"] == "false", inst
        assert inst["homePageUrl"].startswith("https://"), inst
        assert inst["secureHealthCheckUrl"].startswith("https://"), inst

    # The gateway found them through registry 2, as https.
    def services():
        r = harness.request("GET", gw.url + "/api/services")
        return r.json() if r.status == 200 else []
    wait_until(lambda: len(services()) == 2, 15, what="the gateway lists both nodes")
    assert all(s["url"].startswith("https://") for s in services()), services()

    # A write through the gateway reaches both nodes; the nodes see each other as peers over
    # https (X-Consistency: all waits for every live peer).
    r = harness.put_status(gw.url, "alice", "over TLS end to end",
                           headers={"X-Consistency": "all"})
    assert r.status in (200, 201), r
    for n in nodes:
        got = harness.request("GET", n.url + "/api/statuses/alice")
        assert got.status == 200 and got.json()["statusText"] == "over TLS end to end", (n.name, got)
    assert json.loads(harness.request("GET", nodes[0].url + "/internal/state").body)["nodeId"]
    for p in (r1, r2, *nodes, gw):
        assert "certificate verify failed" not in p.log_text(), p.log_tail()

    # statusctl over https with the CA, and without it (the system store does not know ours).
    ctl = os.path.join(harness.BIN, "statusctl")
    ok = subprocess.run([ctl, "--gateway", gw.url, "--tls-ca", str(pki / "ca.crt"), "--json",
                         "get", "alice"], capture_output=True, text=True, timeout=20)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["statusText"] == "over TLS end to end"
    refused = subprocess.run([ctl, "--gateway", gw.url, "get", "alice"], capture_output=True,
                             text=True, timeout=20)
    assert refused.returncode != 0 and "certificate verify failed" in refused.stderr, refused


@pytest.mark.parametrize("bad", ["other", "elsewhere", "expired"])
def test_every_client_side_refuses_a_bad_certificate(tmp_path, procs, pki, bad):
    """A registry serving a bad certificate; each client side pointed at it fails its handshake
    (counted by that registry) and does not go on in the clear."""
    w = str(tmp_path)
    server = harness.registry(w, "bad", extra=["--tls-cert", str(pki / f"{bad}.crt"),
                                               "--tls-key", str(pki / f"{bad}.key")])
    procs.append(server)
    server.start(wait=False)
    # The test itself reads the bad server's counter: it trusts it for that, and only that.
    observer = ssl.create_default_context()
    observer.check_hostname = False
    observer.verify_mode = ssl.CERT_NONE

    def failures():
        import http.client
        c = http.client.HTTPSConnection("127.0.0.1", server.port, context=observer, timeout=5)
        try:
            c.request("GET", "/metrics")
            body = c.getresponse().read().decode()
        finally:
            c.close()
        return sum(float(x.split()[-1]) for x in body.splitlines()
                   if x.startswith("http_tls_handshake_failures_total"))
    wait_until(lambda: _answers(failures), 20, what="the bad registry is up")
    bad_url = f"https://localhost:{server.port}"
    bad_registry = bad_url + "/eureka"
    ca = ["--tls-ca", str(pki / "ca.crt")]

    clients = {
        "node → registry": lambda: harness.node(w, "c1", registry=bad_registry, extra=ca),
        "node → peer": lambda: harness.node(w, "c2", peers=[bad_url], extra=ca),
        "gateway → registry": lambda: harness.gateway(w, registry_url=bad_registry, extra=ca,
                                                      name="gw-reg"),
        "gateway → node": lambda: harness.gateway(w, upstreams=[bad_url], extra=ca,
                                                  name="gw-up"),
        "registry → peer": lambda: harness.registry(w, "reg-peer", peers=[bad_registry],
                                                    extra=ca),
    }
    for what, make in clients.items():
        before = failures()
        client = make()
        procs.append(client)
        # A node that cannot ask its registry does not become ready (503): not waited for.
        client.start(wait=False)
        client.wait_ready(statuses=(200, 503))
        if what == "gateway → node":
            r = harness.request("GET", client.url + "/api/statuses")
            assert r.status in (502, 503), (what, r)
        if what == "registry → peer":
            # A registration at it is replicated to the bad peer: that attempt must fail.
            harness.request("POST", client.url + "/eureka/apps/X", {"instance": {
                "instanceId": "x1", "hostName": "127.0.0.1", "app": "X", "ipAddr": "127.0.0.1",
                "status": "UP", "port": {"$": 1, "@enabled": "true"},
                "dataCenterInfo": {"name": "MyOwn"}}})
        wait_until(lambda: failures() > before, 15, what=f"{what}: the handshake refused")
        assert client.running(), client.log_tail()
        client.stop()
    # Nothing was registered at the bad registry.
    body = _get_insecure(server.port, "/eureka/apps", observer)
    assert "c1" not in body
    # statusctl too.
    before = failures()
    out = subprocess.run([os.path.join(harness.BIN, "statusctl"), "--gateway", bad_url,
                          *ca, "get", "alice"], capture_output=True, text=True, timeout=20)
    assert out.returncode != 0 and "certificate verify failed" in out.stderr, out
    wait_until(lambda: failures() > before, 5, what="statusctl: the handshake refused")


def _answers(fn):
    try:
        fn()
        return True
    except OSError:
        return False


def _get_insecure(port, path, ctx):
    import http.client
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        c.request("GET", path, headers={"Accept": "application/json"})
        return c.getresponse().read().decode()
    finally:
        c.close()


def test_gateway_redirects_plain_http_and_sends_hsts(tmp_path, procs, pki):
    w = str(tmp_path)
    n = harness.node(w, "r1", extra=tls(pki, "n1"))
    procs.append(n)
    n.start()
    redirect_port = harness.free_port()
    gw = harness.gateway(w, upstreams=[f"https://localhost:{n.port}"],
                         extra=tls(pki, "gateway") + ["--redirect-port", str(redirect_port)])
    procs.append(gw)
    gw.start()
    plain = f"http://127.0.0.1:{redirect_port}"
    r = harness.request("GET", plain + "/api/statuses?limit=5&q=a")
    assert r.status == 308, r
    assert r.header("location") == f"https://127.0.0.1:{gw.port}/api/statuses?limit=5&q=a"
    assert r.header("strict-transport-security") is None
    r = harness.request("PUT", plain + "/api/statuses/bob", {"statusText": "x"})
    assert r.status == 308 and r.header("location").endswith("/api/statuses/bob"), r
    r = harness.request("GET", f"http://localhost:{redirect_port}/")
    assert r.status == 308 and r.header("location") == f"https://localhost:{gw.port}/", r
    # /health stays plain (probes of load balancers), other hosts are refused as on HTTPS.
    assert harness.request("GET", plain + "/health").status == 200
    assert harness.request("GET", plain + "/", headers={"Host": "evil.example"}).status == 421
    # Over HTTPS: HSTS on every answer, the proxied ones included.
    for path in ("/health", "/api/statuses", "/"):
        r = harness.request("GET", gw.url + path)
        assert r.header("strict-transport-security") == "max-age=31536000", (path, r.headers)
    # Nothing was written by the redirected PUT.
    assert harness.request("GET", n.url + "/api/statuses/bob").status == 404
    # --redirect-port without TLS is a configuration error.
    out = subprocess.run([os.path.join(harness.BIN, "status-gateway"), "--port", "0",
                          "--upstream", "127.0.0.1:1", "--redirect-port", str(redirect_port)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2 and "--redirect-port needs --tls-cert" in out.stderr, out
