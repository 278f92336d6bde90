/*
 * load.c - WebSocket load generator for `amtsbot serve` (bench/load.sh).
 *
 * Plain C, one thread, epoll with edge-triggered non-blocking sockets and
 * a hand-written RFC 6455 client, so that the generator needs a fraction
 * of one core and the server is what gets measured.  Every connection is
 * one conversation: hello, welcome, then messages from a mix of German
 * questions from the sample knowledge base.
 *
 * Closed loop (-r 0): each connection sends its next message as soon as
 * the answer to its previous one arrives (one outstanding message per
 * connection); this finds the throughput.
 * Open loop (-r RATE): message n is due at start + n / RATE on connection
 * n % CONNECTIONS, whatever happened to earlier messages, and its latency
 * is measured from that due time, so a stalled server cannot hide its
 * stall by slowing the generator down (coordinated omission).
 *
 * The last line of output is "RESULT key=value ..." for scripts.
 *
 * Build: cc -O2 -o build/load bench/load.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../engine/banned.h"

#define NS_PER_S 1000000000ull
#define HIST_STEP_NS 10000ull		/* latency resolution: 10 us */
#define HIST_BUCKETS 1000000u		/* ... up to 10 s; beyond: 'over' */
#define RBUF_MAX (1u << 20)		/* a bigger server frame is an error */
#define READY_TIMEOUT_S 30		/* connecting all may take this long */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static const char *const questions[] = {
	"Wann hat das Bürgeramt heute auf?",
	"Was kostet ein Reisepass?",
	"Welche Unterlagen brauche ich für die Anmeldung?",
	"Was kostet ein Personalausweis?",
	"Wie lange dauert ein neuer Personalausweis?",
	"Ich habe meinen Ausweis verloren, was muss ich tun?",
	"Ich bin umgezogen, was muss ich tun?",
	"Brauche ich für die Ummeldung einen Termin?",
	"Wo bekomme ich eine Meldebescheinigung?",
	"Wie beantrage ich ein Führungszeugnis?",
	"Was kostet die Zulassung eines Autos?",
	"Wann hat die Zulassungsstelle geöffnet?",
	"Wie bekomme ich ein Wunschkennzeichen?",
	"Wie beantrage ich einen Bewohnerparkausweis?",
	"Welche Unterlagen brauche ich für die Gewerbeanmeldung?",
	"Wie hoch ist die Hundesteuer?",
	"Wo bekomme ich eine Geburtsurkunde?",
	"Wann hat das Standesamt auf?",
	"Wie melde ich Sperrmüll an?",
	"Wie kann ich Briefwahl beantragen?",
	"Wie beantrage ich Wohngeld?",
	"Wo gebe ich Fundsachen ab?",
};
#define N_QUESTIONS (sizeof(questions) / sizeof(questions[0]))

enum conn_state {
	CS_IDLE,	/* not yet connected */
	CS_CONNECTING,	/* connect() in progress */
	CS_HANDSHAKE,	/* upgrade request sent, waiting for 101 */
	CS_WELCOME,	/* hello sent, waiting for welcome */
	CS_READY,
	CS_DEAD,
};

struct conn {
	int fd;
	enum conn_state state;
	unsigned idx;
	char key[32];		/* Sec-WebSocket-Key, base64 */
	unsigned char *rbuf, *wbuf;
	size_t rlen, rcap;
	size_t wlen, woff, wcap;
	uint64_t sent_ns;	/* closed loop: when the open message went out */
	unsigned outstanding;	/* messages sent and not yet answered */
};

struct hist {
	uint32_t *b;
	uint64_t n, over, max_ns, sum_ns;
};

struct opts {
	unsigned conns, duration, rate, naddr, ramp, drain;
	const char *host;
	unsigned port;
};

enum phase { PH_RAMP, PH_MEASURE, PH_DRAIN, PH_DONE };

struct load {
	struct opts o;
	int ep, tfd;
	struct conn *c;
	enum phase phase;
	uint64_t t_start, t_end, t_drain_end;
	uint64_t next_n, total_n;	/* message numbers */
	char tag[16];			/* run tag: ids stay unique across runs */
	uint64_t rng;
	struct hist h;
	/* counters */
	unsigned started, ready, connect_fail, closed;
	uint64_t sent_win, answered_win, answered, sent, err_frames,
		 err_rate_limited, bad_frames, skipped;
	struct rusage ru_start, ru_end;
};

