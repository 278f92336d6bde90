/*
 * cli_agent.c - 'amtsbot agent add|list|remove': staff accounts for the
 * agent console and, with role 'editor', the /stats page.
 *
 * A token is shown once, when it is made; the database keeps only its
 * SHA-256, so a lost token means a new account.
 */
#include "engine/bot.h"
#include "main.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/crypto.h>

#include "engine/store.h"

#include "engine/banned.h"

#define CLI_TOKEN_BYTES 32

static const char cli_agent_usage[] =
	"usage: amtsbot agent add NAME [--team TEAM] [--role agent|editor] [--db FILE]\n"
	"       amtsbot agent list [--db FILE]\n"
	"       amtsbot agent remove NAME [--db FILE]\n"
	"\n"
	"'add' prints a login token for the agent console once, alone on the\n"
	"last line; only its SHA-256 is stored.  The team defaults to\n"
	"'buergerservice' (the default team, which sees every queue).\n";

struct cli_agent_opts {
	const char *name;
	const char *team;
	const char *role;
	const char *db;
};

/* Options after the verb; the one positional argument is NAME. */
static int cli_agent_parse(int argc, char **argv, struct cli_agent_opts *o)
{
	int i;

	o->team = "buergerservice";
	o->role = "agent";
	o->db = getenv("AMTSBOT_DB") && *getenv("AMTSBOT_DB") ?
		getenv("AMTSBOT_DB") : "amtsbot.db";
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--team") && i + 1 < argc)
			o->team = argv[++i];
		else if (!strcmp(argv[i], "--role") && i + 1 < argc)
			o->role = argv[++i];
		else if (!strcmp(argv[i], "--db") && i + 1 < argc)
			o->db = argv[++i];
		else if (argv[i][0] != '-' && !o->name)
			o->name = argv[i];
		else {
			fprintf(stderr, "amtsbot agent: unknown or incomplete "
				"option '%s'\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

static int cli_token(char *hex, size_t size)
{
	unsigned char raw[CLI_TOKEN_BYTES];
	size_t got = 0, i;
	ssize_t n;

	while (got < sizeof(raw)) {
		n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(raw) && 2 * i + 2 < size; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

static int cli_agent_add(struct store *s, const struct cli_agent_opts *o)
{
	char token[2 * CLI_TOKEN_BYTES + 1], hash[STORE_HASH_HEX + 1];
	struct store_agent a = { o->name, o->team, o->role, hash, 0 };
	struct bot_err err = { 0 };

	if (cli_token(token, sizeof(token))) {
		fprintf(stderr, "amtsbot agent: cannot make a token: %s\n",
			strerror(errno));
		return 1;
	}
	store_token_hash(token, strlen(token), hash);
	if (store_agent_add(s, &a, &err)) {
		fprintf(stderr, "amtsbot agent: %s\n", err.msg);
		OPENSSL_cleanse(token, sizeof(token));
		return 1;
	}
	printf("Agent '%s' added (team %s, role %s) to the database.\n"
	       "Give this login token to the agent; it is shown only once:\n"
	       "%s\n", o->name, o->team, o->role, token);
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}

static int cli_agent_print(void *arg, const struct store_agent *a)
{
	char when[32];
	struct tm tm;

	(void)arg;
	gmtime_r(&a->created, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d", &tm);
	printf("%-24s %-20s %-7s %s\n", a->name, a->team, a->role, when);
	return 0;
}

static int cli_agent_run(struct store *s, const char *verb,
			 const struct cli_agent_opts *o)
{
	struct bot_err err = { 0 };

	if (!strcmp(verb, "add"))
		return cli_agent_add(s, o);
	if (!strcmp(verb, "remove")) {
		if (store_agent_remove(s, o->name, &err)) {
			fprintf(stderr, "amtsbot agent: %s\n", err.msg);
			return 1;
		}
		printf("Agent '%s' removed.\n", o->name);
		return 0;
	}
	printf("%-24s %-20s %-7s %s\n", "NAME", "TEAM", "ROLE", "CREATED");
	if (store_agent_each(s, cli_agent_print, NULL, &err)) {
		fprintf(stderr, "amtsbot agent: %s\n", err.msg);
		return 1;
	}
	return 0;
}

int cli_agent(int argc, char **argv)
{
	struct cli_agent_opts o = { 0 };
	struct bot_err err = { 0 };
	struct store *s;
	const char *verb = argc > 1 ? argv[1] : "";
	int rc;

	if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) {
		fputs(cli_agent_usage, stdout);
		return 0;
	}
	if ((strcmp(verb, "add") && strcmp(verb, "list") && strcmp(verb, "remove")) ||
	    cli_agent_parse(argc, argv, &o) ||
	    (!o.name && strcmp(verb, "list"))) {
		fputs(cli_agent_usage, stderr);
		return 2;
	}
	s = store_open(o.db, &err);
	if (!s) {
		fprintf(stderr, "amtsbot agent: %s\n", err.msg);
		return 1;
	}
	rc = cli_agent_run(s, verb, &o);
	store_close(&s);
	return rc;
}
