#!/usr/bin/env python3
"""test_passthrough.py: /p/<provider>/<path> passes a provider's own API
through with a pooled key, under lighttpd.

Provider p (accounts a and b) passes /v1/audio/*, /v1/images/*, /v1/files*
and /x/* through; provider q passes nothing. A 2 MB multipart upload with a
query string reaches the mock byte for byte (same SHA-256), with the
client's content type and its own headers, but without any credential or
cookie the client sent, and with the account's key. A 3 MB download of all
256 byte values comes back byte for byte, with the upstream's headers but
not its cookie. When the first account answers 429, the second gets the
same body (same SHA-256), the client gets its answer and the row says two
attempts; the 429'd account backs off. PUT, DELETE and a chunked upload
pass too. Paths outside the globs, unknown providers and unsafe paths get
404 and 400 in the OpenAI shape. A client that hangs up during a slow
download makes the mock see its connection closed. Rows carry method,
path without the query, bytes, latency and account; usage is read from a
JSON answer; /metrics and the dashboard still answer. A key whose model
globs do not match the passthrough path is refused. Under [server]
base_path the same paths work below it."""

import hashlib
import http.client
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from mock_upstream import download_bytes  # noqa: E402
from qp import is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(240)

GLOBS = ["/v1/audio/*", "/v1/images/*", "/v1/files*", "/x/*"]
mock = qp.mock(style="openai", models=["m1"])


def providers(m):
    # base_url without /v1: the globs name the upstream's whole path.
    return {
        "p": {"base_url": m.url, "models": ["m1"], "models_path": "",
              "openai_path": "/v1/chat/completions", "passthrough": GLOBS,
              "accounts": [{"name": "a", "api_key": "k-a"},
                           {"name": "b", "api_key": "k-b"}]},
        "q": {"base_url": m.url, "models": ["m2"], "models_path": "",
              "accounts": [{"name": "c", "api_key": "k-c"}]},
    }


inst = qp.Instance(providers=providers(mock),
                   sections={"routing": {"max_attempts": 3}})
dp.start(inst)
ADMIN = inst.new_key("boss", admin_role=True)


def multipart(nbytes, seed=1):
    """A multipart/form-data body with a binary file part: (ctype, bytes)."""
    boundary = "qpboundary7d1f"
    blob = download_bytes(nbytes, seed)
    body = (("--%s\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
             "whisper-1\r\n--%s\r\nContent-Disposition: form-data; "
             "name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg"
             "\r\n\r\n" % (boundary, boundary)).encode() + blob +
            ("\r\n--%s--\r\n" % boundary).encode())
    return "multipart/form-data; boundary=" + boundary, body


def row_of(r):
    return dp.wait_row(inst, dp.uid_of(r)) or {}


def recs(path):
    return mock.requests(path=path)


# 1. A multipart upload with a query string, byte for byte; credentials.
ctype, body = multipart(2 * 1024 * 1024)
sha = hashlib.sha256(body).hexdigest()
r = inst.request("POST", "/p/p/v1/audio/transcriptions?language=en&x=a%20b", body,
                 headers={"Content-Type": ctype, "x-api-key": "client-x",
                          "api-key": "client-y", "Cookie": "sid=client-cookie",
                          "X-Custom-Thing": "kept", "Proxy-Authorization": "Basic eA=="})
is_eq(r.status, 200, "upload: 200")
echo = r.try_json() or {}
is_eq(echo.get("sha256"), sha, "upload: the mock got the same bytes (SHA-256)")
is_eq(echo.get("bytes"), len(body), "upload: every byte")
is_eq(echo.get("query"), "language=en&x=a%20b", "upload: the query string is kept as sent")
is_eq(echo.get("content_type"), ctype, "upload: the client's Content-Type with its boundary")
rec = (recs("/v1/audio/transcriptions") or [{}])[-1]
h = rec.get("headers", {})
ok(h.get("authorization") in ("Bearer k-a", "Bearer k-b"),
   "upload: the account's key is sent (Authorization: Bearer k-a or k-b)",
   "got %r" % h.get("authorization"))
for name in ("x-api-key", "api-key", "cookie", "proxy-authorization"):
    ok(name not in h, "upload: the client's %s does not reach the provider" % name,
       "got %r" % h.get(name))
