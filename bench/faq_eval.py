#!/usr/bin/env python3
"""FAQ measurement: amtsbot and NLP.js side by side on real German data.

Builds an FAQ from the 109 distinct official questions of deepset COVID-QA
(../shared/data), imports it with 'amtsbot import-faq', asks every citizen
paraphrase (must find the right entry) and every HWU64 assistant command
(must find none), and runs NLP.js (@nlpjs/basic + @nlpjs/lang-de, trained
on the same questions) on the same sets.  Prints accuracies and throughputs.
"""
import csv, json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("AMTSBOT_DATA", os.path.join(ROOT, "..", "shared", "data"))
BIN = os.environ.get("AMTSBOT_BIN", os.path.join(ROOT, "amtsbot"))


def load():
    faq, para = {}, []
    with open(os.path.join(DATA, "covidqa-question-similarity-de.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["similar"] != "1":
                continue
            q1 = row["question_1"].strip()
            if q1 not in faq:
                faq[q1] = "faq-%03d" % (len(faq) + 1)
            para.append((row["question_2"].strip(), faq[q1]))
    oos = []
    with open(os.path.join(DATA, "hwu64-de-sentences.csv"), newline="") as f:
        for row in csv.DictReader(f):
            s = row["sentence1"].strip()
            if s:
                oos.append(s)
    return faq, para, oos


def amtsbot(faq, para, oos, tmp):
    src = os.path.join(tmp, "faq.csv")
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "question", "answer"])
        for q, i in faq.items():
            w.writerow([i, q, q])
    kb = os.path.join(tmp, "kb")
    subprocess.run([BIN, "import-faq", src, "--out", kb], check=True,
                   stdout=subprocess.DEVNULL)
    qs = [p for p, _ in para] + oos
    t0 = time.perf_counter()
    out = subprocess.run([BIN, "ask", "--kb", kb, "--json"], input="\n".join(qs) + "\n",
                         capture_output=True, text=True, check=True).stdout
    dt = time.perf_counter() - t0
    res = [json.loads(l)["intent"] for l in out.splitlines()]
    assert len(res) == len(qs), (len(res), len(qs))
    right = sum(1 for (p, want), got in zip(para, res) if got == want)
    refused = sum(1 for got in res[len(para):] if got is None)
    answered = sum(1 for got in res[:len(para)] if got is not None)
    return right, refused, answered, len(qs) / dt


def nlpjs(faq, para, oos, tmp):
    d = os.path.join(ROOT, "bench", "nlpjs")
    if not os.path.isdir(os.path.join(d, "node_modules", "@nlpjs")):
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=d)
        if r.returncode:
            return None
    inp = os.path.join(tmp, "nlpjs.json")
    with open(inp, "w") as f:
        json.dump({"faq": [[i, q] for q, i in faq.items()],
                   "para": [p for p, _ in para], "oos": oos}, f)
    out = subprocess.run(["node", os.path.join(d, "faq.js"), inp], capture_output=True,
                         text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    right = sum(1 for (p, want), got in zip(para, r["para"]) if got == want)
    refused = sum(1 for got in r["oos"] if got is None)
    answered = sum(1 for got in r["para"] if got is not None)
    return right, refused, answered, r["per_s"]


def main():
    faq, para, oos = load()
    print("FAQ: %d entries, %d paraphrases, %d out-of-scope sentences" % (len(faq), len(para), len(oos)))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("amtsbot", amtsbot(faq, para, oos, tmp)), ("NLP.js 4", nlpjs(faq, para, oos, tmp))]
    print("%-10s %12s %12s %12s %14s" % ("engine", "paraphrases", "answered", "refused OOS", "questions/s"))
    for name, r in rows:
        if r is None:
            print("%-10s (not available: npm install failed)" % name)
            continue
        right, refused, answered, per_s = r
        print("%-10s %11.1f%% %11.1f%% %11.1f%% %14.0f" % (
            name, 100.0 * right / len(para), 100.0 * answered / len(para),
            100.0 * refused / len(oos), per_s))


if __name__ == "__main__":
    main()
