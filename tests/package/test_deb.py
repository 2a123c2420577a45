#!/usr/bin/env python3
"""tests/package/test_deb.py DEB: the Debian package, installed for real.

Installs DEB with dpkg and checks what it made (the user quotapool,
/var/lib/quotapool 0750, /etc/quotapool/config.toml a conffile 0640
root:quotapool, a migrated database, no world-readable secret, units that
`systemd-analyze verify` accepts), then starts the three deployments on
this machine and sends a health check and a streamed chat through each
against a mock provider on loopback:

1. the system lighttpd (its own /etc/lighttpd/lighttpd.conf) with
   `lighty-enable-mod quotapool`;
2. the system Apache (/etc/apache2, `a2enmod proxy_fcgi`, `a2enconf
   quotapool`);
3. quotapool.service: `quotapool-admin serve` as quotapool.

In 1 and 2 quotapool.fcgi is started as quotapool-fcgi.socket and
quotapool-fcgi.service say (the installed units are read): where systemd is
not PID 1 (containers, CI) this script makes the socket with the unit's
owner, group and mode and runs ExecStart as its User and Group with the
socket as fd 0 and fd 3 (LISTEN_FDS=1). Then `dpkg -r` (configuration and
data kept, web servers' configurations disabled) and `dpkg --purge`
(nothing left: files, state, user, group, statoverrides).

It changes the machine, so it runs only as root, only when quotapool is not
installed already, and puts back what it changed: every process it starts
is stopped by its PID, the package is purged, and web server modules and
configurations it enabled are disabled again. Otherwise it skips, saying
why. The web servers listen on their configured ports (80 by default) and
quotapool's 127.0.0.1:11300: a part whose port is taken is skipped.
"""

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import qp  # noqa: E402
from qp import is_eq, ok  # noqa: E402

PORT = 11300
CONF = "/etc/quotapool/config.toml"
STATE = "/var/lib/quotapool"
UNITS = "/lib/systemd/system"
ADMIN = "/usr/bin/quotapool-admin"

if len(sys.argv) != 2 or not sys.argv[1].endswith(".deb"):
    qp.bail_out("usage: test_deb.py quotapool_VERSION_ARCH.deb")
DEB = os.path.abspath(sys.argv[1])
if os.geteuid() != 0:
    qp.skip_all("needs root: it installs the package and starts the "
                "system's web servers")
if not os.path.exists(DEB):
    qp.bail_out("no %s" % DEB)


def sh(*args, input_text=None, timeout=120):
    return qp.run(list(args), timeout=timeout, input_text=input_text)


