#!/usr/bin/env python3
"""test_health.py: liveness, readiness, unknown paths and clean shutdown,
through lighttpd and quotapool.fcgi started by `quotapool-admin serve`."""

import os
import socket
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)


def body_of(r):
    return "  status %d, body: %r" % (r.status, r.body[:500])


mock = qp.mock(models=["m1"])
inst = qp.Instance(providers={"p1": {
    "mock": mock, "protocols": ["openai"], "models": ["m1"],
    "accounts": ["a1"]}})

# The database is not migrated: the gateway must start all the same.
try:
    inst.start(migrate=False, key=False)
    started = True
except qp.StartError as e:
    started = False
    ok(False, "serve starts on a database that is not migrated", str(e))
    inst.dump_logs()
    qp.bail_out("the gateway did not start")
ok(started, "serve starts on a database that is not migrated")

r = inst.request("GET", "/v1/healthz", key=None)
is_eq(r.status, 200, "GET /v1/healthz: 200 without credentials")
is_eq(r.try_json(), {"status": "ok"}, "GET /v1/healthz: {\"status\":\"ok\"}")
like(r.headers.get("Content-Type", ""), r"^application/json",
     "GET /v1/healthz: JSON content type")

r = inst.request("GET", "/v1/readyz", key=None)
is_eq(r.status, 503, "GET /v1/readyz before migrate: 503")
j = r.try_json()
ok(isinstance(j, dict), "GET /v1/readyz before migrate: JSON object",
   body_of(r))
j = j if isinstance(j, dict) else {}
like(j.get("reason"), r"(?i)migrat",
     "GET /v1/readyz before migrate: the reason mentions migration")

res = inst.admin("migrate")
is_eq(res.rc, 0, "quotapool-admin migrate while serving: exit 0")
r = inst.wait_status("/v1/readyz", 200, timeout=15)
is_eq(r.status if r else None, 200,
      "GET /v1/readyz after migrate: 200 (within 15 s)")
is_eq(r.try_json() if r else None, {"status": "ok"},
      "GET /v1/readyz after migrate: {\"status\":\"ok\"}")

r = inst.request("GET", "/no/such/path", key=None)
is_eq(r.status, 404, "GET /no/such/path: 404")
j = r.try_json()
ok(isinstance(j, dict) and isinstance(j.get("error"), dict),
   "GET /no/such/path: JSON body {\"error\":{...}}", body_of(r))
inst.key = inst.new_key("health")
r = inst.request("GET", "/no/such/path")
is_eq((r.status, isinstance((r.try_json() or {}).get("error"), dict)),
      (404, True), "GET /no/such/path with a valid key: 404 JSON too")
r = inst.request("GET", "/v1/healthz", key=None)
is_eq(r.status, 200, "GET /v1/healthz: still open once keys exist")

r = inst.request("POST", "/v1/healthz", body={}, key=None)
is_eq(r.status, 405, "POST /v1/healthz: 405")
like(r.headers.get("Allow", ""), r"\bGET\b", "POST /v1/healthz: Allow: GET")
j = r.try_json()
ok(isinstance(j, dict) and isinstance(j.get("error"), dict),
   "POST /v1/healthz: JSON error body", body_of(r))

ok(inst.lighttpd_pids(), "lighttpd runs under serve",
   lambda: "  processes: %r" % [qp.ProcRef(p) for p in inst.pids()])
apps = inst.app_pids()
ok(apps, "quotapool.fcgi runs under lighttpd",
   lambda: "  processes: %r" % [qp.ProcRef(p) for p in inst.pids()])

port = inst.port
res = inst.stop(timeout=5)
is_eq(res.rc, 0, "SIGTERM to serve: exit status 0")
ok(not res.forced, "SIGTERM to serve: no SIGKILL needed")
cmp_ok(res.elapsed, "<", 5.0, "SIGTERM to serve: everything gone within 5 s")
is_eq(res.leftovers, [], "SIGTERM to serve: no process left behind")
comms = sorted({p.comm for p in res.stopped})
ok("lighttpd" in comms and "quotapool.fcgi" in comms,
   "SIGTERM to serve: lighttpd and quotapool.fcgi were among those stopped",
   "  stopped: %r" % (res.stopped,))
s = socket.socket()
try:
    s.bind(("127.0.0.1", port))
    freed = True
except OSError:
    freed = False
finally:
    s.close()
ok(freed, "SIGTERM to serve: the port is free again")
ok("quotapool listening on http://127.0.0.1:%d/" % port in
   inst.logs().get("serve.out", ""), "serve printed its listening line")

qp.done()
