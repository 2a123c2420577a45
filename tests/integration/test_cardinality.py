#!/usr/bin/env python3
"""test_cardinality.py: made-up model ids cannot grow what the gateway
keeps or shows beyond what the operator configured.

A client key sends 5,000 requests for random model ids (both protocols,
some with a configured provider's suffix, some longer than the bound, some
with multi-byte characters) beside a few requests for the one configured
model. Then: /metrics answers 200 in under 256 KB; every dashboard page and
every /api/stats dataset answers in under 1 MB; the rollup tables hold no
model label but the configured model, "(unknown)" and "" (none); the
unknown requests are counted once each under "(unknown)"; each request row
keeps its raw id cut to QP_UNKNOWN_MODEL_KEEP bytes (fcgi/bounds.h) at a
character boundary; and the configured model keeps its own label, also for
a request refused for a reason other than the model (a stateful Responses
request without a provider that keeps state)."""

import http.client
import json
import os
import random
import re
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(900)

N_UNKNOWN = 5000
METRICS_MAX = 256 * 1024
PAGE_MAX = 1024 * 1024
MODEL = "gpt-card"
PROVIDER = "pcard"
UNKNOWN = "(unknown)"


def bound():
    """QP_UNKNOWN_MODEL_KEEP from fcgi/bounds.h."""
    with open(os.path.join(qp.SRCDIR, "fcgi", "bounds.h")) as f:
        m = re.search(r"#define\s+QP_UNKNOWN_MODEL_KEEP\s+(\d+)", f.read())
    return int(m.group(1)) if m else 128


KEEP = bound()


def cut(s, n):
    """s cut to at most n UTF-8 bytes, at a character boundary."""
    b = s.encode()
    return s if len(b) <= n else b[:n].decode("utf-8", "ignore")


mock = qp.mock(models=[MODEL])
inst = qp.Instance(providers={PROVIDER: {
    "mock": mock, "protocols": ["openai"], "models": [MODEL],
    "accounts": ["c1", "c2"]}})
dp.start(inst)
CLIENT = inst.key
ADMIN = inst.new_key("boss", admin_role=True)

# The static model is in the catalog once the maintenance thread ran.
deadline = time.monotonic() + 10
while not dp.query(inst, "SELECT 1 FROM model_catalog WHERE model_id = ?",
                   (MODEL,)) and time.monotonic() < deadline:
    time.sleep(0.05)

# ---------------------------------------------------------------------------
# Known traffic: two completed requests and one refused for needing state
# no provider of the model keeps (a known model: it keeps its label).

known = []
for i in range(2):
    mock.script("*", {"usage": {"prompt": 10, "completion": 3}})
    r = inst.request("POST", OPENAI, dp.chat(MODEL))
    known.append(r)
is_eq([r.status for r in known], [200, 200], "the configured model is served")
r = inst.request("POST", "/v1/responses", {"model": MODEL, "input": "x",
                                           "previous_response_id": "resp_1"})
is_eq(r.status, 400, "the configured model, stateful over /v1/responses: 400")
WRONG_PROTO = dp.uid_of(r)

# ---------------------------------------------------------------------------
# 5,000 made-up model ids from the client key.

rng = random.Random(20240515)
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-._:" + "ABCXYZ"
WIDE = "éß模型ℵ😀"


def made_up(i):
    n = rng.choice((4, 12, 30, 60, 100, 127, 128, 129, 200, 250))
    s = "".join(rng.choice(ALPHABET) for _ in range(n))
    if i % 7 == 0:
        # Multi-byte characters around the bound.
        s = s[:KEEP - 3] + "".join(rng.choice(WIDE) for _ in range(6)) + s
    if i % 5 == 0:
        s += "/" + PROVIDER     # a configured provider, an unknown model
    elif i % 11 == 0:
        s += "/nosuchprovider"
    return "m%05d-%s" % (i, s)


ids = [made_up(i) for i in range(N_UNKNOWN)]
is_eq(len(set(ids)), N_UNKNOWN, "5,000 distinct made-up model ids")
results = [None] * N_UNKNOWN
next_i = [0]
lock = threading.Lock()


