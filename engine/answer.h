/*
 * answer.h - render answer templates ({{service.fees}}, {{office.hours.day}},
 * sections {{#x}}..{{/x}} and {{^x}}..{{/x}}) with the fields of the service
 * and office a question is about.  The syntax is documented for editors in
 * intents/README.md.
 */
#ifndef ANSWER_H
#define ANSWER_H

#include <time.h>
#include "bot.h"

struct strbuf;
struct kb;
struct kb_service;
struct kb_office;
struct hours_tz;

struct answer_ctx {
	const struct kb *kb;
	const struct kb_service *service;	/* may be NULL */
	const struct kb_office *office;	/* may be NULL; for a service its office */
	const struct hours_tz *tz;
	time_t now;
	int day_offset;		/* day asked about; -1 = today */
};

/*
 * Append the rendered template to 'out'.  Unknown placeholders are
 * rendered as nothing and reported by answer_check().  Blank lines left by
 * empty sections are dropped.  Returns BOT_OK or BOT_ENOMEM.
 */
int answer_render(const char *tmpl, const struct answer_ctx *ctx,
		  struct strbuf *out) BOT_WUR;

/*
 * Check a template's syntax: unknown placeholders, unbalanced sections.
 * Returns 0 when fine, else 1 and a message in 'msg'.
 */
int answer_check(const char *tmpl, char *msg, size_t size);

#endif /* ANSWER_H */
