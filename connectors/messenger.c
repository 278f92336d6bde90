/*
 * messenger.c - the Facebook Messenger connector: the webhook (verification
 * GET, signed POSTs stored in the inbox before the 200), the processing of
 * every event from the inbox, and the Send API client draining the outbox.
 *
 * One lws protocol serves both the webhook requests and the client
 * connections to the Graph API; one Send API call is in flight at a time.
 * Nothing is sent before the rows it comes from are committed, so a crash
 * at any point neither loses a message nor answers it twice (only a call
 * that succeeded just before a crash may go out once more).
 */
#include "engine/bot.h"
#include "messenger.h"

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dialog.h"
#include "engine/kb.h"
#include "engine/pii.h"
#include "engine/store.h"
#include "engine/strbuf.h"
#include "agent.h"
#include "json.h"
#include "server.h"
#include "web.h"

#include "engine/banned.h"

#define MSGR_TEXT_MAX 2000	/* characters of one Send API message */
#define MSGR_QUICK_MAX 13
#define MSGR_TITLE_MAX 20	/* characters of a quick-reply title */
#define MSGR_EVENTS_MAX 2000	/* events of one delivery (Meta: 1000) */
#define MSGR_DRAIN_BATCH 16	/* deliveries per loop pass */
#define MSGR_RESP_MAX 65536
#define MSGR_WINDOW_STD (24 * 3600)
#define MSGR_WINDOW_HUMAN (7 * 24 * 3600)
#define MSGR_META "amtsbot"	/* Send API metadata: marks our own echoes */
#define MSGR_QPREFIX "amtsbot:q:"	/* quick-reply payload: the question */
#define MSGR_PURGE_US (3600 * LWS_US_PER_SEC)

struct msgr_metrics {
	uint64_t posts_ok, posts_forbidden, posts_too_large, posts_bad_json;
	uint64_t events, duplicates, answers;
	uint64_t sent, retries, failed_permanent, failed_exhausted;
	uint64_t dropped_actions;
};

/* The one Send API call in flight. */
struct msgr_call {
	int active;
	struct lws *wsi;
	struct store_msgr_out o;
	char *body;		/* the request JSON */
	size_t len;
	int status;		/* HTTP status, 0 before the response */
	struct strbuf resp;
	char path[1024];	/* kept alive for the connect */
};

struct msgr_vhd {
	struct server *srv;
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	int on;
	int tls;
	int port;
	char host[256];
	char base[256];		/* path prefix: "/v21.0/me/" */
	long delay_ms;		/* test: wait before processing the inbox */
	char *clock_file;	/* test: clock offset */
	struct reply reply;
	struct strbuf sb, red;
	struct msgr_call call;
	struct msgr_metrics m;
	lws_sorted_usec_list_t sul_inbox, sul_out, sul_timeout, sul_purge;
};

struct msgr_pss {
	struct strbuf body;
	int is_post;
	int responded;
	char sig[96];
	struct strbuf out;	/* the response body */
};

/* ---- small helpers -------------------------------------------------------- */

static struct msgr_vhd *msgr_vhd_of(const struct server *s)
{
	struct lws_vhost *vh;

	if (!s || !s->ctx)
		return NULL;
	vh = lws_get_vhost_by_name(s->ctx, "amtsbot");
	if (!vh)
		return NULL;
	return lws_protocol_vh_priv_get(vh, lws_vhost_name_to_protocol(vh,
					MESSENGER_PROTOCOL_NAME));
}

/* The Messenger clock: real time plus the test offset, if any. */
static time_t msgr_now(const struct msgr_vhd *vhd)
{
	char buf[32] = "";
	time_t now = time(NULL);
	FILE *fp;
	size_t n;

	if (!vhd->clock_file)
		return now;
	fp = fopen(vhd->clock_file, "rb");
	if (!fp)
		return now;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return now + (time_t)strtoll(buf, NULL, 10);
}

/* Wall-clock milliseconds: the outbox's next_at survives restarts. */
static int64_t msgr_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t msgr_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* Byte offset after 'max' characters of 's' (or len). */
static size_t msgr_char_end(const char *s, size_t len, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (n == max)
				return i;
			n++;
		}
	}
	return len;
}

/*
 * Length of the first part of 's' within 'max' characters: at the last
 * sentence end, else the last blank, else a character boundary.
 */
static size_t msgr_cut(const char *s, size_t len, size_t max)
{
	size_t lim = msgr_char_end(s, len, max), i;

	if (lim == len)
		return len;
	for (i = lim; i > lim / 2; i--)
		if (strchr(".!?\n", s[i - 1]) && (s[i] == ' ' || s[i] == '\n'))
			return i;
	for (i = lim; i > lim / 2; i--)
		if (s[i] == ' ' || s[i] == '\n')
			return i;
	return lim;
}

/* A quick-reply title of at most 20 characters: cut at a blank, "…". */
static void msgr_title(const char *q, char *out, size_t size)
{
	size_t len = strlen(q), end, i;

	if (msgr_chars(q, len) <= MSGR_TITLE_MAX) {
		snprintf(out, size, "%s", q);
		return;
	}
	end = msgr_char_end(q, len, MSGR_TITLE_MAX - 1);
	for (i = end; i > end / 2; i--)
		if (q[i] == ' ')
			break;
	if (i > end / 2)
		end = i;
	while (end && q[end - 1] == ' ')
		end--;
	snprintf(out, size, "%.*s\xe2\x80\xa6", (int)end, q);
}

/* ---- metrics -------------------------------------------------------------- */

int messenger_metrics_add(const struct server *s, struct strbuf *sb)
{
	struct msgr_vhd *vhd = msgr_vhd_of(s);
	const struct msgr_metrics *m;

	if (!vhd)
		return BOT_OK;
	m = &vhd->m;
	return strbuf_addf(sb,
		"# HELP amtsbot_messenger_webhooks_total Messenger webhook POSTs by result.\n"
		"# TYPE amtsbot_messenger_webhooks_total counter\n"
		"amtsbot_messenger_webhooks_total{result=\"ok\"} %llu\n"
		"amtsbot_messenger_webhooks_total{result=\"forbidden\"} %llu\n"
		"amtsbot_messenger_webhooks_total{result=\"too_large\"} %llu\n"
		"amtsbot_messenger_webhooks_total{result=\"bad_json\"} %llu\n"
		"# HELP amtsbot_messenger_events_total Messenger events processed.\n"
		"# TYPE amtsbot_messenger_events_total counter\n"
		"amtsbot_messenger_events_total %llu\n"
		"amtsbot_messenger_duplicates_total %llu\n"
		"amtsbot_messenger_answers_total %llu\n"
		"# HELP amtsbot_messenger_send_total Send API calls by outcome.\n"
		"# TYPE amtsbot_messenger_send_total counter\n"
		"amtsbot_messenger_send_total{result=\"sent\"} %llu\n"
		"amtsbot_messenger_send_total{result=\"retry\"} %llu\n"
		"amtsbot_messenger_send_total{result=\"permanent\"} %llu\n"
		"amtsbot_messenger_send_total{result=\"exhausted\"} %llu\n"
		"amtsbot_messenger_send_total{result=\"action_dropped\"} %llu\n",
		(unsigned long long)m->posts_ok,
		(unsigned long long)m->posts_forbidden,
		(unsigned long long)m->posts_too_large,
		(unsigned long long)m->posts_bad_json,
		(unsigned long long)m->events,
		(unsigned long long)m->duplicates,
		(unsigned long long)m->answers, (unsigned long long)m->sent,
		(unsigned long long)m->retries,
		(unsigned long long)m->failed_permanent,
		(unsigned long long)m->failed_exhausted,
		(unsigned long long)m->dropped_actions);
}

/* ---- the outbox: queueing ------------------------------------------------ */

