/*
 * test_stats.c - engine/stats.c (counters, message keys, tally, periods,
 * percentiles, grouping of unanswered questions, CSV) and
 * engine/store_stats.c over a database filled through the store API:
 * every figure exactly, and the same figures after a purge, with the
 * purged text gone from the files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/stats.h"
#include "engine/store.h"
#include "engine/strbuf.h"
#include "engine/text.h"

/* 2026-03-02 is a Monday; the tests run in UTC */
#define MON_0900 ((time_t)1772442000)
#define DAY 86400

static int64_t get(const struct stats_counts *c, const char *key)
{
	return stats_counts_get(c, key, NULL);
}

static void test_counts(void **state)
{
	struct stats_counts *a = stats_counts_new(), *b = stats_counts_new();
	char key[32];
	int has, i;

	(void)state;
	assert_non_null(a);
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i % 300);
		assert_int_equal(stats_counts_add(a, key, 1), 0);
	}
	assert_int_equal(stats_counts_size(a), 300);
	assert_int_equal(get(a, "k0"), 4);
	assert_int_equal(get(a, "k299"), 3);
	assert_int_equal(stats_counts_get(a, "nope", &has), 0);
	assert_int_equal(has, 0);
	assert_int_equal(stats_counts_add(b, "k0", 10), 0);
	assert_int_equal(stats_counts_merge(b, a), 0);
	assert_int_equal(get(b, "k0"), 14);
	assert_int_equal(stats_counts_size(b), 300);
	stats_counts_free(&a);
	stats_counts_free(&b);
	assert_null(a);
}

static void test_message_keys(void **state)
{
	struct stats_counts *c = stats_counts_new();
	struct stats_clock k = { 0 };
	struct stats_msg q = { MON_0900, "citizen", NULL, NULL, NULL, NULL, NULL };
	struct stats_msg a = { MON_0900, "bot", "kosten", "reisepass", NULL, NULL,
			       "web" };
	struct stats_msg f = { MON_0900, "bot", NULL, NULL, NULL, NULL, NULL };
	struct stats_msg n = { MON_0900, "bot", NULL, NULL, "insult", NULL, NULL };
	struct stats_msg h = { MON_0900, "bot", NULL, NULL, NULL, "personal_data",
			       NULL };

	(void)state;
	assert_int_equal(stats_count_msg(c, &k, NULL, &q), 0);
	assert_int_equal(stats_count_msg(c, &k, NULL, &a), 0);
	assert_int_equal(stats_count_msg(c, &k, NULL, &f), 0);
	assert_int_equal(stats_count_msg(c, &k, NULL, &n), 0);
	assert_int_equal(stats_count_msg(c, &k, NULL, &h), 0);
	assert_int_equal(stats_count_msg(c, &k, "2026-03-02\t", &a), 0);
	assert_int_equal(get(c, "messages"), 5);
	assert_int_equal(get(c, "questions"), 1);
	assert_int_equal(get(c, "hour:1-09"), 1);
	assert_int_equal(get(c, "answers"), 4);
	assert_int_equal(get(c, "answered"), 1);
	assert_int_equal(get(c, "intent:kosten"), 1);
	assert_int_equal(get(c, "service:reisepass"), 1);
	assert_int_equal(get(c, "channel:web"), 1);
	/* only the answer without intent, reminder or handoff is a fallback */
	assert_int_equal(get(c, "fallbacks"), 1);
	assert_int_equal(get(c, "netiquette:insult"), 1);
	assert_int_equal(get(c, "2026-03-02\tintent:kosten"), 1);
	assert_int_equal(stats_is_fallback(NULL, NULL, NULL), 1);
	assert_int_equal(stats_is_fallback(NULL, "spam", NULL), 0);
	stats_counts_free(&c);
}

