#!/usr/bin/env python3
"""test_healthchecks.py: the providers' health checks of their accounts, run by
the maintenance lease holder of a running gateway, and `quotapool-admin check`.

Provider p (accounts a1, a2) has an http check of the mock's /v1/health,
written as a [providers.p.check] table; provider c (accounts c1, c2) a command
check written inline, a script of the test's directory that does what a
control file per account says. A failing check takes the account out of
selection (requests go to the other account, with reason health_check in
their routing decisions, in `accounts status` and on the accounts page), a
passing one brings it back; each result is a provider_pings row. The command
gets the account's key, which reaches neither the logs nor the pings; a
command that sleeps past its timeout is killed with its child, in bounded
time. `quotapool-admin check` prints one row per account and exits 0 when one
is live, 1 when none is, 2 on a bad argument."""

import json
import os
import re
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

SECRET = "k-c1-secret-7Hq2Zp"
HEALTH = "/v1/health"

mock = qp.mock(models=["m1", "m2"],
               valid_keys=["k-a1", "k-a2", SECRET, "k-c2"])
work = qp.tempdir("qp-hc-")

# The command check: what it does is read from ctl-$QUOTAPOOL_ACCOUNT.
script = os.path.join(work, "check.sh")
with open(script, "w") as f:
    f.write("""#!/bin/sh
dir=$(dirname "$0")
printf '%s' "$QUOTAPOOL_API_KEY" > "$dir/seen-$QUOTAPOOL_ACCOUNT"
printf '%s %s %s\\n' "$QUOTAPOOL_PROVIDER" "$QUOTAPOOL_ACCOUNT" \\
    "$QUOTAPOOL_BASE_URL" > "$dir/vars-$QUOTAPOOL_ACCOUNT"
case "$(cat "$dir/ctl-$QUOTAPOOL_ACCOUNT" 2>/dev/null)" in
fail)	echo unhealthy; exit 3 ;;
silent)	echo nothing to say; exit 0 ;;
sleep)	sleep 60 & echo "$$ $!" > "$dir/pids-$QUOTAPOOL_ACCOUNT"; wait; exit 0 ;;
*)	echo "all healthy" ;;
esac
""")
os.chmod(script, 0o755)


def control(account, what):
    with open(os.path.join(work, "ctl-" + account), "w") as f:
        f.write(what)


for acct in ("c1", "c2"):
    control(acct, "ok")

inst = qp.Instance(
    providers={"p": {
        "mock": mock, "protocols": ["openai"], "models": ["m1"],
        "models_path": "", "check_interval_s": 1,
        "check": {"type": "http", "path": "/health", "expect_status": [200],
                  "expect_body": "\"ok\"", "timeout_s": 5},
        "accounts": ["a1", "a2"]}},
    sections={"routing": {"max_attempts": 1}},
    extra_toml="""
[providers.c]
base_url = "%s"
protocols = ["openai"]
models = ["m2"]
models_path = ""
check_interval_s = 1
check = { type = "command", cmd = "%s", expect_output = "healthy", timeout_s = 2 }

[[providers.c.accounts]]
name = "c1"
api_key = "%s"

[[providers.c.accounts]]
name = "c2"
api_key = "k-c2"
""" % (mock.base_url, script, SECRET))

r = inst.admin("check-config")
is_eq(r.rc, 0, "check-config accepts a table check and an inline one")
bad = os.path.join(work, "bad.toml")
with open(bad, "w") as f:
    f.write("""[database]
path = "%s"
[providers.x]
base_url = "%s"
check = { type = "http", expect_status = [700] }
check_interval_s = 0
[[providers.x.accounts]]
name = "x1"
api_key = "k-x1"
[providers.y]
base_url = "%s"
check = { type = "command", cmd = "true", expect_body = "ok" }
[[providers.y.accounts]]
name = "y1"
api_key = "k-y1"
""" % (os.path.join(work, "bad.db"), mock.base_url, mock.base_url))
r = qp.admin("check-config", config=bad)
is_eq(r.rc, 1, "check-config refuses bad check tables")
for want in (r"bad.toml:5:\d+: error: providers.x.check.expect_status\[0\]: 700 is not "
             r"an HTTP status",
             r"bad.toml:5: error: providers.x.check: path is required",
             r"bad.toml:6:\d+: error: providers.x.check_interval_s: 0 is out of range",
             r"bad.toml:12: error: providers.y.check.expect_body: only a check of "
             r"type \"http\" takes it"):
    shown = re.sub(r"\\(.)", r"\1", want.replace(r"\d+", "COL"))
    like(r.err + r.out, want, "check-config: " + shown)