/* ---- small helpers --------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(struct load *l)
{
	/* xorshift64*: masks and keys need no cryptographic quality */
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * 0x2545F4914F6CDD1Dull;
}

static int buf_reserve(unsigned char **buf, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : 1024;
	unsigned char *nb;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	nb = realloc(*buf, ncap);
	if (!nb)
		return -1;
	*buf = nb;
	*cap = ncap;
	return 0;
}

static void base64(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*out++ = tab[in[i] >> 2];
		*out++ = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = tab[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*out++ = tab[in[i + 2] & 63];
	}
	if (n - i == 1) {
		*out++ = tab[in[i] >> 2];
		*out++ = tab[(in[i] & 3) << 4];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		*out++ = tab[in[i] >> 2];
		*out++ = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*out++ = tab[(in[i + 1] & 15) << 2];
		*out++ = '=';
	}
	*out = '\0';
}

/* ---- SHA-1, only to check Sec-WebSocket-Accept ----------------------- */

#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 80; i++)
		w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (i = 0; i < 80; i++) {
		if (i < 20)
			t = ((b & c) | (~b & d)) + 0x5A827999;
		else if (i < 40)
			t = (b ^ c ^ d) + 0x6ED9EBA1;
		else if (i < 60)
			t = ((b & c) | (b & d) | (c & d)) + 0x8F1BBCDC;
		else
			t = (b ^ c ^ d) + 0xCA62C1D6;
		t += ROL(a, 5) + e + w[i];
		e = d;
		d = c;
		c = ROL(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

/* 'in' is short (key + GUID, 60 bytes): everything fits in two blocks */
static void sha1(const unsigned char *in, size_t n, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
			  0xC3D2E1F0 };
	unsigned char blk[128] = { 0 };
	size_t nblk = n + 9 > 64 ? 2 : 1, i;
	uint64_t bits = (uint64_t)n * 8;

	memcpy(blk, in, n);
	blk[n] = 0x80;
	for (i = 0; i < 8; i++)
		blk[nblk * 64 - 1 - i] = (unsigned char)(bits >> (8 * i));
	for (i = 0; i < nblk; i++)
		sha1_block(h, blk + 64 * i);
	for (i = 0; i < 20; i++)
		out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* ---- latency histogram ----------------------------------------------- */

static void hist_add(struct hist *h, uint64_t ns)
{
	uint64_t i = ns / HIST_STEP_NS;

	h->n++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	if (i >= HIST_BUCKETS)
		h->over++;
	else
		h->b[i]++;
}

/* Upper edge of the bucket holding quantile 'q', in milliseconds. */
static double hist_ms(const struct hist *h, double q)
{
	uint64_t want = (uint64_t)(q * (double)h->n + 0.5), seen = 0;
	unsigned i;

	if (!h->n)
		return 0;
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			return (double)((i + 1) * HIST_STEP_NS) / 1e6;
	}
	return (double)h->max_ns / 1e6;
}

/* ---- writing ---------------------------------------------------------- */

static void conn_kill(struct load *l, struct conn *c);

static int conn_flush(struct load *l, struct conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;	/* EPOLLOUT (edge) brings us back */
		if (n <= 0) {
			conn_kill(l, c);
			return -1;
		}
		c->woff += (size_t)n;
	}
	c->woff = c->wlen = 0;
	return 0;
}

static int conn_put(struct conn *c, const void *p, size_t n)
{
	if (buf_reserve(&c->wbuf, &c->wcap, c->wlen + n))
		return -1;
	memcpy(c->wbuf + c->wlen, p, n);
	c->wlen += n;
	return 0;
}

/* Queue one masked client frame (RFC 6455 5.3: clients always mask). */
static int ws_put_frame(struct load *l, struct conn *c, unsigned opcode,
			const void *payload, size_t n)
{
	unsigned char hdr[14], *p;
	size_t hl = 2, i;
	uint32_t mask = (uint32_t)rnd(l);

	hdr[0] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		hdr[1] = (unsigned char)(0x80 | n);
	} else if (n < 65536) {
		hdr[1] = 0x80 | 126;
		hdr[2] = (unsigned char)(n >> 8);
		hdr[3] = (unsigned char)n;
		hl = 4;
	} else {
		return -1;	/* we never send anything that big */
	}
	memcpy(hdr + hl, &mask, 4);
	if (conn_put(c, hdr, hl + 4) || conn_put(c, payload, n))
		return -1;
	p = c->wbuf + c->wlen - n;
	for (i = 0; i < n; i++)
		p[i] ^= hdr[hl + (i & 3)];
	return 0;
}

