/*
 * test_match.c - the matcher on its own: ranking, topics, pattern errors
 * reported with file:line, the letter-pair prefilter never changing a
 * result, the editors' explanation, and allocation failures.
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
#include "engine/kb.h"
#include "engine/match.h"
#include "engine/strbuf.h"
#include "engine/text.h"

static void test_ranking_and_topics(void **state)
{
	struct bot_err err = { 0 };
	struct match_result res;
	struct kb *kb = kb_load("tests/fixtures/mini", &err);
	struct match *m;

	(void)state;
	assert_non_null(kb);
	m = match_new(kb, NULL, &err);
	assert_non_null(m);
	assert_int_equal(match_run(m, "Was kostet ein Reisepass?", 25, &res, &err), 0);
	assert_string_equal(res.intent->id, "kosten");
	assert_true(res.cand[0].pattern);
	assert_string_equal(res.service->id, "reisepass");
	assert_true(res.confidence > 0.7 && res.confidence <= 1.0);
	assert_true(res.n_cand >= 1);
	/* candidates are ranked */
	for (size_t i = 1; i < res.n_cand; i++)
		assert_true(res.cand[i - 1].score >= res.cand[i].score);
	/* an office by one of its synonyms, with umlauts spelled out */
	assert_int_equal(match_run(m, "Oeffnungszeiten Buergerbuero", 28, &res, &err), 0);
	assert_string_equal(res.office->id, "buergeramt");
	assert_string_equal(res.intent->id, "oeffnungszeiten");
	/* words the kb does not know lower the coverage */
	assert_int_equal(match_run(m, "Quantenphysik Raumschiff Nebel", 30, &res, &err), 0);
	assert_true(res.coverage < 0.2);
	match_free(&m);
	assert_null(m);
	kb_free(&kb);
}

static void test_bad_patterns_reported_with_position(void **state)
{
	struct bot_err err = { 0 };
	struct kb *kb = kb_load("tests/fixtures/bad-pattern", &err);
	struct match *m;
	char buf[512];
	size_t i, n = 0;

	(void)state;
	assert_non_null(kb);
	m = match_new(kb, kb, &err);
	assert_null(m);
	assert_int_equal(err.rc, BOT_EPARSE);
	assert_non_null(strstr(err.msg, "tests/fixtures/bad-pattern/kb.yaml:6:"));
	assert_non_null(strstr(err.msg, "intent 'kosten': bad pattern"));
	for (i = 0; i < kb->n_diags; i++) {
		kb_diag_format(&kb->diags[i], buf, sizeof(buf));
		if (strstr(buf, "bad pattern"))
			n++;
	}
	assert_int_equal(n, 2);	/* both, not only the first */
	kb_free(&kb);
}

/*
 * The prefilter files patterns under their word-start keys; an intent
 * with more patterns than one 64-bit word of the pattern set holds must
 * still find the one that matches, filtered or not, and only that one.
 */
static void test_prefilter_many_patterns(void **state)
{
	static const char *const head =
		"settings:\n  city: Teststadt\n  threshold: 0.5\n"
		"  fallback: Nichts.\n"
		"intents:\n  - id: eins\n    title: Eins\n"
		"    examples: [Alpha beta]\n    answer: Eins.\n"
		"  - id: viele\n    title: Viele\n"
		"    examples: [Gamma delta]\n    answer: Viele.\n"
		"    patterns:\n";
	struct bot_err err = { 0 };
	struct match_result res;
	struct strbuf y = STRBUF_INIT;
	struct kb *kb;
	struct match *m;
	int i;

	(void)state;
	assert_int_equal(strbuf_adds(&y, head), 0);
	for (i = 0; i < 70; i++)	/* filtered: a word must start "qz<i>" */
		assert_int_equal(strbuf_addf(&y, "      - '\\bqz%dx'\n", i), 0);
	assert_int_equal(strbuf_adds(&y, "      - '\\bzebra\\w*'\n"
				     "      - 'elch$'\n"), 0);
	kb = kb_load_buffer("many.yaml", y.buf, y.len, &err);
	assert_non_null(kb);
	m = match_new(kb, NULL, &err);
	assert_non_null(m);
	assert_int_equal(match_run(m, "hallo qz66x", 11, &res, &err), 0);
	assert_string_equal(res.intent->id, "viele");
	assert_true(res.cand[0].pattern);
	assert_int_equal(match_run(m, "hallo qz3x", 10, &res, &err), 0);
	assert_true(res.cand[0].pattern);
	assert_int_equal(match_run(m, "die zebras", 10, &res, &err), 0);
	assert_true(res.cand[0].pattern);
	/* no word-start key: only the unfiltered pattern can see it */
	assert_int_equal(match_run(m, "ein kleiner elch", 16, &res, &err), 0);
	assert_true(res.cand[0].pattern);
	/* "qz66" inside a word, or without its 'x': nothing matches */
	assert_int_equal(match_run(m, "aqz66x qz66", 11, &res, &err), 0);
	for (i = 0; i < (int)res.n_cand; i++)
		assert_false(res.cand[i].pattern);
	match_free(&m);
	kb_free(&kb);
	strbuf_release(&y);
}

/* What 'amtsbot ask --explain' shows editors. */
static void test_explain(void **state)
{
	struct bot_err err = { 0 };
	struct kb *kb = kb_load("tests/fixtures/mini", &err);
	struct match *m = match_new(kb, NULL, &err);
	struct strbuf sb;

	(void)state;
	assert_non_null(m);
	strbuf_init(&sb, 0);
	assert_int_equal(match_explain(m, "Was kostet die Hundesteueranmeldung?", 36,
				       &sb, &err), 0);
	assert_non_null(strstr(sb.buf, "hundesteuer"));
	assert_non_null(strstr(sb.buf, "part"));
	assert_non_null(strstr(sb.buf, "intent kosten"));
	strbuf_release(&sb);
	match_free(&m);
	kb_free(&kb);
}

static void test_invalid_utf8_and_huge_input(void **state)
{
	struct bot_err err = { 0 };
	struct kb *kb = kb_load("tests/fixtures/mini", &err);
	struct match *m = match_new(kb, NULL, &err);
	struct match_result res;
	size_t n = 100000;
	char *big = malloc(n);

	(void)state;
	assert_non_null(m);
	assert_int_equal(match_run(m, "a\xc3(", 3, &res, &err), BOT_EPARSE);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)("was kostet ein reisepass "[i % 25]);
	assert_int_equal(match_run(m, big, n, &res, &err), 0);
	assert_string_equal(res.intent->id, "kosten");
	free(big);
	match_free(&m);
	kb_free(&kb);
}

static void test_allocation_failures(void **state)
{
	struct bot_err err = { 0 };
	struct kb *kb = kb_load("tests/fixtures/mini", &err);
	struct match *m;
	long i;
	int ok = 0;

	(void)state;
	assert_non_null(kb);
	for (i = 1; i < 4000 && !ok; i += 7) {
		bot_alloc_fail_after(i);
		m = match_new(kb, NULL, &err);
		bot_alloc_fail_after(0);
		ok = m != NULL;
		match_free(&m);
	}
	assert_true(ok);	/* and ASan saw no leak on any failure path */
	kb_free(&kb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ranking_and_topics),
		cmocka_unit_test(test_bad_patterns_reported_with_position),
		cmocka_unit_test(test_prefilter_many_patterns),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_invalid_utf8_and_huge_input),
		cmocka_unit_test(test_allocation_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
