/*
 * web.c - the "amtsbot" WebSocket protocol spoken by web-widget/.
 *
 * One pss per browser tab.  Replies are queued on the pss and written
 * from SERVER_WRITEABLE, one lws_write() per callback.  A queued frame
 * carries the commit generation it depends on and is not written before
 * that transaction is committed (see web.h).
 */
#include "engine/bot.h"
#include "web.h"

#include <libwebsockets.h>
#include <string.h>

#include "engine/dialog.h"
#include "engine/store.h"
#include "engine/strbuf.h"
#include "engine/text.h"
#include "agent.h"
#include "json.h"
#include "server.h"

#include "engine/banned.h"

#define WEB_QUEUE_MAX 256	/* frames queued per connection; more: close */
#define WEB_FREE_MAX 4096	/* recycled frames kept */
#define WEB_FRAME_KEEP 16384	/* bigger frame buffers are not kept */
/*
 * Shortest time between two commits.  Measured with bench/load.sh: 1, 2
 * and 4 ms give the same throughput within noise; p99 at 15,000/s is 4,
 * 5 and 7 ms.
 */
#ifndef WEB_COMMIT_GAP_US
#define WEB_COMMIT_GAP_US 2000
#endif
#define WEB_RX_KEEP 2048

struct web_frame {
	struct web_frame *next;
	struct strbuf buf;	/* LWS_PRE bytes of headroom, then the JSON */
	uint64_t gen;		/* written when gen <= vhd->committed */
	lws_usec_t t_recv;	/* answers: when the question came; else 0 */
};

struct web_pss {
	struct web_pss *wait_next;	/* vhd->waiting: needs the commit */
	struct web_pss *all_next, *all_prev;	/* vhd->all: open sockets */
	struct agent_conn *agent;	/* on /agent/ws: agent.c's state */
	int close_after;	/* close once the queue is written */
	int waiting;
	struct lws *wsi;
	struct web_frame *q_head, *q_tail;
	unsigned q_len;
	struct strbuf rx;	/* one message, capped at max_frame */
	size_t rx_total;
	int rx_active;		/* inside a fragmented message */
	int rx_refused;		/* the message outgrew the cap */
	char conv[STORE_ID_LEN + 1];	/* "" until hello or first message */
	struct dialog_state st;
	lws_usec_t *rate;	/* last 'rate_limit' accepted messages */
	unsigned rate_pos;
};

struct web_vhd {
	struct server *srv;
	struct lws_context *ctx;
	lws_usec_t last_commit;	/* when the last group was committed */
	struct web_pss *waiting;
	struct web_pss *all;
	uint64_t committed;	/* commits done; open transaction: committed + 1 */
	struct web_frame *free;
	unsigned n_free;
	struct reply reply;	/* reused for every answer */
};

static const struct {
	const char *code;
	const char *text;
} web_errors[] = {
	{ "bad_json", "Die Nachricht konnte nicht gelesen werden. Bitte versuchen Sie es noch einmal." },
	{ "unknown_type", "Diese Art von Nachricht kennt der Chat nicht." },
	{ "missing_text", "Bitte schreiben Sie Ihre Frage in das Textfeld." },
	{ "too_long", "Ihre Nachricht ist leider zu lang. Bitte stellen Sie Ihre Frage etwas kürzer." },
	{ "bad_utf8", "Ihre Nachricht enthält ungültige Zeichen. Bitte versuchen Sie es noch einmal." },
	{ "rate_limited", "Sie schreiben gerade sehr schnell. Bitte warten Sie einen Moment und versuchen Sie es dann noch einmal." },
	{ "bad_seq", "Zu dieser Nachricht ist keine Bewertung möglich." },
	{ "internal", "Es ist ein technischer Fehler aufgetreten. Bitte versuchen Sie es später noch einmal." },
};

/* ---- frames and the send queue -------------------------------------- */

static struct web_frame *web_frame_get(struct web_vhd *vhd)
{
	static const char pad[LWS_PRE];
	struct web_frame *f = vhd->free;

