// sw.js: the page at home's service worker (scope /home/). It shows a
// notification for each push from HQ ({"v":1,"title","body","url","tag"})
// unless a page of it is visible (that page shows the reply itself), and
// opens or focuses /home/ when the notification is tapped.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function ours(client) {
  try { return new URL(client.url).pathname.startsWith('/home/'); } catch { return false; }
}

self.addEventListener('push', (event) => {
  event.waitUntil((async () => {
    let data = {};
    try { data = event.data ? event.data.json() : {}; } catch { data = {}; }
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    if (windows.some((c) => ours(c) && c.visibilityState === 'visible')) return;
    await self.registration.showNotification(data.title || 'Your store', {
      body: data.body || '',
      tag: data.tag || 'chat',
      renotify: true,
      data: { url: data.url || '/home/' },
    });
  })());
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  let url = new URL('/home/', self.location.origin);
  try {
    const u = new URL((event.notification.data && event.notification.data.url) || '/home/', self.location.origin);
    if (u.origin === self.location.origin && u.pathname.startsWith('/home/')) url = u;
  } catch { /* the default */ }
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find(ours);
    if (open) { await open.focus(); return; }
    await self.clients.openWindow(url.href);
  })());
});
