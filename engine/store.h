/*
 * store.h - SQLite storage: conversations, their messages (personal data
 * redacted before it gets here), answers with intent and confidence,
 * feedback, and retention.
 *
 * One struct store per process, used from the event loop thread only.
 * The database runs in WAL mode with synchronous=NORMAL: a committed
 * transaction survives a crash of the process (kill -9).  Writers group
 * their work: store_begin(), many writes, store_commit(), and only then
 * send the replies (group commit, no fsync per message).
 * Schema versions are tracked with PRAGMA user_version.
 *
 * Errors: functions returning int give 0 or a BOT_E* code (its negative
 * for store_conv_exists and store_msg_seen) and fill 'err': BOT_EDB
 * carries sqlite3_errmsg() and what was being done, e.g.
 * "cannot store message in conversation '<id>': disk I/O error".
 * Strings handed in are copied by SQLite; nothing here keeps pointers to
 * the caller's memory.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "bot.h"

struct store;

#define STORE_ID_LEN 32		/* conversation ids: 32 hex digits */

/* One stored message of a conversation. */
struct store_msg {
	const char *conv;	/* conversation id */
	int64_t seq;		/* set by store_msg_add: 1, 2, 3 ... per conversation */
	const char *role;	/* "citizen", "bot", "agent", "system" */
	const char *client_id;	/* the widget's id of a citizen message, or NULL */
	const char *text;	/* redacted text */
	const char *intent;	/* NULL when none */
	const char *service;
	const char *office;
	double confidence;
	const char *handoff_reason;	/* NULL when none */
	const char *payload;	/* JSON sent to the client, for resending; may be NULL */
	const char *netiquette;	/* the netiquette verdict ("insult" ...) or NULL */
	const char *closest;	/* unanswered: the intent the engine found closest */
	const void *state;	/* the dialogue state after this message, or NULL */
	size_t state_len;
	time_t created;		/* 0: now */
	int duplicate;		/* set by store_msg_add: 1 when (conv, client_id)
				 * was stored already; nothing was written */
};

/*
 * Open (and create or migrate) the database at 'path'.  Returns NULL and
 * fills 'err' (BOT_EDB) when the file cannot be opened, is not a database,
 * or has a newer schema version than this program knows.
 */
struct store *store_open(const char *path, struct bot_err *err) BOT_WUR;
/* Finalize statements, close; NULL-safe; clears the pointer. */
void store_close(struct store **sp);

/*
 * Group commit.  begin (BEGIN IMMEDIATE) is a no-op when a transaction is
 * open already; commit is a no-op when none is.  Writes outside an
 * explicit transaction commit on their own (store_msg_add() in one
 * transaction of its own).  When a write fails inside an explicit
 * transaction, the writes before it are still pending: commit them or
 * store_rollback().  When commit fails, the transaction is rolled back:
 * nothing since store_begin() was stored.
 */
int store_begin(struct store *s, struct bot_err *err) BOT_WUR;
int store_commit(struct store *s, struct bot_err *err) BOT_WUR;
/* Undo everything since store_begin(); a no-op without a transaction. */
void store_rollback(struct store *s);
int store_in_transaction(const struct store *s);

/*
 * Create a conversation on 'channel' ("web", "messenger") with a fresh id
 * written to 'id' (STORE_ID_LEN + 1 bytes): 32 lowercase hex digits, the
 * first 8 are 'now' (seconds, for index locality), the other 24 come from
 * getrandom() (96 bits: unguessable).
 */
int store_conv_new(struct store *s, const char *channel, time_t now,
		   char *id, struct bot_err *err) BOT_WUR;
/* 1 when conversation 'id' exists (and fills '*last_seq'), 0 when not,
 * negative BOT_E* on error. */
int store_conv_exists(struct store *s, const char *id, int64_t *last_seq,
		      struct bot_err *err);
/* Save / load the opaque dialogue state blob of a conversation.
 * BOT_ENOTFOUND when there is no conversation 'id'. */
int store_conv_set_state(struct store *s, const char *id, const void *state,
			 size_t len, struct bot_err *err) BOT_WUR;
/* Copies at most 'size' bytes; '*len' gets the stored length (0: none). */
int store_conv_get_state(struct store *s, const char *id, void *state,
			 size_t size, size_t *len, struct bot_err *err) BOT_WUR;

