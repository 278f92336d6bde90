/*
 * text.c - German-aware normalisation for the matcher: strict UTF-8
 * validation, folding, Snowball stems, stop words, a vocabulary with
 * synonyms, compound splitting and a SymSpell-style typo index.
 *
 * text_seal() precomputes everything text_analyze() needs, so the hot path
 * is hash probes plus, for words not seen before, one Snowball call.
 */
#include "bot.h"
#include "text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libstemmer.h>
#include <utf8proc.h>

#include "strbuf.h"
#include "banned.h"

#define WORD_MAX 128		/* longest vocabulary word in bytes, NUL included */
#define STEM_MAX 127		/* longer words are their own stem */
#define TYPO_MIN_CP 5		/* shorter words get no typo tolerance */
#define TYPO_MAX_CP 48		/* longer words are not typo-corrected */
#define TYPO_PREFIX 8		/* SymSpell prefix length: deletes are made here */
#define TYPO_MAX_DELETES 37	/* 1 + 8 + 8*7/2 for two deletes in the prefix */
#define CPD_MIN_WORD 8		/* shorter words are never split */
#define CPD_MAX_WORD 63		/* longer ones neither (not German words) */
#define CPD_MIN_PART 3
#define CPD_MAX_PARTS 4
#define CPD_PREFIX_MIN 6	/* a known beginning counts from this length */
#define CPD_PREFIX_REST 4	/* ... when at least this much is left */
#define CPD_MAX_TAIL_STEMS 6	/* Snowball calls allowed per compound */
#define THESAURUS_WEIGHT 0.7f
#define THESAURUS_MAX_BYTES (64u << 20)
#define NONE UINT32_MAX

/* Word entry flags, internal (the token flags are enum text_flag). */
enum {
	W_STOP = 1 << 0,	/* stop word: matched exactly only, never fuzzy */
	W_KEEP = 1 << 1,	/* question word: known, never typo-corrected */
	W_SYN = 1 << 2,		/* surface form of a synonym */
	W_VOCAB = 1 << 3,	/* registered with text_vocab_add() */
};

/*
 * The Snowball German stop word list
 * (https://snowballstem.org/algorithms/german/stop.txt, BSD licence,
 * Copyright (c) 2001 Dr Martin Porter), folded as text_fold() folds and
 * sorted for binary search.  Removed on purpose, because they carry the
 * intent of a question: kein*, nicht, was, welche*, wie, wo.  The list's
 * "unse, unsem, unsen, unses" are kept and the real forms "unsere..." added.
 */
static const char *const stop_words[] = {
	"aber", "alle", "allem", "allen", "aller", "alles", "als", "also",
	"am", "an", "ander", "andere", "anderem", "anderen", "anderer",
	"anderes", "anderm", "andern", "anderr", "anders", "auch", "auf",
	"aus", "bei", "bin", "bis", "bist", "da", "damit", "dann", "das",
	"dass", "dasselbe", "dazu", "dein", "deine", "deinem", "deinen",
	"deiner", "deines", "dem", "demselben", "den", "denn", "denselben",
	"der", "derer", "derselbe", "derselben", "des", "desselben", "dessen",
	"dich", "die", "dies", "diese", "dieselbe", "dieselben", "diesem",
	"diesen", "dieser", "dieses", "dir", "doch", "dort", "du", "durch",
	"ein", "eine", "einem", "einen", "einer", "eines", "einig", "einige",
	"einigem", "einigen", "einiger", "einiges", "einmal", "er", "es",
	"etwas", "euch", "euer", "eure", "eurem", "euren", "eurer", "eures",
	"fuer", "gegen", "gewesen", "hab", "habe", "haben", "hat", "hatte",
	"hatten", "hier", "hin", "hinter", "ich", "ihm", "ihn", "ihnen", "ihr",
	"ihre", "ihrem", "ihren", "ihrer", "ihres", "im", "in", "indem", "ins",
	"ist", "jede", "jedem", "jeden", "jeder", "jedes", "jene", "jenem",
	"jenen", "jener", "jenes", "jetzt", "kann", "koennen", "koennte",
	"machen", "man", "manche", "manchem", "manchen", "mancher", "manches",
	"mein", "meine", "meinem", "meinen", "meiner", "meines", "mich", "mir",
	"mit", "muss", "musste", "nach", "nichts", "noch", "nun", "nur", "ob",
	"oder", "ohne", "sehr", "sein", "seine", "seinem", "seinen", "seiner",
	"seines", "selbst", "sich", "sie", "sind", "so", "solche", "solchem",
	"solchen", "solcher", "solches", "soll", "sollte", "sondern", "sonst",
	"ueber", "um", "und", "uns", "unse", "unsem", "unsen", "unser",
	"unsere", "unserem", "unseren", "unserer", "unseres", "unses", "unter",
	"viel", "vom", "von", "vor", "waehrend", "war", "waren", "warst",
	"weg", "weil", "weiter", "wenn", "werde", "werden", "wieder", "will",
	"wir", "wird", "wirst", "wollen", "wollte", "wuerde", "wuerden", "zu",
	"zum", "zur", "zwar", "zwischen",
};

/*
 * Question words and negations: not stop words, and never "corrected" into
 * a similar vocabulary word ("wieso" is not a typo of "wiese").
 */
static const char *const keep_words[] = {
	"kein", "keine", "keinem", "keinen", "keiner", "keines", "nicht",
	"wann", "warum", "was", "welche", "welchem", "welchen", "welcher",
	"welches", "wer", "weshalb", "weswegen", "wie", "wieso", "wieviel",
	"wo", "wofuer", "woher", "wohin", "womit", "wozu",
};

/* ---- UTF-8 ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at 's' ('n' bytes left), 0 if bad. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int text_utf8_check(const char *s, size_t len, struct bot_err *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint64_t v;
	uint32_t cp;

	while (i < len) {
		if (len - i >= 8) {
			memcpy(&v, p + i, 8);
			if (!(v & 0x8080808080808080ull)) {
				i += 8;
				continue;
			}
		}
		n = utf8_seq(p + i, len - i, &cp);
		if (!n)
			return bot_fail(err, BOT_EPARSE,
					"invalid UTF-8 at byte %zu", i);
		i += n;
	}
	return BOT_OK;
}

/* The longest prefix of 'len' bytes that does not end inside a sequence. */
static size_t utf8_cut(const char *s, size_t len)
{
	size_t pos = len, back = 0;

	while (pos > 0 && back < 3 && ((unsigned char)s[pos] & 0xc0) == 0x80)
		pos--, back++;
	return pos;
}

/* ---- folding ---------------------------------------------------------- */

/*
 * Folded output goes either into a fixed buffer (text_analyze, which must
 * not allocate) or into a strbuf (text_fold).  Separators are only written
 * between words, so the result has no leading or trailing space.
 */
struct fold_sink {
	char *buf;
	size_t len, cap;	/* bytes written by this fold, buffer size */
	struct strbuf *sb;
	int full;		/* cap or strbuf limit reached: stop */
	int space;		/* a separator is pending */
	int32_t last;		/* last written code point, 0 after a separator */
};

static void sink_sep(struct fold_sink *k)
{
	k->space = 1;
	k->last = 0;
}

static void sink_put(struct fold_sink *k, const char *p, size_t n, int32_t cp)
{
	int sp = k->space && k->len;

	if (k->full)
		return;
	if (k->sb) {
		if ((sp && strbuf_addch(k->sb, ' ')) || strbuf_add(k->sb, p, n)) {
			k->full = 1;
			return;
		}
	} else {
		if (k->len + n + (size_t)sp > k->cap) {
			k->full = 1;
			return;
		}
		if (sp)
			k->buf[k->len] = ' ';
		memcpy(k->buf + k->len + sp, p, n);
	}
	k->len += n + (size_t)sp;
	k->space = 0;
	k->last = cp;
}

/* ASCII letters and digits folded, 0 for everything that separates words. */
static const char ascii_fold[128] = {
	['0'] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
	['A'] = 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l',
	'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',
	['a'] = 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l',
	'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',
};

static void fold_ascii(struct fold_sink *k, unsigned char c)
{
	char ch = ascii_fold[c & 0x7f];

	if (!ch) {
		sink_sep(k);
	} else if (!k->sb && !k->space && k->len < k->cap) {
		k->buf[k->len++] = ch;	/* the common case, kept cheap */
		k->last = ch;
	} else {
		sink_put(k, &ch, 1, ch);
	}
}

/* A combining mark: U+0308 after a/o/u is an umlaut, other marks on
 * Latin letters are accents and dropped, marks on other scripts stay. */
