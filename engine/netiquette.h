/*
 * netiquette.h - insults, threats, spam, floods and repeated messages in
 * citizens' messages, and the pause ("mute") after repeated violations.
 *
 * The word lists come from the kb's 'netiquette:' section (format:
 * intents/README.md).  Messages are folded for this check alone: lower
 * case, ä ö ü ß as ae oe ue ss (as text_fold() does), leetspeak digits
 * and symbols inside words read as letters ("1d10t", "a$$hole"), letters
 * spelt out one by one joined ("i.d.i.o.t"), and runs of one letter
 * collapsed ("iiidiot").  Entries match whole words with German endings,
 * so "Amtsschimmel" or the village "Fucking" never hit "schimmel" or
 * "fuck" unless an entry asks for compound parts with '*'.
 *
 * A struct netiq is built once per kb and read-only afterwards, so it may
 * be shared between threads.  struct netiq_state is plain data kept per
 * conversation (inside struct dialog_state).
 */
#ifndef NETIQUETTE_H
#define NETIQUETTE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "bot.h"

struct kb;
struct netiq;

enum netiq_kind {
	NETIQ_NONE = 0,
	NETIQ_INSULT,
	NETIQ_THREAT,
	NETIQ_SPAM,		/* spam words with a foreign link, or many links */
	NETIQ_FLOOD,		/* too many messages in a short time */
	NETIQ_REPEAT,		/* the same message again and again */
	NETIQ_MUTED,		/* a message while the conversation is paused */
	NETIQ_KIND_COUNT
};

/* Per-conversation counters; zero them (or dialog_state_init()) to start. */
struct netiq_state {
	time_t window_start;	/* flood window */
	int window_count;	/* messages in the window */
	uint64_t last_hash;	/* of the last folded message, 0 none */
	int repeats;		/* how often it came in a row */
	int strikes;		/* violations since the last pause */
	int violations;		/* all violations of the conversation */
	time_t muted_until;	/* 0: not paused */
};

/* What netiq_check() decided for one message. */
struct netiq_verdict {
	enum netiq_kind kind;
	int mute_now;		/* this violation starts the pause */
	const char *text;	/* template for the reply (borrowed from the
				 * kb or static; may use {{netiquette_url}}) */
};

/*
 * Compile the lists of kb->netiquette ('kb' must outlive the result).
 * Entries that netiq_entry_check() rejects are skipped (kb.c reports
 * them).  NULL + 'err' only when memory runs out.
 */
struct netiq *netiq_new(const struct kb *kb, struct bot_err *err) BOT_WUR;
void netiq_free(struct netiq **np);

/*
 * The content check alone, without counters: NETIQ_THREAT before
 * NETIQ_INSULT before NETIQ_SPAM, NETIQ_NONE when the text is fine.
 * 'text' is UTF-8 (invalid bytes are treated as separators); at most
 * the first 4096 bytes are read.  Never allocates.
 */
enum netiq_kind netiq_scan(const struct netiq *n, const char *text,
			   size_t len);

/*
 * One message at time 'now': pause, flood, repeat, then content.  Updates
 * 'st' (counts a violation; after kb strikes violations pauses the
 * conversation for mute_minutes) and fills 'v'.  Never allocates.
 */
void netiq_check(const struct netiq *n, struct netiq_state *st,
		 const char *text, size_t len, time_t now,
		 struct netiq_verdict *v);

/* "insult", "threat", "spam", "flood", "repeat", "muted"; NULL for
 * NETIQ_NONE and values out of range.  Static strings. */
const char *netiq_kind_name(enum netiq_kind kind);

/*
 * Check the syntax of one list entry (used by kb.c while loading).
 * Returns 0 when fine, else 1 with a message in 'msg'.
 */
int netiq_entry_check(const char *entry, char *msg, size_t size);

/*
 * Fold 'len' bytes of 'in' as described above into 'out' (at most
 * 'size' - 1 bytes plus NUL): words separated by ' ', clauses (. , ; : ? !
 * followed by a space, or a line break) by '|'.  Returns the length.
 * Exposed for tests and for 'amtsbot ask --explain'.
 */
size_t netiq_fold(const char *in, size_t len, char *out, size_t size);

#endif /* NETIQUETTE_H */
