#!/usr/bin/env node
/*
 * Development stand-in for `amtsbot serve`: serves web-widget/ and speaks the citizens'
 * WebSocket protocol (docs/protocol.md) with canned answers. Same command line as the real
 * server, so the browser tests start either one the same way:
 *
 *   node mock_server.js serve --listen 127.0.0.1:8099 [--allow-origin URL] [--kb D] [--db F]
 *
 * It keeps conversations in memory: hello/resume with replay after last_seq, answers once
 * per client id, feedback, the error codes, 20 messages a minute, 2,000 characters,
 * 8 KiB frames, and a handoff with a pretend agent.
 */
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');

const WIDGET_DIR = path.resolve(__dirname, '../../web-widget');
const MAX_TEXT = 2000;
const MAX_FRAME = 8192;
const RATE_PER_MIN = 20;
const HUMAN = 'Mit einem Menschen sprechen';

const FILES = {
	'/': ['index.html', 'text/html; charset=utf-8'],
	'/index.html': ['index.html', 'text/html; charset=utf-8'],
	'/widget.js': ['widget.js', 'text/javascript; charset=utf-8'],
	'/widget.css': ['widget.css', 'text/css; charset=utf-8'],
	'/demo.css': ['demo.css', 'text/css; charset=utf-8'],
};

function parseArgs(argv) {
	const opt = { listen: '127.0.0.1:8099', allowOrigin: [] };
	for (let i = 0; i < argv.length; i++) {
		if (argv[i] === '--listen')
			opt.listen = argv[++i];
		else if (argv[i] === '--allow-origin')
			opt.allowOrigin.push(argv[++i]);
		else if (argv[i] === '--kb' || argv[i] === '--db')
			i++;	/* accepted for compatibility with the real server */
	}
	return opt;
}

/* ---- canned knowledge ------------------------------------------------------------ */

const BMG = { title: 'Rechtsgrundlage: § 17 BMG', url: 'https://www.gesetze-im-internet.de/bmg/__17.html' };
const PASSG = { title: 'Rechtsgrundlage: § 6 PassG', url: 'https://www.gesetze-im-internet.de/pa_g_1986/__6.html' };
const PAUSWG = { title: 'Rechtsgrundlage: § 9 PAuswG', url: 'https://www.gesetze-im-internet.de/pauswg/__9.html' };

const ANSWERS = [
	{
		re: /reisepass|pass\b/i, intent: 'kosten', service: 'reisepass', office: 'buergeramt',
		answer: 'Ein Reisepass kostet 70,00 Euro (ab 24 Jahren, 10 Jahre gültig).\n' +
			'Unter 24 Jahren: 37,50 Euro.\n\nBitte bringen Sie mit:\n' +
			'- Ihren bisherigen Pass oder Personalausweis\n- ein biometrisches Passfoto\n\n' +
			'Termine: https://termine.musterstadt.example/buergeramt',
		sources: [PASSG], quick: ['Welche Unterlagen brauche ich?', 'Öffnungszeiten Bürgeramt', HUMAN],
	},
	{
		re: /unterlagen|mitbringen/i, intent: 'unterlagen', service: 'reisepass', office: 'buergeramt',
		answer: 'Für den Reisepass brauchen Sie:\n- Ihren bisherigen Pass oder Personalausweis\n' +
			'- ein aktuelles biometrisches Passfoto\n- bei Namensänderung die Urkunde',
		sources: [PASSG], quick: ['Was kostet ein Reisepass?', 'Öffnungszeiten Bürgeramt'],
	},
	{
		re: /öffnungszeit|geöffnet|offen|oeffnungszeit/i, intent: 'oeffnungszeiten', service: null, office: 'buergeramt',
		answer: 'Das Bürgeramt (Rathausplatz 1) hat geöffnet:\n- Mo, Di, Fr: 08:00–12:00 Uhr\n' +
			'- Do: 08:00–12:00 und 14:00–18:00 Uhr\nTelefon: 0123 456-100, E-Mail: buergeramt@musterstadt.example',
		sources: [{ title: 'Bürgeramt Musterstadt', url: 'https://www.musterstadt.example/buergeramt' }],
		quick: ['Termin vereinbaren', 'Was kostet ein Reisepass?'],
	},
	{
		re: /personalausweis|perso\b|ausweis/i, intent: 'beantragen', service: 'personalausweis', office: 'buergeramt',
		answer: 'Den Personalausweis beantragen Sie persönlich im Bürgeramt. Er kostet 37,00 Euro.',
		sources: [PAUSWG], quick: ['Öffnungszeiten Bürgeramt'],
	},
	{
		re: /ummelden|anmelden|umzug|wohnung/i, intent: 'anmelden', service: 'anmeldung', office: 'buergeramt',
		answer: 'Nach dem Umzug melden Sie sich innerhalb von zwei Wochen im Bürgeramt an. Die Anmeldung ist kostenlos.',
		sources: [BMG], quick: ['Öffnungszeiten Bürgeramt'],
	},
	{
		re: /sperrmüll|sperrmuell/i, intent: 'anmelden', service: 'sperrmuell', office: 'abfall',
		answer: 'Sperrmüll melden Sie online unter https://www.musterstadt.example/sperrmuell an. ' +
			'Zweimal im Jahr ist die Abholung kostenlos.',
		sources: [], quick: ['Wann ist der Wertstoffhof geöffnet?'],
	},
	{
		re: /termin/i, intent: 'termin', service: null, office: 'buergeramt',
		answer: 'Termine im Bürgeramt buchen Sie online: https://termine.musterstadt.example/buergeramt',
		sources: [], quick: ['Öffnungszeiten Bürgeramt'],
	},
];