static void fold_mark(struct fold_sink *k, int32_t cp, const char *enc,
		      size_t n)
{
	if (cp == 0x308 && (k->last == 'a' || k->last == 'o' || k->last == 'u'))
		sink_put(k, "e", 1, 'e');
	else if (k->last >= 0x250)
		sink_put(k, enc, n, k->last);
}

/* One code point that is already case folded and decomposed. */
static void fold_one(struct fold_sink *k, int32_t cp)
{
	utf8proc_uint8_t enc[4];
	size_t n;

	if (cp < 0x80) {
		fold_ascii(k, (unsigned char)cp);
		return;
	}
	n = (size_t)utf8proc_encode_char(cp, enc);
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL:
	case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
		sink_put(k, (const char *)enc, n, cp);
		break;
	case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC:
	case UTF8PROC_CATEGORY_ME:
		fold_mark(k, cp, (const char *)enc, n);
		break;
	default:
		sink_sep(k);
		break;
	}
}

/* German letters are most non-ASCII input: skip utf8proc for them. */
static int fold_german(struct fold_sink *k, uint32_t cp)
{
	switch (cp) {
	case 0xc4: case 0xe4:
		sink_put(k, "ae", 2, 'e');
		return 1;
	case 0xd6: case 0xf6:
		sink_put(k, "oe", 2, 'e');
		return 1;
	case 0xdc: case 0xfc:
		sink_put(k, "ue", 2, 'e');
		return 1;
	case 0xdf: case 0x1e9e:
		sink_put(k, "ss", 2, 's');
		return 1;
	default:
		return 0;
	}
}

static void fold_cp(struct fold_sink *k, uint32_t cp)
{
	utf8proc_int32_t d[32];
	utf8proc_ssize_t n, i;
	int boundclass = 0;

	if (fold_german(k, cp))
		return;
	n = utf8proc_decompose_char((utf8proc_int32_t)cp, d, 32,
				    UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT |
				    UTF8PROC_CASEFOLD | UTF8PROC_IGNORE,
				    &boundclass);
	if (n < 0 || n > 32) {
		sink_sep(k);
		return;
	}
	for (i = 0; i < n; i++)
		fold_one(k, d[i]);
}

/* Fold 'len' bytes; invalid sequences (callers check first) separate. */
static void fold_run(struct fold_sink *k, const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, n;
	uint32_t cp;

	while (i < len && !k->full) {
		if (s[i] < 0x80) {
			fold_ascii(k, s[i++]);
			continue;
		}
		n = utf8_seq(s + i, len - i, &cp);
		if (!n) {
			sink_sep(k);
			i++;
			continue;
		}
		fold_cp(k, cp);
		i += n;
	}
}

/* Fold into 'buf' (not NUL-terminated); (size_t)-1 when it does not fit. */
static size_t fold_fixed(const char *in, size_t len, char *buf, size_t cap)
{
	struct fold_sink k = { buf, 0, cap, NULL, 0, 0, 0 };

	fold_run(&k, in, len);
	return k.full ? (size_t)-1 : k.len;
}

int text_fold(const char *in, size_t len, struct strbuf *out,
	      struct bot_err *err)
{
	struct fold_sink k = { NULL, 0, 0, out, 0, 0, 0 };
	int rc;

	rc = text_utf8_check(in, len, err);
	if (rc)
		return rc;
	fold_run(&k, in, len);
	if (k.full)
		return bot_fail(err, BOT_ENOMEM, "folded text too long");
	return BOT_OK;
}

/* ---- stop words -------------------------------------------------------- */

/* strcmp() of the 'n' bytes at 'a' against the C string 'b'. */
static int cmp_n(const char *a, size_t n, const char *b)
{
	size_t i;

	for (i = 0; i < n && b[i]; i++)
		if (a[i] != b[i])
			return (unsigned char)a[i] - (unsigned char)b[i];
	if (i < n)
		return 1;
	return b[i] ? -1 : 0;
}

int text_is_stop(const char *word, size_t len)
{
	size_t lo = 0, hi = BOT_ARRAY_SIZE(stop_words), mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = cmp_n(word, len, stop_words[mid]);
		if (!c)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* ---- hashing and tables ------------------------------------------------ */

static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint32_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, v;

	while (n >= 8) {
		memcpy(&v, p, 8);
		h = (h ^ v) * 0x100000001b3ull;
		h ^= h >> 29;
		p += 8;
		n -= 8;
	}
	v = 0;
	memcpy(&v, p, n);
	return (uint32_t)mix64(h ^ v);
}

/* Every table entry starts with its key: a string in the arena. */
struct key {
	uint32_t off, hash, len;
};

struct stem_ent {
	struct key k;
	uint32_t freq;		/* text_vocab_add() calls: typo tie-break */
};

struct word_ent {
	struct key k;
	uint32_t stem_off, stem_len;
	int32_t id;		/* vocabulary id or -1 */
	float weight;
	uint32_t flags;		/* W_* */
};

struct syn_ent {
	struct key k;
	int32_t id;
	float weight;
};

/* Open addressing over an entry array: slots hold index + 1, 0 = empty. */
struct oatab {
	uint32_t *slot;
	uint32_t mask;
};

/* A growable array of fixed-size entries. */
struct vec {
	void *v;
	size_t n, alloc, size;
};

struct arena {
	char *buf;
	size_t len, alloc;
};

static int vec_push(struct vec *a)
{
	size_t na;
	void *p;

	if (a->n < a->alloc) {
		a->n++;
		return 0;
	}
	if (a->alloc >= UINT32_MAX / 4)
		return -1;
	na = a->alloc ? a->alloc * 2 : 64;
	p = bot_realloc(a->v, na * a->size);
	if (!p)
		return -1;
	a->v = p;
	a->alloc = na;
	a->n++;
	return 0;
}

/* Copy 'n' bytes plus a NUL into the arena; offset or NONE. */
static uint32_t arena_add(struct arena *a, const char *s, size_t n)
{
	size_t na, off = a->len;
	char *p;

	if (n >= UINT32_MAX / 4 || a->len + n + 1 >= UINT32_MAX / 2)
		return NONE;
	if (a->len + n + 1 > a->alloc) {
		na = a->alloc ? a->alloc : 4096;
		while (na < a->len + n + 1)
			na *= 2;
		p = bot_realloc(a->buf, na);
		if (!p)
			return NONE;
		a->buf = p;
		a->alloc = na;
	}
	memcpy(a->buf + off, s, n);
	a->buf[off + n] = '\0';
	a->len += n + 1;
	return (uint32_t)off;
}

static const struct key *vec_key(const struct vec *a, uint32_t i)
{
	return (const struct key *)((const char *)a->v + (size_t)i * a->size);
}

static uint32_t tab_find(const struct oatab *t, const struct vec *a,
			 const char *arena, const char *s, size_t n, uint32_t h)
{
	const struct key *k;
	uint32_t i, e;

	if (!t->slot)
		return NONE;
	for (i = h & t->mask;; i = (i + 1) & t->mask) {
		e = t->slot[i];
		if (!e)
			return NONE;
		k = vec_key(a, e - 1);
		if (k->hash == h && k->len == n && !memcmp(arena + k->off, s, n))
			return e - 1;
	}
}

static void tab_place(struct oatab *t, uint32_t h, uint32_t idx)
{
	uint32_t i;

	for (i = h & t->mask; t->slot[i]; i = (i + 1) & t->mask)
		;
	t->slot[i] = idx + 1;
}

/* Add entry a->n - 1 (just pushed), growing to keep the load under 1/2. */
static int tab_add_last(struct oatab *t, const struct vec *a)
{
	size_t size = t->slot ? (size_t)t->mask + 1 : 0, ns, i;
	uint32_t *p;

	if (a->n * 2 > size) {
		ns = size ? size * 2 : 256;
		p = bot_calloc(ns, sizeof(*p));
		if (!p)
			return -1;
		bot_free(t->slot);
		t->slot = p;
		t->mask = (uint32_t)(ns - 1);
		for (i = 0; i + 1 < a->n; i++)
			tab_place(t, vec_key(a, (uint32_t)i)->hash, (uint32_t)i);
	}
	tab_place(t, vec_key(a, (uint32_t)(a->n - 1))->hash,
		  (uint32_t)(a->n - 1));
	return 0;
}

/* ---- prefix set: walking terms letter by letter ------------------------ */

/*
 * A set of the rolling hashes of every prefix of every term, each slot
 * telling whether a whole term ends there.  Walking a word from some
 * position stops at the first prefix no term has, so finding all terms
 * that start at a position costs a few probes.
 */
