#!/usr/bin/env python3
"""test_hard_cap.py: an account with hard_cap = true is excluded at a limit
of its quota windows until the window lets it under, and the next request
goes to another account; the routing decision says why (reason hard_cap,
the window, and when it resets). Without hard_cap the same limit is only
pressure: the account keeps being chosen.

Provider "hi" (routing_priority 10, hard_cap = true for its accounts) has
account a1 with five_hour_requests = 2; provider "lo" (tier 0) has a2.
Provider "soft" (tier 5, same limit, no hard_cap) serves model m2 only
with account s1. Requests 1 and 2 for m1 go to a1, the third to a2; m1
pinned to "hi" gets 429 with a Retry-After up to the window's reset. For
m2, s1 is chosen a third time."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import OPENAI  # noqa: E402
from qp import is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

HOUR = 3600000
mock = qp.mock(style="openai", models=["m1", "m2"])
inst = qp.Instance(providers={
    "hi": {"mock": mock, "models": ["m1"], "models_path": "", "routing_priority": 10, "hard_cap": True,
           "accounts": [{"name": "a1", "api_key": "k-a1", "five_hour_requests": 2}]},
    "lo": {"mock": mock, "models": ["m1"], "models_path": "", "accounts": ["a2"]},
    "soft": {"mock": mock, "models": ["m2"], "models_path": "", "routing_priority": 5,
             "accounts": [{"name": "s1", "api_key": "k-s1", "five_hour_requests": 2}]}})
dp.start(inst)


def send(model):
    r = inst.request("POST", OPENAI, dp.chat(model))
    row = dp.wait_row(inst, dp.uid_of(r)) or {}
    return r, row


def decision(uid):
    rows = dp.query(inst, "SELECT d.* FROM routing_decisions d JOIN requests r ON "
                    "r.id = d.request_id WHERE r.request_uid = ? ORDER BY "
                    "d.attempt_number", (uid,))
    return rows[0] if rows else {}


got = []
for i in range(3):
    r, row = send("m1")
    got.append((r.status, row.get("account_name")))
is_eq(got, [(200, "a1"), (200, "a1"), (200, "a2")],
      "hard cap of 2 requests in 5 h: the third request goes to a2")
d = decision(dp.uid_of(r))
detail = json.loads(d.get("detail_json") or "{}")
a1 = [a for a in detail.get("accounts", []) if a.get("account") == "a1"]
a1 = a1[0] if a1 else {}
is_eq(a1.get("reason"), "hard_cap", "the decision says a1 is at its hard cap")
is_eq(a1.get("window"), "5h", "and which window")
now = dp.now_ms()
hour = now // HOUR * HOUR
ok(isinstance(a1.get("until"), int) and hour + 5 * HOUR < a1["until"] <= hour + 6 * HOUR,
   "and when it resets: when this hour leaves the 5-hour window", repr(a1))

r, row = send("m1/hi")
is_eq(r.status, 429, "m1 pinned to the capped provider: 429")
ra = r.headers.get("Retry-After")
ok(ra is not None and ra.isdigit() and 4 * 3600 < int(ra) <= 6 * 3600 + 60,
   "Retry-After up to the reset (%r)" % ra)
dp.error_shape(r, "openai", "hard cap refusal")

got = [send("m2")[1].get("account_name") for _ in range(3)]
is_eq(got, ["s1", "s1", "s1"], "without hard_cap the limit is pressure only")

inst.stop()
mock.stop()
qp.done()
