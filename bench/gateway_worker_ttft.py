#!/usr/bin/env python3
"""gateway_worker_ttft.py: what the remote-worker path adds to a stream's first token
at the gateway, against a provider it calls directly.

One quotapool instance (lighttpd + quotapool.fcgi, [workers] enabled) and two
mock runtimes, each its own process (tests/integration/mock_upstream.py):
one is a provider the gateway calls directly, the other sits behind a real
quotapool-worker that dials in over loopback. The same streamed answer is
asked for through both, in turn, sample after sample:

  direct   gateway -> provider (libcurl)
  worker   gateway -> job -> worker's long poll -> runtime -> result POSTs
           -> hand-off -> client

Timed: connect to the first byte of the answer's first text (the word the
mock sends first), by a raw-socket client. The difference of the medians, and
the median of the differences of samples taken one after the other, are the
first-token cost of the worker path; p90 and p99 show the spread.

Run it from an optimised build directory (no sanitizers):
    make bench-gateway-worker                # same as:
    python3 ../bench/gateway_worker_ttft.py [--samples N] [--procs N] [--json out.json]
Needs lighttpd. Every process it starts is stopped by PID at the end.
This is a benchmark, not a test: it never runs under `make check`.
"""

import argparse
import json
import os
import shutil
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

qp._tap["finished"] = True
sys.excepthook = sys.__excepthook__
CHAT = "/v1/chat/completions"
WORKER = os.path.join(qp.BUILDDIR, "worker", "quotapool-worker")


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def request(port, body, key):
    data = json.dumps(body).encode()
    return (("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\nConnection: close\r\n\r\n") % (
                 CHAT, port, key, len(data))).encode() + data


def first_token(port, req, mark=b'"content":"hello"', timeout=10.0):
    """Seconds from connect to the first byte of mark in the answer's body."""
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
                if h >= 0 and buf.find(mark, h) >= 0:
                    t1 = time.perf_counter()
    finally:
        s.close()
    status = buf.split(b"\r\n", 1)[0].decode("latin-1")
    if t1 is None or " 200" not in status:
        raise SystemExit("gateway_worker_ttft: no first token: %r" % buf[:400])
    return t1 - t0


def pct(v, p):
    v = sorted(v)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--warm", type=int, default=30)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    if not os.access(WORKER, os.X_OK):
        raise SystemExit("gateway_worker_ttft: %s is not built" % WORKER)

    md = qp.MockProcess(style="openai", models=["m-direct"])
    mw = qp.MockProcess(style="openai", models=["m-worker"])
    inst = qp.Instance(providers={
        "pd": {"base_url": md.base_url, "protocols": ["openai"],
               "models": ["m-direct"], "accounts": ["bd"]},
    }, server={"log_level": "warning"}, procs=a.procs, sections={
        "workers": {"enabled": True}}, prefix="qp-bench-")
    inst.start()
    wkey = inst.new_key("bench-worker", worker=True)
    env = qp.child_env({"QP_BENCH_WORKER_KEY": wkey})
    wp = subprocess.Popen(
        [WORKER, "--server", inst.url, "--key-env", "QP_BENCH_WORKER_KEY",
         "--upstream", mw.base_url, "--name", "bench", "--max-concurrency", "4"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(inst.dir, "worker.err"), "ab"), env=env,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = inst.request("GET", "/v1/models")
            if "m-worker/workers" in r.text:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("gateway_worker_ttft: the worker did not register")
        body = {"stream": True, "messages": [{"role": "user", "content": "hi"}]}
        cases = {"direct": request(inst.port, dict(body, model="m-direct"), inst.key),
                 "worker": request(inst.port, dict(body, model="m-worker"), inst.key)}
        got = {k: [] for k in cases}
        say("gateway_worker_ttft: %d samples per path after %d to warm up, %d process%s" % (
            a.samples, a.warm, a.procs, "" if a.procs == 1 else "es"))
        for i in range(a.samples + a.warm):
            for kind, req in cases.items():
                t = first_token(inst.port, req)
                if i >= a.warm:
                    got[kind].append(t * 1e3)
    finally:
        if wp.poll() is None:
            wp.terminate()
            try:
                wp.wait(40)
            except subprocess.TimeoutExpired:
                wp.kill()
                wp.wait(5)
    inst.stop()
    md.stop()
    mw.stop()
    res = {}
    print("| Path | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|")
    for kind, v in got.items():
        res[kind] = {"p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99),
                     "n": len(v)}
        print("| %s | %.3f | %.3f | %.3f |" % (kind, pct(v, 50), pct(v, 90),
                                              pct(v, 99)))
    add = res["worker"]["p50"] - res["direct"]["p50"]
    pairs = [x - y for x, y in zip(got["worker"], got["direct"])]
    res["added_p50"] = add
    res["paired_median"] = pct(pairs, 50)
    print("the worker path adds %.3f ms to the median first token; median of "
          "the paired differences %.3f ms" % (add, pct(pairs, 50)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
