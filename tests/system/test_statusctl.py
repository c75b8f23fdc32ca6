"""statusctl against the real system: a node behind the real gateway (or the node alone when the
gateway is not built; statusctl works against any base URL serving the API). The identity tests at
the end run the node with `--auth required`; each user of them has a HOME of their own."""
import json
import os
import re
import select
import stat
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

import harness
from harness import request

CTL = os.path.join(harness.BIN, "statusctl")
HAVE_GATEWAY = os.path.exists(os.path.join(harness.BIN, "status-gateway"))

pytestmark = pytest.mark.skipif(not os.path.exists(CTL), reason="statusctl is not built")


EMPTY_HOME = None  # set by the fixture below: no statusctl test reads the real ~/.config


@pytest.fixture(autouse=True, scope="module")
def empty_home(tmp_path_factory):
    global EMPTY_HOME
    EMPTY_HOME = str(tmp_path_factory.mktemp("home"))


def ctl_env(home=None, env=None):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("STATUS_") and k != "XDG_CONFIG_HOME"}
    e["HOME"] = str(home or EMPTY_HOME)
    e.update(env or {})
    return e


def ctl(base, *args, env=None, timeout=20, home=None):
    e = ctl_env(home, env)
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
    assert lines[0].split() == ["USER", "AVAILABILITY", "TIME", "EXPIRES", "LOCATION", "STATUS"]
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


def subscribers(node):
    m = request("GET", node.url + "/metrics").body.decode()
    return sum(float(l.split()[1]) for l in m.splitlines()
               if l.startswith("status_event_subscribers "))


