#!/usr/bin/env python3
"""test_failover.py: account rotation and failover through lighttpd and
quotapool.fcgi against mock providers: three requests on three accounts,
failover from a 429 (Retry-After recorded in account_backoffs and
honoured), 402 quota, 401 quarantine, 500, first-byte timeout, a dead
provider, client errors relayed without failover, and the answers when every
account is down (429 with Retry-After when all are rate limited, 502/503
otherwise, always a non-empty body in the client's protocol family)."""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(180)

FIRST_BYTE_S = 2

# One provider (with its own mock) per scenario, so that scripts and
# backoffs of one scenario never reach another.
SCEN = {
    # name: (style, model, accounts)
    "rot": ("openai", "m-rot", ["r1", "r2", "r3"]),
    "rl": ("openai", "m-rl", ["l1", "l2"]),
    "rls": ("anthropic", "c-rls", ["s1", "s2"]),
    "au": ("openai", "m-au", ["u1", "u2"]),
    "qt": ("anthropic", "c-qt", ["q1", "q2"]),
    "t5": ("openai", "m-t5", ["t1", "t2"]),
    "fbt": ("openai", "m-fbt", ["b1", "b2"]),
    "fbt1": ("anthropic", "c-fbt1", ["n1"]),
    "cerr": ("openai", "m-cerr", ["k1", "k2"]),
    "d429o": ("openai", "m-d429o", ["d1", "d2"]),
    "d429a": ("anthropic", "c-d429a", ["e1", "e2"]),
    "d5o": ("openai", "m-d5o", ["f1", "f2"]),
    "d5a": ("anthropic", "c-d5a", ["g1", "g2"]),
    "d5s": ("openai", "m-d5s", ["x1", "x2"]),
    "d401o": ("openai", "m-d401o", ["h1"]),
    "d401a": ("anthropic", "c-d401a", ["i1"]),
    "dead": ("openai", "m-dead", ["j1"]),
    "cap5": ("openai", "m-cap5", ["v1", "v2", "v3", "v4"]),
    "cap429": ("anthropic", "c-cap429", ["w1", "w2", "w3", "w4"]),
}
mocks = {}
providers = {}
for pid, (style, model, accts) in SCEN.items():
    p = {"protocols": [style], "models": [model], "accounts": accts}
    if pid == "dead":
        p["base_url"] = "http://127.0.0.1:%d/v1" % qp.free_port()
    else:
        mocks[pid] = qp.mock(style=style, models=[model])
        p["mock"] = mocks[pid]
    providers[pid] = p
inst = qp.Instance(providers=providers, sections={
    "upstream": {"first_byte_timeout_s": FIRST_BYTE_S,
                 "connect_timeout_s": 2}})
dp.start(inst)


def send(pid, stream=False, key=qp._DEFAULT):
    style, model, _ = SCEN[pid]
    if style == "openai":
        return inst.request("POST", OPENAI, dp.chat(model, stream=stream),
                            key=key)
    return inst.request("POST", ANTHROPIC, dp.messages(model, stream=stream),
                        key=key)


def keys_seen(pid):
    m = mocks[pid]
    return [r["key"] for r in m.requests(path=OPENAI) +
            m.requests(path=ANTHROPIC)]


def acct(key):
    return key[2:] if key and key.startswith("k-") else key


def final(r, name):
    """The finalized requests row of response r (checked to exist)."""
    uid = dp.uid_of(r)
    row = dp.wait_row(inst, uid) if uid else None
    ok(row is not None, "%s: x-proxy-request-id names a requests row" % name,
       lambda: dp.show(r))
    return row or {}


def detail(inst_, uid, attempt):
    for d in dp.decisions(inst_, uid):
        if d["attempt_number"] == attempt:
            try:
                return json.loads(d["detail_json"])
            except ValueError:
                return {}
    return {}


def reason_of(det, account):
    for a in det.get("accounts") or []:
        if a.get("account") == account:
            return a.get("reason")
    return None

