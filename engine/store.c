/*
 * store.c - the SQLite database behind store.h: pragmas for a server
 * process, schema migrations keyed on PRAGMA user_version, and one
 * prepared statement per query, prepared in store_open() and reused.
 */
#include "bot.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "store_int.h"
#include "strbuf.h"
#include "banned.h"

/*
 * Schema migrations: entry i takes the database from user_version i to
 * i + 1.  Append new entries; never edit one that has shipped.
 * page_size and auto_vacuum are set before migration 1 creates the
 * first table (neither can be changed later without a full VACUUM).
 * 4 KiB: since answers are stored once, a message adds ~1 scattered
 * index page per commit and few row bytes; against 8 KiB pages that
 * measured p99 28-31 ms instead of 80-88 ms at 11,500-12,100 answers/s,
 * for ~5% less throughput (23,000 instead of 24,200/s closed loop).
 */
static const char *const store_migrations[] = {
	/* 1: conversations, messages, feedback, suggestions */
	"CREATE TABLE conversations ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  channel TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  last_seq INTEGER NOT NULL DEFAULT 0,"
	"  state BLOB);"
	"CREATE INDEX conversations_updated ON conversations(updated);"
	/*
	 * No foreign key from messages to conversations: checking it cost a
	 * seek into conversations per stored message (measured ~6% more
	 * answers per second without).  Messages are stored only through
	 * store.c after the conversation was looked up (store_seq_get()),
	 * and the trigger below does what ON DELETE CASCADE did.
	 */
	"CREATE TABLE messages ("
	"  conv TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"
	/* not IN (...): SQLite builds a temporary b-tree for the list at
	 * every insert, measured 10% of the server's time under load */
	"  role TEXT NOT NULL CHECK (role = 'citizen' OR role = 'bot'"
	"    OR role = 'agent' OR role = 'system'),"
	"  client_id TEXT, text TEXT, intent TEXT, service TEXT, office TEXT,"
	"  confidence REAL, handoff_reason TEXT, payload TEXT, state BLOB,"
	"  created INTEGER NOT NULL,"
	"  answer INTEGER,"	/* answers.id; then payload is the reply_to */
	"  PRIMARY KEY (conv, seq));"
	/*
	 * Each answer's text and frame (without seq and reply_to) once: the
	 * same intent gives the same ~1.5 KB, and storing it with every
	 * message was most of the bytes written per message.
	 */
	"CREATE TABLE answers ("
	"  id INTEGER PRIMARY KEY,"
	"  hash INTEGER NOT NULL UNIQUE,"
	"  text TEXT,"
	"  body TEXT NOT NULL);"
	"CREATE INDEX messages_created ON messages(created);"
	"CREATE TRIGGER conversations_delete AFTER DELETE ON conversations"
	"  BEGIN DELETE FROM messages WHERE conv = old.id; END;"
	"CREATE TABLE feedback ("
	"  conv TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  helpful INTEGER NOT NULL, created INTEGER NOT NULL,"
	"  PRIMARY KEY (conv, seq),"
	"  FOREIGN KEY (conv, seq) REFERENCES messages(conv, seq)"
	"    ON DELETE CASCADE);"
	"CREATE TABLE suggestions ("
	"  id INTEGER PRIMARY KEY,"
	"  conv TEXT, channel TEXT, text TEXT NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX suggestions_created ON suggestions(created);",
	/*
	 * 2: agents (only the SHA-256 of their token), handoffs (one row per
	 * handoff, for the queue after a restart and for statistics; the
	 * citizen's contact AES-256-GCM encrypted), agents' internal notes
	 */
	"CREATE TABLE agents ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  team TEXT NOT NULL,"
	"  role TEXT NOT NULL CHECK (role IN ('agent', 'editor')),"
	"  token_hash TEXT NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE handoffs ("
	"  id INTEGER PRIMARY KEY,"
	"  conv TEXT NOT NULL,"
	"  channel TEXT NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  team TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('queued', 'active', 'ended')),"
	"  agent TEXT,"
	"  queued_at INTEGER NOT NULL,"
	"  claimed_at INTEGER,"
	"  ended_at INTEGER,"
	"  outcome TEXT CHECK (outcome IS NULL OR outcome IN"
	"    ('released', 'closed', 'abandoned', 'timeout')),"
	"  requeued INTEGER NOT NULL DEFAULT 0,"
	"  contact BLOB);"
	"CREATE INDEX handoffs_open ON handoffs(state) WHERE state != 'ended';"
	"CREATE INDEX handoffs_conv ON handoffs(conv);"
	"CREATE TABLE notes ("
	"  id INTEGER PRIMARY KEY,"
	"  conv TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
	"  agent TEXT NOT NULL,"
	"  text TEXT NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX notes_conv ON notes(conv);",
	/* 3: Messenger inbox and outbox (store_msgr.c) */
	store_migration_messenger,
	/* 4: statistics (store_stats.c) */
	store_migration_stats,
	/*
	 * 5: messages keyed by an integer conversation number.  With the
	 * 32-digit text id in every message, the (conv, seq) index was a
	 * second b-tree of 46-byte keys written at a scattered page for every
	 * message; now the messages themselves are that b-tree (WITHOUT
	 * ROWID, 5-byte keys): one b-tree fewer per message.  Feedback loses
	 * its foreign key (dropping the old table would cascade into it); the
	 * trigger deletes it with its conversation instead.
	 */
	"ALTER TABLE conversations ADD COLUMN num INTEGER;"
	"UPDATE conversations SET num = rowid;"
	"CREATE UNIQUE INDEX conversations_num ON conversations(num);"
	"CREATE TABLE feedback5 ("
	"  conv TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  helpful INTEGER NOT NULL, created INTEGER NOT NULL,"
	"  PRIMARY KEY (conv, seq));"
	"INSERT INTO feedback5 SELECT conv, seq, helpful, created FROM feedback;"
	"DROP TABLE feedback;"
	"ALTER TABLE feedback5 RENAME TO feedback;"
	"CREATE TABLE messages5 ("
	"  conv INTEGER NOT NULL,"	/* conversations.num */
	"  seq INTEGER NOT NULL,"
	"  role TEXT NOT NULL CHECK (role = 'citizen' OR role = 'bot'"
	"    OR role = 'agent' OR role = 'system'),"
	"  client_id TEXT, text TEXT, intent TEXT, service TEXT, office TEXT,"
	"  confidence REAL, handoff_reason TEXT, payload TEXT, state BLOB,"
	"  created INTEGER NOT NULL,"
	"  answer INTEGER,"	/* answers.id; then payload is the reply_to */
	"  netiquette TEXT, closest TEXT,"
	"  ord INTEGER,"	/* order of writing within a second */
	"  PRIMARY KEY (conv, seq)) WITHOUT ROWID;"
	"INSERT INTO messages5 SELECT c.num, m.seq, m.role, m.client_id,"
	"  m.text, m.intent, m.service, m.office, m.confidence,"
	"  m.handoff_reason, m.payload, m.state, m.created, m.answer,"
	"  m.netiquette, m.closest, m.rowid"
	"  FROM messages m JOIN conversations c ON c.id = m.conv;"
	"DROP TRIGGER conversations_delete;"
	"DROP TABLE messages;"
	"ALTER TABLE messages5 RENAME TO messages;"
	/*
	 * The statistics' covering index, now in the order of writing: keyed
	 * (created, role, intent, ...), the messages of one second went to
	 * scattered places (one per intent and conversation), a page
	 * written for almost every message; (created, ord) appends.
	 */
	"CREATE INDEX messages_created ON messages(created, ord, role, intent,"
	"  service, netiquette, handoff_reason);"
	"CREATE TRIGGER conversations_delete AFTER DELETE ON conversations"
	"  BEGIN DELETE FROM messages WHERE conv = old.num;"
	"  DELETE FROM feedback WHERE conv = old.id; END;",
	/*
	 * 6: messages in the order of writing.  Keyed (conv, seq), every
	 * exchange wrote a page of its own conversation: with thousands of
	 * conversations at once, one scattered 4 KiB page per exchange and
	 * commit, written again by the checkpoint (about a third of the
	 * server's time under load).  Now a commit appends; a conversation
	 * is a chain from its newest message ('head', kept in memory and
	 * saved a few per commit, see store_heads_flush) back along 'prev'.
	 * meta 'heads': every message up to this id is reachable from its
	 * conversation's saved head; the ones after it are linked up on
	 * open (store_heads_repair).  Messages and feedback age on their
	 * own (their 'created'); feedback names its message ('msg').
	 * channel: the conversation's, NULL for the web (the statistics
	 * count by channel without a join).
	 */
	"CREATE TABLE messages6 ("
	"  id INTEGER PRIMARY KEY,"
	"  conv INTEGER NOT NULL,"	/* conversations.num */
	"  seq INTEGER NOT NULL,"
	"  prev INTEGER,"	/* the conversation's message before */
	"  role TEXT NOT NULL CHECK (role = 'citizen' OR role = 'bot'"
	"    OR role = 'agent' OR role = 'system'),"
	"  client_id TEXT, text TEXT, intent TEXT, service TEXT, office TEXT,"
	"  confidence REAL, handoff_reason TEXT, payload TEXT, state BLOB,"
	"  created INTEGER NOT NULL,"
	"  answer INTEGER,"	/* answers.id; then payload is the reply_to */
	"  netiquette TEXT, closest TEXT, channel TEXT);"
	"INSERT INTO messages6 (conv, seq, role, client_id, text, intent,"
	"  service, office, confidence, handoff_reason, payload, state,"
	"  created, answer, netiquette, closest, channel)"
	"  SELECT m.conv, m.seq, m.role, m.client_id, m.text, m.intent,"
	"  m.service, m.office, m.confidence, m.handoff_reason, m.payload,"
	"  m.state, m.created, m.answer, m.netiquette, m.closest,"
	"  nullif(c.channel, 'web')"
	"  FROM messages m LEFT JOIN conversations c ON c.num = m.conv"
	"  ORDER BY m.created, m.ord, m.conv, m.seq;"
	"CREATE INDEX messages6_chain ON messages6(conv, seq);"
	"UPDATE messages6 SET prev = (SELECT p.id FROM messages6 p"
	"  WHERE p.conv = messages6.conv AND p.seq < messages6.seq"
	"  ORDER BY p.seq DESC LIMIT 1);"
	"ALTER TABLE conversations ADD COLUMN head INTEGER;"
	"UPDATE conversations SET head = (SELECT id FROM messages6"
	"  WHERE conv = conversations.num ORDER BY seq DESC LIMIT 1);"
	"ALTER TABLE feedback ADD COLUMN msg INTEGER;"
	"UPDATE feedback SET msg = (SELECT m.id FROM messages6 m"
	"  JOIN conversations c ON c.num = m.conv"
	"  WHERE c.id = feedback.conv AND m.seq = feedback.seq);"
	"DROP INDEX messages6_chain;"
	"DROP TRIGGER conversations_delete;"
	"DROP TABLE messages;"
	"ALTER TABLE messages6 RENAME TO messages;"
	"CREATE INDEX messages_created ON messages(created, id, role, intent,"
	"  service, netiquette, handoff_reason, channel);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL,"
	"  value INTEGER NOT NULL);"
	"INSERT INTO meta (key, value) VALUES ('heads',"
	"  coalesce((SELECT max(id) FROM messages), 0));",
};

