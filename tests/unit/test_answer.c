/*
 * test_answer.c - answer templates: fields, lists, legal basis, sections
 * and inverted sections, nesting, tidy-up of empty lines, syntax checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/answer.h"
#include "engine/hours.h"
#include "engine/kb.h"
#include "engine/strbuf.h"

/* the kb structs hold mutable strings; the tests only read them */
#define S(x) ((char *)(x))

static char *docs[] = { S("Personalausweis"), S("Foto") };

struct fx {
	struct kb kb;
	struct kb_office office;
	struct kb_service service;
	struct kb_source legal[2];
	struct hours_tz *tz;
	struct answer_ctx ctx;
	struct strbuf out;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->kb.settings.city = S("Musterstadt");
	f->kb.settings.state = S("NW");
	f->kb.settings.privacy_url = S("https://x.example/datenschutz");
	f->office.id = S("buergeramt");
	f->office.name = S("Bürgeramt");
	f->office.phone = S("0123 456-100");
	f->office.appointment_url = S("https://termine.example");
	f->office.has_hours = 1;
	f->office.closed_on_holidays = 1;
	f->office.week[1].n = 1;	/* Tuesday */
	f->office.week[1].r[0].open = 8 * 60;
	f->office.week[1].r[0].close = 12 * 60;
	f->service.id = S("reisepass");
	f->service.name = S("Reisepass");
	f->service.fees = S("70 Euro");
	f->service.documents.v = docs;
	f->service.documents.n = 2;
	f->service.appointment = 1;
	f->service.office = &f->office;
	f->legal[0].title = S("§ 17 BMG");
	f->legal[0].url = S("https://www.gesetze-im-internet.de/bmg/__17.html");
	f->legal[1].title = S("PassG");
	f->legal[1].url = S("https://www.gesetze-im-internet.de/pa_g_1986/");
	f->service.legal = f->legal;
	f->service.n_legal = 2;
	f->tz = hours_tz_new("Europe/Berlin", NULL);
	if (!f->tz)
		return -1;
	f->ctx.kb = &f->kb;
	f->ctx.service = &f->service;
	f->ctx.office = &f->office;
	f->ctx.tz = f->tz;
	f->ctx.day_offset = -1;
	if (hours_parse_now(f->tz, "2026-11-24T10:00", &f->ctx.now, NULL))
		return -1;
	strbuf_init(&f->out, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	strbuf_release(&f->out);
	hours_tz_free(&f->tz);
	free(f);
	return 0;
}

static const char *render(struct fx *f, const char *tmpl)
{
	strbuf_reset(&f->out);
	assert_int_equal(answer_render(tmpl, &f->ctx, &f->out), BOT_OK);
	return strbuf_str(&f->out);
}

static void test_fields(void **state)
{
	struct fx *f = *state;

	assert_string_equal(render(f, "{{service.name}} kostet {{service.fees}}."),
			    "Reisepass kostet 70 Euro.");
	assert_string_equal(render(f, "{{ office.name }} in {{city}}"),
			    "Bürgeramt in Musterstadt");
	assert_string_equal(render(f, "{{service.documents}}"),
			    "- Personalausweis\n- Foto");
	assert_string_equal(render(f, "{{service.legal_basis}}"),
			    "§ 17 BMG (https://www.gesetze-im-internet.de/bmg/__17.html); "
			    "PassG (https://www.gesetze-im-internet.de/pa_g_1986/)");
	assert_string_equal(render(f, "{{service.appointment}}"),
			    "Dafür brauchen Sie einen Termin. Termine buchen Sie "
			    "hier: https://termine.example");
}

static void test_hours_fields(void **state)
{
	struct fx *f = *state;
	const char *s = render(f, "{{office.hours.today}}|{{office.open_now}}");

	assert_non_null(strstr(s, "08:00"));
	assert_non_null(strstr(s, "Gerade geöffnet"));
	f->ctx.day_offset = 1;	/* Wednesday: closed */
	s = render(f, "{{office.hours.day}}");
	assert_non_null(strstr(s, "geschlossen"));
}

static void test_sections(void **state)
{
	struct fx *f = *state;

	assert_string_equal(render(f, "{{#service.fees}}Kosten: {{service.fees}}{{/service.fees}}"),
			    "Kosten: 70 Euro");
	assert_string_equal(render(f, "A{{#service.duration}}Dauer{{/service.duration}}B"),
			    "AB");
	assert_string_equal(render(f, "{{^service.duration}}keine Angabe{{/service.duration}}"),
			    "keine Angabe");
	assert_string_equal(render(f, "{{#service}}S{{#office}}O{{/office}}{{/service}}"),
			    "SO");
	f->ctx.service = NULL;
	assert_string_equal(render(f, "{{#service}}S{{/service}}{{^service}}kein Dienst{{/service}}"),
			    "kein Dienst");
}

static void test_blank_lines_dropped(void **state)
{
	struct fx *f = *state;

	assert_string_equal(render(f, "Zeile 1\n{{#service.duration}}Dauer: x{{/service.duration}}\n\nZeile 2  \n"),
			    "Zeile 1\nZeile 2");
}

static void test_unknown_field_renders_nothing(void **state)
{
	struct fx *f = *state;

	assert_string_equal(render(f, "a{{nope}}b"), "ab");
}

static void test_check(void **state)
{
	char msg[128];

	(void)state;
	assert_int_equal(answer_check("{{service.name}} {{#office}}x{{/office}}", msg, sizeof(msg)), 0);
	assert_int_equal(answer_check("{{service.nam}}", msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "unknown placeholder"));
	assert_int_equal(answer_check("{{#service}}x", msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "not closed"));
	assert_int_equal(answer_check("x{{/service}}", msg, sizeof(msg)), 1);
	assert_int_equal(answer_check("x {{service.name", msg, sizeof(msg)), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hours_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blank_lines_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_field_renders_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
