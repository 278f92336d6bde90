/*
 * test_handoff.c - the handoff queue (engine/handoff.c) and the store
 * functions behind it: agents, handoff rows, encrypted contacts, notes,
 * and loading the open queue again after a restart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/dialog.h"
#include "engine/handoff.h"
#include "engine/kb.h"
#include "engine/store.h"

struct fixture {
	char dir[64];
	char db[128];
	struct store *store;
	struct handoff_queue *q;
	char conv[3][STORE_ID_LEN + 1];
};

static const struct handoff_timeouts timeouts = { 60, 300, 1800 };

static void path(const struct fixture *f, const char *suffix, char *out,
		 size_t size)
{
	snprintf(out, size, "%s%s", f->db, suffix);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct bot_err err = { 0 };
	int i;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_handoff.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/a.db", f->dir);
	unsetenv("AMTSBOT_SECRET_KEY");
	f->store = store_open(f->db, &err);
	if (!f->store)
		return -1;
	for (i = 0; i < 3; i++)
		if (store_conv_new(f->store, "web", 1000 + i, f->conv[i], &err))
			return -1;
	f->q = handoff_queue_new(f->store);
	*state = f;
	return f->q ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const suffixes[] = { "", "-wal", "-shm", ".key" };
	char p[160];
	size_t i;

	handoff_queue_free(&f->q);
	store_close(&f->store);
	for (i = 0; i < BOT_ARRAY_SIZE(suffixes); i++) {
		path(f, suffixes[i], p, sizeof(p));
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct handoff_case *open_case(struct fixture *f, int i,
				      const char *team, time_t now)
{
	struct handoff_case *c = NULL;
	struct bot_err err = { 0 };

	assert_int_equal(handoff_open(f->q, f->conv[i], "web", "requested",
				      team, now, &c, &err), BOT_OK);
	assert_non_null(c);
	return c;
}

static void test_queue_positions_per_team(void **state)
{
	struct fixture *f = *state;
	struct handoff_case *a = open_case(f, 0, "buergerservice", 100);
	struct handoff_case *b = open_case(f, 1, "verkehr", 101);
	struct handoff_case *c = open_case(f, 2, "buergerservice", 102);
	struct handoff_case *again = NULL;
	struct bot_err err = { 0 };

	assert_int_equal(handoff_count(f->q), 3);
	assert_ptr_equal(handoff_first(f->q), a);
	assert_int_equal(handoff_position(f->q, a), 1);
	assert_int_equal(handoff_position(f->q, b), 1);
	assert_int_equal(handoff_position(f->q, c), 2);
	/* opening an open conversation again changes nothing */
	assert_int_equal(handoff_open(f->q, f->conv[0], "web", "case",
				      "verkehr", 200, &again, &err), BOT_OK);
	assert_ptr_equal(again, a);
	assert_string_equal(a->reason, "requested");
	assert_int_equal(store_count(f->store, "handoffs"), 3);
	assert_ptr_equal(handoff_find(f->q, f->conv[2]), c);
	assert_null(handoff_find(f->q, "nope"));
}

static void test_first_claim_wins(void **state)
{
	struct fixture *f = *state;
	struct handoff_case *a = open_case(f, 0, "buergerservice", 100);
	struct handoff_case *b = open_case(f, 1, "buergerservice", 101);
	struct bot_err err = { 0 };

	assert_int_equal(handoff_claim(f->q, a, "anna", 110, &err), BOT_OK);
	assert_int_equal(handoff_claim(f->q, a, "bernd", 111, &err), BOT_EAUTH);
	assert_non_null(strstr(err.msg, "'anna'"));
	assert_int_equal(handoff_claim(f->q, a, "anna", 112, &err), BOT_OK);
	assert_string_equal(a->agent, "anna");
	assert_int_equal(a->state, HANDOFF_ACTIVE);
	assert_int_equal(a->claimed_at, 110);
	assert_int_equal(handoff_position(f->q, a), 0);
	assert_int_equal(handoff_position(f->q, b), 1);
}

static void test_end_and_requeue(void **state)
{
	struct fixture *f = *state;
	struct handoff_case *a = open_case(f, 0, "buergerservice", 100);
	struct bot_err err = { 0 };

	assert_int_equal(handoff_claim(f->q, a, "anna", 110, &err), BOT_OK);
	assert_int_equal(handoff_requeue(f->q, a, &err), BOT_OK);
	assert_int_equal(a->state, HANDOFF_QUEUED);
	assert_string_equal(a->agent, "");
	assert_int_equal(a->requeued, 1);
	assert_int_equal(a->queued_at, 100);
	assert_int_equal(handoff_claim(f->q, a, "bernd", 120, &err), BOT_OK);
	assert_int_equal(handoff_end(f->q, &a, "closed", 130, &err), BOT_OK);
	assert_null(a);
	assert_int_equal(handoff_count(f->q), 0);
	assert_null(handoff_find(f->q, f->conv[0]));
}

