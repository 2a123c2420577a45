"""qp.py: the harness shared by quotapool's integration tests.

TAP output (stdout):
    qp.plan(n) (optional: done() prints the plan when none was given)
    qp.ok(cond, name, diag=None)   qp.is_eq(got, want, name)
    qp.like(text, regex, name)     qp.skip(reason, n=1)   qp.diag(msg)
    qp.skip_all(reason)            qp.bail_out(reason)    qp.done()
An uncaught exception becomes "not ok" plus "Bail out!"; every instance and
mock started through this module is stopped at exit, also on failure.

A gateway instance (real lighttpd + quotapool.fcgi, driven by quotapool-admin):
    qp.require_gateway()                  # SKIP when lighttpd/admin are missing
    mock = qp.mock(models=["m1"])          # in-process MockUpstream, started
    inst = qp.Instance(providers={"p1": {
        "mock": mock, "protocols": ["openai"], "models": ["m1"],
        "accounts": ["a1"]}})              # a1 gets api_key "k-a1"
    inst.start()                           # migrate, key new, serve, /v1/healthz
    r = inst.request("POST", "/v1/chat/completions", {"model": "m1", ...})
    r.status, r.headers["x-proxy-request-id"], r.json()
    with inst.stream("/v1/chat/completions", body) as s:
        for t, chunk in s: ...             # (monotonic arrival time, bytes)
    mock.script("k-a1", {"status": 429, "headers": {"Retry-After": "7"}})
    inst.db().execute("select ...")       # read-only sqlite3 connection
    res = inst.stop()                      # res.rc, res.elapsed, res.leftovers

Every instance's logs are read when it stops (and done() stops the ones
still running): a sanitizer report (AddressSanitizer, LeakSanitizer,
UndefinedBehaviorSanitizer's "runtime error:") or a restart of
quotapool.fcgi that the script did not announce with inst.expect_restart()
is a failed test point. The stderr of every command run() ran is read for
sanitizer reports the same way.
"""

import atexit
import collections
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mock_upstream import MockClient, MockUpstream  # noqa: E402