/*
 * Append a message; sets m->seq to the conversation's last seq + 1 and
 * m->duplicate to 0.  Touches the conversation's updated time (m->created).
 * When m->client_id is not NULL and (conv, client_id) is stored already,
 * nothing is written: returns 0 with m->seq = the stored message's seq and
 * m->duplicate = 1.  BOT_ENOTFOUND when the conversation does not exist,
 * BOT_EINVAL for a missing conv or role or an unknown role.
 */
int store_msg_add(struct store *s, struct store_msg *m, struct bot_err *err) BOT_WUR;

/*
 * One exchange of the server's hot path, without touching the
 * conversation's row: store_turn_reserve() takes 'n' seqs of 'conv' at
 * once (the first in '*first') from the store's memory of each
 * conversation's last seq; store_turn_put() then inserts messages whose
 * m->seq the caller set from '*first' (the dialogue state travels with a
 * message: m->state).  The caller has checked the client id
 * (store_msg_seen()).  Both join the caller's transaction, or run in
 * their own.  The conversation's 'updated' time is written at most every
 * STORE_TOUCH_SECONDS, which is all the retention needs.
 */
int store_turn_reserve(struct store *s, const char *conv, int n, time_t now,
		       int64_t *first, struct bot_err *err) BOT_WUR;
int store_turn_put(struct store *s, const struct store_msg *m,
		   struct bot_err *err) BOT_WUR;

/*
 * Checkpoint the WAL in a thread of its own, on a second connection, so
 * the event loop never waits for it (server only; the CLI does not need
 * it).  Stopped by store_close().  BOT_EDB/BOT_ENOMEM on failure.
 */
int store_checkpointer_start(struct store *s, struct bot_err *err) BOT_WUR;

/*
 * Has citizen message 'client_id' of 'conv' been answered?  Returns 1 and
 * the seq of the bot's reply to it in '*reply_seq' (0 if not stored yet),
 * 0 when the client id is new, negative BOT_E* on error.  The reply is
 * the first non-citizen message after it, unless another citizen message
 * comes first (then that message was not answered by itself: 0).
 */
int store_msg_seen(struct store *s, const char *conv, const char *client_id,
		   int64_t *reply_seq, struct bot_err *err);

/*
 * Call 'fn' for every message of 'conv' with seq > 'after', in order.
 * 'fn' returns 0 to go on, non-zero to stop.  The strings in 'm' are valid
 * only during the call.  'fn' must not call store_msgs_after(); it may
 * write, but messages it adds to 'conv' may or may not be passed to it.
 */
typedef int (*store_msg_fn)(void *arg, const struct store_msg *m);
int store_msgs_after(struct store *s, const char *conv, int64_t after,
		     store_msg_fn fn, void *arg, struct bot_err *err) BOT_WUR;

/* Record feedback on message 'seq' of 'conv' (the last one counts).
 * 'helpful' is stored as 0 or 1.  BOT_ENOTFOUND when there is no such
 * message or it is a citizen's. */
int store_feedback(struct store *s, const char *conv, int64_t seq, int helpful,
		   time_t now, struct bot_err *err) BOT_WUR;

/* Store a citizen's suggestion (intent 'vorschlag'), redacted text.
 * 'conv' and 'channel' may be NULL. */
int store_suggestion(struct store *s, const char *conv, const char *channel,
		     const char *text, time_t now, struct bot_err *err) BOT_WUR;

/*
 * Delete the messages (and the feedback on them) written before 'before',
 * the conversations not updated since 'before', and suggestions created
 * before 'before' (their text is a citizen's words, too): every record
 * ages on its own, so a conversation that goes on loses its oldest
 * messages.  '*n' (may be NULL) gets the number of conversations deleted.  Deleted content is overwritten (secure_delete),
 * the file shrinks (incremental vacuum) and the WAL is checkpointed and
 * truncated, so purged text is gone from the files when this returns 0.
 * BOT_EINVAL inside a transaction.
 */
int store_purge(struct store *s, time_t before, int64_t *n,
		struct bot_err *err) BOT_WUR;


