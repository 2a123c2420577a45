#!/usr/bin/env python3
"""test_admin_models.py: quotapool-admin models list|refresh against a running
gateway (lighttpd + quotapool.fcgi + a mock provider).

list prints what /v1/models serves (per provider with --provider). A model
the mock starts listing appears in the running gateway's /v1/models, and can
be used, right after `models refresh p`, with no restart (the gateway's own
refresh is an hour away). A failed fetch exits 1 and keeps the last good
list."""

import json
import time
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

mock = qp.mock(style="openai", models=["m1"])
inst = qp.Instance(providers={
    "p": {"mock": mock, "protocols": ["openai"], "accounts": ["a"]},
    "q": {"mock": mock, "protocols": ["openai"], "models": ["s1"],
          "models_path": "", "accounts": ["c"]}},
    sections={"models": {"refresh_interval_s": 3600}})
dp.start(inst)


def adm(*args):
    return inst.admin(*args)


def served():
    r = inst.request("GET", "/v1/models")
    return sorted(x["id"] for x in (r.try_json() or {}).get("data", []))


def one_line_err(r):
    lines = r.lines("err")
    return len(lines) == 1 and lines[0].startswith("quotapool-admin: ")


def ids(r):
    try:
        return sorted(x["id"] for x in json.loads(r.out)["data"])
    except (ValueError, KeyError, TypeError):
        return None


# The gateway fetched p's list at start.
deadline = time.monotonic() + 10
while served() != ["m1/p", "s1/q"] and time.monotonic() < deadline:
    time.sleep(0.1)
is_eq(served(), ["m1/p", "s1/q"], "the gateway serves m1/p and the static s1/q")

r = adm("models", "--help")
ok(r.rc == 0 and "models refresh [ID]" in r.out, "models --help: exit 0", repr(r))
r = adm("models")
ok(r.rc == 2 and one_line_err(r), "models without a command: exit 2, one line", repr(r))
r = adm("models", "drop")
ok(r.rc == 2 and one_line_err(r), "models drop: exit 2, one line", repr(r))

r = adm("models", "list")
is_eq(r.rc, 0, "list: exit 0")
like(r.out, r"(?m)^m1/p\s+p\s+m1$", "list: m1/p of provider p")
like(r.out, r"(?m)^s1/q\s+q\s+s1$", "list: the static s1/q")
r = adm("models", "list", "--json")
is_eq(ids(r), served(), "list --json: the ids /v1/models serves")
r = adm("models", "list", "--provider", "q", "--json")
is_eq(ids(r), ["s1/q"], "list --provider q: q's models only")
r = adm("models", "list", "--provider", "nosuch")
ok(r.rc == 1 and one_line_err(r), "list --provider nosuch: exit 1, one line", repr(r))

# ---- refresh: a new model is served by the running gateway at once -----------

mock.set_models(["m1", "m-new"])
is_eq(served(), ["m1/p", "s1/q"], "the mock lists m-new; the gateway does not serve it yet")
r = inst.request("POST", OPENAI, dp.chat("m-new/p"))
is_eq(r.status, 404, "m-new/p before the refresh: 404")
r = adm("models", "refresh", "p")
is_eq(r.rc, 0, "refresh p: exit 0") or qp.diag(repr(r))
like(r.out, r"(?m)^p: 2 models listed \(HTTP 200, \d+ ms\)$", "refresh p: says what it read")
like(r.out, r"(?m)^m-new/p\s+p\s+m-new$", "refresh p: prints the new model")
ok("s1/q" not in r.out, "refresh p: prints p's models only")
is_eq(served(), ["m-new/p", "m1/p", "s1/q"],
      "the running gateway's /v1/models serves m-new/p after the refresh")
r = inst.request("POST", OPENAI, dp.chat("m-new/p"))
is_eq(r.status, 200, "m-new/p after the refresh: served (200)")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("account_name"), row.get("model_base")), ("a", "m-new"),
      "by account a, as m-new upstream")
pings = dp.query(inst, "SELECT ok, model_count FROM provider_pings WHERE "
                 "provider_id = 'p' ORDER BY id DESC LIMIT 1")
is_eq([(x["ok"], x["model_count"]) for x in pings], [(1, 2)],
      "the refresh is recorded as a ping of p")

r = adm("models", "refresh", "--json")
is_eq(r.rc, 0, "refresh (every provider): exit 0") or qp.diag(repr(r))
is_eq(ids(r), ["m-new/p", "m1/p", "s1/q"], "refresh --json: the whole catalog")
like(r.err, r"(?m)^q: not fetched \(static models only\)$",
     "refresh: q has no models_path, said on stderr with --json")

# ---- a failed fetch keeps the last good list ---------------------------------

mock.set_default("k-a", {"status": 500, "match": "/v1/models"})
mock.set_models(["m1"])
r = adm("models", "refresh", "p")
ok(r.rc == 1 and any(l.startswith("quotapool-admin: provider p: the fetch failed")
                     for l in r.lines("err")),
   "refresh p while the provider answers 500: exit 1, says so", repr(r))
is_eq(served(), ["m-new/p", "m1/p", "s1/q"], "the last good list is still served")
r = adm("models", "refresh", "q")
ok(r.rc == 1 and one_line_err(r) and "models_path" in r.err,
   "refresh q (no models_path): exit 1, one line", repr(r))
r = adm("models", "refresh", "nosuch")
ok(r.rc == 1 and one_line_err(r), "refresh nosuch: exit 1, one line", repr(r))

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")
qp.done()
