/*
 * test_pii.c - personal-data detection and redaction (engine/pii.c).
 * Most cases are rows of "what a citizen types" -> "what we store", so a
 * new case needs no new C; the rest check hit ranges, kinds, check-digit
 * failures, the hit limit and redaction errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/pii.h"
#include "engine/strbuf.h"

struct row {
	const char *in;
	const char *out;	/* expected redaction; NULL = unchanged */
};

/* ---- helpers -------------------------------------------------------- */

/* The promises of pii.h: sorted, not overlapping, non-empty, inside. */
static void check_invariants(const char *text, size_t len,
			     const struct pii_result *res)
{
	size_t k, pos = 0;

	(void)text;
	assert_true(res->n <= PII_MAX_HITS);
	for (k = 0; k < res->n; k++) {
		assert_true(res->hit[k].start >= pos);
		assert_true(res->hit[k].end > res->hit[k].start);
		assert_true(res->hit[k].end <= len);
		assert_true((unsigned int)res->hit[k].kind < PII_KIND_COUNT);
		pos = res->hit[k].end;
	}
}

/* Scan and redact 'in'; the result is owned by the caller. */
static char *redact(const char *in, struct pii_result *res)
{
	struct strbuf sb;
	size_t len = strlen(in);

	strbuf_init(&sb, 0);
	pii_scan(in, len, res);
	check_invariants(in, len, res);
	assert_int_equal(pii_redact(in, len, res, &sb), BOT_OK);
	return strbuf_detach(&sb);
}

static void run_rows(const struct row *rows, size_t n)
{
	struct pii_result res;
	size_t k;

	for (k = 0; k < n; k++) {
		char *got = redact(rows[k].in, &res);
		const char *want = rows[k].out ? rows[k].out : rows[k].in;

		if (strcmp(got, want) != 0)
			print_message("input: '%s'\n", rows[k].in);
		assert_string_equal(got, want);
		bot_free(got);
	}
}

#define RUN(rows) run_rows(rows, BOT_ARRAY_SIZE(rows))

/* Exactly one hit of 'kind' covering the substring 'what' of 'in'. */
static void expect_one(const char *in, enum pii_kind kind, const char *what)
{
	struct pii_result res;
	const char *p = strstr(in, what);

	assert_non_null(p);
	pii_scan(in, strlen(in), &res);
	if (res.n != 1)
		print_message("input: '%s'\n", in);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.hit[0].kind, kind);
	assert_int_equal(res.hit[0].start, (size_t)(p - in));
	assert_int_equal(res.hit[0].end, (size_t)(p - in) + strlen(what));
}

static void expect_none(const char *in)
{
	struct pii_result res;

	pii_scan(in, strlen(in), &res);
	if (res.n != 0)
		print_message("input: '%s' -> %s at %zu\n", in,
			      pii_kind_name(res.hit[0].kind), res.hit[0].start);
	assert_int_equal(res.n, 0);
}

/* ---- IBAN -------------------------------------------------------------- */

static void test_iban(void **state)
{
	static const struct row rows[] = {
		{ "Meine IBAN ist DE89 3704 0044 0532 0130 00.",
		  "Meine IBAN ist [IBAN]." },
		{ "DE89370400440532013000", "[IBAN]" },
		{ "iban: de89 3704 0044 0532 0130 00 danke",
		  "iban: [IBAN] danke" },
		{ "AT61 1904 3002 3457 3201", "[IBAN]" },
		{ "CH93 0076 2011 6238 5295 7", "[IBAN]" },
		{ "NL91ABNA0417164300", "[IBAN]" },
		{ "FR14 2004 1010 0505 0001 3M02 606", "[IBAN]" },
		{ "BE68 5390 0754 7034", "[IBAN]" },
		{ "GB29 NWBK 6016 1331 9268 19 (UK)", "[IBAN] (UK)" },
		{ "Überweisung an DE89 3704 0044 0532 0130 00 für Müller",
		  "Überweisung an [IBAN] für Müller" },
	};

	(void)state;
	RUN(rows);
	expect_one("IBAN DE89 3704 0044 0532 0130 00", PII_IBAN,
		   "DE89 3704 0044 0532 0130 00");
}

