/*
 * helpers.js - what the browser tests share: where things are, a free
 * loopback port, starting and stopping the server under test, and Debian's
 * Chromium with the flags a closed network needs.  Not a test file itself
 * (node --test runs only *.test.js).
 */
'use strict';

const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '../..');
const ARTIFACTS = path.join(__dirname, 'artifacts');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.unref();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

/* Start 'cmd args' in the repository; the result keeps the last 8 KB of
 * its output in .log for error messages. */
function spawnServer(cmd, args) {
	const srv = { proc: spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] }), log: '' };
	const keep = (d) => { srv.log = (srv.log + d).slice(-8000); };
	srv.proc.stdout.on('data', keep);
	srv.proc.stderr.on('data', keep);
	return srv;
}

async function waitHealthy(srv, url, ms) {
	const end = Date.now() + ms;
	let last;
	while (Date.now() < end) {
		if (srv.proc.exitCode !== null)
			throw new Error(`server exited with ${srv.proc.exitCode}:\n${srv.log}`);
		try {
			const r = await fetch(url);
			if (r.ok)
				return;
			last = new Error(`status ${r.status}`);
		} catch (e) {
			last = e;
		}
		await new Promise((r) => setTimeout(r, 100));
	}
	throw new Error(`server not healthy at ${url}: ${last}\n${srv.log}`);
}

/* SIGTERM, then SIGKILL after 3 s. */
async function stopServer(srv) {
	if (!srv || srv.proc.exitCode !== null)
		return;
	srv.proc.kill('SIGTERM');
	await new Promise((r) => {
		const t = setTimeout(() => { srv.proc.kill('SIGKILL'); r(); }, 3000);
		srv.proc.on('exit', () => { clearTimeout(t); r(); });
	});
}

/* launch() gives every run a fresh temporary --user-data-dir of its own;
 * without the background-networking flags Chromium keeps knocking on the
 * closed network. */
function launchBrowser() {
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
}

module.exports = { REPO, ARTIFACTS, CHROMIUM, AXE_TAGS, freePort, spawnServer, waitHealthy, stopServer, launchBrowser };
