#!/usr/bin/env python3
"""test_ratelimit_headers.py: quotapool learns an account's quota from the
rate-limit headers of its successful answers, not only from a 429.

Accounts a and b of one provider serve m1 and m2. For m1, a answers once
with x-ratelimit-remaining-requests: 0 and a reset 30 s away: the next 20
requests all go to b, a sees none of them, no client sees a 429, and the
routing decision says a is exhausted_by_headers until the reset. For m2, a
answers once with anthropic-ratelimit-requests-remaining: 0 and an RFC 3339
reset 2 s away: b serves while it lasts, and a serves again once it is
over. The learned counts show in /api/stats/accounts and /metrics."""

import datetime
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import OPENAI  # noqa: E402
from qp import is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

mock = qp.mock(style="openai", models=["m1", "m2"])
inst = qp.Instance(providers={
    "p": {"mock": mock, "models": ["m1", "m2"], "models_path": "",
          "accounts": [{"name": "a", "api_key": "k-a"}, {"name": "b", "api_key": "k-b"}]}})
dp.start(inst)


def send(model):
    r = inst.request("POST", OPENAI, dp.chat(model))
    row = dp.wait_row(inst, dp.uid_of(r)) or {}
    return r, row


def decision(uid):
    rows = dp.query(inst, "SELECT d.* FROM routing_decisions d JOIN requests r ON "
                    "r.id = d.request_id WHERE r.request_uid = ? ORDER BY "
                    "d.attempt_number", (uid,))
    return json.loads((rows[0] if rows else {}).get("detail_json") or "{}")


def entry(detail, name):
    got = [a for a in detail.get("accounts", []) if a.get("account") == name]
    return got[0] if got else {}


def seen_by(key, model):
    return len([r for r in mock.requests(path="/v1/chat/completions", key=key)
                if isinstance(r.get("body"), dict) and r["body"].get("model") == model])


# Part 1: 0 remaining, reset in 30 s (OpenAI's headers).
mock.script("k-a", {"model": "m1", "headers": {
    "x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "30s", "x-ratelimit-remaining-tokens": "5000",
    "x-ratelimit-limit-tokens": "10000", "x-ratelimit-reset-tokens": "6m0s"}})
t0 = dp.now_ms()
r, row = send("m1")
is_eq((r.status, row.get("account_name")), (200, "a"),
      "the first request goes to a (configuration order), a 200 with 0 remaining")
before = seen_by("k-a", "m1")
got = [send("m1") for _ in range(20)]
is_eq([x[0].status for x in got], [200] * 20, "no client sees a 429")
is_eq([x[1].get("account_name") for x in got], ["b"] * 20, "the next 20 requests go to b")
is_eq(seen_by("k-a", "m1"), before, "a sees none of them")
a = entry(decision(dp.uid_of(got[-1][0])), "a")
is_eq(a.get("reason"), "exhausted_by_headers", "the decision says why: " + repr(a))
ok(isinstance(a.get("until"), int) and t0 + 29000 <= a["until"] <= dp.now_ms() + 31000,
   "until the reset, 30 s after the answer (%r)" % a.get("until"))

# What was learned is shown per account.
rows = dp.query(inst, "SELECT * FROM account_ratelimits WHERE account_name = 'a' AND "
                "model_id = 'm1' ORDER BY kind")
is_eq([(x["kind"], x["lim"], x["remaining"]) for x in rows],
      [("requests", 100, 0), ("tokens", 10000, 5000)], "both counts of a are stored for m1")

ADMIN = inst.new_key("boss", admin_role=True)
r = inst.request("GET", "/api/stats/accounts", key=ADMIN)
acc = {x.get("name"): x for x in (r.try_json() or {}).get("accounts", [])}
rl = [(x.get("model"), x.get("kind"), x.get("limit"), x.get("remaining"), x.get("exhausted"))
      for x in acc.get("a", {}).get("rate_limits", [])]
is_eq(rl, [("m1", "requests", 100, 0, True), ("m1", "tokens", 10000, 5000, False)],
      "/api/stats/accounts shows a's remaining, limit and whether it is exhausted")
rs = [x.get("reset_at") for x in acc.get("a", {}).get("rate_limits", [])]
ok(len(rs) == 2 and all(isinstance(x, int) and x > t0 for x in rs), "and when each resets (%r)" % rs)
is_eq(acc.get("b", {}).get("rate_limits"), [], "b reported nothing")
r = inst.request("GET", "/metrics", key=ADMIN)
ok('quotapool_account_ratelimit_remaining{account="a",kind="requests"} 0' in r.text and
   'quotapool_account_ratelimit_limit{account="a",kind="tokens"} 10000' in r.text and
   'quotapool_account_ratelimit_reset_timestamp_seconds{account="a",kind="requests"} '
   in r.text, "/metrics shows a's remaining, limit and reset")
r = inst.request("GET", "/accounts", key=ADMIN)
ok("m1 requests: 0 / 100 left, resets " in r.text and "exhausted_by_headers" in r.text,
   "the accounts page shows a's remaining of its limit")

# Part 2: 0 remaining, reset 2 s away (Anthropic's headers, RFC 3339).
reset = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
mock.script("k-a", {"model": "m2", "headers": {
    "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": reset.strftime("%Y-%m-%dT%H:%M:%SZ")}})
r, row = send("m2")
is_eq((r.status, row.get("account_name")), (200, "a"),
      "m2 goes to a, the least recently used, which then reports 0 remaining")
r, row = send("m2")
is_eq((r.status, row.get("account_name")), (200, "b"), "while the reset is ahead, b serves m2")
deadline = time.monotonic() + 30
while time.monotonic() < deadline and datetime.datetime.now(datetime.timezone.utc) <= reset:
    time.sleep(0.2)
time.sleep(0.2)
got = [send("m2")[1].get("account_name") for _ in range(2)]
ok("a" in got, "after the reset a serves again (%r)" % got)

inst.stop()
mock.stop()
qp.done()
