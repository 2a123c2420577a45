#!/usr/bin/env python3
"""test_webserver.py: what lighttpd itself does in front of quotapool.fcgi,
with the configuration `quotapool-admin serve` writes from
lighttpd/standalone.conf.

Errors lighttpd raises itself (400, 411, 413, 431, 501, 505; 503 when
quotapool.fcgi cannot be reached) come out as JSON in the client's protocol
family, through standalone.conf and through 50-quotapool.conf.

One address opens 3,000 half-sent requests from 127.0.0.2 and holds them:
GET /v1/healthz from 127.0.0.1 keeps answering within 1 s throughout,
lighttpd closes the silent sockets once server.max-read-idle has passed, and
answers that are slow to come from the provider (a late first byte, a long
gap inside a stream) are not cut by that timeout."""

import json
import os
import re
import resource
import select
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

ATTACKER = "127.0.0.2"
HALF_OPEN = 3000
HEALTHZ_LIMIT_S = 1.0


def conf_value(text, key, default):
    """The integer value of key in a lighttpd config text (default if unset)."""
    m = re.search(r"^\s*%s\s*=\s*(\d+)" % re.escape(key), text, re.M)
    return int(m.group(1)) if m else default


def raise_nofile(want):
    """Raises the soft RLIMIT_NOFILE to want (within the hard limit);
    returns the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# Room for the attack sockets, the probes, the slow requests and the mock.
if raise_nofile(HALF_OPEN + 1024) < HALF_OPEN + 256:
    qp.skip_all("RLIMIT_NOFILE cannot be raised to %d here"
                % (HALF_OPEN + 256))
# lighttpd (not root) gets at most the hard limit, and half of it as
# connections: too few for the attack to be absorbed.
_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
if os.geteuid() != 0 and _hard != resource.RLIM_INFINITY and \
        _hard < 2 * HALF_OPEN + 512:
    qp.skip_all("the hard RLIMIT_NOFILE (%d) leaves lighttpd fewer than "
                "%d connections" % (_hard, HALF_OPEN + 256))
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((ATTACKER, 0))
    s.close()
except OSError as e:
    qp.skip_all("cannot bind a socket to %s: %s" % (ATTACKER, e))

mo = qp.mock(models=["gpt-w"])
mg = qp.mock(models=["gpt-g"])
ma = qp.mock(style="anthropic", models=["claude-w"])
inst = qp.Instance(
    providers={
        "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-w"],
               "accounts": ["wo1"]},
        "pg": {"mock": mg, "protocols": ["openai"], "models": ["gpt-g"],
               "accounts": ["wg1"]},
        "pa": {"mock": ma, "protocols": ["anthropic"],
               "models": ["claude-w"], "accounts": ["wa1"]}})
dp.start(inst)

with open(os.path.join(inst.state_dir, "lighttpd.conf")) as f:
    LCONF = f.read()
READ_IDLE = conf_value(LCONF, "server.max-read-idle", 60)
qp.diag("server.max-read-idle = %d s, server.max-connections = %s, "
        "server.max-fds = %s" % (
            READ_IDLE, conf_value(LCONF, "server.max-connections", 0) or
            "(default)", conf_value(LCONF, "server.max-fds", 0) or
            "(default)"))

# ---------------------------------------------------------------------------
# Errors lighttpd raises itself come out as JSON in the client's protocol
# family (server.error-handler, answered by quotapool.fcgi), also those
# raised before lighttpd has parsed the request line.


def raw_request(data, timeout=10.0):
    """Sends raw bytes to the instance; returns (status, headers (lower-case
    names), body) of the answer, read until its end or the close."""
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            head, sep, body = out.partition(b"\r\n\r\n")
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if sep and m and len(body) >= int(m.group(1)):
                break
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\d\.\d (\d{3})", lines[0])
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return (int(m.group(1)) if m else None), hdrs, body


def error_shape(body):
    """'openai' or 'anthropic' if body is that family's error JSON, else a
    description of what it is."""
    try:
        j = json.loads(body)
    except ValueError:
        return "not JSON: %r" % body[:120]
    e = j.get("error") if isinstance(j, dict) else None
    if not isinstance(e, dict) or not isinstance(e.get("message"), str) or \
            not e.get("message") or not isinstance(e.get("type"), str):
        return "no error object: %r" % (j,)
    if j.get("type") == "error" and set(j) == {"type", "error"} and \
            set(e) == {"type", "message"}:
        return "anthropic"
    if set(j) == {"error"} and set(e) == {"message", "type", "code"}:
        return "openai"
    return "mixed shape: %r" % (j,)


MAX_KB = conf_value(LCONF, "server.max-request-size", 0)
ok(MAX_KB > 0, "the generated lighttpd.conf sets server.max-request-size")
BIG = b"X-Filler: " + b"a" * (conf_value(
    LCONF, "server.max-request-field-size", 8192) + 1024) + b"\r\n"

# (name, raw request, status, family). The family is the client's where
# lighttpd has parsed the request line when it refuses the request; before
# that it cannot know the path, and the answer is OpenAI's shape.
WEB_ERRORS = [
    ("411 POST without length (HTTP/1.0), /v1/chat/completions",
     b"POST /v1/chat/completions HTTP/1.0\r\nHost: h\r\n\r\n",
     411, "openai"),
    ("411 POST without length (HTTP/1.0), /v1/messages",
     b"POST /v1/messages HTTP/1.0\r\nHost: h\r\n\r\n", 411, "anthropic"),
    ("413 body over server.max-request-size, /v1/messages",
     b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nContent-Type: "
     b"application/json\r\nContent-Length: %d\r\n\r\n{" %
     ((MAX_KB + 1) * 1024), 413, "anthropic"),
    ("413 body over server.max-request-size, /v1/chat/completions",
     b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: "
     b"%d\r\n\r\n{" % ((MAX_KB + 1) * 1024), 413, "openai"),
    ("400 bad chunked body, /v1/messages",
     b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
     b"chunked\r\n\r\nZZ\r\n", 400, "anthropic"),
    ("400 duplicate Content-Length, /v1/messages",
     b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
     b"Content-Length: 3\r\n\r\n{}", 400, "anthropic"),
    ("400 malformed request line (path not parsed)",
     b"GET /v1/messages HTTP/1.1 extra\r\nHost: h\r\n\r\n", 400, "openai"),
    ("431 request headers over server.max-request-field-size",
     b"POST /v1/messages HTTP/1.1\r\nHost: h\r\n" + BIG + b"\r\n",
     431, "openai"),
    ("501 unknown Transfer-Encoding, /v1/chat/completions",
     b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
     b"gzip\r\n\r\n", 501, "openai"),
    ("501 unknown method (path not parsed)",
     b"BREW /v1/messages HTTP/1.1\r\nHost: h\r\n\r\n", 501, "openai"),
    ("505 HTTP/9.9",
     b"GET /v1/models HTTP/9.9\r\nHost: h\r\n\r\n", 505, "openai"),
]
for name, data, want_status, family in WEB_ERRORS:
    st, hdrs, body = raw_request(data)
    ok(st == want_status and
       hdrs.get("content-type", "").startswith("application/json") and
       error_shape(body) == family,
       "lighttpd's %s: %d, JSON in the %s shape" % (name, want_status, family),
       lambda: "  got %r %r\n  %r (%s)" % (st, hdrs.get("content-type"),
                                          body[:300], error_shape(body)))

# The error path itself answers nothing but 404 when asked for directly.
r = inst.request("GET", "/_quotapool/error", key=None)
ok(r.status == 404 and error_shape(r.body) == "openai",
   "GET /_quotapool/error asked for directly: 404 JSON",
   lambda: "  got %r %r" % (r.status, r.body[:300]))
r = inst.request("POST", "/v1/messages", body={"model": "claude-w"},
                 key=None)
ok(r.status == 401 and error_shape(r.body) == "anthropic",
   "quotapool's own errors are unchanged (401 on /v1/messages without a "
   "key)", lambda: "  got %r %r" % (r.status, r.body[:300]))

# ---------------------------------------------------------------------------
# The same through lighttpd configurations run here directly: the
# distribution snippet (50-quotapool.conf, paths made local) next to another
# site, and both templates with quotapool.fcgi unreachable, where lighttpd
# answers from lighttpd/errors/ itself.

TEMPLATE = os.path.join(qp.SRCDIR, "lighttpd", "standalone.conf")
SNIPPET = os.path.join(qp.SRCDIR, "lighttpd", "conf-available",
                       "50-quotapool.conf")


class Lighttpd:
    """lighttpd -D -f conf, stopped (with its children) by PID at exit."""

    def __init__(self, conf, port):
        self.port = port
        self.proc = subprocess.Popen(
            [qp.LIGHTTPD, "-D", "-f", conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        qp._live.append(self)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("lighttpd -f %s did not listen on %d: %r" % (
            conf, port, self.proc.stderr.read()[-2000:]
            if self.proc.poll() is not None else "still running"))

    def _cleanup(self):
        if self.proc.poll() is not None:
            return
        refs = [qp.ProcRef(p) for p in qp.descendants(self.proc.pid)]
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        deadline = time.monotonic() + 10
        while any(r.alive() for r in refs) and time.monotonic() < deadline:
            time.sleep(0.05)
        for r in refs:
            r.kill()

    def stop(self):
        self._cleanup()
        self.proc.stderr.close()
        qp._live.remove(self)


def raw_to(port, data):
    saved = inst.port
    try:
        inst.port = port
        return raw_request(data)
    finally:
        inst.port = saved


def standalone_unreachable():
    """standalone.conf filled in as serve does, with quotapool.fcgi replaced
    by a socket nothing listens on."""
    d = qp.tempdir("qp-ws-sa-")
    for sub in ("www", "tmp"):
        os.mkdir(os.path.join(d, sub))
    port = qp.free_port()
    with open(TEMPLATE) as f:
        text = f.read()
    text = re.sub(r'(?m)^\s*"bin-path".*\n', "", text)
    text = text.replace("@STATE_DIR@/quotapool.sock", d + "/nobody.sock")
    for k, v in {"HOST": "127.0.0.1", "PORT": str(port), "STATE_DIR": d,
                 "MAX_REQUEST_KB": "1024", "MAX_FDS": "1024",
                 "MAX_CONNECTIONS": "512", "DATA_DIR": qp.SRCDIR,
                 "MAX_PROCS": "1"}.items():
        text = text.replace("@%s@" % k, v)
    conf = os.path.join(d, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write(text)
    return conf, port


def snippet_site(unreachable=False):
    """A main lighttpd.conf (another site on one port) including
    50-quotapool.conf with its paths made local; returns (conf, site port,
    quotapool port)."""
    d = qp.tempdir("qp-ws-snip-")
    os.mkdir(os.path.join(d, "www"))
    site, qport = qp.free_port(), qp.free_port()
    with open(SNIPPET) as f:
        text = f.read()
    for old, new in (
            ("127.0.0.1:11300", "127.0.0.1:%d" % qport),
            ("/run/quotapool/quotapool.sock", d + "/qp.sock"),
            ("/usr/share/quotapool/lighttpd/errors/",
             qp.SRCDIR + "/lighttpd/errors/")):
        if not unreachable:
            ok(old in text, "50-quotapool.conf has %s (replaced here)" % old)
        text = text.replace(old, new)
    if not unreachable:
        # The socket of quotapool-fcgi.socket: quotapool.fcgi on its own.
        fcgi_procs.append(subprocess.Popen(
            [qp.FCGI, "--config", inst.config_path, "--socket",
             d + "/qp.sock"], stdin=subprocess.DEVNULL,
            stderr=open(os.path.join(d, "fcgi.log"), "ab"),
            start_new_session=True))
        deadline = time.monotonic() + 10
        while not os.path.exists(d + "/qp.sock") and \
                time.monotonic() < deadline:
            time.sleep(0.02)
    with open(os.path.join(d, "50-quotapool.conf"), "w") as f:
        f.write(text)
    conf = os.path.join(d, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write('server.document-root = "%s/www"\nserver.port = %d\n'
                'server.bind = "127.0.0.1"\nserver.errorlog = "%s/error.log"\n'
                '$SERVER["socket"] == "127.0.0.1:%d" {}\n'
                'include "%s/50-quotapool.conf"\n' % (d, site, d, qport, d))
    return conf, site, qport


OVER = b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n{"

conf, port = standalone_unreachable()
lt = Lighttpd(conf, port)
st, hdrs, body = raw_to(port, b"POST /v1/messages HTTP/1.1\r\nHost: h\r\n"
                       b"Content-Length: 2\r\n\r\n{}")
ok(st == 503 and hdrs.get("content-type") == "application/json" and
   error_shape(body) == "openai" and json.loads(body)["error"]["code"] == "503",
   "standalone.conf, quotapool.fcgi unreachable: lighttpd's 503 is "
   "lighttpd/errors/503.html, JSON", lambda: "  got %r %r %r" % (
       st, hdrs.get("content-type"), body[:300]))
lt.stop()

fcgi_procs = []
conf, site, qport = snippet_site()
lt = Lighttpd(conf, qport)
r = qp.http_request(qport, "GET", "/v1/healthz")
is_eq(r.status, 200, "50-quotapool.conf: GET /v1/healthz on its port: 200")
st, hdrs, body = raw_to(qport, OVER % ((20480 + 1) * 1024))
ok(st == 413 and hdrs.get("content-type") == "application/json" and
   error_shape(body) == "anthropic",
   "50-quotapool.conf: lighttpd's 413 on /v1/messages: JSON in the "
   "anthropic shape", lambda: "  got %r %r %r" % (
       st, hdrs.get("content-type"), body[:300]))
st, hdrs, body = raw_to(qport, WEB_ERRORS[1][1])
qp.diag("50-quotapool.conf: a 411 (raised while the headers are read) comes "
        "out as %s %s, as docs/deployment.md says" % (
            st, hdrs.get("content-type")))
st, hdrs, body = raw_to(site, b"GET /missing HTTP/1.1\r\nHost: h\r\n\r\n")
ok(st == 404 and hdrs.get("content-type", "").startswith("text/html"),
   "50-quotapool.conf: the other site's own 404 stays lighttpd's page",
   lambda: "  got %r %r %r" % (st, hdrs.get("content-type"), body[:300]))
lt.stop()
for p in fcgi_procs:
    p.terminate()
    p.wait(15)

conf, site, qport = snippet_site(unreachable=True)
lt = Lighttpd(conf, qport)
st, hdrs, body = raw_to(qport, b"GET /v1/models HTTP/1.1\r\nHost: h\r\n\r\n")
ok(st == 503 and hdrs.get("content-type") == "application/json" and
   error_shape(body) == "openai",
   "50-quotapool.conf, quotapool unreachable: lighttpd's 503 is JSON",
   lambda: "  got %r %r %r" % (st, hdrs.get("content-type"), body[:300]))
lt.stop()

# Each file of lighttpd/errors/ is its status in the OpenAI shape.
edir = os.path.join(qp.SRCDIR, "lighttpd", "errors")
bad = []
for n in sorted(os.listdir(edir)):
    with open(os.path.join(edir, n), "rb") as f:
        body = f.read()
    if not re.match(r"^[45]\d\d\.html$", n) or error_shape(body) != "openai" \
            or json.loads(body)["error"]["code"] != n[:3]:
        bad.append((n, body[:200]))
ok(not bad and len(os.listdir(edir)) >= 5,
   "lighttpd/errors/: %d files, each its status in the OpenAI shape"
   % len(os.listdir(edir)), lambda: "  bad: %r" % bad)

# ---------------------------------------------------------------------------
# Slow answers, started before the attack and checked after it: each waits
# on the provider for longer than server.max-read-idle.

SLOW_MS = (READ_IDLE + 3) * 1000
slow = {}


def slow_request(name, fn):
    def run():
        try:
            slow[name] = fn()
        except Exception as e:  # reported as a failed check below
            slow[name] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def late_json():
    mo.script("*", {"delay_ms": SLOW_MS, "stream": False})
    t0 = time.monotonic()
    r = inst.request("POST", OPENAI, dp.chat("gpt-w"),
                     timeout=SLOW_MS / 1000 + 60)
    return r, time.monotonic() - t0


def late_stream():
    ma.script("*", {"delay_ms": SLOW_MS})
    with inst.stream(ANTHROPIC, dp.messages("claude-w", stream=True),
                     timeout=SLOW_MS / 1000 + 60) as s:
        body = s.read_all()
        return s.status, body, s.error, s.t_headers - s.t_sent


def gap_stream():
    # The provider answers at once, then stays silent before its first
    # event: the answer to the client has started (headers, then only
    # quotapool's keepalive comments) when the long gap begins.
    mg.script("*", {"first_event_delay_ms": SLOW_MS})
    with inst.stream(OPENAI, dp.chat("gpt-g", stream=True),
                     timeout=SLOW_MS / 1000 + 60) as s:
        body = s.read_all()
        first = next((t for t, c in s.chunks if b"data:" in c), s.t_headers)
        return s.status, body, s.error, first - s.t_headers


threads = [slow_request("late_json", late_json),
           slow_request("late_stream", late_stream),
           slow_request("gap_stream", gap_stream)]

# ---------------------------------------------------------------------------
# Health probes from 127.0.0.1, every 200 ms, from before the attack until
# its sockets are gone.

probes = []
probing = threading.Event()
probing.set()


def probe_loop():
    while probing.is_set():
        t0 = time.monotonic()
        try:
            r = qp.http_request(inst.port, "GET", "/v1/healthz",
                                timeout=HEALTHZ_LIMIT_S * 5)
            probes.append((t0, time.monotonic() - t0, r.status))
        except OSError as e:
            probes.append((t0, time.monotonic() - t0, repr(e)))
        time.sleep(0.2)


prober = threading.Thread(target=probe_loop, daemon=True)
prober.start()
time.sleep(1.0)

# ---------------------------------------------------------------------------
# The attack: HALF_OPEN connections from 127.0.0.2, each with a partial
# request, held open. Connects are non-blocking and bounded, so a server
# that stops accepting shows up as unconnected sockets, not a hung test.

PARTIAL = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: applica")
socks = []
t_attack = time.monotonic()
pending = {}
for i in range(HALF_OPEN):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((ATTACKER, 0))
    s.connect_ex(("127.0.0.1", inst.port))
    socks.append(s)
    pending[s.fileno()] = s
connected = []
poller = select.poll()
for fd in pending:
    poller.register(fd, select.POLLOUT)
deadline = time.monotonic() + 20
while pending and time.monotonic() < deadline:
    for fd, ev in poller.poll(200):
        s = pending.pop(fd, None)
        if s is None:
            continue
        poller.unregister(fd)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            try:
                s.send(PARTIAL)
                connected.append(s)
            except OSError:
                pass
t_opened = time.monotonic()
qp.diag("%d of %d half-open connections from %s in %.1f s" % (
    len(connected), HALF_OPEN, ATTACKER, t_opened - t_attack))
is_eq(len(connected), HALF_OPEN,
      "every half-open connection from %s was established" % ATTACKER)

# Hold them while the probes run.
time.sleep(2.0)
for pid in inst.lighttpd_pids():
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = [l.split()[1] for l in f if l.startswith("VmRSS:")]
        qp.diag("lighttpd (pid %d) holding them: VmRSS %s kB" % (
            pid, rss[0] if rss else "?"))
    except OSError:
        pass
time.sleep(2.0)
t_held = time.monotonic()

# lighttpd closes the silent sockets after server.max-read-idle.
open_fds = {s.fileno(): s for s in connected}
poller = select.poll()
for fd in open_fds:
    poller.register(fd, select.POLLIN)
closed_by_server = 0
deadline = t_attack + READ_IDLE + 15
while open_fds and time.monotonic() < deadline:
    for fd, ev in poller.poll(500):
        s = open_fds.pop(fd, None)
        if s is None:
            continue
        poller.unregister(fd)
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed_by_server += 1
t_closed = time.monotonic()
is_eq(closed_by_server, len(connected),
      "lighttpd closed every silent half-open connection within "
      "server.max-read-idle + 15 s (%d s)" % (READ_IDLE + 15))
qp.diag("the last one closed %.1f s after the attack began"
        % (t_closed - t_attack))
probing.clear()
prober.join(10)
for s in socks:
    s.close()

during = [p for p in probes if t_attack <= p[0] <= t_held]
bad = [p for p in probes if t_attack <= p[0] <= t_closed and
       (p[2] != 200 or p[1] >= HEALTHZ_LIMIT_S)]
cmp_ok(len(during), ">=", 5, "healthz was probed while the sockets were "
       "held (%d probes)" % len(during))
ok(not bad, "GET /v1/healthz from 127.0.0.1: 200 in under %.0f s "
   "throughout the attack (%d probes, slowest %.3f s)" % (
       HEALTHZ_LIMIT_S, len([p for p in probes if p[0] >= t_attack]),
       max([p[1] for p in probes if p[0] >= t_attack] or [0])),
   lambda: "  failed probes (start offset s, latency s, result): %r" % [
       (round(p[0] - t_attack, 2), round(p[1], 3), p[2]) for p in bad[:20]])

# ---------------------------------------------------------------------------
# The slow answers were not cut.

for t in threads:
    t.join(SLOW_MS / 1000 + 90)
r = slow.get("late_json")
r, took = r if isinstance(r, tuple) else (r, 0.0)
ok(isinstance(r, qp.Response) and r.status == 200 and
   (r.try_json() or {}).get("object") == "chat.completion" and
   took > READ_IDLE,
   "a JSON answer whose first byte comes %d s late (past "
   "server.max-read-idle): 200 with the completion" % (SLOW_MS // 1000),
   lambda: "  got %r after %.1f s" % (
       r if not isinstance(r, qp.Response) else (r.status, r.body[:300]),
       took))
r = slow.get("late_stream")
ok(isinstance(r, tuple) and r[0] == 200 and r[2] is None and
   b"message_stop" in r[1] and r[3] > READ_IDLE,
   "an Anthropic stream whose first byte comes %d s late: complete, "
   "through message_stop" % (SLOW_MS // 1000),
   lambda: "  got %r" % (r,))
r = slow.get("gap_stream")
ok(isinstance(r, tuple) and r[0] == 200 and r[2] is None and
   b"[DONE]" in r[1] and b"hello" in r[1] and b" world" in r[1] and
   r[3] > READ_IDLE,
   "an OpenAI stream started at once whose first event comes %d s "
   "later: complete, both deltas and [DONE]" % (SLOW_MS // 1000),
   lambda: "  got %r" % (r,))

r = inst.request("GET", "/v1/healthz", key=None)
is_eq(r.status, 200, "GET /v1/healthz after the attack: 200")

# Every key of both configurations is one the installed lighttpd knows.
err = inst.logs().get("state/error.log", "")
ok("unknown config-key" not in err,
   "the generated lighttpd.conf has no key lighttpd ignores", err[-2000:])
tmp = qp.tempdir("qp-ws-conf-")
main_conf = os.path.join(tmp, "main.conf")
with open(main_conf, "w") as f:
    f.write('server.document-root = "%s"\nserver.port = %d\n'
            'server.bind = "127.0.0.1"\ninclude "%s"\n' % (
                tmp, qp.free_port(), os.path.join(
                    qp.SRCDIR, "lighttpd", "conf-available",
                    "50-quotapool.conf")))
r = qp.run([qp.LIGHTTPD, "-tt", "-f", main_conf], timeout=30)
# The only complaint allowed: the bin-path of a system install is absent here.
complaints = [l for l in (r.out + r.err).splitlines()
              if l.strip() and "bin-path" not in l]
ok(r.rc == 0 and not complaints,
   "lighttpd -tt accepts 50-quotapool.conf without warnings", repr(r))
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly, nothing left running")
qp.done()
