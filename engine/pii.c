/*
 * pii.c - find personal data in a citizen's message with hand-written
 * scanners: one left-to-right pass, each detector triggered only where its
 * first byte can start, check digits verified where the format has them.
 * Runs on every message in the hot path, so: no allocation, no regex.
 */
#include "bot.h"
#include "pii.h"

#include <string.h>

#include "strbuf.h"
#include "banned.h"

/*
 * A candidate that wins its overlap cluster but reports nothing: an
 * IBAN-shaped string whose checksum fails.  It keeps the phone scanner
 * from labelling the digit groups inside it as a telephone number.
 */
#define PII_SUPPRESS PII_KIND_COUNT

#define KW_CASE 1		/* keyword before a case number */
#define KW_ID 2			/* keyword before an ID card number */
#define KW_STEM 4		/* "Nr." alone: the word before names it */

struct scanner {
	const char *t;
	size_t len;
	struct pii_result *res;
	int stop;		/* result full and one more hit found */
	int open;		/* a cluster of overlapping candidates is open */
	unsigned int best;	/* its best kind (or PII_SUPPRESS) */
	size_t best_len;
	size_t cstart, cend;	/* union of the cluster's candidates */
	size_t at;		/* next '@' at or after the scan position */
	size_t at_start;	/* where the e-mail before 'at' would start */
};

/* ---- bytes ------------------------------------------------------------ */

static unsigned char at(const char *t, size_t len, size_t p)
{
	return p < len ? (unsigned char)t[p] : 0;
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(unsigned char c)
{
	return is_digit(c) || is_alpha(c);
}

/* Letters of words: ASCII letters and any UTF-8 byte (umlauts, ß). */
static int is_letter(unsigned char c)
{
	return is_alpha(c) || c >= 0x80;
}

static int is_word(unsigned char c)
{
	return is_digit(c) || is_letter(c);
}

static unsigned char upper(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? c - 32 : c;
}

/* Capital ASCII letter or UTF-8 Ä, Ö, Ü. */
static int is_capital(const char *t, size_t len, size_t p)
{
	unsigned char c = at(t, len, p), d = at(t, len, p + 1);

	if (c >= 'A' && c <= 'Z')
		return 1;
	return c == 0xC3 && (d == 0x84 || d == 0x96 || d == 0x9C);
}

/* A no-break space (U+00A0, C2 A0) starts at 'p'. */
static int is_nbsp(const char *t, size_t len, size_t p)
{
	return at(t, len, p) == 0xC2 && at(t, len, p + 1) == 0xA0;
}

/* A word starts at 'p': the byte before is no letter or digit.  A
 * no-break space (U+00A0) counts as a space. */
static int starts_word(const char *t, size_t p)
{
	unsigned char c;

	if (p == 0)
		return 1;
	c = (unsigned char)t[p - 1];
	if (c == 0xA0 && p >= 2 && (unsigned char)t[p - 2] == 0xC2)
		return 1;
	return !is_word(c);
}

/*
 * A number ends at 'p': no letter or digit follows, and no decimal or
 * time part ("22,80", "08:00", "1.5") continues it.
 */
static int number_ends(const char *t, size_t len, size_t p)
{
	unsigned char c = at(t, len, p);

	if (is_nbsp(t, len, p))
		return 1;
	if (is_word(c))
		return 0;
	if ((c == '.' || c == ',' || c == ':') && is_digit(at(t, len, p + 1)))
		return 0;
	return 1;
}

/* Read up to 'max' digits; returns the end, the value and the count
 * (count is max + 1 when more digits follow). */
static size_t read_int(const char *t, size_t len, size_t p, int max,
		       int *val, int *ndig)
{
	int v = 0, n = 0;

	while (is_digit(at(t, len, p))) {
		if (n == max) {
			n++;
			break;
		}
		v = v * 10 + (t[p] - '0');
		n++;
		p++;
	}
	*val = v;
	*ndig = n;
	return p;
}

/*
 * Compare the 'n' bytes at t[s] with lower-case 'kw', folding ASCII and
 * the UTF-8 capitals Ä Ö Ü (C3 84/96/9C) to lower case.
 */
static int fold_match(const char *t, size_t s, const char *kw, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		unsigned char c = (unsigned char)t[s + k];

		if (c >= 'A' && c <= 'Z')
			c += 32;
		else if (k > 0 && (unsigned char)t[s + k - 1] == 0xC3 &&
			 c >= 0x80 && c <= 0x9E && c != 0x97)
			c += 0x20;
		if (c != (unsigned char)kw[k])
			return 0;
	}
	return 1;
}

/* Word lists carry their lengths, so most entries fail on length alone. */
struct word {
	const char *s;
	size_t n;
};

#define W(str) { (str), sizeof(str) - 1 }
#define W_END { NULL, 0 }

static int fold_eq(const char *t, size_t s, size_t e, const struct word *w)
{
	return e - s == w->n && fold_match(t, s, w->s, w->n);
}

static int fold_suffix(const char *t, size_t s, size_t e,
		       const struct word *w)
{
	unsigned char last;

	if (e - s < w->n)
		return 0;
	/* the last byte decides most of the time; no suffix ends in an
	 * umlaut, so ASCII folding is enough for it */
	last = (unsigned char)t[e - 1];
	if (last >= 'A' && last <= 'Z')
		last += 32;
	return last == (unsigned char)w->s[w->n - 1] &&
	       fold_match(t, e - w->n, w->s, w->n);
}

/* Index + 1 of the entry equal to t[s..e), or 0. */
static size_t fold_in(const char *t, size_t s, size_t e,
		      const struct word *list)
{
	size_t k;

	for (k = 0; list[k].s; k++)
		if (fold_eq(t, s, e, &list[k]))
			return k + 1;
	return 0;
}

/* Index + 1 of the first entry that ends t[s..e), or 0. */
static size_t fold_tail_in(const char *t, size_t s, size_t e,
			   const struct word *list)
{
	size_t k;

	for (k = 0; list[k].s; k++)
		if (fold_suffix(t, s, e, &list[k]))
			return k + 1;
	return 0;
}

/* End of the word of letters and inner hyphens at 'p', with one
 * trailing '.' ("Str.", "Az."). */
