#!/usr/bin/env python3
"""test_backup.py: quotapool-admin backup, backup list, backup verify and
restore against a gateway serving traffic: an online, consistent copy whose
row counts and token sums equal the database at the backup's instant;
archives that are damaged, truncated, foreign or from a newer schema are
refused with one line; restore into a new directory, and in place (refused
while the gateway serves it, then with .bak files kept); an older schema is
migrated forward; automatic backups by the maintenance thread with their
retention, /metrics gauges and runtime task."""

import glob
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import sys
import tarfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

NAME_RE = re.compile(r"^quotapool-backup-\d{8}-\d{6}(-auto)?(-\d+)?\.tar\.gz$")


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def facts(path):
    """The facts a manifest records, read from a database file."""
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        v = c.execute("SELECT coalesce(max(version), 0) FROM "
                      "schema_migrations").fetchone()[0]
        r = c.execute("SELECT count(*), coalesce(max(id), 0), "
                      "coalesce(sum(input_tokens), 0), "
                      "coalesce(sum(output_tokens), 0), "
                      "coalesce(sum(cache_read_tokens), 0), "
                      "coalesce(sum(cost_microdollars), 0) "
                      "FROM requests").fetchone()
    finally:
        c.close()
    return {"schema_version": v, "requests": r[0], "max_request_id": r[1],
            "input_tokens": r[2], "output_tokens": r[3],
            "cache_read_tokens": r[4], "cost_microdollars": r[5]}


def members(path):
    with tarfile.open(path, "r:gz") as t:
        return [(m.name, t.extractfile(m).read()) for m in t.getmembers()]