dp.start(inst)
ADMIN = inst.new_key("boss", admin_role=True)


def pings(account, since=0):
    return dp.query(inst, "SELECT * FROM provider_pings WHERE account_name = ? "
                    "AND id > ? ORDER BY id", (account, since))


def last_ping_id():
    rows = dp.query(inst, "SELECT max(id) AS m FROM provider_pings")
    return rows[0]["m"] or 0


def wait_for(pred, timeout=20.0):
    deadline = time.monotonic() + timeout * qp.TIMEOUT_SCALE
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(0.1)


def health_backoff(account):
    b = dp.backoff(inst, account)
    return b if b is not None and b["reason"] == "health_check" else None


def wait_ping(account, since, pred=lambda p: True, timeout=20.0):
    """The first pings row of account after id since that satisfies pred."""
    def find():
        for p in pings(account, since):
            if pred(p):
                return p
        return None
    return wait_for(find, timeout)


def accounts_of(n, model="m1"):
    """The accounts that served n requests for model."""
    out = []
    for _ in range(n):
        r = inst.request("POST", OPENAI, dp.chat(model))
        uid = dp.uid_of(r)
        row = dp.wait_row(inst, uid) if uid else None
        out.append(row["account_name"] if row and r.status == 200 else
                   "status %d" % r.status)
    return out


# ---- the http check: every account, with its own key ------------------------

for acct in ("a1", "a2", "c1", "c2"):
    p = wait_ping(acct, 0, lambda p: p["ok"] == 1)
    ok(p is not None, "%s: a passing check is recorded as a ping" % acct)
p = pings("a1")[-1]
is_eq((p["provider_id"], p["status_code"], p["error"], p["model_count"]),
      ("p", 200, None, None), "a1's ping: provider, HTTP status, no error")
cmp_ok(p["latency_ms"], ">=", 0, "a1's ping has a latency")
seen = mock.requests(path=HEALTH)
is_eq(sorted(set(r["key"] for r in seen)), ["k-a1", "k-a2"],
      "the http check of each account sends that account's key")
is_eq(set(r["headers"].get("authorization") for r in seen if r["key"] == "k-a1"),
      {"Bearer k-a1"}, "as the provider's auth says (Bearer)")
is_eq(set(r["method"] for r in seen), {"GET"}, "with GET by default")

# ---- a failing http check takes a1 out; requests go to a2 -------------------

since = last_ping_id()
mock.set_default("k-a1", {"match": HEALTH, "status": 503})
b = wait_for(lambda: health_backoff("a1"))
ok(b is not None, "a failing check puts a1 in backoff with reason health_check")
if b:
    is_eq((b["scope"], b["model_id"], b["status_code"], b["error_class"]),
          ("account", "", 503, "check_status"), "the whole account, status and class")
    cmp_ok(b["backoff_until"], ">", dp.now_ms() + 30000,
           "held until a check passes (well past the next checks)")
p = wait_ping("a1", since, lambda p: p["ok"] == 0)
ok(p is not None and p["status_code"] == 503 and
   p["error"] == "health check: HTTP 503, expected 200",
   "the failure is a ping row with status and detail", p)

served = accounts_of(6)
is_eq(served, ["a2"] * 6, "every request goes to a2 while a1's check fails")
r = inst.request("POST", OPENAI, dp.chat("m1"))
dec = dp.decisions(inst, dp.uid_of(r))
ok(dec and "\"health_check\"" in dec[0]["detail_json"],
   "the routing decision names a1's exclusion: health_check",
   dec[0]["detail_json"] if dec else "no decision")
r = inst.admin("accounts", "status")
like(r.out, r"a1 \(provider p\): backoff.*\n  backoff of the whole account until "
     r"\S+ \(health_check, \d+ failures in a row\)", "accounts status shows it")
r = inst.admin("accounts", "explain", "m1")
like(r.out, r"a1.*health_check", "accounts explain shows it")
r = inst.request("GET", "/accounts", key=ADMIN)
like(r.text, r"\(health_check, whole account\)", "the accounts page shows it")

