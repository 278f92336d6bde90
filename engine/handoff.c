/*
 * handoff.c - the handoff queue behind handoff.h: an in-memory list of
 * open cases in queueing order, written through to the store's
 * 'handoffs' table on every change.  Queues are short (tens of cases),
 * so lists and linear searches are enough.
 */
#include "bot.h"
#include "handoff.h"

#include <stdio.h>
#include <string.h>

#include "dialog.h"
#include "kb.h"

#include "banned.h"

#define HANDOFF_CONTACT_MAX 1024

struct handoff_queue {
	struct store *store;
	struct handoff_case *head;
	size_t n;
};

static const char *const handoff_state_names[] = {
	[HANDOFF_QUEUED] = "queued", [HANDOFF_ACTIVE] = "active"
};

struct handoff_queue *handoff_queue_new(struct store *store)
{
	struct handoff_queue *q = bot_calloc(1, sizeof(*q));

	if (q)
		q->store = store;
	return q;
}

static void handoff_case_free(struct handoff_case *c)
{
	/* the contact is personal data: do not leave it in freed memory */
	if (c->contact.buf)
		memset(c->contact.buf, 0, c->contact.alloc);
	strbuf_release(&c->contact);
	bot_free(c);
}

void handoff_queue_free(struct handoff_queue **qp)
{
	struct handoff_queue *q = *qp;
	struct handoff_case *c, *next;

	if (!q)
		return;
	for (c = q->head; c; c = next) {
		next = c->next;
		handoff_case_free(c);
	}
	bot_free(q);
	*qp = NULL;
}

struct handoff_case *handoff_first(struct handoff_queue *q)
{
	return q->head;
}

size_t handoff_count(const struct handoff_queue *q)
{
	return q->n;
}

struct handoff_case *handoff_find(struct handoff_queue *q, const char *conv)
{
	struct handoff_case *c;

	for (c = q->head; conv && c; c = c->next)
		if (!strcmp(c->conv, conv))
			return c;
	return NULL;
}

/* Copy 's' into a fixed field; 0 when it does not fit. */
static int handoff_copy(char *dst, size_t size, const char *s)
{
	if (!s || !*s || strlen(s) >= size)
		return 0;
	memcpy(dst, s, strlen(s) + 1);
	return 1;
}

static void handoff_append(struct handoff_queue *q, struct handoff_case *c)
{
	struct handoff_case **pp = &q->head;

	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
	q->n++;
}

static void handoff_unlink(struct handoff_queue *q, struct handoff_case *c)
{
	struct handoff_case **pp;

	for (pp = &q->head; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			q->n--;
			return;
		}
}

static struct handoff_case *handoff_case_new(const char *conv,
					     const char *channel,
					     const char *reason,
					     const char *team)
{
	struct handoff_case *c = bot_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	strbuf_init(&c->contact, HANDOFF_CONTACT_MAX);
	if (!handoff_copy(c->conv, sizeof(c->conv), conv) ||
	    !handoff_copy(c->channel, sizeof(c->channel), channel) ||
	    !handoff_copy(c->reason, sizeof(c->reason), reason) ||
	    !handoff_copy(c->team, sizeof(c->team), team)) {
		handoff_case_free(c);
		return NULL;
	}
	return c;
}

/* The store's view of 'c' for store_handoff_update(). */
static void handoff_row(const struct handoff_case *c, struct store_handoff *h)
{
	memset(h, 0, sizeof(*h));
	h->id = c->id;
	h->conv = c->conv;
	h->state = handoff_state_names[c->state];
	h->agent = c->agent[0] ? c->agent : NULL;
	h->claimed_at = c->state == HANDOFF_ACTIVE ? c->claimed_at : 0;
	h->requeued = c->requeued;
}

