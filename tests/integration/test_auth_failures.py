#!/usr/bin/env python3
"""test_auth_failures.py: failed key checks and logins leave a trace and
are throttled per address.

With [security] max_auth_failures_per_minute = N: N wrong client keys from
127.0.0.2 get 401 each, the next request from that address gets 429 in its
protocol family (OpenAI on /v1/chat/completions, Anthropic on
/v1/messages) with Retry-After, even with a right key, while a right key
from 127.0.0.1 still gets its answer. Dashboard logins from 127.0.0.3: N
refused with 403, then a 429 login page. /metrics counts the failures and
the refusals; the log (quotapool.fcgi's standard error) has one line per
address for the minute and never a key."""

import http.client
import json
import os
import re
import sys
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(300)

N = 4
MODEL = "af-model"
mock = qp.mock(models=[MODEL])
inst = qp.Instance(providers={"paf": {
    "mock": mock, "protocols": ["openai", "anthropic"], "models": [MODEL],
    "accounts": ["f1"]}},
    sections={"security": {"max_auth_failures_per_minute": N}})
dp.start(inst)
ADMIN = inst.new_key("boss", admin_role=True)
BAD = ["qp_" + ("%02d" % i) * 24 for i in range(N + 3)]


def from_addr(src, method, path, body=None, key=None, headers=None,
              auth="bearer"):
    """One request to the instance from source address src (loopback)."""
    h = dict(headers or {})
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    elif isinstance(body, str):
        data = body.encode()
    if key is not None:
        if auth == "x-api-key":
            h["x-api-key"] = key
        else:
            h["Authorization"] = "Bearer " + key
    c = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=30,
                                   source_address=(src, 0))
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return qp.Response(r.status, r.headers, r.read())
    finally:
        c.close()


# ---------------------------------------------------------------------------
# Client keys from 127.0.0.2

for i in range(N):
    r = from_addr("127.0.0.2", "POST", OPENAI, dp.chat(MODEL), key=BAD[i])
    is_eq(r.status, 401, "wrong key %d of %d from 127.0.0.2: 401" % (i + 1, N))
r = from_addr("127.0.0.2", "POST", OPENAI, dp.chat(MODEL), key=BAD[N])
is_eq(r.status, 429, "wrong key %d from 127.0.0.2: 429" % (N + 1))
err = dp.error_shape(r, "openai", "429 on /v1/chat/completions")
is_eq(err.get("code"), "429", "OpenAI code is \"429\"")
retry = r.headers.get("Retry-After", "")
ok(retry.isdigit() and 1 <= int(retry) <= 60,
   "Retry-After says when the minute ends (%r)" % retry)
r = from_addr("127.0.0.2", "POST", ANTHROPIC, dp.messages(MODEL),
              key=BAD[N + 1], auth="x-api-key")
is_eq(r.status, 429, "/v1/messages from the throttled address: 429")
err = dp.error_shape(r, "anthropic", "429 on /v1/messages")
is_eq(err.get("type"), "rate_limit_error", "Anthropic type rate_limit_error")
r = from_addr("127.0.0.2", "POST", OPENAI, dp.chat(MODEL), key=inst.key)
is_eq(r.status, 429, "a right key from the throttled address is not even "
      "checked: 429")
r = from_addr("127.0.0.2", "GET", "/v1/healthz")
is_eq(r.status, 200, "routes without a key still answer the throttled address")

r = from_addr("127.0.0.1", "POST", OPENAI, dp.chat(MODEL), key=inst.key)
is_eq(r.status, 200, "a right key from 127.0.0.1 still works", )
r = from_addr("127.0.0.1", "POST", OPENAI, dp.chat(MODEL), key=BAD[N + 2])
is_eq(r.status, 401, "a wrong key from 127.0.0.1 is still a plain 401")

# ---------------------------------------------------------------------------
# Dashboard logins from 127.0.0.3


def login(key):
    return from_addr("127.0.0.3", "POST", "/login",
                     "key=" + urllib.parse.quote(key), headers={
                         "Content-Type": "application/x-www-form-urlencoded"})


for i in range(N - 1):
    r = login(BAD[i])
    is_eq(r.status, 403, "wrong admin key %d at /login: 403" % (i + 1))
r = login(inst.key)
is_eq(r.status, 403, "a client key at /login is a failed login too: 403")
r = login(ADMIN)
is_eq(r.status, 429, "after %d failed logins even the admin key gets 429" % N)
ok(r.headers.get("Content-Type", "").startswith("text/html"),
   "the 429 is the login page (HTML)", lambda: dp.show(r))
like(r.text, r"Too many failed logins", "it says why")
ok(r.headers.get("Retry-After", "").isdigit(), "with Retry-After")
r = from_addr("127.0.0.4", "POST", "/login", "key=" + ADMIN, headers={
    "Content-Type": "application/x-www-form-urlencoded"})
is_eq(r.status, 303, "the admin key logs in from another address")

# ---------------------------------------------------------------------------
# /metrics


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


r = inst.request("GET", "/metrics", key=ADMIN)
is_eq(r.status, 200, "GET /metrics as admin")
text = r.text
is_eq(metric(text, 'quotapool_auth_failures_total{kind="client_key"}'), N + 1,
      "metrics: %d failed key checks (4 from 127.0.0.2, 1 from 127.0.0.1)"
      % (N + 1))
is_eq(metric(text, 'quotapool_auth_failures_total{kind="dashboard_login"}'), N,
      "metrics: %d failed logins" % N)
is_eq(metric(text, "quotapool_auth_throttled_total"), 4,
      "metrics: 4 requests refused with 429")
like(text, r"# TYPE quotapool_auth_failures_total counter",
     "the family is a counter with its TYPE line")

# ---------------------------------------------------------------------------
# The log

res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")
log = inst.logs().get("serve.err", "")
lines = [l for l in log.splitlines() if "auth: failed" in l]
is_eq(len([l for l in lines if " from 127.0.0.2 " in l]), 1,
      "one log line for 127.0.0.2 in the minute", )
is_eq(len([l for l in lines if " from 127.0.0.3 " in l]), 1,
      "one log line for 127.0.0.3")
is_eq(len([l for l in lines if " from 127.0.0.1 " in l]), 1,
      "one log line for 127.0.0.1")
like("\n".join(lines), r"failed client key check from 127\.0\.0\.2",
     "the line says what failed and from where")
like("\n".join(lines), r"failed dashboard login from 127\.0\.0\.3",
     "and for logins")
leaked = [k for k in BAD + [inst.key, ADMIN]
          if any(k in t for t in inst.logs().values())]
is_eq(leaked, [], "no key, right or wrong, is in any log")

qp.done()
