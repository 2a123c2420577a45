#!/usr/bin/env python3
"""test_refresh.py: an account whose access token refreshes, served by two
gateways (two quotapool.fcgi processes) on one database.

The mock here is a provider and its token endpoint in one standard-library
server. An access token is good for USES chat requests (then, or once past
its expiry, the provider answers 401); each call of /oauth/token must carry
the refresh token the previous call issued (the first: the one in the
configured body) and rotates it: an old one gets 400 invalid_grant, so a
refresh run twice for one expiry, or with a stale refresh token, breaks the
run. Checked: 60 requests, 6 at a time over both gateways, all 200 with the
token renewed on 401s, each refresh once (every token was used up before
the next was asked for) and each with the last rotated refresh token;
renewal before the expiry without any 401 when expires_in is short; a
restart reuses the stored token (no refresh); the stored tokens are
encrypted in a 0600 database; a failing token endpoint quarantines the
account with a clear reason and a later successful refresh brings it back;
a form body sent with PUT, a token and expiry found under data, and timeout_s
ending a slow refresh; the catalog lists the provider's models with the
stored token; the accounts page and quotapool-admin accounts list/status
show expiry and last refresh; no token, refresh token or body reaches logs,
pages or error bodies."""

import http.server
import json
import os
import secrets
import stat
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

USES = 8            # chat requests one access token is good for
TOTAL = 60          # requests of the run under load
THREADS = 6         # at a time
BODY_RT = "rt-0-" + secrets.token_hex(8)


