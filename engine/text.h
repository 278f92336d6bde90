/*
 * text.h - German-aware normalisation: UTF-8 check, folding (case,
 * umlauts, ß, accents, punctuation), tokens, Snowball stems, stop words,
 * compound splitting, typo tolerance and synonyms against the vocabulary
 * of a knowledge base.
 *
 * A struct text is built once per knowledge base: the matcher registers
 * every word of the kb with text_vocab_add(), then seals it.  After
 * sealing it is read-only except for the stemmer's scratch state, so one
 * struct text must be used from one thread at a time.
 */
#ifndef TEXT_H
#define TEXT_H

#include <stddef.h>
#include <stdint.h>
#include "bot.h"

struct strbuf;
struct text;

#define TEXT_MAX_INPUT 4096	/* bytes of a message that are analysed */
#define TEXT_MAX_TOKENS 160	/* tokens kept per message, parts included */

enum text_flag {
	TEXT_STOP = 1 << 0,	/* stop word ("der", "und"); question words are not */
	TEXT_NUMBER = 1 << 1,	/* digits only */
	TEXT_FUZZY = 1 << 2,	/* vocab found by typo tolerance */
	TEXT_PART = 1 << 3,	/* a part of a split compound */
	TEXT_SYNONYM = 1 << 4,	/* vocab found through a synonym */
	TEXT_COMPOUND = 1 << 5,	/* a whole word that was split into parts */
	TEXT_JOINED = 1 << 6,	/* verb joined with its separated particle (match.c) */
};

struct text_token {
	const char *word;	/* folded surface form, NUL-terminated */
	const char *stem;	/* Snowball stem of 'word' (for TEXT_PART: the
				 * stem of the vocabulary word it matched) */
	int vocab;		/* vocabulary id, -1 when unknown */
	float weight;		/* 1 exact, less for fuzzy/synonym, 0 unknown */
	uint16_t start, end;	/* byte range of the word in 'folded' */
	uint16_t flags;		/* enum text_flag */
	int16_t parent;		/* for TEXT_PART: index of the whole word */
};

/*
 * The analysis of one message.  It is large (tens of KB) and meant to be
 * reused: allocate one per thread or connection, not one per message.
 * Pointers in the tokens point into 'pool' and 'folded'.
 */
struct text_tokens {
	char folded[TEXT_MAX_INPUT * 2 + 1];	/* folded text, words separated by one space */
	size_t folded_len;
	struct text_token tok[TEXT_MAX_TOKENS];
	size_t n;
	char pool[TEXT_MAX_INPUT * 4];
	size_t pool_len;
};

/*
 * Return BOT_OK when 'len' bytes at 's' are valid UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF, no truncated sequence), else
 * BOT_EPARSE with "invalid UTF-8 at byte N" (N = start of the bad sequence).
 */
int text_utf8_check(const char *s, size_t len, struct bot_err *err) BOT_WUR;

/*
 * Fold UTF-8 'in' for matching: Unicode case folding and compatibility
 * decomposition, ä->ae ö->oe ü->ue ß->ss (so "Bürgeramt", "Buergeramt" and
 * "BÜRGERAMT" fold alike), other accents dropped, everything that is not a
 * letter or digit becomes one space, no leading or trailing space.
 * Letters of other scripts stay, case folded.  Soft hyphens and other
 * ignorable characters vanish.  Appends to 'out'.  Fails with BOT_EPARSE
 * on invalid UTF-8, BOT_ENOMEM when 'out' hits its cap.
 */
int text_fold(const char *in, size_t len, struct strbuf *out,
	      struct bot_err *err) BOT_WUR;

/* Create an analyser with an empty vocabulary.  NULL + 'err' on failure. */
struct text *text_new(struct bot_err *err) BOT_WUR;
void text_free(struct text **tp);

/*
 * Stem one folded word (as produced by text_fold) into 'out' (NUL-terminated,
 * truncated to 'size').  Returns the length written.  ae/oe/ue are read as
 * umlauts (Snowball's german2 rule), so "buerger" and "bürger" share the
 * stem "burg"; stems spell umlauts as plain a/o/u.  Numbers and words over
 * 127 bytes are their own stem.  Uses the stemmer of 't' (not NULL).
 */
