/*
 * conf.c - table-driven configuration (redis static_configs[]): one row
 * per key gives the defaults, the limits, the environment variable, the
 * flag and the help text, so that parsing, validation, --help and the
 * example file cannot drift apart.
 */
#include "engine/bot.h"
#include "conf.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "engine/banned.h"

enum conf_type { CONF_STR, CONF_INT, CONF_LIST, CONF_LEVEL };

struct conf_key {
	const char *name;	/* key in amtsbot.yaml */
	enum conf_type type;
	const char *def;	/* default as text; NULL for empty */
	long min, max;
	size_t off;		/* field in struct conf */
	const char *env;
	const char *flag;
	const char *help;	/* one line, English: operators read it */
};

#define F(field) offsetof(struct conf, field)

static const struct conf_key conf_keys[] = {
	{ "listen", CONF_STR, "127.0.0.1:8080", 0, 0, F(listen),
	  "AMTSBOT_LISTEN", "--listen", "address and port to serve HTTP and WebSocket on" },
	{ "kb", CONF_STR, "intents", 0, 0, F(kb),
	  "AMTSBOT_KB", "--kb", "knowledge base directory (reloaded when its files change)" },
	{ "db", CONF_STR, "amtsbot.db", 0, 0, F(db),
	  "AMTSBOT_DB", "--db", "SQLite database for conversations" },
	{ "web", CONF_STR, "", 0, 0, F(web),
	  "AMTSBOT_WEB", "--web", "web-widget directory; empty: next to the binary or in the working directory" },
	{ "allow_origin", CONF_LIST, NULL, 0, CONF_MAX_ORIGINS, F(origins),
	  "AMTSBOT_ALLOW_ORIGIN", "--allow-origin", "origins allowed to open the WebSocket (repeatable); empty: the server's own" },
	{ "retention_days", CONF_INT, "90", 1, 3650, F(retention_days),
	  "AMTSBOT_RETENTION_DAYS", "--retention-days", "delete conversations not updated for this many days" },
	{ "rate_limit", CONF_INT, "20", 0, 100000, F(rate_limit),
	  "AMTSBOT_RATE_LIMIT", "--rate-limit", "messages per minute and connection; 0 turns the limit off" },
	{ "max_message", CONF_INT, "2000", 1, 100000, F(max_message),
	  "AMTSBOT_MAX_MESSAGE", "--max-message", "longest citizen message in characters" },
	{ "max_frame", CONF_INT, "8192", 256, 1048576, F(max_frame),
	  "AMTSBOT_MAX_FRAME", "--max-frame", "longest WebSocket message in bytes" },
	{ "max_connections", CONF_INT, "20000", 16, 1000000, F(max_connections),
	  "AMTSBOT_MAX_CONNECTIONS", "--max-connections", "open connections at most (raises the file limit)" },
	{ "ping_seconds", CONF_INT, "30", 5, 3600, F(ping_seconds),
	  "AMTSBOT_PING_SECONDS", "--ping-seconds", "WebSocket ping interval; silent peers are closed 10 s later" },
	{ "default_team", CONF_STR, "buergerservice", 0, 0, F(default_team),
	  "AMTSBOT_DEFAULT_TEAM", "--default-team", "team for handoffs whose service and office name none; its agents see every team's queue" },
	{ "handoff_hours", CONF_INT, "1", 0, 1, F(handoff_hours),
	  "AMTSBOT_HANDOFF_HOURS", "--handoff-hours", "1: a team is off duty outside the opening hours of its office; 0: whenever an agent is connected" },
	{ "agent_grace_seconds", CONF_INT, "60", 1, 86400, F(agent_grace),
	  "AMTSBOT_AGENT_GRACE_SECONDS", "--agent-grace-seconds", "a disconnected agent's conversations go back to the queue after this" },
	{ "claim_timeout_seconds", CONF_INT, "300", 2, 86400, F(claim_timeout),
	  "AMTSBOT_CLAIM_TIMEOUT_SECONDS", "--claim-timeout-seconds", "a claimed conversation goes back to the queue if the agent writes nothing for this long" },
	{ "citizen_timeout_minutes", CONF_INT, "30", 1, 10080, F(citizen_timeout),
	  "AMTSBOT_CITIZEN_TIMEOUT_MINUTES", "--citizen-timeout-minutes", "a queued case whose citizen left this long ago ends as abandoned if it holds no message and no contact" },
	{ "agent_auth_failures", CONF_INT, "5", 1, 100, F(auth_failures),
	  "AMTSBOT_AGENT_AUTH_FAILURES", "--agent-auth-failures", "failed agent logins per minute per connection and per address before refusing" },
	{ "messenger_graph_url", CONF_STR, "https://graph.facebook.com", 0, 0, F(fb_graph_url),
	  "AMTSBOT_FB_GRAPH_URL", "--messenger-graph-url", "Messenger: base URL of the Graph API (tests point it at a local fake)" },
	{ "messenger_api_version", CONF_STR, "v21.0", 0, 0, F(fb_api_version),
	  "AMTSBOT_FB_API_VERSION", "--messenger-api-version", "Messenger: Graph API version in the Send API path" },
	{ "messenger_app_id", CONF_STR, "", 0, 0, F(fb_app_id),
	  "AMTSBOT_FB_APP_ID", "--messenger-app-id", "Messenger: the app's id; echoes from other apps are staff replies (empty: recognise ours by metadata)" },
	{ "messenger_max_body", CONF_INT, "262144", 1024, 4194304, F(fb_max_body),
	  "AMTSBOT_FB_MAX_BODY", "--messenger-max-body", "Messenger: largest webhook delivery in bytes (larger: 413)" },
	{ "messenger_staff_pause_minutes", CONF_INT, "30", 0, 10080, F(fb_staff_pause),
	  "AMTSBOT_FB_STAFF_PAUSE_MINUTES", "--messenger-staff-pause-minutes", "Messenger: the bot keeps quiet in a conversation this long after staff wrote in the page inbox" },
	{ "messenger_handover", CONF_INT, "0", 0, 1, F(fb_handover),
	  "AMTSBOT_FB_HANDOVER", "--messenger-handover", "Messenger: 1 passes handed-off threads to the page inbox (Handover Protocol) and takes them back on a claim" },
	{ "messenger_inbox_app_id", CONF_STR, "263902037430900", 0, 0, F(fb_inbox_app_id),
	  "AMTSBOT_FB_INBOX_APP_ID", "--messenger-inbox-app-id", "Messenger: app id of the page inbox for pass_thread_control" },
	{ "messenger_retry_base_ms", CONF_INT, "2000", 10, 600000, F(fb_retry_base_ms),
	  "AMTSBOT_FB_RETRY_BASE_MS", "--messenger-retry-base-ms", "Messenger: first back-off after a temporary Send API error; doubles each time, with jitter" },
	{ "messenger_retry_attempts", CONF_INT, "8", 1, 50, F(fb_retry_attempts),
	  "AMTSBOT_FB_RETRY_ATTEMPTS", "--messenger-retry-attempts", "Messenger: attempts of one Send API call before it is given up" },
	{ "messenger_timeout_seconds", CONF_INT, "20", 1, 300, F(fb_timeout),
	  "AMTSBOT_FB_TIMEOUT_SECONDS", "--messenger-timeout-seconds", "Messenger: a Send API call that takes longer counts as a temporary error" },
	{ "log_level", CONF_LEVEL, "notice", 0, 0, F(log_level),
	  "AMTSBOT_LOG_LEVEL", "--log-level", "error, warning, notice, info or debug (debug logs citizens' text)" },
};

