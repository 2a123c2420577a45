#!/usr/bin/env python3
"""test_endpoints.py: the pooled APIs beyond chat and messages, through
lighttpd + quotapool.fcgi against mock providers:

  POST /v1/responses: passed through, JSON and streamed, to a provider
    whose protocols include "responses" (previous_response_id too);
    translated onto chat completions and onto Messages otherwise, with
    function calls round trip; previous_response_id without such a
    provider is a 400 and reaches no provider;
  POST /v1/embeddings and /v1/completions: routed by model, sent with the
    account's key, failing over between accounts, usage recorded;
  POST /v1/messages/count_tokens: passed through to an Anthropic-protocol
    provider of the model, else (no such provider, or one that does not
    count) answered with the gateway's estimate and its header;
  GET /v1/models[/{id}] list the new providers' models in both shapes."""

import json
import math
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

RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
COMPLETIONS = "/v1/completions"
COUNT = "/v1/messages/count_tokens"

mo = qp.mock(models=["gpt-x"])
mr = qp.mock(models=["resp-x"])
ma = qp.mock(style="anthropic", models=["claude-x"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-x"],
           "accounts": ["o1", "o2"]},
    "pr": {"mock": mr, "protocols": ["openai", "responses"],
           "models": ["resp-x"], "accounts": ["r1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": ["claude-x"],
           "accounts": ["a1"]},
})
dp.start(inst)

