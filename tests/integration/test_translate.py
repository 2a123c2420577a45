#!/usr/bin/env python3
"""test_translate.py: clients on providers of the other family, through
lighttpd + quotapool.fcgi against mock providers: an Anthropic Messages
client on an OpenAI-chat-only provider (messages>chat) and an OpenAI chat
client on an Anthropic-only provider (chat>messages), JSON and streamed.

For each direction and stream mode: text, a tool-use round trip with two
parallel calls (the provider's call ids back in the follow-up), tool
arguments streamed in fragments, stop reasons, the usage the client sees
and the request row's (equal to what the mock sent), the provider's errors
and mid-stream error events in the client's family, and a client that
hangs up mid-stream aborting the upstream transfer. Then: a provider that
speaks the client's protocol is preferred in a tier and a translated one
takes over when it fails, [translation] loss_policy "warn" (translated,
logged, counted on the dashboard) and "reject" (400 before any upstream
call)."""

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
qp.set_timeout(300)

mo = qp.mock(models=["gpt-x"])
ma = qp.mock(style="anthropic", models=["claude-x"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-x", "shared"],
           "accounts": ["o1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"],
           "models": ["claude-x", "shared"], "accounts": ["a1"]},
})
dp.start(inst)

USAGE = {"prompt": 120, "completion": 7, "cache_read": 40, "cache_write": 5,
         "reasoning": 3}
COLS = ("input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "reasoning_tokens")
CALLS = [{"name": "get_weather", "input": {"city": "Paris", "days": 3}},
         {"name": "get_time", "input": {"tz": "Europe/Paris"}}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}

# One row per direction: the client's family and path, the model (served
# only by the other family), the mock behind it, the translation's name,
# the upstream path, the row's usage (OpenAI's prompt counts the cached
# tokens, Anthropic's input does not) and the client's usage.
DIRS = [
    {"name": "messages>chat", "fam": "anthropic", "path": ANTHROPIC,
     "model": "gpt-x", "mock": mo, "up": OPENAI,
     "row": (75, 7, 40, 5, 3),
     "usage": {"input_tokens": 75, "output_tokens": 7,
               "cache_read_input_tokens": 40,
               "cache_creation_input_tokens": 5},
     "length": ("length", "max_tokens")},
    {"name": "chat>messages", "fam": "openai", "path": OPENAI,
     "model": "claude-x", "mock": ma, "up": ANTHROPIC,
     "row": (120, 7, 40, 5, 0),
     "usage": {"prompt_tokens": 165, "completion_tokens": 7,
               "cached_tokens": 40},
     "length": ("max_tokens", "length")},
]


def body_of(d, text="hi", stream=False, **extra):
    if d["fam"] == "anthropic":
        return dp.messages(d["model"], text, stream=stream, max_tokens=200,
                           **extra)
    return dp.chat(d["model"], text, stream=stream, **extra)


def tools_of(d):
    if d["fam"] == "anthropic":
        return [{"name": c["name"], "description": "d", "input_schema": SCHEMA}
                for c in CALLS]
    return [{"type": "function", "function": {
        "name": c["name"], "description": "d", "parameters": SCHEMA}}
        for c in CALLS]


def send(d, body, stream):
    """(status, headers, raw body, uid) of one request."""
    if stream:
        with inst.stream(d["path"], body) as s:
            raw = s.read_all()
            return s.status, s.headers, raw, dp.uid_of(s)
    r = inst.request("POST", d["path"], body)
    return r.status, r.headers, r.body, dp.uid_of(r)


def parse(d, stream, raw):
    """What the client got, in its own terms: {text, calls [(id, name,
    args, fragments)], stop, usage, errors}."""
    out = {"text": "", "calls": [], "stop": None, "usage": {}, "errors": []}
    if not stream:
        j = json.loads(raw)
        if d["fam"] == "anthropic":
            for b in j.get("content") or []:
                if b.get("type") == "text":
                    out["text"] += b["text"]
                elif b.get("type") == "tool_use":
                    out["calls"].append((b["id"], b["name"], b["input"], 1))
            out["stop"] = j.get("stop_reason")
            out["usage"] = j.get("usage") or {}
        else:
            m = j["choices"][0]["message"]
            out["text"] = m.get("content") or ""
            for t in m.get("tool_calls") or []:
                fn = t["function"]
                out["calls"].append((t["id"], fn["name"],
                                     json.loads(fn["arguments"]), 1))
            out["stop"] = j["choices"][0]["finish_reason"]
            u = j.get("usage") or {}
            out["usage"] = dict(u, cached_tokens=(
                u.get("prompt_tokens_details") or {}).get("cached_tokens"))
        return out
    evs = dp.sse_json(raw)
    if d["fam"] == "anthropic":
        blocks = {}
        for name, e in evs:
            if not isinstance(e, dict):
                continue
            if name == "error":
                out["errors"].append(e)
            elif name == "content_block_start" and \
                    e["content_block"]["type"] == "tool_use":
                cb = e["content_block"]
                blocks[e["index"]] = [cb["id"], cb["name"], "", 0]
            elif name == "content_block_delta":
                if e["delta"]["type"] == "text_delta":
                    out["text"] += e["delta"]["text"]
                elif e["delta"]["type"] == "input_json_delta" and \
                        e["delta"]["partial_json"]:
                    blocks[e["index"]][2] += e["delta"]["partial_json"]
                    blocks[e["index"]][3] += 1
            elif name == "message_delta":
                out["stop"] = e["delta"].get("stop_reason")
                out["usage"].update(e.get("usage") or {})
            elif name == "message_start":
                out["usage"].update(e["message"].get("usage") or {})
        for i in sorted(blocks):
            b = blocks[i]
            out["calls"].append((b[0], b[1], json.loads(b[2] or "{}"), b[3]))
        return out
    calls = {}
    for _, e in evs:
        if not isinstance(e, dict):
            continue
        if "error" in e:
            out["errors"].append(e)
            continue
        if e.get("usage"):
            u = e["usage"]
            out["usage"] = dict(u, cached_tokens=(
                u.get("prompt_tokens_details") or {}).get("cached_tokens"))
        for c in e.get("choices") or []:
            delta = c.get("delta") or {}
            out["text"] += delta.get("content") or ""
            for t in delta.get("tool_calls") or []:
                k = calls.setdefault(t["index"], [None, None, "", 0])
                k[0] = t.get("id") or k[0]
                fn = t.get("function") or {}
                k[1] = fn.get("name") or k[1]
                if fn.get("arguments"):
                    k[2] += fn["arguments"]
                    k[3] += 1
            if c.get("finish_reason"):
                out["stop"] = c["finish_reason"]
    for i in sorted(calls):
        k = calls[i]
        out["calls"].append((k[0], k[1], json.loads(k[2] or "{}"), k[3]))
    return out


def follow_up(d, first, calls, stream):
    """The client's next request: its tool calls and their results."""
    if d["fam"] == "anthropic":
        msgs = first["messages"] + [
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": cid, "name": n, "input": a}
                for cid, n, a, _ in calls]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": cid,
                 "content": "result-%d" % i}
                for i, (cid, _, _, _) in enumerate(calls)]}]
    else:
        msgs = first["messages"] + [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": cid, "type": "function", "function": {
                    "name": n, "arguments": json.dumps(a)}}
                for cid, n, a, _ in calls]}] + [
            {"role": "tool", "tool_call_id": cid, "content": "result-%d" % i}
            for i, (cid, _, _, _) in enumerate(calls)]
    return dict(first, messages=msgs, stream=stream)


