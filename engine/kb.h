/*
 * kb.h - the knowledge base: settings, offices, services, intents and tests
 * loaded from the YAML files of one directory (intents/ by default).
 *
 * A kb is loaded once, never modified afterwards, and replaced whole on
 * reload.  The structs below are public so that the matcher, the answer
 * templates and the CLI can read them; they are read-only for everyone but
 * kb.c.  Every string and array is owned by the kb and valid until
 * kb_free().  Absent optional strings are NULL; absent lists have n == 0.
 */
#ifndef KB_H
#define KB_H

#include <stddef.h>
#include "bot.h"

/* Where something was written, for messages "file:line:column: ...". */
struct kb_pos {
	const char *file;	/* path as given to kb_load() + file name */
	int line;		/* 1-based */
	int col;		/* 1-based */
};

struct kb_strv {
	char **v;
	size_t n;
};

/* One opening range in minutes after midnight, open <= t < close. */
struct kb_range {
	int open;
	int close;
};

#define KB_MAX_RANGES 4

struct kb_day {
	struct kb_range r[KB_MAX_RANGES];
	int n;			/* 0: closed all day */
};

/* A closure date: year 0 means every year (e.g. "24.12."). */
struct kb_date {
	int year, month, day;
};

struct kb_office {
	char *id;
	char *name;
	char *address;
	char *phone;
	char *email;
	char *url;		/* the office's web page */
	char *appointment_url;	/* online booking */
	char *note;		/* free text for citizens, e.g. "Barrierefrei" */
	struct kb_day week[7];	/* 0 = Monday ... 6 = Sunday */
	int has_hours;		/* 0 when no 'hours' were given */
	int closed_on_holidays;	/* default 1 */
	struct kb_date *closed;	/* extra closure dates */
	size_t n_closed;
	struct kb_strv keywords;	/* words that point to this office */
	struct kb_strv synonyms;	/* other names of the office */
	char *team;		/* owning team (handoff routing, statistics) */
	char *reviewed;		/* YYYY-MM-DD of the last review */
	struct kb_pos pos;
};

struct kb_source {
	char *title;		/* e.g. "§ 17 Bundesmeldegesetz (BMG)" */
	char *law;		/* e.g. "BMG" */
	char *section;		/* e.g. "§ 17"; may be NULL */
	char *url;
};

struct kb_service {
	char *id;
	char *name;		/* "Personalausweis" */
	char *article;		/* "der"/"die"/"das" or NULL */
	char *summary;		/* one or two sentences: what to do */
	char *office_id;
	struct kb_office *office;	/* resolved from office_id */
	char *issuer;		/* who really issues it, if not the office */
	struct kb_strv synonyms;	/* "Perso", "Ausweis" */
	struct kb_strv keywords;
	struct kb_strv documents;	/* required documents */
	char *fees;
	char *duration;		/* processing time */
	int appointment;	/* -1 not said, 0 no, 1 appointment needed */
	char *online_url;	/* apply online, if possible */
	struct kb_source *legal;
	size_t n_legal;
	char *team;
	char *reviewed;
	char *leika;		/* LeiKa catalogue key */
	struct kb_pos pos;
};

enum kb_needs {
	KB_NEEDS_NOTHING = 0,	/* answer stands alone (greeting, FAQ entry) */
	KB_NEEDS_SERVICE,	/* about a service (fees, documents) */
	KB_NEEDS_OFFICE,	/* about an office (hours, contact) */
	KB_NEEDS_TOPIC,		/* a service or an office */
};

enum kb_handoff {
	KB_HANDOFF_NONE = 0,
	KB_HANDOFF_REQUESTED,	/* the citizen asks for a person */
	KB_HANDOFF_CASE,	/* a question about the citizen's own case */
};

struct kb_pattern {
	char *src;		/* PCRE2 source as written */
	struct kb_pos pos;
};

