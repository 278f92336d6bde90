/*
 * json.c - parse client frames with jansson; write replies with a small
 * streaming writer (no tree, no temporary allocations), because every
 * answer passes through here.
 */
#include "engine/bot.h"
#include "json.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine/dialog.h"
#include "engine/strbuf.h"

#include "engine/banned.h"

static const char *const json_codes[] = {
	[JSON_OK] = "ok",
	[JSON_BAD_JSON] = "bad_json",
	[JSON_UNKNOWN_TYPE] = "unknown_type",
	[JSON_MISSING_TEXT] = "missing_text",
};

const char *json_client_error_code(enum json_client_error e)
{
	return json_codes[e];
}

/* An optional integer member; 0 when absent. -1 when of the wrong type. */
static int json_get_int(json_t *o, const char *key, int64_t *v)
{
	json_t *x = json_object_get(o, key);

	*v = 0;
	if (!x || json_is_null(x))
		return 0;
	if (!json_is_integer(x))
		return -1;
	*v = json_integer_value(x);
	return 0;
}

static enum json_client_error json_parse_hello(json_t *o, struct json_client *m)
{
	json_t *c = json_object_get(o, "conversation");

	if (c && json_is_string(c))
		m->conversation = json_string_value(c);
	else if (c && !json_is_null(c))
		return JSON_BAD_JSON;
	if (json_get_int(o, "last_seq", &m->last_seq) || m->last_seq < 0)
		return JSON_BAD_JSON;
	return JSON_OK;
}

static enum json_client_error json_parse_message(json_t *o, struct json_client *m)
{
	json_t *id = json_object_get(o, "id");
	json_t *t = json_object_get(o, "text");

	if (id && json_is_string(id)) {
		m->id = json_string_value(id);
		if (!*m->id || strlen(m->id) > JSON_CLIENT_ID_MAX)
			return JSON_BAD_JSON;
	} else if (id && !json_is_null(id)) {
		return JSON_BAD_JSON;	/* ids are strings */
	}
	if (!t || !json_is_string(t))
		return JSON_MISSING_TEXT;
	m->text = json_string_value(t);
	m->text_len = json_string_length(t);
	if (m->text_len == strspn(m->text, " \t\r\n"))
		return JSON_MISSING_TEXT;
	return JSON_OK;
}

static enum json_client_error json_parse_feedback(json_t *o, struct json_client *m)
{
	json_t *h = json_object_get(o, "helpful");
	json_t *s = json_object_get(o, "seq");

	if (!h || !json_is_boolean(h) || !s || !json_is_integer(s))
		return JSON_BAD_JSON;
	m->helpful = json_is_true(h);
	m->seq = json_integer_value(s);
	return JSON_OK;
}

enum json_client_error json_client_parse(const char *buf, size_t len,
					 struct json_client *m)
{
	enum json_client_error e;
	const char *type;
	json_t *root;

	memset(m, 0, sizeof(*m));
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (!root)
		return JSON_BAD_JSON;
	if (!json_is_object(root)) {
		e = JSON_BAD_JSON;
		goto fail;
	}
	type = json_string_value(json_object_get(root, "type"));
	m->type = !type ? 0 : !strcmp(type, "hello") ? JSON_HELLO :
		  !strcmp(type, "message") ? JSON_MESSAGE :
		  !strcmp(type, "feedback") ? JSON_FEEDBACK : 0;
	if (m->type == JSON_HELLO)
		e = json_parse_hello(root, m);
	else if (m->type == JSON_MESSAGE)
		e = json_parse_message(root, m);
	else if (m->type == JSON_FEEDBACK)
		e = json_parse_feedback(root, m);
	else
		e = JSON_UNKNOWN_TYPE;
	if (e == JSON_OK) {
		m->doc = root;
		return JSON_OK;
	}
fail:
	json_decref(root);
	memset(m, 0, sizeof(*m));
	return e;
}

void json_client_release(struct json_client *m)
{
	if (m->doc)
		json_decref(m->doc);
	memset(m, 0, sizeof(*m));
}

/* ---- agents ---------------------------------------------------------- */

