/*
 * test_kb.c - the YAML knowledge-base loader: a good kb parsed field by
 * field, every kind of mistake reported at its file:line:col, limits,
 * lookups on a big kb, and allocation failures at every step.
 *
 * Run from the repository root (fixtures are in tests/fixtures/kb/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/kb.h"
#include "engine/strbuf.h"

#define FIX "tests/fixtures/kb/"

static struct kb *load(const char *dir, struct bot_err *err)
{
	struct kb *kb;

	memset(err, 0, sizeof(*err));
	kb = kb_load(dir, err);
	assert_non_null(kb);
	return kb;
}

static struct kb *load_str(const char *yaml, struct bot_err *err)
{
	struct kb *kb;

	memset(err, 0, sizeof(*err));
	kb = kb_load_buffer("t.yaml", yaml, strlen(yaml), err);
	assert_non_null(kb);
	return kb;
}

static double ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* The first diagnostic whose message contains 'needle', or NULL. */
static const struct kb_diag *find_diag(const struct kb *kb, const char *needle)
{
	size_t i;

	for (i = 0; i < kb->n_diags; i++) {
		if (strstr(kb->diags[i].msg, needle))
			return &kb->diags[i];
	}
	return NULL;
}

/* Assert a diagnostic with exactly this message at file:line:col. */
static void expect_diag(const struct kb *kb, char sev, const char *file,
			int line, int col, const char *msg)
{
	const struct kb_diag *d = find_diag(kb, msg);

	if (!d) {
		size_t i;

		for (i = 0; i < kb->n_diags; i++)
			print_message("have: %s\n", kb->diags[i].msg);
		fail_msg("no diagnostic '%s'", msg);
	}
	assert_string_equal(d->msg, msg);
	assert_int_equal(d->severity, sev);
	if (file) {
		assert_non_null(d->pos.file);
		assert_string_equal(d->pos.file, file);
	}
	assert_int_equal(d->pos.line, line);
	assert_int_equal(d->pos.col, col);
}

/* ---- the good kb -------------------------------------------------------- */

static void test_good_files_and_settings(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "good", &err);
	const struct kb_settings *s = &kb->settings;
	size_t i;

	(void)state;
	for (i = 0; i < kb->n_diags; i++)
		print_message("unexpected: %s\n", kb->diags[i].msg);
	assert_int_equal(kb->n_errors, 0);
	assert_int_equal(kb->n_diags, 0);
	assert_int_equal(err.rc, BOT_OK);
	/* sorted, hidden files and *.txt skipped, tests/ last */
	assert_int_equal(kb->n_files, 7);
	assert_string_equal(kb->files[0], FIX "good/comment.yml");
	assert_string_equal(kb->files[1], FIX "good/empty.yaml");
	assert_string_equal(kb->files[5], FIX "good/settings.yaml");
	assert_string_equal(kb->files[6], FIX "good/tests/basic.yaml");
	assert_string_equal(kb->dir, FIX "good");
	assert_int_equal(strlen(kb->version), 16);
	assert_int_equal(strspn(kb->version, "0123456789abcdef"), 16);

	assert_string_equal(s->city, "Teststadt");
	assert_string_equal(s->state, "BY");	/* normalised */
	assert_string_equal(s->timezone, "Europe/Berlin");
	assert_true(s->threshold > 0.59 && s->threshold < 0.61);
	assert_true(s->margin > 0.09 && s->margin < 0.11);
	/* block scalar: trailing newline trimmed, inner one kept */
	assert_string_equal(s->fallback, "Das weiß ich leider nicht.\n"
			    "Fragen Sie bitte im Bürgeramt.");
	assert_string_equal(s->privacy_url,
			    "https://www.teststadt.example/datenschutz");
	assert_int_equal(s->review_months, 24);
	assert_null(s->thesaurus);
	assert_int_equal(s->pos.line, 3);
	kb_free(&kb);
	assert_null(kb);
}

static void test_good_offices(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "good", &err);
	const struct kb_office *o = kb_office(kb, "buergeramt");

	(void)state;
	assert_non_null(o);
	assert_string_equal(o->name, "Bürgeramt");
	assert_int_equal(o->synonyms.n, 2);
	assert_string_equal(o->synonyms.v[1], "Einwohnermeldeamt");
	assert_int_equal(o->keywords.n, 1);	/* single string = list */
	assert_string_equal(o->keywords.v[0], "Meldeamt");
	assert_string_equal(o->note, "Barrierefreier Zugang.");
	assert_true(o->has_hours);
	/* mo: 08:00-12:00, 14:00-16:00 */
	assert_int_equal(o->week[0].n, 2);
	assert_int_equal(o->week[0].r[0].open, 8 * 60);
	assert_int_equal(o->week[0].r[0].close, 12 * 60);
	assert_int_equal(o->week[0].r[1].open, 14 * 60);
	assert_int_equal(o->week[0].r[1].close, 16 * 60);
	/* di: H:MM */
	assert_int_equal(o->week[1].n, 1);
	assert_int_equal(o->week[1].r[0].open, 8 * 60);
	assert_int_equal(o->week[2].n, 0);	/* not listed: closed */
	/* donnerstag as a list, given out of order: sorted */
	assert_int_equal(o->week[3].n, 2);
	assert_int_equal(o->week[3].r[0].open, 8 * 60);
	assert_int_equal(o->week[3].r[1].close, 18 * 60);
	/* fr with an en dash and spaces */
	assert_int_equal(o->week[4].n, 1);
	assert_int_equal(o->week[4].r[0].close, 12 * 60);
	assert_int_equal(o->week[5].n, 0);	/* "geschlossen" */
	assert_int_equal(o->week[6].r[0].close, 24 * 60);
	assert_int_equal(o->closed_on_holidays, 0);
	assert_int_equal(o->n_closed, 4);
	assert_int_equal(o->closed[0].year, 0);
	assert_int_equal(o->closed[0].month, 12);
	assert_int_equal(o->closed[0].day, 24);
	assert_int_equal(o->closed[2].year, 2026);
	assert_int_equal(o->closed[2].month, 6);
	assert_int_equal(o->closed[2].day, 5);
	assert_int_equal(o->closed[3].year, 2027);
	assert_int_equal(o->closed[3].month, 6);
	assert_string_equal(o->reviewed, "2099-01-01");
	assert_string_equal(o->pos.file, FIX "good/offices.yaml");
	assert_int_equal(o->pos.line, 2);
	assert_int_equal(o->pos.col, 5);

	o = kb_office(kb, "fundbuero");
	assert_non_null(o);
	assert_int_equal(o->closed_on_holidays, 1);	/* default */
	assert_int_equal(o->n_closed, 1);	/* closed: [01.05.] shorthand */
	assert_int_equal(o->closed[0].month, 5);
	assert_null(kb_office(kb, "nope"));
	assert_null(kb_office(kb, NULL));
	assert_null(kb_office(NULL, "fundbuero"));
	kb_free(&kb);
}

