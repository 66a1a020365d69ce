// push.js: "Notify me of replies" in the Me section. It registers the
// service worker (sw.js, scope /home/), subscribes this browser to Web
// Push with HQ's VAPID key and gives HQ the subscription (POST
// /home/api/v1/push); "Turn off" ends both. It always says where things
// stand: on, off, blocked, not possible on this browser, or why turning
// on failed.

import { api, addStrings, t, el, onReady } from './lib.js';

addStrings({
  en: {
    'push.title': 'Notifications',
    'push.on': 'On: this phone is told when the store replies, even with this page closed.',
    'push.off': 'Off: you see replies only while this page is open.',
    'push.unsupported': 'This browser cannot show notifications from this page. On an iPhone, add the page to the Home Screen (Share → Add to Home Screen) and open it from there.',
    'push.blocked': 'Notifications are blocked for this page. Allow them in the browser’s site settings, then come back here.',
    'push.not_allowed': 'You did not allow notifications, so they stay off.',
    'push.no_service': 'Notifications could not be turned on: this browser could not reach its notification service. Check the internet connection and try again.',
    'push.hq_failed': 'Notifications could not be turned on: {message}',
    'push.off_failed': 'Notifications could not be turned off: {message}',
    'push.busy': 'One moment…',
    'push.turn_on': 'Notify me of replies',
    'push.turn_off': 'Turn off',
    'push.try_again': 'Try again',
  },
  zh: {
    'push.title': '通知',
    'push.on': '已开启：门店回复时，即使此页面已关闭，这台手机也会收到通知。',
    'push.off': '已关闭：只有打开此页面时才能看到回复。',
    'push.unsupported': '此浏览器无法显示此页面的通知。在 iPhone 上，请先将此页面添加到主屏幕（分享 → 添加到主屏幕），再从主屏幕打开。',
    'push.blocked': '此页面的通知已被屏蔽。请在浏览器的网站设置中允许通知，然后回到这里。',
    'push.not_allowed': '您没有允许通知，所以通知保持关闭。',
    'push.no_service': '无法开启通知：此浏览器连接不上它的通知服务。请检查网络连接后重试。',
    'push.hq_failed': '无法开启通知：{message}',
    'push.off_failed': '无法关闭通知：{message}',
    'push.busy': '请稍候…',
    'push.turn_on': '有回复时通知我',
    'push.turn_off': '关闭',
    'push.try_again': '重试',
  },
});

const style = `
#push { max-width: 40rem; margin: 1rem 0; padding: 0.75rem 1rem; border: 1px solid #d5e3df; border-radius: 12px; background: #f6faf9; }
#push h2 { font-size: 1.05rem; margin: 0 0 0.4rem; }
#push p { margin: 0 0 0.6rem; line-height: 1.4; }
#push p[data-state="on"]::before { content: "● "; color: #2f6f62; }
#push p[data-state="blocked"], #push p[data-state="failed"] { color: #9a3412; }
#push button { font: inherit; min-height: 44px; padding: 0.5rem 1rem; border-radius: 22px; border: 1px solid #2f6f62;
  background: #2f6f62; color: #fff; cursor: pointer; }
#push button.secondary { background: #fff; color: #2f6f62; }
#push button:disabled { opacity: 0.6; cursor: default; }
`;

// state is what the section shows: unsupported, blocked, off, on, busy,
// failed (with message).
const view = { state: 'busy', message: '' };
let box = null;
let registration = null;

