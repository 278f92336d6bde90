/*
 * agent.c - the agents' protocol on /agent/ws (auth, queue, claim,
 * message, note, release, close) and the citizen's side of a handoff.
 *
 * web.c owns the sockets; this file owns the agent connections' state,
 * the handoff queue (engine/handoff.c) and the one-second timer for the
 * time-outs.  Agents see clear text live; everything stored is redacted.
 */
#include "engine/bot.h"
#include "agent.h"

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "engine/dialog.h"
#include "engine/handoff.h"
#include "engine/hours.h"
#include "engine/kb.h"
#include "engine/pii.h"
#include "engine/store.h"
#include "engine/strbuf.h"
#include "json.h"
#include "messenger.h"
#include "server.h"
#include "web.h"

#include "engine/banned.h"

#define AGENT_FAILS_MAX 100	/* conf agent_auth_failures at most */
#define AGENT_ADDRS 64		/* remote addresses remembered for the limit */
#define AGENT_TOKEN_MAX 512
#define AGENT_QUEUE_TRANSCRIPT 20
#define AGENT_CLAIM_TRANSCRIPT 200
#define AGENT_OUT_MAX ((size_t)1 << 20)
#define AGENT_TEXT_MAX 65536
#define AGENT_TICK_US LWS_US_PER_SEC

struct agent_fails {
	time_t t[AGENT_FAILS_MAX];	/* ring of recent failures */
	unsigned pos;
};

struct agent_conn {
	struct agent_conn *next;
	struct web_pss *pss;
	int authed;
	char name[STORE_NAME_MAX];
	char team[STORE_NAME_MAX];
	char role[16];
	char addr[64];
	struct agent_fails fails;
};

struct agent_addr {
	char addr[64];		/* "" = free */
	time_t last;
	struct agent_fails fails;
};

struct agent_hub {
	struct server *srv;
	struct lws_context *ctx;
	struct handoff_queue *q;
	struct agent_conn *conns;
	struct agent_addr addrs[AGENT_ADDRS];
	struct reply scratch;		/* the bot's suggestion */
	struct strbuf out, live, red, tmp;
	lws_sorted_usec_list_t sul;
};

static const struct {
	const char *code;
	const char *text;
} agent_errors[] = {
	{ "auth_required", "Bitte melden Sie sich zuerst mit Ihrem Zugangscode an." },
	{ "bad_token", "Dieser Zugangscode ist nicht gültig." },
	{ "too_many_attempts", "Zu viele fehlgeschlagene Anmeldungen. Bitte warten Sie eine Minute." },
	{ "already_authenticated", "Sie sind bereits angemeldet." },
	{ "bad_json", "Die Nachricht konnte nicht gelesen werden." },
	{ "unknown_type", "Diese Art von Nachricht kennt der Server nicht." },
	{ "missing_text", "Bitte schreiben Sie einen Text." },
	{ "too_long", "Der Text ist zu lang." },
	{ "missing_conversation", "Bitte geben Sie an, welches Gespräch gemeint ist." },
	{ "not_found", "Dieses Gespräch wartet nicht (mehr) auf eine Mitarbeiterin oder einen Mitarbeiter." },
	{ "forbidden", "Dieses Gespräch gehört zu einem anderen Team." },
	{ "already_claimed", "Dieses Gespräch hat bereits jemand anderes übernommen." },
	{ "not_claimed", "Sie haben dieses Gespräch nicht übernommen." },
	{ "window_closed", "Über Messenger kann nicht mehr geantwortet werden: Die letzte Nachricht der Person ist länger als 7 Tage her. Bitte nehmen Sie auf anderem Weg Kontakt auf." },
	{ "internal", "Es ist ein technischer Fehler aufgetreten. Bitte versuchen Sie es noch einmal." },
};

/* ---- sending ------------------------------------------------------------ */

/* ',"key":"value"', with null for a NULL value. */
static int agent_kv(struct strbuf *sb, const char *key, const char *val)
{
	return strbuf_addf(sb, ",\"%s\":", key) || json_opt_add(sb, val);
}

static int agent_send(struct agent_hub *h, struct agent_conn *a,
		      const struct strbuf *sb)
{
	return web_conn_send(h->srv, a->pss, sb->buf, sb->len);
}

/* To every authenticated connection of agent 'name'. */
static void agent_send_name(struct agent_hub *h, const char *name,
			    const struct strbuf *sb)
{
	struct agent_conn *a;

	for (a = h->conns; a; a = a->next)
		if (a->authed && !strcmp(a->name, name))
			agent_send(h, a, sb);
}

static int agent_error(struct agent_hub *h, struct agent_conn *a,
		       const char *code, const char *conv)
{
	struct strbuf *sb = &h->out;
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(agent_errors) - 1; i++)
		if (!strcmp(agent_errors[i].code, code))
			break;
	strbuf_reset(sb);
	if (strbuf_adds(sb, "{\"type\":\"error\",\"code\":") ||
	    json_opt_add(sb, agent_errors[i].code) ||
	    strbuf_adds(sb, ",\"message\":") ||
	    json_opt_add(sb, agent_errors[i].text) ||
	    (conv && (strbuf_adds(sb, ",\"conversation\":") ||
		      json_opt_add(sb, conv))) ||
	    strbuf_addch(sb, '}'))
		return -1;
	return agent_send(h, a, sb);
}

/* ---- transcripts and the queue -------------------------------------------- */

