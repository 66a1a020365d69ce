// The console's FAQ view (admins): the assistant's answers and the staff
// quick replies, each in Chinese and English, edited in place; "Try a
// question" shows which answer a customer would get, with the edits not
// saved yet; Save sends only what changed, with the version edited
// (svc/store/faq_get, faq_set, faq_try; PROTOCOL.md, "Editing the FAQ").
//
// The console calls initFAQ once. The view shows itself when its tab is
// chosen and hides when another is, or when the console signs out; the
// tab is hidden for accounts that may not edit the FAQ.

const STRINGS = {
  en: {
    title: 'FAQ and quick replies',
    tab: 'FAQ',
    intro: 'What the assistant answers customers automatically, and the snippets staff send with one tap. Changes apply to the next customer message once saved.',
    tryLabel: 'Try a question',
    tryPlaceholder: 'e.g. What time do you open?',
    tryButton: 'Try',
    tryUnsaved: 'with your changes not saved yet',
    answers: 'Answers',
    quick: 'Quick replies',
    zh: 'Chinese',
    en: 'English',
    health: 'health answer: the care notice is added',
    save: 'Save changes',
    reload: 'Reload',
    saved: 'Saved: version {v}.',
    nothing: 'Nothing changed.',
    version: 'Version {v}',
    versionDefault: 'The default FAQ (not edited yet)',
    conflict: 'Someone else saved the FAQ meanwhile (version {v}). Reload it, then make your change again.',
    kind_answer: 'Answered automatically',
    kind_handoff: 'Passed to a person',
    kind_no_match: 'Left to staff (holding reply)',
    intent: 'Answer: {id}',
    afterHours: 'Also, now (closed):',
    error: 'The store refused: {msg}',
    loading: 'Loading…',
    changed: 'changed',
  },
  zh: {
    title: '常见问题与快捷回复',
    tab: '问答',
    intro: '助手自动回答顾客的内容，以及员工一键发送的快捷回复。保存后，顾客的下一条消息即按新内容回答。',
    tryLabel: '试一个问题',
    tryPlaceholder: '例如：你们几点开门？',
    tryButton: '试一试',
    tryUnsaved: '使用尚未保存的修改',
    answers: '回答',
    quick: '快捷回复',
    zh: '中文',
    en: '英文',
    health: '健康类回答：会附上护理提示',
    save: '保存修改',
    reload: '重新载入',
    saved: '已保存：版本 {v}。',
    nothing: '没有修改。',
    version: '版本 {v}',
    versionDefault: '默认内容（尚未修改）',
    conflict: '其他人已在此期间保存（版本 {v}）。请重新载入后再修改。',
    kind_answer: '自动回答',
    kind_handoff: '转给店员',
    kind_no_match: '留给店员（先发送等待回复）',
    intent: '回答：{id}',
    afterHours: '此外，现在（非营业时间）还会收到：',
    error: '门店拒绝了：{msg}',
    loading: '正在载入…',
    changed: '已修改',
  },
};

// faqView is what the view shows, for tests.
const view = { allowed: null, version: null, saved: false, intents: [], quick: [], dirty: 0, result: null, error: '', notice: '', loaded: false };
window.faqView = view;

