#!/usr/bin/env python3
"""test_apache.py: quotapool.fcgi behind a real Apache 2.4 (mod_proxy_fcgi),
with the directives of apache/quotapool.conf (the file the Debian package
installs as /etc/apache2/conf-available/quotapool.conf), on a loopback port
and a socket of its own.

quotapool.fcgi is started the way systemd's quotapool-fcgi.socket starts it:
the listening Unix socket is fd 0 and fd 3, with LISTEN_FDS=1 and LISTEN_PID
set to its own pid. Through Apache: events of a stream arrive one by one as
the provider writes them, a client that hangs up aborts the upstream
transfer, 413 and 401 come in each protocol family's shape, the
Authorization header reaches the application, and a remote worker's
long poll, its job and its sequence of result POSTs pass (/worker/v1/*).

Skips (visibly) when apache2 or its proxy_fcgi module is not installed
(Debian package apache2)."""

import os
import re
import shutil
import signal
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

APACHE = shutil.which("apache2", path=os.environ.get("PATH", "") +
                      ":/usr/sbin:/sbin")
MODULES = "/usr/lib/apache2/modules"
NEEDED = ("mpm_event", "authz_core", "proxy", "proxy_fcgi")
if APACHE is None:
    qp.skip_all("apache2 is not installed (Debian package apache2)")
missing = [m for m in NEEDED
           if not os.path.exists(os.path.join(MODULES, "mod_%s.so" % m))]
if missing:
    qp.skip_all("Apache modules missing in %s: %s" % (MODULES,
                                                       ", ".join(missing)))
if not os.access(qp.FCGI, os.X_OK):
    qp.skip_all("%s is not built" % qp.FCGI)
qp.set_timeout(180)

mo = qp.mock(models=["gpt-a"])
ma = qp.mock(style="anthropic", models=["claude-a"])
inst = qp.Instance(server={"max_request_body_bytes": 65536}, providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-a"],
           "accounts": ["ao1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": ["claude-a"],
           "accounts": ["aa1"]},
}, sections={"workers": {"enabled": True}}, prefix="qp-apache-")
inst.migrate()
inst.key = inst.new_key("apache")
wkey = inst.new_key("apache-worker", worker=True)

# ---- quotapool.fcgi, socket-activated as by systemd ---------------------

rundir = os.path.join(inst.dir, "run")
os.mkdir(rundir)
sock_path = os.path.join(rundir, "quotapool.sock")
lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
lsock.bind(sock_path)
lsock.listen(128)
if os.geteuid() == 0:
    # Apache's children run as nobody: as with SocketGroup=www-data and
    # SocketMode=0660, they may connect.
    os.chmod(inst.dir, 0o711)
    os.chmod(rundir, 0o711)
    os.chmod(sock_path, 0o666)
fcgi_log = open(os.path.join(inst.dir, "fcgi.log"), "ab")


env = qp.child_env({"LISTEN_FDS": "1", "LISTEN_FDNAMES": "quotapool-fcgi"})
fcgi = subprocess.Popen(
    ["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"',
     qp.FCGI, "--config", inst.config_path],
    stdin=lsock.fileno(), stdout=fcgi_log, stderr=fcgi_log, env=env,
    pass_fds=(3,), preexec_fn=lambda: os.dup2(0, 3),
    start_new_session=True)
lsock.close()


def stop_pid(p, name):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            qp.diag("%s did not stop within 15 s: killed" % name)
            p.kill()
            p.wait(5)
    return p.returncode


class Proc:
    def __init__(self, p, name):
        self.p, self.name = p, name

    def _cleanup(self):
        stop_pid(self.p, self.name)


qp._live.append(Proc(fcgi, "quotapool.fcgi"))

# ---- Apache with the shipped directives -----------------------------------

port = qp.free_port()
with open(os.path.join(qp.SRCDIR, "apache", "quotapool.conf")) as f:
    shipped = f.read()
ok("flushpackets=on" in shipped and "CGIPassAuth On" in shipped and
   "enablereuse" not in shipped.replace("Never enablereuse", ""),
   "apache/quotapool.conf streams (flushpackets=on), passes Authorization "
   "(CGIPassAuth On) and never reuses connections")
site = shipped.replace("127.0.0.1:11300", "127.0.0.1:%d" % port) \
    .replace("/run/quotapool/quotapool.sock", sock_path)
ok(site != shipped and sock_path in site and ":%d" % port in site,
   "the shipped configuration takes this test's port and socket")
adir = os.path.join(inst.dir, "apache")
os.mkdir(adir)
if os.geteuid() == 0:
    os.chmod(adir, 0o755)
conf = os.path.join(adir, "apache2.conf")
lines = ["LoadModule %s_module %s/mod_%s.so" % (m, MODULES, m)
         for m in NEEDED]