#define STORE_SCHEMA_VERSION ((int)BOT_ARRAY_SIZE(store_migrations))

/*
 * Per connection settings.  secure_delete overwrites deleted rows so a
 * purge leaves no transcript text in free pages (GDPR erasure).  A 32 MiB
 * page cache and a checkpoint every 4000 pages (16 MiB of WAL) instead of
 * 1000 cut the bytes written per message by a third and the fsyncs by
 * four (measured: ~35% more messages per CPU second), at the price of a
 * checkpoint stall of some 60 ms every few seconds under full load.
 * journal_size_limit keeps the WAL from staying large after a burst.
 */
static const char store_pragmas[] =
	"PRAGMA synchronous=NORMAL;"
	"PRAGMA foreign_keys=ON;"
	"PRAGMA temp_store=MEMORY;"
	"PRAGMA secure_delete=ON;"
	"PRAGMA cache_size=-32768;"
	"PRAGMA wal_autocheckpoint=4000;"
	"PRAGMA journal_size_limit=67108864;";

enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_CONV_NEW,
	ST_CONV_GET,
	ST_CONV_SET_STATE,
	ST_CONV_GET_STATE,
	ST_CONV_TOUCH,
	ST_CONV_STATE_MSG,
	ST_MSG_RECENT_IDS,
	ST_MSG_ADD,
	ST_MSG_NEXT,
	ST_MSG_AFTER,
	ST_MSG_ROLE,
	ST_FEEDBACK,
	ST_SUGGESTION,
	ST_PURGE_CONV,
	ST_PURGE_SUGG,
	ST_VACUUM,
	ST_CHECKPOINT,
	ST_COUNT_CONV,
	ST_COUNT_MSG,
	ST_COUNT_FEEDBACK,
	ST_COUNT_SUGG,
	ST_COUNT_AGENTS,
	ST_COUNT_HANDOFFS,
	ST_COUNT_NOTES,
	ST_AGENT_ADD,
	ST_AGENT_DEL,
	ST_AGENT_ALL,
	ST_HANDOFF_ADD,
	ST_HANDOFF_UPDATE,
	ST_HANDOFF_CONTACT,
	ST_HANDOFF_OPEN,
	ST_HANDOFF_ALL,
	ST_NOTE_ADD,
	ST_PURGE_HANDOFF,
	ST_ANSWER_GET,
	ST_ANSWER_ADD,
	ST_PURGE_ANSWERS,
	ST_PURGE_FEEDBACK,
	ST_PURGE_MSGS,
	ST_HEAD_SAVE,
	ST_HEADS_GET,
	ST_HEADS_SET,
	ST_HEADS_REPAIR,
	ST_MAX_ID,
	ST_NUM
};

_Static_assert(ST_NUM <= STORE_OWN_STMTS, "struct store has no room for ST_NUM statements");

static const char *const store_sql[ST_NUM] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_CONV_NEW] = "INSERT INTO conversations (id, channel, created,"
		" updated, last_seq, num) VALUES (?1, ?2, ?3, ?3, 0,"
		" (SELECT coalesce(max(num), 0) + 1 FROM conversations))"
		" RETURNING num",
	[ST_CONV_GET] = "SELECT c.num, max(c.last_seq, coalesce(m.seq, 0)),"
		" coalesce(c.head, 0), c.channel FROM conversations c"
		" LEFT JOIN messages m ON m.id = c.head WHERE c.id = ?1",
	[ST_CONV_SET_STATE] = "UPDATE conversations SET state = ?2"
		" WHERE id = ?1",
	/* the state travels with the newest message that has one */
	[ST_CONV_GET_STATE] = STORE_CHAIN_STATE "SELECT coalesce((SELECT"
		" m.state FROM chain JOIN messages m ON m.id = chain.id"
		" WHERE m.state IS NOT NULL), (SELECT state FROM conversations"
		" WHERE num = ?2))",
	[ST_CONV_STATE_MSG] = STORE_CHAIN_STATE "UPDATE messages SET state = ?2"
		" WHERE id = (SELECT m.id FROM chain JOIN messages m"
		" ON m.id = chain.id WHERE m.state IS NOT NULL)",
	[ST_CONV_TOUCH] = "UPDATE conversations SET last_seq = ?2, updated = ?3"
		" WHERE id = ?1",
	/* the last STORE_RECENT_IDS client ids of the last 64 messages */
	[ST_MSG_RECENT_IDS] = "WITH RECURSIVE chain(id, n) AS (SELECT ?1, 0"
		" UNION ALL SELECT m.prev, chain.n + 1 FROM messages m"
		" JOIN chain ON m.id = chain.id WHERE chain.n < 64)"
		" SELECT m.seq, m.client_id FROM chain JOIN messages m"
		" ON m.id = chain.id WHERE m.client_id IS NOT NULL"
		" ORDER BY m.seq DESC LIMIT 16",
	[ST_MSG_ADD] = "INSERT INTO messages (conv, seq, role, client_id,"
		" text, intent, service, office, confidence, handoff_reason,"
		" payload, created, state, netiquette, closest, answer, prev,"
		" channel, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
		" ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
	[ST_MSG_NEXT] = STORE_CHAIN_AFTER "SELECT m.seq, m.role = 'citizen'"
		" FROM chain JOIN messages m ON m.id = chain.id"
		" WHERE m.seq > ?2 ORDER BY m.seq LIMIT 1",
	[ST_MSG_AFTER] = STORE_CHAIN_AFTER "SELECT m.seq, m.role, m.client_id,"
		" coalesce(a.text, m.text), m.intent, m.service, m.office,"
		" m.confidence, m.handoff_reason, m.payload, m.created, a.body"
		" FROM chain JOIN messages m ON m.id = chain.id"
		" LEFT JOIN answers a ON a.id = m.answer"
		" WHERE m.seq > ?2 ORDER BY m.seq",
	[ST_MSG_ROLE] = STORE_CHAIN_AFTER "SELECT m.role, m.id FROM chain"
		" JOIN messages m ON m.id = chain.id WHERE m.seq = ?2",
	[ST_FEEDBACK] = "INSERT INTO feedback (conv, seq, helpful, created,"
		" msg) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (conv, seq)"
		" DO UPDATE SET helpful = excluded.helpful,"
		" created = excluded.created",
	[ST_SUGGESTION] = "INSERT INTO suggestions (conv, channel, text,"
		" created) VALUES (?1, ?2, ?3, ?4)",
	[ST_PURGE_CONV] = STORE_SQL_DEL_CONVS,
	[ST_PURGE_SUGG] = STORE_SQL_DEL_SUGG,
	[ST_VACUUM] = "PRAGMA incremental_vacuum",
	[ST_CHECKPOINT] = "PRAGMA wal_checkpoint(TRUNCATE)",
	[ST_COUNT_CONV] = "SELECT count(*) FROM conversations",
	[ST_COUNT_MSG] = "SELECT count(*) FROM messages",
	[ST_COUNT_FEEDBACK] = "SELECT count(*) FROM feedback",
	[ST_COUNT_SUGG] = "SELECT count(*) FROM suggestions",
	[ST_COUNT_AGENTS] = "SELECT count(*) FROM agents",
	[ST_COUNT_HANDOFFS] = "SELECT count(*) FROM handoffs",
	[ST_COUNT_NOTES] = "SELECT count(*) FROM notes",
	[ST_AGENT_ADD] = "INSERT INTO agents (name, team, role, token_hash,"
		" created) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_AGENT_DEL] = "DELETE FROM agents WHERE name = ?1",
	[ST_AGENT_ALL] = "SELECT name, team, role, token_hash, created"
		" FROM agents ORDER BY name",
	[ST_HANDOFF_ADD] = "INSERT INTO handoffs (conv, channel, reason, team,"
		" state, agent, queued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_HANDOFF_UPDATE] = "UPDATE handoffs SET state = ?2, agent = ?3,"
		" claimed_at = ?4, ended_at = ?5, outcome = ?6, requeued = ?7"
		" WHERE id = ?1",
	[ST_HANDOFF_CONTACT] = "UPDATE handoffs SET contact = ?2 WHERE id = ?1",
	[ST_HANDOFF_OPEN] = "SELECT id, conv, channel, reason, team, state,"
		" agent, queued_at, claimed_at, ended_at, outcome, requeued,"
		" contact FROM handoffs WHERE state != 'ended' ORDER BY id",
	[ST_HANDOFF_ALL] = "SELECT id, conv, channel, reason, team, state,"
		" agent, queued_at, claimed_at, ended_at, outcome, requeued,"
		" NULL FROM handoffs ORDER BY id",
	[ST_NOTE_ADD] = "INSERT INTO notes (conv, agent, text, created)"
		" VALUES (?1, ?2, ?3, ?4)",
	/* contacts are personal data: gone with their conversation */
	[ST_PURGE_HANDOFF] = "UPDATE handoffs SET contact = NULL"
		" WHERE contact IS NOT NULL AND state = 'ended'"
		" AND conv NOT IN (SELECT id FROM conversations)",
	[ST_ANSWER_GET] = "SELECT id, text, body FROM answers WHERE hash = ?1",
	[ST_ANSWER_ADD] = "INSERT INTO answers (hash, text, body)"
		" VALUES (?1, ?2, ?3)",
	/* an answer may quote the citizen: gone with the last message */
	[ST_PURGE_ANSWERS] = "DELETE FROM answers WHERE id NOT IN"
		" (SELECT answer FROM messages WHERE answer IS NOT NULL)",
	[ST_PURGE_FEEDBACK] = STORE_SQL_DEL_FEEDBACK,
	[ST_PURGE_MSGS] = STORE_SQL_DEL_MSGS,
	[ST_HEAD_SAVE] = "UPDATE conversations SET head = ?2 WHERE num = ?1",
	[ST_HEADS_GET] = "SELECT value FROM meta WHERE key = 'heads'",
	[ST_HEADS_SET] = "UPDATE meta SET value = ?1 WHERE key = 'heads'",
	[ST_HEADS_REPAIR] = "UPDATE conversations SET head = t.h FROM"
		" (SELECT conv, max(id) AS h FROM messages WHERE id > ?1"
		" GROUP BY conv) AS t WHERE conversations.num = t.conv",
	[ST_MAX_ID] = "SELECT coalesce(max(id), 0) FROM messages",
};


