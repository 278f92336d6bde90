/*
 * answer.c - a small logic-less template language for editors:
 * {{field}}, {{#field}}shown when set{{/field}}, {{^field}}shown when not
 * set{{/field}}.  Fields come from the service and office a question is
 * about; opening hours are computed by hours.c at render time.
 */
#include "bot.h"
#include "answer.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "hours.h"
#include "kb.h"
#include "strbuf.h"
#include "banned.h"

#define MAX_DEPTH 8

typedef int (*field_fn)(const struct answer_ctx *ctx, struct strbuf *out);

struct field {
	const char *name;
	size_t len;		/* of 'name': every tag is looked up here */
	field_fn fn;
};

#define FIELD(name, fn) { name, sizeof(name) - 1, fn }

static int add_opt(struct strbuf *out, const char *s)
{
	return s ? strbuf_adds(out, s) : BOT_OK;
}

#define SERVICE_STR(fname, member)					\
static int fname(const struct answer_ctx *c, struct strbuf *o)		\
{									\
	return c->service ? add_opt(o, c->service->member) : BOT_OK;	\
}
#define OFFICE_STR(fname, member)					\
static int fname(const struct answer_ctx *c, struct strbuf *o)		\
{									\
	return c->office ? add_opt(o, c->office->member) : BOT_OK;	\
}

SERVICE_STR(f_s_name, name)
SERVICE_STR(f_s_summary, summary)
SERVICE_STR(f_s_fees, fees)
SERVICE_STR(f_s_duration, duration)
SERVICE_STR(f_s_issuer, issuer)
SERVICE_STR(f_s_online, online_url)
OFFICE_STR(f_o_name, name)
OFFICE_STR(f_o_address, address)
OFFICE_STR(f_o_phone, phone)
OFFICE_STR(f_o_email, email)
OFFICE_STR(f_o_url, url)
OFFICE_STR(f_o_appointment_url, appointment_url)
OFFICE_STR(f_o_note, note)

static int f_service(const struct answer_ctx *c, struct strbuf *o)
{
	return c->service ? add_opt(o, c->service->name) : BOT_OK;
}

static int f_office(const struct answer_ctx *c, struct strbuf *o)
{
	return c->office ? add_opt(o, c->office->name) : BOT_OK;
}

static int f_s_documents(const struct answer_ctx *c, struct strbuf *o)
{
	size_t i;

	if (!c->service)
		return BOT_OK;
	/* plain appends: a failed one fails the whole render, which then
	 * takes back everything it added */
	for (i = 0; i < c->service->documents.n; i++)
		if (strbuf_adds(o, i ? "\n- " : "- ") ||
		    strbuf_adds(o, c->service->documents.v[i]))
			return BOT_ENOMEM;
	return BOT_OK;
}

static int f_s_legal(const struct answer_ctx *c, struct strbuf *o)
{
	size_t i;

	if (!c->service)
		return BOT_OK;
	for (i = 0; i < c->service->n_legal; i++) {
		const struct kb_source *s = &c->service->legal[i];

		if (i && strbuf_adds(o, "; "))
			return BOT_ENOMEM;
		if (add_opt(o, s->title))
			return BOT_ENOMEM;
		if (s->url && (strbuf_add(o, " (", 2) ||
			       strbuf_adds(o, s->url) || strbuf_addch(o, ')')))
			return BOT_ENOMEM;
	}
	return BOT_OK;
}

static int f_s_appointment(const struct answer_ctx *c, struct strbuf *o)
{
	if (!c->service || c->service->appointment < 0)
		return BOT_OK;
	if (!c->service->appointment)
		return strbuf_adds(o, "Dafür brauchen Sie keinen Termin.");
	if (strbuf_adds(o, "Dafür brauchen Sie einen Termin."))
		return BOT_ENOMEM;
	if (c->office && c->office->appointment_url)
		return strbuf_adds(o, " Termine buchen Sie hier: ") ||
		       strbuf_adds(o, c->office->appointment_url) ?
		       BOT_ENOMEM : BOT_OK;
	return BOT_OK;
}

static int f_hours_day(const struct answer_ctx *c, struct strbuf *o)
{
	if (!c->office || !c->office->has_hours)
		return BOT_OK;
	return hours_say_day(c->office, c->kb->settings.state, c->tz, c->now,
			     c->day_offset < 0 ? 0 : c->day_offset, o);
}

