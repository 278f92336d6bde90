/*
 * test_hours.c - time zones, holidays, opening hours and the German
 * sentences of engine/hours.c.  Offices are built by hand so that the
 * test does not depend on the kb loader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/hours.h"
#include "engine/kb.h"
#include "engine/strbuf.h"

#define BERLIN_RULE "CET-1CEST,M3.5.0,M10.5.0/3"

/* ---- helpers -------------------------------------------------------- */

static struct hours_tz *berlin(void)
{
	struct bot_err err = { 0 };
	struct hours_tz *tz = hours_tz_new("Europe/Berlin", &err);

	assert_non_null(tz);
	return tz;
}

static time_t at(const struct hours_tz *tz, const char *s)
{
	struct bot_err err = { 0 };
	time_t t = 0;

	assert_int_equal(hours_parse_now(tz, s, &t, &err), BOT_OK);
	return t;
}

static void set_day(struct kb_office *o, int wday, int n, const int *r)
{
	int i;

	o->week[wday].n = n;
	for (i = 0; i < n; i++) {
		o->week[wday].r[i].open = r[2 * i];
		o->week[wday].r[i].close = r[2 * i + 1];
	}
}

static struct kb_date closures[] = {
	{ 0, 12, 24 },
	{ 0, 12, 31 },
	{ 2026, 11, 27 },
};

/*
 * Mo 08-12, Di 08-12 + 14-16, Mi closed, Do 08-12 + 14-18, Fr 08-12;
 * closed on holidays, on 24.12. and 31.12. every year and on 27.11.2026.
 */
static void office_init(struct kb_office *o)
{
	static const int morning[] = { 8 * 60, 12 * 60 };
	static const int tue[] = { 14 * 60, 16 * 60, 8 * 60, 12 * 60 };
	static const int thu[] = { 8 * 60, 12 * 60, 14 * 60, 18 * 60 };

	memset(o, 0, sizeof(*o));
	o->id = (char *)"buergeramt";
	o->has_hours = 1;
	o->closed_on_holidays = 1;
	set_day(o, 0, 1, morning);
	set_day(o, 1, 2, tue);	/* unsorted on purpose */
	set_day(o, 3, 2, thu);
	set_day(o, 4, 1, morning);
	o->closed = closures;
	o->n_closed = 2;
}

static void local(const struct hours_tz *tz, time_t t, int y, int mo, int d,
		  int h, int mi)
{
	struct hours_local lt;

	hours_to_local(tz, t, &lt);
	assert_int_equal(lt.year, y);
	assert_int_equal(lt.month, mo);
	assert_int_equal(lt.day, d);
	assert_int_equal(lt.minute, h * 60 + mi);
}

/* ---- time zones ----------------------------------------------------- */

static void check_berlin_dst(const struct hours_tz *tz)
{
	/* spring: 02:00 CET becomes 03:00 CEST at 01:00 UTC */
	local(tz, 1774745940, 2026, 3, 29, 1, 59);
	local(tz, 1774746000, 2026, 3, 29, 3, 0);
	/* autumn: 03:00 CEST becomes 02:00 CET at 01:00 UTC */
	local(tz, 1792889940, 2026, 10, 25, 2, 59);
	local(tz, 1792890000, 2026, 10, 25, 2, 0);
	local(tz, 1782900000, 2026, 7, 1, 12, 0);
	local(tz, 1768474800, 2026, 1, 15, 12, 0);

	assert_int_equal(hours_from_local(tz, 2026, 7, 1, 12 * 60), 1782900000);
	assert_int_equal(hours_from_local(tz, 2026, 1, 15, 12 * 60), 1768474800);
	assert_int_equal(hours_from_local(tz, 2026, 3, 29, 3 * 60), 1774746000);
	assert_int_equal(hours_from_local(tz, 2026, 3, 29, 60 + 59),
			 1774745940);
	/* 02:30 does not exist on 29.3.: read with CET, i.e. 03:30 CEST */
	assert_int_equal(hours_from_local(tz, 2026, 3, 29, 150), 1774747800);
	/* 02:30 happens twice on 25.10.: the first one, in CEST */
	assert_int_equal(hours_from_local(tz, 2026, 10, 25, 150), 1792888200);
	assert_int_equal(hours_from_local(tz, 2026, 10, 25, 3 * 60),
			 1792890000 + 3600);
	/* day and minute carry over */
	assert_int_equal(hours_from_local(tz, 2026, 6, 31, 24 * 60 + 12 * 60),
			 1782900000 + 86400);
}

