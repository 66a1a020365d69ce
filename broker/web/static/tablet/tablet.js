// The chat tablet's page: a browser in kiosk mode on the counter tablet
// shows the shop's name, "scan to chat" in both languages and a
// scan-to-chat QR code (svc/chat/session → qr_png, which encodes url),
// renewed by the page itself.
//
// It signs in once with the chat tablet's device account over MQTT
// (WebSocket), through the shared library in /lib, and remembers the login
// in localStorage so a restarted tablet comes back by itself; "Sign out"
// forgets it. The account comes from the pairing code the staff console
// shows for a chat tablet (POST /enroll answers its id and password), or is
// typed as a device id and password.
//
// A code works once and for chat.token_ttl. The broker tells no device
// that its code was redeemed, so the page asks for a new code every
// RENEW_DEFAULT seconds (?renew=N in the address, 2 to 300, changes it),
// and sooner when the code would expire first: a customer who scans a
// code another customer has just used gets a fresh one within that time.
// Codes already shown stay valid until they expire, so a scan while the
// code changes still works.
//
// What the page shows is exposed for tests as window.tabletView.

import { StoreLink, StoreError, clientConfig } from '/lib/store.js';

const LOGIN_KEY = 'storeedge.tablet.login';
const RENEW_DEFAULT = 30; // seconds
const RETRY_MS = 5000; // a store that cannot be reached: try again
const RETRY_SLOW_MS = 60000; // too many codes, or scan-to-chat off
const EXPIRY_MARGIN_MS = 10000; // renew this long before the code expires

const renewSeconds = (() => {
  const n = Number(new URLSearchParams(location.search).get('renew'));
  return Number.isInteger(n) && n >= 2 && n <= 300 ? n : RENEW_DEFAULT;
})();

// Messages in both languages at once: the tablet serves whoever walks up.
const MSG = {
  missing: 'Please fill in the device id and the password. · 请填写设备编号和密码。',
  login: 'The store refused this tablet’s sign-in: the device id or the password is wrong, or the device was removed. Ask the store’s admin for the chat tablet’s password and sign in again. · 门店服务器拒绝了此平板的登录：设备编号或密码错误，或此设备已被移除。请向门店管理员索取咨询平板的密码后重新登录。',
  forbidden: 'This account cannot show chat codes. Sign in with a chat tablet’s device id. · 此账号不能显示咨询二维码，请使用咨询平板的设备编号登录。',
  network: 'Cannot reach the store’s server. Check that this tablet is on the store’s Wi-Fi; trying again every few seconds. · 无法连接门店服务器。请检查平板是否已连接门店 Wi-Fi，正在自动重试。',
  offline: 'The connection to the store’s server is lost. Check that this tablet is on the store’s Wi-Fi; it reconnects by itself. · 与门店服务器的连接已断开。请检查平板的 Wi-Fi，恢复后会自动重连。',
  no_websocket: 'The store’s server does not accept browser connections (its WebSocket listener is off). Ask the store’s admin to turn it on. · 门店服务器未开启浏览器连接（WebSocket 监听未开启），请联系门店管理员开启。',
  unavailable: 'Scan-to-chat is not available on this store right now. Ask the store’s admin; trying again in a minute. · 本店暂时无法使用扫码咨询，请联系门店管理员；一分钟后自动重试。',
  quota_exceeded: 'Too many unused codes right now; trying again in a minute. · 未使用的二维码过多，一分钟后自动重试。',
  pair_missing: 'Please type the pairing code the staff console shows. · 请输入员工控制台显示的配对码。',
  pair_not_found: 'This pairing code is unknown or was used already. In the staff console (Team & devices), press “New code” for this tablet, or add it again. · 配对码无效或已被使用。请在员工控制台（团队与设备）为本平板点击“新配对码”，或重新添加。',
  pair_expired: 'This pairing code has expired (a code works 10 minutes). In the staff console (Team & devices), press “New code” for this tablet. · 配对码已过期（有效 10 分钟）。请在员工控制台（团队与设备）为本平板点击“新配对码”。',
  pair_quota_exceeded: 'Too many tries; wait a minute, then type the code again. · 尝试次数过多，请等一分钟后再输入配对码。',
  pair_role: 'That code was for a {role}, not a chat tablet, and is used up now. In the staff console, press “New code” for that device, and add a device of kind chat-tablet for this screen. · 此配对码属于 {role}，不是咨询平板，现已失效。请在员工控制台为该设备点击“新配对码”，并为本屏幕添加类型为 chat-tablet 的设备。',
  pair_generic: 'Pairing did not work: the store’s server answered “{code}”. · 配对未成功：门店服务器回复“{code}”。',
  generic: 'No new code: the store’s server answered “{code}”. Trying again in a few seconds. · 未能获取新二维码（{code}），几秒后自动重试。',
};

