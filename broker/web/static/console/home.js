// Her logins at home, beside the chat (PROTOCOL.md, "At home"): a
// customer who lost her phone comes to the store; staff make her a new
// link to HQ's page at home (svc/home/link with replace: her other logins
// at home end when the new phone opens it) and show it as a QR code for
// her new phone to scan. "End her logins at home" (svc/home/revoke) signs
// every phone out at home. A store not linked to HQ says so.

export const HOME_STRINGS = {
  en: {
    homeSection: 'At home',
    homeRelink: 'New login at home (lost phone)',
    homeRevoke: 'End her logins at home',
    homeScan: 'Her new phone scans this code (or opens the link). Her other phones at home are signed out when it does. It works once, until {time}.',
    homeQR: 'QR code of her new link to the page at home',
    homeOpen: 'Link to the page at home',
    homeWorking: 'Asking HQ for a new link…',
    homeRevoked: 'Her phones at home are being signed out.',
    homeUnavailable: 'This store is not linked to HQ, so the page at home is not available.',
    homeFailed: 'Not done ({code}).',
  },
  zh: {
    homeSection: '在家聊',
    homeRelink: '为新手机生成在家聊登录（手机丢失）',
    homeRevoke: '退出她在家聊的所有登录',
    homeScan: '请用她的新手机扫描此二维码（或打开链接）。扫码后她其他手机上的在家聊登录会被退出。链接只能使用一次，有效期至 {time}。',
    homeQR: '她的在家聊新链接二维码',
    homeOpen: '在家聊页面链接',
    homeWorking: '正在获取新链接…',
    homeRevoked: '正在退出她在家聊的所有手机登录。',
    homeUnavailable: '本店未连接总部，在家聊不可用。',
    homeFailed: '未完成（{code}）。',
  },
};

// setupHome wires the section of the customer pane. ctx: link(), t, i18n,
// prefix (the store's customer id prefix), time(ts) (a time of day on the
// store's clock). show(customer) fills it for the
// customer beside the chat. State for tests: window.consoleHome.
export function setupHome(ctx) {
  const { t } = ctx;
  const $ = (id) => document.getElementById(id);
  const view = { customer: '', state: 'idle', url: '', qr: '', expires: '', code: '' };
  window.consoleHome = view;

  function render() {
    $('home-section').hidden = !view.customer;
    const ready = view.state === 'ready';
    $('home-link').hidden = !ready;
    $('home-qr').hidden = !ready;
    if (ready) {
      $('home-link').href = view.url;
      $('home-qr').src = view.qr;
      $('home-qr').alt = t('homeQR');
    }
    const key = { ready: 'homeScan', working: 'homeWorking', revoked: 'homeRevoked', unavailable: 'homeUnavailable', failed: 'homeFailed' }[view.state];
    $('home-msg').textContent = key ? t(key, { time: ctx.time(view.expires), code: view.code }) : '';
  }

  function show(customer) {
    const c = customer && customer.startsWith(ctx.prefix) ? customer : '';
    if (c !== view.customer) Object.assign(view, { customer: c, state: 'idle', url: '', qr: '', expires: '', code: '' });
    render();
  }

  async function run(call, done) {
    const link = ctx.link();
    const customer = view.customer;
    if (!link || !customer) return;
    Object.assign(view, { state: 'working', url: '', qr: '', expires: '', code: '' });
    render();
    try {
      const a = await call(link, customer);
      if (view.customer !== customer) return;
      done(a);
    } catch (e) {
      if (view.customer !== customer) return;
      view.code = e.code || 'error';
      view.state = e.code === 'unavailable' ? 'unavailable' : 'failed';
    }
    render();
  }

  $('home-relink').addEventListener('click', () => run((link, customer) => link.call('home', 'link', { customer, replace: true }), (a) => {
    Object.assign(view, { state: 'ready', url: a.url, qr: 'data:image/png;base64,' + a.qr_png, expires: a.expires });
  }));
  $('home-revoke').addEventListener('click', () => run((link, customer) => link.call('home', 'revoke', { customer }), () => { view.state = 'revoked'; }));
  ctx.i18n.onChange(render);
  render();
  return { show };
}