/* Secrets: environment only (or a file it names), never a config key. */
static const struct {
	const char *env;
	size_t off;
} conf_secrets[] = {
	{ "AMTSBOT_FB_APP_SECRET", F(fb_app_secret) },
	{ "AMTSBOT_FB_VERIFY_TOKEN", F(fb_verify_token) },
	{ "AMTSBOT_FB_PAGE_TOKEN", F(fb_page_token) },
};

static const char *const conf_levels[] = {
	"error", "warning", "notice", "info", "debug"
};

static void *conf_field(struct conf *c, const struct conf_key *k)
{
	return (char *)c + k->off;
}

static void conf_list_clear(struct conf *c)
{
	size_t i;

	for (i = 0; i < c->n_origins; i++)
		BOT_FREE(&c->origins[i]);
	c->n_origins = 0;
}

/* 'where' is "file:line" or "environment" or "command line". */
static int conf_set_int(struct conf *c, const struct conf_key *k,
			const char *val, const char *where, struct bot_err *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(val, &end, 10);
	if (errno || end == val || *end)
		return bot_fail(err, BOT_EINVAL, "%s: key '%s': '%s' is not a number",
				where, k->name, val);
	if (v < k->min)
		return bot_fail(err, BOT_EINVAL, "%s: key '%s': '%s' is below %ld",
				where, k->name, val, k->min);
	if (v > k->max)
		return bot_fail(err, BOT_EINVAL, "%s: key '%s': '%s' is above %ld",
				where, k->name, val, k->max);
	*(long *)conf_field(c, k) = v;
	return BOT_OK;
}

