#!/usr/bin/env bash
# bench/stats_bench.sh - 'amtsbot stats' over a database of one million
# messages (125,000 conversations of four questions and four answers over
# the last 60 days, 30 intents, 10 % fallbacks, feedback, handoffs),
# generated with SQL in a few seconds.  Prints the wall time of the
# report (both periods), of 'stats unanswered' and of the purge of half.
# Goal: the report in under a second.
set -eu
cd "$(dirname "$0")/.."
BIN=${AMTSBOT_BIN:-./amtsbot}
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
db=$tmp/stats.db
[ -z "${KEEP:-}" ] || echo "db: $db"
"$BIN" agent add bench --role editor --db "$db" >/dev/null
t0=$(date +%s)
now=$(date +%s)
sqlite3 "$db" <<SQL
PRAGMA synchronous=OFF;
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 124999)
INSERT INTO conversations (num, id, channel, created, updated, last_seq, head)
SELECT i + 1, printf('%08x%024x', $now - 60 * 86400 + i * 41, i),
       CASE WHEN i % 10 = 0 THEN 'messenger' ELSE 'web' END,
       $now - 60 * 86400 + i * 41, $now - 60 * 86400 + i * 41 + 300, 8,
       i * 8 + 8
FROM c;
-- message j has id j + 1; the one before in its conversation is id j
WITH RECURSIVE m(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM m WHERE j < 999999)
INSERT INTO messages (id, prev, channel, conv, seq, role, text, intent,
                      service, confidence, payload, created, closest)
SELECT j + 1, CASE WHEN j % 8 != 0 THEN j END,
       CASE WHEN (j / 8) % 10 = 0 THEN 'messenger' END,
       j / 8 + 1, j % 8 + 1,
       CASE WHEN j % 2 = 0 THEN 'citizen' ELSE 'bot' END,
       CASE WHEN j % 2 = 0 THEN 'Wie lange dauert es, einen Antrag Nummer ' || (j % 997) || ' zu stellen?'
            ELSE 'Die Bearbeitung dauert etwa zwei Wochen. Bitte bringen Sie Ihren Ausweis mit.' END,
       CASE WHEN j % 2 = 1 AND j % 20 != 1 THEN 'intent' || (j % 30) END,
       CASE WHEN j % 2 = 1 AND j % 20 != 1 AND j % 3 = 0 THEN 'service' || (j % 17) END,
       0.8,
       CASE WHEN j % 2 = 1 THEN '{"type":"answer","seq":' || (j % 8 + 1) || ',"answer":"Die Bearbeitung dauert etwa zwei Wochen. Bitte bringen Sie Ihren Ausweis mit.","sources":[{"title":"Bürgeramt","url":"https://example.org/buergeramt"}],"quick_replies":["Termin","Kosten"]}' END,
       $now - 60 * 86400 + (j / 8) * 41 + (j % 8) * 30,
       CASE WHEN j % 20 = 1 THEN 'intent' || (j % 7) END
FROM m;
UPDATE meta SET value = 1000000 WHERE key = 'heads';
INSERT INTO feedback (conv, seq, helpful, created, msg)
SELECT c.id, m.seq, m.seq % 4 != 0, m.created, m.id
FROM messages m JOIN conversations c ON c.num = m.conv
WHERE m.role = 'bot' AND (m.conv * 8 + m.seq) % 19 = 0;
INSERT INTO handoffs (conv, channel, reason, team, state, queued_at, claimed_at)
SELECT id, channel, CASE WHEN rowid % 3 = 0 THEN 'requested' ELSE 'case' END,
       'buergerservice', 'ended', created, created + rowid % 600
FROM conversations WHERE rowid % 50 = 0;
COMMIT;
SQL
echo "generated $(sqlite3 "$db" 'SELECT count(*) FROM messages') messages in $(( $(date +%s) - t0 )) s ($(du -h "$db" | cut -f1))"
ms() {	# command...: wall milliseconds
	local s e
	s=$(date +%s%N)
	"$@" >/dev/null
	e=$(date +%s%N)
	echo $(( (e - s) / 1000000 ))
}
"$BIN" stats --db "$db" >/dev/null	# warm the page cache
ms=$(ms "$BIN" stats --db "$db" --json)
echo "stats --json, last 30 days against the 30 before (1,000,000 messages): $ms ms"
echo "stats unanswered (grouping 25,000 fallbacks):                        $(ms "$BIN" stats unanswered --db "$db") ms"
echo "purge --older-than 30 (fold half into aggregates, delete, vacuum):     $(ms "$BIN" purge --older-than 30 --db "$db") ms"
echo "stats --json after the purge (aggregates plus live rows):              $(ms "$BIN" stats --db "$db" --json) ms"
if [ "$ms" -lt 1000 ]; then echo "ok: under one second"; else echo "SLOW: over one second"; exit 1; fi
