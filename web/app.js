// app.js: airlock's web page. Plain JavaScript on the public API (/v1, docs/api.md):
// the token stays in this tab (sessionStorage) and goes in an Authorization header;
// events are read from the server-sent stream with fetch (EventSource sends no header).
// Everything from the server is put on the page as text, never as HTML.
'use strict';

const $ = (sel) => document.querySelector(sel);
let token = sessionStorage.getItem('airlock-token') || '';
let current = null;        // the sandbox page's name, or null for the list
let eventsAbort = null;    // the running events stream
let sandboxTimer = null;
const cpuSamples = [];

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(method, path, body) {
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) { showLogin('session ended or token not valid: log in again'); throw new Error('unauthorized'); }
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(data && data.error ? data.error.message : r.statusText);
  return data;
}

function showLogin(message) {
  $('#main').hidden = true;
  $('#login').hidden = false;
  $('#logout').hidden = true;
  $('#login-error').textContent = message || '';
  if (eventsAbort) eventsAbort.abort();
}

function age(iso) {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return Math.round(s) + 's';
  if (s < 5400) return Math.round(s / 60) + 'm';
  if (s < 172800) return Math.round(s / 3600) + 'h';
  return Math.round(s / 86400) + 'd';
}

function ttlLeft(sb) {
  if (!sb.expires) return '—';
  const s = (Date.parse(sb.expires) - Date.now()) / 1000;
  return s <= 0 ? 'expired' : age(new Date(Date.now() - s * 1000).toISOString());
}

// ---- list ----

// Rows are kept per sandbox name and updated in place, so a row under the pointer (or in a
// test's hand) is not swapped for a new one on every refresh.
function listRow(tbody, name) {
  let tr = [...tbody.children].find((r) => r.dataset.name === name);
  if (!tr) {
    tr = el('tr');
    tr.dataset.name = name;
    for (let i = 0; i < 8; i++) tr.append(el('td'));
    tr.children[2].append(el('span'));
    tr.addEventListener('click', () => { location.hash = '#/s/' + encodeURIComponent(name); });
  }
  return tr;
}

async function loadList() {
  try {
    const list = await api('GET', '/v1/sandboxes?network=1');
    const tbody = $('#sandboxes tbody');
    const rows = list.map((sb) => {
      const tr = listRow(tbody, sb.name);
      const drops = sb.network && sb.network.drops ? sb.network.drops.ip_packets + ' / ' + sb.network.drops.l2_frames : '—';
      const cells = [sb.name, sb.owner, null, age(sb.created), ttlLeft(sb), sb.image, sb.network ? sb.network.mode : '', drops];
      cells.forEach((c, i) => {
        const td = tr.children[i];
        if (i === 2) {
          const span = td.firstChild;
          span.textContent = sb.state || '';
          span.className = 'state ' + (sb.state || '');
        } else if (td.textContent !== String(c ?? '')) {
          td.textContent = c ?? '';
        }
      });
      return tr;
    });
    // Drop rows of sandboxes that are gone; put the rest in the server's order.
    for (const tr of [...tbody.children]) if (!rows.includes(tr)) tr.remove();
    rows.forEach((tr, i) => { if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null); });
    $('#count').textContent = '(' + list.length + ')';
    $('#list-error').textContent = '';
  } catch (e) {
    $('#list-error').textContent = e.message;
  }
}

// ---- events ----

function eventLine(kind, ev) {
  const what = kind === 'live' ? ev.event + ' ' + (ev.detail || '') :
    ev.event + (ev.result ? ' ' + ev.result : '') + (ev.user ? ' by ' + ev.user : '') + (ev.via ? ' via ' + ev.via : '') +
    (ev.error ? ': ' + ev.error : '');
  const li = el('li', (ev.time || '') + '  ' + (ev.sandbox || '-') + '  ' + what,
    kind === 'live' ? 'live' : (ev.result === 'failed' ? 'failed' : ''));
  li.dataset.event = ev.event || '';
  li.dataset.sandbox = ev.sandbox || '';
  li.dataset.time = ev.time || '';
  return li;
}

