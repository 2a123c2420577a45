#!/usr/bin/env python3
"""test_xagents.py: real clients on providers of the other family, through
quotapool (lighttpd + quotapool.fcgi + mock accounts), each agent doing one
tool-use round trip through a translation:

  Codex (`codex exec`, wire_api "responses") on an OpenAI-chat-only
  provider: POST /v1/responses translated onto chat completions, its
  exec_command call run and the output sent back;
  Claude Code (`claude -p`) on an OpenAI-only provider: Messages translated
  onto chat completions, with a Bash tool call;
  opencode (`opencode run`, OpenAI-compatible) on an Anthropic-only
  provider: chat completions translated onto Messages, with its bash tool.

Then the official Node SDKs, both protocols, against a provider of each
family (native and translated), streaming and not, and the OpenAI SDK's
Responses API against both: text and usage checked against what the mock
sent, and the request rows (translation recorded where there is one).

The clients come from the pinned npm packages of
tests/integration/npm-install.sh (`make npm-install`), found as in
test_agents.py; missing ones are skipped visibly, and fail under CI=true.
Each agent runs with its own HOME, telemetry and update checks off; the
only server it can reach is the gateway on 127.0.0.1."""

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
qp.set_timeout(600)

MARK = "qp-xlate-roundtrip-5521"
FINAL = "The command printed the marker."
USAGE = {"prompt": 321, "completion": 7}
TEXT = "translated for every client"
N_AGENT = 5
N_SDK = 5

mo = qp.mock(models=["gpt-xa"])
ma = qp.mock(style="anthropic", models=["claude-xa"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-xa"],
           "accounts": ["xo1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"],
           "models": ["claude-xa"], "accounts": ["xa1"]},
})
dp.start(inst)

QUIET = {
    "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1", "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
    "OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1", "OPENCODE_DISABLE_SHARE": "1",
    "DO_NOT_TRACK": "1", "NO_COLOR": "1", "CI": "true",
}


def agent_env(home, cwd, extra):
    env = qp.child_env()
    env["PWD"] = cwd
    for k in list(env):
        if k.startswith(("ANTHROPIC_", "OPENAI_", "CLAUDE_", "OPENCODE_",
                         "CODEX_")):
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
        return None, None, None
    b = os.path.join(mods, ".bin", name)
    try:
        with open(os.path.join(mods, pkg, "package.json")) as f:
            ver = json.load(f).get("version")
    except (OSError, ValueError):
        ver = None
    return (b if os.access(b, os.X_OK) else None), mods, ver


def transcript(r, what, limit=40):
    qp.diag("%s: rc %r%s" % (what, r.rc, " (timed out)" if r.timed_out
                             else ""))
    err = [line for line in r.err.splitlines()
           if not line.startswith("timestamp=") or "level=ERROR" in line]
    for line in (r.out.splitlines() + err)[-limit:]:
        qp.diag("  " + line[:300])


def tool_outputs(recs):
    """Texts a provider got back as tool results, in either of its shapes."""
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


def rows_of(endpoint, since):
    return dp.query(inst, "SELECT * FROM requests WHERE endpoint = ? AND "
                    "id > ? ORDER BY id", (endpoint, since))


def last_id():
    r = dp.query(inst, "SELECT max(id) AS n FROM requests")
    return r[0]["n"] or 0


def check_agent(name, r, recs, answer_ok, endpoint, translation, since):
    """The common checks of one agent's round trip."""
    transcript(r, name, 40 if r.rc != 0 or not recs else 15)
    is_eq(r.rc, 0, "%s: exits 0" % name)
    ok(answer_ok, "%s: its answer is the provider's final text" % name,
       lambda: "  stdout: %r" % r.out[-600:])
    calls = [x for x in recs if isinstance(x["body"], dict) and
             x["body"].get("tools")]
    ok(len(calls) >= 2, "%s: %d translated requests with tools reached the "
       "provider (the call, then the result)" % (name, len(calls)))
    res = tool_outputs(recs)
    ok(any(MARK in t for t in res), "%s: the tool ran and its output came "
       "back to the provider in the provider's own shape" % name,
       lambda: "  results: %r" % res)
    rows = rows_of(endpoint, since)
    is_eq((len(rows), sorted(set(x["status"] for x in rows)),
           sorted(set(x["translation"] for x in rows)),
           sorted(set((x["input_tokens"], x["output_tokens"])
                      for x in rows))),
          (len(recs), ["completed"], [translation],
           [(USAGE["prompt"], USAGE["completion"])]),
          "%s: one completed %s row per request (%d), with the mock's usage"
          % (name, translation, len(recs)))


# ---- Codex through /v1/responses on a chat-only provider -------------------

codex, mods, ver = agent_bin("codex", os.path.join("@openai", "codex"))
if codex is None:
    qp.missing("Codex not installed (npm @openai/codex; run "
               "tests/integration/npm-install.sh)", N_AGENT)
