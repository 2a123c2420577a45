#!/usr/bin/env python3
"""test_workers_view.py: the remote workers as an operator sees them.

The workers tables of schema 0011 are seeded directly in the instance's
database (a worker key, an idle worker, a busy one with open jobs, one
that said bye, one silent past the gone threshold, and later 100 more),
then through lighttpd and quotapool.fcgi: the Workers page shows one
number per column equal to the rows, /api/stats/workers answers the same
in JSON, /metrics carries the per-worker series (promtool-valid) and names
at most 64 workers, the most recently seen, folding the rest into
worker="(other)", and the state stream /api/v1/state/stream sends an event
at connect, none while nothing changes (a heartbeat alone changes
nothing), and a new one after a row changes. All of it needs an admin:
no key, a client key and a worker key are refused, and no page, answer
or series carries the worker key's secret."""

import hashlib
import json
import os
import re
import secrets
import select
import shutil
import socket
import sqlite3
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from qp import cmp_ok, is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

GONE_MS = 30000  # WORKERS_VIEW_GONE_AFTER_MS, the default gone threshold

mock = qp.mock(models=["gpt-wv"])
inst = qp.Instance(providers={"pwv": {
    "mock": mock, "protocols": ["openai"], "models": ["gpt-wv"],
    "accounts": ["a1"]}},
    sections={"security": {"max_auth_failures_per_minute": 0}})
dp.start(inst)
CLIENT = inst.key
ADMIN = inst.new_key("boss", admin_role=True)


def rw():
    c = sqlite3.connect(inst.db_path, timeout=10)
    c.execute("PRAGMA busy_timeout = 10000")
    return c


def write(sql, args=()):
    c = rw()
    try:
        with c:
            c.execute(sql, args)
    finally:
        c.close()


def new_worker_key(name):
    """A worker key (`key new NAME --worker`); returns the secret and its row id."""
    key = inst.new_key(name, worker=True)
    return key, dp.query(inst, "SELECT id FROM client_keys WHERE name = ?",
                         (name,))[0]["id"]


def add_worker(key_id, name, capacity=4, last_seen=None, gone_at=None,
               gone_reason=None, done=0, failed=0, cancelled=0, job_ms=0,
               version="1.0.0", models=(), open_jobs=(), ended_jobs=0):
    now = dp.now_ms()
    last_seen = now if last_seen is None else last_seen
    c = rw()
    try:
        with c:
            cur = c.execute(
                "INSERT INTO workers (key_id, name, version, capacity, "
                "first_seen_at, hello_at, last_seen_at, gone_at, gone_reason, "
                "jobs_done, jobs_failed, jobs_cancelled, job_ms_sum) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key_id, name, version, capacity, last_seen - 3600000,
                 last_seen, last_seen, gone_at, gone_reason, done, failed,
                 cancelled, job_ms))
            wid = cur.lastrowid
            for m in models:
                c.execute("INSERT INTO worker_models (worker_id, model_id) "
                          "VALUES (?, ?)", (wid, m))
            for st in open_jobs:
                c.execute("INSERT INTO worker_jobs (id, worker_id, process_id, "
                          "socket_path, model, state, created_at) VALUES "
                          "(?, ?, 1, '/nonexistent', 'm', ?, ?)",
                          (secrets.token_hex(16), wid, st, now))
            for _ in range(ended_jobs):
                c.execute("INSERT INTO worker_jobs (id, worker_id, process_id, "
                          "socket_path, model, state, created_at, ended_at) "
                          "VALUES (?, ?, 1, '/nonexistent', 'm', 'done', ?, ?)",
                          (secrets.token_hex(16), wid, now - 5000, now - 4000))
    finally:
        c.close()
    return wid


