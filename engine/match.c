/*
 * match.c - from a message to ranked intents and the service or office it
 * is about.
 *
 * The kb is compiled into three indexes over the vocabulary of its own
 * words (text.h): entity phrases (names, synonyms and keywords of services
 * and offices), intent keywords, and intent example questions.  A message
 * is analysed once; entity phrases are found first and their words taken
 * out, then every intent is scored from its patterns (PCRE2, JIT, matched
 * on the folded text), its keywords and the best IDF-weighted Dice overlap
 * with one of its examples.  Words the kb does not know lower the
 * confidence: that is how unrelated questions are refused.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "bot.h"
#include "match.h"

#include <math.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb.h"
#include "strbuf.h"
#include "text.h"
#include "banned.h"

#define PHRASE_MAX 6		/* vocabulary words in one entity phrase */
/* Stop words help tell "Wann hat es auf?" from "Bis wann muss ich?", but
 * far less than content words. */
#define STOP_WEIGHT 0.25f
/* An intent whose patterns all failed is less likely than its examples
 * alone suggest: the editor said how it is asked. */
#define PATTERN_SILENCE 0.9
/* A topic found only through a thesaurus synonym of a keyword is too
 * vague to answer about. */
#define ENTITY_MIN 0.5f
/* A keyword points to a topic less surely than its name or a synonym. */
#define KEYWORD_WEIGHT 0.7f
/* Overlap with an example: how much of the message it explains counts
 * more than how much of the example the message covers (0.5 = Dice). */
#ifndef QUERY_SHARE
#define QUERY_SHARE 0.7f
#endif
#define ENT_SERVICE 0
#define ENT_OFFICE 1

struct phrase {
	int ids[PHRASE_MAX];
	uint8_t n;
	uint8_t kind;		/* ENT_SERVICE or ENT_OFFICE */
	float weight;		/* 1 for names and synonyms, less for keywords */
	int ent;		/* index into kb->services or kb->offices */
};

struct example {
	int intent;
	int *ids;
	float *w;
	int n;
	float norm;		/* sum of the weights */
	float norm_share;	/* (1 - QUERY_SHARE) * norm, for the Dice divisor */
};

/* A growable list of ints, one per vocabulary id. */
struct postings {
	int *v;
	int n, alloc;
};

#define DG_MAX 24		/* starting keys kept per pattern */
#define DG3 0x8000		/* flag: a key of three letters */
#define DG3_BITS 4096
#define DG2_KEYS 1024		/* two-letter keys: a * 32 + b */
#define DG_KEYS (DG2_KEYS + DG3_BITS)	/* slots of the key -> patterns index */

/* A compiled pattern and the letter pairs one of which must start a word
 * of the message for it to match at all (n_dg == 0: no such filter). */
struct cpattern {
	pcre2_code *re;
	uint32_t id;		/* bit in match.pat_ok */
	uint16_t dg[DG_MAX];
	uint8_t n_dg;
};

struct cintent {
	/* One code per pattern: an alternation of all of them would lose
	 * PCRE2's start-of-match optimisations and run several times slower. */
	struct cpattern *re;
	size_t n;
};

struct match {
	const struct kb *kb;
	struct text *text;
	size_t nv;		/* vocabulary size */
	float *idf;		/* per vocabulary id */
	float *vw;		/* per vocabulary id: 1, or STOP_WEIGHT for stop words */
	int *root;		/* per vocabulary id: its word family (see roots_build) */
	struct phrase *ph;
	size_t n_ph, alloc_ph;
	struct postings *ph_post;	/* vocab id -> phrases */
	struct example *ex;	/* grouped by intent, in kb order */
	size_t n_ex, alloc_ex;
	size_t *ex_first;	/* per intent + 1: its first example */
	struct postings *ex_post;	/* vocab id -> examples */
	struct postings *kw_post;	/* vocab id -> intents */
	struct cintent *ci;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	/*
	 * The pattern prefilter turned around: per word-start key the
	 * patterns it makes possible (dg_pat[dg_first[k] .. dg_first[k + 1]]),
	 * so a message costs a few lookups per word instead of a test of
	 * every key of every pattern.
	 */
	uint32_t *dg_first;	/* DG_KEYS + 1 offsets into dg_pat */
	uint32_t *dg_pat;	/* pattern ids */
	uint64_t *pat_always;	/* patterns without a prefilter */
	size_t n_pat, n_patw;	/* patterns; 64-bit words of a pattern set */
	/* scratch for one message */
	struct text_tokens *tok;
	float *ex_acc;
	uint8_t *ph_cnt;
	uint32_t *ph_gen;
	float *kw_acc;
	float *dice;		/* per intent: best example overlap */
	uint64_t *pat_ok;	/* patterns the message's word starts allow */
	int skip_ex;		/* example left out (leave-one-out check), -1 none */
	uint32_t gen;
	float qw[TEXT_MAX_TOKENS];	/* per token: weight for intent scoring */
	int used[TEXT_MAX_TOKENS];	/* per token: consumed by an entity */
};

static int postings_add(struct postings *p, int v)
{
	int *nv;

	if (p->n && p->v[p->n - 1] == v)
		return BOT_OK;
	if (p->n == p->alloc) {
		int na = p->alloc ? p->alloc * 2 : 4;

		nv = bot_realloc(p->v, (size_t)na * sizeof(*nv));
		if (!nv)
			return BOT_ENOMEM;
		p->v = nv;
		p->alloc = na;
	}
	p->v[p->n++] = v;
	return BOT_OK;
}

static void postings_free(struct postings *p, size_t n)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < n; i++)
		bot_free(p[i].v);
	bot_free(p);
}

/* ---- building the vocabulary ------------------------------------------ */

/* Fold 'phrase' and register each of its words. */
static int vocab_add_phrase(struct text *t, const char *phrase)
{
	struct strbuf sb;
	char *p, *w;
	int rc = BOT_OK;

	if (!phrase)
		return BOT_OK;
	strbuf_init(&sb, 1u << 16);
	if (text_fold(phrase, strlen(phrase), &sb, NULL)) {
		strbuf_release(&sb);
		return BOT_OK;	/* bad UTF-8 is reported by kb checks */
	}
	if (!sb.buf) {
		strbuf_release(&sb);
		return BOT_OK;
	}
	for (p = sb.buf; *p; p = w) {
		while (*p == ' ')
			p++;
		w = p;
		while (*w && *w != ' ')
			w++;
		if (w == p)
			break;
		if (*w)
			*w++ = '\0';
		if (text_vocab_add(t, p) < 0) {
			rc = BOT_ENOMEM;
			break;
		}
	}
	strbuf_release(&sb);
	return rc;
}

