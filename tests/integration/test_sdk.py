#!/usr/bin/env python3
"""test_sdk.py: the official client libraries against quotapool (lighttpd +
quotapool.fcgi + a mock account): the OpenAI SDK streaming a chat (Python
`openai` module, else the Node.js `openai` package) and the Anthropic SDK
streaming a message (Python `anthropic`, else Node.js `@anthropic-ai/sdk`).

Nothing is downloaded here: each SDK is used where it is installed and
skipped visibly where it is not (under CI=true a missing SDK fails).
Node.js packages are installed, pinned, by tests/integration/npm-install.sh
(`make npm-install`) and looked up by qp.node_modules_with():
$QP_SDK_NODE_MODULES, $QP_NODE_PACKAGES/node_modules (default
~/.cache/quotapool/npm), $QP_BUILDDIR/sdk/node_modules, then NODE_PATH. The
streamed chunks are printed as TAP comments: a transcript of the SDK talking
to the gateway."""

import json
import os
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from qp import is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(150)

N_OPENAI = 8
N_ANTHROPIC = 6
TEXT = "quotapool pools every account quietly"

OPENAI_JS = r"""
const mod = require('openai');
const OpenAI = mod.OpenAI || mod.default || mod;
(async () => {
  const [baseURL, apiKey, model] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
  const out = { version: OpenAI.VERSION || null, chunks: 0, text: '',
                usage: null, models: [], full: null, err: null };
  const { data: stream, response } = await client.chat.completions.create({
    model, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Say something' }] }).withResponse();
  out.request_id = response.headers.get('x-proxy-request-id');
  for await (const chunk of stream) {
    out.chunks++;
    console.log('chunk ' + JSON.stringify(chunk));
    for (const c of chunk.choices || [])
      out.text += (c.delta && c.delta.content) || '';
    if (chunk.usage) out.usage = chunk.usage;
  }
  const full = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Again' }] });
  out.full = full.choices[0].message.content;
  for await (const m of client.models.list()) out.models.push(m.id);
  try {
    await client.chat.completions.create({ model: 'no-such-model',
      messages: [{ role: 'user', content: 'x' }] });
  } catch (e) { out.err = { status: e.status, message: e.message }; }
  console.log('RESULT ' + JSON.stringify(out));
})().catch(e => { console.log('FAIL ' + ((e && e.stack) || e)); process.exit(1); });
"""

ANTHROPIC_JS = r"""
const mod = require('@anthropic-ai/sdk');
const Anthropic = mod.Anthropic || mod.default || mod;
(async () => {
  const [baseURL, apiKey, model] = process.argv.slice(2);
  const client = new Anthropic({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
  const out = { events: [], text: '', input: null, output: null, err: null };
  const { data: stream, response } = await client.messages.create({
    model, max_tokens: 64, stream: true,
    messages: [{ role: 'user', content: 'Say something' }] }).withResponse();
  out.request_id = response.headers.get('x-proxy-request-id');
  for await (const ev of stream) {
    out.events.push(ev.type);
    console.log('event ' + JSON.stringify(ev));
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta')
      out.text += ev.delta.text;
    if (ev.type === 'message_start') out.input = ev.message.usage.input_tokens;
    if (ev.type === 'message_delta') out.output = ev.usage.output_tokens;
  }
  try {
    await client.messages.create({ model: 'no-such-model', max_tokens: 8,
      messages: [{ role: 'user', content: 'x' }] });
  } catch (e) { out.err = { status: e.status, message: e.message }; }
  console.log('RESULT ' + JSON.stringify(out));
})().catch(e => { console.log('FAIL ' + ((e && e.stack) || e)); process.exit(1); });
"""


node_modules_with = qp.node_modules_with


def python_has(mod):
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def node_version(modules, pkg):
    try:
        with open(os.path.join(modules, pkg, "package.json")) as f:
            return json.load(f).get("version", "?")
    except (OSError, ValueError):
        return "?"


def run_node(script, modules, args):
    d = qp.tempdir("qp-sdk-")
    path = os.path.join(d, "client.js")
    with open(path, "w") as f:
        f.write(script)
    env = qp.child_env({"NODE_PATH": modules})
    r = qp.run(["node", path] + [str(a) for a in args], timeout=60, env=env)
    result = None
    for line in r.lines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
    return r, result


def transcript(r, what):
    qp.diag("%s transcript:" % what)
    for line in r.lines():
        if not line.startswith("RESULT "):
            qp.diag("  " + line[:300])


mo = qp.mock(models=["gpt-sdk"])
ma = qp.mock(style="anthropic", models=["claude-sdk"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-sdk"],
           "accounts": ["sdk1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": ["claude-sdk"],
           "accounts": ["sdk2"]},
})
dp.start(inst)
words = len(TEXT.split())
mo.set_default("*", {"text": TEXT, "interval_ms": 20,
                     "usage": {"prompt": 21, "completion": words}})
ma.set_default("*", {"text": TEXT, "interval_ms": 20,
                     "usage": {"prompt": 23, "completion": words}})

# ---- OpenAI SDK -----------------------------------------------------------