static size_t word_end(const char *t, size_t len, size_t p)
{
	size_t s = p;

	while ((is_letter(at(t, len, p)) && !is_nbsp(t, len, p)) ||
	       (at(t, len, p) == '-' && p > s && is_letter(at(t, len, p + 1))))
		p++;
	if (p > s && at(t, len, p) == '.')
		p++;
	return p;
}

/* ---- collecting hits ---------------------------------------------------- */

/* More specific kinds win ties between candidates of equal length. */
static int kind_rank(unsigned int kind)
{
	static const unsigned char rank[PII_KIND_COUNT] = {
		[PII_IBAN] = 9, [PII_TAXID] = 8, [PII_IDCARD] = 7,
		[PII_EMAIL] = 6, [PII_BIRTHDATE] = 5, [PII_PHONE] = 4,
		[PII_CASENO] = 3, [PII_ADDRESS] = 2,
	};

	return kind < PII_KIND_COUNT ? rank[kind] : 0;
}

/* Close the open cluster: report it unless a suppressor won. */
static void flush(struct scanner *s)
{
	struct pii_result *res = s->res;

	if (!s->open)
		return;
	s->open = 0;
	if (s->best == PII_SUPPRESS)
		return;
	if (res->n == PII_MAX_HITS) {
		res->truncated = 1;
		s->stop = 1;
		return;
	}
	res->hit[res->n].kind = (enum pii_kind)s->best;
	res->hit[res->n].start = s->cstart;
	res->hit[res->n].end = s->cend;
	res->n++;
}

/*
 * Take a candidate.  Detectors run at increasing positions and every
 * candidate starts where its detector ran, so candidates arrive sorted
 * by start and a cluster is complete once one starts past its end.
 */
static void emit(struct scanner *s, unsigned int kind, size_t start,
		 size_t end)
{
	size_t n = end - start;

	if (s->open && start < s->cend) {
		if (n > s->best_len ||
		    (n == s->best_len && kind_rank(kind) > kind_rank(s->best))) {
			s->best = kind;
			s->best_len = n;
		}
		if (end > s->cend)
			s->cend = end;
		return;
	}
	flush(s);
	if (s->stop)
		return;
	s->open = 1;
	s->best = kind;
	s->best_len = n;
	s->cstart = start;
	s->cend = end;
}

/* ---- IBAN ---------------------------------------------------------------- */

static int iban_country_len(const char *cc)
{
	static const char table[] =
		"AD24AT20BE16BG22CH21CY28CZ24DE22DK18EE20ES24FI18FR27GB22"
		"GR27HR21HU28IE22IS26IT27LI21LT20LU20LV21MC27MT31NL18NO15"
		"PL28PT25RO24SE24SI19SK24SM27TR26";
	size_t k;

	for (k = 0; k + 4 <= sizeof(table) - 1; k += 4)
		if (table[k] == cc[0] && table[k + 1] == cc[1])
			return (table[k + 2] - '0') * 10 + (table[k + 3] - '0');
	return 0;
}

/* ISO 13616: the first four characters moved to the end, letters as
 * 10..35, the whole number mod 97 must be 1. */
static int iban_mod97_ok(const char *b, size_t n)
{
	unsigned int r = 0;
	size_t k;

	for (k = 0; k < n; k++) {
		unsigned char c = (unsigned char)b[(k + 4) % n];

		if (is_digit(c))
			r = (r * 10 + (c - '0')) % 97;
		else
			r = (r * 100 + (c - 'A' + 10)) % 97;
	}
	return r == 1;
}

/* Compact characters of an IBAN at 'p'; a single space is allowed after
 * every group of four.  ends[k] is the byte after character k. */
static size_t iban_collect(const char *t, size_t len, size_t p, char *buf,
			   size_t *ends)
{
	size_t n = 0;

	while (n < 34) {
		unsigned char c = at(t, len, p);

		if (is_alnum(c)) {
			buf[n] = (char)upper(c);
			ends[n++] = ++p;
		} else if (c == ' ' && n % 4 == 0 && is_alnum(at(t, len, p + 1))) {
			p++;
		} else {
			break;
		}
	}
	return n;
}

/* An IBAN of 'want' characters (0: any of 15..34) ending at a word end. */
static size_t iban_fit(const char *t, size_t len, const char *buf, size_t n,
		       const size_t *ends, int want)
{
	size_t k = n, lo = 15;

	if (want) {
		if (n < (size_t)want)
			return 0;
		k = lo = (size_t)want;
	}
	for (; k >= lo; k--)
		if (!is_word(at(t, len, ends[k - 1])) &&
		    iban_mod97_ok(buf, k))
			return ends[k - 1];
	return 0;
}

static void scan_iban(struct scanner *s, size_t i)
{
	const char *t = s->t;
	size_t len = s->len, n, end;
	size_t ends[34];
	char buf[34];

	if (!is_alpha(at(t, len, i + 1)) || !is_digit(at(t, len, i + 2)) ||
	    !is_digit(at(t, len, i + 3)))
		return;
	n = iban_collect(t, len, i, buf, ends);
	if (n < 15)		/* Norway's 15 is the shortest IBAN */
		return;
	end = iban_fit(t, len, buf, n, ends, iban_country_len(buf));
	if (end)
		emit(s, PII_IBAN, i, end);
	else
		emit(s, PII_SUPPRESS, i, ends[n - 1]);
}

/* ---- Steuer-ID ------------------------------------------------------------ */

/*
 * § 1 StIdV / BZSt: of the first ten digits exactly one occurs twice or
 * three times (three never in a row), the others at most once; the
 * eleventh is the ISO 7064 MOD 11,10 check digit.
 */
static int taxid_valid(const char *d)
{
	int cnt[10] = { 0 };
	int k, rep = -1, nrep = 0, product = 10, sum, check;

	for (k = 0; k < 10; k++)
		cnt[d[k] - '0']++;
	for (k = 0; k < 10; k++)
		if (cnt[k] > 1) {
			nrep++;
			rep = k;
		}
	if (nrep != 1 || cnt[rep] > 3)
		return 0;
	for (k = 0; cnt[rep] == 3 && k < 8; k++)
		if (d[k] == d[k + 1] && d[k] == d[k + 2])
			return 0;
	for (k = 0; k < 10; k++) {
		sum = (d[k] - '0' + product) % 10;
		if (sum == 0)
			sum = 10;
		product = (sum * 2) % 11;
	}
	check = 11 - product;
	if (check == 10)
		check = 0;
	return check == d[10] - '0';
}