struct agent_tr {
	struct strbuf *sb;
	struct strbuf *last_citizen;	/* may be NULL */
	int n;
	int rc;
};

static int agent_tr_one(void *arg, const struct store_msg *m)
{
	struct agent_tr *t = arg;
	char name[STORE_NAME_MAX] = "";

	if (!strcmp(m->role, "agent"))
		json_member_str(m->payload, "name", name, sizeof(name));
	t->rc = strbuf_addf(t->sb, "%s{\"seq\":%lld", t->n++ ? "," : "",
			    (long long)m->seq) ||
		agent_kv(t->sb, "from", m->role) ||
		agent_kv(t->sb, "text", m->text ? m->text : "") ||
		(name[0] && agent_kv(t->sb, "name", name)) ||
		strbuf_addch(t->sb, '}');
	if (t->last_citizen && !strcmp(m->role, "citizen") && m->text) {
		strbuf_reset(t->last_citizen);
		if (strbuf_adds(t->last_citizen, m->text))
			strbuf_reset(t->last_citizen);
	}
	return t->rc;
}

/* "[...]": the last 'limit' stored events of 'conv'. */
static int agent_transcript(struct agent_hub *h, struct strbuf *sb,
			    const char *conv, int64_t limit,
			    struct strbuf *last_citizen)
{
	struct agent_tr t = { sb, last_citizen, 0, 0 };
	struct bot_err err = { 0 };
	int64_t last = 0;

	if (store_conv_exists(h->srv->store, conv, &last, &err) < 0 ||
	    strbuf_addch(sb, '['))
		return -1;
	if (store_msgs_after(h->srv->store, conv, last > limit ? last - limit : 0,
			     agent_tr_one, &t, &err) || t.rc)
		return -1;
	return strbuf_addch(sb, ']');
}

/* conversation, channel, reason, team, waiting_s, state, agent */
static int agent_item_head(struct strbuf *sb, const struct handoff_case *c,
			   time_t now, int first)
{
	return strbuf_adds(sb, first ? "{\"conversation\":" :
			   ",{\"conversation\":") ||
	       json_opt_add(sb, c->conv) ||
	       agent_kv(sb, "channel", c->channel) ||
	       agent_kv(sb, "reason", c->reason) || agent_kv(sb, "team", c->team) ||
	       strbuf_addf(sb, ",\"waiting_s\":%lld,\"state\":\"%s\"",
			   (long long)(now > c->queued_at ? now - c->queued_at : 0),
			   c->state == HANDOFF_ACTIVE ? "active" : "queued") ||
	       agent_kv(sb, "agent", c->agent[0] ? c->agent : NULL);
}

static int agent_item(struct agent_hub *h, struct strbuf *sb,
		      const struct handoff_case *c, time_t now, int first,
		      int with_transcript)
{
	if (agent_item_head(sb, c, now, first) ||
	    messenger_window_add(h->srv, sb, c->conv) ||
	    strbuf_addf(sb, ",\"has_contact\":%s,\"on_duty\":%s,\"transcript\":",
			c->contact.len ? "true" : "false",
			c->off_duty ? "false" : "true"))
		return -1;
	if (with_transcript ?
	    agent_transcript(h, sb, c->conv, AGENT_QUEUE_TRANSCRIPT, NULL) :
	    strbuf_adds(sb, "[]"))
		return -1;
	return strbuf_addch(sb, '}');
}

static int agent_sees(const struct agent_hub *h, const struct agent_conn *a,
		      const struct handoff_case *c)
{
	return handoff_visible(c, a->team, a->role, h->srv->conf->default_team);
}

static int agent_queue_build(struct agent_hub *h, struct agent_conn *a,
			     int with_transcript)
{
	struct handoff_case *c;
	time_t now = time(NULL);
	int n = 0;

	strbuf_reset(&h->out);
	if (strbuf_adds(&h->out, "{\"type\":\"queue\",\"items\":["))
		return -1;
	for (c = handoff_first(h->q); c; c = c->next) {
		if (!agent_sees(h, a, c))
			continue;
		if (agent_item(h, &h->out, c, now, !n++, with_transcript))
			return -1;
	}
	return strbuf_adds(&h->out, "]}");
}

static void agent_send_queue(struct agent_hub *h, struct agent_conn *a)
{
	/* too big with transcripts: the list alone still helps */
	if (agent_queue_build(h, a, 1) && agent_queue_build(h, a, 0)) {
		log_msg(LOG_ERR, "cannot build the queue for agent '%s'", a->name);
		return;
	}
	agent_send(h, a, &h->out);
}

static void agent_push_queue(struct agent_hub *h)
{
	struct agent_conn *a;

	for (a = h->conns; a; a = a->next)
		if (a->authed)
			agent_send_queue(h, a);
}

/* ---- duty ------------------------------------------------------------------- */

/* The office of 'team' with opening hours, or NULL. */
static const struct kb_office *agent_team_office(const struct kb *kb,
						 const char *team)
{
	size_t i;

	for (i = 0; i < kb->n_offices; i++)
		if (kb->offices[i].team && !strcmp(kb->offices[i].team, team) &&
		    kb->offices[i].has_hours)
			return &kb->offices[i];
	return NULL;
}

static int agent_team_staffed(const struct agent_hub *h, const char *team)
{
	const char *def = h->srv->conf->default_team;
	const struct agent_conn *a;

	for (a = h->conns; a; a = a->next)
		if (a->authed && (!strcmp(a->role, "editor") ||
				  !strcmp(a->team, team) || !strcmp(a->team, def)))
			return 1;
	return 0;
}

