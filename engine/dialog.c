/*
 * dialog.c - one turn of a conversation.
 *
 * Order matters: personal data is looked for first (it decides the handoff
 * and what may be stored), then the matcher ranks intents and finds the
 * service or office; the conversation's context fills in what a follow-up
 * question leaves out; below the threshold the bot does not guess.
 * Netiquette comes right after personal data: a violation is answered
 * with a reminder only, and the matcher does not run.
 */
#include "bot.h"
#include "dialog.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "hours.h"
#include "kb.h"
#include "match.h"
#include "netiquette.h"
#include "pii.h"
#include "text.h"
#include "banned.h"

#define QUICK_PERSON "Mit einem Menschen sprechen"
#define SUGGEST_MIN 0.2
/* After this many unanswered questions in a row the bot offers a person;
 * a request for a person then has the reason "fallback". */
#define FALLBACK_OFFER 2
/* A service or office found this surely puts the message in scope, so the
 * kind of question needs less evidence (threshold times TOPIC_FACTOR). */
#define TOPIC_SURE 0.7
#define TOPIC_FACTOR 0.6
/* Without a topic, asking back "which service?" needs a pattern hit and
 * mostly known words; otherwise the question is probably out of scope. */
#define ASK_COVERAGE 0.85

struct dialog {
	const struct kb *kb;
	struct match *match;
	struct hours_tz *tz;
	struct netiq *netiq;
	const struct kb_intent *service_intent;	/* topic named, kind not */
	const struct kb_intent *office_intent;
};

/* What one turn decided, before it is written into the reply. */
struct turn {
	const struct kb_intent *intent;
	const struct kb_service *service;
	const struct kb_office *office;
	double confidence;
	int day_offset;
	int fallback;
	int ask_back;		/* 1: needs a topic, 2: two readings are close */
};

struct dialog *dialog_new(const struct kb *kb, struct bot_err *err)
{
	struct dialog *d = bot_calloc(1, sizeof(*d));

	if (!d) {
		bot_fail(err, BOT_ENOMEM, "out of memory");
		return NULL;
	}
	d->kb = kb;
	d->tz = hours_tz_new(kb->settings.timezone ? kb->settings.timezone
				: "Europe/Berlin", err);
	if (!d->tz)
		goto fail;
	d->match = match_new(kb, NULL, err);
	if (!d->match)
		goto fail;
	d->netiq = netiq_new(kb, err);
	if (!d->netiq)
		goto fail;
	if (kb->settings.service_intent)
		d->service_intent = kb_intent(kb, kb->settings.service_intent);
	if (kb->settings.office_intent)
		d->office_intent = kb_intent(kb, kb->settings.office_intent);
	return d;
fail:
	dialog_free(&d);
	return NULL;
}

void dialog_free(struct dialog **dp)
{
	struct dialog *d = *dp;

	if (!d)
		return;
	match_free(&d->match);
	netiq_free(&d->netiq);
	hours_tz_free(&d->tz);
	bot_free(d);
	*dp = NULL;
}

const struct kb *dialog_kb(const struct dialog *d)
{
	return d->kb;
}

const struct hours_tz *dialog_tz(const struct dialog *d)
{
	return d->tz;
}

struct match *dialog_match(struct dialog *d)
{
	return d->match;
}

void dialog_state_init(struct dialog_state *st)
{
	memset(st, 0, sizeof(*st));
}

/*
 * The stored form of a dialog_state (dialog_state_pack()).  Byte 0 is the
 * version, 0x01: an old raw struct blob starts with a service id byte or
 * NUL, never 0x01.  Then a varint bitmap of the fields that are not zero
 * or empty, in the order of state_fields[], then those fields in that
 * order: an id as a length byte (1..63) and its bytes without NUL, ints
 * and times as zigzag varints (LEB128, no overlong forms), the message
 * hash as 8 bytes little-endian (a hash fills all 64 bits, so a varint
 * would be longer).  The encoding is canonical, which lets unpack reject
 * garbage: a field present in the bitmap is never zero, and the input must
 * end exactly after the last field.  The table is part of the stored
 * format: append new fields with new bits (old data keeps decoding); any
 * other change needs a new version byte.  The fields most often set come
 * first, so that typical states need only one bitmap byte or two.
 */
#define STATE_VERSION 0x01

enum state_kind { SF_ID, SF_INT, SF_TIME, SF_HASH };