lines += [
    "ServerName 127.0.0.1",
    "ServerRoot %s" % adir,
    "DefaultRuntimeDir %s" % adir,
    "PidFile %s/apache2.pid" % adir,
    "Mutex file:%s default" % adir,
    "ErrorLog %s/error.log" % adir,
    "LogLevel warn",
    "Timeout 60",
    "StartServers 1",
    "ServerLimit 2",
    "ThreadsPerChild 25",
    "MaxRequestWorkers 50",
]
if os.geteuid() == 0:
    lines += ["User nobody", "Group nogroup"]
with open(os.path.join(adir, "quotapool.conf"), "w") as f:
    f.write(site)
lines.append("Include %s/quotapool.conf" % adir)
with open(conf, "w") as f:
    f.write("\n".join(lines) + "\n")
r = qp.run([APACHE, "-t", "-f", conf])
is_eq(r.rc, 0, "apache2 -t accepts the configuration", )
if r.rc != 0:
    qp.diag(r.err)
    qp.bail_out("Apache does not accept the configuration")
apache = subprocess.Popen([APACHE, "-f", conf, "-DFOREGROUND"],
                          stdin=subprocess.DEVNULL,
                          stdout=open(os.path.join(adir, "stdout"), "ab"),
                          stderr=subprocess.STDOUT, start_new_session=True)
qp._live.append(Proc(apache, "apache2"))
inst.port = port  # inst.request and inst.stream now go through Apache


def dump():
    for name in (os.path.join(adir, "error.log"),
                 os.path.join(inst.dir, "fcgi.log")):
        try:
            with open(name, errors="replace") as f:
                qp.diag("---- %s\n%s" % (name, f.read()[-3000:]))
        except OSError:
            pass


r = inst.wait_status("/v1/healthz", 200, timeout=15)
if r is None or r.status != 200:
    dump()
    qp.bail_out("no answer through Apache within 15 s")
is_eq(r.status, 200, "GET /v1/healthz through Apache: 200")
# The process row tells the application is serving (503 "starting" before).
deadline = time.monotonic() + 10
while time.monotonic() < deadline and not dp.query(
        inst, "SELECT id FROM processes WHERE stopped_at IS NULL AND pid = ?",
        (fcgi.pid,)):
    time.sleep(0.05)
with open(os.path.join(inst.dir, "fcgi.log"), errors="replace") as f:
    ok("socket systemd passed" in f.read(), "quotapool.fcgi took the socket "
       "systemd's way (LISTEN_FDS)")

# ---- Authorization reaches the application; 401 in both shapes ----------

r = inst.request("POST", OPENAI, dp.chat("gpt-a"))
ok(r.status == 200 and dp.openai_text([(None, r.try_json())]) != "" or
   r.status == 200, "Bearer key through Apache: 200 (Authorization reached "
   "quotapool)", dp.show(r))
r = inst.request("POST", ANTHROPIC, dp.messages("claude-a"), auth="x-api-key")
is_eq(r.status, 200, "x-api-key through Apache: 200")
r = inst.request("POST", OPENAI, dp.chat("gpt-a"), key=None)
is_eq(r.status, 401, "no key, OpenAI route: 401")
dp.error_shape(r, "openai", "401 through Apache")
r = inst.request("POST", ANTHROPIC, dp.messages("claude-a"), key=None)
is_eq(r.status, 401, "no key, Anthropic route: 401")
dp.error_shape(r, "anthropic", "401 through Apache")
r = inst.request("POST", OPENAI, dp.chat("gpt-a"), key="qp_" + "0" * 48)
is_eq(r.status, 401, "a wrong Bearer key is checked, not ignored: 401")

# ---- 413 ------------------------------------------------------------------

big = "x" * 100000
r = inst.request("POST", OPENAI, dp.chat("gpt-a", text=big))
is_eq(r.status, 413, "100 KB body over max_request_body_bytes, OpenAI: 413")
dp.error_shape(r, "openai", "413 through Apache")
r = inst.request("POST", ANTHROPIC, dp.messages("claude-a", text=big))
is_eq(r.status, 413, "100 KB body, Anthropic: 413")
dp.error_shape(r, "anthropic", "413 through Apache")

# ---- token-by-token streaming ----------------------------------------------


def event_times(chunks):
    out, buf = [], b""
    for t, c in chunks:
        buf += c
        complete = buf.replace(b"\r\n", b"\n").rfind(b"\n\n")
        n = len(qp.parse_sse(buf[:complete + 2])) if complete >= 0 else 0
        for name, data in qp.parse_sse(buf)[len(out):n]:
            out.append((t, name, data))
    return out


