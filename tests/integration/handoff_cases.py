"""Integration tests of the human handoff (issue 4): real 'amtsbot serve',
a citizen on /ws and agents on /agent/ws, all over real sockets.

Imported by run.py, which runs CASES with its own reporting.
"""
import os
import signal
import socket
import subprocess
import time

from wsclient import WS, Closed, http_get

PII = {
    "iban": "DE89 3704 0044 0532 0130 00",
    "taxid": "86095742719",
    "email": "erika.mustermann@example.org",
    "phone": "0176 98765432",
}
NONSENSE = ["Xylofon quabbelt blubb", "Zorg wibbel flomp"]
NIGHT_OFFICE = """
  - id: nachtamt
    name: Nachtamt
    address: Mondweg 1, 12345 Musterstadt
    hours:
      so: 03:00-03:01
    closed:
      holidays: false
    team: nachtteam
"""


def expect(cond, why):
    if not cond:
        raise AssertionError(why)


def add_agent(bin_, db, name, team="buergerservice", role="agent"):
    out = subprocess.run([bin_, "agent", "add", name, "--team", team, "--role", role,
                          "--db", db], capture_output=True, text=True, check=True).stdout
    token = out.strip().splitlines()[-1]
    expect(len(token) == 64 and all(c in "0123456789abcdef" for c in token),
           "token line %r" % token)
    return token


def recv_until(ws, pred, what, limit=20):
    """Frames up to and including the first one that satisfies 'pred'."""
    for _ in range(limit):
        f = ws.recv_json()
        if pred(f):
            return f
    raise AssertionError("no %s" % what)


def typ(t, **kw):
    return lambda f: f.get("type") == t and all(f.get(k) == v for k, v in kw.items())


class Agent:
    def __init__(self, port, token):
        self.ws = WS(port, path="/agent/ws")
        self.ws.send_json({"type": "auth", "token": token})
        self.me = self.ws.recv_json()
        expect(self.me.get("type") == "auth_ok", "auth: %r" % self.me)
        self.queue = self.ws.recv_json()
        expect(self.queue.get("type") == "queue", "no queue after auth: %r" % self.queue)

    def next(self, t, **kw):
        f = recv_until(self.ws, typ(t, **kw), t)
        if t == "queue":
            self.queue = f
        return f

    def wait_queue(self, pred, what):
        for _ in range(30):
            if pred(self.queue):
                return self.queue
            self.next("queue")
        raise AssertionError("queue never showed " + what)

    def send(self, **frame):
        self.ws.send_json(frame)

    def close(self):
        self.ws.close()


def ids(queue):
    return [i["conversation"] for i in queue["items"]]


class Citizen:
    def __init__(self, port, conv=None, last_seq=0):
        self.port = port
        self.ws = WS(port)
        self.ws.send_json({"type": "hello", "conversation": conv, "last_seq": last_seq})
        w = self.ws.recv_json()
        expect(w.get("type") == "welcome", "welcome: %r" % w)
        self.conv = w["conversation"]
        self.n = 0

    def say(self, text):
        self.n += 1
        self.ws.send_json({"type": "message", "id": "m%d" % self.n, "text": text})
        return "m%d" % self.n

    def handoff(self, text, reason):
        """Send a message that hands over; returns the queued frame."""
        cid = self.say(text)
        a = self.ws.recv_json()
        expect(a.get("type") == "answer" and a.get("reply_to") == cid, "answer: %r" % a)
        expect(a["handoff"] is True and a["handoff_reason"] == reason,
               "%r: handoff %r reason %r" % (text, a["handoff"], a["handoff_reason"]))
        h = self.ws.recv_json()
        expect(h.get("type") == "handoff" and h.get("state") == "queued"
               and isinstance(h.get("seq"), int) and h["seq"] == a["seq"] + 1
               and isinstance(h.get("position"), int) and h["position"] >= 1,
               "handoff frame: %r" % h)
        return h

    def next(self, t, **kw):
        return recv_until(self.ws, typ(t, **kw), t)

    def close(self):
        self.ws.close()


