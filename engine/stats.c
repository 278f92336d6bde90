/*
 * stats.c - counters, message keys, periods, percentiles, the grouping of
 * unanswered questions and the review dates, for 'amtsbot stats' and the
 * /stats page.  No database here: store_stats.c feeds it rows.
 */
#include "bot.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb.h"
#include "strbuf.h"
#include "text.h"
#include "banned.h"

/* ---- counters: open addressing, FNV-1a ----------------------------------- */

struct stats_slot {
	char *key;		/* NULL: free */
	uint64_t hash;
	int64_t n;
};

struct stats_counts {
	struct stats_slot *slot;
	size_t cap, used;	/* cap is a power of two */
};

static uint64_t stats_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

struct stats_counts *stats_counts_new(void)
{
	struct stats_counts *c = bot_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cap = 64;
	c->slot = bot_calloc(c->cap, sizeof(*c->slot));
	if (!c->slot)
		BOT_FREE(&c);
	return c;
}

void stats_counts_free(struct stats_counts **cp)
{
	struct stats_counts *c = *cp;
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->cap; i++)
		bot_free(c->slot[i].key);
	bot_free(c->slot);
	bot_free(c);
	*cp = NULL;
}

static struct stats_slot *stats_find(const struct stats_counts *c,
				     const char *key, uint64_t h)
{
	size_t i = (size_t)h & (c->cap - 1);

	while (c->slot[i].key && (c->slot[i].hash != h ||
				  strcmp(c->slot[i].key, key)))
		i = (i + 1) & (c->cap - 1);
	return &c->slot[i];
}

static int stats_grow(struct stats_counts *c)
{
	struct stats_counts big = { NULL, c->cap * 2, c->used };
	struct stats_slot *to;
	size_t i;

	big.slot = bot_calloc(big.cap, sizeof(*big.slot));
	if (!big.slot)
		return BOT_ENOMEM;
	for (i = 0; i < c->cap; i++) {
		if (!c->slot[i].key)
			continue;
		to = stats_find(&big, c->slot[i].key, c->slot[i].hash);
		*to = c->slot[i];
	}
	bot_free(c->slot);
	*c = big;
	return BOT_OK;
}

/* The slot of 'key', created when missing; NULL when out of memory. */
static struct stats_slot *stats_slot_get(struct stats_counts *c, const char *key)
{
	uint64_t h = stats_hash(key);
	struct stats_slot *sl = stats_find(c, key, h);

	if (sl->key)
		return sl;
	if (c->used >= STATS_MAX_KEYS)
		return NULL;
	if ((c->used + 1) * 10 > c->cap * 7) {
		if (stats_grow(c))
			return NULL;
		sl = stats_find(c, key, h);
	}
	sl->key = bot_strdup(key);
	if (!sl->key)
		return NULL;
	sl->hash = h;
	sl->n = 0;
	c->used++;
	return sl;
}

int stats_counts_add(struct stats_counts *c, const char *key, int64_t n)
{
	struct stats_slot *sl = stats_slot_get(c, key);

	if (!sl)
		return BOT_ENOMEM;
	sl->n += n;
	return BOT_OK;
}

int stats_counts_set(struct stats_counts *c, const char *key, int64_t n)
{
	struct stats_slot *sl = stats_slot_get(c, key);

	if (!sl)
		return BOT_ENOMEM;
	sl->n = n;
	return BOT_OK;
}

int64_t stats_counts_get(const struct stats_counts *c, const char *key, int *has)
{
	const struct stats_slot *sl = stats_find(c, key, stats_hash(key));

	if (has)
		*has = sl->key != NULL;
	return sl->key ? sl->n : 0;
}

int stats_counts_each(const struct stats_counts *c, stats_count_fn fn, void *arg)
{
	size_t i;
	int rc;

	for (i = 0; i < c->cap; i++) {
		if (!c->slot[i].key)
			continue;
		rc = fn(arg, c->slot[i].key, c->slot[i].n);
		if (rc)
			return rc;
	}
	return 0;
}

