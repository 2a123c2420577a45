#!/usr/bin/env python3
"""test_fold_migration.py: schema/0005 folds the rollup rows that made-up
model ids left in a database of an earlier release into "(unknown)", sums
kept, while rows of catalog models and of requests that reached a provider
stay as they were; `quotapool-admin migrate` applies it."""

import glob
import hashlib
import os
import sqlite3
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
from qp import is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(60)

schema = sorted(glob.glob(os.path.join(qp.SRCDIR, "schema", "0*.sql")))
before = [f for f in schema if int(os.path.basename(f)[:4]) < 5]
inst = qp.Instance()
db = sqlite3.connect(inst.db_path)
db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT "
           "NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)")
for f in before:
    text = open(f).read()
    db.executescript(text)
    db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?, 0)",
               (int(os.path.basename(f)[:4]), os.path.basename(f),
                hashlib.sha256(text.encode()).hexdigest()))
db.execute("INSERT INTO model_catalog (provider_id, model_id, source, first_seen_at, "
           "last_seen_at) VALUES ('p1', 'known', 'static', 0, 0)")
H = 3600
# Requests that reached no provider, for 300 made-up ids and one known model,
# in two hourly buckets; one request that reached a provider with a made-up id.
for i in range(300):
    for b in (0, H):
        db.execute("INSERT INTO stats_requests (bucket_s, bucket_start, provider_id, "
                   "model, account_name, status, requests, input_tokens) VALUES "
                   "(?, ?, '', ?, '', 'rejected', 1, ?)", (H, b, "made-up-%d" % i, i))
        db.execute("INSERT INTO stats_errors (bucket_s, bucket_start, provider_id, "
                   "model, account_name, status, error_class, requests) VALUES "
                   "(?, ?, '', ?, '', 'rejected', 'no_model', 2)", (H, b, "made-up-%d" % i))
        db.execute("INSERT INTO stats_routing (bucket_s, bucket_start, model, "
                   "account_name, provider_id, reason, decisions) VALUES "
                   "(?, ?, ?, '', '', 'no_account', 3)", (H, b, "made-up-%d" % i))
db.execute("INSERT INTO stats_requests (bucket_s, bucket_start, provider_id, model, "
           "account_name, status, requests, input_tokens) VALUES "
           "(?, 0, '', 'known', '', 'rejected', 5, 50)", (H,))
db.execute("INSERT INTO stats_requests (bucket_s, bucket_start, provider_id, model, "
           "account_name, status, requests, input_tokens) VALUES "
           "(?, 0, 'p1', 'made-up-x', 'a1', 'completed', 7, 70)", (H,))
db.execute("INSERT INTO stats_routing (bucket_s, bucket_start, model, account_name, "
           "provider_id, reason, decisions) VALUES (?, 0, 'made-up-y', 'a1', 'p1', "
           "'chosen', 4)", (H,))
db.commit()


def sums(t, col):
    return db.execute("SELECT count(*), total(%s) FROM %s" % (col, t)).fetchone()


pre = {t: sums(t, c) for t, c in (("stats_requests", "requests"),
                                  ("stats_errors", "requests"),
                                  ("stats_routing", "decisions"))}
tok = db.execute("SELECT total(input_tokens) FROM stats_requests").fetchone()[0]
db.close()

r = inst.admin("migrate")
is_eq(r.rc, 0, "migrate applies 0005")
db = sqlite3.connect(inst.db_path)
is_eq(db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0],
      int(os.path.basename(schema[-1])[:4]), "the database is at the latest version")
for t, c in (("stats_requests", "requests"), ("stats_errors", "requests"),
             ("stats_routing", "decisions")):
    n, total = sums(t, c)
    is_eq(total, pre[t][1], "%s: the sums are kept" % t)
    ok(n < 10, "%s: %d rows where there were %d" % (t, n, pre[t][0]))
is_eq(db.execute("SELECT total(input_tokens) FROM stats_requests").fetchone()[0], tok,
      "stats_requests: tokens kept")
is_eq(db.execute("SELECT bucket_start, requests, input_tokens FROM stats_requests "
                 "WHERE model = '(unknown)' ORDER BY bucket_start").fetchall(),
      [(0, 300, sum(range(300))), (H, 300, sum(range(300)))],
      "one (unknown) row per bucket with the made-up ids' sums")
is_eq(db.execute("SELECT requests FROM stats_requests WHERE model = 'known'").fetchall(),
      [(5,)], "a catalog model keeps its row")
is_eq(db.execute("SELECT requests FROM stats_requests WHERE model = 'made-up-x'").fetchall(),
      [(7,)], "a request that reached a provider keeps its row")
is_eq(db.execute("SELECT decisions FROM stats_routing WHERE model = 'made-up-y'").fetchall(),
      [(4,)], "a decision that chose an account keeps its row")
is_eq(db.execute("SELECT count(*) FROM stats_routing WHERE model LIKE 'made-up-%' "
                 "AND reason <> 'chosen'").fetchone()[0], 0, "no other made-up id is left")
db.close()
qp.done()