static int vocab_add_strv(struct text *t, const struct kb_strv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (vocab_add_phrase(t, v->v[i]))
			return BOT_ENOMEM;
	return BOT_OK;
}

static int vocab_build(struct match *m)
{
	const struct kb *kb = m->kb;
	size_t i;
	int rc = BOT_OK;

	for (i = 0; i < kb->n_services && !rc; i++) {
		const struct kb_service *s = &kb->services[i];

		rc = vocab_add_phrase(m->text, s->name);
		if (!rc)
			rc = vocab_add_strv(m->text, &s->synonyms);
		if (!rc)
			rc = vocab_add_strv(m->text, &s->keywords);
	}
	for (i = 0; i < kb->n_offices && !rc; i++) {
		const struct kb_office *o = &kb->offices[i];

		rc = vocab_add_phrase(m->text, o->name);
		if (!rc)
			rc = vocab_add_strv(m->text, &o->synonyms);
		if (!rc)
			rc = vocab_add_strv(m->text, &o->keywords);
	}
	for (i = 0; i < kb->n_intents && !rc; i++) {
		rc = vocab_add_strv(m->text, &kb->intents[i].keywords);
		if (!rc)
			rc = vocab_add_strv(m->text, &kb->intents[i].examples);
	}
	return rc;
}

/* ---- entity phrases ----------------------------------------------------- */

static int phrase_add(struct match *m, const char *s, int kind, int ent,
		      float weight)
{
	struct phrase ph;
	size_t i, dropped = 0;

	if (!s)
		return BOT_OK;
	if (text_analyze(m->text, s, strlen(s), m->tok, NULL))
		return BOT_OK;
	memset(&ph, 0, sizeof(ph));
	for (i = 0; i < m->tok->n && ph.n < PHRASE_MAX; i++) {
		const struct text_token *t = &m->tok->tok[i];

		if (t->flags & TEXT_PART)
			continue;
		if (t->vocab < 0 || (t->flags & (TEXT_STOP | TEXT_COMPOUND))) {
			dropped++;
			continue;
		}
		ph.ids[ph.n++] = t->vocab;
	}
	if (!ph.n)
		return BOT_OK;
	/* "Deutscher werden" without its stop word is just "deutsch" */
	if (dropped && ph.n == 1)
		weight *= 0.7f;
	ph.kind = (uint8_t)kind;
	ph.ent = ent;
	ph.weight = weight;
	if (m->n_ph == m->alloc_ph) {
		size_t na = m->alloc_ph ? m->alloc_ph * 2 : 64;
		struct phrase *np = bot_realloc(m->ph, na * sizeof(*np));

		if (!np)
			return BOT_ENOMEM;
		m->ph = np;
		m->alloc_ph = na;
	}
	m->ph[m->n_ph++] = ph;
	return BOT_OK;
}

static int phrases_add_strv(struct match *m, const struct kb_strv *v,
			    int kind, int ent, float weight)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (phrase_add(m, v->v[i], kind, ent, weight))
			return BOT_ENOMEM;
	return BOT_OK;
}

/* Names and synonyms of one service or office, and its keywords. */
static int phrases_add_entity(struct match *m, int kind, int ent,
			      const char *name, const struct kb_strv *synonyms,
			      const struct kb_strv *keywords)
{
	if (phrase_add(m, name, kind, ent, 1.0f) ||
	    phrases_add_strv(m, synonyms, kind, ent, 1.0f) ||
	    phrases_add_strv(m, keywords, kind, ent, KEYWORD_WEIGHT))
		return BOT_ENOMEM;
	return BOT_OK;
}

/* Index each phrase under each of its distinct words. */
static int phrases_index(struct match *m)
{
	size_t i, j, k;

	m->ph_post = bot_calloc(m->nv, sizeof(*m->ph_post));
	m->ph_cnt = bot_calloc(m->n_ph, 1);
	m->ph_gen = bot_calloc(m->n_ph, sizeof(*m->ph_gen));
	if (!m->ph_post || !m->ph_cnt || !m->ph_gen)
		return BOT_ENOMEM;
	for (i = 0; i < m->n_ph; i++) {
		const struct phrase *ph = &m->ph[i];

		for (j = 0; j < ph->n; j++) {
			for (k = 0; k < j && ph->ids[k] != ph->ids[j]; k++)
				;
			if (k == j && postings_add(&m->ph_post[ph->ids[j]], (int)i))
				return BOT_ENOMEM;
		}
	}
	return BOT_OK;
}

static int phrases_build(struct match *m)
{
	const struct kb *kb = m->kb;
	size_t i;

	for (i = 0; i < kb->n_services; i++) {
		const struct kb_service *s = &kb->services[i];

		if (phrases_add_entity(m, ENT_SERVICE, (int)i, s->name,
				       &s->synonyms, &s->keywords))
			return BOT_ENOMEM;
	}
	for (i = 0; i < kb->n_offices; i++) {
		const struct kb_office *o = &kb->offices[i];

		if (phrases_add_entity(m, ENT_OFFICE, (int)i, o->name,
				       &o->synonyms, &o->keywords))
			return BOT_ENOMEM;
	}
	return phrases_index(m);
}

/* ---- entity matching over the current m->tok ---------------------------- */

struct ent_best {
	int ph;			/* phrase index, -1 none */
	float score;
};

static int token_usable(const struct text_token *t)
{
	return t->vocab >= 0 && !(t->flags & (TEXT_STOP | TEXT_COMPOUND));
}

/* 1 when vocabulary word 'v' occurs in the message only as a joined
 * separable verb. */
static int joined_only(const struct match *m, int v)
{
	size_t j;

	for (j = 0; j < m->tok->n; j++)
		if (m->tok->tok[j].vocab == v &&
		    !(m->tok->tok[j].flags & TEXT_JOINED))
			return 0;
	return 1;
}

/* Score of phrase 'ph' as found in the message: its weight, the weakest
 * token's weight, and a little for longer (more specific) phrases. */
static float phrase_score(const struct match *m, const struct phrase *ph)
{
	float tw = 1.0f;
	size_t i, j;

	for (i = 0; i < ph->n; i++) {
		float best = 0.0f;

		for (j = 0; j < m->tok->n; j++) {
			const struct text_token *t = &m->tok->tok[j];

			if (token_usable(t) && t->vocab == ph->ids[i] &&
			    t->weight > best)
				best = t->weight;
		}
		if (best < tw)
			tw = best;
	}
	if (ph->n == 1 && joined_only(m, ph->ids[0]))
		tw *= 0.5f;	/* "wie melde ich ihn an": the verb alone is no topic */
	return ph->weight * tw * (0.85f + 0.05f * (float)ph->n);
}