ok(inst.key not in repr(h), "upload: the client's gateway key appears nowhere upstream")
is_eq(h.get("x-custom-thing"), "kept", "upload: the client's other headers pass")
ok("x-forwarded-for" not in h, "upload: the client's address is not forwarded")
row = row_of(r)
is_eq(row.get("status"), "completed", "upload: row completed")
is_eq((row.get("method"), row.get("path"), row.get("endpoint")),
      ("POST", "/v1/audio/transcriptions", "/p/"), "upload: row method, path (no query), endpoint")
is_eq(row.get("bytes_in"), len(body), "upload: row bytes_in = the body's bytes")
is_eq(row.get("bytes_out"), len(r.body), "upload: row bytes_out = the answer's bytes")
is_eq(row.get("model"), None, "upload: no model on the row")
is_eq(row.get("provider_id"), "p", "upload: row provider")
ok(row.get("account_name") in ("a", "b"), "upload: row account")
ok((row.get("total_ms") or -1) >= 0 and row.get("status_code") == 200,
   "upload: row latency and status code")
rid = r.headers.get("x-proxy-request-id")
tr = inst.request("GET", "/api/stats/recent/" + str(rid), key=ADMIN)
req = (tr.try_json() or {}).get("request") or {}
is_eq((tr.status, req.get("method"), req.get("path")), (200, "POST", "/v1/audio/transcriptions"),
      "upload: the request's trace in /api/stats/recent/{id} gives its method and path")
lst = inst.request("GET", "/api/stats/recent-requests?limit=50", key=ADMIN)
mine = [q for q in (lst.try_json() or {}).get("requests", []) if q.get("request_id") == rid]
is_eq([(q.get("method"), q.get("path")) for q in mine], [("POST", "/v1/audio/transcriptions")],
      "upload: recent-requests lists it with its method and path")

# 2. A download of a few MB of every byte value, byte for byte.
SIZE = 3 * 1024 * 1024
want = download_bytes(SIZE, 5)
ok(len(set(want)) == 256, "download: the blob holds all 256 byte values")
r = inst.request("GET", "/p/p/x/download?size=%d&seed=5&chunk=40000" % SIZE, key=inst.key,
                 auth="x-api-key")
is_eq(r.status, 200, "download: 200")
ok(r.body == want, "download: the bytes arrive as sent (%d bytes, SHA-256 equal)" % SIZE,
   "got %d bytes, sha %s" % (len(r.body), hashlib.sha256(r.body).hexdigest()))
is_eq(r.headers.get("X-Upstream"), "yes", "download: upstream headers pass")
is_eq(r.headers.get("Content-Type"), "application/octet-stream", "download: its content type")
ok("blob.bin" in (r.headers.get("Content-Disposition") or ""), "download: Content-Disposition passes")
ok(r.headers.get("Set-Cookie") is None, "download: the upstream's cookie is dropped")
ok(r.headers.get("x-proxy-request-id"), "download: x-proxy-request-id is sent")
rec = (recs("/x/download") or [{}])[-1]
ok("x-api-key" not in rec.get("headers", {}), "download: the client's x-api-key is stripped")
row = row_of(r)
is_eq((row.get("method"), row.get("path"), row.get("status")), ("GET", "/x/download", "completed"),
      "download: row method, path, status")
is_eq((row.get("bytes_in"), row.get("bytes_out"), row.get("upstream_bytes")), (0, SIZE, SIZE),
      "download: row bytes in, out and from upstream")

# 3. A 429 on the first account: the second gets the same body.
mock.reset()
mock.script("*", {"match": "/v1/audio/transcriptions", "status": 429,
                  "headers": {"Retry-After": "30"}})
ctype, body = multipart(512 * 1024, seed=9)
sha = hashlib.sha256(body).hexdigest()
r = inst.request("POST", "/p/p/v1/audio/transcriptions?rotate=1", body,
                 headers={"Content-Type": ctype})
is_eq(r.status, 200, "429: the client gets the second account's answer")
is_eq(r.headers.get("x-proxy-attempt-count"), "2", "429: two attempts")
got = recs("/v1/audio/transcriptions")
is_eq(len(got), 2, "429: the provider saw two requests")
keys = [g.get("key") for g in got]
ok(len(set(keys)) == 2 and set(keys) <= {"k-a", "k-b"}, "429: one per account", keys)
is_eq([g.get("body_sha256") for g in got], [sha, sha], "429: the same body both times (SHA-256)")
is_eq([g.get("query") for g in got], ["rotate=1", "rotate=1"], "429: the query both times")
is_eq((r.try_json() or {}).get("sha256"), sha, "429: the answer is the echo of those bytes")
row = row_of(r)
first = "a" if keys and keys[0] == "k-a" else "b"
second = "b" if first == "a" else "a"
is_eq((row.get("attempt_count"), row.get("account_name"), row.get("bytes_in")),
      (2, second, len(body)), "429: row attempts, final account, bytes in")
