#!/usr/bin/env python3
"""test_security.py: the running gateway's process hardening and the
settings that decide whom it believes.

Core dumps: quotapool.fcgi makes itself non-dumpable (no core file, no
ptrace or /proc/PID/mem by its own user: it holds the account keys), and
[server] allow_core_dumps = true leaves it dumpable for debugging. The
runtime dataset reports what prctl(PR_GET_DUMPABLE) says in the process
that answers.

Keys without effect: every key and section docs/configuration.md lists as
having no effect in this version is written into one file, and
`quotapool-admin check-config` prints a warning at its line naming it.

Trusted proxies: through lighttpd (which passes X-Forwarded-* through),
X-Forwarded-For sets the request row's client_ip only when the connection
comes from a listed proxy (right-most address not listed), the throttle of
failed keys follows that address, and X-Forwarded-Proto: https from a
listed proxy (only) marks the session cookie Secure.

[upstream] keepalive_interval_s sets the interval of the SSE comments sent
while a provider is silent."""

import http.client
import json
import os
import re
import sys
import urllib.parse

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

# ---------------------------------------------------------------------------
# check-config names every key that has no effect in this version

DOC = os.path.join(qp.SRCDIR, "docs", "configuration.md")
with open(DOC) as f:
    doc = f.read()
doc = doc[doc.index("## Sections and keys"):]
sections = {}   # title -> [keys without effect]
for part in re.split(r"^### ", doc, flags=re.M)[1:]:
    title = part.split("\n", 1)[0].strip().strip("`")
    keys = sections.setdefault(title, [])
    m = re.search(r"^Accepted from EggPool configurations, without effect in "
                  r"this version \(`check-config` warns\): (.*)\.$", part, re.M)
    if m:
        keys += re.findall(r"`([^`]+)`", m.group(1))
    keys += re.findall(r"^\| `([^`]+)` \|.*\*\*No effect in this version:\*\*",
                       part, re.M)
sections.pop("Sections accepted from EggPool, without effect", None)
tail = doc.split("### Sections accepted from EggPool, without effect")[1]
roots = re.findall(r"`\[([a-z_]+)\]`", tail.split(":")[0])
ok(len(roots) >= 9 and "transcoder" in roots,
   "the docs list the EggPool sections without effect (%d)" % len(roots))
nkeys = sum(len(v) for v in sections.values())
ok(nkeys >= 50 and "strategy" in sections.get("[routing]", []) and
   "enforce_context_limit" not in sections.get('[model_overrides."<model>"]', []) and
   "enabled" not in sections.get("[backup]", []),
   "the docs list the keys without effect (%d)" % nkeys)

# A value each key accepts: EggPool keys take any value; quotapool's own
# keys without effect are checked, so they get a valid one.
VALUES = {("[backup]", "enabled"): "true", ("[backup]", "interval_s"): "3600",
          ("[backup]", "retain_count"): "3",
          ("[backup]", "directory"): '"backups"',
          ('[model_overrides."<model>"]', "max_context_tokens"): "1000",
          ('[model_overrides."<model>"]', "max_output_tokens"): "100"}
HEADERS = {"[providers.<id>]": "[providers.p]",
           "[providers.<id>.auth]": "[providers.p.auth]",
           "[providers.<id>.stream_timeouts]": "[providers.p.stream_timeouts]",
           '[model_overrides."<model>"]': '[model_overrides."m1"]'}
ORDER = ["[server]", "[upstream]", "[database]", "[models]", "[routing]",
         "[dashboard]", "[security]", "[backup]", "[providers.<id>]",
         "[providers.<id>.auth]", "[providers.<id>.stream_timeouts]",
         '[model_overrides."<model>"]']
text = ["# every key without effect in this version"]
want = []   # (line, name shown in the warning)
for title in ORDER:
    text.append(HEADERS.get(title, title))
    if title == "[providers.<id>]":
        text.append('base_url = "http://127.0.0.1:9"')
    if title == "[providers.<id>.auth]":
        text.append('mode = "none"')
    for k in sections.get(title, []):
        text.append("%s = %s" % (k, VALUES.get((title, k), "1")))
        where = HEADERS.get(title, title)[1:-1]
        want.append((len(text), "%s.%s" % (where, k)))
for r in roots:
    text.append("[%s]" % r)
    want.append((len(text), "[%s]" % r))
missed = [t for t in sections if sections[t] and t not in ORDER]
is_eq(missed, [], "every section with such keys is written")
cfg_path = os.path.join(qp.tempdir("qp-noeffect-"), "config.toml")
with open(cfg_path, "w") as f:
    f.write("\n".join(text) + "\n")
res = qp.admin("check-config", config=cfg_path)
is_eq(res.rc, 0, "check-config accepts the file (warnings only)",)
warn = {}
for line in res.err.splitlines():
    m = re.match(r"^%s:(\d+): warning: (.*)$" % re.escape(cfg_path), line)
    if m:
        warn[int(m.group(1))] = m.group(2)
for line, name in want:
    got = warn.get(line, "")
    ok(got.startswith(name + ": has no effect in this version"), "check-config, line %d: %s has no effect"
       % (line, name), lambda: "  got: %r" % got)
is_eq(len([w for w in warn.values() if "has no effect" in w]), len(want),
      "one such warning per key, no more")
ok("keepalive_interval_s" not in res.err and "trusted_proxies" not in res.err,
   "keys that work are not among them")

