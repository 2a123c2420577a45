#!/usr/bin/env python3
"""test_hardening_proxy.py: the data plane against providers that misbehave,
through lighttpd and quotapool.fcgi: thousands of events in one upstream
write, long response headers, HTML answers, error bodies echoing the
account's key, duplicate top-level keys in a request, oversized answers,
and the SSE keepalive interval of the configuration."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(180)

mo = qp.mock(models=["gpt-h"])
ma = qp.mock(style="anthropic", models=["claude-h"])
# Whole answers above this are refused; streams (the burst below is about
# 520 KB) are not bounded by it.
MAX_ANSWER = 65536
# Not the default of 1 s: the comments while a provider is silent follow it.
KEEPALIVE_S = 0.25
KEY_O = "sk-hardening-openai-0123456789abcdef"
KEY_A = "sk-ant-hardening-fedcba9876543210"
inst = qp.Instance(
    providers={
        "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-h"],
               "accounts": [{"name": "ho1", "api_key": KEY_O}]},
        "pa": {"mock": ma, "protocols": ["anthropic"],
               "models": ["claude-h"],
               "accounts": [{"name": "ha1", "api_key": KEY_A}]},
    },
    # An account that answers HTML is backed off; here not for long, so
    # that each check starts from an eligible account.
    sections={"routing": {"transient_backoff_s": 0,
                          "circuit_failures": 1000},
              "upstream": {"max_response_body_bytes": MAX_ANSWER,
                           "keepalive_interval_s": KEEPALIVE_S}})
dp.start(inst)

# ---- a burst of small events in one upstream write ------------------------

N_BURST = 10000
mo.reset()
mo.script("*", {"events": N_BURST, "tiny": True, "burst": True})
with inst.stream(OPENAI, dp.chat("gpt-h", stream=True), timeout=60) as s:
    body = s.read_all()
    is_eq(s.status, 200, "burst of %d events: 200" % N_BURST)
    ok(s.error is None, "burst: the stream ends cleanly", lambda: repr(s.error))
    buid = dp.uid_of(s)
evs = dp.sse_json(body)
want = "".join("hello" if i == 0 else (" hello" if i % 2 == 0 else " world")
               for i in range(N_BURST))
text = dp.openai_text(evs)
ok(text == want, "burst: all %d text deltas relayed, in order" % N_BURST,
   lambda: "  got %d bytes of text in %d events, want %d bytes"
   % (len(text), len(evs), len(want)))
is_eq(evs[-1][1] if evs else None, "[DONE]", "burst: ends with [DONE]")
is_eq(dp.usage_chunks(evs), [],
      "burst: the usage-only chunk the client did not ask for is dropped")
recs = mo.requests(path=OPENAI)
ok(recs and recs[0]["completed"] and recs[0]["events_total"] >= N_BURST,
   "burst: the mock wrote the whole burst",
   lambda: "  %r" % [(r["completed"], r["events_total"]) for r in recs])
row = dp.wait_row(inst, buid) or {}
is_eq((row.get("status"), row.get("status_code"), row.get("stream_complete"),
       row.get("output_tokens")),
      ("completed", 200, 1, N_BURST),
      "burst: row completed 200, stream complete, usage read from the "
      "hidden chunk")

# ---- long response headers ------------------------------------------------

UID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ANSWER = {"id": "chatcmpl-h", "object": "chat.completion", "model": "gpt-h",
          "choices": [{"index": 0, "finish_reason": "stop",
                       "message": {"role": "assistant", "content": "long"}}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 1}}

# 230 bytes: fits the upstream reader's bound, not the old 256-byte line.
ct = "application/json; charset=utf-8; profile=" + "p" * 189
mo.script("*", {"body": ANSWER, "content_type": ct})
r = inst.request("POST", OPENAI, dp.chat("gpt-h"))
is_eq(r.status, 200, "long Content-Type (%d bytes): 200" % len(ct))
is_eq(r.headers.get("Content-Type"), ct,
      "long Content-Type: relayed whole")
like(r.headers.get("x-proxy-request-id") or "", UID_RE,
     "long Content-Type: x-proxy-request-id is its own header, intact")
is_eq(r.headers.get("x-proxy-attempt-count"), "1",
      "long Content-Type: x-proxy-attempt-count intact")
is_eq((r.try_json() or {}).get("id"), "chatcmpl-h",
      "long Content-Type: the body relayed")

ct = "application/json; profile=" + "q" * 300
mo.script("*", {"body": ANSWER, "content_type": ct,
                "headers": {"x-request-id": "r" * 400}})
r = inst.request("POST", OPENAI, dp.chat("gpt-h"))
luid = dp.uid_of(r) or ""
is_eq(r.status, 200, "Content-Type over 255 bytes: 200")
is_eq(r.headers.get("Content-Type"), "application/json",
      "Content-Type over 255 bytes: dropped whole, the answer goes out as "
      "JSON")
like(luid, UID_RE, "Content-Type over 255 bytes: x-proxy-request-id intact")
is_eq((r.try_json() or {}).get("id"), "chatcmpl-h",
      "Content-Type over 255 bytes: the body relayed")
row = dp.wait_row(inst, luid) or {}
is_eq(row.get("status"), "completed", "Content-Type over 255 bytes: row "
      "completed")
atts = dp.attempts(inst, luid)
is_eq([a.get("upstream_request_id") for a in atts], [None],
      "a request id over 255 bytes is dropped, not stored cut")
log = "\n".join(inst.logs().values())
ok(("request %s: the upstream's Content-Type header is longer than 255 bytes:"
    " dropped" % luid) in log and
   ("request %s: the upstream's request id header is longer than 255 bytes:"
    " dropped" % luid) in log,
   "each dropped header has its log line",
   lambda: "  log tail: %r" % log[-600:])

# ---- every /v1 answer: nosniff and a CSP that allows nothing --------------

CSP = "default-src 'none'; frame-ancestors 'none'"


def api_headers(r, name):
    is_eq((r.headers.get("X-Content-Type-Options"),
           r.headers.get("Content-Security-Policy")), ("nosniff", CSP),
          "%s: nosniff and a restrictive CSP" % name)


mo.script("*", {})
api_headers(inst.request("POST", OPENAI, dp.chat("gpt-h")), "chat JSON 200")
with inst.stream(OPENAI, dp.chat("gpt-h", stream=True)) as s:
    s.read_all()
    api_headers(s, "chat stream 200")
api_headers(inst.request("GET", "/v1/models"), "GET /v1/models")
api_headers(inst.request("GET", "/v1/healthz", key=None), "GET /v1/healthz")
api_headers(inst.request("POST", OPENAI, dp.chat("gpt-h"), key=None),
            "401 without a key")
api_headers(inst.request("GET", "/v1/nope"), "404 on an unknown /v1 path")
api_headers(inst.request("POST", ANTHROPIC, "{not json"), "400 bad JSON")

# ---- answers that are neither JSON nor an event stream --------------------

HTML = "<html><body><script>alert(document.cookie)</script></body></html>"


def bad_media(mock, path, body, family, name, behaviour, want_status=502):
    mock.reset()
    mock.script("*", behaviour)
    if body.get("stream"):
        s = inst.stream(path, body)
        s.read_all()
        s.close()
        r = qp.Response(s.status, s.headers, s.body)
    else:
        r = inst.request("POST", path, body)
    is_eq(r.status, want_status, "%s: %d" % (name, want_status))
    dp.error_shape(r, family, name)
    ok(b"<script" not in r.body and b"<html" not in r.body,
       "%s: nothing of the page reaches the client" % name, lambda: dp.show(r))
    api_headers(r, name)
    return r


r = bad_media(mo, OPENAI, dp.chat("gpt-h"), "openai", "text/html 200 (OpenAI)",
              {"body": HTML, "content_type": "text/html; charset=utf-8"})
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("status"), row.get("status_code"), row.get("error_class")),
      ("error", 502, "bad_content_type"),
      "text/html 200: row error 502 bad_content_type")
bad_media(ma, ANTHROPIC, dp.messages("claude-h", stream=True), "anthropic",
          "text/html 200 to a stream (Anthropic)",
          {"body": HTML, "content_type": "text/html"})
r = bad_media(mo, OPENAI, dp.chat("gpt-h"), "openai",
              "text/plain 400 (OpenAI)",
              {"status": 400, "body": "bad request", "content_type":
               "text/plain"})
like(dp.error_shape(r, "openai", "text/plain 400").get("message", ""),
     r"answered 400 .*text/plain",
     "text/plain 400: the message names the status and the type")
bad_media(mo, OPENAI, dp.chat("gpt-h"), "openai",
          "no Content-Type, not JSON", {"body": "hello", "content_type": ""})
mo.script("*", {"body": ANSWER, "content_type": ""})
r = inst.request("POST", OPENAI, dp.chat("gpt-h"))
is_eq((r.status, (r.try_json() or {}).get("id"),
       r.headers.get("Content-Type")), (200, "chatcmpl-h", "application/json"),
      "no Content-Type, a JSON body: relayed as application/json")
mo.script("*", {"body": ANSWER,
                "content_type": "application/vnd.api+json; charset=utf-8"})
r = inst.request("POST", OPENAI, dp.chat("gpt-h"))
is_eq((r.status, (r.try_json() or {}).get("id")), (200, "chatcmpl-h"),
      "application/...+json: relayed")

# ---- error bodies echoing the account's key -------------------------------

mo.reset()
mo.script("*", {"status": 400, "body": {"error": {
    "message": "Invalid request for key %s (%s)" % (KEY_O, KEY_O),
    "type": "invalid_request_error", "code": None}}})
r = inst.request("POST", OPENAI, dp.chat("gpt-h"))
is_eq(r.status, 400, "400 echoing the key: relayed as 400")
ok(KEY_O.encode() not in r.body, "400 echoing the key: the key is not relayed",
   lambda: dp.show(r))
is_eq(((r.try_json() or {}).get("error") or {}).get("message"),
      "Invalid request for key [redacted] ([redacted])",
      "400 echoing the key: each occurrence redacted, the rest intact")
ma.reset()
ma.script("*", {"status": 400, "body": {"type": "error", "error": {
    "type": "invalid_request_error", "message": "bad key " + KEY_A}}})
r = inst.request("POST", ANTHROPIC, dp.messages("claude-h"))
is_eq(((r.try_json() or {}).get("error") or {}).get("message"),
      "bad key [redacted]", "400 echoing the key (Anthropic): redacted")

# ---- duplicate top-level keys ---------------------------------------------

for path, family, raw in (
        (OPENAI, "openai", '{"model":"gpt-h","model":"gpt-x",'
         '"messages":[{"role":"user","content":"hi"}]}'),
        (ANTHROPIC, "anthropic", '{"model":"claude-h","max_tokens":8,'
         '"messages":[{"role":"user","content":"hi"}],"model":"claude-x"}'),
        (OPENAI, "openai", '{"model":"gpt-h","stream":false,'
         '"messages":[],"stream":true}'),
        (ANTHROPIC, "anthropic", '{"stream":true,"model":"claude-h",'
         '"max_tokens":8,"messages":[],"stream":false}')):
    key = "stream" if raw.count('"stream"') > 1 else "model"
    name = "duplicate %s (%s)" % (key, family)
    mo.reset()
    ma.reset()
    r = inst.request("POST", path, raw)
    is_eq(r.status, 400, "%s: 400" % name)
    err = dp.error_shape(r, family, name)
    like(err.get("message", ""), r"(?i)duplicate key '%s'" % key,
         "%s: the message names the key" % name)
    is_eq(len(mo.requests()) + len(ma.requests()), 0,
          "%s: nothing sent upstream" % name)

# ---- oversized answers -----------------------------------------------------


def answer_of(size):
    """An OpenAI chat.completion body of about size bytes."""
    a = dict(ANSWER)
    a["choices"] = [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "x" * (size - 200)}}]
    return a


mo.reset()
mo.script("*", {"body": answer_of(MAX_ANSWER - 1024)})
r = inst.request("POST", OPENAI, dp.chat("gpt-h"))
is_eq((r.status, (r.try_json() or {}).get("id")), (200, "chatcmpl-h"),
      "an answer under max_response_body_bytes: relayed")
backoffs_before = [dp.backoff(inst, "ho1"), dp.backoff(inst, "ha1")]
for mock, path, body, family in (
        (mo, OPENAI, dp.chat("gpt-h"), "openai"),
        (ma, ANTHROPIC, dp.messages("claude-h"), "anthropic")):
    name = "answer over max_response_body_bytes (%s)" % family
    mock.reset()
    mock.script("*", {"body": answer_of(MAX_ANSWER + 4096)})
    r = inst.request("POST", path, body)
    is_eq(r.status, 502, "%s: 502" % name)
    err = dp.error_shape(r, family, name)
    like(err.get("message", ""), r"max_response_body_bytes = %d" % MAX_ANSWER,
         "%s: the message names the setting" % name)
    row = dp.wait_row(inst, dp.uid_of(r)) or {}
    is_eq((row.get("status"), row.get("status_code"), row.get("error_class"),
           row.get("attempt_count")), ("error", 502, "response_too_large", 1),
          "%s: row error 502 response_too_large, not retried" % name)
is_eq([dp.backoff(inst, "ho1"), dp.backoff(inst, "ha1")], backoffs_before,
      "an oversized answer leaves the accounts' backoff rows as they were")

# ---- keepalive comments at the configured interval ------------------------

SILENCE_S = 2.5
mo.reset()
mo.script("*", {"events": 2, "first_event_delay_ms": int(SILENCE_S * 1000)})
with inst.stream(OPENAI, dp.chat("gpt-h", stream=True), timeout=20) as s:
    got = s.read_all()
n_ka = got.count(b": keepalive\n\n")
# At 1 s (the default) a 2.5 s silence gives at most 3 comments; at 0.25 s
# about 8 (the gateway looks every 100 ms). A loaded machine sends fewer,
# never more than the interval allows.
ok(4 <= n_ka <= int(SILENCE_S / KEEPALIVE_S) + 1,
   "keepalive_interval_s = %s: %d comments in a %.1f s silence"
   % (KEEPALIVE_S, n_ka, SILENCE_S), lambda: "  body: %r" % got[:400])
is_eq(dp.openai_text(dp.sse_json(got)), "hello world",
      "keepalive: the events follow, complete")

# ---- last, as it quarantines the account: a 401 echoing the key -----------

ma.reset()
ma.script("*", {"status": 401, "body": {"type": "error", "error": {
    "type": "authentication_error", "message": "invalid x-api-key " + KEY_A}}})
r = inst.request("POST", ANTHROPIC, dp.messages("claude-h"))
ok(r.status >= 400 and KEY_A.encode() not in r.body,
   "401 echoing the key (Anthropic): the key is not relayed", lambda: dp.show(r))
dp.wait_row(inst, dp.uid_of(r))
c = inst.db()
try:
    dump = "\n".join(c.iterdump())
finally:
    c.close()
ok(KEY_O not in dump and KEY_A not in dump,
   "no account key is stored anywhere in the database")

qp.done()