# ---- rotation -------------------------------------------------------------


used = []
for i in range(3):
    r = send("rot")
    is_eq(r.status, 200, "rotation: request %d answered 200" % (i + 1))
    used.append(final(r, "rotation %d" % (i + 1)).get("account_name"))
is_eq(sorted(used), ["r1", "r2", "r3"],
      "rotation: three sequential requests land on three different accounts")
is_eq(sorted(acct(k) for k in keys_seen("rot")), ["r1", "r2", "r3"],
      "rotation: the provider saw each account's key once")

# ---- 429 with Retry-After: failover, backoff recorded and honoured --------

mocks["rl"].script("*", {"status": 429, "headers": {"Retry-After": "7"}})
t_before = dp.now_ms()
r = send("rl")
is_eq(r.status, 200, "429 failover: the client gets 200 from the next account")
is_eq(r.headers.get("x-proxy-attempt-count"), "2",
      "429 failover: x-proxy-attempt-count 2")
row = final(r, "429 failover")
atts = dp.attempts(inst, dp.uid_of(r))
is_eq([(a["status_code"], a["outcome"], a["retry_category"]) for a in atts],
      [(429, "rate_limited", "quota_exceeded"), (200, "ok", None)],
      "429 failover: attempts 429 rate_limited then 200 ok")
limited = atts[0]["account_name"] if atts else None
other = ({"l1", "l2"} - {limited}).pop() if limited in ("l1", "l2") else None
is_eq((row.get("status"), row.get("attempt_count"), row.get("account_name")),
      ("completed", 2, other),
      "429 failover: row completed after 2 attempts on the other account")
b = dp.backoff(inst, limited) or {}
is_eq((b.get("reason"), b.get("status_code"), b.get("consecutive_failures")),
      ("rate_limited", 429, 1),
      "429 failover: account_backoffs row rate_limited, 429, 1 failure")
wait = (b.get("backoff_until") or 0) - t_before
cmp_ok(wait, ">=", 6500, "429 failover: backoff lasts Retry-After (7 s) "
       "at least (%d ms from the request)" % wait)
cmp_ok(wait, "<=", 9000, "429 failover: backoff lasts Retry-After (7 s) "
       "at most, plus the request time")
ok(dp.backoff(inst, other) is None, "429 failover: no backoff for the "
   "account that answered")
mocks["rl"].reset()
seen = []
for i in range(3):
    r = send("rl")
    seen.append((r.status, final(r, "429 honoured %d" % (i + 1)).get(
        "account_name")))
    if i == 0:
        det = detail(inst, dp.uid_of(r), 1)
        is_eq(reason_of(det, limited), "backoff",
              "429 honoured: routing_decisions explain the exclusion",)
is_eq(seen, [(200, other)] * 3, "429 honoured: the next three requests avoid "
      "the rate-limited account")
is_eq(sorted(set(acct(k) for k in keys_seen("rl"))), [other],
      "429 honoured: the rate-limited account got no request")

# ---- the same for a stream (Anthropic) ------------------------------------

mocks["rls"].script("*", {"status": 429, "headers": {"Retry-After": "5"}})
with inst.stream(ANTHROPIC, dp.messages("c-rls", stream=True)) as s:
    body = s.read_all()
    is_eq(s.status, 200, "429 failover on a stream: 200")
    is_eq(s.headers.get("x-proxy-attempt-count"), "2",
          "429 failover on a stream: x-proxy-attempt-count 2")
    suid = dp.uid_of(s)
evs = dp.sse_json(body)
is_eq(dp.anthropic_text(evs), "hello world",
      "429 failover on a stream: the second account's stream relayed whole")
ok(b"rate_limit" not in body, "429 failover on a stream: nothing of the "
   "failed attempt reaches the client", lambda: repr(body[:300]))
