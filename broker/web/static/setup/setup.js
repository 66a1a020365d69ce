// The first-run page (/setup/?code=…): the owner names the store, picks
// its time zone, languages and kind of shop, and makes the first admin
// account. The server checks everything again (POST /setup); a field it
// refuses is marked with the server's words in the page's language. On
// success the console opens, signed in with the new account.

import { makeI18n } from '/lib/i18n.js';

const i18n = makeI18n({
  en: {
    title: 'Set up the store',
    what: 'storeedge store box · first run',
    storeLegend: 'Your store',
    nameLabel: 'Store name',
    zoneLabel: 'Time zone',
    langLegend: 'Languages customers and staff use',
    langZH: 'Chinese (中文)',
    langEN: 'English',
    kindLegend: 'Kind of shop',
    kindPet: 'Pet grooming',
    kindBaby: 'Mother and baby',
    kindBoth: 'Both',
    kindHint: 'This picks starter services, prices and FAQ answers; you can edit all of them later.',
    adminLegend: 'Your admin account',
    adminNameLabel: 'Account name',
    adminNameHint: "Lower-case letters, digits, '.', '-' or '_', e.g. owner",
    passLabel: 'Password (at least 10 characters)',
    confirmLabel: 'Password again',
    submit: 'Set up and open the console',
    sending: 'Saving…',
    mismatch: 'The two passwords are not the same.',
    noCode: 'This page needs the setup address the store box printed when it started (…/setup?code=…). Open that address, or restart the box to get a new one.',
    network: 'Cannot reach the store box. Check that this device is on the store network, then try again.',
    done: 'The store is set up. Opening the console…',
  },
  zh: {
    title: '设置门店',
    what: 'storeedge 门店盒子 · 首次设置',
    storeLegend: '您的门店',
    nameLabel: '门店名称',
    zoneLabel: '时区',
    langLegend: '顾客和员工使用的语言',
    langZH: '中文',
    langEN: '英文（English）',
    kindLegend: '门店类型',
    kindPet: '宠物洗护',
    kindBaby: '母婴',
    kindBoth: '两者都有',
    kindHint: '将据此预置服务项目、价格和常见问题回答，之后都可以修改。',
    adminLegend: '您的管理员账号',
    adminNameLabel: '账号名',
    adminNameHint: '小写字母、数字、“.”、“-”或“_”，例如 owner',
    passLabel: '密码（至少 10 个字符）',
    confirmLabel: '再次输入密码',
    submit: '完成设置并打开控制台',
    sending: '正在保存…',
    mismatch: '两次输入的密码不一致。',
    noCode: '请打开门店盒子启动时显示的设置地址（…/setup?code=…），或重启盒子获取新地址。',
    network: '无法连接门店盒子。请确认此设备已连接门店网络后重试。',
    done: '门店已设置完成，正在打开控制台…',
  },
}, 'storeedge.lang');

const t = i18n.t;
const $ = (id) => document.getElementById(id);

// Time zones offered: the stores' usual ones; the browser's own zone is
// added when it is another (the server accepts any IANA zone).
const ZONES = ['Asia/Shanghai', 'Asia/Hong_Kong', 'Asia/Macau', 'Asia/Taipei', 'Asia/Singapore',
  'Asia/Kuala_Lumpur', 'Asia/Bangkok', 'Asia/Jakarta', 'Asia/Manila', 'Asia/Ho_Chi_Minh', 'Asia/Tokyo',
  'Asia/Seoul', 'Asia/Dubai', 'Europe/London', 'Europe/Paris', 'Europe/Berlin', 'America/New_York',
  'America/Chicago', 'America/Denver', 'America/Los_Angeles', 'America/Vancouver', 'Australia/Sydney',
  'Australia/Perth', 'Pacific/Auckland', 'UTC'];

const FIELDS = ['name', 'time_zone', 'languages', 'kind', 'admin_name', 'admin_password', 'confirm'];

// setupView is the page's state, for tests: form | sending | done |
// forbidden | nocode; error is the last refusal {code, field}.
const view = { state: 'form', error: null, lang: i18n.lang };
window.setupView = view;

const q = new URLSearchParams(location.search);
const code = q.get('code') || '';
// The code stays out of the history and of any later Referer.
if (code) history.replaceState(null, '', location.pathname);

let serverError = null; // {field, message, message_zh} to show in the current language
let pageMsg = null; // a key of the strings, or a server error object

