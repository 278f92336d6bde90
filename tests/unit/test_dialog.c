/*
 * test_dialog.c - the matcher, answer templates and dialogue on the small
 * fixture kb in tests/fixtures/mini: intents and topics, follow-ups,
 * fallback, handoff reasons and their precedence, redaction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/dialog.h"
#include "engine/hours.h"
#include "engine/kb.h"
#include "engine/match.h"

struct fx {
	struct kb *kb;
	struct dialog *d;
	struct dialog_state st;
	struct reply r;
	time_t now;
};

static int setup(void **state)
{
	struct bot_err err = { 0 };
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->kb = kb_load("tests/fixtures/mini", &err);
	if (!f->kb || f->kb->n_errors) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		return -1;
	}
	f->d = dialog_new(f->kb, &err);
	if (!f->d) {
		fprintf(stderr, "fixture: %s\n", err.msg);
		return -1;
	}
	/* Tuesday 24 November 2026, 10:00 in Berlin */
	if (hours_parse_now(dialog_tz(f->d), "2026-11-24T10:00", &f->now, &err))
		return -1;
	dialog_state_init(&f->st);
	reply_init(&f->r);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	reply_release(&f->r);
	dialog_free(&f->d);
	kb_free(&f->kb);
	free(f);
	return 0;
}

static const struct reply *ask(struct fx *f, const char *q)
{
	assert_int_equal(dialog_reply(f->d, &f->st, q, strlen(q), f->now,
				      &f->r, NULL), BOT_OK);
	return &f->r;
}

static void assert_id(const char *got, const char *want)
{
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

static void test_service_and_kind(void **state)
{
	const struct reply *r = ask(*state, "Was kostet ein Reisepass?");

	assert_id(r->intent, "kosten");
	assert_id(r->service, "reisepass");
	assert_id(r->office, "buergeramt");
	assert_true(r->confidence >= 0.5 && r->confidence <= 1.0);
	assert_non_null(strstr(r->answer.buf, "70 Euro"));
	assert_int_equal(r->handoff, 0);
	assert_true(r->n_sources >= 1);
	assert_string_equal(r->sources[0].url,
			    "https://www.gesetze-im-internet.de/pa_g_1986/");
}

static void test_umlauts_typos_colloquial(void **state)
{
	const struct reply *r = ask(*state, "WAS KOSTET DER PERSO");

	assert_id(r->intent, "kosten");
	assert_id(r->service, "personalausweis");
	r = ask(*state, "was kostet ein reisepas");
	assert_id(r->service, "reisepass");
	r = ask(*state, "Wann hat das Buergeramt geoeffnet?");
	assert_id(r->intent, "oeffnungszeiten");
	assert_id(r->office, "buergeramt");
}

static void test_compound(void **state)
{
	const struct reply *r = ask(*state, "Was kostet die Hundesteueranmeldung?");

	assert_id(r->intent, "kosten");
	assert_id(r->service, "hundesteuer");
}

static void test_follow_up_keeps_service(void **state)
{
	struct fx *f = *state;
	const struct reply *r = ask(f, "Was kostet ein Reisepass?");

	assert_id(r->service, "reisepass");
	r = ask(f, "Und welche Unterlagen brauche ich?");
	assert_id(r->intent, "unterlagen");
	assert_id(r->service, "reisepass");
	assert_non_null(strstr(r->answer.buf, "- Personalausweis"));
	/* a topic alone continues the last kind of question */
	r = ask(f, "Und für den Perso?");
	assert_id(r->intent, "unterlagen");
	assert_id(r->service, "personalausweis");
}

static void test_follow_up_keeps_office(void **state)
{
	struct fx *f = *state;
	const struct reply *r = ask(f, "Wie ist die Telefonnummer vom Standesamt?");

	assert_id(r->intent, "kontakt");
	assert_id(r->office, "standesamt");
	r = ask(f, "Wann haben die geöffnet?");
	assert_id(r->intent, "oeffnungszeiten");
	assert_id(r->office, "standesamt");
}

static void test_hours_computed(void **state)
{
	const struct reply *r = ask(*state, "Wann hat das Bürgeramt heute geöffnet?");

	assert_id(r->intent, "oeffnungszeiten");
	assert_non_null(strstr(r->answer.buf, "08:00"));
	assert_non_null(strstr(r->answer.buf, "Gerade geöffnet"));
	r = ask(*state, "Hat das Standesamt morgen geöffnet?");
	assert_id(r->office, "standesamt");
	/* Wednesday 25.11.: 09:00-12:00 */
	assert_non_null(strstr(r->answer.buf, "09:00"));
}

static void test_missing_topic_asks_back(void **state)
{
	struct fx *f = *state;
	const struct reply *r = ask(f, "Was kostet das?");

	assert_id(r->intent, "kosten");
	assert_null(r->service);
	assert_int_equal(r->ask_back, 1);
	assert_non_null(strstr(r->answer.buf, "Für welche Leistung"));
}

static void test_topic_only_gives_overview(void **state)
{
	const struct reply *r = ask(*state, "Reisepass");

	assert_id(r->intent, "leistung");
	assert_id(r->service, "reisepass");
	assert_non_null(strstr(r->answer.buf, "Bürgeramt"));
}

static void test_unrelated_is_refused(void **state)
{
	static const char *const q[] = {
		"Wie wird das Wetter morgen in Berlin?",
		"Gib mir ein Rezept für Apfelkuchen",
		"Wer hat gestern das Fußballspiel gewonnen?",
		"Spiel Musik von den Beatles",
	};
	size_t i;

	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		const struct reply *r = ask(*state, q[i]);

		assert_null(r->intent);
		assert_int_equal(r->fallback, 1);
		assert_non_null(strstr(r->answer.buf, "Das weiß ich leider nicht"));
		assert_true(r->n_quick >= 1);
	}
}