const FALLBACK = 'Das weiß ich leider nicht. Formulieren Sie die Frage bitte anders, oder sprechen ' +
	'Sie mit einer Mitarbeiterin oder einem Mitarbeiter.';

/* ---- conversations ------------------------------------------------------------------ */

const conversations = new Map();

function conversation(id) {
	if (id && conversations.has(id))
		return conversations.get(id);
	const c = { id: crypto.randomUUID(), seq: 0, frames: [], answers: new Map(), sockets: new Set() };
	conversations.set(c.id, c);
	return c;
}

function redact(text) {
	return text
		.replace(/\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,4})?\b/g, '[IBAN entfernt]')
		.replace(/[\w.+-]+@[\w-]+(\.[\w-]+)+/g, '[E-Mail entfernt]')
		.replace(/\b\d{1,2}\.\d{1,2}\.\d{2,4}\b/g, '[Datum entfernt]')
		.replace(/\d{5,}/g, '[Zahl entfernt]');
}

/* Stores a frame with the next seq and sends it to every socket of the conversation. */
function emit(c, frame) {
	frame.seq = ++c.seq;
	c.frames.push(frame);
	const data = JSON.stringify(frame);
	for (const ws of c.sockets)
		ws.send(data);
	return frame;
}

function answerFor(text, id) {
	const personal = /\bDE\d{2}\s?\d{4}|steuer-?id|geboren am|aktenzeichen/i.test(text);
	if (personal) {
		return base(id, 'datenschutz', null, null, 0.9,
			'Bitte schreiben Sie keine persönlichen Daten in den Chat. Für Ihr konkretes Anliegen ' +
			'verbinde ich Sie gern mit einer Mitarbeiterin oder einem Mitarbeiter.',
			[], true, 'personal_data', [HUMAN]);
	}
	if (text.trim().toLowerCase() === HUMAN.toLowerCase()) {
		return base(id, 'mensch', null, null, 1, 'Ich gebe Sie an eine Kollegin oder einen Kollegen weiter.',
			[], true, 'requested', []);
	}
	for (const a of ANSWERS) {
		if (a.re.test(text))
			return base(id, a.intent, a.service, a.office, 0.87, a.answer, a.sources, false, null, a.quick);
	}
	const f = base(id, 'fallback', null, null, 0.2, FALLBACK, [], true, 'fallback', [HUMAN]);
	f.alternatives = [{ intent: 'kosten', service: 'reisepass', label: 'Was kostet ein Reisepass?', confidence: 0.31 }];
	return f;
}

function base(id, intent, service, office, confidence, answer, sources, handoff, reason, quick) {
	return {
		type: 'answer', reply_to: id, intent, service, office, confidence, answer,
		sources, handoff, handoff_reason: reason, alternatives: [], quick_replies: quick,
	};
}

function pretendAgent(c) {
	emit(c, { type: 'handoff', state: 'queued', position: 1 });
	setTimeout(() => {
		emit(c, { type: 'handoff', state: 'active', position: 0 });
		emit(c, { type: 'agent', name: 'Frau Beispiel (Bürgeramt)',
			text: 'Guten Tag, hier ist Frau Beispiel vom Bürgeramt. Wie kann ich Ihnen helfen?' });
	}, 800);
}

/* ---- protocol ------------------------------------------------------------------------ */

function error(ws, code, message) {
	ws.send(JSON.stringify({ type: 'error', code, message }));
}