def handoff_server(ctx, name, extra=None, agents=(), kb=None):
    """A server with its own db; 'agents' = [(name, team, role)] made first."""
    Server = ctx["Server"]
    s = Server(ctx["tmp"], name, extra=extra or [], kb=kb)
    tokens = {}
    for a in agents:
        tokens[a[0]] = add_agent(ctx["BIN"], s.db, *a)
    s.tokens = tokens
    ctx.setdefault("handoff_dbs", []).append(s)
    return s.start()


def ho(ctx):
    """The shared handoff server: no office hours, a short grace period."""
    if "ho" not in ctx:
        ctx["ho"] = handoff_server(ctx, "ho", ["--handoff-hours", "0",
                                               "--agent-grace-seconds", "2"],
                                   [("anna", "buergerservice", "agent"),
                                    ("bernd", "buergerservice", "agent"),
                                    ("carla", "verkehr", "agent")])
    return ctx["ho"]


def settle(agent, citizen):
    """Claim and close the citizen's case so that the next test starts clean."""
    agent.send(type="claim", conversation=citizen.conv)
    agent.next("claimed", conversation=citizen.conv)
    agent.send(type="close", conversation=citizen.conv)
    agent.next("ended", conversation=citizen.conv)
    citizen.next("handoff", state="ended")


# ---- cases ------------------------------------------------------------------

def case_handoff_reasons(ctx):
    s = ho(ctx)
    anna = Agent(s.port, s.tokens["anna"])
    cits = []
    try:
        tries = [("Meine IBAN ist " + PII["iban"], "personal_data", []),
                 ("Ich möchte mit einem Menschen sprechen", "requested", []),
                 ("Wie ist der Stand meines Antrags?", "case", []),
                 ("Mit einem Menschen sprechen", "fallback", NONSENSE)]
        for text, reason, before in tries:
            c = Citizen(s.port)
            cits.append(c)
            for q in before:
                c.say(q)
                a = c.ws.recv_json()
                expect(a.get("type") == "answer" and not a["handoff"], "nonsense: %r" % a)
            c.handoff(text, reason)
            q = anna.wait_queue(lambda q, c=c: c.conv in ids(q), "the new case")
            item = [i for i in q["items"] if i["conversation"] == c.conv][0]
            expect(item["reason"] == reason and item["channel"] == "web"
                   and item["state"] == "queued" and item["agent"] is None
                   and isinstance(item["waiting_s"], int), "item %r" % item)
            expect(any(t["from"] == "citizen" for t in item["transcript"]), "transcript")
            expect(PII["iban"].replace(" ", "") not in str(item), "IBAN in the queue")
        for c in cits:
            settle(anna, c)
    finally:
        for c in cits:
            c.close()
        anna.close()


def case_queue_order_and_claim_conflict(ctx):
    s = ho(ctx)
    anna = Agent(s.port, s.tokens["anna"])
    bernd = Agent(s.port, s.tokens["bernd"])
    c1, c2 = Citizen(s.port), Citizen(s.port)
    try:
        h1 = c1.handoff("Ich möchte mit einem Menschen sprechen", "requested")
        h2 = c2.handoff("Ich möchte mit einem Menschen sprechen", "requested")
        expect(h2["position"] == h1["position"] + 1, "positions %r %r" % (h1, h2))
        q = anna.wait_queue(lambda q: c2.conv in ids(q), "both cases")
        expect(ids(q).index(c1.conv) < ids(q).index(c2.conv), "queue order %r" % ids(q))
        # both claim at once: exactly one wins
        anna.send(type="claim", conversation=c1.conv)
        bernd.send(type="claim", conversation=c1.conv)
        ra = recv_until(anna.ws, lambda f: f["type"] in ("claimed", "error"), "claim result")
        rb = recv_until(bernd.ws, lambda f: f["type"] in ("claimed", "error"), "claim result")
        kinds = sorted([ra["type"], rb["type"]])
        expect(kinds == ["claimed", "error"], "claims: %r %r" % (ra, rb))
        loser = ra if ra["type"] == "error" else rb
        expect(loser["code"] == "already_claimed", "loser got %r" % loser)
        winner = anna if ra["type"] == "claimed" else bernd
        c1.next("handoff", state="active")
        winner.send(type="close", conversation=c1.conv)
        winner.next("ended", conversation=c1.conv)
        settle(anna, c2)
    finally:
        for x in (c1, c2, anna, bernd):
            x.close()


