#!/usr/bin/env python3
"""One GET per connection, N connections one after another (bench/conn_cost.sh's client).

    conn_client.py [--ca CA.crt] URL N

Over https:// each connection resumes the session of the one before (a TLS 1.3 ticket), as
browsers and wrk do; prints "resumed R of N" (https) or "N connections" (http). Fails on any
answer but 200."""
import argparse
import socket
import ssl
import sys
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ca")
    ap.add_argument("url")
    ap.add_argument("n", type=int)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    tls = u.scheme == "https"
    ctx = ssl.create_default_context(cafile=a.ca) if tls else None
    request = (f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.hostname}\r\n"
               "Connection: close\r\n\r\n").encode()
    session, resumed = None, 0
    for _ in range(a.n):
        s = socket.create_connection((u.hostname, u.port), timeout=30)
        if tls:
            s = ctx.wrap_socket(s, server_hostname="localhost", session=session)
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            sys.exit(f"conn_client.py: {a.url}: {data[:200]!r}")
        if tls:
            resumed += s.session_reused
            session = s.session
        s.close()
    print(f"resumed {resumed} of {a.n}" if tls else f"{a.n} connections")


if __name__ == "__main__":
    main()
