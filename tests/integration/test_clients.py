#!/usr/bin/env python3
"""test_clients.py: which client sent each request, through lighttpd and
quotapool.fcgi against a mock provider.

Requests carry the headers real clients send (Claude Code, opencode, the
Codex CLI, both official SDKs, curl, others: see
/work/shared/notes/real-clients.md and tests/unit/test_useragent.c). Each
request row keeps the user agent (cut to 256 bytes, control characters
replaced) and the client family; /api/stats/clients and the /clients page
give, for every family of the closed set, the numbers of those rows."""

import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

FAMILIES = ["claude-cli", "opencode", "codex", "openai-sdk", "anthropic-sdk", "curl",
            "other"]
mock = qp.mock(style="openai", models=["m"])
inst = qp.Instance(providers={"p": {"mock": mock, "protocols": ["openai", "anthropic"],
                                    "models": ["m"], "accounts": ["a"]}})
dp.start(inst)
ADMIN = inst.new_key("boss", admin_role=True)

STAINLESS = {"X-Stainless-Lang": "js", "X-Stainless-Package-Version": "6.49.0",
             "X-Stainless-Runtime": "node"}
LONG = "LongAgent/1.0 " + "x" * 400
# (name, path, body, headers, family, user agent kept)
SENT = [
    ("Claude Code", ANTHROPIC, dp.messages("m", stream=True),
     dict(STAINLESS, **{"User-Agent": "claude-cli/2.1.332 (external, sdk-cli)", "x-app": "cli",
                        "anthropic-version": "2023-06-01"}),
     "claude-cli", "claude-cli/2.1.332 (external, sdk-cli)"),
    ("Claude Code again", ANTHROPIC, dp.messages("m"),
     {"User-Agent": "claude-cli/2.1.332 (external, sdk-cli)", "x-app": "cli"},
     "claude-cli", "claude-cli/2.1.332 (external, sdk-cli)"),
    ("Claude Code, unknown model", ANTHROPIC, dp.messages("nope"),
     {"User-Agent": "claude-cli/2.1.332 (external, sdk-cli)", "x-app": "cli"},
     "claude-cli", "claude-cli/2.1.332 (external, sdk-cli)"),
    ("opencode", OPENAI, dp.chat("m", stream=True, stream_options={"include_usage": True}),
     {"User-Agent": "opencode/1.18.33 ai-sdk/provider-utils/4.0.23 runtime/bun/1.3.14"},
     "opencode", "opencode/1.18.33 ai-sdk/provider-utils/4.0.23 runtime/bun/1.3.14"),
    ("Codex", OPENAI, dp.chat("m"),
     {"User-Agent": "codex_cli_rs/0.169.0 (Debian 12.0.0; x86_64) xterm-256color",
      "originator": "codex_cli_rs"},
     "codex", "codex_cli_rs/0.169.0 (Debian 12.0.0; x86_64) xterm-256color"),
    ("OpenAI SDK", OPENAI, dp.chat("m"), dict(STAINLESS, **{"User-Agent": "OpenAI/JS 6.49.0"}),
     "openai-sdk", "OpenAI/JS 6.49.0"),
    ("OpenAI SDK again", OPENAI, dp.chat("m"),
     dict(STAINLESS, **{"User-Agent": "OpenAI/JS 6.49.0"}), "openai-sdk", "OpenAI/JS 6.49.0"),
    ("Anthropic SDK", ANTHROPIC, dp.messages("m"),
     dict(STAINLESS, **{"User-Agent": "Anthropic/JS 1.17.0", "anthropic-version": "2023-06-01"}),
     "anthropic-sdk", "Anthropic/JS 1.17.0"),
    ("curl", OPENAI, dp.chat("m"), {"User-Agent": "curl/7.88.1"}, "curl", "curl/7.88.1"),
    ("python-requests", OPENAI, dp.chat("m"), {"User-Agent": "python-requests/2.31.0"},
     "other", "python-requests/2.31.0"),
    ("a long user agent", OPENAI, dp.chat("m"), {"User-Agent": LONG}, "other", LONG[:256]),
    # http.client sends latin-1: a lone byte 0xe9, not UTF-8, which the row replaces.
    ("a byte that is not UTF-8", OPENAI, dp.chat("m"), {"User-Agent": "agent/1 caf\xe9"},
     "other", "agent/1 caf?"),
    ("no user agent", OPENAI, dp.chat("m"), {}, "other", None),
]