/*
 * 1 when 'team' is on duty at 'now'.  Otherwise 0 and 'why' gets the
 * German note for the citizen: nobody there, when the office opens again,
 * and that a message and a contact may be left.
 */
static int agent_on_duty(struct agent_hub *h, const char *team, time_t now,
			 struct strbuf *why)
{
	const struct kb *kb = h->srv->kb;
	const struct kb_office *o = agent_team_office(kb, team);
	struct hours_local lt;
	int open = 1, rc;

	if (h->srv->conf->handoff_hours && o) {
		hours_to_local(dialog_tz(h->srv->dialog), now, &lt);
		open = hours_is_open(o, kb->settings.state, &lt);
	}
	if (open && agent_team_staffed(h, team))
		return 1;
	strbuf_reset(why);
	rc = strbuf_adds(why, "Gerade ist leider niemand aus unserem Team im Dienst.");
	if (!rc && o && !open)
		rc = strbuf_addf(why, " %s: ", o->name) ||
		     hours_say_now(o, kb->settings.state,
				   dialog_tz(h->srv->dialog), now, why);
	if (!rc)
		strbuf_adds(why, " Sie können hier eine Nachricht und eine "
			    "E-Mail-Adresse oder Telefonnummer hinterlassen. "
			    "Ihr Anliegen bleibt gespeichert, wir melden uns.");
	return 0;
}

/* ---- the citizen's frames ------------------------------------------------------ */

/*
 * Store a 'handoff' frame (role system, 'note' as its text) and send it
 * to the citizen's open connections.  Inside the group-commit
 * transaction.
 */
static int agent_handoff_frame(struct agent_hub *h, const char *conv,
			       const char *state, size_t position,
			       const char *note, struct bot_err *err)
{
	struct store *st = h->srv->store;
	struct strbuf *sb = &h->tmp;
	struct store_msg m = { .conv = conv, .role = "system", .text = note };
	int64_t last = 0;

	if (store_begin(st, err) || store_conv_exists(st, conv, &last, err) <= 0)
		return -1;
	strbuf_reset(sb);
	if (strbuf_addf(sb, "{\"type\":\"handoff\",\"seq\":%lld,\"state\":\"%s\"",
			(long long)last + 1, state) ||
	    (position && strbuf_addf(sb, ",\"position\":%zu", position)) ||
	    (note && (strbuf_adds(sb, ",\"text\":") || json_opt_add(sb, note))) ||
	    strbuf_addch(sb, '}'))
		return bot_fail(err, BOT_ENOMEM, "handoff frame too large");
	m.payload = sb->buf;
	if (store_msg_add(st, &m, err))
		return -1;
	web_conv_send(h->srv, conv, sb->buf, sb->len);
	messenger_conv_note(h->srv, conv, note);
	return 0;
}

/* The 'queued' frame for case 'c', with the duty note when off duty. */
static int agent_queued_frame(struct agent_hub *h, struct handoff_case *c,
			      const char *lead, time_t now, struct bot_err *err)
{
	struct strbuf why;
	char note[2048];
	size_t pos = handoff_position(h->q, c);
	int rc;

	strbuf_init(&why, 4096);
	c->off_duty = !agent_on_duty(h, c->team, now, &why);
	if (c->off_duty)
		snprintf(note, sizeof(note), "%s%s", lead, strbuf_str(&why));
	else
		snprintf(note, sizeof(note), "%sEine Mitarbeiterin oder ein "
			 "Mitarbeiter meldet sich hier im Chat. Sie sind an "
			 "Platz %zu. Bis dahin antwortet der Chatbot nicht.",
			 lead, pos);
	strbuf_release(&why);
	rc = agent_handoff_frame(h, c->conv, "queued", pos, note, err);
	return rc;
}

/* The agent's words: stored redacted, sent to the citizen as typed. */
static int agent_words(struct agent_hub *h, const char *conv,
		       const char *name, const char *text, size_t len,
		       int64_t *seq, struct bot_err *err)
{
	struct store *st = h->srv->store;
	struct store_msg m = { .conv = conv, .role = "agent",
			       .text = strbuf_str(&h->red) };
	int64_t last = 0;

	if (store_begin(st, err) || store_conv_exists(st, conv, &last, err) <= 0)
		return -1;
	*seq = last + 1;
	strbuf_reset(&h->tmp);
	strbuf_reset(&h->live);
	if (strbuf_addf(&h->tmp, "{\"type\":\"agent\",\"seq\":%lld,\"name\":",
			(long long)*seq) || json_opt_add(&h->tmp, name) ||
	    strbuf_add(&h->live, h->tmp.buf, h->tmp.len) ||
	    strbuf_adds(&h->tmp, ",\"text\":") ||
	    json_str_add(&h->tmp, h->red.buf, h->red.len) ||
	    strbuf_addch(&h->tmp, '}') ||
	    strbuf_adds(&h->live, ",\"text\":") ||
	    json_str_add(&h->live, text, len) || strbuf_addch(&h->live, '}'))
		return bot_fail(err, BOT_ENOMEM, "agent message too large");
	m.payload = h->tmp.buf;
	if (store_msg_add(st, &m, err))
		return -1;
	web_conv_send(h->srv, conv, h->live.buf, h->live.len);
	return 0;
}

