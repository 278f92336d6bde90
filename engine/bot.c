/*
 * bot.c - error records and the allocation wrappers.
 *
 * The fail-after counter is the only mutable global in the engine; it
 * exists for allocation-failure tests and is never set in production.
 */
#include "bot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

static long alloc_fail_after;

int bot_fail(struct bot_err *err, enum bot_rc rc, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return rc;
	err->rc = rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

void bot_alloc_fail_after(long n)
{
	alloc_fail_after = n;
}

static int alloc_should_fail(void)
{
	if (alloc_fail_after <= 0)
		return 0;
	return --alloc_fail_after == 0;
}

void *bot_malloc(size_t n)
{
	if (alloc_should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *bot_calloc(size_t nmemb, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *bot_realloc(void *p, size_t n)
{
	if (alloc_should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

char *bot_strndup(const char *s, size_t n)
{
	char *d;

	if (!s)
		return NULL;
	d = bot_malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *bot_strdup(const char *s)
{
	if (!s)
		return NULL;
	return bot_strndup(s, strlen(s));
}

void bot_free(void *p)
{
	free(p);
}
