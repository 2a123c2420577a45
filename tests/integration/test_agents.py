#!/usr/bin/env python3
"""test_agents.py: real coding agents through quotapool (lighttpd +
quotapool.fcgi + a mock account), each doing one tool-use round trip:

  Claude Code (`claude -p`) against an Anthropic-protocol provider: the mock
  answers with a Bash tool call, Claude Code runs the command and sends its
  output back as a tool_result, the mock then answers with text;
  opencode (`opencode run`) against an OpenAI-protocol provider: the same
  with its bash tool, through tool_calls and a "tool" message.

The agents come from the pinned npm packages that
tests/integration/npm-install.sh installs (`make npm-install`), found as in
test_sdk.py; missing ones are skipped visibly, and fail under CI=true. Each
runs with its own HOME in a temporary directory, telemetry, update checks
and other network traffic turned off; the only server it can reach is the
gateway on 127.0.0.1. Checked: the agent's exit and final answer, the
command's output in the follow-up request the provider got, and the
gateway's request rows (completed, usage of the mock's numbers)."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(400)

MARK = "qp-tool-roundtrip-4417"
FINAL = "The command printed the marker."
USAGE = {"prompt": 321, "completion": 7}
N_CLAUDE = 6
N_OPENCODE = 6

mo = qp.mock(models=["gpt-agent"])
ma = qp.mock(style="anthropic", models=["claude-agent"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-agent"],
           "accounts": ["ag1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"],
           "models": ["claude-agent"], "accounts": ["ag2"]},
})
dp.start(inst)

QUIET = {
    # Claude Code
    "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1", "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
    # opencode
    "OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1", "OPENCODE_DISABLE_SHARE": "1",
    # both
    "DO_NOT_TRACK": "1", "NO_COLOR": "1", "CI": "true",
}


def agent_env(home, cwd, extra):
    """The agent's environment: its own HOME, cwd as PWD (opencode takes
    its project directory from PWD), no provider settings of the caller."""
    env = qp.child_env()
    env["PWD"] = cwd
    for k in list(env):
        # The developer's own provider settings must not leak in.
        if k.startswith(("ANTHROPIC_", "OPENAI_", "CLAUDE_", "OPENCODE_")):
            del env[k]
    env.update(QUIET)
    env.update({"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
                "XDG_CACHE_HOME": os.path.join(home, ".cache"),
                "XDG_STATE_HOME": os.path.join(home, ".local", "state")})
    env.update(extra)
    return env


def agent_bin(name, pkg):
    mods = qp.node_modules_with(pkg)
    if mods is None:
        return None, None
    b = os.path.join(mods, ".bin", name)
    return (b if os.access(b, os.X_OK) else None), mods


def version(mods, pkg):
    try:
        with open(os.path.join(mods, pkg, "package.json")) as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def tool_results(recs):
    """Texts the agent sent back as tool results, over every request."""
    out = []
    for r in recs:
        body = r.get("body") if isinstance(r.get("body"), dict) else {}
        for m in body.get("messages") or []:
            if not isinstance(m, dict):
                continue
            if m.get("role") == "tool":
                out.append(json.dumps(m.get("content")))
            content = m.get("content")
            for c in content if isinstance(content, list) else []:
                if isinstance(c, dict) and c.get("type") == "tool_result":
                    out.append(json.dumps(c.get("content")))
    return out


def check_rows(name, path, recs):
    """The gateway's rows for the provider's requests: one each, completed,
    with the mock's usage."""
    rows = dp.query(inst, "SELECT * FROM requests WHERE endpoint LIKE ? "
                    "ORDER BY id", ("%" + path.rsplit("/", 1)[-1],))
    want_in = USAGE["prompt"]
    is_eq((len(rows), sorted(set(r["status"] for r in rows)),
           sorted(set((r["input_tokens"], r["output_tokens"])
                      for r in rows))),
          (len(recs), ["completed"], [(want_in, USAGE["completion"])]),
          "%s: one completed row per request the provider got (%d), with "
          "its usage" % (name, len(recs)))


def transcript(r, what, limit=40):
    qp.diag("%s: rc %r%s" % (what, r.rc, " (timed out)" if r.timed_out
                             else ""))
    # opencode's --print-logs: only its warnings and errors.
    err = [line for line in r.err.splitlines()
           if not line.startswith("timestamp=") or "level=ERROR" in line or
           "level=WARN" in line]
    for line in (r.out.splitlines() + err)[-limit:]:
        qp.diag("  " + line[:300])


# ---- Claude Code against the Anthropic protocol ---------------------------

claude, mods = agent_bin("claude", os.path.join("@anthropic-ai",
                                                 "claude-code"))
