"""The gateway serves the web client like a static site (docs/gateway.md, "The web client"):
precompressed gzip and brotli, an ETag per representation and 304, content-hashed URLs that are
immutable, /cluster, HEAD, and the tile flags reflected in the page's meta tags and CSP.
Black-box, against the real status-gateway binary (no node needed: nothing here reaches /api)."""
import gzip
import os
import re
import subprocess

import brotli  # Debian's python3-brotli (scripts/install-deps)
import pytest

import harness
from harness import request

REPO_WEB = os.path.join(harness.ROOT, "web")
HASHED = re.compile(r'(?:src|href)="(/_/([0-9a-f]{16})/([^"?#]+))')


def make_root(tmp):
    web = tmp / "web"
    (web / "js").mkdir(parents=True)
    (web / "css").mkdir()
    (web / "index.html").write_text(
        '<!doctype html>\n<html lang="en"><head>\n<meta charset="utf-8">\n'
        '<meta name="tile-url" content="">\n<meta name="tile-attribution" content="">\n'
        '<link rel="stylesheet" href="css/app.css">\n'
        '<script type="module" src="js/app.js"></script>\n</head>\n'
        '<body><a href="#main">skip</a> <a href="https://leafletjs.com">Leaflet</a>'
        + "<p>status</p>" * 50 + "</body></html>\n")
    (web / "cluster.html").write_text(
        '<!doctype html><html><head><link rel="stylesheet" href="css/app.css">'
        '<script type="module" src="js/cluster-page.js"></script></head><body>cluster</body></html>\n')
    (web / "js" / "app.js").write_text(
        "import { api } from './api.js';\n" + "".join(f"export const v{i} = api + {i};\n" for i in range(200)))
    (web / "js" / "api.js").write_text("import { h } from './util.js';\nexport const api = h;\n"
                                       + "// the API of the page\n" * 20)
    (web / "js" / "util.js").write_text("export const h = 1;\n" * 20)
    (web / "js" / "cluster-page.js").write_text("import { api } from './api.js';\nconsole.log(api);\n")
    (web / "css" / "app.css").write_text("body { margin: 0; color: #123456; }\n" * 40)
    (web / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (web / ".env").write_text("SECRET=1")
    return web


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("static")
    web = make_root(tmp)
    gw = harness.gateway(str(tmp), upstreams=[f"127.0.0.1:{harness.free_port()}"],
                         extra=["--web-root", str(web)])
    gw.start()
    try:
        yield gw, web
    finally:
        gw.kill()


def get(gw, path, method="GET", **headers):
    return request(method, gw.url + path, headers={k.replace("_", "-"): v for k, v in headers.items()})


def decoded(r):
    enc = r.header("content-encoding")
    if enc == "gzip":
        return gzip.decompress(r.body)
    if enc == "br":
        return brotli.decompress(r.body)
    assert enc is None, enc
    return r.body


def test_every_coding_decompresses_to_the_file(site):
    gw, web = site
    page = get(gw, "/", Accept_Encoding="identity")
    hashed = {path: rel for path, _, rel in HASHED.findall(page.body.decode())}
    assert set(hashed.values()) >= {"css/app.css", "js/app.js", "js/api.js", "js/util.js"}, hashed
    for path, rel in hashed.items():
        want = (web / rel).read_bytes()
        etags = set()
        for ae, coding in (("gzip, deflate, br", "br"), ("gzip", "gzip"), ("identity", None),
                           ("br;q=0, gzip;q=0.5", "gzip"), ("*;q=0.1, gzip;q=0", "br")):
            r = get(gw, path, Accept_Encoding=ae)
            assert r.status == 200, (path, ae, r)
            assert r.header("content-encoding") == coding, (path, ae, r.headers)
            assert decoded(r) == want, (path, ae)
            assert r.header("vary") == "Accept-Encoding", r.headers
            assert r.header("cache-control") == "public, max-age=31536000, immutable", r.headers
            assert r.header("content-length") == str(len(r.body))
            etags.add(r.header("etag"))
            if coding:
                assert len(r.body) < len(want), (path, coding)
        assert len(etags) == 3, etags  # one per representation
    # No Accept-Encoding at all: identity.
    r = harness.raw(gw.port, b"GET /js/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert b"\r\nContent-Encoding:" not in r.split(b"\r\n\r\n")[0]
    assert r.split(b"\r\n\r\n", 1)[1] == (web / "js" / "app.js").read_bytes()


def test_html_is_rewritten_and_revalidated(site):
    gw, web = site
    r = get(gw, "/", Accept_Encoding="br")
    assert r.status == 200 and r.header("content-encoding") == "br"
    assert r.header("cache-control") == "no-cache"
    assert r.header("content-type") == "text/html; charset=utf-8"
    html = decoded(r).decode()
    assert html == get(gw, "/index.html", Accept_Encoding="identity").body.decode()
    hashes = {h for _, h, _ in HASHED.findall(html)}
    assert len(hashes) == 1, hashes
    h = hashes.pop()
    assert f'<link rel="stylesheet" href="/_/{h}/css/app.css">' in html
    assert f'<script type="module" src="/_/{h}/js/app.js"></script>' in html
    # Every module of the page's import graph is preloaded, the entry itself is not.
    assert f'<link rel="modulepreload" href="/_/{h}/js/api.js">' in html
    assert f'<link rel="modulepreload" href="/_/{h}/js/util.js">' in html
    assert f'modulepreload" href="/_/{h}/js/app.js"' not in html
    assert '<a href="#main">' in html and '<a href="https://leafletjs.com">' in html
    assert '<meta name="tile-url" content="">' in html  # no --tile-url: no online tiles
    # 304 on If-None-Match (also in a list, weakly), with the cache fields and no body.
    etag = r.header("etag")
    for inm in (etag, f'"nope", W/{etag}', "*"):
        again = get(gw, "/", Accept_Encoding="br", If_None_Match=inm)
        assert again.status == 304, (inm, again)
        assert again.body == b""
        assert again.header("etag") == etag
        assert again.header("cache-control") == "no-cache"
        assert again.header("vary") == "Accept-Encoding"
    # Another representation's tag does not match it.
    assert get(gw, "/", Accept_Encoding="gzip", If_None_Match=etag).status == 200


def test_hashed_urls_old_hash_and_head(site):
    gw, web = site
    html = get(gw, "/").body.decode()
    path, h, rel = HASHED.findall(html)[0]
    r = get(gw, path, Accept_Encoding="gzip")
    etag = r.header("etag")
    assert get(gw, path, Accept_Encoding="gzip", If_None_Match=etag).status == 304
    # An older page after an upgrade names another hash: the current file, revalidated.
    old = get(gw, f"/_/0123456789abcdef/{rel}", Accept_Encoding="identity")
    assert old.status == 200 and old.body == (web / rel).read_bytes()
    assert old.header("cache-control") == "no-cache"
    # The plain path serves it too, revalidated.
    plain = get(gw, "/" + rel, Accept_Encoding="identity")
    assert plain.status == 200 and plain.header("cache-control") == "no-cache"
    for bad in ("/_/nothex/js/app.js", f"/_/{h}", f"/_/{h}/../.env", f"/_/{h}/.env", "/.env", "/_/"):
        assert get(gw, bad).status == 404, bad
    # HEAD: the same fields as GET, no body.
    for ae in ("br", "gzip", "identity"):
        g = get(gw, path, Accept_Encoding=ae)
        hd = get(gw, path, "HEAD", Accept_Encoding=ae)
        assert hd.status == 200 and hd.body == b""
        for f in ("content-type", "content-length", "content-encoding", "etag", "cache-control",
                  "vary", "content-security-policy", "x-content-type-options", "referrer-policy"):
            assert hd.header(f) == g.header(f), (f, ae, hd.headers, g.headers)
    png = get(gw, "/logo.png", Accept_Encoding="gzip, br")
    assert png.status == 200 and png.header("content-encoding") is None and png.header("vary") is None
    assert png.body == (web / "logo.png").read_bytes() and png.header("etag")


def test_cluster_view_and_index(site):
    gw, web = site
    c = get(gw, "/cluster", Accept_Encoding="identity")
    assert c.status == 200 and c.header("content-type") == "text/html; charset=utf-8"
    assert c.body == get(gw, "/cluster.html", Accept_Encoding="identity").body
    body = c.body.decode()
    h = HASHED.findall(body)[0][1]
    # Its relative references resolve from /, whatever the path it is served at.
    assert f'href="/_/{h}/css/app.css"' in body and f'src="/_/{h}/js/cluster-page.js"' in body
    assert f'<link rel="modulepreload" href="/_/{h}/js/api.js">' in body
    assert get(gw, "/").body == get(gw, "/index.html").body
    assert get(gw, "/", "POST").status == 405


def test_the_repository_web_client(tmp_path, procs):
    """The real web/: every reference of the page is served under its hash, compressed."""
    gw = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{harness.free_port()}"],
                         extra=["--web-root", REPO_WEB])
    procs.append(gw)
    gw.start()
    html = get(gw, "/", Accept_Encoding="identity").body.decode()
    refs = HASHED.findall(html)
    assert any(rel == "dist/app.js" for _, _, rel in refs), html[:2000]
    total = 0
    for path, _, rel in refs:
        r = get(gw, path, Accept_Encoding="gzip, deflate, br")
        assert r.status == 200, path
        assert decoded(r) == open(os.path.join(REPO_WEB, rel), "rb").read(), path
        total += len(r.body)
    csp = get(gw, "/").header("content-security-policy")
    assert "img-src 'self' data:;" in csp, csp
    print(f"the page's {len(refs)} hashed references: {total} bytes compressed")


def test_tile_flags_fill_the_meta_tags_and_the_csp(tmp_path, procs):
    web = make_root(tmp_path)
    url = "https://{s}.tile.example.org/{z}/{x}/{y}.png?key=a&v=2"
    gw = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{harness.free_port()}"],
                         extra=["--web-root", str(web), "--tile-url", url,
                                "--tile-attribution", '© Example "Tiles" <contributors>'])
    procs.append(gw)
    gw.start()
    r = get(gw, "/", Accept_Encoding="identity")
    html = r.body.decode()
    assert ('<meta name="tile-url" content="https://{s}.tile.example.org/{z}/{x}/{y}.png?key=a&amp;v=2">'
            in html), html
    assert ('<meta name="tile-attribution" content="© Example &quot;Tiles&quot; &lt;contributors&gt;">'
            in html), html
    csp = r.header("content-security-policy")
    assert "img-src 'self' data: https://*.tile.example.org; connect-src 'self'" in csp, csp
    assert "openstreetmap" not in csp
    # One host, no subdomains: exactly its origin.
    gw2 = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{harness.free_port()}"],
                          extra=["--web-root", str(web), "--tile-url",
                                 "http://127.0.0.1:8099/tiles/{z}/{x}/{y}.png"], name="gw2")
    procs.append(gw2)
    gw2.start()
    csp2 = get(gw2, "/").header("content-security-policy")
    assert "img-src 'self' data: http://127.0.0.1:8099;" in csp2, csp2


