/*
 * store_msgr.c - the Messenger connector's tables: the durable inbox of
 * webhook deliveries (written before the 200 goes back, deduplicated on
 * the message id) and the outbox of Send API calls with their retries.
 * Page-scoped ids and message bodies are personal data: they are kept
 * only encrypted or as salted hashes.
 */
#include "bot.h"
#include "store.h"

#include "store_int.h"
#include "banned.h"

const char store_migration_messenger[] =
	"CREATE TABLE msgr_inbox ("
	"  id INTEGER PRIMARY KEY,"
	"  mid TEXT UNIQUE,"		/* message id, for deduplication */
	"  body BLOB NOT NULL,"		/* the delivery, AES-256-GCM sealed */
	"  received INTEGER NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'new'"
	"    CHECK (state IN ('new', 'done', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX msgr_inbox_new ON msgr_inbox(state) WHERE state = 'new';"
	"CREATE TABLE msgr_outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  conv TEXT,"
	"  request BLOB NOT NULL,"	/* recipient and message, sealed */
	"  state TEXT NOT NULL DEFAULT 'pending'"
	"    CHECK (state IN ('pending', 'sent', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER NOT NULL,"
	"  last_error TEXT,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX msgr_outbox_due ON msgr_outbox(next_at)"
	"  WHERE state = 'pending';"
	"CREATE TABLE msgr_users ("
	"  psid_hash TEXT PRIMARY KEY NOT NULL,"	/* salted SHA-256 */
	"  conv TEXT,"
	"  last_citizen_at INTEGER,"
	"  paused_until INTEGER);";
