"""Black-box helpers for system tests: start the real binaries and a private RabbitMQ, talk HTTP.

Everything binds to 127.0.0.1 on ports the OS hands out; every wait is bounded.
"""
import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("STATUS_BUILD_DIR", "build"), "bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body        # bytes

    def json(self):
        return json.loads(self.body)

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return f"Reply({self.status}, {self.body[:300]!r})"


def request(method, url, body=None, headers=None, timeout=10):
    """One HTTP request on a new connection. `body` may be bytes, str or a JSON-able object.
    Credentials in the URL (http://user:password@host/…) are sent as HTTP Basic."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    hdrs = dict(headers or {})
    if u.username is not None:
        pair = f"{urllib.parse.unquote(u.username)}:{urllib.parse.unquote(u.password or '')}"
        hdrs.setdefault("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    target = u.path + ("?" + u.query if u.query else "")
    try:
        conn.request(method, target or "/", body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def raw(port, data, timeout=5):
    """Sends raw bytes, returns all bytes received until the server closes or the timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, http.client.HTTPException) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Proc:
    """One of our binaries, started with its flags; logs to a file in `workdir`."""

    def __init__(self, binary, args, workdir, name, env=None):
        self.binary, self.args, self.workdir, self.name = binary, list(args), workdir, name
        self.env = dict(os.environ, **(env or {}))
        self.p = None
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.port = None
        if "--port" in self.args:
            self.port = int(self.args[self.args.index("--port") + 1])

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait=True, ready_status=(200,)):
        log = open(self.log_path, "ab")
        self.p = subprocess.Popen([os.path.join(BIN, self.binary)] + self.args, stdout=log,
                                  stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        if wait:
            self.wait_ready(ready_status)
        return self

    def wait_ready(self, statuses=(200,), timeout=20):
        def ok():
            if self.p.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.p.returncode}: {self.log_tail()}")
            return request("GET", self.url + "/health", timeout=2).status in statuses
        wait_until(ok, timeout, what=f"{self.name} healthy")

    def kill(self):
        """kill -9: no chance to clean up."""
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(10)

    def stop(self, timeout=15):
        """SIGTERM and wait for a graceful exit; returns the exit code."""
        if not self.p or self.p.poll() is not None:
            return self.p.returncode if self.p else None
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
            raise AssertionError(f"{self.name} did not stop within {timeout}s: {self.log_tail()}")

    def running(self):
        return self.p is not None and self.p.poll() is None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class Broker:
    """A private RabbitMQ started through scripts/rabbitmq-private."""

    def __init__(self, workdir=None):
        # The broker drops privileges to the `rabbitmq` user, which cannot enter pytest's private
        # (0700) temp dirs: give it a directory of its own directly under the system temp dir.
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="status-rabbitmq-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.dist_port = free_port()
        self.script = os.path.join(ROOT, "scripts", "rabbitmq-private")

    @property
    def url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self):
        subprocess.run([self.script, "start", self.dir, str(self.port)], check=True, timeout=120,
                       env=dict(os.environ, DIST_PORT=str(self.dist_port)))
        return self

    def stop(self):
        subprocess.run([self.script, "stop", self.dir], check=False, timeout=120)

    def remove(self):
        import shutil
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def ctl(self, *args):
        return subprocess.run([self.script, "ctl", self.dir, *args], check=True, timeout=60,
                              capture_output=True, text=True).stdout


def node(workdir, node_id, amqp=None, registry=None, peers=(), extra=(), port=None, env=None):
    port = port or free_port()
    data = os.path.join(workdir, f"data-{node_id}")
    args = ["--port", str(port), "--node-id", node_id, "--data-dir", data, "--threads", "2"]
    if amqp:
        args += ["--amqp-url", amqp]
    if registry:
        args += ["--registry-url", registry]
    for p in peers:
        args += ["--peer", p]
    return Proc("status-node", args + list(extra), workdir, f"node-{node_id}", env=env)


def registry(workdir, name="registry", peers=(), extra=(), port=None, users=None, env=None):
    """`users` ({user: password}): a credentials file (mode 0600) and --credentials-file."""
    port = port or free_port()
    args = ["--port", str(port)]
    for p in peers:
        args += ["--peer", p]
    if users is not None:
        path = os.path.join(workdir, f"{name}-credentials")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.writelines(f"{u}:{pw}\n" for u, pw in users.items())
        args += ["--credentials-file", path]
    return Proc("status-registry", args + list(extra), workdir, name, env=env)


def gateway(workdir, registry_url=None, upstreams=(), extra=(), port=None, name="gateway",
            env=None):
    port = port or free_port()
    args = ["--port", str(port), "--threads", "2"]
    if registry_url:
        args += ["--registry-url", registry_url]
    for u in upstreams:
        args += ["--upstream", u]
    return Proc("status-gateway", args + list(extra), workdir, name, env=env)