struct term {
	uint32_t off;		/* string in the arena */
	uint32_t len;		/* bytes */
	uint32_t ncp;		/* code points */
	int32_t id;		/* vocabulary id */
};

struct pset_slot {
	uint32_t key;		/* 0 = empty */
	int32_t term;		/* index into terms, -1 = only a prefix */
};

struct pset {
	struct pset_slot *slot;
	uint32_t mask;
};

#define PSET_SEED 0x51ed270b27a4f3c9ull
#define PSET_MUL 0x100000001b3ull

static uint64_t pset_step(uint64_t h, unsigned char c)
{
	return (h ^ c) * PSET_MUL;
}

static void pset_release(struct pset *ps)
{
	BOT_FREE(&ps->slot);
	ps->mask = 0;
}

/* Slot of 'h' (empty or matching); the key is stored in *keyp. */
static uint32_t pset_find(const struct pset *ps, uint64_t h, uint32_t *keyp)
{
	uint64_t m = mix64(h);
	uint32_t key = (uint32_t)(m >> 32) | 1, i;

	for (i = (uint32_t)m & ps->mask;
	     ps->slot[i].key && ps->slot[i].key != key;
	     i = (i + 1) & ps->mask)
		;
	*keyp = key;
	return i;
}

/* 1 when some term has this prefix; *term is its index when one ends here. */
static int pset_get(const struct pset *ps, uint64_t h, int32_t *term)
{
	uint32_t key, i;

	if (!ps->slot)
		return 0;
	i = pset_find(ps, h, &key);
	if (!ps->slot[i].key)
		return 0;
	*term = ps->slot[i].term;
	return 1;
}

static int pset_build(struct pset *ps, const struct term *terms, size_t n,
		      const char *arena)
{
	size_t total = 0, size = 256, i, j;
	uint32_t key, s;
	uint64_t h;

	for (i = 0; i < n; i++)
		total += terms[i].len;
	while (size < total * 2)
		size *= 2;
	ps->slot = bot_calloc(size, sizeof(*ps->slot));
	if (!ps->slot)
		return -1;
	ps->mask = (uint32_t)(size - 1);
	for (i = 0; i < n; i++) {
		h = PSET_SEED;
		for (j = 0; j < terms[i].len; j++) {
			h = pset_step(h, (unsigned char)arena[terms[i].off + j]);
			s = pset_find(ps, h, &key);
			if (!ps->slot[s].key) {
				ps->slot[s].key = key;
				ps->slot[s].term = -1;
			}
			if (j + 1 == terms[i].len && ps->slot[s].term < 0)
				ps->slot[s].term = (int32_t)i;
		}
	}
	return 0;
}

/* ---- the analyser ------------------------------------------------------ */

struct typo {
	uint32_t *start;	/* bucket b holds ent[start[b] .. start[b+1]) */
	uint64_t *ent;		/* tag << 32 | term index */
	uint32_t mask;
	uint64_t *bloom;	/* one bit per tag: most probes stop here, in cache */
	uint32_t bmask;
};

struct text {
	struct sb_stemmer *stemmer;
	struct arena str;
	struct vec stems;	/* struct stem_ent, index = vocabulary id */
	struct oatab stem_tab;
	struct vec words;	/* struct word_ent: surface forms */
	struct oatab word_tab;
	struct vec syns;	/* struct syn_ent: synonyms by stem */
	struct oatab syn_tab;
	int sealed;
	struct term *terms;	/* after sealing: surface forms and stems */
	size_t nterms;
	struct pset parts;	/* compound splitter */
	struct typo typo;
	char scratch[STEM_MAX + 1];
};

#define STEMS(t) ((struct stem_ent *)(t)->stems.v)
#define WORDS(t) ((struct word_ent *)(t)->words.v)
#define SYNS(t) ((struct syn_ent *)(t)->syns.v)

static uint32_t stem_lookup(const struct text *t, const char *s, size_t n)
{
	return tab_find(&t->stem_tab, &t->stems, t->str.buf, s, n,
			hash_bytes(s, n));
}

static uint32_t word_lookup(const struct text *t, const char *s, size_t n)
{
	return tab_find(&t->word_tab, &t->words, t->str.buf, s, n,
			hash_bytes(s, n));
}

static uint32_t syn_lookup(const struct text *t, const char *s, size_t n)
{
	return tab_find(&t->syn_tab, &t->syns, t->str.buf, s, n,
			hash_bytes(s, n));
}

/* Push a zeroed entry keyed by 's' onto 'a'; its index or NONE. */
static uint32_t entry_new(struct text *t, struct vec *a, struct oatab *tab,
			  const char *s, size_t n)
{
	struct key *k;
	uint32_t off;

	off = arena_add(&t->str, s, n);
	if (off == NONE || vec_push(a))
		return NONE;
	k = (struct key *)((char *)a->v + (a->n - 1) * a->size);
	memset(k, 0, a->size);
	k->off = off;
	k->len = (uint32_t)n;
	k->hash = hash_bytes(s, n);
	if (tab_add_last(tab, a)) {
		a->n--;
		return NONE;
	}
	return (uint32_t)(a->n - 1);
}

static int is_vowel(char c)
{
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' ||
	       c == 'y';
}

/* 1 when 'c' followed by 'next' spells an umlaut (see umlaut_form()). */
static int plain_merges(char prev, char c, char next)
{
	if (next != 'e')
		return 0;
	if (c == 'a' || c == 'o')
		return 1;
	return c == 'u' && !is_vowel(prev) && prev != 'q';
}

/*
 * Snowball 2.2's "german" stemmer treats "ue" as two letters ("buerger" ->
 * "buerg" but "bürger" -> "burg"), and folded text always spells ae/oe/ue.
 * So turn them back into umlauts first, as Snowball's german2 variant
 * does: not a u between vowels ("steuer", "neue") and not after q.  With
 * 'plain' set, write a/o/u instead, which is what the stemmer's output
 * spells; a stem is then always a prefix of the plain form.
 */
static size_t umlaut_form(const char *w, size_t n, char *out, int plain)
{
	static const char umlaut[3] = { (char)0xa4, (char)0xb6, (char)0xbc };
	size_t i = 0, o = 0;
	char c;

	while (i < n) {
		c = w[i];
		if (plain_merges(i ? w[i - 1] : 0, c, i + 1 < n ? w[i + 1] : 0)) {
			if (plain) {
				out[o++] = c;
			} else {
				out[o++] = (char)0xc3;
				out[o++] = umlaut[c == 'a' ? 0 : c == 'o' ? 1 : 2];
			}
			i += 2;
			continue;
		}
		out[o++] = c;
		i++;
	}
	return o;
}

static int all_digits(const char *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i] < '0' || w[i] > '9')
			return 0;
	return n > 0;
}

size_t text_stem(struct text *t, const char *word, size_t len, char *out,
		 size_t size)
{
	const sb_symbol *r = NULL;
	const char *src = word;
	size_t n = len;

	if (!size)
		return 0;
	if (len && len <= STEM_MAX && !all_digits(word, len)) {
		n = umlaut_form(word, len, t->scratch, 0);
		r = sb_stemmer_stem(t->stemmer, (const sb_symbol *)t->scratch,
				    (int)n);
	}
	if (r) {
		src = (const char *)r;
		n = (size_t)sb_stemmer_length(t->stemmer);
	} else {
		n = len;
	}
	if (n >= size)
		n = size - 1;
	memcpy(out, src, n);
	out[n] = '\0';
	return n;
}

/* Find or add the surface entry of folded 'w' with its stem; NONE on ENOMEM. */
static uint32_t word_intern(struct text *t, const char *w, size_t n,
			    const char *stem, size_t sn)
{
	struct word_ent *e;
	uint32_t i, so;

	i = word_lookup(t, w, n);
	if (i != NONE)
		return i;
	so = arena_add(&t->str, stem, sn);
	if (so == NONE)
		return NONE;
	i = entry_new(t, &t->words, &t->word_tab, w, n);
	if (i == NONE)
		return NONE;
	e = &WORDS(t)[i];
	e->stem_off = so;
	e->stem_len = (uint32_t)sn;
	e->id = -1;
	return i;
}

static int add_fixed_words(struct text *t, const char *const *list,
			   size_t n, uint32_t flag)
{
	char stem[WORD_MAX];
	size_t i, len, sn;
	uint32_t e;

	for (i = 0; i < n; i++) {
		len = strlen(list[i]);
		sn = text_stem(t, list[i], len, stem, sizeof(stem));
		e = word_intern(t, list[i], len, stem, sn);
		if (e == NONE)
			return -1;
		WORDS(t)[e].flags |= flag;
	}
	return 0;
}

