/* SPDX-License-Identifier: MIT */
/* dmabufd's live page. Everything it shows comes from this daemon's own API
 * (same origin, CSP connect-src 'self'). Every name from the kernel or a
 * process (buffer names are set by any process) is put into the page as text:
 * textContent and createTextNode only, never innerHTML or a parsed string. */
'use strict';

const POLL_MS = 2000;
const ROWS_MAX = 500; /* a busy device has 20,000 buffers: the DOM gets the first ones */
const SVG_NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#3b6fb6', '#d9822b', '#2e9e5b', '#b23a48', '#7a4fb3', '#8c6d31', '#1c9aa8', '#c4479b',
        '#5a6b7d', '#a8a43a'];

const view = {
        lastCollectedAt: null,
        sort: { key: 'pss_bytes', desc: true },
        state: null,
};

/* ---- DOM helpers: text only ---- */

function el(tag, attrs, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {}))
                e.setAttribute(k, v);
        for (const c of children)
                e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
        return e;
}

function svg(tag, attrs) {
        const e = document.createElementNS(SVG_NS, tag);
        for (const [k, v] of Object.entries(attrs || {}))
                e.setAttribute(k, String(v));
        return e;
}

function clear(e) {
        while (e.firstChild)
                e.removeChild(e.firstChild);
        return e;
}

function nullCell(cls) {
        return el('td', { class: cls ? cls + ' null' : 'null' }, 'unknown');
}

function formatBytes(n) {
        if (n === null || n === undefined)
                return 'unknown';
        const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
        let i = 0, v = n;
        while (v >= 1024 && i < units.length - 1) {
                v /= 1024;
                i++;
        }
        return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[i];
}

function text(v) {
        return v === null || v === undefined ? null : String(v);
}

/* A cell for a value that may be unknown (null): shown as "unknown", never 0. */
function cell(v, kind) {
        if (v === null || v === undefined)
                return nullCell(kind === 'text' ? '' : 'num');
        if (kind === 'bytes')
                return el('td', { class: 'num', title: String(v) + ' bytes' }, formatBytes(v));
        if (kind === 'num')
                return el('td', { class: 'num' }, String(v));
        return el('td', {}, String(v));
}

function setStatus(message, isError) {
        const s = document.getElementById('status');
        s.textContent = message;
        s.className = isError ? 'status error' : 'status';
}

async function getJSON(url) {
        const r = await fetch(url, { cache: 'no-store' });
        const body = await r.text();
        let json;
        try {
                json = JSON.parse(body);
        } catch (e) {
                json = undefined;
        }
        return { ok: r.ok, status: r.status, json, body };
}

/* ---- charts: hand-written SVG ---- */

const W = 600, H = 220, PAD_L = 70, PAD_R = 10, PAD_T = 10, PAD_B = 26;

function legend(names) {
        const l = el('div', { class: 'legend' });
        names.forEach((name, i) => {
                const sw = svg('svg', { class: 'swatch', viewBox: '0 0 10 10', width: 10, height: 10 });
                sw.appendChild(svg('rect', { width: 10, height: 10, fill: COLORS[i % COLORS.length] }));
                const item = el('span', { class: 'legend-item' });
                item.appendChild(sw);
                item.appendChild(document.createTextNode(name === null ? '(unknown)' : name));
                l.appendChild(item);
        });
        return l;
}

function timeLabel(iso) {
        return iso.slice(11, 19);
}

/* series: [{name, values: [number|null per point]}]; times: collected_at per
 * point. A null value leaves a gap: an unknown figure is never drawn as 0. */
