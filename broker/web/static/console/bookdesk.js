// The front desk on the Bookings tab: which day the board shows (a date,
// the day before and after, today, the week around it with the bookings
// of each day) and a new booking for a phone call or a walk-in: the
// service (narrowed by the pet's size or the baby's age), a free time
// from svc/booking/availability, and the customer — one the store knows,
// found by name or phone (svc/booking/customers), or someone new with a
// name and a phone. A customer who already has a visit at that time is
// named in words, with "Book anyway" (PROTOCOL.md, Bookings, reason
// overlap). Dates are days of the store's calendar: "today" is the date
// the store's board answers, never the tablet's.
//
// console.js owns the link, the catalogue and the board; it passes them in
// (initBookDesk) and tells this module when the board was loaded
// (onBoard). What the desk shows is in window.consoleView.desk.

const STRINGS = {
  en: {
    prevDay: '‹ Day before',
    nextDay: 'Day after ›',
    today: 'Today',
    dayField: 'Day',
    week: 'Week',
    weekDay: '{day} {date}',
    weekCount: '{n}',
    weekCountLabel: '{date}: {n} bookings',
    newBooking: 'New booking',
    closeForm: 'Close',
    formTitle: 'New booking',
    source: 'How they asked',
    source_walk_in: 'Walk-in',
    source_phone: 'Phone call',
    who: 'Customer',
    whoKnown: 'Find a customer',
    whoNew: 'New customer',
    searchField: 'Name or phone',
    searchHint: 'Type 2 letters of the name or 3 digits of the phone.',
    searching: 'Looking…',
    noMatch: 'Nobody found. Add them as a new customer.',
    moreMatches: 'More match: type more of the name.',
    chosen: 'Booking for {name}',
    change: 'Change',
    nameField: 'Name',
    phoneField: 'Phone',
    fitField: 'Pet size or baby age',
    fitAny: 'Any',
    fit_small: 'Small pet',
    fit_medium: 'Medium pet',
    fit_large: 'Large pet',
    fit_baby: 'Baby',
    ageField: 'Baby’s age (months)',
    serviceField: 'Service',
    noService: 'No service takes this.',
    serviceOption: '{name} · {minutes} min · {price}',
    dateField: 'Day',
    timeField: 'Free times',
    pickService: 'Choose a service first.',
    loadingSlots: 'Looking for free times…',
    noSlots: 'No free times on this day.',
    notesField: 'Notes (optional)',
    book: 'Book',
    booking: 'Booking…',
    missing_customer: 'Choose a customer, or enter the new customer’s name and phone.',
    missing_service: 'Choose a service.',
    missing_time: 'Choose a free time.',
    booked: 'Booked: {service}, {date} {time}, for {name}.',
    overlap: '{name} already has a visit then: {service}, {date} {start}–{end} ({where}).',
    overlapAsk: 'Book this one as well?',
    bookAnyway: 'Book anyway',
    dontBook: 'Don’t book',
    taken: 'That time was just taken. Free times nearby:',
    bad_request: 'Please check the form: {message}',
    failed: 'Not booked: {message}',
    walkIn: 'walk-in',
  },
  zh: {
    prevDay: '‹ 前一天',
    nextDay: '后一天 ›',
    today: '今天',
    dayField: '日期',
    week: '本周',
    weekDay: '{day} {date}',
    weekCount: '{n}',
    weekCountLabel: '{date}：{n} 个预约',
    newBooking: '新建预约',
    closeForm: '关闭',
    formTitle: '新建预约',
    source: '预约方式',
    source_walk_in: '到店',
    source_phone: '电话',
    who: '顾客',
    whoKnown: '查找顾客',
    whoNew: '新顾客',
    searchField: '姓名或电话',
    searchHint: '输入姓名的 2 个字或电话的 3 位数字。',
    searching: '正在查找…',
    noMatch: '没有找到。请作为新顾客添加。',
    moreMatches: '还有更多结果：请输入更多姓名。',
    chosen: '为 {name} 预约',
    change: '更换',
    nameField: '姓名',
    phoneField: '电话',
    fitField: '宠物体型或宝宝月龄',
    fitAny: '不限',
    fit_small: '小型宠物',
    fit_medium: '中型宠物',
    fit_large: '大型宠物',
    fit_baby: '宝宝',
    ageField: '宝宝月龄（月）',
    serviceField: '服务',
    noService: '没有适合的服务。',
    serviceOption: '{name} · {minutes} 分钟 · {price}',
    dateField: '日期',
    timeField: '可预约时间',
    pickService: '请先选择服务。',
    loadingSlots: '正在查找空闲时间…',
    noSlots: '这一天没有空闲时间。',
    notesField: '备注（可选）',
    book: '预约',
    booking: '正在预约…',
    missing_customer: '请选择顾客，或填写新顾客的姓名和电话。',
    missing_service: '请选择服务。',
    missing_time: '请选择一个空闲时间。',
    booked: '已预约：{service}，{date} {time}，顾客 {name}。',
    overlap: '{name} 在这个时间已有预约：{service}，{date} {start}–{end}（{where}）。',
    overlapAsk: '仍要再预约这一个吗？',
    bookAnyway: '仍然预约',
    dontBook: '不预约',
    taken: '这个时间刚被占用。附近的空闲时间：',
    bad_request: '请检查表单：{message}',
    failed: '未能预约：{message}',
    walkIn: '到店顾客',
  },
};

