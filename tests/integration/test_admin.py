#!/usr/bin/env python3
"""test_admin.py: quotapool-admin as an operator uses it: init, migrate,
key new/list/revoke, check-config, serve refusing a busy port, unknown
commands, version."""

import os
import re
import stat
import sys
import tomllib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
from qp import cmp_ok, is_eq, isnt_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

home = qp.tempdir("qp-adm-home-")
# No configuration is found by accident: no ./config.toml, an empty XDG dir.
ENV = qp.child_env({"HOME": home, "XDG_CONFIG_HOME": home})


def adm(*args, config=None, timeout=30.0):
    r = qp.admin(*args, config=config, timeout=timeout, env=ENV)
    if r.timed_out:
        qp.diag("quotapool-admin %s did not finish within %.0f s"
                % (" ".join(str(a) for a in args), timeout))
    return r


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def one_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return len(lines) == 1


# --- init -------------------------------------------------------------------
top = qp.tempdir("qp-adm-")
idir = os.path.join(top, "inst")
port = qp.free_port()
r = adm("init", idir, "--port", port)
is_eq(r.rc, 0, "init: exit 0") or qp.diag(repr(r))
keylines = [l for l in r.out.splitlines() if qp.KEY_RE.match(l)]
is_eq(len(keylines), 1, "init: prints one line that is exactly a key "
      "(^qp_[0-9a-f]{48}$)") or qp.diag(repr(r))
first_key = keylines[0] if keylines else "qp_" + "0" * 48
cfg = os.path.join(idir, "config.toml")
dbf = os.path.join(idir, "quotapool.db")
ok(os.path.isfile(cfg), "init: creates DIR/config.toml")
ok(os.path.isfile(dbf), "init: creates DIR/quotapool.db")
ok(os.path.isdir(os.path.join(idir, "state")), "init: creates DIR/state")
if os.path.isfile(dbf):
    is_eq(oct(mode(dbf)), oct(0o600), "init: the database file is mode 0600")
else:
    qp.skip("no database file")
if os.path.isfile(cfg):
    is_eq(mode(cfg) & 0o077, 0, "init: config.toml is not readable by others")
    try:
        doc = tomllib.loads(open(cfg).read())
    except tomllib.TOMLDecodeError as e:
        doc = {}
        ok(False, "init: config.toml is TOML", str(e))
    is_eq(doc.get("server", {}).get("port"), port,
          "init: [server] port is the --port given")
    dbp = doc.get("database", {}).get("path", "")
    dbp = dbp if os.path.isabs(dbp) else os.path.join(idir, dbp)
    is_eq(os.path.realpath(dbp), os.path.realpath(dbf),
          "init: [database] path names DIR/quotapool.db")
else:
    qp.skip("no config.toml", 3)

r = adm("check-config", config=cfg)
is_eq(r.rc, 0, "check-config: the config made by init is valid") or \
    qp.diag(repr(r))
r = adm("check-config", "--config", cfg)
is_eq(r.rc, 0, "check-config: --config also accepted after the command")

# --- migrate ----------------------------------------------------------------
mock = qp.mock(models=["m1"])
inst = qp.Instance(providers={"p1": {
    "mock": mock, "protocols": ["openai"], "models": ["m1"],
    "accounts": ["a1"]}})
r = adm("migrate", config=inst.config_path)
is_eq(r.rc, 0, "migrate: exit 0 on a new database") or qp.diag(repr(r))
n = 0
if os.path.isfile(inst.db_path):
    with inst.db() as c:
        n = c.execute("select count(*) from sqlite_master "
                      "where type = 'table'").fetchone()[0]
cmp_ok(n, ">", 0, "migrate: the database has tables")
r = adm("migrate", "--config", inst.config_path)
is_eq(r.rc, 0, "migrate: again (nothing to do), --config after: exit 0")

# --- keys -------------------------------------------------------------------
# On the instance's config (it has a provider, so no config warnings mix
# into stderr); the init key is looked for in the init config's list.
icfg = inst.config_path
r = adm("key", "new", "alice", config=icfg)
is_eq(r.rc, 0, "key new: exit 0") or qp.diag(repr(r))
lines = r.lines()
ok(len(lines) == 1 and qp.KEY_RE.match(lines[0]),
   "key new: prints the key alone on one stdout line", repr(r))
alice = lines[0] if lines else "qp_" + "1" * 48
r = adm("key", "new", "bob", "--admin", config=icfg)
lines = r.lines()
ok(r.rc == 0 and len(lines) == 1 and qp.KEY_RE.match(lines[0]),
   "key new --admin: prints one key", repr(r))
bob = lines[0] if lines else "qp_" + "2" * 48
isnt_eq(alice, bob, "key new: every key is different")

r = adm("key", "list", config=icfg)
is_eq(r.rc, 0, "key list: exit 0") or qp.diag(repr(r))
ok("alice" in r.out and "bob" in r.out, "key list: shows the names",
   repr(r))
