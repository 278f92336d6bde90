/*
 * netiquette.c - insults, threats and spam by word lists, floods and
 * repeated messages by counting, and the pause after repeated violations.
 *
 * Runs on every message, so the scan is one pass of folding plus one pass
 * of trigram lookups: every list entry is registered under the first three
 * folded bytes of its first word, and only positions whose trigram is in
 * the table are checked in full.  Nothing is allocated per message.
 */
#include "bot.h"
#include "netiquette.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kb.h"
#include "banned.h"

#define NETIQ_MAX_INPUT 4096	/* bytes of a message that are read */
#define NETIQ_BUF (NETIQ_MAX_INPUT * 2 + 8)	/* ß -> ss may double */
#define NETIQ_MAX_TOKENS 8	/* words, gaps and ends of one entry */
#define NETIQ_MAX_ALTS 12	/* alternatives of one word "(a|b|c)" */
#define NETIQ_ALT_MAX 48	/* bytes of one folded alternative */
#define NETIQ_GAP 4		/* words one '...' may stand for */
#define NETIQ_BUCKETS 4096	/* trigram table; a power of two */
#define NETIQ_HOST_MAX 128

enum tok_type { TOK_WORD, TOK_GAP, TOK_END };

/* One spelling of a word; 'pre'/'post': may be part of a compound. */
struct alt {
	char s[NETIQ_ALT_MAX];
	size_t len;
	int pre, post;
};

struct tok {
	enum tok_type type;
	size_t first_alt, n_alt;	/* into netiq.alts */
};

struct entry {
	enum netiq_kind kind;
	size_t first_tok, n_tok;	/* into netiq.toks */
};

/* An entry registered under the trigram of one first-word alternative. */
struct reg {
	size_t entry, alt;
	size_t next;		/* next reg in the bucket + 1; 0 = end */
};

struct netiq {
	const struct kb *kb;
	struct entry *entries;
	size_t n_entries;
	struct tok *toks;
	size_t n_toks;
	struct alt *alts;
	size_t n_alts;
	struct reg *regs;
	size_t n_regs;
	struct alt *allow;
	size_t n_allow;
	size_t head[NETIQ_BUCKETS];	/* reg index + 1; 0 = empty */
	uint64_t bits[NETIQ_BUCKETS / 64];
	char own_host[NETIQ_HOST_MAX];	/* links there are not spam */
};

/* An entry parsed on its own, before it is copied into the tables. */
struct parsed {
	struct alt alt[NETIQ_MAX_TOKENS][NETIQ_MAX_ALTS];
	size_t n_alt[NETIQ_MAX_TOKENS];
	enum tok_type type[NETIQ_MAX_TOKENS];
	size_t n_tok;
};

/* ---- folding ---------------------------------------------------------- */

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Leetspeak: what a digit or symbol inside a word stands for, or 0. */
static char leet(unsigned char c)
{
	switch (c) {
	case '0': return 'o';
	case '1': return 'i';
	case '3': return 'e';
	case '4': return 'a';
	case '5': return 's';
	case '7': return 't';
	case '8': return 'b';
	case '@': return 'a';
	case '$': return 's';
	case '!': return 'i';
	case '|': return 'i';
	default: return 0;
	}
}

/*
 * Latin-1 letters (U+00C0..U+00FF, "\xc3" + byte) as folded ASCII:
 * umlauts as two letters, other accents dropped; NULL when not a letter.
 */
static const char *latin1(unsigned char b)
{
	static const char *const map[64] = {
		"a", "a", "a", "a", "ae", "a", "ae", "c",
		"e", "e", "e", "e", "i", "i", "i", "i",
		"d", "n", "o", "o", "o", "o", "oe", NULL,
		"oe", "u", "u", "u", "ue", "y", "th", "ss",
		"a", "a", "a", "a", "ae", "a", "ae", "c",
		"e", "e", "e", "e", "i", "i", "i", "i",
		"d", "n", "o", "o", "o", "o", "oe", NULL,
		"oe", "u", "u", "u", "ue", "y", "th", "y",
	};

	return b >= 0x80 && b < 0xc0 ? map[b - 0x80] : NULL;
}