def upstream_results(d, rec):
    """(call id, result text) the provider got back, in its own terms."""
    out = []
    for m in rec["body"].get("messages") or []:
        if d["up"] == OPENAI and m.get("role") == "tool":
            c = m.get("content")
            out.append((m.get("tool_call_id"), c if isinstance(c, str) else
                        "".join(p.get("text", "") for p in c)))
        if d["up"] == ANTHROPIC and isinstance(m.get("content"), list):
            for b in m["content"]:
                if b.get("type") == "tool_result":
                    c = b.get("content")
                    out.append((b.get("tool_use_id"), c if isinstance(c, str)
                                else "".join(p.get("text", "") for p in c)))
    return out


def upstream_calls(d, rec):
    """Names of the tools the provider was offered."""
    names = []
    for t in rec["body"].get("tools") or []:
        names.append(t.get("name") or (t.get("function") or {}).get("name"))
    return names


# ---- each direction, JSON and streamed -------------------------------------

for d in DIRS:
    mock, fam = d["mock"], d["fam"]
    for stream in (False, True):
        tag = "%s %s" % (d["name"], "stream" if stream else "JSON")

        # Text, usage and the row.
        mock.reset()
        mock.script("*", {"text": "Translated answer here.", "usage": USAGE})
        extra = {"stream_options": {"include_usage": True}} \
            if stream and fam == "openai" else {}
        st, hdrs, raw, uid = send(d, body_of(d, "say something",
                                             stream=stream, **extra), stream)
        is_eq(st, 200, "%s: 200" % tag)
        like(hdrs.get("Content-Type", ""), r"^text/event-stream" if stream else
             r"^application/json",
             "%s: Content-Type of the client's API" % tag)
        got = parse(d, stream, raw)
        is_eq(got["text"], "Translated answer here.",
              "%s: the provider's text in the client's shape" % tag)
        is_eq(got["stop"], "end_turn" if fam == "anthropic" else "stop",
              "%s: stop reason mapped" % tag)
        is_eq({k: got["usage"].get(k) for k in d["usage"]}, d["usage"],
              "%s: usage in the client's terms" % tag)
        if stream and fam == "anthropic":
            ok(b"event: message_stop" in raw and b"[DONE]" not in raw,
               "%s: ends with message_stop, no [DONE]" % tag)
        elif stream:
            ok(raw.rstrip().endswith(b"data: [DONE]") and
               b"message_stop" not in raw, "%s: ends with [DONE]" % tag)
        recs = mock.requests(path=d["up"])
        ok(len(recs) == 1 and isinstance(recs[0]["body"], dict) and
           recs[0]["body"].get("model") == d["model"],
           "%s: the provider got one request on %s" % (tag, d["up"]),
           lambda: "  %r" % [(r["path"], r["body"]) for r in mock.requests()])
        if recs:
            b, h = recs[0]["body"], recs[0]["headers"]
            if d["up"] == OPENAI:
                ok(b["messages"][-1] == {"role": "user",
                                         "content": "say something"} and
                   "max_tokens" in b or "max_completion_tokens" in b,
                   "%s: a chat body" % tag, lambda: "  %r" % b)
                ok("anthropic-version" not in h and "x-api-key" not in h,
                   "%s: no Anthropic headers to an OpenAI provider" % tag,
                   lambda: "  %r" % h)
                is_eq(b.get("stream_options") if stream else None,
                      {"include_usage": True} if stream else None,
                      "%s: the provider is asked for its usage" % tag)
            else:
                ok(isinstance(b.get("max_tokens"), int) and
                   b["messages"][-1]["role"] == "user",
                   "%s: a Messages body with max_tokens" % tag,
                   lambda: "  %r" % b)
                ok(h.get("anthropic-version") and h.get("x-api-key") == "k-a1",
                   "%s: anthropic-version and x-api-key sent" % tag)
        row = dp.wait_row(inst, uid) or {}
        is_eq(tuple(row.get(c) for c in COLS), d["row"],
              "%s: the row's tokens are what the provider reported" % tag)
        is_eq((row.get("status"), row.get("translation"),
               row.get("translation_warnings"), row.get("protocol"),
               row.get("endpoint"), row.get("streamed"),
               row.get("stream_complete")),
              ("completed", d["name"], 0, fam, d["path"], int(stream),
               1 if stream else None),
              "%s: row completed, translation %s, client's protocol" %
              (tag, d["name"]))
        is_eq(row.get("finish_reason"),
              "stop" if d["up"] == OPENAI else "end_turn",
              "%s: the row keeps the provider's own stop reason" % tag)
        ok(isinstance(row.get("ttft_ms"), int) and row["ttft_ms"] >= 0,
           "%s: time to first token recorded" % tag)

        # A tool-use round trip with two parallel calls.
        mock.reset()
        mock.set_default("*", {"tool_calls": CALLS, "usage": USAGE,
                               "text": "Both done."})
        first = body_of(d, "weather and time?", stream=stream,
                        tools=tools_of(d))
        st, _, raw, uid = send(d, first, stream)
        got = parse(d, stream, raw)
        is_eq([(n, a) for _, n, a, _ in got["calls"]],
              [(c["name"], c["input"]) for c in CALLS],
              "%s: two parallel tool calls reach the client" % tag)
        is_eq(got["stop"], "tool_use" if fam == "anthropic" else "tool_calls",
              "%s: stop reason of a tool call" % tag)
        if stream and fam == "openai":
            is_eq(got["usage"], {}, "%s: no usage chunk when the client did "
                  "not ask for one" % tag)
        if stream:
            ok(got["calls"] and all(f >= 2 for _, _, _, f in got["calls"]),
               "%s: each call's arguments streamed in fragments (%r)" %
               (tag, [f for _, _, _, f in got["calls"]]))
        recs = mock.requests(path=d["up"])
        is_eq(upstream_calls(d, recs[0]) if recs else None,
              [c["name"] for c in CALLS],
              "%s: the provider was offered both tools" % tag)
        ids = [cid for cid, _, _, _ in got["calls"]]
        ok(len(ids) == 2 and len(set(ids)) == 2 and all(ids),
           "%s: the calls have distinct ids (%r)" % (tag, ids))
        st, _, raw, uid2 = send(d, follow_up(d, first, got["calls"], stream),
                                stream)
        fin = parse(d, stream, raw)
        is_eq((st, fin["text"], fin["calls"]), (200, "Both done.", []),
              "%s: after the results, the provider's answer" % tag)
        recs = mock.requests(path=d["up"])
        is_eq(upstream_results(d, recs[-1]) if len(recs) == 2 else None,
              [(ids[0], "result-0"), (ids[1], "result-1")] if len(ids) == 2
              else None,
              "%s: the provider got both results under its call ids" % tag,
              )
        rows = [dp.wait_row(inst, u) or {} for u in (uid, uid2)]
        is_eq([(r.get("status"), r.get("finish_reason"),
                r.get("translation")) for r in rows],
              [("completed", "tool_calls" if d["up"] == OPENAI else
                "tool_use", d["name"]),
               ("completed", "stop" if d["up"] == OPENAI else "end_turn",
                d["name"])],
              "%s: both rows completed, with the provider's stop reasons"
              % tag)
        mock.set_default("*", None)

        # A stop for length.
        mock.reset()
        mock.script("*", {"stop_reason": d["length"][0]})
        st, _, raw, uid = send(d, body_of(d, stream=stream), stream)
        is_eq(parse(d, stream, raw)["stop"], d["length"][1],
              "%s: %s becomes %s" % (tag, d["length"][0], d["length"][1]))

        # The provider's 400, in the client's family.
        mock.reset()
        mock.script("*", {"status": 400})
        r = inst.request("POST", d["path"], body_of(d, stream=stream))
        is_eq(r.status, 400, "%s: the provider's 400 is the client's" % tag)
        e = dp.error_shape(r, fam, "%s: provider 400" % tag)
        is_eq(e.get("message"), "invalid request",
              "%s: with the provider's message" % tag)
        row = dp.wait_row(inst, dp.uid_of(r)) or {}
        is_eq((row.get("status"), row.get("status_code"),
               row.get("translation")), ("client_error", 400, d["name"]),
              "%s: row client_error 400, translated" % tag)

        if not stream:
            continue

        # An error event mid-stream, in the client's family.
        mock.reset()
        mock.script("*", {"events": 4, "error_after": 3})
        st, _, raw, uid = send(d, body_of(d, stream=True), True)
        got = parse(d, True, raw)
        errs = got["errors"]
        ok(st == 200 and len(errs) == 1 and isinstance(errs[0].get("error"),
                                                        dict) and
           (errs[0].get("type") == "error" if fam == "anthropic" else True),
           "%s: the provider's error event reaches the client in its "
           "family" % tag, lambda: "  %r" % raw[-400:])
        row = dp.wait_row(inst, uid) or {}
        is_eq((row.get("status"), row.get("stream_complete")), ("error", 0),
              "%s: row error, stream incomplete" % tag)

        # The client hangs up: the upstream transfer ends at once.
        mock.reset()
        mock.script("*", {"events": 60, "interval_ms": 200,
                          "usage": {"prompt": 55, "cache_read": 11}})
        s = inst.stream(d["path"], body_of(d, stream=True), timeout=20)
        uid = dp.uid_of(s)
        n = 0
        deadline = time.monotonic() + 10
        for _, chunk in s:
            n += chunk.count(b"\n\n")
            if n >= 4 or time.monotonic() > deadline:
                break
        t_close = time.monotonic()
        s.close()
        rec = mock.wait_for(lambda recs: [x for x in recs if x["path"] ==
                                          d["up"] and x["client_closed"]],
                            timeout=5)
        ok(rec, "%s disconnect: the provider's connection closed within 5 s"
           % tag)
        if rec:
            cmp_ok(rec[0]["events_sent"], "<", rec[0]["events_total"],
                   "%s disconnect: the provider did not have to finish "
                   "(%d of %d events, %.0f ms after the client left)" % (
                       tag, rec[0]["events_sent"], rec[0]["events_total"],
                       (rec[0]["client_closed_mono"] - t_close) * 1000))
        else:
            qp.skip("no mock record", 1)
        row = dp.wait_row(inst, uid, timeout=5) or {}
        is_eq((row.get("status"), row.get("translation"),
               row.get("stream_complete")),
              ("client_disconnected", d["name"], 0),
              "%s disconnect: row client_disconnected, translated" % tag)

