// The printable counter code (/tablet/print/): the shop's name, 扫码咨询 /
// "Scan to chat" and a code that does not expire. It holds the chat page
// with start=1, where a phone with no login asks the store for one of its
// own (POST /chat/start, rate-limited per address and in total).

const $ = (id) => document.getElementById(id);

// printView is what the page shows, for tests.
const view = { ready: false, store: '', url: '', error: '' };
window.printView = view;

$('print').addEventListener('click', () => window.print());

async function load() {
  try {
    const res = await fetch('/tablet/counter.json', { cache: 'no-store' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const c = await res.json();
    view.store = String(c.store || '');
    view.url = String(c.url || '');
  } catch (e) {
    view.error = String(e && e.message);
  }
  if (view.store) {
    $('store').textContent = view.store;
    document.title = view.store + ' · 扫码咨询 · Scan to chat';
  }
  $('url').textContent = view.url;
  const img = $('qr');
  if (!img.complete) await new Promise((r) => { img.addEventListener('load', r, { once: true }); img.addEventListener('error', r, { once: true }); });
  view.ready = true;
}

load();
