#!/usr/bin/env python3
"""test_configsetup.py: quotapool-admin configsetup for claude-code,
opencode, codex, aider and env against a running gateway: the URL, a new
client key that the gateway accepts (or the one given through a variable),
the served models with a default each agent's protocol reaches; --write
into $HOME with the previous file merged (JSON) and kept as .bak, mode
0600; refusals in one line."""

import json
import os
import re
import stat
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(180)

mo = qp.mock(models=["gpt-x"])
ma = qp.mock(style="anthropic", models=["claude-x"])
inst = qp.Instance(providers={
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-x"],
           "accounts": ["o1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": ["claude-x"],
           "accounts": ["c1"]}})
dp.start(inst)
deadline = qp.time.monotonic() + 15
while qp.time.monotonic() < deadline:
    ids = [m.get("id") for m in (inst.request("GET", "/v1/models").try_json()
                                 or {}).get("data") or []]
    if len(ids) == 2:
        break
    qp.time.sleep(0.1)
home = qp.tempdir("qp-cs-home-")


def cs(*args, env=None):
    e = {"HOME": home}
    e.update(env or {})
    return inst.admin("configsetup", *args, env=e)


def refused(r, pattern, name):
    ok(r.rc != 0, name + ": refused", lambda: "  %r" % r)
    lines = [x for x in r.err.splitlines() if x.startswith("quotapool-admin:")]
    ok(len(lines) == 1 and re.search(pattern, lines[0]),
       name + ": one line saying why", lambda: "  stderr: %r" % r.err)


def key_names():
    return re.findall(r"(?m)^(\S+)\s+qp_", inst.admin("key", "list").out)


def works(key, name):
    r = inst.request("POST", dp.ANTHROPIC, dp.messages("claude-x/pa", "hi"),
                     key=key, auth="x-api-key")
    is_eq(r.status, 200, name + ": the gateway accepts its key")


# ---- claude-code ----------------------------------------------------------------

r = cs("claude-code")
is_eq(r.rc, 0, "claude-code: exit 0")
j = json.loads(r.out) if r.rc == 0 else {}
env = j.get("env", {})
is_eq(env.get("ANTHROPIC_BASE_URL"), inst.url, "claude-code: the gateway URL")
is_eq(env.get("ANTHROPIC_MODEL"), "claude-x/pa",
      "claude-code: the model its protocol reaches")
ok(re.match(r"^qp_[0-9a-f]{48}$", env.get("ANTHROPIC_AUTH_TOKEN", "")),
   "claude-code: a client key")
works(env.get("ANTHROPIC_AUTH_TOKEN"), "claude-code")
like(r.err, r"issued client key 'claude-code'", "claude-code: says which key")
r = cs("claude-code", "--model", "gpt-x/po")
is_eq(json.loads(r.out)["env"]["ANTHROPIC_MODEL"] if r.rc == 0 else None,
      "gpt-x/po", "claude-code --model")
like(r.err, r"issued client key 'claude-code-2'", "a second run: the next name")
keys = inst.admin("key", "list").out
ok(re.search(r"(?m)^claude-code\s", keys) and
   re.search(r"(?m)^claude-code-2\s", keys), "both keys are listed")

# --write merges into the existing settings and keeps the old file.
sdir = os.path.join(home, ".claude")
os.makedirs(sdir)
spath = os.path.join(sdir, "settings.json")
with open(spath, "w") as f:
    json.dump({"theme": "dark", "env": {"OTHER": "1"}}, f)
r = cs("claude-code", "--write")
is_eq(r.rc, 0, "claude-code --write: exit 0")
j = json.load(open(spath))
is_eq((j.get("theme"), j.get("env", {}).get("OTHER")), ("dark", "1"),
      "claude-code --write: other settings kept")
is_eq(j.get("env", {}).get("ANTHROPIC_BASE_URL"), inst.url,
      "claude-code --write: the gateway's settings merged in")
is_eq(stat.S_IMODE(os.stat(spath).st_mode), 0o600, "written with mode 0600")
is_eq(json.load(open(spath + ".bak")), {"theme": "dark", "env": {"OTHER": "1"}},
      "the previous file kept as .bak")
with open(spath, "w") as f:
    f.write("{not json")
