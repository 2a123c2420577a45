#!/usr/bin/env python3
"""mock_upstream.py: a scriptable mock LLM provider for quotapool's integration tests.

It speaks the provider APIs quotapool relays, on 127.0.0.1:

  GET  /v1/models             OpenAI list, or Anthropic list when style="anthropic"
  POST /v1/chat/completions   OpenAI Chat Completions, JSON or SSE
  POST /v1/messages           Anthropic Messages, JSON or SSE
  POST /v1/responses          OpenAI Responses API, JSON or SSE
  POST /v1/embeddings         OpenAI embeddings (one vector per input)
  POST /v1/completions        OpenAI legacy completions, JSON or SSE
  POST /v1/messages/count_tokens  Anthropic token count {"input_tokens": N}
                              (N = usage.prompt, default 10)
  GET|POST /v1/health         {"status": "ok"}: a path for quotapool's http
                              health checks; script it per key with
                              {"match": "/v1/health", "status": 503} or
                              {"match": "/v1/health", "body": {...}}

and, for passthrough tests, generic endpoints (any method) when no behaviour
with a "body" or an error "status" answers first:

  /x/download?size=N&seed=S&chunk=C&interval_ms=I
                              N bytes of random.Random(S).randbytes(N) as
                              application/octet-stream with Content-Length,
                              written C bytes (default 65536) at a time, I ms
                              apart (default 0); the headers carry
                              X-Sha256 (of the N bytes), Content-Disposition,
                              Set-Cookie and X-Upstream: yes
  /x/..., /v1/audio/..., /v1/images/..., /v1/files...
                              echo: 200 JSON {"method", "path", "query",
                              "bytes", "sha256", "content_type"} of the
                              request as received

The key the client presents (Authorization: Bearer K, else x-api-key: K) names
the account.  Every request is recorded; what the mock answers is scripted per
key with behaviours (plain dicts, see BEHAVIOUR_KEYS):

  {"status": 429, "headers": {"Retry-After": "7"}}     error with a default body
  {"status": 402}                                       quota/billing wording
  {"reset": True}                                       TCP reset before headers
  {"delay_ms": 3000}                                    slow first byte
  {"events": 20, "interval_ms": 50}                     20 text deltas, 50 ms apart
  {"cut_after": 3}                                      close after 3 SSE events
  {"usage": {"prompt": 100, "completion": 7, "cache_read": 40,
             "cache_write": 5, "reasoning": 3}}
  {"text": "one two three"}                             output text (split in words)
  {"models": ["a", "b"], "match": "/v1/models"}          models list contents

Less polite, as real providers are:

  {"split_seed": 7, "split_max": 5}   the answer's bytes in writes of 1..5
                                      bytes (seeded), each its own HTTP chunk,
                                      split_gap_ms (default 2) apart: events
                                      and UTF-8 characters cut anywhere;
                                      split_max 1 = every byte on its own
  {"crlf": True}                      SSE lines end in CRLF
  {"utf8": True}                      JSON strings carry raw UTF-8, not \\u escapes
  {"json_chunked": True}              a JSON answer in chunked encoding (no
                                      Content-Length), split as above
  {"close_idle_ms": 300}              keep-alive advertised, but the connection
                                      is closed 300 ms after the answer
  {"error_after": 3}                  SSE: 3 events, then the protocol's error
                                      event ("event: error" for Anthropic,
                                      data {"error":...} for OpenAI), end of
                                      stream without a terminator
  MockUpstream(tls=(cert, key))       serves HTTPS (base_url https://...)

For agents (a tool-use round trip):

  {"tool_call": {"name": "Bash", "input": {"command": "echo hi"}}}
      when the request offers a tool of that name and its conversation has
      no tool result yet, the answer calls it (Anthropic tool_use block,
      stop_reason tool_use; OpenAI tool_calls, finish_reason tool_calls;
      Responses function_call items); otherwise it is the usual text answer
  {"tool_calls": [{"name": "a", "input": {...}}, {"name": "b", ...}]}
      the same with parallel calls: each offered tool of the list is called,
      in order (streamed: each call's arguments in two deltas)
  {"text": "Let me look.", "tool_call": ..., "text_first": True}
      the text comes before the calls in the same answer

Selection for a request with key K on path P: the first entry of K's queue
that matches P (and the request's model, for a behaviour with "model"), else
the first matching entry of the "*" queue (a queue entry
is consumed when used), else K's default behaviour if it matches, else the "*"
default if it matches, else {} (a plain success).  A behaviour without "match"
matches only the completion endpoints (POST /v1/chat/completions and
/v1/messages), so the gateway's model-list refreshes never eat a scripted
failure meant for a completion; give "match": "/v1/models" (or a list of
paths, or "*" for any) to script the models endpoint.

Output is deterministic: N events (default 2) carry the words of
"hello world hello world ..." ("hello", " world", " hello", ...), so the
default answer text is "hello world".  Default usage: prompt 10, completion =
number of text deltas, cache read/write 0, reasoning 0.

SSE event counting (for "cut_after"): every event written counts, in order.
OpenAI: role chunk, one chunk per text delta, the finish chunk, the usage
chunk (only when the request sets stream_options.include_usage, or the
behaviour sets "include_usage"), "data: [DONE]".  Anthropic: message_start,
[ping when "ping" is true], content_block_start, one content_block_delta per
text delta, content_block_stop, message_delta, message_stop.

Use in-process:

    mock = MockUpstream(style="openai", models=["m1"]).start()
    mock.script("k-a1", {"status": 429, "headers": {"Retry-After": "7"}})
    ...
    mock.requests(path="/v1/chat/completions")  # recorded requests
    mock.stop()

or as a program (`python3 mock_upstream.py --port 0` prints "PORT N" and
serves until SIGTERM), driven over HTTP with MockClient(url) or directly:

  POST /_mock/script  {"key": "k"|"*", "queue": [b, ...], "default": b|null}
  POST /_mock/models  {"models": [...], "style": "openai"|"anthropic"}
  POST /_mock/reset   {} clears the records; {"scripts": true} also the scripts
  GET  /_mock/log     {"requests": [record, ...]}  (?path=P&key=K filter)

A record: seq, time (epoch s), mono (time.monotonic() of this process),
method, path, query, headers (lowercased names), body (parsed JSON, else
text), body_bytes, body_sha256 (hex), key, behaviour, status, stream, events_sent, events_total,
event_mono (time.monotonic() once each SSE event was written: the system's
CLOCK_MONOTONIC, comparable with the test's own clock),
completed (the whole answer was written), cut, reset, client_closed (the
client went away before the mock finished writing), client_closed_at (epoch
s), client_closed_mono, finished_at.
"""

import argparse
import copy
import hashlib
import http.client
import http.server
import json
import random
import re
import ssl
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