	if (f) {
		vhd->free = f->next;
		vhd->n_free--;
	} else {
		f = bot_calloc(1, sizeof(*f));
		if (!f)
			return NULL;
		strbuf_init(&f->buf, LWS_PRE + ((size_t)1 << 20));
	}
	f->next = NULL;
	f->gen = 0;
	f->t_recv = 0;
	strbuf_reset(&f->buf);
	if (strbuf_add(&f->buf, pad, LWS_PRE)) {
		strbuf_release(&f->buf);
		bot_free(f);
		return NULL;
	}
	return f;
}

static void web_frame_put(struct web_vhd *vhd, struct web_frame *f)
{
	if (f->buf.alloc > WEB_FRAME_KEEP)
		strbuf_release(&f->buf);
	if (vhd->n_free >= WEB_FREE_MAX) {
		strbuf_release(&f->buf);
		bot_free(f);
		return;
	}
	f->next = vhd->free;
	vhd->free = f;
	vhd->n_free++;
}

/*
 * Append 'f' to the connection's queue.  While a transaction is open the
 * frame waits for its commit; otherwise it can go out at once.
 */
static void web_queue(struct web_vhd *vhd, struct web_pss *pss,
		      struct web_frame *f)
{
	int pending = store_in_transaction(vhd->srv->store);

	f->gen = vhd->committed + (pending ? 1 : 0);
	if (pss->q_tail)
		pss->q_tail->next = f;
	else
		pss->q_head = f;
	pss->q_tail = f;
	pss->q_len++;
	if (!pending) {
		lws_callback_on_writable(pss->wsi);
		return;
	}
	if (!pss->waiting) {
		pss->waiting = 1;
		pss->wait_next = vhd->waiting;
		vhd->waiting = pss;
	}
}

/*
 * Write a committed reply at once instead of asking the loop for POLLOUT:
 * the socket is nearly always writable, and the round trip cost two
 * epoll_ctl() calls and one more loop pass per reply.  lws handles the
 * event as one from the loop (the WRITEABLE callback, one frame); what a
 * full socket does not take stays buffered in lws, which then asks for
 * POLLOUT itself.  Only outside lws callbacks (the end of a loop pass).
 */
static void web_write_now(struct web_vhd *vhd, struct lws *wsi)
{
	struct lws_pollfd pfd = {
		.fd = lws_get_socket_fd(wsi),
		.events = LWS_POLLIN | LWS_POLLOUT,
		.revents = LWS_POLLOUT,
	};

	if (pfd.fd < 0)
		lws_callback_on_writable(wsi);
	else
		(void)lws_service_fd(vhd->ctx, &pfd);	/* may close 'wsi' */
}

/* Commit the open transaction, then let the waiting replies go: at once
 * when 'now' (see web_write_now), else on the next POLLOUT. */
static void web_commit(struct web_vhd *vhd, int now)
{
	struct web_pss *p, *next, *list = vhd->waiting;
	struct bot_err err = { 0 };
	int failed = 0;

	if (store_in_transaction(vhd->srv->store) &&
	    store_commit(vhd->srv->store, &err)) {
		log_msg(LOG_ERR, "cannot commit: %s", err.msg);
		failed = 1;
	}
	vhd->committed++;
	vhd->last_commit = lws_now_usecs();
	/* detached first: a write may close a connection, whose CLOSED
	 * callback walks vhd->waiting */
	vhd->waiting = NULL;
	for (p = list; p; p = next) {
		next = p->wait_next;
		p->wait_next = NULL;
		p->waiting = 0;
		/* never send what was not stored: the client resends */
		if (failed)
			lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
		else if (now)
			web_write_now(vhd, p->wsi);
		else
			lws_callback_on_writable(p->wsi);
	}
}

