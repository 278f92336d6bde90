/*
 * store_msgr.c - the Messenger connector's tables: the durable inbox of
 * webhook deliveries (written before the 200 goes back), the keys that
 * deduplicate repeated deliveries, the users (page-scoped ids) with their
 * conversation and reply window, and the outbox of Send API calls with
 * their retries.  Page-scoped ids and message bodies are personal data:
 * they are kept only sealed (AES-256-GCM) or as salted hashes.
 */
#include "bot.h"
#include "store.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "store_int.h"
#include "banned.h"

const char store_migration_messenger[] =
	"CREATE TABLE msgr_inbox ("
	"  id INTEGER PRIMARY KEY,"
	"  body BLOB NOT NULL,"		/* the delivery, sealed */
	"  received INTEGER NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'new'"
	"    CHECK (state IN ('new', 'failed')));"
	"CREATE TABLE msgr_seen ("
	"  key TEXT PRIMARY KEY NOT NULL,"	/* salted hash of mid or event */
	"  at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX msgr_seen_at ON msgr_seen(at);"
	"CREATE TABLE msgr_outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  conv TEXT,"
	"  user TEXT NOT NULL,"		/* psid hash: one user's calls in order */
	"  path TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  request BLOB NOT NULL,"	/* recipient and message, sealed */
	"  state TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (state IN ('pending', 'sent', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL,"	/* milliseconds */
	"  last_error TEXT,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX msgr_outbox_pending ON msgr_outbox(state, user, id);"
	"CREATE TABLE msgr_users ("
	"  psid_hash TEXT PRIMARY KEY NOT NULL,"	/* salted HMAC-SHA256 */
	"  recipient BLOB NOT NULL,"	/* the id itself, sealed */
	"  conv TEXT,"
	"  last_citizen_at INTEGER,"
	"  paused_until INTEGER,"
	"  disclosed INTEGER NOT NULL DEFAULT 0,"
	"  thread_other INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX msgr_users_conv ON msgr_users(conv);";

/* Associated data of the sealed columns: a row of one table cannot be
 * passed off as another's. */
#define MSGR_AD_INBOX (-1)
#define MSGR_AD_OUTBOX (-2)
#define MSGR_AD_USER (-3)

enum {
	MS_INBOX_ADD, MS_INBOX_NEXT, MS_INBOX_DONE, MS_INBOX_FAIL,
	MS_SEEN_ADD, MS_USER_GET, MS_USER_CONV, MS_USER_PUT,
	MS_OUT_ADD, MS_OUT_NEXT, MS_OUT_DUE, MS_OUT_UPDATE,
	MS_PURGE_SEEN, MS_PURGE_USERS, MS_PURGE_OUT,
	MS_NUM
};

