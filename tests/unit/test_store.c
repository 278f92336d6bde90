/*
 * test_store.c - the SQLite store: schema, sequence numbers, dedup of
 * resent citizen messages, state, feedback, purge that really erases,
 * refusal of unknown schema versions and of broken files, crash safety.
 */
#define _GNU_SOURCE		/* memmem() */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "engine/bot.h"
#include "engine/store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static const char *const tmp_names[] = {
	"t.db", "t.db-wal", "t.db-shm", "t.db-journal",
	"child.db", "child.db-wal", "child.db-shm",
	"garbage.db", "garbage.db-wal", "garbage.db-shm", "garbage.db-journal",
};

static void fixture_path(const struct fixture *f, const char *name,
			 char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", f->dir, name);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];
	size_t i;

	store_close(&f->s);
	for (i = 0; i < BOT_ARRAY_SIZE(tmp_names); i++) {
		fixture_path(f, tmp_names[i], p, sizeof(p));
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static int setup(void **state)
{
	struct bot_err err = { 0 };
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	fixture_path(f, "t.db", f->path, sizeof(f->path));
	f->s = store_open(f->path, &err);
	if (!f->s) {
		fprintf(stderr, "store_open: %s\n", err.msg);
		teardown(state);
		return -1;
	}
	return 0;
}

static void reopen(struct fixture *f)
{
	struct bot_err err = { 0 };

	store_close(&f->s);
	assert_null(f->s);
	f->s = store_open(f->path, &err);
	if (!f->s)
		fail_msg("reopen: %s", err.msg);
}

static void new_conv(struct fixture *f, char *id)
{
	struct bot_err err = { 0 };

	assert_int_equal(store_conv_new(f->s, "web", 1000, id, &err), BOT_OK);
}

static int64_t add(struct fixture *f, const char *conv, const char *role,
		   const char *client_id, const char *text)
{
	struct bot_err err = { 0 };
	struct store_msg m = {
		.conv = conv, .role = role, .client_id = client_id,
		.text = text, .created = 2000,
	};

	if (store_msg_add(f->s, &m, &err))
		fail_msg("store_msg_add: %s", err.msg);
	assert_int_equal(m.duplicate, 0);
	return m.seq;
}

/* One SQL integer from the database file, through a connection of its own. */
static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(store_count(f->s, "conversations"), 0);
	assert_int_equal(store_count(f->s, "messages"), 0);
	assert_int_equal(store_count(f->s, "feedback"), 0);
	assert_int_equal(store_count(f->s, "suggestions"), 0);
	assert_int_equal(store_count(f->s, "sqlite_master"), -1);
	assert_int_equal(store_count(f->s, NULL), -1);
	store_close(&f->s);

	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 6);
	assert_int_equal(sql_int(f->path, "PRAGMA auto_vacuum"), 2);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	reopen(f);
}

static int is_lower_hex(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static void test_conv_ids_are_random_hex(void **state)
{
	struct fixture *f = *state;
	char a[STORE_ID_LEN + 1], b[STORE_ID_LEN + 1];
	int64_t last = -1;

	new_conv(f, a);
	new_conv(f, b);
	assert_int_equal(strlen(a), STORE_ID_LEN);
	assert_true(is_lower_hex(a));
	assert_true(is_lower_hex(b));
	assert_string_not_equal(a, b);
	/* Time prefix (1000 = 0x3e8), then 96 random bits. */
	assert_memory_equal(a, "000003e8", 8);
	assert_memory_equal(b, "000003e8", 8);
	assert_string_not_equal(a + 8, b + 8);
	assert_int_equal(store_conv_exists(f->s, a, &last, NULL), 1);
	assert_int_equal(last, 0);
	assert_int_equal(store_conv_exists(f->s, "0123456789abcdef0123456789abcdef",
					   &last, NULL), 0);
}

static void test_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	char id[STORE_ID_LEN + 1];
	int64_t last = 0;

	new_conv(f, id);
	add(f, id, "citizen", "c1", "wann hat das Bürgerbüro offen");
	add(f, id, "bot", NULL, "Montag bis Freitag");
	reopen(f);
	assert_int_equal(store_conv_exists(f->s, id, &last, NULL), 1);
	assert_int_equal(last, 2);
	assert_int_equal(store_count(f->s, "messages"), 2);
	/* The next seq goes on from the stored one. */
	assert_int_equal(add(f, id, "citizen", "c2", "danke"), 3);
}

static void test_seq_per_conversation(void **state)
{
	struct fixture *f = *state;
	char a[STORE_ID_LEN + 1], b[STORE_ID_LEN + 1];
	int64_t last = 0;

	new_conv(f, a);
	new_conv(f, b);
	assert_int_equal(add(f, a, "citizen", "x", "1"), 1);
	assert_int_equal(add(f, a, "bot", NULL, "2"), 2);
	assert_int_equal(add(f, b, "citizen", "x", "1"), 1);
	assert_int_equal(add(f, a, "system", NULL, "3"), 3);
	assert_int_equal(add(f, b, "agent", NULL, "2"), 2);
	assert_int_equal(store_conv_exists(f->s, a, &last, NULL), 1);
	assert_int_equal(last, 3);
	assert_int_equal(store_conv_exists(f->s, b, &last, NULL), 1);
	assert_int_equal(last, 2);
}

