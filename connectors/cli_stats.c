/*
 * cli_stats.c - the editors' commands on the database: 'amtsbot stats'
 * (figures of a period against the one before, unanswered questions,
 * suggestions, handoffs per team), 'amtsbot suggest' (a YAML snippet
 * from the unanswered questions) and 'amtsbot purge' (retention by hand).
 */
#include "engine/bot.h"
#include "main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine/dialog.h"
#include "engine/kb.h"
#include "engine/stats.h"
#include "engine/store.h"
#include "engine/strbuf.h"
#include "json.h"
#include "stats_http.h"

#include "engine/banned.h"

static const char cli_stats_usage[] =
	"usage: amtsbot stats [WHAT] [--db FILE] [--since DATE] [--until DATE]\n"
	"                     [--json|--csv] [--kb DIR]\n"
	"\n"
	"WHAT is one of:\n"
	"  (nothing)    conversations, messages, answered share, fallbacks,\n"
	"               handoffs by reason with waiting times, intents, services,\n"
	"               channels, feedback per intent, busiest hours; each next\n"
	"               to the previous period of the same length\n"
	"  unanswered   questions the bot could not answer, near-duplicates\n"
	"               grouped, most frequent first, with the closest intent\n"
	"               (--kb: ask the knowledge base where none was stored)\n"
	"  suggestions  citizens' suggestions ('vorschlag') with day and channel\n"
	"  handoffs     handoffs per reason and team: waiting and handling times\n"
	"\n"
	"DATE is YYYY-MM-DD, both days included; the default is the last 30\n"
	"days up to today.  --db defaults to amtsbot.db (or $AMTSBOT_DB).\n";

struct cli_stats_opts {
	const char *what;
	const char *db, *since, *until, *kb;
	int json, csv;
	long min;		/* suggest: smallest group */
	long days;		/* purge */
};

static const char *cli_db_default(void)
{
	const char *env = getenv("AMTSBOT_DB");

	return env && *env ? env : "amtsbot.db";
}

/* 1 when argv[*i] was an option with a value (consumed), 0 if not. */
static int cli_stats_opt(int argc, char **argv, int *i,
			 struct cli_stats_opts *o)
{
	static const char *const names[] = { "--db", "--since", "--until", "--kb" };
	const char **dest[] = { &o->db, &o->since, &o->until, &o->kb };
	size_t k;

	for (k = 0; k < BOT_ARRAY_SIZE(names); k++)
		if (!strcmp(argv[*i], names[k]) && *i + 1 < argc) {
			*dest[k] = argv[++*i];
			return 1;
		}
	return 0;
}

static int cli_long(const char *s, long *v)
{
	char *end;

	*v = strtol(s, &end, 10);
	return *s && !*end && *v >= 0 && *v <= 100000 ? 0 : -1;
}