def sender():
    conn = None
    while True:
        with lock:
            i = next_i[0]
            next_i[0] += 1
        if i >= N_UNKNOWN:
            break
        path = OPENAI if i % 2 == 0 else ANTHROPIC
        body = json.dumps(dp.chat(ids[i]) if path == OPENAI else
                          dp.messages(ids[i])).encode()
        for _ in range(3):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", inst.port,
                                                      timeout=30)
                conn.request("POST", path, body=body, headers={
                    "Content-Type": "application/json",
                    "Authorization": "Bearer " + CLIENT})
                resp = conn.getresponse()
                resp.read()
                results[i] = (resp.status,
                              resp.getheader("x-proxy-request-id"))
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                break
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
    if conn is not None:
        conn.close()


t0 = time.monotonic()
threads = [threading.Thread(target=sender) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
qp.diag("sent %d requests in %.1f s" % (N_UNKNOWN, time.monotonic() - t0))
statuses = {}
for res in results:
    statuses[res[0] if res else None] = statuses.get(res[0] if res else None,
                                                      0) + 1
is_eq(statuses, {404: N_UNKNOWN}, "every made-up model id: 404")
UIDS = [res[1] if res else None for res in results]
ok(all(UIDS), "every refusal carries x-proxy-request-id")

# Their rows are written just after the answers.
deadline = time.monotonic() + 30
while dp.query(inst, "SELECT count(*) AS n FROM requests WHERE status <> "
               "'pending'")[0]["n"] < N_UNKNOWN + 3 and \
        time.monotonic() < deadline:
    time.sleep(0.1)

# ---------------------------------------------------------------------------
# The request rows keep the raw ids, cut at the bound.

rows = {r["request_uid"]: r for r in dp.query(
    inst, "SELECT request_uid, model, model_base, status, status_code, "
    "provider_id FROM requests")}
bad = []
for i, uid in enumerate(UIDS):
    row = rows.get(uid)
    base = ids[i]
    if base.endswith("/" + PROVIDER):
        base = base[:-len(PROVIDER) - 1]
    want = (cut(ids[i], KEEP), cut(base, KEEP), "rejected", 404, None)
    got = None if row is None else (row["model"], row["model_base"],
                                    row["status"], row["status_code"],
                                    row["provider_id"])
    if got != want:
        bad.append((i, ids[i], got, want))
is_eq(bad[:5], [], "each refused request's row keeps its raw id cut to %d "
      "bytes at a character boundary (%d rows differ)" % (KEEP, len(bad)))
cmp_ok(sum(1 for s in ids if len(s.encode()) > KEEP), ">", 500,
       "many of the ids were longer than the bound")
longest = dp.query(inst, "SELECT max(length(CAST(model AS BLOB))) AS n, "
                   "max(length(CAST(model_base AS BLOB))) AS b FROM requests "
                   "WHERE status = 'rejected' AND status_code = 404")[0]
ok(longest["n"] <= KEEP and longest["b"] <= KEEP,
   "no request row keeps more than %d bytes of an unknown id" % KEEP,
   lambda: repr(longest))

# ---------------------------------------------------------------------------
# The rollups know the configured model, "(unknown)" and nothing else.

labels = {}
for table in ("stats_requests", "stats_errors", "stats_latency",
              "stats_attempts", "stats_routing"):
    labels[table] = sorted(r["model"] for r in dp.query(
        inst, "SELECT DISTINCT model FROM %s" % table))
for table, got in labels.items():
    ok(set(got) <= {MODEL, UNKNOWN, ""}, "%s: model labels are the "
       "configured model and %s only" % (table, UNKNOWN),
       lambda got=got: repr(got[:10]) + " (%d labels)" % len(got))
for table in ("stats_requests", "stats_errors", "stats_routing"):
    ok(UNKNOWN in labels[table], "%s counts the unknown models" % table)
per_status = {(r["model"], r["status"]): r["n"] for r in dp.query(
    inst, "SELECT model, status, sum(requests) AS n FROM stats_requests "
    "WHERE bucket_s = 0 GROUP BY model, status")}
is_eq(per_status, {(MODEL, "completed"): 2, (MODEL, "rejected"): 1,
                   (UNKNOWN, "rejected"): N_UNKNOWN},
      "all-time rollup: 5,000 under %s, the configured model under its own "
      "name (completed and refused)" % UNKNOWN)
hourly = dp.query(inst, "SELECT count(*) AS n FROM stats_requests")[0]["n"]
cmp_ok(hourly, "<=", 40, "stats_requests holds a handful of rows")
routing = dp.query(inst, "SELECT count(*) AS n FROM stats_routing")[0]["n"]
cmp_ok(routing, "<=", 100, "stats_routing holds a handful of rows")


# ---------------------------------------------------------------------------
# /metrics, pages and datasets stay small.

def get(path, key=ADMIN):
    return inst.request("GET", path, key=key, timeout=60)


r = get("/metrics")
is_eq(r.status, 200, "/metrics: 200")
cmp_ok(len(r.body), "<", METRICS_MAX, "/metrics: under 256 KB")
text = r.text if r.status == 200 else ""
m = re.search(r'^quotapool_requests_total\{provider="",model="\(unknown\)",'
              r'status="rejected"\} (\d+)$', text, re.M)
is_eq(int(m.group(1)) if m else None, N_UNKNOWN,
      "/metrics: the unknown models are one series of 5,000")
ok(re.search(r'^quotapool_requests_total\{provider="%s",model="%s",'
             r'status="completed"\} 2$' % (PROVIDER, MODEL), text, re.M),
   "/metrics: the configured model has its own series")
ok(not re.search(r'model="m\d{5}-', text), "/metrics names no made-up id")

PAGES = ["/", "/accounts", "/models", "/latency", "/timeseries",
         "/bandwidth", "/reliability", "/routing", "/pings", "/runtime",
         "/traces", "/traces/" + UIDS[0], "/traces/" + WRONG_PROTO,
         "/models?period=30d", "/timeseries?group_by=model&top=20",
         "/routing?period=30d", "/reliability?period=30d"]
DATASETS = ["summary", "accounts", "models", "latency", "timeseries",
            "bandwidth", "attempts", "retries", "routing", "pings", "errors",
            "operational", "pending-health", "recent-requests", "runtime"]
APIS = ["/api/stats/" + n for n in DATASETS] + [
    "/api/stats/" + n + "?period=30d" for n in DATASETS] + [
    "/api/stats/timeseries?group_by=model&top=20",
    "/api/stats/timeseries?group_by=provider_model&top=20",
    "/api/stats/recent-requests?limit=200", "/api/stats/errors?limit=200",
    "/api/stats/recent/" + UIDS[1], "/api/backoffs", "/api/events"]
sizes = []
for p in PAGES + APIS:
    r = get(p)
    sizes.append((p, r.status, len(r.body)))
is_eq([s for s in sizes if s[1] != 200], [], "every page and dataset: 200")
is_eq([s for s in sizes if s[2] >= PAGE_MAX], [],
      "every page and dataset: under 1 MB")
qp.diag("largest answers: %s" % ", ".join(
    "%s %d B" % (p, n) for p, _, n in sorted(sizes, key=lambda s: -s[2])[:4]))

models = get("/api/stats/models").try_json() or {}
names = sorted((x.get("provider"), x.get("model"))
               for x in models.get("models") or [])
is_eq(names, sorted([(PROVIDER, MODEL), ("", MODEL), ("", UNKNOWN)]),
      "models dataset: the configured model (served and refused) and "
      "%s" % UNKNOWN)
rec = get("/api/stats/recent-requests?limit=200").try_json() or {}
got = [x.get("model") for x in rec.get("requests") or []]
ok(len(got) == 200 and all(x is not None and len(x.encode()) <= KEEP
                           for x in got),
   "recent-requests lists the rows' raw ids, cut", lambda: repr(got[:3]))

qp.done()