/* Redact 'text' into h->red. */
static int agent_redact(struct agent_hub *h, const char *text, size_t len,
			struct pii_result *pr)
{
	pii_scan(text, len, pr);
	strbuf_reset(&h->red);
	return pii_redact(text, len, pr, &h->red);
}

/* ---- the citizen's side (called by web.c) ------------------------------------- */

int agent_in_handoff(struct server *s, const char *conv)
{
	return s->agents && conv && conv[0] && handoff_find(s->agents->q, conv);
}

void agent_citizen_handoff(struct server *s, const char *conv,
			   const char *channel, const struct reply *r)
{
	struct agent_hub *h = s->agents;
	struct bot_err err = { 0 };
	struct handoff_case *c;
	const char *team;
	time_t now = time(NULL);

	if (!h)
		return;
	team = handoff_route(s->kb, r, s->conf->default_team);
	if (store_begin(s->store, &err) ||
	    handoff_open(h->q, conv, channel, r->handoff_reason ?
			 r->handoff_reason : "requested", team, now, &c, &err) ||
	    agent_queued_frame(h, c, "", now, &err)) {
		log_msg(LOG_ERR, "conversation '%s': cannot hand over: %s", conv,
			err.msg);
		return;
	}
	if (!web_conv_online(s, conv))
		handoff_citizen_presence(c, 0, now);
	log_msg(LOG_NOTICE, "conversation '%s' queued for team '%s' (%s)%s",
		conv, team, c->reason, c->off_duty ? ", nobody on duty" : "");
	agent_push_queue(h);
}

/* Keep the e-mail addresses and phone numbers of a waiting citizen. */
static int agent_keep_contact(struct agent_hub *h, struct handoff_case *c,
			      const char *text, const struct pii_result *pr,
			      struct bot_err *err)
{
	struct strbuf found;
	size_t i;
	int rc = 0;

	strbuf_init(&found, 2048);
	for (i = 0; !rc && i < pr->n; i++)
		if (pr->hit[i].kind == PII_EMAIL || pr->hit[i].kind == PII_PHONE)
			rc = (found.len && strbuf_add(&found, ", ", 2)) ||
			     strbuf_add(&found, text + pr->hit[i].start,
					pr->hit[i].end - pr->hit[i].start);
	if (!rc && found.len)
		rc = handoff_add_contact(h->q, c, found.buf, found.len, err);
	if (!rc && found.len)
		rc = agent_handoff_frame(h, c->conv, "queued",
					 handoff_position(h->q, c),
					 "Vielen Dank. Wir haben Ihre Nachricht "
					 "und Ihre Kontaktdaten gespeichert und "
					 "melden uns bei Ihnen.", err);
	if (found.buf)
		memset(found.buf, 0, found.alloc);
	strbuf_release(&found);
	return rc;
}

/* Clear text to the agent holding 'c', live. */
static void agent_forward(struct agent_hub *h, const struct handoff_case *c,
			  int64_t seq, const char *text, size_t len)
{
	struct strbuf *sb = &h->live;

	strbuf_reset(sb);
	if (strbuf_adds(sb, "{\"type\":\"message\",\"conversation\":") ||
	    json_opt_add(sb, c->conv) ||
	    strbuf_addf(sb, ",\"from\":\"citizen\",\"seq\":%lld,\"text\":",
			(long long)seq) ||
	    json_str_add(sb, text, len) || strbuf_addch(sb, '}'))
		return;
	agent_send_name(h, c->agent, sb);
	if (sb->buf)
		memset(sb->buf, 0, sb->len);
}

int agent_citizen_message(struct server *s, const char *conv,
			  const char *client_id, const char *text, size_t len)
{
	struct agent_hub *h = s->agents;
	struct handoff_case *c = handoff_find(h->q, conv);
	struct store_msg m = { .conv = conv, .role = "citizen",
			       .client_id = client_id };
	struct bot_err err = { 0 };
	struct pii_result pr;

	if (!c || agent_redact(h, text, len, &pr) ||
	    store_begin(s->store, &err))
		return -1;
	m.text = h->red.buf;
	if (store_msg_add(s->store, &m, &err)) {
		log_msg(LOG_ERR, "conversation '%s': cannot store: %s", conv, err.msg);
		return -1;
	}
	strbuf_reset(&h->tmp);
	if (json_citizen_add(&h->tmp, m.seq, client_id, h->red.buf))
		return -1;
	web_conv_send(s, conv, h->tmp.buf, h->tmp.len);
	if (m.duplicate)
		return 0;
	c->citizen_wrote = 1;
	if (c->state == HANDOFF_ACTIVE) {
		agent_forward(h, c, m.seq, text, len);
		return 0;
	}
	if (agent_keep_contact(h, c, text, &pr, &err))
		log_msg(LOG_ERR, "conversation '%s': cannot keep contact: %s",
			conv, err.msg);
	agent_push_queue(h);
	return 0;
}

void agent_citizen_presence(struct server *s, const char *conv, int online)
{
	struct handoff_case *c;

	if (!s->agents)
		return;
	c = handoff_find(s->agents->q, conv);
	if (c)
		handoff_citizen_presence(c, online, time(NULL));
}

/* ---- authentication ------------------------------------------------------------- */

static int agent_fails_count(const struct agent_fails *f, long limit,
			     time_t now)
{
	long i;
	int n = 0;

	for (i = 0; i < limit; i++)
		n += f->t[i] && now - f->t[i] < 60;
	return n;
}

static void agent_fails_add(struct agent_fails *f, long limit, time_t now)
{
	f->t[f->pos % (unsigned)limit] = now;
	f->pos = (f->pos + 1) % (unsigned)limit;
}

