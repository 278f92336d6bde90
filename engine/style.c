/*
 * style.c - plain-language warnings for 'amtsbot check': long sentences
 * and bureaucratic words in every text citizens read.
 *
 * Works on the UTF-8 text as written (not folded), so that warnings can
 * point at the line and column where a sentence or a word starts.
 */
#include "bot.h"
#include "style.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "kb.h"
#include "banned.h"

#define SNIPPET 48		/* bytes of a long sentence quoted */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c >= 0xc0;
}

/* ---- sentences ------------------------------------------------------------ */

/* "z.", "ca.", "Nr.", "1.", "24.12.", "z.B.": a '.' that ends no sentence. */
static int is_abbrev(const char *tok, size_t len)
{
	static const char *const abbr[] = {
		"ca", "bzw", "ggf", "usw", "etc", "nr", "str", "inkl", "zzgl",
		"evtl", "vgl", "bspw", "max", "min", "mind", "tel", "abs",
		"art", "dr", "hr", "fr", "st", "sog", "gem", "lt", "zb", "ua",
		"dh", "uu", "bzgl", "einschl", "ausschl", "mo", "di", "mi",
		"do", "sa", "so", "jan", "feb", "okt", "nov", "dez",
	};
	size_t i, digits = 0, dots = 0, seg = 0, longest = 0;

	if (len && tok[len - 1] == '.')
		len--;
	for (i = 0; i < len; i++) {
		digits += tok[i] >= '0' && tok[i] <= '9';
		dots += tok[i] == '.';
		seg = tok[i] == '.' ? 0 : seg + 1;
		longest = seg > longest ? seg : longest;
	}
	/* "1", "24.12", "z.B", "u.a"; not "www.musterstadt.example" */
	if (len <= 1 || digits + dots == len || (dots && longest <= 2))
		return 1;
	for (i = 0; i < BOT_ARRAY_SIZE(abbr); i++)
		if (strlen(abbr[i]) == len && !strncasecmp(abbr[i], tok, len))
			return 1;
	return 0;
}

/* Skip a {{...}} tag at 't + i'; add its words (1, or 0 for sections). */
static size_t skip_tag(const char *t, size_t i, int *words)
{
	const char *close = strstr(t + i + 2, "}}");
	size_t k = i + 2;

	if (!close)
		return strlen(t);
	while (t[k] == ' ')
		k++;
	if (t[k] != '#' && t[k] != '/' && t[k] != '^')
		(*words)++;
	return (size_t)(close - t) + 2;
}

/* Where token [s, e) ends without closing quotes and brackets ("Ja.“"). */
static size_t strip_closers(const char *t, size_t s, size_t e)
{
	const unsigned char *u = (const unsigned char *)t;

	for (;;) {
		if (e > s && strchr(")]\"'", t[e - 1]))
			e--;
		else if (e >= s + 3 && u[e - 3] == 0xe2 && u[e - 2] == 0x80 &&
			 (u[e - 1] == 0x9c || u[e - 1] == 0x9d ||
			  u[e - 1] == 0x98 || u[e - 1] == 0x99))
			e -= 3;
		else if (e >= s + 2 && u[e - 2] == 0xc2 &&
			 (u[e - 1] == 0xab || u[e - 1] == 0xbb))
			e -= 2;
		else
			return e;
	}
}

/* One token at 't + i' (up to a space or a tag); returns its end and
 * whether it ends the sentence. */
static size_t token(const char *t, size_t i, int *words, int *ends)
{
	size_t s = i, e;
	int alnum = 0;

	while (t[i] && !is_space(t[i]) && !(t[i] == '{' && t[i + 1] == '{')) {
		alnum |= is_alnum((unsigned char)t[i]);
		i++;
	}
	*words += alnum;
	e = i;
	e = strip_closers(t, s, i);
	*ends = e > s && strchr(".!?", t[e - 1]) &&
		(!t[i] || is_space(t[i])) &&
		(t[e - 1] != '.' || !is_abbrev(t + s, e - s));
	return i;
}

int style_sentence_next(const char *t, size_t *pos, struct style_sentence *s)
{
	size_t i = *pos;
	int ends = 0;

	while (t[i] && is_space(t[i]))
		i++;
	if (!t[i])
		return 0;
	s->start = i;
	s->words = 0;
	while (t[i] && t[i] != '\n' && !ends) {
		if (is_space(t[i]))
			i++;
		else if (t[i] == '{' && t[i + 1] == '{')
			i = skip_tag(t, i, &s->words);
		else
			i = token(t, i, &s->words, &ends);
	}
	s->end = i;
	*pos = i;
	return 1;
}

/* ---- words ---------------------------------------------------------------- */

/* The code point at 'p' in lower case (ASCII and Latin-1); '*n' bytes. */
static uint32_t lower_at(const unsigned char *p, size_t *n)
{
	uint32_t c = *p;

	*n = 1;
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c == 0xc3 && (p[1] & 0xc0) == 0x80) {
		*n = 2;
		c = 0xc0 + (p[1] & 0x3f);
		if (c >= 0xc0 && c <= 0xde && c != 0xd7)
			c += 32;
		return c;
	}
	/* other characters: their bytes, compared as they are */
	while (c >= 0xc0 && *n < 4 && (p[*n] & 0xc0) == 0x80)
		c = c << 8 | p[(*n)++];
	return c;
}