struct text *text_new(struct bot_err *err)
{
	struct text *t = bot_calloc(1, sizeof(*t));

	if (!t) {
		bot_fail(err, BOT_ENOMEM, "out of memory");
		return NULL;
	}
	t->stems.size = sizeof(struct stem_ent);
	t->words.size = sizeof(struct word_ent);
	t->syns.size = sizeof(struct syn_ent);
	t->stemmer = sb_stemmer_new("german", "UTF_8");
	if (!t->stemmer) {
		bot_fail(err, BOT_ENOMEM, "cannot create the German stemmer");
		goto fail;
	}
	if (add_fixed_words(t, stop_words, BOT_ARRAY_SIZE(stop_words), W_STOP) ||
	    add_fixed_words(t, keep_words, BOT_ARRAY_SIZE(keep_words), W_KEEP)) {
		bot_fail(err, BOT_ENOMEM, "out of memory");
		goto fail;
	}
	return t;
fail:
	text_free(&t);
	return NULL;
}

void text_free(struct text **tp)
{
	struct text *t = tp ? *tp : NULL;

	if (!t)
		return;
	if (t->stemmer)
		sb_stemmer_delete(t->stemmer);
	bot_free(t->str.buf);
	bot_free(t->stems.v);
	bot_free(t->stem_tab.slot);
	bot_free(t->words.v);
	bot_free(t->word_tab.slot);
	bot_free(t->syns.v);
	bot_free(t->syn_tab.slot);
	bot_free(t->terms);
	pset_release(&t->parts);
	bot_free(t->typo.start);
	bot_free(t->typo.ent);
	bot_free(t->typo.bloom);
	bot_free(t);
	*tp = NULL;
}

/* Fold 'word' into one word of at most WORD_MAX - 1 bytes; 0 if it is not. */
static size_t fold_word(const char *word, char *out)
{
	size_t len = strlen(word), n;

	if (text_utf8_check(word, len, NULL))
		return 0;
	n = fold_fixed(word, len, out, WORD_MAX - 1);
	if (n == (size_t)-1 || !n || memchr(out, ' ', n))
		return 0;
	out[n] = '\0';
	return n;
}

static int32_t stem_intern(struct text *t, const char *stem, size_t sn)
{
	uint32_t i = stem_lookup(t, stem, sn);

	if (i == NONE) {
		i = entry_new(t, &t->stems, &t->stem_tab, stem, sn);
		if (i == NONE || i > INT32_MAX)
			return -1;
	}
	STEMS(t)[i].freq++;
	return (int32_t)i;
}

int text_vocab_add(struct text *t, const char *word)
{
	char w[WORD_MAX], stem[WORD_MAX];
	struct word_ent *e;
	size_t n, sn;
	int32_t id;
	uint32_t i;

	if (!t || !word || t->sealed)
		return -1;
	n = fold_word(word, w);
	if (!n)
		return -1;
	sn = text_stem(t, w, n, stem, sizeof(stem));
	id = stem_intern(t, stem, sn);
	if (id < 0)
		return -1;
	i = word_intern(t, w, n, stem, sn);
	if (i == NONE)
		return -1;
	e = &WORDS(t)[i];
	e->id = id;
	e->weight = 1.0f;
	e->flags = (e->flags & ~(uint32_t)W_SYN) | W_VOCAB;
	return id;
}

int text_vocab_find(const struct text *t, const char *stem)
{
	uint32_t i;

	if (!t || !stem)
		return -1;
	i = stem_lookup(t, stem, strlen(stem));
	return i == NONE ? -1 : (int)i;
}

const char *text_vocab_stem(const struct text *t, int id)
{
	if (!t || id < 0 || (size_t)id >= t->stems.n)
		return NULL;
	return t->str.buf + STEMS(t)[id].k.off;
}

size_t text_vocab_size(const struct text *t)
{
	return t ? t->stems.n : 0;
}

/*
 * Map folded 'w' (stem 'stem') to vocabulary 'id'.  Vocabulary words,
 * stop words, question words and earlier synonyms keep their meaning.
 */
static int syn_add(struct text *t, const char *w, size_t n, const char *stem,
		   size_t sn, int32_t id, float weight)
{
	struct word_ent *e;
	uint32_t i;

	i = word_intern(t, w, n, stem, sn);
	if (i == NONE)
		return BOT_ENOMEM;
	e = &WORDS(t)[i];
	if (!e->flags) {
		e->flags = W_SYN;
		e->id = id;
		e->weight = weight;
	}
	if (stem_lookup(t, stem, sn) != NONE || syn_lookup(t, stem, sn) != NONE)
		return BOT_OK;
	i = entry_new(t, &t->syns, &t->syn_tab, stem, sn);
	if (i == NONE)
		return BOT_ENOMEM;
	SYNS(t)[i].id = id;
	SYNS(t)[i].weight = weight;
	return BOT_OK;
}

int text_synonym_add(struct text *t, const char *word, const char *canonical,
		     float weight)
{
	char w[WORD_MAX], stem[WORD_MAX];
	size_t n, sn;
	int id;

	if (!t || !word || !canonical || t->sealed || !(weight > 0.0f) ||
	    weight > 1.0f)
		return BOT_EINVAL;
	n = fold_word(word, w);
	if (!n)
		return BOT_EINVAL;
	id = text_vocab_add(t, canonical);
	if (id < 0)
		return fold_word(canonical, stem) ? BOT_ENOMEM : BOT_EINVAL;
	sn = text_stem(t, w, n, stem, sizeof(stem));
	return syn_add(t, w, n, stem, sn, id, weight);
}

/* ---- thesaurus ----------------------------------------------------------- */

struct th_member {
	const char *raw, *end;	/* the member in the file */
	size_t off, len;	/* folded form in the line buffer; 0 = none */
	int folded;		/* th_fold() has run */
	int32_t id;		/* vocabulary id by stem, or -1 */
};

#define TRI_BYTES (26 * 26 * 26 / 8 + 1)

static unsigned tri_index(char a, char b, char c)
{
	return (unsigned)((a - 'a') * 676 + (b - 'a') * 26 + (c - 'a'));
}

struct th_state {
	struct text *t;
	struct pset stems;	/* prefixes of vocabulary stems */
	struct term *terms;
	uint8_t tri[TRI_BYTES];	/* first three letters of stems, a-z only */
	char line[8192];	/* folded members of one line */
	struct th_member m[64];
	size_t max_set;
};

/*
 * Could 'rest' be what Snowball strips after a stem?  Its suffixes (e em
 * en er ern es s st est end ung ig ik isch lich heit keit, chained) use
 * only these letters and are at most 14 long.  A cheap filter only.
 */
static int th_suffix_like(const char *rest, size_t n)
{
	size_t i;

	if (n > 14)
		return 0;
	for (i = 0; i < n; i++)
		if (!memchr("cdeghiklmnrstu", rest[i], 14))
			return 0;
	return 1;
}

/*
 * Vocabulary id of folded 'w' by its stem, or -1.  A stem is a prefix of
 * the plain form (see umlaut_form()), so the stemmer is only asked when a
 * vocabulary stem is such a prefix and the rest looks like a suffix.
 */
static int32_t th_vocab_id(struct th_state *s, const char *w, size_t n)
{
	char plain[WORD_MAX], stem[WORD_MAX];
	uint64_t h = PSET_SEED;
	int32_t term;
	size_t i, pn, sn;
	uint32_t id;
	int hit = 0;

	if (n >= WORD_MAX)
		return -1;
	pn = umlaut_form(w, n, plain, 1);
	for (i = 0; i < pn && !hit; i++) {
		h = pset_step(h, (unsigned char)plain[i]);
		if (!pset_get(&s->stems, h, &term))
			return -1;
		hit = term >= 0 && th_suffix_like(plain + i + 1, pn - i - 1);
	}
	if (!hit)
		return -1;
	sn = text_stem(s->t, w, n, stem, sizeof(stem));
	id = stem_lookup(s->t, stem, sn);
	return id == NONE ? -1 : (int32_t)id;
}

/* th_maybe() for members that do not start with plain ASCII letters. */
static int th_maybe_slow(const struct th_state *s, const char *p,
			 const char *end)
{
	char f[32], plain[32];
	size_t n = (size_t)(end - p), fn, pn, i;
	uint64_t h = PSET_SEED;
	int32_t term;
	int seen = 0;

	if (n > 12)
		n = utf8_cut(p, 12);
	if (memchr(p, '(', n))
		return 1;
	fn = fold_fixed(p, n, f, sizeof(f));
	if (fn == (size_t)-1 || !fn)
		return 1;
	if (memchr(f, ' ', fn))
		return 0;
	pn = umlaut_form(f, fn, plain, 1);
	if (p + n < end)
		pn--;	/* the last letter may still change with the next */
	for (i = 0; i < pn; i++) {
		h = pset_step(h, (unsigned char)plain[i]);
		if (!pset_get(&s->stems, h, &term))
			return seen;
		seen |= term >= 0;
	}
	return 1;
}