function fillZones() {
  const sel = $('time_zone');
  let browser = '';
  try { browser = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { /* none */ }
  const zones = ZONES.slice();
  if (browser && !zones.includes(browser)) zones.unshift(browser);
  sel.replaceChildren(...zones.map((z) => {
    const o = document.createElement('option');
    o.value = z;
    o.textContent = z.replace(/_/g, ' ');
    return o;
  }));
  sel.value = zones.includes(browser) ? browser : 'Asia/Shanghai';
}

function msgOf(e) {
  return i18n.lang === 'zh' ? (e.message_zh || e.message) : (e.message || e.message_zh);
}

function render() {
  i18n.apply();
  document.title = t('title');
  const other = i18n.lang === 'zh' ? 'en' : 'zh';
  const b = $('lang');
  b.textContent = other === 'zh' ? '中文' : 'English';
  b.lang = other === 'zh' ? 'zh-CN' : 'en';
  view.lang = i18n.lang;
  for (const f of FIELDS) {
    const err = $(f + '-err');
    const mine = serverError && serverError.field === f;
    err.textContent = mine ? (serverError.key ? t(serverError.key) : msgOf(serverError)) : '';
    const input = $(f);
    if (input) input.setAttribute('aria-invalid', mine ? 'true' : 'false');
  }
  $('form-err').textContent = serverError && !serverError.field ? (serverError.key ? t(serverError.key) : msgOf(serverError)) : '';
  const pm = $('page-msg');
  pm.hidden = !pageMsg;
  pm.textContent = pageMsg ? (typeof pageMsg === 'string' ? t(pageMsg) : msgOf(pageMsg)) : '';
  pm.classList.toggle('ok', view.state === 'done');
  $('form').hidden = view.state === 'forbidden' || view.state === 'nocode' || view.state === 'done';
  const sub = $('submit');
  sub.disabled = view.state === 'sending';
  sub.textContent = view.state === 'sending' ? t('sending') : t('submit');
}

function request() {
  const languages = [...document.querySelectorAll('input[name="languages"]:checked')].map((c) => c.value);
  // The page's language first: it becomes the store's default.
  languages.sort((a, b) => (a === i18n.lang ? -1 : b === i18n.lang ? 1 : 0));
  const kind = document.querySelector('input[name="kind"]:checked');
  return {
    code,
    name: $('name').value.trim(),
    time_zone: $('time_zone').value,
    languages,
    kind: kind ? kind.value : '',
    admin_name: $('admin_name').value.trim(),
    admin_password: $('admin_password').value,
  };
}

async function submit(e) {
  e.preventDefault();
  if (view.state === 'sending') return;
  const body = request();
  if (body.admin_password !== $('confirm').value) {
    serverError = { field: 'confirm', key: 'mismatch' };
    view.error = { code: 'bad_request', field: 'confirm' };
    render();
    $('confirm').focus();
    return;
  }
  view.state = 'sending';
  serverError = null;
  render();
  let res;
  let ans = {};
  try {
    res = await fetch('/setup', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    ans = await res.json().catch(() => ({}));
  } catch (err) {
    view.state = 'form';
    serverError = { key: 'network' };
    view.error = { code: 'network' };
    render();
    return;
  }
  if (res.ok) {
    view.state = 'done';
    pageMsg = 'done';
    render();
    // The console signs in with the new account once: the handoff lives
    // in this tab's session storage and the console deletes it at once.
    try {
      sessionStorage.setItem('storeedge.console.handoff', JSON.stringify({ u: ans.admin, p: body.admin_password }));
    } catch (err) { /* storage off: the console asks for the password */ }
    location.assign(ans.console || '/console/');
    return;
  }
  const er = ans.error || { code: 'internal', message: 'HTTP ' + res.status };
  view.error = { code: er.code, field: er.field || '' };
  if (res.status === 403) {
    view.state = 'forbidden';
    pageMsg = er;
  } else {
    view.state = 'form';
    serverError = er;
  }
  render();
  if (er.field && $(er.field)) $(er.field).focus();
}

$('lang').addEventListener('click', () => i18n.setLang(i18n.lang === 'zh' ? 'en' : 'zh'));
i18n.onChange(render);
$('form').addEventListener('submit', submit);
fillZones();
if (!code) {
  view.state = 'nocode';
  pageMsg = 'noCode';
}
render();
view.ready = true;
