/*
 * stats.h - the editors' statistics without the database: named
 * counters, the keys a stored message counts under, periods of local
 * days, percentiles, grouping of unanswered questions into
 * near-duplicates, and the answers due for review.
 *
 * Every figure is a named counter in a struct stats_counts.  Keys without
 * a colon are totals ("messages", "fallbacks"); "group:name" keys are one
 * row of a table ("intent:ausweis.kosten", "hour:1-09" = Monday 09:00).
 * The same keys are stored per day in the database's aggregates when
 * conversations are purged, so live rows and aggregates add up.
 */
#ifndef STATS_H
#define STATS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "bot.h"

struct kb;
struct text;

#define STATS_KEY_MAX 160	/* longer keys are cut */
#define STATS_MAX_KEYS 500000	/* more distinct keys: BOT_ENOMEM */

/* ---- counters ------------------------------------------------------ */

struct stats_counts;		/* opaque: key -> int64 */

struct stats_counts *stats_counts_new(void) BOT_WUR;
void stats_counts_free(struct stats_counts **cp);
/* Add 'n' to 'key' (created at 0).  BOT_ENOMEM when out of memory or
 * over STATS_MAX_KEYS. */
int stats_counts_add(struct stats_counts *c, const char *key, int64_t n) BOT_WUR;
/* Set 'key' to 'n'. */
int stats_counts_set(struct stats_counts *c, const char *key, int64_t n) BOT_WUR;
/* Add every counter of 'from' to 'c'. */
int stats_counts_merge(struct stats_counts *c, const struct stats_counts *from) BOT_WUR;
/* The value of 'key', 0 when absent; 'has' (may be NULL) says whether. */
int64_t stats_counts_get(const struct stats_counts *c, const char *key, int *has);
/* Call 'fn' for every key in no particular order; non-zero stops. */
typedef int (*stats_count_fn)(void *arg, const char *key, int64_t n);
int stats_counts_each(const struct stats_counts *c, stats_count_fn fn, void *arg);
size_t stats_counts_size(const struct stats_counts *c);

/* ---- the keys of one stored message ---------------------------------- */

/* One message as the statistics see it (no text). */
struct stats_msg {
	time_t created;
	const char *role;	/* "citizen", "bot", "agent", "system" */
	const char *intent;
	const char *service;
	const char *netiquette;
	const char *handoff_reason;
	const char *channel;	/* NULL: not known here, counted elsewhere */
};

/* Local day, weekday and hour of a time, cached per hour (rows come in
 * time order, and localtime_r() is slow).  Zero it before first use. */
struct stats_clock {
	time_t from, to;	/* the cached hour */
	char day[11];		/* YYYY-MM-DD */
	int wday;		/* 1 Monday .. 7 Sunday */
	int hour;
};
void stats_clock_at(struct stats_clock *k, time_t t);

/*
 * Count message 'm' into 'c', every key prefixed with 'prefix' (may be
 * NULL; the aggregates use "YYYY-MM-DD\t"):
 *   messages                 every message
 *   questions, hour:D-HH     citizen messages, by local weekday and hour
 *   answers                  bot messages
 *   answered, intent:ID      bot messages with an intent
 *   service:ID               bot messages about a service
 *   fallbacks                bot messages without intent, netiquette
 *                            reminder or handoff: the bot did not know
 *   netiquette:KIND          netiquette reminders
 *   channel:CH               bot messages, when m->channel is known
 */
int stats_count_msg(struct stats_counts *c, struct stats_clock *k,
		    const char *prefix, const struct stats_msg *m) BOT_WUR;

/*
 * The same for many messages at once: a tally of the distinct column
 * combinations and of the citizens' hours, so the keys are built once per
 * combination instead of once per message.  stats_tally_flush() adds
 * everything to 'c' (no prefix) and empties the tally.
 */
struct stats_tally;
struct stats_tally *stats_tally_new(void) BOT_WUR;
void stats_tally_free(struct stats_tally **tp);
int stats_tally_add(struct stats_tally *t, const struct stats_msg *m) BOT_WUR;
int stats_tally_flush(struct stats_tally *t, struct stats_counts *c) BOT_WUR;

