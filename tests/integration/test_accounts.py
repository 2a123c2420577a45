#!/usr/bin/env python3
"""test_accounts.py: quotapool-admin accounts list|status|disable|enable|explain
against a running gateway (lighttpd + quotapool.fcgi + a mock provider).

Provider p has accounts a, b (and d, disabled in the configuration), q has c
and serves m2 only. Disabling a with the gateway running sends the next m1
requests to b, with a's exclusion (operator_disabled) in their routing
decisions and on the dashboard's accounts page; explain names it and writes
nothing; status shows backoffs with their scope, quota windows against
their limits and a request in flight; enable brings a back; both disabled
gives a 503 in the client's protocol family."""

import json
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(180)

mock = qp.mock(style="openai", models=["m1", "m2"])
inst = qp.Instance(providers={
    "p": {"mock": mock, "protocols": ["openai"], "models": ["m1", "m2"],
          "routing_priority": 1,
          # b has a quota and a none: with usage equal, a scores better.
          "accounts": ["a", {"name": "b", "api_key": "k-b", "five_hour_requests": 100},
                       {"name": "d", "api_key": "k-d", "enabled": False}]},
    "q": {"mock": mock, "protocols": ["openai"], "models": ["m2"],
          "models_path": "", "accounts": ["c"]}},
    sections={"routing": {"transient_backoff_s": 300}})
dp.start(inst)
ADMIN = inst.new_key("boss", admin_role=True)


def adm(*args):
    r = inst.admin(*args)
    if r.timed_out:
        qp.diag("quotapool-admin %s timed out" % " ".join(args))
    return r


def one_line_err(r):
    lines = r.lines("err")
    return len(lines) == 1 and lines[0].startswith("quotapool-admin: ")


def send(model="m1"):
    r = inst.request("POST", OPENAI, dp.chat(model))
    if dp.uid_of(r):
        dp.wait_row(inst, dp.uid_of(r))
    return r


def served_by(r):
    row = dp.row(inst, dp.uid_of(r)) if dp.uid_of(r) else None
    return row["account_name"] if row else None


def entry(r, account):
    for d in dp.decisions(inst, dp.uid_of(r)):
        for e in json.loads(d["detail_json"]).get("accounts") or []:
            if e.get("account") == account:
                return e
    return {}


def jout(r):
    try:
        return json.loads(r.out)
    except ValueError:
        return None


def counts():
    return dp.query(inst, "SELECT (SELECT count(*) FROM requests) AS r, "
                    "(SELECT count(*) FROM routing_decisions) AS d, "
                    "(SELECT count(*) FROM request_attempts) AS a, "
                    "(SELECT count(*) FROM reservations) AS v")[0]


# ---- usage ------------------------------------------------------------------

r = adm("accounts", "--help")
is_eq(r.rc, 0, "accounts --help: exit 0")
like(r.out, r"accounts explain MODEL", "accounts --help names explain")
r = adm("accounts")
ok(r.rc == 2 and one_line_err(r), "accounts without a command: exit 2, one line",
   repr(r))
r = adm("accounts", "frobnicate")
ok(r.rc == 2 and one_line_err(r), "accounts frobnicate: exit 2, one line", repr(r))
r = adm("accounts", "disable")
ok(r.rc == 2 and one_line_err(r), "disable without a name: exit 2", repr(r))
r = adm("accounts", "disable", "nosuch")
ok(r.rc == 1 and one_line_err(r) and "nosuch" in r.err,
   "disable of an unknown account: exit 1, one line naming it", repr(r))

# ---- list -------------------------------------------------------------------

r = adm("accounts", "list")
is_eq(r.rc, 0, "list: exit 0")
like(r.out, r"(?m)^a\s+p\s+1\s+1\s+inline\s+enabled$", "list: a, its tier and state")
like(r.out, r"(?m)^d\s+p\s.*disabled \(configuration\)$",
     "list: d disabled by the configuration")
ok("k-a" not in r.out and "k-b" not in r.out, "list never shows a key")
r = adm("accounts", "list", "--json")
j = jout(r) or []
is_eq([(x["name"], x["provider"], x["routed"]) for x in j],
      [("a", "p", True), ("b", "p", True), ("d", "p", False), ("c", "q", True)],
      "list --json: every account in file order, d not routed")

# ---- the gateway serves with a and b -----------------------------------------

