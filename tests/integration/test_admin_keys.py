#!/usr/bin/env python3
"""test_admin_keys.py: quotapool-admin key new --expires, key rotate and key
list against a running gateway (lighttpd + quotapool.fcgi + a mock provider).

A key issued with --expires works until its expiry; past it (the stored
expiry moved into the past, as time would) every route answers 401 with a
message that says it expired, in the client's protocol family, while a
wrong key still gets the usual 401. key rotate prints a new secret for the
same name and role: the old one is refused at once (its dashboard session
too), the new one works, and the expiry term is kept or replaced."""

import json
import os
import re
import sys
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

HOUR = 3600000
mock = qp.mock(style="openai", models=["m1"])
inst = qp.Instance(providers={"p": {
    "mock": mock, "protocols": ["openai", "anthropic"], "models": ["m1"],
    "accounts": ["a"]}})
dp.start(inst)


def adm(*args):
    return inst.admin(*args)


def one_line_err(r):
    lines = r.lines("err")
    return len(lines) == 1 and lines[0].startswith("quotapool-admin: ")


def issued(r):
    lines = r.lines()
    return lines[0] if r.rc == 0 and len(lines) == 1 and qp.KEY_RE.match(lines[0]) else None


def keys():
    r = adm("key", "list", "--json")
    try:
        return {k["name"]: k for k in json.loads(r.out)}
    except (ValueError, KeyError, TypeError):
        return {}


def expire(name):
    """Moves the key's stored expiry one second into the past."""
    c = qp.sqlite3.connect(inst.db_path, timeout=10)
    with c:
        c.execute("UPDATE client_keys SET expires_at = ? WHERE name = ?",
                  (dp.now_ms() - 1000, name))
    c.close()


def chat(key):
    return inst.request("POST", OPENAI, dp.chat("m1"), key=key)


# ---- usage --------------------------------------------------------------------

r = adm("key", "--help")
ok(r.rc == 0 and "rotate NAME" in r.out, "key --help: exit 0", repr(r))
for args, what in ((("key", "new", "x", "--expires", "30"), "--expires without unit"),
                   (("key", "new", "x", "--expires", "0d"), "--expires 0d"),
                   (("key", "new", "x", "--expires", "2y"), "--expires in years"),
                   (("key", "rotate"), "rotate without a name"),
                   (("key", "rotate", "x", "--expires", "1d", "--no-expiry"),
                    "--expires with --no-expiry"),
                   (("key", "frob"), "key frob")):
    r = adm(*args)
    ok(r.rc == 2 and one_line_err(r), "%s: exit 2, one line" % what, repr(r))

# ---- key new --expires ---------------------------------------------------------

t0 = dp.now_ms()
r = adm("key", "new", "temp", "--expires", "30d")
temp = issued(r)
ok(temp is not None, "key new --expires 30d: the key alone on stdout", repr(r))
like(r.err, r"client key 'temp' created, valid until \d{4}-\d\d-\d\dT[0-9:]+Z",
     "key new --expires: says until when on stderr")
k = keys().get("temp") or {}
ok(k.get("expires_at") is not None and k.get("valid") is True,
   "key list --json: temp has an expiry and is valid", repr(k))
row = dp.query(inst, "SELECT expires_at FROM client_keys WHERE name = 'temp'")[0]
cmp_ok(row["expires_at"], ">=", t0 + 30 * 24 * HOUR, "stored expiry: 30 days ahead")
cmp_ok(row["expires_at"], "<=", dp.now_ms() + 30 * 24 * HOUR, "and not more")
x = chat(temp)
is_eq(x.status, 200, "temp before its expiry: 200")

expire("temp")
x = chat(temp)
is_eq(x.status, 401, "temp past its expiry: 401 on /v1/chat/completions")
e = dp.error_shape(x, "openai", "expired key (OpenAI)")
like(e.get("message", ""), r"expired", "the OpenAI message says the key expired")
like(x.headers.get("WWW-Authenticate", ""), r'^Bearer error="invalid_token"',
     "WWW-Authenticate names an invalid token")