/* Eleven digits at 'i', compact or grouped "12 345 678 901". */
static size_t taxid_at(const char *t, size_t len, size_t i)
{
	char d[11];
	size_t p = i, n = 0;
	int g, k;

	if (at(t, len, i) == '0')
		return 0;
	while (n < 11 && is_digit(at(t, len, p)))
		d[n++] = t[p++];
	if (n == 2) {
		for (g = 0; g < 3; g++) {
			if (at(t, len, p) != ' ')
				return 0;
			p++;
			for (k = 0; k < 3; k++, p++) {
				if (!is_digit(at(t, len, p)))
					return 0;
				d[n++] = t[p];
			}
		}
	}
	if (n != 11 || !number_ends(t, len, p))
		return 0;
	return taxid_valid(d) ? p : 0;
}

/* ---- e-mail --------------------------------------------------------------- */

static int is_local(unsigned char c)
{
	return is_word(c) || c == '.' || c == '_' || c == '%' || c == '+' ||
	       c == '-';
}

static int is_domain(unsigned char c)
{
	return is_word(c) || c == '-';
}

/* Find the next '@' at or after 'p' and where its local part starts. */
static void next_at(struct scanner *s, size_t p)
{
	const char *a = NULL;
	size_t q;

	if (p < s->len)
		a = memchr(s->t + p, '@', s->len - p);
	s->at = a ? (size_t)(a - s->t) : s->len;
	s->at_start = s->len;
	if (!a)
		return;
	q = s->at;
	while (q > 0 && is_local((unsigned char)s->t[q - 1]))
		q--;
	while (q < s->at && s->t[q] == '.')
		q++;
	if (q < s->at)
		s->at_start = q;
}

/* The end of the domain after '@' at 'p': at least two labels, the last
 * one two or more ASCII letters. */
static size_t email_end(const char *t, size_t len, size_t p)
{
	size_t labels = 0, ls = 0, q, k;

	p++;
	for (;;) {
		q = p;
		while (is_domain(at(t, len, p)))
			p++;
		if (p == q)
			return 0;
		labels++;
		ls = q;
		if (at(t, len, p) != '.' || !is_domain(at(t, len, p + 1)))
			break;
		p++;
	}
	if (labels < 2 || p - ls < 2)
		return 0;
	for (k = ls; k < p; k++)
		if (!is_alpha(at(t, len, k)))
			return 0;
	return p;
}

static void scan_email(struct scanner *s, size_t i)
{
	size_t end = email_end(s->t, s->len, s->at);

	if (end)
		emit(s, PII_EMAIL, i, end);
}

/* ---- telephone ------------------------------------------------------------ */

/* "(0221)": an area code in parentheses may start the number. */
static int phone_paren_area(const char *t, size_t len, size_t p)
{
	size_t q = p + 1;

	if (at(t, len, q) != '0')
		return 0;
	while (is_digit(at(t, len, q)) && q - p < 7)
		q++;
	return at(t, len, q) == ')' && q - p >= 3;
}

/* Separators between digit groups: up to three of " /-()", at most one
 * '/' or '-', and a digit after them.  Returns the digit's position or 0;
 * '*plain' is cleared when the gap holds a space or parenthesis. */
static size_t phone_gap(const char *t, size_t len, size_t p, int *plain)
{
	size_t q = p;
	int dash = 0, space = 0;

	while (q - p < 3) {
		unsigned char c = at(t, len, q);

		if (c == '/' || c == '-')
			dash++;
		else if (c == ' ' || c == '(' || c == ')')
			space = 1;
		else
			break;
		q++;
	}
	if (q == p || dash > 1 || !is_digit(at(t, len, q)))
		return 0;
	if (space)
		*plain = 0;
	return q;
}

/* Three groups joined by '-' or '/' only, sized like a date. */
static int phone_is_date(int plain, int groups, const size_t *g)
{
	return plain && groups == 3 && g[0] <= 2 && g[1] <= 2 &&
	       (g[2] == 2 || g[2] == 4);
}

/* Find in '*p' the first digit of a number opened by "+", "0" or "(0";
 * returns 0 if there is none. */
static int phone_start(const char *t, size_t len, size_t *p, int *plus)
{
	if (at(t, len, *p) == '(') {
		if (!phone_paren_area(t, len, *p))
			return 0;
		(*p)++;
	}
	*plus = at(t, len, *p) == '+';
	if (*plus)
		return is_digit(at(t, len, ++(*p)));
	/* "0 Euro", "0,50": a national number has a prefix of 2+ digits */
	return at(t, len, *p) == '0' && is_digit(at(t, len, *p + 1));
}

/*
 * Starts with '+' or '0' (or "(0"), at least 7 and at most 17 digits
 * (E.164's 15 plus a "00" prefix and a "(0)"); further digit groups
 * ("0171 1234567 2 Personen") are left out, not a reason to give up.
 */
static size_t phone_at(const char *t, size_t len, size_t i)
{
	size_t p = i, end = 0, digits = 0, gsz[3] = { 0, 0, 0 }, g;
	int plus, plain = 1, groups = 0;

	if (!phone_start(t, len, &p, &plus))
		return 0;
	for (;;) {
		for (g = 0; is_digit(at(t, len, p + g)); g++)
			;
		if (digits + g > 17)
			break;
		if (groups < 3)
			gsz[groups] = g;
		groups++;
		digits += g;
		end = p + g;
		p = phone_gap(t, len, end, &plain);
		if (!p)
			break;
	}
	if (digits < 7 || (!plus && phone_is_date(plain, groups, gsz)))
		return 0;
	return number_ends(t, len, end) ? end : 0;
}

/* ---- dates ------------------------------------------------------------- */

struct date {
	int d, m, y, ylen;
};

static int date_valid(const struct date *dt)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30,
				       31, 31, 30, 31, 30, 31 };
	int y = dt->ylen == 2 ? 2000 + dt->y : dt->y;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (dt->m < 1 || dt->m > 12 || dt->d < 1 || dt->d > mdays[dt->m - 1])
		return 0;
	return !(dt->m == 2 && dt->d == 29 && !leap);
}

