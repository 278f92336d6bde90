#!/usr/bin/env python3
"""Integration tests for 'amtsbot serve': the real binary on a free
loopback port with a temporary database and a copy of the sample kb.

  AMTSBOT_BIN   the binary (default ./amtsbot)
  AMTSBOT_KB    the knowledge base to copy (default intents)

Prints "ok - name" / "not ok - name: why" per case and, as the last line,
"N passed, N failed"; exits non-zero when a case failed.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsclient import WS, Closed, HandshakeError, http_get  # noqa: E402
import handoff_cases  # noqa: E402
import stats_cases  # noqa: E402
import messenger_cases  # noqa: E402

BIN = os.path.abspath(os.environ.get("AMTSBOT_BIN", "./amtsbot"))
KB = os.path.abspath(os.environ.get("AMTSBOT_KB", "intents"))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSWER_FIELDS = ["intent", "service", "office", "confidence", "answer", "sources",
                 "handoff", "handoff_reason", "alternatives", "quick_replies"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One 'amtsbot serve' with its own kb copy, db and log file."""

    def __init__(self, tmp, name, extra=None, db=None, kb=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.kb = kb or os.path.join(self.dir, "kb")
        if not kb:
            shutil.copytree(KB, self.kb)
        self.db = db or os.path.join(self.dir, "amtsbot.db")
        self.extra = extra or []
        self.log = os.path.join(self.dir, "server.log")
        self.port = None
        self.proc = None

    def start(self):
        self.port = free_port()
        args = [BIN, "serve", "--listen", "127.0.0.1:%d" % self.port,
                "--kb", self.kb, "--db", self.db,
                "--web", os.path.join(ROOT, "web-widget")] + self.extra
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=logf, stderr=logf, cwd=self.dir)
        logf.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %d: %s" %
                                   (self.proc.returncode, self.log_text()[-2000:]))
            try:
                if http_get(self.port, "/healthz", timeout=1)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not answer /healthz: " + self.log_text()[-2000:])

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def sanitizer_report(self):
        """The first sanitizer finding in the log (ASan/UBSan builds), or None."""
        m = re.search(r"(ERROR: (Address|Leak)Sanitizer.*|runtime error:.*)", self.log_text())
        return m.group(0) if m else None

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def health(self):
        status, _, body = http_get(self.port, "/healthz")
        assert status == 200, status
        return json.loads(body)

    def metrics(self):
        status, hdrs, body = http_get(self.port, "/metrics")
        assert status == 200, status
        return hdrs, body.decode()

    def ws(self, **kw):
        return WS(self.port, **kw)


def expect(cond, why):
    if not cond:
        raise AssertionError(why)