static void test_good_services(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "good", &err);
	const struct kb_service *s = kb_service(kb, "personalausweis");

	(void)state;
	assert_non_null(s);
	assert_string_equal(s->article, "der");
	assert_string_equal(s->office_id, "buergeramt");
	assert_ptr_equal(s->office, kb_office(kb, "buergeramt"));
	/* folded block scalar */
	assert_string_equal(s->summary, "Den Personalausweis beantragen Sie "
			    "persönlich im Bürgeramt.");
	assert_int_equal(s->documents.n, 2);
	assert_int_equal(s->appointment, 1);	/* "ja" */
	assert_string_equal(s->leika, "99010003001000");
	assert_int_equal(s->n_legal, 3);
	assert_string_equal(s->legal[0].law, "PAuswG");
	assert_string_equal(s->legal[0].section, "§ 9");
	assert_string_equal(s->legal[0].title, "§ 9 PAuswG");	/* built */
	assert_string_equal(s->legal[0].url,
			    "https://www.gesetze-im-internet.de/pauswg/__9.html");
	assert_string_equal(s->legal[1].title, "PAuswV");
	assert_null(s->legal[1].section);
	assert_string_equal(s->legal[2].title, "Gebührenordnung");
	assert_null(s->legal[2].law);

	s = kb_service(kb, "fundsache");
	assert_non_null(s);
	assert_ptr_equal(s->office, kb_office(kb, "fundbuero"));
	assert_int_equal(s->appointment, 0);
	assert_int_equal(s->documents.n, 1);
	assert_string_equal(s->legal[0].title,
			    "§ 965 Bürgerliches Gesetzbuch (BGB)");
	assert_null(s->article);
	kb_free(&kb);
}

static void test_good_intents(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "good", &err);
	const struct kb_intent *in = kb_intent(kb, "kosten");

	(void)state;
	assert_int_equal(kb->n_intents, 4);
	assert_non_null(in);
	assert_string_equal(in->title, "Kosten");
	assert_int_equal(in->needs, KB_NEEDS_SERVICE);
	assert_int_equal(in->handoff, KB_HANDOFF_NONE);
	assert_int_equal(in->n_patterns, 2);
	assert_string_equal(in->patterns[0].src, "\\bwas kostet");
	assert_string_equal(in->patterns[1].src, "\\bgebuehr");
	assert_string_equal(in->patterns[1].pos.file, FIX "good/intents.yaml");
	assert_int_equal(in->patterns[1].pos.line, 5);
	assert_int_equal(in->patterns[1].pos.col, 32);
	assert_string_equal(in->answer, "{{service.name}} kostet "
			    "{{service.fees}}.");
	assert_int_equal(in->quick_replies.n, 2);

	in = kb_intent(kb, "oeffnungszeiten");
	assert_int_equal(in->needs, KB_NEEDS_OFFICE);
	assert_int_equal(in->n_patterns, 1);	/* single string */
	assert_string_equal(in->answer, "{{office.hours.day}}");

	in = kb_intent(kb, "mitarbeiter");
	assert_int_equal(in->handoff, KB_HANDOFF_REQUESTED);
	assert_null(in->answer);	/* allowed for handoff intents */
	assert_int_equal(in->needs, KB_NEEDS_NOTHING);

	in = kb_intent(kb, "idee");
	assert_int_equal(in->suggestion, 1);
	assert_int_equal(in->examples.n, 1);
	kb_free(&kb);
}

static void test_good_tests(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "good", &err);
	const struct kb_test *t;
	const struct kb_test_turn *u;

	(void)state;
	assert_int_equal(kb->n_tests, 4);
	t = &kb->tests[0];
	assert_int_equal(t->n_turns, 1);
	assert_null(t->name);
	assert_string_equal(t->now, "2026-11-24T10:00");
	u = &t->turns[0];
	assert_string_equal(u->question, "Wann hat das Bürgeramt heute auf?");
	assert_string_equal(u->intent, "oeffnungszeiten");
	assert_string_equal(u->office, "buergeramt");
	assert_null(u->service);
	assert_int_equal(u->handoff, -1);
	assert_int_equal(u->contains.n, 1);
	assert_string_equal(u->contains.v[0], "08:00");
	assert_int_equal(u->pos.line, 2);

	u = &kb->tests[1].turns[0];
	assert_int_equal(u->handoff, 1);
	assert_string_equal(u->handoff_reason, "personal_data");

	u = &kb->tests[2].turns[0];
	assert_string_equal(u->intent, "none");
	assert_int_equal(u->handoff, 0);
	assert_null(u->handoff_reason);

	t = &kb->tests[3];
	assert_string_equal(t->name, "Folgefrage behält das Thema");
	assert_string_equal(t->now, "2026-11-24 10:00:30");
	assert_int_equal(t->n_turns, 2);
	assert_string_equal(t->turns[0].service, "personalausweis");
	assert_int_equal(t->turns[0].contains.n, 2);
	assert_int_equal(t->turns[0].handoff, -1);
	assert_int_equal(t->turns[1].handoff, 1);
	assert_null(t->turns[1].handoff_reason);
	assert_int_equal(t->turns[1].pos.line, 19);
	kb_free(&kb);
}