/* The tally gives the same keys as counting one message at a time. */
static void test_tally_matches_single(void **state)
{
	struct stats_counts *one = stats_counts_new(), *many = stats_counts_new();
	struct stats_tally *t = stats_tally_new();
	struct stats_rowset_check { const char *key; } keys[] = {
		{ "messages" }, { "questions" }, { "answers" }, { "answered" },
		{ "fallbacks" }, { "intent:i0" }, { "intent:i6" }, { "service:s1" },
		{ "hour:1-09" }, { "hour:1-10" }, { "hour:2-09" },
	};
	static const char *const intents[] = { "i0", "i1", "i2", "i3", "i4",
					       "i5", "i6", NULL };
	struct stats_clock k = { 0 };
	struct stats_msg m;
	size_t i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < 5000; i++) {
		memset(&m, 0, sizeof(m));
		m.created = MON_0900 + (time_t)(i * 60);
		m.role = i % 2 ? "bot" : "citizen";
		m.intent = i % 2 ? intents[i % 8] : NULL;
		m.service = i % 3 == 1 ? "s1" : NULL;
		assert_int_equal(stats_count_msg(one, &k, NULL, &m), 0);
		assert_int_equal(stats_tally_add(t, &m), 0);
	}
	assert_int_equal(stats_tally_flush(t, many), 0);
	assert_int_equal(stats_counts_size(one), stats_counts_size(many));
	for (i = 0; i < BOT_ARRAY_SIZE(keys); i++)
		assert_int_equal(get(one, keys[i].key), get(many, keys[i].key));
	assert_int_equal(get(many, "messages"), 5000);
	assert_int_equal(get(many, "hour:1-09"), 30);
	stats_tally_free(&t);
	stats_counts_free(&one);
	stats_counts_free(&many);
}

static void test_days_and_percentiles(void **state)
{
	struct bot_err err = { 0 };
	int64_t v[] = { 50, 10, 40, 20, 30, 60, 70, 80, 90, 100 };
	char day[11];
	time_t t;

	(void)state;
	assert_int_equal(stats_day_parse("2026-03-02", &t, &err), 0);
	assert_int_equal(t, MON_0900 - 9 * 3600);
	assert_int_equal(stats_day_add(t + 5000, 1), t + DAY);
	stats_day_str(t - 1, day);
	assert_string_equal(day, "2026-03-01");
	assert_int_equal(stats_day_parse("2026-02-30", &t, &err), BOT_EINVAL);
	assert_int_equal(stats_day_parse("02.03.2026", &t, &err), BOT_EINVAL);
	assert_non_null(strstr(err.msg, "bad date '02.03.2026'"));
	assert_int_equal(stats_percentile(v, 10, 50), 50);
	assert_int_equal(stats_percentile(v, 10, 90), 90);
	assert_int_equal(stats_percentile(v, 1, 90), 10);
	assert_int_equal(stats_percentile(v, 0, 50), 0);
}