/* Queue a frame built by the caller; on failure the frame is dropped. */
static int web_send(struct web_vhd *vhd, struct web_pss *pss,
		    struct web_frame *f, int build_rc)
{
	if (build_rc || pss->q_len >= WEB_QUEUE_MAX) {
		log_msg(LOG_WARNING, "dropping a reply to conversation '%s': %s",
			pss->conv, build_rc ? "out of memory" : "queue full");
		web_frame_put(vhd, f);
		return -1;
	}
	web_queue(vhd, pss, f);
	return 0;
}

/* An error for the citizen; 'reply_to' is the client id of the message
 * it belongs to, or NULL. */
static int web_error(struct web_vhd *vhd, struct web_pss *pss,
		     const char *code, const char *reply_to)
{
	struct web_frame *f = web_frame_get(vhd);
	size_t i;

	if (!f)
		return -1;
	for (i = 0; i < BOT_ARRAY_SIZE(web_errors) - 1; i++)
		if (!strcmp(web_errors[i].code, code))
			break;
	log_msg(LOG_INFO, "conversation '%s': error %s", pss->conv,
		web_errors[i].code);
	return web_send(vhd, pss, f, json_error_add(&f->buf, web_errors[i].code,
						    web_errors[i].text, reply_to));
}

/* The payload of a frame: the text after the LWS_PRE headroom. */
static int web_raw(struct web_vhd *vhd, struct web_pss *pss, const char *json)
{
	struct web_frame *f = web_frame_get(vhd);

	if (!f)
		return -1;
	return web_send(vhd, pss, f, strbuf_adds(&f->buf, json));
}

/* One lws_write() per WRITEABLE callback (lws README.coding.md). */
static int web_write_one(struct web_vhd *vhd, struct web_pss *pss,
			 struct lws *wsi)
{
	struct web_frame *f = pss->q_head;
	size_t n;

	if (!f || f->gen > vhd->committed)
		return 0;
	n = f->buf.len - LWS_PRE;
	if (lws_write(wsi, (unsigned char *)f->buf.buf + LWS_PRE, n,
		      LWS_WRITE_TEXT) < (int)n)
		return -1;
	if (f->t_recv)
		metrics_latency(&vhd->srv->metrics,
				(double)(lws_now_usecs() - f->t_recv) / 1e6);
	pss->q_head = f->next;
	if (!pss->q_head)
		pss->q_tail = NULL;
	pss->q_len--;
	web_frame_put(vhd, f);
	if (!pss->q_head && pss->close_after) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				 (unsigned char *)"refused", 7);
		return -1;
	}
	if (pss->q_head && pss->q_head->gen <= vhd->committed)
		lws_callback_on_writable(wsi);
	return 0;
}

/* ---- sending from other modules (agent.c) ------------------------------ */

int web_conn_send(struct server *s, struct web_pss *pss, const char *json,
		  size_t len)
{
	struct web_frame *f = web_frame_get(s->web);

	if (!f)
		return -1;
	return web_send(s->web, pss, f, strbuf_add(&f->buf, json, len));
}

void web_conn_close_after(struct server *s, struct web_pss *pss)
{
	pss->close_after = 1;
	if (!pss->q_head)
		lws_callback_on_writable(pss->wsi);
	(void)s;
}

int web_conv_send(struct server *s, const char *conv, const char *json,
		  size_t len)
{
	struct web_pss *p;
	int n = 0;

	for (p = s->web->all; p; p = p->all_next)
		if (!p->agent && !strcmp(p->conv, conv) &&
		    !web_conn_send(s, p, json, len))
			n++;
	return n;
}

int web_conv_online(struct server *s, const char *conv)
{
	struct web_pss *p;
	int n = 0;

	for (p = s->web->all; p; p = p->all_next)
		n += !p->agent && !strcmp(p->conv, conv);
	return n;
}

