/*
 * pii.h - personal data in citizens' messages: detection with check
 * digits where the format has them, and redaction for storage.
 *
 * Conservative on purpose: a false alarm hands a citizen to a person, a
 * miss stores personal data.  But dates, fees, paragraph numbers, office
 * postcodes, counts ("2 Hunde") and years are not personal data.
 *
 * The scanner is stateless, hand-written (no regex), never allocates and
 * keeps no global state, so it may be called from any thread.  Input is
 * any bytes; it is meant for UTF-8 text in any letter case.
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
	size_t start, end;	/* byte range in the scanned text, start < end */
};

struct pii_result {
	struct pii_hit hit[PII_MAX_HITS];
	size_t n;
	/*
	 * 1 when the text holds more than PII_MAX_HITS hits: everything from
	 * hit[n - 1].end on was not reported.  pii_redact() rescans that
	 * tail itself, so its output is complete either way.
	 */
	int truncated;
};

/*
 * Scan 'len' bytes of 'text'.  Fills 'res' (sorted by start, not
 * overlapping, inside the text) and returns res->n.  When candidates
 * overlap, the longer one (on a tie the more specific kind) names the hit
 * and the hit covers all of them, so no fragment is left behind.  'text'
 * may be NULL when 'len' is 0.  Never allocates.
 */
size_t pii_scan(const char *text, size_t len, struct pii_result *res);

/*
 * Like pii_scan(), but report only hits starting at or after byte 'from'
 * (the text before it is still read as context, e.g. "geb." before a
 * date).  Used to continue after a truncated result.
 */
size_t pii_scan_from(const char *text, size_t len, size_t from,
		     struct pii_result *res);

/*
 * Append 'text' to 'out' with every hit replaced by "[IBAN]", "[E-Mail]" ...
 * (pii_label()).  'res' must come from pii_scan() of the same text; if it
 * is truncated the rest is scanned here.  Returns BOT_OK, BOT_ENOMEM
 * (allocation failed or the cap of 'out' was hit; 'out' then holds a
 * redacted prefix, never unredacted hit bytes) or BOT_EINVAL (a hit lies
 * outside the text or out of order; nothing is appended).
 */
int pii_redact(const char *text, size_t len, const struct pii_result *res,
	       struct strbuf *out) BOT_WUR;

/* "iban", "tax_id", "email", "phone", "birth_date", "address", "id_card",
 * "case_number"; "unknown" for values out of range.  Static strings. */
const char *pii_kind_name(enum pii_kind kind);
/* "[IBAN]", "[Steuer-ID]", "[E-Mail]", "[Telefon]", "[Geburtsdatum]",
 * "[Adresse]", "[Ausweisnummer]", "[Aktenzeichen]"; "[?]" out of range. */
const char *pii_label(enum pii_kind kind);

#endif /* PII_H */
