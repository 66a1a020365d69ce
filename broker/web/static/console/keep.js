// The console keeps its sign-in in the browser (localStorage) so that a
// reload or a tablet's restart does not ask again, for
// accounts.console_session_ttl (/client.json "console_session_ttl_s",
// default 12 h) from the moment the password was typed. Then the kept
// sign-in is dropped and the page signs out and asks for the password
// again; "Sign out" drops it at once.
//
// It watches the sign-in form and the page's state (body[data-state]), so
// console.js only calls initKeep.

const KEY = 'storeedge.console.login';
const DEFAULT_TTL_S = 12 * 3600;

function read() {
  try { return JSON.parse(localStorage.getItem(KEY) || 'null'); } catch (e) { return null; }
}

function drop() {
  try { localStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
}

export function initKeep({ i18n }) {
  const $ = (id) => document.getElementById(id);
  let typed = null; // what the form was submitted with, until it signs in
  let resumeUntil = 0; // a kept login being used again keeps its own end
  let timer = null;
  let ttl = DEFAULT_TTL_S;
  const expired = { en: 'Your sign-in has expired. Please sign in again.', zh: '登录已过期，请重新登录。' };
  const ready = fetch('/client.json', { cache: 'no-store' }).then((r) => (r.ok ? r.json() : {})).then((c) => {
    if (c && Number(c.console_session_ttl_s) > 0) ttl = Number(c.console_session_ttl_s);
  }).catch(() => { /* the default */ });

  function expireAt(until) {
    clearTimeout(timer);
    // setTimeout holds at most ~24.8 days; a kept login is shorter.
    timer = setTimeout(() => {
      drop();
      if (document.body.dataset.state === 'ready') {
        $('logout').click();
        $('login-error').textContent = expired[i18n.lang] || expired.en;
      }
    }, Math.max(0, until - Date.now()));
  }

  // console.js's own submit listener runs first and clears the password
  // only once signed in, so it is still in the form here.
  $('login').addEventListener('submit', () => {
    typed = { user: $('user').value.trim(), password: $('pass').value };
  });
  $('logout').addEventListener('click', () => { clearTimeout(timer); drop(); });

  new MutationObserver(async () => {
    const st = document.body.dataset.state;
    if (st === 'ready' && typed) {
      await ready;
      const k = { user: typed.user, password: typed.password, until: resumeUntil || Date.now() + ttl * 1000 };
      typed = null;
      resumeUntil = 0;
      try { localStorage.setItem(KEY, JSON.stringify(k)); } catch (e) { /* kept for this visit only */ }
      expireAt(k.until);
    } else if (st === 'error') {
      typed = null;
      resumeUntil = 0;
      // A kept login that no longer works (password reset, account
      // disabled) is dropped; a network error keeps it for the next try.
      const code = window.consoleView && window.consoleView.error;
      if (code === 'login' || code === 'not_staff') drop();
    }
  }).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });

  // At load: sign in again with a kept login that has not expired.
  const k = read();
  if (k && k.user && k.password && Number(k.until) > Date.now()) {
    $('user').value = k.user;
    $('pass').value = k.password;
    resumeUntil = Number(k.until);
    expireAt(resumeUntil);
    queueMicrotask(() => $('login').requestSubmit());
  } else if (k) {
    drop();
  }
}