static void test_grouping(void **state)
{
	struct text *t = text_new(NULL);
	struct stats_groups *g;
	const struct stats_group *out;
	char stems[256];
	size_t n;

	(void)state;
	assert_non_null(t);
	assert_int_equal(stats_stems(t, "Wo melde ich meinen Hund an?", stems,
				     sizeof(stems)), 0);
	assert_string_equal(stems, "hund meld wo");
	g = stats_groups_new(t);
	assert_non_null(g);
	/* the same stems: one group, whatever the order and inflection */
	assert_int_equal(stats_groups_add(g, "Wo melde ich meinen Hund an?", "hundesteuer"), 0);
	assert_int_equal(stats_groups_add(g, "Hund melden wo", NULL), 0);
	assert_int_equal(stats_groups_add(g, "wo melde ich meinen hund an", "hundesteuer"), 0);
	/* a separable verb is another stem: not grouped (a known limit) */
	assert_int_equal(stats_groups_add(g, "Hunde anmelden, wo?", NULL), 0);
	/* near duplicates: 4 of 5 stems shared (Jaccard 0.8) */
	assert_int_equal(stats_groups_add(g, "Parkausweis Anwohner Altstadt Kosten Antrag", NULL), 0);
	assert_int_equal(stats_groups_add(g, "Parkausweis Anwohner Altstadt Kosten", "kosten"), 0);
	/* different: 3 of 5 */
	assert_int_equal(stats_groups_add(g, "Parkausweis Altstadt Besucher", NULL), 0);
	assert_int_equal(stats_groups_add(g, "Hallo?", NULL), 0);
	assert_int_equal(stats_groups_add(g, "\xff\xfe", NULL), 0);	/* skipped */
	assert_int_equal(stats_groups_build(g, &out, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(out[0].n, 3);
	assert_string_equal(out[0].closest, "hundesteuer");
	assert_int_equal(out[0].n_variants, 3);
	assert_int_equal(out[1].n, 2);
	assert_string_equal(out[1].closest, "kosten");
	assert_int_equal(out[2].n, 1);
	stats_groups_free(&g);
	text_free(&t);
}

static void test_rows_and_csv(void **state)
{
	struct stats_counts *now = stats_counts_new(), *before = stats_counts_new();
	struct stats_row *rows;
	struct strbuf sb;
	size_t n;

	(void)state;
	assert_int_equal(stats_counts_add(now, "intent:a", 2), 0);
	assert_int_equal(stats_counts_add(now, "intent:b,\"x\"", 5), 0);
	assert_int_equal(stats_counts_add(now, "messages", 7), 0);
	assert_int_equal(stats_counts_add(before, "intent:a", 1), 0);
	assert_int_equal(stats_counts_add(before, "conversations", 3), 0);
	assert_int_equal(stats_rows(now, before, &rows, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(rows[0].key, "conversations");
	assert_int_equal(rows[0].has_now, 0);
	assert_string_equal(rows[1].key, "messages");
	assert_string_equal(rows[2].key, "intent:b,\"x\"");
	assert_string_equal(rows[3].key, "intent:a");
	assert_int_equal(rows[3].before, 1);
	strbuf_init(&sb, 4096);
	assert_int_equal(stats_csv_add(&sb, rows, n), 0);
	assert_string_equal(strbuf_str(&sb),
			    "group,key,now,before\r\n"
			    "total,conversations,0,3\r\n"
			    "total,messages,7,\r\n"
			    "intent,\"b,\"\"x\"\"\",5,\r\n"
			    "intent,a,2,1\r\n");
	strbuf_release(&sb);
	bot_free(rows);
	stats_counts_free(&now);
	stats_counts_free(&before);
}

/* ---- the store ------------------------------------------------------------ */

struct db {
	char path[64];
	struct store *s;
};

static void db_open(struct db *d)
{
	struct bot_err err = { 0 };
	int fd;

	snprintf(d->path, sizeof(d->path), "/tmp/test_stats_XXXXXX");
	fd = mkstemp(d->path);
	assert_true(fd >= 0);
	close(fd);
	unlink(d->path);
	d->s = store_open(d->path, &err);
	assert_non_null(d->s);
}

static void db_close(struct db *d)
{
	char f[80];

	store_close(&d->s);
	unlink(d->path);
	snprintf(f, sizeof(f), "%s-wal", d->path);
	unlink(f);
	snprintf(f, sizeof(f), "%s-shm", d->path);
	unlink(f);
}

/* One exchange: a question and its answer; returns the answer's seq. */
static int64_t turn(struct store *s, const char *conv, time_t when,
		    const char *q, const char *intent, const char *service,
		    const char *netiq, const char *closest)
{
	struct store_msg m = { .conv = conv, .role = "citizen", .text = q,
			       .created = when };
	struct store_msg a = { .conv = conv, .role = "bot", .text = "Antwort",
			       .intent = intent, .service = service,
			       .created = when };
	struct bot_err err = { 0 };

	assert_int_equal(store_msg_add(s, &m, &err), 0);
	assert_int_equal(store_msg_add(s, &a, &err), 0);
	assert_int_equal(store_msg_note(s, conv, a.seq, netiq, closest, &err), 0);
	return a.seq;
}

/* Two conversations 40 days ago, two now: web and messenger. */
static void fill(struct store *s, time_t now)
{
	struct store_handoff h = { .channel = "web", .reason = "requested",
				   .team = "buergerservice", .state = "ended" };
	struct bot_err err = { 0 };
	char c1[33], c2[33], c3[33];
	int64_t seq;

	assert_int_equal(store_conv_new(s, "web", now - 40 * DAY, c1, &err), 0);
	turn(s, c1, now - 40 * DAY, "ALTMARKER Reisepass Kosten", "kosten",
	     "reisepass", NULL, NULL);
	turn(s, c1, now - 40 * DAY + 60, "ALTMARKER Blubb", NULL, NULL, NULL,
	     "kosten");
	assert_int_equal(store_conv_new(s, "web", now - 3600, c2, &err), 0);
	seq = turn(s, c2, now - 3600, "Was kostet ein Pass?", "kosten",
		   "reisepass", NULL, NULL);
	assert_int_equal(store_feedback(s, c2, seq, 1, now - 3500, &err), 0);
	seq = turn(s, c2, now - 3500, "Wo melde ich meinen Hund an?", NULL, NULL,
		   NULL, "hundesteuer");
	assert_int_equal(store_feedback(s, c2, seq, 0, now - 3400, &err), 0);
	turn(s, c2, now - 3400, "du Idiot", NULL, NULL, "insult", NULL);
	assert_int_equal(store_conv_new(s, "messenger", now - 1800, c3, &err), 0);
	turn(s, c3, now - 1800, "Hund anmelden wo", NULL, NULL, NULL, NULL);
	assert_int_equal(store_suggestion(s, c3, "messenger", "Mehr Bänke",
					  now - 1700, &err), 0);
	h.conv = c2;
	h.queued_at = now - 3000;
	assert_int_equal(store_handoff_add(s, &h, &err), 0);
	h.claimed_at = now - 2970;
	assert_int_equal(store_handoff_update(s, &h, &err), 0);
	h.conv = c3;
	h.reason = "case";
	h.claimed_at = 0;
	h.queued_at = now - 1000;
	assert_int_equal(store_handoff_add(s, &h, &err), 0);
	h.claimed_at = now - 900;
	assert_int_equal(store_handoff_update(s, &h, &err), 0);
}

static void check_now(const struct stats_counts *c)
{
	assert_int_equal(get(c, "conversations"), 2);
	assert_int_equal(get(c, "messages"), 8);
	assert_int_equal(get(c, "questions"), 4);
	assert_int_equal(get(c, "answers"), 4);
	assert_int_equal(get(c, "answered"), 1);
	assert_int_equal(get(c, "fallbacks"), 2);
	assert_int_equal(get(c, "netiquette:insult"), 1);
	assert_int_equal(get(c, "intent:kosten"), 1);
	assert_int_equal(get(c, "service:reisepass"), 1);
	assert_int_equal(get(c, "channel:web"), 3);
	assert_int_equal(get(c, "channel:messenger"), 1);
	assert_int_equal(get(c, "helpful:kosten"), 1);
	assert_int_equal(get(c, "unhelpful:-"), 1);
	assert_int_equal(get(c, "suggestions"), 1);
	assert_int_equal(get(c, "handoffs"), 2);
	assert_int_equal(get(c, "handoff:requested"), 1);
	assert_int_equal(get(c, "handoff:case"), 1);
	assert_int_equal(get(c, "wait_median_s"), 30);
	assert_int_equal(get(c, "wait_p90_s"), 100);
}

static void check_old(const struct stats_counts *c)
{
	assert_int_equal(get(c, "conversations"), 1);
	assert_int_equal(get(c, "messages"), 4);
	assert_int_equal(get(c, "answered"), 1);
	assert_int_equal(get(c, "fallbacks"), 1);
	assert_int_equal(get(c, "intent:kosten"), 1);
	assert_int_equal(get(c, "channel:web"), 2);
	assert_int_equal(get(c, "handoffs"), 0);
}

static struct stats_counts *counts(struct store *s, time_t since, time_t until)
{
	struct stats_counts *c = stats_counts_new();
	struct bot_err err = { 0 };

	assert_non_null(c);
	assert_int_equal(store_stats_counts(s, since, until, c, &err), 0);
	return c;
}

static int unanswered_one(void *arg, const char *text, const char *closest,
			  time_t created)
{
	struct strbuf *sb = arg;

	(void)created;
	return strbuf_addf(sb, "%s|%s;", text, closest ? closest : "-");
}

/* 1 when 'marker' occurs in the bytes of 'path'. */
static int file_has(const char *path, const char *marker)
{
	FILE *fp = fopen(path, "rb");
	size_t n, len = strlen(marker);
	char *buf;
	int found = 0;

	if (!fp)
		return 0;
	buf = malloc(64u << 20);
	assert_non_null(buf);
	n = fread(buf, 1, 64u << 20, fp);
	fclose(fp);
	for (size_t i = 0; i + len <= n && !found; i++)
		found = !memcmp(buf + i, marker, len);
	free(buf);
	return found;
}

static void test_store_figures_and_purge(void **state)
{
	time_t now = stats_day_add(time(NULL), 0) + 12 * 3600;
	time_t today = stats_day_add(now, 0), tomorrow = stats_day_add(now, 1);
	struct stats_counts *c;
	struct bot_err err = { 0 };
	struct strbuf sb;
	struct db d;
	char wal[80];
	int64_t n = -1;

	(void)state;
	db_open(&d);
	fill(d.s, now);
	c = counts(d.s, today, tomorrow);
	check_now(c);
	stats_counts_free(&c);
	c = counts(d.s, stats_day_add(now, -45), stats_day_add(now, -30));
	check_old(c);
	stats_counts_free(&c);
	strbuf_init(&sb, 4096);
	assert_int_equal(store_stats_unanswered(d.s, today, tomorrow,
						unanswered_one, &sb, &err), 0);
	assert_string_equal(strbuf_str(&sb), "Wo melde ich meinen Hund an?|hundesteuer;"
			    "Hund anmelden wo|-;");
	strbuf_release(&sb);

	/* purge the old conversation: figures stay, its text is gone */
	assert_true(file_has(d.path, "ALTMARKER") || (snprintf(wal, sizeof(wal),
		    "%s-wal", d.path), file_has(wal, "ALTMARKER")));
	assert_int_equal(store_stats_purge(d.s, now - 30 * DAY, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_count(d.s, "conversations"), 2);
	c = counts(d.s, stats_day_add(now, -45), stats_day_add(now, -30));
	check_old(c);
	stats_counts_free(&c);
	c = counts(d.s, today, tomorrow);
	check_now(c);
	stats_counts_free(&c);
	/* purging again changes nothing: no double counting */
	assert_int_equal(store_stats_purge(d.s, now - 30 * DAY, &n, &err), 0);
	assert_int_equal(n, 0);
	c = counts(d.s, stats_day_add(now, -45), tomorrow);
	assert_int_equal(get(c, "messages"), 12);
	assert_int_equal(get(c, "conversations"), 3);
	stats_counts_free(&c);
	snprintf(wal, sizeof(wal), "%s-wal", d.path);
	assert_false(file_has(d.path, "ALTMARKER"));
	assert_false(file_has(wal, "ALTMARKER"));
	assert_true(file_has(d.path, "Hund anmelden") || file_has(wal, "Hund anmelden"));
	db_close(&d);
}

static void test_note_unknown_message(void **state)
{
	struct bot_err err = { 0 };
	struct db d;

	(void)state;
	db_open(&d);
	assert_int_equal(store_msg_note(d.s, "nope", 2, NULL, "x", &err),
			 BOT_ENOTFOUND);
	assert_non_null(strstr(err.msg, "no message 2"));
	db_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_message_keys),
		cmocka_unit_test(test_tally_matches_single),
		cmocka_unit_test(test_days_and_percentiles),
		cmocka_unit_test(test_grouping),
		cmocka_unit_test(test_rows_and_csv),
		cmocka_unit_test(test_store_figures_and_purge),
		cmocka_unit_test(test_note_unknown_message),
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