# ---- the native provider first, a translated one when it fails -------------

mo.reset()
ma.reset()
r = inst.request("POST", ANTHROPIC, dp.messages("shared"))
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((r.status, row.get("provider_id"), row.get("translation")),
      (200, "pa", None),
      "a model both families serve: the Anthropic client gets the Anthropic "
      "provider (prefer the client's protocol in a tier)")
r = inst.request("POST", OPENAI, dp.chat("shared"))
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((r.status, row.get("provider_id"), row.get("translation")),
      (200, "po", None), "and the OpenAI client the OpenAI provider")
ma.script("k-a1", {"status": 503})
r = inst.request("POST", ANTHROPIC, dp.messages("shared"))
row = dp.wait_row(inst, dp.uid_of(r)) or {}
j = r.try_json() or {}
is_eq((r.status, j.get("type"), row.get("attempt_count"),
       row.get("provider_id"), row.get("translation")),
      (200, "message", 2, "po", "messages>chat"),
      "the native provider failing, the translated one answers (failover "
      "across families)")

# ---- loss_policy warn: translated, logged, counted --------------------------

mo.reset()
ma.reset()
r = inst.request("POST", OPENAI, dp.chat("claude-x", "lossy-prompt-marker",
                                         logprobs=True, n=1))
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((r.status, row.get("translation")), (200, "chat>messages"),
      "loss_policy warn: a request with logprobs is translated")
