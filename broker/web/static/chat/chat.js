// The conversation, the login and the live view share one view state and
// stay in this file; booking from the phone and the customer's own details
// are the second screen, in book.js.
//
// The customer's page, opened from the store's scan-to-chat code
// (PROTOCOL.md, "Scan-to-chat"): /chat?t=<token>. It redeems the token for
// a login and keeps it on the phone (a reload, or a return days later,
// needs no new code: the store renews the login at every visit, and only
// one unused for chat.customer_login_ttl asks for a scan), and talks to the store over MQTT with the
// same ops as the devices: the customer's own conversation (text, photos,
// voice notes, ticks, recalls, the FAQ assistant, talk to a person) and
// their bookings (stages as they happen, the live camera during the visit,
// the survey afterwards).
//
// State for tests and diagnostics: window.chatView.

import { StoreLink, StoreError, Outbox, newId, clientConfig } from '/lib/store.js';
import { setupBooking, BOOK_STRINGS } from '/chat/book.js';
import { setupHome, HOME_STRINGS } from '/chat/home.js';
import { setupRating, RATE_STRINGS } from '/chat/rate.js';
import { setupDesk, DESK_STRINGS } from '/chat/desk.js';
import { makeI18n } from '/lib/i18n.js';
import { uploadBlob, blobURL, resizeImage } from '/lib/media.js';
import { watchLive } from '/lib/camview.js';

