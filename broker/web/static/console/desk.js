// The desk in the console's chat pane (PROTOCOL.md, "Chat"): transferring a
// conversation to a colleague (the dialog; the offer, with accept and
// decline, in the colleague's console; what became of it, in the first
// staff member's), "… is typing" both ways on chat/{conversation}/typing,
// and who of a group has read a message ("read by 3 of 5", the names on tap).
//
// console.js passes in the link and its helpers (initDesk), calls onReady
// after signing in, onEvent with every chat event, afterRender after it
// redraws the chat pane, and reset after signing out. What the desk shows is
// in window.consoleView.chatDesk.

const STRINGS = {
  en: {
    transfer: 'Transfer',
    transferTitle: 'Transfer this conversation',
    transferTo: 'To a colleague',
    transferNote: 'Note for her (the customer does not see it)',
    transferSend: 'Offer it',
    cancel: 'Cancel',
    noColleagues: 'There is no other staff account to transfer to.',
    offered: 'Offered to {who}: waiting for an answer.',
    accepted: '{who} took over this conversation.',
    declined: '{who} declined: the conversation stays with you.',
    expired: '{who} did not answer in time: the conversation stays with you.',
    offer: '{from} offers you a conversation with {customer}.',
    offerNote: 'Note: {note}',
    accept: 'Accept',
    decline: 'Decline',
    transferFailed: 'The transfer did not go through ({code}).',
    typing: '{who} is typing…',
    readBy: 'Read by {n} of {m}',
    readNames: 'Read: {names}',
    unreadNames: 'Not yet: {names}',
    nobody: 'nobody',
  },
  zh: {
    transfer: '转接',
    transferTitle: '转接此会话',
    transferTo: '转给同事',
    transferNote: '给同事的备注（顾客看不到）',
    transferSend: '发出转接',
    cancel: '取消',
    noColleagues: '没有其他员工账号可以转接。',
    offered: '已转给 {who}：等待对方回复。',
    accepted: '{who} 已接手此会话。',
    declined: '{who} 拒绝了：会话仍由你负责。',
    expired: '{who} 未及时回复：会话仍由你负责。',
    offer: '{from} 想把与 {customer} 的会话转给你。',
    offerNote: '备注：{note}',
    accept: '接受',
    decline: '拒绝',
    transferFailed: '转接未成功（{code}）。',
    typing: '{who} 正在输入…',
    readBy: '{m} 人中 {n} 人已读',
    readNames: '已读：{names}',
    unreadNames: '未读：{names}',
    nobody: '无',
  },
};

// Typing: "true" at most every SEND_EVERY while keys are pressed, "false"
// IDLE after the last key or when the text is sent; a "true" not renewed
// within SHOWN is dropped.
const SEND_EVERY = 3000;
const IDLE = 5000;
const SHOWN = 8000;
// Read receipts are asked for this many of the latest messages of a group.
const READERS_LAST = 20;

