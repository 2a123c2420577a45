#!/usr/bin/env python3
"""test_stream.py: streamed answers through lighttpd and quotapool.fcgi:
events relayed one by one as the provider sends them (arrival times
measured), a client hanging up mid-stream (upstream transfer aborted, row
closed as client_disconnected with the usage seen so far), and kill -9 of
quotapool.fcgi mid-stream (lighttpd starts a new one, whose stale-request
finalizer closes the row as interrupted and logs an operational event)."""

import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import cmp_ok, is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(180)

mo = qp.mock(models=["gpt-s"])
ma = qp.mock(style="anthropic", models=["claude-s"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-s"],
           "accounts": ["so1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": ["claude-s"],
           "accounts": ["sa1"]},
})
dp.start(inst)


def event_times(chunks):
    """[(arrival time, event name, data)] from Stream.chunks: each event gets
    the arrival time of the chunk that completed it."""
    out, buf = [], b""
    for t, c in chunks:
        buf += c
        evs = qp.parse_sse(buf)
        # Only complete events (ended by a blank line) count.
        complete = buf.replace(b"\r\n", b"\n").rfind(b"\n\n")
        n = len(qp.parse_sse(buf[:complete + 2])) if complete >= 0 else 0
        for name, data in evs[len(out):n]:
            out.append((t, name, data))
    return out


def read_events(s, n, limit=10.0):
    """Reads s until n complete events arrived (or limit seconds passed)."""
    deadline = time.monotonic() + limit
    for _ in s:
        if len(event_times(s.chunks)) >= n or time.monotonic() > deadline:
            break
    return event_times(s.chunks)


# ---- incremental delivery -------------------------------------------------

INTERVAL = 0.2
# Shown events and their place in the upstream's sequence (scripted 200 ms
# apart). OpenAI: role, 6 deltas, finish, (usage chunk, asked for by the
# gateway and hidden), [DONE]. Anthropic: message_start,
# content_block_start, 6 deltas, content_block_stop, message_delta,
# message_stop.
for path, fam, mock, body, slots in (
        (OPENAI, "OpenAI", mo, dp.chat("gpt-s", stream=True),
         [0, 1, 2, 3, 4, 5, 6, 7, 9]),
        (ANTHROPIC, "Anthropic", ma, dp.messages("claude-s", stream=True),
         list(range(11)))):
    total = len(slots)
    mock.script("*", {"events": 6, "interval_ms": int(INTERVAL * 1000)})
    with inst.stream(path, body, timeout=20) as s:
        s.read_all()
        t0 = s.t_sent
    ev = event_times(s.chunks)
    is_eq(len(ev), total, "%s stream of 6 deltas 200 ms apart: every event "
          "arrives" % fam)
    if len(ev) != total:
        qp.skip("%s: no timing without every event" % fam, 4)
        continue
    first, last = ev[0][0] - t0, ev[-1][0] - t0
    rel = ["%.3f" % (t - t0 - first) for t, _, _ in ev]
    cmp_ok(first, "<", 0.8 * qp.TIMEOUT_SCALE, "%s stream: the first event "
           "arrives at once (%.0f ms after the request)" % (fam, first * 1000))
    span = slots[-1] * INTERVAL
    cmp_ok(last - first, ">=", span * 0.75,
           "%s stream: the last event arrives %.0f ms after the first "
           "(scripted %.0f ms): nothing held back" % (
               fam, (last - first) * 1000, span * 1000))
    distinct = len(set(t for t, _, _ in ev))
    cmp_ok(distinct, ">=", total - 2, "%s stream: events arrive in separate "
           "reads (%d of %d)" % (fam, distinct, total))
    # Each event no earlier than scripted (less jitter) and never far behind.
    # Under valgrind (QP_TIMEOUT_SCALE) the first event is late by the
    # translation of code not run before; those queued behind it catch up.
    early = first if qp.TIMEOUT_SCALE > 1 else 0.0
    off = [(i, r) for i, r in enumerate(rel)
           if float(r) < slots[i] * INTERVAL * 0.7 - early or
           float(r) > slots[i] * INTERVAL + 1.0 * qp.TIMEOUT_SCALE]
    is_eq(off, [], "%s stream: each event arrives on its scripted beat after "
          "the first (arrivals in s: %s)" % (fam, " ".join(rel)))

# ---- the client hangs up mid-stream ---------------------------------------