static void msgr_out_kick(struct msgr_vhd *vhd, lws_usec_t delay);

/* Queue the request in vhd->sb for user 'u' (inside a transaction). */
static int msgr_enqueue(struct msgr_vhd *vhd, const struct store_msgr_user *u,
			const char *kind, const char *path,
			struct bot_err *err)
{
	struct store_msgr_out o;

	memset(&o, 0, sizeof(o));
	snprintf(o.conv, sizeof(o.conv), "%s", u->conv);
	snprintf(o.user, sizeof(o.user), "%s", u->hash);
	snprintf(o.path, sizeof(o.path), "%s", path);
	snprintf(o.kind, sizeof(o.kind), "%s", kind);
	o.next_ms = msgr_wall_ms();
	return store_msgr_out_add(vhd->srv->store, &o, vhd->sb.buf, vhd->sb.len,
				  err);
}

static int msgr_enqueue_action(struct msgr_vhd *vhd,
			       const struct store_msgr_user *u,
			       const char *action, struct bot_err *err)
{
	strbuf_reset(&vhd->sb);
	if (json_msgr_action_add(&vhd->sb, u->recipient, action))
		return bot_fail(err, BOT_ENOMEM, "sender action too large");
	return msgr_enqueue(vhd, u, "action", "messages", err);
}

struct msgr_quick {
	const char *titles[MSGR_QUICK_MAX];
	const char *payloads[MSGR_QUICK_MAX];
	char t[MSGR_QUICK_MAX][96];
	char p[MSGR_QUICK_MAX][REPLY_QUICK_LEN + 16];
	size_t n;
};

/*
 * Queue 'text' split into messages of at most 2,000 characters, at
 * sentence ends; the quick replies go with the last one.
 */
static int msgr_enqueue_text(struct msgr_vhd *vhd,
			     const struct store_msgr_user *u, const char *kind,
			     const char *type, const char *tag,
			     const char *text, size_t len,
			     const struct msgr_quick *q, struct bot_err *err)
{
	size_t cut;
	int last, rc;

	do {
		cut = msgr_cut(text, len, MSGR_TEXT_MAX);
		last = cut >= len;
		strbuf_reset(&vhd->sb);
		if (json_msgr_message_add(&vhd->sb, u->recipient, type, tag,
					  MSGR_META, text, cut,
					  q && last ? q->titles : NULL,
					  q && last ? q->payloads : NULL,
					  q && last ? q->n : 0))
			return bot_fail(err, BOT_ENOMEM, "message too large");
		rc = msgr_enqueue(vhd, u, kind, "messages", err);
		if (rc)
			return rc;
		text += cut;
		len -= cut;
		while (len && (*text == ' ' || *text == '\n')) {
			text++;
			len--;
		}
	} while (len);
	return BOT_OK;
}

/* ---- users and conversations -------------------------------------------------- */

/* The user of an event: "id:PSID" or "ref:USER_REF"; 0 when none. */
static int msgr_event_user(const struct json_msgr_event *e, char *rcpt,
			   size_t size)
{
	const char *id = e->kind == JSON_MSGR_ECHO ? e->recipient : e->sender;

	if (id && *id)
		snprintf(rcpt, size, "id:%s", id);
	else if (e->kind != JSON_MSGR_ECHO && e->user_ref && *e->user_ref)
		snprintf(rcpt, size, "ref:%s", e->user_ref);
	else
		return 0;
	return 1;
}

/* Load or create the user 'rcpt'. */
static int msgr_user_load(struct msgr_vhd *vhd, const char *rcpt,
			  struct store_msgr_user *u, struct bot_err *err)
{
	char hash[STORE_HASH_HEX + 1];
	int rc;

	rc = store_msgr_hash(vhd->srv->store, "psid", rcpt, strlen(rcpt), hash,
			     err);
	if (rc)
		return rc;
	rc = store_msgr_user_get(vhd->srv->store, hash, u, err);
	if (rc < 0)
		return -rc;
	if (rc == 0) {
		memset(u, 0, sizeof(*u));
		memcpy(u->hash, hash, sizeof(u->hash));
	}
	snprintf(u->recipient, sizeof(u->recipient), "%s", rcpt);
	return BOT_OK;
}

/* Make sure the user has a live conversation (after a purge: a new one). */
static int msgr_user_conv(struct msgr_vhd *vhd, struct store_msgr_user *u,
			  struct bot_err *err)
{
	struct store *st = vhd->srv->store;
	int64_t last = 0;
	int rc;

	if (u->conv[0]) {
		rc = store_conv_exists(st, u->conv, &last, err);
		if (rc < 0)
			return -rc;
		if (rc > 0)
			return BOT_OK;
	}
	rc = store_conv_new(st, "messenger", time(NULL), u->conv, err);
	if (rc)
		return rc;
	u->disclosed = 0;
	log_msg(LOG_INFO, "conversation '%s' started (messenger)", u->conv);
	return BOT_OK;
}

/* Store a citizen message, redacted, that the bot does not answer. */
static int msgr_store_citizen(struct msgr_vhd *vhd, const char *conv,
			      const char *text, size_t len, struct bot_err *err)
{
	struct store_msg m = { .conv = conv, .role = "citizen" };
	struct pii_result pr;

	pii_scan(text, len, &pr);
	strbuf_reset(&vhd->red);
	if (pii_redact(text, len, &pr, &vhd->red))
		return bot_fail(err, BOT_ENOMEM, "message too long");
	m.text = vhd->red.buf;
	return store_msg_add(vhd->srv->store, &m, err);
}

/* ---- answers --------------------------------------------------------------- */

static void msgr_quick_build(const struct reply *r, struct msgr_quick *q)
{
	size_t i;

	q->n = 0;
	for (i = 0; i < r->n_quick && q->n < MSGR_QUICK_MAX; i++) {
		msgr_title(r->quick[i], q->t[q->n], sizeof(q->t[q->n]));
		snprintf(q->p[q->n], sizeof(q->p[q->n]), MSGR_QPREFIX "%s",
			 r->quick[i]);
		q->titles[q->n] = q->t[q->n];
		q->payloads[q->n] = q->p[q->n];
		q->n++;
	}
}

/* The answer text with its sources as links. */
static int msgr_answer_text(const struct reply *r, struct strbuf *out)
{
	size_t i;
	int rc = strbuf_add(out, r->answer.buf, r->answer.len);

	for (i = 0; !rc && i < r->n_sources; i++)
		rc = (!i && strbuf_adds(out, "\n\nMehr dazu:")) ||
		     strbuf_addf(out, "\n%s: %s", r->sources[i].title ?
				 r->sources[i].title : "Link",
				 r->sources[i].url ? r->sources[i].url : "");
	return rc;
}

/* The first answer of a conversation says that a bot answers (reference
 * 1.4, required for German users) and where the privacy note is. */
static int msgr_disclose(struct msgr_vhd *vhd, struct store_msgr_user *u,
			 struct bot_err *err)
{
	const struct kb_settings *k = &vhd->srv->kb->settings;
	char text[1024];

	if (u->disclosed)
		return BOT_OK;
	snprintf(text, sizeof(text), "Hier antwortet ein automatischer Dienst "
		 "(Chatbot) der Stadt %s, kein Mensch. Bitte schreiben Sie "
		 "keine persönlichen Daten in den Chat. Hinweise zum "
		 "Datenschutz: %s", k->city ? k->city : "",
		 k->privacy_url ? k->privacy_url : "-");
	u->disclosed = 1;
	return msgr_enqueue_text(vhd, u, "message", "RESPONSE", NULL, text,
				 strlen(text), NULL, err);
}

