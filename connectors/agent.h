/*
 * agent.h - the agents' WebSocket protocol on /agent/ws and the citizen
 * side of a handoff (docs/protocol.md, "Agents" and "During a handoff").
 *
 * The socket code (frames, caps, the send queue, group commit) is web.c's;
 * web.c hands every agent connection's frames to agent_frame_in() and
 * tells this module about handoffs, citizens' messages during one and
 * citizens coming and going.  The queue itself is engine/handoff.c.
 * Everything runs on the lws service thread.
 */
#ifndef AGENT_H
#define AGENT_H

#include <stddef.h>

struct server;
struct lws;
struct lws_context;
struct web_pss;
struct reply;
struct agent_conn;

/*
 * Create s->agents: load the open handoffs from the store and start the
 * one-second time-out timer.  Returns 0, or -1 (logged) when the store
 * cannot be read or memory is short.
 */
int agent_hub_start(struct server *s, struct lws_context *ctx);
/* Stop the timer and free s->agents; NULL-safe. */
void agent_hub_stop(struct server *s);

/* A new unauthenticated agent connection on 'pss'; NULL on no memory. */
struct agent_conn *agent_conn_new(struct server *s, struct web_pss *pss,
				  struct lws *wsi);
/* The connection closed: free it and clear the pointer; NULL-safe. */
void agent_conn_free(struct server *s, struct agent_conn **ap);
/* One complete frame (valid UTF-8) from an agent.  Returns 0; errors go
 * to the agent as error frames. */
int agent_frame_in(struct server *s, struct agent_conn *a, const char *buf,
		   size_t len);

/* 1 while conversation 'conv' is queued or held by an agent. */
int agent_in_handoff(struct server *s, const char *conv);
/*
 * The bot's answer 'r' (already stored and queued) hands 'conv' over:
 * queue it for its team, store and send the citizen's 'handoff' frame,
 * tell the agents.  Failures are logged; the answer stands.
 */
void agent_citizen_handoff(struct server *s, const char *conv,
			   const char *channel, const struct reply *r);
/*
 * A citizen's message during a handoff: store it redacted, acknowledge
 * it to the citizen, pass the clear text to the agent holding the case,
 * keep a contact.  -1 when it could not be stored (the caller sends
 * 'internal').
 */
int agent_citizen_message(struct server *s, const char *conv,
			  const char *client_id, const char *text, size_t len);
/* The citizen of 'conv' has a connection again (1) or none left (0). */
void agent_citizen_presence(struct server *s, const char *conv, int online);

/*
 * The login limit per remote address, shared by the agents' login and
 * the editors' /stats/api: 1 when 'addr' (as lws_get_peer_simple() gives
 * it) had conf agent_auth_failures failed logins in the last minute, so
 * that even a valid token is refused.  agent_auth_failed() records one
 * failure.  Up to 64 addresses are remembered, the longest unseen
 * dropped first.  Without an agent hub (not started, or stopped) nothing
 * is blocked or recorded.
 */
int agent_auth_blocked(struct server *s, const char *addr);
void agent_auth_failed(struct server *s, const char *addr);

#endif /* AGENT_H */