static struct agent_addr *agent_addr_get(struct agent_hub *h, const char *addr)
{
	struct agent_addr *old = &h->addrs[0];
	size_t i;

	for (i = 0; i < AGENT_ADDRS; i++) {
		if (!strcmp(h->addrs[i].addr, addr))
			return &h->addrs[i];
		if (h->addrs[i].last < old->last)
			old = &h->addrs[i];
	}
	memset(old, 0, sizeof(*old));
	snprintf(old->addr, sizeof(old->addr), "%s", addr);
	return old;
}

/* conf agent_auth_failures, at most what a ring holds */
static long agent_limit(const struct server *s)
{
	long limit = s->conf->auth_failures;

	return limit > AGENT_FAILS_MAX ? AGENT_FAILS_MAX : limit;
}

int agent_auth_blocked(struct server *s, const char *addr)
{
	long limit = agent_limit(s);
	time_t now = time(NULL);
	struct agent_addr *ad;

	if (!s->agents)
		return 0;
	ad = agent_addr_get(s->agents, addr);
	ad->last = now;
	return agent_fails_count(&ad->fails, limit, now) >= limit;
}

void agent_auth_failed(struct server *s, const char *addr)
{
	time_t now = time(NULL);
	struct agent_addr *ad;

	if (!s->agents)
		return;
	ad = agent_addr_get(s->agents, addr);
	ad->last = now;
	agent_fails_add(&ad->fails, agent_limit(s), now);
}

struct agent_find {
	char hash[STORE_HASH_HEX + 1];
	int found;
	char name[STORE_NAME_MAX], team[STORE_NAME_MAX], role[16];
};

/* Compare with every stored hash, in constant time and without stopping
 * at a match, so the time says nothing about which or how many match. */
static int agent_find_one(void *arg, const struct store_agent *a)
{
	struct agent_find *f = arg;
	int match = strlen(a->token_hash) == STORE_HASH_HEX &&
		    !CRYPTO_memcmp(f->hash, a->token_hash, STORE_HASH_HEX);

	if (match && !f->found) {
		f->found = 1;
		snprintf(f->name, sizeof(f->name), "%s", a->name);
		snprintf(f->team, sizeof(f->team), "%s", a->team);
		snprintf(f->role, sizeof(f->role), "%s", a->role);
	}
	return 0;
}

static void agent_send_claimed(struct agent_hub *h, struct agent_conn *a,
			       struct handoff_case *c);

static void agent_welcome(struct agent_hub *h, struct agent_conn *a)
{
	struct handoff_case *c;
	struct strbuf *sb = &h->out;

	strbuf_reset(sb);
	if (!strbuf_adds(sb, "{\"type\":\"auth_ok\",\"name\":") &&
	    !json_opt_add(sb, a->name) && !strbuf_adds(sb, ",\"team\":") &&
	    !json_opt_add(sb, a->team) && !strbuf_adds(sb, ",\"role\":") &&
	    !json_opt_add(sb, a->role) && !strbuf_addch(sb, '}'))
		agent_send(h, a, sb);
	agent_send_queue(h, a);
	for (c = handoff_first(h->q); c; c = c->next)
		if (c->state == HANDOFF_ACTIVE && !strcmp(c->agent, a->name))
			agent_send_claimed(h, a, c);
}

static void agent_auth(struct agent_hub *h, struct agent_conn *a,
		       const struct json_agent *m)
{
	long limit = agent_limit(h->srv);
	struct agent_find f = { 0 };
	struct bot_err err = { 0 };
	time_t now = time(NULL);
	/* the address first: its 'last' is refreshed either way */
	int blocked = agent_auth_blocked(h->srv, a->addr);

	if (blocked || agent_fails_count(&a->fails, limit, now) >= limit) {
		log_msg(LOG_WARNING, "agent login from '%s' refused: too many "
			"failures", a->addr);
		agent_error(h, a, "too_many_attempts", NULL);
		web_conn_close_after(h->srv, a->pss);
		return;
	}
	if (m->token && m->token_len && m->token_len <= AGENT_TOKEN_MAX) {
		store_token_hash(m->token, m->token_len, f.hash);
		if (store_agent_each(h->srv->store, agent_find_one, &f, &err)) {
			log_msg(LOG_ERR, "cannot check agent token: %s", err.msg);
			agent_error(h, a, "internal", NULL);
			return;
		}
	}
	if (!f.found) {
		agent_fails_add(&a->fails, limit, now);
		agent_auth_failed(h->srv, a->addr);
		log_msg(LOG_NOTICE, "failed agent login from '%s'", a->addr);
		agent_error(h, a, "bad_token", NULL);
		return;
	}
	memcpy(a->name, f.name, sizeof(a->name));
	memcpy(a->team, f.team, sizeof(a->team));
	memcpy(a->role, f.role, sizeof(a->role));
	a->authed = 1;
	handoff_agent_presence(h->q, a->name, 1, now);
	log_msg(LOG_NOTICE, "agent '%s' (team %s, %s) logged in from '%s'",
		a->name, a->team, a->role, a->addr);
	agent_welcome(h, a);
}

/* ---- claims and the agent's actions --------------------------------------------- */