static int stats_merge_one(void *arg, const char *key, int64_t n)
{
	return stats_counts_add(arg, key, n);
}

int stats_counts_merge(struct stats_counts *c, const struct stats_counts *from)
{
	return stats_counts_each(from, stats_merge_one, c);
}

size_t stats_counts_size(const struct stats_counts *c)
{
	return c->used;
}

/* ---- the keys of a message ------------------------------------------------- */

void stats_clock_at(struct stats_clock *k, time_t t)
{
	struct tm tm;

	if (k->to > k->from && t >= k->from && t < k->to)
		return;
	localtime_r(&t, &tm);
	/* an hour of local time never spans a change of day or offset
	 * (offsets change on full hours) */
	k->from = t - tm.tm_min * 60 - tm.tm_sec;
	k->to = k->from + 3600;
	strftime(k->day, sizeof(k->day), "%Y-%m-%d", &tm);
	k->wday = tm.tm_wday ? tm.tm_wday : 7;
	k->hour = tm.tm_hour;
}

int stats_is_fallback(const char *intent, const char *netiquette,
		      const char *handoff_reason)
{
	return !intent && !netiquette && !handoff_reason;
}

/* Add 'n' to prefix + name (+ ":" + sub when sub is not NULL). */
static int stats_key_add(struct stats_counts *c, const char *prefix,
			 const char *name, const char *sub, int64_t n)
{
	char key[STATS_KEY_MAX];

	snprintf(key, sizeof(key), "%s%s%s%s", prefix ? prefix : "", name,
		 sub ? ":" : "", sub ? sub : "");
	return stats_counts_add(c, key, n);
}

static int stats_count_bot(struct stats_counts *c, const char *p,
			   const struct stats_msg *m, int64_t n)
{
	int rc = stats_key_add(c, p, "answers", NULL, n);

	if (!rc && m->intent)
		rc = stats_key_add(c, p, "answered", NULL, n) ||
		     stats_key_add(c, p, "intent", m->intent, n);
	if (!rc && m->service)
		rc = stats_key_add(c, p, "service", m->service, n);
	if (!rc && m->netiquette)
		rc = stats_key_add(c, p, "netiquette", m->netiquette, n);
	if (!rc && stats_is_fallback(m->intent, m->netiquette, m->handoff_reason))
		rc = stats_key_add(c, p, "fallbacks", NULL, n);
	if (!rc && m->channel)
		rc = stats_key_add(c, p, "channel", m->channel, n);
	return rc ? BOT_ENOMEM : BOT_OK;
}

/* Everything but the hour, 'n' times. */
static int stats_count_cols(struct stats_counts *c, const char *prefix,
			    const struct stats_msg *m, int64_t n)
{
	int rc = stats_key_add(c, prefix, "messages", NULL, n);

	if (rc || !m->role)
		return rc;
	if (!strcmp(m->role, "bot"))
		return stats_count_bot(c, prefix, m, n);
	if (!strcmp(m->role, "citizen"))
		return stats_key_add(c, prefix, "questions", NULL, n);
	return BOT_OK;
}

static int stats_count_hour(struct stats_counts *c, const char *prefix,
			    int wday, int hour, int64_t n)
{
	char h[32];

	snprintf(h, sizeof(h), "%d-%02d", wday, hour);
	return stats_key_add(c, prefix, "hour", h, n);
}

int stats_count_msg(struct stats_counts *c, struct stats_clock *k,
		    const char *prefix, const struct stats_msg *m)
{
	if (stats_count_cols(c, prefix, m, 1))
		return BOT_ENOMEM;
	if (!m->role || strcmp(m->role, "citizen"))
		return BOT_OK;
	stats_clock_at(k, m->created);
	return stats_count_hour(c, prefix, k->wday, k->hour, 1);
}

/* ---- the tally ----------------------------------------------------------- */

