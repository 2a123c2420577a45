#!/usr/bin/env python3
"""worker_ttft.py: what quotapool-worker adds to a stream's first token.

One mock runtime (mock_upstream.py), one protocol-speaking gateway
(tests/integration/wkgateway.py) and the real quotapool-worker, all on
127.0.0.1. For each of N rounds, in turn:

  direct   a streamed chat sent straight to the runtime: time from the
           request to the first "data:" byte read;
  worker   the same chat as a job: time from the job being queued at the
           gateway (a long poll waits for it) to the first result POST that
           holds a "data:" byte arriving at the gateway.

The difference is the worker path's own cost: the long poll's answer, the
job's parse, the call to the runtime, the head line and one result POST.
It leaves out what the real gateway adds (its hand-off between processes
and the relay to the client). Not a test; run from an optimised build:
`make bench-worker` (BENCH_ARGS='--rounds 500').
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time

SRCDIR = os.environ.get("QP_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
BUILDDIR = os.environ.get("QP_BUILDDIR") or os.getcwd()
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
sys.dont_write_bytecode = True
from mock_upstream import MockUpstream  # noqa: E402
import wkgateway  # noqa: E402

KEY = "qp_" + "3e" * 24
BODY = {"model": "m1", "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}


def direct(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = json.dumps(BODY).encode()
    t0 = time.monotonic()
    c.request("POST", "/v1/chat/completions", body=data,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    buf = b""
    while b"data:" not in buf:
        chunk = r.read1(65536)
        if not chunk:
            break
        buf += chunk
    t = time.monotonic() - t0
    r.read()
    c.close()
    return t


def via_worker(gw):
    t0 = time.monotonic()
    jid = gw.add_job(BODY)

    def first():
        with gw.cond:
            for rec in gw.results.get(jid, []):
                if b"data:" in rec[3]:
                    return rec[0]
        return None
    t1 = gw.wait(first, 30)
    gw.wait(lambda: jid in gw.ended, 30)
    if t1 is None:
        raise RuntimeError("job %s: no data came back" % jid)
    return t1 - t0


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--json", help="write the figures to this file too")
    a = ap.parse_args()
    worker = os.path.join(BUILDDIR, "worker", "quotapool-worker")
    mock = MockUpstream(models=["m1"]).start()
    gw = wkgateway.Gateway(KEY, heartbeat_s=10)
    env = dict(os.environ, QP_BENCH_WORKER_KEY=KEY)
    p = subprocess.Popen([worker, "--server", gw.url, "--key-env",
                          "QP_BENCH_WORKER_KEY", "--upstream", mock.base_url,
                          "--name", "bench"], env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if not gw.wait(lambda: gw.hellos, 10):
            raise RuntimeError("the worker did not say hello")
        d, w = [], []
        for _ in range(5):      # warm-up: connections, caches
            direct(mock.port)
            via_worker(gw)
        for _ in range(a.rounds):
            d.append(direct(mock.port))
            w.append(via_worker(gw))
    finally:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        gw.stop()
        mock.stop()
    rows = []
    print("first token, ms (%d rounds)   p50     p90     p99     max"
          % a.rounds)
    for name, v in (("direct to the runtime", d),
                    ("through quotapool-worker", w)):
        r = [pct(v, 50), pct(v, 90), pct(v, 99), max(v)]
        rows.append((name, r))
        print("%-30s %7.3f %7.3f %7.3f %7.3f" % ((name,) +
                                                  tuple(x * 1000 for x in r)))
    added = [x - y for x, y in zip(w, d)]
    print("%-30s %7.3f (median of the per-round differences)"
          % ("added by the worker path", statistics.median(added) * 1000))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": a.rounds, "direct_s": d, "worker_s": w},
                      f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
