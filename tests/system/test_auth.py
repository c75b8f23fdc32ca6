"""Identity and access (CONTRACT §6), black-box against real nodes, a gateway and a real broker.

Each rule of §6 has a test here: accounts, sessions, /api/me, who may write whose status, the
login throttle, password change, account deletion, admin-only sign-up, the JSON-only body rule,
authenticated reads, the cluster key on /internal and on replicated messages, OpenID Connect
with keys made by the test, and secrets kept out of logs and command lines.
"""
import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import time

import pytest

import harness
from harness import request, wait_until

ADMIN_PASSWORD = "admin-password-" + secrets.token_hex(8)


def write_secret(path, data):
    with open(path, "w") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return path


def internal_token(key_bytes):
    """What a holder of the cluster key sends on /internal requests."""
    key = hashlib.sha256(key_bytes).digest()
    return "Cluster " + hmac.new(key, b"status internal v1", hashlib.sha256).hexdigest()


class AuthCluster:
    def __init__(self, tmp_path, procs, broker, n=2, extra=(), prefix=None):
        self.dir = str(tmp_path)
        self.key = secrets.token_hex(32)
        self.key_file = write_secret(os.path.join(self.dir, "cluster.key"), self.key)
        self.admin_file = write_secret(os.path.join(self.dir, "admin.password"), ADMIN_PASSWORD)
        prefix = prefix or "auth" + secrets.token_hex(3)
        ports = [harness.free_port() for _ in range(n)]
        self.nodes = []
        for i in range(n):
            peers = [f"http://127.0.0.1:{p}" for j, p in enumerate(ports) if j != i]
            flags = ["--auth", "required", "--cluster-key-file", self.key_file,
                     "--admin-password-file", self.admin_file, "--lease-renewal-s", "1"] + list(extra)
            node = harness.node(self.dir, f"{prefix}{i + 1}", amqp=broker.url if broker else None,
                                peers=peers, port=ports[i], extra=flags)
            procs.append(node)
            self.nodes.append(node)
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_ready()
        self.gw = harness.gateway(self.dir, upstreams=[f"127.0.0.1:{p}" for p in ports])
        procs.append(self.gw)
        self.gw.start()


@pytest.fixture
def cluster(tmp_path, procs, broker):
    return AuthCluster(tmp_path, procs, broker)


def signup(url, user, password="correct horse battery"):
    return request("POST", url + "/api/accounts", {"username": user, "password": password})


def login(url, user, password="correct horse battery"):
    return request("POST", url + "/api/sessions", {"username": user, "password": password})


def token_for(url, user, password="correct horse battery"):
    r = login(url, user, password)
    assert r.status == 201, r
    return r.json()["token"]


def bearer(token):
    return {"Authorization": "Bearer " + token}


def put(url, user, text, token=None, headers=None):
    h = dict(headers or {})
    if token:
        h.update(bearer(token))
    return request("PUT", f"{url}/api/statuses/{user}", {"statusText": text}, h)


def test_sign_up_log_in_me_and_log_out(cluster):
    gw = cluster.gw.url
    r = signup(gw, "alice")
    assert r.status == 201, r
    assert r.json() == {"username": "alice", "roles": []}
    assert signup(gw, "alice").status == 409
    assert signup(gw, "not a name").status == 400
    assert signup(gw, "bob", "short").status == 400
    assert signup(gw, "bob", "x" * 257).status == 400
    assert login(gw, "alice", "wrong password").status == 401
    assert login(gw, "nobody", "whatever password").status == 401
    r = login(gw, "alice")
    assert r.status == 201
    body = r.json()
    assert body["username"] == "alice" and body["roles"] == [] and body["expiresAt"].endswith("Z")
    cookie = r.header("Set-Cookie")
    for part in ("status_session=" + body["token"], "HttpOnly", "SameSite=Strict", "Path=/"):
        assert part in cookie, cookie
    me = request("GET", gw + "/api/me", headers=bearer(body["token"]))
    assert me.status == 200 and me.json() == {"username": "alice", "roles": []}
    me = request("GET", gw + "/api/me", headers={"Cookie": "status_session=" + body["token"]})
    assert me.status == 200 and me.json()["username"] == "alice"
    assert request("GET", gw + "/api/me").status == 401
    assert request("DELETE", gw + "/api/sessions/current", headers=bearer(body["token"])).status == 204
    wait_until(lambda: request("GET", gw + "/api/me", headers=bearer(body["token"])).status == 401, 3,
               what="the token refused after logout")


