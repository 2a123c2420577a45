"""wkgateway.py: the server side of the remote workers' protocol
(docs/workers.md), small and recording everything, for the tests and the
benchmark of quotapool-worker (tests/integration/test_worker_bin.py,
bench/worker_ttft.py). Standard library only; 127.0.0.1, an ephemeral port
unless one is given.
"""

import http.server
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse

OAI_ERR = {"error": {"message": "bad key", "type": "authentication_error",
                     "code": "invalid_api_key"}}


class Gateway:
    """The worker protocol's server side, recording every call.

    jobs: queue of job dicts handed out by GET /worker/v1/jobs.
    gone: job ids whose result POSTs from seq >= gone[id] get 410.
    post_delay: seconds each result POST is held before its answer.
    """

    def __init__(self, key, heartbeat_s=1, port=0, tls=None):
        self.key = key
        self.heartbeat_s = heartbeat_s
        self.cond = threading.Condition()
        self.hellos = []        # (mono, body)
        self.byes = []          # mono
        self.polls = []         # (mono, status)
        self.given = {}         # id -> mono when handed out
        self.results = {}       # id -> [(mono, seq, end, body)]
        self.ended = {}         # id -> mono of end=1
        self.ports = {}         # id -> client ports of its result POSTs
        self.jobs = []
        self.gone = {}
        self.post_delay = 0.0
        self.fail_polls = 0     # the next polls answered 503
        self.forget_polls = 0   # the next polls answered 409
        self.registered = False
        self.auth_seen = set()
        self.bad_calls = []
        gw = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                # Headers and body leave at once (no Nagle wait on the
                # peer's delayed ACK, 40 ms on Linux).
                self.connection.setsockopt(socket.IPPROTO_TCP,
                                           socket.TCP_NODELAY, 1)

            def reply(self, status, body=None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_call(self):
                u = urllib.parse.urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                auth = self.headers.get("Authorization") or ""
                with gw.cond:
                    gw.auth_seen.add(auth)
                if auth != "Bearer " + gw.key:
                    return self.reply(401, OAI_ERR)
                q = urllib.parse.parse_qs(u.query)
                m = re.match(r"^/worker/v1/jobs/([0-9a-f]{32})/result$", u.path)
                if u.path == "/worker/v1/hello" and self.command == "POST":
                    return gw.on_hello(self, body)
                if u.path == "/worker/v1/bye" and self.command == "POST":
                    with gw.cond:
                        gw.byes.append(time.monotonic())
                        gw.registered = False
                        gw.cond.notify_all()
                    return self.reply(204)
                if u.path == "/worker/v1/jobs" and self.command == "GET":
                    return gw.on_poll(self, int(q.get("wait", ["25"])[0]))
                if m and self.command == "POST":
                    return gw.on_result(self, m.group(1), q, body)
                with gw.cond:
                    gw.bad_calls.append((self.command, self.path))
                return self.reply(404, {"error": {"message": "no route"}})

            do_GET = handle_call
            do_POST = handle_call

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.srv = S(("127.0.0.1", port), H)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.srv.socket = ctx.wrap_socket(self.srv.socket,
                                              server_side=True)
        self.port = self.srv.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http",
                                          self.port)
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()

    # -- handlers ---------------------------------------------------------

    def on_hello(self, h, body):
        try:
            doc = json.loads(body)
        except ValueError:
            return h.reply(400, {"error": {"message": "bad json"}})
        with self.cond:
            self.hellos.append((time.monotonic(), doc))
            self.registered = True
            self.cond.notify_all()
        return h.reply(200, {"worker": doc.get("name"),
                             "heartbeat_s": self.heartbeat_s,
                             "gone_after_s": 3 * self.heartbeat_s})

    def on_poll(self, h, wait):
        deadline = time.monotonic() + min(wait, 3)
        with self.cond:
            if self.fail_polls > 0:
                self.fail_polls -= 1
                self.polls.append((time.monotonic(), 503))
                self.cond.notify_all()
                return h.reply(503, {"error": {"message": "busy"}})
            if self.forget_polls > 0:
                self.forget_polls -= 1
                self.registered = False
            if not self.registered:
                self.polls.append((time.monotonic(), 409))
                self.cond.notify_all()
                return h.reply(409, {"error": {"message": "say hello"}})
            while not self.jobs:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.polls.append((time.monotonic(), 204))
                    self.cond.notify_all()
                    break
                self.cond.wait(left)
            job = self.jobs.pop(0) if self.jobs else None
            if job is not None:
                self.given[job["id"]] = time.monotonic()
                self.results.setdefault(job["id"], [])
                self.polls.append((time.monotonic(), 200))
                self.cond.notify_all()
        if job is None:
            return h.reply(204)
        return h.reply(200, job)

    def on_result(self, h, jid, q, body):
        with self.cond:
            self.ports.setdefault(jid, set()).add(h.client_address[1])
        seq = int(q.get("seq", ["-1"])[0])
        end = q.get("end", ["0"])[0] == "1"
        if self.post_delay:
            time.sleep(self.post_delay)
        with self.cond:
            recs = self.results.setdefault(jid, [])
            recs.append((time.monotonic(), seq, end, body))
            self.cond.notify_all()
            expect = len([r for r in recs if r[1] >= 0]) - 1
            if jid in self.gone and seq >= self.gone[jid]:
                return h.reply(410, {"error": {"message": "gone"}})
            if seq != expect:
                return h.reply(409, {"error": {"message": "seq"}})
            if end:
                self.ended[jid] = time.monotonic()
                self.cond.notify_all()
        return h.reply(204)

    # -- for the test -----------------------------------------------------

    def add_job(self, body, path="/chat/completions", method="POST",
                headers=None):
        jid = os.urandom(16).hex()
        job = {"id": jid, "model": body.get("model") if body else None,
               "method": method, "path": path,
               "stream": bool(body and body.get("stream")),
               "headers": headers if headers is not None else
               {"content-type": "application/json",
                "accept": "text/event-stream"},
               "body": json.dumps(body) if body is not None else None}
        with self.cond:
            self.jobs.append(job)
            self.cond.notify_all()
        return jid

    def wait(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    return v
                self.cond.wait(min(left, 0.2))

    def answer(self, jid):
        """(head dict, answer bytes, [(mono, seq, end, body)]) of a job."""
        with self.cond:
            recs = sorted(self.results.get(jid, []), key=lambda r: r[1])
        data = b"".join(r[3] for r in recs)
        nl = data.find(b"\n")
        head = json.loads(data[:nl]) if nl >= 0 else None
        return head, data[nl + 1:] if nl >= 0 else b"", recs