static void test_handoff_reasons(void **state)
{
	struct fx *f = *state;
	const struct reply *r = ask(f, "Ich möchte mit einem Menschen sprechen");

	assert_int_equal(r->handoff, 1);
	assert_string_equal(r->handoff_reason, "requested");
	assert_id(r->intent, "mensch");
	r = ask(f, "Wie ist der Stand meines Antrags?");
	assert_string_equal(r->handoff_reason, "case");
	/* personal data wins over case */
	r = ask(f, "Wie ist der Stand meines Antrags? Meine IBAN ist "
		"DE89 3704 0044 0532 0130 00");
	assert_int_equal(r->handoff, 1);
	assert_string_equal(r->handoff_reason, "personal_data");
	assert_null(strstr(r->redacted.buf, "3704"));
	assert_non_null(strstr(r->redacted.buf, "[IBAN]"));
}

static void test_fallbacks_offer_a_person(void **state)
{
	struct fx *f = *state;
	const struct reply *r = ask(f, "Wie wird das Wetter morgen in Berlin?");

	assert_int_equal(r->fallback, 1);
	assert_null(strstr(r->answer.buf, "verbinden"));
	r = ask(f, "Spiel Musik von den Beatles");
	assert_int_equal(r->fallback, 1);
	assert_non_null(strstr(r->answer.buf, "verbinden"));
	r = ask(f, "Ich möchte mit einem Menschen sprechen");
	assert_int_equal(r->handoff, 1);
	assert_string_equal(r->handoff_reason, "fallback");
	/* an answered question resets the count */
	r = ask(f, "Was kostet ein Reisepass?");
	r = ask(f, "Ich möchte mit einem Menschen sprechen");
	assert_string_equal(r->handoff_reason, "requested");
}

static void test_no_handoff_for_numbers(void **state)
{
	const struct reply *r = ask(*state, "Was kostet ein Reisepass für 2 Kinder im Jahr 2026?");

	assert_int_equal(r->handoff, 0);
	assert_null(r->handoff_reason);
	assert_string_equal(r->redacted.buf,
			    "Was kostet ein Reisepass für 2 Kinder im Jahr 2026?");
}

static void test_invalid_utf8(void **state)
{
	struct fx *f = *state;
	struct bot_err err = { 0 };

	assert_int_equal(dialog_reply(f->d, &f->st, "Hallo \xff\xfe", 8, f->now,
				      &f->r, &err), BOT_EPARSE);
	assert_non_null(strstr(err.msg, "UTF-8"));
}

static void test_greeting_needs_nothing(void **state)
{
	const struct reply *r = ask(*state, "Hallo");

	assert_id(r->intent, "gruss");
	assert_null(r->service);
	assert_null(r->office);
	assert_int_equal(r->n_sources, 0);
}