const STRINGS = {
  en: {
    title: 'Chat with the store',
    langButton: '中文',
    sections: 'Sections',
    tabChat: 'Chat',
    tabBookings: 'My bookings',
    messages: 'Messages',
    typeLabel: 'Your message',
    typeHere: 'Type a message',
    send: 'Send',
    photo: 'Send a photo',
    voiceStart: 'Record a voice note',
    voiceStop: 'Stop and send the voice note',
    recording: 'Recording… tap the microphone again to send.',
    handoff: 'Talk to a person',
    handoffTitle: 'Talk to a person?',
    handoffText: 'A member of staff will reply here. They see what you wrote, so there is no need to repeat it.',
    handoffYes: 'Yes, ask a person',
    handoffDone: 'A member of staff has been asked to reply. You will see their answer here.',
    cancel: 'Cancel',
    // status
    connecting: 'Connecting…',
    online: 'Connected',
    reconnecting: 'Reconnecting…',
    offline: 'Offline',
    // gate
    starting: 'Opening the chat…',
    scanAgain: 'Please scan the code at the store to start a chat.',
    tokenExpired: 'This code has expired. Please ask for a new code at the store.',
    tokenUsed: 'This code has already been used. Please ask for a new code at the store.',
    tokenBad: 'This code is not valid. Please scan it again.',
    startBusy: 'Too many new chats from this network right now. Please try again in a few minutes, or ask at the counter.',
    loginExpired: 'This phone is no longer signed in to the store’s chat: it was not used for a long time, or the store signed it out. Please scan the code at the store to chat again.',
    presentOK: 'Done: {device} can now show your details. It forgets you after a few minutes, or when you finish there.',
    presentBad: 'That code did not work: it has expired or was used. Ask the screen for a new code and scan it again.',
    presentNoLogin: 'To use the screen in the store, open your chat first: scan the chat code at the store, then scan the screen\'s code again.',
    noWebsocket: 'Chat is not turned on for this store.',
    network: 'Cannot reach the store. Please check the Wi-Fi connection.',
    // messages
    you: 'You',
    store: 'Store',
    assistant: 'Assistant',
    automatic: 'Automatic answer',
    bookingSender: 'Bookings',
    recalled: 'Message recalled',
    recall: 'Recall',
    recallConfirm: 'Recall this message?',
    recallTooLate: 'This message can no longer be recalled (too much time has passed).',
    recallFailed: 'The message could not be recalled.',
    tickSent: 'Sent',
    tickDelivered: 'Delivered',
    tickRead: 'Read',
    tickPending: 'Waiting to send',
    pendingPhoto: 'Sending the photo…',
    pendingVoice: 'Sending the voice note…',
    photoAlt: 'Photo',
    voiceLabel: 'Voice note',
    voiceSeconds: '{s} s',
    photoFailed: 'The photo could not be sent ({code}).',
    voiceFailed: 'The voice note could not be sent ({code}).',
    needOnline: 'Photos and voice notes need a connection. Please try again when connected.',
    micDenied: 'The microphone is not available.',
    sendFailed: 'A message could not be sent ({code}).',
    tooLong: 'The message is too long.',
    joined: '{who} joined the chat',
    left: '{who} left the chat',
    // cards
    card_booking_created: 'Booking confirmed',
    card_booking_rescheduled: 'Booking moved',
    card_booking_cancelled: 'Booking cancelled',
    card_booking_no_show: 'Missed booking',
    card_booking_checked_in: 'Checked in',
    card_booking_completed: 'Visit finished',
    card_booking_hq_rejected: 'The online booking could not be made',
    card_booking_closed: 'The store is closed on your booking’s day',
    card_progress: 'Progress: {stage}',
    card_reminder: 'Reminder: your booking is coming up',
    card_survey: 'How was your visit?',
    card_product: 'Product',
    card_promotion: 'Offer',
    alternatives: 'Free times instead: {times}',
    rateVisit: 'Rate your visit',
    // bookings
    noBookings: 'You have no upcoming bookings.',
    status_booked: 'Booked',
    status_checked_in: 'In progress',
    status_completed: 'Finished',
    status_cancelled: 'Cancelled',
    status_no_show: 'Missed',
    watchLive: 'Watch live',
    stopLive: 'Stop watching',
    liveVideo: 'Live video of your visit',
    liveOpening: 'Opening the camera…',
    liveNegotiating: 'Starting the video…',
    liveOn: 'Live',
    liveUnstable: 'The connection is unstable. Trying to recover…',
    liveEnded: 'The live view has ended.',
    liveGrantEnded: 'The visit is over — the live view has ended.',
    liveError: 'The live view is not available right now ({code}).',
    liveNoCamera: 'There is no camera for this visit right now.',
    liveCaption: 'Live: {service}',
    surveyTitle: 'How was your visit?',
    surveyScore: 'Your rating (1 to 5)',
    surveyComment: 'Anything to tell us? (optional)',
    surveySend: 'Send',
    surveyThanks: 'Thank you for your rating!',
    surveyPick: 'Please choose a rating from 1 to 5.',
    surveyDone: 'Rated — thank you',
    surveyFailed: 'The rating could not be sent ({code}).',
    stage_checked_in: 'Checked in',
    stage_bathing: 'Bathing',
    stage_drying: 'Drying',
    stage_styling: 'Styling',
    stage_ready: 'Ready to go home',
  },
  zh: {
    title: '在线咨询',
    langButton: 'English',
    sections: '栏目',
    tabChat: '聊天',
    tabBookings: '我的预约',
    messages: '消息',
    typeLabel: '您的消息',
    typeHere: '输入消息',
    send: '发送',
    photo: '发送照片',
    voiceStart: '录制语音',
    voiceStop: '停止并发送语音',
    recording: '正在录音…再次点击麦克风即可发送。',
    handoff: '转人工',
    handoffTitle: '转接店员？',
    handoffText: '店员会在这里回复您。店员能看到您之前的消息，不用重复描述。',
    handoffYes: '是的，转人工',
    handoffDone: '已通知店员，回复会显示在这里。',
    cancel: '取消',
    connecting: '正在连接…',
    online: '已连接',
    reconnecting: '正在重新连接…',
    offline: '已断开',
    starting: '正在打开聊天…',
    scanAgain: '请在门店扫码开始聊天。',
    tokenExpired: '二维码已过期，请在门店重新获取。',
    tokenUsed: '二维码已被使用，请在门店重新获取。',
    tokenBad: '二维码无效，请重新扫码。',
    startBusy: '当前网络发起的新咨询过多，请几分钟后再试，或到前台咨询。',
    loginExpired: '此手机已退出门店聊天：很久没有使用，或门店已将其退出。请在门店重新扫码继续聊天。',
    presentOK: '已确认：{device} 现在可以显示您的信息。几分钟后或您操作结束时会自动退出。',
    presentBad: '此码无效：已过期或已被使用。请在屏幕上获取新码后重新扫码。',
    presentNoLogin: '要使用店内屏幕，请先扫描门店的聊天码打开聊天，然后再扫描屏幕上的码。',
    noWebsocket: '本店未开启在线聊天。',
    network: '无法连接门店，请检查 Wi-Fi 连接。',
    you: '我',
    store: '门店',
    assistant: '智能助手',
    automatic: '自动回复',
    bookingSender: '预约通知',
    recalled: '消息已撤回',
    recall: '撤回',
    recallConfirm: '撤回这条消息？',
    recallTooLate: '已超过撤回时限，无法撤回。',
    recallFailed: '消息撤回失败。',
    tickSent: '已发送',
    tickDelivered: '已送达',
    tickRead: '已读',
    tickPending: '等待发送',
    pendingPhoto: '正在发送照片…',
    pendingVoice: '正在发送语音…',
    photoAlt: '照片',
    voiceLabel: '语音消息',
    voiceSeconds: '{s} 秒',
    photoFailed: '照片发送失败（{code}）。',
    voiceFailed: '语音发送失败（{code}）。',
    needOnline: '发送照片和语音需要网络连接，请连接后重试。',
    micDenied: '无法使用麦克风。',
    sendFailed: '消息发送失败（{code}）。',
    tooLong: '消息太长了。',
    joined: '{who} 加入了聊天',
    left: '{who} 离开了聊天',
    card_booking_created: '预约成功',
    card_booking_rescheduled: '预约已改期',
    card_booking_cancelled: '预约已取消',
    card_booking_no_show: '预约未到店',
    card_booking_checked_in: '已到店签到',
    card_booking_completed: '服务已完成',
    card_booking_hq_rejected: '线上预约未能成功',
    card_booking_closed: '您预约的当天门店休息',
    card_progress: '服务进度：{stage}',
    card_reminder: '提醒：您的预约快到了',
    card_survey: '本次服务您满意吗？',
    card_product: '商品',
    card_promotion: '优惠活动',
    alternatives: '可选的空闲时间：{times}',
    rateVisit: '评价本次服务',
    noBookings: '您目前没有预约。',
    status_booked: '已预约',
    status_checked_in: '服务中',
    status_completed: '已完成',
    status_cancelled: '已取消',
    status_no_show: '未到店',
    watchLive: '观看实时画面',
    stopLive: '停止观看',
    liveVideo: '服务实时画面',
    liveOpening: '正在打开摄像头…',
    liveNegotiating: '正在建立视频连接…',
    liveOn: '直播中',
    liveUnstable: '连接不稳定，正在尝试恢复…',
    liveEnded: '实时画面已结束。',
    liveGrantEnded: '本次服务已结束，实时画面已关闭。',
    liveError: '实时画面暂不可用（{code}）。',
    liveNoCamera: '本次服务目前没有可观看的摄像头。',
    liveCaption: '实时画面：{service}',
    surveyTitle: '本次服务您满意吗？',
    surveyScore: '您的评分（1 到 5）',
    surveyComment: '还有什么想告诉我们的吗？（选填）',
    surveySend: '提交',
    surveyThanks: '感谢您的评价！',
    surveyPick: '请选择 1 到 5 的评分。',
    surveyDone: '已评价，谢谢',
    surveyFailed: '评价提交失败（{code}）。',
    stage_checked_in: '已签到',
    stage_bathing: '洗澡中',
    stage_drying: '吹干中',
    stage_styling: '造型修剪中',
    stage_ready: '已完成，可以接宠物回家',
  },
};

const LOGIN_KEY = 'storeedge.chat.login';
const RECALL_WINDOW_MS = 2 * 60 * 1000; // chat.recall_window's default; the store has the last word
const SKIP_SEND_ERRORS = new Set(['bad_request', 'too_large', 'forbidden', 'not_found', 'conflict']);

for (const l of Object.keys(BOOK_STRINGS)) Object.assign(STRINGS[l], BOOK_STRINGS[l]);
for (const l of Object.keys(HOME_STRINGS)) Object.assign(STRINGS[l], HOME_STRINGS[l]);
for (const l of Object.keys(RATE_STRINGS)) Object.assign(STRINGS[l], RATE_STRINGS[l]);
for (const l of Object.keys(DESK_STRINGS)) Object.assign(STRINGS[l], DESK_STRINGS[l]);
const i18n = makeI18n(STRINGS, 'storeedge.lang');
const t = i18n.t;
const $ = (id) => document.getElementById(id);

