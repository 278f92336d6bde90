/*
 * test_netiquette.c - the netiquette check with the list shipped in
 * intents/netiquette.yaml: folding (leetspeak, spelt-out letters, repeated
 * letters), no false alarms on ordinary words and place names, insults,
 * threats, spam with links, floods and repeats with a fixed clock, the
 * pause, entry syntax, and a dialogue turn.
 *
 * Run from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "engine/bot.h"
#include "engine/dialog.h"
#include "engine/kb.h"
#include "engine/netiquette.h"
#include "engine/strbuf.h"
#include "engine/text.h"

#define LIST_FILE "intents/netiquette.yaml"

static const char extra[] =
	"\n---\nsettings:\n"
	"  netiquette_url: https://www.musterstadt.example/netiquette\n"
	"intents:\n"
	"  - id: kosten\n"
	"    patterns: ['\\bwas kostet']\n"
	"    keywords: [kosten, Gebühr]\n"
	"    examples: [Was kostet das?, Wie hoch ist die Gebühr?]\n"
	"    answer: Das kostet 10 Euro.\n";

struct fx {
	struct kb *kb;
	struct netiq *n;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + sizeof(extra));
	if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	if (!buf)
		return NULL;
	memcpy(buf + n, extra, sizeof(extra));
	*len = (size_t)n + sizeof(extra) - 1;
	return buf;
}

static int setup(void **state)
{
	struct bot_err err = { 0 };
	struct fx *f = calloc(1, sizeof(*f));
	size_t len, i;
	char *yaml;

	if (!f)
		return -1;
	yaml = slurp(LIST_FILE, &len);
	if (!yaml)
		return -1;
	f->kb = kb_load_buffer(LIST_FILE, yaml, len, &err);
	free(yaml);
	if (!f->kb || f->kb->n_errors) {
		for (i = 0; f->kb && i < f->kb->n_diags; i++)
			fprintf(stderr, "%s\n", f->kb->diags[i].msg);
		return -1;
	}
	f->n = netiq_new(f->kb, &err);
	*state = f;
	return f->n ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	netiq_free(&f->n);
	kb_free(&f->kb);
	free(f);
	return 0;
}

static enum netiq_kind scan(void **state, const char *s)
{
	struct fx *f = *state;

	return netiq_scan(f->n, s, strlen(s));
}

static void expect(void **state, const char *s, enum netiq_kind want)
{
	enum netiq_kind got = scan(state, s);

	if (got != want)
		fail_msg("\"%s\": got %s, want %s", s,
			 got ? netiq_kind_name(got) : "none",
			 want ? netiq_kind_name(want) : "none");
}

static void expect_fold(const char *in, const char *want)
{
	char buf[256];

	netiq_fold(in, strlen(in), buf, sizeof(buf));
	if (strcmp(buf, want))
		fail_msg("fold(\"%s\") = \"%s\", want \"%s\"", in, buf, want);
}

/* ---- folding ------------------------------------------------------------ */

static void test_fold(void **state)
{
	(void)state;
	expect_fold("Bürgeramt", "buergeramt");
	expect_fold("STRAßE", "strase");	/* ss collapsed like every run */
	expect_fold("1d10t", "idiot");
	expect_fold("a$$hole", "ashole");
	expect_fold("i.d.i.o.t", "idiot");
	expect_fold("I D I O T!", "idiot");
	expect_fold("Iiiiidiot!!!", "idiot");
	expect_fold("Hallo! Wie geht's?", "halo|wie geht s");
	expect_fold("Um 10:00 Uhr, bitte.", "um 10 00 uhr,bite");
	expect_fold("z.B. 5 Euro", "z b|5 euro");
	expect_fold("Straße\nNr. 3", "strase|nr|3");
	expect_fold("v3rpiss d1ch", "verpis dich");
	expect_fold("Café – naïve", "cafe naive");
	expect_fold("", "");
}

/* Without leetspeak, our folding agrees with text_fold() apart from the
 * collapsed letter runs, so list entries read like intents' patterns. */
