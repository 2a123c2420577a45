#!/usr/bin/env python3
"""test_admin_stats.py: quotapool-admin stats after traffic through the
gateway: the totals, the provider, account and model lines and the --json
datasets equal the request rows; bad periods are refused in one line."""

import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

mo = qp.mock(models=["m1"])
ma = qp.mock(style="anthropic", models=["c1"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["m1"], "accounts": ["a1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": ["c1"], "accounts": ["b1"]}})
dp.start(inst)
for i in range(5):
    inst.request("POST", dp.OPENAI, dp.chat("m1", "x"))
for i in range(3):
    inst.request("POST", dp.ANTHROPIC, dp.messages("c1", "x"))
# Each answer goes out before its row is written: wait for all 8 rows.
deadline = qp.time.monotonic() + 10
while qp.time.monotonic() < deadline and dp.query(
        inst, "SELECT count(*) AS n FROM requests WHERE status = 'completed'")[0]["n"] < 8:
    qp.time.sleep(0.05)
dp.pending(inst)
rows = dp.query(inst, "SELECT provider_id AS p, account_name AS a, count(*) AS n, "
                "sum(input_tokens) AS i, sum(output_tokens) AS o FROM requests "
                "GROUP BY provider_id, account_name ORDER BY provider_id")
byp = {r["p"]: r for r in rows}

r = inst.admin("stats", "--json")
is_eq(r.rc, 0, "stats --json: exit 0")
j = json.loads(r.out) if r.rc == 0 else {}
is_eq(j.get("summary", {}).get("total_requests"), sum(x["n"] for x in rows),
      "summary: every request")
ms = {m["provider"]: m for m in j.get("models", {}).get("models", [])}
for p in ("po", "pa"):
    is_eq((ms.get(p, {}).get("requests"), ms.get(p, {}).get("input_tokens")),
          (byp[p]["n"], byp[p]["i"]), "models: %s's requests and input tokens" % p)
acc = {a["name"]: a for a in j.get("accounts", {}).get("accounts", [])}
is_eq(acc.get("a1", {}).get("requests"), byp["po"]["n"], "accounts: a1's requests")

r = inst.admin("stats")
is_eq(r.rc, 0, "stats: exit 0")
like(r.out, r"requests %d \(completed %d" % (sum(x["n"] for x in rows),
                                            sum(x["n"] for x in rows)),
     "stats: the totals line")
like(r.out, r"(?m)^po\s+%d\s+0\s+%d\s+%d\s" % (byp["po"]["n"], byp["po"]["i"],
                                               byp["po"]["o"]),
     "stats: the provider line of po")
like(r.out, r"(?m)^b1\s+pa\s+ok\s+%d\s" % byp["pa"]["n"], "stats: the account line of b1")
like(r.out, r"(?m)^c1/pa\s+%d\s" % byp["pa"]["n"], "stats: the model line of c1/pa")
r = inst.admin("stats", "--period", "7d", "--provider", "po", "--json")
j = json.loads(r.out) if r.rc == 0 else {}
is_eq([m["provider"] for m in j.get("models", {}).get("models", [])], ["po"],
      "stats --provider: one provider's models")
r = inst.admin("stats", "--period", "yesterday")
ok(r.rc == 2 and len([x for x in r.err.splitlines()
                      if x.startswith("quotapool-admin:")]) == 1,
   "a bad period: exit 2 with one line", lambda: "  %r" % r)
inst.stop()
qp.done()
