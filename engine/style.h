/*
 * style.h - plain language in the texts citizens read: sentences that are
 * too long and bureaucratic words with a plainer one to use, as warnings
 * for 'amtsbot check'.  The word list and the sentence limit come from the
 * kb's 'plain_language:' section (format: intents/README.md).
 *
 * Stateless; never allocates except through kb_diag_add().
 */
#ifndef STYLE_H
#define STYLE_H

#include <stddef.h>
#include "bot.h"

struct kb;

/* One sentence of a text: bytes [start, end) and its number of words. */
struct style_sentence {
	size_t start, end;
	int words;
};

/*
 * Find the next sentence of 'text' at or after byte '*pos' and advance
 * '*pos'.  Returns 1 and fills 's', or 0 at the end.  A sentence ends at
 * a line break, or at '.', '!' or '?' before a space or the end, but not
 * after an abbreviation ("z. B.", "ca.", "Nr.") or a number ("1.",
 * "24.12.").  A word is a run of non-space characters with a letter or
 * digit; a template placeholder {{...}} is one word, a section tag
 * ({{#x}}, {{/x}}, {{^x}}) none.
 */
int style_sentence_next(const char *text, size_t *pos,
			struct style_sentence *s);

/*
 * Find 'word' (as written in the kb, e.g. "Antragsteller" or "Bescheid
 * erteilen") in 'text' at or after byte 'from': letter case and umlauts
 * in either case ignored, a space in 'word' matching any run of spaces,
 * German endings allowed ("Antragstellerin", "Antragstellers").  A word
 * written with a capital (a noun) is also found at the end of a compound
 * ("Antragsvordruck").  Returns 1 and the byte range [*start, *end).
 */
int style_find_word(const char *text, size_t from, const char *word,
		    size_t *start, size_t *end);

/*
 * Check every text of kb->texts and add a warning per long sentence and
 * per bureaucratic word, with file:line:column and the field.  Returns
 * BOT_OK or BOT_ENOMEM.
 */
int style_check(struct kb *kb) BOT_WUR;

#endif /* STYLE_H */