static void test_defaults(void **state)
{
	struct bot_err err;
	struct kb *kb = load_str("offices: [{id: a, name: A, hours: {}}]\n"
				 "services: [{id: s, name: S, office: a,"
				 " legal_basis: X}]\n"
				 "intents: [{id: i, answer: x, keywords: k}]\n",
				 &err);

	(void)state;
	assert_int_equal(kb->n_errors, 0);
	assert_null(kb->dir);
	assert_string_equal(kb->files[0], "t.yaml");
	assert_true(kb->settings.threshold > 0.49 &&
		    kb->settings.threshold < 0.51);
	assert_true(kb->settings.margin > 0.059 && kb->settings.margin < 0.061);
	assert_string_equal(kb->settings.state, "NW");
	assert_string_equal(kb->settings.timezone, "Europe/Berlin");
	assert_int_equal(kb->settings.review_months, 12);
	assert_null(kb->settings.city);
	assert_int_equal(kb->offices[0].closed_on_holidays, 1);
	assert_int_equal(kb->offices[0].has_hours, 1);
	assert_int_equal(kb->services[0].appointment, -1);
	assert_string_equal(kb->services[0].legal[0].title, "X");
	assert_int_equal(kb->intents[0].needs, KB_NEEDS_NOTHING);
	assert_int_equal(kb->intents[0].handoff, KB_HANDOFF_NONE);
	assert_int_equal(kb->intents[0].suggestion, 0);
	assert_int_equal(kb->intents[0].keywords.n, 1);
	kb_free(&kb);
}

static void test_version(void **state)
{
	struct bot_err err;
	struct kb *a = load(FIX "good", &err), *b = load(FIX "good", &err);
	struct kb *c = load_str("settings: {city: A}\n", &err);
	struct kb *d = load_str("settings: {city: B}\n", &err);

	(void)state;
	assert_string_equal(a->version, b->version);
	assert_string_not_equal(c->version, d->version);
	kb_free(&a);
	kb_free(&b);
	kb_free(&c);
	kb_free(&d);
}

/* ---- mistakes, each at its place ------------------------------------------ */

static void test_syntax_error(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "syntax", &err);

	(void)state;
	assert_int_equal(kb->n_errors, 1);
	expect_diag(kb, 'e', FIX "syntax/offices.yaml", 5, 7,
		    "invalid YAML: did not find expected ',' or ']' "
		    "(while parsing a flow sequence at line 4)");
	/* 'err' carries the first error, formatted */
	assert_int_equal(err.rc, BOT_EPARSE);
	assert_non_null(strstr(err.msg, FIX "syntax/offices.yaml:5:7: error: "
			       "invalid YAML"));
	kb_free(&kb);
}

static void test_tab_indentation(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "tabs", &err);

	(void)state;
	assert_int_equal(kb->n_errors, 1);
	assert_int_equal(kb->diags[0].pos.line, 3);
	assert_int_equal(kb->diags[0].pos.col, 1);
	assert_non_null(strstr(kb->diags[0].msg, "not tabs"));
	kb_free(&kb);
}

static void test_unknown_field(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "unknown-field", &err);

	(void)state;
	assert_int_equal(kb->n_errors, 1);
	expect_diag(kb, 'e', FIX "unknown-field/offices.yaml", 4, 5,
		    "unknown field 'hourz' in office 'buergeramt'");
	/* and no hours, so a warning as well */
	expect_diag(kb, 'w', NULL, 2, 5,
		    "office 'buergeramt' has no opening hours");
	kb_free(&kb);
}

static void test_duplicate_across_files(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "duplicate", &err);

	(void)state;
	assert_int_equal(kb->n_errors, 1);
	expect_diag(kb, 'e', FIX "duplicate/b.yaml", 3, 5,
		    "duplicate service id 'reisepass' (first defined at "
		    FIX "duplicate/a.yaml:6)");
	/* the lookup gives the first one */
	assert_string_equal(kb_service(kb, "reisepass")->name, "Reisepass");
	kb_free(&kb);
}

static void test_unknown_office(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "unknown-office", &err);

	(void)state;
	assert_int_equal(kb->n_errors, 1);
	expect_diag(kb, 'e', FIX "unknown-office/services.yaml", 8, 13,
		    "service 'reisepass': unknown office 'buergeramtt'");
	assert_null(kb->services[0].office);
	kb_free(&kb);
}

static void test_bad_hours(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "bad-hours", &err);
	const char *f = FIX "bad-hours/offices.yaml";

	(void)state;
	assert_int_equal(kb->n_errors, 6);
	expect_diag(kb, 'e', f, 5, 11, "office 'fundbuero': bad time range "
		    "'8-12' in 'mo' (expected HH:MM-HH:MM)");
	expect_diag(kb, 'e', f, 6, 11, "office 'fundbuero': time range "
		    "'12:00-08:00' in 'di' ends before it starts");
	expect_diag(kb, 'e', f, 7, 64, "office 'fundbuero': more than 4 time "
		    "ranges in 'mi'");
	expect_diag(kb, 'e', f, 8, 11, "office 'fundbuero': overlapping time "
		    "ranges in 'do'");
	expect_diag(kb, 'e', f, 9, 11, "office 'fundbuero': bad time range "
		    "'25:00-26:00' in 'fr' (expected HH:MM-HH:MM)");
	expect_diag(kb, 'e', f, 10, 7, "office 'fundbuero': unknown day "
		    "'mondag' in 'hours' (expected mo, di, mi, do, fr, sa, so)");
	kb_free(&kb);
}

