#!/usr/bin/env python3
"""gateway.py: the data-plane benchmark of quotapool (lighttpd + quotapool.fcgi).

Everything runs on 127.0.0.1 in one run, so the numbers compare like with like:

  upstreams   nginx (a fixed `return 200` chat.completion, fast enough never
              to be the bottleneck) for plain JSON requests; the Python mock
              provider (tests/integration/mock_upstream.py, own process) for
              event streams.
  paths       direct:    client -> upstream
              mod_proxy: client -> lighttpd mod_proxy -> upstream (the floor for
                         anything behind lighttpd)
              quotapool: client -> lighttpd -> quotapool.fcgi -> upstream, with
                         key check, routing, accounting rows and all.

Measured: added latency per non-streaming request (wrk, one connection),
added time to first event of a stream (raw-socket client), accounted
requests per second at concurrency 32 (wrk; rows in the requests table
checked against the 2xx answers), RSS of quotapool.fcgi idle and with many
streams open, and added latency for 1 KB to 2 MB request bodies.  One table
with the targets of issue 3 item 9 goes to stdout; progress goes to stderr.

Run it from an optimised build directory (no sanitizers):
    make bench-gateway                       # same as:
    python3 ../bench/gateway.py [--json out.json] [--quick]
Needs lighttpd, nginx and wrk (Debian: lighttpd, nginx-light, wrk).
Every process it starts is stopped by PID at the end, also on failure.
This is a benchmark, not a test: it never runs under `make check`.
"""

import argparse
import json
import os
import platform
import re
import selectors
import shutil
import signal
import socket
import sqlite3
import statistics
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
SBIN = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
NGINX = os.environ.get("NGINX") or shutil.which("nginx", path=SBIN) or "nginx"
WRK = os.environ.get("WRK") or shutil.which("wrk", path=SBIN) or "wrk"

import qp  # noqa: E402  (instances, mock process, cleanup at exit)

# qp.py is the integration tests' harness: keep its instance handling and its
# cleanup at exit, but this script is not a TAP test.
qp._tap["finished"] = True
sys.excepthook = sys.__excepthook__

MODEL = "bench-model"
PATH = "/v1/chat/completions"
ACCOUNT = "a1"
UPSTREAM_KEY = "k-" + ACCOUNT
MB = 1024 * 1024

# The fixed answer nginx returns: an OpenAI chat.completion with usage.
NGINX_ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
    "model": MODEL,
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "hello world"}}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}, separators=(",", ":"))
NGINX_MODELS = json.dumps({"object": "list", "data": [
    {"id": MODEL, "object": "model", "created": 1700000000,
     "owned_by": "bench"}]}, separators=(",", ":"))

# Targets of issue 3, item 9.
TARGET_P50_FACTOR = 2.0      # added p50 <= 2 x mod_proxy's added p50
TARGET_P99_MS = 2.0          # added p99 < 2 ms
TARGET_TTFT_MS = 1.0         # added time to first token < 1 ms
TARGET_RPS = 5000.0          # accounted requests/s at concurrency 32
TARGET_IDLE_MB = 12.0        # idle VmRSS of quotapool.fcgi
TARGET_STREAM_KB = 64.0      # VmRSS per open stream


