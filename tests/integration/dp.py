"""dp.py: helpers shared by the data-plane integration tests (test_proxy,
test_stream, test_failover, test_accounting, test_sdk).

Request bodies in both protocol families, readiness of a started instance,
bounded polling of the accounting rows, SSE decoding and checks of the
error shapes the gateway answers with (OpenAI or Anthropic family).
"""

import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"


def chat(model, text="hi", stream=False, **extra):
    """An OpenAI Chat Completions request body."""
    b = {"model": model, "messages": [{"role": "user", "content": text}]}
    if stream:
        b["stream"] = True
    b.update(extra)
    return b


def messages(model, text="hi", stream=False, max_tokens=64, **extra):
    """An Anthropic Messages request body."""
    b = {"model": model, "max_tokens": max_tokens,
         "messages": [{"role": "user", "content": text}]}
    if stream:
        b["stream"] = True
    b.update(extra)
    return b


def now_ms():
    return int(time.time() * 1000)


def query(inst, sql, args=()):
    """Rows of sql as dicts (a fresh read-only connection each time)."""
    for _ in range(50):
        try:
            c = inst.db()
            try:
                c.row_factory = sqlite3.Row
                return [dict(r) for r in c.execute(sql, args).fetchall()]
            finally:
                c.close()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            time.sleep(0.05)
    raise RuntimeError("database stayed locked: %s" % sql)


def wait_ready(inst, timeout=10.0):
    """Waits (bounded) until the app registered its process row, so the data
    plane stops answering 503 "starting". Returns True when ready."""
    deadline = time.monotonic() + timeout
    while True:
        pids = inst.app_pids()
        if pids:
            marks = ",".join("?" * len(pids))
            rows = query(inst, "SELECT id FROM processes WHERE stopped_at IS "
                         "NULL AND pid IN (%s)" % marks, pids)
            if rows:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def start(inst):
    """inst.start() and wait_ready(); bails out when the gateway is not up."""
    try:
        inst.start()
    except qp.StartError as e:
        qp.diag(str(e))
        inst.dump_logs()
        qp.bail_out("the gateway did not start")
    if not wait_ready(inst):
        inst.dump_logs()
        qp.bail_out("quotapool.fcgi registered no process row within 10 s")
    return inst


def row(inst, uid):
    """The requests row of request_uid uid (dict) or None."""
    rows = query(inst, "SELECT * FROM requests WHERE request_uid = ?", (uid,))
    return rows[0] if rows else None


def wait_row(inst, uid, pred=None, timeout=5.0):
    """Polls the requests row of uid until pred(row) (default: no longer
    pending); returns the last row seen (maybe None)."""
    pred = pred or (lambda r: r["status"] != "pending")
    deadline = time.monotonic() + timeout
    while True:
        r = row(inst, uid) if uid else None
        if r is not None and pred(r):
            return r
        if time.monotonic() >= deadline:
            return r
        time.sleep(0.05)


def attempts(inst, uid):
    """The attempt rows of uid, once its request row is closed (it closes
    just after the answer went out, with its last attempt)."""
    wait_row(inst, uid)
    return query(inst, "SELECT a.* FROM request_attempts AS a JOIN requests "
                 "AS r ON r.id = a.request_id WHERE r.request_uid = ? ORDER BY "
                 "a.attempt_number", (uid,))


def decisions(inst, uid):
    wait_row(inst, uid)
    return query(inst, "SELECT d.* FROM routing_decisions AS d JOIN "
                 "requests AS r ON r.id = d.request_id WHERE r.request_uid = ? "
                 "ORDER BY d.attempt_number", (uid,))


def backoff(inst, account):
    rows = query(inst, "SELECT * FROM account_backoffs WHERE account_name = ?",
                 (account,))
    return rows[0] if rows else None


def pending(inst, settle=3.0):
    """Requests still pending once the ones being finished have had up to
    settle seconds (a request's row is closed just after its answer went
    out, not before)."""
    deadline = time.monotonic() + settle
    while True:
        rows = query(inst, "SELECT request_uid, started_at FROM requests "
                     "WHERE status = 'pending'")
        if not rows or time.monotonic() >= deadline:
            return rows
        time.sleep(0.05)


def uid_of(resp):
    """x-proxy-request-id of a Response or Stream, or None."""
    return resp.headers.get("x-proxy-request-id")


def sse_json(body):
    """[(event, parsed JSON or the raw data text)] of an SSE body."""
    out = []
    for name, data in qp.parse_sse(body):
        try:
            out.append((name, json.loads(data)))
        except ValueError:
            out.append((name, data))
    return out


def openai_text(events):
    """The text of OpenAI chunks (delta.content joined)."""
    s = []
    for _, d in events:
        if isinstance(d, dict):
            for c in d.get("choices") or []:
                s.append((c.get("delta") or {}).get("content") or "")
    return "".join(s)


def anthropic_text(events):
    s = []
    for name, d in events:
        if name == "content_block_delta" and isinstance(d, dict):
            s.append((d.get("delta") or {}).get("text") or "")
    return "".join(s)


def usage_chunks(events):
    """OpenAI chunks carrying a usage object (the final usage-only chunk)."""
    return [d for _, d in events if isinstance(d, dict) and
            isinstance(d.get("usage"), dict)]


def show(r):
    """A short description of a Response for diagnostics."""
    return "  status %r, headers %r\n  body %r" % (
        r.status, dict(r.headers), r.body[:600])


def error_shape(r, family, name):
    """Checks that r carries a non-empty error body of its protocol family:
    OpenAI {"error":{"message":...,"type":...}}, Anthropic
    {"type":"error","error":{"type":...,"message":...}}. Returns the error
    object (or {})."""
    j = r.try_json()
    err = j.get("error") if isinstance(j, dict) else None
    good = isinstance(err, dict) and isinstance(err.get("message"), str) and \
        err["message"].strip() != "" and isinstance(err.get("type"), str) and \
        err["type"] != ""
    if family == "anthropic":
        good = good and j.get("type") == "error"
    qp.ok(len(r.body) > 0 and good and
          r.headers.get("Content-Type", "").startswith("application/json"),
          "%s: non-empty JSON error body in the %s shape" % (name, family),
          lambda: show(r))
    return err if isinstance(err, dict) else {}
