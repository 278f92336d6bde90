/*
 * stats_http.c - one statistics report (two periods, unanswered
 * questions, suggestions, stale answers) for 'amtsbot stats' and for the
 * /stats page, whose API is here: GET /stats/api/report and
 * /stats/api/export.csv with an editor's token as a Bearer token.  Failed
 * tokens count towards the agents' login limit per address (agent.c), so
 * the API is no way round it.
 *
 * The report is computed on the service thread: a million messages take
 * a few hundred milliseconds, acceptable for a page a few editors open.
 */
#include "engine/bot.h"
#include "stats_http.h"

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "engine/dialog.h"
#include "engine/kb.h"
#include "engine/match.h"
#include "engine/stats.h"
#include "engine/store.h"
#include "engine/strbuf.h"
#include "engine/text.h"
#include "agent.h"
#include "server.h"

#include "engine/banned.h"

#define STATS_SUGG_MAX 1000	/* newest suggestions shown */
#define STATS_TOKEN_MAX 128

/* ---- periods ---------------------------------------------------------- */

int stats_period_init(struct stats_period *p, const char *since,
		      const char *until, time_t now, struct bot_err *err)
{
	time_t last;
	int rc = BOT_OK;

	memset(p, 0, sizeof(*p));
	if (until)
		rc = stats_day_parse(until, &last, err);
	else
		last = stats_day_add(now, 0);
	if (rc)
		return rc;
	p->until = stats_day_add(last, 1);
	if (since)
		rc = stats_day_parse(since, &p->since, err);
	else
		p->since = stats_day_add(last, -29);
	if (rc)
		return rc;
	if (p->since >= p->until)
		return bot_fail(err, BOT_EINVAL, "bad period: '--since' is after "
				"'--until'");
	/* the same number of days before: DST days have 23 or 25 hours */
	p->prev_since = stats_day_add(p->since, -(int)((p->until - p->since +
						      43200) / 86400));
	stats_day_str(p->since, p->since_s);
	stats_day_str(last, p->until_s);
	stats_day_str(p->prev_since, p->prev_since_s);
	stats_day_str(stats_day_add(p->since, -1), p->prev_until_s);
	return BOT_OK;
}

/* ---- loading ------------------------------------------------------------- */

/* The totals are always there, 0 when nothing happened (not the waits). */
static int stats_zero_totals(struct stats_counts *c)
{
	size_t i;

	for (i = 0; i < STATS_N_TOTALS; i++)
		if (strncmp(stats_totals[i], "wait_", 5) &&
		    stats_counts_add(c, stats_totals[i], 0))
			return BOT_ENOMEM;
	return BOT_OK;
}

static int stats_load_counts(struct stats_data *d, struct store *s,
			     struct bot_err *err)
{
	int rc;

	d->now = stats_counts_new();
	d->before = stats_counts_new();
	if (!d->now || !d->before)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	rc = store_stats_counts(s, d->p.since, d->p.until, d->now, err);
	if (!rc)
		rc = store_stats_counts(s, d->p.prev_since, d->p.since, d->before,
					err);
	if (rc)
		return rc;
	if (stats_zero_totals(d->now) || stats_zero_totals(d->before) ||
	    stats_rows(d->now, d->before, &d->rows, &d->n_rows))
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	return BOT_OK;
}

struct stats_unans {
	struct stats_groups *g;
	struct match *m;
};

/* The best candidate the matcher sees now, when none was stored. */
static int stats_unans_one(void *arg, const char *text, const char *closest,
			   time_t created)
{
	struct stats_unans *u = arg;
	struct match_result mr;

	(void)created;
	if (!text)
		return 0;
	if (!closest && u->m && !match_run(u->m, text, strlen(text), &mr, NULL) &&
	    mr.n_cand && mr.cand[0].score > 0)
		closest = mr.cand[0].intent->id;
	return stats_groups_add(u->g, text, closest);
}

static int stats_load_unanswered(struct stats_data *d, struct store *s,
				 struct match *m, struct bot_err *err)
{
	struct stats_unans u = { NULL, m };
	int rc;

	d->text = text_new(err);
	if (!d->text)
		return BOT_ENOMEM;
	d->grouper = stats_groups_new(d->text);
	if (!d->grouper)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	u.g = d->grouper;
	rc = store_stats_unanswered(s, d->p.since, d->p.until, stats_unans_one,
				    &u, err);
	if (rc == BOT_ENOMEM)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	if (rc)
		return rc;
	if (stats_groups_build(d->grouper, &d->groups, &d->n_groups))
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	return BOT_OK;
}