/* Send message number 'n'; closed loop times it from now. */
static void send_message(struct load *l, struct conn *c, uint64_t n,
			 uint64_t now)
{
	char js[256];
	int len;

	len = snprintf(js, sizeof(js),
		       "{\"type\":\"message\",\"id\":\"%s-%" PRIu64
		       "\",\"text\":\"%s\"}",
		       l->tag, n, questions[(n * 7 + c->idx) % N_QUESTIONS]);
	if (len < 0 || (size_t)len >= sizeof(js) ||
	    ws_put_frame(l, c, 1, js, (size_t)len)) {
		conn_kill(l, c);
		return;
	}
	c->sent_ns = now;
	c->outstanding++;
	l->sent++;
	if (l->phase == PH_MEASURE)
		l->sent_win++;
	conn_flush(l, c);
}

/* ---- connecting and the handshake ------------------------------------- */

static void conn_kill(struct load *l, struct conn *c)
{
	if (c->state == CS_DEAD || c->state == CS_IDLE)
		return;
	if (c->state == CS_READY)
		l->closed++;
	else
		l->connect_fail++;
	if (c->fd >= 0)
		close(c->fd);	/* also leaves the epoll set */
	c->fd = -1;
	c->state = CS_DEAD;
	free(c->rbuf);
	free(c->wbuf);
	c->rbuf = c->wbuf = NULL;
	c->rlen = c->rcap = c->wlen = c->woff = c->wcap = 0;
}

static int conn_start(struct load *l, struct conn *c)
{
	struct sockaddr_in dst = { .sin_family = AF_INET }, src = dst;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP |
					    EPOLLET };
	int one = 1;

	c->state = CS_CONNECTING;	/* from here a failure counts */
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	/* answers are small frames: never let Nagle hold one of ours back */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (l->o.naddr > 1) {
		/* more source addresses: more than ~28,000 ephemeral ports */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
			   sizeof(one));
		src.sin_addr.s_addr = htonl(0x7f000001u + c->idx % l->o.naddr);
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)))
			return -1;
	}
	dst.sin_port = htons((uint16_t)l->o.port);
	if (inet_pton(AF_INET, l->o.host, &dst.sin_addr) != 1)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) &&
	    errno != EINPROGRESS)
		return -1;
	ev.data.ptr = c;
	return epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static int send_upgrade(struct load *l, struct conn *c)
{
	unsigned char raw[16];
	uint64_t r1 = rnd(l), r2 = rnd(l);
	char req[512];
	int n;

	memcpy(raw, &r1, 8);
	memcpy(raw + 8, &r2, 8);
	base64(raw, sizeof(raw), c->key);
	n = snprintf(req, sizeof(req),
		     "GET /ws HTTP/1.1\r\n"
		     "Host: %s:%u\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n",
		     l->o.host, l->o.port, c->key);
	if (n < 0 || (size_t)n >= sizeof(req) || conn_put(c, req, (size_t)n))
		return -1;
	c->state = CS_HANDSHAKE;
	return conn_flush(l, c);
}

/* The connect() finished (first EPOLLOUT): check it, then upgrade. */
static void on_connected(struct load *l, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err ||
	    send_upgrade(l, c))
		conn_kill(l, c);
}

/*
 * Parse the 101 response: returns the header length when complete and
 * right, 0 when more bytes are needed, -1 when the server refused.
 */