// ---- state -----------------------------------------------------------

const view = {
  state: 'starting', // starting | gate | connecting | ready
  gate: null, // why the page cannot chat: a string key
  customer: null,
  conversation: null,
  status: 'connecting',
  messages: [], // {seq, id, from, kind, text, auto, ticks, recalled, ts, card, media}
  pending: [], // outbox items not yet sent: {id, kind, text}
  bookings: [],
  handoff: false,
  notice: null,
  live: null, // {booking, state, code}
  mediaErrors: [], // codes of blobs that could not be read
  thumbsForbidden: false, // the store refused a thumbnail
  store: '', // the store's name, from /client.json
};
window.chatView = view;

let link = null;
// The rating card after staff close the chat (rate.js).
const rating = setupRating({
  t: (k, v) => t(k, v), el: (...a) => el(...a), newId,
  link: () => link, conversation: () => view.conversation, messages: () => view.messages,
  refresh: () => { sync().catch(() => {}); },
});
let outbox = null;
const byseq = new Map(); // seq -> message
let lastSeq = 0;
const receipts = new Map(); // member -> {delivered, read}
let skewMs = 0; // the store's clock minus ours, from the ts of live events
let myRead = 0;
let myDelivered = 0;
let noticeMsg = null; // {key, vars}
let gateKey = null;
let liveSession = null;
let presentCode = null; // a device's presence code to confirm, from ?present=

// ---- login -----------------------------------------------------------

function savedLogin() {
  try {
    // Kept whatever its expires says: the store renews it at every visit
    // and is the one to say when it has ended (the connect is refused).
    const l = JSON.parse(localStorage.getItem(LOGIN_KEY) || 'null');
    if (l && l.username && l.password) return l;
  } catch (e) { /* storage off or garbage */ }
  return null;
}

function saveLogin(l) {
  try { localStorage.setItem(LOGIN_KEY, JSON.stringify(l)); } catch (e) { /* kept for this visit only */ }
}

function forgetLogin() {
  try { localStorage.removeItem(LOGIN_KEY); } catch (e) { /* nothing kept */ }
}

