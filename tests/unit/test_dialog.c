/*
 * test_dialog.c - the matcher, answer templates and dialogue on the small
 * fixture kb in tests/fixtures/mini: intents and topics, follow-ups,
 * fallback, handoff reasons and their precedence, redaction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
