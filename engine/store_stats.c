/*
 * store_stats.c - what the editors' statistics read and keep: the
 * netiquette verdict and the closest intent of each bot message, the
 * figures of a period (live rows plus the daily aggregates of purged
 * ones), unanswered questions, suggestions, and the purge that folds
 * conversations into text-free aggregates before deleting them.
 */
#include "bot.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "stats.h"
#include "store_int.h"
#include "banned.h"

/*
 * messages_created becomes a covering index for the statistics: one
 * range scan over (created, role, intent, ...) reads a period without
 * touching the rows with their text and payload (a million messages in
 * well under a second).  It replaces the index on created alone, so a
 * write still updates the same number of indexes.
 */
const char store_migration_stats[] =
	"ALTER TABLE messages ADD COLUMN netiquette TEXT;"
	"ALTER TABLE messages ADD COLUMN closest TEXT;"
	"DROP INDEX messages_created;"
	"CREATE INDEX messages_created ON messages(created, role, intent,"
	"  service, netiquette, handoff_reason);"
	"CREATE TABLE stats_daily ("
	"  day TEXT NOT NULL,"		/* YYYY-MM-DD, local time */
	"  key TEXT NOT NULL,"		/* e.g. 'messages', 'intent:kosten' */
	"  n INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (day, key)) WITHOUT ROWID;";

enum {
	SS_MSG_NOTE,
	SS_MSGS,
	SS_CHANNELS,
	SS_CONVS,
	SS_FEEDBACK,
	SS_SUGG_COUNT,
	SS_DAILY,
	SS_HANDOFFS,
	SS_UNANSWERED,
	SS_SUGGESTIONS,
	SS_FOLD_MSGS,
	SS_FOLD_CONVS,
	SS_FOLD_FEEDBACK,
	SS_FOLD_SUGG,
	SS_FOLD_PUT,
	SS_DEL_CONVS,
	SS_DEL_SUGG,
	SS_DEL_FEEDBACK,
	SS_DEL_MSGS,
	SS_NUM
};

_Static_assert(SS_NUM <= 32, "store_stats.c has 32 statement slots");

static const char *const ss_sql[SS_NUM] = {
	[SS_MSG_NOTE] = STORE_CHAIN_AFTER "UPDATE messages SET netiquette = ?3,"
		" closest = ?4 WHERE id IN (SELECT id FROM chain) AND seq = ?2",
	[SS_MSGS] = "SELECT created, role, intent, service, netiquette,"
		" handoff_reason FROM messages INDEXED BY messages_created"
		" WHERE created >= ?1 AND created < ?2",
	/*
	 * Messages carry no channel: count the bot answers of the
	 * conversations on other channels than the web widget (the
	 * minority), and the web's share is the rest.  CROSS JOIN keeps
	 * the conversations outside: there are far fewer of them.
	 */
	[SS_CHANNELS] = "SELECT channel, count(*) FROM messages"
		" INDEXED BY messages_created WHERE created >= ?1"
		" AND created < ?2 AND role = 'bot' AND channel IS NOT NULL"
		" GROUP BY channel",
	[SS_CONVS] = "SELECT count(*) FROM conversations"
		" WHERE created >= ?1 AND created < ?2",
	[SS_FEEDBACK] = "SELECT m.intent, f.helpful, count(*) FROM feedback f"
		" JOIN messages m ON m.id = f.msg"
		" WHERE f.created >= ?1 AND f.created < ?2 GROUP BY 1, 2",
	[SS_SUGG_COUNT] = "SELECT count(*) FROM suggestions"
		" WHERE created >= ?1 AND created < ?2",
	[SS_DAILY] = "SELECT key, sum(n) FROM stats_daily"
		" WHERE day >= ?1 AND day < ?2 GROUP BY key",
	[SS_HANDOFFS] = "SELECT reason, claimed_at - queued_at FROM handoffs"
		" WHERE queued_at >= ?1 AND queued_at < ?2",
	/* the citizen's message just before a fallback answer */
	[SS_UNANSWERED] = "SELECT q.text, a.closest, a.created"
		" FROM messages a INDEXED BY messages_created"
		" JOIN messages q ON q.id = a.prev"
		" WHERE a.created >= ?1 AND a.created < ?2 AND a.role = 'bot'"
		" AND a.intent IS NULL AND a.netiquette IS NULL"
		" AND a.handoff_reason IS NULL AND q.role = 'citizen'"
		" AND q.seq = a.seq - 1 ORDER BY a.created, a.id",
	[SS_SUGGESTIONS] = "SELECT text, channel, created FROM suggestions"
		" WHERE created >= ?1 AND created < ?2 ORDER BY created, id",
	/* messages and feedback age on their own (schema 6) */
	[SS_FOLD_MSGS] = "SELECT created, role, intent, service, netiquette,"
		" handoff_reason, coalesce(channel, 'web') FROM messages"
		" INDEXED BY messages_created WHERE created < ?1",
	[SS_FOLD_CONVS] = "SELECT created FROM conversations WHERE updated < ?1",
	[SS_FOLD_FEEDBACK] = "SELECT f.created, m.intent, f.helpful"
		" FROM feedback f JOIN messages m ON m.id = f.msg"
		" WHERE m.created < ?1",
	[SS_FOLD_SUGG] = "SELECT created FROM suggestions WHERE created < ?1",
	[SS_FOLD_PUT] = "INSERT INTO stats_daily (day, key, n) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (day, key) DO UPDATE SET n = n + excluded.n",
	[SS_DEL_CONVS] = STORE_SQL_DEL_CONVS,
	[SS_DEL_SUGG] = STORE_SQL_DEL_SUGG,
	[SS_DEL_FEEDBACK] = STORE_SQL_DEL_FEEDBACK,
	[SS_DEL_MSGS] = STORE_SQL_DEL_MSGS,
};