static void test_timeouts(void **state)
{
	struct fixture *f = *state;
	struct handoff_case *a = open_case(f, 0, "buergerservice", 100);
	struct handoff_case *b = open_case(f, 1, "buergerservice", 100);
	struct bot_err err = { 0 };
	enum handoff_due what;

	assert_null(handoff_due(f->q, 100, &timeouts, &what));
	/* an agent away longer than the grace period */
	assert_int_equal(handoff_claim(f->q, a, "anna", 100, &err), BOT_OK);
	a->agent_wrote = 1;
	handoff_agent_presence(f->q, "anna", 0, 200);
	assert_null(handoff_due(f->q, 259, &timeouts, &what));
	assert_ptr_equal(handoff_due(f->q, 260, &timeouts, &what), a);
	assert_int_equal(what, HANDOFF_DUE_AGENT_GONE);
	/* back in time: nothing due */
	handoff_agent_presence(f->q, "anna", 1, 250);
	assert_null(handoff_due(f->q, 290, &timeouts, &what));
	/* a claim without an answer */
	a->agent_wrote = 0;
	assert_ptr_equal(handoff_due(f->q, 400, &timeouts, &what), a);
	assert_int_equal(what, HANDOFF_DUE_CLAIM);
	a->agent_wrote = 1;
	/* an empty case whose citizen left is dropped, one with words not */
	handoff_citizen_presence(b, 0, 1000);
	assert_ptr_equal(handoff_due(f->q, 2800, &timeouts, &what), b);
	assert_int_equal(what, HANDOFF_DUE_CITIZEN);
	b->citizen_wrote = 1;
	assert_null(handoff_due(f->q, 99999, &timeouts, &what));
	b->citizen_wrote = 0;
	handoff_citizen_presence(b, 1, 2000);
	assert_null(handoff_due(f->q, 99999, &timeouts, &what));
}

static void test_visibility(void **state)
{
	struct fixture *f = *state;
	struct handoff_case *a = open_case(f, 0, "verkehr", 100);

	assert_true(handoff_visible(a, "verkehr", "agent", "buergerservice"));
	assert_true(handoff_visible(a, "buergerservice", "agent", "buergerservice"));
	assert_false(handoff_visible(a, "standesamt", "agent", "buergerservice"));
	assert_true(handoff_visible(a, "standesamt", "editor", "buergerservice"));
}

struct seen {
	int n;
	char contact[256];
	char state[16];
	char agent[64];
};

static int collect(void *arg, const struct store_handoff *h)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->contact, sizeof(s->contact), "%s", h->contact ? h->contact : "");
	snprintf(s->state, sizeof(s->state), "%s", h->state);
	snprintf(s->agent, sizeof(s->agent), "%s", h->agent ? h->agent : "");
	return 0;
}

static int file_has(const char *p, const char *needle)
{
	char buf[1 << 16];
	size_t n, len = strlen(needle);
	FILE *fp = fopen(p, "rb");
	int found = 0;

	if (!fp)
		return 0;
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	for (size_t i = 0; i + len <= n && !found; i++)
		found = !memcmp(buf + i, needle, len);
	return found;
}

static void test_contact_encrypted_and_reloaded(void **state)
{
	struct fixture *f = *state;
	struct handoff_case *a = open_case(f, 0, "buergerservice", 100);
	struct handoff_case *b = open_case(f, 1, "buergerservice", 101);
	struct handoff_queue *q2;
	struct bot_err err = { 0 };
	struct seen s = { 0 };
	struct stat stt;
	char p[160], w[160];

	assert_int_equal(handoff_add_contact(f->q, a, "max@example.org", 15, &err),
			 BOT_OK);
	assert_int_equal(handoff_add_contact(f->q, a, "0176 98765432", 13, &err),
			 BOT_OK);
	assert_string_equal(a->contact.buf, "max@example.org; 0176 98765432");
	assert_int_equal(handoff_claim(f->q, b, "anna", 110, &err), BOT_OK);
	path(f, ".key", p, sizeof(p));
	assert_int_equal(stat(p, &stt), 0);
	assert_int_equal(stt.st_mode & 0777, 0600);
	path(f, "", p, sizeof(p));
	path(f, "-wal", w, sizeof(w));
	assert_false(file_has(p, "max@example.org") || file_has(w, "max@example.org"));
	assert_false(file_has(p, "98765432") || file_has(w, "98765432"));
	/* after a restart: the same queue, the contact decrypted */
	q2 = handoff_queue_new(f->store);
	assert_non_null(q2);
	assert_int_equal(handoff_queue_load(q2, 500, &err), BOT_OK);
	assert_int_equal(handoff_count(q2), 2);
	assert_string_equal(handoff_first(q2)->contact.buf,
			    "max@example.org; 0176 98765432");
	b = handoff_find(q2, f->conv[1]);
	assert_non_null(b);
	assert_int_equal(b->state, HANDOFF_ACTIVE);
	assert_string_equal(b->agent, "anna");
	assert_int_equal(b->agent_gone, 500);
	handoff_queue_free(&q2);
	assert_int_equal(store_handoff_each(f->store, 0, collect, &s, &err), BOT_OK);
	assert_int_equal(s.n, 2);
}