int handoff_open(struct handoff_queue *q, const char *conv,
		 const char *channel, const char *reason, const char *team,
		 time_t now, struct handoff_case **out, struct bot_err *err)
{
	struct store_handoff h = { 0 };
	struct handoff_case *c;
	int rc;

	*out = handoff_find(q, conv);
	if (*out)
		return BOT_OK;
	c = handoff_case_new(conv, channel, reason, team);
	if (!c)
		return bot_fail(err, BOT_EINVAL, "cannot queue conversation '%s' "
				"for team '%s': bad or missing field",
				conv ? conv : "", team ? team : "");
	c->queued_at = now;
	h.conv = c->conv;
	h.channel = c->channel;
	h.reason = c->reason;
	h.team = c->team;
	h.state = "queued";
	h.queued_at = now;
	rc = store_handoff_add(q->store, &h, err);
	if (rc) {
		handoff_case_free(c);
		return rc;
	}
	c->id = h.id;
	handoff_append(q, c);
	*out = c;
	return BOT_OK;
}

size_t handoff_position(struct handoff_queue *q, const struct handoff_case *c)
{
	const struct handoff_case *p;
	size_t n = 0;

	if (c->state != HANDOFF_QUEUED)
		return 0;
	for (p = q->head; p; p = p->next) {
		if (p->state == HANDOFF_QUEUED && !strcmp(p->team, c->team))
			n++;
		if (p == c)
			break;
	}
	return n;
}

int handoff_claim(struct handoff_queue *q, struct handoff_case *c,
		  const char *agent, time_t now, struct bot_err *err)
{
	struct store_handoff h;
	struct handoff_case old = *c;
	int rc;

	if (c->state == HANDOFF_ACTIVE)
		return agent && !strcmp(c->agent, agent) ? BOT_OK :
		       bot_fail(err, BOT_EAUTH, "conversation '%s' is held by "
				"'%s'", c->conv, c->agent);
	if (!handoff_copy(c->agent, sizeof(c->agent), agent))
		return bot_fail(err, BOT_EINVAL, "bad agent name");
	c->state = HANDOFF_ACTIVE;
	c->claimed_at = now;
	c->agent_wrote = 0;
	c->agent_gone = 0;
	handoff_row(c, &h);
	rc = store_handoff_update(q->store, &h, err);
	if (rc) {
		memcpy(c->agent, old.agent, sizeof(c->agent));
		c->state = old.state;
		c->claimed_at = old.claimed_at;
	}
	return rc;
}

int handoff_requeue(struct handoff_queue *q, struct handoff_case *c,
		    struct bot_err *err)
{
	struct store_handoff h;

	c->state = HANDOFF_QUEUED;
	c->agent[0] = '\0';
	c->claimed_at = 0;
	c->agent_gone = 0;
	c->agent_wrote = 0;
	c->requeued = 1;
	handoff_row(c, &h);
	return store_handoff_update(q->store, &h, err);
}

int handoff_end(struct handoff_queue *q, struct handoff_case **cp,
		const char *outcome, time_t now, struct bot_err *err)
{
	struct handoff_case *c = *cp;
	struct store_handoff h;
	int rc;

	handoff_row(c, &h);
	h.state = "ended";
	h.ended_at = now;
	h.outcome = outcome;
	rc = store_handoff_update(q->store, &h, err);
	if (rc)
		return rc;
	handoff_unlink(q, c);
	handoff_case_free(c);
	*cp = NULL;
	return BOT_OK;
}

int handoff_add_contact(struct handoff_queue *q, struct handoff_case *c,
			const char *text, size_t len, struct bot_err *err)
{
	size_t old = c->contact.len;

	if (!len)
		return BOT_OK;
	if ((old && strbuf_add(&c->contact, "; ", 2)) ||
	    strbuf_add(&c->contact, text, len)) {
		strbuf_setlen(&c->contact, old);
		return bot_fail(err, BOT_ENOMEM, "contact of conversation '%s' "
				"too long", c->conv);
	}
	return store_handoff_set_contact(q->store, c->id, c->contact.buf,
					 c->contact.len, err);
}

void handoff_agent_presence(struct handoff_queue *q, const char *agent,
			    int online, time_t now)
{
	struct handoff_case *c;

	for (c = q->head; c; c = c->next)
		if (c->state == HANDOFF_ACTIVE && !strcmp(c->agent, agent))
			c->agent_gone = online ? 0 : (c->agent_gone ?
						      c->agent_gone : now);
}

