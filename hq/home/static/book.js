// book.js: booking from home. The store's services and prices; a day's
// free times (asked of the store live, or HQ's last picture of it while
// the store is offline — marked so); booking with one tap; her bookings
// with move and cancel; her requests as the store decides them, with the
// alternatives it offers as one-tap buttons. API: /home/api/v1/shop,
// /slots, /bookings (PROTOCOL.md, "At home" → "Bookings at home").

import { api, addStrings, t, el, onReady, fmtTime, newId, lang } from '/home/lib.js';

addStrings({
  en: {
    'book.tab': 'Book',
    'book.title': 'Book a visit',
    'book.services': 'Service',
    'book.day': 'Day',
    'book.times': 'Free times',
    'book.loading': 'Loading…',
    'book.none': 'No free times this day. Try another day.',
    'book.noServices': 'The store has not published its services yet.',
    'book.replica': 'The store is offline; these times are what it last told us at {time} — your request will be confirmed when it is back.',
    'book.replicaSlow': 'The store did not answer in time; these times are what it last told us at {time} — the store will confirm your request.',
    'book.live': 'Live from the store',
    'book.minutes': '{n} min',
    'book.free': 'Free',
    'book.moving': 'Pick a new time for {service} ({time}).',
    'book.stopMoving': 'Keep the old time',
    'book.mine': 'Your bookings',
    'book.noBookings': 'No bookings yet.',
    'book.move': 'Move',
    'book.cancel': 'Cancel',
    'book.cancelAsk': 'Cancel {service} on {time}?',
    'book.requests': 'Your requests',
    'book.kind.book': 'Booking',
    'book.kind.move': 'Move',
    'book.kind.cancel': 'Cancellation',
    'book.state.waiting': 'Waiting for the store',
    'book.state.confirmed': 'Confirmed',
    'book.state.rejected': 'Not possible',
    'book.alternatives': 'The store offers instead:',
    'book.sent': 'Sent. The store decides; you will see it here.',
    'book.status.booked': 'Booked',
    'book.status.checked_in': 'Checked in',
    'book.status.completed': 'Done',
    'book.status.cancelled': 'Cancelled',
    'book.status.no_show': 'Missed',
    'book.error': 'Something went wrong: {message}',
    'book.retry': 'Try again',
    'book.sendAgain': 'Send again',
    'book.state.unsent': 'Not sent yet',
    'book.reason.conflict': 'That time is no longer free.',
    'book.reason.bad_request': 'The store cannot take a booking at that time.',
    'book.reason.forbidden': 'The store did not allow this.',
    'book.reason.not_found': 'The store does not know this booking or service.',
    'book.reason.other': 'The store could not do this.',
  },
  zh: {
    'book.tab': '预约',
    'book.title': '预约到店',
    'book.services': '服务项目',
    'book.day': '日期',
    'book.times': '可约时间',
    'book.loading': '加载中…',
    'book.none': '这一天没有空闲时间，请换一天。',
    'book.noServices': '门店还没有发布服务项目。',
    'book.replica': '门店暂时离线；以下是门店在 {time} 告诉我们的时间——门店恢复后会确认您的预约。',
    'book.replicaSlow': '门店没有及时回应；以下是门店在 {time} 告诉我们的时间——预约将由门店确认。',
    'book.live': '门店实时时间',
    'book.minutes': '{n} 分钟',
    'book.free': '免费',
    'book.moving': '请为 {service}（{time}）选择新的时间。',
    'book.stopMoving': '保留原时间',
    'book.mine': '我的预约',
    'book.noBookings': '还没有预约。',
    'book.move': '改期',
    'book.cancel': '取消',
    'book.cancelAsk': '取消 {time} 的 {service}？',
    'book.requests': '我的申请',
    'book.kind.book': '预约',
    'book.kind.move': '改期',
    'book.kind.cancel': '取消',
    'book.state.waiting': '等待门店确认',
    'book.state.confirmed': '已确认',
    'book.state.rejected': '无法安排',
    'book.alternatives': '门店建议改为：',
    'book.sent': '已发送。门店确认后会显示在这里。',
    'book.status.booked': '已预约',
    'book.status.checked_in': '已到店',
    'book.status.completed': '已完成',
    'book.status.cancelled': '已取消',
    'book.status.no_show': '未到店',
    'book.error': '出错了：{message}',
    'book.retry': '重试',
    'book.sendAgain': '重新发送',
    'book.state.unsent': '尚未发出',
    'book.reason.conflict': '这个时间已经被约满了。',
    'book.reason.bad_request': '门店无法在这个时间接受预约。',
    'book.reason.forbidden': '门店不允许此操作。',
    'book.reason.not_found': '门店找不到这个预约或服务。',
    'book.reason.other': '门店无法完成此操作。',
  },
});

