// home.js: signing in with the store's link, the tabs, the conversation
// with the store (text, photos, voice notes, ticks, taking back) and the
// customer's devices. The other parts fill their own tabs once
// "home:ready" is dispatched (lib.js).

import { api, ApiError, token, setToken, newId, addStrings, lang, setLang, t, el, fmtTime } from '/home/lib.js';

addStrings({
  en: {
    'tab.chat': 'Chat', 'tab.book': 'Book', 'tab.watch': 'Watch', 'tab.me': 'Me',
    'lang.other': '中文',
    'state.online': 'Online', 'state.open': 'Online · open now',
    'state.closed': 'Closed, opens at {when}', 'state.closedUnknown': 'Closed now',
    'state.offline': 'Offline: your messages will reach the store when it is back',
    'signin.working': 'Signing you in…',
    'signin.waiting': 'Waiting for the store to confirm this link…',
    'signin.title': 'Continue at home',
    'signin.none': 'There is no login on this phone yet.',
    'signin.how': 'Ask the store for a link:',
    'signin.step1': 'In the store\'s chat, tap "Continue at home", or ask staff at the counter.',
    'signin.step2': 'Open the link on this phone. It works once and for a short while.',
    'signin.lost': 'Lost your phone? Staff at the store can give you a new link that signs out the old one.',
    'signin.gone': 'This link was already used or has expired. Ask the store for a new one.',
    'signin.notyet': 'The store has not confirmed this link yet. Check that it is online, or ask for a new link.',
    'signin.failed': 'Could not sign in: {msg}',
    'signin.out': 'This phone was signed out.',
    'chat.empty': 'Say hello: staff answer here, and the store\'s assistant helps when they are away.',
    'chat.placeholder': 'Message', 'chat.send': 'Send', 'chat.photo': 'Send a photo', 'chat.voice': 'Record a voice note',
    'chat.stop': 'Stop and send', 'chat.recording': 'Recording… tap the square to send',
    'chat.assistant': 'Assistant', 'chat.hq': 'Answered by HQ while the store was away', 'chat.staff': 'Staff',
    'chat.sending': 'Sending', 'chat.delivered': 'Delivered', 'chat.read': 'Read',
    'chat.recall': 'Take back', 'chat.recalled': 'You took this message back', 'chat.recalledOther': 'Message taken back',
    'chat.photoLoading': 'Photo on its way…', 'chat.voiceMsg': 'Voice message', 'chat.photoMsg': 'Photo',
    'chat.noMic': 'The microphone is not available here.', 'chat.retry': 'Send again', 'chat.failed': 'Not sent: {msg}',
    'chat.offlineBanner': 'The store is offline. Your messages are kept and reach it, in order, when it is back.',
    'chat.closedBanner': 'The store is closed now. Staff will answer when it opens.',
    'me.devices': 'Your devices', 'me.this': 'This device', 'me.lastUsed': 'Last used {when}',
    'me.signout': 'Sign out this device', 'me.revoke': 'Sign out', 'me.unknown': 'A phone',
    'me.note': 'Signing out another device ends its login at once. To sign in again it needs a new link from the store.',
    'me.who': 'Signed in as {name} at {store}',
  },
  zh: {
    'tab.chat': '聊天', 'tab.book': '预约', 'tab.watch': '看直播', 'tab.me': '我的',
    'lang.other': 'EN',
    'state.online': '在线', 'state.open': '在线 · 营业中',
    'state.closed': '休息中，{when} 开门', 'state.closedUnknown': '休息中',
    'state.offline': '门店离线：恢复连接后会收到您的消息',
    'signin.working': '正在登录…',
    'signin.waiting': '正在等待门店确认这个链接…',
    'signin.title': '在家继续',
    'signin.none': '这部手机还没有登录。',
    'signin.how': '请向门店要一个链接：',
    'signin.step1': '在门店的聊天里点“在家继续”，或请柜台的店员生成。',
    'signin.step2': '用这部手机打开链接。链接只能用一次，并且很快过期。',
    'signin.lost': '手机丢了？门店店员可以给您一个新链接，同时让旧手机退出登录。',
    'signin.gone': '这个链接已经用过或已过期。请向门店要一个新的。',
    'signin.notyet': '门店还没有确认这个链接。请确认门店在线，或重新要一个链接。',
    'signin.failed': '无法登录：{msg}',
    'signin.out': '这部手机已退出登录。',
    'chat.empty': '打个招呼吧：店员会在这里回复，店员不在时门店助手会先帮您。',
    'chat.placeholder': '输入消息', 'chat.send': '发送', 'chat.photo': '发照片', 'chat.voice': '录语音',
    'chat.stop': '停止并发送', 'chat.recording': '录音中… 点方块发送',
    'chat.assistant': '助手', 'chat.hq': '门店离开时由总部代答', 'chat.staff': '店员',
    'chat.sending': '发送中', 'chat.delivered': '已送达', 'chat.read': '已读',
    'chat.recall': '撤回', 'chat.recalled': '你撤回了一条消息', 'chat.recalledOther': '消息已撤回',
    'chat.photoLoading': '照片传输中…', 'chat.voiceMsg': '语音消息', 'chat.photoMsg': '照片',
    'chat.noMic': '这里无法使用麦克风。', 'chat.retry': '重新发送', 'chat.failed': '未发送：{msg}',
    'chat.offlineBanner': '门店离线。您的消息已保存，门店恢复后会按顺序收到。',
    'chat.closedBanner': '门店休息中，开门后店员会回复您。',
    'me.devices': '您的设备', 'me.this': '本机', 'me.lastUsed': '最近使用 {when}',
    'me.signout': '本机退出登录', 'me.revoke': '退出登录', 'me.unknown': '一部手机',
    'me.note': '让其他设备退出后，它立即失去登录；要再登录需要门店的新链接。',
    'me.who': '{name}，{store}',
  },
});