static void test_contact_wrong_key(void **state)
{
	struct fixture *f = *state;
	struct handoff_case *a = open_case(f, 0, "buergerservice", 100);
	struct bot_err err = { 0 };
	struct seen s = { 0 };
	struct store *other;

	setenv("AMTSBOT_SECRET_KEY", "00112233445566778899aabbccddeeff"
	       "00112233445566778899aabbccddeeff", 1);
	assert_int_equal(handoff_add_contact(f->q, a, "a@b.de", 6, &err), BOT_OK);
	assert_int_equal(store_handoff_each(f->store, 0, collect, &s, &err), BOT_OK);
	assert_string_equal(s.contact, "a@b.de");
	/* another key cannot read it: NULL, not garbage */
	setenv("AMTSBOT_SECRET_KEY", "ff112233445566778899aabbccddeeff"
	       "00112233445566778899aabbccddeeff", 1);
	other = store_open(f->db, &err);
	assert_non_null(other);
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_handoff_each(other, 0, collect, &s, &err), BOT_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.contact, "");
	store_close(&other);
	setenv("AMTSBOT_SECRET_KEY", "xyz", 1);
	other = store_open(f->db, &err);
	assert_non_null(other);
	assert_int_equal(store_key_load(other, &err), BOT_EAUTH);
	store_close(&other);
	unsetenv("AMTSBOT_SECRET_KEY");
}

struct found_agent {
	int n;
	char last[64];
};

static int count_agent(void *arg, const struct store_agent *a)
{
	struct found_agent *fa = arg;

	fa->n++;
	snprintf(fa->last, sizeof(fa->last), "%s/%s/%s", a->name, a->team, a->role);
	return 0;
}

static void test_agents(void **state)
{
	struct fixture *f = *state;
	char hash[STORE_HASH_HEX + 1];
	struct store_agent a = { "anna", "verkehr", "editor", hash, 0 };
	struct found_agent fa = { 0 };
	struct bot_err err = { 0 };

	store_token_hash("abc", 3, hash);
	/* the SHA-256 test vector of "abc" */
	assert_string_equal(hash, "ba7816bf8f01cfea414140de5dae2223"
			    "b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(store_agent_add(f->store, &a, &err), BOT_OK);
	assert_int_equal(store_agent_add(f->store, &a, &err), BOT_EAUTH);
	a.name = "bernd";
	a.role = "boss";
	assert_int_equal(store_agent_add(f->store, &a, &err), BOT_EINVAL);
	a.role = "agent";
	a.token_hash = "xyz";
	assert_int_equal(store_agent_add(f->store, &a, &err), BOT_EINVAL);
	assert_int_equal(store_agent_each(f->store, count_agent, &fa, &err), BOT_OK);
	assert_int_equal(fa.n, 1);
	assert_string_equal(fa.last, "anna/verkehr/editor");
	assert_int_equal(store_agent_remove(f->store, "anna", &err), BOT_OK);
	assert_int_equal(store_agent_remove(f->store, "anna", &err), BOT_ENOTFOUND);
	assert_int_equal(store_count(f->store, "agents"), 0);
}

static void test_notes_and_stats_rows(void **state)
{
	struct fixture *f = *state;
	struct handoff_case *a = open_case(f, 0, "buergerservice", 100);
	struct bot_err err = { 0 };
	struct seen s = { 0 };

	assert_int_equal(store_note_add(f->store, f->conv[0], "anna",
					"Rückruf an [E-Mail]", 120, &err), BOT_OK);
	assert_int_equal(store_count(f->store, "notes"), 1);
	assert_int_equal(handoff_end(f->q, &a, "abandoned", 130, &err), BOT_OK);
	assert_int_equal(store_handoff_each(f->store, 0, collect, &s, &err), BOT_OK);
	assert_int_equal(s.n, 0);
	assert_int_equal(store_handoff_each(f->store, 1, collect, &s, &err), BOT_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.state, "ended");
}

static void test_route(void **state)
{
	struct kb kb;
	struct reply r;

	(void)state;
	memset(&kb, 0, sizeof(kb));
	memset(&r, 0, sizeof(r));
	/* no service, no office: the default team (the kb is never read) */
	assert_string_equal(handoff_route(&kb, &r, "buergerservice"),
			    "buergerservice");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue_positions_per_team, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_claim_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_and_requeue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_visibility, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contact_encrypted_and_reloaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contact_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notes_and_stats_rows, setup, teardown),
		cmocka_unit_test(test_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