static void entities_find(struct match *m, struct ent_best best[2],
			  struct ent_best second[2])
{
	size_t i, k;

	best[0].ph = best[1].ph = second[0].ph = second[1].ph = -1;
	best[0].score = best[1].score = second[0].score = second[1].score = 0;
	for (i = 0; i < m->tok->n; i++) {
		const struct text_token *t = &m->tok->tok[i];
		const struct postings *p;

		if (!token_usable(t))
			continue;
		p = &m->ph_post[t->vocab];
		for (k = 0; k < (size_t)p->n; k++) {
			int pi = p->v[k];
			const struct phrase *ph = &m->ph[pi];
			struct ent_best *b, *s2;
			float sc;

			if (m->ph_gen[pi] != m->gen) {
				m->ph_gen[pi] = m->gen;
				m->ph_cnt[pi] = 0;
			}
			if (++m->ph_cnt[pi] != ph->n)
				continue;
			sc = phrase_score(m, ph);
			if (sc < ENTITY_MIN)
				continue;
			b = &best[ph->kind];
			s2 = &second[ph->kind];
			if (b->ph >= 0 && m->ph[b->ph].ent == ph->ent) {
				if (sc > b->score) {
					b->score = sc;
					b->ph = pi;
				}
			} else if (sc > b->score) {
				*s2 = *b;
				b->score = sc;
				b->ph = pi;
			} else if (sc > s2->score &&
				   !(s2->ph >= 0 && m->ph[s2->ph].ent == ph->ent)) {
				s2->score = sc;
				s2->ph = pi;
			}
		}
	}
	/* Duplicate tokens ("Pass ... Pass") can over-count: a phrase whose
	 * count exceeded n was counted at == n once, which is what we want. */
}

/* Tokens that count for intents: known words, stop words included. */
static int token_for_intent(const struct text_token *t)
{
	return t->vocab >= 0 && !(t->flags & (TEXT_COMPOUND | TEXT_NUMBER));
}

/* Mark the tokens that phrase 'pi' consumed, so that intents ignore them. */
static void entities_consume(struct match *m, int pi)
{
	const struct phrase *ph;
	size_t i, j;

	if (pi < 0)
		return;
	ph = &m->ph[pi];
	for (i = 0; i < m->tok->n; i++) {
		const struct text_token *t = &m->tok->tok[i];

		for (j = 0; j < ph->n; j++)
			if (token_usable(t) && t->vocab == ph->ids[j])
				m->used[i] = 1;
	}
}

/* ---- intents: keywords, examples, patterns ----------------------------- */

static int examples_add(struct match *m, size_t ii, const char *s)
{
	struct ent_best best[2], second[2];
	struct example *e;
	size_t i;

	if (text_analyze(m->text, s, strlen(s), m->tok, NULL))
		return BOT_OK;
	m->gen++;
	memset(m->used, 0, sizeof(m->used));
	entities_find(m, best, second);
	entities_consume(m, best[0].ph);
	entities_consume(m, best[1].ph);
	if (m->n_ex == m->alloc_ex) {
		size_t na = m->alloc_ex ? m->alloc_ex * 2 : 64;
		struct example *ne = bot_realloc(m->ex, na * sizeof(*ne));

		if (!ne)
			return BOT_ENOMEM;
		m->ex = ne;
		m->alloc_ex = na;
	}
	e = &m->ex[m->n_ex];
	memset(e, 0, sizeof(*e));
	e->intent = (int)ii;
	e->ids = bot_calloc(m->tok->n, sizeof(*e->ids));
	if (!e->ids)
		return BOT_ENOMEM;
	m->n_ex++;
	for (i = 0; i < m->tok->n; i++) {
		const struct text_token *t = &m->tok->tok[i];
		int j, dup = 0;

		if (!token_for_intent(t) || m->used[i])
			continue;
		if (t->flags & TEXT_STOP)
			m->vw[m->root[t->vocab]] = STOP_WEIGHT;
		for (j = 0; j < e->n; j++)
			dup |= e->ids[j] == m->root[t->vocab];
		if (!dup)
			e->ids[e->n++] = m->root[t->vocab];
	}
	return BOT_OK;
}

static int keywords_add(struct match *m, size_t ii, const char *s)
{
	size_t i;

	if (text_analyze(m->text, s, strlen(s), m->tok, NULL))
		return BOT_OK;
	for (i = 0; i < m->tok->n; i++) {
		const struct text_token *t = &m->tok->tok[i];

		if (token_usable(t) &&
		    postings_add(&m->kw_post[m->root[t->vocab]], (int)ii))
			return BOT_ENOMEM;
	}
	return BOT_OK;
}

/* IDF over intents: a word in the examples of many intents says little. */
static int idf_build(struct match *m)
{
	uint32_t *df = bot_calloc(m->nv, sizeof(*df));
	int *last = bot_calloc(m->nv, sizeof(*last));
	size_t i, n = m->kb->n_intents ? m->kb->n_intents : 1;
	int j;

	if (!df || !last) {
		bot_free(df);
		bot_free(last);
		return BOT_ENOMEM;
	}
	for (i = 0; i < m->nv; i++)
		last[i] = -1;
	for (i = 0; i < m->n_ex; i++) {
		const struct example *e = &m->ex[i];

		for (j = 0; j < e->n; j++)
			if (last[e->ids[j]] != e->intent) {
				last[e->ids[j]] = e->intent;
				df[e->ids[j]]++;
			}
	}
	for (i = 0; i < m->nv; i++)
		m->idf[i] = (float)log(1.0 + (double)n / (double)(df[i] + 1));
	bot_free(df);
	bot_free(last);
	return BOT_OK;
}

static int examples_weigh(struct match *m)
{
	size_t i;
	int j;

	m->ex_first = bot_calloc(m->kb->n_intents + 1, sizeof(*m->ex_first));
	if (!m->ex_first)
		return BOT_ENOMEM;
	for (i = 0; i < m->n_ex; i++)
		m->ex_first[m->ex[i].intent + 1] = i + 1;
	for (i = 1; i <= m->kb->n_intents; i++)
		if (m->ex_first[i] < m->ex_first[i - 1])
			m->ex_first[i] = m->ex_first[i - 1];

	for (i = 0; i < m->n_ex; i++) {
		struct example *e = &m->ex[i];

		e->w = bot_calloc((size_t)(e->n ? e->n : 1), sizeof(*e->w));
		if (!e->w)
			return BOT_ENOMEM;
		for (j = 0; j < e->n; j++) {
			e->w[j] = m->idf[e->ids[j]] * m->vw[e->ids[j]];
			e->norm += e->w[j];
			if (postings_add(&m->ex_post[e->ids[j]], (int)i))
				return BOT_ENOMEM;
		}
		e->norm_share = (1 - QUERY_SHARE) * e->norm;
	}
	return BOT_OK;
}

