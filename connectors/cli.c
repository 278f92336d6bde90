/*
 * cli.c - the editors' commands: ask, check, test and import-faq.
 * (bench lives in bench.c.)  Messages for editors are in English with
 * file:line:column, answers for citizens in German.
 */
#include "engine/bot.h"
#include "main.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "json.h"
#include "engine/answer.h"
#include "engine/dialog.h"
#include "engine/hours.h"
#include "engine/kb.h"
#include "engine/match.h"
#include "engine/strbuf.h"
#include "engine/style.h"
#include "engine/banned.h"

#define LINE_MAX_BYTES 65536

/* ---- shared helpers ----------------------------------------------------- */

void cli_print_diags(const struct kb *kb, FILE *fp, int warnings)
{
	char buf[1024];
	size_t i;

	for (i = 0; i < kb->n_diags; i++) {
		if (kb->diags[i].severity != 'e' && !warnings)
			continue;
		kb_diag_format(&kb->diags[i], buf, sizeof(buf));
		fprintf(fp, "%s\n", buf);
	}
}

int cli_load(const char *dir, struct kb **kbp, struct dialog **dp)
{
	struct bot_err err = { 0 };

	*dp = NULL;
	*kbp = kb_load(dir, &err);
	if (!*kbp) {
		fprintf(stderr, "amtsbot: %s\n", err.msg);
		return 1;
	}
	if ((*kbp)->n_errors) {
		cli_print_diags(*kbp, stderr, 0);
		fprintf(stderr, "amtsbot: knowledge base '%s' has %zu error(s); "
			"run 'amtsbot check %s'\n", dir, (*kbp)->n_errors, dir);
		kb_free(kbp);
		return 1;
	}
	*dp = dialog_new(*kbp, &err);
	if (!*dp) {
		fprintf(stderr, "amtsbot: %s\n", err.msg);
		kb_free(kbp);
		return 1;
	}
	return 0;
}

