"""status-registry over HTTP (contract section 5, issue 4): Eureka's REST API with exactly the
bodies real clients send, leases and eviction, peer replication, restarts. Real processes."""
import os
import socket
import subprocess
import threading
import time

import harness
from harness import request, wait_until

JSON = {"Accept": "application/json", "Content-Type": "application/json"}
REPLICA = {"x-netflix-discovery-replication": "true"}

# eureka-js-client (src/EurekaClient.js): POST {app} with {instance: config.instance}, where the
# config is the README's example and register() sets status 'UP'. No instanceId (the id is the
# hostName), port as {'$', '@enabled'} with a boolean, no leaseInfo.
JS_CLIENT_INSTANCE = {
    "app": "jqservice",
    "hostName": "localhost",
    "ipAddr": "127.0.0.1",
    "port": {"$": 8080, "@enabled": True},
    "vipAddress": "jq.test.something.com",
    "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                       "name": "MyOwn"},
    "status": "UP",
}


def java_client_instance(instance_id="host1:orders:8080", app="ORDERS", renewal=30, duration=90,
                         dirty="1700000000001"):
    """What the Eureka Java client (Spring Cloud Netflix) sends when it registers."""
    return {
        "instanceId": instance_id, "hostName": "127.0.0.1", "app": app, "ipAddr": "127.0.0.1",
        "status": "UP", "overriddenStatus": "UNKNOWN",
        "port": {"$": 8080, "@enabled": "true"}, "securePort": {"$": 443, "@enabled": "false"},
        "countryId": 1,
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                           "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": renewal, "durationInSecs": duration,
                      "registrationTimestamp": 0, "lastRenewalTimestamp": 0,
                      "evictionTimestamp": 0, "serviceUpTimestamp": 0},
        "metadata": {"management.port": "8080"},
        "homePageUrl": "http://127.0.0.1:8080/", "statusPageUrl": "http://127.0.0.1:8080/actuator/info",
        "healthCheckUrl": "http://127.0.0.1:8080/actuator/health",
        "vipAddress": app.lower(), "secureVipAddress": app.lower(),
        "isCoordinatingDiscoveryServer": "false",
        "lastUpdatedTimestamp": dirty, "lastDirtyTimestamp": dirty,
    }


def start_registry(tmp_path, procs, **kw):
    r = harness.registry(str(tmp_path), **kw)
    procs.append(r)
    return r.start()


def eureka(reg):
    return reg.url + "/eureka"


def instances(reg, app=None):
    """{instanceId: status} of the whole registry (or one app), from GET /eureka/apps."""
    r = request("GET", eureka(reg) + "/apps", headers={"Accept": "application/json"}, timeout=2)
    assert r.status == 200, r
    out = {}
    for a in r.json()["applications"]["application"]:
        if app is None or a["name"] == app:
            for i in a["instance"]:
                out[i["instanceId"]] = i["status"]
    return out


def register(reg, instance, app=None, headers=None):
    return request("POST", f"{eureka(reg)}/apps/{app or instance['app']}", {"instance": instance},
                   dict(JSON, **(headers or {})))


