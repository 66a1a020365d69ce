// The console's Shop tab, for admins: the services (names in Chinese and
// English, minutes, prices, the resources each needs), the resources
// (tables, rooms, pools, staff), the opening hours per weekday and the
// closures (a holiday, a sick day). It edits the catalogue with the ops of
// PROTOCOL.md, "The shop: catalogue, hours and closures":
// svc/booking/catalog_get, catalog_set (versioned: a colleague's newer
// save is a conflict), closure_add, closure_remove and closure_list.
//
// console.js calls initShop once; the tab shows itself when the signed-in
// account may edit the catalogue (catalog_get answers editable). What the
// tab shows is exposed for tests as window.shopView.

import { StoreError } from '/lib/store.js';

const STRINGS = {
  en: {
    tab: 'Shop',
    title: 'Shop',
    version: 'Version {v}',
    reload: 'Reload',
    services: 'Services',
    addService: 'Add a service',
    id: 'Id (letters, digits, -)',
    nameZh: 'Name in Chinese',
    nameEn: 'Name in English',
    category: 'For',
    cat_pet: 'Pets',
    cat_baby: 'Babies',
    cat_other: 'Everyone',
    minutes: 'Minutes',
    price: 'Price (¥)',
    needs: 'Needs (kinds, e.g. table, groomer:large-dog)',
    remove: 'Remove',
    resources: 'Tables, rooms and staff',
    addResource: 'Add a resource',
    kind: 'Kind (table, room, pool, groomer…)',
    hours: 'Opening hours',
    hoursHint: 'Times like 09:30-21:00; several separated by commas; empty = closed. Time zone: {tz}.',
    day_mon: 'Monday', day_tue: 'Tuesday', day_wed: 'Wednesday', day_thu: 'Thursday', day_fri: 'Friday', day_sat: 'Saturday', day_sun: 'Sunday',
    closed: 'closed',
    save: 'Save the services and hours',
    saving: 'Saving…',
    saved: 'Saved. Version {v} is in force: kiosks and phones see it now.',
    savedStranded: 'Saved. {n} booking(s) stay as they are for staff to move:',
    stale: 'A colleague changed the shop while you were editing (it is now version {v}). Your changes were not saved. Reload to see theirs, then make yours again.',
    strands: 'This change would leave {n} booking(s) without their service, a resource or their opening hours. Nothing was saved.',
    saveAnyway: 'Save anyway (the bookings stay for staff to move)',
    invalid: 'Please correct these and save again; nothing was saved:',
    badPrice: '{what}: enter a price such as 88 or 88.50',
    badMinutes: '{what}: enter the minutes as a whole number',
    closures: 'Closures (holidays, sick days)',
    noClosures: 'No closures ahead.',
    from: 'From',
    until: 'Until (optional)',
    reasonZh: 'Reason in Chinese',
    reasonEn: 'Reason in English',
    addClosure: 'Close the shop',
    closedOn: 'Closed {when}: {reason}.',
    told: '{n} customer(s) with a booking then were told in their chat and offered other times:',
    nobodyTold: 'No bookings were on those days.',
    reopened: 'Reopened {when}.',
    forbidden: 'Only an admin can change the shop.',
    failed: 'It did not work: {message}',
    booking: '{start} · {service} · {customer}: {why}',
  },
  zh: {
    tab: '门店',
    title: '门店设置',
    version: '版本 {v}',
    reload: '重新加载',
    services: '服务项目',
    addService: '添加服务',
    id: '编号（字母、数字、-）',
    nameZh: '中文名称',
    nameEn: '英文名称',
    category: '适用',
    cat_pet: '宠物',
    cat_baby: '婴幼儿',
    cat_other: '所有人',
    minutes: '时长（分钟）',
    price: '价格（元）',
    needs: '占用（类型，如 table, groomer:large-dog）',
    remove: '删除',
    resources: '美容台、房间和员工',
    addResource: '添加资源',
    kind: '类型（table, room, pool, groomer…）',
    hours: '营业时间',
    hoursHint: '格式如 09:30-21:00；多个时段用逗号分隔；留空表示休息。时区：{tz}。',
    day_mon: '周一', day_tue: '周二', day_wed: '周三', day_thu: '周四', day_fri: '周五', day_sat: '周六', day_sun: '周日',
    closed: '休息',
    save: '保存服务和营业时间',
    saving: '正在保存…',
    saved: '已保存。版本 {v} 已生效：自助机和手机端现在即可看到。',
    savedStranded: '已保存。{n} 个预约保持不变，请店员调整：',
    stale: '您编辑期间同事修改了门店设置（当前为版本 {v}）。您的修改未保存。请重新加载查看他们的修改，然后再做您的修改。',
    strands: '此修改会使 {n} 个预约失去服务项目、资源或营业时间。未保存任何内容。',
    saveAnyway: '仍然保存（这些预约保留，由店员调整）',
    invalid: '请更正以下内容后再保存；未保存任何内容：',
    badPrice: '{what}：请输入价格，如 88 或 88.50',
    badMinutes: '{what}：请输入整数分钟',
    closures: '休息日（节假日、病假）',
    noClosures: '近期没有休息日。',
    from: '开始日期',
    until: '结束日期（可选）',
    reasonZh: '中文原因',
    reasonEn: '英文原因',
    addClosure: '设为休息',
    closedOn: '{when} 休息：{reason}。',
    told: '已在聊天中通知当天有预约的 {n} 位顾客，并提供了其他时间：',
    nobodyTold: '这些天没有预约。',
    reopened: '{when} 恢复营业。',
    forbidden: '只有管理员可以修改门店设置。',
    failed: '操作失败：{message}',
    booking: '{start} · {service} · {customer}：{why}',
  },
};

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function h(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else if (k === 'class') n.className = v;
    else if (k === 'value') n.value = v;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

// initShop sets the tab up. getLink returns the console's StoreLink (or
// null when signed out); i18n is the console's (language and switch).
export function initShop({ getLink, i18n }) {
  const $ = (id) => document.getElementById(id);
  const tab = $('tab-shop');
  const section = $('shop-view');
  if (!tab || !section) return;
  const t = (k, v) => {
    const s = (STRINGS[i18n.lang] && STRINGS[i18n.lang][k]) ?? STRINGS.en[k] ?? k;
    return String(s).replace(/\{(\w+)\}/g, (m, x) => (v && v[x] != null ? String(v[x]) : m));
  };

  // state: what was loaded, the editor's copy, and the last outcome.
  const S = {
    loaded: false, editable: false, version: 0, catalog: null, edit: null, closures: [],
    msg: '', err: '', errors: [], stranded: [], strandsPending: false, stale: false, affected: null, busy: false, closing: false,
    form: { date: '', until: '', zh: '', en: '' },
  };
  window.shopView = S;

  const call = (op, body) => {
    const link = getLink();
    if (!link) return Promise.reject(new StoreError('network', 'signed out'));
    return link.call('booking', op, body || {});
  };

  const clone = (v) => JSON.parse(JSON.stringify(v));

  async function load() {
    try {
      const [cat, cl] = await Promise.all([call('catalog_get'), call('closure_list')]);
      S.loaded = true;
      S.editable = !!cat.editable;
      S.version = cat.version;
      S.catalog = cat.catalog;
      S.edit = clone(cat.catalog);
      S.closures = cl.closures || [];
      S.stale = false;
    } catch (e) {
      S.loaded = true;
      S.editable = false;
    }
    tab.hidden = !S.editable;
    if (!S.editable) section.hidden = true;
    else if (tab.getAttribute('aria-current') === 'page') section.hidden = false;
    render();
  }

  function clearOutcome() {
    Object.assign(S, { msg: '', err: '', errors: [], stranded: [], strandsPending: false, affected: null, shownWhere: null });
  }

  function describe(e) {
    if (e instanceof StoreError && e.code === 'forbidden') return t('forbidden');
    return t('failed', { message: (e && e.message) || String(e) });
  }

  function serviceLabel(id) {
    const s = S.edit && S.edit.services.find((x) => x.id === id);
    return s ? (s.name[i18n.lang] || s.name.en || id) : id;
  }

  function bookingLine(r) {
    return t('booking', { start: (r.start || '').slice(0, 16).replace('T', ' '), service: serviceLabel(r.service), customer: r.customer, why: r.why });
  }

  // check finds what the server would refuse in a way the form can say
  // better (a price typed as text).
  function check() {
    const bad = [];
    for (const s of S.edit.services) {
      const what = s.name[i18n.lang] || s.id || '?';
      if (!Number.isInteger(s.price) || s.price < 0) bad.push(t('badPrice', { what }));
      if (!Number.isInteger(s.minutes)) bad.push(t('badMinutes', { what }));
    }
    return bad;
  }

  async function save(confirm) {
    clearOutcome();
    S.where = 'catalog';
    const bad = check();
    if (bad.length) {
      S.err = t('invalid');
      S.errors = bad;
      render();
      return;
    }
    S.busy = true;
    render();
    const body = { version: S.version, catalog: S.edit };
    if (confirm) body.confirm = true;
    try {
      const ans = await call('catalog_set', body);
      S.version = ans.version;
      S.catalog = ans.catalog;
      S.edit = clone(ans.catalog);
      S.stranded = ans.stranded || [];
      S.msg = S.stranded.length ? t('saved', { v: ans.version }) + ' ' + t('savedStranded', { n: S.stranded.length }) : t('saved', { v: ans.version });
    } catch (e) {
      const d = (e && e.details) || {};
      if (e instanceof StoreError && e.reason === 'stale_version') {
        S.stale = true;
        S.err = t('stale', { v: d.version });
      } else if (e instanceof StoreError && e.reason === 'strands') {
        S.strandsPending = true;
        S.stranded = d.stranded || [];
        S.err = t('strands', { n: d.count || S.stranded.length });
      } else if (e instanceof StoreError && e.reason === 'invalid') {
        S.err = t('invalid');
        S.errors = d.errors || [e.message];
      } else {
        S.err = describe(e);
      }
    }
    S.busy = false;
    render();
  }

  async function addClosure() {
    clearOutcome();
    S.where = 'closure';
    const f = S.form;
    const body = { date: f.date, reason: { zh: f.zh.trim(), en: f.en.trim() } };
    if (f.until && f.until !== f.date) body.until = f.until;
    S.closing = true;
    render();
    try {
      const ans = await call('closure_add', body);
      const list = await call('closure_list');
      const c = ans.closure;
      S.closures = list.closures || [];
      S.form = { date: '', until: '', zh: '', en: '' };
      S.affected = ans.affected || [];
      S.msg = t('closedOn', { when: c.date + (c.until ? ' – ' + c.until : ''), reason: c.reason[i18n.lang] || c.reason.en }) + ' ' +
        (S.affected.length ? t('told', { n: S.affected.length }) : t('nobodyTold'));
    } catch (e) {
      S.err = describe(e);
    }
    S.closing = false;
    render();
  }

  async function removeClosure(c) {
    clearOutcome();
    S.where = 'closure';
    try {
      const ans = await call('closure_remove', { closure: c.id });
      S.closures = ans.closures || [];
      S.msg = t('reopened', { when: c.date + (c.until ? ' – ' + c.until : '') });
    } catch (e) {
      S.err = describe(e);
    }
    render();
  }

  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);

  function serviceCard(s, i) {
    const k = 'shop-svc-' + i + '-';
    const needs = (s.needs || []).map((n) => n.kind + (n.skill ? ':' + n.skill : '')).join(', ');
    return h('li', { class: 'card', 'data-service': s.id },
      h('div', { class: 'health-grid' },
        field(k + 'id', t('id'), h('input', { id: k + 'id', value: s.id, autocapitalize: 'none', spellcheck: 'false', readonly: S.catalog.services.some((x) => x.id === s.id) && s.id ? true : null, oninput: (e) => { s.id = e.target.value.trim(); } })),
        field(k + 'zh', t('nameZh'), h('input', { id: k + 'zh', value: s.name.zh, lang: 'zh-CN', oninput: (e) => { s.name.zh = e.target.value; } })),
        field(k + 'en', t('nameEn'), h('input', { id: k + 'en', value: s.name.en, lang: 'en', oninput: (e) => { s.name.en = e.target.value; } })),
        field(k + 'cat', t('category'), h('select', { id: k + 'cat', onchange: (e) => { s.category = e.target.value; } },
          ['pet', 'baby', 'other'].map((c) => h('option', { value: c, selected: c === s.category ? true : null }, t('cat_' + c))))),
        field(k + 'min', t('minutes'), h('input', { id: k + 'min', type: 'number', min: 1, step: 1, inputmode: 'numeric', value: s.minutes, oninput: (e) => { s.minutes = Number(e.target.value); } })),
        field(k + 'price', t('price'), h('input', { id: k + 'price', type: 'number', min: 0, step: '0.01', inputmode: 'decimal', value: (s.price / 100).toFixed(2),
          oninput: (e) => { const v = e.target.value.trim(); s.price = v === '' ? NaN : Math.round(Number(v) * 100); } })),
        field(k + 'needs', t('needs'), h('input', { id: k + 'needs', value: needs, autocapitalize: 'none', spellcheck: 'false',
          oninput: (e) => {
            s.needs = e.target.value.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
              const [kind, skill] = x.split(':').map((y) => y.trim());
              return skill ? { kind, skill } : { kind };
            });
          } }))),
      h('div', { class: 'actions' }, h('button', { id: k + 'remove', type: 'button', class: 'danger-outline', onclick: () => { S.edit.services.splice(i, 1); render(); } }, t('remove'))));
  }

  function resourceCard(r, i) {
    const k = 'shop-res-' + i + '-';
    return h('li', { class: 'card' },
      h('div', { class: 'health-grid' },
        field(k + 'id', t('id'), h('input', { id: k + 'id', value: r.id, autocapitalize: 'none', spellcheck: 'false', readonly: S.catalog.resources.some((x) => x.id === r.id) && r.id ? true : null, oninput: (e) => { r.id = e.target.value.trim(); } })),
        field(k + 'kind', t('kind'), h('input', { id: k + 'kind', value: r.kind, autocapitalize: 'none', spellcheck: 'false', oninput: (e) => { r.kind = e.target.value.trim(); } })),
        field(k + 'zh', t('nameZh'), h('input', { id: k + 'zh', value: r.name.zh, lang: 'zh-CN', oninput: (e) => { r.name.zh = e.target.value; } })),
        field(k + 'en', t('nameEn'), h('input', { id: k + 'en', value: r.name.en, lang: 'en', oninput: (e) => { r.name.en = e.target.value; } }))),
      h('div', { class: 'actions' }, h('button', { id: k + 'remove', type: 'button', class: 'danger-outline', onclick: () => { S.edit.resources.splice(i, 1); render(); } }, t('remove'))));
  }

  function render() {
    tab.textContent = t('tab');
    const out = [];
    out.push(h('div', { class: 'board-head' },
      h('h2', { id: 'shop-title', class: 'pane-title' }, t('title'), S.version ? h('span', { class: 'small muted' }, ' · ' + t('version', { v: S.version })) : null),
      h('button', { id: 'shop-reload', type: 'button', class: 'secondary', onclick: () => { clearOutcome(); load(); } }, t('reload'))));
    // What the last action did is shown where it was done: under the
    // Save button, or under the closure form.
    const outcome = [];
    if (S.msg) outcome.push(h('p', { id: 'shop-msg', class: 'ok', role: 'status' }, S.msg));
    if (S.err) outcome.push(h('p', { id: 'shop-err', class: 'error', role: 'alert' }, S.err));
    if (S.errors.length) outcome.push(h('ul', { id: 'shop-errors', class: 'bk-notes' }, S.errors.map((x) => h('li', {}, x))));
    if (S.stranded.length) outcome.push(h('ul', { id: 'shop-stranded', class: 'bk-notes' }, S.stranded.map((r) => h('li', {}, bookingLine(r)))));
    if (S.affected && S.affected.length) outcome.push(h('ul', { id: 'shop-affected', class: 'bk-notes' }, S.affected.map((r) => h('li', {}, bookingLine(r)))));
    if (S.strandsPending) outcome.push(h('div', { class: 'actions' }, h('button', { id: 'shop-save-anyway', type: 'button', class: 'danger', onclick: () => save(true) }, t('saveAnyway'))));
    if (S.stale) outcome.push(h('div', { class: 'actions' }, h('button', { id: 'shop-stale-reload', type: 'button', class: 'primary', onclick: () => { clearOutcome(); load(); } }, t('reload'))));
    const outcomePanel = outcome.length ? h('div', { id: 'shop-outcome', class: 'panel' + (S.err ? ' conflict' : '') }, outcome) : null;

    if (S.edit) {
      const e = S.edit;
      out.push(h('h3', {}, t('services')),
        h('ul', { id: 'shop-services', class: 'plain-list shop-list' }, e.services.map(serviceCard)),
        h('div', { class: 'actions' }, h('button', { id: 'shop-add-service', type: 'button', class: 'secondary', onclick: () => {
          e.services.push({ id: '', name: { zh: '', en: '' }, category: 'pet', minutes: 60, price: 0, currency: 'CNY', needs: [] });
          render();
          $('shop-svc-' + (e.services.length - 1) + '-id').focus();
        } }, t('addService'))));
      out.push(h('h3', {}, t('hours')),
        h('p', { class: 'small muted' }, t('hoursHint', { tz: e.time_zone })),
        h('div', { class: 'health-grid', id: 'shop-hours' }, DAYS.map((d) => h('div', { class: 'field inline' },
          h('label', { for: 'shop-hours-' + d }, t('day_' + d)),
          h('input', { id: 'shop-hours-' + d, value: (e.hours[d] || []).join(', '), placeholder: t('closed'), inputmode: 'numeric',
            oninput: (ev) => { e.hours[d] = ev.target.value.split(',').map((x) => x.trim()).filter(Boolean); } })))));
      out.push(h('h3', {}, t('resources')),
        h('ul', { id: 'shop-resources', class: 'plain-list shop-list' }, e.resources.map(resourceCard)),
        h('div', { class: 'actions' },
          h('button', { id: 'shop-add-resource', type: 'button', class: 'secondary', onclick: () => { e.resources.push({ id: '', kind: '', name: { zh: '', en: '' } }); render(); } }, t('addResource')),
          h('button', { id: 'shop-save', type: 'button', class: 'primary big', disabled: S.busy ? true : null, onclick: () => save(false) }, S.busy ? t('saving') : t('save'))));
      if (S.where === 'catalog') out.push(outcomePanel);
    }

    const f = S.form;
    out.push(h('h3', {}, t('closures')),
      S.closures.length === 0 ? h('p', { class: 'muted' }, t('noClosures')) : h('ul', { id: 'shop-closures', class: 'plain-list' }, S.closures.map((c) => h('li', { class: 'card', 'data-closure': c.id },
        h('p', {}, h('strong', {}, c.date + (c.until ? ' – ' + c.until : '')), ' · ', c.reason.zh === c.reason.en ? c.reason.zh : c.reason.zh + ' / ' + c.reason.en),
        h('div', { class: 'actions' }, h('button', { id: 'shop-reopen-' + c.id, type: 'button', class: 'danger-outline', onclick: () => removeClosure(c) }, t('remove')))))),
      h('div', { class: 'card' }, h('div', { class: 'health-grid' },
        field('shop-cl-date', t('from'), h('input', { id: 'shop-cl-date', type: 'date', value: f.date, oninput: (e) => { f.date = e.target.value; } })),
        field('shop-cl-until', t('until'), h('input', { id: 'shop-cl-until', type: 'date', value: f.until, oninput: (e) => { f.until = e.target.value; } })),
        field('shop-cl-zh', t('reasonZh'), h('input', { id: 'shop-cl-zh', value: f.zh, lang: 'zh-CN', oninput: (e) => { f.zh = e.target.value; } })),
        field('shop-cl-en', t('reasonEn'), h('input', { id: 'shop-cl-en', value: f.en, lang: 'en', oninput: (e) => { f.en = e.target.value; } }))),
      h('div', { class: 'actions' }, h('button', { id: 'shop-add-closure', type: 'button', class: 'primary', disabled: S.closing ? true : null, onclick: addClosure }, t('addClosure')))),
      S.where === 'closure' ? outcomePanel : null);

    const active = document.activeElement;
    const focusId = active && section.contains(active) ? active.id : null;
    section.replaceChildren(...out);
    if (focusId && $(focusId)) $(focusId).focus();
    if (outcomePanel && S.where !== S.shownWhere) outcomePanel.scrollIntoView({ block: 'nearest' });
    S.shownWhere = outcomePanel ? S.where : null;
  }

  // The tab is the console's: clicking any tab shows its view; this one's
  // section is shown here.
  for (const b of document.querySelectorAll('.tab')) {
    b.addEventListener('click', () => { section.hidden = b !== tab || !S.editable; });
  }
  // Signed in: load (and show the tab to admins); signed out: hide it all.
  new MutationObserver(() => {
    if (document.body.dataset.state === 'ready') {
      load();
    } else {
      tab.hidden = true;
      section.hidden = true;
      Object.assign(S, { loaded: false, editable: false, version: 0, catalog: null, edit: null, closures: [] });
      clearOutcome();
    }
  }).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });
  i18n.onChange(() => render());
  render();
}