int64_t web_flush(struct server *s)
{
	struct web_vhd *vhd = s->web;
	lws_usec_t since;

	if (!vhd || (!vhd->waiting && !store_in_transaction(s->store)))
		return -1;
	/*
	 * Under load commit at most every WEB_COMMIT_GAP_US: each commit
	 * writes the pages it touched again, so fewer, larger groups write
	 * fewer bytes (and the kernel throttles writers that write much).
	 */
	since = lws_now_usecs() - vhd->last_commit;
	if (since < WEB_COMMIT_GAP_US)
		return WEB_COMMIT_GAP_US - since;
	web_commit(vhd, 1);
	return -1;
}

/* ---- conversations ---------------------------------------------------- */

static int web_welcome(struct web_vhd *vhd, struct web_pss *pss, int64_t seq)
{
	struct web_frame *f = web_frame_get(vhd);

	if (!f)
		return -1;
	return web_send(vhd, pss, f, json_welcome_add(&f->buf, pss->conv, seq));
}

static int web_conv_new(struct web_vhd *vhd, struct web_pss *pss)
{
	struct store *store = vhd->srv->store;
	struct bot_err err = { 0 };

	if (store_begin(store, &err) ||
	    store_conv_new(store, "web", time(NULL), pss->conv, &err)) {
		log_msg(LOG_ERR, "cannot start a conversation: %s", err.msg);
		pss->conv[0] = '\0';
		return -1;
	}
	dialog_state_init(&pss->st);
	log_msg(LOG_INFO, "conversation '%s' started", pss->conv);
	return web_welcome(vhd, pss, 0);
}

struct web_replay {
	struct web_vhd *vhd;
	struct web_pss *pss;
	int64_t only;		/* > 0: only this seq (a repeated question) */
};

/* Re-send one stored message: citizens' from their text, answers as sent. */
static int web_replay_one(void *arg, const struct store_msg *m)
{
	struct web_replay *rp = arg;
	struct web_frame *f;

	if (rp->only && m->seq != rp->only)
		return 1;
	if (rp->pss->q_len >= WEB_QUEUE_MAX) {
		log_msg(LOG_WARNING, "conversation '%s': too many messages to resend",
			rp->pss->conv);
		return 1;
	}
	if (!strcmp(m->role, "citizen")) {
		f = web_frame_get(rp->vhd);
		if (!f)
			return 1;
		web_send(rp->vhd, rp->pss, f,
			 json_citizen_add(&f->buf, m->seq, m->client_id, m->text));
	} else if (m->payload) {
		web_raw(rp->vhd, rp->pss, m->payload);
	}
	return rp->only ? 1 : 0;
}

static int web_replay(struct web_vhd *vhd, struct web_pss *pss, int64_t after,
		      int64_t only)
{
	struct web_replay rp = { vhd, pss, only };
	struct bot_err err = { 0 };

	if (store_msgs_after(vhd->srv->store, pss->conv, after, web_replay_one,
			     &rp, &err)) {
		log_msg(LOG_ERR, "cannot read conversation '%s': %s", pss->conv,
			err.msg);
		return web_error(vhd, pss, "internal", NULL);
	}
	return 0;
}

static int web_conv_id_ok(const char *id)
{
	return id && strlen(id) == STORE_ID_LEN &&
	       strspn(id, "0123456789abcdef") == STORE_ID_LEN;
}

/* Resume conversation 'id' if it exists; 0 when it does not. */
static int web_resume(struct web_vhd *vhd, struct web_pss *pss, const char *id,
		      int64_t after)
{
	struct store *store = vhd->srv->store;
	struct bot_err err = { 0 };
	int64_t last = 0;
	unsigned char packed[DIALOG_STATE_PACK_MAX];
	size_t n = 0;
	int rc;

	if (!web_conv_id_ok(id))
		return 0;
	rc = store_conv_exists(store, id, &last, &err);
	if (rc <= 0) {
		if (rc < 0)
			log_msg(LOG_ERR, "cannot look up conversation: %s", err.msg);
		return rc;
	}
	memcpy(pss->conv, id, STORE_ID_LEN + 1);
	if (store_conv_get_state(store, id, packed, sizeof(packed), &n, &err) ||
	    n > sizeof(packed) || dialog_state_unpack(&pss->st, packed, n))
		dialog_state_init(&pss->st);
	log_msg(LOG_INFO, "conversation '%s' resumed after seq %lld", id,
		(long long)after);
	if (web_welcome(vhd, pss, last))
		return -1;
	return web_replay(vhd, pss, after, 0) ? -1 : 1;
}

