"""Every flag and STATUS_* variable that scripts/up, deploy/ and docs/deployment.md hand to a binary
exists in that binary's --help. (Docker can't run here; this is what can be checked of deploy/.)"""
import os
import re
import subprocess

import pytest

import harness

ROOT = harness.ROOT
BINARIES = ("status-node", "status-registry", "status-gateway")
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")
ENV = re.compile(r"\b(STATUS_[A-Z0-9_]+)\b")


def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


def help_of(binary):
    exe = os.path.join(harness.BIN, binary)
    if not os.path.exists(exe):
        pytest.skip(f"{binary} is not built")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10, check=True).stdout
    flags = set(re.findall(r"^\s+--([a-z0-9-]+)", out, re.M))
    envs = set(re.findall(r"\{(STATUS_[A-Z0-9_]+)\}", out))
    assert "help" in flags and envs, out  # the parse itself works
    return flags, envs


@pytest.fixture(scope="module")
def helps():
    return {b: help_of(b) for b in BINARIES}


def uses_in_up():
    """{binary: (flags, envs)} from the commands scripts/up runs (lines joined at '\\'): the flags
    after the binary, the STATUS_* assignments in front of the command."""
    text = read("scripts", "up").replace("\\\n", " ")
    out = {b: (set(), set()) for b in BINARIES}
    for line in text.splitlines():
        m = re.search(r'"\$BIN/(status-[a-z]+)"(.*)', line)
        if m:
            out[m.group(1)][0].update(FLAG.findall(m.group(2)))
            out[m.group(1)][1].update(re.findall(r"\b(STATUS_[A-Z0-9_]+)=", line[:m.start()]))
    # Flags in arrays named after the process: TLS=1's (registry_tls=(…), node_tls+=(…), …)
    # and the shared ones of several instances (registry_args=(…)).
    for m in re.finditer(r"\b(registry|node|gateway)_(?:tls|args)\+?=\((.*)\)", text):
        out["status-" + m.group(1)][0].update(FLAG.findall(m.group(2)))
    # Exported for the nodes and the gateway (secrets such as the registry URL's password).
    exported = set(re.findall(r"^\s*export (STATUS_[A-Z0-9_]+)\b", text, re.M))
    for b in ("status-node", "status-gateway"):
        out[b][1].update(exported)
    return out


def uses_in_systemd():
    d = os.path.join(ROOT, "deploy", "systemd")
    env_file = {"status-node@": "node", "status-registry": "registry", "status-gateway": "gateway"}
    out = {b: (set(), set()) for b in BINARIES}
    for unit in sorted(f for f in os.listdir(d) if f.endswith(".service")):
        text = read("deploy", "systemd", unit)
        binary = re.search(r"^ExecStart=\S*/(status-[a-z]+)(.*)$", text, re.M)
        assert binary, unit
        flags, envs = out[binary.group(1)]
        flags.update(FLAG.findall(binary.group(2)))
        envs.update(ENV.findall("\n".join(l for l in text.splitlines() if l.startswith("Environment="))))
        # The example EnvironmentFiles the unit reads.
        assert "/etc/status-server/common.env" in text, unit
        for example in ("common", env_file[unit.removesuffix(".service")]):
            body = read("deploy", "systemd", example + ".env.example")
            envs.update(re.findall(r"^(STATUS_[A-Z0-9_]+)=", body, re.M))
    return out