class Mock:
    """The provider and its token endpoint: every token it issued, counted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}        # access token -> [uses left, expires (monotonic) or None]
        self.rt = BODY_RT       # the refresh token the next call must carry
        self.issued = [BODY_RT]  # every secret it handed out (and the body's)
        self.calls = []         # (refresh token presented, previous token's uses left)
        self.last = None        # the last access token issued
        self.expires_in = None  # seconds, None = the answer gives none
        self.fail = False       # /oauth/token answers 400
        self.chat_ok = 0
        self.chat_401 = 0
        self.bad_grants = 0
        self.form_calls = []    # (method, Content-Type, fields) of /oauth/form
        self.form_delay = 0.0   # seconds /oauth/form waits before answering
        self.models_calls = []  # per GET /v1/models: whether its token was good
        self.refuse_all = False  # chat answers 401 to every token, however new

    def refresh(self, body):
        with self.lock:
            if self.fail:
                return 400, {"error": "temporarily_unavailable"}
            if body.get("refresh_token") != self.rt or \
                    body.get("grant_type") != "refresh_token":
                self.bad_grants += 1
                return 400, {"error": "invalid_grant"}
            left = self.tokens[self.last][0] if self.last in self.tokens else None
            self.calls.append((self.rt, left))
            n = len(self.calls)
            at = "at-%d-%s" % (n, secrets.token_hex(12))
            self.rt = "rt-%d-%s" % (n, secrets.token_hex(8))
            self.issued += [at, self.rt]
            exp = time.monotonic() + self.expires_in if self.expires_in else None
            self.tokens[at] = [USES if not self.expires_in else 10 ** 6, exp]
            self.last = at
            ans = {"access_token": at, "token_type": "Bearer", "refresh_token": self.rt}
            if self.expires_in:
                ans["expires_in"] = self.expires_in
        time.sleep(0.3)     # a slow endpoint: concurrent requests pile up behind it
        return 200, ans

    def chat(self, auth):
        tok = auth[7:] if auth.startswith("Bearer ") else ""
        with self.lock:
            t = self.tokens.get(tok)
            if self.refuse_all or t is None or t[0] <= 0 or \
                    (t[1] is not None and time.monotonic() >= t[1]):
                self.chat_401 += 1
                return 401, {"error": {"message": "invalid or expired token",
                                       "type": "invalid_request_error"}}
            t[0] -= 1
            self.chat_ok += 1
        return 200, {"id": "c1", "object": "chat.completion", "created": 1, "model": "m1",
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "ok"}}],
                     "usage": {"prompt_tokens": 3, "completion_tokens": 1,
                               "total_tokens": 4}}

    def form(self, method, ctype, fields):
        with self.lock:
            self.form_calls.append((method, ctype, fields))
            delay = self.form_delay
            at = "ft-%d-%s" % (len(self.form_calls), secrets.token_hex(12))
            self.issued.append(at)
            self.tokens[at] = [10 ** 6, None]
        time.sleep(delay)
        return 200, {"data": {"token": at, "ttl": "300"}}

    def models(self, auth):
        tok = auth[7:] if auth.startswith("Bearer ") else ""
        with self.lock:
            t = self.tokens.get(tok)
            good = t is not None and t[0] > 0 and (t[1] is None or time.monotonic() < t[1])
            self.models_calls.append(good)
        if not good:
            return 401, {"error": {"message": "invalid or expired token"}}
        return 200, {"object": "list", "data": [{"id": "m1", "object": "model"},
                                                {"id": "m2", "object": "model"}]}

    def revoke(self):
        with self.lock:
            self.tokens.clear()


M = Mock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/v1/models":
            st, ans = M.models(self.headers.get("Authorization") or "")
        elif self.path.startswith("/v1/files"):
            # A passthrough path: the same tokens as chat, each call uses one.
            st, ans = M.chat(self.headers.get("Authorization") or "")
            if st == 200:
                ans = {"object": "list", "data": [], "path": self.path}
        else:
            st, ans = 404, {"error": {"message": "no such path"}}
        data = json.dumps(ans).encode()
        self.send_response(st)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode()
        if self.path == "/oauth/form":
            st, ans = M.form("PUT", self.headers.get("Content-Type"),
                             urllib.parse.parse_qs(raw, keep_blank_values=True))
        else:
            st, ans = 405, {"error": "method"}
        data = json.dumps(ans).encode()
        try:
            self.send_response(st)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass    # the gateway gave up waiting (timeout_s)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        if self.path == "/oauth/token":
            ctype_ok = self.headers.get("Content-Type") == "application/json"
            st, ans = M.refresh(body) if ctype_ok else (415, {"error": "content type"})
        elif self.path == "/v1/chat/completions":
            st, ans = M.chat(self.headers.get("Authorization") or "")
        else:
            st, ans = 404, {"error": {"message": "no such path"}}
        data = json.dumps(ans).encode()
        self.send_response(st)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
BASE = "http://127.0.0.1:%d" % srv.server_address[1]

os.environ["QP_IT_REFRESH_BODY"] = json.dumps(
    {"grant_type": "refresh_token", "refresh_token": BODY_RT, "client_id": "qp-it"})
PROVIDERS = {"p": {"base_url": BASE + "/v1", "protocols": ["openai"], "models": ["m1"],
                   "passthrough": ["/files*"],
                   "accounts": [{"name": "sub1", "refresh": {
                       "url": BASE + "/oauth/token", "body_env": "QP_IT_REFRESH_BODY",
                       "skew_s": 3}}]}}
SECTIONS = {"routing": {"auth_quarantine_s": 2, "max_attempts": 2}}
gw1 = qp.Instance(providers=PROVIDERS, sections=SECTIONS)
dp.start(gw1)
gw2 = qp.Instance(providers=PROVIDERS, database={"path": gw1.db_path}, sections=SECTIONS)
gw2.key = gw1.key
gw2.db_path = gw1.db_path
dp.start(gw2)
cmp_ok(len(set(gw1.app_pids()) | set(gw2.app_pids())), ">=", 2,
       "two quotapool.fcgi processes serve the database")

bodies = []     # every answer a client got


def poll(sql, pred, timeout=5.0):
    """The rows of sql once pred(rows) holds (the writer commits within
    milliseconds of the answer), or the last rows read."""
    deadline = time.monotonic() + timeout
    while True:
        rows = dp.query(gw1, sql)
        if pred(rows) or time.monotonic() >= deadline:
            return rows
        time.sleep(0.05)


def send(gw):
    r = gw.request("POST", OPENAI, dp.chat("m1"))
    bodies.append(r.body)
    return r


def served_again(gw, timeout=15.0):
    """Sends a chat every 0.5 s until one is served (the quarantine over)
    or timeout seconds passed; the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = send(gw)
        if r.status == 200 or time.monotonic() >= deadline:
            return r
        time.sleep(0.5)


