#!/usr/bin/env python3
"""test_framing.py: upstream answers framed the way real providers frame
them, driven through lighttpd and quotapool.fcgi: SSE events cut at random
offsets and at every byte (seeded), CRLF line endings, multi-byte UTF-8 cut
inside a character, JSON answers in chunked encoding, a kept-alive
connection the provider closes between requests, an error event in the
middle of a stream, and HTTPS with a private CA given as the provider's
ca_file (the CA and the certificate are made here with openssl)."""

import os
import shutil
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import is_eq, like, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

# Multi-byte characters of 2, 3 and 4 bytes, so that cuts fall inside them.
TEXT = "héllo wörld – 日本語の テキスト 🙂🚀 naïve façade"
# Shorter, for the byte-by-byte answers (a millisecond between bytes).
SHORT = "ñ 語 🙂"
USAGE = {"prompt": 31, "completion": 9, "cache_read": 4, "cache_write": 0}


def make_tls(d):
    """A CA and a certificate for 127.0.0.1 signed by it, in d: returns
    (ca.pem, server.pem, server.key), or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr = os.path.join(d, "server.key"), os.path.join(d, "server.csr")
    crt, ext = os.path.join(d, "server.pem"), os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n"
                "keyUsage = digitalSignature\nextendedKeyUsage = serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    steps = [
        [openssl, "req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca,
                                          "-days", "2", "-subj",
                                          "/CN=quotapool test CA",
                                          "-addext",
                                          "basicConstraints=critical,CA:TRUE",
                                          "-addext",
                                          "keyUsage=critical,keyCertSign"],
        [openssl, "req", "-new"] + ec + ["-keyout", key, "-out", csr,
                                         "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-days", "2", "-out", crt, "-extfile", ext],
    ]
    for args in steps:
        r = qp.run(args, timeout=30)
        if r.rc != 0:
            qp.diag("openssl failed: %r" % r)
            return None
    return ca, crt, key


tmp = qp.tempdir("qp-tls-")
tls = make_tls(tmp)

mo = qp.mock(models=["gpt-f"])
ma = qp.mock(style="anthropic", models=["claude-f"])
providers = {
    "po": {"mock": mo, "protocols": ["openai"], "models": ["gpt-f"],
           "accounts": ["fo1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": ["claude-f"],
           "accounts": ["fa1"]},
}
if tls is not None:
    mt = qp.mock(models=["gpt-tls"], tls=(tls[1], tls[2]))
    providers["pt"] = {"mock": mt, "protocols": ["openai"],
                       "models": ["gpt-tls"], "accounts": ["ft1"],
                       "ca_file": tls[0]}
    # The same server without the CA: verification must refuse it.
    providers["pn"] = {"base_url": mt.base_url, "protocols": ["openai"],
                       "models": ["gpt-nca"], "accounts": ["fn1"],
                       "models_path": ""}
inst = qp.Instance(providers=providers)
dp.start(inst)

FAM = {"openai": (OPENAI, mo, "gpt-f"), "anthropic": (ANTHROPIC, ma,
                                                      "claude-f")}


def usage_row(fam, u):
    """(input, output, cache read, cache write) a row keeps for usage u."""
    if fam == "openai":
        return (u["prompt"] - u["cache_read"] - u["cache_write"],
                u["completion"], u["cache_read"], u["cache_write"])
    return (u["prompt"], u["completion"], u["cache_read"], u["cache_write"])


def body_of(fam, model, stream):
    if fam == "openai":
        return dp.chat(model, stream=stream)
    return dp.messages(model, stream=stream)


def names(fam, evs):
    """The event sequence a client sees: Anthropic event names, or OpenAI
    'role', 'delta', 'finish', 'usage', 'error', '[DONE]'."""
    out = []
    for name, d in evs:
        if fam == "anthropic":
            out.append(name)
        elif not isinstance(d, dict):
            out.append(d)
        elif "error" in d:
            out.append("error")
        elif not d.get("choices"):
            out.append("usage")
        else:
            c = d["choices"][0]
            out.append("finish" if c.get("finish_reason") else
                       "role" if (c.get("delta") or {}).get("role") else
                       "delta")
    return out




def want_names(fam, text):
    n = len(text.split())
    if fam == "openai":
        return ["role"] + ["delta"] * n + ["finish", "[DONE]"]
    return ["message_start", "content_block_start"] + \
        ["content_block_delta"] * n + \
        ["content_block_stop", "message_delta", "message_stop"]


def check_stream(fam, behaviour, what, text=TEXT):
    """One streamed request with behaviour: the client gets every event
    whole, in order, with the text intact, and the row is complete."""
    path, mock, model = FAM[fam]
    mock.reset()
    b = dict({"text": text, "usage": USAGE, "utf8": True}, **behaviour)
    mock.script("*", b)
    with inst.stream(path, body_of(fam, model, True), timeout=60) as s:
        raw = s.read_all()
        uid = dp.uid_of(s)
        st = s.status
    recs = mock.requests(path=path)
    writes = recs[0]["writes"] if recs else 0
    evs = dp.sse_json(raw)
    got = dp.openai_text(evs) if fam == "openai" else dp.anthropic_text(evs)
    ok(st == 200 and got == text and names(fam, evs) == want_names(fam, text),
       "%s %s (%d writes): every event whole and in order, the UTF-8 text "
       "intact" % (fam, what, writes),
       lambda: "  status %r text %r\n  events %r\n  raw %r" % (
           st, got, names(fam, evs), raw[:400]))
    ok(_utf8(raw), "%s %s: the client's bytes are valid UTF-8" % (fam, what))
    row = dp.wait_row(inst, uid) or {}
    is_eq((row.get("status"), row.get("stream_complete"),
           (row.get("input_tokens"), row.get("output_tokens"),
            row.get("cache_read_tokens"), row.get("cache_write_tokens"))),
          ("completed", 1, usage_row(fam, USAGE)),
          "%s %s: row completed, stream complete, the usage read" % (
              fam, what))
    return raw, recs


def _utf8(raw):
    try:
        raw.decode("utf-8", "strict")
        return True
    except UnicodeDecodeError:
        return False


# ---- events cut anywhere --------------------------------------------------

for fam in ("openai", "anthropic"):
    for seed in (1, 2, 3, 4, 5):
        check_stream(fam, {"split_seed": seed, "split_max": 11,
                           "split_gap_ms": 0},
                     "split at random offsets (seed %d)" % seed)
    _, recs = check_stream(fam, {"split_max": 1, "split_gap_ms": 1},
                           "split at every byte", text=SHORT)
    ok(recs and recs[0]["writes"] > 500,
       "%s split at every byte: the provider wrote byte by byte (%d "
       "writes)" % (fam, recs[0]["writes"] if recs else 0))

# ---- CRLF line endings ----------------------------------------------------

for fam in ("openai", "anthropic"):
    raw, _ = check_stream(fam, {"crlf": True}, "with CRLF line endings")
    check_stream(fam, {"crlf": True, "split_seed": 9, "split_max": 3,
                       "split_gap_ms": 0},
                 "with CRLF, split between CR and LF too")

# ---- JSON answers in chunked encoding -------------------------------------

for fam in ("openai", "anthropic"):
    path, mock, model = FAM[fam]
    for seed in (1, 2):
        mock.reset()
        mock.script("*", {"text": TEXT, "usage": USAGE, "utf8": True,
                          "json_chunked": True, "split_seed": seed,
                          "split_max": 13})
        r = inst.request("POST", path, body_of(fam, model, False))
        j = r.try_json() or {}
        if fam == "openai":
            text = ((j.get("choices") or [{}])[0].get("message") or
                    {}).get("content")
        else:
            text = ((j.get("content") or [{}])[0]).get("text")
        recs = mock.requests(path=path)
        ok(r.status == 200 and text == TEXT, "%s JSON in %d chunks (seed %d):"
           " the answer whole, the UTF-8 text intact" % (
               fam, recs[0]["writes"] if recs else 0, seed),
           lambda: dp.show(r))
        row = dp.wait_row(inst, dp.uid_of(r)) or {}
        is_eq((row.get("status"), (row.get("input_tokens"),
                                   row.get("output_tokens"),
                                   row.get("cache_read_tokens"),
                                   row.get("cache_write_tokens"))),
              ("completed", usage_row(fam, USAGE)),
              "%s chunked JSON (seed %d): row completed with the usage"
              % (fam, seed))

# ---- the provider closes an idle kept-alive connection ---------------------

for fam in ("openai", "anthropic"):
    path, mock, model = FAM[fam]
    mock.reset()
    mock.set_default("*", {"close_idle_ms": 150})
    results = []
    for i in range(6):
        stream = i % 2 == 1
        if stream:
            with inst.stream(path, body_of(fam, model, True)) as s:
                s.read_all()
                results.append((s.status, dp.uid_of(s)))
        else:
            r = inst.request("POST", path, body_of(fam, model, False))
            results.append((r.status, dp.uid_of(r)))
        # Wait until the provider has closed the connection just used.
        mock.wait_for(lambda recs: len(recs) >= i + 1 and
                      recs[-1]["idle_closed"], timeout=5)
    mock.set_default("*", None)
    closed = [r for r in mock.requests(path=path) if r["idle_closed"]]
    rows = [dp.wait_row(inst, uid) or {} for _, uid in results]
    ok([st for st, _ in results] == [200] * 6 and
       [(x.get("status"), x.get("attempt_count")) for x in rows] ==
       [("completed", 1)] * 6,
       "%s: 6 requests, each after the provider closed the kept-alive "
       "connection (%d closes seen): all 200, completed at the first attempt"
       % (fam, len(closed)),
       lambda: "  %r\n  %r" % (results, [(x.get("status"),
                                         x.get("attempt_count"),
                                         x.get("error_class"))
                                        for x in rows]))
    is_eq(len(closed), 6, "%s: the provider closed after each answer" % fam)

# ---- an error event in the middle of a stream -----------------------------

for fam in ("openai", "anthropic"):
    path, mock, model = FAM[fam]
    mock.reset()
    mock.script("*", {"text": TEXT, "usage": USAGE, "error_after": 4,
                      "split_seed": 3, "split_max": 17})
    with inst.stream(path, body_of(fam, model, True), timeout=30) as s:
        raw = s.read_all()
        uid = dp.uid_of(s)
        st = s.status
    evs = dp.sse_json(raw)
    got = names(fam, evs)
    want = want_names(fam, TEXT)[:4] + ["error"]
    is_eq((st, got), (200, want), "%s error event after 4 events: the client "
          "gets the 4 events and the error event, relayed" % fam)
    last = evs[-1][1] if evs else {}
    err = last.get("error") if isinstance(last, dict) else None
    like((err or {}).get("type"), r"^(server_error|overloaded_error)$",
         "%s error event: relayed as the provider sent it" % fam)
    row = dp.wait_row(inst, uid) or {}
    atts = dp.attempts(inst, uid)
    is_eq((row.get("status"), row.get("stream_complete"),
           [a["outcome"] for a in atts]), ("error", 0, ["stream_error"]),
          "%s error event: recorded (row error, stream incomplete, attempt "
          "stream_error)" % fam)
    like(row.get("error_class") or "", r"\S",
         "%s error event: the row names an error class (%s)"
         % (fam, row.get("error_class")))

# ---- HTTPS with a private CA ----------------------------------------------

if tls is None:
    qp.skip("openssl is not installed: no TLS test", 4)
else:
    r = inst.request("POST", OPENAI, dp.chat("gpt-tls"))
    is_eq((r.status, (r.try_json() or {}).get("object")),
          (200, "chat.completion"), "TLS with ca_file: JSON answer over "
          "HTTPS", )
    with inst.stream(OPENAI, dp.chat("gpt-tls", stream=True)) as s:
        raw = s.read_all()
        st = s.status
    is_eq((st, dp.openai_text(dp.sse_json(raw))), (200, "hello world"),
          "TLS with ca_file: streamed answer over HTTPS")
    r = inst.request("POST", OPENAI, dp.chat("gpt-nca"))
    row = dp.wait_row(inst, dp.uid_of(r)) or {}
    atts = dp.attempts(inst, dp.uid_of(r))
    is_eq(r.status, 502, "TLS without ca_file: the private CA is not trusted "
          "(502)")
    like(" ".join((a["error_class"] or "") for a in atts), r"tls",
         "TLS without ca_file: the attempt failed on TLS verification")

is_eq(dp.pending(inst), [], "no request is left pending")
res = inst.stop()
is_eq((res.rc, res.leftovers), (0, []),
      "serve stops cleanly (exit 0, nothing left behind)")
qp.done()