static void test_bad_id(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "bad-id", &err);

	(void)state;
	assert_int_equal(kb->n_errors, 2);
	expect_diag(kb, 'e', FIX "bad-id/intents.yaml", 2, 9,
		    "intent 'Öffnungszeiten': bad id 'Öffnungszeiten' (use "
		    "lowercase letters, digits, '.', '_' and '-')");
	expect_diag(kb, 'e', FIX "bad-id/intents.yaml", 5, 9,
		    "intent '-kosten': bad id '-kosten' (use lowercase "
		    "letters, digits, '.', '_' and '-')");
	kb_free(&kb);
}

static void test_root_not_mapping(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "root-list", &err);

	(void)state;
	assert_int_equal(kb->n_errors, 1);
	expect_diag(kb, 'e', FIX "root-list/offices.yaml", 1, 1,
		    "the top level must be a mapping with settings, offices, "
		    "services, intents, tests, netiquette or plain_language");
	kb_free(&kb);
}

static void test_empty_file_ok(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "empty", &err);

	(void)state;
	assert_int_equal(kb->n_errors, 0);
	assert_int_equal(kb->n_diags, 0);
	assert_int_equal(kb->n_files, 1);
	kb_free(&kb);
	/* only a document marker, or nothing at all, from memory */
	kb = load_str("---\n", &err);
	assert_int_equal(kb->n_diags, 0);
	kb_free(&kb);
	kb = kb_load_buffer(NULL, NULL, 0, &err);
	assert_non_null(kb);
	assert_int_equal(kb->n_diags, 0);
	assert_string_equal(kb->files[0], "<buffer>");
	kb_free(&kb);
}

static void test_no_files_and_missing_dir(void **state)
{
	struct bot_err err = { 0 };
	struct kb *kb;

	(void)state;
	kb = load(FIX "empty-dir", &err);
	assert_int_equal(kb->n_errors, 1);
	assert_non_null(find_diag(kb, "no *.yaml files in"));
	kb_free(&kb);

	kb = kb_load(FIX "does-not-exist", &err);
	assert_null(kb);
	assert_int_equal(err.rc, BOT_EIO);
	assert_string_equal(err.msg, "cannot open directory '" FIX
			    "does-not-exist': No such file or directory");
	kb = kb_load(NULL, &err);
	assert_null(kb);
	assert_int_equal(err.rc, BOT_EINVAL);
}

static void test_huge_file_rejected(void **state)
{
	char dir[] = "/tmp/test_kb_XXXXXX", path[64], want[128];
	size_t size = (4u << 20) + 100;
	struct bot_err err;
	struct kb *kb;
	char *big;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	big = malloc(size);
	assert_non_null(big);
	memset(big, '#', size);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(big, 1, size, fp), size);
	fclose(fp);

	kb = load(dir, &err);
	assert_int_equal(kb->n_errors, 1);
	snprintf(want, sizeof(want), "'%s' is too large (%zu bytes; the limit "
		 "is 4 MiB)", path, size);
	assert_string_equal(kb->diags[0].msg, want);
	assert_string_equal(kb->diags[0].pos.file, path);
	kb_free(&kb);

	kb = kb_load_buffer("big.yaml", big, size, &err);
	assert_non_null(kb);
	assert_int_equal(kb->n_errors, 1);
	assert_non_null(strstr(kb->diags[0].msg, "is too large"));
	kb_free(&kb);
	free(big);
	unlink(path);
	rmdir(dir);
}

static void test_many_errors_at_once(void **state)
{
	struct bot_err err;
	struct kb *kb = load(FIX "many-errors", &err);
	const char *f = FIX "many-errors/kb.yaml";
	size_t i;

	(void)state;
	assert_int_equal(kb->n_errors, 12);
	assert_int_equal(kb->n_diags, 13);
	expect_diag(kb, 'e', f, 2, 10, "settings: unknown state 'XX' (expected "
		    "one of BW BY BE BB HB HH HE MV NI NW RP SL SN ST SH TH)");
	expect_diag(kb, 'e', f, 3, 14, "settings: 'threshold' must be a number "
		    "between 0 and 1");
	expect_diag(kb, 'e', f, 4, 3, "unknown field 'bogus' in settings");
	expect_diag(kb, 'e', f, 6, 5, "missing field 'name' in office 'amt'");
	expect_diag(kb, 'e', f, 11, 13, "service 'pass': unknown office 'amtt'");
	expect_diag(kb, 'e', f, 12, 16, "service 'pass': expected a list for "
		    "'documents'");
	expect_diag(kb, 'e', f, 13, 18, "service 'pass': expected true or false "
		    "for 'appointment'");
	expect_diag(kb, 'w', f, 14, 37, "service 'pass', legal_basis #1: 'url' "
		    "should start with https:// (got 'http://example.org')");
	expect_diag(kb, 'e', f, 16, 5, "intent 'kosten': missing field 'answer'");
	expect_diag(kb, 'e', f, 17, 12, "intent 'kosten': field 'needs' must be "
		    "one of nothing, service, office, topic");
	expect_diag(kb, 'e', f, 21, 13, "test 'Was kostet ein Pass?': unknown "
		    "intent 'preise'");
	expect_diag(kb, 'e', f, 23, 14, "test 'Was kostet ein Pass?': 'handoff' "
		    "must be true, false or one of personal_data, requested, "
		    "case, fallback");
	expect_diag(kb, 'e', f, 24, 1, "unknown top-level key 'foo' (expected "
		    "settings, offices, services, intents, tests, netiquette "
		    "or plain_language)");
	/* sorted by line, cross-reference errors included */
	for (i = 1; i < kb->n_diags; i++)
		assert_true(kb->diags[i - 1].pos.line <= kb->diags[i].pos.line);
	kb_free(&kb);
}