int cli_now(const struct dialog *d, const char *s, time_t *now)
{
	struct bot_err err = { 0 };

	if (!s) {
		*now = time(NULL);
		return 0;
	}
	if (hours_parse_now(dialog_tz(d), s, now, &err)) {
		fprintf(stderr, "amtsbot: --now: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/* ---- ask ------------------------------------------------------------------ */

struct ask_opts {
	const char *kb;
	const char *now;
	int json;
	int dialogue;
	int explain;
	struct strbuf text;	/* the question from the arguments */
};

static void ask_usage(FILE *fp)
{
	fprintf(fp,
		"usage: amtsbot ask [--kb DIR] [--json] [--dialogue] [--now YYYY-MM-DDTHH:MM] [TEXT...]\n"
		"\n"
		"Answers TEXT, or each line of standard input.  Lines are independent\n"
		"questions unless --dialogue makes them one conversation.\n"
		"  --kb DIR      knowledge base (default: intents)\n"
		"  --json        one JSON object per answer\n"
		"  --dialogue    keep context between lines (follow-up questions)\n"
		"  --now TIME    fix the clock (local time of the knowledge base)\n"
		"  --explain     show how each word was understood and the ranking\n");
}

/* A flag without a value: 1 when 'a' is one, else 0. */
static int ask_flag(const char *a, struct ask_opts *o)
{
	if (!strcmp(a, "--json"))
		o->json = 1;
	else if (!strcmp(a, "--dialogue"))
		o->dialogue = 1;
	else if (!strcmp(a, "--explain"))
		o->explain = 1;
	else
		return 0;
	return 1;
}

/* --kb and --now, as "--kb DIR" or "--kb=DIR": 1 when 'argv[*i]' is one
 * (and '*i' moved past its value), else 0. */
static int ask_valued(int argc, char **argv, int *i, struct ask_opts *o)
{
	const char *a = argv[*i];

	if ((!strcmp(a, "--kb") || !strcmp(a, "--now")) && *i + 1 < argc) {
		*(a[2] == 'k' ? &o->kb : &o->now) = argv[++*i];
		return 1;
	}
	if (!strncmp(a, "--kb=", 5))
		o->kb = a + 5;
	else if (!strncmp(a, "--now=", 6))
		o->now = a + 6;
	else
		return 0;
	return 1;
}

static int ask_parse(int argc, char **argv, struct ask_opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			ask_usage(stdout);
			return -1;
		}
		if (ask_flag(a, o) || ask_valued(argc, argv, &i, o))
			continue;
		if (a[0] == '-' && a[1] == '-' && a[2]) {
			fprintf(stderr, "amtsbot ask: unknown option '%s'\n", a);
			ask_usage(stderr);
			return 2;
		}
		if ((o->text.len && strbuf_addch(&o->text, ' ')) ||
		    strbuf_adds(&o->text, a))
			return 2;
	}
	return 0;
}

static void ask_print_plain(const struct reply *r)
{
	size_t i;

	printf("%s\n", strbuf_str(&r->answer));
	for (i = 0; i < r->n_sources; i++)
		printf("  Quelle: %s <%s>\n", r->sources[i].title,
		       r->sources[i].url);
	printf("  [intent: %s, service: %s, office: %s, confidence: %.2f%s%s]\n",
	       r->intent ? r->intent : "-", r->service ? r->service : "-",
	       r->office ? r->office : "-", r->confidence,
	       r->handoff ? ", handoff: " : "",
	       r->handoff ? r->handoff_reason : "");
}

static void ask_explain(struct dialog *d, const char *q)
{
	struct bot_err err = { 0 };
	struct strbuf sb;

	strbuf_init(&sb, 0);
	if (match_explain(dialog_match(d), q, strlen(q), &sb, &err))
		fprintf(stderr, "amtsbot ask: %s\n", err.msg);
	else
		fputs(strbuf_str(&sb), stdout);
	strbuf_release(&sb);
}

static int ask_one(struct dialog *d, struct dialog_state *st, const char *q,
		   time_t now, int json, struct reply *r)
{
	struct bot_err err = { 0 };
	char *js;

	if (dialog_reply(d, st, q, strlen(q), now, r, &err)) {
		fprintf(stderr, "amtsbot ask: %s\n", err.msg);
		return 1;
	}
	if (!json) {
		ask_print_plain(r);
		return 0;
	}
	js = json_reply_text(r);
	if (!js)
		return 1;
	printf("%s\n", js);
	bot_free(js);
	return 0;
}

static int ask_stdin(struct dialog *d, const struct ask_opts *o, time_t now,
		     struct reply *r)
{
	struct dialog_state st;
	char *line = bot_malloc(LINE_MAX_BYTES);
	int rc = 0;

	if (!line)
		return 1;
	dialog_state_init(&st);
	while (fgets(line, LINE_MAX_BYTES, stdin)) {
		chomp(line);
		if (!line[0])
			continue;
		if (!o->dialogue)
			dialog_state_init(&st);
		rc |= ask_one(d, &st, line, now, o->json, r);
		fflush(stdout);
	}
	bot_free(line);
	return rc;
}

int cli_ask(int argc, char **argv)
{
	struct ask_opts o = { .kb = "intents", .text = STRBUF_INIT };
	struct dialog_state st;
	struct dialog *d = NULL;
	struct kb *kb = NULL;
	struct reply r;
	time_t now;
	int rc;

	strbuf_init(&o.text, LINE_MAX_BYTES);
	rc = ask_parse(argc, argv, &o);
	if (rc)
		goto out;
	rc = 1;
	if (cli_load(o.kb, &kb, &d) || cli_now(d, o.now, &now))
		goto out;
	reply_init(&r);
	dialog_state_init(&st);
	if (o.explain && o.text.len)
		ask_explain(d, strbuf_str(&o.text));
	if (o.text.len)
		rc = ask_one(d, &st, strbuf_str(&o.text), now, o.json, &r);
	else
		rc = ask_stdin(d, &o, now, &r);
	reply_release(&r);
out:
	strbuf_release(&o.text);
	dialog_free(&d);
	kb_free(&kb);
	return rc < 0 ? 0 : rc;
}

/* ---- check ------------------------------------------------------------------ */

static void check_templates(struct kb *kb)
{
	char msg[256];
	size_t i;

	for (i = 0; i < kb->n_intents; i++) {
		const struct kb_intent *in = &kb->intents[i];

		if (answer_check(in->answer, msg, sizeof(msg)))
			(void)kb_diag_add(kb, 'e', &in->pos,
					  "intent '%s': answer: %s", in->id, msg);
	}
	/* the netiquette texts are templates too ({{netiquette_url}}) */
	for (i = 0; i < kb->n_texts; i++) {
		const struct kb_text *t = &kb->texts[i];

		if (!strcmp(t->label, "netiquette") &&
		    answer_check(t->text, msg, sizeof(msg)))
			(void)kb_diag_add(kb, 'e', &t->pos, "netiquette: %s: %s",
					  t->field, msg);
	}
}

/* Examples that another intent matches better confuse the matcher. */
static void check_examples(struct kb *kb, struct match *m)
{
	const struct kb_intent *better;
	double own, other;
	size_t i, j;

	for (i = 0; i < kb->n_intents; i++) {
		const struct kb_intent *in = &kb->intents[i];

		for (j = 0; j < in->examples.n; j++) {
			if (!match_example_check(m, in, j, &better, &own, &other))
				continue;
			(void)kb_diag_add(kb, 'w', &in->pos,
				"intent '%s': example \"%s\" is matched better "
				"by intent '%s' (%.2f > %.2f)", in->id,
				in->examples.v[j], better->id, other, own);
		}
	}
}

static int diag_cmp(const void *a, const void *b)
{
	const struct kb_diag *x = a, *y = b;
	int c = strcmp(x->pos.file ? x->pos.file : "",
		       y->pos.file ? y->pos.file : "");

	if (c)
		return c;
	if (x->pos.line != y->pos.line)
		return x->pos.line - y->pos.line;
	return x->pos.col - y->pos.col;
}

int cli_check(int argc, char **argv)
{
	const char *dir = "intents";
	struct bot_err err = { 0 };
	struct match *m = NULL;
	struct kb *kb;
	size_t nerr = 0, i;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
			printf("usage: amtsbot check [DIR]\n\nValidates the "
			       "knowledge base in DIR (default: intents): YAML, "
			       "fields, ids, references,\npatterns, templates, "
			       "examples, netiquette lists, review dates and plain "
			       "language\n(long sentences, bureaucratic words).  "
			       "Exit status 1 when there are errors.\n");
			return 0;
		}
		if (!strcmp(argv[a], "--kb") && a + 1 < argc)
			dir = argv[++a];
		else
			dir = argv[a];
	}
	kb = kb_load(dir, &err);
	if (!kb) {
		fprintf(stderr, "amtsbot check: %s\n", err.msg);
		return 1;
	}
	check_templates(kb);
	if (style_check(kb)) {
		fprintf(stderr, "amtsbot check: out of memory\n");
		kb_free(&kb);
		return 1;
	}
	if (!kb->n_errors) {
		m = match_new(kb, kb, &err);
		if (m)
			check_examples(kb, m);
	}
	if (kb->n_diags)
		qsort(kb->diags, kb->n_diags, sizeof(*kb->diags), diag_cmp);
	cli_print_diags(kb, stdout, 1);
	for (i = 0; i < kb->n_diags; i++)
		nerr += kb->diags[i].severity == 'e';
	printf("%s: %zu error(s), %zu warning(s); %zu offices, %zu services, "
	       "%zu intents, %zu tests\n", dir, nerr, kb->n_diags - nerr,
	       kb->n_offices, kb->n_services, kb->n_intents, kb->n_tests);
	match_free(&m);
	kb_free(&kb);
	return nerr ? 1 : 0;
}
