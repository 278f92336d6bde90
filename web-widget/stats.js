/*
 * amtsbot statistics for editors (/stats): log in with an editor's token, read
 * /stats/api/report (figures of a period next to the one before, unanswered questions,
 * suggestions, answers due for review) and draw the charts as inline SVG. No third-party
 * requests; every text from the server goes in through textContent. The token lives only
 * in sessionStorage, as in the agent console.
 */
(function () {
	'use strict';

	var STORE_KEY = 'amtsbot-stats';
	var SVG = 'http://www.w3.org/2000/svg';
	var DAYS = ['Montag', 'Dienstag', 'Mittwoch', 'Donnerstag', 'Freitag', 'Samstag', 'Sonntag'];
	var TOTALS = {
		conversations: 'Gespräche', messages: 'Nachrichten', questions: 'Fragen',
		answers: 'Antworten des Bots', answered: 'davon beantwortet',
		fallbacks: 'nicht verstanden', suggestions: 'Vorschläge', handoffs: 'Übergaben an Mitarbeitende',
		wait_median_s: 'Wartezeit bis zur Übernahme, Median (Sekunden)',
		wait_p90_s: 'Wartezeit bis zur Übernahme, 90 % (Sekunden)',
		helpful: 'Bewertet: hilfreich', unhelpful: 'Bewertet: nicht hilfreich'
	};
	var GROUPS = {
		intent: 'Anliegen', service: 'Leistungen', channel: 'Kanäle', handoff: 'Übergaben nach Grund',
		netiquette: 'Netiquette-Hinweise', helpful: 'Hilfreich nach Anliegen',
		unhelpful: 'Nicht hilfreich nach Anliegen'
	};
	var KINDS = { office: 'Amt', service: 'Leistung', intent: 'Anliegen' };
	var ui = {};
	var token = null;

	function $(id) { return document.getElementById(id); }

	function el(tag, text, cls) {
		var e = document.createElement(tag);
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		if (cls)
			e.className = cls;
		return e;
	}

	function svg(tag, attrs) {
		var e = document.createElementNS(SVG, tag);
		Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
		return e;
	}

	function fmt(n) {
		return n === null || n === undefined ? '–' : Number(n).toLocaleString('de-DE');
	}

	function loadToken() {
		try {
			var s = JSON.parse(window.sessionStorage.getItem(STORE_KEY) || 'null');
			return s && typeof s.token === 'string' && s.token ? s.token : null;
		} catch (e) { return null; }
	}

	function saveToken(t) {
		try {
			if (t)
				window.sessionStorage.setItem(STORE_KEY, JSON.stringify({ token: t }));
			else
				window.sessionStorage.removeItem(STORE_KEY);
		} catch (e) { /* storage disabled: the login lasts as long as the page */ }
	}

	function status(text, error) {
		ui.status.textContent = text || '';
		ui.status.className = 'st-status' + (error ? ' st-status--error' : '');
	}

	function showLogin(message) {
		token = null;
		saveToken(null);
		ui.board.hidden = true;
		ui.session.hidden = true;
		ui.login.hidden = false;
		ui.loginError.textContent = message || '';
		ui.token.value = '';
		ui.token.focus();
	}

	function query() {
		var q = [];
		if (ui.since.value)
			q.push('since=' + encodeURIComponent(ui.since.value));
		if (ui.until.value)
			q.push('until=' + encodeURIComponent(ui.until.value));
		return q.length ? '?' + q.join('&') : '';
	}

	function api(path) {
		return fetch(path + query(), {
			headers: { Authorization: 'Bearer ' + token },
			cache: 'no-store', credentials: 'omit'
		});
	}

	/* 401/403 send back to the login with the reason */
	function refused(res) {
		if (res.status === 401) {
			showLogin('Der Zugangscode ist ungültig.');
			return true;
		}
		if (res.status === 403) {
			showLogin('Dieser Zugang ist nicht für die Redaktion freigeschaltet (Rolle „editor“ nötig).');
			return true;
		}
		return false;
	}

	/* ---- tables ----------------------------------------------------------------- */

	function table(t, caption, heads, rows, numeric) {
		var thead = el('thead'), tr = el('tr'), tbody = el('tbody');
		t.textContent = '';
		t.appendChild(el('caption', caption));
		heads.forEach(function (h, i) {
			var th = el('th', h, numeric && numeric[i] ? 'st-num' : null);
			th.setAttribute('scope', 'col');
			tr.appendChild(th);
		});
		thead.appendChild(tr);
		t.appendChild(thead);
		rows.forEach(function (r) {
			var row = el('tr');
			r.forEach(function (c, i) {
				var cell = el(i === 0 ? 'th' : 'td', null, numeric && numeric[i] ? 'st-num' : null);
				if (i === 0)
					cell.setAttribute('scope', 'row');
				if (c && c.nodeType)
					cell.appendChild(c);
				else
					cell.textContent = c === null || c === undefined ? '–' : String(c);
				row.appendChild(cell);
			});
			tbody.appendChild(row);
		});
		if (!rows.length) {
			var empty = el('tr'), td = el('td', 'Keine Einträge in diesem Zeitraum.', 'st-empty');
			td.colSpan = heads.length;
			empty.appendChild(td);
			tbody.appendChild(empty);
		}
		t.appendChild(tbody);
	}

	function change(now, before) {
		if (before === null || before === undefined || now === null || now === undefined)
			return el('span', '–');
		var d = now - before, s = el('span', (d > 0 ? '+' : '') + fmt(d));
		if (before)
			s.textContent += ' (' + (d > 0 ? '+' : '') + Math.round(100 * d / before) + ' %)';
		return s;
	}

	function pairRows(obj, label) {
		return Object.keys(obj || {}).map(function (k) {
			return { key: k, label: label ? label(k) : k, now: obj[k].now, before: obj[k].before };
		}).sort(function (a, b) { return (b.now || 0) - (a.now || 0) || (a.key < b.key ? -1 : 1); });
	}

	function renderTotals(r) {
		var rows = pairRows(r.totals, function (k) { return TOTALS[k] || k; });
		var order = Object.keys(TOTALS);
		rows.sort(function (a, b) { return order.indexOf(a.key) - order.indexOf(b.key); });
		var share = r.answered_share || {};
		rows.splice(5, 0, {
			label: 'Anteil beantwortet (%)',
			now: share.now === null ? null : Math.round(share.now * 1000) / 10,
			before: share.before === null ? null : Math.round(share.before * 1000) / 10
		});
		ui.compare.textContent = 'Zeitraum ' + r.period.since + ' bis ' + r.period.until +
			', verglichen mit ' + r.previous.since + ' bis ' + r.previous.until + '.';
		table(ui.totals, 'Kennzahlen im Zeitraum und im Vorzeitraum gleicher Länge',
			['Kennzahl', 'Zeitraum', 'Vorzeitraum', 'Veränderung'],
			rows.map(function (x) { return [x.label, fmt(x.now), fmt(x.before), change(x.now, x.before)]; }),
			[false, true, true, true]);
	}

	function renderGroups(r) {
		ui.groups.textContent = '';
		Object.keys(GROUPS).forEach(function (g) {
			if (!r.groups || !r.groups[g])
				return;
			var wrap = el('div'), t = el('table', null, 'st-table');
			table(t, GROUPS[g], ['Name', 'Zeitraum', 'Vorzeitraum'],
				pairRows(r.groups[g]).map(function (x) { return [x.label, fmt(x.now), fmt(x.before)]; }),
				[false, true, true]);
			wrap.appendChild(t);
			ui.groups.appendChild(wrap);
		});
	}

	/* ---- charts (inline SVG) -------------------------------------------------------- */

	function legend() {
		var l = el('p', null, 'st-legend');
		l.appendChild(el('span', 'Zeitraum'));
		l.appendChild(el('span', 'Vorzeitraum', 'st-legend--before'));
		return l;
	}

	/* horizontal bars, now and before per row; the table next to it has the numbers */
	function barChart(box, title, rows) {
		box.textContent = '';
		rows = rows.slice(0, 10);
		if (!rows.length) {
			box.appendChild(el('p', 'Keine Daten in diesem Zeitraum.', 'st-empty'));
			return;
		}
		var max = 1, rowH = 34, left = 170, width = 560, h = rows.length * rowH + 8;
		rows.forEach(function (r) { max = Math.max(max, r.now || 0, r.before || 0); });
		var s = svg('svg', { viewBox: '0 0 ' + width + ' ' + h, role: 'img' });
		var t = svg('title', {});
		t.textContent = title + ': ' + rows.map(function (r) {
			return r.label + ' ' + fmt(r.now) + ' (vorher ' + fmt(r.before) + ')';
		}).join(', ');
		s.appendChild(t);
		rows.forEach(function (r, i) {
			var y = i * rowH + 4, span = width - left - 60;
			var label = svg('text', { x: left - 8, y: y + 18, 'text-anchor': 'end' });
			label.textContent = r.label.length > 24 ? r.label.slice(0, 23) + '…' : r.label;
			s.appendChild(label);
			s.appendChild(svg('rect', { x: left, y: y + 2, height: 14, 'class': 'st-bar--now',
				width: Math.max(1, span * (r.now || 0) / max) }));
			s.appendChild(svg('rect', { x: left, y: y + 18, height: 8, 'class': 'st-bar--before',
				width: Math.max(1, span * (r.before || 0) / max) }));
			var v = svg('text', { x: left + span * (r.now || 0) / max + 6, y: y + 14 });
			v.textContent = fmt(r.now);
			s.appendChild(v);
		});
		box.appendChild(s);
		box.appendChild(legend());
	}

	/* 7 x 24 grid: darker = more questions; the title names the busiest hours */
	function hoursChart(box, hours) {
		var grid = [], max = 0, best = [];
		box.textContent = '';
		for (var d = 0; d < 7; d++)
			grid.push(new Array(24).fill(0));
		Object.keys(hours || {}).forEach(function (k) {
			var m = /^([1-7])-(\d\d)$/.exec(k);
			if (!m)
				return;
			var n = hours[k].now || 0;
			grid[m[1] - 1][+m[2]] = n;
			max = Math.max(max, n);
			best.push({ d: m[1] - 1, h: +m[2], n: n });
		});
		best.sort(function (a, b) { return b.n - a.n; });
		if (!max) {
			box.appendChild(el('p', 'Keine Fragen in diesem Zeitraum.', 'st-empty'));
			return;
		}
		var cw = 20, ch = 22, left = 90, top = 20;
		var s = svg('svg', { viewBox: '0 0 ' + (left + 24 * cw + 4) + ' ' + (top + 7 * ch + 4), role: 'img' });
		var t = svg('title', {});
		t.textContent = 'Meiste Fragen: ' + best.slice(0, 3).map(function (b) {
			return DAYS[b.d] + ' ' + b.h + ' Uhr (' + fmt(b.n) + ')';
		}).join(', ');
		s.appendChild(t);
		for (var h = 0; h < 24; h += 3) {
			var ht = svg('text', { x: left + h * cw + 2, y: 14 });
			ht.textContent = h + ' Uhr';
			s.appendChild(ht);
		}
		grid.forEach(function (row, di) {
			var dt = svg('text', { x: left - 8, y: top + di * ch + 15, 'text-anchor': 'end' });
			dt.textContent = DAYS[di].slice(0, 2);
			s.appendChild(dt);
			row.forEach(function (n, hi) {
				/* lightness 96 % (none) to 25 % (most): the primary blue's hue */
				var l = n ? Math.round(85 - 60 * n / max) : 96;
				s.appendChild(svg('rect', { x: left + hi * cw, y: top + di * ch, width: cw - 2,
					height: ch - 2, fill: 'hsl(213, 65%, ' + l + '%)' }));
			});
		});
		box.appendChild(s);
		box.appendChild(el('p', t.textContent + '.'));
	}

	/* ---- the report ----------------------------------------------------------------- */

	function render(r) {
		if (!ui.since.value)
			ui.since.value = r.period.since;
		if (!ui.until.value)
			ui.until.value = r.period.until;
		renderTotals(r);
		barChart(ui.intentsChart, 'Häufigste Anliegen', pairRows(r.groups.intent));
		hoursChart(ui.hoursChart, r.groups.hour);
		barChart(ui.channelsChart, 'Antworten nach Kanal', pairRows(r.groups.channel));
		renderGroups(r);
		table(ui.unanswered, 'Unbeantwortete Fragen, häufigste zuerst',
			['Frage (ohne persönliche Daten)', 'Anzahl', 'Formulierungen', 'Nächstliegendes Anliegen'],
			(r.unanswered || []).map(function (u) {
				return [u.text, fmt(u.count), fmt(u.variants), u.closest || 'keins'];
			}), [false, true, true, false]);
		table(ui.sugg, 'Vorschläge im Zeitraum', ['Tag', 'Kanal', 'Vorschlag'],
			(r.suggestions || []).map(function (x) { return [x.day, x.channel || '–', x.text]; }));
		table(ui.stale, 'Zuletzt vor mehr als der eingestellten Frist geprüft',
			['Name', 'Art', 'Kennung', 'Team', 'Geprüft am'],
			(r.stale || []).map(function (x) {
				return [x.name, KINDS[x.kind] || x.kind, x.id, x.team || '–', x.reviewed];
			}));
	}

	function load() {
		status('Die Zahlen werden geladen …');
		return api('/stats/api/report').then(function (res) {
			if (refused(res))
				return;
			if (!res.ok)
				return res.json().catch(function () { return {}; }).then(function (e) {
					status(e.message || 'Die Statistik konnte nicht geladen werden.', true);
				});
			return res.json().then(function (r) {
				ui.login.hidden = true;
				ui.board.hidden = false;
				ui.session.hidden = false;
				render(r);
				status('Stand: ' + new Date().toLocaleString('de-DE') + '.');
			});
		}).catch(function () {
			status('Der Server ist nicht erreichbar.', true);
		});
	}

	function downloadCsv() {
		api('/stats/api/export.csv').then(function (res) {
			if (refused(res))
				return;
			if (!res.ok) {
				status('Der Export ist fehlgeschlagen.', true);
				return;
			}
			return res.blob().then(function (b) {
				var a = el('a');
				a.href = URL.createObjectURL(b);
				a.download = 'amtsbot-statistik.csv';
				document.body.appendChild(a);
				a.click();
				a.remove();
				setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
				status('Die CSV-Datei wurde heruntergeladen.');
			});
		});
	}

	function init() {
		['login', 'board', 'session', 'status', 'compare', 'totals', 'groups', 'unanswered',
			'sugg', 'stale', 'since', 'until', 'token'].forEach(function (k) { ui[k] = $('st-' + k); });
		ui.loginError = $('st-login-error');
		ui.intentsChart = $('st-intents-chart');
		ui.hoursChart = $('st-hours-chart');
		ui.channelsChart = $('st-channels-chart');
		$('st-login-form').addEventListener('submit', function (e) {
			e.preventDefault();
			var t = ui.token.value.trim();
			if (!t) {
				ui.loginError.textContent = 'Bitte geben Sie Ihren Zugangscode ein.';
				return;
			}
			token = t;
			saveToken(t);
			load();
		});
		$('st-period').addEventListener('submit', function (e) {
			e.preventDefault();
			load();
		});
		$('st-csv').addEventListener('click', downloadCsv);
		$('st-logout').addEventListener('click', function () { showLogin(''); });
		token = loadToken();
		if (token)
			load();
	}

	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', init);
	else
		init();
}());
