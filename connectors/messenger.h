/*
 * messenger.h - the Facebook Messenger connector (docs/protocol.md,
 * "Messenger"): the webhook on /webhook/messenger, the durable inbox it
 * fills before answering 200, the processing of every event through the
 * same dialogue engine and handoff queue as the web widget, and the Send
 * API client (lws HTTP client in the same event loop) draining a durable
 * outbox with retries.
 *
 * It is one lws protocol, used both for the webhook requests and for the
 * client connections to the Graph API; its state lives in the vhost
 * (PROTOCOL_INIT .. PROTOCOL_DESTROY).  The connector is off (the webhook
 * answers 404, nothing is sent) unless AMTSBOT_FB_APP_SECRET,
 * AMTSBOT_FB_VERIFY_TOKEN and AMTSBOT_FB_PAGE_TOKEN are set.
 *
 * Test-only environment variables (never set them in production):
 *   AMTSBOT_FB_TEST_DELAY_MS  wait this long after the 200 before the
 *                             inbox is processed (crash-after-200 tests)
 *   AMTSBOT_FAKE_NOW_FILE     a file holding a clock offset in seconds
 *                             ("90000"), re-read on every use: moves the
 *                             Messenger clock (reply windows, pauses)
 */
#ifndef MESSENGER_H
#define MESSENGER_H

#include <stddef.h>
#include <time.h>

struct lws_protocols;
struct server;
struct strbuf;

#define MESSENGER_PROTOCOL_NAME "amtsbot-messenger"
#define MESSENGER_PATH "/webhook/messenger"

/* Fill 'p' with the protocol table entry (name, callback, pss size). */
void messenger_protocol(struct lws_protocols *p);

/* The reply window of a Messenger conversation (reference 1.5). */
enum messenger_window {
	MESSENGER_WINDOW_NONE = 0,	/* not a Messenger conversation */
	MESSENGER_WINDOW_STANDARD,	/* < 24 h since the citizen wrote */
	MESSENGER_WINDOW_HUMAN_AGENT,	/* < 7 days: only a person, tagged */
	MESSENGER_WINDOW_CLOSED,	/* nothing may be sent */
};

/* The window of conversation 'conv' now; '*until' (may be NULL) gets
 * when it ends (0 for NONE). */
enum messenger_window messenger_window(struct server *s, const char *conv,
				       time_t *until);
/*
 * Append ',"window":{"until":T,"kind":"standard"|"human_agent"|"closed",
 * "remaining_s":N,"label":GERMAN}' for a Messenger conversation; nothing
 * for others.  BOT_ENOMEM when 'sb' is full.
 */
int messenger_window_add(struct server *s, struct strbuf *sb,
			 const char *conv);

/*
 * An agent's words for the citizen of Messenger conversation 'conv':
 * queued in the outbox (inside the caller's transaction) as RESPONSE
 * within 24 hours of the citizen's last message, else with the
 * HUMAN_AGENT tag within 7 days.  BOT_EAUTH when the window is closed,
 * BOT_ENOTFOUND when 'conv' is not a Messenger conversation.
 */
int messenger_agent_text(struct server *s, const char *conv, const char *text,
			 size_t len);
/*
 * An automated note of the handoff (queued, taken, ended) for the citizen
 * of 'conv': sent only within the 24-hour window; a no-op for web
 * conversations and when the connector is off.
 */
void messenger_conv_note(struct server *s, const char *conv, const char *text);
/* An agent claimed 'conv': with the Handover Protocol on, take the thread
 * back from the page inbox.  A no-op otherwise. */
void messenger_case_claimed(struct server *s, const char *conv);

/* Append the connector's Prometheus counters to 'sb' (/metrics). */
int messenger_metrics_add(const struct server *s, struct strbuf *sb);

#endif /* MESSENGER_H */