struct state_field {
	unsigned char kind;
	unsigned short off;
};

static const struct state_field state_fields[] = {
	{ SF_INT, offsetof(struct dialog_state, turns) },
	{ SF_ID, offsetof(struct dialog_state, intent) },
	{ SF_ID, offsetof(struct dialog_state, service) },
	{ SF_ID, offsetof(struct dialog_state, office) },
	{ SF_TIME, offsetof(struct dialog_state, netiq.window_start) },
	{ SF_INT, offsetof(struct dialog_state, netiq.window_count) },
	{ SF_HASH, offsetof(struct dialog_state, netiq.last_hash) },
	{ SF_INT, offsetof(struct dialog_state, netiq.repeats) },
	{ SF_INT, offsetof(struct dialog_state, fallbacks) },
	{ SF_INT, offsetof(struct dialog_state, handed_off) },
	{ SF_INT, offsetof(struct dialog_state, netiq.strikes) },
	{ SF_INT, offsetof(struct dialog_state, netiq.violations) },
	{ SF_TIME, offsetof(struct dialog_state, netiq.muted_until) },
};

#define STATE_NFIELDS (sizeof(state_fields) / sizeof(state_fields[0]))

/* DIALOG_STATE_PACK_MAX counts a bitmap of two varint bytes. */
_Static_assert(STATE_NFIELDS <= 14, "state bitmap exceeds two bytes");

static uint64_t zigzag(int64_t v)
{
	return v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
}

static int64_t unzigzag(uint64_t z)
{
	return z & 1 ? -(int64_t)(z >> 1) - 1 : (int64_t)(z >> 1);
}

/*
 * The value that goes into the encoding: the id's length, the zigzag
 * form of a number, or the hash.  0 means "absent".
 */
static uint64_t state_field_value(const struct dialog_state *st,
				  const struct state_field *f)
{
	const char *p = (const char *)st + f->off;

	switch (f->kind) {
	case SF_ID:
		return strnlen(p, DIALOG_ID_MAX);
	case SF_INT:
		return zigzag(*(const int *)(const void *)p);
	case SF_TIME:
		return zigzag((int64_t)*(const time_t *)(const void *)p);
	default:
		return *(const uint64_t *)(const void *)p;
	}
}