static const char *const msgr_sql[MS_NUM] = {
	[MS_INBOX_ADD] = "INSERT INTO msgr_inbox (body, received) VALUES (?1, ?2)",
	[MS_INBOX_NEXT] = "SELECT id, body FROM msgr_inbox WHERE id > ?1"
		" AND state = 'new' ORDER BY id LIMIT 1",
	[MS_INBOX_DONE] = "DELETE FROM msgr_inbox WHERE id = ?1",
	[MS_INBOX_FAIL] = "UPDATE msgr_inbox SET state = 'failed', body = x''"
		" WHERE id = ?1",
	[MS_SEEN_ADD] = "INSERT OR IGNORE INTO msgr_seen (key, at) VALUES (?1, ?2)",
	[MS_USER_GET] = "SELECT psid_hash, recipient, conv, last_citizen_at,"
		" paused_until, disclosed, thread_other FROM msgr_users"
		" WHERE psid_hash = ?1",
	[MS_USER_CONV] = "SELECT psid_hash, recipient, conv, last_citizen_at,"
		" paused_until, disclosed, thread_other FROM msgr_users"
		" WHERE conv = ?1",
	[MS_USER_PUT] = "INSERT OR REPLACE INTO msgr_users (psid_hash,"
		" recipient, conv, last_citizen_at, paused_until, disclosed,"
		" thread_other) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[MS_OUT_ADD] = "INSERT INTO msgr_outbox (conv, user, path, kind,"
		" request, next_at, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
		" ?7)",
	[MS_OUT_NEXT] = "SELECT o.id, o.conv, o.user, o.path, o.kind,"
		" o.attempts, o.next_at, o.request FROM msgr_outbox o"
		" WHERE o.state = 'pending' AND o.next_at <= ?1 AND o.id != ?2"
		" AND NOT EXISTS (SELECT 1 FROM msgr_outbox p"
		"  WHERE p.state = 'pending' AND p.user = o.user"
		"  AND p.id < o.id)"
		" ORDER BY o.id LIMIT 1",
	[MS_OUT_DUE] = "SELECT min(next_at) FROM msgr_outbox"
		" WHERE state = 'pending'",
	[MS_OUT_UPDATE] = "UPDATE msgr_outbox SET state = ?2, attempts = ?3,"
		" next_at = ?4, last_error = ?5,"
		" request = CASE ?2 WHEN 'pending' THEN request ELSE x'' END"
		" WHERE id = ?1",
	[MS_PURGE_SEEN] = "DELETE FROM msgr_seen WHERE at < ?1",
	[MS_PURGE_USERS] = "DELETE FROM msgr_users WHERE"
		" coalesce(last_citizen_at, 0) < ?1",
	[MS_PURGE_OUT] = "DELETE FROM msgr_outbox WHERE state != 'pending'"
		" AND created < ?1",
};

static sqlite3_stmt *msgr_stmt(struct store *s, int n, struct bot_err *err)
{
	return store_stmt(s, STORE_SLOT_MSGR + n, msgr_sql[n], err);
}

/* ---- hashing and sealing ------------------------------------------------ */

int store_msgr_hash(struct store *s, const char *what, const char *data,
		    size_t len, char out[STORE_HASH_HEX + 1],
		    struct bot_err *err)
{
	static const char hex[] = "0123456789abcdef";
	size_t wl = strlen(what), i;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	unsigned char *buf;
	int rc = store_key_load(s, err);

	if (rc)
		return rc;
	buf = bot_malloc(wl + 1 + len);
	if (!buf)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	memcpy(buf, what, wl + 1);
	memcpy(buf + wl + 1, data, len);
	if (!HMAC(EVP_sha256(), s->key, STORE_KEY_LEN, buf, wl + 1 + len, md,
		  &n) || n != 32)
		rc = bot_fail(err, BOT_EAUTH, "cannot hash a '%s'", what);
	OPENSSL_cleanse(buf, wl + 1 + len);
	bot_free(buf);
	for (i = 0; !rc && i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[STORE_HASH_HEX] = '\0';
	return rc;
}

/* Seal 'len' bytes into a new buffer ('*out', '*out_len'). */
static int msgr_seal(struct store *s, int64_t ad, const char *in, size_t len,
		     unsigned char **out, size_t *out_len, struct bot_err *err)
{
	int rc = store_key_load(s, err);

	if (rc)
		return rc;
	if (len > STORE_MSGR_BODY_MAX)
		return bot_fail(err, BOT_ENOMEM, "messenger row too large");
	*out = bot_malloc(len + STORE_NONCE_LEN + STORE_TAG_LEN);
	if (!*out)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	if (store_seal(s, ad, in, len, *out, out_len)) {
		BOT_FREE(out);
		return bot_fail(err, BOT_EAUTH, "cannot encrypt a messenger row");
	}
	return BOT_OK;
}

/* Open the sealed blob in column 'col' into a new NUL-terminated buffer. */
static int msgr_open(struct store *s, int64_t ad, sqlite3_stmt *st, int col,
		     char **out, size_t *out_len, struct bot_err *err)
{
	const unsigned char *blob = sqlite3_column_blob(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);
	int rc = store_key_load(s, err);

	*out = NULL;
	if (rc)
		return rc;
	*out = bot_malloc(n + 1);
	if (!*out)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	if (!blob || store_open_sealed(s, ad, blob, n, *out, out_len)) {
		BOT_FREE(out);
		return bot_fail(err, BOT_EAUTH, "cannot decrypt a messenger row");
	}
	(*out)[*out_len] = '\0';
	return BOT_OK;
}

/* ---- inbox and deduplication -------------------------------------------------- */

int store_msgr_inbox_add(struct store *s, const char *body, size_t len,
			 time_t now, int64_t *id, struct bot_err *err)
{
	sqlite3_stmt *st = msgr_stmt(s, MS_INBOX_ADD, err);
	unsigned char *blob = NULL;
	size_t n = 0;
	int rc;

	if (!st)
		return BOT_EDB;
	rc = msgr_seal(s, MSGR_AD_INBOX, body, len, &blob, &n, err);
	if (rc)
		return rc;
	sqlite3_bind_blob(st, 1, blob, (int)n, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	rc = store_run(st);
	bot_free(blob);
	if (rc != SQLITE_OK)
		return store_dberr(s, err, "cannot store messenger delivery", NULL);
	*id = sqlite3_last_insert_rowid(s->db);
	return BOT_OK;
}

static void msgr_inbox_fail(struct store *s, int64_t id)
{
	sqlite3_stmt *st = msgr_stmt(s, MS_INBOX_FAIL, NULL);

	if (!st)
		return;
	sqlite3_bind_int64(st, 1, id);
	(void)store_run(st);
}

int store_msgr_inbox_next(struct store *s, int64_t after, int64_t *id,
			  char **body, size_t *len, struct bot_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*body = NULL;
	for (;;) {
		st = msgr_stmt(s, MS_INBOX_NEXT, err);
		if (!st)
			return -BOT_EDB;
		sqlite3_bind_int64(st, 1, after);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			store_done(st);
			if (rc == SQLITE_DONE)
				return 0;
			return -store_dberr(s, err, "cannot read messenger inbox",
					    NULL);
		}
		*id = sqlite3_column_int64(st, 0);
		rc = msgr_open(s, MSGR_AD_INBOX, st, 1, body, len, err);
		store_done(st);
		if (rc == BOT_OK)
			return 1;
		if (rc != BOT_EAUTH)
			return -rc;
		msgr_inbox_fail(s, *id);
		after = *id;
	}
}

int store_msgr_inbox_done(struct store *s, int64_t id, struct bot_err *err)
{
	sqlite3_stmt *st = msgr_stmt(s, MS_INBOX_DONE, err);

	if (!st)
		return BOT_EDB;
	sqlite3_bind_int64(st, 1, id);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot delete messenger delivery",
				   NULL);
	return BOT_OK;
}

int store_msgr_seen(struct store *s, const char *key, time_t now,
		    struct bot_err *err)
{
	sqlite3_stmt *st = msgr_stmt(s, MS_SEEN_ADD, err);

	if (!st)
		return -BOT_EDB;
	store_bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	if (store_run(st) != SQLITE_OK)
		return -store_dberr(s, err, "cannot record messenger event", NULL);
	return sqlite3_changes(s->db) ? 0 : 1;
}

/* ---- users ----------------------------------------------------------------------- */

static void msgr_copy(char *dst, size_t size, const unsigned char *src)
{
	size_t n = src ? strlen((const char *)src) : 0;

	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static int msgr_user_row(struct store *s, sqlite3_stmt *st,
			 struct store_msgr_user *u, struct bot_err *err)
{
	char *rcpt = NULL;
	size_t n = 0;
	int rc;

	memset(u, 0, sizeof(*u));
	msgr_copy(u->hash, sizeof(u->hash), sqlite3_column_text(st, 0));
	msgr_copy(u->conv, sizeof(u->conv), sqlite3_column_text(st, 2));
	u->last_citizen_at = (time_t)sqlite3_column_int64(st, 3);
	u->paused_until = (time_t)sqlite3_column_int64(st, 4);
	u->disclosed = sqlite3_column_int(st, 5);
	u->thread_other = sqlite3_column_int(st, 6);
	rc = msgr_open(s, MSGR_AD_USER, st, 1, &rcpt, &n, err);
	if (rc)
		return rc;
	msgr_copy(u->recipient, sizeof(u->recipient), (unsigned char *)rcpt);
	OPENSSL_cleanse(rcpt, n);
	bot_free(rcpt);
	return BOT_OK;
}

static int msgr_user_query(struct store *s, int which, const char *key,
			   struct store_msgr_user *u, struct bot_err *err)
{
	sqlite3_stmt *st = msgr_stmt(s, which, err);
	int rc;

	if (!st)
		return -BOT_EDB;
	store_bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = msgr_user_row(s, st, u, err);
		store_done(st);
		return rc ? -rc : 1;
	}
	store_done(st);
	if (rc == SQLITE_DONE)
		return 0;
	return -store_dberr(s, err, "cannot read messenger user", NULL);
}

int store_msgr_user_get(struct store *s, const char *hash,
			struct store_msgr_user *u, struct bot_err *err)
{
	return msgr_user_query(s, MS_USER_GET, hash, u, err);
}

int store_msgr_user_by_conv(struct store *s, const char *conv,
			    struct store_msgr_user *u, struct bot_err *err)
{
	if (!conv || !*conv)
		return 0;
	return msgr_user_query(s, MS_USER_CONV, conv, u, err);
}

int store_msgr_user_put(struct store *s, const struct store_msgr_user *u,
			struct bot_err *err)
{
	sqlite3_stmt *st = msgr_stmt(s, MS_USER_PUT, err);
	unsigned char *blob = NULL;
	size_t n = 0;
	int rc;

	if (!st)
		return BOT_EDB;
	rc = msgr_seal(s, MSGR_AD_USER, u->recipient, strlen(u->recipient),
		       &blob, &n, err);
	if (rc)
		return rc;
	store_bind_text(st, 1, u->hash);
	sqlite3_bind_blob(st, 2, blob, (int)n, SQLITE_STATIC);
	store_bind_text(st, 3, u->conv[0] ? u->conv : NULL);
	store_bind_time(st, 4, u->last_citizen_at);
	store_bind_time(st, 5, u->paused_until);
	sqlite3_bind_int(st, 6, u->disclosed);
	sqlite3_bind_int(st, 7, u->thread_other);
	rc = store_run(st);
	bot_free(blob);
	if (rc != SQLITE_OK)
		return store_dberr(s, err, "cannot store messenger user", NULL);
	return BOT_OK;
}

/* ---- outbox -------------------------------------------------------------------------- */

int store_msgr_out_add(struct store *s, struct store_msgr_out *o,
		       const char *body, size_t len, struct bot_err *err)
{
	sqlite3_stmt *st = msgr_stmt(s, MS_OUT_ADD, err);
	unsigned char *blob = NULL;
	size_t n = 0;
	int rc;

	if (!st)
		return BOT_EDB;
	rc = msgr_seal(s, MSGR_AD_OUTBOX, body, len, &blob, &n, err);
	if (rc)
		return rc;
	store_bind_text(st, 1, o->conv[0] ? o->conv : NULL);
	store_bind_text(st, 2, o->user);
	store_bind_text(st, 3, o->path);
	store_bind_text(st, 4, o->kind);
	sqlite3_bind_blob(st, 5, blob, (int)n, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, o->next_ms);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)(o->next_ms / 1000));
	rc = store_run(st);
	bot_free(blob);
	if (rc != SQLITE_OK)
		return store_dberr(s, err, "cannot queue messenger call", NULL);
	o->id = sqlite3_last_insert_rowid(s->db);
	return BOT_OK;
}

