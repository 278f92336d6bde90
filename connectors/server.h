/*
 * server.h - the HTTP/WebSocket server of 'amtsbot serve': one lws
 * context with one vhost and one service thread.  It serves web-widget/
 * through a file mount, /healthz and /metrics, and the citizens'
 * WebSocket (web.c) on /ws.  It also owns the process-wide logger.
 *
 * Everything here is used from the lws service thread only.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stdint.h>
#include <syslog.h>
#include <time.h>
#include "engine/bot.h"
#include "conf.h"

struct lws_context;
struct kb;
struct dialog;
struct store;
struct reply;
struct web_vhd;
struct agent_hub;

/* ---- logging (redis serverLog, mosquitto log__printf) --------------- */

/* Set once at start from conf log_level; 'name' is "error" ... "debug". */
void log_set_level(const char *name);
int log_enabled(int level);
void log_write(int level, const char *fmt, ...) BOT_PRINTF(2, 3);
/* Checks the level before evaluating the arguments. */
#define log_msg(level, ...) \
	do { if (log_enabled(level)) log_write(level, __VA_ARGS__); } while (0)

/* ---- metrics --------------------------------------------------------- */

#define METRICS_INTENTS 512	/* distinct intent labels kept; more: "other" */
#define METRICS_BUCKETS 12

enum metrics_handoff {
	MH_PERSONAL_DATA, MH_REQUESTED, MH_CASE, MH_FALLBACK, MH_OTHER, MH_N
};

struct metrics_intent {
	char id[64];		/* "" = free slot */
	uint64_t n;
};

struct server_metrics {
	uint64_t messages;
	uint64_t fallbacks;
	uint64_t handoffs[MH_N];
	uint64_t reloads_ok, reloads_error;
	uint64_t latency[METRICS_BUCKETS + 1];	/* last: +Inf */
	double latency_sum;
	uint64_t latency_n;
	struct metrics_intent intents[METRICS_INTENTS];
	uint64_t intents_other;
};

/* Count one answered message. */
void metrics_answer(struct server_metrics *m, const struct reply *r);
/* Count one reply latency (receive to send queue, after the commit). */
void metrics_latency(struct server_metrics *m, double seconds);

/* ---- the server ------------------------------------------------------ */

/* Shared by server.c and web.c; the lws context's user pointer. */
struct server {
	struct conf *conf;	/* borrowed from serve.c */
	struct kb *kb;		/* replaced whole on reload */
	struct dialog *dialog;	/* built for 'kb' */
	struct store *store;
	struct lws_context *ctx;
	char *web_dir;		/* absolute web-widget path, or NULL */
	char *origins[CONF_MAX_ORIGINS + 2];	/* allowed WebSocket origins */
	size_t n_origins;
	time_t started;
	unsigned open_connections;
	struct server_metrics metrics;
	struct web_vhd *web;	/* web.c's vhost state, set at PROTOCOL_INIT */
	struct agent_hub *agents;	/* agent.c: handoff queue and agents */
	void *priv;		/* server.c's timers and inotify state */
};

/*
 * Create the lws context, listen, start the timers (reload check every
 * 500 ms, retention purge at start and hourly).  's' must have conf, kb,
 * dialog and store set; the server takes ownership of kb, dialog and
 * store, and server_release() frees them.
 */
int server_start(struct server *s, struct bot_err *err) BOT_WUR;
/* Run the loop until main_stop_requested; then commit and return. */
int server_run(struct server *s);
/* Destroy the context, commit, free kb, dialog and store. */
void server_release(struct server *s);

/*
 * Load the kb again and swap it in if it has no errors and an engine can
 * be built for it; otherwise log every error with file:line and keep the
 * old one.  Returns BOT_OK when swapped.
 */
int server_reload(struct server *s, const char *why);

/* Log every error of 'kb' ("file:line:col: error: ..."); when it has
 * none recorded, log 'err'. */
void server_log_kb_errors(const struct kb *kb, const struct bot_err *err);

/* Is 'origin' (the Origin header) allowed to open the WebSocket? */
int server_origin_allowed(const struct server *s, const char *origin);

#endif /* SERVER_H */