function addEvent(list, kind, ev) {
  list.append(eventLine(kind, ev));
  while (list.children.length > 300) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}

async function followEvents() {
  if (eventsAbort) eventsAbort.abort();
  const ctl = new AbortController();
  eventsAbort = ctl;
  try {
    const r = await fetch('/v1/events', { headers: { Authorization: 'Bearer ' + token }, signal: ctl.signal });
    if (!r.ok) return;
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let kind = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) kind = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (!data) continue;
        let ev;
        try { ev = JSON.parse(data); } catch (e) { continue; }
        addEvent($('#events'), kind, ev);
        if (current && ev.sandbox === current) addEvent($('#sb-events'), kind, ev);
        if (!current) scheduleList();
        else if (ev.sandbox === current) loadSandbox();
      }
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
  }
  if (!ctl.signal.aborted) setTimeout(followEvents, 2000); // the daemon restarted: follow again
}

let listPending = null;
function scheduleList() {
  if (listPending) return;
  listPending = setTimeout(() => { listPending = null; loadList(); }, 300);
}

// ---- one sandbox ----

function fill(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) { dl.append(el('dt', k)); dl.append(el('dd', v)); }
}

function spark() {
  const svg = $('#spark');
  if (cpuSamples.length < 2) { svg.replaceChildren(); return; }
  const rates = [];
  for (let i = 1; i < cpuSamples.length; i++) {
    const dt = (cpuSamples[i].t - cpuSamples[i - 1].t) / 1000;
    rates.push(dt > 0 ? Math.max(0, (cpuSamples[i].ns - cpuSamples[i - 1].ns) / 1e9 / dt) : 0);
  }
  const max = Math.max(1, ...rates);
  const pts = rates.map((r, i) => (i * 240 / Math.max(1, rates.length - 1)).toFixed(1) + ',' + (38 - r / max * 36).toFixed(1));
  const pl = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  pl.setAttribute('points', pts.join(' '));
  svg.replaceChildren(pl);
}

async function loadSandbox() {
  const name = current;
  if (!name) return;
  const enc = encodeURIComponent(name);
  try {
    const sb = await api('GET', '/v1/sandboxes/' + enc);
    if (current !== name) return;
    $('#sb-name').textContent = sb.name;
    $('#sb-state').textContent = sb.state;
    $('#sb-state').className = 'state ' + sb.state;
    const net = sb.network || {};
    fill($('#sb-details'), [['owner', sb.owner], ['created', sb.created + ' (' + age(sb.created) + ' ago)'],
      ['TTL left', ttlLeft(sb)], ['image', sb.image], ['cpus / memory', sb.cpus + ' / ' + sb.memory_mib + ' MiB'],
      ['network', net.mode + (net.address ? ' ' + net.address : '')],
      ['drops', net.drops ? net.drops.ip_packets + ' IP packets, ' + net.drops.l2_frames + ' L2 frames' : '—'],
      ['labels', Object.entries(sb.labels || {}).map(([k, v]) => k + '=' + v).join(', ') || '—'],
      ['secrets', (sb.secrets || []).join(', ') || '—']]);
  } catch (e) {
    $('#action-status').textContent = e.message;
    return;
  }
  const parts = await Promise.allSettled([
    api('GET', '/v1/sandboxes/' + enc + '/stats'),
    api('GET', '/v1/sandboxes/' + enc + '/snapshots'),
    api('GET', '/v1/sandboxes/' + enc + '/logs/console'),
    api('GET', '/v1/sandboxes/' + enc + '/logs/dns'),
  ]);
  if (current !== name) return;
  if (parts[0].status === 'fulfilled') {
    const st = parts[0].value;
    cpuSamples.push({ t: Date.now(), ns: st.cpu_ns });
    while (cpuSamples.length > 40) cpuSamples.shift();
    fill($('#sb-stats'), [['cpu', (st.cpu_ns / 1e9).toFixed(1) + ' s'], ['rss', st.rss_kib + ' KiB'],
      ['disk written', st.block_wr_bytes + ' B'], ['net rx / tx', st.net_rx_bytes + ' / ' + st.net_tx_bytes + ' B']]);
    spark();
  }
  if (parts[1].status === 'fulfilled') {
    const ul = $('#sb-snapshots');
    ul.replaceChildren(...parts[1].value.map((s) => el('li', s.tag + '  ' + (s.created || '') +
      '  ' + Math.round((s.memory_bytes + s.disk_bytes) / 1048576) + ' MiB')));
  }
  if (parts[2].status === 'fulfilled') $('#sb-console').textContent = parts[2].value.text.split('\n').slice(-60).join('\n');
  if (parts[3].status === 'fulfilled') $('#sb-dns').textContent = parts[3].value.text.split('\n').slice(-30).join('\n');
}