/*
 * The cheap test that lets most of the file pass by: walk the plain form
 * (see umlaut_form()) of a member's leading ASCII letters through the
 * prefixes of the vocabulary stems.  0 means that no vocabulary stem is a
 * prefix, so it is surely not a vocabulary word; most members fail after
 * two or three letters.
 */
static int th_maybe(const struct th_state *s, const char *p, const char *end)
{
	uint64_t h = PSET_SEED;
	const char *q;
	char c, prev = 0, next, first[2] = { 0, 0 };
	unsigned k = 0, bit;
	int32_t term;
	int seen = 0;

	for (q = p; q < end; q++, k++) {
		c = ascii_fold[*q & 0x7f];
		if (*q & 0x80 || c < 'a' || (q + 1 < end && q[1] & 0x80))
			return th_maybe_slow(s, p, end);
		if (k < 2)
			first[k] = c;
		bit = k == 2 ? tri_index(first[0], first[1], c) : 0;
		if (k == 2 && !(s->tri[bit / 8] & (1u << (bit % 8))))
			return seen;	/* an L1-resident filter before the probe */
		h = pset_step(h, (unsigned char)c);
		if (!pset_get(&s->stems, h, &term))
			return seen;
		seen |= term >= 0;
		next = q + 1 < end ? ascii_fold[q[1] & 0x7f] : 0;
		if (plain_merges(prev, c, next)) {
			c = 'e';
			q++;
		}
		prev = c;
	}
	return 1;
}

/* Strip "(remarks)" from [p, end) into 'out'; 0 when it does not fit. */
static size_t th_clean(const char *p, const char *end, char *out, size_t cap)
{
	size_t n = 0;
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth)
			depth--;
		else if (!depth && n < cap)
			out[n++] = *p;
	}
	return n < cap ? n : 0;
}

/* Fold member 'm' into the line buffer unless it is several words. */
static void th_fold(struct th_state *s, struct th_member *m, size_t *used)
{
	char raw[256];
	const char *src = m->raw;
	size_t n = (size_t)(m->end - m->raw), fn;

	m->folded = 1;
	if (memchr(src, '(', n)) {
		n = th_clean(m->raw, m->end, raw, sizeof(raw));
		src = raw;
	}
	if (!n || memchr(src, '.', n) || *used + WORD_MAX > sizeof(s->line))
		return;
	fn = fold_fixed(src, n, s->line + *used, WORD_MAX - 1);
	if (fn == (size_t)-1 || !fn || memchr(s->line + *used, ' ', fn))
		return;
	m->off = *used;
	m->len = fn;
	*used += fn;
}

/* Split the line at ';'; the number of members, 0 when too many. */
static size_t th_split(struct th_state *s, const char *p, const char *end)
{
	size_t count = 0;
	const char *sep;

	for (;;) {
		if (count == BOT_ARRAY_SIZE(s->m) || count == s->max_set)
			return 0;
		sep = memchr(p, ';', (size_t)(end - p));
		if (!sep)
			sep = end;
		s->m[count++] = (struct th_member){ p, sep, 0, 0, 0, -1 };
		if (sep == end)
			return count;
		p = sep + 1;
	}
}

