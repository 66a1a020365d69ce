// Close and rate, and the Reports tab (svc/chat/close and svc/chat/report,
// PROTOCOL.md "Close, rate and reports").
//
// In the conversation pane: a Close button for a customer's open
// conversation, and the lines of the system messages close and rate write
// ("Closed by …", "Rated ★★★★☆ …"). The Reports tab: a date range, and a
// table by day and a table by staff member of conversations handled, first
// response and resolution times, and ratings. Managers (roles that see every
// conversation) get everyone; other staff their own rows.
//
// console.js passes in the link and its helpers (initReports), calls
// onChat from its renderChat, cardText for closed/rated cards, onReady
// after signing in and reset after signing out. What the tab shows is in
// window.consoleView.reports.

const STRINGS = {
  en: {
    tab: 'Reports',
    title: 'Reports',
    from: 'From',
    to: 'To',
    show: 'Show',
    byDay: 'By day',
    byStaff: 'By staff member',
    day: 'Day',
    staff: 'Staff',
    handled: 'Handled',
    firstResponse: 'First response',
    resolution: 'Resolution',
    ratings: 'Ratings',
    avgMedian: 'average / median',
    total: 'Total',
    none: 'No conversations were closed in these days.',
    loading: 'Loading…',
    explain: 'First response: from the customer\'s first message (after the conversation was opened or reopened) to the first staff reply; the assistant\'s answers do not count. Resolution: from that message to the close. Days are the store\'s days.',
    close: 'Close conversation',
    closing: 'Closing…',
    closed: 'Closed — the customer was asked for a rating.',
    closedAlready: 'This conversation is closed already; it opens again when the customer writes.',
    closeFailed: 'Could not close it ({code}).',
    cardClosed: 'Closed by {by}. The customer was asked to rate the chat.',
    cardRated: 'Rated {stars} {n}/5',
    cardRatedComment: 'Rated {stars} {n}/5: “{comment}”',
    badRange: 'Choose a start day and an end day on or after it.',
  },
  zh: {
    tab: '报表',
    title: '报表',
    from: '开始日期',
    to: '结束日期',
    show: '查看',
    byDay: '按日',
    byStaff: '按员工',
    day: '日期',
    staff: '员工',
    handled: '处理会话',
    firstResponse: '首次响应',
    resolution: '解决时长',
    ratings: '评分',
    avgMedian: '平均 / 中位数',
    total: '合计',
    none: '这些日期内没有结束的会话。',
    loading: '正在加载…',
    explain: '首次响应：从顾客（会话开启或重新开启后）的第一条消息到员工的第一条回复；智能助手的回答不计。解决时长：从这条消息到结束会话。日期按门店时间计。',
    close: '结束会话',
    closing: '正在结束…',
    closed: '会话已结束，已请顾客评分。',
    closedAlready: '此会话已结束；顾客再发消息时会重新开启。',
    closeFailed: '无法结束会话（{code}）。',
    cardClosed: '{by} 结束了会话，已请顾客评分。',
    cardRated: '顾客评分 {stars} {n}/5',
    cardRatedComment: '顾客评分 {stars} {n}/5：“{comment}”',
    badRange: '请选择开始日期，以及不早于它的结束日期。',
  },
};

export function stars(n) {
  const k = Math.max(0, Math.min(5, n | 0));
  return '★'.repeat(k) + '☆'.repeat(5 - k);
}

// duration is a time in ms as people read it: 45 s, 3 min 20 s, 1 h 5 min.
function duration(ms, lang) {
  const s = Math.round(ms / 1000);
  const zh = lang === 'zh';
  if (s < 60) return zh ? s + ' 秒' : s + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return zh ? m + ' 分 ' + (s % 60) + ' 秒' : m + ' min ' + (s % 60) + ' s';
  const hh = Math.floor(m / 60);
  return zh ? hh + ' 小时 ' + (m % 60) + ' 分' : hh + ' h ' + (m % 60) + ' min';
}

function dayString(d) {
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate());
}