static int f_hours_today(const struct answer_ctx *c, struct strbuf *o)
{
	if (!c->office || !c->office->has_hours)
		return BOT_OK;
	return hours_say_day(c->office, c->kb->settings.state, c->tz, c->now,
			     0, o);
}

static int f_hours_tomorrow(const struct answer_ctx *c, struct strbuf *o)
{
	if (!c->office || !c->office->has_hours)
		return BOT_OK;
	return hours_say_day(c->office, c->kb->settings.state, c->tz, c->now,
			     1, o);
}

static int f_hours_week(const struct answer_ctx *c, struct strbuf *o)
{
	if (!c->office || !c->office->has_hours)
		return BOT_OK;
	return hours_say_week(c->office, o);
}

static int f_open_now(const struct answer_ctx *c, struct strbuf *o)
{
	if (!c->office || !c->office->has_hours)
		return BOT_OK;
	return hours_say_now(c->office, c->kb->settings.state, c->tz, c->now,
			     o);
}

static int f_city(const struct answer_ctx *c, struct strbuf *o)
{
	return add_opt(o, c->kb->settings.city);
}

static int f_netiquette_url(const struct answer_ctx *c, struct strbuf *o)
{
	return add_opt(o, c->kb->settings.netiquette_url);
}

static int f_privacy_url(const struct answer_ctx *c, struct strbuf *o)
{
	return add_opt(o, c->kb->settings.privacy_url);
}

static const struct field fields[] = {
	FIELD("service", f_service),
	FIELD("service.name", f_s_name),
	FIELD("service.summary", f_s_summary),
	FIELD("service.fees", f_s_fees),
	FIELD("service.duration", f_s_duration),
	FIELD("service.issuer", f_s_issuer),
	FIELD("service.online_url", f_s_online),
	FIELD("service.documents", f_s_documents),
	FIELD("service.legal_basis", f_s_legal),
	FIELD("service.appointment", f_s_appointment),
	FIELD("office", f_office),
	FIELD("office.name", f_o_name),
	FIELD("office.address", f_o_address),
	FIELD("office.phone", f_o_phone),
	FIELD("office.email", f_o_email),
	FIELD("office.url", f_o_url),
	FIELD("office.appointment_url", f_o_appointment_url),
	FIELD("office.note", f_o_note),
	FIELD("office.hours", f_hours_day),
	FIELD("office.hours.day", f_hours_day),
	FIELD("office.hours.today", f_hours_today),
	FIELD("office.hours.tomorrow", f_hours_tomorrow),
	FIELD("office.hours.week", f_hours_week),
	FIELD("office.open_now", f_open_now),
	FIELD("city", f_city),
	FIELD("netiquette_url", f_netiquette_url),
	FIELD("privacy_url", f_privacy_url),
};

static const struct field *field_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(fields); i++)
		if (fields[i].len == len && !memcmp(fields[i].name, name, len))
			return &fields[i];
	return NULL;
}

/* A parsed {{tag}}: kind is 0 (value), '#', '^' or '/'. */
struct tag {
	const char *start, *end;	/* the whole {{...}} */
	const char *name;
	size_t len;
	int kind;
};

/* Fill 't' from the inside of a tag, o[2] .. c: kind, name, length. */
static void tag_parse(const char *o, const char *c, struct tag *t)
{
	t->start = o;
	t->end = c + 2;
	t->name = o + 2;
	while (t->name < c && isspace((unsigned char)*t->name))
		t->name++;
	t->kind = 0;
	if (t->name < c && strchr("#^/", *t->name))
		t->kind = *t->name++;
	while (t->name < c && isspace((unsigned char)*t->name))
		t->name++;
	t->len = (size_t)(c - t->name);
	while (t->len && isspace((unsigned char)t->name[t->len - 1]))
		t->len--;
}

static int tag_next(const char *p, const char *end, struct tag *t)
{
	const char *o, *c;

	for (o = p; o + 1 < end; o++) {
		o = memchr(o, '{', (size_t)(end - o - 1));
		if (!o)
			return 0;
		if (o[1] != '{')
			continue;
		for (c = o + 2; c + 1 < end; c++)
			if (c[0] == '}' && c[1] == '}')
				break;
		if (c + 1 >= end)
			return 0;
		tag_parse(o, c, t);
		return 1;
	}
	return 0;
}