// redeem trades the code's token for a login. A code used before, on
// this phone, is the common case of a reload: the saved login is used.
async function login() {
  const q = new URLSearchParams(location.search);
  // A kiosk's or chat tablet's presence code (?present=…): confirmed once
  // this phone is logged in as the customer (see confirmPresence).
  if (q.get('present')) {
    presentCode = q.get('present');
    q.delete('present');
    const rest = q.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
  }
  const token = q.get('t');
  if (token) {
    // Out of the address bar and the history: a token is used once.
    q.delete('t');
    const rest = q.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
    try {
      const res = await fetch('/chat/redeem', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      const body = await res.json().catch(() => ({}));
      if (res.ok && body.username) {
        const l = { customer: body.customer, username: body.username, password: body.password, expires: body.expires };
        saveLogin(l);
        return l;
      }
      const saved = savedLogin();
      if (saved) return saved;
      const code = body.error && body.error.code;
      throw new GateError(code === 'expired' ? 'tokenExpired' : code === 'used' ? 'tokenUsed' : 'tokenBad');
    } catch (e) {
      if (e instanceof GateError) throw e;
      const saved = savedLogin();
      if (saved) return saved;
      throw new GateError('network');
    }
  }
  const saved = savedLogin();
  if (saved) return saved;
  // The printed counter code (?start=1) works for anyone: a phone with no
  // login asks the store for a new one (POST /chat/start); a phone that
  // chatted before keeps its own (above).
  if (q.get('start')) {
    let res;
    let body = {};
    try {
      res = await fetch('/chat/start', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      body = await res.json().catch(() => ({}));
    } catch (e) {
      throw new GateError('network');
    }
    if (res.ok && body.username) {
      const l = { customer: body.customer, username: body.username, password: body.password, expires: body.expires };
      saveLogin(l);
      return l;
    }
    throw new GateError(body.error && body.error.code === 'rate_limited' ? 'startBusy' : 'network');
  }
  throw new GateError(presentCode ? 'presentNoLogin' : 'scanAgain');
}

// relogin asks the store about a saved login it refused: staff may have
// merged this phone's customer id into another (the same person on two
// phones), and then the same password is a login of that id. null when
// the login has simply ended.
async function relogin(l) {
  try {
    const res = await fetch('/chat/redeem', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: l.username, password: l.password }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok || !body.username) return null;
    const nl = { customer: body.customer, username: body.username, password: body.password, expires: body.expires };
    saveLogin(nl);
    return nl;
  } catch (e) {
    return null;
  }
}

class GateError extends Error {
  constructor(key) { super(key); this.key = key; }
}

function showGate(key) {
  gateKey = key;
  view.state = 'gate';
  view.gate = key;
  document.body.dataset.state = 'gate';
  $('gate').hidden = false;
  $('chat').hidden = true;
  $('bookings').hidden = true;
  $('book').hidden = true;
  $('tabs').hidden = true;
  render();
}

// ---- rendering -------------------------------------------------------

// fmtTime shows an instant on the store's clock (its time zone comes with
// the catalogue), whatever zone the phone is set to; the phone's own zone
// until the catalogue is read.
function fmtTime(ts) {
  const d = new Date(ts);
  if (isNaN(d)) return '';
  const opts = { hour: '2-digit', minute: '2-digit' };
  const tz = view.catalogue && view.catalogue.time_zone;
  if (tz) opts.timeZone = tz;
  try {
    return d.toLocaleTimeString(i18n.lang === 'zh' ? 'zh-CN' : 'en', opts);
  } catch (e) { // a zone this browser does not know
    delete opts.timeZone;
    return d.toLocaleTimeString(i18n.lang === 'zh' ? 'zh-CN' : 'en', opts);
  }
}

// fmtDateTime shows a booking's time as the store wrote it: on the
// store's clock (its offset is in the string), whatever zone the phone is
// set to.
function fmtDateTime(ts) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(String(ts || ''));
  if (!m) return '';
  const wall = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]));
  return wall.toLocaleString(i18n.lang === 'zh' ? 'zh-CN' : 'en', {
    timeZone: 'UTC', weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

// fmtTimeLike shows instant ts on the clock of zoned, a time the store
// wrote with its offset (a booking's start): a stage posted at 09:40 in the
// store reads 09:40 beside a 09:30 start, whatever zone the phone is in.
function fmtTimeLike(ts, zoned) {
  const d = Date.parse(ts);
  const m = /([+-])(\d{2}):(\d{2})$/.exec(String(zoned || ''));
  if (isNaN(d)) return '';
  if (!m) return fmtTime(ts);
  const off = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return new Date(d + off * 60000).toLocaleTimeString(i18n.lang === 'zh' ? 'zh-CN' : 'en', {
    timeZone: 'UTC', hour: '2-digit', minute: '2-digit',
  });
}

function serviceName(x) {
  const n = x && x.service_name;
  return (n && (n[i18n.lang] || n.en || n.zh)) || (x && x.service) || '';
}

function stageName(s) {
  const key = 'stage_' + s;
  const v = t(key);
  return v === key ? String(s).replace(/_/g, ' ') : v;
}

function el(tag, cls, textContent) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (textContent != null) n.textContent = textContent;
  return n;
}

function ticksOf(m) {
  if (m.from !== view.customer) return null;
  let best = 'sent';
  for (const [member, r] of receipts) {
    if (member === view.customer) continue;
    if (r.read >= m.seq) return 'read';
    if (r.delivered >= m.seq) best = 'delivered';
  }
  return best;
}

function storeNow() { return Date.now() + skewMs; }

function canRecall(m) {
  return m.from === view.customer && !m.recalled && m.kind !== 'card' && m.kind !== 'system' &&
    storeNow() - Date.parse(m.ts) < RECALL_WINDOW_MS;
}

function senderLabel(m) {
  if (m.from === view.customer) return t('you');
  if (m.from === 'assistant') return t('assistant');
  if (m.from === 'booking') return t('bookingSender');
  return t('store');
}

function renderMedia(m, box) {
  const media = m.media || {};
  if (m.kind === 'image') {
    const img = el('img', 'photo');
    img.alt = m.text || t('photoAlt');
    box.append(img);
    if (media.hash) {
      // The thumbnail when there is one (small, quick on a phone), else
      // or when it cannot be read, the photo itself. The store lets only
      // staff read thumbnails for now (a thumbnail is checked under its own
      // hash, which no message names): after one refusal, skip them.
      const fullURL = () => blobURL(link, media.hash, media.type);
      const thumb = media.thumbnail && !view.thumbsForbidden;
      (thumb ? blobURL(link, media.thumbnail, 'image/jpeg').catch((e) => {
        if (e.code === 'forbidden') view.thumbsForbidden = true;
        return fullURL();
      }) : fullURL())
        .then((u) => { img.src = u; })
        .catch((e) => { view.mediaErrors.push('full:' + e.code); });
      if (media.thumbnail && media.hash) {
        // The full picture on a tap: the thumbnail is 256 px.
        img.tabIndex = 0;
        img.setAttribute('role', 'button');
        const full = () => blobURL(link, media.hash, media.type).then((u) => { img.src = u; img.classList.add('full'); }).catch(() => {});
        img.addEventListener('click', full);
        img.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); full(); } });
      }
    }
  } else if (m.kind === 'voice' || m.kind === 'video') {
    const av = el(m.kind === 'voice' ? 'audio' : 'video', 'clip');
    av.controls = true;
    av.preload = 'none';
    av.setAttribute('aria-label', t('voiceLabel') + (media.duration_ms ? ' ' + t('voiceSeconds', { s: Math.round(media.duration_ms / 1000) }) : ''));
    box.append(av);
    if (media.hash) blobURL(link, media.hash, media.type).then((u) => { av.src = u; }).catch(() => {});
  } else if (m.kind === 'file') {
    const a = el('a', 'file-link', m.text || media.name || 'file');
    box.append(a);
    if (media.hash) blobURL(link, media.hash, media.type).then((u) => { a.href = u; a.download = media.name || 'file'; }).catch(() => {});
  }
  if (m.text && m.kind !== 'file') box.append(el('p', 'caption', m.text));
}

function renderCard(m, box) {
  const c = m.card || {};
  const card = el('div', 'card card-' + (c.type || 'other'));
  box.append(card);
  let title = '';
  // Booking, progress, reminder and survey cards come from the booking
  // service; the same card from anyone else is shown as a plain card.
  if (m.from !== 'booking' && ['booking', 'progress', 'reminder', 'survey'].includes(c.type)) title = c.title || c.type;
  else if (c.type === 'booking') title = t('card_booking_' + (c.event || 'created'));
  else if (c.type === 'progress') title = t('card_progress', { stage: stageName(c.stage) });
  else if (c.type === 'reminder') title = t('card_reminder');
  else if (c.type === 'survey') title = t('card_survey');
  else if (c.type === 'product') title = c.title || c.name || t('card_product');
  else if (c.type === 'promotion') title = c.title || c.name || t('card_promotion');
  else if (c.type === 'ask') title = '';
  else title = c.title || c.type || '';
  card.append(el('p', 'card-title', title));
  const svc = serviceName(c);
  if (svc) card.append(el('p', 'card-service', svc));
  if (c.start) card.append(el('p', 'card-time', fmtDateTime(c.start)));
  if (c.text || c.description) card.append(el('p', 'card-text', c.text || c.description));
  if (Array.isArray(c.alternatives) && c.alternatives.length) {
    card.append(el('p', 'card-text', t('alternatives', { times: c.alternatives.map((a) => fmtDateTime(a.start)).join(', ') })));
  }
  if (c.type === 'progress' && c.photo && m.from === 'booking') {
    const img = el('img', 'photo');
    img.alt = t('card_progress', { stage: stageName(c.stage) });
    card.append(img);
    blobURL(link, c.photo, 'image/jpeg').then((u) => { img.src = u; }).catch(() => {});
  }
  // The assistant's ask-back: each button sends its question as her text.
  if (c.type === 'ask' && m.from === 'assistant' && Array.isArray(c.buttons)) {
    const row = el('div', 'ask-buttons');
    for (const b of c.buttons) {
      if (!b || typeof b.text !== 'string' || !b.text) continue;
      const btn = el('button', 'secondary', b.text);
      btn.type = 'button';
      btn.dataset.intent = b.intent || '';
      btn.addEventListener('click', () => {
        if (view.state !== 'ready') return;
        notice(null);
        queue({ kind: 'text', text: b.text });
      });
      row.append(btn);
    }
    card.append(row);
  }
  if (c.type === 'survey' && c.booking && m.from === 'booking') {
    const b = view.bookings.find((x) => x.id === c.booking);
    if (b && b.surveyed) {
      card.append(el('p', 'card-text', t('surveyDone')));
    } else {
      const btn = el('button', 'secondary', t('rateVisit'));
      btn.type = 'button';
      btn.addEventListener('click', () => openSurvey(c.booking, svc));
      card.append(btn);
    }
  }
}