export function initFAQ({ link, i18n }) {
  const $ = (id) => document.getElementById(id);
  const t = (k, vars) => {
    const s = (STRINGS[i18n.lang] && STRINGS[i18n.lang][k]) || STRINGS.en[k] || k;
    return s.replace(/\{(\w+)\}/g, (m, n) => (vars && vars[n] != null ? String(vars[n]) : m));
  };
  const section = $('faq-view');
  const tab = $('tab-faq');
  let original = new Map(); // "intent:id" / "quick:id" -> {zh, en}
  let active = false;

  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') n.textContent = v;
      else if (v !== false && v != null) n.setAttribute(k, v === true ? '' : v);
    }
    n.append(...kids.filter((k) => k != null));
    return n;
  }

  function entryKey(kind, id) { return kind + ':' + id; }

  function edits() {
    const answers = {};
    const quick = {};
    let n = 0;
    for (const ta of section.querySelectorAll('textarea[data-key]')) {
      const key = ta.dataset.key;
      const lang = ta.dataset.lang;
      const orig = original.get(key);
      if (!orig) continue;
      const [kind, id] = key.split(/:(.*)/s);
      const target = kind === 'intent' ? answers : quick;
      if (ta.value !== orig[lang]) {
        if (!target[id]) { target[id] = { zh: orig.zh, en: orig.en }; n++; }
      }
    }
    for (const [kind, target] of [['intent', answers], ['quick', quick]]) {
      for (const id of Object.keys(target)) {
        for (const lang of ['zh', 'en']) {
          const ta = section.querySelector(`textarea[data-key="${CSS.escape(entryKey(kind, id))}"][data-lang="${lang}"]`);
          target[id][lang] = ta.value;
        }
      }
    }
    return { answers, quick_replies: quick, count: n };
  }

  function editBlock(kind, e) {
    const key = entryKey(kind, e.id);
    const head = el('h4', { class: 'faq-id' }, e.title ? e.title + ' · ' + e.id : e.id);
    const fields = ['zh', 'en'].map((lang) => {
      const id = 'faq-' + kind + '-' + e.id + '-' + lang;
      const ta = el('textarea', { id, rows: String(Math.min(8, Math.max(2, (e[lang] || '').split('\n').length + 1))), 'data-key': key, 'data-lang': lang, lang: lang === 'zh' ? 'zh-CN' : 'en' });
      ta.value = e[lang] || '';
      ta.addEventListener('input', markDirty);
      return el('div', { class: 'faq-field' }, el('label', { for: id, text: t(lang) }), ta);
    });
    return el('div', { class: 'card faq-entry', 'data-entry': key }, head,
      e.health ? el('p', { class: 'muted faq-health', text: t('health') }) : null, ...fields);
  }

  function markDirty() {
    const { count } = edits();
    view.dirty = count;
    for (const card of section.querySelectorAll('.faq-entry')) {
      const changed = [...card.querySelectorAll('textarea')].some((ta) => original.get(ta.dataset.key)[ta.dataset.lang] !== ta.value);
      card.classList.toggle('changed', changed);
    }
    $('faq-save').disabled = count === 0;
  }

  function renderStatic() {
    section.querySelector('#faq-title').textContent = t('title');
    tab.textContent = t('tab');
  }

  function render() {
    renderStatic();
    const body = $('faq-body');
    if (!view.loaded) {
      body.replaceChildren(el('p', { class: 'muted', text: view.error || t('loading') }));
      return;
    }
    const res = view.result;
    const tryOut = el('div', { id: 'faq-try-result', class: 'faq-result', 'aria-live': 'polite' });
    if (res) {
      tryOut.append(el('p', { class: 'faq-kind', text: t('kind_' + res.kind) + (res.intent && res.kind === 'answer' ? ' · ' + t('intent', { id: res.intent }) : '') + (res.unsaved ? ' (' + t('tryUnsaved') + ')' : '') }),
        el('p', { class: 'faq-text', text: res.text }));
      if (res.after_hours) tryOut.append(el('p', { class: 'muted', text: t('afterHours') }), el('p', { class: 'faq-text', text: res.after_hours }));
    }
    const tryForm = el('form', { id: 'faq-try', class: 'card faq-try' },
      el('label', { for: 'faq-q', text: t('tryLabel') }),
      el('div', { class: 'faq-try-row' }, el('input', { id: 'faq-q', type: 'text', maxlength: '500', placeholder: t('tryPlaceholder') }), el('button', { type: 'submit', class: 'secondary', text: t('tryButton') })),
      tryOut);
    const q0 = $('faq-q');
    const qv = q0 ? q0.value : '';
    tryForm.addEventListener('submit', (e) => { e.preventDefault(); tryQuestion(); });
    const actions = el('div', { class: 'faq-actions' },
      el('span', { class: 'muted', text: view.saved ? t('version', { v: view.version }) : t('versionDefault') }),
      el('button', { id: 'faq-reload', type: 'button', class: 'secondary', text: t('reload') }),
      el('button', { id: 'faq-save', type: 'button', text: t('save'), disabled: true }));
    const msg = el('p', { id: 'faq-msg', class: view.error ? 'error' : 'muted', role: 'status', text: view.error || view.notice });
    body.replaceChildren(el('p', { class: 'muted', text: t('intro') }), tryForm, actions, msg,
      el('h3', { text: t('answers') }), ...view.intents.map((e) => editBlock('intent', e)),
      el('h3', { text: t('quick') }), ...view.quick.map((e) => editBlock('quick', e)));
    $('faq-q').value = qv;
    $('faq-reload').addEventListener('click', load);
    $('faq-save').addEventListener('click', save);
    markDirty();
  }

  function errText(e) {
    return t('error', { msg: (e && (e.message || e.code)) || '?' });
  }

  async function load() {
    const l = link();
    if (!l) return;
    view.error = '';
    view.notice = '';
    try {
      const f = await l.call('store', 'faq_get', {});
      view.allowed = true;
      tab.hidden = false;
      view.version = f.version;
      view.saved = f.saved;
      view.intents = f.intents || [];
      view.quick = f.quick_replies || [];
      original = new Map();
      for (const e of view.intents) original.set(entryKey('intent', e.id), { zh: e.zh || '', en: e.en || '' });
      for (const e of view.quick) original.set(entryKey('quick', e.id), { zh: e.zh || '', en: e.en || '' });
      view.loaded = true;
      // Signed in again while the FAQ tab was the one chosen.
      if (!active && tab.getAttribute('aria-current') === 'page') { active = true; section.hidden = false; }
    } catch (e) {
      if (e && (e.code === 'forbidden' || e.code === 'no_answer')) {
        view.allowed = false;
        tab.hidden = true;
        if (tab.getAttribute('aria-current') === 'page') document.getElementById('tab-chats').click();
        if (active) hide();
        return;
      }
      view.error = errText(e);
    }
    if (active) render();
  }

  async function tryQuestion() {
    const text = $('faq-q').value.trim();
    if (!text) return;
    const ed = edits();
    const body = { text };
    if (ed.count > 0) Object.assign(body, { answers: ed.answers, quick_replies: ed.quick_replies });
    view.error = '';
    try {
      view.result = Object.assign(await link().call('store', 'faq_try', body), { unsaved: ed.count > 0 });
    } catch (e) {
      view.result = null;
      view.error = errText(e);
    }
    const keep = saveDrafts();
    render();
    restoreDrafts(keep);
  }

  function saveDrafts() {
    const m = new Map();
    for (const ta of section.querySelectorAll('textarea[data-key]')) m.set(ta.id, ta.value);
    return m;
  }

  function restoreDrafts(m) {
    for (const [id, v] of m) { const ta = document.getElementById(id); if (ta) ta.value = v; }
    markDirty();
  }

  async function save() {
    const ed = edits();
    if (ed.count === 0) { view.notice = t('nothing'); render(); return; }
    const body = { version: view.version };
    if (Object.keys(ed.answers).length) body.answers = ed.answers;
    if (Object.keys(ed.quick_replies).length) body.quick_replies = ed.quick_replies;
    $('faq-save').disabled = true;
    const keep = saveDrafts();
    try {
      const f = await link().call('store', 'faq_set', body);
      await load();
      view.notice = t('saved', { v: f.version });
      view.error = '';
      render();
    } catch (e) {
      view.error = e && e.code === 'conflict' ? t('conflict', { v: (e.details && e.details.version) ?? '?' }) : errText(e);
      render();
      restoreDrafts(keep);
    }
  }

  function show() {
    active = true;
    section.hidden = false;
    render();
    load();
  }

  function hide() {
    active = false;
    section.hidden = true;
  }

  for (const b of document.querySelectorAll('.tab')) {
    b.addEventListener('click', () => (b === tab ? show() : hide()));
  }
  // Signed out (or not yet in): hidden, forgotten; signed in: ask once
  // whether this account may edit the FAQ, to show the tab or not.
  new MutationObserver(() => {
    const ready = document.body.dataset.state === 'ready';
    if (!ready) {
      hide();
      tab.hidden = true;
      Object.assign(view, { allowed: null, loaded: false, result: null, error: '', notice: '' });
    } else if (view.allowed === null) {
      view.allowed = false;
      load();
    }
  }).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });
  i18n.onChange(() => {
    renderStatic();
    if (active) { const keep = saveDrafts(); render(); restoreDrafts(keep); }
  });
  tab.hidden = true;
  section.hidden = true;
  renderStatic();
}