/*
 * Word families for intents: Snowball leaves derivations apart
 * ("ansteck" from anstecken, "ansteckung"), so stems that are equal after
 * also removing a derivational suffix share one id, the smallest vocabulary
 * id of the family.
 */
static size_t root_len(const char *s)
{
	static const char *const suf[] = {
		"ungen", "ung", "heit", "keit", "lich", "isch", "et",
	};
	size_t n = strlen(s), i, k;

	for (i = 0; i < BOT_ARRAY_SIZE(suf); i++) {
		k = strlen(suf[i]);
		if (n >= k + 4 && !memcmp(s + n - k, suf[i], k))
			return n - k;
	}
	return n;
}

struct root_key {
	const char *s;
	size_t len;
	int id;
};

static int root_cmp(const void *a, const void *b)
{
	const struct root_key *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);

	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->id - y->id;
}

static int roots_build(struct match *m)
{
	struct root_key *k = bot_calloc(m->nv, sizeof(*k));
	size_t i;

	m->root = bot_calloc(m->nv, sizeof(*m->root));
	if (!k || !m->root) {
		bot_free(k);
		return BOT_ENOMEM;
	}
	for (i = 0; i < m->nv; i++) {
		k[i].s = text_vocab_stem(m->text, (int)i);
		k[i].len = root_len(k[i].s);
		k[i].id = (int)i;
	}
	qsort(k, m->nv, sizeof(*k), root_cmp);
	for (i = 0; i < m->nv; i++) {
		int same = i && k[i].len == k[i - 1].len &&
			   !memcmp(k[i].s, k[i - 1].s, k[i].len);

		m->root[k[i].id] = same ? m->root[k[i - 1].id] : k[i].id;
	}
	bot_free(k);
	return BOT_OK;
}

static int intents_alloc(struct match *m)
{
	size_t i;

	m->kw_post = bot_calloc(m->nv, sizeof(*m->kw_post));
	m->ex_post = bot_calloc(m->nv, sizeof(*m->ex_post));
	m->idf = bot_calloc(m->nv, sizeof(*m->idf));
	m->vw = bot_calloc(m->nv, sizeof(*m->vw));
	if (!m->kw_post || !m->ex_post || !m->idf || !m->vw)
		return BOT_ENOMEM;
	for (i = 0; i < m->nv; i++)
		m->vw[i] = 1.0f;
	return roots_build(m);
}

/* Scratch space for scoring one message. */
static int scratch_alloc(struct match *m)
{
	m->ex_acc = bot_calloc(m->n_ex, sizeof(*m->ex_acc));
	m->kw_acc = bot_calloc(m->kb->n_intents, sizeof(*m->kw_acc));
	m->dice = bot_calloc(m->kb->n_intents, sizeof(*m->dice));
	if (!m->ex_acc || !m->kw_acc || !m->dice)
		return BOT_ENOMEM;
	return BOT_OK;
}

static int intents_index(struct match *m)
{
	const struct kb *kb = m->kb;
	size_t i, j;

	if (intents_alloc(m))
		return BOT_ENOMEM;
	for (i = 0; i < kb->n_intents; i++) {
		const struct kb_intent *in = &kb->intents[i];

		for (j = 0; j < in->examples.n; j++)
			if (examples_add(m, i, in->examples.v[j]))
				return BOT_ENOMEM;
		for (j = 0; j < in->keywords.n; j++)
			if (keywords_add(m, i, in->keywords.v[j]))
				return BOT_ENOMEM;
	}
	if (idf_build(m) || examples_weigh(m))
		return BOT_ENOMEM;
	return scratch_alloc(m);
}

static void pattern_error(struct kb *diag_kb, struct bot_err *err,
			  const struct kb_intent *in, const struct kb_pattern *p,
			  int code, size_t off, int *first)
{
	PCRE2_UCHAR msg[160];

	pcre2_get_error_message(code, msg, sizeof(msg));
	if (*first)
		bot_fail(err, BOT_EPARSE,
			 "%s:%d:%d: intent '%s': bad pattern: %s at offset %zu",
			 p->pos.file ? p->pos.file : "?", p->pos.line,
			 p->pos.col, in->id, (char *)msg, off);
	*first = 0;
	if (diag_kb)
		(void)kb_diag_add(diag_kb, 'e', &p->pos,
				  "intent '%s': bad pattern: %s at offset %zu",
				  in->id, (char *)msg, off);
}

/* Folded text is ASCII but for letters of other scripts, so \\b and \\w need no
 * Unicode tables (PCRE2_UCP makes JIT code several times slower). */
static const uint32_t re_flags = PCRE2_UTF | PCRE2_CASELESS;

/* ---- pattern prefilter -------------------------------------------------- */

static int dg_char(int c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 1;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 1;
	if (c >= '0' && c <= '9')
		return 27 + (c - '0') % 5;
	return -1;
}

/*
 * The key of the literal beginning at 'p': its first three letters (hashed
 * into DG3_BITS, flagged with DG3) when they are plain, else its first two;
 * -1 when not even two plain letters start it.  A quantifier on a letter
 * ends the plain part ("ab?c" starts with "a" only).
 */
static int dg_of(const char *p)
{
	int a = dg_char((unsigned char)p[0]), b, c;

	if (a < 0 || (p[1] && strchr("?*{", p[1])))
		return -1;
	b = dg_char((unsigned char)p[1]);
	if (b < 0 || (p[2] && strchr("?*{", p[2])))
		return -1;
	c = dg_char((unsigned char)p[2]);
	if (c < 0 || (p[3] && strchr("?*{", p[3])))
		return a * 32 + b;
	return DG3 | (int)((((unsigned)(a * 32 + b) * 32 + (unsigned)c) *
			    2654435761u >> 16) & (DG3_BITS - 1));
}

/* The end of the alternative starting at 'p' in a group: its '|' or the
 * group's ')'; NULL when the group is not closed. */
static const char *dg_alt_end(const char *p)
{
	int depth = 0;

	for (; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && depth-- == 0)
			return p;
		else if (*p == '|' && depth == 0)
			return p;
	}
	return NULL;
}

/* The letter pairs that start the alternatives of a group at 'p' (just
 * after its '('); -1 when an alternative does not start with two letters. */
