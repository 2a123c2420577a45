#!/usr/bin/env python3
"""test_context.py: context limits through lighttpd and quotapool.fcgi
against a mock provider.

The provider's model list gives "small" a context of 1000 tokens and 100
output tokens (OpenRouter's context_length and top_provider fields);
[model_overrides] give "ovr" a context of 2000 and "loose" one of 1000 with
enforce_context_limit = false. GET /v1/models carries the limits in both
shapes. A request whose bytes put it clearly over the limit gets a 400 in
its family (OpenAI chat, Anthropic messages, streamed or not) before any
upstream call, and its row is rejected; a small one is served; with
enforce_context_limit = false the same large request reaches the provider."""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

mock = qp.mock(style="openai", models=[
    {"id": "small", "object": "model", "owned_by": "mock", "context_length": 1000,
     "top_provider": {"context_length": 1000, "max_completion_tokens": 100}},
    {"id": "ovr", "object": "model", "owned_by": "mock"},
    {"id": "loose", "object": "model", "owned_by": "mock", "context_length": 1000}])
inst = qp.Instance(
    providers={"p": {"mock": mock, "protocols": ["openai", "anthropic"],
                     "accounts": ["a"]}},
    extra_toml='[model_overrides."ovr"]\nmax_context_tokens = 2000\n\n'
               '[model_overrides."loose"]\nenforce_context_limit = false\n')
dp.start(inst)

# The catalog comes from the provider's list, fetched at start.
deadline = time.monotonic() + 15
while True:
    r = inst.request("GET", "/v1/models")
    data = (r.try_json() or {}).get("data") or []
    ids = {e.get("id"): e for e in data}
    if "small/p" in ids or time.monotonic() > deadline:
        break
    time.sleep(0.1)

# ---- /v1/models carries the limits ------------------------------------------

e = ids.get("small/p") or {}
ext = e.get("quotapool") or {}
is_eq((e.get("context_length"), ext.get("max_context_tokens"), ext.get("max_output_tokens")),
      (1000, 1000, 100), "/v1/models: small/p has the list's limits")
e = ids.get("ovr/p") or {}
is_eq((e.get("context_length"), (e.get("quotapool") or {}).get("max_context_tokens")),
      (2000, 2000), "/v1/models: ovr/p has the override's context")
r = inst.request("GET", "/v1/models?limit=100", headers={"anthropic-version": "2023-06-01"})
a = {x.get("id"): x for x in (r.try_json() or {}).get("data") or []}.get("small/p") or {}
is_eq((a.get("max_input_tokens"), a.get("max_tokens")), (1000, 100),
      "/v1/models (Anthropic shape): max_input_tokens and max_tokens")
r = inst.request("GET", "/v1/models/small%2Fp")
is_eq((r.try_json() or {}).get("context_length"), 1000, "/v1/models/small%2Fp: the limit")

# ---- over the limit: 400 in the client's family, nothing sent upstream ------

BIG = "word " * 4000          # 20,000 bytes: at least 2,500 tokens by the estimate
mock.reset()
cases = [
    ("OpenAI", OPENAI, dp.chat("small/p", BIG), "openai"),
    ("OpenAI streamed", OPENAI, dp.chat("small/p", BIG, stream=True), "openai"),
    ("Anthropic", ANTHROPIC, dp.messages("small/p", BIG), "anthropic"),
    ("Anthropic streamed", ANTHROPIC, dp.messages("small/p", BIG, stream=True), "anthropic"),
    ("override", OPENAI, dp.chat("ovr/p", BIG), "openai"),
]
for name, path, body, family in cases:
    r = inst.request("POST", path, body)
    is_eq(r.status, 400, "%s over the context: 400" % name) or qp.diag(dp.show(r))
    err = dp.error_shape(r, family, name)
    is_eq(err.get("type"), "invalid_request_error", "%s: invalid_request_error" % name)
    like(err.get("message", ""), r"too large for '(small|ovr)/p'.*at least \d+ tokens "
         r".*context window of (1000|2000) tokens", "%s: the message gives the estimate "
         "and the limit" % name)
    row = dp.wait_row(inst, dp.uid_of(r)) or {}
    is_eq((row.get("status"), row.get("status_code"), row.get("attempt_count")),
          ("rejected", 400, 0), "%s: the row is rejected with 400, no attempt" % name)
is_eq(len(mock.requests(path=OPENAI)) + len(mock.requests(path=ANTHROPIC)), 0,
      "nothing reached the provider")
decs = dp.decisions(inst, dp.uid_of(r))
like(decs[0]["detail_json"] if decs else "", r'"reason":"context_limit","context":2000',
     "the routing decision names the exclusion and the limit")

# max_tokens counts: a small prompt asking for more than the context can hold.
r = inst.request("POST", ANTHROPIC, dp.messages("ovr/p", "hi", max_tokens=5000))
is_eq(r.status, 400, "a small prompt with max_tokens 5000 over a context of 2000: 400")

# ---- under the limit, or not enforced: served -------------------------------

r = inst.request("POST", OPENAI, dp.chat("small/p", "hi"))
is_eq(r.status, 200, "a small request to small/p: 200")
r = inst.request("POST", ANTHROPIC, dp.messages("small/p", "hi", max_tokens=4000))
is_eq(r.status, 200, "max_tokens 4000 counts as small's 100 output tokens at most: 200")
mock.reset()
r = inst.request("POST", OPENAI, dp.chat("loose/p", BIG))
is_eq(r.status, 200, "the same large request with enforce_context_limit = false: 200")
is_eq(len(mock.requests(path=OPENAI)), 1, "... and it reached the provider")
r = inst.request("POST", ANTHROPIC, dp.messages("loose/p", BIG))
is_eq(r.status, 200, "Anthropic, enforce_context_limit = false: 200")

is_eq(dp.pending(inst), [], "no request left pending")
qp.done()
