"""The server side of HTTPS (contract section 7, issue 14, first step), end to end on one
status-node: --tls-cert/--tls-key, verified by Python's ssl module and curl against a private CA
made here with the openssl command; plain HTTP to the TLS port; TLS 1.1 refused; SIGHUP reload
seen by new connections while an open keep-alive connection keeps working."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import warnings

import pytest

import harness
from harness import wait_until


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A private CA, and two server certificates (CN a and b) for 127.0.0.1 and localhost."""
    if not shutil.which("openssl"):
        pytest.skip("no openssl command")
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"),
            "-days", "2", "-subj", "/CN=Test CA")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for serial, name in enumerate(["a", "b"], 1):
        openssl("req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
                "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"),
                "-CAkey", str(d / "ca.key"), "-set_serial", str(serial), "-days", "2",
                "-extfile", str(d / "ext"), "-out", str(d / f"{name}.crt"))
    return d


def client_context(pki, **versions):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    for k, v in versions.items():
        setattr(ctx, k, v)
    return ctx


def https(port, pki, host="localhost"):
    return http.client.HTTPSConnection(host, port, context=client_context(pki), timeout=5)


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def peer_cn(conn):
    return dict(x[0] for x in conn.sock.getpeercert()["subject"])["commonName"]


def handshake_failures(port, pki):
    c = https(port, pki)
    try:
        _, body = get(c, "/metrics")
    finally:
        c.close()
    for line in body.decode().splitlines():
        if line.startswith("http_tls_handshake_failures_total"):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture
def tls_node(tmp_path, pki, procs):
    """A node serving HTTPS with the files live.crt/live.key (a copy of a), ready."""
    shutil.copy(pki / "a.crt", tmp_path / "live.crt")
    shutil.copy(pki / "a.key", tmp_path / "live.key")
    n = harness.node(str(tmp_path), "tls1",
                     extra=["--tls-cert", str(tmp_path / "live.crt"),
                            "--tls-key", str(tmp_path / "live.key")])
    procs.append(n)
    n.start(wait=False)

    def ready():
        assert n.running(), n.log_tail()
        try:
            c = https(n.port, pki)
            try:
                return get(c, "/health")[0] == 200
            finally:
                c.close()
        except OSError:
            return False
    wait_until(ready, 20, what="the node answers over HTTPS")
    return n, tmp_path