# Answered {"status": "ok"} unless scripted: the target of http health checks.
HEALTH_PATH = "/v1/health"
COMPLETION_PATHS = ("/v1/chat/completions", "/v1/messages", "/v1/responses",
                    "/v1/embeddings", "/v1/completions",
                    "/v1/messages/count_tokens")

BEHAVIOUR_KEYS = {
    "match": "path, list of paths, or \"*\" this behaviour applies to",
    "model": "only requests whose JSON body names this model",
    "status": "HTTP status to answer (non-2xx gets a protocol error body)",
    "headers": "extra response headers {name: value}",
    "body": "response body: dict/list (JSON), str or bytes; replaces the generated one",
    "content_type": "Content-Type of a scripted body (\"\": none sent)",
    "reset": "reset the TCP connection before sending headers",
    "delay_ms": "wait before the first byte of the response",
    "first_event_delay_ms": "SSE: wait after the headers before the first event",
    "events": "number of text deltas (default 2)",
    "interval_ms": "SSE: wait between events",
    "cut_after": "SSE: close the connection after this many events, no terminator",
    "text": "output text (split into words, one delta each); wins over events",
    "usage": "{prompt, completion, cache_read, cache_write, reasoning}",
    "usage_extra": "raw fields merged into the usage object (e.g. cost)",
    "include_usage": "OpenAI SSE: force the usage chunk on/off",
    "ping": "Anthropic SSE: send a ping event after message_start",
    "stop_reason": "finish_reason / stop_reason (default stop / end_turn)",
    "models": "GET /v1/models: model ids (str) or full entries (dict)",
    "chunked": "SSE: chunked transfer encoding (default true); false = close-delimited",
    "stream": "force a streaming (true) or JSON (false) answer",
    "burst": "SSE: write every event in one write (one HTTP chunk)",
    "tiny": "OpenAI SSE: text deltas as minimal chunks (choices/delta only)",
    "split_seed": "write the answer in pieces of random size (this seed)",
    "split_max": "largest piece when split (default 7; 1 = every byte)",
    "split_gap_ms": "pause between pieces when split (default 2)",
    "crlf": "SSE: lines end in CRLF instead of LF",
    "utf8": "JSON strings with raw UTF-8 instead of \\u escapes",
    "json_chunked": "JSON answer in chunked encoding, split like a stream",
    "close_idle_ms": "close the kept-alive connection this long after answering",
    "error_after": "SSE: an error event after this many events, then the end",
    "tool_call": "{name, input}: call this tool while the request offers it "
                 "and holds no tool result",
    "tool_calls": "[{name, input}, ...]: parallel calls, as tool_call",
    "text_first": "with a tool call: the text, then the calls",
}

USAGE_KEYS = ("prompt", "completion", "cache_read", "cache_write", "reasoning")

DEFAULT_MODELS = ["mock-model"]
MODEL_CREATED = 1700000000
MAX_BODY = 64 * 1024 * 1024
GENERIC_PREFIXES = ("/x/", "/v1/audio/", "/v1/images/", "/v1/files")


def download_bytes(size, seed):
    """The bytes /x/download serves: size random bytes from seed."""
    return random.Random(seed).randbytes(size)


def check_behaviour(b):
    """Validates a behaviour dict; raises ValueError naming the problem."""
    if not isinstance(b, dict):
        raise ValueError("a behaviour must be an object, got %r" % (b,))
    for k in b:
        if k not in BEHAVIOUR_KEYS:
            raise ValueError("unknown behaviour key %r (known: %s)"
                             % (k, ", ".join(sorted(BEHAVIOUR_KEYS))))
    if "usage" in b:
        if not isinstance(b["usage"], dict):
            raise ValueError("usage must be an object")
        for k in b["usage"]:
            if k not in USAGE_KEYS:
                raise ValueError("unknown usage key %r (known: %s)"
                                 % (k, ", ".join(USAGE_KEYS)))
    for k in ("status", "delay_ms", "first_event_delay_ms", "events",
              "interval_ms", "cut_after", "split_seed", "split_max",
              "split_gap_ms", "close_idle_ms", "error_after"):
        if k in b and (not isinstance(b[k], (int, float)) or
                       isinstance(b[k], bool) or b[k] < 0):
            raise ValueError("%s must be a non-negative number" % k)
    if "headers" in b and not isinstance(b["headers"], dict):
        raise ValueError("headers must be an object")
    if "model" in b and not isinstance(b["model"], str):
        raise ValueError("model must be a string")
    tc = b.get("tool_call")
    if tc is not None and not (isinstance(tc, dict) and
                               isinstance(tc.get("name"), str)):
        raise ValueError("tool_call must be an object with a name")
    tcs = b.get("tool_calls")
    if tcs is not None and not (isinstance(tcs, list) and all(
            isinstance(t, dict) and isinstance(t.get("name"), str)
            for t in tcs)):
        raise ValueError("tool_calls must be a list of objects with a name")
    m = b.get("match")
    if m is not None and not isinstance(m, (str, list)):
        raise ValueError("match must be a path or a list of paths")
    return b


def behaviour_matches(b, method, path, model=None):
    if "model" in b and b["model"] != model:
        return False
    m = b.get("match")
    if m is None:
        return method == "POST" and path in COMPLETION_PATHS
    if m == "*":
        return True
    if isinstance(m, str):
        m = [m]
    return path in m


def words(n):
    """The deterministic output: n deltas "hello", " world", " hello", ..."""
    out = []
    for i in range(int(n)):
        w = "hello" if i % 2 == 0 else "world"
        out.append(w if i == 0 else " " + w)
    return out


def split_text(text):
    """Splits text into deltas: each word with the whitespace before it."""
    out = re.findall(r"\s*\S+", text)
    rest = text[len("".join(out)):]
    if rest:
        out.append(rest)
    return out


