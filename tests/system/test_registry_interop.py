"""The real eureka-js-client (npm, pinned in tests/interop/package-lock.json) against
status-registry: register, fetch, heartbeat, 404 → re-register, delta, deregister; open, and with
--credentials-file, the client's serviceUrls carrying user:password@ (a client without them, or
with a wrong password, is refused)."""
import os
import shutil
import subprocess

import pytest

import harness

INTEROP = os.path.join(harness.ROOT, "tests", "interop")
# ':' and '@' in the password: the client percent-encodes them in its service URL.
USER, PASSWORD = "jsclient", "p@ss:w0rd-7f3a"


@pytest.mark.parametrize("with_credentials", [False, True], ids=["open", "credentials"])
def test_eureka_js_client_works_unchanged(tmp_path, procs, with_credentials):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (Node.js) is not installed: the eureka-js-client interop test needs it")
    if not os.path.isdir(os.path.join(INTEROP, "node_modules", "eureka-js-client")):
        npm = shutil.which("npm")
        assert npm, "npm is needed to install tests/interop's eureka-js-client"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True, timeout=300,
                       capture_output=True)
    reg = harness.registry(str(tmp_path), users={USER: PASSWORD} if with_credentials else None)
    procs.append(reg)
    reg.start()
    env = dict(os.environ, REGISTRY_PORT=str(reg.port))
    if with_credentials:
        env["REGISTRY_AUTH"] = f"{USER}:{PASSWORD}"
    r = subprocess.run([node, "js_client.js"], cwd=INTEROP, capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr + reg.log_tail()
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "ok done", r.stdout
    assert ("ok refused without or with wrong credentials (401)" in lines) == with_credentials
    if with_credentials:
        assert "user=jsclient" in open(reg.log_path).read()
