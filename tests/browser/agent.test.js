/*
 * Browser tests of the agent console (/agent) next to the citizens' widget, in headless
 * Chromium (Debian's /usr/bin/chromium):
 *
 *   cd tests/browser && npm install && node --test agent.test.js
 *
 * Starts `amtsbot serve` (env AMTSBOT_BIN, default ../../amtsbot) on a free port with the
 * repository's knowledge base and a fresh database holding two agents made with
 * `amtsbot agent add`, or with AMTSBOT_MOCK=1 the Node stand-in mock_agent_server.js.
 * A citizen writes in the widget, the agent claims, both chat, the agent notes and hands
 * back, the bot answers again. Screenshot: tests/browser/artifacts/agent-console.png.
 */
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');

const { REPO, ARTIFACTS, AXE_TAGS, freePort, spawnServer, waitHealthy, stopServer, launchBrowser } =
	require('./helpers.js');
const MOCK = process.env.AMTSBOT_MOCK === '1';
const IBAN = 'DE89 3704 0044 0532 0130 00';
const WIDGET_ANSWERS = '.amtsbot-msg--bot[data-seq]';

let server;
let base;
let browser;
let tmp;
let db;
let consolePath = '/agent';	/* falls back to /agent.html while the server lacks the alias */
const tokens = {};

/* the real binary, or node running the mock, with the same arguments */
function command(args) {
	if (MOCK)
		return [process.execPath, [path.join(__dirname, 'mock_agent_server.js'), ...args]];
	const bin = process.env.AMTSBOT_BIN ? path.resolve(process.env.AMTSBOT_BIN) : path.join(REPO, 'amtsbot');
	if (!fs.existsSync(bin))
		throw new Error(`${bin} not found: run 'make' first, or set AMTSBOT_MOCK=1 for the mock`);
	return [bin, args];
}

/* `amtsbot agent add NAME --team T --db F`: the token is alone on the last line */
function addAgent(name) {
	const [cmd, args] = command(['agent', 'add', name, '--team', 'buergerservice', '--db', db]);
	const out = execFileSync(cmd, args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
	const lines = out.split('\n').map((l) => l.trim()).filter((l) => l);
	const token = lines[lines.length - 1];
	assert.match(token || '', /^[0-9a-f]{32,}$/i, `no token on the last line of 'agent add':\n${out}`);
	return token;
}

async function startServer() {
	const port = await freePort();
	base = `http://127.0.0.1:${port}`;
	const [cmd, args] = command(['serve', '--listen', `127.0.0.1:${port}`, '--kb', path.join(REPO, 'intents'),
		'--db', db, '--allow-origin', base]);
	server = spawnServer(cmd, args);
	await waitHealthy(server, `${base}/healthz`, 15000);
}

before(async () => {
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amtsbot-agent-'));
	db = path.join(tmp, 't.db');
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	tokens.mueller = addAgent('mueller');
	tokens.schmidt = addAgent('schmidt');
	await startServer();
	browser = await launchBrowser();
});

after(async () => {
	if (browser)
		await browser.close();
	await stopServer(server);
	if (tmp)
		fs.rmSync(tmp, { recursive: true, force: true });
});

/* ---- helpers ---------------------------------------------------------------------------- */

/* axe: true bypasses the page's CSP so axe can be injected; the other pages run under it */
async function newPage(url, options = {}, axe = false) {
	const context = await browser.newContext({ bypassCSP: axe, locale: 'de-DE', ...options });
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	page.on('console', (m) => {
		if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()))
			errors.push(m.text());
	});
	await page.goto(`${base}${url}`);
	return { context, page, errors };
}