/*
 * Decision: an IBAN-shaped string whose mod-97 check fails is reported as
 * nothing at all.  It is not a usable account number, and the phone
 * scanner must not label its digit groups ("0044 0532 ...") either.
 */
static void test_iban_bad_checksum(void **state)
{
	(void)state;
	expect_none("IBAN DE89 3704 0044 0532 0130 01");
	expect_none("DE88 3704 0044 0532 0130 00");
	expect_none("AT61 1904 3002 3457 3202");
	/* DE needs 22 characters; one short or one long is no IBAN */
	expect_none("DE89 3704 0044 0532 0130 0");
	expect_none("DE89 3704 0044 0532 0130 000");
	/* glued to a word: not at a word start */
	expect_none("xDE89370400440532013000");
}

/* ---- Steuer-ID -------------------------------------------------------- */

static void test_taxid(void **state)
{
	static const struct row rows[] = {
		{ "Steuer-ID 86095742719", "Steuer-ID [Steuer-ID]" },
		{ "IdNr: 86 095 742 719.", "IdNr: [Steuer-ID]." },
		{ "36574261809", "[Steuer-ID]" },
		{ "meine ID ist 47152860436, danke",
		  "meine ID ist [Steuer-ID], danke" },
		/* one digit three times, not in a row */
		{ "51029384553", "[Steuer-ID]" },
		{ "12114567890 und 29384756120",
		  "[Steuer-ID] und [Steuer-ID]" },
	};

	(void)state;
	RUN(rows);
	expect_one("Nummer 86095742719 bitte", PII_TAXID, "86095742719");
}

static void test_taxid_invalid(void **state)
{
	(void)state;
	expect_none("36574261890");	/* wrong check digit */
	expect_none("36554266806");	/* two digits repeated */
	expect_none("11156789021");	/* a digit three times in a row */
	/* a leading zero: no Steuer-ID, but shaped like a phone number */
	expect_one("06095742719", PII_PHONE, "06095742719");
	expect_none("860957427190");	/* twelve digits */
	expect_none("8609574271");	/* ten digits */
	expect_none("86095742719,50");	/* an amount */
	expect_none("1234567890 1");	/* all digits once: no repetition */
}

/* ---- e-mail ---------------------------------------------------------- */

static void test_email(void **state)
{
	static const struct row rows[] = {
		{ "Schreiben Sie an max.mustermann@example.de bitte",
		  "Schreiben Sie an [E-Mail] bitte" },
		{ "mail: Jörg.Müller+amt@sub.stadt-musterstadt.de.",
		  "mail: [E-Mail]." },
		{ "a@b.de", "[E-Mail]" },
		{ "(info_2026@mail.example.com)", "([E-Mail])" },
		{ "x@y.de,z@w.org", "[E-Mail],[E-Mail]" },
		{ "Grüße, anna-lena.schmidt@web.de", "Grüße, [E-Mail]" },
	};

	(void)state;
	RUN(rows);
	expect_none("max@localhost");
	expect_none("@example.de");
	expect_none("Preis @ 5 Euro");
	expect_none("a@b.c");
	expect_none("a@b.123");
	expect_none("foo@.de");
}

/* ---- telephone --------------------------------------------------------- */

static void test_phone(void **state)
{
	static const struct row rows[] = {
		{ "Rufen Sie mich unter 0171 1234567 an",
		  "Rufen Sie mich unter [Telefon] an" },
		{ "0171/1234567", "[Telefon]" },
		{ "Tel.: +49 171 1234567.", "Tel.: [Telefon]." },
		{ "0049 221 123456", "[Telefon]" },
		{ "(0221) 12 34 56", "[Telefon]" },
		{ "Festnetz 0221-123456, Handy +491711234567",
		  "Festnetz [Telefon], Handy [Telefon]" },
		{ "+49 (0) 221 123456", "[Telefon]" },
		{ "Büro 030 / 123 456 78", "Büro [Telefon]" },
	};

	(void)state;
	RUN(rows);
	expect_one("erreichbar (ab 18 Uhr) unter 0171 1234567", PII_PHONE,
		   "0171 1234567");
	/* digit groups past 17 digits end the number, not the hit */
	expect_one("Tel 0171 1234567 2 3 4 5 6 7 8 9 1 2", PII_PHONE,
		   "0171 1234567 2 3 4 5 6 7");
}