/* The bot's answer to the citizen's last (redacted) message, or NULL. */
static const char *agent_suggestion(struct agent_hub *h, const struct strbuf *q)
{
	struct dialog_state st;
	struct bot_err err = { 0 };

	if (!q->len)
		return NULL;
	dialog_state_init(&st);
	if (dialog_reply(h->srv->dialog, &st, q->buf, q->len, time(NULL),
			 &h->scratch, &err))
		return NULL;
	if (h->scratch.handoff || h->scratch.fallback || !h->scratch.answer.len)
		return NULL;
	return strbuf_str(&h->scratch.answer);
}

static int agent_claimed_build(struct agent_hub *h, struct handoff_case *c,
			       struct strbuf *last)
{
	struct strbuf *sb = &h->out;

	strbuf_reset(sb);
	if (strbuf_adds(sb, "{\"type\":\"claimed\"") ||
	    agent_kv(sb, "conversation", c->conv) ||
	    agent_kv(sb, "reason", c->reason) || agent_kv(sb, "team", c->team) ||
	    agent_kv(sb, "channel", c->channel) ||
	    messenger_window_add(h->srv, sb, c->conv) ||
	    agent_kv(sb, "contact", c->contact.len ? c->contact.buf : NULL) ||
	    strbuf_adds(sb, ",\"transcript\":"))
		return -1;
	if (agent_transcript(h, sb, c->conv, AGENT_CLAIM_TRANSCRIPT, last))
		return -1;
	return agent_kv(sb, "suggestion", agent_suggestion(h, last)) ||
	       strbuf_addch(sb, '}');
}

static void agent_send_claimed(struct agent_hub *h, struct agent_conn *a,
			       struct handoff_case *c)
{
	struct strbuf last;
	int rc;

	strbuf_init(&last, AGENT_TEXT_MAX);
	rc = agent_claimed_build(h, c, &last);
	strbuf_release(&last);
	if (rc) {
		log_msg(LOG_ERR, "conversation '%s': cannot build the claim",
			c->conv);
		agent_error(h, a, "internal", c->conv);
		return;
	}
	agent_send(h, a, &h->out);
}

/* The open case the frame names, checked for visibility; NULL after
 * sending the error. */
static struct handoff_case *agent_case(struct agent_hub *h,
				       struct agent_conn *a,
				       const struct json_agent *m)
{
	struct handoff_case *c;

	if (!m->conversation) {
		agent_error(h, a, "missing_conversation", NULL);
		return NULL;
	}
	c = handoff_find(h->q, m->conversation);
	if (!c)
		agent_error(h, a, "not_found", m->conversation);
	else if (!agent_sees(h, a, c))
		agent_error(h, a, "forbidden", m->conversation);
	else
		return c;
	return NULL;
}

static void agent_claim(struct agent_hub *h, struct agent_conn *a,
			const struct json_agent *m)
{
	struct handoff_case *c = agent_case(h, a, m);
	struct bot_err err = { 0 };
	char note[256];
	int was_active, rc;

	if (!c)
		return;
	was_active = c->state == HANDOFF_ACTIVE;
	rc = store_begin(h->srv->store, &err);
	if (!rc)
		rc = handoff_claim(h->q, c, a->name, time(NULL), &err);
	if (rc == BOT_EAUTH) {
		agent_error(h, a, "already_claimed", c->conv);
		return;
	}
	if (rc) {
		log_msg(LOG_ERR, "cannot claim: %s", err.msg);
		agent_error(h, a, "internal", c->conv);
		return;
	}
	agent_send_claimed(h, a, c);
	if (was_active)
		return;
	log_msg(LOG_NOTICE, "conversation '%s' claimed by agent '%s'",
		c->conv, a->name);
	if (!strcmp(c->channel, "messenger"))
		messenger_case_claimed(h->srv, c->conv);
	snprintf(note, sizeof(note), "%s hat Ihr Anliegen übernommen und "
		 "antwortet Ihnen hier im Chat.", a->name);
	if (agent_handoff_frame(h, c->conv, "active", 0, note, &err))
		log_msg(LOG_ERR, "conversation '%s': %s", c->conv, err.msg);
	agent_push_queue(h);
}

/* The case must be held by 'a'. */
static struct handoff_case *agent_held(struct agent_hub *h,
				       struct agent_conn *a,
				       const struct json_agent *m)
{
	struct handoff_case *c = agent_case(h, a, m);

	if (c && (c->state != HANDOFF_ACTIVE || strcmp(c->agent, a->name))) {
		agent_error(h, a, "not_claimed", c->conv);
		return NULL;
	}
	return c;
}

static int agent_text_ok(struct agent_hub *h, struct agent_conn *a,
			 const struct json_agent *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->text_len; i++)
		n += ((unsigned char)m->text[i] & 0xc0) != 0x80;
	if (n <= (size_t)h->srv->conf->max_message)
		return 1;
	agent_error(h, a, "too_long", m->conversation);
	return 0;
}