for name, k in (("alice", alice), ("bob", bob)):
    ok(k[:9] in r.out, "key list: shows the prefix of %s (%s)" % (name,
                                                                  k[:9]),
       repr(r))
    ok(k[:10] not in r.out + r.err and k[9:] not in r.out + r.err,
       "key list: never more than 9 characters of %s" % name, repr(r))
r2 = adm("key", "list", "--config", icfg)
is_eq((r2.rc, r2.out), (0, r.out), "key list: --config after the command")
r = adm("key", "list", config=cfg)
ok(r.rc == 0 and first_key[:9] in r.out and first_key[9:] not in r.out,
   "key list: shows the init key by its prefix only", repr(r))

r = adm("key", "revoke", "alice", config=icfg)
is_eq(r.rc, 0, "key revoke: exit 0") or qp.diag(repr(r))
r = adm("key", "revoke", "alice", config=icfg)
isnt_eq(r.rc, 0, "key revoke twice: non-zero exit")
ok(one_line(r.err), "key revoke twice: one line on stderr", repr(r))
r = adm("key", "revoke", "nobody-by-that-name", config=icfg)
isnt_eq(r.rc, 0, "key revoke of an unknown name: non-zero exit")
ok(one_line(r.err), "key revoke of an unknown name: one line on stderr",
   repr(r))
r = adm("key", "list", config=icfg)
ok(r.rc == 0 and bob[:9] in r.out, "key list: still works after revoking",
   repr(r))

# --- check-config on mistakes -----------------------------------------------
bad = os.path.join(top, "bad.toml")
text = """# a config with two mistakes
[server]
port = %d
thraeds = 4
state_dir = "%s"

[database]
path = "%s"

[providers.p1]
base_url = "http://127.0.0.1:9/v1"
protocols = ["openai"]
models = ["m1"]

[[providers.p1.accounts]]
name = "a1"
api_key = "your-api-key"
""" % (port, os.path.join(top, "bad-state"), os.path.join(top, "bad.db"))
with open(bad, "w") as f:
    f.write(text)
src = text.splitlines()
typo_line = 1 + next(i for i, l in enumerate(src) if l.startswith("thraeds"))
key_line = 1 + next(i for i, l in enumerate(src) if l.startswith("api_key"))
r = adm("check-config", config=bad)
is_eq(r.rc, 1, "check-config with mistakes: exit 1")
diags = [l for l in r.err.splitlines()
         if re.match(r"^%s:\d+:\d+: error: " % re.escape(bad), l)]
ok(diags, "check-config: PATH:LINE:COL: error: lines on stderr", repr(r))
ok(any(l.startswith("%s:%d:" % (bad, typo_line)) and "thraeds" in l
       for l in diags),
   "check-config: reports the unknown key thraeds at line %d" % typo_line,
   repr(r))
ok(any(l.startswith("%s:%d:" % (bad, key_line)) for l in diags),
   "check-config: reports the placeholder api_key at line %d" % key_line,
   repr(r))
is_eq(len([l for l in r.err.splitlines() if ": error: " in l]), 2,
      "check-config: reports these two mistakes and nothing else") or \
    qp.diag(repr(r))

# --- serve: a second one on a busy port -------------------------------------
try:
    inst.start(migrate=False)
    started = True
except qp.StartError as e:
    started = False
    ok(False, "serve: the first instance starts", str(e))
if started:
    ok(True, "serve: the first instance starts")
    other = qp.Instance(providers=inst.providers)
    other.port = inst.port
    other.write_config()
    r = adm("serve", "--port", inst.port, config=other.config_path,
            timeout=20)
    ok(not r.timed_out, "second serve on the same port: returns (does not "
       "serve)", repr(r))
    isnt_eq(r.rc, 0, "second serve on the same port: non-zero exit")
    ok(one_line(r.err), "second serve on the same port: one line on stderr",
       repr(r))
    like(r.err, r"\b%d\b" % inst.port,
         "second serve on the same port: the message names the port")
    r = inst.request("GET", "/v1/healthz", key=None)
    is_eq(r.status, 200, "the first instance keeps serving")
    ok(inst.running, "the first serve is still running")
    res = inst.stop()
    is_eq((res.rc, res.leftovers), (0, []), "the first serve stops cleanly")
else:
    qp.skip("the first instance did not start", 7)

# --- unknown command, version -----------------------------------------------
r = adm("frobnicate", config=cfg)
isnt_eq(r.rc, 0, "unknown command: non-zero exit")
ok(one_line(r.err), "unknown command: one line on stderr", repr(r))
like(r.err, r"frobnicate", "unknown command: the message names it")

version = None
try:
    with open(os.path.join(qp.BUILDDIR, "Makefile")) as f:
        for line in f:
            m = re.match(r"^PACKAGE_VERSION = (\S+)", line)
            if m:
                version = m.group(1)
except OSError:
    pass
r = qp.run([qp.ADMIN, "version"], env=ENV, cwd=home)
is_eq(r.rc, 0, "version: exit 0 without any configuration") or \
    qp.diag(repr(r))
if version:
    like(r.out, re.escape(version), "version: prints %s" % version)
else:
    like(r.out, r"\d+\.\d+", "version: prints a version number")

qp.done()
