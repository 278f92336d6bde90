/*
 * hours.h - opening hours, public holidays and "open now", computed in
 * the knowledge base's time zone.
 *
 * Time zones are read as POSIX TZ rules (the footer of the TZif file in
 * /usr/share/zoneinfo, or a built-in rule for Europe/Berlin), so nothing
 * here touches the process-wide TZ variable.  Apart from hours_tz_new()
 * nothing in this module allocates, except through the caller's strbuf.
 */
#ifndef HOURS_H
#define HOURS_H

#include <time.h>
#include "bot.h"

struct strbuf;
struct kb_office;
struct hours_tz;

/* A local calendar date and time. */
struct hours_local {
	int year, month, day;	/* 2026, 1..12, 1..31 */
	int wday;		/* 0 = Monday ... 6 = Sunday */
	int minute;		/* minutes after midnight */
};

/*
 * Load zone 'name':
 * - a zone name ("Europe/Berlin"): the POSIX rule in the footer of the
 *   TZif (version 2 or later) file /usr/share/zoneinfo/<name>; when that
 *   file is missing or has no footer, a built-in rule (Europe/Berlin,
 *   Europe/Vienna, Europe/Zurich and a few neighbours, UTC);
 * - a POSIX rule ("CET-1CEST,M3.5.0,M10.5.0/3", "UTC0", "<+03>-3"):
 *   anything containing ',' or starting like "ABC-1" or "<".
 * Rules support std offset [dst [offset] [,start[/time],end[/time]]] with
 * Mm.w.d, Jn and n dates and times from -167 to 167 hours (RFC 8536).
 *
 * Returns a new object owned by the caller (free with hours_tz_free()),
 * or NULL and 'err': BOT_ENOTFOUND "unknown time zone 'Mars/Base'",
 * BOT_EINVAL for a bad rule or name, BOT_ENOMEM.
 */
struct hours_tz *hours_tz_new(const char *name, struct bot_err *err) BOT_WUR;

/* Like hours_tz_new(), but look for zone files in 'zoneinfo_dir' (NULL:
 * /usr/share/zoneinfo).  Tests use it to exercise the built-in table. */
struct hours_tz *hours_tz_load(const char *name, const char *zoneinfo_dir,
			       struct bot_err *err) BOT_WUR;

/* Free the zone and clear the pointer.  NULL-safe. */
void hours_tz_free(struct hours_tz **tzp);

/* UTC 't' to local time in 'tz' (NULL: UTC). */
void hours_to_local(const struct hours_tz *tz, time_t t, struct hours_local *out);

/*
 * Local date and minute in 'tz' (NULL: UTC) to UTC.  'month' must be
 * 1..12; 'day' and 'minute' may run over (day 32, minute 1500) and are
 * carried into the following days.  Around DST changes:
 * - a time that occurs twice (autumn, 02:30 on 25.10.2026) gives the first
 *   occurrence, still in summer time (00:30 UTC);
 * - a time that does not exist (spring, 02:30 on 29.3.2026) is read with
 *   the offset in force before the change, so it lands one hour later on
 *   the clock (01:30 UTC = 03:30 CEST), as mktime() does with tm_isdst 0.
 */
time_t hours_from_local(const struct hours_tz *tz, int year, int month,
			int day, int minute);

/*
 * Parse "2026-12-24T10:00", "2026-12-24T10:00:30" or "2026-12-24 10:00"
 * (local time in 'tz', NULL: UTC) into 't'.  Returns BOT_OK, or
 * BOT_EINVAL with "bad time '<s>': expected YYYY-MM-DDTHH:MM[:SS]".
 */
int hours_parse_now(const struct hours_tz *tz, const char *s, time_t *t,
		    struct bot_err *err) BOT_WUR;

/* Easter Sunday of 'year' (Gregorian computus). */
void hours_easter(int year, int *month, int *day);

/* Day of the week of a date, 0 = Monday ... 6 = Sunday. */
int hours_weekday(int year, int month, int day);