if claude is None:
    qp.missing("Claude Code not installed (npm @anthropic-ai/claude-code; "
               "run tests/integration/npm-install.sh)", N_CLAUDE)
else:
    ver = version(mods, os.path.join("@anthropic-ai", "claude-code"))
    home = qp.tempdir("qp-claude-")
    work = os.path.join(home, "work")
    os.makedirs(work)
    ma.set_default("*", {"tool_call": {"name": "Bash", "input": {
        "command": "echo " + MARK, "description": "Print the marker"}},
        "text": FINAL, "usage": USAGE})
    env = agent_env(home, work, {
        "ANTHROPIC_BASE_URL": inst.url, "ANTHROPIC_API_KEY": inst.key,
        "ANTHROPIC_MODEL": "claude-agent",
        "ANTHROPIC_SMALL_FAST_MODEL": "claude-agent",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-agent"})
    r = qp.run([claude, "-p", "Run `echo %s` with Bash, then say what it "
                "printed." % MARK, "--output-format", "json",
                "--allowedTools", "Bash", "--model", "claude-agent"],
               timeout=180, env=env, cwd=work)
    ma.set_default("*", None)
    recs = ma.requests(path=ANTHROPIC)
    try:
        out = json.loads(r.out.strip().splitlines()[-1]) if r.out.strip() \
            else {}
    except ValueError:
        out = {}
    if r.rc != 0 or not recs:
        transcript(r, "claude %s" % ver)
    is_eq((r.rc, out.get("is_error")), (0, False),
          "Claude Code %s: claude -p exits 0 with a result" % ver)
    is_eq(out.get("result"), FINAL,
          "Claude Code: its answer is the provider's final text")
    calls = [x for x in recs if x["behaviour"] and
             isinstance(x["body"], dict) and x["body"].get("tools")]
    ok(len(calls) >= 2, "Claude Code: %d requests with tools reached the "
       "provider through the gateway (the call, then the result)"
       % len(calls), lambda: "  paths %r" % [x["path"] for x in recs])
    res = tool_results(recs)
    ok(any(MARK in t for t in res), "Claude Code: the Bash tool ran and its "
       "output came back as a tool_result", lambda: "  results: %r" % res)
    ok(all(x["headers"].get("anthropic-version") for x in recs),
       "Claude Code: every request kept its anthropic-version header")
    check_rows("Claude Code", ANTHROPIC, recs)

# ---- opencode against the OpenAI protocol ---------------------------------

opencode, mods = agent_bin("opencode", "opencode-ai")
if opencode is None:
    qp.missing("opencode not installed (npm opencode-ai; run "
               "tests/integration/npm-install.sh)", N_OPENCODE)
else:
    ver = version(mods, "opencode-ai")
    home = qp.tempdir("qp-opencode-")
    work = os.path.join(home, "work")
    os.makedirs(work)
    with open(os.path.join(work, "opencode.json"), "w") as f:
        json.dump({
            "$schema": "https://opencode.ai/config.json",
            "autoupdate": False, "share": "disabled",
            "permission": {"bash": "allow", "edit": "deny"},
            "provider": {"quotapool": {
                "npm": "@ai-sdk/openai-compatible", "name": "quotapool",
                "options": {"baseURL": inst.url + "/v1",
                            "apiKey": inst.key},
                "models": {"gpt-agent": {"name": "gpt-agent"}}}}}, f)
    mo.set_default("*", {"tool_call": {"name": "bash", "input": {
        "command": "echo " + MARK, "description": "Print the marker"}},
        "text": FINAL, "usage": USAGE})
    r = qp.run([opencode, "run", "--print-logs", "-m", "quotapool/gpt-agent",
                "Run `echo %s` with bash, then say what it printed." % MARK],
               timeout=180, env=agent_env(home, work, {}), cwd=work)
    mo.set_default("*", None)
    recs = mo.requests(path=OPENAI)
    if r.rc != 0 or not recs:
        transcript(r, "opencode %s" % ver)
    is_eq(r.rc, 0, "opencode %s: opencode run exits 0" % ver)
    ok(FINAL in r.out, "opencode: its output ends with the provider's final "
       "text", lambda: "  stdout: %r" % r.out[-500:])
    calls = [x for x in recs if isinstance(x["body"], dict) and
             x["body"].get("tools")]
    ok(len(calls) >= 2, "opencode: %d requests with tools reached the "
       "provider through the gateway (the call, then the result)"
       % len(calls))
    res = tool_results(recs)
    ok(any(MARK in t for t in res), "opencode: the bash tool ran and its "
       "output came back as a tool message", lambda: "  results: %r" % res)
    ok(all(isinstance(x["body"], dict) and x["body"].get("stream") is True
           for x in recs), "opencode: every request streamed")
    check_rows("opencode", OPENAI, recs)

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