/* Store the turn like web.c does: question redacted, answer as sent. */
static int msgr_store_turn(struct msgr_vhd *vhd, const struct store_msgr_user *u,
			   struct dialog_state *st, struct bot_err *err)
{
	const struct reply *r = &vhd->reply;
	struct store *store = vhd->srv->store;
	unsigned char packed[DIALOG_STATE_PACK_MAX];
	time_t now = time(NULL);
	size_t n;
	struct store_msg q = {
		.conv = u->conv, .role = "citizen",
		.text = strbuf_str(&r->redacted), .created = now,
	};
	struct store_msg a = {
		.conv = u->conv, .role = "bot", .text = strbuf_str(&r->answer),
		.intent = r->intent, .service = r->service, .office = r->office,
		.confidence = r->confidence,
		.handoff_reason = r->handoff_reason, .created = now,
	};

	n = dialog_state_pack(st, packed, sizeof(packed));
	if (store_msg_add(store, &q, err) || store_msg_add(store, &a, err) ||
	    (n && store_conv_set_state(store, u->conv, packed, n, err)))
		return -1;
	if (r->suggestion &&
	    store_suggestion(store, u->conv, "messenger",
			     strbuf_str(&r->redacted), now, err))
		return -1;
	return 0;
}

/* Answer 'text' with the dialogue engine and queue the reply. */
static int msgr_answer(struct msgr_vhd *vhd, struct store_msgr_user *u,
		       const char *text, size_t len, struct bot_err *err)
{
	struct server *srv = vhd->srv;
	struct reply *r = &vhd->reply;
	unsigned char packed[DIALOG_STATE_PACK_MAX];
	struct dialog_state st;
	struct msgr_quick q;
	struct strbuf out;
	size_t n = 0;
	int rc;

	if (store_conv_get_state(srv->store, u->conv, packed, sizeof(packed),
				 &n, err) || n > sizeof(packed) ||
	    dialog_state_unpack(&st, packed, n))
		dialog_state_init(&st);
	rc = dialog_reply(srv->dialog, &st, text, len, time(NULL), r, err);
	if (rc)
		return rc == BOT_EPARSE ? BOT_OK : rc;	/* bad UTF-8: ignored */
	if (msgr_store_turn(vhd, u, &st, err))
		return err->rc ? err->rc : BOT_EDB;
	metrics_answer(&srv->metrics, r);
	vhd->m.answers++;
	log_msg(LOG_INFO, "conversation '%s': intent %s (%.2f)%s (messenger)",
		u->conv, r->intent ? r->intent : "-", r->confidence,
		r->handoff ? " handoff" : "");
	msgr_quick_build(r, &q);
	strbuf_init(&out, 64 * 1024);
	rc = msgr_answer_text(r, &out) ?
	     bot_fail(err, BOT_ENOMEM, "answer too large") :
	     msgr_enqueue_action(vhd, u, "typing_on", err) ||
	     msgr_disclose(vhd, u, err) ||
	     msgr_enqueue_text(vhd, u, "message", "RESPONSE", NULL, out.buf,
			       out.len, &q, err);
	strbuf_release(&out);
	if (rc)
		return err->rc ? err->rc : BOT_ENOMEM;
	return BOT_OK;
}

/* A fixed text (greeting, "only text") as the bot's turn. */
static int msgr_say(struct msgr_vhd *vhd, struct store_msgr_user *u,
		    const char *citizen, const char *text, struct bot_err *err)
{
	struct store_msg q = { .conv = u->conv, .role = "citizen",
			       .text = citizen };
	struct store_msg a = { .conv = u->conv, .role = "bot", .text = text };

	if (store_msg_add(vhd->srv->store, &q, err) ||
	    store_msg_add(vhd->srv->store, &a, err) ||
	    msgr_enqueue_action(vhd, u, "typing_on", err) ||
	    msgr_disclose(vhd, u, err))
		return err->rc ? err->rc : BOT_EDB;
	vhd->m.answers++;
	return msgr_enqueue_text(vhd, u, "message", "RESPONSE", NULL, text,
				 strlen(text), NULL, err);
}

/* ---- events ---------------------------------------------------------------- */

/* What the citizen asked: a quick-reply payload of ours, or the text. */
static const char *msgr_question(const struct json_msgr_event *e, size_t *len)
{
	size_t pl = strlen(MSGR_QPREFIX);

	if (e->payload && e->payload_len > pl &&
	    !strncmp(e->payload, MSGR_QPREFIX, pl)) {
		*len = e->payload_len - pl;
		return e->payload + pl;
	}
	if (e->text && e->text_len) {
		*len = e->text_len;
		return e->text;
	}
	*len = e->payload ? e->payload_len : 0;
	return e->payload;
}

/* The bot keeps quiet: staff wrote lately, another app owns the thread,
 * or there is nothing to answer. */
static int msgr_passive(const struct store_msgr_user *u, const char *text,
			size_t len, time_t now)
{
	return (u->paused_until && u->paused_until > now) || u->thread_other ||
	       !len || !text;
}

static void msgr_handoff_started(struct msgr_vhd *vhd,
				 struct store_msgr_user *u, struct bot_err *err)
{
	struct server *srv = vhd->srv;

	/* the handoff notes look the user up by conversation */
	if (store_msgr_user_put(srv->store, u, err))
		log_msg(LOG_ERR, "conversation '%s': %s", u->conv, err->msg);
	agent_citizen_handoff(srv, u->conv, "messenger", &vhd->reply);
	/* Messenger citizens are always reachable: never "left the chat" */
	agent_citizen_presence(srv, u->conv, 1);
	if (!srv->conf->fb_handover)
		return;
	strbuf_reset(&vhd->sb);
	if (json_msgr_thread_add(&vhd->sb, u->recipient,
				 srv->conf->fb_inbox_app_id, "handoff") ||
	    msgr_enqueue(vhd, u, "thread", "pass_thread_control", err))
		log_msg(LOG_ERR, "conversation '%s': cannot pass the thread: %s",
			u->conv, err->msg);
}

/* A citizen's text, quick-reply tap, postback or attachment. */
static int msgr_citizen(struct msgr_vhd *vhd, const struct json_msgr_event *e,
			struct store_msgr_user *u, time_t now,
			struct bot_err *err)
{
	struct server *srv = vhd->srv;
	size_t len = 0;
	const char *text = msgr_question(e, &len);
	int rc;

	u->last_citizen_at = now;
	rc = msgr_user_conv(vhd, u, err);
	if (rc)
		return rc;
	if (e->kind == JSON_MSGR_ATTACHMENT) {
		text = "[Anhang]";
		len = strlen(text);
	}
	if (agent_in_handoff(srv, u->conv))
		return agent_citizen_message(srv, u->conv, NULL, text, len) ?
		       bot_fail(err, BOT_EDB, "cannot store the message") : 0;
	if (e->standby || msgr_passive(u, text, len, now))
		return msgr_store_citizen(vhd, u->conv, text ? text : "", len,
					  err);
	if (e->kind == JSON_MSGR_ATTACHMENT)
		return msgr_say(vhd, u, text, "Ich kann leider nur Text lesen. "
				"Bitte schreiben Sie Ihre Frage als "
				"Textnachricht.", err);
	if (e->kind == JSON_MSGR_POSTBACK && e->payload &&
	    !strcmp(e->payload, "GET_STARTED"))
		return msgr_say(vhd, u, "[Los geht's]", "Guten Tag! Stellen "
				"Sie Ihre Frage einfach hier im Chat, zum "
				"Beispiel: Wann hat das Bürgerbüro geöffnet?",
				err);
	vhd->reply.handoff = 0;
	rc = msgr_answer(vhd, u, text, len, err);
	if (!rc && vhd->reply.handoff)
		msgr_handoff_started(vhd, u, err);
	return rc;
}

