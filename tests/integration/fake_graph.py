"""A fake Graph API (Send API and Handover Protocol) on loopback for the
Messenger integration tests: Python standard library only.

Every POST is recorded (path, query, parsed JSON body, time).  By default
the answer is 200 {"recipient_id":..,"message_id":..}; fail() makes the next
matching requests fail with a given HTTP status and Graph error body, or
hang (a time-out on the client side).
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def graph_error(code, subcode=None, message="error"):
    e = {"message": message, "type": "OAuthException", "code": code,
         "fbtrace_id": "FAKE"}
    if subcode is not None:
        e["error_subcode"] = subcode
    return {"error": e}


class FakeGraph:
    def __init__(self):
        self.calls = []
        self.rules = []        # [matcher, remaining, status, body, hang_s]
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n)
                url = urlsplit(self.path)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                call = {"path": url.path, "query": parse_qs(url.query),
                        "body": body, "t": time.time(), "raw": raw}
                status, resp, hang = fake._answer(call)
                with fake.lock:
                    fake.calls.append(call)
                if hang:
                    time.sleep(hang)
                data = json.dumps(resp).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, call):
        with self.lock:
            for r in self.rules:
                if r[1] > 0 and r[0](call):
                    r[1] -= 1
                    return r[2], r[3], r[4]
        rid = (call["body"] or {}).get("recipient", {})
        return 200, {"recipient_id": rid.get("id") or rid.get("user_ref") or "",
                     "message_id": "m_%d" % len(self.calls)}, 0

    def fail(self, times, status, body=None, match=None, hang=0):
        """The next 'times' requests for which match(call) holds get this."""
        with self.lock:
            self.rules.append([match or (lambda c: True), times, status,
                               body if body is not None else {}, hang])

    def reset(self):
        with self.lock:
            self.calls = []
            self.rules = []

    def texts(self, rcpt=None):
        """Calls carrying a message text (optionally to recipient id/ref)."""
        out = []
        with self.lock:
            calls = list(self.calls)
        for c in calls:
            b = c["body"] or {}
            if "message" not in b:
                continue
            r = b.get("recipient", {})
            if rcpt is None or rcpt in (r.get("id"), r.get("user_ref")):
                out.append(c)
        return out

    def wait(self, pred, timeout=8, what="calls"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                calls = list(self.calls)
            v = pred(calls)
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError("fake graph: timed out waiting for %s; got %r" %
                             (what, [(c["path"], c["body"]) for c in self.calls][-8:]))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