att = dp.attempts(inst, dp.uid_of(r))
is_eq([(x.get("account_name"), x.get("status_code"), x.get("outcome")) for x in att],
      [(first, 429, "rate_limited"), (second, 200, "ok")], "429: the attempts recorded")
bo = dp.backoff(inst, first) or {}
is_eq(bo.get("reason"), "rate_limited", "429: the first account backs off")
# With the first backing off, the next request goes to the second at once.
r = inst.request("POST", "/p/p/v1/images/edits", b"x" * 10,
                 headers={"Content-Type": "application/octet-stream"})
is_eq((r.status, row_of(r).get("account_name")), (200, second),
      "429: the backing-off account is not chosen")

# 4. Methods: PUT with a body, DELETE and PATCH; a chunked upload.
mock.reset()
r = inst.request("PUT", "/p/p/x/thing", b"put-body", headers={"Content-Type": "text/plain"})
e = r.try_json() or {}
is_eq((r.status, e.get("method"), e.get("bytes")), (200, "PUT", 8),
      "PUT: method and body reach the provider")
r = inst.request("DELETE", "/p/p/x/thing/1")
is_eq((r.status, (r.try_json() or {}).get("method")), (200, "DELETE"), "DELETE: passes")
r = inst.request("PATCH", "/p/p/x/thing/1", {"a": 1})
is_eq((r.status, (r.try_json() or {}).get("method")), (200, "PATCH"), "PATCH: passes")
row = row_of(r)
is_eq((row.get("method"), row.get("path")), ("PATCH", "/x/thing/1"), "PATCH: its row")
r = inst.request("HEAD", "/p/p/x/download?size=5000&seed=1")
is_eq((r.status, r.body, r.headers.get("X-Upstream")), (200, b"", "yes"),
      "HEAD: the upstream's head, no body")
is_eq((mock.requests(path="/x/download") or [{}])[-1].get("method"), "HEAD",
      "HEAD: sent upstream as HEAD")
r = inst.request("OPTIONS", "/p/p/x/thing")
is_eq((r.status, (r.try_json() or {}).get("method")), (200, "OPTIONS"), "OPTIONS: passes")


def chunked_upload(path, parts):
    c = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=30)
    try:
        c.request("POST", path, body=iter(parts), encode_chunked=True,
                  headers={"Authorization": "Bearer " + inst.key,
                           "Content-Type": "application/octet-stream"})
        resp = c.getresponse()
        return resp.status, resp.read()
    finally:
        c.close()


parts = [download_bytes(70000, s) for s in range(4)]
st, data = chunked_upload("/p/p/x/chunked", parts)
is_eq(st, 200, "chunked upload: 200")
is_eq((qp.json.loads(data) if st == 200 else {}).get("sha256"),
      hashlib.sha256(b"".join(parts)).hexdigest(), "chunked upload: byte for byte")

# 5. Refusals: outside the globs, unknown provider, no passthrough, unsafe.
for path, status, name in (
        ("/p/p/v1/chat/completions", 404, "a path outside the globs"),
        ("/p/p/v1/audio", 404, "a glob's prefix without its '/'"),
        ("/p/nope/v1/audio/x", 404, "an unknown provider"),
        ("/p/q/v1/audio/x", 404, "a provider without passthrough"),
        ("/p/p", 404, "no path"),
        ("/p/p/v1/audio/../../admin", 400, "a dot segment"),
        ("/p/p/v1/audio/%2e%2e/x", 400, "an encoded dot segment"),
        ("/p/p/v1/audio%2f..%2fx", 400, "an encoded slash")):
    n0 = len(mock.requests())
    r = inst.request("GET", path)
    e = (r.try_json() or {}).get("error") or {}
    is_eq(r.status, status, "refused: %s gets %d" % (name, status))
    ok(isinstance(e.get("message"), str) and "type" in e, "refused: %s in the OpenAI shape" % name,
       dp.show(r))
    is_eq(len(mock.requests()), n0, "refused: %s reaches no provider" % name)
