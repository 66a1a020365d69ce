// Booking from the phone, and the customer's own details: the second
// screen of the scan-to-chat page (chat.js is the conversation).
//
// "Book" shows the shop's opening hours for the week and its services with
// prices (svc/booking/services), and books a free time (availability,
// book) for her or her pet's or baby's profile (profile_list). From "My
// bookings" she moves (reschedule) or cancels a visit; the store accepts
// these only for her own customer id. "My details" sets her name, phone
// and consent (svc/customer/me_put); "Forget me" (svc/customer/forget)
// erases her data and logs this phone out.
//
// Times are the store's: slots come with the store's offset and are shown
// as written, whatever zone the phone is in.

export const BOOK_STRINGS = {
  en: {
    tabBook: 'Book',
    bookTitle: 'Book a visit',
    bookService: 'Service',
    bookProfile: 'For',
    bookProfileNone: 'Not saying',
    bookDate: 'Day',
    bookFree: 'Free times',
    bookNoSlots: 'No free time that day. Please pick another day.',
    bookClosed: 'closed',
    bookClosedWhy: 'The store is closed that day: {reason}. Please pick another day.',
    bookDone: 'Booked: {service}, {when}.',
    bookMoved: 'Moved: {service}, {when}.',
    bookTaken: 'That time has just been taken. Other free times are shown.',
    bookFailed: 'The booking could not be made ({code}).',
    bookMoving: 'Pick a new time for {service} (now {when}).',
    bookStopMoving: 'Keep the old time',
    hoursTitle: 'Opening hours',
    pricesTitle: 'Services and prices',
    minutes: '{n} min',
    free: 'free',
    move: 'Move',
    cancelBooking: 'Cancel',
    cancelConfirm: 'Cancel {service} on {when}?',
    cancelYes: 'Yes, cancel it',
    keep: 'Keep it',
    cancelled: 'Cancelled: {service}, {when}.',
    cancelFailed: 'The visit could not be cancelled ({code}).',
    meTitle: 'My details',
    meName: 'Name or nickname',
    mePhone: 'Phone',
    meConsent: 'The store may send me messages (reminders, offers)',
    meSave: 'Save',
    meSaved: 'Saved.',
    meFailed: 'Not saved ({code}).',
    forget: 'Forget me',
    forgetConfirm: 'Erase your messages, your details and your pets’ and babies’ profiles from this store, and log this phone out? Your visits stay booked.',
    forgetYes: 'Yes, forget me',
    forgotten: 'Done: the store has erased your messages, details and profiles. To chat again, scan the code at the store.',
    forgetFailed: 'That did not work ({code}). Please try again.',
    addProfile: 'Add a pet or baby',
    profileKind: 'Pet or baby',
    kindPet: 'Pet',
    kindBaby: 'Baby',
    profileName: 'Name',
    profileSpecies: 'Dog or cat',
    profileSize: 'Size',
    profileBirth: 'Date of birth',
    profileSave: 'Add',
    profileAdded: 'Added {name}; this booking is for {name}.',
    profileFailed: 'Not added ({code}): {message}',
    dog: 'Dog',
    cat: 'Cat',
    small: 'Small',
    medium: 'Medium',
    large: 'Large',
  },
  zh: {
    tabBook: '预约',
    bookTitle: '预约到店',
    bookService: '服务项目',
    bookProfile: '为谁预约',
    bookProfileNone: '暂不选择',
    bookDate: '日期',
    bookFree: '可预约时间',
    bookNoSlots: '当天没有空闲时间，请选择其他日期。',
    bookClosed: '休息',
    bookClosedWhy: '门店当天休息：{reason}。请选择其他日期。',
    bookDone: '预约成功：{service}，{when}。',
    bookMoved: '已改期：{service}，{when}。',
    bookTaken: '这个时间刚被约走了，请从下面的其他时间中选择。',
    bookFailed: '预约未成功（{code}）。',
    bookMoving: '请为 {service} 选择新时间（原定 {when}）。',
    bookStopMoving: '保留原时间',
    hoursTitle: '营业时间',
    pricesTitle: '服务项目与价格',
    minutes: '{n} 分钟',
    free: '免费',
    move: '改期',
    cancelBooking: '取消',
    cancelConfirm: '取消 {when} 的 {service}？',
    cancelYes: '是的，取消',
    keep: '保留',
    cancelled: '已取消：{service}，{when}。',
    cancelFailed: '取消未成功（{code}）。',
    meTitle: '我的资料',
    meName: '姓名或昵称',
    mePhone: '手机号',
    meConsent: '同意门店给我发送消息（提醒、优惠）',
    meSave: '保存',
    meSaved: '已保存。',
    meFailed: '保存未成功（{code}）。',
    forget: '删除我的资料',
    forgetConfirm: '删除您在本店的聊天记录、个人资料和宠物/宝宝档案，并在此手机上退出？已有的预约会保留。',
    forgetYes: '确认删除',
    forgotten: '已完成：门店已删除您的聊天记录、资料和档案。如需再次咨询，请在门店扫码。',
    forgetFailed: '操作未成功（{code}），请重试。',
    addProfile: '添加宠物或宝宝',
    profileKind: '宠物或宝宝',
    kindPet: '宠物',
    kindBaby: '宝宝',
    profileName: '名字',
    profileSpecies: '狗狗或猫咪',
    profileSize: '体型',
    profileBirth: '出生日期',
    profileSave: '添加',
    profileAdded: '已添加 {name}，本次预约为 {name} 预约。',
    profileFailed: '添加未成功（{code}）：{message}',
    dog: '狗狗',
    cat: '猫咪',
    small: '小型',
    medium: '中型',
    large: '大型',
  },
};

