#!/usr/bin/env node
/*
 * Development stand-in for `amtsbot serve` with the human handoff (issue 4): serves
 * web-widget/ (demo page, widget, agent console at /agent), speaks the agents' protocol on
 * /agent/ws as docs/protocol.md ("Agents") describes it, and enough of the citizens'
 * protocol on /ws to queue a conversation and chat. Same command line as the real server:
 *
 *   node mock_agent_server.js serve --listen 127.0.0.1:8099 [--allow-origin URL] --db FILE
 *   node mock_agent_server.js agent add NAME [--team TEAM] --db FILE   (token on the last line)
 *
 * The "database" is a JSON file of agents (name, team, SHA-256 of the token); everything
 * else lives in memory. Not a reference implementation: it plays the happy paths, claim
 * conflicts, bad tokens and the echo of messages and notes.
 */
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');

const WEB_DIR = path.resolve(__dirname, '../../web-widget');
const MAX_TEXT = 2000;
const MAX_FRAME = 8192;
const HUMAN = /mit einem menschen sprechen|möchte mit einem menschen/i;
const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,4})?\b/;

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const FILES = {
	'/': ['index.html', HTML], '/index.html': ['index.html', HTML],
	'/widget.js': ['widget.js', JS], '/widget.css': ['widget.css', CSS], '/demo.css': ['demo.css', CSS],
	'/agent': ['agent.html', HTML], '/agent.html': ['agent.html', HTML],
	'/agent.js': ['agent.js', JS], '/agent.css': ['agent.css', CSS],
};
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

function parseArgs(argv) {
	const opt = { cmd: argv[0], sub: null, listen: '127.0.0.1:8099', allowOrigin: [], db: null,
		team: 'buergerservice', rest: [] };
	for (let i = 1; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--listen')
			opt.listen = argv[++i];
		else if (a === '--allow-origin')
			opt.allowOrigin.push(argv[++i]);
		else if (a === '--db')
			opt.db = argv[++i];
		else if (a === '--team')
			opt.team = argv[++i];
		else if (a === '--kb' || a === '--role')
			i++;
		else
			opt.rest.push(a);
	}
	return opt;
}

/* ---- agents' "database" ---------------------------------------------------------------- */

function sha256(s) {
	return crypto.createHash('sha256').update(s).digest();
}

function loadAgents(db) {
	try {
		return JSON.parse(fs.readFileSync(db, 'utf8')).agents || [];
	} catch (e) {
		return [];
	}
}

function agentAdd(opt) {
	const [verb, name] = opt.rest;
	if (verb !== 'add' || !name || !opt.db) {
		console.error('usage: mock_agent_server.js agent add NAME [--team TEAM] --db FILE');
		process.exit(2);
	}
	const agents = loadAgents(opt.db).filter((a) => a.name !== name);
	const token = crypto.randomBytes(32).toString('hex');
	agents.push({ name, team: opt.team, hash: sha256(token).toString('hex') });
	fs.writeFileSync(opt.db, JSON.stringify({ agents }));
	console.log(`agent '${name}' added to team '${opt.team}'. The token is shown only once:`);
	console.log(token);
}

function findAgent(db, token) {
	const h = sha256(String(token));
	let found = null;
	for (const a of loadAgents(db)) {	/* no early exit, like the server */
		if (crypto.timingSafeEqual(h, Buffer.from(a.hash, 'hex')) && !found)
			found = a;
	}
	return found;
}

/* ---- conversations and the queue ----------------------------------------------------------- */

const conversations = new Map();	/* id -> {id, seq, events, sockets, handoff} */
const agents = new Set();		/* authenticated agent sessions {ws, agent} */

function conversation(id) {
	if (id && conversations.has(id))
		return conversations.get(id);
	const c = { id: crypto.randomBytes(16).toString('hex'), seq: 0, events: [], sockets: new Set(),
		handoff: null, answered: new Map() };
	conversations.set(c.id, c);
	return c;
}

function redact(text) {
	return text.replace(new RegExp(IBAN.source, 'g'), '[IBAN]')
		.replace(/[\w.+-]+@[\w-]+(\.[\w-]+)+/g, '[E-Mail]');
}

