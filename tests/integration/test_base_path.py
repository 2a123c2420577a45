#!/usr/bin/env python3
"""test_base_path.py: [server] base_path. The gateway served under a URL
prefix (as behind a web server that hosts other sites too): the data plane,
the dashboard's links, its cookies and redirects all carry the prefix, paths
outside it get 404 in the client's protocol family, and check-config refuses
prefixes that are not plain URL paths."""

import os
import re
import sys
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

BASE = "/quotapool"
mock = qp.mock(models=["m1"])
inst = qp.Instance(server={"base_path": BASE + "/"}, providers={"p1": {
    "mock": mock, "protocols": ["openai"], "models": ["m1"],
    "accounts": ["a1"]}})
inst.start()
admin_key = inst.new_key("root", admin_role=True)


def show(r):
    return "  status %d, headers %r, body %r" % (r.status, dict(r.headers),
                                                 r.body[:300])


# ---- the data plane -------------------------------------------------------
r = inst.request("GET", BASE + "/v1/healthz", key=None)
is_eq(r.status, 200, "GET /quotapool/v1/healthz: 200 (a trailing '/' in "
      "base_path is dropped)")
r = inst.request("GET", "/v1/healthz", key=None)
ok(r.status == 404 and (r.try_json() or {}).get("error", {}).get("type") ==
   "invalid_request_error", "GET /v1/healthz outside the prefix: 404, "
   "OpenAI shape", show(r))
r = inst.request("GET", BASE + "x/v1/healthz", key=None)
is_eq(r.status, 404, "GET /quotapoolx/v1/healthz: 404 (the prefix is a whole "
      "path segment)")
r = inst.request("POST", "/v1/messages", {"model": "m1", "max_tokens": 8,
                 "messages": [{"role": "user", "content": "hi"}]}, key=None)
ok(r.status == 404 and (r.try_json() or {}).get("type") == "error",
   "POST /v1/messages outside the prefix: 404, Anthropic shape", show(r))
r = inst.request("POST", BASE + "/v1/chat/completions", {
    "model": "m1", "messages": [{"role": "user", "content": "hi"}]})
ok(r.status == 200 and (r.try_json() or {}).get("choices"),
   "POST /quotapool/v1/chat/completions: 200 from the provider", show(r))
r = inst.request("POST", BASE + "/v1/chat/completions", {
    "model": "m1", "messages": [{"role": "user", "content": "hi"}]}, key=None)
is_eq(r.status, 401, "POST /quotapool/v1/chat/completions without a key: 401")
with inst.stream(BASE + "/v1/chat/completions", {
        "model": "m1", "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}) as s:
    body = s.read_all()
ok(s.status == 200 and b"data: [DONE]" in body,
   "a streamed chat under the prefix ends with [DONE]", repr(body[-200:]))

# ---- the dashboard ----------------------------------------------------------
for path in (BASE, BASE + "/", BASE + "/accounts"):
    r = inst.request("GET", path, key=None)
    ok(r.status == 303 and r.headers.get("Location") == BASE + "/login",
       "GET %s without a session: 303 to %s/login" % (path, BASE), show(r))
r = inst.request("GET", BASE + "/login", key=None)
text = r.body.decode("utf-8", "replace")
ok(r.status == 200 and 'action="%s/login"' % BASE in text,
   "the login form posts under the prefix", show(r))
hrefs = re.findall(r'(?:href|src|action)="([^"]*)"', text)
bad = [h for h in hrefs if h.startswith("/") and
       not h.startswith(BASE + "/")]
ok(hrefs and not bad, "every absolute link of the login page is under the "
   "prefix", repr(bad or hrefs))
r = inst.request("GET", BASE + "/static/dashboard.css", key=None)
is_eq(r.status, 200, "the stylesheet is served under the prefix")

r = inst.request("POST", BASE + "/login", "key=" + urllib.parse.quote(
    admin_key), headers={"Content-Type": "application/x-www-form-urlencoded"},
    key=None)
cookie = r.headers.get("Set-Cookie", "")
m = re.match(r"qp_session=([0-9a-f]+);", cookie)
ok(r.status == 303 and r.headers.get("Location") == BASE + "/" and m,
   "login: 303 to /quotapool/ with a session cookie", show(r))
ok("Path=%s/;" % BASE in cookie, "the session cookie's Path is the prefix",
   cookie)
tok = m.group(1) if m else ""
r = inst.request("GET", BASE + "/", key=None,
                 headers={"Cookie": "qp_session=" + tok})
text = r.body.decode("utf-8", "replace")
is_eq(r.status, 200, "the session opens the overview under the prefix")
hrefs = re.findall(r'(?:href|src|action)="([^"]*)"', text)
bad = [h for h in hrefs if h.startswith("/") and
       not h.startswith(BASE + "/")]
ok(len(hrefs) > 10 and not bad, "every absolute link, form and asset of the "
   "overview is under the prefix (%d links)" % len(hrefs), repr(bad))
ok('href="%s/accounts"' % BASE in text and
   'action="%s/logout"' % BASE in text,
   "navigation and logout point under the prefix")
r = inst.request("GET", BASE + "/theme?t=light&r=accounts", key=None,
                 headers={"Cookie": "qp_session=" + tok})
ok(r.status == 303 and r.headers.get("Location") == BASE + "/accounts" and
   "Path=%s/;" % BASE in r.headers.get("Set-Cookie", ""),
   "the theme switch redirects and sets its cookie under the prefix", show(r))
ok('href="%s/workers"' % BASE in text, "the Workers page is linked under the prefix")
got = b""
with inst.stream(BASE + "/api/v1/state/stream", None, key=None, method="GET",
                 headers={"Cookie": "qp_session=" + tok}, timeout=10) as s:
    for _, chunk in s:
        got += chunk
        if b"event: state\n" in got:
            break
ok(s.status == 200 and b"event: state\ndata: {" in got,
   "the state stream answers under the prefix, to the admin's session",
   repr(got[:200]))
r = inst.request("POST", BASE + "/logout", "", key=None,
                 headers={"Cookie": "qp_session=" + tok,
                          "Content-Type": "application/x-www-form-urlencoded"})
ok(r.status == 303 and r.headers.get("Location") == BASE + "/login" and
   "Path=%s/;" % BASE in r.headers.get("Set-Cookie", ""),
   "logout: 303 to the prefix's login, cookie cleared on the prefix", show(r))
r = inst.request("GET", "/login", key=None)
is_eq(r.status, 404, "GET /login outside the prefix: 404")
res = inst.stop()
is_eq(res.rc, 0, "serve stops cleanly")

# ---- configuration ----------------------------------------------------------
d = qp.tempdir("qp-bp-")
for value, good in (("/a/b-c_d.e~f", True), ("/", True), ("", True),
                    ("quotapool", False), ("/a/../b", False),
                    ("/a//b", False), ("/a b", False), ("/a?b", False),
                    ("/a\"", False)):
    path = os.path.join(d, "c.toml")
    with open(path, "w") as f:
        f.write("[server]\nbase_path = %s\n[database]\npath = \"q.db\"\n" %
                qp.toml_value(value))
    r = qp.admin("check-config", config=path)
    if good:
        is_eq(r.rc, 0, "check-config accepts base_path = %r" % value)
    else:
        ok(r.rc != 0 and "base_path" in r.err,
           "check-config refuses base_path = %r, naming the key" % value,
           repr(r))
qp.done()