def uses_in_compose(secrets_dir):
    """Per service of docker-compose.yml: its binary, its flags and variables, also those of its
    env_file (as deploy/make-secrets wrote them into `secrets_dir`) and of the x- anchors it merges
    (`<<: *node`, `<<: *tls` in its environment). A small reader of this file's own layout, so the
    test needs no YAML library."""
    blocks, current, anchors = {}, None, {}
    for line in read("deploy", "docker-compose.yml").splitlines():
        if line.strip().startswith("#"):
            continue
        m = re.match(r"^(x-[\w-]+):(?:\s*&([\w-]+))?", line) or re.match(r"^  ([\w-]+):\s*(?:&([\w-]+))?\s*$", line)
        if m:
            current = m.group(1)
            blocks[current] = {"binary": None, "merges": [], "flags": set(), "envs": set()}
            if m.group(2):
                anchors[m.group(2)] = current
            continue
        if current is None or re.match(r"^\S", line):
            current = None if re.match(r"^\S", line) else current
            continue
        b = blocks[current]
        if (m := re.search(r"<<:\s*\*([\w-]+)", line)):
            b["merges"].append(m.group(1))
        if (m := re.search(r"command:.*?(status-[a-z]+)(.*)", line)):
            b["binary"] = m.group(1)
            b["flags"].update(FLAG.findall(m.group(2)))
        if (m := re.match(r"^\s+(STATUS_[A-Z0-9_]+):", line)):
            b["envs"].add(m.group(1))
        if (m := re.search(r"env_file:\s*\[([^\]]*)\]", line)):
            for f in m.group(1).split(","):
                assert f.strip().startswith("secrets/"), line  # what make-secrets writes
                with open(os.path.join(secrets_dir, os.path.basename(f.strip()))) as env_file:
                    b["envs"].update(re.findall(r"^(STATUS_[A-Z0-9_]+)=", env_file.read(), re.M))

    def binary_of(name):
        b = blocks[name]
        return b["binary"] or next(filter(None, (binary_of(anchors[m]) for m in b["merges"])), None)

    def merged(name, key):  # its own flags or envs and those of every anchor it merges
        b = blocks[name]
        return b[key].union(*(merged(anchors[m], key) for m in b["merges"]))

    out = {b: (set(), set()) for b in BINARIES}
    for name in blocks:
        if name.startswith("x-"):
            continue  # an anchor counts where a service merges it
        flags, envs = merged(name, "flags"), merged(name, "envs")
        if envs or flags:
            binary = binary_of(name)
            assert binary, f"compose service {name} sets STATUS_* but runs no known binary"
            out[binary][0].update(flags)
            out[binary][1].update(envs)
    return out


def uses_in_docs():
    """Command lines in docs/deployment.md that start a binary."""
    out = {b: (set(), set()) for b in BINARIES}
    text = read("docs", "deployment.md").replace("\\\n", " ")
    for line in text.splitlines():
        for m in re.finditer(r"\b(status-(?:node|registry|gateway))\b(?!@)((?:\s+(?:--[a-z0-9-]+(?:[ =][^\s`|]+)?))+)", line):
            out[m.group(1)][0].update(FLAG.findall(m.group(2)))
    return out


def check(uses, helps, where):
    wrong = []
    for binary, (flags, envs) in uses.items():
        known_flags, known_envs = helps[binary]
        wrong += [f"{where}: {binary} --{f}" for f in sorted(flags - known_flags)]
        wrong += [f"{where}: {binary} {e}" for e in sorted(envs - known_envs)]
    assert not wrong, "not in --help: " + ", ".join(wrong)


def test_scripts_up(helps):
    uses = uses_in_up()
    assert {"node-id", "data-dir"} <= uses["status-node"][0]
    # Secrets travel in the environment, never on the command line: the broker's URL and the
    # registry URL with its credentials.
    assert "STATUS_AMQP_URL" in uses["status-node"][1] and "amqp-url" not in uses["status-node"][0]
    assert "STATUS_REGISTRY_URL" in uses["status-node"][1] & uses["status-gateway"][1]
    assert "credentials-file" in uses["status-registry"][0]
    assert "web-root" in uses["status-gateway"][0]
    tls = {"tls-cert", "tls-key", "tls-ca"}
    assert tls <= uses["status-registry"][0] and tls | {"amqp-ca"} <= uses["status-node"][0]
    assert tls | {"redirect-port"} <= uses["status-gateway"][0]
    check(uses, helps, "scripts/up")


def test_systemd_units(helps):
    uses = uses_in_systemd()
    assert {"STATUS_AMQP_URL", "STATUS_QUEUE_TYPE", "STATUS_NODE_ID", "STATUS_DATA_DIR"} <= uses["status-node"][1]
    assert "STATUS_PEER" in uses["status-registry"][1]
    assert "STATUS_REGISTRY_URL" in uses["status-gateway"][1]
    for binary in BINARIES:  # TLS by default
        assert {"STATUS_TLS_CERT", "STATUS_TLS_KEY", "STATUS_TLS_CA"} <= uses[binary][1], binary
    assert "STATUS_REDIRECT_PORT" in uses["status-gateway"][1]
    d = os.path.join(ROOT, "deploy", "systemd")
    for f in os.listdir(d):
        text = read("deploy", "systemd", f)
        assert not re.search(r"^[^#]*\b(?:http|amqp)://", text, re.M), f"a plain URL in {f}"
        if f.endswith(".service"):
            assert "ExecReload=/bin/kill -HUP $MAINPID" in text, f  # systemctl reload: new certificates
    check(uses, helps, "deploy/systemd")