WKEY, WKEY_ID = new_worker_key("wk-lab")
now = dp.now_ms()
W = {
    "gpu-idle": dict(capacity=4, done=10, failed=2, cancelled=1, job_ms=12345,
                     version="1.2.0", models=["llama3.1:8b", "qwen3:32b"]),
    "gpu-busy": dict(capacity=2, done=7, failed=0, cancelled=3, job_ms=7000,
                     version="1.2.1", models=["llama3.1:8b"],
                     open_jobs=["queued", "streaming"], ended_jobs=3),
    "gpu-bye": dict(capacity=8, done=1, failed=1, cancelled=0, job_ms=500,
                    last_seen=now - 5000, gone_at=now - 5000, gone_reason="bye",
                    models=["phi4"]),
    "gpu-silent": dict(capacity=1, done=0, failed=4, cancelled=0, job_ms=0,
                       last_seen=now - 2 * GONE_MS, models=[]),
}
STATE = {"gpu-idle": "idle", "gpu-busy": "busy", "gpu-bye": "gone",
         "gpu-silent": "gone"}
INFLIGHT = {"gpu-idle": 0, "gpu-busy": 2, "gpu-bye": 0, "gpu-silent": 0}
IDS = {}
for name, kw in W.items():
    IDS[name] = add_worker(WKEY_ID, name, **kw)


def avg(kw):
    return kw["job_ms"] / kw["done"] if kw["done"] else None


def no_secret(text, what):
    h = hashlib.sha256(WKEY.encode()).hexdigest()
    ok(WKEY not in text and WKEY[3:] not in text and h not in text,
       "%s carries no worker key secret (nor its hash)" % what)


# ---------------------------------------------------------------------------
# Access: an admin only

for path, html in (("/workers", True), ("/api/stats/workers", False)):
    r = inst.request("GET", path, key=None)
    is_eq(r.status, 303 if html else 401, "%s without credentials: %s"
          % (path, "303 to /login" if html else "401"))
    for who, k in (("a client key", CLIENT), ("a worker key", WKEY)):
        r = inst.request("GET", path, key=k)
        if html:
            ok(r.status == 303 and r.headers.get("Location", "").endswith(
                "/login"), "%s with %s: 303 to /login" % (path, who),
               lambda: dp.show(r))
        else:
            ok(r.status in (401, 403), "%s with %s: refused (%d)"
               % (path, who, r.status), lambda: dp.show(r))
for who, k, want in (("no key", None, (401,)), ("a client key", CLIENT, (403,)),
                     ("a worker key", WKEY, (401, 403))):
    r = inst.request("GET", "/api/v1/state/stream", key=k, timeout=10)
    ok(r.status in want, "/api/v1/state/stream with %s: refused (%d)"
       % (who, r.status), lambda: dp.show(r))

# ---------------------------------------------------------------------------
# The page: one number per column equal to the rows

r = inst.request("GET", "/workers", key=ADMIN)
is_eq(r.status, 200, "/workers as admin: 200")
page = r.text
ok('href="/workers"' in page and ">Workers</a>" in page,
   "the nav links to the Workers page")
no_secret(page, "the page")


def row_of(html, name):
    m = re.search(r"<tr><td>%s</td><td>([^<]*)</td>\s*(.*?)</tr>"
                  % re.escape(name), html, re.S)
    return (m.group(1), m.group(2)) if m else (None, "")


def cells(row):
    return re.findall(r'<td class="n" data-v="([^"]*)">', row)


for name, kw in W.items():
    key, row = row_of(page, name)
    is_eq(key, "wk-lab", "page: %s shows its key's name" % name)
    ok(re.search(r'<td class="st-%s">%s' % (STATE[name], STATE[name]), row),
       "page: %s is %s" % (name, STATE[name]), lambda: row)
    got = cells(row)
    a = avg(kw)
    want = [str(INFLIGHT[name]), str(kw["capacity"]), str(len(kw["models"])),
            str(kw["done"]), str(kw["failed"]), str(kw["cancelled"]),
            "" if a is None else ("%g" % a)]
    is_eq(got, want, "page: %s in flight, capacity, models, done, failed, "
          "cancelled, average duration equal its rows" % name)
    ok(("<td>%s</td>" % kw.get("version", "1.0.0")) in row, "page: %s shows its version"
       % name)
    for m in kw["models"]:
        ok(">%s<" % m in row, "page: %s lists model %s" % (name, m))