SRCDIR = os.environ.get("QP_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("QP_BUILDDIR") or os.getcwd()
LIGHTTPD = os.environ.get("LIGHTTPD", "")
ADMIN = os.path.join(BUILDDIR, "admin", "quotapool-admin")
FCGI = os.path.join(BUILDDIR, "fcgi", "quotapool.fcgi")
KEY_RE = re.compile(r"^qp_[0-9a-f]{48}$")
PYTHON = sys.executable or "python3"

# ---------------------------------------------------------------------------
# TAP

_tap = {"n": 0, "failed": 0, "plan": None, "finished": False,
        "bailed": False}


def _out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def diag(msg):
    """Prints msg as "# " comment lines."""
    for line in str(msg).splitlines() or [""]:
        _out("# " + line)


def plan(n):
    _tap["plan"] = n
    _out("1..%d" % n)


def ok(cond, name, diag_msg=None):
    """One test point; on failure prints diag_msg (str or callable)."""
    _tap["n"] += 1
    cond = bool(cond)
    name = str(name).replace("\n", " ").replace("#", "\\#")
    _out("%sok %d - %s" % ("" if cond else "not ", _tap["n"], name))
    if not cond:
        _tap["failed"] += 1
        here = os.path.abspath(__file__)
        for fr in reversed(traceback.extract_stack()):
            if os.path.abspath(fr.filename) != here:
                diag("  failed at %s line %d" % (
                    os.path.basename(fr.filename), fr.lineno))
                break
        if diag_msg is not None:
            diag(diag_msg() if callable(diag_msg) else diag_msg)
    return cond


def _short(v, limit=2000):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "... (%d chars)" % len(s)


def is_eq(got, want, name):
    """ok(got == want) printing expected and actual on failure."""
    return ok(got == want, name,
              lambda: "  expected: %s\n       got: %s" % (_short(want),
                                                         _short(got)))


def isnt_eq(got, unwanted, name):
    return ok(got != unwanted, name,
              lambda: "  expected anything but: %s" % _short(unwanted))


def like(got, pattern, name):
    """ok(re.search(pattern, got)) printing both on failure."""
    cond = isinstance(got, str) and re.search(pattern, got) is not None
    return ok(cond, name, lambda: "  expected to match: %s\n"
              "               got: %s" % (pattern, _short(got)))


def cmp_ok(got, op, want, name):
    ops = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
           ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
           "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    try:
        cond = ops[op](got, want)
    except TypeError:
        cond = False
    return ok(cond, name, lambda: "  expected: %s %s %s" % (_short(got), op,
                                                           _short(want)))


def skip(reason, n=1):
    for _ in range(n):
        _tap["n"] += 1
        _out("ok %d # skip %s" % (_tap["n"], reason))


def skip_all(reason):
    """Skips the whole script visibly ("1..0 # SKIP reason") and exits."""
    _tap["finished"] = True
    _out("1..0 # SKIP %s" % reason)
    sys.exit(0)


def bail_out(reason):
    _tap["bailed"] = True
    _tap["finished"] = True
    _out("Bail out! %s" % str(reason).replace("\n", " "))
    sys.exit(1)


def failed():
    return _tap["failed"]


def done():
    """Stops the instances still running (reading their logs), checks the
    commands run for sanitizer reports, prints the plan if none was given
    and exits (status 1 on failure)."""
    for obj in list(_live):
        if isinstance(obj, Instance) and obj.proc is not None:
            obj.stop()
    if _ran["n"]:
        ok(not _ran["reports"], "no sanitizer report in the stderr of the %d "
           "commands this script ran" % _ran["n"],
           lambda: "\n".join(_ran["reports"]))
    _tap["finished"] = True
    if _tap["plan"] is None:
        _out("1..%d" % _tap["n"])
    elif _tap["plan"] != _tap["n"]:
        diag("planned %d tests but ran %d" % (_tap["plan"], _tap["n"]))
    sys.exit(1 if _tap["failed"] else 0)


def _excepthook(etype, value, tb):
    if _tap["finished"]:
        sys.__excepthook__(etype, value, tb)
        return
    diag("".join(traceback.format_exception(etype, value, tb)))
    _tap["n"] += 1
    _tap["failed"] += 1
    _out("not ok %d - uncaught exception: %s: %s" % (
        _tap["n"], etype.__name__, str(value).replace("\n", " ")[:300]))
    _tap["bailed"] = True
    _tap["finished"] = True
    _out("Bail out! %s: %s" % (etype.__name__,
                               str(value).replace("\n", " ")[:300]))


def _at_exit_tap():
    if not _tap["finished"]:
        _tap["n"] += 1
        _out("not ok %d - test script ended without calling done()"
             % _tap["n"])
        _out("1..%d" % _tap["n"])


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("the test script ran longer than its %d s limit"
                      % _timeout[0])


def _on_term(signum, frame):
    raise SystemExit(128 + signum)


# QP_FCGI_WRAPPER: a command prefix quotapool.fcgi runs under (e.g.
# "valgrind --tool=memcheck --log-file=DIR/%q{QP_TEST_SCRIPT}.%p.log", see
# `make check-valgrind`); QP_TIMEOUT_SCALE multiplies the harness's bounds
# (script, start and stop) for such a slow run.
FCGI_WRAPPER = os.environ.get("QP_FCGI_WRAPPER", "").strip()
TIMEOUT_SCALE = max(1.0, float(os.environ.get("QP_TIMEOUT_SCALE") or 1))
_timeout = [int(int(os.environ.get("QP_TEST_TIMEOUT", "300")) * TIMEOUT_SCALE)]


def set_timeout(seconds):
    """Bounds the whole script: an exception is raised after seconds
    (times QP_TIMEOUT_SCALE)."""
    _timeout[0] = int(seconds * TIMEOUT_SCALE)
    signal.alarm(_timeout[0])


sys.excepthook = _excepthook
atexit.register(_at_exit_tap)
signal.signal(signal.SIGALRM, _on_alarm)
signal.signal(signal.SIGTERM, _on_term)
signal.alarm(_timeout[0])

# ---------------------------------------------------------------------------
# Cleanup of everything started here

_live = []


def _cleanup_all():
    while _live:
        obj = _live.pop()
        try:
            obj._cleanup()
        except Exception as e:  # a cleanup failure must not hide others
            diag("cleanup of %r failed: %s" % (obj, e))


atexit.register(_cleanup_all)

# ---------------------------------------------------------------------------
# Processes, found through /proc


def proc_stat(pid):
    """(ppid, pgid, starttime, state, comm) of pid, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    i, j = s.find("("), s.rfind(")")
    comm = s[i + 1:j]
    f = s[j + 2:].split()
    return int(f[1]), int(f[2]), int(f[19]), f[0], comm


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace")
                    for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(pid):
    """Every live process below pid (children, grandchildren, ...)."""
    children = collections.defaultdict(list)
    for p in _all_pids():
        st = proc_stat(p)
        if st is not None and st[3] != "Z":
            children[st[0]].append(p)
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def group_members(pgid):
    out = []
    for p in _all_pids():
        st = proc_stat(p)
        if st is not None and st[1] == pgid and st[3] != "Z":
            out.append(p)
    return out


class ProcRef:
    """A process identified by pid and start time (safe from pid reuse)."""

    def __init__(self, pid):
        st = proc_stat(pid)
        self.pid = pid
        self.start = st[2] if st else None
        self.comm = st[4] if st else "?"
        self.cmdline = proc_cmdline(pid)

    def alive(self):
        st = proc_stat(self.pid)
        return st is not None and st[2] == self.start and st[3] != "Z"

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except OSError:
                pass

    def __repr__(self):
        return "%d(%s)" % (self.pid, self.comm)


def _tree_refs(pid):
    pids = set(descendants(pid)) | set(group_members(pid))
    pids.discard(pid)
    return [r for r in (ProcRef(p) for p in sorted(pids)) if r.start]


def free_port():
    """A port on 127.0.0.1 free right now (bind to 0, read, close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class CmdResult:
    """Outcome of a bounded command: rc, out, err (text), timed_out."""

    def __init__(self, args, pid, rc, out, err, timed_out):
        self.args, self.pid, self.rc = args, pid, rc
        self.out, self.err, self.timed_out = out, err, timed_out

    def lines(self, which="out"):
        return [l for l in getattr(self, which).splitlines() if l.strip()]

    def __repr__(self):
        return "rc=%r%s\nstdout: %s\nstderr: %s" % (
            self.rc, " (timed out)" if self.timed_out else "",
            self.out.rstrip(), self.err.rstrip())


def child_env(extra=None):
    env = dict(os.environ)
    env.pop("QUOTAPOOL_CONFIG", None)
    if LIGHTTPD:
        env["LIGHTTPD"] = LIGHTTPD
    env.update(extra or {})
    return env


# A sanitizer's report in a program's output: ASan and LSan name themselves
# ("==PID==ERROR: AddressSanitizer: ...", "ERROR: LeakSanitizer: ..."),
# UBSan writes "FILE:LINE:COL: runtime error: ...".
SANITIZER_RE = re.compile(r"AddressSanitizer|LeakSanitizer|"
                          r"UndefinedBehaviorSanitizer|ThreadSanitizer|"
                          r"runtime error:")

_ran = {"n": 0, "reports": []}


def sanitizer_lines(text, context=12):
    """The lines of text from each sanitizer report on (a few of each)."""
    lines = text.splitlines()
    out, upto = [], 0
    for i, line in enumerate(lines):
        if i >= upto and SANITIZER_RE.search(line):
            upto = i + context
            out.extend(lines[i:upto])
            if len(out) > 60:
                break
    return out


def run(args, timeout=30.0, env=None, input_text=None, cwd=None):
    """Runs args in its own process group, bounded by timeout; on timeout
    the whole tree is killed. Returns a CmdResult."""
    p = subprocess.Popen(args, stdin=subprocess.PIPE if input_text else
                         subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env or child_env(),
                         cwd=cwd, start_new_session=True)
    timed_out = False
    try:
        out, err = p.communicate(input_text.encode() if input_text else None,
                                 timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        refs = _tree_refs(p.pid)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        for r in refs:
            r.kill()
        out, err = p.communicate()
    res = CmdResult(args, p.pid, p.returncode, out.decode("utf-8", "replace"),
                    err.decode("utf-8", "replace"), timed_out)
    _ran["n"] += 1
    found = sanitizer_lines(res.err)
    if found:
        _ran["reports"].append("---- %s\n%s" % (" ".join(map(str, args)),
                                                "\n".join(found)))
    return res


def in_ci():
    """True under continuous integration (CI=true, as .ci/run runs)."""
    return os.environ.get("CI", "").lower() == "true"


def missing(reason, n=1):
    """A test that cannot run because something is not installed: skipped
    (visibly) on a developer's machine, failed under CI, where .ci/run
    installs everything the tests use."""
    if not in_ci():
        skip(reason, n)
        return
    for _ in range(n):
        ok(False, "not installed, and CI must run this: %s" % reason)


def node_packages_dir():
    """Where tests/integration/npm-install.sh puts the pinned Node.js
    packages: $QP_NODE_PACKAGES, else ${XDG_CACHE_HOME:-~/.cache}/quotapool/npm."""
    d = os.environ.get("QP_NODE_PACKAGES")
    if d:
        return d
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "quotapool", "npm")


def node_modules_with(pkg):
    """A node_modules directory holding pkg ("openai", "@anthropic-ai/sdk"),
    or None: $QP_SDK_NODE_MODULES, then node_packages_dir(), then
    $QP_BUILDDIR/sdk/node_modules, then NODE_PATH. None without node."""
    if shutil.which("node") is None:
        return None
    cands = [os.environ.get("QP_SDK_NODE_MODULES"),
             os.path.join(node_packages_dir(), "node_modules"),
             os.path.join(BUILDDIR, "sdk", "node_modules")]
    cands += (os.environ.get("NODE_PATH") or "").split(os.pathsep)
    for d in cands:
        if d and os.path.isfile(os.path.join(d, pkg, "package.json")):
            return d
    return None


def require_gateway():
    """skip_all() unless lighttpd, quotapool-admin and quotapool.fcgi exist."""
    if not LIGHTTPD:
        skip_all("LIGHTTPD is not set (run through make check)")
    if not os.access(LIGHTTPD, os.X_OK):
        skip_all("lighttpd not found at %s" % LIGHTTPD)
    if not os.access(ADMIN, os.X_OK):
        skip_all("admin binary %s is not built yet" % ADMIN)
    if not os.access(FCGI, os.X_OK):
        skip_all("%s is not built yet" % FCGI)


def admin(*args, config=None, timeout=30.0, env=None):
    """Runs quotapool-admin [--config PATH] ARGS... (bounded)."""
    cmd = [ADMIN]
    if config is not None:
        cmd += ["--config", config]
    return run(cmd + [str(a) for a in args], timeout=timeout, env=env)


def tempdir(prefix="qp-"):
    """A fresh temporary directory removed at exit (unless QP_KEEP_TMP)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    if len(base) > 40 or " " in base:
        base = "/tmp"  # unix socket paths are short, lighttpd dislikes spaces
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    _live.append(_TempDir(d))
    return d


class _TempDir:
    def __init__(self, path):
        self.path = path

    def _cleanup(self):
        if os.environ.get("QP_KEEP_TMP"):
            diag("kept %s" % self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)

# ---------------------------------------------------------------------------
# HTTP


class Response(collections.namedtuple("Response", "status headers body")):
    """(status, headers, body bytes); headers is case-insensitive."""

    def json(self):
        return json.loads(self.body)

    def try_json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


NO_KEY = None
_DEFAULT = object()


def _headers(body, headers, key, auth):
    h = {}
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    elif isinstance(body, str):
        data = body.encode()
    elif body is not None:
        data = bytes(body)
    if key is not None:
        if auth == "x-api-key":
            h["x-api-key"] = key
        else:
            h["Authorization"] = "Bearer " + key
    h.update(headers or {})
    return data, h


def http_request(port, method, path, body=None, headers=None, key=None,
                 timeout=30.0, auth="bearer", host="127.0.0.1"):
    """One HTTP/1.1 request; returns Response(status, headers, body)."""
    data, h = _headers(body, headers, key, auth)
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return Response(r.status, r.headers, r.read())
    finally:
        c.close()


class Stream:
    """A streaming request: status and headers, then (time, chunk) pairs.

    Iterating yields (time.monotonic() at arrival, raw bytes) as they come;
    an abnormal end (cut, reset) ends the iteration and is kept in .error.
    close() hangs up at once (the client going away)."""

    def __init__(self, port, path, body, headers=None, key=None,
                 method="POST", timeout=30.0, auth="bearer"):
        data, h = _headers(body, headers, key, auth)
        self.chunks = []
        self.error = None
        self.t_sent = time.monotonic()
        self.conn = http.client.HTTPConnection("127.0.0.1", port,
                                               timeout=timeout)
        self.conn.request(method, path, body=data, headers=h)
        self.resp = self.conn.getresponse()
        self.t_headers = time.monotonic()
        self.status = self.resp.status
        self.headers = self.resp.headers

    def __iter__(self):
        while True:
            try:
                chunk = self.resp.read1(65536)
            except (http.client.IncompleteRead, OSError,
                    http.client.HTTPException) as e:
                self.error = e
                return
            if not chunk:
                return
            t = time.monotonic()
            self.chunks.append((t, chunk))
            yield t, chunk

    def read_all(self):
        """Reads to the end; returns every byte received (also earlier)."""
        for _ in self:
            pass
        return self.body

    @property
    def body(self):
        return b"".join(c for _, c in self.chunks)

    def events(self):
        return parse_sse(self.body)

    def close(self):
        try:
            self.conn.sock and self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_sse(data):
    """SSE text -> [(event name or None, data)]; data lines joined by \\n."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    data = data.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for block in data.split("\n\n"):
        name, lines, seen = None, [], False
        for line in block.split("\n"):
            if line.startswith(":") or not line:
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                name, seen = value, True
            elif field == "data":
                lines.append(value)
                seen = True
        if seen:
            out.append((name, "\n".join(lines)))
    return out

# ---------------------------------------------------------------------------
# TOML for the instance config


def _toml_key(k):
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else _toml_str(k)


def _toml_str(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7f:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("no inf/nan in instance configs")
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (_toml_key(k), toml_value(x))
                               for k, x in v.items()) + "}"
    raise TypeError("cannot write %r as TOML" % (v,))


def _is_table_array(v):
    return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)


def toml_dumps(doc, prefix=(), header=None):
    """A dict of tables -> TOML text (scalars first, then sub-tables, then
    arrays of tables). header: the line opening this table, if any."""
    path = ".".join(_toml_key(p) for p in prefix)
    scalars = [(k, v) for k, v in doc.items()
               if not isinstance(v, dict) and not _is_table_array(v)]
    tables = [(k, v) for k, v in doc.items() if isinstance(v, dict)]
    arrays = [(k, v) for k, v in doc.items() if _is_table_array(v)]
    lines = []
    if header is None and prefix and (scalars or not (tables or arrays)):
        header = "[%s]" % path
    if header:
        lines.append(header)
    for k, v in scalars:
        lines.append("%s = %s" % (_toml_key(k), toml_value(v)))
    if lines:
        lines.append("")
    for k, v in tables:
        lines.append(toml_dumps(v, prefix + (k,)))
    for k, v in arrays:
        sub = prefix + (k,)
        for item in v:
            lines.append(toml_dumps(item, sub, header="[[%s]]" % ".".join(
                _toml_key(p) for p in sub)))
    return "\n".join(lines).rstrip("\n") + "\n"

# ---------------------------------------------------------------------------
# Mocks


def mock(style="openai", models=None, valid_keys=None, tls=None):
    """An in-process MockUpstream, started, stopped at exit (tls: (cert,
    key) files to serve HTTPS)."""
    m = MockUpstream(style=style, models=models, valid_keys=valid_keys,
                     tls=tls).start()
    m._cleanup = m.stop
    _live.append(m)
    return m


class MockProcess(MockClient):
    """mock_upstream.py run as its own process, driven over /_mock/."""

    def __init__(self, style="openai", models=None, valid_keys=None,
                 timeout=10.0):
        cmd = [PYTHON, os.path.join(HERE, "mock_upstream.py"), "--port", "0",
               "--style", style]
        if models is not None:
            cmd += ["--models", ",".join(models)]
        if valid_keys is not None:
            cmd += ["--keys", ",".join(valid_keys)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        _live.append(self)
        line = b""
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("mock_upstream.py did not print its port "
                                   "(got %r)" % line)
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                b = os.read(self.proc.stdout.fileno(), 1)
                if not b:
                    continue
                line += b
        m = re.match(rb"^PORT (\d+)\n$", line)
        if not m:
            raise RuntimeError("mock_upstream.py printed %r" % line)
        super().__init__("http://127.0.0.1:%d" % int(m.group(1)))

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, timeout=5.0):
        """SIGTERM, bounded wait, then SIGKILL; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        return self.proc.returncode

    def _cleanup(self):
        self.stop()

# ---------------------------------------------------------------------------
# A gateway instance


class StopResult(collections.namedtuple(
        "StopResult", "rc elapsed leftovers forced stopped")):
    """rc: serve's exit status; elapsed: seconds from the signal until serve
    and everything below it were gone; leftovers: processes still alive at
    the deadline (then killed); forced: SIGKILL was needed for serve;
    stopped: the processes that were running under serve."""


class StartError(RuntimeError):
    pass


# An app log line "... quotapool[PID]: level: ..." (a process of each start).
APP_PID_RE = re.compile(r"\bquotapool\[(\d+)\]: ")
# lighttpd's error.log when a FastCGI backend it started dies.
BACKEND_DEATH_RE = re.compile(r"\(gw_backend\.c\.\d+\) child (?:signalled|"
                              r"exited)")
_instances = [0]


class Instance:
    """A quotapool instance in its own temporary directory.

    providers: {id: {"mock": MockUpstream (sets base_url), "base_url": ...,
                     "protocols": [...], "models": [...],
                     "routing_priority": 0, "accounts": [name | dict], ...}}
      an account given as a name N becomes {"name": N, "api_key": "k-N"};
      other keys are written as they are.
    server, database: extra keys of [server] / [database].
    sections: other tables, e.g. {"routing": {"max_attempts": 3}}.
    extra_toml: raw text appended to config.toml.
    procs: quotapool.fcgi processes behind lighttpd (serve --procs).
    """

    def __init__(self, providers=None, server=None, database=None,
                 sections=None, extra_toml="", prefix="qp-it-", procs=1):
        self.dir = tempdir(prefix)
        self.config_path = os.path.join(self.dir, "config.toml")
        self.state_dir = os.path.join(self.dir, "state")
        self.db_path = os.path.join(self.dir, "quotapool.db")
        self.providers = providers or {}
        self.server = dict(server or {})
        self.database = dict(database or {})
        self.sections = dict(sections or {})
        self.extra_toml = extra_toml
        self.procs = procs
        self.port = free_port()
        self.key = None
        self.proc = None
        self.last_stop = None
        self._out = self._err = None
        _instances[0] += 1
        self.serial = _instances[0]
        self.runs = 0
        self.expected_restarts = 0
        self._log_base = {}
        self.write_config()
        _live.append(self)

    # -- configuration ----------------------------------------------------

    def config_doc(self):
        doc = {"server": dict({"port": self.port,
                               "state_dir": self.state_dir}, **self.server),
               "database": dict({"path": self.db_path}, **self.database)}
        doc.update(self.sections)
        provs = {}
        for pid, p in self.providers.items():
            p = dict(p)
            m = p.pop("mock", None)
            if m is not None and "base_url" not in p:
                p = dict({"base_url": m.base_url}, **p)
            accounts = []
            for a in p.pop("accounts", []):
                if isinstance(a, str):
                    a = {"name": a, "api_key": "k-" + a}
                accounts.append(dict(a))
            if accounts:
                p["accounts"] = accounts
            provs[pid] = p
        if provs:
            doc["providers"] = provs
        return doc

    def config_text(self):
        text = "# written by tests/integration/qp.py\n" + \
            toml_dumps(self.config_doc())
        if self.extra_toml:
            text += "\n" + self.extra_toml.strip("\n") + "\n"
        return text

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        os.chmod(self.config_path, 0o600)

    # -- admin ------------------------------------------------------------

    def admin(self, *args, timeout=30.0, env=None):
        """quotapool-admin --config THIS ARGS... -> CmdResult."""
        return admin(*args, config=self.config_path, timeout=timeout, env=env)

    def migrate(self):
        r = self.admin("migrate")
        if r.rc != 0:
            raise StartError("quotapool-admin migrate failed: %r" % r)
        return r

    def new_key(self, name, admin_role=False, worker=False):
        """Issues a client key (admin key if admin_role, a remote worker's
        if worker) and returns it."""
        args = ["key", "new", name] + (["--admin"] if admin_role else []) + \
            (["--worker"] if worker else [])
        r = self.admin(*args)
        lines = r.lines()
        if r.rc != 0 or len(lines) != 1 or not KEY_RE.match(lines[0]):
            raise StartError("quotapool-admin key new %s: %r" % (name, r))
        return lines[0]

    # -- life cycle -------------------------------------------------------

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, migrate=True, key=True, timeout=10.0, attempts=3):
        """Migrates (unless migrate=False), issues self.key (unless key=False),
        starts serve and waits (bounded) for GET /v1/healthz = 200."""
        if migrate:
            self.migrate()
        if key and self.key is None:
            self.key = self.new_key("it")
        self.runs += 1
        self.expected_restarts = 0
        self._log_base = self._log_sizes()
        last = ""
        for attempt in range(attempts):
            if attempt > 0:
                self.port = free_port()
                self.write_config()
            err = self._start_once(timeout)
            if err is None:
                return self
            last = err
            if not re.search(r"in use|EADDRINUSE|bind", err, re.I):
                break
        raise StartError("quotapool-admin serve did not start: %s" % last)

    def _fcgi_env(self):
        """{QUOTAPOOL_FCGI: a script running quotapool.fcgi under
        QP_FCGI_WRAPPER} when that is set, else {}."""
        if not FCGI_WRAPPER:
            return {}
        path = os.path.join(self.dir, "fcgi-wrapper.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nQP_TEST_SCRIPT=%s\nexport QP_TEST_SCRIPT\n"
                    "exec %s %s \"$@\"\n" % (
                        os.path.basename(sys.argv[0]) or "qp", FCGI_WRAPPER,
                        FCGI))
        os.chmod(path, 0o755)
        return {"QUOTAPOOL_FCGI": path}

    def _start_once(self, timeout):
        timeout *= TIMEOUT_SCALE
        outp = os.path.join(self.dir, "serve.out")
        errp = os.path.join(self.dir, "serve.err")
        self._out = open(outp, "ab")
        self._err = open(errp, "ab")
        base_out = self._out.tell()
        base_err = self._err.tell()
        self.proc = subprocess.Popen(
            [ADMIN, "--config", self.config_path, "serve", "--port",
             str(self.port)] + (["--procs", str(self.procs)]
                                if self.procs != 1 else []),
            stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=self._err, env=child_env(self._fcgi_env()),
            start_new_session=True)
        want = "quotapool listening on http://127.0.0.1:%d/" % self.port
        deadline = time.monotonic() + timeout
        listening = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if not listening:
                with open(outp, "rb") as f:
                    f.seek(base_out)
                    listening = want in f.read().decode("utf-8", "replace")
            if listening:
                try:
                    r = http_request(self.port, "GET", self.server.get(
                        "base_path", "").rstrip("/") + "/v1/healthz",
                        timeout=2)
                    if r.status == 200:
                        return None
                except OSError:
                    pass
            time.sleep(0.05)
        with open(errp, "rb") as f:
            f.seek(base_err)
            err = f.read().decode("utf-8", "replace").strip()
        rc = self.proc.poll()
        self.stop(check=False)
        if rc is not None:
            return "exit status %d: %s" % (rc, err)
        return "not healthy within %.0f s (%s listening line); stderr: %s" % (
            timeout, "saw the" if listening else "no", err)

    def stop(self, timeout=10.0, sig=signal.SIGTERM, check=True):
        """Signals serve, waits (bounded), SIGKILLs what is left of its
        process tree, and reports what happened (StopResult). Then (unless
        check is false) reads what this run wrote to the logs: one test
        point, failed by a sanitizer report or an unannounced restart of
        quotapool.fcgi (see check_logs)."""
        if self.proc is None:
            return self.last_stop
        timeout *= TIMEOUT_SCALE
        p = self.proc
        refs = _tree_refs(p.pid) if p.poll() is None else []
        t0 = time.monotonic()
        forced = False
        try:
            os.kill(p.pid, sig)
        except OSError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            forced = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait(5)
        deadline = t0 + timeout
        while any(r.alive() for r in refs) and time.monotonic() < deadline:
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        leftovers = [r for r in refs if r.alive()]
        for r in leftovers:
            r.kill()
        for extra in group_members(p.pid):
            ProcRef(extra).kill()
        self.proc = None
        for f in (self._out, self._err):
            if f is not None:
                f.close()
        self._out = self._err = None
        self.last_stop = StopResult(p.returncode, elapsed, leftovers, forced,
                                    refs)
        if check:
            self.check_logs()
        return self.last_stop

    def expect_restart(self, n=1):
        """Announces that the script makes quotapool.fcgi restart n times
        (kill -9 and the like): check_logs then accepts n restarts."""
        self.expected_restarts += n

    def log_findings(self):
        """(sanitizer report lines, app pids, restarts) in what the logs got
        since this run started. restarts: the processes that started beyond
        the procs first ones, or lighttpd's count of backends that died, the larger."""
        reports, pids, deaths = [], [], 0
        for name, text in self._logs_since(self._log_base).items():
            found = sanitizer_lines(text)
            if found:
                reports.append("---- %s\n%s" % (name, "\n".join(found)))
            for pid in APP_PID_RE.findall(text):
                if pid not in pids:
                    pids.append(pid)
            deaths += len(BACKEND_DEATH_RE.findall(text))
        return reports, pids, max(len(pids) - self.procs, deaths)

    def check_logs(self):
        """One test point for this run's logs (a diagnostic only, once the
        script has ended): no sanitizer report, and no restart of
        quotapool.fcgi beyond those announced with expect_restart()."""
        reports, pids, restarts = self.log_findings()
        bad = bool(reports) or restarts > self.expected_restarts
        name = ("instance %d, run %d: no sanitizer report in its logs, %d "
                "quotapool.fcgi restart(s) as announced" % (
                    self.serial, self.runs, self.expected_restarts))

        def why():
            out = list(reports)
            if restarts > self.expected_restarts:
                out.append("quotapool.fcgi restarted %d time(s), %d announced;"
                           " processes that logged: %s" % (
                               restarts, self.expected_restarts,
                               " ".join(pids)))
            out.append("logs in %s" % self.dir)
            return "\n".join(out)
        if _tap["finished"]:
            if bad:
                diag("%s: FAILED\n%s" % (name, why()))
            return not bad
        return ok(not bad, name, why)

    def _cleanup(self):
        if self.proc is not None:
            res = self.stop()
            if res.leftovers:
                diag("killed leftover processes: %r" % (res.leftovers,))
        if _tap["failed"]:
            self.dump_logs()

    # -- inspection -------------------------------------------------------

    def pids(self):
        """Live processes under serve (lighttpd, quotapool.fcgi, ...)."""
        if not self.running:
            return []
        return descendants(self.proc.pid)

    def app_pids(self):
        """The quotapool.fcgi processes of this instance."""
        out = []
        for pid in self.pids():
            st = proc_stat(pid)
            cmd = proc_cmdline(pid)
            if (st and st[4] == "quotapool.fcgi") or any(
                    os.path.basename(a) == "quotapool.fcgi" for a in cmd):
                out.append(pid)
        return out

    def lighttpd_pids(self):
        return [p for p in self.pids()
                if (proc_stat(p) or (0, 0, 0, "", ""))[4] == "lighttpd"]

    def db(self):
        """A read-only sqlite3 connection to the instance database."""
        uri = "file:%s?mode=ro" % urllib.parse.quote(self.db_path)
        return sqlite3.connect(uri, uri=True, timeout=5)

    def _log_files(self):
        """{name: path} of the state dir's *.log files ("state/error.log",
        ...) and serve's output ("serve.out", "serve.err")."""
        out = {}
        for sub in ("state", ""):
            base = os.path.join(self.dir, sub) if sub else self.dir
            if not os.path.isdir(base):
                continue
            for n in sorted(os.listdir(base)):
                p = os.path.join(base, n)
                if os.path.isfile(p) and (n.endswith(".log") or
                                          n in ("serve.out", "serve.err")):
                    out[os.path.join(sub, n) if sub else n] = p
        return out

    def _log_sizes(self):
        out = {}
        for key, p in self._log_files().items():
            try:
                out[key] = os.path.getsize(p)
            except OSError:
                pass
        return out

    def _logs_since(self, base):
        """{name: text} written to each log after the offsets in base."""
        out = {}
        for key, p in self._log_files().items():
            try:
                with open(p, "rb") as f:
                    f.seek(base.get(key, 0))
                    out[key] = f.read().decode("utf-8", "replace")
            except OSError:
                pass
        return out

    def logs(self):
        """{name: text} of the state dir's *.log files ("state/error.log",
        ...) and serve's output ("serve.out", "serve.err")."""
        return self._logs_since({})

    def dump_logs(self, lines=40):
        for name, text in self.logs().items():
            tail = text.splitlines()[-lines:]
            if tail:
                diag("---- %s/%s (last %d lines)" % (self.dir, name,
                                                       len(tail)))
                diag("\n".join(tail))

    # -- HTTP -------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, key=_DEFAULT,
                timeout=30.0, auth="bearer"):
        """HTTP request to the instance; key defaults to self.key (None: no
        credentials). Returns Response(status, headers, body)."""
        return http_request(self.port, method, path, body, headers,
                            self.key if key is _DEFAULT else key, timeout,
                            auth)

    def stream(self, path, body, key=_DEFAULT, headers=None, timeout=30.0,
               auth="bearer", method="POST"):
        """Starts a streaming request; see Stream."""
        return Stream(self.port, path, body, headers,
                      self.key if key is _DEFAULT else key, method, timeout,
                      auth)

    def wait_status(self, path, status, timeout=10.0, key=None):
        """Polls GET path until it answers status; returns the last Response
        (or None if nothing answered)."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = self.request("GET", path, key=key, timeout=5)
                if last.status == status:
                    return last
            except OSError:
                pass
            if time.monotonic() >= deadline:
                return last
            time.sleep(0.1)