static void test_more_mistakes(void **state)
{
	struct bot_err err;
	struct kb *kb = load_str(
		"settings:\n"				/* 1 */
		"  review_months: 0\n"			/* 2 */
		"offices:\n"				/* 3 */
		"  - id: a\n"				/* 4 */
		"    name: A\n"				/* 5 */
		"    name: B\n"				/* 6 */
		"    closed: {dates: [31.02., 2026-13-01]}\n"	/* 7 */
		"    reviewed: 2001-01-01\n"		/* 8 */
		"  - nur ein Text\n"			/* 9 */
		"services:\n"				/* 10 */
		"  - id: s\n"				/* 11 */
		"    name: [S]\n"			/* 12 */
		"    article: den\n"			/* 13 */
		"    legal_basis: [{section: § 1}]\n"	/* 14 */
		"intents:\n"				/* 15 */
		"  - id: i\n"				/* 16 */
		"    handoff: maybe\n"			/* 17 */
		"    patterns: ['', [x]]\n"		/* 18 */
		"    answer: a\n"			/* 19 */
		"tests:\n"				/* 20 */
		"  - name: d\n"				/* 21 */
		"    dialogue: []\n"			/* 22 */
		"  - name: e\n"				/* 23 */
		"    now: morgen\n"			/* 24 */
		"    dialogue:\n"			/* 25 */
		"      - q: a\n"			/* 26 */
		"        service: nix\n"		/* 27 */
		"        office: none\n"		/* 28 */
		"      - intent: i\n"			/* 29 */
		"offices: []\n", &err);			/* 30 */

	(void)state;
	expect_diag(kb, 'e', "t.yaml", 2, 18, "settings: 'review_months' must "
		    "be a whole number from 1 to 1200");
	expect_diag(kb, 'e', "t.yaml", 6, 5, "duplicate field 'name' in "
		    "office 'a'");
	expect_diag(kb, 'e', "t.yaml", 7, 22, "office 'a': bad date '31.02.' "
		    "in 'closed' (expected DD.MM., DD.MM.YYYY or YYYY-MM-DD)");
	expect_diag(kb, 'e', "t.yaml", 7, 30, "office 'a': bad date "
		    "'2026-13-01' in 'closed' (expected DD.MM., DD.MM.YYYY or "
		    "YYYY-MM-DD)");
	expect_diag(kb, 'w', "t.yaml", 8, 15, "office 'a' was last reviewed on "
		    "2001-01-01, more than 12 months ago");
	expect_diag(kb, 'e', "t.yaml", 9, 5, "expected a mapping for each entry "
		    "of 'offices'");
	expect_diag(kb, 'e', "t.yaml", 12, 11, "service 's': expected a string "
		    "for 'name'");
	expect_diag(kb, 'e', "t.yaml", 13, 14, "service 's': 'article' must be "
		    "der, die or das");
	expect_diag(kb, 'e', "t.yaml", 14, 19, "service 's', legal_basis #1: "
		    "missing field 'law' or 'title'");
	expect_diag(kb, 'w', "t.yaml", 11, 5, "service 's' has no office");
	expect_diag(kb, 'e', "t.yaml", 17, 14, "intent 'i': field 'handoff' "
		    "must be one of none, requested, case");
	expect_diag(kb, 'e', "t.yaml", 18, 16, "intent 'i': expected a "
		    "non-empty string in 'patterns'");
	expect_diag(kb, 'e', "t.yaml", 22, 15, "test 'd': expected a list of "
		    "turns for 'dialogue'");
	expect_diag(kb, 'e', "t.yaml", 24, 10, "test 'e': bad time 'morgen' "
		    "for 'now' (expected YYYY-MM-DDTHH:MM)");
	expect_diag(kb, 'e', "t.yaml", 27, 18, "test 'e', turn 1: unknown "
		    "service 'nix'");
	expect_diag(kb, 'e', "t.yaml", 29, 9, "missing field 'q' in test 'e', "
		    "turn 2");
	expect_diag(kb, 'e', "t.yaml", 30, 1, "duplicate key 'offices'");
	assert_int_equal(kb->n_intents, 1);
	assert_int_equal(kb->intents[0].n_patterns, 0);
	kb_free(&kb);
}

static void test_review_months_setting(void **state)
{
	struct bot_err err;
	struct kb *kb = load_str("settings: {review_months: 1}\n"
				 "intents: [{id: i, answer: a, keywords: k,"
				 " reviewed: 2020-02-30}]\n"
				 "services: [{id: s, name: S, office: o,"
				 " legal_basis: L, reviewed: 2001-05-01}]\n"
				 "offices: [{id: o, name: O, hours: {mo: "
				 "'08:00-09:00'}, reviewed: 2999-01-01}]\n",
				 &err);

	(void)state;
	expect_diag(kb, 'e', "t.yaml", 2, 53, "intent 'i': bad date "
		    "'2020-02-30' for 'reviewed' (expected YYYY-MM-DD)");
	expect_diag(kb, 'w', "t.yaml", 3, 66, "service 's' was last reviewed "
		    "on 2001-05-01, more than 1 month ago");
	assert_int_equal(kb->n_diags, 2);
	kb_free(&kb);
}

static void test_diag_format(void **state)
{
	struct kb_diag d = { 'e', { "intents/a.yaml", 12, 3 }, (char *)"boom" };
	char buf[128], small[8];

	(void)state;
	kb_diag_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "intents/a.yaml:12:3: error: boom");
	d.severity = 'w';
	d.pos.col = 0;
	kb_diag_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "intents/a.yaml:12: warning: boom");
	d.pos.line = 0;
	kb_diag_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "intents/a.yaml: warning: boom");
	d.pos.file = NULL;
	kb_diag_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "warning: boom");
	kb_diag_format(&d, small, sizeof(small));
	assert_string_equal(small, "warning");	/* cut, terminated */
}