_, row = row_of(page, "gpu-bye")
ok("(bye)" in row, "page: the worker that said bye says so")
_, row = row_of(page, "gpu-busy")
ok("(1 queued)" in row, "page: the busy worker's queued job is shown")
ok(re.search(r"2 connected \(1 idle, 1 busy\) and 2 gone of 4 workers; "
             r"2 jobs in flight for a capacity of 6", page),
   "page: the totals line counts the states, jobs in flight and live capacity",
   lambda: re.search(r"<p>.*?</p>", page, re.S).group(0))

# ---------------------------------------------------------------------------
# /api/stats/workers


def api():
    r = inst.request("GET", "/api/stats/workers", key=ADMIN)
    ok(r.status == 200 and r.headers.get("Content-Type", "").startswith(
        "application/json"), "/api/stats/workers as admin: 200 JSON",
       lambda: dp.show(r))
    return r.try_json() or {}, r.text


j, text = api()
no_secret(text, "/api/stats/workers")
is_eq((j.get("total_workers"), j.get("listed"), j.get("idle"), j.get("busy"),
       j.get("gone"), j.get("live"), j.get("in_flight"), j.get("capacity"),
       j.get("gone_after_ms")), (4, 4, 1, 1, 2, 2, 2, 6, GONE_MS),
      "API: totals by state, in flight, live capacity, the threshold")
by = {w.get("name"): w for w in j.get("workers", [])}
for name, kw in W.items():
    w = by.get(name, {})
    a = avg(kw)
    is_eq((w.get("key"), w.get("state"), w.get("connected"),
           w.get("in_flight"), w.get("capacity"), w.get("models_count"),
           w.get("jobs_done"), w.get("jobs_failed"), w.get("jobs_cancelled"),
           w.get("avg_job_ms"), w.get("version"), sorted(w.get("models", []))),
          ("wk-lab", STATE[name], STATE[name] != "gone", INFLIGHT[name],
           kw["capacity"], len(kw["models"]), kw["done"], kw["failed"],
           kw["cancelled"], a, kw.get("version", "1.0.0"), sorted(kw["models"])),
          "API: %s equals its rows" % name)
is_eq(by.get("gpu-busy", {}).get("queued"), 1, "API: the busy worker's queued job")
is_eq((by.get("gpu-bye", {}).get("gone_reason"), by.get("gpu-silent", {}).get(
    "gone_reason")), ("bye", None), "API: gone_reason as the rows say")
is_eq([w.get("name") for w in j.get("workers", [])],
      ["gpu-busy", "gpu-idle", "gpu-bye", "gpu-silent"]
      if IDS["gpu-busy"] > IDS["gpu-idle"] else
      ["gpu-idle", "gpu-busy", "gpu-bye", "gpu-silent"],
      "API: the most recently seen first")

# ---------------------------------------------------------------------------
# /metrics


def metrics():
    r = inst.request("GET", "/metrics", key=ADMIN)
    is_eq(r.status, 200, "/metrics as admin: 200")
    samples = {}
    for line in r.text.splitlines():
        if line.startswith("quotapool_worker") and not line.startswith("#"):
            m = re.match(r'^(\w+)\{(.*)\} (\S+)$', line)
            if m:
                labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
                samples.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return r.text, samples


def promtool_ok(text, what):
    promtool = shutil.which("promtool")
    if promtool is None:
        qp.missing("promtool is not installed (Debian package prometheus)")
        return
    res = qp.run([promtool, "check", "metrics"], timeout=30, input_text=text)
    ok(res.rc == 0, "promtool check metrics accepts /metrics (%s)" % what,
       lambda: repr(res))


