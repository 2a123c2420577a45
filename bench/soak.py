#!/usr/bin/env python3
"""soak.py: the soak run of quotapool (lighttpd + quotapool.fcgi) under churn.

Everything runs on 127.0.0.1: a quotapool instance (quotapool-admin serve,
through tests/integration/qp.py) in front of the Python mock provider
(tests/integration/mock_upstream.py, its own process) with --accounts
accounts on one provider speaking both protocols. A single-threaded client
keeps --streams streams open for --duration seconds, opening a new one as
soon as one ends (3 in 4 OpenAI chat completions with usage, 1 in 4
Anthropic messages, by default):

  disconnects  a --disconnect share of the clients closes its socket at a
               random point of the stream (half with FIN, half with RST);
  cuts         a --cut share of the upstream streams is cut by the mock
               (connection closed after a random number of events, no
               terminator);
  429 bursts   every --burst-every seconds, --burst-accounts accounts answer
               429 (Retry-After: 2) for --burst-seconds.

Every --sample seconds it reads VmRSS, RssAnon, threads and open file
descriptors of quotapool.fcgi (and of lighttpd, for context). At the end
it waits for the streams in flight (bounded), then for no `pending` request
row, and reports:
  - requests sent, and the request rows written for them (must be equal),
    matched one by one by x-proxy-request-id;
  - rows left `pending`, open reservations, unfinished attempts (must be 0);
  - what the client saw against the status the row records;
  - RSS and descriptors over the run, and whether both stay within +-10 %
    of their median over the last 80 % of the run (the last 8 minutes of
    the default 10), every sample of that window included.
Exit status: 0 if every check holds, 1 if one does not (the report says
which), 2 on a usage or start-up error.

Run it from an optimised build directory (no sanitizers), niced, e.g.
    make bench-soak BENCH_ARGS='--duration 60 --streams 100'
    nice -n 10 python3 ../bench/soak.py --json soak.json
It is CPU heavy for its whole duration. Every process it starts is stopped
by PID at the end, also on failure. It is not a test: never under
`make check`.
"""

import argparse
import errno
import heapq
import json
import os
import platform
import random
import resource
import selectors
import shutil
import socket
import sqlite3
import statistics
import struct
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

import qp  # noqa: E402  (instance, mock process, cleanup at exit)

# qp.py is the integration tests' harness: keep its instance handling and its
# cleanup at exit, but this script is not a TAP test.
qp._tap["finished"] = True
sys.excepthook = sys.__excepthook__

MODEL = "soak-model"
FLAT = 0.10                 # +-10 % of the window's median
WINDOW = 0.80               # the last 80 % of the run
MAX_HEADER = 64 * 1024


def say(msg):
    sys.stderr.write("soak: %s\n" % msg)
    sys.stderr.flush()


def fail(msg):
    say("error: " + msg)
    sys.exit(2)

# ---------------------------------------------------------------------------
# /proc readings