/* ---- helpers ------------------------------------------------------------ */

/* Make a statement reusable and drop its bindings (so no pointer into a
 * caller's string outlives the call). */
void store_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int store_dberr(struct store *s, struct bot_err *err, const char *what,
		       const char *subject)
{
	if (subject)
		return bot_fail(err, BOT_EDB, "%s '%s': %s", what, subject,
				sqlite3_errmsg(s->db));
	return bot_fail(err, BOT_EDB, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* For messages about a subject that may be NULL. */
const char *store_nz(const char *s)
{
	return s ? s : "";
}

int store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (!v)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* Step a statement that returns no rows (or whose rows do not matter). */
int store_run(sqlite3_stmt *st)
{
	int rc;

	do
		rc = sqlite3_step(st);
	while (rc == SQLITE_ROW);
	store_done(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- opening, schema ------------------------------------------------------ */

static int store_get_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int store_set_wal(struct store *s, const char *path,
			 struct bot_err *err)
{
	sqlite3_stmt *st;
	const unsigned char *mode;
	int ok;

	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st,
			       NULL) != SQLITE_OK)
		return store_dberr(s, err, "cannot open database", path);
	if (sqlite3_step(st) != SQLITE_ROW) {
		store_dberr(s, err, "cannot open database", path);
		sqlite3_finalize(st);
		return BOT_EDB;
	}
	mode = sqlite3_column_text(st, 0);
	ok = mode && !strcmp((const char *)mode, "wal");
	sqlite3_finalize(st);
	if (!ok)
		return bot_fail(err, BOT_EDB,
				"cannot use WAL journal for database '%s'",
				path);
	return BOT_OK;
}

static int store_migrate_one(struct store *s, const char *path, int to,
			     struct bot_err *err)
{
	char sql[64];

	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_dberr(s, err, "cannot migrate database", path);
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", to);
	if (sqlite3_exec(s->db, store_migrations[to - 1], NULL, NULL,
			 NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		bot_fail(err, BOT_EDB,
			 "cannot migrate database '%s' to schema version %d: %s",
			 path, to, sqlite3_errmsg(s->db));
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return BOT_EDB;
	}
	return BOT_OK;
}

static int store_migrate(struct store *s, const char *path,
			 struct bot_err *err)
{
	int version = 0, rc;

	if (store_get_int(s->db, "PRAGMA user_version", &version) != SQLITE_OK)
		return store_dberr(s, err, "cannot open database", path);
	if (version > STORE_SCHEMA_VERSION)
		return bot_fail(err, BOT_EDB,
				"database '%s' has schema version %d, but this "
				"amtsbot knows only versions up to %d: "
				"use a newer amtsbot", path, version,
				STORE_SCHEMA_VERSION);
	while (version < STORE_SCHEMA_VERSION) {
		rc = store_migrate_one(s, path, ++version, err);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

static int store_setup(struct store *s, const char *path, struct bot_err *err)
{
	int i, rc;

	/* The first statement reads the file: a file that is no database
	 * fails here with "file is not a database". */
	if (sqlite3_exec(s->db, "PRAGMA page_size=4096; PRAGMA auto_vacuum=INCREMENTAL", NULL, NULL,
			 NULL) != SQLITE_OK)
		return store_dberr(s, err, "cannot open database", path);
	rc = store_set_wal(s, path, err);
	if (rc)
		return rc;
	if (sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
	    sqlite3_exec(s->db, store_pragmas, NULL, NULL, NULL) != SQLITE_OK)
		return store_dberr(s, err, "cannot configure database", path);
	rc = store_migrate(s, path, err);
	if (rc)
		return rc;
	for (i = 0; i < ST_NUM; i++)
		if (sqlite3_prepare_v3(s->db, store_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL) != SQLITE_OK)
			return bot_fail(err, BOT_EDB,
					"cannot prepare '%s' for database '%s': %s",
					store_sql[i], path,
					sqlite3_errmsg(s->db));
	return BOT_OK;
}

static void store_checkpointer_stop(struct store *s);
static void store_wal_bound(struct store *s);
static int store_wal_frames(void *arg, sqlite3 *db, const char *name,
			    int frames);
static void store_seqs_forget(struct store *s);
static void store_answers_forget(struct store *s);
static int store_heads_flush(struct store *s, size_t max,
			     struct bot_err *err);
static int store_heads_save_all(struct store *s, struct bot_err *err);
static struct store_seq *store_seq_get(struct store *s, const char *conv,
				       struct bot_err *err);
static const char *col_text(sqlite3_stmt *st, int i);

struct store *store_open(const char *path, struct bot_err *err)
{
	struct store *s;
	int rc;

	s = bot_calloc(1, sizeof(*s));
	if (!s) {
		bot_fail(err, BOT_ENOMEM, "cannot open database '%s': out of memory",
			 path);
		return NULL;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (s->db)
			store_dberr(s, err, "cannot open database", path);
		else
			bot_fail(err, BOT_ENOMEM,
				 "cannot open database '%s': out of memory",
				 path);
		store_close(&s);
		return NULL;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* a crash may have left saved heads behind: checked on first use */
	s->heads_stale = 1;
	s->path = bot_strdup(path);
	if (!s->path || store_setup(s, path, err)) {
		if (!s->path)
			bot_fail(err, BOT_ENOMEM, "out of memory");
		store_close(&s);
		return NULL;
	}
	return s;
}

void store_close(struct store **sp)
{
	struct store *s = *sp;
	int i;

	if (!s)
		return;
	/* an open transaction is rolled back below: its heads with it */
	if (s->st[ST_NUM - 1] && !store_in_transaction(s) && !s->heads_stale)
		(void)store_heads_save_all(s, NULL);
	for (i = 0; i < ST_NUM; i++)
		sqlite3_finalize(s->st[i]);
	for (i = 0; i < STORE_EXT_STMTS; i++)
		sqlite3_finalize(s->ext[i]);
	store_checkpointer_stop(s);
	/* An open transaction is rolled back by sqlite3_close(). */
	sqlite3_close(s->db);
	OPENSSL_cleanse(s->key, sizeof(s->key));
	bot_free(s->seqs);
	store_answers_forget(s);
	bot_free(s->answers);
	bot_free(s->path);
	bot_free(s);
	*sp = NULL;
}

/* ---- background checkpoints -------------------------------------------------- */

/*
 * A checkpoint copies WAL pages into the database file and may take tens
 * of milliseconds; done by SQLite's automatic checkpoint inside a commit it
 * stalls every connection of the event loop.  This thread does it on its
 * own connection instead (SQLite allows that in WAL mode: PASSIVE never
 * blocks the writer); the main connection copies only the last few
 * frames (store_wal_tail) or, past a bound, the rest (store_wal_bound).
 * The thread touches nothing but its connection and the atomics below.
 */
struct store_ckpt {
	pthread_t thread;
	/* held during the thread's checkpoint: a TRUNCATE checkpoint (the
	 * purge) fails at once while another one runs */
	pthread_mutex_t lock;
	sqlite3 *db;
	atomic_int stop;
	atomic_int log;		/* frames in the WAL at its last checkpoint */
	atomic_int done;	/* of which copied back */
};

#define STORE_CKPT_MS 20

static void *store_ckpt_run(void *arg)
{
	struct store_ckpt *c = arg;
	struct timespec ts = { 0, STORE_CKPT_MS * 1000000L };

	int log, done;

	while (!atomic_load(&c->stop)) {
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&c->lock);
		if (sqlite3_wal_checkpoint_v2(c->db, NULL,
					      SQLITE_CHECKPOINT_PASSIVE,
					      &log, &done) != SQLITE_OK)
			log = done = 0;
		pthread_mutex_unlock(&c->lock);
		atomic_store(&c->log, log);
		atomic_store(&c->done, done);
	}
	return NULL;
}

/* The thread takes no signals: they are the event loop's to see. */
static int store_ckpt_spawn(struct store_ckpt *c)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->thread, NULL, store_ckpt_run, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int store_checkpointer_start(struct store *s, struct bot_err *err)
{
	struct store_ckpt *c;

	if (s->ckpt)
		return BOT_OK;
	c = bot_calloc(1, sizeof(*c));
	if (!c)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	/* a connection checkpoints only once it has read the database */
	if (sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(c->db, 100) != SQLITE_OK ||
	    sqlite3_exec(c->db, "PRAGMA journal_mode", NULL, NULL,
			 NULL) != SQLITE_OK) {
		bot_fail(err, BOT_EDB, "cannot open checkpoint connection to "
			 "'%s': %s", s->path, c->db ? sqlite3_errmsg(c->db) :
			 "out of memory");
		sqlite3_close(c->db);
		bot_free(c);
		return BOT_EDB;
	}
	atomic_init(&c->stop, 0);
	atomic_init(&c->log, 0);
	atomic_init(&c->done, 0);
	pthread_mutex_init(&c->lock, NULL);
	if (store_ckpt_spawn(c)) {
		pthread_mutex_destroy(&c->lock);
		sqlite3_close(c->db);
		bot_free(c);
		return bot_fail(err, BOT_EIO, "cannot start checkpoint thread");
	}
	/* from now on only the thread checkpoints, unless the WAL outgrows
	 * it (store_wal_bound) */
	sqlite3_wal_autocheckpoint(s->db, 0);
	sqlite3_wal_hook(s->db, store_wal_frames, s);
	s->ckpt = c;
	return BOT_OK;
}

/*
 * Under full load the thread never catches up: a WAL is only restarted
 * when a checkpoint has copied every frame just as a write begins, and
 * frames keep coming.  So when the WAL passes STORE_WAL_MAX_FRAMES the
 * loop itself checkpoints once, right after a commit (nothing new can
 * arrive meanwhile), and the next write restarts the WAL: a pause of some
 * tens of milliseconds every few seconds at full load, a bounded file.
 */
#define STORE_WAL_MAX_FRAMES 16384	/* 64 MiB of 4 KiB pages */

static int store_wal_frames(void *arg, sqlite3 *db, const char *name,
			    int frames)
{
	struct store *s = arg;

	(void)db;
	(void)name;
	s->wal_frames = frames;
	return SQLITE_OK;
}

/*
 * The thread's checkpoints end a few commits behind, and a WAL starts
 * over only when a write begins with every frame copied back.  So once
 * the thread has copied all but a few frames, the loop copies those
 * itself right after a commit, and the next write restarts the WAL.
 * Without this every WAL grew to the bound below, whose checkpoint
 * stalled the loop for tens of milliseconds.
 */
#define STORE_WAL_TAIL 512

static void store_wal_tail(struct store *s)
{
	int log = atomic_load(&s->ckpt->log);
	int done = atomic_load(&s->ckpt->done);

	/* 'log' above the WAL's frames: numbers from before a restart */
	if (s->wal_frames <= STORE_WAL_TAIL || log > s->wal_frames ||
	    s->wal_frames - done > STORE_WAL_TAIL)
		return;
	(void)sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
					NULL, NULL);
	atomic_store(&s->ckpt->log, 0);
	atomic_store(&s->ckpt->done, 0);
	s->wal_frames = 0;
}

static void store_wal_bound(struct store *s)
{
	if (s->ckpt)
		store_wal_tail(s);
	if (s->wal_frames < STORE_WAL_MAX_FRAMES)
		return;
	s->wal_frames = 0;
	(void)sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
					NULL, NULL);
}

static void store_checkpointer_stop(struct store *s)
{
	struct store_ckpt *c = s->ckpt;

	if (!c)
		return;
	atomic_store(&c->stop, 1);
	pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->lock);
	sqlite3_close(c->db);
	bot_free(c);
	s->ckpt = NULL;
}

/* ---- transactions ---------------------------------------------------------- */

int store_in_transaction(const struct store *s)
{
	return !sqlite3_get_autocommit(s->db);
}

int store_begin(struct store *s, struct bot_err *err)
{
	if (store_in_transaction(s))
		return BOT_OK;
	if (store_run(s->st[ST_BEGIN]) != SQLITE_OK)
		return store_dberr(s, err, "cannot begin transaction", NULL);
	return BOT_OK;
}

void store_rollback(struct store *s)
{
	/* heads saved in the transaction are undone with it */
	s->heads_stale = 1;
	store_seqs_forget(s);
	store_answers_forget(s);
	if (store_in_transaction(s))
		store_run(s->st[ST_ROLLBACK]);
}

/*
 * Heads saved per commit: with 5,000 busy conversations a sweep over all
 * of them takes some 600 commits (a few seconds), and a commit writes 8
 * scattered pages instead of one per exchange.
 */
#define STORE_HEADS_PER_COMMIT 8

int store_commit(struct store *s, struct bot_err *err)
{
	int rc;

	if (!store_in_transaction(s))
		return BOT_OK;
	if (store_heads_flush(s, STORE_HEADS_PER_COMMIT, err)) {
		store_rollback(s);
		return err ? err->rc : BOT_EDB;
	}
	if (store_run(s->st[ST_COMMIT]) == SQLITE_OK) {
		store_wal_bound(s);
		return BOT_OK;
	}
	rc = store_dberr(s, err, "cannot commit transaction", NULL);
	store_rollback(s);
	return rc;
}

/*
 * Writes of several statements get their own transaction unless the
 * caller has one open; '*own' says whether we started it.
 */
int store_tx_enter(struct store *s, int *own, struct bot_err *err)
{
	*own = !store_in_transaction(s);
	return *own ? store_begin(s, err) : BOT_OK;
}

int store_tx_leave(struct store *s, int own, int rc,
			  struct bot_err *err)
{
	if (!own)
		return rc;
	if (rc) {
		store_rollback(s);
		return rc;
	}
	return store_commit(s, err);
}

/* ---- the last seq of each conversation, in memory -------------------------- */

/*
 * The server is the only writer, so it can count seqs and keep each
 * conversation's newest message (its head) itself instead of updating
 * the conversation's row for every message: that row would be one more
 * scattered page written per message.  An entry is filled from the
 * database on first use; the whole table is forgotten when it is full,
 * after a rollback and after a purge.  'updated' is written back at most
 * every STORE_TOUCH_SECONDS (the retention counts in days), a head a few
 * commits after it changed (store_heads_flush).
 */
#define STORE_SEQ_SLOTS 32768	/* power of two */
#define STORE_TOUCH_SECONDS 600

/*
 * The client ids of the last STORE_RECENT_IDS messages of a conversation
 * (as 64-bit hashes, with their seqs), loaded with the entry: a widget
 * resends only what it sent last, so duplicates are found here without a
 * unique index on (conv, client_id), which cost one scattered page per
 * message and commit.  Must match the LIMIT of ST_MSG_RECENT_IDS.
 */
#define STORE_RECENT_IDS 16

struct store_seq {
	char conv[STORE_ID_LEN + 1];	/* "" = free */
	unsigned char id_pos;	/* next slot of 'id_hash' to overwrite */
	unsigned char dirty;	/* 'head' not saved yet: in the ring */
	int64_t num;		/* conversations.num: the key in messages */
	int64_t last;
	int64_t head;		/* messages.id of the newest, 0 = none */
	char channel[16];	/* "" for the web: messages.channel NULL */
	time_t touched;		/* when 'updated' was last written */
	uint64_t id_hash[STORE_RECENT_IDS];
	int64_t id_seq[STORE_RECENT_IDS];	/* 0 = free */
};

struct store_seqs {
	struct store_seq slot[STORE_SEQ_SLOTS];
	size_t used;
	/* the slots with a head not saved yet, oldest first (a ring) */
	uint32_t dirty[STORE_SEQ_SLOTS];
	size_t dirty_first, dirty_n;
	/* the first 'sweep_left' of them are this sweep's; when they are
	 * saved, so is meta 'heads' = 'sweep_upto' */
	size_t sweep_left;
	int64_t sweep_upto;
};

/* Heads not saved yet are lost with the table: the saved ones must be
 * repaired before the next entry is loaded. */
static void store_seqs_forget(struct store *s)
{
	if (s->seqs) {
		if (s->seqs->dirty_n)
			s->heads_stale = 1;
		memset(s->seqs, 0, sizeof(*s->seqs));
	}
}

static struct store_seq *store_seq_slot(struct store *s, const char *conv)
{
	uint64_t h = 1469598103934665603ull;
	const char *p;
	size_t i;

	for (p = conv; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (i = h & (STORE_SEQ_SLOTS - 1);; i = (i + 1) & (STORE_SEQ_SLOTS - 1))
		if (!s->seqs->slot[i].conv[0] ||
		    !strcmp(s->seqs->slot[i].conv, conv))
			return &s->seqs->slot[i];
}

/* ---- saved heads -------------------------------------------------------------- */

static int store_get_int64(struct store *s, sqlite3_stmt *st, int64_t *out,
			   struct bot_err *err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	store_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_dberr(s, err, "cannot read conversation heads", NULL);
	return BOT_OK;
}

static int store_heads_mark(struct store *s, int64_t upto, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_HEADS_SET];

	sqlite3_bind_int64(st, 1, upto);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot save conversation heads", NULL);
	return BOT_OK;
}

/*
 * In the caller's transaction: save the heads of up to 'max' entries,
 * oldest change first.  A sweep takes the entries unsaved at its start
 * and the newest message id then; once they are saved, every message up
 * to that id is reachable from a saved head, and meta 'heads' says so.
 */
static int store_heads_flush(struct store *s, size_t max, struct bot_err *err)
{
	struct store_seqs *q = s->seqs;
	sqlite3_stmt *st = s->st[ST_HEAD_SAVE];
	struct store_seq *e;

	while (q && q->dirty_n && max--) {
		if (!q->sweep_left) {
			q->sweep_left = q->dirty_n;
			q->sweep_upto = s->last_id;
		}
		e = &q->slot[q->dirty[q->dirty_first]];
		sqlite3_bind_int64(st, 1, e->num);
		sqlite3_bind_int64(st, 2, e->head);
		if (store_run(st) != SQLITE_OK)
			return store_dberr(s, err, "cannot save head of "
					   "conversation", e->conv);
		e->dirty = 0;
		q->dirty_first = (q->dirty_first + 1) & (STORE_SEQ_SLOTS - 1);
		q->dirty_n--;
		if (--q->sweep_left == 0 &&
		    store_heads_mark(s, q->sweep_upto, err))
			return BOT_EDB;
	}
	return BOT_OK;
}

static int store_heads_save_all(struct store *s, struct bot_err *err)
{
	int own, rc;

	if (!s->seqs || !s->seqs->dirty_n)
		return BOT_OK;
	rc = store_tx_enter(s, &own, err);
	if (!rc)
		rc = store_heads_flush(s, SIZE_MAX, err);
	return store_tx_leave(s, own, rc, err);
}

/* A changed head goes to the end of the ring (once). */
static void store_head_set(struct store *s, struct store_seq *e, int64_t id)
{
	struct store_seqs *q = s->seqs;

	e->head = id;
	if (e->dirty)
		return;
	e->dirty = 1;
	q->dirty[(q->dirty_first + q->dirty_n) & (STORE_SEQ_SLOTS - 1)] =
		(uint32_t)(e - q->slot);
	q->dirty_n++;
}

/*
 * Link up what the saved heads miss, after a crash, a rollback or a
 * table forgotten with unsaved heads: a conversation's head becomes its
 * newest message after meta 'heads'.  Runs before the table is filled
 * again.  New ids continue above both, so an id is never used twice.
 */
static int store_heads_repair(struct store *s, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_HEADS_REPAIR];
	int64_t upto = 0, top = 0;
	int own, rc;

	if (!s->heads_stale)
		return BOT_OK;
	rc = store_tx_enter(s, &own, err);
	if (rc)
		return rc;
	rc = store_get_int64(s, s->st[ST_HEADS_GET], &upto, err);
	if (!rc)
		rc = store_get_int64(s, s->st[ST_MAX_ID], &top, err);
	if (!rc && top > upto) {
		sqlite3_bind_int64(st, 1, upto);
		if (store_run(st) != SQLITE_OK)
			rc = store_dberr(s, err, "cannot repair conversation "
					 "heads", NULL);
		if (!rc)
			rc = store_heads_mark(s, top, err);
	}
	rc = store_tx_leave(s, own, rc, err);
	if (rc)
		return rc;
	s->last_id = top > upto ? top : upto;
	s->heads_stale = 0;
	return BOT_OK;
}

/* ---- conversations ---------------------------------------------------------- */

/*
 * A conversation id: the creation time (32 bits of seconds) and 96 bits
 * from getrandom().  The random part makes ids unguessable; the time
 * prefix keeps the conversations that are active now together at the end
 * of the index on conversations.id.  Messages are keyed by the
 * conversation's number instead (conversations.num, schema 5).
 */
static int store_new_id(time_t now, char *id, struct bot_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[STORE_ID_LEN / 2];
	uint32_t t = (uint32_t)now;
	size_t got = 4;
	ssize_t n;
	size_t i;

	raw[0] = (unsigned char)(t >> 24);
	raw[1] = (unsigned char)(t >> 16);
	raw[2] = (unsigned char)(t >> 8);
	raw[3] = (unsigned char)t;
	while (got < sizeof(raw)) {
		n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return bot_fail(err, BOT_EIO,
					"cannot make conversation id: %s",
					strerror(errno));
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(raw); i++) {
		id[2 * i] = hex[raw[i] >> 4];
		id[2 * i + 1] = hex[raw[i] & 15];
	}
	id[STORE_ID_LEN] = '\0';
	return BOT_OK;
}

int store_conv_new(struct store *s, const char *channel, time_t now,
		   char *id, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_CONV_NEW];
	int rc;

	if (!channel)
		return bot_fail(err, BOT_EINVAL,
				"cannot create conversation: no channel");
	rc = store_new_id(now, id, err);
	if (rc)
		return rc;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, channel);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot create conversation on channel",
				   channel);
	return BOT_OK;
}

