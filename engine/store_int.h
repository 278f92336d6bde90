/*
 * store_int.h - shared by the files of the store module only (store.c,
 * store_msgr.c, store_stats.c): the struct behind struct store and the
 * small helpers they all use.  Nothing outside engine/store*.c includes it.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <sqlite3.h>
#include "store.h"

#define STORE_KEY_LEN 32
#define STORE_NONCE_LEN 12
#define STORE_TAG_LEN 16
#define STORE_CONTACT_MAX 4096

/*
 * Statement slots for the other files, prepared on first use by
 * store_stmt() and finalized by store_close(): 0..31 store_msgr.c,
 * 32..63 store_stats.c.
 */
#define STORE_OWN_STMTS 64
#define STORE_EXT_STMTS 64
#define STORE_SLOT_MSGR 0
#define STORE_SLOT_STATS 32

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[STORE_OWN_STMTS];	/* store.c's own, see its enum */
	sqlite3_stmt *ext[STORE_EXT_STMTS];
	char *path;		/* for the key file next to the database */
	unsigned char key[STORE_KEY_LEN];
	int have_key;
	struct store_ckpt *ckpt;	/* background checkpointer, or NULL */
	int wal_frames;		/* frames in the WAL after the last commit */
	struct store_seqs *seqs;	/* last seq per conversation (store.c) */
	struct store_answers *answers;	/* answer bodies stored (store.c) */
	int64_t last_id;	/* the newest messages.id (store.c) */
	int heads_stale;	/* saved heads need store_heads_repair() */
};

/*
 * SQL: a conversation is a chain of messages from its newest ('head',
 * ?1) back along messages.prev (schema 6).  'chain' holds the ids from
 * the head back to the first message with seq <= ?2.
 */
#define STORE_CHAIN_AFTER \
	"WITH RECURSIVE chain(id) AS (SELECT ?1 UNION ALL" \
	" SELECT m.prev FROM messages m JOIN chain ON m.id = chain.id" \
	" WHERE m.seq > ?2) "
/* ... back to the newest message with a dialogue state (at most 256) */
#define STORE_CHAIN_STATE \
	"WITH RECURSIVE chain(id, n) AS (SELECT ?1, 0 UNION ALL" \
	" SELECT m.prev, chain.n + 1 FROM messages m JOIN chain" \
	" ON m.id = chain.id WHERE m.state IS NULL AND chain.n < 256) "

/*
 * SQL: the retention, for store_purge() and the statistics' fold alike
 * (?1 = the cutoff).  Every record ages on its own: a message (and the
 * feedback on it, deleted first) by when it was written, a conversation
 * by its last message, a suggestion by when it was made.
 */
#define STORE_SQL_DEL_FEEDBACK "DELETE FROM feedback WHERE coalesce((SELECT" \
	" created FROM messages m WHERE m.id = feedback.msg), 0) < ?1"
#define STORE_SQL_DEL_MSGS "DELETE FROM messages WHERE created < ?1"
#define STORE_SQL_DEL_CONVS "DELETE FROM conversations WHERE updated < ?1"
#define STORE_SQL_DEL_SUGG "DELETE FROM suggestions WHERE created < ?1"

/* The id of the newest message of 'conv' in '*head' (0: none yet);
 * BOT_ENOTFOUND when there is no such conversation. */
int store_conv_head(struct store *s, const char *conv, int64_t *head,
		    struct bot_err *err);

/* Migrations defined by the other files (see store_migrations in store.c). */
extern const char store_migration_messenger[];
extern const char store_migration_stats[];

/* The cached statement in 'slot', prepared from 'sql' on first use; NULL
 * and 'err' on failure. */
sqlite3_stmt *store_stmt(struct store *s, int slot, const char *sql,
			 struct bot_err *err);

/* Reset a statement and drop its bindings. */
void store_done(sqlite3_stmt *st);
/* BOT_EDB with "what 'subject': sqlite message". */
int store_dberr(struct store *s, struct bot_err *err, const char *what,
		const char *subject);
const char *store_nz(const char *s);
/* Bind a string (NULL binds NULL); the string must outlive the step. */
int store_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Bind a time; 0 binds NULL. */
void store_bind_time(sqlite3_stmt *st, int i, time_t t);
/* Step until done, then store_done(); SQLITE_OK or the error code. */
int store_run(sqlite3_stmt *st);
/* Join the caller's transaction or open one of our own ('*own'). */
int store_tx_enter(struct store *s, int *own, struct bot_err *err);
int store_tx_leave(struct store *s, int own, int rc, struct bot_err *err);

/*
 * AES-256-GCM under s->key (loaded by the caller with store_key_load()),
 * 'id' as associated data: out = nonce | ciphertext | tag, '*out_len' =
 * len + STORE_NONCE_LEN + STORE_TAG_LEN.  -1 on a crypto failure.  Used
 * for contacts (store.c) and the Messenger inbox, outbox and ids
 * (store_msgr.c).
 */
int store_seal(const struct store *s, int64_t id, const char *in, size_t len,
	       unsigned char *out, size_t *out_len);
/* The inverse; 'out' has room for 'len' bytes; -1 when the tag does not
 * verify. */
int store_open_sealed(const struct store *s, int64_t id,
		      const unsigned char *in, size_t len, char *out,
		      size_t *out_len);

#endif /* STORE_INT_H */
