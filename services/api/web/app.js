// The operations page: ask for n!, watch every request live (Server-Sent Events), open one by
// its permalink (#/n/12345), cancel or retry it, download a result. No framework and no build
// step; it runs under a Content-Security-Policy without inline script or style, and builds
// every element with textContent, so nothing the server sends is ever read as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat('en-US');
const ENDS = 60;          // digits shown at each end of a result
const SHOWN = 20000;      // most digits shown inline on the page
const MAX_ROWS = 500;     // rows kept in the table
const RUNNING = new Set(['pending', 'computing']);
const FINISHED = new Set(['done', 'failed', 'cancelled']);

const state = {
  items: new Map(),   // number → the latest known resource
  filter: '',         // status filter of the table ('' = all)
  cursor: null,       // next page of the list
  listed: true,       // false when the server has no list endpoint (nor cancel: they came together)
  selected: null,     // number shown in the detail panel
  token: 0,           // bumped on each selection, so stale answers are dropped
};

// ---------------------------------------------------------------- HTTP

async function call(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.body = body;
    init.headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(path, init);
  const type = r.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await r.json() : await r.text();
  return { status: r.status, ok: r.ok, data };
}

function problemText(res) {
  const d = res.data;
  if (d && typeof d === 'object') return d.detail || d.title || `HTTP ${res.status}`;
  return `HTTP ${res.status}`;
}

// rangeText reads a byte range of the digits; it never reads a whole large result, even from
// a server that ignores Range.
async function rangeText(n, range) {
  const ctl = new AbortController();
  const r = await fetch(`/api/v1/factorial/${n}?format=text`, { headers: { Range: range }, signal: ctl.signal });
  if (r.status !== 206) {
    ctl.abort();
    throw new Error(`range request answered ${r.status}`);
  }
  return r.text();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- formatting

function duration(ms) {
  if (ms === undefined || ms === null) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return `${v.toFixed(1)} ${units[i]}`;
}

// trailingZeros is the number of zeros n! ends with (Legendre's formula for the prime 5).
function trailingZeros(n) {
  let z = 0;
  for (let p = 5; p <= n; p *= 5) z += Math.floor(n / p);
  return z;
}

// computeTime is how long n took, or has been taking.
function computeTime(item) {
  if (item.compute_ms !== undefined && item.compute_ms !== null && item.status === 'done') return duration(item.compute_ms);
  if (item.status === 'computing' && item.started_at) return `${duration(Date.now() - Date.parse(item.started_at))}…`;
  return '';
}

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) e.append(c);
  return e;
}

function badge(status) {
  return el('span', { className: `badge ${status}`, textContent: status });
}

function message(text, kind) {
  const m = $('message');
  m.textContent = text || '';
  m.className = `message ${kind || ''}`;
  m.hidden = !text;
}

// ---------------------------------------------------------------- the table

function matches(item) {
  return state.filter === '' || state.filter.split(',').includes(item.status);
}

// merge records what is known of n and redraws it; where says where a new row goes.
function merge(n, patch, where) {
  const item = state.items.get(n) || { number: n };
  Object.assign(item, patch);
  if (item.status !== 'failed') delete item.error;
  state.items.set(n, item);
  drawRow(item, where);
  if (state.selected === n) drawDetail(item);
  return item;
}

function drawRow(item, where) {
  let tr = $(`row-${item.number}`);
  if (!tr) {
    if (!matches(item) || !where) return;
    tr = el('tr', { id: `row-${item.number}` });
    tr.dataset.number = item.number;
    const rows = $('rows');
    if (where === 'top') rows.prepend(tr);
    else rows.append(tr);
    trimRows();
  } else if (where === 'top' && tr !== $('rows').firstElementChild) {
    $('rows').prepend(tr);
  }
  tr.dataset.status = item.status || '';
  const n = item.number;

  const link = el('a', { href: `#/n/${n}`, textContent: `${fmt.format(n)}!` });
  const status = el('td', { className: 'status' }, badge(item.status || 'pending'));
  if (item.status === 'failed' && item.error) {
    status.append(el('span', { className: 'reason', textContent: item.error, title: item.error }));
  }
  const progress = el('td', { className: 'progress-col' });
  if (RUNNING.has(item.status)) {
    progress.append(el('progress', { max: 1, value: item.progress || 0, title: `${Math.round((item.progress || 0) * 100)}%` }));
  }
  const requested = item.requested_at || item.created_at;
  const when = el('td', { className: 'when', textContent: ago(requested), title: requested || '' });
  when.dataset.at = requested || '';
  const cells = [
    el('td', { className: 'num' }, link),
    status,
    progress,
    el('td', { className: 'num', textContent: computeTime(item) }),
    el('td', { className: 'num', textContent: item.digits ? fmt.format(item.digits) : '' }),
    when,
  ];
  // The actions cell stays while its action does: a row is redrawn on every progress event,
  // and a click whose press and release fell on either side of a redraw would be lost.
  const action = RUNNING.has(item.status) && state.listed ? 'cancel'
    : item.status === 'failed' || item.status === 'cancelled' ? 'retry' : '';
  let actions = tr.querySelector(':scope > td.actions');
  if (!actions || actions.dataset.action !== action) {
    actions = el('td', { className: 'actions' });
    actions.dataset.action = action;
    if (action === 'cancel') {
      actions.append(el('button', { type: 'button', className: 'danger small', textContent: 'Cancel', title: `cancel ${n}!` }));
    } else if (action === 'retry') {
      actions.append(el('button', { type: 'button', className: 'small', textContent: 'Retry', title: `compute ${n}! again` }));
    }
    if (action) actions.lastChild.dataset.action = action;
  }
  for (const c of [...tr.children]) if (c !== actions) c.remove();
  if (actions.parentNode === tr) actions.before(...cells);
  else tr.append(...cells, actions);
  $('empty').hidden = $('rows').childElementCount > 0;
}