static int dg_group(const char *p, struct cpattern *cp)
{
	int d;

	if (p[0] == '?' && p[1] == ':')
		p += 2;
	for (;;) {
		d = dg_of(p);
		if (d < 0 || cp->n_dg == DG_MAX)
			return -1;
		cp->dg[cp->n_dg++] = (uint16_t)d;
		p = dg_alt_end(p);
		if (!p)
			return -1;
		if (*p == ')')	/* a quantified group may match nothing */
			return p[1] && strchr("?*{", p[1]) ? -1 : 0;
		p++;
	}
}

/* Skip a leading negative lookahead "^(?!...).*\b": what follows must
 * still match at a word start.  NULL when the shape is different. */
static const char *dg_skip_lookahead(const char *p)
{
	int depth = 0;

	for (p += 3; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && depth-- == 0)
			break;
	}
	if (*p != ')' || strncmp(p + 1, ".*\\b", 4))
		return NULL;
	return p + 5;
}

static void dg_prepare(const char *src, struct cpattern *cp)
{
	const char *p = src;

	cp->n_dg = 0;
	if (!strncmp(p, "^(?!", 4)) {
		p = dg_skip_lookahead(p + 1);
		if (!p)
			return;
	} else if (*p == '^') {
		p++;
	} else if (p[0] == '\\' && p[1] == 'b') {
		p += 2;
	} else {
		return;
	}
	if (p[0] == '\\' && p[1] == 'b')
		p += 2;
	if (*p == '(') {
		if (dg_group(p + 1, cp) < 0)
			cp->n_dg = 0;
		return;
	}
	if (dg_of(p) >= 0)
		cp->dg[cp->n_dg++] = (uint16_t)dg_of(p);
}

/* The slot of key 'd' (from dg_of()) in the key -> patterns index. */
static unsigned dg_slot(unsigned d)
{
	return d & DG3 ? DG2_KEYS + (d & (DG3_BITS - 1)) : d;
}

/* Allow the patterns filed under key slot 'k'. */
static void dg_allow(struct match *m, unsigned k)
{
	uint32_t i;

	for (i = m->dg_first[k]; i < m->dg_first[k + 1]; i++)
		m->pat_ok[m->dg_pat[i] >> 6] |= 1ull << (m->dg_pat[i] & 63);
}

/* Allow the patterns that the two- and three-letter beginnings of the
 * message's words make possible, plus those without a prefilter. */
static void dg_scan(struct match *m)
{
	const char *p = m->tok->folded, *end = p + m->tok->folded_len;
	int a, b, c;

	memcpy(m->pat_ok, m->pat_always, m->n_patw * sizeof(*m->pat_ok));
	while (p + 1 < end) {
		a = dg_char((unsigned char)p[0]);
		b = dg_char((unsigned char)p[1]);
		if (a >= 0 && b >= 0) {
			dg_allow(m, (unsigned)(a * 32 + b));
			c = p + 2 < end ? dg_char((unsigned char)p[2]) : -1;
			if (c >= 0)
				dg_allow(m, dg_slot(DG3 | (((((unsigned)(a * 32 + b) *
					32 + (unsigned)c) * 2654435761u) >> 16) &
					(DG3_BITS - 1))));
		}
		p = memchr(p, ' ', (size_t)(end - p));
		if (!p)
			break;
		p++;
	}
}

/*
 * The first pattern of 'ci' from number 'j' on that the message's word
 * starts allow, or ci->n.  An intent's patterns have consecutive ids, so
 * this skips 64 of them per step instead of testing each.
 */
static size_t dg_next(const struct match *m, const struct cintent *ci,
		      size_t j)
{
	uint32_t first, id, end;
	uint64_t w;

	if (j >= ci->n)
		return ci->n;
	first = ci->re[0].id;
	end = first + (uint32_t)ci->n;
	for (id = first + (uint32_t)j; id < end; id = (id | 63) + 1) {
		w = m->pat_ok[id >> 6] >> (id & 63);
		if (w) {
			id += (uint32_t)__builtin_ctzll(w);
			return id < end ? id - first : ci->n;
		}
	}
	return ci->n;
}

/* Count (pass 0) or file (pass 1) every pattern under its keys. */
static void dg_file(struct match *m, uint32_t *fill, int pass)
{
	size_t i, j, k;

	for (i = 0; i < m->kb->n_intents; i++)
		for (j = 0; j < m->ci[i].n; j++) {
			const struct cpattern *cp = &m->ci[i].re[j];

			if (!cp->n_dg && pass == 0)
				m->pat_always[cp->id >> 6] |= 1ull << (cp->id & 63);
			for (k = 0; k < cp->n_dg; k++) {
				unsigned slot = dg_slot(cp->dg[k]);

				if (pass == 0)
					m->dg_first[slot + 1]++;
				else
					m->dg_pat[fill[slot]++] = cp->id;
			}
		}
}

/* Build the key -> patterns index from the keys dg_prepare() found. */
static int dg_index(struct match *m)
{
	uint32_t *fill = NULL;
	size_t k;

	m->n_patw = (m->n_pat + 63) / 64;
	m->pat_always = bot_calloc(m->n_patw, sizeof(*m->pat_always));
	m->pat_ok = bot_calloc(m->n_patw, sizeof(*m->pat_ok));
	m->dg_first = bot_calloc(DG_KEYS + 1, sizeof(*m->dg_first));
	fill = bot_calloc(DG_KEYS, sizeof(*fill));
	if (!m->pat_always || !m->pat_ok || !m->dg_first || !fill)
		goto out;
	dg_file(m, NULL, 0);
	for (k = 0; k < DG_KEYS; k++)
		m->dg_first[k + 1] += m->dg_first[k];
	m->dg_pat = bot_calloc(m->dg_first[DG_KEYS], sizeof(*m->dg_pat));
	if (!m->dg_pat)
		goto out;
	memcpy(fill, m->dg_first, DG_KEYS * sizeof(*fill));
	dg_file(m, fill, 1);
	bot_free(fill);
	return BOT_OK;
out:
	bot_free(fill);
	return BOT_ENOMEM;
}

/* Compile the patterns with JIT; report every bad one with its position. */
static int patterns_compile(struct match *m, struct kb *diag_kb,
			    struct bot_err *err)
{
	const struct kb *kb = m->kb;
	int first = 1, bad = 0, code;
	PCRE2_SIZE off;
	size_t i, j;