static int conf_set_str(struct conf *c, const struct conf_key *k,
			const char *val, const char *where, struct bot_err *err)
{
	char **p = conf_field(c, k);
	char *copy;
	size_t i;

	if (k->type == CONF_LEVEL) {
		for (i = 0; i < BOT_ARRAY_SIZE(conf_levels); i++)
			if (!strcmp(val, conf_levels[i]))
				break;
		if (i == BOT_ARRAY_SIZE(conf_levels))
			return bot_fail(err, BOT_EINVAL,
					"%s: key '%s': unknown level '%s'",
					where, k->name, val);
	}
	if (k->type == CONF_STR && !strcmp(k->name, "listen") && !strrchr(val, ':'))
		return bot_fail(err, BOT_EINVAL,
				"%s: key '%s': '%s' is not ADDR:PORT",
				where, k->name, val);
	copy = bot_strdup(val);
	if (!copy)
		return bot_fail(err, BOT_ENOMEM, "out of memory");
	bot_free(*p);
	*p = copy;
	return BOT_OK;
}

/* Append one origin; 'val' may hold several separated by commas/blanks. */
static int conf_add_origins(struct conf *c, const struct conf_key *k,
			    const char *val, const char *where,
			    struct bot_err *err)
{
	const char *p = val;
	size_t n;

	while (*p) {
		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (!n)
			break;
		if (c->n_origins == CONF_MAX_ORIGINS)
			return bot_fail(err, BOT_EINVAL,
					"%s: key '%s': more than %d origins",
					where, k->name, CONF_MAX_ORIGINS);
		if (strncmp(p, "http://", 7) && strncmp(p, "https://", 8))
			return bot_fail(err, BOT_EINVAL,
					"%s: key '%s': '%.*s' is not an http(s) origin",
					where, k->name, (int)n, p);
		c->origins[c->n_origins] = bot_strndup(p, n);
		if (!c->origins[c->n_origins])
			return bot_fail(err, BOT_ENOMEM, "out of memory");
		c->n_origins++;
		p += n;
	}
	return BOT_OK;
}

static int conf_set(struct conf *c, const struct conf_key *k, const char *val,
		    const char *where, struct bot_err *err)
{
	switch (k->type) {
	case CONF_INT:
		return conf_set_int(c, k, val, where, err);
	case CONF_LIST:
		return conf_add_origins(c, k, val, where, err);
	default:
		return conf_set_str(c, k, val, where, err);
	}
}

int conf_init(struct conf *c, struct bot_err *err)
{
	size_t i;
	int rc;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < BOT_ARRAY_SIZE(conf_keys); i++) {
		if (!conf_keys[i].def)
			continue;
		rc = conf_set(c, &conf_keys[i], conf_keys[i].def, "default", err);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

static void conf_secret_clear(char **p)
{
	if (*p)
		memset(*p, 0, strlen(*p));
	BOT_FREE(p);
}

void conf_release(struct conf *c)
{
	size_t i;

	conf_list_clear(c);
	for (i = 0; i < BOT_ARRAY_SIZE(conf_secrets); i++)
		conf_secret_clear((char **)((char *)c + conf_secrets[i].off));
	for (i = 0; i < BOT_ARRAY_SIZE(conf_keys); i++)
		if (conf_keys[i].type == CONF_STR || conf_keys[i].type == CONF_LEVEL)
			BOT_FREE((char **)conf_field(c, &conf_keys[i]));
}

static const struct conf_key *conf_key_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(conf_keys); i++)
		if (!strcmp(conf_keys[i].name, name))
			return &conf_keys[i];
	return NULL;
}

static const struct conf_key *conf_key_by_flag(const char *flag)
{
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(conf_keys); i++)
		if (!strcmp(conf_keys[i].flag, flag))
			return &conf_keys[i];
	return NULL;
}

/* Read the first line of 'path' (a secret) into a new string. */
static int conf_secret_file(const char *env, const char *path, char **out,
			    struct bot_err *err)
{
	char buf[4096];
	size_t n;
	FILE *fp = fopen(path, "rb");