#define STATS_COLS 6		/* role intent service netiquette handoff channel */
#define STATS_TALLY_MAX 65536	/* distinct combinations before a flush */

struct stats_combo {
	char *col[STATS_COLS];	/* NULL columns stay NULL */
	uint64_t hash;
	int64_t n;
	int used;
};

struct stats_tally {
	struct stats_combo *slot;	/* STATS_TALLY_MAX * 2 slots */
	size_t used;
	int64_t hours[8][24];	/* [1..7][0..23] */
	struct stats_clock k;
};

struct stats_tally *stats_tally_new(void)
{
	struct stats_tally *t = bot_calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->slot = bot_calloc(STATS_TALLY_MAX * 2, sizeof(*t->slot));
	if (!t->slot)
		BOT_FREE(&t);
	return t;
}

static void stats_tally_clear(struct stats_tally *t)
{
	size_t i;
	int j;

	for (i = 0; t->used && i < STATS_TALLY_MAX * 2; i++) {
		for (j = 0; j < STATS_COLS; j++)
			bot_free(t->slot[i].col[j]);
		memset(&t->slot[i], 0, sizeof(t->slot[i]));
	}
	t->used = 0;
	memset(t->hours, 0, sizeof(t->hours));
}

void stats_tally_free(struct stats_tally **tp)
{
	struct stats_tally *t = *tp;

	if (!t)
		return;
	stats_tally_clear(t);
	bot_free(t->slot);
	bot_free(t);
	*tp = NULL;
}

static void stats_cols(const struct stats_msg *m, const char *col[STATS_COLS])
{
	col[0] = m->role;
	col[1] = m->intent;
	col[2] = m->service;
	col[3] = m->netiquette;
	col[4] = m->handoff_reason;
	col[5] = m->channel;
}

static uint64_t stats_cols_hash(const char *const col[STATS_COLS])
{
	uint64_t h = 1469598103934665603ULL;
	const char *s;
	int j;

	for (j = 0; j < STATS_COLS; j++) {
		for (s = col[j]; s && *s; s++)
			h = (h ^ (unsigned char)*s) * 1099511628211ULL;
		h = (h ^ (col[j] ? 0x1fu : 0x2eu)) * 1099511628211ULL;
	}
	return h;
}

static int stats_cols_equal(const struct stats_combo *c,
			    const char *const col[STATS_COLS])
{
	int j;

	for (j = 0; j < STATS_COLS; j++)
		if ((c->col[j] == NULL) != (col[j] == NULL) ||
		    (col[j] && strcmp(c->col[j], col[j])))
			return 0;
	return 1;
}

static int stats_combo_new(struct stats_combo *c, const char *const col[STATS_COLS],
			   uint64_t h)
{
	int j;

	c->used = 1;
	c->hash = h;
	for (j = 0; j < STATS_COLS; j++)
		if (col[j]) {
			c->col[j] = bot_strdup(col[j]);
			if (!c->col[j])
				return BOT_ENOMEM;
		}
	return BOT_OK;
}

int stats_tally_add(struct stats_tally *t, const struct stats_msg *m)
{
	const char *col[STATS_COLS];
	uint64_t h;
	size_t i;

	stats_cols(m, col);
	h = stats_cols_hash(col);
	i = (size_t)h & (STATS_TALLY_MAX * 2 - 1);
	while (t->slot[i].used && (t->slot[i].hash != h ||
				   !stats_cols_equal(&t->slot[i], col)))
		i = (i + 1) & (STATS_TALLY_MAX * 2 - 1);
	if (!t->slot[i].used) {
		if (t->used >= STATS_TALLY_MAX)
			return BOT_ENOMEM;	/* the caller flushes and retries */
		t->used++;
		if (stats_combo_new(&t->slot[i], col, h))
			return BOT_ENOMEM;
	}
	t->slot[i].n++;
	if (m->role && !strcmp(m->role, "citizen")) {
		stats_clock_at(&t->k, m->created);
		t->hours[t->k.wday][t->k.hour]++;
	}
	return BOT_OK;
}