struct kb_intent {
	char *id;
	char *title;		/* short label for "Meinten Sie ...?" */
	enum kb_needs needs;
	enum kb_handoff handoff;
	int suggestion;		/* 1: store the message as a citizen's idea */
	struct kb_pattern *patterns;
	size_t n_patterns;
	struct kb_strv keywords;
	struct kb_strv examples;
	char *answer;		/* template, see answer.h */
	char *ask;		/* asked back when 'needs' is not met */
	struct kb_strv quick_replies;
	char *team;
	char *reviewed;
	struct kb_pos pos;
};

/* One line of a test: a question and what must come back. */
struct kb_test_turn {
	char *question;
	char *intent;		/* expected id, "none" for no intent, NULL = any */
	char *service;		/* same conventions */
	char *office;
	int handoff;		/* -1 any, 0 no, 1 yes */
	char *handoff_reason;	/* NULL = any */
	struct kb_strv contains;	/* substrings the answer must contain */
	struct kb_pos pos;
};

struct kb_test {
	char *name;		/* optional */
	char *now;		/* "2026-12-24T10:00" or NULL */
	struct kb_test_turn *turns;	/* >1 turns: one conversation */
	size_t n_turns;
	struct kb_pos pos;
};

struct kb_settings {
	char *city;
	char *state;		/* Bundesland code, "NW" */
	char *timezone;		/* "Europe/Berlin" */
	double threshold;	/* below: no intent, fallback */
	double margin;		/* two readings closer than this: ask back */
	char *fallback;		/* text when nothing matches */
	char *netiquette;
	char *netiquette_url;
	char *privacy_url;
	char *handoff_text;	/* told when a person takes over */
	char *thesaurus;	/* OpenThesaurus text file or NULL */
	int review_months;	/* warn about reviews older than this */
	char *service_intent;	/* intent id for a bare service name, or NULL */
	char *office_intent;	/* intent id for a bare office name, or NULL */
	struct kb_pos pos;
};

/*
 * The 'netiquette:' section (format: intents/README.md).  The lists hold
 * entries as written; their syntax was checked with netiq_entry_check().
 * Texts are NULL when not given (netiquette.c has German defaults).
 */
struct kb_netiquette {
	struct kb_strv insults;
	struct kb_strv threats;
	struct kb_strv spam;		/* spam words: count only with a link */
	struct kb_strv allow;		/* words never flagged (place names) */
	char *reminder;		/* after an insult or spam; NULL: settings.netiquette */
	char *threat;		/* after a threat */
	char *flood;		/* after a flood or repeated messages */
	char *mute;		/* every message while the chat is paused */
	int strikes;		/* violations before the chat is paused (3) */
	int mute_minutes;	/* how long it is paused (10) */
	int flood_messages;	/* more messages than this ... (8) */
	int flood_seconds;	/* ... within this many seconds: flood (30) */
	int repeats;		/* the same message this often in a row (4) */
	int max_links;		/* more links than this: spam (2) */
	struct kb_pos pos;	/* of the section; file NULL when absent */
};

/* One bureaucratic word and the plainer one to use ('plain_language:'). */
struct kb_plain_word {
	char *word;		/* "Antragsteller", "Bescheid erteilen" */
	char *use;		/* "Sie" */
	struct kb_pos pos;
};

struct kb_plain {
	int max_words;		/* longer sentences are reported (25) */
	struct kb_plain_word *words;
	size_t n_words;
	struct kb_pos pos;
};

/*
 * A text citizens read (a summary, fees, an answer template, a settings
 * text ...), with where it was written, for 'amtsbot check'.  When
 * 'literal' is 1 the text maps to the source as written (a '|' block or
 * a value on one line): text line k (0-based) is source line pos.line + k,
 * and its first character is at column pos.col.  Otherwise (folded or
 * multi-line values) pos is where the value starts.
 */
struct kb_text {
	const char *text;	/* borrowed from the kb's own field */
	const char *field;	/* "summary", "answer", "documents" ... */
	char *label;		/* "service 'reisepass'" */
	int literal;
	struct kb_pos pos;
};