/* ---- agents, handoffs, notes (schema version 2) ---------------------- */

#define STORE_HASH_HEX 64	/* SHA-256 in lowercase hex */
#define STORE_NAME_MAX 64	/* agent and team names */

/* SHA-256 of 'token' as 64 lowercase hex digits plus NUL in 'out'. */
void store_token_hash(const char *token, size_t len,
		      char out[STORE_HASH_HEX + 1]);

struct store_agent {
	const char *name;
	const char *team;
	const char *role;	/* "agent" or "editor" */
	const char *token_hash;	/* 64 hex digits */
	time_t created;
};

/*
 * Add an agent.  BOT_EINVAL for an empty or too long name or team or a
 * role other than "agent"/"editor" or a hash that is not 64 hex digits;
 * BOT_EAUTH ("agent 'NAME' exists already") when the name is taken.
 */
int store_agent_add(struct store *s, const struct store_agent *a,
		    struct bot_err *err) BOT_WUR;
/* BOT_ENOTFOUND when there is no agent 'name'. */
int store_agent_remove(struct store *s, const char *name,
		       struct bot_err *err) BOT_WUR;
/* Call 'fn' for every agent, by name; strings valid during the call only.
 * 'fn' returns non-zero to stop. */
typedef int (*store_agent_fn)(void *arg, const struct store_agent *a);
int store_agent_each(struct store *s, store_agent_fn fn, void *arg,
		     struct bot_err *err) BOT_WUR;

/* One handoff of a conversation to a person.  Times are 0 when not yet. */
struct store_handoff {
	int64_t id;		/* set by store_handoff_add */
	const char *conv;
	const char *channel;	/* "web", "messenger" */
	const char *reason;	/* "personal_data", "requested", "case", "fallback" */
	const char *team;
	const char *state;	/* "queued", "active", "ended" */
	const char *agent;	/* NULL when nobody holds it */
	time_t queued_at, claimed_at, ended_at;
	const char *outcome;	/* NULL, "released", "closed", "abandoned", "timeout" */
	int requeued;		/* came back to the queue by a time-out */
	const char *contact;	/* clear text, decrypted; NULL when none */
	size_t contact_len;
};

/* Insert 'h' (conv ... queued_at; contact is ignored); sets h->id. */
int store_handoff_add(struct store *s, struct store_handoff *h,
		      struct bot_err *err) BOT_WUR;
/* Write state, agent, claimed_at, ended_at, outcome, requeued of h->id. */
int store_handoff_update(struct store *s, const struct store_handoff *h,
			 struct bot_err *err) BOT_WUR;
/*
 * Store the citizen's contact of handoff 'id', encrypted with AES-256-GCM
 * (random 96-bit nonce, the handoff id as associated data) under the
 * secret key: the environment variable AMTSBOT_SECRET_KEY (64 hex digits)
 * or else the key file "<db>.key" next to the database, created with 32
 * random bytes and mode 0600 on first use.  Replaces an earlier contact.
 * 'len' 0 clears it.  BOT_EAUTH when the key cannot be loaded or made.
 */
int store_handoff_set_contact(struct store *s, int64_t id, const char *contact,
			      size_t len, struct bot_err *err) BOT_WUR;
/*
 * Call 'fn' for every handoff (all == 1) or only the open ones (state
 * queued or active, all == 0), in id order.  Contacts are decrypted for
 * open ones only; one that cannot be decrypted (another key, a damaged
 * row) is passed as NULL.  The strings are valid during the call only.
 */
typedef int (*store_handoff_fn)(void *arg, const struct store_handoff *h);
int store_handoff_each(struct store *s, int all, store_handoff_fn fn,
		       void *arg, struct bot_err *err) BOT_WUR;

/* An agent's internal note on 'conv' (redacted text). */
int store_note_add(struct store *s, const char *conv, const char *agent,
		   const char *text, time_t now, struct bot_err *err) BOT_WUR;

/*
 * The secret key for contacts, for tests and 'amtsbot': load it now (see
 * store_handoff_set_contact).  BOT_OK when a key is ready.
 */
int store_key_load(struct store *s, struct bot_err *err) BOT_WUR;

/* Rows in 'table' ("conversations", "messages", "feedback",
 * "suggestions", "agents", "handoffs", "notes") for /healthz and tests; -1 on error or unknown table. */
