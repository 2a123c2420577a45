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
from qp import is_eq, ok  # noqa: E402

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

qp.done()