/* Append 'v' as a varint; 0 when fewer than the needed bytes are left. */
static int put_varint(unsigned char **pp, const unsigned char *end,
		      uint64_t v)
{
	unsigned char *p = *pp;

	do {
		if (p == end)
			return 0;
		*p++ = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	*pp = p;
	return 1;
}

static int put_field(unsigned char **pp, const unsigned char *end,
		     const struct dialog_state *st,
		     const struct state_field *f, uint64_t v)
{
	unsigned char *p = *pp;
	int i;

	switch (f->kind) {
	case SF_ID:
		if ((size_t)(end - p) < 1 + v)
			return 0;
		*p++ = (unsigned char)v;
		memcpy(p, (const char *)st + f->off, v);
		*pp = p + v;
		return 1;
	case SF_HASH:
		if (end - p < 8)
			return 0;
		for (i = 0; i < 8; i++)
			*p++ = (unsigned char)(v >> (8 * i));
		*pp = p;
		return 1;
	default:
		return put_varint(pp, end, v);
	}
}

size_t dialog_state_pack(const struct dialog_state *st, void *out,
			 size_t size)
{
	uint64_t vals[STATE_NFIELDS];
	unsigned char *p = out;
	const unsigned char *end;
	unsigned map = 0;
	size_t i;

	if (!size)
		return 0;
	end = p + size;
	for (i = 0; i < STATE_NFIELDS; i++) {
		vals[i] = state_field_value(st, &state_fields[i]);
		if (state_fields[i].kind == SF_ID && vals[i] >= DIALOG_ID_MAX)
			return 0;	/* not NUL-terminated: a bug upstream */
		if (vals[i])
			map |= 1u << i;
	}
	*p++ = STATE_VERSION;
	if (!put_varint(&p, end, map))
		return 0;
	for (i = 0; i < STATE_NFIELDS; i++)
		if ((map & (1u << i)) &&
		    !put_field(&p, end, st, &state_fields[i], vals[i]))
			return 0;
	return (size_t)(p - (unsigned char *)out);
}

/* Read a varint; rejects truncation, overlong forms and > 64 bits. */
static int get_varint(const unsigned char **pp, const unsigned char *end,
		      uint64_t *v)
{
	const unsigned char *p = *pp;
	uint64_t x = 0;
	unsigned shift = 0;
	unsigned char b;

	for (;;) {
		if (p == end)
			return 0;
		b = *p++;
		if (shift == 63 && b > 1)
			return 0;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
	}
	if (!b && shift)
		return 0;
	*pp = p;
	*v = x;
	return 1;
}

static int get_id(const unsigned char **pp, const unsigned char *end,
		  char *id)
{
	const unsigned char *p = *pp;
	size_t n;

	if (p == end)
		return 0;
	n = *p++;
	if (!n || n >= DIALOG_ID_MAX || (size_t)(end - p) < n ||
	    memchr(p, '\0', n))
		return 0;
	memcpy(id, p, n);
	id[n] = '\0';
	*pp = p + n;
	return 1;
}

static int get_hash(const unsigned char **pp, const unsigned char *end,
		    uint64_t *h)
{
	const unsigned char *p = *pp;
	uint64_t x = 0;
	int i;

	if (end - p < 8)
		return 0;
	for (i = 0; i < 8; i++)
		x |= (uint64_t)p[i] << (8 * i);
	*pp = p + 8;
	*h = x;
	return x != 0;
}

/* Read one present field into 'st'; 0 when invalid. */
static int get_field(const unsigned char **pp, const unsigned char *end,
		     struct dialog_state *st, const struct state_field *f)
{
	char *p = (char *)st + f->off;
	uint64_t z;
	int64_t v;

	switch (f->kind) {
	case SF_ID:
		return get_id(pp, end, p);
	case SF_HASH:
		return get_hash(pp, end, (uint64_t *)(void *)p);
	default:
		break;
	}
	if (!get_varint(pp, end, &z) || !z)
		return 0;
	v = unzigzag(z);
	if (f->kind == SF_INT) {
		if (v < INT_MIN || v > INT_MAX)
			return 0;
		*(int *)(void *)p = (int)v;
		return 1;
	}
	*(time_t *)(void *)p = (time_t)v;
	return (int64_t)*(time_t *)(void *)p == v;	/* fits a 32-bit time_t? */
}

int dialog_state_unpack(struct dialog_state *st, const void *in, size_t len)
{
	const unsigned char *p = in;
	const unsigned char *end;
	uint64_t map;
	size_t i;

	dialog_state_init(st);
	if (!len)		/* 'in' may be NULL then: no pointer arithmetic */
		goto fail;
	end = p + len;
	if (*p++ != STATE_VERSION)
		goto fail;
	if (!get_varint(&p, end, &map) || map >> STATE_NFIELDS)
		goto fail;
	for (i = 0; i < STATE_NFIELDS; i++)
		if ((map & (1u << i)) &&
		    !get_field(&p, end, st, &state_fields[i]))
			goto fail;
	if (p != end)
		goto fail;
	return BOT_OK;
fail:
	dialog_state_init(st);
	return BOT_EPARSE;
}

void reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
	strbuf_init(&r->answer, 1u << 16);
	strbuf_init(&r->redacted, 1u << 16);
}

void reply_release(struct reply *r)
{
	strbuf_release(&r->answer);
	strbuf_release(&r->redacted);
}

static void reply_reset(struct reply *r)
{
	struct strbuf a = r->answer, red = r->redacted;

	memset(r, 0, sizeof(*r));
	r->answer = a;
	r->redacted = red;
	strbuf_reset(&r->answer);
	strbuf_reset(&r->redacted);
}

static void quick_add(struct reply *r, const char *s)
{
	size_t i;

	if (!s || r->n_quick >= REPLY_MAX_QUICK)
		return;
	for (i = 0; i < r->n_quick; i++)
		if (!strcmp(r->quick[i], s))
			return;
	snprintf(r->quick[r->n_quick++], REPLY_QUICK_LEN, "%s", s);
}

static void sources_add(struct reply *r, const char *title, const char *url)
{
	size_t i;

	if (!url || r->n_sources >= REPLY_MAX_SOURCES)
		return;
	for (i = 0; i < r->n_sources; i++)
		if (!strcmp(r->sources[i].url, url))
			return;
	r->sources[r->n_sources].title = title ? title : url;
	r->sources[r->n_sources].url = url;
	r->n_sources++;
}

/* ---- deciding the turn --------------------------------------------------- */