# ---------------------------------------------------------------------------
# Trusted proxies: X-Forwarded-For and X-Forwarded-Proto

PROXY, OTHER = "127.0.0.5", "127.0.0.6"
inst = instance(sections={"security": {
    "trusted_proxies": [PROXY, "10.0.0.1"],
    "max_auth_failures_per_minute": 3}})


def from_addr(src, method, path, body=None, key=None, headers=None):
    """One request to inst from source address src (loopback)."""
    h = dict(headers or {})
    data = None
    if isinstance(body, dict):
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    elif isinstance(body, str):
        data = body.encode()
    if key is not None:
        h["Authorization"] = "Bearer " + key
    c = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=30,
                                   source_address=(src, 0))
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return qp.Response(r.status, r.headers, r.read())
    finally:
        c.close()


def client_ip(src, xff=None):
    h = {"X-Forwarded-For": xff} if xff is not None else {}
    r = from_addr(src, "POST", dp.OPENAI, dp.chat(MODEL), key=inst.key,
                  headers=h)
    if r.status != 200:
        return "status %d" % r.status
    row = dp.wait_row(inst, dp.uid_of(r)) or {}
    return row.get("client_ip")


is_eq(client_ip("127.0.0.1"), "127.0.0.1",
      "no proxy: client_ip is the connection's address")
is_eq(client_ip(PROXY, "203.0.113.7"), "203.0.113.7",
      "from a trusted proxy: client_ip from X-Forwarded-For")
is_eq(client_ip(PROXY, "198.51.100.9, 203.0.113.8, 10.0.0.1"), "203.0.113.8",
      "a chain: the right-most address that is not a trusted proxy")
is_eq(client_ip(PROXY, "not-an-address"), PROXY,
      "a malformed X-Forwarded-For from a trusted proxy: the proxy's address")
is_eq(client_ip(OTHER, "203.0.113.9"), OTHER,
      "from an untrusted peer X-Forwarded-For is ignored")
is_eq(client_ip("127.0.0.1", "203.0.113.10"), "127.0.0.1",
      "also from 127.0.0.1 when it is not listed")

# The throttle counts the forwarded address.
BAD = "qp_" + "ab" * 24
for i in range(3):
    r = from_addr(PROXY, "GET", "/v1/models", key=BAD,
                  headers={"X-Forwarded-For": "203.0.113.50"})
    is_eq(r.status, 401, "wrong key %d from 203.0.113.50 via the proxy: 401"
          % (i + 1))
r = from_addr(PROXY, "GET", "/v1/models", key=BAD,
              headers={"X-Forwarded-For": "203.0.113.50"})
is_eq(r.status, 429, "the 4th from 203.0.113.50: 429")
r = from_addr(PROXY, "GET", "/v1/models", key=inst.key,
              headers={"X-Forwarded-For": "203.0.113.51"})
is_eq(r.status, 200, "the same proxy forwarding another client: 200")
for i in range(3):
    r = from_addr(OTHER, "GET", "/v1/models", key=BAD,
                  headers={"X-Forwarded-For": "203.0.113.%d" % (60 + i)})
r = from_addr(OTHER, "GET", "/v1/models", key=BAD,
              headers={"X-Forwarded-For": "203.0.113.63"})
is_eq(r.status, 429, "an untrusted peer cannot dodge the throttle with "
      "X-Forwarded-For")

# The session cookie's Secure flag.


def login_cookie(src, xfp=None):
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    if xfp is not None:
        h["X-Forwarded-Proto"] = xfp
    r = from_addr(src, "POST", "/login",
                  "key=" + urllib.parse.quote(inst.admin_key), headers=h)
    c = r.headers.get("Set-Cookie", "")
    ok(r.status == 303 and "qp_session=" in c, "admin login from %s%s: 303 "
       "with a session cookie" % (src, " (X-Forwarded-Proto: %s)" % xfp
                                  if xfp else ""), lambda: dp.show(r))
    return [a.strip().lower() for a in c.split(";")]


ok("secure" not in login_cookie("127.0.0.1"),
   "plain HTTP, no proxy: the cookie is not Secure")
ok("secure" in login_cookie(PROXY, "https"),
   "X-Forwarded-Proto: https from a trusted proxy: Secure")
ok("secure" not in login_cookie(PROXY, "http"),
   "X-Forwarded-Proto: http from a trusted proxy: not Secure")
ok("secure" not in login_cookie("127.0.0.7", "https"),
   "X-Forwarded-Proto: https from an untrusted peer: not Secure")

res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")
log = inst.logs().get("serve.err", "")
like(log, r"auth: failed client key check from 203\.0\.113\.50 ",
     "the log names the forwarded address")
ok(not re.search(r"from 203\.0\.113\.6[0-3] ", log),
   "and never an address an untrusted peer claimed")

# ---------------------------------------------------------------------------
# [upstream] keepalive_interval_s

inst = instance(sections={"upstream": {"keepalive_interval_s": 0.25}})
mock.reset()
mock.script("*", {"events": 2, "first_event_delay_ms": 3000})
with inst.stream(dp.OPENAI, dp.chat(MODEL, stream=True), timeout=20) as st:
    body = st.read_all()
head = body.split(b"data:", 1)[0]
n = head.count(b": keepalive")
ok(n >= 5, "keepalive_interval_s = 0.25: %d keepalive comments in the 3 s "
   "before the first event (1 s apart would be at most 3)" % n,
   lambda: repr(body[:400]))
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []), "serve stops cleanly")

qp.done()