/* 1 with the number, last seq, head and channel of the conversation
 * from the database in 'e', 0 when there is no such conversation, <0 on
 * error.  The saved heads must be repaired. */
static int store_conv_load(struct store *s, const char *id,
			   struct store_seq *e, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_CONV_GET];
	const char *channel;
	int rc;

	store_bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		e->num = sqlite3_column_int64(st, 0);
		e->last = sqlite3_column_int64(st, 1);
		e->head = sqlite3_column_int64(st, 2);
		channel = col_text(st, 3);
		if (channel && strcmp(channel, "web"))
			snprintf(e->channel, sizeof(e->channel), "%s", channel);
	}
	store_done(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return -store_dberr(s, err, "cannot look up conversation", id);
}

int store_conv_exists(struct store *s, const char *id, int64_t *last_seq,
		      struct bot_err *err)
{
	struct store_seq *e, tmp = { 0 };
	int rc;

	if (s->seqs && id && strlen(id) <= STORE_ID_LEN) {
		e = store_seq_slot(s, id);
		if (e->conv[0]) {
			if (last_seq)
				*last_seq = e->last;
			return 1;
		}
	}
	rc = store_heads_repair(s, err);
	if (rc)
		return -rc;
	rc = store_conv_load(s, id, &tmp, err);
	if (rc > 0 && last_seq)
		*last_seq = tmp.last;
	return rc;
}

