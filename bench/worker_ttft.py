#!/usr/bin/env python3
"""worker_ttft.py: what the remote-worker path adds to a stream's first token.

One quotapool instance (lighttpd + quotapool.fcgi, --procs processes) and
two mock runtimes of the same kind (tests/integration/mock_upstream.py, each
its own process, OpenAI chat completions), so that both paths meet the same
runtime code:

  direct  the first mock configured as a provider the gateway calls itself:
          client -> lighttpd -> quotapool.fcgi -> mock
  worker  the second mock behind a quotapool-worker process that dialled in
          with a worker key ([workers] enabled):
          client -> lighttpd -> quotapool.fcgi -> hand-off -> the worker's
          long poll -> quotapool-worker -> mock, and the answer back as result
          POSTs through lighttpd to the process holding the client

The same streamed chat is asked of each, in turn, sample after sample, one
at a time. Timed: connect to the first byte of the answer's first word
("hello", the mock's first delta), by a raw-socket client. The difference of
the medians, and the median of the paired differences, are the first-token
cost of the worker path; p90 shows the spread.

Run it from an optimised build directory (no sanitizers):
    make bench-worker                        # same as:
    python3 ../bench/worker_ttft.py [--samples N] [--procs N] [--json out.json]
Needs lighttpd and worker/quotapool-worker. Every process it starts is
stopped by PID at the end. This is a benchmark, not a test: it never runs
under `make check`.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("QP_SRCDIR", SRCDIR)
os.environ.setdefault("QP_BUILDDIR", os.getcwd())
if not os.environ.get("LIGHTTPD"):
    os.environ["LIGHTTPD"] = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))

import qp  # noqa: E402  (instances, mock processes, cleanup at exit)

# qp.py is the integration tests' harness: keep its instance handling and its
# cleanup at exit, but this script is not a TAP test.
qp._tap["finished"] = True
sys.excepthook = sys.__excepthook__

CHAT = "/v1/chat/completions"
DIRECT, VIA = "m-direct", "m-worker"
MARK = b'"content":"hello"'


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def request(port, model, key):
    data = json.dumps({"model": model, "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    return (("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\nConnection: close\r\n\r\n")
            % (CHAT, port, key, len(data))).encode() + data


def first_token(port, req, timeout=30.0):
    """Seconds from connect to the first byte of MARK in the answer's body;
    reads the answer to its end."""
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout)
    t1 = None
    buf = b""
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(req)
        while True:
            d = s.recv(65536)
            if not d:
                break
            if t1 is None:
                buf += d
                h = buf.find(b"\r\n\r\n")
                if h >= 0 and buf.find(MARK, h) >= 0:
                    t1 = time.perf_counter()
    finally:
        s.close()
    status = buf.split(b"\r\n", 1)[0].decode("latin-1")
    if t1 is None or " 200" not in status:
        raise SystemExit("worker_ttft: no first token from %r: %r" % (
            req[:60], buf[:400]))
    return t1 - t0


def pct(v, p):
    v = sorted(v)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--warm", type=int, default=20)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    exe = os.path.join(qp.BUILDDIR, "worker", "quotapool-worker")
    if not os.access(exe, os.X_OK):
        raise SystemExit("worker_ttft: %s is not built" % exe)

    md = qp.MockProcess(style="openai", models=[DIRECT])
    mw = qp.MockProcess(style="openai", models=[VIA])
    inst = qp.Instance(providers={
        "direct": {"base_url": md.base_url, "protocols": ["openai"],
                   "models": [DIRECT], "accounts": ["bd"]},
    }, sections={"workers": {"enabled": True}}, server={"log_level": "warning"},
        prefix="qp-bench-", procs=a.procs)
    inst.start()
    wkey = inst.new_key("bench-worker", worker=True)
    env = qp.child_env({"QP_BENCH_WORKER_KEY": wkey})
    err = open(os.path.join(inst.dir, "worker.err"), "ab")
    wp = subprocess.Popen(
        [exe, "--server", inst.url, "--key-env", "QP_BENCH_WORKER_KEY",
         "--upstream", mw.base_url, "--name", "bench", "--max-concurrency", "4"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = inst.request("GET", "/v1/models")
            ids = [m.get("id") for m in (r.try_json() or {}).get("data", [])]
            # Listed as "m-worker/workers" (the [workers] provider's suffix).
            if r.status == 200 and any(i in (VIA, VIA + "/workers") for i in ids):
                break
            time.sleep(0.2)
        else:
            raise SystemExit("worker_ttft: the worker's model never reached the catalog")
        reqs = {"direct": request(inst.port, DIRECT, inst.key),
                "worker": request(inst.port, VIA, inst.key)}
        got = {k: [] for k in reqs}
        say("worker_ttft: %d samples per path after %d to warm up, %d fcgi processes"
            % (a.samples, a.warm, a.procs))
        for i in range(a.samples + a.warm):
            for kind, req in reqs.items():
                t = first_token(inst.port, req)
                if i >= a.warm:
                    got[kind].append(t * 1e3)
        time.sleep(1.0)
        c = inst.db()
        try:
            rows = c.execute("SELECT model, status, count(*) FROM requests "
                             "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
            jobs = c.execute("SELECT state, count(*) FROM worker_jobs GROUP BY 1 "
                             "ORDER BY 1").fetchall()
        finally:
            c.close()
    finally:
        if wp.poll() is None:
            os.kill(wp.pid, signal.SIGTERM)
            try:
                wp.wait(40)
            except subprocess.TimeoutExpired:
                os.kill(wp.pid, signal.SIGKILL)
                wp.wait(5)
        err.close()
        inst.stop()
        md.stop()
        mw.stop()
    res = {}
    print("| Path | n | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for kind in ("direct", "worker"):
        v = got[kind]
        res[kind] = {"p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99),
                     "n": len(v)}
        print("| %s | %d | %.3f | %.3f | %.3f |" % (
            kind, len(v), pct(v, 50), pct(v, 90), pct(v, 99)))
    pairs = [x - y for x, y in zip(got["worker"], got["direct"])]
    res["added_p50"] = res["worker"]["p50"] - res["direct"]["p50"]
    res["added_p90"] = res["worker"]["p90"] - res["direct"]["p90"]
    res["paired_median"] = pct(pairs, 50)
    print("the worker path adds %.3f ms to the median first token (%.3f ms at p90); "
          "median of the paired differences %.3f ms" % (
              res["added_p50"], res["added_p90"], res["paired_median"]))
    print("request rows: %s" % rows)
    print("worker jobs: %s" % jobs)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
