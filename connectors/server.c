/*
 * server.c - the lws context of 'amtsbot serve': vhost, mounts, security
 * headers, /healthz and /metrics, the logger (with the lws bridge), the
 * knowledge-base reload (inotify + SIGHUP) and the retention purge.
 * One service thread; timers are lws_sul, so nothing needs a lock.
 *
 * The loop is libev's with the epoll backend, not lws' own poll(): with
 * 5,000 connections every poll() call walks all of them (measured: 72 %
 * of the server's time at 5,000 messages/s went into poll, and a loop
 * pass cost half a millisecond before it did any work).
 */
#include "engine/bot.h"
#include "server.h"

#include <errno.h>
#include <ev.h>
#include <libwebsockets.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/dialog.h"
#include "engine/kb.h"
#include "engine/store.h"
#include "engine/strbuf.h"
#include "json.h"
#include "main.h"
#include "messenger.h"
#include "stats_http.h"
#include "web.h"

#include "engine/banned.h"

#define SERVER_TICK_US (500 * LWS_US_PER_MS)
#define SERVER_PURGE_US (3600 * LWS_US_PER_SEC)
#define SERVER_HTTP_MAX (256 * 1024)	/* /metrics body cap */

/* ---- logging ------------------------------------------------------------ */

/*
 * The one process-wide setting outside main.c: written once at start
 * before the loop runs, read everywhere.
 */
static int log_level = LOG_NOTICE;

static const struct {
	const char *name;
	int level;
} log_levels[] = {
	{ "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
};

void log_set_level(const char *name)
{
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(log_levels); i++)
		if (name && !strcmp(name, log_levels[i].name))
			log_level = log_levels[i].level;
}

int log_enabled(int level)
{
	return level <= log_level;
}

void log_write(int level, const char *fmt, ...)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice",
		"info", "debug"
	};
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s amtsbot %s: ", stamp, names[level & 7]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* lws log lines end in '\n'; its notices are our info. */
static void log_lws_bridge(int lws_level, const char *line)
{
	int level = lws_level & LLL_ERR ? LOG_ERR :
		    lws_level & LLL_WARN ? LOG_WARNING :
		    lws_level & (LLL_NOTICE | LLL_USER) ? LOG_INFO : LOG_DEBUG;
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_msg(level, "lws: %.*s", (int)n, line);
}

/* ---- metrics ------------------------------------------------------------- */

static const double metrics_bounds[METRICS_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
};

static const char *const metrics_handoff_names[MH_N] = {
	"personal_data", "requested", "case", "fallback", "other"
};