def wait_for(fn, timeout=8, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def check_answer(a, reply_to=None):
    expect(a.get("type") == "answer", "not an answer: %r" % a)
    for k in ANSWER_FIELDS:
        expect(k in a, "answer lacks '%s': %r" % (k, a))
    expect(isinstance(a["seq"], int) and a["seq"] > 0, "bad seq %r" % a.get("seq"))
    expect(a.get("reply_to") == reply_to, "reply_to %r" % a.get("reply_to"))
    expect(isinstance(a["answer"], str) and a["answer"], "empty answer text")
    expect(isinstance(a["confidence"], (int, float)), "confidence not a number")
    expect(round(a["confidence"], 2) == a["confidence"], "confidence not rounded")
    expect(isinstance(a["handoff"], bool), "handoff not a bool")
    expect(a["handoff_reason"] is None or isinstance(a["handoff_reason"], str),
           "bad handoff_reason")
    expect(isinstance(a["sources"], list) and all(
        set(s) == {"title", "url"} for s in a["sources"]), "bad sources")
    expect(isinstance(a["alternatives"], list) and all(
        {"intent", "service", "label", "confidence"} <= set(x)
        for x in a["alternatives"]), "bad alternatives")
    expect(isinstance(a["quick_replies"], list) and all(
        isinstance(q, str) for q in a["quick_replies"]), "bad quick_replies")
    return a


def is_conv_id(c):
    return isinstance(c, str) and re.fullmatch(r"[0-9a-f]{32}", c)


def start_conv(ws, conversation=None, last_seq=0):
    ws.send_json({"type": "hello", "conversation": conversation, "last_seq": last_seq})
    w = ws.recv_json()
    expect(w.get("type") == "welcome", "no welcome: %r" % w)
    expect(is_conv_id(w.get("conversation")), "bad conversation id %r" % w)
    return w


# ---- cases ------------------------------------------------------------------

def case_healthz(ctx):
    s = ctx["main"]
    h = s.health()
    expect(h["status"] == "ok", "status %r" % h)
    expect(isinstance(h["kb_version"], str) and h["kb_version"], "kb_version")
    for k in ("intents", "services", "connections", "uptime_s"):
        expect(isinstance(h[k], int) and h[k] >= 0, "%s: %r" % (k, h.get(k)))
    ws = s.ws()
    try:
        wait_for(lambda: s.health()["connections"] >= 1, what="connections >= 1")
    finally:
        ws.close()


def case_security_headers(ctx):
    status, hdrs, _ = http_get(ctx["main"].port, "/healthz")
    csp = hdrs.get("content-security-policy", "")
    expect("default-src 'self'" in csp, "csp: %r" % csp)
    expect("frame-ancestors 'none'" not in csp, "frame-ancestors 'none' breaks embedding")
    expect(hdrs.get("x-content-type-options") == "nosniff", "no nosniff")
    expect("x-frame-options" not in hdrs, "x-frame-options would break embedding")


def case_static_files(ctx):
    port = ctx["main"].port
    if not os.path.exists(os.path.join(ROOT, "web-widget", "index.html")):
        raise AssertionError("web-widget/index.html missing")
    status, hdrs, body = http_get(port, "/")
    expect(status == 200 and b"<html" in body.lower(), "GET / -> %d" % status)
    expect("content-security-policy" in hdrs, "no CSP on /")
    for path in ("/widget.js", "/widget.css"):
        status, hdrs, _ = http_get(port, path)
        expect(status == 200, "GET %s -> %d" % (path, status))
    status, _, _ = http_get(port, "/../../etc/passwd")
    expect(status != 200, "path traversal served")


def case_question_answer(ctx):
    ws = ctx["main"].ws()
    try:
        ws.send_json({"type": "message", "id": "q1", "text": "Was kostet ein Reisepass?"})
        w = ws.recv_json()
        expect(w.get("type") == "welcome" and is_conv_id(w.get("conversation")),
               "implicit welcome missing: %r" % w)
        expect(w.get("seq") == 0, "new conversation seq %r" % w.get("seq"))
        a = check_answer(ws.recv_json(), "q1")
        expect(a["seq"] == 2, "answer seq %r (question is 1)" % a["seq"])
        expect(a["intent"] == "kosten", "intent %r" % a["intent"])
        expect(a["service"] == "reisepass", "service %r" % a["service"])
        for q in ("Wann hat das Bürgeramt geöffnet?", "Welche Unterlagen brauche ich für einen Personalausweis?"):
            a = check_answer(ws.ask(q, "q-" + q[:5]), "q-" + q[:5])
            expect(isinstance(a["intent"], str) and a["intent"], "no intent for %r" % q)
    finally:
        ws.close()


def case_hello_new_conversation(ctx):
    ws = ctx["main"].ws()
    try:
        w = start_conv(ws)
        expect(w["seq"] == 0, "seq %r" % w["seq"])
        w2 = start_conv(ws.__class__(ctx["main"].port), "f" * 32, 5)
        expect(w2["conversation"] != "f" * 32, "unknown id was accepted")
        expect(w2["seq"] == 0, "unknown id: seq %r" % w2["seq"])
    finally:
        ws.close()


def case_resume(ctx):
    s = ctx["main"]
    ws = s.ws()
    w = start_conv(ws)
    conv = w["conversation"]
    a1 = check_answer(ws.ask("Was kostet ein Reisepass?", "r1"), "r1")
    a2 = check_answer(ws.ask("Wann hat das Bürgeramt geöffnet?", "r2"), "r2")
    ws.close()
    ws = s.ws()
    try:
        w = start_conv(ws, conv, 2)
        expect(w["conversation"] == conv, "other conversation %r" % w)
        expect(w["seq"] == 4, "welcome seq %r" % w["seq"])
        m = ws.recv_json()
        expect(m == {"type": "message", "seq": 3, "from": "citizen", "id": "r2",
                     "text": "Wann hat das Bürgeramt geöffnet?"}, "citizen message %r" % m)
        expect(ws.recv_json() == a2, "answer not re-sent as sent")
        w = start_conv(ws, conv, 0)
        got = [ws.recv_json() for _ in range(4)]
        expect(got[1] == a1 and got[3] == a2, "full replay differs")
        expect([g["seq"] for g in got] == [1, 2, 3, 4], "replay seqs")
    finally:
        ws.close()


def case_duplicate_client_id(ctx):
    s = ctx["main"]
    ws = s.ws()
    try:
        conv = start_conv(ws)["conversation"]
        a = check_answer(ws.ask("Was kostet ein Reisepass?", "dup-1"), "dup-1")
        again = ws.ask("Was kostet ein Reisepass?", "dup-1")
        expect(again == a, "second answer differs: %r" % again)
    finally:
        ws.close()
    ws = s.ws()
    try:
        start_conv(ws, conv, 2)
        expect(ws.ask("Was kostet ein Reisepass?", "dup-1") == a,
               "resend after reconnect answered anew")
        b = check_answer(ws.ask("Was kostet ein Personalausweis?", "dup-2"), "dup-2")
        expect(b["seq"] == 4, "duplicate was stored: next seq %r" % b["seq"])
    finally:
        ws.close()


def expect_error(ws, code):
    e = ws.recv_json()
    expect(e.get("type") == "error" and e.get("code") == code,
           "expected %s, got %r" % (code, e))
    expect(isinstance(e.get("message"), str) and e["message"], "no message text")


def case_malformed_input(ctx):
    ws = ctx["main"].ws()
    try:
        start_conv(ws)
        cases = [
            (b"not json", "bad_json"),
            (b"[1,2]", "bad_json"),
            (b'{"type":"message","text":"x"', "bad_json"),
            (b'{"type":"shout","text":"x"}', "unknown_type"),
            (b'{"text":"x"}', "unknown_type"),
            (b'{"type":"message","id":"m1"}', "missing_text"),
            (b'{"type":"message","id":"m2","text":"  "}', "missing_text"),
            (b'{"type":"message","id":"m3","text":42}', "missing_text"),
            (json.dumps({"type": "message", "id": "m4", "text": "ä" * 2001}).encode(), "too_long"),
            (b'{"type":"message","id":"m5","text":"Pass \xff\xfe"}', "bad_utf8"),
            (b'{"type":"feedback","seq":999,"helpful":true}', "bad_seq"),
            (b'{"type":"feedback","seq":"x","helpful":true}', "bad_json"),
        ]
        for raw, code in cases:
            ws.send_frame(raw)
            expect_error(ws, code)
        ws.send_frame(b'{"type":"message"}', opcode=2)
        expect_error(ws, "bad_json")
        a = check_answer(ws.ask("Was kostet ein Reisepass?", "after"), "after")
        ws.send_json({"type": "feedback", "seq": a["seq"], "helpful": True})
        ok = ws.recv_json()
        expect(ok == {"type": "ok", "seq": a["seq"]}, "feedback: %r" % ok)
        ws.send_json({"type": "feedback", "seq": a["seq"] - 1, "helpful": False})
        expect_error(ws, "bad_seq")
        ok = ws.ask("ä" * 2000, "exact")
        expect(ok.get("type") == "answer", "2000 characters refused: %r" % ok)
    finally:
        ws.close()


def case_invalid_utf8_frame(ctx):
    ws = ctx["main"].ws()
    try:
        start_conv(ws)
        ws.send_frame(b'{"type":"message","id":"u","text":"\xc3\x28 \xed\xa0\x80"}')
        expect_error(ws, "bad_utf8")
        ws.send_frame(b'\xc0\xaf')
        expect_error(ws, "bad_utf8")
        check_answer(ws.ask("Was kostet ein Reisepass?", "u2"), "u2")
    finally:
        ws.close()


def case_oversized_frame(ctx):
    ws = ctx["main"].ws()
    try:
        start_conv(ws)
        big = json.dumps({"type": "message", "id": "big", "text": "x" * 9000}).encode()
        ws.send_frame(big)
        expect_error(ws, "too_long")
        part = len(big) // 3
        ws.send_frame(big[:part], fin=False)
        ws.send_frame(big[part:2 * part], opcode=0, fin=False)
        ws.send_frame(big[2 * part:], opcode=0)
        expect_error(ws, "too_long")
        small = json.dumps({"type": "message", "id": "frag", "text": "Was kostet ein Reisepass?"}).encode()
        ws.send_frame(small[:10], fin=False)
        ws.send_frame(small[10:], opcode=0)
        check_answer(ws.recv_json(), "frag")
        try:
            ws.send_frame(b"x" * (1 << 20))
            while True:
                ws.recv_json()
        except Closed as e:
            expect(e.code in (1009, None), "close code %r" % e.code)
        except (ConnectionResetError, BrokenPipeError):
            pass
    finally:
        ws.close()


def case_origin(ctx):
    s = ctx["main"]
    try:
        s.ws(origin="https://evil.example").close()
        raise AssertionError("foreign origin accepted")
    except HandshakeError as e:
        expect(e.status == 403, "refused with %r, want 403" % e.status)
    s.ws(origin="http://127.0.0.1:%d" % s.port).close()
    s.ws(origin="http://localhost:%d" % s.port).close()
    s.ws().close()
    try:
        s.ws(path="/other").close()
        raise AssertionError("upgrade on /other accepted")
    except HandshakeError:
        pass


def case_rate_limit(ctx):
    ws = ctx["main"].ws()
    try:
        start_conv(ws)
        for i in range(20):
            a = ws.ask("Was kostet ein Reisepass? %d" % i, "rl%d" % i)
            expect(a.get("type") == "answer", "message %d: %r" % (i + 1, a))
        ws.send_json({"type": "message", "id": "rl20", "text": "Noch eine Frage"})
        e = ws.recv_json()
        expect(e.get("code") == "rate_limited", "21st message: %r" % e)
        expect("Sie schreiben gerade sehr schnell" in e["message"], "text %r" % e["message"])
        expect(e.get("reply_to") == "rl20", "rate_limited lacks reply_to: %r" % e)
        start_conv(ws)  # the connection stays usable
    finally:
        ws.close()


def case_metrics(ctx):
    s = ctx["main"]
    ws = s.ws()
    start_conv(ws)
    check_answer(ws.ask("Was kostet ein Reisepass?", "met"), "met")
    hdrs, text = s.metrics()
    ws.close()
    expect(hdrs.get("content-type", "").startswith("text/plain"), "content type")
    m = re.search(r"^amtsbot_messages_total (\d+)$", text, re.M)
    expect(m and int(m.group(1)) >= 1, "messages_total")
    expect(re.search(r'^amtsbot_answers_total\{intent="kosten"\} [1-9]', text, re.M),
           "answers_total for kosten")
    for pat in (r"^amtsbot_fallbacks_total \d+$",
                r'^amtsbot_handoffs_total\{reason="[a-z_]+"\} \d+$',
                r'^amtsbot_reply_latency_seconds_bucket\{le="0.01"\} \d+$',
                r'^amtsbot_reply_latency_seconds_bucket\{le="\+Inf"\} [1-9]',
                r"^amtsbot_reply_latency_seconds_count [1-9]",
                r"^amtsbot_reply_latency_seconds_sum [0-9.]+$",
                r"^amtsbot_open_connections \d+$",
                r'^amtsbot_kb_reloads_total\{result="ok"\} \d+$',
                r'^amtsbot_kb_reloads_total\{result="error"\} \d+$'):
        expect(re.search(pat, text, re.M), "metrics lack %s" % pat)


NEW_OFFICE = """
  - id: testamt-integration
    name: Integrationsamt
    address: Teststraße 1, 12345 Musterstadt
    phone: 0123 456-999
"""


def case_reload_valid(ctx):
    s = ctx["reload"]
    before = s.health()
    with open(os.path.join(s.kb, "offices.yaml"), "a", encoding="utf-8") as f:
        f.write(NEW_OFFICE)
    h = wait_for(lambda: (lambda h: h if h["kb_version"] != before["kb_version"] else None)(s.health()),
                 what="reload after adding an office")
    expect(h.get("offices", before.get("offices", 0) + 1) == before.get("offices", 0) + 1,
           "offices %r -> %r" % (before.get("offices"), h.get("offices")))
    expect("knowledge base reloaded" in s.log_text(), "no reload message in the log")
    ws = s.ws()
    try:
        start_conv(ws)
        check_answer(ws.ask("Was kostet ein Reisepass?", "rv"), "rv")
    finally:
        ws.close()


def case_reload_invalid(ctx):
    s = ctx["reload"]
    ws = s.ws()  # a connection open across the reloads must survive them
    try:
        start_conv(ws)
        before = s.health()
        with open(os.path.join(s.kb, "kaputt.yaml"), "w", encoding="utf-8") as f:
            f.write("offices:\n  - id: kaputt\n    name: [unclosed\n")
        wait_for(lambda: "not reloaded" in s.log_text(), what="reload error in the log")
        log = s.log_text()
        expect(re.search(r"kaputt\.yaml:\d+", log), "no file:line in the log: %s" % log[-800:])
        expect(s.health()["kb_version"] == before["kb_version"], "broken kb swapped in")
        check_answer(ws.ask("Was kostet ein Reisepass?", "ri"), "ri")
        os.unlink(os.path.join(s.kb, "kaputt.yaml"))
        n = log.count("knowledge base reloaded")
        wait_for(lambda: s.log_text().count("knowledge base reloaded") > n,
                 what="reload after the fix")
        check_answer(ws.ask("Was kostet ein Personalausweis?", "ri2"), "ri2")
    finally:
        ws.close()


def case_reload_sighup(ctx):
    s = ctx["reload"]
    n = s.log_text().count("(SIGHUP)")
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: s.log_text().count("(SIGHUP)") > n, what="SIGHUP reload")
    _, text = s.metrics()
    m = re.search(r'^amtsbot_kb_reloads_total\{result="ok"\} (\d+)$', text, re.M)
    expect(m and int(m.group(1)) >= 2, "reloads ok: %r" % (m and m.group(1)))
    m = re.search(r'^amtsbot_kb_reloads_total\{result="error"\} (\d+)$', text, re.M)
    expect(m and int(m.group(1)) >= 1, "reloads error")