static void agent_message(struct agent_hub *h, struct agent_conn *a,
			  const struct json_agent *m)
{
	struct handoff_case *c = agent_held(h, a, m);
	struct bot_err err = { 0 };
	struct pii_result pr;
	struct strbuf *sb = &h->out;
	int64_t seq = 0;

	if (!c || !agent_text_ok(h, a, m))
		return;
	/* Messenger: after 7 days without a citizen message nothing goes out */
	if (!strcmp(c->channel, "messenger") &&
	    messenger_window(h->srv, c->conv, NULL) == MESSENGER_WINDOW_CLOSED) {
		agent_error(h, a, "window_closed", c->conv);
		return;
	}
	if (agent_redact(h, m->text, m->text_len, &pr) ||
	    agent_words(h, c->conv, a->name, m->text, m->text_len, &seq, &err)) {
		log_msg(LOG_ERR, "conversation '%s': cannot store: %s", c->conv,
			err.msg);
		agent_error(h, a, "internal", c->conv);
		return;
	}
	c->agent_wrote = 1;
	if (!strcmp(c->channel, "messenger"))
		messenger_agent_text(h->srv, c->conv, m->text, m->text_len);
	strbuf_reset(sb);
	if (strbuf_adds(sb, "{\"type\":\"message\",\"conversation\":") ||
	    json_opt_add(sb, c->conv) ||
	    strbuf_adds(sb, ",\"from\":\"agent\",\"name\":") ||
	    json_opt_add(sb, a->name) ||
	    strbuf_addf(sb, ",\"seq\":%lld,\"text\":", (long long)seq) ||
	    json_str_add(sb, m->text, m->text_len) || strbuf_addch(sb, '}'))
		return;
	agent_send_name(h, a->name, sb);
}

static void agent_note(struct agent_hub *h, struct agent_conn *a,
		       const struct json_agent *m)
{
	struct handoff_case *c = agent_case(h, a, m);
	struct bot_err err = { 0 };
	struct pii_result pr;
	struct strbuf *sb = &h->out;

	if (!c || !agent_text_ok(h, a, m))
		return;
	if (agent_redact(h, m->text, m->text_len, &pr) ||
	    store_begin(h->srv->store, &err) ||
	    store_note_add(h->srv->store, c->conv, a->name, h->red.buf,
			   time(NULL), &err)) {
		log_msg(LOG_ERR, "conversation '%s': cannot store note: %s",
			c->conv, err.msg);
		agent_error(h, a, "internal", c->conv);
		return;
	}
	strbuf_reset(sb);
	if (strbuf_adds(sb, "{\"type\":\"note\",\"conversation\":") ||
	    json_opt_add(sb, c->conv) || strbuf_adds(sb, ",\"name\":") ||
	    json_opt_add(sb, a->name) || strbuf_adds(sb, ",\"text\":") ||
	    json_str_add(sb, m->text, m->text_len) || strbuf_addch(sb, '}'))
		return;
	agent_send_name(h, a->name, sb);
}

static void agent_send_ended(struct agent_hub *h, const char *name,
			     const char *conv, const char *outcome)
{
	struct strbuf *sb = &h->out;

	strbuf_reset(sb);
	if (strbuf_adds(sb, "{\"type\":\"ended\",\"conversation\":") ||
	    json_opt_add(sb, conv) ||
	    strbuf_addf(sb, ",\"outcome\":\"%s\"}", outcome))
		return;
	agent_send_name(h, name, sb);
}

/* release or close: back to the bot, the case ends. */
static void agent_end(struct agent_hub *h, struct agent_conn *a,
		      const struct json_agent *m, const char *outcome)
{
	struct handoff_case *c = agent_held(h, a, m);
	struct bot_err err = { 0 };
	char conv[STORE_ID_LEN + 1];
	int closed = !strcmp(outcome, "closed");

	if (!c)
		return;
	memcpy(conv, c->conv, sizeof(conv));
	if (agent_handoff_frame(h, conv, "ended", 0, closed ?
				"Ihr Anliegen ist abgeschlossen. Bei weiteren "
				"Fragen antwortet wieder der Chatbot." :
				"Das Gespräch mit unserer Mitarbeiterin oder "
				"unserem Mitarbeiter ist beendet. Ab jetzt "
				"antwortet wieder der Chatbot.", &err) ||
	    handoff_end(h->q, &c, outcome, time(NULL), &err)) {
		log_msg(LOG_ERR, "conversation '%s': cannot end handoff: %s",
			conv, err.msg);
		agent_error(h, a, "internal", conv);
		return;
	}
	log_msg(LOG_NOTICE, "conversation '%s' %s by agent '%s'", conv,
		outcome, a->name);
	agent_send_ended(h, a->name, conv, outcome);
	agent_push_queue(h);
}

int agent_frame_in(struct server *s, struct agent_conn *a, const char *buf,
		   size_t len)
{
	struct agent_hub *h = s->agents;
	enum json_client_error e;
	struct json_agent m;

	if (!h)
		return 0;
	e = json_agent_parse(buf, len, &m);
	if (!a->authed) {
		/* before the login nothing is revealed, not even parse errors */
		if (!e && m.type == JSON_AGENT_AUTH)
			agent_auth(h, a, &m);
		else
			agent_error(h, a, "auth_required", NULL);
		json_agent_release(&m);
		return 0;
	}
	if (e) {
		agent_error(h, a, json_client_error_code(e), NULL);
		return 0;
	}
	switch (m.type) {
	case JSON_AGENT_AUTH:
		agent_error(h, a, "already_authenticated", NULL);
		break;
	case JSON_AGENT_CLAIM:
		agent_claim(h, a, &m);
		break;
	case JSON_AGENT_MESSAGE:
		agent_message(h, a, &m);
		break;
	case JSON_AGENT_NOTE:
		agent_note(h, a, &m);
		break;
	case JSON_AGENT_RELEASE:
		agent_end(h, a, &m, "released");
		break;
	case JSON_AGENT_CLOSE:
		agent_end(h, a, &m, "closed");
		break;
	}
	json_agent_release(&m);
	return 0;
}

/* ---- time-outs ------------------------------------------------------------------- */