static sqlite3_stmt *ss_stmt(struct store *s, int which, struct bot_err *err)
{
	return store_stmt(s, STORE_SLOT_STATS + which, ss_sql[which], err);
}

static const char *ss_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* Prepare 'which' and bind the period [since, until). */
static sqlite3_stmt *ss_period(struct store *s, int which, time_t since,
			       time_t until, struct bot_err *err)
{
	sqlite3_stmt *st = ss_stmt(s, which, err);

	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)until);
	return st;
}

/* End of a row loop: BOT_OK when it ran to the end (or was stopped). */
static int ss_end(struct store *s, sqlite3_stmt *st, int rc, int failed,
		  struct bot_err *err, const char *what)
{
	store_done(st);
	if (failed == BOT_ENOMEM)
		return bot_fail(err, BOT_ENOMEM, "%s: out of memory", what);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store_dberr(s, err, what, NULL);
	return BOT_OK;
}

int store_msg_note(struct store *s, const char *conv, int64_t seq,
		   const char *netiquette, const char *closest,
		   struct bot_err *err)
{
	sqlite3_stmt *st = ss_stmt(s, SS_MSG_NOTE, err);
	int64_t head = 0;
	int rc;

	if (!st)
		return BOT_EDB;
	rc = store_conv_head(s, conv, &head, err);
	if (rc == BOT_ENOTFOUND)
		return bot_fail(err, BOT_ENOTFOUND, "cannot note statistics of "
				"conversation '%s': no message %lld",
				store_nz(conv), (long long)seq);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, head);
	sqlite3_bind_int64(st, 2, seq);
	store_bind_text(st, 3, netiquette);
	store_bind_text(st, 4, closest);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot note statistics of conversation",
				   conv);
	if (sqlite3_changes(s->db) == 0)
		return bot_fail(err, BOT_ENOTFOUND, "cannot note statistics of "
				"conversation '%s': no message %lld",
				store_nz(conv), (long long)seq);
	return BOT_OK;
}

/* ---- the figures of a period ----------------------------------------------- */

static void ss_row_msg(sqlite3_stmt *st, struct stats_msg *m, int channel)
{
	m->created = (time_t)sqlite3_column_int64(st, 0);
	m->role = ss_text(st, 1);
	m->intent = ss_text(st, 2);
	m->service = ss_text(st, 3);
	m->netiquette = ss_text(st, 4);
	m->handoff_reason = ss_text(st, 5);
	m->channel = channel ? ss_text(st, 6) : NULL;
}

