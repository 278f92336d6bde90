/*
 * fuzz_kb.c - libFuzzer target for the knowledge-base loader: any bytes
 * given to kb_load_buffer() must give a kb or NULL, never a crash, a
 * hang or a leak.  The kb is then read the way other modules read it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/bot.h"
#include "engine/kb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch what callers touch; lookups must find every indexed id. */
static void fuzz_walk(const struct kb *kb)
{
	char buf[256];
	size_t i;

	for (i = 0; i < kb->n_diags; i++)
		kb_diag_format(&kb->diags[i], buf, sizeof(buf));
	for (i = 0; i < kb->n_offices; i++) {
		if (kb->offices[i].id && !kb_office(kb, kb->offices[i].id))
			__builtin_trap();
	}
	for (i = 0; i < kb->n_services; i++) {
		const struct kb_service *s = &kb->services[i];

		if (s->id && !kb_service(kb, s->id))
			__builtin_trap();
		if (s->office && strcmp(s->office->id, s->office_id))
			__builtin_trap();
	}
	for (i = 0; i < kb->n_intents; i++) {
		if (kb->intents[i].id && !kb_intent(kb, kb->intents[i].id))
			__builtin_trap();
	}
	if (strlen(kb->version) != 16)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bot_err err;
	struct kb *kb;

	kb = kb_load_buffer("fuzz.yaml", (const char *)data, size, &err);
	if (kb)
		fuzz_walk(kb);
	kb_free(&kb);
	return 0;
}