// The state of the section (window.bookView, for tests and debugging).
const view = {
  ready: false,
  online: false, // the store, as home.js last heard
  zone: '',
  services: [],
  service: '',
  day: '',
  slots: null, // {source, as_of, slots, note} of service and day
  loadingSlots: false,
  bookings: [],
  requests: [],
  moving: null, // the booking being moved
  retry: null, // {path, body} of a request that did not reach the store
  notice: '', // a string's key
  error: '',
};
window.bookView = view;

let root = null;
let pollTimer = 0;

onReady((d) => {
  view.online = !!(d && d.store && d.store.online);
  root = document.getElementById('book');
  if (!root || view.ready) return;
  view.ready = true;
  start();
});
document.addEventListener('home:lang', () => render());
document.addEventListener('home:state', (e) => { view.online = !!(e.detail && e.detail.online); render(); });

async function start() {
  render();
  try {
    const shop = await api('GET', '/shop');
    view.zone = shop.zone || '';
    view.services = shop.services || [];
    view.service = view.services.length ? view.services[0].id : '';
    view.day = days()[0];
    view.error = '';
  } catch (e) {
    view.error = e.message;
    render();
    return;
  }
  render();
  await Promise.all([loadSlots(), loadBookings()]);
}

// days are the next seven dates in the store's zone, today first.
function days() {
  const f = new Intl.DateTimeFormat('en-CA', { timeZone: view.zone || undefined, year: 'numeric', month: '2-digit', day: '2-digit' });
  const out = [];
  for (let i = 0; i < 7; i++) out.push(f.format(new Date(Date.now() + i * 86400000)));
  return out;
}

function dayLabel(d) {
  // Noon UTC of the date names the same weekday and date anywhere.
  const o = { weekday: 'short', month: 'short', day: 'numeric', timeZone: 'UTC' };
  return new Date(d + 'T12:00:00Z').toLocaleDateString(lang() === 'zh' ? 'zh-CN' : 'en-GB', o);
}

function serviceName(id) {
  const s = view.services.find((x) => x.id === id);
  if (!s) return id;
  const n = s.names || {};
  return (lang() === 'zh' ? n.zh || n.en : n.en || n.zh) || s.name || id;
}

function price(s) {
  if (!s.price) return t('book.free');
  try {
    return new Intl.NumberFormat(lang() === 'zh' ? 'zh-CN' : 'en-GB', { style: 'currency', currency: s.currency || 'CNY' }).format(s.price / 100);
  } catch {
    return (s.price / 100).toFixed(2) + ' ' + (s.currency || '');
  }
}

const when = (iso) => fmtTime(iso, view.zone);
const clock = (iso) => fmtTime(iso, view.zone, false);

async function loadSlots() {
  if (!view.service || !view.day) return;
  const want = view.service + '/' + view.day;
  view.loadingSlots = true;
  render();
  try {
    const s = await api('GET', '/slots?service=' + encodeURIComponent(view.service) + '&day=' + view.day);
    if (want === view.service + '/' + view.day) { view.slots = s; view.error = ''; }
  } catch (e) {
    view.slots = null;
    view.error = e.message;
  }
  view.loadingSlots = false;
  render();
}

async function loadBookings() {
  try {
    const b = await api('GET', '/bookings');
    const waiting = new Set(view.requests.filter((q) => q.state === 'waiting').map((q) => q.id));
    view.bookings = b.bookings || [];
    view.requests = b.requests || [];
    // A decision changes the free times: show them afresh.
    if (view.requests.some((q) => q.state !== 'waiting' && waiting.has(q.id))) loadSlots();
  } catch (e) {
    view.error = e.message;
  }
  render();
  // While the store has not decided something, or a decision is not yet
  // in her bookings (the store's answer and its change of the booking
  // reach HQ separately), look again; the latter for a minute at most.
  clearTimeout(pollTimer);
  if (view.requests.some((q) => q.state === 'waiting') || lagging()) pollTimer = setTimeout(loadBookings, 3000);
}

// lagFirst is when each confirmed request was first seen not yet in her
// bookings, by request id.
const lagFirst = new Map();