static const char *json_member(json_t *o, const char *key, size_t *len)
{
	json_t *x = json_object_get(o, key);

	if (!x || !json_is_string(x))
		return NULL;
	if (len)
		*len = json_string_length(x);
	return json_string_value(x);
}

enum json_client_error json_agent_parse(const char *buf, size_t len,
					struct json_agent *m)
{
	static const char *const types[] = {
		[JSON_AGENT_AUTH] = "auth", [JSON_AGENT_CLAIM] = "claim",
		[JSON_AGENT_MESSAGE] = "message", [JSON_AGENT_NOTE] = "note",
		[JSON_AGENT_RELEASE] = "release", [JSON_AGENT_CLOSE] = "close",
	};
	const char *type;
	json_t *root;
	size_t i;

	memset(m, 0, sizeof(*m));
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (!root)
		return JSON_BAD_JSON;
	if (!json_is_object(root)) {
		json_decref(root);
		return JSON_BAD_JSON;
	}
	type = json_member(root, "type", NULL);
	for (i = 1; type && i < BOT_ARRAY_SIZE(types); i++)
		if (!strcmp(type, types[i]))
			m->type = (enum json_agent_type)i;
	m->doc = root;
	m->token = json_member(root, "token", &m->token_len);
	m->conversation = json_member(root, "conversation", NULL);
	m->text = json_member(root, "text", &m->text_len);
	if (!m->type) {
		json_agent_release(m);
		return JSON_UNKNOWN_TYPE;
	}
	if ((m->type == JSON_AGENT_MESSAGE || m->type == JSON_AGENT_NOTE) &&
	    (!m->text || m->text_len == strspn(m->text, " \t\r\n"))) {
		json_agent_release(m);
		return JSON_MISSING_TEXT;
	}
	return JSON_OK;
}

void json_agent_release(struct json_agent *m)
{
	if (m->doc)
		json_decref(m->doc);
	memset(m, 0, sizeof(*m));
}

void json_member_str(const char *json, const char *key, char *out,
		     size_t size)
{
	json_t *root = json ? json_loads(json, 0, NULL) : NULL;
	const char *v = root ? json_member(root, key, NULL) : NULL;

	if (size)
		snprintf(out, size, "%s", v ? v : "");
	json_decref(root);
}

/* ---- writer ---------------------------------------------------------- */

int json_str_add(struct strbuf *sb, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char esc[7] = "\\u00";
	size_t i, start = 0;
	unsigned char ch;
	int rc = strbuf_addch(sb, '"');

	for (i = 0; !rc && i < len; i++) {
		ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		rc = strbuf_add(sb, s + start, i - start);
		start = i + 1;
		if (rc)
			break;
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			rc = strbuf_add(sb, esc, 2);
			esc[1] = 'u';
		} else if (ch == '\n') {
			rc = strbuf_add(sb, "\\n", 2);
		} else {
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			rc = strbuf_add(sb, esc, 6);
		}
	}
	if (!rc)
		rc = strbuf_add(sb, s + start, len - start);
	return rc ? rc : strbuf_addch(sb, '"');
}

/* A string or null. */
static int json_opt(struct strbuf *sb, const char *s)
{
	if (!s)
		return strbuf_add(sb, "null", 4);
	return json_str_add(sb, s, strlen(s));
}

int json_opt_add(struct strbuf *sb, const char *s)
{
	return json_opt(sb, s);
}

/* ',"key":' with the comma unless 'first'. */
static int json_key(struct strbuf *sb, const char *key, int first)
{
	/* no printf: this runs some twenty times per answer */
	return (!first && strbuf_addch(sb, ',')) || strbuf_addch(sb, '"') ||
	       strbuf_adds(sb, key) || strbuf_add(sb, "\":", 2);
}

static int json_reply_sources(struct strbuf *sb, const struct reply *r)
{
	size_t i;
	int rc = json_key(sb, "sources", 0) || strbuf_addch(sb, '[');

	for (i = 0; !rc && i < r->n_sources; i++)
		rc = strbuf_adds(sb, i ? ",{" : "{") ||
		     json_key(sb, "title", 1) ||
		     json_opt(sb, r->sources[i].title) ||
		     json_key(sb, "url", 0) ||
		     json_opt(sb, r->sources[i].url) || strbuf_addch(sb, '}');
	return rc || strbuf_addch(sb, ']') ? BOT_ENOMEM : BOT_OK;
}