def case_kill9_restart(ctx):
    s = Server(ctx["tmp"], "kill9").start()
    try:
        ws = s.ws()
        conv = start_conv(ws)["conversation"]
        sent = []
        for i, q in enumerate(["Was kostet ein Reisepass?", "Wann hat das Bürgeramt geöffnet?",
                               "Was kostet ein Personalausweis?"]):
            sent.append({"type": "message", "seq": 2 * i + 1, "from": "citizen",
                         "id": "k%d" % i, "text": q})
            sent.append(check_answer(ws.ask(q, "k%d" % i), "k%d" % i))
        s.stop(signal.SIGKILL)
        ws.sock.close()
        s.start()
        ws = s.ws()
        w = start_conv(ws, conv, 0)
        expect(w["conversation"] == conv and w["seq"] == 6, "after kill -9: %r" % w)
        got = [ws.recv_json() for _ in range(6)]
        expect(got == sent, "messages lost or changed after kill -9")
        ws.close()
    finally:
        s.stop()
    expect(not s.sanitizer_report(), "sanitizer: %s" % s.sanitizer_report())


def case_example_config(ctx):
    out = subprocess.run([BIN, "serve", "--example-config"], capture_output=True,
                         text=True, check=True).stdout
    with open(os.path.join(ROOT, "amtsbot.example.yaml"), encoding="utf-8") as f:
        expect(f.read() == out, "amtsbot.example.yaml is out of date: "
               "run 'amtsbot serve --example-config > amtsbot.example.yaml'")
    helptext = subprocess.run([BIN, "serve", "--help"], capture_output=True,
                              text=True, check=True).stdout
    for flag in ("--listen", "--kb", "--db", "--allow-origin", "--config",
                 "--retention-days", "--rate-limit", "--max-message", "--web"):
        expect(flag in helptext, "--help lacks %s" % flag)


