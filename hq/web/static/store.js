// A store's page: its link, devices, today's bookings, open conversations,
// first-response time, config pushes, and a notice to it.

import { $, t, el, api, ago, duration, clockOf, timeOf, dateTime, bytes, frame, noticeForm, stateOf, statusName } from '/app.js';

const REFRESH_MS = 10000;
const id = decodeURIComponent(location.pathname.replace(/^\/stores\//, ''));
const state = window.storePage = { loads: 0, store: null, error: null, pushes: null, pushesError: null };

async function load() {
  try {
    state.store = await api('/api/v1/stores/' + encodeURIComponent(id));
    state.error = null;
  } catch (e) {
    state.error = e;
  }
  try {
    state.pushes = await api('/api/v1/stores/' + encodeURIComponent(id) + '/config');
    state.pushesError = null;
  } catch (e) {
    state.pushes = null;
    state.pushesError = e;
  }
  state.loads++;
  draw();
  setTimeout(load, REFRESH_MS);
}

function facts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v, cls]) => [el('dt', { text: t(k) }), el('dd', { class: cls || '', text: v })]));
}

function list(ul, items, emptyKey, cut) {
  ul.replaceChildren(...(items.length ? items : [el('li', { class: 'hint', text: t(emptyKey) })]));
  if (cut) ul.append(el('li', { class: 'hint', text: t('listCut', { n: items.length }) }));
}

function draw() {
  const s = state.store;
  $('err').hidden = !state.error;
  if (state.error) $('err').textContent = state.error.status === 404 ? t('unknownStore') : t('failed', { status: state.error.status || '', message: state.error.message });
  $('title').textContent = s ? (s.name || s.store) : id;
  document.title = (s ? (s.name || s.store) : id) + ' · HQ';
  if (!s) return;
  const now = Date.parse(s.as_of) || Date.now();
  const st = stateOf(s, now);
  facts($('facts'), [
    ['colState', st.text, st.cls],
    ['colLastSeen', ago(s.last_seen, now)],
    ['colBacklog', String(s.backlog) + (s.backlog > 0 ? ' · ' + bytes(s.backlog_bytes) : ''), s.backlog > 0 ? 'warn' : ''],
    ['colBacklogAge', s.backlog > 0 ? duration(s.backlog_age_s) : t('none')],
    ['colVersion', s.version || t('none')],
    ['colSkew', clockOf(s).text, clockOf(s).cls],
    ['colErrors', String(s.errors) + (s.last_error ? ' · ' + s.last_error : ''), s.errors > 0 ? 'warn' : ''],
    ['epoch', s.epoch || t('none')],
    ['timeZone', s.time_zone || 'UTC'],
    ['firstSeen', dateTime(s.first_seen)],
  ]);
  const fr = s.first_response;
  const frv = (sec, n) => (sec == null ? t('frNone') : t('frOf', { d: duration(sec), n }));
  facts($('fr'), [
    ['frToday', frv(fr.today_s, fr.today_n)],
    ['frWeek', frv(fr.week_s, fr.week_n)],
    ['frUnanswered', String(fr.unanswered), fr.unanswered > 0 ? 'warn' : ''],
  ]);
  list($('convs'), s.conversations.map((c) => el('li', { 'data-conversation': c.conversation },
    el('strong', { text: c.customer || c.conversation }), ' ',
    el('span', { class: c.waiting_since ? 'warn' : 'hint',
      text: c.waiting_since ? t('waiting', { d: duration((now - Date.parse(c.waiting_since)) / 1000) }) : t('answered') }),
    el('span', { class: 'hint', text: ' · ' + t('lastMessage', { d: duration((now - Date.parse(c.last_at)) / 1000) }) }))),
  'noOpenChats', s.conversations_more);
  $('book-h').textContent = t('bookingsToday', { day: s.day, tz: s.time_zone || 'UTC' });
  const tz = s.time_zone || 'UTC';
  list($('bookings'), s.bookings.map((b) => el('li', { 'data-booking': b.booking },
    el('strong', { text: timeOf(b.start, tz) + '–' + timeOf(b.end, tz) }), ' ',
    b.service + ' · ' + b.customer + ' · ', el('span', { class: 'tag', text: statusName(b.status) }),
    b.resources.length ? el('span', { class: 'hint', text: ' · ' + b.resources.join(', ') }) : null)),
  'noBookings', s.bookings_more);
  list($('devices'), s.devices.map((d) => el('li', { 'data-device': d.device },
    el('span', { class: 'pill ' + (d.online ? 'on' : 'off'), text: d.online ? t('online') : t('offline') }), ' ',
    el('strong', { text: d.device }), ' ', el('span', { class: 'hint', text: ago(d.last_seen, now) }))),
  'noDevices', s.devices_more);
  drawPushes();
}

function drawPushes() {
  if (state.pushesError) {
    const e = state.pushesError;
    $('pushes').replaceChildren(el('li', { class: 'hint',
      text: e.status === 404 ? t('pushesUnavailable') : t('failed', { status: e.status || '', message: e.message }) }));
    return;
  }
  const pushes = (state.pushes && (state.pushes.pushes || state.pushes)) || [];
  const name = { applied: 'pushApplied', refused: 'pushRefused', sent: 'pushSent' };
  list($('pushes'), (Array.isArray(pushes) ? pushes : []).map((p) => el('li', { 'data-version': p.version, class: 'push-' + p.state },
    t('pushLine', { v: p.version, by: p.sent_by || '', when: dateTime(p.sent_at), state: t(name[p.state] || p.state) }),
    p.state === 'refused' ? el('div', { class: 'error', text: [p.code, p.reason, ...(p.errors || [])].filter(Boolean).join(' · ') }) : null)),
  'noPushes', false);
}

const drawNotice = noticeForm($('notice-section'), id);
frame(() => { draw(); drawNotice(); });
load();
