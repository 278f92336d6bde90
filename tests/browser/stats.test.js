/*
 * Browser test of the editors' statistics page (/stats) in headless Chromium:
 *
 *   cd tests/browser && npm install && node --test stats.test.js
 *
 * Starts `amtsbot serve` (env AMTSBOT_BIN, default ../../amtsbot) with the repository's
 * knowledge base and a fresh database with an editor and an agent made with
 * `amtsbot agent add` and a day of conversations written with sqlite3. The editor logs in,
 * sees the figures, the SVG charts and the unanswered questions; the agent is refused;
 * axe-core finds no WCAG 2.1 A/AA violations. Screenshot: artifacts/stats.png.
 */
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { REPO, ARTIFACTS, AXE_TAGS, freePort, spawnServer, waitHealthy, stopServer, launchBrowser } =
	require('./helpers.js');
const BIN = process.env.AMTSBOT_BIN ? path.resolve(process.env.AMTSBOT_BIN) : path.join(REPO, 'amtsbot');

let server;
let base;
let browser;
let tmp;
let db;
const tokens = {};

function addAgent(name, role) {
	const out = execFileSync(BIN, ['agent', 'add', name, '--role', role, '--db', db],
		{ cwd: REPO, encoding: 'utf8' });
	const lines = out.split('\n').map((l) => l.trim()).filter((l) => l);
	return lines[lines.length - 1];
}

/* two conversations of today: answers, fallbacks (two alike), feedback, a suggestion */
function fill() {
	const now = Math.floor(Date.now() / 1000) - 60;
	const conv = (i) => now.toString(16).padStart(8, '0') + String(i).repeat(24);
	const rows = [];
	const msg = (c, seq, role, text, intent, service) => rows.push(
		`INSERT INTO messages (conv, seq, role, text, intent, service, created) VALUES (${c}, ${seq}, ` +
		`'${role}', '${text}', ${intent ? `'${intent}'` : 'NULL'}, ${service ? `'${service}'` : 'NULL'}, ${now});`);
	for (const c of [1, 2])
		rows.push(`INSERT INTO conversations (num, id, channel, created, updated, last_seq) VALUES (${c}, '${conv(c)}', ` +
			`'${c === 1 ? 'web' : 'messenger'}', ${now}, ${now}, 6);`);
	msg(1, 1, 'citizen', 'Was kostet ein Reisepass?');
	msg(1, 2, 'bot', 'Ein Reisepass kostet 70 Euro.', 'kosten', 'reisepass');
	msg(1, 3, 'citizen', 'Wo kann ich meinen Hund anmelden?');
	msg(1, 4, 'bot', 'Das habe ich nicht verstanden.');
	msg(1, 5, 'citizen', 'Wann hat das Bürgeramt auf?');
	msg(1, 6, 'bot', 'Montag bis Freitag 8 bis 16 Uhr.', 'oeffnungszeiten');
	msg(2, 1, 'citizen', 'wo kann ich meinen hund anmelden');
	msg(2, 2, 'bot', 'Das habe ich nicht verstanden.');
	msg(2, 3, 'citizen', 'Mehr Bänke im Park wären schön');
	msg(2, 4, 'bot', 'Danke für Ihren Vorschlag.', 'vorschlag');
	// schema 6: each message points to its conversation's one before,
	// carries the channel unless it is the web, feedback names its message
	rows.push('UPDATE messages SET prev = (SELECT p.id FROM messages p WHERE p.conv = messages.conv ' +
		'AND p.seq = messages.seq - 1), channel = (SELECT nullif(c.channel, \'web\') ' +
		'FROM conversations c WHERE c.num = messages.conv);');
	rows.push('UPDATE conversations SET head = (SELECT max(id) FROM messages WHERE conv = conversations.num);');
	rows.push('UPDATE meta SET value = (SELECT max(id) FROM messages) WHERE key = \'heads\';');
	rows.push(`INSERT INTO feedback (conv, seq, helpful, created, msg) VALUES ('${conv(1)}', 2, 1, ${now}, ` +
		'(SELECT id FROM messages WHERE conv = 1 AND seq = 2));');
	rows.push(`INSERT INTO suggestions (conv, channel, text, created) VALUES ('${conv(2)}', 'messenger', ` +
		`'Mehr Bänke im Park wären schön', ${now});`);
	execFileSync('sqlite3', [db], { input: rows.join('\n') });
}

