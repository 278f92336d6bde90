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
	return strbuf_addf(sb, "%s\"%s\":", first ? "" : ",", key);
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