static void test_msg_add_bad_input(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	struct store_msg m = { .conv = "nope", .role = "citizen", .text = "x" };

	assert_int_equal(store_msg_add(f->s, &m, &err), BOT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "'nope'"));
	assert_int_equal(m.seq, 0);
	m.role = "admin";
	assert_int_equal(store_msg_add(f->s, &m, &err), BOT_EINVAL);
	m.role = NULL;
	assert_int_equal(store_msg_add(f->s, &m, &err), BOT_EINVAL);
	assert_int_equal(store_count(f->s, "messages"), 0);
	assert_false(store_in_transaction(f->s));
}

static void test_client_id_dedup(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char id[STORE_ID_LEN + 1], other[STORE_ID_LEN + 1];
	struct store_msg m = { .role = "citizen", .client_id = "m-1",
			       .text = "resent" };
	int64_t last = 0;

	new_conv(f, id);
	new_conv(f, other);
	assert_int_equal(add(f, id, "citizen", "m-1", "first"), 1);
	assert_int_equal(add(f, id, "bot", NULL, "answer"), 2);
	m.conv = id;
	assert_int_equal(store_msg_add(f->s, &m, &err), BOT_OK);
	assert_int_equal(m.duplicate, 1);
	assert_int_equal(m.seq, 1);
	assert_int_equal(store_count(f->s, "messages"), 2);
	assert_int_equal(store_conv_exists(f->s, id, &last, NULL), 1);
	assert_int_equal(last, 2);
	/* The same client id in another conversation is another message. */
	assert_int_equal(add(f, other, "citizen", "m-1", "first"), 1);
}

static void test_msg_seen(void **state)
{
	struct fixture *f = *state;
	char id[STORE_ID_LEN + 1];
	int64_t reply = -1;

	new_conv(f, id);
	assert_int_equal(store_msg_seen(f->s, id, "a", &reply, NULL), 0);
	assert_int_equal(reply, 0);
	add(f, id, "citizen", "a", "frage a");
	assert_int_equal(store_msg_seen(f->s, id, "a", &reply, NULL), 1);
	assert_int_equal(reply, 0);
	add(f, id, "bot", NULL, "antwort a");
	assert_int_equal(store_msg_seen(f->s, id, "a", &reply, NULL), 1);
	assert_int_equal(reply, 2);
	/* b then c without a reply in between: b was not answered on its own. */
	add(f, id, "citizen", "b", "frage b");
	add(f, id, "citizen", "c", "frage c");
	add(f, id, "agent", NULL, "antwort c");
	assert_int_equal(store_msg_seen(f->s, id, "b", &reply, NULL), 1);
	assert_int_equal(reply, 0);
	assert_int_equal(store_msg_seen(f->s, id, "c", &reply, NULL), 1);
	assert_int_equal(reply, 5);
	assert_int_equal(store_msg_seen(f->s, id, "zzz", &reply, NULL), 0);
	assert_int_equal(store_msg_seen(f->s, "other", "a", &reply, NULL), 0);
}

struct collect {
	int n;
	int stop_after;
	int64_t seqs[8];
	char texts[8][32];
	char intent[32];
	double confidence;
	int nulls_ok;
};

static int collect_fn(void *arg, const struct store_msg *m)
{
	struct collect *c = arg;

	if (c->n < 8) {
		c->seqs[c->n] = m->seq;
		snprintf(c->texts[c->n], sizeof(c->texts[0]), "%s",
			 m->text ? m->text : "(null)");
	}
	if (m->seq == 2) {
		snprintf(c->intent, sizeof(c->intent), "%s", m->intent);
		c->confidence = m->confidence;
		c->nulls_ok = m->client_id == NULL && m->handoff_reason == NULL &&
			      m->created == 2000 && !strcmp(m->role, "bot") &&
			      !strcmp(m->payload, "{\"t\":1}") &&
			      !strcmp(m->office, "buergerbuero");
	}
	c->n++;
	return c->stop_after && c->n >= c->stop_after;
}

