#!/usr/bin/env python3
"""test_admin_db.py: quotapool-admin db check|vacuum|prune and [retention]
against a gateway (lighttpd + quotapool.fcgi + a mock provider).

Requests are served, then the whole database is moved back ten days (rows
and rollups alike, so the rollups still equal the rows). Started again with
[retention] requests_days = 3, the maintenance thread deletes those rows at
once and the rollups of their days stay. Rows moved back two days go with
`db prune --older-than 1d` while the gateway serves; wherever rows remain,
the hour and day rollups equal them. db check says ok, and exit 1 with the
problems on a damaged copy; db vacuum gives the freed pages back."""

import json
import os
import shutil
import sqlite3
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

DAY = 86400000
HOUR = 3600000
mock = qp.mock(style="openai", models=["m1"])
inst = qp.Instance(providers={"p": {
    "mock": mock, "protocols": ["openai"], "models": ["m1"],
    "accounts": ["a", "b"]}},
    sections={"retention": {"requests_days": 3, "events_days": 3, "interval_s": 60},
              "routing": {"transient_backoff_s": 1}})


def adm(*args):
    return inst.admin(*args)


def one_line_err(r):
    lines = r.lines("err")
    return len(lines) == 1 and lines[0].startswith("quotapool-admin: ")


def rw():
    c = sqlite3.connect(inst.db_path, timeout=10)
    return c


def q1(sql, args=()):
    return dp.query(inst, sql, args)[0]


def serve(n, fail_first=False):
    """n requests through the gateway (200 each); with fail_first, a's first
    attempt answers 500 and the request fails over to b."""
    uids = []
    for i in range(n):
        if fail_first and i == 0:
            mock.script("k-a", {"status": 500})
        r = inst.request("POST", OPENAI, dp.chat("m1", stream=(i % 2 == 1)))
        ok(r.status == 200, "request served", lambda: dp.show(r))
        uids.append(dp.uid_of(r))
    for u in uids:
        dp.wait_row(inst, u)
    return uids


def shift(ms):
    """Moves every row and rollup (of buckets of 5 minutes, an hour, a day)
    back by ms, a whole number of days: rollups still equal their rows."""
    c = rw()
    with c:
        c.execute("UPDATE requests SET started_at = started_at - ?1, completed_at = "
                  "completed_at - ?1", (ms,))
        c.execute("UPDATE request_attempts SET started_at = started_at - ?1, "
                  "completed_at = completed_at - ?1", (ms,))
        c.execute("UPDATE routing_decisions SET decided_at = decided_at - ?1", (ms,))
        c.execute("UPDATE operational_events SET occurred_at = occurred_at - ?1", (ms,))
        for t in ("stats_requests", "stats_errors", "stats_latency",
                  "stats_attempts", "stats_routing"):
            c.execute("UPDATE %s SET bucket_start = bucket_start - ?1 "
                      "WHERE bucket_s > 0" % t, (ms,))
    c.close()


def mismatches(g):
    """Rows of hour or day buckets (g ms) that differ from their rollups,
    where rows remain (stats_requests, stats_attempts, stats_routing)."""
    s = g // 1000
    c = inst.db()
    bad = 0
    try:
        sums = ("SELECT completed_at / %d * %d AS b, coalesce(provider_id, ''), "
                "coalesce(model_base, ''), coalesce(account_name, ''), status, "
                "count(*), sum(streamed), sum(attempt_count), sum(input_tokens), "
                "sum(output_tokens), sum(cost_microdollars), sum(bytes_in), "
                "sum(bytes_out) FROM requests WHERE status <> 'pending' "
                "GROUP BY 1, 2, 3, 4, 5" % (g, g))
        roll = ("SELECT bucket_start, provider_id, model, account_name, status, "
                "requests, streamed, attempts, input_tokens, output_tokens, "
                "cost_microdollars, bytes_in, bytes_out FROM stats_requests WHERE "
                "bucket_s = %d AND bucket_start IN (SELECT b FROM (%s))" % (s, sums))
        bad += c.execute("SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + (SELECT "
                         "count(*) FROM (%s EXCEPT %s))" % (sums, roll, roll, sums)
                         ).fetchone()[0]
        sums = ("SELECT coalesce(a.completed_at, r.completed_at) / %d * %d AS b, "
                "a.provider_id, a.account_name, a.model, coalesce(a.outcome, ''), "
                "coalesce(a.retry_category, ''), count(*) FROM request_attempts AS a "
                "JOIN requests AS r ON r.id = a.request_id WHERE r.status <> 'pending' "
                "GROUP BY 1, 2, 3, 4, 5, 6" % (g, g))
        roll = ("SELECT bucket_start, provider_id, account_name, model, outcome, "
                "retry_category, attempts FROM stats_attempts WHERE bucket_s = %d AND "
                "bucket_start IN (SELECT b FROM (%s))" % (s, sums))
        bad += c.execute("SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + (SELECT "
                         "count(*) FROM (%s EXCEPT %s))" % (sums, roll, roll, sums)
                         ).fetchone()[0]
        sums = ("SELECT d.decided_at / %d * %d AS b, d.model, coalesce(d.chosen_account, "
                "''), count(*) FROM routing_decisions AS d JOIN requests AS r ON "
                "r.id = d.request_id WHERE r.status <> 'pending' GROUP BY 1, 2, 3" % (g, g))
        roll = ("SELECT bucket_start, model, account_name, sum(decisions) FROM "
                "stats_routing WHERE bucket_s = %d AND reason IN ('chosen', 'no_account') "
                "AND bucket_start IN (SELECT b FROM (%s)) GROUP BY 1, 2, 3" % (s, sums))
        bad += c.execute("SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + (SELECT "
                         "count(*) FROM (%s EXCEPT %s))" % (sums, roll, roll, sums)
                         ).fetchone()[0]
    finally:
        c.close()
    return bad