static void test_diag_add_and_cap(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct bot_err err;
	struct kb *kb;
	int i;

	(void)state;
	kb = load_str("", &err);
	assert_int_equal(kb_diag_add(kb, 'w', NULL, "note %d", 1), BOT_OK);
	assert_int_equal(kb_diag_add(kb, 'e', &kb->diags[0].pos, "x '%s'", "y"),
			 BOT_OK);
	assert_int_equal(kb->n_diags, 2);
	assert_int_equal(kb->n_errors, 1);
	assert_string_equal(kb->diags[1].msg, "x 'y'");
	kb_free(&kb);

	/* 1500 unknown keys: 1000 stored, one note, all counted */
	strbuf_init(&sb, 0);
	for (i = 0; i < 1500; i++)
		assert_int_equal(strbuf_addf(&sb, "k%d: 1\n", i), BOT_OK);
	kb = load_str(strbuf_str(&sb), &err);
	assert_int_equal(kb->n_errors, 1500);
	assert_int_equal(kb->n_diags, 1001);
	assert_string_equal(kb->diags[1000].msg,
			    "too many problems; only the first 1000 are shown");
	assert_int_equal(kb->diags[1000].severity, 'w');
	kb_free(&kb);
	strbuf_release(&sb);
}

/*
 * Aliases let a tiny text name the same big node many times: here 2000
 * intents that each copy 2000 keywords (4 million strings from 12 KB).
 * The loader must give up with an error instead of doing all that work.
 */
static void test_alias_bomb(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct timespec t0;
	struct bot_err err;
	struct kb *kb;
	int i;

	(void)state;
	strbuf_init(&sb, 0);
	assert_int_equal(strbuf_adds(&sb, "x: &k ["), BOT_OK);
	for (i = 0; i < 2000; i++)
		assert_int_equal(strbuf_adds(&sb, "w,"), BOT_OK);
	assert_int_equal(strbuf_adds(&sb, "]\ny: &i {id: i, answer: a, "
				     "keywords: *k}\nintents: ["), BOT_OK);
	for (i = 0; i < 2000; i++)
		assert_int_equal(strbuf_adds(&sb, "*i,"), BOT_OK);
	assert_int_equal(strbuf_adds(&sb, "]\n"), BOT_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kb = load_str(strbuf_str(&sb), &err);
	assert_non_null(find_diag(kb, "document too complex (too many "
				  "aliases); the rest of it is ignored"));
	assert_true(kb->n_intents < 20);
	assert_true(ms_since(&t0) < 1000.0);
	kb_free(&kb);
	strbuf_release(&sb);

	/* moderate reuse, like shared opening hours, is fine */
	kb = load_str("offices:\n"
		      "  - {id: a, name: A, hours: &h {mo: '08:00-12:00'}}\n"
		      "  - {id: b, name: B, hours: *h}\n", &err);
	assert_int_equal(kb->n_diags, 0);
	assert_int_equal(kb->offices[1].week[0].r[0].close, 12 * 60);
	kb_free(&kb);
}

/* ---- big kbs: speed and lookups --------------------------------------------- */

static void add_service(struct strbuf *sb, int i, int compact)
{
	if (compact) {
		assert_int_equal(strbuf_addf(sb, "  - {id: leistung-%d, name: "
			"Leistung %d, office: amt-%d, synonyms: [Dienst %d], "
			"legal_basis: [{law: BMG, section: § %d}]}\n", i, i,
			i % 50, i, i % 90 + 1), BOT_OK);
		return;
	}
	assert_int_equal(strbuf_addf(sb,
		"  - id: leistung-%d\n"
		"    name: Leistung Nummer %d\n"
		"    article: die\n"
		"    synonyms: [Dienst %d, Antrag %d, Sache %d]\n"
		"    office: amt-%d\n"
		"    summary: Diese Leistung beantragen Sie persönlich im Amt. "
		"Bringen Sie alle Unterlagen mit.\n"
		"    documents:\n"
		"      - Personalausweis oder Reisepass\n"
		"      - Nachweis über den Wohnsitz\n"
		"    fees: 12 Euro\n"
		"    appointment: true\n"
		"    legal_basis:\n"
		"      - {law: BMG, section: § %d, url: https://example.org/%d}\n"
		"    reviewed: 2099-01-01\n",
		i, i, i, i, i, i % 50, i % 90 + 1, i), BOT_OK);
}

static char *big_kb(int n_services, int n_intents, int compact)
{
	struct strbuf sb = STRBUF_INIT;
	char *s;
	int i;

	strbuf_init(&sb, 0);
	assert_int_equal(strbuf_adds(&sb, "offices:\n"), BOT_OK);
	for (i = 0; i < 50; i++)
		assert_int_equal(strbuf_addf(&sb, "  - id: amt-%d\n    name: "
			"Amt %d\n    hours: {mo: '08:00-12:00, 14:00-16:00', "
			"di: '08:00-12:00'}\n    closed: {dates: [24.12.]}\n",
			i, i), BOT_OK);
	assert_int_equal(strbuf_adds(&sb, "services:\n"), BOT_OK);
	for (i = 0; i < n_services; i++)
		add_service(&sb, i, compact);
	assert_int_equal(strbuf_adds(&sb, "intents:\n"), BOT_OK);
	for (i = 0; i < n_intents; i++)
		assert_int_equal(strbuf_addf(&sb, "  - id: frage-%d\n"
			"    needs: service\n    patterns: ['\\bfrage %d\\b', "
			"'\\bwas kostet']\n    keywords: [kosten, gebuehr]\n"
			"    examples: [Was kostet das?, Wie teuer ist es?]\n"
			"    answer: |\n      {{service.name}} kostet "
			"{{service.fees}}.\n", i, i), BOT_OK);
	s = strbuf_detach(&sb);
	assert_non_null(s);
	return s;
}


/*
 * The sample kb is about 150 KB.  The target is well under 10 ms in an
 * optimised build (about 3 ms, most of it in libyaml); sanitizers and a
 * busy machine slow it down, so this only catches gross regressions and
 * prints the best of three.
 */
static void test_speed_sample_size(void **state)
{
	char *yaml = big_kb(250, 150, 0);
	double ms, best = 1e9;
	struct bot_err err;
	struct timespec t0;
	struct kb *kb;
	int r;

	(void)state;
	assert_true(strlen(yaml) > 140000);
	for (r = 0; r < 3; r++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		kb = kb_load_buffer("big.yaml", yaml, strlen(yaml), &err);
		ms = ms_since(&t0);
		best = ms < best ? ms : best;
		assert_non_null(kb);
		assert_int_equal(kb->n_errors, 0);
		assert_int_equal(kb->n_services, 250);
		kb_free(&kb);
	}
	print_message("loaded %zu bytes in %.2f ms\n", strlen(yaml), best);
	assert_true(best < 500.0);
	free(yaml);
}

static double lookup_ms(const struct kb *kb, int from, int to)
{
	struct timespec t0;
	char id[32];
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = from; i < to; i++) {
		snprintf(id, sizeof(id), "leistung-%d", i);
		assert_ptr_equal(kb_service(kb, id), &kb->services[i]);
	}
	return ms_since(&t0);
}