# ---- a run under load: renewal on 401, each refresh once --------------------

results = []
lock = threading.Lock()


def worker(i):
    for k in range(i, TOTAL, THREADS):
        r = send(gw1 if k % 2 == 0 else gw2)
        with lock:
            results.append(r.status)
            if r.status != 200:
                qp.diag("request %d (gateway %d): %s %s" % (
                    k, 1 + k % 2, r.status, r.body[:300]))


ts = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
for t in ts:
    t.start()
for t in ts:
    t.join(timeout=200)
is_eq(len(results), TOTAL, "every request of the run answered")
is_eq(sum(1 for s in results if s != 200), 0, "no client saw anything but 200 (no 401)")
is_eq(M.chat_ok, TOTAL, "the provider served each request once")
refreshes = len(M.calls)
cmp_ok(refreshes, ">=", TOTAL // USES, "tokens renewed as they ran out")
cmp_ok(refreshes, "<=", TOTAL // USES + 1, "and no more often")
is_eq([c for c in M.calls[1:] if c[1] != 0], [],
      "each refresh once: every token was used up before the next was asked for")
is_eq(M.bad_grants, 0, "every refresh carried the last rotated refresh token")
is_eq(M.calls[0][0], BODY_RT, "the first refresh used the configured body's token")
qp.diag("run: %d requests, %d refreshes, %d upstream 401s answered by renewing, "
        "%d 401s and %d other errors seen by clients" % (
            TOTAL, refreshes, M.chat_401, sum(1 for s in results if s == 401),
            sum(1 for s in results if s not in (200, 401))))
cmp_ok(M.chat_401, ">=", refreshes - 1, "the renewals were driven by the provider's 401s")

# ---- expiry: renewed before the first 401 -----------------------------------

with M.lock:
    M.expires_in = 5
M.revoke()
r = send(gw1)               # the revoked token: one 401, then a 5 s token
is_eq(r.status, 200, "after a revoked token, renewed at once")
r = send(gw2)               # the other process still holds the revoked one: one 401 more
is_eq(r.status, 200, "the other process renews it too (it reads the stored one)")
base_calls, base_401 = len(M.calls), M.chat_401
end = time.monotonic() + 8
n = 0
while time.monotonic() < end:
    r = send(gw1 if n % 2 == 0 else gw2)
    n += 1
    if r.status != 200:
        break
    time.sleep(0.25)
is_eq(r.status, 200, "requests over 8 s of 5 s tokens all served")
cmp_ok(len(M.calls) - base_calls, ">=", 2, "tokens renewed as their expiry came near")
is_eq(M.chat_401 - base_401, 0, "renewed before the expiry: the provider answered no 401")

# ---- the stored token: encrypted, and kept over a restart -------------------

with M.lock:
    M.expires_in = None
M.revoke()
is_eq(send(gw1).status, 200, "a long-lived token fetched")
with M.lock:
    current = M.last
mode = stat.S_IMODE(os.stat(gw1.db_path).st_mode)
is_eq(oct(mode), oct(0o600), "the database holding the tokens is 0600")
with open(gw1.db_path, "rb") as f:
    raw = f.read()
walp = gw1.db_path + "-wal"
if os.path.exists(walp):
    with open(walp, "rb") as f:
        raw += f.read()
leaked = [s for s in M.issued if s.encode() in raw]
is_eq(leaked, [], "no token or refresh token in the database files in clear")
rows = poll("SELECT account_name, version, refreshes, last_result, "
            "length(access_token) AS n, expires_at FROM account_tokens",
            lambda rs: rs and rs[0]["refreshes"] == len(M.calls))
ok(len(rows) == 1 and rows[0]["account_name"] == "sub1" and rows[0]["n"] > len(current) and
   rows[0]["last_result"] == "ok" and rows[0]["refreshes"] == len(M.calls),
   "one row: encrypted token, version, refreshes counted", repr(rows))
calls = len(M.calls)
gw2.stop()
gw1.stop()
dp.start(gw1)
is_eq(send(gw1).status, 200, "after a restart the gateway serves")
is_eq(len(M.calls), calls, "with the stored token: no refresh")
n = len(M.models_calls)
mr = gw1.admin("models", "refresh", "p")
ok(mr.rc == 0 and M.models_calls[n:] == [True],
   "the catalog lists the provider's models with the stored token", repr(mr))
rows = dp.query(gw1, "SELECT model_id FROM model_catalog WHERE provider_id = 'p' "
                "ORDER BY model_id")
is_eq([r["model_id"] for r in rows], ["m1", "m2"], "and its models list was stored (m2 "
      "is not in the static models)")

# ---- passthrough (/p/) sends the refreshed token and renews it on a 401 ------

calls = len(M.calls)
M.revoke()
r = gw1.request("GET", "/p/p/files?limit=2")
is_eq(r.status, 200, "/p/ with a revoked token: renewed, then 200")
ok((r.try_json() or {}).get("path") == "/v1/files?limit=2", "the passthrough path and query "
   "reached the provider", r.text[:200])
is_eq(len(M.calls), calls + 1, "one refresh for the passthrough's 401")
r = gw1.request("GET", "/p/p/files")
is_eq(r.status, 200, "/p/ again: the renewed token")
is_eq(len(M.calls), calls + 1, "no second refresh while the token holds")
row = dp.query(gw1, "SELECT status, path, attempt_count FROM requests "
               "WHERE endpoint = '/p/' ORDER BY id LIMIT 1")
ok(row and row[0]["status"] == "completed" and row[0]["path"] == "/files",
   "the passthrough row", repr(row))

# ---- credentials refused however new: the token endpoint called a bounded number of times

with M.lock:
    M.refuse_all = True
calls, c401 = len(M.calls), M.chat_401
r = send(gw1)
is_eq(r.status, 503, "every token refused: the only account fails (503)")
ok("http_401" in r.text, "the error names the provider's 401", r.text[:200])
# REFRESH_OWN_MAX in fcgi/refresh.h: 3 token requests of its own per attempt.
cmp_ok(len(M.calls) - calls, "<=", 3, "at most 3 refreshes for the request")
cmp_ok(len(M.calls) - calls, ">=", 1, "and at least one")
is_eq(M.chat_401 - c401, len(M.calls) - calls + 1, "each refresh tried once (one 401 more "
      "than refreshes)")
with M.lock:
    M.refuse_all = False
r = served_again(gw1)
is_eq(r.status, 200, "once the provider takes tokens again, served after the quarantine")

# ---- a failing token endpoint quarantines, a later refresh brings it back ----

with M.lock:
    M.fail = True
M.revoke()
r = send(gw1)
is_eq(r.status, 503, "a failed refresh: the only account is out (503)")
err = r.try_json() or {}
msg = json.dumps(err)
ok("token_refresh_failed" in msg, "the error says the token refresh failed", msg)
rows = poll("SELECT reason, error_class FROM account_backoffs "
            "WHERE account_name = 'sub1'", lambda rs: len(rs) == 1)
ok(len(rows) == 1 and rows[0]["reason"] == "auth_failure" and
   rows[0]["error_class"] == "token_refresh_failed", "quarantined with its reason", repr(rows))
rows = poll("SELECT last_result, failures FROM account_tokens",
            lambda rs: rs and rs[0]["last_result"] != "ok")
ok(rows and rows[0]["last_result"] == "http_400" and rows[0]["failures"] == 1,
   "the token endpoint's answer noted", repr(rows))
st = gw1.admin("accounts", "status")
ok(st.rc == 0 and "http_400" in st.out, "accounts status shows the failed refresh", st.out)
r = send(gw1)
is_eq(r.status, 503, "quarantined: still out")
with M.lock:
    M.fail = False
r = served_again(gw1)
is_eq(r.status, 200, "after the quarantine a successful refresh brings it back")
rows = poll("SELECT last_result, failures FROM account_tokens",
            lambda rs: rs and rs[0]["last_result"] == "ok")
ok(rows and rows[0]["last_result"] == "ok" and rows[0]["failures"] == 0,
   "the refresh noted as ok again", repr(rows))
is_eq(M.bad_grants, 0, "the rotated refresh token survived the failures and the restart")

# ---- a form body sent with PUT, a nested token, and timeout_s ---------------

FORM_SECRET = "cs-" + secrets.token_hex(10)
M.issued.append(FORM_SECRET)
os.environ["QP_IT_FORM_BODY"] = "grant_type=client_credentials&client_id=qp&client_secret=" + \
    FORM_SECRET
gw3 = qp.Instance(providers={"q": {
    "base_url": BASE + "/v1", "protocols": ["openai"], "models": ["m1"], "models_path": "",
    "accounts": [{"name": "sub2", "refresh": {
        "url": BASE + "/oauth/form", "body_env": "QP_IT_FORM_BODY", "method": "PUT",
        "content_type": "form", "token_field": "data.token", "expires_field": "data.ttl",
        "refresh_token_field": "", "timeout_s": 1}}]}},
    sections={"routing": {"auth_quarantine_s": 1, "max_attempts": 1}})
dp.start(gw3)
with M.lock:
    M.form_delay = 2.5
r = gw3.request("POST", OPENAI, dp.chat("m1"))
bodies.append(r.body)
is_eq(r.status, 503, "a token endpoint slower than timeout_s: the refresh fails")
rows = []
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    rows = dp.query(gw3, "SELECT last_result FROM account_tokens WHERE account_name = 'sub2'")
    if rows:
        break
    time.sleep(0.05)
is_eq(rows[0]["last_result"] if rows else None, "timeout", "noted as a timeout")
with M.lock:
    M.form_delay = 0.0
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    r = gw3.request("POST", OPENAI, dp.chat("m1"))
    bodies.append(r.body)
    if r.status == 200:
        break
    time.sleep(0.3)
is_eq(r.status, 200, "then served with the token from a form refresh")
last = M.form_calls[-1] if M.form_calls else (None, None, {})
is_eq(last[:2], ("PUT", "application/x-www-form-urlencoded"), "sent with PUT as a form")
is_eq(last[2], {"grant_type": ["client_credentials"], "client_id": ["qp"],
                "client_secret": [FORM_SECRET]},
      "the body as configured (no refresh token added: refresh_token_field is \"\")")
# The refresh that served the 200 is the last one noted: wait (bounded) for
# its row, so that a slow writer under load cannot show an older result.
deadline = time.monotonic() + 5
while True:
    rows = dp.query(gw3, "SELECT expires_at, last_result FROM account_tokens")
    if (rows and rows[0]["last_result"] == "ok") or time.monotonic() >= deadline:
        break
    time.sleep(0.05)
ok(rows and rows[0]["expires_at"] is not None and
   rows[0]["expires_at"] > time.time() * 1000 + 250000, "the nested string expiry read (300 s)",
   repr(rows))
texts_gw3 = gw3.logs()
gw3.stop()

# ---- what the operator sees, and that no secret is anywhere -----------------

ls = gw1.admin("accounts", "list")
ok(ls.rc == 0 and "sub1" in ls.out and "token" in ls.out,
   "accounts list shows the account's token state", ls.out)
st = gw1.admin("accounts", "status")
ok(st.rc == 0 and "refreshed" in st.out and "expires" in st.out,
   "accounts status shows expiry and last refresh", st.out)
admin_key = gw1.new_key("adm", admin_role=True)
page = gw1.request("GET", "/accounts", key=admin_key)
is_eq(page.status, 200, "the accounts page")
ok("token expires" in page.text and "last refresh" in page.text,
   "it shows the token's expiry and last refresh", page.text[-2000:])
api = gw1.request("GET", "/api/stats/accounts", key=admin_key)
texts = {"page": page.text, "api": api.text, "accounts list": ls.out,
         "accounts status": st.out}
for name, text in gw1.logs().items():
    texts["gw1 " + name] = text
for name, text in gw2.logs().items():
    texts["gw2 " + name] = text
for name, text in texts_gw3.items():
    texts["gw3 " + name] = text
texts["client bodies"] = b"\n".join(bodies).decode("utf-8", "replace")
found = [(where, s[:8]) for where, text in texts.items() for s in M.issued if s in text]
is_eq(found, [], "no access token, refresh token or body secret in logs, pages or bodies")
ok(any("token refreshed" in t for n, t in texts.items() if n.startswith("gw")),
   "the logs say when a token was refreshed")

srv.shutdown()
gw1.stop()
qp.done()