static int web_hello(struct web_vhd *vhd, struct web_pss *pss,
		     const struct json_client *m)
{
	int rc = web_resume(vhd, pss, m->conversation, m->last_seq);

	if (rc < 0)
		return web_error(vhd, pss, "internal", NULL);
	if (rc == 0 && web_conv_new(vhd, pss))
		return web_error(vhd, pss, "internal", NULL);
	if (rc > 0)
		agent_citizen_presence(vhd->srv, pss->conv, 1);
	return 0;
}

static int web_feedback(struct web_vhd *vhd, struct web_pss *pss,
			const struct json_client *m)
{
	struct store *store = vhd->srv->store;
	struct bot_err err = { 0 };
	struct web_frame *f;
	int rc;

	if (!pss->conv[0] || m->seq <= 0)
		return web_error(vhd, pss, "bad_seq", NULL);
	rc = store_begin(store, &err);
	if (!rc)
		rc = store_feedback(store, pss->conv, m->seq, m->helpful,
				    time(NULL), &err);
	if (rc == BOT_ENOTFOUND)
		return web_error(vhd, pss, "bad_seq", NULL);
	if (rc) {
		log_msg(LOG_ERR, "cannot store feedback: %s", err.msg);
		return web_error(vhd, pss, "internal", NULL);
	}
	f = web_frame_get(vhd);
	if (!f)
		return -1;
	return web_send(vhd, pss, f, json_ok_add(&f->buf, m->seq));
}

/* ---- messages ----------------------------------------------------------- */

/* Sliding minute: the ring holds the times of the last N accepted ones. */
static int web_rate_limited(struct web_vhd *vhd, struct web_pss *pss)
{
	long limit = vhd->srv->conf->rate_limit;
	lws_usec_t now = lws_now_usecs();

	if (!limit || !pss->rate)
		return 0;
	if (pss->rate[pss->rate_pos] &&
	    now - pss->rate[pss->rate_pos] < 60 * LWS_US_PER_SEC)
		return 1;
	pss->rate[pss->rate_pos] = now;
	pss->rate_pos = (pss->rate_pos + 1) % (unsigned)limit;
	return 0;
}

static size_t web_utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/*
 * Store the question and the answer (payload = the frame as sent) in three
 * statements: reserve both seqs (saving the dialogue state with them),
 * insert the question, insert the answer.
 */
static int web_store_turn(struct web_vhd *vhd, struct web_pss *pss,
			  const struct json_client *m, struct web_frame *f,
			  struct bot_err *err)
{
	const struct reply *r = &vhd->reply;
	struct store *store = vhd->srv->store;
	time_t now = time(NULL);
	unsigned char packed[DIALOG_STATE_PACK_MAX];
	int64_t first;
	struct store_msg q = {
		.conv = pss->conv, .role = "citizen", .client_id = m->id,
		.text = strbuf_str(&r->redacted), .created = now,
	};
	struct store_msg a = {
		.conv = pss->conv, .role = "bot", .text = strbuf_str(&r->answer),
		.intent = r->intent, .service = r->service, .office = r->office,
		.confidence = r->confidence, .handoff_reason = r->handoff_reason,
		.netiquette = r->netiquette, .state = packed,
		.state_len = dialog_state_pack(&pss->st, packed, sizeof(packed)),
		.created = now,
		/* for the editors' list of unanswered questions */
		.closest = r->fallback && r->n_alts ? r->alts[0].intent : NULL,
	};