const RECALL_MS = 2 * 60 * 1000; // home.recall_window's default; HQ has the last word (409)
const $ = (id) => document.getElementById(id);
// Icons drawn inline (a phone may have no emoji font).
const ICON = {
  photo: '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><path fill="currentColor" d="M9 4 7.2 6H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V8a2 2 0 0 0-2-2h-3.2L15 4H9zm3 4.5a4.5 4.5 0 1 1 0 9 4.5 4.5 0 0 1 0-9zm0 2a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z"/></svg>',
  mic: '<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><path fill="currentColor" d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 6-6.9h-2z"/></svg>',
  stop: '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor"/></svg>',
};
function icon(btn, name) { btn.innerHTML = ICON[name]; return btn; }
let me = null; // GET /me
let storeState = null;
let view = { version: '', messages: [] };
let local = []; // sent from this page, not yet in the view
let pollAbort = null; // ends the current wait (the loop asks again at once)
let pollStop = false; // signed out: the loop ends
const sentHere = new Set(); // ids of messages sent from this page
let lastReadSent = 0;
const mediaURLs = new Map(); // hash → object URL

// ---- the header, language and state line ----

function renderHeader() {
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  $('lang').textContent = t('lang.other');
  const s = storeState;
  $('store-name').textContent = (s && s.name) || (me && me.customer.store_name) || '';
  const line = $('store-state');
  line.className = '';
  if (!s) { line.textContent = ''; return; }
  if (!s.online) { line.textContent = t('state.offline'); line.className = 'offline'; }
  else if (!s.open) {
    line.textContent = s.next_open ? t('state.closed', { when: fmtTime(s.next_open, s.zone, !sameDay(s.next_open, s.zone)) }) : t('state.closedUnknown');
  } else line.textContent = t('state.online');
  document.title = $('store-name').textContent || t('signin.title');
}

function sameDay(iso, zone) {
  const o = { timeZone: zone || undefined, year: 'numeric', month: 'numeric', day: 'numeric' };
  return new Date(iso).toLocaleDateString('en-GB', o) === new Date().toLocaleDateString('en-GB', o);
}

function setState(s) {
  if (!s) return;
  storeState = s;
  renderHeader();
  document.dispatchEvent(new CustomEvent('home:state', { detail: s }));
}

// ---- signing in ----

function linkFromHash() {
  const m = /(?:^#|&)link=([^&]+)/.exec(location.hash);
  if (!m) return null;
  const v = decodeURIComponent(m[1]);
  const dot = v.lastIndexOf('.');
  if (dot <= 0) return null;
  return { store: v.slice(0, dot), code: v.slice(dot + 1) };
}

function deviceName() {
  const ua = navigator.userAgent;
  const m = /(iPhone|iPad|Android[^;)]*|Windows|Macintosh|Linux)/.exec(ua);
  return (m ? m[1] : 'Browser').slice(0, 60);
}

function showSignin(...children) {
  const s = $('signin');
  s.replaceChildren(...children.filter((c) => c));
  s.hidden = false;
  $('tabs').hidden = true;
  for (const p of document.querySelectorAll('[data-panel]')) p.hidden = true;
}