/* A problem found while loading or checking; severity 'e'rror or 'w'arning. */
struct kb_diag {
	char severity;
	struct kb_pos pos;
	char *msg;
};

struct kb_index;		/* private to kb.c */

struct kb {
	char *dir;		/* as given to kb_load(); NULL for a buffer */
	char version[17];	/* hex digest of all files' content */
	struct kb_settings settings;
	struct kb_office *offices;
	size_t n_offices;
	struct kb_service *services;
	size_t n_services;
	struct kb_intent *intents;
	size_t n_intents;
	struct kb_test *tests;
	size_t n_tests;
	struct kb_netiquette netiquette;
	struct kb_plain plain;
	struct kb_text *texts;	/* every citizen-facing text, in reading order */
	size_t n_texts;
	struct kb_diag *diags;
	size_t n_diags;
	size_t n_errors;
	char **files;		/* the files read, for reload checks */
	size_t n_files;
	struct kb_index *index;	/* private: id lookup tables, do not touch */
};

/*
 * Load every *.yaml / *.yml file of 'dir' and of its subdirectory
 * 'tests/' (sorted by name; hidden files and other names are skipped;
 * each file at most 4 MiB).  The order of top-level keys does not matter;
 * a file may hold any of 'settings', 'offices', 'services', 'intents',
 * 'tests', 'netiquette', 'plain_language' (format: intents/README.md).  An empty file is fine.  Every
 * problem is recorded in kb->diags (all of them, not only the first) with
 * file, line and column, sorted by file and line.  Ids are checked across
 * files (duplicates, a service's office, the ids named in tests) and
 * kb_service.office is resolved.  kb->files lists every file read and
 * kb->version is a digest of their names and contents.
 *
 * Returns the kb, even when it has errors (kb->n_errors > 0), so that
 * 'amtsbot check' can print them all; returns NULL only when 'dir' cannot
 * be read (BOT_EIO) or memory runs out (BOT_ENOMEM), and fills 'err'.
 * When kb->n_errors > 0, 'err' is filled with the first error as well
 * (BOT_EPARSE, formatted as by kb_diag_format()).
 */
struct kb *kb_load(const char *dir, struct bot_err *err) BOT_WUR;

/* Load a kb from one YAML text in memory (tests, fuzzing).  'name' is
 * used as the file name in messages (NULL: "<buffer>"); 'yaml' need not
 * be NUL-terminated.  Same results and failures as kb_load(). */
struct kb *kb_load_buffer(const char *name, const char *yaml, size_t len,
			  struct bot_err *err) BOT_WUR;

/* Free the kb and clear the pointer.  NULL-safe. */
void kb_free(struct kb **kbp);

/* Lookups by id (hash index, O(1)); NULL when unknown or when 'kb' or
 * 'id' is NULL.  With duplicate ids, the first one read.  The result is
 * borrowed from the kb. */
const struct kb_office *kb_office(const struct kb *kb, const char *id);
const struct kb_service *kb_service(const struct kb *kb, const char *id);
const struct kb_intent *kb_intent(const struct kb *kb, const char *id);

/* Record a diagnostic (used by kb.c and by the checks of other modules).
 * 'severity' is 'e' or 'w' ('e' counts in n_errors).  'pos' may be NULL;
 * pos->file is borrowed, so it must live as long as the kb (use a kb_pos
 * of the kb).  The message is cut at 1 KiB; after 1000 diagnostics the
 * rest are only counted.  Returns BOT_OK or BOT_ENOMEM. */
int kb_diag_add(struct kb *kb, char severity, const struct kb_pos *pos,
		const char *fmt, ...) BOT_PRINTF(4, 5);

/* Format "file:line:col: error: msg" (or "warning") into 'buf'; parts
 * that are unknown (line 0, file NULL) are left out.  Always terminated. */
void kb_diag_format(const struct kb_diag *d, char *buf, size_t size);

#endif /* KB_H */