	if (store_begin(store, err) ||
	    store_turn_reserve(store, pss->conv, 2, now, &first, err))
		return -1;
	q.seq = first;
	a.seq = first + 1;
	if (json_reply_add(&f->buf, r, a.seq, m->id))
		return bot_fail(err, BOT_ENOMEM, "answer too large");
	a.payload = f->buf.buf + LWS_PRE;
	if (store_turn_put(store, &q, err) || store_turn_put(store, &a, err))
		return -1;
	if (r->suggestion &&
	    store_suggestion(store, pss->conv, "web", strbuf_str(&r->redacted),
			     now, err))
		return -1;
	return 0;
}

static int web_answer(struct web_vhd *vhd, struct web_pss *pss,
		      const struct json_client *m, lws_usec_t t_recv)
{
	struct server *srv = vhd->srv;
	struct reply *r = &vhd->reply;
	struct bot_err err = { 0 };
	struct web_frame *f;

	if (dialog_reply(srv->dialog, &pss->st, m->text, m->text_len,
			 time(NULL), r, &err)) {
		log_msg(LOG_ERR, "conversation '%s': cannot answer: %s",
			pss->conv, err.msg);
		return web_error(vhd, pss, err.rc == BOT_EPARSE ? "bad_utf8" :
				 "internal", m->id);
	}
	f = web_frame_get(vhd);
	if (!f)
		return web_error(vhd, pss, "internal", m->id);
	if (web_store_turn(vhd, pss, m, f, &err)) {
		log_msg(LOG_ERR, "conversation '%s': cannot store: %s",
			pss->conv, err.msg);
		web_frame_put(vhd, f);
		return web_error(vhd, pss, "internal", m->id);
	}
	metrics_answer(&srv->metrics, r);
	log_msg(LOG_INFO, "conversation '%s': intent %s (%.2f)%s", pss->conv,
		r->intent ? r->intent : "-", r->confidence,
		r->handoff ? " handoff" : "");
	log_msg(LOG_DEBUG, "conversation '%s': question '%s'", pss->conv,
		strbuf_str(&r->redacted));
	f->t_recv = t_recv;
	if (web_send(vhd, pss, f, 0))
		return -1;
	if (r->handoff)
		agent_citizen_handoff(srv, pss->conv, "web", r);
	return 0;
}

static int web_message(struct web_vhd *vhd, struct web_pss *pss,
		       const struct json_client *m, lws_usec_t t_recv)
{
	struct bot_err err = { 0 };
	int64_t reply_seq = 0;
	int rc;

	if (web_rate_limited(vhd, pss))
		return web_error(vhd, pss, "rate_limited", m->id);
	if (!pss->conv[0] && web_conv_new(vhd, pss))
		return web_error(vhd, pss, "internal", m->id);
	if (m->id && !agent_in_handoff(vhd->srv, pss->conv)) {
		rc = store_msg_seen(vhd->srv->store, pss->conv, m->id,
				    &reply_seq, &err);
		if (rc < 0) {
			log_msg(LOG_ERR, "cannot look up message: %s", err.msg);
			return web_error(vhd, pss, "internal", m->id);
		}
		/* answered before (a resend after a reconnect): same answer */
		if (rc == 1 && reply_seq > 0)
			return web_replay(vhd, pss, reply_seq - 1, reply_seq);
	}
	if (web_utf8_chars(m->text, m->text_len) >
	    (size_t)vhd->srv->conf->max_message)
		return web_error(vhd, pss, "too_long", m->id);
	/* a person has the conversation: the bot stays silent */
	if (agent_in_handoff(vhd->srv, pss->conv)) {
		if (agent_citizen_message(vhd->srv, pss->conv, m->id, m->text,
					  m->text_len))
			return web_error(vhd, pss, "internal", m->id);
		return 0;
	}
	return web_answer(vhd, pss, m, t_recv);
}

