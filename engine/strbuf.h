/*
 * strbuf.h - a growable, always NUL-terminated byte buffer with a hard cap
 * (git's strbuf, curl's dynbuf 'toobig').
 *
 * Embed it and treat members as read-only: use buf/len, never write them.
 * After any failed append the buffer keeps its previous content.
 */
#ifndef STRBUF_H
#define STRBUF_H

#include <stddef.h>
#include "bot.h"

struct strbuf {
	char *buf;		/* NUL-terminated; "" when empty, never NULL */
	size_t len;
	size_t alloc;
	size_t cap;		/* hard limit on len; 0 means 16 MiB */
};

#define STRBUF_INIT { NULL, 0, 0, 0 }

/* Initialise with a cap (0 = default).  Cannot fail. */
void strbuf_init(struct strbuf *sb, size_t cap);
/* Free the storage; the buffer is empty and usable again. */
void strbuf_release(struct strbuf *sb);
/* Empty the buffer, keeping its storage. */
void strbuf_reset(struct strbuf *sb);
/* Return the content, owned by the caller, and empty the buffer.  Never NULL
 * unless allocation fails. */
char *strbuf_detach(struct strbuf *sb) BOT_WUR;

/* Appenders return BOT_OK or BOT_ENOMEM (allocation failed or cap hit). */
int strbuf_add(struct strbuf *sb, const char *data, size_t len);
int strbuf_adds(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, int c);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) BOT_PRINTF(2, 3);
/* Cut the content to 'len' bytes (no-op when it is shorter). */
void strbuf_setlen(struct strbuf *sb, size_t len);
/* Current content as a C string ("" when empty). */
const char *strbuf_str(const struct strbuf *sb);

#endif /* STRBUF_H */