function onMessage(s, ws, f) {
	if (typeof f.text !== 'string' || f.text.trim() === '')
		return error(ws, 'missing_text', 'Bitte geben Sie eine Frage ein.');
	if ([...f.text].length > MAX_TEXT)
		return error(ws, 'too_long', 'Ihre Nachricht ist zu lang (höchstens 2.000 Zeichen).');
	const now = Date.now();
	s.times = s.times.filter((t) => now - t < 60000);
	if (s.times.length >= RATE_PER_MIN)
		return error(ws, 'rate_limited', 'Sie haben sehr viele Nachrichten geschickt. Bitte warten Sie einen Moment.');
	s.times.push(now);
	const c = s.conv || attach(s, ws, null);
	const id = typeof f.id === 'string' && f.id ? f.id.slice(0, 64) : crypto.randomUUID();
	if (c.answers.has(id)) {	/* re-sent after a reconnect: answer once */
		ws.send(JSON.stringify(c.answers.get(id)));
		return;
	}
	emit(c, { type: 'message', from: 'citizen', text: redact(f.text), id });
	const ans = emit(c, answerFor(f.text, id));
	c.answers.set(id, ans);
	if (ans.handoff_reason === 'requested')
		pretendAgent(c);
}

function attach(s, ws, id) {
	if (s.conv)
		s.conv.sockets.delete(ws);
	s.conv = conversation(id);
	s.conv.sockets.add(ws);
	return s.conv;
}

function onFrame(s, ws, data, isBinary) {
	if (isBinary)
		return error(ws, 'bad_json', 'Nur Textnachrichten im JSON-Format sind erlaubt.');
	const text = data.toString('utf8');
	if (Buffer.compare(Buffer.from(text, 'utf8'), data) !== 0)
		return error(ws, 'bad_utf8', 'Die Nachricht ist kein gültiges UTF-8.');
	let f;
	try {
		f = JSON.parse(text);
	} catch (e) {
		return error(ws, 'bad_json', 'Die Nachricht ist kein gültiges JSON.');
	}
	if (!f || typeof f !== 'object' || Array.isArray(f))
		return error(ws, 'bad_json', 'Die Nachricht muss ein JSON-Objekt sein.');
	if (f.type === 'hello') {
		const c = attach(s, ws, typeof f.conversation === 'string' ? f.conversation : null);
		const last = Number.isInteger(f.last_seq) && f.last_seq >= 0 ? f.last_seq : 0;
		ws.send(JSON.stringify({ type: 'welcome', conversation: c.id, seq: c.seq }));
		for (const fr of c.frames) {
			if (fr.seq > last)
				ws.send(JSON.stringify(fr));
		}
		return;
	}
	if (f.type === 'message')
		return onMessage(s, ws, f);
	if (f.type === 'feedback') {
		const fr = s.conv && s.conv.frames.find((x) => x.seq === f.seq && x.type === 'answer');
		if (!fr || typeof f.helpful !== 'boolean')
			return error(ws, 'bad_seq', 'Zu dieser Nachricht kann keine Rückmeldung gegeben werden.');
		fr.feedback = f.helpful;
		ws.send(JSON.stringify({ type: 'ok' }));
		return;
	}
	error(ws, 'unknown_type', 'Unbekannter Nachrichtentyp.');
}

/* ---- HTTP ------------------------------------------------------------------------------ */

/* The strict policy a deployment should send: nothing inline, nothing foreign. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

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
	fs.readFile(path.join(WIDGET_DIR, f[0]), (err, body) => {
		if (err) {
			res.writeHead(500);
			res.end();
			return;
		}
		res.writeHead(200, {
			'Content-Type': f[1], 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff',
			'Content-Security-Policy': CSP,
		});
		res.end(req.method === 'HEAD' ? undefined : body);
	});
}

function main() {
	const opt = parseArgs(process.argv.slice(2));
	const [host, port] = opt.listen.split(':');
	const server = http.createServer(serveFile);
	const wss = new WebSocketServer({
		noServer: true, maxPayload: MAX_FRAME,
	});
	server.on('upgrade', (req, socket, head) => {
		const url = new URL(req.url, 'http://localhost');
		const origin = req.headers.origin;
		const self = `http://${req.headers.host}`;
		const allowed = opt.allowOrigin.length ? opt.allowOrigin : [self];
		if (url.pathname !== '/ws' || !origin || !allowed.includes(origin)) {
			socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
			return;
		}
		wss.handleUpgrade(req, socket, head, (ws) => {
			const s = { conv: null, times: [] };
			ws.on('message', (data, isBinary) => onFrame(s, ws, data, isBinary));
			ws.on('close', () => s.conv && s.conv.sockets.delete(ws));
		});
	});
	server.listen(Number(port), host, () => {
		console.log(`mock amtsbot listening on http://${host}:${port}/`);
	});
	const stop = () => process.exit(0);	/* open sockets would keep close() waiting */
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

main();
