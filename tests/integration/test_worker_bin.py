#!/usr/bin/env python3
"""test_worker_bin.py: quotapool-worker against a gateway and a runtime.

The gateway is a small one written here with the standard library: it
speaks the remote workers' protocol of docs/workers.md (hello, long-polled
jobs, result POSTs, bye) and records everything. The runtime is
mock_upstream.py. Only loopback, ephemeral ports, bounded waits; every
process is stopped by its PID.
"""

import http.server
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.set_timeout(240)

WORKER = os.path.join(qp.BUILDDIR, "worker", "quotapool-worker")
KEY = "qp_" + "5a" * 24 + "wkSECRET"
RUNTIME_KEY = "rt-" + "7c" * 20
OAI_ERR = {"error": {"message": "bad key", "type": "authentication_error",
                     "code": "invalid_api_key"}}

if not os.access(WORKER, os.X_OK):
    qp.bail_out("%s is not built" % WORKER)


class Gateway:
    """The worker protocol's server side, recording every call.

    jobs: queue of job dicts handed out by GET /worker/v1/jobs.
    gone: job ids whose result POSTs from seq >= gone[id] get 410.
    post_delay: seconds each result POST is held before its answer.
    """

    def __init__(self, key=KEY, heartbeat_s=1, port=0, tls=None):
        self.key = key
        self.heartbeat_s = heartbeat_s
        self.cond = threading.Condition()
        self.hellos = []        # (mono, body)
        self.byes = []          # mono
        self.polls = []         # (mono, status)
        self.given = {}         # id -> mono when handed out
        self.results = {}       # id -> [(mono, seq, end, body)]
        self.ended = {}         # id -> mono of end=1
        self.jobs = []
        self.gone = {}
        self.post_delay = 0.0
        self.fail_polls = 0     # the next polls answered 503
        self.registered = False
        self.auth_seen = set()
        self.bad_calls = []
        gw = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body=None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_call(self):
                u = urllib.parse.urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                auth = self.headers.get("Authorization") or ""
                with gw.cond:
                    gw.auth_seen.add(auth)
                if auth != "Bearer " + gw.key:
                    return self.reply(401, OAI_ERR)
                q = urllib.parse.parse_qs(u.query)
                m = re.match(r"^/worker/v1/jobs/([0-9a-f]{32})/result$", u.path)
                if u.path == "/worker/v1/hello" and self.command == "POST":
                    return gw.on_hello(self, body)
                if u.path == "/worker/v1/bye" and self.command == "POST":
                    with gw.cond:
                        gw.byes.append(time.monotonic())
                        gw.registered = False
                        gw.cond.notify_all()
                    return self.reply(204)
                if u.path == "/worker/v1/jobs" and self.command == "GET":
                    return gw.on_poll(self, int(q.get("wait", ["25"])[0]))
                if m and self.command == "POST":
                    return gw.on_result(self, m.group(1), q, body)
                with gw.cond:
                    gw.bad_calls.append((self.command, self.path))
                return self.reply(404, {"error": {"message": "no route"}})

            do_GET = handle_call
            do_POST = handle_call

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.srv = S(("127.0.0.1", port), H)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.srv.socket = ctx.wrap_socket(self.srv.socket,
                                              server_side=True)
        self.port = self.srv.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http",
                                          self.port)
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()

    # -- handlers ---------------------------------------------------------

    def on_hello(self, h, body):
        try:
            doc = json.loads(body)
        except ValueError:
            return h.reply(400, {"error": {"message": "bad json"}})
        with self.cond:
            self.hellos.append((time.monotonic(), doc))
            self.registered = True
            self.cond.notify_all()
        return h.reply(200, {"worker": doc.get("name"),
                             "heartbeat_s": self.heartbeat_s,
                             "gone_after_s": 3 * self.heartbeat_s})

    def on_poll(self, h, wait):
        deadline = time.monotonic() + min(wait, 3)
        with self.cond:
            if self.fail_polls > 0:
                self.fail_polls -= 1
                self.polls.append((time.monotonic(), 503))
                self.cond.notify_all()
                return h.reply(503, {"error": {"message": "busy"}})
            if not self.registered:
                self.polls.append((time.monotonic(), 409))
                return h.reply(409, {"error": {"message": "say hello"}})
            while not self.jobs:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.polls.append((time.monotonic(), 204))
                    self.cond.notify_all()
                    break
                self.cond.wait(left)
            job = self.jobs.pop(0) if self.jobs else None
            if job is not None:
                self.given[job["id"]] = time.monotonic()
                self.results.setdefault(job["id"], [])
                self.polls.append((time.monotonic(), 200))
                self.cond.notify_all()
        if job is None:
            return h.reply(204)
        return h.reply(200, job)

    def on_result(self, h, jid, q, body):
        seq = int(q.get("seq", ["-1"])[0])
        end = q.get("end", ["0"])[0] == "1"
        if self.post_delay:
            time.sleep(self.post_delay)
        with self.cond:
            recs = self.results.setdefault(jid, [])
            recs.append((time.monotonic(), seq, end, body))
            self.cond.notify_all()
            expect = len([r for r in recs if r[1] >= 0]) - 1
            if jid in self.gone and seq >= self.gone[jid]:
                return h.reply(410, {"error": {"message": "gone"}})
            if seq != expect:
                return h.reply(409, {"error": {"message": "seq"}})
            if end:
                self.ended[jid] = time.monotonic()
                self.cond.notify_all()
        return h.reply(204)

    # -- for the test -----------------------------------------------------

    def add_job(self, body, path="/chat/completions", method="POST",
                headers=None):
        jid = os.urandom(16).hex()
        job = {"id": jid, "model": body.get("model") if body else None,
               "method": method, "path": path,
               "stream": bool(body and body.get("stream")),
               "headers": headers if headers is not None else
               {"content-type": "application/json",
                "accept": "text/event-stream"},
               "body": json.dumps(body) if body is not None else None}
        with self.cond:
            self.jobs.append(job)
            self.cond.notify_all()
        return jid

    def wait(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    return v
                self.cond.wait(min(left, 0.2))

    def answer(self, jid):
        """(head dict, answer bytes, [(mono, seq, end, body)]) of a job."""
        with self.cond:
            recs = sorted(self.results.get(jid, []), key=lambda r: r[1])
        data = b"".join(r[3] for r in recs)
        nl = data.find(b"\n")
        head = json.loads(data[:nl]) if nl >= 0 else None
        return head, data[nl + 1:] if nl >= 0 else b"", recs


class Worker:
    """quotapool-worker in its own session; stderr read from a file."""

    all = []

    def __init__(self, gw_url, upstream, args=(), env=None, key=KEY):
        self.errpath = os.path.join(TMP, "worker-%d.err" % len(Worker.all))
        e = qp.child_env({"QP_TEST_WORKER_KEY": key})
        e.update(env or {})
        self.cmd = [WORKER, "--server", gw_url, "--key-env",
                    "QP_TEST_WORKER_KEY", "--upstream", upstream] + list(args)
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err, env=e,
                                         start_new_session=True)
        self.ref = qp.ProcRef(self.proc.pid)
        Worker.all.append(self)

    def err(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.err())
            if m:
                return m
            time.sleep(0.05)
        return None

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def cleanup_workers():
    for w in Worker.all:
        w._cleanup()