def error_body(family, status):
    """A provider-style error body for status in the protocol family."""
    if family == "anthropic":
        kinds = {
            400: ("invalid_request_error", "invalid request"),
            401: ("authentication_error", "invalid x-api-key"),
            402: ("billing_error", "Your credit balance is too low to access "
                  "the API. Please go to Plans & Billing to upgrade or "
                  "purchase credits."),
            403: ("permission_error", "Your API key does not have permission "
                  "to use the specified resource."),
            404: ("not_found_error", "model: not found"),
            413: ("request_too_large", "Request exceeds the maximum allowed "
                  "number of bytes."),
            429: ("rate_limit_error", "Number of requests has exceeded your "
                  "rate limit. Please try again later."),
            500: ("api_error", "Internal server error"),
            529: ("overloaded_error", "Overloaded"),
        }
        t, msg = kinds.get(status, ("api_error" if status >= 500 else
                                    "invalid_request_error",
                                    "mock error %d" % status))
        return {"type": "error", "error": {"type": t, "message": msg}}
    kinds = {
        400: ("invalid_request_error", None, "invalid request"),
        401: ("invalid_request_error", "invalid_api_key",
              "Incorrect API key provided."),
        402: ("insufficient_quota", "insufficient_quota",
              "You exceeded your current quota, please check your plan and "
              "billing details."),
        403: ("invalid_request_error", "unsupported_country_region_territory",
              "Country, region, or territory not supported"),
        404: ("invalid_request_error", "model_not_found",
              "The model does not exist or you do not have access to it."),
        429: ("requests", "rate_limit_exceeded",
              "Rate limit reached for requests. Please try again later."),
        500: ("server_error", None, "The server had an error while "
              "processing your request."),
        503: ("server_error", None, "The engine is currently overloaded, "
              "please try again later."),
    }
    t, code, msg = kinds.get(status, ("server_error" if status >= 500 else
                                      "invalid_request_error", None,
                                      "mock error %d" % status))
    return {"error": {"message": msg, "type": t, "param": None, "code": code}}


def _json_default(o):
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).decode("utf-8", "replace")
    return repr(o)


def dumps(o, ascii=True):
    return json.dumps(o, separators=(",", ":"), default=_json_default,
                      ensure_ascii=ascii)


def split_pieces(data, b):
    """data cut as behaviour b says (split_seed, split_max), or None when
    b asks for no split: [bytes], each to be written on its own."""
    if b.get("split_seed") is None and b.get("split_max") is None:
        return None
    rnd = random.Random(b.get("split_seed", 0))
    most = max(1, int(b.get("split_max", 7)))
    out, i = [], 0
    while i < len(data):
        n = rnd.randint(1, most)
        out.append(data[i:i + n])
        i += n
    return out