// A progress photo follows its card as a message of its own; the card
// shows it, so the extra message is not drawn twice.
function hiddenMessage(m) {
  return m.from === 'booking' && m.kind === 'image' && /^change\.\d+\.photo$/.test(m.id || '');
}

function renderMessage(m) {
  const li = el('li', 'msg');
  li.dataset.seq = m.seq;
  const own = m.from === view.customer;
  li.classList.add(own ? 'own' : 'theirs');
  if (m.auto) li.classList.add('auto');
  if (m.kind === 'card') li.classList.add('has-card');
  const who = el('p', 'who', senderLabel(m));
  if (m.auto) {
    const badge = el('span', 'badge', t('automatic'));
    who.append(' ', badge);
  }
  li.append(who);
  const body = el('div', 'body');
  li.append(body);
  if (m.recalled) {
    body.append(el('p', 'recalled', t('recalled')));
  } else if (m.kind === 'text') {
    body.append(el('p', 'text', m.text || ''));
  } else if (m.kind === 'card' && m.card && m.card.type === 'members') {
    const c = m.card;
    const parts = [];
    if (c.added && c.added.length) parts.push(t('joined', { who: c.added.join(', ') }));
    if (c.removed && c.removed.length) parts.push(t('left', { who: c.removed.join(', ') }));
    li.classList.add('system');
    body.append(el('p', 'text', parts.join(' · ')));
  } else if (m.kind === 'system' && m.card && m.card.type === 'closed') {
    li.classList.add('system', 'closing');
    rating.renderClosed(m, body);
  } else if (m.kind === 'system' && m.card && m.card.type === 'rated') {
    li.classList.add('system');
    rating.renderRated(m, body);
  } else if (m.kind === 'card') {
    renderCard(m, body);
  } else {
    renderMedia(m, body);
  }
  const meta = el('p', 'meta');
  meta.append(el('time', null, fmtTime(m.ts)));
  const tick = ticksOf(m);
  if (tick) {
    const tk = el('span', 'tick tick-' + tick, tick === 'sent' ? '✓' : '✓✓');
    tk.setAttribute('role', 'img');
    tk.setAttribute('aria-label', t(tick === 'sent' ? 'tickSent' : tick === 'delivered' ? 'tickDelivered' : 'tickRead'));
    meta.append(' ', tk);
  }
  li.append(meta);
  if (canRecall(m)) {
    const b = el('button', 'link-btn recall', t('recall'));
    b.type = 'button';
    b.addEventListener('click', () => recall(m));
    li.append(b);
  }
  return li;
}

function renderPending(p) {
  const li = el('li', 'msg own pending');
  li.dataset.pending = p.id;
  li.append(el('p', 'who', t('you')));
  const text = p.kind === 'text' ? p.text : p.kind === 'image' ? t('pendingPhoto') : t('pendingVoice');
  const body = el('div', 'body');
  body.append(el('p', 'text', text));
  li.append(body);
  const meta = el('p', 'meta');
  const tk = el('span', 'tick tick-pending', '…');
  tk.setAttribute('role', 'img');
  tk.setAttribute('aria-label', t('tickPending'));
  meta.append(tk);
  li.append(meta);
  return li;
}

// renderMessages redraws the list; existing items are replaced only when
// they changed, so the log announces new messages and not old ones again.
const drawn = new Map(); // key -> {sig, node}