/* Is this echo one of our own Send API calls? */
static int msgr_own_echo(const struct msgr_vhd *vhd,
			 const struct json_msgr_event *e)
{
	const char *app = vhd->srv->conf->fb_app_id;

	if (app && *app && e->app_id[0])
		return !strcmp(app, e->app_id);
	return e->metadata && !strcmp(e->metadata, MSGR_META);
}

/* Echoes, handover: only the user's state changes. */
static void msgr_control(struct msgr_vhd *vhd, const struct json_msgr_event *e,
			 struct store_msgr_user *u, time_t now)
{
	const struct conf *c = vhd->srv->conf;
	int ours;

	if (e->kind == JSON_MSGR_ECHO) {
		if (msgr_own_echo(vhd, e))
			return;
		u->paused_until = now + (time_t)c->fb_staff_pause * 60;
		log_msg(LOG_NOTICE, "messenger: staff answered in the page "
			"inbox (app %s): the bot pauses for %ld minutes",
			e->app_id[0] ? e->app_id : "-", c->fb_staff_pause);
		return;
	}
	if (e->kind == JSON_MSGR_PASS) {
		ours = c->fb_app_id && *c->fb_app_id ?
		       !strcmp(c->fb_app_id, e->app_id) :
		       strcmp(c->fb_inbox_app_id, e->app_id) != 0;
		u->thread_other = !ours;
		u->paused_until = 0;
		log_msg(LOG_NOTICE, "messenger: thread control passed to %s",
			ours ? "this app" : "another app");
	} else if (e->kind == JSON_MSGR_TAKE) {
		u->thread_other = 1;
		log_msg(LOG_NOTICE, "messenger: another app took thread control");
	}
}

/* The deduplication key: the mid, else a hash of what makes it unique. */
static int msgr_dedup(struct msgr_vhd *vhd, const struct json_msgr_event *e,
		      const char *rcpt, struct bot_err *err)
{
	struct store *st = vhd->srv->store;
	char key[STORE_HASH_HEX + 1], buf[1024];
	int n;

	if (e->mid && *e->mid)
		n = snprintf(buf, sizeof(buf), "%d|%s", e->kind == JSON_MSGR_ECHO,
			     e->mid);
	else
		n = snprintf(buf, sizeof(buf), "%d|%s|%lld|%s|%s", (int)e->kind,
			     rcpt, (long long)e->timestamp, e->app_id,
			     e->payload ? e->payload : "");
	if (n < 0)
		return -BOT_EINVAL;
	if (store_msgr_hash(st, "event", buf, strlen(buf), key, err))
		return -BOT_EAUTH;
	return store_msgr_seen(st, key, time(NULL), err);
}

static int msgr_event(struct msgr_vhd *vhd, const struct json_msgr_event *e,
		      struct bot_err *err)
{
	char rcpt[STORE_MSGR_RCPT_MAX];
	struct store_msgr_user u;
	time_t now = msgr_now(vhd);
	int rc;

	if (e->kind == JSON_MSGR_OTHER || e->kind == JSON_MSGR_DELIVERY ||
	    e->kind == JSON_MSGR_READ || e->kind == JSON_MSGR_REQUEST)
		return BOT_OK;	/* nothing to do, nothing to remember */
	if (!msgr_event_user(e, rcpt, sizeof(rcpt)))
		return BOT_OK;
	vhd->m.events++;
	rc = msgr_dedup(vhd, e, rcpt, err);
	if (rc < 0)
		return -rc;
	if (rc == 1) {
		vhd->m.duplicates++;
		log_msg(LOG_INFO, "messenger: repeated event ignored");
		return BOT_OK;
	}
	rc = msgr_user_load(vhd, rcpt, &u, err);
	if (rc)
		return rc;
	if (e->kind == JSON_MSGR_TEXT || e->kind == JSON_MSGR_POSTBACK ||
	    e->kind == JSON_MSGR_ATTACHMENT)
		rc = msgr_citizen(vhd, e, &u, now, err);
	else
		msgr_control(vhd, e, &u, now);
	if (!rc)
		rc = store_msgr_user_put(vhd->srv->store, &u, err);
	memset(&u, 0, sizeof(u));
	return rc;
}

/* Every event of one delivery, in one transaction with its deletion. */
static int msgr_delivery(struct msgr_vhd *vhd, int64_t id, const char *body,
			 size_t len, struct bot_err *err)
{
	struct json_msgr m;
	size_t i;
	int rc = BOT_OK;

	if (json_msgr_parse(body, len, MSGR_EVENTS_MAX, &m)) {
		log_msg(LOG_WARNING, "messenger: delivery %lld is not JSON: "
			"dropped", (long long)id);
		return store_msgr_inbox_done(vhd->srv->store, id, err);
	}
	if (m.n > MSGR_EVENTS_MAX)
		log_msg(LOG_WARNING, "messenger: delivery %lld has %zu events; "
			"only %d processed", (long long)id, m.n, MSGR_EVENTS_MAX);
	for (i = 0; !rc && i < m.n && i < MSGR_EVENTS_MAX; i++)
		rc = msgr_event(vhd, &m.ev[i], err);
	json_msgr_release(&m);
	return rc ? rc : store_msgr_inbox_done(vhd->srv->store, id, err);
}

static void msgr_drain_cb(lws_sorted_usec_list_t *sul);

/* Process waiting deliveries, a batch per loop pass. */
static void msgr_drain(struct msgr_vhd *vhd)
{
	struct store *st = vhd->srv->store;
	struct bot_err err = { 0 };
	int64_t id = 0, after = 0;
	size_t len = 0;
	char *body;
	int i, rc;

	for (i = 0; i < MSGR_DRAIN_BATCH; i++) {
		rc = store_msgr_inbox_next(st, after, &id, &body, &len, &err);
		if (rc <= 0) {
			if (rc < 0)
				log_msg(LOG_ERR, "messenger inbox: %s", err.msg);
			break;
		}
		rc = store_begin(st, &err);
		if (!rc)
			rc = msgr_delivery(vhd, id, body, len, &err);
		if (!rc)
			rc = store_commit(st, &err);
		OPENSSL_cleanse(body, len);
		bot_free(body);
		if (rc) {
			/* left in the inbox: processed again after a restart */
			log_msg(LOG_ERR, "messenger delivery %lld: %s",
				(long long)id, err.msg);
			store_rollback(st);
			after = id;
		}
	}
	if (i == MSGR_DRAIN_BATCH)
		lws_sul_schedule(vhd->ctx, 0, &vhd->sul_inbox, msgr_drain_cb, 1);
	msgr_out_kick(vhd, 0);
}

static void msgr_drain_cb(lws_sorted_usec_list_t *sul)
{
	msgr_drain(lws_container_of(sul, struct msgr_vhd, sul_inbox));
}

/* ---- the Send API client ---------------------------------------------------- */

static void msgr_out_cb(lws_sorted_usec_list_t *sul);

static void msgr_out_kick(struct msgr_vhd *vhd, lws_usec_t delay)
{
	if (!vhd->on)
		return;
	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_out, msgr_out_cb, delay);
}

/* Temporary errors are retried (reference 1.6); everything else not. */
static int msgr_temporary(int status, long code)
{
	if (code == 1200 || code == 2 || code == 4 || code == 613 ||
	    code == 1 || code == 17 || code == 32)
		return 1;
	if (code)
		return 0;
	return status == 0 || status >= 500 || status == 429;
}

/* Exponential back-off with jitter: base * 2^(n-1), then 50..100 %. */
static int64_t msgr_backoff(struct msgr_vhd *vhd, int attempts)
{
	int64_t d = vhd->srv->conf->fb_retry_base_ms;
	uint32_t r = 0;
	int i;

	for (i = 1; i < attempts && d < 3600 * 1000; i++)
		d *= 2;
	if (d > 3600 * 1000)
		d = 3600 * 1000;
	lws_get_random(vhd->ctx, &r, sizeof(r));
	return d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
}