static void test_tz_file(void **state)
{
	struct hours_tz *tz = berlin();

	(void)state;
	check_berlin_dst(tz);
	hours_tz_free(&tz);
	assert_null(tz);
	hours_tz_free(&tz);
	hours_tz_free(NULL);
}

static void test_tz_builtin_and_rule(void **state)
{
	struct bot_err err = { 0 };
	struct hours_tz *tz;

	(void)state;
	tz = hours_tz_load("Europe/Berlin", "/nonexistent-zoneinfo", &err);
	assert_non_null(tz);
	check_berlin_dst(tz);
	hours_tz_free(&tz);

	tz = hours_tz_load("Europe/Zurich", "/nonexistent-zoneinfo", &err);
	assert_non_null(tz);
	check_berlin_dst(tz);
	hours_tz_free(&tz);

	tz = hours_tz_new(BERLIN_RULE, &err);
	assert_non_null(tz);
	check_berlin_dst(tz);
	hours_tz_free(&tz);
}

static void test_tz_other_rules(void **state)
{
	struct bot_err err = { 0 };
	struct hours_tz *tz;

	(void)state;
	/* southern hemisphere: summer time across the new year */
	tz = hours_tz_new("AEST-10AEDT,M10.1.0,M4.1.0/3", &err);
	assert_non_null(tz);
	local(tz, 1768474800, 2026, 1, 15, 22, 0);
	local(tz, 1782900000, 2026, 7, 1, 20, 0);
	hours_tz_free(&tz);

	/* no rule after the DST name: the US default */
	tz = hours_tz_new("EST5EDT", &err);
	assert_non_null(tz);
	local(tz, 1782900000, 2026, 7, 1, 6, 0);
	local(tz, 1768474800, 2026, 1, 15, 6, 0);
	hours_tz_free(&tz);

	tz = hours_tz_new("<+03>-3", &err);
	assert_non_null(tz);
	local(tz, 1768474800, 2026, 1, 15, 14, 0);
	hours_tz_free(&tz);

	tz = hours_tz_new("UTC", &err);
	assert_non_null(tz);
	local(tz, 1768474800, 2026, 1, 15, 11, 0);
	hours_tz_free(&tz);

	/* Jn and n forms: J60 is always 1 March, 59 is 29 Feb in leap years */
	tz = hours_tz_new("XST-1XDT,J60/0,300", &err);
	assert_non_null(tz);
	local(tz, 1782900000, 2026, 7, 1, 12, 0);
	hours_tz_free(&tz);
}

static void test_tz_errors(void **state)
{
	struct bot_err err = { 0 };
	struct hours_tz *tz;

	(void)state;
	tz = hours_tz_new("Mars/Olympus", &err);
	assert_null(tz);
	assert_int_equal(err.rc, BOT_ENOTFOUND);
	assert_string_equal(err.msg, "unknown time zone 'Mars/Olympus'");

	tz = hours_tz_new("../../etc/passwd", &err);
	assert_null(tz);
	assert_int_equal(err.rc, BOT_EINVAL);
	assert_non_null(strstr(err.msg, "'../../etc/passwd'"));

	tz = hours_tz_new("CET-1CEST,M13.5.0,M10.5.0/3", &err);
	assert_null(tz);
	assert_int_equal(err.rc, BOT_EINVAL);
	assert_non_null(strstr(err.msg, "bad time zone rule"));

	tz = hours_tz_new("CET-1CEST,M3.5.0", &err);
	assert_null(tz);
	tz = hours_tz_new("", &err);
	assert_null(tz);
	tz = hours_tz_new(NULL, &err);
	assert_null(tz);

	bot_alloc_fail_after(1);
	tz = hours_tz_new(BERLIN_RULE, &err);
	bot_alloc_fail_after(0);
	assert_null(tz);
	assert_int_equal(err.rc, BOT_ENOMEM);
}

