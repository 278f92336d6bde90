/*
 * bench.c - 'amtsbot bench': answers per second and latency percentiles
 * on a knowledge base's own questions (tests and examples), load time,
 * and the same on a generated knowledge base of N services to show how
 * the cost grows with size.
 */
#include "engine/bot.h"
#include "main.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "engine/dialog.h"
#include "engine/kb.h"
#include "engine/strbuf.h"
#include "engine/banned.h"

#define BENCH_SECONDS 1.5

struct bench_result {
	double load_ms;
	double per_s;
	double p50_us, p99_us;
	size_t questions;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The questions: every test turn and every example of the kb. */
static const char **bench_questions(const struct kb *kb, size_t *n)
{
	const char **q;
	size_t i, j, k = 0, cap = 0;

	for (i = 0; i < kb->n_tests; i++)
		cap += kb->tests[i].n_turns;
	for (i = 0; i < kb->n_intents; i++)
		cap += kb->intents[i].examples.n;
	q = bot_calloc(cap ? cap : 1, sizeof(*q));
	if (!q)
		return NULL;
	for (i = 0; i < kb->n_tests; i++)
		for (j = 0; j < kb->tests[i].n_turns; j++)
			q[k++] = kb->tests[i].turns[j].question;
	for (i = 0; i < kb->n_intents; i++)
		for (j = 0; j < kb->intents[i].examples.n; j++)
			q[k++] = kb->intents[i].examples.v[j];
	*n = k;
	return q;
}

static int bench_loop(struct dialog *d, const char **q, size_t n,
		      struct bench_result *res)
{
	size_t cap = 1u << 22, k = 0, i;
	double *lat = bot_malloc(cap * sizeof(*lat));
	double t0, t1, start;
	struct dialog_state st;
	struct reply r;
	time_t now = time(NULL);