int64_t store_count(struct store *s, const char *table);

/* ---- Messenger (schema version 3, store_msgr.c) ---------------------- */

/*
 * Personal data of the Messenger connector: page-scoped ids are looked up
 * by a salted hash (HMAC-SHA256 under the secret key); the clear id that a
 * reply needs, webhook bodies waiting in the inbox and Send API requests
 * waiting in the outbox are sealed with AES-256-GCM under the same key
 * (see store_handoff_set_contact).  All of these fail with BOT_EAUTH when
 * the key cannot be loaded.
 */

#define STORE_MSGR_BODY_MAX ((size_t)4 << 20)	/* sealed rows at most */
#define STORE_MSGR_RCPT_MAX 256		/* "id:PSID" or "ref:USER_REF" */

/* HMAC-SHA256 of 'what' ("psid", "mid", ...), a NUL and 'data' under the
 * secret key, as 64 lowercase hex digits plus NUL. */
int store_msgr_hash(struct store *s, const char *what, const char *data,
		    size_t len, char out[STORE_HASH_HEX + 1],
		    struct bot_err *err) BOT_WUR;

/*
 * Add one webhook delivery (the raw body, sealed) to the inbox; '*id'
 * gets its row.  Joins the caller's transaction or commits on its own.
 */
int store_msgr_inbox_add(struct store *s, const char *body, size_t len,
			 time_t now, int64_t *id, struct bot_err *err) BOT_WUR;
/*
 * The oldest waiting delivery with row id > 'after': returns 1 with '*id'
 * and '*body' (decrypted, NUL-terminated, '*len' bytes, bot_malloc()ed:
 * the caller frees it), 0 when none waits, a negative BOT_E* on error.
 * A row that cannot be decrypted (another key) is marked failed, logged
 * by nobody, and skipped.
 */
int store_msgr_inbox_next(struct store *s, int64_t after, int64_t *id,
			  char **body, size_t *len, struct bot_err *err);
/* Processed: the row and its body are deleted. */
int store_msgr_inbox_done(struct store *s, int64_t id,
			  struct bot_err *err) BOT_WUR;

/*
 * Deduplication of webhook events: 'key' (a hash from store_msgr_hash)
 * is recorded at 'now'.  Returns 1 when it was recorded before (a
 * repeated delivery), 0 when new, a negative BOT_E* on error.
 */
int store_msgr_seen(struct store *s, const char *key, time_t now,
		    struct bot_err *err);

/* One Messenger user (a page-scoped id) and its conversation. */
struct store_msgr_user {
	char hash[STORE_HASH_HEX + 1];	/* store_msgr_hash("psid", ...) */
	char conv[STORE_ID_LEN + 1];	/* "" when none yet */
	time_t last_citizen_at;		/* the user's last message; 0 none */
	time_t paused_until;		/* staff answered in the page inbox */
	int disclosed;			/* told that a bot answers */
	int thread_other;		/* another app owns the thread */
	char recipient[STORE_MSGR_RCPT_MAX];	/* "id:PSID"/"ref:REF", clear */
};

/* Load the user with hash 'hash' (or of conversation 'conv'): 1 found,
 * 0 not, a negative BOT_E* on error (also when the id cannot be
 * decrypted). */
int store_msgr_user_get(struct store *s, const char *hash,
			struct store_msgr_user *u, struct bot_err *err);
int store_msgr_user_by_conv(struct store *s, const char *conv,
			    struct store_msgr_user *u, struct bot_err *err);
/* Insert or replace 'u' (the recipient is sealed). */
int store_msgr_user_put(struct store *s, const struct store_msgr_user *u,
			struct bot_err *err) BOT_WUR;

/* One Send API call waiting in the outbox. */
struct store_msgr_out {
	int64_t id;			/* set by add and next */
	char conv[STORE_ID_LEN + 1];	/* "" when none */
	char user[STORE_HASH_HEX + 1];	/* calls of one user go in order */
	char path[32];			/* "messages", "pass_thread_control" ... */
	char kind[16];			/* "message", "action" (never retried),
					 * "agent", "thread" */
	int attempts;
	int64_t next_ms;		/* due (milliseconds since the epoch) */
};