static void test_fold_agrees_with_text_fold(void **state)
{
	static const char *const words[] = {
		"Bürgeramt", "Öffnungszeiten", "Gebühr", "MÄNGELMELDER",
		"Führerschein", "Grünschnitt", "Übergröße", "Ärger",
	};
	struct bot_err err = { 0 };
	struct strbuf sb;
	char mine[128], want[128];
	size_t i, r, w;

	(void)state;
	strbuf_init(&sb, 0);
	for (i = 0; i < BOT_ARRAY_SIZE(words); i++) {
		strbuf_reset(&sb);
		assert_int_equal(text_fold(words[i], strlen(words[i]), &sb,
					   &err), BOT_OK);
		for (r = 0, w = 0; r < sb.len; r++)
			if (!w || want[w - 1] != strbuf_str(&sb)[r])
				want[w++] = strbuf_str(&sb)[r];
		want[w] = '\0';
		netiq_fold(words[i], strlen(words[i]), mine, sizeof(mine));
		assert_string_equal(mine, want);
	}
	strbuf_release(&sb);
}

/* ---- no false alarms -------------------------------------------------- */

static void test_ordinary_words(void **state)
{
	static const char *const ok[] = {
		"Der Amtsschimmel wiehert mal wieder.",
		"Gibt es einen Schlussverkauf im Rathaus?",
		"Ich wohne in der Schwanstraße 3.",
		"Wir ziehen von Fucking nach Musterstadt.",
		"Ich komme aus Kotzen im Havelland.",
		"Meine Tochter studiert in Wixhausen.",
		"Mein Vater lebt in Pissen bei Leuna.",
		"Wir waren in Fickmühlen zu Besuch.",
		"Ist Affing weit weg?",
		"Wie lange fahre ich nach Bitche?",
		"Ich habe Verwandte in Dummerstorf.",
		"Wir kommen aus Schwachhausen in Bremen.",
		"Ich brauche eine Analyse vom Umweltamt.",
		"Wer entfernt Hundekot vom Gehweg?",
		"Darf ich die Mistgabel im Sperrmüll entsorgen?",
		"Wo melde ich ein Wildschwein im Garten?",
		"Die Spastik meines Sohnes: gibt es einen Behindertenausweis?",
		"Muss ich zum Idiotentest, um den Führerschein zurückzubekommen?",
		"Ich habe eine Weltkriegsbombe im Garten gefunden, wen rufe ich an?",
		"Ich bringe die Unterlagen um 10 Uhr vorbei.",
		"Wann zünden wir das Osterfeuer an?",
		"Ich habe eine Waffe geerbt, brauche ich eine Waffenbesitzkarte?",
		"Kann ich mit Bitcoin bezahlen?",
		"Mein Nachbar ist ein Messie, der Müll stinkt.",
		"Das ist dumm gelaufen, ich habe den Termin verpasst.",
		"Die Trottellumme brütet auf Helgoland.",
		"Wann wurde die Bombe beim Bahnhof entschärft?",
		"Der Mongolei-Abend im Bürgerhaus, wann ist der?",
		"Ihr Schwein ist entlaufen? Wir helfen beim Fundtier.",
		"Wo kann ich meinen Führerscheinlappen umtauschen?",
		"Wer ist dran? Ich warte seit einer Stunde.",
		"Ich habe eine Frage zu Ihrer Verwaltung.",
		"Meine Adresse: https://www.musterstadt.example/formulare",
		"Was kostet ein Reisepass?",
	};
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(ok); i++)
		expect(state, ok[i], NETIQ_NONE);
}

/* ---- insults ---------------------------------------------------------- */