def day_sum(lo, hi):
    return q1("SELECT coalesce(sum(requests), 0) AS n FROM stats_requests WHERE "
              "bucket_s = 86400 AND bucket_start >= ? AND bucket_start < ?", (lo, hi))["n"]


def all_time():
    return q1("SELECT coalesce(sum(requests), 0) AS n FROM stats_requests WHERE "
              "bucket_s = 0")["n"]


# ---- usage --------------------------------------------------------------------

r = adm("db", "--help")
ok(r.rc == 0 and "prune --older-than DURATION" in r.out, "db --help: exit 0", repr(r))
for args, what in ((("db",), "db alone"), (("db", "shrink"), "db shrink"),
                   (("db", "prune"), "prune without --older-than"),
                   (("db", "prune", "--older-than", "90"), "a duration without unit"),
                   (("db", "prune", "--older-than", "0d"), "a zero duration"),
                   (("db", "prune", "--older-than", "3w"), "weeks")):
    r = adm(*args)
    ok(r.rc == 2 and one_line_err(r), "%s: exit 2, one line" % what, repr(r))

# ---- requests, then the database moved back ten days -------------------------

dp.start(inst)
serve(6, fail_first=True)
ok(mismatches(HOUR) + mismatches(DAY) == 0, "the rollups equal the rows")
res = inst.stop()
is_eq(res.rc, 0, "the gateway stops")
shift(10 * DAY)
old_n = q1("SELECT count(*) AS n FROM requests")["n"]
is_eq(old_n, 6, "six requests, now ten days old")
is_eq(mismatches(HOUR) + mismatches(DAY), 0, "moved with their rollups: still equal")
hist = day_sum(0, dp.now_ms() - 5 * DAY)
is_eq(hist, 6, "the day rollups ten days back count them")
total = all_time()

# ---- [retention] applied by the maintenance thread ---------------------------

dp.start(inst)
deadline = time.monotonic() + 20
while q1("SELECT count(*) AS n FROM requests")["n"] > 0 and time.monotonic() < deadline:
    time.sleep(0.1)
is_eq(q1("SELECT count(*) AS n FROM requests")["n"], 0,
      "[retention] requests_days = 3: maintenance deleted the ten-day-old requests")
is_eq(q1("SELECT (SELECT count(*) FROM request_attempts) + (SELECT count(*) FROM "
         "routing_decisions) AS n")["n"], 0, "with their attempts and decisions")
is_eq(q1("SELECT count(*) AS n FROM operational_events WHERE occurred_at < ?",
         (dp.now_ms() - 3 * DAY,))["n"], 0, "and the old operational events")
is_eq(day_sum(0, dp.now_ms() - 5 * DAY), hist, "their day rollups stay (the history)")
is_eq(all_time(), total, "the all-time totals stay")
ADMIN = inst.new_key("boss", admin_role=True)
rt = inst.request("GET", "/api/stats/runtime", key=ADMIN).try_json() or {}
task = [t for t in rt.get("maintenance") or [] if t.get("name") == "retention"]
is_eq((task[0].get("interval_ms"), task[0].get("last_ok")) if task else None, (60000, True),
      "runtime: the retention task runs every interval_s = 60 s, last run ok")
like(task[0].get("note", "") if task else "", r"^6 requests, 0 attempts, 0 decisions, "
     r"\d+ events deleted$", "runtime: its note says what it deleted")

# ---- db prune while the gateway serves ----------------------------------------

