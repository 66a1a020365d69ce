// The box's front door (/): which store this is, and the way in for a
// customer (the chat) and for staff (the console), in Chinese and English.

import { makeI18n } from '/lib/i18n.js';

const i18n = makeI18n({
  en: {
    title: 'storeedge store box',
    what: 'storeedge store box',
    chatTitle: 'Chat with the store',
    chatText: 'For customers on the store Wi-Fi: scan the QR code at the counter to start. If you chatted with us before on this phone, this continues your conversation.',
    consoleTitle: 'Staff console',
    consoleText: "For staff: conversations, the bookings board and the store's health. Sign in with your staff account.",
  },
  zh: {
    title: 'storeedge 门店盒子',
    what: 'storeedge 门店盒子',
    chatTitle: '与门店聊天',
    chatText: '顾客请连接门店 Wi-Fi，扫描柜台上的二维码开始聊天。如果您之前在这部手机上聊过，将继续之前的对话。',
    consoleTitle: '员工控制台',
    consoleText: '员工专用：对话、预约看板和门店状态。请使用员工账号登录。',
  },
}, 'storeedge.lang');

const $ = (id) => document.getElementById(id);

// frontView is what the page shows, for tests and for a reader of the
// console: the store's id once /client.json answered.
window.frontView = { store: '', lang: i18n.lang, ready: false };

function render() {
  i18n.apply();
  const store = window.frontView.store;
  document.title = store ? store + ' · ' + i18n.t('title') : i18n.t('title');
  const other = i18n.lang === 'zh' ? 'en' : 'zh';
  const b = $('lang');
  b.textContent = other === 'zh' ? '中文' : 'English';
  b.lang = other === 'zh' ? 'zh-CN' : 'en';
  window.frontView.lang = i18n.lang;
}

$('lang').addEventListener('click', () => i18n.setLang(i18n.lang === 'zh' ? 'en' : 'zh'));
i18n.onChange(render);
render();

// The store's id is in /client.json; without it (no browser access
// configured) the page still shows its two ways in.
fetch('/client.json', { cache: 'no-store' })
  .then((res) => (res.ok ? res.json() : {}))
  .catch(() => ({}))
  .then((cfg) => {
    // The name the owner gave the store at first run, else its id.
    const name = cfg && ((typeof cfg.name === 'string' && cfg.name) || (typeof cfg.store === 'string' && cfg.store));
    if (name) {
      window.frontView.store = name;
      $('store').textContent = name;
    }
    window.frontView.ready = true;
    render();
  });