def case_messages_and_release(ctx):
    s = ho(ctx)
    anna = Agent(s.port, s.tokens["anna"])
    c = Citizen(s.port)
    try:
        c.handoff("Meine IBAN ist " + PII["iban"], "personal_data")
        # the bot stays silent while queued: the message is acknowledged
        cid = c.say("Und meine Steuer-ID ist " + PII["taxid"])
        ack = c.next("message")
        expect(ack["id"] == cid and ack["from"] == "citizen" and PII["taxid"] not in ack["text"],
               "ack %r" % ack)
        anna.send(type="claim", conversation=c.conv)
        cl = anna.next("claimed", conversation=c.conv)
        expect([t for t in cl["transcript"] if t["from"] == "citizen"], "claimed transcript")
        expect("suggestion" in cl and "contact" in cl, "claimed fields %r" % list(cl))
        act = c.next("handoff", state="active")
        expect("anna" in act.get("text", ""), "active text %r" % act)
        cid = c.say("Meine Telefonnummer ist " + PII["phone"])
        ack = c.next("message")
        expect(ack["id"] == cid and "[" in ack["text"], "ack redacted %r" % ack)
        live = anna.next("message", **{"from": "citizen"})
        expect(PII["phone"] in live["text"] and live["conversation"] == c.conv,
               "agent gets clear text: %r" % live)
        anna.send(type="message", conversation=c.conv,
                  text="Guten Tag, ich sehe Ihre IBAN " + PII["iban"] + ".")
        echo = anna.next("message", **{"from": "agent"})
        words = c.next("agent")
        expect(words["name"] == "anna" and PII["iban"] in words["text"]
               and words["seq"] == echo["seq"], "agent words %r %r" % (words, echo))
        anna.send(type="note", conversation=c.conv, text="Rückruf an " + PII["email"])
        anna.next("note", conversation=c.conv)
        anna.send(type="release", conversation=c.conv)
        anna.next("ended", conversation=c.conv, outcome="released")
        c.next("handoff", state="ended")
        c.say("Was kostet ein Reisepass?")
        a = c.next("answer")
        expect(a["intent"] == "kosten" and not a["handoff"], "bot answers again: %r" % a)
        # a resume shows the stored, redacted agent words
        r = Citizen(s.port, c.conv, words["seq"] - 1)
        again = r.next("agent")
        expect(again["seq"] == words["seq"] and PII["iban"] not in again["text"],
               "resumed agent words %r" % again)
        r.close()
    finally:
        c.close()
        anna.close()


def case_team_visibility(ctx):
    s = ho(ctx)
    carla = Agent(s.port, s.tokens["carla"])
    anna = Agent(s.port, s.tokens["anna"])
    c = Citizen(s.port)
    try:
        c.handoff("Meine IBAN ist " + PII["iban"], "personal_data")
        anna.wait_queue(lambda q: c.conv in ids(q), "the case")
        carla.send(type="claim", conversation=c.conv)
        e = carla.next("error")
        expect(e["code"] == "forbidden", "other team claimed: %r" % e)
        expect(c.conv not in ids(carla.queue), "other team sees the case")
        settle(anna, c)
    finally:
        for x in (c, anna, carla):
            x.close()


def case_agent_disconnect_requeue(ctx):
    s = ho(ctx)
    anna = Agent(s.port, s.tokens["anna"])
    bernd = Agent(s.port, s.tokens["bernd"])
    c = Citizen(s.port)
    try:
        c.handoff("Ich möchte mit einem Menschen sprechen", "requested")
        anna.send(type="claim", conversation=c.conv)
        anna.next("claimed")
        c.next("handoff", state="active")
        anna.ws.sock.close()  # no close frame: the connection is just gone
        h = recv_until(c.ws, typ("handoff", state="queued"), "requeue")
        expect("unterbrochen" in h.get("text", ""), "requeue text %r" % h)
        bernd.wait_queue(lambda q: any(i["conversation"] == c.conv and i["state"] == "queued"
                                       for i in q["items"]), "the case queued again")
        settle(bernd, c)
    finally:
        for x in (c, bernd):
            x.close()


