/*
 * web.h - the citizens' WebSocket protocol on /ws (docs/protocol.md):
 * hello/welcome with resume, message/answer, feedback/ok, errors.
 *
 * Every write a reply depends on is committed to SQLite before the reply
 * is sent: the writes of one loop pass share one transaction (group
 * commit), committed at the end of the pass (web_flush), and only then
 * are the replies of that pass released to their connections.
 */
#ifndef WEB_H
#define WEB_H

#include <stdint.h>

struct lws_protocols;

#define WEB_PROTOCOL_NAME "amtsbot"

struct lws;
struct server;

struct web_pss;

#define WEB_PATH "/ws"
#define WEB_AGENT_PATH "/agent/ws"	/* agent.c's protocol, same socket code */

/*
 * May this upgrade become a WebSocket?  Only on /ws or /agent/ws, and only
 * without an Origin header (not a browser) or from an allowed origin.
 * Logs refusals.  Returns 1 when allowed.
 */
int web_upgrade_allowed(const struct server *s, struct lws *wsi);

/*
 * Queue 'len' bytes of JSON on one connection (copied).  Like every
 * frame it waits for the open transaction's commit.  -1 when the queue
 * is full or memory is short (the frame is dropped and logged).
 */
int web_conn_send(struct server *s, struct web_pss *pss, const char *json,
		  size_t len);
/* Close the connection (code 1008) once its queued frames are written. */
void web_conn_close_after(struct server *s, struct web_pss *pss);
/* Queue JSON on every citizen connection of conversation 'conv'; returns
 * how many got it. */
int web_conv_send(struct server *s, const char *conv, const char *json,
		  size_t len);
/* Citizen connections open on conversation 'conv'. */
int web_conv_online(struct server *s, const char *conv);

/* Fill 'p' with the protocol table entry (name, callback, pss size). */
void web_protocol(struct lws_protocols *p);

/*
 * Group commit at the end of a pass of the event loop: commit what the
 * pass stored (replies, agents' and Messenger's writes alike), then
 * release the replies that waited for it.  Under load a pass serves many
 * connections, so one commit covers many messages; when it is quiet a
 * reply waits for nothing.  Returns the microseconds after which it must
 * run again (a commit waits for the end of the shortest gap between two),
 * -1 when nothing is pending: the loop must wake up by then.
 */
int64_t web_flush(struct server *s);

#endif /* WEB_H */