def case_config_errors(ctx):
    path = os.path.join(ctx["tmp"], "bad.yaml")
    with open(path, "w") as f:
        f.write("listen: 127.0.0.1:1\nrate_limit: -3\n")
    r = subprocess.run([BIN, "serve", "--config", path], capture_output=True, text=True)
    expect(r.returncode == 2, "exit %d" % r.returncode)
    expect("bad.yaml:2" in r.stderr and "rate_limit" in r.stderr, "message %r" % r.stderr)
    with open(path, "w") as f:
        f.write("listen: 127.0.0.1:1\nnonsense: 1\n")
    r = subprocess.run([BIN, "serve", "--config", path], capture_output=True, text=True)
    expect(r.returncode == 2 and "bad.yaml:2" in r.stderr and "nonsense" in r.stderr,
           "unknown key: %r" % r.stderr)
    r = subprocess.run([BIN, "serve", "--bogus"], capture_output=True, text=True)
    expect(r.returncode == 2 and "--bogus" in r.stderr, "unknown flag: %r" % r.stderr)


CASES = [
    ("healthz", "main", case_healthz),
    ("security headers", "main", case_security_headers),
    ("static files", "main", case_static_files),
    ("question and answer", "main", case_question_answer),
    ("hello starts a conversation", "main", case_hello_new_conversation),
    ("resume after reconnect", "main", case_resume),
    ("duplicate client id answered once", "main", case_duplicate_client_id),
    ("malformed input", "main", case_malformed_input),
    ("invalid UTF-8 frame", "main", case_invalid_utf8_frame),
    ("oversized frame", "main", case_oversized_frame),
    ("origin refused", "main", case_origin),
    ("rate limit", "main", case_rate_limit),
    ("metrics", "main", case_metrics),
    ("reload with a valid kb", "reload", case_reload_valid),
    ("reload with an invalid kb", "reload", case_reload_invalid),
    ("reload on SIGHUP", "reload", case_reload_sighup),
    ("restart after kill -9", None, case_kill9_restart),
    ("example config in sync", None, case_example_config),
    ("config errors", None, case_config_errors),
] + handoff_cases.CASES + messenger_cases.CASES + stats_cases.CASES