class Heartbeats:
    """Keeps instances alive the way a client does: PUT every `interval`, register on 404, move
    to the next registry when one does not answer."""

    def __init__(self, registries, instance, interval=0.5):
        self.registries, self.instance, self.interval = list(registries), instance, interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        app, iid = self.instance["app"], self.instance["instanceId"]
        while not self.stop_event.is_set():
            for reg in self.registries:
                try:
                    r = request("PUT", f"{eureka(reg)}/apps/{app}/{iid}?status=UP", timeout=1)
                    if r.status == 404:
                        r = register(reg, self.instance)
                    if r.status in (200, 204):
                        break
                except OSError:
                    continue
            self.stop_event.wait(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(5)


# --- command line -------------------------------------------------------------------------------

def test_help_lists_the_flags():
    r = subprocess.run([os.path.join(harness.BIN, "status-registry"), "--help"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0
    for flag in ("--port", "--bind", "--peer", "--threads", "--log-level", "--eviction-interval-ms"):
        assert flag in r.stdout
    assert "STATUS_PEER" in r.stdout


def test_bad_configuration_is_one_line_and_nonzero():
    for args in (["--port", "abc"], ["--peer", "not a url"], ["--nonsense"]):
        r = subprocess.run([os.path.join(harness.BIN, "status-registry")] + args, capture_output=True,
                           text=True, timeout=10)
        assert r.returncode != 0, args
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_port_in_use_is_one_line_and_nonzero():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([os.path.join(harness.BIN, "status-registry"), "--port", str(port)],
                           capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "in use" in lines[0] and str(port) in lines[0]


def test_sigterm_is_a_graceful_exit_0(tmp_path, procs):
    reg = start_registry(tmp_path, procs)
    assert reg.stop() == 0


def test_environment_variables_configure_it(tmp_path, procs):
    port = harness.free_port()
    reg = harness.Proc("status-registry", [], str(tmp_path), "registry-env",
                       env={"STATUS_PORT": str(port)})
    reg.port = port
    procs.append(reg)
    reg.start()
    assert request("GET", reg.url + "/health").json() == {"status": "UP"}


# --- the protocol, with real clients' bodies ---------------------------------------------------

def test_eureka_js_client_register_fetch_heartbeat_deregister(tmp_path, procs):
    reg = start_registry(tmp_path, procs)
    base = eureka(reg) + "/apps"
    # register(): POST apps/jqservice, json: true; success is exactly 204.
    assert request("POST", base + "/jqservice", {"instance": JS_CLIENT_INSTANCE}, JSON).status == 204
    # fetchFullRegistry(): GET apps/ with Accept: application/json.
    r = request("GET", base + "/", headers={"Accept": "application/json"})
    assert r.status == 200 and r.header("Content-Type").startswith("application/json")
    apps = r.json()["applications"]
    assert apps["apps__hashcode"] == "UP_1_"
    assert isinstance(apps["application"], list)
    app = apps["application"][0]
    assert app["name"] == "JQSERVICE"
    assert isinstance(app["instance"], list) and len(app["instance"]) == 1
    inst = app["instance"][0]
    assert inst["instanceId"] == "localhost" and inst["app"] == "JQSERVICE"
    assert inst["port"] == {"$": 8080, "@enabled": "true"}
    assert inst["vipAddress"] == "jq.test.something.com"
    assert inst["leaseInfo"]["renewalIntervalInSecs"] == 30 and inst["leaseInfo"]["durationInSecs"] == 90
    # renew(): PUT apps/jqservice/localhost, no body; 200.
    assert request("PUT", base + "/jqservice/localhost").status == 200
    # fetchDelta(): GET apps/delta.
    delta = request("GET", base + "/delta", headers={"Accept": "application/json"}).json()
    assert [i["actionType"] for a in delta["applications"]["application"] for i in a["instance"]] == ["ADDED"]
    # deregister(): DELETE; success is exactly 200. Then the heartbeat is 404 (→ re-register).
    assert request("DELETE", base + "/jqservice/localhost").status == 200
    assert request("PUT", base + "/jqservice/localhost").status == 404
    assert request("DELETE", base + "/jqservice/localhost").status == 404
    assert instances(reg) == {}


def test_java_client_register_heartbeat_override_under_v2(tmp_path, procs):
    reg = start_registry(tmp_path, procs)
    base = reg.url + "/eureka/v2/apps"
    inst = java_client_instance()
    assert request("POST", base + "/ORDERS", {"instance": inst}, JSON).status == 204
    iid = inst["instanceId"]
    hb = f"{base}/ORDERS/{iid}?status=UP&lastDirtyTimestamp=1700000000001"
    assert request("PUT", hb).status == 200
    one = request("GET", f"{base}/ORDERS/{iid}", headers={"Accept": "application/json"})
    assert one.status == 200
    got = one.json()["instance"]
    assert got["metadata"] == {"management.port": "8080"}
    assert got["leaseInfo"]["renewalIntervalInSecs"] == 30
    assert got["lastDirtyTimestamp"] == "1700000000001"
    # Operator takes it out of service, then puts it back (Spring's /actuator/service-registry).
    assert request("PUT", f"{base}/ORDERS/{iid}/status?value=OUT_OF_SERVICE&lastDirtyTimestamp=1").status == 200
    assert instances(reg) == {iid: "OUT_OF_SERVICE"}
    assert request("PUT", hb).status == 200, "heartbeats keep working while overridden"
    assert instances(reg) == {iid: "OUT_OF_SERVICE"}
    delta = request("GET", base + "/delta").json()["applications"]
    assert delta["application"][0]["instance"][0]["actionType"] == "MODIFIED"
    assert delta["apps__hashcode"] == "OUT_OF_SERVICE_1_"
    assert request("DELETE", f"{base}/ORDERS/{iid}/status?lastDirtyTimestamp=1").status == 200
    assert instances(reg) == {iid: "UP"}
    # A client with newer data than the registry's is asked to register again (Eureka's rule).
    assert request("PUT", f"{base}/ORDERS/{iid}?status=UP&lastDirtyTimestamp=1700000009999").status == 404
    # The same instance is also visible under /eureka/apps and /eureka/instances/{id}.
    assert request("GET", f"{reg.url}/eureka/instances/{iid}").json()["instance"]["app"] == "ORDERS"


def test_bad_requests_get_reasons_and_never_crash(tmp_path, procs):
    reg = start_registry(tmp_path, procs)
    base = eureka(reg) + "/apps"
    for body, reason in [
        ("{\"instance\": {", "malformed JSON"),
        ({"instance": {k: v for k, v in JS_CLIENT_INSTANCE.items() if k != "hostName"}}, "hostName"),
        ({"instance": {k: v for k, v in JS_CLIENT_INSTANCE.items() if k != "app"}}, "app"),
        ({"instance": {k: v for k, v in JS_CLIENT_INSTANCE.items() if k != "dataCenterInfo"}},
         "dataCenterInfo"),
        ("[]", "object"),
    ]:
        r = request("POST", base + "/JQSERVICE", body, JSON)
        assert r.status == 400, (body, r)
        assert reason in r.json()["detail"], r
    r = request("POST", base + "/OTHER", {"instance": JS_CLIENT_INSTANCE}, JSON)
    assert r.status == 400 and "Mismatched appName" in r.json()["detail"]
    assert request("PUT", base + "/JQSERVICE/nobody").status == 404
    assert request("PUT", base + "/JQSERVICE/x/status?value=SLEEPY").status in (400, 404)
    harness.raw(reg.port, b"GARBAGE / HTTP/9\r\n\r\n")
    harness.raw(reg.port, b"POST /eureka/apps/A HTTP/1.1\r\nContent-Length: 5\r\n\r\n{\"x\"")
    assert request("GET", base, headers={"Accept": "application/xml"}).status == 406
    assert request("GET", reg.url + "/health").json() == {"status": "UP"}
    assert instances(reg) == {}


def test_dashboard_health_metrics(tmp_path, procs):
    reg = start_registry(tmp_path, procs)
    assert register(reg, java_client_instance()).status == 204
    page = request("GET", reg.url + "/")
    assert page.status == 200 and page.header("Content-Type").startswith("text/html")
    assert b"host1:orders:8080" in page.body and b"ORDERS" in page.body and b"UP" in page.body
    assert request("GET", reg.url + "/health").json() == {"status": "UP"}
    m = request("GET", reg.url + "/metrics").body.decode()
    assert "registry_registrations_total 1" in m
    assert "registry_instances 1" in m
    assert "http_requests_total" in m


# --- leases -------------------------------------------------------------------------------------

def test_silent_instance_is_evicted_within_lease_plus_one_second(tmp_path, procs):
    reg = start_registry(tmp_path, procs)
    inst = java_client_instance("n-silent", "STATUS-NODE", renewal=1, duration=3)
    assert register(reg, inst).status == 204
    for _ in range(2):
        time.sleep(0.5)
        assert request("PUT", f"{eureka(reg)}/apps/STATUS-NODE/n-silent").status == 200
    last_beat = time.monotonic()
    # Still there well inside the lease...
    time.sleep(2.0)
    assert "n-silent" in instances(reg), "evicted before its 3 s lease ran out"
    # ...and gone within lease + 1 s (+ a small margin for this test's own polling).
    wait_until(lambda: "n-silent" not in instances(reg), timeout=3.0, interval=0.05,
               what="silent instance evicted")
    elapsed = time.monotonic() - last_beat
    assert 2.9 <= elapsed <= 4.0 + 0.3, elapsed
    assert "registry_evictions_total 1" in request("GET", reg.url + "/metrics").body.decode()
    delta = request("GET", eureka(reg) + "/apps/delta").json()["applications"]["application"]
    assert delta[0]["instance"][0]["actionType"] == "DELETED"


def test_heartbeats_keep_an_instance(tmp_path, procs):
    reg = start_registry(tmp_path, procs)
    inst = java_client_instance("n-alive", "STATUS-NODE", renewal=1, duration=2)
    with Heartbeats([reg], inst, interval=0.5):
        wait_until(lambda: "n-alive" in instances(reg), timeout=5, what="registered")
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:  # twice the lease, checked continuously
            assert "n-alive" in instances(reg)
            time.sleep(0.2)


# --- peers --------------------------------------------------------------------------------------

def same_view(a, b):
    va, vb = instances(a), instances(b)
    return va if va == vb else None


def peered_pair(tmp_path, procs, start=True):
    """Registries A and B, each the other's --peer, on ports chosen up front."""
    pa, pb = harness.free_port(), harness.free_port()
    a = harness.registry(str(tmp_path), "registry-a", peers=[f"http://127.0.0.1:{pb}/eureka"], port=pa)
    b = harness.registry(str(tmp_path), "registry-b", peers=[f"http://127.0.0.1:{pa}/eureka"], port=pb)
    procs.extend([a, b])
    if start:
        a.start()
        b.start()
    return a, b


def test_two_peers_agree_and_survive_the_loss_of_either(tmp_path, procs):
    a, b = peered_pair(tmp_path, procs)
    one = java_client_instance("n1", "STATUS-NODE", renewal=1, duration=3)
    two = java_client_instance("n2", "STATUS-NODE", renewal=1, duration=3)

    # Registration, override and cancel at one are seen at the other within 1 s.
    assert register(a, one).status == 204
    assert wait_until(lambda: same_view(a, b), timeout=1.0, what="peers agree on n1") == {"n1": "UP"}
    assert request("PUT", f"{eureka(b)}/apps/STATUS-NODE/n1/status?value=OUT_OF_SERVICE").status == 200
    wait_until(lambda: instances(a).get("n1") == "OUT_OF_SERVICE", timeout=1.0, what="override at A")
    assert request("DELETE", f"{eureka(a)}/apps/STATUS-NODE/n1/status").status == 200
    wait_until(lambda: instances(b).get("n1") == "UP", timeout=1.0, what="override removed at B")
    assert request("DELETE", f"{eureka(b)}/apps/STATUS-NODE/n1").status == 200
    wait_until(lambda: same_view(a, b) == {}, timeout=1.0, what="cancel replicated")

    with Heartbeats([a, b], one), Heartbeats([b, a], two):
        wait_until(lambda: same_view(a, b) == {"n1": "UP", "n2": "UP"}, timeout=3,
                   what="both instances at both")
        # Lose A: B keeps both (n1's client moves to B), well past the lease.
        a.kill()
        time.sleep(4)
        assert instances(b) == {"n1": "UP", "n2": "UP"}
        # A comes back, copies the registry from B at start, and agrees within 1 s.
        a.start()
        assert wait_until(lambda: same_view(a, b), timeout=1.0, what="restarted A agrees") == \
            {"n1": "UP", "n2": "UP"}
        assert "event=sync_done" in a.log_tail(200)
        # Lose B: A keeps both.
        b.kill()
        time.sleep(4)
        assert instances(a) == {"n1": "UP", "n2": "UP"}
        b.start()
        wait_until(lambda: same_view(a, b) == {"n1": "UP", "n2": "UP"}, timeout=1.0,
                   what="restarted B agrees")


def test_restarted_registry_copies_from_its_peer(tmp_path, procs):
    a, b = peered_pair(tmp_path, procs, start=False)
    a.start()
    for n in range(3):
        assert register(a, java_client_instance(f"x{n}", "STATUS-NODE")).status == 204
    # B starts later: it copies from A before it answers.
    b.start()
    assert instances(b) == {"x0": "UP", "x1": "UP", "x2": "UP"}
    assert b.stop() == 0
    assert request("DELETE", f"{eureka(a)}/apps/STATUS-NODE/x1").status == 200
    b.start()
    assert instances(b) == {"x0": "UP", "x2": "UP"}


def test_replicated_calls_are_not_replicated_again(tmp_path, procs):
    a, b = peered_pair(tmp_path, procs)
    # A call marked as a replica at A stays at A.
    assert register(a, java_client_instance("only-a", "STATUS-NODE"), headers=REPLICA).status == 204
    time.sleep(0.5)
    assert "only-a" in instances(a) and "only-a" not in instances(b)
    # A client call at A goes to B once, and B does not send it back (A counts one registration).
    assert register(a, java_client_instance("both", "STATUS-NODE")).status == 204
    wait_until(lambda: "both" in instances(b), timeout=1.0, what="replicated to B")
    time.sleep(0.5)
    m = request("GET", a.url + "/metrics").body.decode()
    assert "registry_registrations_total 2" in m, m