def test_only_the_user_or_an_admin_changes_a_status(cluster):
    gw = cluster.gw.url
    for u in ("alice", "bob"):
        assert signup(gw, u).status == 201
    alice, bob = token_for(gw, "alice"), token_for(gw, "bob")
    admin = token_for(gw, "admin", ADMIN_PASSWORD)
    r = put(gw, "alice", "no credentials")
    assert r.status == 401 and r.header("WWW-Authenticate") == 'Bearer realm="status"'
    assert put(gw, "alice", "not a token", token="st_made_up").status == 401
    assert put(gw, "alice", "bob writes", token=bob).status == 403
    assert put(gw, "alice", "in a meeting", token=alice).status == 201
    assert request("POST", gw + "/api/statuses", {"username": "alice", "statusText": "x"},
                   bearer(bob)).status == 403
    assert request("DELETE", gw + "/api/statuses/alice", headers=bearer(bob)).status == 403
    assert request("GET", gw + "/api/statuses/alice").json()["statusText"] == "in a meeting"
    assert put(gw, "alice", "set by the admin", token=admin).status == 200
    assert request("DELETE", gw + "/api/statuses/alice", headers=bearer(alice)).status == 204
    assert request("GET", gw + "/api/me", headers=bearer(admin)).json()["roles"] == ["admin"]
    # Reads stay open.
    assert request("GET", gw + "/api/statuses").status == 200


def test_an_account_made_on_one_node_logs_in_on_every_node_and_a_logout_is_honoured_everywhere(cluster):
    n1, n2 = cluster.nodes
    assert signup(n1.url, "carol").status == 201
    token = wait_until(lambda: login(n2.url, "carol").status == 201 and token_for(n2.url, "carol"), 5,
                       what="carol signs in on n2")
    assert put(n1.url, "carol", "session from n2", token=token).status == 201
    assert request("DELETE", n1.url + "/api/sessions/current", headers=bearer(token)).status == 204
    start = time.monotonic()
    wait_until(lambda: request("GET", n2.url + "/api/me", headers=bearer(token)).status == 401, 2,
               interval=0.05, what="n2 refuses the token within 2 s")
    assert time.monotonic() - start < 2


def test_five_failed_logins_lock_the_name_for_a_minute(cluster):
    n1 = cluster.nodes[0]
    assert signup(n1.url, "dave").status == 201
    for _ in range(5):
        assert login(n1.url, "dave", "wrong wrong wrong").status == 401
    r = login(n1.url, "dave")  # the right password, still refused
    assert r.status == 429
    assert 1 <= int(r.header("Retry-After")) <= 61
    # Another name is not affected.
    assert signup(n1.url, "erin").status == 201
    assert login(n1.url, "erin").status == 201


def test_password_change_ends_the_other_sessions(cluster):
    gw = cluster.gw.url
    assert signup(gw, "frank").status == 201
    a, b = token_for(gw, "frank"), token_for(gw, "frank")
    url = gw + "/api/accounts/frank/password"
    assert request("PUT", url, {"current": "wrong wrong wrong", "new": "a new password"}, bearer(a)).status == 403
    assert request("PUT", url, {"new": "a new password"}, bearer(a)).status == 400
    assert request("PUT", url, {"current": "correct horse battery", "new": "a new password"}, bearer(a)).status == 204
    assert request("GET", gw + "/api/me", headers=bearer(a)).status == 200
    wait_until(lambda: request("GET", gw + "/api/me", headers=bearer(b)).status == 401, 3,
               what="the other session ended")
    assert login(gw, "frank").status == 401
    assert login(gw, "frank", "a new password").status == 201
    # An admin resets it without the current one; another user may not.
    assert signup(gw, "grace").status == 201
    grace = token_for(gw, "grace")
    assert request("PUT", url, {"current": "a new password", "new": "grace sets it"}, bearer(grace)).status == 403
    admin = token_for(gw, "admin", ADMIN_PASSWORD)
    assert request("PUT", url, {"new": "set by the admin"}, bearer(admin)).status == 204
    wait_until(lambda: login(gw, "frank", "set by the admin").status == 201, 3, what="admin's reset")


