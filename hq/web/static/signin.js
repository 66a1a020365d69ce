// The sign-in page: an API key becomes the page's session cookie.

import { $, t, frame } from '/app.js';

let errKey = '';
const showErr = () => {
  $('err').hidden = !errKey;
  $('err').textContent = errKey ? t(errKey.key, errKey.vars) : '';
};
frame(showErr);

// next is where to go afterwards: only a path on this server.
function next() {
  const n = new URLSearchParams(location.search).get('next') || '/';
  return n.startsWith('/') && !n.startsWith('//') ? n : '/';
}

// Signed in already (another tab): straight on.
fetch('/api/v1/me', { credentials: 'same-origin' }).then((res) => { if (res.ok) location.replace(next()); }).catch(() => {});

$('signin').addEventListener('submit', async (e) => {
  e.preventDefault();
  const key = $('key').value.trim();
  if (!key) return;
  $('go').disabled = true;
  try {
    const res = await fetch('/auth/signin', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key }),
    });
    if (res.ok) { location.assign(next()); return; }
    let msg = res.statusText;
    try { msg = (await res.json()).error.message; } catch (err) { /* no body */ }
    errKey = res.status === 401 ? { key: 'badKey' } : res.status === 429 ? { key: 'tooMany' } : { key: 'failed', vars: { status: res.status, message: msg } };
  } catch (err) {
    errKey = { key: 'failed', vars: { status: '', message: String(err) } };
  } finally {
    $('go').disabled = false;
  }
  showErr();
});
