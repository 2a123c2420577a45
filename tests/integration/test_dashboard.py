#!/usr/bin/env python3
"""test_dashboard.py: the dashboard shows what the gateway did.

Known traffic goes through lighttpd and quotapool.fcgi to a mock provider
with three accounts serving both protocols (streamed OpenAI and JSON
Anthropic requests with scripted usage, a 429 that fails over to another
account, a client error relayed as it is). Then every page and JSON
endpoint is fetched as an admin and its numbers are compared with the
requests, attempts and routing rows and with what was scripted. Access:
anonymous and client-key callers are refused (pages: 303 to /login, JSON:
401/403), the login form takes admin keys only, logout ends the session,
and with [dashboard] public = true the public pages open anonymously while
runtime, traces, pending health, errors and backoffs stay refused.
Headless Chromium loads every page (PNG under $QP_BUILDDIR/screenshots)
when installed, and /metrics passes `promtool check metrics` when promtool
is installed; both skip visibly otherwise (and fail under CI=true, where
.ci/run installs them)."""

import math
import os
import re
import shutil
import sys
import time
import urllib.parse
from decimal import ROUND_HALF_UP, Decimal

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(600)

GPT, CLAUDE = "gpt-dash", "claude-dash"
ACCOUNTS = ["d1", "d2", "d3"]
PROVIDER = "pdash"

# Plausible prices (under the $1,000 per million tokens above which a price
# is ignored), chosen so that costs need rounding.
PRICES = {
    GPT: {"input_price_per_1k": 0.0023, "output_price_per_1k": 0.0091,
          "cache_read_per_million_microdollars": 1170000,
          "cache_write_per_million_microdollars": 2930000},
    CLAUDE: {"input_price_per_1k": 0.0031, "output_price_per_1k": 0.0149,
             "cache_read_per_million_microdollars": 310000,
             "cache_write_per_million_microdollars": 3690000}}
mock = qp.mock(models=[GPT, CLAUDE])
inst = qp.Instance(providers={PROVIDER: {
    "mock": mock, "protocols": ["openai", "anthropic"],
    "models": [GPT, CLAUDE], "accounts": ACCOUNTS}},
    # This test tries more wrong keys from 127.0.0.1 in a minute than the
    # default throttle allows (test_auth_failures.py tests the throttle).
    sections={"security": {"max_auth_failures_per_minute": 0},
              "model_overrides": PRICES})
dp.start(inst)
CLIENT = inst.key
ADMIN = inst.new_key("boss", admin_role=True)
ok(ADMIN != CLIENT, "an admin key was issued beside the client key")

# ---------------------------------------------------------------------------
# Known traffic. Each behaviour goes to the "*" queue just before the
# request that uses it, so whichever account is chosen answers as scripted.

sent = []  # (name, uid, family, status, scripted usage, streamed)


def usage_row(family, u):
    """(input, output, cache read, cache write) a row keeps for usage u:
    OpenAI's prompt_tokens include the cached ones, Anthropic's do not."""
    if family == "openai":
        return (u["prompt"] - u["cache_read"] - u["cache_write"],
                u["completion"], u["cache_read"], u["cache_write"])
    return (u["prompt"], u["completion"], u["cache_read"], u["cache_write"])


for i in range(3):
    u = {"prompt": 300 + 40 * i, "completion": 11 + i, "cache_read": 64,
         "cache_write": 16}
    mock.script("*", {"usage": u, "include_usage": True, "events": 3})
    with inst.stream(OPENAI, dp.chat(GPT, stream=True, stream_options={
            "include_usage": True})) as s:
        s.read_all()
        sent.append(("openai stream %d" % i, dp.uid_of(s), "openai",
                     s.status, u, True))
for i in range(2):
    u = {"prompt": 120 + 7 * i, "completion": 23, "cache_read": 30,
         "cache_write": 9}
    mock.script("*", {"usage": u})
    r = inst.request("POST", ANTHROPIC, dp.messages(CLAUDE))
    sent.append(("anthropic JSON %d" % i, dp.uid_of(r), "anthropic",
                 r.status, u, False))
# A 429 on the first account tried, then success on another one.
u_fo = {"prompt": 210, "completion": 17, "cache_read": 0, "cache_write": 0}
mock.script("*", {"status": 429, "headers": {"Retry-After": "120"}},
            {"usage": u_fo})
r = inst.request("POST", OPENAI, dp.chat(GPT))
FAILOVER = dp.uid_of(r)
sent.append(("failover", FAILOVER, "openai", r.status, u_fo, False))
# A client error: relayed, not failed over.
mock.script("*", {"status": 400})
r = inst.request("POST", ANTHROPIC, dp.messages(CLAUDE))
CLIENT_ERR = dp.uid_of(r)
sent.append(("client error", CLIENT_ERR, "anthropic", r.status, None, False))

is_eq([(n, st) for n, _, _, st, _, _ in sent],
      [(n, 400 if n == "client error" else 200) for n, _, _, _, _, _ in sent],
      "the gateway answered each request as scripted")
