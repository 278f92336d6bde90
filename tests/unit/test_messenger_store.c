/*
 * test_messenger_store.c - the Messenger tables of the store: the sealed
 * inbox, deduplication, users looked up by salted hash with the id sealed,
 * and the outbox that keeps one user's calls in order.
 */
#define _GNU_SOURCE		/* memmem() */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct bot_err err = { 0 };

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/amtsbot-msgr-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	setenv("AMTSBOT_SECRET_KEY", "000102030405060708090a0b0c0d0e0f"
	       "101112131415161718191a1b1c1d1e1f", 1);
	f->s = store_open(f->path, &err);
	*state = f;
	return f->s ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = { "t.db", "t.db-wal", "t.db-shm" };
	char p[192];
	size_t i;

	store_close(&f->s);
	for (i = 0; i < BOT_ARRAY_SIZE(names); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Is 'needle' anywhere in the database files (after a checkpoint)? */
static int in_files(struct fixture *f, const char *needle)
{
	static const char *const names[] = { "t.db", "t.db-wal" };
	char p[192], *buf;
	size_t i, n;
	FILE *fp;
	int found = 0;

	for (i = 0; i < BOT_ARRAY_SIZE(names); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		fp = fopen(p, "rb");
		if (!fp)
			continue;
		buf = malloc(64 << 20);
		n = fread(buf, 1, 64 << 20, fp);
		fclose(fp);
		found |= memmem(buf, n, needle, strlen(needle)) != NULL;
		free(buf);
	}
	return found;
}

static void test_inbox_sealed_and_deleted(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	const char *body = "{\"object\":\"page\",\"secret-text-4711\":1}";
	int64_t id = 0, id2 = 0, got = 0;
	size_t len = 0;
	char *out = NULL;

	assert_int_equal(store_msgr_inbox_add(f->s, body, strlen(body), 1, &id,
					      &err), BOT_OK);
	assert_int_equal(store_msgr_inbox_add(f->s, "{}", 2, 2, &id2, &err), BOT_OK);
	assert_false(in_files(f, "secret-text-4711"));
	assert_int_equal(store_msgr_count(f->s, "inbox"), 2);
	assert_int_equal(store_msgr_inbox_next(f->s, 0, &got, &out, &len, &err), 1);
	assert_int_equal(got, id);
	assert_int_equal(len, strlen(body));
	assert_string_equal(out, body);
	bot_free(out);
	assert_int_equal(store_msgr_inbox_next(f->s, id, &got, &out, &len, &err), 1);
	assert_int_equal(got, id2);
	bot_free(out);
	assert_int_equal(store_msgr_inbox_done(f->s, id, &err), BOT_OK);
	assert_int_equal(store_msgr_inbox_done(f->s, id2, &err), BOT_OK);
	assert_int_equal(store_msgr_inbox_next(f->s, 0, &got, &out, &len, &err), 0);
	assert_null(out);
}

static void test_seen_once(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	char k1[STORE_HASH_HEX + 1], k2[STORE_HASH_HEX + 1];

	assert_int_equal(store_msgr_hash(f->s, "mid", "m_1", 3, k1, &err), BOT_OK);
	assert_int_equal(store_msgr_hash(f->s, "psid", "m_1", 3, k2, &err), BOT_OK);
	assert_int_equal(strlen(k1), STORE_HASH_HEX);
	assert_string_not_equal(k1, k2);	/* domains are separated */
	assert_int_equal(store_msgr_seen(f->s, k1, 10, &err), 0);
	assert_int_equal(store_msgr_seen(f->s, k1, 11, &err), 1);
	assert_int_equal(store_msgr_seen(f->s, k2, 11, &err), 0);
	assert_int_equal(store_msgr_purge(f->s, 11, &err), BOT_OK);
	assert_int_equal(store_msgr_count(f->s, "seen"), 1);
}

static void test_user_hash_and_sealed_id(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	struct store_msgr_user u, v;

	memset(&u, 0, sizeof(u));
	assert_int_equal(store_msgr_hash(f->s, "psid", "id:psid-99887766", 16,
					 u.hash, &err), BOT_OK);
	snprintf(u.recipient, sizeof(u.recipient), "id:psid-99887766");
	snprintf(u.conv, sizeof(u.conv), "%032d", 7);
	u.last_citizen_at = 1000;
	u.disclosed = 1;
	assert_int_equal(store_msgr_user_put(f->s, &u, &err), BOT_OK);
	assert_false(in_files(f, "psid-99887766"));
	assert_int_equal(store_msgr_user_get(f->s, u.hash, &v, &err), 1);
	assert_string_equal(v.recipient, "id:psid-99887766");
	assert_int_equal(v.last_citizen_at, 1000);
	assert_int_equal(v.disclosed, 1);
	assert_int_equal(store_msgr_user_by_conv(f->s, u.conv, &v, &err), 1);
	assert_string_equal(v.hash, u.hash);
	assert_int_equal(store_msgr_user_by_conv(f->s, "nope", &v, &err), 0);
}

static void add_call(struct fixture *f, const char *user, const char *body,
		     int64_t next, int64_t *id)
{
	struct store_msgr_out o;
	struct bot_err err = { 0 };

	memset(&o, 0, sizeof(o));
	snprintf(o.user, sizeof(o.user), "%s", user);
	snprintf(o.path, sizeof(o.path), "messages");
	snprintf(o.kind, sizeof(o.kind), "message");
	o.next_ms = next;
	assert_int_equal(store_msgr_out_add(f->s, &o, body, strlen(body), &err),
			 BOT_OK);
	*id = o.id;
}

static void test_outbox_order_and_retry(void **state)
{
	struct fixture *f = *state;
	struct bot_err err = { 0 };
	struct store_msgr_out o;
	int64_t a1, a2, b1;
	char *body = NULL;

	add_call(f, "userA", "{\"a\":1}", 100, &a1);
	add_call(f, "userA", "{\"a\":2}", 100, &a2);
	add_call(f, "userB", "{\"b\":1}", 100, &b1);
	assert_int_equal(store_msgr_out_next(f->s, 50, -1, &o, &body, &err), 0);
	assert_int_equal(store_msgr_out_due(f->s), 100);
	assert_int_equal(store_msgr_out_next(f->s, 100, -1, &o, &body, &err), 1);
	assert_int_equal(o.id, a1);
	assert_string_equal(body, "{\"a\":1}");
	bot_free(body);
	/* a1 is retried later: a2 waits behind it, b1 does not */
	assert_int_equal(store_msgr_out_update(f->s, a1, "pending", 1, 500,
					       "code 1200", &err), BOT_OK);
	assert_int_equal(store_msgr_out_next(f->s, 200, -1, &o, &body, &err), 1);
	assert_int_equal(o.id, b1);
	bot_free(body);
	assert_int_equal(store_msgr_out_update(f->s, b1, "sent", 1, 0, NULL,
					       &err), BOT_OK);
	assert_int_equal(store_msgr_out_next(f->s, 200, -1, &o, &body, &err), 0);
	assert_int_equal(store_msgr_out_next(f->s, 500, -1, &o, &body, &err), 1);
	assert_int_equal(o.id, a1);
	assert_int_equal(o.attempts, 1);
	bot_free(body);
	assert_int_equal(store_msgr_out_update(f->s, a1, "failed", 2, 0,
					       "code 190", &err), BOT_OK);
	assert_int_equal(store_msgr_out_next(f->s, 500, -1, &o, &body, &err), 1);
	assert_int_equal(o.id, a2);
	bot_free(body);
	assert_int_equal(store_msgr_count(f->s, "failed"), 1);
	assert_int_equal(store_msgr_count(f->s, "sent"), 1);
	assert_int_equal(store_msgr_count(f->s, "pending"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inbox_sealed_and_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_hash_and_sealed_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_order_and_retry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
