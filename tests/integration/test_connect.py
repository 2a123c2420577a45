#!/usr/bin/env python3
"""test_connect.py: quotapool-admin connect list and connect NAME against
mock providers: the key read from standard input or a variable (never an
argument), checked with a live models call, kept in the .env (0600) and not
in the configuration, the block appended with comments kept and .bak files
written, a second account for a configured provider, a refused key leaving
every file as it was, a keyless local runtime, and init probing local
runtimes; then the gateway serves through what connect wrote."""

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

KEY1 = "sk-connect-test-0001-abcdefghijkl"
KEY2 = "sk-connect-test-0002-mnopqrstuvwx"
mock = qp.mock(models=["gpt-a", "gpt-b"], valid_keys=[KEY1, KEY2])
inst = qp.Instance()
cfg = inst.config_path
envp = os.path.join(inst.dir, ".env")
with open(cfg, "a") as f:
    f.write("# a comment the operator wrote\n")


def read(p):
    with open(p) as f:
        return f.read()


def admin(*args, input_text=None, env=None):
    return qp.run([qp.ADMIN, "--config", cfg] + list(args),
                  input_text=input_text, env=env)


def one_line(r, pattern, name):
    ok(r.rc != 0, name + ": refused", lambda: "  %r" % r)
    lines = [x for x in r.err.splitlines() if x.startswith("quotapool-admin:")]
    ok(len(lines) == 1 and re.search(pattern, lines[0]),
       name + ": one line saying why", lambda: "  stderr: %r" % r.err)


# ---- connect list -------------------------------------------------------------

r = admin("connect", "list")
is_eq(r.rc, 0, "connect list: exit 0")
for name in ("openai", "anthropic", "openrouter", "deepseek", "groq", "mistral",
             "together", "fireworks", "gemini", "xai", "moonshot", "zai",
             "cerebras", "ollama", "vllm", "llamacpp", "lmstudio"):
    like(r.out, r"(?m)^%s\s" % name, "connect list: " + name)
r = admin("connect", "list", "--json")
ids = [t["id"] for t in qp.json.loads(r.out)] if r.rc == 0 else []
is_eq(len(ids), 17, "connect list --json: 17 templates")

# ---- refusals that change nothing ---------------------------------------------

before = read(cfg)
one_line(admin("connect", "openai", "--key", KEY1), r"never taken as arguments",
         "a key as an argument")
one_line(admin("connect", "nosuch"), r"no provider template", "unknown template")
r = admin("connect", "openai", "--base-url", mock.base_url,
          env={"OPENAI_API_KEY": ""})
one_line(r, r"no key", "no key, no terminal")
r = admin("connect", "openai", "--base-url", mock.base_url, "--key-stdin",
          input_text="sk-wrong-key-000000000000\n")
one_line(r, r"answered 401", "a key the provider refuses")
is_eq(read(cfg), before, "refusals left the configuration as it was")
ok(not os.path.exists(envp), "refusals wrote no .env")
ok("sk-wrong" not in r.out + r.err, "the refused key is not echoed")

# ---- a key from standard input ------------------------------------------------

r = admin("connect", "openai", "--base-url", mock.base_url, "--key-stdin",
          input_text=KEY1 + "\n")
is_eq(r.rc, 0, "connect openai --key-stdin: exit 0")
like(r.out, r"answered with 2 models: gpt-a gpt-b", "the live check's models")
like(r.out, r"\[providers\.openai\], account openai-1", "says what it added")
ok(KEY1 not in r.out + r.err, "the key is not printed")
text = read(cfg)
ok(text.startswith(before), "the old text is kept as it was, comments too")
like(text, r'\[providers\.openai\]\nbase_url = "%s"\nprotocols = \["openai"\]'
     % re.escape(mock.base_url), "the provider block")
like(text, r'\[\[providers\.openai\.accounts\]\]\nname = "openai-1"\n'
     r'api_key_env = "OPENAI_API_KEY"', "the account names its variable")
ok(KEY1 not in text, "the key is not in the configuration")
is_eq(read(envp), "OPENAI_API_KEY=%s\n" % KEY1, "the key is in the .env")
is_eq(stat.S_IMODE(os.stat(envp).st_mode), 0o600, ".env is mode 0600")
is_eq(stat.S_IMODE(os.stat(cfg).st_mode), 0o600, "config.toml stays 0600")
is_eq(read(cfg + ".bak"), before, "config.toml.bak is the previous text")
r = admin("check-config")
is_eq(r.rc, 0, "check-config accepts the result")

# ---- a second account, its key from a variable --------------------------------

r = admin("connect", "openai", "--base-url", mock.base_url, "--key-env",
          "MY_SECOND_KEY", env={"MY_SECOND_KEY": KEY2})
is_eq(r.rc, 0, "a second account: exit 0")
text2 = read(cfg)
ok(text2.startswith(text), "the second account is appended")
is_eq(text2.count("[providers.openai]"), 1, "the provider block is not repeated")
like(text2[len(text):], r'\[\[providers\.openai\.accounts\]\]\nname = "openai-2"'
     r'\napi_key_env = "MY_SECOND_KEY"', "account openai-2 with its variable")