int store_conv_set_state(struct store *s, const char *id, const void *state,
			 size_t len, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_CONV_SET_STATE];
	sqlite3_stmt *sm = s->st[ST_CONV_STATE_MSG];
	struct store_seq *e = store_seq_get(s, id, err);

	if (!e)
		return err && err->rc ? err->rc : BOT_ENOTFOUND;
	/* the state saved with the latest message would win otherwise */
	if (len <= (size_t)INT32_MAX) {
		sqlite3_bind_int64(sm, 1, e->head);
		sqlite3_bind_blob(sm, 2, state, (int)len, SQLITE_STATIC);
		if (store_run(sm) != SQLITE_OK)
			return store_dberr(s, err, "cannot save state of "
					   "conversation", id);
	}

	if (len > (size_t)INT32_MAX)
		return bot_fail(err, BOT_ENOMEM,
				"cannot save state of conversation '%s': "
				"%zu bytes is too large", store_nz(id), len);
	store_bind_text(st, 1, id);
	if (state && len)
		sqlite3_bind_blob(st, 2, state, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot save state of conversation",
				   id);
	if (sqlite3_changes(s->db) == 0)
		return bot_fail(err, BOT_ENOTFOUND,
				"cannot save state of conversation '%s': "
				"no such conversation", store_nz(id));
	return BOT_OK;
}

int store_conv_get_state(struct store *s, const char *id, void *state,
			 size_t size, size_t *len, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_CONV_GET_STATE];
	struct store_seq *e;
	const void *blob;
	size_t n;
	int rc;

	*len = 0;
	e = store_seq_get(s, id, err);
	if (!e)
		return err && err->rc ? err->rc : BOT_ENOTFOUND;
	sqlite3_bind_int64(st, 1, e->head);
	sqlite3_bind_int64(st, 2, e->num);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = store_dberr(s, err, "cannot load state of conversation", id);
		store_done(st);
		return rc;
	}
	blob = sqlite3_column_blob(st, 0);
	n = (size_t)sqlite3_column_bytes(st, 0);
	if (blob && n && size)
		memcpy(state, blob, n < size ? n : size);
	*len = blob ? n : 0;
	store_done(st);
	return BOT_OK;
}

/* ---- answers stored once ------------------------------------------------------ */

/*
 * A bot's answer frame, as json_reply_add() writes it, is
 * {"type":"answer","seq":N,"reply_to":R,BODY} where BODY (with the answer
 * text) is the same for every answer of the same intent and service.  The
 * message row keeps R in 'payload' and the id of (text, BODY) in
 * 'answer'; store_msgs_after() puts the frame together again.  The cache
 * maps the hash of (text, BODY) to the id without a database read; it is
 * forgotten after a rollback (its new rows are gone) and after a purge.
 */
#define STORE_ANSWER_SLOTS 4096	/* power of two */
#define STORE_ANSWER_PREFIX "{\"type\":\"answer\",\"seq\":"

struct store_answer {
	uint64_t hash;
	int64_t id;		/* 0 = free */
	char *text;		/* may be NULL */
	char *body;
};

struct store_answers {
	struct store_answer slot[STORE_ANSWER_SLOTS];
	size_t used;
};

static void store_answers_forget(struct store *s)
{
	size_t i;

	if (!s->answers || !s->answers->used)
		return;
	for (i = 0; i < STORE_ANSWER_SLOTS; i++) {
		bot_free(s->answers->slot[i].text);
		bot_free(s->answers->slot[i].body);
	}
	memset(s->answers, 0, sizeof(*s->answers));
}

static uint64_t store_hash_add(uint64_t h, const char *p, size_t n)
{
	uint64_t w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 1099511628211ull;
		h ^= h >> 29;
	}
	for (; n; p++, n--)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

static uint64_t store_answer_hash(const char *text, const char *body)
{
	uint64_t h = 1469598103934665603ull;

	h = text ? store_hash_add(h, text, strlen(text) + 1) : h ^ 0x5bd1e995u;
	h = store_hash_add(h, body, strlen(body));
	return h ^ (h >> 31);
}

static int store_streq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/*
 * Split 'payload' of message 'seq' into R (offset and length) and BODY
 * (from the comma after R); 0 when it is not an answer frame of that
 * form, which is then stored as it is.
 */
static int store_answer_split(const char *payload, int64_t seq, size_t *r_off,
			      size_t *r_len, const char **body)
{
	size_t n = sizeof(STORE_ANSWER_PREFIX) - 1;
	const char *p, *q;
	char num[48];
	int k;

	if (strncmp(payload, STORE_ANSWER_PREFIX, n))
		return 0;
	k = snprintf(num, sizeof(num), "%lld,\"reply_to\":", (long long)seq);
	if (k <= 0 || strncmp(payload + n, num, (size_t)k))
		return 0;
	p = payload + n + (size_t)k;
	if (!strncmp(p, "null", 4)) {
		q = p + 4;
	} else if (*p == '"') {
		for (q = p + 1; *q && *q != '"'; q++)
			if (*q == '\\' && q[1])
				q++;
		if (*q++ != '"')
			return 0;
	} else {
		return 0;
	}
	if (*q != ',')
		return 0;
	*r_off = (size_t)(p - payload);
	*r_len = (size_t)(q - p);
	*body = q;
	return 1;
}

/* The id of (text, body) from the database, added when new; 0 on a hash
 * collision (the answer is then stored whole), <0 on error. */
static int64_t store_answer_db(struct store *s, uint64_t h, const char *text,
			       const char *body, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_ANSWER_GET];
	int64_t id = 0;
	int rc;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)h);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && store_streq(col_text(st, 1), text) &&
	    store_streq(col_text(st, 2), body))
		id = sqlite3_column_int64(st, 0);
	store_done(st);
	if (rc == SQLITE_ROW)
		return id;
	if (rc != SQLITE_DONE)
		return -store_dberr(s, err, "cannot look up answer", NULL);
	st = s->st[ST_ANSWER_ADD];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)h);
	store_bind_text(st, 2, text);
	store_bind_text(st, 3, body);
	if (store_run(st) != SQLITE_OK)
		return -store_dberr(s, err, "cannot store answer", NULL);
	return sqlite3_last_insert_rowid(s->db);
}

/* The slot of hash 'h': its entry or the free slot where it belongs. */
static struct store_answer *store_answer_slot(struct store *s, uint64_t h)
{
	size_t i;

	for (i = h & (STORE_ANSWER_SLOTS - 1);;
	     i = (i + 1) & (STORE_ANSWER_SLOTS - 1))
		if (!s->answers->slot[i].id || s->answers->slot[i].hash == h)
			return &s->answers->slot[i];
}

/* Like store_answer_db(), through the cache. */
static int64_t store_answer_id(struct store *s, const char *text,
			       const char *body, struct bot_err *err)
{
	uint64_t h = store_answer_hash(text, body);
	struct store_answer *a;
	int64_t id;

	if (!s->answers && !(s->answers = bot_calloc(1, sizeof(*s->answers))))
		return -bot_fail(err, BOT_ENOMEM, "out of memory");
	a = store_answer_slot(s, h);
	if (a->id)
		return store_streq(a->text, text) && !strcmp(a->body, body) ?
		       a->id : 0;
	id = store_answer_db(s, h, text, body, err);
	if (id <= 0)
		return id;
	if (s->answers->used >= STORE_ANSWER_SLOTS / 2) {
		store_answers_forget(s);
		a = store_answer_slot(s, h);
	}
	a->body = bot_strdup(body);
	a->text = text ? bot_strdup(text) : NULL;
	if (!a->body || (text && !a->text)) {
		bot_free(a->body);
		bot_free(a->text);
		a->body = a->text = NULL;
		return id;	/* not cached, still stored */
	}
	a->hash = h;
	a->id = id;
	s->answers->used++;
	return id;
}

/* Bind text (5), payload (11) and answer (16) of 'm'. */
static int store_bind_answer(struct store *s, sqlite3_stmt *st,
			     const struct store_msg *m, struct bot_err *err)
{
	const char *body;
	size_t off, len;
	int64_t id = 0;

	if (m->payload && !strcmp(m->role, "bot") &&
	    store_answer_split(m->payload, m->seq, &off, &len, &body)) {
		id = store_answer_id(s, m->text, body, err);
		if (id < 0)
			return (int)-id;
	}
	if (id > 0) {
		sqlite3_bind_text(st, 11, m->payload + off, (int)len,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 16, id);
		return BOT_OK;
	}
	store_bind_text(st, 5, m->text);
	store_bind_text(st, 11, m->payload);
	return BOT_OK;
}

/* ---- messages ------------------------------------------------------------------ */

static int store_role_ok(const char *role)
{
	static const char *const roles[] = { "citizen", "bot", "agent", "system" };
	size_t i;

	for (i = 0; role && i < BOT_ARRAY_SIZE(roles); i++)
		if (!strcmp(role, roles[i]))
			return 1;
	return 0;
}

