#!/usr/bin/env python3
"""test_catalog_retry.py: a provider that is down when the gateway starts gets
its model catalog as soon as it comes up, not a refresh interval later.

The gateway starts first (refresh_interval_s 300, the default) while nothing
listens at the provider's address; /v1/models lists nothing, a request for
its model is a 404 and /v1/readyz is 503 naming the provider. The mock
provider starts 3 s after the gateway's first failed fetch: its models are
served within 5 s of it coming up, readyz stops naming it and requests are
served. A second gateway with one provider up and one down is ready and
names the one that is down."""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import OPENAI  # noqa: E402
from mock_upstream import MockUpstream  # noqa: E402
from qp import cmp_ok, is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

PORT = qp.free_port()
inst = qp.Instance(providers={"late": {
    "base_url": "http://127.0.0.1:%d/v1" % PORT, "protocols": ["openai"],
    "accounts": ["l1"]}})
# A second gateway: one provider up, one that never comes up.
up = qp.mock(style="openai", models=["m-up"])
inst2 = qp.Instance(providers={
    "up": {"mock": up, "protocols": ["openai"], "accounts": ["u1"]},
    "never": {"base_url": "http://127.0.0.1:%d/v1" % qp.free_port(),
              "protocols": ["openai"], "accounts": ["n1"]}})
dp.start(inst)
dp.start(inst2)


def readyz(i):
    r = i.request("GET", "/v1/readyz", key=None)
    j = r.try_json()
    return r, (j if isinstance(j, dict) else {})


def model_ids():
    r = inst.request("GET", "/v1/models")
    return [m.get("id") for m in (r.try_json() or {}).get("data") or []]


def pings(ok_value):
    return dp.query(inst, "SELECT probed_at FROM provider_pings WHERE "
                    "provider_id = 'late' AND ok = ? ORDER BY id", (ok_value,))


# ---- the provider is down ---------------------------------------------------

deadline = time.monotonic() + 10
while not pings(0) and time.monotonic() < deadline:
    time.sleep(0.05)
first = pings(0)
ok(first, "the gateway tried the provider at start and recorded the failure")
t_fail = first[0]["probed_at"] / 1000.0 if first else time.time()

is_eq(model_ids(), [], "provider down: /v1/models lists nothing")
r = inst.request("POST", OPENAI, dp.chat("m-late"))
is_eq(r.status, 404, "provider down: a request for its model is a 404")
r, j = readyz(inst)
is_eq(r.status, 503, "provider down: /v1/readyz 503")
is_eq((j.get("status"), j.get("providers_without_catalog")),
      ("degraded", ["late"]), "provider down: readyz names the provider")
like(j.get("reason"), r"catalog.*\blate\b",
     "provider down: the reason says the catalog of late is missing")

# ---- 3 s later the provider comes up ----------------------------------------

time.sleep(max(0.0, t_fail + 3.0 - time.time()))
try:
    late = MockUpstream(style="openai", models=["m-late"], port=PORT).start()
except OSError as e:
    qp.bail_out("cannot listen on 127.0.0.1:%d for the late provider: %s"
                % (PORT, e))
late._cleanup = late.stop
qp._live.append(late)
t_up = time.monotonic()
n_failed = len(pings(0))
served = False
while time.monotonic() - t_up < 15:
    if "m-late/late" in model_ids():
        served = True
        break
    time.sleep(0.1)
took = time.monotonic() - t_up
ok(served, "provider up: its models are served (after %.1f s)" % took,
   lambda: inst.dump_logs())
cmp_ok(took, "<=", 5.0, "provider up: within 5 s of it coming up")
cmp_ok(n_failed, ">=", 2, "the fetch was retried while the provider was down "
       "(%d failed fetches in about 3 s, refresh_interval_s being 300)"
       % n_failed)
r, j = readyz(inst)
is_eq((r.status, j), (200, {"status": "ok"}),
      "provider up: /v1/readyz 200 and names no provider any more")
r = inst.request("POST", OPENAI, dp.chat("m-late"))
is_eq(r.status, 200, "provider up: its model is served")
is_eq(len(late.requests(path=OPENAI)), 1, "provider up: the request reached it")
is_eq(len(pings(1)), 1, "one successful fetch recorded")
time.sleep(1.5)
is_eq(len(pings(0)) + len(pings(1)), n_failed + 1,
      "no more fetches after the one that succeeded")

# ---- one provider up, one down: ready, the missing one named ---------------

deadline = time.monotonic() + 10
while True:
    r, j = readyz(inst2)
    if r.status == 200 or time.monotonic() >= deadline:
        break
    time.sleep(0.1)
is_eq((r.status, j.get("status"), j.get("providers_without_catalog")),
      (200, "ok", ["never"]),
      "one of two providers down: readyz 200, naming the one without a "
      "catalog")
r = inst2.request("GET", "/v1/models")
is_eq([m.get("id") for m in (r.try_json() or {}).get("data") or []],
      ["m-up/up"], "one of two providers down: the other's models are served")

for i in (inst, inst2):
    res = i.stop()
    is_eq((res.rc, res.leftovers), (0, []),
          "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