static void test_msgs_after(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char id[STORE_ID_LEN + 1], other[STORE_ID_LEN + 1];
	struct store_msg bot = {
		.role = "bot", .text = "zwei", .intent = "buergerbuero.zeiten",
		.service = "zeiten", .office = "buergerbuero", .confidence = 0.75,
		.payload = "{\"t\":1}", .created = 2000,
	};
	struct collect c = { 0 };

	new_conv(f, id);
	new_conv(f, other);
	add(f, id, "citizen", "1", "eins");
	bot.conv = id;
	assert_int_equal(store_msg_add(f->s, &bot, &err), BOT_OK);
	add(f, other, "citizen", "1", "fremd");
	add(f, id, "citizen", "3", "drei");
	add(f, id, "bot", NULL, NULL);

	assert_int_equal(store_msgs_after(f->s, id, 0, collect_fn, &c, &err), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.seqs[0], 1);
	assert_int_equal(c.seqs[3], 4);
	assert_string_equal(c.texts[1], "zwei");
	assert_string_equal(c.texts[3], "(null)");
	assert_string_equal(c.intent, "buergerbuero.zeiten");
	assert_true(c.confidence > 0.74 && c.confidence < 0.76);
	assert_true(c.nulls_ok);

	memset(&c, 0, sizeof(c));
	assert_int_equal(store_msgs_after(f->s, id, 2, collect_fn, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seqs[0], 3);
	assert_string_equal(c.texts[0], "drei");

	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(store_msgs_after(f->s, id, 0, collect_fn, &c, &err), 0);
	assert_int_equal(c.n, 1);
	/* The statement was reset after stopping early: it works again. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_msgs_after(f->s, id, 3, collect_fn, &c, &err), 0);
	assert_int_equal(c.n, 1);
}

static void test_state_round_trip(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char id[STORE_ID_LEN + 1];
	unsigned char blob[300], out[300], small[4];
	size_t len = 99, i;

	new_conv(f, id);
	assert_int_equal(store_conv_get_state(f->s, id, out, sizeof(out), &len,
					      &err), BOT_OK);
	assert_int_equal(len, 0);
	for (i = 0; i < sizeof(blob); i++)
		blob[i] = (unsigned char)(i * 7);	/* includes NUL bytes */
	assert_int_equal(store_conv_set_state(f->s, id, blob, sizeof(blob), &err),
			 BOT_OK);
	reopen(f);
	assert_int_equal(store_conv_get_state(f->s, id, out, sizeof(out), &len,
					      &err), BOT_OK);
	assert_int_equal(len, sizeof(blob));
	assert_memory_equal(out, blob, sizeof(blob));
	/* A short buffer gets a prefix and the full length. */
	assert_int_equal(store_conv_get_state(f->s, id, small, sizeof(small),
					      &len, &err), BOT_OK);
	assert_int_equal(len, sizeof(blob));
	assert_memory_equal(small, blob, sizeof(small));

	assert_int_equal(store_conv_set_state(f->s, "nope", blob, 3, &err),
			 BOT_ENOTFOUND);
	assert_int_equal(store_conv_get_state(f->s, "nope", out, sizeof(out),
					      &len, &err), BOT_ENOTFOUND);
}

static void test_feedback(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char id[STORE_ID_LEN + 1];

	new_conv(f, id);
	add(f, id, "citizen", "q", "frage");
	add(f, id, "bot", NULL, "antwort");
	assert_int_equal(store_feedback(f->s, id, 9, 1, 3000, &err), BOT_ENOTFOUND);
	assert_non_null(strstr(err.msg, id));
	assert_int_equal(store_feedback(f->s, id, 1, 1, 3000, &err), BOT_ENOTFOUND);
	assert_int_equal(store_feedback(f->s, "nope", 2, 1, 3000, &err),
			 BOT_ENOTFOUND);
	assert_int_equal(store_feedback(f->s, id, 2, 1, 3000, &err), BOT_OK);
	assert_int_equal(store_feedback(f->s, id, 2, 0, 3001, &err), BOT_OK);
	assert_int_equal(store_count(f->s, "feedback"), 1);
	store_close(&f->s);
	assert_int_equal(sql_int(f->path, "SELECT helpful FROM feedback"), 0);
	reopen(f);
}

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char id[STORE_ID_LEN + 1];

	new_conv(f, id);
	assert_false(store_in_transaction(f->s));
	assert_int_equal(store_begin(f->s, &err), BOT_OK);
	assert_int_equal(store_begin(f->s, &err), BOT_OK);	/* no-op */
	assert_true(store_in_transaction(f->s));
	add(f, id, "citizen", "a", "weg");
	add(f, id, "bot", NULL, "weg");
	store_rollback(f->s);
	assert_false(store_in_transaction(f->s));
	assert_int_equal(store_count(f->s, "messages"), 0);

	assert_int_equal(store_begin(f->s, &err), BOT_OK);
	assert_int_equal(add(f, id, "citizen", "a", "bleibt"), 1);
	assert_int_equal(add(f, id, "bot", NULL, "bleibt"), 2);
	assert_int_equal(store_commit(f->s, &err), BOT_OK);
	assert_int_equal(store_commit(f->s, &err), BOT_OK);	/* no-op */
	assert_false(store_in_transaction(f->s));
	reopen(f);
	assert_int_equal(store_count(f->s, "messages"), 2);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	*len = 0;
	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 &&
	    fseek(fp, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf)
			*len = fread(buf, 1, (size_t)n, fp);
	}
	fclose(fp);
	return buf;
}