USAGE = {"prompt": 120, "completion": 7, "cache_read": 40, "reasoning": 3}
COLS = ("input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "reasoning_tokens")
TOOLS = [{"type": "function", "name": "get_weather", "description": "d",
          "parameters": {"type": "object",
                         "properties": {"city": {"type": "string"}}}}]
CALL = {"name": "get_weather", "input": {"city": "Oslo"}}


def resp_body(model, stream=False, **extra):
    b = {"model": model, "input": "hi there", "store": False}
    if stream:
        b["stream"] = True
    b.update(extra)
    return b


def send(path, body, stream):
    if stream:
        with inst.stream(path, body) as s:
            raw = s.read_all()
            return s.status, s.headers, raw, dp.uid_of(s)
    r = inst.request("POST", path, body)
    return r.status, r.headers, r.body, dp.uid_of(r)


def responses_view(raw, stream):
    """(status, text, function calls [(call_id, name, args)], usage) of a
    Responses answer, JSON or the response.completed event."""
    if stream:
        evs = dp.sse_json(raw)
        names = [n for n, _ in evs]
        done = [e for n, e in evs if n == "response.completed"]
        if not done or names[0] != "response.created":
            return None
        j = done[0]["response"]
        deltas = "".join(e["delta"] for n, e in evs
                         if n == "response.output_text.delta")
    else:
        j = json.loads(raw)
        deltas = None
    text = "".join(c.get("text", "") for o in j.get("output") or []
                   if o.get("type") == "message" for c in o.get("content"))
    calls = [(o["call_id"], o["name"], json.loads(o["arguments"]))
             for o in j.get("output") or [] if o.get("type") ==
             "function_call"]
    if deltas is not None and deltas != text:
        return ("deltas differ", deltas, text)
    return (j.get("object"), j.get("status"), text, calls,
            {k: (j.get("usage") or {}).get(k) for k in
             ("input_tokens", "output_tokens")})


# ---- /v1/responses passed through -----------------------------------------

for stream in (False, True):
    tag = "responses passthrough %s" % ("stream" if stream else "JSON")
    mr.reset()
    mr.script("*", {"usage": USAGE, "text": "Straight through."})
    st, hdrs, raw, uid = send(RESPONSES, resp_body("resp-x/pr", stream),
                              stream)
    is_eq(st, 200, "%s: 200" % tag)
    recs = mr.requests(path=RESPONSES)
    ok(len(recs) == 1 and recs[0]["body"].get("model") == "resp-x" and
       recs[0]["body"].get("input") == "hi there" and
       recs[0]["headers"].get("authorization") == "Bearer k-r1",
       "%s: the provider got the request as is on /v1/responses, model "
       "unsuffixed, with the account's key" % tag,
       lambda: "  %r" % [(r["path"], r["body"]) for r in mr.requests()])
    ok(recs and "stream_options" not in recs[0]["body"],
       "%s: nothing added to a Responses body" % tag)
    view = responses_view(raw, stream)
    is_eq(view, ("response", "completed", "Straight through.", [],
                 {"input_tokens": 120, "output_tokens": 7}),
          "%s: the provider's answer" % tag)
    if not stream:
        ok(json.loads(raw)["id"].startswith("resp_mock"),
           "%s: the provider's own id (body unchanged)" % tag)
    row = dp.wait_row(inst, uid) or {}
    is_eq(tuple(row.get(c) for c in COLS), (80, 7, 40, 0, 3),
          "%s: row tokens from the Responses usage (input less cached)" % tag)
    is_eq((row.get("status"), row.get("endpoint"), row.get("protocol"),
           row.get("translation"), row.get("finish_reason"),
           row.get("stream_complete")),
          ("completed", RESPONSES, "openai", None, "completed",
           1 if stream else None), "%s: row completed, not translated" % tag)

mr.reset()
r = inst.request("POST", RESPONSES, resp_body(
    "resp-x", previous_response_id="resp_earlier"))
recs = mr.requests(path=RESPONSES)
is_eq((r.status, recs[0]["body"].get("previous_response_id") if recs else
       None), (200, "resp_earlier"),
      "previous_response_id goes to a provider that takes /v1/responses")

# ---- /v1/responses translated ----------------------------------------------

for model, mock, up, name in (("gpt-x", mo, OPENAI, "responses>chat"),
                              ("claude-x", ma, ANTHROPIC,
                               "responses>messages")):
    for stream in (False, True):
        tag = "%s %s" % (name, "stream" if stream else "JSON")
        mock.reset()
        mock.script("*", {"usage": USAGE, "text": "From afar."})
        st, hdrs, raw, uid = send(RESPONSES, resp_body(model, stream), stream)
        is_eq(st, 200, "%s: 200" % tag)
        recs = mock.requests(path=up)
        ok(len(recs) == 1 and isinstance(recs[0]["body"].get("messages"),
                                         list),
           "%s: the provider got a %s request" % (tag, up),
           lambda: "  %r" % [(x["path"], x["body"]) for x in mock.requests()])
        view = responses_view(raw, stream)
        # Responses' input_tokens count the cached ones, as chat's prompt.
        want_in = 120 if up == OPENAI else 120 + 40
        ok(view is not None and view[:4] == ("response", "completed",
                                             "From afar.", []) and
           view[4] == {"input_tokens": want_in, "output_tokens": 7},
           "%s: a Responses answer with the provider's text and usage" % tag,
           lambda: "  %r\n  %r" % (view, raw[-400:]))
        row = dp.wait_row(inst, uid) or {}
        is_eq((row.get("status"), row.get("translation"),
               row.get("output_tokens"), row.get("cache_read_tokens")),
              ("completed", name, 7, 40),
              "%s: row completed, translation recorded, usage" % tag)

    # A function call round trip, streamed.
    mock.reset()
    mock.set_default("*", {"tool_call": CALL, "text": "It is sunny."})
    st, _, raw, uid = send(RESPONSES, resp_body(model, True, tools=TOOLS),
                           True)
    view = responses_view(raw, True)
    calls = view[3] if view else []
    is_eq([(n, a) for _, n, a in calls], [(CALL["name"], CALL["input"])],
          "%s: a function_call item reaches the Responses client" % name)
    if calls:
        follow = resp_body(model, True, tools=TOOLS, input=[
            {"role": "user", "content": "hi there"},
            {"type": "function_call", "call_id": calls[0][0],
             "name": calls[0][1], "arguments": json.dumps(calls[0][2])},
            {"type": "function_call_output", "call_id": calls[0][0],
             "output": "sunny, 20C"}])
        st, _, raw, _ = send(RESPONSES, follow, True)
        view = responses_view(raw, True)
        is_eq(view[2] if view else None, "It is sunny.",
              "%s: after the function output, the provider's text" % name)
        recs = mock.requests(path=up)
        sent = json.dumps(recs[-1]["body"]) if recs else ""
        ok(len(recs) == 2 and "sunny, 20C" in sent and calls[0][0] in sent,
           "%s: the provider got the output under the call's id" % name)
    else:
        qp.skip("no function call", 2)
    mock.set_default("*", None)

mo.reset()
r = inst.request("POST", RESPONSES, resp_body(
    "gpt-x", previous_response_id="resp_earlier"))
is_eq(r.status, 400, "previous_response_id without passthrough: 400")
e = dp.error_shape(r, "openai", "previous_response_id without passthrough")
like(e.get("message"), r"previous_response_id.*stateless",
     "previous_response_id without passthrough: says why")
is_eq(mo.requests(path=OPENAI), [], "previous_response_id: no provider "
      "reached")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("status"), row.get("status_code")), ("rejected", 400),
      "previous_response_id: row rejected 400")

