// The console's "Team & devices" tab, for admins only: staff accounts (add,
// reset the password, disable, enable) and devices (add one and show its
// pairing QR code and code; rename, move to another room, new credentials,
// revoke), with the ops of PROTOCOL.md "Accounts" (svc/accounts/…). The
// server decides: the tab shows once svc/accounts/staff_list answers, and
// every form is validated there (its error codes are shown).
//
// console.js calls initTeam once; the tab follows the page's sign-in state
// (body[data-state]) and the tabs' clicks by itself.

const STRINGS = {
  en: {
    tab: 'Team & devices',
    staff: 'Staff',
    devices: 'Devices',
    addStaff: 'Add a staff member',
    account: 'Login name',
    name: 'Name',
    role: 'Role',
    kind: 'Kind',
    room: 'Room it films',
    roomShort: 'Room',
    password: 'Password',
    add: 'Add',
    addDevice: 'Add a device',
    pairingCode: 'Pairing code',
    codeExpires: 'Enter it on the device, or scan the QR code, before {time}. It works once.',
    state: 'State',
    lastSeen: 'Last seen',
    address: 'Address',
    app: 'App',
    actions: 'Actions',
    online: 'Online',
    offline: 'Offline',
    pending: 'Waiting to enrol',
    revoked: 'Revoked',
    disabled: 'Disabled',
    active: 'Active',
    reset: 'Reset password',
    disable: 'Disable',
    enable: 'Enable',
    rename: 'Rename',
    move: 'Move',
    rotate: 'New code',
    revoke: 'Revoke',
    save: 'Save',
    cancel: 'Cancel',
    newPassword: 'New password',
    confirmRevoke: 'Revoke {name}? It is disconnected at once and cannot log in again.',
    added: '{name} added.',
    enrolled: '{name} has enrolled: its pairing code is used up.',
    saved: 'Saved.',
    never: 'never',
    fromFile: 'from devices.yaml',
    err_bad_request: 'Not accepted: {msg}',
    err_not_found: 'No such account (it may have been revoked).',
    err_conflict: 'That login name is taken.',
    err_forbidden: 'Only an admin may do this.',
    err_quota_exceeded: 'The store is out of room; try again later.',
    err_unavailable: 'The store could not do it now; try again.',
    err_other: 'Something went wrong ({code}).',
  },
  zh: {
    tab: '团队与设备',
    staff: '员工',
    devices: '设备',
    addStaff: '添加员工',
    account: '登录名',
    name: '名称',
    role: '角色',
    kind: '类型',
    room: '拍摄的房间',
    roomShort: '房间',
    password: '密码',
    add: '添加',
    addDevice: '添加设备',
    pairingCode: '配对码',
    codeExpires: '请在 {time} 前在设备上输入或扫描二维码。仅可使用一次。',
    state: '状态',
    lastSeen: '最近在线',
    address: '地址',
    app: '应用版本',
    actions: '操作',
    online: '在线',
    offline: '离线',
    pending: '等待配对',
    revoked: '已吊销',
    disabled: '已停用',
    active: '正常',
    reset: '重置密码',
    disable: '停用',
    enable: '启用',
    rename: '改名',
    move: '换房间',
    rotate: '新配对码',
    revoke: '吊销',
    save: '保存',
    cancel: '取消',
    newPassword: '新密码',
    confirmRevoke: '确定吊销 {name}？它会立即断开，且无法再登录。',
    added: '已添加 {name}。',
    enrolled: '{name} 已完成配对，配对码已用完。',
    saved: '已保存。',
    never: '从未',
    fromFile: '来自 devices.yaml',
    err_bad_request: '未被接受：{msg}',
    err_not_found: '没有这个账号（可能已被吊销）。',
    err_conflict: '该登录名已被使用。',
    err_forbidden: '只有管理员可以这样做。',
    err_quota_exceeded: '门店存储已满，请稍后再试。',
    err_unavailable: '门店暂时无法处理，请重试。',
    err_other: '出错了（{code}）。',
  },
};

const REFRESH_EVERY = 2000; // the lists while the tab is open: online, last seen