static void test_phone_negatives(void **state)
{
	(void)state;
	expect_none("Die Behördennummer 115 hilft weiter");
	expect_none("Im Jahr 2026 habe ich 2 Hunde");
	expect_none("Das kostet 37 Euro nach § 17");
	expect_none("PLZ 12345 Musterstadt");
	expect_none("PLZ 01067 Dresden");
	expect_none("Öffnungszeiten 08:00 bis 12:00");
	expect_none("Termin am 03.12.2026");
	expect_none("Gebühr 22,80 Euro, ermäßigt 0,50 Euro");
	expect_none("05-01-2026 oder 05/01/2026");
	expect_none("ruf an: 0 17 1 2 3");
	expect_none("Die Nummer 012345");	/* six digits only */
}

/* ---- birth dates -------------------------------------------------------- */

static void test_birthdate(void **state)
{
	static const struct row rows[] = {
		{ "Ich bin geboren am 03.04.1985", "Ich bin geboren am [Geburtsdatum]" },
		{ "geb. 3.4.85", "geb. [Geburtsdatum]" },
		{ "Geburtsdatum: 1985-04-03", "Geburtsdatum: [Geburtsdatum]" },
		{ "Mein Geburtstag ist der 3. April 1985.",
		  "Mein Geburtstag ist der [Geburtsdatum]." },
		{ "Er ist am 3.4.2015 geboren.", "Er ist am [Geburtsdatum] geboren." },
		{ "Geburtstagsdatum meiner Tochter: 12. Mai 2016",
		  "Geburtstagsdatum meiner Tochter: [Geburtsdatum]" },
		{ "birthday 01/02/2019", "birthday [Geburtsdatum]" },
		/* a full date before 2012 needs no keyword */
		{ "Mein Sohn (12.06.2005) braucht einen Ausweis",
		  "Mein Sohn ([Geburtsdatum]) braucht einen Ausweis" },
		{ "29.02.1984", "[Geburtsdatum]" },
	};

	(void)state;
	RUN(rows);
	expect_one("geboren am 3. März 1970 in Köln", PII_BIRTHDATE,
		   "3. März 1970");
}

static void test_birthdate_negatives(void **state)
{
	(void)state;
	expect_none("Geht das am 24.12.?");
	expect_none("Die Frist läuft bis 31.12.2026");
	expect_none("seit dem 1.1.2025 gilt die neue Gebühr");
	expect_none("Im Jahr 2026");
	expect_none("Termin am 03.12.2026 um 10 Uhr");
	expect_none("Gebühr bis 31.12.2026");	/* "Geb" of Gebühr is no keyword */
	expect_none("geboren am 31.02.1990");	/* no such day */
	expect_none("geboren am 29.02.1985");	/* no leap year */
	expect_none("Kapitel 3. Absatz 2");
	expect_none("Version 1.2.3");
}

/* ---- addresses ----------------------------------------------------------- */

static void test_address(void **state)
{
	static const struct row rows[] = {
		{ "Ich wohne in der Hauptstraße 12.",
		  "Ich wohne in der [Adresse]." },
		{ "Lindenweg 3a, Am Markt 5, Kölner Str. 17, Bahnhofstr 4",
		  "[Adresse], [Adresse], [Adresse], [Adresse]" },
		{ "An der Alster 12-14 und Auf dem Berg 3 b",
		  "[Adresse] und [Adresse]" },
		{ "wohnhaft ÖLMÜHLENWEG 3, 12345 Musterstadt",
		  "wohnhaft [Adresse], 12345 Musterstadt" },
		{ "Karl-Marx-Allee 90/92", "[Adresse]" },
		/* a street word alone is the address, "am" stays */
		{ "ich wohne am Hauptbahnhof 3", "ich wohne am [Adresse]" },
		{ "Berliner Platz 1", "[Adresse]" },
		{ "Unter den Linden 77", "[Adresse]" },
	};

	(void)state;
	RUN(rows);
	expect_one("Post an Kölner Str. 17 bitte", PII_ADDRESS,
		   "Kölner Str. 17");
}

