// Search, labels and internal notes in the console (svc/chat/search,
// notes, note_add, labels_set; PROTOCOL.md "Chat"). Staff only; none of it
// ever reaches a customer.
//
// - A search box over the conversation list searches every conversation
//   the signed-in staff member may read; "Find in this conversation" in
//   the chat's head searches the open one. Hits show the words found
//   highlighted; tapping one opens the message in its conversation,
//   highlighted. Bodies are sealed at rest and the store keeps no index,
//   so a search may stop early: the page says how far back it looked
//   ("Searched back to 12 March") and "Search older" goes on.
// - Label chips over the list filter it; the side panel shows the open
//   conversation's labels and notes, and its customer's, and adds notes.
//
// console.js passes its helpers in (initSearch) and asks back: filter
// (which conversations the list shows), chips (a conversation's labels in
// the list), mark and msgClass (a hit's message in context), onOpen (a
// conversation was opened) and reset. window.consoleView.search is what
// tests read.

const STRINGS = {
  en: {
    searchLabel: 'Search messages',
    searchPlaceholder: 'Search all conversations',
    search: 'Search',
    clear: 'Clear',
    find: 'Find in this conversation',
    findPlaceholder: 'Find in this conversation',
    close: 'Close',
    searching: 'Searching…',
    noHits: 'Nothing found.',
    hits: '{n} found',
    searchedBack: 'Searched back to {date}.',
    searchedAll: 'Searched everything.',
    older: 'Search older',
    stoppedTime: 'Stopped to keep it quick.',
    stoppedResults: 'Showing the first {n}.',
    filter: 'Filter by label',
    all: 'All',
    panel: 'Labels and notes',
    staffOnly: 'Staff only — the customer never sees these.',
    thisConv: 'This conversation',
    thisCustomer: 'This customer',
    labels: 'Labels',
    notes: 'Notes',
    noNotes: 'No notes yet.',
    addNote: 'Add note',
    notePlaceholder: 'A note for colleagues',
    noteAdded: 'Note added.',
    failed: 'Could not do that: {why}',
    forbidden: 'You may not see this conversation.',
  },
  zh: {
    searchLabel: '搜索消息',
    searchPlaceholder: '搜索全部会话',
    search: '搜索',
    clear: '清除',
    find: '在本会话中查找',
    findPlaceholder: '在本会话中查找',
    close: '关闭',
    searching: '正在搜索…',
    noHits: '没有找到。',
    hits: '找到 {n} 条',
    searchedBack: '已搜索到 {date}。',
    searchedAll: '已全部搜索。',
    older: '搜索更早的',
    stoppedTime: '为保证速度已暂停。',
    stoppedResults: '只显示前 {n} 条。',
    filter: '按标签筛选',
    all: '全部',
    panel: '标签和备注',
    staffOnly: '仅员工可见，顾客看不到。',
    thisConv: '本会话',
    thisCustomer: '该顾客',
    labels: '标签',
    notes: '备注',
    noNotes: '暂无备注。',
    addNote: '添加备注',
    notePlaceholder: '给同事的备注',
    noteAdded: '备注已添加。',
    failed: '操作失败：{why}',
    forbidden: '您无权查看此会话。',
  },
};

// fold is what the store compares (lower case, full-width letters as
// ASCII); it keeps the string's length, so indexes carry over.
function fold(s) {
  return String(s).replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
    .split('').map((c) => { const l = c.toLowerCase(); return l.length === 1 ? l : c; }).join('');
}