row = dp.wait_row(inst, suid) or {}
is_eq((row.get("status"), row.get("attempt_count"),
       row.get("stream_complete")), ("completed", 2, 1), "429 failover on a stream: row completed, 2 "
      "attempts, stream complete")

# ---- 401: quarantine ------------------------------------------------------

mocks["au"].script("*", {"status": 401})
t_before = dp.now_ms()
r = send("au")
is_eq(r.status, 200, "401 failover: the client gets 200")
atts = dp.attempts(inst, dp.uid_of(r))
is_eq([(a["status_code"], a["outcome"], a["retry_category"]) for a in atts],
      [(401, "auth_failure", "auth_failure"), (200, "ok", None)],
      "401 failover: attempts 401 auth_failure then 200 ok")
bad = atts[0]["account_name"] if atts else None
good = ({"u1", "u2"} - {bad}).pop() if bad in ("u1", "u2") else None
b = dp.backoff(inst, bad) or {}
is_eq((b.get("reason"), b.get("status_code")), ("auth_failure", 401),
      "401 failover: the account is quarantined (reason auth_failure)")
q = (b.get("backoff_until") or 0) - t_before
cmp_ok(q, ">=", 1800 * 1000 - 2000, "401 failover: quarantine lasts "
       "auth_quarantine_s (default 30 min): %d s" % (q // 1000))
cmp_ok(q, "<=", 1800 * 1000 + 5000, "401 failover: quarantine no longer "
       "than auth_quarantine_s")
mocks["au"].reset()
seen = []
for i in range(2):
    r = send("au")
    seen.append((r.status, final(r, "quarantine %d" % (i + 1)).get(
        "account_name")))
    if i == 0:
        det = detail(inst, dp.uid_of(r), 1)
        is_eq(reason_of(det, bad), "auth_quarantine",
              "401 quarantine: routing_decisions explain the exclusion")
is_eq(seen, [(200, good)] * 2, "401 quarantine: the next requests avoid the "
      "quarantined account")
is_eq(sorted(set(acct(k) for k in keys_seen("au"))), [good],
      "401 quarantine: the quarantined account got no request")

# ---- 402: quota exhausted, long backoff -----------------------------------

mocks["qt"].script("*", {"status": 402})
t_before = dp.now_ms()
r = send("qt")
is_eq(r.status, 200, "402 failover: the client gets 200")
atts = dp.attempts(inst, dp.uid_of(r))
is_eq([(a["status_code"], a["outcome"]) for a in atts],
      [(402, "quota_exceeded"), (200, "ok")],
      "402 failover: attempts 402 quota_exceeded then 200 ok")
b = dp.backoff(inst, atts[0]["account_name"] if atts else "") or {}
is_eq(b.get("reason"), "quota_exceeded", "402: backoff reason quota_exceeded")
cmp_ok((b.get("backoff_until") or 0) - t_before, ">=", 3600 * 1000 - 2000,
       "402: backoff lasts quota_backoff_s (default 1 h)")

# ---- 500: transient -------------------------------------------------------

mocks["t5"].script("*", {"status": 500})
r = send("t5")
is_eq(r.status, 200, "500 failover: the client gets 200")
atts = dp.attempts(inst, dp.uid_of(r))
is_eq([(a["status_code"], a["outcome"], a["retry_category"]) for a in atts],
      [(500, "transient", "transient"), (200, "ok", None)],
      "500 failover: attempts 500 transient then 200 ok")
b = dp.backoff(inst, atts[0]["account_name"] if atts else "") or {}
is_eq(b.get("reason"), "transient", "500: short backoff, reason transient")

# ---- first-byte timeout ---------------------------------------------------

SLOW_S = FIRST_BYTE_S + 8
mocks["fbt"].script("*", {"delay_ms": SLOW_S * 1000})
t0 = time.monotonic()
r = send("fbt", stream=True)
took = time.monotonic() - t0
is_eq(r.status, 200, "first-byte timeout: failover, the client gets 200")
evs = dp.sse_json(r.body)
is_eq((dp.openai_text(evs), [d for _, d in evs if not isinstance(d, dict)],
       len([d for _, d in evs if isinstance(d, dict) and
            ((d.get("choices") or [{}])[0].get("delta") or {}).get("role")])),
      ("hello world", ["[DONE]"], 1),
      "first-byte timeout: the body is the second account's whole stream "
      "(one start, the text, [DONE])", )
atts = dp.attempts(inst, dp.uid_of(r))
is_eq([a["outcome"] for a in atts], ["transient", "ok"],
      "first-byte timeout: attempts transient then ok")
like(atts[0]["error_class"] if atts else None, r"first_byte|timeout",
     "first-byte timeout: error_class names the timeout")
# The slow account answers only after SLOW_S s: well before that it is given
# up, on a loaded machine too.
cmp_ok(took, "<", SLOW_S - 3, "first-byte timeout: the slow account was "
       "given up after first_byte_timeout_s = %d, not its %d s (%.1f s)"
       % (FIRST_BYTE_S, SLOW_S, took))
rec = mocks["fbt"].wait_for(lambda recs: [x for x in recs
                                          if x["client_closed"]], timeout=5)
ok(rec, "first-byte timeout: the slow upstream's connection was closed")

# Its only account too slow: 504 with an error body that says why.
mocks["fbt1"].script("*", {"delay_ms": SLOW_S * 1000})
r = send("fbt1")
name = "first-byte timeout of the only account (anthropic)"
is_eq(r.status, 504, "%s: 504" % name)
e = dp.error_shape(r, "anthropic", name)
like(e.get("message"), r"first_byte_timeout", "%s: the message names the "
     "timeout" % name)
row = final(r, name)
is_eq((row.get("status"), row.get("status_code"), row.get("attempt_count")),
      ("error", 504, 1), "%s: row error 504 after 1 attempt" % name)

# ---- client errors are relayed, not failed over ---------------------------

mocks["cerr"].script("*", {"status": 400, "body": {"error": {
    "message": "mock: messages must not be empty",
    "type": "invalid_request_error", "param": "messages", "code": None}}})
r = send("cerr")
is_eq(r.status, 400, "upstream 400: relayed to the client")
is_eq(((r.try_json() or {}).get("error") or {}).get("message"),
      "mock: messages must not be empty",
      "upstream 400: the provider's body as it was")
is_eq(r.headers.get("x-proxy-attempt-count"), "1",
      "upstream 400: no failover (x-proxy-attempt-count 1)")
is_eq(len(keys_seen("cerr")), 1, "upstream 400: the provider got one request")
row = final(r, "upstream 400")
is_eq((row.get("status"), row.get("status_code")), ("client_error", 400),
      "upstream 400: row client_error 400")
ok(dp.backoff(inst, row.get("account_name") or "") is None,
   "upstream 400: no backoff for the account")

# ---- every account down ---------------------------------------------------

for pid in ("d429o", "d429a"):
    for a in SCEN[pid][2]:
        mocks[pid].set_default("k-" + a, {"status": 429, "headers": {
            "Retry-After": "30"}})
for pid in ("d5o", "d5a", "cap5"):
    mocks[pid].set_default("*", {"status": 500})
mocks["d5s"].set_default("*", {"status": 500})
mocks["cap429"].set_default("*", {"status": 429, "headers": {
    "Retry-After": "30"}})
for pid in ("d401o", "d401a"):
    mocks[pid].set_default("*", {"status": 401})


def retry_after(r):
    v = r.headers.get("Retry-After")
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


for pid in ("d429o", "d429a"):
    fam = SCEN[pid][0]
    name = "all rate limited (%s)" % fam
    r = send(pid)
    is_eq(r.status, 429, "%s: 429" % name)
    ra = retry_after(r)
    ok(ra is not None and 1 <= ra <= 30, "%s: Retry-After header, 1..30 s"
       % name, lambda: dp.show(r))
    dp.error_shape(r, fam, name)
    is_eq(r.headers.get("x-proxy-attempt-count"), "2",
          "%s: both accounts were tried" % name)
    row = final(r, name)
    is_eq((row.get("status"), row.get("status_code")), ("error", 429),
          "%s: row error 429" % name)
    # While both are in backoff nothing is sent upstream at all.
    n = len(keys_seen(pid))
    r = send(pid)
    name = "all in backoff (%s)" % fam
    is_eq(r.status, 429, "%s: 429" % name)
    ra = retry_after(r)
    ok(ra is not None and 20 <= ra <= 30, "%s: Retry-After until the first "
       "backoff ends (20..30 s)" % name, lambda: dp.show(r))
    e = dp.error_shape(r, fam, name)
    like(e.get("message"), r"(?i)rate.limit|quota|retry",
         "%s: the message says why" % name)
    is_eq(len(keys_seen(pid)), n, "%s: no request went upstream" % name)
    row = final(r, name)
    is_eq((row.get("status"), row.get("attempt_count")), ("rejected", 0),
          "%s: row rejected, 0 attempts" % name)

# Upstream failures are a bad gateway (502); accounts whose credentials the
# provider refuses leave no account that can serve (503).
for pid in ("d5o", "d5a", "d401o", "d401a", "dead"):
    fam = SCEN[pid][0]
    what, want = {"d5o": ("500", 502), "d5a": ("500", 502),
                  "d401o": ("401", 503), "d401a": ("401", 503),
                  "dead": ("connection refused", 502)}[pid]
    name = "every account down with %s (%s)" % (what, fam)
    r = send(pid)
    is_eq(r.status, want, "%s: %d" % (name, want))
    dp.error_shape(r, fam, name)
    row = final(r, name)
    is_eq((row.get("status"), row.get("status_code")), ("error", r.status),
          "%s: row error with the status sent" % name)
    n = len(SCEN[pid][2])
    is_eq(r.headers.get("x-proxy-attempt-count"), str(n),
          "%s: every account tried (%d)" % (name, n))

# Four accounts, max_attempts 3 (the default): three are tried.
r = send("cap5")
name = "4 accounts down with 500, max_attempts 3 (openai)"
is_eq(r.status, 502, "%s: 502" % name)
dp.error_shape(r, "openai", name)
is_eq((r.headers.get("x-proxy-attempt-count"), len(keys_seen("cap5"))),
      ("3", 3), "%s: 3 attempts, 3 upstream requests" % name)
r = send("cap429")
name = "4 accounts rate limited, max_attempts 3 (anthropic)"
is_eq(r.status, 429, "%s: 429" % name)
ra = retry_after(r)
ok(ra is not None and 1 <= ra <= 30, "%s: Retry-After header, 1..30 s"
   % name, lambda: dp.show(r))
dp.error_shape(r, "anthropic", name)
is_eq((r.headers.get("x-proxy-attempt-count"), len(keys_seen("cap429"))),
      ("3", 3), "%s: 3 attempts, 3 upstream requests" % name)

# Streamed requests get the same answers before any byte was sent (accounts
# of their own: d5o's are in backoff by now, which would be a 429).
with inst.stream(OPENAI, dp.chat("m-d5s", stream=True)) as s:
    body = s.read_all()
    is_eq((s.status, s.headers.get("x-proxy-attempt-count")), (502, "2"),
          "every account down with 500, stream: 502 after both accounts, "
          "not a stream")
    j = None
    try:
        j = json.loads(body)
    except ValueError:
        pass
    err = j.get("error") if isinstance(j, dict) else None
    ok(isinstance(err, dict) and "m-d5s" in (err.get("message") or ""),
       "every account down, stream: JSON error body naming the model",
       lambda: repr(body[:300]))

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