static void msgr_call_end(struct msgr_vhd *vhd)
{
	struct msgr_call *c = &vhd->call;

	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_timeout, NULL,
			 LWS_SET_TIMER_USEC_CANCEL);
	if (c->body)
		OPENSSL_cleanse(c->body, c->len);
	BOT_FREE(&c->body);
	strbuf_release(&c->resp);
	c->active = 0;
	c->wsi = NULL;
	msgr_out_kick(vhd, 0);
}

/* A failed call: retried later, or given up (logged and counted). */
static void msgr_call_failed(struct msgr_vhd *vhd, int tmp, const char *what)
{
	struct msgr_call *c = &vhd->call;
	struct bot_err err = { 0 };
	int attempts = c->o.attempts + 1;
	const char *state = "failed";
	int64_t next = 0;

	if (!strcmp(c->o.kind, "action")) {
		vhd->m.dropped_actions++;	/* typing_on is never retried */
	} else if (tmp && attempts < vhd->srv->conf->fb_retry_attempts) {
		state = "pending";
		next = msgr_wall_ms() + msgr_backoff(vhd, attempts);
		vhd->m.retries++;
		log_msg(LOG_WARNING, "messenger: send %lld failed, retry %d in "
			"%lld ms: %s", (long long)c->o.id, attempts,
			(long long)(next - msgr_wall_ms()), what);
	} else {
		if (tmp)
			vhd->m.failed_exhausted++;
		else
			vhd->m.failed_permanent++;
		log_msg(LOG_ERR, "messenger: send %lld to conversation '%s' "
			"given up (%s): %s", (long long)c->o.id, c->o.conv,
			tmp ? "too many attempts" : "permanent error", what);
	}
	if (store_msgr_out_update(vhd->srv->store, c->o.id, state, attempts,
				  next, what, &err))
		log_msg(LOG_ERR, "messenger outbox: %s", err.msg);
}

/* Record the outcome of the call in flight ('why' NULL on success). */
static void msgr_call_done(struct msgr_vhd *vhd, const char *why)
{
	struct msgr_call *c = &vhd->call;
	struct bot_err err = { 0 };
	char msg[200] = "", what[300];
	long code = 0, sub = 0;

	if (!c->active)
		return;
	if (!why && c->resp.len)
		json_msgr_error_parse(c->resp.buf, c->resp.len, &code, &sub, msg,
				      sizeof(msg));
	if (why || code || c->status < 200 || c->status > 299) {
		snprintf(what, sizeof(what), "%s (http %d, code %ld/%ld)",
			 why ? why : msg, c->status, code, sub);
		msgr_call_failed(vhd, msgr_temporary(why ? 0 : c->status, code),
				 what);
	} else {
		vhd->m.sent++;
		if (store_msgr_out_update(vhd->srv->store, c->o.id, "sent",
					  c->o.attempts + 1, 0, NULL, &err))
			log_msg(LOG_ERR, "messenger outbox: %s", err.msg);
	}
	msgr_call_end(vhd);
}

static void msgr_timeout_cb(lws_sorted_usec_list_t *sul)
{
	struct msgr_vhd *vhd = lws_container_of(sul, struct msgr_vhd,
						sul_timeout);
	struct lws *wsi = vhd->call.wsi;

	msgr_call_done(vhd, "time-out");
	if (wsi)
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static int msgr_call_start(struct msgr_vhd *vhd)
{
	struct msgr_call *c = &vhd->call;
	const struct conf *cf = vhd->srv->conf;
	struct lws_client_connect_info i;

	snprintf(c->path, sizeof(c->path), "%s%s?access_token=%s", vhd->base,
		 c->o.path, cf->fb_page_token);
	memset(&i, 0, sizeof(i));
	i.context = vhd->ctx;
	i.vhost = vhd->vhost;
	i.address = vhd->host;
	i.host = vhd->host;
	i.origin = vhd->host;
	i.port = vhd->port;
	i.path = c->path;
	i.method = "POST";
	i.protocol = MESSENGER_PROTOCOL_NAME;
	i.alpn = "http/1.1";
	i.ssl_connection = vhd->tls ? LCCSCF_USE_SSL : 0;
	i.pwsi = &c->wsi;
	c->active = 1;
	c->status = 0;
	strbuf_init(&c->resp, MSGR_RESP_MAX);
	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_timeout, msgr_timeout_cb,
			 (lws_usec_t)cf->fb_timeout * LWS_US_PER_SEC);
	if (!lws_client_connect_via_info(&i)) {
		c->wsi = NULL;
		msgr_call_done(vhd, "cannot connect");
		return -1;
	}
	return 0;
}

/* Start the next due call; or sleep until one is due. */
static void msgr_out_cb(lws_sorted_usec_list_t *sul)
{
	struct msgr_vhd *vhd = lws_container_of(sul, struct msgr_vhd, sul_out);
	struct store *st = vhd->srv->store;
	struct bot_err err = { 0 };
	int64_t now = msgr_wall_ms(), due;
	char *body = NULL;
	int rc;

	if (vhd->call.active)
		return;
	/* never send what is not committed yet (web.c's group commit) */
	if (store_in_transaction(st)) {
		msgr_out_kick(vhd, 5 * LWS_US_PER_MS);
		return;
	}
	rc = store_msgr_out_next(st, now, -1, &vhd->call.o, &body, &err);
	if (rc < 0) {
		log_msg(LOG_ERR, "messenger outbox: %s", err.msg);
		msgr_out_kick(vhd, LWS_US_PER_SEC);
		return;
	}
	if (rc == 0) {
		due = store_msgr_out_due(st);
		if (due >= 0)
			msgr_out_kick(vhd, (lws_usec_t)(due > now ? due - now : 1) *
				      LWS_US_PER_MS);
		return;
	}
	vhd->call.body = body;
	vhd->call.len = strlen(body);
	msgr_call_start(vhd);
}

/* ---- client callbacks -------------------------------------------------------- */

static int msgr_client_headers(struct msgr_vhd *vhd, struct lws *wsi,
			       void *in, size_t len)
{
	unsigned char **p = in, *end = (*p) + len;
	char n[32];

	snprintf(n, sizeof(n), "%zu", vhd->call.len);
	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
					 (const unsigned char *)"application/json",
					 16, p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
					 (const unsigned char *)n,
					 (int)strlen(n), p, end))
		return -1;
	lws_client_http_body_pending(wsi, 1);
	lws_callback_on_writable(wsi);
	return 0;
}

static int msgr_client_write(struct msgr_vhd *vhd, struct lws *wsi)
{
	struct msgr_call *c = &vhd->call;
	unsigned char *buf;
	int n;

	if (!c->active || c->wsi != wsi || !c->body)
		return -1;
	buf = bot_malloc(LWS_PRE + c->len);
	if (!buf)
		return -1;
	memcpy(buf + LWS_PRE, c->body, c->len);
	n = lws_write(wsi, buf + LWS_PRE, c->len, LWS_WRITE_HTTP_FINAL);
	OPENSSL_cleanse(buf, LWS_PRE + c->len);
	bot_free(buf);
	lws_client_http_body_pending(wsi, 0);
	return n < (int)c->len ? -1 : 0;
}

static int msgr_client_read(struct lws *wsi)
{
	char buf[LWS_PRE + 4096], *px = buf + LWS_PRE;
	int lenx = (int)sizeof(buf) - LWS_PRE;

	return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
}

/* Whether 'wsi' carries the call in flight: a stray or late wsi (one whose
 * call already ended) must not touch the next call's state. */
static int msgr_client_mine(const struct msgr_vhd *vhd, const struct lws *wsi)
{
	return vhd->call.active && vhd->call.wsi == wsi;
}