static int json_reply_alts(struct strbuf *sb, const struct reply *r)
{
	size_t i;
	int rc = json_key(sb, "alternatives", 0) || strbuf_addch(sb, '[');

	for (i = 0; !rc && i < r->n_alts; i++)
		rc = strbuf_adds(sb, i ? ",{" : "{") ||
		     json_key(sb, "intent", 1) || json_opt(sb, r->alts[i].intent) ||
		     json_key(sb, "service", 0) || json_opt(sb, r->alts[i].service) ||
		     json_key(sb, "label", 0) || json_opt(sb, r->alts[i].label) ||
		     json_key(sb, "confidence", 0) ||
		     strbuf_addf(sb, "%.2f}", r->alts[i].confidence);
	return rc || strbuf_addch(sb, ']') ? BOT_ENOMEM : BOT_OK;
}

static int json_reply_quick(struct strbuf *sb, const struct reply *r)
{
	size_t i;
	int rc = json_key(sb, "quick_replies", 0) || strbuf_addch(sb, '[');

	for (i = 0; !rc && i < r->n_quick; i++)
		rc = (i && strbuf_addch(sb, ',')) ||
		     json_str_add(sb, r->quick[i], strnlen(r->quick[i], REPLY_QUICK_LEN));
	return rc || strbuf_addch(sb, ']') ? BOT_ENOMEM : BOT_OK;
}

/* intent, service, office, confidence, answer */
static int json_reply_main(struct strbuf *sb, const struct reply *r)
{
	return json_opt(sb, r->intent) ||
	       json_key(sb, "service", 0) || json_opt(sb, r->service) ||
	       json_key(sb, "office", 0) || json_opt(sb, r->office) ||
	       json_key(sb, "confidence", 0) ||
	       strbuf_addf(sb, "%.2f", r->confidence) ||
	       json_key(sb, "answer", 0) ||
	       json_str_add(sb, strbuf_str(&r->answer), r->answer.len);
}

static int json_reply_handoff(struct strbuf *sb, const struct reply *r)
{
	return json_key(sb, "handoff", 0) ||
	       strbuf_adds(sb, r->handoff ? "true" : "false") ||
	       json_key(sb, "handoff_reason", 0) ||
	       json_opt(sb, r->handoff_reason);
}

int json_reply_add(struct strbuf *sb, const struct reply *r, int64_t seq,
		   const char *reply_to)
{
	int rc;

	if (seq > 0)
		rc = strbuf_addf(sb, "{\"type\":\"answer\",\"seq\":%lld,\"reply_to\":",
				 (long long)seq) || json_opt(sb, reply_to) ||
		     json_key(sb, "intent", 0);
	else
		rc = strbuf_adds(sb, "{\"intent\":");
	rc = rc || json_reply_main(sb, r) || json_reply_sources(sb, r) ||
	     json_reply_handoff(sb, r) || json_reply_alts(sb, r) ||
	     json_reply_quick(sb, r) || strbuf_addch(sb, '}');
	return rc ? BOT_ENOMEM : BOT_OK;
}

char *json_reply_text(const struct reply *r)
{
	struct strbuf sb;
	char *s;

	strbuf_init(&sb, 0);
	if (json_reply_add(&sb, r, 0, NULL)) {
		strbuf_release(&sb);
		return NULL;
	}
	s = strbuf_detach(&sb);
	return s;
}

int json_welcome_add(struct strbuf *sb, const char *conv, int64_t seq)
{
	if (strbuf_adds(sb, "{\"type\":\"welcome\",\"conversation\":") ||
	    json_opt(sb, conv) ||
	    strbuf_addf(sb, ",\"seq\":%lld}", (long long)seq))
		return BOT_ENOMEM;
	return BOT_OK;
}

int json_citizen_add(struct strbuf *sb, int64_t seq, const char *client_id,
		     const char *text)
{
	if (strbuf_addf(sb, "{\"type\":\"message\",\"seq\":%lld,"
			"\"from\":\"citizen\",\"id\":", (long long)seq) ||
	    json_opt(sb, client_id) || json_key(sb, "text", 0) ||
	    json_opt(sb, text ? text : "") || strbuf_addch(sb, '}'))
		return BOT_ENOMEM;
	return BOT_OK;
}