/* Queue the JSON request 'body' (sealed) for 'o'; sets o->id. */
int store_msgr_out_add(struct store *s, struct store_msgr_out *o,
		       const char *body, size_t len,
		       struct bot_err *err) BOT_WUR;
/*
 * The oldest pending call due at 'now_ms' whose user has no older
 * pending call (so one user's messages keep their order) and whose id is
 * not 'busy'.  1 with 'o' and '*body' (bot_malloc()ed, NUL-terminated),
 * 0 when none is due, negative BOT_E* on error.
 */
int store_msgr_out_next(struct store *s, int64_t now_ms, int64_t busy,
			struct store_msgr_out *o, char **body,
			struct bot_err *err);
/* The earliest next_ms of a pending call, or -1 when none is pending. */
int64_t store_msgr_out_due(struct store *s);
/*
 * Record the outcome of call 'id': 'state' "pending" (retry at 'next_ms'
 * after 'attempts'), "sent" or "failed" (the sealed request is erased).
 * 'error' may be NULL.
 */
int store_msgr_out_update(struct store *s, int64_t id, const char *state,
			  int attempts, int64_t next_ms, const char *error,
			  struct bot_err *err) BOT_WUR;
/* Rows: "inbox" (waiting), "seen", "users", "pending", "sent", "failed";
 * -1 on error. */
int64_t store_msgr_count(struct store *s, const char *what);
/* Retention: dedup keys, users and finished calls older than 'before'. */
int store_msgr_purge(struct store *s, time_t before,
		     struct bot_err *err) BOT_WUR;

/* ---- Statistics (schema version 4, store_stats.c) --------------------- */

struct stats_counts;

/*
 * Note what the statistics need about bot message 'seq' of 'conv' beyond
 * struct store_msg: its netiquette kind (reply.netiquette, NULL when none)
 * and the closest intent the engine considered (reply.alts[0].intent when
 * the bot fell back, else NULL).  Call it after storing the message, in
 * the same transaction.  BOT_ENOTFOUND when there is no such message.
 */
int store_msg_note(struct store *s, const char *conv, int64_t seq,
		   const char *netiquette, const char *closest,
		   struct bot_err *err) BOT_WUR;

/*
 * Add the figures of [since, until) to 'c' (keys: engine/stats.h): live
 * messages, conversations, feedback and suggestions, the daily aggregates
 * of purged ones for the days in the period (so 'since' and 'until'
 * should be local midnights), and the handoffs with "wait_median_s" and
 * "wait_p90_s" (claimed minus queued, set only when some were claimed).
 */
int store_stats_counts(struct store *s, time_t since, time_t until,
		       struct stats_counts *c, struct bot_err *err) BOT_WUR;

/*
 * Call 'fn' for the citizen's (redacted) message before every fallback
 * answer in [since, until), oldest first; 'closest' may be NULL.  The
 * strings are valid during the call only.  A non-zero return of 'fn'
 * stops and is returned.  Purged conversations are only counted.
 */
typedef int (*store_unanswered_fn)(void *arg, const char *text,
				   const char *closest, time_t created);
int store_stats_unanswered(struct store *s, time_t since, time_t until,
			   store_unanswered_fn fn, void *arg,
			   struct bot_err *err) BOT_WUR;

/* The same for the suggestions ('channel' may be NULL), oldest first. */
typedef int (*store_sugg_fn)(void *arg, const char *text, const char *channel,
			     time_t created);
int store_stats_suggestions(struct store *s, time_t since, time_t until,
			    store_sugg_fn fn, void *arg,
			    struct bot_err *err) BOT_WUR;

/*
 * store_purge() that keeps the statistics: in one transaction the
 * messages, feedback and suggestions older than 'before' and the
 * conversations not updated since then are counted into the daily
 * aggregates (keys only, no text) and deleted; then store_purge() clears contacts, vacuums and truncates the
 * WAL.  '*n' (may be NULL) gets the conversations deleted.  Use this
 * instead of store_purge() (retention, 'amtsbot purge').
 */
int store_stats_purge(struct store *s, time_t before, int64_t *n,
		      struct bot_err *err) BOT_WUR;

#endif /* STORE_H */
