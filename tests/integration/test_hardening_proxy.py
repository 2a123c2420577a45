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
from dp import OPENAI  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(180)

mo = qp.mock(models=["gpt-h"])
ma = qp.mock(style="anthropic", models=["claude-h"])
inst = qp.Instance(
    providers={
        "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-h"],
               "accounts": ["ho1"]},
        "pa": {"mock": ma, "protocols": ["anthropic"],
               "models": ["claude-h"], "accounts": ["ha1"]},
    })
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

qp.done()
