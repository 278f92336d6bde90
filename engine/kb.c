/*
 * kb.c - load the knowledge base from YAML files (libyaml document API).
 *
 * Loading never stops at the first mistake: every problem becomes a
 * kb_diag with file, line and column, and parsing goes on with the next
 * field.  Only running out of memory aborts a load.  References between
 * files (a service's office, the ids named in tests) are checked once all
 * files are read, against the hash indexes that also serve kb_office() etc.
 */
#include "bot.h"
#include "kb.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <yaml.h>

#include "netiquette.h"
#include "banned.h"

#define KB_MAX_FILE	(4u << 20)	/* bytes per YAML file */
#define KB_MAX_DIAGS	1000		/* stored diagnostics; more are counted */
#define KB_MSG_MAX	1024		/* longest diagnostic message */
#define KB_LABEL	160		/* "office 'buergeramt'" */
#define KB_STOP		(-1)		/* internal: give up on this document */

#define FNV_OFFSET	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL

enum kb_ref_kind { REF_NONE, REF_OFFICE, REF_SERVICE, REF_INTENT, REF_REVIEW };

/* Something to check once every file is read. */
struct kb_ref {
	enum kb_ref_kind kind;
	size_t owner;		/* service index for its office, else SIZE_MAX */
	const char *id;		/* the id or date; borrowed from the kb */
	char *label;		/* "service 'x'", owned by the ref */
	struct kb_pos pos;
};

/* State of one load; the kb itself only keeps what callers need. */
struct kb_ctx {
	struct kb *kb;
	yaml_document_t *doc;
	const char *file;	/* borrowed from kb->files */
	long budget;		/* work left in this document (alias bombs) */
	struct kb_ref *refs;
	size_t n_refs;
	uint64_t hash;		/* of all file names and contents */
	const char *src;	/* the text being parsed (columns of '|' blocks) */
	size_t src_len;
};

/* Open-addressing id -> index table over one of the kb's arrays. */
struct kb_table {
	size_t *slot;		/* index + 1; 0 = empty */
	size_t mask;
	const char *arr;	/* the array; every element starts with 'id' */
	size_t size;		/* element size */
	size_t n;
	size_t pos_off;		/* offsetof(element, pos) */
};

struct kb_index {
	struct kb_table office, service, intent;
};

enum kb_ftype {
	FT_STR,		/* char * */
	FT_ID,		/* char *, must look like an id */
	FT_URL,		/* char *, should start with https:// */
	FT_DATE,	/* char *, YYYY-MM-DD, checked against review_months */
	FT_STRV,	/* struct kb_strv; a single string is a one-item list */
	FT_BOOL,	/* int 0/1 */
	FT_ENUM,	/* int: index into 'words' */
	FT_NUM01,	/* double in [0, 1] */
	FT_FUNC,	/* anything else: 'fn' parses it */
};

#define F_REQ		1u	/* missing -> error */
#define F_ALT		2u	/* stored in the second base (a test's fields) */
#define F_NONE_OK	4u	/* the reference may be "none" */
#define F_OWNER		8u	/* resolve the reference into the service */
#define F_TEXT		16u	/* citizens read it: kb->texts, style checks */

struct kb_field {
	const char *name;
	enum kb_ftype type;
	size_t off;
	unsigned flags;
	enum kb_ref_kind ref;	/* check the value as an id of this kind */
	int (*fn)(struct kb_ctx *c, void *base, yaml_node_t *val,
		  const char *label);
	const char *const *words;	/* FT_ENUM, NULL-terminated */
};

/* One mapping being parsed against a field table. */
struct kb_map {
	const struct kb_field *f;
	size_t n;
	void *base, *base2;
	const char *label;
	uint64_t seen, bad;	/* bit i: field i given / had an error */
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= FNV_PRIME;
	}
	return h;
}

/*
 * Make room for element 'n' of 'arr' and zero it.  The capacity is not
 * stored: it is the next power of two of 'n', so we grow exactly when 'n'
 * is a power of two.  Returns the (maybe moved) array or NULL; on NULL the
 * old array is untouched.
 */
static void *kb_grow(void *arr, size_t n, size_t size)
{
	char *p = arr;
	size_t cap;

	if (n == 0 || !(n & (n - 1))) {
		cap = n ? n * 2 : 1;
		if (cap > SIZE_MAX / size)
			return NULL;
		p = bot_realloc(arr, cap * size);
		if (!p)
			return NULL;
	}
	memset(p + n * size, 0, size);
	return p;
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int is_scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE;
}

/* A plain empty, '~' or 'null' scalar: the field counts as not given. */
static int is_null(const yaml_node_t *n)
{
	const char *s;

	if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	s = scalar(n);
	return !*s || !strcmp(s, "~") || !strcasecmp(s, "null");
}

