"""Integration tests of the Facebook Messenger connector (issue 5): the real
'amtsbot serve' with the Messenger secrets set, its Graph API base URL
pointed at a fake Graph API on loopback (fake_graph.py), webhook POSTs
signed with X-Hub-Signature-256 over the raw bytes.

Imported by run.py, which runs CASES with its own reporting.
"""
import glob
import hashlib
import hmac
import http.client
import json
import os
import signal
import time

from fake_graph import FakeGraph, graph_error
from handoff_cases import Agent, add_agent

SECRET = "app-secret-for-tests"
VERIFY = "test_verify_token_12345"
TOKEN = "PAGE-TOKEN-FOR-TESTS"
SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "..", "..", "..", "shared", "messenger-samples")


def expect(cond, why):
    if not cond:
        raise AssertionError(why)


def sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(port, body, sig="sign", headers=None, path="/webhook/messenger"):
    """POST raw bytes; returns (status, body)."""
    h = {"Content-Type": "application/json"}
    if sig == "sign":
        h["X-Hub-Signature-256"] = sign(body)
    elif sig:
        h["X-Hub-Signature-256"] = sig
    h.update(headers or {})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("POST", path, body=body, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def delivery(*events, standby=False, entries=None):
    """A webhook body; 'entries' = a list of event lists, one per entry."""
    entries = entries or [list(events)]
    key = "standby" if standby else "messaging"
    return json.dumps({"object": "page", "entry": [
        {"id": "PAGE", "time": int(time.time() * 1000), key: evs}
        for evs in entries]}).encode()


_mid = [0]


def text_event(psid, text, mid=None, ts=None):
    _mid[0] += 1
    return {"sender": {"id": psid}, "recipient": {"id": "PAGE"},
            "timestamp": ts or int(time.time() * 1000) + _mid[0],
            "message": {"mid": mid or "m_test_%d_%f" % (_mid[0], time.time()),
                        "text": text}}


def sample(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()


class Fb:
    """A server with the connector on, its fake Graph API and clock file."""

    def __init__(self, ctx, name, extra=None, env=None, agents=()):
        self.graph = FakeGraph()
        Server = ctx["Server"]
        self.s = Server(ctx["tmp"], name, extra=["--messenger-retry-base-ms", "200",
                                                 "--log-level", "info"] + (extra or []))
        self.clock = os.path.join(self.s.dir, "clock")
        self.set_clock(0)
        self.env = {"AMTSBOT_FB_APP_SECRET": SECRET, "AMTSBOT_FB_VERIFY_TOKEN": VERIFY,
                    "AMTSBOT_FB_PAGE_TOKEN": TOKEN, "AMTSBOT_FB_GRAPH_URL": self.graph.url,
                    "AMTSBOT_FAKE_NOW_FILE": self.clock}
        self.env.update(env or {})
        self.tokens = {a[0]: add_agent(ctx["BIN"], self.s.db, *a) for a in agents}
        ctx.setdefault("msgr_servers", []).append(self)
        self.start()

    def start(self, env=None):
        e = dict(self.env, **(env or {}))
        old = {k: os.environ.get(k) for k in e}
        os.environ.update({k: v for k, v in e.items() if v is not None})
        for k, v in e.items():
            if v is None:
                os.environ.pop(k, None)
        try:
            self.s.start()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.port = self.s.port
        return self

    def set_clock(self, offset):
        with open(self.clock, "w") as f:
            f.write("%d\n" % offset)

    def post(self, body, **kw):
        return post(self.port, body, **kw)

    def say(self, psid, text, **kw):
        st, _ = self.post(delivery(text_event(psid, text, **kw)))
        expect(st == 200, "webhook answered %d" % st)

    def answers(self, psid, n=1, timeout=8):
        """Wait for at least n texts to 'psid'; returns their texts."""
        calls = self.graph.wait(lambda c: len(self.graph.texts(psid)) >= n and c,
                                timeout, "%d texts to %s" % (n, psid))
        del calls
        return [c["body"]["message"]["text"] for c in self.graph.texts(psid)]

    def metrics(self):
        return self.s.metrics()[1]

    def stop(self, sig=signal.SIGTERM):
        return self.s.stop(sig)


def fb(ctx):
    if "fb" not in ctx:
        ctx["fb"] = Fb(ctx, "fb")
    return ctx["fb"]


def quiet(fbs, psid, seconds=0.8):
    """No text to 'psid' for a while."""
    time.sleep(seconds)
    return not fbs.graph.texts(psid)


# ---- cases -------------------------------------------------------------------

def case_off_without_secrets(ctx):
    s = ctx["main"]
    expect("messenger connector off" in s.log_text(), "no 'off' log line at start")
    expect(SECRET not in s.log_text(), "secret logged")
    st, _ = get(s.port, "/webhook/messenger?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1")
    expect(st == 404, "webhook of a connector that is off: %d" % st)


def case_verification(ctx):
    f = fb(ctx)
    st, body = get(f.port, "/webhook/messenger?hub.mode=subscribe&hub.verify_token=%s"
                   "&hub.challenge=challenge_123" % VERIFY)
    expect(st == 200 and body == b"challenge_123", "right token: %d %r" % (st, body))
    st, body = get(f.port, "/webhook/messenger?hub.mode=subscribe&hub.verify_token=wrong"
                   "&hub.challenge=challenge_123")
    expect(st == 403 and b"challenge_123" not in body, "wrong token: %d" % st)
    st, body = get(f.port, "/webhook/messenger?hub.mode=subscribe&hub.challenge=challenge_123")
    expect(st == 403 and b"challenge_123" not in body, "missing token: %d" % st)
    st, _ = get(f.port, "/webhook/messenger?hub.mode=subscribe&hub.verify_token=%s"
                "&hub.challenge=%%3Cscript%%3E" % VERIFY)
    expect(st == 403, "unsafe challenge echoed: %d" % st)
    log = f.s.log_text()
    expect("connector on" in log and SECRET not in log and TOKEN not in log
           and VERIFY not in log, "log: secrets or start line")


def case_signatures(ctx):
    f = fb(ctx)
    body = delivery(text_event("psid-sig", "Was kostet ein Reisepass?"))
    expect(f.post(body, sig=None)[0] == 403, "unsigned accepted")
    expect(f.post(body, sig=sign(body, "other-secret"))[0] == 403, "wrong secret accepted")
    expect(f.post(body, sig="sha256=" + "0" * 64)[0] == 403, "zero signature accepted")
    expect(f.post(body, sig=sign(body + b" "))[0] == 403, "signature of other bytes accepted")
    other = json.dumps({"object": "user", "entry": []}).encode()
    expect(f.post(other)[0] == 403, "object 'user' accepted")
    expect(quiet(f, "psid-sig"), "a refused post was answered")
    big = b"{" + b" " * (300 * 1024) + b"}"
    st, _ = f.post(big)
    expect(st == 413, "oversized body: %d" % st)
    expect(f.post(body)[0] == 200, "signed post refused")
    texts = f.answers("psid-sig", 2)
    expect(any("Reisepass" in t for t in texts), "no passport answer: %r" % texts)
    m = f.metrics()
    expect('amtsbot_messenger_webhooks_total{result="forbidden"} 5' in m, "metrics: %s" % m[-900:])


def case_text_sample(ctx):
    f = Fb(ctx, "fb-text")
    expect(f.post(sample("text-message.json"))[0] == 200, "text sample")
    texts = f.answers("USER_ID", 2)
    calls = f.graph.calls
    expect(calls[0]["body"] == {"recipient": {"id": "USER_ID"}, "sender_action": "typing_on"},
           "first call is not typing_on: %r" % calls[0]["body"])
    expect("automatischer Dienst" in texts[0] and "datenschutz" in texts[0],
           "first answer lacks the bot disclosure: %r" % texts[0])
    for c in f.graph.texts("USER_ID"):
        b = c["body"]
        expect(b["messaging_type"] == "RESPONSE" and c["query"]["access_token"] == [TOKEN]
               and c["path"] == "/v21.0/me/messages", "send call %r" % b)
        for q in b["message"].get("quick_replies", []):
            expect(len(q["title"]) <= 20 and q["content_type"] == "text", "quick reply %r" % q)
    # the same mid again (quick-reply.json carries it too): not answered twice
    n = len(f.graph.calls)
    expect(f.post(sample("quick-reply.json"))[0] == 200, "quick-reply sample")
    time.sleep(0.8)
    expect(len(f.graph.calls) == n, "a repeated mid was answered")
    f.say("USER_ID", "Wie spät ist es?")
    texts = f.answers("USER_ID", 3)
    expect(not any("automatischer Dienst" in t for t in texts[2:]), "disclosure repeated")


def case_quick_reply_sample(ctx):
    f = Fb(ctx, "fb-qr")
    expect(f.post(sample("quick-reply.json"))[0] == 200, "quick-reply sample")
    f.answers("<PSID>", 2)
    # our own payload carries the full question behind a shortened title
    ev = text_event("psid-qr", "Mit einem Mensche…")
    ev["message"]["quick_reply"] = {"payload": "amtsbot:q:Was kostet ein Reisepass?"}
    expect(f.post(delivery(ev))[0] == 200, "quick reply tap")
    texts = f.answers("psid-qr", 2)
    expect(any("Reisepass" in t for t in texts), "payload not used: %r" % texts)


def case_postback_samples(ctx):
    f = fb(ctx)
    expect(f.post(sample("postback.json"))[0] == 200, "postback sample")
    texts = f.answers("USER-REF-ID", 2)
    c = f.graph.texts("USER-REF-ID")[0]
    expect(c["body"]["recipient"] == {"user_ref": "USER-REF-ID"}, "recipient %r" % c["body"])
    expect(texts, "postback not answered")
    n = len(f.graph.calls)
    st, _ = f.post(sample("postback-malformed.json"))
    expect(st == 200, "malformed JSON: %d" % st)
    expect("not valid JSON" in f.s.log_text(), "malformed JSON not logged")
    time.sleep(0.5)
    expect(len(f.graph.calls) == n and f.s.health()["status"] == "ok", "malformed: calls or crash")
    gs = {"sender": {"id": "psid-start"}, "recipient": {"id": "PAGE"},
          "timestamp": int(time.time() * 1000),
          "postback": {"title": "Los geht's", "payload": "GET_STARTED", "mid": "m_gs1"}}
    expect(f.post(delivery(gs))[0] == 200, "get started")
    texts = f.answers("psid-start", 2)
    expect("Guten Tag" in texts[-1], "greeting %r" % texts)


def case_attachment_and_unknown(ctx):
    f = fb(ctx)
    att = {"sender": {"id": "psid-att"}, "recipient": {"id": "PAGE"}, "timestamp": 1,
           "message": {"mid": "m_att1", "attachments": [{"type": "image",
                                                        "payload": {"url": "https://x/y.png"}}]}}
    unknown = {"sender": {"id": "psid-att"}, "recipient": {"id": "PAGE"}, "timestamp": 2,
               "something_new": {"x": 1}}
    delivered = {"sender": {"id": "psid-att"}, "recipient": {"id": "PAGE"}, "timestamp": 3,
                 "delivery": {"mids": ["m_1"], "watermark": 1}}
    read = {"sender": {"id": "psid-att"}, "recipient": {"id": "PAGE"}, "timestamp": 4,
            "read": {"watermark": 1}}
    expect(f.post(delivery(unknown, delivered, read, att))[0] == 200, "mixed events")
    texts = f.answers("psid-att", 2)
    expect("nur Text" in texts[-1], "attachment answer %r" % texts[-1])
    time.sleep(0.3)
    expect(len(f.graph.texts("psid-att")) == 2, "delivery/read answered")


def case_echo_samples_pause(ctx):
    f = Fb(ctx, "fb-echo", extra=["--messenger-staff-pause-minutes", "30"])
    for name in ("standby-echo-appid-number.json", "standby-echo-appid-string.json"):
        st, _ = f.post(sample(name))
        expect(st == 200, "%s: %d" % (name, st))
    expect("staff answered" in f.s.log_text(), "staff echo not recognised")
    f.say("<PSID>", "Was kostet ein Reisepass?")
    expect(quiet(f, "<PSID>"), "the bot answered while staff had the conversation")
    # our own echo (metadata) does not pause anybody
    own = {"sender": {"id": "PAGE"}, "recipient": {"id": "psid-own"}, "timestamp": 5,
           "message": {"mid": "m_own1", "is_echo": True, "app_id": 999, "metadata": "amtsbot",
                       "text": "x"}}
    expect(f.post(delivery(own))[0] == 200, "own echo")
    f.say("psid-own", "Was kostet ein Reisepass?")
    f.answers("psid-own", 2)
    f.set_clock(31 * 60)
    f.say("<PSID>", "Was kostet ein Personalausweis?")
    texts = f.answers("<PSID>", 1)
    expect(any("ausweis" in t.lower() for t in texts), "no answer after the pause: %r" % texts)


def case_handover_events(ctx):
    f = Fb(ctx, "fb-handover", extra=["--messenger-app-id", "123456789"])
    take = {"sender": {"id": "<PSID>"}, "recipient": {"id": "<PAGE_ID>"}, "timestamp": 7,
            "take_thread_control": {"previous_owner_app_id": "123456789",
                                    "new_owner_app_id": "263902037430900"}}
    expect(f.post(delivery(take))[0] == 200, "take_thread_control")
    standby = text_event("<PSID>", "Was kostet ein Reisepass?")
    expect(f.post(delivery(standby, standby=True))[0] == 200, "standby message")
    expect(quiet(f, "<PSID>"), "answered while another app owns the thread")
    expect(f.post(sample("pass-thread-control.json"))[0] == 200, "pass sample")
    f.say("<PSID>", "Was kostet ein Reisepass?")
    f.answers("<PSID>", 2)


def case_batched_entries(ctx):
    f = fb(ctx)
    body = delivery(entries=[[text_event("psid-b1", "Was kostet ein Reisepass?"),
                              text_event("psid-b2", "Was kostet ein Reisepass?")],
                             [text_event("psid-b3", "Was kostet ein Reisepass?"),
                              text_event("psid-b1", "Was kostet ein Personalausweis?")]])
    expect(f.post(body)[0] == 200, "batch")
    for p in ("psid-b2", "psid-b3"):
        f.answers(p, 2)
    texts = f.answers("psid-b1", 3)
    expect(any("ausweis" in t.lower() for t in texts), "second event of psid-b1: %r" % texts)


def case_duplicate_delivery(ctx):
    f = fb(ctx)
    body = delivery(text_event("psid-dup", "Was kostet ein Reisepass?"))
    for _ in range(3):
        expect(f.post(body)[0] == 200, "repeat")
    f.answers("psid-dup", 2)
    time.sleep(0.8)
    expect(len(f.graph.texts("psid-dup")) == 2, "answered more than once: %d" %
           len(f.graph.texts("psid-dup")))
    expect("amtsbot_messenger_duplicates_total 2" in f.metrics(), "duplicates not counted")


def case_crash_after_200(ctx):
    f = Fb(ctx, "fb-crash", env={"AMTSBOT_FB_TEST_DELAY_MS": "3000"})
    body = delivery(text_event("psid-crash", "Was kostet ein Reisepass?"))
    t0 = time.time()
    expect(f.post(body)[0] == 200, "post")
    expect(time.time() - t0 < 1, "the 200 took %.2f s" % (time.time() - t0))
    f.stop(signal.SIGKILL)
    expect(not f.graph.calls, "processed before the crash")
    f.start(env={"AMTSBOT_FB_TEST_DELAY_MS": None})
    f.answers("psid-crash", 2)
    expect(f.post(body)[0] == 200, "Meta's retry")
    time.sleep(1)
    expect(len(f.graph.texts("psid-crash")) == 2, "answered %d times" %
           len(f.graph.texts("psid-crash")))


def is_msg(c):
    return "message" in (c["body"] or {})


def gaps(calls):
    return [b["t"] - a["t"] for a, b in zip(calls, calls[1:])]


def case_send_temporary_errors(ctx):
    f = Fb(ctx, "fb-retry", extra=["--messenger-timeout-seconds", "1"])
    for i, (status, body, hang) in enumerate([
            (500, graph_error(1200, message="Temporary send message failure"), 0),
            (400, graph_error(613, message="rate limit"), 0),
            (503, {}, 0), (200, {}, 3)]):
        psid = "psid-tmp%d" % i
        f.graph.reset()
        f.graph.fail(2, status, body, match=is_msg, hang=hang)
        f.say(psid, "Wie spät ist es?")
        f.graph.wait(lambda c: len([x for x in c if is_msg(x)]) >= 4, 15, "retries")
        msgs = [c for c in f.graph.calls if is_msg(c)]
        # the disclosure fails twice, then goes out; then the answer
        expect(msgs[0]["body"] == msgs[1]["body"] == msgs[2]["body"], "not the same call retried")
        g = gaps(msgs[:3])
        if not hang:
            expect(g[0] >= 0.09 and g[1] >= 0.19, "back-off too short: %r" % g)
        expect(msgs[3]["body"]["message"]["text"] != msgs[0]["body"]["message"]["text"],
               "order: answer before the disclosure")
    m = f.metrics()
    expect('amtsbot_messenger_send_total{result="retry"} 8' in m, "retries not counted: %s" % m[-700:])


def case_send_permanent_errors(ctx):
    f = Fb(ctx, "fb-perm")
    for i, (status, body) in enumerate([(400, graph_error(190, message="Invalid OAuth access token.")),
                                        (400, graph_error(10, 2018278, "outside of allowed window")),
                                        (400, graph_error(10, 2018300, "another app controls")),
                                        (400, graph_error(100, message="invalid parameter"))]):
        psid = "psid-perm%d" % i
        f.graph.reset()
        f.graph.fail(1, status, body, match=is_msg)
        f.say(psid, "Wie spät ist es?")
        texts = f.answers(psid, 2)     # the failed disclosure, then the answer
        time.sleep(0.6)
        msgs = [c for c in f.graph.calls if is_msg(c)]
        expect(len(msgs) == 2 and msgs[0]["body"] != msgs[1]["body"],
               "permanent error retried: %r" % texts)
    m = f.metrics()
    expect('amtsbot_messenger_send_total{result="permanent"} 4' in m, "not counted: %s" % m[-700:])
    expect("permanent error" in f.s.log_text(), "not logged")


def handoff_fb(ctx):
    if "fbh" not in ctx:
        ctx["fbh"] = Fb(ctx, "fb-agent", extra=["--handoff-hours", "0",
                                                "--messenger-handover", "1",
                                                "--max-message", "6000"],
                        agents=[("anna", "buergerservice", "agent")])
    return ctx["fbh"]


def queue_item(agent, conv_pred):
    for i in agent.queue["items"]:
        if conv_pred(i):
            return i
    return None


def case_handoff_and_back(ctx):
    f = handoff_fb(ctx)
    anna = Agent(f.port, f.tokens["anna"])
    try:
        f.say("psid-ho", "Ich möchte mit einem Menschen sprechen")
        texts = f.answers("psid-ho", 3)
        expect(any("Platz" in t or "niemand" in t for t in texts), "no queued note: %r" % texts)
        f.graph.wait(lambda c: any(x["path"].endswith("/pass_thread_control") for x in c),
                     what="pass_thread_control")
        p = [x for x in f.graph.calls if x["path"].endswith("/pass_thread_control")][0]
        expect(p["body"]["target_app_id"] == 263902037430900, "target %r" % p["body"])
        anna.wait_queue(lambda q: any(i["channel"] == "messenger" for i in q["items"]),
                        "a messenger item")
        item = queue_item(anna, lambda i: i["channel"] == "messenger")
        w = item.get("window")
        expect(w and w["kind"] == "standard" and w["until"] > time.time() + 23 * 3600,
               "window %r" % w)
        conv = item["conversation"]
        anna.send(type="claim", conversation=conv)
        cl = anna.next("claimed", conversation=conv)
        expect(cl["channel"] == "messenger" and cl["window"]["kind"] == "standard", "claimed %r" % cl)
        f.graph.wait(lambda c: any(x["path"].endswith("/take_thread_control") for x in c),
                     what="take_thread_control")
        f.graph.wait(lambda c: any("übernommen" in x["body"]["message"]["text"]
                                   for x in f.graph.texts("psid-ho")), what="claimed note")
        n = len(f.graph.texts("psid-ho"))
        anna.send(type="message", conversation=conv, text="Guten Tag, hier ist Anna.")
        anna.next("message", conversation=conv, **{"from": "agent"})
        n += 1
        f.answers("psid-ho", n)     # Anna's words
        c = [x for x in f.graph.texts("psid-ho") if "Anna." in x["body"]["message"]["text"]][0]
        expect(c["body"]["messaging_type"] == "RESPONSE" and "tag" not in c["body"], "%r" % c["body"])
        # a long answer: split at sentence ends within 2,000 characters
        long = " ".join("Satz Nummer %d erklärt etwas Wichtiges zum Antrag." % i
                        for i in range(90))
        anna.send(type="message", conversation=conv, text=long)
        anna.next("message", conversation=conv, **{"from": "agent"})
        f.answers("psid-ho", n + 3)
        parts = [x["body"]["message"]["text"] for x in f.graph.texts("psid-ho")[n:]]
        expect(len(parts) == 3 and all(len(p) <= 2000 and p.endswith(".") for p in parts)
               and " ".join(parts) == long, "split: %r" % [len(p) for p in parts])
        n += 3
        f.say("psid-ho", "Danke, meine Nummer ist 0176 98765432")
        live = anna.next("message", conversation=conv, **{"from": "citizen"})
        expect("98765432" in live["text"], "agent did not get the clear text")
        time.sleep(0.5)
        expect(len(f.graph.texts("psid-ho")) == n, "the bot answered during the handoff")
        anna.send(type="release", conversation=conv)
        anna.next("ended", conversation=conv)
        f.answers("psid-ho", n + 1)
        expect("Chatbot" in f.graph.texts("psid-ho")[-1]["body"]["message"]["text"], "ended note")
        f.say("psid-ho", "Was kostet ein Reisepass?")
        texts = f.answers("psid-ho", n + 2)
        expect(any("Reisepass" in t for t in texts[n + 1:]), "bot not back: %r" % texts[n + 1:])
    finally:
        anna.close()


def case_reply_windows(ctx):
    f = handoff_fb(ctx)
    f.set_clock(0)
    anna = Agent(f.port, f.tokens["anna"])
    try:
        f.say("psid-win", "Ich möchte mit einem Menschen sprechen")
        f.answers("psid-win", 3)
        anna.wait_queue(lambda q: len([i for i in q["items"] if i["channel"] == "messenger"
                                       and i["state"] == "queued"]) >= 1, "queued item")
        conv = queue_item(anna, lambda i: i["channel"] == "messenger" and i["state"] == "queued")["conversation"]
        anna.send(type="claim", conversation=conv)
        anna.next("claimed", conversation=conv)
        f.set_clock(25 * 3600)
        anna.send(type="message", conversation=conv, text="Antwort nach 25 Stunden")
        anna.next("message", conversation=conv, **{"from": "agent"})
        f.graph.wait(lambda c: any("25 Stunden" in json.dumps(x["body"]) for x in c), what="tagged")
        c = [x for x in f.graph.texts("psid-win") if "25 Stunden" in x["body"]["message"]["text"]][0]
        expect(c["body"]["messaging_type"] == "MESSAGE_TAG" and c["body"]["tag"] == "HUMAN_AGENT",
               "after 25 h: %r" % c["body"])
        anna.send(type="claim", conversation=conv)
        cl = anna.next("claimed", conversation=conv)
        expect(cl["window"]["kind"] == "human_agent", "window %r" % cl["window"])
        f.set_clock(8 * 24 * 3600)
        n = len(f.graph.calls)
        anna.send(type="message", conversation=conv, text="Antwort nach 8 Tagen")
        e = anna.next("error", conversation=conv)
        expect(e["code"] == "window_closed" and e["message"], "error %r" % e)
        anna.send(type="claim", conversation=conv)
        cl = anna.next("claimed", conversation=conv)
        expect(cl["window"]["kind"] == "closed", "window %r" % cl["window"])
        time.sleep(0.5)
        expect(len(f.graph.calls) == n, "sent after 7 days")
        anna.send(type="close", conversation=conv)
        anna.next("ended", conversation=conv)
    finally:
        f.set_clock(0)
        anna.close()


def case_no_personal_data(ctx):
    """PSIDs and personal data only as hashes or sealed in the files."""
    f = Fb(ctx, "fb-pii")
    psid = "psid-7364519028371"
    f.say(psid, "Meine IBAN ist DE89 3704 0044 0532 0130 00, was kostet ein Reisepass?")
    f.answers(psid, 2)
    f.stop()
    found = []
    for path in glob.glob(f.s.db + "*"):
        if path.endswith(".key"):
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        for what in (psid.encode(), b"DE89 3704", b"DE89370400"):
            if what in data:
                found.append("%s in %s" % (what, os.path.basename(path)))
    expect(not found, "personal data stored: %s" % found)


def case_clean_shutdown(ctx):
    bad = []
    for f in ctx.get("msgr_servers", []):
        rc = f.stop()
        rep = f.s.sanitizer_report()
        if rep or rc not in (0, None, -9):
            bad.append("%s: exit %s %s" % (f.s.dir, rc, rep or ""))
        f.graph.close()
    expect(not bad, "; ".join(bad))


CASES = [
    ("messenger off without secrets", "main", case_off_without_secrets),
    ("messenger webhook verification", None, case_verification),
    ("messenger signatures and limits", None, case_signatures),
    ("messenger text sample, disclosure, mid dedup", None, case_text_sample),
    ("messenger quick-reply sample and payload", None, case_quick_reply_sample),
    ("messenger postback samples and malformed JSON", None, case_postback_samples),
    ("messenger attachment, delivery, read, unknown", None, case_attachment_and_unknown),
    ("messenger echo samples pause the bot", None, case_echo_samples_pause),
    ("messenger handover events and standby", None, case_handover_events),
    ("messenger batched entries", None, case_batched_entries),
    ("messenger duplicate deliveries", None, case_duplicate_delivery),
    ("messenger crash after the 200", None, case_crash_after_200),
    ("messenger send API temporary errors retried", None, case_send_temporary_errors),
    ("messenger send API permanent errors not retried", None, case_send_permanent_errors),
    ("messenger handoff to an agent and back", None, case_handoff_and_back),
    ("messenger 24-hour and 7-day windows", None, case_reply_windows),
    ("messenger no personal data in the files", None, case_no_personal_data),
    ("messenger servers stop cleanly", None, case_clean_shutdown),
]