/* stores a citizen-side frame with the next seq and sends it to the citizen's sockets */
function emit(c, frame) {
	frame.seq = ++c.seq;
	c.events.push(frame);
	const data = JSON.stringify(frame);
	for (const ws of c.sockets)
		ws.send(data);
	return frame;
}

function transcript(c) {
	return c.events.slice(-50).map((e) => {
		if (e.type === 'message')
			return { seq: e.seq, from: 'citizen', text: e.text };
		if (e.type === 'answer')
			return { seq: e.seq, from: 'bot', text: e.answer };
		if (e.type === 'agent')
			return { seq: e.seq, from: 'agent', name: e.name, text: e.text };
		return { seq: e.seq, from: 'system', text: e.text || `Übergabe: ${e.state}` };
	});
}

function queueItems() {
	const now = Date.now();
	return [...conversations.values()].filter((c) => c.handoff)
		.sort((a, b) => a.handoff.since - b.handoff.since)
		.map((c) => ({
			conversation: c.id, channel: 'web', reason: c.handoff.reason, team: 'buergerservice',
			waiting_s: Math.floor((now - c.handoff.since) / 1000),
			state: c.handoff.agent ? 'active' : 'queued', agent: c.handoff.agent ? c.handoff.agent.name : null,
			has_contact: false, on_duty: true, transcript: transcript(c),
		}));
}

function pushQueue() {
	const frame = JSON.stringify({ type: 'queue', items: queueItems() });
	for (const s of agents)
		s.ws.send(frame);
}

function startHandoff(c, reason) {
	if (c.handoff)
		return;
	c.handoff = { reason, since: Date.now(), agent: null, session: null };
	const position = queueItems().filter((i) => i.state === 'queued').length;
	emit(c, { type: 'handoff', state: 'queued', position,
		text: `Eine Mitarbeiterin oder ein Mitarbeiter antwortet Ihnen gleich hier im Chat. Sie sind an Position ${position}.` });
	pushQueue();
}

/* ---- citizens: /ws --------------------------------------------------------------------------- */

function answer(c, id, text) {
	let reason = null;
	let reply = 'Das weiß ich leider nicht. Möchten Sie mit einem Menschen sprechen?';
	if (IBAN.test(text)) {
		reason = 'personal_data';
		reply = 'Ihre Nachricht enthält persönliche Daten. Ich verbinde Sie mit einer Mitarbeiterin oder einem Mitarbeiter.';
	} else if (HUMAN.test(text)) {
		reason = 'requested';
		reply = 'Ich verbinde Sie mit einer Mitarbeiterin oder einem Mitarbeiter.';
	} else if (/reisepass/i.test(text)) {
		reply = 'Ein Reisepass kostet 70,00 Euro (ab 24 Jahren).';
	}
	const a = emit(c, { type: 'answer', reply_to: id, intent: reason ? 'mensch' : 'kosten', service: null,
		office: null, confidence: 0.9, answer: reply, sources: [], handoff: !!reason,
		handoff_reason: reason, alternatives: [], quick_replies: [] });
	c.answered.set(id, a);
	if (reason)
		startHandoff(c, reason);
}

function citizenFrame(s, ws, f) {
	if (f.type === 'hello') {
		if (s.conv)
			s.conv.sockets.delete(ws);
		s.conv = conversation(typeof f.conversation === 'string' ? f.conversation : null);
		s.conv.sockets.add(ws);
		const last = Number.isInteger(f.last_seq) ? f.last_seq : 0;
		ws.send(JSON.stringify({ type: 'welcome', conversation: s.conv.id, seq: s.conv.seq }));
		for (const e of s.conv.events) {
			if (e.seq > last)
				ws.send(JSON.stringify(e));
		}
		return;
	}
	if (f.type !== 'message')
		return ws.send(JSON.stringify({ type: 'error', code: 'unknown_type', message: 'Unbekannter Nachrichtentyp.' }));
	if (typeof f.text !== 'string' || !f.text.trim())
		return ws.send(JSON.stringify({ type: 'error', code: 'missing_text', message: 'Bitte geben Sie eine Frage ein.' }));
	if (!s.conv) {
		s.conv = conversation(null);
		s.conv.sockets.add(ws);
	}
	const c = s.conv;
	const id = typeof f.id === 'string' && f.id ? f.id.slice(0, 64) : crypto.randomUUID();
	if (c.answered.has(id))
		return ws.send(JSON.stringify(c.answered.get(id)));
	const stored = emit(c, { type: 'message', from: 'citizen', id, text: redact(f.text) });
	if (!c.handoff)
		return answer(c, id, f.text);
	/* during a handoff the bot is silent: the stored message settles the widget's outbox */
	c.answered.set(id, stored);
	const h = c.handoff;
	if (h.session)
		h.session.ws.send(JSON.stringify({ type: 'message', conversation: c.id, from: 'citizen',
			seq: stored.seq, text: f.text }));
	else
		pushQueue();
}

