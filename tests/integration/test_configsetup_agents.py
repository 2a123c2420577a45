#!/usr/bin/env python3
"""test_configsetup_agents.py: the settings `quotapool-admin configsetup
--write` gives Claude Code, opencode and Codex are all each agent needs:
with nothing else set (its own HOME, no base URL or key in the
environment but what configsetup printed for codex), each agent gets an
answer through the gateway, authenticated by the key configsetup issued,
and its request row is completed."""

import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from qp import is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(600)

TEXT = "configured by quotapool-admin"
N = 4
QUIET = {
    "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1", "OPENCODE_DISABLE_SHARE": "1",
    "DO_NOT_TRACK": "1", "NO_COLOR": "1", "CI": "true",
}

mo = qp.mock(models=["gpt-cs"])
ma = qp.mock(style="anthropic", models=["claude-cs"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-cs"],
           "accounts": ["o1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": ["claude-cs"],
           "accounts": ["c1"]}})
dp.start(inst)
deadline = qp.time.monotonic() + 15
while qp.time.monotonic() < deadline and len(
        (inst.request("GET", "/v1/models").try_json() or {}).get("data") or []) < 2:
    qp.time.sleep(0.1)
for m in (mo, ma):
    m.set_default("*", {"text": TEXT})


def agent_env(home, cwd, extra=None):
    env = qp.child_env()
    for k in list(env):
        if k.startswith(("ANTHROPIC_", "OPENAI_", "CLAUDE_", "OPENCODE_", "CODEX_",
                         "QUOTAPOOL_")):
            del env[k]
    env.update(QUIET)
    env.update({"HOME": home, "PWD": cwd,
                "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
                "XDG_CACHE_HOME": os.path.join(home, ".cache"),
                "XDG_STATE_HOME": os.path.join(home, ".local", "state")})
    env.update(extra or {})
    return env


def agent_bin(name, pkg):
    mods = qp.node_modules_with(pkg)
    b = os.path.join(mods, ".bin", name) if mods else None
    return b if b and os.access(b, os.X_OK) else None


def setup(agent):
    """configsetup AGENT --write into a fresh HOME; returns (home, work, key id)."""
    home = qp.tempdir("qp-csa-")
    work = os.path.join(home, "work")
    os.makedirs(work)
    r = inst.admin("configsetup", agent, "--write", env={"HOME": home})
    is_eq(r.rc, 0, "%s: configsetup --write" % agent)
    m = re.search(r"issued client key '([^']+)'", r.err)
    kid = dp.query(inst, "SELECT id FROM client_keys WHERE name = ?",
                   (m.group(1),)) if m else []
    return home, work, (kid[0]["id"] if kid else None)


def check_row(agent, kid, endpoint):
    rows = []
    deadline = qp.time.monotonic() + 10
    while qp.time.monotonic() < deadline:
        rows = dp.query(inst, "SELECT status FROM requests WHERE client_key_id = ? "
                        "AND endpoint = ?", (kid, endpoint))
        if rows and all(x["status"] != "pending" for x in rows):
            break
        qp.time.sleep(0.1)
    ok(rows and all(x["status"] == "completed" for x in rows),
       "%s: its requests carry the key configsetup issued, completed" % agent,
       lambda: "  %r" % rows)


def show(r, what):
    qp.diag("%s: rc %r" % (what, r.rc))
    for line in (r.out.splitlines() + r.err.splitlines())[-15:]:
        qp.diag("  " + line[:300])


claude = agent_bin("claude", os.path.join("@anthropic-ai", "claude-code"))
if claude is None:
    qp.missing("Claude Code not installed (run tests/integration/npm-install.sh)", N)
else:
    home, work, kid = setup("claude-code")
    r = qp.run([claude, "-p", "Say something.", "--output-format", "json"],
               timeout=180, env=agent_env(home, work), cwd=work)
    show(r, "claude")
    out = {}
    try:
        out = json.loads(r.out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pass
    is_eq(r.rc, 0, "claude-code: exits 0 with configsetup's settings only")
    is_eq(out.get("result"), TEXT, "claude-code: the provider's answer")
    check_row("claude-code", kid, dp.ANTHROPIC)

opencode = agent_bin("opencode", "opencode-ai")
if opencode is None:
    qp.missing("opencode not installed (run tests/integration/npm-install.sh)", N)
else:
    home, work, kid = setup("opencode")
    r = qp.run([opencode, "run", "Say something."], timeout=180,
               env=agent_env(home, work), cwd=work)
    show(r, "opencode")
    is_eq(r.rc, 0, "opencode: exits 0 with configsetup's settings only")
    ok(TEXT in r.out, "opencode: the provider's answer")
    check_row("opencode", kid, dp.OPENAI)

codex = agent_bin("codex", os.path.join("@openai", "codex"))
if codex is None:
    qp.missing("Codex not installed (run tests/integration/npm-install.sh)", N)
else:
    home, work, kid = setup("codex")
    # codex reads its key from $QUOTAPOOL_API_KEY: take it from `configsetup env`.
    env_out = inst.admin("configsetup", "env", env={"HOME": home})
    vals = dict(re.findall(r"(?m)^export ([A-Z_]+)='([^']*)'$", env_out.out))
    kname = re.search(r"issued client key '([^']+)'", env_out.err)
    kid = dp.query(inst, "SELECT id FROM client_keys WHERE name = ?",
                   (kname.group(1),))[0]["id"] if kname else kid
    r = qp.run([codex, "exec", "--skip-git-repo-check", "Say something."],
               timeout=180, env=agent_env(home, work, {
                   "QUOTAPOOL_API_KEY": vals.get("QUOTAPOOL_API_KEY", ""),
                   "CODEX_HOME": os.path.join(home, ".codex")}), cwd=work)
    show(r, "codex")
    is_eq(r.rc, 0, "codex: exits 0 with configsetup's settings and its env line")
    ok(TEXT in r.out, "codex: the provider's answer")
    check_row("codex", kid, "/v1/responses")
inst.stop()
qp.done()