/*
 * The stored form of a dialog_state (dialog_state_pack/unpack).  Inputs
 * to unpack are copied into buffers of exactly their length, so the
 * sanitizer build catches any read past 'len'.
 */
static int unpack_exact(struct dialog_state *st, const void *in, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, in, len);
	rc = dialog_state_unpack(st, copy, len);
	free(copy);
	return rc;
}

static void assert_state_equal(const struct dialog_state *a,
			       const struct dialog_state *b)
{
	assert_string_equal(a->service, b->service);
	assert_string_equal(a->office, b->office);
	assert_string_equal(a->intent, b->intent);
	assert_int_equal(a->fallbacks, b->fallbacks);
	assert_int_equal(a->turns, b->turns);
	assert_int_equal(a->handed_off, b->handed_off);
	assert_true(a->netiq.window_start == b->netiq.window_start);
	assert_int_equal(a->netiq.window_count, b->netiq.window_count);
	assert_true(a->netiq.last_hash == b->netiq.last_hash);
	assert_int_equal(a->netiq.repeats, b->netiq.repeats);
	assert_int_equal(a->netiq.strikes, b->netiq.strikes);
	assert_int_equal(a->netiq.violations, b->netiq.violations);
	assert_true(a->netiq.muted_until == b->netiq.muted_until);
}

static void assert_fresh(const struct dialog_state *st)
{
	struct dialog_state fresh;

	dialog_state_init(&fresh);
	assert_state_equal(st, &fresh);
}

static void fill_id(char *id, char c)
{
	memset(id, c, DIALOG_ID_MAX - 1);
	id[DIALOG_ID_MAX - 1] = '\0';
}

/* Every field set to the value with the longest encoding. */
static void state_worst(struct dialog_state *st)
{
	dialog_state_init(st);
	fill_id(st->service, 's');
	fill_id(st->office, 'o');
	fill_id(st->intent, 'i');
	st->fallbacks = INT_MIN;
	st->turns = INT_MAX;
	st->handed_off = INT_MIN;
	st->netiq.window_start = sizeof(time_t) >= 8 ?
		(time_t)INT64_MIN : (time_t)INT32_MIN;
	st->netiq.window_count = INT_MIN;
	st->netiq.last_hash = UINT64_MAX;
	st->netiq.repeats = INT_MIN;
	st->netiq.strikes = INT_MIN;
	st->netiq.violations = INT_MIN;
	st->netiq.muted_until = sizeof(time_t) >= 8 ?
		(time_t)INT64_MAX : (time_t)INT32_MAX;
}

/* What a conversation looks like after a few turns. */
static void state_typical(struct dialog_state *st)
{
	dialog_state_init(st);
	snprintf(st->service, sizeof(st->service), "reisepass");
	snprintf(st->office, sizeof(st->office), "buergeramt");
	snprintf(st->intent, sizeof(st->intent), "kosten");
	st->turns = 3;
	st->netiq.window_start = 1795510800;
	st->netiq.window_count = 3;
	st->netiq.last_hash = 0x9e3779b97f4a7c15ull;
	st->netiq.repeats = 1;
}

static void test_state_pack_fresh(void **state)
{
	struct dialog_state st, got;
	unsigned char buf[DIALOG_STATE_PACK_MAX];
	size_t n;

	(void)state;
	dialog_state_init(&st);
	n = dialog_state_pack(&st, buf, sizeof(buf));
	assert_true(n >= 1 && n <= 8);
	state_worst(&got);
	assert_int_equal(unpack_exact(&got, buf, n), 0);
	assert_fresh(&got);
}

