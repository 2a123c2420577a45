#!/usr/bin/env python3
"""state_stream.py: what an idle state stream (/api/v1/state/stream) costs.

One quotapool instance (lighttpd + quotapool.fcgi) whose workers tables are
seeded with --workers workers (a third of them busy, a third gone, each
with a few models). The CPU time of quotapool.fcgi and of lighttpd (from
/proc/PID/stat) is read over --seconds with no stream open, then over the
same time with --streams state streams open and idle (nothing changes in
the tables, so each sends its first event and then keepalives only). The
difference, divided by the streams and the seconds, is the CPU one idle
stream costs: its read of the tables every second and its keepalives.

Run it from an optimised build directory (no sanitizers):
    make bench-state-stream                    # same as:
    python3 ../bench/state_stream.py [--workers N] [--streams N] [--seconds S]
Needs lighttpd. Every process it starts is stopped by PID at the end.
This is a benchmark, not a test: it never runs under `make check`.
"""

import argparse
import hashlib
import os
import secrets
import select
import shutil
import socket
import sqlite3
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

import qp  # noqa: E402  (instances, mock processes, cleanup at exit)

qp._tap["finished"] = True
sys.excepthook = sys.__excepthook__
TICK = os.sysconf("SC_CLK_TCK")


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def cpu_s(pids):
    """User + system CPU seconds of pids so far."""
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def seed(path, n):
    now = int(time.time() * 1000)
    c = sqlite3.connect(path, timeout=10)
    with c:
        key = "qp_" + secrets.token_hex(24)
        cur = c.execute("INSERT INTO client_keys (name, prefix, hash, role, created_at) "
                        "VALUES ('wk-bench', ?, ?, 'worker', ?)",
                        (key[:11], hashlib.sha256(key.encode()).digest(), now))
        kid = cur.lastrowid
        for i in range(n):
            seen = now + 3600000 if i % 3 != 2 else now - 3600000
            wid = c.execute(
                "INSERT INTO workers (key_id, name, version, capacity, first_seen_at, "
                "hello_at, last_seen_at, jobs_done, job_ms_sum) VALUES "
                "(?, ?, '1.0', 4, ?, ?, ?, ?, ?)",
                (kid, "w%04d" % i, seen, seen, seen, i, i * 100)).lastrowid
            for m in range(4):
                c.execute("INSERT INTO worker_models (worker_id, model_id) VALUES (?, ?)",
                          (wid, "model-%d" % m))
            if i % 3 == 1:
                c.execute("INSERT INTO worker_jobs (id, worker_id, process_id, socket_path, "
                          "model, state, created_at) VALUES (?, ?, 1, '/x', 'model-0', "
                          "'streaming', ?)", (secrets.token_hex(16), wid, now))
    c.close()


def open_stream(port, key):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("GET /api/v1/state/stream HTTP/1.0\r\nHost: 127.0.0.1\r\n"
               "Authorization: Bearer %s\r\n\r\n" % key).encode())
    return s


def drain(socks, stop, counts):
    while not stop.is_set():
        r, _, _ = select.select(socks, [], [], 0.5)
        for s in r:
            data = s.recv(65536)
            counts[s.fileno()] = counts.get(s.fileno(), 0) + len(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=30)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()

    mock = qp.mock(models=["m"])
    inst = qp.Instance(providers={"p": {"mock": mock, "protocols": ["openai"],
                                        "models": ["m"], "accounts": ["a"]}})
    inst.start()
    admin = inst.new_key("bench-admin", admin_role=True)
    seed(inst.db_path, args.workers)
    time.sleep(2)
    pids = inst.app_pids()
    web = [p for p in inst.pids() if p not in pids]
    say("quotapool.fcgi %r, others %r; %d workers seeded" % (pids, web, args.workers))

    a0, w0 = cpu_s(pids), cpu_s(web)
    time.sleep(args.seconds)
    base_app, base_web = cpu_s(pids) - a0, cpu_s(web) - w0

    socks = [open_stream(inst.port, admin) for _ in range(args.streams)]
    stop, counts = threading.Event(), {}
    t = threading.Thread(target=drain, args=(socks, stop, counts), daemon=True)
    t.start()
    time.sleep(2)  # the first events
    first = sum(counts.values())
    a0, w0 = cpu_s(pids), cpu_s(web)
    time.sleep(args.seconds)
    app, webc = cpu_s(pids) - a0, cpu_s(web) - w0
    sent = sum(counts.values()) - first
    stop.set()
    t.join()
    for s in socks:
        s.close()
    inst.stop()

    per = (app - base_app) / args.streams / args.seconds
    perw = (webc - base_web) / args.streams / args.seconds
    print("workers seeded              %d" % args.workers)
    print("streams                     %d over %.0f s" % (args.streams, args.seconds))
    print("quotapool.fcgi CPU, idle    %.3f s  (%.2f%% of a core)"
          % (base_app, 100 * base_app / args.seconds))
    print("quotapool.fcgi CPU, streams %.3f s  (%.2f%% of a core)"
          % (app, 100 * app / args.seconds))
    print("per idle stream, fcgi       %.2f ms CPU per second (%.3f%% of a core)"
          % (per * 1000, per * 100))
    print("per idle stream, lighttpd   %.2f ms CPU per second" % (perw * 1000))
    print("bytes sent per stream       %.0f B/s after the first event"
          % (sent / args.streams / args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