/* Length of the UTF-8 sequence at 'p' (1 for a stray byte). */
static size_t u8len(const unsigned char *p, size_t left)
{
	size_t n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 1;
	size_t i;

	if (n > left)
		return 1;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

/*
 * What the character at 'p' is: 'l' letter (Latin or another script),
 * 'd' digit, 's' leetspeak symbol, '!', ',' comma, 'p' other clause
 * punctuation, 'n' line break, ' ' anything else.  Sets '*n' to its
 * length in bytes.
 */
static inline char char_class(const unsigned char *p, size_t left,
			      size_t *n)
{
	/* ASCII by table: this runs for every byte of every message */
	static const char ascii[128] = {
		['a' ... 'z'] = 'l', ['A' ... 'Z'] = 'l', ['0' ... '9'] = 'd',
		['@'] = 's', ['$'] = 's', ['|'] = 's', ['!'] = '!',
		[','] = ',', ['.'] = 'p', [';'] = 'p', [':'] = 'p',
		['?'] = 'p', ['\n'] = 'n', ['\r'] = 'n',
	};

	if (*p < 0x80) {
		*n = 1;
		return ascii[*p] ? ascii[*p] : ' ';
	}
	*n = u8len(p, left);
	if (*n == 1)
		return ' ';
	if (*n == 2 && p[0] == 0xc3)
		return latin1(p[1]) ? 'l' : ' ';
	/* Greek, Cyrillic ...: letters; punctuation, symbols, emoji: not */
	if (*n == 2 && p[0] >= 0xcd && p[0] <= 0xd4)
		return 'l';
	return ' ';
}

struct fold {
	char *out;
	size_t len, size;
};

static inline void put(struct fold *f, char c)
{
	if (f->len + 1 >= f->size)
		return;
	/* "iiidiot" reads as "idiot"; digits keep their runs ("1000") */
	if (c >= 'a' && c <= 'z' && f->len && f->out[f->len - 1] == c)
		return;
	f->out[f->len++] = c;
}

/* Separators: ' ' < ',' < '|'; of several in a row the strongest stays. */
static void put_sep(struct fold *f, char c)
{
	char *last;

	if (!f->len)
		return;
	last = &f->out[f->len - 1];
	if (*last == ' ' || *last == ',' || *last == '|') {
		if (c == '|' || (c == ',' && *last == ' '))
			*last = c;
		return;
	}
	put(f, c);
}

/* One character of a word; 'leety': the word has letters, so digits and
 * symbols in it are leetspeak. */
static void put_char(struct fold *f, const unsigned char *p, size_t n,
		     char cls, int leety)
{
	const char *s;

	if (cls == 'l' && n == 1) {
		put(f, (char)(*p | 0x20));
	} else if (cls == 'l' && p[0] == 0xc3) {
		for (s = latin1(p[1]); *s; s++)
			put(f, *s);
	} else if (cls == 'l') {
		if (f->len + n < f->size) {
			memcpy(f->out + f->len, p, n);
			f->len += n;
		}
	} else if (leety && leet(*p)) {
		put(f, leet(*p));
	} else if (cls == 'd') {
		put(f, (char)*p);
	}
}

static int in_word(char cls)
{
	return cls == 'l' || cls == 'd' || cls == 's' || cls == '!';
}

/*
 * One run of word characters at 'p' (letters, digits, leet symbols; a
 * '!' only inside, since at the end it is punctuation).  Returns its
 * length in bytes.
 */
static size_t fold_word(struct fold *f, const unsigned char *p, size_t left)
{
	size_t i = 0, end = 0, n;
	int letters = 0;
	char cls;

	while (i < left) {
		cls = char_class(p + i, left - i, &n);
		if (!in_word(cls))
			break;
		letters |= cls == 'l';
		i += n;
		if (cls != '!')
			end = i;
	}
	for (i = 0; i < end; i += n) {
		cls = char_class(p + i, end - i, &n);
		put_char(f, p + i, n, cls, letters);
	}
	return end ? end : 1;
}

static int is_sep(char c)
{
	return c == ' ' || c == ',' || c == '|' || c == '\0';
}

/* Between two words of one clause (a phrase may go on there). */
static int is_gap(char c)
{
	return c == ' ' || c == ',';
}

/* A word of one byte at 's[x]'? */
static int single(const char *s, size_t len, size_t x)
{
	return x < len && !is_sep(s[x]) && (x + 1 == len || is_sep(s[x + 1]));
}

/* "i d i o t" (three or more single letters in a row) becomes "idiot".
 * Works in place: it only ever writes behind where it reads. */
static size_t join_letters(char *s, size_t len)
{
	size_t r = 0, w = 0, run, k;
	int start = 1;

	while (r < len) {
		run = 0;
		while (start && single(s, len, r + 2 * run) &&
		       (!run || s[r + 2 * run - 1] == ' '))
			run++;
		if (run < 3) {
			start = is_sep(s[r]);
			s[w++] = s[r++];
			continue;
		}
		for (k = 0; k < run; k++)
			if (!k || s[w - 1] != s[r + 2 * k])
				s[w++] = s[r + 2 * k];
		r += 2 * run - 1;
		start = 0;
	}
	return w;
}

/*
 * The separator for punctuation of class 'cls' at 'p[i]' ('n' bytes): a
 * clause ends at . ; : ? ! before a space or the end, and at a line
 * break; "z.B." and "10:00" go on.
 */
static char sep_for(char cls, const unsigned char *p, size_t i, size_t n,
		    size_t len)
{
	int before_space = i + n >= len || p[i + n] == ' ' ||
			   p[i + n] == '\n' || p[i + n] == '\r';

	if (cls == 'n' || ((cls == 'p' || cls == '!') && before_space))
		return '|';
	return cls == ',' ? ',' : ' ';
}

size_t netiq_fold(const char *in, size_t len, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)in;
	struct fold f = { out, 0, size };
	size_t i = 0, n;
	char cls;

	if (!size)
		return 0;
	if (len > NETIQ_MAX_INPUT)
		len = NETIQ_MAX_INPUT;
	while (i < len) {
		cls = char_class(p + i, len - i, &n);
		if (in_word(cls) && (cls != '!' ||
				     (i + 1 < len && is_alpha(p[i + 1])))) {
			i += fold_word(&f, p + i, len - i);
			continue;
		}
		put_sep(&f, sep_for(cls, p, i, n, len));
		i += n;
	}
	while (f.len && is_sep(out[f.len - 1]))
		f.len--;
	f.len = join_letters(out, f.len);
	out[f.len] = '\0';
	return f.len;
}