# ---- a passing check brings it back ----------------------------------------

mock.set_default("k-a1", None)
ok(wait_for(lambda: dp.backoff(inst, "a1") is None),
   "a passing check ends a1's health_check backoff")
served = accounts_of(8)
ok("a1" in served, "requests reach a1 again (%s)" % ",".join(served))

# ---- expect_body: a 200 without the text fails ------------------------------

mock.set_default("k-a2", {"match": HEALTH, "body": {"status": "degraded"}})
b = wait_for(lambda: health_backoff("a2"))
ok(b is not None and b["error_class"] == "check_body",
   "a 200 whose body lacks expect_body takes a2 out", b)
mock.set_default("k-a2", None)
ok(wait_for(lambda: dp.backoff(inst, "a2") is None), "and a pass brings it back")

# ---- the command check ------------------------------------------------------

with open(os.path.join(work, "vars-c1")) as f:
    is_eq(f.read().split(), ["c", "c1", mock.base_url],
          "the command gets QUOTAPOOL_PROVIDER, _ACCOUNT and _BASE_URL")
with open(os.path.join(work, "seen-c1")) as f:
    is_eq(f.read(), SECRET, "and the account's key in QUOTAPOOL_API_KEY")

since = last_ping_id()
control("c1", "fail")
b = wait_for(lambda: health_backoff("c1"))
ok(b is not None and b["error_class"] == "check_exit",
   "a command exiting non-zero takes c1 out", b)
p = wait_ping("c1", since, lambda p: p["ok"] == 0)
ok(p is not None and p["error"] == "health check: exit 3" and
   p["status_code"] is None, "its ping says the exit status", p)
served = accounts_of(4, "m2")
is_eq(served, ["c2"] * 4, "requests for m2 go to c2")
control("c1", "ok")
ok(wait_for(lambda: dp.backoff(inst, "c1") is None),
   "a passing command brings c1 back")

control("c2", "silent")
b = wait_for(lambda: health_backoff("c2"))
ok(b is not None and b["error_class"] == "check_output",
   "exit 0 without expect_output in the output takes c2 out", b)

# A command that sleeps: killed at its timeout, its child with it.
pidfile = os.path.join(work, "pids-c2")
since = last_ping_id()
control("c2", "sleep")
p = wait_ping("c2", since, lambda p: p["ok"] == 0 and "timeout" in
              (p["error"] or ""), timeout=30)
ok(p is not None, "a command sleeping past timeout_s fails", p)
if p:
    is_eq(p["error"], "health check: killed after the timeout of 2000 ms",
          "its ping says it was killed at the timeout")
    cmp_ok(p["latency_ms"], "<", 10000, "the check took bounded time (2 s timeout)")
pids = []
if os.path.exists(pidfile):
    with open(pidfile) as f:
        pids = [int(x) for x in f.read().split()]
is_eq(len(pids), 2, "the command wrote its pid and its child's")


def gone(pid):
    st = qp.proc_stat(pid)
    return st is None or st[3] in ("Z", "X")


control("c2", "ok")
ok(wait_for(lambda: all(gone(pid) for pid in pids), timeout=10),
   "neither the command nor its child is left running (%s)" % pids)
ok(wait_for(lambda: dp.backoff(inst, "c2") is None), "c2 comes back")

# ---- secrets ---------------------------------------------------------------

logs = "\n".join(inst.logs().values())
ok(SECRET not in logs, "the key given to the command is in no log")
is_eq(logs.count("health check of p/a1 failed: HTTP 503, expected 200; the account is "
                 "left out until a check passes"), 1,
      "a1 going out is logged once, not at every check")
is_eq(logs.count("health check of p/a1 passes again: HTTP 200"), 1,
      "and its coming back once")
rows = dp.query(inst, "SELECT * FROM provider_pings")
ok(all(SECRET not in json.dumps(r) for r in rows), "nor in any ping row")
rows = dp.query(inst, "SELECT * FROM account_backoffs")
ok(all(SECRET not in json.dumps(r) for r in rows), "nor in any backoff row")

# ---- quotapool-admin check ---------------------------------------------------

since = last_ping_id()
r = inst.admin("check", timeout=60)
qp.diag("quotapool-admin check (all live):\n" + r.out)
is_eq(r.rc, 0, "check: exit 0 when accounts are live")
lines = r.lines()
like(lines[0] if lines else "", r"^ID\s+STATUS\s+LATENCY_MS\s+DETAIL$",
     "check: a table header")
