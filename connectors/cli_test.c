/*
 * cli_test.c - 'amtsbot test': run the test questions kept beside the
 * knowledge base and report each failure with what was expected and what
 * came back.
 */
#include "engine/bot.h"
#include "main.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "engine/dialog.h"
#include "engine/hours.h"
#include "engine/kb.h"
#include "engine/strbuf.h"
#include "engine/banned.h"

/* The clock of tests that do not fix one: a Tuesday morning, so that
 * answers about opening hours are reproducible. */
#define TEST_DEFAULT_NOW "2026-11-24T10:00"

struct test_run {
	struct dialog *d;
	int verbose;
	int passed, failed;
	struct strbuf why;
};

static int id_matches(const char *want, const char *got)
{
	if (!want)
		return 1;
	if (!strcmp(want, "none"))
		return got == NULL;
	return got && !strcmp(want, got);
}

static void why_add(struct strbuf *why, const char *what, const char *want,
		    const char *got)
{
	(void)strbuf_addf(why, "%sexpected %s '%s', got '%s'",
			  why->len ? "; " : "", what, want,
			  got ? got : "none");
}

static void turn_compare(const struct kb_test_turn *tt, const struct reply *r,
			 struct strbuf *why)
{
	size_t i;

	if (!id_matches(tt->intent, r->intent))
		why_add(why, "intent", tt->intent, r->intent);
	if (!id_matches(tt->service, r->service))
		why_add(why, "service", tt->service, r->service);
	if (!id_matches(tt->office, r->office))
		why_add(why, "office", tt->office, r->office);
	if (tt->handoff >= 0 && tt->handoff != r->handoff)
		why_add(why, "handoff", tt->handoff ? "true" : "false",
			r->handoff ? "true" : "false");
	if (tt->handoff_reason && (!r->handoff_reason ||
				   strcmp(tt->handoff_reason, r->handoff_reason)))
		why_add(why, "handoff reason", tt->handoff_reason,
			r->handoff_reason);
	for (i = 0; i < tt->contains.n; i++)
		if (!strstr(strbuf_str(&r->answer), tt->contains.v[i]))
			(void)strbuf_addf(why, "%sanswer lacks \"%s\"",
					  why->len ? "; " : "",
					  tt->contains.v[i]);
}

static void turn_report(struct test_run *tr, const struct kb_test_turn *tt,
			const struct reply *r)
{
	if (!tr->why.len) {
		tr->passed++;
		if (tr->verbose)
			printf("ok   %s:%d: %s\n", tt->pos.file, tt->pos.line,
			       tt->question);
		return;
	}
	tr->failed++;
	printf("FAIL %s:%d: \"%s\": %s\n", tt->pos.file, tt->pos.line,
	       tt->question, strbuf_str(&tr->why));
	printf("     answer (confidence %.2f): %.200s\n", r->confidence,
	       strbuf_str(&r->answer));
}

static int test_one(struct test_run *tr, const struct kb_test *t,
		    struct reply *r)
{
	struct bot_err err = { 0 };
	struct dialog_state st;
	time_t now;
	size_t i;

	if (cli_now(tr->d, t->now ? t->now : TEST_DEFAULT_NOW, &now))
		return 1;
	dialog_state_init(&st);
	for (i = 0; i < t->n_turns; i++) {
		const struct kb_test_turn *tt = &t->turns[i];

		strbuf_reset(&tr->why);
		if (dialog_reply(tr->d, &st, tt->question, strlen(tt->question),
				 now, r, &err))
			(void)strbuf_addf(&tr->why, "error: %s", err.msg);
		else
			turn_compare(tt, r, &tr->why);
		turn_report(tr, tt, r);
	}
	return 0;
}

int cli_test(int argc, char **argv)
{
	struct test_run tr = { NULL, 0, 0, 0, STRBUF_INIT };
	const char *dir = "intents";
	struct kb *kb = NULL;
	struct reply r;
	size_t i;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
			printf("usage: amtsbot test [-v] [DIR]\n\nRuns the test "
			       "questions of the knowledge base in DIR (default: "
			       "intents).\nExit status 1 when a test fails.\n");
			return 0;
		}
		if (!strcmp(argv[a], "-v") || !strcmp(argv[a], "--verbose"))
			tr.verbose = 1;
		else if (!strcmp(argv[a], "--kb") && a + 1 < argc)
			dir = argv[++a];
		else
			dir = argv[a];
	}
	if (cli_load(dir, &kb, &tr.d))
		return 1;
	strbuf_init(&tr.why, 1u << 16);
	reply_init(&r);
	for (i = 0; i < kb->n_tests; i++)
		if (test_one(&tr, &kb->tests[i], &r))
			tr.failed++;
	reply_release(&r);
	strbuf_release(&tr.why);
	printf("%d passed, %d failed\n", tr.passed, tr.failed);
	dialog_free(&tr.d);
	kb_free(&kb);
	return tr.failed ? 1 : 0;
}