static void test_insults_and_leetspeak(void **state)
{
	static const char *const bad[] = {
		"Du Idiot!",
		"Ihr seid alle Vollidioten",
		"1diot",
		"Du 1d10t",
		"iiiiidiot",
		"i.d.i.o.t",
		"I D I O T",
		"a5shole",
		"a$$hole",
		"Arschl0ch",
		"A-r-s-c-h-l-o-c-h",
		"ARSCHLOCH!!!",
		"v3rpiss dich",
		"verpiss dich",
		"Verpisst euch!",
		"W1chser",
		"Hurens0hn",
		"Du bist so dumm",
		"Bist du blöd oder was?",
		"Halt die Fresse",
		"Scheiß Amt!",
		"Ihr Scheißamt-Beamten",
		"Saftladen hier",
		"fick dich",
		"Du Opfer",
		"Du Lappen",
		"Drecksau",
		"Ihr Schmarotzer",
	};
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(bad); i++)
		expect(state, bad[i], NETIQ_INSULT);
}

/* ---- threats and spam ------------------------------------------------- */

static void test_threats(void **state)
{
	static const char *const bad[] = {
		"Ich bring euch um",
		"ich bringe euch alle um!",
		"Ich bringe den Bürgermeister um.",
		"Ich zünde das Rathaus an",
		"ich zünde euer Bürgeramt an!",
		"Ich fackel das Amt ab.",
		"Ich lege eine Bombe ins Rathaus",
		"Ich habe eine Bombe.",
		"Ich jage das Rathaus in die Luft",
		"Ich weiß, wo du wohnst",
		"Ihr werdet es bereuen",
		"Ich erschieße euch",
		"Du Idiot, ich bring dich um",	/* threat outranks insult */
	};
	size_t i;

	for (i = 0; i < BOT_ARRAY_SIZE(bad); i++)
		expect(state, bad[i], NETIQ_THREAT);
}

static void test_spam(void **state)
{
	expect(state, "Schnell reich mit Bitcoin: https://bitcoin-profit.xyz/x",
	       NETIQ_SPAM);
	expect(state, "Bestes Online-Casino www.casino-royal.example",
	       NETIQ_SPAM);
	expect(state, "V1agra billig bei pillen-shop.com", NETIQ_SPAM);
	expect(state, "Kredit ohne Schufa: http://kredit.example", NETIQ_SPAM);
	/* three links are too many even without spam words */
	expect(state, "a.com b.net c.org", NETIQ_SPAM);
	/* spam words without a link, or with the city's own link, are fine */
	expect(state, "Nimmt die Stadtkasse Bitcoin?", NETIQ_NONE);
	expect(state, "Casino-Steuer: https://www.musterstadt.example/casino",
	       NETIQ_NONE);
	expect(state, "Meine E-Mail: max@casino.com", NETIQ_NONE);
}

/* ---- counters, with a fixed clock ------------------------------------- */

static void test_flood(void **state)
{
	struct fx *f = *state;
	struct netiq_state st = { 0 };
	struct netiq_verdict v;
	char msg[64];
	time_t t = 1790000000;
	int i;

	/* 8 messages in 30 seconds are fine, the 9th is a flood */
	for (i = 0; i < 8; i++) {
		snprintf(msg, sizeof(msg), "Frage Nummer %d", i);
		netiq_check(f->n, &st, msg, strlen(msg), t + i * 3, &v);
		assert_int_equal(v.kind, NETIQ_NONE);
	}
	netiq_check(f->n, &st, "noch eine", 9, t + 25, &v);
	assert_int_equal(v.kind, NETIQ_FLOOD);
	assert_non_null(strstr(v.text, "sehr viele"));
	assert_int_equal(st.violations, 1);

	/* a new window after 30 seconds */
	memset(&st, 0, sizeof(st));
	for (i = 0; i < 20; i++) {
		snprintf(msg, sizeof(msg), "Frage %d", i);
		netiq_check(f->n, &st, msg, strlen(msg), t + i * 10, &v);
		assert_int_equal(v.kind, NETIQ_NONE);
	}
}