/* ---- parsing "now" -------------------------------------------------- */

static void test_parse_now(void **state)
{
	struct hours_tz *tz = berlin();
	struct bot_err err = { 0 };
	static const char *const bad[] = {
		"2026-12-24", "2026-13-01T10:00", "2026-02-29T10:00",
		"24.12.2026 10:00", "2026-12-24T10:00x", "2026-12-24T24:00",
		"2026-12-24T10:60", "2026-12-24T10:00:", "2026-12-24X10:00",
		"", "2026-1-24T10:00",
	};
	time_t t;
	size_t i;

	(void)state;
	assert_int_equal(at(tz, "2026-12-24T10:00"), 1798102800);
	assert_int_equal(at(tz, "2026-12-24 10:00"), 1798102800);
	assert_int_equal(at(tz, "2026-12-24T10:00:30"), 1798102830);
	assert_int_equal(at(tz, "2026-07-01T12:00"), 1782900000);
	assert_int_equal(at(NULL, "2026-07-01T10:00"), 1782900000);
	assert_int_equal(at(tz, "2024-02-29T00:00"), 1709161200);

	for (i = 0; i < BOT_ARRAY_SIZE(bad); i++) {
		t = 42;
		assert_int_equal(hours_parse_now(tz, bad[i], &t, &err),
				 BOT_EINVAL);
		assert_int_equal(t, 42);
		assert_non_null(strstr(err.msg, bad[i]));
	}
	assert_string_equal(err.msg, "bad time '2026-1-24T10:00': "
			    "expected YYYY-MM-DDTHH:MM[:SS]");
	hours_tz_free(&tz);
}

/* ---- holidays ------------------------------------------------------- */

static void test_easter(void **state)
{
	static const int want[][3] = {
		{ 2024, 3, 31 }, { 2025, 4, 20 }, { 2026, 4, 5 },
		{ 2027, 3, 28 }, { 2019, 4, 21 }, { 2038, 4, 25 },
		{ 2285, 3, 22 },
	};
	size_t i;
	int m, d;

	(void)state;
	for (i = 0; i < BOT_ARRAY_SIZE(want); i++) {
		hours_easter(want[i][0], &m, &d);
		assert_int_equal(m, want[i][1]);
		assert_int_equal(d, want[i][2]);
	}
}

static void test_holidays_nw_2026(void **state)
{
	static const struct {
		int month, day;
		const char *name;
	} want[] = {
		{ 1, 1, "Neujahr" },
		{ 4, 3, "Karfreitag" },
		{ 4, 6, "Ostermontag" },
		{ 5, 1, "Tag der Arbeit" },
		{ 5, 14, "Christi Himmelfahrt" },
		{ 5, 25, "Pfingstmontag" },
		{ 6, 4, "Fronleichnam" },
		{ 10, 3, "Tag der Deutschen Einheit" },
		{ 11, 1, "Allerheiligen" },
		{ 12, 25, "1. Weihnachtstag" },
		{ 12, 26, "2. Weihnachtstag" },
	};
	size_t found = 0;
	const char *name;
	int m, d;

	(void)state;
	for (m = 1; m <= 12; m++) {
		for (d = 1; d <= 31; d++) {
			if (!hours_holiday("NW", 2026, m, d, &name)) {
				assert_null(name);
				continue;
			}
			assert_true(found < BOT_ARRAY_SIZE(want));
			assert_int_equal(m, want[found].month);
			assert_int_equal(d, want[found].day);
			assert_string_equal(name, want[found].name);
			found++;
		}
	}
	assert_int_equal(found, BOT_ARRAY_SIZE(want));
}