static const struct kb_service *state_service(const struct dialog *d,
					      const struct dialog_state *st)
{
	return st->service[0] ? kb_service(d->kb, st->service) : NULL;
}

static const struct kb_office *state_office(const struct dialog *d,
					    const struct dialog_state *st)
{
	return st->office[0] ? kb_office(d->kb, st->office) : NULL;
}

static int needs_service(const struct kb_intent *in)
{
	return in && (in->needs == KB_NEEDS_SERVICE || in->needs == KB_NEEDS_TOPIC);
}

static int needs_office(const struct kb_intent *in)
{
	return in && (in->needs == KB_NEEDS_OFFICE || in->needs == KB_NEEDS_TOPIC);
}

/* Content words the entities did not explain. */
static int words_left(const struct match_result *mr)
{
	const struct text_tokens *tt = mr->tokens;
	int n = 0;
	size_t i;

	for (i = 0; i < tt->n; i++)
		if (!(tt->tok[i].flags & (TEXT_STOP | TEXT_COMPOUND |
					  TEXT_NUMBER | TEXT_PART)))
			n++;
	return n;
}

/* No kind of question recognised, but a topic: a follow-up ("Und ein
 * Reisepass?") keeps the last kind; otherwise general information. */
static void choose_for_topic(struct dialog *d, const struct dialog_state *st,
			     const struct match_result *mr, struct turn *t)
{
	const struct kb_intent *prev = st->intent[0] ?
		kb_intent(d->kb, st->intent) : NULL;
	double es = t->service ? mr->service_score : mr->office_score;

	int office_first = mr->office && mr->office_score > mr->service_score;

	if (prev && words_left(mr) <= 4 &&
	    ((t->service && needs_service(prev)) || needs_office(prev))) {
		t->intent = prev;
	} else if (t->service && !office_first && d->service_intent) {
		t->intent = d->service_intent;
	} else if (t->office && d->office_intent) {
		t->intent = d->office_intent;
		t->service = NULL;
		es = mr->office_score;
	}
	if (t->intent)
		t->confidence = fmin(0.95, 0.55 + 0.4 * fmin(1.0, es));
}

static void fill_topic(struct dialog *d, const struct dialog_state *st,
		       const struct match_result *mr, struct turn *t)
{
	const struct kb_intent *in = t->intent;

	t->service = mr->service;
	t->office = mr->office;
	if (!in)
		return;
	if (!t->service && !t->office) {
		/* a follow-up question keeps the topic of the conversation */
		if (needs_service(in))
			t->service = state_service(d, st);
		if (!t->service && needs_office(in))
			t->office = state_office(d, st);
	}
	if (!t->office && t->service && needs_office(in))
		t->office = t->service->office;
	if (in->needs == KB_NEEDS_OFFICE && !t->office && t->service)
		t->office = t->service->office;
}

static int topic_missing(const struct turn *t)
{
	switch (t->intent ? t->intent->needs : KB_NEEDS_NOTHING) {
	case KB_NEEDS_SERVICE:
		return !t->service;
	case KB_NEEDS_OFFICE:
		return !t->office;
	case KB_NEEDS_TOPIC:
		return !t->service && !t->office;
	default:
		return 0;
	}
}

/*
 * General information about a service found only through one of its
 * keywords ("Handy" for lost property), with no pattern saying what is
 * asked, is a guess: offer it as a suggestion instead.
 */
static int weak_overview(const struct dialog *d, const struct match_result *mr,
			 const struct turn *t)
{
	size_t i;

	if (t->intent != d->service_intent || !t->service ||
	    t->service != mr->service || mr->service_score >= TOPIC_SURE)
		return 0;
	for (i = 0; i < mr->n_cand; i++)
		if (mr->cand[i].intent == t->intent)
			return !mr->cand[i].pattern;
	return 1;
}

static double threshold_for(const struct dialog *d,
			    const struct match_result *mr)
{
	double t = d->kb->settings.threshold;

	if (mr->service_score >= TOPIC_SURE || mr->office_score >= TOPIC_SURE)
		t *= TOPIC_FACTOR;
	return t;
}

/* "Hallo, wir suchen einen Kitaplatz": a greeting or thanks yields to a
 * sure topic, which says more about what the citizen wants. */