static uint64_t store_id_hash(const char *client_id)
{
	uint64_t h = 1469598103934665603ull;
	const char *p;

	for (p = client_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

/* The seq of the recent message with this client id hash, 0 when none. */
static int64_t store_seq_find_id(const struct store_seq *e, uint64_t h)
{
	int i;

	for (i = 0; i < STORE_RECENT_IDS; i++)
		if (e->id_seq[i] && e->id_hash[i] == h)
			return e->id_seq[i];
	return 0;
}

static void store_seq_note_id(struct store_seq *e, uint64_t h, int64_t seq)
{
	if (store_seq_find_id(e, h) == seq)
		return;
	e->id_hash[e->id_pos] = h;
	e->id_seq[e->id_pos] = seq;
	e->id_pos = (unsigned char)((e->id_pos + 1) % STORE_RECENT_IDS);
}

/* Fill the recent client ids of a new entry from the database, oldest
 * first so that the next note overwrites the oldest. */
static int store_seq_load_ids(struct store *s, struct store_seq *e,
			      struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_MSG_RECENT_IDS];
	int64_t seq[STORE_RECENT_IDS];
	uint64_t h[STORE_RECENT_IDS];
	int rc, n = 0;

	sqlite3_bind_int64(st, 1, e->head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < STORE_RECENT_IDS) {
		seq[n] = sqlite3_column_int64(st, 0);
		h[n++] = store_id_hash(col_text(st, 1));
	}
	store_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_dberr(s, err, "cannot look up conversation", e->conv);
	while (n > 0) {
		n--;
		store_seq_note_id(e, h[n], seq[n]);
	}
	return BOT_OK;
}

/* The entry of 'conv', loaded from the database when needed; NULL with
 * BOT_ENOTFOUND when there is no such conversation. */
static struct store_seq *store_seq_get(struct store *s, const char *conv,
				       struct bot_err *err)
{
	struct store_seq *e, tmp = { 0 };
	int rc;

	if (!conv || strlen(conv) > STORE_ID_LEN) {
		bot_fail(err, BOT_ENOTFOUND, "no such conversation '%s'",
			 store_nz(conv));
		return NULL;
	}
	if (!s->seqs) {
		s->seqs = bot_calloc(1, sizeof(*s->seqs));
		if (!s->seqs) {
			bot_fail(err, BOT_ENOMEM, "out of memory");
			return NULL;
		}
	}
	e = store_seq_slot(s, conv);
	if (e->conv[0])
		return e;
	if (store_heads_repair(s, err))
		return NULL;
	rc = store_conv_load(s, conv, &tmp, err);
	if (rc <= 0) {
		if (rc == 0)
			bot_fail(err, BOT_ENOTFOUND, "no such conversation '%s'",
				 conv);
		return NULL;
	}
	if (s->seqs->used >= STORE_SEQ_SLOTS / 2) {
		if (store_heads_save_all(s, err))
			return NULL;
		store_seqs_forget(s);
	}
	e = store_seq_slot(s, conv);
	*e = tmp;
	snprintf(e->conv, sizeof(e->conv), "%s", conv);
	if (store_seq_load_ids(s, e, err)) {
		e->conv[0] = '\0';
		return NULL;
	}
	s->seqs->used++;
	return e;
}

/* 1 and '*seq' when 'client_id' is one of the recent ones of 'conv', 0
 * when not (or there is no such conversation), <0 on error. */
static int store_find_client(struct store *s, const char *conv,
			     const char *client_id, int64_t *seq,
			     struct bot_err *err)
{
	struct bot_err e2 = { 0 };
	struct store_seq *e = store_seq_get(s, conv, &e2);

	if (!e) {
		if (e2.rc == BOT_ENOTFOUND)
			return 0;
		if (err)
			*err = e2;
		return -1;
	}
	*seq = store_seq_find_id(e, store_id_hash(client_id));
	return *seq > 0;
}

/* Write last_seq and updated back when the last write is old enough. */
static int store_seq_touch(struct store *s, struct store_seq *e, time_t now,
			   struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_CONV_TOUCH];

	if (now - e->touched < STORE_TOUCH_SECONDS)
		return BOT_OK;
	store_bind_text(st, 1, e->conv);
	sqlite3_bind_int64(st, 2, e->last);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot touch conversation", e->conv);
	e->touched = now;
	return BOT_OK;
}

int store_conv_head(struct store *s, const char *conv, int64_t *head,
		    struct bot_err *err)
{
	struct store_seq *e = store_seq_get(s, conv, err);

	*head = e ? e->head : 0;
	if (!e)
		return err && err->rc ? err->rc : BOT_ENOTFOUND;
	return BOT_OK;
}

/* Take the next seq of 'm->conv'. */
static int store_next_seq(struct store *s, struct store_msg *m,
			  struct bot_err *err)
{
	struct store_seq *e = store_seq_get(s, m->conv, err);

	if (!e)
		return err ? err->rc : BOT_ENOTFOUND;
	m->seq = ++e->last;
	return store_seq_touch(s, e, m->created, err);
}

static int store_insert_msg(struct store *s, const struct store_msg *m,
			    struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_MSG_ADD];
	struct store_seq *e = store_seq_get(s, m->conv, err);
	int rc;

	if (!e)
		return err ? err->rc : BOT_ENOTFOUND;
	rc = store_bind_answer(s, st, m, err);
	if (rc) {
		store_done(st);
		return rc;
	}
	sqlite3_bind_int64(st, 1, e->num);
	sqlite3_bind_int64(st, 2, m->seq);
	sqlite3_bind_int64(st, 19, s->last_id + 1);
	if (e->head)
		sqlite3_bind_int64(st, 17, e->head);
	if (e->channel[0])
		store_bind_text(st, 18, e->channel);
	store_bind_text(st, 3, m->role);
	store_bind_text(st, 4, m->client_id);
	store_bind_text(st, 6, m->intent);
	store_bind_text(st, 7, m->service);
	store_bind_text(st, 8, m->office);
	sqlite3_bind_double(st, 9, m->confidence);
	store_bind_text(st, 10, m->handoff_reason);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)m->created);
	if (m->state)
		sqlite3_bind_blob(st, 13, m->state, (int)m->state_len,
				  SQLITE_STATIC);
	store_bind_text(st, 14, m->netiquette);
	store_bind_text(st, 15, m->closest);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot store message in conversation",
				   m->conv);
	/* 'e' is still valid: nothing since store_seq_get() evicted it */
	store_head_set(s, e, ++s->last_id);
	if (m->client_id)
		store_seq_note_id(e, store_id_hash(m->client_id), m->seq);
	return BOT_OK;
}

int store_msg_add(struct store *s, struct store_msg *m, struct bot_err *err)
{
	int own, rc;

	m->seq = 0;
	m->duplicate = 0;
	if (!m->conv || !store_role_ok(m->role))
		return bot_fail(err, BOT_EINVAL,
				"cannot store message in conversation '%s': "
				"bad role '%s'", store_nz(m->conv), store_nz(m->role));
	if (!m->created)
		m->created = time(NULL);
	if (m->client_id) {
		rc = store_find_client(s, m->conv, m->client_id, &m->seq, err);
		if (rc < 0)
			return err ? err->rc : BOT_EDB;
		if (rc > 0) {
			m->duplicate = 1;
			return BOT_OK;
		}
	}
	rc = store_tx_enter(s, &own, err);
	if (rc)
		return rc;
	rc = store_next_seq(s, m, err);
	if (!rc)
		rc = store_insert_msg(s, m, err);
	rc = store_tx_leave(s, own, rc, err);
	if (rc)
		m->seq = 0;
	return rc;
}

int store_turn_reserve(struct store *s, const char *conv, int n, time_t now,
		       int64_t *first, struct bot_err *err)
{
	struct store_seq *e;
	int own, rc;

	*first = 0;
	rc = store_tx_enter(s, &own, err);
	if (rc)
		return rc;
	e = store_seq_get(s, conv, err);
	if (!e) {
		rc = err && err->rc ? err->rc : BOT_ENOTFOUND;
	} else {
		*first = e->last + 1;
		e->last += n;
		rc = store_seq_touch(s, e, now ? now : time(NULL), err);
	}
	return store_tx_leave(s, own, rc, err);
}

int store_turn_put(struct store *s, const struct store_msg *m,
		   struct bot_err *err)
{
	int own, rc;

	if (!m->conv || m->seq <= 0 || !store_role_ok(m->role))
		return bot_fail(err, BOT_EINVAL, "cannot store message in "
				"conversation '%s': bad seq or role",
				store_nz(m->conv));
	rc = store_tx_enter(s, &own, err);
	if (rc)
		return rc;
	rc = store_insert_msg(s, m, err);
	return store_tx_leave(s, own, rc, err);
}

/* The reply to citizen message 'seq': the next message unless it is a
 * citizen's.  0 when there is none yet, <0 on error. */
static int64_t store_reply_seq(struct store *s, const char *conv, int64_t seq)
{
	sqlite3_stmt *st = s->st[ST_MSG_NEXT];
	struct store_seq *e = store_seq_get(s, conv, NULL);
	int64_t reply = 0;
	int rc;

	if (!e)
		return -1;
	sqlite3_bind_int64(st, 1, e->head);
	sqlite3_bind_int64(st, 2, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && !sqlite3_column_int(st, 1))
		reply = sqlite3_column_int64(st, 0);
	store_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	return reply;
}

