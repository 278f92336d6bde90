/*
 * match.h - the matcher: from a citizen's message to ranked intents and
 * the service or office the message is about.
 *
 * A struct match is compiled from one kb (patterns with PCRE2 JIT, the
 * keyword and example index, the entity phrases) and replaced whole when
 * the kb is reloaded.  It holds scratch space for one message at a time,
 * so use one struct match per thread.  The kb must outlive it.
 */
#ifndef MATCH_H
#define MATCH_H

#include <stddef.h>
#include "bot.h"

struct kb;
struct kb_intent;
struct kb_service;
struct kb_office;
struct text;
struct text_tokens;
struct strbuf;

#define MATCH_MAX_CAND 4

struct match_cand {
	const struct kb_intent *intent;
	double score;		/* 0..1 */
	int pattern;		/* 1 when one of its patterns matched */
	double evidence;	/* keywords and examples alone, 0..1 */
};

struct match_result {
	/* The best intent and its confidence; the intent is set even when the
	 * confidence is under the threshold: dialog.c decides. */
	const struct kb_intent *intent;
	double confidence;
	struct match_cand cand[MATCH_MAX_CAND];	/* best first, cand[0] = best */
	size_t n_cand;
	const struct kb_service *service;	/* named in the message, or NULL */
	double service_score;
	const struct kb_service *service2;	/* a second service, if named */
	const struct kb_office *office;	/* named in the message, or NULL */
	double office_score;
	double coverage;	/* share of content words the kb knows, 0..1 */
	int day_offset;		/* day the message asks about, -1 none */
	int now_asked;		/* "jetzt", "gerade" */
	int n_content;		/* content words in the message */
	const struct text_tokens *tokens;	/* the analysis; valid until the next match_run() */
};

/*
 * Compile 'kb'.  Pattern errors are reported as
 * "file:line:col: intent 'id': bad pattern: <pcre2 message> at offset N"
 * in 'err' (the first) and, when 'diag_kb' is not NULL, added to its
 * diagnostics (all of them).  Returns NULL on failure.
 */
struct match *match_new(const struct kb *kb, struct kb *diag_kb,
			struct bot_err *err) BOT_WUR;
void match_free(struct match **mp);

/*
 * Match one message (UTF-8, any length; only the first TEXT_MAX_INPUT bytes
 * count).  Fails only on invalid UTF-8 (BOT_EPARSE).  Never allocates.
 */
int match_run(struct match *m, const char *text, size_t len,
	      struct match_result *res, struct bot_err *err) BOT_WUR;

/*
 * For 'check': match example number 'example' of 'intent' with that
 * example left out of the index.  Returns 1 and the intent that scores
 * higher than 'intent' in '*better', else 0.  Scores in '*own', '*other'.
 */
int match_example_check(struct match *m, const struct kb_intent *intent,
			size_t example, const struct kb_intent **better,
			double *own, double *other);

/*
 * For editors ('amtsbot ask --explain'): match 'text' and append to 'out'
 * how each word was understood (stem, vocabulary word, typo, synonym,
 * compound part), the topic found and the ranked intents.
 */
int match_explain(struct match *m, const char *text, size_t len,
		  struct strbuf *out, struct bot_err *err) BOT_WUR;

/* The analyser built for the kb (vocabulary, stems); borrowed. */
struct text *match_text(struct match *m);

#endif /* MATCH_H */