def test_deleting_an_account_removes_its_status_and_sessions(cluster):
    gw = cluster.gw.url
    assert signup(gw, "heidi").status == 201
    t = token_for(gw, "heidi")
    assert put(gw, "heidi", "here", token=t).status == 201
    assert signup(gw, "ivan").status == 201
    ivan = token_for(gw, "ivan")
    assert request("DELETE", gw + "/api/accounts/heidi", headers=bearer(ivan)).status == 403
    assert request("DELETE", gw + "/api/accounts/heidi", headers=bearer(t)).status == 204
    for node in cluster.nodes:
        wait_until(lambda: request("GET", node.url + "/api/statuses/heidi").status == 404, 3,
                   what=f"heidi's status gone on {node.name}")
        wait_until(lambda: request("GET", node.url + "/api/me", headers=bearer(t)).status == 401, 3,
                   what=f"heidi's session gone on {node.name}")
    assert login(gw, "heidi").status == 401
    admin = token_for(gw, "admin", ADMIN_PASSWORD)
    assert request("DELETE", gw + "/api/accounts/heidi", headers=bearer(admin)).status == 404


def test_bodies_must_be_json_no_form_posts(cluster):
    gw = cluster.gw.url
    assert signup(gw, "judy").status == 201
    t = token_for(gw, "judy")
    body = b'{"statusText":"x"}'
    for ctype in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", None):
        headers = bearer(t)
        if ctype:
            headers["Content-Type"] = ctype
        r = request("PUT", gw + "/api/statuses/judy", body, headers)
        assert r.status == 415, (ctype, r)
    assert request("GET", gw + "/api/statuses/judy").status == 404


def test_admin_only_sign_up(tmp_path, procs):
    c = AuthCluster(tmp_path, procs, None, n=1, extra=["--signup", "admin"])
    url = c.nodes[0].url
    assert signup(url, "kim").status == 403
    admin = token_for(url, "admin", ADMIN_PASSWORD)
    assert request("POST", url + "/api/accounts", {"username": "kim", "password": "long enough"},
                   bearer(admin)).status == 201
    kim = token_for(url, "kim", "long enough")
    assert request("POST", url + "/api/accounts", {"username": "lee", "password": "long enough"},
                   bearer(kim)).status == 403


def test_reads_need_credentials_with_read_access_authenticated(tmp_path, procs):
    c = AuthCluster(tmp_path, procs, None, n=1, extra=["--read-access", "authenticated"])
    url = c.nodes[0].url
    r = request("GET", url + "/api/statuses")
    assert r.status == 401 and "Bearer" in r.header("WWW-Authenticate")
    assert request("GET", url + "/api/statuses/admin").status == 401
    admin = token_for(url, "admin", ADMIN_PASSWORD)
    assert request("GET", url + "/api/statuses", headers=bearer(admin)).status == 200


def test_internal_endpoints_need_the_cluster_key(cluster):
    n1 = cluster.nodes[0]
    for target in ("/internal/snapshot", "/internal/state", "/internal/digest?buckets=16"):
        assert request("GET", n1.url + target).status == 401, target
        assert request("GET", n1.url + target, headers={"Authorization": "Cluster nope"}).status == 401
    good = {"Authorization": internal_token(cluster.key.encode())}
    assert request("GET", n1.url + "/internal/state", headers=good).status == 200
    # A forged state with a valid key is still validated like client input.
    stamp = (int(time.time() * 1000)) << 16
    bad = [{"u": "mallory", "h": stamp, "n": "n9", "x": "", "t": 0}]
    assert request("POST", n1.url + "/internal/apply", bad, good).status == 400
    # And the gateway never forwards /internal.
    assert request("GET", cluster.gw.url + "/internal/state", headers=good).status == 404


def test_a_node_that_replicates_refuses_to_start_without_a_cluster_key(tmp_path, broker):
    n = harness.node(str(tmp_path), "nokey", amqp=broker.url, extra=["--auth", "required"])
    n.start(wait=False)
    assert n.p.wait(10) != 0
    assert "--cluster-key-file" in n.log_tail()


