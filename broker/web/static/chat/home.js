// "Continue at home": the customer asks the store for a one-time link to
// HQ's page at home (svc/home/link, PROTOCOL.md "At home"). The store
// vouches for her to HQ; the link (an anchor this phone opens, and a QR
// code another phone scans) logs that phone in at home as her, with this
// conversation and its history. It expires after home.link_ttl. A store
// without a link to HQ answers unavailable: the button then goes, and the
// dialog says why.

export const HOME_STRINGS = {
  en: {
    homeButton: 'Continue at home',
    homeTitle: 'Continue at home',
    homeIntro: 'Open this link on the phone you will use at home, or scan the code with it. You keep this conversation and its history.',
    homeOpen: 'Open the page at home',
    homeQR: 'QR code of the link to the page at home',
    homeExpires: 'The link works once, until {time}.',
    homeWorking: 'Asking the store for your link…',
    homeUnavailable: 'This store is not linked to HQ yet, so the page at home is not available. You can keep chatting here.',
    homeFailed: 'The link could not be made ({code}). Please try again.',
    homeClose: 'Close',
  },
  zh: {
    homeButton: '继续在家聊',
    homeTitle: '继续在家聊',
    homeIntro: '请在家里要用的手机上打开此链接，或用它扫描二维码。这段对话和聊天记录都会保留。',
    homeOpen: '打开在家聊页面',
    homeQR: '在家聊页面链接的二维码',
    homeExpires: '链接只能使用一次，有效期至 {time}。',
    homeWorking: '正在向门店获取链接…',
    homeUnavailable: '本店尚未连接总部，暂时无法使用在家聊。您可以继续在这里聊天。',
    homeFailed: '链接生成失败（{code}），请重试。',
    homeClose: '关闭',
  },
};

// setupHome wires the button and the dialog. ctx: link() (the StoreLink),
// t, i18n, fmtTime(ts) (the store's time of day). State for tests:
// window.chatHome.
export function setupHome(ctx) {
  const { t } = ctx;
  const $ = (id) => document.getElementById(id);
  const view = { state: 'idle', url: '', expires: '', code: '' };
  window.chatHome = view;

  function render() {
    const a = $('home-link');
    const img = $('home-qr');
    const ready = view.state === 'ready';
    a.hidden = !ready;
    img.hidden = !ready;
    $('home-intro').hidden = !ready;
    if (ready) {
      a.href = view.url;
      img.src = view.qr;
      img.alt = t('homeQR');
    }
    const msg = { working: 'homeWorking', unavailable: 'homeUnavailable', failed: 'homeFailed' }[view.state];
    $('home-msg').textContent = msg ? t(msg, { code: view.code }) : '';
    $('home-expires').textContent = ready ? t('homeExpires', { time: ctx.fmtTime(view.expires) }) : '';
    $('home').hidden = view.state === 'unavailable';
  }

  async function ask() {
    const link = ctx.link();
    if (!link) return;
    Object.assign(view, { state: 'working', url: '', qr: '', expires: '', code: '' });
    render();
    if (!$('home-dialog').open) $('home-dialog').showModal();
    try {
      const a = await link.call('home', 'link', {});
      Object.assign(view, { state: 'ready', url: a.url, qr: 'data:image/png;base64,' + a.qr_png, expires: a.expires });
    } catch (e) {
      view.code = e.code || 'error';
      view.state = e.code === 'unavailable' ? 'unavailable' : 'failed';
    }
    render();
  }

  $('home').addEventListener('click', ask);
  $('home-close').addEventListener('click', () => $('home-dialog').close());
  ctx.i18n.onChange(render);
  render();
  return { view };
}