	for (i = 0; i < kb->n_intents; i++) {
		const struct kb_intent *in = &kb->intents[i];
		struct cintent *ci = &m->ci[i];

		if (!in->n_patterns)
			continue;
		ci->re = bot_calloc(in->n_patterns, sizeof(*ci->re));
		if (!ci->re)
			return bot_fail(err, BOT_ENOMEM, "out of memory");
		for (j = 0; j < in->n_patterns; j++) {
			pcre2_code *re = pcre2_compile(
				(PCRE2_SPTR)in->patterns[j].src,
				PCRE2_ZERO_TERMINATED, re_flags, &code, &off,
				NULL);

			if (!re) {
				pattern_error(diag_kb, err, in, &in->patterns[j],
					      code, off, &first);
				bad = 1;
				continue;
			}
			if (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE)) {
				pcre2_code_free(re);
				return bot_fail(err, BOT_EINVAL, "%s:%d:%d: intent "
						"'%s': pattern cannot be JIT compiled",
						in->patterns[j].pos.file,
						in->patterns[j].pos.line,
						in->patterns[j].pos.col, in->id);
			}
			ci->re[ci->n].re = re;
			ci->re[ci->n].id = (uint32_t)m->n_pat++;
			dg_prepare(in->patterns[j].src, &ci->re[ci->n]);
			ci->n++;
		}
	}
	return bad ? BOT_EPARSE : BOT_OK;
}

static int match_build(struct match *m, struct kb *diag_kb, struct bot_err *err)
{
	const char *th = m->kb->settings.thesaurus;
	int rc;

	if (vocab_build(m))
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	if (th && access(th, R_OK) == 0) {
		rc = text_thesaurus_load(m->text, th, 12, err);
		if (rc)
			return rc;
	}
	rc = text_seal(m->text, err);
	if (rc)
		return rc;
	m->nv = text_vocab_size(m->text);
	if (phrases_build(m) || intents_index(m))
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	m->ci = bot_calloc(m->kb->n_intents, sizeof(*m->ci));
	m->md = pcre2_match_data_create(4, NULL);
	m->mctx = pcre2_match_context_create(NULL);
	if (!m->ci || !m->md || !m->mctx)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	pcre2_set_match_limit(m->mctx, 100000);
	pcre2_set_depth_limit(m->mctx, 1000);
	rc = patterns_compile(m, diag_kb, err);
	if (rc)
		return rc;
	if (dg_index(m))
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	return BOT_OK;
}

struct match *match_new(const struct kb *kb, struct kb *diag_kb,
			struct bot_err *err)
{
	struct match *m = bot_calloc(1, sizeof(*m));

	if (!m) {
		bot_fail(err, BOT_ENOMEM, "out of memory");
		return NULL;
	}
	m->kb = kb;
	m->skip_ex = -1;
	m->tok = bot_malloc(sizeof(*m->tok));
	m->text = text_new(err);
	if (!m->tok || !m->text) {
		if (!m->tok)
			bot_fail(err, BOT_ENOMEM, "out of memory");
		match_free(&m);
		return NULL;
	}
	if (match_build(m, diag_kb, err))
		match_free(&m);
	return m;
}

void match_free(struct match **mp)
{
	struct match *m = *mp;
	size_t i;

	if (!m)
		return;
	if (m->ci)
		for (i = 0; i < m->kb->n_intents; i++) {
			size_t j;

			for (j = 0; j < m->ci[i].n; j++)
				pcre2_code_free(m->ci[i].re[j].re);
			bot_free(m->ci[i].re);
		}
	bot_free(m->ci);
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	for (i = 0; i < m->n_ex; i++) {
		bot_free(m->ex[i].ids);
		bot_free(m->ex[i].w);
	}
	bot_free(m->ex);
	bot_free(m->ex_first);
	bot_free(m->ph);
	postings_free(m->ph_post, m->nv);
	postings_free(m->ex_post, m->nv);
	postings_free(m->kw_post, m->nv);
	bot_free(m->idf);
	bot_free(m->vw);
	bot_free(m->root);
	bot_free(m->dg_first);
	bot_free(m->dg_pat);
	bot_free(m->pat_always);
	bot_free(m->pat_ok);
	bot_free(m->ex_acc);
	bot_free(m->ph_cnt);
	bot_free(m->ph_gen);
	bot_free(m->kw_acc);
	bot_free(m->dice);
	bot_free(m->tok);
	text_free(&m->text);
	bot_free(m);
	*mp = NULL;
}

struct text *match_text(struct match *m)
{
	return m->text;
}

/* ---- scoring -------------------------------------------------------------- */

/* Weight of each token for intent scoring, and the query's norms. */
static void query_weigh(struct match *m, float *qnorm, float *known,
			float *total, int *n_content)
{
	size_t i;

	*qnorm = *known = *total = 0;
	*n_content = 0;
	for (i = 0; i < m->tok->n; i++) {
		const struct text_token *t = &m->tok->tok[i];
		float w, f;

		m->qw[i] = 0;
		if (t->flags & (TEXT_COMPOUND | TEXT_NUMBER))
			continue;
		if (t->flags & TEXT_STOP) {
			if (t->vocab < 0 || m->used[i])
				continue;
			m->qw[i] = m->idf[m->root[t->vocab]] * STOP_WEIGHT;
			*qnorm += m->qw[i];
			continue;
		}
		(*n_content)++;
		if (t->vocab < 0) {
			/* an unknown word counts like a rare known one */
			*total += 2.5f;
			continue;
		}
		w = m->idf[m->root[t->vocab]] * t->weight;
		f = m->used[i] ? w * 0.5f + 0.5f : w;
		*total += f;
		*known += f;
		if (m->used[i])
			continue;
		m->qw[i] = w;
		*qnorm += m->idf[m->root[t->vocab]];
	}
}

/*
 * Each intent's best Dice coefficient.  All its examples, not just those
 * the message reached: the stop words reach nearly all of them anyway,
 * and a branch-free pass over one array beats chasing a list.  An example
 * not reached has 0 and cannot beat the start value 0.  The four running
 * maxima let the divisions overlap; a maximum does not depend on order.
 */
static float examples_best(const struct match *m, size_t ii, float qshare)
{
	float b[4] = { 0, 0, 0, 0 }, d;
	size_t e = m->ex_first[ii], end = m->ex_first[ii + 1], k;

	for (; e + 4 <= end; e += 4)
		for (k = 0; k < 4; k++) {
			d = m->ex_acc[e + k] /
			    (qshare + m->ex[e + k].norm_share);
			b[k] = d > b[k] ? d : b[k];
		}
	for (; e < end; e++) {
		d = m->ex_acc[e] / (qshare + m->ex[e].norm_share);
		b[0] = d > b[0] ? d : b[0];
	}
	b[0] = b[1] > b[0] ? b[1] : b[0];
	b[2] = b[3] > b[2] ? b[3] : b[2];
	return b[2] > b[0] ? b[2] : b[0];
}