static void test_lookup_10000_services(void **state)
{
	char *yaml = big_kb(10000, 10, 1);
	struct kb_index *index;
	struct bot_err err;
	double hashed, linear;
	struct kb *kb;
	size_t i;

	(void)state;
	kb = kb_load_buffer("huge.yaml", yaml, strlen(yaml), &err);
	assert_non_null(kb);
	assert_int_equal(kb->n_errors, 0);
	assert_int_equal(kb->n_services, 10000);
	for (i = 0; i < kb->n_services; i++)
		assert_ptr_equal(kb->services[i].office,
				 kb_office(kb, kb->services[i].office_id));
	assert_null(kb_service(kb, "leistung-10000"));
	assert_non_null(kb_intent(kb, "frage-9"));

	/*
	 * White box: the same lookups without the index (the linear fallback)
	 * must be much slower; comparing two runs on the same machine at the
	 * same time is robust where a fixed time limit is not.
	 */
	hashed = lookup_ms(kb, 9800, 10000);
	index = kb->index;
	kb->index = NULL;
	linear = lookup_ms(kb, 9800, 10000);
	kb->index = index;
	print_message("200 lookups: %.3f ms with the index, %.3f ms without\n",
		      hashed, linear);
	assert_true(hashed * 5 < linear);
	kb_free(&kb);
	free(yaml);
}

/* ---- allocation failures -------------------------------------------------- */

/*
 * Fail the n-th allocation for n = 1, 2, ... until a load gets through.
 * Every failed load must return NULL with BOT_ENOMEM and leak nothing
 * (LeakSanitizer checks that at exit).
 */
static void alloc_fail_loop(const char *dir, const char *yaml)
{
	struct bot_err err;
	struct kb *kb = NULL;
	long n;

	for (n = 1; n < 100000; n++) {
		memset(&err, 0, sizeof(err));
		bot_alloc_fail_after(n);
		if (dir)
			kb = kb_load(dir, &err);
		else if (yaml)
			kb = kb_load_buffer("t.yaml", yaml, strlen(yaml), &err);
		bot_alloc_fail_after(0);
		if (kb)
			break;
		assert_int_equal(err.rc, BOT_ENOMEM);
	}
	assert_non_null(kb);
	assert_true(n > 10);
	kb_free(&kb);
}

static void test_alloc_failures_good(void **state)
{
	(void)state;
	alloc_fail_loop(FIX "good", NULL);
}

static void test_alloc_failures_errors(void **state)
{
	(void)state;
	alloc_fail_loop(FIX "many-errors", NULL);
	alloc_fail_loop(FIX "duplicate", NULL);
	alloc_fail_loop(NULL, "offices: [{id: a, name: A, hours: {mo: x, di: "
			"'08:00-09:00'}, closed: [1.1.]}]\n"
			"services: [{id: s, name: S, office: b, legal_basis: "
			"[{law: L, section: § 1}, T]}]\n"
			"intents: [{id: i, patterns: [a, b], examples: c}]\n"
			"tests: [{q: x, intent: j, contains: [a, b], handoff: "
			"case}, {name: n, dialogue: [{q: y, office: a}]}]\n"
			"bad: 1\n");
}

/* ---- netiquette, plain language, texts ---------------------------------- */

static void test_netiquette_section(void **state)
{
	static const char yaml[] =
		"netiquette:\n"					/* 1 */
		"  insults: ['*idiot', 'du (opfer|affe)']\n"	/* 2 */
		"  threats:\n"					/* 3 */
		"    - ich bring ... um $\n"			/* 4 */
		"    - '... um'\n"				/* 5 */
		"  spam: bitcoin\n"				/* 6 */
		"  allow: [Fucking]\n"				/* 7 */
		"  reminder: Bitte freundlich bleiben.\n"	/* 8 */
		"  strikes: 0\n"				/* 9 */
		"  mute_minutes: 15\n"				/* 10 */
		"  flood_seconds: viele\n"			/* 11 */
		"  colour: rot\n"				/* 12 */
		"  mute: [a, b]\n"				/* 13 */
		"settings:\n"					/* 14 */
		"  netiquette: Alter Text.\n";			/* 15 */
	struct bot_err err;
	struct kb *kb = load_str(yaml, &err);
	const struct kb_netiquette *ni = &kb->netiquette;

	(void)state;
	assert_int_equal(ni->insults.n, 2);
	assert_string_equal(ni->insults.v[1], "du (opfer|affe)");
	assert_int_equal(ni->threats.n, 2);
	assert_int_equal(ni->spam.n, 1);
	assert_int_equal(ni->allow.n, 1);
	assert_string_equal(ni->reminder, "Bitte freundlich bleiben.");
	assert_int_equal(ni->mute_minutes, 15);
	assert_int_equal(ni->strikes, 3);	/* default kept */
	assert_int_equal(ni->flood_messages, 8);
	assert_int_equal(ni->pos.line, 2);
	expect_diag(kb, 'e', "t.yaml", 5, 7, "netiquette: bad entry '... um' "
		    "in 'threats': an entry must start with a word");
	expect_diag(kb, 'e', "t.yaml", 9, 12, "netiquette: 'strikes' must be "
		    "a whole number from 1 to 100");
	expect_diag(kb, 'e', "t.yaml", 11, 18, "netiquette: 'flood_seconds' "
		    "must be a whole number from 1 to 3600");
	expect_diag(kb, 'e', "t.yaml", 12, 3, "unknown field 'colour' in "
		    "netiquette");
	expect_diag(kb, 'e', "t.yaml", 13, 9, "netiquette: expected a string "
		    "for 'mute'");
	expect_diag(kb, 'w', "t.yaml", 15, 3, "settings: 'netiquette' is "
		    "ignored because 'netiquette.reminder' is set");
	assert_int_equal(kb->n_errors, 5);
	kb_free(&kb);

	kb = load_str("netiquette: []\nnetiquette: {}\n", &err);
	expect_diag(kb, 'e', "t.yaml", 1, 13, "expected a mapping for "
		    "'netiquette'");
	expect_diag(kb, 'e', "t.yaml", 2, 1, "duplicate key 'netiquette'");
	kb_free(&kb);
}