/* Does 'marker' occur in the database file or its WAL? */
static int files_contain(const struct fixture *f, const char *marker)
{
	static const char *const names[] = { "t.db", "t.db-wal" };
	char p[160];
	size_t i, len;
	char *buf;
	int found = 0;

	for (i = 0; i < BOT_ARRAY_SIZE(names); i++) {
		fixture_path(f, names[i], p, sizeof(p));
		buf = slurp(p, &len);
		if (buf && memmem(buf, len, marker, strlen(marker)))
			found = 1;
		free(buf);
	}
	return found;
}

static void test_purge_erases_text(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char old[STORE_ID_LEN + 1], fresh[STORE_ID_LEN + 1];
	struct store_msg m = { .role = "citizen", .client_id = "cid-MARKCLIENT",
			       .text = "meine Frage MARKERXYZZY123", .created = 100 };
	int64_t n = -1;
	char p[160];
	size_t len;
	int i;

	assert_int_equal(store_conv_new(f->s, "web", 100, old, &err), BOT_OK);
	assert_int_equal(store_conv_new(f->s, "web", 5000, fresh, &err), BOT_OK);
	m.conv = old;
	assert_int_equal(store_msg_add(f->s, &m, &err), BOT_OK);
	/*
	 * Old and fresh rows alternate, so the pages that held old text stay
	 * in use after the purge: only secure_delete clears the text there.
	 * One transaction, so no automatic checkpoint cleans the WAL for us.
	 */
	assert_int_equal(store_begin(f->s, &err), BOT_OK);
	for (i = 0; i < 100; i++) {
		struct store_msg b = { .conv = old, .role = "bot", .created = 100,
				       .text = "Antwort MARKERXYZZY123 mit etwas "
					       "mehr Text, damit Seiten voll werden" };
		assert_int_equal(store_msg_add(f->s, &b, &err), BOT_OK);
		add(f, fresh, "bot", NULL, "bleibt");
	}
	assert_int_equal(store_commit(f->s, &err), BOT_OK);
	assert_int_equal(store_conv_set_state(f->s, old, "STATEMARK42", 11, &err),
			 BOT_OK);
	assert_int_equal(store_feedback(f->s, old, 2, 1, 100, &err), BOT_OK);
	assert_int_equal(store_suggestion(f->s, old, "web", "SUGGMARK77", 100,
					  &err), BOT_OK);
	assert_true(files_contain(f, "MARKERXYZZY123"));
	assert_true(files_contain(f, "SUGGMARK77"));

	assert_int_equal(store_purge(f->s, 1000, &n, &err), BOT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_conv_exists(f->s, old, NULL, NULL), 0);
	assert_int_equal(store_conv_exists(f->s, fresh, NULL, NULL), 1);
	assert_int_equal(store_count(f->s, "messages"), 100);
	assert_int_equal(store_count(f->s, "feedback"), 0);
	assert_int_equal(store_count(f->s, "suggestions"), 0);
	assert_false(files_contain(f, "MARKERXYZZY123"));
	assert_false(files_contain(f, "MARKCLIENT"));
	assert_false(files_contain(f, "STATEMARK42"));
	assert_false(files_contain(f, "SUGGMARK77"));
	assert_true(files_contain(f, "bleibt"));
	/* The WAL was truncated, the file gave back the freed pages. */
	fixture_path(f, "t.db-wal", p, sizeof(p));
	free(slurp(p, &len));
	assert_int_equal(len, 0);
	assert_int_equal(sql_int(f->path, "PRAGMA freelist_count"), 0);

	/* Inside a transaction purge is refused. */
	assert_int_equal(store_begin(f->s, &err), BOT_OK);
	assert_int_equal(store_purge(f->s, 1000, &n, &err), BOT_EINVAL);
	assert_int_equal(store_commit(f->s, &err), BOT_OK);
}

/*
 * A database of schema version 4 (messages keyed by the text id) is
 * migrated to 5 and 6 on open: messages, feedback and the purge keep
 * working.  The test turns a fresh database back into the version 4
 * shape of the tables migrations 5 and 6 rewrite.
 */