serve(4)
res = inst.stop()
shift(2 * DAY)
dp.start(inst)
fresh = serve(3)
is_eq(mismatches(HOUR) + mismatches(DAY), 0, "rows two days old and fresh: rollups equal")
two_days = day_sum(dp.now_ms() - 4 * DAY, dp.now_ms() - DAY)
is_eq(two_days, 4, "the day rollups two days back count 4")
total = all_time()
r = adm("db", "prune", "--older-than", "1d", "--json")
is_eq(r.rc, 0, "db prune --older-than 1d: exit 0") or qp.diag(repr(r))
j = json.loads(r.out) if r.rc == 0 else {}
is_eq(j.get("requests"), 4, "prune: the 4 requests that ended before the cutoff")
like(j.get("requests_cutoff", ""), r"^\d{4}-\d\d-\d\dT00:00:00Z$",
     "prune: the cutoff is a UTC midnight")
left = [x["request_uid"] for x in dp.query(inst, "SELECT request_uid FROM requests")]
is_eq(sorted(left), sorted(fresh), "the fresh requests remain, only they")
is_eq(mismatches(HOUR), 0, "hour rollups equal the rows where rows remain")
is_eq(mismatches(DAY), 0, "day rollups equal the rows where rows remain")
is_eq(day_sum(dp.now_ms() - 4 * DAY, dp.now_ms() - DAY), two_days,
      "the pruned days keep their rollups")
is_eq(all_time(), total, "the all-time totals stay")
r = adm("db", "prune", "--older-than", "36h")
ok(r.rc == 0 and r.out.startswith("deleted 0 requests that ended before "),
   "prune again (36h): nothing left to delete, said in words", repr(r))
x = inst.request("POST", OPENAI, dp.chat("m1"))
is_eq(x.status, 200, "the gateway serves on")

# ---- check and vacuum ----------------------------------------------------------

r = adm("db", "check")
ok(r.rc == 0 and r.out.strip().endswith(": ok (integrity_check, foreign keys)"),
   "db check: ok, exit 0", repr(r))
r = adm("db", "check", "--quick", "--json")
j = json.loads(r.out) if r.rc == 0 else {}
is_eq((r.rc, j.get("ok"), j.get("check")), (0, True, "quick_check"), "db check --quick --json")
r = adm("db", "vacuum", "--json")
is_eq(r.rc, 0, "db vacuum: exit 0 while the gateway runs") or qp.diag(repr(r))
j = json.loads(r.out) if r.rc == 0 else {}
is_eq(j.get("free_pages_after"), 0, "vacuum: no free page left")
# VACUUM rebuilds sqlite_schema as well; with this many tables the rebuilt
# schema b-tree may take one page more than the one the migrations grew
# (a freshly migrated database: 58 pages, 59 after VACUUM), so the file may
# grow by that one page and no more.
cmp_ok(j.get("bytes_after", 1 << 40), "<=", j.get("bytes_before", 0) + 4096,
       "vacuum: the database did not grow (beyond sqlite_schema's one page)")
x = inst.request("POST", OPENAI, dp.chat("m1"))
is_eq(x.status, 200, "the gateway serves after the vacuum")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")

# A damaged copy: bytes of an index's leaf page overwritten.
bad_dir = qp.tempdir("qp-dbcheck-")
bad_db = os.path.join(bad_dir, "bad.db")
c = rw()
with c:
    c.executemany("INSERT INTO operational_events (event_type, details_json, occurred_at) "
                  "VALUES ('test', '{}', ?)", [(i,) for i in range(3000)])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
shutil.copy(inst.db_path, bad_db)
c = sqlite3.connect(bad_db)
pages = c.execute("SELECT pageno FROM dbstat WHERE name = 'operational_events_occurred' "
                  "AND pagetype = 'leaf' ORDER BY pageno").fetchall()
psize = c.execute("PRAGMA page_size").fetchone()[0]
c.close()
ok(len(pages) > 2, "the index spans several leaf pages")
with open(bad_db, "r+b") as f:
    f.seek((pages[-2][0] - 1) * psize + psize - 300)
    f.write(b"\x07" * 8)
cfg = os.path.join(bad_dir, "config.toml")
with open(cfg, "w") as f:
    f.write(inst.config_text().replace(inst.db_path, bad_db))
r = qp.admin("db", "check", config=cfg)
ok(r.rc == 1 and one_line_err(r) and "is not ok" in r.err,
   "db check on the damaged copy: exit 1, one line on stderr", repr(r))
like(r.out, r"missing from index operational_events_occurred",
     "db check lists the problems found")
r = qp.admin("db", "check", "--json", config=cfg)
j = json.loads(r.out) if r.out.strip() else {}
ok(r.rc == 1 and j.get("ok") is False and len(j.get("integrity") or []) > 0,
   "db check --json on the damaged copy: ok false, the problems listed", repr(r))
qp.done()