static void holiday(const char *state, int y, int m, int d, const char *want)
{
	const char *name = "unset";
	int rc = hours_holiday(state, y, m, d, &name);

	if (!want) {
		assert_int_equal(rc, 0);
		assert_null(name);
		return;
	}
	assert_int_equal(rc, 1);
	assert_string_equal(name, want);
}

static void test_holidays_states(void **state)
{
	(void)state;
	holiday("NI", 2026, 10, 31, "Reformationstag");
	holiday("NI", 2016, 10, 31, NULL);
	holiday("NW", 2017, 10, 31, "Reformationstag");
	holiday("NW", 2026, 10, 31, NULL);
	holiday("SN", 2026, 11, 18, "Buß- und Bettag");
	holiday("SN", 2025, 11, 19, "Buß- und Bettag");
	holiday("SN", 2026, 11, 17, NULL);
	holiday("NW", 2026, 11, 18, NULL);
	holiday("SN", 2026, 6, 4, NULL);	/* Fronleichnam only in parts */
	holiday("BY", 2026, 1, 6, "Heilige Drei Könige");
	holiday("BY", 2026, 8, 15, NULL);
	holiday("SL", 2026, 8, 15, "Mariä Himmelfahrt");
	holiday("BE", 2026, 3, 8, "Internationaler Frauentag");
	holiday("MV", 2022, 3, 8, NULL);
	holiday("MV", 2023, 3, 8, "Internationaler Frauentag");
	holiday("TH", 2026, 9, 20, "Weltkindertag");
	holiday("TH", 2018, 9, 20, NULL);
	holiday("BB", 2026, 4, 5, "Ostersonntag");
	holiday("BB", 2026, 5, 24, "Pfingstsonntag");
	holiday("NW", 2026, 4, 5, NULL);
	holiday("BW", 2026, 11, 1, "Allerheiligen");
	holiday("HE", 2026, 6, 4, "Fronleichnam");
	holiday("HE", 2026, 11, 1, NULL);
	holiday("de-nw", 2026, 6, 4, "Fronleichnam");
	holiday("XX", 2026, 1, 1, "Neujahr");
	holiday("XX", 2026, 6, 4, NULL);
	holiday(NULL, 2026, 12, 26, "2. Weihnachtstag");
	holiday("HH", 2026, 12, 24, NULL);
	assert_int_equal(hours_holiday("NW", 2026, 12, 25, NULL), 1);
}

static void test_weekday(void **state)
{
	(void)state;
	assert_int_equal(hours_weekday(2026, 11, 24), 1);
	assert_int_equal(hours_weekday(2026, 11, 1), 6);
	assert_int_equal(hours_weekday(1970, 1, 1), 3);
	assert_int_equal(hours_weekday(1969, 12, 29), 0);
	assert_int_equal(hours_weekday(2000, 2, 29), 1);
}

/* ---- open or closed ------------------------------------------------- */

static int open_at(const struct kb_office *o, const char *state, int y,
		   int m, int d, int h, int mi)
{
	struct hours_local lt = { y, m, d, hours_weekday(y, m, d), h * 60 + mi };

	return hours_is_open(o, state, &lt);
}

