/*
 * hours.c - time zones from POSIX TZ rules, German public holidays,
 * opening hours and the sentences that tell citizens about them.
 *
 * Calendar arithmetic is done on day numbers (days since 1970-01-01) with
 * our own civil-from-days conversion, so no libc function that depends on
 * the process TZ is ever called.
 */
#include "bot.h"
#include "hours.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kb.h"
#include "strbuf.h"

#include "banned.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define DAY_SECS 86400LL
#define SEARCH_DAYS 21		/* how far hours_say_now looks ahead */

/* ---- calendar ------------------------------------------------------- */

static long long floor_div(long long a, long long b)
{
	long long q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, int *y, int *m, int *d)
{
	long long era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* 0 = Monday ... 6 = Sunday; day 0 (1970-01-01) was a Thursday. */
static int wday_of_days(long long days)
{
	return (int)(floor_div(days + 3, 7) * -7 + days + 3);
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int len[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

static void local_from_days(long long days, int minute, struct hours_local *out)
{
	civil_from_days(days, &out->year, &out->month, &out->day);
	out->wday = wday_of_days(days);
	out->minute = minute;
}

int hours_weekday(int year, int month, int day)
{
	return wday_of_days(days_from_civil(year, month, day));
}

/* ---- POSIX TZ rules ------------------------------------------------- */

/* A DST transition date: 'M' month.week.wday, 'J' 1..365 without
 * 29 February, 'N' 0..365 counting it; 'secs' is local wall time. */
struct tz_rule {
	char kind;
	int mon, week, wday, yday;
	long secs;
};

struct hours_tz {
	long std_off;		/* seconds east of UTC */
	long dst_off;
	int has_dst;
	struct tz_rule start, end;
};

static const char *parse_num(const char *p, int max_digits, long *v)
{
	int n = 0;

	*v = 0;
	while (*p >= '0' && *p <= '9' && n < max_digits) {
		*v = *v * 10 + (*p++ - '0');
		n++;
	}
	return n ? p : NULL;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h; NULL on a syntax error. */
static const char *parse_hms(const char *p, long max_h, long *secs)
{
	long sign = 1, h, mi = 0, s = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	p = parse_num(p, 3, &h);
	if (!p || h > max_h)
		return NULL;
	if (*p == ':') {
		p = parse_num(p + 1, 2, &mi);
		if (!p || mi > 59)
			return NULL;
		if (*p == ':') {
			p = parse_num(p + 1, 2, &s);
			if (!p || s > 59)
				return NULL;
		}
	}
	*secs = sign * (h * 3600 + mi * 60 + s);
	return p;
}

/* A zone abbreviation: three or more letters, or "<...>". */
static const char *parse_abbr(const char *p)
{
	const char *start = p;

	if (*p == '<') {
		p = strchr(p, '>');
		return p && p - start >= 4 ? p + 1 : NULL;
	}
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p - start >= 3 ? p : NULL;
}

/* "m.w.d" after the 'M' of a rule date. */
static const char *parse_mwd(const char *p, struct tz_rule *r)
{
	long m, w, d;

	p = parse_num(p, 2, &m);
	if (!p || *p != '.' || m < 1 || m > 12)
		return NULL;
	p = parse_num(p + 1, 1, &w);
	if (!p || *p != '.' || w < 1 || w > 5)
		return NULL;
	p = parse_num(p + 1, 1, &d);
	if (!p || d > 6)
		return NULL;
	r->mon = (int)m;
	r->week = (int)w;
	r->wday = (int)d;
	return p;
}

static const char *parse_rule_date(const char *p, struct tz_rule *r)
{
	long n;

	r->kind = *p == 'M' || *p == 'J' ? *p++ : 'N';
	if (r->kind == 'M') {
		p = parse_mwd(p, r);
	} else {
		p = parse_num(p, 3, &n);
		if (!p || n > 365 || (r->kind == 'J' && n < 1))
			return NULL;
		r->yday = (int)n;
	}
	r->secs = 2 * 3600;
	if (p && *p == '/')
		p = parse_hms(p + 1, 167, &r->secs);
	return p;
}

/* Parse "std offset [dst [offset] [,start[/time],end[/time]]]". */
static int tz_parse_rule(const char *s, struct hours_tz *tz)
{
	const char *p = parse_abbr(s);
	long off = 0;

	p = p ? parse_hms(p, 24, &off) : NULL;
	if (!p)
		return -1;
	tz->std_off = -off;
	if (!*p)
		return 0;
	p = parse_abbr(p);
	if (!p)
		return -1;
	tz->has_dst = 1;
	tz->dst_off = tz->std_off + 3600;
	if (*p && *p != ',') {
		p = parse_hms(p, 24, &off);
		if (!p)
			return -1;
		tz->dst_off = -off;
	}
	if (!*p)
		/* No rule given: POSIX leaves it open; glibc uses the US one. */
		p = ",M3.2.0,M11.1.0";
	p = *p == ',' ? parse_rule_date(p + 1, &tz->start) : NULL;
	p = p && *p == ',' ? parse_rule_date(p + 1, &tz->end) : NULL;
	return p && !*p ? 0 : -1;
}

/* Day number of a rule's date in 'year'. */
static long long rule_days(const struct tz_rule *r, int year)
{
	long long jan1 = days_from_civil(year, 1, 1), first;
	int day;

	if (r->kind == 'J')
		return jan1 + r->yday - 1 + (is_leap(year) && r->yday >= 60);
	if (r->kind == 'N')
		return jan1 + r->yday;
	first = days_from_civil(year, r->mon, 1);
	/* rule wday counts from Sunday = 0, ours from Monday = 0 */
	day = 1 + ((r->wday + 6) % 7 - wday_of_days(first) + 7) % 7;
	day += (r->week - 1) * 7;
	while (day > month_days(year, r->mon))
		day -= 7;
	return first + day - 1;
}

/* The UTC offset in force at UTC time 't'. */
static long tz_offset_at(const struct hours_tz *tz, long long t)
{
	long long start, end;
	int y, m, d;

	if (!tz)
		return 0;
	if (!tz->has_dst)
		return tz->std_off;
	civil_from_days(floor_div(t, DAY_SECS), &y, &m, &d);
	start = rule_days(&tz->start, y) * DAY_SECS + tz->start.secs -
		tz->std_off;
	end = rule_days(&tz->end, y) * DAY_SECS + tz->end.secs - tz->dst_off;
	if (start < end)
		return t >= start && t < end ? tz->dst_off : tz->std_off;
	/* southern hemisphere: summer time spans the new year */
	return t >= end && t < start ? tz->std_off : tz->dst_off;
}

void hours_to_local(const struct hours_tz *tz, time_t t, struct hours_local *out)
{
	long long local = (long long)t + tz_offset_at(tz, t);
	long long days = floor_div(local, DAY_SECS);

	local_from_days(days, (int)((local - days * DAY_SECS) / 60), out);
}

time_t hours_from_local(const struct hours_tz *tz, int year, int month,
			int day, int minute)
{
	long long local = days_from_civil(year, month, day) * DAY_SECS +
			  (long long)minute * 60;
	long long t_dst, t_std;

	if (!tz)
		return (time_t)local;
	t_std = local - tz->std_off;
	if (!tz->has_dst)
		return (time_t)t_std;
	t_dst = local - tz->dst_off;
	/* Both valid: the earlier one; neither: the pre-change offset. */
	if (t_dst + tz_offset_at(tz, t_dst) == local &&
	    (t_dst <= t_std || t_std + tz_offset_at(tz, t_std) != local))
		return (time_t)t_dst;
	if (t_std + tz_offset_at(tz, t_std) == local)
		return (time_t)t_std;
	return (time_t)(local - tz_offset_at(tz, t_std - 3 * 3600));
}

/* ---- loading zones -------------------------------------------------- */

static const struct {
	const char *name;
	const char *rule;
} builtin_zones[] = {
	{ "Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3" },
	{ "Europe/Vienna", "CET-1CEST,M3.5.0,M10.5.0/3" },
	{ "Europe/Zurich", "CET-1CEST,M3.5.0,M10.5.0/3" },
	{ "Europe/Busingen", "CET-1CEST,M3.5.0,M10.5.0/3" },
	{ "Europe/Luxembourg", "CET-1CEST,M3.5.0,M10.5.0/3" },
	{ "Europe/Amsterdam", "CET-1CEST,M3.5.0,M10.5.0/3" },
	{ "Europe/Brussels", "CET-1CEST,M3.5.0,M10.5.0/3" },
	{ "Europe/Paris", "CET-1CEST,M3.5.0,M10.5.0/3" },
	{ "UTC", "UTC0" },
	{ "Etc/UTC", "UTC0" },
};

static const char *builtin_rule(const char *name)
{
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(builtin_zones); i++)
		if (!strcmp(builtin_zones[i].name, name))
			return builtin_zones[i].rule;
	return NULL;
}

static int looks_like_rule(const char *name)
{
	const char *p = name;

	if (*name == '<' || strchr(name, ','))
		return 1;
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p - name >= 3 && (*p == '+' || *p == '-' ||
				 (*p >= '0' && *p <= '9'));
}

/* Zone names come from configuration: keep them inside the zone dir. */
static int zone_name_ok(const char *name)
{
	const char *p;

	if (!*name || *name == '/' || strstr(name, ".."))
		return 0;
	for (p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || strchr("/_+-", *p)))
			return 0;
	return 1;
}

/* Read the last (up to) 256 bytes of TZif v2+ file 'fp'; -1 if none. */
static long tzif_tail(FILE *fp, char *buf)
{
	long len;
	size_t n;

	if (fread(buf, 1, 5, fp) != 5 || memcmp(buf, "TZif", 4) || buf[4] < '2')
		return -1;
	if (fseek(fp, 0, SEEK_END))
		return -1;
	len = ftell(fp);
	if (len < 0)
		return -1;
	n = len < 256 ? (size_t)len : 256;
	if (fseek(fp, -(long)n, SEEK_END) || fread(buf, 1, n, fp) != n)
		return -1;
	return (long)n;
}

/*
 * Copy the footer rule of TZif file 'path' (the text between the last two
 * newlines) into 'rule'.  Returns 0, -1 when the file cannot be opened,
 * -2 when it is no TZif v2+ file or has an empty footer.
 */
static int tzif_footer(const char *path, char *rule, size_t size)
{
	char buf[256];
	long n, i;
	FILE *fp = fopen(path, "rb");

	if (!fp)
		return -1;
	n = tzif_tail(fp, buf);
	fclose(fp);
	if (n < 2 || buf[n - 1] != '\n')
		return -2;
	for (i = n - 1; i > 0 && buf[i - 1] != '\n'; i--)
		;
	if (i == 0 || n - 1 - i == 0 || (size_t)(n - 1 - i) >= size)
		return -2;
	memcpy(rule, buf + i, (size_t)(n - 1 - i));
	rule[n - 1 - i] = '\0';
	return 0;
}

/* Find the POSIX rule for zone 'name'; fills 'err' when there is none. */
static int zone_rule(const char *name, const char *dir, char *rule,
		     size_t size, struct bot_err *err)
{
	const char *builtin;
	char path[512];
	int n;

	if (!zone_name_ok(name))
		return bot_fail(err, BOT_EINVAL, "bad time zone name '%s'", name);
	n = snprintf(path, sizeof(path), "%s/%s", dir ? dir : ZONEINFO_DIR,
		     name);
	if (n > 0 && (size_t)n < sizeof(path) && !tzif_footer(path, rule, size))
		return BOT_OK;
	builtin = builtin_rule(name);
	if (!builtin)
		return bot_fail(err, BOT_ENOTFOUND, "unknown time zone '%s'",
				name);
	snprintf(rule, size, "%s", builtin);
	return BOT_OK;
}

struct hours_tz *hours_tz_load(const char *name, const char *zoneinfo_dir,
			       struct bot_err *err)
{
	struct hours_tz *tz;
	char rule[256];
	const char *src = name;

	if (!name || !*name) {
		bot_fail(err, BOT_EINVAL, "empty time zone name");
		return NULL;
	}
	if (!looks_like_rule(name)) {
		if (zone_rule(name, zoneinfo_dir, rule, sizeof(rule), err))
			return NULL;
		src = rule;
	}
	tz = bot_calloc(1, sizeof(*tz));
	if (!tz) {
		bot_fail(err, BOT_ENOMEM, "out of memory loading time zone '%s'",
			 name);
		return NULL;
	}
	if (tz_parse_rule(src, tz)) {
		bot_fail(err, BOT_EINVAL, "bad time zone rule '%s' for '%s'",
			 src, name);
		hours_tz_free(&tz);
	}
	return tz;
}

struct hours_tz *hours_tz_new(const char *name, struct bot_err *err)
{
	return hours_tz_load(name, NULL, err);
}

void hours_tz_free(struct hours_tz **tzp)
{
	if (!tzp)
		return;
	bot_free(*tzp);
	*tzp = NULL;
}

/* ---- parsing "now" -------------------------------------------------- */

/* Exactly 'n' digits. */
static const char *digits(const char *p, int n, int *v)
{
	*v = 0;
	while (n--) {
		if (*p < '0' || *p > '9')
			return NULL;
		*v = *v * 10 + (*p++ - '0');
	}
	return p;
}

static const char *parse_date_time(const char *p, int f[6])
{
	static const char sep[6] = { '-', '-', 'T', ':', ':', 0 };
	static const int width[6] = { 4, 2, 2, 2, 2, 2 };
	int i;

	f[5] = 0;
	for (i = 0; i < 6; i++) {
		if (!p || !(p = digits(p, width[i], &f[i])))
			return NULL;
		if (i == 4 && !*p)
			return p;
		if (i == 2 && *p == ' ')
			p++;
		else if (i < 5 && *p++ != sep[i])
			return NULL;
	}
	return p;
}

int hours_parse_now(const struct hours_tz *tz, const char *s, time_t *t,
		    struct bot_err *err)
{
	int f[6];
	const char *end;

	end = s ? parse_date_time(s, f) : NULL;
	if (!end || *end || f[1] < 1 || f[1] > 12 || f[2] < 1 ||
	    f[2] > month_days(f[0], f[1]) || f[3] > 23 || f[4] > 59 ||
	    f[5] > 59)
		return bot_fail(err, BOT_EINVAL,
				"bad time '%.64s': expected YYYY-MM-DDTHH:MM[:SS]",
				s ? s : "(null)");
	*t = hours_from_local(tz, f[0], f[1], f[2], f[3] * 60 + f[4]) + f[5];
	return BOT_OK;
}

/* ---- public holidays ------------------------------------------------ */

void hours_easter(int year, int *month, int *day)
{
	int a = year % 19, b = year / 100, c = year % 100;
	int d = b / 4, e = b % 4, f = (b + 8) / 25, g = (b - f + 1) / 3;
	int h = (19 * a + b - d - g + 15) % 30;
	int i = c / 4, k = c % 4;
	int l = (32 + 2 * e + 2 * i - h - k) % 7;
	int m = (a + 11 * h + 22 * l) / 451;

	*month = (h + l - 7 * m + 114) / 31;
	*day = (h + l - 7 * m + 114) % 31 + 1;
}

/* Bit per Bundesland, in the order of state_codes. */
enum {
	BW = 1 << 0, BY = 1 << 1, BE = 1 << 2, BB = 1 << 3,
	HB = 1 << 4, HH = 1 << 5, HE = 1 << 6, MV = 1 << 7,
	NI = 1 << 8, NW = 1 << 9, RP = 1 << 10, SL = 1 << 11,
	SN = 1 << 12, ST = 1 << 13, SH = 1 << 14, TH = 1 << 15,
	ALL = 0xffff,
};

static const char state_codes[16][3] = {
	"BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV",
	"NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH",
};

/*
 * kind 'F': fixed date a.b (day.month); 'E': Easter Sunday + a days;
 * 'B': Buß- und Bettag.  'since'/'until' (0 = open) bound the years.
 */
struct holiday {
	const char *name;
	char kind;
	short a, b;
	unsigned states;
	short since, until;
};

static const struct holiday holidays[] = {
	{ "Neujahr", 'F', 1, 1, ALL, 0, 0 },
	{ "Heilige Drei Könige", 'F', 6, 1, BW | BY | ST, 0, 0 },
	{ "Internationaler Frauentag", 'F', 8, 3, BE, 2019, 0 },
	{ "Internationaler Frauentag", 'F', 8, 3, MV, 2023, 0 },
	{ "Karfreitag", 'E', -2, 0, ALL, 0, 0 },
	{ "Ostersonntag", 'E', 0, 0, BB, 0, 0 },
	{ "Ostermontag", 'E', 1, 0, ALL, 0, 0 },
	{ "Tag der Arbeit", 'F', 1, 5, ALL, 0, 0 },
	{ "Tag der Befreiung", 'F', 8, 5, BE, 2020, 2020 },
	{ "Tag der Befreiung", 'F', 8, 5, BE, 2025, 2025 },
	{ "Christi Himmelfahrt", 'E', 39, 0, ALL, 0, 0 },
	{ "Pfingstsonntag", 'E', 49, 0, BB, 0, 0 },
	{ "Pfingstmontag", 'E', 50, 0, ALL, 0, 0 },
	{ "Fronleichnam", 'E', 60, 0, BW | BY | HE | NW | RP | SL, 0, 0 },
	{ "Mariä Himmelfahrt", 'F', 15, 8, SL, 0, 0 },
	{ "Weltkindertag", 'F', 20, 9, TH, 2019, 0 },
	{ "Tag der Deutschen Einheit", 'F', 3, 10, ALL, 1990, 0 },
	{ "Reformationstag", 'F', 31, 10, BB | MV | SN | ST | TH, 0, 0 },
	{ "Reformationstag", 'F', 31, 10, HB | HH | NI | SH, 2018, 0 },
	{ "Reformationstag", 'F', 31, 10, ALL, 2017, 2017 },
	{ "Allerheiligen", 'F', 1, 11, BW | BY | NW | RP | SL, 0, 0 },
	{ "Buß- und Bettag", 'B', 0, 0, SN, 0, 0 },
	{ "Buß- und Bettag", 'B', 0, 0, ALL, 0, 1994 },
	{ "1. Weihnachtstag", 'F', 25, 12, ALL, 0, 0 },
	{ "2. Weihnachtstag", 'F', 26, 12, ALL, 0, 0 },
};

static unsigned state_mask(const char *state)
{
	size_t i;

	if (!state)
		return 0;
	if (!strncasecmp(state, "DE-", 3))
		state += 3;
	for (i = 0; i < BOT_ARRAY_SIZE(state_codes); i++)
		if (!strcasecmp(state, state_codes[i]))
			return 1u << i;
	return 0;
}

static long long holiday_days(const struct holiday *h, int year)
{
	long long nov22;
	int m, d;

	switch (h->kind) {
	case 'F':
		return days_from_civil(year, h->b, h->a);
	case 'E':
		hours_easter(year, &m, &d);
		return days_from_civil(year, m, d) + h->a;
	default:
		/* the last Wednesday before 23 November */
		nov22 = days_from_civil(year, 11, 22);
		return nov22 - (wday_of_days(nov22) - 2 + 7) % 7;
	}
}

int hours_holiday(const char *state, int year, int month, int day,
		  const char **name)
{
	unsigned mask = state_mask(state);
	long long days;
	size_t i;

	if (name)
		*name = NULL;
	if (month < 1 || month > 12 || day < 1 || day > month_days(year, month))
		return 0;
	days = days_from_civil(year, month, day);
	for (i = 0; i < BOT_ARRAY_SIZE(holidays); i++) {
		const struct holiday *h = &holidays[i];

		if (year < h->since || (h->until && year > h->until))
			continue;
		if (h->states != ALL && !(h->states & mask))
			continue;
		if (holiday_days(h, year) != days)
			continue;
		if (name)
			*name = h->name;
		return 1;
	}
	return 0;
}

/* ---- opening hours -------------------------------------------------- */

static int closure_date(const struct kb_office *o, int year, int month,
			int day)
{
	size_t i;

	for (i = 0; o->closed && i < o->n_closed; i++) {
		const struct kb_date *c = &o->closed[i];

		if ((c->year == 0 || c->year == year) && c->month == month &&
		    c->day == day)
			return 1;
	}
	return 0;
}

int hours_closed_day(const struct kb_office *o, const char *state, int year,
		     int month, int day, const char **why)
{
	const char *name;

	if (why)
		*why = NULL;
	if (o->closed_on_holidays &&
	    hours_holiday(state, year, month, day, &name)) {
		if (why)
			*why = name;
		return 1;
	}
	if (closure_date(o, year, month, day)) {
		if (why)
			*why = "Schließtag";
		return 1;
	}
	return 0;
}

/* The day's ranges sorted by opening time, with a sane count. */
static void day_sorted(const struct kb_day *in, struct kb_day *out)
{
	int i, j;

	*out = *in;
	if (out->n < 0)
		out->n = 0;
	if (out->n > KB_MAX_RANGES)
		out->n = KB_MAX_RANGES;
	for (i = 1; i < out->n; i++) {
		struct kb_range r = out->r[i];

		for (j = i; j > 0 && out->r[j - 1].open > r.open; j--)
			out->r[j] = out->r[j - 1];
		out->r[j] = r;
	}
}

/* Closing time of the (chained) ranges open at 'minute', or -1. */
static int open_until(const struct kb_day *day, int minute)
{
	int until = -1, changed = 1, i;

	while (changed) {
		changed = 0;
		for (i = 0; i < day->n; i++) {
			const struct kb_range *r = &day->r[i];
			int at = until < 0 ? minute : until;

			if (r->open <= at && at < r->close && r->close > until) {
				until = r->close;
				changed = 1;
			}
		}
	}
	return until;
}

/* The day plan that holds on a date: empty on closed days. */
static void plan_for(const struct kb_office *o, const char *state,
		     const struct hours_local *d, struct kb_day *plan)
{
	if (!o->has_hours || d->wday < 0 || d->wday > 6 ||
	    hours_closed_day(o, state, d->year, d->month, d->day, NULL)) {
		memset(plan, 0, sizeof(*plan));
		return;
	}
	day_sorted(&o->week[d->wday], plan);
}

int hours_is_open(const struct kb_office *o, const char *state,
		  const struct hours_local *lt)
{
	struct kb_day plan;

	plan_for(o, state, lt, &plan);
	return open_until(&plan, lt->minute) >= 0;
}

/* ---- understanding questions ---------------------------------------- */

static const char *const day_names[7] = {
	"Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag",
	"Samstag", "Sonntag",
};

static const char *const day_abbr[7] = {
	"Mo", "Di", "Mi", "Do", "Fr", "Sa", "So",
};

struct word {
	const char *s;
	size_t len;
};

/* Word lists with their lengths: every word of every question is looked
 * up in them, so no strlen() per entry. */
#define WORD(lit) { lit, sizeof(lit) - 1 }

static int word_is(const struct word *w, const char *lit)
{
	return w->len == strlen(lit) && !memcmp(w->s, lit, w->len);
}

static int word_eq(const struct word *w, const struct word *lit)
{
	return w->len == lit->len && !memcmp(w->s, lit->s, w->len);
}

/* 'list' ends with an entry of length 0. */
static int word_in(const struct word *w, const struct word *list)
{
	for (; list->len; list++)
		if (word_eq(w, list))
			return 1;
	return 0;
}

/* Weekday named by 'w' ("montag", "montags", "samstagvormittag"), or -1. */
static int weekday_word(const struct word *w)
{
	static const struct word stems[8] = {
		WORD("montag"), WORD("dienstag"), WORD("mittwoch"),
		WORD("donnerstag"), WORD("freitag"), WORD("samstag"),
		WORD("sonntag"), WORD("sonnabend"),
	};
	static const struct word suffixes[] = {
		WORD("s"), WORD("e"), WORD("en"), WORD("vormittag"),
		WORD("vormittags"), WORD("nachmittag"), WORD("nachmittags"),
		WORD("mittag"), WORD("mittags"), WORD("abend"), WORD("abends"),
		WORD("morgen"), WORD("morgens"), WORD("frueh"), WORD(""),
	};
	struct word rest;
	size_t i, n;

	for (i = 0; i < BOT_ARRAY_SIZE(stems); i++) {
		n = stems[i].len;
		if (w->len < n || memcmp(w->s, stems[i].s, n))
			continue;
		rest.s = w->s + n;
		rest.len = w->len - n;
		if (rest.len == 0 || word_in(&rest, suffixes))
			return i == 7 ? 5 : (int)i;
	}
	return -1;
}

/* "morgen" means tomorrow unless it is the morning ("guten morgen"). */
static int morgen_is_tomorrow(const struct word *prev)
{
	static const struct word morning[] = {
		WORD("guten"), WORD("am"), WORD("jeden"), WORD("diesen"),
		WORD("heute"), WORD("ganzen"), WORD("einen"), WORD("den"),
		WORD(""),
	};

	return !word_in(prev, morning);
}

/* Day offset named by word 'w' (after 'prev'), or -1. */
static int word_day(const struct word *prev, const struct word *w,
		    int today_wday)
{
	int wd;

	if (word_is(w, "heute"))
		return 0;
	if (word_is(w, "morgen"))
		return morgen_is_tomorrow(prev) ? 1 : -1;
	if (word_is(w, "uebermorgen"))
		return 2;
	wd = word_is(w, "wochenende") ? 5 : weekday_word(w);
	if (wd < 0)
		return -1;
	return ((wd - today_wday) % 7 + 7) % 7;
}

static int word_now(const struct word *prev, const struct word *w)
{
	static const struct word now[] = {
		WORD("jetzt"), WORD("gerade"), WORD("grade"), WORD("aktuell"),
		WORD("noch"), WORD("momentan"), WORD("zurzeit"), WORD("derzeit"),
		WORD("sofort"), WORD(""),
	};

	if (word_in(w, now))
		return 1;
	return word_is(prev, "im") &&
	       (word_is(w, "moment") || word_is(w, "augenblick"));
}

/* Next word of 'p' (words end at anything but a letter or digit). */
static const char *next_word(const char *p, struct word *w)
{
	while (*p && !((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
		p++;
	w->s = p;
	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
		p++;
	w->len = (size_t)(p - w->s);
	return p;
}

int hours_day_ref(const char *folded, int today_wday, int *now_asked)
{
	struct word prev = { "", 0 }, w;
	const char *p = folded ? folded : "";
	int day = -1, now = 0, d;

	today_wday = ((today_wday % 7) + 7) % 7;
	for (p = next_word(p, &w); w.len; p = next_word(p, &w)) {
		d = word_day(&prev, &w, today_wday);
		if (day < 0 && d >= 0)
			day = d;
		if (word_now(&prev, &w))
			now = 1;
		prev = w;
	}
	if (now_asked)
		*now_asked = now;
	return day < 0 && now ? 0 : day;
}

/* ---- German sentences ----------------------------------------------- */

/*
 * A sentence is built in a fixed buffer and appended in one go, so that a
 * failed append leaves 'out' untouched and nothing else is allocated.
 */
struct line {
	char s[1024];
	size_t len;
};

static void BOT_PRINTF(2, 3) line_addf(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->s + l->len, sizeof(l->s) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < sizeof(l->s) - l->len ?
			  (size_t)n : sizeof(l->s) - l->len - 1;
}

/*
 * What line_addf(l, "%s", s) and line_addf(l, "%02d", v) write, without
 * printf: these run for every answer with opening hours.
 */
static void line_adds(struct line *l, const char *s)
{
	size_t n = strlen(s), room = sizeof(l->s) - l->len;

	if (n >= room)
		n = room - 1;
	memcpy(l->s + l->len, s, n);
	l->len += n;
	l->s[l->len] = '\0';
}

static void line_add2d(struct line *l, int v)
{
	char d[3];

	if (v < 0 || v > 99) {
		line_addf(l, "%02d", v);
		return;
	}
	d[0] = (char)('0' + v / 10);
	d[1] = (char)('0' + v % 10);
	d[2] = '\0';
	line_adds(l, d);
}

/* "dd.mm." */
static void line_add_date(struct line *l, int day, int month)
{
	line_add2d(l, day);
	line_adds(l, ".");
	line_add2d(l, month);
	line_adds(l, ".");
}

static int line_flush(const struct line *l, struct strbuf *out)
{
	return strbuf_add(out, l->s, l->len);
}

#define DASH "\xe2\x80\x93"	/* en dash between two times */

static void add_time(struct line *l, int minute)
{
	if (minute < 0)
		minute = 0;
	line_add2d(l, minute / 60);
	line_adds(l, ":");
	line_add2d(l, minute % 60);
}

static void add_range(struct line *l, const struct kb_range *r)
{
	add_time(l, r->open);
	line_adds(l, DASH);
	add_time(l, r->close);
}

/* "08:00–12:00 und 14:00–16:00 Uhr" or "geschlossen (Feiertag: ...)". */
static void add_day_text(struct line *l, const struct kb_office *o,
			 const char *state, const struct hours_local *d)
{
	struct kb_day day;
	const char *name;
	int i;

	if (!o->has_hours) {
		line_adds(l, "keine Öffnungszeiten hinterlegt");
		return;
	}
	if (o->closed_on_holidays &&
	    hours_holiday(state, d->year, d->month, d->day, &name)) {
		line_addf(l, "geschlossen (Feiertag: %s)", name);
		return;
	}
	if (closure_date(o, d->year, d->month, d->day)) {
		line_adds(l, "geschlossen (Schließtag)");
		return;
	}
	day_sorted(&o->week[d->wday], &day);
	if (day.n == 0) {
		line_adds(l, "geschlossen");
		return;
	}
	for (i = 0; i < day.n; i++) {
		if (i > 0)
			line_adds(l, i == day.n - 1 ? " und " : ", ");
		add_range(l, &day.r[i]);
	}
	line_adds(l, " Uhr");
}

/* The local date 'offset' days after the local date of 'now'. */
static void local_day(const struct hours_tz *tz, time_t now, int offset,
		      struct hours_local *d)
{
	hours_to_local(tz, now, d);
	local_from_days(days_from_civil(d->year, d->month, d->day) + offset,
			d->minute, d);
}

int hours_say_day(const struct kb_office *o, const char *state,
		  const struct hours_tz *tz, time_t now, int offset,
		  struct strbuf *out)
{
	static const char *const rel[3] = { "Heute", "Morgen", "Übermorgen" };
	struct line l = { .len = 0 };
	struct hours_local d;

	local_day(tz, now, offset, &d);
	if (offset >= 0 && offset <= 2) {	/* "Heute (Montag, 02.03.): " */
		line_adds(&l, rel[offset]);
		line_adds(&l, " (");
		line_adds(&l, day_names[d.wday]);
		line_adds(&l, ", ");
	} else {			/* "Am Montag (09.03.): " */
		line_adds(&l, "Am ");
		line_adds(&l, day_names[d.wday]);
		line_adds(&l, " (");
	}
	line_add_date(&l, d.day, d.month);
	line_adds(&l, "): ");
	add_day_text(&l, o, state, &d);
	return line_flush(&l, out);
}

/* First opening after 'from' (today) within SEARCH_DAYS: days ahead and
 * minute, or -1 when there is none. */
static int next_opening(const struct kb_office *o, const char *state,
			const struct hours_local *from, int *minute)
{
	long long base = days_from_civil(from->year, from->month, from->day);
	struct hours_local d;
	struct kb_day plan;
	int ahead, i;

	for (ahead = 0; ahead <= SEARCH_DAYS; ahead++) {
		local_from_days(base + ahead, 0, &d);
		plan_for(o, state, &d, &plan);
		for (i = 0; i < plan.n; i++) {
			if (ahead == 0 && plan.r[i].open <= from->minute)
				continue;
			if (plan.r[i].close <= plan.r[i].open)
				continue;
			*minute = plan.r[i].open;
			return ahead;
		}
	}
	return -1;
}

static int week_has_hours(const struct kb_office *o)
{
	int i;

	for (i = 0; i < 7; i++)
		if (o->week[i].n > 0)
			return 1;
	return 0;
}

static void add_next_opening(struct line *l, const struct kb_office *o,
			     const char *state, const struct hours_local *now)
{
	struct hours_local d;
	int minute = 0, ahead = next_opening(o, state, now, &minute);

	if (ahead < 0) {
		line_adds(l, week_has_hours(o) ?
			  " In den nächsten drei Wochen ist nicht geöffnet." :
			  " Feste Öffnungszeiten gibt es nicht.");
		return;
	}
	local_from_days(days_from_civil(now->year, now->month, now->day) +
			ahead, minute, &d);
	line_adds(l, " Wieder geöffnet: ");
	if (ahead == 0)
		line_adds(l, "heute");
	else if (ahead == 1)
		line_addf(l, "morgen (%s)", day_names[d.wday]);
	else
		line_addf(l, "am %s, %02d.%02d.,", day_names[d.wday], d.day,
			  d.month);
	line_adds(l, " ab ");
	add_time(l, minute);
	line_adds(l, " Uhr.");
}

int hours_say_now(const struct kb_office *o, const char *state,
		  const struct hours_tz *tz, time_t now, struct strbuf *out)
{
	struct line l = { .len = 0 };
	struct hours_local lt;
	struct kb_day plan;
	int until;

	if (!o->has_hours)
		return strbuf_adds(out, "Für dieses Amt sind keine "
				   "Öffnungszeiten hinterlegt.");
	hours_to_local(tz, now, &lt);
	plan_for(o, state, &lt, &plan);
	until = open_until(&plan, lt.minute);
	if (until >= 0) {
		line_adds(&l, "Gerade geöffnet, bis ");
		add_time(&l, until);
		line_adds(&l, " Uhr.");
	} else {
		line_adds(&l, "Gerade geschlossen.");
		add_next_opening(&l, o, state, &lt);
	}
	return line_flush(&l, out);
}

/* "Außerdem geschlossen: 24.12., 31.12.2026" (at most 12 dates). */
static void add_closures(struct line *l, const struct kb_office *o)
{
	size_t i;

	if (!o->n_closed || !o->closed)
		return;
	line_adds(l, "\nAußerdem geschlossen: ");
	for (i = 0; i < o->n_closed && i < 12; i++) {
		const struct kb_date *c = &o->closed[i];

		line_addf(l, "%s%02d.%02d.", i ? ", " : "", c->day, c->month);
		if (c->year)
			line_addf(l, "%d", c->year);
	}
	if (o->n_closed > 12)
		line_adds(l, " und weitere");
}

int hours_say_week(const struct kb_office *o, struct strbuf *out)
{
	struct line l = { .len = 0 };
	struct kb_day day;
	int wd, i;

	if (!o->has_hours)
		return strbuf_adds(out, "Für dieses Amt sind keine "
				   "Öffnungszeiten hinterlegt.");
	for (wd = 0; wd < 7; wd++) {
		day_sorted(&o->week[wd], &day);
		line_addf(&l, "%s%s: ", wd ? "\n" : "", day_abbr[wd]);
		if (day.n == 0)
			line_adds(&l, "geschlossen");
		for (i = 0; i < day.n; i++) {
			if (i)
				line_adds(&l, ", ");
			add_range(&l, &day.r[i]);
		}
	}
	if (o->closed_on_holidays)
		line_adds(&l, "\nAn Feiertagen geschlossen.");
	add_closures(&l, o);
	return line_flush(&l, out);
}