names = key_names()
refused(cs("claude-code", "--write"), r"not a JSON object", "a broken settings file")
is_eq(key_names(), names, "a refused run issues no key")
is_eq(open(spath).read(), "{not json", "a broken settings file is left alone")

# ---- opencode ------------------------------------------------------------------

opath = os.path.join(home, ".config", "opencode", "opencode.json")
r = cs("opencode", "--write")
is_eq(r.rc, 0, "opencode --write: exit 0")
j = json.load(open(opath)) if os.path.exists(opath) else {}
p = j.get("provider", {}).get("quotapool", {})
is_eq(p.get("npm"), "@ai-sdk/openai-compatible", "opencode: the provider package")
is_eq(p.get("options", {}).get("baseURL"), inst.url + "/v1", "opencode: base URL")
is_eq(sorted(p.get("models", {})), ["claude-x/pa", "gpt-x/po"],
      "opencode: every served model")
is_eq(j.get("model"), "quotapool/gpt-x/po", "opencode: an OpenAI-protocol default")
works(p.get("options", {}).get("apiKey"), "opencode")
is_eq(stat.S_IMODE(os.stat(opath).st_mode), 0o600, "opencode: mode 0600")

# ---- codex, aider, env -----------------------------------------------------------

r = cs("codex")
is_eq(r.rc, 0, "codex: exit 0")
like(r.out, r'(?m)^model = "gpt-x/po"$', "codex: the model")
like(r.out, r'(?m)^model_provider = "quotapool"$', "codex: the provider")
like(r.out, r'(?m)^base_url = "%s/v1"$' % re.escape(inst.url), "codex: base URL")
like(r.out, r'(?m)^wire_api = "responses"$', "codex: the Responses API")
like(r.out, r'(?m)^env_key = "QUOTAPOOL_API_KEY"$', "codex: the key's variable")
ok(not re.search(r"qp_[0-9a-f]{48}", r.out), "codex: no key in its file")
r = cs("aider")
like(r.out, r'(?m)^openai-api-base: "%s/v1"$' % re.escape(inst.url),
     "aider: base URL")
like(r.out, r'(?m)^model: "openai/gpt-x/po"$', "aider: the model")
m = re.search(r'(?m)^openai-api-key: "(qp_[0-9a-f]{48})"$', r.out)
ok(m, "aider: its key")
r = cs("env")
is_eq(r.rc, 0, "env: exit 0")
vals = dict(re.findall(r"(?m)^export ([A-Z_]+)='([^']*)'$", r.out))
is_eq(vals.get("OPENAI_BASE_URL"), inst.url + "/v1", "env: OPENAI_BASE_URL")
is_eq(vals.get("ANTHROPIC_BASE_URL"), inst.url, "env: ANTHROPIC_BASE_URL")
is_eq(len({vals.get("OPENAI_API_KEY"), vals.get("ANTHROPIC_AUTH_TOKEN"),
           vals.get("QUOTAPOOL_API_KEY")}), 1, "env: one key for every variable")
r2 = inst.request("POST", dp.OPENAI, dp.chat("gpt-x/po", "hi"),
                  key=vals.get("OPENAI_API_KEY"))
is_eq(r2.status, 200, "env: the gateway accepts its key")

# ---- a key given through a variable, and refusals ------------------------------

given = inst.new_key("mine")
before = key_names()
r = cs("env", "--key-env", "MY_QP_KEY", env={"MY_QP_KEY": given})
is_eq(r.rc, 0, "--key-env: exit 0")
like(r.out, re.escape(given), "--key-env: that key is used")
is_eq(key_names(), before, "--key-env: no key issued")
refused(cs("env", "--key-env", "MY_QP_KEY",
           env={"MY_QP_KEY": "qp_" + "0" * 48}), r"not a valid key",
        "--key-env with a key this gateway does not know")
refused(cs("env", "--key", given), r"never taken as arguments", "--key VALUE")
refused(cs("env", "--write"), r"no file to write", "env --write")
refused(cs("vim"), r"unknown agent", "an unknown agent")
refused(cs("codex", "--base-url", "ftp://x"), r"http", "a bad --base-url")
r = cs("env", "--base-url", "https://gw.example.org/v1/")
like(r.out, r"(?m)^export OPENAI_BASE_URL='https://gw\.example\.org/v1'$",
     "--base-url: a trailing /v1/ is not doubled")
inst.stop()

qp.done()