def say(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def fail(msg):
    raise SystemExit("bench: error: %s" % msg)

# ---------------------------------------------------------------------------
# Processes started here (nginx, lighttpd), stopped by PID


class Server:
    """A foreground server process in its own session, logs in its dir."""

    def __init__(self, name, args, port, workdir):
        self.name, self.port = name, port
        self.out = open(os.path.join(workdir, name + ".out"), "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=self.out,
                                     start_new_session=True)
        _servers.append(self)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                self.out.flush()
                with open(self.out.name, "rb") as f:
                    log = f.read().decode("utf-8", "replace")
                fail("%s exited with status %s: %s" % (
                    name, self.proc.returncode, log.strip()[-800:]))
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    fail("%s did not listen on port %d" % (name, port))
                time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        """SIGTERM to the server, bounded wait, then SIGKILL to it and to
        every process that was below it."""
        if self.proc is None:
            return
        below = [qp.ProcRef(p) for p in qp.descendants(self.proc.pid)]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        deadline = time.monotonic() + 5
        while any(r.alive() for r in below) and time.monotonic() < deadline:
            time.sleep(0.02)
        for r in below:
            r.kill()
        self.proc = None
        self.out.close()


_servers = []


def _stop_servers():
    while _servers:
        s = _servers.pop()
        try:
            s.stop()
        except Exception as e:  # one failed stop must not keep others alive
            say("stopping %s failed: %s" % (s.name, e))


def start_nginx(workdir):
    """nginx answering the chat endpoint with NGINX_ANSWER (and a models
    list for quotapool's catalog refresh)."""
    d = os.path.join(workdir, "nginx")
    os.makedirs(os.path.join(d, "logs"))
    port = qp.free_port()
    temp = "".join("    %s_temp_path %s/%s;\n" % (k, d, k) for k in
                   ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = """worker_processes 1;
daemon off;
master_process on;
pid %(d)s/nginx.pid;
error_log %(d)s/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
%(temp)s    client_max_body_size 0;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:%(port)d;
        location = /v1/chat/completions {
            default_type application/json;
            return 200 '%(answer)s';
        }
        location = /v1/models {
            default_type application/json;
            return 200 '%(models)s';
        }
    }
}
""" % {"d": d, "temp": temp, "port": port, "answer": NGINX_ANSWER,
       "models": NGINX_MODELS}
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return Server("nginx", [NGINX, "-p", d, "-c", path, "-e",
                            os.path.join(d, "logs", "error.log")],
                  port, workdir)


def start_mod_proxy(workdir, upstream_port, max_request_kb, name="modproxy"):
    """lighttpd with mod_proxy to upstream_port: the same server settings as
    quotapool's lighttpd/standalone.conf (streaming, buffered request bodies,
    access log), only the backend differs."""
    d = os.path.join(workdir, name)
    for sub in ("www", "tmp"):
        os.makedirs(os.path.join(d, sub))
    port = qp.free_port()
    conf = """server.modules = ("mod_access", "mod_proxy", "mod_accesslog")
server.bind          = "127.0.0.1"
server.port          = %(port)d
server.tag           = "modproxy"
server.document-root = "%(d)s/www"
server.errorlog      = "%(d)s/error.log"
accesslog.filename   = "%(d)s/access.log"
server.upload-dirs   = ("%(d)s/tmp")
server.stream-response-body = 2
server.stream-request-body  = 0
server.max-request-size     = %(kb)d
proxy.server = ("/" => (("host" => "127.0.0.1", "port" => %(up)d)))
""" % {"port": port, "d": d, "up": upstream_port, "kb": max_request_kb}
    path = os.path.join(d, "lighttpd.conf")
    with open(path, "w") as f:
        f.write(conf)
    return Server("lighttpd-" + name,
                  [os.environ["LIGHTTPD"], "-D", "-f", path], port, workdir)

# ---------------------------------------------------------------------------
# wrk


WRK_LUA = r"""-- written by bench/gateway.py
local f = assert(io.open("@BODY@", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer @KEY@"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,' ..
    '"status_errors":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%.0f,"p90_us":%.0f,' ..
    '"p99_us":%.0f,"max_us":%.0f,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


def chat_body(size):
    """A chat request body of exactly size bytes (size >= 100)."""
    base = {"model": MODEL, "max_tokens": 16,
            "messages": [{"role": "user", "content": ""}]}
    empty = len(json.dumps(base, separators=(",", ":")))
    words = ("the quick brown fox jumps over the lazy dog " * (
        size // 44 + 2))[:max(0, size - empty)]
    base["messages"][0]["content"] = words
    data = json.dumps(base, separators=(",", ":")).encode()
    if len(data) != size:
        fail("body of %d bytes came out as %d" % (size, len(data)))
    return data


class Wrk:
    def __init__(self, workdir, key):
        self.workdir, self.key = workdir, key
        self.scripts = {}

    def script(self, size):
        if size not in self.scripts:
            body = os.path.join(self.workdir, "body-%d.json" % size)
            with open(body, "wb") as f:
                f.write(chat_body(size))
            lua = os.path.join(self.workdir, "post-%d.lua" % size)
            with open(lua, "w") as f:
                f.write(WRK_LUA.replace("@BODY@", body).replace(
                    "@KEY@", self.key))
            self.scripts[size] = lua
        return self.scripts[size]

    def run(self, port, seconds, conns=1, threads=1, size=1024, pids=()):
        """Runs wrk against port for seconds; returns its summary dict, with
        the CPU time the processes pids used per request (cpu_us)."""
        cpu0 = cpu_ns(pids)
        args = [WRK, "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds,
                "--latency", "--timeout", "10s", "-s", self.script(size),
                "http://127.0.0.1:%d%s" % (port, PATH)]
        p = subprocess.Popen(args, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            out, err = p.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            fail("wrk did not finish: %s" % " ".join(args))
        text = out.decode("utf-8", "replace")
        m = re.search(r"^WRKJSON (\{.*\})$", text, re.M)
        if p.returncode != 0 or not m:
            fail("wrk failed (status %s): %s %s" % (
                p.returncode, text[-500:], err.decode()[-500:]))
        res = json.loads(m.group(1))
        res["cpu_us"] = (cpu_ns(pids) - cpu0) / 1e3 / max(1, res["requests"])
        res["ok"] = res["requests"] - res["status_errors"]
        res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
        res["errors"] = sum(res[k] for k in (
            "status_errors", "connect_errors", "read_errors", "write_errors",
            "timeouts"))
        return res

# ---------------------------------------------------------------------------
# Streams over raw sockets


def stream_request(port, body, key):
    return (("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
             "Accept: text/event-stream\r\nContent-Length: %d\r\n"
             "Connection: close\r\n\r\n") % (PATH, port, key, len(body))
            ).encode() + body


def first_event_time(port, req, timeout=10.0):
    """Seconds from connect to the first "data:" line of an SSE answer; reads
    the answer to its end. Returns (seconds, status line)."""
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
                if h >= 0 and buf.find(b"data:", h) >= 0:
                    t1 = time.perf_counter()
    finally:
        s.close()
    status = buf.split(b"\r\n", 1)[0].decode("latin-1")
    if t1 is None:
        fail("no event in the answer from port %d: %r" % (port, buf[:300]))
    return t1 - t0, status


def cpu_ns(pids):
    """CPU time used so far by the processes pids, all their threads, in
    nanoseconds (from /proc/PID/task/TID/schedstat)."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def pct(values, p):
    """Nearest-rank percentile p of values."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]

# ---------------------------------------------------------------------------
# quotapool


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for pid %d" % pid)


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def proc_threads(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def db_rows(inst, sql, args=()):
    for _ in range(100):
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
    fail("database stayed locked")


def count_requests(inst):
    return db_rows(inst, "SELECT count(*), coalesce(sum(status = 'pending'), 0),"
                   " coalesce(sum(status_code BETWEEN 200 AND 299), 0)"
                   " FROM requests")[0]


def wait_settled(inst, timeout=30.0):
    """Waits until no request row is pending; returns the counts."""
    deadline = time.monotonic() + timeout
    while True:
        n = count_requests(inst)
        if n[1] == 0 or time.monotonic() >= deadline:
            return n
        time.sleep(0.1)


def start_instance(providers, server):
    inst = qp.Instance(providers=providers, server=server, prefix="qp-bench-")
    inst.start()
    deadline = time.monotonic() + 15
    while True:
        pids = inst.app_pids()
        if pids:
            marks = ",".join("?" * len(pids))
            if db_rows(inst, "SELECT id FROM processes WHERE stopped_at IS "
                       "NULL AND pid IN (%s)" % marks, pids):
                break
        if time.monotonic() > deadline:
            fail("quotapool did not register its process row")
        time.sleep(0.05)
    if len(pids) != 1:
        fail("expected one quotapool.fcgi process, found %r" % pids)
    return inst, pids[0]


def check_answer(port, key, body, what):
    r = qp.http_request(port, "POST", PATH, body=body, key=key,
                        headers={"Content-Type": "application/json"})
    if r.status != 200 or (r.try_json() or {}).get("object") != \
            "chat.completion":
        fail("%s: expected a 200 chat.completion, got %d %r" % (
            what, r.status, r.body[:300]))
    return r

# ---------------------------------------------------------------------------
# The phases


def phase_latency(res, wrk, ports, rounds, seconds):
    """Concurrency 1, 1 KB body, rounds interleaved across the three paths;
    the median over rounds of each percentile is kept."""
    say("latency at concurrency 1: %d rounds of %d s per path" % (
        rounds, seconds))
    runs = {k: [] for k in ports}
    for r in range(rounds):
        for name, (port, pids) in ports.items():
            w = wrk.run(port, seconds, pids=pids)
            if w["errors"]:
                fail("latency run %s had errors: %r" % (name, w))
            runs[name].append(w)
            say("  round %d %-9s p50 %.3f ms p99 %.3f ms (%d requests, "
                "%.0f us CPU each)" % (r + 1, name, w["p50_us"] / 1e3,
                                       w["p99_us"] / 1e3, w["requests"],
                                       w["cpu_us"]))
    lat = {}
    for name, ws in runs.items():
        lat[name] = {k: statistics.median(w[k + "_us"] for w in ws) / 1e3
                     for k in ("p50", "p90", "p99", "mean")}
        lat[name]["requests"] = sum(w["requests"] for w in ws)
        lat[name]["cpu_us"] = statistics.median(w["cpu_us"] for w in ws)
    res["latency_ms"] = lat


def phase_bodies(res, wrk, ports, sizes, seconds):
    say("latency by request body size: %d s per path and size" % seconds)
    out = {}
    for size in sizes:
        row = {}
        for name, (port, pids) in ports.items():
            w = wrk.run(port, seconds, size=size, pids=pids)
            if w["errors"]:
                fail("body %d run %s had errors: %r" % (size, name, w))
            row[name] = {"p50": w["p50_us"] / 1e3, "p99": w["p99_us"] / 1e3,
                         "requests": w["requests"], "cpu_us": w["cpu_us"]}
            say("  %7d B %-9s p50 %.3f ms p99 %.3f ms, %.0f us CPU" % (
                size, name, row[name]["p50"], row[name]["p99"],
                w["cpu_us"]))
        out[size] = row
    res["bodies_ms"] = out


def phase_throughput(res, wrk, inst, ports, seconds):
    say("accounted requests/s at concurrency 32 for %d s" % seconds)
    before = wait_settled(inst)
    w = wrk.run(ports["quotapool"][0], seconds, conns=32, threads=2,
                pids=ports["quotapool"][1])
    after = wait_settled(inst)
    rows = after[0] - before[0]
    rows_2xx = after[2] - before[2]
    res["throughput"] = {
        "requests": w["requests"], "ok": w["ok"], "errors": w["errors"],
        "seconds": w["duration_us"] / 1e6,
        "rps_2xx": w["ok"] / (w["duration_us"] / 1e6),
        "rows": rows, "rows_2xx": rows_2xx, "pending_after": after[1],
        "p50_ms": w["p50_us"] / 1e3, "p99_ms": w["p99_us"] / 1e3,
        "cpu_us": w["cpu_us"]}
    say("  quotapool: %d answers (%d 2xx, %d errors), %d rows (%d with 2xx)"
        ", %.0f req/s" % (w["requests"], w["ok"], w["errors"], rows,
                          rows_2xx, res["throughput"]["rps_2xx"]))
    m = wrk.run(ports["mod_proxy"][0], seconds, conns=32, threads=2,
                pids=ports["mod_proxy"][1])
    res["throughput"]["mod_proxy_rps"] = m["ok"] / (m["duration_us"] / 1e6)
    say("  mod_proxy: %.0f req/s" % res["throughput"]["mod_proxy_rps"])


def stream_body():
    return json.dumps({"model": MODEL, "stream": True, "max_tokens": 16,
                       "messages": [{"role": "user", "content": "hi"}]}
                      ).encode()


def phase_ttft(res, inst, mock, proxy, samples, warm):
    """Sequential streams, direct and through quotapool in turn. The first
    warm ones only warm up: worker threads take connections in turn, and
    each opens its database connection on its first request."""
    say("time to first event: %d samples per path after %d to warm up" % (
        samples, warm))
    mock.set_default(UPSTREAM_KEY, {})
    body = stream_body()
    paths = {"direct": stream_request(mock.port, body, UPSTREAM_KEY),
             "mod_proxy": stream_request(proxy.port, body, UPSTREAM_KEY),
             "quotapool": stream_request(inst.port, body, inst.key)}
    ports = {"direct": mock.port, "mod_proxy": proxy.port,
             "quotapool": inst.port}
    got = {k: [] for k in paths}
    for i in range(samples + warm):
        for name in paths:
            if i < warm and name != "quotapool" and i >= 20:
                continue
            t, status = first_event_time(ports[name], paths[name])
            if not status.startswith("HTTP/1.1 200") and \
                    not status.startswith("HTTP/1.0 200"):
                fail("stream via %s answered %r" % (name, status))
            if i >= warm:
                got[name].append(t * 1e3)
    res["ttft_ms"] = {k: {"p50": pct(v, 50), "p90": pct(v, 90),
                          "p99": pct(v, 99), "n": len(v)}
                      for k, v in got.items()}
    for k, v in res["ttft_ms"].items():
        say("  %-9s p50 %.3f ms p99 %.3f ms" % (k, v["p50"], v["p99"]))


def open_streams(inst, pid, mock, n, seconds, batch):
    """Opens n streams (one event per second for seconds) with raw sockets,
    batch at a time, each batch waiting for the first events of the last;
    a stream the gateway refuses (its status line kept in "refused") is
    opened again, up to n times in all. Waits until every stream has its
    first event, reads VmRSS, closes them and waits until no request row
    is pending. Returns the readings."""
    mock.set_default(UPSTREAM_KEY, {"events": seconds, "interval_ms": 1000})
    req = stream_request(inst.port, stream_body(), inst.key)
    sel = selectors.DefaultSelector()
    socks = []
    waiting = {}
    refused = {}
    opened = 0
    t0 = time.monotonic()
    deadline = t0 + 120
    try:
        while opened < n:
            if time.monotonic() > deadline:
                fail("only %d of %d streams open after 120 s (refused: %r)"
                     % (opened, n, refused))
            while len(waiting) < batch and opened + len(waiting) < n:
                s = socket.create_connection(("127.0.0.1", inst.port), 10)
                s.sendall(req)
                s.setblocking(False)
                socks.append(s)
                waiting[s] = b""
                sel.register(s, selectors.EVENT_READ)
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                buf = waiting[s] + d
                h = buf.find(b"\r\n\r\n")
                done = h >= 0 and buf.find(b"data:", h) >= 0
                if d and not done and not (
                        h >= 0 and not buf.startswith(b"HTTP/1.1 200")):
                    waiting[s] = buf
                    continue
                del waiting[s]
                sel.unregister(s)
                if done and buf.startswith(b"HTTP/1.1 200"):
                    opened += 1
                    continue
                line = buf.split(b"\r\n", 1)[0].decode("latin-1") or \
                    "closed without an answer"
                refused[line] = refused.get(line, 0) + 1
                if sum(refused.values()) > n:
                    fail("the gateway refused more than %d streams: %r" % (
                        n, refused))
                socks.remove(s)
                s.close()
        t_all = time.monotonic() - t0
        time.sleep(2)
        rss = []
        for _ in range(3):
            rss.append(vm_rss_kb(pid))
            time.sleep(1)
        out = {"kb": max(rss), "threads": proc_threads(pid),
               "anon_kb": status_kb(pid, "RssAnon"),
               "pending_while_open": count_requests(inst)[1],
               "open_seconds": t_all, "batch": batch, "refused": refused}
    finally:
        for s in socks:
            s.close()
        sel.close()
    settled = wait_settled(inst)
    out["pending_after_close"] = settled[1]
    if settled[1]:
        fail("%d request rows still pending after the streams closed" %
             settled[1])
    mock.set_default(UPSTREAM_KEY, {})
    return out


def phase_streams(res, inst, pid, mock, proxy, n, seconds, samples):
    """RSS with n streams open: first from a fresh process (every stream
    lands on a worker thread that has not served anything yet), then, after
    the time-to-first-event phase has used every thread, once more."""
    say("RSS of quotapool.fcgi with %d streams open" % n)
    fresh = vm_rss_kb(pid)
    cold = open_streams(inst, pid, mock, n, seconds, n)
    say("  fresh idle %d KB, %d streams open %d KB: %.1f KB per stream; "
        "opened all at once in %.1f s, refused %r" % (
            fresh, n, cold["kb"], (cold["kb"] - fresh) / n,
            cold["open_seconds"], cold["refused"]))
    phase_ttft(res, inst, mock, proxy, samples, proc_threads(pid) + 20)
    time.sleep(2)
    warm_idle = vm_rss_kb(pid)
    warm = open_streams(inst, pid, mock, n, seconds, n)
    say("  warm idle %d KB, %d streams open %d KB: %.1f KB per stream; "
        "opened all at once in %.1f s, refused %r" % (
            warm_idle, n, warm["kb"], (warm["kb"] - warm_idle) / n,
            warm["open_seconds"], warm["refused"]))
    res["streams"] = {
        "n": n, "threads": cold["threads"], "fresh_idle_kb": fresh,
        "cold": cold, "cold_per_stream_kb": (cold["kb"] - fresh) / n,
        "warm_idle_kb": warm_idle, "warm": warm,
        "warm_per_stream_kb": (warm["kb"] - warm_idle) / n}

# ---------------------------------------------------------------------------
# Report


def yes(cond):
    return "met" if cond else "NOT met"


def table(res):
    lat = res["latency_ms"]
    d, m, q = lat["direct"], lat["mod_proxy"], lat["quotapool"]
    add_m50 = m["p50"] - d["p50"]
    add_q50 = q["p50"] - d["p50"]
    add_m99 = m["p99"] - d["p99"]
    add_q99 = q["p99"] - d["p99"]
    tt = res["ttft_ms"]
    add_t50 = tt["quotapool"]["p50"] - tt["direct"]["p50"]
    add_t99 = tt["quotapool"]["p99"] - tt["direct"]["p99"]
    tp = res["throughput"]
    st = res["streams"]
    rows = []

    def row(what, value, target="", met=""):
        rows.append((what, value, target, met))

    row("latency p50, concurrency 1, 1 KB body",
        "direct %.3f / mod_proxy %.3f / quotapool %.3f ms" % (
            d["p50"], m["p50"], q["p50"]))
    row("latency p99, concurrency 1, 1 KB body",
        "direct %.3f / mod_proxy %.3f / quotapool %.3f ms" % (
            d["p99"], m["p99"], q["p99"]))
    row("added p50 (quotapool vs mod_proxy)",
        "%.3f ms vs %.3f ms (%.2fx)" % (add_q50, add_m50,
                                         add_q50 / add_m50 if add_m50 > 0
                                         else float("inf")),
        "<= 2x mod_proxy (%.3f ms)" % (TARGET_P50_FACTOR * add_m50),
        yes(add_q50 <= TARGET_P50_FACTOR * add_m50))
    row("added p99 (quotapool; mod_proxy)",
        "%.3f ms; %.3f ms" % (add_q99, add_m99), "< %.0f ms" % TARGET_P99_MS,
        yes(add_q99 < TARGET_P99_MS))
    row("CPU per request, concurrency 1, 1 KB body",
        "nginx %.0f us / mod_proxy's lighttpd %.0f us / quotapool.fcgi + "
        "its lighttpd %.0f us" % (d["cpu_us"], m["cpu_us"], q["cpu_us"]))
    row("time to first event p50 / p99",
        "direct %.3f / %.3f ms, mod_proxy %.3f / %.3f ms, quotapool "
        "%.3f / %.3f ms" % (
            tt["direct"]["p50"], tt["direct"]["p99"],
            tt["mod_proxy"]["p50"], tt["mod_proxy"]["p99"],
            tt["quotapool"]["p50"], tt["quotapool"]["p99"]))
    row("added time to first token p50 (p99)",
        "%.3f ms (%.3f ms); mod_proxy adds %.3f ms (%.3f ms)" % (
            add_t50, add_t99, tt["mod_proxy"]["p50"] - tt["direct"]["p50"],
            tt["mod_proxy"]["p99"] - tt["direct"]["p99"]),
        "< %.0f ms" % TARGET_TTFT_MS, yes(add_t50 < TARGET_TTFT_MS))
    rows_ok = tp["rows"] >= tp["ok"] and tp["rows"] - tp["ok"] <= 32 and \
        tp["pending_after"] == 0
    row("accounted req/s, concurrency 32, %d s" % round(tp["seconds"]),
        "%.0f req/s (p50 %.2f ms, p99 %.2f ms, %.0f us CPU each); "
        "mod_proxy %.0f req/s" % (tp["rps_2xx"], tp["p50_ms"], tp["p99_ms"],
                                  tp["cpu_us"], tp["mod_proxy_rps"]),
        ">= %d req/s on %d cores" % (TARGET_RPS, os.cpu_count()),
        yes(tp["rps_2xx"] >= TARGET_RPS and rows_ok))
    row("requests rows written vs 2xx answers",
        "%d rows (%d with 2xx) for %d 2xx answers, %d errors, %d pending" % (
            tp["rows"], tp["rows_2xx"], tp["ok"], tp["errors"],
            tp["pending_after"]),
        "rows = 2xx (+ <= 32 cut off by wrk's end)", yes(rows_ok))
    idle = res["idle_rss_kb"]
    row("idle RSS of quotapool.fcgi, fresh, %d threads" % (
        res["threads_default"]),
        "%.1f MB (%.1f MB of it private, the rest shared libraries)" % (
            idle / 1024, res["idle_anon_kb"] / 1024),
        "<= %.0f MB" % TARGET_IDLE_MB, yes(idle / 1024 <= TARGET_IDLE_MB))
    row("idle RSS after the load above",
        "%.1f MB (%.1f MB private)" % (res["after_load_rss_kb"] / 1024,
                                       res["after_load_anon_kb"] / 1024))
    row("RSS with %d streams open, fresh process (%d threads)" % (
        st["n"], st["threads"]),
        "%.1f MB idle -> %.1f MB: %.1f KB per stream" % (
            st["fresh_idle_kb"] / 1024, st["cold"]["kb"] / 1024,
            st["cold_per_stream_kb"]),
        "<= %.0f KB per stream" % TARGET_STREAM_KB,
        yes(st["cold_per_stream_kb"] <= TARGET_STREAM_KB))
    row("RSS with %d streams open, every thread used before" % st["n"],
        "%.1f MB idle -> %.1f MB: %.1f KB per stream" % (
            st["warm_idle_kb"] / 1024, st["warm"]["kb"] / 1024,
            st["warm_per_stream_kb"]),
        "<= %.0f KB per stream" % TARGET_STREAM_KB,
        yes(st["warm_per_stream_kb"] <= TARGET_STREAM_KB))
    for label, o in (("fresh process", st["cold"]),
                     ("every thread used before", st["warm"])):
        row("%d streams opened at once, %s" % (st["n"], label),
            "all open after %.1f s; refused on the way: %s" % (
                o["open_seconds"], ", ".join(
                    "%d x %s" % (v, k) for k, v in sorted(
                        o["refused"].items())) or "none"))
    for size, r in sorted(res["bodies_ms"].items()):
        bd, bm, bq = r["direct"], r["mod_proxy"], r["quotapool"]
        row("body %s: p50 added by mod_proxy / quotapool" % fmt_size(size),
            "%.3f / %.3f ms (direct p50 %.3f ms); CPU %.0f / %.0f us" % (
                bm["p50"] - bd["p50"], bq["p50"] - bd["p50"], bd["p50"],
                bm["cpu_us"], bq["cpu_us"]))
    w = [max(len(r[i]) for r in rows + [("Measurement", "Value", "Target",
                                         "Met")]) for i in range(4)]
    lines = ["| %s | %s | %s | %s |" % tuple(
        h.ljust(w[i]) for i, h in enumerate(("Measurement", "Value",
                                              "Target", "Met"))),
             "|%s|" % "|".join("-" * (x + 2) for x in w)]
    for r in rows:
        lines.append("| %s |" % " | ".join(c.ljust(w[i])
                                            for i, c in enumerate(r)))
    return "\n".join(lines)


def fmt_size(n):
    if n >= MB:
        return "%d MB" % (n // MB)
    return "%d KB" % (n // 1024)


def machine():
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            info["cpu"] = m.group(1) if m else "?"
        with open("/proc/meminfo") as f:
            m = re.search(r"^MemTotal:\s*(\d+)", f.read(), re.M)
            info["mem_mb"] = int(m.group(1)) // 1024 if m else 0
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        pass
    info["load_before"] = os.getloadavg()
    info["versions"] = versions()
    return info


def deb_version(path):
    """The Debian package version of the package owning path, or "?"."""
    try:
        p = subprocess.run(["dpkg", "-S", path], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=10)
        pkg = p.stdout.decode().split(":")[0]
        p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=10)
        return p.stdout.decode().strip() or "?"
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


def versions():
    """Versions of what the measurement ran on: lighttpd, nginx, wrk, and
    the libcurl, SQLite and libfcgi that quotapool.fcgi is linked with."""
    import ctypes
    out = {}
    for name, args, pat in (
            ("lighttpd", [os.environ["LIGHTTPD"], "-v"], r"lighttpd/(\S+)"),
            ("nginx", [NGINX, "-v"], r"nginx/(\S+)"),
            ("wrk", [WRK, "-v"], r"wrk (\S+)")):
        try:
            p = subprocess.run(args, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10)
            m = re.search(pat, p.stdout.decode("utf-8", "replace"))
            out[name] = m.group(1) if m else "?"
        except (OSError, subprocess.SubprocessError):
            out[name] = "?"
    try:
        p = subprocess.run(["ldd", qp.FCGI], stdout=subprocess.PIPE,
                           timeout=10)
        libs = dict(re.findall(r"^\s*(\S+) => (\S+)",
                               p.stdout.decode("utf-8", "replace"), re.M))
    except (OSError, subprocess.SubprocessError):
        libs = {}
    try:
        p = subprocess.run(["git", "-C", SRCDIR, "describe", "--always",
                            "--dirty"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=10)
        out["quotapool"] = p.stdout.decode().strip() or "?"
    except (OSError, subprocess.SubprocessError):
        out["quotapool"] = "?"
    for soname, lib in libs.items():
        try:
            if soname.startswith("libcurl"):
                f = ctypes.CDLL(lib).curl_version
                f.restype = ctypes.c_char_p
                out["libcurl"] = f().decode().split()[0]
            elif soname.startswith("libsqlite3"):
                f = ctypes.CDLL(lib).sqlite3_libversion
                f.restype = ctypes.c_char_p
                out["sqlite"] = f().decode()
            elif soname.startswith("libfcgi"):
                out["libfcgi"] = deb_version(os.path.realpath(lib))
        except (OSError, AttributeError):
            pass
    return out

# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=5,
                    help="length of one concurrency-1 latency run (default 5)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved latency rounds per path (default 3)")
    ap.add_argument("--rps-seconds", type=int, default=10,
                    help="length of the concurrency-32 run (default 10)")
    ap.add_argument("--body-seconds", type=int, default=4,
                    help="length of each body-size run (default 4)")
    ap.add_argument("--ttft-samples", type=int, default=400,
                    help="streams timed per path (default 400)")
    ap.add_argument("--streams", type=int, default=500,
                    help="streams held open for the RSS reading (default 500)")
    ap.add_argument("--stream-seconds", type=int, default=60,
                    help="length of each held-open stream (default 60)")
    ap.add_argument("--wait-idle", type=int, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for the 1-minute load "
                    "average to fall below --idle-load (others' work skews "
                    "the numbers)")
    ap.add_argument("--idle-load", type=float, default=1.0,
                    help="load average --wait-idle waits for (default 1.0)")
    ap.add_argument("--quick", action="store_true",
                    help="short runs (a smoke check, not for the record)")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.rounds, a.rps_seconds, a.body_seconds = 2, 1, 3, 1
        a.ttft_samples, a.streams, a.stream_seconds = 60, 100, 30

    for tool, path, pkg in (("nginx", NGINX, "nginx-light"),
                            ("wrk", WRK, "wrk")):
        if shutil.which(path) is None:
            fail("%s is not installed (Debian: apt-get install %s, or set "
                 "%s to its path)" % (tool, pkg, tool.upper()))
    if not os.access(os.environ["LIGHTTPD"], os.X_OK):
        fail("lighttpd not found at %s" % os.environ["LIGHTTPD"])
    for p in (qp.ADMIN, qp.FCGI):
        if not os.access(p, os.X_OK):
            fail("%s is not built (run make first, or run this from the "
                 "build directory)" % p)
    budget = 600 + a.wait_idle + a.rounds * 3 * a.seconds + 2 * a.rps_seconds + \
        12 * a.body_seconds + a.ttft_samples // 5 + a.stream_seconds
    qp.set_timeout(budget)
    atexit_register()

    if a.wait_idle > 0:
        deadline = time.monotonic() + a.wait_idle
        while os.getloadavg()[0] >= a.idle_load and \
                time.monotonic() < deadline:
            say("load average %.2f, waiting" % os.getloadavg()[0])
            time.sleep(15)
    sizes = [1024, 64 * 1024, 512 * 1024, 2 * MB]
    res = {"machine": machine(), "args": vars(a)}
    work = qp.tempdir("qp-bench-")
    say("work directory %s" % work)

    # ---- non-streaming: nginx upstream ------------------------------------
    nginx = start_nginx(work)
    modproxy = start_mod_proxy(work, nginx.port, 65536)
    inst, pid = start_instance(
        {"bench": {"base_url": "http://127.0.0.1:%d/v1" % nginx.port,
                   "protocols": ["openai"], "models": [MODEL],
                   "accounts": [ACCOUNT]}},
        {"max_request_body_bytes": 4 * MB})
    time.sleep(1)
    res["threads_default"] = proc_threads(pid)
    res["idle_rss_kb"] = vm_rss_kb(pid)
    res["idle_anon_kb"] = status_kb(pid, "RssAnon")
    say("quotapool.fcgi pid %d: %d threads, idle VmRSS %d KB" % (
        pid, res["threads_default"], res["idle_rss_kb"]))
    body = chat_body(1024)
    check_answer(nginx.port, UPSTREAM_KEY, body, "nginx")
    check_answer(modproxy.port, UPSTREAM_KEY, body, "mod_proxy")
    r = check_answer(inst.port, inst.key, body, "quotapool")
    if not r.headers.get("x-proxy-request-id"):
        fail("quotapool answered without x-proxy-request-id")
    wrk = Wrk(work, inst.key)
    ports = {"direct": (nginx.port, [nginx.pid] + qp.descendants(nginx.pid)),
             "mod_proxy": (modproxy.port, [modproxy.pid]),
             "quotapool": (inst.port, [pid] + inst.lighttpd_pids())}
    say("warm-up")
    for port, _ in ports.values():
        wrk.run(port, 2)
    wrk.run(inst.port, 2, conns=32, threads=2)
    phase_latency(res, wrk, ports, a.rounds, a.seconds)
    phase_throughput(res, wrk, inst, ports, a.rps_seconds)
    phase_bodies(res, wrk, ports, sizes, a.body_seconds)
    time.sleep(2)
    res["after_load_rss_kb"] = vm_rss_kb(pid)
    res["after_load_anon_kb"] = status_kb(pid, "RssAnon")
    say("idle VmRSS after the load: %d KB" % res["after_load_rss_kb"])
    inst.stop()
    modproxy.stop()
    nginx.stop()

    # ---- streams: the mock provider in its own process --------------------
    mock = qp.MockProcess(models=[MODEL])
    inst2, pid2 = start_instance(
        {"mock": {"base_url": mock.base_url, "protocols": ["openai"],
                  "models": [MODEL], "accounts": [ACCOUNT]}},
        {"threads": max(256, a.streams + 100)})
    proxy2 = start_mod_proxy(work, mock.port, 65536, "modproxy-mock")
    time.sleep(1)
    phase_streams(res, inst2, pid2, mock, proxy2, a.streams,
                  a.stream_seconds, a.ttft_samples)
    inst2.stop()
    proxy2.stop()
    mock.stop()

    res["machine"]["load_after"] = os.getloadavg()
    res["table"] = table(res)
    print(res["table"])
    mach = res["machine"]
    print("machine: %d cores (%s), %d MB, Debian %s, kernel %s; load average "
          "%.2f before, %.2f after (1 min)" % (
              mach["nproc"], mach.get("cpu", "?"), mach.get("mem_mb", 0),
              mach.get("debian", "?"), mach["kernel"], mach["load_before"][0],
              mach["load_after"][0]))
    print("versions: " + ", ".join("%s %s" % kv for kv in sorted(
        mach["versions"].items())))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
            f.write("\n")


def atexit_register():
    import atexit
    atexit.register(_stop_servers)


if __name__ == "__main__":
    main()
