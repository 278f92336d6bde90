/*
 * faq.c - 'amtsbot import-faq': turn an FAQ exported from a CMS or a
 * question-answering service (CSV with a header row: id, question,
 * answer, optional alternatives separated by '|') into a knowledge base
 * with one intent per entry.
 */
#include "engine/bot.h"
#include "main.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/strbuf.h"
#include "engine/text.h"
#include "engine/banned.h"

#define FAQ_MAX_FIELDS 16
#define FAQ_MAX_BYTES (64u << 20)

/* FAQ entries are matched on their wording alone, so the bar is lower
 * than for the sample kb, whose patterns give strong signals. */
#define FAQ_THRESHOLD "0.30"

struct csv_row {
	struct strbuf f[FAQ_MAX_FIELDS];
	int n;
	int line;		/* line where the row starts */
};

struct faq_cols {
	int id, question, answer, alternatives;
};

/* Read one RFC 4180 record (quoted fields may span lines).  Returns 1 for
 * a row, 0 at end of file, -1 on error (message printed). */
static int csv_read(FILE *fp, struct csv_row *row, int *line, const char *path)
{
	int c, quoted = 0, any = 0;

	row->n = 1;
	row->line = *line;
	strbuf_reset(&row->f[0]);
	while ((c = fgetc(fp)) != EOF) {
		any = 1;
		if (quoted) {
			if (c == '"') {
				int d = fgetc(fp);

				if (d != '"') {
					quoted = 0;
					if (d != EOF)
						ungetc(d, fp);
					continue;
				}
			}
			if (c == '\n')
				(*line)++;
		} else if (c == '"' && row->f[row->n - 1].len == 0) {
			quoted = 1;
			continue;
		} else if (c == ',') {
			if (row->n == FAQ_MAX_FIELDS) {
				fprintf(stderr, "%s:%d: too many columns\n",
					path, row->line);
				return -1;
			}
			strbuf_reset(&row->f[row->n++]);
			continue;
		} else if (c == '\n') {
			(*line)++;
			break;
		} else if (c == '\r') {
			continue;
		}
		if (strbuf_addch(&row->f[row->n - 1], c)) {
			fprintf(stderr, "%s:%d: field too long\n", path, row->line);
			return -1;
		}
	}
	if (quoted) {
		fprintf(stderr, "%s:%d: unterminated quoted field\n", path,
			row->line);
		return -1;
	}
	return any;
}

static int header_cols(const struct csv_row *row, struct faq_cols *c,
		       const char *path)
{
	int i;

	c->id = c->question = c->answer = c->alternatives = -1;
	for (i = 0; i < row->n; i++) {
		const char *h = strbuf_str(&row->f[i]);

		if (!strncmp(h, "\xef\xbb\xbf", 3))	/* BOM */
			h += 3;
		if (!strcmp(h, "id"))
			c->id = i;
		else if (!strcmp(h, "question"))
			c->question = i;
		else if (!strcmp(h, "answer"))
			c->answer = i;
		else if (!strcmp(h, "alternatives"))
			c->alternatives = i;
	}
	if (c->id < 0 || c->question < 0 || c->answer < 0) {
		fprintf(stderr, "%s:1: header must name the columns 'id', "
			"'question' and 'answer' (optional: 'alternatives')\n",
			path);
		return -1;
	}
	return 0;
}

/* A YAML double-quoted scalar: safe for any text. */
static void yaml_quoted(FILE *out, const char *s, size_t len)
{
	size_t i;

	fputc('"', out);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", out);
		else if (ch == '\t')
			fputs("\\t", out);
		else if (ch < 0x20)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static int id_valid(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 1; s[i]; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", s[i]))
			return 0;
	return 1;
}

static void write_alternatives(FILE *out, const char *alts)
{
	const char *p = alts, *bar;

	while (*p) {
		bar = strchr(p, '|');
		if (!bar)
			bar = p + strlen(p);
		while (p < bar && *p == ' ')
			p++;
		if (bar > p) {
			fputs("      - ", out);
			yaml_quoted(out, p, (size_t)(bar - p));
			fputc('\n', out);
		}
		p = *bar ? bar + 1 : bar;
	}
}

static int write_entry(FILE *out, FILE *tests, const struct csv_row *row,
		       const struct faq_cols *c, const char *path)
{
	const char *id = strbuf_str(&row->f[c->id]);
	const char *q = strbuf_str(&row->f[c->question]);
	const char *a = strbuf_str(&row->f[c->answer]);
	struct bot_err err = { 0 };

	if (!id_valid(id)) {
		fprintf(stderr, "%s:%d: id '%s' must be lowercase letters, "
			"digits, '.', '_' or '-'\n", path, row->line, id);
		return -1;
	}
	if (!q[0] || text_utf8_check(q, strlen(q), &err) ||
	    text_utf8_check(a, strlen(a), &err)) {
		fprintf(stderr, "%s:%d: entry '%s': %s\n", path, row->line, id,
			q[0] ? err.msg : "empty question");
		return -1;
	}
	fprintf(out, "  - id: %s\n    title: ", id);
	yaml_quoted(out, q, strlen(q));
	fputs("\n    examples:\n      - ", out);
	yaml_quoted(out, q, strlen(q));
	fputc('\n', out);
	if (c->alternatives >= 0 && c->alternatives < row->n)
		write_alternatives(out, strbuf_str(&row->f[c->alternatives]));
	fputs("    answer: ", out);
	yaml_quoted(out, a[0] ? a : q, strlen(a[0] ? a : q));
	fputs("\n", out);
	fprintf(tests, "  - q: ");
	yaml_quoted(tests, q, strlen(q));
	fprintf(tests, "\n    intent: %s\n", id);
	return 0;
}

static FILE *open_out(const char *dir, const char *name)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	if (!fp)
		fprintf(stderr, "amtsbot import-faq: cannot write '%s': %s\n",
			path, strerror(errno));
	return fp;
}