static int letter_before(const char *t, size_t i)
{
	if (!i)
		return 0;
	i--;
	while (i && ((unsigned char)t[i] & 0xc0) == 0x80)
		i--;
	return is_alnum((unsigned char)t[i]) && !(t[i] >= '0' && t[i] <= '9');
}

/* Match 'word' at 't + i'; returns the end or 0. */
static size_t match_at(const char *t, size_t i, const char *word)
{
	size_t a, b;

	while (*word) {
		if (*word == ' ') {
			if (!is_space(t[i]))
				return 0;
			while (is_space(t[i]))
				i++;
			word++;
			continue;
		}
		if (lower_at((const unsigned char *)t + i, &a) !=
		    lower_at((const unsigned char *)word, &b))
			return 0;
		i += a;
		word += b;
	}
	return i;
}

static int is_ending(const char *s, size_t len)
{
	static const char *const endings[] = {
		"e", "en", "er", "ern", "es", "em", "n", "s", "se", "sen",
		"ses", "in", "innen", "nen", "t", "et", "st",
	};
	size_t i;

	if (!len)
		return 1;
	for (i = 0; i < BOT_ARRAY_SIZE(endings); i++)
		if (strlen(endings[i]) == len && !memcmp(endings[i], s, len))
			return 1;
	return 0;
}

/* A capital first letter (ASCII or À..Þ): a noun, may end a compound. */
static int is_noun(const char *word)
{
	unsigned char w0 = (unsigned char)word[0];
	unsigned char w1 = w0 ? (unsigned char)word[1] : 0;

	return (w0 >= 'A' && w0 <= 'Z') ||
	       (w0 == 0xc3 && w1 >= 0x80 && w1 <= 0x9e);
}

/* After a match ending at 'e': the end of the word if the rest is a
 * German ending, else 0. */
static size_t word_rest(const char *t, size_t e)
{
	size_t k = e;

	while (t[k] >= 'a' && t[k] <= 'z')
		k++;
	if ((t[k] && is_alnum((unsigned char)t[k])) || !is_ending(t + e, k - e))
		return 0;
	return k;
}

int style_find_word(const char *t, size_t from, const char *word,
		    size_t *start, size_t *end)
{
	int noun = is_noun(word);
	size_t i, e, k, len = strlen(t);

	if (!*word)
		return 0;
	for (i = from; i < len; i++) {
		if (((unsigned char)t[i] & 0xc0) == 0x80 ||
		    (!noun && letter_before(t, i)))
			continue;
		e = match_at(t, i, word);
		k = e ? word_rest(t, e) : 0;
		if (!k)
			continue;
		*start = i;
		*end = k;
		return 1;
	}
	return 0;
}

/* ---- the check -------------------------------------------------------------- */

/* Where byte 'off' of text 'x' was written. */
static struct kb_pos pos_at(const struct kb_text *x, size_t off)
{
	struct kb_pos p = x->pos;
	size_t i, col = 0;

	if (!x->literal)
		return p;
	for (i = 0; i < off; i++) {
		if (x->text[i] == '\n') {
			p.line++;
			col = 0;
		} else if (((unsigned char)x->text[i] & 0xc0) != 0x80) {
			col++;
		}
	}
	p.col += (int)col;
	return p;
}

/* Up to SNIPPET bytes of the sentence, cut at a character boundary. */
static int snippet_len(const char *s, size_t len, int *more)
{
	size_t n = len < SNIPPET ? len : SNIPPET;

	while (n < len && n && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	*more = n < len;
	return (int)n;
}

static int check_sentences(struct kb *kb, const struct kb_text *x)
{
	struct style_sentence s;
	struct kb_pos p;
	size_t pos = 0;
	int n, more;

	while (style_sentence_next(x->text, &pos, &s)) {
		if (s.words <= kb->plain.max_words)
			continue;
		p = pos_at(x, s.start);
		n = snippet_len(x->text + s.start, s.end - s.start, &more);
		if (kb_diag_add(kb, 'w', &p, "%s: %s: sentence of %d words "
				"(more than %d); split it: \"%.*s%s\"",
				x->label, x->field, s.words,
				kb->plain.max_words, n, x->text + s.start,
				more ? "..." : ""))
			return BOT_ENOMEM;
	}
	return BOT_OK;
}

static int check_words(struct kb *kb, const struct kb_text *x)
{
	const struct kb_plain_word *w;
	size_t i, from, a, b;
	struct kb_pos p;

	for (i = 0; i < kb->plain.n_words; i++) {
		w = &kb->plain.words[i];
		for (from = 0; style_find_word(x->text, from, w->word, &a, &b);
		     from = b) {
			p = pos_at(x, a);
			if (kb_diag_add(kb, 'w', &p, "%s: %s: write \"%s\" "
					"instead of \"%.*s\" (plain language)",
					x->label, x->field, w->use,
					(int)(b - a), x->text + a))
				return BOT_ENOMEM;
		}
	}
	return BOT_OK;
}

int style_check(struct kb *kb)
{
	size_t i;
	int rc = BOT_OK;

	for (i = 0; !rc && i < kb->n_texts; i++) {
		rc = check_sentences(kb, &kb->texts[i]);
		if (!rc)
			rc = check_words(kb, &kb->texts[i]);
	}
	return rc;
}
