/*
 * store_stats.c - what the editors' statistics need beyond the messages
 * themselves: the netiquette verdict of each message, and indexes for
 * the queries by period.  Aggregates survive a purge without any text.
 */
#include "bot.h"
#include "store.h"

#include "store_int.h"
#include "banned.h"

const char store_migration_stats[] =
	"ALTER TABLE messages ADD COLUMN netiquette TEXT;"
	"CREATE TABLE stats_daily ("
	"  day TEXT NOT NULL,"		/* YYYY-MM-DD, local time */
	"  key TEXT NOT NULL,"		/* e.g. 'messages', 'intent:kosten' */
	"  n INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (day, key));";
