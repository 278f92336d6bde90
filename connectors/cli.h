/*
 * cli.h - helpers shared by the editors' commands.
 */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>
#include <time.h>

struct kb;
struct dialog;

/* Load the kb in 'dir' and build its engine; on any error print the
 * problems to stderr and return 1 (nothing to free then). */
int cli_load(const char *dir, struct kb **kbp, struct dialog **dp);

/* Parse --now (NULL: the real clock) in the kb's time zone. */
int cli_now(const struct dialog *d, const char *s, time_t *now);

/* Print the kb's diagnostics ("file:line:col: error: ..."). */
void cli_print_diags(const struct kb *kb, FILE *fp, int warnings);

#endif /* CLI_H */