function renderMessages() {
  const list = $('messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const want = [];
  for (const m of view.messages) {
    if (hiddenMessage(m)) continue;
    const sig = JSON.stringify([i18n.lang, view.catalogue && view.catalogue.time_zone, m.recalled, ticksOf(m), canRecall(m), m.card && m.card.type === 'survey' ? view.bookings.map((b) => b.surveyed) : 0, rating.sig(m)]);
    want.push({ key: 's' + m.seq, sig, make: () => renderMessage(m) });
  }
  for (const p of view.pending) {
    want.push({ key: 'p' + p.id, sig: i18n.lang, make: () => renderPending(p) });
  }
  const keep = new Set(want.map((w) => w.key));
  for (const [k, d] of drawn) {
    if (!keep.has(k)) { d.node.remove(); drawn.delete(k); }
  }
  let prev = null;
  for (const w of want) {
    let d = drawn.get(w.key);
    if (!d || d.sig !== w.sig) {
      const node = w.make();
      if (d) d.node.replaceWith(node);
      d = { sig: w.sig, node };
      drawn.set(w.key, d);
    }
    const at = prev ? prev.nextSibling : list.firstChild;
    if (at !== d.node) list.insertBefore(d.node, at);
    prev = d.node;
  }
  if (nearBottom) list.scrollTop = list.scrollHeight;
}

// renderBookings redraws the list only when it changed: a chat event
// redraws the page, and a button must not be replaced under a finger.
let bookingsDrawn = '';

function renderBookings() {
  const sig = JSON.stringify([i18n.lang, view.bookings]);
  if (sig === bookingsDrawn) return;
  bookingsDrawn = sig;
  const list = $('booking-list');
  list.textContent = '';
  $('no-bookings').hidden = view.bookings.length > 0;
  for (const b of view.bookings) {
    const li = el('li', 'booking status-' + b.status);
    li.dataset.booking = b.id;
    li.append(el('h3', 'booking-service', serviceName(b)));
    li.append(el('p', 'booking-time', fmtDateTime(b.start)));
    li.append(el('p', 'booking-status', t('status_' + b.status)));
    if (Array.isArray(b.progress) && b.progress.length) {
      const ol = el('ol', 'stages');
      ol.setAttribute('aria-label', t('tabBookings'));
      for (const p of b.progress) {
        const s = el('li', 'stage' + (p.stage === b.stage ? ' current' : ''));
        s.append(el('span', 'stage-name', stageName(p.stage)), ' ', el('time', 'stage-time', fmtTimeLike(p.ts, b.start)));
        if (p.stage === b.stage) s.setAttribute('aria-current', 'step');
        ol.append(s);
      }
      li.append(ol);
    }
    booking.bookingActions(b, li);
    if (b.status === 'checked_in') {
      const w = el('button', 'primary watch', t('watchLive'));
      w.type = 'button';
      w.dataset.booking = b.id;
      w.addEventListener('click', () => startLive(b));
      li.append(w);
    }
    if (b.status === 'completed') {
      if (b.surveyed) li.append(el('p', 'surveyed', t('surveyDone')));
      else {
        const s = el('button', 'secondary', t('rateVisit'));
        s.type = 'button';
        s.addEventListener('click', () => openSurvey(b.id, serviceName(b)));
        li.append(s);
      }
    }
    list.append(li);
  }
}

function render() {
  i18n.apply();
  document.title = view.store ? view.store + ' · ' + t('title') : t('title');
  $('store-name').textContent = view.store;
  const lang = $('lang');
  lang.textContent = t('langButton');
  lang.setAttribute('lang', i18n.lang === 'zh' ? 'en' : 'zh-CN');
  $('status').textContent = view.state === 'gate' ? '' : t(view.status);
  document.body.dataset.status = view.status;
  $('gate-msg').textContent = gateKey ? t(gateKey) : '';
  $('notice').textContent = noticeMsg ? t(noticeMsg.key, noticeMsg.vars) : '';
  const rec = $('voice');
  rec.setAttribute('aria-label', t(recorder ? 'voiceStop' : 'voiceStart'));
  if (view.state === 'ready') {
    renderMessages();
    renderBookings();
    booking.render();
  }
  renderLive();
  desk.render();
}

function notice(key, vars) {
  noticeMsg = key ? { key, vars } : null;
  view.notice = key;
  $('notice').textContent = noticeMsg ? t(key, vars) : '';
}

// ---- chat ------------------------------------------------------------

function applyReceipts(list) {
  for (const r of list || []) {
    const cur = receipts.get(r.member) || { delivered: 0, read: 0 };
    receipts.set(r.member, {
      delivered: Math.max(cur.delivered, r.delivered || 0, r.read || 0),
      read: Math.max(cur.read, r.read || 0),
    });
  }
}

function publishView() {
  view.messages = [...byseq.values()].sort((a, b) => a.seq - b.seq).map((m) => Object.assign(m, { ticks: ticksOf(m) || undefined }));
  view.pending = outbox ? outbox.items().map((p) => ({ id: p.id, kind: p.kind, text: p.text })) : [];
}

// sync reads what came after the last message held, so the list has no
// gaps after a reconnect: seqs are gap-free, and the store keeps them.
let syncing = null;
let syncAgain = false;

function sync() {
  if (syncing) { syncAgain = true; return syncing; }
  syncing = (async () => {
    do {
      syncAgain = false;
      let more = true;
      while (more) {
        const h = await link.call('chat', 'history', { conversation: view.conversation, after: lastSeq });
        for (const m of h.messages || []) {
          byseq.set(m.seq, {
            seq: m.seq, id: m.id, from: m.from, kind: m.kind, text: m.text || '', auto: !!m.auto,
            recalled: m.recalled || null, ts: m.ts, card: m.card || null, media: m.media || null,
          });
          if (m.seq > lastSeq) lastSeq = m.seq;
        }
        applyReceipts(h.receipts);
        more = !!h.more && (h.messages || []).length > 0;
      }
    } while (syncAgain);
  })().finally(() => { syncing = null; });
  return syncing.then(() => { publishView(); render(); markSeen(); });
}

// markSeen tells the store the staff's messages reached the phone and,
// when the chat is on screen, that they were read.
async function markSeen() {
  if (link.status !== 'online' || !lastSeq) return;
  const theirs = [...byseq.values()].some((m) => m.seq > myRead && m.from !== view.customer);
  if (!theirs) return;
  const upTo = lastSeq;
  try {
    if (upTo > myDelivered) {
      await link.call('chat', 'delivered', { conversation: view.conversation, up_to: upTo });
      myDelivered = upTo;
    }
    if (document.visibilityState === 'visible' && !$('chat').hidden && upTo > myRead) {
      await link.call('chat', 'read', { conversation: view.conversation, up_to: upTo });
      myRead = upTo;
    }
  } catch (e) { /* the next sync tries again */ }
}

function onChatEvent(topic, ev) {
  if (!ev || ev.conversation !== view.conversation) return;
  desk.onEvent(ev);
  if (ev.ts && ev.type === 'message') {
    const s = Date.parse(ev.ts) - Date.now();
    if (!isNaN(s)) skewMs = s;
  }
  switch (ev.type) {
    case 'message':
      if (ev.seq > lastSeq) sync().catch(() => {});
      break;
    case 'delivered':
    case 'read':
      applyReceipts([{ member: ev.member, delivered: ev.up_to, read: ev.type === 'read' ? ev.up_to : 0 }]);
      publishView();
      render();
      break;
    case 'recall': {
      const m = byseq.get(ev.seq);
      if (m) {
        Object.assign(m, { recalled: ev.ts || true, text: '', media: null, card: null });
        publishView();
        render();
      }
      break;
    }
    default:
      break;
  }
}

// flush sends the outbox, oldest first, each with the id it got when it
// was typed: one that went out before the connection dropped is a repeat
// the store answers without storing it again.
let flushing = false;

async function flush() {
  if (flushing || !link || link.status !== 'online' || !view.conversation) return;
  flushing = true;
  try {
    for (const item of outbox.items()) {
      const body = { conversation: view.conversation, kind: item.kind, lang: i18n.lang };
      if (item.text) body.text = item.text;
      if (item.media) body.media = item.media;
      try {
        const ans = await link.call('chat', 'send', body, { id: item.id });
        if (ans.ts) {
          const s = Date.parse(ans.ts) - Date.now();
          if (!isNaN(s)) skewMs = s;
        }
        outbox.remove(item.id);
      } catch (e) {
        if (e instanceof StoreError && SKIP_SEND_ERRORS.has(e.code)) {
          // Refused for good: sending it again would be refused again.
          outbox.remove(item.id);
          notice(e.code === 'too_large' ? 'tooLong' : 'sendFailed', { code: e.code });
          continue;
        }
        break; // the link is down or the store busy: on the next connect
      }
      publishView();
      render();
    }
  } finally {
    flushing = false;
  }
  publishView();
  render();
  await sync().catch(() => {});
}

function queue(item) {
  outbox.add(item);
  publishView();
  render();
  flush();
}

async function recall(m) {
  try {
    await link.call('chat', 'recall', { conversation: view.conversation, seq: m.seq });
    Object.assign(m, { recalled: true, text: '', media: null });
    notice(null);
  } catch (e) {
    notice(e.code === 'conflict' ? 'recallTooLate' : 'recallFailed');
  }
  publishView();
  render();
}

async function sendMedia(blob, kind, opts) {
  if (link.status !== 'online') { notice('needOnline'); return; }
  const tmp = { id: 'up-' + newId(), kind };
  view.pending.push(tmp);
  const li = renderPending(tmp);
  $('messages').append(li);
  try {
    const b = await uploadBlob(link, blob, opts);
    queue({ kind, media: { hash: b.hash } });
  } catch (e) {
    notice(kind === 'image' ? 'photoFailed' : 'voiceFailed', { code: e.code || 'error' });
  } finally {
    li.remove();
    publishView();
  }
}

// ---- bookings --------------------------------------------------------

let bookingsTimer = null;

async function loadBookings() {
  try {
    const ans = await link.call('booking', 'list', {});
    view.bookings = ans.bookings || [];
    render();
  } catch (e) { /* shown again at the next change or reconnect */ }
}

function onBookingEvent() {
  clearTimeout(bookingsTimer);
  bookingsTimer = setTimeout(loadBookings, 150); // a burst of changes, one read
}

function renderLive() {
  const box = $('live');
  const l = view.live;
  box.hidden = !l;
  if (!l) return;
  box.dataset.state = l.state;
  $('live-caption').textContent = t('liveCaption', { service: l.service });
  const key = { opening: 'liveOpening', negotiating: 'liveNegotiating', live: 'liveOn', unstable: 'liveUnstable' }[l.state];
  let text = key ? t(key) : '';
  if (l.state === 'ended') text = t(l.reason === 'grant_ended' ? 'liveGrantEnded' : 'liveEnded');
  if (l.state === 'error') text = l.code === 'not_found' ? t('liveNoCamera') : t('liveError', { code: l.code });
  $('live-status').textContent = text;
}

function startLive(b) {
  if (liveSession) liveSession.stop();
  view.live = { booking: b.id, service: serviceName(b), state: 'opening' };
  // The customer does not know which camera films its table: the relay
  // finds it from the booking. A camera named with the booking (a future
  // field) is used when present.
  const target = b.camera ? { camera: b.camera } : { booking: b.id };
  const s = watchLive(link, target, $('live-video'), (state, info) => {
    if (liveSession !== s) return;
    Object.assign(view.live, { state, code: info.code || null, reason: info.reason || null });
    if (state === 'ended' || state === 'error') liveSession = null;
    renderLive();
  });
  liveSession = s;
  renderLive();
  $('live-stop').focus();
}

$('live-stop').addEventListener('click', () => {
  if (liveSession) liveSession.stop();
  view.live = null;
  renderLive();
});

let surveyBooking = null;

function openSurvey(bookingId, service) {
  surveyBooking = bookingId;
  $('survey-service').textContent = service || '';
  $('survey-error').textContent = '';
  for (const r of document.querySelectorAll('input[name=score]')) r.checked = false;
  $('survey-comment').value = '';
  $('survey').showModal();
}

$('survey-cancel').addEventListener('click', () => $('survey').close());
$('survey-send').addEventListener('click', async () => {
  const picked = document.querySelector('input[name=score]:checked');
  if (!picked) { $('survey-error').textContent = t('surveyPick'); return; }
  const body = { booking: surveyBooking, score: Number(picked.value) };
  const comment = $('survey-comment').value.trim();
  if (comment) body.comment = comment;
  try {
    const ans = await link.call('booking', 'survey', body);
    const i = view.bookings.findIndex((x) => x.id === surveyBooking);
    if (i >= 0 && ans.booking) view.bookings[i] = ans.booking;
    $('survey').close();
    notice('surveyThanks');
    render();
  } catch (e) {
    if (e.code === 'conflict' && e.reason === 'already_answered') {
      $('survey').close();
      loadBookings();
      return;
    }
    $('survey-error').textContent = t('surveyFailed', { code: e.code || 'error' });
  }
});

// ---- controls --------------------------------------------------------

$('lang').addEventListener('click', () => i18n.setLang(i18n.lang === 'zh' ? 'en' : 'zh'));
i18n.onChange(() => { drawn.clear(); $('messages').textContent = ''; render(); });

function showTab(name) {
  view.tab = name;
  for (const n of ['chat', 'book', 'bookings']) {
    $(n).hidden = n !== name;
    $('tab-' + n).setAttribute('aria-pressed', String(n === name));
  }
  if (name === 'chat') markSeen();
  else if (name === 'bookings') loadBookings();
}
$('tab-chat').addEventListener('click', () => showTab('chat'));
$('tab-book').addEventListener('click', () => showTab('book'));
$('tab-bookings').addEventListener('click', () => showTab('bookings'));

// The second screen: Book, the My bookings actions, My details.
const booking = setupBooking({
  link: () => link, view, t, i18n, el, fmtDateTime, serviceName, notice, showTab, loadBookings,
  onForgotten: () => {
    forgetLogin();
    try { localStorage.removeItem('storeedge.chat.outbox.' + view.customer); } catch (e) { /* nothing kept */ }
    if (link) link.close();
    view.forgotten = true;
    showGate('forgotten');
  },
});
document.addEventListener('visibilitychange', () => { if (view.state === 'ready') markSeen(); });

// "Continue at home": a link to HQ's page for this customer.
setupHome({ link: () => link, t, i18n, fmtTime });

// Who is answering, and "… is typing" (desk.js).
const desk = setupDesk({ link: () => link, view, t });

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const box = $('text');
  const text = box.value.trim();
  if (!text || view.state !== 'ready') return;
  box.value = '';
  notice(null);
  queue({ kind: 'text', text });
  box.focus();
});