function showNoLogin(reason) {
  showSignin(
    el('h1', {}, t('signin.title')),
    reason ? el('p', { class: 'banner', role: 'alert' }, reason) : null,
    el('p', {}, t('signin.none')),
    el('p', {}, t('signin.how')),
    el('ol', { class: 'steps' }, el('li', {}, t('signin.step1')), el('li', {}, t('signin.step2'))),
    el('p', { class: 'note' }, t('signin.lost')),
  );
}

async function redeem(link) {
  showSignin(el('h1', {}, t('signin.title')), el('div', { class: 'spinner' }), el('p', { id: 'signin-status' }, t('signin.working')));
  const until = Date.now() + 30000; // the store's vouch may still be on its way
  for (;;) {
    try {
      const ans = await api('POST', '/login', { store: link.store, code: link.code, device: deviceName() });
      setToken(ans.token);
      history.replaceState(null, '', location.pathname + location.search); // the code is spent: off the address
      return true;
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 0 || e.status >= 500) && Date.now() < until) {
        const st = $('signin-status');
        if (st) st.textContent = t('signin.waiting');
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      history.replaceState(null, '', location.pathname + location.search);
      const msg = e.status === 410 ? t('signin.gone') : e.status === 404 ? t('signin.notyet') : t('signin.failed', { msg: e.message });
      showNoLogin(msg);
      return false;
    }
  }
}

// ---- tabs ----

function selectTab(name) {
  for (const b of document.querySelectorAll('#tabs button')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
  for (const p of document.querySelectorAll('[data-panel]')) p.hidden = p.dataset.panel !== name;
  if (name === 'chat') scrollDown();
  if (name === 'me') renderMe();
}

function renderTabs() {
  for (const b of document.querySelectorAll('#tabs button')) b.textContent = t('tab.' + b.dataset.tab);
}

// ---- the conversation ----

let chatBuilt = false;
function buildChat() {
  if (chatBuilt) return;
  chatBuilt = true;
  const list = el('div', { class: 'list', id: 'chat-list', 'aria-live': 'polite' });
  const input = el('textarea', { id: 'chat-input', rows: 1, maxlength: 4000 });
  const photo = el('input', { type: 'file', accept: 'image/*', hidden: true, id: 'chat-file' });
  const err = el('div', { class: 'error-line', id: 'chat-error', role: 'alert', hidden: true });
  const send = el('button', { class: 'send', id: 'chat-send', type: 'button', onclick: () => sendText() });
  const photoBtn = icon(el('button', { class: 'icon', id: 'chat-photo', type: 'button', onclick: () => photo.click() }), 'photo');
  const voiceBtn = icon(el('button', { class: 'icon', id: 'chat-voice', type: 'button', onclick: () => toggleVoice() }), 'mic');
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendText(); } });
  input.addEventListener('input', () => { input.style.height = 'auto'; input.style.height = Math.min(input.scrollHeight, 120) + 'px'; });
  photo.addEventListener('change', () => { if (photo.files[0]) sendPhoto(photo.files[0]); photo.value = ''; });
  $('chat').replaceChildren(el('div', { id: 'chat-banner' }), list, err,
    el('div', { class: 'composer' }, photoBtn, voiceBtn, input, send, photo));
  labelChat();
}

function labelChat() {
  if (!chatBuilt) return;
  $('chat-input').placeholder = t('chat.placeholder');
  $('chat-send').textContent = t('chat.send');
  $('chat-photo').title = t('chat.photo'); $('chat-photo').setAttribute('aria-label', t('chat.photo'));
  $('chat-voice').title = recorder ? t('chat.stop') : t('chat.voice');
  $('chat-voice').setAttribute('aria-label', $('chat-voice').title);
}

function showError(msg) {
  const e = $('chat-error');
  e.textContent = msg || '';
  e.hidden = !msg;
}

function scrollDown() {
  const l = $('chat-list');
  if (l) l.scrollTop = l.scrollHeight;
}

function allMessages() {
  const ids = new Set(view.messages.map((m) => m.id));
  local = local.filter((m) => !ids.has(m.id));
  return view.messages.concat(local);
}