def case_unauthenticated_agent(ctx):
    s = ho(ctx)
    if os.path.exists(os.path.join(ctx["ROOT"], "web-widget", "agent.html")):
        status, hdrs, _ = http_get(s.port, "/agent")
        expect(status == 200 or (status in (301, 302) and
                                 hdrs.get("location", "").endswith("/agent/")),
               "GET /agent -> %d %r" % (status, hdrs.get("location")))
        status, _, body = http_get(s.port, "/agent/")
        expect(status == 200 and b"<html" in body.lower(), "GET /agent/ -> %d" % status)
    c = Citizen(s.port)
    ws = WS(s.port, path="/agent/ws")
    try:
        c.handoff("Meine IBAN ist " + PII["iban"], "personal_data")
        seen = []
        for frame in ({"type": "claim", "conversation": c.conv},
                      {"type": "message", "conversation": c.conv, "text": "hallo"},
                      {"type": "queue"}, {"type": "auth"},
                      {"type": "auth", "token": "0" * 64}):
            ws.send_json(frame)
            seen.append(ws.recv_json())
        ws.send_frame(b"not json")
        seen.append(ws.recv_json())
        expect([f.get("code") for f in seen] ==
               ["auth_required", "auth_required", "auth_required", "bad_token",
                "bad_token", "auth_required"], "codes %r" % seen)
        expect(all(f["type"] == "error" for f in seen), "non-errors %r" % seen)
        expect(c.conv not in str(seen) and "IBAN" not in str(seen), "leaked %r" % seen)
        anna = Agent(s.port, s.tokens["anna"])
        settle(anna, c)
        anna.close()
    finally:
        ws.close()
        c.close()


def case_auth_rate_limit(ctx):
    s = handoff_server(ctx, "ho-limit", ["--handoff-hours", "0"],
                       [("anna", "buergerservice", "agent")])
    try:
        ws = WS(s.port, path="/agent/ws")
        for _ in range(5):
            ws.send_json({"type": "auth", "token": "f" * 64})
            expect(ws.recv_json().get("code") == "bad_token", "bad_token")
        ws.send_json({"type": "auth", "token": s.tokens["anna"]})
        e = ws.recv_json()
        expect(e.get("code") == "too_many_attempts", "6th login: %r" % e)
        try:
            ws.recv_json()
            raise AssertionError("connection stays open after the limit")
        except (Closed, ConnectionResetError):
            pass
        ws.close()
        ws = WS(s.port, path="/agent/ws")  # the same address is locked, too
        ws.send_json({"type": "auth", "token": s.tokens["anna"]})
        e = ws.recv_json()
        expect(e.get("code") == "too_many_attempts", "new connection: %r" % e)
        ws.close()
    finally:
        s.stop()


def case_nobody_on_duty(ctx):
    s = handoff_server(ctx, "ho-duty", ["--handoff-hours", "0"],
                       [("anna", "buergerservice", "agent")])
    try:
        c = Citizen(s.port)
        h = c.handoff("Ich möchte mit einem Menschen sprechen", "requested")
        expect("niemand" in h.get("text", "") and "hinterlassen" in h["text"],
               "nobody on duty text: %r" % h)
        c.say("Bitte rufen Sie mich an: " + PII["phone"] + " oder " + PII["email"])
        ack = c.next("message")
        expect(PII["email"] not in ack["text"], "ack %r" % ack)
        thanks = c.next("handoff", state="queued")
        expect("Kontaktdaten" in thanks.get("text", ""), "thanks %r" % thanks)
        c.close()
        anna = Agent(s.port, s.tokens["anna"])
        item = [i for i in anna.queue["items"] if i["conversation"] == c.conv]
        expect(item and item[0]["has_contact"] and not item[0]["on_duty"], "item %r" % item)
        anna.send(type="claim", conversation=c.conv)
        cl = anna.next("claimed")
        expect(PII["email"] in (cl["contact"] or "") and PII["phone"] in cl["contact"],
               "contact %r" % cl["contact"])
        anna.close()
        key = s.db + ".key"
        expect(os.path.exists(key) and (os.stat(key).st_mode & 0o777) == 0o600,
               "key file mode")
    finally:
        s.stop()


