/*
 * json.h - the only module that touches jansson: parsing the frames
 * citizens' clients send, and writing the JSON the server and
 * 'amtsbot ask --json' send back.
 *
 * Writers append to a caller's strbuf (so connections can reuse their
 * buffers) and return BOT_OK or BOT_ENOMEM (cap hit or no memory).
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>
#include "engine/bot.h"

struct strbuf;
struct reply;

enum json_client_type {
	JSON_HELLO = 1,
	JSON_MESSAGE,
	JSON_FEEDBACK,
};

/* Why a client frame was refused; the names are the protocol's codes. */
enum json_client_error {
	JSON_OK = 0,
	JSON_BAD_JSON,		/* not JSON, not an object, wrong field types */
	JSON_UNKNOWN_TYPE,
	JSON_MISSING_TEXT,
};

#define JSON_CLIENT_ID_MAX 64

/*
 * One parsed client frame.  The strings point into the parsed document
 * and are valid until json_client_release().
 */
struct json_client {
	enum json_client_type type;
	const char *conversation;	/* hello: NULL when null or absent */
	int64_t last_seq;		/* hello: 0 when absent */
	const char *id;			/* message: client id, NULL when absent */
	const char *text;		/* message */
	size_t text_len;
	int64_t seq;			/* feedback */
	int helpful;			/* feedback */
	void *doc;			/* private */
};

/* Parse 'len' bytes (valid UTF-8 already checked by the caller).  On
 * error nothing needs releasing. */
enum json_client_error json_client_parse(const char *buf, size_t len,
					 struct json_client *m) BOT_WUR;
void json_client_release(struct json_client *m);

/* The protocol's code for 'e': "bad_json" ... */
const char *json_client_error_code(enum json_client_error e);

/*
 * The answer fields shared by the WebSocket and 'ask --json':
 * intent, service, office, confidence (2 decimals), answer,
 * sources [{title,url}], handoff, handoff_reason, alternatives
 * [{intent,service,label,confidence}], quick_replies.
 * With seq > 0 the object is a protocol frame: {"type":"answer","seq":N,
 * "reply_to":ID or null, ...fields}.
 */
int json_reply_add(struct strbuf *sb, const struct reply *r, int64_t seq,
		   const char *reply_to) BOT_WUR;
/* The plain field object as a string owned by the caller; NULL on no
 * memory.  Free with bot_free(). */
char *json_reply_text(const struct reply *r) BOT_WUR;

/* {"type":"welcome","conversation":ID,"seq":N} */
int json_welcome_add(struct strbuf *sb, const char *conv, int64_t seq) BOT_WUR;
/* {"type":"message","seq":N,"from":"citizen","id":ID,"text":TEXT} */
int json_citizen_add(struct strbuf *sb, int64_t seq, const char *client_id,
		     const char *text) BOT_WUR;
/* {"type":"ok","seq":N} */
int json_ok_add(struct strbuf *sb, int64_t seq) BOT_WUR;
/* {"type":"error","code":CODE,"message":MESSAGE[,"reply_to":ID]};
 * 'reply_to' (the client id of the message it concerns) may be NULL. */
int json_error_add(struct strbuf *sb, const char *code, const char *message,
		   const char *reply_to) BOT_WUR;
/* ---- the agents' protocol (/agent/ws) ---- */

enum json_agent_type {
	JSON_AGENT_AUTH = 1,
	JSON_AGENT_CLAIM,
	JSON_AGENT_MESSAGE,
	JSON_AGENT_NOTE,
	JSON_AGENT_RELEASE,
	JSON_AGENT_CLOSE,
};

/* One parsed agent frame; strings valid until json_agent_release(). */
struct json_agent {
	enum json_agent_type type;
	const char *token;		/* auth; NULL when absent or not a string */
	size_t token_len;
	const char *conversation;	/* NULL when absent or not a string */
	const char *text;		/* message, note; NULL when absent */
	size_t text_len;
	void *doc;			/* private */
};

/*
 * Parse an agent frame.  JSON_BAD_JSON for no object, JSON_UNKNOWN_TYPE,
 * JSON_MISSING_TEXT for message/note without text (or only blanks).
 * Missing tokens and conversations are left to the caller.
 */
enum json_client_error json_agent_parse(const char *buf, size_t len,
					struct json_agent *m) BOT_WUR;
void json_agent_release(struct json_agent *m);

/* Copy string member 'key' of the JSON object in 'json' to 'out' (at
 * most size - 1 bytes); "" when there is none.  For stored payloads. */
void json_member_str(const char *json, const char *key, char *out,
		     size_t size);

/* A JSON string literal with quotes; 'len' bytes of valid UTF-8. */
int json_str_add(struct strbuf *sb, const char *s, size_t len) BOT_WUR;
/* A JSON string or null for NULL. */
int json_opt_add(struct strbuf *sb, const char *s) BOT_WUR;

/* ---- Messenger webhook and Send API (connectors/messenger.c) ---- */