	if (!fp)
		return bot_fail(err, BOT_EIO, "%s_FILE: cannot open '%s': %s",
				env, path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*out = buf[0] ? bot_strdup(buf) : NULL;
	memset(buf, 0, sizeof(buf));
	if (!*out)
		return bot_fail(err, BOT_EINVAL, "%s_FILE: '%s' is empty", env, path);
	return BOT_OK;
}

static int conf_load_secrets(struct conf *c, struct bot_err *err)
{
	char name[64], **p;
	const char *val;
	size_t i;
	int rc;

	for (i = 0; i < BOT_ARRAY_SIZE(conf_secrets); i++) {
		p = (char **)((char *)c + conf_secrets[i].off);
		snprintf(name, sizeof(name), "%s_FILE", conf_secrets[i].env);
		val = getenv(name);
		if (val && *val) {
			conf_secret_clear(p);
			rc = conf_secret_file(conf_secrets[i].env, val, p, err);
			if (rc)
				return rc;
			continue;
		}
		val = getenv(conf_secrets[i].env);
		if (!val || !*val)
			continue;
		conf_secret_clear(p);
		*p = bot_strdup(val);
		if (!*p)
			return bot_fail(err, BOT_ENOMEM, "out of memory");
	}
	return BOT_OK;
}

int conf_load_env(struct conf *c, struct bot_err *err)
{
	const char *val;
	size_t i;
	int rc;

	rc = conf_load_secrets(c, err);
	if (rc)
		return rc;

	for (i = 0; i < BOT_ARRAY_SIZE(conf_keys); i++) {
		val = getenv(conf_keys[i].env);
		if (!val || !*val)
			continue;
		if (conf_keys[i].type == CONF_LIST)
			conf_list_clear(c);
		rc = conf_set(c, &conf_keys[i], val, conf_keys[i].env, err);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

const char *conf_find_arg(int argc, char **argv, const char *name,
			  int *present)
{
	int i;

	if (present)
		*present = 0;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], name))
			continue;
		if (present)
			*present = 1;
		return i + 1 < argc ? argv[i + 1] : NULL;
	}
	return NULL;
}