function trimRows() {
  const rows = $('rows');
  while (rows.childElementCount > MAX_ROWS) {
    const last = rows.lastElementChild;
    state.items.delete(Number(last.dataset.number));
    last.remove();
  }
}

async function loadList(reset) {
  if (reset) {
    state.cursor = null;
    $('rows').replaceChildren();
  }
  if (!state.listed) {
    for (const item of state.items.values()) drawRow(item, 'bottom');
    $('empty').hidden = $('rows').childElementCount > 0;
    return;
  }
  const q = new URLSearchParams({ limit: '50' });
  if (state.filter) q.set('status', state.filter);
  if (state.cursor) q.set('cursor', state.cursor);
  let res;
  try {
    res = await call('GET', `/api/v1/factorial?${q}`);
  } catch (err) {
    $('list-note').textContent = `The list could not be loaded (${err.message}).`;
    $('list-note').hidden = false;
    return;
  }
  if (res.status === 404 || res.status === 405) {
    state.listed = false;
    $('list-note').textContent = 'This server does not list requests: showing those seen from this page.';
    $('list-note').hidden = false;
    return loadList(false);
  }
  if (!res.ok) {
    $('list-note').textContent = `The list could not be loaded: ${problemText(res)}`;
    $('list-note').hidden = false;
    return;
  }
  $('list-note').hidden = true;
  for (const item of res.data.items || []) merge(item.number, item, 'bottom');
  state.cursor = res.data.next_cursor || null;
  $('more').hidden = !state.cursor;
  $('empty').hidden = $('rows').childElementCount > 0;
}

function setFilter(status) {
  state.filter = status;
  for (const b of $('filters').querySelectorAll('button')) {
    b.setAttribute('aria-pressed', String(b.dataset.status === status));
  }
  loadList(true);
}

// ---------------------------------------------------------------- the detail panel

function fact(dl, name, value, title) {
  if (value === undefined || value === null || value === '') return;
  dl.append(el('dt', { textContent: name }), el('dd', { textContent: value, title: title || '' }));
}

function drawDetail(item) {
  const n = item.number;
  $('detail').hidden = false;
  $('detail').dataset.status = item.status || '';
  $('detail-title').textContent = `${fmt.format(n)}!`;
  $('detail-status').replaceWith(Object.assign(badge(item.status || 'unknown'), { id: 'detail-status' }));
  $('detail-permalink').href = `#/n/${n}`;

  const running = RUNNING.has(item.status);
  $('detail-progress').hidden = !running;
  $('detail-progress').value = item.progress || 0;
  $('detail-cancel').hidden = !running || !state.listed;
  $('detail-retry').hidden = !(item.status === 'failed' || item.status === 'cancelled' || item.status === 'unknown');
  $('detail-retry').textContent = item.status === 'unknown' ? `Compute ${fmt.format(n)}!` : 'Compute again';

  const error = $('detail-error');
  error.hidden = true;
  if (item.status === 'failed') {
    error.textContent = `Failed: ${item.error || 'no reason recorded'}. Compute it again to retry.`;
    error.hidden = false;
  } else if (item.status === 'cancelled') {
    error.textContent = 'Cancelled. Compute it again to start anew.';
    error.hidden = false;
  } else if (item.status === 'unknown') {
    error.textContent = `${fmt.format(n)}! was never requested.`;
    error.hidden = false;
  }

  const dl = $('detail-facts');
  dl.replaceChildren();
  if (running) fact(dl, 'progress', `${Math.round((item.progress || 0) * 100)}%`);
  fact(dl, 'digits', item.digits ? fmt.format(item.digits) : '');
  fact(dl, 'size', item.size ? bytes(item.size) : '');
  fact(dl, 'compute time', computeTime(item));
  fact(dl, 'SHA-256', item.checksum ? `${item.checksum.slice(0, 16)}…` : '', item.checksum);
  const requested = item.requested_at || item.created_at;
  fact(dl, 'requested', requested ? ago(requested) : '', requested);
  fact(dl, 'attempts', item.attempts > 1 ? String(item.attempts) : '');

  if (item.status !== 'done') {
    $('detail-result').hidden = true;
    delete $('detail-result').dataset.number;
    return;
  }
  drawResult(item);
}

