// The Activity tab, for admins: the store's activity log (svc/admin/audit.list,
// PROTOCOL.md "Activity log"): who did what, on what, when (the store's
// clock), and the thing before and after. The tab shows only when the
// signed-in account may read the log: the first list call tells
// (forbidden: the tab stays hidden). Newest first; "Older" pages back.
//
// console.js passes in the link and its helpers (initActivity) and calls
// onReady after signing in, reset after signing out. What the tab shows is
// in window.consoleView.activity.

const STRINGS = {
  en: {
    title: 'Activity',
    refresh: 'Refresh',
    older: 'Older entries',
    empty: 'Nothing recorded yet.',
    loading: 'Loading…',
    details: 'Before and after',
    before: 'Before',
    after: 'After',
    none: '(none)',
    dropped: 'The {n} oldest entries were let go to keep the log to its size.',
    'booking.book': 'booked',
    'booking.reschedule': 'moved a booking',
    'booking.cancel': 'cancelled a booking',
    'booking.no_show': 'marked a no-show',
  },
  zh: {
    title: '操作记录',
    refresh: '刷新',
    older: '更早的记录',
    empty: '暂无记录。',
    loading: '正在加载…',
    details: '修改前后',
    before: '修改前',
    after: '修改后',
    none: '（无）',
    dropped: '为控制记录大小，已删除最早的 {n} 条记录。',
    'booking.book': '新建预约',
    'booking.reschedule': '预约改期',
    'booking.cancel': '取消预约',
    'booking.no_show': '标记未到店',
  },
};

const PAGE = 50;

export function initActivity(c) {
  const { h, replace, i18n } = c;
  const $ = (id) => document.getElementById(id);
  const tt = (key, vars) => {
    const s = (STRINGS[i18n.lang] && STRINGS[i18n.lang][key]) ?? STRINGS.en[key] ?? key;
    return String(s).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
  };
  const st = { allowed: false, entries: [], more: false, next: 0, dropped: 0, loading: false, error: '', open: new Set() };
  const view = { allowed: false, entries: [], more: false, error: '' };
  c.view.activity = view;

  $('activity-refresh').addEventListener('click', () => load(false));
  $('activity-older').addEventListener('click', () => load(true));

  async function load(older) {
    const link = c.link();
    if (!link) return;
    st.loading = true;
    st.error = '';
    render();
    try {
      const body = older && st.next ? { before: st.next, limit: PAGE } : { limit: PAGE };
      const ans = await link.call('admin', 'audit.list', body);
      if (c.link() !== link) return;
      st.allowed = true;
      const got = ans.entries || [];
      st.entries = older ? st.entries.concat(got) : got;
      st.more = !!ans.more;
      st.next = ans.next || 0;
      st.dropped = ans.dropped || 0;
    } catch (e) {
      if (e && (e.code === 'forbidden' || e.code === 'no_answer' || e.code === 'not_found')) {
        st.allowed = false; // not an admin: no tab
      } else {
        st.error = c.errText(e);
      }
    }
    st.loading = false;
    render();
  }

  function pretty(raw) {
    if (raw == null) return tt('none');
    try { return JSON.stringify(raw, null, 2); } catch (e) { return String(raw); }
  }

  function entryItem(e) {
    const shown = st.open.has(e.seq);
    const k = 'act-' + e.seq;
    return h('li', { class: 'act', id: k, 'data-seq': e.seq },
      h('div', { class: 'act-head' },
        h('span', { class: 'act-time' }, c.dateTime(e.ts)),
        h('strong', { class: 'act-actor' }, e.actor),
        h('span', { class: 'act-action' }, tt(e.action) === e.action ? e.action : tt(e.action)),
        e.target ? h('code', { class: 'act-target' }, e.target) : null),
      (e.before != null || e.after != null) ? h('button', { id: k + '-toggle', type: 'button', class: 'plain small-btn', 'aria-expanded': shown ? 'true' : 'false',
        onclick: () => { if (shown) st.open.delete(e.seq); else st.open.add(e.seq); render(); } }, tt('details')) : null,
      shown ? h('div', { class: 'act-change' },
        h('div', {}, h('h4', {}, tt('before')), h('pre', {}, pretty(e.before))),
        h('div', {}, h('h4', {}, tt('after')), h('pre', {}, pretty(e.after)))) : null);
  }

  function render() {
    Object.assign(view, { allowed: st.allowed, entries: st.entries.map((e) => ({ seq: e.seq, actor: e.actor, action: e.action, target: e.target || '' })), more: st.more, error: st.error });
    $('tab-activity').hidden = !st.allowed;
    $('activity-title').textContent = tt('title');
    $('tab-activity').textContent = tt('title');
    $('activity-refresh').textContent = tt('refresh');
    $('activity-older').textContent = tt('older');
    $('activity-older').hidden = !st.more;
    $('activity-empty').hidden = st.entries.length > 0 || st.loading;
    $('activity-empty').textContent = tt('empty');
    $('activity-note').textContent = st.dropped ? tt('dropped', { n: st.dropped }) : '';
    $('activity-error').textContent = st.error;
    replace($('activity-list'), st.entries.map(entryItem));
  }

  function reset() {
    Object.assign(st, { allowed: false, entries: [], more: false, next: 0, dropped: 0, loading: false, error: '' });
    st.open.clear();
    render();
  }

  i18n.onChange(() => render());
  render();
  return { onReady: () => load(false), onShow: () => { if (st.allowed) load(false); }, reset };
}