static void test_is_open(void **state)
{
	struct kb_office o;
	const char *why = "unset";

	(void)state;
	office_init(&o);
	/* Tuesday 24.11.2026 with two ranges */
	assert_false(open_at(&o, "NW", 2026, 11, 24, 7, 59));
	assert_true(open_at(&o, "NW", 2026, 11, 24, 8, 0));
	assert_true(open_at(&o, "NW", 2026, 11, 24, 11, 59));
	assert_false(open_at(&o, "NW", 2026, 11, 24, 12, 0));
	assert_true(open_at(&o, "NW", 2026, 11, 24, 14, 30));
	assert_false(open_at(&o, "NW", 2026, 11, 24, 16, 0));
	assert_false(open_at(&o, "NW", 2026, 11, 25, 10, 0));	/* Wed */
	assert_false(open_at(&o, "NW", 2026, 11, 28, 10, 0));	/* Sat */

	/* holidays: 1.1.2026 is a Thursday */
	assert_false(open_at(&o, "NW", 2026, 1, 1, 10, 0));
	assert_int_equal(hours_closed_day(&o, "NW", 2026, 1, 1, &why), 1);
	assert_string_equal(why, "Neujahr");
	/* Allerheiligen 2027 is a Monday: closed in NW, open in NI */
	assert_false(open_at(&o, "NW", 2027, 11, 1, 10, 0));
	assert_true(open_at(&o, "NI", 2027, 11, 1, 10, 0));
	o.closed_on_holidays = 0;
	assert_true(open_at(&o, "NW", 2026, 1, 1, 10, 0));
	assert_int_equal(hours_closed_day(&o, "NW", 2026, 1, 1, &why), 0);
	assert_null(why);
	o.closed_on_holidays = 1;

	/* closure dates: yearly 24.12. (Thursday in 2026), one-off 27.11. */
	assert_false(open_at(&o, "NW", 2026, 12, 24, 10, 0));
	assert_int_equal(hours_closed_day(&o, "NW", 2026, 12, 24, &why), 1);
	assert_string_equal(why, "Schließtag");
	assert_false(open_at(&o, "NW", 2026, 12, 31, 10, 0));
	assert_true(open_at(&o, "NW", 2026, 11, 27, 10, 0));
	o.n_closed = 3;
	assert_false(open_at(&o, "NW", 2026, 11, 27, 10, 0));
	assert_true(open_at(&o, "NW", 2027, 11, 26, 10, 0));
	assert_int_equal(hours_closed_day(&o, "NW", 2026, 11, 28, NULL), 0);

	o.has_hours = 0;
	assert_false(open_at(&o, "NW", 2026, 11, 24, 10, 0));
}

/* ---- day references ------------------------------------------------- */

static void day_ref(const char *text, int today, int want, int want_now)
{
	int now = 7;

	assert_int_equal(hours_day_ref(text, today, &now), want);
	assert_int_equal(now, want_now);
}

static void test_day_ref(void **state)
{
	(void)state;
	day_ref("hat das buergeramt heute offen", 1, 0, 0);
	day_ref("hat das buergeramt morgen offen", 1, 1, 0);
	day_ref("morgen frueh", 1, 1, 0);
	day_ref("wann habt ihr morgens offen", 1, -1, 0);
	day_ref("habt ihr vormittag offen", 1, -1, 0);
	day_ref("guten morgen wann habt ihr offen", 1, -1, 0);
	day_ref("ist heute morgen offen", 1, 0, 0);
	day_ref("uebermorgen", 1, 2, 0);
	day_ref("am montag", 0, 0, 0);
	day_ref("am montag", 1, 6, 0);
	day_ref("offen am dienstag", 0, 1, 0);
	day_ref("mittwoch", 0, 2, 0);
	day_ref("donnerstags", 0, 3, 0);
	day_ref("freitag nachmittag", 0, 4, 0);
	day_ref("samstags", 0, 5, 0);
	day_ref("sonnabend", 0, 5, 0);
	day_ref("am sonntag", 0, 6, 0);
	day_ref("am samstagvormittag", 4, 1, 0);
	day_ref("am wochenende", 2, 3, 0);
	day_ref("ist jetzt offen", 3, 0, 1);
	day_ref("hat das amt gerade auf", 3, 0, 1);
	day_ref("aktuell geoeffnet", 3, 0, 1);
	day_ref("momentan", 3, 0, 1);
	day_ref("haben sie im moment offen", 3, 0, 1);
	day_ref("einen moment bitte", 3, -1, 0);
	day_ref("hat morgen noch jemand offen", 3, 1, 1);
	day_ref("wann habt ihr offen", 3, -1, 0);
	day_ref("montagsmaler sonntagskind heutige", 3, -1, 0);
	day_ref("", 3, -1, 0);
	day_ref("heute oder morgen", 3, 0, 0);
	assert_int_equal(hours_day_ref("morgen", 0, NULL), 1);
	assert_int_equal(hours_day_ref(NULL, 0, NULL), -1);
}