int store_msg_seen(struct store *s, const char *conv, const char *client_id,
		   int64_t *reply_seq, struct bot_err *err)
{
	int64_t seq = 0, reply;
	int rc;

	if (reply_seq)
		*reply_seq = 0;
	if (!conv || !client_id)
		return 0;
	rc = store_find_client(s, conv, client_id, &seq, err);
	if (rc < 0)
		return -(int)(err ? err->rc : BOT_EDB);
	if (rc == 0)
		return 0;
	reply = store_reply_seq(s, conv, seq);
	if (reply < 0)
		return -store_dberr(s, err, "cannot look up reply in "
				    "conversation", conv);
	if (reply_seq)
		*reply_seq = reply;
	return 1;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* A row of ST_MSG_AFTER; an answer stored once is put together in 'sb'. */
static int store_row_msg(sqlite3_stmt *st, const char *conv,
			 struct store_msg *m, struct strbuf *sb)
{
	const char *body = col_text(st, 11);

	memset(m, 0, sizeof(*m));
	m->conv = conv;
	m->seq = sqlite3_column_int64(st, 0);
	m->role = col_text(st, 1);
	m->client_id = col_text(st, 2);
	m->text = col_text(st, 3);
	m->intent = col_text(st, 4);
	m->service = col_text(st, 5);
	m->office = col_text(st, 6);
	m->confidence = sqlite3_column_double(st, 7);
	m->handoff_reason = col_text(st, 8);
	m->payload = col_text(st, 9);
	m->created = (time_t)sqlite3_column_int64(st, 10);
	if (!body)
		return BOT_OK;
	strbuf_reset(sb);
	if (strbuf_addf(sb, STORE_ANSWER_PREFIX "%lld,\"reply_to\":",
			(long long)m->seq) || strbuf_adds(sb, store_nz(m->payload)) ||
	    strbuf_adds(sb, body))
		return BOT_ENOMEM;
	m->payload = strbuf_str(sb);
	return BOT_OK;
}

int store_msgs_after(struct store *s, const char *conv, int64_t after,
		     store_msg_fn fn, void *arg, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_MSG_AFTER];
	struct bot_err e2 = { 0 };
	struct store_seq *e = store_seq_get(s, conv, &e2);
	struct strbuf sb;
	struct store_msg m;
	int rc;

	if (!e) {
		if (e2.rc == BOT_ENOTFOUND)
			return BOT_OK;
		if (err)
			*err = e2;
		return e2.rc;
	}
	strbuf_init(&sb, 0);
	sqlite3_bind_int64(st, 1, e->head);
	sqlite3_bind_int64(st, 2, after);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (store_row_msg(st, conv, &m, &sb)) {
			rc = bot_fail(err, BOT_ENOMEM, "cannot read messages of "
				      "conversation '%s': out of memory", conv);
			goto out;
		}
		if (fn(arg, &m)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		rc = store_dberr(s, err, "cannot read messages of conversation",
				 conv);
	else
		rc = BOT_OK;
out:
	store_done(st);
	strbuf_release(&sb);
	return rc;
}

/* ---- feedback, suggestions ------------------------------------------------------- */

/* 1 and its id in '*id' when message 'seq' of 'conv' exists and is not
 * a citizen's. */
static int store_is_reply(struct store *s, const char *conv, int64_t seq,
			  int64_t *id)
{
	sqlite3_stmt *st = s->st[ST_MSG_ROLE];
	struct store_seq *e = store_seq_get(s, conv, NULL);
	int rc, ok = 0;

	if (!e)
		return 0;
	sqlite3_bind_int64(st, 1, e->head);
	sqlite3_bind_int64(st, 2, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ok = strcmp(col_text(st, 0), "citizen") != 0;
		*id = sqlite3_column_int64(st, 1);
	}
	store_done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	return ok;
}

int store_feedback(struct store *s, const char *conv, int64_t seq, int helpful,
		   time_t now, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_FEEDBACK];
	int64_t id = 0;
	int rc;

	rc = store_is_reply(s, conv, seq, &id);
	if (rc < 0)
		return store_dberr(s, err, "cannot store feedback in conversation",
				   conv);
	if (rc == 0)
		return bot_fail(err, BOT_ENOTFOUND,
				"cannot store feedback in conversation '%s': "
				"no answer %lld", store_nz(conv), (long long)seq);
	store_bind_text(st, 1, conv);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int(st, 3, helpful != 0);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 5, id);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot store feedback in conversation",
				   conv);
	return BOT_OK;
}

int store_suggestion(struct store *s, const char *conv, const char *channel,
		     const char *text, time_t now, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_SUGGESTION];

	if (!text)
		return bot_fail(err, BOT_EINVAL, "cannot store suggestion: no text");
	store_bind_text(st, 1, conv);
	store_bind_text(st, 2, channel);
	store_bind_text(st, 3, text);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot store suggestion", NULL);
	return BOT_OK;
}

/* ---- retention ------------------------------------------------------------------ */

static int store_purge_rows(struct store *s, time_t before, int64_t *n,
			    struct bot_err *err)
{
	int rc;

	rc = store_begin(s, err);
	if (rc)
		return rc;
	/* the table is forgotten after the purge */
	rc = store_heads_flush(s, SIZE_MAX, err);
	if (rc) {
		store_rollback(s);
		return rc;
	}
	sqlite3_bind_int64(s->st[ST_PURGE_FEEDBACK], 1, (sqlite3_int64)before);
	sqlite3_bind_int64(s->st[ST_PURGE_MSGS], 1, (sqlite3_int64)before);
	sqlite3_bind_int64(s->st[ST_PURGE_CONV], 1, (sqlite3_int64)before);
	if (store_run(s->st[ST_PURGE_FEEDBACK]) != SQLITE_OK ||
	    store_run(s->st[ST_PURGE_MSGS]) != SQLITE_OK ||
	    store_run(s->st[ST_PURGE_CONV]) != SQLITE_OK)
		goto fail;
	*n = sqlite3_changes64(s->db);
	sqlite3_bind_int64(s->st[ST_PURGE_SUGG], 1, (sqlite3_int64)before);
	if (store_run(s->st[ST_PURGE_SUGG]) != SQLITE_OK ||
	    store_run(s->st[ST_PURGE_HANDOFF]) != SQLITE_OK ||
	    store_run(s->st[ST_PURGE_ANSWERS]) != SQLITE_OK)
		goto fail;
	return store_commit(s, err);
fail:
	rc = store_dberr(s, err, "cannot purge old conversations", NULL);
	store_rollback(s);
	return rc;
}

/* Copy the WAL into the database and truncate it to zero bytes. */
static int store_checkpoint(struct store *s, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_CHECKPOINT];
	int rc, busy = 0;

	if (s->ckpt)
		pthread_mutex_lock(&s->ckpt->lock);
	rc = sqlite3_step(st);
	if (s->ckpt)
		pthread_mutex_unlock(&s->ckpt->lock);
	if (rc == SQLITE_ROW)
		busy = sqlite3_column_int(st, 0);
	if (rc != SQLITE_ROW) {
		rc = store_dberr(s, err, "cannot checkpoint database", NULL);
		store_done(st);
		return rc;
	}
	store_done(st);
	if (busy)
		return bot_fail(err, BOT_EDB, "cannot checkpoint database: "
				"another connection is reading it");
	return BOT_OK;
}

int store_purge(struct store *s, time_t before, int64_t *n,
		struct bot_err *err)
{
	int64_t count = 0;
	int rc;

	if (n)
		*n = 0;
	if (store_in_transaction(s))
		return bot_fail(err, BOT_EINVAL, "cannot purge old conversations: "
				"a transaction is open");
	rc = store_purge_rows(s, before, &count, err);
	if (rc)
		return rc;
	store_seqs_forget(s);
	store_answers_forget(s);
	if (n)
		*n = count;
	/* Give freed pages back to the file system, then copy the WAL into
	 * the database and truncate it: its old frames still hold the
	 * deleted text. */
	if (store_run(s->st[ST_VACUUM]) != SQLITE_OK)
		return store_dberr(s, err, "cannot vacuum database", NULL);
	return store_checkpoint(s, err);
}

int64_t store_count(struct store *s, const char *table)
{
	static const struct {
		const char *name;
		enum store_stmt st;
	} tables[] = {
		{ "conversations", ST_COUNT_CONV },
		{ "messages", ST_COUNT_MSG },
		{ "feedback", ST_COUNT_FEEDBACK },
		{ "suggestions", ST_COUNT_SUGG },
		{ "agents", ST_COUNT_AGENTS },
		{ "handoffs", ST_COUNT_HANDOFFS },
		{ "notes", ST_COUNT_NOTES },
	};
	sqlite3_stmt *st = NULL;
	int64_t n = -1;
	size_t i;

	for (i = 0; table && i < BOT_ARRAY_SIZE(tables); i++)
		if (!strcmp(table, tables[i].name))
			st = s->st[tables[i].st];
	if (!st)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	store_done(st);
	return n;
}

/* ---- agents ------------------------------------------------------------------- */

void store_token_hash(const char *token, size_t len,
		      char out[STORE_HASH_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int n = 0;
	size_t i;

	if (!EVP_Digest(token, len, md, &n, EVP_sha256(), NULL) || n != 32)
		memset(md, 0, sizeof(md));	/* matches no stored hash */
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[STORE_HASH_HEX] = '\0';
}

static int store_name_ok(const char *s)
{
	return s && *s && strlen(s) < STORE_NAME_MAX;
}

int store_agent_add(struct store *s, const struct store_agent *a,
		    struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_AGENT_ADD];
	int rc;

	if (!store_name_ok(a->name) || !store_name_ok(a->team))
		return bot_fail(err, BOT_EINVAL, "cannot add agent '%s': name "
				"and team must have 1 to %d bytes", store_nz(a->name),
				STORE_NAME_MAX - 1);
	if (!a->role || (strcmp(a->role, "agent") && strcmp(a->role, "editor")))
		return bot_fail(err, BOT_EINVAL, "cannot add agent '%s': unknown "
				"role '%s'", a->name, store_nz(a->role));
	if (!a->token_hash || strlen(a->token_hash) != STORE_HASH_HEX ||
	    strspn(a->token_hash, "0123456789abcdef") != STORE_HASH_HEX)
		return bot_fail(err, BOT_EINVAL, "cannot add agent '%s': bad "
				"token hash", a->name);
	store_bind_text(st, 1, a->name);
	store_bind_text(st, 2, a->team);
	store_bind_text(st, 3, a->role);
	store_bind_text(st, 4, a->token_hash);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)(a->created ? a->created :
						  time(NULL)));
	rc = store_run(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return bot_fail(err, BOT_EAUTH, "agent '%s' exists already",
				a->name);
	if (rc != SQLITE_OK)
		return store_dberr(s, err, "cannot add agent", a->name);
	return BOT_OK;
}

int store_agent_remove(struct store *s, const char *name, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_AGENT_DEL];

	store_bind_text(st, 1, name);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot remove agent", name);
	if (sqlite3_changes(s->db) == 0)
		return bot_fail(err, BOT_ENOTFOUND, "no agent '%s'", store_nz(name));
	return BOT_OK;
}

int store_agent_each(struct store *s, store_agent_fn fn, void *arg,
		     struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_AGENT_ALL];
	struct store_agent a;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a.name = col_text(st, 0);
		a.team = col_text(st, 1);
		a.role = col_text(st, 2);
		a.token_hash = col_text(st, 3);
		a.created = (time_t)sqlite3_column_int64(st, 4);
		if (fn(arg, &a)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		rc = store_dberr(s, err, "cannot read agents", NULL);
	else
		rc = BOT_OK;
	store_done(st);
	return rc;
}

/* ---- the secret key for contacts ------------------------------------------------ */

