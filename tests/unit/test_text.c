/*
 * test_text.c - unit tests for engine/text.c: UTF-8 checking, folding,
 * stems, stop words, vocabulary, synonyms, thesaurus, compounds, typos.
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
#include "engine/strbuf.h"
#include "engine/text.h"

#define REAL_THESAURUS "/usr/share/openthesaurus-de/openthesaurus.txt"

/* One analysis buffer for all tests: it is large. */
static struct text_tokens *tokens;

static int group_setup(void **state)
{
	(void)state;
	tokens = calloc(1, sizeof(*tokens));
	return tokens ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	free(tokens);
	return 0;
}

/* A sealed analyser with the words of the NULL-terminated 'vocab'. */
static struct text *text_with(const char *const *vocab)
{
	struct bot_err err = { 0 };
	struct text *t = text_new(&err);
	size_t i;

	assert_non_null(t);
	for (i = 0; vocab[i]; i++)
		assert_true(text_vocab_add(t, vocab[i]) >= 0);
	assert_int_equal(text_seal(t, &err), BOT_OK);
	return t;
}

static struct text_tokens *analyze(struct text *t, const char *s)
{
	struct bot_err err = { 0 };

	assert_int_equal(text_analyze(t, s, strlen(s), tokens, &err), BOT_OK);
	return tokens;
}

/* The first token whose word is 'word' and that is not a part. */
static const struct text_token *token(const struct text_tokens *tt,
				      const char *word)
{
	size_t i;

	for (i = 0; i < tt->n; i++)
		if (!(tt->tok[i].flags & TEXT_PART) &&
		    !strcmp(tt->tok[i].word, word))
			return &tt->tok[i];
	fail_msg("no token '%s'", word);
	return NULL;
}

