/*
 * test_style.c - plain-language checks: splitting texts into sentences
 * (abbreviations, numbers, template tags), finding bureaucratic words
 * (case, umlauts, endings, compounds, phrases), and the warnings of
 * style_check() with their file:line:column.
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
#include "engine/style.h"

/* The word counts of all sentences of 't', as "3,5,1". */
static void counts(const char *t, char *out, size_t size)
{
	struct style_sentence s;
	size_t pos = 0, len = 0;

	out[0] = '\0';
	while (style_sentence_next(t, &pos, &s) && len < size)
		len += (size_t)snprintf(out + len, size - len, "%s%d",
					len ? "," : "", s.words);
}

static void expect_counts(const char *t, const char *want)
{
	char buf[128];

	counts(t, buf, sizeof(buf));
	if (strcmp(buf, want))
		fail_msg("\"%s\": %s, want %s", t, buf, want);
}

static void test_sentences(void **state)
{
	struct style_sentence s;
	size_t pos = 0;

	(void)state;
	expect_counts("Eins zwei drei. Vier fünf!", "3,2");
	expect_counts("Bringen Sie z. B. den Pass mit. Danke.", "7,1");
	expect_counts("Geöffnet ca. 8 Uhr bzw. 9 Uhr, am 24.12. nicht. Gut?",
		      "10,1");
	expect_counts("Am 1. Mai geschlossen.", "4");
	expect_counts("Zeile eins\nZeile zwei ohne Punkt", "2,4");
	expect_counts("{{service.name}} kostet {{service.fees}}.", "3");
	expect_counts("{{#service.fees}}Kosten: {{service.fees}}{{/service.fees}}",
		      "2");
	expect_counts("- Ausweis\n- Foto (biometrisch).\n", "1,2");
	expect_counts("Er sagte „Ja.“ Dann ging er.", "3,3");
	expect_counts("Siehe www.musterstadt.example. Fertig.", "2,1");
	expect_counts("   \n\n", "");
	assert_int_equal(style_sentence_next("Ab. Cd.", &pos, &s), 1);
	assert_int_equal(s.start, 0);
	assert_int_equal(s.end, 3);
	assert_int_equal(style_sentence_next("Ab. Cd.", &pos, &s), 1);
	assert_int_equal(s.start, 4);
	assert_int_equal(s.end, 7);
	assert_int_equal(style_sentence_next("Ab. Cd.", &pos, &s), 0);
}

static int find(const char *t, const char *w, char *out)
{
	size_t a, b;

	if (!style_find_word(t, 0, w, &a, &b))
		return 0;
	memcpy(out, t + a, b - a);
	out[b - a] = '\0';
	return 1;
}

static void test_find_word(void **state)
{
	char got[64];

	(void)state;
	assert_true(find("Der Antragsteller muss", "Antragsteller", got));
	assert_string_equal(got, "Antragsteller");
	assert_true(find("die antragstellerinnen", "Antragsteller", got));
	assert_string_equal(got, "antragstellerinnen");
	assert_true(find("des Antragstellers", "Antragsteller", got));
	assert_true(find("GEMÄSS", "gemäss", got));
	assert_true(find("Gemäß § 3", "gemäß", got));
	assert_string_equal(got, "Gemäß");
	assert_true(find("den Antragsvordruck", "Vordruck", got));
	assert_string_equal(got, "vordruck");
	assert_true(find("Wir werden den Bescheid  erteilen.",
			 "Bescheid erteilen", got));
	assert_string_equal(got, "Bescheid  erteilen");
	assert_true(find("sind beizubringen", "beizubringen", got));
	assert_true(find("Gebühr entrichtet", "entrichten", got) == 0);
	assert_true(find("Gebühr entrichten", "entrichten", got));
	/* not inside other words */
	assert_false(find("ungemäß", "gemäß", got));
	assert_false(find("Antragstellung", "Antragsteller", got));
	assert_false(find("Lichtbildner", "Lichtbild", got));
	assert_false(find("", "Vordruck", got));
	assert_false(find("Vordruck", "", got));
}

static void test_check_positions(void **state)
{
	static const char yaml[] =
		"plain_language:\n"						/* 1 */
		"  max_words: 8\n"						/* 2 */
		"  words: {Antragsteller: Sie, gemäß: nach, Vordruck: Formular}\n"/* 3 */
		"services:\n"							/* 4 */
		"  - id: pass\n"						/* 5 */
		"    name: Reisepass\n"						/* 6 */
		"    summary: Der Antragsteller füllt den Vordruck aus.\n"	/* 7 */
		"    fees: >-\n"						/* 8 */
		"      Eins zwei drei vier fünf sechs sieben acht neun zehn\n"	/* 9 */
		"      elf.\n"							/* 10 */
		"intents:\n"							/* 11 */
		"  - id: kosten\n"						/* 12 */
		"    keywords: [kosten]\n"					/* 13 */
		"    answer: |\n"						/* 14 */
		"      Kurz.\n"							/* 15 */
		"      Das kostet gemäß Satzung {{service.fees}}.\n";		/* 16 */
	struct bot_err err = { 0 };
	struct kb *kb = kb_load_buffer("t.yaml", yaml, strlen(yaml), &err);
	size_t i, n0;
	char buf[512];
	const char *want[] = {
		"t.yaml:7:18: warning: service 'pass': summary: write \"Sie\" "
		"instead of \"Antragsteller\" (plain language)",
		"t.yaml:7:42: warning: service 'pass': summary: write "
		"\"Formular\" instead of \"Vordruck\" (plain language)",
		"t.yaml:8:11: warning: service 'pass': fees: sentence of 11 "
		"words (more than 8); split it: \"Eins zwei drei vier fünf "
		"sechs sieben acht neun...\"",
		"t.yaml:16:18: warning: intent 'kosten': answer: write \"nach\" "
		"instead of \"gemäß\" (plain language)",
	};

	(void)state;
	assert_non_null(kb);
	assert_int_equal(kb->n_errors, 0);
	n0 = kb->n_diags;
	assert_int_equal(style_check(kb), BOT_OK);
	for (i = n0; i < kb->n_diags; i++) {
		kb_diag_format(&kb->diags[i], buf, sizeof(buf));
		print_message("%s\n", buf);
	}
	assert_int_equal(kb->n_diags - n0, BOT_ARRAY_SIZE(want));
	for (i = 0; i < BOT_ARRAY_SIZE(want); i++) {
		kb_diag_format(&kb->diags[n0 + i], buf, sizeof(buf));
		assert_string_equal(buf, want[i]);
	}
	kb_free(&kb);
}

/* The shipped knowledge base is written plainly: no warnings. */
static void test_sample_kb_is_plain(void **state)
{
	struct bot_err err = { 0 };
	struct kb *kb = kb_load("intents", &err);
	size_t i, n0;
	char buf[1024];

	(void)state;
	assert_non_null(kb);
	assert_true(kb->plain.n_words >= 25);
	n0 = kb->n_diags;
	assert_int_equal(style_check(kb), BOT_OK);
	for (i = n0; i < kb->n_diags; i++) {
		kb_diag_format(&kb->diags[i], buf, sizeof(buf));
		print_message("%s\n", buf);
	}
	assert_int_equal(kb->n_diags, n0);
	kb_free(&kb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sentences),
		cmocka_unit_test(test_find_word),
		cmocka_unit_test(test_check_positions),
		cmocka_unit_test(test_sample_kb_is_plain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