UIDS = [uid for _, uid, _, _, _, _ in sent]
ok(all(UIDS) and len(set(UIDS)) == len(UIDS),
   "every request got its own x-proxy-request-id", lambda: repr(UIDS))

rows = {}
for name, uid, fam, st, u, streamed in sent:
    rows[uid] = dp.wait_row(inst, uid) or {}
ok(all(r.get("status") not in (None, "pending") for r in rows.values()),
   "every request was finalized", lambda: repr(rows))
for name, uid, fam, st, u, streamed in sent:
    row = rows[uid]
    if u is not None:
        is_eq((row.get("input_tokens"), row.get("output_tokens"),
               row.get("cache_read_tokens"), row.get("cache_write_tokens")),
              usage_row(fam, u), "%s: row holds the scripted usage" % name)


def expected_cost(model, family, u):
    """The cost of usage u at the configured [model_overrides] prices, done
    here with exact decimals: dollars per 1K become microdollars per
    million (x 1e9), each token class is priced on its own (OpenAI's
    prompt_tokens include the cached ones), and the sum of tokens x rate is
    divided by a million, rounded half up."""
    pr = PRICES[model]
    per_m = {"in": Decimal(str(pr["input_price_per_1k"])) * 10 ** 9,
             "out": Decimal(str(pr["output_price_per_1k"])) * 10 ** 9,
             "cr": Decimal(pr["cache_read_per_million_microdollars"]),
             "cw": Decimal(pr["cache_write_per_million_microdollars"])}
    tin, tout, tcr, tcw = usage_row(family, u)
    s = (tin * per_m["in"] + tout * per_m["out"] + tcr * per_m["cr"] +
         tcw * per_m["cw"]) / 10 ** 6
    return int(s.quantize(Decimal(1), rounding=ROUND_HALF_UP))


for name, uid, fam, st, u, streamed in sent:
    row = rows[uid]
    model = GPT if fam == "openai" else CLAUDE
    if u is None:
        is_eq((row.get("cost_microdollars"), row.get("cost_exactness")),
              (0, "unknown"), "%s: no usage, no cost" % name)
        continue
    is_eq((row.get("cost_microdollars"), row.get("cost_exactness")),
          (expected_cost(model, fam, u), "derived"),
          "%s: cost is the usage at %s's configured prices, to the "
          "microdollar" % (name, model))
is_eq((rows[FAILOVER].get("status"), rows[FAILOVER].get("attempt_count")),
      ("completed", 2), "failover: completed after 2 attempts")
is_eq((rows[CLIENT_ERR].get("status"), rows[CLIENT_ERR].get("status_code"),
       rows[CLIENT_ERR].get("attempt_count")), ("client_error", 400, 1),
      "client error: recorded as client_error 400 after 1 attempt")

fo_atts = dp.attempts(inst, FAILOVER)
FAILED_ACCT = fo_atts[0]["account_name"] if fo_atts else None
RESCUE_ACCT = fo_atts[1]["account_name"] if len(fo_atts) > 1 else None
ok(FAILED_ACCT in ACCOUNTS and RESCUE_ACCT in ACCOUNTS and
   FAILED_ACCT != RESCUE_ACCT, "failover: two different accounts tried",
   lambda: repr(fo_atts))

# What the dashboard must show, from the rows themselves.
ALL = dp.query(inst, "SELECT * FROM requests")
ATTEMPTS = dp.query(inst, "SELECT * FROM request_attempts")
DECISIONS = dp.query(inst, "SELECT * FROM routing_decisions")
is_eq(len(ALL), len(sent), "the requests table holds exactly the %d "
      "requests sent" % len(sent))


def total(col, rs=None):
    return sum((r[col] or 0) for r in (ALL if rs is None else rs))


def count(pred, rs=None):
    return sum(1 for r in (ALL if rs is None else rs) if pred(r))


N = len(ALL)
N_DONE = count(lambda r: r["status"] == "completed")
N_ERR = count(lambda r: r["status"] == "error")
N_CERR = count(lambda r: r["status"] == "client_error")
TOK = {k: total(k + "_tokens") for k in ("input", "output", "cache_read",
                                         "cache_write", "reasoning")}
COST = total("cost_microdollars")
cmp_ok(COST, ">", 0, "the priced models gave the requests a cost")
is_eq((N, N_DONE, N_ERR, N_CERR), (7, 6, 0, 1),
      "rows: 7 requests, 6 completed, 0 errors, 1 client error")

# ---------------------------------------------------------------------------
# HTTP helpers


def get(path, key=None, cookie=None, timeout=30.0):
    h = {"Cookie": "qp_session=" + cookie} if cookie else None
    return inst.request("GET", path, key=key, headers=h, timeout=timeout)


def api(name, key=ADMIN, query=""):
    r = get("/api/stats/" + name + query, key=key)
    j = r.try_json() if r.status == 200 else None
    ok(r.status == 200 and isinstance(j, dict), "GET /api/stats/%s as admin: "
       "200 with a JSON object" % name, lambda: dp.show(r))
    return j if isinstance(j, dict) else {}