for name, path, body, headers, family, kept in SENT:
    r = inst.request("POST", path, body, headers=headers)
    row = dp.wait_row(inst, dp.uid_of(r)) or {}
    is_eq((row.get("client_family"), row.get("user_agent")), (family, kept),
          "%s (%d): the row says %s" % (name, r.status, family))

rows = dp.query(inst, "SELECT client_family, status, count(*) AS n, sum(input_tokens) AS tin, "
                "sum(output_tokens) AS tout, sum(cost_microdollars) AS cost FROM requests "
                "GROUP BY client_family, status")
want = {f: {"requests": 0, "errors": 0, "completed": 0, "input_tokens": 0,
            "output_tokens": 0} for f in FAMILIES}
for x in rows:
    w = want[x["client_family"]]
    w["requests"] += x["n"]
    w["input_tokens"] += x["tin"]
    w["output_tokens"] += x["tout"]
    if x["status"] == "completed":
        w["completed"] += x["n"]
    if x["status"] in ("error", "interrupted", "rejected"):
        w["errors"] += x["n"]
is_eq(sum(w["requests"] for w in want.values()), len(SENT), "one row per request sent")

# ---- /api/stats/clients ------------------------------------------------------

r = inst.request("GET", "/api/stats/clients?period=1h", key=ADMIN)
j = r.try_json() or {}
is_eq(r.status, 200, "/api/stats/clients: 200")
got = {c.get("family"): c for c in j.get("clients") or []}
is_eq(sorted(got), sorted(FAMILIES), "/api/stats/clients: every family of the closed set, "
      "once")
is_eq(j.get("total_requests"), len(SENT), "/api/stats/clients: total_requests")
for f in FAMILIES:
    c = got.get(f) or {}
    is_eq({k: c.get(k) for k in want[f]}, want[f], "/api/stats/clients: %s has the numbers "
          "of its rows" % f)
reqs = [c.get("requests") for c in j.get("clients") or []]
is_eq(reqs, sorted(reqs, reverse=True), "/api/stats/clients: the most requests first")
r = inst.request("GET", "/api/stats/clients?period=1h&status=rejected", key=ADMIN)
got = {c.get("family"): c.get("requests") for c in (r.try_json() or {}).get("clients") or []}
is_eq(got.get("claude-cli"), 1, "/api/stats/clients?status=rejected: the unknown model")
r = inst.request("GET", "/api/stats/clients?period=1h&model=m", key=ADMIN)
is_eq(r.status, 400, "/api/stats/clients refuses a filter it does not take")

# ---- the /clients page -------------------------------------------------------

r = inst.request("GET", "/clients?period=1h", key=ADMIN)
is_eq(r.status, 200, "/clients: 200")
page = {}
for fam, n in re.findall(r'<tr><td>([a-z-]+)</td>\s*<td class="n" data-v="(\d+)"', r.text):
    page[fam] = int(n)
is_eq(page, {f: want[f]["requests"] for f in FAMILIES}, "/clients: each family's requests, "
      "as the rows say")
like(r.text, r"<svg", "/clients: with its charts")
like(r.text, r'<a href="/clients[^"]*"[^>]*>Clients</a>', "/clients: in the navigation")
r = inst.request("GET", "/", key=ADMIN)
like(r.text, r'href="/clients', "the overview links to /clients")

# ---- the trace names the client ----------------------------------------------

uid = dp.query(inst, "SELECT request_uid FROM requests WHERE client_family = 'codex'")[0][
    "request_uid"]
r = inst.request("GET", "/api/stats/recent/" + uid, key=ADMIN)
req = (r.try_json() or {}).get("request") or {}
is_eq((req.get("client_family"), req.get("user_agent")),
      ("codex", "codex_cli_rs/0.169.0 (Debian 12.0.0; x86_64) xterm-256color"),
      "trace: the client family and its user agent")
r = inst.request("GET", "/traces/" + uid, key=ADMIN)
like(r.text, r"<dt>Client</dt><dd>codex · codex_cli_rs/0\.169\.0", "trace page: the client")
ok(all(x.get("client_family") in FAMILIES for x in dp.query(
    inst, "SELECT DISTINCT client_family FROM stats_clients")), "the rollup holds only "
   "families of the closed set")

is_eq(dp.pending(inst), [], "no request left pending")
qp.done()