int stats_tally_flush(struct stats_tally *t, struct stats_counts *c)
{
	struct stats_msg m;
	size_t i;
	int d, h, rc = BOT_OK;

	for (i = 0; !rc && i < STATS_TALLY_MAX * 2; i++) {
		if (!t->slot[i].used)
			continue;
		memset(&m, 0, sizeof(m));
		m.role = t->slot[i].col[0];
		m.intent = t->slot[i].col[1];
		m.service = t->slot[i].col[2];
		m.netiquette = t->slot[i].col[3];
		m.handoff_reason = t->slot[i].col[4];
		m.channel = t->slot[i].col[5];
		rc = stats_count_cols(c, NULL, &m, t->slot[i].n);
	}
	for (d = 1; !rc && d <= 7; d++)
		for (h = 0; !rc && h < 24; h++)
			if (t->hours[d][h])
				rc = stats_count_hour(c, NULL, d, h, t->hours[d][h]);
	stats_tally_clear(t);
	return rc;
}

/* ---- periods ------------------------------------------------------------------ */

int stats_day_parse(const char *s, time_t *t, struct bot_err *err)
{
	struct tm tm;
	int y, mo, d;
	char end;

	if (!s || sscanf(s, "%4d-%2d-%2d%c", &y, &mo, &d, &end) != 3 ||
	    strlen(s) != 10 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    y < 1970)
		return bot_fail(err, BOT_EINVAL, "bad date '%s': use YYYY-MM-DD",
				s ? s : "");
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_isdst = -1;
	*t = mktime(&tm);
	if (tm.tm_mday != d)
		return bot_fail(err, BOT_EINVAL, "bad date '%s': no such day", s);
	return BOT_OK;
}

time_t stats_day_add(time_t t, int days)
{
	struct tm tm;

	localtime_r(&t, &tm);
	tm.tm_mday += days;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return mktime(&tm);
}

void stats_day_str(time_t t, char out[11])
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static int stats_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int64_t stats_percentile(int64_t *v, size_t n, int p)
{
	size_t rank;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), stats_cmp_i64);
	rank = (n * (size_t)p + 99) / 100;
	return v[rank ? rank - 1 : 0];
}

/* ---- unanswered questions ------------------------------------------------------ */

#define STATS_STEMS_MAX 512	/* bytes of one question's stem set */
#define STATS_QUESTIONS_MAX 100000	/* distinct wordings kept */

/* One distinct stem set and what was asked with it. */
struct stats_set {
	char *stems;		/* sorted, space separated; folded text if none */
	char *text;		/* the most frequent wording */
	size_t text_n;
	char **texts;		/* distinct wordings, for counting them */
	size_t *texts_n, n_texts;
	char **closest;
	size_t *closest_n, n_closest;
	size_t n;
	size_t parent;		/* union-find */
};

struct stats_groups {
	struct text *t;
	struct stats_counts *index;	/* stems -> set number + 1 */
	struct stats_set *set;
	size_t n_set, alloc;
	struct stats_group *out;
	size_t n_out;
};

struct stats_groups *stats_groups_new(struct text *t)
{
	struct stats_groups *g = bot_calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->t = t;
	g->index = stats_counts_new();
	if (!g->index)
		BOT_FREE(&g);
	return g;
}

static void stats_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bot_free(v[i]);
	bot_free(v);
}

void stats_groups_free(struct stats_groups **gp)
{
	struct stats_groups *g = *gp;
	size_t i;

	if (!g)
		return;
	for (i = 0; i < g->n_set; i++) {
		bot_free(g->set[i].stems);
		stats_strv_free(g->set[i].texts, g->set[i].n_texts);
		bot_free(g->set[i].texts_n);
		stats_strv_free(g->set[i].closest, g->set[i].n_closest);
		bot_free(g->set[i].closest_n);
	}
	for (i = 0; i < g->n_out; i++) {
		bot_free(g->out[i].text);
		bot_free(g->out[i].closest);
	}
	bot_free(g->out);
	bot_free(g->set);
	stats_counts_free(&g->index);
	bot_free(g);
	*gp = NULL;
}

