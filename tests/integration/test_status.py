#!/usr/bin/env python3
"""test_status.py: quotapool-admin status with the gateway up and with it
stopped: serving or not, the process (version, pid, start), the health
check on [server] host:port, the newest backup, pending requests and the
backoffs in force, as text and as --json."""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(180)

MODEL = "m-status"
mock = qp.mock(models=[MODEL])
inst = qp.Instance(providers={"p1": {"mock": mock, "protocols": ["openai"],
                                     "models": [MODEL],
                                     "accounts": ["s1", "s2"]}},
                   sections={"backup": {"directory": "backups"}})
BACKUPS = os.path.join(inst.dir, "backups")

# ---- stopped before it ever ran --------------------------------------------

inst.migrate()
r = inst.admin("status")
is_eq(r.rc, 1, "status before the gateway runs: exit 1")
like(r.out, r"quotapool \S+: NOT serving", "it says the gateway is not serving")
like(r.out, r"newest backup: none in %s" % BACKUPS.replace(".", r"\."),
     "no backup yet, in [backup] directory")

dp.start(inst)
pids = inst.app_pids()
is_eq(len(pids), 1, "the gateway runs one quotapool.fcgi")
PID = pids[0]
before = int(time.time() * 1000)

# ---- up: a backup, a stream held open, two backoffs ------------------------

r = inst.admin("backup")
is_eq(r.rc, 0, "a backup is taken")
names = sorted(n for n in os.listdir(BACKUPS) if n.endswith(".tar.gz"))
is_eq(len(names), 1, "one archive in the backup directory")
ARCHIVE = names[-1]
SIZE = os.path.getsize(os.path.join(BACKUPS, ARCHIVE))

# A stream left open is a pending request while status runs.
mock.script("*", {"events": 100, "interval_ms": 100})
with inst.stream(OPENAI, dp.chat(MODEL, "slow", stream=True)) as s:
    is_eq(s.status, 200, "a slow stream starts")
    for _ in s:
        break
    j = inst.admin("status", "--json")
    d = json.loads(j.out) if j.out.strip().startswith("{") else {}
    is_eq(d.get("pending_requests"), 1, "an open stream is a pending request")
is_eq(dp.pending(inst, settle=10), [], "closed by the client, it is pending no more")

# s1 and s2 answer 429 with Retry-After: both back off.
mock.script("k-s1", {"status": 429, "headers": {"Retry-After": "600"}})
mock.script("k-s2", {"status": 429, "headers": {"Retry-After": "900"}})
r = inst.request("POST", OPENAI, dp.chat(MODEL, "rate limited"))
is_eq(r.status, 429, "both accounts rate limited: 429")
deadline = time.monotonic() + 10
while time.monotonic() < deadline and len(dp.query(
        inst, "SELECT 1 FROM account_backoffs WHERE backoff_until > ?",
        (dp.now_ms(),))) < 2:
    time.sleep(0.05)

r = inst.admin("status")
is_eq(r.rc, 0, "status with the gateway up: exit 0") or qp.diag(repr(r))
like(r.out, r"^quotapool \S+: serving", "it says the gateway is serving")
like(r.out, r"http://127\.0\.0\.1:%d/v1/healthz: 200" % inst.port,
     "GET /v1/healthz on [server] host:port answered 200")
like(r.out, r"\n  \d+\s+%d\s+\S+\s+\S+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d+s ago\s+"
     r"running" % PID, "the process: id, pid, host, version, start, heartbeat")
like(r.out, r"newest backup: %s, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, %d bytes \(1 "
     r"archive in " % (ARCHIVE.replace(".", r"\."), SIZE),
     "the newest backup: name, time, size")
like(r.out, r"pending requests: 0", "no request pending")
like(r.out, r"backoffs: 2\n", "two backoffs in force")
like(r.out, r"\n  s1\s+\(all models\)\s+rate_limited\s+\S+ \S+\s+\d+s",
     "s1's backoff: reason, end and time left")

j = inst.admin("status", "--json")
is_eq(j.rc, 0, "status --json: exit 0")
d = json.loads(j.out) if j.rc == 0 else {}
is_eq(d.get("serving"), True, "--json: serving")
is_eq((d.get("healthz") or {}).get("status"), 200, "--json: healthz 200")
procs = d.get("processes") or []
is_eq([(p.get("pid"), p.get("state"), p.get("fresh")) for p in procs],
      [(PID, "running", True)], "--json: the one process, running, fresh")
v = qp.admin("version").out.split()[-1]
is_eq(procs and procs[0].get("version"), v, "--json: its version")
row = dp.query(inst, "SELECT started_at FROM processes WHERE pid = ? AND "
               "stopped_at IS NULL", (PID,))
is_eq(procs and procs[0].get("started_at"), row and row[0]["started_at"],
      "--json: its start time as the processes row has it")
cmp_ok(procs and procs[0].get("started_at"), "<=", before,
       "which is before the checks began")
newest = (d.get("backup") or {}).get("newest") or {}
is_eq((newest.get("name"), newest.get("bytes")), (ARCHIVE, SIZE),
      "--json: the newest backup")
is_eq(d.get("pending_requests"), 0, "--json: pending requests")
bo = sorted((b["account"], b["reason"]) for b in d.get("backoffs") or [])
is_eq(bo, [("s1", "rate_limited"), ("s2", "rate_limited")], "--json: backoffs")
until = {b["account"]: b["until"] for b in d.get("backoffs") or []}
cmp_ok(until.get("s2", 0) - dp.now_ms(), ">", 600 * 1000,
       "--json: s2's backoff ends after its Retry-After of 900 s")

# ---- stopped ---------------------------------------------------------------

res = inst.stop()
is_eq(res.rc, 0, "the gateway stops")
r = inst.admin("status")
is_eq(r.rc, 1, "status with the gateway stopped: exit 1")
like(r.out, r"quotapool \S+: NOT serving", "it says the gateway is not serving")
like(r.out, r"/v1/healthz: no answer \(", "the health check got no answer")
like(r.out, r"no quotapool\.fcgi process with a heartbeat",
     "no process with a fresh heartbeat")
like(r.out, r"processes: 0\n", "the stopped process is not listed")
like(r.out, r"newest backup: %s" % ARCHIVE.replace(".", r"\."),
     "the newest backup is still shown")
j = inst.admin("status", "--json")
d = json.loads(j.out) if j.out.strip().startswith("{") else {}
is_eq((j.rc, d.get("serving"), (d.get("healthz") or {}).get("status"),
       d.get("processes")), (1, False, None, []),
      "--json stopped: not serving, no health answer, no process")
qp.done()