/* ---- entries ---------------------------------------------------------- */

static int fail(char *msg, size_t size, const char *text)
{
	snprintf(msg, size, "%s", text);
	return 1;
}

/* Fold one alternative ("*Idiot", "zünd*") into 'a'. */
static int alt_parse(const char *s, size_t len, struct alt *a, char *msg,
		     size_t size)
{
	char buf[NETIQ_ALT_MAX * 2];
	size_t n;

	memset(a, 0, sizeof(*a));
	if (len && s[0] == '*') {
		a->pre = 1;
		s++;
		len--;
	}
	if (len && s[len - 1] == '*') {
		a->post = 1;
		len--;
	}
	if (len >= NETIQ_ALT_MAX)
		return fail(msg, size, "word too long");
	n = netiq_fold(s, len, buf, sizeof(buf));
	if (!n)
		return fail(msg, size, "a word without letters");
	if (strchr(buf, ' ') || strchr(buf, '|') || strchr(buf, ',') ||
	    strchr(buf, '*') ||
	    n >= NETIQ_ALT_MAX)
		return fail(msg, size, "write words separated by spaces, "
			    "alternatives as (a|b), '*' only at the start "
			    "or end of a word");
	memcpy(a->s, buf, n + 1);
	a->len = n;
	return 0;
}