/* Accumulate, per example, the weight of the words it shares with the
 * message; then keep each intent's best Dice coefficient. */
static void examples_score(struct match *m, float qnorm)
{
	size_t i, k;

	memset(m->ex_acc, 0, m->n_ex * sizeof(*m->ex_acc));
	for (i = 0; i < m->tok->n; i++) {
		const struct text_token *t = &m->tok->tok[i];
		const struct postings *p;

		if (m->qw[i] <= 0)
			continue;
		for (k = 0; k < i; k++)		/* each word once */
			if (m->qw[k] > 0 &&
			    m->root[m->tok->tok[k].vocab] == m->root[t->vocab])
				break;
		if (k < i)
			continue;
		p = &m->ex_post[m->root[t->vocab]];
		for (k = 0; k < (size_t)p->n; k++)
			if (p->v[k] != m->skip_ex)
				m->ex_acc[p->v[k]] += m->qw[i];
	}
	for (i = 0; i < m->kb->n_intents; i++)
		m->dice[i] = examples_best(m, i, QUERY_SHARE * qnorm);
}

static void keywords_score(struct match *m)
{
	size_t i, k;

	memset(m->kw_acc, 0, m->kb->n_intents * sizeof(*m->kw_acc));
	for (i = 0; i < m->tok->n; i++) {
		const struct text_token *t = &m->tok->tok[i];
		const struct postings *p;

		if (m->qw[i] <= 0 || (t->flags & TEXT_STOP))
			continue;
		p = &m->kw_post[m->root[t->vocab]];
		for (k = 0; k < (size_t)p->n; k++)
			m->kw_acc[p->v[k]] += m->qw[i];
	}
}

static int pattern_hit(struct match *m, size_t ii)
{
	const struct cintent *ci = &m->ci[ii];
	size_t j;

	/*
	 * pcre2_jit_match() skips the checks of pcre2_match(), which cost as
	 * much as the match itself on a short message; the text was checked
	 * for valid UTF-8 once, in text_analyze(), and every code is JIT
	 * compiled (match_new() fails otherwise).
	 */
	for (j = dg_next(m, ci, 0); j < ci->n; j = dg_next(m, ci, j + 1))
		if (pcre2_jit_match(ci->re[j].re, (PCRE2_SPTR)m->tok->folded,
				    m->tok->folded_len, 0, 0, m->md,
				    m->mctx) >= 0)
			return 1;
	return 0;
}

static void cand_insert(struct match_result *res, const struct kb_intent *in,
			double score, int pattern, double evidence)
{
	size_t i, j;

	for (i = 0; i < res->n_cand; i++)
		if (score > res->cand[i].score)
			break;
	if (i >= MATCH_MAX_CAND)
		return;
	if (res->n_cand < MATCH_MAX_CAND)
		res->n_cand++;
	for (j = res->n_cand - 1; j > i; j--)
		res->cand[j] = res->cand[j - 1];
	res->cand[i].intent = in;
	res->cand[i].score = score;
	res->cand[i].pattern = pattern;
	res->cand[i].evidence = evidence;
}

/*
 * Combine the signals of intent 'ii'.  A pattern is an editor's explicit
 * statement and counts most; examples and keywords count by how much of
 * the message they explain.
 */
static double intent_score(struct match *m, size_t ii, float qnorm,
			   double cover, int *pattern, double *evidence)
{
	double kw = qnorm > 0 ? m->kw_acc[ii] / qnorm : 0;
	double s = m->dice[ii];

	if (kw > 1)
		kw = 1;
	if (kw * 0.85 > s)
		s = kw * 0.85;
	*evidence = s;
	*pattern = pattern_hit(m, ii);
	if (*pattern)	/* unknown words weigh less then */
		return (0.75 + 0.25 * s) * (0.55 + 0.45 * sqrt(cover));
	if (m->ci[ii].n)
		s *= PATTERN_SILENCE;
	/* unknown words: the message is probably about something else */
	return s * sqrt(cover);
}

/*
 * A service that another office handles than the one named, and that was
 * found less surely than the office, is a misreading ("Sperrmüllabfuhr"
 * is not "Ausweis sperren"): keep the second service if it fits, else none.
 */
static void entities_agree(struct match_result *res)
{
	if (!res->service || !res->office ||
	    res->service->office == res->office ||
	    res->service_score >= res->office_score)
		return;
	if (res->service2 && res->service2->office == res->office) {
		res->service = res->service2;
		res->service2 = NULL;
		return;
	}
	res->service = res->service2 = NULL;
	res->service_score = 0;
}

static void entities_resolve(struct match *m, struct match_result *res)
{
	struct ent_best best[2], second[2];

	entities_find(m, best, second);
	if (best[ENT_SERVICE].ph >= 0) {
		res->service = &m->kb->services[m->ph[best[ENT_SERVICE].ph].ent];
		res->service_score = best[ENT_SERVICE].score;
		entities_consume(m, best[ENT_SERVICE].ph);
	}
	if (second[ENT_SERVICE].ph >= 0) {
		res->service2 = &m->kb->services[m->ph[second[ENT_SERVICE].ph].ent];
		entities_consume(m, second[ENT_SERVICE].ph);
	}
	if (best[ENT_OFFICE].ph >= 0) {
		res->office = &m->kb->offices[m->ph[best[ENT_OFFICE].ph].ent];
		res->office_score = best[ENT_OFFICE].score;
		entities_consume(m, best[ENT_OFFICE].ph);
	}
	entities_agree(res);
}

/*
 * 'a' then 'b' into 'out' as snprintf(out, size, "%s%s", a, b) would put
 * them, without printf (this runs for words of many questions); returns
 * the length written.
 */
static size_t join_words(char *out, size_t size, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > size - 1)
		la = size - 1;
	if (lb > size - 1 - la)
		lb = size - 1 - la;
	memcpy(out, a, la);
	memcpy(out + la, b, lb);
	out[la + lb] = '\0';
	return la + lb;
}

/*
 * German separable verbs: "Wie melde ich meinen Wohnsitz ab?" means
 * "abmelden".  When the message ends in a particle, the first earlier word
 * that forms a known word with it takes that meaning.
 */