function renderChat() {
  buildChat();
  const list = $('chat-list');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const msgs = allMessages();
  const banner = $('chat-banner');
  banner.replaceChildren();
  if (storeState && !storeState.online) banner.append(el('div', { class: 'banner' }, t('chat.offlineBanner')));
  else if (storeState && !storeState.open) banner.append(el('div', { class: 'banner' }, t('chat.closedBanner')));
  const zone = storeState && storeState.zone;
  const nodes = [];
  let lastDay = '';
  for (const m of msgs) {
    const day = new Date(m.ts).toDateString();
    if (day !== lastDay) { nodes.push(el('div', { class: 'day' }, fmtDay(m.ts, zone))); lastDay = day; }
    nodes.push(renderMsg(m, zone));
  }
  if (!msgs.length) nodes.push(el('p', { class: 'empty' }, t('chat.empty')));
  list.replaceChildren(...nodes);
  if (atBottom) scrollDown();
  markRead(msgs);
}

function renderMsg(m, zone) {
  const cls = ['msg', m.from];
  if (m.via === 'hq') cls.push('hq');
  if (m.recalled) cls.push('recalled');
  const node = el('div', { class: cls.join(' '), 'data-key': m.key, 'data-id': m.id });
  if (m.from !== 'me') {
    const who = m.from === 'assistant' ? (m.via === 'hq' ? t('chat.hq') : t('chat.assistant')) : (m.sender || t('chat.staff'));
    node.append(el('span', { class: 'who' }, who));
  }
  if (m.recalled) {
    node.append(m.from === 'me' ? t('chat.recalled') : t('chat.recalledOther'));
    return node;
  }
  if (m.media && m.kind === 'image') node.append(mediaNode(m.media, 'img'));
  else if (m.media && m.kind === 'voice') node.append(mediaNode(m.media, 'audio'));
  if (m.text) node.append(el('div', { class: 'text' }, m.text));
  if (m.card) node.append(el('div', { class: 'card' }, cardText(m.card)));
  const meta = el('div', { class: 'meta' }, el('time', { datetime: m.ts }, fmtTime(m.ts, zone, false)));
  if (m.from === 'me') {
    if (m.failed) {
      meta.append(el('span', { class: 'tick', role: 'alert' }, t('chat.failed', { msg: m.failed })),
        el('button', { class: 'recall', type: 'button', onclick: () => retry(m) }, t('chat.retry')));
    }
    else {
      const tick = m.state === 'sending' ? '✓' : '✓✓';
      meta.append(el('span', { class: 'tick' + (m.state === 'read' ? ' read' : ''), title: t('chat.' + (m.state || 'sending')),
        'aria-label': t('chat.' + (m.state || 'sending')) }, tick));
    }
    // Only what she sent from home can be taken back from here.
    if (!m.failed && (sentHere.has(m.id) || m.key.startsWith('p:')) && Date.now() - new Date(m.ts).getTime() < RECALL_MS && !m.key.startsWith('l:')) {
      meta.prepend(el('button', { class: 'recall', type: 'button', onclick: () => recall(m.id) }, t('chat.recall')));
    }
  }
  node.append(meta);
  return node;
}

function fmtDay(iso, zone) {
  const o = { weekday: 'short', month: 'short', day: 'numeric' };
  if (zone) o.timeZone = zone;
  return new Date(iso).toLocaleDateString(lang() === 'zh' ? 'zh-CN' : 'en-GB', o);
}

function cardText(card) {
  if (typeof card === 'string') return card;
  return card.title || card.text || card.service || JSON.stringify(card);
}

// mediaNode shows a blob of the conversation: fetched with the login (an
// <img> cannot send it), retried while HQ asks the store for it.
function mediaNode(media, tag) {
  const node = el(tag, tag === 'audio' ? { controls: true, preload: 'none' } : { alt: t('chat.photoMsg') });
  const hold = el('span', { class: 'note' }, tag === 'img' ? t('chat.photoLoading') : t('chat.voiceMsg'));
  const wrap = el('div', {}, hold);
  // A picture that arrives after the list was drawn keeps the bottom in view.
  node.addEventListener('load', () => {
    const l = $('chat-list');
    if (l && l.scrollHeight - l.scrollTop - l.clientHeight < node.clientHeight + 80) scrollDown();
  });
  const url = mediaURLs.get(media.hash);
  if (url) { node.src = url; wrap.replaceChildren(node); return wrap; }
  loadMedia(media.hash).then((u) => { node.src = u; wrap.replaceChildren(node); }).catch(() => {});
  return wrap;
}