static int stats_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Stems of the content words, sorted and unique, joined by spaces. */
static int stats_stem_words(struct text *t, char *folded, char *out,
			    size_t size)
{
	char *words[64], stems[64][64], *save = NULL, *w;
	size_t n = 0, i, len = 0;

	for (w = strtok_r(folded, " ", &save); w && n < 64;
	     w = strtok_r(NULL, " ", &save)) {
		if (text_is_stop(w, strlen(w)))
			continue;
		text_stem(t, w, strlen(w), stems[n], sizeof(stems[n]));
		words[n] = stems[n];
		n++;
	}
	out[0] = '\0';
	if (!n)
		return BOT_OK;
	qsort(words, n, sizeof(*words), stats_cmp_str);
	for (i = 0; i < n; i++) {
		if (i && !strcmp(words[i], words[i - 1]))
			continue;
		len += (size_t)snprintf(out + len, size - len, "%s%s",
					len ? " " : "", words[i]);
		if (len >= size)
			return BOT_ENOMEM;
	}
	return BOT_OK;
}

int stats_stems(struct text *t, const char *text, char *out, size_t size)
{
	struct strbuf fold;
	int rc;

	strbuf_init(&fold, 4096);
	rc = text_fold(text, strlen(text), &fold, NULL);
	if (!rc && fold.len)
		rc = stats_stem_words(t, fold.buf, out, size);
	else if (!rc)
		out[0] = '\0';
	/* only stop words ("Hallo?"): the folded words are the key */
	if (!rc && !out[0])
		snprintf(out, size, "=%s", strbuf_str(&fold));
	strbuf_release(&fold);
	return rc;
}

/* Count 'v' in the tally ('*vals', '*counts', '*n'); BOT_ENOMEM. */
static int stats_tally(char ***vals, size_t **counts, size_t *n, const char *v)
{
	char **nv;
	size_t *nc, i;

	for (i = 0; i < *n; i++)
		if (!strcmp((*vals)[i], v)) {
			(*counts)[i]++;
			return BOT_OK;
		}
	nv = bot_realloc(*vals, (*n + 1) * sizeof(*nv));
	if (!nv)
		return BOT_ENOMEM;
	*vals = nv;
	nc = bot_realloc(*counts, (*n + 1) * sizeof(*nc));
	if (!nc)
		return BOT_ENOMEM;
	*counts = nc;
	nv[*n] = bot_strdup(v);
	if (!nv[*n])
		return BOT_ENOMEM;
	nc[(*n)++] = 1;
	return BOT_OK;
}

static struct stats_set *stats_set_get(struct stats_groups *g, const char *stems)
{
	int has;
	int64_t at = stats_counts_get(g->index, stems, &has);
	struct stats_set *s;

	if (has)
		return &g->set[at];
	if (g->n_set >= STATS_QUESTIONS_MAX)
		return NULL;
	if (g->n_set == g->alloc) {
		s = bot_realloc(g->set, (g->alloc * 2 + 16) * sizeof(*s));
		if (!s)
			return NULL;
		g->set = s;
		g->alloc = g->alloc * 2 + 16;
	}
	s = &g->set[g->n_set];
	memset(s, 0, sizeof(*s));
	s->stems = bot_strdup(stems);
	if (!s->stems || stats_counts_set(g->index, stems, (int64_t)g->n_set)) {
		bot_free(s->stems);
		return NULL;
	}
	s->parent = g->n_set++;
	return s;
}