static void write_settings(FILE *fp)
{
	fputs("# Made by 'amtsbot import-faq'.\n"
	      "settings:\n"
	      "  threshold: " FAQ_THRESHOLD "\n"
	      "  margin: 0.0\n"
	      "  thesaurus: /usr/share/openthesaurus-de/openthesaurus.txt\n"
	      "  fallback: \"Dazu habe ich leider keine Antwort. Formulieren "
	      "Sie Ihre Frage bitte anders, oder sprechen Sie mit einem "
	      "Menschen.\"\n", fp);
}

struct faq_files {
	FILE *in, *settings, *intents, *tests;
};

static int faq_convert(struct faq_files *f, const char *path)
{
	struct csv_row row;
	struct faq_cols c;
	int line = 1, rc, i, n = 0, bad = 0;

	for (i = 0; i < FAQ_MAX_FIELDS; i++)
		strbuf_init(&row.f[i], FAQ_MAX_BYTES);
	rc = csv_read(f->in, &row, &line, path);
	if (rc <= 0 || header_cols(&row, &c, path)) {
		if (rc == 0)
			fprintf(stderr, "%s: empty file\n", path);
		bad = 1;
	}
	write_settings(f->settings);
	fputs("intents:\n", f->intents);
	fputs("tests:\n", f->tests);
	while (!bad && (rc = csv_read(f->in, &row, &line, path)) > 0) {
		if (row.n == 1 && !row.f[0].len)
			continue;
		if (row.n <= c.answer || row.n <= c.question) {
			fprintf(stderr, "%s:%d: too few columns\n", path, row.line);
			bad = 1;
		} else if (write_entry(f->intents, f->tests, &row, &c, path)) {
			bad = 1;
		}
		n++;
	}
	for (i = 0; i < FAQ_MAX_FIELDS; i++)
		strbuf_release(&row.f[i]);
	if (rc < 0 || bad)
		return -1;
	return n;
}

/* FILE.csv and --out DIR; non-zero for --help or when one is missing. */
static int faq_args(int argc, char **argv, const char **in, const char **out)
{
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h"))
			return 1;
		if (!strcmp(argv[a], "--out") && a + 1 < argc)
			*out = argv[++a];
		else
			*in = argv[a];
	}
	return !*in || !*out;
}

int cli_import_faq(int argc, char **argv)
{
	struct faq_files f = { NULL, NULL, NULL, NULL };
	const char *in = NULL, *out = NULL;
	char tdir[4096];
	int n = -1;

	if (faq_args(argc, argv, &in, &out)) {
		fprintf(stderr, "usage: amtsbot import-faq FILE.csv --out DIR\n"
			"CSV with a header row: id, question, answer, optional "
			"alternatives separated by '|'.\n");
		return 2;
	}
	snprintf(tdir, sizeof(tdir), "%s/tests", out);
	if ((mkdir(out, 0755) && errno != EEXIST) ||
	    (mkdir(tdir, 0755) && errno != EEXIST)) {
		fprintf(stderr, "amtsbot import-faq: cannot create '%s': %s\n",
			out, strerror(errno));
		return 1;
	}
	f.in = fopen(in, "r");
	if (!f.in) {
		fprintf(stderr, "amtsbot import-faq: cannot open '%s': %s\n",
			in, strerror(errno));
		return 1;
	}
	f.settings = open_out(out, "settings.yaml");
	f.intents = open_out(out, "intents.yaml");
	f.tests = open_out(out, "tests/faq.yaml");
	if (f.settings && f.intents && f.tests)
		n = faq_convert(&f, in);
	fclose(f.in);
	if (f.settings)
		fclose(f.settings);
	if (f.intents)
		fclose(f.intents);
	if (f.tests)
		fclose(f.tests);
	if (n < 0)
		return 1;
	printf("%s: %d entries written to '%s'\n", in, n, out);
	return 0;
}
