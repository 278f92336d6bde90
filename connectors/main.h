/*
 * main.h - what connectors/main.c shares with the subcommands: the
 * subcommand entry points and the process-wide signal flags (the only
 * global mutable state of the program, set by signal handlers).
 */
#ifndef MAIN_H
#define MAIN_H

#include <signal.h>

/* Set by SIGHUP: reload the knowledge base.  Cleared by the server. */
extern volatile sig_atomic_t main_reload_requested;
/* Set by SIGINT/SIGTERM: stop the server cleanly. */
extern volatile sig_atomic_t main_stop_requested;

/* Install the handlers for the flags above. */
void main_install_signals(void);

/* Subcommands: each returns the process exit status. */
int cli_ask(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_test(int argc, char **argv);
int cli_import_faq(int argc, char **argv);
int cli_bench(int argc, char **argv);
int serve_main(int argc, char **argv);
int cli_agent(int argc, char **argv);
int cli_stats(int argc, char **argv);
int cli_suggest(int argc, char **argv);
int cli_purge(int argc, char **argv);

#endif /* MAIN_H */
