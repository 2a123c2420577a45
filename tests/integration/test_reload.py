#!/usr/bin/env python3
"""test_reload.py: quotapool-admin reload through a running gateway.

An account added while a slow stream is open: the stream completes intact,
every running quotapool.fcgi (the one lighttpd spawned and a second one on
its own socket) reports the reload, and the new account serves the next
request. An invalid file is refused with check-config's error line, by the
admin and by a process told directly (SIGHUP), and the gateway goes on with
the configuration it had. A changed [model_overrides] price is used for the
next request's cost; a removed account gets no more requests; a setting
that needs a restart is named and keeps its value."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

MODEL = "m-reload"
PRICES = {"input_price_per_1k": 0.001, "output_price_per_1k": 0.002,
          "cache_read_per_million_microdollars": 100,
          "cache_write_per_million_microdollars": 200}
USAGE = {"prompt": 1000, "completion": 1000, "cache_read": 0,
         "cache_write": 0, "reasoning": 0}
EVENTS, INTERVAL_MS = 40, 150          # the slow stream: about 6 s

mock = qp.mock(models=[MODEL])
inst = qp.Instance(
    providers={"p1": {"mock": mock, "protocols": ["openai"],
                      "models": [MODEL], "accounts": ["a1"]}},
    sections={"model_overrides": {MODEL: dict(PRICES)}})
dp.start(inst)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def keys_of(records):
    return [r["key"] for r in records]


def served_by(body=None):
    """Sends one request; returns (status, key the mock saw, request uid)."""
    n = len(mock.requests(path=OPENAI))
    r = inst.request("POST", OPENAI, body or dp.chat(MODEL, "which account"))
    recs = mock.requests(path=OPENAI)[n:]
    return r.status, (recs[-1]["key"] if recs else None), dp.uid_of(r)


def events_since(since_id, types=("config_reloaded", "config_reload_failed")):
    rows = dp.query(inst, "SELECT id, event_type, details_json FROM "
                    "operational_events WHERE id > ? ORDER BY id", (since_id,))
    return [dict(r, details=json.loads(r["details_json"])) for r in rows
            if r["event_type"] in types]


def last_event_id():
    return dp.query(inst, "SELECT coalesce(max(id), 0) AS n FROM "
                    "operational_events")[0]["n"]


def reload(*extra):
    return inst.admin("reload", "--timeout", "30", *extra, timeout=60)


# ---- a second process of the same gateway, on its own socket --------------

app = inst.app_pids()
is_eq(len(app), 1, "lighttpd spawned one quotapool.fcgi")
sock = os.path.join(inst.dir, "second.sock")
second = subprocess.Popen([qp.FCGI, "--config", inst.config_path, "--socket",
                           sock], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL,
                          stderr=open(os.path.join(inst.dir, "second.err"),
                                      "ab"),
                          env=qp.child_env(), start_new_session=True)


def stop_second():
    if second.poll() is None:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(15)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait(5)


class _Second:
    def _cleanup(self):
        stop_second()


qp._live.append(_Second())
deadline = time.monotonic() + 15
while time.monotonic() < deadline and not dp.query(
        inst, "SELECT id FROM processes WHERE pid = ? AND stopped_at IS NULL",
        (second.pid,)):
    time.sleep(0.05)
rows = dp.query(inst, "SELECT id, pid FROM processes WHERE stopped_at IS "
                "NULL ORDER BY id")
is_eq(sorted(r["pid"] for r in rows), sorted(app + [second.pid]),
      "two processes of this gateway run: %r" % [r["pid"] for r in rows])
PIDS = sorted(app + [second.pid])

st, key, _ = served_by()
is_eq((st, key), (200, "k-a1"), "before any reload a1 serves")

# ---- an account added while a slow stream is open --------------------------

mock.script("k-a1", {"events": EVENTS, "interval_ms": INTERVAL_MS})
s = inst.stream(OPENAI, dp.chat(MODEL, "slow one", stream=True), timeout=60)
is_eq(s.status, 200, "the slow stream starts")
first = []
for t, chunk in s:
    first.append(chunk)
    if b"hello" in b"".join(first):
        break
ok(b"hello" in b"".join(first), "its first words arrived before the reload")

inst.providers["p1"]["accounts"] = ["a1", "a2"]
inst.write_config()
SHA = sha256_file(inst.config_path)
since = last_event_id()
r = reload()
t_reloaded = time.time()
is_eq(r.rc, 0, "reload with the stream open: exit 0", ) or qp.diag(repr(r))
for pid in PIDS:
    like(r.out, r"process \d+ \(pid %d on [^)]*\): reloaded \(configuration 2, "
         r"sha256 %s\): accounts added: a2" % (pid, SHA[:16]),
         "reload reports process %d reloaded with a2 added" % pid)

body = s.read_all()
evs = dp.sse_json(body)
is_eq(dp.openai_text(evs), "".join((" " if i else "") + ("hello", "world")[i % 2]
                                   for i in range(EVENTS)),
      "the stream completed intact: %d words in order" % EVENTS)
ok(s.error is None and b"data: [DONE]" in body,
   "the stream ended with [DONE], not cut", lambda: "  error %r" % s.error)
# The mock finishes its record just after writing the last event.
deadline = time.monotonic() + 10
while True:
    rec = [x for x in mock.requests(path=OPENAI) if x["stream"]][-1]
    if rec.get("finished_at") is not None or time.monotonic() >= deadline:
        break
    time.sleep(0.05)
ok(rec["completed"] and rec["events_sent"] == rec["events_total"],
   "the upstream wrote every event to the gateway")
cmp_ok(rec["finished_at"], ">", t_reloaded,
       "the stream was still running when the reload had been reported")
row = dp.wait_row(inst, dp.uid_of(s))
is_eq(row and row["status"], "completed", "the stream's request row: completed")

got = events_since(since)
by_pid = {e["details"]["pid"]: e for e in got}
is_eq(sorted(by_pid), PIDS, "one config_reloaded event per process")
ok(all(e["event_type"] == "config_reloaded" and e["details"]["sha256"] == SHA
       for e in got), "each names the sha256 of the file applied",
   lambda: "  %r" % got)
is_eq(got[0]["details"].get("changes"), {"accounts": {"added": ["a2"]}},
      "the event lists the account added")

st, key, uid = served_by()
is_eq((st, key), (200, "k-a2"), "the next request is served by the new account")
dec = dp.decisions(inst, uid)
like(dec[0]["detail_json"] if dec else "", r'"account":"a2"',
     "its routing decision considered a2")
seen = set()
for _ in range(4):
    seen.add(served_by()[1])
is_eq(seen, {"k-a1", "k-a2"}, "both accounts serve after the reload")

# ---- an invalid file is refused; the gateway keeps its configuration -------

good_text = open(inst.config_path).read()
bad_text = good_text + "\n[routing]\nmax_attempts = \"many\"\n"
with open(inst.config_path, "w") as f:
    f.write(bad_text)
bad_line = len(bad_text.rstrip("\n").split("\n"))
since = last_event_id()
r = reload()
is_eq(r.rc, 1, "reload of an invalid file: exit 1")
like(r.err, r"%s:%d:\d+: error: " % (inst.config_path.replace(".", r"\."),
                                      bad_line),
     "check-config's error line, with the file, line and column")
like(r.err, r"reload refused: the running gateway keeps its configuration",
     "the refusal says the configuration in force stays")
ck = inst.admin("check-config")
is_eq([l for l in r.err.splitlines() if ": error: " in l],
      [l for l in ck.err.splitlines() if ": error: " in l],
      "the same error lines as check-config")
time.sleep(0.3)
is_eq(events_since(since), [], "no process was told")

# Told directly, a process checks the file itself and refuses it.
os.kill(app[0], signal.SIGHUP)
deadline = time.monotonic() + 15
got = []
while time.monotonic() < deadline and not got:
    got = events_since(since)
    time.sleep(0.05)
is_eq([(e["event_type"], e["details"]["pid"]) for e in got],
      [("config_reload_failed", app[0])],
      "SIGHUP with the invalid file: config_reload_failed from that process")
errs = got[0]["details"].get("errors", []) if got else []
ok(any(":%d:" % bad_line in e and "error:" in e for e in errs),
   "the event carries check-config's error line", lambda: "  %r" % errs)
is_eq(got and got[0]["details"].get("sha256"), sha256_file(inst.config_path),
      "and the sha256 of the file it refused")
statuses = [served_by()[0] for _ in range(3)]
is_eq(statuses, [200, 200, 200], "the gateway keeps serving")
ok({served_by()[1] for _ in range(4)} == {"k-a1", "k-a2"},
   "with the configuration it had (a1 and a2)")
with open(inst.config_path, "w") as f:
    f.write(good_text)

# ---- a changed price is used by the next request's cost -------------------


def cost_of_next():
    mock.script("*", {"usage": USAGE})
    st, _, uid = served_by()
    row = dp.wait_row(inst, uid)
    return st, row["cost_microdollars"], row["cost_exactness"]


before = cost_of_next()
is_eq(before, (200, 3000, "derived"),
      "before: 1000 in at $0.001/1K + 1000 out at $0.002/1K = 3000 microdollars")
inst.sections["model_overrides"][MODEL].update(
    {"input_price_per_1k": 0.005, "output_price_per_1k": 0.007})
inst.write_config()
r = reload()
is_eq(r.rc, 0, "reload of the new prices: exit 0")
like(r.out, r"model_overrides changed: %s" % MODEL,
     "the reload names the price changed")
after = cost_of_next()
is_eq(after, (200, 12000, "derived"),
      "after: 1000 in at $0.005/1K + 1000 out at $0.007/1K = 12000 microdollars")

# ---- a removed account gets no more requests -------------------------------

inst.providers["p1"]["accounts"] = ["a2"]
inst.write_config()
r = reload("--json")
is_eq(r.rc, 0, "reload with a1 removed: exit 0")
j = json.loads(r.out) if r.rc == 0 else {}
is_eq(sorted((p["pid"], p["outcome"]) for p in j.get("processes", [])),
      [(p, "reloaded") for p in PIDS], "--json: every process reloaded")
is_eq([p.get("changes") for p in j.get("processes", [])][:1],
      [{"accounts": {"removed": ["a1"]}}], "--json: a1 removed")
n = len(mock.requests(path=OPENAI))
for _ in range(6):
    is_eq(served_by()[0], 200, "served without a1")
is_eq(sorted(set(keys_of(mock.requests(path=OPENAI)[n:]))), ["k-a2"],
      "a removed account gets no more requests")

# ---- a setting that needs a restart -----------------------------------------

inst.server["threads"] = 7
inst.write_config()
r = reload()
is_eq(r.rc, 0, "reload with [server] threads changed: exit 0")
like(r.out, r"needs a restart to change \(kept as they were\): server\.threads",
     "server.threads is named as needing a restart")
is_eq(served_by()[0], 200, "and the gateway serves on")

# ---- a process that does not answer -----------------------------------------

os.kill(second.pid, signal.SIGSTOP)
try:
    r = inst.admin("reload", "--timeout", "2", timeout=30)
finally:
    os.kill(second.pid, signal.SIGCONT)
is_eq(r.rc, 1, "a process that does not answer: exit 1")
like(r.out, r"pid %d on [^)]*\): no answer within 2 s" % second.pid,
     "it is named as not answering")
like(r.out, r"pid %d on [^)]*\): reloaded" % app[0],
     "the other one reloaded all the same")

stop_second()
is_eq(second.returncode, 0, "the second process stops cleanly")
with open(os.path.join(inst.dir, "second.err"), "rb") as f:
    found = qp.sanitizer_lines(f.read().decode("utf-8", "replace"))
ok(not found, "no sanitizer report in the second process's log",
   lambda: "\n".join(found))
res = inst.stop()
is_eq(res.rc, 0, "the gateway stops cleanly after the reloads")
qp.done()