import atexit  # noqa: E402
atexit.register(cleanup_workers)

tmpdir = qp.tempdir("qp-worker-")
TMP = tmpdir.path if hasattr(tmpdir, "path") else str(tmpdir)


def sse_contents(data):
    """The text deltas and whether [DONE] came, from OpenAI SSE bytes."""
    text, done = "", False
    for ev in qp.parse_sse(data):
        d = ev.get("data") if isinstance(ev, dict) else ev[1]
        if d == "[DONE]":
            done = True
            continue
        try:
            j = json.loads(d)
        except (TypeError, ValueError):
            continue
        for c in j.get("choices") or []:
            text += (c.get("delta") or {}).get("content") or ""
    return text, done


def chat(model="m1", stream=True):
    return {"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}


# ---------------------------------------------------------------------------
# Bad flags: one line, exit 2; a key missing from the environment too.

for args, what in ((["--max-concurrency", "0"], "--max-concurrency 0"),
                   (["--bogus"], "an unknown option"),
                   ([], "no --server")):
    full = ([] if what == "no --server" else
            ["--server", "http://127.0.0.1:1"]) + [
        "--key-env", "QP_TEST_WORKER_KEY", "--upstream",
        "http://127.0.0.1:1/v1"] + args
    r = qp.run([WORKER] + full, timeout=10,
               env=qp.child_env({"QP_TEST_WORKER_KEY": KEY}))
    ok(r.rc == 2 and len(r.lines("err")) == 1,
       "%s: exit 2 with one line" % what, repr(r))
r = qp.run([WORKER, "--server", "http://127.0.0.1:1", "--key-env",
            "QP_TEST_NO_SUCH_VAR", "--upstream", "http://127.0.0.1:1/v1"],
           timeout=10)
ok(r.rc == 2 and "QP_TEST_NO_SUCH_VAR" in r.err and len(r.lines("err")) == 1,
   "a key variable that is not set: exit 2, one line naming it", repr(r))
r = qp.run([WORKER, "--version"], timeout=10)
like(r.out, r"^quotapool-worker \d", "--version prints the version")

# ---------------------------------------------------------------------------
# The main worker: capacity 2, runtime behind a key, heartbeat 1 s.

mock = qp.mock(models=["m2", "m1"], valid_keys=[RUNTIME_KEY])
gw = Gateway()
w = Worker(gw.url, mock.base_url,
           ["--name", "w1", "--max-concurrency", "2", "--poll-wait", "5",
            "--runtime-key-env", "QP_TEST_RUNTIME_KEY"],
           env={"QP_TEST_RUNTIME_KEY": RUNTIME_KEY})

ok(gw.wait(lambda: gw.hellos, 10), "the worker says hello", w.err)
hello = gw.hellos[0][1] if gw.hellos else {}
is_eq(hello.get("models"), [{"id": "m1"}, {"id": "m2"}],
      "hello carries the runtime's models (sorted)")
is_eq((hello.get("name"), hello.get("capacity"), hello.get("protocols")),
      ("w1", 2, ["openai"]), "hello carries name, capacity and protocols")
like(hello.get("version", ""), r"^\d+\.\d+", "hello carries the version")
ok(gw.wait(lambda: len(gw.hellos) >= 3, 8),
   "hello again every heartbeat_s (1 s)", lambda: repr(len(gw.hellos)))

# A streamed job, its events spread over several POSTs.
mock.script(RUNTIME_KEY, {"events": 6, "interval_ms": 300})
jid = gw.add_job(chat())
ok(gw.wait(lambda: jid in gw.ended, 20), "the streamed job ends with end=1",
   w.err)
head, data, recs = gw.answer(jid)
is_eq(head and head.get("status"), 200, "head line: status 200")
like((head or {}).get("headers", {}).get("content-type", ""),
     r"^text/event-stream", "head line: the runtime's content-type")
text, done = sse_contents(data)
is_eq((text, done), ("hello world hello world hello world", True),
      "the answer bytes are the runtime's stream, whole")
is_eq([r[1] for r in recs], list(range(len(recs))), "seq counts from 0")
ok(recs and recs[-1][2] and not any(r[2] for r in recs[:-1]),
   "end=1 on the last POST only")
cmp_ok(len(recs), ">=", 4, "a slow stream goes back in several POSTs")
rt = mock.requests(path="/v1/chat/completions")
ev = rt[-1]["event_mono"] if rt else []
first_data = [r[0] for r in recs if b"data:" in r[3]]
ok(ev and first_data and first_data[0] < ev[-1],
   "the first events reached the gateway before the runtime wrote its last",
   lambda: repr((first_data[:1], ev[-1:])))
r0 = rt[-1] if rt else {}
is_eq(r0.get("key"), RUNTIME_KEY,
      "the runtime gets the worker's runtime key (--runtime-key-env)")
is_eq((r0.get("headers", {}).get("accept"), r0.get("body", {}).get("model")),
      ("text/event-stream", "m1"), "the job's headers and body reach the runtime")
ok(KEY not in json.dumps(r0), "the worker key never reaches the runtime")
like(w.err(), r"job %s done: model=m1 status=200 bytes=\d+ posts=\d+ ms=\d+"
     % jid, "one log line for the job, with status, bytes and time")

# Capacity: three jobs of ~2 s offered at once, at most two in flight.
mock.reset()
mock.set_default(RUNTIME_KEY, {"events": 4, "interval_ms": 500})
ids = [gw.add_job(chat()) for _ in range(3)]
ok(gw.wait(lambda: all(i in gw.ended for i in ids), 30),
   "three jobs at capacity 2 all end", w.err)
spans = [(gw.given[i], gw.ended[i]) for i in ids if i in gw.ended]
peak = 0
for t0, _ in spans:
    peak = max(peak, sum(1 for a, b in spans if a <= t0 < b))
is_eq(peak, 2, "at most two jobs given out at once, and two were")
recs_rt = mock.requests(path="/v1/chat/completions")
live = 0
for r in recs_rt:
    live = max(live, sum(1 for o in recs_rt
                         if o["mono"] <= r["mono"] and
                         (not o["event_mono"] or o["event_mono"][-1] >=
                          r["mono"])))
cmp_ok(live, "<=", 2, "at most two calls in flight at the runtime")
third = sorted(spans)[2] if len(spans) == 3 else (0, 0)
ok(len(spans) == 3 and third[0] >= min(b for _, b in sorted(spans)[:2]) - 0.05,
   "the third job is taken only once a slot is free")
mock.set_default(RUNTIME_KEY, None)

# 410: the gateway no longer wants a job; the runtime call is aborted.
mock.reset()
mock.script(RUNTIME_KEY, {"events": 60, "interval_ms": 150})
jid = gw.add_job(chat())
gw.gone[jid] = 1
got = mock.wait_for(lambda recs: [r for r in recs
                                  if r["path"] == "/v1/chat/completions" and
                                  r["client_closed"]], 10)
ok(got, "410 on a result POST: the runtime sees its connection closed",
   lambda: repr(mock.requests()))
if got:
    cmp_ok(got[0]["events_sent"], "<", 60, "... before the stream's end")
n = len(gw.results.get(jid, []))
time.sleep(1.0)
is_eq(len(gw.results.get(jid, [])), n, "nothing more is sent for the job")
like(w.err(), r"job %s cancelled by the gateway \(410\)" % jid,
     "the worker logs the cancelled job")

# The runtime cannot answer: head 502 with an error, end=1.
mock.script(RUNTIME_KEY, {"reset": True})
jid = gw.add_job(chat())
ok(gw.wait(lambda: jid in gw.ended, 10), "an unreachable runtime ends the job")
head, data, recs = gw.answer(jid)
is_eq((head or {}).get("status"), 502, "head: status 502")
ok(isinstance((head or {}).get("error"), str) and head["error"] and
   "\n" not in head["error"], "head: a one-line error", repr(head))
is_eq([(r[1], r[2]) for r in recs], [(0, True)], "one POST, seq=0 with end=1")

# Bounded buffer: a runtime far faster than the gateway.
gw.post_delay = 0.05
mock.script(RUNTIME_KEY, {"events": 4000, "burst": True})
jid = gw.add_job(chat())
ok(gw.wait(lambda: jid in gw.ended, 60), "a large fast answer ends", w.err)
gw.post_delay = 0.0
head, data, recs = gw.answer(jid)
text, done = sse_contents(data)
ok(done and len(text.split()) == 4000, "... whole (%d bytes)" % len(data))
biggest = max(len(r[3]) for r in recs) if recs else 0
cmp_ok(biggest, "<=", 64 * 1024 + 16 * 1024,
       "no POST carries more than the job's 64 KiB buffer (and the head)")
cmp_ok(len(recs), ">=", len(data) // (80 * 1024),
       "the answer went back in many POSTs")

# The runtime's own errors and JSON answers go back as they are.
mock.script(RUNTIME_KEY, {"status": 404})
jid = gw.add_job(chat("nope"))
ok(gw.wait(lambda: jid in gw.ended, 10), "a runtime 404 ends the job")
head, data, _ = gw.answer(jid)
is_eq((head or {}).get("status"), 404, "head: the runtime's 404")
like(data.decode("utf-8", "replace"), r'"error"', "... with its error body")
jid = gw.add_job(chat(stream=False), headers={"content-type":
                                               "application/json"})
ok(gw.wait(lambda: jid in gw.ended, 10), "a JSON (non-streamed) job ends")
head, data, _ = gw.answer(jid)
like((head or {}).get("headers", {}).get("content-type", ""),
     r"^application/json", "head: content-type application/json")
is_eq(json.loads(data or b"{}").get("choices", [{}])[0].get("message", {})
      .get("content"), "hello world", "the JSON answer whole")

# A gateway answering 503: retries with growing gaps, then jobs again.
gw.fail_polls = 4
ok(w.wait_log(r"(HTTP 503 to the job poll; retrying in .*\n.*){4}", 20),
   "503 on the job poll: the worker retries", w.err)
gaps = [float(x) for x in re.findall(
    r"HTTP 503 to the job poll; retrying in ([0-9.]+) s", w.err())]
ok(len(gaps) == 4 and all(b >= a for a, b in zip(gaps, gaps[1:])),
   "... with growing gaps", repr(gaps))
jid = gw.add_job(chat())
ok(gw.wait(lambda: jid in gw.ended, 15), "... and takes jobs once it answers")

# A model list change: hello at once with the new list.
n0 = len(gw.hellos)
mock.set_models(["m1", "m2", "m3"])
ok(gw.wait(lambda: any(len(h[1].get("models", [])) == 3
                       for h in gw.hellos[n0:]), 10),
   "a changed model list is said in a hello")
like(w.err(), r"runtime models: 3", "the change is logged")

# A gateway that forgot the worker (409 on jobs): hello again.
with gw.cond:
    gw.registered = False
    n0 = len(gw.hellos)
ok(gw.wait(lambda: gw.registered and len(gw.hellos) > n0, 10),
   "409 on the job poll: the worker says hello again")

# SIGTERM: no more polls, the running job finishes, then bye, exit 0.
mock.script(RUNTIME_KEY, {"events": 8, "interval_ms": 250})
jid = gw.add_job(chat())
ok(gw.wait(lambda: gw.results.get(jid), 10), "a job is running")
t_sig = time.monotonic()
w.signal(signal.SIGTERM)
time.sleep(0.3)
late = gw.add_job(chat())
rc = w.wait_exit(20)
is_eq(rc, 0, "SIGTERM: exit 0 once the job finished")
ok(jid in gw.ended, "the running job was finished")
head, data, _ = gw.answer(jid)
is_eq(sse_contents(data)[1], True, "... with its whole answer")
ok(gw.byes and gw.byes[0] >= gw.ended.get(jid, 1e18),
   "bye was sent after the job's last POST")
ok(not gw.results.get(late), "a job offered after SIGTERM is not run (a poll "
   "cut short leaves it to bye)")
ok(not [p for p in gw.polls if p[0] > t_sig + 1.5],
   "no poll after SIGTERM")
gw.jobs.clear()
ok(not gw.bad_calls, "every call the worker made is in the protocol",
   lambda: repr(gw.bad_calls))
ok(gw.auth_seen == {"Bearer " + KEY}, "every call carries the worker key")
gw.stop()

# ---------------------------------------------------------------------------
# Gateway down at start: retries with growing gaps, then registers.

port = qp.free_port()
w2 = Worker("http://127.0.0.1:%d" % port, mock.base_url,
            ["--name", "w2", "--runtime-key-env", "QP_TEST_RUNTIME_KEY"],
            env={"QP_TEST_RUNTIME_KEY": RUNTIME_KEY})
ok(w2.wait_log(r"(retrying in .*\n.*){4}", 20),
   "gateway down: the worker retries", w2.err)
gaps = [float(x) for x in re.findall(r"retrying in ([0-9.]+) s", w2.err())]
ok(len(gaps) >= 4 and all(b >= a for a, b in zip(gaps, gaps[1:])) and
   gaps[-1] > 2 * gaps[0], "the gaps between attempts grow", repr(gaps))
gw2 = Gateway(port=port)
ok(gw2.wait(lambda: gw2.hellos, 40), "it registers once the gateway is up",
   w2.err)
w2.signal(signal.SIGINT)
is_eq(w2.wait_exit(15), 0, "SIGINT with no job: exit 0")
ok(gw2.byes, "... after bye")
gw2.stop()

# ---------------------------------------------------------------------------
# A second signal ends the worker at once, jobs or not.

gw3 = Gateway()
mock.set_default(RUNTIME_KEY, {"events": 100, "interval_ms": 200})
w3 = Worker(gw3.url, mock.base_url,
            ["--runtime-key-env", "QP_TEST_RUNTIME_KEY", "--drain-timeout",
             "60"], env={"QP_TEST_RUNTIME_KEY": RUNTIME_KEY})
jid = gw3.add_job(chat())
ok(gw3.wait(lambda: gw3.results.get(jid), 10), "a long job is running")
w3.signal(signal.SIGTERM)
time.sleep(0.5)
ok(w3.proc.poll() is None, "after SIGTERM the worker waits for the job")
w3.signal(signal.SIGTERM)
rc = w3.wait_exit(5)
ok(rc is not None and rc != 0, "a second SIGTERM exits at once, non-zero",
   repr(rc))
mock.set_default(RUNTIME_KEY, None)
gw3.stop()

# ---------------------------------------------------------------------------
# TLS: the gateway's certificate is verified, with --ca-file for a private CA.


def make_tls(d):
    """A CA and a certificate for 127.0.0.1 signed by it, in d: returns
    (ca.pem, server.pem, server.key), or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr = os.path.join(d, "server.key"), os.path.join(d, "server.csr")
    crt, ext = os.path.join(d, "server.pem"), os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n"
                "keyUsage = digitalSignature\nextendedKeyUsage = serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    for args in (
            [openssl, "req", "-x509"] + ec + [
                "-keyout", ca_key, "-out", ca, "-days", "2", "-subj",
                "/CN=quotapool worker test CA", "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign"],
            [openssl, "req", "-new"] + ec + ["-keyout", key, "-out", csr,
                                             "-subj", "/CN=127.0.0.1"],
            [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey",
             ca_key, "-CAcreateserial", "-days", "2", "-out", crt,
             "-extfile", ext]):
        r = qp.run(args, timeout=30)
        if r.rc != 0:
            qp.diag("openssl failed: %r" % r)
            return None
    return ca, crt, key


tls = make_tls(TMP)
if tls is None:
    qp.missing("openssl is not installed (Debian package openssl)", 5)
else:
    gw5 = Gateway(tls=(tls[1], tls[2]))
    w5 = Worker(gw5.url, mock.base_url,
                ["--name", "w5", "--ca-file", tls[0], "--runtime-key-env",
                 "QP_TEST_RUNTIME_KEY"],
                env={"QP_TEST_RUNTIME_KEY": RUNTIME_KEY})
    ok(gw5.wait(lambda: gw5.hellos, 10),
       "HTTPS gateway, --ca-file: the worker registers", w5.err)
    jid = gw5.add_job(chat())
    ok(gw5.wait(lambda: jid in gw5.ended, 15), "... and serves a job over it")
    is_eq(sse_contents(gw5.answer(jid)[1])[1], True, "... whole")
    w6 = Worker(gw5.url, mock.base_url,
                ["--name", "w6", "--runtime-key-env", "QP_TEST_RUNTIME_KEY"],
                env={"QP_TEST_RUNTIME_KEY": RUNTIME_KEY})
    ok(w6.wait_log(r"hello failed \(.*certificate.*\); retrying", 10),
       "without --ca-file the private CA's certificate is refused", w6.err)
    ok(not [h for h in gw5.hellos if h[1].get("name") == "w6"],
       "... and the worker never talks to that gateway")
    for x in (w5, w6):
        x.signal(signal.SIGTERM)
    is_eq((w5.wait_exit(15), w6.wait_exit(15)), (0, 0),
          "both stop on SIGTERM with status 0")
    gw5.stop()

# ---------------------------------------------------------------------------
# The drain timeout: a job still running then is stopped, bye, exit 0.

gw7 = Gateway()
mock.reset()
mock.set_default(RUNTIME_KEY, {"events": 100, "interval_ms": 200})
w7 = Worker(gw7.url, mock.base_url,
            ["--runtime-key-env", "QP_TEST_RUNTIME_KEY", "--drain-timeout",
             "1"], env={"QP_TEST_RUNTIME_KEY": RUNTIME_KEY})
jid = gw7.add_job(chat())
ok(gw7.wait(lambda: gw7.results.get(jid), 10), "a long job is running")
w7.signal(signal.SIGTERM)
is_eq(w7.wait_exit(15), 0, "drain timeout reached: exit 0")
like(w7.err(), r"drain timeout: stopping 1 jobs", "the stop is logged")
ok(mock.wait_for(lambda recs: [r for r in recs if r["client_closed"]], 5),
   "the runtime call was aborted")
ok(gw7.byes, "bye was sent")
mock.set_default(RUNTIME_KEY, None)
gw7.stop()

# ---------------------------------------------------------------------------
# A bad key: exit non-zero with one clear line; no retry.

gw4 = Gateway(key="qp_" + "00" * 24)
w4 = Worker(gw4.url, mock.base_url, ["--runtime-key-env",
                                     "QP_TEST_RUNTIME_KEY"],
            env={"QP_TEST_RUNTIME_KEY": RUNTIME_KEY})
rc = w4.wait_exit(15)
ok(rc is not None and rc != 0, "401 on hello: exit non-zero", repr(rc))
lines = [ln for ln in w4.err().splitlines() if "refused" in ln]
ok(len(lines) == 1 and "401" in lines[0] and "QP_TEST_WORKER_KEY" in lines[0],
   "one line says the key was refused, naming its variable", w4.err)
is_eq(len(gw4.auth_seen), 1, "one attempt only")
gw4.stop()

# ---------------------------------------------------------------------------
# The keys never appear in the logs.

for i, wk in enumerate(Worker.all):
    e = wk.err()
    ok(KEY not in e and RUNTIME_KEY not in e and "wkSECRET" not in e,
       "worker %d: no key in its stderr" % i)
    ok(not qp.sanitizer_lines(e), "worker %d: no sanitizer report" % i,
       lambda: "\n".join(qp.sanitizer_lines(e)))
qp.done()
