#!/usr/bin/env python3
"""test_metrics_session.py: /metrics (metrics_public = false) opens to an
admin's dashboard session as it does to an admin key, like the other gated
pages: the session cookie of an admin login gets 200 with the exposition;
no credentials, a client key, a made-up session token, a session ended by
logout and the session of a revoked admin key are still refused."""

import os
import re
import sys
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from qp import is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

mock = qp.mock(models=["gpt-ms"])
inst = qp.Instance(providers={"pms": {
    "mock": mock, "protocols": ["openai"], "models": ["gpt-ms"],
    "accounts": ["s1"]}})
dp.start(inst)
CLIENT = inst.key
ADMIN = inst.new_key("boss", admin_role=True)
OTHER = inst.new_key("boss2", admin_role=True)
mock.script("*", {"usage": {"prompt": 5, "completion": 2}})
r = inst.request("POST", dp.OPENAI, dp.chat("gpt-ms"))
is_eq(r.status, 200, "one request served, for something to count")
# Its row is closed just after the answer went out: wait for it, or a loaded
# machine shows /metrics before there is anything to count.
dp.wait_row(inst, dp.uid_of(r), timeout=10)


def login(key):
    r = inst.request("POST", "/login", "key=" + urllib.parse.quote(key),
                     headers={"Content-Type":
                              "application/x-www-form-urlencoded"}, key=None)
    m = re.match(r"qp_session=([0-9a-f]+);", r.headers.get("Set-Cookie", ""))
    return m.group(1) if m else None


def metrics(key=None, session=None):
    h = {"Cookie": "qp_session=" + session} if session else None
    return inst.request("GET", "/metrics", key=key, headers=h)


tok = login(ADMIN)
ok(tok, "an admin logs in to the dashboard")
r = metrics(session=tok)
ok(r.status == 200 and r.headers.get("Content-Type", "").startswith(
    "text/plain") and "quotapool_build_info{" in r.text,
   "/metrics with the admin's session cookie: 200 with the exposition",
   lambda: dp.show(r))
r2 = metrics(key=ADMIN)
is_eq(r2.status, 200, "/metrics with the admin key: 200 as before")
r = metrics(key=CLIENT, session=tok)
is_eq(r.status, 200, "a client key beside an admin session: the session "
      "decides, as on the dashboard")

is_eq(metrics().status, 401, "/metrics without credentials: 401")
is_eq(metrics(key=CLIENT).status, 403, "/metrics with a client key: 403")
is_eq(metrics(session="0" * 64).status, 401,
      "/metrics with a made-up session token: 401")

r = inst.request("POST", "/logout", headers={"Cookie": "qp_session=" + tok},
                 key=None)
is_eq(r.status, 303, "logout")
is_eq(metrics(session=tok).status, 401,
      "/metrics with the session logout ended: 401")

tok2 = login(OTHER)
ok(tok2, "a second admin logs in")
is_eq(metrics(session=tok2).status, 200, "their session opens /metrics")
res = inst.admin("key", "revoke", "boss2")
is_eq(res.rc, 0, "the second admin key is revoked")
is_eq(metrics(session=tok2).status, 401,
      "/metrics with the session of a revoked key: 401")

qp.done()