def page(path, key=ADMIN):
    r = get(path, key=key)
    ok(r.status == 200 and r.headers.get("Content-Type", "").startswith(
        "text/html"), "GET %s as admin: 200 text/html" % path,
       lambda: dp.show(r))
    return r.text if r.status == 200 else ""


def fmt_tokens(v):
    """The dashboard's rendering of a token count (dashboard_si)."""
    a = abs(v)
    if a >= 1e9:
        return "%.2fG tok" % (v / 1e9)
    if a >= 1e6:
        return "%.2fM tok" % (v / 1e6)
    if a >= 1e4:
        return "%.1fk tok" % (v / 1e3)
    return "%.0f tok" % v


def fmt_cost(v):
    if v == 0:
        return "$0"
    return ("$%.4f" if abs(v) / 1e6 < 1 else "$%.2f") % (v / 1e6)


def fmt_int(v):
    return "{:,}".format(int(v))


def card(html, label):
    m = re.search(r'<span class="k">%s</span><span class="v">([^<]*)</span>'
                  % re.escape(label), html)
    return m.group(1) if m else None


def table_row(html, first_cells):
    """The <tr> whose first cells are first_cells (texts), or ""."""
    pat = r"<tr>\s*" + "".join(r"<td>%s</td>\s*" % re.escape(c)
                               for c in first_cells) + r"(.*?)</tr>"
    m = re.search(pat, html, re.S)
    return m.group(1) if m else ""


def cell_value(row_html, value, text):
    """True if row_html has a numeric cell data-v=value showing text."""
    return re.search(r'data-v="%s">%s<' % (re.escape(str(value)),
                                           re.escape(text)), row_html) \
        is not None

# ---------------------------------------------------------------------------
# JSON API as admin


s = api("summary")
is_eq((s.get("total_requests"), s.get("successful_requests"),
       s.get("error_requests"), s.get("client_error_requests")),
      (N, N_DONE, N_ERR, N_CERR),
      "summary: requests, successful, errors, client errors equal the rows")
is_eq((s.get("by_status") or {}).get("client_error"), N_CERR,
      "summary: by_status counts the client error")
is_eq((s.get("total_input_tokens"), s.get("total_output_tokens"),
       s.get("total_cache_read_tokens"), s.get("total_cache_write_tokens"),
       s.get("total_reasoning_tokens")),
      (TOK["input"], TOK["output"], TOK["cache_read"], TOK["cache_write"],
       TOK["reasoning"]), "summary: token totals equal the sums of the rows")
is_eq(s.get("total_tokens"), TOK["input"] + TOK["output"] +
      TOK["cache_read"] + TOK["cache_write"],
      "summary: total_tokens = input + output + cache read + cache write")
is_eq(s.get("total_cost_microdollars"), COST,
      "summary: cost equals the sum of the rows (%d microdollars)" % COST)
is_eq((s.get("streamed_requests"), s.get("non_streamed_requests")),
      (total("streamed"), N - total("streamed")),
      "summary: streamed and non-streamed counts")
is_eq(s.get("total_attempts"), len(ATTEMPTS),
      "summary: attempts equal the attempt rows (%d)" % len(ATTEMPTS))
is_eq(s.get("total_bytes_in"), total("bytes_in"),
      "summary: bytes in equal the sum of the rows")
h = s.get("health") or {}
is_eq((h.get("pending_requests"), h.get("accounts_total"),
       h.get("accounts_in_backoff"), h.get("accounts_ok")), (0, 3, 1, 2),
      "summary health: nothing pending, 3 accounts, the 429'd one in backoff")

a = api("accounts")
accts = {x.get("name"): x for x in a.get("accounts") or []}
is_eq(sorted(accts), ACCOUNTS, "accounts: the three configured accounts")
for name in ACCOUNTS:
    mine = [r for r in ALL if r["account_name"] == name]
    x = accts.get(name) or {}
    is_eq((x.get("provider"), x.get("requests"), x.get("cost_microdollars"),
           x.get("input_tokens"), x.get("output_tokens")),
          (PROVIDER, len(mine), total("cost_microdollars", mine),
           total("input_tokens", mine), total("output_tokens", mine)),
          "accounts: %s requests, cost and tokens equal its rows" % name)
    want = "backoff" if name == FAILED_ACCT else "ok"
    is_eq(x.get("status"), want, "accounts: %s status %s" % (name, want))
is_eq(sum((x.get("requests") or 0) for x in accts.values()), N,
      "accounts: requests add up to the total")

mo = api("models")
models = {(x.get("provider"), x.get("model")): x for x in mo.get("models") or []}
is_eq(sorted(models), sorted([(PROVIDER, GPT), (PROVIDER, CLAUDE)]),
      "models: one entry per model used")