static const char v4_shape[] =
	"DROP TABLE messages;"
	"DROP TABLE feedback;"
	"DROP TABLE meta;"
	"DROP INDEX conversations_num;"
	"ALTER TABLE conversations DROP COLUMN num;"
	"ALTER TABLE conversations DROP COLUMN head;"
	"CREATE TABLE messages (conv TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  role TEXT NOT NULL, client_id TEXT, text TEXT, intent TEXT,"
	"  service TEXT, office TEXT, confidence REAL, handoff_reason TEXT,"
	"  payload TEXT, state BLOB, created INTEGER NOT NULL, answer INTEGER,"
	"  netiquette TEXT, closest TEXT, PRIMARY KEY (conv, seq));"
	"CREATE INDEX messages_created ON messages(created, role, intent,"
	"  service, netiquette, handoff_reason);"
	"CREATE TRIGGER conversations_delete AFTER DELETE ON conversations"
	"  BEGIN DELETE FROM messages WHERE conv = old.id; END;"
	"CREATE TABLE feedback (conv TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  helpful INTEGER NOT NULL, created INTEGER NOT NULL,"
	"  PRIMARY KEY (conv, seq), FOREIGN KEY (conv, seq)"
	"  REFERENCES messages(conv, seq) ON DELETE CASCADE);"
	"INSERT INTO conversations (id, channel, created, updated, last_seq)"
	"  VALUES ('00000001aaaaaaaaaaaaaaaaaaaaaaaa', 'web', 1000, 1000, 2),"
	"  ('00000002bbbbbbbbbbbbbbbbbbbbbbbb', 'web', 1000, 1000, 1);"
	"INSERT INTO messages (conv, seq, role, client_id, text, intent,"
	"  office, confidence, payload, created) VALUES"
	"  ('00000001aaaaaaaaaaaaaaaaaaaaaaaa', 1, 'citizen', 'c1', 'eins',"
	"   NULL, NULL, 0, NULL, 2000),"
	"  ('00000001aaaaaaaaaaaaaaaaaaaaaaaa', 2, 'bot', NULL, 'zwei',"
	"   'kosten', 'buergerbuero', 0.75, '{\"t\":1}', 2000),"
	"  ('00000002bbbbbbbbbbbbbbbbbbbbbbbb', 1, 'citizen', NULL, 'fremd',"
	"   NULL, NULL, 0, NULL, 2000);"
	"INSERT INTO feedback VALUES ('00000001aaaaaaaaaaaaaaaaaaaaaaaa', 2,"
	"  1, 2100);"
	"PRAGMA user_version=4;";

static void test_migrate_from_v4(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	const char *a = "00000001aaaaaaaaaaaaaaaaaaaaaaaa";
	struct collect c = { 0 };
	int64_t reply = 0, n = 0;
	sqlite3 *db;

	store_close(&f->s);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	if (sqlite3_exec(db, v4_shape, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("v4 shape: %s", sqlite3_errmsg(db));
	sqlite3_close(db);
	reopen(f);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 6);
	assert_int_equal(store_count(f->s, "messages"), 3);
	/* the chain: each message points to its conversation's one before */
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM messages m"
				 " JOIN messages p ON p.id = m.prev"
				 " AND p.conv = m.conv AND p.seq = m.seq - 1"), 1);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM feedback f"
				 " JOIN messages m ON m.id = f.msg"
				 " WHERE m.text = 'zwei'"), 1);
	assert_int_equal(store_count(f->s, "feedback"), 1);

	/* read, dedup and append as before the migration */
	assert_int_equal(store_msgs_after(f->s, a, 0, collect_fn, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.texts[0], "eins");
	assert_string_equal(c.texts[1], "zwei");
	assert_string_equal(c.intent, "kosten");
	assert_true(c.nulls_ok);
	assert_int_equal(store_msg_seen(f->s, a, "c1", &reply, &err), 1);
	assert_int_equal(reply, 2);
	assert_int_equal(add(f, a, "citizen", "c3", "drei"), 3);

	/* the purge: messages and feedback go with their age */
	assert_int_equal(store_purge(f->s, 3000, &n, &err), BOT_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_count(f->s, "messages"), 0);
	assert_int_equal(store_count(f->s, "feedback"), 0);
}

static void test_newer_version_refused(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	sqlite3 *db;

	store_close(&f->s);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(f->path, &err));
	assert_int_equal(err.rc, BOT_EDB);
	assert_non_null(strstr(err.msg, "schema version 99"));
	assert_non_null(strstr(err.msg, f->path));
	/* The file was not touched. */
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 99);
}

static void test_corrupt_file(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char p[160], junk[8192];
	FILE *fp;
	size_t i;

	fixture_path(f, "garbage.db", p, sizeof(p));
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)("Das ist keine Datenbank. "[i % 25] ^ (i & 3));
	fp = fopen(p, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);
	assert_null(store_open(p, &err));
	assert_int_equal(err.rc, BOT_EDB);
	assert_non_null(strstr(err.msg, "cannot open database"));
	assert_non_null(strstr(err.msg, "garbage.db"));
	assert_non_null(strstr(err.msg, "not a database"));

	/* A directory that does not exist. */
	memset(&err, 0, sizeof(err));
	fixture_path(f, "no/such/dir.db", p, sizeof(p));
	assert_null(store_open(p, &err));
	assert_int_equal(err.rc, BOT_EDB);
	assert_non_null(strstr(err.msg, "no/such/dir.db"));
}