/* Members of a set with a vocabulary word become its synonyms. */
static int th_line(struct th_state *s, const char *p, const char *end)
{
	char stem[WORD_MAX];
	size_t count, used = 0, i, sn;
	struct th_member *m;
	int32_t canon = -1;
	int rc;

	count = th_split(s, p, end);
	for (i = 0; i < count; i++) {
		m = &s->m[i];
		if (!th_maybe(s, m->raw, m->end))
			continue;
		th_fold(s, m, &used);
		if (m->len)
			m->id = th_vocab_id(s, s->line + m->off, m->len);
		if (canon < 0)
			canon = m->id;
	}
	for (i = 0; i < count && canon >= 0; i++) {
		m = &s->m[i];
		if (!m->folded)
			th_fold(s, m, &used);
		if (!m->len || m->id >= 0)
			continue;
		sn = text_stem(s->t, s->line + m->off, m->len, stem,
			       sizeof(stem));
		rc = syn_add(s->t, s->line + m->off, m->len, stem, sn, canon,
			     THESAURUS_WEIGHT);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

/* The whole file in one allocation; NULL + err on failure. */
static char *read_file(const char *path, size_t *lenp, struct bot_err *err)
{
	struct stat st;
	FILE *fp;
	char *buf = NULL;

	fp = fopen(path, "rb");
	if (!fp) {
		bot_fail(err, BOT_EIO, "cannot open '%s': %s", path,
			 strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) || st.st_size < 0 ||
	    (uint64_t)st.st_size > THESAURUS_MAX_BYTES) {
		bot_fail(err, BOT_EIO, "cannot read '%s': too large or unreadable",
			 path);
		goto out;
	}
	buf = bot_malloc((size_t)st.st_size + 1);
	if (!buf) {
		bot_fail(err, BOT_ENOMEM, "out of memory reading '%s'", path);
		goto out;
	}
	*lenp = fread(buf, 1, (size_t)st.st_size, fp);
	if (ferror(fp)) {
		bot_fail(err, BOT_EIO, "cannot read '%s': %s", path,
			 strerror(errno));
		BOT_FREE(&buf);
	}
out:
	fclose(fp);
	return buf;
}

static void th_trigrams(struct th_state *s)
{
	const char *w;
	unsigned bit;
	size_t i;

	for (i = 0; i < s->t->stems.n; i++) {
		w = s->t->str.buf + s->terms[i].off;
		if (s->terms[i].len < 3 || w[0] < 'a' || w[0] > 'z' ||
		    w[1] < 'a' || w[1] > 'z' || w[2] < 'a' || w[2] > 'z')
			continue;
		bit = tri_index(w[0], w[1], w[2]);
		s->tri[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
}

/* Terms for all vocabulary stems (the thesaurus matches by stem). */
static struct term *stem_terms(const struct text *t)
{
	struct term *terms = bot_calloc(t->stems.n, sizeof(*terms));
	size_t i;

	if (!terms)
		return NULL;
	for (i = 0; i < t->stems.n; i++) {
		terms[i].off = STEMS(t)[i].k.off;
		terms[i].len = STEMS(t)[i].k.len;
		terms[i].id = (int32_t)i;
	}
	return terms;
}

static int th_parse(struct th_state *s, const char *buf, size_t len,
		    const char *path, struct bot_err *err)
{
	const char *p = buf, *end = buf + len, *nl;
	size_t lineno = 0;
	int rc;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		lineno++;
		if (nl > p && *p != '#') {
			rc = th_line(s, p, nl > p && nl[-1] == '\r' ? nl - 1 : nl);
			if (rc)
				return bot_fail(err, rc, "%s:%zu: out of memory",
						path, lineno);
		}
		p = nl + 1;
	}
	return BOT_OK;
}

int text_thesaurus_load(struct text *t, const char *path, size_t max_set,
			struct bot_err *err)
{
	struct th_state *s = NULL;
	size_t len = 0;
	char *buf;
	int rc;

	if (!t || !path || t->sealed)
		return bot_fail(err, BOT_EINVAL,
				"thesaurus must be loaded before sealing");
	buf = read_file(path, &len, err);
	if (!buf)
		return err ? (int)err->rc : BOT_EIO;
	s = bot_calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->t = t;
	s->max_set = max_set ? max_set : SIZE_MAX;
	s->terms = stem_terms(t);
	if (t->stems.n && (!s->terms ||
	    pset_build(&s->stems, s->terms, t->stems.n, t->str.buf)))
		goto nomem;
	th_trigrams(s);
	rc = th_parse(s, buf, len, path, err);
	goto out;
nomem:
	rc = bot_fail(err, BOT_ENOMEM, "out of memory loading '%s'", path);
out:
	if (s) {
		pset_release(&s->stems);
		bot_free(s->terms);
	}
	bot_free(s);
	bot_free(buf);
	return rc;
}

/* ---- typo index ---------------------------------------------------------- */

static int max_dist(uint32_t ncp)
{
	return ncp >= 9 ? 2 : ncp >= TYPO_MIN_CP ? 1 : 0;
}

/* Decode folded UTF-8 into code points; 0 when longer than 'cap'. */
static uint32_t decode(const char *s, size_t n, uint32_t *cp, uint32_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t k = 0;
	size_t i = 0, l;

	while (i < n) {
		if (k == cap)
			return 0;
		if (p[i] < 0x80) {
			cp[k++] = p[i++];
			continue;
		}
		l = utf8_seq(p + i, n - i, &cp[k]);
		if (!l)
			return 0;
		k++;
		i += l;
	}
	return k;
}

#define TYPO_MUL 0x9e3779b97f4a7c15ull

/*
 * Hashes of the strings made by deleting up to 'd' code points from the
 * first TYPO_PREFIX ones (SymSpell's prefix trick: an edit costs at most
 * one delete on each side even at the prefix edge).  'out' holds
 * TYPO_MAX_DELETES.
 */
/* Hash of cp[a .. b) given the prefix hashes and powers of TYPO_MUL. */
static uint64_t sub_hash(const uint64_t *pre, const uint64_t *pw, uint32_t a,
			 uint32_t b)
{
	return pre[b] - pre[a] * pw[b - a];
}

/* Hash of x followed by y, y being 'ylen' code points long. */
static uint64_t cat_hash(const uint64_t *pw, uint64_t x, uint64_t y,
			 uint32_t ylen)
{
	return x * pw[ylen] + y;
}

static size_t delete_hashes(const uint32_t *cp, uint32_t ncp, int d,
			    uint64_t *out)
{
	uint64_t pre[TYPO_PREFIX + 1], pw[TYPO_PREFIX + 1], left;
	uint32_t p = ncp < TYPO_PREFIX ? ncp : TYPO_PREFIX, i, j;
	size_t n = 0;

	pre[0] = 0;
	pw[0] = 1;
	for (i = 0; i < p; i++) {
		pre[i + 1] = pre[i] * TYPO_MUL + cp[i] + 1;
		pw[i + 1] = pw[i] * TYPO_MUL;
	}
	out[n++] = pre[p];
	for (i = 0; d >= 1 && i < p; i++) {
		out[n++] = cat_hash(pw, pre[i], sub_hash(pre, pw, i + 1, p),
				    p - i - 1);
		for (j = i + 1; d >= 2 && j < p; j++) {
			left = cat_hash(pw, pre[i], sub_hash(pre, pw, i + 1, j),
					j - i - 1);
			out[n++] = cat_hash(pw, left, sub_hash(pre, pw, j + 1, p),
					    p - j - 1);
		}
	}
	for (i = 0; i < n; i++)
		out[i] = mix64(out[i]);
	return n;
}

/* Insertion sort: at most TYPO_MAX_DELETES values. */
static void sort_u64(uint64_t *a, size_t n)
{
	size_t i, j;
	uint64_t v;

	for (i = 1; i < n; i++) {
		v = a[i];
		for (j = i; j > 0 && a[j - 1] > v; j--)
			a[j] = a[j - 1];
		a[j] = v;
	}
}

/* Unique delete hashes of term 'i'; 0 when it gets no typo tolerance. */
static size_t term_deletes(const struct text *t, size_t i, uint64_t *h)
{
	uint32_t cp[TYPO_MAX_CP];
	const struct term *tm = &t->terms[i];
	size_t n, k, u;

	if (tm->ncp < TYPO_MIN_CP || tm->ncp > TYPO_MAX_CP)
		return 0;
	decode(t->str.buf + tm->off, tm->len, cp, TYPO_MAX_CP);
	n = delete_hashes(cp, tm->ncp, max_dist(tm->ncp), h);
	sort_u64(h, n);
	for (k = 1, u = 1; k < n; k++)
		if (h[k] != h[u - 1])
			h[u++] = h[k];
	return u;
}

/* Counting sort of all (delete hash, term) pairs into hash buckets. */
static int typo_fill(struct typo *ty, const uint64_t *all,
		     const uint32_t *owner, size_t total)
{
	uint32_t nb = 256, nbits = 512, b, bit;
	size_t i;

	while (nb < total && nb < (1u << 30))
		nb *= 2;
	while (nbits < total * 8 && nbits < (1u << 30))
		nbits *= 2;
	ty->start = bot_calloc((size_t)nb + 1, sizeof(uint32_t));
	ty->ent = bot_malloc(total * sizeof(uint64_t));
	ty->bloom = bot_calloc(nbits / 64, sizeof(uint64_t));
	if (!ty->start || !ty->ent || !ty->bloom)
		return -1;
	ty->mask = nb - 1;
	ty->bmask = nbits - 1;
	for (i = 0; i < total; i++) {
		ty->start[((uint32_t)all[i] & ty->mask) + 1]++;
		bit = (uint32_t)(all[i] >> 32) & ty->bmask;
		ty->bloom[bit / 64] |= 1ull << (bit % 64);
	}
	for (b = 0; b < nb; b++)
		ty->start[b + 1] += ty->start[b];
	for (i = 0; i < total; i++) {
		b = (uint32_t)all[i] & ty->mask;
		ty->ent[ty->start[b]++] = (all[i] >> 32 << 32) | owner[i];
	}
	for (b = nb; b > 0; b--)	/* the scatter moved every start up */
		ty->start[b] = ty->start[b - 1];
	ty->start[0] = 0;
	return 0;
}

static int typo_build(struct text *t)
{
	uint64_t h[TYPO_MAX_DELETES], *all;
	uint32_t *owner;
	size_t total = 0, i, k, n;
	int rc = -1;

	all = bot_malloc(t->nterms * TYPO_MAX_DELETES * sizeof(*all));
	owner = bot_malloc(t->nterms * TYPO_MAX_DELETES * sizeof(*owner));
	if (!all || !owner)
		goto out;
	for (i = 0; i < t->nterms; i++) {
		n = term_deletes(t, i, h);
		for (k = 0; k < n; k++, total++) {
			all[total] = h[k];
			owner[total] = (uint32_t)i;
		}
	}
	rc = typo_fill(&t->typo, all, owner, total);
out:
	bot_free(all);
	bot_free(owner);
	return rc;
}

/* Cell (i, j) of the distance matrix from the rows above it. */
static int osa_cell(const uint32_t *a, uint32_t i, const uint32_t *b,
		    uint32_t j, const int *p2, const int *p1, const int *cur)
{
	int v = p1[j - 1] + (a[i - 1] != b[j - 1]);

	if (p1[j] + 1 < v)
		v = p1[j] + 1;
	if (cur[j - 1] + 1 < v)
		v = cur[j - 1] + 1;
	if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
	    p2[j - 2] + 1 < v)
		v = p2[j - 2] + 1;
	return v;
}

/* One row of osa(): only the band |i - j| <= max can hold a result. */
static int osa_row(const uint32_t *a, uint32_t i, const uint32_t *b,
		   uint32_t m, int max, const int *p2, const int *p1, int *cur)
{
	uint32_t lo = i > (uint32_t)max ? i - (uint32_t)max : 1, j;
	uint32_t hi = i + (uint32_t)max < m ? i + (uint32_t)max : m;
	int inf = max + 1, best = inf, v;

	cur[lo - 1] = lo == 1 && i <= (uint32_t)max ? (int)i : inf;
	for (j = lo; j <= hi; j++) {
		v = osa_cell(a, i, b, j, p2, p1, cur);
		cur[j] = v < inf ? v : inf;
		if (v < best)
			best = v;
	}
	if (hi < m)
		cur[hi + 1] = inf;
	return best;
}

/*
 * Optimal string alignment distance (Damerau-Levenshtein without edits
 * of transposed letters), or max + 1 when above 'max'.
 */
static int osa(const uint32_t *a, uint32_t n, const uint32_t *b, uint32_t m,
	       int max)
{
	int row[3][TYPO_MAX_CP + 2], *p2 = row[0], *p1 = row[1], *cur = row[2];
	int *tmp;
	uint32_t i, j;

	if ((n > m ? n - m : m - n) > (uint32_t)max)
		return max + 1;
	for (j = 0; j <= m; j++)
		p1[j] = j <= (uint32_t)max ? (int)j : max + 1;
	for (i = 1; i <= n; i++) {
		if (osa_row(a, i, b, m, max, p2, p1, cur) > max)
			return max + 1;
		tmp = p2;
		p2 = p1;
		p1 = cur;
		cur = tmp;
	}
	return p1[m];
}

struct typo_best {
	int32_t id;
	int dist;
	uint32_t freq;
};

static void reverse_u32(uint32_t *a, uint32_t n)
{
	uint32_t i, v;

	for (i = 0; i < n / 2; i++) {
		v = a[i];
		a[i] = a[n - 1 - i];
		a[n - 1 - i] = v;
	}
}

/*
 * Verify candidate term 'ti' against the query, given reversed in 'rcp':
 * candidates share the query's beginning, so comparing from the end lets
 * osa() give up early.  Keeps the best in 'best'.
 */
static void typo_verify(const struct text *t, uint32_t ti, const uint32_t *rcp,
			uint32_t ncp, struct typo_best *best)
{
	uint32_t tcp[TYPO_MAX_CP], freq;
	const struct term *tm = &t->terms[ti];
	int allowed = max_dist(ncp), d;

	if (max_dist(tm->ncp) < allowed)
		allowed = max_dist(tm->ncp);
	if (best->id >= 0 && best->dist < allowed)
		allowed = best->dist;
	if ((tm->ncp > ncp ? tm->ncp - ncp : ncp - tm->ncp) > (uint32_t)allowed)
		return;
	decode(t->str.buf + tm->off, tm->len, tcp, TYPO_MAX_CP);
	reverse_u32(tcp, tm->ncp);
	d = osa(rcp, ncp, tcp, tm->ncp, allowed);
	if (d > allowed)
		return;
	freq = STEMS(t)[tm->id].freq;
	if (best->id < 0 || d < best->dist ||
	    (d == best->dist && (freq > best->freq ||
				 (freq == best->freq && tm->id < best->id)))) {
		best->id = tm->id;
		best->dist = d;
		best->freq = freq;
	}
}

/* Best typo candidate for folded 'w' into 'best'. */
static void typo_search(const struct text *t, const char *w, size_t n,
			struct typo_best *best)
{
	uint64_t h[TYPO_MAX_DELETES], e;
	uint32_t cp[TYPO_MAX_CP], seen[64], ncp, b, i, ns = 0, k, s;
	size_t nh, j;

	if (!t->typo.start)
		return;
	ncp = decode(w, n, cp, TYPO_MAX_CP);
	if (ncp < TYPO_MIN_CP)
		return;
	nh = delete_hashes(cp, ncp, max_dist(ncp), h);
	reverse_u32(cp, ncp);
	for (j = 0; j < nh; j++) {
		b = (uint32_t)(h[j] >> 32) & t->typo.bmask;
		if (!(t->typo.bloom[b / 64] & (1ull << (b % 64))))
			continue;
		b = (uint32_t)h[j] & t->typo.mask;
		for (i = t->typo.start[b]; i < t->typo.start[b + 1]; i++) {
			e = t->typo.ent[i];
			if (e >> 32 != h[j] >> 32)
				continue;
			s = (uint32_t)e;
			for (k = 0; k < ns && seen[k] != s; k++)
				;
			if (k < ns)
				continue;
			if (ns < BOT_ARRAY_SIZE(seen))
				seen[ns++] = s;
			typo_verify(t, s, cp, ncp, best);
		}
	}
}

/* ---- sealing ------------------------------------------------------------- */

/*
 * Give every surface form the answer text_analyze() would find for it
 * through its stem, so a known word costs one probe: a stem in the
 * vocabulary beats a synonym.  Stop words only match when they are
 * vocabulary words themselves.
 */
static void resolve_words(struct text *t)
{
	struct word_ent *e;
	uint32_t i, s;

	for (i = 0; i < t->words.n; i++) {
		e = &WORDS(t)[i];
		if (e->flags & (W_VOCAB | W_STOP | W_KEEP))
			continue;
		s = stem_lookup(t, t->str.buf + e->stem_off, e->stem_len);
		if (s == NONE)
			continue;
		e->id = (int32_t)s;
		e->weight = 1.0f;
		e->flags &= ~(uint32_t)W_SYN;
	}
}

static void term_set(struct text *t, struct term *tm, uint32_t off,
		     uint32_t len, int32_t id)
{
	uint32_t cp[TYPO_MAX_CP];

	tm->off = off;
	tm->len = len;
	tm->id = id;
	tm->ncp = decode(t->str.buf + off, len, cp, TYPO_MAX_CP);
	if (!tm->ncp)
		tm->ncp = len;	/* too long for typos; only its length counts */
}

/* Vocabulary stems, then the surface forms that are not also a stem. */
static int build_terms(struct text *t)
{
	const struct word_ent *e;
	size_t i, n = 0;

	t->terms = bot_calloc(t->stems.n + t->words.n, sizeof(*t->terms));
	if (!t->terms)
		return -1;
	for (i = 0; i < t->stems.n; i++)
		term_set(t, &t->terms[n++], STEMS(t)[i].k.off,
			 STEMS(t)[i].k.len, (int32_t)i);
	for (i = 0; i < t->words.n; i++) {
		e = &WORDS(t)[i];
		if (!(e->flags & W_VOCAB) ||
		    stem_lookup(t, t->str.buf + e->k.off, e->k.len) != NONE)
			continue;
		term_set(t, &t->terms[n++], e->k.off, e->k.len, e->id);
	}
	t->nterms = n;
	return 0;
}

int text_seal(struct text *t, struct bot_err *err)
{
	if (!t)
		return bot_fail(err, BOT_EINVAL, "no text analyser");
	if (t->sealed)
		return BOT_OK;
	resolve_words(t);
	if (build_terms(t) ||
	    (t->nterms && pset_build(&t->parts, t->terms, t->nterms,
				     t->str.buf)) ||
	    (t->nterms && typo_build(t))) {
		BOT_FREE(&t->terms);
		pset_release(&t->parts);
		BOT_FREE(&t->typo.start);
		BOT_FREE(&t->typo.ent);
		BOT_FREE(&t->typo.bloom);
		t->nterms = 0;
		return bot_fail(err, BOT_ENOMEM,
				"out of memory building the typo index");
	}
	t->sealed = 1;
	return BOT_OK;
}

/* ---- compounds ----------------------------------------------------------- */

/* The best way found so far to cover w[0 .. pos) with parts. */
struct cpd_state {
	uint8_t ok, parts, link;
	uint16_t sq;		/* sum of squared part lengths: longer is better */
	uint8_t from, end;	/* the last part is w[from .. end) */
	int32_t id;
};

struct cpd_part {
	uint8_t start, end;
	int32_t id;
};

static int cpd_better(uint8_t parts, uint8_t link, uint16_t sq,
		      const struct cpd_state *old)
{
	if (!old->ok || parts != old->parts)
		return !old->ok || parts < old->parts;
	if (link != old->link)
		return link < old->link;
	return sq > old->sq;
}

static void cpd_offer(struct cpd_state *st, size_t pos, size_t from,
		      size_t end, int32_t id, const struct cpd_state *prev)
{
	uint8_t parts = (uint8_t)(prev->parts + 1);
	uint8_t link = (uint8_t)(prev->link + (pos - end));
	uint16_t sq = (uint16_t)(prev->sq + (end - from) * (end - from));

	if (!cpd_better(parts, link, sq, &st[pos]))
		return;
	st[pos] = (struct cpd_state){ 1, parts, link, sq, (uint8_t)from,
				      (uint8_t)end, id };
}

/* Offer every continuation after a part w[from .. j) with vocabulary 'id'. */
static void cpd_after(struct cpd_state *st, const char *w, size_t n,
		      size_t from, size_t j, int32_t id)
{
	const struct cpd_state *prev = &st[from];

	if (j == n) {
		if (prev->parts >= 1)
			cpd_offer(st, n, from, j, id, prev);
		return;
	}
	if (prev->parts + 1 >= CPD_MAX_PARTS)
		return;
	cpd_offer(st, j, from, j, id, prev);
	if (j + 1 < n && (w[j] == 's' || w[j] == 'e' || w[j] == 'n'))
		cpd_offer(st, j + 1, from, j, id, prev);
	if (j + 2 < n && w[j] == 'e' && (w[j + 1] == 's' || w[j + 1] == 'n'))
		cpd_offer(st, j + 2, from, j, id, prev);
}

/* Every vocabulary term that starts at w[i]. */
static void cpd_walk(const struct text *t, struct cpd_state *st, const char *w,
		     size_t n, size_t i)
{
	const struct term *tm;
	uint64_t h = PSET_SEED;
	int32_t term;
	size_t j;

	for (j = i; j < n; j++) {
		h = pset_step(h, (unsigned char)w[j]);
		if (!pset_get(&t->parts, h, &term))
			return;
		if (term < 0 || j + 1 - i < CPD_MIN_PART || (j + 1 == n && !i))
			continue;
		tm = &t->terms[term];
		if (tm->len == j + 1 - i && !memcmp(t->str.buf + tm->off, w + i,
						    tm->len))
			cpd_after(st, w, n, i, j + 1, tm->id);
	}
}

/* No exact cover: let the last part be an inflected form ("...ungen"). */
static void cpd_tails(struct text *t, struct cpd_state *st, const char *w,
		      size_t n)
{
	char stem[CPD_MAX_WORD + 1];
	size_t i, sn, calls = 0;
	uint32_t id;

	for (i = CPD_MIN_PART; i + CPD_MIN_PART <= n; i++) {
		if (!st[i].ok || st[i].parts >= CPD_MAX_PARTS)
			continue;
		if (calls++ == CPD_MAX_TAIL_STEMS)
			return;
		sn = text_stem(t, w + i, n - i, stem, sizeof(stem));
		id = stem_lookup(t, stem, sn);
		if (id != NONE)
			cpd_after(st, w, n, i, n, (int32_t)id);
	}
}

/*
 * No cover at all: a long known beginning still names what the word is
 * about ("Einbürgerungs|beratung": the topic is in the first part, and the
 * unknown rest says which aspect).  Returns where that beginning ends, or 0.
 */
static size_t cpd_known_prefix(const struct cpd_state *st, size_t n)
{
	size_t i;

	for (i = n - CPD_PREFIX_REST; i >= CPD_PREFIX_MIN; i--)
		if (st[i].ok && st[i].parts >= 1)
			return i;
	return 0;
}

/* Split folded 'w' into 2..4 vocabulary parts, or (with 'prefix', after
 * typo tolerance found nothing) a known beginning of at least
 * CPD_PREFIX_MIN letters; the number of parts or 0. */
static size_t cpd_split(struct text *t, const char *w, size_t n,
			struct cpd_part *parts, int prefix)
{
	struct cpd_state st[CPD_MAX_WORD + 1];
	size_t i, k, end;

	if (!t->parts.slot || n < CPD_MIN_WORD || n > CPD_MAX_WORD)
		return 0;
	memset(st, 0, (n + 1) * sizeof(st[0]));
	st[0].ok = 1;
	for (i = 0; i < n; i++)
		if (st[i].ok)
			cpd_walk(t, st, w, n, i);
	if (!st[n].ok)
		cpd_tails(t, st, w, n);
	if (st[n].ok && st[n].parts >= 2)
		end = n;
	else
		end = prefix ? cpd_known_prefix(st, n) : 0;
	if (!end)
		return 0;
	k = st[end].parts;
	for (i = end; k > 0; i = st[i].from) {
		k--;
		parts[k].start = st[i].from;
		parts[k].end = st[i].end;
		parts[k].id = st[i].id;
	}
	return st[end].parts;
}

/* ---- analysis ------------------------------------------------------------ */

/* Copy into the token pool; NULL when it is full. */
static const char *pool_add(struct text_tokens *out, const char *s, size_t n)
{
	char *p;

	if (out->pool_len + n + 1 > sizeof(out->pool))
		return NULL;
	p = out->pool + out->pool_len;
	memcpy(p, s, n);
	p[n] = '\0';
	out->pool_len += n + 1;
	return p;
}

static int tok_parts(struct text *t, struct text_tokens *out, size_t whole,
		     int prefix)
{
	struct cpd_part parts[CPD_MAX_PARTS];
	struct text_token *tk = &out->tok[whole], *pt;
	const char *stem;
	size_t np, k, n = strlen(tk->word);

	np = cpd_split(t, tk->word, n, parts, prefix);
	if (!np || out->n + np > TEXT_MAX_TOKENS)
		return 0;
	tk->flags |= TEXT_COMPOUND;
	for (k = 0; k < np; k++) {
		pt = &out->tok[out->n];
		stem = text_vocab_stem(t, parts[k].id);
		pt->word = pool_add(out, tk->word + parts[k].start,
				    parts[k].end - parts[k].start);
		pt->stem = pool_add(out, stem, strlen(stem));
		if (!pt->word || !pt->stem)
			return -1;
		pt->vocab = parts[k].id;
		pt->weight = 1.0f;
		pt->start = (uint16_t)(tk->start + parts[k].start);
		pt->end = (uint16_t)(tk->start + parts[k].end);
		pt->flags = TEXT_PART;
		pt->parent = (int16_t)whole;
		out->n++;
	}
	return 1;
}

/* Typo tolerance on the word, then on its stem when that differs. */
static void tok_typo(struct text *t, struct text_token *tk)
{
	struct typo_best best = { -1, 0, 0 };

	typo_search(t, tk->word, strlen(tk->word), &best);
	if ((best.id < 0 || best.dist > 1) && strcmp(tk->word, tk->stem))
		typo_search(t, tk->stem, strlen(tk->stem), &best);
	if (best.id < 0)
		return;
	tk->vocab = best.id;
	tk->weight = best.dist <= 1 ? 0.8f : 0.65f;
	tk->flags |= TEXT_FUZZY;
}

/*
 * Token 'idx' is a word no surface form knows: look up its stem, then
 * synonyms, then try to split it, then typo tolerance.
 */
static int tok_unknown(struct text *t, struct text_tokens *out, size_t idx,
		       size_t n)
{
	struct text_token *tk = &out->tok[idx];
	char stem[STEM_MAX + 1];
	size_t sn;
	uint32_t i;
	int rc;

	sn = text_stem(t, tk->word, n, stem, sizeof(stem));
	tk->stem = pool_add(out, stem, sn);
	if (!tk->stem) {
		out->n--;
		return -1;
	}
	i = stem_lookup(t, stem, sn);
	if (i != NONE) {
		tk->vocab = (int)i;
		tk->weight = 1.0f;
		return 0;
	}
	i = syn_lookup(t, stem, sn);
	if (i != NONE) {
		tk->vocab = SYNS(t)[i].id;
		tk->weight = SYNS(t)[i].weight;
		tk->flags |= TEXT_SYNONYM;
		return 0;
	}
	if (tk->flags & TEXT_NUMBER)
		return 0;
	rc = tok_parts(t, out, idx, 0);
	if (!rc)
		tok_typo(t, tk);
	if (!rc && tk->vocab < 0)
		rc = tok_parts(t, out, idx, 1);
	return rc < 0 ? -1 : 0;
}

static void tok_known(const struct text *t, struct text_token *tk,
		      const struct word_ent *e)
{
	tk->stem = t->str.buf + e->stem_off;
	if (e->flags & W_STOP)
		tk->flags |= TEXT_STOP;
	if (e->id < 0)
		return;
	tk->vocab = e->id;
	tk->weight = e->weight;
	if (e->flags & W_SYN)
		tk->flags |= TEXT_SYNONYM;
}

/* Append the token folded[start .. end) and its parts; -1 when full. */
static int tok_add(struct text *t, struct text_tokens *out, size_t start,
		   size_t end)
{
	size_t idx = out->n, n = end - start;
	struct text_token *tk = &out->tok[idx];
	const char *w = out->folded + start;
	uint32_t i;

	*tk = (struct text_token){ NULL, NULL, -1, 0.0f, (uint16_t)start,
				   (uint16_t)end, 0, -1 };
	tk->word = pool_add(out, w, n);
	if (!tk->word)
		return -1;
	if (all_digits(w, n))
		tk->flags |= TEXT_NUMBER;
	out->n++;
	i = word_lookup(t, w, n);
	if (i == NONE)
		return tok_unknown(t, out, idx, n);
	tok_known(t, tk, &WORDS(t)[i]);
	tk->stem = pool_add(out, tk->stem, WORDS(t)[i].stem_len);
	if (!tk->stem) {
		out->n--;
		return -1;
	}
	return 0;
}

int text_analyze(struct text *t, const char *in, size_t len,
		 struct text_tokens *out, struct bot_err *err)
{
	struct fold_sink k = { out->folded, 0, sizeof(out->folded) - 1, NULL,
			       0, 0, 0 };
	size_t i, start;
	int rc;

	out->n = 0;
	out->folded_len = 0;
	out->pool_len = 0;
	out->folded[0] = '\0';
	if (len > TEXT_MAX_INPUT)
		len = utf8_cut(in, TEXT_MAX_INPUT);
	rc = text_utf8_check(in, len, err);
	if (rc)
		return rc;
	fold_run(&k, in, len);
	while (k.len && out->folded[k.len - 1] == ' ')
		k.len--;
	out->folded[k.len] = '\0';
	out->folded_len = k.len;
	i = 0;
	while (i < k.len && out->n < TEXT_MAX_TOKENS) {
		start = i;
		while (i < k.len && out->folded[i] != ' ')
			i++;
		if (tok_add(t, out, start, i))
			break;
		i++;	/* the separating space */
	}
	return BOT_OK;
}
