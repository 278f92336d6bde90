"""Integration tests of the editors' statistics (issue 6): a real
'amtsbot serve', citizens on /ws asking a scripted set of questions with
feedback, a suggestion and a handoff an agent claims; then
'amtsbot stats --json' is compared figure by figure with what the
clients saw, /stats/api with editor, agent and no token, and
'amtsbot purge' must leave no text in the database files while the
figures stay.

Imported by run.py, which runs CASES with its own reporting.
"""
import json
import os
import sqlite3
import subprocess
import time

from wsclient import WS, http_get
from handoff_cases import Agent, Citizen, add_agent, expect, handoff_server, typ

# (conversation, question, feedback): feedback True/False/None
SCRIPT = [
    (0, "Was kostet ein Reisepass?", True),
    (0, "Xylofon quabbelt blubb", False),
    (0, "Wann hat das Bürgeramt geöffnet?", None),
    (1, "Zorg wibbel flomp", None),
    (1, "Xylofon quabbelt blubb!", None),
    (1, "Was kostet ein Personalausweis?", False),
    (2, "Ich habe einen Vorschlag: mehr Bänke im Stadtpark STATSMARKER", None),
    (2, "xylofon blubb quabbelt", None),
]
MARKERS = ["Xylofon", "quabbelt", "STATSMARKER", "wibbel"]


def run_cli(ctx, *args):
    out = subprocess.run([ctx["BIN"]] + list(args), capture_output=True, text=True,
                         timeout=60)
    expect(out.returncode == 0, "amtsbot %s: exit %d: %s" % (" ".join(args), out.returncode,
                                                           out.stderr[-500:]))
    return out.stdout


def stats_json(ctx, db, *extra):
    return json.loads(run_cli(ctx, "stats", "--db", db, "--json", *extra))


def st(ctx):
    """The statistics server, after the scripted conversations."""
    if "st" in ctx:
        return ctx["st"]
    s = handoff_server(ctx, "st", ["--handoff-hours", "0"],
                       [("erna", "buergerservice", "editor"),
                        ("anton", "buergerservice", "agent")])
    citizens = [Citizen(s.port) for _ in range(3)]
    seen = {"answers": [], "feedback": [], "questions": 0, "hours": {}}
    for conv, text, fb in SCRIPT:
        c = citizens[conv]
        cid = c.say(text)
        seen["questions"] += 1
        hour = time.strftime("%u-%H", time.localtime())
        seen["hours"][hour] = seen["hours"].get(hour, 0) + 1
        a = c.next("answer", reply_to=cid)
        seen["answers"].append(a)
        if fb is not None:
            c.ws.send_json({"type": "feedback", "seq": a["seq"], "helpful": fb})
            ok = c.next("ok")
            expect(ok["seq"] == a["seq"], "feedback ok: %r" % ok)
            seen["feedback"].append((a.get("intent"), fb))
    # a person: queued, then claimed by an agent a moment later
    c = citizens[1]
    c.handoff("Ich möchte mit einem Menschen sprechen", "requested")
    seen["questions"] += 1
    seen["hours"][hour] = seen["hours"].get(hour, 0) + 1
    seen["answers"].append({"intent": "mensch", "handoff_reason": "requested",
                            "service": None, "_handoff": True})
    time.sleep(1.2)
    agent = Agent(s.port, s.tokens["anton"])
    agent.send(type="claim", conversation=c.conv)
    agent.next("claimed", conversation=c.conv)
    agent.close()
    for c in citizens:
        c.close()
    s.seen = seen
    s.convs = [c.conv for c in citizens]
    ctx["st"] = s
    return s