/* Child: store, commit, store more without committing, then die as from
 * kill -9 (no close, no exit handlers). */
static void crash_child(const char *path, int fd)
{
	struct bot_err err = { 0 };
	struct store *s = store_open(path, &err);
	char id[STORE_ID_LEN + 1];
	struct store_msg a = { .role = "citizen", .client_id = "1",
			       .text = "committed", .created = 10 };
	struct store_msg b = { .role = "citizen", .client_id = "2",
			       .text = "lost", .created = 11 };

	if (!s || store_conv_new(s, "web", 10, id, &err))
		_exit(1);
	a.conv = b.conv = id;
	if (store_begin(s, &err) || store_msg_add(s, &a, &err) ||
	    store_commit(s, &err))
		_exit(2);
	if (store_begin(s, &err) || store_msg_add(s, &b, &err))
		_exit(3);
	if (write(fd, id, STORE_ID_LEN) != STORE_ID_LEN)
		_exit(4);
	kill(getpid(), SIGKILL);
	_exit(5);
}

static int only_text(void *arg, const struct store_msg *m)
{
	snprintf(arg, 32, "%s", m->text);
	return 0;
}

static void test_crash_keeps_committed(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char p[160], id[STORE_ID_LEN + 1] = { 0 }, text[32] = { 0 };
	struct store *s;
	int fds[2], status;
	int64_t last = 0;
	pid_t pid;

	fixture_path(f, "child.db", p, sizeof(p));
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_child(p, fds[1]);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], id, STORE_ID_LEN), STORE_ID_LEN);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);

	s = store_open(p, &err);
	if (!s)
		fail_msg("reopen after crash: %s", err.msg);
	assert_int_equal(store_conv_exists(s, id, &last, &err), 1);
	assert_int_equal(last, 1);
	assert_int_equal(store_count(s, "messages"), 1);
	assert_int_equal(store_msgs_after(s, id, 0, only_text, text, &err), 0);
	assert_string_equal(text, "committed");
	store_close(&s);
}

static void test_suggestion(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };

	assert_int_equal(store_suggestion(f->s, NULL, "web", "mehr Parkplätze",
					  4000, &err), BOT_OK);
	assert_int_equal(store_suggestion(f->s, NULL, NULL, NULL, 4000, &err),
			 BOT_EINVAL);
	assert_int_equal(store_count(f->s, "suggestions"), 1);
}

/* Duplicates are found after a restart too (the recent client ids are
 * read back from the database), and a rollback forgets what it undid. */
static void test_client_id_dedup_restart(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char id[STORE_ID_LEN + 1];
	struct store_msg m = { .role = "citizen", .client_id = "m-1",
			       .text = "resent" };
	int64_t reply = 0;

	new_conv(f, id);
	assert_int_equal(add(f, id, "citizen", "m-1", "first"), 1);
	assert_int_equal(add(f, id, "bot", NULL, "answer"), 2);
	assert_int_equal(store_begin(f->s, &err), BOT_OK);
	assert_int_equal(add(f, id, "citizen", "m-2", "rolled back"), 3);
	store_rollback(f->s);
	assert_int_equal(store_msg_seen(f->s, id, "m-2", &reply, &err), 0);
	reopen(f);
	m.conv = id;
	assert_int_equal(store_msg_add(f->s, &m, &err), BOT_OK);
	assert_int_equal(m.duplicate, 1);
	assert_int_equal(m.seq, 1);
	assert_int_equal(store_msg_seen(f->s, id, "m-1", &reply, &err), 1);
	assert_int_equal(reply, 2);
	assert_int_equal(add(f, id, "citizen", "m-2", "new"), 3);
	assert_int_equal(store_count(f->s, "messages"), 3);
}

struct frames {
	int n;
	char payload[4][256];
	char text[4][64];
};

static int frames_fn(void *arg, const struct store_msg *m)
{
	struct frames *fr = arg;

	if (fr->n < 4 && !strcmp(m->role, "bot")) {
		snprintf(fr->payload[fr->n], sizeof(fr->payload[0]), "%s",
			 m->payload ? m->payload : "(null)");
		snprintf(fr->text[fr->n], sizeof(fr->text[0]), "%s",
			 m->text ? m->text : "(null)");
		fr->n++;
	}
	return 0;
}