def case_outside_hours(ctx):
    Server = ctx["Server"]
    base = Server(ctx["tmp"], "ho-night-kb")  # only for its kb copy
    with open(os.path.join(base.kb, "offices.yaml"), "a", encoding="utf-8") as f:
        f.write(NIGHT_OFFICE)
    s = handoff_server(ctx, "ho-night", ["--default-team", "nachtteam"],
                       [("nina", "nachtteam", "agent")], kb=base.kb)
    try:
        nina = Agent(s.port, s.tokens["nina"])
        c = Citizen(s.port)
        h = c.handoff("Meine IBAN ist " + PII["iban"], "personal_data")
        expect("niemand" in h.get("text", "") and "Nachtamt" in h["text"]
               and "Wieder geöffnet" in h["text"], "outside hours: %r" % h.get("text"))
        q = nina.wait_queue(lambda q: c.conv in ids(q), "the case")
        expect(q["items"][0]["team"] == "nachtteam", "routing %r" % q["items"][0])
        c.close()
        nina.close()
    finally:
        s.stop()


def case_restart_open_handoff(ctx):
    s = handoff_server(ctx, "ho-restart", ["--handoff-hours", "0"],
                       [("anna", "buergerservice", "agent")])
    try:
        c = Citizen(s.port)
        h = c.handoff("Wie ist der Stand meines Antrags?", "case")
        c.close()
        s.stop()
        s.start()
        anna = Agent(s.port, s.tokens["anna"])
        item = [i for i in anna.queue["items"] if i["conversation"] == c.conv]
        expect(item and item[0]["reason"] == "case" and item[0]["state"] == "queued",
               "after restart: %r" % anna.queue)
        r = Citizen(s.port, c.conv, 0)
        got = [r.ws.recv_json() for _ in range(h["seq"])]
        expect(got[-1] == h, "replayed handoff %r" % got[-1])
        r.say("Sind Sie noch da?")
        ack = r.next("message")
        expect(ack["from"] == "citizen", "bot answered during a handoff: %r" % ack)
        anna.send(type="claim", conversation=c.conv)
        anna.next("claimed")
        r.next("handoff", state="active")
        anna.send(type="close", conversation=c.conv)
        anna.next("ended")
        r.close()
        anna.close()
        out = subprocess.run([ctx["BIN"], "stats", "--db", s.db], capture_output=True,
                             text=True, check=True).stdout
        expect("case" in out and "buergerservice" in out, "stats: %r" % out)
    finally:
        s.stop()


def variants(v):
    out = {v, v.replace(" ", "")}
    return [x.encode() for x in out] + [x.encode("utf-16-le") for x in out]


def case_no_personal_data_in_db(ctx):
    """Stop every handoff server, then scan their database files."""
    found = []
    for s in ctx.get("handoff_dbs", []):
        s.stop()
        for path in (s.db, s.db + "-wal"):
            if not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            for kind, v in PII.items():
                if any(x in data for x in variants(v)):
                    found.append("%s in %s" % (kind, path))
    expect(ctx.get("handoff_dbs"), "no handoff servers ran")
    expect(not found, "personal data stored: %s" % ", ".join(found))
    for s in ctx.get("handoff_dbs", []):
        expect(not s.sanitizer_report(), "sanitizer: %s" % s.sanitizer_report())


CASES = [
    ("handoff for each reason", None, case_handoff_reasons),
    ("handoff queue order and claim conflict", None, case_queue_order_and_claim_conflict),
    ("handoff messages both ways and back to the bot", None, case_messages_and_release),
    ("handoff team visibility", None, case_team_visibility),
    ("handoff agent disconnect and re-queue", None, case_agent_disconnect_requeue),
    ("handoff unauthenticated agent sees nothing", None, case_unauthenticated_agent),
    ("handoff failed-login rate limit", None, case_auth_rate_limit),
    ("handoff nobody on duty", None, case_nobody_on_duty),
    ("handoff outside the team's hours", None, case_outside_hours),
    ("handoff survives a restart", None, case_restart_open_handoff),
    ("handoff no personal data in the database", None, case_no_personal_data_in_db),
]