# ---- /v1/embeddings and /v1/completions ------------------------------------

mo.reset()
mo.script("*", {"status": 429, "headers": {"Retry-After": "30"}})
mo.script("*", {"usage": {"prompt": 33}})
r = inst.request("POST", EMBEDDINGS, {"model": "gpt-x", "input": ["a", "b"]})
j = r.try_json() or {}
recs = mo.requests(path=EMBEDDINGS)
is_eq((r.status, len(j.get("data") or []), j.get("usage")),
      (200, 2, {"prompt_tokens": 33, "total_tokens": 33}),
      "embeddings: the provider's vectors and usage")
ok(len(recs) == 2 and sorted(x["key"] for x in recs) == ["k-o1", "k-o2"],
   "embeddings: a 429 fails over to the other account, each with its key",
   lambda: "  %r" % [(x["key"], x["status"]) for x in recs])
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("status"), row.get("endpoint"), row.get("attempt_count"),
       row.get("input_tokens"), row.get("output_tokens")),
      ("completed", EMBEDDINGS, 2, 33, 0),
      "embeddings: row completed after 2 attempts, its usage")
r = inst.request("POST", EMBEDDINGS, {"model": "gpt-x"})
is_eq(r.status, 200, "embeddings: the provider judges the body (no model "
      "check beyond routing)")

for stream in (False, True):
    tag = "completions %s" % ("stream" if stream else "JSON")
    mo.reset()
    mo.script("*", {"usage": {"prompt": 21, "completion": 4},
                    "text": "once upon a time"})
    body = {"model": "gpt-x", "prompt": "Tell me", "max_tokens": 9}
    if stream:
        body["stream"] = True
    st, hdrs, raw, uid = send(COMPLETIONS, body, stream)
    if stream:
        ds = [e for _, e in dp.sse_json(raw) if isinstance(e, dict)]
        text = "".join(c.get("text", "") for e in ds for c in e["choices"])
        hidden = not any(e.get("usage") for e in ds)
    else:
        j = json.loads(raw)
        text, hidden = j["choices"][0]["text"], True
    is_eq((st, text), (200, "once upon a time"), "%s: the text" % tag)
    ok(hidden, "%s: no usage chunk the client did not ask for" % tag)
    recs = mo.requests(path=COMPLETIONS)
    is_eq(recs[0]["body"].get("stream_options") if recs else "none",
          {"include_usage": True} if stream else None,
          "%s: the provider is asked for its usage when streaming" % tag)
    row = dp.wait_row(inst, uid) or {}
    is_eq((row.get("status"), row.get("endpoint"), row.get("input_tokens"),
           row.get("output_tokens"), row.get("stream_complete")),
          ("completed", COMPLETIONS, 21, 4, 1 if stream else None),
          "%s: row completed with the provider's usage" % tag)
    if stream:
        ok(isinstance(row.get("ttft_ms"), int),
           "%s: time to first token from the text chunks" % tag)