size_t text_stem(struct text *t, const char *word, size_t len, char *out,
		 size_t size);

/*
 * 1 when the folded 'word' is a German stop word (the Snowball list, minus
 * question words and negations such as "wann", "wie", "nicht", "kein").
 */
int text_is_stop(const char *word, size_t len);

/*
 * Register a word in the vocabulary: both its folded surface form and its
 * stem become known; returns its id (>= 0; the same id for words with the
 * same stem).  'word' is folded first, so "Bürgeramt" is fine.  Returns -1
 * when out of memory, after text_seal(), or when 'word' is not valid UTF-8
 * or does not fold to exactly one word of at most 127 bytes.
 */
int text_vocab_add(struct text *t, const char *word);
/* Id of a stem, or -1. */
int text_vocab_find(const struct text *t, const char *stem);
/* The stem of vocabulary id 'id' (borrowed until text_free()), NULL if
 * there is no such id. */
const char *text_vocab_stem(const struct text *t, int id);
size_t text_vocab_size(const struct text *t);

/*
 * Declare that folded 'word' means the same as vocabulary word 'canonical'
 * (which is added if needed).  Used for the kb's synonyms and the thesaurus.
 * 'weight' (0..1] is what a match through the synonym is worth.  Both
 * 'word' itself and its stem become synonyms.  A word that is already a
 * vocabulary word, a stop or question word, or a synonym keeps its
 * meaning (BOT_OK all the same).  Returns BOT_EINVAL for a bad weight, a
 * word that is not one word, or after text_seal(); BOT_ENOMEM.
 */
int text_synonym_add(struct text *t, const char *word, const char *canonical,
		     float weight);

/*
 * Read an OpenThesaurus text file (one synonym set per line, ';'-separated,
 * as in Debian's openthesaurus-de-text) and add, for every vocabulary
 * word, the single-word members of its sets as synonyms with weight 0.7.
 * Sets with more than 'max_set' members are ignored (too vague; 0 = no
 * limit).  A set belongs to a vocabulary word when one member has the same
 * stem; the others become synonyms of the first such member.  Remarks in
 * parentheses ("(ugs.)") are dropped, entries of several words or with
 * "..." skipped, lines starting with '#' ignored.  Existing vocabulary
 * words and synonyms are never overridden.  Call before text_seal().
 * BOT_EIO when the file cannot be read, BOT_ENOMEM, BOT_EINVAL.
 */
int text_thesaurus_load(struct text *t, const char *path, size_t max_set,
			struct bot_err *err) BOT_WUR;

/*
 * Build the typo index and the compound splitter.  No vocab_add, synonym or
 * thesaurus after.  Calling it twice is harmless.  BOT_ENOMEM on failure.
 */
int text_seal(struct text *t, struct bot_err *err) BOT_WUR;

/*
 * Analyse one message: check UTF-8, fold, split into tokens, stem, flag
 * stop words and numbers, and map each token to a vocabulary id: by stem,
 * else by synonym, else by splitting a compound into vocabulary words
 * (the parts are appended as TEXT_PART tokens, the whole is flagged
 * TEXT_COMPOUND), else by typo tolerance (one edit for words of 5-8
 * letters, two from 9 letters; weight 0.8 and 0.65).  Input beyond
 * TEXT_MAX_INPUT bytes is ignored (cut at a character boundary).  Never
 * allocates.  Fails only on invalid UTF-8 (BOT_EPARSE).
 *
 * Tokens are in text order; the TEXT_PART tokens of a compound follow it
 * directly, with 'parent' set to its index (other tokens have parent -1).
 * A compound is split into 2..4 vocabulary words of >= 3 letters, with
 * the linking letters s/es/n/en/e allowed between parts; the last part may
 * be inflected ("...anmeldungen").  Stop words only get a vocabulary id
 * when they are vocabulary words themselves, and like numbers are never
 * split or typo-corrected; question words are never typo-corrected either.
 * Tokens that would not fit into TEXT_MAX_TOKENS or 'pool' are dropped.
 */
int text_analyze(struct text *t, const char *in, size_t len,
		 struct text_tokens *out, struct bot_err *err) BOT_WUR;

#endif /* TEXT_H */