const $ = (id) => document.getElementById(id);

const view = {
  state: 'starting', // login, signing-in, showing, problem
  store: '',
  user: '',
  status: 'offline', // the link: connecting, online, reconnecting, offline
  url: '',
  qr: '',
  expires: '',
  renewals: 0, // codes shown since the page opened
  every: renewSeconds,
  problem: '',
  loginError: '',
};
window.tabletView = view;

let link = null;
let timer = null;
let generation = 0; // a sign-out or a new link ends the old one's work

// ---- remembered login -------------------------------------------------

function savedLogin() {
  try {
    const l = JSON.parse(localStorage.getItem(LOGIN_KEY) || 'null');
    if (l && typeof l.user === 'string' && typeof l.password === 'string' && l.user) return l;
  } catch (e) { /* storage off or garbled: sign in again */ }
  return null;
}

function saveLogin(user, password) {
  try { localStorage.setItem(LOGIN_KEY, JSON.stringify({ user, password })); } catch (e) { /* kept for this visit only */ }
}

function forgetLogin() {
  try { localStorage.removeItem(LOGIN_KEY); } catch (e) { /* nothing kept */ }
}

// ---- screens ----------------------------------------------------------

function setState(s) {
  view.state = s;
  document.body.dataset.state = s;
  const login = s === 'login' || s === 'signing-in';
  $('login-view').hidden = !login;
  $('code-view').hidden = login;
  $('corner').hidden = login;
  $('signin').disabled = s === 'signing-in';
  $('pair-btn').disabled = s === 'signing-in';
}

function showLogin(message) {
  stopTimer();
  view.loginError = message || '';
  $('login-error').textContent = view.loginError;
  if (view.user) $('user').value = view.user;
  $('pass').value = '';
  $('code').value = '';
  setState('login');
  ($('user').value ? $('pass') : $('user')).focus();
}

function showCode(ans) {
  view.url = ans.url;
  view.expires = ans.expires;
  view.qr = 'data:image/png;base64,' + ans.qr_png;
  view.renewals++;
  view.problem = '';
  const img = $('qr');
  img.src = view.qr;
  img.dataset.url = ans.url;
  img.hidden = false;
  $('problem').hidden = true;
  $('problem').textContent = '';
  setState('showing');
}

// showProblem hides the code (it may be used or stale by now) and says
// what is wrong and what to do.
function showProblem(message) {
  view.problem = message;
  view.url = '';
  $('qr').hidden = true;
  $('qr').removeAttribute('src');
  $('problem').textContent = message;
  $('problem').hidden = false;
  setState('problem');
}

function showStore(name) {
  view.store = name || '';
  $('store').textContent = view.store || 'storeedge';
  document.title = (view.store ? view.store + ' · ' : '') + 'Scan to chat · 扫码咨询';
}

const LINK_WORDS = {
  connecting: 'Connecting… · 正在连接…',
  online: 'Online · 在线',
  reconnecting: 'Reconnecting… · 正在重新连接…',
  offline: 'Offline · 离线',
};

function showStatus(s) {
  view.status = s;
  $('link').textContent = view.user ? view.user + ' · ' + LINK_WORDS[s] : LINK_WORDS[s];
  $('link').dataset.status = s;
}

$('renew-note').textContent = 'Each code works once; a new one appears at least every ' + renewSeconds +
  ' seconds. · 每个二维码只能使用一次，至少每 ' + renewSeconds + ' 秒自动更新。';

// ---- the code ---------------------------------------------------------

function stopTimer() {
  clearTimeout(timer);
  timer = null;
}

function schedule(ms) {
  stopTimer();
  const gen = generation;
  timer = setTimeout(() => { if (gen === generation) renew(); }, ms);
}

// nextRenewal: every renewSeconds, and before the code expires by the
// tablet's clock — unless that clock is far from the store's (the expiry
// looks past or hours away), when the interval alone (well under
// chat.token_ttl, at least a minute) bounds it.
function nextRenewal(expires) {
  let ms = renewSeconds * 1000;
  const left = Date.parse(expires) - Date.now();
  if (left > 0 && left < 3600 * 1000) ms = Math.min(ms, Math.max(1000, left - EXPIRY_MARGIN_MS));
  return ms;
}

let asking = false;