class _State:
    """Scripts, models and records, shared by the handler threads."""

    def __init__(self, style, models, valid_keys):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.style = style
        self.models = list(models)
        self.valid_keys = set(valid_keys) if valid_keys is not None else None
        self.queues = {}
        self.defaults = {}
        self.records = []
        self.seq = 0
        self.conns = set()

    def pick(self, key, method, path, model=None):
        with self.lock:
            for k in (key, "*"):
                q = self.queues.get(k)
                if not q:
                    continue
                for i, b in enumerate(q):
                    if behaviour_matches(b, method, path, model):
                        del q[i]
                        return copy.deepcopy(b)
            for k in (key, "*"):
                b = self.defaults.get(k)
                if b is not None and behaviour_matches(b, method, path, model):
                    return copy.deepcopy(b)
        return {}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-upstream/1"

    def version_string(self):
        return self.server_version

    # -- plumbing ---------------------------------------------------------

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                pass  # handle() then reads nothing and the connection ends
            self.request.settimeout(None)
        super().setup()
        try:
            # Each write leaves at once, as its own segment (split pieces).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,
                                       1)
        except OSError:
            pass
        st = self.server.mock_state
        with st.lock:
            st.conns.add(self.connection)

    def finish(self):
        st = self.server.mock_state
        with st.lock:
            st.conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.mock_verbose:
            sys.stderr.write("mock: " + (fmt % args) + "\n")

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_OPTIONS(self):
        self._dispatch()

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        t = self.rfile.readline(8192)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(8)
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(n) if n > 0 else b""

    def _peer_closed(self, timeout_s):
        """Waits up to timeout_s; True as soon as the client closed its side."""
        try:
            p = select.poll()
            p.register(self.connection, select.POLLRDHUP | select.POLLHUP |
                       select.POLLERR)
            ev = p.poll(max(0, int(timeout_s * 1000)))
        except (OSError, ValueError):
            return True
        return bool(ev)

    def _wait(self, ms, rec):
        """Sleeps ms, watching the client; False (and recorded) if it left."""
        if ms <= 0:
            if self._peer_closed(0):
                self._closed(rec)
                return False
            return True
        deadline = time.monotonic() + ms / 1000.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if self._peer_closed(left):
                self._closed(rec)
                return False

    def _closed(self, rec):
        st = self.server.mock_state
        with st.cond:
            if not rec["client_closed"]:
                rec["client_closed"] = True
                rec["client_closed_at"] = time.time()
                rec["client_closed_mono"] = time.monotonic()
            st.cond.notify_all()
        self.close_connection = True

    def _finish_rec(self, rec, **fields):
        st = self.server.mock_state
        with st.cond:
            rec.update(fields)
            rec["finished_at"] = time.time()
            rec["finished"] = True
            st.cond.notify_all()

    def _send_plain(self, status, body, ctype, extra_headers, rec=None):
        if isinstance(body, (dict, list)):
            data = dumps(body).encode()
            ctype = "application/json" if ctype is None else ctype
        elif isinstance(body, str):
            data = body.encode()
        elif body is None:
            data = b""
        else:
            data = bytes(body)
        try:
            self.send_response(status)
            if ctype != "":
                self.send_header("Content-Type", ctype or "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra_headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            if rec is not None:
                self._closed(rec)
            self.close_connection = True
            return False
        return True

    # -- dispatch ---------------------------------------------------------

    def _dispatch(self):
        u = urllib.parse.urlsplit(self.path)
        path, query = u.path, u.query
        try:
            raw = self._read_body()
        except (ValueError, OSError) as e:
            self.close_connection = True
            self._send_plain(400, {"error": {"message": str(e)}}, None, None)
            return
        if path.startswith("/_mock/"):
            self._control(path, query, raw)
            return
        self._serve(path, query, raw)

    def _control(self, path, query, raw):
        st = self.server.mock_state
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if path == "/_mock/log" and self.command == "GET":
                q = urllib.parse.parse_qs(query)
                recs = self.server.mock.requests(
                    path=q.get("path", [None])[0], key=q.get("key", [None])[0])
                self._send_plain(200, {"requests": recs}, None, None)
            elif path == "/_mock/reset" and self.command == "POST":
                self.server.mock.reset(scripts=bool(body.get("scripts")))
                self._send_plain(200, {"ok": True}, None, None)
            elif path == "/_mock/script" and self.command == "POST":
                key = body.get("key", "*")
                if not isinstance(key, str):
                    raise ValueError("key must be a string")
                queue = body.get("queue", [])
                if not isinstance(queue, list):
                    raise ValueError("queue must be a list")
                for b in queue:
                    check_behaviour(b)
                if "default" in body and body["default"] is not None:
                    check_behaviour(body["default"])
                self.server.mock.script(key, *queue)
                if "default" in body:
                    self.server.mock.set_default(key, body["default"])
                self._send_plain(200, {"ok": True}, None, None)
            elif path == "/_mock/models" and self.command == "POST":
                models = body.get("models")
                if models is not None and not isinstance(models, list):
                    raise ValueError("models must be a list")
                style = body.get("style")
                if style not in (None, "openai", "anthropic"):
                    raise ValueError("style must be openai or anthropic")
                self.server.mock.set_models(models, style=style)
                self._send_plain(200, {"ok": True}, None, None)
            elif path == "/_mock/state" and self.command == "GET":
                with st.lock:
                    s = {"style": st.style, "models": st.models,
                         "queues": st.queues, "defaults": st.defaults}
                    s = json.loads(dumps(s))
                self._send_plain(200, s, None, None)
            else:
                self._send_plain(404, {"error": {"message": "no such control "
                                                 "endpoint"}}, None, None)
        except ValueError as e:
            self._send_plain(400, {"error": {"message": str(e)}}, None, None)

    def _serve(self, path, query, raw):
        st = self.server.mock_state
        hdrs = {}
        for k, v in self.headers.items():
            k = k.lower()
            hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
        key = None
        auth = self.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            key = auth[7:].strip()
        if not key:
            key = (self.headers.get("x-api-key") or "").strip() or None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        b = st.pick(key, self.command, path, body.get("model")
                    if isinstance(body, dict) else None)
        now = time.time()
        with st.cond:
            st.seq += 1
            rec = {
                "seq": st.seq, "time": now, "mono": time.monotonic(),
                "method": self.command, "path": path, "query": query,
                "headers": hdrs, "body": body, "body_bytes": len(raw),
                "body_sha256": hashlib.sha256(raw).hexdigest(),
                "key": key, "behaviour": b, "status": None, "stream": False,
                "events_sent": 0, "events_total": 0, "event_mono": [],
                "writes": 0, "idle_closed": False,
                "completed": False,
                "cut": False, "reset": False, "client_closed": False,
                "client_closed_at": None, "client_closed_mono": None,
                "finished": False, "finished_at": None,
            }
            st.records.append(rec)
            st.cond.notify_all()

        if not self._wait(b.get("delay_ms", 0), rec):
            self._finish_rec(rec)
            return
        if b.get("reset"):
            self._reset(rec)
            return

        family = "anthropic" if path.startswith("/v1/messages") else "openai"
        if path == "/v1/models" and st.style == "anthropic":
            family = "anthropic"
        status = b.get("status")
        if status is None and st.valid_keys is not None and \
                key not in st.valid_keys and path.startswith("/v1/"):
            status = 401
        status = int(status) if status is not None else 200
        extra = dict(b.get("headers") or {})
        if "body" in b or status >= 300:
            bd = b["body"] if "body" in b else error_body(family, status)
            ok = self._send_plain(status, bd, b.get("content_type"), extra,
                                  rec)
            self._finish_rec(rec, status=status, completed=ok)
            return
        if path == "/v1/models" and self.command in ("GET", "HEAD"):
            ok = self._send_plain(status, self._models_body(b), None, extra,
                                  rec)
            self._finish_rec(rec, status=status, completed=ok)
            return
        if self.command == "POST" and path in COMPLETION_PATHS:
            req = body if isinstance(body, dict) else {}
            stream = b.get("stream", bool(req.get("stream")) is True)
            gen = ANSWERS[path](b, req, rec["seq"])
            stream = stream and hasattr(gen, "events")
            if stream:
                self._stream(rec, status, extra, gen, family)
            elif b.get("json_chunked"):
                data = dumps(gen.json(), ascii=not b.get("utf8")).encode()
                ok = self._send_chunked(status, data, dict(
                    gen.headers(), **extra), rec, split_pieces(data, b) or
                    split_pieces(data, {"split_seed": 0}))
                self._finish_rec(rec, status=status, completed=ok)
            else:
                data = dumps(gen.json(), ascii=not b.get("utf8")).encode()
                ok = self._send_plain(status, data, "application/json",
                                      dict(gen.headers(), **extra), rec)
                self._finish_rec(rec, status=status, completed=ok)
            self._idle_close(b, rec)
            return
        if path == HEALTH_PATH and self.command in ("GET", "POST", "HEAD"):
            ok = self._send_plain(200, {"status": "ok"}, None, extra, rec)
            self._finish_rec(rec, status=200, completed=ok)
            return
        if path.startswith(GENERIC_PREFIXES):
            self._generic(rec, path, query, raw, extra)
            return
        ok = self._send_plain(404, error_body(family, 404), None, extra, rec)
        self._finish_rec(rec, status=404, completed=ok)

    def _generic(self, rec, path, query, raw, extra):
        """The passthrough endpoints: /x/download, else an echo."""
        if not path.startswith("/x/download"):
            ok = self._send_plain(200, {
                "method": self.command, "path": path, "query": query,
                "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
                "content_type": self.headers.get("Content-Type")}, None,
                extra, rec)
            self._finish_rec(rec, status=200, completed=ok)
            return
        q = urllib.parse.parse_qs(query)

        def arg(name, default):
            return int(q.get(name, [str(default)])[0])
        data = download_bytes(arg("size", 0), arg("seed", 0))
        chunk = max(1, arg("chunk", 65536))
        interval = arg("interval_ms", 0)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Disposition",
                             'attachment; filename="blob.bin"')
            self.send_header("X-Sha256", hashlib.sha256(data).hexdigest())
            self.send_header("Set-Cookie", "upstream_session=s3cret")
            self.send_header("X-Upstream", "yes")
            for k, v in extra.items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.flush()
            for i in range(0, len(data), chunk):
                if self.command == "HEAD":
                    break
                if i > 0 and not self._wait(interval, rec):
                    self._finish_rec(rec, status=200, completed=False)
                    return
                self.wfile.write(data[i:i + chunk])
                self.wfile.flush()
                with self.server.mock_state.cond:
                    rec["writes"] += 1
        except (BrokenPipeError, ConnectionResetError):
            self._closed(rec)
            self._finish_rec(rec, status=200, completed=False)
            return
        self._finish_rec(rec, status=200, completed=True)

    def _send_chunked(self, status, data, extra_headers, rec, pieces):
        """A JSON answer in chunked encoding, one chunk per piece."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            for k, v in (extra_headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.flush()
            gap = rec["behaviour"].get("split_gap_ms", 2)
            for i, piece in enumerate(pieces):
                if i > 0 and not self._wait(gap, rec):
                    return False
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                rec["writes"] += 1
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self._closed(rec)
            self.close_connection = True
            return False
        return True

    def _idle_close(self, b, rec):
        """close_idle_ms: the kept-alive connection is closed by this side
        that long after the answer, as servers with an idle timeout do."""
        ms = b.get("close_idle_ms")
        if ms is None or self.close_connection:
            return
        try:
            p = select.poll()
            p.register(self.connection, select.POLLIN | select.POLLRDHUP |
                       select.POLLHUP)
            busy = p.poll(int(ms))
        except (OSError, ValueError):
            busy = []
        if busy:
            return  # the client spoke first: serve it as usual
        st = self.server.mock_state
        with st.cond:
            rec["idle_closed"] = True
            rec["idle_closed_mono"] = time.monotonic()
            st.cond.notify_all()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _models_body(self, b):
        st = self.server.mock_state
        with st.lock:
            models = list(b["models"]) if "models" in b else list(st.models)
            style = st.style
        if style == "anthropic":
            data = []
            for m in models:
                if isinstance(m, dict):
                    data.append(m)
                else:
                    data.append({"type": "model", "id": m, "display_name": m,
                                 "created_at": "2025-01-01T00:00:00Z"})
            return {"data": data, "has_more": False,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None}
        data = []
        for m in models:
            if isinstance(m, dict):
                data.append(m)
            else:
                data.append({"id": m, "object": "model",
                             "created": MODEL_CREATED, "owned_by": "mock"})
        return {"object": "list", "data": data}

    def _reset(self, rec):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self._finish_rec(rec, reset=True)
        self.close_connection = True
        try:
            self.rfile.close()
        except OSError:
            pass
        self.connection.close()

    def _stream(self, rec, status, extra, gen, family):
        st = self.server.mock_state
        b = gen.b
        chunked = b.get("chunked", True)
        events = gen.events()
        if b.get("error_after") is not None:
            events = events[:int(b["error_after"])] + [gen.error_event()]
        if b.get("crlf"):
            events = [ev.replace("\n", "\r\n") for ev in events]
        cut = b.get("cut_after")
        with st.cond:
            rec["stream"] = True
            rec["status"] = status
            rec["events_total"] = len(events)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            for k, v in gen.headers().items():
                self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            for k, v in extra.items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self._closed(rec)
            self._finish_rec(rec)
            return
        if not self._wait(b.get("first_event_delay_ms", 0), rec):
            self._finish_rec(rec)
            return
        blobs = [ev.encode() for ev in events]
        pieces = split_pieces(b"".join(blobs), b)
        if pieces is not None:
            self._stream_split(rec, b, chunked, blobs, pieces)
            return
        interval = b.get("interval_ms", 0)
        if b.get("burst"):
            events = ["".join(events)]
        for i, ev in enumerate(events):
            if cut is not None and i >= cut:
                self.close_connection = True
                self._finish_rec(rec, cut=True)
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if i > 0 and not self._wait(interval, rec):
                self._finish_rec(rec)
                return
            if i == 0 and self._peer_closed(0):
                self._closed(rec)
                self._finish_rec(rec)
                return
            data = ev.encode()
            try:
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, OSError):
                self._closed(rec)
                self._finish_rec(rec)
                return
            with st.cond:
                rec["events_sent"] = rec["events_total"] if b.get("burst") \
                    else i + 1
                rec["event_mono"].append(time.monotonic())
                rec["writes"] += 1
                st.cond.notify_all()
        self._stream_end(rec, b, chunked)

    def _stream_end(self, rec, b, chunked):
        try:
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self._closed(rec)
            self._finish_rec(rec)
            return
        self._finish_rec(rec, completed=True)
        if chunked:
            self._idle_close(b, rec)

    def _stream_split(self, rec, b, chunked, blobs, pieces):
        """Writes the events' bytes in pieces cut anywhere (split_seed):
        an event counts as sent once its last byte is written."""
        st = self.server.mock_state
        ends, at = [], 0
        for blob in blobs:
            at += len(blob)
            ends.append(at)
        gap = b.get("split_gap_ms", 2)
        pos = 0
        for i, piece in enumerate(pieces):
            if i > 0 and not self._wait(gap, rec):
                self._finish_rec(rec)
                return
            try:
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, OSError):
                self._closed(rec)
                self._finish_rec(rec)
                return
            pos += len(piece)
            with st.cond:
                rec["writes"] += 1
                while rec["events_sent"] < len(ends) and \
                        ends[rec["events_sent"]] <= pos:
                    rec["events_sent"] += 1
                    rec["event_mono"].append(time.monotonic())
                st.cond.notify_all()
        self._stream_end(rec, b, chunked)


class _Answer:
    """Deterministic answer content shared by both protocols."""

    def __init__(self, b, req, seq):
        self.b = b
        self.req = req
        self.seq = seq
        self.model = req.get("model") if isinstance(req.get("model"), str) \
            else "mock-model"
        if "text" in b:
            self.deltas = split_text(str(b["text"]))
        else:
            self.deltas = words(b.get("events", 2))
        self.text = "".join(self.deltas)
        u = {"prompt": 10, "completion": len(self.deltas), "cache_read": 0,
             "cache_write": 0, "reasoning": 0}
        u.update(b.get("usage") or {})
        self.u = {k: int(v) for k, v in u.items()}
        self.created = int(time.time())
        self.ascii = not b.get("utf8")
        wanted = ([b["tool_call"]] if isinstance(b.get("tool_call"), dict)
                  else []) + list(b.get("tool_calls") or [])
        self.calls = self._tool_calls(wanted, req)
        self.tool = self.calls[0] if self.calls else None
        # With calls, text only when asked to come first.
        self.say = not self.calls or bool(b.get("text_first"))

    def dumps(self, o):
        return dumps(o, ascii=self.ascii)

    @staticmethod
    def _tool_calls(wanted, req):
        """The calls of wanted whose tool req offers, when req holds no
        tool result (chat "tool" message, Messages tool_result block,
        Responses function_call_output item)."""
        names = set()
        for t in req.get("tools") or []:
            if isinstance(t, dict):
                names.add(t.get("name"))
                if isinstance(t.get("function"), dict):
                    names.add(t["function"].get("name"))
        calls = [tc for tc in wanted if tc.get("name") in names]
        items = list(req.get("messages") or [])
        if isinstance(req.get("input"), list):
            items += req["input"]
        for m in items:
            if not isinstance(m, dict):
                continue
            if m.get("role") == "tool" or \
                    m.get("type") == "function_call_output":
                return []
            for c in m.get("content") if isinstance(m.get("content"),
                                                     list) else []:
                if isinstance(c, dict) and c.get("type") == "tool_result":
                    return []
        return calls

    def tool_args(self, call=None):
        call = call if call is not None else self.tool
        return dumps(call.get("input") or {}, ascii=self.ascii)

    def tool_id(self, prefix, i=0):
        return "%s_mock%06d%s" % (prefix, self.seq, "" if i == 0 else
                                  "_%d" % i)


class _OpenAIAnswer(_Answer):

    def headers(self):
        return {"x-request-id": "req_mock%06d" % self.seq}

    def usage(self):
        u = self.u
        out = {
            "prompt_tokens": u["prompt"],
            "completion_tokens": u["completion"],
            "total_tokens": u["prompt"] + u["completion"],
            "prompt_tokens_details": {"cached_tokens": u["cache_read"],
                                      "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": u["reasoning"],
                                          "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        }
        if u["cache_write"]:
            out["prompt_tokens_details"]["cache_write_tokens"] = u["cache_write"]
        out.update(self.b.get("usage_extra") or {})
        return out

    def _id(self):
        return "chatcmpl-mock%06d" % self.seq

    def error_event(self):
        """A mid-stream error as OpenAI sends it: a data line, no event name."""
        return "data: " + self.dumps({"error": {
            "message": "The server had an error while processing your "
            "request.", "type": "server_error", "param": None,
            "code": None}}) + "\n\n"

    def json(self):
        return {
            "id": self._id(), "object": "chat.completion",
            "created": self.created, "model": self.model,
            "choices": [{"index": 0,
                         "message": self._message(),
                         "logprobs": None,
                         "finish_reason": "tool_calls" if self.tool else
                         self.b.get("stop_reason", "stop")}],
            "usage": self.usage(), "service_tier": "default",
            "system_fingerprint": "fp_mock",
        }

    def _message(self):
        if self.tool:
            return {"role": "assistant",
                    "content": self.text if self.say else None,
                    "refusal": None, "annotations": [], "tool_calls": [{
                        "id": self.tool_id("call", i), "type": "function",
                        "function": {"name": c["name"],
                                     "arguments": self.tool_args(c)}}
                        for i, c in enumerate(self.calls)]}
        return {"role": "assistant", "content": self.text, "refusal": None,
                "annotations": []}

    def events(self):
        so = self.req.get("stream_options")
        inc = isinstance(so, dict) and so.get("include_usage") is True
        inc = self.b.get("include_usage", inc)

        def chunk(choices, usage_present=True, usage=None):
            c = {"id": self._id(), "object": "chat.completion.chunk",
                 "created": self.created, "model": self.model,
                 "service_tier": "default", "system_fingerprint": "fp_mock",
                 "choices": choices}
            if inc and usage_present:
                c["usage"] = usage
            return "data: " + self.dumps(c) + "\n\n"

        out = [chunk([{"index": 0,
                       "delta": {"role": "assistant", "content": "",
                                 "refusal": None},
                       "logprobs": None, "finish_reason": None}])]
        if self.say:
            for d in self.deltas:
                if self.b.get("tiny"):
                    out.append("data: " + dumps({"choices": [{"delta": {
                        "content": d}}]}) + "\n\n")
                    continue
                out.append(chunk([{"index": 0, "delta": {"content": d},
                                   "logprobs": None, "finish_reason": None}]))
        for i, c in enumerate(self.calls):
            args = self.tool_args(c)
            half = len(args) // 2
            out.append(chunk([{"index": 0, "delta": {"tool_calls": [{
                "index": i, "id": self.tool_id("call", i), "type": "function",
                "function": {"name": c["name"], "arguments": ""}}]},
                "logprobs": None, "finish_reason": None}]))
            for part in (args[:half], args[half:]):
                out.append(chunk([{"index": 0, "delta": {"tool_calls": [{
                    "index": i, "function": {"arguments": part}}]},
                    "logprobs": None, "finish_reason": None}]))
        out.append(chunk([{"index": 0, "delta": {}, "logprobs": None,
                           "finish_reason": "tool_calls" if self.tool else
                           self.b.get("stop_reason", "stop")}]))
        if inc:
            out.append(chunk([], usage=self.usage()))
        out.append("data: [DONE]\n\n")
        return out


class _AnthropicAnswer(_Answer):

    def headers(self):
        return {"request-id": "req_mock%06d" % self.seq}

    def _id(self):
        return "msg_mock%06d" % self.seq

    def error_event(self):
        """A mid-stream error as Anthropic sends it."""
        return "event: error\ndata: " + self.dumps({
            "type": "error", "error": {"type": "overloaded_error",
                                       "message": "Overloaded"}}) + "\n\n"

    def usage(self, output, extra=True):
        u = {"input_tokens": self.u["prompt"],
             "cache_creation_input_tokens": self.u["cache_write"],
             "cache_read_input_tokens": self.u["cache_read"],
             "output_tokens": output}
        if extra:
            u.update(self.b.get("usage_extra") or {})
        return u

    def json(self):
        return {
            "id": self._id(), "type": "message", "role": "assistant",
            "model": self.model,
            "content": ([{"type": "text", "text": self.text}]
                        if self.say else []) +
            [{"type": "tool_use", "id": self.tool_id("toolu", i),
              "name": c["name"], "input": c.get("input") or {}}
             for i, c in enumerate(self.calls)],
            "stop_reason": "tool_use" if self.tool else
            self.b.get("stop_reason", "end_turn"),
            "stop_sequence": None,
            "usage": self.usage(self.u["completion"]),
        }

    def events(self):
        def ev(name, data):
            return "event: %s\ndata: %s\n\n" % (name, self.dumps(data))

        start_usage = self.usage(1, extra=False)
        out = [ev("message_start", {
            "type": "message_start",
            "message": {"id": self._id(), "type": "message",
                        "role": "assistant", "model": self.model,
                        "content": [], "stop_reason": None,
                        "stop_sequence": None, "usage": start_usage}})]
        if self.b.get("ping"):
            out.append(ev("ping", {"type": "ping"}))
        idx = 0
        if self.say:
            out.append(ev("content_block_start", {
                "type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}))
            for d in self.deltas:
                out.append(ev("content_block_delta", {
                    "type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": d}}))
            out.append(ev("content_block_stop", {"type": "content_block_stop",
                                                 "index": 0}))
            idx = 1
        for i, c in enumerate(self.calls):
            args = self.tool_args(c)
            half = len(args) // 2
            out.append(ev("content_block_start", {
                "type": "content_block_start", "index": idx + i,
                "content_block": {"type": "tool_use",
                                  "id": self.tool_id("toolu", i),
                                  "name": c["name"], "input": {}}}))
            for part in (args[:half], args[half:]):
                out.append(ev("content_block_delta", {
                    "type": "content_block_delta", "index": idx + i,
                    "delta": {"type": "input_json_delta",
                              "partial_json": part}}))
            out.append(ev("content_block_stop", {"type": "content_block_stop",
                                                 "index": idx + i}))
        du = {"output_tokens": self.u["completion"]}
        du.update(self.b.get("usage_extra") or {})
        out.append(ev("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use" if self.tool else
                      self.b.get("stop_reason", "end_turn"),
                      "stop_sequence": None},
            "usage": du}))
        out.append(ev("message_stop", {"type": "message_stop"}))
        return out


class _ResponsesAnswer(_Answer):
    """The OpenAI Responses API: a message item and function_call items."""

    def headers(self):
        return {"x-request-id": "req_mock%06d" % self.seq}

    def _id(self):
        return "resp_mock%06d" % self.seq

    def usage(self):
        u = self.u
        out = {"input_tokens": u["prompt"],
               "input_tokens_details": {"cached_tokens": u["cache_read"]},
               "output_tokens": u["completion"],
               "output_tokens_details": {"reasoning_tokens": u["reasoning"]},
               "total_tokens": u["prompt"] + u["completion"]}
        out.update(self.b.get("usage_extra") or {})
        return out

    def error_event(self):
        return "event: error\ndata: " + self.dumps({
            "type": "error", "code": "server_error",
            "message": "The server had an error.", "param": None}) + "\n\n"

    def _items(self):
        items = []
        if self.say:
            items.append({"type": "message", "id": "msg_mock%06d" % self.seq,
                          "status": "completed", "role": "assistant",
                          "content": [{"type": "output_text",
                                       "text": self.text,
                                       "annotations": []}]})
        for i, c in enumerate(self.calls):
            items.append({"type": "function_call",
                          "id": self.tool_id("fc", i), "status": "completed",
                          "call_id": self.tool_id("call", i),
                          "name": c["name"], "arguments": self.tool_args(c)})
        return items

    def _response(self, status, output, usage):
        r = {"id": self._id(), "object": "response",
             "created_at": self.created, "status": status,
             "model": self.model, "output": output, "usage": usage,
             "error": None, "incomplete_details": None}
        if self.b.get("stop_reason") and status == "completed":
            r["status"] = "incomplete"
            r["incomplete_details"] = {"reason": self.b["stop_reason"]}
        return r

    def json(self):
        return self._response("completed", self._items(), self.usage())

    def events(self):
        seq = [0]

        def ev(name, data):
            data = dict({"type": name, "sequence_number": seq[0]}, **data)
            seq[0] += 1
            return "event: %s\ndata: %s\n\n" % (name, self.dumps(data))

        out = [ev("response.created", {"response": self._response(
            "in_progress", [], None)})]
        for n, item in enumerate(self._items()):
            if item["type"] == "message":
                empty = dict(item, status="in_progress", content=[])
                out.append(ev("response.output_item.added", {
                    "output_index": n, "item": empty}))
                out.append(ev("response.content_part.added", {
                    "item_id": item["id"], "output_index": n,
                    "content_index": 0, "part": {"type": "output_text",
                                                 "text": "",
                                                 "annotations": []}}))
                for d in self.deltas:
                    out.append(ev("response.output_text.delta", {
                        "item_id": item["id"], "output_index": n,
                        "content_index": 0, "delta": d}))
                out.append(ev("response.output_text.done", {
                    "item_id": item["id"], "output_index": n,
                    "content_index": 0, "text": self.text}))
            else:
                args = item["arguments"]
                half = len(args) // 2
                out.append(ev("response.output_item.added", {
                    "output_index": n, "item": dict(
                        item, status="in_progress", arguments="")}))
                for part in (args[:half], args[half:]):
                    out.append(ev("response.function_call_arguments.delta", {
                        "item_id": item["id"], "output_index": n,
                        "delta": part}))
                out.append(ev("response.function_call_arguments.done", {
                    "item_id": item["id"], "output_index": n,
                    "arguments": args}))
            out.append(ev("response.output_item.done", {
                "output_index": n, "item": item}))
        final = self._response("completed", self._items(), self.usage())
        out.append(ev("response.incomplete" if final["status"] ==
                      "incomplete" else "response.completed",
                      {"response": final}))
        return out


class _EmbeddingsAnswer(_Answer):
    """OpenAI embeddings: one small vector per input, usage prompt only."""

    def headers(self):
        return {"x-request-id": "req_mock%06d" % self.seq}

    def json(self):
        inp = self.req.get("input")
        n = len(inp) if isinstance(inp, list) else 1
        return {"object": "list", "model": self.model,
                "data": [{"object": "embedding", "index": i,
                          "embedding": [0.25 * (i + 1), -0.5, 0.125]}
                         for i in range(n)],
                "usage": {"prompt_tokens": self.u["prompt"],
                          "total_tokens": self.u["prompt"]}}


class _CompletionsAnswer(_OpenAIAnswer):
    """OpenAI's legacy completions: choices[].text."""

    def _id(self):
        return "cmpl-mock%06d" % self.seq

    def error_event(self):
        return _OpenAIAnswer.error_event(self)

    def json(self):
        return {"id": self._id(), "object": "text_completion",
                "created": self.created, "model": self.model,
                "choices": [{"text": self.text, "index": 0, "logprobs": None,
                             "finish_reason": self.b.get("stop_reason",
                                                         "stop")}],
                "usage": self.usage()}

    def events(self):
        so = self.req.get("stream_options")
        inc = isinstance(so, dict) and so.get("include_usage") is True
        inc = self.b.get("include_usage", inc)

        def chunk(choices, usage=None):
            c = {"id": self._id(), "object": "text_completion",
                 "created": self.created, "model": self.model,
                 "choices": choices}
            if inc:
                c["usage"] = usage
            return "data: " + self.dumps(c) + "\n\n"

        out = [chunk([{"text": d, "index": 0, "logprobs": None,
                       "finish_reason": None}]) for d in self.deltas]
        out.append(chunk([{"text": "", "index": 0, "logprobs": None,
                           "finish_reason": self.b.get("stop_reason",
                                                       "stop")}]))
        if inc:
            out.append(chunk([], usage=self.usage()))
        out.append("data: [DONE]\n\n")
        return out


