#!/usr/bin/env python3
"""screenshots.py: loads every dashboard page of a running instance in headless Chromium.

Usage: screenshots.py BASE_URL OUTDIR [SESSION_TOKEN]

For each page: saves OUTDIR/NAME.png, and fails when the page logs a
console error (Chromium's console messages are read from its log). The
session token, if given, is sent as the qp_session cookie by a small
loopback proxy in front of the gateway (a fresh Chromium profile has no
cookies). Prints TAP; SKIPs visibly when chromium is not installed.
"""
import http.client
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

PAGES = ["/", "/accounts", "/models", "/latency", "/timeseries", "/bandwidth",
         "/reliability", "/routing", "/runtime", "/traces", "/pings", "/workers",
         "/login"]
CONSOLE_ERROR = re.compile(r"CONSOLE.*(Uncaught|Error|error|Refused)|"
                           r"Refused to (load|execute|apply)")


def cookie_proxy(base, token):
    """Starts a loopback proxy adding the session cookie; returns (server, url)."""
    target = urllib.parse.urlsplit(base)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "cookie", "connection")}
            headers["Cookie"] = "qp_session=" + token
            conn.request("GET", self.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            conn.close()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d" % srv.server_address[1]


def main():
    if len(sys.argv) < 3:
        print("usage: screenshots.py BASE_URL OUTDIR [SESSION_TOKEN]", file=sys.stderr)
        return 2
    base, outdir = sys.argv[1].rstrip("/"), sys.argv[2]
    token = sys.argv[3] if len(sys.argv) > 3 else ""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("1..0 # SKIP chromium is not installed (apt-get install chromium)")
        return 0
    os.makedirs(outdir, exist_ok=True)
    proxy = None
    if token:
        proxy, base = cookie_proxy(base, token)
    print("1..%d" % (2 * len(PAGES)))
    failed = 0
    n = 0
    try:
        with tempfile.TemporaryDirectory() as profile:
            for page in PAGES:
                name = "index" if page == "/" else page.strip("/")
                png = os.path.join(outdir, name + ".png")
                if os.path.exists(png):
                    os.unlink(png)
                cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu",
                       "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
                       "--user-data-dir=" + profile, "--window-size=1280,1800",
                       "--screenshot=" + png, base + page]
                try:
                    r = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, timeout=60, check=False)
                    log = r.stderr.decode("utf-8", "replace")
                except subprocess.TimeoutExpired:
                    log = "timed out"
                good = os.path.exists(png) and os.path.getsize(png) > 1000
                n += 1
                failed += not good
                print("%s %d - %s saved as %s" % ("ok" if good else "not ok", n, page, png))
                errors = [l for l in log.splitlines() if CONSOLE_ERROR.search(l)]
                n += 1
                failed += bool(errors)
                print("%s %d - %s: no console errors" % ("not ok" if errors else "ok", n, page))
                for l in errors[:5]:
                    print("# " + l)
    finally:
        if proxy is not None:
            proxy.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
