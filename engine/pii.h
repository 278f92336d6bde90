/*
 * pii.h - personal data in citizens' messages: detection with check
 * digits where the format has them, and redaction for storage.
 *
 * Conservative on purpose: a false alarm hands a citizen to a person, a
 * miss stores personal data.  But dates, fees, paragraph numbers, office
 * postcodes, counts ("2 Hunde") and years are not personal data.
 */
#ifndef PII_H
#define PII_H

#include <stddef.h>
#include "bot.h"

struct strbuf;

enum pii_kind {
	PII_IBAN,		/* IBAN with valid mod-97 check digits */
	PII_TAXID,		/* Steuer-Identifikationsnummer, valid check digit */
	PII_EMAIL,
	PII_PHONE,
	PII_BIRTHDATE,		/* a date said to be a birth date, or a full date before 2012 */
	PII_ADDRESS,		/* street name with house number */
	PII_IDCARD,		/* Personalausweis/Reisepass number with check digit */
	PII_CASENO,		/* Aktenzeichen, Kassenzeichen, Vorgangsnummer ... */
	PII_KIND_COUNT
};

#define PII_MAX_HITS 32

struct pii_hit {
	enum pii_kind kind;
	size_t start, end;	/* byte range in the scanned text */
};

struct pii_result {
	struct pii_hit hit[PII_MAX_HITS];
	size_t n;
};

/* Scan UTF-8 'text'.  Fills 'res' (sorted by start, not overlapping) and
 * returns the number of hits.  Never allocates. */
size_t pii_scan(const char *text, size_t len, struct pii_result *res);

/* Append 'text' to 'out' with every hit replaced by "[IBAN]", "[E-Mail]" ...
 * (pii_label()).  Returns BOT_OK or BOT_ENOMEM. */
int pii_redact(const char *text, size_t len, const struct pii_result *res,
	       struct strbuf *out) BOT_WUR;

/* "iban", "tax_id", "email", "phone", "birth_date", "address", "id_card",
 * "case_number". */
const char *pii_kind_name(enum pii_kind kind);
/* "[IBAN]", "[Steuer-ID]", "[E-Mail]", "[Telefon]", "[Geburtsdatum]",
 * "[Adresse]", "[Ausweisnummer]", "[Aktenzeichen]". */
const char *pii_label(enum pii_kind kind);

#endif /* PII_H */