// setupBooking wires the Book screen, the My bookings actions and My
// details. ctx gives what chat.js owns: link() (the StoreLink), view,
// t, i18n, el, fmtDateTime, serviceName, notice, showTab, loadBookings and
// onForgotten (log out and say so).
export function setupBooking(ctx) {
  const { view, t, i18n, el } = ctx;
  const $ = (id) => document.getElementById(id);
  Object.assign(view, {
    catalogue: null, // {services, week, horizon_days, time_zone}
    profiles: [],
    card: null,
    slots: [], // {start, end}
    closedWhy: null, // {zh, en}: why the store is closed on the day picked
    bookDate: '',
    bookService: '',
    bookProfile: '',
    moving: null, // the booking being moved
    bookMsg: null, // {key, vars}
  });

  const price = (s) => {
    if (!s.price) return t('free');
    const amount = s.price % 100 ? (s.price / 100).toFixed(2) : String(s.price / 100);
    return s.currency === 'CNY' ? '¥' + amount : amount + ' ' + s.currency;
  };
  const svcName = (s) => (s && s.name && (s.name[i18n.lang] || s.name.en || s.name.zh)) || (s && s.id) || '';
  const wallTime = (iso) => String(iso).slice(11, 16); // the store's clock, as written
  const dayLabel = (date) => {
    const [y, m, d] = date.split('-').map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(i18n.lang === 'zh' ? 'zh-CN' : 'en', {
      timeZone: 'UTC', weekday: 'short', month: 'short', day: 'numeric',
    });
  };
  const addDays = (date, n) => {
    const [y, m, d] = date.split('-').map(Number);
    return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
  };
  const say = (key, vars) => { view.bookMsg = key ? { key, vars } : null; render(); };

  async function load() {
    const link = ctx.link();
    try {
      const c = await link.call('booking', 'services', {});
      view.catalogue = c;
      if (!view.bookService && c.services && c.services.length) view.bookService = c.services[0].id;
      if (!view.bookDate && c.week && c.week.length) view.bookDate = c.week[0].date;
    } catch (e) { /* shown empty; tried again at the next connect */ }
    try {
      const p = await link.call('booking', 'profile_list', {});
      view.profiles = p.profiles || [];
    } catch (e) { view.profiles = []; }
    try {
      const c = await link.call('customer', 'card_get', {});
      view.card = c.card;
    } catch (e) { /* an older store without cards */ }
    render();
    loadSlots();
  }

  async function loadSlots() {
    if (!view.bookService || !view.bookDate) return;
    const body = { service: view.bookService, date: view.bookDate };
    if (view.moving) body.exclude = view.moving.id;
    const want = JSON.stringify(body);
    try {
      const a = await ctx.link().call('booking', 'availability', body);
      if (want !== JSON.stringify(Object.assign({ service: view.bookService, date: view.bookDate }, view.moving ? { exclude: view.moving.id } : {}))) return;
      const d = (a.days || [])[0] || {};
      view.slots = d.slots || [];
      view.closedWhy = d.closed || null;
    } catch (e) {
      view.slots = [];
      view.closedWhy = null;
    }
    render();
  }

  async function pick(slot) {
    const s = (view.catalogue.services || []).find((x) => x.id === view.bookService);
    try {
      let ans;
      if (view.moving) {
        ans = await ctx.link().call('booking', 'reschedule', { booking: view.moving.id, start: slot.start });
        view.moving = null;
        say('bookMoved', { service: svcName(s), when: ctx.fmtDateTime(ans.booking.start) });
      } else {
        const body = { service: view.bookService, start: slot.start };
        if (view.bookProfile) body.profile = view.bookProfile;
        ans = await ctx.link().call('booking', 'book', body);
        say('bookDone', { service: svcName(s), when: ctx.fmtDateTime(ans.booking.start) });
      }
      view.lastBooked = ans.booking.id;
      ctx.loadBookings();
      loadSlots();
    } catch (e) {
      if (e.code === 'conflict' && e.details && Array.isArray(e.details.alternatives)) {
        view.slots = e.details.alternatives;
        say('bookTaken');
        return;
      }
      say('bookFailed', { code: e.code || 'error' });
    }
  }

  function startMove(b) {
    view.moving = b;
    view.bookService = b.service;
    view.bookDate = String(b.start).slice(0, 10);
    say('bookMoving', { service: ctx.serviceName(b), when: ctx.fmtDateTime(b.start) });
    ctx.showTab('book');
    loadSlots();
  }

  let confirmAction = null;
  function confirm(text, yes, action) {
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = yes;
    confirmAction = action;
    $('confirm').showModal();
  }
  $('confirm-no').addEventListener('click', () => { confirmAction = null; $('confirm').close(); });
  $('confirm-yes').addEventListener('click', () => {
    const a = confirmAction;
    confirmAction = null;
    $('confirm').close();
    if (a) a();
  });

  function cancelVisit(b) {
    const vars = { service: ctx.serviceName(b), when: ctx.fmtDateTime(b.start) };
    confirm(t('cancelConfirm', vars), t('cancelYes'), async () => {
      try {
        await ctx.link().call('booking', 'cancel', { booking: b.id });
        ctx.notice('cancelled', vars);
        ctx.loadBookings();
      } catch (e) {
        ctx.notice('cancelFailed', { code: e.code || 'error' });
      }
    });
  }

  // bookingActions adds Move and Cancel to a booked visit's item.
  function bookingActions(b, li) {
    if (b.status !== 'booked') return;
    const row = el('div', 'booking-actions');
    const mv = el('button', 'secondary move', t('move'));
    mv.type = 'button';
    mv.dataset.booking = b.id;
    mv.addEventListener('click', () => startMove(b));
    const cx = el('button', 'secondary cancel-visit', t('cancelBooking'));
    cx.type = 'button';
    cx.dataset.booking = b.id;
    cx.addEventListener('click', () => cancelVisit(b));
    row.append(mv, cx);
    li.append(row);
  }

  // Lists are rebuilt only when what they show changed: a chat event
  // redraws the page, and a button must not be replaced under a finger.
  const drawnSig = new Map();
  function once(id, sig, draw) {
    if (drawnSig.get(id) === sig) return;
    drawnSig.set(id, sig);
    draw($(id));
  }

  function render() {
    const c = view.catalogue;
    const lang = i18n.lang;
    const services = (c && c.services) || [];
    once('book-service', JSON.stringify([lang, services]), (sel) => {
      sel.textContent = '';
      for (const s of services) {
        const o = el('option', null, svcName(s) + ' · ' + price(s));
        o.value = s.id;
        sel.append(o);
      }
    });
    $('book-service').value = view.bookService;
    $('book-service').disabled = !!view.moving;
    once('book-profile', JSON.stringify([lang, view.profiles]), (ps) => {
      ps.textContent = '';
      const none = el('option', null, t('bookProfileNone'));
      none.value = '';
      ps.append(none);
      for (const p of view.profiles) {
        const o = el('option', null, p.name);
        o.value = p.id;
        ps.append(o);
      }
    });
    $('book-profile').value = view.bookProfile;
    $('book-profile').disabled = !!view.moving;
    once('book-date', JSON.stringify([lang, c && c.week, c && c.horizon_days]), (ds) => {
      ds.textContent = '';
      if (!c || !c.week || !c.week.length) return;
      const closed = new Map(c.week.map((d) => [d.date, !d.open || d.open.length === 0]));
      for (let i = 0; i <= (c.horizon_days || 6); i++) {
        const d = addDays(c.week[0].date, i);
        const o = el('option', null, dayLabel(d) + (closed.get(d) ? ' · ' + t('bookClosed') : ''));
        o.value = d;
        ds.append(o);
      }
    });
    $('book-date').value = view.bookDate;
    once('slots', JSON.stringify(view.slots), (list) => {
      list.textContent = '';
      for (const s of view.slots) {
        const li = el('li');
        const b = el('button', 'slot', wallTime(s.start));
        b.type = 'button';
        b.dataset.start = s.start;
        b.addEventListener('click', () => pick(s));
        li.append(b);
        list.append(li);
      }
    });
    $('no-slots').hidden = view.slots.length > 0 || !view.bookService;
    const why = view.closedWhy && (view.closedWhy[lang] || view.closedWhy.en || view.closedWhy.zh);
    $('no-slots').textContent = why ? t('bookClosedWhy', { reason: why }) : t('bookNoSlots');
    $('book-msg').textContent = view.bookMsg ? t(view.bookMsg.key, view.bookMsg.vars) : '';
    $('stop-moving').hidden = !view.moving;
    once('hours', JSON.stringify([lang, c && c.week]), (hours) => {
      hours.textContent = '';
      for (const d of (c && c.week) || []) {
        const li = el('li');
        li.append(el('span', 'day', dayLabel(d.date)), ' ', el('span', 'open', d.open && d.open.length ? d.open.join(', ') : t('bookClosed')));
        hours.append(li);
      }
    });
    once('prices', JSON.stringify([lang, services]), (prices) => {
      prices.textContent = '';
      for (const s of services) {
        const li = el('li');
        li.append(el('span', 'svc', svcName(s)), ' ', el('span', 'price', price(s)), ' ', el('span', 'mins', t('minutes', { n: s.minutes })));
        prices.append(li);
      }
    });
    if (view.card && !$('me').contains(document.activeElement)) {
      $('me-name').value = view.card.name || '';
      $('me-phone').value = view.card.phone || '';
      $('me-consent').checked = !!view.card.consent;
    }
  }

  $('book-service').addEventListener('change', (e) => { view.bookService = e.target.value; say(null); loadSlots(); });
  $('book-profile').addEventListener('change', (e) => { view.bookProfile = e.target.value; });
  $('book-date').addEventListener('change', (e) => { view.bookDate = e.target.value; say(null); loadSlots(); });
  $('stop-moving').addEventListener('click', () => { view.moving = null; say(null); loadSlots(); });

  const kind = () => ($('pkind-baby').checked ? 'baby' : 'pet');
  for (const id of ['pkind-pet', 'pkind-baby']) {
    $(id).addEventListener('change', () => {
      $('pet-fields').hidden = kind() !== 'pet';
      $('baby-fields').hidden = kind() !== 'baby';
    });
  }
  $('profile-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const p = { kind: kind(), name: $('p-name').value.trim() };
    if (p.kind === 'pet') Object.assign(p, { species: $('p-species').value, size: $('p-size').value });
    else p.birth_date = $('p-birth').value;
    try {
      const a = await ctx.link().call('booking', 'profile_put', { profile: p });
      view.profiles = view.profiles.concat([a.profile]);
      view.bookProfile = a.profile.id;
      $('p-name').value = '';
      $('add-profile').open = false;
      say('profileAdded', { name: a.profile.name });
      render();
    } catch (err) {
      $('p-msg').textContent = t('profileFailed', { code: err.code || 'error', message: err.message || '' });
    }
  });

  $('me-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const a = await ctx.link().call('customer', 'me_put', {
        name: $('me-name').value.trim(), phone: $('me-phone').value.trim(), consent: $('me-consent').checked,
      });
      view.card = a.card;
      $('me-msg').textContent = t('meSaved');
    } catch (err) {
      $('me-msg').textContent = t('meFailed', { code: err.code || 'error' });
    }
  });

  $('forget').addEventListener('click', () => {
    confirm(t('forgetConfirm'), t('forgetYes'), async () => {
      try {
        await ctx.link().call('customer', 'forget', {});
        ctx.onForgotten();
      } catch (err) {
        $('me-msg').textContent = t('forgetFailed', { code: err.code || 'error' });
      }
    });
  });

  return { load, render, bookingActions, startMove };
}
