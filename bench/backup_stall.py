#!/usr/bin/env python3
"""backup_stall.py: how long the data plane stalls while a backup is taken.

A gateway (lighttpd + quotapool.fcgi, as `quotapool-admin serve` runs them)
serves a steady load of non-streaming chat requests at a fixed rate against
a mock provider (its own process), on a database filled with ROWS past
requests (bench/bench_stats --keep). After a baseline, `quotapool-admin
backup` runs once; the load goes on before, during and after it. Printed:
the latency of the requests that started before the backup and of those
that started while it ran (p50, p99, max), the longest gap between two
answers in each window, failed requests, the backup's wall time, its
database copy time (from the manifest) and the sizes.

Run from a build directory after make (no sanitizers):
    make bench-backup [BENCH_ARGS='--rows 1000000 --rate 200']
Loopback only; every process it starts is stopped by PID. Not a test.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("QP_SRCDIR", SRCDIR)
os.environ.setdefault("QP_BUILDDIR", os.getcwd())
if not os.environ.get("LIGHTTPD"):
    os.environ["LIGHTTPD"] = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
import qp  # noqa: E402

# qp.py's instance handling and cleanup at exit, without its TAP output.
qp._tap["finished"] = True
sys.excepthook = sys.__excepthook__


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def gap(ends):
    ends = sorted(ends)
    return max((b - a for a, b in zip(ends, ends[1:])), default=float("nan"))


# A fixed chat.completion served by a threaded server in its own process,
# with Nagle off so that no delayed ACK puts a 40 ms floor under every answer.
UPSTREAM = r"""
import http.server, json, sys
ANSWER = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion",
    "created": 1700000000, "model": "m1", "choices": [{"index": 0,
    "finish_reason": "stop", "message": {"role": "assistant",
    "content": "hello world"}}], "usage": {"prompt_tokens": 10,
    "completion_tokens": 2, "total_tokens": 12}}).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": "m1",
    "object": "model"}]}).encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a):
        pass
    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.answer(MODELS)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(ANSWER)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("PORT %d" % s.server_address[1], flush=True)
s.serve_forever()
"""


class FixedUpstream:
    """The upstream above, stopped by PID."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", UPSTREAM],
                                     stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.stop()
            sys.exit("the bench upstream did not start")
        self.base_url = "http://127.0.0.1:%d/v1" % int(line.split()[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1000000,
                    help="past requests in the database (default 1000000)")
    ap.add_argument("--rate", type=float, default=200.0,
                    help="requests per second (default 200)")
    ap.add_argument("--clients", type=int, default=8,
                    help="client threads (default 8)")
    ap.add_argument("--baseline", type=float, default=10.0,
                    help="seconds of load before the backup (default 10)")
    ap.add_argument("--after", type=float, default=5.0,
                    help="seconds of load after it (default 5)")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    build = os.getcwd()
    bench_stats = os.path.join(build, "bench", "bench_stats")
    if not (os.access(qp.ADMIN, os.X_OK) and os.access(bench_stats, os.X_OK)):
        sys.exit("backup_stall.py: run it from a build directory after make")

    work = qp.tempdir("qp-bench-backup-")
    sys.stderr.write("filling %d requests (bench_stats --keep)...\n" % args.rows)
    out = subprocess.run([bench_stats, "--rows", str(args.rows), "--keep"],
                         capture_output=True, text=True, timeout=1800)
    db = ""
    for line in out.stdout.splitlines():
        if line.startswith("database "):
            db = line[len("database "):].strip()
    if out.returncode != 0 or not os.path.exists(db):
        sys.exit("bench_stats failed: %s" % out.stderr[-500:])
    dbfile = os.path.join(work, "quotapool.db")
    shutil.move(db, dbfile)
    for side in ("-wal", "-shm"):
        if os.path.exists(db + side):
            shutil.move(db + side, dbfile + side)

    mock = FixedUpstream()
    inst = qp.Instance(
        server={"threads": 32}, database={"path": dbfile},
        providers={"p1": {"base_url": mock.base_url, "protocols": ["openai"],
                          "models": ["m1"], "accounts": ["a1", "a2"]}})
    inst.start()
    deadline = time.monotonic() + 15
    while not inst.app_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    body = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(50):      # warm up threads and connections
        inst.request("POST", "/v1/chat/completions", body)

    samples = []             # (start, end, status)
    lock = threading.Lock()
    stop = threading.Event()
    t_begin = time.monotonic()
    interval = args.clients / args.rate

    def client(k):
        nxt = t_begin + k * interval / args.clients
        while not stop.is_set():
            now = time.monotonic()
            if now < nxt:
                time.sleep(nxt - now)
            nxt += interval
            t0 = time.monotonic()
            try:
                st = inst.request("POST", "/v1/chat/completions", body,
                                  timeout=30).status
            except OSError:
                st = 0
            with lock:
                samples.append((t0, time.monotonic(), st))

    threads = [threading.Thread(target=client, args=(k,), daemon=True)
               for k in range(args.clients)]
    for t in threads:
        t.start()
    time.sleep(args.baseline)
    b0 = time.monotonic()
    r = inst.admin("backup", "--to", os.path.join(work, "bk"), "--json",
                   timeout=3600)
    b1 = time.monotonic()
    time.sleep(args.after)
    stop.set()
    for t in threads:
        t.join(35)
    inst.stop()
    mock.stop()
    if r.rc != 0:
        sys.exit("backup failed: %s" % r.err)
    man = json.loads(r.out)

    def window(lo, hi):
        s = [x for x in samples if lo <= x[0] < hi]
        lat = [(e - b) * 1000 for b, e, st in s if st == 200]
        return {"requests": len(s), "failed": sum(1 for x in s if x[2] != 200),
                "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
                "max_ms": max(lat, default=float("nan")),
                "longest_gap_ms": gap([e for b, e, st in s]) * 1000}

    res = {"rows": args.rows, "rate": args.rate,
           "db_bytes": os.path.getsize(dbfile),
           "archive_bytes": os.path.getsize(man["path"]),
           "backup_wall_ms": (b1 - b0) * 1000, "copy_ms": man.get("copy_ms"),
           "before": window(t_begin + 1.0, b0),
           "during": window(b0, b1),
           "after": window(b1, b1 + args.after)}
    print("database: %d rows, %.1f MB; archive %.1f MB" % (
        args.rows, res["db_bytes"] / 1e6, res["archive_bytes"] / 1e6))
    print("backup: %.0f ms wall (database copy %s ms)" % (
        res["backup_wall_ms"], res["copy_ms"]))
    print("%-8s %8s %7s %8s %8s %8s %10s" % ("window", "requests", "failed",
                                          "p50 ms", "p99 ms", "max ms",
                                          "gap ms"))
    for w in ("before", "during", "after"):
        x = res[w]
        print("%-8s %8d %7d %8.2f %8.2f %8.2f %10.1f" % (
            w, x["requests"], x["failed"], x["p50_ms"], x["p99_ms"],
            x["max_ms"], x["longest_gap_ms"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