int json_ok_add(struct strbuf *sb, int64_t seq)
{
	return strbuf_addf(sb, "{\"type\":\"ok\",\"seq\":%lld}", (long long)seq);
}

int json_error_add(struct strbuf *sb, const char *code, const char *message,
		   const char *reply_to)
{
	if (strbuf_adds(sb, "{\"type\":\"error\",\"code\":") ||
	    json_opt(sb, code) || json_key(sb, "message", 0) ||
	    json_opt(sb, message) ||
	    (reply_to && (json_key(sb, "reply_to", 0) || json_opt(sb, reply_to))) ||
	    strbuf_addch(sb, '}'))
		return BOT_ENOMEM;
	return BOT_OK;
}

/* ---- Messenger -------------------------------------------------------- */

/* A member that may be a string or a number, as text ("" when neither). */
static void json_msgr_id(json_t *o, const char *key, char *out, size_t size)
{
	json_t *x = json_object_get(o, key);

	out[0] = '\0';
	if (json_is_string(x))
		snprintf(out, size, "%s", json_string_value(x));
	else if (json_is_integer(x))
		snprintf(out, size, "%lld", (long long)json_integer_value(x));
}

static void json_msgr_message(json_t *msg, struct json_msgr_event *e)
{
	json_t *qr = json_object_get(msg, "quick_reply");

	e->mid = json_member(msg, "mid", NULL);
	e->text = json_member(msg, "text", &e->text_len);
	e->metadata = json_member(msg, "metadata", NULL);
	if (json_is_object(qr))
		e->payload = json_member(qr, "payload", &e->payload_len);
	if (json_is_true(json_object_get(msg, "is_echo"))) {
		e->kind = JSON_MSGR_ECHO;
		json_msgr_id(msg, "app_id", e->app_id, sizeof(e->app_id));
	} else {
		e->kind = e->text && e->text_len ? JSON_MSGR_TEXT :
			  JSON_MSGR_ATTACHMENT;
	}
}

static void json_msgr_handover(json_t *o, enum json_msgr_kind kind,
			       struct json_msgr_event *e)
{
	e->kind = kind;
	e->metadata = json_member(o, "metadata", NULL);
	json_msgr_id(o, kind == JSON_MSGR_PASS ? "new_owner_app_id" :
		     kind == JSON_MSGR_TAKE ? "previous_owner_app_id" :
		     "requested_owner_app_id", e->app_id, sizeof(e->app_id));
}

/* Dispatch on which member the event has (reference 1.3). */
static void json_msgr_event(json_t *ev, int standby, struct json_msgr_event *e)
{
	json_t *x, *s = json_object_get(ev, "sender");
	json_int_t ts;

	memset(e, 0, sizeof(*e));
	e->standby = standby;
	if (json_is_object(s)) {
		e->sender = json_member(s, "id", NULL);
		e->user_ref = json_member(s, "user_ref", NULL);
	}
	x = json_object_get(ev, "recipient");
	if (json_is_object(x))
		e->recipient = json_member(x, "id", NULL);
	ts = json_integer_value(json_object_get(ev, "timestamp"));
	e->timestamp = ts > 0 ? (int64_t)ts : 0;
	if (json_is_object(x = json_object_get(ev, "message"))) {
		json_msgr_message(x, e);
	} else if (json_is_object(x = json_object_get(ev, "postback"))) {
		e->kind = JSON_MSGR_POSTBACK;
		e->mid = json_member(x, "mid", NULL);
		e->text = json_member(x, "title", &e->text_len);
		e->payload = json_member(x, "payload", &e->payload_len);
	} else if (json_is_object(json_object_get(ev, "delivery"))) {
		e->kind = JSON_MSGR_DELIVERY;
	} else if (json_is_object(json_object_get(ev, "read"))) {
		e->kind = JSON_MSGR_READ;
	} else if (json_is_object(x = json_object_get(ev, "pass_thread_control"))) {
		json_msgr_handover(x, JSON_MSGR_PASS, e);
	} else if (json_is_object(x = json_object_get(ev, "take_thread_control"))) {
		json_msgr_handover(x, JSON_MSGR_TAKE, e);
	} else if (json_is_object(x = json_object_get(ev, "request_thread_control"))) {
		json_msgr_handover(x, JSON_MSGR_REQUEST, e);
	}
}