def test_a_forged_broker_message_is_not_applied(cluster, broker):
    """A message published to the exchange without the cluster key's MAC is counted and dropped."""
    n1, n2 = cluster.nodes
    def rejected(node):
        for line in request("GET", node.url + "/metrics").body.decode().splitlines():
            if line.startswith("status_replication_rejected_total "):
                return float(line.split()[1])
        return 0.0
    before = rejected(n2)
    stamp = int(time.time() * 1000) << 16
    body = json.dumps({"u": "forged", "h": stamp, "n": "evil", "x": "forged", "t": 1764065700000})
    erl = "<<" + ",".join(str(b) for b in body.encode()) + ">>"  # the body as an Erlang binary
    expr = ('rabbit_basic:publish(rabbit_misc:r(<<"/">>, exchange, <<"status.changes">>), <<>>, '
            "{'P_basic', <<\"application/json\">>, undefined, undefined, 2, undefined, undefined, "
            "undefined, undefined, undefined, undefined, undefined, undefined, <<\"evil\">>, undefined}, "
            f"{erl}).")
    broker.ctl("eval", expr)
    wait_until(lambda: rejected(n2) > before, 5, what="the forged message counted as rejected")
    for node in cluster.nodes:
        assert request("GET", node.url + "/api/statuses/forged").status == 404


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(key_path, claims, kid="k1"):
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path], input=signing_input,
                         capture_output=True, check=True).stdout
    return f"{header}.{payload}.{b64url(sig)}"


def test_openid_connect_bearer_tokens(tmp_path, procs):
    d = str(tmp_path)
    key = os.path.join(d, "oidc.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, capture_output=True)
    modulus = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"],
                             capture_output=True, check=True, text=True).stdout.strip().split("=")[1]
    n = bytes.fromhex(modulus)
    jwks = {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                      "n": b64url(n), "e": b64url((65537).to_bytes(3, "big"))}]}
    jwks_file = os.path.join(d, "jwks.json")
    with open(jwks_file, "w") as f:
        json.dump(jwks, f)
    c = AuthCluster(tmp_path, procs, None, n=1, extra=[
        "--oidc-issuer", "https://idp.example", "--oidc-audience", "status",
        "--oidc-jwks-file", jwks_file])
    url = c.nodes[0].url
    now = int(time.time())
    good = {"iss": "https://idp.example", "aud": "status", "exp": now + 300, "nbf": now - 10,
            "preferred_username": "olga"}
    t = make_jwt(key, good)
    assert request("GET", url + "/api/me", headers=bearer(t)).json() == {"username": "olga", "roles": []}
    assert put(url, "olga", "via my identity provider", token=t).status == 201
    assert put(url, "peter", "not mine", token=t).status == 403
    admin = make_jwt(key, dict(good, preferred_username="root", roles=["status-admin"]))
    assert put(url, "peter", "an admin may", token=admin).status == 201
    for bad in (dict(good, exp=now - 100), dict(good, aud="other"), dict(good, iss="https://evil")):
        assert request("GET", url + "/api/me", headers=bearer(make_jwt(key, bad))).status == 401
    assert request("GET", url + "/api/me", headers=bearer(t[:-4] + "AAAA")).status == 401


def test_no_secret_in_logs_or_command_lines(cluster):
    gw = cluster.gw.url
    assert signup(gw, "quinn", "quinn's secret password").status == 201
    t = token_for(gw, "quinn", "quinn's secret password")
    assert put(gw, "quinn", "x", token=t).status == 201
    request("DELETE", gw + "/api/sessions/current", headers=bearer(t))
    for p in cluster.nodes + [cluster.gw]:
        with open(p.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        for secret in (t, "quinn's secret password", ADMIN_PASSWORD, cluster.key):
            assert secret not in log, f"{p.name} logged a secret"
        with open(f"/proc/{p.p.pid}/cmdline", "rb") as f:
            cmdline = f.read().decode(errors="replace")
        for secret in (ADMIN_PASSWORD, cluster.key):
            assert secret not in cmdline


def test_the_event_stream_carries_statuses_only(cluster):
    """Accounts and sessions replicate like statuses, but never appear on /api/events."""
    import socket
    n1 = cluster.nodes[0]
    s = socket.create_connection(("127.0.0.1", n1.port), timeout=5)
    s.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert signup(n1.url, "sam").status == 201
    t = token_for(n1.url, "sam")
    assert put(n1.url, "sam", "visible", token=t).status == 201
    request("DELETE", n1.url + "/api/sessions/current", headers=bearer(t))
    data, deadline = b"", time.monotonic() + 3
    s.settimeout(0.2)
    while b'"visible"' not in data and time.monotonic() < deadline:
        try:
            data += s.recv(65536)
        except socket.timeout:
            pass
    s.close()
    assert b'"visible"' in data
    assert b"account:" not in data and b"session:" not in data and b"$argon2" not in data