/* Find the {{/name}} that closes the section opened just before 'p'. */
static const char *section_end(const char *p, const char *end,
			       const struct tag *open, struct tag *close)
{
	int depth = 1;

	while (tag_next(p, end, close)) {
		if (close->len == open->len &&
		    !memcmp(close->name, open->name, open->len)) {
			if (close->kind == '#' || close->kind == '^')
				depth++;
			else if (close->kind == '/' && --depth == 0)
				return close->start;
		}
		p = close->end;
	}
	return NULL;
}

static int field_value(const struct answer_ctx *ctx, const struct tag *t,
		       struct strbuf *out)
{
	const struct field *f = field_find(t->name, t->len);

	return f ? f->fn(ctx, out) : BOT_OK;
}

/* Render the field at the end of 'out' to see whether it has a value,
 * then take it back: no allocation for a section test. */
static int field_set(const struct answer_ctx *ctx, const struct tag *t,
		     struct strbuf *out)
{
	size_t len = out->len;
	int set;

	set = !field_value(ctx, t, out) && out->len > len;
	strbuf_setlen(out, len);
	return set;
}

static int render(const char *p, const char *end, const struct answer_ctx *ctx,
		  struct strbuf *out, int depth)
{
	struct tag t, c;
	const char *inner_end;

	while (p < end && tag_next(p, end, &t)) {
		if (strbuf_add(out, p, (size_t)(t.start - p)))
			return BOT_ENOMEM;
		p = t.end;
		if (t.kind == 0) {
			if (field_value(ctx, &t, out))
				return BOT_ENOMEM;
			continue;
		}
		if (t.kind == '/')
			continue;	/* stray close: ignored, check reports it */
		inner_end = section_end(p, end, &t, &c);
		if (!inner_end)
			inner_end = end;
		if (depth < MAX_DEPTH && field_set(ctx, &t, out) == (t.kind == '#') &&
		    render(p, inner_end, ctx, out, depth + 1))
			return BOT_ENOMEM;
		p = inner_end < end ? c.end : end;
	}
	if (p < end && strbuf_add(out, p, (size_t)(end - p)))
		return BOT_ENOMEM;
	return BOT_OK;
}

/* Drop blank lines and trailing spaces that empty sections leave, in
 * place, in out->buf[start ..]; the text only ever gets shorter. */
static void tidy(struct strbuf *out, size_t start)
{
	char *buf = out->buf + start, *end = out->buf + out->len;
	char *p = buf, *w = buf, *nl, *e;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		e = nl;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (e > p) {
			if (w > buf)
				*w++ = '\n';
			memmove(w, p, (size_t)(e - p));
			w += e - p;
		}
		p = nl + 1;
	}
	strbuf_setlen(out, (size_t)(w - out->buf));
}

int answer_render(const char *tmpl, const struct answer_ctx *ctx,
		  struct strbuf *out)
{
	size_t start = out->len;
	int rc;

	if (!tmpl)
		return BOT_OK;
	rc = render(tmpl, tmpl + strlen(tmpl), ctx, out, 0);
	if (rc) {
		strbuf_setlen(out, start);
		return rc;
	}
	if (out->buf)
		tidy(out, start);
	return BOT_OK;
}

int answer_check(const char *tmpl, char *msg, size_t size)
{
	const char *p = tmpl, *end;
	struct tag t, c;
	int depth = 0;

	if (!tmpl)
		return 0;
	end = tmpl + strlen(tmpl);
	while (tag_next(p, end, &t)) {
		p = t.end;
		if (!field_find(t.name, t.len)) {
			snprintf(msg, size, "unknown placeholder '{{%.*s}}'",
				 (int)t.len, t.name);
			return 1;
		}
		if (t.kind == '#' || t.kind == '^') {
			if (!section_end(p, end, &t, &c)) {
				snprintf(msg, size,
					 "section '%.*s' is not closed with '{{/%.*s}}'",
					 (int)t.len, t.name, (int)t.len, t.name);
				return 1;
			}
			depth++;
		} else if (t.kind == '/' && --depth < 0) {
			snprintf(msg, size, "'{{/%.*s}}' closes no section",
				 (int)t.len, t.name);
			return 1;
		}
	}
	if (strstr(p, "{{")) {
		snprintf(msg, size, "'{{' without closing '}}'");
		return 1;
	}
	return 0;
}