async function loadMedia(hash, tries = 0) {
  if (mediaURLs.has(hash)) return mediaURLs.get(hash);
  const res = await fetch('/home/api/v1/media/' + hash, { headers: { Authorization: 'Bearer ' + token() } });
  if (res.status === 202 && tries < 20) {
    await new Promise((r) => setTimeout(r, 3000));
    return loadMedia(hash, tries + 1);
  }
  if (!res.ok) throw new Error('media ' + res.status);
  const u = URL.createObjectURL(await res.blob());
  mediaURLs.set(hash, u);
  return u;
}

async function markRead(msgs) {
  let top = 0;
  for (const m of msgs) if (m.from !== 'me' && m.seq > top) top = m.seq;
  if (top <= lastReadSent || document.hidden || $('chat').hidden) return;
  lastReadSent = top;
  try { await api('POST', '/read', { up_to: top }); } catch { lastReadSent = 0; }
}

// retry sends a message that failed again, under its id (HQ keeps one).
function retry(m) {
  local = local.filter((x) => x.id !== m.id);
  post(m.body, { media: m.media });
}

async function post(body, preview) {
  const id = body.id;
  const pending = { key: 'l:' + id, id, body, from: 'me', kind: body.kind, text: body.text, media: body.media,
    ts: new Date().toISOString(), state: 'sending', ...preview };
  local.push(pending);
  sentHere.add(id);
  renderChat();
  scrollDown();
  try {
    const ans = await api('POST', '/messages', body);
    local = local.filter((m) => m.id !== id);
    local.push(ans.message, ...(ans.auto || []));
    showError('');
  } catch (e) {
    if (e.status === 401) return signedOut();
    if (e.status === 503) {
      // HQ keeps it and passes it on by itself: its copy shows as sending.
      local = local.filter((x) => x !== pending);
      view.version = '';
      if (pollAbort) pollAbort.abort();
      showError(e.message);
      renderChat();
      return;
    }
    pending.failed = e.message;
    showError(t('chat.failed', { msg: e.message }));
    // The network did not take it: try again by itself, under the same id,
    // a few times (the button does it too).
    const tries = (preview && preview.tries) || 0;
    if (e.status === 0 && tries < 10) {
      setTimeout(() => { if (local.includes(pending) && pending.failed) { local = local.filter((x) => x !== pending); post(body, { media: pending.media, tries: tries + 1 }); } },
        Math.min(30000, 3000 * 2 ** tries));
    }
  }
  renderChat();
  scrollDown();
}

async function sendText() {
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  input.style.height = '';
  await post({ id: newId(), kind: 'text', text });
}

// downscale makes a photo at most 1600 px on its long side, as JPEG.
async function downscale(file) {
  const bmp = await createImageBitmap(file).catch(() => null);
  if (!bmp) return { blob: file, width: 0, height: 0 };
  const scale = Math.min(1, 1600 / Math.max(bmp.width, bmp.height));
  if (scale === 1 && file.size < 1.5 * 1024 * 1024 && /^image\/(jpeg|png|webp)$/.test(file.type)) {
    return { blob: file, width: bmp.width, height: bmp.height };
  }
  const w = Math.round(bmp.width * scale), h = Math.round(bmp.height * scale);
  const c = document.createElement('canvas');
  c.width = w; c.height = h;
  c.getContext('2d').drawImage(bmp, 0, 0, w, h);
  const blob = await new Promise((r) => c.toBlob(r, 'image/jpeg', 0.85));
  return { blob, width: w, height: h };
}

async function upload(blob, extra, kind) {
  try {
    const up = await api('POST', '/media', blob);
    mediaURLs.set(up.hash, URL.createObjectURL(blob));
    await post({ id: newId(), kind, media: { hash: up.hash, type: up.type, size: up.size, ...extra } });
  } catch (e) {
    if (e.status === 401) return signedOut();
    showError(t('chat.failed', { msg: e.message }));
  }
}

async function sendPhoto(file) {
  const { blob, width, height } = await downscale(file);
  await upload(blob, width ? { width, height } : {}, 'image');
}