def value(samples, fam, worker, key="wk-lab", **extra):
    for labels, v in samples.get(fam, []):
        if labels.get("worker") == worker and labels.get("key") == key and all(
                labels.get(k) == x for k, x in extra.items()):
            return v
    return None


text, samples = metrics()
no_secret(text, "/metrics")
promtool_ok(text, "four workers")
for name, kw in W.items():
    live = STATE[name] != "gone"
    is_eq((value(samples, "quotapool_worker_up", name),
           value(samples, "quotapool_worker_in_flight", name),
           value(samples, "quotapool_worker_capacity", name),
           value(samples, "quotapool_worker_jobs_total", name, outcome="done"),
           value(samples, "quotapool_worker_jobs_total", name, outcome="failed"),
           value(samples, "quotapool_worker_jobs_total", name,
                 outcome="cancelled")),
          (1.0 if live else 0.0, float(INFLIGHT[name]),
           float(kw["capacity"] if live else 0), float(kw["done"]),
           float(kw["failed"]), float(kw["cancelled"])),
          "/metrics: %s up, in flight, capacity, jobs by outcome" % name)
states = {l.get("state"): v for l, v in samples.get("quotapool_workers", [])}
is_eq(states, {"idle": 1.0, "busy": 1.0, "gone": 2.0},
      "/metrics: quotapool_workers by state")
ok(value(samples, "quotapool_worker_up", "(other)", "(other)") is None,
   "/metrics: no (other) series while every worker is named")

# ---------------------------------------------------------------------------
# The state stream