static int agent_due(struct agent_hub *h, struct handoff_case *c,
		     enum handoff_due what, time_t now)
{
	struct bot_err err = { 0 };
	char name[STORE_NAME_MAX], conv[STORE_ID_LEN + 1];

	memcpy(conv, c->conv, sizeof(conv));
	if (what == HANDOFF_DUE_CITIZEN) {
		if (agent_handoff_frame(h, conv, "ended", 0, "Ihre Anfrage "
					"wurde beendet, weil Sie den Chat "
					"verlassen haben.", &err) ||
		    handoff_end(h->q, &c, c->requeued ? "timeout" : "abandoned",
				now, &err))
			goto fail;
		log_msg(LOG_NOTICE, "conversation '%s': citizen left, handoff "
			"ended", conv);
		return 0;
	}
	memcpy(name, c->agent, sizeof(name));
	if (store_begin(h->srv->store, &err) || handoff_requeue(h->q, c, &err) ||
	    agent_queued_frame(h, c, "Die Verbindung zu unserer Mitarbeiterin "
			       "oder unserem Mitarbeiter ist unterbrochen. Sie "
			       "sind wieder in der Warteschlange. ", now, &err))
		goto fail;
	log_msg(LOG_NOTICE, "conversation '%s' back in the queue: agent '%s' %s",
		conv, name, what == HANDOFF_DUE_CLAIM ? "did not answer" :
		"is away");
	agent_send_ended(h, name, conv, "timeout");
	return 0;
fail:
	log_msg(LOG_ERR, "conversation '%s': time-out: %s", conv, err.msg);
	return -1;
}

static void agent_tick(lws_sorted_usec_list_t *sul)
{
	struct agent_hub *h = lws_container_of(sul, struct agent_hub, sul);
	const struct conf *cf = h->srv->conf;
	struct handoff_timeouts t = {
		cf->agent_grace, cf->claim_timeout, cf->citizen_timeout * 60
	};
	enum handoff_due what;
	struct handoff_case *c;
	time_t now = time(NULL);
	int i, changed = 0;

	/* a few per second at most: a failing store must not spin */
	for (i = 0; i < 16; i++) {
		c = handoff_due(h->q, now, &t, &what);
		if (!c || agent_due(h, c, what, now))
			break;
		changed = 1;
	}
	if (changed)
		agent_push_queue(h);
	lws_sul_schedule(h->ctx, 0, &h->sul, agent_tick, AGENT_TICK_US);
}

/* ---- connections and the hub ---------------------------------------------------- */

struct agent_conn *agent_conn_new(struct server *s, struct web_pss *pss,
				  struct lws *wsi)
{
	struct agent_conn *a;

	if (!s->agents)
		return NULL;
	a = bot_calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->pss = pss;
	lws_get_peer_simple(wsi, a->addr, sizeof(a->addr));
	a->next = s->agents->conns;
	s->agents->conns = a;
	return a;
}

void agent_conn_free(struct server *s, struct agent_conn **ap)
{
	struct agent_conn *a = *ap, **pp, *o;
	struct agent_hub *h = s->agents;
	int others = 0;

	if (!a)
		return;
	for (pp = h ? &h->conns : NULL; pp && *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	for (o = h ? h->conns : NULL; o && a->authed; o = o->next)
		others += o->authed && !strcmp(o->name, a->name);
	if (h && a->authed && !others) {
		handoff_agent_presence(h->q, a->name, 0, time(NULL));
		log_msg(LOG_NOTICE, "agent '%s' disconnected", a->name);
		agent_push_queue(h);
	}
	bot_free(a);
	*ap = NULL;
}

int agent_hub_start(struct server *s, struct lws_context *ctx)
{
	struct agent_hub *h = bot_calloc(1, sizeof(*h));
	struct bot_err err = { 0 };

	if (!h)
		return -1;
	h->srv = s;
	h->ctx = ctx;
	reply_init(&h->scratch);
	strbuf_init(&h->out, AGENT_OUT_MAX);
	strbuf_init(&h->live, AGENT_TEXT_MAX);
	strbuf_init(&h->red, AGENT_TEXT_MAX);
	strbuf_init(&h->tmp, AGENT_TEXT_MAX);
	h->q = handoff_queue_new(s->store);
	s->agents = h;
	if (!h->q || handoff_queue_load(h->q, time(NULL), &err)) {
		log_msg(LOG_ERR, "cannot load the handoff queue: %s",
			h->q ? err.msg : "out of memory");
		agent_hub_stop(s);
		return -1;
	}
	if (handoff_count(h->q))
		log_msg(LOG_NOTICE, "%zu open handoffs loaded",
			handoff_count(h->q));
	lws_sul_schedule(ctx, 0, &h->sul, agent_tick, AGENT_TICK_US);
	return 0;
}

void agent_hub_stop(struct server *s)
{
	struct agent_hub *h = s->agents;
	struct agent_conn *a;

	if (!h)
		return;
	lws_sul_schedule(h->ctx, 0, &h->sul, NULL, LWS_SET_TIMER_USEC_CANCEL);
	for (a = h->conns; a; a = a->next)
		a->authed = 0;	/* web.c frees them when they close */
	handoff_queue_free(&h->q);
	reply_release(&h->scratch);
	strbuf_release(&h->out);
	strbuf_release(&h->live);
	strbuf_release(&h->red);
	strbuf_release(&h->tmp);
	bot_free(h);
	s->agents = NULL;
}