before(async () => {
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amtsbot-stats-'));
	db = path.join(tmp, 't.db');
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	tokens.editor = addAgent('erna', 'editor');
	tokens.agent = addAgent('anton', 'agent');
	fill();
	const port = await freePort();
	base = `http://127.0.0.1:${port}`;
	server = spawnServer(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--kb', path.join(REPO, 'intents'),
		'--db', db, '--web', path.join(REPO, 'web-widget')]);
	await waitHealthy(server, `${base}/healthz`, 15000);
	browser = await launchBrowser();
});

after(async () => {
	if (browser)
		await browser.close();
	await stopServer(server);
	if (tmp)
		fs.rmSync(tmp, { recursive: true, force: true });
});

async function openStats(axe) {
	const context = await browser.newContext({ bypassCSP: axe, locale: 'de-DE' });
	const page = await context.newPage();
	const errors = [];
	const foreign = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	page.on('console', (m) => {
		if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()))
			errors.push(m.text());
	});
	page.on('request', (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });
	await page.goto(`${base}/stats/`);
	return { context, page, errors, foreign };
}

async function login(page, token) {
	await page.fill('#st-token', token);
	await page.press('#st-token', 'Enter');
}

test('an editor sees figures, charts and the unanswered questions', { timeout: 30000 }, async () => {
	const { context, page, errors, foreign } = await openStats(false);
	await login(page, tokens.editor);
	await page.waitForSelector('#st-board:not([hidden])', { timeout: 10000 });
	await page.waitForSelector('#st-intents-chart svg rect');
	assert.ok(await page.locator('#st-hours-chart svg rect').count() >= 7 * 24, 'hours grid');
	assert.equal(await page.locator('#st-channels-chart svg rect.st-bar--now').count(), 2);
	const title = await page.locator('#st-intents-chart svg title').textContent();
	assert.match(title, /kosten 1/);
	const totals = await page.locator('#st-totals').innerText();
	assert.match(totals, /Gespräche\s+2/);
	assert.match(totals, /nicht verstanden\s+2/);
	const rows = page.locator('#st-unanswered tbody tr');
	assert.equal(await rows.count(), 1, 'the two Hund questions are one group');
	assert.match(await rows.first().innerText(), /Hund anmelden\?\s+2\s+2/);
	assert.match(await page.locator('#st-sugg').innerText(), /Mehr Bänke im Park/);
	/* the session survives a reload; the CSV comes as a download */
	await page.reload();
	await page.waitForSelector('#st-board:not([hidden])');
	const [download] = await Promise.all([page.waitForEvent('download'), page.click('#st-csv')]);
	const csv = fs.readFileSync(await download.path(), 'utf8');
	assert.match(csv, /^group,key,now,before\r\n/);
	assert.match(csv, /total,fallbacks,2,0/);
	await page.screenshot({ path: path.join(ARTIFACTS, 'stats.png'), fullPage: true });
	assert.deepEqual(errors, []);
	assert.deepEqual(foreign, [], 'no third-party requests');
	await context.close();
});

test('an agent without the editor role is refused', { timeout: 20000 }, async () => {
	const { context, page } = await openStats(false);
	await login(page, tokens.agent);
	await page.waitForFunction(() => /Redaktion/.test(document.getElementById('st-login-error').textContent));
	assert.equal(await page.locator('#st-board').isHidden(), true);
	await context.close();
});

test('axe-core finds no WCAG 2.1 A/AA violations on the login and the dashboard', { timeout: 30000 }, async () => {
	const { context, page } = await openStats(true);
	const check = async (what) => {
		await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
		const v = await page.evaluate(async (tags) => {
			/* global axe */
			const r = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
			return r.violations.map((x) => `${x.id} (${x.impact}): ${x.help} -> ` +
				x.nodes.map((n) => n.target.join(' ')).join(', '));
		}, AXE_TAGS);
		assert.deepEqual(v, [], `${what}:\n${v.join('\n')}`);
	};
	await check('login');
	await login(page, tokens.editor);
	await page.waitForSelector('#st-intents-chart svg rect');
	await check('dashboard');
	await context.close();
});