static int stats_sugg_one(void *arg, const char *text, const char *channel,
			  time_t created)
{
	struct stats_data *d = arg;
	struct json_stats_sugg *x;
	char day[11];

	if (d->n_sugg >= STATS_SUGG_MAX)
		return 0;
	x = bot_realloc(d->sugg, (d->n_sugg + 1) * sizeof(*x));
	if (!x)
		return BOT_ENOMEM;
	d->sugg = x;
	x = &d->sugg[d->n_sugg++];
	stats_day_str(created, day);
	x->day = bot_strdup(day);
	x->channel = channel ? bot_strdup(channel) : NULL;
	x->text = bot_strdup(text ? text : "");
	if (!x->day || !x->text || (channel && !x->channel))
		return BOT_ENOMEM;
	return 0;
}

static int stats_stale_one(void *arg, const struct stats_stale *s)
{
	struct stats_data *d = arg;
	struct stats_stale *x = bot_realloc(d->stale, (d->n_stale + 1) *
					    sizeof(*x));

	if (!x)
		return BOT_ENOMEM;
	d->stale = x;
	d->stale[d->n_stale++] = *s;
	return 0;
}

static void stats_json_fill(struct stats_data *d, unsigned want)
{
	struct json_stats *j = &d->json;
	static const struct stats_group no_groups[1];
	static const struct json_stats_sugg no_sugg[1];
	static const struct stats_stale no_stale[1];

	j->since = d->p.since_s;
	j->until = d->p.until_s;
	j->prev_since = d->p.prev_since_s;
	j->prev_until = d->p.prev_until_s;
	j->rows = d->rows;
	j->n_rows = d->n_rows;
	/* an empty list is still a list: non-NULL */
	if (want & STATS_WANT_UNANSWERED)
		j->groups = d->groups ? d->groups : no_groups;
	j->n_groups = d->n_groups;
	if (want & STATS_WANT_SUGGESTIONS)
		j->sugg = d->sugg ? d->sugg : no_sugg;
	j->n_sugg = d->n_sugg;
	if (want & STATS_WANT_STALE)
		j->stale = d->stale ? d->stale : no_stale;
	j->n_stale = d->n_stale;
}

int stats_data_load(struct stats_data *d, struct store *s, struct match *m,
		    const struct kb *kb, unsigned want, struct bot_err *err)
{
	int rc = stats_load_counts(d, s, err);

	if (!rc && (want & STATS_WANT_UNANSWERED))
		rc = stats_load_unanswered(d, s, m, err);
	if (!rc && (want & STATS_WANT_SUGGESTIONS)) {
		rc = store_stats_suggestions(s, d->p.since, d->p.until,
					     stats_sugg_one, d, err);
		if (rc == BOT_ENOMEM)
			bot_fail(err, rc, "out of memory");
	}
	if (!rc && (want & STATS_WANT_STALE) && kb &&
	    stats_stale_each(kb, time(NULL), stats_stale_one, d))
		rc = bot_fail(err, BOT_ENOMEM, "out of memory");
	if (!rc)
		stats_json_fill(d, want);
	return rc;
}

void stats_data_release(struct stats_data *d)
{
	size_t i;

	stats_counts_free(&d->now);
	stats_counts_free(&d->before);
	bot_free(d->rows);
	stats_groups_free(&d->grouper);
	text_free(&d->text);
	for (i = 0; i < d->n_sugg; i++) {
		bot_free((char *)d->sugg[i].day);
		bot_free((char *)d->sugg[i].channel);
		bot_free((char *)d->sugg[i].text);
	}
	bot_free(d->sugg);
	bot_free(d->stale);
	memset(d, 0, sizeof(*d));
}

/* ---- HTTP ------------------------------------------------------------------ */

struct stats_auth {
	char hash[STORE_HASH_HEX + 1];
	int found, editor;
};

static int stats_auth_one(void *arg, const struct store_agent *a)
{
	struct stats_auth *au = arg;

	if (strlen(a->token_hash) != STORE_HASH_HEX ||
	    CRYPTO_memcmp(au->hash, a->token_hash, STORE_HASH_HEX))
		return 0;
	au->found = 1;
	au->editor = !strcmp(a->role, "editor");
	return 1;
}

/* 200 for an editor, 401 without a known token, 403 for other roles. */
static int stats_http_token(struct server *srv, struct lws *wsi)
{
	char hdr[STATS_TOKEN_MAX + 16];
	struct stats_auth au = { .found = 0 };
	struct bot_err err = { 0 };
	const char *token;
	int len;

	len = lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (len <= 7 || strncasecmp(hdr, "Bearer ", 7))
		return 401;
	token = hdr + 7;
	store_token_hash(token, strlen(token), au.hash);
	OPENSSL_cleanse(hdr, sizeof(hdr));
	if (store_agent_each(srv->store, stats_auth_one, &au, &err)) {
		log_msg(LOG_ERR, "cannot check editor token: %s", err.msg);
		return 500;
	}
	if (!au.found)
		return 401;
	return au.editor ? 200 : 403;
}

