#!/usr/bin/env python3
"""test_security.py: the running gateway's process hardening.

Core dumps: quotapool.fcgi makes itself non-dumpable (no core file, no
ptrace or /proc/PID/mem by its own user: it holds the account keys), and
[server] allow_core_dumps = true leaves it dumpable for debugging. The
runtime dataset reports what prctl(PR_GET_DUMPABLE) says in the process
that answers."""

import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qp  # noqa: E402
import dp  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(300)

MODEL = "sec-model"
mock = qp.mock(models=[MODEL])


def instance(server=None, sections=None):
    inst = qp.Instance(providers={"psec": {
        "mock": mock, "protocols": ["openai", "anthropic"],
        "models": [MODEL], "accounts": ["s1"]}}, server=server,
        sections=sections)
    dp.start(inst)
    inst.admin_key = inst.new_key("boss", admin_role=True)
    return inst


def runtime(inst):
    r = inst.request("GET", "/api/stats/runtime", key=inst.admin_key)
    j = r.try_json() if r.status == 200 else None
    ok(isinstance(j, dict), "GET /api/stats/runtime as admin: 200 JSON",
       lambda: dp.show(r))
    return j if isinstance(j, dict) else {}


# ---------------------------------------------------------------------------
# Core dumps

inst = instance()
rt = runtime(inst)
ok(rt.get("pid") in inst.app_pids(), "runtime is answered by quotapool.fcgi")
is_eq(rt.get("core_dumps"), False, "by default quotapool.fcgi is not dumpable")
r = inst.request("GET", "/runtime", key=inst.admin_key)
like(r.text, r"Core dumps</span><span class=\"v\">off<",
     "the runtime page says core dumps are off")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")

inst = instance(server={"allow_core_dumps": True})
rt = runtime(inst)
is_eq(rt.get("core_dumps"), True,
      "[server] allow_core_dumps = true leaves it dumpable")
log = inst.logs().get("serve.err", "")
like(log, r"allow_core_dumps is on", "and it says so in its log")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")

qp.done()
