/*
 * main.c - the amtsbot program: picks the subcommand, owns the signal
 * flags.  Everything else lives in the subcommands' files.
 */
#include "engine/bot.h"
#include "main.h"

#include <stdio.h>
#include <string.h>

#include "engine/banned.h"

volatile sig_atomic_t main_reload_requested;
volatile sig_atomic_t main_stop_requested;

static void on_hup(int sig)
{
	(void)sig;
	main_reload_requested = 1;
}

static void on_stop(int sig)
{
	(void)sig;
	main_stop_requested = 1;
}

void main_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct subcommand subcommands[] = {
	{ "ask", cli_ask, "answer questions from the knowledge base" },
	{ "check", cli_check, "validate a knowledge base for editors" },
	{ "test", cli_test, "run the knowledge base's test questions" },
	{ "import-faq", cli_import_faq, "turn an FAQ (CSV) into a knowledge base" },
	{ "bench", cli_bench, "measure answers per second and latency" },
	{ "serve", serve_main, "run the HTTP/WebSocket server" },
	{ "agent", cli_agent, "add, list or remove staff accounts for the agent console" },
	{ "stats", cli_stats, "figures, unanswered questions, suggestions, handoffs" },
	{ "suggest", cli_suggest, "turn unanswered questions into a YAML snippet" },
	{ "purge", cli_purge, "delete old conversations, keep their figures" },
};

static void usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: amtsbot <command> [options]\n\ncommands:\n");
	for (i = 0; i < BOT_ARRAY_SIZE(subcommands); i++)
		fprintf(fp, "  %-11s %s\n", subcommands[i].name,
			subcommands[i].help);
	fprintf(fp, "\n'amtsbot <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < BOT_ARRAY_SIZE(subcommands); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "amtsbot: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