// drawResult shows the ends of the digits (from the JSON when it carries them, otherwise two
// range requests) and the download links. It runs once per number shown.
async function drawResult(item) {
  const n = item.number;
  const box = $('detail-result');
  $('detail-download').href = `/api/v1/factorial/${n}?format=text&download=1`;
  $('detail-download').download = `factorial-${n}.txt`;
  $('detail-text').href = `/api/v1/factorial/${n}?format=text`;
  $('detail-meta').href = `/api/v1/factorial/metadata/${n}`;
  // n! ends in many zeros (249 for 1000!, 24,999,999 for 10^8!): the last digits shown are
  // those before them.
  const zeros = trailingZeros(n);
  $('detail-zeros').textContent = zeros > 0 ? `then ${fmt.format(zeros)} zero${zeros > 1 ? 's' : ''}` : '';
  box.hidden = false;
  // Drawn once per number; again only when the digits themselves arrive after the ends were
  // read by ranges (a list item, which carries no digits, can be merged first).
  const text = item.factorial_result;
  const how = typeof text === 'string' ? 'text' : 'ranges';
  if (box.dataset.number === String(n) && (box.dataset.how === 'text' || how === 'ranges')) return;
  box.dataset.number = String(n);
  box.dataset.how = how;
  const pre = $('detail-digits');
  if (typeof text === 'string') {
    const end = text.length - zeros;
    $('detail-first').textContent = text.slice(0, ENDS) + (text.length > ENDS ? '…' : '');
    $('detail-last').textContent = (end > ENDS ? '…' : '') + text.slice(Math.max(0, end - ENDS), end);
    pre.textContent = text.length > SHOWN ? `${text.slice(0, SHOWN)}… (${fmt.format(text.length - SHOWN)} more digits: download them)` : text;
    pre.hidden = false;
    return;
  }
  pre.hidden = true;
  $('detail-first').textContent = '…';
  $('detail-last').textContent = '…';
  const token = state.token;
  try {
    const end = item.size - zeros; // the digits are one byte each
    const [first, last] = await Promise.all([
      rangeText(n, `bytes=0-${ENDS - 1}`),
      rangeText(n, `bytes=${Math.max(0, end - ENDS)}-${end - 1}`),
    ]);
    if (token !== state.token) return;
    $('detail-first').textContent = `${first}…`;
    $('detail-last').textContent = `…${last}`;
  } catch (err) {
    if (token !== state.token) return;
    $('detail-first').textContent = `(could not be read: ${err.message})`;
    $('detail-last').textContent = '';
    delete box.dataset.number;
  }
}

async function select(n) {
  state.selected = n;
  const token = ++state.token;
  document.title = `${fmt.format(n)}! · Factorial service`;
  delete $('detail-result').dataset.number;
  $('detail').hidden = false;
  $('detail-title').textContent = `${fmt.format(n)}!`;
  let res;
  let meta;
  try {
    // The resource has the digits when they are small; the metadata has the timings.
    [res, meta] = await Promise.all([call('GET', `/api/v1/factorial/${n}`), call('GET', `/api/v1/factorial/metadata/${n}`)]);
  } catch (err) {
    message(`Could not read ${n}!: ${err.message}`, 'error');
    return;
  }
  if (token !== state.token) return;
  if (res.status === 404) {
    drawDetail({ number: n, status: 'unknown' });
    return;
  }
  if (!res.ok && res.status !== 202) {
    message(problemText(res), 'error');
    $('detail').hidden = true;
    return;
  }
  const item = merge(n, { ...(meta.ok ? meta.data : {}), ...res.data });
  if (RUNNING.has(item.status)) follow(n, token);
}

// follow holds a ?wait request open until n is finished, as a safety net under the event
// stream: the page ends right even if an event was missed.
async function follow(n, token) {
  while (token === state.token) {
    let res;
    try {
      res = await call('GET', `/api/v1/factorial/${n}?wait=25s`);
    } catch {
      await sleep(2000);
      continue;
    }
    if (token !== state.token) return;
    if (res.status >= 500 || res.status === 429) {
      await sleep(2000);
      continue;
    }
    if (!res.ok && res.status !== 202) return;
    const item = merge(n, res.data);
    if (FINISHED.has(item.status)) return;
  }
}