/* 1 when a bot message with these columns is a fallback (see above). */
int stats_is_fallback(const char *intent, const char *netiquette,
		      const char *handoff_reason);

/* ---- periods ----------------------------------------------------------- */

/*
 * Parse "YYYY-MM-DD" as local midnight into '*t'.  BOT_EINVAL with
 * "bad date 'X': use YYYY-MM-DD" otherwise.
 */
int stats_day_parse(const char *s, time_t *t, struct bot_err *err) BOT_WUR;
/* Local midnight 'days' days after (or before) the day of 't'. */
time_t stats_day_add(time_t t, int days);
/* "YYYY-MM-DD" of 't' (local) into 'out' (11 bytes). */
void stats_day_str(time_t t, char out[11]);

/* The p-th percentile (nearest rank, p 1..100) of 'v' (sorted here). */
int64_t stats_percentile(int64_t *v, size_t n, int p);

/* ---- unanswered questions --------------------------------------------- */

struct stats_group {
	char *text;		/* the most frequent wording (redacted) */
	char *closest;		/* the intent most often closest, or NULL */
	size_t n;		/* questions in the group */
	size_t n_variants;	/* distinct wordings */
};

struct stats_groups;		/* opaque collector */

/* Uses the stemmer of 't' (borrowed, not NULL). */
struct stats_groups *stats_groups_new(struct text *t) BOT_WUR;
void stats_groups_free(struct stats_groups **gp);
/* Add one unanswered question (copied); 'closest' may be NULL.  Text that
 * is not valid UTF-8 is skipped.  BOT_ENOMEM. */
int stats_groups_add(struct stats_groups *g, const char *text,
		     const char *closest) BOT_WUR;
/*
 * Group the questions: the same set of word stems (stop words left out)
 * is one group, and groups whose stem sets overlap by a Jaccard index of
 * at least 0.8 are joined (single link).  '*out' gets an array of
 * '*n' groups, most frequent first (ties: by text), owned by 'g'.
 */
int stats_groups_build(struct stats_groups *g, const struct stats_group **out,
		       size_t *n) BOT_WUR;
/* The sorted, space-separated stems of 'text' in 'out' (for tests). */
int stats_stems(struct text *t, const char *text, char *out, size_t size) BOT_WUR;

/* ---- answers due for review ---------------------------------------------- */

struct stats_stale {
	const char *kind;	/* "office", "service", "intent" */
	const char *id;
	const char *name;	/* title or name, or the id */
	const char *team;	/* may be NULL */
	const char *reviewed;	/* YYYY-MM-DD */
};

/*
 * Call 'fn' for every office, service and intent of 'kb' whose 'reviewed'
 * date is more than the kb's review_months before 'now' (strings borrowed
 * from the kb).  Those without a date are not listed ('amtsbot check'
 * names them).  Non-zero from 'fn' stops and is returned.
 */
typedef int (*stats_stale_fn)(void *arg, const struct stats_stale *s);
int stats_stale_each(const struct kb *kb, time_t now, stats_stale_fn fn,
		     void *arg);

/* ---- a report: two periods side by side ------------------------------- */

/* One figure in both periods; 'key' borrowed from the counts. */
struct stats_row {
	const char *key;
	int64_t now, before;
	int has_now, has_before;
};

/*
 * Every key of 'now' and 'before' as rows into '*rows' (bot_free() it):
 * totals first in a fixed order, then the groups by name, each group's
 * rows by 'now' descending, then by key.  BOT_ENOMEM.
 */
int stats_rows(const struct stats_counts *now, const struct stats_counts *before,
	       struct stats_row **rows, size_t *n) BOT_WUR;

/* The totals every report shows, 0 when nothing happened. */
extern const char *const stats_totals[];
#define STATS_N_TOTALS 12

/* "group,key,now,before" lines (totals have group "total") with a header,
 * RFC 4180 quoting; before is empty when the previous period lacks it. */
struct strbuf;
int stats_csv_add(struct strbuf *sb, const struct stats_row *rows, size_t n) BOT_WUR;

#endif /* STATS_H */