	if (!lat || !n) {
		bot_free(lat);
		return 1;
	}
	reply_init(&r);
	start = now_s();
	do {
		for (i = 0; i < n && k < cap; i++, k++) {
			dialog_state_init(&st);
			t0 = now_s();
			if (dialog_reply(d, &st, q[i], strlen(q[i]), now, &r, NULL))
				break;
			t1 = now_s();
			lat[k] = t1 - t0;
		}
	} while (now_s() - start < BENCH_SECONDS && k < cap);
	res->per_s = (double)k / (now_s() - start);
	qsort(lat, k, sizeof(*lat), dbl_cmp);
	res->p50_us = lat[k / 2] * 1e6;
	res->p99_us = lat[(size_t)((double)k * 0.99)] * 1e6;
	res->questions = n;
	reply_release(&r);
	bot_free(lat);
	return 0;
}

static int bench_dir(const char *dir, struct bench_result *res)
{
	struct dialog *d = NULL;
	struct kb *kb = NULL;
	const char **q;
	size_t n = 0;
	double t0 = now_s();
	int rc;

	if (cli_load(dir, &kb, &d))
		return 1;
	res->load_ms = (now_s() - t0) * 1000;
	q = bench_questions(kb, &n);
	rc = q ? bench_loop(d, q, n, res) : 1;
	bot_free(q);
	dialog_free(&d);
	kb_free(&kb);
	return rc;
}

/* ---- a generated knowledge base ---------------------------------------- */

static const char *const syl[] = {
	"ba", "ber", "da", "del", "fa", "gen", "hal", "ka", "kor", "la",
	"len", "ma", "mer", "na", "nor", "pa", "ran", "sa", "sel", "ta",
	"tor", "va", "wen", "zi", "lo", "mu", "ri", "ste", "gu", "pi",
};

/* A made-up German-looking word, different for each n. */
static void fake_word(unsigned n, char *buf, size_t size)
{
	size_t len = 0;
	int i;

	for (i = 0; i < 4; i++) {
		len += (size_t)snprintf(buf + len, size - len, "%s",
					syl[n % BOT_ARRAY_SIZE(syl)]);
		n /= BOT_ARRAY_SIZE(syl);
		if (!n && i >= 1)
			break;
	}
	buf[0] = (char)(buf[0] - 'a' + 'A');
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	FILE *in = fopen(from, "rb"), *out;
	size_t n;
	int rc = 0;

	if (!in)
		return 0;	/* the kb may keep fewer files */
	out = fopen(to, "wb");
	if (!out) {
		fclose(in);
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -1;
	fclose(in);
	if (fclose(out))
		rc = -1;
	return rc;
}

/* The sample kb's files plus N generated services with names, synonyms,
 * fees and legal bases, each at one of the kb's offices. */
static int synth_write(const char *src, const char *dir, unsigned n)
{
	static const char *const files[] = {
		"settings.yaml", "offices.yaml", "services.yaml", "intents.yaml",
	};
	char from[4096], to[4096], w1[64], w2[64];
	FILE *fp;
	unsigned i;
	size_t f;

	for (f = 0; f < BOT_ARRAY_SIZE(files); f++) {
		snprintf(from, sizeof(from), "%s/%s", src, files[f]);
		snprintf(to, sizeof(to), "%s/%s", dir, files[f]);
		if (copy_file(from, to))
			return -1;
	}
	snprintf(to, sizeof(to), "%s/synthetic.yaml", dir);
	fp = fopen(to, "w");
	if (!fp)
		return -1;
	fputs("services:\n", fp);
	for (i = 0; i < n; i++) {
		fake_word(i * 7919u + 13, w1, sizeof(w1));
		fake_word(i * 104729u + 7, w2, sizeof(w2));
		fprintf(fp, "  - id: synth-%u\n    name: %sbescheinigung %u\n"
			"    synonyms: [%s%u, %sschein %u]\n"
			"    office: buergeramt\n    fees: %u Euro\n"
			"    summary: Die %sbescheinigung beantragen Sie im Bürgeramt.\n"
			"    documents: [Personalausweis]\n"
			"    legal_basis:\n      - law: SynthG\n        section: § %u\n"
			"        url: https://www.gesetze-im-internet.de/synthg/__%u.html\n",
			i, w1, i, w2, i, w1, i, 5 + i % 90, w1, 1 + i % 200,
			1 + i % 200);
	}
	return fclose(fp) ? -1 : 0;
}

static int bench_synthetic(const char *src, unsigned n,
			   struct bench_result *res)
{
	char dir[] = "/tmp/amtsbot-bench-XXXXXX";
	char path[4096];
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = synth_write(src, dir, n);
	if (!rc)
		rc = bench_dir(dir, res);
	snprintf(path, sizeof(path), "%s/synthetic.yaml", dir);
	unlink(path);
	for (const char *f = "settings.yaml\0offices.yaml\0services.yaml\0"
	     "intents.yaml\0"; *f; f += strlen(f) + 1) {
		snprintf(path, sizeof(path), "%s/%s", dir, f);
		unlink(path);
	}
	rmdir(dir);
	return rc;
}

static void print_result(const char *what, const struct bench_result *r)
{
	printf("%-28s load %7.1f ms  %9.0f answers/s  p50 %6.1f us  "
	       "p99 %6.1f us  (%zu questions)\n", what, r->load_ms, r->per_s,
	       r->p50_us, r->p99_us, r->questions);
}

int cli_bench(int argc, char **argv)
{
	struct bench_result base, s100, sn;
	const char *dir = "intents";
	unsigned n = 0;
	char what[64];
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--kb") && a + 1 < argc) {
			dir = argv[++a];
		} else if (!strcmp(argv[a], "--synthetic") && a + 1 < argc) {
			n = (unsigned)strtoul(argv[++a], NULL, 10);
		} else {
			fprintf(stderr, "usage: amtsbot bench [--kb DIR] "
				"[--synthetic N]\n");
			return !strcmp(argv[a], "--help") ? 0 : 2;
		}
	}
	if (bench_dir(dir, &base))
		return 1;
	print_result(dir, &base);
	if (!n)
		return 0;
	if (bench_synthetic(dir, 100, &s100) || bench_synthetic(dir, n, &sn))
		return 1;
	print_result("synthetic 100 services", &s100);
	snprintf(what, sizeof(what), "synthetic %u services", n);
	print_result(what, &sn);
	printf("slowdown %u vs 100 services: %.2fx (p99 %.2fx)\n", n,
	       s100.per_s / sn.per_s, sn.p99_us / s100.p99_us);
	return 0;
}