static long parse_upgrade(struct conn *c)
{
	char want[64], cat[96], *end, *acc, *eol;
	unsigned char dig[20];

	if (!buf_reserve(&c->rbuf, &c->rcap, c->rlen + 1))
		c->rbuf[c->rlen] = '\0';
	else
		return -1;
	end = strstr((char *)c->rbuf, "\r\n\r\n");
	if (!end)
		return c->rlen > 8192 ? -1 : 0;
	*end = '\0';
	if (strncmp((char *)c->rbuf, "HTTP/1.1 101", 12))
		return -1;
	acc = strcasestr((char *)c->rbuf, "\r\nSec-WebSocket-Accept:");
	if (!acc)
		return -1;
	acc += strlen("\r\nSec-WebSocket-Accept:");
	while (*acc == ' ')
		acc++;
	eol = strstr(acc, "\r\n");
	if (eol)
		*eol = '\0';
	snprintf(cat, sizeof(cat), "%s%s", c->key, WS_GUID);
	sha1((unsigned char *)cat, strlen(cat), dig);
	base64(dig, sizeof(dig), want);
	if (strcmp(acc, want))
		return -1;
	return end + 4 - (char *)c->rbuf;
}

/* ---- receiving -------------------------------------------------------- */

/* The string value of "key" in a flat JSON object, copied into out. */
static int json_str(const char *js, size_t n, const char *key, char *out,
		    size_t outsz)
{
	char pat[32];
	const char *p, *e, *end = js + n;
	size_t len;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	/* a quote inside a JSON string is escaped, so the pattern is a key */
	p = memmem(js, n, pat, strlen(pat));
	if (!p)
		return -1;
	p += strlen(pat);
	while (p < end && (*p == ' ' || *p == ':'))
		p++;
	if (p >= end || *p != '"')
		return -1;
	p++;
	e = memchr(p, '"', (size_t)(end - p));
	if (!e || (len = (size_t)(e - p)) >= outsz)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* Message number from our own id "TAG-N"; -1 if it is not ours. */
static int64_t id_number(struct load *l, const char *id)
{
	size_t tl = strlen(l->tag);
	char *end;
	unsigned long long v;

	if (strncmp(id, l->tag, tl) || id[tl] != '-')
		return -1;
	errno = 0;
	v = strtoull(id + tl + 1, &end, 10);
	if (errno || *end)
		return -1;
	return (int64_t)v;
}

/* An answer or an error that belongs to one of our messages. */
static void on_reply(struct load *l, struct conn *c, int64_t n, int ok,
		     uint64_t now)
{
	uint64_t due;

	if (c->outstanding)
		c->outstanding--;
	if (ok) {
		l->answered++;
		if (l->phase == PH_MEASURE)
			l->answered_win++;
		/* open loop: the due time, whatever the generator did */
		due = l->o.rate ? l->t_start + (uint64_t)n * NS_PER_S / l->o.rate
				: c->sent_ns;
		if (due >= l->t_start && due < l->t_end)
			hist_add(&l->h, now > due ? now - due : 0);
	}
	if (!l->o.rate && l->phase == PH_MEASURE && c->state == CS_READY)
		send_message(l, c, l->next_n++, now);
}

static void on_text(struct load *l, struct conn *c, const char *js, size_t n)
{
	char type[32], id[80], code[32];
	int64_t num = -1;
	uint64_t now = now_ns();

	if (json_str(js, n, "type", type, sizeof(type))) {
		l->bad_frames++;
		return;
	}
	if (!json_str(js, n, "reply_to", id, sizeof(id)))
		num = id_number(l, id);
	if (!strcmp(type, "welcome")) {
		if (c->state != CS_WELCOME)
			return;
		c->state = CS_READY;
		l->ready++;
		if (!l->o.rate && l->phase == PH_MEASURE)
			send_message(l, c, l->next_n++, now);
	} else if (!strcmp(type, "answer")) {
		if (num < 0)
			l->bad_frames++;
		else
			on_reply(l, c, num, 1, now);
	} else if (!strcmp(type, "error")) {
		if (!l->err_frames++)	/* show the first one: why */
			fprintf(stderr, "load: first error frame: %.*s\n",
				(int)n, js);
		if (c->state == CS_WELCOME) {	/* hello refused */
			conn_kill(l, c);
			return;
		}
		if (!json_str(js, n, "code", code, sizeof(code)) &&
		    !strcmp(code, "rate_limited"))
			l->err_rate_limited++;
		if (num >= 0)
			on_reply(l, c, num, 0, now);
	}
}

/*
 * One complete server frame.  Servers never mask (RFC 6455 5.1) and
 * amtsbot never fragments its small JSON frames, so both count as errors.
 */
static void on_frame(struct load *l, struct conn *c, unsigned op, int fin,
		     const unsigned char *p, size_t n)
{
	switch (op) {
	case 1:
		if (!fin)
			l->bad_frames++;
		else
			on_text(l, c, (const char *)p, n);
		break;
	case 8:		/* close: echo it, then we are done */
		ws_put_frame(l, c, 8, p, n > 2 ? 2 : n);
		conn_flush(l, c);
		conn_kill(l, c);
		break;
	case 9:		/* ping */
		if (!ws_put_frame(l, c, 10, p, n))
			conn_flush(l, c);
		break;
	case 10:
		break;
	default:
		l->bad_frames++;
	}
}

/* Consume every complete frame in rbuf[off..rlen). */
static void parse_frames(struct load *l, struct conn *c, size_t off)
{
	while (c->state != CS_DEAD && c->rlen - off >= 2) {
		unsigned char *p = c->rbuf + off;
		size_t avail = c->rlen - off, hl = 2, n = p[1] & 0x7f;

		if (p[1] & 0x80) {	/* masked by a server: protocol error */
			l->bad_frames++;
			conn_kill(l, c);
			return;
		}
		if (n == 126) {
			if (avail < 4)
				break;
			n = (size_t)p[2] << 8 | p[3];
			hl = 4;
		} else if (n == 127) {
			if (avail < 10)
				break;
			n = 0;
			for (hl = 2; hl < 10; hl++)
				n = n << 8 | p[hl];
		}
		if (n > RBUF_MAX) {
			l->bad_frames++;
			conn_kill(l, c);
			return;
		}
		if (avail < hl + n)
			break;
		on_frame(l, c, p[0] & 0x0f, p[0] & 0x80, p + hl, n);
		off += hl + n;
	}
	if (c->state == CS_DEAD)
		return;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

static void on_readable(struct load *l, struct conn *c)
{
	static const char hello[] =
		"{\"type\":\"hello\",\"conversation\":null,\"last_seq\":0}";
	long hl;

	for (;;) {
		ssize_t n;

		if (buf_reserve(&c->rbuf, &c->rcap, c->rlen + 4096)) {
			conn_kill(l, c);
			return;
		}
		n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_kill(l, c);
			return;
		}
		c->rlen += (size_t)n;
	}
	if (c->state == CS_HANDSHAKE) {
		hl = parse_upgrade(c);
		if (hl < 0)
			conn_kill(l, c);
		if (hl <= 0)
			return;
		c->state = CS_WELCOME;
		if (ws_put_frame(l, c, 1, hello, sizeof(hello) - 1) ||
		    conn_flush(l, c))
			return;
		parse_frames(l, c, (size_t)hl);
		return;
	}
	parse_frames(l, c, 0);
}

static void on_event(struct load *l, struct conn *c, uint32_t ev)
{
	if (c->state == CS_CONNECTING) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		on_connected(l, c);
		return;
	}
	if (c->state == CS_DEAD)
		return;
	if (ev & EPOLLOUT)
		conn_flush(l, c);
	if (c->state != CS_DEAD && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
					  EPOLLERR)))
		on_readable(l, c);
}