x = inst.request("POST", ANTHROPIC, dp.messages("m1"), key=temp, auth="x-api-key")
is_eq(x.status, 401, "expired key on /v1/messages: 401")
e = dp.error_shape(x, "anthropic", "expired key (Anthropic)")
like(e.get("message", ""), r"expired", "the Anthropic message says the key expired")
is_eq(e.get("type"), "authentication_error", "Anthropic error type authentication_error")
x = inst.request("GET", "/v1/models", key=temp)
ok(x.status == 401 and "expired" in x.text, "expired key on /v1/models: 401, expired",
   dp.show(x))
x = chat("qp_" + "5" * 48)
ok(x.status == 401 and "expired" not in x.text,
   "an unknown key: the usual 401, which does not speak of expiry", dp.show(x))
r = adm("key", "list")
like(r.out, r"(?m)^temp\s.*\(expired\)", "key list marks temp expired")
is_eq((keys().get("temp") or {}).get("valid"), False, "key list --json: temp not valid")

# ---- key rotate --------------------------------------------------------------

r = adm("key", "rotate", "temp", "--expires", "2h")
temp2 = issued(r)
ok(temp2 is not None and temp2 != temp, "rotate temp: a new key alone on stdout", repr(r))
like(r.err, r"client key 'temp' rotated", "rotate: says so on stderr")
is_eq(chat(temp2).status, 200, "the new secret works at once")
x = chat(temp)
ok(x.status == 401 and "expired" not in x.text, "the old secret is refused (unknown now)",
   dp.show(x))
row = dp.query(inst, "SELECT count(*) AS n, max(expires_at) AS e FROM client_keys "
               "WHERE name = 'temp'")[0]
is_eq(row["n"], 1, "still one row named temp")
cmp_ok(row["e"] - dp.now_ms(), "<=", 2 * HOUR, "the new expiry: 2 hours ahead")
cmp_ok(row["e"] - dp.now_ms(), ">", 2 * HOUR - 60000, "(and not less)")

r = adm("key", "rotate", "temp")
temp3 = issued(r)
ok(temp3 is not None, "rotate temp again, no option", repr(r))
row = dp.query(inst, "SELECT expires_at - created_at AS term FROM client_keys "
               "WHERE name = 'temp'")[0]
is_eq(row["term"], 2 * HOUR, "the term of 2 hours is kept")
is_eq(chat(temp2).status, 401, "the second secret is refused now")
r = adm("key", "rotate", "temp", "--no-expiry")
temp4 = issued(r)
ok(temp4 is not None and (keys().get("temp") or {}).get("expires_at") is None,
   "rotate --no-expiry: the key no longer expires", repr(r))
is_eq(chat(temp4).status, 200, "and works")

# An admin key keeps its role; its dashboard session ends with the old secret.
boss = inst.new_key("boss", admin_role=True)
r = inst.request("POST", "/login", "key=" + urllib.parse.quote(boss),
                 headers={"Content-Type": "application/x-www-form-urlencoded"}, key=None)
m = re.match(r"qp_session=([0-9a-f]+);", r.headers.get("Set-Cookie", ""))
tok = m.group(1) if m else ""
ok(r.status == 303 and tok, "login with the admin key: a session", dp.show(r))
x = inst.request("GET", "/api/stats/summary", key=None,
                 headers={"Cookie": "qp_session=" + tok})
is_eq(x.status, 200, "the session opens the stats API")
r = adm("key", "rotate", "boss")
boss2 = issued(r)
ok(boss2 is not None and "admin key 'boss' rotated" in r.err, "rotate boss: an admin key",
   repr(r))
x = inst.request("GET", "/api/stats/summary", key=None,
                 headers={"Cookie": "qp_session=" + tok})
is_eq(x.status, 401, "the session opened with the old secret is refused")
is_eq(inst.request("GET", "/api/stats/summary", key=boss).status, 401,
      "the old admin secret is refused")
is_eq(inst.request("GET", "/api/stats/summary", key=boss2).status, 200,
      "the new one is an admin key")

r = adm("key", "rotate", "nobody")
ok(r.rc == 1 and one_line_err(r), "rotate an unknown key: exit 1, one line", repr(r))
adm("key", "revoke", "temp")
r = adm("key", "rotate", "temp")
ok(r.rc == 1 and one_line_err(r) and "revoked" in r.err,
   "rotate a revoked key: exit 1, one line", repr(r))
out = adm("key", "list").out + json.dumps(keys())
ok(all(s[9:] not in out for s in (temp, temp2, temp3, temp4, boss, boss2)),
   "no listing shows more than a key's prefix")

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")
qp.done()