async function renew() {
  if (!link || link.status !== 'online' || asking) return;
  const gen = generation;
  const l = link;
  asking = true;
  stopTimer();
  try {
    const ans = await l.call('chat', 'session', {});
    if (gen !== generation) return;
    showCode(ans);
    schedule(nextRenewal(ans.expires));
  } catch (e) {
    if (gen !== generation) return;
    const code = (e && e.code) || 'unavailable';
    if (code === 'forbidden') {
      // Not a chat tablet's account: the login is of no use here.
      signOut(MSG.forbidden);
      return;
    }
    if (code === 'closed') return;
    if (l.status !== 'online') return; // the link dropped: onStatus says so and renews when back
    const slow = code === 'unavailable' || code === 'quota_exceeded';
    showProblem(MSG[code] || MSG.generic.replace(/\{code\}/g, code));
    schedule(slow ? RETRY_SLOW_MS : RETRY_MS);
  } finally {
    asking = false;
  }
}

// ---- the link ---------------------------------------------------------

// signIn connects as user; remembered says the login came from storage (a
// restart), when a store that cannot be reached is tried again until it
// answers instead of asking for the password again.
async function signIn(user, password, remembered) {
  const gen = ++generation;
  stopTimer();
  view.user = user;
  if (link) link.close();
  link = new StoreLink({ username: user, password });
  const l = link;
  l.onStatus((s) => {
    if (gen !== generation) return;
    showStatus(s);
    if (s === 'reconnecting') {
      stopTimer();
      showProblem(MSG.offline);
    } else if (s === 'online' && view.state !== 'login') {
      renew();
    }
  });
  if (!remembered) setState('signing-in');
  try {
    await l.connect();
  } catch (e) {
    if (gen !== generation) return;
    const code = e instanceof StoreError ? e.code : 'network';
    if (code === 'login') {
      forgetLogin();
      showLogin(MSG.login);
      return;
    }
    if (!remembered) {
      showLogin(MSG[code] || MSG.network);
      return;
    }
    showProblem(MSG[code] || MSG.network);
    timer = setTimeout(() => { if (gen === generation) signIn(user, password, true); }, RETRY_MS);
    return;
  }
  if (gen !== generation) return;
  if (!remembered) saveLogin(user, password);
  // The status callback asks for the first code once the link is online.
  if (l.status === 'online') renew();
}

function signOut(message) {
  generation++;
  stopTimer();
  forgetLogin();
  if (link) link.close();
  link = null;
  view.url = '';
  view.qr = '';
  $('qr').hidden = true;
  $('qr').removeAttribute('src');
  showStatus('offline');
  showLogin(message || '');
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const user = $('user').value.trim();
  const password = $('pass').value;
  if (!user || !password) {
    view.loginError = MSG.missing;
    $('login-error').textContent = MSG.missing;
    return;
  }
  $('login-error').textContent = '';
  view.loginError = '';
  signIn(user, password, false);
});

// pair redeems the console's pairing code for this tablet's own id and
// password (shown this once), then signs in with them and remembers them.
async function pair(code) {
  setState('signing-in');
  let ans = {};
  let res;
  try {
    res = await fetch('/enroll', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code }), cache: 'no-store' });
    ans = await res.json().catch(() => ({}));
  } catch (e) {
    showLogin(MSG.network);
    return;
  }
  if (!res.ok) {
    const c = (ans.error && ans.error.code) || String(res.status);
    showLogin(MSG['pair_' + c] || MSG.pair_generic.replace(/\{code\}/g, c));
    return;
  }
  if (ans.role !== 'chat-tablet') {
    showLogin(MSG.pair_role.replace(/\{role\}/g, ans.role || '?'));
    return;
  }
  signIn(ans.id, ans.password, false);
}

$('pair').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const code = $('code').value.trim();
  if (!code) {
    view.loginError = MSG.pair_missing;
    $('login-error').textContent = MSG.pair_missing;
    return;
  }
  $('login-error').textContent = '';
  view.loginError = '';
  pair(code);
});

$('logout').addEventListener('click', () => signOut(''));

// A screen that wakes from sleep may show an old code: ask for a new one.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && view.state !== 'login') renew();
});

// ---- start ------------------------------------------------------------

showStatus('offline');
showStore('');
clientConfig().then((c) => showStore(c.store)).catch(() => { /* shown as the link's problem */ });
const saved = savedLogin();
if (saved) {
  view.user = saved.user;
  setState('problem');
  $('problem').hidden = true;
  signIn(saved.user, saved.password, true);
} else {
  showLogin('');
}