/* "(a|b|c)" or "a": the alternatives of one word. */
static int tok_parse(const char *s, size_t len, struct parsed *p, char *msg,
		     size_t size)
{
	size_t t = p->n_tok, start, i;

	if (len >= 2 && s[0] == '(' && s[len - 1] == ')') {
		s++;
		len -= 2;
	}
	p->type[t] = TOK_WORD;
	p->n_alt[t] = 0;
	for (start = 0, i = 0; i <= len; i++) {
		if (i < len && s[i] != '|')
			continue;
		if (p->n_alt[t] == NETIQ_MAX_ALTS)
			return fail(msg, size, "too many alternatives");
		if (alt_parse(s + start, i - start, &p->alt[t][p->n_alt[t]],
			      msg, size))
			return 1;
		p->n_alt[t]++;
		start = i + 1;
	}
	return 0;
}

/* Every first-word alternative needs a trigram: 3 letters, or 2 and a
 * following word ("du ..."). */
static int first_ok(const struct parsed *p, char *msg, size_t size)
{
	size_t i;

	if (p->type[0] != TOK_WORD)
		return fail(msg, size, "an entry must start with a word");
	for (i = 0; i < p->n_alt[0]; i++) {
		const struct alt *a = &p->alt[0][i];

		if (a->len >= 3 || (a->len == 2 && !a->post && p->n_tok > 1 &&
				    p->type[1] != TOK_END))
			continue;
		return fail(msg, size, "the first word needs at least 3 "
			    "letters");
	}
	if (p->type[p->n_tok - 1] == TOK_GAP)
		return fail(msg, size, "'...' must stand between two words");
	return 0;
}

/* One space-separated token: a gap, an end or a word. */
static int tok_read(const char *s, size_t len, struct parsed *p, char *msg,
		    size_t size)
{
	if (len == 3 && !memcmp(s, "...", 3))
		p->type[p->n_tok] = TOK_GAP;
	else if (len == 1 && *s == '$')
		p->type[p->n_tok] = TOK_END;
	else
		return tok_parse(s, len, p, msg, size);
	return 0;
}

static int entry_parse(const char *src, struct parsed *p, char *msg,
		       size_t size)
{
	const char *s = src, *e;

	p->n_tok = 0;
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		for (e = s; *e && *e != ' ' && *e != '\t'; e++)
			;
		if (p->n_tok == NETIQ_MAX_TOKENS)
			return fail(msg, size, "too many words (at most 8)");
		if (p->n_tok && p->type[p->n_tok - 1] == TOK_END)
			return fail(msg, size, "'$' must be the last word");
		if (tok_read(s, (size_t)(e - s), p, msg, size))
			return 1;
		p->n_tok++;
		s = e;
	}
	if (!p->n_tok)
		return fail(msg, size, "empty entry");
	return first_ok(p, msg, size);
}

int netiq_entry_check(const char *entry, char *msg, size_t size)
{
	struct parsed p;

	return entry_parse(entry, &p, msg, size);
}

/* ---- building the tables ---------------------------------------------- */

static size_t trigram(const char *s)
{
	unsigned h = (unsigned char)s[0] * 961u + (unsigned char)s[1] * 31u +
		     (unsigned char)s[2];

	return (h * 2654435761u >> 12) & (NETIQ_BUCKETS - 1);
}

static void *grow(void *arr, size_t n, size_t size)
{
	char *p = arr;

	if (n == 0 || !(n & (n - 1))) {
		p = bot_realloc(arr, (n ? n * 2 : 1) * size);
		if (!p)
			return NULL;
	}
	memset(p + n * size, 0, size);
	return p;
}

/* Register entry 'e' under the trigram of alternative 'a'. */
static int reg_add(struct netiq *n, size_t e, size_t a)
{
	const struct alt *al = &n->alts[a];
	char key[3] = { ' ', ' ', ' ' };
	struct reg *r;
	size_t b;

	memcpy(key, al->s, al->len < 3 ? al->len : 3);
	b = trigram(key);
	r = grow(n->regs, n->n_regs, sizeof(*r));
	if (!r)
		return BOT_ENOMEM;
	n->regs = r;
	r = &n->regs[n->n_regs];
	r->entry = e;
	r->alt = a;
	r->next = n->head[b];
	n->head[b] = ++n->n_regs;
	n->bits[b / 64] |= 1ull << (b % 64);
	return BOT_OK;
}