static int month_by_name(const char *t, size_t s, size_t e)
{
	static const struct word names[] = {
		W("januar"), W("jan"), W("jänner"), W("january"),
		W("februar"), W("feb"), W("february"), W("märz"), W("maerz"),
		W("mär"), W("march"), W("mar"), W("april"), W("apr"),
		W("mai"), W("may"), W("juni"), W("jun"), W("june"), W("juli"),
		W("jul"), W("july"), W("august"), W("aug"), W("september"),
		W("sep"), W("sept"), W("oktober"), W("okt"), W("october"),
		W("oct"), W("november"), W("nov"), W("dezember"), W("dez"),
		W("december"), W("dec"), W_END
	};
	static const unsigned char month[] = {
		1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 6, 7,
		7, 7, 8, 8, 9, 9, 9, 10, 10, 10, 10, 11, 11, 12, 12, 12, 12
	};
	size_t k = fold_in(t, s, e, names);

	return k ? month[k - 1] : 0;
}

/* The year at 'p' (two or four digits); returns its end or 0. */
static size_t date_year(const char *t, size_t len, size_t p, struct date *dt)
{
	p = read_int(t, len, p, 4, &dt->y, &dt->ylen);
	if (dt->ylen != 2 && dt->ylen != 4)
		return 0;
	return number_ends(t, len, p) ? p : 0;
}

/* "3. April 1985", "3 Apr. 85": month name at 'p'. */
static size_t date_named(const char *t, size_t len, size_t p, struct date *dt)
{
	size_t e = p;

	while (is_letter(at(t, len, e)))
		e++;
	dt->m = month_by_name(t, p, e);
	if (!dt->m)
		return 0;
	if (at(t, len, e) == '.')
		e++;
	if (at(t, len, e) != ' ')
		return 0;
	return date_year(t, len, e + 1, dt);
}

/* "3.4.1985", "03.04.85", "03. 04. 1985", "3/4/1985": month at 'p'. */
static size_t date_numeric(const char *t, size_t len, size_t p,
			   unsigned char sep, struct date *dt)
{
	int n;

	p = read_int(t, len, p, 2, &dt->m, &n);
	if (n < 1 || n > 2 || at(t, len, p) != sep)
		return 0;
	p++;
	if (sep == '.' && at(t, len, p) == ' ')
		p++;
	p = date_year(t, len, p, dt);
	if (sep == '/' && dt->ylen != 4)
		return 0;
	return p;
}

/* "1985-04-03" after the year 'y' ending at 'p'. */
static size_t date_iso(const char *t, size_t len, size_t p, struct date *dt)
{
	int n;

	if (at(t, len, p) != '-')
		return 0;
	p = read_int(t, len, p + 1, 2, &dt->m, &n);
	if (n != 2 || at(t, len, p) != '-')
		return 0;
	p = read_int(t, len, p + 1, 2, &dt->d, &n);
	if (n != 2 || !number_ends(t, len, p))
		return 0;
	dt->ylen = 4;
	return p;
}

/* A calendar date with a year at 'i'; returns its end or 0. */
static size_t date_at(const char *t, size_t len, size_t i, struct date *dt)
{
	size_t p, e = 0;
	int n;

	p = read_int(t, len, i, 4, &dt->d, &n);
	if (n == 4) {
		dt->y = dt->d;
		e = date_iso(t, len, p, dt);
	} else if (n <= 2 && at(t, len, p) == '.') {
		p++;
		if (at(t, len, p) == ' ')
			p++;
		if (is_digit(at(t, len, p)))
			e = date_numeric(t, len, p, '.', dt);
		else
			e = date_named(t, len, p, dt);
	} else if (n <= 2 && at(t, len, p) == '/') {
		e = date_numeric(t, len, p + 1, '/', dt);
	} else if (n <= 2 && at(t, len, p) == ' ') {
		e = date_named(t, len, p + 1, dt);
	}
	return e && date_valid(dt) ? e : 0;
}

/* Words that say a nearby date is a birth date. */
static int birth_word_at(const char *t, size_t p, size_t hi)
{
	static const struct word kw[] = {
		W("geboren"), W("geburt"), W("geb."), W("geb:"), W("geb "),
		W("birth"), W("born"), W_END
	};
	size_t k;

	for (k = 0; kw[k].s; k++)
		if (p + kw[k].n <= hi && fold_match(t, p, kw[k].s, kw[k].n))
			return 1;
	return 0;
}

static int birth_word_in(const char *t, size_t lo, size_t hi)
{
	size_t p;

	for (p = lo; p < hi; p++) {
		unsigned char c = upper((unsigned char)t[p]);

		if ((c == 'G' || c == 'B') && (p == 0 || !is_letter(t[p - 1])) &&
		    birth_word_at(t, p, hi))
			return 1;
	}
	return 0;
}

static int sentence_end(const char *t, size_t len, size_t p)
{
	unsigned char c = at(t, len, p);

	return c == '!' || c == '?' || c == '\n' ||
	       (c == '.' && at(t, len, p + 1) == ' ');
}

/*
 * Birth-date words within 30 bytes before the date or earlier in the same
 * sentence (up to 120 bytes), or after it in the same sentence ("am
 * 3.4.2015 geboren").  The 30 bytes reach across "geb." itself.
 */
static int birth_context(const char *t, size_t len, size_t s, size_t e)
{
	size_t lo = s > 30 ? s - 30 : 0, hi = e;

	while (lo > 0 && s - lo < 120 && !sentence_end(t, len, lo - 1))
		lo--;
	if (birth_word_in(t, lo, s))
		return 1;
	while (hi < len && hi - e < 40 && !sentence_end(t, len, hi))
		hi++;
	return birth_word_in(t, e, hi);
}

/*
 * Without a birth word, a full date before 2012 still counts: the office's
 * own dates (appointments, deadlines, "seit dem 1.1.2025") are recent,
 * while an old full date in a citizen's message is nearly always someone's
 * birth date, and 2012 keeps every writer of school age and older.
 */