static int ss_live_msgs(struct store *s, time_t since, time_t until,
			struct stats_counts *c, struct bot_err *err)
{
	sqlite3_stmt *st = ss_period(s, SS_MSGS, since, until, err);
	struct stats_tally *t;
	struct stats_msg m;
	int rc = SQLITE_DONE, failed = 0;

	if (!st)
		return BOT_EDB;
	t = stats_tally_new();
	failed = t ? 0 : BOT_ENOMEM;
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		ss_row_msg(st, &m, 0);
		/* a full tally (very many combinations) is emptied first */
		if (stats_tally_add(t, &m))
			failed = stats_tally_flush(t, c) || stats_tally_add(t, &m);
	}
	if (!failed)
		failed = stats_tally_flush(t, c);
	stats_tally_free(&t);
	return ss_end(s, st, rc, failed, err, "cannot count messages");
}

/* channel:web = answers - the other channels' answers (see SS_CHANNELS). */
static int ss_live_channels(struct store *s, time_t since, time_t until,
			    struct stats_counts *c, struct bot_err *err)
{
	sqlite3_stmt *st = ss_period(s, SS_CHANNELS, since, until, err);
	int64_t web = stats_counts_get(c, "answers", NULL), n;
	char key[STATS_KEY_MAX];
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 1);
		snprintf(key, sizeof(key), "channel:%s", ss_text(st, 0));
		failed = stats_counts_add(c, key, n);
		web -= n;
	}
	if (!failed && web > 0)
		failed = stats_counts_add(c, "channel:web", web);
	return ss_end(s, st, rc, failed, err, "cannot count answers by channel");
}

/* One count(*) of 'which' over the period into 'key'. */
static int ss_live_count(struct store *s, int which, const char *key,
			 time_t since, time_t until, struct stats_counts *c,
			 struct bot_err *err)
{
	sqlite3_stmt *st = ss_period(s, which, since, until, err);
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		failed = stats_counts_add(c, key, sqlite3_column_int64(st, 0));
	return ss_end(s, st, rc, failed, err, "cannot count");
}

static int ss_feedback_key(struct stats_counts *c, const char *prefix,
			   const char *intent, int helpful, int64_t n)
{
	char key[STATS_KEY_MAX];

	snprintf(key, sizeof(key), "%s%s", prefix ? prefix : "",
		 helpful ? "helpful" : "unhelpful");
	if (stats_counts_add(c, key, n))
		return BOT_ENOMEM;
	snprintf(key, sizeof(key), "%s%s:%s", prefix ? prefix : "",
		 helpful ? "helpful" : "unhelpful", intent ? intent : "-");
	return stats_counts_add(c, key, n);
}

static int ss_live_feedback(struct store *s, time_t since, time_t until,
			    struct stats_counts *c, struct bot_err *err)
{
	sqlite3_stmt *st = ss_period(s, SS_FEEDBACK, since, until, err);
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW)
		failed = ss_feedback_key(c, NULL, ss_text(st, 0),
					 sqlite3_column_int(st, 1),
					 sqlite3_column_int64(st, 2));
	return ss_end(s, st, rc, failed, err, "cannot count feedback");
}

static int ss_daily(struct store *s, time_t since, time_t until,
		    struct stats_counts *c, struct bot_err *err)
{
	sqlite3_stmt *st = ss_stmt(s, SS_DAILY, err);
	char from[11], to[11];
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	stats_day_str(since, from);
	stats_day_str(until, to);
	store_bind_text(st, 1, from);
	store_bind_text(st, 2, to);
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW)
		failed = stats_counts_add(c, ss_text(st, 0),
					  sqlite3_column_int64(st, 1));
	return ss_end(s, st, rc, failed, err, "cannot read daily statistics");
}

struct ss_waits {
	int64_t *v;
	size_t n, alloc;
};

static int ss_wait_push(struct ss_waits *w, int64_t x)
{
	int64_t *p;

	if (w->n == w->alloc) {
		p = bot_realloc(w->v, (w->alloc * 2 + 64) * sizeof(*p));
		if (!p)
			return BOT_ENOMEM;
		w->v = p;
		w->alloc = w->alloc * 2 + 64;
	}
	w->v[w->n++] = x;
	return BOT_OK;
}