static void test_state_pack_round_trip(void **state)
{
	struct dialog_state st, got;
	unsigned char buf[DIALOG_STATE_PACK_MAX];
	size_t n;

	(void)state;
	state_worst(&st);
	n = dialog_state_pack(&st, buf, sizeof(buf));
	/* the bound is exact: the worst case fills it */
	assert_int_equal(n, sizeof(time_t) >= 8 ? DIALOG_STATE_PACK_MAX : n);
	assert_int_equal(unpack_exact(&got, buf, n), 0);
	assert_state_equal(&got, &st);

	/* the other signs and small values */
	st.fallbacks = 1;
	st.turns = -1;
	st.handed_off = 1;
	st.netiq.window_start = (time_t)4102444800LL * (sizeof(time_t) >= 8);
	st.netiq.muted_until = -1;
	st.netiq.last_hash = 1;
	st.netiq.strikes = INT_MAX;
	st.office[0] = '\0';
	n = dialog_state_pack(&st, buf, sizeof(buf));
	assert_true(n > 0 && n < DIALOG_STATE_PACK_MAX);
	assert_int_equal(unpack_exact(&got, buf, n), 0);
	assert_state_equal(&got, &st);

	state_typical(&st);
	n = dialog_state_pack(&st, buf, sizeof(buf));
	/* tag and bitmap 3, ids 28, numbers 8, hash 8 */
	assert_true(n > 0 && n <= 48);
	assert_int_equal(unpack_exact(&got, buf, n), 0);
	assert_state_equal(&got, &st);
}

static void test_state_pack_after_turns(void **state)
{
	struct fx *f = *state;
	struct dialog_state got;
	unsigned char buf[DIALOG_STATE_PACK_MAX];
	size_t n;

	ask(f, "Was kostet ein Reisepass?");
	ask(f, "Und welche Unterlagen brauche ich?");
	ask(f, "Und welche Unterlagen brauche ich?");
	n = dialog_state_pack(&f->st, buf, sizeof(buf));
	/* the ids take most of it; a quarter of the old raw struct at most */
	assert_true(n > 0 && n <= 64);
	assert_int_equal(unpack_exact(&got, buf, n), 0);
	assert_state_equal(&got, &f->st);
	/* the restored state carries the conversation on */
	f->st = got;
	assert_id(ask(f, "Und für den Perso?")->service, "personalausweis");
}

static void test_state_pack_too_small(void **state)
{
	struct dialog_state st;
	unsigned char buf[DIALOG_STATE_PACK_MAX];
	size_t n, size;

	(void)state;
	state_typical(&st);
	n = dialog_state_pack(&st, buf, sizeof(buf));
	assert_true(n > 0);
	for (size = 0; size < n; size++)
		assert_int_equal(dialog_state_pack(&st, buf, size), 0);
	assert_int_equal(dialog_state_pack(&st, buf, n), n);
	assert_int_equal(dialog_state_pack(&st, NULL, 0), 0);

	/* an id without its NUL cannot be encoded */
	memset(st.intent, 'x', sizeof(st.intent));
	assert_int_equal(dialog_state_pack(&st, buf, sizeof(buf)), 0);
}

static void test_state_unpack_truncated(void **state)
{
	struct dialog_state st, got;
	unsigned char buf[DIALOG_STATE_PACK_MAX + 1];
	size_t n, len;
	int which;

	(void)state;
	for (which = 0; which < 2; which++) {
		if (which)
			state_worst(&st);
		else
			state_typical(&st);
		n = dialog_state_pack(&st, buf, DIALOG_STATE_PACK_MAX);
		assert_true(n > 0);
		for (len = 0; len < n; len++) {
			state_worst(&got);
			assert_int_equal(unpack_exact(&got, buf, len),
					 BOT_EPARSE);
			assert_fresh(&got);
		}
		buf[n] = 0;	/* a trailing byte */
		assert_int_equal(unpack_exact(&got, buf, n + 1), BOT_EPARSE);
		assert_fresh(&got);
	}
	assert_int_equal(dialog_state_unpack(&got, NULL, 0), BOT_EPARSE);
	assert_fresh(&got);
}

static void test_state_unpack_old_raw_blob(void **state)
{
	struct dialog_state st, got;

	(void)state;
	state_typical(&st);
	assert_int_equal(unpack_exact(&got, &st, sizeof(st)), BOT_EPARSE);
	assert_fresh(&got);
	dialog_state_init(&st);		/* a fresh raw state: all zero */
	assert_int_equal(unpack_exact(&got, &st, sizeof(st)), BOT_EPARSE);
	assert_fresh(&got);
	state_worst(&st);
	assert_int_equal(unpack_exact(&got, &st, sizeof(st)), BOT_EPARSE);
	assert_fresh(&got);
}