def expected_totals(s, db):
    seen = s.seen
    answers = seen["answers"]
    con = sqlite3.connect(db)
    try:
        extra = con.execute("SELECT count(*) FROM messages WHERE role IN "
                            "('system', 'agent')").fetchone()[0]
        waits = [r[0] for r in con.execute(
            "SELECT claimed_at - queued_at FROM handoffs WHERE claimed_at IS NOT NULL")]
        # the answer frame of the handoff is not what the citizen's 'next' saw
        ho_intent = con.execute("SELECT intent FROM messages WHERE role = 'bot' AND "
                                "handoff_reason = 'requested'").fetchone()[0]
    finally:
        con.close()
    answers[-1]["intent"] = ho_intent
    fallbacks = sum(1 for a in answers if not a.get("intent") and not a.get("handoff_reason"))
    return {
        "conversations": 3,
        "questions": seen["questions"],
        "answers": len(answers),
        "messages": seen["questions"] + len(answers) + extra,
        "answered": sum(1 for a in answers if a.get("intent")),
        "fallbacks": fallbacks,
        "suggestions": 1,
        "handoffs": 1,
        "helpful": sum(1 for _, h in seen["feedback"] if h),
        "unhelpful": sum(1 for _, h in seen["feedback"] if not h),
        "wait_median_s": waits[0],
        "wait_p90_s": waits[0],
    }


def count_by(answers, field):
    out = {}
    for a in answers:
        if a.get(field):
            out[a[field]] = out.get(a[field], 0) + 1
    return out


def case_stats_figures(ctx):
    s = st(ctx)
    r = stats_json(ctx, s.db)
    exp = expected_totals(s, s.db)
    expect(exp["fallbacks"] == 4, "the script has four fallbacks, saw %d" % exp["fallbacks"])
    for k, v in exp.items():
        got = r["totals"].get(k)
        expect(got == {"now": v, "before": 0 if not k.startswith("wait_") else None},
               "%s: %r, expected now=%r" % (k, got, v))
    expect(exp["wait_median_s"] >= 1, "waiting time %r" % exp["wait_median_s"])
    share = r["answered_share"]
    expect(abs(share["now"] - exp["answered"] / exp["answers"]) < 1e-3 and share["before"] is None,
           "answered share %r" % share)
    answers = s.seen["answers"]
    g = r["groups"]
    for field, group in (("intent", "intent"), ("service", "service")):
        want = {k: {"now": n, "before": None} for k, n in count_by(answers, field).items()}
        expect(g.get(group, {}) == want, "%s: %r, expected %r" % (group, g.get(group), want))
    expect(g["channel"] == {"web": {"now": len(answers), "before": None}}, "channel %r" % g["channel"])
    expect(g["handoff"] == {"requested": {"now": 1, "before": None}}, "handoff %r" % g["handoff"])
    want = {k: {"now": n, "before": None} for k, n in s.seen["hours"].items()}
    expect(g["hour"] == want, "hours %r, expected %r" % (g["hour"], want))
    for helpful, group in ((True, "helpful"), (False, "unhelpful")):
        want = {}
        for intent, h in s.seen["feedback"]:
            if h == helpful:
                key = intent or "-"
                want[key] = {"now": want.get(key, {"now": 0})["now"] + 1, "before": None}
        expect(g.get(group, {}) == want, "%s %r, expected %r" % (group, g.get(group), want))
    expect(r["period"]["until"] == time.strftime("%Y-%m-%d"), "period %r" % r["period"])


def case_stats_previous_period(ctx):
    s = st(ctx)
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
    r = stats_json(ctx, s.db, "--since", tomorrow, "--until", tomorrow)
    expect(r["previous"]["since"] == r["previous"]["until"] == time.strftime("%Y-%m-%d"),
           "previous %r" % r["previous"])
    expect(r["totals"]["conversations"] == {"now": 0, "before": 3}, "%r" % r["totals"]["conversations"])
    expect(r["totals"]["fallbacks"] == {"now": 0, "before": 4}, "%r" % r["totals"]["fallbacks"])
    csv = subprocess.run([ctx["BIN"], "stats", "--db", s.db, "--csv"], capture_output=True,
                         check=True, timeout=60).stdout
    expect(csv.startswith(b"group,key,now,before\r\n") and b"total,fallbacks,4,0\r\n" in csv,
           "csv: %r" % csv[:300])