class SSE:
    """A state stream over a raw HTTP/1.0 connection (no chunked framing),
    read with select() so that every wait is bounded."""

    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
        self.sock.sendall(("GET /api/v1/state/stream HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                           "Authorization: Bearer %s\r\n\r\n" % ADMIN).encode())
        self.buf = b""
        self.closed = False
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in self.buf and self._recv(deadline):
            pass
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.\d (\d+)", lines[0] if lines else "")
        self.status = int(m.group(1)) if m else 0
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def _recv(self, deadline):
        """Reads once before deadline; False at the deadline or at the end."""
        left = deadline - time.monotonic()
        if self.closed or left <= 0:
            return False
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return False
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def _events(self):
        events = []
        while b"\n\n" in self.buf:
            block, self.buf = self.buf.split(b"\n\n", 1)
            ev, data = None, []
            for line in block.decode().split("\n"):
                if line.startswith("event: "):
                    ev = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
            if ev is not None:
                events.append((ev, "\n".join(data)))
        return events

    def read_for(self, seconds):
        """Reads what arrives within seconds; returns [(event, data)]."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            self._recv(deadline)
        return self._events()

    def next_event(self, seconds):
        """The state events of the first read that brings any, within seconds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            self._recv(deadline)
            evs = self._events()
            if evs:
                return evs
        return self._events()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# The live workers stay live through this part whatever the machine's load.
write("UPDATE workers SET last_seen_at = ? WHERE name IN ('gpu-idle', 'gpu-busy')",
      (dp.now_ms() + 10 * 60000,))
# The bound: a fifth stream of one process is refused while four are open.
streams = [SSE() for _ in range(4)]
ok(all(x.status == 200 for x in streams), "four state streams open")
for x in streams:
    x.next_event(10)
r = inst.request("GET", "/api/v1/state/stream", key=ADMIN, timeout=10)
ok(r.status == 503 and r.headers.get("Retry-After"), "a fifth state stream: 503 "
   "with Retry-After", lambda: dp.show(r))
for x in streams:
    x.close()
# The four end once the gateway sees them gone (their next wait notices).
deadline = time.monotonic() + 40
s = None
while s is None and time.monotonic() < deadline:
    x = SSE()
    if x.status == 200:
        s = x
    else:
        x.close()
        time.sleep(0.5)
ok(s is not None, "a state stream opens again once the four clients left "
   "(the gateway notices at its next keepalive)")
if s is None:
    qp.bail_out("no state stream")
is_eq(s.status, 200, "state stream as admin: 200")
ok(s.headers.get("content-type", "").startswith("text/event-stream"),
   "state stream: text/event-stream")
evs = s.next_event(10)
ok(len(evs) == 1 and evs[0][0] == "state", "state stream: one state event at "
   "connect", lambda: repr(evs))
first = json.loads(evs[0][1]) if evs else {}
is_eq((first.get("idle"), first.get("busy"), first.get("gone"),
       first.get("in_flight")), (1, 1, 2, 2),
      "state stream: the first event counts the workers by state")
is_eq(sorted(w.get("name") for w in first.get("workers", [])),
      sorted(W), "state stream: the first event lists the workers")
no_secret(evs[0][1] if evs else "", "the state event")
evs = s.read_for(3)
is_eq(evs, [], "state stream: no event while nothing changes (3 s)")
write("UPDATE workers SET last_seen_at = last_seen_at + 1000, hello_at = ? "
      "WHERE name = 'gpu-idle'", (dp.now_ms(),))
evs = s.read_for(3)
is_eq(evs, [], "state stream: a heartbeat alone sends no event")
write("INSERT INTO worker_jobs (id, worker_id, process_id, socket_path, model, "
      "state, created_at) VALUES (?, ?, 1, '/nonexistent', 'm', 'claimed', ?)",
      (secrets.token_hex(16), IDS["gpu-idle"], dp.now_ms()))
evs = s.next_event(10)
ok(len(evs) == 1, "state stream: one new event after a job reached the idle "
   "worker", lambda: repr(evs))
nxt = json.loads(evs[0][1]) if evs else {}
st = {w.get("name"): w for w in nxt.get("workers", [])}
is_eq((nxt.get("idle"), nxt.get("busy"), st.get("gpu-idle", {}).get("state"),
       st.get("gpu-idle", {}).get("in_flight")), (0, 2, "busy", 1),
      "state stream: the new event shows that worker busy")
write("UPDATE workers SET jobs_done = jobs_done + 1 WHERE name = 'gpu-bye'")
evs = s.next_event(10)
ok(len(evs) == 1 and json.loads(evs[0][1]).get("workers") and [
    w for w in json.loads(evs[0][1])["workers"] if w["name"] == "gpu-bye"][0][
    "jobs_done"] == 2, "state stream: a job counter's change sends an event",
   lambda: repr(evs))
s.close()


# ---------------------------------------------------------------------------
# Cardinality: 100 more workers, /metrics names 64

MKEY, MKEY_ID = new_worker_key("wk-many")
base = dp.now_ms()
c = rw()
try:
    with c:
        for i in range(100):
            seen = base - i * 100 if i % 2 == 0 else base - GONE_MS - i * 1000
            c.execute("INSERT INTO workers (key_id, name, capacity, first_seen_at, "
                      "hello_at, last_seen_at, jobs_done, jobs_failed, "
                      "jobs_cancelled, job_ms_sum) VALUES (?, ?, 3, ?, ?, ?, ?, "
                      "1, 0, 0)",
                      (MKEY_ID, "w%03d" % i, seen, seen, seen, i))
finally:
    c.close()
allw = dp.query(inst, "SELECT w.name, k.name AS key, w.last_seen_at, w.gone_at, "
                "w.capacity, w.jobs_done, w.jobs_failed, w.jobs_cancelled, w.id "
                "FROM workers w JOIN client_keys k ON k.id = w.key_id "
                "ORDER BY w.last_seen_at DESC, w.id DESC")
is_eq(len(allw), 104, "104 workers in the table")
text, samples = metrics()
promtool_ok(text, "104 workers")
up = samples.get("quotapool_worker_up", [])
named = [(l["worker"], l["key"]) for l, _ in up if l["worker"] != "(other)"]
is_eq(len(named), 64, "/metrics: 64 workers named")
is_eq(sorted(named), sorted((w["name"], w["key"]) for w in allw[:64]),
      "/metrics: the 64 most recently seen are named")
tnow = dp.now_ms()
rest = allw[64:]
live_rest = sum(1 for w in rest if w["gone_at"] is None and
                w["last_seen_at"] > tnow - GONE_MS)
is_eq(value(samples, "quotapool_worker_up", "(other)", "(other)"),
      float(live_rest), "/metrics: (other) up counts the live workers folded")
for fam in ("quotapool_worker_up", "quotapool_worker_in_flight",
            "quotapool_worker_capacity"):
    is_eq(len(samples.get(fam, [])), 65, "/metrics: %s has 65 series" % fam)
is_eq(len(samples.get("quotapool_worker_jobs_total", [])), 65 * 3,
      "/metrics: quotapool_worker_jobs_total has 65 x 3 series")
for outcome, col in (("done", "jobs_done"), ("failed", "jobs_failed"),
                     ("cancelled", "jobs_cancelled")):
    is_eq(sum(v for l, v in samples.get("quotapool_worker_jobs_total", [])
              if l["outcome"] == outcome), float(sum(w[col] for w in allw)),
          "/metrics: jobs_total{outcome=%s} adds up to every worker's" % outcome)
is_eq(sum(v for _, v in samples.get("quotapool_workers", [])), 104.0,
      "/metrics: quotapool_workers counts all 104")
j, _ = api()
is_eq((j.get("total_workers"), j.get("listed"), len(j.get("workers", []))),
      (104, 104, 104), "API: lists all 104 (under its bound of 256)")
cmp_ok(len(text), "<", 64 * 1024, "/metrics stays small with 104 workers")

res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")
inst.check_logs()

# ---------------------------------------------------------------------------
# What the gateway writes: a hello and a bye through /worker/v1/*, with the
# threshold of [workers] gone_after_s

inst = qp.Instance(sections={"workers": {"enabled": True, "gone_after_s": 7}})
dp.start(inst)
ADMIN = inst.new_key("boss", admin_role=True)
WKEY = inst.new_key("wk-real", worker=True)
r = inst.request("POST", "/worker/v1/hello", {
    "name": "rtx", "version": "9.9.9", "capacity": 3, "protocols": ["openai"],
    "models": [{"id": "qwen3:8b"}, {"id": "llama3.2:3b", "context_length": 8192}]},
    key=WKEY)
is_eq(r.status, 200, "a worker says hello through the gateway")
j, _ = api()
w = (j.get("workers") or [{}])[0]
is_eq((j.get("gone_after_ms"), w.get("name"), w.get("key"), w.get("version"),
       w.get("state"), w.get("capacity"), sorted(w.get("models", []))),
      (7000, "rtx", "wk-real", "9.9.9", "idle", 3, ["llama3.2:3b", "qwen3:8b"]),
      "API: the registered worker as its hello said, the threshold from "
      "[workers] gone_after_s")
s = SSE()
evs = s.next_event(10)
ok(evs and json.loads(evs[0][1]).get("idle") == 1, "state stream: the worker idle "
   "at connect", lambda: repr(evs))
r = inst.request("POST", "/worker/v1/bye", key=WKEY)
is_eq(r.status, 204, "the worker says bye")
evs = s.next_event(10)
st = json.loads(evs[0][1]) if evs else {}
is_eq((st.get("gone"), ((st.get("workers") or [{}])[0]).get("gone_reason")),
      (1, "bye"), "state stream: an event says it is gone, by bye")
s.close()
text, samples = metrics()
is_eq((value(samples, "quotapool_worker_up", "rtx", "wk-real"),
       value(samples, "quotapool_worker_capacity", "rtx", "wk-real")), (0.0, 0.0),
      "/metrics: the worker is down, its capacity 0")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "the second instance stops cleanly")
inst.check_logs()
qp.done()
