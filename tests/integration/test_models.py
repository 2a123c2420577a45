#!/usr/bin/env python3
"""test_models.py: GET /v1/models in both protocols' shapes (the Anthropic
one paged by limit, after_id and before_id), GET /v1/models/{id} with raw,
%2F-encoded and unsuffixed ids, and errors on /v1/messages* paths in the
Anthropic shape, through lighttpd and quotapool.fcgi."""

import os
import re
import sys
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

AV = {"anthropic-version": "2023-06-01"}

mo = qp.mock(models=["gpt-mock", "shared", "zeta"])
ma = qp.mock(style="anthropic", models=["claude-mock", "shared"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"],
           "models": ["gpt-mock", "shared", "zeta"], "accounts": ["o1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"],
           "models": ["claude-mock", "shared"], "accounts": ["c1"]},
})
dp.start(inst)

ALL = ["claude-mock/pa", "gpt-mock/po", "shared/pa", "shared/po", "zeta/po"]


def openai_error(r, status, name):
    is_eq(r.status, status, name + ": %d" % status)
    j = r.try_json() or {}
    ok(isinstance(j.get("error"), dict) and "message" in j["error"]
       and "type" not in j, name + ": OpenAI error shape", lambda: dp.show(r))


def anthropic_error(r, status, etype, name):
    is_eq(r.status, status, name + ": %d" % status)
    j = r.try_json() or {}
    is_eq(j.get("type"), "error", name + ": Anthropic error shape")
    is_eq((j.get("error") or {}).get("type"), etype, name + ": error type")
    ok(isinstance((j.get("error") or {}).get("message"), str),
       name + ": error message")


# ---- the OpenAI list --------------------------------------------------------

r = inst.request("GET", "/v1/models")
j = r.try_json() or {}
is_eq(r.status, 200, "OpenAI list: 200")
is_eq(j.get("object"), "list", "OpenAI list: object list")
is_eq([m.get("id") for m in j.get("data") or []], ALL, "OpenAI list: every id")
ok("has_more" not in j, "OpenAI list: no Anthropic fields")

# ---- the Anthropic list -----------------------------------------------------

r = inst.request("GET", "/v1/models", headers=AV)
j = r.try_json() or {}
is_eq(r.status, 200, "Anthropic list: 200")
is_eq([m.get("id") for m in j.get("data") or []], ALL, "Anthropic list: ids")
ok(all(m.get("type") == "model" for m in j.get("data") or []),
   "Anthropic list: type model")
ok(all(isinstance(m.get("display_name"), str) and m["display_name"]
       for m in j.get("data") or []), "Anthropic list: display_name")
ok(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", m.get("created_at", ""))
       for m in j.get("data") or []), "Anthropic list: RFC 3339 created_at")
is_eq((j.get("has_more"), j.get("first_id"), j.get("last_id")),
      (False, ALL[0], ALL[-1]), "Anthropic list: has_more, first_id, last_id")
ok("object" not in j, "Anthropic list: no OpenAI object field")

r = inst.request("GET", "/v1/models?limit=2", headers=AV)
j = r.try_json() or {}
is_eq([m.get("id") for m in j.get("data") or []], ALL[:2], "page 1: two ids")
is_eq((j.get("has_more"), j.get("first_id"), j.get("last_id")),
      (True, ALL[0], ALL[1]), "page 1: has_more and its bounds")
r = inst.request("GET", "/v1/models?limit=2&after_id=" +
                 urllib.parse.quote(ALL[1], safe=""), headers=AV)
j = r.try_json() or {}
is_eq([m.get("id") for m in j.get("data") or []], ALL[2:4], "page 2: after_id")
is_eq(j.get("has_more"), True, "page 2: has_more")
r = inst.request("GET", "/v1/models?limit=2&after_id=" +
                 urllib.parse.quote(ALL[3], safe=""), headers=AV)
j = r.try_json() or {}
is_eq([m.get("id") for m in j.get("data") or []], ALL[4:], "last page")
is_eq(j.get("has_more"), False, "last page: no more")
r = inst.request("GET", "/v1/models?limit=2&before_id=" +
                 urllib.parse.quote(ALL[4], safe=""), headers=AV)
j = r.try_json() or {}
is_eq([m.get("id") for m in j.get("data") or []], ALL[2:4], "before_id page")
is_eq(j.get("has_more"), True, "before_id page: more before it")

anthropic_error(inst.request("GET", "/v1/models?limit=0", headers=AV), 400,
                "invalid_request_error", "Anthropic list: limit 0")
anthropic_error(inst.request("GET", "/v1/models?limit=abc", headers=AV), 400,
                "invalid_request_error", "Anthropic list: limit abc")
anthropic_error(inst.request("GET", "/v1/models?after_id=nope", headers=AV),
                404, "not_found_error", "Anthropic list: unknown after_id")
anthropic_error(inst.request("GET", "/v1/models?after_id=a&before_id=b",
                             headers=AV), 400, "invalid_request_error",
                "Anthropic list: after_id with before_id")

# ---- one model ----------------------------------------------------------------

r = inst.request("GET", "/v1/models/gpt-mock%2Fpo")
j = r.try_json() or {}
is_eq(r.status, 200, "retrieve %2F id: 200")
is_eq((j.get("id"), j.get("object"), j.get("owned_by")),
      ("gpt-mock/po", "model", "po"), "retrieve %2F id: the OpenAI entry")
r = inst.request("GET", "/v1/models/claude-mock/pa")
is_eq((r.try_json() or {}).get("id"), "claude-mock/pa",
      "retrieve raw slash id: the entry")
r = inst.request("GET", "/v1/models/zeta")
is_eq((r.status, (r.try_json() or {}).get("id")), (200, "zeta"),
      "retrieve an unsuffixed id one provider serves, under that id")
openai_error(inst.request("GET", "/v1/models/shared"), 404,
             "retrieve an unsuffixed id two providers serve")
r = inst.request("GET", "/v1/models/nope%2Fpo")
openai_error(r, 404, "retrieve unknown id")
like((r.try_json() or {}).get("error", {}).get("message", ""), "nope/po",
     "retrieve unknown id: the message names the decoded id")
openai_error(inst.request("GET", "/v1/models/bad%zz"), 400,
             "retrieve a bad escape")
openai_error(inst.request("GET", "/v1/models/a%00b"), 400,
             "retrieve an escaped NUL (refused by lighttpd, as JSON)")
r = inst.request("GET", "/v1/models/shared%2Fpa", headers=AV)
j = r.try_json() or {}
is_eq(r.status, 200, "Anthropic retrieve: 200")
is_eq((j.get("type"), j.get("id")), ("model", "shared/pa"),
      "Anthropic retrieve: the Anthropic entry")
anthropic_error(inst.request("GET", "/v1/models/nope", headers=AV), 404,
                "not_found_error", "Anthropic retrieve: unknown id")
openai_error(inst.request("GET", "/v1/models/gpt-mock%2Fpo", key=None), 401,
             "retrieve without a key")

# ---- errors on /v1/messages* come in the Anthropic shape ----------------------

anthropic_error(inst.request("POST", "/v1/messages/nonexistent", {}), 404,
                "not_found_error", "unknown path under /v1/messages")
anthropic_error(inst.request("GET", "/v1/messages/batches"), 404,
                "not_found_error", "GET under /v1/messages")
anthropic_error(inst.request("POST", "/v1/messages", {"model": "x"},
                             key=None), 401, "authentication_error",
                "/v1/messages without a key")
openai_error(inst.request("POST", "/v1/messagesX", {}), 404,
             "a path that only starts like /v1/messages")

qp.done()