def main():
    only = sys.argv[1:]
    passed = failed = 0
    tmp = tempfile.mkdtemp(prefix="amtsbot-it-")
    ctx = {"tmp": tmp, "Server": Server, "BIN": BIN, "ROOT": ROOT}
    try:
        for name, need, fn in CASES:
            if only and not any(o in name for o in only):
                continue
            try:
                if need and need not in ctx:
                    ctx[need] = Server(tmp, need).start()
                fn(ctx)
                print("ok - %s" % name)
                passed += 1
            except Exception as e:  # noqa: BLE001 - report and go on
                why = str(e) or e.__class__.__name__
                if os.environ.get("VERBOSE"):
                    traceback.print_exc()
                print("not ok - %s: %s" % (name, why.replace("\n", " ")[:500]))
                failed += 1
    finally:
        for s in ctx.get("handoff_dbs", []):
            s.stop()
        for f in ctx.get("msgr_servers", []):
            f.stop()
            f.graph.close()
        for key in ("main", "reload"):
            if key not in ctx:
                continue
            rc = ctx[key].stop()
            report = ctx[key].sanitizer_report()
            if rc or report:
                print("not ok - %s server stops cleanly: exit %s %s" % (key, rc, report or ""))
                failed += 1
            else:
                print("ok - %s server stops cleanly" % key)
                passed += 1
        if failed and os.environ.get("KEEP"):
            print("# kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