else:
    home = qp.tempdir("qp-codex-")
    work = os.path.join(home, "work")
    os.makedirs(work)
    cxhome = os.path.join(home, ".codex")
    os.makedirs(cxhome)
    with open(os.path.join(cxhome, "config.toml"), "w") as f:
        f.write('model = "gpt-xa"\nmodel_provider = "qp"\n'
                'check_for_update_on_startup = false\n\n'
                '[model_providers.qp]\nname = "quotapool"\n'
                'base_url = "%s/v1"\nenv_key = "QP_TEST_KEY"\n'
                'wire_api = "responses"\n' % inst.url)
    mo.reset()
    mo.set_default("*", {"tool_call": {"name": "exec_command", "input": {
        "cmd": "echo " + MARK}}, "text": FINAL, "usage": USAGE})
    since = last_id()
    r = qp.run([codex, "exec", "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox",
                "Run `echo %s`, then say what it printed." % MARK],
               timeout=180, env=agent_env(home, work, {
                   "QP_TEST_KEY": inst.key, "CODEX_HOME": cxhome}),
               cwd=work)
    mo.set_default("*", None)
    check_agent("Codex %s" % ver, r, mo.requests(path=OPENAI),
                FINAL in r.out, "/v1/responses", "responses>chat", since)

# ---- Claude Code on an OpenAI-only provider --------------------------------

claude, mods, ver = agent_bin("claude", os.path.join("@anthropic-ai",
                                                      "claude-code"))
if claude is None:
    qp.missing("Claude Code not installed (npm @anthropic-ai/claude-code; "
               "run tests/integration/npm-install.sh)", N_AGENT)
else:
    home = qp.tempdir("qp-claude-")
    work = os.path.join(home, "work")
    os.makedirs(work)
    mo.reset()
    mo.set_default("*", {"tool_call": {"name": "Bash", "input": {
        "command": "echo " + MARK, "description": "Print the marker"}},
        "text": FINAL, "usage": USAGE})
    since = last_id()
    r = qp.run([claude, "-p", "Run `echo %s` with Bash, then say what it "
                "printed." % MARK, "--output-format", "json",
                "--allowedTools", "Bash", "--model", "gpt-xa"],
               timeout=180, env=agent_env(home, work, {
                   "ANTHROPIC_BASE_URL": inst.url,
                   "ANTHROPIC_API_KEY": inst.key,
                   "ANTHROPIC_MODEL": "gpt-xa",
                   "ANTHROPIC_SMALL_FAST_MODEL": "gpt-xa",
                   "ANTHROPIC_DEFAULT_HAIKU_MODEL": "gpt-xa"}), cwd=work)
    mo.set_default("*", None)
    try:
        out = json.loads(r.out.strip().splitlines()[-1]) if r.out.strip() \
            else {}
    except ValueError:
        out = {}
    check_agent("Claude Code %s" % ver, r, mo.requests(path=OPENAI),
                out.get("result") == FINAL and out.get("is_error") is False,
                ANTHROPIC, "messages>chat", since)

# ---- opencode on an Anthropic-only provider --------------------------------

opencode, mods, ver = agent_bin("opencode", "opencode-ai")
if opencode is None:
    qp.missing("opencode not installed (npm opencode-ai; run "
               "tests/integration/npm-install.sh)", N_AGENT)
else:
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
                "models": {"claude-xa": {"name": "claude-xa"}}}}}, f)
    ma.reset()
    ma.set_default("*", {"tool_call": {"name": "bash", "input": {
        "command": "echo " + MARK, "description": "Print the marker"}},
        "text": FINAL, "usage": USAGE})
    since = last_id()
    r = qp.run([opencode, "run", "--print-logs", "-m", "quotapool/claude-xa",
                "Run `echo %s` with bash, then say what it printed." % MARK],
               timeout=180, env=agent_env(home, work, {}), cwd=work)
    ma.set_default("*", None)
    check_agent("opencode %s" % ver, r, ma.requests(path=ANTHROPIC),
                FINAL in r.out, OPENAI, "chat>messages", since)

# ---- the SDKs, both protocols, providers of each family ---------------------