/* ---- agents: /agent/ws ---------------------------------------------------------------------- */

function agentError(ws, code, message, conv) {
	const f = { type: 'error', code, message };
	if (conv)
		f.conversation = conv;
	ws.send(JSON.stringify(f));
}

function claimed(c) {
	return { type: 'claimed', conversation: c.id, reason: c.handoff.reason, team: 'buergerservice',
		channel: 'web', contact: null, transcript: transcript(c),
		suggestion: 'Guten Tag, vielen Dank für Ihre Nachricht. Ich kümmere mich um Ihr Anliegen.' };
}

function agentAuth(opt, s, ws, f) {
	if (s.agent)
		return agentError(ws, 'already_authenticated', 'Sie sind bereits angemeldet.');
	const now = Date.now();
	s.failures = s.failures.filter((t) => now - t < 60000);
	if (s.failures.length >= 5) {
		agentError(ws, 'too_many_attempts', 'Zu viele fehlgeschlagene Anmeldungen. Bitte warten Sie eine Minute.');
		ws.close(1008);
		return;
	}
	const a = typeof f.token === 'string' ? findAgent(opt.db, f.token) : null;
	if (!a) {
		s.failures.push(now);
		return agentError(ws, 'bad_token', 'Der Zugangscode ist ungültig.');
	}
	s.agent = a;
	agents.add(s);
	ws.send(JSON.stringify({ type: 'auth_ok', name: a.name, team: a.team, role: 'agent' }));
	ws.send(JSON.stringify({ type: 'queue', items: queueItems() }));
	for (const c of conversations.values()) {
		if (c.handoff && c.handoff.agent && c.handoff.agent.name === a.name) {
			c.handoff.session = s;
			ws.send(JSON.stringify(claimed(c)));
		}
	}
}

function agentFrame(opt, s, ws, f) {
	if (f.type === 'auth')
		return agentAuth(opt, s, ws, f);
	if (!s.agent)
		return agentError(ws, 'auth_required', 'Bitte melden Sie sich zuerst an.');
	if (!['claim', 'message', 'note', 'release', 'close'].includes(f.type))
		return agentError(ws, 'unknown_type', 'Unbekannter Nachrichtentyp.');
	if (typeof f.conversation !== 'string')
		return agentError(ws, 'missing_conversation', 'Es fehlt die Angabe des Gesprächs.');
	const c = conversations.get(f.conversation);
	if (!c || !c.handoff)
		return agentError(ws, 'not_found', 'Dieses Gespräch wartet nicht (mehr) auf eine Mitarbeiterin oder einen Mitarbeiter.', f.conversation);
	const h = c.handoff;
	const mine = h.agent && h.agent.name === s.agent.name;
	if (f.type === 'claim') {
		if (h.agent && !mine)
			return agentError(ws, 'already_claimed', `Dieses Gespräch hat bereits ${h.agent.name} übernommen.`, c.id);
		h.agent = s.agent;
		h.session = s;
		ws.send(JSON.stringify(claimed(c)));
		emit(c, { type: 'handoff', state: 'active' });
		pushQueue();
		return;
	}
	if (f.type !== 'note' && !mine)
		return agentError(ws, 'not_claimed', 'Sie bearbeiten dieses Gespräch nicht.', c.id);
	if (f.type === 'message' || f.type === 'note') {
		if (typeof f.text !== 'string' || !f.text.trim())
			return agentError(ws, 'missing_text', 'Bitte geben Sie einen Text ein.', c.id);
		if ([...f.text].length > MAX_TEXT)
			return agentError(ws, 'too_long', 'Der Text ist zu lang (höchstens 2.000 Zeichen).', c.id);
		if (f.type === 'note') {
			ws.send(JSON.stringify({ type: 'note', conversation: c.id, name: s.agent.name, text: f.text }));
			return;
		}
		const e = emit(c, { type: 'agent', name: s.agent.name, text: redact(f.text) });
		ws.send(JSON.stringify({ type: 'message', conversation: c.id, from: 'agent', name: s.agent.name,
			seq: e.seq, text: f.text }));
		return;
	}
	c.handoff = null;
	emit(c, { type: 'handoff', state: 'ended', text: f.type === 'release' ?
		'Die Mitarbeiterin oder der Mitarbeiter hat das Gespräch beendet. Der Bot beantwortet wieder Ihre Fragen.' :
		'Ihr Anliegen ist abgeschlossen. Vielen Dank!' });
	ws.send(JSON.stringify({ type: 'ended', conversation: c.id, outcome: f.type === 'release' ? 'released' : 'closed' }));
	pushQueue();
}