/* Walk entry[].messaging[] and entry[].standby[]; store at most 'max'. */
static size_t json_msgr_walk(json_t *entries, struct json_msgr *m, size_t max)
{
	static const char *const lists[] = { "messaging", "standby" };
	json_t *entry, *list, *ev;
	size_t i, j, k, n = 0;

	json_array_foreach(entries, i, entry) {
		for (k = 0; k < BOT_ARRAY_SIZE(lists); k++) {
			list = json_object_get(entry, lists[k]);
			if (!json_is_array(list))
				continue;
			json_array_foreach(list, j, ev) {
				if (!json_is_object(ev))
					continue;
				if (m->ev && n < max)
					json_msgr_event(ev, (int)k, &m->ev[n]);
				n++;
			}
		}
	}
	return n;
}

enum json_client_error json_msgr_parse(const char *buf, size_t len,
				       size_t max_events, struct json_msgr *m)
{
	json_t *root, *entries;
	size_t n;

	memset(m, 0, sizeof(*m));
	root = json_loadb(buf, len, 0, NULL);
	if (!root)
		return JSON_BAD_JSON;
	if (!json_is_object(root)) {
		json_decref(root);
		return JSON_BAD_JSON;
	}
	m->doc = root;
	m->object = json_member(root, "object", NULL);
	entries = json_object_get(root, "entry");
	if (!json_is_array(entries))
		return JSON_OK;
	n = json_msgr_walk(entries, m, 0);
	if (!n)
		return JSON_OK;
	m->ev = bot_calloc(n < max_events ? n : max_events, sizeof(*m->ev));
	if (!m->ev) {
		json_msgr_release(m);
		return JSON_BAD_JSON;
	}
	m->n = json_msgr_walk(entries, m, max_events);
	return JSON_OK;
}

void json_msgr_release(struct json_msgr *m)
{
	if (m->doc)
		json_decref(m->doc);
	bot_free(m->ev);
	memset(m, 0, sizeof(*m));
}

/* "recipient":{"id":..} or {"user_ref":..} */
static int json_msgr_rcpt(struct strbuf *sb, const char *rcpt)
{
	int ref = !strncmp(rcpt, "ref:", 4);
	const char *v = strchr(rcpt, ':');

	v = v ? v + 1 : rcpt;
	return strbuf_adds(sb, ref ? "{\"recipient\":{\"user_ref\":" :
			   "{\"recipient\":{\"id\":") ||
	       json_opt(sb, v) || strbuf_addch(sb, '}');
}

static int json_msgr_quick(struct strbuf *sb, const char *const *titles,
			   const char *const *payloads, size_t n)
{
	size_t i;
	int rc = strbuf_adds(sb, ",\"quick_replies\":[");

	for (i = 0; !rc && i < n; i++)
		rc = strbuf_adds(sb, i ? ",{\"content_type\":\"text\",\"title\":" :
				 "{\"content_type\":\"text\",\"title\":") ||
		     json_opt(sb, titles[i]) || json_key(sb, "payload", 0) ||
		     json_opt(sb, payloads[i]) || strbuf_addch(sb, '}');
	return rc || strbuf_addch(sb, ']');
}

int json_msgr_message_add(struct strbuf *sb, const char *rcpt,
			  const char *type, const char *tag, const char *meta,
			  const char *text, size_t len,
			  const char *const *titles,
			  const char *const *payloads, size_t n_quick)
{
	if (json_msgr_rcpt(sb, rcpt) || json_key(sb, "messaging_type", 0) ||
	    json_opt(sb, type) ||
	    (tag && (json_key(sb, "tag", 0) || json_opt(sb, tag))) ||
	    strbuf_adds(sb, ",\"message\":{\"text\":") ||
	    json_str_add(sb, text, len) ||
	    (meta && (json_key(sb, "metadata", 0) || json_opt(sb, meta))) ||
	    (n_quick && json_msgr_quick(sb, titles, payloads, n_quick)) ||
	    strbuf_adds(sb, "}}"))
		return BOT_ENOMEM;
	return BOT_OK;
}

