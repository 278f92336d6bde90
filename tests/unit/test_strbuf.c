/*
 * test_strbuf.c - the capped string buffer: appends, formatted appends
 * that fit the spare room and those that must grow it, the cap, detach.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/strbuf.h"

static void test_add_and_addf(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	char big[300];
	int i;

	(void)state;
	strbuf_init(&sb, 0);
	assert_string_equal(strbuf_str(&sb), "");
	/* the first append allocates: vsnprintf twice */
	assert_int_equal(strbuf_addf(&sb, "%d-%s", 42, "x"), 0);
	assert_string_equal(sb.buf, "42-x");
	assert_int_equal(sb.len, 4);
	/* fits the spare room: written in place */
	assert_int_equal(strbuf_addf(&sb, " %02d:%02d", 8, 5), 0);
	assert_string_equal(sb.buf, "42-x 08:05");
	assert_int_equal(sb.len, 10);
	/* longer than the room: grows, content kept */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(strbuf_addf(&sb, "[%s]", big), 0);
	assert_int_equal(sb.len, 10 + 2 + 299);
	assert_int_equal(memcmp(sb.buf, "42-x 08:05[", 11), 0);
	assert_int_equal(sb.buf[sb.len - 1], ']');
	assert_int_equal(sb.buf[sb.len], '\0');
	/* an empty format changes nothing */
	assert_int_equal(strbuf_addf(&sb, "%s", ""), 0);
	assert_int_equal(sb.len, 311);
	strbuf_reset(&sb);
	for (i = 0; i < 100; i++)
		assert_int_equal(strbuf_addf(&sb, "%c", 'a' + i % 26), 0);
	assert_int_equal(sb.len, 100);
	assert_int_equal(strlen(sb.buf), 100);
	assert_int_equal(sb.buf[27], 'b');
	strbuf_release(&sb);
}

/* A failed append leaves the content as it was, also when the formatted
 * text was already written into the spare room. */
static void test_cap(void **state)
{
	struct strbuf sb;
	char *p;

	(void)state;
	strbuf_init(&sb, 10);
	assert_int_equal(strbuf_adds(&sb, "abc"), 0);
	assert_true(sb.alloc > 12);	/* room beyond the cap */
	assert_int_equal(strbuf_addf(&sb, "%s", "defghijk"), BOT_ENOMEM);
	assert_string_equal(sb.buf, "abc");
	assert_int_equal(sb.len, 3);
	assert_int_equal(strbuf_addf(&sb, "%s", "defghij"), 0);
	assert_string_equal(sb.buf, "abcdefghij");
	assert_int_equal(strbuf_addch(&sb, 'x'), BOT_ENOMEM);
	assert_int_equal(strbuf_add(&sb, "", 0), 0);
	p = strbuf_detach(&sb);
	assert_string_equal(p, "abcdefghij");
	bot_free(p);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 10);
	strbuf_release(&sb);
}

static void test_allocation_failure(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	bot_alloc_fail_after(1);	/* the next allocation */
	assert_int_equal(strbuf_addf(&sb, "%d", 7), BOT_ENOMEM);
	assert_int_equal(sb.len, 0);
	assert_string_equal(strbuf_str(&sb), "");
	bot_alloc_fail_after(0);
	assert_int_equal(strbuf_addf(&sb, "%d", 7), 0);
	assert_string_equal(sb.buf, "7");
	strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_addf),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_allocation_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
