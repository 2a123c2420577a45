#!/usr/bin/env python3
"""test_workers_e2e.py: two real quotapool-worker processes, each in front of
its own mock runtime (mock_upstream.py), serve the gateway (lighttpd with two
quotapool.fcgi processes) over outbound loopback connections only: both
register their runtime's models, a streamed chat is relayed event by event,
requests spread over both, kill -9 of a worker before its first byte lets
the request complete on the other, and a client that disconnects aborts the
mock runtime's request. Every process is stopped by its PID."""

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
from qp import cmp_ok, is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

WORKER = os.path.join(qp.BUILDDIR, "worker", "quotapool-worker")
if not os.access(WORKER, os.X_OK):
    qp.skip_all("%s is not built" % WORKER)
MODEL = "em"
GONE_S = 3


class Worker:
    """quotapool-worker in its own session, stderr to a file."""

    all = []

    def __init__(self, inst, key, name, runtime, conc=2):
        self.errpath = os.path.join(inst.dir, "worker-%s.err" % name)
        env = qp.child_env({"QP_E2E_WORKER_KEY": key})
        with open(self.errpath, "ab") as err:
            self.proc = subprocess.Popen(
                [WORKER, "--server", inst.url, "--key-env", "QP_E2E_WORKER_KEY",
                 "--upstream", runtime.base_url, "--name", name,
                 "--max-concurrency", str(conc), "--poll-wait", "5"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                env=env, start_new_session=True)
        Worker.all.append(self)

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)

    def err(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")


@atexit.register
def _stop_workers():
    for w in Worker.all:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait(5)


def live_workers(inst):
    return [r[0] for r in inst.db().execute(
        "SELECT name FROM workers WHERE gone_at IS NULL ORDER BY name").fetchall()]


def wait(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


ma = qp.mock(models=[MODEL])
mb = qp.mock(models=[MODEL])
inst = qp.Instance(procs=2, sections={
    "workers": {"enabled": True, "heartbeat_s": 1, "gone_after_s": GONE_S},
    "upstream": {"first_byte_timeout_s": 60}})
inst.start()
ka = inst.new_key("wa", worker=True)
kb = inst.new_key("wb", worker=True)

# ---- two workers register their runtimes' models --------------------------
wa = Worker(inst, ka, "wa", ma)
wb = Worker(inst, kb, "wb", mb)
is_eq(wait(lambda: live_workers(inst) == ["wa", "wb"], 15), True,
      "both workers registered")
r = inst.request("GET", "/v1/models")
ok(MODEL + "/workers" in [m["id"] for m in r.json().get("data", [])],
   "their runtime's model is in the catalog")

# ---- a streamed chat, event by event ----------------------------------------
for m in (ma, mb):
    m.script("*", {"events": 5, "interval_ms": 300})
body = {"model": MODEL, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}
with inst.stream("/v1/chat/completions", body, timeout=60) as s:
    s.read_all()
is_eq(s.status, 200, "stream through a worker: 200")
evs = [e for e in s.events() if e[1] and e[1] != "[DONE]"]
text = "".join((json.loads(e[1]).get("choices") or [{}])[0].get("delta", {})
               .get("content", "") or "" for e in evs)
is_eq(text, "hello world hello world hello", "the runtime's words reached the client")
times = sorted(set(t for t, _ in s.chunks))
cmp_ok(len(times), ">=", 3, "the events came in separate reads, as the runtime wrote them")
ok(b"[DONE]" in s.body, "the stream ends with [DONE]")

# ---- requests spread over both ------------------------------------------------
for m in (ma, mb):
    m.reset()
    m.script("*", {"delay_ms": 800})
res = [None] * 4


def one(i):
    res[i] = inst.request("POST", "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": str(i)}]}, timeout=60)


ts = [threading.Thread(target=one, args=(i,)) for i in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join(60)
is_eq([getattr(r, "status", None) for r in res], [200] * 4, "four concurrent requests: 200")
na, nb = len(ma.requests(path="/v1/chat/completions")), len(mb.requests(
    path="/v1/chat/completions"))
is_eq((na, nb), (2, 2), "four concurrent requests: two on each runtime")

# ---- kill -9 of a worker before its first byte ---------------------------------
wb.kill(signal.SIGTERM)
wait(lambda: live_workers(inst) == ["wa"], GONE_S + 10)
is_eq(live_workers(inst), ["wa"], "wb said bye on SIGTERM: wa alone")
ma.reset()
mb.reset()
ma.script("*", {"delay_ms": 30000})
out = {}


def slow():
    out["r"] = inst.request("POST", "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "k"}]}, timeout=90)


th = threading.Thread(target=slow)
th.start()
got = wait(lambda: ma.requests(path="/v1/chat/completions"), 15)
ok(got, "wa's runtime got the job")
wb = Worker(inst, kb, "wb", mb)
wait(lambda: live_workers(inst) == ["wa", "wb"], 15)
is_eq(wa.kill(signal.SIGKILL), -signal.SIGKILL, "kill -9 of wa before its first byte")
th.join(90)
r = out.get("r")
is_eq(getattr(r, "status", None), 200, "the request completed on the other worker")
ok(mb.requests(path="/v1/chat/completions"), "wb's runtime served it")
uid = r.headers.get("x-proxy-request-id") if r else None
time.sleep(0.5)
att = inst.db().execute(
    "SELECT a.account_name FROM request_attempts a JOIN requests q ON q.id = "
    "a.request_id WHERE q.request_uid = ? ORDER BY a.attempt_number", (uid,)).fetchall()
is_eq([a[0] for a in att], ["wa", "wb"], "its attempts name wa, then wb")

# ---- a client that disconnects aborts the runtime's request ----------------------
mb.reset()
mb.script("*", {"events": 60, "interval_ms": 200})
s = inst.stream("/v1/chat/completions", body, timeout=30)
is_eq(s.status, 200, "disconnect: the stream started")
n = 0
for t, c in s:
    n += c.count(b"data:")
    if n >= 3:
        break
s.close()
rec = mb.wait_for(lambda recs: [x for x in recs if x["path"] == "/v1/chat/completions"
                                and x["client_closed"]], timeout=20)
ok(rec and rec[0]["events_sent"] < rec[0]["events_total"],
   "disconnect: the worker closed the runtime's request before its last event",
   lambda: "  mock records: %r\n  worker log: %s" % (mb.requests(), wb.err()[-2000:]))

is_eq(wb.kill(signal.SIGTERM), 0, "wb exits 0 on SIGTERM")
inst.stop()
qp.done()