for path, fam, mock, body in (
        (OPENAI, "OpenAI", mo, dp.chat("gpt-s", stream=True)),
        (ANTHROPIC, "Anthropic", ma, dp.messages("claude-s", stream=True))):
    mock.reset()
    mock.script("*", {"events": 40, "interval_ms": 250,
                      "usage": {"prompt": 55, "cache_read": 11}})
    s = inst.stream(path, body, timeout=20)
    uid = dp.uid_of(s)
    got = read_events(s, 2)
    ok(len(got) >= 2, "%s disconnect: two events arrived first" % fam)
    t_close = time.monotonic()
    s.close()
    rec = mock.wait_for(lambda recs: [r for r in recs if r["path"] == path
                                      and r["client_closed"]], timeout=5)
    ok(rec, "%s disconnect: the provider sees its connection closed within "
       "5 s" % fam, lambda: "  mock records: %r" % mock.requests(path=path))
    if rec:
        lag = rec[0]["client_closed_mono"] - t_close
        cmp_ok(lag, "<", 2.0, "%s disconnect: upstream transfer aborted "
               "%.0f ms after the client left (events 250 ms apart)"
               % (fam, lag * 1000))
        cmp_ok(rec[0]["events_sent"], "<", rec[0]["events_total"],
               "%s disconnect: the provider did not have to finish (%d of "
               "%d events sent)" % (fam, rec[0]["events_sent"],
                                    rec[0]["events_total"]))
    else:
        qp.skip("no mock record", 2)
    row = dp.wait_row(inst, uid, timeout=5) or {}
    is_eq(row.get("status"), "client_disconnected",
          "%s disconnect: row closed as client_disconnected within 5 s" % fam)
    atts = dp.attempts(inst, uid)
    is_eq([a["outcome"] for a in atts], ["client_disconnected"],
          "%s disconnect: the attempt's outcome is client_disconnected" % fam)
    is_eq(row.get("stream_complete"), 0,
          "%s disconnect: stream_complete 0" % fam)
    if fam == "Anthropic":
        # message_start carried the input and cache numbers before the end.
        is_eq((row.get("input_tokens"), row.get("cache_read_tokens")),
              (55, 11), "Anthropic disconnect: the usage seen so far is kept")

is_eq(dp.pending(inst), [], "no request is left pending after disconnects")

# ---- the provider cuts its stream -----------------------------------------

for path, fam, mock, body in (
        (OPENAI, "OpenAI", mo, dp.chat("gpt-s", stream=True)),
        (ANTHROPIC, "Anthropic", ma, dp.messages("claude-s", stream=True))):
    mock.reset()
    mock.script("*", {"events": 6, "cut_after": 3})
    with inst.stream(path, body, timeout=20) as s:
        got = s.read_all()
        uid = dp.uid_of(s)
        is_eq(s.status, 200, "%s cut by the provider: the stream had begun "
              "(200)" % fam)
    evs = dp.sse_json(got)
    ok(len(evs) == 3 and b"[DONE]" not in got and b"message_stop" not in got,
       "%s cut by the provider: the 3 events sent, no terminator made up"
       % fam, lambda: repr(got[-300:]))
    row = dp.wait_row(inst, uid) or {}
    is_eq((row.get("status"), row.get("stream_complete"),
           row.get("attempt_count")), ("error", 0, 1),
          "%s cut by the provider: row error, stream incomplete, no "
          "failover after the first byte" % fam)
    is_eq([a["outcome"] for a in dp.attempts(inst, uid)], ["stream_error"],
          "%s cut by the provider: attempt outcome stream_error" % fam)
    is_eq(len(mock.requests(path=path)), 1,
          "%s cut by the provider: one upstream request" % fam)

# ---- keepalive comments while the provider is silent ----------------------

mo.reset()
mo.script("*", {"events": 2, "first_event_delay_ms": 2600})
with inst.stream(OPENAI, dp.chat("gpt-s", stream=True), timeout=20) as s:
    got = s.read_all()
    t0 = s.t_sent
first_t = s.chunks[0][0] - t0 if s.chunks else None
ok(got.startswith(b":"), "silent provider: the client first gets SSE "
   "comments", lambda: repr(got[:200]))
ok(first_t is not None and first_t < 2.0, "silent provider: something "
   "arrives before the first event (after %s s)" % (
       "%.2f" % first_t if first_t is not None else "-"))
is_eq(dp.openai_text(dp.sse_json(got)), "hello world",
      "silent provider: the events follow, complete")

# ---- concurrent streams ---------------------------------------------------

N = 8
mo.reset()
mo.set_default("*", {"events": 10, "interval_ms": 100})
streams = [inst.stream(OPENAI, dp.chat("gpt-s", stream=True), timeout=20)
           for _ in range(N)]
t0 = time.monotonic()
bodies = []
for s in streams:
    bodies.append(s.read_all())
    s.close()