for acct, prov, detail in (("a1", "p", "HTTP 200"), ("a2", "p", "HTTP 200"),
                           ("c1", "c", "exit 0"), ("c2", "c", "exit 0")):
    like(r.out, r"(?m)^%s/%s\s+ok\s+\d+\s+%s$" % (prov, acct, detail),
         "check: %s/%s ok with its latency and detail" % (prov, acct))
like(lines[-1] if lines else "", r"^4 of 4 accounts live$", "check: the count")
ok(SECRET not in r.out + r.err, "check prints no key")
cmp_ok(len([x for x in dp.query(inst, "SELECT account_name FROM provider_pings "
                                "WHERE id > ?", (since,))]), ">=", 4,
       "check records its results as pings")

mock.set_default("k-a1", {"match": HEALTH, "status": 500})
mock.set_default("k-a2", {"match": HEALTH, "reset": True})
control("c1", "fail")
control("c2", "fail")
r = inst.admin("check", timeout=60)
qp.diag("quotapool-admin check (none live):\n" + r.out)
is_eq(r.rc, 1, "check: exit 1 when no account is live")
like(r.out, r"(?m)^p/a1\s+failed\s+\d+\s+HTTP 500, expected 200$", "check: a1 failed")
like(r.out, r"(?m)^c/c1\s+failed\s+\d+\s+exit 3$", "check: c1 failed")
like(r.out, r"(?m)^0 of 4 accounts live$", "check: none live")
ok(health_backoff("a2") is not None, "check's failures take the accounts out too")

r = inst.admin("check", "c/c2", "--json", timeout=60)
is_eq(r.rc, 1, "check c/c2 --json: exit 1 (c2 fails)")
try:
    j = json.loads(r.out)
except ValueError:
    j = {}
accts = j.get("accounts") or [{}]
is_eq((len(accts), accts[0].get("id"), accts[0].get("check"), accts[0].get("status"),
       accts[0].get("exit_code"), j.get("live")),
      (1, "c/c2", "command", "failed", 3, 0), "check --json: one account, its fields")

mock.set_default("k-a2", {"match": HEALTH, "delay_ms": 30000})
t0 = time.monotonic()
r = inst.admin("check", "p/a2", timeout=60)
took = time.monotonic() - t0
is_eq(r.rc, 1, "check p/a2 of a silent upstream: exit 1")
like(r.out, r"(?m)^p/a2\s+failed\s+\d+\s+no whole answer within 5000 ms$",
     "check: an http check without an answer fails at its timeout_s")
cmp_ok(took, "<", 25, "in bounded time (timeout_s 5, the upstream waits 30 s)")

control("c2", "ok")
r = inst.admin("check", "c", timeout=60)
is_eq(r.rc, 0, "check c: exit 0 once c2 passes")
like(r.out, r"(?m)^1 of 2 accounts live$", "check c: only provider c's accounts")

for args, name in ((("nosuch",), "an unknown provider"),
                   (("p/zz",), "an unknown account"),
                   (("p/",), "an empty account"),
                   (("--bogus",), "an unknown option"),
                   (("p", "c"), "two targets")):
    r = inst.admin("check", *args)
    is_eq(r.rc, 2, "check %s: exit 2 (%s)" % (" ".join(args), name))
    ok(r.err.strip() != "", "check %s: says why" % " ".join(args), r.err)

mock.set_default("k-a1", None)
mock.set_default("k-a2", None)
control("c1", "ok")

# ---- a reload adopts a changed check ----------------------------------------

ok(wait_for(lambda: dp.backoff(inst, "a1") is None and
            dp.backoff(inst, "a2") is None), "a1 and a2 pass again")
inst.providers["p"]["check"] = dict(inst.providers["p"]["check"], path="/nope")
inst.write_config()
r = inst.admin("reload")
is_eq(r.rc, 0, "reload with p's check changed: exit 0")
like(r.out, r"providers changed: p\b", "the reload names p as changed", )
b = wait_for(lambda: health_backoff("a1"))
ok(b is not None and b["status_code"] == 404,
   "the new check (a path the mock does not serve) takes a1 out", b)

res = inst.stop()
is_eq(res.rc, 0, "the gateway stops cleanly")
inst.check_logs()
qp.done()
