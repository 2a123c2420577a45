#!/usr/bin/env python3
"""test_proxy.py: the data-plane endpoints end to end through lighttpd and
quotapool.fcgi against mock providers: OpenAI and Anthropic, JSON and SSE,
credentials and headers sent upstream, the hidden OpenAI usage chunk,
GET /v1/models ids, and the request errors answered by the gateway itself
(401, 400 wrong protocol for embeddings of an Anthropic-only model, 404
unknown model, 413, malformed JSON) in the client's protocol shape."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

MAX_BODY = 2048

mo = qp.mock(models=["gpt-mock"])
ma = qp.mock(style="anthropic", models=["claude-mock"])
inst = qp.Instance(
    server={"max_request_body_bytes": MAX_BODY},
    providers={
        "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-mock"],
               "accounts": ["o1"]},
        "pa": {"mock": ma, "protocols": ["anthropic"],
               "models": ["claude-mock"], "accounts": ["c1"]},
    })
dp.start(inst)


def completions(mock):
    return mock.requests(path=OPENAI) + mock.requests(path=ANTHROPIC)


# ---- GET /v1/models -------------------------------------------------------

r = inst.request("GET", "/v1/models")
is_eq(r.status, 200, "GET /v1/models: 200")
j = r.try_json() or {}
ids = sorted(m.get("id") for m in j.get("data") or [] if isinstance(m, dict))
is_eq(j.get("object"), "list", "GET /v1/models: OpenAI list object")
ok("gpt-mock/po" in ids and "claude-mock/pa" in ids,
   "GET /v1/models: ids are <model>/<provider>", lambda: "  ids: %r" % ids)
ok(ids and all(i.count("/") == 1 and i.split("/")[1] in ("po", "pa")
               for i in ids),
   "GET /v1/models: every id names a configured provider",
   lambda: "  ids: %r" % ids)

# ---- OpenAI, JSON ---------------------------------------------------------

mo.reset()
marker = "proxy-test-prompt-7f3a"
r = inst.request("POST", OPENAI, dp.chat("gpt-mock", marker))
is_eq(r.status, 200, "OpenAI JSON: 200")
j = r.try_json() or {}
is_eq(j.get("object"), "chat.completion", "OpenAI JSON: a chat.completion")
is_eq(((j.get("choices") or [{}])[0].get("message") or {}).get("content"),
      "hello world", "OpenAI JSON: the upstream's answer text")
like(r.headers.get("Content-Type", ""), r"^application/json",
     "OpenAI JSON: JSON content type")
uid = dp.uid_of(r)
ok(uid, "OpenAI JSON: x-proxy-request-id header", lambda: dp.show(r))
is_eq(r.headers.get("x-proxy-attempt-count"), "1",
      "OpenAI JSON: x-proxy-attempt-count 1")
recs = mo.requests(path=OPENAI)
is_eq(len(recs), 1, "OpenAI JSON: the mock got one request")
rec = recs[0] if recs else {"headers": {}, "body": {}}
is_eq(rec["headers"].get("authorization"), "Bearer k-o1",
      "OpenAI JSON: upstream sees the account's key as Bearer")
ok(inst.key not in json.dumps(rec["headers"]),
   "OpenAI JSON: the client's key is not sent upstream",
   lambda: "  headers: %r" % rec["headers"])
is_eq((rec["body"] or {}).get("messages"),
      [{"role": "user", "content": marker}],
      "OpenAI JSON: messages forwarded unchanged")
is_eq((rec["body"] or {}).get("model"), "gpt-mock",
      "OpenAI JSON: model forwarded")
row = dp.wait_row(inst, uid)
ok(row is not None, "OpenAI JSON: a requests row under x-proxy-request-id")
row = row or {}
is_eq((row.get("status"), row.get("status_code"), row.get("protocol"),
       row.get("endpoint"), row.get("provider_id"), row.get("account_name"),
       row.get("streamed"), row.get("attempt_count")),
      ("completed", 200, "openai", OPENAI, "po", "o1", 0, 1),
      "OpenAI JSON: row completed 200 openai po/o1, not streamed, 1 attempt")

# The provider suffix is stripped before the request goes upstream.
mo.reset()
r = inst.request("POST", OPENAI, dp.chat("gpt-mock/po"))
is_eq(r.status, 200, "OpenAI model gpt-mock/po: 200")
recs = mo.requests(path=OPENAI)
is_eq([(x["body"] or {}).get("model") for x in recs], ["gpt-mock"],
      "OpenAI model gpt-mock/po: upstream gets model gpt-mock")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("model"), row.get("model_base")), ("gpt-mock/po", "gpt-mock"),
      "OpenAI model gpt-mock/po: row keeps model and model_base")

# ---- OpenAI, streaming ----------------------------------------------------

mo.reset()
with inst.stream(OPENAI, dp.chat("gpt-mock", stream=True)) as s:
    body = s.read_all()
    is_eq(s.status, 200, "OpenAI stream: 200")
    like(s.headers.get("Content-Type", ""), r"^text/event-stream",
         "OpenAI stream: text/event-stream")
    ok(dp.uid_of(s), "OpenAI stream: x-proxy-request-id header")
    is_eq(s.headers.get("x-proxy-attempt-count"), "1",
          "OpenAI stream: x-proxy-attempt-count 1")
    ok(s.error is None, "OpenAI stream: ends cleanly", lambda: repr(s.error))
    suid = dp.uid_of(s)
evs = dp.sse_json(body)
is_eq(dp.openai_text(evs), "hello world", "OpenAI stream: the text relayed")
is_eq(evs[-1][1] if evs else None, "[DONE]", "OpenAI stream: ends with [DONE]")
is_eq(dp.usage_chunks(evs), [],
      "OpenAI stream without include_usage: no usage chunk shown")
recs = mo.requests(path=OPENAI)
so = ((recs[0]["body"] or {}).get("stream_options") if recs else None) or {}
is_eq(so.get("include_usage"), True,
      "OpenAI stream: the gateway asks the upstream for the usage chunk")
row = dp.wait_row(inst, suid) or {}
is_eq((row.get("status"), row.get("streamed"), row.get("stream_complete"),
       row.get("input_tokens"), row.get("output_tokens")),
      ("completed", 1, 1, 10, 2),
      "OpenAI stream: row completed, streamed, complete, usage from the "
      "hidden chunk (10 in, 2 out)")

with inst.stream(OPENAI, dp.chat("gpt-mock", stream=True, stream_options={
        "include_usage": True})) as s:
    body = s.read_all()
    is_eq(s.status, 200, "OpenAI stream with include_usage: 200")
evs = dp.sse_json(body)
uc = dp.usage_chunks(evs)
is_eq(len(uc), 1, "OpenAI stream with include_usage: one usage chunk shown",)
u = (uc[0] if uc else {}).get("usage") or {}
is_eq((u.get("prompt_tokens"), u.get("completion_tokens")), (10, 2),
      "OpenAI stream with include_usage: the upstream's usage numbers")
is_eq(evs[-1][1] if evs else None, "[DONE]",
      "OpenAI stream with include_usage: still ends with [DONE]")
is_eq(dp.openai_text(evs), "hello world",
      "OpenAI stream with include_usage: the text relayed")

# ---- Anthropic, JSON ------------------------------------------------------

ma.reset()
r = inst.request("POST", ANTHROPIC, dp.messages("claude-mock"),
                 auth="x-api-key", headers={
                     "anthropic-version": "2023-06-01",
                     "anthropic-beta": "prompt-caching-2024-07-31"})
is_eq(r.status, 200, "Anthropic JSON (x-api-key): 200")
j = r.try_json() or {}
is_eq((j.get("type"), j.get("role")), ("message", "assistant"),
      "Anthropic JSON: a message")
is_eq([c.get("text") for c in j.get("content") or []], ["hello world"],
      "Anthropic JSON: the upstream's answer text")
is_eq(r.headers.get("x-proxy-attempt-count"), "1",
      "Anthropic JSON: x-proxy-attempt-count 1")
recs = ma.requests(path=ANTHROPIC)
rec = recs[0] if recs else {"headers": {}, "body": {}}
h = rec["headers"]
is_eq(h.get("x-api-key"), "k-c1",
      "Anthropic JSON: upstream sees the account's key as x-api-key")
is_eq((h.get("anthropic-version"), h.get("anthropic-beta")),
      ("2023-06-01", "prompt-caching-2024-07-31"),
      "Anthropic JSON: anthropic-version and anthropic-beta passed through")
ok(inst.key not in json.dumps(h),
   "Anthropic JSON: the client's key is not sent upstream",
   lambda: "  headers: %r" % h)
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("status"), row.get("protocol"), row.get("endpoint"),
       row.get("provider_id"), row.get("account_name")),
      ("completed", "anthropic", ANTHROPIC, "pa", "c1"),
      "Anthropic JSON: row completed anthropic pa/c1")

ma.reset()
r = inst.request("POST", ANTHROPIC, dp.messages("claude-mock"))
is_eq(r.status, 200, "Anthropic JSON (Bearer client key): 200")
recs = ma.requests(path=ANTHROPIC)
v = recs[0]["headers"].get("anthropic-version") if recs else None
ok(isinstance(v, str) and v != "",
   "Anthropic JSON without anthropic-version: the gateway sends one",
   lambda: "  headers: %r" % (recs[0]["headers"] if recs else None))

# ---- Anthropic, streaming -------------------------------------------------

with inst.stream(ANTHROPIC, dp.messages("claude-mock", stream=True),
                 auth="x-api-key") as s:
    body = s.read_all()
    is_eq(s.status, 200, "Anthropic stream: 200")
    like(s.headers.get("Content-Type", ""), r"^text/event-stream",
         "Anthropic stream: text/event-stream")
    ok(s.error is None, "Anthropic stream: ends cleanly",
       lambda: repr(s.error))
    suid = dp.uid_of(s)
evs = dp.sse_json(body)
names = [n for n, _ in evs]
is_eq(names, ["message_start", "content_block_start", "content_block_delta",
              "content_block_delta", "content_block_stop", "message_delta",
              "message_stop"], "Anthropic stream: every event, in order")
is_eq(dp.anthropic_text(evs), "hello world", "Anthropic stream: the text")
row = dp.wait_row(inst, suid) or {}
is_eq((row.get("status"), row.get("streamed"), row.get("stream_complete"),
       row.get("finish_reason")), ("completed", 1, 1, "end_turn"),
      "Anthropic stream: row completed, streamed, complete, end_turn")

# ---- errors the gateway answers itself ------------------------------------

mo.reset()
ma.reset()
for path, fam, body in ((OPENAI, "openai", dp.chat("gpt-mock")),
                        (ANTHROPIC, "anthropic", dp.messages("claude-mock"))):
    r = inst.request("POST", path, body, key=None)
    is_eq(r.status, 401, "%s without a key: 401" % path)
    dp.error_shape(r, fam, "%s without a key" % path)
    r = inst.request("POST", path, body, key="qp_" + "0" * 48)
    is_eq(r.status, 401, "%s with an unknown key: 401" % path)
    dp.error_shape(r, fam, "%s with an unknown key" % path)

# Chat and messages reach providers of the other family by translation
# (test_translate.py); embeddings have no translation.
r = inst.request("POST", "/v1/embeddings", {"model": "claude-mock",
                                            "input": "x"})
is_eq(r.status, 400, "embeddings of an Anthropic-only model: 400")
e = dp.error_shape(r, "openai", "embeddings of an Anthropic-only model")
like(e.get("message"), r"(?i)anthropic.*protocol",
     "embeddings of an Anthropic-only model: says why")

r = inst.request("POST", OPENAI, dp.chat("no-such-model"))
is_eq(r.status, 404, "OpenAI unknown model: 404")
dp.error_shape(r, "openai", "OpenAI unknown model")
r = inst.request("POST", ANTHROPIC, dp.messages("no-such-model"))
is_eq(r.status, 404, "Anthropic unknown model: 404")
dp.error_shape(r, "anthropic", "Anthropic unknown model")

big = "x" * (MAX_BODY + 500)
r = inst.request("POST", OPENAI, dp.chat("gpt-mock", big))
is_eq(r.status, 413, "OpenAI body over max_request_body_bytes: 413")
dp.error_shape(r, "openai", "OpenAI 413")
r = inst.request("POST", ANTHROPIC, dp.messages("claude-mock", big))
is_eq(r.status, 413, "Anthropic body over max_request_body_bytes: 413")
dp.error_shape(r, "anthropic", "Anthropic 413")
small = "y" * (MAX_BODY - 300)
r = inst.request("POST", OPENAI, dp.chat("gpt-mock", small))
is_eq(r.status, 200, "OpenAI body just under max_request_body_bytes: 200")

r = inst.request("POST", OPENAI, '{"model": "gpt-mock", "messages": [',
                 headers={"Content-Type": "application/json"})
is_eq(r.status, 400, "OpenAI malformed JSON: 400")
e = dp.error_shape(r, "openai", "OpenAI malformed JSON")
is_eq(e.get("type"), "invalid_request_error",
      "OpenAI malformed JSON: invalid_request_error")
r = inst.request("POST", ANTHROPIC, "{not json}",
                 headers={"Content-Type": "application/json"})
is_eq(r.status, 400, "Anthropic malformed JSON: 400")
e = dp.error_shape(r, "anthropic", "Anthropic malformed JSON")
is_eq(e.get("type"), "invalid_request_error",
      "Anthropic malformed JSON: invalid_request_error")
r = inst.request("POST", OPENAI, "[1, 2]",
                 headers={"Content-Type": "application/json"})
is_eq(r.status, 400, "OpenAI body that is not an object: 400")
dp.error_shape(r, "openai", "OpenAI body that is not an object")
r = inst.request("POST", OPENAI, {"messages": []})
is_eq(r.status, 400, "OpenAI body without a model: 400")
dp.error_shape(r, "openai", "OpenAI body without a model")

# gpt-mock answered once above (the body just under the limit): nothing else.
is_eq(len(completions(mo)) + len(completions(ma)), 1,
      "none of the refused requests reached a provider")
is_eq(dp.pending(inst), [], "no request is left pending")

res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
