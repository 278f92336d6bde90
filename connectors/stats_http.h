/*
 * stats_http.h - one statistics report, as 'amtsbot stats' prints it and
 * as the /stats page reads it from /stats/api/ (JSON, CSV) with an
 * editor's token.
 */
#ifndef STATS_HTTP_H
#define STATS_HTTP_H

#include <stddef.h>
#include <time.h>
#include "engine/bot.h"
#include "json.h"

struct store;
struct match;
struct kb;
struct server;
struct lws;
struct strbuf;
struct stats_counts;
struct stats_groups;

/* [since, until) in local midnights and the period before, same length. */
struct stats_period {
	time_t since, until, prev_since;
	char since_s[11], until_s[11];	/* until_s: the last day included */
	char prev_since_s[11], prev_until_s[11];
};

/*
 * From "YYYY-MM-DD" days, both included; NULL 'until' means today, NULL
 * 'since' 29 days before 'until' (30 days).  BOT_EINVAL with a message
 * for a bad date or since after until.
 */
int stats_period_init(struct stats_period *p, const char *since,
		      const char *until, time_t now, struct bot_err *err) BOT_WUR;

#define STATS_WANT_UNANSWERED 1u
#define STATS_WANT_SUGGESTIONS 2u
#define STATS_WANT_STALE 4u

/* A loaded report; everything owned by it.  Zero it before loading. */
struct stats_data {
	struct stats_period p;
	struct stats_counts *now, *before;
	struct stats_row *rows;
	size_t n_rows;
	struct text *text;		/* stemmer for the grouping */
	struct stats_groups *grouper;
	const struct stats_group *groups;	/* owned by 'grouper' */
	size_t n_groups;
	struct json_stats_sugg *sugg;	/* strings owned */
	size_t n_sugg;
	struct stats_stale *stale;	/* strings borrowed from the kb */
	size_t n_stale;
	struct json_stats json;		/* all of the above, for json_stats_add() */
};

/*
 * Read the figures of both periods and, as 'want' says, the unanswered
 * questions (the closest intent from the database, else from 'm' when not
 * NULL), the suggestions and the stale answers of 'kb' (not NULL then).
 * 'd->p' must be set.  Fills 'err' and returns BOT_E* on failure; release
 * 'd' either way.
 */
int stats_data_load(struct stats_data *d, struct store *s, struct match *m,
		    const struct kb *kb, unsigned want, struct bot_err *err) BOT_WUR;
void stats_data_release(struct stats_data *d);

/*
 * Answer GET /stats/api/report (JSON: figures, unanswered questions,
 * suggestions, stale answers) and /stats/api/export.csv, both with
 * ?since=YYYY-MM-DD&until=YYYY-MM-DD, for an agent with role 'editor'
 * named by "Authorization: Bearer TOKEN": 401 without a valid token, 403
 * for other roles, 429 while the address is locked after failed tokens
 * (agent_auth_blocked), 400 for a bad date, 404 for other paths.  Fills 'body',
 * '*status' and '*type' (a static string).  -1 when out of memory.
 */
int stats_http_handle(struct server *srv, struct lws *wsi, const char *uri,
		      struct strbuf *body, int *status, const char **type);

#endif /* STATS_HTTP_H */