static int tok_add(struct netiq *n, const struct parsed *p, size_t t)
{
	struct tok *tk = grow(n->toks, n->n_toks, sizeof(*tk));
	size_t i;

	if (!tk)
		return BOT_ENOMEM;
	n->toks = tk;
	tk = &n->toks[n->n_toks++];
	tk->type = p->type[t];
	tk->first_alt = n->n_alts;
	tk->n_alt = p->type[t] == TOK_WORD ? p->n_alt[t] : 0;
	for (i = 0; i < tk->n_alt; i++) {
		struct alt *a = grow(n->alts, n->n_alts, sizeof(*a));

		if (!a)
			return BOT_ENOMEM;
		n->alts = a;
		n->alts[n->n_alts++] = p->alt[t][i];
	}
	return BOT_OK;
}

static int entry_add(struct netiq *n, const char *src, enum netiq_kind kind,
		     struct parsed *p)
{
	struct entry *e;
	char msg[128];
	size_t t, i;
	int rc;

	if (entry_parse(src, p, msg, sizeof(msg)))
		return BOT_OK;	/* reported by kb.c */
	e = grow(n->entries, n->n_entries, sizeof(*e));
	if (!e)
		return BOT_ENOMEM;
	n->entries = e;
	e = &n->entries[n->n_entries];
	e->kind = kind;
	e->first_tok = n->n_toks;
	e->n_tok = p->n_tok;
	for (t = 0; t < p->n_tok; t++) {
		rc = tok_add(n, p, t);
		if (rc)
			return rc;
	}
	for (i = 0; i < p->n_alt[0]; i++) {
		rc = reg_add(n, n->n_entries, n->toks[e->first_tok].first_alt + i);
		if (rc)
			return rc;
	}
	n->n_entries++;
	return BOT_OK;
}

static int allow_add(struct netiq *n, const char *src)
{
	struct alt a, *v;
	char msg[64];

	if (alt_parse(src, strlen(src), &a, msg, sizeof(msg)))
		return BOT_OK;
	v = grow(n->allow, n->n_allow, sizeof(*v));
	if (!v)
		return BOT_ENOMEM;
	n->allow = v;
	n->allow[n->n_allow++] = a;
	return BOT_OK;
}

/* "https://www.musterstadt.example/x" -> "musterstadt.example" */
static void own_host(struct netiq *n, const char *url)
{
	const char *h, *e;

	if (!url || n->own_host[0])
		return;
	h = strstr(url, "://");
	h = h ? h + 3 : url;
	if (!strncasecmp(h, "www.", 4))
		h += 4;
	e = h + strcspn(h, "/:?#");
	if (e > h && (size_t)(e - h) < sizeof(n->own_host))
		snprintf(n->own_host, sizeof(n->own_host), "%.*s",
			 (int)(e - h), h);
}

static int lists_add(struct netiq *n, const struct kb_netiquette *ni,
		     struct parsed *p)
{
	const struct {
		const struct kb_strv *v;
		enum netiq_kind kind;
	} lists[] = {
		{ &ni->threats, NETIQ_THREAT },
		{ &ni->insults, NETIQ_INSULT },
		{ &ni->spam, NETIQ_SPAM },
	};
	size_t l, i;
	int rc = BOT_OK;

	for (l = 0; l < BOT_ARRAY_SIZE(lists); l++)
		for (i = 0; !rc && i < lists[l].v->n; i++)
			rc = entry_add(n, lists[l].v->v[i], lists[l].kind, p);
	for (i = 0; !rc && i < ni->allow.n; i++)
		rc = allow_add(n, ni->allow.v[i]);
	return rc;
}

struct netiq *netiq_new(const struct kb *kb, struct bot_err *err)
{
	struct netiq *n = bot_calloc(1, sizeof(*n));
	struct parsed *p = bot_malloc(sizeof(*p));

	if (!n || !p || lists_add(n, &kb->netiquette, p)) {
		bot_free(p);
		netiq_free(&n);
		bot_fail(err, BOT_ENOMEM, "out of memory");
		return NULL;
	}
	bot_free(p);
	n->kb = kb;
	own_host(n, kb->settings.netiquette_url);
	own_host(n, kb->settings.privacy_url);
	return n;
}