/* ---- the run ------------------------------------------------------- */

/* Open loop: send every message that is due by now. */
static void on_timer(struct load *l)
{
	uint64_t exp, now = now_ns();

	if (read(l->tfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
		return;
	if (l->phase != PH_MEASURE)
		return;
	while (l->next_n < l->total_n &&
	       l->t_start + l->next_n * NS_PER_S / l->o.rate <= now) {
		struct conn *c = &l->c[l->next_n % l->o.conns];

		if (c->state == CS_READY)
			send_message(l, c, l->next_n, now);
		else
			l->skipped++;
		l->next_n++;
	}
}

static void start_measuring(struct load *l)
{
	struct itimerspec its = { .it_interval = { 0, 1000000 },
				  .it_value = { 0, 1000000 } };
	unsigned i;
	uint64_t now = now_ns();

	l->phase = PH_MEASURE;
	l->t_start = now;
	l->t_end = now + (uint64_t)l->o.duration * NS_PER_S;
	getrusage(RUSAGE_SELF, &l->ru_start);
	if (l->o.rate) {
		l->total_n = (uint64_t)l->o.rate * l->o.duration;
		timerfd_settime(l->tfd, 0, &its, NULL);
		return;
	}
	for (i = 0; i < l->o.conns; i++)
		if (l->c[i].state == CS_READY)
			send_message(l, &l->c[i], l->next_n++, now);
}

/* Messages sent and neither answered nor refused; 'live': open conns only */
static uint64_t outstanding(const struct load *l, int live)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < l->o.conns; i++)
		if (!live || l->c[i].state == CS_READY)
			n += l->c[i].outstanding;
	return n;
}

