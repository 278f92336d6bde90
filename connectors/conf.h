/*
 * conf.h - the server's configuration: one table of keys drives the
 * defaults, amtsbot.yaml, environment variables, command-line flags,
 * validation, 'serve --help' and the annotated amtsbot.example.yaml.
 *
 * Precedence: flags > environment > config file > defaults.
 */
#ifndef CONF_H
#define CONF_H

#include <stdio.h>
#include "engine/bot.h"

#define CONF_MAX_ORIGINS 32

struct conf {
	char *listen;		/* "ADDR:PORT" */
	char *kb;		/* knowledge base directory */
	char *db;		/* SQLite file */
	char *web;		/* web-widget directory, "" = find it */
	char *log_level;	/* error, warning, notice, info, debug */
	char *origins[CONF_MAX_ORIGINS];	/* allowed WebSocket origins */
	size_t n_origins;	/* 0: the server's own origins */
	long retention_days;
	long rate_limit;	/* messages per minute and connection; 0 off */
	long max_message;	/* characters of one citizen message */
	long max_frame;		/* bytes of one WebSocket message */
	long max_connections;
	long ping_seconds;	/* WebSocket ping interval */
	char *default_team;	/* handoffs without a team of their own */
	long handoff_hours;	/* 1: a team is off duty outside its hours */
	long agent_grace;	/* seconds an agent may be away */
	long claim_timeout;	/* seconds to the agent's first message */
	long citizen_timeout;	/* minutes until an empty case is dropped */
	long auth_failures;	/* failed agent logins per minute */
	/* Messenger (connectors/messenger.c) */
	char *fb_graph_url;	/* Graph API base URL, no trailing slash */
	char *fb_api_version;	/* "v21.0" */
	char *fb_app_id;	/* our app id: echoes of others are staff */
	char *fb_inbox_app_id;	/* the page inbox, for the Handover Protocol */
	long fb_max_body;	/* bytes of one webhook delivery */
	long fb_staff_pause;	/* minutes the bot keeps quiet after staff wrote */
	long fb_handover;	/* 1: pass threads to the page inbox */
	long fb_retry_base_ms;	/* first back-off of a failed Send API call */
	long fb_retry_attempts;	/* attempts before a call is given up */
	long fb_timeout;	/* seconds a Send API call may take */
	/* secrets: only from the environment or a file it names; never logged */
	char *fb_app_secret;
	char *fb_verify_token;
	char *fb_page_token;
};

/* Fill 'c' with the defaults (strings are copies owned by 'c'). */
int conf_init(struct conf *c, struct bot_err *err) BOT_WUR;
/* Free the strings; 'c' can be conf_init()ed again. */
void conf_release(struct conf *c);

/*
 * Read a YAML mapping of keys from 'path'.  Errors name "path:line" and
 * the key, e.g. "amtsbot.yaml:4: key 'rate_limit': '-3' is below 0".
 */
int conf_load_file(struct conf *c, const char *path, struct bot_err *err) BOT_WUR;
/*
 * Apply AMTSBOT_* environment variables.  The Messenger secrets come only
 * from here: AMTSBOT_FB_APP_SECRET, AMTSBOT_FB_VERIFY_TOKEN and
 * AMTSBOT_FB_PAGE_TOKEN, or the same names with _FILE naming a file that
 * holds the value (one line).
 */
int conf_load_env(struct conf *c, struct bot_err *err) BOT_WUR;
/*
 * Apply flags (argv[0] is the subcommand name).  '--config FILE' and
 * '--help' are accepted and skipped here; serve.c looks for them first
 * with conf_find_arg().
 */
int conf_load_args(struct conf *c, int argc, char **argv,
		   struct bot_err *err) BOT_WUR;
/* The value of flag 'name' ("--config") in argv, or NULL; 1 in '*present'
 * when the flag appears (for flags without a value). */
const char *conf_find_arg(int argc, char **argv, const char *name,
			  int *present);

/* 'serve --help': every key with flag, environment name, default. */
void conf_usage(FILE *fp);
/* The annotated example file (amtsbot.example.yaml is its output). */
void conf_write_example(FILE *fp);

#endif /* CONF_H */