export function initTeam({ i18n, link }) {
  const $ = (id) => document.getElementById(id);
  const t = (k, v) => {
    const s = (STRINGS[i18n.lang] && STRINGS[i18n.lang][k]) ?? STRINGS.en[k] ?? k;
    return String(s).replace(/\{(\w+)\}/g, (m, x) => (v && v[x] != null ? String(v[x]) : m));
  };
  const state = { admin: false, staff: [], devices: [], edit: null, zone: '', timer: null, pairing: null };
  window.teamView = state; // for tests, as window.consoleView

  function h(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else if (v !== false && v != null) n.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids.flat()) if (c != null) n.append(c instanceof Node ? c : String(c));
    return n;
  }

  function errText(e) {
    const code = (e && e.code) || 'other';
    if (code === 'bad_request') return t('err_bad_request', { msg: (e.message || '').replace(/^accounts: bad input: /, '') });
    return STRINGS.en['err_' + code] ? t('err_' + code) : t('err_other', { code });
  }

  function when(ts) {
    if (!ts) return t('never');
    try {
      return new Intl.DateTimeFormat(i18n.lang === 'zh' ? 'zh-CN' : 'en-GB',
        { timeZone: state.zone || undefined, dateStyle: 'short', timeStyle: 'short' }).format(new Date(ts));
    } catch (e) { return ts; }
  }

  function stateOf(a) {
    if (a.revoked) return ['revoked', t('revoked')];
    if (a.disabled) return ['disabled', t('disabled')];
    if (a.pending) return ['pending', t('pending')];
    return a.online ? ['online', t('online')] : ['offline', t('offline')];
  }

  // The console's link; every call below names its op, so the pages' wire
  // check (broker/web jswire_test.go) reads them.
  function L() {
    const l = link();
    if (!l) throw Object.assign(new Error('offline'), { code: 'unavailable' });
    return l;
  }

  // refresh reads both lists again; force redraws even under an editor
  // being typed in (after that editor's change is saved).
  async function refresh(force) {
    try {
      const [s, d] = await Promise.all([L().call('accounts', 'staff_list', {}), L().call('accounts', 'device_list', {})]);
      state.staff = s.accounts || [];
      state.devices = d.accounts || [];
      state.known = true;
      if (!state.admin) {
        state.admin = true;
        $('tab-team').hidden = false;
      }
    } catch (e) {
      if (e && e.code === 'forbidden') {
        state.known = true;
        state.admin = false;
        $('tab-team').hidden = true;
        $('team-view').hidden = true;
      }
      return;
    }
    pairingDone();
    render(force);
  }

  // pairingDone takes the pairing code off the page once its device has
  // enrolled (or was revoked): a used code must not stay on screen.
  function pairingDone() {
    const p = state.pairing;
    if (!p) return;
    const d = state.devices.find((x) => x.account === p.device.account);
    if (d && d.pending) return;
    state.pairing = null;
    $('td-pairing').hidden = true;
    const msg = $('td-msg');
    msg.className = 'ok';
    msg.textContent = d && !d.revoked ? t('enrolled', { name: d.name || d.account }) : '';
  }

  // The store's zone, for "last seen".
  async function loadZone() {
    try {
      const c = await link().call('booking', 'services', {});
      state.zone = c.time_zone || '';
    } catch (e) { /* the browser's zone */ }
  }

  function rowMsg(id) { return h('p', { id: 'team-msg-' + id, class: 'small', role: 'status' }); }

  // act runs one change (send() makes the call) and says how it went in
  // the account's row.
  async function act(id, send) {
    const msg = $('team-msg-' + id);
    try {
      const a = await send();
      if (msg) { msg.className = 'ok small'; msg.textContent = t('saved'); }
      state.edit = null;
      await refresh(true);
      return a;
    } catch (e) {
      if (msg) { msg.className = 'error small'; msg.textContent = errText(e); }
      return null;
    }
  }

  function editor(a, field, send, type) {
    const inp = h('input', { id: 'team-edit-' + a.account, type: type || 'text', 'aria-label': t(field === 'password' ? 'newPassword' : field === 'room' ? 'roomShort' : field),
      autocomplete: type === 'password' ? 'new-password' : 'off' });
    if (field === 'name') inp.value = a.name || '';
    if (field === 'room') inp.value = a.room || '';
    const save = h('button', { class: 'primary small-btn', type: 'submit' }, t('save'));
    const cancel = h('button', { class: 'secondary small-btn', type: 'button', onclick: () => { state.edit = null; render(true); } }, t('cancel'));
    const f = h('form', { class: 'inline-edit', novalidate: true, onsubmit: (e) => { e.preventDefault(); act(a.account, () => send(inp.value)); } }, inp, save, cancel);
    setTimeout(() => inp.focus(), 0);
    return f;
  }

  function staffRow(a) {
    const [cls, label] = stateOf(a);
    const editing = state.edit && state.edit.id === a.account ? state.edit.field : '';
    const actions = editing === 'password'
      ? editor(a, 'password', (v) => L().call('accounts', 'staff_reset_password', { account: a.account, password: v }), 'password')
      : [
        h('button', { class: 'secondary small-btn', type: 'button', 'data-act': 'reset', onclick: () => { state.edit = { id: a.account, field: 'password' }; render(); } }, t('reset')),
        a.disabled
          ? h('button', { class: 'secondary small-btn', type: 'button', 'data-act': 'enable', onclick: () => act(a.account, () => L().call('accounts', 'staff_enable', { account: a.account })) }, t('enable'))
          : h('button', { class: 'danger-outline small-btn', type: 'button', 'data-act': 'disable', onclick: () => act(a.account, () => L().call('accounts', 'staff_disable', { account: a.account })) }, t('disable')),
      ];
    return h('tr', { 'data-account': a.account },
      h('td', {}, h('strong', {}, a.name || a.account), h('div', { class: 'small muted' }, a.account)),
      h('td', {}, a.role),
      h('td', {}, h('span', { class: 'state-' + cls }, label)),
      h('td', {}, when(a.last_seen)),
      h('td', {}, actions, rowMsg(a.account)));
  }

  function deviceRow(a) {
    const [cls, label] = stateOf(a);
    const editing = state.edit && state.edit.id === a.account ? state.edit.field : '';
    let actions;
    if (editing === 'name') actions = editor(a, 'name', (v) => L().call('accounts', 'device_update', { account: a.account, name: v }));
    else if (editing === 'room') actions = editor(a, 'room', (v) => L().call('accounts', 'device_update', { account: a.account, room: v }));
    else if (editing === 'revoke') {
      actions = [
        h('p', { class: 'small' }, t('confirmRevoke', { name: a.name || a.account })),
        h('button', { class: 'danger small-btn', type: 'button', 'data-act': 'revoke-confirm', onclick: () => act(a.account, () => L().call('accounts', 'device_revoke', { account: a.account })) }, t('revoke')),
        h('button', { class: 'secondary small-btn', type: 'button', onclick: () => { state.edit = null; render(); } }, t('cancel')),
      ];
    } else if (a.revoked) actions = [];
    else {
      actions = [
        h('button', { class: 'secondary small-btn', type: 'button', 'data-act': 'rename', onclick: () => { state.edit = { id: a.account, field: 'name' }; render(); } }, t('rename')),
        a.role === 'camera' ? h('button', { class: 'secondary small-btn', type: 'button', 'data-act': 'move', onclick: () => { state.edit = { id: a.account, field: 'room' }; render(); } }, t('move')) : null,
        h('button', { class: 'secondary small-btn', type: 'button', 'data-act': 'rotate', onclick: async () => { const p = await act(a.account, () => L().call('accounts', 'device_rotate', { account: a.account })); if (p) showPairing(p); } }, t('rotate')),
        h('button', { class: 'danger-outline small-btn', type: 'button', 'data-act': 'revoke', onclick: () => { state.edit = { id: a.account, field: 'revoke' }; render(); } }, t('revoke')),
      ];
    }
    return h('tr', { 'data-account': a.account, 'data-state': cls },
      h('td', {}, h('strong', {}, a.name || a.account), h('div', { class: 'small muted' }, a.account, a.from_file ? ' · ' + t('fromFile') : '')),
      h('td', {}, a.role, a.room ? h('div', { class: 'small muted' }, a.room) : null),
      h('td', {}, h('span', { class: 'state-' + cls }, label)),
      h('td', {}, when(a.last_seen)),
      h('td', {}, a.address || ''),
      h('td', {}, a.app_version || ''),
      h('td', {}, actions, rowMsg(a.account)));
  }

  function head(...cols) { return h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, t(c))))); }

  function render(force) {
    if (!state.admin) return;
    // An editor being typed in is not redrawn under the user's fingers.
    const typing = !force && document.activeElement && document.activeElement.id && document.activeElement.id.startsWith('team-edit-');
    if (!typing) {
      $('team-staff').replaceChildren(head('name', 'role', 'state', 'lastSeen', 'actions'), h('tbody', {}, state.staff.map(staffRow)));
      $('team-devices').replaceChildren(head('name', 'kind', 'state', 'lastSeen', 'address', 'app', 'actions'), h('tbody', {}, state.devices.map(deviceRow)));
    }
    renderStatic();
  }

  function renderStatic() {
    $('tab-team').textContent = t('tab');
    $('team-title').textContent = t('tab');
    $('team-staff-title').textContent = t('staff');
    $('team-dev-title').textContent = t('devices');
    $('team-staff-add-title').textContent = t('addStaff');
    $('ts-account-l').textContent = t('account');
    $('ts-name-l').textContent = t('name');
    $('ts-role-l').textContent = t('role');
    $('ts-pass-l').textContent = t('password');
    $('ts-submit').textContent = t('add');
    $('team-dev-add-title').textContent = t('addDevice');
    $('td-role-l').textContent = t('kind');
    $('td-name-l').textContent = t('name');
    $('td-room-l').textContent = t('room');
    $('td-submit').textContent = t('addDevice');
    $('td-code-l').textContent = t('pairingCode');
    $('td-room').closest('.field').hidden = $('td-role').value !== 'camera';
    if (state.pairing) $('td-expires').textContent = t('codeExpires', { time: when(state.pairing.expires) });
  }

  function showPairing(p) {
    state.pairing = p;
    $('td-pairing').hidden = false;
    $('td-qr').src = 'data:image/png;base64,' + p.qr_png;
    $('td-qr').alt = t('pairingCode') + ' ' + p.code;
    $('td-code').textContent = p.code;
    renderStatic();
    // The code is what the admin came for: bring it on screen once the
    // QR code has its size.
    const show = () => $('td-pairing').scrollIntoView({ block: 'center' });
    $('td-qr').decode().then(show, show);
  }

  $('td-role').addEventListener('change', renderStatic);

  $('team-staff-add').addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { account: $('ts-account').value.trim(), name: $('ts-name').value.trim(), role: $('ts-role').value, password: $('ts-pass').value };
    const msg = $('ts-msg');
    try {
      await L().call('accounts', 'staff_add', body);
      msg.className = 'ok';
      msg.textContent = t('added', { name: body.name || body.account });
      for (const id of ['ts-account', 'ts-name', 'ts-pass']) $(id).value = '';
      await refresh();
    } catch (err) {
      msg.className = 'error';
      msg.textContent = errText(err);
    }
    $('ts-pass').value = ''; // never kept in the page
  });

  $('team-dev-add').addEventListener('submit', async (e) => {
    e.preventDefault();
    const role = $('td-role').value;
    const body = { role: role, name: $('td-name').value.trim() };
    if (role === 'camera') body.room = $('td-room').value.trim();
    const msg = $('td-msg');
    try {
      const p = await L().call('accounts', 'device_add', body);
      msg.className = 'ok';
      msg.textContent = t('added', { name: body.name });
      $('td-name').value = '';
      $('td-room').value = '';
      await refresh(); // the new row first, so the code stays where it is scrolled to
      showPairing(p);
    } catch (err) {
      msg.className = 'error';
      msg.textContent = errText(err);
    }
  });

  function show(on) {
    $('team-view').hidden = !on;
    clearInterval(state.timer);
    state.timer = null;
    if (on) {
      refresh();
      state.timer = setInterval(refresh, REFRESH_EVERY);
    }
  }

  for (const b of document.querySelectorAll('.tab')) {
    b.addEventListener('click', () => show(b.dataset.view === 'team' && state.admin));
  }

  // Sign-in and sign-out: the tab is for admins of this sign-in only.
  new MutationObserver(() => {
    const ready = document.body.dataset.state === 'ready';
    if (ready && !state.checked) {
      state.checked = true;
      loadZone();
      refresh();
    } else if (!ready) {
      Object.assign(state, { admin: false, checked: false, known: false, staff: [], devices: [], edit: null, pairing: null });
      $('tab-team').hidden = true;
      $('td-pairing').hidden = true;
      show(false);
    }
  }).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });

  i18n.onChange(() => render());
  renderStatic();
}