static void test_repeat(void **state)
{
	struct fx *f = *state;
	struct netiq_state st = { 0 };
	struct netiq_verdict v;
	time_t t = 1790000000;
	const char *q = "Wann hat das Amt auf?";

	netiq_check(f->n, &st, q, strlen(q), t, &v);
	assert_int_equal(v.kind, NETIQ_NONE);
	netiq_check(f->n, &st, "wann hat das amt auf", 20, t + 60, &v);
	assert_int_equal(v.kind, NETIQ_NONE);
	netiq_check(f->n, &st, "Wann hat das Amt auf???", 23, t + 120, &v);
	assert_int_equal(v.kind, NETIQ_NONE);
	/* the fourth time in a row, written alike after folding */
	netiq_check(f->n, &st, "WANN HAT DAS AMT AUF", 20, t + 180, &v);
	assert_int_equal(v.kind, NETIQ_REPEAT);
	/* something else breaks the row */
	netiq_check(f->n, &st, "Danke", 5, t + 240, &v);
	assert_int_equal(v.kind, NETIQ_NONE);
	netiq_check(f->n, &st, q, strlen(q), t + 300, &v);
	assert_int_equal(v.kind, NETIQ_NONE);
}

static void test_strikes_mute_and_resume(void **state)
{
	struct fx *f = *state;
	struct netiq_state st = { 0 };
	struct netiq_verdict v;
	time_t t = 1790000000;

	netiq_check(f->n, &st, "Du Idiot", 8, t, &v);
	assert_int_equal(v.kind, NETIQ_INSULT);
	assert_int_equal(v.mute_now, 0);
	assert_non_null(strstr(v.text, "Netiquette"));
	netiq_check(f->n, &st, "Was kostet ein Pass?", 20, t + 60, &v);
	assert_int_equal(v.kind, NETIQ_NONE);
	netiq_check(f->n, &st, "Ich bring euch um", 17, t + 120, &v);
	assert_int_equal(v.kind, NETIQ_THREAT);
	assert_non_null(strstr(v.text, "Drohungen"));
	netiq_check(f->n, &st, "Arschloch", 9, t + 180, &v);
	assert_int_equal(v.kind, NETIQ_INSULT);
	assert_int_equal(v.mute_now, 1);
	assert_non_null(strstr(v.text, "pausiert"));
	assert_int_equal(st.violations, 3);
	assert_int_equal(st.muted_until, t + 180 + 600);

	/* paused: every message gets the short text, nothing is counted */
	netiq_check(f->n, &st, "Was kostet ein Pass?", 20, t + 300, &v);
	assert_int_equal(v.kind, NETIQ_MUTED);
	assert_int_equal(v.mute_now, 0);
	assert_non_null(strstr(v.text, "pausiert"));
	netiq_check(f->n, &st, "Idiot", 5, t + 779, &v);
	assert_int_equal(v.kind, NETIQ_MUTED);
	assert_int_equal(st.violations, 3);

	/* ten minutes later: a fresh start, but the total stays */
	netiq_check(f->n, &st, "Was kostet ein Pass?", 20, t + 780, &v);
	assert_int_equal(v.kind, NETIQ_NONE);
	assert_int_equal(st.muted_until, 0);
	assert_int_equal(st.strikes, 0);
	netiq_check(f->n, &st, "Idiot", 5, t + 800, &v);
	assert_int_equal(v.kind, NETIQ_INSULT);
	assert_int_equal(v.mute_now, 0);
	assert_int_equal(st.violations, 4);
}

/* ---- entry syntax ------------------------------------------------------- */

static void test_entry_check(void **state)
{
	char msg[128];

	(void)state;
	assert_int_equal(netiq_entry_check("*idiot", msg, sizeof(msg)), 0);
	assert_int_equal(netiq_entry_check("du (opfer|affe)", msg,
					   sizeof(msg)), 0);
	assert_int_equal(netiq_entry_check("ich bring ... um $", msg,
					   sizeof(msg)), 0);
	assert_int_equal(netiq_entry_check("Zünde*", msg, sizeof(msg)), 0);
	assert_int_equal(netiq_entry_check("", msg, sizeof(msg)), 1);
	assert_string_equal(msg, "empty entry");
	assert_int_equal(netiq_entry_check("du", msg, sizeof(msg)), 1);
	assert_string_equal(msg, "the first word needs at least 3 letters");
	assert_int_equal(netiq_entry_check("... idiot", msg, sizeof(msg)), 1);
	assert_string_equal(msg, "an entry must start with a word");
	assert_int_equal(netiq_entry_check("idiot ...", msg, sizeof(msg)), 1);
	assert_string_equal(msg, "'...' must stand between two words");
	assert_int_equal(netiq_entry_check("idiot $ du", msg, sizeof(msg)), 1);
	assert_string_equal(msg, "'$' must be the last word");
	assert_int_equal(netiq_entry_check("id*iot", msg, sizeof(msg)), 1);
	assert_int_equal(netiq_entry_check("a b c d e f g h i", msg,
					   sizeof(msg)), 1);
	assert_int_equal(netiq_entry_check("(a|)", msg, sizeof(msg)), 1);
	assert_string_equal(netiq_kind_name(NETIQ_THREAT), "threat");
	assert_null(netiq_kind_name(NETIQ_NONE));
	assert_null(netiq_kind_name(NETIQ_KIND_COUNT));
}