def watcher(base, node, *args):
    """statusctl watch, returned once the node counts it as a subscriber. A watcher that ended
    just before may still be counted until the node sees its stream close: that count goes
    first, or the new watcher would seem subscribed before it is and miss the first event."""
    harness.wait_until(lambda: subscribers(node) == 0, 10, what="no watcher left subscribed")
    w = subprocess.Popen([CTL, "--gateway", base, "watch", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)

    def subscribed():
        assert w.poll() is None, w.communicate()
        return subscribers(node) >= 1
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
    """It tries again for about 11 s (the stream may come back through another node), then
    gives up."""
    base, node, _ = system
    w = watcher(node.url, node)
    node.stop()
    try:
        _, err = w.communicate(timeout=40)
    finally:
        if w.poll() is None:
            w.kill()
            w.wait(5)
    assert w.returncode == 3 and "closed" in err, err


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


# ---- identity and access (CONTRACT §6): a node with --auth required behind the gateway ----

ADMIN_PASSWORD = "admin-pass-" + os.urandom(6).hex()


def secret_file(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return str(path)


class AuthSystem:
    """One node with --auth required (no replication, so no cluster key) and a gateway before it
    (the node alone without a gateway build); password files and a HOME per user in `dir`."""

    def __init__(self, tmp_path, procs):
        self.dir = tmp_path
        admin_file = secret_file(tmp_path / "admin.password", ADMIN_PASSWORD)
        self.node = harness.node(str(tmp_path), "a1",
                                 extra=["--auth", "required", "--admin-password-file", admin_file])
        procs.append(self.node)
        self.node.start()
        self.base = self.node.url
        if HAVE_GATEWAY:
            g = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{self.node.port}"])
            procs.append(g)
            g.start()
            harness.wait_until(lambda: request("GET", g.url + "/api/statuses").status == 200, 10,
                               what="the gateway to route to the node")
            self.gateway, self.base = g, g.url
        else:
            self.gateway = None

    def home(self, user):
        h = self.dir / f"home-{user}"
        h.mkdir(exist_ok=True)
        return h

    def password_file(self, name, password):
        return secret_file(self.dir / f"{name}.pw", password)

    def ctl(self, user, *args, env=None):
        """statusctl run as `user` (their HOME)."""
        r = ctl(self.base, *args, env=env, home=self.home(user))
        return r

    def logs(self):
        procs = [self.node] + ([self.gateway] if self.gateway else [])
        return "".join(open(p.log_path, errors="replace").read() for p in procs)


@pytest.fixture
def auth(tmp_path, procs):
    return AuthSystem(tmp_path, procs)


def token_file(home):
    return os.path.join(home, ".config", "statusctl", "token")


def saved_token(home):
    with open(token_file(home)) as f:
        return f.read().strip()


def test_signup_login_write_refusals_and_logout(auth):
    alice_pw = auth.password_file("alice", "alice-password-1")
    bob_pw = auth.password_file("bob", "bob-password-22")
    r = auth.ctl("alice", "signup", "ctl.alice", "--password-file", alice_pw)
    assert r.returncode == 0 and r.stdout.startswith("created account ctl.alice"), r
    r = auth.ctl("alice", "signup", "ctl.alice", "--password-file", alice_pw)
    assert r.returncode == 4 and "409" in r.stderr and "taken" in r.stderr, r

    # A wrong password: the server's 401, one clear line, exit 2, no token file.
    wrong = auth.password_file("wrong", "not-the-password")
    r = auth.ctl("alice", "login", "ctl.alice", "--password-file", wrong)
    assert (r.returncode, r.stderr) == (2, "statusctl: wrong username or password\n"), r
    assert not os.path.exists(token_file(auth.home("alice")))

    r = auth.ctl("alice", "login", "ctl.alice", "--password-file", alice_pw)
    assert r.returncode == 0, r
    assert re.fullmatch(r"signed in as ctl\.alice \(until \d{4}-\d\d-\d\dT[0-9:.]+Z\)\n", r.stdout), r
    home = auth.home("alice")
    assert stat.S_IMODE(os.stat(token_file(home)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(token_file(home))).st_mode) == 0o700
    alice_token = saved_token(home)
    assert len(alice_token) >= 16
    assert request("GET", auth.node.url + "/api/me",
                   headers={"Authorization": "Bearer " + alice_token}).json()["username"] == "ctl.alice"
    assert alice_token not in r.stdout + r.stderr

    r = auth.ctl("alice", "whoami")
    assert (r.returncode, r.stdout) == (0, "ctl.alice\n"), r
    r = auth.ctl("alice", "set", "ctl.alice", "Signed", "in")
    assert r.returncode == 0 and r.stdout.startswith("created ctl.alice"), r

    # Bob, with his token under $XDG_CONFIG_HOME, may not touch alice's status.
    xdg = str(auth.home("bob") / "xdg")
    bob = {"XDG_CONFIG_HOME": xdg}
    assert auth.ctl("bob", "signup", "ctl.bob", "--password-file", bob_pw).returncode == 0
    r = auth.ctl("bob", "login", "ctl.bob", "--password-file", bob_pw, env=bob)
    assert r.returncode == 0, r
    assert os.path.exists(os.path.join(xdg, "statusctl", "token"))
    assert not os.path.exists(token_file(auth.home("bob")))
    r = auth.ctl("bob", "set", "ctl.alice", "hijacked", env=bob)
    assert r.returncode == 2, r
    assert r.stderr == "statusctl: only ctl.alice or an admin may change ctl.alice's status\n"
    r = auth.ctl("bob", "delete", "ctl.alice", env=bob)
    assert r.returncode == 2 and "only ctl.alice or an admin" in r.stderr, r
    assert request("GET", auth.node.url + "/api/statuses/ctl.alice").json()["statusText"] == "Signed in"
    assert auth.ctl("bob", "set", "ctl.bob", "mine", env=bob).returncode == 0

    # Nobody signed in: told to sign in.
    r = auth.ctl("nobody", "set", "ctl.alice", "anonymous")
    assert (r.returncode, r.stderr) == (2, "statusctl: sign in first: statusctl login\n"), r

    # The token overrides: STATUS_TOKEN over the file, --token over STATUS_TOKEN.
    with open(os.path.join(xdg, "statusctl", "token")) as f:
        bob_token = f.read().strip()
    r = auth.ctl("alice", "whoami", env={"STATUS_TOKEN": bob_token})
    assert r.stdout == "ctl.bob\n", r
    r = auth.ctl("alice", "whoami", "--token", alice_token, env={"STATUS_TOKEN": bob_token})
    assert r.stdout == "ctl.alice\n", r

    # The admin may change anyone's status.
    admin_pw = auth.password_file("admin", ADMIN_PASSWORD)
    assert auth.ctl("admin", "login", "admin", "--password-file", admin_pw).returncode == 0
    assert auth.ctl("admin", "whoami").stdout == "admin (admin)\n"
    r = auth.ctl("admin", "set", "ctl.alice", "Set by the admin")
    assert r.returncode == 0 and r.stdout.startswith("updated ctl.alice"), r

    # Logout: the session ends on the server and the file goes; then writes are refused.
    r = auth.ctl("alice", "logout")
    assert r.returncode == 0 and r.stdout.startswith("signed out"), r
    assert not os.path.exists(token_file(home))
    assert request("GET", auth.node.url + "/api/me",
                   headers={"Authorization": "Bearer " + alice_token}).status == 401
    r = auth.ctl("alice", "set", "ctl.alice", "after logout")
    assert (r.returncode, r.stderr) == (2, "statusctl: sign in first: statusctl login\n"), r
    r = auth.ctl("alice", "set", "ctl.alice", "dead token", "--token", alice_token)
    assert r.returncode == 2 and "--token" in r.stderr and "statusctl login" in r.stderr, r
    r = auth.ctl("alice", "whoami")
    assert r.returncode == 2 and "not signed in" in r.stderr, r
    assert auth.ctl("alice", "logout").stdout == "not signed in\n"

    # Logout of a session already ended elsewhere: the file goes all the same.
    assert auth.ctl("alice", "login", "ctl.alice", "--password-file", alice_pw).returncode == 0
    assert request("DELETE", auth.node.url + "/api/sessions/current",
                   headers={"Authorization": "Bearer " + saved_token(home)}).status == 204
    r = auth.ctl("alice", "logout")
    assert r.returncode == 0 and "already ended" in r.stdout, r
    assert not os.path.exists(token_file(home))

    # No token in any log.
    logs = auth.logs()
    for t in (alice_token, bob_token):
        assert t not in logs


def test_login_lockout_says_to_wait(auth):
    pw = auth.password_file("carol", "carol-password-1")
    assert auth.ctl("carol", "signup", "ctl.carol", "--password-file", pw).returncode == 0
    wrong = auth.password_file("wrong", "not-the-password")
    for _ in range(5):
        r = auth.ctl("carol", "login", "ctl.carol", "--password-file", wrong)
        assert r.returncode == 2 and "wrong username or password" in r.stderr, r
    # Locked, even with the right password: the server's 429 and its Retry-After.
    r = auth.ctl("carol", "login", "ctl.carol", "--password-file", pw)
    assert r.returncode == 2, r
    m = re.fullmatch(r"statusctl: too many failed sign-ins for ctl\.carol: wait (\d+) s before "
                     r"trying again\n", r.stderr)
    assert m and 0 < int(m.group(1)) <= 60, r.stderr
    assert not os.path.exists(token_file(auth.home("carol")))


def test_passwd_changes_the_password_and_ends_other_sessions(auth):
    old = auth.password_file("old", "dave-password-1")
    new = auth.password_file("new", "dave-password-2")
    assert auth.ctl("dave", "signup", "ctl.dave", "--password-file", old).returncode == 0
    assert auth.ctl("dave", "login", "ctl.dave", "--password-file", old).returncode == 0
    assert auth.ctl("dave2", "login", "ctl.dave", "--password-file", old).returncode == 0
    r = auth.ctl("dave", "passwd", "--password-file", new, "--new-password-file", new)
    assert r.returncode == 2 and "403" in r.stderr and "current password" in r.stderr, r
    r = auth.ctl("dave", "passwd", "--password-file", old, "--new-password-file", new)
    assert r.returncode == 0 and "other sessions have ended" in r.stdout, r
    assert auth.ctl("dave", "whoami").stdout == "ctl.dave\n"  # this session stays
    r = auth.ctl("dave2", "whoami")  # the other one ended
    assert r.returncode == 2 and "statusctl login" in r.stderr, r
    assert auth.ctl("dave3", "login", "ctl.dave", "--password-file", old).returncode == 2
    assert auth.ctl("dave3", "login", "ctl.dave", "--password-file", new).returncode == 0


def test_login_asks_on_the_terminal_without_echo(auth):
    """A real pseudo-terminal: the password typed there is not echoed, the login succeeds."""
    import pty
    pw = "erin-password-" + os.urandom(4).hex()
    assert auth.ctl("erin", "signup", "ctl.erin", "--password-file",
                    auth.password_file("erin", pw)).returncode == 0
    env = ctl_env(auth.home("erin"))
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        try:
            os.execve(CTL, [CTL, "--gateway", auth.base, "login", "ctl.erin"], env)
        finally:
            os._exit(127)
    seen = b""

    def read_until(pattern, timeout=15):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while pattern not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
        return pattern in seen

    try:
        assert read_until(b"Password for ctl.erin: "), seen
        os.write(fd, pw.encode() + b"\n")
        assert read_until(b"signed in as ctl.erin"), seen
        read_until(b"\n", timeout=2)
    finally:
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status is not None and os.waitstatus_to_exitcode(status) == 0, seen
    assert pw.encode() not in seen, seen  # echo was off
    assert stat.S_IMODE(os.stat(token_file(auth.home("erin"))).st_mode) == 0o600


# ---- status features (CONTRACT §2 and §8): emoji, availability, expiry, history, filters ----

def utc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rfc3339(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_set_with_emoji_availability_and_expiry(system):
    base, node, _ = system
    before = datetime.now(timezone.utc)
    r = ctl(base, "set", "ctl.fay", "In a meeting", "--emoji", "📅", "--availability", "busy",
            "--clear-after", "1h30m")
    assert r.returncode == 0 and r.stdout.startswith("created ctl.fay"), r
    stored = request("GET", node.url + "/api/statuses/ctl.fay").json()
    assert (stored["emoji"], stored["availability"]) == ("📅", "busy"), stored
    # --clear-after 1h30m became clearAfter 5400: the server set expiresAt 90 minutes ahead.
    expires = utc(stored["expiresAt"])
    assert before + timedelta(seconds=5400 - 5) <= expires <= before + timedelta(seconds=5400 + 5)
    for line in ("emoji         📅", "availability  busy", "expires       " + stored["expiresAt"]):
        assert line in r.stdout.splitlines(), (line, r.stdout)

    r = ctl(base, "get", "ctl.fay")
    assert r.returncode == 0, r
    assert "availability  busy" in r.stdout and "emoji         📅" in r.stdout, r.stdout
    assert "expires       " + stored["expiresAt"] in r.stdout

    # --expires-at goes as given; without --availability the server's default shows.
    at = rfc3339(datetime.now(timezone.utc) + timedelta(hours=2))
    r = ctl(base, "set", "ctl.fay", "Travelling", "--expires-at", at)
    assert r.returncode == 0 and r.stdout.startswith("updated ctl.fay"), r
    stored = request("GET", node.url + "/api/statuses/ctl.fay").json()
    assert stored["expiresAt"] == at and stored["availability"] == "available", stored
    assert "emoji" not in stored
    assert "availability  available" in r.stdout and "emoji" not in r.stdout, r.stdout

    # Plain seconds are a duration too.
    r = ctl(base, "set", "ctl.fay", "Back soon", "--clear-after", "600", "--json")
    assert r.returncode == 0, r
    assert 590 <= (utc(json.loads(r.stdout)["expiresAt"]) - datetime.now(timezone.utc)).total_seconds() <= 605


def test_set_status_options_refused_locally_or_by_the_server(system):
    base, node, _ = system
    assert ctl(base, "set", "ctl.gus", "kept").returncode == 0
    local = (["--clear-after", "1h", "--expires-at", rfc3339(datetime.now(timezone.utc) + timedelta(hours=1))],
             ["--availability", "lunch"], ["--clear-after", "1.5h"], ["--clear-after", "0"],
             ["--clear-after", "367d"])
    for extra in local:
        r = ctl(base, "set", "ctl.gus", "changed", *extra)
        assert r.returncode == 2, (extra, r)
        assert r.stderr.startswith("statusctl: ") and r.stderr.count("\n") == 1, (extra, r.stderr)
        assert "400" not in r.stderr, (extra, r.stderr)  # said by statusctl, nothing was sent
    # What only the server judges: its 400 and detail, exit 2.
    past = rfc3339(datetime.now(timezone.utc) - timedelta(minutes=1))
    far = rfc3339(datetime.now(timezone.utc) + timedelta(days=400))
    for extra in (["--expires-at", past], ["--expires-at", far], ["--expires-at", "tomorrow"],
                  ["--emoji", "x" * 33]):
        r = ctl(base, "set", "ctl.gus", "changed", *extra)
        assert r.returncode == 2 and "400" in r.stderr, (extra, r)
    assert request("GET", node.url + "/api/statuses/ctl.gus").json()["statusText"] == "kept"


def test_clear_after_expiry_and_history(system):
    base, node, _ = system
    r = ctl(base, "history", "ctl.hal")
    assert r.returncode == 1 and "404" in r.stderr, r  # neither a status nor a history

    assert ctl(base, "set", "ctl.hal", "First", "--availability", "away").returncode == 0
    r = ctl(base, "history", "ctl.hal")
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == ["TIME  ENDED  ENDED-BY  AVAILABILITY  STATUS",
                                     "0 previous statuses of ctl.hal"], r.stdout

    assert ctl(base, "set", "ctl.hal", "Second", "--emoji", "☕").returncode == 0
    assert ctl(base, "delete", "ctl.hal").returncode == 0
    assert ctl(base, "set", "ctl.hal", "Third", "--availability", "dnd",
               "--clear-after", "2s").returncode == 0
    third = request("GET", node.url + "/api/statuses/ctl.hal").json()
    # Gone within a second of its expiry: statusctl get says 404, exit 1.
    harness.wait_until(lambda: ctl(base, "get", "ctl.hal").returncode == 1, 6,
                       what="the status to expire")
    assert datetime.now(timezone.utc) >= utc(third["expiresAt"]) - timedelta(milliseconds=200)
    assert "ctl.hal" not in ctl(base, "list").stdout

    r = ctl(base, "history", "ctl.hal", "--json")
    assert r.returncode == 0, r
    entries = json.loads(r.stdout)
    assert [(e["statusText"], e["endedBy"]) for e in entries] == [
        ("Third", "expired"), ("Second", "deleted"), ("First", "replaced")], entries
    assert entries[0]["endedAt"] == third["expiresAt"]
    assert entries[1]["emoji"] == "☕" and entries[0]["availability"] == "dnd"

    r = ctl(base, "history", "ctl.hal")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["TIME", "ENDED", "ENDED-BY", "AVAILABILITY", "STATUS"]
    assert lines[-1] == "3 previous statuses of ctl.hal"
    rows = [l.split(None, 4) for l in lines[1:-1]]
    assert [(row[2], row[3], row[4]) for row in rows] == [
        ("expired", "dnd", "Third"), ("deleted", "available", "☕ Second"),
        ("replaced", "away", "First")], r.stdout
    assert [row[1] for row in rows] == [e["endedAt"] for e in entries]
    assert [row[0] for row in rows] == [e["time"] for e in entries]


def test_list_filters_with_paging(system):
    base, node, _ = system
    for user, text, extra in (
            ("ctl.f1", "R&D + ops review", ["--availability", "busy", "--lat", "48.2", "--lon", "16.3"]),
            ("ctl.f2", "Lunch", ["--availability", "away", "--lat", "52.5", "--lon", "13.4"]),
            ("ctl.f3", "Focus time", ["--availability", "dnd"]),
            ("ctl.f4", "Around", ["--lat", "48.1", "--lon", "16.2"])):
        assert ctl(base, "set", user, text, *extra).returncode == 0

    def users(*args):
        r = ctl(base, "list", "--json", *args)
        assert r.returncode == 0, (args, r)
        return sorted(s["username"] for s in json.loads(r.stdout))

    # q: a substring of username or text, any case; '&' and '+' arrive as typed.
    assert users("--q", "r&d + OPS") == ["ctl.f1"]
    assert users("--q", "CTL.F") == ["ctl.f1", "ctl.f2", "ctl.f3", "ctl.f4"]
    assert users("--availability", "busy", "--availability", "dnd") == ["ctl.f1", "ctl.f3"]
    assert users("--availability", "available") == ["ctl.f4"]
    assert users("--bbox", "16,48,17,49") == ["ctl.f1", "ctl.f4"]  # Vienna, not Berlin
    assert users("--user", "ctl.f2", "--user", "ctl.f3", "--user", "ctl.nobody") == ["ctl.f2", "ctl.f3"]
    assert users("--bbox", "16,48,17,49", "--availability", "busy") == ["ctl.f1"]
    assert users("--user", "ctl.f1", "--user", "ctl.f2", "--q", "lunch") == ["ctl.f2"]

    # The filters come before paging: the total counts the matches.
    r = ctl(base, "list", "--bbox", "-180,-90,180,90", "--limit", "1")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["USER", "AVAILABILITY", "TIME", "EXPIRES", "LOCATION", "STATUS"]
    assert len(lines) == 3 and lines[-1] == "1 shown of 3", r.stdout
    assert users("--bbox", "-180,-90,180,90", "--limit", "2", "--offset", "2") in (
        ["ctl.f1"], ["ctl.f2"], ["ctl.f4"])

    # The human table shows availability and emoji.
    assert ctl(base, "set", "ctl.f3", "Focus time", "--availability", "dnd", "--emoji", "🎧").returncode == 0
    r = ctl(base, "list", "--user", "ctl.f3")
    row = r.stdout.splitlines()[1]
    assert row.startswith("ctl.f3") and " dnd " in row and row.endswith("🎧 Focus time"), r.stdout

    # Cheap checks locally, the rest by the server (400, exit 2).
    for bad in (["--availability", "free"], ["--bbox", "1,2,3"], ["--bbox", "a,b,c,d"]):
        r = ctl(base, "list", *bad)
        assert r.returncode == 2 and "400" not in r.stderr, (bad, r)
    for bad in (["--bbox", "17,48,16,49"], ["--bbox", "0,0,200,10"],
                sum((["--user", f"u{i}"] for i in range(101)), [])):  # at most 100 users
        r = ctl(base, "list", *bad)
        assert r.returncode == 2 and "400" in r.stderr, (bad[:4], r)


def test_watch_shows_availability_expiry_and_the_expire_event(system):
    base, node, _ = system
    w = watcher(base, node, "--count", "2")
    r = ctl(base, "set", "ctl.ida", "Quick call", "--emoji", "📞", "--availability", "busy",
            "--clear-after", "1s", "--lat", "1.5", "--lon", "2")
    assert r.returncode == 0, r
    out, err = finish(w)
    assert w.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 2, out
    m = re.fullmatch(r"upsert ctl\.ida (\S+) busy until (\S+) \(1\.5, 2\) 📞 Quick call", lines[0])
    assert m, lines[0]
    assert 0.5 <= (utc(m.group(2)) - utc(m.group(1))).total_seconds() <= 2
    assert lines[1] == "expire ctl.ida", out

    w = watcher(base, node, "--json", "--count", "2")
    assert ctl(base, "set", "ctl.ida", "Again", "--clear-after", "1").returncode == 0
    out, err = finish(w)
    assert w.returncode == 0, err
    events = [json.loads(l) for l in out.splitlines()]
    assert [e["event"] for e in events] == ["upsert", "expire"], out
    assert events[1]["data"]["username"] == "ctl.ida"
    assert events[1]["data"]["version"] == events[0]["data"]["version"]


def test_history_is_the_same_on_every_node(tmp_path, procs, broker):
    """Two replicating nodes: the history written through one reads the same through the other."""
    nodes = harness.start_nodes(tmp_path, procs, 2, amqp=broker.url, prefix="ctlh")
    one, two = nodes[0].url, nodes[1].url
    for text in ("one", "two", "three"):
        r = ctl(one, "set", "ctl.jo", text, "--availability", "away", "--consistency", "all")
        assert r.returncode == 0, r
    assert ctl(two, "delete", "ctl.jo", "--consistency", "all").returncode == 0
    harness.wait_until(lambda: ctl(one, "history", "ctl.jo", "--json").stdout ==
                       ctl(two, "history", "ctl.jo", "--json").stdout, 10,
                       what="the same history on both nodes")
    r = ctl(two, "history", "ctl.jo")
    assert r.returncode == 0, r
    rows = [l.split(None, 4) for l in r.stdout.splitlines()[1:-1]]
    assert [(row[2], row[4]) for row in rows] == [("deleted", "three"), ("replaced", "two"),
                                                  ("replaced", "one")], r.stdout
    assert ctl(one, "history", "ctl.jo").stdout == r.stdout


def test_watch_resumes_on_another_node_when_its_stream_ends(tmp_path, procs, broker):
    """Behind a gateway over two nodes: the node carrying the watch stops; the changes made
    meanwhile on the other node arrive after the watcher reconnects (?lastEventId=)."""
    nodes = harness.start_nodes(tmp_path, procs, 2, amqp=broker.url, prefix="ctlw",
                                extra=["--drain-grace-ms", "100"])
    gw = harness.gateway(str(tmp_path), upstreams=[n.url.removeprefix("http://") for n in nodes])
    procs.append(gw)
    gw.start()
    base = gw.url
    assert ctl(base, "set", "ctl.w0", "before", "--consistency", "all").returncode == 0
    w = subprocess.Popen([CTL, "--gateway", base, "watch", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        def subscribers(n):
            try:
                m = request("GET", n.url + "/metrics").body.decode()
            except OSError:
                return 0
            return sum(float(l.split()[1]) for l in m.splitlines()
                       if l.startswith("status_event_subscribers "))
        harness.wait_until(lambda: sum(subscribers(n) for n in nodes) >= 1, 10,
                           what="the watcher to subscribe")
        assert ctl(base, "set", "ctl.w1", "first", "--consistency", "all").returncode == 0
        carrying = next(n for n in nodes if subscribers(n) >= 1)
        other = next(n for n in nodes if n is not carrying)
        carrying.stop()
        for i in (2, 3, 4):  # written while the watcher has no stream
            assert ctl(other.url, "set", f"ctl.w{i}", f"while away {i}").returncode == 0
        deadline = time.time() + 30
        while time.time() < deadline and not {"ctl.w2", "ctl.w3", "ctl.w4"} <= set(seen):
            line = w.stdout.readline()  # the watcher prints each event at once
            if not line:
                break
            e = json.loads(line)
            assert e["event"] != "reset", line
            seen.append(e["data"].get("username"))
    finally:
        w.kill()
        w.wait(5)
    # Every change arrives, the ones made while it had no stream too (some may repeat).
    assert seen and seen[0] == "ctl.w1", seen
    assert {"ctl.w2", "ctl.w3", "ctl.w4"} <= set(seen), seen