// Enter sends, Shift+Enter starts a new line (as in the messaging apps
// people know); an input method's composition is left alone.
$('text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
});

$('photo').addEventListener('change', async (e) => {
  const file = e.target.files && e.target.files[0];
  e.target.value = '';
  if (!file) return;
  notice(null);
  let blob;
  try {
    blob = await resizeImage(file);
  } catch (err) {
    notice('photoFailed', { code: 'image' });
    return;
  }
  await sendMedia(blob, 'image', { type: 'image/jpeg', name: (file.name || 'photo').replace(/\.[^.]*$/, '') + '.jpg' });
});

$('handoff').addEventListener('click', () => $('confirm-handoff').showModal());
$('handoff-no').addEventListener('click', () => $('confirm-handoff').close());
$('handoff-yes').addEventListener('click', async () => {
  $('confirm-handoff').close();
  try {
    await link.call('chat', 'handoff', { conversation: view.conversation });
    view.handoff = true;
    notice('handoffDone');
  } catch (e) {
    notice('sendFailed', { code: e.code || 'error' });
  }
  $('text').focus();
});

// Voice notes where the browser can record: tap to start, tap to send.
const VOICE_TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4', 'audio/webm'];
let recorder = null;
const voiceType = globalThis.MediaRecorder && navigator.mediaDevices && navigator.mediaDevices.getUserMedia
  ? VOICE_TYPES.find((x) => MediaRecorder.isTypeSupported(x)) : null;