class _CountAnswer(_Answer):
    """Anthropic's token count: the prompt usage, no output."""

    def headers(self):
        return {"request-id": "req_mock%06d" % self.seq}

    def json(self):
        return {"input_tokens": self.u["prompt"]}


ANSWERS = {
    "/v1/chat/completions": _OpenAIAnswer,
    "/v1/messages": _AnthropicAnswer,
    "/v1/responses": _ResponsesAnswer,
    "/v1/embeddings": _EmbeddingsAnswer,
    "/v1/completions": _CompletionsAnswer,
    "/v1/messages/count_tokens": _CountAnswer,
}


class MockUpstream:
    """A mock provider served by a thread of this process."""

    def __init__(self, style="openai", models=None, valid_keys=None,
                 host="127.0.0.1", port=0, verbose=False, tls=None):
        """tls: (certificate file, key file) to serve HTTPS."""
        if style not in ("openai", "anthropic"):
            raise ValueError("style must be openai or anthropic")
        self._tls = tls
        self._state = _State(style, models if models is not None
                             else DEFAULT_MODELS, valid_keys)
        self._host = host
        self._want_port = port
        self._verbose = verbose
        self._srv = None
        self._thread = None

    # -- life cycle -------------------------------------------------------

    def start(self):
        srv = _Server((self._host, self._want_port), _Handler)
        if self._tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self._tls[0], self._tls[1])
            # The handshake runs on the connection's own thread (setup()).
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                         do_handshake_on_connect=False)
        srv.mock_state = self._state
        srv.mock = self
        srv.mock_verbose = self._verbose
        self._srv = srv
        self._thread = threading.Thread(target=srv.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="mock-upstream", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        srv, self._srv = self._srv, None
        if srv is None:
            return
        srv.shutdown()
        with self._state.lock:
            conns = list(self._state.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        srv.server_close()
        self._thread.join(5)

    def __enter__(self):
        return self.start() if self._srv is None else self

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._srv.server_address[1]

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self._tls else "http",
                                      self.port)

    @property
    def base_url(self):
        return self.url + "/v1"

    # -- scripting --------------------------------------------------------

    def script(self, key, *behaviours):
        """Appends behaviours to key's queue ("*" = any key); each is used once."""
        for b in behaviours:
            check_behaviour(b)
        with self._state.lock:
            self._state.queues.setdefault(key, []).extend(
                copy.deepcopy(list(behaviours)))
        return self

    def set_default(self, key, behaviour):
        """Sets (None clears) key's behaviour once its queue is empty."""
        with self._state.lock:
            if behaviour is None:
                self._state.defaults.pop(key, None)
            else:
                self._state.defaults[key] = copy.deepcopy(
                    check_behaviour(behaviour))
        return self

    def set_models(self, models, style=None):
        """Sets the GET /v1/models contents (and optionally the style)."""
        with self._state.lock:
            if models is not None:
                self._state.models = list(models)
            if style is not None:
                self._state.style = style
        return self

    def clear_scripts(self):
        with self._state.lock:
            self._state.queues.clear()
            self._state.defaults.clear()

    def pending(self, key="*"):
        """Number of queued behaviours not yet consumed for key."""
        with self._state.lock:
            return len(self._state.queues.get(key, []))

    # -- records ----------------------------------------------------------

    def reset(self, scripts=False):
        """Forgets the records (and the scripts if scripts is true)."""
        with self._state.lock:
            self._state.records.clear()
        if scripts:
            self.clear_scripts()

    def requests(self, path=None, key=None, method=None):
        """Copies of the records, oldest first, optionally filtered."""
        with self._state.lock:
            out = [r for r in self._state.records
                   if (path is None or r["path"] == path) and
                   (key is None or r["key"] == key) and
                   (method is None or r["method"] == method)]
            return json.loads(dumps(out))

    def wait_for(self, pred, timeout=5.0):
        """Waits until pred(records) is true; returns it, or False on timeout."""
        deadline = time.monotonic() + timeout
        with self._state.cond:
            while True:
                v = pred(self._state.records)
                if v:
                    return json.loads(dumps(v)) if not isinstance(v, bool) \
                        else v
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._state.cond.wait(min(left, 0.1))

    def wait_requests(self, n, timeout=5.0, path=None, key=None,
                      finished=False):
        """Waits until n matching requests (finished ones if asked) exist."""
        def pred(recs):
            m = [r for r in recs
                 if (path is None or r["path"] == path) and
                 (key is None or r["key"] == key) and
                 (not finished or r["finished"])]
            return m if len(m) >= n else None
        got = self.wait_for(pred, timeout)
        return got if got else self.requests(path=path, key=key)


class MockClient:
    """Drives a mock in another process through its /_mock/ control API."""

    def __init__(self, url, timeout=10.0):
        u = urllib.parse.urlsplit(url)
        self.host = u.hostname
        self.port = u.port
        self.url = "http://%s:%d" % (self.host, self.port)
        self.base_url = self.url + "/v1"
        self.timeout = timeout

    def _call(self, method, path, body=None):
        c = http.client.HTTPConnection(self.host, self.port,
                                       timeout=self.timeout)
        try:
            data = dumps(body).encode() if body is not None else None
            hd = {"Content-Type": "application/json"} if data else {}
            c.request(method, path, body=data, headers=hd)
            r = c.getresponse()
            raw = r.read()
            out = json.loads(raw) if raw else None
            if r.status != 200:
                raise ValueError("mock control %s %s: %d %s"
                                 % (method, path, r.status, raw[:300]))
            return out
        finally:
            c.close()

    def script(self, key, *behaviours):
        self._call("POST", "/_mock/script", {"key": key,
                                             "queue": list(behaviours)})
        return self

    def set_default(self, key, behaviour):
        self._call("POST", "/_mock/script", {"key": key,
                                             "default": behaviour})
        return self

    def set_models(self, models, style=None):
        body = {"models": models}
        if style is not None:
            body["style"] = style
        self._call("POST", "/_mock/models", body)
        return self

    def reset(self, scripts=False):
        self._call("POST", "/_mock/reset", {"scripts": bool(scripts)})

    def requests(self, path=None, key=None, method=None):
        q = {}
        if path is not None:
            q["path"] = path
        if key is not None:
            q["key"] = key
        qs = ("?" + urllib.parse.urlencode(q)) if q else ""
        recs = self._call("GET", "/_mock/log" + qs)["requests"]
        return [r for r in recs if method is None or r["method"] == method]

    def wait_requests(self, n, timeout=5.0, path=None, key=None,
                      finished=False):
        deadline = time.monotonic() + timeout
        while True:
            recs = [r for r in self.requests(path=path, key=key)
                    if not finished or r["finished"]]
            if len(recs) >= n or time.monotonic() >= deadline:
                return recs
            time.sleep(0.05)


def main(argv=None):
    ap = argparse.ArgumentParser(description="scriptable mock LLM provider")
    ap.add_argument("--port", type=int, default=0,
                    help="port on 127.0.0.1 (0: pick a free one)")
    ap.add_argument("--style", choices=("openai", "anthropic"),
                    default="openai", help="shape of GET /v1/models")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="comma-separated model ids")
    ap.add_argument("--keys", default=None,
                    help="comma-separated valid keys (others get 401)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    models = [m for m in a.models.split(",") if m]
    keys = [k for k in a.keys.split(",") if k] if a.keys is not None else None
    mock = MockUpstream(style=a.style, models=models, valid_keys=keys,
                        port=a.port, verbose=a.verbose).start()
    sys.stdout.write("PORT %d\n" % mock.port)
    sys.stdout.flush()
    signal.sigwait(sigs)
    mock.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