/* ---- sentences ------------------------------------------------------ */

static void say_day(const struct kb_office *o, const struct hours_tz *tz,
		    const char *now, int offset, const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_init(&sb, 0);
	assert_int_equal(hours_say_day(o, "NW", tz, at(tz, now), offset, &sb),
			 BOT_OK);
	assert_string_equal(strbuf_str(&sb), want);
	strbuf_release(&sb);
}

static void say_now(const struct kb_office *o, const struct hours_tz *tz,
		    const char *now, const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_init(&sb, 0);
	assert_int_equal(hours_say_now(o, "NW", tz, at(tz, now), &sb), BOT_OK);
	assert_string_equal(strbuf_str(&sb), want);
	strbuf_release(&sb);
}

static void test_say_day(void **state)
{
	struct hours_tz *tz = berlin();
	struct kb_office o;

	(void)state;
	office_init(&o);
	say_day(&o, tz, "2026-11-24T10:00", 0,
		"Heute (Dienstag, 24.11.): 08:00–12:00 und 14:00–16:00 Uhr");
	say_day(&o, tz, "2026-11-24T10:00", 1,
		"Morgen (Mittwoch, 25.11.): geschlossen");
	say_day(&o, tz, "2026-11-24T23:30", 2,
		"Übermorgen (Donnerstag, 26.11.): 08:00–12:00 und "
		"14:00–18:00 Uhr");
	say_day(&o, tz, "2026-11-24T10:00", 6,
		"Am Montag (30.11.): 08:00–12:00 Uhr");
	say_day(&o, tz, "2026-10-29T10:00", 3,
		"Am Sonntag (01.11.): geschlossen (Feiertag: Allerheiligen)");
	say_day(&o, tz, "2026-12-24T10:00", 0,
		"Heute (Donnerstag, 24.12.): geschlossen (Schließtag)");
	say_day(&o, tz, "2026-12-24T10:00", 1,
		"Morgen (Freitag, 25.12.): geschlossen "
		"(Feiertag: 1. Weihnachtstag)");
	o.has_hours = 0;
	say_day(&o, tz, "2026-11-24T10:00", 0,
		"Heute (Dienstag, 24.11.): keine Öffnungszeiten hinterlegt");
	hours_tz_free(&tz);
}

static void test_say_now(void **state)
{
	static const int early[] = { 8 * 60, 12 * 60, 12 * 60, 15 * 60 };
	struct hours_tz *tz = berlin();
	struct kb_office o;

	(void)state;
	office_init(&o);
	say_now(&o, tz, "2026-11-24T10:00", "Gerade geöffnet, bis 12:00 Uhr.");
	say_now(&o, tz, "2026-11-24T12:30", "Gerade geschlossen. "
		"Wieder geöffnet: heute ab 14:00 Uhr.");
	say_now(&o, tz, "2026-11-24T07:00", "Gerade geschlossen. "
		"Wieder geöffnet: heute ab 08:00 Uhr.");
	say_now(&o, tz, "2026-11-23T17:00", "Gerade geschlossen. "
		"Wieder geöffnet: morgen (Dienstag) ab 08:00 Uhr.");
	/* Wednesday is closed */
	say_now(&o, tz, "2026-11-24T17:00", "Gerade geschlossen. "
		"Wieder geöffnet: am Donnerstag, 26.11., ab 08:00 Uhr.");
	/* over the weekend */
	say_now(&o, tz, "2026-11-20T13:00", "Gerade geschlossen. "
		"Wieder geöffnet: am Montag, 23.11., ab 08:00 Uhr.");
	/* over Christmas: 24.12. closure, 25./26. holidays, weekend */
	say_now(&o, tz, "2026-12-24T10:00", "Gerade geschlossen. "
		"Wieder geöffnet: am Montag, 28.12., ab 08:00 Uhr.");
	/* and over New Year: 31.12. closure, 1.1. holiday */
	say_now(&o, tz, "2026-12-30T13:00", "Gerade geschlossen. "
		"Wieder geöffnet: am Montag, 04.01., ab 08:00 Uhr.");
	/* adjacent ranges read as one */
	set_day(&o, 0, 2, early);
	say_now(&o, tz, "2026-11-23T11:00", "Gerade geöffnet, bis 15:00 Uhr.");

	memset(o.week, 0, sizeof(o.week));
	say_now(&o, tz, "2026-11-24T10:00", "Gerade geschlossen. "
		"Feste Öffnungszeiten gibt es nicht.");
	o.has_hours = 0;
	say_now(&o, tz, "2026-11-24T10:00",
		"Für dieses Amt sind keine Öffnungszeiten hinterlegt.");
	hours_tz_free(&tz);
}