void netiq_free(struct netiq **np)
{
	struct netiq *n = *np;

	if (!n)
		return;
	bot_free(n->entries);
	bot_free(n->toks);
	bot_free(n->alts);
	bot_free(n->regs);
	bot_free(n->allow);
	bot_free(n);
	*np = NULL;
}

/* ---- matching --------------------------------------------------------- */

/* German endings a word may carry after a listed word (folded, with
 * double letters collapsed: "innen" is "inen"). */
static int is_ending(const char *s, size_t len)
{
	static const char *const endings[] = {
		"e", "en", "er", "es", "em", "ern", "n", "s", "in", "inen",
		"t", "st", "et", "est", "te", "ten",
	};
	size_t i;

	if (!len)
		return 1;
	for (i = 0; i < BOT_ARRAY_SIZE(endings); i++)
		if (strlen(endings[i]) == len && !memcmp(endings[i], s, len))
			return 1;
	return 0;
}

/* 'a' at 'p' inside the word [ws, we) of 's'. */
static int alt_at(const struct alt *a, const char *s, size_t ws, size_t we,
		  size_t p)
{
	if (p + a->len > we || memcmp(s + p, a->s, a->len))
		return 0;
	if (p != ws && !a->pre)
		return 0;
	return a->post || is_ending(s + p + a->len, we - p - a->len);
}

static int alt_in_word(const struct alt *a, const char *s, size_t ws,
		       size_t we)
{
	size_t p;

	if (!a->pre)
		return alt_at(a, s, ws, we, ws);
	for (p = ws; p + a->len <= we; p++)
		if (alt_at(a, s, ws, we, p))
			return 1;
	return 0;
}

static size_t word_end(const char *s, size_t p)
{
	while (!is_sep(s[p]))
		p++;
	return p;
}

/* Tokens 'ti'.. of entry 'e' from 'pos' (just after the last word). */
static int toks_match(const struct netiq *n, const struct entry *e, size_t ti,
		      const char *s, size_t pos)
{
	const struct tok *t;
	size_t i, k, we;

	if (ti == e->n_tok)
		return 1;
	t = &n->toks[e->first_tok + ti];
	if (t->type == TOK_END)
		return s[pos] != ' ';
	if (t->type == TOK_GAP) {
		for (k = 0; k <= NETIQ_GAP; k++) {
			if (toks_match(n, e, ti + 1, s, pos))
				return 1;
			if (!is_gap(s[pos]))
				return 0;
			pos = word_end(s, pos + 1);
		}
		return 0;
	}
	if (!is_gap(s[pos]))
		return 0;
	we = word_end(s, pos + 1);
	for (i = 0; i < t->n_alt; i++)
		if (alt_in_word(&n->alts[t->first_alt + i], s, pos + 1, we))
			return toks_match(n, e, ti + 1, s, we);
	return 0;
}

static int allowed(const struct netiq *n, const char *s, size_t ws, size_t we)
{
	size_t i;

	for (i = 0; i < n->n_allow; i++)
		if (alt_in_word(&n->allow[i], s, ws, we))
			return 1;
	return 0;
}

/* The entry registered as 'r' at position 'p' of 's'. */
static int reg_match(const struct netiq *n, const struct reg *r,
		     const char *s, size_t p)
{
	const struct alt *a = &n->alts[r->alt];
	size_t ws = p, we;

	while (ws && !is_sep(s[ws - 1]))
		ws--;
	we = word_end(s, p);
	if (!alt_at(a, s, ws, we, p) || allowed(n, s, ws, we))
		return 0;
	return toks_match(n, &n->entries[r->entry], 1, s, we);
}

static int kind_rank(enum netiq_kind k)
{
	return k == NETIQ_THREAT ? 3 : k == NETIQ_INSULT ? 2 :
	       k == NETIQ_SPAM ? 1 : 0;
}

/* The worst listed kind in folded 's'; spam words only count when
 * 'spam_ok' (the message has a foreign link). */