is_eq(read(envp), "OPENAI_API_KEY=%s\nMY_SECOND_KEY=%s\n" % (KEY1, KEY2),
      "both keys in the .env")
is_eq(read(envp + ".bak"), "OPENAI_API_KEY=%s\n" % KEY1, ".env.bak")

# The same template's variable again, with another key: a new variable.
r = admin("connect", "openai", "--id", "openai2", "--base-url", mock.base_url,
          "--key-stdin", input_text=KEY2 + "\n")
is_eq(r.rc, 0, "another provider id from the same template")
like(read(cfg), r'\[providers\.openai2\][\s\S]*?\[\[providers\.openai2\.accounts'
     r'\]\]\nname = "openai2-1"\napi_key_env = "OPENAI_API_KEY_2"',
     "its key gets the next free variable")

# ---- a keyless local runtime --------------------------------------------------

local = qp.mock(models=["llama3"])
r = admin("connect", "ollama", "--base-url", local.base_url)
is_eq(r.rc, 0, "connect ollama: exit 0")
like(read(cfg), r'\[providers\.ollama\]\nbase_url = "%s"\nprotocols = '
     r'\["openai"\]\nauth = "none"\n\[\[providers\.ollama\.accounts\]\]\n'
     r'name = "ollama-1"\n' % re.escape(local.base_url),
     "a keyless block, no key variable")
one_line(admin("connect", "vllm", "--base-url", "http://127.0.0.1:9/v1"),
         r"did not answer", "a runtime that is not there")

# ---- the gateway serves through it ----------------------------------------------

dp.start(inst)
# The catalog is fetched in the background at start (retried from 1 s on a
# failure): on a loaded machine that can take a while.
deadline = qp.time.monotonic() + 40
ids = []
while qp.time.monotonic() < deadline:
    r = inst.request("GET", "/v1/models")
    ids = [m.get("id") for m in (r.try_json() or {}).get("data") or []]
    if "gpt-a/openai" in ids and "llama3/ollama" in ids:
        break
    qp.time.sleep(0.1)
ok("gpt-a/openai" in ids and "llama3/ollama" in ids,
   "the catalog lists the connected models", lambda: "  %r" % ids)
r = inst.request("POST", dp.OPENAI, dp.chat("gpt-a/openai", "hi"))
is_eq(r.status, 200, "the gateway serves a connected model")
keys_seen = {x["headers"].get("authorization") for x in
             mock.requests(path=dp.OPENAI)}
ok(keys_seen <= {"Bearer " + KEY1, "Bearer " + KEY2} and keys_seen,
   "with a connected key", lambda: "  %r" % keys_seen)
r = inst.request("POST", dp.OPENAI, dp.chat("llama3/ollama", "hi"))
is_eq(r.status, 200, "and the local runtime")
inst.stop()

# ---- init probes local runtimes ------------------------------------------------

data = qp.tempdir("qp-connect-data-")
for n in ("schema", "views", "lighttpd", "config.example.toml"):
    os.symlink(os.path.join(qp.SRCDIR, n), os.path.join(data, n))
os.makedirs(os.path.join(data, "providers"))
up = qp.mock(models=["qwen3"])
with open(os.path.join(data, "providers", "templates.toml"), "w") as f:
    f.write('[ollama]\nname = "Ollama (local)"\nbase_url = "%s"\n'
            'protocols = ["openai"]\nauth = "none"\nlocal = true\n\n'
            '[vllm]\nname = "vLLM (local)"\nbase_url = "http://127.0.0.1:9/v1"\n'
            'protocols = ["openai"]\nauth = "none"\nlocal = true\n\n'
            '[openai]\nname = "OpenAI"\nbase_url = "%s"\n'
            'protocols = ["openai"]\nkey_env = "OPENAI_API_KEY"\n'
            % (up.base_url, up.base_url))
idir = os.path.join(qp.tempdir("qp-connect-init-"), "inst")
r = qp.run([qp.ADMIN, "init", idir, "--port", str(qp.free_port())],
           env={"QUOTAPOOL_DATADIR": data})
is_eq(r.rc, 0, "init with a local runtime answering: exit 0")
like(r.out, r"found Ollama \(local\) at .* with 1 model", "init says what it found")
itext = read(os.path.join(idir, "config.toml"))
like(itext, r"(?m)^\[providers\.ollama\]", "init added the runtime that answers")
ok(not re.search(r"(?m)^\[providers\.(vllm|openai)\]", itext),
   "and neither the silent one nor a remote one")
r = qp.run([qp.ADMIN, "init", idir], env={"QUOTAPOOL_DATADIR": data})
is_eq(len(re.findall(r"(?m)^\[providers\.ollama\]",
                     read(os.path.join(idir, "config.toml")))), 1,
      "init again does not add it twice")
idir2 = os.path.join(qp.tempdir("qp-connect-init-"), "inst")
r = qp.run([qp.ADMIN, "init", idir2, "--no-probe"],
           env={"QUOTAPOOL_DATADIR": data})
ok(r.rc == 0 and not re.search(r"(?m)^\[providers\.ollama\]",
                               read(os.path.join(idir2, "config.toml"))),
   "init --no-probe probes nothing")

qp.done()
