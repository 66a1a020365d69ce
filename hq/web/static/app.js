// What HQ's pages share: the strings in English and Chinese (the store
// pages' language switch), the API calls, time formats, and the "Send a
// notice" form.

import { makeI18n } from '/lib/i18n.js';

const STRINGS = {
  en: {
    langButton: '中文',
    title: 'Stores at HQ',
    signInTitle: 'Sign in with an API key',
    keyLabel: 'API key',
    keyHint: 'An administrator makes keys with: storeedge-hq key add NAME',
    signIn: 'Sign in',
    signOut: 'Sign out',
    badKey: 'This key is unknown or revoked.',
    tooMany: 'Too many wrong keys from here. Wait a minute and try again.',
    failed: 'Something went wrong ({status}): {message}',
    search: 'Search',
    searchHint: 'store id or name',
    offlineOver: 'Offline for more than (hours)',
    backlogOver: 'Backlog over',
    clear: 'Clear',
    more: 'More stores',
    noStores: 'No store matches.',
    summary: 'Stores: {n} · online: {online} · offline: {offline} · with a backlog: {backlogged}',
    summaryStale: ' · online but silent: {stale}',
    summaryMore: ' · showing the first {shown}',
    updated: 'Updated {time}; refreshes every 10 s.',
    stale: 'Could not refresh: {message}. Showing what was there at {time}.',
    colStore: 'Store', colState: 'State', colLastSeen: 'Last seen', colBacklog: 'Backlog',
    colBacklogAge: 'Oldest waiting', colVersion: 'Version', colSkew: 'Clock', colErrors: 'Errors', colChats: 'Open chats',
    online: 'Online',
    offline: 'Offline',
    offlineFor: 'Offline {d}',
    staleFor: 'Online, silent {d}',
    stateAll: 'All',
    never: 'never',
    ago: '{d} ago',
    none: '—',
    skewAhead: '{d} ahead',
    skewBehind: '{d} behind',
    skewOK: 'in step',
    clockUnsynced: 'Not set: no time source yet',
    back: '← All stores',
    link: 'Link',
    epoch: 'Box (epoch)',
    firstSeen: 'First seen',
    timeZone: 'Time zone',
    lastError: 'Last error',
    backlogBytes: 'Backlog size',
    firstResponse: 'First response (median)',
    frWeek: 'Last 7 days',
    frToday: 'Today',
    frUnanswered: 'Not answered yet (7 days)',
    frOf: '{d} ({n} answered)',
    frNone: 'no conversation',
    openChats: 'Open conversations',
    noOpenChats: 'No conversation in the last 24 hours.',
    waiting: 'waiting {d}',
    answered: 'answered',
    lastMessage: 'last message {d} ago',
    bookingsToday: 'Today’s bookings ({day}, {tz})',
    noBookings: 'No booking today.',
    devices: 'Devices',
    noDevices: 'No device has reported.',
    configPushes: 'Config pushes',
    noPushes: 'No config push sent to this store.',
    pushesUnavailable: 'Config pushes are not available on this HQ.',
    pushApplied: 'applied', pushRefused: 'refused', pushSent: 'sent, no answer yet',
    pushLine: 'Version {v} by {by}, {when}: {state}',
    listCut: 'Only the first {n} are shown.',
    noticeTitle: 'Send a notice',
    noticeKind: 'Kind',
    kindNotice: 'Notice',
    kindPromotion: 'Promotion',
    noticeHeading: 'Title',
    noticeBody: 'Text',
    noticeTo: 'To',
    toThis: 'This store',
    toList: 'These stores',
    toAll: 'Every store',
    toListHint: 'store ids, separated by commas or spaces',
    noticeExpires: 'Expires (optional)',
    send: 'Send',
    sending: 'Sending…',
    sentOK: 'Sent: notice {id}.',
    sentStored: 'Stored as notice {id}; it will go out when HQ’s broker is back ({error}).',
    noticesUnavailable: 'Sending notices is not available on this HQ.',
    needTitle: 'Give the notice a title.',
    needStores: 'Name at least one store.',
    unknownStore: 'No such store.',
    status_booked: 'Booked',
    status_checked_in: 'Checked in',
    status_completed: 'Completed',
    status_cancelled: 'Cancelled',
    status_no_show: 'No-show',
    sentTitle: 'Notices sent',
    noSent: 'No notice sent yet.',
    sentLine: '{when} · {kind} · “{title}” to {to} by {by} · acknowledged by {acked}',
    toAllStores: 'every store',
    toStores: '{n} stores',
  },
  zh: {
    langButton: 'English',
    title: '总部门店一览',
    signInTitle: '使用 API 密钥登录',
    keyLabel: 'API 密钥',
    keyHint: '管理员用此命令创建密钥：storeedge-hq key add 名称',
    signIn: '登录',
    signOut: '退出',
    badKey: '密钥无效或已被吊销。',
    tooMany: '此处输错密钥次数过多，请一分钟后再试。',
    failed: '出错了（{status}）：{message}',
    search: '搜索',
    searchHint: '门店编号或名称',
    offlineOver: '离线超过（小时）',
    backlogOver: '积压超过',
    clear: '清除',
    more: '更多门店',
    noStores: '没有符合条件的门店。',
    summary: '门店 {n} · 在线 {online} · 离线 {offline} · 有积压 {backlogged}',
    summaryStale: ' · 在线但无消息 {stale}',
    summaryMore: ' · 显示前 {shown} 家',
    updated: '更新于 {time}，每 10 秒刷新。',
    stale: '刷新失败：{message}。显示的是 {time} 的数据。',
    colStore: '门店', colState: '状态', colLastSeen: '最后联系', colBacklog: '积压',
    colBacklogAge: '最早待发', colVersion: '版本', colSkew: '时钟', colErrors: '错误', colChats: '进行中会话',
    online: '在线',
    offline: '离线',
    offlineFor: '离线 {d}',
    staleFor: '在线，{d}无消息',
    stateAll: '全部',
    never: '从未',
    ago: '{d}前',
    none: '—',
    skewAhead: '快 {d}',
    skewBehind: '慢 {d}',
    skewOK: '准确',
    clockUnsynced: '未校准：尚未同步时间',
    back: '← 全部门店',
    link: '连接',
    epoch: '设备代（epoch）',
    firstSeen: '首次出现',
    timeZone: '时区',
    lastError: '最近错误',
    backlogBytes: '积压大小',
    firstResponse: '首次回复时间（中位数）',
    frWeek: '最近 7 天',
    frToday: '今天',
    frUnanswered: '尚未回复（7 天内）',
    frOf: '{d}（{n} 个已回复）',
    frNone: '没有会话',
    openChats: '进行中的会话',
    noOpenChats: '最近 24 小时没有会话。',
    waiting: '已等待 {d}',
    answered: '已回复',
    lastMessage: '最后消息 {d}前',
    bookingsToday: '今日预约（{day}，{tz}）',
    noBookings: '今天没有预约。',
    devices: '设备',
    noDevices: '还没有设备上报。',
    configPushes: '配置下发',
    noPushes: '尚未向此门店下发配置。',
    pushesUnavailable: '此总部未提供配置下发。',
    pushApplied: '已应用', pushRefused: '已拒绝', pushSent: '已发送，等待回复',
    pushLine: '版本 {v}，{by}，{when}：{state}',
    listCut: '只显示前 {n} 项。',
    noticeTitle: '发送通知',
    noticeKind: '类型',
    kindNotice: '通知',
    kindPromotion: '促销',
    noticeHeading: '标题',
    noticeBody: '正文',
    noticeTo: '发给',
    toThis: '本门店',
    toList: '指定门店',
    toAll: '所有门店',
    toListHint: '门店编号，用逗号或空格分隔',
    noticeExpires: '过期时间（可选）',
    send: '发送',
    sending: '发送中…',
    sentOK: '已发送：通知 {id}。',
    sentStored: '已保存为通知 {id}，总部消息服务器恢复后发出（{error}）。',
    noticesUnavailable: '此总部未提供通知发送。',
    needTitle: '请填写标题。',
    needStores: '请至少填写一个门店。',
    unknownStore: '没有这个门店。',
    status_booked: '已预约',
    status_checked_in: '已到店',
    status_completed: '已完成',
    status_cancelled: '已取消',
    status_no_show: '未到店',
    sentTitle: '已发送的通知',
    noSent: '尚未发送通知。',
    sentLine: '{when} · {kind} ·「{title}」发给{to}，发送人 {by} · {acked} 家已确认',
    toAllStores: '所有门店',
    toStores: '{n} 家门店',
  },
};

