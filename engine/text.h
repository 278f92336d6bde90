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
};

struct text_token {
	const char *word;	/* folded surface form, NUL-terminated */
	const char *stem;	/* Snowball stem of 'word' */
	int vocab;		/* vocabulary id, -1 when unknown */
	float weight;		/* 1 exact, less for fuzzy/synonym matches */
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

/* Return BOT_OK when 'len' bytes at 's' are valid UTF-8 (no overlongs, no
 * surrogates), else BOT_EPARSE with "invalid UTF-8 at byte N". */
int text_utf8_check(const char *s, size_t len, struct bot_err *err) BOT_WUR;

/*
 * Fold UTF-8 'in' for matching: Unicode case folding and compatibility
 * decomposition, ä->ae ö->oe ü->ue ß->ss (so "Bürgeramt", "Buergeramt" and
 * "BÜRGERAMT" fold alike), other accents dropped, everything that is not a
 * letter or digit becomes one space, no leading or trailing space.
 * Appends to 'out'.  Fails with BOT_EPARSE on invalid UTF-8.
 */
int text_fold(const char *in, size_t len, struct strbuf *out,
	      struct bot_err *err) BOT_WUR;

/* Create an analyser with an empty vocabulary.  NULL + 'err' on failure. */
struct text *text_new(struct bot_err *err) BOT_WUR;
void text_free(struct text **tp);

/*
 * Stem one folded word (as produced by text_fold) into 'out' (NUL-terminated,
 * truncated to 'size').  Returns the length written.
 */
size_t text_stem(struct text *t, const char *word, size_t len, char *out,
		 size_t size);

/* 1 when the folded 'word' is a German stop word. */
int text_is_stop(const char *word, size_t len);

/*
 * Register a folded word in the vocabulary: both its surface form and its
 * stem become known; returns its id (>= 0; the same id for words with the
 * same stem) or -1 when out of memory.  Only before text_seal().
 */
int text_vocab_add(struct text *t, const char *word);
/* Id of a stem, or -1. */
int text_vocab_find(const struct text *t, const char *stem);
/* The stem of vocabulary id 'id' (borrowed). */
const char *text_vocab_stem(const struct text *t, int id);
size_t text_vocab_size(const struct text *t);

/*
 * Declare that folded 'word' means the same as vocabulary word 'canonical'
 * (which is added if needed).  Used for the kb's synonyms and the thesaurus.
 * 'weight' (0..1] is what a match through the synonym is worth.
 */
int text_synonym_add(struct text *t, const char *word, const char *canonical,
		     float weight);

/*
 * Read an OpenThesaurus text file (one synonym set per line, ';'-separated,
 * as in Debian's openthesaurus-de-text) and add, for every vocabulary
 * word, the single-word members of its sets as synonyms with weight 0.7.
 * Sets with more than 'max_set' members are ignored (too vague).
 */
int text_thesaurus_load(struct text *t, const char *path, size_t max_set,
			struct bot_err *err) BOT_WUR;

/* Build the typo index and the compound splitter.  No vocab_add after. */
int text_seal(struct text *t, struct bot_err *err) BOT_WUR;

/*
 * Analyse one message: check UTF-8, fold, split into tokens, stem, flag
 * stop words and numbers, and map each token to a vocabulary id: by stem,
 * else by synonym, else by splitting a compound into vocabulary words
 * (the parts are appended as TEXT_PART tokens, the whole is flagged
 * TEXT_COMPOUND), else by typo tolerance (one edit for words of 5-8
 * letters, two from 9 letters; weight 0.8 and 0.65).  Input beyond
 * TEXT_MAX_INPUT bytes is ignored.  Never allocates.
 * Fails only on invalid UTF-8 (BOT_EPARSE).
 */
int text_analyze(struct text *t, const char *in, size_t len,
		 struct text_tokens *out, struct bot_err *err) BOT_WUR;

#endif /* TEXT_H */