static size_t birthdate_at(const char *t, size_t len, size_t i)
{
	struct date dt;
	size_t e = date_at(t, len, i, &dt);

	if (!e)
		return 0;
	if (dt.ylen == 4 && dt.y >= 1900 && dt.y < 2012)
		return e;
	return birth_context(t, len, i, e) ? e : 0;
}

/* ---- street addresses --------------------------------------------------- */

static const struct word street_suffix[] = {
	W("straße"), W("strasse"), W("str."), W("str"), W("weg"), W("gasse"),
	W("allee"), W("platz"), W("ring"), W("damm"), W("ufer"),
	W("chaussee"), W("pfad"), W("steig"), W("stieg"), W("markt"),
	W("hof"), W("berg"), W("feld"), W("graben"), W_END
};

/* Compounds ending like a street that are not streets. */
static const struct word street_stop[] = {
	W("arbeitsplatz"), W("parkplatz"), W("stellplatz"), W("kitaplatz"),
	W("sitzplatz"), W("krippenplatz"), W("studienplatz"),
	W("ausbildungsplatz"), W("pflegeplatz"), W("arbeitsmarkt"),
	W("umweg"), W("rückweg"), W("heimweg"), W("ausweg"), W_END
};

/* Nouns after "am", "im", "in der" ... that are times or rooms. */
static const struct word place_stop[] = {
	W("montag"), W("dienstag"), W("mittwoch"), W("donnerstag"),
	W("freitag"), W("samstag"), W("sonnabend"), W("sonntag"),
	W("wochenende"), W("tag"), W("jahr"), W("monat"), W("woche"),
	W("morgen"), W("abend"), W("mittag"), W("vormittag"),
	W("nachmittag"), W("anfang"), W("ende"), W("zeit"), W("alter"),
	W("januar"), W("februar"), W("märz"), W("april"), W("mai"),
	W("juni"), W("juli"), W("august"), W("september"), W("oktober"),
	W("november"), W("dezember"), W("schalter"), W("zimmer"), W("raum"),
	W("büro"), W("kapitel"), W("punkt"), W("paragraph"), W("paragraf"),
	W("absatz"), W("seite"), W("termin"), W("kasse"), W("platz"),
	W("stock"), W("geschoss"), W("obergeschoss"), W("erdgeschoss"),
	W("gebäude"), W("haus"), W("moment"), W("durchschnitt"),
	W("schritt"), W("bereich"), W("fall"), W("gesamt"), W("schnitt"),
	W("wartebereich"), W("eingang"), W("ausgang"), W_END
};

/* Words before a standalone street word that are not street names. */
static const struct word adj_stop[] = {
	W("der"), W("die"), W("das"), W("den"), W("dem"), W("des"),
	W("eine"), W("meine"), W("deine"), W("seine"), W("ihre"), W("unser"),
	W("unsere"), W("euer"), W("eure"), W("ihr"), W("sie"), W("bitte"),
	W("liebe"), W("jeder"), W("jede"), W("diese"), W("dieser"),
	W("welche"), W("welcher"), W("andere"), W("anderer"), W("keine"),
	W("ohne"), W("nahe"), W("aber"), W("oder"), W("über"), W("unter"),
	W("hinter"), W("vor"), W("hier"), W_END
};

static int street_word(const char *t, size_t s, size_t e, int compound)
{
	const struct word *w;

	for (w = street_suffix; w->s; w++) {
		if (!compound && fold_eq(t, s, e, w))
			return 1;
		/* "Weg 3" or "Platz 1" alone names no street */
		if (compound && e - s > w->n && fold_suffix(t, s, e, w))
			return !fold_in(t, s, e, street_stop);
	}
	return 0;
}

/* Units that make a number a count or amount, not a house number. */
static int unit_follows(const char *t, size_t len, size_t p)
{
	static const struct word units[] = {
		W("euro"), W("eur"), W("€"), W("uhr"), W("prozent"), W("mal"),
		W("jahre"), W("jahren"), W("kinder"), W("personen"),
		W("minuten"), W("stunden"), W("tage"), W("wochen"),
		W("monate"), W("km"), W("m"), W("meter"), W_END
	};
	size_t e;

	if (at(t, len, p) == '%')
		return 1;
	if (at(t, len, p) != ' ')
		return 0;
	p++;
	e = p;
	while (is_letter(at(t, len, e)))
		e++;
	return e > p && fold_in(t, p, e, units);
}

/* "12", "3a", "3 b", "12-14": 1..9999 but no year 1900..2099. */
/* After the number: a range "-14" and a letter "a" or " b"; 0 if the
 * range is too long. */
static size_t house_suffix(const char *t, size_t len, size_t p)
{
	int v, n;

	if ((at(t, len, p) == '-' || at(t, len, p) == '/') &&
	    is_digit(at(t, len, p + 1))) {
		p = read_int(t, len, p + 1, 4, &v, &n);
		if (n > 4)
			return 0;
	}
	if (is_alpha(at(t, len, p)) && !is_word(at(t, len, p + 1)))
		p++;
	else if (at(t, len, p) == ' ' && is_alpha(at(t, len, p + 1)) &&
		 !is_word(at(t, len, p + 2)) && at(t, len, p + 2) != '.')
		p += 2;
	return p;
}

static size_t house_number(const char *t, size_t len, size_t p)
{
	int v, n;

	p = read_int(t, len, p, 4, &v, &n);
	if (n < 1 || n > 4 || v == 0 || (v >= 1900 && v <= 2099))
		return 0;
	p = house_suffix(t, len, p);
	if (!p || !number_ends(t, len, p) || unit_follows(t, len, p))
		return 0;
	return p;
}

/* Where a number starts after the word ending at 'e' ("Str. 7",
 * "Str.7"), or 0. */
static size_t digit_after(const char *t, size_t len, size_t e)
{
	if (at(t, len, e) == ' ' && is_digit(at(t, len, e + 1)))
		return e + 1;
	if (e > 0 && t[e - 1] == '.' && is_digit(at(t, len, e)))
		return e;
	return 0;
}

/* The house number right after the word ending at 'e', or 0. */
static size_t number_after(const char *t, size_t len, size_t e)
{
	size_t p = digit_after(t, len, e);

	return p ? house_number(t, len, p) : 0;
}