export const i18n = makeI18n(STRINGS, 'storeedge.lang');
export const t = (k, v) => i18n.t(k, v);
export const $ = (id) => document.getElementById(id);

// el builds an element: attributes (class, text, hidden…) and children.
export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'text') n.textContent = v;
    else if (k === 'class') n.className = v;
    else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c != null) n.append(c);
  return n;
}

// statusName is a booking status in the page's language (an unknown one
// as it came).
export function statusName(s) {
  const k = 'status_' + s;
  const v = t(k);
  return v === k ? s : v;
}

// ApiError is a refused call: its HTTP status and the server's error code.
export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// api calls HQ's JSON API with the page's sign-in cookie; a lost sign-in
// goes back to the sign-in page.
export async function api(path, opts = {}) {
  const init = { method: opts.method || 'GET', headers: {}, credentials: 'same-origin' };
  if (opts.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, init);
  let data = null;
  try { data = await res.json(); } catch (e) { /* no JSON body */ }
  if (res.status === 401 && !opts.noRedirect) {
    location.assign('/signin?next=' + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, 'forbidden', 'signed out');
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || 'unknown', e.message || res.statusText);
  }
  return data;
}

// duration formats seconds as "3 d 4 h", "2 h 5 min", "40 s".
export function duration(s) {
  s = Math.max(0, Math.round(Number(s) || 0));
  const zh = i18n.lang === 'zh';
  const u = zh ? { d: '天', h: '小时', m: '分', s: '秒' } : { d: ' d', h: ' h', m: ' min', s: ' s' };
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  const sep = zh ? '' : ' ';
  if (d > 0) return d + u.d + (h ? sep + h + u.h : '');
  if (h > 0) return h + u.h + (m ? sep + m + u.m : '');
  const sec = s % 60;
  if (m > 0) return m + u.m + (m < 10 && sec ? sep + sec + u.s : '');
  return s + u.s;
}