static void metrics_count_intent(struct server_metrics *m, const char *id)
{
	uint32_t h = 2166136261u;
	const char *p;
	size_t i, slot;

	for (p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (i = 0; i < METRICS_INTENTS; i++) {
		slot = (h + i) % METRICS_INTENTS;
		if (!m->intents[slot].id[0]) {
			if (strlen(id) >= sizeof(m->intents[slot].id))
				break;
			memcpy(m->intents[slot].id, id, strlen(id) + 1);
		}
		if (!strcmp(m->intents[slot].id, id)) {
			m->intents[slot].n++;
			return;
		}
	}
	m->intents_other++;
}

void metrics_answer(struct server_metrics *m, const struct reply *r)
{
	size_t i;

	m->messages++;
	if (r->fallback)
		m->fallbacks++;
	if (r->intent)
		metrics_count_intent(m, r->intent);
	if (!r->handoff)
		return;
	for (i = 0; i < MH_OTHER; i++)
		if (r->handoff_reason &&
		    !strcmp(r->handoff_reason, metrics_handoff_names[i]))
			break;
	m->handoffs[i]++;
}

void metrics_latency(struct server_metrics *m, double seconds)
{
	size_t i;

	for (i = 0; i < METRICS_BUCKETS; i++)
		if (seconds <= metrics_bounds[i])
			break;
	m->latency[i]++;
	m->latency_sum += seconds;
	m->latency_n++;
}

/* Prometheus label values: escape backslash, quote and newline. */
static int metrics_label(struct strbuf *sb, const char *s)
{
	int rc = 0;

	for (; *s && !rc; s++)
		rc = (*s == '\\' || *s == '"') ? strbuf_addch(sb, '\\') ||
						   strbuf_addch(sb, *s) :
		     *s == '\n' ? strbuf_adds(sb, "\\n") : strbuf_addch(sb, *s);
	return rc;
}

static int metrics_histogram(struct strbuf *sb, const struct server_metrics *m)
{
	uint64_t cum = 0;
	size_t i;
	int rc = strbuf_adds(sb,
		"# HELP amtsbot_reply_latency_seconds Time from a question to its answer being written.\n"
		"# TYPE amtsbot_reply_latency_seconds histogram\n");

	for (i = 0; !rc && i < METRICS_BUCKETS; i++) {
		cum += m->latency[i];
		rc = strbuf_addf(sb, "amtsbot_reply_latency_seconds_bucket{le=\"%g\"} %llu\n",
				 metrics_bounds[i], (unsigned long long)cum);
	}
	cum += m->latency[METRICS_BUCKETS];
	return rc || strbuf_addf(sb,
		"amtsbot_reply_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
		"amtsbot_reply_latency_seconds_sum %.6f\n"
		"amtsbot_reply_latency_seconds_count %llu\n",
		(unsigned long long)cum, m->latency_sum,
		(unsigned long long)m->latency_n);
}

static int metrics_intents(struct strbuf *sb, const struct server_metrics *m)
{
	size_t i;
	int rc = strbuf_adds(sb,
		"# HELP amtsbot_answers_total Answers by intent.\n"
		"# TYPE amtsbot_answers_total counter\n");

	for (i = 0; !rc && i < METRICS_INTENTS; i++) {
		if (!m->intents[i].id[0])
			continue;
		rc = strbuf_adds(sb, "amtsbot_answers_total{intent=\"") ||
		     metrics_label(sb, m->intents[i].id) ||
		     strbuf_addf(sb, "\"} %llu\n", (unsigned long long)m->intents[i].n);
	}
	if (!rc && m->intents_other)
		rc = strbuf_addf(sb, "amtsbot_answers_total{intent=\"other\"} %llu\n",
				 (unsigned long long)m->intents_other);
	return rc;
}

static int metrics_text(struct strbuf *sb, const struct server *s)
{
	const struct server_metrics *m = &s->metrics;
	size_t i;
	int rc;

	rc = strbuf_addf(sb,
		"# HELP amtsbot_messages_total Citizens' messages answered.\n"
		"# TYPE amtsbot_messages_total counter\n"
		"amtsbot_messages_total %llu\n"
		"# HELP amtsbot_fallbacks_total Messages the bot could not answer.\n"
		"# TYPE amtsbot_fallbacks_total counter\n"
		"amtsbot_fallbacks_total %llu\n"
		"# HELP amtsbot_handoffs_total Handoffs to a person by reason.\n"
		"# TYPE amtsbot_handoffs_total counter\n",
		(unsigned long long)m->messages, (unsigned long long)m->fallbacks);
	for (i = 0; !rc && i < MH_N; i++)
		rc = strbuf_addf(sb, "amtsbot_handoffs_total{reason=\"%s\"} %llu\n",
				 metrics_handoff_names[i],
				 (unsigned long long)m->handoffs[i]);
	rc = rc || metrics_intents(sb, m) || metrics_histogram(sb, m) ||
	     messenger_metrics_add(s, sb) ||
	     strbuf_addf(sb,
		"# HELP amtsbot_open_connections Open WebSocket connections.\n"
		"# TYPE amtsbot_open_connections gauge\n"
		"amtsbot_open_connections %u\n"
		"# HELP amtsbot_kb_reloads_total Knowledge base reloads by result.\n"
		"# TYPE amtsbot_kb_reloads_total counter\n"
		"amtsbot_kb_reloads_total{result=\"ok\"} %llu\n"
		"amtsbot_kb_reloads_total{result=\"error\"} %llu\n",
		s->open_connections, (unsigned long long)m->reloads_ok,
		(unsigned long long)m->reloads_error);
	return rc ? BOT_ENOMEM : BOT_OK;
}

static int healthz_text(struct strbuf *sb, const struct server *s)
{
	int rc = strbuf_adds(sb, "{\"status\":\"ok\",\"kb_version\":") ||
		 json_str_add(sb, s->kb->version, strlen(s->kb->version)) ||
		 strbuf_addf(sb, ",\"intents\":%zu,\"services\":%zu,"
			     "\"offices\":%zu,\"connections\":%u,\"uptime_s\":%lld}\n",
			     s->kb->n_intents, s->kb->n_services,
			     s->kb->n_offices, s->open_connections,
			     (long long)(time(NULL) - s->started));

	return rc ? BOT_ENOMEM : BOT_OK;
}

/* ---- HTTP: /healthz and /metrics ----------------------------------------- */

struct http_pss {
	struct strbuf body;
	int sent;
};

static int http_start(struct server *s, struct http_pss *pss, struct lws *wsi)
{
	uint8_t hdr[LWS_PRE + 2048], *start = hdr + LWS_PRE, *p = start,
		*end = hdr + sizeof(hdr) - 1;
	char uri[64];
	const char *type = "application/json";
	int rc, status = HTTP_STATUS_OK;

	strbuf_init(&pss->body, SERVER_HTTP_MAX);
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return -1;
	if (!strcmp(uri, "/healthz")) {
		rc = healthz_text(&pss->body, s);
	} else if (!strcmp(uri, "/metrics")) {
		type = "text/plain; version=0.0.4; charset=utf-8";
		rc = metrics_text(&pss->body, s);
	} else if (!strncmp(uri, "/stats/api/", 11)) {
		strbuf_init(&pss->body, 64u << 20);	/* the CSV of a year */
		rc = stats_http_handle(s, wsi, uri, &pss->body, &status, &type);
	} else {
		return 2;	/* not ours: a missing file, lws answers 404 */
	}
	if (rc)
		return -1;
	if (lws_add_http_common_headers(wsi, (unsigned)status, type,
					pss->body.len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

static int http_write(struct http_pss *pss, struct lws *wsi)
{
	char *buf;
	size_t n = pss->body.len;
	int rc;

	if (pss->sent)
		return 0;
	/* lws wants LWS_PRE bytes before what it writes */
	buf = bot_malloc(LWS_PRE + n);
	if (!buf)
		return -1;
	memcpy(buf + LWS_PRE, pss->body.buf, n);
	rc = lws_write(wsi, (unsigned char *)buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
	bot_free(buf);
	pss->sent = 1;
	if (rc < (int)n)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct server *s = lws_context_user(lws_get_context(wsi));
	struct http_pss *pss = user;
	int rc;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		rc = http_start(s, pss, wsi);
		if (rc != 2)
			return rc;
		break;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_write(pss, wsi);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (pss)
			strbuf_release(&pss->body);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- origins and headers ---------------------------------------------------- */

int server_origin_allowed(const struct server *s, const char *origin)
{
	size_t i;

	for (i = 0; i < s->n_origins; i++)
		if (!strcasecmp(s->origins[i], origin))
			return 1;
	return 0;
}

/* The configured origins, or the server's own for its listen port. */
static int server_origins_init(struct server *s, int port, struct bot_err *err)
{
	const struct conf *c = s->conf;
	char buf[128];
	size_t i;

	for (i = 0; i < c->n_origins; i++)
		s->origins[s->n_origins++] = bot_strdup(c->origins[i]);
	if (!c->n_origins) {
		snprintf(buf, sizeof(buf), "http://127.0.0.1:%d", port);
		s->origins[s->n_origins++] = bot_strdup(buf);
		snprintf(buf, sizeof(buf), "http://localhost:%d", port);
		s->origins[s->n_origins++] = bot_strdup(buf);
	}
	for (i = 0; i < s->n_origins; i++)
		if (!s->origins[i])
			return bot_fail(err, BOT_ENOMEM, "out of memory");
	return BOT_OK;
}

struct server_priv {
	struct server *srv;
	struct lws_protocols protocols[4];
	struct lws_http_mount mounts[7];
	struct lws_protocol_vhost_options headers[4];
	struct lws_protocol_vhost_options pvo, pvo_default;
	lws_retry_bo_t retry;
	char *csp;
	char *iface;
	int inotify_fd;
	lws_sorted_usec_list_t sul_tick, sul_purge;
	struct ev_loop *loop;
	ev_prepare pass_end;	/* before the loop waits again */
	ev_timer wake;		/* ... no later than web_flush() wants */
};

/*
 * Our own strict CSP instead of lws' canned one, whose frame-ancestors
 * 'none' would break pages that embed the widget (reference 2.3).
 */
static int server_headers(struct server *s, struct server_priv *pv)
{
	struct strbuf sb;
	size_t i;
	int rc;

	strbuf_init(&sb, 4096);
	rc = strbuf_adds(&sb, "default-src 'self'; script-src 'self'; "
			 "style-src 'self'; img-src 'self' data:; "
			 "connect-src 'self'; object-src 'none'; "
			 "base-uri 'none'; form-action 'self'; "
			 "frame-ancestors 'self'");
	for (i = 0; !rc && i < s->n_origins; i++)
		rc = strbuf_addf(&sb, " %s", s->origins[i]);
	if (rc) {
		strbuf_release(&sb);
		return BOT_ENOMEM;
	}
	pv->csp = strbuf_detach(&sb);
	if (!pv->csp)
		return BOT_ENOMEM;
	pv->headers[0] = (struct lws_protocol_vhost_options){
		&pv->headers[1], NULL, "content-security-policy:", pv->csp };
	pv->headers[1] = (struct lws_protocol_vhost_options){
		&pv->headers[2], NULL, "x-content-type-options:", "nosniff" };
	pv->headers[2] = (struct lws_protocol_vhost_options){
		&pv->headers[3], NULL, "referrer-policy:", "no-referrer" };
	pv->headers[3] = (struct lws_protocol_vhost_options){
		NULL, NULL, "permissions-policy:", "camera=(), microphone=(), geolocation=()" };
	return BOT_OK;
}

static void server_mounts(struct server *s, struct server_priv *pv)
{
	struct lws_http_mount *m = pv->mounts;

	m[0].mountpoint = "/healthz";
	m[0].origin = "amtsbot-http";
	m[0].origin_protocol = LWSMPRO_CALLBACK;
	m[0].mount_next = &m[1];
	m[1] = m[0];
	m[1].mountpoint = "/metrics";
	m[1].mount_next = &m[4];
	/* the editors' statistics: API and page (web-widget/stats.html) */
	m[4] = m[0];
	m[4].mountpoint = "/stats/api";
	m[4].mount_next = &m[6];
	/* the Messenger webhook (messenger.c) */
	m[6] = m[0];
	m[6].mountpoint = MESSENGER_PATH;
	m[6].origin = MESSENGER_PROTOCOL_NAME;
	m[6].mount_next = s->web_dir ? &m[2] : NULL;
	m[2].mountpoint = "/";
	m[2].origin = s->web_dir;
	m[2].def = "index.html";
	m[2].origin_protocol = LWSMPRO_FILE;
	m[2].cache_max_age = 300;
	m[2].cache_reusable = 1;
	m[2].cache_revalidate = 1;
	m[2].mount_next = &m[3];
	/* the agent console: /agent is web-widget/agent.html */
	m[3] = m[2];
	m[3].mountpoint = "/agent";
	m[3].def = "agent.html";
	m[3].mount_next = &m[5];
	m[5] = m[2];
	m[5].mountpoint = "/stats";
	m[5].def = "stats.html";
	m[5].mount_next = NULL;
	for (m = pv->mounts; m; m = (struct lws_http_mount *)m->mount_next)
		m->mountpoint_len = (unsigned char)strlen(m->mountpoint);
}

static void server_protocols(struct server_priv *pv)
{
	pv->protocols[0].name = "amtsbot-http";
	pv->protocols[0].callback = http_callback;
	pv->protocols[0].per_session_data_size = sizeof(struct http_pss);
	web_protocol(&pv->protocols[1]);
	messenger_protocol(&pv->protocols[2]);
	/* upgrades without a subprotocol header get the citizens' protocol */
	pv->pvo_default.name = "default";
	pv->pvo_default.value = "";
	pv->pvo.name = WEB_PROTOCOL_NAME;
	pv->pvo.options = &pv->pvo_default;
}

/* Split "ADDR:PORT"; ADDR "*" or "" or "0.0.0.0" means every address. */
static int server_listen_addr(struct server *s, struct server_priv *pv,
			      int *port, struct bot_err *err)
{
	const char *listen = s->conf->listen, *colon = strrchr(listen, ':');
	char *end;
	long p;

	if (!colon)
		return bot_fail(err, BOT_EINVAL, "bad listen address '%s'", listen);
	p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 1 || p > 65535)
		return bot_fail(err, BOT_EINVAL, "bad port in listen address '%s'",
				listen);
	*port = (int)p;
	if (colon == listen || !strncmp(listen, "*:", 2) ||
	    !strncmp(listen, "0.0.0.0:", 8))
		return BOT_OK;
	pv->iface = bot_strndup(listen, (size_t)(colon - listen));
	if (!pv->iface)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	return BOT_OK;
}

/* ---- reload --------------------------------------------------------------- */

void server_log_kb_errors(const struct kb *kb, const struct bot_err *err)
{
	char line[1024];
	size_t i, n = 0;

	for (i = 0; kb->diags && i < kb->n_diags; i++) {
		if (kb->diags[i].severity != 'e')
			continue;
		kb_diag_format(&kb->diags[i], line, sizeof(line));
		log_msg(LOG_ERR, "%s", line);
		n++;
	}
	if (!n && err && err->msg[0])
		log_msg(LOG_ERR, "%s", err->msg);
}

int server_reload(struct server *s, const char *why)
{
	struct bot_err err = { 0 };
	struct dialog *d = NULL;
	struct kb *kb;

	kb = kb_load(s->conf->kb, &err);
	if (kb && !kb->n_errors)
		d = dialog_new(kb, &err);
	if (!d) {
		if (kb && kb->n_errors)
			server_log_kb_errors(kb, &err);
		else
			log_msg(LOG_ERR, "%s", err.msg);
		log_msg(LOG_ERR, "knowledge base '%s' not reloaded (%s): "
			"still serving version %s", s->conf->kb, why,
			s->kb->version);
		kb_free(&kb);
		s->metrics.reloads_error++;
		return BOT_EPARSE;
	}
	/* replies borrow from the kb only within one turn: free at once */
	dialog_free(&s->dialog);
	kb_free(&s->kb);
	s->kb = kb;
	s->dialog = d;
	s->metrics.reloads_ok++;
	log_msg(LOG_NOTICE, "knowledge base reloaded (%s): version %s, "
		"%zu intents, %zu services, %zu offices", why, kb->version,
		kb->n_intents, kb->n_services, kb->n_offices);
	return BOT_OK;
}

static void server_watch(struct server *s, struct server_priv *pv)
{
	const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
			      IN_DELETE | IN_CREATE;
	char path[PATH_MAX];

	pv->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (pv->inotify_fd < 0) {
		log_msg(LOG_WARNING, "cannot watch '%s': %s; reload with SIGHUP",
			s->conf->kb, strerror(errno));
		return;
	}
	if (inotify_add_watch(pv->inotify_fd, s->conf->kb, mask) < 0)
		log_msg(LOG_WARNING, "cannot watch '%s': %s", s->conf->kb,
			strerror(errno));
	snprintf(path, sizeof(path), "%s/tests", s->conf->kb);
	if (access(path, F_OK) == 0 &&
	    inotify_add_watch(pv->inotify_fd, path, mask) < 0)
		log_msg(LOG_WARNING, "cannot watch '%s': %s", path, strerror(errno));
}

/* Drain the inotify queue; 1 when a YAML file changed. */
static int server_kb_changed(struct server_priv *pv)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	const char *dot;
	ssize_t n;
	char *p;
	int changed = 0;

	if (pv->inotify_fd < 0)
		return 0;
	while ((n = read(pv->inotify_fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			dot = ev->len ? strrchr(ev->name, '.') : NULL;
			if (dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml")))
				changed = 1;
		}
	}
	return changed;
}

/* Every 500 ms: SIGHUP and changed kb files; also wakes the loop up so
 * that it sees the stop flag. */
static void server_tick(lws_sorted_usec_list_t *sul)
{
	struct server_priv *pv = lws_container_of(sul, struct server_priv,
						  sul_tick);
	struct server *s = pv->srv;

	if (main_reload_requested) {
		main_reload_requested = 0;
		server_kb_changed(pv);
		server_reload(s, "SIGHUP");
	} else if (server_kb_changed(pv)) {
		server_reload(s, "files changed");
	}
	lws_sul_schedule(s->ctx, 0, &pv->sul_tick, server_tick, SERVER_TICK_US);
}

/* Retention: at start and hourly. */
static void server_purge(lws_sorted_usec_list_t *sul)
{
	struct server_priv *pv = lws_container_of(sul, struct server_priv,
						  sul_purge);
	struct server *s = pv->srv;
	struct bot_err err = { 0 };
	time_t before = time(NULL) - (time_t)s->conf->retention_days * 86400;
	int64_t n = 0;

	/* the purge runs its own transaction: wait for the group commit */
	if (store_in_transaction(s->store)) {
		lws_sul_schedule(s->ctx, 0, &pv->sul_purge, server_purge,
				 LWS_US_PER_SEC);
		return;
	}
	/* folds the figures into the daily aggregates, then store_purge() */
	if (store_stats_purge(s->store, before, &n, &err))
		log_msg(LOG_ERR, "cannot delete old conversations: %s", err.msg);
	else if (n)
		log_msg(LOG_NOTICE, "deleted %lld conversations older than %ld days",
			(long long)n, s->conf->retention_days);
	lws_sul_schedule(s->ctx, 0, &pv->sul_purge, server_purge,
			 SERVER_PURGE_US);
}

/* ---- start, run, stop ------------------------------------------------------ */

/* Room for max_connections sockets plus the db, inotify and listeners. */
static unsigned server_raise_nofile(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < (rlim_t)want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
			      rl.rlim_max > (rlim_t)want ? (rlim_t)want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			log_msg(LOG_WARNING, "cannot raise the file limit: %s",
				strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > (rlim_t)want ? (unsigned)want : (unsigned)rl.rlim_cur;
}

static char *server_realpath(const char *path)
{
	char buf[PATH_MAX];

	return realpath(path, buf) ? bot_strdup(buf) : NULL;
}

/* Find web-widget/: the option, next to the binary, or in the cwd. */
static char *server_find_web(const struct conf *c)
{
	char exe[PATH_MAX], path[PATH_MAX + 16], *slash;
	ssize_t n;

	if (c->web && *c->web)
		return server_realpath(c->web);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/web-widget", exe);
			if (access(path, R_OK) == 0)
				return server_realpath(path);
		}
	}
	return server_realpath("web-widget");
}

static void server_info(struct server *s, struct server_priv *pv, int port,
			struct lws_context_creation_info *info)
{
	memset(info, 0, sizeof(*info));
	info->port = port;
	info->iface = pv->iface;
	info->protocols = pv->protocols;
	info->mounts = pv->mounts;
	info->headers = pv->headers;
	info->pvo = &pv->pvo;
	info->user = s;
	info->count_threads = 1;
	info->fd_limit_per_thread = server_raise_nofile(s->conf->max_connections + 64);
	/* TLS for the Send API client (messenger.c) */
	info->options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
			LWS_SERVER_OPTION_DISABLE_IPV6 *
			(pv->iface && strchr(pv->iface, '.') ? 1 : 0);
	info->vhost_name = "amtsbot";
	info->server_string = "amtsbot";
	pv->retry.secs_since_valid_ping = (uint16_t)s->conf->ping_seconds;
	pv->retry.secs_since_valid_hangup = (uint16_t)(s->conf->ping_seconds + 10);
	info->retry_and_idle_policy = &pv->retry;
	info->timeout_secs = 10;
	info->options |= LWS_SERVER_OPTION_LIBEV;
	info->foreign_loops = (void **)&pv->loop;
}

/*
 * The end of a loop pass: commit the group and let the replies go.  A
 * commit put off to the end of its gap needs a timer of our own: an lws
 * timer scheduled here, outside lws' callbacks, does not wake the libev
 * loop (measured: a lone reply waited up to 100 ms).
 */
static void server_pass_end(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct server *s = w->data;
	struct server_priv *pv = s->priv;
	int64_t us;

	(void)revents;
	if (main_stop_requested) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	us = web_flush(s);
	if (us < 0)
		return;
	ev_timer_stop(loop, &pv->wake);
	ev_timer_set(&pv->wake, (ev_tstamp)us / 1e6, 0.);
	ev_timer_start(loop, &pv->wake);
}

/* Wakes the loop: the next pass end does the work. */
static void server_wake(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

static int server_loop_new(struct server *s, struct server_priv *pv,
			   struct bot_err *err)
{
	pv->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
	if (!pv->loop)
		return bot_fail(err, BOT_EIO, "cannot create the event loop "
				"(libev, epoll): %s", strerror(errno));
	ev_prepare_init(&pv->pass_end, server_pass_end);
	pv->pass_end.data = s;
	ev_prepare_start(pv->loop, &pv->pass_end);
	ev_timer_init(&pv->wake, server_wake, 0., 0.);
	return BOT_OK;
}

int server_start(struct server *s, struct bot_err *err)
{
	struct lws_context_creation_info info;
	struct server_priv *pv;
	int port = 0, rc;

	pv = bot_calloc(1, sizeof(*pv));
	if (!pv)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	s->priv = pv;
	pv->srv = s;
	pv->inotify_fd = -1;
	s->started = time(NULL);
	rc = server_listen_addr(s, pv, &port, err);
	if (!rc)
		rc = server_origins_init(s, port, err);
	if (!rc && server_headers(s, pv))
		rc = bot_fail(err, BOT_ENOMEM, "out of memory");
	if (rc)
		return rc;
	s->web_dir = server_find_web(s->conf);
	if (!s->web_dir)
		log_msg(LOG_WARNING, "no web-widget directory found: serving "
			"only /ws, /healthz and /metrics");
	server_mounts(s, pv);
	server_protocols(pv);
	lws_set_log_level(LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_USER, log_lws_bridge);
	rc = server_loop_new(s, pv, err);
	if (rc)
		return rc;
	server_info(s, pv, port, &info);
	s->ctx = lws_create_context(&info);
	if (!s->ctx)
		return bot_fail(err, BOT_EIO, "cannot listen on '%s'", s->conf->listen);
	server_watch(s, pv);
	lws_sul_schedule(s->ctx, 0, &pv->sul_tick, server_tick, SERVER_TICK_US);
	server_purge(&pv->sul_purge);
	log_msg(LOG_NOTICE, "serving http://%s/ (WebSocket /ws) from '%s'; "
		"kb '%s' version %s: %zu intents, %zu services, %zu offices; "
		"db '%s'", s->conf->listen, s->web_dir ? s->web_dir : "-",
		s->conf->kb, s->kb->version, s->kb->n_intents,
		s->kb->n_services, s->kb->n_offices, s->conf->db);
	return BOT_OK;
}

int server_run(struct server *s)
{
	struct server_priv *pv = s->priv;

	ev_run(pv->loop, 0);
	log_msg(LOG_NOTICE, "stopping");
	return 0;
}

void server_release(struct server *s)
{
	struct server_priv *pv = s->priv;
	struct bot_err err = { 0 };
	size_t i;

	/* destroying the context commits what web.c has pending */
	if (s->ctx)
		lws_context_destroy(s->ctx);
	s->ctx = NULL;
	if (s->store && store_in_transaction(s->store) &&
	    store_commit(s->store, &err))
		log_msg(LOG_ERR, "cannot commit: %s", err.msg);
	store_close(&s->store);
	dialog_free(&s->dialog);
	kb_free(&s->kb);
	for (i = 0; i < s->n_origins; i++)
		BOT_FREE(&s->origins[i]);
	s->n_origins = 0;
	BOT_FREE(&s->web_dir);
	if (pv) {
		if (pv->loop) {
			ev_prepare_stop(pv->loop, &pv->pass_end);
			ev_timer_stop(pv->loop, &pv->wake);
			ev_loop_destroy(pv->loop);
		}
		if (pv->inotify_fd >= 0)
			close(pv->inotify_fd);
		bot_free(pv->csp);
		bot_free(pv->iface);
		BOT_FREE(&s->priv);
	}
}