int json_msgr_action_add(struct strbuf *sb, const char *rcpt,
			 const char *action)
{
	if (json_msgr_rcpt(sb, rcpt) || json_key(sb, "sender_action", 0) ||
	    json_opt(sb, action) || strbuf_addch(sb, '}'))
		return BOT_ENOMEM;
	return BOT_OK;
}

int json_msgr_thread_add(struct strbuf *sb, const char *rcpt,
			 const char *target, const char *meta)
{
	if (json_msgr_rcpt(sb, rcpt) ||
	    (target && strbuf_addf(sb, ",\"target_app_id\":%s", target)) ||
	    json_key(sb, "metadata", 0) || json_opt(sb, meta) ||
	    strbuf_addch(sb, '}'))
		return BOT_ENOMEM;
	return BOT_OK;
}

int json_msgr_error_parse(const char *buf, size_t len, long *code,
			  long *subcode, char *msg, size_t size)
{
	json_t *root = json_loadb(buf, len, 0, NULL), *e;
	const char *m;
	int found = 0;

	*code = *subcode = 0;
	if (size)
		msg[0] = '\0';
	e = json_is_object(root) ? json_object_get(root, "error") : NULL;
	if (json_is_object(e)) {
		found = 1;
		*code = (long)json_integer_value(json_object_get(e, "code"));
		*subcode = (long)json_integer_value(json_object_get(e,
							"error_subcode"));
		m = json_member(e, "message", NULL);
		if (m && size)
			snprintf(msg, size, "%s", m);
	}
	json_decref(root);
	return found;
}

/* ---- statistics (/stats and 'amtsbot stats --json') ------------------- */

#include "engine/stats.h"	/* here: this part was added later, at the end */

static int json_stats_num(struct strbuf *sb, int has, int64_t v)
{
	return has ? strbuf_addf(sb, "%lld", (long long)v) : strbuf_adds(sb, "null");
}

/* "name":{"now":N,"before":N|null}; the wait times are null when absent. */
static int json_stats_pair(struct strbuf *sb, const char *name, size_t len,
			   const struct stats_row *r, int first)
{
	return (!first && strbuf_addch(sb, ',')) || json_str_add(sb, name, len) ||
	       strbuf_adds(sb, ":{\"now\":") ||
	       json_stats_num(sb, r->has_now, r->now) ||
	       strbuf_adds(sb, ",\"before\":") ||
	       json_stats_num(sb, r->has_before, r->before) ||
	       strbuf_addch(sb, '}');
}

static int json_stats_share(struct strbuf *sb, const struct stats_row *rows,
			    size_t n)
{
	int64_t v[2][2] = { { 0, 0 }, { 0, 0 } };	/* [now|before][answered|answers] */
	size_t i;
	int k, rc = json_key(sb, "answered_share", 0) || strbuf_addch(sb, '{');

	for (i = 0; i < n; i++)
		for (k = 0; k < 2; k++)
			if (!strcmp(rows[i].key, k ? "answers" : "answered")) {
				v[0][k] = rows[i].now;
				v[1][k] = rows[i].before;
			}
	for (k = 0; !rc && k < 2; k++) {
		rc = json_key(sb, k ? "before" : "now", !k);
		if (!rc && v[k][1])
			rc = strbuf_addf(sb, "%.4f", (double)v[k][0] / (double)v[k][1]);
		else if (!rc)
			rc = strbuf_adds(sb, "null");
	}
	return rc || strbuf_addch(sb, '}');
}