export function initDesk(c) {
  const { h, replace, i18n } = c;
  const $ = (id) => document.getElementById(id);
  const tt = (key, vars) => {
    const s = (STRINGS[i18n.lang] && STRINGS[i18n.lang][key]) ?? STRINGS.en[key] ?? key;
    return String(s).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
  };
  const st = {
    colleagues: new Map(), // id -> display name
    offers: new Map(), // conversation -> transfer view (open offers to or by me)
    outcome: new Map(), // conversation -> {state, to}: what became of my last offer
    typing: new Map(), // conversation -> Map(member -> shown until, ms)
    readers: new Map(), // conversation -> Map(seq -> readers answer)
    openReaders: new Set(), // "conv:seq" whose names are shown
    sentTyping: 0, // when "true" was last sent
    typingConv: '',
    idleTimer: null,
    loadingReaders: new Set(),
  };
  const view = { offers: [], status: '', typing: [], readers: {}, colleagues: [] };
  c.view.chatDesk = view;

  const link = () => c.link();
  const me = () => c.me();
  const name = (id) => {
    if (!id) return '';
    if (id === me()) return c.label(id);
    return st.colleagues.get(id) || c.label(id);
  };

  // ---- transfer: the dialog ---------------------------------------------

  $('transfer-open').addEventListener('click', () => {
    const id = c.current();
    if (!id) return;
    const others = [...st.colleagues.entries()].filter(([cid]) => cid !== me());
    replace($('transfer-to'), others.map(([cid, n]) => h('option', { value: cid }, n)));
    $('transfer-note').value = '';
    $('transfer-error').textContent = others.length ? '' : tt('noColleagues');
    $('transfer-send').disabled = others.length === 0;
    renderStaticText();
    $('transfer-dialog').showModal();
  });
  $('transfer-cancel').addEventListener('click', () => $('transfer-dialog').close());
  $('transfer-send').addEventListener('click', async () => {
    const id = c.current();
    const to = $('transfer-to').value;
    if (!id || !to || !link()) return;
    $('transfer-send').disabled = true;
    try {
      const ans = await link().call('chat', 'transfer', { conversation: id, to, note: $('transfer-note').value.trim() });
      if (ans.transfer) st.offers.set(id, Object.assign({ conversation: id }, ans.transfer));
      st.outcome.delete(id);
      $('transfer-dialog').close();
    } catch (e) {
      $('transfer-error').textContent = tt('transferFailed', { code: e.code || 'generic' });
    } finally {
      $('transfer-send').disabled = false;
    }
    render();
  });

  function renderStaticText() {
    $('transfer-open').textContent = tt('transfer');
    $('transfer-title').textContent = tt('transferTitle');
    $('transfer-to-label').textContent = tt('transferTo');
    $('transfer-note-label').textContent = tt('transferNote');
    $('transfer-send').textContent = tt('transferSend');
    $('transfer-cancel').textContent = tt('cancel');
  }

  // ---- transfer: offers to me ----------------------------------------------

  async function answer(conv, accept) {
    if (!link()) return;
    try {
      const ans = await link().call('chat', 'transfer_answer', { conversation: conv, accept });
      st.offers.delete(conv);
      c.upsert(ans);
      if (accept) await c.openConversation(conv);
    } catch (e) {
      st.offers.delete(conv); // expired or answered elsewhere: load again
      loadTransfers();
      c.toast(tt('transferFailed', { code: e.code || 'generic' }));
    }
    render();
  }

  function renderOffers() {
    const mine = [...st.offers.values()].filter((o) => o.to === me());
    view.offers = mine.map((o) => ({ conversation: o.conversation, from: o.from, note: o.note || '' }));
    replace($('desk-offers'), mine.map((o) => h('div', { class: 'desk-offer', id: 'offer-' + o.conversation, role: 'group' },
      h('p', {}, tt('offer', { from: o.from_name || name(o.from), customer: c.title(o.conversation) })),
      o.note ? h('p', { class: 'small desk-note' }, tt('offerNote', { note: o.note })) : null,
      h('div', { class: 'desk-offer-buttons' },
        h('button', { id: 'offer-accept-' + o.conversation, type: 'button', class: 'primary', onclick: () => answer(o.conversation, true) }, tt('accept')),
        h('button', { id: 'offer-decline-' + o.conversation, type: 'button', class: 'secondary', onclick: () => answer(o.conversation, false) }, tt('decline'))))));
  }

  async function loadTransfers() {
    if (!link()) return;
    try {
      const ans = await link().call('chat', 'transfers', {});
      st.colleagues = new Map((ans.colleagues || []).map((m) => [m.id, m.name || m.id]));
      view.colleagues = [...st.colleagues.keys()];
      st.offers = new Map((ans.offers || []).map((o) => [o.conversation, o]));
    } catch (e) { /* a role without transfers: no dialog */ }
    render();
  }

  // ---- typing ------------------------------------------------------------------

  function sendTyping(typing) {
    const id = c.current();
    const l = link();
    if (!id || !l) return;
    const e = c.conv(id);
    if (!e || !e.member) return; // the broker drops a non-member's typing
    l.publish('chat/' + id + '/typing', { v: 1, typing }, { qos: 0 });
  }

  function stopTyping() {
    clearTimeout(st.idleTimer);
    st.idleTimer = null;
    if (st.sentTyping) {
      sendTyping(false);
      st.sentTyping = 0;
    }
  }

  $('reply').addEventListener('input', () => {
    const id = c.current();
    if (!id) return;
    if (st.typingConv !== id) { stopTyping(); st.typingConv = id; }
    if (!$('reply').value.trim()) { stopTyping(); return; }
    const now = Date.now();
    if (now - st.sentTyping >= SEND_EVERY) {
      sendTyping(true);
      st.sentTyping = now;
    }
    clearTimeout(st.idleTimer);
    st.idleTimer = setTimeout(stopTyping, IDLE);
  });
  $('composer').addEventListener('submit', () => stopTyping());
  $('reply').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) stopTyping();
  });

  function onTyping(topic, msg) {
    if (!msg || typeof msg !== 'object' || !msg.from || msg.from === me()) return;
    const conv = topic.split('/')[1];
    let m = st.typing.get(conv);
    if (!m) { m = new Map(); st.typing.set(conv, m); }
    if (msg.typing) m.set(msg.from, Date.now() + SHOWN);
    else m.delete(msg.from);
    renderTyping();
    if (msg.typing) setTimeout(renderTyping, SHOWN + 50);
  }

  function renderTyping() {
    const id = c.current();
    const m = id && st.typing.get(id);
    const now = Date.now();
    const who = [];
    if (m) for (const [from, until] of m) { if (until > now) who.push(name(from)); else m.delete(from); }
    view.typing = who;
    $('desk-typing').textContent = who.length ? tt('typing', { who: who.join(', ') }) : '';
  }

  // ---- group read receipts ---------------------------------------------------

  async function loadReaders(conv, seqs) {
    const l = link();
    if (!l) return;
    let m = st.readers.get(conv);
    if (!m) { m = new Map(); st.readers.set(conv, m); }
    let loaded = 0;
    await Promise.all(seqs.map(async (seq) => {
      const key = conv + ':' + seq;
      if (st.loadingReaders.has(key)) return; // asked already: its answer redraws
      st.loadingReaders.add(key);
      try {
        m.set(seq, await l.call('chat', 'readers', { conversation: conv, seq }));
        loaded++;
      } catch (e) { /* asked again at the next event or redraw */ }
      st.loadingReaders.delete(key);
    }));
    if (loaded && c.current() === conv) decorate();
  }

  const refreshReaders = debounce((conv) => {
    const e = c.conv(conv);
    if (!e || e.kind !== 'group' || c.current() !== conv) return;
    loadReaders(conv, mySeqs());
  }, 300);

  // mySeqs are the latest messages on screen the staff member sent (not
  // the system messages of membership changes).
  function mySeqs() {
    const seqs = [...document.querySelectorAll('#messages li.msg.mine[data-seq]')].map((n) => Number(n.dataset.seq))
      .filter((seq) => { const m = c.message(seq); return m && m.kind !== 'system'; });
    return seqs.slice(-READERS_LAST);
  }

  function decorate() {
    const id = c.current();
    const e = id && c.conv(id);
    view.readers = {};
    if (!e || e.kind !== 'group') return;
    const m = st.readers.get(id) || new Map();
    const missing = [];
    for (const seq of mySeqs()) {
      const li = document.querySelector('#messages li[data-seq="' + seq + '"]');
      const r = m.get(seq);
      if (!r) {
        if (!st.loadingReaders.has(id + ':' + seq)) missing.push(seq);
        continue;
      }
      const read = (r.read_by || []).map((x) => name(x.member));
      const unread = (r.not_read_by || []).map((x) => name(x.member));
      view.readers[seq] = { read: read.length, of: read.length + unread.length, names: read, unread };
      if (!li) continue;
      const old = li.querySelector('.readers');
      if (old) old.remove();
      const key = id + ':' + seq;
      const shown = st.openReaders.has(key);
      const box = h('div', { class: 'readers small' },
        h('button', {
          id: 'readers-' + seq, type: 'button', class: 'plain small-btn', 'aria-expanded': String(shown),
          onclick: () => { if (st.openReaders.has(key)) st.openReaders.delete(key); else st.openReaders.add(key); decorate(); },
        }, tt('readBy', { n: read.length, m: read.length + unread.length })),
        shown ? h('p', { class: 'muted readers-names', id: 'readers-names-' + seq },
          tt('readNames', { names: read.join(', ') || tt('nobody') }), h('br', {}),
          tt('unreadNames', { names: unread.join(', ') || tt('nobody') })) : null);
      li.append(box);
    }
    if (missing.length) loadReaders(id, missing);
  }

  // ---- the chat pane's line --------------------------------------------------

  function render() {
    renderOffers();
    const id = c.current();
    const e = id && c.conv(id);
    $('transfer-open').textContent = tt('transfer');
    $('transfer-open').hidden = !(e && e.member && e.kind !== 'group' && (!e.assigned.length || e.assigned.includes(me())));
    let status = '';
    const o = id && st.offers.get(id);
    if (o && o.from === me()) status = tt('offered', { who: o.to_name || name(o.to) });
    const out = id && st.outcome.get(id);
    if (!status && out) status = tt(out.state, { who: name(out.to) });
    view.status = status;
    $('transfer-state').textContent = status;
    renderTyping();
    decorate();
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  return {
    async onReady() {
      const l = link();
      try { await l.subscribe('chat/+/typing', onTyping); } catch (e) { /* no grant: no typing */ }
      await loadTransfers();
    },
    onEvent(ev) {
      if (!ev || !ev.conversation) return;
      const id = ev.conversation;
      if (ev.type === 'transfer') {
        if (ev.state === 'offered') {
          if (ev.member === me() || ev.by === me()) loadTransfers();
        } else {
          st.offers.delete(id);
          if (ev.by === me()) st.outcome.set(id, { state: ev.state, to: ev.member });
          // Accepted: the offering staff member is no longer assigned (the
          // assigned event that follows adds the colleague).
          const e = c.conv(id);
          if (ev.state === 'accepted' && e) e.assigned = e.assigned.filter((m) => m !== ev.by);
          render();
        }
      } else if (ev.type === 'read' || (ev.type === 'message' && ev.from === me())) {
        refreshReaders(id);
      } else if (ev.type === 'message') {
        // A message ends its sender's typing.
        const m = st.typing.get(id);
        if (m && m.delete(ev.from)) renderTyping();
      }
    },
    afterRender() { render(); },
    reset() {
      stopTyping();
      st.offers.clear(); st.outcome.clear(); st.typing.clear(); st.readers.clear(); st.openReaders.clear();
      Object.assign(view, { offers: [], status: '', typing: [], readers: {} });
    },
  };
}