/* Handoffs are kept (without contact) after a purge: read them whole. */
static int ss_handoffs(struct store *s, time_t since, time_t until,
		       struct stats_counts *c, struct bot_err *err)
{
	sqlite3_stmt *st = ss_period(s, SS_HANDOFFS, since, until, err);
	struct ss_waits w = { 0 };
	char key[STATS_KEY_MAX];
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(key, sizeof(key), "handoff:%s", ss_text(st, 0));
		failed = stats_counts_add(c, "handoffs", 1) ||
			 stats_counts_add(c, key, 1);
		if (!failed && sqlite3_column_type(st, 1) != SQLITE_NULL)
			failed = ss_wait_push(&w, sqlite3_column_int64(st, 1));
	}
	if (!failed && w.n)
		failed = stats_counts_set(c, "wait_median_s",
					  stats_percentile(w.v, w.n, 50)) ||
			 stats_counts_set(c, "wait_p90_s",
					  stats_percentile(w.v, w.n, 90));
	bot_free(w.v);
	return ss_end(s, st, rc, failed ? BOT_ENOMEM : 0, err,
		      "cannot read handoffs");
}

int store_stats_counts(struct store *s, time_t since, time_t until,
		       struct stats_counts *c, struct bot_err *err)
{
	int rc;

	rc = ss_live_msgs(s, since, until, c, err);
	if (!rc)
		rc = ss_live_channels(s, since, until, c, err);
	if (!rc)
		rc = ss_live_count(s, SS_CONVS, "conversations", since, until,
				   c, err);
	if (!rc)
		rc = ss_live_count(s, SS_SUGG_COUNT, "suggestions", since, until,
				   c, err);
	if (!rc)
		rc = ss_live_feedback(s, since, until, c, err);
	if (!rc)
		rc = ss_daily(s, since, until, c, err);
	if (!rc)
		rc = ss_handoffs(s, since, until, c, err);
	return rc;
}

/* ---- unanswered questions, suggestions -------------------------------------- */

int store_stats_unanswered(struct store *s, time_t since, time_t until,
			   store_unanswered_fn fn, void *arg,
			   struct bot_err *err)
{
	sqlite3_stmt *st = ss_period(s, SS_UNANSWERED, since, until, err);
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW)
		failed = fn(arg, ss_text(st, 0), ss_text(st, 1),
			    (time_t)sqlite3_column_int64(st, 2));
	store_done(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store_dberr(s, err, "cannot read unanswered questions",
				   NULL);
	return failed;
}

int store_stats_suggestions(struct store *s, time_t since, time_t until,
			    store_sugg_fn fn, void *arg, struct bot_err *err)
{
	sqlite3_stmt *st = ss_period(s, SS_SUGGESTIONS, since, until, err);
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW)
		failed = fn(arg, ss_text(st, 0), ss_text(st, 1),
			    (time_t)sqlite3_column_int64(st, 2));
	store_done(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store_dberr(s, err, "cannot read suggestions", NULL);
	return failed;
}

/* ---- folding before the purge ------------------------------------------------- */

/* Aggregate keys are "YYYY-MM-DD\tkey"; the prefix of time 't'. */
static const char *ss_day_prefix(struct stats_clock *k, time_t t, char *buf)
{
	stats_clock_at(k, t);
	memcpy(buf, k->day, 10);
	buf[10] = '\t';
	buf[11] = '\0';
	return buf;
}

static int ss_fold_msgs(struct store *s, time_t before, struct stats_counts *c,
			struct bot_err *err)
{
	sqlite3_stmt *st = ss_stmt(s, SS_FOLD_MSGS, err);
	struct stats_clock k = { 0 }, kd = { 0 };
	struct stats_msg m;
	char prefix[12];
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)before);
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		ss_row_msg(st, &m, 1);
		failed = stats_count_msg(c, &k, ss_day_prefix(&kd, m.created,
							      prefix), &m);
	}
	return ss_end(s, st, rc, failed, err, "cannot fold messages");
}