/* "totals":{...},"groups":{"intent":{...},...} */
static int json_stats_figures(struct strbuf *sb, const struct stats_row *rows,
			      size_t n)
{
	const char *colon;
	size_t i, glen, open = 0, open_len = 0;
	int rc = json_key(sb, "totals", 0) || strbuf_addch(sb, '{');
	int first = 1, first_group = 1;

	for (i = 0; !rc && i < n && !strchr(rows[i].key, ':'); i++, first = 0)
		rc = json_stats_pair(sb, rows[i].key, strlen(rows[i].key), &rows[i],
				     first);
	rc = rc || strbuf_addch(sb, '}') || json_key(sb, "groups", 0) ||
	     strbuf_addch(sb, '{');
	for (; !rc && i < n; i++) {
		colon = strchr(rows[i].key, ':');
		if (!colon)
			continue;
		glen = (size_t)(colon - rows[i].key);
		if (first_group || glen != open_len ||
		    strncmp(rows[open].key, rows[i].key, glen)) {
			rc = (!first_group && strbuf_adds(sb, "},")) ||
			     json_str_add(sb, rows[i].key, glen) ||
			     strbuf_adds(sb, ":{");
			first_group = 0;
			first = 1;
			open = i;
			open_len = glen;
		}
		rc = rc || json_stats_pair(sb, colon + 1, strlen(colon + 1),
					   &rows[i], first);
		first = 0;
	}
	if (!rc && !first_group)
		rc = strbuf_addch(sb, '}');
	return rc || strbuf_addch(sb, '}') || json_stats_share(sb, rows, n);
}

static int json_stats_lists(struct strbuf *sb, const struct json_stats *st)
{
	size_t i;
	int rc = 0;

	if (st->groups) {
		rc = json_key(sb, "unanswered", 0) || strbuf_addch(sb, '[');
		for (i = 0; !rc && i < st->n_groups; i++)
			rc = (i && strbuf_addch(sb, ',')) ||
			     strbuf_adds(sb, "{\"text\":") ||
			     json_opt(sb, st->groups[i].text) ||
			     strbuf_addf(sb, ",\"count\":%zu,\"variants\":%zu,"
					 "\"closest\":", st->groups[i].n,
					 st->groups[i].n_variants) ||
			     json_opt(sb, st->groups[i].closest) ||
			     strbuf_addch(sb, '}');
		rc = rc || strbuf_addch(sb, ']');
	}
	if (!rc && st->sugg) {
		rc = json_key(sb, "suggestions", 0) || strbuf_addch(sb, '[');
		for (i = 0; !rc && i < st->n_sugg; i++)
			rc = (i && strbuf_addch(sb, ',')) ||
			     strbuf_adds(sb, "{\"day\":") ||
			     json_opt(sb, st->sugg[i].day) ||
			     json_key(sb, "channel", 0) ||
			     json_opt(sb, st->sugg[i].channel) ||
			     json_key(sb, "text", 0) ||
			     json_opt(sb, st->sugg[i].text) || strbuf_addch(sb, '}');
		rc = rc || strbuf_addch(sb, ']');
	}
	if (!rc && st->stale) {
		rc = json_key(sb, "stale", 0) || strbuf_addch(sb, '[');
		for (i = 0; !rc && i < st->n_stale; i++)
			rc = (i && strbuf_addch(sb, ',')) ||
			     strbuf_adds(sb, "{\"kind\":") ||
			     json_opt(sb, st->stale[i].kind) ||
			     json_key(sb, "id", 0) || json_opt(sb, st->stale[i].id) ||
			     json_key(sb, "name", 0) ||
			     json_opt(sb, st->stale[i].name) ||
			     json_key(sb, "team", 0) ||
			     json_opt(sb, st->stale[i].team) ||
			     json_key(sb, "reviewed", 0) ||
			     json_opt(sb, st->stale[i].reviewed) ||
			     strbuf_addch(sb, '}');
		rc = rc || strbuf_addch(sb, ']');
	}
	return rc;
}

int json_stats_add(struct strbuf *sb, const struct json_stats *st)
{
	int rc = strbuf_adds(sb, "{\"period\":{\"since\":") ||
		 json_opt(sb, st->since) || json_key(sb, "until", 0) ||
		 json_opt(sb, st->until) ||
		 strbuf_adds(sb, "},\"previous\":{\"since\":") ||
		 json_opt(sb, st->prev_since) || json_key(sb, "until", 0) ||
		 json_opt(sb, st->prev_until) || strbuf_addch(sb, '}') ||
		 json_stats_figures(sb, st->rows, st->n_rows) ||
		 json_stats_lists(sb, st) || strbuf_adds(sb, "}\n");

	return rc ? BOT_ENOMEM : BOT_OK;
}
