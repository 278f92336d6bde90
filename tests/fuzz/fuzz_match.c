/*
 * fuzz_match.c - libFuzzer target for the matcher's input: any bytes as a
 * citizen's message, through the whole turn (personal data, matching,
 * templates).  Invalid UTF-8 must be refused cleanly, anything else must
 * give an answer; nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bot.h"
#include "engine/dialog.h"
#include "engine/kb.h"

/* A fuzz harness may keep the engine across inputs: loading it per input
 * would test the loader, which fuzz_kb does. */
static struct kb *kb;
static struct dialog *dlg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dialog_state st;
	struct bot_err err = { 0 };
	struct reply r;
	int rc;

	if (!dlg) {
		kb = kb_load("intents", &err);
		if (!kb || kb->n_errors)
			abort();
		dlg = dialog_new(kb, &err);
		if (!dlg)
			abort();
	}
	dialog_state_init(&st);
	reply_init(&r);
	/* twice in one conversation, so follow-up context is exercised */
	rc = dialog_reply(dlg, &st, (const char *)data, size, 1795000000, &r, &err);
	if (rc == BOT_OK) {
		if (!r.answer.len)
			abort();
		rc = dialog_reply(dlg, &st, (const char *)data, size, 1795000000,
				  &r, &err);
	}
	if (rc != BOT_OK && rc != BOT_EPARSE)
		abort();
	reply_release(&r);
	return 0;
}