/* Phase changes, driven by the clock; returns the epoll timeout (ms). */
static int tick(struct load *l, uint64_t *t_ramp)
{
	uint64_t now = now_ns();
	unsigned i, live;

	switch (l->phase) {
	case PH_RAMP:
		if (l->started < l->o.conns && now >= *t_ramp) {
			for (i = 0; i < l->o.ramp && l->started < l->o.conns; i++) {
				struct conn *c = &l->c[l->started++];

				if (conn_start(l, c))
					conn_kill(l, c);
			}
			*t_ramp = now + NS_PER_S / 10;
		}
		live = l->ready + l->connect_fail + l->closed;
		if ((l->started == l->o.conns && live >= l->o.conns) ||
		    now >= *t_ramp + (uint64_t)READY_TIMEOUT_S * NS_PER_S)
			start_measuring(l);
		return 10;
	case PH_MEASURE:
		if (now < l->t_end)
			return 10;
		getrusage(RUSAGE_SELF, &l->ru_end);
		l->phase = PH_DRAIN;
		l->t_drain_end = now + (uint64_t)l->o.drain * NS_PER_S;
		return 10;
	case PH_DRAIN:
		if (now >= l->t_drain_end || !outstanding(l, 1))
			l->phase = PH_DONE;
		return 10;
	default:
		return 0;
	}
}

static void run(struct load *l)
{
	struct epoll_event evs[512];
	uint64_t t_ramp = 0;
	int i, n, timeout = 0;

	while (l->phase != PH_DONE) {
		n = epoll_wait(l->ep, evs, 512, timeout);
		for (i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				on_timer(l);
			else
				on_event(l, evs[i].data.ptr, evs[i].events);
		}
		timeout = tick(l, &t_ramp);
	}
}

/* ---- report ----------------------------------------------------------- */

static double cpu_s(const struct rusage *r)
{
	return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 +
	       (double)r->ru_stime.tv_sec + (double)r->ru_stime.tv_usec / 1e6;
}

static void report(const struct load *l)
{
	double dur = (double)l->o.duration;
	double cpu = (cpu_s(&l->ru_end) - cpu_s(&l->ru_start)) / dur * 100;
	uint64_t lost = outstanding(l, 0);
	const struct hist *h = &l->h;

	printf("mode          %s, %u connections (%u ready, %u failed), %u s\n",
	       l->o.rate ? "open loop" : "closed loop", l->o.conns, l->ready,
	       l->connect_fail, l->o.duration);
	if (l->o.rate)
		printf("target rate   %u messages/s (%" PRIu64 " due, %" PRIu64
		       " skipped: connection not ready)\n",
		       l->o.rate, l->total_n, l->skipped);
	printf("answered      %.0f messages/s (%" PRIu64 " in the window, %"
	       PRIu64 " in all, %" PRIu64 " sent)\n",
	       (double)l->answered_win / dur, l->answered_win, l->answered,
	       l->sent);
	printf("latency (ms)  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (%" PRIu64 " samples%s)\n",
	       hist_ms(h, 0.5), hist_ms(h, 0.9), hist_ms(h, 0.99),
	       hist_ms(h, 0.999), (double)h->max_ns / 1e6, h->n,
	       l->o.rate ? ", from the due time" : "");
	printf("errors        %" PRIu64 " error frames (%" PRIu64
	       " rate_limited), %u connections closed, %" PRIu64
	       " bad frames, %" PRIu64 " unanswered\n",
	       l->err_frames, l->err_rate_limited, l->closed, l->bad_frames,
	       lost);
	printf("generator     %.0f%% of one core during the window\n", cpu);
	printf("RESULT mode=%s conns=%u ready=%u connect_fail=%u duration=%u "
	       "rate=%u answered_win=%" PRIu64 " answered=%" PRIu64
	       " sent=%" PRIu64 " per_s=%.0f p50=%.2f p90=%.2f p99=%.2f "
	       "max=%.2f errors=%" PRIu64 " closed=%u bad=%" PRIu64
	       " unanswered=%" PRIu64 " gen_cpu=%.0f\n",
	       l->o.rate ? "open" : "closed", l->o.conns, l->ready,
	       l->connect_fail, l->o.duration, l->o.rate, l->answered_win,
	       l->answered, l->sent, (double)l->answered_win / dur,
	       hist_ms(h, 0.5), hist_ms(h, 0.9), hist_ms(h, 0.99),
	       (double)h->max_ns / 1e6, l->err_frames, l->closed,
	       l->bad_frames, lost, cpu);
}