static int msgr_out_row(struct store *s, sqlite3_stmt *st,
			struct store_msgr_out *o, char **body,
			struct bot_err *err)
{
	size_t n = 0;

	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(st, 0);
	msgr_copy(o->conv, sizeof(o->conv), sqlite3_column_text(st, 1));
	msgr_copy(o->user, sizeof(o->user), sqlite3_column_text(st, 2));
	msgr_copy(o->path, sizeof(o->path), sqlite3_column_text(st, 3));
	msgr_copy(o->kind, sizeof(o->kind), sqlite3_column_text(st, 4));
	o->attempts = sqlite3_column_int(st, 5);
	o->next_ms = sqlite3_column_int64(st, 6);
	return msgr_open(s, MSGR_AD_OUTBOX, st, 7, body, &n, err);
}

int store_msgr_out_next(struct store *s, int64_t now_ms, int64_t busy,
			struct store_msgr_out *o, char **body,
			struct bot_err *err)
{
	sqlite3_stmt *st = msgr_stmt(s, MS_OUT_NEXT, err);
	int rc;

	*body = NULL;
	if (!st)
		return -BOT_EDB;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, busy);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = msgr_out_row(s, st, o, body, err);
		store_done(st);
		/* another key: it can never be sent, do not block the user */
		if (rc == BOT_EAUTH &&
		    store_msgr_out_update(s, o->id, "failed", o->attempts,
					  o->next_ms, "cannot decrypt", NULL))
			rc = BOT_EDB;
		return rc ? -rc : 1;
	}
	store_done(st);
	if (rc == SQLITE_DONE)
		return 0;
	return -store_dberr(s, err, "cannot read messenger outbox", NULL);
}

