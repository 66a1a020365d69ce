// The console's "From HQ" tab: the notices and promotions headquarters
// sent the store, as the store keeps them (svc/notices/list, PROTOCOL.md
// "Notices from HQ"), newest first, and a new one the moment it arrives
// (notices/events), counted on the tab until it is opened. The tab shows
// once the list answers for the signed-in account (the roles of
// notices.roles in store.yaml).
//
// console.js calls initNotices once, with its link and its dateTime (times
// on the store's clock, in the store's zone); the tab follows the page's
// sign-in state (body[data-state]) and the tabs' clicks by itself. What it shows
// is in window.noticesView, for tests.

const STRINGS = {
  en: {
    tab: 'From HQ',
    title: 'From headquarters',
    empty: 'Nothing from headquarters yet.',
    promotion: 'Promotion',
    notice: 'Notice',
    from: 'from {from}',
    sent: 'Sent {time}',
    expires: 'until {time}',
    arrived: 'New from headquarters: {title}',
    refresh: 'Refresh',
  },
  zh: {
    tab: '总部消息',
    title: '总部消息',
    empty: '暂无总部消息。',
    promotion: '促销',
    notice: '通知',
    from: '来自 {from}',
    sent: '发送于 {time}',
    expires: '有效期至 {time}',
    arrived: '总部新消息：{title}',
    refresh: '刷新',
  },
};

export function initNotices({ i18n, link, dateTime }) {
  const $ = (id) => document.getElementById(id);
  const t = (k, v) => {
    const s = (STRINGS[i18n.lang] && STRINGS[i18n.lang][k]) ?? STRINGS.en[k] ?? k;
    return String(s).replace(/\{(\w+)\}/g, (m, x) => (v && v[x] != null ? String(v[x]) : m));
  };
  const state = { allowed: false, checked: false, notices: [], unseen: 0, error: '', unsubscribe: null };
  window.noticesView = state;

  function h(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== false && v != null) n.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids.flat()) if (c != null) n.append(c instanceof Node ? c : String(c));
    return n;
  }

  const when = (ts) => dateTime(ts) || ts;

  const showing = () => !$('notices-view').hidden;

  async function load() {
    const l = link();
    if (!l) return;
    try {
      const ans = await l.call('notices', 'list', {});
      if (link() !== l) return;
      state.allowed = true;
      state.notices = ans.notices || [];
      state.error = '';
    } catch (e) {
      if (e && (e.code === 'forbidden' || e.code === 'no_answer' || e.code === 'not_found')) state.allowed = false;
      else state.error = (e && e.message) || String(e);
    }
    render();
  }

  function onEvent(_topic, ev) {
    if (!ev || ev.type !== 'notice' || !ev.notice) return;
    if (state.notices.some((n) => n.id === ev.notice.id)) return;
    state.notices.unshift(ev.notice);
    if (!showing()) state.unseen++;
    $('notices-announce').textContent = t('arrived', { title: ev.notice.title });
    render();
  }

  function item(n) {
    return h('li', { class: 'notice notice-' + n.kind, id: 'notice-' + n.id, 'data-id': n.id },
      h('div', { class: 'notice-head' },
        h('span', { class: 'notice-kind' }, t(n.kind === 'promotion' ? 'promotion' : 'notice')),
        h('strong', { class: 'notice-title' }, n.title)),
      n.body ? h('p', { class: 'notice-body' }, n.body) : null,
      h('p', { class: 'notice-meta small muted' },
        [t('sent', { time: when(n.sent_at) }), n.from ? t('from', { from: n.from }) : null, n.expires ? t('expires', { time: when(n.expires) }) : null]
          .filter(Boolean).join(' · ')));
  }

  function render() {
    $('tab-notices').hidden = !state.allowed;
    $('notices-tab-label').textContent = t('tab');
    $('notices-title').textContent = t('title');
    $('notices-refresh').textContent = t('refresh');
    const c = $('tab-notices-count');
    c.hidden = state.unseen === 0;
    c.textContent = state.unseen ? String(state.unseen) : '';
    $('notices-empty').hidden = state.notices.length > 0;
    $('notices-empty').textContent = t('empty');
    $('notices-error').textContent = state.error;
    $('notices-list').replaceChildren(...state.notices.map(item));
  }

  $('notices-refresh').addEventListener('click', load);
  for (const b of document.querySelectorAll('.tab')) {
    b.addEventListener('click', () => {
      if (b.dataset.view !== 'notices') return;
      state.unseen = 0;
      load();
    });
  }

  // Sign-in and sign-out: the tab is for this sign-in's account.
  new MutationObserver(async () => {
    const ready = document.body.dataset.state === 'ready';
    if (ready && !state.checked) {
      state.checked = true;
      const l = link();
      if (!l) return;
      try {
        state.unsubscribe = await l.subscribe('notices/events', onEvent);
      } catch (e) {
        // A role without the grant still gets the list.
      }
      load();
    } else if (!ready && state.checked) {
      if (state.unsubscribe) state.unsubscribe();
      Object.assign(state, { allowed: false, checked: false, notices: [], unseen: 0, error: '', unsubscribe: null });
      render();
    }
  }).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });

  i18n.onChange(() => render());
  render();
}