static void test_address_negatives(void **state)
{
	(void)state;
	expect_none("Siehe Kapitel 5, Punkt 3");
	expect_none("nach § 45 StVO");
	expect_none("Platz 1 im Wartebereich");
	expect_none("Nehmen Sie Platz 1");
	expect_none("am Montag 5 Personen");
	expect_none("im Jahr 2010");
	expect_none("im Zimmer 204");
	expect_none("Der Parkplatz 3 ist frei");
	expect_none("Hauptstraße 2026");	/* a year, not a house number */
	expect_none("Marktplatz 3 Euro");
	expect_none("Hauptstraße 12345");	/* five digits: a postcode */
}

/* ---- ID cards ------------------------------------------------------------ */

static void test_idcard(void **state)
{
	static const struct row rows[] = {
		/* T22000129 + check digit 3 (7-3-1 weights) */
		{ "T220001293", "[Ausweisnummer]" },
		{ "Nummer t220001293d", "Nummer [Ausweisnummer]" },
		{ "Ausweisnummer T22000129", "Ausweisnummer [Ausweisnummer]" },
		{ "Mein Ausweis-Nr. ist L01X00T47",
		  "Mein Ausweis-Nr. ist [Ausweisnummer]" },
		{ "Personalausweisnummer: 1220001297",
		  "Personalausweisnummer: [Ausweisnummer]" },
		{ "Passnummer C01X00T478", "Passnummer [Ausweisnummer]" },
		{ "Ausweis Nr. LZ6311T47", "Ausweis Nr. [Ausweisnummer]" },
	};

	(void)state;
	RUN(rows);
	expect_one("Dokumentennummer T22000129.", PII_IDCARD, "T22000129");
}

static void test_idcard_negatives(void **state)
{
	(void)state;
	expect_none("T220001294");	/* wrong check digit, no keyword */
	expect_none("T22000129");	/* no check digit, no keyword */
	expect_none("1220001297");	/* digits only need a keyword */
	expect_none("Ausweisnummer 1220001298");	/* ... and the check */
	expect_none("Ausweisnummer vergessen");
	expect_none("Personalausweis beantragen");
	expect_none("Ausweisnummer ABCDEFGHI");	/* no digit */
	expect_none("Ausweisnummer T2200A129");	/* 'A' is not used */
}

/* ---- case numbers -------------------------------------------------------- */

/*
 * Decision: the hit covers the identifier only, so the stored text keeps
 * the keyword readable: "Aktenzeichen [Aktenzeichen]".
 */
static void test_caseno(void **state)
{
	static const struct row rows[] = {
		{ "Aktenzeichen 12/345-AB", "Aktenzeichen [Aktenzeichen]" },
		{ "Az. 3 K 123/26 bitte", "Az. [Aktenzeichen] bitte" },
		{ "Kassenzeichen 5.310.123.456.", "Kassenzeichen [Aktenzeichen]." },
		{ "Vorgangsnummer 2026-004711", "Vorgangsnummer [Aktenzeichen]" },
		{ "Steuernummer 133/8150/8159", "Steuernummer [Aktenzeichen]" },
		{ "Mein Aktenzeichen lautet AB 123", "Mein Aktenzeichen lautet [Aktenzeichen]" },
		{ "AZ: 12 O 345/21", "AZ: [Aktenzeichen]" },
		{ "Geschäftszeichen: III-2026/17", "Geschäftszeichen: [Aktenzeichen]" },
		{ "Kunden-Nr. 4711", "Kunden-Nr. [Aktenzeichen]" },
		{ "Ihr Zeichen: AB/12", "Ihr Zeichen: [Aktenzeichen]" },
		{ "Antragsnummer A-77 und Fallnummer 2026/5",
		  "Antragsnummer [Aktenzeichen] und Fallnummer [Aktenzeichen]" },
	};

	(void)state;
	RUN(rows);
	expect_one("Bescheidnummer 2026/0815, danke", PII_CASENO,
		   "2026/0815");
}

