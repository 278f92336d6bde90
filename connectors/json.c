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

/*
 * Every answer frame passes through here (30,000 a second on one core),
 * so the hot writers avoid printf and build the frame in a stack buffer
 * in front of the strbuf: an answer is some sixty small pieces, and one
 * strbuf_add() per piece used to cost more than the bytes themselves.
 */
#define JSON_OUT_SIZE 1024

struct json_out {
	struct strbuf *sb;
	size_t len;
	int rc;			/* sticky: after a failure nothing is added */
	char buf[JSON_OUT_SIZE];
};

/* A string literal with its length known at compile time. */
#define JSON_LIT(o, s) json_put(o, "" s, sizeof(s) - 1)

static void json_out_init(struct json_out *o, struct strbuf *sb)
{
	o->sb = sb;
	o->len = 0;
	o->rc = BOT_OK;
}

static void json_out_flush(struct json_out *o)
{
	if (o->len && !o->rc)
		o->rc = strbuf_add(o->sb, o->buf, o->len);
	o->len = 0;
}

/* Flush and return BOT_OK or BOT_ENOMEM. */
static int json_out_done(struct json_out *o)
{
	json_out_flush(o);
	return o->rc ? BOT_ENOMEM : BOT_OK;
}

/* What does not fit in the stage: flush, and copy a long run at once. */
static void json_put_slow(struct json_out *o, const char *s, size_t n)
{
	json_out_flush(o);
	if (n > sizeof(o->buf)) {	/* a long answer: no copy */
		if (!o->rc)
			o->rc = strbuf_add(o->sb, s, n);
		return;
	}
	memcpy(o->buf, s, n);
	o->len = n;
}

/* Inline: most pieces are literals whose memcpy() becomes a few moves. */
static inline void json_put(struct json_out *o, const char *s, size_t n)
{
	if (n > sizeof(o->buf) - o->len) {
		json_put_slow(o, s, n);
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* Like printf's "%lld". */
static void json_int(struct json_out *o, int64_t v)
{
	char d[24], *p = d + sizeof(d);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	json_put(o, p, (size_t)(d + sizeof(d) - p));
}

/*
 * Like printf's "%.2f", byte for byte.  glibc prints the exact binary
 * value rounded to nearest, ties to even; x = m * 2^-s, so x * 100 is
 * the integer m * 100 (< 2^60) shifted right by s, and the bits shifted
 * out decide the rounding exactly.  Values outside [0, 1e6) (never a
 * confidence) and -0.0 take printf.
 */
static void json_fixed2(struct json_out *o, double x)
{
	uint64_t bits, m, q = 0, r, half;
	unsigned e, s;
	char d[3];

	memcpy(&bits, &x, sizeof(bits));
	if (!(x >= 0.0 && x < 1e6) || bits >> 63) {
		json_out_flush(o);
		if (!o->rc)
			o->rc = strbuf_addf(o->sb, "%.2f", x);
		return;
	}
	e = (unsigned)(bits >> 52) & 0x7ff;
	m = bits & ((UINT64_C(1) << 52) - 1);
	if (e)
		m |= UINT64_C(1) << 52;
	else
		e = 1;			/* subnormal */
	s = 1075 - e;			/* >= 33 below 1e6 */
	if (s < 64) {			/* else x * 100 < 1/16: 0.00 */
		q = (m * 100) >> s;
		r = (m * 100) & ((UINT64_C(1) << s) - 1);
		half = UINT64_C(1) << (s - 1);
		q += r > half || (r == half && (q & 1));
	}
	json_int(o, (int64_t)(q / 100));
	d[0] = '.';
	d[1] = (char)('0' + q % 100 / 10);
	d[2] = (char)('0' + q % 10);
	json_put(o, d, 3);
}

#define JSON_ONES UINT64_C(0x0101010101010101)

/* Whether none of the 8 bytes at 's' needs escaping (no control
 * character, '"' or '\'): the exact "has a byte less than n" and "has a
 * zero byte" tests of "Bit Twiddling Hacks". */
static int json_plain8(const char *s)
{
	uint64_t x, q, b;

	memcpy(&x, s, sizeof(x));
	q = x ^ (JSON_ONES * '"');
	b = x ^ (JSON_ONES * '\\');
	return !((((x - JSON_ONES * 0x20) & ~x) | ((q - JSON_ONES) & ~q) |
		  ((b - JSON_ONES) & ~b)) & (JSON_ONES * 0x80));
}

static int json_plain(unsigned char ch)
{
	return ch >= 0x20 && ch != '"' && ch != '\\';
}

static void json_esc_char(struct json_out *o, unsigned char ch)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };

	if (ch == '"' || ch == '\\') {
		esc[1] = (char)ch;
		json_put(o, esc, 2);
	} else if (ch == '\n') {
		JSON_LIT(o, "\\n");
	} else {
		json_put(o, esc, 6);
	}
}