// stateOf is a store's state as a pill: online, online but silent, or
// offline for how long.
export function stateOf(s, now) {
  if (!s.online) return { cls: 'off', text: t('offlineFor', { d: duration(s.offline_for_s) }) };
  if (s.stale) return { cls: 'stale', text: t('staleFor', { d: duration((now - Date.parse(s.last_seen)) / 1000) }) };
  return { cls: 'on', text: t('online') };
}

export function ago(iso, now = Date.now()) {
  if (!iso) return t('never');
  return t('ago', { d: duration((now - Date.parse(iso)) / 1000) });
}

export function clockSkew(ms) {
  const s = Math.abs(ms) / 1000;
  if (s < 2) return t('skewOK');
  // skew = HQ's receive time − the store's timestamp: positive, the store is behind.
  return t(ms > 0 ? 'skewBehind' : 'skewAhead', { d: duration(s) });
}

// clockOf is a store's clock in words and its class: not set (the store
// says its clock has no time source yet) or its skew.
export function clockOf(s) {
  if (s.clock_synced === false) return { text: t('clockUnsynced'), cls: 'warn' };
  return { text: clockSkew(s.clock_skew_ms), cls: '' };
}

export function timeOf(iso, tz) {
  if (!iso) return t('none');
  const o = { hour: '2-digit', minute: '2-digit' };
  if (tz) o.timeZone = tz;
  try { return new Date(iso).toLocaleTimeString(i18n.lang === 'zh' ? 'zh-CN' : 'en-GB', o); } catch (e) { return iso; }
}

