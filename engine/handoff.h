/*
 * handoff.h - the queue of conversations handed to members of staff:
 * routing to a team, claims (one agent per conversation), the states
 * queued -> active -> ended, requeueing, and the time-outs.
 *
 * A handoff_queue lives in the server process and mirrors the open rows
 * of the store's 'handoffs' table: every change is written through to
 * the store (inside the caller's transaction when one is open), so that
 * handoff_queue_load() after a restart finds the same queue.  It knows
 * nothing of sockets: the connector asks it what to do and tells the
 * people involved.  Single-threaded like the store.
 */
#ifndef HANDOFF_H
#define HANDOFF_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "bot.h"
#include "store.h"
#include "strbuf.h"

struct kb;
struct reply;
struct handoff_queue;

enum handoff_state { HANDOFF_QUEUED, HANDOFF_ACTIVE };

/*
 * One open handoff.  Read-only for callers; valid until the case is
 * ended (handoff_end) or the queue is freed.
 */
struct handoff_case {
	struct handoff_case *next;	/* in the order of queueing */
	int64_t id;			/* row in the store */
	char conv[STORE_ID_LEN + 1];
	char channel[16];
	char reason[16];
	char team[STORE_NAME_MAX];
	enum handoff_state state;
	char agent[STORE_NAME_MAX];	/* "" while queued */
	time_t queued_at, claimed_at;
	int requeued;		/* came back to the queue by a time-out */
	int agent_wrote;	/* the holder wrote since the claim */
	time_t agent_gone;	/* the holder has no connection since; 0 */
	time_t citizen_gone;	/* the citizen has no connection since; 0 */
	int citizen_wrote;	/* the citizen wrote after the handoff began */
	int off_duty;		/* the citizen was told nobody is on duty */
	struct strbuf contact;	/* clear text, only in memory and encrypted
				 * in the store */
};

struct handoff_timeouts {
	long agent_grace;	/* seconds */
	long claim;		/* seconds */
	long citizen;		/* seconds */
};

/* What handoff_due() found. */
enum handoff_due {
	HANDOFF_DUE_NONE = 0,
	HANDOFF_DUE_AGENT_GONE,	/* requeue: the holder is away too long */
	HANDOFF_DUE_CLAIM,	/* requeue: the holder did not write in time */
	HANDOFF_DUE_CITIZEN,	/* end: empty queued case, citizen gone */
};

/* A new empty queue writing to 'store' (borrowed, must outlive it).
 * NULL when out of memory. */
struct handoff_queue *handoff_queue_new(struct store *store) BOT_WUR;
/* Free the cases (not the store rows); NULL-safe; clears the pointer. */
void handoff_queue_free(struct handoff_queue **qp);

/*
 * Load the open handoffs of the store (after a start).  Active ones are
 * treated as if their agent had just left at 'now' (grace period), and
 * every citizen as offline since 'now'.
 */
int handoff_queue_load(struct handoff_queue *q, time_t now,
		       struct bot_err *err) BOT_WUR;

/* The first open case (then c->next), or NULL. */
struct handoff_case *handoff_first(struct handoff_queue *q);
/* The open case of conversation 'conv', or NULL. */
struct handoff_case *handoff_find(struct handoff_queue *q, const char *conv);
/* Open cases. */
size_t handoff_count(const struct handoff_queue *q);

/*
 * Queue conversation 'conv' for 'team'.  When it has an open case
 * already, that one is returned and nothing changes.  '*out' gets the
 * case.  Fails with BOT_EINVAL for bad arguments, BOT_EDB, BOT_ENOMEM.
 */
int handoff_open(struct handoff_queue *q, const char *conv,
		 const char *channel, const char *reason, const char *team,
		 time_t now, struct handoff_case **out,
		 struct bot_err *err) BOT_WUR;

/* 1-based place of a queued case among the queued cases of its team;
 * 0 for an active case. */
size_t handoff_position(struct handoff_queue *q, const struct handoff_case *c);

/*
 * 'agent' takes case 'c'.  BOT_OK also when 'agent' holds it already.
 * BOT_EAUTH ("conversation '...' is held by 'NAME'") when another agent
 * holds it: the first claim wins.
 */
int handoff_claim(struct handoff_queue *q, struct handoff_case *c,
		  const char *agent, time_t now, struct bot_err *err) BOT_WUR;
/* Back to the queue (agent away, claim not answered); keeps queued_at. */
int handoff_requeue(struct handoff_queue *q, struct handoff_case *c,
		    struct bot_err *err) BOT_WUR;
/*
 * End case '*cp' with 'outcome' ("released", "closed", "abandoned",
 * "timeout"), free it and clear the pointer.  On a store error the case
 * stays open and '*cp' unchanged.
 */
int handoff_end(struct handoff_queue *q, struct handoff_case **cp,
		const char *outcome, time_t now, struct bot_err *err) BOT_WUR;

/* Append 'len' bytes of contact data ("; " between pieces, capped) and
 * store the whole encrypted. */
int handoff_add_contact(struct handoff_queue *q, struct handoff_case *c,
			const char *text, size_t len,
			struct bot_err *err) BOT_WUR;

/* The connection state of agent 'agent' (all cases it holds) and of the
 * citizen of 'c'. */
void handoff_agent_presence(struct handoff_queue *q, const char *agent,
			    int online, time_t now);
void handoff_citizen_presence(struct handoff_case *c, int online, time_t now);

/* The first case that needs an action at 'now'; '*what' says which.
 * NULL when none. */
struct handoff_case *handoff_due(struct handoff_queue *q, time_t now,
				 const struct handoff_timeouts *t,
				 enum handoff_due *what);

/* May an agent of 'team' with 'role' see (and claim) case 'c'? */
int handoff_visible(const struct handoff_case *c, const char *team,
		    const char *role, const char *default_team);

/* The team for reply 'r': of its service, else of its office, else
 * 'default_team'.  Borrowed from the kb or 'default_team'. */
const char *handoff_route(const struct kb *kb, const struct reply *r,
			  const char *default_team);

#endif /* HANDOFF_H */