cmp_ok(row.get("translation_warnings") or 0, ">=", 1,
       "loss_policy warn: the row counts what was left out")
log = ""
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    try:
        with open(os.path.join(inst.dir, "serve.err")) as f:
            log = f.read()
    except OSError:
        log = ""
    if "logprobs dropped" in log:
        break
    time.sleep(0.1)
line = [x for x in log.splitlines() if "logprobs dropped" in x]
ok(line and row.get("request_uid", "?") in line[0] and
   "chat>messages" in line[0] and "warning" in line[0],
   "loss_policy warn: one warning line names the request and what was "
   "dropped", lambda: "  %r" % line)
ok("lossy-prompt-marker" not in log and "k-a1" not in log,
   "the log holds neither the prompt nor the account's key")
admin_key = inst.new_key("xl-admin", admin_role=True)
r = inst.request("GET", "/api/stats/summary", key=admin_key)
j = r.try_json() or {}
n_xl = dp.query(inst, "SELECT count(*) AS n FROM requests WHERE translation "
                "IS NOT NULL")[0]["n"]
n_loss = dp.query(inst, "SELECT count(*) AS n FROM requests WHERE "
                  "translation_warnings > 0")[0]["n"]
is_eq((r.status, j.get("translated_requests"),
       j.get("translated_with_losses")), (200, n_xl, n_loss),
      "the dashboard's summary counts translated requests (%d) and those "
      "with losses (%d)" % (n_xl, n_loss))