/* The word after the one ending at 'e', if one space separates them. */
static int next_word(const char *t, size_t len, size_t e, size_t *s2,
		     size_t *e2)
{
	if (at(t, len, e) != ' ' || !is_letter(at(t, len, e + 1)))
		return 0;
	*s2 = e + 1;
	*e2 = word_end(t, len, e + 1);
	return 1;
}

/* "Am Markt 5", "Im Tal 4": prefix w1, capitalised name w2 + number. */
static size_t address_prefixed(const char *t, size_t len, size_t s1,
			       size_t e1, size_t s2, size_t e2)
{
	static const struct word direct[] = {
		W("am"), W("im"), W("zum"), W("zur"), W("beim"), W_END
	};

	if (!fold_in(t, s1, e1, direct))
		return 0;
	/* "in der Hauptstraße 12": the street word alone is the address */
	if (!is_capital(t, len, s2) || fold_in(t, s2, e2, place_stop) ||
	    t[e2 - 1] == '.' || street_word(t, s2, e2, 1))
		return 0;
	return number_after(t, len, e2);
}

/* "An der Alster 3", "Unter den Linden 7": prefix, article, name. */
static size_t address_article(const char *t, size_t len, size_t s1,
			      size_t e1, size_t s2, size_t e2)
{
	static const struct word prefix[] = {
		W("an"), W("in"), W("auf"), W("unter"), W("hinter"), W_END
	};
	static const struct word article[] = {
		W("der"), W("dem"), W("den"), W("die"), W("das"), W_END
	};
	size_t s3, e3;

	if (e1 - s1 > 6 || !fold_in(t, s1, e1, prefix) ||
	    !fold_in(t, s2, e2, article) || !next_word(t, len, e2, &s3, &e3))
		return 0;
	if (!is_capital(t, len, s3) || fold_in(t, s3, e3, place_stop) ||
	    t[e3 - 1] == '.' || street_word(t, s3, e3, 1))
		return 0;
	return number_after(t, len, e3);
}

/* "Kölner Str. 17", "Alte Gasse 3": capitalised adjective + street word. */
static size_t address_adjective(const char *t, size_t len, size_t s1,
				size_t e1, size_t s2, size_t e2)
{
	unsigned char last = at(t, len, e1 - 1);

	if (!is_capital(t, len, s1) || e1 - s1 < 3 ||
	    (last != 'r' && last != 'e') || !street_word(t, s2, e2, 0) ||
	    fold_in(t, s1, e1, adj_stop))
		return 0;
	return number_after(t, len, e2);
}

/* Can the word [s, e) begin a multi-word street: a prefix such as "am",
 * "an", "im", "unter", or a capitalised word ending in "e" or "r"? */
static int may_lead_street(const char *t, size_t len, size_t s, size_t e)
{
	unsigned char first = (unsigned char)(t[s] | 0x20);
	unsigned char last = (unsigned char)t[e - 1];

	if (e - s <= 6 && (first == 'a' || first == 'i' || first == 'z' ||
			   first == 'b' || first == 'u' || first == 'h'))
		return 1;
	return is_capital(t, len, s) && (last == 'e' || last == 'r');
}

/*
 * An address starting with the word at 'i'.  Every form ends in a house
 * number, so the word lists are consulted only once a number follows.
 */
static size_t address_at(const char *t, size_t len, size_t i, size_t e1)
{
	size_t s2, e2, e;

	if (digit_after(t, len, e1))
		return street_word(t, i, e1, 1) ? number_after(t, len, e1) : 0;
	if (!may_lead_street(t, len, i, e1) || !next_word(t, len, e1, &s2, &e2))
		return 0;
	if (!digit_after(t, len, e2))
		return address_article(t, len, i, e1, s2, e2);
	e = address_prefixed(t, len, i, e1, s2, e2);
	if (!e)
		e = address_adjective(t, len, i, e1, s2, e2);
	return e;
}

/* ---- keywords before an identifier ---------------------------------- */

static int is_kw_sep(unsigned char c)
{
	return c == ' ' || c == '\t' || c == ':' || c == '#' || c == '=';
}

/* The word before 'p', across up to four separators ("Az.: ", "Nr. "). */
static int word_before(const char *t, size_t p, size_t *ws, size_t *we)
{
	size_t skip = 0;

	while (p > 0 && skip < 4 && is_kw_sep((unsigned char)t[p - 1])) {
		p--;
		skip++;
	}
	*we = p;
	if (p > 0 && t[p - 1] == '.')
		p--;
	while (p > 0 && (is_letter((unsigned char)t[p - 1]) || t[p - 1] == '-'))
		p--;
	*ws = p;
	return *we - *ws >= 2 && is_letter((unsigned char)t[*ws]);
}

/* Length of 'word' without a trailing number word ("nummer", "nr.",
 * "-nr"), or -1 when it has none. */
static long strip_number_word(const char *t, size_t s, size_t e)
{
	static const struct word tails[] = {
		W("nummer"), W("nr."), W("nr"), W("no."), W_END
	};
	size_t k = fold_tail_in(t, s, e, tails), n;

	if (!k)
		return -1;
	n = e - s - tails[k - 1].n;
	while (n > 0 && t[s + n - 1] == '-')
		n--;
	return (long)n;
}

/* What a stem before "nummer"/"Nr." names: "Kunden", "Ausweis" ... */
static int stem_class(const char *t, size_t s, size_t e)
{
	static const struct word cases[] = {
		W("vorgangs"), W("antrags"), W("kunden"), W("bescheid"),
		W("steuer"), W("akten"), W("referenz"), W("mitglieds"),
		W("vertrags"), W("buchungs"), W("rechnungs"),
		W("versicherungs"), W("kassen"), W("geschäfts"), W_END
	};
	static const struct word ids[] = {
		W("ausweis"), W("pass"), W("dokumenten"), W("ausweises"),
		W("passes"), W_END
	};
	/* whole word only: "Notfallnummer 112" is no case number */
	static const struct word fall = W("fall");

	if (fold_eq(t, s, e, &fall) || fold_tail_in(t, s, e, cases))
		return KW_CASE;
	return fold_tail_in(t, s, e, ids) ? KW_ID : 0;
}