static void test_caseno_negatives(void **state)
{
	(void)state;
	expect_none("Wie finde ich mein Aktenzeichen?");
	expect_none("Aktenzeichen 5");		/* one digit */
	expect_none("Notfallnummer 112");
	expect_none("Hausnummer 12");
	expect_none("Aktenzeichen Abcdef 12");	/* a word, not a code */
	expect_none("Zeichen");
}

/* ---- mixed texts, overlaps, edges ---------------------------------------- */

static void test_mixed(void **state)
{
	static const struct row rows[] = {
		{ "Tel 0171 1234567, Mail a@b.de, IBAN DE89 3704 0044 0532 "
		  "0130 00, Hauptstraße 1",
		  "Tel [Telefon], Mail [E-Mail], IBAN [IBAN], [Adresse]" },
		{ "Ich, geb. 03.04.1985, wohne Am Anger 3 (Tel. 0221-123456), "
		  "Steuer-ID 86095742719.",
		  "Ich, geb. [Geburtsdatum], wohne [Adresse] (Tel. [Telefon]), "
		  "Steuer-ID [Steuer-ID]." },
		/* hits at the very start and end */
		{ "0171 1234567", "[Telefon]" },
		{ "a@b.de Hauptstraße 1", "[E-Mail] [Adresse]" },
		/* umlauts glued to hits */
		{ "Müller:0171 1234567;Grüße", "Müller:[Telefon];Grüße" },
		{ "Straße: Weiße Gasse 3ä", NULL },
		{ "über DE89370400440532013000ß", NULL },
		/* a no-break space before the number */
		{ "Tel.\xc2\xa0" "0171 1234567", "Tel.\xc2\xa0[Telefon]" },
		{ "", NULL },
	};

	(void)state;
	RUN(rows);
}

/* Overlapping candidates become one hit covering all of them, named by
 * the longest, on a tie by the more specific kind. */
static void test_overlap(void **state)
{
	struct pii_result res;
	const char *in = "Steuernummer 86095742719";

	(void)state;
	/* a case number and a Steuer-ID on the same bytes: the more
	 * specific kind wins the tie */
	expect_one(in, PII_TAXID, "86095742719");
	/* the IBAN contains "0044 0532 0130 00", a phone-like run */
	pii_scan("DE89 3704 0044 0532 0130 00", 27, &res);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.hit[0].kind, PII_IBAN);
	assert_int_equal(res.hit[0].start, 0);
	assert_int_equal(res.hit[0].end, 27);
}

static void test_max_hits(void **state)
{
	struct pii_result res;
	struct strbuf sb;
	char text[2048], want[2048];
	size_t len = 0, wlen = 0, k;

	(void)state;
	for (k = 0; k < PII_MAX_HITS + 8; k++) {
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"a%zu@b.de, ", k);
		wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen,
					 "[E-Mail], ");
	}
	assert_int_equal(pii_scan(text, len, &res), PII_MAX_HITS);
	assert_int_equal(res.truncated, 1);
	check_invariants(text, len, &res);

	/* redaction rescans the tail: no address survives */
	strbuf_init(&sb, 0);
	assert_int_equal(pii_redact(text, len, &res, &sb), BOT_OK);
	assert_string_equal(sb.buf, want);
	strbuf_release(&sb);

	/* the tail, scanned on its own, starts after the last hit */
	pii_scan_from(text, len, res.hit[PII_MAX_HITS - 1].end, &res);
	assert_int_equal(res.n, 8);
	assert_int_equal(res.truncated, 0);

	/* exactly PII_MAX_HITS hits is not truncated: "a0@b.de, " is 9
	 * bytes, "a10@b.de, " 10 */
	assert_int_equal(pii_scan(text, 10 * 9 + 22 * 10, &res), 32);
	assert_int_equal(res.truncated, 0);
}