async function action(what) {
  const name = current;
  const verb = what === 'reset' ? 'Reset' : 'Destroy';
  if (!confirm(verb + ' sandbox "' + name + '"?' + (what === 'destroy' ? ' Its disk is archived as evidence, then removed.' : ' Everything since its clean state is lost.'))) return;
  $('#action-status').textContent = verb.toLowerCase() + '…';
  try {
    if (what === 'reset') {
      const r = await api('POST', '/v1/sandboxes/' + encodeURIComponent(name) + '/reset');
      $('#action-status').textContent = 'reset to ' + r.to + ' in ' + r.timings_s.total.toFixed(2) + ' s';
      loadSandbox();
    } else {
      await api('DELETE', '/v1/sandboxes/' + encodeURIComponent(name));
      $('#action-status').textContent = 'destroyed';
      location.hash = '#/';
    }
  } catch (e) {
    $('#action-status').textContent = e.message;
  }
}

// ---- pages ----

async function route() {
  const m = location.hash.match(/^#\/s\/([a-z0-9-]{1,63})$/);
  clearInterval(sandboxTimer);
  sandboxTimer = null;
  current = m ? m[1] : null;
  $('#list-view').hidden = !!current;
  $('#sandbox-view').hidden = !current;
  if (current) {
    cpuSamples.length = 0;
    $('#sb-events').replaceChildren();
    $('#action-status').textContent = '';
    for (const li of $('#events').children)
      if (li.dataset.sandbox === current) $('#sb-events').append(li.cloneNode(true));
    loadSandbox();
    sandboxTimer = setInterval(loadSandbox, 5000);
  } else {
    loadList();
  }
}

async function start() {
  try {
    const me = await api('GET', '/v1/whoami');
    $('#who').textContent = me.user + ' (' + me.role + ')';
  } catch (e) {
    if (e.message !== 'unauthorized') showLogin(e.message);
    return;
  }
  $('#login').hidden = true;
  $('#main').hidden = false;
  $('#logout').hidden = false;
  api('GET', '/v1/audit/verify').then((v) => {
    const none = !v.intact && v.error && v.error.error.code === 'not-found';
    $('#audit').textContent = v.intact ? 'audit chain intact (' + v.records + ' records)' :
      none ? 'no audit records yet' : 'AUDIT CHAIN BROKEN: ' + v.error.error.message;
    $('#audit').className = v.intact || none ? '' : 'bad';
  }).catch(() => {});
  await route();
  followEvents();
  setInterval(() => { if (!current) loadList(); }, 10000);
}

$('#login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('#token').value.trim();
  sessionStorage.setItem('airlock-token', token);
  start();
});
$('#logout').addEventListener('click', () => { sessionStorage.removeItem('airlock-token'); token = ''; showLogin(''); });
$('#reset').addEventListener('click', () => action('reset'));
$('#destroy').addEventListener('click', () => action('destroy'));
window.addEventListener('hashchange', route);
if (token) start(); else showLogin('');