/* ---- setup ------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: load [-c CONNECTIONS] [-d SECONDS] [-r RATE] [-p PORT]\n"
		"            [-H HOST] [-a ADDRESSES] [-R RAMP] [-w DRAIN]\n"
		"  -c  connections, one conversation each (default 5000)\n"
		"  -d  measuring time in seconds (default 10)\n"
		"  -r  messages per second in all; 0: closed loop (default 0)\n"
		"  -p  server port on HOST (default 8080)\n"
		"  -H  server IPv4 address (default 127.0.0.1)\n"
		"  -a  source addresses 127.0.0.1 ... 127.0.0.N (default 1)\n"
		"  -R  connections opened per 100 ms (default 500)\n"
		"  -w  seconds to wait for late answers (default 5)\n");
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v > 10000000ul)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_opts(struct opts *o, int argc, char **argv)
{
	int ch, bad = 0;

	*o = (struct opts){ .conns = 5000, .duration = 10, .port = 8080,
			    .naddr = 1, .ramp = 500, .drain = 5,
			    .host = "127.0.0.1" };
	while ((ch = getopt(argc, argv, "c:d:r:p:H:a:R:w:h")) != -1) {
		switch (ch) {
		case 'c': bad |= parse_uint(optarg, &o->conns); break;
		case 'd': bad |= parse_uint(optarg, &o->duration); break;
		case 'r': bad |= parse_uint(optarg, &o->rate); break;
		case 'p': bad |= parse_uint(optarg, &o->port); break;
		case 'H': o->host = optarg; break;
		case 'a': bad |= parse_uint(optarg, &o->naddr); break;
		case 'R': bad |= parse_uint(optarg, &o->ramp); break;
		case 'w': bad |= parse_uint(optarg, &o->drain); break;
		case 'h': usage(stdout); exit(0);
		default: bad = 1;
		}
	}
	if (bad || optind != argc || !o->conns || !o->duration || !o->ramp ||
	    !o->naddr || o->naddr > 254 || !o->port || o->port > 65535) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Each connection is a descriptor: take the hard limit. */
static int raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need + 16) {
		fprintf(stderr, "load: file limit %lu is below %u connections\n",
			(unsigned long)rl.rlim_cur, need);
		return -1;
	}
	return 0;
}

static int setup(struct load *l)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	unsigned i;

	l->rng = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
	snprintf(l->tag, sizeof(l->tag), "L%08x", (unsigned)rnd(l));
	l->c = calloc(l->o.conns, sizeof(*l->c));
	l->h.b = calloc(HIST_BUCKETS, sizeof(*l->h.b));
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!l->c || !l->h.b || l->ep < 0 || l->tfd < 0 ||
	    epoll_ctl(l->ep, EPOLL_CTL_ADD, l->tfd, &ev))
		return -1;
	for (i = 0; i < l->o.conns; i++) {
		l->c[i].fd = -1;
		l->c[i].idx = i;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct load l = { 0 };
	unsigned i;

	if (parse_opts(&l.o, argc, argv) || raise_nofile(l.o.conns))
		return 2;
	if (setup(&l)) {
		perror("load: setup");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	run(&l);
	report(&l);
	for (i = 0; i < l.o.conns; i++) {
		if (l.c[i].fd >= 0)
			close(l.c[i].fd);
		free(l.c[i].rbuf);
		free(l.c[i].wbuf);
	}
	free(l.c);
	free(l.h.b);
	close(l.tfd);
	close(l.ep);
	return l.ready ? 0 : 1;
}
