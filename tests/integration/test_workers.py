#!/usr/bin/env python3
"""test_workers.py: remote workers speaking the protocol of docs/workers.md
over loopback through lighttpd with two quotapool.fcgi processes: key roles
refused both ways, hello, a streamed chat whose events arrive spread in
time, six concurrent requests spread by load over two workers, a worker that
goes silent before its first byte (the request completes on the other), a
client that disconnects (the worker's next POST gets 410), bad input, and
the hand-off crossing processes (the pids that logged differ)."""

import json
import os
import re
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

GONE_S = 3
MODEL = "wm"


def sse(obj):
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chunk(text):
    return sse({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                "model": MODEL, "choices": [{"index": 0, "delta":
                                            {"content": text}}]})


USAGE = sse({"id": "c1", "object": "chat.completion.chunk", "created": 1,
             "model": MODEL, "choices": [{"index": 0, "delta": {},
                                          "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 5, "completion_tokens": 3,
                       "total_tokens": 8}}) + b"data: [DONE]\n\n"
HEAD_SSE = b'{"status": 200, "headers": {"content-type": "text/event-stream"}}\n'
WHOLE = {"id": "x", "object": "chat.completion", "created": 1, "model": MODEL,
         "choices": [{"index": 0, "message": {"role": "assistant",
                                              "content": "whole"},
                      "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 4, "completion_tokens": 1,
                   "total_tokens": 5}}


class Worker:
    """A worker of the protocol in Python: hellos, long polls, result POSTs."""

    def __init__(self, inst, key, name, capacity=3, models=(MODEL,)):
        self.inst, self.key, self.name = inst, key, name
        self.capacity, self.models = capacity, list(models)
        self.handler = None
        self.jobs = []
        self.statuses = []
        self.stop = threading.Event()
        self.silent = threading.Event()
        self.lock = threading.Lock()
        self.thread = None

    def call(self, method, path, body=None, timeout=30):
        return qp.http_request(self.inst.port, method, path, body, key=self.key,
                               timeout=timeout)

    def hello(self):
        return self.call("POST", "/worker/v1/hello", {
            "name": self.name, "version": "test", "capacity": self.capacity,
            "protocols": ["openai"], "models": [{"id": m} for m in self.models]})

    def poll(self, wait=1):
        return self.call("GET", "/worker/v1/jobs?wait=%d&name=%s" % (wait, self.name),
                         timeout=wait + 30)

    def post(self, job, seq, body, end=False):
        r = qp.http_request(
            self.inst.port, "POST", "/worker/v1/jobs/%s/result?seq=%d%s&name=%s" % (
                job["id"], seq, "&end=1" if end else "", self.name),
            body, key=self.key, timeout=30,
            headers={"Content-Type": "application/octet-stream"})
        with self.lock:
            self.statuses.append((job["id"], seq, r.status))
        return r.status

    def start(self, handler):
        self.handler = handler
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        last = 0
        while not self.stop.is_set():
            if self.silent.is_set():
                time.sleep(0.05)
                continue
            try:
                if time.monotonic() - last > 1:
                    self.hello()
                    last = time.monotonic()
                r = self.poll(1)
            except OSError:
                time.sleep(0.1)
                continue
            if r.status == 200:
                job = r.json()
                with self.lock:
                    self.jobs.append(job)
                threading.Thread(target=self.handler, args=(self, job),
                                 daemon=True).start()


def stream_handler(w, job):
    w.post(job, 0, HEAD_SSE + chunk("Hel"))
    time.sleep(0.6)
    w.post(job, 1, chunk("lo "))
    time.sleep(0.6)
    w.post(job, 2, chunk("you") + USAGE, end=True)


barrier = {"n": 0, "cv": threading.Condition()}


def hold_handler(w, job):
    with barrier["cv"]:
        barrier["n"] += 1
        barrier["cv"].notify_all()
        barrier["cv"].wait_for(lambda: barrier["n"] >= 6, timeout=20)
    w.post(job, 0, b'{"status": 200, "headers": {"content-type": '
           b'"application/json"}}\n' + json.dumps(WHOLE).encode(), end=True)


def silent_handler(w, job):
    # Takes the job and vanishes: no result, no hello, no poll.
    w.silent.set()


def disconnect_handler(w, job):
    w.post(job, 0, HEAD_SSE + chunk("a"))
    deadline = time.monotonic() + 15
    seq = 1
    while time.monotonic() < deadline:
        time.sleep(0.3)
        st = w.post(job, seq, chunk("b"))
        seq += 1
        if st != 204:
            break


inst = qp.Instance(procs=2, sections={
    "workers": {"enabled": True, "heartbeat_s": 1, "gone_after_s": GONE_S},
    "upstream": {"first_byte_timeout_s": 30}})
inst.start()
wkey1 = inst.new_key("wk1", worker=True)
wkey2 = inst.new_key("wk2", worker=True)
wkey3 = inst.new_key("wk3", worker=True)
admin_key = inst.new_key("boss", admin_role=True)
is_eq(len(inst.app_pids()), 2, "lighttpd runs two quotapool.fcgi processes")

# ---- key roles -----------------------------------------------------------
lst = inst.admin("key", "list")
like(lst.out,
     r"wk1\s.*worker", "key list shows the worker role")
r = inst.request("GET", "/v1/models", key=wkey1)
is_eq(r.status, 403, "a worker key is refused on /v1/models")
like(r.text, r'"error".*a worker key may call /worker/v1/ only', "with an OpenAI error")
r = inst.request("POST", "/v1/chat/completions", {"model": MODEL, "messages": []},
                 key=wkey1)
is_eq(r.status, 403, "a worker key is refused on /v1/chat/completions")
r = inst.request("POST", "/worker/v1/hello", {"name": "x", "capacity": 1, "models": []})
is_eq(r.status, 403, "a client key is refused on /worker/v1/hello")
like(r.text, r"needs a worker key", "saying a worker key is needed")
r = inst.request("GET", "/worker/v1/jobs?wait=1", key=admin_key)
is_eq(r.status, 403, "an admin key is refused on /worker/v1/jobs")
r = inst.request("GET", "/worker/v1/jobs?wait=1", key=None)
is_eq(r.status, 401, "no key: 401")

# ---- register and bad input -----------------------------------------------
w1 = Worker(inst, wkey1, "gpu1")
w2 = Worker(inst, wkey2, "gpu2")
r = w1.hello()
is_eq(r.status, 200, "hello: 200")
is_eq(r.json(), {"worker": "gpu1", "heartbeat_s": 1, "gone_after_s": GONE_S},
      "hello: name, heartbeat and gone times")
is_eq(w2.hello().status, 200, "a second worker says hello")
r = inst.request("GET", "/v1/models")
ids = [m["id"] for m in r.json().get("data", [])]
ok(any(i.startswith(MODEL) for i in ids), "the workers' model is in the catalog: %r" % ids)
r = w1.call("POST", "/worker/v1/hello", "{not json")
is_eq(r.status, 400, "hello: malformed body: 400")
r = w1.call("POST", "/worker/v1/hello", {"name": "gpu1", "capacity": 0, "models": []})
is_eq(r.status, 400, "hello: capacity 0 (over-capacity bounds): 400")
like(r.text, r"capacity", "naming capacity")
r = w1.call("POST", "/worker/v1/hello", {"name": "gpu1", "capacity": 300, "models": []})
is_eq(r.status, 400, "hello: capacity 300: 400")
r = w1.call("POST", "/worker/v1/hello", "x" * (256 * 1024 + 1))
is_eq(r.status, 413, "hello: over 256 KiB: 413")
r = w1.call("GET", "/worker/v1/jobs?wait=0")
is_eq(r.status, 400, "jobs: wait=0: 400")
r = qp.http_request(inst.port, "GET", "/worker/v1/jobs?wait=1", key=wkey3)
is_eq(r.status, 409, "jobs before any hello: 409")
r = w1.call("POST", "/worker/v1/jobs/%s/result?seq=0" % ("ab" * 16), b"x")
is_eq(r.status, 404, "result of an unknown job: 404")
r = w1.call("POST", "/worker/v1/jobs/nothex/result?seq=0", b"x")
is_eq(r.status, 404, "result of a malformed job id: 404")
t0 = time.monotonic()
r = w1.poll(1)
is_eq(r.status, 204, "a poll with no job: 204 after its wait")
cmp_ok(time.monotonic() - t0, ">=", 0.9, "the poll waited its second")

# ---- a streamed chat, events spread in time --------------------------------
w1.start(stream_handler)
w2.start(stream_handler)
body = {"model": MODEL, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}
with inst.stream("/v1/chat/completions", body, timeout=60) as s:
    is_eq(s.status, 200, "stream: 200")
    arrivals = []
    for t, c in s:
        for ev in qp.parse_sse(c):
            if ev[1] and ev[1] != "[DONE]" and '"content"' in ev[1]:
                arrivals.append(t)
    text = "".join(json.loads(e[1])["choices"][0]["delta"].get("content", "")
                   for e in s.events() if e[1] and e[1] != "[DONE]" and
                   json.loads(e[1]).get("choices"))
    uid = s.headers.get("x-proxy-request-id")
is_eq(text, "Hello you", "stream: the worker's events reached the client")
ok(b"[DONE]" in s.body, "stream: ends with [DONE]")
cmp_ok(len(arrivals), ">=", 3, "stream: three content events")
if len(arrivals) >= 3:
    cmp_ok(arrivals[-1] - arrivals[0], ">=", 0.9,
           "stream: events arrived spread in time, as the worker sent them")
time.sleep(0.5)
db = inst.db()
row = db.execute("SELECT provider_id, account_name, status, output_tokens, "
                 "input_tokens, attempt_count FROM requests WHERE request_uid = ?",
                 (uid,)).fetchone()
ok(row is not None and row[0] == "workers" and row[1] in ("gpu1", "gpu2") and
   row[2] == "completed", "stream: the request row names the provider and the worker: %r"
   % (row,))
ok(row is not None and row[3] == 3 and row[4] == 5,
   "stream: usage read from the relayed bytes: %r" % (row,))
for w in (w1, w2):
    w.stop.set()
for w in (w1, w2):
    w.thread.join(10)

# ---- six concurrent requests spread by load -------------------------------
w1 = Worker(inst, wkey1, "gpu1", capacity=4)
w2 = Worker(inst, wkey2, "gpu2", capacity=4)
w1.start(hold_handler)
w2.start(hold_handler)
time.sleep(1.5)
results = [None] * 6


def one(i):
    try:
        results[i] = inst.request("POST", "/v1/chat/completions", {
            "model": MODEL, "messages": [{"role": "user", "content": str(i)}]},
            timeout=60)
    except OSError as e:
        results[i] = e


ts = [threading.Thread(target=one, args=(i,)) for i in range(6)]
for t in ts:
    t.start()
for t in ts:
    t.join(60)
is_eq([getattr(r, "status", r) for r in results], [200] * 6,
      "six concurrent requests: all 200")
ok(all(getattr(r, "status", 0) == 200 and r.json()["choices"][0]["message"]["content"]
       == "whole" for r in results), "six concurrent requests: the workers' answers")
is_eq(sorted([len(w1.jobs), len(w2.jobs)]), [3, 3],
      "six concurrent requests: spread by load, 3 and 3")
for w in (w1, w2):
    w.stop.set()
for w in (w1, w2):
    w.thread.join(10)

# ---- a worker that goes silent before its first byte ------------------------
time.sleep(GONE_S + 1)
w1 = Worker(inst, wkey1, "gpu1")
w2 = Worker(inst, wkey2, "gpu2")
w1.start(silent_handler)
time.sleep(1.5)
t0 = time.monotonic()
res = {}


def silent_req():
    res["r"] = inst.request("POST", "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "s"}]}, timeout=60)


st = threading.Thread(target=silent_req)
st.start()
deadline = time.monotonic() + 10
while not w1.jobs and time.monotonic() < deadline:
    time.sleep(0.05)
is_eq(len(w1.jobs), 1, "silent: the first worker took the job")
w2.start(hold_handler)  # the barrier is past: answers at once
st.join(60)
r = res.get("r")
is_eq(getattr(r, "status", None), 200, "silent: the request completed on the other worker")
is_eq(len(w2.jobs), 1, "silent: the other worker served it")
time.sleep(0.5)
uid = r.headers.get("x-proxy-request-id") if r else None
att = inst.db().execute(
    "SELECT a.account_name, a.outcome FROM request_attempts a JOIN requests q ON "
    "q.id = a.request_id WHERE q.request_uid = ? ORDER BY a.attempt_number",
    (uid,)).fetchall()
is_eq([a[0] for a in att], ["gpu1", "gpu2"], "silent: attempts name gpu1 then gpu2")
w1.stop.set()
w2.stop.set()
w2.thread.join(10)
w1.thread.join(10)

# ---- a client that disconnects: the next POST gets 410 -----------------------
# gpu1 failed a job just now: it is backed off for a while; gpu2 serves.
w1 = Worker(inst, wkey2, "gpu2")
w1.start(disconnect_handler)
time.sleep(1.5)
s = inst.stream("/v1/chat/completions", body, timeout=30)
is_eq(s.status, 200, "disconnect: the stream started")
got = b""
for t, c in s:
    got += c
    if b'"a"' in got:
        break
s.close()
deadline = time.monotonic() + 20
while time.monotonic() < deadline and not any(x[2] == 410 for x in w1.statuses):
    time.sleep(0.1)
sts = [x[2] for x in w1.statuses]
ok(410 in sts, "disconnect: the worker's POST after the client left got 410: %r" % sts)
ok(sts and sts[0] == 204, "disconnect: its POSTs before were passed on (204)")
w1.stop.set()
w1.thread.join(10)

# ---- wrong seq on a live job ---------------------------------------------------
w1 = Worker(inst, wkey2, "gpu2")
seqres = {}


def seq_handler(w, job):
    seqres["skip"] = w.post(job, 1, b"too early")
    seqres["head"] = w.post(job, 0, b"not a head\n")


w1.start(seq_handler)
time.sleep(1.5)
r = inst.request("POST", "/v1/chat/completions", {
    "model": MODEL, "messages": [{"role": "user", "content": "q"}]}, timeout=60)
is_eq(seqres.get("skip"), 409, "seq 1 before seq 0: 409")
is_eq(seqres.get("head"), 400, "a malformed head: 400")
is_eq(r.status, 502, "the client gets 502 when no worker answers properly")
w1.stop.set()
w1.thread.join(10)

# ---- the hand-off crossed processes ------------------------------------------
logs = "\n".join(inst.logs().values())
queued = dict((m.group(2), m.group(1)) for m in re.finditer(
    r"quotapool\[(\d+)\]: .*worker job ([0-9a-f]{32}): queued", logs))
passed = dict((m.group(2), m.group(1)) for m in re.finditer(
    r"quotapool\[(\d+)\]: .*worker job ([0-9a-f]{32}): its answer starts", logs))
crossed = [j for j in passed if j in queued and queued[j] != passed[j]]
cmp_ok(len(passed), ">=", 8, "the answers' hand-offs were logged")
ok(crossed, "a job's answer reached its client's process from the other one "
   "(owner pid != result pid): %d of %d" % (len(crossed), len(passed)))

r = qp.http_request(inst.port, "POST", "/worker/v1/bye?name=gpu2", key=wkey2)
is_eq(r.status, 204, "bye: 204")
r = w1.poll(1)
is_eq(r.status, 409, "a poll after bye: 409 (say hello again)")
inst.stop()
qp.done()