let recorder = null;
async function toggleVoice() {
  if (recorder) { recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) { showError(t('chat.noMic')); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch { showError(t('chat.noMic')); return; }
  const type = ['audio/webm', 'audio/ogg', 'audio/mp4'].find((x) => MediaRecorder.isTypeSupported(x)) || '';
  const rec = new MediaRecorder(stream, type ? { mimeType: type } : {});
  const chunks = [];
  const began = Date.now();
  rec.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  rec.onstop = async () => {
    stream.getTracks().forEach((tr) => tr.stop());
    recorder = null;
    $('chat-voice').classList.remove('rec');
    icon($('chat-voice'), 'mic');
    showError('');
    labelChat();
    const blob = new Blob(chunks, { type: (rec.mimeType || type || 'audio/webm').split(';')[0] });
    if (blob.size) await upload(blob, { duration_ms: Date.now() - began }, 'voice');
  };
  recorder = rec;
  rec.start();
  $('chat-voice').classList.add('rec');
  icon($('chat-voice'), 'stop');
  showError(t('chat.recording'));
  labelChat();
}

async function recall(id) {
  try {
    const ans = await api('POST', '/messages/' + encodeURIComponent(id) + '/recall');
    local = local.filter((m) => m.id !== id);
    view.messages = view.messages.map((m) => (m.id === id ? ans.message : m));
    showError('');
  } catch (e) {
    if (e.status === 401) return signedOut();
    showError(e.message);
  }
  renderChat();
}

// poll keeps the conversation current: a long-poll that HQ answers when
// it changes (or after 25 s).
async function poll() {
  for (;;) {
    pollAbort = new AbortController();
    try {
      const v = await api('GET', '/messages?since=' + encodeURIComponent(view.version) + '&wait=25', undefined, { signal: pollAbort.signal });
      view = v;
      setState(v.store);
      renderChat();
    } catch (e) {
      if (e.name === 'AbortError') { if (pollStop) return; continue; }
      if (e.status === 401) return signedOut();
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

// ---- Me: her devices ----

async function renderMe() {
  const sec = $('me');
  let mine = sec.querySelector('#me-devices');
  if (!mine) {
    mine = el('div', { id: 'me-devices' });
    sec.prepend(mine);
  }
  let m;
  try { m = await api('GET', '/me'); } catch (e) { if (e.status === 401) signedOut(); return; }
  me = m;
  const items = m.logins.map((l) => el('li', {},
    el('div', { class: 'd' }, l.device || t('me.unknown'), l.current ? ' · ' + t('me.this') : '',
      el('small', {}, t('me.lastUsed', { when: fmtTime(l.last_used, storeState && storeState.zone) }))),
    l.current
      ? el('button', { type: 'button', class: 'danger', onclick: () => signOutHere() }, t('me.signout'))
      : el('button', { type: 'button', onclick: () => revokeLogin(l.id) }, t('me.revoke'))));
  mine.replaceChildren(
    el('p', { class: 'note' }, t('me.who', { name: m.customer.name || m.customer.customer, store: m.customer.store_name })),
    el('h2', {}, t('me.devices')),
    el('ul', { class: 'devices' }, ...items),
    el('p', { class: 'note' }, t('me.note')));
}

async function revokeLogin(id) {
  try { await api('DELETE', '/logins/' + encodeURIComponent(id)); } catch (e) { if (e.status === 401) return signedOut(); }
  renderMe();
}

async function signOutHere() {
  try { await api('POST', '/logout'); } catch { /* signed out either way */ }
  signedOut();
}

function signedOut() {
  pollStop = true;
  if (pollAbort) pollAbort.abort();
  setToken('');
  showNoLogin(t('signin.out'));
}

// ---- start ----

document.addEventListener('home:lang', () => { renderHeader(); renderTabs(); labelChat(); if (me) { renderChat(); if (!$('me').hidden) renderMe(); } else if (!$('signin').hidden && !token()) showNoLogin(); });

async function main() {
  $('lang').addEventListener('click', () => setLang(lang() === 'zh' ? 'en' : 'zh'));
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => selectTab(b.dataset.tab));
  renderHeader();
  renderTabs();
  const link = linkFromHash();
  if (link && !(await redeem(link))) return;
  if (!token()) { showNoLogin(); return; }
  try {
    me = await api('GET', '/me');
  } catch (e) {
    if (e.status === 401) { setToken(''); showNoLogin(t('signin.out')); return; }
    showNoLogin(t('signin.failed', { msg: e.message }));
    return;
  }
  $('signin').hidden = true;
  $('tabs').hidden = false;
  setState(me.store);
  buildChat();
  selectTab('chat');
  document.dispatchEvent(new CustomEvent('home:ready', { detail: { me, store: me.store } }));
  document.addEventListener('visibilitychange', () => { if (!document.hidden) markRead(allMessages()); });
  poll();
}

// A link opened in a tab that already shows the page.
window.addEventListener('hashchange', () => { if (linkFromHash()) location.reload(); });

main();
