"""`make up` / scripts/up: the whole system in the foreground, stopped cleanly by SIGTERM, Ctrl-C
(also with its output through a pipe that dies with the same Ctrl-C) and SIGHUP (terminal closed).

scripts/up runs on free ports (GATEWAY_PORT, REGISTRY_PORT, NODE_BASE_PORT, AMQP_PORT) with its
data in a temporary RUN_DIR, so it neither needs nor disturbs 8080/8761/8081… Each start of the
cluster waits for a real RabbitMQ (up to a minute on a busy machine). Whatever a test does or
fails at, the `up` fixture stops every process of its runs (see Up.cleanup).
"""
import contextlib
import fcntl
import hashlib
import http.client
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import termios
import threading
import time

import pytest

import harness
from harness import request, wait_until

UP = os.path.join(harness.ROOT, "scripts", "up")
BUILD_DIR = os.path.join(harness.ROOT, os.environ.get("STATUS_BUILD_DIR", "build"))

needs_binaries = pytest.mark.skipif(
    not all(os.path.exists(os.path.join(harness.BIN, b))
            for b in ("status-node", "status-registry", "status-gateway")),
    reason="status-node, status-registry and status-gateway must be built")


def port_free(port):
    """Nobody listens on it. (SO_REUSEADDR, like the servers: TIME_WAIT leftovers don't count.)"""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_block(n):
    """n consecutive free ports (the nodes listen on NODE_BASE_PORT, +1, …)."""
    for _ in range(100):
        base = harness.free_port()
        if base + n < 65536 and all(port_free(base + i) for i in range(n)):
            return base
    raise AssertionError("no block of free ports")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes (its parent, scripts/up, may not have reaped it yet).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pids_mentioning(*needles):
    """Pids of processes whose command line mentions any of `needles` (paths of this run)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in needles) and int(d) != os.getpid() and alive(int(d)):
            out.append((int(d), cmd.replace("\0", " ")))
    return out


def terminal_signals_default():
    """In the child before exec: the signals a terminal sends, at their default. A parent that
    ignores SIGINT (a background job of a shell script does) would pass that on, and bash cannot
    trap a signal that was ignored when it started: Ctrl-C would not reach scripts/up at all."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


@contextlib.contextmanager
def sigint_ignored():
    """Meanwhile this process ignores SIGINT, as a background job of a shell script does."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        return None


def broker_pids(*dirs):
    """Pids of the Erlang processes of a broker whose data is under one of `dirs`: their command
    line does not name it, their environment does (RABBITMQ_MNESIA_BASE). epmd, shared by every
    broker on the machine, does not count."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read().split(b"\0")
            if os.path.basename(exe_of(int(d)) or "") == "epmd":
                continue
        except OSError:
            continue
        base = next((e[len(b"RABBITMQ_MNESIA_BASE="):].decode(errors="replace") for e in env
                     if e.startswith(b"RABBITMQ_MNESIA_BASE=")), None)
        if base and any(base.startswith(x + "/") for x in dirs) and alive(int(d)):
            out.append(int(d))
    return out