for model in (GPT, CLAUDE):
    mine = [r for r in ALL if r["model_base"] == model]
    x = models.get((PROVIDER, model)) or {}
    is_eq((x.get("requests"), x.get("input_tokens"), x.get("output_tokens"),
           x.get("cache_read_tokens"), x.get("cache_write_tokens"),
           x.get("cost_microdollars")),
          (len(mine), total("input_tokens", mine), total("output_tokens", mine),
           total("cache_read_tokens", mine), total("cache_write_tokens", mine),
           total("cost_microdollars", mine)),
          "models: %s requests, tokens and cost equal its rows (%d requests)"
          % (model, len(mine)))

rr = api("recent-requests")
listed = [x.get("request_id") for x in rr.get("requests") or []]
is_eq(sorted(listed), sorted(UIDS), "recent-requests lists each request uid")
for x in rr.get("requests") or []:
    row = rows.get(x.get("request_id")) or {}
    if (x.get("status"), x.get("attempt_count"), x.get("cost_microdollars"),
            x.get("account")) != (row.get("status"), row.get("attempt_count"),
                                  row.get("cost_microdollars"),
                                  row.get("account_name")):
        ok(False, "recent-requests: %s agrees with its row" %
           x.get("request_id"), lambda: "  api %r\n  row %r" % (x, row))
        break
else:
    ok(bool(listed), "recent-requests: status, attempts, cost and account of "
       "each entry agree with its row")

tr = api("recent/" + FAILOVER)
chain = [(t.get("attempt_number"), t.get("account"), t.get("status_code"),
          t.get("outcome"), (t.get("decision") or {}).get("chosen_account"))
         for t in tr.get("attempts") or []]
is_eq(chain, [(1, FAILED_ACCT, 429, "rate_limited", FAILED_ACCT),
              (2, RESCUE_ACCT, 200, "ok", RESCUE_ACCT)],
      "recent/<failover uid>: the 2-attempt chain with each routing decision")
is_eq(((tr.get("request") or {}).get("request_id"),
       (tr.get("request") or {}).get("attempt_count")), (FAILOVER, 2),
      "recent/<failover uid>: the request with attempt_count 2")
for name, uid, _, _, _, _ in sent:
    if uid == FAILOVER:
        continue
    t = api("recent/" + uid)
    is_eq(len(t.get("attempts") or []), rows[uid].get("attempt_count"),
          "recent/<%s uid>: one attempt shown per attempt made" % name)
r = get("/api/stats/recent/00000000-0000-4000-8000-000000000000", key=ADMIN)
is_eq(r.status, 404, "recent/<unknown uid>: 404")

at = api("attempts")
outcomes = {}
for x in ATTEMPTS:
    outcomes[x["outcome"]] = outcomes.get(x["outcome"], 0) + 1
is_eq((at.get("total_attempts"), {o.get("outcome"): o.get("attempts")
                                  for o in at.get("by_outcome") or []}),
      (len(ATTEMPTS), outcomes), "attempts: total and by outcome equal the "
      "attempt rows %r" % outcomes)

rt = api("retries")
is_eq((rt.get("total_requests"), rt.get("retried_requests"),
       rt.get("rescued_requests")), (N, 1, 1),
      "retries: one request retried and rescued")

ro = api("routing")
chosen = {}
for d in DECISIONS:
    if d["chosen_account"]:
        chosen[d["chosen_account"]] = chosen.get(d["chosen_account"], 0) + 1
is_eq((ro.get("decisions"), {x.get("account"): x.get("chosen")
                             for x in ro.get("by_account") or []}),
      (len(DECISIONS), chosen),
      "routing: decisions and choices per account equal the decision rows")

ts = api("timeseries")
is_eq((ts.get("total"), sum((b.get("total") or 0)
                            for b in ts.get("buckets") or [])), (N, N),
      "timeseries: requests total and the sum of the buckets equal the rows")
ts = api("timeseries", query="?group_by=model&metric=cost")
is_eq(({x.get("name"): x.get("total") for x in ts.get("series") or []},
       ts.get("total")),
      ({m: total("cost_microdollars", [r for r in ALL if r["model_base"] == m])
        for m in (GPT, CLAUDE)}, COST),
      "timeseries by model, metric cost: each series equals its rows")

bw = api("bandwidth")
is_eq((bw.get("total_requests"), bw.get("total_bytes_in")),
      (N, total("bytes_in")), "bandwidth: requests and bytes in equal the rows")
is_eq(sum((d.get("requests") or 0) for d in bw.get("days") or []), N,
      "bandwidth: the days add up to the requests")

lat = api("latency")
lm = {x.get("metric"): x for x in lat.get("metrics") or []}
# Latencies are rolled up for completed requests only.
is_eq(((lm.get("total") or {}).get("count"), (lm.get("ttft") or {}).get("count")),
      (count(lambda r: r["status"] == "completed" and r["total_ms"] is not None),
       count(lambda r: r["status"] == "completed" and r["ttft_ms"] is not None)),
      "latency: total and ttft counts equal the completed rows with those times")


def nearest_rank(vals, p):
    """The p-th percentile of vals by nearest rank (what the histograms
    approximate)."""
    vals = sorted(vals)
    if not vals:
        return None
    return vals[max(1, int(math.ceil(p * len(vals)))) - 1]


