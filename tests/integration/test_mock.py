#!/usr/bin/env python3
"""test_mock.py: the mock provider on its own, over real sockets, no gateway:
both protocols as JSON and SSE, scripted failures, cut streams, the request
records, disconnect detection, the control API, the program mode, and the
parts of the harness that need no gateway."""

import http.client
import json
import os
import socket
import sys
import time
import tomllib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.set_timeout(120)


def post(m, path, body, key="k-a1", auth="bearer", headers=None):
    return qp.http_request(m.port, "POST", path, body, headers, key, 10, auth)


def get(m, path, key="k-a1"):
    return qp.http_request(m.port, "GET", path, None, None, key, 10)


def chat(stream=False, usage=None, **kw):
    b = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        b["stream"] = True
    if usage is not None:
        b["stream_options"] = {"include_usage": usage}
    b.update(kw)
    return b


def msgs(stream=False, **kw):
    b = {"model": "c1", "max_tokens": 64,
         "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        b["stream"] = True
    b.update(kw)
    return b


def data_json(events):
    """The JSON payloads of SSE events (skipping [DONE])."""
    return [json.loads(d) for _, d in events if d != "[DONE]"]


def last_rec(m, key):
    recs = m.wait_requests(1, timeout=5, key=key, finished=True)
    return recs[-1] if recs else {}


def raw_http(port, request_bytes, timeout=10.0):
    """Writes request_bytes on a fresh socket and reads until EOF."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request_bytes)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    finally:
        s.close()


m = qp.mock(models=["m1", "m2"])

# --- OpenAI, JSON -----------------------------------------------------------
r = post(m, "/v1/chat/completions", chat())
is_eq(r.status, 200, "openai json: 200")
like(r.headers.get("Content-Type", ""), r"^application/json",
     "openai json: content type")
j = r.json()
is_eq(j["object"], "chat.completion", "openai json: object")
is_eq(j["model"], "m1", "openai json: model echoed")
like(j["id"], r"^chatcmpl-", "openai json: id")
is_eq(j["choices"][0]["message"], {"role": "assistant", "content":
                                   "hello world", "refusal": None,
                                   "annotations": []},
      "openai json: message")
is_eq(j["choices"][0]["finish_reason"], "stop", "openai json: finish_reason")
is_eq((j["usage"]["prompt_tokens"], j["usage"]["completion_tokens"],
       j["usage"]["total_tokens"]), (10, 2, 12), "openai json: usage")
is_eq(j["usage"]["prompt_tokens_details"]["cached_tokens"], 0,
      "openai json: cached tokens")
ok(r.headers.get("x-request-id"), "openai json: x-request-id header")

# --- OpenAI, SSE with include_usage ----------------------------------------
s = qp.Stream(m.port, "/v1/chat/completions", chat(True, True), key="k-a1")
body = s.read_all()
is_eq(s.status, 200, "openai sse: 200")
like(s.headers.get("Content-Type", ""), r"^text/event-stream",
     "openai sse: content type")
is_eq(s.headers.get("Transfer-Encoding"), "chunked", "openai sse: chunked")
is_eq(s.error, None, "openai sse: ends cleanly")
evs = qp.parse_sse(body)
is_eq(evs[-1], (None, "[DONE]"), "openai sse: ends with data: [DONE]")
ok(body.endswith(b"data: [DONE]\n\n"), "openai sse: [DONE] is the last bytes")
cs = data_json(evs)
is_eq({c["object"] for c in cs}, {"chat.completion.chunk"},
      "openai sse: every chunk is chat.completion.chunk")
is_eq(cs[0]["choices"][0]["delta"].get("role"), "assistant",
      "openai sse: first chunk carries the role")
text = "".join(c["choices"][0]["delta"].get("content") or ""
               for c in cs if c["choices"])
is_eq(text, "hello world", "openai sse: content deltas join to the text")
is_eq(cs[-2]["choices"][0]["finish_reason"], "stop",
      "openai sse: finish chunk before the usage chunk")
is_eq(cs[-1]["choices"], [], "openai sse: usage chunk has empty choices")
is_eq(cs[-1]["usage"]["total_tokens"], 12, "openai sse: usage chunk totals")
ok(all(c["usage"] is None for c in cs[:-1]),
   "openai sse: other chunks carry usage null")
is_eq(len({c["id"] for c in cs}), 1, "openai sse: one id across chunks")

# --- OpenAI, SSE without include_usage -------------------------------------
s = qp.Stream(m.port, "/v1/chat/completions", chat(True), key="k-a1")
cs = data_json(qp.parse_sse(s.read_all()))
ok(all("usage" not in c for c in cs), "openai sse no usage: no usage key")
is_eq(len(cs), 4, "openai sse no usage: role + 2 deltas + finish")

# --- Anthropic, JSON --------------------------------------------------------
r = post(m, "/v1/messages", msgs(), key="k-b1", auth="x-api-key")
is_eq(r.status, 200, "anthropic json: 200")
j = r.json()
is_eq((j["type"], j["role"], j["model"]), ("message", "assistant", "c1"),
      "anthropic json: type, role, model")
like(j["id"], r"^msg_", "anthropic json: id")
is_eq(j["content"], [{"type": "text", "text": "hello world"}],
      "anthropic json: content")
is_eq(j["stop_reason"], "end_turn", "anthropic json: stop_reason")
is_eq(j["usage"], {"input_tokens": 10, "cache_creation_input_tokens": 0,
                   "cache_read_input_tokens": 0, "output_tokens": 2},
      "anthropic json: usage")
ok(r.headers.get("request-id"), "anthropic json: request-id header")

# --- Anthropic, SSE ---------------------------------------------------------
s = qp.Stream(m.port, "/v1/messages", msgs(True), key="k-b1",
              auth="x-api-key")
evs = qp.parse_sse(s.read_all())
is_eq(s.status, 200, "anthropic sse: 200")
like(s.headers.get("Content-Type", ""), r"^text/event-stream",
     "anthropic sse: content type")
is_eq([e for e, _ in evs],
      ["message_start", "content_block_start", "content_block_delta",
       "content_block_delta", "content_block_stop", "message_delta",
       "message_stop"], "anthropic sse: event sequence")
ds = data_json(evs)
ok(all(e == d["type"] for (e, _), d in zip(evs, ds)),
   "anthropic sse: each data.type equals the event name")
is_eq(ds[0]["message"]["usage"], {"input_tokens": 10,
                                  "cache_creation_input_tokens": 0,
                                  "cache_read_input_tokens": 0,
                                  "output_tokens": 1},
      "anthropic sse: message_start usage")
is_eq(ds[0]["message"]["content"], [], "anthropic sse: message_start empty")
is_eq("".join(d["delta"]["text"] for d in ds
              if d["type"] == "content_block_delta"), "hello world",
      "anthropic sse: text deltas join to the text")
is_eq(ds[5]["delta"]["stop_reason"], "end_turn",
      "anthropic sse: message_delta stop_reason")
is_eq(ds[5]["usage"], {"output_tokens": 2},
      "anthropic sse: message_delta output_tokens")
m.script("k-b1", {"ping": True})
evs = qp.parse_sse(qp.Stream(m.port, "/v1/messages", msgs(True),
                             key="k-b1").read_all())
is_eq([e for e, _ in evs][:2], ["message_start", "ping"],
      "anthropic sse: optional ping after message_start")

# --- custom usage and text --------------------------------------------------
U = {"prompt": 1200, "completion": 7, "cache_read": 800, "cache_write": 64,
     "reasoning": 5}
m.script("k-u", {"usage": U, "text": "one two three"},
         {"usage": U, "text": "one two three"},
         {"usage": U}, {"usage": U, "usage_extra": {"cost": 0.0042}})
j = post(m, "/v1/chat/completions", chat(), key="k-u").json()
is_eq(j["choices"][0]["message"]["content"], "one two three",
      "custom: openai text")
is_eq(j["usage"], {"prompt_tokens": 1200, "completion_tokens": 7,
                   "total_tokens": 1207,
                   "prompt_tokens_details": {"cached_tokens": 800,
                                             "audio_tokens": 0,
                                             "cache_write_tokens": 64},
                   "completion_tokens_details": {
                       "reasoning_tokens": 5, "audio_tokens": 0,
                       "accepted_prediction_tokens": 0,
                       "rejected_prediction_tokens": 0}},
      "custom: openai usage with cache read/write and reasoning")
s = qp.Stream(m.port, "/v1/messages", msgs(True), key="k-u")
ds = data_json(qp.parse_sse(s.read_all()))
is_eq("".join(d["delta"]["text"] for d in ds
              if d["type"] == "content_block_delta"), "one two three",
      "custom: anthropic streamed text")
is_eq(ds[0]["message"]["usage"], {"input_tokens": 1200,
                                  "cache_creation_input_tokens": 64,
                                  "cache_read_input_tokens": 800,
                                  "output_tokens": 1},
      "custom: anthropic message_start input and cache tokens")
is_eq(ds[-2]["usage"], {"output_tokens": 7},
      "custom: anthropic message_delta output tokens")
s = qp.Stream(m.port, "/v1/chat/completions", chat(True, True), key="k-u")
cs = data_json(qp.parse_sse(s.read_all()))
is_eq(cs[-1]["usage"]["prompt_tokens_details"]["cached_tokens"], 800,
      "custom: openai streamed usage chunk")
j = post(m, "/v1/chat/completions", chat(), key="k-u").json()
is_eq(j["usage"].get("cost"), 0.0042, "custom: usage_extra merged")

# --- parallel tool calls in both shapes, streamed and not -------------------
CALLS = [{"name": "get_weather", "input": {"city": "Paris"}},
         {"name": "get_time", "input": {"tz": "CET"}}]
TOOLS_OAI = [{"type": "function", "function": {"name": c["name"],
                                                "parameters": {}}}
             for c in CALLS]
TOOLS_ANT = [{"name": c["name"], "input_schema": {"type": "object"}}
             for c in CALLS]
m.set_default("*", {"tool_calls": CALLS, "text": "Checking.",
                    "text_first": True})
j = post(m, "/v1/chat/completions", chat(tools=TOOLS_OAI)).json()
msg = j["choices"][0]["message"]
is_eq(([(t["function"]["name"], json.loads(t["function"]["arguments"]))
        for t in msg["tool_calls"]], msg["content"],
       j["choices"][0]["finish_reason"]),
      ([(c["name"], c["input"]) for c in CALLS], "Checking.", "tool_calls"),
      "tool_calls: openai json, two calls after the text")
ds = data_json(qp.parse_sse(qp.Stream(m.port, "/v1/chat/completions", chat(
    True, tools=TOOLS_OAI)).read_all()))
args = {}
for d in ds:
    for tc in (d["choices"][0]["delta"].get("tool_calls") or []
               if d["choices"] else []):
        args[tc["index"]] = args.get(tc["index"], "") + \
            tc["function"].get("arguments", "")
is_eq({i: json.loads(a) for i, a in args.items()},
      {0: CALLS[0]["input"], 1: CALLS[1]["input"]},
      "tool_calls: openai sse, arguments in deltas per index")
j = post(m, "/v1/messages", msgs(tools=TOOLS_ANT), auth="x-api-key").json()
is_eq(([b["type"] for b in j["content"]], j["stop_reason"],
       [b.get("input") for b in j["content"][1:]]),
      (["text", "tool_use", "tool_use"], "tool_use",
       [c["input"] for c in CALLS]),
      "tool_calls: anthropic json, text then two tool_use blocks")
evs = qp.parse_sse(qp.Stream(m.port, "/v1/messages", msgs(
    True, tools=TOOLS_ANT), auth="x-api-key").read_all())
parts = {}
for name, d in evs:
    d = json.loads(d)
    if d.get("type") == "content_block_delta" and \
            d["delta"]["type"] == "input_json_delta":
        parts[d["index"]] = parts.get(d["index"], "") + \
            d["delta"]["partial_json"]
is_eq({i: json.loads(p) for i, p in parts.items()},
      {1: CALLS[0]["input"], 2: CALLS[1]["input"]},
      "tool_calls: anthropic sse, input_json_delta per block")
j = post(m, "/v1/messages", msgs(tools=TOOLS_ANT, messages=[
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x",
                                  "content": "20C"}]}]),
    auth="x-api-key").json()
is_eq(j["content"][0]["type"], "text", "tool_calls: after a tool result, text")
m.set_default("*", None)

# --- Responses API, embeddings, completions, count_tokens ------------------
RB = {"model": "m1", "input": "hi"}
j = post(m, "/v1/responses", RB).json()
is_eq((j["object"], j["status"], j["output"][0]["content"][0]["text"],
       j["usage"]["input_tokens"], j["usage"]["output_tokens"]),
      ("response", "completed", "hello world", 10, 2),
      "responses: json answer with usage")
evs = [(n, json.loads(d)) for n, d in qp.parse_sse(qp.Stream(
    m.port, "/v1/responses", dict(RB, stream=True)).read_all())]
is_eq((evs[0][0], evs[-1][0], evs[-1][1]["response"]["usage"]["output_tokens"],
       "".join(d["delta"] for n, d in evs
               if n == "response.output_text.delta")),
      ("response.created", "response.completed", 2, "hello world"),
      "responses: sse from response.created to response.completed")
m.set_default("*", {"tool_calls": CALLS})
j = post(m, "/v1/responses", dict(RB, tools=[{"type": "function",
                                               "name": c["name"]}
                                              for c in CALLS])).json()
is_eq([(o["type"], o["name"], json.loads(o["arguments"]))
       for o in j["output"]],
      [("function_call", c["name"], c["input"]) for c in CALLS],
      "responses: function_call items")
j = post(m, "/v1/responses", dict(RB, tools=[{"type": "function",
                                               "name": "get_time"}],
                                  input=[{"type": "function_call_output",
                                          "call_id": "c", "output": "x"}])
         ).json()
is_eq(j["output"][0]["type"], "message",
      "responses: after a function_call_output, a message")
m.set_default("*", None)
j = post(m, "/v1/embeddings", {"model": "m1", "input": ["a", "b"]}).json()
is_eq((len(j["data"]), j["usage"]), (2, {"prompt_tokens": 10,
                                         "total_tokens": 10}),
      "embeddings: one vector per input, usage")
j = post(m, "/v1/completions", {"model": "m1", "prompt": "x"}).json()
is_eq((j["object"], j["choices"][0]["text"], j["usage"]["completion_tokens"]),
      ("text_completion", "hello world", 2), "completions: json")
ds = data_json(qp.parse_sse(qp.Stream(m.port, "/v1/completions", {
    "model": "m1", "prompt": "x", "stream": True,
    "stream_options": {"include_usage": True}}).read_all()))
is_eq(("".join(c["text"] for d in ds for c in d["choices"]),
       ds[-1]["usage"]["prompt_tokens"]), ("hello world", 10),
      "completions: sse text and the usage chunk")
m.script("*", {"usage": {"prompt": 77}})
j = post(m, "/v1/messages/count_tokens", msgs(), auth="x-api-key").json()
is_eq(j, {"input_tokens": 77}, "count_tokens: the scripted prompt count")

# --- models -----------------------------------------------------------------
j = get(m, "/v1/models").json()
is_eq(j, {"object": "list", "data": [
    {"id": "m1", "object": "model", "created": 1700000000,
     "owned_by": "mock"},
    {"id": "m2", "object": "model", "created": 1700000000,
     "owned_by": "mock"}]}, "models: openai list shape")
ma = qp.mock(style="anthropic", models=["c1", "c2"])
j = get(ma, "/v1/models").json()
is_eq(j, {"data": [
    {"type": "model", "id": "c1", "display_name": "c1",
     "created_at": "2025-01-01T00:00:00Z"},
    {"type": "model", "id": "c2", "display_name": "c2",
     "created_at": "2025-01-01T00:00:00Z"}],
    "has_more": False, "first_id": "c1", "last_id": "c2"},
    "models: anthropic list shape")
m.set_models(["m3"])
is_eq([d["id"] for d in get(m, "/v1/models").json()["data"]], ["m3"],
      "models: set_models changes the list")
m.script("k-a1", {"match": "/v1/models", "models": ["only-once"]})
is_eq([d["id"] for d in get(m, "/v1/models").json()["data"]],
      ["only-once"], "models: scripted contents for one request")
is_eq([d["id"] for d in get(m, "/v1/models").json()["data"]], ["m3"],
      "models: then back to the configured list")
m.set_models(["m1", "m2"])

# --- scripted failures ------------------------------------------------------
m.script("k-r", {"status": 429, "headers": {"Retry-After": "7"}})
r = post(m, "/v1/chat/completions", chat(), key="k-r")
is_eq(r.status, 429, "429: status")
is_eq(r.headers.get("Retry-After"), "7", "429: Retry-After header")
is_eq(r.json()["error"]["code"], "rate_limit_exceeded", "429: openai code")
is_eq(post(m, "/v1/chat/completions", chat(), key="k-r").status, 200,
      "queue: a behaviour is consumed by one request")
m.script("k-r", {"status": 429})
is_eq(post(m, "/v1/chat/completions", chat(), key="k-other").status, 200,
      "queue: another key is not affected")
is_eq(m.pending("k-r"), 1, "queue: still pending for its key")
is_eq(get(m, "/v1/models", key="k-r").status, 200,
      "queue: a completion behaviour is not used by GET /v1/models")
is_eq(post(m, "/v1/chat/completions", chat(), key="k-r").status, 429,
      "queue: used by the next completion of its key")
m.script("k-r", {"match": "/v1/models", "status": 503})
is_eq(get(m, "/v1/models", key="k-r").status, 503,
      "queue: match /v1/models scripts the models endpoint")

m.script("k-q", {"status": 402})
r = post(m, "/v1/chat/completions", chat(), key="k-q")
is_eq(r.status, 402, "402: status")
like(r.json()["error"]["message"].lower(), r"quota|billing|credit",
     "402: quota/billing wording (openai)")
m.script("k-q", {"status": 402})
r = post(m, "/v1/messages", msgs(), key="k-q")
is_eq((r.status, r.json()["type"], r.json()["error"]["type"]),
      (402, "error", "billing_error"), "402: anthropic envelope")
like(r.json()["error"]["message"].lower(), r"credit|billing|quota",
     "402: quota/billing wording (anthropic)")
m.script("k-q", {"status": 401}, {"status": 401}, {"status": 500},
         {"status": 500}, {"status": 429})
r = post(m, "/v1/chat/completions", chat(), key="k-q")
is_eq((r.status, r.json()["error"]["code"]), (401, "invalid_api_key"),
      "401: openai")
r = post(m, "/v1/messages", msgs(), key="k-q")
is_eq((r.status, r.json()["error"]["type"]), (401, "authentication_error"),
      "401: anthropic")
r = post(m, "/v1/chat/completions", chat(), key="k-q")
is_eq((r.status, r.json()["error"]["type"]), (500, "server_error"),
      "500: openai")
r = post(m, "/v1/messages", msgs(), key="k-q")
is_eq((r.status, r.json()["error"]["type"]), (500, "api_error"),
      "500: anthropic")
r = post(m, "/v1/messages", msgs(stream=True), key="k-q")
is_eq((r.status, r.json()["error"]["type"]), (429, "rate_limit_error"),
      "429 on a stream request: a JSON error, not SSE")
m.script("k-q", {"status": 400, "body": "not json at all",
                 "content_type": "text/plain"})
r = post(m, "/v1/chat/completions", chat(), key="k-q")
is_eq((r.status, r.body, r.headers.get("Content-Type")),
      (400, b"not json at all", "text/plain"), "scripted raw body")

m.script("*", {"status": 500})
m.script("k-own", {"status": 418})
is_eq(post(m, "/v1/chat/completions", chat(), key="k-own").status, 418,
      "star: a key's own queue comes first")
is_eq(post(m, "/v1/chat/completions", chat(), key="k-any").status, 500,
      "star: then the \"*\" queue, for any key")
is_eq(post(m, "/v1/chat/completions", chat(), key="k-any").status, 200,
      "star: consumed once")
m.set_default("k-d", {"status": 429, "headers": {"Retry-After": "1"}})
m.set_default("*", {"status": 503})
st = [post(m, "/v1/chat/completions", chat(), key="k-d").status
      for _ in range(3)]
is_eq(st, [429, 429, 429], "default: a key's default applies every time")
is_eq(post(m, "/v1/chat/completions", chat(), key="k-x").status, 503,
      "default: the \"*\" default for other keys")
m.set_default("k-d", None)
m.set_default("*", None)
is_eq(post(m, "/v1/chat/completions", chat(), key="k-d").status, 200,
      "default: cleared")

try:
    m.script("k", {"stauts": 429})
    ok(False, "a misspelled behaviour key is refused")
except ValueError as e:
    like(str(e), r"stauts", "a misspelled behaviour key is refused")

# --- reset, delay, events, cut ----------------------------------------------
m.script("k-reset", {"reset": True})
err = None
try:
    post(m, "/v1/chat/completions", chat(), key="k-reset")
except (OSError, http.client.HTTPException) as e:
    err = e
ok(isinstance(err, ConnectionResetError),
   "reset: the client sees a connection reset", "  got: %r" % (err,))
rec = last_rec(m, "k-reset")
is_eq((rec.get("reset"), rec.get("body", {}).get("model")), (True, "m1"),
      "reset: recorded with its request body")
is_eq(post(m, "/v1/chat/completions", chat(), key="k-reset").status, 200,
      "reset: the next request is served")

m.script("k-slow", {"delay_ms": 400}, {"delay_ms": 300})
t0 = time.monotonic()
r = post(m, "/v1/chat/completions", chat(), key="k-slow")
cmp_ok(time.monotonic() - t0, ">=", 0.38, "delay_ms: JSON answer delayed")
t0 = time.monotonic()
s = qp.Stream(m.port, "/v1/chat/completions", chat(True), key="k-slow")
cmp_ok(s.t_headers - t0, ">=", 0.28, "delay_ms: stream headers delayed")
s.read_all()

m.script("k-ev", {"events": 5, "interval_ms": 100})
s = qp.Stream(m.port, "/v1/chat/completions", chat(True), key="k-ev")
s.read_all()
sent = last_rec(m, "k-ev")["event_mono"]
is_eq(len(sent), 8, "events: role + 5 deltas + finish + [DONE], "
      "each written on its own")
span = s.chunks[-1][0] - s.chunks[0][0]
cmp_ok(span, ">=", 0.6, "interval_ms: events spread over time")
# The mock's own write times: the client's reads may bunch up under load.
gaps = [b - a for a, b in zip(sent, sent[1:])]
cmp_ok(min(gaps or [0]), ">=", 0.095, "interval_ms: each gap at least the "
       "interval")
cs = data_json(qp.parse_sse(s.body))
is_eq("".join(c["choices"][0]["delta"].get("content") or "" for c in cs),
      "hello world hello world hello", "events: deterministic words")
rec = last_rec(m, "k-ev")
is_eq((rec["events_sent"], rec["events_total"], rec["completed"],
       rec["client_closed"]), (8, 8, True, False),
      "events: record of a complete stream")

m.script("k-cut", {"events": 5, "cut_after": 3})
s = qp.Stream(m.port, "/v1/chat/completions", chat(True, True), key="k-cut")
body = s.read_all()
is_eq(len(qp.parse_sse(body)), 3, "cut_after: exactly 3 events arrive")
ok(b"[DONE]" not in body, "cut_after: no [DONE]")
ok(isinstance(s.error, http.client.IncompleteRead),
   "cut_after: the chunked body ends incomplete", "  got: %r" % (s.error,))
rec = last_rec(m, "k-cut")
is_eq((rec["cut"], rec["completed"], rec["events_sent"]), (True, False, 3),
      "cut_after: recorded as cut")
m.script("k-cut", {"cut_after": 2, "chunked": False})
s = qp.Stream(m.port, "/v1/messages", msgs(True), key="k-cut")
evs = qp.parse_sse(s.read_all())
is_eq([e for e, _ in evs], ["message_start", "content_block_start"],
      "cut_after (close-delimited, anthropic): first 2 events only")
is_eq(s.error, None, "cut_after (close-delimited): a plain EOF")
ok(s.headers.get("Transfer-Encoding") is None,
   "cut_after (close-delimited): not chunked")

# --- records ----------------------------------------------------------------
m.reset()
is_eq(m.requests(), [], "reset clears the records")
post(m, "/v1/chat/completions", chat(temperature=0.5), key="k-rec",
     headers={"X-Custom-Thing": "v1", "Anthropic-Version": "2023-06-01"})
post(m, "/v1/messages", msgs(), key="k-rec2", auth="x-api-key")
post(m, "/v1/chat/completions", "{not json", key="k-rec3")
get(m, "/v1/models?x=1", key=None)
recs = m.requests()
is_eq([(r["method"], r["path"], r["key"]) for r in recs],
      [("POST", "/v1/chat/completions", "k-rec"),
       ("POST", "/v1/messages", "k-rec2"),
       ("POST", "/v1/chat/completions", "k-rec3"),
       ("GET", "/v1/models", None)], "records: method, path, key in order")
h = recs[0]["headers"]
is_eq((h.get("x-custom-thing"), h.get("anthropic-version"),
       h.get("authorization")), ("v1", "2023-06-01", "Bearer k-rec"),
      "records: headers with lowercased names")
ok(all(k == k.lower() for r in recs for k in r["headers"]),
   "records: every header name lowercased")
is_eq(recs[0]["body"], chat(temperature=0.5), "records: JSON body parsed")
is_eq(recs[1]["headers"].get("x-api-key"), "k-rec2",
      "records: x-api-key header kept")
is_eq(recs[2]["body"], "{not json", "records: a non-JSON body as text")
is_eq(recs[3]["query"], "x=1", "records: query string")
ok(all(a["time"] <= b["time"] and a["seq"] < b["seq"]
       for a, b in zip(recs, recs[1:])), "records: time and seq ordered")
cmp_ok(abs(recs[0]["time"] - time.time()), "<", 30,
       "records: time is the epoch time")
is_eq(m.requests(key="k-rec2")[0]["path"], "/v1/messages",
      "records: filter by key")

# --- disconnect detection ---------------------------------------------------
m.script("k-dc", {"events": 50, "interval_ms": 100})
s = qp.Stream(m.port, "/v1/chat/completions", chat(True), key="k-dc")
it = iter(s)
next(it)
t_close, t_close_wall = time.monotonic(), time.time()
s.close()
rec = m.wait_for(lambda rs: [r for r in rs if r["key"] == "k-dc" and
                             r["finished"]], 5)
rec = rec[0] if rec else {}
is_eq((rec.get("client_closed"), rec.get("completed")), (True, False),
      "disconnect: the client closing mid-stream is recorded")
cmp_ok(rec.get("client_closed_mono", 1e9) - t_close, "<", 3.0,
       "disconnect: noticed within 3 s (5 s of events left)")
cmp_ok(rec.get("client_closed_at", 0), ">=", t_close_wall - 0.05,
       "disconnect: client_closed_at is when it happened")
cmp_ok(rec.get("events_sent", 99), "<", rec.get("events_total", 0),
       "disconnect: the mock stopped writing")

m.script("k-dc2", {"delay_ms": 5000})
t0 = time.monotonic()
sk = socket.create_connection(("127.0.0.1", m.port), timeout=5)
b = json.dumps(chat()).encode()
sk.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer k-dc2\r\nContent-Type: application/json"
           b"\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b))
m.wait_requests(1, timeout=5, key="k-dc2")
sk.close()
rec = m.wait_for(lambda rs: [r for r in rs if r["key"] == "k-dc2" and
                             r["finished"]], 5)
rec = rec[0] if rec else {}
ok(rec.get("client_closed") is True and
   rec.get("client_closed_mono", 1e9) - t0 < 2,
   "disconnect: a client leaving during delay_ms is noticed at once",
   "  record: %r" % (rec,))

m.script("k-dc3", {"first_event_delay_ms": 5000})
s = qp.Stream(m.port, "/v1/messages", msgs(True), key="k-dc3")
is_eq(s.status, 200, "first_event_delay_ms: headers come first")
s.close()
rec = m.wait_for(lambda rs: [r for r in rs if r["key"] == "k-dc3" and
                             r["finished"]], 5)
rec = rec[0] if rec else {}
is_eq((rec.get("client_closed"), rec.get("events_sent")), (True, 0),
      "disconnect: noticed while waiting for the first event")

# --- transport details ------------------------------------------------------
c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=10)
st = []
for _ in range(3):
    c.request("POST", "/v1/chat/completions", json.dumps(chat()),
              {"Authorization": "Bearer k-ka"})
    rr = c.getresponse()
    rr.read()
    st.append(rr.status)
c.request("POST", "/v1/chat/completions", iter([b'{"model":', b'"m9"}']),
          {"Authorization": "Bearer k-ch", "Transfer-Encoding": "chunked"},
          encode_chunked=True)
rr = c.getresponse()
rr.read()
c.close()
is_eq(st, [200, 200, 200], "keep-alive: three requests on one connection")
is_eq((rr.status, m.requests(key="k-ch")[0]["body"]), (200, {"model": "m9"}),
      "a chunked request body is read")
b = json.dumps(chat()).encode()
out = raw_http(m.port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
               b"Connection: close\r\nExpect: 100-continue\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(b), b))
ok(out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 "),
   "Expect: 100-continue is honoured", "  got: %r" % out[:120])
r = get(m, "/v2/nothing")
is_eq((r.status, "error" in r.json()), (404, True), "unknown path: 404 JSON")

mk = qp.mock(models=["m1"], valid_keys=["good"])
is_eq([post(mk, "/v1/chat/completions", chat(), key=k).status
       for k in ("good", "bad", None)], [200, 401, 401],
      "valid_keys: unknown or missing keys get 401")

# --- control API over HTTP --------------------------------------------------
cl = qp.MockClient(m.url)
m.reset(scripts=True)
cl.script("k-h", {"status": 429, "headers": {"Retry-After": "3"}})
cl.set_default("k-h", {"status": 402})
cl.set_models(["x1"])
r = post(m, "/v1/chat/completions", chat(), key="k-h")
is_eq((r.status, r.headers.get("Retry-After")), (429, "3"),
      "control: scripted queue over HTTP")
is_eq(post(m, "/v1/chat/completions", chat(), key="k-h").status, 402,
      "control: default over HTTP")
is_eq([d["id"] for d in get(m, "/v1/models").json()["data"]], ["x1"],
      "control: models over HTTP")
log = cl.requests(key="k-h")
is_eq([x["status"] for x in log], [429, 402], "control: GET /_mock/log")
ok(not any(x["path"].startswith("/_mock/") for x in cl.requests()),
   "control: control calls are not recorded")
r = qp.http_request(m.port, "POST", "/_mock/script",
                    {"key": "k", "queue": [{"statuss": 1}]})
is_eq(r.status, 400, "control: a bad behaviour is a 400")
like(r.json()["error"]["message"], r"statuss", "control: 400 names the key")
cl.reset()
is_eq(cl.requests(), [], "control: POST /_mock/reset clears the records")
cl.reset(scripts=True)
is_eq(post(m, "/v1/chat/completions", chat(), key="k-h").status, 200,
      "control: reset with scripts clears the scripts")

# --- program mode -----------------------------------------------------------
mp = qp.MockProcess(style="anthropic", models=["c1"])
cmp_ok(mp.port, ">", 0, "program: printed PORT N")
r = qp.http_request(mp.port, "GET", "/v1/models", key="k-p")
is_eq((r.status, r.json()["data"][0]["type"], r.json()["first_id"]),
      (200, "model", "c1"), "program: anthropic-style models")
mp.script("k-p", {"status": 429, "headers": {"Retry-After": "9"}})
r = qp.http_request(mp.port, "POST", "/v1/messages", msgs(), key="k-p")
is_eq((r.status, r.json()["error"]["type"], r.headers.get("Retry-After")),
      (429, "rate_limit_error", "9"), "program: scripted over HTTP")
s = qp.Stream(mp.port, "/v1/messages", msgs(True), key="k-p")
is_eq(qp.parse_sse(s.read_all())[-1][0], "message_stop",
      "program: streams")
is_eq(len(mp.requests()), 3, "program: records")
t0 = time.monotonic()
rc = mp.stop()
is_eq(rc, 0, "program: SIGTERM -> exit 0")
cmp_ok(time.monotonic() - t0, "<", 5, "program: stops within 5 s")
ok(qp.proc_stat(mp.pid) is None or qp.proc_stat(mp.pid)[3] == "Z",
   "program: process gone")

# --- harness pieces that need no gateway -----------------------------------
inst = qp.Instance(providers={"p1": {
    "mock": m, "protocols": ["openai", "anthropic"], "models": ["m1"],
    "routing_priority": 2, "accounts": ["a1", {"name": "a2",
                                               "api_key": 'q"\\x'}]}},
    server={"threads": 4}, sections={"routing": {"max_attempts": 3}},
    extra_toml="[dashboard]\npublic = true\n")
try:
    doc = tomllib.loads(open(inst.config_path).read())
    parsed = True
except (tomllib.TOMLDecodeError, OSError) as e:
    doc, parsed = {}, False
    qp.diag(str(e))
ok(parsed, "harness: config.toml is valid TOML")
is_eq(doc.get("server"), {"port": inst.port, "state_dir": inst.state_dir,
                          "threads": 4}, "harness: [server]")
is_eq(doc.get("database"), {"path": inst.db_path}, "harness: [database]")
is_eq(doc.get("providers"), {"p1": {
    "base_url": m.base_url, "protocols": ["openai", "anthropic"],
    "models": ["m1"], "routing_priority": 2,
    "accounts": [{"name": "a1", "api_key": "k-a1"},
                 {"name": "a2", "api_key": 'q"\\x'}]}},
    "harness: providers and accounts")
is_eq((doc.get("routing"), doc.get("dashboard")),
      ({"max_attempts": 3}, {"public": True}),
      "harness: extra sections and raw TOML")
is_eq(os.stat(inst.config_path).st_mode & 0o777, 0o600,
      "harness: config.toml mode 0600")
is_eq(qp.parse_sse(b": comment\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n\r\n"
                   b"data: x\n\n"), [("a", "1\n2"), (None, "x")],
      "harness: parse_sse")
t0 = time.monotonic()
res = qp.run(["sh", "-c", "sleep 30 & sleep 30; wait"], timeout=0.5)
ok(res.timed_out and time.monotonic() - t0 < 5,
   "harness: run() is bounded", repr(res))
time.sleep(0.1)
is_eq(qp.group_members(res.pid), [],
      "harness: run() kills the whole tree on timeout")
p0 = qp.free_port()
cmp_ok(p0, ">", 1024, "harness: free_port")

# The log check every instance gets at stop: sanitizer reports and restarts.
errp = os.path.join(inst.dir, "serve.err")
with open(errp, "w") as f:
    f.write("2026-01-01T00:00:00.000Z quotapool[41]: info: quotapool 0.1.0 "
            "serving\n2026-01-01T00:00:01.000Z quotapool[41]: warning: "
            "runtime of the refresh: 2 s\n")
is_eq(inst.log_findings(), ([], ["41"], 0),
      "harness: clean logs: one process, no report, no restart")
os.makedirs(os.path.join(inst.dir, "state"), exist_ok=True)
with open(os.path.join(inst.dir, "state", "error.log"), "w") as f:
    f.write("2026-01-01 00:00:02: (gw_backend.c.369) child signalled: 6\n")
with open(errp, "a") as f:
    f.write("../fcgi/maint.c:505:68: runtime error: signed integer overflow\n"
            "2026-01-01T00:00:03.000Z quotapool[57]: info: quotapool 0.1.0 "
            "serving\n")
rep, pids, restarts = inst.log_findings()
ok(len(rep) == 1 and "runtime error: signed integer overflow" in rep[0],
   "harness: a UBSan report in serve.err is found", repr(rep))
is_eq((pids, restarts), (["41", "57"], 1),
      "harness: a second process and lighttpd's child-death line are one "
      "restart")
with open(errp, "a") as f:
    f.write("==57==ERROR: LeakSanitizer: detected memory leaks\n")
ok(any("LeakSanitizer" in r for r in inst.log_findings()[0]),
   "harness: a LeakSanitizer report too")
is_eq(qp.sanitizer_lines("quotapool[1]: error: database is locked\n"), [],
      "harness: an ordinary error line is no report")

qp.done()