for path, fam, mock, body, slots in (
        (OPENAI, "OpenAI", mo, dp.chat("gpt-a", stream=True),
         [0, 1, 2, 3, 4, 5, 6, 7, 9]),
        (ANTHROPIC, "Anthropic", ma, dp.messages("claude-a", stream=True),
         list(range(11)))):
    total = len(slots)
    mock.reset()
    mock.script("*", {"events": 6, "interval_ms": 200})
    with inst.stream(path, body, timeout=20) as s:
        s.read_all()
    ev = event_times(s.chunks)
    is_eq(len(ev), total, "%s stream through Apache: every event arrives" % fam)
    recs = mock.requests(path=path)
    sent = recs[0]["event_mono"] if recs else []
    if len(ev) != total or len(sent) <= slots[-1]:
        qp.skip("%s: no timing without every event" % fam, 3)
        continue
    early = [i for i, (t, _, _) in enumerate(ev) if t < sent[-1]]
    cmp_ok(len(early), ">=", (total - 1) // 2 + 1, "%s stream through Apache: "
           "%d of %d events reach the client before the provider writes its "
           "last one" % (fam, len(early), total))
    ok(0 in early, "%s stream through Apache: the first event is not held "
       "back" % fam)
    distinct = len(set(t for t, _, _ in ev))
    cmp_ok(distinct, ">=", total // 2 + 1, "%s stream through Apache: events "
           "arrive in separate reads (%d of %d)" % (fam, distinct, total))

# ---- a client that hangs up aborts the upstream ---------------------------

for path, fam, mock, body in (
        (OPENAI, "OpenAI", mo, dp.chat("gpt-a", stream=True)),
        (ANTHROPIC, "Anthropic", ma, dp.messages("claude-a", stream=True))):
    mock.reset()
    mock.script("*", {"events": 40, "interval_ms": 250})
    s = inst.stream(path, body, timeout=20)
    uid = dp.uid_of(s)
    deadline = time.monotonic() + 10
    for _ in s:
        if len(event_times(s.chunks)) >= 2 or time.monotonic() > deadline:
            break
    ok(len(event_times(s.chunks)) >= 2, "%s disconnect: two events arrived "
       "through Apache first" % fam)
    s.close()
    rec = mock.wait_for(lambda recs: [x for x in recs if x["path"] == path
                                      and x["client_closed"]], timeout=8)
    ok(rec and rec[0]["events_sent"] < rec[0]["events_total"],
       "%s disconnect: the provider's connection is closed before its last "
       "event (within 8 s)" % fam,
       lambda: "  mock records: %r" % mock.requests(path=path))
    row = dp.wait_row(inst, uid, timeout=8) or {}
    is_eq(row.get("status"), "client_disconnected",
          "%s disconnect: the row is closed as client_disconnected" % fam)

is_eq(dp.pending(inst), [], "no request is left pending")

# ---- a remote worker through Apache -----------------------------------------


def wcall(method, path, body=None, timeout=30):
    return qp.http_request(inst.port, method, path, body, key=wkey,
                           timeout=timeout)


r = wcall("POST", "/worker/v1/hello", {"name": "box", "capacity": 2,
                                       "models": [{"id": "wm"}]})
is_eq(r.status, 200, "worker hello through Apache: 200")
t0 = time.monotonic()
r = wcall("GET", "/worker/v1/jobs?wait=2")
is_eq(r.status, 204, "a long poll through Apache: 204 when no job came")
cmp_ok(time.monotonic() - t0, ">=", 1.9, "Apache let the poll wait its 2 s")
wres = {}


def apache_worker():
    r = wcall("GET", "/worker/v1/jobs?wait=20", timeout=40)
    wres["poll"] = r.status
    if r.status != 200:
        return
    job = r.json()
    head = b'{"status": 200, "headers": {"content-type": "text/event-stream"}}\n'
    parts = [head + b'data: {"choices":[{"index":0,"delta":{"content":"A"}}]}\n\n',
             b'data: {"choices":[{"index":0,"delta":{"content":"B"}}]}\n\n',
             b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,'
             b'"total_tokens":3}}\n\ndata: [DONE]\n\n']
    wres["posts"] = []
    for i, part in enumerate(parts):
        time.sleep(0.3)
        r = wcall("POST", "/worker/v1/jobs/%s/result?seq=%d%s" % (
            job["id"], i, "&end=1" if i == len(parts) - 1 else ""), part)
        wres["posts"].append(r.status)


wt = threading.Thread(target=apache_worker, daemon=True)
wt.start()
time.sleep(0.5)
with inst.stream(OPENAI, dp.chat("wm", stream=True), timeout=30) as s:
    s.read_all()
wt.join(30)
is_eq(wres.get("posts"), [204, 204, 204], "the worker's result POSTs through Apache: 204")
ok(b'"A"' in s.body and b'"B"' in s.body and b"[DONE]" in s.body,
   "the client got the worker's events through Apache")

# ---- stop -----------------------------------------------------------------

is_eq(stop_pid(apache, "apache2"), 0, "apache2 stops on SIGTERM")
is_eq(stop_pid(fcgi, "quotapool.fcgi"), 0,
      "quotapool.fcgi stops on SIGTERM with exit status 0")
if qp.failed():
    dump()
qp.done()
