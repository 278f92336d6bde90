/*
 * bot.h - shared basics of the amtsbot engine: result codes, the error
 * record every fallible function fills, and the allocation wrappers that
 * tests can make fail.
 */
#ifndef BOT_H
#define BOT_H

#include <stddef.h>
#include <stdarg.h>

#define BOT_WUR __attribute__((warn_unused_result))
#define BOT_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum bot_rc {
	BOT_OK = 0,
	BOT_ENOMEM,		/* allocation failed or a size cap was hit */
	BOT_EIO,		/* file or socket error; message carries strerror() */
	BOT_EPARSE,		/* bad YAML, JSON, regex or UTF-8; message has file:line */
	BOT_EDB,		/* sqlite3 error; message carries sqlite3_errmsg() */
	BOT_EINVAL,		/* invalid argument or value */
	BOT_EAUTH,		/* bad webhook signature or agent token */
	BOT_ENOTFOUND,		/* a named thing does not exist */
};

struct bot_err {
	enum bot_rc rc;
	char msg[512];		/* one line, lowercase, no final period */
};

/* Record the error (if 'err' is not NULL) and return 'rc'. */
int bot_fail(struct bot_err *err, enum bot_rc rc, const char *fmt, ...)
	BOT_PRINTF(3, 4);

/*
 * Allocation wrappers.  They return NULL on failure like their libc
 * namesakes.  bot_alloc_fail_after(n) makes the n-th following allocation
 * fail (0 disables); only tests call it.
 */
void *bot_malloc(size_t n) BOT_WUR;
void *bot_calloc(size_t nmemb, size_t size) BOT_WUR;
void *bot_realloc(void *p, size_t n) BOT_WUR;
char *bot_strdup(const char *s) BOT_WUR;
char *bot_strndup(const char *s, size_t n) BOT_WUR;
void bot_free(void *p);
void bot_alloc_fail_after(long n);

/* Free '*pp' and clear it.  NULL-safe. */
#define BOT_FREE(pp) do { bot_free(*(pp)); *(pp) = NULL; } while (0)

#define BOT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* BOT_H */