static void separable_join(struct match *m)
{
	static const char *const part[] = {
		"an", "ab", "um", "aus", "ein", "nach", "vor", "weg", "zu",
		"zurueck", "auf", "mit", "los", "her", "hin", "fest", "frei",
	};
	struct text_token *last;
	char word[128], stem[128];
	size_t i, k;
	int v;

	if (m->tok->n < 3)
		return;
	last = &m->tok->tok[m->tok->n - 1];
	for (k = 0; k < BOT_ARRAY_SIZE(part); k++)
		if (!strcmp(last->word, part[k]))
			break;
	if (k == BOT_ARRAY_SIZE(part))
		return;
	for (i = 0; i + 1 < m->tok->n; i++) {
		struct text_token *t = &m->tok->tok[i];

		if (t->flags & (TEXT_STOP | TEXT_NUMBER | TEXT_PART))
			continue;
		text_stem(m->text, word, join_words(word, sizeof(word), part[k],
						     t->word), stem, sizeof(stem));
		v = text_vocab_find(m->text, stem);
		if (v < 0)
			continue;
		t->vocab = v;
		t->weight = 1.0f;
		t->flags &= (uint16_t)~(TEXT_FUZZY | TEXT_SYNONYM);
		t->flags |= TEXT_JOINED;
		return;
	}
}

/*
 * zu-infinitives of separable verbs: "anzumelden" is "anmelden".  Only
 * for words the vocabulary does not know as they are.
 */
static void zu_infinitive(struct match *m)
{
	static const char *const part[] = {
		"an", "ab", "um", "aus", "ein", "nach", "vor", "weg", "zurueck",
		"auf", "mit", "fest", "frei", "ueber",
	};
	char word[128], stem[128];
	size_t i, k, pl;
	int v;

	for (i = 0; i < m->tok->n; i++) {
		struct text_token *t = &m->tok->tok[i];

		if (t->flags & (TEXT_STOP | TEXT_NUMBER | TEXT_PART) ||
		    (t->vocab >= 0 && !(t->flags & TEXT_FUZZY)))
			continue;
		for (k = 0; k < BOT_ARRAY_SIZE(part); k++) {
			pl = strlen(part[k]);
			if (strncmp(t->word, part[k], pl) ||
			    strncmp(t->word + pl, "zu", 2) ||
			    strlen(t->word) < pl + 6)
				continue;
			text_stem(m->text, word,
				  join_words(word, sizeof(word), part[k],
					     t->word + pl + 2), stem, sizeof(stem));
			v = text_vocab_find(m->text, stem);
			if (v >= 0) {
				t->vocab = v;
				t->weight = 1.0f;
				t->flags &= (uint16_t)~(TEXT_FUZZY | TEXT_SYNONYM);
			}
			break;
		}
	}
}

int match_run(struct match *m, const char *text, size_t len,
	      struct match_result *res, struct bot_err *err)
{
	float qnorm, known, total;
	double cover, s;
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	res->day_offset = -1;
	rc = text_analyze(m->text, text, len, m->tok, err);
	if (rc)
		return rc;
	res->tokens = m->tok;
	dg_scan(m);
	separable_join(m);
	zu_infinitive(m);
	m->gen++;
	memset(m->used, 0, m->tok->n * sizeof(m->used[0]));
	entities_resolve(m, res);
	query_weigh(m, &qnorm, &known, &total, &res->n_content);
	cover = total > 0 ? known / total : 0;
	res->coverage = cover;
	examples_score(m, qnorm);
	keywords_score(m);
	for (i = 0; i < m->kb->n_intents; i++) {
		double ev;
		int pat;

		s = intent_score(m, i, qnorm, cover, &pat, &ev);
		if (s <= 0)
			continue;
		cand_insert(res, &m->kb->intents[i], s, pat, ev);
	}
	if (res->n_cand) {
		res->intent = res->cand[0].intent;
		res->confidence = res->cand[0].score;
	}
	return BOT_OK;
}

int match_example_check(struct match *m, const struct kb_intent *intent,
			size_t example, const struct kb_intent **better,
			double *own, double *other)
{
	struct match_result res;
	size_t i, ii = (size_t)(intent - m->kb->intents), seen = 0;
	const char *text = intent->examples.v[example];

	*better = NULL;
	*own = *other = 0;
	for (i = 0; i < m->n_ex; i++)
		if (m->ex[i].intent == (int)ii && seen++ == example)
			m->skip_ex = (int)i;
	if (match_run(m, text, strlen(text), &res, NULL))
		res.n_cand = 0;
	m->skip_ex = -1;
	for (i = 0; i < res.n_cand; i++) {
		if (res.cand[i].intent == intent)
			*own = res.cand[i].score;
		else if (res.cand[i].score > *other) {
			*other = res.cand[i].score;
			*better = res.cand[i].intent;
		}
	}
	if (*other <= *own)
		*better = NULL;
	return *better != NULL;
}

static const char *explain_flags(const struct text_token *t, char *buf,
				 size_t size)
{
	snprintf(buf, size, "%s%s%s%s%s%s",
		 t->flags & TEXT_STOP ? " stop" : "",
		 t->flags & TEXT_NUMBER ? " number" : "",
		 t->flags & TEXT_FUZZY ? " typo" : "",
		 t->flags & TEXT_SYNONYM ? " synonym" : "",
		 t->flags & TEXT_PART ? " part" : "",
		 t->flags & TEXT_COMPOUND ? " compound" : "");
	return buf;
}

int match_explain(struct match *m, const char *text, size_t len,
		  struct strbuf *out, struct bot_err *err)
{
	struct match_result res;
	char fl[64];
	size_t i;
	int rc;

	rc = match_run(m, text, len, &res, err);
	if (rc)
		return rc;
	rc |= strbuf_addf(out, "folded: %s\n", m->tok->folded);
	for (i = 0; i < m->tok->n && !rc; i++) {
		const struct text_token *t = &m->tok->tok[i];

		rc |= strbuf_addf(out, "  %-20s stem %-16s -> %-16s w %.2f%s%s\n",
				  t->word, t->stem, t->vocab >= 0 ?
				  text_vocab_stem(m->text, t->vocab) : "?",
				  t->weight, explain_flags(t, fl, sizeof(fl)),
				  m->used[i] ? " (topic)" : "");
	}
	rc |= strbuf_addf(out, "service: %s (%.2f)  office: %s (%.2f)  "
			  "known words: %.0f %%\n",
			  res.service ? res.service->id : "-", res.service_score,
			  res.office ? res.office->id : "-", res.office_score,
			  res.coverage * 100);
	for (i = 0; i < res.n_cand && !rc; i++)
		rc |= strbuf_addf(out, "  intent %-18s %.2f  (%s, words %.2f)\n",
				  res.cand[i].intent->id, res.cand[i].score,
				  res.cand[i].pattern ? "pattern" : "no pattern",
				  res.cand[i].evidence);
	return rc ? bot_fail(err, BOT_ENOMEM, "out of memory") : BOT_OK;
}