/* ---- in a dialogue ------------------------------------------------------- */

static void test_dialog_turns(void **state)
{
	struct fx *f = *state;
	struct bot_err err = { 0 };
	struct dialog_state st;
	struct dialog *d = dialog_new(f->kb, &err);
	struct reply r;
	time_t t = 1790000000;

	assert_non_null(d);
	dialog_state_init(&st);
	reply_init(&r);
	assert_int_equal(dialog_reply(d, &st, "Du 1d10t, was kostet das?", 25,
				      t, &r, &err), BOT_OK);
	assert_string_equal(r.netiquette, "insult");
	assert_null(r.intent);
	assert_int_equal(r.muted, 0);
	assert_non_null(strstr(strbuf_str(&r.answer),
			       "https://www.musterstadt.example/netiquette"));
	assert_int_equal(r.n_sources, 1);
	assert_string_equal(r.sources[0].title, "Netiquette");

	assert_int_equal(dialog_reply(d, &st, "Was kostet das?", 15, t + 5,
				      &r, &err), BOT_OK);
	assert_null(r.netiquette);
	if (!r.intent)
		fail_msg("no intent: %s", strbuf_str(&r.answer));
	assert_string_equal(r.intent, "kosten");

	/* personal data is still redacted for storage */
	assert_int_equal(dialog_reply(d, &st, "Idiot! max@example.org", 22,
				      t + 10, &r, &err), BOT_OK);
	assert_string_equal(r.netiquette, "insult");
	assert_null(strstr(strbuf_str(&r.redacted), "max@"));
	assert_int_equal(dialog_reply(d, &st, "Arschloch", 9, t + 15, &r,
				      &err), BOT_OK);
	assert_int_equal(r.muted, 1);
	assert_int_equal(dialog_reply(d, &st, "Was kostet das?", 15, t + 20,
				      &r, &err), BOT_OK);
	assert_string_equal(r.netiquette, "muted");
	assert_null(r.intent);
	assert_int_equal(st.netiq.violations, 3);
	reply_release(&r);
	dialog_free(&d);
}

/* ---- speed ------------------------------------------------------------- */

static void test_speed(void **state)
{
	struct fx *f = *state;
	const char *q = "Wann hat das Bürgeramt am Samstag geöffnet und was "
			"kostet ein neuer Personalausweis?";
	struct timespec a, b;
	double us;
	int i, hits = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < 20000; i++)
		hits += netiq_scan(f->n, q, strlen(q)) != NETIQ_NONE;
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = ((double)(b.tv_sec - a.tv_sec) * 1e9 +
	      (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / 20000;
	print_message("netiq_scan: %.3f us per question\n", us);
	assert_int_equal(hits, 0);
	assert_true(us < 50.0);	/* loose: sanitizer builds are slow */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_fold_agrees_with_text_fold),
		cmocka_unit_test(test_ordinary_words),
		cmocka_unit_test(test_insults_and_leetspeak),
		cmocka_unit_test(test_threats),
		cmocka_unit_test(test_spam),
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_repeat),
		cmocka_unit_test(test_strikes_mute_and_resume),
		cmocka_unit_test(test_entry_check),
		cmocka_unit_test(test_dialog_turns),
		cmocka_unit_test(test_speed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