function unselect() {
  state.selected = null;
  state.token++;
  $('detail').hidden = true;
  document.title = 'Factorial service';
}

function route() {
  const m = location.hash.match(/^#\/n\/(\d+)$/);
  if (m) select(Number(m[1]));
  else unselect();
}

// ---------------------------------------------------------------- actions

async function ask(n, open) {
  message('');
  let res;
  try {
    res = await call('POST', '/api/v1/factorial', `{"number": ${n}}`);
  } catch (err) {
    message(`The service did not answer: ${err.message}`, 'error');
    return;
  }
  if (!res.ok) {
    message(problemText(res), 'error');
    return;
  }
  const number = res.data.number;
  merge(number, res.data, 'top');
  if (!open) {
    if (state.selected === number) select(number);
    return;
  }
  if (location.hash === `#/n/${number}`) select(number);
  else location.hash = `#/n/${number}`;
}

async function cancel(n) {
  message('');
  let res;
  try {
    res = await call('DELETE', `/api/v1/factorial/${n}`);
  } catch (err) {
    message(`The service did not answer: ${err.message}`, 'error');
    return;
  }
  if (!res.ok) {
    message(problemText(res), 'error');
    return;
  }
  if (res.data && typeof res.data === 'object') merge(n, res.data);
}

// ---------------------------------------------------------------- live events

function connect() {
  const live = $('live');
  const set = (s, text) => { live.dataset.state = s; live.textContent = text; };
  // Back after a disconnect, the browser sends the id of the last event it saw
  // (Last-Event-ID) and the server replays what was missed; when it cannot, it says reset
  // and the page reads the list and the open number again.
  const es = new EventSource('/api/v1/events');
  es.onopen = () => set('live', 'live');
  es.onerror = () => set('down', es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…');
  es.addEventListener('reset', () => {
    loadList(true);
    if (state.selected !== null) select(state.selected);
  });
  const on = (kind, patch) => es.addEventListener(kind, (ev) => {
    let e;
    try {
      e = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (typeof e.number !== 'number') return;
    const known = state.items.get(e.number);
    merge(e.number, patch(e, known), kind === 'requested' ? 'top' : (known ? undefined : 'top'));
    if (state.selected === e.number && kind === 'computed') select(e.number);
  });
  on('requested', (e) => ({ status: 'pending', progress: 0, requested_at: e.requested_at, compute_ms: undefined, digits: undefined }));
  on('progress', (e, known) => ({
    status: 'computing',
    progress: Math.max(e.progress, known && known.status === 'computing' ? known.progress || 0 : 0),
    started_at: (known && known.started_at) || e.at,
  }));
  on('computed', (e) => ({
    status: 'done', progress: 1, digits: e.digits, size: e.size, checksum: e.checksum, compute_ms: e.compute_ms,
  }));
  on('failed', (e) => ({ status: 'failed', error: e.error, attempts: e.attempts }));
  on('cancelled', () => ({ status: 'cancelled' }));
}

// ---------------------------------------------------------------- start

function start() {
  $('ask').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('n').value.trim();
    if (!/^\d+$/.test(v)) {
      message('Enter a whole number, 0 or more.', 'error');
      return;
    }
    ask(v.replace(/^0+(?=\d)/, ''), true);
  });
  $('rows').addEventListener('click', (ev) => {
    const button = ev.target.closest('button[data-action]');
    if (!button) return;
    const n = Number(button.closest('tr').dataset.number);
    if (button.dataset.action === 'cancel') cancel(n);
    else ask(n, false);
  });
  $('detail-cancel').addEventListener('click', () => { if (state.selected !== null) cancel(state.selected); });
  $('detail-retry').addEventListener('click', () => { if (state.selected !== null) ask(state.selected, true); });
  $('filters').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-status]');
    if (b) setFilter(b.dataset.status);
  });
  $('more').addEventListener('click', () => loadList(false));
  window.addEventListener('hashchange', route);

  // ?n=123 is the other form of a permalink.
  const n = new URLSearchParams(location.search).get('n');
  if (n && /^\d+$/.test(n) && !location.hash) history.replaceState(null, '', `/#/n/${n}`);

  // Relative times and running compute times tick.
  setInterval(() => {
    for (const td of document.querySelectorAll('td.when')) td.textContent = ago(td.dataset.at);
    for (const item of state.items.values()) if (item.status === 'computing') drawRow(item);
  }, 5000);

  connect();
  loadList(true);
  route();
}

start();
