/*
 * fuzz_pii.c - libFuzzer target for the personal-data scanner: any bytes
 * must give hits that are sorted, disjoint and inside the text, the same
 * hits every time, and a redaction that is exactly the text with each hit
 * replaced by its label, with no hit's bytes left in it.
 */
#define _GNU_SOURCE		/* memmem() */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/bot.h"
#include "engine/pii.h"
#include "engine/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs are capped at 16 KiB; the shortest hit plus a separator takes
 * seven bytes ("a@b.de,"), so this holds every hit of any input. */
#define FUZZ_MAX_INPUT 16384
#define FUZZ_MAX_ALL 4096

struct all_hits {
	struct pii_hit hit[FUZZ_MAX_ALL];
	size_t n;
};

static void check_result(const struct pii_result *res, size_t from,
			 size_t size)
{
	size_t k, pos = from;

	if (res->n > PII_MAX_HITS || (res->truncated && res->n != PII_MAX_HITS))
		__builtin_trap();
	for (k = 0; k < res->n; k++) {
		const struct pii_hit *h = &res->hit[k];

		if ((unsigned int)h->kind >= PII_KIND_COUNT || h->start < pos ||
		    h->end <= h->start || h->end > size)
			__builtin_trap();
		pos = h->end;
	}
}

static int same_result(const struct pii_result *a, const struct pii_result *b)
{
	size_t k;

	if (a->n != b->n || a->truncated != b->truncated)
		return 0;
	for (k = 0; k < a->n; k++)
		if (a->hit[k].kind != b->hit[k].kind ||
		    a->hit[k].start != b->hit[k].start ||
		    a->hit[k].end != b->hit[k].end)
			return 0;
	return 1;
}

/* Every hit, continuing after truncated results as pii_redact() does. */
static void collect(const char *t, size_t size, const struct pii_result *first,
		    struct all_hits *all)
{
	struct pii_result res = *first;
	size_t k, from;

	all->n = 0;
	for (;;) {
		for (k = 0; k < res.n; k++) {
			if (all->n == FUZZ_MAX_ALL)
				__builtin_trap();
			all->hit[all->n++] = res.hit[k];
		}
		if (!res.truncated)
			return;
		from = res.hit[res.n - 1].end;
		pii_scan_from(t, size, from, &res);
		check_result(&res, from, size);
		if (res.n == 0)
			__builtin_trap();	/* truncated means more hits */
	}
}

/* The redaction the hits promise, built by hand. */
static int expected(const char *t, size_t size, const struct all_hits *all,
		    struct strbuf *sb)
{
	size_t k, pos = 0;

	for (k = 0; k < all->n; k++) {
		if (strbuf_add(sb, t + pos, all->hit[k].start - pos) ||
		    strbuf_adds(sb, pii_label(all->hit[k].kind)))
			return -1;
		pos = all->hit[k].end;
	}
	return strbuf_add(sb, t + pos, size - pos);
}

/* Does 'needle' occur in t[from, to)? */
static int occurs(const char *t, size_t from, size_t to, const char *needle,
		  size_t n)
{
	return to - from >= n && memmem(t + from, to - from, needle, n);
}

/*
 * A hit's text holds a digit or '@' (every kind has one) and no brackets,
 * labels hold neither, so if it shows up in the output it must come from
 * a stretch of input between hits.
 */
static int has_digit_or_at(const char *h, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if ((h[k] >= '0' && h[k] <= '9') || h[k] == '@')
			return 1;
	return 0;
}

static void check_no_leak(const char *t, size_t size, const struct all_hits *all,
			  const struct strbuf *out)
{
	size_t k, g, gap;
	const char *h;
	size_t n;

	for (k = 0; k < all->n; k++) {
		h = t + all->hit[k].start;
		n = all->hit[k].end - all->hit[k].start;
		if (memchr(h, '[', n) || memchr(h, ']', n) ||
		    !has_digit_or_at(h, n) ||
		    !occurs(out->buf, 0, out->len, h, n))
			continue;
		for (g = 0, gap = 0; g <= all->n; g++) {
			size_t end = g < all->n ? all->hit[g].start : size;

			if (occurs(t, gap, end, h, n))
				break;
			if (g < all->n)
				gap = all->hit[g].end;
		}
		if (g > all->n)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	struct all_hits all;
	struct pii_result res, again;
	struct strbuf out, want;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	pii_scan(t, size, &res);
	check_result(&res, 0, size);
	pii_scan_from(t, size, 0, &again);
	if (!same_result(&res, &again))
		__builtin_trap();
	collect(t, size, &res, &all);

	strbuf_init(&out, 0);
	strbuf_init(&want, 0);
	if (pii_redact(t, size, &res, &out) != BOT_OK ||
	    expected(t, size, &all, &want) != BOT_OK)
		__builtin_trap();
	if (out.len != want.len || memcmp(out.buf, want.buf, out.len))
		__builtin_trap();
	check_no_leak(t, size, &all, &out);
	strbuf_release(&out);
	strbuf_release(&want);
	return 0;
}