static yaml_node_t *node_at(struct kb_ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static struct kb_pos node_pos(const struct kb_ctx *c, const yaml_node_t *n)
{
	struct kb_pos p;

	p.file = c->file;
	p.line = (int)n->start_mark.line + 1;
	p.col = (int)n->start_mark.column + 1;
	return p;
}

static int diag_vadd(struct kb *kb, char sev, const struct kb_pos *pos,
		     const char *fmt, va_list ap) BOT_PRINTF(4, 0);

static int diag_vadd(struct kb *kb, char sev, const struct kb_pos *pos,
		     const char *fmt, va_list ap)
{
	struct kb_pos where = { NULL, 0, 0 };
	char buf[KB_MSG_MAX];
	struct kb_diag *d;
	char *msg;

	/* 'pos' may point into kb->diags, which may move below */
	if (pos)
		where = *pos;
	sev = sev == 'w' ? 'w' : 'e';
	if (kb->n_diags <= KB_MAX_DIAGS) {
		if (kb->n_diags < KB_MAX_DIAGS)
			vsnprintf(buf, sizeof(buf), fmt, ap);
		else	/* one last note, so that readers know the list is cut */
			snprintf(buf, sizeof(buf), "too many problems; only "
				 "the first %d are shown", KB_MAX_DIAGS);
		msg = bot_strdup(buf);
		d = msg ? kb_grow(kb->diags, kb->n_diags, sizeof(*d)) : NULL;
		if (!d) {
			bot_free(msg);
			return BOT_ENOMEM;
		}
		kb->diags = d;
		d = &kb->diags[kb->n_diags++];
		d->severity = kb->n_diags > KB_MAX_DIAGS ? 'w' : sev;
		d->msg = msg;
		if (kb->n_diags <= KB_MAX_DIAGS)
			d->pos = where;
	}
	if (sev == 'e')
		kb->n_errors++;
	return BOT_OK;
}

int kb_diag_add(struct kb *kb, char severity, const struct kb_pos *pos,
		const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = diag_vadd(kb, severity, pos, fmt, ap);
	va_end(ap);
	return rc;
}

static int diag(struct kb_ctx *c, char sev, const yaml_node_t *n,
		const char *fmt, ...) BOT_PRINTF(4, 5);

/* Report a problem at node 'n' of the current file. */
static int diag(struct kb_ctx *c, char sev, const yaml_node_t *n,
		const char *fmt, ...)
{
	struct kb_pos pos = node_pos(c, n);
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = diag_vadd(c->kb, sev, &pos, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Account for 'cost' units of work.  Aliases let a small document name
 * one big node many times; the budget keeps the work linear in the size
 * of the text.  Returns KB_STOP (after one error) when it runs out.
 */
static int charge(struct kb_ctx *c, const yaml_node_t *n, size_t cost)
{
	int rc;

	if (c->budget <= 0)
		return KB_STOP;
	c->budget -= (long)(cost < (size_t)LONG_MAX ? cost : LONG_MAX / 2);
	if (c->budget > 0)
		return BOT_OK;
	rc = diag(c, 'e', n, "document too complex (too many aliases); "
		  "the rest of it is ignored");
	return rc ? rc : KB_STOP;
}

/* Copy a scalar; block scalars ('|', '>') lose their trailing newlines. */
static int scalar_dup(struct kb_ctx *c, const yaml_node_t *n, char **out)
{
	size_t len = n->data.scalar.length;
	const char *s = scalar(n);
	int rc;

	rc = charge(c, n, len / 16 + 1);
	if (rc)
		return rc;
	if (n->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
	    n->data.scalar.style == YAML_FOLDED_SCALAR_STYLE) {
		while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
			len--;
	}
	*out = bot_strndup(s, len);
	return *out ? BOT_OK : BOT_ENOMEM;
}

static int id_ok(const char *s)
{
	const char *p;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return 0;
	for (p = s + 1; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			return 0;
	}
	return 1;
}

/* 1 or 0 in '*out' for true/false, ja/nein, yes/no, on/off; else -1. */
static int parse_bool(const yaml_node_t *n, int *out)
{
	static const char *const yes[] = { "true", "ja", "yes", "on" };
	static const char *const no[] = { "false", "nein", "no", "off" };
	size_t i;

	if (!is_scalar(n))
		return -1;
	for (i = 0; i < BOT_ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(scalar(n), yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(scalar(n), no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* ---- dates and times ---------------------------------------------------- */

/* Read 'min'..'max' digits at 'p'; NULL when there are fewer than 'min'. */
static const char *scan_num(const char *p, int min, int max, int *out)
{
	int n = 0, v = 0;

	while (n < max && p[n] >= '0' && p[n] <= '9') {
		v = v * 10 + (p[n] - '0');
		n++;
	}
	if (n < min)
		return NULL;
	*out = v;
	return p + n;
}

/* Year 0 stands for "every year", so 29.02. is allowed there. */
static int date_ok(int y, int m, int d)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30,
				       31, 31, 30, 31, 30, 31 };
	int leap = y == 0 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));

	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	return m != 2 || d < 29 || leap;
}

/* "YYYY-MM-DD" at the start of 's'; returns the end or NULL. */
static const char *scan_ymd(const char *s, struct kb_date *d)
{
	const char *p = scan_num(s, 4, 4, &d->year);

	if (!p || *p != '-')
		return NULL;
	p = scan_num(p + 1, 1, 2, &d->month);
	if (!p || *p != '-')
		return NULL;
	p = scan_num(p + 1, 1, 2, &d->day);
	if (!p || !d->year || !date_ok(d->year, d->month, d->day))
		return NULL;
	return p;
}

/* "YYYY-MM-DD", "DD.MM.YYYY", or "DD.MM." (year 0: every year). */
static int parse_date(const char *s, struct kb_date *d)
{
	const char *p = scan_ymd(s, d);

	if (p)
		return *p ? -1 : 0;
	d->year = 0;
	p = scan_num(s, 1, 2, &d->day);
	if (!p || *p != '.')
		return -1;
	p = scan_num(p + 1, 1, 2, &d->month);
	if (!p)
		return -1;
	if (*p == '.')
		p++;
	if (*p) {
		p = scan_num(p, 4, 4, &d->year);
		if (!p || *p || !d->year)
			return -1;
	}
	return date_ok(d->year, d->month, d->day) ? 0 : -1;
}

/* "YYYY-MM-DDTHH:MM[:SS]", also with a space for the 'T'. */
static int now_ok(const char *s)
{
	struct kb_date d;
	const char *p = scan_ymd(s, &d);
	int h, m, sec = 0;

	if (!p || (*p != 'T' && *p != ' '))
		return 0;
	p = scan_num(p + 1, 1, 2, &h);
	if (!p || *p != ':')
		return 0;
	p = scan_num(p + 1, 2, 2, &m);
	if (p && *p == ':')
		p = scan_num(p + 1, 2, 2, &sec);
	return p && !*p && h < 24 && m < 60 && sec < 60;
}

/* ---- references checked after loading ----------------------------------- */

static int add_ref(struct kb_ctx *c, enum kb_ref_kind kind, size_t owner,
		   const char *id, const char *label, const yaml_node_t *n)
{
	struct kb_ref *r;
	char *l = bot_strdup(label);

	r = l ? kb_grow(c->refs, c->n_refs, sizeof(*r)) : NULL;
	if (!r) {
		bot_free(l);
		return BOT_ENOMEM;
	}
	c->refs = r;
	r = &c->refs[c->n_refs++];
	r->kind = kind;
	r->owner = owner;
	r->id = id;
	r->label = l;
	r->pos = node_pos(c, n);
	return BOT_OK;
}

/*
 * Column (1-based) of the first content line of the '|' block that starts
 * at node 'n': its indentation, found in the source text.
 */
static int literal_col(const struct kb_ctx *c, const yaml_node_t *n)
{
	size_t i = n->start_mark.index, col = 1;

	while (i < c->src_len && c->src[i] != '\n')
		i++;
	for (i++; i < c->src_len && c->src[i] == ' '; i++)
		col++;
	return (int)col;
}

/* Remember a text citizens read, for the style checks of 'amtsbot check'. */
static int add_text(struct kb_ctx *c, const char *field, const char *text,
		    const char *label, const yaml_node_t *n)
{
	struct kb *kb = c->kb;
	struct kb_text *t;
	char *l = bot_strdup(label);

	t = l ? kb_grow(kb->texts, kb->n_texts, sizeof(*t)) : NULL;
	if (!t) {
		bot_free(l);
		return BOT_ENOMEM;
	}
	kb->texts = t;
	t = &kb->texts[kb->n_texts++];
	t->text = text;
	t->field = field;
	t->label = l;
	t->pos = node_pos(c, n);
	if (n->data.scalar.style == YAML_LITERAL_SCALAR_STYLE && c->src) {
		t->literal = 1;
		t->pos.line++;
		t->pos.col = literal_col(c, n);
	} else if (n->start_mark.line == n->end_mark.line &&
		   n->data.scalar.style != YAML_FOLDED_SCALAR_STYLE) {
		/* one line: columns follow the text (quotes: one more) */
		t->literal = 1;
		if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
			t->pos.col++;
	}
	return BOT_OK;
}

/* ---- field tables --------------------------------------------------------- */

static int get_str(struct kb_ctx *c, yaml_node_t *val, const char *label,
		   const char *key, char **dst)
{
	char *s;
	int rc;

	if (is_null(val))
		return BOT_OK;
	if (!is_scalar(val))
		return diag(c, 'e', val, "%s: expected a string for '%s'",
			    label, key);
	rc = scalar_dup(c, val, &s);
	if (rc)
		return rc;
	bot_free(*dst);
	*dst = s;
	return BOT_OK;
}

static int strv_push(struct kb_ctx *c, struct kb_strv *sv,
		     const yaml_node_t *n)
{
	char **v;
	char *s;
	int rc;

	rc = scalar_dup(c, n, &s);
	if (rc)
		return rc;
	v = kb_grow(sv->v, sv->n, sizeof(*v));
	if (!v) {
		bot_free(s);
		return BOT_ENOMEM;
	}
	sv->v = v;
	sv->v[sv->n++] = s;
	return BOT_OK;
}

/* One item of a list of strings; 'text': citizens read it. */
static int strv_item(struct kb_ctx *c, yaml_node_t *n, const char *label,
		     const char *key, struct kb_strv *sv, int text)
{
	int rc = charge(c, n, 1);

	if (rc)
		return rc;
	if (!is_scalar(n))
		return diag(c, 'e', n, "%s: expected a string in '%s'", label,
			    key);
	if (is_null(n))
		return BOT_OK;
	rc = strv_push(c, sv, n);
	if (!rc && text)
		rc = add_text(c, key, sv->v[sv->n - 1], label, n);
	return rc;
}

/* A list of strings; a single string is a list of one. */
static int get_strv(struct kb_ctx *c, yaml_node_t *val, const char *label,
		    const char *key, struct kb_strv *sv, int text)
{
	yaml_node_item_t *it;
	int rc;

	if (is_null(val))
		return BOT_OK;
	if (is_scalar(val)) {
		rc = strv_push(c, sv, val);
		if (!rc && text)
			rc = add_text(c, key, sv->v[sv->n - 1], label, val);
		return rc;
	}
	if (val->type != YAML_SEQUENCE_NODE)
		return diag(c, 'e', val, "%s: expected a list for '%s'",
			    label, key);
	for (it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		rc = strv_item(c, node_at(c, *it), label, key, sv, text);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

typedef int (*item_fn)(struct kb_ctx *c, void *base, yaml_node_t *n,
		       const char *label);

/* Call 'fn' for a single value or for each item of a list in 'key'. */
static int list_each(struct kb_ctx *c, void *base, yaml_node_t *val,
		     const char *label, const char *key, item_fn fn)
{
	yaml_node_item_t *it;
	yaml_node_t *n;
	int rc;

	if (is_null(val))
		return BOT_OK;
	if (is_scalar(val))
		return fn(c, base, val, label);
	if (val->type != YAML_SEQUENCE_NODE)
		return diag(c, 'e', val, "%s: expected a list for '%s'",
			    label, key);
	for (it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		n = node_at(c, *it);
		rc = charge(c, n, 1);
		if (!rc)
			rc = fn(c, base, n, label);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

#define KB_ID_RULE "(use lowercase letters, digits, '.', '_' and '-')"

static int id_check(struct kb_ctx *c, const struct kb_field *f,
		    const char *s, yaml_node_t *val, const char *label)
{
	if (id_ok(s))
		return BOT_OK;
	if (!strcmp(f->name, "id"))
		return diag(c, 'e', val, "%s: bad id '%.200s' " KB_ID_RULE,
			    label, s);
	return diag(c, 'e', val, "%s: bad id '%.200s' in '%s' " KB_ID_RULE,
		    label, s, f->name);
}

/* A review date; its age is checked once review_months is known. */
static int date_check(struct kb_ctx *c, const struct kb_field *f,
		      const char *s, yaml_node_t *val, const char *label)
{
	struct kb_date d;
	const char *end = scan_ymd(s, &d);

	if (!end || *end)
		return diag(c, 'e', val, "%s: bad date '%.200s' for '%s' "
			    "(expected YYYY-MM-DD)", label, s, f->name);
	return add_ref(c, REF_REVIEW, SIZE_MAX, s, label, val);
}

/* Check a string field that was just set and note references. */
static int str_check(struct kb_ctx *c, const struct kb_field *f, void *base,
		     const char *s, yaml_node_t *val, const char *label)
{
	size_t owner = SIZE_MAX;

	if (f->type == FT_ID && !id_ok(s))
		return id_check(c, f, s, val, label);
	if (f->type == FT_URL && strncmp(s, "https://", 8))
		return diag(c, 'w', val, "%s: '%s' should start with https:// "
			    "(got '%.200s')", label, f->name, s);
	if (f->type == FT_DATE)
		return date_check(c, f, s, val, label);
	if (f->flags & F_TEXT)
		return add_text(c, f->name, s, label, val);
	if (f->ref == REF_NONE || ((f->flags & F_NONE_OK) && !strcmp(s, "none")))
		return BOT_OK;
	if (f->flags & F_OWNER)
		owner = (size_t)((struct kb_service *)base - c->kb->services);
	return add_ref(c, f->ref, owner, s, label, val);
}

static int str_field(struct kb_ctx *c, const struct kb_field *f, void *base,
		     yaml_node_t *val, const char *label)
{
	char **dst = (char **)((char *)base + f->off);
	int rc;

	if (is_null(val) || !is_scalar(val))
		return get_str(c, val, label, f->name, dst);
	rc = get_str(c, val, label, f->name, dst);
	if (rc)
		return rc;
	return str_check(c, f, base, *dst, val, label);
}

static int enum_field(struct kb_ctx *c, const struct kb_field *f, int *dst,
		      yaml_node_t *val, const char *label)
{
	char list[256] = "";
	size_t i, len = 0;

	if (is_null(val))
		return BOT_OK;
	for (i = 0; f->words[i]; i++) {
		if (is_scalar(val) && !strcmp(scalar(val), f->words[i])) {
			*dst = (int)i;
			return BOT_OK;
		}
		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
						"%s%s", i ? ", " : "",
						f->words[i]);
	}
	return diag(c, 'e', val, "%s: field '%s' must be one of %s", label,
		    f->name, list);
}

static int num01_field(struct kb_ctx *c, const struct kb_field *f,
		       double *dst, yaml_node_t *val, const char *label)
{
	char *end;
	double v;

	if (is_null(val))
		return BOT_OK;
	if (is_scalar(val)) {
		errno = 0;
		v = strtod(scalar(val), &end);
		if (end != scalar(val) && !*end && !errno && v >= 0.0 &&
		    v <= 1.0) {
			*dst = v;
			return BOT_OK;
		}
	}
	return diag(c, 'e', val, "%s: '%s' must be a number between 0 and 1",
		    label, f->name);
}

static int field_parse(struct kb_ctx *c, const struct kb_field *f,
		       void *base, yaml_node_t *val, const char *label)
{
	void *p = (char *)base + f->off;

	switch (f->type) {
	case FT_STR:
	case FT_ID:
	case FT_URL:
	case FT_DATE:
		return str_field(c, f, base, val, label);
	case FT_STRV:
		return get_strv(c, val, label, f->name, p,
				!!(f->flags & F_TEXT));
	case FT_BOOL:
		if (is_null(val) || !parse_bool(val, p))
			return BOT_OK;
		return diag(c, 'e', val, "%s: expected true or false for '%s'",
			    label, f->name);
	case FT_ENUM:
		return enum_field(c, f, p, val, label);
	case FT_NUM01:
		return num01_field(c, f, p, val, label);
	case FT_FUNC:
		return f->fn(c, base, val, label);
	}
	return BOT_OK;
}

static void map_init(struct kb_map *m, const struct kb_field *f, size_t n,
		     void *base, void *base2, const char *label)
{
	m->f = f;
	m->n = n;
	m->base = base;
	m->base2 = base2;
	m->label = label;
	m->seen = 0;
	m->bad = 0;
}

static int map_entry(struct kb_ctx *c, struct kb_map *m, yaml_node_pair_t *pair)
{
	yaml_node_t *key = node_at(c, pair->key);
	yaml_node_t *val = node_at(c, pair->value);
	const struct kb_field *f = NULL;
	size_t i, errors;
	uint64_t bit;
	int rc;

	rc = charge(c, key, 1);
	if (rc)
		return rc;
	if (!is_scalar(key))
		return diag(c, 'e', key, "%s: a key must be a single word",
			    m->label);
	for (i = 0; i < m->n && !f; i++) {
		if (!strcmp(m->f[i].name, scalar(key)))
			f = &m->f[i];
	}
	if (!f)
		return diag(c, 'e', key, "unknown field '%.200s' in %s",
			    scalar(key), m->label);
	bit = 1ULL << (f - m->f);
	if (m->seen & bit)
		return diag(c, 'e', key, "duplicate field '%s' in %s",
			    f->name, m->label);
	m->seen |= bit;
	errors = c->kb->n_errors;
	rc = field_parse(c, f, (f->flags & F_ALT) ? m->base2 : m->base, val,
			 m->label);
	if (c->kb->n_errors != errors)
		m->bad |= bit;
	return rc;
}

/* Parse mapping 'n' against 'm' and report missing required fields. */
static int parse_mapping(struct kb_ctx *c, yaml_node_t *n, struct kb_map *m)
{
	yaml_node_pair_t *pair;
	char *p;
	size_t i;
	int rc;

	for (pair = n->data.mapping.pairs.start;
	     pair < n->data.mapping.pairs.top; pair++) {
		rc = map_entry(c, m, pair);
		if (rc)
			return rc;
	}
	for (i = 0; i < m->n; i++) {
		if (!(m->f[i].flags & F_REQ) || (m->bad & (1ULL << i)))
			continue;
		p = (char *)((m->f[i].flags & F_ALT) ? m->base2 : m->base);
		if (*(char **)(p + m->f[i].off))
			continue;
		rc = diag(c, 'e', n, "missing field '%s' in %s", m->f[i].name,
			  m->label);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

/* The scalar value of 'key' in mapping 'n', or NULL. */
static const char *map_scalar(struct kb_ctx *c, yaml_node_t *n,
			      const char *key)
{
	yaml_node_pair_t *pair;
	yaml_node_t *k, *v;

	for (pair = n->data.mapping.pairs.start;
	     pair < n->data.mapping.pairs.top; pair++) {
		k = node_at(c, pair->key);
		v = node_at(c, pair->value);
		if (is_scalar(k) && is_scalar(v) && !strcmp(scalar(k), key))
			return scalar(v);
	}
	return NULL;
}

/* "office 'buergeramt'", or "office #3" when it has no id. */
static void make_label(struct kb_ctx *c, yaml_node_t *n, const char *kind,
		       const char *key1, const char *key2, size_t idx,
		       char *buf, size_t size)
{
	const char *s = map_scalar(c, n, key1);

	if ((!s || !*s) && key2)
		s = map_scalar(c, n, key2);
	if (s && *s)
		snprintf(buf, size, "%s '%.60s'", kind, s);
	else
		snprintf(buf, size, "%s #%zu", kind, idx + 1);
}

/* ---- offices ------------------------------------------------------------ */

static const char *const kb_days[7][4] = {
	{ "mo", "montag", "mon", "monday" },
	{ "di", "dienstag", "tue", "tuesday" },
	{ "mi", "mittwoch", "wed", "wednesday" },
	{ "do", "donnerstag", "thu", "thursday" },
	{ "fr", "freitag", "fri", "friday" },
	{ "sa", "samstag", "sat", "saturday" },
	{ "so", "sonntag", "sun", "sunday" },
};

static int day_index(const char *s)
{
	size_t d, k;

	for (d = 0; d < 7; d++) {
		for (k = 0; k < 4; k++) {
			if (!strcasecmp(s, kb_days[d][k]))
				return (int)d;
		}
	}
	return -1;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* "H:MM" or "HH:MM", 0:00..24:00, in minutes; -1 when bad. */
static int scan_time(const char **pp, const char *end)
{
	char tmp[6];
	const char *p = *pp, *q;
	size_t n = 0;
	int h, m;

	while (p + n < end && n < sizeof(tmp) - 1 &&
	       ((p[n] >= '0' && p[n] <= '9') || p[n] == ':')) {
		tmp[n] = p[n];
		n++;
	}
	tmp[n] = '\0';
	q = scan_num(tmp, 1, 2, &h);
	if (!q || *q != ':')
		return -1;
	q = scan_num(q + 1, 2, 2, &m);
	if (!q || *q || h > 24 || m > 59 || (h == 24 && m))
		return -1;
	*pp = p + n;
	return h * 60 + m;
}

/* "08:00-12:00" (also with an en dash and spaces); -1 when bad. */
static int parse_range(const char *s, const char *end, struct kb_range *r)
{
	const char *p = skip_ws(s, end);

	r->open = scan_time(&p, end);
	if (r->open < 0)
		return -1;
	p = skip_ws(p, end);
	if (p < end && *p == '-')
		p++;
	else if (end - p >= 3 && !memcmp(p, "\xe2\x80\x93", 3))
		p += 3;
	else
		return -1;
	p = skip_ws(p, end);
	r->close = scan_time(&p, end);
	if (r->close < 0)
		return -1;
	return skip_ws(p, end) == end ? 0 : -1;
}

static int is_closed_word(const char *s, size_t len)
{
	return (len == 11 && !strncasecmp(s, "geschlossen", 11)) ||
	       (len == 6 && !strncasecmp(s, "closed", 6)) ||
	       (len == 1 && *s == '-');
}

/* Add one comma-separated piece of a day's hours. */
static int day_add(struct kb_ctx *c, struct kb_day *day, const char *s,
		   const char *end, yaml_node_t *n, const char *label,
		   const char *key)
{
	struct kb_range r;
	int len;

	s = skip_ws(s, end);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	len = (int)(end - s < 200 ? end - s : 200);
	if (s == end || is_closed_word(s, (size_t)(end - s)))
		return BOT_OK;
	if (parse_range(s, end, &r))
		return diag(c, 'e', n, "%s: bad time range '%.*s' in '%s' "
			    "(expected HH:MM-HH:MM)", label, len, s, key);
	if (r.open >= r.close)
		return diag(c, 'e', n, "%s: time range '%.*s' in '%s' ends "
			    "before it starts", label, len, s, key);
	if (day->n == KB_MAX_RANGES)
		return diag(c, 'e', n, "%s: more than %d time ranges in '%s'",
			    label, KB_MAX_RANGES, key);
	day->r[day->n++] = r;
	return BOT_OK;
}

static int day_scalar(struct kb_ctx *c, struct kb_day *day, yaml_node_t *n,
		      const char *label, const char *key)
{
	const char *s = scalar(n), *end = s + n->data.scalar.length, *comma;
	int rc;

	rc = charge(c, n, n->data.scalar.length / 16 + 1);
	while (!rc && s <= end) {
		comma = memchr(s, ',', (size_t)(end - s));
		if (!comma)
			comma = end;
		rc = day_add(c, day, s, comma, n, label, key);
		s = comma + 1;
	}
	return rc;
}

static int day_check(struct kb_ctx *c, struct kb_day *day, yaml_node_t *n,
		     const char *label, const char *key)
{
	struct kb_range t;
	int i, j;

	for (i = 1; i < day->n; i++) {
		t = day->r[i];
		for (j = i; j > 0 && day->r[j - 1].open > t.open; j--)
			day->r[j] = day->r[j - 1];
		day->r[j] = t;
	}
	for (i = 1; i < day->n; i++) {
		if (day->r[i].open < day->r[i - 1].close)
			return diag(c, 'e', n, "%s: overlapping time ranges "
				    "in '%s'", label, key);
	}
	return BOT_OK;
}

/* One weekday: "08:00-12:00, 14:00-16:00", a list of those, or empty. */
static int parse_day(struct kb_ctx *c, struct kb_day *day, yaml_node_t *val,
		     const char *label, const char *key)
{
	yaml_node_item_t *it;
	yaml_node_t *n;
	int rc = BOT_OK;

	day->n = 0;
	if (is_null(val))
		return BOT_OK;
	if (is_scalar(val)) {
		rc = day_scalar(c, day, val, label, key);
	} else if (val->type == YAML_SEQUENCE_NODE) {
		for (it = val->data.sequence.items.start;
		     !rc && it < val->data.sequence.items.top; it++) {
			n = node_at(c, *it);
			rc = charge(c, n, 1);
			if (!rc && is_scalar(n))
				rc = day_scalar(c, day, n, label, key);
			else if (!rc)
				rc = diag(c, 'e', n, "%s: expected a time "
					  "range in '%s'", label, key);
		}
	} else {
		return diag(c, 'e', val, "%s: expected time ranges for '%s'",
			    label, key);
	}
	return rc ? rc : day_check(c, day, val, label, key);
}

static int office_hours(struct kb_ctx *c, void *base, yaml_node_t *val,
			const char *label)
{
	struct kb_office *o = base;
	yaml_node_pair_t *pair;
	yaml_node_t *k;
	unsigned seen = 0;
	int d, rc;

	if (is_null(val))
		return BOT_OK;
	if (val->type != YAML_MAPPING_NODE)
		return diag(c, 'e', val, "%s: expected weekdays (mo, di, mi, "
			    "do, fr, sa, so) for 'hours'", label);
	o->has_hours = 1;
	for (pair = val->data.mapping.pairs.start;
	     pair < val->data.mapping.pairs.top; pair++) {
		k = node_at(c, pair->key);
		rc = charge(c, k, 1);
		d = !rc && is_scalar(k) ? day_index(scalar(k)) : -1;
		if (!rc && d < 0)
			rc = diag(c, 'e', k, "%s: unknown day '%.200s' in 'hours' "
				  "(expected mo, di, mi, do, fr, sa, so)", label,
				  is_scalar(k) ? scalar(k) : "");
		else if (!rc && (seen & (1u << d)))
			rc = diag(c, 'e', k, "%s: day '%s' given twice in "
				  "'hours'", label, scalar(k));
		else if (!rc)
			rc = parse_day(c, &o->week[d], node_at(c, pair->value),
				       label, scalar(k));
		if (rc)
			return rc;
		if (d >= 0)
			seen |= 1u << d;
	}
	return BOT_OK;
}

static int closed_date(struct kb_ctx *c, void *base, yaml_node_t *n,
		       const char *label)
{
	struct kb_office *o = base;
	struct kb_date d, *v;

	if (!is_scalar(n) || parse_date(scalar(n), &d))
		return diag(c, 'e', n, "%s: bad date '%.200s' in 'closed' "
			    "(expected DD.MM., DD.MM.YYYY or YYYY-MM-DD)",
			    label, is_scalar(n) ? scalar(n) : "");
	v = kb_grow(o->closed, o->n_closed, sizeof(*v));
	if (!v)
		return BOT_ENOMEM;
	o->closed = v;
	o->closed[o->n_closed++] = d;
	return BOT_OK;
}

static int closed_dates(struct kb_ctx *c, void *base, yaml_node_t *val,
			const char *label)
{
	return list_each(c, base, val, label, "dates", closed_date);
}

static const struct kb_field closed_fields[] = {
	{ "holidays", FT_BOOL, offsetof(struct kb_office, closed_on_holidays),
	  0, REF_NONE, NULL, NULL },
	{ "dates", FT_FUNC, 0, 0, REF_NONE, closed_dates, NULL },
};

/* closed: {holidays: bool, dates: [...]}, or just the list of dates. */
static int office_closed(struct kb_ctx *c, void *base, yaml_node_t *val,
			 const char *label)
{
	struct kb_map m;

	if (val->type != YAML_MAPPING_NODE)
		return closed_dates(c, base, val, label);
	map_init(&m, closed_fields, BOT_ARRAY_SIZE(closed_fields), base, NULL,
		 label);
	return parse_mapping(c, val, &m);
}

#define OF(m) offsetof(struct kb_office, m)
static const struct kb_field office_fields[] = {
	{ "id", FT_ID, OF(id), F_REQ, REF_NONE, NULL, NULL },
	{ "name", FT_STR, OF(name), F_REQ, REF_NONE, NULL, NULL },
	{ "address", FT_STR, OF(address), 0, REF_NONE, NULL, NULL },
	{ "phone", FT_STR, OF(phone), 0, REF_NONE, NULL, NULL },
	{ "email", FT_STR, OF(email), 0, REF_NONE, NULL, NULL },
	{ "url", FT_URL, OF(url), 0, REF_NONE, NULL, NULL },
	{ "appointment_url", FT_URL, OF(appointment_url), 0, REF_NONE, NULL,
	  NULL },
	{ "note", FT_STR, OF(note), F_TEXT, REF_NONE, NULL, NULL },
	{ "hours", FT_FUNC, 0, 0, REF_NONE, office_hours, NULL },
	{ "closed", FT_FUNC, 0, 0, REF_NONE, office_closed, NULL },
	{ "keywords", FT_STRV, OF(keywords), 0, REF_NONE, NULL, NULL },
	{ "synonyms", FT_STRV, OF(synonyms), 0, REF_NONE, NULL, NULL },
	{ "team", FT_STR, OF(team), 0, REF_NONE, NULL, NULL },
	{ "reviewed", FT_DATE, OF(reviewed), 0, REF_NONE, NULL, NULL },
};
#undef OF

static int parse_office(struct kb_ctx *c, yaml_node_t *n, size_t idx)
{
	struct kb *kb = c->kb;
	struct kb_office *o;
	char label[KB_LABEL];
	struct kb_map m;
	int rc;

	o = kb_grow(kb->offices, kb->n_offices, sizeof(*o));
	if (!o)
		return BOT_ENOMEM;
	kb->offices = o;
	o = &kb->offices[kb->n_offices++];
	o->closed_on_holidays = 1;
	o->pos = node_pos(c, n);
	make_label(c, n, "office", "id", NULL, idx, label, sizeof(label));
	map_init(&m, office_fields, BOT_ARRAY_SIZE(office_fields), o, NULL,
		 label);
	rc = parse_mapping(c, n, &m);
	if (rc)
		return rc;
	if (!o->has_hours)
		return diag(c, 'w', n, "%s has no opening hours", label);
	return BOT_OK;
}

/* ---- services ------------------------------------------------------------ */

static const struct kb_field source_fields[] = {
	{ "law", FT_STR, offsetof(struct kb_source, law), 0, REF_NONE, NULL,
	  NULL },
	{ "section", FT_STR, offsetof(struct kb_source, section), 0, REF_NONE,
	  NULL, NULL },
	{ "title", FT_STR, offsetof(struct kb_source, title), 0, REF_NONE,
	  NULL, NULL },
	{ "url", FT_URL, offsetof(struct kb_source, url), 0, REF_NONE, NULL,
	  NULL },
};

/* A title from section and law: "§ 9 PAuswG". */
static int source_title(struct kb_ctx *c, struct kb_source *src,
			yaml_node_t *n, const char *label)
{
	size_t len;

	if (src->title)
		return BOT_OK;
	if (!src->law)
		return diag(c, 'e', n, "%s: missing field 'law' or 'title'",
			    label);
	if (!src->section) {
		src->title = bot_strdup(src->law);
		return src->title ? BOT_OK : BOT_ENOMEM;
	}
	len = strlen(src->section) + strlen(src->law) + 2;
	src->title = bot_malloc(len);
	if (!src->title)
		return BOT_ENOMEM;
	snprintf(src->title, len, "%s %s", src->section, src->law);
	return BOT_OK;
}

/* One legal basis: a mapping, or just its title. */
static int legal_item(struct kb_ctx *c, struct kb_service *s, yaml_node_t *n,
		      const char *label)
{
	struct kb_source *src;
	char l2[KB_LABEL + 32];
	struct kb_map m;
	int rc;

	if (!is_scalar(n) && n->type != YAML_MAPPING_NODE)
		return diag(c, 'e', n, "%s: expected a mapping with law, "
			    "section, title and url in 'legal_basis'", label);
	if (is_null(n))
		return BOT_OK;
	src = kb_grow(s->legal, s->n_legal, sizeof(*src));
	if (!src)
		return BOT_ENOMEM;
	s->legal = src;
	src = &s->legal[s->n_legal++];
	if (is_scalar(n))
		return scalar_dup(c, n, &src->title);
	snprintf(l2, sizeof(l2), "%s, legal_basis #%zu", label, s->n_legal);
	map_init(&m, source_fields, BOT_ARRAY_SIZE(source_fields), src, NULL,
		 l2);
	rc = parse_mapping(c, n, &m);
	return rc ? rc : source_title(c, src, n, l2);
}

static int service_legal(struct kb_ctx *c, void *base, yaml_node_t *val,
			 const char *label)
{
	yaml_node_item_t *it;
	yaml_node_t *n;
	int rc;

	if (val->type != YAML_SEQUENCE_NODE)
		return legal_item(c, base, val, label);
	for (it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		n = node_at(c, *it);
		rc = charge(c, n, 1);
		if (!rc)
			rc = legal_item(c, base, n, label);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

static int service_article(struct kb_ctx *c, void *base, yaml_node_t *val,
			   const char *label)
{
	struct kb_service *s = base;
	int rc;

	rc = get_str(c, val, label, "article", &s->article);
	if (rc || !s->article)
		return rc;
	if (strcmp(s->article, "der") && strcmp(s->article, "die") &&
	    strcmp(s->article, "das"))
		return diag(c, 'e', val, "%s: 'article' must be der, die or das",
			    label);
	return BOT_OK;
}

/* A LeiKa key has 14 digits; YAML reads an unquoted one as a number,
 * which is fine as long as the digits survive. */
static int service_leika(struct kb_ctx *c, void *base, yaml_node_t *val,
			 const char *label)
{
	struct kb_service *s = base;
	int rc;

	rc = get_str(c, val, label, "leika", &s->leika);
	if (rc || !s->leika)
		return rc;
	if (strlen(s->leika) == 14 && strspn(s->leika, "0123456789") == 14)
		return BOT_OK;
	return diag(c, 'w', val, "%s: 'leika' should be a LeiKa key of 14 "
		    "digits (got '%.200s')", label, s->leika);
}

#define SF(m) offsetof(struct kb_service, m)
static const struct kb_field service_fields[] = {
	{ "id", FT_ID, SF(id), F_REQ, REF_NONE, NULL, NULL },
	{ "name", FT_STR, SF(name), F_REQ, REF_NONE, NULL, NULL },
	{ "article", FT_FUNC, 0, 0, REF_NONE, service_article, NULL },
	{ "summary", FT_STR, SF(summary), F_TEXT, REF_NONE, NULL, NULL },
	{ "office", FT_ID, SF(office_id), F_OWNER, REF_OFFICE, NULL, NULL },
	{ "issuer", FT_STR, SF(issuer), 0, REF_NONE, NULL, NULL },
	{ "synonyms", FT_STRV, SF(synonyms), 0, REF_NONE, NULL, NULL },
	{ "keywords", FT_STRV, SF(keywords), 0, REF_NONE, NULL, NULL },
	{ "documents", FT_STRV, SF(documents), F_TEXT, REF_NONE, NULL, NULL },
	{ "fees", FT_STR, SF(fees), F_TEXT, REF_NONE, NULL, NULL },
	{ "duration", FT_STR, SF(duration), F_TEXT, REF_NONE, NULL, NULL },
	{ "appointment", FT_BOOL, SF(appointment), 0, REF_NONE, NULL, NULL },
	{ "online_url", FT_URL, SF(online_url), 0, REF_NONE, NULL, NULL },
	{ "legal_basis", FT_FUNC, 0, 0, REF_NONE, service_legal, NULL },
	{ "team", FT_STR, SF(team), 0, REF_NONE, NULL, NULL },
	{ "reviewed", FT_DATE, SF(reviewed), 0, REF_NONE, NULL, NULL },
	{ "leika", FT_FUNC, 0, 0, REF_NONE, service_leika, NULL },
};
#undef SF

static int parse_service(struct kb_ctx *c, yaml_node_t *n, size_t idx)
{
	struct kb *kb = c->kb;
	struct kb_service *s;
	char label[KB_LABEL];
	struct kb_map m;
	int rc;

	s = kb_grow(kb->services, kb->n_services, sizeof(*s));
	if (!s)
		return BOT_ENOMEM;
	kb->services = s;
	s = &kb->services[kb->n_services++];
	s->appointment = -1;
	s->pos = node_pos(c, n);
	make_label(c, n, "service", "id", NULL, idx, label, sizeof(label));
	map_init(&m, service_fields, BOT_ARRAY_SIZE(service_fields), s, NULL,
		 label);
	rc = parse_mapping(c, n, &m);
	if (!rc && !s->office_id && !(m.bad & (1ULL << 4)))
		rc = diag(c, 'w', n, "%s has no office", label);
	if (!rc && !s->n_legal && !(m.bad & (1ULL << 13)))
		rc = diag(c, 'w', n, "%s has no legal_basis", label);
	return rc;
}

/* ---- intents --------------------------------------------------------- */

static const char *const needs_words[] = {
	"nothing", "service", "office", "topic", NULL
};
static const char *const handoff_words[] = {
	"none", "requested", "case", NULL
};

static int pattern_push(struct kb_ctx *c, void *base, yaml_node_t *n,
			const char *label)
{
	struct kb_intent *in = base;
	struct kb_pattern *p;

	if (!is_scalar(n) || !n->data.scalar.length)
		return diag(c, 'e', n, "%s: expected a non-empty string in "
			    "'patterns'", label);
	p = kb_grow(in->patterns, in->n_patterns, sizeof(*p));
	if (!p)
		return BOT_ENOMEM;
	in->patterns = p;
	p = &in->patterns[in->n_patterns++];
	p->pos = node_pos(c, n);
	return scalar_dup(c, n, &p->src);
}

static int intent_patterns(struct kb_ctx *c, void *base, yaml_node_t *val,
			   const char *label)
{
	return list_each(c, base, val, label, "patterns", pattern_push);
}

#define IF(m) offsetof(struct kb_intent, m)
static const struct kb_field intent_fields[] = {
	{ "id", FT_ID, IF(id), F_REQ, REF_NONE, NULL, NULL },
	{ "title", FT_STR, IF(title), 0, REF_NONE, NULL, NULL },
	{ "needs", FT_ENUM, IF(needs), 0, REF_NONE, NULL, needs_words },
	{ "handoff", FT_ENUM, IF(handoff), 0, REF_NONE, NULL, handoff_words },
	{ "suggestion", FT_BOOL, IF(suggestion), 0, REF_NONE, NULL, NULL },
	{ "patterns", FT_FUNC, 0, 0, REF_NONE, intent_patterns, NULL },
	{ "keywords", FT_STRV, IF(keywords), 0, REF_NONE, NULL, NULL },
	{ "examples", FT_STRV, IF(examples), 0, REF_NONE, NULL, NULL },
	{ "answer", FT_STR, IF(answer), F_TEXT, REF_NONE, NULL, NULL },
	{ "ask", FT_STR, IF(ask), F_TEXT, REF_NONE, NULL, NULL },
	{ "quick_replies", FT_STRV, IF(quick_replies), 0, REF_NONE, NULL,
	  NULL },
	{ "team", FT_STR, IF(team), 0, REF_NONE, NULL, NULL },
	{ "reviewed", FT_DATE, IF(reviewed), 0, REF_NONE, NULL, NULL },
};
#undef IF

static int parse_intent(struct kb_ctx *c, yaml_node_t *n, size_t idx)
{
	struct kb *kb = c->kb;
	struct kb_intent *in;
	char label[KB_LABEL];
	struct kb_map m;
	int rc;

	in = kb_grow(kb->intents, kb->n_intents, sizeof(*in));
	if (!in)
		return BOT_ENOMEM;
	kb->intents = in;
	in = &kb->intents[kb->n_intents++];
	in->pos = node_pos(c, n);
	make_label(c, n, "intent", "id", NULL, idx, label, sizeof(label));
	map_init(&m, intent_fields, BOT_ARRAY_SIZE(intent_fields), in, NULL,
		 label);
	rc = parse_mapping(c, n, &m);
	if (rc)
		return rc;
	/* A handoff intent may leave the answer to settings.handoff_text. */
	if (!in->answer && in->handoff == KB_HANDOFF_NONE &&
	    !(m.bad & (1ULL << 8)))
		rc = diag(c, 'e', n, "%s: missing field 'answer'", label);
	if (!rc && !in->n_patterns && !in->keywords.n && !in->examples.n)
		rc = diag(c, 'w', n, "%s has no patterns, keywords or examples",
			  label);
	return rc;
}

/* ---- tests ---------------------------------------------------------------- */

static int turn_handoff(struct kb_ctx *c, void *base, yaml_node_t *val,
			const char *label)
{
	static const char *const reasons[] = {
		"personal_data", "requested", "case", "fallback"
	};
	struct kb_test_turn *t = base;
	size_t i;

	if (is_null(val))
		return BOT_OK;
	if (!parse_bool(val, &t->handoff))
		return BOT_OK;
	for (i = 0; is_scalar(val) && i < BOT_ARRAY_SIZE(reasons); i++) {
		if (!strcmp(scalar(val), reasons[i])) {
			t->handoff = 1;
			return get_str(c, val, label, "handoff",
				       &t->handoff_reason);
		}
	}
	return diag(c, 'e', val, "%s: 'handoff' must be true, false or one of "
		    "personal_data, requested, case, fallback", label);
}

static int test_now(struct kb_ctx *c, void *base, yaml_node_t *val,
		    const char *label)
{
	struct kb_test *t = base;
	int rc;

	rc = get_str(c, val, label, "now", &t->now);
	if (rc || !t->now || now_ok(t->now))
		return rc;
	return diag(c, 'e', val, "%s: bad time '%.200s' for 'now' (expected "
		    "YYYY-MM-DDTHH:MM)", label, t->now);
}

static int test_dialogue(struct kb_ctx *c, void *base, yaml_node_t *val,
			 const char *label);

#define TF(m) offsetof(struct kb_test_turn, m)
static const struct kb_field test_fields[] = {
	{ "q", FT_STR, TF(question), F_REQ, REF_NONE, NULL, NULL },
	{ "intent", FT_STR, TF(intent), F_NONE_OK, REF_INTENT, NULL, NULL },
	{ "service", FT_STR, TF(service), F_NONE_OK, REF_SERVICE, NULL, NULL },
	{ "office", FT_STR, TF(office), F_NONE_OK, REF_OFFICE, NULL, NULL },
	{ "handoff", FT_FUNC, 0, 0, REF_NONE, turn_handoff, NULL },
	{ "contains", FT_STRV, TF(contains), 0, REF_NONE, NULL, NULL },
	/* the test's own fields, stored in the second base */
	{ "name", FT_STR, offsetof(struct kb_test, name), F_ALT, REF_NONE,
	  NULL, NULL },
	{ "now", FT_FUNC, 0, F_ALT, REF_NONE, test_now, NULL },
	{ "dialogue", FT_FUNC, 0, F_ALT, REF_NONE, test_dialogue, NULL },
};
#undef TF
#define TURN_FIELDS 6		/* test_fields[0..5]: one turn */

static struct kb_test_turn *turn_new(struct kb_ctx *c, struct kb_test *t,
				     yaml_node_t *n)
{
	struct kb_test_turn *turn;

	turn = kb_grow(t->turns, t->n_turns, sizeof(*turn));
	if (!turn)
		return NULL;
	t->turns = turn;
	turn = &t->turns[t->n_turns++];
	turn->handoff = -1;
	turn->pos = node_pos(c, n);
	return turn;
}

static int test_dialogue(struct kb_ctx *c, void *base, yaml_node_t *val,
			 const char *label)
{
	struct kb_test *t = base;
	struct kb_test_turn *turn;
	char l2[KB_LABEL + 32];
	yaml_node_item_t *it;
	yaml_node_t *n;
	struct kb_map m;
	int rc;

	if (val->type != YAML_SEQUENCE_NODE ||
	    val->data.sequence.items.start == val->data.sequence.items.top)
		return diag(c, 'e', val, "%s: expected a list of turns for "
			    "'dialogue'", label);
	for (it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		n = node_at(c, *it);
		rc = charge(c, n, 1);
		if (!rc && n->type != YAML_MAPPING_NODE)
			rc = diag(c, 'e', n, "%s: expected a mapping for each "
				  "turn of 'dialogue'", label);
		if (rc)
			return rc;
		if (n->type != YAML_MAPPING_NODE)
			continue;
		turn = turn_new(c, t, n);
		if (!turn)
			return BOT_ENOMEM;
		snprintf(l2, sizeof(l2), "%s, turn %zu", label, t->n_turns);
		map_init(&m, test_fields, TURN_FIELDS, turn, NULL, l2);
		rc = parse_mapping(c, n, &m);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

static int parse_test(struct kb_ctx *c, yaml_node_t *n, size_t idx)
{
	struct kb *kb = c->kb;
	struct kb_test_turn *turn;
	char label[KB_LABEL];
	struct kb_test *t;
	struct kb_map m;
	yaml_node_pair_t *pair;
	int dialogue = 0;

	t = kb_grow(kb->tests, kb->n_tests, sizeof(*t));
	if (!t)
		return BOT_ENOMEM;
	kb->tests = t;
	t = &kb->tests[kb->n_tests++];
	t->pos = node_pos(c, n);
	make_label(c, n, "test", "name", "q", idx, label, sizeof(label));
	for (pair = n->data.mapping.pairs.start;
	     pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node_at(c, pair->key);

		dialogue |= is_scalar(k) && !strcmp(scalar(k), "dialogue");
	}
	if (dialogue) {
		/* name, now and dialogue only */
		map_init(&m, test_fields + TURN_FIELDS,
			 BOT_ARRAY_SIZE(test_fields) - TURN_FIELDS, NULL, t,
			 label);
		return parse_mapping(c, n, &m);
	}
	turn = turn_new(c, t, n);
	if (!turn)
		return BOT_ENOMEM;
	map_init(&m, test_fields, BOT_ARRAY_SIZE(test_fields) - 1, turn, t,
		 label);
	return parse_mapping(c, n, &m);
}

/* ---- settings and the top level ------------------------------------------ */

static int settings_state(struct kb_ctx *c, void *base, yaml_node_t *val,
			  const char *label)
{
	static const char codes[] = "BW BY BE BB HB HH HE MV NI NW RP SL SN "
				    "ST SH TH";
	struct kb_settings *s = base;
	const char *v;
	char code[3];
	int rc;

	if (is_null(val))
		return BOT_OK;
	rc = get_str(c, val, label, "state", &s->state);
	if (rc || !is_scalar(val))
		return rc;
	v = s->state;
	if (!strncasecmp(v, "DE-", 3))
		v += 3;
	if (strlen(v) == 2) {
		code[0] = (char)(v[0] & ~0x20);
		code[1] = (char)(v[1] & ~0x20);
		code[2] = '\0';
		if (strstr(codes, code)) {
			memcpy(s->state, code, 3);
			return BOT_OK;
		}
	}
	return diag(c, 'e', val, "%s: unknown state '%.200s' (expected one "
		    "of %s)", label, s->state, codes);
}

static int settings_months(struct kb_ctx *c, void *base, yaml_node_t *val,
			   const char *label)
{
	struct kb_settings *s = base;
	char *end;
	long v;

	if (is_null(val))
		return BOT_OK;
	if (is_scalar(val)) {
		errno = 0;
		v = strtol(scalar(val), &end, 10);
		if (end != scalar(val) && !*end && !errno && v >= 1 &&
		    v <= 1200) {
			s->review_months = (int)v;
			return BOT_OK;
		}
	}
	return diag(c, 'e', val, "%s: 'review_months' must be a whole number "
		    "from 1 to 1200", label);
}

#define STF(m) offsetof(struct kb_settings, m)
static const struct kb_field settings_fields[] = {
	{ "city", FT_STR, STF(city), 0, REF_NONE, NULL, NULL },
	{ "state", FT_FUNC, 0, 0, REF_NONE, settings_state, NULL },
	{ "timezone", FT_STR, STF(timezone), 0, REF_NONE, NULL, NULL },
	{ "threshold", FT_NUM01, STF(threshold), 0, REF_NONE, NULL, NULL },
	{ "margin", FT_NUM01, STF(margin), 0, REF_NONE, NULL, NULL },
	{ "fallback", FT_STR, STF(fallback), F_TEXT, REF_NONE, NULL, NULL },
	{ "netiquette", FT_STR, STF(netiquette), F_TEXT, REF_NONE, NULL, NULL },
	{ "netiquette_url", FT_URL, STF(netiquette_url), 0, REF_NONE, NULL,
	  NULL },
	{ "privacy_url", FT_URL, STF(privacy_url), 0, REF_NONE, NULL, NULL },
	{ "handoff_text", FT_STR, STF(handoff_text), F_TEXT, REF_NONE, NULL,
	  NULL },
	{ "thesaurus", FT_STR, STF(thesaurus), 0, REF_NONE, NULL, NULL },
	{ "review_months", FT_FUNC, 0, 0, REF_NONE, settings_months, NULL },
	{ "service_intent", FT_ID, STF(service_intent), 0, REF_INTENT, NULL,
	  NULL },
	{ "office_intent", FT_ID, STF(office_intent), 0, REF_INTENT, NULL,
	  NULL },
};
#undef STF

static int parse_settings(struct kb_ctx *c, yaml_node_t *key,
			  yaml_node_t *val)
{
	struct kb_settings *s = &c->kb->settings;
	struct kb_map m;

	if (s->pos.file)
		return diag(c, 'e', key, "duplicate 'settings' (first defined "
			    "at %s:%d)", s->pos.file, s->pos.line);
	s->pos = node_pos(c, val);
	if (is_null(val))
		return BOT_OK;
	if (val->type != YAML_MAPPING_NODE)
		return diag(c, 'e', val, "expected a mapping for 'settings'");
	map_init(&m, settings_fields, BOT_ARRAY_SIZE(settings_fields), s, NULL,
		 "settings");
	return parse_mapping(c, val, &m);
}

/* ---- netiquette and plain language ------------------------------------------ */

/* A whole number from 'min' to 'max' for field 'key'. */
static int int_field(struct kb_ctx *c, yaml_node_t *val, const char *label,
		     const char *key, int *dst, long min, long max)
{
	char *end;
	long v;

	if (is_null(val))
		return BOT_OK;
	if (is_scalar(val)) {
		errno = 0;
		v = strtol(scalar(val), &end, 10);
		if (end != scalar(val) && !*end && !errno && v >= min &&
		    v <= max) {
			*dst = (int)v;
			return BOT_OK;
		}
	}
	return diag(c, 'e', val, "%s: '%s' must be a whole number from %ld "
		    "to %ld", label, key, min, max);
}

#define KB_INT_FIELD(fn, type, member, min, max)			\
static int fn(struct kb_ctx *c, void *base, yaml_node_t *val,		\
	      const char *label)					\
{									\
	return int_field(c, val, label, #member,			\
			 &((type *)base)->member, min, max);		\
}

KB_INT_FIELD(netiq_strikes, struct kb_netiquette, strikes, 1, 100)
KB_INT_FIELD(netiq_mute, struct kb_netiquette, mute_minutes, 0, 1440)
KB_INT_FIELD(netiq_flood_n, struct kb_netiquette, flood_messages, 2, 1000)
KB_INT_FIELD(netiq_flood_s, struct kb_netiquette, flood_seconds, 1, 3600)
KB_INT_FIELD(netiq_repeats, struct kb_netiquette, repeats, 2, 100)
KB_INT_FIELD(netiq_links, struct kb_netiquette, max_links, 1, 100)
KB_INT_FIELD(plain_max_words, struct kb_plain, max_words, 5, 200)

/* A word list of the netiquette; every entry's syntax is checked here,
 * where its line and column are known. */
static int netiq_list(struct kb_ctx *c, yaml_node_t *val, const char *label,
		      const char *key, struct kb_strv *sv)
{
	char msg[160];
	size_t i;
	int rc;

	rc = get_strv(c, val, label, key, sv, 0);
	if (rc || val->type != YAML_SEQUENCE_NODE)
		return rc;
	for (i = 0; i < (size_t)(val->data.sequence.items.top -
				 val->data.sequence.items.start); i++) {
		yaml_node_t *n = node_at(c, val->data.sequence.items.start[i]);

		if (!is_scalar(n) || is_null(n) ||
		    !netiq_entry_check(scalar(n), msg, sizeof(msg)))
			continue;
		rc = diag(c, 'e', n, "%s: bad entry '%.100s' in '%s': %s",
			  label, scalar(n), key, msg);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

#define KB_LIST_FIELD(fn, member)					\
static int fn(struct kb_ctx *c, void *base, yaml_node_t *val,		\
	      const char *label)					\
{									\
	return netiq_list(c, val, label, #member,			\
			  &((struct kb_netiquette *)base)->member);	\
}

KB_LIST_FIELD(netiq_insults, insults)
KB_LIST_FIELD(netiq_threats, threats)
KB_LIST_FIELD(netiq_spam, spam)
KB_LIST_FIELD(netiq_allow, allow)

#define NF(m) offsetof(struct kb_netiquette, m)
static const struct kb_field netiquette_fields[] = {
	{ "insults", FT_FUNC, 0, 0, REF_NONE, netiq_insults, NULL },
	{ "threats", FT_FUNC, 0, 0, REF_NONE, netiq_threats, NULL },
	{ "spam", FT_FUNC, 0, 0, REF_NONE, netiq_spam, NULL },
	{ "allow", FT_FUNC, 0, 0, REF_NONE, netiq_allow, NULL },
	{ "reminder", FT_STR, NF(reminder), F_TEXT, REF_NONE, NULL, NULL },
	{ "threat", FT_STR, NF(threat), F_TEXT, REF_NONE, NULL, NULL },
	{ "flood", FT_STR, NF(flood), F_TEXT, REF_NONE, NULL, NULL },
	{ "mute", FT_STR, NF(mute), F_TEXT, REF_NONE, NULL, NULL },
	{ "strikes", FT_FUNC, 0, 0, REF_NONE, netiq_strikes, NULL },
	{ "mute_minutes", FT_FUNC, 0, 0, REF_NONE, netiq_mute, NULL },
	{ "flood_messages", FT_FUNC, 0, 0, REF_NONE, netiq_flood_n, NULL },
	{ "flood_seconds", FT_FUNC, 0, 0, REF_NONE, netiq_flood_s, NULL },
	{ "repeats", FT_FUNC, 0, 0, REF_NONE, netiq_repeats, NULL },
	{ "max_links", FT_FUNC, 0, 0, REF_NONE, netiq_links, NULL },
};
#undef NF

/* A section given once, as a mapping; 0 to parse it, else the rc. */
static int section_start(struct kb_ctx *c, yaml_node_t *key,
			 yaml_node_t *val, struct kb_pos *pos, int *rc)
{
	*rc = BOT_OK;
	if (pos->file) {
		*rc = diag(c, 'e', key, "duplicate '%s' (first defined at "
			   "%s:%d)", scalar(key), pos->file, pos->line);
		return 1;
	}
	*pos = node_pos(c, val);
	if (is_null(val))
		return 1;
	if (val->type != YAML_MAPPING_NODE) {
		*rc = diag(c, 'e', val, "expected a mapping for '%s'",
			   scalar(key));
		return 1;
	}
	return 0;
}

static int parse_netiquette(struct kb_ctx *c, yaml_node_t *key,
			    yaml_node_t *val)
{
	struct kb_netiquette *ni = &c->kb->netiquette;
	struct kb_map m;
	int rc;

	if (section_start(c, key, val, &ni->pos, &rc))
		return rc;
	map_init(&m, netiquette_fields, BOT_ARRAY_SIZE(netiquette_fields), ni,
		 NULL, "netiquette");
	return parse_mapping(c, val, &m);
}

static int plain_pair(struct kb_ctx *c, struct kb_plain *pl, yaml_node_t *k,
		      yaml_node_t *v, const char *label)
{
	struct kb_plain_word *w;
	size_t i;

	if (!is_scalar(k) || is_null(k) || !is_scalar(v) || is_null(v))
		return diag(c, 'e', is_scalar(k) ? v : k, "%s: expected "
			    "'word: plainer word' in 'words'", label);
	for (i = 0; i < pl->n_words; i++) {
		if (!strcasecmp(pl->words[i].word, scalar(k)))
			return diag(c, 'e', k, "%s: duplicate word '%.200s' "
				    "(first at line %d)", label, scalar(k),
				    pl->words[i].pos.line);
	}
	w = kb_grow(pl->words, pl->n_words, sizeof(*w));
	if (!w)
		return BOT_ENOMEM;
	pl->words = w;
	w = &pl->words[pl->n_words++];
	w->pos = node_pos(c, k);
	if (scalar_dup(c, k, &w->word) || scalar_dup(c, v, &w->use))
		return BOT_ENOMEM;
	return BOT_OK;
}

static int plain_words(struct kb_ctx *c, void *base, yaml_node_t *val,
		       const char *label)
{
	yaml_node_pair_t *pair;
	int rc;

	if (is_null(val))
		return BOT_OK;
	if (val->type != YAML_MAPPING_NODE)
		return diag(c, 'e', val, "%s: expected a mapping 'word: plainer "
			    "word' for 'words'", label);
	for (pair = val->data.mapping.pairs.start;
	     pair < val->data.mapping.pairs.top; pair++) {
		rc = charge(c, val, 1);
		if (!rc)
			rc = plain_pair(c, base, node_at(c, pair->key),
					node_at(c, pair->value), label);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

static const struct kb_field plain_fields[] = {
	{ "max_words", FT_FUNC, 0, 0, REF_NONE, plain_max_words, NULL },
	{ "words", FT_FUNC, 0, 0, REF_NONE, plain_words, NULL },
};

static int parse_plain(struct kb_ctx *c, yaml_node_t *key, yaml_node_t *val)
{
	struct kb_plain *pl = &c->kb->plain;
	struct kb_map m;
	int rc;

	if (section_start(c, key, val, &pl->pos, &rc))
		return rc;
	map_init(&m, plain_fields, BOT_ARRAY_SIZE(plain_fields), pl, NULL,
		 "plain_language");
	return parse_mapping(c, val, &m);
}

static int parse_list(struct kb_ctx *c, yaml_node_t *val, const char *key,
		      int (*item)(struct kb_ctx *, yaml_node_t *, size_t))
{
	yaml_node_item_t *it;
	yaml_node_t *n;
	int rc;

	if (is_null(val))
		return BOT_OK;
	if (val->type != YAML_SEQUENCE_NODE)
		return diag(c, 'e', val, "expected a list for '%s'", key);
	for (it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		n = node_at(c, *it);
		rc = charge(c, n, 1);
		if (!rc && n->type != YAML_MAPPING_NODE)
			rc = diag(c, 'e', n, "expected a mapping for each "
				  "entry of '%s'", key);
		else if (!rc)
			rc = item(c, n, (size_t)(it - val->data.sequence.items.start));
		if (rc)
			return rc;
	}
	return BOT_OK;
}

/* A top-level key is either a list of items or a single mapping. */
static const struct {
	const char *key;
	int (*item)(struct kb_ctx *, yaml_node_t *, size_t);
	int (*map)(struct kb_ctx *, yaml_node_t *, yaml_node_t *);
} kb_sections[] = {
	{ "settings", NULL, parse_settings },
	{ "offices", parse_office, NULL },
	{ "services", parse_service, NULL },
	{ "intents", parse_intent, NULL },
	{ "tests", parse_test, NULL },
	{ "netiquette", NULL, parse_netiquette },
	{ "plain_language", NULL, parse_plain },
};

#define KB_KEYS "settings, offices, services, intents, tests, netiquette " \
		"or plain_language"

/* Index of top-level key 'k' in kb_sections, or -1 (after an error). */
static int section_of(struct kb_ctx *c, yaml_node_t *k, unsigned *seen,
		      int *rc)
{
	size_t i;

	for (i = 0; is_scalar(k) && i < BOT_ARRAY_SIZE(kb_sections); i++) {
		if (strcmp(scalar(k), kb_sections[i].key))
			continue;
		if (*seen & (1u << i)) {
			*rc = diag(c, 'e', k, "duplicate key '%s'", scalar(k));
			return -1;
		}
		*seen |= 1u << i;
		return (int)i;
	}
	*rc = diag(c, 'e', k, "unknown top-level key '%.200s' (expected "
		   KB_KEYS ")", is_scalar(k) ? scalar(k) : "");
	return -1;
}

static int parse_root(struct kb_ctx *c, yaml_node_t *root)
{
	yaml_node_pair_t *pair;
	yaml_node_t *k, *v;
	unsigned seen = 0;
	int i, rc;

	for (pair = root->data.mapping.pairs.start;
	     pair < root->data.mapping.pairs.top; pair++) {
		k = node_at(c, pair->key);
		v = node_at(c, pair->value);
		rc = charge(c, k, 1);
		i = rc ? -1 : section_of(c, k, &seen, &rc);
		if (i >= 0 && kb_sections[i].map)
			rc = kb_sections[i].map(c, k, v);
		else if (i >= 0)
			rc = parse_list(c, v, kb_sections[i].key,
					kb_sections[i].item);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

/* ---- reading files ------------------------------------------------------- */

static int parse_doc(struct kb_ctx *c, yaml_document_t *doc,
		     yaml_node_t *root, size_t len)
{
	int rc;

	c->doc = doc;
	c->budget = 4 * (long)(doc->nodes.top - doc->nodes.start) +
		    (long)(len / 4) + 1024;
	if (is_null(root))
		rc = BOT_OK;
	else if (root->type != YAML_MAPPING_NODE)
		rc = diag(c, 'e', root, "the top level must be a mapping with "
			  KB_KEYS);
	else
		rc = parse_root(c, root);
	c->doc = NULL;
	return rc == KB_STOP ? BOT_OK : rc;
}

static int yaml_error(struct kb_ctx *c, const yaml_parser_t *p,
		      const char *text, size_t len)
{
	struct kb_pos pos = { c->file, 1, 1 };
	size_t off, i;
	char ctx[128] = "";

	if (p->error == YAML_MEMORY_ERROR)
		return BOT_ENOMEM;
	if (p->error == YAML_READER_ERROR) {
		/* reader errors carry a byte offset, not a mark */
		off = p->problem_offset < len ? p->problem_offset : len;
		for (i = 0; i < off; i++) {
			pos.col++;
			if (text[i] == '\n') {
				pos.line++;
				pos.col = 1;
			}
		}
	} else {
		off = p->problem_mark.index;
		pos.line = (int)p->problem_mark.line + 1;
		pos.col = (int)p->problem_mark.column + 1;
	}
	if (p->context)
		snprintf(ctx, sizeof(ctx), " (%s at line %zu)", p->context,
			 p->context_mark.line + 1);
	return kb_diag_add(c->kb, 'e', &pos, "invalid YAML: %s%s%s",
			   p->problem ? p->problem : "unknown error", ctx,
			   off < len && text[off] == '\t' ?
			   "; indent with spaces, not tabs" : "");
}

/* Parse every document of one YAML text. */
static int parse_text(struct kb_ctx *c, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int rc = BOT_OK;

	if (!yaml_parser_initialize(&parser))
		return BOT_ENOMEM;
	c->src = text;
	c->src_len = len;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
				     len);
	while (!rc) {
		if (!yaml_parser_load(&parser, &doc)) {
			rc = yaml_error(c, &parser, text, len);
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (root)
			rc = parse_doc(c, &doc, root, len);
		yaml_document_delete(&doc);
		if (!root)
			break;
	}
	yaml_parser_delete(&parser);
	c->src = NULL;
	c->src_len = 0;
	return rc;
}

/* Remember 'path' in kb->files; it becomes the current file. */
static int files_add(struct kb_ctx *c, const char *path)
{
	struct kb *kb = c->kb;
	char **v, *s = bot_strdup(path);

	v = s ? kb_grow(kb->files, kb->n_files, sizeof(*v)) : NULL;
	if (!v) {
		bot_free(s);
		return BOT_ENOMEM;
	}
	kb->files = v;
	kb->files[kb->n_files++] = s;
	c->file = s;
	return BOT_OK;
}

static int text_add(struct kb_ctx *c, const char *name, const char *text,
		    size_t len)
{
	struct kb_pos pos = { c->file, 0, 0 };

	c->hash = fnv1a(c->hash, name, strlen(name) + 1);
	c->hash = fnv1a(c->hash, text, len);
	if (len > KB_MAX_FILE)
		return kb_diag_add(c->kb, 'e', &pos, "'%s' is too large (%zu "
				   "bytes; the limit is %u MiB)", c->file, len,
				   KB_MAX_FILE >> 20);
	return parse_text(c, text, len);
}

/* Read and parse one file; 'rel' is its name below the kb directory. */
static int load_file(struct kb_ctx *c, const char *path, const char *rel)
{
	struct kb_pos pos = { NULL, 0, 0 };
	struct stat st;
	char *buf = NULL;
	size_t n;
	FILE *fp;
	int rc;

	rc = files_add(c, path);
	if (rc)
		return rc;
	pos.file = c->file;
	fp = fopen(path, "rb");
	if (!fp)
		return kb_diag_add(c->kb, 'e', &pos, "cannot open '%s': %s",
				   path, strerror(errno));
	if (fstat(fileno(fp), &st) || st.st_size < 0) {
		rc = kb_diag_add(c->kb, 'e', &pos, "cannot read '%s': %s",
				 path, strerror(errno));
		goto out;
	}
	if ((unsigned long long)st.st_size > KB_MAX_FILE) {
		rc = kb_diag_add(c->kb, 'e', &pos, "'%s' is too large (%lld "
				 "bytes; the limit is %u MiB)", path,
				 (long long)st.st_size, KB_MAX_FILE >> 20);
		goto out;
	}
	buf = bot_malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = BOT_ENOMEM;
		goto out;
	}
	n = fread(buf, 1, (size_t)st.st_size, fp);
	if (ferror(fp))
		rc = kb_diag_add(c->kb, 'e', &pos, "cannot read '%s': %s",
				 path, strerror(errno));
	else
		rc = text_add(c, rel, buf, n);
out:
	bot_free(buf);
	fclose(fp);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), len = dl + strlen(name) + 2;
	char *p = bot_malloc(len);

	if (p)
		snprintf(p, len, "%s%s%s", dir,
			 dl && dir[dl - 1] == '/' ? "" : "/", name);
	return p;
}

static int yaml_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return 0;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) ||
	       (n > 4 && !strcmp(name + n - 4, ".yml"));
}

/* The sorted names of the regular *.yaml / *.yml files in 'path'. */
static int list_dir(DIR *d, const char *path, struct kb_strv *out)
{
	struct dirent *de;
	struct stat st;
	char *full, **v;
	int reg;

	while ((de = readdir(d))) {
		if (!yaml_name(de->d_name))
			continue;
		full = path_join(path, de->d_name);
		if (!full)
			return BOT_ENOMEM;
		reg = !stat(full, &st) && S_ISREG(st.st_mode);
		bot_free(full);
		if (!reg)
			continue;
		full = bot_strdup(de->d_name);
		v = full ? kb_grow(out->v, out->n, sizeof(*v)) : NULL;
		if (!v) {
			bot_free(full);
			return BOT_ENOMEM;
		}
		out->v = v;
		out->v[out->n++] = full;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(char *), cmp_str);
	return BOT_OK;
}

static void strv_release(struct kb_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		bot_free(sv->v[i]);
	BOT_FREE(&sv->v);
	sv->n = 0;
}

/*
 * Load the YAML files of 'dir' (sub NULL; it must exist) or of 'dir/sub'
 * (may be missing).  Only an unreadable 'dir' fills 'err'.
 */
static int load_dir(struct kb_ctx *c, const char *dir, const char *sub,
		    struct bot_err *err)
{
	struct kb_pos pos = { c->kb->dir, 0, 0 };
	struct kb_strv names = { NULL, 0 };
	char *path, *full, *rel;
	DIR *d;
	size_t i;
	int rc;

	path = sub ? path_join(dir, sub) : bot_strdup(dir);
	if (!path)
		return BOT_ENOMEM;
	d = opendir(path);
	if (!d) {
		if (!sub)
			rc = bot_fail(err, BOT_EIO, "cannot open directory "
				      "'%s': %s", path, strerror(errno));
		else if (errno == ENOENT || errno == ENOTDIR)
			rc = BOT_OK;
		else
			rc = kb_diag_add(c->kb, 'e', &pos, "cannot open "
					 "directory '%s': %s", path,
					 strerror(errno));
		bot_free(path);
		return rc;
	}
	rc = list_dir(d, path, &names);
	closedir(d);
	for (i = 0; !rc && i < names.n; i++) {
		full = path_join(path, names.v[i]);
		rel = sub ? path_join(sub, names.v[i]) : bot_strdup(names.v[i]);
		rc = full && rel ? load_file(c, full, rel) : BOT_ENOMEM;
		bot_free(full);
		bot_free(rel);
	}
	strv_release(&names);
	bot_free(path);
	return rc;
}

/* ---- after loading: indexes, references, order ---------------------------- */

_Static_assert(offsetof(struct kb_office, id) == 0, "id first");
_Static_assert(offsetof(struct kb_service, id) == 0, "id first");
_Static_assert(offsetof(struct kb_intent, id) == 0, "id first");

static const char *table_id(const char *arr, size_t size, size_t i)
{
	const char *id;

	memcpy(&id, arr + i * size, sizeof(id));
	return id;
}

static size_t table_find(const struct kb_table *t, const char *id)
{
	size_t h, i;

	if (!t->slot)
		return SIZE_MAX;
	h = (size_t)fnv1a(FNV_OFFSET, id, strlen(id)) & t->mask;
	for (; t->slot[h]; h = (h + 1) & t->mask) {
		i = t->slot[h] - 1;
		if (!strcmp(table_id(t->arr, t->size, i), id))
			return i;
	}
	return SIZE_MAX;
}

static size_t linear_find(const void *arr, size_t n, size_t size,
			  const char *id)
{
	const char *s;
	size_t i;

	for (i = 0; i < n; i++) {
		s = table_id(arr, size, i);
		if (s && !strcmp(s, id))
			return i;
	}
	return SIZE_MAX;
}

/* Index the 'n' elements of 'arr'; a repeated id is an error. */
static int table_build(struct kb *kb, struct kb_table *t, const void *arr,
		       size_t n, size_t size, size_t pos_off, const char *kind)
{
	const struct kb_pos *p, *first;
	const char *id;
	size_t cap = 16, i, j, h;
	int rc;

	while (cap < 2 * n)
		cap <<= 1;
	t->slot = bot_calloc(cap, sizeof(*t->slot));
	if (!t->slot)
		return BOT_ENOMEM;
	t->mask = cap - 1;
	t->arr = arr;
	t->size = size;
	t->n = n;
	for (i = 0; i < n; i++) {
		id = table_id(arr, size, i);
		if (!id)
			continue;
		j = table_find(t, id);
		if (j == SIZE_MAX) {
			h = (size_t)fnv1a(FNV_OFFSET, id, strlen(id)) & t->mask;
			while (t->slot[h])
				h = (h + 1) & t->mask;
			t->slot[h] = i + 1;
			continue;
		}
		p = (const void *)(t->arr + i * size + pos_off);
		first = (const void *)(t->arr + j * size + pos_off);
		rc = kb_diag_add(kb, 'e', p, "duplicate %s id '%.200s' (first "
				 "defined at %s:%d)", kind, id, first->file,
				 first->line);
		if (rc)
			return rc;
	}
	return BOT_OK;
}

static int index_build(struct kb *kb)
{
	struct kb_index *ix = bot_calloc(1, sizeof(*ix));
	int rc;

	if (!ix)
		return BOT_ENOMEM;
	kb->index = ix;
	rc = table_build(kb, &ix->office, kb->offices, kb->n_offices,
			 sizeof(*kb->offices), offsetof(struct kb_office, pos),
			 "office");
	if (!rc)
		rc = table_build(kb, &ix->service, kb->services,
				 kb->n_services, sizeof(*kb->services),
				 offsetof(struct kb_service, pos), "service");
	if (!rc)
		rc = table_build(kb, &ix->intent, kb->intents, kb->n_intents,
				 sizeof(*kb->intents),
				 offsetof(struct kb_intent, pos), "intent");
	return rc;
}

static int review_check(struct kb *kb, const struct kb_ref *r,
			const struct tm *today)
{
	int months = kb->settings.review_months;
	long due, cur;
	struct kb_date d;

	if (!scan_ymd(r->id, &d))
		return BOT_OK;
	due = (long)d.year * 12 + d.month - 1 + months;
	cur = (long)(today->tm_year + 1900) * 12 + today->tm_mon;
	if (due > cur || (due == cur && d.day >= today->tm_mday))
		return BOT_OK;
	return kb_diag_add(kb, 'w', &r->pos, "%s was last reviewed on %s, more "
			   "than %d month%s ago", r->label, r->id, months,
			   months == 1 ? "" : "s");
}

static int ref_check(struct kb *kb, const struct kb_ref *r,
		     const struct tm *today)
{
	static const char *const kinds[] = {
		"", "office", "service", "intent"
	};
	struct kb_index *ix = kb->index;
	size_t i;

	switch (r->kind) {
	case REF_OFFICE:
		i = table_find(&ix->office, r->id);
		if (i != SIZE_MAX && r->owner != SIZE_MAX)
			kb->services[r->owner].office = &kb->offices[i];
		break;
	case REF_SERVICE:
		i = table_find(&ix->service, r->id);
		break;
	case REF_INTENT:
		i = table_find(&ix->intent, r->id);
		break;
	case REF_REVIEW:
		return review_check(kb, r, today);
	default:
		return BOT_OK;
	}
	if (i != SIZE_MAX)
		return BOT_OK;
	return kb_diag_add(kb, 'e', &r->pos, "%s: unknown %s '%.200s'",
			   r->label, kinds[r->kind], r->id);
}

struct kb_dsort {
	struct kb_diag d;
	size_t file, seq;
};

static int cmp_diag(const void *a, const void *b)
{
	const struct kb_dsort *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->d.pos.line != y->d.pos.line)
		return x->d.pos.line < y->d.pos.line ? -1 : 1;
	if (x->d.pos.col != y->d.pos.col)
		return x->d.pos.col < y->d.pos.col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Order diagnostics by file (in reading order), line and column. */
static int diags_sort(struct kb *kb)
{
	struct kb_dsort *tmp;
	size_t i, j;

	if (kb->n_diags < 2)
		return BOT_OK;
	tmp = bot_malloc(kb->n_diags * sizeof(*tmp));
	if (!tmp)
		return BOT_ENOMEM;
	for (i = 0; i < kb->n_diags; i++) {
		tmp[i].d = kb->diags[i];
		tmp[i].seq = i;
		tmp[i].file = SIZE_MAX;
		for (j = 0; j < kb->n_files; j++) {
			if (kb->files[j] == kb->diags[i].pos.file)
				tmp[i].file = j;
		}
	}
	qsort(tmp, kb->n_diags, sizeof(*tmp), cmp_diag);
	for (i = 0; i < kb->n_diags; i++)
		kb->diags[i] = tmp[i].d;
	bot_free(tmp);
	return BOT_OK;
}

static int kb_finish(struct kb_ctx *c)
{
	struct kb *kb = c->kb;
	time_t now = time(NULL);
	struct tm today;
	size_t i;
	int rc;

	localtime_r(&now, &today);
	rc = index_build(kb);
	for (i = 0; !rc && i < c->n_refs; i++)
		rc = ref_check(kb, &c->refs[i], &today);
	/* two places for one text: say which one counts */
	if (!rc && kb->netiquette.reminder && kb->settings.netiquette)
		rc = kb_diag_add(kb, 'w', &kb->settings.pos, "settings: "
				 "'netiquette' is ignored because "
				 "'netiquette.reminder' is set");
	if (!rc)
		rc = diags_sort(kb);
	snprintf(kb->version, sizeof(kb->version), "%016" PRIx64, c->hash);
	return rc;
}

/* ---- the API ---------------------------------------------------------------- */

static struct kb *kb_alloc(const char *dir)
{
	struct kb *kb = bot_calloc(1, sizeof(*kb));

	if (!kb)
		return NULL;
	kb->settings.threshold = 0.5;
	kb->settings.margin = 0.06;
	kb->settings.review_months = 12;
	kb->netiquette.strikes = 3;
	kb->netiquette.mute_minutes = 10;
	kb->netiquette.flood_messages = 8;
	kb->netiquette.flood_seconds = 30;
	kb->netiquette.repeats = 4;
	kb->netiquette.max_links = 2;
	kb->plain.max_words = 25;
	kb->settings.state = bot_strdup("NW");
	kb->settings.timezone = bot_strdup("Europe/Berlin");
	if (dir)
		kb->dir = bot_strdup(dir);
	if (!kb->settings.state || !kb->settings.timezone ||
	    (dir && !kb->dir))
		kb_free(&kb);
	return kb;
}

static void ctx_init(struct kb_ctx *c, struct kb *kb)
{
	memset(c, 0, sizeof(*c));
	c->kb = kb;
	c->hash = FNV_OFFSET;
}

static void ctx_release(struct kb_ctx *c)
{
	size_t i;

	for (i = 0; i < c->n_refs; i++)
		bot_free(c->refs[i].label);
	BOT_FREE(&c->refs);
	c->n_refs = 0;
}

/* Hand the kb out, or free it when the load failed. */
static struct kb *kb_done(struct kb **kbp, int rc, struct bot_err *err)
{
	struct kb *kb = *kbp;
	char buf[sizeof(err->msg)];
	size_t i;

	if (rc) {
		kb_free(kbp);
		if (rc == BOT_ENOMEM)
			bot_fail(err, BOT_ENOMEM, "out of memory while loading "
				 "the knowledge base");
		return NULL;
	}
	if (!kb->n_errors || !err)
		return kb;
	for (i = 0; i < kb->n_diags && kb->diags[i].severity != 'e'; i++)
		;
	if (i < kb->n_diags) {
		kb_diag_format(&kb->diags[i], buf, sizeof(buf));
		bot_fail(err, BOT_EPARSE, "%s", buf);
	} else {
		bot_fail(err, BOT_EPARSE, "%zu errors in the knowledge base",
			 kb->n_errors);
	}
	return kb;
}

struct kb *kb_load(const char *dir, struct bot_err *err)
{
	struct kb_pos pos = { NULL, 0, 0 };
	struct kb_ctx c;
	struct kb *kb;
	int rc;

	if (!dir) {
		bot_fail(err, BOT_EINVAL, "no knowledge base directory given");
		return NULL;
	}
	kb = kb_alloc(dir);
	if (!kb) {
		bot_fail(err, BOT_ENOMEM, "out of memory while loading the "
			 "knowledge base");
		return NULL;
	}
	ctx_init(&c, kb);
	rc = load_dir(&c, dir, NULL, err);
	if (!rc)
		rc = load_dir(&c, dir, "tests", err);
	pos.file = kb->dir;
	if (!rc && !kb->n_files)
		rc = kb_diag_add(kb, 'e', &pos, "no *.yaml files in '%s'", dir);
	if (!rc)
		rc = kb_finish(&c);
	ctx_release(&c);
	return kb_done(&kb, rc, err);
}

struct kb *kb_load_buffer(const char *name, const char *yaml, size_t len,
			  struct bot_err *err)
{
	struct kb_ctx c;
	struct kb *kb;
	int rc;

	if (!name)
		name = "<buffer>";
	kb = kb_alloc(NULL);
	if (!kb) {
		bot_fail(err, BOT_ENOMEM, "out of memory while loading the "
			 "knowledge base");
		return NULL;
	}
	ctx_init(&c, kb);
	rc = files_add(&c, name);
	if (!rc)
		rc = text_add(&c, name, yaml ? yaml : "", yaml ? len : 0);
	if (!rc)
		rc = kb_finish(&c);
	ctx_release(&c);
	return kb_done(&kb, rc, err);
}

static void office_release(struct kb_office *o)
{
	bot_free(o->id);
	bot_free(o->name);
	bot_free(o->address);
	bot_free(o->phone);
	bot_free(o->email);
	bot_free(o->url);
	bot_free(o->appointment_url);
	bot_free(o->note);
	bot_free(o->closed);
	strv_release(&o->keywords);
	strv_release(&o->synonyms);
	bot_free(o->team);
	bot_free(o->reviewed);
}

static void service_release(struct kb_service *s)
{
	size_t i;

	bot_free(s->id);
	bot_free(s->name);
	bot_free(s->article);
	bot_free(s->summary);
	bot_free(s->office_id);
	bot_free(s->issuer);
	strv_release(&s->synonyms);
	strv_release(&s->keywords);
	strv_release(&s->documents);
	bot_free(s->fees);
	bot_free(s->duration);
	bot_free(s->online_url);
	for (i = 0; i < s->n_legal; i++) {
		bot_free(s->legal[i].title);
		bot_free(s->legal[i].law);
		bot_free(s->legal[i].section);
		bot_free(s->legal[i].url);
	}
	bot_free(s->legal);
	bot_free(s->team);
	bot_free(s->reviewed);
	bot_free(s->leika);
}

static void intent_release(struct kb_intent *in)
{
	size_t i;

	bot_free(in->id);
	bot_free(in->title);
	for (i = 0; i < in->n_patterns; i++)
		bot_free(in->patterns[i].src);
	bot_free(in->patterns);
	strv_release(&in->keywords);
	strv_release(&in->examples);
	bot_free(in->answer);
	bot_free(in->ask);
	strv_release(&in->quick_replies);
	bot_free(in->team);
	bot_free(in->reviewed);
}

static void test_release(struct kb_test *t)
{
	struct kb_test_turn *u;
	size_t i;

	bot_free(t->name);
	bot_free(t->now);
	for (i = 0; i < t->n_turns; i++) {
		u = &t->turns[i];
		bot_free(u->question);
		bot_free(u->intent);
		bot_free(u->service);
		bot_free(u->office);
		bot_free(u->handoff_reason);
		strv_release(&u->contains);
	}
	bot_free(t->turns);
}

static void netiquette_release(struct kb_netiquette *ni)
{
	strv_release(&ni->insults);
	strv_release(&ni->threats);
	strv_release(&ni->spam);
	strv_release(&ni->allow);
	bot_free(ni->reminder);
	bot_free(ni->threat);
	bot_free(ni->flood);
	bot_free(ni->mute);
}

static void plain_release(struct kb_plain *pl)
{
	size_t i;

	for (i = 0; i < pl->n_words; i++) {
		bot_free(pl->words[i].word);
		bot_free(pl->words[i].use);
	}
	bot_free(pl->words);
}

static void settings_release(struct kb_settings *s)
{
	bot_free(s->city);
	bot_free(s->state);
	bot_free(s->timezone);
	bot_free(s->fallback);
	bot_free(s->netiquette);
	bot_free(s->netiquette_url);
	bot_free(s->privacy_url);
	bot_free(s->handoff_text);
	bot_free(s->thesaurus);
	bot_free(s->service_intent);
	bot_free(s->office_intent);
}

void kb_free(struct kb **kbp)
{
	struct kb *kb;
	size_t i;

	if (!kbp || !*kbp)
		return;
	kb = *kbp;
	for (i = 0; i < kb->n_offices; i++)
		office_release(&kb->offices[i]);
	for (i = 0; i < kb->n_services; i++)
		service_release(&kb->services[i]);
	for (i = 0; i < kb->n_intents; i++)
		intent_release(&kb->intents[i]);
	for (i = 0; i < kb->n_tests; i++)
		test_release(&kb->tests[i]);
	for (i = 0; i < kb->n_diags; i++)
		bot_free(kb->diags[i].msg);
	for (i = 0; i < kb->n_texts; i++)
		bot_free(kb->texts[i].label);
	bot_free(kb->texts);
	netiquette_release(&kb->netiquette);
	plain_release(&kb->plain);
	for (i = 0; i < kb->n_files; i++)
		bot_free(kb->files[i]);
	if (kb->index) {
		bot_free(kb->index->office.slot);
		bot_free(kb->index->service.slot);
		bot_free(kb->index->intent.slot);
		bot_free(kb->index);
	}
	settings_release(&kb->settings);
	bot_free(kb->offices);
	bot_free(kb->services);
	bot_free(kb->intents);
	bot_free(kb->tests);
	bot_free(kb->diags);
	bot_free(kb->files);
	bot_free(kb->dir);
	bot_free(kb);
	*kbp = NULL;
}

/* Index of 'id' in one of the kb's arrays: hashed when the kb was loaded,
 * linear for a kb built by hand (tests).  SIZE_MAX when absent. */
static size_t kb_lookup(const struct kb *kb, const struct kb_table *t,
			const void *arr, size_t n, size_t size, const char *id)
{
	if (!id)
		return SIZE_MAX;
	return kb->index ? table_find(t, id) : linear_find(arr, n, size, id);
}

const struct kb_office *kb_office(const struct kb *kb, const char *id)
{
	size_t i;

	if (!kb)
		return NULL;
	i = kb_lookup(kb, kb->index ? &kb->index->office : NULL, kb->offices,
		      kb->n_offices, sizeof(*kb->offices), id);
	return i == SIZE_MAX ? NULL : &kb->offices[i];
}

const struct kb_service *kb_service(const struct kb *kb, const char *id)
{
	size_t i;

	if (!kb)
		return NULL;
	i = kb_lookup(kb, kb->index ? &kb->index->service : NULL, kb->services,
		      kb->n_services, sizeof(*kb->services), id);
	return i == SIZE_MAX ? NULL : &kb->services[i];
}

const struct kb_intent *kb_intent(const struct kb *kb, const char *id)
{
	size_t i;

	if (!kb)
		return NULL;
	i = kb_lookup(kb, kb->index ? &kb->index->intent : NULL, kb->intents,
		      kb->n_intents, sizeof(*kb->intents), id);
	return i == SIZE_MAX ? NULL : &kb->intents[i];
}

void kb_diag_format(const struct kb_diag *d, char *buf, size_t size)
{
	const char *sev = d->severity == 'w' ? "warning" : "error";

	if (!buf || !size)
		return;
	if (d->pos.file && d->pos.line > 0 && d->pos.col > 0)
		snprintf(buf, size, "%s:%d:%d: %s: %s", d->pos.file,
			 d->pos.line, d->pos.col, sev, d->msg);
	else if (d->pos.file && d->pos.line > 0)
		snprintf(buf, size, "%s:%d: %s: %s", d->pos.file, d->pos.line,
			 sev, d->msg);
	else if (d->pos.file)
		snprintf(buf, size, "%s: %s: %s", d->pos.file, sev, d->msg);
	else
		snprintf(buf, size, "%s: %s", sev, d->msg);
}
