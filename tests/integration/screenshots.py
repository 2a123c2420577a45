#!/usr/bin/env python3
"""screenshots.py: loads every dashboard page of a running instance in headless Chromium and saves PNGs.

Usage: screenshots.py BASE_URL OUTDIR [SESSION_COOKIE]
Prints TAP; SKIPs visibly when chromium is not installed.
"""
import os
import shutil
import subprocess
import sys
import tempfile

PAGES = ["/", "/accounts", "/models", "/latency", "/timeseries", "/bandwidth",
         "/reliability", "/routing", "/runtime", "/traces", "/pings", "/login"]


def main():
    if len(sys.argv) < 3:
        print("usage: screenshots.py BASE_URL OUTDIR [SESSION_COOKIE]", file=sys.stderr)
        return 2
    base, outdir = sys.argv[1].rstrip("/"), sys.argv[2]
    cookie = sys.argv[3] if len(sys.argv) > 3 else ""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("1..0 # SKIP chromium is not installed (apt-get install chromium)")
        return 0
    os.makedirs(outdir, exist_ok=True)
    print("1..%d" % len(PAGES))
    failed = 0
    with tempfile.TemporaryDirectory() as profile:
        for i, page in enumerate(PAGES, 1):
            name = "index" if page == "/" else page.strip("/")
            png = os.path.join(outdir, name + ".png")
            if os.path.exists(png):
                os.unlink(png)
            cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu",
                   "--user-data-dir=" + profile, "--window-size=1280,1600",
                   "--screenshot=" + png, base + page]
            if cookie:
                # A throwaway profile has no cookies: pass the session as a header.
                cmd.insert(1, "--extra-http-headers=Cookie: qp_session=" + cookie)
            try:
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=60, check=False)
            except subprocess.TimeoutExpired:
                pass
            good = os.path.exists(png) and os.path.getsize(png) > 1000
            if not good:
                failed += 1
            print("%s %d - %s -> %s" % ("ok" if good else "not ok", i, base + page, png))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