got = [served_by(send()) for _ in range(2)]
is_eq(sorted(got), ["a", "b"], "before: m1 goes to a and to b")

# ---- disable a: the running gateway stops choosing it ------------------------

r = adm("accounts", "disable", "a", "--note", "billing hold")
is_eq(r.rc, 0, "disable a: exit 0") or qp.diag(repr(r))
like(r.out, r"account 'a' disabled", "disable a: says so")
mock.reset()
got = []
rs = []
for _ in range(4):
    x = send()
    rs.append(x)
    got.append((x.status, served_by(x)))
is_eq(got, [(200, "b")] * 4, "after disable: four m1 requests all go to b")
is_eq(mock.requests(path=OPENAI, key="k-a"), [],
      "after disable: nothing reached the provider with a's key")
e = entry(rs[-1], "a")
is_eq(e.get("reason"), "operator_disabled",
      "the routing decision names a's exclusion: operator_disabled")
cmp_ok(e.get("since", 0), ">", 0, "with the time it was disabled")
r = adm("accounts", "list", "--json")
a = [x for x in (jout(r) or []) if x["name"] == "a"]
is_eq((a[0]["disabled_by_operator"], a[0]["note"], a[0]["routed"]) if a else None,
      (True, "billing hold", False), "list --json: a disabled by the operator, note kept")

mock.reset()
r = adm("models", "refresh", "p")
is_eq((r.rc, [x["key"] for x in mock.requests(path="/v1/models")]), (0, ["k-b"]),
      "the catalog of p is fetched with b's key, not a's")

r = inst.request("GET", "/accounts", key=ADMIN)
is_eq(r.status, 200, "accounts page: 200")
like(r.text, r'<td>a</td><td>p</td>\s*<td class="st-disabled">disabled by the operator '
     r'since [0-9T:-]+Z: billing hold', "accounts page: a disabled by the operator, why")
r = inst.request("GET", "/api/stats/accounts", key=ADMIN)
a = [x for x in (r.try_json() or {}).get("accounts", []) if x.get("name") == "a"]
is_eq((a[0].get("status"), a[0].get("disabled_by")) if a else None,
      ("disabled", "operator"), "/api/stats/accounts: a disabled by the operator")

# ---- explain: the real selection, nothing written ----------------------------

before = counts()
r = adm("accounts", "explain", "m1")
is_eq(r.rc, 0, "explain m1: exit 0") or qp.diag(repr(r))
like(r.out, r"the next request goes to account b of provider p", "explain: b is next")
like(r.out, r"(?m)^a\s+p\s+operator_disabled\s+disabled by the operator since",
     "explain: a excluded, disabled by the operator")
like(r.out, r"(?m)^b\s+p\s+chosen\s+chosen: quota pressure",
     "explain: b chosen with its score")
like(r.out, r"(?m)^d\s+p\s+disabled\s+disabled in the configuration",
     "explain: d disabled in the configuration")
like(r.out, r"(?m)^c\s+q\s+no_model\s", "explain: c's provider does not serve m1")
r = adm("accounts", "explain", "m1", "--json")
j = jout(r) or {}
is_eq((j.get("status"), (j.get("chosen") or {}).get("account")), ("ok", "b"),
      "explain --json: status ok, b chosen")
reasons = {x["account"]: x["reason"] for x in
           (j.get("decision") or {}).get("accounts", [])}
is_eq(reasons, {"a": "operator_disabled", "b": "eligible", "d": "disabled",
                "c": "no_model"}, "explain --json: every account with its reason")
r = adm("accounts", "explain", "m2/q")
ok(r.rc == 0 and "account c of provider q" in r.out and
   not any(l.startswith(("a ", "b ")) for l in r.out.splitlines()),
   "explain m2/q: pinned to q, only q's accounts", repr(r))
r = adm("accounts", "explain", "m1", "--protocol", "anthropic")
ok(r.rc == 0 and "account b of provider p" in r.out and "translated" in r.out,
   "explain over anthropic: b, reached by translation, as the data plane does",
   repr(r))
r = adm("accounts", "explain", "nosuch")
ok(r.rc == 1 and "no_model (HTTP 404)" in r.out, "explain nosuch: 404, exit 1",
   repr(r))
is_eq(counts(), before, "explain wrote no request, decision, attempt or reservation")

# ---- both disabled: the client gets a 503 in its family ----------------------

