#!/usr/bin/env python3
"""xlate_ttft.py: what translation adds to a stream's first token in quotapool.

One quotapool instance (lighttpd + quotapool.fcgi) and two mock providers,
each its own process (tests/integration/mock_upstream.py): one speaks only
OpenAI chat completions, one only Anthropic Messages. Against each provider
the same streamed answer is asked for twice, in turn, sample after sample:

  native      a client of the provider's own API (relayed byte for byte)
  translated  a client of the other API (messages>chat or chat>messages)

Timed: connect to the first byte of the answer's first text (the word the
mock sends first), by a raw-socket client. The difference of the medians, and
the median of the differences of samples taken one after the other, are
the first-token cost of translation; p90 and p99 show the spread.

Run it from an optimised build directory (no sanitizers):
    make bench-xlate                         # same as:
    python3 ../bench/xlate_ttft.py [--samples N] [--json out.json]
Needs lighttpd. Every process it starts is stopped by PID at the end.
This is a benchmark, not a test: it never runs under `make check`.
"""

import argparse
import json
import os
import shutil
import socket
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

CHAT, MESSAGES = "/v1/chat/completions", "/v1/messages"


def say(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def request(port, path, body, key):
    data = json.dumps(body).encode()
    return (("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Authorization: Bearer %s\r\nanthropic-version: 2023-06-01\r\n"
             "Content-Type: application/json\r\nContent-Length: %d\r\n"
             "Connection: close\r\n\r\n") % (path, port, key, len(data))
            ).encode() + data


def first_token(port, req, mark, timeout=10.0):
    """Seconds from connect to the first byte of mark in the answer's body;
    reads the answer to its end. Returns (seconds, status line)."""
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
        raise SystemExit("xlate_ttft: no first token from %r: %r" % (
            req[:40], buf[:400]))
    return t1 - t0, status


def pct(v, p):
    v = sorted(v)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--warm", type=int, default=40)
    ap.add_argument("--json")
    a = ap.parse_args()

    mo = qp.MockProcess(style="openai", models=["m-chat"])
    ma = qp.MockProcess(style="anthropic", models=["m-msg"])
    inst = qp.Instance(providers={
        "po": {"base_url": mo.base_url, "protocols": ["openai"],
               "models": ["m-chat"], "accounts": ["bo"]},
        "pa": {"base_url": ma.base_url, "protocols": ["anthropic"],
               "models": ["m-msg"], "accounts": ["ba"]},
    }, server={"log_level": "warning"}, prefix="qp-bench-")
    inst.start()
    time.sleep(1.0)
    chat = {"stream": True, "messages": [{"role": "user", "content": "hi"}]}
    msgs = dict(chat, max_tokens=16)
    cases = {
        # provider: (native request, translated request)
        "OpenAI chat provider": (
            request(inst.port, CHAT, dict(chat, model="m-chat"), inst.key),
            request(inst.port, MESSAGES, dict(msgs, model="m-chat"),
                    inst.key)),
        "Anthropic provider": (
            request(inst.port, MESSAGES, dict(msgs, model="m-msg"),
                    inst.key),
            request(inst.port, CHAT, dict(chat, model="m-msg"), inst.key)),
    }
    # The first word of the mock's answer, in either shape.
    marks = {CHAT: b'"content":"hello"', MESSAGES: b'"text":"hello"'}
    got = {(p, k): [] for p in cases for k in ("native", "translated")}
    say("xlate_ttft: %d samples per path after %d to warm up" % (
        a.samples, a.warm))
    for i in range(a.samples + a.warm):
        for prov, (nat, xl) in cases.items():
            for kind, req in (("native", nat), ("translated", xl)):
                path = req.split(b" ", 2)[1].decode()
                t, _ = first_token(inst.port, req, marks[path])
                if i >= a.warm:
                    got[(prov, kind)].append(t * 1e3)
    time.sleep(1.0)
    rows = dp_rows(inst)
    inst.stop()
    mo.stop()
    ma.stop()
    res = {}
    print("| Provider | Client | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for prov in cases:
        for kind in ("native", "translated"):
            v = got[(prov, kind)]
            res["%s %s" % (prov, kind)] = {"p50": pct(v, 50), "p90": pct(v, 90),
                                           "p99": pct(v, 99), "n": len(v)}
            print("| %s | %s | %.3f | %.3f | %.3f |" % (
                prov, kind, pct(v, 50), pct(v, 90), pct(v, 99)))
    for prov in cases:
        add = res["%s translated" % prov]["p50"] - res["%s native" % prov]["p50"]
        pairs = [x - y for x, y in zip(got[(prov, "translated")],
                                       got[(prov, "native")])]
        res["%s added_p50" % prov] = add
        res["%s paired_median" % prov] = pct(pairs, 50)
        print("translation adds %.3f ms to the median first token (%s); "
              "median of the paired differences %.3f ms" % (
                  add, prov, pct(pairs, 50)))
    print("request rows: %s" % rows)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


def dp_rows(inst):
    """Rows by translation and status: every request was served and counted."""
    c = inst.db()
    try:
        return c.execute("SELECT coalesce(translation, 'native'), status, "
                         "count(*) FROM requests GROUP BY 1, 2").fetchall()
    finally:
        c.close()


if __name__ == "__main__":
    main()