static int web_frame_in(struct web_vhd *vhd, struct web_pss *pss,
			const char *buf, size_t len, lws_usec_t t_recv)
{
	enum json_client_error e;
	struct json_client m;
	int rc = 0;

	if (text_utf8_check(buf, len, NULL))
		return web_error(vhd, pss, "bad_utf8", NULL);
	if (pss->agent)
		return agent_frame_in(vhd->srv, pss->agent, buf, len);
	e = json_client_parse(buf, len, &m);
	if (e)
		return web_error(vhd, pss, json_client_error_code(e), NULL);
	switch (m.type) {
	case JSON_HELLO:
		rc = web_hello(vhd, pss, &m);
		break;
	case JSON_MESSAGE:
		rc = web_message(vhd, pss, &m, t_recv);
		break;
	case JSON_FEEDBACK:
		rc = web_feedback(vhd, pss, &m);
		break;
	}
	json_client_release(&m);
	return rc;
}

/*
 * Gather the fragments of one message into pss->rx (capped at
 * max_frame).  An oversized message is answered with too_long once it
 * ends; a grossly oversized one closes the connection with 1009.
 */
static int web_receive(struct web_vhd *vhd, struct web_pss *pss,
		       struct lws *wsi, const void *in, size_t len)
{
	size_t max = (size_t)vhd->srv->conf->max_frame;

	if (!pss->rx_active) {
		pss->rx_active = 1;
		pss->rx_total = 0;
		pss->rx_refused = 0;
		strbuf_reset(&pss->rx);
	}
	pss->rx_total += len;
	if (pss->rx_total > 16 * max) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				 (unsigned char *)"too large", 9);
		return -1;
	}
	if (!pss->rx_refused && strbuf_add(&pss->rx, in, len))
		pss->rx_refused = 1;
	if (!lws_is_final_fragment(wsi))
		return 0;
	pss->rx_active = 0;
	if (pss->q_len >= WEB_QUEUE_MAX) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				 (unsigned char *)"slow reader", 11);
		return -1;
	}
	if (pss->rx_refused)
		web_error(vhd, pss, "too_long", NULL);
	else if (lws_frame_is_binary(wsi))
		web_error(vhd, pss, "bad_json", NULL);
	else
		web_frame_in(vhd, pss, strbuf_str(&pss->rx), pss->rx.len, lws_now_usecs());
	if (pss->rx.alloc > WEB_RX_KEEP)
		strbuf_release(&pss->rx);
	else
		strbuf_reset(&pss->rx);
	return 0;
}

/* ---- connections ------------------------------------------------------ */

int web_upgrade_allowed(const struct server *s, struct lws *wsi)
{
	char buf[256];
	int n;

	if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI) <= 0 ||
	    (strcmp(buf, WEB_PATH) && strcmp(buf, WEB_AGENT_PATH)))
		return 0;
	n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
	if (n == 0)
		return 1;	/* not a browser: nothing to protect */
	if (n >= (int)sizeof(buf) ||
	    lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_ORIGIN) <= 0 ||
	    !server_origin_allowed(s, buf)) {
		log_msg(LOG_NOTICE, "refused WebSocket from origin '%.100s'",
			n < (int)sizeof(buf) ? buf : "(too long)");
		return 0;
	}
	return 1;
}

/*
 * Refuse with 403 before the upgrade.  We hang up after writing the
 * status (-1) rather than returning 1, which keeps lws from continuing
 * the transaction on this connection (the path of CVE-2025-11677).
 */
static int web_confirm_upgrade(struct web_vhd *vhd, struct lws *wsi)
{
	if (web_upgrade_allowed(vhd->srv, wsi))
		return 0;
	lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
	return -1;
}

static int web_is_agent_path(struct lws *wsi)
{
	char uri[32];

	return lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 &&
	       !strcmp(uri, WEB_AGENT_PATH);
}