export function initSearch(c) {
  const { h, replace, i18n, dateTime } = c;
  const $ = (id) => document.getElementById(id);
  const tt = (key, vars) => {
    const s = (STRINGS[i18n.lang] && STRINGS[i18n.lang][key]) ?? STRINGS.en[key] ?? key;
    return String(s).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
  };
  const errWhy = (e) => (e && e.code === 'forbidden' ? tt('forbidden') : c.errText(e));

  // State: the two searches, the label list, the filter, the focused hit
  // and the side panel's notes.
  const mk = () => ({ q: '', hits: [], more: false, searchedTo: '', stopped: '', busy: false, error: '', done: false });
  const st = {
    all: mk(), inConv: mk(), findOpen: false,
    available: [], filter: '', focus: null, // {conversation, seq, q}
    panel: { conv: null, cust: null, msg: '' }, // notes answers
  };
  const view = { hits: [], convHits: [], filter: '', labels: [], notes: [], customerNotes: [], customerLabels: [], searchedTo: '', more: false, focus: null };
  c.view.search = view;

  // ---- the DOM: a search box and label filter over the list, a find bar
  // in the chat, a panel in the customer pane.
  const listPane = document.querySelector('.conv-list-pane');
  const allForm = h('form', { id: 'search-form', class: 'search-form', role: 'search', novalidate: true },
    h('label', { for: 'search-q', class: 'visually-hidden', id: 'search-q-l' }),
    h('input', { id: 'search-q', type: 'search', autocomplete: 'off', enterkeyhint: 'search' }),
    h('button', { id: 'search-go', class: 'primary', type: 'submit' }),
    h('button', { id: 'search-clear', class: 'secondary', type: 'button', hidden: true }));
  const allBox = h('div', { id: 'search-results', class: 'search-results', hidden: true, 'aria-live': 'polite' });
  const filterRow = h('div', { id: 'label-filter', class: 'label-filter', role: 'group' });
  listPane.insertBefore(allForm, $('conv-list'));
  listPane.insertBefore(allBox, $('conv-list'));
  listPane.insertBefore(filterRow, $('conv-list'));

  const findBtn = h('button', { id: 'find-open', class: 'secondary small-btn find-open', type: 'button' });
  const findForm = h('form', { id: 'find-form', class: 'search-form find-form', role: 'search', novalidate: true, hidden: true },
    h('label', { for: 'find-q', class: 'visually-hidden', id: 'find-q-l' }),
    h('input', { id: 'find-q', type: 'search', autocomplete: 'off', enterkeyhint: 'search' }),
    h('button', { id: 'find-go', class: 'primary', type: 'submit' }),
    h('button', { id: 'find-close', class: 'secondary', type: 'button' }));
  const findBox = h('div', { id: 'find-results', class: 'search-results find-results', hidden: true, 'aria-live': 'polite' });
  const head = document.querySelector('.chat-head');
  head.append(findBtn);
  head.after(findForm);
  findForm.after(findBox);

  const panel = h('section', { id: 'notes-panel', class: 'notes-panel', 'aria-labelledby': 'notes-title' });
  const pane = $('customer-pane');
  pane.insertBefore(panel, $('customer-id').nextSibling);

  allForm.addEventListener('submit', (ev) => { ev.preventDefault(); run(st.all, $('search-q').value, null, false); });
  $('search-clear').addEventListener('click', () => { Object.assign(st.all, mk()); $('search-q').value = ''; render(); c.onChange(); });
  findBtn.addEventListener('click', () => { st.findOpen = true; render(); $('find-q').focus(); });
  $('find-close').addEventListener('click', () => { st.findOpen = false; Object.assign(st.inConv, mk()); st.focus = null; render(); c.onChange(); });
  findForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const cur = c.current();
    if (cur) run(st.inConv, $('find-q').value, cur.id, false);
  });

  // run asks svc/chat/search: a new search, or older hits of the same one.
  async function run(s, q, conversation, older) {
    const link = c.link();
    q = String(q || '').trim();
    if (!link || !q) return;
    if (!older) Object.assign(s, mk(), { q, conversation });
    s.busy = true;
    s.error = '';
    render();
    try {
      const req = { q: s.q };
      if (s.conversation) req.conversation = s.conversation;
      if (older && s.searchedTo) req.before = s.searchedTo;
      const ans = await link.call('chat', 'search', req);
      s.hits = [...s.hits, ...(ans.hits || [])];
      s.more = !!ans.more;
      s.stopped = ans.stopped || '';
      s.searchedTo = ans.searched_to || s.searchedTo;
      s.done = true;
    } catch (e) {
      s.error = tt('failed', { why: errWhy(e) });
    }
    s.busy = false;
    render();
  }

  // marked splits text into strings and <mark>s of q.
  function marked(text, q) {
    const t = String(text || '');
    const f = fold(t);
    const fq = fold(q || '');
    if (!fq || f.length !== t.length) return [t];
    const out = [];
    let at = 0;
    for (let i = f.indexOf(fq); i >= 0; i = f.indexOf(fq, i + fq.length)) {
      if (i > at) out.push(t.slice(at, i));
      out.push(h('mark', {}, t.slice(i, i + fq.length)));
      at = i + fq.length;
    }
    if (at < t.length) out.push(t.slice(at));
    return out;
  }

  // snippet is the part of a long text around the first hit.
  function snippet(text, q) {
    const t = String(text || '');
    if (t.length <= 140) return t;
    const i = Math.max(0, fold(t).indexOf(fold(q)));
    const from = Math.max(0, i - 50);
    return (from > 0 ? '…' : '') + t.slice(from, from + 140) + (from + 140 < t.length ? '…' : '');
  }

  function day(ts) {
    try {
      return new Date(ts).toLocaleDateString(i18n.lang === 'zh' ? 'zh-CN' : 'en-GB', { day: 'numeric', month: 'long', year: 'numeric' });
    } catch (_) { return ts; }
  }

  function resultBox(s, box, idPrefix, withConv) {
    const on = s.busy || s.done || !!s.error;
    box.hidden = !on;
    if (!on) { replace(box, []); return; }
    const status = [];
    if (s.busy) status.push(tt('searching'));
    else if (s.done) {
      status.push(s.hits.length ? tt('hits', { n: s.hits.length }) : tt('noHits'));
      if (s.more && s.stopped === 'time') status.push(tt('stoppedTime'));
      if (s.more && s.stopped === 'results') status.push(tt('stoppedResults', { n: s.hits.length }));
      status.push(s.more && s.searchedTo ? tt('searchedBack', { date: day(s.searchedTo) }) : tt('searchedAll'));
    }
    replace(box, [
      h('p', { class: 'small muted search-status', id: idPrefix + 'status', role: 'status' }, status.join(' ')),
      s.error ? h('p', { class: 'error', role: 'alert' }, s.error) : null,
      h('ol', { class: 'hit-list' }, s.hits.map((hit, i) => h('li', {},
        h('button', {
          type: 'button', class: 'hit', id: idPrefix + i, 'data-conversation': hit.conversation, 'data-seq': hit.seq,
          onclick: () => openHit(hit, s.q),
        },
        h('span', { class: 'hit-head small' },
          withConv ? h('strong', {}, c.convTitle(hit.conversation)) : null,
          withConv ? ' · ' : null,
          // The customer's own message: her name is the conversation's.
          withConv && hit.from === hit.conversation ? null : [c.fromName(hit.from), ' · '],
          dateTime(hit.ts)),
        h('span', { class: 'hit-text' }, marked(snippet(hit.text, s.q), s.q)))))),
      s.more && !s.busy ? h('button', { id: idPrefix + 'older', type: 'button', class: 'secondary small-btn', onclick: () => run(s, s.q, s.conversation, true) }, tt('older')) : null,
    ].filter(Boolean));
  }

  async function openHit(hit, q) {
    st.focus = { conversation: hit.conversation, seq: hit.seq, q };
    await c.openAt(hit.conversation, hit.seq);
    render();
  }

  // ---- labels: the filter over the list, chips in it, the panel.

  function labelName(id) {
    const l = st.available.find((x) => x.id === id);
    return l ? (l[i18n.lang] || l.en || id) : id;
  }

  async function loadLabels() {
    const link = c.link();
    if (!link) return;
    try {
      const ans = await link.call('chat', 'notes', {});
      st.available = ans.available || [];
    } catch (e) { st.available = []; }
    render();
    c.onChange();
  }

  async function loadPanel() {
    const link = c.link();
    const cur = c.current();
    st.panel = { conv: null, cust: null, msg: '' };
    if (!link || !cur) { render(); return; }
    const id = cur.id;
    try {
      const [conv, cust] = await Promise.all([
        link.call('chat', 'notes', { conversation: id }),
        cur.customer ? link.call('chat', 'notes', { customer: cur.customer }) : Promise.resolve(null),
      ]);
      const now = c.current();
      if (!now || now.id !== id) return;
      st.panel.conv = conv;
      st.panel.cust = cust;
      if (conv.available) st.available = conv.available;
    } catch (e) {
      st.panel.msg = tt('failed', { why: errWhy(e) });
    }
    render();
  }

  async function toggleLabel(target, ans, id) {
    const link = c.link();
    if (!link || !ans) return;
    const labels = ans.labels.includes(id) ? ans.labels.filter((x) => x !== id) : [...ans.labels, id];
    try {
      const got = await link.call('chat', 'labels_set', { ...target, labels });
      if (target.customer) st.panel.cust = got; else st.panel.conv = got;
      st.panel.msg = '';
      c.setLabels(c.current().id, [...new Set([...(st.panel.conv ? st.panel.conv.labels : []), ...(st.panel.cust ? st.panel.cust.labels : [])])].sort());
    } catch (e) {
      st.panel.msg = tt('failed', { why: errWhy(e) });
    }
    render();
    c.onChange();
  }

  async function addNote(target, input) {
    const link = c.link();
    const text = input.value.trim();
    if (!link || !text) return;
    try {
      const got = await link.call('chat', 'note_add', { ...target, text });
      if (target.customer) st.panel.cust = got; else st.panel.conv = got;
      input.value = '';
      st.panel.msg = tt('noteAdded');
    } catch (e) {
      st.panel.msg = tt('failed', { why: errWhy(e) });
    }
    render();
  }

  function targetBlock(key, title, target, ans) {
    if (!ans) return null;
    const input = h('textarea', { id: 'note-text-' + key, rows: 2, placeholder: tt('notePlaceholder'), 'aria-label': title + ': ' + tt('addNote') });
    return h('div', { class: 'notes-block', id: 'notes-' + key },
      h('h4', {}, title),
      h('p', { class: 'small muted', id: 'labels-' + key + '-l' }, tt('labels')),
      h('div', { class: 'chips', role: 'group', 'aria-labelledby': 'labels-' + key + '-l' },
        st.available.map((l) => h('button', {
          type: 'button', id: 'label-' + key + '-' + l.id, 'data-label': l.id,
          class: 'chip' + (ans.labels.includes(l.id) ? ' chosen' : ''), 'aria-pressed': ans.labels.includes(l.id) ? 'true' : 'false',
          onclick: () => toggleLabel(target, ans, l.id),
        }, labelName(l.id)))),
      h('p', { class: 'small muted' }, tt('notes')),
      h('ol', { class: 'note-list plain-list', id: 'note-list-' + key },
        ans.notes.length ? ans.notes.map((n) => h('li', { class: 'note' },
          h('p', { class: 'small muted note-head' }, c.fromName(n.author), ' · ', dateTime(n.ts)),
          h('p', { class: 'note-text' }, n.text))) : [h('li', { class: 'muted small' }, tt('noNotes'))]),
      h('form', { class: 'note-form', novalidate: true, onsubmit: (ev) => { ev.preventDefault(); addNote(target, input); } },
        input,
        h('button', { type: 'submit', class: 'secondary', id: 'note-add-' + key }, tt('addNote'))));
  }

  // ---- render

  function render() {
    $('search-q-l').textContent = tt('searchLabel');
    $('search-q').placeholder = tt('searchPlaceholder');
    $('search-go').textContent = tt('search');
    $('search-clear').textContent = '✕';
    $('search-clear').setAttribute('aria-label', tt('clear'));
    $('search-clear').title = tt('clear');
    $('search-clear').hidden = !(st.all.done || st.all.busy || st.all.error);
    $('find-q-l').textContent = tt('findPlaceholder');
    $('find-q').placeholder = tt('findPlaceholder');
    $('find-go').textContent = tt('search');
    $('find-close').textContent = tt('close');
    findBtn.textContent = tt('find');
    const cur = c.current();
    findBtn.hidden = !cur || st.findOpen;
    findForm.hidden = !cur || !st.findOpen;
    resultBox(st.all, allBox, 'hit-', true);
    if (cur && st.findOpen && (!st.inConv.conversation || st.inConv.conversation === cur.id)) resultBox(st.inConv, findBox, 'find-hit-', false);
    else { findBox.hidden = true; replace(findBox, []); }

    filterRow.hidden = st.available.length === 0;
    filterRow.setAttribute('aria-label', tt('filter'));
    replace(filterRow, st.available.length ? [
      h('button', { type: 'button', id: 'filter-all', class: 'chip small-btn' + (st.filter ? '' : ' chosen'), 'aria-pressed': st.filter ? 'false' : 'true', onclick: () => setFilter('') }, tt('all')),
      ...st.available.map((l) => h('button', {
        type: 'button', id: 'filter-' + l.id, class: 'chip small-btn' + (st.filter === l.id ? ' chosen' : ''),
        'aria-pressed': st.filter === l.id ? 'true' : 'false', onclick: () => setFilter(st.filter === l.id ? '' : l.id),
      }, labelName(l.id))),
    ] : []);

    panel.hidden = !cur;
    const p = st.panel;
    replace(panel, cur ? [
      h('h3', { id: 'notes-title' }, tt('panel')),
      h('p', { class: 'small muted' }, tt('staffOnly')),
      targetBlock('conv', tt('thisConv'), { conversation: cur.id }, p.conv),
      cur.customer ? targetBlock('cust', tt('thisCustomer'), { customer: cur.customer }, p.cust) : null,
      h('p', { class: 'small', id: 'notes-msg', role: 'status' }, p.msg),
    ].filter(Boolean) : []);

    view.hits = st.all.hits.map((x) => ({ conversation: x.conversation, seq: x.seq, text: x.text }));
    view.convHits = st.inConv.hits.map((x) => ({ conversation: x.conversation, seq: x.seq, text: x.text }));
    view.searchedTo = st.all.searchedTo;
    view.more = st.all.more;
    view.filter = st.filter;
    view.labels = p.conv ? p.conv.labels : [];
    view.customerLabels = p.cust ? p.cust.labels : [];
    view.notes = p.conv ? p.conv.notes.map((n) => ({ author: n.author, text: n.text })) : [];
    view.customerNotes = p.cust ? p.cust.notes.map((n) => ({ author: n.author, text: n.text })) : [];
    view.focus = st.focus;
  }

  function setFilter(id) {
    st.filter = id;
    render();
    c.onChange();
  }

  i18n.onChange && i18n.onChange(() => render());

  return {
    onReady: loadLabels,
    // onOpen: a conversation was opened (or closed).
    onOpen() {
      const cur = c.current();
      if (!cur || !st.focus || st.focus.conversation !== cur.id) st.focus = null;
      if (st.inConv.conversation && (!cur || st.inConv.conversation !== cur.id)) Object.assign(st.inConv, mk());
      loadPanel();
    },
    reset() {
      Object.assign(st.all, mk());
      Object.assign(st.inConv, mk());
      st.available = []; st.filter = ''; st.focus = null; st.findOpen = false;
      st.panel = { conv: null, cust: null, msg: '' };
      render();
    },
    render,
    // filter: whether the list shows conversation entry e.
    filter: (e) => !st.filter || (e.labels || []).includes(st.filter),
    // chips: a conversation's labels for its line in the list.
    chips: (e) => (e.labels || []).map((id) => h('span', { class: 'badge label', 'data-label': id }, labelName(id))),
    // msgClass and mark: the hit's message in its conversation.
    msgClass: (conv, seq) => (st.focus && st.focus.conversation === conv && st.focus.seq === seq ? ' hit-focus' : ''),
    mark: (conv, seq, text) => (st.focus && st.focus.conversation === conv && st.focus.seq === seq ? marked(text, st.focus.q) : text),
  };
}