// lagging says whether a confirmed request is not yet in her bookings
// (a cancel whose booking still shows booked, a booking or move whose
// booking does not show at its time), for less than a minute.
function lagging() {
  const now = Date.now();
  let any = false;
  for (const q of view.requests) {
    if (q.state !== 'confirmed' || !q.booking) continue;
    const b = view.bookings.find((x) => x.id === q.booking);
    // A move shows at its time unless the booking was moved again or
    // cancelled since.
    const later = view.requests.some((o) => o !== q && o.booking === q.booking && o.state === 'confirmed' &&
      (o.kind === 'cancel' || o.kind === 'move'));
    let shown = !!b;
    if (q.kind === 'cancel') shown = !b || b.status === 'cancelled';
    else if (q.kind === 'move' && b && !later) shown = Date.parse(b.start) === Date.parse(q.start);
    if (shown) {
      lagFirst.delete(q.id);
      continue;
    }
    if (!lagFirst.has(q.id)) lagFirst.set(q.id, now);
    if (now - lagFirst.get(q.id) < 60000) any = true;
  }
  return any;
}

// What this page sent, by request id: sending again uses the same id (and
// the same notes), so the store sees one request.
const sentBodies = new Map();

// send posts a request (book, move or cancel) and shows it at once. When
// it could not reach the store (503, or no network) it offers to send the
// same request again.
async function send(path, body) {
  sentBodies.set(body.id, { path, body });
  view.notice = '';
  view.error = '';
  view.retry = null;
  try {
    const a = await api('POST', path, body);
    view.requests = [a.request, ...view.requests.filter((q) => q.id !== a.request.id)];
    view.notice = 'book.sent';
    view.moving = null;
  } catch (e) {
    view.error = e.message;
    if (e.status === 503 || e.status === 0) view.retry = { path, body };
  }
  render();
  loadBookings();
}

// sendAgain sends an unsent request again under its id.
function sendAgain(q) {
  const kept = sentBodies.get(q.id);
  if (kept) return send(kept.path, kept.body);
  if (q.kind === 'book') return send('/bookings', { id: q.id, service: q.service, start: q.start });
  return send('/bookings/' + encodeURIComponent(q.booking) + '/' + q.kind, q.kind === 'move' ? { id: q.id, start: q.start } : { id: q.id });
}

function take(start) {
  if (view.moving) return send('/bookings/' + encodeURIComponent(view.moving.id) + '/move', { id: newId(), start });
  return send('/bookings', { id: newId(), service: view.service, start });
}

function takeAlternative(q, start) {
  if (q.kind === 'move' && q.booking) return send('/bookings/' + encodeURIComponent(q.booking) + '/move', { id: newId(), start });
  return send('/bookings', { id: newId(), service: q.service, start });
}

function cancelBooking(b) {
  if (!window.confirm(t('book.cancelAsk', { service: serviceName(b.service), time: when(b.start) }))) return;
  send('/bookings/' + encodeURIComponent(b.id) + '/cancel', { id: newId() });
}

function render() {
  if (!root) return;
  root.classList.add('book');
  root.replaceChildren(...[
    el('h2', {}, t('book.title')),
    view.error && el('p', { class: 'book-error', role: 'alert' }, t('book.error', { message: view.error }), ' ',
      el('button', { type: 'button', class: 'book-link', onclick: () => {
        const r = view.retry;
        view.error = '';
        view.retry = null;
        if (r) send(r.path, r.body); else start();
      } }, view.retry ? t('book.sendAgain') : t('book.retry'))),
    view.notice && el('p', { class: 'book-notice', role: 'status' }, t(view.notice)),
    view.moving && el('div', { class: 'book-moving' },
      el('p', {}, t('book.moving', { service: serviceName(view.moving.service), time: when(view.moving.start) })),
      el('button', { type: 'button', onclick: () => { view.moving = null; render(); } }, t('book.stopMoving'))),
    servicesPart(),
    daysPart(),
    slotsPart(),
    bookingsPart(),
    requestsPart(),
  ].filter((c) => c !== null && c !== undefined && c !== false && c !== ''));
}