const WEEKDAYS = {
  en: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'],
  zh: ['周一', '周二', '周三', '周四', '周五', '周六', '周日'],
};

// Calendar arithmetic on "YYYY-MM-DD" days, in UTC so no zone moves them.
function addDays(date, n) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

function weekday(date) { // 0 = Monday
  const [y, m, d] = date.split('-').map(Number);
  return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
}

function money(minor, currency) {
  if (typeof minor !== 'number') return '';
  const v = (minor / 100).toFixed(minor % 100 ? 2 : 0);
  return currency === 'CNY' ? '¥' + v : v + ' ' + (currency || '');
}

export function initBookDesk(c) {
  const { h, replace, i18n } = c;
  const $ = (id) => document.getElementById(id);
  const tt = (key, vars) => {
    const s = (STRINGS[i18n.lang] && STRINGS[i18n.lang][key]) ?? STRINGS.en[key] ?? key;
    return String(s).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
  };

  const st = {
    today: '', // the store's today, from the board answered for ''
    day: '', // the day the board shows
    week: [], // [{date, bookings, cancelled}] Monday to Sunday around day
    open: false, // the form
    f: null, // the form's fields (newForm)
    busy: false,
  };
  const view = { day: '', today: '', week: [], open: false, result: '', error: '', overlap: null, alternatives: [], matches: [], slots: null };
  c.view.desk = view;

  function newForm() {
    return { source: 'walk_in', who: 'known', query: '', matches: null, more: false, customer: null, name: '', phone: '', fit: '', age: '', service: '', date: st.day || st.today, slots: null, start: '', notes: '', overlap: null, alternatives: [], result: '', error: '' };
  }

  // ---- which day -----------------------------------------------------

  async function show(date) {
    await c.showDay(date === st.today ? '' : date);
  }

  // onBoard is called by console.js after each board load: the day it
  // shows, and whether it asked for "today".
  function onBoard(date, askedToday) {
    if (askedToday && date) st.today = date;
    st.day = date;
    render();
    loadWeek();
  }

  async function loadWeek() {
    const link = c.link();
    if (!link || !st.day) return;
    const from = addDays(st.day, -weekday(st.day));
    try {
      const ans = await link.call('booking', 'board_days', { from, days: 7 });
      if (from !== addDays(st.day, -weekday(st.day))) return; // the day moved meanwhile
      st.week = ans.days || [];
    } catch (e) {
      st.week = [];
    }
    render();
  }

  // ---- the form ------------------------------------------------------

  function services() {
    const f = st.f;
    const age = Number(f.age);
    return [...c.services().values()].filter((s) => {
      if (f.fit === '') return true;
      if (f.fit === 'baby') {
        if (!s.baby_age_months) return false;
        return f.age === '' || (age >= s.baby_age_months[0] && age <= s.baby_age_months[1]);
      }
      return s.category === 'pet' && (!s.sizes || s.sizes.includes(f.fit));
    });
  }

  const search = debounce(async () => {
    const f = st.f;
    if (!f) return;
    const q = f.query.trim();
    const digits = q.replace(/\D/g, '');
    if (q.length < 2 && digits.length < 3) { f.matches = null; render(); return; }
    f.matches = 'searching';
    render();
    try {
      const ans = await c.link().call('booking', 'customers', { query: q });
      if (st.f !== f || f.query.trim() !== q) return;
      f.matches = ans.customers || [];
      f.more = !!ans.more;
    } catch (e) {
      f.matches = [];
      f.error = c.errText(e);
    }
    render();
  }, 250);

  async function loadSlots() {
    const f = st.f;
    f.slots = null;
    f.start = '';
    if (!f.service || !f.date) { render(); return; }
    f.slots = 'loading';
    render();
    const want = f.service + '/' + f.date;
    try {
      const ans = await c.link().call('booking', 'availability', { service: f.service, date: f.date, days: 1 });
      if (st.f !== f || f.service + '/' + f.date !== want) return;
      f.slots = (ans.days && ans.days[0] && ans.days[0].slots) || [];
    } catch (e) {
      f.slots = [];
      f.error = c.errText(e);
    }
    render();
  }

  function customerName(f) {
    return f.who === 'known' ? (f.customer && (f.customer.name || f.customer.customer)) || '' : f.name.trim();
  }

  async function book(confirm) {
    const f = st.f;
    f.error = '';
    f.result = '';
    if (f.who === 'known' ? !f.customer : (!f.name.trim() || !f.phone.trim())) f.error = tt('missing_customer');
    else if (!f.service) f.error = tt('missing_service');
    else if (!f.start) f.error = tt('missing_time');
    if (f.error) { render(); return; }
    const body = { service: f.service, start: f.start, source: f.source };
    if (f.who === 'known') {
      body.customer = f.customer.customer;
      if (f.customer.name || f.customer.phone) body.contact = { name: f.customer.name || undefined, phone: f.customer.phone || undefined };
    } else {
      body.contact = { name: f.name.trim(), phone: f.phone.trim() };
    }
    if (f.notes.trim()) body.notes = f.notes.trim();
    if (confirm) body.confirm_overlap = true;
    st.busy = true;
    render();
    try {
      const ans = await c.link().call('booking', 'book', body);
      const b = ans.booking;
      const w = c.wallClock(b.start);
      const done = tt('booked', { service: c.serviceName(b.service, b.service_name), date: w.date, time: w.time, name: customerName(f) });
      st.f = newForm();
      st.f.source = f.source;
      st.f.result = done;
      st.open = false;
      st.busy = false;
      await show(w.date);
      return;
    } catch (e) {
      if (e && e.code === 'conflict' && e.reason === 'overlap') {
        f.overlap = (e.details && e.details.booking) || {};
      } else if (e && e.code === 'conflict' && e.reason === 'taken') {
        f.alternatives = (e.details && e.details.alternatives) || [];
        f.error = tt('taken');
        loadSlots();
      } else if (e && e.code === 'bad_request') {
        f.error = tt('bad_request', { message: e.message || '' });
      } else {
        f.error = tt('failed', { message: c.errText(e) });
      }
    }
    st.busy = false;
    render();
  }

  // ---- drawing -------------------------------------------------------

  function render() {
    const f = st.f;
    Object.assign(view, {
      day: st.day, today: st.today, week: st.week.map((d) => ({ date: d.date, bookings: d.bookings, cancelled: d.cancelled })), open: st.open,
      result: f ? f.result : '', error: f ? f.error : '', overlap: f && f.overlap ? f.overlap.id || '' : null,
      alternatives: f ? f.alternatives.map((s) => s.start) : [], matches: f && Array.isArray(f.matches) ? f.matches.map((m) => m.customer) : [],
      slots: f && Array.isArray(f.slots) ? f.slots.map((s) => s.start) : null,
    });
    replace($('board-desk'), [dayBar(), weekStrip(), st.open ? form() : null,
      !st.open && f && f.result ? h('p', { id: 'desk-result', class: 'ok', role: 'status' }, f.result) : null].filter(Boolean));
  }

  function dayBar() {
    return h('div', { class: 'day-bar' },
      h('button', { id: 'day-prev', type: 'button', class: 'secondary', onclick: () => show(addDays(st.day, -1)) }, tt('prevDay')),
      h('label', { class: 'visually-hidden', for: 'day-pick' }, tt('dayField')),
      h('input', { id: 'day-pick', type: 'date', value: st.day, onchange: (e) => { if (e.target.value) show(e.target.value); } }),
      h('button', { id: 'day-next', type: 'button', class: 'secondary', onclick: () => show(addDays(st.day, 1)) }, tt('nextDay')),
      h('button', { id: 'day-today', type: 'button', class: 'plain', disabled: st.day === st.today ? true : null, onclick: () => c.showDay('') }, tt('today')),
      h('button', { id: 'new-booking', type: 'button', class: 'primary', 'aria-expanded': st.open ? 'true' : 'false', onclick: toggleForm }, tt('newBooking')));
  }

  function weekStrip() {
    const names = WEEKDAYS[i18n.lang] || WEEKDAYS.en;
    return h('ol', { id: 'week', class: 'week', 'aria-label': tt('week') }, st.week.map((d) => h('li', {},
      h('button', {
        id: 'week-' + d.date, type: 'button', class: 'week-day' + (d.date === st.day ? ' current' : '') + (d.date === st.today ? ' today' : ''),
        'aria-current': d.date === st.day ? 'date' : null, 'aria-label': tt('weekCountLabel', { date: d.date, n: d.bookings }), onclick: () => show(d.date),
      },
      h('span', { class: 'wd' }, names[weekday(d.date)]),
      h('span', { class: 'wdate' }, d.date.slice(5)),
      h('span', { class: 'wcount' + (d.bookings ? '' : ' zero') }, tt('weekCount', { n: d.bookings }))))));
  }

  function toggleForm() {
    st.open = !st.open;
    if (st.open) {
      const keep = st.f && !st.f.result ? st.f : null;
      st.f = keep || Object.assign(newForm(), { source: st.f ? st.f.source : 'walk_in' });
      if (!keep) st.f.date = st.day;
    }
    render();
    if (st.open) { const n = $('nb-source'); if (n) n.focus(); }
  }

  function field(id, label, control) {
    return h('div', { class: 'field' }, h('label', { for: id }, label), control);
  }

  function form() {
    const f = st.f;
    const list = services();
    if (f.service && !list.some((s) => s.id === f.service)) { f.service = ''; f.slots = null; f.start = ''; }
    const out = [h('h3', {}, tt('formTitle'))];
    out.push(h('div', { class: 'nb-row' },
      field('nb-source', tt('source'), h('select', { id: 'nb-source', onchange: (e) => { f.source = e.target.value; } },
        ['walk_in', 'phone'].map((s) => h('option', { value: s, selected: f.source === s ? true : null }, tt('source_' + s))))),
      h('div', { class: 'field' }, h('span', { class: 'label', id: 'nb-who-label' }, tt('who')),
        h('div', { class: 'nb-who', role: 'group', 'aria-labelledby': 'nb-who-label' },
          ['known', 'new'].map((w) => h('button', { id: 'nb-who-' + w, type: 'button', class: f.who === w ? 'primary' : 'secondary', 'aria-pressed': f.who === w ? 'true' : 'false',
            onclick: () => { f.who = w; f.error = ''; render(); focusWho(); } }, tt(w === 'known' ? 'whoKnown' : 'whoNew')))))));
    if (f.who === 'known') {
      if (f.customer) {
        out.push(h('p', { class: 'nb-chosen' }, h('strong', { id: 'nb-chosen' }, tt('chosen', { name: f.customer.name || f.customer.customer })),
          f.customer.phone ? ' · ' + f.customer.phone : '', ' ',
          h('button', { id: 'nb-change', type: 'button', class: 'plain', onclick: () => { f.customer = null; render(); focusWho(); } }, tt('change'))));
      } else {
        out.push(field('nb-search', tt('searchField'), h('input', { id: 'nb-search', type: 'search', value: f.query, autocomplete: 'off', 'aria-describedby': 'nb-search-hint',
          oninput: (e) => { f.query = e.target.value; search(); } })));
        const m = f.matches;
        out.push(h('p', { id: 'nb-search-hint', class: 'small muted' }, m === 'searching' ? tt('searching') : Array.isArray(m) && m.length === 0 ? tt('noMatch') : tt('searchHint')));
        if (Array.isArray(m) && m.length) {
          out.push(h('ul', { class: 'matches' }, m.map((x) => h('li', {}, h('button', { id: 'nb-match-' + x.customer, type: 'button', class: 'chip',
            onclick: () => { f.customer = x; f.error = ''; render(); } }, (x.name || x.customer) + (x.phone ? ' · ' + x.phone : ''))))));
          if (f.more) out.push(h('p', { class: 'small muted' }, tt('moreMatches')));
        }
      }
    } else {
      out.push(h('div', { class: 'nb-row' },
        field('nb-name', tt('nameField'), h('input', { id: 'nb-name', value: f.name, maxlength: 64, autocomplete: 'off', oninput: (e) => { f.name = e.target.value; } })),
        field('nb-phone', tt('phoneField'), h('input', { id: 'nb-phone', type: 'tel', value: f.phone, maxlength: 32, autocomplete: 'off', oninput: (e) => { f.phone = e.target.value; } }))));
    }
    out.push(h('div', { class: 'nb-row' },
      field('nb-fit', tt('fitField'), h('select', { id: 'nb-fit', onchange: (e) => { f.fit = e.target.value; render(); } },
        ['', 'small', 'medium', 'large', 'baby'].map((v) => h('option', { value: v, selected: f.fit === v ? true : null }, v ? tt('fit_' + v) : tt('fitAny'))))),
      f.fit === 'baby' ? field('nb-age', tt('ageField'), h('input', { id: 'nb-age', type: 'number', min: 0, max: 72, inputmode: 'numeric', value: f.age,
        onchange: (e) => { f.age = e.target.value; render(); } })) : null));
    out.push(field('nb-service', tt('serviceField'), list.length ? h('select', { id: 'nb-service', onchange: (e) => { f.service = e.target.value; f.alternatives = []; loadSlots(); } },
      h('option', { value: '', selected: f.service === '' ? true : null }, '—'),
      list.map((s) => h('option', { value: s.id, selected: f.service === s.id ? true : null },
        tt('serviceOption', { name: c.serviceName(s.id, s.name), minutes: s.minutes, price: money(s.price, s.currency) }))))
      : h('p', { id: 'nb-service', class: 'muted' }, tt('noService'))));
    out.push(field('nb-date', tt('dateField'), h('input', { id: 'nb-date', type: 'date', value: f.date, min: st.today || null,
      onchange: (e) => { f.date = e.target.value; f.alternatives = []; loadSlots(); } })));
    out.push(h('p', { class: 'small' }, tt('timeField')));
    out.push(!f.service ? h('p', { class: 'muted' }, tt('pickService'))
      : f.slots === 'loading' || f.slots == null ? h('p', { class: 'muted' }, tt('loadingSlots'))
        : f.slots.length === 0 ? h('p', { class: 'muted' }, tt('noSlots'))
          : h('div', { class: 'slots', role: 'group', 'aria-label': tt('timeField') }, f.slots.map((s) => slotChip(s, 'nb-slot-'))));
    if (f.alternatives.length) {
      out.push(h('div', { class: 'panel conflict' }, h('p', {}, tt('taken')),
        h('div', { class: 'slots' }, f.alternatives.map((s) => slotChip(s, 'nb-alt-')))));
    }
    out.push(field('nb-notes', tt('notesField'), h('input', { id: 'nb-notes', value: f.notes, maxlength: 200, oninput: (e) => { f.notes = e.target.value; } })));
    if (f.overlap) {
      const o = f.overlap;
      const s = c.wallClock(o.start);
      const e = c.wallClock(o.end);
      out.push(h('div', { id: 'nb-overlap', class: 'panel conflict', role: 'alert' },
        h('p', {}, tt('overlap', { name: customerName(f) || tt('walkIn'), service: c.serviceName(o.service, o.service_name), date: s.date, start: s.time, end: e.time, where: (o.resources || []).join(', ') })),
        h('p', {}, tt('overlapAsk')),
        h('div', { class: 'actions' },
          h('button', { id: 'nb-anyway', type: 'button', class: 'danger', disabled: st.busy ? true : null, onclick: () => book(true) }, tt('bookAnyway')),
          h('button', { id: 'nb-dont', type: 'button', class: 'secondary', onclick: () => { f.overlap = null; render(); } }, tt('dontBook')))));
    } else {
      out.push(h('div', { class: 'actions' },
        h('button', { id: 'nb-book', type: 'button', class: 'primary big', disabled: st.busy ? true : null, onclick: () => book(false) }, st.busy ? tt('booking') : tt('book')),
        h('button', { id: 'nb-close', type: 'button', class: 'secondary', onclick: toggleForm }, tt('closeForm'))));
    }
    out.push(h('p', { id: 'nb-error', class: 'error', role: 'alert' }, f.error));
    return h('form', { id: 'new-booking-form', class: 'new-booking', novalidate: true, onsubmit: (e) => { e.preventDefault(); book(false); } }, out);
  }

  function slotChip(s, prefix) {
    const f = st.f;
    const w = c.wallClock(s.start);
    const chosen = f.start === s.start;
    return h('button', { id: prefix + s.start.replace(/[^0-9]/g, ''), type: 'button', class: 'chip' + (chosen ? ' chosen' : ''), 'aria-pressed': chosen ? 'true' : 'false',
      onclick: () => { f.start = s.start; f.overlap = null; if (prefix === 'nb-alt-') { f.date = w.date; } render(); } },
    (w.date !== f.date ? w.date + ' ' : '') + w.time);
  }

  function focusWho() {
    const n = $(st.f.who === 'known' ? 'nb-search' : 'nb-name');
    if (n) n.focus();
  }

  function reset() {
    Object.assign(st, { today: '', day: '', week: [], open: false, f: null, busy: false });
    render();
  }

  i18n.onChange(() => render());
  return { onBoard, reset, render };
}

function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(); }, ms);
  };
}