async function axeViolations(page) {
	await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
	return page.evaluate(async (tags) => {
		/* global axe */
		const r = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
		return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} -> ` +
			v.nodes.map((n) => n.target.join(' ')).join(', '));
	}, AXE_TAGS);
}

/* Tab from the top of the page to the token field, type the token, Enter */
async function loginByKeyboard(page, token) {
	await page.locator('#ag-token').waitFor({ state: 'visible' });
	await page.evaluate(() => document.activeElement && document.activeElement.blur());
	let reached = false;
	for (let i = 0; i < 20 && !reached; i++) {
		await page.keyboard.press('Tab');
		reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'ag-token');
	}
	assert.ok(reached, 'Tab never reached the token field');
	await page.keyboard.type(token);
	await page.keyboard.press('Enter');
}

async function login(page, token) {
	await loginByKeyboard(page, token);
	await page.locator('#ag-console').waitFor({ state: 'visible', timeout: 10000 });
}

function item(page, conversation) {
	return page.locator(`#ag-queue-list > li[data-conversation="${conversation}"]`);
}

/* a citizen as a plain WebSocket client on /ws */
function citizenSocket() {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`, { headers: { Origin: base } });
		const frames = [];
		ws.on('message', (d) => frames.push(JSON.parse(String(d))));
		ws.on('error', reject);
		ws.on('open', () => {
			ws.send(JSON.stringify({ type: 'hello', conversation: null, last_seq: 0 }));
			resolve({ ws, frames });
		});
	});
}

async function waitFor(fn, ms, what) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		const v = fn();
		if (v)
			return v;
		await new Promise((r) => setTimeout(r, 50));
	}
	throw new Error(`timed out waiting for ${what}`);
}

/* the widget: open, write, wait for the server to take the message */
async function citizenWrites(page, text) {
	const before = await page.locator('.amtsbot-msg--citizen').count();
	await page.locator('#amtsbot-input').fill(text);
	await page.locator('#amtsbot-input').press('Enter');
	await page.waitForFunction((n) => {
		const all = document.querySelectorAll('.amtsbot-msg--citizen');
		return all.length > n && !all[all.length - 1].classList.contains('amtsbot-msg--queued');
	}, before, { timeout: 10000 });
}

/* ---- one story, in order ------------------------------------------------------------------- */

test('the console is served at /agent under a strict Content-Security-Policy', { timeout: 10000 }, async () => {
	const alt = await fetch(`${base}/agent.html`);
	const r = await fetch(`${base}/agent`);
	if (!r.ok && alt.ok)
		consolePath = '/agent.html';	/* the other tests still run; this one reports the gap */
	assert.equal(r.status, 200, 'GET /agent');
	assert.match(r.headers.get('content-type') || '', /^text\/html/);
	const csp = r.headers.get('content-security-policy') || '';
	assert.match(csp, /script-src 'self'/);
	assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
	const html = await r.text();
	assert.doesNotMatch(html, /<script>|<style|\sstyle=|\son[a-z]+=/i, 'nothing inline');
});

let agentA;	/* mueller: claims, chats, hands back */
let agentB;	/* schmidt: sees who holds what, races for a claim */
let citizen;	/* the widget page */
let citizenConv;
let wsCitizen;	/* a second citizen, over a bare socket */
let wsConv;

test('a wrong token shows an error and nothing of the queue', { timeout: 30000 }, async () => {
	const { page, context, errors } = await newPage(consolePath, {}, true);
	await loginByKeyboard(page, 'f'.repeat(64));
	const err = page.locator('#ag-login-error');
	await err.getByText('Anmeldung fehlgeschlagen').waitFor({ timeout: 10000 });
	assert.equal(await err.getAttribute('role'), 'alert');
	assert.equal(await page.locator('#ag-console').isVisible(), false);
	assert.equal(await page.locator('#ag-queue-list > li').count(), 0);
	assert.equal(await page.locator('#ag-session').isVisible(), false);
	assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept');
	assert.equal(await page.evaluate(() => document.activeElement.id), 'ag-token');
	const v = await axeViolations(page);
	assert.deepEqual(v, [], v.join('\n'));
	assert.deepEqual(errors, []);
	await context.close();
});

test('an agent logs in by keyboard; the token is kept only in sessionStorage', { timeout: 30000 }, async () => {
	agentA = await newPage(consolePath, { viewport: { width: 1366, height: 900 } }, true);
	const { page } = agentA;
	assert.equal(await page.locator('html').getAttribute('lang'), 'de');
	assert.equal(await page.getByLabel('Zugangscode').getAttribute('type'), 'password');
	await login(page, tokens.mueller);
	assert.equal(await page.locator('#ag-name').innerText(), 'mueller');
	assert.match(await page.locator('#ag-conn').innerText(), /Verbunden/);
	assert.equal(await page.locator('#ag-login').isVisible(), false);
	const stored = await page.evaluate(() => JSON.stringify(sessionStorage));
	assert.ok(stored.includes(tokens.mueller), 'token in sessionStorage');
	assert.equal(await page.evaluate(() => localStorage.length), 0, 'no localStorage');
	assert.equal(await page.evaluate(() => document.cookie), '', 'no cookies');
	assert.equal(await page.locator('#ag-token').inputValue(), '', 'the field does not keep the token');
	for (const landmark of ['banner', 'main'])
		assert.equal(await page.getByRole(landmark).count(), 1, `one ${landmark} landmark`);
	await page.locator('#ag-queue-empty').waitFor({ state: 'visible' });

	agentB = await newPage(consolePath, { viewport: { width: 1280, height: 800 } });
	await login(agentB.page, tokens.schmidt);
});

test('citizens asking for a person appear in the queue, live, with reason and waiting time', { timeout: 45000 }, async () => {
	citizen = await newPage('/', { viewport: { width: 1280, height: 800 } });
	const { page } = citizen;
	await page.locator('.amtsbot-launcher').click();
	await page.locator('#amtsbot-panel').waitFor({ state: 'visible' });
	await citizenWrites(page, `Meine IBAN ist ${IBAN}, wann wird mein Geld überwiesen?`);
	await page.locator('.amtsbot-msg--handoff').first().waitFor({ timeout: 10000 });
	citizenConv = await page.evaluate(() => JSON.parse(sessionStorage.getItem('amtsbot.v1')).conversation);
	assert.ok(citizenConv);
	/* while waiting the bot is silent; this question gives the agent a suggested answer */
	await citizenWrites(page, 'Was kostet ein Reisepass?');

	const a = agentA.page;
	const mine = item(a, citizenConv);
	await mine.waitFor({ timeout: 10000 });
	assert.equal(await mine.locator('h3').innerText(), 'Persönliche Daten');
	assert.match(await mine.locator('.ag-badge').innerText(), /Web/);
	const wait1 = await mine.locator('.ag-wait').innerText();
	assert.match(wait1, /^wartet seit \d+ s$/);
	await a.waitForTimeout(2100);
	assert.notEqual(await mine.locator('.ag-wait').innerText(), wait1, 'the waiting time ticks');
	/* the transcript so far, redacted as stored */
	await mine.locator('summary').click();
	const transcript = await mine.locator('.ag-transcript-list').innerText();
	assert.match(transcript, /IBAN/);
	assert.match(transcript, /Reisepass/);
	assert.ok(!transcript.includes(IBAN), 'the queue shows the stored, redacted text');

	wsCitizen = await citizenSocket();
	wsCitizen.ws.send(JSON.stringify({ type: 'message', id: 'c2-1', text: 'Ich möchte mit einem Menschen sprechen' }));
	const queued = await waitFor(() => wsCitizen.frames.find((f) => f.type === 'handoff' && f.state === 'queued'),
		10000, 'the second citizen is queued');
	assert.ok(queued.position >= 1);
	wsConv = wsCitizen.frames.find((f) => f.type === 'welcome').conversation;
	const other = item(a, wsConv);
	await other.waitFor({ timeout: 10000 });
	assert.equal(await other.locator('h3').innerText(), 'Wunsch nach einem Menschen');
	/* oldest first */
	const order = await a.$$eval('#ag-queue-list > li', (n) => n.map((x) => x.dataset.conversation));
	assert.deepEqual(order, [citizenConv, wsConv]);
	assert.match(await a.locator('#ag-queue-count').innerText(), /2 wartend/);
	await a.locator('#ag-live').getByText('Wunsch nach einem Menschen').waitFor({ timeout: 5000 });
	assert.equal(await a.locator('#ag-live').getAttribute('role'), 'status');
});

test('the agent claims by keyboard; the colleague sees who holds it; the citizen is told', { timeout: 30000 }, async () => {
	const a = agentA.page;
	await item(a, citizenConv).getByRole('button', { name: 'Übernehmen' }).focus();
	await a.keyboard.press('Enter');
	await a.locator('#ag-chat-body').waitFor({ state: 'visible', timeout: 10000 });
	assert.equal(await a.evaluate(() => document.activeElement.id), 'ag-reply', 'focus moves to the reply field');
	assert.match(await a.locator('#ag-chat-h').innerText(), /Persönliche Daten/);
	assert.match(await a.locator('#ag-log').innerText(), /Reisepass/);
	assert.equal(await item(a, citizenConv).count(), 0, 'the claimed case leaves the own queue view');

	const b = agentB.page;
	await item(b, citizenConv).locator('.ag-holder').getByText('in Bearbeitung bei mueller').waitFor({ timeout: 10000 });
	assert.equal(await item(b, citizenConv).getByRole('button', { name: 'Übernehmen' }).isVisible(), false);

	await citizen.page.locator('.amtsbot-msg--handoff').nth(1).waitFor({ timeout: 10000 });
});

test('the suggested answer can be taken over and edited, then sent to the citizen', { timeout: 30000 }, async () => {
	const a = agentA.page;
	const sug = a.locator('#ag-suggestion');
	await sug.waitFor({ state: 'visible', timeout: 5000 });
	const text = (await a.locator('#ag-suggestion-text').innerText()).trim();
	assert.ok(text.length > 5, 'a suggestion is shown');
	await sug.getByRole('button', { name: 'Vorschlag übernehmen' }).click();
	assert.equal((await a.locator('#ag-reply').inputValue()).trim(), text);
	assert.equal(await a.evaluate(() => document.activeElement.id), 'ag-reply');

	const reply = 'Guten Tag, hier ist das Bürgerbüro. Ich sehe mir Ihre Erstattung an.';
	await a.locator('#ag-reply').fill(reply);
	await a.keyboard.press('Enter');
	assert.equal(await a.locator('#ag-reply').inputValue(), '');
	const sent = a.locator('#ag-log .ag-msg--agent').filter({ hasText: reply });
	await sent.waitFor();
	await a.waitForFunction(() => !document.querySelector('#ag-log .ag-msg--pending'), null, { timeout: 10000 });

	const bubble = citizen.page.locator('.amtsbot-msg--agent').filter({ hasText: reply });
	await bubble.waitFor({ timeout: 10000 });
	assert.match(await bubble.locator('.amtsbot-sender').innerText(), /mueller/);
});

test('the citizen answers live; an internal note is marked and never reaches the citizen', { timeout: 30000 }, async () => {
	const a = agentA.page;
	/* live, the agent reads what the citizen wrote, personal data included */
	const words = 'Danke! Sie erreichen mich unter max.mustermann@example.org.';
	await citizenWrites(citizen.page, words);
	const got = a.locator('#ag-log .ag-msg--citizen').filter({ hasText: words });
	await got.waitFor({ timeout: 10000 });
	assert.equal(await a.locator('#ag-log').getAttribute('role'), 'log');

	const note = 'Rückruf am Montag vereinbart, Akte liegt bei Frau Kurz.';
	await a.getByLabel(/Interne Notiz/).fill(note);
	await a.getByRole('button', { name: 'Notiz speichern' }).click();
	const shown = a.locator('#ag-log .ag-msg--note').filter({ hasText: note });
	await shown.waitFor();
	assert.match(await shown.innerText(), /intern/i);
	await a.waitForFunction(() => !document.querySelector('#ag-log .ag-msg--pending'), null, { timeout: 10000 });
	await citizen.page.waitForTimeout(500);
	assert.ok(!(await citizen.page.locator('.amtsbot-log').innerText()).includes('Rückruf'),
		'the note is not sent to the citizen');
});

test('axe-core finds no WCAG 2.1 A/AA violations on the console with a claimed case', { timeout: 30000 }, async (t) => {
	const a = agentA.page;
	const v = await axeViolations(a);
	assert.deepEqual(v, [], v.join('\n'));
	assert.deepEqual(agentA.errors, [], 'no script errors, no CSP violations');
	const file = path.join(ARTIFACTS, 'agent-console.png');
	await a.setViewportSize({ width: 1366, height: 1400 });
	await a.evaluate(() => {
		document.activeElement.blur();
		const log = document.getElementById('ag-log');
		log.scrollTop = log.scrollHeight;
	});
	await a.mouse.move(0, 0);
	await a.screenshot({ path: file });
	await a.setViewportSize({ width: 1366, height: 900 });
	t.diagnostic(`screenshot: ${file}`);
});

test('handing back to the bot: the citizen is told and the bot answers the next question', { timeout: 30000 }, async () => {
	const a = agentA.page;
	await a.getByRole('button', { name: 'An den Bot zurückgeben' }).click();
	await a.locator('#ag-chat-empty').waitFor({ state: 'visible', timeout: 10000 });
	await a.locator('#ag-live').getByText('zurückgegeben').waitFor({ timeout: 5000 });
	assert.equal(await item(a, citizenConv).count(), 0, 'the case left the queue');
	await item(agentB.page, citizenConv).waitFor({ state: 'detached', timeout: 10000 });

	const c = citizen.page;
	await c.locator('.amtsbot-msg--handoff').nth(2).waitFor({ timeout: 10000 });
	const before = await c.locator(WIDGET_ANSWERS).count();
	await citizenWrites(c, 'Wann hat das Bürgeramt geöffnet?');
	await c.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length > n, [WIDGET_ANSWERS, before],
		{ timeout: 10000 });
	assert.deepEqual(citizen.errors, []);
	await citizen.context.close();
});

test('two agents claim at once: exactly one wins, the other is told politely', { timeout: 30000 }, async () => {
	const a = agentA.page;
	const b = agentB.page;
	await item(a, wsConv).waitFor();
	await item(b, wsConv).waitFor();
	/* clicked in the same instant: no waiting for the other's queue update to hide the button */
	await Promise.all([
		item(a, wsConv).locator('.ag-claim').evaluate((btn) => btn.click()),
		item(b, wsConv).locator('.ag-claim').evaluate((btn) => btn.click()),
	]);
	await a.waitForFunction(() => !document.querySelector('#ag-queue-list li[data-conversation] .ag-claim:disabled'),
		null, { timeout: 10000 });
	await b.waitForFunction(() => !document.querySelector('#ag-queue-list li[data-conversation] .ag-claim:disabled'),
		null, { timeout: 10000 });
	const open = [await a.locator('#ag-chat-body').isVisible(), await b.locator('#ag-chat-body').isVisible()];
	assert.equal(open.filter(Boolean).length, 1, `exactly one agent holds the case: ${open}`);
	const [winner, loser] = open[0] ? [a, b] : [b, a];
	const toast = loser.locator('#ag-toast');
	await toast.getByText(/übernommen/).waitFor({ timeout: 5000 });
	assert.equal(await toast.getAttribute('role'), 'alert');
	await item(loser, wsConv).locator('.ag-holder').getByText('in Bearbeitung bei').waitFor();

	await winner.getByRole('button', { name: 'Fall abschließen' }).click();
	await winner.locator('#ag-chat-empty').waitFor({ state: 'visible', timeout: 10000 });
	await waitFor(() => wsCitizen.frames.find((f) => f.type === 'handoff' && f.state === 'ended'), 10000,
		'the citizen is told the case is closed');
	await item(loser, wsConv).waitFor({ state: 'detached', timeout: 10000 });
	await loser.locator('#ag-queue-empty').waitFor({ state: 'visible' });
	wsCitizen.ws.close();
});

test('after a dropped connection the console logs in again and keeps the case it holds', { timeout: 45000 }, async () => {
	const { page, context, errors } = await newPage(consolePath);
	const live = [];
	await page.routeWebSocket(/\/agent\/ws$/, (route) => {
		const srv = route.connectToServer();
		live.push({ route, srv });
	});
	await page.reload();
	await login(page, tokens.schmidt);
	const who = await citizenSocket();
	who.ws.send(JSON.stringify({ type: 'message', id: 'c3-1', text: 'Ich möchte mit einem Menschen sprechen' }));
	await waitFor(() => who.frames.find((f) => f.type === 'welcome'), 10000, 'welcome');
	const conv = who.frames.find((f) => f.type === 'welcome').conversation;
	await item(page, conv).getByRole('button', { name: 'Übernehmen' }).click();
	await page.locator('#ag-chat-body').waitFor({ state: 'visible', timeout: 10000 });

	for (const c of live.splice(0)) {
		await c.route.close();
		await c.srv.close();
	}
	const conn = page.locator('#ag-conn');
	await conn.getByText(/Verbindung unterbrochen|Verbinde neu/).waitFor({ timeout: 5000 });
	await conn.getByText('Verbunden').waitFor({ timeout: 15000 });
	assert.ok(live.length >= 1, 'a new socket was opened');
	assert.equal(await page.locator('#ag-chat-body').isVisible(), true, 'the held case is still open');
	assert.match(await page.locator('#ag-chat-h').innerText(), /Wunsch nach einem Menschen/);

	/* and still works: the citizen gets the words */
	await page.locator('#ag-reply').fill('Ich bin wieder da.');
	await page.keyboard.press('Enter');
	await waitFor(() => who.frames.find((f) => f.type === 'agent' && f.text === 'Ich bin wieder da.'), 10000,
		'the agent frame after the reconnect');
	await page.getByRole('button', { name: 'Fall abschließen' }).click();
	await page.locator('#ag-chat-empty').waitFor({ state: 'visible', timeout: 10000 });
	who.ws.close();

	/* a reload keeps the login (sessionStorage), logout forgets it */
	await page.reload();
	await page.locator('#ag-console').waitFor({ state: 'visible', timeout: 10000 });
	await page.getByRole('button', { name: 'Abmelden' }).click();
	await page.locator('#ag-login').waitFor({ state: 'visible' });
	assert.equal(await page.evaluate(() => sessionStorage.length), 0);
	assert.deepEqual(errors, []);
	await context.close();
});

test('200 % zoom: one column, no horizontal scrolling, every control reachable', { timeout: 30000 }, async (t) => {
	const { page, context } = await newPage(consolePath, { viewport: { width: 640, height: 400 }, deviceScaleFactor: 2 });
	await login(page, tokens.schmidt);
	const who = await citizenSocket();
	who.ws.send(JSON.stringify({ type: 'message', id: 'c4-1', text: 'Ich möchte mit einem Menschen sprechen' }));
	await waitFor(() => who.frames.find((f) => f.type === 'welcome'), 10000, 'welcome');
	const conv = who.frames.find((f) => f.type === 'welcome').conversation;
	await item(page, conv).getByRole('button', { name: 'Übernehmen' }).click();
	await page.locator('#ag-chat-body').waitFor({ state: 'visible', timeout: 10000 });
	const l = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
	assert.ok(l.scroll <= l.inner, `page scrolls horizontally (${l.scroll} > ${l.inner})`);
	for (const sel of ['#ag-reply', '#ag-reply-form button', '#ag-note', '#ag-note-form button', '#ag-release',
		'#ag-close', '#ag-logout']) {
		await page.locator(sel).scrollIntoViewIfNeeded();
		assert.ok(await page.locator(sel).isVisible(), `${sel} not visible at 200 %`);
	}
	const file = path.join(ARTIFACTS, 'agent-console-zoom200.png');
	await page.evaluate(() => window.scrollTo(0, 0));
	await page.screenshot({ path: file });
	t.diagnostic(`screenshot: ${file}`);
	await page.locator('#ag-close').click();
	await page.locator('#ag-chat-empty').waitFor({ state: 'visible', timeout: 10000 });
	who.ws.close();
	await context.close();
	await agentA.context.close();
	await agentB.context.close();
});