BIN_ERR = (lat.get("bin_error_pct") or 0) / 100.0
for metric, col in (("total", "total_ms"), ("ttft", "ttft_ms")):
    vals = [r[col] for r in ALL if r["status"] == "completed" and
            r[col] is not None]
    x = lm.get(metric) or {}
    avg = sum(vals) / float(len(vals)) if vals else None
    ok(avg is not None and abs((x.get("avg_ms") or -1) - avg) < 0.0015,
       "latency: %s average %r ms is the rows' mean %r" % (
           metric, x.get("avg_ms"), avg))
    for p in (0.5, 0.99):
        want = nearest_rank(vals, p)
        got = x.get("p%d_ms" % int(p * 100))
        # The rows keep whole ms: a value shown as v ms lies in [v, v + 1).
        lo, hi = want * (1 - BIN_ERR) - 0.001, (want + 1) * (1 + BIN_ERR)
        ok(isinstance(got, (int, float)) and lo <= got <= hi,
           "latency: %s p%d %r ms is within %.1f %% of the rows' %r ms" % (
               metric, int(p * 100), got, BIN_ERR * 100, want))

pg = api("pings")
ok(PROVIDER in [p.get("provider") for p in pg.get("providers") or []],
   "pings: the provider's probes are shown", lambda: repr(pg))

er = api("errors")
is_eq(er.get("total_failed"), N - N_DONE,
      "errors: failed requests equal the rows not completed")

op = api("operational")
ok(isinstance(op.get("events"), list) and isinstance(op.get("counts"), list),
   "operational: events and counts lists")
r = get("/api/events", key=ADMIN)
ok(r.status == 200 and isinstance((r.try_json() or {}).get("events"), list),
   "GET /api/events as admin: 200 with events", lambda: dp.show(r))

ph = api("pending-health")
is_eq(ph.get("pending_requests"), 0, "pending-health: nothing pending")

rn = api("runtime")
ok(rn.get("pid") in inst.app_pids(), "runtime: pid is a quotapool.fcgi of "
   "this instance", lambda: "  %r not in %r" % (rn.get("pid"),
                                                inst.app_pids()))
cmp_ok(rn.get("database_bytes") or 0, ">", 0, "runtime: database size shown")

r = get("/api/backoffs", key=ADMIN)
bo = (r.try_json() or {}).get("backoffs") if r.status == 200 else None
ok(isinstance(bo, list) and FAILED_ACCT in [
    b.get("account") or b.get("account_name") for b in bo],
   "GET /api/backoffs as admin: lists the account that got the 429",
   lambda: dp.show(r))

r = get("/api/stats/no-such-dataset", key=ADMIN)
is_eq(r.status, 404, "/api/stats/<unknown dataset>: 404")

# ---------------------------------------------------------------------------
# HTML pages as admin: the same numbers as rendered text

html = page("/")
is_eq((card(html, "Requests"), card(html, "Input tokens"),
       card(html, "Output tokens"), card(html, "Cache read"),
       card(html, "Cache write"), card(html, "Cost"), card(html, "In backoff")),
      (fmt_int(N), fmt_tokens(TOK["input"]), fmt_tokens(TOK["output"]),
       fmt_tokens(TOK["cache_read"]), fmt_tokens(TOK["cache_write"]),
       fmt_cost(COST), "1"),
      "overview page: requests, tokens, cost and backoff cards show the totals")
is_eq(card(html, "Error rate"), "%.1f %%" % (100.0 * N_ERR / N),
      "overview page: error rate card")

html = page("/accounts")
for name in ACCOUNTS:
    mine = [r for r in ALL if r["account_name"] == name]
    row = table_row(html, [name, PROVIDER])
    c = total("cost_microdollars", mine)
    ok(cell_value(row, len(mine), fmt_int(len(mine))) and
       cell_value(row, c, fmt_cost(c)),
       "accounts page: %s shows %d requests and %s" % (name, len(mine),
                                                       fmt_cost(c)),
       lambda: "  row: %r" % row)
like(table_row(html, [FAILED_ACCT, PROVIDER]), r'class="st-backoff">backoff',
     "accounts page: %s shown in backoff" % FAILED_ACCT)

html = page("/models")
for model in (GPT, CLAUDE):
    mine = [r for r in ALL if r["model_base"] == model]
    row = table_row(html, [model, PROVIDER])
    c = total("cost_microdollars", mine)
    ok(cell_value(row, len(mine), fmt_int(len(mine))) and
       cell_value(row, c, fmt_cost(c)),
       "models page: %s shows %d requests and %s" % (model, len(mine),
                                                     fmt_cost(c)),
       lambda: "  row: %r" % row)

html = page("/traces")
is_eq([u for u in UIDS if '<a href="/traces/%s">%s</a>' % (u, u) not in html],
      [], "traces page: links every request uid")