int stats_groups_add(struct stats_groups *g, const char *text,
		     const char *closest)
{
	char stems[STATS_STEMS_MAX];
	struct stats_set *s;

	if (!text || text_utf8_check(text, strlen(text), NULL))
		return BOT_OK;
	if (stats_stems(g->t, text, stems, sizeof(stems)))
		return BOT_ENOMEM;
	s = stats_set_get(g, stems);
	if (!s)
		return BOT_ENOMEM;
	s->n++;
	if (stats_tally(&s->texts, &s->texts_n, &s->n_texts, text) ||
	    (closest && stats_tally(&s->closest, &s->closest_n, &s->n_closest,
				    closest)))
		return BOT_ENOMEM;
	return BOT_OK;
}

/* Jaccard index of two sorted, space-separated word sets >= 0.8. */
static int stats_near(const char *a, const char *b)
{
	size_t common = 0, na = 0, nb = 0, la, lb;
	int c;

	if (*a == '=' || *b == '=')
		return 0;
	while (*a && *b) {
		la = strcspn(a, " ");
		lb = strcspn(b, " ");
		c = strncmp(a, b, la < lb ? la : lb);
		if (!c)
			c = (la > lb) - (la < lb);
		if (c <= 0) {
			na++;
			a += la + (a[la] == ' ');
		}
		if (c >= 0) {
			nb++;
			b += lb + (b[lb] == ' ');
		}
		common += c == 0;
	}
	for (; *a; a += strcspn(a, " ") + (a[strcspn(a, " ")] == ' '))
		na++;
	for (; *b; b += strcspn(b, " ") + (b[strcspn(b, " ")] == ' '))
		nb++;
	return na + nb - common && common * 10 >= (na + nb - common) * 8;
}

static size_t stats_root(struct stats_set *set, size_t i)
{
	while (set[i].parent != i) {
		set[i].parent = set[set[i].parent].parent;
		i = set[i].parent;
	}
	return i;
}

/* The most frequent value of a tally (first on ties); NULL if empty. */
static const char *stats_top(char **vals, const size_t *counts, size_t n,
			     size_t *count)
{
	size_t i, best = 0;

	if (!n)
		return NULL;
	for (i = 1; i < n; i++)
		if (counts[i] > counts[best])
			best = i;
	if (count)
		*count = counts[best];
	return vals[best];
}

static int stats_cmp_group(const void *a, const void *b)
{
	const struct stats_group *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	return strcmp(x->text, y->text);
}

/* Fold set 'i' into output group 'o': counts, best wording, closest. */
static int stats_group_fold(struct stats_groups *g, struct stats_set *s,
			    struct stats_group *o, size_t *best_text,
			    size_t *best_closest)
{
	size_t tn = 0, cn = 0;
	const char *t = stats_top(s->texts, s->texts_n, s->n_texts, &tn);
	const char *c = stats_top(s->closest, s->closest_n, s->n_closest, &cn);

	(void)g;
	o->n += s->n;
	o->n_variants += s->n_texts;
	if (t && tn > *best_text) {
		bot_free(o->text);
		o->text = bot_strdup(t);
		*best_text = tn;
		if (!o->text)
			return BOT_ENOMEM;
	}
	if (c && cn > *best_closest) {
		bot_free(o->closest);
		o->closest = bot_strdup(c);
		*best_closest = cn;
		if (!o->closest)
			return BOT_ENOMEM;
	}
	return BOT_OK;
}

static int stats_groups_collect(struct stats_groups *g)
{
	size_t i, j, root, *at, *bt, *bc;
	int rc = BOT_ENOMEM;

	at = bot_calloc(g->n_set + 1, sizeof(*at));
	bt = bot_calloc(g->n_set + 1, sizeof(*bt));
	bc = bot_calloc(g->n_set + 1, sizeof(*bc));
	g->out = bot_calloc(g->n_set + 1, sizeof(*g->out));
	if (!at || !bt || !bc || !g->out)
		goto out;
	for (i = 0; i < g->n_set; i++) {
		root = stats_root(g->set, i);
		if (!at[root])
			at[root] = ++g->n_out;
		j = at[root] - 1;
		if (stats_group_fold(g, &g->set[i], &g->out[j], &bt[j], &bc[j]))
			goto out;
	}
	qsort(g->out, g->n_out, sizeof(*g->out), stats_cmp_group);
	rc = BOT_OK;
out:
	bot_free(at);
	bot_free(bt);
	bot_free(bc);
	return rc;
}