static int web_open(struct web_vhd *vhd, struct web_pss *pss, struct lws *wsi)
{
	long limit = vhd->srv->conf->rate_limit;

	pss->wsi = wsi;
	strbuf_init(&pss->rx, (size_t)vhd->srv->conf->max_frame);
	dialog_state_init(&pss->st);
	if (limit) {
		pss->rate = bot_calloc((size_t)limit, sizeof(*pss->rate));
		if (!pss->rate)
			return -1;
	}
	vhd->srv->open_connections++;
	pss->all_next = vhd->all;
	if (vhd->all)
		vhd->all->all_prev = pss;
	vhd->all = pss;
	if (web_is_agent_path(wsi)) {
		pss->agent = agent_conn_new(vhd->srv, pss, wsi);
		if (!pss->agent)
			return -1;
	}
	return 0;
}

static void web_close(struct web_vhd *vhd, struct web_pss *pss)
{
	struct web_pss **pp;
	struct web_frame *f;

	if (!pss->wsi)
		return;		/* ESTABLISHED failed before the open */
	if (pss->all_prev)
		pss->all_prev->all_next = pss->all_next;
	else if (vhd->all == pss)
		vhd->all = pss->all_next;
	if (pss->all_next)
		pss->all_next->all_prev = pss->all_prev;
	if (pss->agent)
		agent_conn_free(vhd->srv, &pss->agent);
	else if (pss->conv[0] && !web_conv_online(vhd->srv, pss->conv))
		agent_citizen_presence(vhd->srv, pss->conv, 0);
	for (pp = &vhd->waiting; *pp; pp = &(*pp)->wait_next)
		if (*pp == pss) {
			*pp = pss->wait_next;
			break;
		}
	while ((f = pss->q_head)) {
		pss->q_head = f->next;
		web_frame_put(vhd, f);
	}
	pss->q_tail = NULL;
	strbuf_release(&pss->rx);
	BOT_FREE(&pss->rate);
	pss->wsi = NULL;
	vhd->srv->open_connections--;
}

static int web_vhd_init(struct lws *wsi)
{
	struct web_vhd *vhd;

	vhd = lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi),
					  lws_get_protocol(wsi), sizeof(*vhd));
	if (!vhd)
		return -1;
	vhd->ctx = lws_get_context(wsi);
	vhd->srv = lws_context_user(vhd->ctx);
	vhd->srv->web = vhd;
	reply_init(&vhd->reply);
	return agent_hub_start(vhd->srv, vhd->ctx);
}

/* At shutdown: commit what is pending, free the recycled frames. */
static void web_vhd_destroy(struct web_vhd *vhd)
{
	struct web_frame *f;

	if (!vhd)
		return;
	agent_hub_stop(vhd->srv);
	web_commit(vhd, 0);
	while ((f = vhd->free)) {
		vhd->free = f->next;
		strbuf_release(&f->buf);
		bot_free(f);
	}
	reply_release(&vhd->reply);
}

static int web_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len)
{
	struct web_pss *pss = user;
	struct web_vhd *vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi),
						       lws_get_protocol(wsi));

	switch (reason) {
	case LWS_CALLBACK_PROTOCOL_INIT:
		return web_vhd_init(wsi);
	case LWS_CALLBACK_PROTOCOL_DESTROY:
		web_vhd_destroy(vhd);
		break;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return web_confirm_upgrade(vhd, wsi);
	case LWS_CALLBACK_HTTP:
		/* as the default protocol we get requests no mount served */
		if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* normally refused with 403 in HTTP_CONFIRM_UPGRADE already */
		return !web_upgrade_allowed(vhd->srv, wsi);
	case LWS_CALLBACK_ESTABLISHED:
		return web_open(vhd, pss, wsi);
	case LWS_CALLBACK_RECEIVE:
		return web_receive(vhd, pss, wsi, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return web_write_one(vhd, pss, wsi);
	case LWS_CALLBACK_CLOSED:
		web_close(vhd, pss);
		break;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
	return 0;
}

void web_protocol(struct lws_protocols *p)
{
	memset(p, 0, sizeof(*p));
	p->name = WEB_PROTOCOL_NAME;
	p->callback = web_callback;
	p->per_session_data_size = sizeof(struct web_pss);
	p->rx_buffer_size = 4096;
}
