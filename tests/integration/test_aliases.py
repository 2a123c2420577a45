#!/usr/bin/env python3
"""test_aliases.py: [aliases] through lighttpd and quotapool.fcgi against mock
providers.

"claude-*" = ["glm-4.6/zai", "deepseek-chat/deepseek"] and "gpt-5*" =
"deepseek-chat/deepseek": an agent's built-in model name is served by the
first target, with the upstream body naming the target's model; when every
account of the first answers 429 the second serves within the same request;
while the first backs off the next request goes straight to the second; the
request row, the attempts, the routing decisions and the trace say which
pattern matched and which target served. Exact ids still win over patterns,
a name no pattern matches is a 404, and with every target out the client
gets the most telling refusal (429) naming the alias. GET /v1/models lists
the patterns in both shapes, and GET /v1/models/{id} answers an id through
its alias."""

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

zai = qp.mock(style="openai", models=["glm-4.6", "claude-exact"])
deep = qp.mock(style="openai", models=["deepseek-chat"])
BOTH = ["openai", "anthropic"]
inst = qp.Instance(
    providers={
        "zai": {"mock": zai, "protocols": BOTH, "models": ["glm-4.6", "claude-exact"],
                "accounts": ["z1", "z2"]},
        "deepseek": {"mock": deep, "protocols": BOTH, "models": ["deepseek-chat"],
                     "accounts": ["d1"]}},
    sections={"routing": {"max_attempts": 3},
              "aliases": {"claude-*": ["glm-4.6/zai", "deepseek-chat/deepseek"],
                          "gpt-5*": "deepseek-chat/deepseek"}})
dp.start(inst)
ADMIN = inst.new_key("boss", admin_role=True)


def upstream_models(m, key=None):
    return [x["body"].get("model") for x in m.requests(key=key)
            if x["path"] in (OPENAI, ANTHROPIC) and isinstance(x.get("body"), dict)]


def detail(d):
    try:
        return json.loads(d["detail_json"])
    except (ValueError, TypeError):
        return {}


# ---- the first target serves an agent's built-in name ----------------------

r = inst.request("POST", ANTHROPIC, dp.messages("claude-opus-4-8"))
is_eq(r.status, 200, "claude-opus-4-8 (Anthropic client): 200 through the alias",
      ) or qp.diag(dp.show(r))
uid = dp.uid_of(r)
row = dp.wait_row(inst, uid) or {}
is_eq((row.get("model"), row.get("model_base"), row.get("provider_id"),
       row.get("alias"), row.get("alias_target")),
      ("claude-opus-4-8", "glm-4.6", "zai", "claude-*", "glm-4.6/zai"),
      "row: the client's model, the model sent, the provider, the pattern and the "
      "target")
is_eq(upstream_models(zai), ["glm-4.6"], "zai got the request with model glm-4.6 "
      "(the suffix and the alias gone)")
decs = dp.decisions(inst, uid)
det = detail(decs[0]) if decs else {}
is_eq((decs[0]["model"] if decs else None, det.get("alias"), det.get("target")),
      ("glm-4.6", "claude-*", "glm-4.6/zai"),
      "routing decision: the target's model, with the alias and the target")

r = inst.request("POST", OPENAI, dp.chat("gpt-5.1-codex"))
is_eq(r.status, 200, "gpt-5.1-codex (OpenAI client): 200 through the second pattern")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("alias"), row.get("alias_target"), row.get("provider_id")),
      ("gpt-5*", "deepseek-chat/deepseek", "deepseek"), "row: gpt-5* served by deepseek")

# ---- exact ids win over patterns --------------------------------------------

zai.reset()
r = inst.request("POST", ANTHROPIC, dp.messages("claude-exact"))
is_eq(r.status, 200, "claude-exact, a model zai serves: 200")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("model_base"), row.get("alias"), row.get("alias_target")),
      ("claude-exact", None, None), "claude-exact is routed as it is, not through "
      "claude-*")
is_eq(upstream_models(zai), ["claude-exact"], "zai got claude-exact")

r = inst.request("POST", OPENAI, dp.chat("llama-3"))
is_eq(r.status, 404, "a model no provider serves and no pattern matches: 404")
err = dp.error_shape(r, "openai", "404")
like(err.get("message", ""), r"llama-3", "404: names the model")

# ---- every account of the first target answers 429: the second serves -------

zai.reset()
deep.reset()
for k in ("k-z1", "k-z2"):
    zai.script(k, {"status": 429, "headers": {"Retry-After": "120"}})
r = inst.request("POST", ANTHROPIC, dp.messages("claude-sonnet-4-5", stream=True))
is_eq(r.status, 200, "first target all 429: the client gets 200") or \
    qp.diag(dp.show(r))
is_eq(r.headers.get("x-proxy-attempt-count"), "3", "x-proxy-attempt-count 3")
ok("message_stop" in r.text, "the stream of the second target reached the client")
uid = dp.uid_of(r)
atts = dp.attempts(inst, uid)
is_eq([(a["provider_id"], a["account_name"], a["model"], a["status_code"])
       for a in atts],
      [("zai", atts[0]["account_name"] if atts else None, "glm-4.6", 429),
       ("zai", atts[1]["account_name"] if len(atts) > 1 else None, "glm-4.6", 429),
       ("deepseek", "d1", "deepseek-chat", 200)],
      "attempts: both zai accounts 429 for glm-4.6, then d1 for deepseek-chat")