function lineChart(container, times, series) {
        clear(container);
        const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
        root.setAttribute('data-series', String(series.length));
        root.setAttribute('data-points', String(times.length));
        let max = 0;
        for (const s of series)
                for (const v of s.values)
                        if (v !== null && v > max)
                                max = v;
        if (max === 0)
                max = 1;
        const x = i => PAD_L + (times.length < 2 ? (W - PAD_L - PAD_R) / 2 : i * (W - PAD_L - PAD_R) / (times.length - 1));
        const y = v => PAD_T + (H - PAD_T - PAD_B) * (1 - v / max);
        for (const f of [0, 0.5, 1]) {
                root.appendChild(svg('line', { class: 'grid', x1: PAD_L, x2: W - PAD_R, y1: y(max * f), y2: y(max * f) }));
                const t = svg('text', { x: PAD_L - 4, y: y(max * f) + 4, 'text-anchor': 'end' });
                t.textContent = formatBytes(Math.round(max * f));
                root.appendChild(t);
        }
        root.appendChild(svg('line', { class: 'axis', x1: PAD_L, x2: PAD_L, y1: PAD_T, y2: H - PAD_B }));
        root.appendChild(svg('line', { class: 'axis', x1: PAD_L, x2: W - PAD_R, y1: H - PAD_B, y2: H - PAD_B }));
        if (times.length > 0) {
                const t0 = svg('text', { x: PAD_L, y: H - 8, 'text-anchor': 'start' });
                t0.textContent = timeLabel(times[0]);
                const t1 = svg('text', { x: W - PAD_R, y: H - 8, 'text-anchor': 'end' });
                t1.textContent = timeLabel(times[times.length - 1]) + ' UTC';
                root.appendChild(t0);
                root.appendChild(t1);
        }
        series.forEach((s, si) => {
                let d = '', pen = false, known = 0;
                s.values.forEach((v, i) => {
                        if (v === null) {
                                pen = false;
                                return;
                        }
                        d += (pen ? ' L' : ' M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1);
                        pen = true;
                        known++;
                });
                const color = COLORS[si % COLORS.length];
                const path = svg('path', { class: 'series', d: d.trim() || 'M0 0', stroke: color });
                path.setAttribute('data-name', s.name === null ? '' : s.name);
                path.setAttribute('data-points', String(known));
                if (!d)
                        path.setAttribute('visibility', 'hidden');
                root.appendChild(path);
                /* A single point has no line to show: a dot does. */
                s.values.forEach((v, i) => {
                        if (v !== null && (i === 0 || s.values[i - 1] === null) &&
                            (i === s.values.length - 1 || s.values[i + 1] === null))
                                root.appendChild(svg('circle', { cx: x(i), cy: y(v), r: 2.5, fill: color }));
                });
        });
        container.appendChild(root);
        container.appendChild(legend(series.map(s => s.name)));
}

function barChart(container, bars) {
        clear(container);
        const rowH = 18, h = Math.max(1, bars.length) * rowH + 6, labelW = 170;
        const root = svg('svg', { class: 'bars', viewBox: `0 0 ${W} ${h}`, role: 'img' });
        root.setAttribute('data-series', '1');
        root.setAttribute('data-points', String(bars.length));
        const max = Math.max(1, ...bars.map(b => b.value || 0));
        bars.forEach((b, i) => {
                const label = svg('text', { x: labelW - 4, y: i * rowH + 15, 'text-anchor': 'end' });
                label.textContent = b.label;
                root.appendChild(label);
                const wBar = b.value === null ? 0 : (W - labelW - 90) * b.value / max;
                const r = svg('rect', { class: 'bar', x: labelW, y: i * rowH + 4, height: rowH - 6,
                        width: Math.max(wBar, 1).toFixed(1) });
                r.setAttribute('data-value', b.value === null ? '' : String(b.value));
                root.appendChild(r);
                const v = svg('text', { x: labelW + wBar + 4, y: i * rowH + 15 });
                v.textContent = formatBytes(b.value);
                root.appendChild(v);
        });
        container.appendChild(root);
}

function drawCharts(history) {
        const points = history.points;
        const times = points.map(p => p.collected_at);
        lineChart(document.getElementById('chart-totals'), times, [
                { name: 'total', values: points.map(p => p.totals.bytes) },
                { name: 'userspace', values: points.map(p => p.totals.userspace_bytes) },
                { name: 'kernel-only', values: points.map(p => p.totals.kernel_only_bytes) },
        ]);
        /* One series per exporter seen in any point; absent from a point is a gap. */
        const names = [];
        for (const p of points)
                for (const e of p.exporters)
                        if (!names.includes(e.name))
                                names.push(e.name);
        names.sort((a, b) => String(a).localeCompare(String(b)));
        lineChart(document.getElementById('chart-exporters'), times, names.map(n => ({
                name: n,
                values: points.map(p => {
                        const e = p.exporters.find(x => x.name === n);
                        return e ? e.bytes : null;
                }),
        })));
        const last = points.length ? points[points.length - 1].top_processes : [];
        barChart(document.getElementById('chart-top'), last.map(p => ({
                label: `${p.comm === null ? '?' : p.comm} (${p.pid})`,
                value: p.pss_bytes,
        })));
}

/* ---- tables ---- */

function header(table, columns, sortable) {
        const tr = el('tr');
        for (const c of columns) {
                const th = el('th', {}, c.title);
                if (sortable) {
                        th.classList.add('sortable');
                        th.setAttribute('data-key', c.key);
                        if (view.sort.key === c.key)
                                th.classList.add(view.sort.desc ? 'sorted-desc' : 'sorted-asc');
                        th.addEventListener('click', () => {
                                view.sort = { key: c.key, desc: view.sort.key === c.key ? !view.sort.desc : c.kind !== 'text' };
                                drawProcesses(view.state);
                        });
                }
                tr.appendChild(th);
        }
        table.appendChild(el('thead', {}, tr));
}

function truncatedNote(table, shown, total, what) {
        if (total > shown)
                table.appendChild(el('caption', {}, `First ${shown} of ${total} ${what}`));
}

const PROCESS_COLUMNS = [
        { key: 'pid', title: 'pid', kind: 'num' },
        { key: 'comm', title: 'comm', kind: 'text' },
        { key: 'cgroup', title: 'cgroup', kind: 'text' },
        { key: 'rss_bytes', title: 'rss', kind: 'bytes' },
        { key: 'pss_bytes', title: 'pss', kind: 'bytes' },
        { key: 'fds', title: 'fds', kind: 'num' },
        { key: 'maps', title: 'maps', kind: 'num' },
];

function compare(a, b, key, desc) {
        const x = a[key], y = b[key];
        /* Unknown sorts last either way. */
        if (x === null || x === undefined)
                return y === null || y === undefined ? a.pid - b.pid : 1;
        if (y === null || y === undefined)
                return -1;
        const c = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
        return (desc ? -c : c) || a.pid - b.pid;
}

function drawProcesses(state) {
        const table = clear(document.getElementById('table-processes'));
        header(table, PROCESS_COLUMNS, true);
        const rows = state.processes.slice().sort((a, b) => compare(a, b, view.sort.key, view.sort.desc));
        const body = el('tbody');
        for (const p of rows.slice(0, ROWS_MAX)) {
                const tr = el('tr', { 'data-pid': String(p.pid) });
                for (const c of PROCESS_COLUMNS)
                        tr.appendChild(cell(p[c.key], c.kind));
                body.appendChild(tr);
        }
        table.appendChild(body);
        truncatedNote(table, Math.min(rows.length, ROWS_MAX), rows.length, 'processes');
}

function holdersText(holders) {
        return holders.map(h => `${h.pid} (${h.fds} fd, ${h.maps} map)`).join(', ');
}

function drawBuffers(state) {
        const table = clear(document.getElementById('table-buffers'));
        header(table, [{ title: 'inode' }, { title: 'size' }, { title: 'exporter' }, { title: 'name' },
                { title: 'holders' }, { title: 'attachments' }], false);
        const body = el('tbody');
        for (const b of state.buffers.slice(0, ROWS_MAX)) {
                const tr = el('tr', { 'data-inode': String(b.inode) });
                tr.appendChild(cell(b.inode, 'num'));
                tr.appendChild(cell(b.size, 'bytes'));
                tr.appendChild(cell(b.exporter, 'text'));
                tr.appendChild(b.name === null ? el('td', { class: 'null' }, 'unnamed') : el('td', { class: 'name' }, b.name));
                tr.appendChild(el('td', {}, holdersText(b.holders)));
                tr.appendChild(b.attachments === null ? nullCell('') : el('td', {}, b.attachments.join(', ')));
                body.appendChild(tr);
        }
        table.appendChild(body);
        truncatedNote(table, Math.min(state.buffers.length, ROWS_MAX), state.buffers.length, 'buffers');
}

function drawExporters(state) {
        const table = clear(document.getElementById('table-exporters'));
        header(table, [{ title: 'exporter' }, { title: 'buffers' }, { title: 'bytes' }], false);
        const body = el('tbody');
        for (const e of state.exporters) {
                const tr = el('tr');
                tr.appendChild(cell(e.name, 'text'));
                tr.appendChild(cell(e.buffers, 'num'));
                tr.appendChild(cell(e.bytes, 'bytes'));
                body.appendChild(tr);
        }
        table.appendChild(body);
}

/* Event sources are only in /metrics (dmabufd_source_up{source="..."}); the
 * kernel data sources are also in the state. */
function parseSourcesUp(metricsText) {
        const up = {};
        const re = /^dmabufd_source_up\{source="([a-z_]+)"\} ([01])$/;
        for (const line of metricsText.split('\n')) {
                const m = re.exec(line);
                if (m)
                        up[m[1]] = m[2] === '1';
        }
        return up;
}

const DATA_SOURCES = ['sysfs', 'procfs', 'debugfs', 'bpf'];

function drawSources(state, up) {
        const table = clear(document.getElementById('table-sources'));
        header(table, [{ title: 'source' }, { title: 'kind' }, { title: 'state' }], false);
        const body = el('tbody');
        const names = Object.keys(state.sources).concat(Object.keys(up).filter(n => !(n in state.sources)));
        for (const n of names) {
                const isUp = n in state.sources ? state.sources[n] : up[n];
                const tr = el('tr', { 'data-source': n });
                tr.appendChild(el('td', {}, n));
                tr.appendChild(el('td', {}, DATA_SOURCES.includes(n) || n in state.sources ? 'kernel data' : 'events'));
                tr.appendChild(el('td', { class: isUp ? 'up' : 'down' }, isUp ? 'up' : 'down'));
                body.appendChild(tr);
        }
        table.appendChild(body);
}

function drawSnapshotList(list) {
        const table = clear(document.getElementById('table-snapshots'));
        header(table, [{ title: 'id' }, { title: 'taken at' }, { title: 'trigger' }, { title: 'bytes' }], false);
        const body = el('tbody');
        for (const s of list) {
                const tr = el('tr');
                const a = el('a', { href: '#snapshot/' + encodeURIComponent(s.id) }, s.id);
                tr.appendChild(el('td', {}, a));
                tr.appendChild(cell(s.taken_at, 'text'));
                tr.appendChild(cell(s.trigger.kind, 'text'));
                tr.appendChild(cell(s.bytes, 'bytes'));
                body.appendChild(tr);
        }
        if (!list.length)
                body.appendChild(el('tr', {}, el('td', { colspan: '4', class: 'null' }, 'none yet')));
        table.appendChild(body);
}

/* ---- the live view ---- */

async function refresh() {
        try {
                const h = await getJSON('/api/v1/history');
                if (!h.ok || !h.json)
                        throw new Error(`/api/v1/history: ${h.json && h.json.error ? h.json.error : 'HTTP ' + h.status}`);
                const points = h.json.points;
                const newest = points.length ? points[points.length - 1].collected_at : null;
                if (newest !== null && newest === view.lastCollectedAt)
                        return;
                const [s, snaps, metrics] = await Promise.all([getJSON('/api/v1/state'), getJSON('/api/v1/snapshots'),
                        fetch('/metrics', { cache: 'no-store' }).then(r => r.text())]);
                if (!s.ok || !s.json)
                        throw new Error(`/api/v1/state: ${s.json && s.json.error ? s.json.error : 'HTTP ' + s.status}`);
                view.state = s.json;
                drawCharts(h.json);
                drawSources(s.json, parseSourcesUp(metrics));
                drawExporters(s.json);
                drawProcesses(s.json);
                drawBuffers(s.json);
                if (snaps.ok && Array.isArray(snaps.json))
                        drawSnapshotList(snaps.json);
                view.lastCollectedAt = newest;
                /* One line per redraw in the browser's console: what the test
                 * reads to know the page ran, next to any CSP violation. */
                console.info(`dmabufd page: drew ${points.length} points, ${s.json.processes.length} processes, ` +
                        `${s.json.buffers.length} buffers`);
                document.body.setAttribute('data-collected-at', s.json.collected_at);
                setStatus(`Collected at ${s.json.collected_at} (kernel ${s.json.kernel === null ? 'unknown' : s.json.kernel}); ` +
                        `history: ${points.length} of ${h.json.capacity} collections`, false);
        } catch (e) {
                setStatus(`Cannot update: ${e.message}`, true);
        }
}

/* ---- one snapshot ---- */

function facts(pairs) {
        const dl = el('dl', { class: 'facts' });
        for (const [k, v] of pairs) {
                dl.appendChild(el('dt', {}, k));
                dl.appendChild(v === null || v === undefined ? el('dd', { class: 'null' }, 'unknown') : el('dd', {}, String(v)));
        }
        return dl;
}

function simpleTable(columns, rows) {
        const table = el('table');
        header(table, columns.map(c => ({ title: c })), false);
        const body = el('tbody');
        for (const r of rows) {
                const tr = el('tr');
                for (const c of r)
                        tr.appendChild(c);
                body.appendChild(tr);
        }
        if (!rows.length)
                body.appendChild(el('tr', {}, el('td', { colspan: String(columns.length), class: 'null' }, 'none')));
        table.appendChild(body);
        return table;
}

function showSnapshotError(body, message) {
        clear(body);
        body.appendChild(el('p', { id: 'snapshot-error', class: 'error' }, message));
}

function renderSnapshot(body, id, snap) {
        const t = snap.trigger || {};
        const victim = t.pid !== undefined && t.pid !== null;
        body.appendChild(el('h2', {}, `Snapshot ${snap.id}`));
        body.appendChild(facts([['taken at', snap.taken_at], ['trigger', t.kind], ['seen at', t.at],
                ['origin', t.origin]]));

        body.appendChild(el('h2', {}, 'Trigger'));
        if (victim) {
                const v = el('p', { id: 'victim' }, `Victim: ${t.comm === null || t.comm === undefined ? '?' : t.comm} (pid ${t.pid})`);
                v.setAttribute('data-pid', String(t.pid));
                body.appendChild(v);
                body.appendChild(facts([['in before', t.in_before], ['rss (by before)', t.rss_bytes === undefined ? null : formatBytes(t.rss_bytes)],
                        ['pss (by before)', t.pss_bytes === undefined ? null : formatBytes(t.pss_bytes)]]));
                body.appendChild(el('h3', {}, 'What it held'));
                body.appendChild(simpleTable(['inode', 'size', 'exporter', 'name'], (t.buffers || []).map(b =>
                        [cell(b.inode, 'num'), cell(b.size, 'bytes'), cell(b.exporter, 'text'), cell(b.name, 'text')])));
        } else
                body.appendChild(el('p', {}, 'This trigger names no victim.'));
        if (t.line)
                body.appendChild(el('pre', {}, t.line));

        const before = snap.before, state = snap.state;
        body.appendChild(el('h2', {}, 'Before against state'));
        if (!before || !state) {
                body.appendChild(el('p', { class: 'null' }, !state ? 'The fresh collection is not in this snapshot (yet).' :
                        'No collection before the event.'));
        } else {
                const now = new Set(state.buffers.map(b => b.inode));
                const freed = before.buffers.filter(b => !now.has(b.inode));
                const pids = new Set(state.processes.map(p => p.pid));
                const gone = before.processes.filter(p => !pids.has(p.pid));
                body.appendChild(facts([['before collected at', before.collected_at], ['state collected at', state.collected_at],
                        ['total bytes', `${formatBytes(before.totals.bytes)} → ${formatBytes(state.totals.bytes)}`],
                        ['kernel-only bytes', `${formatBytes(before.totals.kernel_only_bytes)} → ${formatBytes(state.totals.kernel_only_bytes)}`]]));
                body.appendChild(el('h3', {}, `Buffers freed (${freed.length})`));
                const ft = simpleTable(['inode', 'size', 'exporter', 'name'], freed.map(b =>
                        [cell(b.inode, 'num'), cell(b.size, 'bytes'), cell(b.exporter, 'text'), cell(b.name, 'text')]));
                ft.id = 'snapshot-freed';
                body.appendChild(ft);
                body.appendChild(el('h3', {}, `Processes gone (${gone.length})`));
                const gt = simpleTable(['pid', 'comm', 'rss', 'pss'], gone.map(p =>
                        [cell(p.pid, 'num'), cell(p.comm, 'text'), cell(p.rss_bytes, 'bytes'), cell(p.pss_bytes, 'bytes')]));
                gt.id = 'snapshot-gone';
                body.appendChild(gt);
        }

        body.appendChild(el('h2', {}, 'Memory'));
        const mem = snap.memory || {};
        const meminfo = mem.meminfo || {};
        /* Bytes, but for the HugePages_ counts. */
        body.appendChild(simpleTable(['meminfo', 'value'], Object.keys(meminfo).map(k => [el('td', {}, k),
                cell(meminfo[k], k.startsWith('HugePages_') ? 'num' : 'bytes')])));
        const psi = mem.psi || {};
        body.appendChild(el('h3', {}, 'Pressure (PSI)'));
        body.appendChild(simpleTable(['', 'avg10', 'avg60', 'avg300', 'total µs'], Object.keys(psi).map(k => {
                const p = psi[k] || {};
                return [el('td', {}, k), cell(p.avg10, 'num'), cell(p.avg60, 'num'), cell(p.avg300, 'num'), cell(p.total_us, 'num')];
        })));
}

async function showSnapshot(id) {
        const body = clear(document.getElementById('snapshot-body'));
        const file = `${id}.json`;
        body.appendChild(el('p', {}, `Loading snapshot ${id}…`));
        let r;
        try {
                r = await getJSON('/api/v1/snapshots/' + encodeURIComponent(id));
        } catch (e) {
                showSnapshotError(body, `Snapshot file ${file}: cannot be read: ${e.message}`);
                return;
        }
        if (!r.ok) {
                showSnapshotError(body, `Snapshot file ${file}: ${r.json && r.json.error ? r.json.error : 'HTTP ' + r.status}`);
                return;
        }
        if (r.json === undefined) {
                showSnapshotError(body, `Snapshot file ${file} is corrupt or truncated: it is not valid JSON (${r.body.length} bytes)`);
                return;
        }
        if (!r.json || typeof r.json !== 'object' || r.json.schema !== 'dmabufd.snapshot/1') {
                const schema = r.json && typeof r.json === 'object' ? r.json.schema : undefined;
                showSnapshotError(body, `Snapshot file ${file} has an unknown schema: ${JSON.stringify(schema === undefined ? null : schema)}, ` +
                        'this page reads dmabufd.snapshot/1');
                return;
        }
        clear(body);
        try {
                renderSnapshot(body, id, r.json);
        } catch (e) {
                showSnapshotError(body, `Snapshot file ${file} is malformed: ${e.message}`);
        }
        document.body.setAttribute('data-snapshot', id);
        console.info(`dmabufd page: snapshot ${id} shown`);
}

/* ---- routing: #snapshot/<id>, else the live view ---- */

let timer = null;

function route() {
        const m = /^#snapshot\/(.+)$/.exec(location.hash);
        document.getElementById('overview').hidden = !!m;
        document.getElementById('snapshot').hidden = !m;
        if (timer !== null) {
                clearInterval(timer);
                timer = null;
        }
        if (m) {
                let id;
                try {
                        id = decodeURIComponent(m[1]);
                } catch (e) {
                        id = m[1]; /* a bad %-escape: the server names it as it is */
                }
                setStatus('A stored snapshot; the live view is one click back.', false);
                showSnapshot(id);
                return;
        }
        view.lastCollectedAt = null;
        refresh();
        timer = setInterval(refresh, POLL_MS);
}

window.addEventListener('hashchange', route);
route();