r = inst.request("GET", "/", key=admin_key)
ok(r.status == 200 and b"Translated" in r.body and
   b"Translation losses" in r.body, "the overview page shows them")
uid = row.get("request_uid", "x")
j = inst.request("GET", "/api/stats/recent/" + uid, key=admin_key).try_json()
t = (j or {}).get("request") or {}
is_eq((t.get("translation"), t.get("translation_warnings")),
      ("chat>messages", row.get("translation_warnings")),
      "the request's trace names its translation and losses")
r = inst.request("GET", "/traces/" + uid, key=admin_key)
ok(r.status == 200 and b"chat&gt;messages" in r.body,
   "the trace page shows the translation", lambda: "  %r" % r.body[:300])

# ---- loss_policy reject: 400 before any upstream call -----------------------

res = inst.stop()
is_eq(res.rc, 0, "instance stopped to change [translation]")
inst.sections["translation"] = {"loss_policy": "reject"}
inst.write_config()
dp.start(inst)
ma.reset()
r = inst.request("POST", OPENAI, dp.chat("claude-x", logprobs=True))
is_eq(r.status, 400, "loss_policy reject: 400")
e = dp.error_shape(r, "openai", "loss_policy reject")
like(e.get("message"), r"loss_policy.*logprobs",
     "loss_policy reject: the message names the policy and the loss")
is_eq(ma.requests(path=ANTHROPIC), [],
      "loss_policy reject: the provider got nothing")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("status"), row.get("status_code"), row.get("translation")),
      ("client_error", 400, "chat>messages"),
      "loss_policy reject: row client_error 400, translation named")
r = inst.request("POST", ANTHROPIC, dp.messages("gpt-x"))
is_eq(r.status, 200, "loss_policy reject: a request without loss is served")

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
