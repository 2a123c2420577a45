#!/usr/bin/env python3
"""test_key_limits.py: a client key's rpm, budget and model limits hold
across two quotapool.fcgi processes (two gateways, each lighttpd +
quotapool.fcgi, on one database), and quotapool-admin key set changes a
limit of a running gateway from its next request.

rpm: with --rpm 3, requests sent to the two gateways in turn pass three
times; the fourth, on either, gets 429 with Retry-After (at most 60 s) in
the client's protocol family, and is recorded as rejected (key_rpm)
without reaching the provider. key set --rpm 10 lets the next one through.
budget: at $10 per million input tokens and 20,000 prompt tokens a
request ($0.20), --budget 0.5/day passes three requests and refuses the
fourth with 429, OpenAI type insufficient_quota and a Retry-After up to
the next UTC midnight. models: --models 'm1*' refuses m2 with 403 in both
families, allows m1; key set --models none allows m2 again."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(180)

mock = qp.mock(style="openai", models=["m1", "m2"])
mock.set_default("*", {"usage": {"prompt": 20000, "completion": 1}})
PROVIDERS = {"p": {"mock": mock, "protocols": ["openai", "anthropic"],
                   "models": ["m1", "m2"], "accounts": ["a"]}}
PRICES = {"m1": {"input_price_per_1k": 0.01, "output_price_per_1k": 0.01},
          "m2": {"input_price_per_1k": 0.01, "output_price_per_1k": 0.01}}
gw1 = qp.Instance(providers=PROVIDERS, sections={"model_overrides": PRICES})
dp.start(gw1)
# The second gateway: its own lighttpd and quotapool.fcgi, the same database.
gw2 = qp.Instance(providers=PROVIDERS, database={"path": gw1.db_path},
                  sections={"model_overrides": PRICES})
gw2.key = gw1.key
gw2.db_path = gw1.db_path
dp.start(gw2)
gws = (gw1, gw2)
fcgi = set(gw1.app_pids()) | set(gw2.app_pids())
cmp_ok(len(fcgi), ">=", 2, "two quotapool.fcgi processes serve the database")


def new_key(name, *limits):
    r = gw1.admin("key", "new", name, *limits)
    lines = r.lines()
    ok(r.rc == 0 and len(lines) == 1 and qp.KEY_RE.match(lines[0]),
       "key new %s %s" % (name, " ".join(limits)), repr(r))
    return lines[0] if lines else None


def send(gw, key, model="m1", family="openai"):
    body = dp.chat(model) if family == "openai" else dp.messages(model)
    r = gw.request("POST", OPENAI if family == "openai" else ANTHROPIC, body, key=key)
    # The row closes just after the answer: the next check sees its cost.
    dp.wait_row(gw, dp.uid_of(r))
    return r


def upstream_calls():
    return len(mock.requests(path=OPENAI))


# ---- usage --------------------------------------------------------------------

for args in (("key", "new", "x", "--rpm", "0"), ("key", "new", "x", "--rpm", "1.5"),
             ("key", "new", "x", "--budget", "20"), ("key", "new", "x", "--budget",
                                                      "20/week"),
             ("key", "new", "x", "--budget", "-1/day"), ("key", "new", "x", "--models", ""),
             ("key", "set", "x"), ("key", "list", "--rpm", "3")):
    r = gw1.admin(*args)
    is_eq(r.rc, 2, "%s: refused as bad usage" % " ".join(args))
ok(gw1.admin("key", "set", "nobody", "--rpm", "3").rc == 1,
   "key set of an unknown key: exit 1")

# ---- rpm across two processes -------------------------------------------------

krpm = new_key("rpm3", "--rpm", "3")
mock.reset()
got = [send(gws[i % 2], krpm).status for i in range(3)]
is_eq(got, [200, 200, 200], "rpm 3: three requests over both gateways pass")
for i, gw in enumerate(gws):
    r = send(gw, krpm, family="openai" if i == 0 else "anthropic")
    fam = "openai" if i == 0 else "anthropic"
    is_eq(r.status, 429, "rpm 3: the next request on gateway %d is refused" % (i + 1))
    ra = r.headers.get("Retry-After")
    ok(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60,
       "rpm 3: Retry-After within the minute (%r)" % ra)
    dp.error_shape(r, fam, "rpm refusal (%s)" % fam)
    row = dp.row(gw1, dp.uid_of(r)) or {}
    is_eq((row.get("status"), row.get("error_class")), ("rejected", "key_rpm"),
          "rpm refusal recorded as rejected, key_rpm")
is_eq(upstream_calls(), 3, "rpm: refused requests never reached the provider")

r = gw1.admin("key", "set", "rpm3", "--rpm", "10")
is_eq(r.rc, 0, "key set rpm3 --rpm 10 while the gateways run")
is_eq(send(gw2, krpm).status, 200, "key set: the next request passes at once")
lst = {k["name"]: k for k in json.loads(gw1.admin("key", "list", "--json").out)}
is_eq(lst.get("rpm3", {}).get("rpm"), 10, "key list --json shows the new rpm")

# ---- budget across two processes ----------------------------------------------

kb = new_key("budget", "--budget", "0.5/day")
mock.reset()
got = [send(gws[i % 2], kb).status for i in range(3)]
is_eq(got, [200, 200, 200], "budget $0.50/day: three $0.20 requests pass")
spent = dp.query(gw1, "SELECT sum(cost_microdollars) AS c FROM requests r JOIN "
                 "client_keys k ON k.id = r.client_key_id WHERE k.name = 'budget'")
is_eq(spent[0]["c"] if spent else None, 600030, "the three cost $0.60003 together")
for i, gw in enumerate(gws):
    r = send(gw, kb)
    is_eq(r.status, 429, "budget spent: refused on gateway %d" % (i + 1))
    err = dp.error_shape(r, "openai", "budget refusal")
    is_eq(err.get("type"), "insufficient_quota", "budget refusal: type insufficient_quota")
    ra = r.headers.get("Retry-After")
    ok(ra is not None and ra.isdigit() and 1 <= int(ra) <= 86400,
       "budget refusal: Retry-After up to the next UTC midnight (%r)" % ra)
    row = dp.row(gw1, dp.uid_of(r)) or {}
    is_eq(row.get("error_class"), "key_budget", "budget refusal recorded as key_budget")
is_eq(upstream_calls(), 3, "budget: refused requests never reached the provider")
is_eq(gw1.admin("key", "set", "budget", "--budget", "1/day").rc, 0, "key set --budget 1/day")
is_eq(send(gw2, kb).status, 200, "a raised budget lets the next request through")

# ---- models -------------------------------------------------------------------

km = new_key("models", "--models", "m1*, x-*")
for fam in ("openai", "anthropic"):
    r = send(gws[0 if fam == "openai" else 1], km, model="m2", family=fam)
    is_eq(r.status, 403, "models m1*: m2 refused with 403 (%s)" % fam)
    dp.error_shape(r, fam, "model refusal (%s)" % fam)
is_eq(send(gw1, km, model="m1").status, 200, "models m1*: m1 passes")
is_eq(gw1.admin("key", "set", "models", "--models", "none").rc, 0, "key set --models none")
is_eq(send(gw2, km, model="m2").status, 200, "no globs: m2 passes again")

# A key with no limits is not held back.
free = [send(gws[i % 2], gw1.key).status for i in range(5)]
is_eq(free, [200] * 5, "a key without limits is not limited")

for gw in gws:
    gw.stop()
mock.stop()
qp.done()