function servicesPart() {
  if (!view.services.length) return view.ready && !view.error ? el('p', { class: 'book-muted' }, t('book.noServices')) : null;
  return el('fieldset', { class: 'book-services' },
    el('legend', {}, t('book.services')),
    view.services.map((s) => el('button', {
      type: 'button', class: 'book-svc', 'aria-pressed': String(s.id === view.service), dataset: { service: s.id },
      disabled: view.moving && view.moving.service !== s.id,
      onclick: () => { view.service = s.id; view.slots = null; loadSlots(); },
    }, el('span', { class: 'book-svc-name' }, serviceName(s.id)),
    el('span', { class: 'book-svc-meta' }, t('book.minutes', { n: s.minutes }), ' · ', el('strong', {}, price(s))))));
}

function daysPart() {
  if (!view.services.length) return null;
  return el('fieldset', { class: 'book-days' },
    el('legend', {}, t('book.day')),
    el('div', { class: 'book-day-row' }, days().map((d) => el('button', {
      type: 'button', class: 'book-day', 'aria-pressed': String(d === view.day), dataset: { day: d },
      onclick: () => { view.day = d; view.slots = null; loadSlots(); },
    }, dayLabel(d)))));
}

function slotsPart() {
  if (!view.services.length) return null;
  const s = view.slots;
  let body;
  if (!s) body = el('p', { class: 'book-muted' }, t('book.loading'));
  else if (!s.slots.length) body = el('p', { class: 'book-muted' }, t('book.none'));
  else {
    body = el('ul', { class: 'book-slots' }, s.slots.map((x) => el('li', {},
      el('button', { type: 'button', class: 'book-slot', dataset: { start: x.start }, onclick: () => take(x.start) }, clock(x.start)))));
  }
  let mark = null;
  if (s && s.source === 'replica') {
    const key = view.online ? 'book.replicaSlow' : 'book.replica';
    mark = el('p', { class: 'book-replica', role: 'note' }, t(key, { time: fmtTime(s.as_of, view.zone, true) }));
  } else if (s && s.source === 'live') {
    mark = el('p', { class: 'book-live' }, t('book.live'));
  }
  return el('section', { class: 'book-times', 'aria-busy': String(view.loadingSlots) },
    el('h3', {}, t('book.times')), mark, body);
}

function bookingsPart() {
  const list = view.bookings;
  return el('section', { class: 'book-mine' },
    el('h3', {}, t('book.mine')),
    !list.length ? el('p', { class: 'book-muted' }, t('book.noBookings')) :
      el('ul', { class: 'book-list' }, list.map((b) => {
        const open = b.status === 'booked' && new Date(b.start) > new Date();
        return el('li', { class: 'book-item', dataset: { booking: b.id } },
          el('div', { class: 'book-item-main' },
            el('strong', {}, serviceName(b.service)), el('span', {}, when(b.start)),
            el('span', { class: 'book-badge book-status-' + b.status }, t('book.status.' + b.status))),
          open && el('div', { class: 'book-actions' },
            el('button', { type: 'button', class: 'book-move', onclick: () => {
              view.moving = b; view.service = b.service; view.slots = null; root.scrollIntoView({ behavior: 'smooth' }); loadSlots();
            } }, t('book.move')),
            el('button', { type: 'button', class: 'book-cancel', onclick: () => cancelBooking(b) }, t('book.cancel'))));
      })));
}

function requestsPart() {
  const list = view.requests;
  if (!list.length) return null;
  return el('section', { class: 'book-requests' },
    el('h3', {}, t('book.requests')),
    el('ul', { class: 'book-list' }, list.map((q) => el('li', { class: 'book-item book-req-' + q.state, dataset: { request: q.id } },
      el('div', { class: 'book-item-main' },
        el('strong', {}, t('book.kind.' + q.kind), ' · ', serviceName(q.service)),
        q.start && el('span', {}, when(q.start)),
        el('span', { class: 'book-badge book-state-' + q.state }, t(q.unsent ? 'book.state.unsent' : 'book.state.' + q.state))),
      q.unsent && el('div', { class: 'book-actions' },
        el('button', { type: 'button', class: 'book-again', onclick: () => sendAgain(q) }, t('book.sendAgain'))),
      q.state === 'rejected' && el('p', { class: 'book-reason' }, t('book.reason.' + (q.code || 'other')),
        q.message && el('span', { class: 'book-store-says', lang: 'en' }, ' (' + q.message + ')')),
      q.state === 'rejected' && q.alternatives && q.alternatives.length > 0 && el('div', { class: 'book-alts' },
        el('p', {}, t('book.alternatives')),
        q.alternatives.map((a) => el('button', { type: 'button', class: 'book-alt', dataset: { start: a.start },
          onclick: () => takeAlternative(q, a.start) }, when(a.start))))))));
}