/* The status line arrived: kept for msgr_call_done(), which judges it. */
static int msgr_client_status(struct msgr_vhd *vhd, struct lws *wsi)
{
	if (msgr_client_mine(vhd, wsi))
		vhd->call.status = (int)lws_http_client_http_response(wsi);
	return 0;
}

/* A piece of the response body: collected whole, since an error object
 * from the Graph API is only parsed once the response is complete. */
static int msgr_client_body(struct msgr_vhd *vhd, struct lws *wsi,
			    const void *in, size_t len)
{
	if (msgr_client_mine(vhd, wsi) && strbuf_add(&vhd->call.resp, in, len))
		return -1;
	return 0;
}

/* The response is complete: judge it, and close the connection (-1),
 * since every call opens its own. */
static int msgr_client_completed(struct msgr_vhd *vhd, struct lws *wsi)
{
	if (msgr_client_mine(vhd, wsi))
		msgr_call_done(vhd, NULL);
	return -1;
}

/* The connect failed.  That can happen inside
 * lws_client_connect_via_info(), before the call knows its wsi, so an
 * active call without one counts as ours too. */
static int msgr_client_failed(struct msgr_vhd *vhd, struct lws *wsi,
			      const void *in)
{
	if (msgr_client_mine(vhd, wsi) || (vhd->call.active && !vhd->call.wsi))
		msgr_call_done(vhd, in ? (const char *)in : "connection error");
	return 0;
}

/* Closed before the response was complete (after it, the call is done and
 * no longer mine): a failure to retry. */
static int msgr_client_closed(struct msgr_vhd *vhd, struct lws *wsi)
{
	if (msgr_client_mine(vhd, wsi))
		msgr_call_done(vhd, "connection closed");
	return 0;
}

/* The client side of the callback; returns -2 when not a client reason.
 * In the order of a call: request, response, end. */
static int msgr_client_cb(struct msgr_vhd *vhd, struct lws *wsi,
			  enum lws_callback_reasons reason, void *in,
			  size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return msgr_client_mine(vhd, wsi) ?
		       msgr_client_headers(vhd, wsi, in, len) : -1;
	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		return msgr_client_write(vhd, wsi);
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		return msgr_client_status(vhd, wsi);
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
		return msgr_client_read(wsi);
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		return msgr_client_body(vhd, wsi, in, len);
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		return msgr_client_completed(vhd, wsi);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		return msgr_client_failed(vhd, wsi, in);
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		return msgr_client_closed(vhd, wsi);
	default:
		return -2;
	}
}

/* ---- the webhook --------------------------------------------------------------- */

/* Queue a response with 'status' and 'body' on the webhook request. */
static int msgr_respond(struct msgr_pss *pss, struct lws *wsi, int status,
			const char *body)
{
	uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
		*end = hdr + sizeof(hdr) - 1;

	if (pss->responded)
		return 0;
	pss->responded = 1;
	strbuf_init(&pss->out, 4096);
	if (strbuf_adds(&pss->out, body) ||
	    lws_add_http_common_headers(wsi, (unsigned int)status,
					"text/plain; charset=utf-8",
					pss->out.len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8,
					&p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int msgr_http_write(struct msgr_pss *pss, struct lws *wsi)
{
	size_t n = pss->out.len;
	char *buf;
	int rc;

	if (!pss->responded || !pss->out.buf)
		return 0;
	buf = bot_malloc(LWS_PRE + n + 1);
	if (!buf)
		return -1;
	memcpy(buf + LWS_PRE, pss->out.buf, n);
	rc = lws_write(wsi, (unsigned char *)buf + LWS_PRE, n,
		       LWS_WRITE_HTTP_FINAL);
	bot_free(buf);
	strbuf_release(&pss->out);
	if (rc < (int)n)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The challenge is echoed: only a short token of safe characters. */
static int msgr_challenge_ok(const char *c)
{
	size_t n = strlen(c);

	return n && n <= 128 &&
	       strspn(c, "0123456789abcdefghijklmnopqrstuvwxyz"
		      "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.") == n;
}

static int msgr_token_eq(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && !CRYPTO_memcmp(a, b, n);
}

/* GET: hub.mode=subscribe, hub.verify_token, hub.challenge (ref. 1.1). */
static int msgr_verify(struct msgr_vhd *vhd, struct msgr_pss *pss,
		       struct lws *wsi)
{
	char mode[48], token[256], chal[160];
	const char *m, *t, *c;
	int ok;

	/* each returns a pointer to the value inside its buffer */
	m = lws_get_urlarg_by_name(wsi, "hub.mode=", mode, sizeof(mode));
	t = lws_get_urlarg_by_name(wsi, "hub.verify_token=", token,
				   sizeof(token));
	c = lws_get_urlarg_by_name(wsi, "hub.challenge=", chal, sizeof(chal));
	ok = m && t && c && !strcmp(m, "subscribe") &&
	     msgr_token_eq(t, vhd->srv->conf->fb_verify_token) &&
	     msgr_challenge_ok(c);
	OPENSSL_cleanse(token, sizeof(token));
	if (!ok) {
		log_msg(LOG_NOTICE, "messenger: webhook verification refused");
		return msgr_respond(pss, wsi, HTTP_STATUS_FORBIDDEN, "forbidden\n");
	}
	log_msg(LOG_NOTICE, "messenger: webhook verified");
	return msgr_respond(pss, wsi, HTTP_STATUS_OK, c);
}

/* Refuse at once and hang up (the body is not read). */
static int msgr_refuse(struct lws *wsi, int status)
{
	lws_return_http_status(wsi, (unsigned int)status, NULL);
	return -1;
}

static int msgr_http(struct msgr_vhd *vhd, struct msgr_pss *pss,
		     struct lws *wsi)
{
	char cl[32];
	long n;

	memset(pss, 0, sizeof(*pss));
	if (!vhd || !vhd->on)
		return msgr_refuse(wsi, HTTP_STATUS_NOT_FOUND);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
		return msgr_verify(vhd, pss, wsi);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) <= 0) {
		vhd->m.posts_forbidden++;
		return msgr_refuse(wsi, HTTP_STATUS_FORBIDDEN);
	}
	if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		n = strtol(cl, NULL, 10);
		if (n < 0 || n > vhd->srv->conf->fb_max_body) {
			vhd->m.posts_too_large++;
			log_msg(LOG_WARNING, "messenger: webhook body of %ld bytes "
				"refused", n);
			return msgr_refuse(wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE);
		}
	}
	pss->is_post = 1;
	if (lws_hdr_custom_copy(wsi, pss->sig, sizeof(pss->sig),
				"x-hub-signature-256:", 20) < 0)
		pss->sig[0] = '\0';
	strbuf_init(&pss->body, (size_t)vhd->srv->conf->fb_max_body);
	return 0;
}

/* X-Hub-Signature-256: "sha256=" + hex HMAC of the raw body (ref. 1.2). */
static int msgr_signature_ok(const struct msgr_vhd *vhd,
			     const struct msgr_pss *pss)
{
	static const char hex[] = "0123456789abcdef";
	const char *secret = vhd->srv->conf->fb_app_secret;
	unsigned char md[EVP_MAX_MD_SIZE];
	char want[2 * 32 + 1];
	unsigned int n = 0, i;

	if (strlen(pss->sig) != 7 + 64 || strncmp(pss->sig, "sha256=", 7))
		return 0;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
		  (const unsigned char *)pss->body.buf, pss->body.len, md, &n) ||
	    n != 32)
		return 0;
	for (i = 0; i < 32; i++) {
		want[2 * i] = hex[md[i] >> 4];
		want[2 * i + 1] = hex[md[i] & 15];
	}
	want[64] = '\0';
	return !CRYPTO_memcmp(want, pss->sig + 7, 64);
}