def test_https_end_to_end_verified_by_ca_and_host_name(tls_node, pki):
    n, _ = tls_node
    for host in ("localhost", "127.0.0.1"):
        c = https(n.port, pki, host)
        body = json.dumps({"statusText": f"over TLS via {host}"})
        c.request("PUT", "/api/statuses/alice", body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status in (200, 201)
        status, got = get(c, "/api/statuses/alice")  # the same connection, kept alive
        assert status == 200 and json.loads(got)["statusText"] == f"over TLS via {host}"
        assert c.sock.version() in ("TLSv1.3", "TLSv1.2")
        c.close()
    # The same with curl, trusting the CA file.
    if shutil.which("curl"):
        out = subprocess.run(["curl", "-sS", "--cacert", str(pki / "ca.crt"),
                              f"https://localhost:{n.port}/api/statuses/alice"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["username"] == "alice"
    # An untrusted CA (the system store does not know ours) is refused by the client.
    with pytest.raises(ssl.SSLCertVerificationError):
        c = http.client.HTTPSConnection("localhost", n.port, timeout=5,
                                        context=ssl.create_default_context())
        get(c, "/health")


def test_plain_http_to_the_tls_port_fails_cleanly(tls_node, pki):
    n, _ = tls_node
    before = handshake_failures(n.port, pki)
    started = time.monotonic()
    out = harness.raw(n.port, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout=5)
    assert time.monotonic() - started < 3, "closed at once, not after a timeout"
    assert not out.startswith(b"HTTP/"), out
    wait_until(lambda: handshake_failures(n.port, pki) == before + 1, 5,
               what="the failed handshake counted")
    assert n.running()
    c = https(n.port, pki)
    assert get(c, "/health")[0] == 200


def test_tls_1_1_is_refused(tls_node, pki):
    n, _ = tls_node
    before = handshake_failures(n.port, pki)
    ctx = client_context(pki)
    try:
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")  # let this client really offer TLS 1.1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ssl.SSLError, ValueError) as e:
        pytest.skip(f"this Python cannot make a TLS 1.1 client: {e}")
    with socket.create_connection(("127.0.0.1", n.port), timeout=5) as s:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(s, server_hostname="localhost")
    wait_until(lambda: handshake_failures(n.port, pki) == before + 1, 5,
               what="refused by the server")
    ctx12 = client_context(pki, maximum_version=ssl.TLSVersion.TLSv1_2)
    c = http.client.HTTPSConnection("localhost", n.port, context=ctx12, timeout=5)
    assert get(c, "/health")[0] == 200
    assert c.sock.version() == "TLSv1.2"


def test_sighup_reload_reaches_new_connections_and_keeps_open_ones(tls_node, pki):
    n, d = tls_node
    kept = https(n.port, pki)
    assert get(kept, "/health")[0] == 200
    assert peer_cn(kept) == "a"
    kept_socket = kept.sock

    shutil.copy(pki / "b.crt", d / "live.crt")
    shutil.copy(pki / "b.key", d / "live.key")
    n.signal(signal.SIGHUP)
    wait_until(lambda: "event=tls_reloaded" in n.log_text(), 5, what="event=tls_reloaded")
    fresh = https(n.port, pki)
    assert get(fresh, "/health")[0] == 200
    assert peer_cn(fresh) == "b"
    assert get(kept, "/health")[0] == 200
    assert kept.sock is kept_socket, "the same connection, kept alive across the reload"

    # A broken file: the reload fails (one line), the node goes on with b.
    (d / "live.crt").write_text("not a certificate\n")
    n.signal(signal.SIGHUP)
    wait_until(lambda: "event=tls_reload_failed" in n.log_text(), 5, what="event=tls_reload_failed")
    assert n.running()
    again = https(n.port, pki)
    assert get(again, "/health")[0] == 200
    assert peer_cn(again) == "b"
    for c in (kept, fresh, again):
        c.close()
    assert n.stop() == 0


def tls_exchange(port, ctx, data, session=None):
    """One TLS connection: sends data, reads until the server's close_notify, returns (what was
    read, the connection's session, whether it resumed `session`). A TCP end without a
    close_notify raises ssl.SSLEOFError (ragged ends are not suppressed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        with ctx.wrap_socket(plain, server_hostname="localhost", session=session,
                             suppress_ragged_eofs=False) as s:
            s.sendall(data)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out, s.session, s.session_reused


def test_the_last_answer_ends_with_a_close_notify_and_the_session_stays(tls_node, pki):
    n, _ = tls_node
    ctx = client_context(pki)
    close = b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    out, session, _ = tls_exchange(n.port, ctx, close)
    assert out.startswith(b"HTTP/1.1 200") and b"Connection: close" in out, out
    out, _, resumed = tls_exchange(n.port, ctx, close, session=session)
    assert out.startswith(b"HTTP/1.1 200") and resumed, "the session was kept for resumption"
    # More sent after the request that asks to close: the answer is whole all the same, and
    # the close_notify follows it (the server reads and drops the rest before it closes).
    more = close + b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
    out, _, _ = tls_exchange(n.port, ctx, more)
    assert out.count(b"HTTP/1.1 200") == 1 and out.endswith(b"}"), out
    # An answer of several records (beyond 16 KiB) comes whole before it.
    c = https(n.port, pki)
    for i in range(24):
        c.request("PUT", f"/api/statuses/user{i}", body=json.dumps({"statusText": "x" * 1000}),
                  headers={"Content-Type": "application/json"})
        c.getresponse().read()
    c.close()
    out, _, _ = tls_exchange(n.port, ctx, close.replace(b"/health", b"/api/statuses"))
    head, _, body = out.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    assert length > 16384 and len(body) == length, (length, len(body))
    # HTTP/1.0 without keep-alive asks to close as well.
    out, _, _ = tls_exchange(n.port, ctx, b"GET /health HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 200") or out.startswith(b"HTTP/1.1 200"), out
    assert n.running()


def test_tls_flags_go_together_and_a_bad_file_is_exit_2(tmp_path, pki):
    exe = os.path.join(harness.BIN, "status-node")
    base = [exe, "--data-dir", str(tmp_path / "data"), "--port", "0", "--auth", "off"]
    for extra, says in [
        (["--tls-cert", str(pki / "a.crt")], "--tls-cert and --tls-key go together"),
        (["--tls-cert", str(pki / "a.crt"), "--tls-key", str(pki / "b.key")], "does not match"),
        (["--tls-cert", str(tmp_path / "none.crt"), "--tls-key", str(pki / "a.key")],
         str(tmp_path / "none.crt")),
    ]:
        out = subprocess.run(base + extra, capture_output=True, text=True, timeout=20)
        assert out.returncode == 2, out
        assert says in out.stderr and out.stderr.count("\n") == 1, out.stderr