r = inst.request("GET", "/p/p/x/echo", key=None)
is_eq(r.status, 401, "no key: 401")
r = inst.request("GET", "/p/p/x/echo", key="qp_" + "0" * 48)
is_eq(r.status, 401, "a wrong key: 401")

# 6. A client that hangs up during a slow download aborts the upstream.
mock.reset()
s = inst.stream("/p/p/x/download?size=40000000&chunk=65536&interval_ms=50", None, method="GET")
is_eq(s.status, 200, "disconnect: the download starts")
first_chunk = next(iter(s), (0, b""))[1]
ok(len(first_chunk) > 0, "disconnect: bytes arrive")
uid = s.headers.get("x-proxy-request-id")
s.close()
seen = mock.wait_for(lambda rs: [x for x in rs if x["path"] == "/x/download" and
                                 x["client_closed"]], timeout=20)
ok(seen, "disconnect: the provider sees its connection closed")
if seen:
    ok(seen[0].get("writes", 0) < 40000000 // 65536, "disconnect: long before the end",
       "writes %r" % seen[0].get("writes"))
row = dp.wait_row(inst, uid, timeout=20) or {}
is_eq(row.get("status"), "client_disconnected", "disconnect: row client_disconnected")

# 7. Usage from a JSON answer.
mock.reset()
mock.script("*", {"match": "/v1/images/generations", "body": {
    "created": 1, "data": [{"b64_json": "AAAA"}],
    "usage": {"input_tokens": 50, "output_tokens": 7, "total_tokens": 57,
              "input_tokens_details": {"text_tokens": 50}}}})
r = inst.request("POST", "/p/p/v1/images/generations", {"prompt": "a cat", "model": "gpt-image-1"})
is_eq(r.status, 200, "usage: 200")
row = row_of(r)
is_eq((row.get("input_tokens"), row.get("output_tokens")), (50, 7), "usage: read from the JSON answer")
is_eq(row.get("model"), None, "usage: still no model on the row")

# 8. The pages and /metrics still answer over these rows.
for path in ("/metrics", "/", "/accounts", "/models", "/api/stats/summary",
             "/api/stats/models", "/traces"):
    r = inst.request("GET", path, key=ADMIN)
    is_eq(r.status, 200, "pages: %s answers 200 with passthrough rows" % path)
m = inst.request("GET", "/metrics", key=ADMIN).text
ok("/x/download" not in m and "/v1/audio" not in m, "metrics: no path becomes a label")

# 9. A key whose model globs do not cover the path is refused; one whose do passes.
narrow = inst.new_key("narrow")
inst.admin("key", "set", "narrow", "--models", "m1*")
r = inst.request("GET", "/p/p/x/echo", key=narrow)
is_eq(r.status, 403, "key globs: a key limited to m1* may not pass through")
inst.admin("key", "set", "narrow", "--models", "m1*,/p/p/x/*")
r = inst.request("GET", "/p/p/x/echo", key=narrow)
is_eq(r.status, 200, "key globs: /p/p/x/* in its globs lets it through")

# 10. No account left after a 429 (the other backs off): the provider's own answer goes back.
mock.reset()
SLOW = {"match": "/v1/files", "status": 429, "body": {"error": {
    "message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}}
mock.script("*", SLOW, SLOW)
r = inst.request("POST", "/p/p/v1/files", b"abc", headers={"Content-Type": "text/plain"})
is_eq(r.status, 429, "exhausted: the provider's 429 goes back")
is_eq(((r.try_json() or {}).get("error") or {}).get("message"), "slow down",
      "exhausted: with the provider's own body")
is_eq(row_of(r).get("status"), "error", "exhausted: row error")

dp.pending(inst)
inst.stop()

# 11. Under [server] base_path.
m2 = qp.mock(style="openai", models=["m1"])
inst2 = qp.Instance(providers=providers(m2), server={"base_path": "/gw"})
dp.start(inst2)
r = inst2.request("POST", "/gw/p/p/x/echo?z=1", b"hello", headers={"Content-Type": "text/plain"})
is_eq(r.status, 200, "base_path: /gw/p/p/x/echo passes")
is_eq(((r.try_json() or {}).get("path"), (r.try_json() or {}).get("query")), ("/x/echo", "z=1"),
      "base_path: the upstream path and query without the prefix")
r = inst2.request("GET", "/p/p/x/echo")
is_eq(r.status, 404, "base_path: outside it, 404")
inst2.stop()
qp.done()