static enum netiq_kind scan_folded(const struct netiq *n, const char *s,
				   size_t len, int spam_ok)
{
	enum netiq_kind best = NETIQ_NONE, k;
	size_t p, b, ri;

	for (p = 0; p + 1 < len; p++) {
		if (is_sep(s[p]))
			continue;
		b = trigram(s + p);
		if (!(n->bits[b / 64] & (1ull << (b % 64))))
			continue;
		for (ri = n->head[b]; ri; ri = n->regs[ri - 1].next) {
			const struct reg *r = &n->regs[ri - 1];

			k = n->entries[r->entry].kind;
			if (kind_rank(k) <= kind_rank(best) ||
			    (k == NETIQ_SPAM && !spam_ok))
				continue;
			if (reg_match(n, r, s, p))
				best = k;
		}
		if (best == NETIQ_THREAT)
			break;
	}
	return best;
}

/* ---- links ------------------------------------------------------------ */

static int tld_known(const char *s, size_t len)
{
	static const char *const tlds[] = {
		"com", "net", "org", "info", "biz", "ru", "xyz", "top", "io",
		"cc", "shop", "online", "site", "club", "win", "bid", "de",
		"eu", "me", "ly", "app", "live", "store", "vip", "cn",
	};
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(tlds); i++)
		if (strlen(tlds[i]) == len && !strncasecmp(tlds[i], s, len))
			return 1;
	return 0;
}

static int host_char(char c)
{
	return is_alpha((unsigned char)c) || is_digit((unsigned char)c) ||
	       c == '.' || c == '-';
}

/* Where the host of a link in [s, e) would start; '*bare' when there is
 * no "://" or "www." (then only known top-level domains count). */
static const char *host_start(const char *s, const char *e, int *bare)
{
	const char *p;

	*bare = 0;
	for (p = e - 3; p >= s; p--)
		if (!memcmp(p, "://", 3))
			return p + 3;
	if (e - s > 4 && !strncasecmp(s, "www.", 4))
		return s;
	*bare = 1;
	for (p = s; p < e && !is_alpha((unsigned char)*p) &&
		    !is_digit((unsigned char)*p); p++)
		;
	return p;
}

/* The host of a link in the chunk [s, e) of non-space bytes, or NULL. */
static const char *link_host(const char *s, const char *e, size_t *hlen)
{
	const char *h, *p, *dot = NULL;
	int bare;

	if (memchr(s, '@', (size_t)(e - s)))
		return NULL;	/* an e-mail address */
	h = host_start(s, e, &bare);
	for (p = h; p < e && host_char(*p); p++)
		if (*p == '.')
			dot = p;
	if (!dot || dot == h)
		return NULL;
	if (bare && !tld_known(dot + 1, (size_t)(p - dot - 1)))
		return NULL;
	*hlen = (size_t)(p - h);
	return h;
}

static int host_is_own(const struct netiq *n, const char *h, size_t len)
{
	size_t own = strlen(n->own_host);

	if (!own || len < own || strncasecmp(h + len - own, n->own_host, own))
		return 0;
	return len == own || h[len - own - 1] == '.';
}

/* Count links in the raw text, and those to other sites than the city's. */
static void links_count(const struct netiq *n, const char *text, size_t len,
			int *all, int *foreign)
{
	const char *p = text, *end = text + len, *e, *h;
	size_t hl;

	*all = *foreign = 0;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\n' || *p == '\t'))
			p++;
		for (e = p; e < end && *e != ' ' && *e != '\n' && *e != '\t';
		     e++)
			;
		/* every link has a dot; most words do not */
		h = e > p && memchr(p, '.', (size_t)(e - p)) ?
			link_host(p, e, &hl) : NULL;
		if (h) {
			(*all)++;
			*foreign += !host_is_own(n, h, hl);
		}
		p = e;
	}
}

/* ---- the API ---------------------------------------------------------- */

static enum netiq_kind scan(const struct netiq *n, const char *text,
			    size_t len, const char *folded, size_t flen)
{
	int links, foreign;
	enum netiq_kind k;

	links_count(n, text, len, &links, &foreign);
	k = scan_folded(n, folded, flen, foreign > 0);
	if (k == NETIQ_NONE && links > n->kb->netiquette.max_links)
		k = NETIQ_SPAM;
	return k;
}

enum netiq_kind netiq_scan(const struct netiq *n, const char *text,
			   size_t len)
{
	char buf[NETIQ_BUF];
	size_t flen;

	if (len > NETIQ_MAX_INPUT)
		len = NETIQ_MAX_INPUT;
	flen = netiq_fold(text, len, buf, sizeof(buf));
	return scan(n, text, len, buf, flen);
}