void handoff_citizen_presence(struct handoff_case *c, int online, time_t now)
{
	if (online)
		c->citizen_gone = 0;
	else if (!c->citizen_gone)
		c->citizen_gone = now;
}

static enum handoff_due handoff_due_one(const struct handoff_case *c,
					time_t now,
					const struct handoff_timeouts *t)
{
	if (c->state == HANDOFF_ACTIVE) {
		if (c->agent_gone && now - c->agent_gone >= t->agent_grace)
			return HANDOFF_DUE_AGENT_GONE;
		if (!c->agent_wrote && now - c->claimed_at >= t->claim)
			return HANDOFF_DUE_CLAIM;
		return HANDOFF_DUE_NONE;
	}
	/* nothing is dropped: a case with words or a contact stays */
	if (c->citizen_gone && now - c->citizen_gone >= t->citizen &&
	    !c->citizen_wrote && !c->contact.len)
		return HANDOFF_DUE_CITIZEN;
	return HANDOFF_DUE_NONE;
}

struct handoff_case *handoff_due(struct handoff_queue *q, time_t now,
				 const struct handoff_timeouts *t,
				 enum handoff_due *what)
{
	struct handoff_case *c;

	*what = HANDOFF_DUE_NONE;
	for (c = q->head; c; c = c->next) {
		*what = handoff_due_one(c, now, t);
		if (*what)
			return c;
	}
	return NULL;
}

int handoff_visible(const struct handoff_case *c, const char *team,
		    const char *role, const char *default_team)
{
	if (role && !strcmp(role, "editor"))
		return 1;
	if (!team)
		return 0;
	return !strcmp(team, c->team) ||
	       (default_team && !strcmp(team, default_team));
}

const char *handoff_route(const struct kb *kb, const struct reply *r,
			  const char *default_team)
{
	const struct kb_service *s = r->service ? kb_service(kb, r->service) :
				     NULL;
	const struct kb_office *o = r->office ? kb_office(kb, r->office) : NULL;

	if (s && s->team && *s->team)
		return s->team;
	if (s && s->office && s->office->team && *s->office->team)
		return s->office->team;
	if (o && o->team && *o->team)
		return o->team;
	return default_team;
}

/* ---- loading after a start ------------------------------------------------- */

struct handoff_load {
	struct handoff_queue *q;
	time_t now;
	int rc;
};

static int handoff_load_one(void *arg, const struct store_handoff *h)
{
	struct handoff_load *l = arg;
	struct handoff_case *c;

	c = handoff_case_new(h->conv, h->channel, h->reason, h->team);
	if (!c)
		return 0;	/* a damaged row: skip it, keep the others */
	c->id = h->id;
	c->queued_at = h->queued_at;
	c->requeued = h->requeued;
	c->citizen_gone = l->now;
	c->citizen_wrote = 1;	/* unknown after a restart: keep the case */
	if (!strcmp(h->state, "active") &&
	    handoff_copy(c->agent, sizeof(c->agent), h->agent)) {
		c->state = HANDOFF_ACTIVE;
		c->claimed_at = h->claimed_at;
		c->agent_gone = l->now;
		c->agent_wrote = 1;
	}
	if (h->contact && h->contact_len &&
	    strbuf_add(&c->contact, h->contact, h->contact_len)) {
		handoff_case_free(c);
		l->rc = BOT_ENOMEM;
		return 1;
	}
	handoff_append(l->q, c);
	return 0;
}

int handoff_queue_load(struct handoff_queue *q, time_t now,
		       struct bot_err *err)
{
	struct handoff_load l = { q, now, BOT_OK };
	int rc;

	rc = store_handoff_each(q->store, 0, handoff_load_one, &l, err);
	if (!rc && l.rc)
		rc = bot_fail(err, l.rc, "cannot load handoffs: out of memory");
	return rc;
}