static int small_talk_with_topic(const struct kb_intent *in,
				 const struct match_result *mr)
{
	/* an intent that explains the words too ("Lohnsteuerklasse nach der
	 * Hochzeit" is for the Finanzamt) keeps its place */
	if (mr->cand[0].pattern && mr->cand[0].evidence >= 0.35)
		return 0;
	return in && in->needs == KB_NEEDS_NOTHING &&
	       in->handoff == KB_HANDOFF_NONE && !in->suggestion &&
	       (mr->service_score >= TOPIC_SURE || mr->office_score >= TOPIC_SURE);
}

/* A vague service, but a sure office: answer about the office; else
 * nothing. */
static void office_instead(const struct dialog *d, const struct match_result *mr,
			   struct turn *t)
{
	t->intent = NULL;
	if (!mr->office || mr->office_score < TOPIC_SURE || !d->office_intent)
		return;
	t->intent = d->office_intent;
	t->service = NULL;
	t->office = mr->office;
	t->confidence = mr->office_score;
}

/* The kind of question and its topic, or no intent at all. */
static void pick_intent(struct dialog *d, const struct dialog_state *st,
			const struct match_result *mr, struct turn *t)
{
	if (mr->intent && mr->confidence >= threshold_for(d, mr) &&
	    !small_talk_with_topic(mr->intent, mr)) {
		t->intent = mr->intent;
		t->confidence = mr->confidence;
	}
	fill_topic(d, st, mr, t);
	if (!t->intent && (mr->service || mr->office)) {
		choose_for_topic(d, st, mr, t);
		fill_topic(d, st, mr, t);
	}
	/* without a topic, asking back needs a pattern and known words */
	if (t->intent && topic_missing(t) &&
	    !(mr->cand[0].pattern && mr->coverage >= ASK_COVERAGE))
		t->intent = NULL;
	if (t->intent && weak_overview(d, mr, t))
		office_instead(d, mr, t);
}

/* Two readings too close to tell apart: ask which one is meant. */
static int readings_close(const struct dialog *d, const struct match_result *mr,
			  const struct turn *t)
{
	struct turn other = *t;

	/* only a second reading that could be answered is worth asking about */
	if (mr->n_cand > 1) {
		other.intent = mr->cand[1].intent;
		if (topic_missing(&other))
			return 0;
	}
	return mr->n_cand > 1 && t->intent == mr->cand[0].intent &&
	       mr->cand[1].score >= threshold_for(d, mr) &&
	       mr->cand[0].score - mr->cand[1].score < d->kb->settings.margin &&
	       mr->cand[1].intent->handoff == KB_HANDOFF_NONE &&
	       t->intent->handoff == KB_HANDOFF_NONE;
}

static void decide(struct dialog *d, const struct dialog_state *st,
		   const struct match_result *mr, struct turn *t)
{
	memset(t, 0, sizeof(*t));
	t->day_offset = mr->day_offset;
	pick_intent(d, st, mr, t);
	if (!t->intent) {
		t->fallback = 1;
		t->confidence = mr->confidence;
	} else if (topic_missing(t)) {
		t->ask_back = 1;
	} else if (readings_close(d, mr, t)) {
		t->ask_back = 2;
	}
}

/* ---- writing the reply ----------------------------------------------------- */

static void alt_label(struct reply *r, size_t i, const struct kb_intent *in,
		      const struct kb_service *svc)
{
	const char *title = in->title ? in->title : in->id;

	if (svc)
		snprintf(r->alt_label[i], sizeof(r->alt_label[i]), "%s: %s",
			 title, svc->name);
	else
		snprintf(r->alt_label[i], sizeof(r->alt_label[i]), "%s", title);
	r->alts[i].label = r->alt_label[i];
}

static void alternatives_fill(struct reply *r, const struct match_result *mr,
			      const struct turn *t)
{
	size_t i;

	for (i = 0; i < mr->n_cand && r->n_alts < REPLY_MAX_ALTS; i++) {
		const struct kb_intent *in = mr->cand[i].intent;
		const struct kb_service *svc = needs_service(in) ? t->service : NULL;

		if (in == t->intent || mr->cand[i].score < SUGGEST_MIN)
			continue;
		r->alts[r->n_alts].intent = in->id;
		r->alts[r->n_alts].service = svc ? svc->id : NULL;
		r->alts[r->n_alts].confidence = mr->cand[i].score;
		alt_label(r, r->n_alts, in, svc);
		r->n_alts++;
	}
}

static int render_fallback(struct dialog *d, const struct dialog_state *st,
			   struct reply *r)
{
	const struct kb_settings *s = &d->kb->settings;
	size_t i;