took = time.monotonic() - t0
mo.set_default("*", None)
is_eq([dp.openai_text(dp.sse_json(b)) for b in bodies],
      ["hello world hello world hello world hello world hello world"] * N,
      "%d concurrent streams: each relayed whole" % N)
cmp_ok(took, "<", 6.0, "%d concurrent streams of ~1.2 s each run side by "
       "side (%.1f s in all)" % (N, took))
rows = [dp.wait_row(inst, dp.uid_of(s)) or {} for s in streams]
is_eq([r.get("status") for r in rows], ["completed"] * N,
      "%d concurrent streams: every row completed" % N)

# ---- kill -9 of quotapool.fcgi mid-stream ---------------------------------

mo.reset()
mo.script("*", {"events": 60, "interval_ms": 250})
old = inst.app_pids()
is_eq(len(old), 1, "one quotapool.fcgi runs", )
old_refs = [qp.ProcRef(p) for p in old]
s = inst.stream(OPENAI, dp.chat("gpt-s", stream=True), timeout=15)
uid = dp.uid_of(s)
got = read_events(s, 2)
ok(len(got) >= 2 and uid, "kill -9: the stream had started")
prow = dp.query(inst, "SELECT id FROM processes WHERE pid = ? AND stopped_at "
                "IS NULL", (old[0],)) if old else []
t_kill = dp.now_ms()
for r in old_refs:
    r.kill(signal.SIGKILL)
deadline = time.monotonic() + 5
while any(r.alive() for r in old_refs) and time.monotonic() < deadline:
    time.sleep(0.02)
ok(not any(r.alive() for r in old_refs), "kill -9: quotapool.fcgi is gone")
body = s.read_all()
s.close()
ok(b"[DONE]" not in body, "kill -9: the client's stream ends without [DONE]")
rec = mo.wait_for(lambda recs: [r for r in recs if r["path"] == OPENAI and
                                r["client_closed"]], timeout=5)
ok(rec, "kill -9: the provider sees its connection closed")
row = dp.row(inst, uid) or {}
is_eq(row.get("status"), "pending",
      "kill -9: the row is left pending by the dead process")

# lighttpd starts a new quotapool.fcgi (on the next request at the latest).
new = []
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    try:
        inst.request("GET", "/v1/healthz", key=None, timeout=5)
    except OSError:
        pass
    new = [p for p in inst.app_pids() if p not in old]
    if new:
        break
    time.sleep(0.2)
ok(new, "kill -9: lighttpd runs a new quotapool.fcgi within 15 s",
   lambda: "  processes: %r" % [qp.ProcRef(p) for p in inst.pids()])
ok(dp.wait_ready(inst, 10), "kill -9: the new process registers itself")

row = dp.wait_row(inst, uid, timeout=15) or {}
is_eq(row.get("status"), "interrupted",
      "kill -9: the stale-request finalizer closes the row as interrupted "
      "within 15 s")
ok(row.get("completed_at"), "kill -9: the interrupted row has completed_at")
atts = dp.attempts(inst, uid)
is_eq([(a["outcome"], a["completed_at"] is not None) for a in atts],
      [("interrupted", True)], "kill -9: its attempt is closed as interrupted")
evs = dp.query(inst, "SELECT event_type, details_json FROM "
               "operational_events WHERE occurred_at >= ?", (t_kill,))


def closed_requests(e):
    try:
        n = json.loads(e["details_json"]).get("requests")
    except (ValueError, AttributeError):
        return 0
    return n if isinstance(n, int) else 0


ok([e for e in evs if closed_requests(e) >= 1],
   "kill -9: an operational_events row reports the closed request",
   lambda: "  events since the kill: %r" % evs)
if prow:
    pr = dp.query(inst, "SELECT stopped_at FROM processes WHERE id = ?",
                  (prow[0]["id"],))
    ok(pr and pr[0]["stopped_at"] is not None,
       "kill -9: the dead process's row is marked stopped",
       lambda: "  processes: %r" % dp.query(inst, "SELECT * FROM processes"))
else:
    ok(False, "kill -9: the dead process had a processes row")
res = dp.query(inst, "SELECT count(*) AS n FROM reservations WHERE "
               "request_id = (SELECT id FROM requests WHERE request_uid = ?)",
               (uid,))
is_eq(res[0]["n"] if res else None, 0,
      "kill -9: the interrupted request holds no reservation")

mo.reset(scripts=True)
r = inst.request("POST", OPENAI, dp.chat("gpt-s"))
is_eq(r.status, 200, "after the restart requests are served again")
is_eq(dp.pending(inst), [], "no request is left pending at the end")

res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