static uint64_t hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h ? h : 1;
}

/* Flood and repeat counters for one more message. */
static enum netiq_kind count(const struct kb_netiquette *ni,
			     struct netiq_state *st, const char *folded,
			     size_t flen, time_t now)
{
	enum netiq_kind k = NETIQ_NONE;
	uint64_t h = hash(folded, flen);

	if (!st->window_count || now < st->window_start ||
	    now - st->window_start >= ni->flood_seconds) {
		st->window_start = now;
		st->window_count = 0;
	}
	if (++st->window_count > ni->flood_messages)
		k = NETIQ_FLOOD;
	if (flen && h == st->last_hash) {
		st->repeats++;
	} else {
		st->last_hash = flen ? h : 0;
		st->repeats = 1;
	}
	if (!k && flen && st->repeats >= ni->repeats)
		k = NETIQ_REPEAT;
	return k;
}

static const char *text_for(const struct netiq *n, enum netiq_kind k,
			    int mute)
{
	const struct kb_netiquette *ni = &n->kb->netiquette;

	if (mute || k == NETIQ_MUTED)
		return ni->mute ? ni->mute :
			"Der Chat ist für kurze Zeit pausiert. Bitte versuchen "
			"Sie es in einigen Minuten noch einmal.";
	if (k == NETIQ_THREAT && ni->threat)
		return ni->threat;
	if ((k == NETIQ_FLOOD || k == NETIQ_REPEAT) && ni->flood)
		return ni->flood;
	if (k == NETIQ_FLOOD || k == NETIQ_REPEAT)
		return "Sie haben sehr viele oder gleiche Nachrichten "
		       "geschickt. Bitte stellen Sie Ihre Frage einmal, ich "
		       "antworte Ihnen gern.";
	if (ni->reminder)
		return ni->reminder;
	if (n->kb->settings.netiquette)
		return n->kb->settings.netiquette;
	return "Bitte bleiben Sie freundlich und sachlich, so wie es unsere "
	       "Netiquette vorsieht.{{#netiquette_url}} Sie finden sie hier: "
	       "{{netiquette_url}}{{/netiquette_url}} Stellen Sie Ihre Frage "
	       "gern noch einmal, dann helfe ich Ihnen weiter.";
}

void netiq_check(const struct netiq *n, struct netiq_state *st,
		 const char *text, size_t len, time_t now,
		 struct netiq_verdict *v)
{
	const struct kb_netiquette *ni = &n->kb->netiquette;
	char buf[NETIQ_BUF];
	enum netiq_kind k;
	size_t flen;

	memset(v, 0, sizeof(*v));
	if (st->muted_until && now < st->muted_until) {
		v->kind = NETIQ_MUTED;
		v->text = text_for(n, NETIQ_MUTED, 0);
		return;
	}
	if (st->muted_until) {	/* the pause is over: a fresh start */
		st->muted_until = 0;
		st->strikes = 0;
	}
	if (len > NETIQ_MAX_INPUT)
		len = NETIQ_MAX_INPUT;
	flen = netiq_fold(text, len, buf, sizeof(buf));
	k = count(ni, st, buf, flen, now);
	{
		enum netiq_kind c = scan(n, text, len, buf, flen);

		if (c != NETIQ_NONE)
			k = c;	/* what was said weighs more than how often */
	}
	if (k == NETIQ_NONE)
		return;
	st->strikes++;
	st->violations++;
	if (st->strikes >= ni->strikes && ni->mute_minutes > 0) {
		st->muted_until = now + (time_t)ni->mute_minutes * 60;
		v->mute_now = 1;
	}
	v->kind = k;
	v->text = text_for(n, k, v->mute_now);
}

const char *netiq_kind_name(enum netiq_kind kind)
{
	static const char *const names[NETIQ_KIND_COUNT] = {
		NULL, "insult", "threat", "spam", "flood", "repeat", "muted",
	};

	return (unsigned)kind < NETIQ_KIND_COUNT ? names[kind] : NULL;
}
