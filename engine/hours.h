/*
 * hours.h - opening hours, public holidays and "open now", computed in
 * the knowledge base's time zone.
 *
 * Time zones are read as POSIX TZ rules (the footer of the TZif file in
 * /usr/share/zoneinfo, or a built-in rule for Europe/Berlin), so nothing
 * here touches the process-wide TZ variable.
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

/* Load zone 'name' ("Europe/Berlin" or a POSIX rule "CET-1CEST,M3.5.0,M10.5.0/3"). */
struct hours_tz *hours_tz_new(const char *name, struct bot_err *err) BOT_WUR;
void hours_tz_free(struct hours_tz **tzp);

void hours_to_local(const struct hours_tz *tz, time_t t, struct hours_local *out);
time_t hours_from_local(const struct hours_tz *tz, int year, int month,
			int day, int minute);

/* Parse "2026-12-24T10:00" (local time in 'tz', seconds optional) into 't'. */
int hours_parse_now(const struct hours_tz *tz, const char *s, time_t *t,
		    struct bot_err *err) BOT_WUR;

/* Easter Sunday of 'year' (Gregorian). */
void hours_easter(int year, int *month, int *day);

/*
 * 1 and the holiday's German name in '*name' (static string) when the date
 * is a public holiday in Bundesland 'state' ("NW", "BY", ... the 16 ISO
 * 3166-2:DE codes without "DE-"); 0 otherwise.  Unknown state: only the
 * nationwide holidays.
 */
int hours_holiday(const char *state, int year, int month, int day,
		  const char **name);

/* 1 when 'o' is closed all day on that date (holiday or closure date). */
int hours_closed_day(const struct kb_office *o, const char *state, int year,
		     int month, int day, const char **why);

/* 1 when 'o' is open at local time 'lt'. */
int hours_is_open(const struct kb_office *o, const char *state,
		  const struct hours_local *lt);

/*
 * Which day a question is about: returns 0 for "heute"/"jetzt", 1 for
 * "morgen", 2 for "übermorgen", 0..6 days ahead for a weekday name
 * ("am Samstag"), or -1 when the text names no day.  '*now_asked' is set to
 * 1 for "jetzt", "gerade", "noch", "aktuell" (is it open right now?).
 * 'text' is the folded message (see text_fold).
 */
int hours_day_ref(const char *folded, int today_wday, int *now_asked);

/*
 * German sentences for citizens, appended to 'out':
 * - hours_say_day: "Heute (Dienstag, 24.11.): 08:00–12:00 und 14:00–16:00 Uhr"
 *   or "... geschlossen (Feiertag: Allerheiligen)"; 'offset' days after 'now'.
 * - hours_say_now: "Gerade geöffnet, bis 12:00 Uhr." or "Gerade geschlossen.
 *   Wieder geöffnet: morgen (Mittwoch) ab 08:00 Uhr."
 * - hours_say_week: one line per weekday, "Mo: 08:00–12:00, 14:00–16:00".
 * Return BOT_OK or BOT_ENOMEM.
 */
int hours_say_day(const struct kb_office *o, const char *state,
		  const struct hours_tz *tz, time_t now, int offset,
		  struct strbuf *out);
int hours_say_now(const struct kb_office *o, const char *state,
		  const struct hours_tz *tz, time_t now, struct strbuf *out);
int hours_say_week(const struct kb_office *o, struct strbuf *out);

#endif /* HOURS_H */
