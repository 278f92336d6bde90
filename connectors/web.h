/*
 * web.h - the citizens' WebSocket protocol on /ws (docs/protocol.md):
 * hello/welcome with resume, message/answer, feedback/ok, errors.
 *
 * Every write a reply depends on is committed to SQLite before the reply
 * is sent: the writes of one loop pass share one transaction (group
 * commit), committed by a 1 ms timer, and only then are the replies of
 * that pass released to their connections.
 */
#ifndef WEB_H
#define WEB_H

struct lws_protocols;

#define WEB_PROTOCOL_NAME "amtsbot"

struct lws;
struct server;

/*
 * May this upgrade become a citizens' WebSocket?  Only on /ws, and only
 * without an Origin header (not a browser) or from an allowed origin.
 * Logs refusals.  Returns 1 when allowed.
 */
int web_upgrade_allowed(const struct server *s, struct lws *wsi);

/* Fill 'p' with the protocol table entry (name, callback, pss size). */
void web_protocol(struct lws_protocols *p);

#endif /* WEB_H */