/* Rows of (created) from 'which' as "day\tkey" += 1. */
static int ss_fold_times(struct store *s, int which, const char *key,
			 time_t before, struct stats_counts *c,
			 struct bot_err *err)
{
	sqlite3_stmt *st = ss_stmt(s, which, err);
	struct stats_clock k = { 0 };
	char prefix[12], full[STATS_KEY_MAX];
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)before);
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(full, sizeof(full), "%s%s", ss_day_prefix(&k,
			 (time_t)sqlite3_column_int64(st, 0), prefix), key);
		failed = stats_counts_add(c, full, 1);
	}
	return ss_end(s, st, rc, failed, err, "cannot fold statistics");
}

static int ss_fold_feedback(struct store *s, time_t before,
			    struct stats_counts *c, struct bot_err *err)
{
	sqlite3_stmt *st = ss_stmt(s, SS_FOLD_FEEDBACK, err);
	struct stats_clock k = { 0 };
	char prefix[12];
	int rc, failed = 0;

	if (!st)
		return BOT_EDB;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)before);
	while (!failed && (rc = sqlite3_step(st)) == SQLITE_ROW)
		failed = ss_feedback_key(c, ss_day_prefix(&k,
					 (time_t)sqlite3_column_int64(st, 0),
					 prefix), ss_text(st, 1),
					 sqlite3_column_int(st, 2), 1);
	return ss_end(s, st, rc, failed, err, "cannot fold feedback");
}

struct ss_put {
	struct store *s;
	sqlite3_stmt *st;
};

static int ss_put_one(void *arg, const char *key, int64_t n)
{
	struct ss_put *p = arg;
	const char *tab = strchr(key, '\t');

	if (!tab)
		return 0;
	sqlite3_bind_text(p->st, 1, key, (int)(tab - key), SQLITE_STATIC);
	store_bind_text(p->st, 2, tab + 1);
	sqlite3_bind_int64(p->st, 3, n);
	return store_run(p->st) != SQLITE_OK;
}

static int ss_run_before(struct store *s, int which, time_t before,
			 struct bot_err *err)
{
	sqlite3_stmt *st = ss_stmt(s, which, err);

	if (!st)
		return BOT_EDB;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)before);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot delete old conversations", NULL);
	return BOT_OK;
}

/* In the caller's transaction: aggregate, write, delete. */
static int ss_fold(struct store *s, time_t before, struct stats_counts *c,
		   int64_t *n, struct bot_err *err)
{
	struct ss_put put = { s, ss_stmt(s, SS_FOLD_PUT, err) };
	int rc;

	if (!put.st)
		return BOT_EDB;
	rc = ss_fold_msgs(s, before, c, err);
	if (!rc)
		rc = ss_fold_times(s, SS_FOLD_CONVS, "conversations", before, c, err);
	if (!rc)
		rc = ss_fold_times(s, SS_FOLD_SUGG, "suggestions", before, c, err);
	if (!rc)
		rc = ss_fold_feedback(s, before, c, err);
	if (!rc && stats_counts_each(c, ss_put_one, &put))
		rc = store_dberr(s, err, "cannot store daily statistics", NULL);
	/* feedback first: its age is its message's */
	if (!rc)
		rc = ss_run_before(s, SS_DEL_FEEDBACK, before, err);
	if (!rc)
		rc = ss_run_before(s, SS_DEL_MSGS, before, err);
	if (!rc)
		rc = ss_run_before(s, SS_DEL_CONVS, before, err);
	if (!rc && n)
		*n = sqlite3_changes64(s->db);
	if (!rc)
		rc = ss_run_before(s, SS_DEL_SUGG, before, err);
	return rc;
}

int store_stats_purge(struct store *s, time_t before, int64_t *n,
		      struct bot_err *err)
{
	struct stats_counts *c;
	int rc;

	if (n)
		*n = 0;
	if (store_in_transaction(s))
		return bot_fail(err, BOT_EINVAL, "cannot purge old conversations: "
				"a transaction is open");
	c = stats_counts_new();
	if (!c)
		return bot_fail(err, BOT_ENOMEM, "cannot purge: out of memory");
	rc = store_begin(s, err);
	if (!rc)
		rc = ss_fold(s, before, c, n, err);
	if (rc)
		store_rollback(s);
	else
		rc = store_commit(s, err);
	stats_counts_free(&c);
	/* the rest: contacts of ended handoffs, vacuum, WAL truncation */
	if (!rc)
		rc = store_purge(s, before, NULL, err);
	return rc;
}