static void test_redact_errors(void **state)
{
	struct pii_result res;
	struct strbuf sb;
	const char *in = "Tel 0171 1234567";

	(void)state;
	strbuf_init(&sb, 0);
	pii_scan(in, strlen(in), &res);
	assert_int_equal(res.n, 1);

	/* a hit past the end or out of order: refused, nothing appended */
	res.hit[0].end = 99;
	assert_int_equal(pii_redact(in, strlen(in), &res, &sb), BOT_EINVAL);
	assert_int_equal(sb.len, 0);
	res.hit[0].end = 16;
	res.hit[0].kind = PII_KIND_COUNT;
	assert_int_equal(pii_redact(in, strlen(in), &res, &sb), BOT_EINVAL);
	res.hit[0].kind = PII_PHONE;

	/* allocation failure */
	bot_alloc_fail_after(1);
	assert_int_equal(pii_redact(in, strlen(in), &res, &sb), BOT_ENOMEM);
	bot_alloc_fail_after(0);
	strbuf_release(&sb);

	/* a small cap: the output never holds the raw number */
	strbuf_init(&sb, 8);
	assert_int_equal(pii_redact(in, strlen(in), &res, &sb), BOT_ENOMEM);
	assert_null(strstr(strbuf_str(&sb), "0171"));
	strbuf_release(&sb);

	/* NULL text with length 0 */
	assert_int_equal(pii_scan(NULL, 0, &res), 0);
	strbuf_init(&sb, 0);
	assert_int_equal(pii_redact(NULL, 0, &res, &sb), BOT_OK);
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_release(&sb);
}

static void test_names(void **state)
{
	static const char *const names[PII_KIND_COUNT] = {
		"iban", "tax_id", "email", "phone", "birth_date", "address",
		"id_card", "case_number"
	};
	static const char *const labels[PII_KIND_COUNT] = {
		"[IBAN]", "[Steuer-ID]", "[E-Mail]", "[Telefon]",
		"[Geburtsdatum]", "[Adresse]", "[Ausweisnummer]",
		"[Aktenzeichen]"
	};
	int k;

	(void)state;
	for (k = 0; k < PII_KIND_COUNT; k++) {
		assert_string_equal(pii_kind_name((enum pii_kind)k), names[k]);
		assert_string_equal(pii_label((enum pii_kind)k), labels[k]);
	}
	assert_string_equal(pii_kind_name(PII_KIND_COUNT), "unknown");
	assert_string_equal(pii_label((enum pii_kind)-1), "[?]");
}

/* Everyday questions must come through untouched. */
static void test_plain_questions(void **state)
{
	static const char *const qs[] = {
		"Wann hat das Bürgeramt am Montag geöffnet?",
		"Was kostet ein Reisepass für 2 Kinder unter 12 Jahren?",
		"Ich brauche bis 15.01.2027 einen Termin für 3 Personen.",
		"Kann ich die 22,80 € Gebühr mit Karte zahlen?",
		"Wo ist Zimmer 0.12 im 2. Stock?",
		"Gilt § 45 Abs. 2 StVO auch für Anwohner?",
		"Sperrmüll: max. 3 m³, Abholung ab 7:00 Uhr",
		"Wie lange dauert ein Personalausweis? 3 bis 4 Wochen?",
		"Ruf 115 an oder komm am 2. Mai vorbei",
		"Bitte Formular A12 und Anlage 3 ausfüllen.",
	};
	size_t k;

	(void)state;
	for (k = 0; k < BOT_ARRAY_SIZE(qs); k++)
		expect_none(qs[k]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iban),
		cmocka_unit_test(test_iban_bad_checksum),
		cmocka_unit_test(test_taxid),
		cmocka_unit_test(test_taxid_invalid),
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_phone),
		cmocka_unit_test(test_phone_negatives),
		cmocka_unit_test(test_birthdate),
		cmocka_unit_test(test_birthdate_negatives),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_address_negatives),
		cmocka_unit_test(test_idcard),
		cmocka_unit_test(test_idcard_negatives),
		cmocka_unit_test(test_caseno),
		cmocka_unit_test(test_caseno_negatives),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_max_hits),
		cmocka_unit_test(test_redact_errors),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_plain_questions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