SDK_JS = r"""
const [sdk, baseURL, apiKey, casesJson] = process.argv.slice(2);
const cases = JSON.parse(casesJson);
(async () => {
  const out = [];
  for (const c of cases) {
    const r = { api: c.api, model: c.model, stream: c.stream, text: '',
                usage: null, request_id: null, err: null };
    try {
      if (c.api === 'messages') {
        const mod = require('@anthropic-ai/sdk');
        const A = mod.Anthropic || mod.default || mod;
        const client = new A({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
        const req = { model: c.model, max_tokens: 64, stream: c.stream,
                      messages: [{ role: 'user', content: 'Say it' }] };
        const { data, response } = await client.messages.create(req).withResponse();
        r.request_id = response.headers.get('x-proxy-request-id');
        if (c.stream) {
          const u = {};
          for await (const ev of data) {
            if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta')
              r.text += ev.delta.text;
            if (ev.type === 'message_start') u.input = ev.message.usage.input_tokens;
            if (ev.type === 'message_delta') {
              // Cumulative: a chat provider tells its input only at the end.
              u.output = ev.usage.output_tokens;
              if (ev.usage.input_tokens != null) u.input = ev.usage.input_tokens;
            }
          }
          r.usage = [u.input, u.output];
        } else {
          r.text = data.content.filter(b => b.type === 'text').map(b => b.text).join('');
          r.usage = [data.usage.input_tokens, data.usage.output_tokens];
        }
      } else {
        const mod = require('openai');
        const O = mod.OpenAI || mod.default || mod;
        const client = new O({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
        if (c.api === 'chat') {
          const req = { model: c.model, stream: c.stream,
                        messages: [{ role: 'user', content: 'Say it' }] };
          if (c.stream) req.stream_options = { include_usage: true };
          const { data, response } = await client.chat.completions.create(req).withResponse();
          r.request_id = response.headers.get('x-proxy-request-id');
          if (c.stream) {
            for await (const ch of data) {
              for (const x of ch.choices || []) r.text += (x.delta && x.delta.content) || '';
              if (ch.usage) r.usage = [ch.usage.prompt_tokens, ch.usage.completion_tokens];
            }
          } else {
            r.text = data.choices[0].message.content;
            r.usage = [data.usage.prompt_tokens, data.usage.completion_tokens];
          }
        } else {
          const req = { model: c.model, stream: c.stream, input: 'Say it', store: false };
          const { data, response } = await client.responses.create(req).withResponse();
          r.request_id = response.headers.get('x-proxy-request-id');
          if (c.stream) {
            for await (const ev of data) {
              if (ev.type === 'response.output_text.delta') r.text += ev.delta;
              if (ev.type === 'response.completed')
                r.usage = [ev.response.usage.input_tokens, ev.response.usage.output_tokens];
            }
          } else {
            r.text = data.output_text;
            r.usage = [data.usage.input_tokens, data.usage.output_tokens];
          }
        }
      }
    } catch (e) { r.err = String((e && e.message) || e); }
    console.log('case ' + JSON.stringify(r));
    out.push(r);
  }
  console.log('RESULT ' + JSON.stringify(out));
})().catch(e => { console.log('FAIL ' + ((e && e.stack) || e)); process.exit(1); });
"""

SDKS = (("openai", "openai", ("chat", "responses")),
        ("@anthropic-ai/sdk", os.path.join("@anthropic-ai", "sdk"),
         ("messages",)))
WORDS = len(TEXT.split())
mo.reset()
ma.reset()
mo.set_default("*", {"text": TEXT, "usage": {"prompt": 21,
                                             "completion": WORDS}})
ma.set_default("*", {"text": TEXT, "usage": {"prompt": 21,
                                             "completion": WORDS}})
# (api, model) -> the translation the row must name (None: native).
XL = {("chat", "gpt-xa"): None, ("chat", "claude-xa"): "chat>messages",
      ("messages", "claude-xa"): None, ("messages", "gpt-xa"): "messages>chat",
      ("responses", "gpt-xa"): "responses>chat",
      ("responses", "claude-xa"): "responses>messages"}
for sdk, pkg, apis in SDKS:
    mods = qp.node_modules_with(pkg)
    ncases = len(apis) * 4
    if mods is None:
        qp.missing("the %s SDK is not installed (run "
                   "tests/integration/npm-install.sh)" % sdk, ncases * N_SDK)
        continue
    cases = [{"api": api, "model": model, "stream": stream}
             for api in apis for model in ("gpt-xa", "claude-xa")
             for stream in (False, True)]
    d = qp.tempdir("qp-xsdk-")
    path = os.path.join(d, "client.js")
    with open(path, "w") as f:
        f.write(SDK_JS)
    base = inst.url + ("/v1" if sdk == "openai" else "")
    r = qp.run(["node", path, sdk, base, inst.key, json.dumps(cases)],
               timeout=120, env=qp.child_env({"NODE_PATH": mods}))
    res = None
    for line in r.lines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
    if res is None:
        transcript(r, "node %s" % sdk)
        res = [{} for _ in cases]
    for c, got in zip(cases, res):
        tag = "%s SDK %s %s on %s" % (sdk, c["api"], "stream" if c["stream"]
                                      else "JSON", c["model"])
        xl = XL[(c["api"], c["model"])]
        is_eq(got.get("err"), None, "%s: no error" % tag)
        is_eq(got.get("text"), TEXT, "%s: the provider's text" % tag)
        is_eq(got.get("usage"), [21, WORDS],
              "%s: usage as the mock sent it" % tag)
        row = dp.wait_row(inst, got.get("request_id")) or {}
        is_eq((row.get("status"), row.get("input_tokens"),
               row.get("output_tokens")), ("completed", 21, WORDS),
              "%s: the row's usage" % tag)
        is_eq(row.get("translation"), xl, "%s: translation %s" % (tag, xl))
mo.set_default("*", None)
ma.set_default("*", None)

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
