/*
 * dialog.h - one turn of a conversation: personal-data check, matching,
 * follow-up context, fallback and ask-back, handoff decision, answer.
 *
 * A struct dialog is the compiled engine for one kb (matcher, time zone);
 * build a new one when the kb is reloaded.  A struct dialog_state is the
 * per-conversation memory, plain data that a connector keeps with its
 * session (and may store).  A struct reply is filled by dialog_reply() and
 * reused across turns; its kb strings are borrowed from the kb and valid
 * until the kb is freed.
 */
#ifndef DIALOG_H
#define DIALOG_H

#include <stddef.h>
#include <time.h>
#include "bot.h"
#include "netiquette.h"
#include "strbuf.h"

struct kb;
struct dialog;

#define DIALOG_ID_MAX 64

struct dialog_state {
	char service[DIALOG_ID_MAX];	/* topic of the last answer, "" none */
	char office[DIALOG_ID_MAX];
	char intent[DIALOG_ID_MAX];
	int fallbacks;		/* unanswered questions in a row */
	int turns;
	int handed_off;		/* a person has taken over */
	struct netiq_state netiq;	/* violations, flood and pause counters */
};

struct reply_source {
	const char *title;
	const char *url;
};

struct reply_alt {
	const char *intent;	/* id */
	const char *service;	/* id or NULL */
	const char *label;	/* "Kosten: Reisepass" */
	double confidence;
};

#define REPLY_MAX_SOURCES 8
#define REPLY_MAX_ALTS 3
#define REPLY_MAX_QUICK 6
#define REPLY_QUICK_LEN 64

struct reply {
	const char *intent;	/* id, NULL when the bot does not know */
	const char *service;	/* id or NULL */
	const char *office;	/* id or NULL: named, or responsible for the service */
	double confidence;
	struct strbuf answer;	/* the text for the citizen */
	struct reply_source sources[REPLY_MAX_SOURCES];
	size_t n_sources;
	int handoff;
	/* NULL, "personal_data", "requested", "case", or "fallback": a person
	 * asked for after two unanswered questions in a row */
	const char *handoff_reason;
	struct reply_alt alts[REPLY_MAX_ALTS];
	size_t n_alts;
	char quick[REPLY_MAX_QUICK][REPLY_QUICK_LEN];
	size_t n_quick;
	struct strbuf redacted;	/* the message with personal data replaced */
	unsigned pii_kinds;	/* bit (1 << enum pii_kind) per kind found */
	int fallback;		/* nothing matched well enough */
	int ask_back;		/* the bot asked which service/office or reading */
	int suggestion;		/* the message is a citizen's idea: store it */
	/*
	 * NULL, or why the bot answered with a netiquette reminder instead:
	 * "insult", "threat", "spam", "flood", "repeat" (each one counted
	 * violation), or "muted" (the conversation is paused; not counted
	 * again).  A threat is not handed off: it is stored with this kind
	 * so that the editors' statistics show it for a person to review.
	 */
	const char *netiquette;
	int muted;		/* this reply starts or continues the pause */
	/* internal scratch for answer alternatives' labels */
	char alt_label[REPLY_MAX_ALTS][96];
};

/* Build the engine for 'kb' (which must outlive it).  NULL + 'err' on
 * failure (bad pattern, bad time zone, no memory). */
struct dialog *dialog_new(const struct kb *kb, struct bot_err *err) BOT_WUR;
void dialog_free(struct dialog **dp);

void dialog_state_init(struct dialog_state *st);

/*
 * An upper bound of dialog_state_pack()'s output, for a stack buffer:
 * tag, field bitmap (2), three ids (length byte + up to 63 bytes), seven
 * ints (zigzag varints of at most 5 bytes), two times (at most 10 bytes)
 * and the message hash (8 bytes).
 */
#define DIALOG_STATE_PACK_MAX (1 + 2 + 3 * DIALOG_ID_MAX + 7 * 5 + 2 * 10 + 8)

/*
 * Write a compact, versioned encoding of 'st' that does not depend on the
 * struct's layout (for storing it with a message) to 'out', at most 'size'
 * bytes.  Returns the length (2 bytes for a fresh state, typically 10-40),
 * or 0 when it does not fit or an id in 'st' is not NUL-terminated within
 * DIALOG_ID_MAX bytes.  Never allocates.
 */
size_t dialog_state_pack(const struct dialog_state *st, void *out,
			 size_t size) BOT_WUR;

/*
 * Decode 'len' bytes written by dialog_state_pack() into 'st'.  Returns 0,
 * or BOT_EPARSE when 'in' is not exactly one valid encoding (an old raw
 * struct blob, a truncated or overlong one, garbage); 'st' is then a fresh
 * dialog_state_init() state.  Never reads past 'len'; never allocates.
 */
int dialog_state_unpack(struct dialog_state *st, const void *in,
			size_t len) BOT_WUR;
void reply_init(struct reply *r);
void reply_release(struct reply *r);

/*
 * Answer one message of a conversation at time 'now'.  Updates 'st'.
 * Fails with BOT_EPARSE on invalid UTF-8 (the reply is then empty) and
 * BOT_ENOMEM; never for anything the citizen can say otherwise.
 */
int dialog_reply(struct dialog *d, struct dialog_state *st, const char *text,
		 size_t len, time_t now, struct reply *r,
		 struct bot_err *err) BOT_WUR;

/* The kb and time zone this engine was built for (borrowed). */
const struct kb *dialog_kb(const struct dialog *d);
const struct hours_tz *dialog_tz(const struct dialog *d);
struct match *dialog_match(struct dialog *d);

#endif /* DIALOG_H */
