/*
 * serve.c - 'amtsbot serve': read the configuration, load and check the
 * knowledge base, open the database, run the server until SIGINT or
 * SIGTERM.
 */
#include "engine/bot.h"
#include "main.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "engine/dialog.h"
#include "engine/kb.h"
#include "engine/store.h"
#include "server.h"

#include "engine/banned.h"

/* Defaults, then the config file, the environment and the flags. */
static int serve_conf(struct conf *c, int argc, char **argv,
		      struct bot_err *err)
{
	const char *path;
	int given;
	int rc;

	rc = conf_init(c, err);
	if (rc)
		return rc;
	path = conf_find_arg(argc, argv, "--config", &given);
	if (given && !path)
		return bot_fail(err, BOT_EINVAL, "option '--config' needs a value");
	if (!given && access("amtsbot.yaml", R_OK) == 0)
		path = "amtsbot.yaml";
	if (path) {
		rc = conf_load_file(c, path, err);
		if (rc)
			return rc;
	}
	rc = conf_load_env(c, err);
	if (rc)
		return rc;
	return conf_load_args(c, argc, argv, err);
}

/* Load the kb and build its engine; log every error with file:line. */
static int serve_kb(struct server *s, struct bot_err *err)
{
	s->kb = kb_load(s->conf->kb, err);
	if (!s->kb)
		return err->rc ? err->rc : BOT_EIO;
	if (s->kb->n_errors) {
		server_log_kb_errors(s->kb, err);
		return bot_fail(err, BOT_EPARSE,
				"knowledge base '%s' has %zu errors",
				s->conf->kb, s->kb->n_errors);
	}
	s->dialog = dialog_new(s->kb, err);
	return s->dialog ? BOT_OK : err->rc;
}

int serve_main(int argc, char **argv)
{
	struct bot_err err = { 0 };
	struct server s;
	struct conf c;
	int help, rc = 1;

	conf_find_arg(argc, argv, "--help", &help);
	if (!help)
		conf_find_arg(argc, argv, "-h", &help);
	if (help) {
		conf_usage(stdout);
		return 0;
	}
	conf_find_arg(argc, argv, "--example-config", &help);
	if (help) {
		conf_write_example(stdout);
		return 0;
	}
	memset(&s, 0, sizeof(s));
	s.conf = &c;
	if (serve_conf(&c, argc, argv, &err)) {
		fprintf(stderr, "amtsbot serve: %s\n", err.msg);
		conf_release(&c);
		return 2;
	}
	log_set_level(c.log_level);
	main_install_signals();
	if (serve_kb(&s, &err))
		goto out;
	s.store = store_open(c.db, &err);
	if (!s.store || store_checkpointer_start(s.store, &err) ||
	    server_start(&s, &err))
		goto out;
	rc = server_run(&s);
out:
	if (err.msg[0])
		log_msg(LOG_ERR, "%s", err.msg);
	server_release(&s);
	conf_release(&c);
	return rc;
}