static int word_class(const char *t, size_t s, size_t e)
{
	static const struct word case_words[] = {
		W("az"), W("az."), W("gz"), W("gz."), W("aktenz."),
		W("zeichen"), W_END
	};
	static const struct word case_tails[] = {
		W("aktenzeichen"), W("geschäftszeichen"), W("kassenzeichen"),
		W_END
	};
	static const struct word id_words[] = {
		W("ausweis"), W("ausweises"), W("personalausweis"),
		W("personalausweises"), W("reisepass"), W("reisepasses"),
		W("pass"), W("passes"), W("passport"), W_END
	};
	long n;

	if (fold_in(t, s, e, case_words) || fold_tail_in(t, s, e, case_tails))
		return KW_CASE;
	if (fold_in(t, s, e, id_words))
		return KW_ID;
	n = strip_number_word(t, s, e);
	if (n == 0)
		return KW_STEM;
	return n > 0 ? stem_class(t, s, s + (size_t)n) : 0;
}

/* Which keyword precedes the identifier at 'i': KW_CASE, KW_ID or 0.
 * "Mein Aktenzeichen lautet 12/345" skips the verb. */
static int keyword_before(const char *t, size_t i)
{
	static const struct word fillers[] = {
		W("lautet"), W("lauten"), W("ist"), W("war"), W("wäre"),
		W("is"), W_END
	};
	size_t ws, we;
	int cls;

	if (!word_before(t, i, &ws, &we))
		return 0;
	if (fold_in(t, ws, we, fillers) && !word_before(t, ws, &ws, &we))
		return 0;
	cls = word_class(t, ws, we);
	if (cls != KW_STEM)
		return cls;
	if (!word_before(t, ws, &ws, &we))
		return 0;
	return stem_class(t, ws, we);
}

/* ---- ID card and case numbers ----------------------------------------- */

/* ICAO 9303: weights 7, 3, 1; letters A=10 .. Z=35. */
static int idcard_check(const char *b)
{
	static const int w[3] = { 7, 3, 1 };
	int k, sum = 0, v;

	for (k = 0; k < 9; k++) {
		v = is_digit((unsigned char)b[k]) ? b[k] - '0' : b[k] - 'A' + 10;
		sum += v * w[k % 3];
	}
	return sum % 10;
}

/*
 * Nine characters from [CFGHJKLMNPRTVWXYZ0-9], a check digit, maybe "D".
 * Without a keyword: letters and digits and a valid check digit.  With a
 * keyword: letters and digits (check digit optional), or ten digits with
 * a valid check digit (old cards).
 */
/* Count letters and digits of the nine-character serial; 0 when a
 * character is outside the alphabet of German documents. */
static int idcard_serial(const char *b, int *letters, int *digits)
{
	int k;

	*letters = *digits = 0;
	for (k = 0; k < 9; k++) {
		if (is_digit((unsigned char)b[k]))
			(*digits)++;
		else if (strchr("CFGHJKLMNPRTVWXYZ", b[k]))
			(*letters)++;
		else
			return 0;
	}
	return 1;
}

/* Mixed serials need the check digit or a keyword; digits only, which
 * could be anything, need both. */
static int idcard_accept(int letters, int digits, int valid, int kw)
{
	if (letters && digits)
		return valid || kw;
	return !letters && valid && kw;
}

static size_t idcard_at(const char *t, size_t len, size_t i, int kw)
{
	char b[11];
	size_t n = 0;
	int letters, digits, valid = 0;

	while (n < 11 && is_alnum(at(t, len, i + n))) {
		b[n] = (char)upper((unsigned char)t[i + n]);
		n++;
	}
	if (is_word(at(t, len, i + n)) || n < 9 || (n == 11 && b[10] != 'D'))
		return 0;
	if (!idcard_serial(b, &letters, &digits))
		return 0;
	if (n >= 10) {
		if (!is_digit((unsigned char)b[9]))
			return 0;
		valid = idcard_check(b) == b[9] - '0';
	}
	return idcard_accept(letters, digits, valid, kw) ? i + n : 0;
}

/* One identifier token: letters, digits and inner ". / -". */
static size_t case_token(const char *t, size_t len, size_t p, int *nd,
			 int *nl)
{
	unsigned char c;

	*nd = *nl = 0;
	for (;; p++) {
		c = at(t, len, p);
		if (is_digit(c))
			(*nd)++;
		else if (is_alpha(c))
			(*nl)++;
		else if (!((c == '.' || c == '/' || c == '-') &&
			   is_alnum(at(t, len, p + 1))))
			break;
	}
	return p;
}

/*
 * The identifier after a case keyword: tokens joined by single spaces,
 * e.g. "3 K 123/26".  A letters-only token joins only when short and
 * capitalised ("K", "BvR"); the identifier ends after the last token
 * with digits and needs two digits in all.
 */
static size_t caseno_at(const char *t, size_t len, size_t i)
{
	size_t p = i, q, last = 0;
	int nd, nl, digits = 0, tokens;

	for (tokens = 0; tokens < 6; tokens++) {
		q = case_token(t, len, p, &nd, &nl);
		if (q == p || is_word(at(t, len, q)) || q - i > 48)
			break;
		if (nd) {
			digits += nd;
			last = q;
		} else if (nl > 4 || !is_capital(t, len, p)) {
			break;
		}
		if (at(t, len, q) != ' ' || !is_alnum(at(t, len, q + 1)))
			break;
		p = q + 1;
	}
	return digits >= 2 ? last : 0;
}

/*
 * Can the word [i, e) start an identifier: it goes on with a digit or
 * "/ -" ("T22000129", "AB-12"), or it is a short capitalised code before
 * a number ("AB 123")?  Plain words, the common case, stop here.
 */
static int word_leads_identifier(const char *t, size_t len, size_t i,
				 size_t e)
{
	unsigned char c = at(t, len, e);

	if (is_digit(c) ||
	    ((c == '.' || c == '/' || c == '-') && is_alnum(at(t, len, e + 1))))
		return 1;
	return e - i <= 4 && is_capital(t, len, i) && c == ' ' &&
	       is_digit(at(t, len, e + 1));
}

/* ID card and case numbers starting at 'i', whose first byte is ASCII. */
static void scan_identifier(struct scanner *s, size_t i)
{
	size_t e;
	int kw;

	kw = keyword_before(s->t, i);
	e = idcard_at(s->t, s->len, i, kw == KW_ID);
	if (e)
		emit(s, PII_IDCARD, i, e);
	if (kw == KW_CASE) {
		e = caseno_at(s->t, s->len, i);
		if (e)
			emit(s, PII_CASENO, i, e);
	}
}