/* A JSON string literal: runs of plain bytes are copied at once. */
static void json_str(struct json_out *o, const char *s, size_t len)
{
	size_t i = 0, start = 0;

	json_put(o, "\"", 1);
	for (;;) {
		while (len - i >= 8 && json_plain8(s + i))
			i += 8;
		while (i < len && json_plain((unsigned char)s[i]))
			i++;
		if (i == len)
			break;
		json_put(o, s + start, i - start);
		json_esc_char(o, (unsigned char)s[i]);
		start = ++i;
	}
	json_put(o, s + start, len - start);
	json_put(o, "\"", 1);
}

/* A string or null. */
static void json_ostr(struct json_out *o, const char *s)
{
	if (s)
		json_str(o, s, strlen(s));
	else
		JSON_LIT(o, "null");
}

int json_str_add(struct strbuf *sb, const char *s, size_t len)
{
	struct json_out o;

	json_out_init(&o, sb);
	json_str(&o, s, len);
	return json_out_done(&o);
}

/* A string or null. */
static int json_opt(struct strbuf *sb, const char *s)
{
	struct json_out o;

	json_out_init(&o, sb);
	json_ostr(&o, s);
	return json_out_done(&o);
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

static void json_reply_sources(struct json_out *o, const struct reply *r)
{
	size_t i;

	JSON_LIT(o, ",\"sources\":[");
	for (i = 0; i < r->n_sources; i++) {
		if (i)
			json_put(o, ",", 1);
		JSON_LIT(o, "{\"title\":");
		json_ostr(o, r->sources[i].title);
		JSON_LIT(o, ",\"url\":");
		json_ostr(o, r->sources[i].url);
		json_put(o, "}", 1);
	}
	json_put(o, "]", 1);
}

static void json_reply_alts(struct json_out *o, const struct reply *r)
{
	size_t i;

	JSON_LIT(o, ",\"alternatives\":[");
	for (i = 0; i < r->n_alts; i++) {
		if (i)
			json_put(o, ",", 1);
		JSON_LIT(o, "{\"intent\":");
		json_ostr(o, r->alts[i].intent);
		JSON_LIT(o, ",\"service\":");
		json_ostr(o, r->alts[i].service);
		JSON_LIT(o, ",\"label\":");
		json_ostr(o, r->alts[i].label);
		JSON_LIT(o, ",\"confidence\":");
		json_fixed2(o, r->alts[i].confidence);
		json_put(o, "}", 1);
	}
	json_put(o, "]", 1);
}

static void json_reply_quick(struct json_out *o, const struct reply *r)
{
	size_t i;

	JSON_LIT(o, ",\"quick_replies\":[");
	for (i = 0; i < r->n_quick; i++) {
		if (i)
			json_put(o, ",", 1);
		json_str(o, r->quick[i], strnlen(r->quick[i], REPLY_QUICK_LEN));
	}
	json_put(o, "]", 1);
}

/* intent ... handoff_reason */
static void json_reply_main(struct json_out *o, const struct reply *r)
{
	json_ostr(o, r->intent);
	JSON_LIT(o, ",\"service\":");
	json_ostr(o, r->service);
	JSON_LIT(o, ",\"office\":");
	json_ostr(o, r->office);
	JSON_LIT(o, ",\"confidence\":");
	json_fixed2(o, r->confidence);
	JSON_LIT(o, ",\"answer\":");
	json_str(o, strbuf_str(&r->answer), r->answer.len);
	json_reply_sources(o, r);
	if (r->handoff)
		JSON_LIT(o, ",\"handoff\":true,\"handoff_reason\":");
	else
		JSON_LIT(o, ",\"handoff\":false,\"handoff_reason\":");
	json_ostr(o, r->handoff_reason);
}

int json_reply_add(struct strbuf *sb, const struct reply *r, int64_t seq,
		   const char *reply_to)
{
	struct json_out o;

	json_out_init(&o, sb);
	if (seq > 0) {
		JSON_LIT(&o, "{\"type\":\"answer\",\"seq\":");
		json_int(&o, seq);
		JSON_LIT(&o, ",\"reply_to\":");
		json_ostr(&o, reply_to);
		JSON_LIT(&o, ",\"intent\":");
	} else {
		JSON_LIT(&o, "{\"intent\":");
	}
	json_reply_main(&o, r);
	json_reply_alts(&o, r);
	json_reply_quick(&o, r);
	json_put(&o, "}", 1);
	return json_out_done(&o);
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
	struct json_out o;

	json_out_init(&o, sb);
	JSON_LIT(&o, "{\"type\":\"welcome\",\"conversation\":");
	json_ostr(&o, conv);
	JSON_LIT(&o, ",\"seq\":");
	json_int(&o, seq);
	json_put(&o, "}", 1);
	return json_out_done(&o);
}

int json_citizen_add(struct strbuf *sb, int64_t seq, const char *client_id,
		     const char *text)
{
	struct json_out o;

	json_out_init(&o, sb);
	JSON_LIT(&o, "{\"type\":\"message\",\"seq\":");
	json_int(&o, seq);
	JSON_LIT(&o, ",\"from\":\"citizen\",\"id\":");
	json_ostr(&o, client_id);
	JSON_LIT(&o, ",\"text\":");
	json_ostr(&o, text ? text : "");
	json_put(&o, "}", 1);
	return json_out_done(&o);
}

int json_ok_add(struct strbuf *sb, int64_t seq)
{
	struct json_out o;

	json_out_init(&o, sb);
	JSON_LIT(&o, "{\"type\":\"ok\",\"seq\":");
	json_int(&o, seq);
	json_put(&o, "}", 1);
	return json_out_done(&o);
}

int json_error_add(struct strbuf *sb, const char *code, const char *message,
		   const char *reply_to)
{
	struct json_out o;

	json_out_init(&o, sb);
	JSON_LIT(&o, "{\"type\":\"error\",\"code\":");
	json_ostr(&o, code);
	JSON_LIT(&o, ",\"message\":");
	json_ostr(&o, message);
	if (reply_to) {
		JSON_LIT(&o, ",\"reply_to\":");
		json_ostr(&o, reply_to);
	}
	json_put(&o, "}", 1);
	return json_out_done(&o);
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

/*
 * "totals":{...}: stats_rows() puts the totals first, and only they have
 * no ':' in their key; '*end' gets the index of the first group row.
 */
static int json_stats_totals(struct strbuf *sb, const struct stats_row *rows,
			     size_t n, size_t *end)
{
	size_t i;

	if (json_key(sb, "totals", 0) || strbuf_addch(sb, '{'))
		return 1;
	for (i = 0; i < n && !strchr(rows[i].key, ':'); i++)
		if (json_stats_pair(sb, rows[i].key, strlen(rows[i].key),
				    &rows[i], !i))
			return 1;
	*end = i;
	return strbuf_addch(sb, '}');
}

/* Whether "group:" of 'key' (group 'len' bytes) is the group still open;
 * 'open' is NULL before the first group. */
static int json_stats_same_group(const char *open, size_t open_len,
				 const char *key, size_t len)
{
	return open && len == open_len && !strncmp(open, key, len);
}

/*
 * "groups":{"intent":{"name":{...},...},...}.  A group is opened whenever
 * the prefix changes, so the rows must come grouped (stats_rows() order);
 * a row without ':' among them is not a group row and is left out.
 */
static int json_stats_groups(struct strbuf *sb, const struct stats_row *rows,
			     size_t i, size_t n)
{
	const char *colon, *open = NULL;
	size_t len, open_len = 0;
	int first = 1;

	if (json_key(sb, "groups", 0) || strbuf_addch(sb, '{'))
		return 1;
	for (; i < n; i++) {
		colon = strchr(rows[i].key, ':');
		if (!colon)
			continue;
		len = (size_t)(colon - rows[i].key);
		if (!json_stats_same_group(open, open_len, rows[i].key, len)) {
			if ((open && strbuf_adds(sb, "},")) ||
			    json_str_add(sb, rows[i].key, len) ||
			    strbuf_adds(sb, ":{"))
				return 1;
			open = rows[i].key;
			open_len = len;
			first = 1;
		}
		if (json_stats_pair(sb, colon + 1, strlen(colon + 1), &rows[i],
				    first))
			return 1;
		first = 0;
	}
	return (open && strbuf_addch(sb, '}')) || strbuf_addch(sb, '}');
}

/* "totals":{...},"groups":{"intent":{...},...},"answered_share":{...} */
static int json_stats_figures(struct strbuf *sb, const struct stats_row *rows,
			      size_t n)
{
	size_t end = 0;

	return json_stats_totals(sb, rows, n, &end) ||
	       json_stats_groups(sb, rows, end, n) ||
	       json_stats_share(sb, rows, n);
}

/* One entry of a list below; 'i' indexes the list of the same name. */
typedef int (*json_stats_item_fn)(struct strbuf *sb,
				  const struct json_stats *st, size_t i);

static int json_stats_unanswered(struct strbuf *sb,
				 const struct json_stats *st, size_t i)
{
	const struct stats_group *g = &st->groups[i];

	return strbuf_adds(sb, "{\"text\":") || json_opt(sb, g->text) ||
	       strbuf_addf(sb, ",\"count\":%zu,\"variants\":%zu,\"closest\":",
			   g->n, g->n_variants) ||
	       json_opt(sb, g->closest) || strbuf_addch(sb, '}');
}

static int json_stats_suggestion(struct strbuf *sb,
				 const struct json_stats *st, size_t i)
{
	const struct json_stats_sugg *s = &st->sugg[i];

	return strbuf_adds(sb, "{\"day\":") || json_opt(sb, s->day) ||
	       json_key(sb, "channel", 0) || json_opt(sb, s->channel) ||
	       json_key(sb, "text", 0) || json_opt(sb, s->text) ||
	       strbuf_addch(sb, '}');
}

static int json_stats_stale(struct strbuf *sb, const struct json_stats *st,
			    size_t i)
{
	const struct stats_stale *s = &st->stale[i];

	return strbuf_adds(sb, "{\"kind\":") || json_opt(sb, s->kind) ||
	       json_key(sb, "id", 0) || json_opt(sb, s->id) ||
	       json_key(sb, "name", 0) || json_opt(sb, s->name) ||
	       json_key(sb, "team", 0) || json_opt(sb, s->team) ||
	       json_key(sb, "reviewed", 0) || json_opt(sb, s->reviewed) ||
	       strbuf_addch(sb, '}');
}

/* ,"key":[item,...]: one loop for the three lists, which differ only in
 * their entries. */
static int json_stats_list(struct strbuf *sb, const char *key, size_t n,
			   json_stats_item_fn item, const struct json_stats *st)
{
	size_t i;

	if (json_key(sb, key, 0) || strbuf_addch(sb, '['))
		return 1;
	for (i = 0; i < n; i++)
		if ((i && strbuf_addch(sb, ',')) || item(sb, st, i))
			return 1;
	return strbuf_addch(sb, ']');
}

/* The lists the caller asked for: a NULL list is left out, not empty. */
static int json_stats_lists(struct strbuf *sb, const struct json_stats *st)
{
	return (st->groups && json_stats_list(sb, "unanswered", st->n_groups,
					      json_stats_unanswered, st)) ||
	       (st->sugg && json_stats_list(sb, "suggestions", st->n_sugg,
					    json_stats_suggestion, st)) ||
	       (st->stale && json_stats_list(sb, "stale", st->n_stale,
					     json_stats_stale, st));
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