html = page("/traces/" + FAILOVER)
like(html, r"Attempt 1: %s / %s · rate_limited 429" % (PROVIDER, FAILED_ACCT),
     "trace page: attempt 1 on %s rate limited" % FAILED_ACCT)
like(html, r"Attempt 2: %s / %s · ok 200" % (PROVIDER, RESCUE_ACCT),
     "trace page: attempt 2 on %s ok" % RESCUE_ACCT)
like(html, r"chose %s \(%s\)" % (RESCUE_ACCT, PROVIDER),
     "trace page: the routing decision of attempt 2")
r = get("/traces/00000000-0000-4000-8000-000000000000", key=ADMIN)
is_eq(r.status, 404, "trace page of an unknown uid: 404")

html = page("/runtime")
like(html, r"\b%d\b" % rn.get("pid", -1), "runtime page: shows the app's pid")
PAGE_HTML = {}
for path, title in (("/latency", "Latency"), ("/timeseries", "Timeseries"),
                    ("/bandwidth", "Bandwidth"), ("/reliability",
                                                  "Reliability"),
                    ("/routing", "Routing"), ("/pings", "Pings")):
    PAGE_HTML[path] = page(path)
    like(PAGE_HTML[path], r"<h1>%s</h1>" % title, "%s page: titled %s"
         % (path, title))

# One number of each page against the rows.
done_ms = [r["total_ms"] for r in ALL if r["status"] == "completed" and
           r["total_ms"] is not None]
mean_ms = sum(done_ms) / float(len(done_ms))
row = table_row(PAGE_HTML["/latency"], ["total"])
ok(re.match(r'\s*<td class="n" data-v="%d">%s</td>\s*<td class="n" '
            r'data-v="([0-9.]+)">' % (len(done_ms), fmt_int(len(done_ms))),
            row) and abs(float(re.search(r'data-v="[0-9]+">[^<]*</td>\s*'
                                         r'<td class="n" data-v="([0-9.]+)"',
                                         row).group(1)) - mean_ms) < 0.0015,
   "latency page: total shows %d requests averaging %.3f ms, as the rows"
   % (len(done_ms), mean_ms), lambda: "  row: %r" % row)
ok("<p>Total requests: %s, grouped by provider.</p>" % fmt_int(N)
   in PAGE_HTML["/timeseries"] and cell_value(
       table_row(PAGE_HTML["/timeseries"], [PROVIDER]), N, fmt_int(N)),
   "timeseries page: %d requests in all and for %s" % (N, PROVIDER))
by_day = {}
for r in ALL:
    d = time.strftime("%Y-%m-%d", time.gmtime(r["started_at"] / 1000.0))
    n, b = by_day.get(d, (0, 0))
    by_day[d] = (n + 1, b + (r["bytes_in"] or 0))
bad = [(d, n, b) for d, (n, b) in sorted(by_day.items())
       if not re.search(r'<td class="n" data-v="%d">%s</td><td class="n" '
                        r'data-v="%d">' % (n, fmt_int(n), b),
                        table_row(PAGE_HTML["/bandwidth"], [d]))]
is_eq(bad, [], "bandwidth page: each day's requests and bytes in equal the "
      "rows %r" % by_day)
is_eq(card(PAGE_HTML["/reliability"], "Attempts"), fmt_int(len(ATTEMPTS)),
      "reliability page: the attempts card counts the attempt rows (%d)"
      % len(ATTEMPTS))
is_eq(card(PAGE_HTML["/routing"], "Decisions"), fmt_int(len(DECISIONS)),
      "routing page: the decisions card counts the decision rows (%d)"
      % len(DECISIONS))
ok(all(a in PAGE_HTML["/routing"] for a in chosen),
   "routing page: names every chosen account")
for _ in range(3):
    # A ping may land between the page and the query: ask until both agree.
    before = dp.query(inst, "SELECT count(*) AS n FROM provider_pings WHERE "
                      "provider_id = ?", (PROVIDER,))[0]["n"]
    html = page("/pings")
    after = dp.query(inst, "SELECT count(*) AS n FROM provider_pings WHERE "
                     "provider_id = ?", (PROVIDER,))[0]["n"]
    if before == after:
        break
ok(before > 0 and cell_value(table_row(html, [PROVIDER]), before,
                             fmt_int(before)),
   "pings page: %s shows %d probes, as the ping rows" % (PROVIDER, before),
   lambda: "  row: %r" % table_row(html, [PROVIDER]))
html = page("/?period=1h")
is_eq(card(html, "Requests"), fmt_int(N), "overview page, period 1h: "
      "the same request count")
r = get("/?period=13x", key=ADMIN)
is_eq(r.status, 400, "overview page, unknown period: 400")

for path, ctype in (("/static/dashboard.css", "text/css"),
                    ("/static/dashboard.js", "text/javascript")):
    r = get(path)
    ok(r.status == 200 and r.headers.get("Content-Type", "").startswith(ctype)
       and len(r.body) > 0, "%s: 200 %s" % (path, ctype), lambda: dp.show(r))