enum json_msgr_kind {
	JSON_MSGR_OTHER = 0,	/* unknown or ignored (optin, referral ...) */
	JSON_MSGR_TEXT,		/* message with text (quick-reply taps too) */
	JSON_MSGR_ATTACHMENT,	/* message without text */
	JSON_MSGR_POSTBACK,
	JSON_MSGR_ECHO,		/* message with is_echo */
	JSON_MSGR_DELIVERY,
	JSON_MSGR_READ,
	JSON_MSGR_PASS,		/* pass_thread_control */
	JSON_MSGR_TAKE,		/* take_thread_control */
	JSON_MSGR_REQUEST,	/* request_thread_control */
};

/*
 * One event of entry[].messaging[] or entry[].standby[].  Strings point
 * into the parsed document (valid until json_msgr_release()) and are
 * NULL when absent.
 */
struct json_msgr_event {
	enum json_msgr_kind kind;
	int standby;		/* delivered on the standby channel */
	const char *sender;	/* sender.id */
	const char *user_ref;	/* sender.user_ref (chat plugin) */
	const char *recipient;	/* recipient.id */
	int64_t timestamp;	/* milliseconds; 0 when absent */
	const char *mid;	/* message.mid or postback.mid */
	const char *text;	/* message.text, or postback.title */
	size_t text_len;
	const char *payload;	/* quick_reply.payload or postback.payload */
	size_t payload_len;
	const char *metadata;	/* echo or handover metadata */
	char app_id[32];	/* echo: app_id (number or string); handover:
				 * new_owner_app_id */
};

struct json_msgr {
	const char *object;	/* "page" for Messenger */
	struct json_msgr_event *ev;	/* every event of every entry */
	size_t n;
	void *doc;		/* private */
};

/*
 * Parse a webhook delivery.  JSON_BAD_JSON when it is not a JSON object
 * (nothing to release then); BOT-style caps: at most 'max_events' events
 * are kept (the rest are counted in 'n' but not stored: n > max means
 * dropped).  Unknown members and event types are tolerated.
 */
enum json_client_error json_msgr_parse(const char *buf, size_t len,
				       size_t max_events,
				       struct json_msgr *m) BOT_WUR;
void json_msgr_release(struct json_msgr *m);

/*
 * Send API bodies.  'rcpt' is "id:PSID" or "ref:USER_REF".  A message:
 * {"recipient":..,"messaging_type":TYPE[,"tag":TAG],"message":{"text":..,
 * "metadata":META[,"quick_replies":[{"content_type":"text","title":T,
 * "payload":P}..]]}}; 'tag' and 'meta' may be NULL, n_quick 0.
 */
int json_msgr_message_add(struct strbuf *sb, const char *rcpt,
			  const char *type, const char *tag, const char *meta,
			  const char *text, size_t len,
			  const char *const *titles,
			  const char *const *payloads, size_t n_quick) BOT_WUR;
/* {"recipient":..,"sender_action":ACTION} */
int json_msgr_action_add(struct strbuf *sb, const char *rcpt,
			 const char *action) BOT_WUR;
/* {"recipient":..[,"target_app_id":ID],"metadata":META} for the
 * Handover Protocol; 'target' NULL for take_thread_control. */
int json_msgr_thread_add(struct strbuf *sb, const char *rcpt,
			 const char *target, const char *meta) BOT_WUR;
/*
 * A Graph API error body {"error":{"message","code","error_subcode"}}:
 * returns 1 and fills the fields (message cut to 'size' - 1 bytes), 0
 * when 'buf' holds no error object.
 */
int json_msgr_error_parse(const char *buf, size_t len, long *code,
			  long *subcode, char *msg, size_t size);

/* ---- statistics ------------------------------------------------------ */

struct stats_row;
struct stats_group;
struct stats_stale;

struct json_stats_sugg {
	const char *day;	/* YYYY-MM-DD */
	const char *channel;	/* may be NULL */
	const char *text;	/* redacted */
};

/* What one report holds; a NULL list is left out of the object. */
struct json_stats {
	const char *since, *until;	/* YYYY-MM-DD, both days included */
	const char *prev_since, *prev_until;
	const struct stats_row *rows;	/* stats_rows() order */
	size_t n_rows;
	const struct stats_group *groups;
	size_t n_groups;
	const struct json_stats_sugg *sugg;
	size_t n_sugg;
	const struct stats_stale *stale;
	size_t n_stale;
};

/*
 * The report as one JSON object and a newline: "period", "previous",
 * "totals" {key: {"now", "before"}}, "groups" {group: {name: {"now",
 * "before"}}}, "answered_share" {"now", "before"} (null without answers),
 * and when given "unanswered" [{"text", "count", "variants", "closest"}],
 * "suggestions" [{"day", "channel", "text"}], "stale" [{"kind", "id",
 * "name", "team", "reviewed"}].  "before" is null when the previous
 * period lacks the key.  BOT_ENOMEM.
 */
int json_stats_add(struct strbuf *sb, const struct json_stats *st) BOT_WUR;

#endif /* JSON_H */