int conf_load_args(struct conf *c, int argc, char **argv, struct bot_err *err)
{
	const struct conf_key *k;
	int i, cleared = 0, rc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			continue;
		if (!strcmp(argv[i], "--config")) {
			i++;
			continue;
		}
		k = conf_key_by_flag(argv[i]);
		if (!k)
			return bot_fail(err, BOT_EINVAL, "unknown option '%s'", argv[i]);
		if (i + 1 >= argc)
			return bot_fail(err, BOT_EINVAL, "option '%s' needs a value",
					argv[i]);
		/* repeated --allow-origin flags add up, but replace the file's */
		if (k->type == CONF_LIST && !cleared++)
			conf_list_clear(c);
		rc = conf_set(c, k, argv[++i], "command line", err);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

static int conf_yaml_value(struct conf *c, const struct conf_key *k,
			   yaml_document_t *doc, yaml_node_t *val,
			   const char *where, struct bot_err *err)
{
	yaml_node_item_t *it;
	yaml_node_t *item;
	int rc;

	if (val->type == YAML_SCALAR_NODE) {
		if (k->type == CONF_LIST)
			conf_list_clear(c);
		return conf_set(c, k, (const char *)val->data.scalar.value,
				where, err);
	}
	if (val->type != YAML_SEQUENCE_NODE || k->type != CONF_LIST)
		return bot_fail(err, BOT_EPARSE, "%s: key '%s': expected a single value",
				where, k->name);
	conf_list_clear(c);
	for (it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		item = yaml_document_get_node(doc, *it);
		if (!item || item->type != YAML_SCALAR_NODE)
			return bot_fail(err, BOT_EPARSE,
					"%s: key '%s': expected a list of origins",
					where, k->name);
		rc = conf_set(c, k, (const char *)item->data.scalar.value,
			      where, err);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

static int conf_yaml_doc(struct conf *c, const char *path, yaml_document_t *doc,
			 struct bot_err *err)
{
	yaml_node_t *root = yaml_document_get_root_node(doc), *key, *val;
	const struct conf_key *k;
	yaml_node_pair_t *pair;
	char where[300];
	int rc;

	if (!root)
		return BOT_OK;	/* an empty file: all defaults */
	if (root->type != YAML_MAPPING_NODE)
		return bot_fail(err, BOT_EPARSE, "%s:%zu: expected a mapping of keys",
				path, root->start_mark.line + 1);
	for (pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		key = yaml_document_get_node(doc, pair->key);
		val = yaml_document_get_node(doc, pair->value);
		snprintf(where, sizeof(where), "%s:%zu", path,
			 key->start_mark.line + 1);
		if (key->type != YAML_SCALAR_NODE)
			return bot_fail(err, BOT_EPARSE, "%s: expected a key", where);
		k = conf_key_by_name((const char *)key->data.scalar.value);
		if (!k)
			return bot_fail(err, BOT_EPARSE, "%s: unknown key '%s'", where,
					(const char *)key->data.scalar.value);
		rc = conf_yaml_value(c, k, doc, val, where, err);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

int conf_load_file(struct conf *c, const char *path, struct bot_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	FILE *fp;
	int rc;

	fp = fopen(path, "rb");
	if (!fp)
		return bot_fail(err, BOT_EIO, "cannot open '%s': %s", path,
				strerror(errno));
	if (!yaml_parser_initialize(&parser)) {
		fclose(fp);
		return bot_fail(err, BOT_ENOMEM, "cannot create YAML parser");
	}
	yaml_parser_set_input_file(&parser, fp);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = bot_fail(err, BOT_EPARSE, "%s:%zu: %s", path,
			      parser.problem_mark.line + 1,
			      parser.problem ? parser.problem : "invalid YAML");
		goto out;
	}
	rc = conf_yaml_doc(c, path, &doc, err);
	yaml_document_delete(&doc);
out:
	yaml_parser_delete(&parser);
	fclose(fp);
	return rc;
}

static const char *conf_def_text(const struct conf_key *k)
{
	return k->def ? k->def : "";
}

void conf_usage(FILE *fp)
{
	size_t i;
	const struct conf_key *k;

	fprintf(fp, "usage: amtsbot serve [options]\n\n"
		"Serve the citizens' chat widget (HTTP) and its WebSocket (/ws).\n"
		"Settings come from flags, then AMTSBOT_* environment variables,\n"
		"then the config file, then the defaults.\n\noptions:\n"
		"  %-22s %s\n", "--config FILE",
		"YAML config file (default: ./amtsbot.yaml if present)");
	for (i = 0; i < BOT_ARRAY_SIZE(conf_keys); i++) {
		k = &conf_keys[i];
		fprintf(fp, "  %-22s %s\n  %-22s [env %s, default '%s']\n",
			k->flag, k->help, "", k->env, conf_def_text(k));
	}
	fprintf(fp, "  %-22s %s\n  %-22s %s\n", "--example-config",
		"print the annotated example config and exit",
		"--help", "show this help");
}

void conf_write_example(FILE *fp)
{
	const struct conf_key *k;
	size_t i;

	fprintf(fp, "# amtsbot.example.yaml - every key of 'amtsbot serve' with its default.\n"
		"# Generated by 'amtsbot serve --example-config'; copy it to amtsbot.yaml\n"
		"# and change what you need.  Command-line flags and AMTSBOT_*\n"
		"# environment variables override this file.\n");
	for (i = 0; i < BOT_ARRAY_SIZE(conf_keys); i++) {
		k = &conf_keys[i];
		fprintf(fp, "\n# %s\n# (flag %s, environment %s", k->help,
			k->flag, k->env);
		if (k->type == CONF_INT)
			fprintf(fp, ", %ld..%ld", k->min, k->max);
		fprintf(fp, ")\n");
		if (k->type == CONF_LIST)
			fprintf(fp, "%s: []\n", k->name);
		else if (k->type == CONF_INT)
			fprintf(fp, "%s: %s\n", k->name, conf_def_text(k));
		else
			fprintf(fp, "%s: \"%s\"\n", k->name, conf_def_text(k));
	}
	fprintf(fp, "\n# Secret key (not a key of this file: secrets stay out of config files).\n"
		"# Contact data that citizens leave while nobody is on duty is stored\n"
		"# encrypted with AES-256-GCM.  The key is the environment variable\n"
		"# AMTSBOT_SECRET_KEY (64 hex digits, e.g. from 'openssl rand -hex 32'),\n"
		"# or else the file '<db>.key' next to the database, created with mode\n"
		"# 0600 on first use.  Back it up apart from the database: without it\n"
		"# the stored contacts cannot be read.\n"
		"\n# Facebook Messenger secrets (environment only, never this file; see\n"
		"# README, \"Facebook Messenger: connecting a real page\"):\n"
		"#   AMTSBOT_FB_APP_SECRET    the app secret (checks X-Hub-Signature-256)\n"
		"#   AMTSBOT_FB_VERIFY_TOKEN  the verify token typed in the App Dashboard\n"
		"#   AMTSBOT_FB_PAGE_TOKEN    the page access token for the Send API\n"
		"# or AMTSBOT_FB_APP_SECRET_FILE etc. naming a file that holds the value.\n"
		"# Without all three the Messenger connector stays off.\n");
}