r = get("/login")
ok(r.status == 200 and re.search(r'<form[^>]*method="post"', r.text) and
   'name="key"' in r.text, "GET /login: the form", lambda: dp.show(r))

# ---------------------------------------------------------------------------
# Access, [dashboard] public = false

PAGES = ["/", "/accounts", "/models", "/latency", "/timeseries", "/bandwidth",
         "/reliability", "/routing", "/pings", "/runtime", "/traces",
         "/traces/" + FAILOVER]
APIS = ["/api/stats/" + n for n in (
    "summary", "accounts", "models", "latency", "timeseries", "bandwidth",
    "attempts", "retries", "routing", "pings", "errors", "operational",
    "pending-health", "runtime", "recent-requests")] + [
    "/api/stats/recent/" + FAILOVER, "/api/backoffs", "/api/events"]
ADMIN_ONLY_PAGES = ["/runtime", "/traces", "/traces/" + FAILOVER]
ADMIN_ONLY_APIS = ["/api/stats/" + n for n in (
    "runtime", "recent-requests", "pending-health", "errors",
    "recent/" + FAILOVER)] + ["/api/backoffs"]


def to_login(r):
    return r.status == 303 and r.headers.get("Location") == "/login"


def check_pages(paths, key, who, want_open):
    bad = []
    for p in paths:
        r = get(p, key=key)
        good = r.status == 200 if want_open else (
            to_login(r) or r.status == 403)
        if not good:
            bad.append((p, r.status, r.headers.get("Location")))
    is_eq(bad, [], "%s: %d pages %s" % (who, len(paths), "open (200)" if
                                         want_open else
                                         "refused (303 to /login)"))


def check_apis(paths, key, who, want):
    bad = []
    for p in paths:
        r = get(p, key=key)
        if r.status != want or (want != 200 and
                                not isinstance(r.try_json(), dict)):
            bad.append((p, r.status, r.body[:120]))
    is_eq(bad, [], "%s: %d JSON endpoints answer %d" % (who, len(paths), want))


check_pages(PAGES, None, "anonymous", False)
check_pages(PAGES, CLIENT, "client key", False)
check_apis(APIS, None, "anonymous", 401)
check_apis(APIS, CLIENT, "client key", 403)
check_apis(APIS, "qp_" + "0" * 48, "unknown key", 401)
check_pages(PAGES, ADMIN, "admin key", True)
check_apis(APIS, ADMIN, "admin key", 200)
r = inst.request("GET", "/api/stats/summary", key=ADMIN, auth="x-api-key")
is_eq(r.status, 200, "the API takes the admin key as x-api-key too")

# ---------------------------------------------------------------------------
# Login and logout


def login(key, ctype="application/x-www-form-urlencoded"):
    return inst.request("POST", "/login", "key=" + urllib.parse.quote(key),
                        headers={"Content-Type": ctype}, key=None)


def session_of(r):
    m = re.match(r"qp_session=([0-9a-f]+);", r.headers.get("Set-Cookie", ""))
    return m.group(1) if m else None


r = login(CLIENT)
ok(r.status == 403 and "Set-Cookie" not in r.headers,
   "login with a client key: 403, no cookie", lambda: dp.show(r))
r = login("qp_" + "1" * 48)
ok(r.status == 403 and "Set-Cookie" not in r.headers,
   "login with an unknown key: 403, no cookie", lambda: dp.show(r))
r = login(ADMIN, ctype="text/plain")
ok(r.status == 415 and "Set-Cookie" not in r.headers,
   "login not sent as a web form: 415", lambda: dp.show(r))
r = login(ADMIN)
tok = session_of(r)
ok(r.status == 303 and r.headers.get("Location") == "/" and tok,
   "login with the admin key: 303 to / with a session cookie",
   lambda: dp.show(r))
cookie = r.headers.get("Set-Cookie", "")
ok("HttpOnly" in cookie and "SameSite=Strict" in cookie,
   "the session cookie is HttpOnly and SameSite=Strict", lambda: cookie)
r = get("/", cookie=tok)
is_eq((r.status, card(r.text, "Requests")), (200, fmt_int(N)),
      "the session opens the overview page")
r = get("/traces", cookie=tok)
is_eq(r.status, 200, "the session opens the admin-only traces page")
r = get("/api/stats/summary", cookie=tok)
is_eq((r.status, (r.try_json() or {}).get("total_requests")), (200, N),
      "the session opens the JSON API")
r = get("/", cookie="0" * len(tok or "x" * 64))
ok(to_login(r), "a made-up session token: 303 to /login", lambda: dp.show(r))

# Screenshots with a session of their own (logout below ends the first).
r = login(ADMIN)
shot_tok = session_of(r)
outdir = os.path.join(qp.BUILDDIR, "screenshots")
script = os.path.join(HERE, "screenshots.py")
if not (shutil.which("chromium") or shutil.which("chromium-browser")):
    qp.missing("chromium is not installed: no screenshots")
elif not shot_tok:
    ok(False, "a session for the screenshots")