export function dateTime(iso) {
  if (!iso) return t('none');
  return new Date(iso).toLocaleString(i18n.lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

export function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

// frame wires the language button and the sign-out, and redraws the page
// with draw on a language change.
export function frame(draw) {
  const apply = () => {
    i18n.apply();
    const b = $('lang');
    b.textContent = t('langButton');
    b.setAttribute('lang', i18n.lang === 'zh' ? 'en' : 'zh-CN');
    if (draw) draw();
  };
  $('lang').addEventListener('click', () => i18n.setLang(i18n.lang === 'zh' ? 'en' : 'zh'));
  i18n.onChange(apply);
  const out = $('signout');
  if (out) {
    out.addEventListener('click', async () => {
      try { await fetch('/auth/signout', { method: 'POST', credentials: 'same-origin' }); } finally { location.assign('/signin'); }
    });
  }
  apply();
}

// sentNotices fills section with the newest notices HQ sent (who sent
// what, to whom, how many stores acknowledged it); it returns its reload.
// Without the downlink (404) the section stays hidden.
export function sentNotices(section) {
  let list = null;
  const draw = () => {
    if (!list) { section.hidden = true; return; }
    section.hidden = false;
    const kind = { notice: t('kindNotice'), promotion: t('kindPromotion') };
    section.replaceChildren(el('h2', { text: t('sentTitle') }),
      el('ul', { id: 'sent', class: 'list' }, ...(list.length ? list.map((n) => el('li', { 'data-notice': n.id, text: t('sentLine', {
        when: dateTime(n.sent_at), kind: kind[n.kind] || n.kind, title: n.title,
        to: n.all ? t('toAllStores') : (n.stores.length === 1 ? n.stores[0] : t('toStores', { n: n.stores.length })),
        by: n.sent_by, acked: n.acked }) })) : [el('li', { class: 'hint', text: t('noSent') })])));
  };
  const load = async () => {
    try {
      list = (await api('/api/v1/notices?limit=10')).notices || [];
    } catch (e) {
      list = null;
    }
    draw();
  };
  load();
  return { load, draw };
}

// noticeForm fills section with the "Send a notice" form. store: the
// store of the page (its form offers "this store"), or '' on the fleet page.
// onSent runs after a notice went out.
export function noticeForm(section, store, onSent) {
  const state = { kind: 'notice', to: store ? 'this' : 'all', title: '', body: '', list: '', expires: '', answer: null, busy: false };
  const draw = () => {
    section.replaceChildren();
    const radio = (value, label) => el('label', { class: 'choice' },
      el('input', { type: 'radio', name: 'notice-to', value, checked: state.to === value,
        onchange: () => { state.to = value; draw(); } }), ' ' + t(label));
    const form = el('form', { id: 'notice', novalidate: true },
      el('h2', { text: t('noticeTitle') }),
      el('div', { class: 'field' },
        el('label', { for: 'notice-kind', text: t('noticeKind') }),
        (() => {
          const s = el('select', { id: 'notice-kind', onchange: (e) => { state.kind = e.target.value; } },
            el('option', { value: 'notice', text: t('kindNotice') }),
            el('option', { value: 'promotion', text: t('kindPromotion') }));
          s.value = state.kind;
          return s;
        })()),
      el('div', { class: 'field' },
        el('label', { for: 'notice-title', text: t('noticeHeading') }),
        el('input', { id: 'notice-title', maxlength: '200', value: state.title, oninput: (e) => { state.title = e.target.value; } })),
      el('div', { class: 'field' },
        el('label', { for: 'notice-body', text: t('noticeBody') }),
        (() => { const a = el('textarea', { id: 'notice-body', rows: '3', oninput: (e) => { state.body = e.target.value; } }); a.value = state.body; return a; })()),
      el('fieldset', { class: 'field' },
        el('legend', { text: t('noticeTo') }),
        store ? radio('this', 'toThis') : null,
        radio('list', 'toList'),
        radio('all', 'toAll'),
        state.to === 'list' ? el('input', { id: 'notice-stores', 'aria-label': t('toListHint'), placeholder: t('toListHint'),
          value: state.list, oninput: (e) => { state.list = e.target.value; } }) : null),
      el('div', { class: 'field' },
        el('label', { for: 'notice-expires', text: t('noticeExpires') }),
        el('input', { id: 'notice-expires', type: 'datetime-local', value: state.expires, oninput: (e) => { state.expires = e.target.value; } })),
      el('button', { id: 'notice-send', type: 'submit', class: 'primary', disabled: state.busy, text: t(state.busy ? 'sending' : 'send') }),
      state.answer ? el('p', { id: 'notice-answer', class: state.answer.ok ? 'ok' : 'error', role: 'status', text: state.answer.text }) : null);
    form.addEventListener('submit', send);
    section.append(form);
  };
  const send = async (e) => {
    e.preventDefault();
    if (!state.title.trim()) { state.answer = { ok: false, text: t('needTitle') }; draw(); return; }
    const body = { kind: state.kind, title: state.title.trim(), body: state.body, stores: null };
    if (state.to === 'this') body.stores = [store];
    else if (state.to === 'list') {
      body.stores = state.list.split(/[\s,，]+/).filter(Boolean);
      if (!body.stores.length) { state.answer = { ok: false, text: t('needStores') }; draw(); return; }
    } else body.all = true;
    if (state.expires) body.expires = new Date(state.expires).toISOString();
    state.busy = true; state.answer = null; draw();
    try {
      const res = await api('/api/v1/notices', { method: 'POST', body });
      const id = (res && res.notice && res.notice.id) || (res && res.id) || '';
      state.answer = res && res.published === false
        ? { ok: true, text: t('sentStored', { id, error: res.publish_error || '' }) }
        : { ok: true, text: t('sentOK', { id }) };
      state.title = ''; state.body = '';
      if (onSent) onSent();
    } catch (err) {
      state.answer = { ok: false, text: err.status === 404 && err.code === 'not_found' && /not served/.test(err.message)
        ? t('noticesUnavailable') : t('failed', { status: err.status || '', message: err.message }) };
    } finally {
      state.busy = false; draw();
    }
  };
  draw();
  return draw;
}