static void test_plain_language_section(void **state)
{
	static const char yaml[] =
		"plain_language:\n"				/* 1 */
		"  max_words: 20\n"				/* 2 */
		"  words:\n"					/* 3 */
		"    Antragsteller: Sie\n"			/* 4 */
		"    gemäß: nach\n"				/* 5 */
		"    Bescheid erteilen: Bescheid schicken\n"	/* 6 */
		"    antragsteller: du\n"			/* 7 */
		"    Vordruck: [Formular]\n";			/* 8 */
	struct bot_err err;
	struct kb *kb = load_str(yaml, &err);

	(void)state;
	assert_int_equal(kb->plain.max_words, 20);
	assert_int_equal(kb->plain.n_words, 3);
	assert_string_equal(kb->plain.words[1].word, "gemäß");
	assert_string_equal(kb->plain.words[2].use, "Bescheid schicken");
	assert_int_equal(kb->plain.words[2].pos.line, 6);
	assert_int_equal(kb->plain.words[2].pos.col, 5);
	expect_diag(kb, 'e', "t.yaml", 7, 5, "plain_language: duplicate word "
		    "'antragsteller' (first at line 4)");
	expect_diag(kb, 'e', "t.yaml", 8, 15, "plain_language: expected "
		    "'word: plainer word' in 'words'");
	assert_int_equal(kb->n_errors, 2);
	kb_free(&kb);

	kb = load_str("plain_language:\n  max_words: 2\n  words: [a]\n", &err);
	expect_diag(kb, 'e', "t.yaml", 2, 14, "plain_language: 'max_words' "
		    "must be a whole number from 5 to 200");
	expect_diag(kb, 'e', "t.yaml", 3, 10, "plain_language: expected a "
		    "mapping 'word: plainer word' for 'words'");
	kb_free(&kb);
}

static void test_texts_and_leika(void **state)
{
	static const char yaml[] =
		"services:\n"					/* 1 */
		"  - id: pass\n"				/* 2 */
		"    name: Reisepass\n"				/* 3 */
		"    office: none\n"				/* 4 */
		"    summary: Kurz.\n"				/* 5 */
		"    documents: [Foto, Ausweis]\n"		/* 6 */
		"    leika: 99010003\n"				/* 7 */
		"intents:\n"					/* 8 */
		"  - id: kosten\n"				/* 9 */
		"    keywords: [kosten]\n"			/* 10 */
		"    answer: |\n"				/* 11 */
		"      Zeile eins.\n"				/* 12 */
		"      Zeile zwei.\n";				/* 13 */
	struct bot_err err;
	struct kb *kb = load_str(yaml, &err);

	(void)state;
	assert_int_equal(kb->n_texts, 4);
	assert_string_equal(kb->texts[0].field, "summary");
	assert_string_equal(kb->texts[0].label, "service 'pass'");
	assert_string_equal(kb->texts[0].text, "Kurz.");
	assert_int_equal(kb->texts[0].pos.line, 5);
	assert_int_equal(kb->texts[0].pos.col, 14);
	assert_int_equal(kb->texts[0].literal, 1);
	assert_string_equal(kb->texts[2].text, "Ausweis");
	assert_int_equal(kb->texts[2].pos.col, 23);
	assert_string_equal(kb->texts[3].field, "answer");
	assert_int_equal(kb->texts[3].literal, 1);
	assert_int_equal(kb->texts[3].pos.line, 12);
	assert_int_equal(kb->texts[3].pos.col, 7);
	expect_diag(kb, 'w', "t.yaml", 7, 12, "service 'pass': 'leika' should "
		    "be a LeiKa key of 14 digits (got '99010003')");
	kb_free(&kb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_files_and_settings),
		cmocka_unit_test(test_good_offices),
		cmocka_unit_test(test_good_services),
		cmocka_unit_test(test_good_intents),
		cmocka_unit_test(test_good_tests),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_tab_indentation),
		cmocka_unit_test(test_unknown_field),
		cmocka_unit_test(test_duplicate_across_files),
		cmocka_unit_test(test_unknown_office),
		cmocka_unit_test(test_bad_hours),
		cmocka_unit_test(test_bad_id),
		cmocka_unit_test(test_root_not_mapping),
		cmocka_unit_test(test_empty_file_ok),
		cmocka_unit_test(test_no_files_and_missing_dir),
		cmocka_unit_test(test_huge_file_rejected),
		cmocka_unit_test(test_many_errors_at_once),
		cmocka_unit_test(test_more_mistakes),
		cmocka_unit_test(test_review_months_setting),
		cmocka_unit_test(test_diag_format),
		cmocka_unit_test(test_diag_add_and_cap),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_speed_sample_size),
		cmocka_unit_test(test_lookup_10000_services),
		cmocka_unit_test(test_alloc_failures_good),
		cmocka_unit_test(test_alloc_failures_errors),
		cmocka_unit_test(test_netiquette_section),
		cmocka_unit_test(test_plain_language_section),
		cmocka_unit_test(test_texts_and_leika),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
