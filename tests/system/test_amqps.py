"""AMQPS (contract: "`amqps://` URLs, verified against `--amqp-ca FILE`"): status-nodes replicating
through a RabbitMQ of this module alone with a TLS listener (scripts/rabbitmq-private with
TLS_DIR/TLS_PORT, certificates made by scripts/tls-pki). Replication over TLS end to end, the
broker's view of the connections, every refused connection saying why (without the password) while
the node goes on serving writes into its outbox, recovery once given the right URL, client
certificates, and exit 2 for bad TLS flags."""
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

import harness
from harness import wait_until

TLS_PKI = os.path.join(harness.ROOT, "scripts", "tls-pki")
# No anti-entropy and no --peer: whatever reaches another node came through the broker.
FLAGS = ["--anti-entropy-interval-ms", "3600000"]


def tls_pki(d, *names):
    subprocess.run([TLS_PKI, str(d), *names], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """`ours`: the broker's CA, with certificates `broker` and `client`; `other`: another CA
    (same kind of subject, other key) with a certificate `stranger`."""
    if not shutil.which("openssl"):
        pytest.skip("no openssl command")
    d = tmp_path_factory.mktemp("amqps-pki")
    tls_pki(d / "ours", "broker", "client")
    tls_pki(d / "other", "stranger")
    return d


@pytest.fixture(scope="module")
def tls_broker(pki):
    # Small fixed receive buffers, as conftest's private_broker: frozen, it pushes back at once.
    b = harness.Broker(tls_dir=pki / "ours", conf=["tcp_listen_options.recbuf = 32768"]).start()
    yield b
    b.remove()


def password_of(url):
    return re.fullmatch(r"amqps?://status:([0-9a-f]{48})@.*", url).group(1)


def with_host(url, host):
    return re.sub(r"@[^:/]+:", f"@{host}:", url)


def other_loopback_name():
    """A name that reaches the broker (127.0.0.1) but that its certificate does not hold (it names
    localhost and 127.0.0.1): this machine's own name when it resolves to loopback, else "127.1"
    (the short form of 127.0.0.1: the resolver takes it, a certificate check sees a name)."""
    name = socket.gethostname()
    try:
        if name != "localhost" and socket.gethostbyname(name).startswith("127."):
            return name
    except OSError:
        pass
    return "127.1"


def tls_connections(broker):
    """The broker's client connections on its TLS port: [(ssl, protocol, peer certificate)]."""
    out = broker.ctl("-s", "list_connections", "port", "ssl", "ssl_protocol", "peer_cert_subject")
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return [(r[1], r[2], r[3] if len(r) > 3 else "") for r in rows if r[0] == str(broker.tls_port)]


def broker_state(n):
    return harness.health(n.url)[1].get("broker")


def test_replication_over_amqps_between_three_nodes(tmp_path, procs, pki, tls_broker):
    ca = str(pki / "ours" / "ca.crt")
    nodes = harness.start_all(harness.make_cluster(
        str(tmp_path), procs, "tls", 3, amqp=tls_broker.amqps_url, extra=FLAGS + ["--amqp-ca", ca],
        with_peers=False))
    urls = [n.url for n in nodes]
    for n in nodes:
        assert broker_state(n) == "connected", n.log_tail()
    for i, url in enumerate(urls):
        assert harness.put_status(url, f"amqps-{i}", f"written on node {i + 1}").status == 201
    state = harness.wait_converged(urls, 15, expect=3)
    assert set(state) == {"amqps-0", "amqps-1", "amqps-2"}
    for url in urls:  # each node applied the other two's writes from the broker
        assert harness.metric(url, "replication_applied_total") >= 2
    # Two connections per node (publisher, consumer), every one TLS 1.2 or 1.3.
    conns = tls_connections(tls_broker)
    assert len(conns) >= 6, conns
    assert all(ssl == "true" and proto in ("tlsv1.3", "tlsv1.2") for ssl, proto, _ in conns), conns
    for n in nodes:
        assert password_of(tls_broker.amqps_url) not in n.log_text()


# Each: (the URL's host: None for the broker's amqps:// URL as it is, PLAIN for amqps:// to its
# plain port; flags, their files in `pki`; the reason the node's log must give).
REFUSED = {
    "wrong_ca": (None, ["--amqp-ca", "other/ca.crt"], "certificate verify failed"),
    # No --amqp-ca: the system's trust store, which does not hold this CA.
    "system_store": (None, [], "certificate verify failed"),
    "wrong_host_name": (other_loopback_name(), ["--amqp-ca", "ours/ca.crt"], "hostname mismatch"),
    # The certificate names 127.0.0.1 too, but rabbitmq-c matches DNS names only.
    "ip_address": ("127.0.0.1", ["--amqp-ca", "ours/ca.crt"], "SSL hostname verification failed"),
    "tls_to_the_plain_port": ("PLAIN", ["--amqp-ca", "ours/ca.crt"], "SSL handshake failed"),
    # The broker verifies a certificate shown to it (it requires none).
    "foreign_client_certificate": (None, ["--amqp-ca", "ours/ca.crt",
                                          "--amqp-cert", "other/stranger.crt",
                                          "--amqp-key", "other/stranger.key"],
                                   "login failed: a SSL error occurred"),
}


@pytest.fixture(scope="module")
def refused_nodes(tmp_path_factory, pki, tls_broker):
    """One node per REFUSED case, all started at once (each becomes ready ~5 s after its start
    without a broker): {case: node}."""
    d = tmp_path_factory.mktemp("refused")
    started = {}
    for case, (host, extra, _) in REFUSED.items():
        if host == "PLAIN":
            url = with_host(tls_broker.url.replace("amqp://", "amqps://"), "localhost")
        else:
            url = with_host(tls_broker.amqps_url, host) if host else tls_broker.amqps_url
        flags = [str(pki / f) if f.endswith((".crt", ".key")) else f for f in extra]
        n = harness.node(str(d), case.replace("_", "-"), amqp=url, extra=FLAGS + flags)
        # OpenSSL's default trust store must be the system's, whatever this process was given.
        n.env = {k: v for k, v in n.env.items() if not k.startswith("SSL_CERT_")}
        started[case] = n.start(wait=False)
    try:
        for n in started.values():
            n.wait_ready(timeout=25)
        yield started
    finally:
        for n in started.values():
            n.kill()


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_connection_says_why_and_the_node_keeps_serving(case, refused_nodes, tls_broker):
    n = refused_nodes[case]
    reason = REFUSED[case][2]
    wait_until(lambda: reason in n.log_text(), 10, what=f"'{reason}' in the log")
    status, body = harness.health(n.url)
    assert status == 200 and body["broker"] == "disconnected" and body["consumer"] == "disconnected"
    lines = [line for line in n.log_text().splitlines() if "disconnected" in line]
    assert lines and all("cannot connect to" in line or "login failed" in line for line in lines)
    print(lines[0])
    assert password_of(tls_broker.amqps_url) not in n.log_text()
    before = harness.health(n.url)[1]["outbox"]
    assert harness.put_status(n.url, f"kept-{case}", "into the outbox").status == 201
    assert harness.health(n.url)[1]["outbox"] == before + 1
    # Still retrying, a bounded while each time (the connect timeout), not stuck in one attempt.
    count = n.log_text().count("event=publisher_disconnected")
    wait_until(lambda: n.log_text().count("event=publisher_disconnected") > count, 10,
               what="another attempt")


def test_without_amqp_ca_the_system_store_decides(tmp_path, procs, pki, tls_broker):
    """No --amqp-ca: OpenSSL's default trust store, which honours SSL_CERT_FILE: pointed at this
    CA, it accepts the broker (the system_store case above refuses it without)."""
    n = harness.node(str(tmp_path), "sysstore", amqp=tls_broker.amqps_url, extra=FLAGS,
                     env={"SSL_CERT_FILE": str(pki / "ours" / "ca.crt")})
    procs.append(n)
    n.start()
    wait_until(lambda: broker_state(n) == "connected", 10, what="connected over TLS")


def test_plain_amqp_to_the_tls_port_fails_cleanly_then_recovers_with_the_right_url(
        tmp_path, procs, pki, tls_broker):
    ca = str(pki / "ours" / "ca.crt")
    receiver = harness.node(str(tmp_path), "receiver", amqp=tls_broker.amqps_url,
                            extra=FLAGS + ["--amqp-ca", ca])
    procs.append(receiver)
    receiver.start()
    plain = tls_broker.amqps_url.replace("amqps://", "amqp://")  # amqp:// to the TLS port
    sender = harness.node(str(tmp_path), "sender", amqp=plain, extra=FLAGS + ["--amqp-ca", ca])
    procs.append(sender)
    sender.start(wait=False)
    sender.wait_ready(timeout=25)
    wait_until(lambda: "login failed" in sender.log_text(), 10, what="the failed login logged")
    assert broker_state(sender) == "disconnected"
    assert harness.put_status(sender.url, "carried", "kept in the outbox").status == 201
    assert harness.health(sender.url)[1]["outbox"] == 1
    assert harness.request("GET", receiver.url + "/api/statuses/carried").status == 404
    t0 = time.monotonic()
    assert sender.stop() == 0
    assert time.monotonic() - t0 < 5, "stopped promptly while failing to connect"
    assert password_of(tls_broker.amqps_url) not in sender.log_text()

    sender.env["STATUS_AMQP_URL"] = tls_broker.amqps_url  # same data dir and node id
    sender.start()
    wait_until(lambda: harness.health(sender.url)[1]["outbox"] == 0, 15, what="the outbox sent")
    wait_until(lambda: harness.request("GET", receiver.url + "/api/statuses/carried").status == 200,
               10, what="the kept write at the receiver")


def test_sigterm_while_the_broker_is_frozen_cuts_the_tls_connections(
        tmp_path, procs, pki, tls_broker):
    """The stop cuts TLS connections too (SocketBreaker: shutdown of the socket under OpenSSL):
    with the broker frozen under a write load (nothing it is sent is answered), SIGTERM ends the
    node within 10 s, exit 0; what it acknowledged reaches the other node once the broker is
    back."""
    ca = str(pki / "ours" / "ca.crt")
    n1, n2 = harness.start_all(harness.make_cluster(
        str(tmp_path), procs, "frz", 2, amqp=tls_broker.amqps_url,
        extra=FLAGS + ["--amqp-ca", ca, "--publish-timeout", "1000"], with_peers=False))
    with tls_broker.frozen():
        load = harness.ConcurrentWriteLoad(n1.url, connections=64, seconds=4.0, prefix="f-",
                                           text="\U0001F4C5" * 1000, timeout=6.0,
                                           max_per_connection=200).start()
        time.sleep(3.0)
        t0 = time.monotonic()
        rc = n1.stop(timeout=10)  # SIGTERM; fails the test if still running after 10 s
        took = time.monotonic() - t0
        load.join()
    assert rc == 0, n1.log_tail()
    assert took < 10
    acked = load.acked()
    print(f"stopped in {took:.2f} s; {len(acked)} of {len(load.results)} writes acknowledged")
    assert acked, "no write was acknowledged while the broker was frozen"
    n1.start()
    wait_until(lambda: acked <= set(harness.state_of(n2.url)), 45, interval=0.5,
               what="the writes acknowledged during the freeze at the other node")


def test_a_client_certificate_is_shown_to_the_broker(tmp_path, procs, pki, tls_broker):
    ours = pki / "ours"
    n = harness.node(str(tmp_path), "withcert", amqp=tls_broker.amqps_url,
                     extra=FLAGS + ["--amqp-ca", str(ours / "ca.crt"),
                                    "--amqp-cert", str(ours / "client.crt"),
                                    "--amqp-key", str(ours / "client.key")])
    procs.append(n)
    n.start()
    wait_until(lambda: broker_state(n) == "connected", 10, what="connected over TLS")
    subjects = [subject for _, _, subject in tls_connections(tls_broker)]
    assert sum("CN=client" in s for s in subjects) >= 2, subjects


def test_bad_amqp_tls_flags_are_exit_2(tmp_path, pki):
    exe = os.path.join(harness.BIN, "status-node")
    base = [exe, "--data-dir", str(tmp_path / "data"), "--port", "0", "--auth", "off"]
    ours = pki / "ours"
    (tmp_path / "junk.crt").write_text("not a certificate\n")
    for extra, says in [
        (["--amqp-cert", str(ours / "client.crt")], "--amqp-cert and --amqp-key go together"),
        (["--amqp-key", str(ours / "client.key")], "--amqp-cert and --amqp-key go together"),
        (["--amqp-ca", str(tmp_path / "none.crt")], "--amqp-ca: cannot read the CA file"),
        (["--amqp-ca", str(tmp_path / "junk.crt")], "holds no usable PEM certificate"),
        (["--amqp-cert", str(ours / "client.crt"), "--amqp-key", str(ours / "broker.key")],
         "does not match"),
    ]:
        t0 = time.monotonic()
        out = subprocess.run(base + extra, capture_output=True, text=True, timeout=20)
        assert out.returncode == 2, out
        assert says in out.stderr and out.stderr.count("\n") == 1, out.stderr
        assert time.monotonic() - t0 < 5