static int cli_stats_parse(int argc, char **argv, struct cli_stats_opts *o)
{
	int i;

	o->db = cli_db_default();
	o->min = 1;
	o->days = -1;
	for (i = 1; i < argc; i++) {
		if (cli_stats_opt(argc, argv, &i, o))
			continue;
		if (!strcmp(argv[i], "--json"))
			o->json = 1;
		else if (!strcmp(argv[i], "--csv"))
			o->csv = 1;
		else if (!strcmp(argv[i], "--min") && i + 1 < argc &&
			 !cli_long(argv[i + 1], &o->min))
			i++;
		else if (!strcmp(argv[i], "--older-than") && i + 1 < argc &&
			 !cli_long(argv[i + 1], &o->days))
			i++;
		else if (argv[i][0] != '-' && !o->what)
			o->what = argv[i];
		else {
			fprintf(stderr, "amtsbot: unknown or incomplete option "
				"'%s'\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

static int cli_is_help(int argc, char **argv)
{
	return argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
}

/* ---- the figures ------------------------------------------------------- */

static const char *cli_total_label(const char *key)
{
	static const char *const labels[][2] = {
		{ "conversations", "Gespräche" }, { "messages", "Nachrichten" },
		{ "questions", "Fragen" }, { "answers", "Antworten" },
		{ "answered", "beantwortet" }, { "fallbacks", "nicht verstanden" },
		{ "suggestions", "Vorschläge" }, { "handoffs", "Übergaben" },
		{ "wait_median_s", "Wartezeit Median (s)" },
		{ "wait_p90_s", "Wartezeit 90 % (s)" },
		{ "helpful", "hilfreich" }, { "unhelpful", "nicht hilfreich" },
	};
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(labels); i++)
		if (!strcmp(key, labels[i][0]))
			return labels[i][1];
	return key;
}

static void cli_print_row(const struct stats_row *r, const char *label)
{
	char before[32] = "-", diff[32] = "";

	if (r->has_before) {
		snprintf(before, sizeof(before), "%lld", (long long)r->before);
		snprintf(diff, sizeof(diff), "%+lld", (long long)(r->now - r->before));
	}
	printf("  %-36s %10lld %10s %8s\n", label,
	       r->has_now ? (long long)r->now : 0LL, before, diff);
}

static void cli_print_text(const struct stats_data *d)
{
	const struct stats_row *r;
	const char *colon;
	size_t i, glen = 0;
	int64_t a = stats_counts_get(d->now, "answers", NULL);

	printf("Zeitraum %s bis %s (Vorzeitraum %s bis %s)\n\n",
	       d->p.since_s, d->p.until_s, d->p.prev_since_s, d->p.prev_until_s);
	printf("  %-36s %10s %10s %8s\n", "", "jetzt", "vorher", "Diff.");
	for (i = 0; i < d->n_rows; i++) {
		r = &d->rows[i];
		colon = strchr(r->key, ':');
		if (!colon) {
			cli_print_row(r, cli_total_label(r->key));
			continue;
		}
		if (!glen || strncmp(r->key, d->rows[i - 1].key, glen + 1)) {
			glen = (size_t)(colon - r->key);
			printf("\n%.*s\n", (int)glen, r->key);
		}
		cli_print_row(r, colon + 1);
	}
	if (a)
		printf("\nbeantwortet: %.1f %% der Antworten\n",
		       100.0 * (double)stats_counts_get(d->now, "answered", NULL) /
		       (double)a);
}

static void cli_print_unanswered(const struct stats_data *d)
{
	size_t i;

	printf("%6s %8s  %-28s %s\n", "COUNT", "VARIANTS", "CLOSEST", "QUESTION");
	for (i = 0; i < d->n_groups; i++)
		printf("%6zu %8zu  %-28s %s\n", d->groups[i].n,
		       d->groups[i].n_variants,
		       d->groups[i].closest ? d->groups[i].closest : "-",
		       d->groups[i].text);
	if (!d->n_groups)
		printf("(no unanswered questions in %s to %s)\n", d->p.since_s,
		       d->p.until_s);
}

static void cli_print_suggestions(const struct stats_data *d)
{
	size_t i;

	printf("%-10s  %-9s  %s\n", "DAY", "CHANNEL", "SUGGESTION");
	for (i = 0; i < d->n_sugg; i++)
		printf("%-10s  %-9s  %s\n", d->sugg[i].day,
		       d->sugg[i].channel ? d->sugg[i].channel : "-",
		       d->sugg[i].text);
	if (!d->n_sugg)
		printf("(no suggestions in %s to %s)\n", d->p.since_s,
		       d->p.until_s);
}

/* JSON or CSV of what was loaded; BOT_ENOMEM. */
static int cli_print_machine(const struct stats_data *d, int csv)
{
	struct strbuf sb;
	int rc;

	strbuf_init(&sb, 64u << 20);
	rc = csv ? stats_csv_add(&sb, d->rows, d->n_rows) :
	     json_stats_add(&sb, &d->json);
	if (!rc)
		fwrite(sb.buf, 1, sb.len, stdout);
	strbuf_release(&sb);
	return rc;
}

static unsigned cli_stats_want(const char *what)
{
	if (!what)
		return 0;
	if (!strcmp(what, "unanswered"))
		return STATS_WANT_UNANSWERED;
	if (!strcmp(what, "suggestions"))
		return STATS_WANT_SUGGESTIONS;
	return ~0u;
}

/* Open the kb of --kb (for the closest intents); 0 or exit status 1. */
static int cli_stats_kb(const struct cli_stats_opts *o, struct kb **kb,
			struct dialog **d)
{
	*kb = NULL;
	*d = NULL;
	return o->kb ? cli_load(o->kb, kb, d) : 0;
}

static int cli_stats_report(const struct cli_stats_opts *o, unsigned want,
			    struct stats_data *d)
{
	struct bot_err err = { 0 };
	struct dialog *dlg;
	struct kb *kb;
	struct store *s;
	int rc;

	if (stats_period_init(&d->p, o->since, o->until, time(NULL), &err)) {
		fprintf(stderr, "amtsbot stats: %s\n", err.msg);
		return 2;
	}
	if (cli_stats_kb(o, &kb, &dlg))
		return 1;
	s = store_open(o->db, &err);
	rc = s ? stats_data_load(d, s, dlg ? dialog_match(dlg) : NULL, kb,
				 want, &err) : 1;
	if (rc)
		fprintf(stderr, "amtsbot stats: %s\n", err.msg);
	store_close(&s);
	dialog_free(&dlg);
	kb_free(&kb);
	return rc ? 1 : 0;
}

static int cli_stats_handoffs(const char *db);

static int cli_stats_print(const struct cli_stats_opts *o, unsigned want,
			   const struct stats_data *d)
{
	if (o->json || o->csv)
		return cli_print_machine(d, o->csv) ? 1 : 0;
	if (want == STATS_WANT_UNANSWERED) {
		cli_print_unanswered(d);
		return 0;
	}
	if (want == STATS_WANT_SUGGESTIONS) {
		cli_print_suggestions(d);
		return 0;
	}
	cli_print_text(d);
	/* the per-team table of issue 4 stays part of the plain report */
	printf("\nÜbergaben nach Grund und Team (gesamt):\n");
	fflush(stdout);
	return cli_stats_handoffs(o->db);
}

int cli_stats(int argc, char **argv)
{
	struct cli_stats_opts o = { 0 };
	struct stats_data d = { 0 };
	unsigned want;
	int rc;

	if (cli_is_help(argc, argv)) {
		fputs(cli_stats_usage, stdout);
		return 0;
	}
	if (cli_stats_parse(argc, argv, &o) || (o.json && o.csv)) {
		fputs(cli_stats_usage, stderr);
		return 2;
	}
	if (o.what && !strcmp(o.what, "handoffs"))
		return cli_stats_handoffs(o.db);
	want = cli_stats_want(o.what);
	if (want == ~0u || (want && o.csv)) {
		fputs(cli_stats_usage, stderr);
		return 2;
	}
	rc = cli_stats_report(&o, want, &d);
	if (!rc)
		rc = cli_stats_print(&o, want, &d);
	stats_data_release(&d);
	return rc;
}

/* ---- suggest ---------------------------------------------------------------- */

static const char cli_suggest_usage[] =
	"usage: amtsbot suggest [--kb DIR] [--db FILE] [--since DATE] [--until DATE]\n"
	"                       [--min N]\n"
	"\n"
	"Writes a YAML snippet from the unanswered questions (groups of at least\n"
	"N questions, default 1): each as a test for the closest intent, and as\n"
	"an example to add to that intent once the test is right.  Review it\n"
	"before pasting: the closest intent is a guess.  Without --kb the\n"
	"closest intent is the one stored with the answer.\n";

/* A YAML double-quoted scalar. */
static void cli_yaml_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if (*s == '\n')
			fputs("\\n", stdout);
		else
			putchar(*s);
	}
	putchar('"');
}

static void cli_suggest_print(const struct stats_data *d, long min)
{
	const struct stats_group *g;
	size_t i, shown = 0;

	printf("# amtsbot suggest: unanswered questions %s to %s\n"
	       "# Review every entry: the closest intent is only a guess.\n"
	       "tests:\n", d->p.since_s, d->p.until_s);
	for (i = 0; i < d->n_groups; i++) {
		g = &d->groups[i];
		if ((long)g->n < min)
			continue;
		shown++;
		printf("  # %zu× gefragt (%zu Formulierungen)%s%s\n", g->n,
		       g->n_variants, g->closest ? "; am nächsten: " : "; neues Anliegen?",
		       g->closest ? g->closest : "");
		fputs("  - q: ", stdout);
		cli_yaml_str(g->text);
		printf("\n    intent: %s\n", g->closest ? g->closest : "none   # Intent bitte eintragen");
	}
	if (!shown)
		printf("  []   # nothing unanswered\n");
	printf("\n# examples to add to the intents above, once the tests pass:\n");
	for (i = 0; i < d->n_groups; i++) {
		g = &d->groups[i];
		if ((long)g->n < min || !g->closest)
			continue;
		printf("#   %s:\n#     examples:\n#       - ", g->closest);
		cli_yaml_str(g->text);
		putchar('\n');
	}
}

int cli_suggest(int argc, char **argv)
{
	struct cli_stats_opts o = { 0 };
	struct stats_data d = { 0 };
	int rc;

	if (cli_is_help(argc, argv)) {
		fputs(cli_suggest_usage, stdout);
		return 0;
	}
	if (cli_stats_parse(argc, argv, &o) || o.what || o.json || o.csv) {
		fputs(cli_suggest_usage, stderr);
		return 2;
	}
	rc = cli_stats_report(&o, STATS_WANT_UNANSWERED, &d);
	if (!rc)
		cli_suggest_print(&d, o.min);
	stats_data_release(&d);
	return rc;
}

/* ---- purge ---------------------------------------------------------------------- */

int cli_purge(int argc, char **argv)
{
	struct cli_stats_opts o = { 0 };
	struct bot_err err = { 0 };
	struct store *s;
	int64_t n = 0;
	int rc;

	if (cli_is_help(argc, argv) || cli_stats_parse(argc, argv, &o) ||
	    o.what || o.days < 0) {
		fprintf(cli_is_help(argc, argv) ? stdout : stderr,
			"usage: amtsbot purge --older-than DAYS [--db FILE]\n\n"
			"Deletes conversations not updated for DAYS days (0: all), their "
			"messages and feedback,\nand older suggestions, for good; "
			"their figures stay in the statistics as\ndaily counts "
			"without any text.\n");
		return cli_is_help(argc, argv) ? 0 : 2;
	}
	s = store_open(o.db, &err);
	rc = s ? store_stats_purge(s, time(NULL) - (time_t)o.days * 86400, &n,
				   &err) : 1;
	if (rc)
		fprintf(stderr, "amtsbot purge: %s\n", err.msg);
	else
		printf("Deleted %lld conversation(s) not updated for %ld days.\n",
		       (long long)n, o.days);
	store_close(&s);
	return rc ? 1 : 0;
}

/* ---- handoffs per reason and team ------------------------------------------------ */

#define CLI_OUTCOMES 5		/* released closed abandoned timeout open */

struct cli_group {
	char reason[16];
	char team[STORE_NAME_MAX];
	size_t n;
	int64_t *wait, *handle;	/* seconds, for the medians */
	size_t n_wait, n_handle;
	size_t outcomes[CLI_OUTCOMES];
};

struct cli_hstats {
	struct cli_group *g;
	size_t n, alloc;
	int failed;
};

static const char *const cli_outcomes[CLI_OUTCOMES] = {
	"released", "closed", "abandoned", "timeout", "open"
};

static struct cli_group *cli_group_get(struct cli_hstats *st, const char *reason,
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

static int cli_push(int64_t **v, size_t *n, int64_t x)
{
	int64_t *p = bot_realloc(*v, (*n + 1) * sizeof(**v));

	if (!p)
		return -1;
	p[(*n)++] = x;
	*v = p;
	return 0;
}

static int cli_handoff_one(void *arg, const struct store_handoff *h)
{
	struct cli_hstats *st = arg;
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
				      (int64_t)(h->claimed_at - h->queued_at)))
		st->failed = 1;
	if (h->claimed_at && h->ended_at &&
	    cli_push(&g->handle, &g->n_handle,
		     (int64_t)(h->ended_at - h->claimed_at)))
		st->failed = 1;
	return st->failed;
}

/* The p-th percentile as "12s", or "-" without data. */
static const char *cli_pct(int64_t *v, size_t n, int p, char *buf, size_t size)
{
	if (!n)
		return "-";
	snprintf(buf, size, "%llds", (long long)stats_percentile(v, n, p));
	return buf;
}

static void cli_handoffs_print(struct cli_hstats *st)
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

static int cli_stats_handoffs(const char *db)
{
	struct cli_hstats st = { 0 };
	struct bot_err err = { 0 };
	struct store *s;
	size_t i;
	int rc;

	s = store_open(db, &err);
	if (!s) {
		fprintf(stderr, "amtsbot stats: %s\n", err.msg);
		return 1;
	}
	rc = store_handoff_each(s, 1, cli_handoff_one, &st, &err);
	if (rc || st.failed)
		fprintf(stderr, "amtsbot stats: %s\n", rc ? err.msg : "out of memory");
	else
		cli_handoffs_print(&st);
	for (i = 0; i < st.n; i++) {
		bot_free(st.g[i].wait);
		bot_free(st.g[i].handle);
	}
	bot_free(st.g);
	store_close(&s);
	return rc || st.failed ? 1 : 0;
}