/* ---- HTTP and upgrades ------------------------------------------------------------------------ */

function serveFile(req, res) {
	const url = new URL(req.url, 'http://localhost');
	if (url.pathname === '/healthz') {
		res.writeHead(200, { 'Content-Type': 'text/plain' });
		res.end('ok\n');
		return;
	}
	const f = FILES[url.pathname];
	if (!f || (req.method !== 'GET' && req.method !== 'HEAD')) {
		res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
		res.end('Nicht gefunden\n');
		return;
	}
	fs.readFile(path.join(WEB_DIR, f[0]), (err, body) => {
		if (err) {
			res.writeHead(500);
			res.end();
			return;
		}
		res.writeHead(200, { 'Content-Type': f[1], 'Cache-Control': 'no-cache',
			'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': CSP });
		res.end(req.method === 'HEAD' ? undefined : body);
	});
}

function onFrame(handler, ws, data, isBinary) {
	if (isBinary)
		return agentError(ws, 'bad_json', 'Nur Textnachrichten im JSON-Format sind erlaubt.');
	let f;
	try {
		f = JSON.parse(data.toString('utf8'));
	} catch (e) {
		return agentError(ws, 'bad_json', 'Die Nachricht ist kein gültiges JSON.');
	}
	if (!f || typeof f !== 'object' || Array.isArray(f))
		return agentError(ws, 'bad_json', 'Die Nachricht muss ein JSON-Objekt sein.');
	handler(f);
}

function serve(opt) {
	if (!opt.db) {
		console.error('serve: --db FILE is required');
		process.exit(2);
	}
	const [host, port] = opt.listen.split(':');
	const server = http.createServer(serveFile);
	const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
	server.on('upgrade', (req, socket, head) => {
		const url = new URL(req.url, 'http://localhost');
		const origin = req.headers.origin;
		const allowed = opt.allowOrigin.length ? opt.allowOrigin : [`http://${req.headers.host}`];
		if ((url.pathname !== '/ws' && url.pathname !== '/agent/ws') || !origin || !allowed.includes(origin)) {
			socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
			return;
		}
		wss.handleUpgrade(req, socket, head, (ws) => {
			if (url.pathname === '/ws') {
				const s = { conv: null };
				ws.on('message', (d, b) => onFrame((f) => citizenFrame(s, ws, f), ws, d, b));
				ws.on('close', () => s.conv && s.conv.sockets.delete(ws));
				return;
			}
			const s = { ws, agent: null, failures: [] };
			ws.on('message', (d, b) => onFrame((f) => agentFrame(opt, s, ws, f), ws, d, b));
			ws.on('close', () => {
				agents.delete(s);
				for (const c of conversations.values()) {
					if (c.handoff && c.handoff.session === s)
						c.handoff.session = null;	/* held through the grace period */
				}
			});
		});
	});
	server.listen(Number(port), host, () => console.log(`mock amtsbot (agents) on http://${host}:${port}/`));
	const stop = () => process.exit(0);
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

function main() {
	const opt = parseArgs(process.argv.slice(2));
	if (opt.cmd === 'agent')
		return agentAdd(opt);
	if (opt.cmd === 'serve')
		return serve(opt);
	console.error('usage: mock_agent_server.js serve|agent add ...');
	process.exit(2);
}

main();