$('voice').hidden = !voiceType;

$('voice').addEventListener('click', async () => {
  const btn = $('voice');
  if (recorder) { recorder.stop(); return; }
  if (link.status !== 'online') { notice('needOnline'); return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    notice('micDenied');
    return;
  }
  const rec = new MediaRecorder(stream, { mimeType: voiceType });
  const parts = [];
  const started = performance.now();
  rec.ondataavailable = (e) => { if (e.data && e.data.size) parts.push(e.data); };
  rec.onstop = () => {
    for (const tr of stream.getTracks()) tr.stop();
    recorder = null;
    btn.setAttribute('aria-pressed', 'false');
    notice(null);
    render();
    const blob = new Blob(parts, { type: voiceType.split(';')[0] });
    if (blob.size) sendMedia(blob, 'voice', { type: voiceType, name: 'voice', durationMs: performance.now() - started });
  };
  recorder = rec;
  rec.start();
  btn.setAttribute('aria-pressed', 'true');
  notice('recording');
  render();
});

// The recall button disappears when the window has passed.
setInterval(() => { if (view.state === 'ready') renderMessages(); }, 15000);

// ---- start -----------------------------------------------------------

async function start() {
  render();
  clientConfig().then((c) => { view.store = c.store; render(); }).catch(() => { /* the link says what is wrong */ });
  let l;
  try {
    l = await login();
  } catch (e) {
    showGate(e instanceof GateError ? e.key : 'scanAgain');
    return;
  }
  await connectAs(l);
}

// connectAs connects with login l; a refused saved login is asked about
// once (merged into another id?) before the page asks for a new scan.
async function connectAs(l, asked) {
  view.customer = l.customer || l.username;
  outbox = new Outbox('storeedge.chat.outbox.' + view.customer);
  link = new StoreLink({ username: l.username, password: l.password, suffix: 'chat-' + newId().slice(-8).toLowerCase() });
  window.__storeLink = link;
  // Refused on a reconnect: the login was revoked or ended, or staff merged
  // this customer into another id (then the same password is that id's
  // login, and the page starts again as her).
  link.onLoginRefused(async () => {
    link.close();
    const nl = await relogin(l);
    if (nl) { location.reload(); return; }
    forgetLogin();
    showGate('loginExpired');
  });
  link.onStatus((s) => {
    view.status = s;
    render();
    // After each reconnect: what was missed, then what was typed meanwhile.
    if (s === 'online' && view.state === 'ready') {
      sync().then(flush).catch(() => {});
      desk.resync();
      loadBookings();
      booking.load();
    }
  });
  view.state = 'connecting';
  document.body.dataset.state = 'connecting';
  try {
    await link.connect();
  } catch (e) {
    if (e.code === 'login') {
      const nl = asked ? null : await relogin(l);
      if (nl) { link.close(); return connectAs(nl, true); }
      forgetLogin();
      showGate('loginExpired');
      return;
    }
    showGate(e.code === 'no_websocket' ? 'noWebsocket' : 'network');
    return;
  }
  try {
    const conv = await link.call('chat', 'open', {});
    view.conversation = conv.conversation;
    applyReceipts(conv.receipts);
    await link.subscribe('chat/' + view.conversation + '/events', onChatEvent);
    await link.subscribe('booking/customer/' + view.customer + '/events', onBookingEvent);
    await desk.onOpen(conv);
  } catch (e) {
    showGate('network');
    return;
  }
  view.state = 'ready';
  document.body.dataset.state = 'ready';
  $('gate').hidden = true;
  $('tabs').hidden = false;
  $('chat').hidden = false;
  publishView();
  render();
  await sync().catch(() => {});
  loadBookings();
  booking.load();
  flush();
  confirmPresence();
  $('text').focus();
}

// confirmPresence tells the store that this customer is at the kiosk or
// chat tablet whose code was scanned: only she can, from her own login, and
// only then does that device reach her details (PROTOCOL.md, "Presence").
async function confirmPresence() {
  const code = presentCode;
  presentCode = null;
  if (!code) return;
  try {
    const ans = await link.call('chat', 'presence_confirm', { code });
    view.present = ans.device;
    notice('presentOK', { device: ans.device });
  } catch (e) {
    view.present = null;
    notice('presentBad');
  }
}

start();