export function initReports(c) {
  const { h, replace, i18n } = c;
  const $ = (id) => document.getElementById(id);
  const tt = (key, vars) => {
    const s = (STRINGS[i18n.lang] && STRINGS[i18n.lang][key]) ?? STRINGS.en[key] ?? key;
    return String(s).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
  };
  const today = new Date();
  const weekAgo = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6);
  const st = { from: dayString(weekAgo), to: dayString(today), day: null, staff: null, loading: false, error: '' };
  const view = { from: '', to: '', byDay: [], byStaff: [], error: '' };
  c.view.reports = view;
  let closingFor = '';

  $('reports-from').value = st.from;
  $('reports-to').value = st.to;
  $('reports-form').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });

  async function load() {
    const link = c.link();
    if (!link) return;
    const from = $('reports-from').value, to = $('reports-to').value;
    if (!from || !to || to < from) { st.error = tt('badRange'); render(); return; }
    Object.assign(st, { from, to, loading: true, error: '' });
    render();
    try {
      const [day, staff] = await Promise.all([
        link.call('chat', 'report', { from, to, by: 'day' }),
        link.call('chat', 'report', { from, to, by: 'staff' }),
      ]);
      if (c.link() !== link) return;
      st.day = day;
      st.staff = staff;
    } catch (e) {
      st.error = c.errText(e);
    }
    st.loading = false;
    render();
  }

  function figure(n, avg, median) {
    if (!n) return '—';
    return duration(avg, i18n.lang) + ' / ' + duration(median, i18n.lang);
  }

  function table(id, rep, keyHead, keyName) {
    const rows = (rep && rep.rows) || [];
    const line = (r, key, cls) => h('tr', { class: cls || null, 'data-key': r.key },
      h('th', { scope: 'row' }, key),
      h('td', { class: 'num' }, String(r.handled)),
      h('td', { class: 'num' }, figure(r.responded, r.first_response_avg_ms, r.first_response_median_ms)),
      h('td', { class: 'num' }, figure(r.resolved, r.resolution_avg_ms, r.resolution_median_ms)),
      h('td', { class: 'num' }, r.ratings ? h('span', { title: (r.stars || []).map((n, i) => (i + 1) + '★ ' + n).join(', ') },
        h('span', { class: 'stars', 'aria-hidden': 'true' }, stars(Math.round(r.stars_avg))), ' ' + r.stars_avg.toFixed(1) + ' (' + r.ratings + ')') : '—'));
    replace($(id), [
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, keyHead),
        h('th', { scope: 'col', class: 'num' }, tt('handled')),
        h('th', { scope: 'col', class: 'num' }, tt('firstResponse'), h('br'), h('span', { class: 'small muted' }, tt('avgMedian'))),
        h('th', { scope: 'col', class: 'num' }, tt('resolution'), h('br'), h('span', { class: 'small muted' }, tt('avgMedian'))),
        h('th', { scope: 'col', class: 'num' }, tt('ratings')))),
      h('tbody', {}, rows.map((r) => line(r, keyName(r.key)))),
      rows.length ? h('tfoot', {}, line(rep.total, tt('total'), 'total')) : null,
    ]);
  }

  function render() {
    const dayRows = (st.day && st.day.rows) || [];
    Object.assign(view, {
      from: st.from, to: st.to, error: st.error,
      byDay: dayRows.map((r) => ({ ...r })),
      byStaff: ((st.staff && st.staff.rows) || []).map((r) => ({ ...r })),
    });
    $('tab-reports').textContent = tt('tab');
    $('reports-title').textContent = tt('title');
    $('reports-from-l').textContent = tt('from');
    $('reports-to-l').textContent = tt('to');
    $('reports-show').textContent = tt('show');
    $('reports-day-title').textContent = tt('byDay');
    $('reports-staff-title').textContent = tt('byStaff');
    $('reports-explain').textContent = tt('explain');
    $('reports-empty').textContent = st.loading ? tt('loading') : tt('none');
    $('reports-empty').hidden = !st.loading && (!st.day || dayRows.length > 0);
    $('reports-error').textContent = st.error;
    table('reports-by-day', st.day, tt('day'), (k) => k);
    table('reports-by-staff', st.staff, tt('staff'), (k) => c.staffName(k));
  }

  // ---- the conversation pane ----------------------------------------------

  $('close-conv').addEventListener('click', async () => {
    const open = c.open();
    const link = c.link();
    if (!open || !link) return;
    const id = open.id;
    closingFor = id;
    onChat(open, c.conv(id));
    try {
      await link.call('chat', 'close', { conversation: id });
      c.markClosed(id, new Date().toISOString());
      c.toast(tt('closed'));
    } catch (e) {
      const code = (e && e.code) || 'error';
      if (code === 'conflict') c.markClosed(id, new Date().toISOString());
      c.setError(id, code === 'conflict' ? tt('closedAlready') : tt('closeFailed', { code }));
    }
    closingFor = '';
    c.rerender();
  });

  // onChat shows the Close button for an open customer's conversation.
  function onChat(open, e) {
    const b = $('close-conv');
    const can = !!(open && open.customer && e && e.kind !== 'group' && !e.closed);
    b.hidden = !can;
    b.disabled = closingFor === (open && open.id);
    b.textContent = b.disabled ? tt('closing') : tt('close');
  }

  // cardText is the line of a closed or rated system message.
  function cardText(card) {
    if (card.type === 'closed') return tt('cardClosed', { by: c.staffName(card.by || '') });
    if (card.type === 'rated') {
      const vars = { stars: stars(card.stars), n: card.stars, comment: card.comment || '' };
      return card.comment ? tt('cardRatedComment', vars) : tt('cardRated', vars);
    }
    return '';
  }

  function reset() {
    Object.assign(st, { day: null, staff: null, loading: false, error: '' });
    render();
  }

  i18n.onChange(() => { render(); onChat(c.open(), c.open() && c.conv(c.open().id)); });
  render();
  return {
    onReady: () => { $('tab-reports').hidden = false; },
    onShow: () => load(),
    onChat,
    cardText,
    reset,
  };
}