else:
    res = qp.run([qp.PYTHON, script, inst.url, outdir, shot_tok],
                 timeout=480)
    lines = res.out.splitlines()
    points = 0
    for line in lines:
        m = re.match(r"^(not ok|ok) \d+ - (.*)$", line)
        if m:
            points += 1
            ok(m.group(1) == "ok", "screenshots: " + m.group(2))
        elif line.startswith("#"):
            qp.diag(line[1:].strip())
        elif line.startswith("1..0"):
            qp.skip("screenshots: " + line)
            points += 1
    ok(res.rc == 0 and not res.timed_out and points > 0,
       "screenshots.py finished (exit 0, %d points)" % points,
       lambda: repr(res))
    pngs = sorted(f for f in os.listdir(outdir) if f.endswith(".png")) \
        if os.path.isdir(outdir) else []
    qp.diag("screenshots in %s: %s" % (outdir, " ".join(pngs)))

r = inst.request("POST", "/logout", headers={"Cookie": "qp_session=" + tok},
                 key=None)
ok(r.status == 303 and r.headers.get("Location") == "/login" and
   re.match(r"qp_session=;", r.headers.get("Set-Cookie", "")) and
   "Max-Age=0" in r.headers.get("Set-Cookie", ""),
   "logout: 303 to /login clearing the cookie", lambda: dp.show(r))
r = get("/", cookie=tok)
ok(to_login(r), "after logout the old session gets 303 to /login",
   lambda: dp.show(r))
r = get("/api/stats/summary", cookie=tok)
is_eq(r.status, 401, "after logout the old session gets 401 from the API")
r = get("/", cookie=shot_tok)
is_eq(r.status, 200, "logout ended only its own session")

# ---------------------------------------------------------------------------
# Prometheus /metrics (metrics_public = false)

r = get("/metrics", key=None)
is_eq(r.status, 401, "/metrics anonymous: 401")
r = get("/metrics", key=CLIENT)
is_eq(r.status, 403, "/metrics with a client key: 403")
r = get("/metrics", key=ADMIN)
ok(r.status == 200 and r.headers.get("Content-Type", "").startswith(
    "text/plain"), "/metrics as admin: 200 text/plain", lambda: dp.show(r))
metrics = r.text if r.status == 200 else ""
samples = {}
for line in metrics.splitlines():
    m = re.match(r'^(quotapool_[a-z_]+)(\{[^}]*\})? (\S+)$', line)
    if m:
        samples.setdefault(m.group(1), []).append((m.group(2) or "",
                                                   float(m.group(3))))
is_eq(sum(v for _, v in samples.get("quotapool_requests_total", [])), N,
      "/metrics: quotapool_requests_total adds up to the requests")
is_eq(sum(v for _, v in samples.get("quotapool_attempts_total", [])),
      len(ATTEMPTS), "/metrics: quotapool_attempts_total adds up to the "
      "attempts")
is_eq(sum(v for _, v in samples.get("quotapool_cost_microdollars_total", [])),
      COST, "/metrics: quotapool_cost_microdollars_total adds up to the cost")
promtool = shutil.which("promtool")
if promtool is None:
    qp.missing("promtool is not installed (Debian package prometheus)")
else:
    res = qp.run([promtool, "check", "metrics"], timeout=30,
                 input_text=metrics or "\n")
    ok(res.rc == 0 and metrics, "promtool check metrics accepts /metrics",
       lambda: repr(res))

# ---------------------------------------------------------------------------
# [dashboard] public = true: public pages open, the rest stays refused

res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly before the "
      "restart")
inst.sections["dashboard"] = {"public": True}
inst.write_config()
dp.start(inst)
PUBLIC_PAGES = [p for p in PAGES if p not in ADMIN_ONLY_PAGES]
PUBLIC_APIS = [p for p in APIS if p not in ADMIN_ONLY_APIS]
check_pages(PUBLIC_PAGES, None, "public, anonymous", True)
check_apis(PUBLIC_APIS, None, "public, anonymous", 200)
check_pages(ADMIN_ONLY_PAGES, None, "public, anonymous, admin-only", False)
check_apis(ADMIN_ONLY_APIS, None, "public, anonymous, admin-only", 401)
check_apis(ADMIN_ONLY_APIS, CLIENT, "public, client key, admin-only", 403)
check_apis(ADMIN_ONLY_APIS, ADMIN, "public, admin key, admin-only", 200)
s = get("/api/stats/summary").try_json() or {}
is_eq((s.get("total_requests"), s.get("total_cost_microdollars")), (N, COST),
      "public summary, anonymous: the same totals after the restart")
is_eq(card(get("/").text, "Requests"), fmt_int(N),
      "public overview page, anonymous: the same request count")
r = get("/metrics", key=None)
is_eq(r.status, 401, "public dashboard: /metrics anonymous still 401 "
      "(metrics_public = false)")
r = login(CLIENT)
ok(r.status == 403 and "Set-Cookie" not in r.headers,
   "public dashboard: login with a client key still refused",
   lambda: dp.show(r))

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