/* Store the delivery (committed) before the 200. */
static int msgr_accept(struct msgr_vhd *vhd, struct msgr_pss *pss,
		       struct lws *wsi)
{
	struct store *st = vhd->srv->store;
	struct bot_err err = { 0 };
	int64_t id = 0;

	if (store_begin(st, &err) ||
	    store_msgr_inbox_add(st, pss->body.buf, pss->body.len, time(NULL),
				 &id, &err) ||
	    store_commit(st, &err)) {
		log_msg(LOG_ERR, "messenger: cannot store a delivery: %s",
			err.msg);
		store_rollback(st);
		/* Meta retries what is not answered 200 */
		return msgr_respond(pss, wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR,
				    "error\n");
	}
	vhd->m.posts_ok++;
	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_inbox, msgr_drain_cb,
			 (lws_usec_t)vhd->delay_ms * LWS_US_PER_MS + 1);
	return msgr_respond(pss, wsi, HTTP_STATUS_OK, "ok\n");
}

static int msgr_body_done(struct msgr_vhd *vhd, struct msgr_pss *pss,
			  struct lws *wsi)
{
	struct json_msgr m;
	int page;

	if (!msgr_signature_ok(vhd, pss)) {
		vhd->m.posts_forbidden++;
		log_msg(LOG_NOTICE, "messenger: webhook POST with %s signature "
			"refused", pss->sig[0] ? "a wrong" : "no");
		return msgr_respond(pss, wsi, HTTP_STATUS_FORBIDDEN, "forbidden\n");
	}
	if (json_msgr_parse(pss->body.buf, pss->body.len, 0, &m)) {
		/* answered 200: Meta would only send it again */
		vhd->m.posts_bad_json++;
		log_msg(LOG_WARNING, "messenger: webhook body is not valid "
			"JSON (%zu bytes): ignored", pss->body.len);
		return msgr_respond(pss, wsi, HTTP_STATUS_OK, "ok\n");
	}
	page = m.object && !strcmp(m.object, "page");
	json_msgr_release(&m);
	if (!page) {
		vhd->m.posts_forbidden++;
		return msgr_respond(pss, wsi, HTTP_STATUS_FORBIDDEN, "forbidden\n");
	}
	return msgr_accept(vhd, pss, wsi);
}

static int msgr_body(struct msgr_vhd *vhd, struct msgr_pss *pss,
		     struct lws *wsi, const void *in, size_t len)
{
	if (!pss->is_post || pss->responded)
		return 0;
	if (strbuf_add(&pss->body, in, len)) {
		vhd->m.posts_too_large++;
		log_msg(LOG_WARNING, "messenger: webhook body over %ld bytes "
			"refused", vhd->srv->conf->fb_max_body);
		return msgr_refuse(wsi, HTTP_STATUS_REQ_ENTITY_TOO_LARGE);
	}
	return 0;
}

static void msgr_pss_release(struct msgr_pss *pss)
{
	if (!pss)
		return;
	if (pss->body.buf && pss->body.alloc)
		OPENSSL_cleanse(pss->body.buf, pss->body.alloc);
	strbuf_release(&pss->body);
	strbuf_release(&pss->out);
}

/* ---- the hooks for agent.c --------------------------------------------------------- */

static enum messenger_window msgr_window_of(const struct msgr_vhd *vhd,
					    const struct store_msgr_user *u,
					    time_t *until)
{
	time_t now = msgr_now(vhd), last = u->last_citizen_at;

	if (now < last + MSGR_WINDOW_STD) {
		*until = last + MSGR_WINDOW_STD;
		return MESSENGER_WINDOW_STANDARD;
	}
	*until = last + MSGR_WINDOW_HUMAN;
	return now < *until ? MESSENGER_WINDOW_HUMAN_AGENT :
	       MESSENGER_WINDOW_CLOSED;
}

/* The user of Messenger conversation 'conv'; 0 when there is none. */
static int msgr_conv_user(struct msgr_vhd *vhd, const char *conv,
			  struct store_msgr_user *u)
{
	struct bot_err err = { 0 };
	int rc;

	if (!vhd || !vhd->on || !conv)
		return 0;
	rc = store_msgr_user_by_conv(vhd->srv->store, conv, u, &err);
	if (rc < 0)
		log_msg(LOG_ERR, "messenger: %s", err.msg);
	return rc > 0;
}

enum messenger_window messenger_window(struct server *s, const char *conv,
				       time_t *until)
{
	struct msgr_vhd *vhd = msgr_vhd_of(s);
	struct store_msgr_user u;
	enum messenger_window w;
	time_t t = 0;

	if (!msgr_conv_user(vhd, conv, &u)) {
		if (until)
			*until = 0;
		return MESSENGER_WINDOW_NONE;
	}
	w = msgr_window_of(vhd, &u, &t);
	if (until)
		*until = t;
	memset(&u, 0, sizeof(u));
	return w;
}

int messenger_window_add(struct server *s, struct strbuf *sb, const char *conv)
{
	static const char *const kinds[] = { "", "standard", "human_agent",
					     "closed" };
	static const char *const labels[] = { "", "Antwort als Chat möglich",
		"nur noch persönliche Antwort (HUMAN_AGENT)",
		"abgelaufen: keine Antwort über Messenger mehr möglich" };
	struct msgr_vhd *vhd = msgr_vhd_of(s);
	time_t until = 0, now;
	enum messenger_window w = messenger_window(s, conv, &until);
	long long left;

	if (w == MESSENGER_WINDOW_NONE)
		return BOT_OK;
	now = msgr_now(vhd);
	left = until > now ? (long long)(until - now) : 0;
	if (strbuf_addf(sb, ",\"window\":{\"until\":%lld,\"kind\":\"%s\","
			"\"remaining_s\":%lld,\"label\":", (long long)until,
			kinds[w], left))
		return BOT_ENOMEM;
	if (w == MESSENGER_WINDOW_CLOSED)
		return json_opt_add(sb, labels[w]) || strbuf_addch(sb, '}');
	return strbuf_addf(sb, "\"%s, noch %lld Std. %lld Min.\"}", labels[w],
			   left / 3600, left % 3600 / 60);
}

int messenger_agent_text(struct server *s, const char *conv, const char *text,
			 size_t len)
{
	struct msgr_vhd *vhd = msgr_vhd_of(s);
	struct store_msgr_user u;
	struct bot_err err = { 0 };
	enum messenger_window w;
	time_t until;
	int rc;

	if (!msgr_conv_user(vhd, conv, &u))
		return BOT_ENOTFOUND;
	w = msgr_window_of(vhd, &u, &until);
	if (w == MESSENGER_WINDOW_CLOSED)
		return BOT_EAUTH;
	rc = msgr_enqueue_text(vhd, &u, "agent", w == MESSENGER_WINDOW_STANDARD ?
			       "RESPONSE" : "MESSAGE_TAG",
			       w == MESSENGER_WINDOW_STANDARD ? NULL :
			       "HUMAN_AGENT", text, len, NULL, &err);
	if (rc)
		log_msg(LOG_ERR, "conversation '%s': cannot queue for messenger: "
			"%s", conv, err.msg);
	msgr_out_kick(vhd, 2 * LWS_US_PER_MS);
	return rc;
}

void messenger_conv_note(struct server *s, const char *conv, const char *text)
{
	struct msgr_vhd *vhd = msgr_vhd_of(s);
	struct store_msgr_user u;
	struct bot_err err = { 0 };
	time_t until;

	if (!text || !msgr_conv_user(vhd, conv, &u))
		return;
	/* automated text: only inside the standard window */
	if (msgr_window_of(vhd, &u, &until) != MESSENGER_WINDOW_STANDARD) {
		log_msg(LOG_INFO, "conversation '%s': note not sent to "
			"messenger (outside the 24-hour window)", conv);
		return;
	}
	if (msgr_enqueue_text(vhd, &u, "message", "RESPONSE", NULL, text,
			      strlen(text), NULL, &err))
		log_msg(LOG_ERR, "conversation '%s': %s", conv, err.msg);
	msgr_out_kick(vhd, 2 * LWS_US_PER_MS);
}