is_eq(sorted(a["account_name"] for a in atts[:2]), ["z1", "z2"],
      "both zai accounts were tried")
row = dp.wait_row(inst, uid) or {}
is_eq((row.get("status"), row.get("model"), row.get("model_base"),
       row.get("provider_id"), row.get("account_name"), row.get("alias"),
       row.get("alias_target")),
      ("completed", "claude-sonnet-4-5", "deepseek-chat", "deepseek", "d1",
       "claude-*", "deepseek-chat/deepseek"),
      "row: completed by the second target, which it names")
is_eq(upstream_models(deep), ["deepseek-chat"], "deepseek got deepseek-chat")
decs = dp.decisions(inst, uid)
is_eq([(d["model"], detail(d).get("target")) for d in decs],
      [("glm-4.6", "glm-4.6/zai"), ("glm-4.6", "glm-4.6/zai"),
       ("deepseek-chat", "deepseek-chat/deepseek")],
      "decisions: two for the first target, one for the second")

r = inst.request("GET", "/api/stats/recent/" + uid, key=ADMIN)
j = (r.try_json() or {}).get("request") or {}
is_eq((r.status, j.get("alias"), j.get("alias_target")),
      (200, "claude-*", "deepseek-chat/deepseek"), "trace: the alias and the target")
r = inst.request("GET", "/traces/" + uid, key=ADMIN)
like(r.text, r"alias claude-\* \S+ deepseek-chat/deepseek", "trace page: the alias "
     "and the target")

# ---- while the first target backs off, the second serves at once ------------

deep.reset()
r = inst.request("POST", ANTHROPIC, dp.messages("claude-haiku-4-5"))
is_eq(r.status, 200, "first target backing off: 200")
is_eq(r.headers.get("x-proxy-attempt-count"), "1", "one attempt: straight to the "
      "second target")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("provider_id"), row.get("alias_target")),
      ("deepseek", "deepseek-chat/deepseek"), "row: served by deepseek")

# ---- every target out: 429 naming the alias ---------------------------------

deep.script("k-d1", {"status": 429, "headers": {"Retry-After": "120"}})
r = inst.request("POST", ANTHROPIC, dp.messages("claude-opus-4-8"))
is_eq(r.status, 429, "every target out: 429") or qp.diag(dp.show(r))
err = dp.error_shape(r, "anthropic", "429")
is_eq(err.get("type"), "rate_limit_error", "429: Anthropic rate_limit_error")
r = inst.request("POST", ANTHROPIC, dp.messages("claude-opus-4-8"))
is_eq(r.status, 429, "again, with every account backing off: 429 before any attempt")
ok(r.headers.get("Retry-After") not in (None, "", "0"), "429: a Retry-After")
err = dp.error_shape(r, "anthropic", "429 refused")
like(err.get("message", ""), r"alias 'claude-\*'", "429: the message names the alias")
row = dp.wait_row(inst, dp.uid_of(r)) or {}
is_eq((row.get("status"), row.get("attempt_count"), row.get("alias")),
      ("rejected", 0, "claude-*"), "row: rejected, no attempt, the alias kept")

# ---- GET /v1/models lists the patterns --------------------------------------

r = inst.request("GET", "/v1/models")
data = (r.try_json() or {}).get("data") or []
ids = [e.get("id") for e in data]
ok("claude-*" in ids and "gpt-5*" in ids, "/v1/models lists the patterns",
   lambda: repr(ids))
is_eq(ids, sorted(ids), "/v1/models: still sorted by id")
ent = next((e for e in data if e.get("id") == "claude-*"), {})
is_eq((ent.get("object"), ent.get("owned_by"), (ent.get("quotapool") or {}).get("alias"),
       (ent.get("quotapool") or {}).get("targets")),
      ("model", "quotapool", True, ["glm-4.6/zai", "deepseek-chat/deepseek"]),
      "/v1/models: the alias entry with its targets")
r = inst.request("GET", "/v1/models?limit=100", headers={"anthropic-version": "2023-06-01"})
aids = [e.get("id") for e in (r.try_json() or {}).get("data") or []]
ok("claude-*" in aids and "gpt-5*" in aids, "/v1/models (Anthropic shape) lists the "
   "patterns", lambda: repr(aids))
r = inst.request("GET", "/v1/models/claude-opus-4-8")
j = r.try_json() or {}
is_eq((r.status, j.get("id"), (j.get("quotapool") or {}).get("alias")),
      (200, "claude-opus-4-8", True), "/v1/models/claude-opus-4-8: the alias's entry "
      "under the id asked for")
r = inst.request("GET", "/v1/models/llama-3")
is_eq(r.status, 404, "/v1/models/llama-3: 404")

is_eq(dp.pending(inst), [], "no request left pending")
qp.done()
