#!/usr/bin/env python3
"""test_agent_alias.py: Claude Code with no model set, served through an
alias (lighttpd + quotapool.fcgi + a mock Anthropic-protocol account).

Claude Code `-p` without ANTHROPIC_MODEL (and without --model) asks for its
own default model (claude-opus-4-8 in 2.1) and exits 1 on a 404. The
gateway's provider serves only glm-4.6; `[aliases] "claude-*" =
"glm-4.6/zai"` routes Claude Code's names there. Checked: claude exits 0
with the provider's final text after a Bash tool round trip, the provider
got model glm-4.6 only, and every request row keeps the name Claude Code
sent (claude-...), the pattern and the target. Without the alias (the
control run first) the same command fails with the gateway's 404.

Claude Code comes from the pinned npm packages of
tests/integration/npm-install.sh (as in test_agents.py); when missing the
test is skipped visibly, and fails under CI=true."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(400)

MARK = "qp-alias-roundtrip-5521"
FINAL = "The command printed the marker."
USAGE = {"prompt": 123, "completion": 9}
N_TESTS = 10

QUIET = {
    "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1", "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
    "DO_NOT_TRACK": "1", "NO_COLOR": "1", "CI": "true",
}

mods = qp.node_modules_with(os.path.join("@anthropic-ai", "claude-code"))
claude = os.path.join(mods, ".bin", "claude") if mods else None
if claude is None or not os.access(claude, os.X_OK):
    qp.missing("Claude Code not installed (npm @anthropic-ai/claude-code; run "
               "tests/integration/npm-install.sh)", N_TESTS)
    qp.done()
    sys.exit(0)
try:
    with open(os.path.join(mods, "@anthropic-ai", "claude-code", "package.json")) as f:
        VERSION = json.load(f).get("version")
except (OSError, ValueError):
    VERSION = None

mock = qp.mock(style="anthropic", models=["glm-4.6"])
PROVIDERS = {"zai": {"mock": mock, "protocols": ["anthropic"], "models": ["glm-4.6"],
                     "accounts": ["z1"]}}


def env_for(inst, home, cwd):
    """Claude Code's environment: its own HOME, the gateway as its only
    server, and no model named anywhere."""
    env = qp.child_env()
    env["PWD"] = cwd
    for k in list(env):
        if k.startswith(("ANTHROPIC_", "OPENAI_", "CLAUDE_")):
            del env[k]
    env.update(QUIET)
    env.update({"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
                "XDG_CACHE_HOME": os.path.join(home, ".cache"),
                "XDG_STATE_HOME": os.path.join(home, ".local", "state"),
                "ANTHROPIC_BASE_URL": inst.url, "ANTHROPIC_API_KEY": inst.key})
    return env


def run_claude(inst):
    home = qp.tempdir("qp-claude-alias-")
    work = os.path.join(home, "work")
    os.makedirs(work)
    r = qp.run([claude, "-p", "Run `echo %s` with Bash, then say what it printed."
                % MARK, "--output-format", "json", "--allowedTools", "Bash"],
               timeout=180, env=env_for(inst, home, work), cwd=work)
    try:
        out = json.loads(r.out.strip().splitlines()[-1]) if r.out.strip() else {}
    except ValueError:
        out = {}
    return r, out


def transcript(r, what, limit=30):
    qp.diag("%s: rc %r%s" % (what, r.rc, " (timed out)" if r.timed_out else ""))
    for line in (r.out.splitlines() + r.err.splitlines())[-limit:]:
        qp.diag("  " + line[:300])


# ---- without the alias: Claude Code's default model is a 404 ---------------

plain = qp.Instance(providers=PROVIDERS)
dp.start(plain)
r, out = run_claude(plain)
rows = dp.query(plain, "SELECT model, status_code FROM requests WHERE endpoint = ?",
                (ANTHROPIC,))
ok(r.rc != 0 and rows and all(x["status_code"] == 404 for x in rows),
   "Claude Code %s with no model and no alias: it fails, the gateway answered "
   "404 for %r" % (VERSION, sorted(set(x["model"] for x in rows))),
   lambda: transcript(r, "claude (no alias)") or "")
plain.stop()

# ---- with "claude-*" = "glm-4.6/zai": served ---------------------------------

mock.reset()
mock.set_default("*", {"tool_call": {"name": "Bash", "input": {
    "command": "echo " + MARK, "description": "Print the marker"}},
    "text": FINAL, "usage": USAGE})
inst = qp.Instance(providers=PROVIDERS, sections={"aliases": {"claude-*": "glm-4.6/zai"}})
dp.start(inst)
r, out = run_claude(inst)
mock.set_default("*", None)
recs = mock.requests(path=ANTHROPIC)
if r.rc != 0 or not recs:
    transcript(r, "claude %s" % VERSION)
is_eq((r.rc, out.get("is_error")), (0, False),
      "Claude Code %s with no model set: claude -p exits 0 with a result" % VERSION)
is_eq(out.get("result"), FINAL, "Claude Code: its answer is the provider's final text")
is_eq(sorted(set(x["body"].get("model") for x in recs if isinstance(x["body"], dict))),
      ["glm-4.6"], "the provider got model glm-4.6 only")
ok(any(MARK in json.dumps(x["body"].get("messages")) for x in recs
       if isinstance(x["body"], dict)),
   "the Bash tool ran and its output came back to the provider")
rows = dp.query(inst, "SELECT model, model_base, alias, alias_target, status FROM "
                "requests WHERE endpoint = ? ORDER BY id", (ANTHROPIC,))
is_eq(len(rows), len(recs), "one request row per request the provider got (%d)"
      % len(recs))
ok(rows and all(x["model"].startswith("claude-") for x in rows),
   "the rows keep the names Claude Code sent: %r" % sorted(set(x["model"] for x in rows)))
is_eq(sorted(set((x["model_base"], x["alias"], x["alias_target"], x["status"])
                 for x in rows)),
      [("glm-4.6", "claude-*", "glm-4.6/zai", "completed")],
      "every row: sent as glm-4.6 through claude-*, completed")
like(json.dumps(sorted(set(x["model"] for x in rows))), r"claude-",
     "Claude Code's own model names reached the gateway")
rows = dp.query(inst, "SELECT client_family, user_agent FROM requests WHERE endpoint = ?",
                (ANTHROPIC,))
ok(rows and all(x["client_family"] == "claude-cli" and
                (x["user_agent"] or "").startswith("claude-cli/") for x in rows),
   "every row names the client: claude-cli, with Claude Code's user agent",
   lambda: repr(rows))
qp.done()
