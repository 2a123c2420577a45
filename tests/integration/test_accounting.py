#!/usr/bin/env python3
"""test_accounting.py: what quotapool records for each request, checked
against what the mock provider sent: token counts (input, output, cache
read and write, reasoning) for both protocols, JSON and streamed; the
attempt, routing decision and hourly rollup rows; bytes, timings, finish
reasons and upstream request ids; and that neither the prompt nor any key
is stored."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

mo = qp.mock(models=["gpt-acc"])
ma = qp.mock(style="anthropic", models=["claude-acc"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-acc"],
           "accounts": ["ac1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": ["claude-acc"],
           "accounts": ["ac2"]},
})
dp.start(inst)

USAGE = {"prompt": 120, "completion": 7, "cache_read": 40, "cache_write": 5,
         "reasoning": 3}
MARKER = "accounting-secret-prompt-5e1d"
COLS = ("input_tokens", "output_tokens", "cache_read_tokens",
        "cache_write_tokens", "reasoning_tokens")
# OpenAI's prompt_tokens count the cached ones: the row keeps the uncached
# rest (120 - 40 read - 5 written). Anthropic's input_tokens are uncached
# already; its usage has no reasoning count.
WANT = {
    "openai": (75, 7, 40, 5, 3),
    "anthropic": (120, 7, 40, 5, 0),
}

key_id = dp.query(inst, "SELECT id FROM client_keys WHERE name = 'it'")
key_id = key_id[0]["id"] if key_id else None

cases = []
for fam, path, mock, acct, prov, model in (
        ("openai", OPENAI, mo, "ac1", "po", "gpt-acc"),
        ("anthropic", ANTHROPIC, ma, "ac2", "pa", "claude-acc")):
    for stream in (False, True):
        mock.reset()
        mock.script("*", {"usage": USAGE, "events": 3})
        body = (dp.chat if fam == "openai" else dp.messages)(
            model, MARKER, stream=stream)
        name = "%s %s" % (fam, "stream" if stream else "JSON")
        if stream:
            with inst.stream(path, body) as s:
                got = s.read_all()
                status, uid = s.status, dp.uid_of(s)
        else:
            r = inst.request("POST", path, body)
            got, status, uid = r.body, r.status, dp.uid_of(r)
        is_eq(status, 200, "%s: 200" % name)
        recs = mock.requests(path=path)
        row = dp.wait_row(inst, uid) or {}
        cases.append((name, fam, stream, acct, prov, model, row, recs, got,
                      body))

for name, fam, stream, acct, prov, model, row, recs, got, body in cases:
    is_eq(tuple(row.get(c) for c in COLS), WANT[fam],
          "%s: tokens in/out/cache read/cache write/reasoning as the "
          "provider reported %r" % (name, USAGE))
    is_eq((row.get("status"), row.get("status_code"), row.get("provider_id"),
           row.get("account_name"), row.get("model_base"),
           row.get("streamed"), row.get("attempt_count")),
          ("completed", 200, prov, acct, model, int(stream), 1),
          "%s: row completed 200 on %s/%s, streamed %d" % (
              name, prov, acct, int(stream)))
    is_eq((row.get("client_key_id"), row.get("client_ip")),
          (key_id, "127.0.0.1"), "%s: client key and address" % name)
    is_eq(row.get("finish_reason"), "stop" if fam == "openai" else "end_turn",
          "%s: finish reason" % name)
    is_eq(row.get("stream_complete"), 1 if stream else None,
          "%s: stream_complete %s" % (name, 1 if stream else "NULL"))
    sent = len(json.dumps(body).encode())
    is_eq(row.get("bytes_in"), sent, "%s: bytes_in is the body's size" % name)
    is_eq(row.get("bytes_out"), len(got),
          "%s: bytes_out is what the client received" % name)
    cmp_ok(row.get("upstream_bytes") or 0, ">", 0,
           "%s: upstream_bytes counted" % name)
    t = (row.get("first_byte_ms"), row.get("ttft_ms"), row.get("total_ms"))
    ok(all(isinstance(x, int) and x >= 0 for x in t) and t[0] <= t[2] and
       t[1] <= t[2], "%s: first byte <= total, ttft <= total (%r)" % (
           name, t))
    ok(isinstance(row.get("overhead_us"), int) and row["overhead_us"] >= 0,
       "%s: overhead_us recorded (%r)" % (name, row.get("overhead_us")))
    atts = dp.attempts(inst, row.get("request_uid"))
    want_id = "req_mock%06d" % recs[0]["seq"] if recs else None
    is_eq([(a["attempt_number"], a["provider_id"], a["account_name"],
            a["model"], a["status_code"], a["outcome"], a["retry_category"],
            a["upstream_request_id"]) for a in atts],
          [(1, prov, acct, model, 200, "ok", None, want_id)],
          "%s: one attempt row, ok, with the provider's request id" % name)
    ok(atts and atts[0]["bytes_sent"] > 0 and atts[0]["bytes_received"] > 0
       and atts[0]["completed_at"] is not None,
       "%s: attempt bytes and end recorded" % name)
    dec = dp.decisions(inst, row.get("request_uid"))
    is_eq([(d["attempt_number"], d["chosen_account"], d["chosen_provider"],
            d["model"]) for d in dec], [(1, acct, prov, model)],
          "%s: one routing decision naming the account" % name)

# The hourly rollup that account selection reads (stats_requests, bucket_s
# 3600) holds exactly the sums of the rows.
sums = dp.query(inst, "SELECT completed_at / 3600000 * 3600000 AS hour, "
                "coalesce(provider_id, '') AS provider_id, coalesce(model_base, "
                "'') AS model, coalesce(account_name, '') AS account_name, "
                "status, count(*) AS requests, sum(streamed) AS streamed, "
                "sum(attempt_count) AS attempts, sum(input_tokens) AS "
                "input_tokens, sum(output_tokens) AS output_tokens, "
                "sum(cache_read_tokens) AS cache_read_tokens, "
                "sum(cache_write_tokens) AS cache_write_tokens, "
                "sum(reasoning_tokens) AS reasoning_tokens, "
                "sum(cost_microdollars) AS cost_microdollars, sum(bytes_in) AS "
                "bytes_in, sum(bytes_out) AS bytes_out FROM requests "
                "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5")
hourly = dp.query(inst, "SELECT bucket_start AS hour, provider_id, model, "
                  "account_name, status, sum(requests) AS requests, "
                  "sum(streamed) AS streamed, sum(attempts) AS attempts, "
                  "sum(input_tokens) AS input_tokens, "
                  "sum(output_tokens) AS output_tokens, "
                  "sum(cache_read_tokens) AS cache_read_tokens, "
                  "sum(cache_write_tokens) AS cache_write_tokens, "
                  "sum(reasoning_tokens) AS reasoning_tokens, "
                  "sum(cost_microdollars) AS cost_microdollars, sum(bytes_in) "
                  "AS bytes_in, sum(bytes_out) AS bytes_out FROM stats_requests "
                  "WHERE bucket_s = 3600 GROUP BY 1, 2, 3, 4, 5 "
                  "ORDER BY 1, 2, 3, 4, 5")
is_eq(hourly, sums, "hourly stats_requests sums equal the requests rows")
is_eq(sum(h["requests"] for h in hourly), 4,
      "hourly stats_requests counts 4 requests")

# Neither the prompt nor a key is stored anywhere.
c = inst.db()
try:
    dump = "\n".join(c.iterdump())
finally:
    c.close()
ok(MARKER not in dump, "the prompt text is stored nowhere in the database")
leaks = [k for k in ("k-ac1", "k-ac2", inst.key) if k and k in dump]
is_eq(leaks, [], "no provider key and no client key in the database")

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