class Up:
    """scripts/up in the background, like a user's terminal running `make up`. Its output goes to
    a file (`launch()`), through `tee` in the same process group (`launch(via="tee")`, as in
    `make up | tee up.log`), or to a terminal of its own (`launch(via="tty")`, a pty that
    `hang_up()` closes)."""

    def __init__(self, tmp_path, nodes=3, tls=False, ha=False):
        self.nodes = nodes
        self.tls = tls
        self.ha = ha
        self.run_dir = str(tmp_path / "run")
        self.out_path = str(tmp_path / "up.out")
        self.gateway_port = harness.free_port()  # with TLS=1: the port that redirects to HTTPS
        self.registry_port = harness.free_port()
        self.node_base = free_block(nodes)
        self.amqp_port = harness.free_port()
        self.env = dict(os.environ, GATEWAY_PORT=str(self.gateway_port),
                        REGISTRY_PORT=str(self.registry_port), NODE_BASE_PORT=str(self.node_base),
                        AMQP_PORT=str(self.amqp_port), RUN_DIR=self.run_dir, BUILD_DIR=BUILD_DIR,
                        TLS="1" if tls else "0")
        self.tls_ports = []
        self.ha_ports = []
        if ha:  # HA=1: a second gateway and registry; the brokers take AMQP_PORT and the next free
            self.gateway2_port, self.registry2_port = harness.free_port(), harness.free_port()
            self.ha_ports = [self.gateway2_port, self.registry2_port]
            self.env.update(HA="1", GATEWAY2_PORT=str(self.gateway2_port),
                            REGISTRY2_PORT=str(self.registry2_port))
        if tls:
            self.gateway_tls_port, self.amqp_tls_port = harness.free_port(), harness.free_port()
            self.tls_ports = [self.gateway_tls_port, self.amqp_tls_port]
            self.env.update(GATEWAY_TLS_PORT=str(self.gateway_tls_port),
                            AMQP_TLS_PORT=str(self.amqp_tls_port))
            if ha:
                self.gateway2_tls_port = harness.free_port()
                self.tls_ports.append(self.gateway2_tls_port)
                self.env.update(GATEWAY2_TLS_PORT=str(self.gateway2_tls_port))
        self.p = None
        self.tee = None
        self.tty = None       # the pty's master side, while open
        self.tty_open = False
        self.tty_copier = None
        self.pids = {}
        # Where the broker lives when the rabbitmq user cannot enter RUN_DIR (see scripts/up).
        self.alt_dir = "/var/tmp/status-up-" + hashlib.md5(self.run_dir.encode()).hexdigest()[:12]

    @property
    def gateway(self):
        if self.tls:
            return f"https://127.0.0.1:{self.gateway_tls_port}"
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def gateway2(self):
        """HA=1: the second gateway."""
        if self.tls:
            return f"https://127.0.0.1:{self.gateway2_tls_port}"
        return f"http://127.0.0.1:{self.gateway2_port}"

    @property
    def cafile(self):
        """The private CA scripts/up made with TLS=1 (None: plain HTTP, nothing to check)."""
        return os.path.join(self.run_dir, "tls", "ca.crt") if self.tls else None

    def ports(self):
        return [self.gateway_port, self.registry_port, self.amqp_port] + self.tls_ports + \
               self.ha_ports + [self.node_base + i for i in range(self.nodes)]

    def output(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    @property
    def broker_dir(self):
        return self.broker_dir_of("rabbitmq")

    def broker_dir_of(self, name):
        """The directory of broker `name` (rabbitmq; with HA=1 rabbitmq-1, -2, -3)."""
        alt = os.path.join(self.alt_dir, name)
        return alt if os.path.isdir(alt) else os.path.join(self.run_dir, name)

    def launch(self, via="file"):
        cmd = [UP, str(self.nodes)]
        common = dict(env=self.env, cwd=harness.ROOT)
        if via == "file":
            with open(self.out_path, "ab") as out:
                self.p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True,
                                          preexec_fn=terminal_signals_default, **common)
        elif via == "tee":
            # One process group, like a shell's pipeline: a Ctrl-C (SIGINT to the group) ends tee
            # together with scripts/up, whose output then goes into a pipe nobody reads.
            self.tee = subprocess.Popen(["tee", self.out_path], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, process_group=0,
                                        preexec_fn=terminal_signals_default)
            self.p = subprocess.Popen(cmd, stdout=self.tee.stdin, stderr=subprocess.STDOUT,
                                      process_group=self.tee.pid,
                                      preexec_fn=terminal_signals_default, **common)
            self.tee.stdin.close()
        elif via == "tty":
            master, slave = os.openpty()

            def controlling_terminal():
                terminal_signals_default()
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # a session leader with this terminal
            self.p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                      start_new_session=True, preexec_fn=controlling_terminal,
                                      **common)
            os.close(slave)
            self.tty = master
            self.tty_open = True
            self.tty_copier = threading.Thread(target=self._copy_tty, daemon=True)
            self.tty_copier.start()
        else:
            raise ValueError(via)

    def _copy_tty(self):
        """The terminal's screen, into the output file, until hang_up()."""
        with open(self.out_path, "ab", buffering=0) as out:
            while self.tty_open:
                if select.select([self.tty], [], [], 0.1)[0]:
                    try:
                        out.write(os.read(self.tty, 65536))
                    except OSError:  # EIO: scripts/up closed its side
                        return

    def hang_up(self):
        """Closes the terminal, as closing its window does: the kernel sends SIGHUP to the session
        leader, scripts/up, whose writes to it fail from then on."""
        self.tty_open = False
        self.tty_copier.join(5)
        os.close(self.tty)
        self.tty = None

    def ctrl_c(self):
        """What a terminal's Ctrl-C does: SIGINT to the whole foreground process group."""
        os.killpg(os.getpgid(self.p.pid), signal.SIGINT)

    def start(self, timeout=180, via="file"):
        self.launch(via)
        return self.wait_up(timeout)

    def wait_up(self, timeout=180):
        def ready():
            if self.p.poll() is not None:
                raise AssertionError(f"scripts/up exited {self.p.returncode}:\n{self.output()}")
            return "Press Ctrl-C" in self.output()
        wait_until(ready, timeout, interval=0.5, what="scripts/up to report the system up")
        for name, pid in re.findall(r"^  (\S+)\s+\S+\s+pid (\d+)", self.output(), re.M):
            self.pids[name] = int(pid)
        return self

    def stop(self, sig, timeout=120):
        self.p.send_signal(sig)
        return self.p.wait(timeout)

    def admin(self):
        """Authorization headers of a session of `admin`, whose password scripts/up generated
        into RUN_DIR/admin-password (mode 0600)."""
        path = os.path.join(self.run_dir, "admin-password")
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path) as f:
            password = f.read().strip()
        r = request("POST", self.gateway + "/api/sessions", {"username": "admin", "password": password})
        assert r.status == 201, r
        return {"Authorization": "Bearer " + r.json()["token"]}

    def recorded_pids(self):
        """{pid: binary} of RUN_DIR/up.pids (what scripts/up started and has not stopped yet)."""
        try:
            with open(os.path.join(self.run_dir, "up.pids")) as f:
                rows = [line.split() for line in f]
        except OSError:
            return {}
        return {int(r[1]): r[2] for r in rows if len(r) == 3 and r[1].isdigit()}

    def cleanup(self):
        """Whatever happened in the test (scripts/up hung, died, or was never told to stop):
        nothing of this run survives it. scripts/up gets its chance to stop everything in order;
        then whatever up.pids still names is killed, the broker stopped through rabbitmq-private,
        and anything left with this run's directories in its command line killed. https://
        requests trust the system's store again (a TLS test trusted its CA)."""
        harness.trust(None)
        try:
            if self.tty is not None:
                self.hang_up()
            if self.p and self.p.poll() is None:
                self.p.send_signal(signal.SIGTERM)
                try:
                    self.p.wait(120)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait(10)
        finally:
            if self.tee and self.tee.poll() is None:
                self.tee.kill()
                self.tee.wait(10)
            # Only processes that still run the binary recorded with them: pids get reused.
            # (The broker is not among them: its launcher must live for rabbitmq-private stop.)
            for pid, exe in self.recorded_pids().items():
                if exe_of(pid) == exe:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            script = os.path.join(harness.ROOT, "scripts", "rabbitmq-private")
            names = ("rabbitmq", "rabbitmq-1", "rabbitmq-2", "rabbitmq-3")
            for d in [os.path.join(b, n) for b in (self.run_dir, self.alt_dir) for n in names]:
                if os.path.exists(os.path.join(d, "env")):
                    subprocess.run([script, "stop", d], check=False, timeout=120,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            dirs = (self.run_dir, self.alt_dir)
            for pid in [pid for pid, _ in pids_mentioning(*dirs)] + broker_pids(*dirs) + \
                    [pid for pid in self.pids.values() if alive(pid)]:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            subprocess.run(["rm", "-rf", self.alt_dir], check=False)

    def assert_all_gone(self, started=True):
        assert self.pids or not started, self.output()
        wait_until(lambda: not [n for n, pid in self.pids.items() if alive(pid)], 10,
                   what="every process of scripts/up to be gone")
        wait_until(lambda: all(port_free(p) for p in self.ports()), 10,
                   what="every port of scripts/up to be free")
        assert pids_mentioning(self.run_dir, self.alt_dir) == []
        assert broker_pids(self.run_dir, self.alt_dir) == []


@pytest.fixture
def up(tmp_path):
    started = []

    def make(nodes=3, tls=False, ha=False):
        u = Up(tmp_path, nodes, tls, ha)
        started.append(u)
        return u
    yield make
    with contextlib.ExitStack() as cleanups:  # every run's cleanup, even when one of them fails
        for u in started:
            cleanups.callback(u.cleanup)


def broker_url(u):
    with open(os.path.join(u.broker_dir, "amqp-url")) as f:
        return f.read().strip()


def assert_own_broker_user(u):
    """The private broker's own user and generated password (see harness.assert_own_user)."""
    return harness.assert_own_user(u.broker_dir, u.amqp_port)


def test_defaults_are_the_contracts():
    text = open(UP).read()
    for var, default in (("GATEWAY_PORT", 8080), ("REGISTRY_PORT", 8761), ("NODE_BASE_PORT", 8081),
                         ("AMQP_PORT", 5672), ("GATEWAY_TLS_PORT", 8443), ("AMQP_TLS_PORT", 5671)):
        assert f"{var}=${{{var}:-{default}}}" in text
    assert re.search(r"^NODES=\$\{NODES:-3\}$", text, re.M)
    dry = subprocess.run(["make", "-n", "up", "NODES=5"], cwd=harness.ROOT, capture_output=True,
                         text=True, timeout=30)
    assert "TLS=0 HA=0 scripts/up 5" in dry.stdout
    dry = subprocess.run(["make", "-n", "up", "TLS=1"], cwd=harness.ROOT, capture_output=True,
                         text=True, timeout=30)
    assert "TLS=1 HA=0 scripts/up 3" in dry.stdout
    dry = subprocess.run(["make", "-n", "up", "HA=1", "TLS=1"], cwd=harness.ROOT,
                         capture_output=True, text=True, timeout=30)
    assert "TLS=1 HA=1 scripts/up 3" in dry.stdout
    # HA=1: the second gateway and registry next to the first; the nodes make room for them.
    for var, default in (("GATEWAY2_PORT", "$((GATEWAY_PORT + 1))"),
                         ("REGISTRY2_PORT", "$((REGISTRY_PORT + 1))"),
                         ("GATEWAY2_TLS_PORT", "$((GATEWAY_TLS_PORT + 1))")):
        assert f"{var}=${{{var}:-{default}}}" in text
    assert '((HA)) && [[ -z "${NODE_BASE_PORT:-}" ]] && NODE_BASE_PORT=8082' in text


def test_busy_port_fails_fast_and_starts_nothing(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        run_dir = str(tmp_path / "run")
        env = dict(os.environ, GATEWAY_PORT=str(busy), REGISTRY_PORT=str(harness.free_port()),
                   NODE_BASE_PORT=str(free_block(3)), RUN_DIR=run_dir, BUILD_DIR=BUILD_DIR)
        r = subprocess.run([UP], env=env, cwd=harness.ROOT, capture_output=True, text=True,
                           timeout=30)
    assert r.returncode != 0
    assert f"gateway {busy}" in r.stderr, r.stderr
    assert pids_mentioning(run_dir) == []


def test_tls_busy_https_port_or_a_bad_tls_value_fails_fast(tmp_path):
    run_dir = str(tmp_path / "run")
    env = dict(os.environ, TLS="1", GATEWAY_PORT=str(harness.free_port()),
               REGISTRY_PORT=str(harness.free_port()), NODE_BASE_PORT=str(free_block(3)),
               RUN_DIR=run_dir, BUILD_DIR=BUILD_DIR)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        r = subprocess.run([UP], env=dict(env, GATEWAY_TLS_PORT=str(busy)), cwd=harness.ROOT,
                           capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert f"gateway {busy} (GATEWAY_TLS_PORT)" in r.stderr and "make up TLS=1" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(run_dir, "tls"))  # nothing made, nothing started
    assert pids_mentioning(run_dir) == []
    r = subprocess.run([UP], env=dict(env, TLS="yes"), cwd=harness.ROOT, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "TLS must be 0 or 1" in r.stderr, r.stderr


@needs_binaries
def test_up_serves_through_the_gateway_reports_deaths_and_stops_on_sigterm(up):
    u = up(3).start()
    assert set(u.pids) >= {"registry", "n1", "n2", "n3", "gateway"}, u.output()
    assert f"http://127.0.0.1:{u.gateway_port}/" in u.output()           # the web client's URL
    assert f"http://127.0.0.1:{u.registry_port}/" in u.output()          # the dashboard's
    for name in ("registry", "n1", "n2", "n3", "gateway"):
        assert re.search(rf"^  {name}\s+UP\s", u.output(), re.M), u.output()
    password = assert_own_broker_user(u)
    for name in ("n1", "n2", "n3"):  # the nodes have the broker's URL in their environment
        with open(f"/proc/{u.pids[name]}/environ", "rb") as f:
            assert f"STATUS_AMQP_URL={broker_url(u)}".encode() in f.read().split(b"\0"), name
    assert password not in u.output()
    assert os.path.isdir(os.path.join(u.run_dir, "node-1"))
    assert os.path.exists(os.path.join(u.run_dir, "logs", "gateway.log"))
    # The registry takes writes only with the generated credentials (a 0600 file under the run
    # dir), which the nodes got through the environment: on no command line, in no log.
    creds = os.path.join(u.run_dir, "registry-credentials")
    assert os.stat(creds).st_mode & 0o777 == 0o600
    userinfo = open(creds).readline().strip()
    password = userinfo.split(":", 1)[1]
    reg = f"127.0.0.1:{u.registry_port}/eureka/apps/STATUS-NODE/n1"
    assert request("PUT", f"http://{reg}").status == 401
    assert request("PUT", f"http://{userinfo}@{reg}").status == 200
    for pid in u.pids.values():
        assert password not in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
    for log in os.listdir(os.path.join(u.run_dir, "logs")):
        assert password not in open(os.path.join(u.run_dir, "logs", log), errors="replace").read()

    # Write through the gateway; every node applies it before the answer (X-Consistency: all) so
    # that the next run of scripts/up finds it in any node's data dir.
    r = request("PUT", u.gateway + "/api/statuses/upalice", {"statusText": "up and running"},
                headers={"X-Consistency": "all", **u.admin()})
    assert r.status == 201, r
    writer = r.header("X-Served-By")
    assert r.header("X-Replicated") == "3/3", r.headers

    def read_elsewhere():
        g = request("GET", u.gateway + "/api/statuses/upalice")
        return g.status == 200 and g.header("X-Served-By") != writer and g.json()
    got = wait_until(read_elsewhere, 15, what="a read served by another node")
    assert got["statusText"] == "up and running"

    # A process that dies is reported, not left silently dead.
    os.kill(u.pids["n3"], signal.SIGKILL)
    wait_until(lambda: re.search(r"n3 \(pid \d+\) DIED", u.output()), 10, what="the death report")
    assert u.p.poll() is None
    assert request("GET", u.gateway + "/api/statuses/upalice").status == 200

    assert u.stop(signal.SIGTERM) == 0, u.output()
    u.assert_all_gone()
    out = u.output()
    # The order of a clean stop: the gateway first, the nodes, the registry, the broker last.
    order = [out.index(f"stopped {n}") for n in ("gateway", "n1", "registry", "rabbitmq")]
    assert order == sorted(order), out


@needs_binaries
def test_up_keeps_data_between_runs_and_stops_on_ctrl_c(up, tmp_path):
    first = up(1).start()
    # Authentication is on: an anonymous write is refused, the admin's goes through.
    assert request("PUT", first.gateway + "/api/statuses/keeper", {"statusText": "x"}).status == 401
    r = request("PUT", first.gateway + "/api/statuses/keeper", {"statusText": "still here"},
                first.admin())
    assert r.status == 201, r
    first_password = assert_own_broker_user(first)
    assert first.stop(signal.SIGTERM) == 0, first.output()
    first.assert_all_gone()

    # The same RUN_DIR again: the node's data dir was kept, and the broker's (its user exists
    # already: it gets a new password). Stopped by Ctrl-C this time, and started by a parent that
    # ignores SIGINT (a script's background job): scripts/up must get SIGINT all the same.
    second = up(1)
    second.run_dir, second.env["RUN_DIR"], second.alt_dir = first.run_dir, first.run_dir, first.alt_dir
    second.out_path = str(tmp_path / "up2.out")
    with sigint_ignored():
        second.launch()
    second.wait_up()
    assert assert_own_broker_user(second) != first_password
    r = request("GET", second.gateway + "/api/statuses/keeper")
    assert r.status == 200 and r.json()["statusText"] == "still here", r
    assert second.stop(signal.SIGINT) == 0, second.output()
    assert "got SIGINT" in second.output()
    second.assert_all_gone()


@needs_binaries
def test_ctrl_c_with_output_through_a_pipe_that_dies_too_stops_everything(up):
    """`make up | tee up.log` and Ctrl-C: tee dies with the same SIGINT; scripts/up then writes
    into a pipe nobody reads. It must still stop everything (it used to die of SIGPIPE on its
    first message and leave the whole cluster running)."""
    u = up(1).start(via="tee")
    u.ctrl_c()
    assert u.tee.wait(10) == -signal.SIGINT  # the pipe is gone
    assert u.p.wait(120) == 0, u.output()
    u.assert_all_gone()


@needs_binaries
def test_closing_its_terminal_stops_everything(up):
    """SIGHUP of a terminal that is gone (its window closed): every later write fails (EIO)."""
    u = up(1).start(via="tty")
    u.hang_up()
    assert u.p.wait(120) == 0, u.output()
    u.assert_all_gone()


@needs_binaries
def test_sigterm_while_the_broker_starts_leaves_nothing(up):
    u = up(1)
    u.launch()
    wait_until(lambda: "starting RabbitMQ" in u.output(), 30, what="the broker's start")
    time.sleep(2)  # inside rabbitmq-private start: the broker is launched, not yet up
    assert u.stop(signal.SIGTERM, timeout=60) == 0, u.output()
    assert "got SIGTERM" in u.output()
    u.assert_all_gone(started=False)


@needs_binaries
def test_a_run_killed_with_9_is_cleaned_up_by_the_next(up, tmp_path):
    first = up(1).start()
    first.p.kill()  # scripts/up gets no chance to stop anything
    first.p.wait(10)
    orphans = {n: pid for n, pid in first.pids.items() if alive(pid)}
    assert {"registry", "n1", "gateway", "rabbitmq"} <= set(orphans), first.output()

    second = up(1)
    second.run_dir, second.env["RUN_DIR"], second.alt_dir = first.run_dir, first.run_dir, first.alt_dir
    second.out_path = str(tmp_path / "up2.out")
    second.start()
    for name in ("registry", "n1", "gateway"):
        assert f"stopping {name} (pid {orphans[name]}), left running by a previous" in second.output()
    assert not [n for n, pid in orphans.items() if alive(pid)], second.output()
    assert second.stop(signal.SIGTERM) == 0, second.output()
    second.assert_all_gone()


def list_connections_ssl(u):
    """`rabbitmqctl list_connections ssl` of the private broker: one True/False per connection."""
    out = subprocess.run([os.path.join(harness.ROOT, "scripts", "rabbitmq-private"), "ctl",
                          u.broker_dir, "-q", "list_connections", "--no-table-headers", "ssl"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.strip() == "true" for line in out.splitlines() if line.strip()]


@needs_binaries
def test_make_up_tls_on_every_hop_and_ctrl_c(up):
    """`make up TLS=1` (contract §1, §7): a private CA under the run dir, every process with its own
    certificate, HTTPS between all of them, AMQPS to the broker; the gateway's HTTPS port
    verified with the printed CA, its plain port redirecting; Ctrl-C stops everything."""
    u = up(3, tls=True).start()
    out, ca = u.output(), u.cafile
    harness.trust(ca)  # from here on, https:// requests verify against the printed CA
    # The banner: the CA to trust, the https URL, and how to trust it.
    assert f"CA to trust         {ca}" in out, out
    assert f"{u.gateway}/" in out
    assert f"curl --cacert {ca}" in out and f"statusctl --tls-ca {ca}" in out, out
    assert re.search(r"certutil -d sql:\$HOME/\.pki/nssdb -A -t \"C,,\" -n \S+ -i " + re.escape(ca), out), out
    for name in ("registry", "n1", "n2", "n3", "gateway"):
        assert re.search(rf"^  {name}\s+UP\s+pid \d+\s+https://127\.0\.0\.1:", out, re.M), out
    assert re.search(rf"^  rabbitmq\s+UP\s+pid \d+\s+amqps 127\.0\.0\.1:{u.amqp_tls_port}\s", out, re.M), out

    # One certificate per process, all signed by that CA, naming 127.0.0.1 and localhost.
    pki = os.path.join(u.run_dir, "tls")
    for name in ("registry", "node1", "node2", "node3", "gateway", "broker"):
        subprocess.run(["openssl", "verify", "-CAfile", ca, os.path.join(pki, name + ".crt")],
                       check=True, capture_output=True, timeout=10)
        assert os.stat(os.path.join(pki, name + ".key")).st_mode & 0o777 == 0o600, name

    # Every server got its own certificate, its key and the CA on its command line.
    for name, cert in (("registry", "registry"), ("n1", "node1"), ("n2", "node2"), ("n3", "node3"),
                       ("gateway", "gateway")):
        cmd = open(f"/proc/{u.pids[name]}/cmdline", "rb").read().decode().split("\0")
        for flag, value in (("--tls-cert", cert + ".crt"), ("--tls-key", cert + ".key"), ("--tls-ca", "ca.crt")):
            assert cmd[cmd.index(flag) + 1] == os.path.join(pki, value), (name, cmd)
    gateway_cmd = open(f"/proc/{u.pids['gateway']}/cmdline", "rb").read().decode().split("\0")
    assert gateway_cmd[gateway_cmd.index("--redirect-port") + 1] == str(u.gateway_port)
    for name in ("n1", "n2", "n3"):
        with open(f"/proc/{u.pids[name]}/environ", "rb") as f:
            env = dict(e.split("=", 1) for e in f.read().decode().split("\0") if "=" in e)
        assert env["STATUS_AMQP_URL"].startswith("amqps://status:"), name
        assert env["STATUS_AMQP_URL"].endswith(f":{u.amqp_tls_port}/"), name
        assert env["STATUS_REGISTRY_URL"].startswith("https://"), name
        cmd = open(f"/proc/{u.pids[name]}/cmdline", "rb").read().decode().split("\0")
        assert cmd[cmd.index("--amqp-ca") + 1] == ca, cmd

    # The gateway over HTTPS, verified against the printed CA (and refused without it: the
    # system's store does not know the private CA).
    r = request("GET", u.gateway + "/health")
    assert r.status == 200, r
    with pytest.raises(ssl.SSLCertVerificationError):
        http.client.HTTPSConnection("127.0.0.1", u.gateway_tls_port, timeout=5,
                                    context=ssl.create_default_context()).request("GET", "/health")
    # The plain port: 308 to the same path over HTTPS; its /health answers itself.
    plain = f"http://127.0.0.1:{u.gateway_port}"
    r = request("GET", plain + "/api/statuses?limit=5")
    assert r.status == 308, r
    assert r.header("Location") == f"{u.gateway}/api/statuses?limit=5", r.headers
    assert request("GET", plain + "/health").status == 200

    # A write through the gateway reaches all three nodes; each node read over HTTPS with the CA.
    r = request("PUT", u.gateway + "/api/statuses/tlsalice", {"statusText": "over TLS"},
                headers={"X-Consistency": "all", **u.admin()})
    assert r.status == 201, r
    assert r.header("X-Replicated") == "3/3", r.headers
    for i in range(3):
        got = request("GET", f"https://127.0.0.1:{u.node_base + i}/api/statuses/tlsalice")
        assert got.status == 200 and got.json()["statusText"] == "over TLS", (i + 1, got)
    # The nodes registered their https:// URLs (securePort on) with the registry, over HTTPS.
    reg = open(os.path.join(u.run_dir, "registry-credentials")).readline().strip()
    apps = request("GET", f"https://{reg}@127.0.0.1:{u.registry_port}/eureka/apps/STATUS-NODE",
                   headers={"Accept": "application/json"})
    assert apps.status == 200, apps
    instances = apps.json()["application"]["instance"]
    assert sorted(inst["securePort"]["$"] for inst in instances) == \
        [u.node_base + i for i in range(3)], instances
    for inst in instances:
        assert inst["securePort"]["@enabled"] == "true", inst
        assert inst["homePageUrl"].startswith("https://127.0.0.1:"), inst

    # Every AMQP connection to the broker is a TLS one: the three nodes' (and nothing plain).
    conns = wait_until(lambda: (c := list_connections_ssl(u)) and len(c) >= 3 and c, 30,
                       interval=0.5, what="the nodes' connections to the broker")
    assert all(conns), conns

    # Ctrl-C (SIGINT to its process group, as a terminal sends it) stops everything.
    u.ctrl_c()
    assert u.p.wait(120) == 0, u.output()
    assert "got SIGINT" in u.output()
    u.assert_all_gone()


class FailoverClient:
    """A client of `make up HA=1` that retries on the other gateway: PUTs of distinct users,
    one after another, through gateway 1 and, when that fails (no answer, or not 2xx), the same
    request through gateway 2. Records what was acknowledged (user: version), the requests that
    failed on both, the retries and the longest time a write took (its stall)."""

    def __init__(self, gateways, headers, prefix="ha-"):
        self.gateways, self.headers, self.prefix = gateways, headers, prefix
        self.acked, self.failed, self.retries = {}, [], []
        self.worst = (0.0, None)  # (seconds, user)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _put(self, gateway, user, body):
        try:
            r = request("PUT", f"{gateway}/api/statuses/{user}", body,
                        dict(self.headers, **{"Content-Type": "application/json"}), timeout=5)
            return r.status, (r.json().get("version") if r.status in (200, 201) else None)
        except (OSError, http.client.HTTPException, ValueError) as e:
            return repr(e), None

    def _run(self):
        i = 0
        while not self.stop_event.is_set():
            user, body = f"{self.prefix}{i}", {"statusText": f"write {i}"}
            t0 = time.monotonic()
            status, version = self._put(self.gateways[0], user, body)
            if version is None:
                first = status
                status, version = self._put(self.gateways[1], user, body)
                self.retries.append((time.strftime("%T"), user, first, status))
                if version is None:
                    self.failed.append((user, first, status))
            if version is not None:
                self.acked[user] = version
            took = time.monotonic() - t0
            if took > self.worst[0]:
                self.worst = (took, user)
            i += 1
            time.sleep(0.01)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def beam_of(broker_dir):
    with open(os.path.join(broker_dir, "rabbit.pid")) as f:
        return int(f.read().strip())


@needs_binaries
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_make_up_ha_survives_the_loss_of_any_one_process(up, tls):
    """`make up HA=1` (CONTRACT §10): three clustered brokers with quorum queues, two peered
    registries, three nodes, two gateways. Under a client that retries on the other gateway,
    kill -9 of one broker (the leader of node 1's queue), one registry, one node and one gateway in
    turn, a few seconds apart: no request fails on both gateways, every acknowledged write is on
    every surviving node (at least the acknowledged version), the watch loop reports each death,
    and Ctrl-C (its terminal's) stops the rest. With TLS=1 too: HTTPS, AMQPS to every broker."""
    u = up(3, ha=True, tls=tls).start(via="tty")
    if tls:
        harness.trust(u.cafile)
    for name in ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3", "registry-1", "registry-2",
                 "n1", "n2", "n3", "gateway-1", "gateway-2"):
        assert name in u.pids, u.output()
    out = subprocess.run([os.path.join(harness.ROOT, "scripts", "rabbitmq-private"), "ctl",
                          u.broker_dir_of("rabbitmq-2"), "list_queues", "-q", "name", "type", "leader"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    queues = {r.split()[0]: r.split()[1:] for r in out.splitlines() if r.strip() and not r.startswith("name")}
    assert sorted(queues) == ["status.node.n1", "status.node.n2", "status.node.n3"], out
    assert all(t[0] == "quorum" for t in queues.values()), out
    gateways = [u.gateway, u.gateway2]
    client = FailoverClient(gateways, u.admin()).start()
    leader = queues["status.node.n1"][1]  # status-PORT@localhost
    victim = next(b for b in ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3")
                  if f"RABBITMQ_NODENAME={leader}\n" in open(os.path.join(u.broker_dir_of(b), "env")).read())
    kills = [(victim, lambda: beam_of(u.broker_dir_of(victim))), ("registry-1", None), ("n1", None),
             ("gateway-1", None)]
    timeline = []
    try:
        time.sleep(3)
        for name, pid_of in kills:
            pid = pid_of() if pid_of else u.pids[name]
            os.kill(pid, signal.SIGKILL)
            timeline.append((time.strftime("%T"), name, len(client.acked), len(client.retries)))
            time.sleep(5)
    finally:
        client.stop()
    print(f"timeline (time, killed, acked so far, retries so far): {timeline}")
    print(f"{len(client.acked)} writes acknowledged, {len(client.retries)} retried on gateway 2, "
          f"{len(client.failed)} failed on both; the slowest took {client.worst[0]:.2f}s "
          f"({client.worst[1]}); retries: {client.retries[:10]}")
    assert client.acked, u.output()
    assert not client.failed, f"{len(client.failed)} requests failed on both gateways: {client.failed[:5]}"
    survivors = [f"{'https' if tls else 'http'}://127.0.0.1:{u.node_base + i}" for i in (1, 2)]

    def has_all():
        for url in survivors:
            state = harness.state_of(url)
            if any(state.get(user, 0) < v for user, v in client.acked.items()):
                return False
        return True
    wait_until(has_all, 30, interval=0.5, what="every acknowledged write on every surviving node")
    wait_until(lambda: all(f"{n} (pid" in u.output() and "DIED" in u.output()
                           for n in (victim, "registry-1", "n1", "gateway-1")), 10,
               what="the watch loop to report every death")
    u.ctrl_c()
    assert u.p.wait(120) == 0, u.output()
    assert "got SIGINT" in u.output()
    for b in ("rabbitmq-1", "rabbitmq-2", "rabbitmq-3"):
        assert f"stopped {b}" in u.output() or b == victim, u.output()
    u.assert_all_gone()
