/*
 * strbuf.c - growable strings with a cap.
 */
#include "bot.h"
#include "strbuf.h"

#include <stdio.h>
#include <string.h>

#include "banned.h"

#define STRBUF_DEFAULT_CAP (16u << 20)

void strbuf_init(struct strbuf *sb, size_t cap)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->alloc = 0;
	sb->cap = cap ? cap : STRBUF_DEFAULT_CAP;
}

void strbuf_release(struct strbuf *sb)
{
	size_t cap = sb->cap;

	bot_free(sb->buf);
	strbuf_init(sb, cap);
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

void strbuf_setlen(struct strbuf *sb, size_t len)
{
	if (len >= sb->len)
		return;
	sb->len = len;
	sb->buf[len] = '\0';
}

const char *strbuf_str(const struct strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

static int strbuf_grow(struct strbuf *sb, size_t extra)
{
	size_t cap = sb->cap ? sb->cap : STRBUF_DEFAULT_CAP;
	size_t want, n;
	char *p;

	if (extra > cap || sb->len > cap - extra)
		return BOT_ENOMEM;
	want = sb->len + extra + 1;
	if (want <= sb->alloc)
		return BOT_OK;
	n = sb->alloc ? sb->alloc : 64;
	while (n < want)
		n *= 2;
	p = bot_realloc(sb->buf, n);
	if (!p)
		return BOT_ENOMEM;
	sb->buf = p;
	sb->alloc = n;
	return BOT_OK;
}

int strbuf_add(struct strbuf *sb, const char *data, size_t len)
{
	if (strbuf_grow(sb, len))
		return BOT_ENOMEM;
	if (len)
		memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
	return BOT_OK;
}

int strbuf_adds(struct strbuf *sb, const char *s)
{
	return strbuf_add(sb, s, strlen(s));
}

int strbuf_addch(struct strbuf *sb, int c)
{
	char ch = (char)c;

	return strbuf_add(sb, &ch, 1);
}

/* 1 when 'extra' more bytes stay within the cap (as strbuf_grow() checks). */
static int strbuf_fits(const struct strbuf *sb, size_t extra)
{
	size_t cap = sb->cap ? sb->cap : STRBUF_DEFAULT_CAP;

	return extra <= cap && sb->len <= cap - extra;
}

/*
 * Format straight into the spare room first: most appends fit, and then
 * vsnprintf() runs once instead of once to measure and once to write.
 * Whatever it wrote past the content is cut off again on failure.
 */
int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	size_t room = sb->alloc > sb->len ? sb->alloc - sb->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? sb->buf + sb->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < room && strbuf_fits(sb, (size_t)n)) {
		sb->len += (size_t)n;	/* vsnprintf() wrote the NUL */
		return BOT_OK;
	}
	if (room)
		sb->buf[sb->len] = '\0';
	if (n < 0 || !strbuf_fits(sb, (size_t)n))
		return BOT_ENOMEM;
	if (strbuf_grow(sb, (size_t)n))
		return BOT_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return BOT_OK;
}

char *strbuf_detach(struct strbuf *sb)
{
	char *p;

	if (!sb->buf && strbuf_grow(sb, 0))
		return NULL;
	p = sb->buf;
	strbuf_init(sb, sb->cap);
	return p;
}