int stats_groups_build(struct stats_groups *g, const struct stats_group **out,
		       size_t *n)
{
	size_t i, j, a, b;

	*out = NULL;
	*n = 0;
	if (g->out)
		goto done;
	/* single link: quadratic in distinct stem sets, which are few */
	for (i = 0; i < g->n_set; i++)
		for (j = i + 1; j < g->n_set; j++) {
			a = stats_root(g->set, i);
			b = stats_root(g->set, j);
			if (a != b && stats_near(g->set[i].stems, g->set[j].stems))
				g->set[b].parent = a;
		}
	if (stats_groups_collect(g))
		return BOT_ENOMEM;
done:
	*out = g->out;
	*n = g->n_out;
	return BOT_OK;
}

/* ---- answers due for review ------------------------------------------------------- */

/* 1 when 'reviewed' (YYYY-MM-DD) is more than 'months' before 'today'. */
static int stats_review_due(const char *reviewed, int months,
			    const struct tm *today)
{
	int y, m, d;
	long due, cur;

	if (!reviewed || sscanf(reviewed, "%d-%d-%d", &y, &m, &d) != 3)
		return 0;
	due = (long)y * 12 + m - 1 + months;
	cur = (long)(today->tm_year + 1900) * 12 + today->tm_mon;
	return due < cur || (due == cur && d < today->tm_mday);
}

int stats_stale_each(const struct kb *kb, time_t now, stats_stale_fn fn,
		     void *arg)
{
	int months = kb->settings.review_months > 0 ?
		     kb->settings.review_months : 12;
	struct stats_stale s;
	struct tm today;
	size_t i;
	int rc = 0;

	localtime_r(&now, &today);
	for (i = 0; !rc && i < kb->n_offices; i++) {
		const struct kb_office *o = &kb->offices[i];

		s = (struct stats_stale){ "office", o->id, o->name ? o->name : o->id,
					  o->team, o->reviewed };
		if (stats_review_due(o->reviewed, months, &today))
			rc = fn(arg, &s);
	}
	for (i = 0; !rc && i < kb->n_services; i++) {
		const struct kb_service *v = &kb->services[i];

		s = (struct stats_stale){ "service", v->id, v->name ? v->name : v->id,
					  v->team, v->reviewed };
		if (stats_review_due(v->reviewed, months, &today))
			rc = fn(arg, &s);
	}
	for (i = 0; !rc && i < kb->n_intents; i++) {
		const struct kb_intent *in = &kb->intents[i];

		s = (struct stats_stale){ "intent", in->id,
					  in->title ? in->title : in->id,
					  in->team, in->reviewed };
		if (stats_review_due(in->reviewed, months, &today))
			rc = fn(arg, &s);
	}
	return rc;
}

/* ---- a report ------------------------------------------------------------------ */

const char *const stats_totals[STATS_N_TOTALS] = {
	"conversations", "messages", "questions", "answers", "answered",
	"fallbacks", "suggestions", "handoffs", "wait_median_s", "wait_p90_s",
	"helpful", "unhelpful",
};

struct stats_rowset {
	struct stats_row *row;
	size_t n, alloc;
	int before;
};

static int stats_row_put(void *arg, const char *key, int64_t n)
{
	struct stats_rowset *rs = arg;
	struct stats_row *r;
	size_t i;

	for (i = 0; rs->before && i < rs->n; i++)
		if (!strcmp(rs->row[i].key, key)) {
			rs->row[i].before = n;
			rs->row[i].has_before = 1;
			return 0;
		}
	if (rs->n == rs->alloc) {
		r = bot_realloc(rs->row, (rs->alloc * 2 + 32) * sizeof(*r));
		if (!r)
			return BOT_ENOMEM;
		rs->row = r;
		rs->alloc = rs->alloc * 2 + 32;
	}
	r = &rs->row[rs->n++];
	memset(r, 0, sizeof(*r));
	r->key = key;
	if (rs->before) {
		r->before = n;
		r->has_before = 1;
	} else {
		r->now = n;
		r->has_now = 1;
	}
	return 0;
}