/*
 * stats_http_token(), or 429 while the client's address is locked by
 * failed logins here or on /agent/ws: then even an editor's token is
 * refused.  A 401 counts when an Authorization header was sent (a page
 * asking without one guesses nothing); a 403 token is valid, no failure.
 */
static int stats_http_auth(struct server *srv, struct lws *wsi)
{
	char addr[64] = "";
	int rc;

	lws_get_peer_simple(wsi, addr, sizeof(addr));
	if (agent_auth_blocked(srv, addr)) {
		log_msg(LOG_WARNING, "stats login from '%s' refused: too many "
			"failures", addr);
		return 429;
	}
	rc = stats_http_token(srv, wsi);
	if (rc == 401 &&
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
		agent_auth_failed(srv, addr);
		log_msg(LOG_NOTICE, "failed stats login from '%s'", addr);
	}
	return rc;
}

static int stats_http_error(struct strbuf *body, int status, const char *code,
			    const char *msg)
{
	if (strbuf_adds(body, "{\"error\":") || json_opt_add(body, code) ||
	    strbuf_adds(body, ",\"message\":") || json_opt_add(body, msg) ||
	    strbuf_adds(body, "}\n"))
		return -1;
	return status;
}

/* The body of a request refused with 'status' by stats_http_auth(). */
static int stats_http_refuse(struct strbuf *body, int status)
{
	switch (status) {
	case 401:
		return stats_http_error(body, 401, "auth_required", NULL);
	case 403:
		return stats_http_error(body, 403, "forbidden", "Nur für die "
					"Redaktion (Rolle 'editor').");
	case 429:
		return stats_http_error(body, 429, "too_many_attempts", "Zu "
					"viele fehlgeschlagene Anmeldungen. "
					"Bitte warten Sie eine Minute.");
	default:
		return stats_http_error(body, status, "internal", NULL);
	}
}

/* The value of ?name= in 'out' ("" when absent). */
static void stats_http_arg(struct lws *wsi, const char *name, char *out,
			   size_t size)
{
	char buf[64];
	const char *v = lws_get_urlarg_by_name(wsi, name, buf, (int)sizeof(buf));

	snprintf(out, size, "%s", v ? v : "");
}

static void stats_http_args(struct lws *wsi, char *since, char *until,
			    size_t size)
{
	stats_http_arg(wsi, "since=", since, size);
	stats_http_arg(wsi, "until=", until, size);
}

static int stats_http_report(struct server *srv, struct lws *wsi, int csv,
			     struct strbuf *body)
{
	struct stats_data d = { 0 };
	struct bot_err err = { 0 };
	char since[32], until[32];
	int rc;

	stats_http_args(wsi, since, until, sizeof(since));
	if (stats_period_init(&d.p, since[0] ? since : NULL,
			      until[0] ? until : NULL, time(NULL), &err))
		return stats_http_error(body, 400, "bad_period", err.msg);
	rc = stats_data_load(&d, srv->store, dialog_match(srv->dialog), srv->kb,
			     csv ? 0 : STATS_WANT_UNANSWERED |
			     STATS_WANT_SUGGESTIONS | STATS_WANT_STALE, &err);
	if (rc) {
		log_msg(LOG_ERR, "cannot compute statistics: %s", err.msg);
		stats_data_release(&d);
		return stats_http_error(body, 500, "internal", NULL);
	}
	rc = csv ? stats_csv_add(body, d.rows, d.n_rows) :
	     json_stats_add(body, &d.json);
	stats_data_release(&d);
	return rc ? -1 : 200;
}

int stats_http_handle(struct server *srv, struct lws *wsi, const char *uri,
		      struct strbuf *body, int *status, const char **type)
{
	int csv = !strcmp(uri, "/stats/api/export.csv");
	int rc;

	*type = "application/json";
	rc = 404;
	if (csv || !strcmp(uri, "/stats/api/report"))
		rc = stats_http_auth(srv, wsi);
	if (rc == 404)
		rc = stats_http_error(body, 404, "not_found", NULL);
	else if (rc == 200)
		rc = stats_http_report(srv, wsi, csv, body);
	else
		rc = stats_http_refuse(body, rc);
	if (rc < 0)
		return -1;
	if (csv && rc == 200)
		*type = "text/csv; charset=utf-8";
	*status = rc;
	return 0;
}