def proc_status(pid):
    """{VmRSS, RssAnon, RssFile, RssShmem, Threads} of pid (kB / count),
    or None if gone."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return out


def proc_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None

# ---------------------------------------------------------------------------
# One client stream over a raw non-blocking socket


def request_bytes(port, key, anthropic, rid):
    """The HTTP request of one stream (Connection: close: the end of the
    answer is the end of the connection)."""
    if anthropic:
        path = "/v1/messages"
        body = {"model": MODEL, "stream": True, "max_tokens": 64,
                "messages": [{"role": "user", "content": "soak %d" % rid}]}
        auth = "x-api-key: %s\r\nanthropic-version: 2023-06-01\r\n" % key
    else:
        path = "/v1/chat/completions"
        body = {"model": MODEL, "stream": True, "max_tokens": 64,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "soak %d" % rid}]}
        auth = "Authorization: Bearer %s\r\n" % key
    data = json.dumps(body, separators=(",", ":")).encode()
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            "Content-Length: %d\r\nConnection: close\r\n\r\n" % (
                path, port, auth, len(data))).encode() + data


class Dechunk:
    """Incremental decoder of a chunked transfer coding; feed() returns the
    payload bytes so far, done is set after the last chunk."""

    def __init__(self):
        self.buf = b""
        self.left = 0           # payload bytes left in the current chunk
        self.crlf = False       # a chunk's trailing CRLF is still to come
        self.done = False
        self.bad = False

    def feed(self, data):
        self.buf += data
        out = []
        while self.buf and not self.done and not self.bad:
            if self.left:
                take = self.buf[:self.left]
                out.append(take)
                self.left -= len(take)
                self.buf = self.buf[len(take):]
                if self.left == 0:
                    self.crlf = True
                continue
            if self.crlf:
                if len(self.buf) < 2:
                    break
                if self.buf[:2] != b"\r\n":
                    self.bad = True
                    break
                self.buf = self.buf[2:]
                self.crlf = False
                continue
            i = self.buf.find(b"\r\n")
            if i < 0:
                if len(self.buf) > 1024:
                    self.bad = True
                break
            try:
                size = int(self.buf[:i].split(b";")[0].strip(), 16)
            except ValueError:
                self.bad = True
                break
            self.buf = self.buf[i + 2:]
            if size == 0:
                self.done = True
            else:
                self.left = size
        return b"".join(out)


class Stream:
    """One client request: connect, send, read headers and the event stream
    until the server closes (or this client leaves on purpose)."""

    __slots__ = ("sock", "rid", "anthropic", "req", "sent", "hdr", "status",
                 "uid", "chunked", "dechunk", "tail", "body_bytes",
                 "terminated", "leave", "leave_at", "t_start", "t_last",
                 "outcome", "state")

    def __init__(self, rid, anthropic, req, leave):
        self.rid, self.anthropic, self.req = rid, anthropic, req
        self.sock = None
        self.sent = 0
        self.hdr = b""
        self.status = None
        self.uid = None
        self.chunked = False
        self.dechunk = None
        self.tail = b""
        self.body_bytes = 0
        self.terminated = False
        self.leave = leave       # None, "fin" or "rst"
        self.leave_at = None
        self.t_start = self.t_last = time.monotonic()
        self.outcome = None
        self.state = "connect"   # connect, send, head, body, closed

    def terminator(self):
        return b"event: message_stop" if self.anthropic else \
            b"data: [DONE]"

    def body(self, data):
        if self.chunked:
            data = self.dechunk.feed(data)
        self.body_bytes += len(data)
        self.tail = (self.tail + data)[-256:]
        if self.terminator() in self.tail:
            self.terminated = True


class Driver:
    """Keeps n streams open against the gateway until told to stop."""

    def __init__(self, a, port, key, mock, rng):
        self.a, self.port, self.key, self.mock, self.rng = a, port, key, \
            mock, rng
        self.sel = selectors.DefaultSelector()
        self.live = set()
        self.leaves = []        # heap of (time, rid, stream)
        self.next_rid = 0
        self.results = {}       # uid -> client outcome
        self.no_uid = {}        # client outcome -> count (answers without id)
        self.counts = {"sent": 0, "connect_failed": 0, "cuts_scripted": 0,
                       "leave_planned": 0}
        self.outcomes = {}
        self.stream_s = a.events * a.interval_ms / 1000.0

    def start_one(self):
        rid = self.next_rid
        self.next_rid += 1
        anthropic = self.rng.random() < self.a.anthropic
        leave = None
        if self.rng.random() < self.a.disconnect:
            leave = "rst" if self.rng.random() < 0.5 else "fin"
        st = Stream(rid, anthropic, request_bytes(self.port, self.key,
                                                  anthropic, rid), leave)
        if self.rng.random() < self.a.cut:
            # Consumed by the next upstream completion request, whichever
            # account it goes to: a share of --cut of the streams is cut.
            total = self.a.events + (5 if anthropic else 3)
            self.mock.script("*", {"cut_after": self.rng.randrange(0, total),
                                   "events": self.a.events,
                                   "interval_ms": self.a.interval_ms})
            self.counts["cuts_scripted"] += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        e = s.connect_ex(("127.0.0.1", self.port))
        if e not in (0, errno.EINPROGRESS):
            s.close()
            self.counts["connect_failed"] += 1
            return
        st.sock = s
        st.state = "send"
        self.live.add(st)
        self.sel.register(s, selectors.EVENT_WRITE, st)

    def finish(self, st, outcome):
        if st.state == "closed":
            return
        st.state = "closed"
        st.outcome = outcome
        try:
            self.sel.unregister(st.sock)
        except (KeyError, ValueError):
            pass
        st.sock.close()
        self.live.discard(st)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if st.uid is not None:
            self.results[st.uid] = outcome
        elif st.sent == len(st.req):
            self.no_uid[outcome] = self.no_uid.get(outcome, 0) + 1

    def on_write(self, st):
        try:
            n = st.sock.send(st.req[st.sent:])
        except BlockingIOError:
            return
        except OSError as e:
            if st.sent == 0:
                self.counts["connect_failed"] += 1
                self.finish(st, "connect failed: %s" % errno.errorcode.get(
                    e.errno, e.errno))
            else:
                self.finish(st, "send failed")
            return
        st.sent += n
        if st.sent == len(st.req):
            self.counts["sent"] += 1
            st.state = "head"
            self.sel.modify(st.sock, selectors.EVENT_READ, st)

    def on_read(self, st, now):
        try:
            d = st.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            d = None
        st.t_last = now
        if not d:
            self.on_eof(st, d is None)
            return
        if st.state == "head":
            st.hdr += d
            i = st.hdr.find(b"\r\n\r\n")
            if i < 0:
                if len(st.hdr) > MAX_HEADER:
                    self.finish(st, "header too large")
                return
            head, rest = st.hdr[:i].decode("latin-1"), st.hdr[i + 4:]
            st.hdr = b""
            lines = head.split("\r\n")
            try:
                st.status = int(lines[0].split()[1])
            except (IndexError, ValueError):
                self.finish(st, "bad status line")
                return
            for line in lines[1:]:
                k, _, v = line.partition(":")
                k, v = k.strip().lower(), v.strip()
                if k == "x-proxy-request-id":
                    st.uid = v
                elif k == "transfer-encoding" and "chunked" in v.lower():
                    st.chunked = True
                    st.dechunk = Dechunk()
            st.state = "body"
            if st.status == 200 and st.leave:
                self.counts["leave_planned"] += 1
                st.leave_at = now + self.rng.uniform(0.1, 0.9) * \
                    self.stream_s
                heapq.heappush(self.leaves, (st.leave_at, st.rid, st))
            d = rest
        if d:
            st.body(d)

    def on_eof(self, st, error):
        if st.state != "body":
            self.finish(st, "closed before an answer" if not error else
                        "reset before an answer")
        elif st.status != 200:
            self.finish(st, "status %d" % st.status)
        elif st.terminated and not error:
            self.finish(st, "complete")
        else:
            self.finish(st, "cut (no terminator)")

    def leave_due(self, now):
        while self.leaves and self.leaves[0][0] <= now:
            _, _, st = heapq.heappop(self.leaves)
            if st.state != "body":
                continue
            if st.terminated:
                continue        # already whole: it ends by itself
            if st.leave == "rst":
                try:
                    st.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
                except OSError:
                    pass
            self.finish(st, "left mid-stream (%s)" % st.leave)

    def stalled(self, now, quiet_s):
        """Closes streams silent for quiet_s (counted: a finding)."""
        for st in [s for s in self.live if now - s.t_last > quiet_s]:
            self.finish(st, "stalled > %d s (closed by the client)" % quiet_s)

    def poll(self, timeout):
        now = time.monotonic()
        for key, ev in self.sel.select(timeout):
            st = key.data
            if st.state == "closed":
                continue
            if ev & selectors.EVENT_WRITE:
                self.on_write(st)
            elif ev & selectors.EVENT_READ:
                self.on_read(st, now)
        self.leave_due(time.monotonic())

    def close_all(self, outcome):
        for st in list(self.live):
            self.finish(st, outcome)

# ---------------------------------------------------------------------------
# The database


def db_query(inst, sql, args=()):
    for _ in range(200):
        try:
            c = inst.db()
            try:
                return c.execute(sql, args).fetchall()
            finally:
                c.close()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            time.sleep(0.05)
    fail("the database stayed locked")


def settle(inst, first_id, timeout):
    """Waits (bounded) until no request row of the run is pending."""
    deadline = time.monotonic() + timeout
    while True:
        n = db_query(inst, "SELECT count(*) FROM requests WHERE id > ? AND "
                     "status = 'pending'", (first_id,))[0][0]
        if n == 0 or time.monotonic() >= deadline:
            return n
        time.sleep(0.2)

# ---------------------------------------------------------------------------
# Flatness


def flat(samples, field, t0, t_end):
    """Window = samples of the last WINDOW share of the run. Returns
    {first, last, min, median, max, slope_per_min, n, flat}; flat: every
    sample of the window within +-FLAT of the window's median."""
    start = t0 + (1 - WINDOW) * (t_end - t0)
    w = [(s["t"], s[field]) for s in samples
         if s["t"] >= start - 1e-6 and s["t"] <= t_end + 1e-6 and
         s.get(field) is not None]
    if len(w) < 3:
        return {"n": len(w), "flat": False}
    vals = [v for _, v in w]
    med = statistics.median(vals)
    n = len(w)
    mt = sum(t for t, _ in w) / n
    mv = sum(vals) / n
    den = sum((t - mt) ** 2 for t, _ in w)
    slope = sum((t - mt) * (v - mv) for t, v in w) / den if den else 0.0
    return {"n": n, "from_s": round(start - t0, 1), "first": vals[0],
            "last": vals[-1], "min": min(vals), "median": med,
            "max": max(vals), "slope_per_min": slope * 60,
            "flat": med > 0 and min(vals) >= (1 - FLAT) * med and
            max(vals) <= (1 + FLAT) * med}

# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=600,
                    help="seconds of load (default 600)")
    ap.add_argument("--streams", type=int, default=500,
                    help="concurrent client streams (default 500)")
    ap.add_argument("--disconnect", type=float, default=0.10,
                    help="share of clients that leave mid-stream (0.10)")
    ap.add_argument("--cut", type=float, default=0.05,
                    help="share of upstream streams the mock cuts (0.05)")
    ap.add_argument("--accounts", type=int, default=6,
                    help="accounts of the mock provider (default 6)")
    ap.add_argument("--burst-every", type=float, default=30,
                    help="seconds between 429 bursts (default 30)")
    ap.add_argument("--burst-seconds", type=float, default=10,
                    help="length of a 429 burst (default 10)")
    ap.add_argument("--burst-accounts", type=int, default=2,
                    help="accounts answering 429 in a burst (default 2)")
    ap.add_argument("--events", type=int, default=20,
                    help="text events per upstream stream (default 20)")
    ap.add_argument("--interval-ms", type=int, default=250,
                    help="time between upstream events (default 250)")
    ap.add_argument("--anthropic", type=float, default=0.25,
                    help="share of Anthropic /v1/messages streams (0.25)")
    ap.add_argument("--sample", type=float, default=5,
                    help="seconds between RSS/descriptor samples (default 5)")
    ap.add_argument("--threads", type=int, default=0,
                    help="[server] threads (default: streams + 64, <= 1024)")
    ap.add_argument("--open-rate", type=int, default=200,
                    help="most new connections per 0.1 s (default 200)")
    ap.add_argument("--seed", type=int, default=1,
                    help="random seed (default 1)")
    ap.add_argument("--json", help="also write results and samples here")
    a = ap.parse_args()
    if a.duration < 10 or a.streams < 1 or a.sample <= 0:
        fail("--duration >= 10, --streams >= 1 and --sample > 0, please")
    if not 1 <= a.burst_accounts < a.accounts:
        fail("--burst-accounts must be at least 1 and below --accounts")
    threads = a.threads or min(1024, a.streams + 64)
    if threads < a.streams:
        fail("[server] threads (%d) must be at least --streams (%d): each "
             "open stream holds a worker thread" % (threads, a.streams))
    for p in (qp.ADMIN, qp.FCGI):
        if not os.access(p, os.X_OK):
            fail("%s is not built (run make first, or run this from the "
                 "build directory)" % p)
    if not os.access(os.environ["LIGHTTPD"], os.X_OK):
        fail("lighttpd not found at %s" % os.environ["LIGHTTPD"])

    # Descriptors: this client holds one per stream, the mock one per
    # stream, quotapool.fcgi two per stream (FastCGI and upstream), lighttpd
    # two per stream. Children inherit the raised soft limit.
    need = 3 * a.streams + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    if soft != resource.RLIM_INFINITY and soft < need:
        fail("RLIMIT_NOFILE is %d (hard %d); %d streams need about %d" % (
            soft, hard, a.streams, need))

    stream_s = a.events * a.interval_ms / 1000.0
    drain_s = stream_s + 60
    qp.set_timeout(a.duration + drain_s + 300)
    rng = random.Random(a.seed)
    res = {"args": vars(a), "threads_configured": threads,
           "rlimit_nofile": soft, "machine": {
               "nproc": os.cpu_count(), "kernel": platform.release(),
               "load_before": os.getloadavg()}}
    try:
        res["machine"]["quotapool"] = subprocess.run(
            ["git", "-C", SRCDIR, "describe", "--always", "--dirty"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            timeout=10).stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        res["machine"]["quotapool"] = "?"

    mock = qp.MockProcess(models=[MODEL])
    names = ["a%d" % i for i in range(1, a.accounts + 1)]
    normal = {"events": a.events, "interval_ms": a.interval_ms}
    mock.set_default("*", normal)
    inst = qp.Instance(
        providers={"mock": {"mock": mock, "protocols": ["openai", "anthropic"],
                            "models": [MODEL], "accounts": names}},
        server={"threads": threads}, prefix="qp-soak-")
    inst.start()
    say("instance on port %d (dir %s), mock on port %d, %d threads" % (
        inst.port, inst.dir, mock.port, threads))
    deadline = time.monotonic() + 15
    while True:
        pids = inst.app_pids()
        if len(pids) == 1:
            break
        if time.monotonic() > deadline:
            fail("expected one quotapool.fcgi process, found %r" % pids)
        time.sleep(0.1)
    fcgi = pids[0]
    lighttpd = (inst.lighttpd_pids() or [None])[0]
    # One stream end to end before the clock starts.
    r = inst.request("POST", "/v1/chat/completions", {
        "model": MODEL, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    if r.status != 200 or b"[DONE]" not in r.body:
        fail("a first stream failed: %d %r" % (r.status, r.body[:300]))
    settle(inst, 0, 30)
    first_id = db_query(inst, "SELECT coalesce(max(id), 0) FROM requests")[0][0]

    drv = Driver(a, inst.port, inst.key, mock, rng)
    samples = []
    bursts = []
    in_burst = []
    t0 = time.monotonic()
    t_end = t0 + a.duration
    next_sample = t0
    next_burst = t0 + a.burst_every
    burst_ends = None
    next_reset = t0 + 30
    next_say = t0 + 30
    restarts = []
    say("%d streams for %d s (each %.1f s upstream), pid %d" % (
        a.streams, a.duration, stream_s, fcgi))
    while True:
        now = time.monotonic()
        if now >= next_sample:
            st = proc_status(fcgi)
            cur = inst.app_pids()
            if cur != [fcgi]:
                restarts.append({"t": round(now - t0, 1), "pids": cur})
            smp = {"t": now - t0, "live": len(drv.live),
                   "rss_kb": st and st["VmRSS"],
                   "anon_kb": st and st["RssAnon"],
                   "file_kb": st and st["RssFile"],
                   "shmem_kb": st and st["RssShmem"],
                   "threads": st and st["Threads"], "fds": proc_fds(fcgi)}
            if lighttpd:
                lst = proc_status(lighttpd)
                smp["lighttpd_rss_kb"] = lst and lst["VmRSS"]
                smp["lighttpd_fds"] = proc_fds(lighttpd)
            samples.append(smp)
            next_sample += a.sample
        if now >= t_end + drain_s:
            drv.close_all("still open %d s after the end (closed by the "
                          "client)" % drain_s)
            break
        if now >= t_end and not drv.live:
            break
        if now < t_end:
            opened = 0
            while len(drv.live) < a.streams and opened < a.open_rate:
                drv.start_one()
                opened += 1
            if burst_ends is None and now >= next_burst:
                in_burst = rng.sample(names, a.burst_accounts)
                for n in in_burst:
                    mock.set_default("k-" + n, {"status": 429,
                                                "headers": {"Retry-After":
                                                            "2"}})
                burst_ends = now + a.burst_seconds
                bursts.append({"t": round(now - t0, 1), "accounts": in_burst})
            if now >= next_reset:
                mock.reset()    # bounds the mock's request records
                next_reset = now + 30
        if burst_ends is not None and now >= burst_ends:
            for n in in_burst:
                mock.set_default("k-" + n, None)
            burst_ends = None
            next_burst = now + a.burst_every - a.burst_seconds
        if now >= next_say:
            s = samples[-1]
            say("t=%4.0f s: %d open, %d sent, RSS %s kB, %s fds, %s threads"
                % (now - t0, len(drv.live), drv.counts["sent"], s["rss_kb"],
                   s["fds"], s["threads"]))
            next_say += 30
        drv.stalled(now, max(30, 4 * a.interval_ms / 1000.0 + 20))
        drv.poll(0.1)
    t_stop = time.monotonic()
    if burst_ends is not None:
        for n in in_burst:
            mock.set_default("k-" + n, None)
    say("load over after %.0f s; waiting for the rows" % (t_stop - t0))
    pending = settle(inst, first_id, 60)
    time.sleep(2)
    idle = proc_status(fcgi)
    idle_fds = proc_fds(fcgi)

    # ---- rows against what the client saw ---------------------------------
    rows = db_query(inst, "SELECT request_uid, status, status_code, "
                    "error_class FROM requests WHERE id > ?", (first_id,))
    by_uid = {u: (s, c, e) for u, s, c, e in rows}
    missing = sorted(u for u in drv.results if u not in by_uid)
    unseen = sorted(u for u in by_uid if u not in drv.results)
    cross = {}
    odd = {}                # unexpected pairs: a few examples each
    expect = {"complete": "completed", "cut (no terminator)": "error",
              "left mid-stream (fin)": "client_disconnected",
              "left mid-stream (rst)": "client_disconnected"}
    for u, outcome in drv.results.items():
        row = by_uid.get(u)
        k = "%s -> %s" % (outcome, "%s %s" % (row[0], row[1]) if row
                          else "NO ROW")
        cross[k] = cross.get(k, 0) + 1
        if row is None or expect.get(outcome) != row[0]:
            ex = odd.setdefault(k, [])
            if len(ex) < 5:
                ex.append("%s (error_class %s)" % (u, row[2] if row
                                                   else "-"))
    db_status = {}
    for _, s, c, e in rows:
        k = "%s %s%s" % (s, c, " " + e if e else "")
        db_status[k] = db_status.get(k, 0) + 1
    attempts = db_query(inst, "SELECT outcome, count(*) FROM request_attempts "
                        "WHERE request_id > ? GROUP BY outcome ORDER BY 2 DESC",
                        (first_id,))
    open_attempts = db_query(inst, "SELECT count(*) FROM request_attempts "
                             "WHERE request_id > ? AND completed_at IS NULL",
                             (first_id,))[0][0]
    reservations = db_query(inst, "SELECT count(*) FROM reservations")[0][0]
    pending_rows = db_query(inst, "SELECT id, request_uid, started_at FROM "
                            "requests WHERE id > ? AND status = 'pending' "
                            "LIMIT 20", (first_id,))
    sent = drv.counts["sent"]
    written = len(rows)

    res.update({
        "seconds": round(t_stop - t0, 1), "counts": drv.counts,
        "client_outcomes": drv.outcomes, "answers_without_id": drv.no_uid,
        "rows_written": written, "rows_pending": pending,
        "pending_rows": pending_rows,
        "ids_without_row": missing[:50], "ids_without_row_count": len(missing),
        "rows_never_seen_by_client": unseen[:50],
        "rows_never_seen_count": len(unseen), "client_vs_row": cross,
        "client_vs_row_unexpected": odd,
        "rows_by_status": db_status, "attempts_by_outcome": dict(attempts),
        "attempts_unfinished": open_attempts, "reservations_left":
        reservations, "bursts": bursts, "fcgi_restarts": restarts,
        "fcgi_pid": fcgi, "idle_after": {"rss_kb": idle and idle["VmRSS"],
                                         "fds": idle_fds,
                                         "threads": idle and idle["Threads"]},
        "samples": [{k: (round(v, 1) if isinstance(v, float) else v)
                     for k, v in s.items()} for s in samples]})
    res["rss"] = flat(samples, "rss_kb", 0, t_end - t0)
    res["fds"] = flat(samples, "fds", 0, t_end - t0)
    res["machine"]["load_after"] = os.getloadavg()
    stop = inst.stop()
    res["stop"] = {"rc": stop.rc, "elapsed_s": round(stop.elapsed, 2),
                   "leftovers": [repr(r) for r in stop.leftovers]}
    mock.stop()

    checks = [
        ("requests sent = request rows written", sent == written,
         "%d sent, %d rows" % (sent, written)),
        ("every answer carries x-proxy-request-id", not drv.no_uid,
         "answers without id: %r" % drv.no_uid),
        ("every id the client saw has its row", not missing,
         "%d ids without a row, e.g. %s" % (len(missing), missing[:5])),
        ("rows left pending", pending == 0, "%d pending" % pending),
        ("unfinished attempts / reservations left",
         open_attempts == 0 and reservations == 0,
         "%d / %d" % (open_attempts, reservations)),
        ("one quotapool.fcgi process all along", not restarts,
         "%r" % restarts),
        ("RSS flat within +-10 %% over the last %d s" % round(
            WINDOW * a.duration), res["rss"].get("flat"), ""),
        ("descriptors flat within +-10 %% over the last %d s" % round(
            WINDOW * a.duration), res["fds"].get("flat"), ""),
    ]
    res["checks"] = [{"check": c, "ok": bool(o), "detail": d}
                     for c, o, d in checks]
    print(report(res, checks))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
            f.write("\n")
    return 0 if all(o for _, o, _ in checks) else 1


def report(res, checks):
    a = res["args"]
    out = []
    w = out.append
    w("soak: %d streams for %d s (%.1f s of load), %d threads, %d accounts; "
      "disconnect %.0f %%, cut %.0f %%, 429 bursts of %d account(s) for %g s "
      "every %g s; quotapool %s" % (
          a["streams"], a["duration"], res["seconds"],
          res["threads_configured"], a["accounts"], 100 * a["disconnect"],
          100 * a["cut"], a["burst_accounts"], a["burst_seconds"],
          a["burst_every"], res["machine"]["quotapool"]))
    c = res["counts"]
    w("requests sent %d; request rows written %d; connect failures %d; "
      "cuts scripted %d; clients that left mid-stream %d planned" % (
          c["sent"], res["rows_written"], c["connect_failed"],
          c["cuts_scripted"], c["leave_planned"]))
    w("client outcomes: " + ", ".join("%s %d" % kv for kv in sorted(
        res["client_outcomes"].items(), key=lambda kv: -kv[1])))
    w("rows by status, code and error class: " + ", ".join("%s: %d" % kv for kv in sorted(
        res["rows_by_status"].items(), key=lambda kv: -kv[1])))
    w("attempts by outcome: " + ", ".join("%s %d" % kv for kv in sorted(
        res["attempts_by_outcome"].items(), key=lambda kv: -kv[1])))
    w("client outcome -> row status:")
    for k, v in sorted(res["client_vs_row"].items(), key=lambda kv: -kv[1]):
        w("    %7d  %s" % (v, k))
        for ex in res["client_vs_row_unexpected"].get(k, []):
            w("             e.g. %s" % ex)
    w("pending %d, unfinished attempts %d, reservations left %d; rows the "
      "client never saw an id for: %d" % (
          res["rows_pending"], res["attempts_unfinished"],
          res["reservations_left"], res["rows_never_seen_count"]))
    for name, unit in (("rss", "kB"), ("fds", "")):
        f = res[name]
        if f.get("n", 0) < 3:
            w("%s: too few samples" % name)
            continue
        w("%s over the last %.0f s (%d samples): first %s, last %s, min %s, "
          "median %s, max %s %s (%.1f %% .. %.1f %% of the median); slope "
          "%+.1f %s/min" % (
              "RSS" if name == "rss" else "open descriptors",
              a["duration"] - f["from_s"], f["n"], f["first"], f["last"],
              f["min"], f["median"], f["max"], unit,
              100.0 * f["min"] / f["median"] - 100,
              100.0 * f["max"] / f["median"] - 100, f["slope_per_min"],
              unit or "fds"))
    i = res["idle_after"]
    w("after the load: RSS %s kB, %s fds, %s threads; serve stopped with "
      "status %s in %.2f s" % (i["rss_kb"], i["fds"], i["threads"],
                               res["stop"]["rc"], res["stop"]["elapsed_s"]))
    w("samples (every %g s; t, open streams, RSS kB, fds, threads):" %
      a["sample"])
    line = []
    for s in res["samples"]:
        line.append("%.0f:%d/%s/%s/%s" % (s["t"], s["live"], s["rss_kb"],
                                          s["fds"], s["threads"]))
        if len(line) == 6:
            w("    " + "  ".join(line))
            line = []
    if line:
        w("    " + "  ".join(line))
    for name, ok, detail in checks:
        w("%-6s %s%s" % ("ok" if ok else "NOT OK", name,
                         (": " + detail) if detail else ""))
    m = res["machine"]
    w("machine: %d cores, kernel %s; load average %.2f before, %.2f after" % (
        m["nproc"], m["kernel"], m["load_before"][0], m["load_after"][0]))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