/* Position of a total in stats_totals, or STATS_N_TOTALS for a group row. */
static size_t stats_total_rank(const char *key)
{
	size_t i;

	for (i = 0; i < STATS_N_TOTALS; i++)
		if (!strcmp(key, stats_totals[i]))
			return i;
	return strchr(key, ':') ? STATS_N_TOTALS + 1 : STATS_N_TOTALS;
}

static int stats_cmp_row(const void *a, const void *b)
{
	const struct stats_row *x = a, *y = b;
	size_t rx = stats_total_rank(x->key), ry = stats_total_rank(y->key);
	size_t gx = strcspn(x->key, ":"), gy = strcspn(y->key, ":");
	int c;

	if (rx != ry)
		return rx < ry ? -1 : 1;
	if (rx > STATS_N_TOTALS) {
		c = strncmp(x->key, y->key, gx < gy ? gx : gy);
		if (c || gx != gy)
			return c ? c : (gx < gy ? -1 : 1);
	}
	if (rx >= STATS_N_TOTALS && x->now != y->now)
		return x->now > y->now ? -1 : 1;
	return strcmp(x->key, y->key);
}

/*
 * Quadratic merge of the previous period's keys: reports have hundreds
 * of rows, not millions.
 */
int stats_rows(const struct stats_counts *now, const struct stats_counts *before,
	       struct stats_row **rows, size_t *n)
{
	struct stats_rowset rs = { 0 };

	*rows = NULL;
	*n = 0;
	if (stats_counts_each(now, stats_row_put, &rs))
		goto fail;
	rs.before = 1;
	if (before && stats_counts_each(before, stats_row_put, &rs))
		goto fail;
	if (rs.n)
		qsort(rs.row, rs.n, sizeof(*rs.row), stats_cmp_row);
	*rows = rs.row;
	*n = rs.n;
	return BOT_OK;
fail:
	bot_free(rs.row);
	return BOT_ENOMEM;
}

static int stats_csv_field(struct strbuf *sb, const char *s, size_t len)
{
	size_t i;
	int rc = 0;

	if (!memchr(s, ',', len) && !memchr(s, '"', len) && !memchr(s, '\n', len))
		return strbuf_add(sb, s, len);
	rc = strbuf_addch(sb, '"');
	for (i = 0; !rc && i < len; i++)
		rc = s[i] == '"' ? strbuf_add(sb, "\"\"", 2) : strbuf_addch(sb, s[i]);
	return rc ? rc : strbuf_addch(sb, '"');
}

int stats_csv_add(struct strbuf *sb, const struct stats_row *rows, size_t n)
{
	const char *name;
	size_t i, glen;
	int rc = strbuf_adds(sb, "group,key,now,before\r\n");

	for (i = 0; !rc && i < n; i++) {
		name = strchr(rows[i].key, ':');
		glen = name ? (size_t)(name - rows[i].key) : 0;
		name = name ? name + 1 : rows[i].key;
		rc = name == rows[i].key ? strbuf_adds(sb, "total") :
		     stats_csv_field(sb, rows[i].key, glen);
		rc = rc || strbuf_addch(sb, ',') ||
		     stats_csv_field(sb, name, strlen(name)) ||
		     strbuf_addf(sb, ",%lld,", (long long)rows[i].now);
		if (!rc && rows[i].has_before)
			rc = strbuf_addf(sb, "%lld", (long long)rows[i].before);
		rc = rc || strbuf_adds(sb, "\r\n");
	}
	return rc ? BOT_ENOMEM : BOT_OK;
}