/* ---- the scan ------------------------------------------------------------ */

static void scan_digit(struct scanner *s, size_t i)
{
	size_t e;

	e = taxid_at(s->t, s->len, i);
	if (e)
		emit(s, PII_TAXID, i, e);
	if (s->t[i] == '0') {
		e = phone_at(s->t, s->len, i);
		if (e)
			emit(s, PII_PHONE, i, e);
	}
	e = birthdate_at(s->t, s->len, i);
	if (e)
		emit(s, PII_BIRTHDATE, i, e);
	scan_identifier(s, i);
}

/* Returns the end of the word at 'i', which the caller may skip. */
static size_t scan_letter(struct scanner *s, size_t i)
{
	size_t w = word_end(s->t, s->len, i), e;
	int ascii = is_alpha((unsigned char)s->t[i]);

	if (ascii && w - i == 2)
		scan_iban(s, i);
	e = w - i >= 2 ? address_at(s->t, s->len, i, w) : 0;
	if (e)
		emit(s, PII_ADDRESS, i, e);
	if (ascii && word_leads_identifier(s->t, s->len, i, w))
		scan_identifier(s, i);
	return w;
}

/* Run the detectors that can start at 'i'; returns the last byte they
 * have covered, which no other detector can start in. */
static size_t scan_at(struct scanner *s, size_t i)
{
	unsigned char c = (unsigned char)s->t[i];
	size_t e;

	if (i == s->at_start)
		scan_email(s, i);
	if (is_nbsp(s->t, s->len, i))
		return i + 1;
	if (!starts_word(s->t, i))
		return i;
	if (is_digit(c)) {
		scan_digit(s, i);
	} else if (is_alpha(c) || c >= 0xC0) {
		return scan_letter(s, i) - 1;
	} else if (c == '+' || c == '(') {
		e = phone_at(s->t, s->len, i);
		if (e)
			emit(s, PII_PHONE, i, e);
	}
	return i;
}

/*
 * Skip the rest of the word at 'i': no detector starts inside a word.  An
 * e-mail's local part starts after a non-word byte, so it is never
 * skipped; a no-break space ends the word.  Returns the last byte.
 */
static size_t word_rest(const char *t, size_t len, size_t i)
{
	if (!is_word((unsigned char)t[i]) || is_nbsp(t, len, i - (i > 0)))
		return i;
	while (i + 1 < len && is_word((unsigned char)t[i + 1]) &&
	       !is_nbsp(t, len, i + 1))
		i++;
	return i;
}

/* Every kind holds a digit except e-mail, which holds an '@': most
 * questions have neither and are done here. */
static int worth_scanning(const char *t, size_t len, size_t from)
{
	size_t p;

	for (p = from; p < len; p++)
		if (is_digit((unsigned char)t[p]) || t[p] == '@')
			return 1;
	return 0;
}

size_t pii_scan_from(const char *text, size_t len, size_t from,
		     struct pii_result *res)
{
	struct scanner s;
	size_t i;

	res->n = 0;
	res->truncated = 0;
	if (!text)
		len = 0;
	memset(&s, 0, sizeof(s));
	s.t = text;
	s.len = len;
	s.res = res;
	if (!worth_scanning(text, len, from))
		return 0;
	next_at(&s, from);
	for (i = from; i < len && !s.stop; i++) {
		if (i > s.at)
			next_at(&s, i);
		i = word_rest(text, len, scan_at(&s, i));
	}
	if (!s.stop)
		flush(&s);
	return res->n;
}

size_t pii_scan(const char *text, size_t len, struct pii_result *res)
{
	return pii_scan_from(text, len, 0, res);
}

/* ---- redaction and names ------------------------------------------------- */

static int check_hits(size_t len, const struct pii_result *res)
{
	size_t k, pos = 0;

	if (res->n > PII_MAX_HITS)
		return BOT_EINVAL;
	for (k = 0; k < res->n; k++) {
		const struct pii_hit *h = &res->hit[k];

		if ((unsigned int)h->kind >= PII_KIND_COUNT || h->start < pos ||
		    h->end <= h->start || h->end > len)
			return BOT_EINVAL;
		pos = h->end;
	}
	if (res->truncated && res->n == 0)
		return BOT_EINVAL;
	return BOT_OK;
}

static int redact_hits(const char *text, const struct pii_result *res,
		       size_t *pos, struct strbuf *out)
{
	size_t k;

	for (k = 0; k < res->n; k++) {
		const struct pii_hit *h = &res->hit[k];

		if (strbuf_add(out, text + *pos, h->start - *pos) ||
		    strbuf_adds(out, pii_label(h->kind)))
			return BOT_ENOMEM;
		*pos = h->end;
	}
	return BOT_OK;
}

int pii_redact(const char *text, size_t len, const struct pii_result *res,
	       struct strbuf *out)
{
	struct pii_result more;
	size_t pos = 0;
	int rc;

	if (!text)
		len = 0;
	rc = check_hits(len, res);
	if (rc)
		return rc;
	for (;;) {
		rc = redact_hits(text, res, &pos, out);
		if (rc || !res->truncated)
			break;
		pii_scan_from(text, len, pos, &more);
		res = &more;
	}
	if (rc)
		return rc;
	return strbuf_add(out, text ? text + pos : "", len - pos);
}

const char *pii_kind_name(enum pii_kind kind)
{
	static const char *const names[PII_KIND_COUNT] = {
		"iban", "tax_id", "email", "phone", "birth_date", "address",
		"id_card", "case_number"
	};

	return (unsigned int)kind < PII_KIND_COUNT ? names[kind] : "unknown";
}

const char *pii_label(enum pii_kind kind)
{
	static const char *const labels[PII_KIND_COUNT] = {
		"[IBAN]", "[Steuer-ID]", "[E-Mail]", "[Telefon]",
		"[Geburtsdatum]", "[Adresse]", "[Ausweisnummer]",
		"[Aktenzeichen]"
	};

	return (unsigned int)kind < PII_KIND_COUNT ? labels[kind] : "[?]";
}