	if (strbuf_adds(&r->answer, s->fallback ? s->fallback :
			"Das weiß ich leider nicht."))
		return BOT_ENOMEM;
	/* the second unanswered question in a row: offer a person plainly */
	if (st->fallbacks + 1 >= FALLBACK_OFFER &&
	    strbuf_adds(&r->answer, "\nSoll ich Sie mit einer Mitarbeiterin "
			"oder einem Mitarbeiter verbinden? Dann tippen Sie auf "
			"„" QUICK_PERSON "“."))
		return BOT_ENOMEM;
	if (r->n_alts && strbuf_adds(&r->answer, "\nMeinten Sie vielleicht:"))
		return BOT_ENOMEM;
	for (i = 0; i < r->n_alts; i++) {
		if (strbuf_addf(&r->answer, "\n- %s", r->alts[i].label))
			return BOT_ENOMEM;
		quick_add(r, r->alts[i].label);
	}
	quick_add(r, QUICK_PERSON);
	return BOT_OK;
}

static int render_ask_back(struct dialog *d, const struct match_result *mr,
			   const struct turn *t, struct reply *r)
{
	if (t->ask_back == 2) {
		const struct kb_intent *b = mr->cand[1].intent;

		alt_label(r, 0, t->intent, t->service);
		quick_add(r, r->alt_label[0]);
		alt_label(r, 1, b, needs_service(b) ? t->service : NULL);
		quick_add(r, r->alt_label[1]);
		return strbuf_addf(&r->answer,
				   "Meinten Sie „%s“ oder „%s“?",
				   r->alt_label[0], r->alt_label[1]);
	}
	(void)d;
	if (t->intent->ask)
		return strbuf_adds(&r->answer, t->intent->ask);
	return strbuf_adds(&r->answer, needs_service(t->intent) ?
			   "Um welche Leistung geht es Ihnen?" :
			   "Um welches Amt geht es Ihnen?");
}

static int render_answer(struct dialog *d, const struct turn *t, time_t now,
			 struct reply *r)
{
	struct answer_ctx ctx;
	size_t i;

	ctx.kb = d->kb;
	ctx.service = t->service;
	ctx.office = t->office ? t->office :
		(t->service ? t->service->office : NULL);
	ctx.tz = d->tz;
	ctx.now = now;
	ctx.day_offset = t->day_offset;
	if (answer_render(t->intent->answer, &ctx, &r->answer))
		return BOT_ENOMEM;
	if (!r->answer.len && strbuf_adds(&r->answer,
			"Dazu habe ich leider keine Angaben."))
		return BOT_ENOMEM;
	for (i = 0; i < t->intent->quick_replies.n; i++)
		quick_add(r, t->intent->quick_replies.v[i]);
	return BOT_OK;
}

static void sources_fill(const struct turn *t, struct reply *r)
{
	const struct kb_office *o;
	size_t i;

	if (t->service && t->intent && t->intent->needs != KB_NEEDS_NOTHING)
		for (i = 0; i < t->service->n_legal; i++)
			sources_add(r, t->service->legal[i].title,
				    t->service->legal[i].url);
	o = t->office ? t->office : (t->service ? t->service->office : NULL);
	if (o && t->intent && t->intent->needs != KB_NEEDS_NOTHING)
		sources_add(r, o->name, o->url);
}

static const char *handoff_reason(const struct dialog_state *st,
				  const struct turn *t, const struct reply *r)
{
	if (r->pii_kinds)
		return "personal_data";
	if (!t->intent)
		return NULL;
	if (t->intent->handoff == KB_HANDOFF_CASE)
		return "case";
	if (t->intent->handoff == KB_HANDOFF_REQUESTED)
		return st->fallbacks >= FALLBACK_OFFER ? "fallback" : "requested";
	return NULL;
}

static int render_handoff(struct dialog *d, struct reply *r)
{
	const struct kb_settings *s = &d->kb->settings;

	if (r->pii_kinds && strbuf_adds(&r->answer,
			"Ihre Nachricht enthält persönliche Daten. Die "
			"speichern wir nicht im Klartext.\n"))
		return BOT_ENOMEM;
	return strbuf_adds(&r->answer, s->handoff_text ? s->handoff_text :
			   "Ich gebe Sie an eine Kollegin oder einen Kollegen "
			   "weiter.");
}