def case_stats_unanswered(ctx):
    s = st(ctx)
    r = stats_json(ctx, s.db)
    un = r["unanswered"] if "unanswered" in r else None
    expect(un is None, "the figures alone carry no question texts")
    out = run_cli(ctx, "stats", "unanswered", "--db", s.db, "--kb", s.kb)
    lines = [l for l in out.splitlines()[1:] if l.strip()]
    expect(len(lines) == 2, "two groups expected:\n" + out)
    first = lines[0].split(None, 3)
    expect(first[0] == "3" and first[1] == "3" and "ylofon" in first[3],
           "near-duplicates grouped, most frequent first:\n" + out)
    expect(lines[1].split(None, 3)[0] == "1" and "Zorg" in lines[1], out)
    sugg = run_cli(ctx, "stats", "suggestions", "--db", s.db)
    expect("STATSMARKER" in sugg and "web" in sugg and time.strftime("%Y-%m-%d") in sugg, sugg)
    y = run_cli(ctx, "suggest", "--db", s.db, "--kb", s.kb)
    expect("tests:\n" in y and '- q: "Xylofon quabbelt blubb"' in y and "3× gefragt" in y, y)


def case_stats_http_auth(ctx):
    s = st(ctx)
    st_, _, _ = http_get(s.port, "/stats/api/report")
    expect(st_ == 401, "no token: %d" % st_)
    st_, _, _ = http_get(s.port, "/stats/api/report", {"Authorization": "Bearer " + "0" * 64})
    expect(st_ == 401, "unknown token: %d" % st_)
    st_, _, body = http_get(s.port, "/stats/api/report",
                            {"Authorization": "Bearer " + s.tokens["anton"]})
    expect(st_ == 403 and json.loads(body)["error"] == "forbidden", "agent: %d %r" % (st_, body))
    auth = {"Authorization": "Bearer " + s.tokens["erna"]}
    st_, hdrs, body = http_get(s.port, "/stats/api/report", auth)
    expect(st_ == 200 and hdrs.get("content-type", "").startswith("application/json"),
           "editor: %d %r" % (st_, hdrs))
    r = json.loads(body)
    cli = stats_json(ctx, s.db)
    expect(r["totals"] == cli["totals"] and r["groups"] == cli["groups"],
           "the API and the CLI disagree")
    expect([u["count"] for u in r["unanswered"]] == [3, 1], "unanswered %r" % r["unanswered"])
    expect(len(r["suggestions"]) == 1 and "STATSMARKER" in r["suggestions"][0]["text"],
           "suggestions %r" % r["suggestions"])
    expect(isinstance(r["stale"], list), "stale %r" % r.get("stale"))
    st_, hdrs, body = http_get(s.port, "/stats/api/export.csv?since=2020-01-01", auth)
    expect(st_ == 200 and hdrs.get("content-type", "").startswith("text/csv")
           and body.startswith(b"group,key,now,before"), "csv: %d %r" % (st_, body[:80]))
    st_, _, body = http_get(s.port, "/stats/api/report?since=gestern", auth)
    expect(st_ == 400 and b"bad date" in body, "bad date: %d %r" % (st_, body))
    st_, _, _ = http_get(s.port, "/stats/api/nope", auth)
    expect(st_ == 404, "unknown path: %d" % st_)
    st_, hdrs, _ = http_get(s.port, "/stats")
    expect(st_ in (200, 301), "/stats: %d" % st_)
    st_, _, body = http_get(s.port, "/stats/")
    expect(st_ == 200 and b"st-login" in body, "/stats/ page: %d" % st_)