static int id_of(struct text *t, const char *word)
{
	char stem[128];
	struct strbuf sb = STRBUF_INIT;
	int id;

	assert_int_equal(text_fold(word, strlen(word), &sb, NULL), BOT_OK);
	text_stem(t, sb.buf, sb.len, stem, sizeof(stem));
	strbuf_release(&sb);
	id = text_vocab_find(t, stem);
	assert_true(id >= 0);
	return id;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

static void expect_bad_utf8(const char *s, size_t len, size_t offset)
{
	struct bot_err err = { 0 };
	char want[64];

	snprintf(want, sizeof(want), "invalid UTF-8 at byte %zu", offset);
	assert_int_equal(text_utf8_check(s, len, &err), BOT_EPARSE);
	assert_int_equal(err.rc, BOT_EPARSE);
	assert_string_equal(err.msg, want);
}

static void test_utf8_valid(void **state)
{
	const char *ok = "Grüße aus Köln, 東京 und 😀 - STRAẞE";

	(void)state;
	assert_int_equal(text_utf8_check(ok, strlen(ok), NULL), BOT_OK);
	assert_int_equal(text_utf8_check("", 0, NULL), BOT_OK);
	/* the largest code point and the last ones before the surrogates */
	assert_int_equal(text_utf8_check("\xf4\x8f\xbf\xbf\xed\x9f\xbf", 7,
					 NULL), BOT_OK);
}

static void test_utf8_invalid(void **state)
{
	(void)state;
	expect_bad_utf8("abc\xc3\x28", 5, 3);		/* bad continuation */
	expect_bad_utf8("\x80", 1, 0);			/* lone continuation */
	expect_bad_utf8("\xc0\xaf", 2, 0);		/* overlong '/' */
	expect_bad_utf8("\xc1\xbf", 2, 0);		/* overlong, 2 bytes */
	expect_bad_utf8("ab\xe0\x80\xaf", 5, 2);	/* overlong, 3 bytes */
	expect_bad_utf8("\xf0\x80\x80\xaf", 4, 0);	/* overlong, 4 bytes */
	expect_bad_utf8("x\xed\xa0\x80", 4, 1);		/* surrogate U+D800 */
	expect_bad_utf8("xy\xed\xbf\xbf", 5, 2);	/* surrogate U+DFFF */
	expect_bad_utf8("\xf4\x90\x80\x80", 4, 0);	/* above U+10FFFF */
	expect_bad_utf8("\xf5\x80\x80\x80", 4, 0);	/* never a lead byte */
	expect_bad_utf8("\xff", 1, 0);
	expect_bad_utf8("B\xc3\xbcrger\xc3", 8, 7);	/* truncated at the end */
	expect_bad_utf8("abcdefgh\xe2\x82", 10, 8);	/* after an ASCII run */
	expect_bad_utf8("abcdefghijklmnopq\xf0\x9f\x98", 20, 17);
}

/* ---- folding -------------------------------------------------------------- */

static void expect_fold(const char *in, const char *want)
{
	struct strbuf sb = STRBUF_INIT;
	struct bot_err err = { 0 };

	assert_int_equal(text_fold(in, strlen(in), &sb, &err), BOT_OK);
	assert_string_equal(strbuf_str(&sb), want);
	strbuf_release(&sb);
}

static void test_fold_umlauts(void **state)
{
	(void)state;
	expect_fold("Bürgeramt", "buergeramt");
	expect_fold("Buergeramt", "buergeramt");
	expect_fold("BÜRGERAMT", "buergeramt");
	expect_fold("buergeramt", "buergeramt");
	expect_fold("Ärger Öl Übel ärger öl übel", "aerger oel uebel aerger oel uebel");
	/* decomposed input: a/o/u followed by U+0308 */
	expect_fold("Bu\xcc\x88rger A\xcc\x88mter o\xcc\x88", "buerger aemter oe");
}

static void test_fold_sharp_s(void **state)
{
	(void)state;
	expect_fold("Straße", "strasse");
	expect_fold("STRAẞE", "strasse");
	expect_fold("Grüße", "gruesse");
}

static void test_fold_accents_punctuation(void **state)
{
	(void)state;
	expect_fold("Café Crème, naïve Señora!", "cafe creme naive senora");
	expect_fold("  --Hallo,   Welt!!  ", "hallo welt");
	expect_fold("E-Mail: info@musterstadt.de", "e mail info musterstadt de");
	expect_fold("Öffnungszeiten 2024/25?", "oeffnungszeiten 2024 25");
	expect_fold("...", "");
	expect_fold("Bürger\xc2\xad" "amt", "buergeramt");	/* soft hyphen */
	expect_fold("ﬁ ² Ⅻ", "fi 2 xii");			/* compatibility forms */
	expect_fold("Привет МИР 東京", "привет мир 東京");	/* other scripts */
}

static void test_fold_errors(void **state)
{
	struct strbuf sb;
	struct bot_err err = { 0 };

	(void)state;
	strbuf_init(&sb, 0);
	assert_int_equal(text_fold("ok \xc3", 4, &sb, &err), BOT_EPARSE);
	assert_string_equal(err.msg, "invalid UTF-8 at byte 3");
	strbuf_release(&sb);
	strbuf_init(&sb, 4);
	assert_int_equal(text_fold("Bürgeramt", strlen("Bürgeramt"), &sb, &err),
			 BOT_ENOMEM);
	strbuf_release(&sb);
}

/* ---- stems and stop words ------------------------------------------------- */

static void stem_of(struct text *t, const char *word, char *out, size_t size)
{
	struct strbuf sb = STRBUF_INIT;

	assert_int_equal(text_fold(word, strlen(word), &sb, NULL), BOT_OK);
	text_stem(t, sb.buf, sb.len, out, size);
	strbuf_release(&sb);
}

static void expect_same_stem(struct text *t, const char *a, const char *b)
{
	char sa[128], sb[128];

	stem_of(t, a, sa, sizeof(sa));
	stem_of(t, b, sb, sizeof(sb));
	if (strcmp(sa, sb))
		fail_msg("stem '%s' of '%s' != stem '%s' of '%s'", sa, a, sb, b);
}

static void test_stems_across_umlaut_spellings(void **state)
{
	struct text *t = text_new(NULL);
	char s[128];

	(void)state;
	assert_non_null(t);
	expect_same_stem(t, "Bürger", "Buerger");
	expect_same_stem(t, "Gebühr", "Gebuehr");
	expect_same_stem(t, "Gebühr", "Gebühren");
	expect_same_stem(t, "Gebuehren", "Gebühr");
	expect_same_stem(t, "Führerschein", "Fuehrerschein");
	expect_same_stem(t, "Öffnungszeiten", "Oeffnungszeit");
	expect_same_stem(t, "Häuser", "Haus");
	/* a u between vowels is a consonant, not an umlaut */
	stem_of(t, "Steuer", s, sizeof(s));
	assert_string_equal(s, "steu");
	stem_of(t, "Gebühren", s, sizeof(s));
	assert_string_equal(s, "gebuhr");
	/* numbers and deterministic output */
	assert_int_equal(text_stem(t, "2024", 4, s, sizeof(s)), 4);
	assert_string_equal(s, "2024");
	stem_of(t, "Anmeldungen", s, sizeof(s));
	assert_string_equal(s, "anmeld");
	stem_of(t, "Anmeldungen", s, sizeof(s));
	assert_string_equal(s, "anmeld");
	/* truncated to the buffer */
	assert_int_equal(text_stem(t, "personalausweis", 15, s, 5), 4);
	assert_string_equal(s, "pers");
	text_free(&t);
	assert_null(t);
	text_free(&t);	/* NULL-safe */
}

static void test_stop_words(void **state)
{
	static const char *const stop[] = { "der", "die", "das", "und", "ich",
		"fuer", "ueber", "dass", "koennen", "wuerde", "zwischen", "aber",
		"zur", "unsere" };
	static const char *const keep[] = { "wann", "wo", "wer", "wie", "was",
		"welche", "welcher", "welches", "welchen", "welchem", "warum",
		"wieso", "weshalb", "wohin", "woher", "wieviel", "wofuer",
		"womit", "nicht", "kein", "keine", "keinen", "buergeramt", "" };
	size_t i;

	(void)state;
	for (i = 0; i < BOT_ARRAY_SIZE(stop); i++)
		if (!text_is_stop(stop[i], strlen(stop[i])))
			fail_msg("'%s' should be a stop word", stop[i]);
	for (i = 0; i < BOT_ARRAY_SIZE(keep); i++)
		if (text_is_stop(keep[i], strlen(keep[i])))
			fail_msg("'%s' must not be a stop word", keep[i]);
	/* length-limited compare: "derx" is not "der" and "de" not "der" */
	assert_true(text_is_stop("derx", 3));
	assert_false(text_is_stop("derx", 4));
	assert_false(text_is_stop("de", 2));
}

/* ---- vocabulary and synonyms ---------------------------------------------- */

static void test_vocab_ids(void **state)
{
	struct bot_err err = { 0 };
	struct text *t = text_new(&err);
	int gebuehr, steuer;

	(void)state;
	assert_non_null(t);
	assert_int_equal(text_vocab_size(t), 0);
	gebuehr = text_vocab_add(t, "Gebühr");
	steuer = text_vocab_add(t, "steuer");
	assert_true(gebuehr >= 0);
	assert_true(steuer >= 0 && steuer != gebuehr);
	assert_int_equal(text_vocab_add(t, "Gebühren"), gebuehr);
	assert_int_equal(text_vocab_add(t, "gebuehr"), gebuehr);
	assert_int_equal(text_vocab_size(t), 2);
	assert_int_equal(text_vocab_find(t, "gebuhr"), gebuehr);
	assert_int_equal(text_vocab_find(t, "nichtda"), -1);
	assert_string_equal(text_vocab_stem(t, steuer), "steu");
	assert_null(text_vocab_stem(t, 99));
	assert_null(text_vocab_stem(t, -1));
	/* not one word, not UTF-8, empty */
	assert_int_equal(text_vocab_add(t, "zwei Worte"), -1);
	assert_int_equal(text_vocab_add(t, "\xff"), -1);
	assert_int_equal(text_vocab_add(t, "!?"), -1);
	assert_int_equal(text_vocab_add(t, NULL), -1);
	assert_int_equal(text_seal(t, &err), BOT_OK);
	assert_int_equal(text_seal(t, &err), BOT_OK);
	assert_int_equal(text_vocab_add(t, "neu"), -1);	/* sealed */

	analyze(t, "Die Gebühren und Steuern, 2024!");
	assert_string_equal(tokens->folded, "die gebuehren und steuern 2024");
	assert_int_equal(tokens->folded_len, strlen(tokens->folded));
	assert_int_equal(tokens->n, 5);
	assert_int_equal(tokens->tok[0].flags, TEXT_STOP);
	assert_int_equal(tokens->tok[0].vocab, -1);
	assert_int_equal(tokens->tok[1].vocab, gebuehr);
	assert_true(tokens->tok[1].weight == 1.0f);
	assert_string_equal(tokens->tok[1].stem, "gebuhr");
	assert_int_equal(tokens->tok[1].start, 4);
	assert_int_equal(tokens->tok[1].end, 13);
	assert_int_equal(tokens->tok[1].parent, -1);
	assert_int_equal(tokens->tok[3].vocab, steuer);
	assert_int_equal(tokens->tok[4].flags, TEXT_NUMBER);
	assert_int_equal(tokens->tok[4].vocab, -1);
	text_free(&t);
}

static void test_synonyms(void **state)
{
	struct text *t = text_new(NULL);
	const struct text_token *tk;
	int gebuehr;

	(void)state;
	assert_non_null(t);
	assert_int_equal(text_synonym_add(t, "Entgelt", "Gebühr", 0.9f), BOT_OK);
	gebuehr = text_vocab_find(t, "gebuhr");
	assert_true(gebuehr >= 0);
	assert_true(text_vocab_add(t, "Steuer") >= 0);
	/* a vocabulary word and a stop word keep their meaning */
	assert_int_equal(text_synonym_add(t, "Steuer", "Gebühr", 0.9f), BOT_OK);
	assert_int_equal(text_synonym_add(t, "der", "Gebühr", 0.9f), BOT_OK);
	/* the first synonym wins */
	assert_int_equal(text_synonym_add(t, "Entgelt", "Steuer", 0.5f), BOT_OK);
	assert_int_equal(text_synonym_add(t, "x", "Gebühr", 0.0f), BOT_EINVAL);
	assert_int_equal(text_synonym_add(t, "x", "Gebühr", 1.5f), BOT_EINVAL);
	assert_int_equal(text_synonym_add(t, "zwei Worte", "Gebühr", 0.5f),
			 BOT_EINVAL);
	assert_int_equal(text_seal(t, NULL), BOT_OK);
	assert_int_equal(text_synonym_add(t, "y", "Gebühr", 0.5f), BOT_EINVAL);

	analyze(t, "Entgelt Entgelte Steuer der");
	tk = token(tokens, "entgelt");
	assert_int_equal(tk->vocab, gebuehr);
	assert_true(tk->flags & TEXT_SYNONYM);
	assert_true(tk->weight > 0.89f && tk->weight < 0.91f);
	tk = token(tokens, "entgelte");	/* through the synonym's stem */
	assert_int_equal(tk->vocab, gebuehr);
	assert_true(tk->flags & TEXT_SYNONYM);
	tk = token(tokens, "steuer");
	assert_int_equal(tk->vocab, id_of(t, "Steuer"));
	assert_false(tk->flags & TEXT_SYNONYM);
	tk = token(tokens, "der");
	assert_int_equal(tk->vocab, -1);
	assert_int_equal(tk->flags, TEXT_STOP);
	text_free(&t);
}

/* ---- thesaurus ------------------------------------------------------------ */

static void expect_synonym(struct text *t, const char *word, int id)
{
	const struct text_token *tk;

	analyze(t, word);
	assert_int_equal(tokens->n, 1);
	tk = &tokens->tok[0];
	if (tk->vocab != id || !(tk->flags & TEXT_SYNONYM))
		fail_msg("'%s': vocab %d flags %x, want synonym of %d", word,
			 tk->vocab, tk->flags, id);
	assert_true(tk->weight > 0.69f && tk->weight < 0.71f);
}

static void expect_unknown(struct text *t, const char *word)
{
	analyze(t, word);
	assert_int_equal(tokens->n, 1);
	if (tokens->tok[0].vocab != -1)
		fail_msg("'%s' should be unknown, is %d", word,
			 tokens->tok[0].vocab);
}

static void test_thesaurus_mini(void **state)
{
	struct bot_err err = { 0 };
	struct text *t = text_new(&err);
	int gebuehr, kosten, steuer, maut, ausweis;

	(void)state;
	assert_non_null(t);
	gebuehr = text_vocab_add(t, "Gebühr");
	kosten = text_vocab_add(t, "Kosten");
	steuer = text_vocab_add(t, "Steuer");
	maut = text_vocab_add(t, "Maut");
	ausweis = text_vocab_add(t, "Ausweise");	/* same stem as "Ausweis" */
	assert_true(text_vocab_add(t, "Hund") >= 0);
	assert_int_equal(text_thesaurus_load(t,
			 "tests/fixtures/thesaurus-mini.txt", 10, &err), BOT_OK);
	assert_int_equal(text_seal(t, &err), BOT_OK);

	expect_synonym(t, "Abgabe", gebuehr);
	expect_synonym(t, "Entgelt", gebuehr);		/* "(fachspr.)" dropped */
	expect_synonym(t, "Aufwand", kosten);
	expect_synonym(t, "Belastung", kosten);	/* "(finanzielle)" dropped */
	expect_synonym(t, "Unkosten", kosten);
	expect_synonym(t, "Tribut", steuer);
	expect_synonym(t, "Papiere", ausweis);
	analyze(t, "Maut");	/* a vocabulary word is not overridden */
	assert_int_equal(tokens->tok[0].vocab, maut);
	assert_false(tokens->tok[0].flags & TEXT_SYNONYM);
	expect_unknown(t, "Abendessen");	/* no vocabulary word in the set */
	expect_unknown(t, "Staat");		/* multi-word entry skipped */
	expect_unknown(t, "Deputat");		/* "..." entry skipped */
	expect_unknown(t, "Töle");		/* set larger than max_set */
	text_free(&t);
}

static void test_thesaurus_errors(void **state)
{
	struct bot_err err = { 0 };
	struct text *t = text_new(&err);

	(void)state;
	assert_non_null(t);
	assert_int_equal(text_thesaurus_load(t, "tests/fixtures/no-such-file",
					     10, &err), BOT_EIO);
	assert_non_null(strstr(err.msg, "cannot open 'tests/fixtures/no-such-file'"));
	/* an empty vocabulary matches nothing, which is fine */
	assert_int_equal(text_thesaurus_load(t,
			 "tests/fixtures/thesaurus-mini.txt", 0, &err), BOT_OK);
	assert_int_equal(text_seal(t, &err), BOT_OK);
	assert_int_equal(text_thesaurus_load(t,
			 "tests/fixtures/thesaurus-mini.txt", 10, &err),
			 BOT_EINVAL);
	text_free(&t);
}

static void test_thesaurus_real(void **state)
{
	struct bot_err err = { 0 };
	struct text *t;
	int kosten, gebuehr;

	(void)state;
	if (access(REAL_THESAURUS, R_OK))
		skip();
	t = text_new(&err);
	assert_non_null(t);
	kosten = text_vocab_add(t, "Kosten");
	gebuehr = text_vocab_add(t, "Gebühr");
	assert_int_equal(text_thesaurus_load(t, REAL_THESAURUS, 12, &err),
			 BOT_OK);
	assert_int_equal(text_seal(t, &err), BOT_OK);
	expect_synonym(t, "Spesen", kosten);
	expect_synonym(t, "Unkosten", kosten);
	expect_synonym(t, "Taxe", gebuehr);
	text_free(&t);
}

/* ---- compounds -------------------------------------------------------------- */

/* 'word' must split into exactly the NULL-terminated 'parts'. */
static void expect_split(struct text *t, const char *word,
			 const char *const *parts)
{
	size_t i, whole;

	analyze(t, word);
	whole = 0;
	assert_true(tokens->tok[whole].flags & TEXT_COMPOUND);
	assert_int_equal(tokens->tok[whole].vocab, -1);
	for (i = 0; parts[i]; i++) {
		const struct text_token *p = &tokens->tok[whole + 1 + i];

		assert_true(whole + 1 + i < tokens->n);
		assert_string_equal(p->word, parts[i]);
		assert_int_equal(p->flags, TEXT_PART);
		assert_int_equal(p->parent, whole);
		assert_int_equal(p->vocab, id_of(t, parts[i]));
		assert_true(p->start >= tokens->tok[whole].start);
		assert_true(p->end <= tokens->tok[whole].end);
	}
	assert_int_equal(tokens->n, whole + 1 + i);
}

static void test_compound_longest_parts(void **state)
{
	static const char *const vocab[] = { "Hundesteuer", "Anmeldung",
		"Hund", "Steuer", NULL };
	static const char *const parts[] = { "hundesteuer", "anmeldung", NULL };
	struct text *t = text_with(vocab);

	(void)state;
	expect_split(t, "Hundesteueranmeldung", parts);
	text_free(&t);
}

static void test_compound_linking_element(void **state)
{
	static const char *const vocab[] = { "Hund", "Steuer", "Anmeldung",
		NULL };
	static const char *const parts[] = { "hund", "steuer", "anmeldung",
		NULL };
	static const char *const inflected[] = { "hund", "steuer",
		"anmeldungen", NULL };
	struct text *t = text_with(vocab);

	(void)state;
	expect_split(t, "Hundesteueranmeldung", parts);
	expect_split(t, "Hundesteueranmeldungen", inflected);
	/* never split: too short, or a part is unknown */
	analyze(t, "Hundamt");
	assert_int_equal(tokens->n, 1);
	assert_int_equal(tokens->tok[0].flags, 0);
	analyze(t, "Hundefutteranmeldung");
	assert_int_equal(tokens->n, 1);
	assert_int_equal(tokens->tok[0].vocab, -1);
	text_free(&t);
}

static void test_compound_examples(void **state)
{
	static const char *const vocab[] = { "Personalausweis", "Antrag",
		"Wohnsitz", "Anmeldung", NULL };
	static const char *const pa[] = { "personalausweis", "antrag", NULL };
	static const char *const wa[] = { "wohnsitz", "anmeldung", NULL };
	struct text *t = text_with(vocab);

	(void)state;
	expect_split(t, "Personalausweisantrag", pa);
	expect_split(t, "Wohnsitzanmeldung", wa);
	/* a part follows its whole even in a sentence */
	analyze(t, "Wo gibt es den Wohnsitzanmeldung Antrag?");
	assert_true(token(tokens, "wohnsitzanmeldung")->flags & TEXT_COMPOUND);
	assert_int_equal(tokens->tok[5].parent, 4);
	assert_int_equal(tokens->tok[6].parent, 4);
	assert_string_equal(tokens->tok[7].word, "antrag");
	assert_int_equal(tokens->tok[7].parent, -1);
	text_free(&t);
}

/* ---- typos ------------------------------------------------------------------ */

static void expect_fuzzy(struct text *t, const char *typo, const char *want,
			 float weight)
{
	const struct text_token *tk;

	analyze(t, typo);
	tk = &tokens->tok[0];
	if (tk->vocab != id_of(t, want) || !(tk->flags & TEXT_FUZZY))
		fail_msg("'%s': vocab %d flags %x, want fuzzy '%s'", typo,
			 tk->vocab, tk->flags, want);
	assert_true(tk->weight > weight - 0.01f && tk->weight < weight + 0.01f);
}

static void test_typos(void **state)
{
	static const char *const vocab[] = { "Personalausweis", "Führerschein",
		"Öffnungszeiten", "Steuer", "Haus", "Wiese", "Termin", NULL };
	struct text *t = text_with(vocab);

	(void)state;
	expect_fuzzy(t, "Persnalausweis", "Personalausweis", 0.8f);
	expect_fuzzy(t, "Fuehrerschien", "Führerschein", 0.8f);
	expect_fuzzy(t, "Führerschien", "Führerschein", 0.8f);
	expect_fuzzy(t, "Öffnungzeiten", "Öffnungszeiten", 0.8f);
	expect_fuzzy(t, "Persnalauswis", "Personalausweis", 0.65f);
	expect_fuzzy(t, "Steuerr", "Steuer", 0.8f);
	expect_fuzzy(t, "Temrin", "Termin", 0.8f);	/* transposition */
	text_free(&t);
}

static void test_no_false_typos(void **state)
{
	static const char *const vocab[] = { "Haus", "Amt", "Steuer", "Wiese",
		"Termin", "Personalausweis", NULL };
	struct text *t = text_with(vocab);

	(void)state;
	expect_unknown(t, "Maus");	/* four letters: no tolerance */
	expect_unknown(t, "Hau");
	expect_unknown(t, "Stxuxr");	/* two edits in six letters */
	expect_unknown(t, "Tremni");
	expect_unknown(t, "wieso");	/* question word, not "wiese" */
	expect_unknown(t, "Prsnlausweis");	/* three edits */
	analyze(t, "12345");
	assert_int_equal(tokens->tok[0].vocab, -1);
	assert_int_equal(tokens->tok[0].flags, TEXT_NUMBER);
	text_free(&t);
}

/* ---- limits ------------------------------------------------------------------- */

static void test_analyze_invalid_utf8(void **state)
{
	static const char *const vocab[] = { "Haus", NULL };
	struct text *t = text_with(vocab);
	struct bot_err err = { 0 };

	(void)state;
	assert_int_equal(text_analyze(t, "Haus \xc0\xaf", 7, tokens, &err),
			 BOT_EPARSE);
	assert_string_equal(err.msg, "invalid UTF-8 at byte 5");
	assert_int_equal(tokens->n, 0);
	text_free(&t);
}

static void test_analyze_truncates(void **state)
{
	static const char *const vocab[] = { "Haus", NULL };
	struct text *t = text_with(vocab);
	struct bot_err err = { 0 };
	char *big = malloc(6000);
	size_t i;

	(void)state;
	assert_non_null(big);
	/* "a" then "ä"s: byte 4096 is the middle of an "ä" */
	big[0] = 'a';
	for (i = 1; i + 1 < 6000; i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa4;
	}
	big[5000] = (char)0xff;	/* beyond the limit: never looked at */
	assert_int_equal(text_analyze(t, big, 6000, tokens, &err), BOT_OK);
	assert_int_equal(tokens->n, 1);
	assert_int_equal(tokens->folded_len, 1 + 2 * 2047);
	assert_int_equal(strlen(tokens->tok[0].word), 1 + 2 * 2047);

	/* many words: the token array is the limit */
	for (i = 0; i + 5 <= 6000; i += 5)
		memcpy(big + i, "Haus ", 5);
	assert_int_equal(text_analyze(t, big, 6000, tokens, &err), BOT_OK);
	assert_int_equal(tokens->n, TEXT_MAX_TOKENS);
	assert_int_equal(tokens->tok[TEXT_MAX_TOKENS - 1].vocab, id_of(t, "Haus"));
	assert_true(tokens->folded_len <= TEXT_MAX_INPUT);
	free(big);
	text_free(&t);
}

static void test_allocation_failures(void **state)
{
	struct bot_err err = { 0 };
	struct text *t;
	long n;
	int ok = 0;

	(void)state;
	for (n = 1; n < 200 && !ok; n++) {
		bot_alloc_fail_after(n);
		t = text_new(&err);
		ok = t && text_vocab_add(t, "Personalausweis") >= 0 &&
		     text_synonym_add(t, "Ausweis", "Personalausweis", 0.9f) ==
		     BOT_OK && text_seal(t, &err) == BOT_OK;
		bot_alloc_fail_after(0);
		if (!t)
			assert_int_equal(err.rc, BOT_ENOMEM);
		text_free(&t);
	}
	assert_true(ok);	/* eventually enough allocations succeed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_fold_umlauts),
		cmocka_unit_test(test_fold_sharp_s),
		cmocka_unit_test(test_fold_accents_punctuation),
		cmocka_unit_test(test_fold_errors),
		cmocka_unit_test(test_stems_across_umlaut_spellings),
		cmocka_unit_test(test_stop_words),
		cmocka_unit_test(test_vocab_ids),
		cmocka_unit_test(test_synonyms),
		cmocka_unit_test(test_thesaurus_mini),
		cmocka_unit_test(test_thesaurus_errors),
		cmocka_unit_test(test_thesaurus_real),
		cmocka_unit_test(test_compound_longest_parts),
		cmocka_unit_test(test_compound_linking_element),
		cmocka_unit_test(test_compound_examples),
		cmocka_unit_test(test_typos),
		cmocka_unit_test(test_no_false_typos),
		cmocka_unit_test(test_analyze_invalid_utf8),
		cmocka_unit_test(test_analyze_truncates),
		cmocka_unit_test(test_allocation_failures),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