def test_compose(helps, tmp_path):
    made = subprocess.run([os.path.join(ROOT, "deploy", "make-secrets"), str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=10, check=True)
    assert "mode 0600" in made.stdout
    files = {f: (tmp_path / "s" / f) for f in ("rabbitmq.env", "amqp.env")}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files.values())
    password = re.search(r"^RABBITMQ_DEFAULT_PASS=([0-9a-f]{48})$", files["rabbitmq.env"].read_text(), re.M)
    assert password, files["rabbitmq.env"].read_text()
    assert files["amqp.env"].read_text() == f"STATUS_AMQP_URL=amqps://status:{password.group(1)}@rabbitmq:5671/\n"
    tls = tmp_path / "s" / "tls"
    ca = (tls / "ca.crt").read_bytes()
    again = subprocess.run([os.path.join(ROOT, "deploy", "make-secrets"), str(tmp_path / "s")],
                           capture_output=True, text=True, timeout=30, check=True)
    assert "kept" in again.stderr and password.group(1) in files["rabbitmq.env"].read_text()
    assert (tls / "ca.crt").read_bytes() == ca  # the CA that browsers may trust already stays
    # No broker password in the compose file itself: the user and the URL come from those files.
    compose = read("deploy", "docker-compose.yml")
    assert "RABBITMQ_DEFAULT_PASS" not in compose and not re.search(r"amqps?://[^/\s:@]+:[^@\s]+@", compose)
    # TLS by default: every compose secret is a file make-secrets made, each service's certificate
    # names that service (how the others reach it) and is signed by the CA; its key is the
    # containers' user's (uid 999), for no one else.
    secret_files = dict(re.findall(r"^  ([\w-]+): \{file: secrets/(tls/[\w.-]+)\}$", compose, re.M))
    assert secret_files["ca"] == "tls/ca.crt" and len(secret_files) == 15, secret_files
    for name, path in secret_files.items():
        assert (tmp_path / "s" / path).is_file(), path
        if path.endswith(".key"):
            st = (tmp_path / "s" / path).stat()
            assert st.st_mode & 0o777 == 0o600 and (os.getuid() != 0 or st.st_uid == 999), path
        elif name != "ca":
            service = name.removesuffix("-crt")
            subprocess.run(["openssl", "verify", "-CAfile", str(tls / "ca.crt"), str(tmp_path / "s" / path)],
                           check=True, capture_output=True, timeout=10)
            text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                                   str(tmp_path / "s" / path)], capture_output=True, text=True,
                                  timeout=10, check=True).stdout
            assert f"DNS:{service}" in text and "IP Address:127.0.0.1" in text, (service, text)
            assert re.search(rf"^  {service}:\n(?:    .*\n)*?      - \{{source: {name}, target: server\.crt\}}",
                             compose, re.M), f"{service} mounts {name}"
    assert not re.search(r"\bhttp://|amqp://", re.sub(r"(?m)^\s*#.*$", "", compose)), "a plain URL in the compose file"
    uses = uses_in_compose(str(tmp_path / "s"))
    assert {"STATUS_AMQP_URL", "STATUS_NODE_ID", "STATUS_ADVERTISE_HOST"} <= uses["status-node"][1]
    assert "STATUS_PEER" in uses["status-registry"][1]
    assert "STATUS_WEB_ROOT" in uses["status-gateway"][1]
    for binary in BINARIES:
        assert {"STATUS_TLS_CERT", "STATUS_TLS_KEY", "STATUS_TLS_CA"} <= uses[binary][1], binary
    assert "STATUS_REDIRECT_PORT" in uses["status-gateway"][1]
    check(uses, helps, "deploy/docker-compose.yml")


def test_dockerfile(helps):
    text = read("deploy", "Dockerfile")
    envs = set(re.findall(r"^\s*(?:ENV\s+)?(STATUS_[A-Z0-9_]+)=", text, re.M))
    assert "STATUS_BIND" in envs
    for e in envs:  # an image-wide default must mean something to at least one binary
        assert any(e in helps[b][1] for b in BINARIES), e
    assert "STATUS_BIND" in helps["status-node"][1] and "STATUS_BIND" in helps["status-registry"][1] \
        and "STATUS_BIND" in helps["status-gateway"][1]
    for binary in BINARIES + ("statusctl",):
        assert f"/src/build/bin/{binary}" in text, binary


def test_deployment_doc(helps):
    uses = uses_in_docs()
    assert "queue-type" in uses["status-node"][0] and "peer" in uses["status-registry"][0]
    check(uses, helps, "docs/deployment.md")


def test_checker_catches_a_wrong_flag(helps):
    with pytest.raises(AssertionError, match="--no-such-flag"):
        check({"status-node": ({"no-such-flag"}, set()), "status-registry": (set(), set()),
               "status-gateway": (set(), set())}, helps, "self-test")
