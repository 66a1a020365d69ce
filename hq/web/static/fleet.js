// The fleet page: every store with its link state, filters, a refresh
// every 10 s, and the "Send a notice" form.

import { $, t, el, api, ago, duration, clockOf, frame, noticeForm, sentNotices, stateOf } from '/app.js';

const REFRESH_MS = 10000;
const PAGE = 200;
const MAX_LIMIT = 2000;

// window.fleet is what the browser tests read: how many loads finished,
// and the last answer.
const state = window.fleet = { loads: 0, list: null, error: null, at: null, limit: PAGE };

const params = new URLSearchParams(location.search);
$('q').value = params.get('q') || '';
$('offline').value = params.get('offline_hours') || '';
$('backlog').value = params.get('backlog_over') || '';
$('state').value = params.get('state') || '';

function query() {
  const p = new URLSearchParams();
  const q = $('q').value.trim();
  const off = $('offline').value.trim();
  const bl = $('backlog').value.trim();
  if (q) p.set('q', q);
  if (off) p.set('offline_hours', off);
  if (bl) p.set('backlog_over', bl);
  if ($('state').value) p.set('state', $('state').value);
  return p;
}

let timer = null;
let seq = 0;
async function load() {
  clearTimeout(timer);
  const my = ++seq;
  const p = query();
  history.replaceState(null, '', p.toString() ? '?' + p : location.pathname);
  p.set('limit', String(state.limit));
  try {
    const list = await api('/api/v1/stores?' + p);
    if (my !== seq) return; // a newer load is under way
    state.list = list;
    state.error = null;
    state.at = new Date();
  } catch (e) {
    if (my !== seq) return;
    state.error = e;
  }
  state.loads++;
  draw();
  timer = setTimeout(load, REFRESH_MS);
}

function row(s, now) {
  const cls = [s.online ? 'online' : 'offline', s.stale ? 'stale' : '', s.backlog > 0 ? 'backlogged' : ''].join(' ').trim();
  const st = stateOf(s, now);
  const cell = (label, ...kids) => el('td', { 'data-label': t(label) }, ...kids);
  return el('tr', { class: cls, 'data-store': s.store },
    el('th', { scope: 'row', 'data-label': t('colStore') },
      el('a', { href: '/stores/' + encodeURIComponent(s.store), text: s.name || s.store }),
      s.name && s.name !== s.store ? el('span', { class: 'id', text: s.store }) : null),
    cell('colState', el('span', { class: 'pill ' + st.cls, text: st.text })),
    cell('colLastSeen', ago(s.last_seen, now)),
    cell('colBacklog', el('span', { class: s.backlog > 0 ? 'warn' : '', text: String(s.backlog) })),
    cell('colBacklogAge', s.backlog > 0 ? duration(s.backlog_age_s) : t('none')),
    cell('colVersion', s.version || t('none')),
    cell('colSkew', el('span', { class: clockOf(s).cls, 'data-clock': s.clock_synced === false ? 'unsynced' : 'synced', text: clockOf(s).text })),
    cell('colErrors', s.errors > 0 ? el('span', { class: 'warn', title: s.last_error || '', text: String(s.errors) }) : '0'),
    cell('colChats', String(s.open_conversations)));
}

function draw() {
  const list = state.list;
  if (list) {
    const now = Date.parse(list.as_of) || Date.now();
    const rows = list.stores.map((s) => row(s, now));
    $('rows').replaceChildren(...rows);
    $('empty').hidden = list.stores.length > 0;
    $('more').hidden = !list.more || state.limit >= MAX_LIMIT;
    const c = list.counts;
    $('summary').textContent = t('summary', { n: c.stores, online: c.online, offline: c.offline, backlogged: c.backlogged })
      + (c.stale ? t('summaryStale', { stale: c.stale }) : '')
      + (list.more ? t('summaryMore', { shown: list.stores.length }) : '');
  }
  const time = state.at ? state.at.toLocaleTimeString() : '';
  $('updated').textContent = state.at ? t('updated', { time }) : '';
  $('err').hidden = !state.error;
  $('err').textContent = state.error ? t('stale', { message: state.error.message, time }) : '';
}

let debounce = null;
$('state').addEventListener('change', () => { state.limit = PAGE; load(); });
for (const id of ['q', 'offline', 'backlog']) {
  $(id).addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { state.limit = PAGE; load(); }, 250);
  });
}
$('filters').addEventListener('submit', (e) => { e.preventDefault(); load(); });
$('clear').addEventListener('click', () => {
  $('q').value = ''; $('offline').value = ''; $('backlog').value = ''; $('state').value = '';
  state.limit = PAGE;
  load();
});
$('more').addEventListener('click', () => { state.limit = Math.min(MAX_LIMIT, state.limit + PAGE); load(); });

const sent = sentNotices($('sent-section'));
const drawNotice = noticeForm($('notice-section'), '', sent.load);
frame(() => { draw(); drawNotice(); sent.draw(); });
api('/api/v1/me').then((me) => { $('who').textContent = me.name; }).catch(() => {});
load();