void messenger_case_claimed(struct server *s, const char *conv)
{
	struct msgr_vhd *vhd = msgr_vhd_of(s);
	struct store_msgr_user u;
	struct bot_err err = { 0 };

	if (!vhd || !s->conf->fb_handover || !msgr_conv_user(vhd, conv, &u))
		return;
	strbuf_reset(&vhd->sb);
	if (json_msgr_thread_add(&vhd->sb, u.recipient, NULL, "claimed") ||
	    msgr_enqueue(vhd, &u, "thread", "take_thread_control", &err)) {
		log_msg(LOG_ERR, "conversation '%s': cannot take the thread: %s",
			conv, err.msg);
		return;
	}
	u.thread_other = 0;
	if (store_msgr_user_put(s->store, &u, &err))
		log_msg(LOG_ERR, "conversation '%s': %s", conv, err.msg);
	msgr_out_kick(vhd, 2 * LWS_US_PER_MS);
}

/* ---- start and stop ------------------------------------------------------------ */

/* "https://graph.facebook.com" -> tls, host, port; base "/v21.0/me/". */
static int msgr_graph_url(struct msgr_vhd *vhd, const struct conf *c)
{
	char url[512], *prot = NULL, *addr = NULL, *path = NULL;
	int port = 0;

	snprintf(url, sizeof(url), "%s", c->fb_graph_url);
	if (lws_parse_uri(url, (const char **)&prot, (const char **)&addr,
			  &port, (const char **)&path))
		return -1;
	if (strcmp(prot, "http") && strcmp(prot, "https"))
		return -1;
	vhd->tls = !strcmp(prot, "https");
	vhd->port = port;
	snprintf(vhd->host, sizeof(vhd->host), "%s", addr);
	while (*path == '/')
		path++;
	snprintf(vhd->base, sizeof(vhd->base), "/%s%s%s/me/", path,
		 *path && path[strlen(path) - 1] != '/' ? "/" : "",
		 c->fb_api_version);
	return 0;
}

static int msgr_digits(const char *s)
{
	return s && *s && strspn(s, "0123456789") == strlen(s);
}

static void msgr_purge_cb(lws_sorted_usec_list_t *sul)
{
	struct msgr_vhd *vhd = lws_container_of(sul, struct msgr_vhd, sul_purge);
	const struct conf *c = vhd->srv->conf;
	struct bot_err err = { 0 };

	if (!store_in_transaction(vhd->srv->store) &&
	    store_msgr_purge(vhd->srv->store, time(NULL) -
			     (time_t)c->retention_days * 86400, &err))
		log_msg(LOG_ERR, "messenger: %s", err.msg);
	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_purge, msgr_purge_cb,
			 MSGR_PURGE_US);
}

static void msgr_test_env(struct msgr_vhd *vhd)
{
	const char *d = getenv("AMTSBOT_FB_TEST_DELAY_MS");
	const char *f = getenv("AMTSBOT_FAKE_NOW_FILE");

	if (d && *d) {
		vhd->delay_ms = strtol(d, NULL, 10);
		log_msg(LOG_WARNING, "messenger: TEST ONLY: inbox processed %ld "
			"ms after the 200", vhd->delay_ms);
	}
	if (f && *f) {
		vhd->clock_file = bot_strdup(f);
		log_msg(LOG_WARNING, "messenger: TEST ONLY: clock offset read "
			"from '%s'", f);
	}
}

static int msgr_vhd_init(struct lws *wsi)
{
	struct msgr_vhd *vhd;
	const struct conf *c;

	vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
					  lws_get_protocol(wsi), sizeof(*vhd));
	if (!vhd)
		return -1;
	vhd->ctx = lws_get_context(wsi);
	vhd->vhost = lws_get_vhost(wsi);
	vhd->srv = lws_context_user(vhd->ctx);
	c = vhd->srv->conf;
	reply_init(&vhd->reply);
	strbuf_init(&vhd->sb, 256 * 1024);
	strbuf_init(&vhd->red, 64 * 1024);
	if (!c->fb_app_secret || !c->fb_verify_token || !c->fb_page_token) {
		log_msg(LOG_NOTICE, "messenger connector off: set "
			"AMTSBOT_FB_APP_SECRET, AMTSBOT_FB_VERIFY_TOKEN and "
			"AMTSBOT_FB_PAGE_TOKEN to connect a Facebook page");
		return 0;
	}
	if (msgr_graph_url(vhd, c) || !msgr_digits(c->fb_inbox_app_id)) {
		log_msg(LOG_ERR, "messenger connector off: bad Graph API URL "
			"'%s' or page inbox app id", c->fb_graph_url);
		return 0;
	}
	vhd->on = 1;
	msgr_test_env(vhd);
	log_msg(LOG_NOTICE, "messenger connector on: webhook %s, Send API "
		"%s://%s:%d%s (handover %s)", MESSENGER_PATH,
		vhd->tls ? "https" : "http", vhd->host, vhd->port, vhd->base,
		c->fb_handover ? "on" : "off");
	/* what a crash left: deliveries not processed, calls not sent */
	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_inbox, msgr_drain_cb,
			 (lws_usec_t)vhd->delay_ms * LWS_US_PER_MS + 1);
	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_purge, msgr_purge_cb,
			 LWS_US_PER_SEC);
	return 0;
}

static void msgr_vhd_destroy(struct msgr_vhd *vhd)
{
	if (!vhd)
		return;
	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_inbox, NULL,
			 LWS_SET_TIMER_USEC_CANCEL);
	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_out, NULL,
			 LWS_SET_TIMER_USEC_CANCEL);
	lws_sul_schedule(vhd->ctx, 0, &vhd->sul_purge, NULL,
			 LWS_SET_TIMER_USEC_CANCEL);
	vhd->on = 0;
	/* a call in flight stays pending in the outbox: sent after restart */
	if (vhd->call.active) {
		vhd->call.active = 0;
		lws_sul_schedule(vhd->ctx, 0, &vhd->sul_timeout, NULL,
				 LWS_SET_TIMER_USEC_CANCEL);
		BOT_FREE(&vhd->call.body);
		strbuf_release(&vhd->call.resp);
	}
	reply_release(&vhd->reply);
	strbuf_release(&vhd->sb);
	strbuf_release(&vhd->red);
	BOT_FREE(&vhd->clock_file);
}

static int msgr_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct msgr_pss *pss = user;
	struct msgr_vhd *vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
							lws_get_protocol(wsi));
	int rc;

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		return msgr_vhd_init(wsi);
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		msgr_vhd_destroy(vhd);
		return 0;
	case LWS_CALLBACK_HTTP:
		return msgr_http(vhd, pss, wsi);
	case LWS_CALLBACK_HTTP_BODY:
		return msgr_body(vhd, pss, wsi, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return pss->is_post ? msgr_body_done(vhd, pss, wsi) : 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return msgr_http_write(pss, wsi);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		msgr_pss_release(pss);
		break;
	default:
		if (vhd) {
			rc = msgr_client_cb(vhd, wsi, reason, in, len);
			if (rc != -2)
				return rc;
		}
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

void messenger_protocol(struct lws_protocols *p)
{
	memset(p, 0, sizeof(*p));
	p->name = MESSENGER_PROTOCOL_NAME;
	p->callback = msgr_callback;
	p->per_session_data_size = sizeof(struct msgr_pss);
	p->rx_buffer_size = 4096;
}