/*
 * 1 and the holiday's German name in '*name' (static string, e.g.
 * "Allerheiligen", "1. Weihnachtstag") when the date is a public holiday
 * in Bundesland 'state' ("NW", "BY", ... the 16 ISO 3166-2:DE codes, with
 * or without "DE-", any case); 0 otherwise.  Unknown or NULL state: only
 * the nationwide holidays.  Holidays that only hold in parts of a state
 * (Fronleichnam in SN/TH, Mariä Himmelfahrt in BY) are not counted.
 * An invalid date (31.4.) is no holiday.  'name' may be NULL.
 */
int hours_holiday(const char *state, int year, int month, int day,
		  const char **name);

/*
 * 1 when 'o' is closed all day on that date for an exceptional reason:
 * a public holiday (only if o->closed_on_holidays) or one of o->closed
 * (year 0 = every year).  '*why' (may be NULL) is then the holiday's
 * name or "Schließtag"; it is set to NULL when returning 0.  Weekdays
 * without opening ranges are not reported here.
 */
int hours_closed_day(const struct kb_office *o, const char *state, int year,
		     int month, int day, const char **why);

/* 1 when 'o' is open at local time 'lt': it has hours, the day is not a
 * closed day, and some range has open <= minute < close. */
int hours_is_open(const struct kb_office *o, const char *state,
		  const struct hours_local *lt);

/*
 * Which day a question is about: returns 0 for "heute", 1 for "morgen"
 * (also "morgen frueh", but not "morgens", "guten morgen", "am morgen" or
 * "heute morgen", which is today), 2 for "uebermorgen", 0..6 days ahead
 * for a weekday name ("am samstag", "samstags", "sonnabend"; the same
 * weekday as 'today_wday' is 0), Saturday for "wochenende", or -1 when
 * the text names no day.  The first day named wins.
 *
 * '*now_asked' (may be NULL) is set to 1 for "jetzt", "gerade", "aktuell",
 * "noch", "momentan", "im moment" (is it open right now?), else 0; when
 * no day is named but now was asked, the result is 0.
 * 'folded' is the folded message (see text_fold: lowercase ASCII, umlauts
 * as ae/oe/ue, words separated by single spaces).  Whole words only.
 */
int hours_day_ref(const char *folded, int today_wday, int *now_asked);

/*
 * German sentences for citizens, appended to 'out' (nothing appended on
 * failure).  Times look like "08:00" with an en dash between them.
 * - hours_say_day: 'offset' days after the local date of 'now':
 *   "Heute (Dienstag, 24.11.): 08:00–12:00 und 14:00–16:00 Uhr",
 *   "Morgen (Mittwoch, 25.11.): geschlossen",
 *   "Am Sonntag (01.11.): geschlossen (Feiertag: Allerheiligen)",
 *   "... geschlossen (Schließtag)" for a closure date.
 * - hours_say_now: "Gerade geöffnet, bis 12:00 Uhr." or "Gerade
 *   geschlossen. Wieder geöffnet: heute ab 14:00 Uhr." / "... morgen
 *   (Mittwoch) ab 08:00 Uhr." / "... am Montag, 28.12., ab 08:00 Uhr."
 *   (looks 21 days ahead); "Für dieses Amt sind keine Öffnungszeiten
 *   hinterlegt." when the office has no hours.
 * - hours_say_week: one line per weekday, "Mo: 08:00–12:00, 14:00–16:00"
 *   ... "So: geschlossen", then "An Feiertagen geschlossen." (if
 *   closed_on_holidays) and "Außerdem geschlossen: 24.12., 31.12." (if
 *   closure dates exist); lines joined by "\n", no trailing newline.
 * Return BOT_OK or BOT_ENOMEM.
 */
int hours_say_day(const struct kb_office *o, const char *state,
		  const struct hours_tz *tz, time_t now, int offset,
		  struct strbuf *out);
int hours_say_now(const struct kb_office *o, const char *state,
		  const struct hours_tz *tz, time_t now, struct strbuf *out);
int hours_say_week(const struct kb_office *o, struct strbuf *out);

#endif /* HOURS_H */
