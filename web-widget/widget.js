/*
 * amtsbot citizens' chat widget.
 *
 * Embed with one tag:
 *   <script src="https://chat.example.org/widget.js" defer></script>
 *
 * Optional attributes on that tag:
 *   data-server        ws(s):// URL of the chat socket, or the http(s) base URL of the
 *                      amtsbot server (default: "ws" next to this script)
 *   data-city          name of the city for the launcher and titles (default "Musterstadt")
 *   data-privacy-url   link of the privacy note (default "/datenschutz")
 *   data-suggestions   starter questions, separated by "|"
 *
 * Rules this file keeps (OWASP/CSP): server text only ever reaches the page through
 * textContent, links only with http(s)/mailto targets, no inline styles or scripts, no
 * cookies, no third-party requests; sessionStorage holds the conversation id, the last
 * sequence number and the outbox of unsent messages, nothing else.
 * Protocol: docs/protocol.md.
 */
(function () {
	'use strict';

	var STORE_KEY = 'amtsbot.v1';
	var MAX_TEXT = 2000;
	var BACKOFF_MIN = 500;
	var BACKOFF_MAX = 30000;
	var HUMAN_TEXT = 'Mit einem Menschen sprechen';
	/* announce "writes ..." only when the answer is slow, so fast answers are read once */
	var TYPING_ANNOUNCE_MS = 1200;
	var SVG_NS = 'http://www.w3.org/2000/svg';
	var MSG_ERRORS = ['missing_text', 'too_long', 'bad_utf8', 'rate_limited'];
	/* "did you mean" buttons only when the bot was unsure; a sure answer has its quick replies */
	var UNSURE = 0.75;
	var MAX_CHIPS = 6;

	if (document.querySelector('.amtsbot'))
		return;	/* embedded twice: keep the first */

	var script = document.currentScript || findScript();
	if (!script)
		return;
	var scriptUrl = new URL(script.getAttribute('src') || 'widget.js', document.baseURI);
	var city = script.getAttribute('data-city') || 'Musterstadt';
	var botName = city + '-Bot';
	var privacyUrl = safeHref(script.getAttribute('data-privacy-url') || '/datenschutz') ||
		new URL('/datenschutz', document.baseURI).href;
	var starters = (script.getAttribute('data-suggestions') || '').split('|')
		.map(function (s) { return s.trim(); })
		.filter(function (s) { return s.length > 0; });

	function findScript() {
		var all = document.querySelectorAll('script[src]');
		for (var i = all.length - 1; i >= 0; i--) {
			if (/(^|\/)widget\.js(\?|#|$)/.test(all[i].getAttribute('src')))
				return all[i];
		}
		return null;
	}

	/* ---- small helpers ------------------------------------------------------ */

	function el(tag, cls, text) {
		var n = document.createElement(tag);
		if (cls)
			n.className = cls;
		if (text !== undefined && text !== null)
			n.textContent = String(text);
		return n;
	}

	function attrs(n, map) {
		Object.keys(map).forEach(function (k) { n.setAttribute(k, map[k]); });
		return n;
	}

	function icon(paths, cls) {
		var svg = document.createElementNS(SVG_NS, 'svg');
		attrs(svg, { viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false',
			'class': cls || 'amtsbot-icon' });
		paths.forEach(function (d) {
			var p = document.createElementNS(SVG_NS, 'path');
			p.setAttribute('d', d);
			svg.appendChild(p);
		});
		return svg;
	}

	/* Only absolute http(s) targets (or site-relative paths) ever become links. */
	function safeHref(raw) {
		if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048)
			return null;
		try {
			var u = new URL(raw, document.baseURI);
			if (u.protocol === 'http:' || u.protocol === 'https:')
				return u.href;
		} catch (e) { /* not a URL: plain text */ }
		return null;
	}

	function newId() {
		if (window.crypto && typeof window.crypto.randomUUID === 'function')
			return window.crypto.randomUUID();
		var b = new Uint8Array(16);
		window.crypto.getRandomValues(b);
		return Array.prototype.map.call(b, function (x) {
			return (x < 16 ? '0' : '') + x.toString(16);
		}).join('');
	}

	function socketUrl() {
		var raw = script.getAttribute('data-server');
		var u = raw ? new URL(raw, scriptUrl) : new URL('ws', scriptUrl);
		if (u.protocol === 'http:' || u.protocol === 'https:') {
			if (raw && (u.pathname === '/' || u.pathname === ''))
				u = new URL('/ws', u);
			u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
		}
		u.hash = '';
		return u.href;
	}

	/* ---- session storage: conversation id, last seq, outbox -------------------- */

	function loadStore() {
		try {
			var s = JSON.parse(window.sessionStorage.getItem(STORE_KEY) || 'null');
			if (s && typeof s === 'object') {
				return {
					conversation: typeof s.conversation === 'string' ? s.conversation : null,
					lastSeq: typeof s.lastSeq === 'number' ? s.lastSeq : 0,
					outbox: Array.isArray(s.outbox) ? s.outbox.filter(function (m) {
						return m && typeof m.id === 'string' && typeof m.text === 'string';
					}) : []
				};
			}
		} catch (e) { /* storage disabled or garbage: start fresh */ }
		return { conversation: null, lastSeq: 0, outbox: [] };
	}

	function saveStore() {
		try {
			window.sessionStorage.setItem(STORE_KEY, JSON.stringify({
				conversation: state.conversation,
				lastSeq: state.lastSeq,
				outbox: state.outbox.map(function (m) { return { id: m.id, text: m.text }; })
			}));
		} catch (e) { /* private mode: the widget still works, only without resume */ }
	}

	var stored = loadStore();
	var state = {
		conversation: stored.conversation,
		lastSeq: stored.lastSeq,	/* highest seq seen in this conversation */
		seqAtLoad: stored.lastSeq,	/* below this, replays are not "unread" */
		renderedSeq: 0,			/* highest seq rendered on this page */
		outbox: stored.outbox,		/* [{id, text, node}] not yet answered */
		inflight: [],			/* ids sent on the current socket, oldest first */
		pendingFeedback: [],
		seen: Object.create(null),	/* seq -> true, to drop re-sent frames */
		ws: null,
		online: false,
		attempt: 0,
		timer: 0,
		typingTimer: 0,
		open: false,
		unread: 0,
		everConnected: false
	};

	/* ---- DOM ------------------------------------------------------------------- */

	var ui = {};

	function build() {
		var title = 'Chat mit der Stadt ' + city;
		/* a landmark of its own, so the widget is not stray content outside the page's regions */
		var root = attrs(el('aside', 'amtsbot'), {
			lang: 'de', hidden: '', 'aria-label': 'Chat-Assistent der Stadt ' + city
		});

		ui.launcher = attrs(el('button', 'amtsbot-launcher'), {
			type: 'button', id: 'amtsbot-launcher',
			'aria-expanded': 'false', 'aria-controls': 'amtsbot-panel'
		});
		ui.launcher.appendChild(icon(['M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z']));
		ui.launcher.appendChild(el('span', 'amtsbot-launcher-text', title));
		ui.badge = attrs(el('span', 'amtsbot-badge'), { hidden: '' });
		ui.badge.appendChild(el('span', 'amtsbot-sr', ', neue Nachricht'));
		ui.launcher.appendChild(ui.badge);

		ui.panel = attrs(el('div', 'amtsbot-panel'), {
			id: 'amtsbot-panel', role: 'dialog', 'aria-label': title, hidden: ''
		});
		ui.panel.appendChild(buildHeader());
		ui.status = attrs(el('div', 'amtsbot-status'), { role: 'status' });
		ui.panel.appendChild(ui.status);
		ui.log = attrs(el('div', 'amtsbot-log'), {
			role: 'log', 'aria-live': 'polite', 'aria-label': 'Gesprächsverlauf', tabindex: '0'
		});
		ui.log.appendChild(greeting());
		ui.panel.appendChild(ui.log);
		ui.typing = attrs(el('div', 'amtsbot-typing'), { 'aria-hidden': 'true', hidden: '' });
		ui.typing.appendChild(el('span', 'amtsbot-dots'));
		ui.typing.appendChild(el('span', null, botName + ' schreibt …'));
		ui.panel.appendChild(ui.typing);
		ui.typingSr = attrs(el('div', 'amtsbot-sr'), { role: 'status' });
		ui.panel.appendChild(ui.typingSr);
		ui.suggest = attrs(el('div', 'amtsbot-suggestions'), {
			role: 'group', 'aria-label': 'Vorschläge'
		});
		ui.panel.appendChild(ui.suggest);
		ui.panel.appendChild(buildForm());
		ui.panel.appendChild(buildFooter());

		root.appendChild(ui.launcher);
		root.appendChild(ui.panel);
		ui.root = root;
		setSuggestions(starters);

		ui.launcher.addEventListener('click', function () { setOpen(!state.open, true); });
		ui.panel.addEventListener('keydown', function (ev) {
			if (ev.key === 'Escape' || ev.key === 'Esc') {
				ev.preventDefault();
				setOpen(false, true);
			}
		});
		return root;
	}

	function buildHeader() {
		var head = el('div', 'amtsbot-header');
		var titles = el('div', 'amtsbot-titles');
		titles.appendChild(el('p', 'amtsbot-title', botName));
		titles.appendChild(el('p', 'amtsbot-subtitle',
			'Automatischer Assistent – kein Mensch'));
		head.appendChild(titles);
		var close = attrs(el('button', 'amtsbot-close'), {
			type: 'button', 'aria-label': 'Chat schließen'
		});
		close.appendChild(icon(['M6 6l12 12M18 6L6 18'], 'amtsbot-icon amtsbot-icon--stroke'));
		close.addEventListener('click', function () { setOpen(false, true); });
		head.appendChild(close);
		return head;
	}

	function buildForm() {
		var form = attrs(el('form', 'amtsbot-form'), { novalidate: '' });
		var label = attrs(el('label', 'amtsbot-label', 'Ihre Frage'), { 'for': 'amtsbot-input' });
		var hint = attrs(el('span', 'amtsbot-sr',
			'Eingabetaste sendet, Umschalt und Eingabetaste beginnt eine neue Zeile.'),
			{ id: 'amtsbot-hint' });
		ui.input = attrs(el('textarea', 'amtsbot-input'), {
			id: 'amtsbot-input', rows: '1', maxlength: String(MAX_TEXT),
			'aria-describedby': 'amtsbot-hint', autocomplete: 'off'
		});
		var send = attrs(el('button', 'amtsbot-send'), { type: 'submit' });
		send.appendChild(icon(['M3 20l18-8L3 4v6l12 2-12 2z']));
		send.appendChild(el('span', null, 'Senden'));
		var row = el('div', 'amtsbot-inputrow');
		row.appendChild(ui.input);
		row.appendChild(send);
		form.appendChild(label);
		form.appendChild(hint);
		form.appendChild(row);

		form.addEventListener('submit', function (ev) {
			ev.preventDefault();
			var text = ui.input.value.trim();
			if (!text)
				return;
			ui.input.value = '';
			sendText(text);
			ui.input.focus();
		});
		ui.input.addEventListener('keydown', function (ev) {
			if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
				ev.preventDefault();
				if (typeof form.requestSubmit === 'function')
					form.requestSubmit();
				else
					form.dispatchEvent(new Event('submit', { cancelable: true }));
			}
		});
		return form;
	}

	function buildFooter() {
		var foot = el('div', 'amtsbot-footer');
		var human = attrs(el('button', 'amtsbot-human'), { type: 'button' });
		human.appendChild(icon(['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm0 2c-4 0-8 2-8 5v1h16v-1c0-3-4-5-8-5z']));
		human.appendChild(el('span', null, HUMAN_TEXT));
		human.addEventListener('click', function () {
			sendText(HUMAN_TEXT);
			ui.input.focus();
		});
		foot.appendChild(human);
		var note = el('p', 'amtsbot-privacy',
			'Ihre Nachrichten werden 90 Tage gespeichert, persönliche Daten werden dabei ' +
			'unkenntlich gemacht. Mehr im ');
		note.appendChild(link(privacyUrl, 'Datenschutzhinweis'));
		note.appendChild(document.createTextNode('.'));
		foot.appendChild(note);
		return foot;
	}

	function greeting() {
		var m = message('bot');
		var body = el('div', 'amtsbot-text');
		body.appendChild(el('p', null, 'Guten Tag! Ich bin der ' + botName +
			', ein automatischer Assistent der Stadtverwaltung. Ich beantworte Fragen zu ' +
			'Leistungen, Gebühren und Öffnungszeiten.'));
		body.appendChild(el('p', null, 'Bitte schreiben Sie keine persönlichen Daten ' +
			'wie Steuer-ID oder Kontonummer in den Chat.'));
		m.bubble.appendChild(body);
		m.node.classList.add('amtsbot-msg--greeting');
		return m.node;
	}

	/* <a> for a checked URL; the text is set with textContent. */
	function link(href, text) {
		var a = attrs(el('a', 'amtsbot-link', text), {
			href: href, target: '_blank', rel: 'noopener noreferrer'
		});
		a.appendChild(el('span', 'amtsbot-sr', ' (öffnet neues Fenster)'));
		return a;
	}

	/* ---- text rendering ------------------------------------------------------------ */

	var LINK_RE = /(https?:\/\/[^\s<>"]+)|(www\.[a-z0-9-]+\.[^\s<>"]+)|([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})/g;

	/* Appends text to parent, turning URLs and e-mail addresses into links. */
	function appendLinkified(parent, text) {
		var last = 0;
		var m;
		LINK_RE.lastIndex = 0;
		while ((m = LINK_RE.exec(text)) !== null) {
			var raw = m[0];
			var trail = /[.,;:!?)»"'\]]+$/.exec(raw);
			if (trail && !(trail[0] === ')' && raw.indexOf('(') >= 0))
				raw = raw.slice(0, raw.length - trail[0].length);
			var href = null;
			if (m[3])
				href = 'mailto:' + raw;
			else
				href = safeHref(m[2] ? 'https://' + raw : raw);
			if (!href) {
				continue;
			}
			if (m.index > last)
				parent.appendChild(document.createTextNode(text.slice(last, m.index)));
			if (m[3]) {
				parent.appendChild(attrs(el('a', 'amtsbot-link', raw), { href: href }));
			} else {
				parent.appendChild(link(href, raw));
			}
			last = m.index + raw.length;
			LINK_RE.lastIndex = last;
		}
		if (last < text.length)
			parent.appendChild(document.createTextNode(text.slice(last)));
	}

	/* Paragraphs on blank lines, <br> on single line breaks, "- " lines as a list. */
	function renderText(text) {
		var box = el('div', 'amtsbot-text');
		var lines = String(text).replace(/\r\n?/g, '\n').split('\n');
		var para = null;
		var list = null;
		lines.forEach(function (line) {
			var item = /^\s*[-•*–]\s+(.*)$/.exec(line);
			if (item) {
				para = null;
				if (!list) {
					list = el('ul');
					box.appendChild(list);
				}
				var li = el('li');
				appendLinkified(li, item[1]);
				list.appendChild(li);
				return;
			}
			list = null;
			if (line.trim() === '') {
				para = null;
				return;
			}
			if (para) {
				para.appendChild(el('br'));
			} else {
				para = el('p');
				box.appendChild(para);
			}
			appendLinkified(para, line);
		});
		return box;
	}

	/* ---- messages in the log ------------------------------------------------------- */

	var SENDER = { citizen: 'Sie', bot: null, agent: null, system: 'Hinweis' };

	function message(kind, who) {
		var node = el('div', 'amtsbot-msg amtsbot-msg--' + kind);
		var bubble = el('div', 'amtsbot-bubble');
		var name = who || SENDER[kind] || botName;
		if (kind === 'agent') {
			node.appendChild(el('p', 'amtsbot-sender', name));
		} else {
			bubble.appendChild(el('span', 'amtsbot-sr', name + ': '));
		}
		node.appendChild(bubble);
		return { node: node, bubble: bubble };
	}

	function nearBottom() {
		return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 80;
	}

	/* On short screens the whole panel scrolls instead of the log (see widget.css). */
	function scrollDown() {
		ui.log.scrollTop = ui.log.scrollHeight;
		ui.panel.scrollTop = ui.panel.scrollHeight;
	}

	/* after the suggestions below the log have changed its height too */
	function scrollDownSoon() {
		scrollDown();
		window.requestAnimationFrame(scrollDown);
	}

	/* Server messages go above the citizen's messages still waiting for an answer. */
	function appendToLog(node, force) {
		var stick = force || nearBottom();
		var pending = ui.log.querySelector('.amtsbot-msg--queued');
		if (pending)
			ui.log.insertBefore(node, pending);
		else
			ui.log.appendChild(node);
		if (stick)
			scrollDownSoon();
	}

	function citizenBubble(text, id) {
		var m = message('citizen');
		m.bubble.appendChild(el('div', 'amtsbot-text amtsbot-plain', text));
		m.node.setAttribute('data-id', id);
		return m.node;
	}

	function setPending(node, on) {
		var note = node.querySelector('.amtsbot-meta');
		node.classList.toggle('amtsbot-msg--pending', on);
		if (on && !note) {
			node.appendChild(el('p', 'amtsbot-meta', 'wird gesendet'));
		} else if (!on && note) {
			note.remove();
		}
	}

	function setFailed(node, reason) {
		setPending(node, false);
		node.classList.add('amtsbot-msg--failed');
		var meta = el('p', 'amtsbot-meta amtsbot-meta--failed', 'nicht gesendet' +
			(reason ? ': ' + reason : ''));
		var retry = attrs(el('button', 'amtsbot-chip amtsbot-retry', 'Erneut senden'),
			{ type: 'button' });
		var text = node.querySelector('.amtsbot-plain').textContent;
		retry.addEventListener('click', function () {
			node.remove();
			sendText(text);
			ui.input.focus();
		});
		meta.appendChild(document.createTextNode(' '));
		meta.appendChild(retry);
		node.appendChild(meta);
	}

	function findById(id) {
		var all = ui.log.querySelectorAll('.amtsbot-msg--citizen');
		for (var i = 0; i < all.length; i++) {
			if (all[i].getAttribute('data-id') === id)
				return all[i];
		}
		return null;
	}

	function systemNote(text) {
		var m = message('system');
		m.bubble.appendChild(el('div', 'amtsbot-text', text));
		appendToLog(m.node);
		return m.node;
	}

	/* ---- sending ------------------------------------------------------------------- */

	function sendText(text) {
		text = String(text).slice(0, MAX_TEXT);
		var id = newId();
		var entry = { id: id, text: text, node: citizenBubble(text, id) };
		state.outbox.push(entry);
		saveStore();
		entry.node.classList.add('amtsbot-msg--queued');
		ui.log.appendChild(entry.node);
		setPending(entry.node, true);
		hideSuggestions();
		scrollDownSoon();
		if (state.online) {
			transmit(entry);
		} else {
			connect();
		}
		updateTyping();
	}

	function transmit(entry) {
		if (!send({ type: 'message', id: entry.id, text: entry.text }))
			return;
		state.inflight.push(entry.id);
		/* sent; it stays in the outbox (and queued in the log) until it is answered */
		setPending(entry.node, false);
	}

	function send(obj) {
		if (!state.ws || state.ws.readyState !== 1)
			return false;
		try {
			state.ws.send(JSON.stringify(obj));
			return true;
		} catch (e) {
			return false;
		}
	}

	function settle(id) {
		state.inflight = state.inflight.filter(function (x) { return x !== id; });
		var before = state.outbox.length;
		state.outbox = state.outbox.filter(function (m) { return m.id !== id; });
		if (state.outbox.length !== before)
			saveStore();
		var node = findById(id);
		if (node) {
			setPending(node, false);
			node.classList.remove('amtsbot-msg--queued');
		}
		updateTyping();
	}

	function restoreOutbox() {
		state.outbox.forEach(function (entry) {
			if (!entry.node) {
				entry.node = citizenBubble(entry.text, entry.id);
				entry.node.classList.add('amtsbot-msg--queued');
				ui.log.appendChild(entry.node);
			}
			setPending(entry.node, true);
		});
	}

	/* ---- typing indicator and status ---------------------------------------------------- */

	function updateTyping() {
		var waiting = state.online && state.inflight.length > 0;
		if (waiting && ui.typing.hidden) {
			ui.typing.hidden = false;
			clearTimeout(state.typingTimer);
			state.typingTimer = setTimeout(function () {
				if (!ui.typing.hidden)
					ui.typingSr.textContent = botName + ' schreibt …';
			}, TYPING_ANNOUNCE_MS);
		} else if (!waiting && !ui.typing.hidden) {
			ui.typing.hidden = true;
			clearTimeout(state.typingTimer);
			ui.typingSr.textContent = '';
		}
	}

	function setStatus(text) {
		if (ui.status.textContent !== text)
			ui.status.textContent = text;
		ui.status.classList.toggle('amtsbot-status--shown', text !== '');
	}

	/* ---- open / close ---------------------------------------------------------------- */

	function setOpen(open, moveFocus) {
		state.open = open;
		ui.panel.hidden = !open;
		ui.root.classList.toggle('amtsbot--open', open);
		ui.launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
		if (open) {
			state.unread = 0;
			ui.badge.hidden = true;
			connect();
			scrollDown();
			if (moveFocus)
				ui.input.focus();
		} else if (moveFocus) {
			ui.launcher.focus();
		}
	}

	function noteUnread(seq) {
		if (state.open || seq <= state.seqAtLoad)
			return;
		state.unread++;
		ui.badge.hidden = false;
	}

	/* ---- suggestions (quick replies of the latest answer) --------------------------- */

	function hideSuggestions() {
		var hadFocus = ui.suggest.contains(document.activeElement);
		while (ui.suggest.firstChild)
			ui.suggest.removeChild(ui.suggest.firstChild);
		ui.suggest.hidden = true;
		if (hadFocus)
			ui.input.focus();
	}

	function setSuggestions(list) {
		hideSuggestions();
		var seen = Object.create(null);
		list.forEach(function (text) {
			if (typeof text !== 'string' || !text.trim() || seen[text] || text === HUMAN_TEXT)
				return;
			seen[text] = true;
			if (ui.suggest.childNodes.length >= MAX_CHIPS)
				return;
			var b = attrs(el('button', 'amtsbot-chip', text), { type: 'button' });
			b.addEventListener('click', function () {
				sendText(text);
				ui.input.focus();
			});
			ui.suggest.appendChild(b);
		});
		ui.suggest.hidden = ui.suggest.childNodes.length === 0;
	}

	/* ---- rendering server frames ----------------------------------------------------- */

	function feedbackGroup(seq) {
		var box = attrs(el('div', 'amtsbot-feedback'), {
			role: 'group', 'aria-label': 'War diese Antwort hilfreich?'
		});
		box.appendChild(attrs(el('span', 'amtsbot-feedback-q', 'War das hilfreich?'),
			{ 'aria-hidden': 'true' }));
		var thanks = el('p', 'amtsbot-thanks');
		var buttons = [];
		[[true, 'Hilfreich', 'M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 7.9 6 8.4 6 9v10a2 2 0 0 0 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z'],
		 [false, 'Nicht hilfreich', 'M22 3h-4v12h4V3zM2 14a2 2 0 0 0 2 2h6.3l-1 4.6v.3c0 .4.2.8.4 1.1l1.1 1 6.6-6.6c.4-.3.6-.8.6-1.4V5a2 2 0 0 0-2-2H7c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2z']
		].forEach(function (def) {
			var b = attrs(el('button', 'amtsbot-fb'), { type: 'button', 'aria-pressed': 'false' });
			b.appendChild(icon([def[2]]));
			b.appendChild(el('span', null, def[1]));
			b.addEventListener('click', function () {
				var msg = { type: 'feedback', seq: seq, helpful: def[0] };
				if (!send(msg))
					state.pendingFeedback.push(msg);
				buttons.forEach(function (o) {
					o.setAttribute('aria-pressed', o === b ? 'true' : 'false');
				});
				thanks.textContent = 'Danke für Ihre Rückmeldung.';
			});
			buttons.push(b);
			box.appendChild(b);
		});
		var wrap = el('div', 'amtsbot-feedback-wrap');
		wrap.appendChild(box);
		wrap.appendChild(thanks);
		return wrap;
	}

	function sourcesList(sources) {
		var valid = (Array.isArray(sources) ? sources : []).filter(function (s) {
			return s && typeof s.title === 'string' && s.title;
		});
		if (!valid.length)
			return null;
		var box = el('div', 'amtsbot-sources');
		box.appendChild(el('p', 'amtsbot-sources-title', valid.length > 1 ? 'Quellen' : 'Quelle'));
		var ul = el('ul');
		valid.forEach(function (s) {
			var li = el('li');
			var href = safeHref(s.url);
			li.appendChild(href ? link(href, s.title) : document.createTextNode(s.title));
			ul.appendChild(li);
		});
		box.appendChild(ul);
		return box;
	}

	function renderAnswer(f) {
		if (typeof f.reply_to === 'string')
			settle(f.reply_to);
		var m = message('bot');
		m.bubble.appendChild(renderText(typeof f.answer === 'string' ? f.answer : ''));
		var src = sourcesList(f.sources);
		if (src)
			m.bubble.appendChild(src);
		if (typeof f.seq === 'number')
			m.node.appendChild(feedbackGroup(f.seq));
		appendToLog(m.node);
		var chips = Array.isArray(f.quick_replies) ? f.quick_replies.slice() : [];
		var unsure = typeof f.confidence !== 'number' || f.confidence < UNSURE ||
			f.handoff_reason === 'fallback';
		if (unsure) {
			(Array.isArray(f.alternatives) ? f.alternatives : []).forEach(function (a) {
				if (a && typeof a.label === 'string')
					chips.push(a.label);
			});
		}
		setSuggestions(chips);
		return m.node;
	}

	function renderCitizen(f) {
		var node = typeof f.id === 'string' ? findById(f.id) : null;
		if (node) {
			settle(f.id);
			return node;
		}
		node = citizenBubble(typeof f.text === 'string' ? f.text : '', f.id || '');
		appendToLog(node);
		return node;
	}

	function renderHandoff(f) {
		var text = typeof f.text === 'string' && f.text ? f.text : null;
		if (!text) {
			if (f.state === 'queued') {
				text = 'Sie warten auf eine Mitarbeiterin oder einen Mitarbeiter der Stadtverwaltung.';
				if (typeof f.position === 'number' && f.position > 0)
					text += ' Sie sind an Position ' + f.position + ' der Warteschlange.';
			} else if (f.state === 'active') {
				text = 'Eine Mitarbeiterin oder ein Mitarbeiter ist jetzt für Sie da.';
			} else if (f.state === 'ended') {
				text = 'Das Gespräch mit der Stadtverwaltung ist beendet. Der ' + botName +
					' hilft Ihnen gern weiter.';
			} else {
				return null;
			}
		}
		var node = systemNote(text);
		node.classList.add('amtsbot-msg--handoff');
		return node;
	}

	function renderAgent(f) {
		var name = typeof f.name === 'string' && f.name ? f.name : 'Stadtverwaltung';
		var m = message('agent', name);
		m.bubble.appendChild(renderText(typeof f.text === 'string' ? f.text : ''));
		appendToLog(m.node);
		return m.node;
	}

	function renderError(f) {
		var text = typeof f.message === 'string' && f.message ? f.message :
			'Das hat leider nicht geklappt.';
		var id = typeof f.reply_to === 'string' ? f.reply_to :
			(typeof f.id === 'string' ? f.id : null);
		if (!id && MSG_ERRORS.indexOf(f.code) >= 0)
			id = state.inflight[0] || null;
		if (id) {
			var node = findById(id);
			settle(id);
			if (node) {
				setFailed(node, text);
				return;
			}
		}
		systemNote(text).classList.add('amtsbot-msg--error');
	}

	function onWelcome(f) {
		if (typeof f.conversation === 'string' && f.conversation !== state.conversation) {
			if (state.conversation !== null)
				forgetRendered();	/* the old conversation is gone (expired/erased) */
			state.conversation = f.conversation;
		}
		state.online = true;
		state.attempt = 0;
		state.everConnected = true;
		setStatus('');
		if (typeof f.seq === 'number' && f.seq < state.lastSeq)
			state.lastSeq = f.seq;
		saveStore();
		/* re-send what the last socket did not get answered; the server answers each id once */
		state.inflight = [];
		state.outbox.forEach(transmit);
		var fb = state.pendingFeedback;
		state.pendingFeedback = [];
		fb.forEach(function (msg) { send(msg); });
		updateTyping();
	}

	function forgetRendered() {
		Array.prototype.slice.call(ui.log.querySelectorAll('.amtsbot-msg[data-seq]'))
			.forEach(function (n) { n.remove(); });
		state.seen = Object.create(null);
		state.renderedSeq = 0;
		state.lastSeq = 0;
		state.seqAtLoad = 0;
	}

	function onFrame(data) {
		var f;
		try {
			f = JSON.parse(data);
		} catch (e) {
			return;
		}
		if (!f || typeof f !== 'object' || typeof f.type !== 'string')
			return;
		if (f.type === 'welcome') {
			onWelcome(f);
			return;
		}
		if (f.type === 'error') {
			renderError(f);
			return;
		}
		if (f.type === 'ok')
			return;	/* feedback stored; the thanks are already shown */
		if (typeof f.seq !== 'number')
			return;	/* "ok" and unknown frames */
		if (state.seen[f.seq]) {
			if (f.type === 'answer' && typeof f.reply_to === 'string')
				settle(f.reply_to);	/* the stored answer re-sent for a re-sent id */
			return;
		}
		var node = null;
		if (f.type === 'answer')
			node = renderAnswer(f);
		else if (f.type === 'message' && f.from === 'citizen')
			node = renderCitizen(f);
		else if (f.type === 'handoff')
			node = renderHandoff(f);
		else if (f.type === 'agent')
			node = renderAgent(f);
		if (!node)
			return;
		state.seen[f.seq] = true;
		node.setAttribute('data-seq', String(f.seq));
		if (f.seq > state.lastSeq)
			state.lastSeq = f.seq;
		if (f.seq > state.renderedSeq)
			state.renderedSeq = f.seq;
		saveStore();
		if (f.type !== 'message')
			noteUnread(f.seq);
	}

	/* ---- connection ---------------------------------------------------------------- */

	function connect() {
		if (state.ws || state.timer)
			return;
		var ws;
		try {
			ws = new WebSocket(socketUrl());
		} catch (e) {
			scheduleReconnect();
			return;
		}
		state.ws = ws;
		ws.onopen = function () {
			send({ type: 'hello', conversation: state.conversation, last_seq: state.renderedSeq });
		};
		ws.onmessage = function (ev) {
			if (typeof ev.data === 'string')
				onFrame(ev.data);
		};
		ws.onclose = function () {
			if (state.ws !== ws)
				return;
			state.ws = null;
			state.online = false;
			state.inflight = [];
			state.outbox.forEach(function (m) {
				if (m.node)
					setPending(m.node, true);
			});
			updateTyping();
			setStatus('Verbindung unterbrochen – wir verbinden neu …');
			scheduleReconnect();
		};
		ws.onerror = function () { /* onclose follows and reconnects */ };
	}

	/* Exponential back-off 0.5 s .. 30 s with jitter, so a restarted server is not stormed. */
	function scheduleReconnect() {
		if (state.timer)
			return;
		var cap = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, state.attempt));
		var delay = cap / 2 + Math.random() * cap / 2;
		state.attempt = Math.min(state.attempt + 1, 16);
		state.timer = setTimeout(function () {
			state.timer = 0;
			connect();
		}, delay);
	}

	function reconnectNow() {
		if (state.ws || !state.everConnected)
			return;
		clearTimeout(state.timer);
		state.timer = 0;
		state.attempt = 0;
		connect();
	}

	/* ---- start ----------------------------------------------------------------------- */

	function start() {
		var root = build();
		var css = document.querySelector('link[data-amtsbot]');
		var shown = false;
		function show() {
			if (!shown) {
				shown = true;
				root.hidden = false;
			}
		}
		if (!css) {
			css = attrs(el('link'), {
				rel: 'stylesheet', href: new URL('widget.css', scriptUrl).href, 'data-amtsbot': ''
			});
			css.addEventListener('load', show);
			css.addEventListener('error', show);
			document.head.appendChild(css);
			setTimeout(show, 3000);	/* never hide the widget for long behind a slow sheet */
		} else {
			show();
		}
		document.body.appendChild(root);
		restoreOutbox();
		window.addEventListener('online', reconnectNow);
		/* a citizen who chatted on an earlier page sees answers and agents without clicking */
		if (state.conversation || state.outbox.length)
			connect();
	}

	if (document.body)
		start();
	else
		document.addEventListener('DOMContentLoaded', start);
})();
