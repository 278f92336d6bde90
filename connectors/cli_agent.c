/*
 * cli_agent.c - 'amtsbot agent add|list|remove' (staff accounts for the
 * agent console) and 'amtsbot stats' (handoff statistics).
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

/* ---- stats ------------------------------------------------------------- */

#define CLI_OUTCOMES 5		/* released closed abandoned timeout open */

struct cli_group {
	char reason[16];
	char team[STORE_NAME_MAX];
	size_t n;
	long *wait, *handle;	/* seconds, for the medians */
	size_t n_wait, n_handle;
	size_t outcomes[CLI_OUTCOMES];
};

struct cli_stats {
	struct cli_group *g;
	size_t n, alloc;
	int failed;
};

static const char *const cli_outcomes[CLI_OUTCOMES] = {
	"released", "closed", "abandoned", "timeout", "open"
};

static struct cli_group *cli_group_get(struct cli_stats *st, const char *reason,
				       const char *team)
{
	struct cli_group *g;
	size_t i;

	for (i = 0; i < st->n; i++)
		if (!strcmp(st->g[i].reason, reason) && !strcmp(st->g[i].team, team))
			return &st->g[i];
	if (st->n == st->alloc) {
		g = bot_realloc(st->g, (st->alloc * 2 + 8) * sizeof(*g));
		if (!g)
			return NULL;
		st->g = g;
		st->alloc = st->alloc * 2 + 8;
	}
	g = &st->g[st->n++];
	memset(g, 0, sizeof(*g));
	snprintf(g->reason, sizeof(g->reason), "%s", reason);
	snprintf(g->team, sizeof(g->team), "%s", team);
	return g;
}

static int cli_push(long **v, size_t *n, long x)
{
	long *p = bot_realloc(*v, (*n + 1) * sizeof(**v));

	if (!p)
		return -1;
	p[(*n)++] = x;
	*v = p;
	return 0;
}

static int cli_stats_one(void *arg, const struct store_handoff *h)
{
	struct cli_stats *st = arg;
	struct cli_group *g = cli_group_get(st, h->reason, h->team);
	size_t i;

	if (!g) {
		st->failed = 1;
		return 1;
	}
	g->n++;
	for (i = 0; i < CLI_OUTCOMES - 1; i++)
		if (h->outcome && !strcmp(h->outcome, cli_outcomes[i]))
			break;
	g->outcomes[i]++;
	if (h->claimed_at && cli_push(&g->wait, &g->n_wait,
				      (long)(h->claimed_at - h->queued_at)))
		st->failed = 1;
	if (h->claimed_at && h->ended_at &&
	    cli_push(&g->handle, &g->n_handle, (long)(h->ended_at - h->claimed_at)))
		st->failed = 1;
	return st->failed;
}

static int cli_cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) as "12s", or "-" without data. */
static const char *cli_pct(long *v, size_t n, int p, char *buf, size_t size)
{
	size_t rank;

	if (!n)
		return "-";
	qsort(v, n, sizeof(*v), cli_cmp_long);
	rank = (n * (size_t)p + 99) / 100;
	snprintf(buf, size, "%lds", v[rank ? rank - 1 : 0]);
	return buf;
}

static void cli_stats_print(struct cli_stats *st)
{
	char a[32], b[32], c[32];
	struct cli_group *g;
	size_t i;

	printf("%-14s %-16s %5s %9s %9s %11s %8s %6s %9s %7s %4s\n", "REASON",
	       "TEAM", "COUNT", "WAIT_MED", "WAIT_P90", "HANDLE_MED",
	       "RELEASED", "CLOSED", "ABANDONED", "TIMEOUT", "OPEN");
	for (i = 0; i < st->n; i++) {
		g = &st->g[i];
		printf("%-14s %-16s %5zu %9s %9s %11s %8zu %6zu %9zu %7zu %4zu\n",
		       g->reason, g->team, g->n,
		       cli_pct(g->wait, g->n_wait, 50, a, sizeof(a)),
		       cli_pct(g->wait, g->n_wait, 90, b, sizeof(b)),
		       cli_pct(g->handle, g->n_handle, 50, c, sizeof(c)),
		       g->outcomes[0], g->outcomes[1], g->outcomes[2],
		       g->outcomes[3], g->outcomes[4]);
	}
	if (!st->n)
		printf("(no handoffs yet)\n");
}

/* The database named by the arguments; NULL after printing the usage
 * ('*rc' is then the exit status). */
static const char *cli_stats_db(int argc, char **argv, int *rc)
{
	const char *env = getenv("AMTSBOT_DB");
	int help = argc == 2 && !strcmp(argv[1], "--help");

	if (argc == 3 && !strcmp(argv[1], "--db"))
		return argv[2];
	if (argc == 1)
		return env && *env ? env : "amtsbot.db";
	fprintf(help ? stdout : stderr,
		"usage: amtsbot stats [--db FILE]\n\nHandoffs to staff per "
		"reason and team: count, waiting time (queued to\nclaimed: "
		"median, 90th percentile), handling time (claimed to ended:\n"
		"median) and outcomes.\n");
	*rc = help ? 0 : 2;
	return NULL;
}

int cli_stats(int argc, char **argv)
{
	struct cli_stats st = { 0 };
	struct bot_err err = { 0 };
	const char *db;
	struct store *s;
	size_t i;
	int rc = 0;

	db = cli_stats_db(argc, argv, &rc);
	if (!db)
		return rc;
	s = store_open(db, &err);
	if (!s) {
		fprintf(stderr, "amtsbot stats: %s\n", err.msg);
		return 1;
	}
	rc = store_handoff_each(s, 1, cli_stats_one, &st, &err);
	if (rc || st.failed)
		fprintf(stderr, "amtsbot stats: %s\n", rc ? err.msg : "out of memory");
	else
		cli_stats_print(&st);
	for (i = 0; i < st.n; i++) {
		bot_free(st.g[i].wait);
		bot_free(st.g[i].handle);
	}
	bot_free(st.g);
	store_close(&s);
	return rc || st.failed ? 1 : 0;
}