static int store_unhex(const char *hex, unsigned char *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (strlen(hex) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
		lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int store_random(unsigned char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = getrandom(buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Create "<db>.key" with a fresh key, mode 0600; fails if it exists. */
static int store_key_create(struct store *s, const char *file,
			    struct bot_err *err)
{
	char hex[2 * STORE_KEY_LEN + 2];
	size_t i;
	int fd, ok;

	if (store_random(s->key, sizeof(s->key)))
		return bot_fail(err, BOT_EAUTH, "cannot make secret key: %s",
				strerror(errno));
	for (i = 0; i < STORE_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", s->key[i]);
	hex[2 * STORE_KEY_LEN] = '\n';
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return bot_fail(err, BOT_EAUTH, "cannot create key file '%s': %s",
				file, strerror(errno));
	ok = write(fd, hex, 2 * STORE_KEY_LEN + 1) == 2 * STORE_KEY_LEN + 1 &&
	     fsync(fd) == 0;
	ok = (close(fd) == 0) && ok;
	OPENSSL_cleanse(hex, sizeof(hex));
	if (!ok)
		return bot_fail(err, BOT_EAUTH, "cannot write key file '%s': %s",
				file, strerror(errno));
	return BOT_OK;
}

static int store_key_read(struct store *s, const char *file,
			  struct bot_err *err)
{
	char hex[2 * STORE_KEY_LEN + 8];
	ssize_t n;
	int fd, rc = BOT_OK;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bot_fail(err, BOT_EAUTH, "cannot open key file '%s': %s",
				file, strerror(errno));
	n = read(fd, hex, sizeof(hex) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	hex[n] = '\0';
	hex[strcspn(hex, "\r\n")] = '\0';
	if (store_unhex(hex, s->key, STORE_KEY_LEN))
		rc = bot_fail(err, BOT_EAUTH, "key file '%s' does not hold 64 "
			      "hex digits", file);
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

int store_key_load(struct store *s, struct bot_err *err)
{
	const char *env = getenv("AMTSBOT_SECRET_KEY");
	char file[4096];
	int rc;

	if (s->have_key)
		return BOT_OK;
	if (env && *env) {
		if (store_unhex(env, s->key, STORE_KEY_LEN))
			return bot_fail(err, BOT_EAUTH, "AMTSBOT_SECRET_KEY "
					"must be 64 hex digits");
		s->have_key = 1;
		return BOT_OK;
	}
	if ((size_t)snprintf(file, sizeof(file), "%s.key", s->path) >=
	    sizeof(file))
		return bot_fail(err, BOT_EAUTH, "database path too long");
	rc = access(file, F_OK) == 0 ? store_key_read(s, file, err) :
	     store_key_create(s, file, err);
	/* two processes may race to create it: read the winner's */
	if (rc && errno == EEXIST)
		rc = store_key_read(s, file, err);
	s->have_key = rc == BOT_OK;
	return rc;
}

/* ---- contact encryption ---------------------------------------------------------- */

/* out = nonce | ciphertext | tag; '*out_len' = len + 28. */
int store_seal(const struct store *s, int64_t id, const char *in,
	       size_t len, unsigned char *out, size_t *out_len)
{
	unsigned char *ct = out + STORE_NONCE_LEN;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ok;

	if (!c || store_random(out, STORE_NONCE_LEN)) {
		EVP_CIPHER_CTX_free(c);
		return -1;
	}
	ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, s->key, out) &&
	     EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)&id,
			       sizeof(id)) &&
	     EVP_EncryptUpdate(c, ct, &n, (const unsigned char *)in, (int)len) &&
	     EVP_EncryptFinal_ex(c, ct + n, &fin) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, STORE_TAG_LEN,
				 ct + n + fin);
	EVP_CIPHER_CTX_free(c);
	*out_len = STORE_NONCE_LEN + (size_t)(n + fin) + STORE_TAG_LEN;
	return ok ? 0 : -1;
}

/* The inverse of store_seal; 'out' has room for 'len' bytes; -1 when the
 * tag does not verify. */
int store_open_sealed(const struct store *s, int64_t id,
		      const unsigned char *in, size_t len, char *out,
		      size_t *out_len)
{
	size_t ct_len = len - STORE_NONCE_LEN - STORE_TAG_LEN;
	EVP_CIPHER_CTX *c;
	int n = 0, fin = 0, ok;

	if (len < STORE_NONCE_LEN + STORE_TAG_LEN)
		return -1;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -1;
	ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, s->key, in) &&
	     EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)&id,
			       sizeof(id)) &&
	     EVP_DecryptUpdate(c, (unsigned char *)out, &n,
			       in + STORE_NONCE_LEN, (int)ct_len) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, STORE_TAG_LEN,
				 (void *)(in + len - STORE_TAG_LEN)) &&
	     EVP_DecryptFinal_ex(c, (unsigned char *)out + n, &fin) > 0;
	EVP_CIPHER_CTX_free(c);
	*out_len = (size_t)(n + fin);
	return ok ? 0 : -1;
}

int store_handoff_set_contact(struct store *s, int64_t id, const char *contact,
			      size_t len, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_HANDOFF_CONTACT];
	unsigned char *blob = NULL;
	size_t n = 0;
	int rc;

	if (len > STORE_CONTACT_MAX)
		return bot_fail(err, BOT_ENOMEM, "contact of handoff %lld too "
				"long", (long long)id);
	if (len) {
		rc = store_key_load(s, err);
		if (rc)
			return rc;
		blob = bot_malloc(len + STORE_NONCE_LEN + STORE_TAG_LEN);
		if (!blob)
			return bot_fail(err, BOT_ENOMEM, "out of memory");
		if (store_seal(s, id, contact, len, blob, &n)) {
			bot_free(blob);
			return bot_fail(err, BOT_EAUTH, "cannot encrypt contact "
					"of handoff %lld", (long long)id);
		}
	}
	sqlite3_bind_int64(st, 1, id);
	if (blob)
		sqlite3_bind_blob(st, 2, blob, (int)n, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	rc = store_run(st);
	bot_free(blob);
	if (rc != SQLITE_OK)
		return store_dberr(s, err, "cannot store contact of handoff",
				   NULL);
	return BOT_OK;
}

/* ---- handoffs ------------------------------------------------------------------------ */

void store_bind_time(sqlite3_stmt *st, int i, time_t t)
{
	if (t)
		sqlite3_bind_int64(st, i, (sqlite3_int64)t);
	else
		sqlite3_bind_null(st, i);
}

int store_handoff_add(struct store *s, struct store_handoff *h,
		      struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_HANDOFF_ADD];

	if (!h->conv || !h->channel || !h->reason || !h->team || !h->state)
		return bot_fail(err, BOT_EINVAL, "cannot store handoff of "
				"conversation '%s': missing field", store_nz(h->conv));
	store_bind_text(st, 1, h->conv);
	store_bind_text(st, 2, h->channel);
	store_bind_text(st, 3, h->reason);
	store_bind_text(st, 4, h->team);
	store_bind_text(st, 5, h->state);
	store_bind_text(st, 6, h->agent);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)h->queued_at);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot store handoff of conversation",
				   h->conv);
	h->id = sqlite3_last_insert_rowid(s->db);
	return BOT_OK;
}

int store_handoff_update(struct store *s, const struct store_handoff *h,
			 struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_HANDOFF_UPDATE];

	sqlite3_bind_int64(st, 1, h->id);
	store_bind_text(st, 2, h->state);
	store_bind_text(st, 3, h->agent);
	store_bind_time(st, 4, h->claimed_at);
	store_bind_time(st, 5, h->ended_at);
	store_bind_text(st, 6, h->outcome);
	sqlite3_bind_int(st, 7, h->requeued != 0);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot update handoff of conversation",
				   h->conv);
	if (sqlite3_changes(s->db) == 0)
		return bot_fail(err, BOT_ENOTFOUND, "no handoff %lld",
				(long long)h->id);
	return BOT_OK;
}

static void store_row_handoff(sqlite3_stmt *st, struct store_handoff *h)
{
	memset(h, 0, sizeof(*h));
	h->id = sqlite3_column_int64(st, 0);
	h->conv = col_text(st, 1);
	h->channel = col_text(st, 2);
	h->reason = col_text(st, 3);
	h->team = col_text(st, 4);
	h->state = col_text(st, 5);
	h->agent = col_text(st, 6);
	h->queued_at = (time_t)sqlite3_column_int64(st, 7);
	h->claimed_at = (time_t)sqlite3_column_int64(st, 8);
	h->ended_at = (time_t)sqlite3_column_int64(st, 9);
	h->outcome = col_text(st, 10);
	h->requeued = sqlite3_column_int(st, 11);
}

/* Decrypt column 12 into a new string for h->contact (NULL if none). */
static char *store_row_contact(struct store *s, sqlite3_stmt *st,
			       struct store_handoff *h)
{
	const unsigned char *blob = sqlite3_column_blob(st, 12);
	size_t len = (size_t)sqlite3_column_bytes(st, 12), n = 0;
	struct bot_err err = { 0 };
	char *out;

	if (!blob || !len || store_key_load(s, &err))
		return NULL;
	out = bot_malloc(len + 1);
	if (!out)
		return NULL;
	if (store_open_sealed(s, h->id, blob, len, out, &n)) {
		bot_free(out);
		return NULL;
	}
	out[n] = '\0';
	h->contact = out;
	h->contact_len = n;
	return out;
}

int store_handoff_each(struct store *s, int all, store_handoff_fn fn,
		       void *arg, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[all ? ST_HANDOFF_ALL : ST_HANDOFF_OPEN];
	struct store_handoff h;
	char *contact;
	int rc, stop;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_row_handoff(st, &h);
		contact = all ? NULL : store_row_contact(s, st, &h);
		stop = fn(arg, &h);
		if (contact) {
			OPENSSL_cleanse(contact, h.contact_len);
			bot_free(contact);
		}
		if (stop) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		rc = store_dberr(s, err, "cannot read handoffs", NULL);
	else
		rc = BOT_OK;
	store_done(st);
	return rc;
}

int store_note_add(struct store *s, const char *conv, const char *agent,
		   const char *text, time_t now, struct bot_err *err)
{
	sqlite3_stmt *st = s->st[ST_NOTE_ADD];

	if (!conv || !agent || !text)
		return bot_fail(err, BOT_EINVAL, "cannot store note: missing field");
	store_bind_text(st, 1, conv);
	store_bind_text(st, 2, agent);
	store_bind_text(st, 3, text);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot store note in conversation",
				   conv);
	return BOT_OK;
}

/* ---- statements of the store's other files ---------------------------------- */

sqlite3_stmt *store_stmt(struct store *s, int slot, const char *sql,
			 struct bot_err *err)
{
	if (slot < 0 || slot >= STORE_EXT_STMTS) {
		bot_fail(err, BOT_EINVAL, "bad statement slot %d", slot);
		return NULL;
	}
	if (!s->ext[slot] &&
	    sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
			       &s->ext[slot], NULL) != SQLITE_OK) {
		store_dberr(s, err, "cannot prepare statement", sql);
		return NULL;
	}
	return s->ext[slot];
}