def case_stats_http_limit(ctx):
    """Failed tokens on /stats/api lock the address, there and on /agent/ws."""
    s = handoff_server(ctx, "st-limit", ["--handoff-hours", "0", "--agent-auth-failures", "3"],
                       [("erna", "buergerservice", "editor"),
                        ("anton", "buergerservice", "agent")])
    editor = {"Authorization": "Bearer " + s.tokens["erna"]}
    try:
        for _ in range(4):  # neither a valid agent token nor no token at all counts
            st_, _, _ = http_get(s.port, "/stats/api/report",
                                 {"Authorization": "Bearer " + s.tokens["anton"]})
            expect(st_ == 403, "agent token: %d" % st_)
            st_, _, _ = http_get(s.port, "/stats/api/report")
            expect(st_ == 401, "no token: %d" % st_)
        st_, _, _ = http_get(s.port, "/stats/api/report", editor)
        expect(st_ == 200, "editor before the failures: %d" % st_)
        for i in range(3):
            st_, _, body = http_get(s.port, "/stats/api/export.csv",
                                    {"Authorization": "Bearer " + "%064d" % i})
            expect(st_ == 401 and json.loads(body)["error"] == "auth_required",
                   "bad token %d: %d %r" % (i, st_, body))
        for path in ("/stats/api/report", "/stats/api/export.csv"):
            st_, hdrs, body = http_get(s.port, path, editor)
            expect(st_ == 429 and hdrs.get("content-type", "").startswith("application/json"),
                   "%s with the editor token while locked: %d %r" % (path, st_, body))
            expect(json.loads(body) == {"error": "too_many_attempts", "message":
                                        "Zu viele fehlgeschlagene Anmeldungen. "
                                        "Bitte warten Sie eine Minute."}, "body %r" % body)
        ws = WS(s.port, path="/agent/ws")  # one limit for both logins
        try:
            ws.send_json({"type": "auth", "token": s.tokens["anton"]})
            e = ws.recv_json()
            expect(e.get("code") == "too_many_attempts", "agent login: %r" % e)
        finally:
            ws.close()
        log = s.log_text()
        expect("failed stats login from '127.0.0.1'" in log and
               "stats login from '127.0.0.1' refused" in log, "log: " + log[-1500:])
    finally:
        s.stop()


def file_has(path, marker):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    return marker.encode() in data


def case_stats_purge(ctx):
    s = st(ctx)
    before = stats_json(ctx, s.db)
    s.stop()
    expect(any(file_has(s.db, m) or file_has(s.db + "-wal", m) for m in MARKERS),
           "the markers should be in the files before the purge")
    out = run_cli(ctx, "purge", "--older-than", "0", "--db", s.db)
    expect("Deleted 3 conversation" in out, out)
    for m in MARKERS:
        for f in (s.db, s.db + "-wal"):
            expect(not file_has(f, m), "%r still in %s" % (m, os.path.basename(f)))
    after = stats_json(ctx, s.db)
    expect(after["totals"] == before["totals"] and after["groups"] == before["groups"],
           "figures changed by the purge:\n%r\n%r" % (before["totals"], after["totals"]))
    con = sqlite3.connect(s.db)
    try:
        n = con.execute("SELECT count(*) FROM messages").fetchone()[0]
        keys = [r[0] for r in con.execute("SELECT key FROM stats_daily")]
    finally:
        con.close()
    expect(n == 0, "%d messages left" % n)
    expect("fallbacks" in keys and not any("ylofon" in k for k in keys), "aggregates %r" % keys)
    out = run_cli(ctx, "stats", "unanswered", "--db", s.db)
    expect("no unanswered questions" in out, "texts are gone, so is the list: " + out)


CASES = [
    ("stats: every figure of a scripted day", None, case_stats_figures),
    ("stats: previous period and CSV", None, case_stats_previous_period),
    ("stats: unanswered questions grouped, suggestions, suggest", None, case_stats_unanswered),
    ("stats: /stats/api for editors only", None, case_stats_http_auth),
    ("stats: failed /stats/api logins lock the address", None, case_stats_http_limit),
    ("stats: purge removes text, keeps figures", None, case_stats_purge),
]