def check_openai(res, how):
    ok(res is not None, "OpenAI SDK (%s): the script ran to its end" % how)
    res = res or {}
    is_eq(res.get("text"), TEXT, "OpenAI SDK (%s): streamed text" % how)
    ok(res.get("chunks", 0) >= words, "OpenAI SDK (%s): one chunk per delta "
       "at least (%r)" % (how, res.get("chunks")))
    u = res.get("usage") or {}
    is_eq((u.get("prompt_tokens"), u.get("completion_tokens")), (21, words),
          "OpenAI SDK (%s): include_usage gives the usage chunk" % how)
    is_eq(res.get("full"), TEXT, "OpenAI SDK (%s): non-streamed chat" % how)
    ok("gpt-sdk/po" in (res.get("models") or []),
       "OpenAI SDK (%s): models.list() has gpt-sdk/po" % how,
       lambda: "  models: %r" % res.get("models"))
    is_eq((res.get("err") or {}).get("status"), 404,
          "OpenAI SDK (%s): an unknown model raises a 404 APIError" % how)
    row = dp.wait_row(inst, res.get("request_id")) or {}
    is_eq((row.get("status"), row.get("stream_complete"),
           row.get("input_tokens"), row.get("output_tokens")),
          ("completed", 1, 21, words),
          "OpenAI SDK (%s): the streamed chat is accounted" % how)


if python_has("openai"):
    import openai  # noqa: E402
    client = openai.OpenAI(base_url=inst.url + "/v1", api_key=inst.key,
                           max_retries=0, timeout=20)
    res = {"chunks": 0, "text": "", "usage": None}
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-sdk", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Say something"}])
    res["request_id"] = raw.headers.get("x-proxy-request-id")
    qp.diag("OpenAI SDK (python %s) transcript:" % openai.__version__)
    for chunk in raw.parse():
        res["chunks"] += 1
        qp.diag("  chunk " + chunk.model_dump_json()[:300])
        for c in chunk.choices:
            res["text"] += c.delta.content or ""
        if chunk.usage is not None:
            res["usage"] = chunk.usage.model_dump()
    full = client.chat.completions.create(
        model="gpt-sdk", messages=[{"role": "user", "content": "Again"}])
    res["full"] = full.choices[0].message.content
    res["models"] = [m.id for m in client.models.list()]
    try:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}])
        res["err"] = None
    except openai.APIStatusError as e:
        res["err"] = {"status": e.status_code, "message": str(e)}
    check_openai(res, "python")
elif node_modules_with("openai"):
    mods = node_modules_with("openai")
    r, res = run_node(OPENAI_JS, mods, [inst.url + "/v1", inst.key,
                                        "gpt-sdk"])
    transcript(r, "OpenAI SDK (node openai %s, %s)" % (
        node_version(mods, "openai"), mods))
    if res is None:
        qp.diag(repr(r))
    check_openai(res, "node")
else:
    qp.missing("OpenAI SDK not installed (no python3 openai module, no node "
               "openai package; see this file's header)", N_OPENAI)

# ---- Anthropic SDK --------------------------------------------------------


def check_anthropic(res, how):
    ok(res is not None, "Anthropic SDK (%s): the script ran to its end" % how)
    res = res or {}
    is_eq(res.get("text"), TEXT, "Anthropic SDK (%s): streamed text" % how)
    ev = res.get("events") or []
    ok(ev[:1] == ["message_start"] and ev[-1:] == ["message_stop"],
       "Anthropic SDK (%s): message_start ... message_stop" % how,
       lambda: "  events: %r" % ev)
    is_eq((res.get("input"), res.get("output")), (23, words),
          "Anthropic SDK (%s): usage in message_start/message_delta" % how)
    is_eq((res.get("err") or {}).get("status"), 404,
          "Anthropic SDK (%s): an unknown model raises a 404 error" % how)
    row = dp.wait_row(inst, res.get("request_id")) or {}
    is_eq((row.get("status"), row.get("stream_complete"),
           row.get("input_tokens"), row.get("output_tokens")),
          ("completed", 1, 23, words),
          "Anthropic SDK (%s): the streamed message is accounted" % how)


if python_has("anthropic"):
    import anthropic  # noqa: E402
    client = anthropic.Anthropic(base_url=inst.url, api_key=inst.key,
                                 max_retries=0, timeout=20)
    res = {"events": [], "text": ""}
    raw = client.messages.with_raw_response.create(
        model="claude-sdk", max_tokens=64, stream=True,
        messages=[{"role": "user", "content": "Say something"}])
    res["request_id"] = raw.headers.get("x-proxy-request-id")
    qp.diag("Anthropic SDK (python %s) transcript:" % anthropic.__version__)
    for ev in raw.parse():
        res["events"].append(ev.type)
        qp.diag("  event " + ev.model_dump_json()[:300])
        if ev.type == "content_block_delta" and ev.delta.type == "text_delta":
            res["text"] += ev.delta.text
        if ev.type == "message_start":
            res["input"] = ev.message.usage.input_tokens
        if ev.type == "message_delta":
            res["output"] = ev.usage.output_tokens
    try:
        client.messages.create(model="no-such-model", max_tokens=8,
                               messages=[{"role": "user", "content": "x"}])
        res["err"] = None
    except anthropic.APIStatusError as e:
        res["err"] = {"status": e.status_code, "message": str(e)}
    check_anthropic(res, "python")
elif node_modules_with(os.path.join("@anthropic-ai", "sdk")):
    mods = node_modules_with(os.path.join("@anthropic-ai", "sdk"))
    r, res = run_node(ANTHROPIC_JS, mods, [inst.url, inst.key, "claude-sdk"])
    transcript(r, "Anthropic SDK (node @anthropic-ai/sdk %s, %s)" % (
        node_version(mods, os.path.join("@anthropic-ai", "sdk")), mods))
    if res is None:
        qp.diag(repr(r))
    check_anthropic(res, "node")
else:
    qp.missing("Anthropic SDK not installed (no python3 anthropic module, "
               "no node @anthropic-ai/sdk package; see this file's header)",
               N_ANTHROPIC)

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
