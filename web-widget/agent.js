/*
 * amtsbot agent console: staff log in with their token, see the team's queue of waiting
 * conversations, claim one, chat with the citizen, leave internal notes, and hand the
 * conversation back to the bot or close the case. Served by `amtsbot serve` at /agent.
 *
 * Rules this file keeps (OWASP/CSP): server text only ever reaches the page through
 * textContent, no inline styles or scripts, no cookies, no third-party requests; the
 * token lives only in sessionStorage (gone when the tab closes, removed on logout or
 * when the server refuses it). Protocol: docs/protocol.md, section "Agents".
 */
(function () {
	'use strict';

	var STORE_KEY = 'amtsbot.agent.v1';
	var MAX_TEXT = 2000;
	var BACKOFF_MIN = 500;
	var BACKOFF_MAX = 30000;
	/* a login that gets no answer at all is reported, not waited for forever */
	var AUTH_TIMEOUT_MS = 10000;

	var REASONS = {
		personal_data: 'Persönliche Daten',
		requested: 'Wunsch nach einem Menschen',
		'case': 'Frage zum eigenen Antrag',
		fallback: 'Bot konnte nicht helfen'
	};
	var CHANNELS = { web: 'Web-Chat', messenger: 'Messenger' };
	var FROM = { citizen: 'Bürger/in', bot: 'Bot', agent: 'Mitarbeiter/in', note: 'Interne Notiz',
		system: 'Hinweis' };
	/* polite German for refusals whose server message is missing */
	var ERRORS = {
		already_claimed: 'Dieses Gespräch hat bereits eine Kollegin oder ein Kollege übernommen.',
		claimed: 'Dieses Gespräch hat bereits eine Kollegin oder ein Kollege übernommen.',
		not_found: 'Dieses Gespräch gibt es nicht mehr – vielleicht ist es schon abgeschlossen.',
		unknown_conversation: 'Dieses Gespräch gibt es nicht mehr – vielleicht ist es schon abgeschlossen.',
		not_claimed: 'Sie bearbeiten dieses Gespräch nicht (mehr).',
		not_yours: 'Sie bearbeiten dieses Gespräch nicht (mehr).',
		rate_limited: 'Zu viele Versuche. Bitte warten Sie einen Moment.',
		too_long: 'Der Text ist zu lang (höchstens 2.000 Zeichen).',
		missing_text: 'Bitte geben Sie einen Text ein.',
		forbidden: 'Dieses Gespräch gehört zu einem anderen Team.',
		missing_conversation: 'Bitte wählen Sie zuerst ein Gespräch aus.',
		bad_token: 'Der Zugangscode ist ungültig.',
		too_many_attempts: 'Zu viele fehlgeschlagene Anmeldungen. Bitte warten Sie eine Minute.',
		internal: 'Auf dem Server ist ein Fehler aufgetreten. Bitte versuchen Sie es noch einmal.'
	};
	/* refusals of a login: the token is forgotten and the login form shown again */
	var AUTH_ERRORS = ['bad_token', 'too_many_attempts', 'auth_required'];
	/* refusals of something written to a conversation: the pending text is marked unsent */
	var TEXT_ERRORS = ['too_long', 'missing_text', 'internal', 'not_claimed', 'not_found', 'forbidden',
		'rate_limited', 'bad_utf8'];

	/* ---- small helpers ------------------------------------------------------------ */

	function $(id) {
		return document.getElementById(id);
	}

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

	function str(v) {
		return typeof v === 'string' ? v : (typeof v === 'number' ? String(v) : '');
	}

	function clear(n) {
		while (n.firstChild)
			n.removeChild(n.firstChild);
	}

	function reasonLabel(r) {
		return Object.prototype.hasOwnProperty.call(REASONS, r) ? REASONS[r] :
			(r ? 'Sonstiger Grund (' + r + ')' : 'Ohne Angabe');
	}

	function channelLabel(c) {
		return Object.prototype.hasOwnProperty.call(CHANNELS, c) ? CHANNELS[c] : (c || 'Web-Chat');
	}

	/* 75 -> "1 Min. 15 s", 3700 -> "1 Std. 1 Min." */
	function duration(s) {
		s = Math.max(0, Math.floor(s));
		if (s < 60)
			return s + ' s';
		var m = Math.floor(s / 60);
		if (m < 60)
			return m + ' Min. ' + (s % 60) + ' s';
		var h = Math.floor(m / 60);
		return h + ' Std. ' + (m % 60) + ' Min.';
	}

	function clock(d) {
		return ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2);
	}

	/*
	 * The "window" of a Messenger case (24 hours / 7 days to answer) comes later; for now
	 * show whatever the server sends: a text, seconds left, or an object with a label.
	 */
	function windowText(w) {
		if (w === undefined || w === null || w === false)
			return '';
		if (typeof w === 'string')
			return w;
		if (typeof w === 'number')
			return 'noch ' + duration(w);
		if (typeof w === 'object') {
			if (typeof w.label === 'string')
				return w.label;
			if (typeof w.text === 'string')
				return w.text;
			if (typeof w.remaining_s === 'number')
				return 'noch ' + duration(w.remaining_s);
		}
		return '';
	}

	/* ---- state --------------------------------------------------------------------- */

	function loadToken() {
		try {
			var s = JSON.parse(window.sessionStorage.getItem(STORE_KEY) || 'null');
			return s && typeof s.token === 'string' && s.token ? s.token : null;
		} catch (e) {
			return null;
		}
	}

	function saveToken(token) {
		try {
			if (token)
				window.sessionStorage.setItem(STORE_KEY, JSON.stringify({ token: token }));
			else
				window.sessionStorage.removeItem(STORE_KEY);
		} catch (e) { /* storage disabled: the login lasts as long as the page */ }
	}

	var state = {
		token: loadToken(),
		ws: null,
		authed: false,		/* the current socket is logged in */
		everAuthed: false,	/* this token was accepted once: drops mean reconnect */
		attempt: 0,
		timer: 0,
		authTimer: 0,
		me: { name: '', team: '' },
		queue: [],		/* items of the last "queue" frame, with .receivedAt */
		mine: {},		/* conversation id -> {id, item, entries, suggestion} */
		current: null,
		claiming: null,
		lastAnnounced: null
	};

	var ui = {};
	var queueNodes = {};	/* conversation id -> <li> of the queue, kept across updates */

	/* ---- announcements and messages --------------------------------------------------- */

	function announce(text) {
		/* cleared first, so the same words twice are read twice */
		ui.live.textContent = '';
		window.setTimeout(function () { ui.live.textContent = text; }, 50);
	}

	function toast(text) {
		ui.toast.textContent = text;
		ui.toast.classList.toggle('ag-toast--shown', !!text);
		window.clearTimeout(state.toastTimer);
		if (text)
			state.toastTimer = window.setTimeout(function () { toast(''); }, 8000);
	}

	function setConn(text, bad) {
		ui.conn.textContent = text;
		ui.conn.classList.toggle('ag-conn--bad', !!bad);
	}

	function errorText(f) {
		if (typeof f.message === 'string' && f.message)
			return f.message;
		return ERRORS[f.code] || 'Das hat leider nicht geklappt.';
	}

	/* ---- views ------------------------------------------------------------------------ */

	function showLogin(message) {
		ui.login.hidden = false;
		ui.console.hidden = true;
		ui.session.hidden = true;
		ui.loginBtn.disabled = false;
		ui.loginError.textContent = message || '';
		document.title = 'Anmeldung – amtsbot Konsole für Mitarbeitende';
		resetConsole();
		ui.token.focus();
	}

	function showConsole() {
		var first = ui.console.hidden;
		ui.login.hidden = true;
		ui.console.hidden = false;
		ui.session.hidden = false;
		ui.loginError.textContent = '';
		ui.name.textContent = state.me.name || 'Mitarbeiter/in';
		ui.team.textContent = state.me.team ? 'Team ' + state.me.team : '';
		updateTitle();
		if (first)
			ui.main.focus();
	}

	function updateTitle() {
		var waiting = waitingItems().length;
		document.title = (waiting ? '(' + waiting + ') ' : '') + 'Konsole – amtsbot';
	}

	function resetConsole() {
		state.queue = [];
		state.mine = {};
		state.current = null;
		state.claiming = null;
		state.lastAnnounced = null;
		queueNodes = {};
		clear(ui.queueList);
		clear(ui.mineList);
		renderQueue();
		renderMine();
		renderChat();
	}

	/* ---- queue ------------------------------------------------------------------------- */

	function itemId(it) {
		return str(it.conversation);
	}

	/* whoever holds the case, if anyone: "agent" as a name or {name}, or "claimed_by" */
	function holder(it) {
		var a = it.agent !== undefined ? it.agent : it.claimed_by;
		if (a && typeof a === 'object')
			a = a.name;
		return typeof a === 'string' && a ? a : null;
	}

	function heldByMe(it) {
		return Object.prototype.hasOwnProperty.call(state.mine, itemId(it));
	}

	function waitingItems() {
		return state.queue.filter(function (it) { return !holder(it) && !heldByMe(it); });
	}

	function waitedSeconds(it) {
		var base = typeof it.waiting_s === 'number' ? it.waiting_s : 0;
		return base + (Date.now() - it.receivedAt) / 1000;
	}

	/*
	 * After a reconnect the server re-sends "claimed" for what we still hold; a conversation
	 * the first queue lists as waiting (or not at all) went back while we were away.
	 */
	function dropStale() {
		Object.keys(state.mine).forEach(function (id) {
			var it = findItem(id);
			if (state.mine[id].stale && (!it || it.state === 'queued'))
				dropConversation(id, 'Ein Gespräch ging während der Verbindungsunterbrechung zurück in die Warteschlange.');
		});
	}

	function waitText(it) {
		return (holder(it) ? 'angefragt vor ' : 'wartet seit ') + duration(waitedSeconds(it));
	}

	function onQueue(f) {
		var now = Date.now();
		var before = {};
		state.queue.forEach(function (it) { before[itemId(it)] = it; });
		state.queue = (Array.isArray(f.items) ? f.items : []).filter(function (it) {
			return it && typeof it === 'object' && itemId(it) !== '';
		});
		state.queue.forEach(function (it) {
			it.receivedAt = now;
			var mine = state.mine[itemId(it)];
			if (mine)
				mine.item = it;
		});
		var fresh = state.queue.filter(function (it) {
			return !before[itemId(it)] && !holder(it) && !heldByMe(it);
		});
		if (state.resync) {
			state.resync = false;
			dropStale();
		}
		renderQueue();
		renderFacts();
		updateTitle();
		var waiting = waitingItems().length;
		var summary = waiting === 0 ? 'Niemand wartet.' :
			(waiting === 1 ? '1 Gespräch wartet.' : waiting + ' Gespräche warten.');
		if (fresh.length) {
			announce('Neu in der Warteschlange: ' + fresh.map(function (it) {
				return reasonLabel(it.reason) + ', ' + channelLabel(it.channel);
			}).join('; ') + '. ' + summary);
		} else if (state.lastAnnounced !== null && state.lastAnnounced !== waiting) {
			announce('Warteschlange: ' + summary);
		}
		state.lastAnnounced = waiting;
	}

	function renderQueue() {
		var seen = {};
		var prev = null;
		state.queue.forEach(function (it) {
			var id = itemId(it);
			if (heldByMe(it))
				return;	/* listed under "Meine Gespräche" */
			seen[id] = true;
			var li = queueNodes[id] || (queueNodes[id] = buildItem(id));
			updateItem(li, it);
			var want = prev ? prev.nextSibling : ui.queueList.firstChild;
			if (want !== li)
				ui.queueList.insertBefore(li, want);
			prev = li;
		});
		Object.keys(queueNodes).forEach(function (id) {
			if (!seen[id]) {
				var li = queueNodes[id];
				var hadFocus = li.contains(document.activeElement);
				li.remove();
				delete queueNodes[id];
				if (hadFocus)
					ui.queueHeading.focus();
			}
		});
		var waiting = waitingItems().length;
		ui.queueCount.textContent = '(' + waiting + ' wartend)';
		ui.queueEmpty.hidden = ui.queueList.childNodes.length > 0;
	}

	function buildItem(id) {
		var li = attrs(el('li', 'ag-item'), { 'data-conversation': id });
		var head = el('div', 'ag-item-head');
		var h = attrs(el('h3', 'ag-item-title'), { id: 'ag-item-' + id });
		head.appendChild(h);
		var chan = el('span', 'ag-badge');
		head.appendChild(chan);
		li.appendChild(head);
		var meta = el('p', 'ag-item-meta');
		var wait = el('span', 'ag-wait');
		meta.appendChild(wait);
		var who = el('span', 'ag-holder');
		meta.appendChild(who);
		li.appendChild(meta);
		var flags = el('p', 'ag-flags');
		li.appendChild(flags);
		var win = el('p', 'ag-window');
		li.appendChild(win);
		var details = el('details', 'ag-transcript');
		var summary = el('summary');
		details.appendChild(summary);
		var list = el('ol', 'ag-transcript-list');
		details.appendChild(list);
		li.appendChild(details);
		var claim = attrs(el('button', 'ag-btn ag-btn--primary ag-claim', 'Übernehmen'), {
			type: 'button', 'aria-describedby': 'ag-item-' + id
		});
		claim.addEventListener('click', function () { claimConversation(id); });
		li.appendChild(claim);
		li.ag = { title: h, chan: chan, wait: wait, who: who, win: win, flags: flags, summary: summary,
			list: list, claim: claim, shown: -1 };
		return li;
	}

	function updateItem(li, it) {
		var n = li.ag;
		var who = holder(it);
		n.title.textContent = reasonLabel(it.reason);
		n.chan.textContent = channelLabel(it.channel);
		n.chan.className = 'ag-badge ag-badge--' + (it.channel === 'messenger' ? 'messenger' : 'web');
		n.wait.textContent = waitText(it);
		n.who.textContent = who ? ' · in Bearbeitung bei ' + who : '';
		li.classList.toggle('ag-item--held', !!who);
		var flags = [];
		if (it.on_duty === false)
			flags.push('Kam außerhalb der Dienstzeit');
		if (it.has_contact)
			flags.push('Kontaktdaten hinterlassen');
		n.flags.textContent = flags.join(' · ');
		n.flags.hidden = flags.length === 0;
		var w = windowText(it.window);
		n.win.textContent = w ? 'Antwortfenster: ' + w : '';
		n.win.hidden = !w;
		var entries = transcriptOf(it);
		if (n.shown !== entries.length) {
			n.shown = entries.length;
			n.summary.textContent = 'Bisheriger Verlauf (' + entries.length +
				(entries.length === 1 ? ' Nachricht)' : ' Nachrichten)');
			clear(n.list);
			entries.forEach(function (e) { n.list.appendChild(entryNode(e, 'li')); });
		}
		n.claim.hidden = !!who;
		n.claim.disabled = state.claiming === itemId(it);
	}

	function tick() {
		if (!state.authed && !state.everAuthed)
			return;
		state.queue.forEach(function (it) {
			var li = queueNodes[itemId(it)];
			if (li)
				li.ag.wait.textContent = waitText(it);
		});
		if (state.current)
			renderFacts();
	}

	/* ---- transcript entries ----------------------------------------------------------------- */

	/*
	 * One shape for everything shown in a log: {from, text, name, seq, at}. Transcript entries
	 * come as {from, text} or in the citizens' frame shapes (message/answer/agent/handoff).
	 */
	function normEntry(e) {
		if (!e || typeof e !== 'object')
			return null;
		var from = str(e.from || e.role || e.who);
		var text = str(e.text);
		if (e.type === 'answer') {
			from = 'bot';
			text = str(e.answer || e.text);
		} else if (e.type === 'agent') {
			from = 'agent';
		} else if (e.type === 'note') {
			from = 'note';
		} else if (e.type === 'handoff') {
			from = 'system';
			text = text || handoffText(e.state);
		}
		if (!text)
			return null;
		if (!FROM[from])
			from = 'system';
		return { from: from, text: text, name: str(e.name || e.agent), seq: e.seq,
			at: typeof e.at === 'string' ? e.at : null };
	}

	function handoffText(st) {
		return st === 'queued' ? 'Wartet auf eine Mitarbeiterin oder einen Mitarbeiter.' :
			st === 'active' ? 'Eine Mitarbeiterin oder ein Mitarbeiter hat übernommen.' :
			st === 'ended' ? 'Zurück an den Bot.' : '';
	}

	function transcriptOf(it) {
		return (Array.isArray(it.transcript) ? it.transcript : []).map(normEntry)
			.filter(function (e) { return e; });
	}

	function entryNode(e, tag) {
		var node = el(tag || 'div', 'ag-msg ag-msg--' + e.from);
		var who = FROM[e.from];
		if (e.from === 'agent' && e.name)
			who = e.name;
		else if (e.from === 'note' && e.name)
			who = 'Interne Notiz von ' + e.name;
		var head = el('p', 'ag-msg-from', who);
		if (e.from === 'note')
			head.appendChild(el('span', 'ag-tag', 'intern – nicht gesendet'));
		if (e.time)
			head.appendChild(el('span', 'ag-msg-time', e.time));
		node.appendChild(head);
		node.appendChild(el('p', 'ag-msg-text', e.text));
		if (e.pending)
			node.appendChild(el('p', 'ag-msg-state', 'wird gesendet …'));
		if (e.failed)
			node.appendChild(el('p', 'ag-msg-failed', 'nicht gesendet: ' + e.failed));
		node.classList.toggle('ag-msg--pending', !!e.pending);
		e.node = node;
		return node;
	}

	/* redraws one entry in place after its state changed (sent, failed) */
	function refreshEntry(e) {
		var old = e.node;
		if (old && old.parentNode)
			old.parentNode.replaceChild(entryNode(e), old);
	}

	/* ---- my conversations ------------------------------------------------------------------ */

	function conversationFor(id, item) {
		var c = state.mine[id];
		if (!c) {
			c = state.mine[id] = { id: id, item: item || null, entries: [], suggestion: '' };
		}
		return c;
	}

	function findItem(id) {
		for (var i = 0; i < state.queue.length; i++) {
			if (itemId(state.queue[i]) === id)
				return state.queue[i];
		}
		return null;
	}

	function claimConversation(id) {
		if (!send({ type: 'claim', conversation: rawId(id) })) {
			toast('Keine Verbindung zum Server. Bitte warten Sie, bis die Verbindung wieder steht.');
			return;
		}
		state.claiming = id;
		renderQueue();
	}

	/* conversation ids go back to the server in the type they came in */
	function rawId(id) {
		var it = findItem(id) || (state.mine[id] && state.mine[id].item);
		if (it && it.conversation !== undefined)
			return it.conversation;
		return id;
	}

	function onClaimed(f) {
		var id = str(f.conversation);
		if (!id)
			return;
		var known = state.mine[id];
		var c = conversationFor(id, findItem(id) || (f.item && typeof f.item === 'object' ? f.item : null));
		if (!c.item)
			c.item = { conversation: f.conversation, channel: f.channel, reason: f.reason, window: f.window };
		['channel', 'reason', 'window'].forEach(function (k) {
			if (f[k] !== undefined)
				c.item[k] = f[k];
		});
		if (Array.isArray(f.transcript)) {
			/* after a reconnect: the stored transcript, plus what it does not have yet */
			var stored = transcriptOf(f);
			var keep = c.entries.filter(function (e) {
				return (e.pending || e.failed) && !stored.some(function (x) {
					return x.from === e.from && x.text === e.text;
				});
			});
			c.entries = stored.concat(keep);
			c.stale = false;
		} else if (!known && c.entries.length === 0) {
			c.entries = transcriptOf(c.item);
		}
		if (f.contact !== undefined)
			c.contact = typeof f.contact === 'string' ? f.contact : '';
		var sug = f.suggestion;
		if (sug && typeof sug === 'object')
			sug = sug.text || sug.answer;
		c.suggestion = typeof sug === 'string' ? sug : '';
		if (state.claiming === id)
			state.claiming = null;
		renderQueue();
		renderMine();
		if (!known || state.current === id || !state.current)
			openConversation(id, !known);
	}

	function renderMine() {
		var ids = Object.keys(state.mine);
		clear(ui.mineList);
		ui.mineList.hidden = ids.length < 2;
		ui.mineHeading.hidden = ids.length < 2;
		if (ids.length < 2)
			return;
		ids.forEach(function (id) {
			var c = state.mine[id];
			var li = el('li', 'ag-mine');
			var b = attrs(el('button', 'ag-btn ag-btn--tab', reasonLabel(c.item && c.item.reason) +
				' · ' + channelLabel(c.item && c.item.channel)), { type: 'button' });
			if (state.current === id)
				b.setAttribute('aria-current', 'true');
			if (c.unread)
				b.appendChild(el('span', 'ag-unread', ' (neue Nachricht)'));
			b.addEventListener('click', function () { openConversation(id, true); });
			li.appendChild(b);
			ui.mineList.appendChild(li);
		});
	}

	function openConversation(id, focus) {
		state.current = id;
		if (state.mine[id])
			state.mine[id].unread = false;
		renderMine();
		renderChat();
		if (focus)
			ui.reply.focus();
	}

	function current() {
		return state.current ? state.mine[state.current] || null : null;
	}

	function renderFacts() {
		var c = current();
		clear(ui.facts);
		if (!c)
			return;
		var it = findItem(c.id) || c.item || {};
		var rows = [['Grund', reasonLabel(it.reason)], ['Kanal', channelLabel(it.channel)]];
		if (it.team)
			rows.push(['Team', str(it.team)]);
		if (typeof it.waiting_s === 'number' && it.receivedAt)
			rows.push(['Angefragt vor', duration(waitedSeconds(it))]);
		if (c.contact)
			rows.push(['Kontakt (vom Bürger hinterlassen)', c.contact]);
		var w = windowText(it.window);
		if (w)
			rows.push(['Antwortfenster', w]);
		rows.forEach(function (r) {
			var div = el('div', 'ag-fact');
			div.appendChild(el('dt', null, r[0]));
			div.appendChild(el('dd', null, r[1]));
			ui.facts.appendChild(div);
		});
	}

	function renderChat() {
		var c = current();
		ui.chatEmpty.hidden = !!c;
		ui.chatBody.hidden = !c;
		ui.chatHeading.textContent = c ? 'Gespräch: ' + reasonLabel(c.item && c.item.reason) :
			'Aktuelles Gespräch';
		renderFacts();
		/* the whole history is not news: fill the log without announcing it */
		ui.log.setAttribute('aria-busy', 'true');
		clear(ui.log);
		if (c)
			c.entries.forEach(function (e) { ui.log.appendChild(entryNode(e)); });
		ui.log.setAttribute('aria-busy', 'false');
		ui.log.scrollTop = ui.log.scrollHeight;
		setActionsBusy(!!(c && c.ending));
		ui.suggestion.hidden = !(c && c.suggestion);
		ui.suggestionText.textContent = c && c.suggestion ? c.suggestion : '';
	}

	function addEntry(id, e) {
		var c = state.mine[id];
		if (!c)
			return;
		e.time = e.time || clock(new Date());
		c.entries.push(e);
		if (state.current === id) {
			var node = entryNode(e);
			ui.log.appendChild(node);
			ui.log.scrollTop = ui.log.scrollHeight;
			return node;
		}
		if (e.from === 'citizen') {
			c.unread = true;
			renderMine();
			announce('Neue Nachricht in einem anderen Gespräch (' + reasonLabel(c.item && c.item.reason) + ').');
		}
		return null;
	}

	function dropConversation(id, note) {
		if (!state.mine[id])
			return;
		var hadFocus = ui.chatBody.contains(document.activeElement);
		delete state.mine[id];
		if (state.current === id) {
			var rest = Object.keys(state.mine);
			state.current = rest.length ? rest[0] : null;
		}
		renderQueue();
		renderMine();
		renderChat();
		if (note)
			announce(note);
		/* only when the focused control went away: never pull focus from elsewhere */
		if (hadFocus && (ui.chatBody.hidden || !ui.chatBody.contains(document.activeElement)))
			ui.chatHeading.focus();
	}

	/* ---- sending ------------------------------------------------------------------------- */

	function send(obj) {
		if (!state.ws || state.ws.readyState !== 1 || (!state.authed && obj.type !== 'auth'))
			return false;
		try {
			state.ws.send(JSON.stringify(obj));
			return true;
		} catch (e) {
			return false;
		}
	}

	function submitText(field, type) {
		var c = current();
		var text = field.value.trim();
		if (!c || !text)
			return;
		if (Array.from(text).length > MAX_TEXT) {
			toast(ERRORS.too_long);
			return;
		}
		if (!send({ type: type, conversation: rawId(c.id), text: text })) {
			toast('Keine Verbindung zum Server – ' + (type === 'note' ? 'die Notiz' : 'die Nachricht') +
				' wurde nicht gesendet. Der Text bleibt im Feld.');
			return;
		}
		field.value = '';
		addEntry(c.id, { from: type === 'note' ? 'note' : 'agent', text: text,
			name: state.me.name, local: true, pending: true });
		field.focus();
	}

	function endConversation(type) {
		var c = current();
		if (!c)
			return;
		if (!send({ type: type, conversation: rawId(c.id) })) {
			toast('Keine Verbindung zum Server. Bitte versuchen Sie es gleich noch einmal.');
			return;
		}
		/* the conversation leaves the console when the server confirms with "ended" */
		c.ending = true;
		setActionsBusy(true);
	}

	function setActionsBusy(busy) {
		ui.release.disabled = busy;
		ui.close.disabled = busy;
	}

	/* ---- frames from the server -------------------------------------------------------------- */

	function onAuthed(f) {
		state.me.name = str(f.name) || state.me.name;
		state.me.team = str(f.team) || state.me.team;
		if (state.everAuthed) {
			state.resync = true;
			Object.keys(state.mine).forEach(function (id) { state.mine[id].stale = true; });
		}
		state.authed = true;
		state.everAuthed = true;
		state.attempt = 0;
		window.clearTimeout(state.authTimer);
		setConn('Verbunden');
		showConsole();
	}

	/* refused login: forget the token, show nothing of the console */
	function loginRefused(f) {
		var ws = state.ws;
		state.ws = null;
		if (ws)
			ws.close();
		window.clearTimeout(state.authTimer);
		window.clearTimeout(state.timer);
		state.timer = 0;
		state.token = null;
		state.authed = false;
		state.everAuthed = false;
		saveToken(null);
		showLogin('Anmeldung fehlgeschlagen: ' + errorText(f));
	}

	function onError(f) {
		if (!state.authed) {
			if (AUTH_ERRORS.indexOf(f.code) >= 0)
				loginRefused(f);
			return;
		}
		var id = str(f.conversation);
		var c = id ? state.mine[id] : null;
		if (state.claiming && (!id || id === state.claiming)) {
			state.claiming = null;
			renderQueue();
		}
		if (c && TEXT_ERRORS.indexOf(f.code) >= 0)
			failPending(c, f);
		if (c && c.ending) {
			c.ending = false;
			if (state.current === id)
				setActionsBusy(false);
		}
		if (c && (f.code === 'not_claimed' || f.code === 'not_found'))
			dropConversation(id);
		toast(errorText(f));
	}

	/* the oldest text still waiting for its echo was refused */
	function failPending(c, f) {
		for (var i = 0; i < c.entries.length; i++) {
			var e = c.entries[i];
			if (e.pending) {
				e.pending = false;
				e.failed = errorText(f);
				refreshEntry(e);
				return;
			}
		}
	}

	/* citizen's words live (clear text); our own words come back once stored */
	function onMessage(f) {
		var id = str(f.conversation);
		var c = state.mine[id];
		var e = normEntry(f);
		if (!e || !c)
			return;
		if (f.type === 'note')
			e.from = 'note';
		if ((e.from === 'agent' || e.from === 'note') && confirmEcho(c, e))
			return;
		addEntry(id, e);
	}

	function confirmEcho(c, e) {
		for (var i = 0; i < c.entries.length; i++) {
			var x = c.entries[i];
			if (x.pending && x.from === e.from && x.text === e.text) {
				x.pending = false;
				x.seq = e.seq;
				refreshEntry(x);
				return true;
			}
		}
		return false;
	}

	var OUTCOMES = {
		released: 'Das Gespräch wurde an den Bot zurückgegeben.',
		closed: 'Der Fall wurde abgeschlossen.',
		timeout: 'Das Gespräch ist wegen Zeitüberschreitung zurück in der Warteschlange.'
	};

	function onEnded(f) {
		var id = str(f.conversation);
		if (!state.mine[id])
			return;
		var note = OUTCOMES[f.outcome] || 'Sie bearbeiten dieses Gespräch nicht mehr.';
		dropConversation(id, note);
		if (f.outcome === 'timeout')
			toast(note);
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
		if (f.type === 'error') {
			onError(f);
			return;
		}
		if (f.type === 'auth_ok') {
			onAuthed(f);
			return;
		}
		if (!state.authed)
			return;
		switch (f.type) {
		case 'queue':
			onQueue(f);
			break;
		case 'claimed':
			onClaimed(f);
			break;
		case 'message':
		case 'note':
			onMessage(f);
			break;
		case 'ended':
			onEnded(f);
			break;
		}
	}

	/* ---- connection ------------------------------------------------------------------------ */

	function socketUrl() {
		var u = new URL('/agent/ws', window.location.href);
		u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
		u.hash = '';
		u.search = '';
		return u.href;
	}

	function connect() {
		if (state.ws || state.timer || !state.token)
			return;
		var ws;
		try {
			ws = new WebSocket(socketUrl());
		} catch (e) {
			scheduleReconnect();
			return;
		}
		state.ws = ws;
		state.authed = false;
		ws.onopen = function () {
			ws.send(JSON.stringify({ type: 'auth', token: state.token }));
			window.clearTimeout(state.authTimer);
			state.authTimer = window.setTimeout(function () {
				if (state.ws === ws && !state.authed && !state.everAuthed) {
					state.ws = null;
					ws.close();
					showLogin('Der Server antwortet nicht. Bitte versuchen Sie es später noch einmal.');
				}
			}, AUTH_TIMEOUT_MS);
		};
		ws.onmessage = function (ev) {
			if (state.ws === ws && typeof ev.data === 'string')
				onFrame(ev.data);
		};
		ws.onclose = function () {
			if (state.ws !== ws)
				return;
			state.ws = null;
			state.authed = false;
			if (!state.everAuthed) {
				window.clearTimeout(state.authTimer);
				showLogin('Keine Verbindung zum Server. Bitte versuchen Sie es später noch einmal.');
				return;
			}
			scheduleReconnect();
		};
		ws.onerror = function () { /* onclose follows */ };
	}

	/* Exponential back-off 0.5 s .. 30 s with jitter, like the widget. */
	function scheduleReconnect() {
		if (state.timer)
			return;
		var cap = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, state.attempt));
		var delay = cap / 2 + Math.random() * cap / 2;
		state.attempt = Math.min(state.attempt + 1, 16);
		setConn('Verbindung unterbrochen – neuer Versuch in ' + Math.max(1, Math.round(delay / 1000)) +
			' s …', true);
		state.timer = window.setTimeout(function () {
			state.timer = 0;
			setConn('Verbinde neu …', true);
			connect();
		}, delay);
	}

	function reconnectNow() {
		if (state.ws || !state.everAuthed)
			return;
		window.clearTimeout(state.timer);
		state.timer = 0;
		state.attempt = 0;
		connect();
	}

	function logout() {
		var ws = state.ws;
		state.ws = null;
		if (ws)
			ws.close(1000);
		window.clearTimeout(state.timer);
		window.clearTimeout(state.authTimer);
		state.timer = 0;
		state.token = null;
		state.authed = false;
		state.everAuthed = false;
		saveToken(null);
		ui.token.value = '';
		showLogin('Sie sind abgemeldet.');
	}

	/* ---- start ------------------------------------------------------------------------------ */

	function bind() {
		['main', 'login', 'console', 'session', 'name', 'team', 'conn', 'token', 'toast', 'live',
			'facts', 'log', 'reply', 'note', 'suggestion', 'release', 'close'].forEach(function (k) {
			ui[k] = $('ag-' + k);
		});
		ui.loginForm = $('ag-login-form');
		ui.loginBtn = $('ag-login-btn');
		ui.loginError = $('ag-login-error');
		ui.queueList = $('ag-queue-list');
		ui.queueEmpty = $('ag-queue-empty');
		ui.queueCount = $('ag-queue-count');
		ui.queueHeading = $('ag-queue-h');
		ui.mineList = $('ag-mine-list');
		ui.mineHeading = $('ag-mine-h');
		ui.chatHeading = $('ag-chat-h');
		ui.chatEmpty = $('ag-chat-empty');
		ui.chatBody = $('ag-chat-body');
		ui.suggestionText = $('ag-suggestion-text');
		ui.queueHeading.setAttribute('tabindex', '-1');

		ui.loginForm.addEventListener('submit', function (ev) {
			ev.preventDefault();
			var token = ui.token.value.trim();
			if (!token) {
				ui.loginError.textContent = 'Bitte geben Sie Ihren Zugangscode ein.';
				ui.token.focus();
				return;
			}
			ui.loginError.textContent = '';
			ui.loginBtn.disabled = true;
			state.token = token;
			saveToken(token);
			ui.token.value = '';
			connect();
		});
		$('ag-logout').addEventListener('click', logout);
		$('ag-reply-form').addEventListener('submit', function (ev) {
			ev.preventDefault();
			submitText(ui.reply, 'message');
		});
		$('ag-note-form').addEventListener('submit', function (ev) {
			ev.preventDefault();
			submitText(ui.note, 'note');
		});
		[[ui.reply, 'ag-reply-form'], [ui.note, 'ag-note-form']].forEach(function (p) {
			p[0].addEventListener('keydown', function (ev) {
				if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
					ev.preventDefault();
					$(p[1]).requestSubmit();
				}
			});
		});
		$('ag-suggestion-use').addEventListener('click', function () {
			var c = current();
			if (!c || !c.suggestion)
				return;
			ui.reply.value = c.suggestion;
			ui.reply.focus();
			ui.reply.setSelectionRange(ui.reply.value.length, ui.reply.value.length);
		});
		ui.release.addEventListener('click', function () { endConversation('release'); });
		ui.close.addEventListener('click', function () { endConversation('close'); });
		window.addEventListener('online', reconnectNow);
		window.setInterval(tick, 1000);
	}

	function start() {
		bind();
		if (state.token) {
			setConn('Verbinde …');
			ui.login.hidden = true;
			connect();
		} else {
			showLogin('');
		}
	}

	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', start);
	else
		start();
})();
