// What the parts of the page at home share: the login kept on this phone,
// the API call, the language (English and Chinese) and the "ready" event.
//
// home.js signs in and then dispatches "home:ready" on document with
// detail {me, store} (GET /home/api/v1/me); book.js, watch.js and push.js
// wait for it and fill their own <section>. "home:state" carries a fresh
// StoreState whenever home.js learns one.

const TOKEN_KEY = 'storeedge.home.token';

export function token() { return localStorage.getItem(TOKEN_KEY) || ''; }
export function setToken(t) { if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY); }

// ApiError carries the API's {"error":{"code","message"}} and the HTTP status.
export class ApiError extends Error {
  constructor(status, code, message) { super(message || code); this.status = status; this.code = code; }
}

// api calls /home/api/v1{path} with the login; body is sent as JSON (or
// as is when it is a Blob). It resolves to the decoded answer and rejects
// with an ApiError (status 0: the network).
export async function api(method, path, body, opts = {}) {
  const headers = {};
  if (token()) headers.Authorization = 'Bearer ' + token();
  let payload;
  if (body instanceof Blob) { payload = body; headers['Content-Type'] = body.type || 'application/octet-stream'; }
  else if (body !== undefined) { payload = JSON.stringify(body); headers['Content-Type'] = 'application/json'; }
  let res;
  try {
    res = await fetch('/home/api/v1' + path, { method, headers, body: payload, signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', e.message);
  }
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = {}; }
  if (!res.ok) {
    const err = data.error || {};
    throw new ApiError(res.status, err.code || 'http_' + res.status, err.message || res.statusText);
  }
  return data;
}

// newId is a request id (the API is idempotent by it).
export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// Strings: each part registers its own; t() looks one up in the current
// language and fills {names}.
const strings = { en: {}, zh: {} };
export function addStrings(s) {
  for (const lang of Object.keys(strings)) Object.assign(strings[lang], s[lang] || {});
}
export function lang() {
  const saved = localStorage.getItem('storeedge.home.lang');
  if (saved === 'en' || saved === 'zh') return saved;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}
export function setLang(l) { localStorage.setItem('storeedge.home.lang', l); document.dispatchEvent(new CustomEvent('home:lang')); }
export function t(key, vars = {}) {
  const s = strings[lang()][key] ?? strings.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
}

// el makes an element: el('button', {class: 'x', onclick: f}, 'text', child…).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) e.append(c);
  return e;
}

// fmtTime shows a time in the store's zone when given, else the phone's.
export function fmtTime(iso, zone, withDay = true) {
  const d = new Date(iso);
  const o = { hour: '2-digit', minute: '2-digit' };
  if (withDay) { o.weekday = 'short'; o.month = 'short'; o.day = 'numeric'; }
  if (zone) o.timeZone = zone;
  return d.toLocaleString(lang() === 'zh' ? 'zh-CN' : 'en-GB', o);
}

// onReady runs f({me, store}) once the page is signed in (at once if it is).
let readyDetail = null;
document.addEventListener('home:ready', (e) => { readyDetail = e.detail; });
export function onReady(f) {
  if (readyDetail) f(readyDetail);
  document.addEventListener('home:ready', (e) => f(e.detail));
}