@pytest.mark.parametrize("args", [
    ["--tile-url", "https://tile.example.org/{z}/{x}.png"],
    ["--tile-url", "ftp://tile.example.org/{z}/{x}/{y}.png"],
    ["--tile-url", "https://tile.example.org/{z}/{x}/{y}.png\" onerror=\"x"],
    ["--tile-url", "https://tile.example.org/{z}/{x}/{y}/{key}.png"],
    ["--tile-url", "https://tile.example.org;script-src *;/{z}/{x}/{y}.png"],
    ["--tile-attribution", "no tiles to attribute"],
], ids=["no-y", "scheme", "quote", "placeholder", "csp-injection", "attribution-alone"])
def test_bad_tile_flags_are_refused_at_start(tmp_path, args):
    binary = os.path.join(harness.BIN, "status-gateway")
    p = subprocess.run([binary, "--upstream", "127.0.0.1:1", "--port", str(harness.free_port())] + args,
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, (args, p.returncode, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1 and "tile" in p.stderr, p.stderr


def test_a_web_root_beyond_the_bounds_is_refused(tmp_path):
    web = tmp_path / "big"
    web.mkdir()
    for i in range(2001):
        (web / f"f{i}.txt").write_text("x")
    binary = os.path.join(harness.BIN, "status-gateway")
    p = subprocess.run([binary, "--upstream", "127.0.0.1:1", "--port", str(harness.free_port()),
                        "--web-root", str(web)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "more than 2000 files" in p.stderr, p.stderr