def installed():
    r = sh("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "quotapool")
    return r.rc == 0 and r.out.strip() not in ("", "un")


if installed():
    qp.skip_all("quotapool is installed on this machine already; this test "
                "would change that installation")
for name in ("quotapool",):
    try:
        pwd.getpwnam(name)
        qp.skip_all("a user quotapool exists already; the package's purge "
                    "would remove it")
    except KeyError:
        pass
qp.set_timeout(600)


def port_free(port, host="127.0.0.1"):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Proc:
    """A process this script started; stopped by its PID."""

    def __init__(self, p, name):
        self.p, self.name = p, name
        qp._live.append(self)

    def stop(self, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                qp.diag("%s (pid %d) did not stop in %d s: killed" % (
                    self.name, self.p.pid, timeout))
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.p.wait(5)
        return self.p.returncode

    _cleanup = stop


class Undo:
    """Steps that put the machine back, run at exit in reverse order."""

    def __init__(self):
        self.steps = []
        qp._live.insert(0, self)  # cleaned up last, after the processes

    def add(self, desc, *cmd):
        self.steps.append((desc, cmd))

    def _cleanup(self):
        while self.steps:
            desc, cmd = self.steps.pop()
            r = sh(*cmd)
            if r.rc != 0:
                qp.diag("undo %s: %r" % (desc, r))


undo = Undo()


class Snapshot:
    """What exists under the web servers' state, run and log directories
    before the test; at exit, what appeared is removed and logs are cut
    back to their size (cleaned up after the package's purge)."""

    ROOTS = ("/var/lib/apache2", "/run/apache2", "/run/lock/apache2",
             "/run/lighttpd", "/var/log/apache2", "/var/log/lighttpd")
    # lighttpd, once it runs as www-data, cannot unlink its root-owned pid
    # file at exit and leaves it empty.
    FILES = ("/run/lighttpd.pid", "/run/apache2.pid")

    def __init__(self):
        self.paths = {}
        for root in self.ROOTS:
            for d, dirs, fs in os.walk(root):
                self.paths[d] = None
                for f in fs:
                    p = os.path.join(d, f)
                    self.paths[p] = os.lstat(p).st_size
        self.files = [f for f in self.FILES if not os.path.lexists(f)]
        qp._live.insert(0, self)

    def _cleanup(self):
        for f in self.files:
            if os.path.lexists(f):
                os.unlink(f)
        for root in self.ROOTS:
            new = []
            for d, dirs, fs in os.walk(root):
                new += [os.path.join(d, f) for f in fs]
                new.append(d)
            for p in sorted(new, key=len, reverse=True):
                if p not in self.paths:
                    if os.path.isdir(p) and not os.path.islink(p):
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        os.unlink(p)
                elif self.paths[p] is not None and p.startswith("/var/log/") \
                        and os.path.getsize(p) > self.paths[p]:
                    os.truncate(p, self.paths[p])


snapshot = Snapshot()
lighttpd_conf_enabled = set(os.listdir("/etc/lighttpd/conf-enabled")) \
    if os.path.isdir("/etc/lighttpd/conf-enabled") else None

# ---- install ----------------------------------------------------------------

r = sh("dpkg", "-i", DEB, timeout=300)
undo.add("purge the package", "dpkg", "--purge", "quotapool")
is_eq(r.rc, 0, "dpkg -i %s" % os.path.basename(DEB))
if r.rc != 0:
    qp.diag(r.out + r.err)
    qp.bail_out("the package did not install")
files = [ln for ln in sh("dpkg", "-L", "quotapool").out.splitlines()
         if ln.startswith("/")]

pw = pwd.getpwnam("quotapool")
ok(pw.pw_uid < 1000 and pw.pw_shell in ("/usr/sbin/nologin", "/bin/false"),
   "system user quotapool (uid %d, shell %s)" % (pw.pw_uid, pw.pw_shell))
gid = grp.getgrnam("quotapool").gr_gid


def mode_owner(path):
    st = os.stat(path)
    return (oct(stat.S_IMODE(st.st_mode)), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


is_eq(mode_owner(STATE), ("0o750", "quotapool", "quotapool"),
      "%s: 0750 quotapool:quotapool" % STATE)
is_eq(mode_owner(CONF), ("0o640", "root", "quotapool"),
      "%s: 0640 root:quotapool" % CONF)
is_eq(mode_owner("/etc/quotapool"), ("0o750", "root", "quotapool"),
      "/etc/quotapool: 0750 root:quotapool")
conffiles = sh("dpkg-query", "-W", "-f=${Conffiles}", "quotapool").out
for f in (CONF, "/etc/lighttpd/conf-available/50-quotapool.conf",
          "/etc/apache2/conf-available/quotapool.conf",
          "/etc/logrotate.d/quotapool"):
    ok(f in conffiles, "conffile: %s" % f, conffiles)
db = os.path.join(STATE, "quotapool.db")
ok(os.path.exists(db) and mode_owner(db)[1] == "quotapool",
   "postinst made the database as quotapool")
r = sh("runuser", "-u", "quotapool", "--", ADMIN, "--config", CONF, "migrate")
ok(r.rc == 0 and not re.search(r"(?i)appl", r.out),
   "the database is migrated (nothing left to apply)", repr(r))
for unit in ("quotapool.service", "quotapool-fcgi.service",
             "quotapool-fcgi.socket"):
    ok(os.path.exists(os.path.join(UNITS, unit)), "installed: %s" % unit)
if shutil.which("systemd-analyze"):
    r = sh("systemd-analyze", "verify", *[os.path.join(UNITS, u) for u in (
        "quotapool.service", "quotapool-fcgi.service",
        "quotapool-fcgi.socket")])
    is_eq((r.rc, r.out + r.err), (0, ""), "systemd-analyze verify: the three "
          "units pass")
else:
    qp.skip("systemd-analyze is missing (Debian package systemd)")
if shutil.which("logrotate"):
    r = sh("logrotate", "-d", "/etc/logrotate.d/quotapool")
    is_eq(r.rc, 0, "logrotate -d accepts /etc/logrotate.d/quotapool")
else:
    qp.skip("logrotate is not installed")


def unit(name):
    """{key: [values]} of an installed unit file (all sections)."""
    out = {}
    with open(os.path.join(UNITS, name)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


svc, sock, standalone = (unit("quotapool-fcgi.service"),
                         unit("quotapool-fcgi.socket"),
                         unit("quotapool.service"))
for name, u in (("quotapool-fcgi.service", svc),
                ("quotapool.service", standalone)):
    ok(u.get("User") == ["quotapool"] and u.get("NoNewPrivileges") == ["yes"]
       and u.get("ProtectSystem") == ["strict"] and
       u.get("ReadWritePaths") == [STATE] and u.get("PrivateTmp") == ["yes"],
       "%s runs as quotapool, hardened (NoNewPrivileges, ProtectSystem=strict,"
       " ReadWritePaths=%s, PrivateTmp)" % (name, STATE))
is_eq(svc.get("StandardInput"), ["socket"],
      "quotapool-fcgi.service gets its socket as fd 0")

# ---- a provider (the mock) and a client key, as an admin would ----------------

mock = qp.MockProcess(models=["m1"])
r = sh(ADMIN, "--config", CONF, "connect", "openai", "--base-url",
       mock.base_url, "--key-stdin", "--no-check",
       input_text="ci-provider-key-0123456789abcdef\n")
is_eq(r.rc, 0, "quotapool-admin connect openai (as root, key on stdin)")
if r.rc != 0:
    qp.diag(r.out + r.err)
is_eq(mode_owner(CONF), ("0o640", "root", "quotapool"),
      "the configuration connect rewrote is still 0640 root:quotapool")
env_file = "/etc/quotapool/.env"
ok(os.path.exists(env_file) and mode_owner(env_file) ==
   ("0o640", "root", "quotapool"), "the .env connect wrote is 0640 "
   "root:quotapool", repr(mode_owner(env_file)) if os.path.exists(env_file)
   else "missing")
r = sh(ADMIN, "--config", CONF, "key", "new", "ci")
KEY = r.out.strip()
ok(r.rc == 0 and qp.KEY_RE.match(KEY), "quotapool-admin key new (as root)")
left = [os.path.join(d, f) for base in (STATE,) for d, _, fs in os.walk(base)
        for f in fs if os.stat(os.path.join(d, f)).st_uid != pw.pw_uid]
is_eq(left, [], "files SQLite made beside the database while root used it "
      "belong to quotapool")
world = [os.path.join(d, f) for base in ("/etc/quotapool", STATE)
         for d, _, fs in os.walk(base) for f in fs
         if os.stat(os.path.join(d, f)).st_mode & 0o004]
is_eq(world, [], "no world-readable file under /etc/quotapool and %s" % STATE)
r = sh("runuser", "-u", "quotapool", "--", ADMIN, "--config", CONF,
       "check-config")
is_eq(r.rc, 0, "the gateway's user reads the configuration and its .env")


# ---- quotapool-fcgi.socket + .service, the way systemd starts them ------------

def start_socket_service():
    """Makes the socket of quotapool-fcgi.socket and runs the ExecStart of
    quotapool-fcgi.service as its User and Group. Returns the Proc."""
    path = sock["ListenStream"][0]
    os.makedirs(os.path.dirname(path), mode=int(sock["DirectoryMode"][0], 8),
                exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chown(path, pwd.getpwnam(sock["SocketUser"][0]).pw_uid,
             grp.getgrnam(sock["SocketGroup"][0]).gr_gid)
    os.chmod(path, int(sock["SocketMode"][0], 8))
    s.listen(int(sock.get("Backlog", ["128"])[0]))
    cmd = svc["ExecStart"][0].split()
    log = open("/tmp/quotapool-fcgi-test.log", "ab")
    u = pwd.getpwnam(svc["User"][0])
    g = grp.getgrnam(svc["Group"][0])
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LISTEN_FDS": "1",
           "LISTEN_FDNAMES": "quotapool-fcgi", "HOME": u.pw_dir}
    p = subprocess.Popen(
        ["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"']
        + cmd, stdin=s.fileno(), stdout=log, stderr=log, env=env,
        pass_fds=(3,), preexec_fn=lambda: (os.umask(0o077), os.dup2(0, 3)),
        user=u.pw_uid, group=g.gr_gid, extra_groups=[], cwd="/",
        start_new_session=True)
    s.close()
    return Proc(p, "quotapool.fcgi")


def wait_health(port, timeout=20):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = qp.http_request(port, "GET", "/v1/healthz", timeout=3)
            if last.status == 200:
                return last
        except OSError:
            pass
        time.sleep(0.1)
    return last


def chat_through(name):
    """A health check, a chat and a streamed chat through 127.0.0.1:PORT."""
    r = wait_health(PORT)
    is_eq(r.status if r else None, 200, "%s: GET /v1/healthz 200" % name)
    if not r or r.status != 200:
        return
    deadline = time.monotonic() + 15
    while True:  # the catalog is fetched from the mock at start
        r = qp.http_request(PORT, "POST", "/v1/chat/completions", {
            "model": "m1", "messages": [{"role": "user", "content": "hi"}]},
            key=KEY)
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ok(r.status == 200 and (r.try_json() or {}).get("choices"),
       "%s: a chat with the client key through it: 200" % name,
       "  %d %r" % (r.status, r.body[:300]))
    mock.reset()
    mock.script("*", {"events": 6, "interval_ms": 200})
    s = qp.Stream(PORT, "/v1/chat/completions", {
        "model": "m1", "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}, key=KEY, timeout=20)
    body = s.read_all()
    s.close()
    times = [t for t, c in s.chunks if b"data:" in c]
    ok(s.status == 200 and body.rstrip().endswith(b"data: [DONE]") and
       len(times) >= 5 and times[-1] - times[0] >= 0.5,
       "%s: a streamed chat arrives event by event (%d reads over %.1f s)"
       % (name, len(times), (times[-1] - times[0]) if times else 0),
       repr(body[-300:]))
    r = qp.http_request(PORT, "POST", "/v1/messages", {
        "model": "m1", "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}]}, key=None)
    ok(r.status == 401 and (r.try_json() or {}).get("type") == "error",
       "%s: no key on /v1/messages: 401 in the Anthropic shape" % name)


def gone(pids):
    return all(not os.path.exists("/proc/%d" % p) for p in pids)


# ---- 1. the system lighttpd ----------------------------------------------------

def lighttpd_port():
    with open("/etc/lighttpd/lighttpd.conf") as f:
        m = re.search(r"^\s*server\.port\s*=\s*(\d+)", f.read(), re.M)
    return int(m.group(1)) if m else 80


if not os.path.exists("/usr/sbin/lighttpd") or \
        not shutil.which("lighty-enable-mod"):
    qp.skip("the system lighttpd is not installed (Debian package lighttpd)",
            6)
elif not port_free(lighttpd_port(), "0.0.0.0") or not port_free(PORT):
    qp.skip("port %d or %d is taken: the system lighttpd cannot start" % (
        lighttpd_port(), PORT), 6)
else:
    r = sh("lighty-enable-mod", "quotapool")
    undo.add("lighty-disable-mod", "sh", "-c", "! test -L /etc/lighttpd/"
             "conf-enabled/50-quotapool.conf || lighty-disable-mod quotapool")
    ok(r.rc == 0 and os.path.islink(
        "/etc/lighttpd/conf-enabled/50-quotapool.conf"),
       "lighty-enable-mod quotapool", repr(r))
    r = sh("/usr/sbin/lighttpd", "-tt", "-f", "/etc/lighttpd/lighttpd.conf")
    is_eq((r.rc, r.err.strip()), (0, ""), "lighttpd -tt: the system "
          "configuration with quotapool loads without a warning")
    fcgi = start_socket_service()
    os.makedirs("/run/lighttpd", exist_ok=True)
    light = Proc(subprocess.Popen(
        ["/usr/sbin/lighttpd", "-D", "-f", "/etc/lighttpd/lighttpd.conf"],
        stdin=subprocess.DEVNULL, start_new_session=True), "lighttpd")
    chat_through("system lighttpd")
    pids = [light.p.pid] + qp.descendants(light.p.pid)
    rc = light.stop()
    log_text = ""
    if os.path.exists("/var/log/lighttpd/error.log"):
        with open("/var/log/lighttpd/error.log", errors="replace") as f:
            log_text = f.read()[-2000:]
    # lighttpd 1.4.69 exits 1 instead of 0 when a client connection was
    # still being closed at the signal (server.c: rc = 0 only without
    # connections left); its log says whether it stopped on the signal.
    ok(rc == 0 or (rc == 1 and "server stopped by UID" in log_text),
       "system lighttpd: stops on SIGTERM (exit %s)" % rc, log_text)
    ok(gone(pids), "system lighttpd: every process it ran is gone")
    sh("lighty-disable-mod", "quotapool")
    # fcgi keeps serving for Apache below.

# ---- 2. the system Apache -----------------------------------------------------

APACHE_ENV = "/etc/apache2/envvars"
if not os.path.exists("/usr/sbin/apache2") or not shutil.which("a2enconf"):
    qp.skip("the system Apache is not installed (Debian package apache2)", 6)
elif not port_free(80, "0.0.0.0") or not port_free(PORT):
    qp.skip("port 80 or %d is taken: the system Apache cannot start" % PORT,
            6)
else:
    if "fcgi" not in locals():
        fcgi = start_socket_service()
    for mod in ("proxy", "proxy_fcgi"):
        if sh("a2query", "-q", "-m", mod).rc != 0:
            undo.add("a2dismod " + mod, "a2dismod", "-q", "-f", mod)
    r = sh("a2enmod", "-q", "proxy_fcgi")
    is_eq(r.rc, 0, "a2enmod proxy_fcgi")
    r = sh("a2enconf", "-q", "quotapool")
    undo.add("a2disconf", "sh", "-c", "! test -L /etc/apache2/conf-enabled/"
             "quotapool.conf || a2disconf -q quotapool")
    ok(r.rc == 0 and os.path.islink("/etc/apache2/conf-enabled/quotapool.conf"),
       "a2enconf quotapool", repr(r))
    r = sh("sh", "-c", ". %s && mkdir -p \"$APACHE_RUN_DIR\" \"$APACHE_LOCK_DIR\""
           " \"$APACHE_LOG_DIR\" && apache2 -t" % APACHE_ENV)
    is_eq(r.rc, 0, "apache2 -t: the system configuration with quotapool is "
          "valid", )
    ap = Proc(subprocess.Popen(
        ["sh", "-c", ". %s && exec /usr/sbin/apache2 -DFOREGROUND" %
         APACHE_ENV], stdin=subprocess.DEVNULL, start_new_session=True),
        "apache2")
    chat_through("system Apache")
    pids = [ap.p.pid] + qp.descendants(ap.p.pid)
    is_eq(ap.stop(), 0, "system Apache: stops on SIGTERM")
    ok(gone(pids), "system Apache: every process it ran is gone")
    sh("a2disconf", "-q", "quotapool")

if "fcgi" in locals():
    is_eq(fcgi.stop(), 0, "quotapool.fcgi (as quotapool-fcgi.service): stops "
          "on SIGTERM, exit 0")
    if os.path.exists(sock["ListenStream"][0]):
        os.unlink(sock["ListenStream"][0])

# ---- 3. quotapool.service: serve as quotapool ------------------------------------

if not port_free(PORT):
    qp.skip("port %d is taken: quotapool.service cannot start" % PORT, 4)
else:
    u = pwd.getpwnam(standalone["User"][0])
    g = grp.getgrnam(standalone["Group"][0])
    pre = standalone["ExecStartPre"][0].split()
    r = qp.run(["runuser", "-u", u.pw_name, "--"] + pre)
    is_eq(r.rc, 0, "quotapool.service ExecStartPre (check-config) passes")
    log = open("/tmp/quotapool-serve-test.log", "ab")
    serve = Proc(subprocess.Popen(
        standalone["ExecStart"][0].split(), stdin=subprocess.DEVNULL,
        stdout=log, stderr=log, user=u.pw_uid, group=g.gr_gid,
        extra_groups=[], cwd="/", start_new_session=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": u.pw_dir},
        preexec_fn=lambda: os.umask(0o077)), "quotapool-admin serve")
    chat_through("quotapool.service")
    pids = [serve.p.pid] + qp.descendants(serve.p.pid)
    is_eq(serve.stop(), 0, "quotapool.service: serve stops on SIGTERM")
    ok(gone(pids), "quotapool.service: lighttpd and quotapool.fcgi are gone")

mock.stop()

# ---- remove and purge ------------------------------------------------------------

sh("lighty-enable-mod", "quotapool")
if shutil.which("a2enconf"):
    sh("a2enconf", "-q", "quotapool")
r = sh("dpkg", "-r", "quotapool")
is_eq(r.rc, 0, "dpkg -r quotapool")
ok(os.path.exists(CONF) and os.path.exists(db) and os.path.exists(env_file),
   "remove keeps the configuration, its .env and the database")
ok(not os.path.exists(ADMIN) and not os.path.exists(
    "/usr/libexec/quotapool/quotapool.fcgi"), "remove takes the programs")
ok(not os.path.lexists("/etc/lighttpd/conf-enabled/50-quotapool.conf") and
   not os.path.lexists("/etc/apache2/conf-enabled/quotapool.conf"),
   "remove disables the lighttpd and Apache configurations (their socket "
   "is gone)")
r = sh("dpkg", "--purge", "quotapool")
is_eq(r.rc, 0, "dpkg --purge quotapool")
dirs = ["/etc/quotapool", STATE, "/run/quotapool", "/usr/share/quotapool",
        "/usr/libexec/quotapool", "/usr/share/doc/quotapool",
        "/etc/lighttpd/conf-enabled/50-quotapool.conf",
        "/etc/apache2/conf-enabled/quotapool.conf"]
left = [f for f in files if os.path.lexists(f) and not os.path.isdir(f)]
left += [d for d in dirs if os.path.lexists(d)]
is_eq(left, [], "purge leaves none of the package's files, its state or its "
      "configuration")
is_eq(sh("getent", "passwd", "quotapool").rc, 2, "purge removes the user")
is_eq(sh("getent", "group", "quotapool").rc, 2, "purge removes the group")
r = sh("dpkg-statoverride", "--list")
ok("quotapool" not in r.out, "purge leaves no statoverride", r.out)
if shutil.which("a2query"):
    ok(sh("a2query", "-c", "quotapool").rc != 0, "Apache no longer knows the "
       "configuration")
if lighttpd_conf_enabled is not None:
    is_eq(set(os.listdir("/etc/lighttpd/conf-enabled")),
          lighttpd_conf_enabled, "lighttpd's conf-enabled is as before")
ok(not installed(), "the package is gone from dpkg's database")
qp.done()