function supported() {
  return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function render() {
  if (!box) return;
  const { state } = view;
  const text = {
    unsupported: t('push.unsupported'),
    blocked: t('push.blocked'),
    off: view.message || t('push.off'),
    on: t('push.on'),
    busy: t('push.busy'),
    failed: view.message,
  }[state];
  const buttons = [];
  if (state === 'off' || state === 'failed') {
    buttons.push(el('button', { type: 'button', id: 'push-on', onclick: turnOn }, state === 'failed' ? t('push.try_again') : t('push.turn_on')));
  }
  if (state === 'on') buttons.push(el('button', { type: 'button', id: 'push-off', class: 'secondary', onclick: turnOff }, t('push.turn_off')));
  if (state === 'busy') buttons.push(el('button', { type: 'button', disabled: true }, t('push.busy')));
  box.replaceChildren(
    el('h2', {}, t('push.title')),
    el('p', { id: 'push-state', role: 'status', 'aria-live': 'polite', dataset: { state } }, text),
    ...buttons,
  );
  box.dataset.state = state;
}

function set(state, message = '') {
  view.state = state;
  view.message = message;
  render();
}

// keyBytes decodes the VAPID key (base64url) for applicationServerKey.
function keyBytes(b64) {
  const s = atob(b64.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function sameKey(sub, key) {
  const k = sub.options && sub.options.applicationServerKey;
  if (!k) return true;
  const a = new Uint8Array(k);
  return a.length === key.length && a.every((x, i) => x === key[i]);
}

// refresh finds where things stand; a subscription this browser still
// has is given to HQ again (HQ keeps one per login: the same phone
// signing in again gets it back).
async function refresh() {
  if (!supported()) { set('unsupported'); return; }
  try {
    registration = await navigator.serviceWorker.register('/home/sw.js', { scope: '/home/' });
  } catch (e) {
    set('unsupported');
    return;
  }
  if (Notification.permission === 'denied') { set('blocked'); return; }
  const sub = await registration.pushManager.getSubscription();
  if (!sub || Notification.permission !== 'granted') { set('off'); return; }
  try {
    await api('POST', '/push', sub.toJSON());
    set('on');
  } catch (e) {
    set('off');
  }
}

// SUBSCRIBE_WAIT_MS bounds the wait for the browser's push service: with
// no answer the page says so instead of waiting on.
const SUBSCRIBE_WAIT_MS = 15000;

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DOMException('no answer from the push service', 'TimeoutError')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function turnOn() {
  set('busy');
  let permission = Notification.permission;
  if (permission === 'default') permission = await Notification.requestPermission();
  if (permission === 'denied') { set('blocked'); return; }
  if (permission !== 'granted') { set('off', t('push.not_allowed')); return; }
  let sub;
  try {
    const { public_key: publicKey } = await api('GET', '/push/key');
    const key = keyBytes(publicKey);
    await navigator.serviceWorker.ready;
    const old = await registration.pushManager.getSubscription();
    if (old && !sameKey(old, key)) await old.unsubscribe();
    sub = await withTimeout(registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }), SUBSCRIBE_WAIT_MS);
  } catch (e) {
    if (e && e.status !== undefined) { set('failed', t('push.hq_failed', { message: e.message })); return; }
    console.warn('push: subscribe failed', e && e.name, e && e.message);
    set('failed', t('push.no_service'));
    return;
  }
  try {
    await api('POST', '/push', sub.toJSON());
    set('on');
  } catch (e) {
    await sub.unsubscribe().catch(() => {});
    set('failed', t('push.hq_failed', { message: e.message }));
  }
}

async function turnOff() {
  set('busy');
  try {
    const sub = registration && await registration.pushManager.getSubscription();
    if (sub) await sub.unsubscribe();
    await api('DELETE', '/push');
    set('off');
  } catch (e) {
    set('on');
    view.message = '';
    box.append(el('p', { role: 'alert', dataset: { state: 'failed' } }, t('push.off_failed', { message: e.message })));
  }
}

onReady(() => {
  const me = document.getElementById('me');
  if (!me || box) return;
  document.head.append(el('style', {}, style));
  box = el('div', { id: 'push' });
  me.append(box);
  // The Me section is home.js's: when it redraws its own content, the
  // notifications part goes back in.
  new MutationObserver(() => { if (!box.isConnected) me.append(box); }).observe(me, { childList: true });
  render();
  refresh();
});
document.addEventListener('home:lang', render);