int64_t store_msgr_out_due(struct store *s)
{
	sqlite3_stmt *st = msgr_stmt(s, MS_OUT_DUE, NULL);
	int64_t due = -1;

	if (!st)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		due = sqlite3_column_int64(st, 0);
	store_done(st);
	return due;
}

int store_msgr_out_update(struct store *s, int64_t id, const char *state,
			  int attempts, int64_t next_ms, const char *error,
			  struct bot_err *err)
{
	sqlite3_stmt *st = msgr_stmt(s, MS_OUT_UPDATE, err);

	if (!st)
		return BOT_EDB;
	sqlite3_bind_int64(st, 1, id);
	store_bind_text(st, 2, state);
	sqlite3_bind_int(st, 3, attempts);
	sqlite3_bind_int64(st, 4, next_ms);
	store_bind_text(st, 5, error);
	if (store_run(st) != SQLITE_OK)
		return store_dberr(s, err, "cannot update messenger call", NULL);
	return BOT_OK;
}

int64_t store_msgr_count(struct store *s, const char *what)
{
	static const struct {
		const char *what;
		const char *sql;
	} q[] = {
		{ "inbox", "SELECT count(*) FROM msgr_inbox WHERE state = 'new'" },
		{ "seen", "SELECT count(*) FROM msgr_seen" },
		{ "users", "SELECT count(*) FROM msgr_users" },
		{ "pending", "SELECT count(*) FROM msgr_outbox WHERE state = 'pending'" },
		{ "sent", "SELECT count(*) FROM msgr_outbox WHERE state = 'sent'" },
		{ "failed", "SELECT count(*) FROM msgr_outbox WHERE state = 'failed'" },
	};
	sqlite3_stmt *st = NULL;
	int64_t n = -1;
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(q); i++)
		if (!strcmp(q[i].what, what))
			break;
	if (i == BOT_ARRAY_SIZE(q) ||
	    sqlite3_prepare_v2(s->db, q[i].sql, -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int store_msgr_purge(struct store *s, time_t before, struct bot_err *err)
{
	static const int which[] = { MS_PURGE_SEEN, MS_PURGE_USERS, MS_PURGE_OUT };
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(which); i++) {
		st = msgr_stmt(s, which[i], err);
		if (!st)
			return BOT_EDB;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)before);
		if (store_run(st) != SQLITE_OK)
			return store_dberr(s, err, "cannot purge messenger rows",
					   NULL);
	}
	return BOT_OK;
}
