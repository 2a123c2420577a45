#!/usr/bin/env python3
"""test_backoff_scope.py: a model's failures back off that (account, model)
pair only, through lighttpd and quotapool.fcgi against a mock provider.

Account a answers 500 for model m1 only: the m1 request fails over to b,
account_backoffs holds a row of a for m1 with scope "model" and none for the
whole account, m2 still goes to a, the next m1 request goes straight to b
and its routing decision names the exclusion (backoff, scope model). The
dashboard's accounts page and /api/backoffs show the scope. A 429 still backs
off the whole account: m2 then avoids a too."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import OPENAI  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

mock = qp.mock(style="openai", models=["m1", "m2"])
inst = qp.Instance(providers={"p": {
    "mock": mock, "protocols": ["openai"], "models": ["m1", "m2"],
    "accounts": ["a", "b"]}},
    # Long enough that nothing below outlives a backoff on a loaded machine.
    sections={"routing": {"transient_backoff_s": 120}})
dp.start(inst)
ADMIN = inst.new_key("boss", admin_role=True)


def send(model):
    return inst.request("POST", OPENAI, dp.chat(model))


def final(r, name):
    uid = dp.uid_of(r)
    row = dp.wait_row(inst, uid) if uid else None
    ok(row is not None, "%s: x-proxy-request-id names a requests row" % name,
       lambda: dp.show(r))
    return row or {}


def entry(r, account):
    """account's entry in the first routing decision of response r."""
    for d in dp.decisions(inst, dp.uid_of(r)):
        try:
            det = json.loads(d["detail_json"])
        except ValueError:
            det = {}
        for a in det.get("accounts") or []:
            if a.get("account") == account:
                return a
        return {}
    return {}


def rows(account):
    return {x["model_id"]: x for x in dp.query(
        inst, "SELECT * FROM account_backoffs WHERE account_name = ?",
        (account,))}


def upstream(key, model):
    return [x for x in mock.requests(path=OPENAI, key=key)
            if isinstance(x.get("body"), dict) and
            x["body"].get("model") == model]


# ---- a 500 for m1 backs off (a, m1) only -----------------------------------

mock.set_default("k-a", {"status": 500, "model": "m1"})
r = send("m1")
is_eq(r.status, 200, "500 for m1: the client gets 200")
is_eq(r.headers.get("x-proxy-attempt-count"), "2",
      "500 for m1: x-proxy-attempt-count 2")
atts = dp.attempts(inst, dp.uid_of(r))
is_eq([(x["account_name"], x["status_code"], x["outcome"]) for x in atts],
      [("a", 500, "transient"), ("b", 200, "ok")],
      "500 for m1: a answered 500, b served it")
bo = rows("a")
is_eq(sorted(bo), ["m1"], "500 for m1: a has a backoff row for m1 and none "
      "for the whole account")
m1 = bo.get("m1") or {}
is_eq((m1.get("scope"), m1.get("reason"), m1.get("status_code")),
      ("model", "transient", 500),
      "500 for m1: the row says scope model, reason transient, status 500")
is_eq(rows("b"), {}, "500 for m1: b has no backoff")

r = send("m2")
is_eq(r.status, 200, "m2 while a backs off for m1: 200")
row = final(r, "m2")
is_eq((row.get("account_name"), row.get("attempt_count")), ("a", 1),
      "m2 still goes to a, at the first attempt")
is_eq(entry(r, "a").get("reason"), "eligible",
      "m2: the routing decision has a eligible")
is_eq(len(upstream("k-a", "m2")), 1, "m2: a's key reached the provider")

n_a_m1 = len(upstream("k-a", "m1"))
r = send("m1")
is_eq(r.status, 200, "m1 again: 200")
row = final(r, "m1 again")
is_eq((row.get("account_name"), row.get("attempt_count")), ("b", 1),
      "m1 again goes straight to b")
e = entry(r, "a")
is_eq((e.get("reason"), e.get("backoff"), e.get("scope")),
      ("backoff", "transient", "model"),
      "m1 again: the decision names a's exclusion, its reason and its scope")
is_eq(len(upstream("k-a", "m1")), n_a_m1, "m1 again: nothing went to a")
is_eq(sorted(rows("a")), ["m1"], "a success for m2 did not clear a's m1 "
      "backoff")

# ---- the dashboard and /api/backoffs show the scope ------------------------

r = inst.request("GET", "/accounts", key=ADMIN)
is_eq(r.status, 200, "accounts page: 200")
like(r.text, r'<tr>\s*<td>a</td><td>p</td>\s*<td class="st-ok">ok'
     r'<div class="mb">m1: backoff until [0-9TZ:-]+ \(transient, this model '
     r'only\)</div></td>',
     "accounts page: a is ok, with a backoff for m1 only")
r = inst.request("GET", "/api/backoffs", key=ADMIN)
j = r.try_json() or {}
got = [(x.get("account_name"), x.get("model_id"), x.get("scope"),
        x.get("reason")) for x in j.get("backoffs") or []]
is_eq(got, [("a", "m1", "model", "transient")],
      "/api/backoffs: a's backoff for m1, scope model")

# ---- a 429 still backs off the whole account -------------------------------

mock.script("k-a", {"status": 429, "headers": {"Retry-After": "60"},
                    "model": "m2"})
r = send("m2")
is_eq(r.status, 200, "429 for m2: the client gets 200")
atts = dp.attempts(inst, dp.uid_of(r))
is_eq([(x["account_name"], x["status_code"], x["outcome"]) for x in atts],
      [("a", 429, "rate_limited"), ("b", 200, "ok")],
      "429 for m2: a answered 429, b served it")
bo = rows("a")
acct = bo.get("") or {}
is_eq((acct.get("scope"), acct.get("reason"), acct.get("status_code")),
      ("account", "rate_limited", 429),
      "429 for m2: a's row for the whole account, rate_limited")
ok("m2" not in bo, "429 for m2: no row of a for m2 alone")
r = send("m2")
row = final(r, "m2 after the 429")
is_eq((r.status, row.get("account_name")), (200, "b"),
      "m2 after the 429 goes to b")
e = entry(r, "a")
is_eq((e.get("reason"), e.get("backoff"), e.get("scope")),
      ("backoff", "rate_limited", "account"),
      "m2 after the 429: a excluded account-wide")
r = inst.request("GET", "/accounts", key=ADMIN)
like(r.text, r'<td>a</td><td>p</td>\s*<td class="st-backoff">backoff until '
     r'[0-9TZ:-]+ \(rate_limited, whole account\)<div class="mb">m1: ',
     "accounts page: a in backoff for the whole account, m1's still listed")

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