# ---- /v1/messages/count_tokens ----------------------------------------------

CT = {"model": "claude-x", "messages": [{"role": "user", "content": "Count "
                                          "these words, please."}]}
ma.reset()
ma.script("*", {"usage": {"prompt": 77}})
r = inst.request("POST", COUNT, CT)
recs = ma.requests(path=COUNT)
is_eq((r.status, r.try_json(), r.headers.get("x-quotapool-estimate")),
      (200, {"input_tokens": 77}, None),
      "count_tokens: the Anthropic provider's count, passed through")
ok(len(recs) == 1 and recs[0]["headers"].get("x-api-key") == "k-a1" and
   recs[0]["body"].get("model") == "claude-x",
   "count_tokens: sent to the provider with the account's key")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("status"), row.get("endpoint"), row.get("protocol"),
       row.get("input_tokens")), ("completed", COUNT, "anthropic", 0),
      "count_tokens: row completed, no tokens spent")

body = dict(CT, model="gpt-x")
raw = json.dumps(body).encode()
mo.reset()
r = inst.request("POST", COUNT, body)
is_eq((r.status, r.try_json(), r.headers.get("x-quotapool-estimate")),
      (200, {"input_tokens": math.ceil(len(raw) / 3)}, "bytes"),
      "count_tokens without an Anthropic provider: the estimate from the "
      "bytes, marked by x-quotapool-estimate")
is_eq(mo.requests(), [], "count_tokens estimate: no provider reached")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("status"), row.get("status_code"), row.get("attempt_count")),
      ("completed", 200, 0), "count_tokens estimate: row completed, no "
      "attempt")

ma.reset()
ma.script("*", {"status": 404, "body": {"type": "error", "error": {
    "type": "not_found_error", "message": "Not found"}}})
r = inst.request("POST", COUNT, CT)
is_eq((r.status, r.headers.get("x-quotapool-estimate")), (200, "bytes"),
      "count_tokens on a provider without it (404): the estimate")
is_eq(dp.backoff(inst, "a1"), None,
      "count_tokens: the provider's 404 backs nothing off")
r = inst.request("POST", ANTHROPIC, dp.messages("claude-x"))
is_eq(r.status, 200, "count_tokens: the account still serves messages")
ma.reset()
ma.script("*", {"status": 400})
r = inst.request("POST", COUNT, CT)
is_eq(r.status, 400, "count_tokens: the provider's 400 is the client's")
dp.error_shape(r, "anthropic", "count_tokens 400")
r = inst.request("POST", COUNT, dict(CT, model="no-such-model"))
is_eq(r.status, 404, "count_tokens of an unknown model: 404")
e = dp.error_shape(r, "anthropic", "count_tokens unknown model")
r = inst.request("POST", COUNT, "{oops", headers={
    "Content-Type": "application/json"})
is_eq(r.status, 400, "count_tokens malformed JSON: 400")
dp.error_shape(r, "anthropic", "count_tokens malformed JSON")
r = inst.request("POST", EMBEDDINGS, "{oops", headers={
    "Content-Type": "application/json"})
dp.error_shape(r, "openai", "embeddings malformed JSON")

# ---- /v1/models keeps working ----------------------------------------------

r = inst.request("GET", "/v1/models")
ids = sorted(m.get("id") for m in (r.try_json() or {}).get("data") or [])
is_eq(ids, ["claude-x/pa", "gpt-x/po", "resp-x/pr"],
      "GET /v1/models lists the Responses provider's models too")
r = inst.request("GET", "/v1/models/resp-x%2Fpr")
is_eq((r.status, (r.try_json() or {}).get("id")), (200, "resp-x/pr"),
      "GET /v1/models/{id} with %2F")
r = inst.request("GET", "/v1/models/resp-x", headers={
    "anthropic-version": "2023-06-01"})
j = r.try_json() or {}
is_eq((r.status, j.get("type"), j.get("id")), (200, "model", "resp-x"),
      "GET /v1/models/{id} in the Anthropic shape, unsuffixed")

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