static void state_update(struct dialog_state *st, const struct turn *t,
			 const struct reply *r)
{
	st->turns++;
	if (t->fallback) {
		st->fallbacks++;
		return;
	}
	st->fallbacks = 0;
	if (!t->intent)
		return;
	/* after "Was kostet das?" the next message may name just the topic */
	if (t->intent->needs != KB_NEEDS_NOTHING && t->ask_back != 2)
		snprintf(st->intent, sizeof(st->intent), "%s", t->intent->id);
	if (t->service) {
		snprintf(st->service, sizeof(st->service), "%s", t->service->id);
		snprintf(st->office, sizeof(st->office), "%s",
			 t->service->office ? t->service->office->id : "");
	}
	if (t->office) {
		if (t->service && t->service->office != t->office)
			st->service[0] = '\0';
		else if (!t->service && r->service == NULL)
			st->service[0] = '\0';
		snprintf(st->office, sizeof(st->office), "%s", t->office->id);
	}
	if (r->handoff)
		st->handed_off = 1;
}

static void reply_fill_ids(struct reply *r, const struct turn *t)
{
	const struct kb_office *o = t->office;

	if (!o && t->service)
		o = t->service->office;
	r->intent = t->intent && !t->fallback ? t->intent->id : NULL;
	r->service = t->service ? t->service->id : NULL;
	r->office = o ? o->id : NULL;
	r->confidence = t->confidence;
	r->fallback = t->fallback;
	r->ask_back = t->ask_back != 0;
	r->suggestion = t->intent && t->intent->suggestion;
}

static int compose(struct dialog *d, const struct dialog_state *st,
		   const struct match_result *mr, const struct turn *t,
		   time_t now, struct reply *r)
{
	int rc;

	reply_fill_ids(r, t);
	alternatives_fill(r, mr, t);
	r->handoff_reason = handoff_reason(st, t, r);
	r->handoff = r->handoff_reason != NULL;
	if (r->handoff && r->pii_kinds)
		return render_handoff(d, r);
	if (t->fallback)
		return render_fallback(d, st, r);
	if (t->ask_back)
		return render_ask_back(d, mr, t, r);
	rc = render_answer(d, t, now, r);
	if (!rc && r->handoff && !t->intent->answer)
		rc = render_handoff(d, r);
	sources_fill(t, r);
	return rc;
}

static int scan_personal_data(const char *text, size_t len, struct reply *r)
{
	struct pii_result pr;
	size_t i;

	pii_scan(text, len, &pr);
	for (i = 0; i < pr.n; i++)
		r->pii_kinds |= 1u << pr.hit[i].kind;
	return pii_redact(text, len, &pr, &r->redacted);
}

/* A reminder instead of an answer; the template may name the link. */
static int render_netiquette(struct dialog *d, struct dialog_state *st,
			     const struct netiq_verdict *v, time_t now,
			     struct reply *r)
{
	struct answer_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.kb = d->kb;
	ctx.tz = d->tz;
	ctx.now = now;
	ctx.day_offset = -1;
	r->netiquette = netiq_kind_name(v->kind);
	r->muted = v->mute_now || v->kind == NETIQ_MUTED;
	st->turns++;
	sources_add(r, "Netiquette", d->kb->settings.netiquette_url);
	return answer_render(v->text, &ctx, &r->answer);
}

int dialog_reply(struct dialog *d, struct dialog_state *st, const char *text,
		 size_t len, time_t now, struct reply *r, struct bot_err *err)
{
	struct netiq_verdict v;
	struct match_result mr;
	struct hours_local lt;
	struct turn t;
	int now_asked = 0, rc;

	reply_reset(r);
	rc = text_utf8_check(text, len, err);
	if (rc)
		return rc;
	if (scan_personal_data(text, len, r))
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	netiq_check(d->netiq, &st->netiq, text, len, now, &v);
	if (v.kind != NETIQ_NONE) {
		if (render_netiquette(d, st, &v, now, r))
			return bot_fail(err, BOT_ENOMEM, "out of memory");
		return BOT_OK;
	}
	rc = match_run(d->match, text, len, &mr, err);
	if (rc)
		return rc;
	hours_to_local(d->tz, now, &lt);
	mr.day_offset = hours_day_ref(mr.tokens->folded, lt.wday, &now_asked);
	mr.now_asked = now_asked;
	decide(d, st, &mr, &t);
	if (compose(d, st, &mr, &t, now, r))
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	state_update(st, &t, r);
	return BOT_OK;
}