/* Answer frames are stored once per distinct body, and read back whole. */
static void test_answers_stored_once(void **state)
{
	static const char body[] = ",\"intent\":\"kosten\",\"answer\":"
		"\"Ein Reisepass kostet 70 Euro.\",\"quick_replies\":[]}";
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char id[STORE_ID_LEN + 1], p[4][256];
	struct store_msg a = { .role = "bot", .text = "Ein Reisepass kostet "
			       "70 Euro.", .intent = "kosten", .created = 2000 };
	struct frames fr = { 0 };
	const char *reply_to[3] = { "\"q-1\"", "null", "\"q\\\"3\"" };
	int i;

	new_conv(f, id);
	a.conv = id;
	for (i = 0; i < 3; i++) {
		add(f, id, "citizen", NULL, "was kostet ein pass");
		snprintf(p[i], sizeof(p[i]), "{\"type\":\"answer\",\"seq\":%d,"
			 "\"reply_to\":%s%s", 2 * i + 2, reply_to[i], body);
		a.payload = p[i];
		assert_int_equal(store_msg_add(f->s, &a, &err), BOT_OK);
		assert_int_equal(a.seq, 2 * i + 2);
	}
	/* a frame of another form is kept as it is */
	a.payload = "{\"type\":\"answer\",\"seq\":99,\"reply_to\":null}";
	assert_int_equal(store_msg_add(f->s, &a, &err), BOT_OK);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM answers"), 1);
	reopen(f);
	assert_int_equal(store_msgs_after(f->s, id, 0, frames_fn, &fr, &err),
			 BOT_OK);
	assert_int_equal(fr.n, 4);
	for (i = 0; i < 3; i++) {
		assert_string_equal(fr.payload[i], p[i]);
		assert_string_equal(fr.text[i], "Ein Reisepass kostet 70 Euro.");
	}
	assert_string_equal(fr.payload[3],
			    "{\"type\":\"answer\",\"seq\":99,\"reply_to\":null}");
	/* the purge takes the answers with the last message */
	assert_int_equal(store_purge(f->s, 3000, NULL, &err), BOT_OK);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM answers"), 0);
}

/* ---- conversations as chains of messages (schema 6) ------------------------ */

#define CHAIN_CONVS 40	/* more than the heads saved per commit */

typedef char conv_id[STORE_ID_LEN + 1];

struct chain_check {
	int64_t next;	/* the seq expected next */
	int bad;
};

static int chain_fn(void *arg, const struct store_msg *m)
{
	struct chain_check *c = arg;
	char want[24];

	snprintf(want, sizeof(want), "m%lld", (long long)c->next);
	if (m->seq != c->next || !m->text || strcmp(m->text, want))
		c->bad++;
	c->next++;
	return 0;
}

/* The last seq of 'id', whose messages must read back as "m<seq>" in
 * order from 'first' on. */
static int64_t chain_read(struct store *s, const char *id, int64_t first)
{
	struct bot_err err = { 0 };
	struct chain_check c = { first, 0 };

	assert_int_equal(store_msgs_after(s, id, 0, chain_fn, &c, &err), BOT_OK);
	assert_int_equal(c.bad, 0);
	return c.next - 1;
}

static int chain_add(struct store *s, const char *id, int64_t seq,
		     time_t created)
{
	struct bot_err err = { 0 };
	char text[24];
	struct store_msg m = { .conv = id, .role = "citizen", .text = text,
			       .created = created };

	snprintf(text, sizeof(text), "m%lld", (long long)seq);
	return store_msg_add(s, &m, &err) || m.seq != seq;
}

/* Rounds of one message per conversation, a transaction each: most heads
 * stay unsaved in memory. */
static int chain_rounds(struct store *s, conv_id *ids, int n, int64_t from,
			int64_t to)
{
	struct bot_err err = { 0 };
	int64_t seq;
	int i;

	for (seq = from; seq <= to; seq++) {
		if (store_begin(s, &err))
			return -1;
		for (i = 0; i < n; i++)
			if (chain_add(s, ids[i], seq, 2000))
				return -1;
		if (store_commit(s, &err))
			return -1;
	}
	return 0;
}

static int chain_new(struct store *s, conv_id *ids, int n)
{
	struct bot_err err = { 0 };
	int i;

	for (i = 0; i < n; i++)
		if (store_conv_new(s, "web", 1000, ids[i], &err))
			return -1;
	return 0;
}

static void crash_chains_child(const char *path, int fd)
{
	struct bot_err err = { 0 };
	struct store *s = store_open(path, &err);
	conv_id ids[CHAIN_CONVS];

	if (!s || chain_new(s, ids, CHAIN_CONVS) ||
	    chain_rounds(s, ids, CHAIN_CONVS, 1, 5))
		_exit(1);
	if (write(fd, ids, sizeof(ids)) != (ssize_t)sizeof(ids))
		_exit(2);
	kill(getpid(), SIGKILL);
	_exit(3);
}

/* After kill -9 most heads were only in memory: reopening links every
 * message up again, and new messages continue each chain. */