/* Hand-made encodings that must not decode. */
static void test_state_unpack_rejects(void **state)
{
	static const struct {
		const char *why;
		unsigned char in[8];
		size_t len;
	} bad[] = {
		{ "unknown version", { 0x02, 0x00 }, 2 },
		{ "old tag byte 0", { 0x00, 0x00 }, 2 },
		{ "no bitmap", { 0x01 }, 1 },
		{ "unknown field bit", { 0x01, 0x80, 0x40 }, 3 },
		{ "overlong bitmap", { 0x01, 0x80, 0x00 }, 3 },
		{ "turns present but 0", { 0x01, 0x01, 0x00 }, 3 },
		{ "overlong varint", { 0x01, 0x01, 0x82, 0x00 }, 4 },
		{ "int out of range", { 0x01, 0x01, 0x80, 0x80, 0x80, 0x80,
					0x10 }, 7 },
		{ "empty id", { 0x01, 0x02, 0x00 }, 3 },
		{ "NUL in id", { 0x01, 0x02, 0x02, 'a', 0x00 }, 5 },
		{ "id too long", { 0x01, 0x02, 0x40, 'a' }, 4 },
		{ "id truncated", { 0x01, 0x02, 0x03, 'a', 'b' }, 5 },
		{ "zero hash", { 0x01, 0x40, 0, 0, 0, 0, 0, 0 }, 8 },
	};
	unsigned char big[2 + 1 + DIALOG_ID_MAX];
	struct dialog_state got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		state_worst(&got);
		if (unpack_exact(&got, bad[i].in, bad[i].len) != BOT_EPARSE)
			fail_msg("accepted: %s", bad[i].why);
		assert_fresh(&got);
	}
	/* an id of exactly DIALOG_ID_MAX bytes with its length byte */
	big[0] = 0x01;
	big[1] = 0x02;
	big[2] = DIALOG_ID_MAX;
	memset(big + 3, 'a', DIALOG_ID_MAX);
	assert_int_equal(unpack_exact(&got, big, sizeof(big)), BOT_EPARSE);
	/* the same with 63 bytes is fine */
	big[2] = DIALOG_ID_MAX - 1;
	assert_int_equal(unpack_exact(&got, big, sizeof(big) - 1), 0);
	assert_int_equal(strlen(got.intent), DIALOG_ID_MAX - 1);
}

/*
 * Random bytes (a fixed xorshift sequence), half of them behind a valid
 * tag: each either fails with a fresh state or decodes to a state that
 * packs to exactly the same bytes (the encoding is canonical).
 */
static void test_state_unpack_garbage(void **state)
{
	unsigned char in[300], again[DIALOG_STATE_PACK_MAX];
	struct dialog_state got;
	uint64_t x = 0x2545f4914f6cdd1dull;
	size_t len, i, n;
	int round, ok = 0;

	(void)state;
	for (round = 0; round < 20000; round++) {
		len = round % sizeof(in);
		for (i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			in[i] = (unsigned char)x;
		}
		if (len && round % 2)
			in[0] = 0x01;
		if (len > 1 && round % 4 == 1)
			in[1] &= 0x7f;	/* a short bitmap gets further */
		if (unpack_exact(&got, in, len)) {
			assert_fresh(&got);
			continue;
		}
		ok++;
		n = dialog_state_pack(&got, again, sizeof(again));
		assert_int_equal(n, len);
		assert_memory_equal(again, in, len);
	}
	/* some random inputs do decode (e.g. 0x01 0x00), and none crash */
	assert_true(ok > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_service_and_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_umlauts_typos_colloquial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_up_keeps_service, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_up_keeps_office, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hours_computed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_topic_asks_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topic_only_gives_overview, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrelated_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handoff_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_handoff_for_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fallbacks_offer_a_person, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_greeting_needs_nothing, setup, teardown),
		cmocka_unit_test(test_state_pack_fresh),
		cmocka_unit_test(test_state_pack_round_trip),
		cmocka_unit_test_setup_teardown(test_state_pack_after_turns, setup, teardown),
		cmocka_unit_test(test_state_pack_too_small),
		cmocka_unit_test(test_state_unpack_truncated),
		cmocka_unit_test(test_state_unpack_old_raw_blob),
		cmocka_unit_test(test_state_unpack_rejects),
		cmocka_unit_test(test_state_unpack_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