r = adm("accounts", "disable", "b")
is_eq(r.rc, 0, "disable b: exit 0")
x = send()
is_eq(x.status, 503, "a and b disabled: m1 gets 503")
err = dp.error_shape(x, "openai", "a and b disabled (OpenAI)")
like(err.get("message", ""), r"No enabled account", "the message says no enabled account")
x = inst.request("POST", ANTHROPIC, dp.messages("m1"))
is_eq(x.status, 503, "over /v1/messages (reached by translation): 503 too")
dp.error_shape(x, "anthropic", "/v1/messages (Anthropic)")
r = adm("accounts", "explain", "m1")
ok(r.rc == 1 and "no account would serve it: disabled (HTTP 503)" in r.out,
   "explain m1: disabled, 503, exit 1", repr(r))

# ---- enable --------------------------------------------------------------------

r = adm("accounts", "enable", "a")
is_eq((r.rc, r.out.strip()), (0, "account 'a' enabled: the gateway may choose it again "
      "from its next request on"), "enable a: exit 0")
is_eq(served_by(send()), "a", "after enable: m1 goes to a")
r = adm("accounts", "enable", "a")
ok(r.rc == 0 and "nothing to do" in r.out, "enable a again: nothing to do", repr(r))
r = adm("accounts", "enable", "d")
ok(r.rc == 1 and one_line_err(r) and "configuration" in r.err,
   "enable d (disabled in the configuration): exit 1, one line", repr(r))
r = adm("accounts", "enable", "b")
is_eq(r.rc, 0, "enable b: exit 0")

# ---- status: backoffs with their scope, quota windows, in flight -------------

adm("accounts", "disable", "b")
mock.script("k-a", {"status": 500, "model": "m2"})
x = send("m2")
is_eq((x.status, served_by(x)), (200, "c"), "m2 with b disabled: a answers 500, c serves it")
adm("accounts", "enable", "b")
adm("accounts", "disable", "a")
mock.script("k-b", {"status": 429, "headers": {"Retry-After": "120"}})
x = send("m1")
is_eq((x.status, served_by(x)), (429, "b"), "m1 with a disabled: b answers 429, no one "
      "else serves m1")
r = adm("accounts", "enable", "a")
is_eq(r.rc, 0, "enable a: exit 0")
r = adm("accounts", "status")
is_eq(r.rc, 0, "status: exit 0")
like(r.out, r"(?m)^a \(provider p\): ok, 0 in flight$", "status: a ok")
like(r.out, r"(?m)^  backoff of model m2 only until [0-9T:-]+Z \(transient, "
     r"1 failures in a row\)$", "status: a's backoff for m2 only")
like(r.out, r"(?m)^b \(provider p\): backoff, 0 in flight\n  backoff of the whole "
     r"account until [0-9T:-]+Z \(rate_limited", "status: b backs off as a whole")
like(r.out, r"(?m)^b \(provider p\): .*\n  backoff .*\n  5h   \d+ / 100 \(\d+\.\d%\) "
     r"requests, \d+ tokens, \$\d+\.\d{6} spent$",
     "status: b's 5-hour window against its limit of 100 requests")
like(r.out, r"(?m)^a \(provider p\): .*\n.*\n  5h   \d+ requests, ",
     "status: a's 5-hour window, no limit")
like(r.out, r"(?m)^d \(provider p\): disabled by the configuration",
     "status: d disabled by the configuration")

# A slow stream holds a reservation: status sees it in flight.
mock.script("k-a", {"delay_ms": 4000})
mock.script("k-c", {"delay_ms": 4000})
holder = {}


def slow():
    holder["r"] = inst.request("POST", OPENAI, dp.chat("m1"), timeout=30)


t = threading.Thread(target=slow)
t.start()
seen = None
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    j = jout(adm("accounts", "status", "a", "--json")) or {}
    acc = j.get("accounts") or []
    if acc and acc[0].get("in_flight") == 1:
        seen = acc[0]
        break
    time.sleep(0.1)
t.join(30)
ok(seen is not None, "status a --json: 1 in flight while a's request runs")
is_eq([x.get("name") for x in (jout(adm("accounts", "status", "a", "--json")) or {})
       .get("accounts", [])], ["a"], "status NAME shows that account only")
is_eq(holder.get("r").status if holder.get("r") else None, 200, "the slow request ends 200")

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")
qp.done()