def write_bundle(path, files, manifest=None, extra=()):
    """A bundle made by hand: files {name: bytes}; manifest as given, or a
    correct one; extra (name, bytes) members not in the manifest."""
    if manifest is None:
        manifest = {"format": "quotapool-backup", "format_version": 1,
                    "created_at": "2026-01-01T00:00:00Z", "schema_version": 1,
                    "files": [{"name": n, "size": len(b), "sha256": sha256(b)}
                              for n, b in files.items()]}
    with tarfile.open(path, "w:gz") as t:
        for name, data in ([("MANIFEST.json", json.dumps(manifest).encode())] +
                           list(files.items()) + list(extra)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o600
            t.addfile(ti, io.BytesIO(data))


def refused(r, pattern, name):
    ok(r.rc == 1, name + ": exit status 1", lambda: "  %r" % r)
    lines = [x for x in r.err.splitlines() if x.startswith("quotapool-admin:")]
    ok(len(lines) == 1 and re.search(pattern, lines[0]),
       name + ": one line saying why", lambda: "  stderr: %r" % r.err)


# ---- an instance with relative paths, a .env and traffic -------------------

mock = qp.mock(models=["m1"])
inst = qp.Instance(
    server={"state_dir": "state"}, database={"path": "quotapool.db"},
    providers={"p1": {"mock": mock, "protocols": ["openai"], "models": ["m1"],
                      "accounts": [{"name": "a1",
                                    "api_key_env": "BK_TEST_KEY_A1"}]}})
ENV_TEXT = "BK_TEST_KEY_A1=k-a1\n"
with open(os.path.join(inst.dir, ".env"), "w") as f:
    f.write(ENV_TEXT)
dp.start(inst)
bkdir = os.path.join(inst.dir, "state", "backups")

stop = threading.Event()
lat = []
statuses = []


def traffic():
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            r = inst.request("POST", dp.OPENAI, dp.chat("m1", "backup"),
                             timeout=10)
            statuses.append(r.status)
        except OSError:
            statuses.append(0)
        lat.append(time.monotonic() - t0)
        time.sleep(max(0.0, 0.02 - (time.monotonic() - t0)))


threads = [threading.Thread(target=traffic, daemon=True) for _ in range(4)]
for t in threads:
    t.start()
time.sleep(1.5)
r = inst.admin("backup", "--json", timeout=60)
time.sleep(1.0)
stop.set()
for t in threads:
    t.join(15)
is_eq(r.rc, 0, "backup under traffic: exit 0")
man = json.loads(r.out) if r.rc == 0 else {}
path = man.get("path", "")
qp.diag("traffic: %d requests during the run, %d answered 200; the copy took "
        "%s ms" % (len(statuses), statuses.count(200), man.get("copy_ms")))
ok(statuses.count(200) == len(statuses) and len(statuses) > 100,
   "traffic went on, every request 200", lambda: "  %r" % sorted(set(statuses)))
ok(NAME_RE.match(os.path.basename(path)) and os.path.dirname(path) == bkdir,
   "the archive is named by time in [backup] directory", lambda: "  %r" % path)
ok("k-a1" not in path and inst.key not in path, "no secret in the file name")
is_eq(stat.S_IMODE(os.stat(path).st_mode) if path else None, 0o600,
      "the archive is mode 0600")
is_eq(stat.S_IMODE(os.stat(bkdir).st_mode), 0o700, "the directory is mode 0700")

mem = members(path) if path else []
is_eq([m[0] for m in mem], ["MANIFEST.json", "quotapool.db", "config.toml",
                            "env"], "members: the manifest first, then the files")
inner = dict(mem)
is_eq(json.loads(inner.get("MANIFEST.json", b"{}")).get("files"),
      [{"name": n, "size": len(inner.get(n, b"")),
        "sha256": sha256(inner.get(n, b""))}
       for n in ("quotapool.db", "config.toml", "env")],
      "the manifest's sizes and sha256 are the members'")
is_eq(inner.get("env", b"").decode(), ENV_TEXT, "the .env is archived")
with open(inst.config_path, "rb") as f:
    is_eq(inner.get("config.toml"), f.read(), "the configuration is archived")
for k in ("quotapool_version", "sqlite_version", "created_at",
          "schema_version"):
    ok(man.get(k), "the manifest records " + k)
snap = man.get("snapshot", {})
ok(snap.get("requests", 0) > 0, "the snapshot holds the requests so far",
   lambda: "  %r" % snap)

# The snapshot is the database at one instant: every row up to its last id.
dp.pending(inst)
live = inst.db()
n_upto = live.execute("SELECT count(*) FROM requests WHERE id <= ?",
                      (snap.get("max_request_id", 0),)).fetchone()[0]
is_eq(n_upto, snap.get("requests"),
      "rows up to the snapshot's last id: as many as the snapshot holds")
total = live.execute("SELECT count(*) FROM requests").fetchone()[0]
ok(total > snap.get("requests", 0), "rows kept coming after the backup",
   lambda: "  %d total" % total)

# ---- list and verify ------------------------------------------------------

r = inst.admin("backup", "list", "--json")
lst = json.loads(r.out) if r.rc == 0 else []
is_eq([x.get("path") for x in lst], [path], "backup list --json: the archive")
r = inst.admin("backup", "list")
like(r.out, re.escape(os.path.basename(path)) + r"\s+\d+\s+\S+\s+manual",
     "backup list: name, bytes, time, kind")
r = inst.admin("backup", "verify", path)
is_eq(r.rc, 0, "backup verify: exit 0")
like(r.out, r"ok, 3 files match their sha256", "backup verify: says so")

# ---- damaged and foreign archives are refused -----------------------------

work = qp.tempdir("qp-bk-")
raw = open(path, "rb").read()
bad = os.path.join(work, "flipped.tar.gz")
b = bytearray(raw)
b[len(b) // 2] ^= 0xFF
open(bad, "wb").write(bytes(b))
refused(inst.admin("backup", "verify", bad), r"damaged|sha256|not a quotapool",
        "a flipped byte")
cut = os.path.join(work, "cut.tar.gz")
open(cut, "wb").write(raw[:len(raw) * 2 // 3])
refused(inst.admin("backup", "verify", cut), r"damaged|truncated|incomplete",
        "a truncated archive")
files = {"quotapool.db": inner["quotapool.db"],
         "config.toml": inner["config.toml"]}
changed = dict(files, **{"config.toml": files["config.toml"] + b"# x\n"})
m2 = json.loads(inner["MANIFEST.json"])
lying = os.path.join(work, "lying.tar.gz")
write_bundle(lying, changed, manifest=m2)
refused(inst.admin("backup", "verify", lying), r"config\.toml",
        "a member that does not match the manifest")
same = bytearray(files["config.toml"])
same[0] = ord("#") if same[0] != ord("#") else ord(" ")
swapped = os.path.join(work, "swapped.tar.gz")
write_bundle(swapped, dict(files, **{"config.toml": bytes(same)}), manifest=m2)
refused(inst.admin("backup", "verify", swapped),
        r"config\.toml does not match its sha256",
        "a member of the right size with other bytes")
extra = os.path.join(work, "extra.tar.gz")
write_bundle(extra, files, extra=[("../evil", b"x")])
refused(inst.admin("backup", "verify", extra), r"does not list|plain file",
        "a member outside the manifest, with ../")
missing = os.path.join(work, "missing.tar.gz")
mm = {"format": "quotapool-backup", "format_version": 1, "files": [
    {"name": "quotapool.db", "size": len(files["quotapool.db"]),
     "sha256": sha256(files["quotapool.db"])},
    {"name": "config.toml", "size": 1, "sha256": "0" * 64}]}
write_bundle(missing, {"quotapool.db": files["quotapool.db"]}, manifest=mm)
refused(inst.admin("backup", "verify", missing), r"missing|incomplete",
        "a file the manifest lists is missing")
foreign = os.path.join(work, "foreign.tar.gz")
write_bundle(foreign, files, manifest={"format": "other", "files": []})
refused(inst.admin("backup", "verify", foreign), r"not a quotapool backup",
        "a foreign archive")
notgz = os.path.join(work, "plain.txt")
open(notgz, "w").write("hello\n")
refused(inst.admin("backup", "verify", notgz), r"cannot read|not a quotapool",
        "not an archive at all")
refused(inst.admin("restore", bad, "--into", os.path.join(work, "never")),
        r"damaged|sha256|not a quotapool", "restore of a damaged archive")
ok(not os.path.exists(os.path.join(work, "never", "config.toml")),
   "restore of a damaged archive wrote nothing")

# A database from a newer quotapool is refused; an older one is migrated.
newer_db = os.path.join(work, "newer.db")
open(newer_db, "wb").write(inner["quotapool.db"])
c = sqlite3.connect(newer_db)
c.execute("INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', "
          "'00', 0)")
c.commit()
c.close()
newer = os.path.join(work, "newer.tar.gz")
write_bundle(newer, {"quotapool.db": open(newer_db, "rb").read(),
                     "config.toml": files["config.toml"]})
refused(inst.admin("restore", newer, "--into", os.path.join(work, "newer")),
        r"newer than this quotapool", "a newer schema")

schema = sorted(glob.glob(os.path.join(qp.SRCDIR, "schema", "0*.sql")))
old_db = os.path.join(work, "old.db")
c = sqlite3.connect(old_db)
first = open(schema[0]).read()
c.executescript(first)
c.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER "
          "PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
          "applied_at INTEGER NOT NULL)")
c.execute("INSERT INTO schema_migrations VALUES (?, ?, ?, 0)",
          (int(os.path.basename(schema[0])[:4]), os.path.basename(schema[0]),
           sha256(first.encode())))
c.commit()
c.close()
older = os.path.join(work, "older.tar.gz")
write_bundle(older, {"quotapool.db": open(old_db, "rb").read(),
                     "config.toml": files["config.toml"],
                     "env": ENV_TEXT.encode()})
olddir = os.path.join(work, "older")
r = inst.admin("restore", older, "--into", olddir)
is_eq(r.rc, 0, "an older schema: restored")
is_eq(facts(os.path.join(olddir, "quotapool.db"))["schema_version"],
      int(os.path.basename(schema[-1])[:4]),
      "an older schema: migrated forward to the latest")

# ---- restore into a new directory --------------------------------------------

newdir = os.path.join(work, "restored")
r = inst.admin("restore", path, "--into", newdir)
is_eq(r.rc, 0, "restore --into: exit 0")
for n, mode in (("config.toml", 0o600), (".env", 0o600),
                ("quotapool.db", 0o600)):
    p = os.path.join(newdir, n)
    is_eq(stat.S_IMODE(os.stat(p).st_mode) if os.path.exists(p) else None,
          mode, "restore --into: %s, mode 0600" % n)
got = facts(os.path.join(newdir, "quotapool.db"))
is_eq(got, {k: snap.get(k) for k in got},
      "restored rows and token sums equal the snapshot's")
rc = sqlite3.connect("file:%s?mode=ro" % os.path.join(newdir, "quotapool.db"),
                     uri=True)
rows_r = rc.execute("SELECT request_uid, status, input_tokens, output_tokens "
                    "FROM requests ORDER BY id").fetchall()
rc.close()
rows_l = live.execute("SELECT request_uid, status, input_tokens, output_tokens "
                      "FROM requests WHERE id <= ? ORDER BY id",
                      (snap.get("max_request_id", 0),)).fetchall()
live_by_uid = {x[0]: x for x in rows_l}
done_r = [x for x in rows_r if x[1] == "completed"]
ok(done_r and all(live_by_uid.get(x[0]) == x for x in done_r),
   "each completed row restored equals the live one",
   lambda: "  %d restored completed" % len(done_r))
is_eq(sorted(x[0] for x in rows_r), sorted(live_by_uid),
      "the restored rows are the live rows up to the snapshot's last id")
later = [x for x in rows_r if x[1] != "completed"]
ok(all(x[1] == "pending" for x in later),
   "rows not completed in the snapshot were pending at its instant",
   lambda: "  %r" % later[:5])
is_eq(open(os.path.join(newdir, ".env")).read(), ENV_TEXT,
      "restore --into: the .env")
r = qp.admin("key", "list", config=os.path.join(newdir, "config.toml"))
like(r.out, r"(?m)^it\s", "the restored instance holds the client keys")
r = inst.admin("restore", path, "--into", newdir)
refused(r, r"holds an instance already", "restore --into an instance")

# An absolute database path outside the new directory is refused.
absdir = os.path.join(work, "abs")
abscfg = files["config.toml"].replace(
    b'path = "quotapool.db"', ('path = "%s"' % os.path.join(
        work, "elsewhere.db")).encode())
absbundle = os.path.join(work, "abs.tar.gz")
write_bundle(absbundle, {"quotapool.db": files["quotapool.db"],
                         "config.toml": abscfg, "env": ENV_TEXT.encode()})
refused(inst.admin("restore", absbundle, "--into", absdir), r"outside",
        "restore --into with an absolute database path elsewhere")

# ---- restore in place ---------------------------------------------------------

refused(inst.admin("restore", path), r"serving", "in place while serving")
res = inst.stop()
is_eq(res.rc, 0, "the gateway stopped")
before = facts(inst.db_path)
r = inst.admin("restore", path)
is_eq(r.rc, 0, "in place, gateway stopped: exit 0")
like(r.out, r"previous kept as \.bak", "in place: says what was kept")
is_eq(facts(inst.db_path), {k: snap.get(k) for k in before},
      "in place: the database is the snapshot")
is_eq(facts(inst.db_path + ".bak"), before, "in place: the old one is .bak")
ok(os.path.exists(inst.config_path + ".bak") and
   os.path.exists(os.path.join(inst.dir, ".env.bak")),
   "in place: config.toml.bak and .env.bak")
left = [n for n in os.listdir(inst.dir) if n.startswith(".restore-")]
is_eq(left, [], "no staging directory left behind")
dp.start(inst)
r = inst.request("POST", dp.OPENAI, dp.chat("m1", "after restore"))
is_eq(r.status, 200, "the restored instance serves with its old key")
inst.stop()

# ---- automatic backups --------------------------------------------------------

mock2 = qp.mock(models=["m1"])
auto = qp.Instance(
    providers={"p1": {"mock": mock2, "protocols": ["openai"],
                      "models": ["m1"], "accounts": ["a1"]}},
    sections={"backup": {"enabled": True, "interval_s": 3600,
                         "retain_count": 2, "startup_delay_s": 0}})
adir = os.path.join(auto.state_dir, "backups")
os.makedirs(adir, 0o700, exist_ok=True)
old = ["quotapool-backup-2020010%d-000000-auto.tar.gz" % i for i in (1, 2, 3)]
for i, n in enumerate(old):
    p = os.path.join(adir, n)
    shutil.copy(path, p)
    os.utime(p, (1577836800 + i, 1577836800 + i))
manual = os.path.join(adir, "quotapool-backup-20200101-000000.tar.gz")
shutil.copy(path, manual)
dp.start(auto)
boss = auto.new_key("boss", admin_role=True)
deadline = time.monotonic() + 30
new = []
while time.monotonic() < deadline:
    new = [n for n in os.listdir(adir) if n.endswith("-auto.tar.gz") and
           not n.startswith("quotapool-backup-2020")]
    autos = [n for n in os.listdir(adir) if n.endswith("-auto.tar.gz")]
    if new and len(autos) == 2:
        break
    time.sleep(0.2)
is_eq(len(new), 1, "an automatic backup was taken at start")
is_eq(sorted(n for n in os.listdir(adir) if n.endswith("-auto.tar.gz")),
      sorted([old[2]] + new), "retention keeps the 2 newest automatic ones")
ok(os.path.exists(manual), "retention leaves manual backups alone")
if new:
    r = auto.admin("backup", "verify", os.path.join(adir, new[0]))
    is_eq(r.rc, 0, "the automatic backup verifies")
    is_eq(stat.S_IMODE(os.stat(os.path.join(adir, new[0])).st_mode), 0o600,
          "the automatic backup is mode 0600")
m = auto.request("GET", "/metrics", key=boss).text
like(m, r"(?m)^quotapool_backup_enabled 1$", "/metrics: backups enabled")
like(m, r"(?m)^quotapool_backup_archives 3$", "/metrics: archives counted")
last = re.search(r"(?m)^quotapool_backup_last_timestamp_seconds (\d+)$", m)
ok(last and abs(int(last.group(1)) - time.time()) < 120,
   "/metrics: the newest backup's time", lambda: "  %r" % (last and last.group(0)))
deadline = time.monotonic() + 15
page = ""
while time.monotonic() < deadline:
    page = auto.request("GET", "/runtime", key=boss).text
    if re.search(r"backup written in \d+ ms|last written in", page):
        break
    time.sleep(0.5)
like(page, r"written in \d+ ms", "the runtime page shows the backup task's outcome")
auto.stop()

qp.done()