static void test_crash_repairs_chains(void **state)
{
	struct fixture *f = *state;
	conv_id ids[CHAIN_CONVS];
	int fds[2], status, i;
	pid_t pid;

	store_close(&f->s);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_chains_child(f->path, fds[1]);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], ids, sizeof(ids)), (ssize_t)sizeof(ids));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	/* the child saved few heads: most are behind */
	assert_true(sql_int(f->path, "SELECT count(*) FROM conversations"
			    " WHERE head IS NULL OR head NOT IN (SELECT max(id)"
			    " FROM messages GROUP BY conv)") > CHAIN_CONVS / 2);

	reopen(f);
	for (i = 0; i < CHAIN_CONVS; i++)
		assert_int_equal(chain_read(f->s, ids[i], 1), 5);
	assert_int_equal(chain_rounds(f->s, ids, CHAIN_CONVS, 6, 6), 0);
	reopen(f);
	for (i = 0; i < CHAIN_CONVS; i++)
		assert_int_equal(chain_read(f->s, ids[i], 1), 6);
	assert_int_equal(store_count(f->s, "messages"), 6 * CHAIN_CONVS);
}

/* A rollback undoes heads saved in its transaction: nothing is lost from
 * the chains and the next messages continue them. */
static void test_rollback_keeps_chains(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	conv_id ids[CHAIN_CONVS];
	int i;

	assert_int_equal(chain_new(f->s, ids, CHAIN_CONVS), 0);
	assert_int_equal(chain_rounds(f->s, ids, CHAIN_CONVS, 1, 5), 0);
	assert_int_equal(store_begin(f->s, &err), BOT_OK);
	for (i = 0; i < CHAIN_CONVS; i++)
		assert_int_equal(chain_add(f->s, ids[i], 6, 2000), 0);
	store_rollback(f->s);
	for (i = 0; i < CHAIN_CONVS; i++)
		assert_int_equal(chain_read(f->s, ids[i], 1), 5);
	assert_int_equal(chain_rounds(f->s, ids, CHAIN_CONVS, 6, 7), 0);
	for (i = 0; i < CHAIN_CONVS; i++)
		assert_int_equal(chain_read(f->s, ids[i], 1), 7);
	reopen(f);
	for (i = 0; i < CHAIN_CONVS; i++)
		assert_int_equal(chain_read(f->s, ids[i], 1), 7);
}

/* More conversations than the table in memory holds (it is emptied when
 * half full): the heads are saved first. */
#define CHAIN_MANY 16500

static void test_many_conversations(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	conv_id *ids = calloc(CHAIN_MANY, sizeof(*ids));
	int i;

	assert_non_null(ids);
	assert_int_equal(store_begin(f->s, &err), BOT_OK);
	assert_int_equal(chain_new(f->s, ids, CHAIN_MANY), 0);
	assert_int_equal(chain_rounds(f->s, ids, CHAIN_MANY, 1, 2), 0);
	assert_int_equal(store_commit(f->s, &err), BOT_OK);
	for (i = 0; i < CHAIN_MANY; i += 997)
		assert_int_equal(chain_read(f->s, ids[i], 1), 2);
	assert_int_equal(chain_add(f->s, ids[0], 3, 2000), 0);
	reopen(f);
	assert_int_equal(chain_read(f->s, ids[0], 1), 3);
	assert_int_equal(chain_read(f->s, ids[CHAIN_MANY - 1], 1), 2);
	free(ids);
}

/* Messages age on their own: a conversation that goes on keeps its
 * recent messages, and its chain ends where the old ones were. */
static void test_purge_by_message_age(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	conv_id id;
	int64_t n = -1;

	assert_int_equal(chain_new(f->s, &id, 1), 0);
	assert_int_equal(chain_add(f->s, id, 1, 500), 0);
	assert_int_equal(chain_add(f->s, id, 2, 900), 0);
	assert_int_equal(chain_add(f->s, id, 3, 5000), 0);
	assert_int_equal(store_feedback(f->s, id, 2, 1, 950, &err), BOT_ENOTFOUND);
	assert_int_equal(store_purge(f->s, 1000, &n, &err), BOT_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_count(f->s, "messages"), 1);
	assert_int_equal(chain_read(f->s, id, 3), 3);
	assert_int_equal(chain_add(f->s, id, 4, 5001), 0);
	reopen(f);
	assert_int_equal(chain_read(f->s, id, 3), 4);
	assert_int_equal(store_purge(f->s, 6000, &n, &err), BOT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_count(f->s, "messages"), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_schema),
		T(test_migrate_from_v4),
		T(test_conv_ids_are_random_hex),
		T(test_reopen_keeps_data),
		T(test_seq_per_conversation),
		T(test_msg_add_bad_input),
		T(test_client_id_dedup),
		T(test_client_id_dedup_restart),
		T(test_answers_stored_once),
		T(test_msg_seen),
		T(test_msgs_after),
		T(test_state_round_trip),
		T(test_feedback),
		T(test_transactions),
		T(test_purge_erases_text),
		T(test_newer_version_refused),
		T(test_corrupt_file),
		T(test_crash_keeps_committed),
		T(test_suggestion),
		T(test_crash_repairs_chains),
		T(test_rollback_keeps_chains),
		T(test_many_conversations),
		T(test_purge_by_message_age),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