static void test_say_week(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	struct kb_office o;

	(void)state;
	office_init(&o);
	strbuf_init(&sb, 0);
	assert_int_equal(hours_say_week(&o, &sb), BOT_OK);
	assert_string_equal(strbuf_str(&sb),
			    "Mo: 08:00–12:00\n"
			    "Di: 08:00–12:00, 14:00–16:00\n"
			    "Mi: geschlossen\n"
			    "Do: 08:00–12:00, 14:00–18:00\n"
			    "Fr: 08:00–12:00\n"
			    "Sa: geschlossen\n"
			    "So: geschlossen\n"
			    "An Feiertagen geschlossen.\n"
			    "Außerdem geschlossen: 24.12., 31.12.");
	strbuf_reset(&sb);

	o.closed_on_holidays = 0;
	o.n_closed = 3;
	assert_int_equal(hours_say_week(&o, &sb), BOT_OK);
	assert_non_null(strstr(strbuf_str(&sb), "So: geschlossen\n"
			       "Außerdem geschlossen: 24.12., 31.12., "
			       "27.11.2026"));
	assert_null(strstr(strbuf_str(&sb), "Feiertagen"));
	strbuf_release(&sb);
}

/* A failed append leaves the buffer as it was. */
static void test_out_of_memory(void **state)
{
	struct hours_tz *tz = berlin();
	struct strbuf sb;
	struct kb_office o;
	time_t now = at(tz, "2026-11-24T10:00");

	(void)state;
	office_init(&o);
	strbuf_init(&sb, 16);
	assert_int_equal(strbuf_adds(&sb, "x"), BOT_OK);
	assert_int_equal(hours_say_week(&o, &sb), BOT_ENOMEM);
	assert_int_equal(hours_say_day(&o, "NW", tz, now, 0, &sb), BOT_ENOMEM);
	assert_int_equal(hours_say_now(&o, "NW", tz, now, &sb), BOT_ENOMEM);
	assert_string_equal(strbuf_str(&sb), "x");
	strbuf_release(&sb);

	strbuf_init(&sb, 0);
	bot_alloc_fail_after(1);
	assert_int_equal(hours_say_now(&o, "NW", tz, now, &sb), BOT_ENOMEM);
	bot_alloc_fail_after(0);
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_release(&sb);
	hours_tz_free(&tz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tz_file),
		cmocka_unit_test(test_tz_builtin_and_rule),
		cmocka_unit_test(test_tz_other_rules),
		cmocka_unit_test(test_tz_errors),
		cmocka_unit_test(test_parse_now),
		cmocka_unit_test(test_easter),
		cmocka_unit_test(test_holidays_nw_2026),
		cmocka_unit_test(test_holidays_states),
		cmocka_unit_test(test_weekday),
		cmocka_unit_test(test_is_open),
		cmocka_unit_test(test_day_ref),
		cmocka_unit_test(test_say_day),
		cmocka_unit_test(test_say_now),
		cmocka_unit_test(test_say_week),
		cmocka_unit_test(test_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
