// Customers in the console: names instead of ids wherever a customer
// appears (conversation list, chat header, messages, the board), and her
// card beside the chat (svc/customer: card_get, card_put with its rev,
// revoke, merge). A customer without a name shows as "Customer ·" and the
// last characters of her id; one who asked to be forgotten as "(forgotten)".

export const CUSTOMER_STRINGS = {
  en: {
    unnamed: 'Customer · {tail}',
    cardTitle: 'Card',
    cardName: 'Name or nickname',
    cardPhone: 'Phone',
    cardTags: 'Tags (comma separated)',
    cardNotes: 'Notes (staff only)',
    cardConsent: 'Agreed to receive messages',
    cardSave: 'Save card',
    cardSaved: 'Saved.',
    cardStale: 'Someone else changed this card meanwhile; it has been read again. Check it and save again.',
    cardFailed: 'Not saved ({code}).',
    cardForgotten: 'This customer asked the store to forget her.',
    cardRevoke: 'Sign her phones out',
    cardRevoked: 'Signed out ({n}). She scans a code to chat again.',
    cardMergeInto: 'Same person as (customer id)',
    cardMerge: 'Merge into that customer',
    cardMerged: 'Merged: this id is now {into}.',
    cardAliases: 'Also: {ids}',
  },
  zh: {
    unnamed: '顾客 · {tail}',
    cardTitle: '顾客资料',
    cardName: '姓名或昵称',
    cardPhone: '手机号',
    cardTags: '标签（用逗号分隔）',
    cardNotes: '备注（仅店员可见）',
    cardConsent: '同意接收消息',
    cardSave: '保存资料',
    cardSaved: '已保存。',
    cardStale: '其他店员刚修改了这份资料，已重新读取。请确认后再保存。',
    cardFailed: '保存未成功（{code}）。',
    cardForgotten: '该顾客已要求门店删除其资料。',
    cardRevoke: '退出她的手机登录',
    cardRevoked: '已退出（{n}）。她需重新扫码才能聊天。',
    cardMergeInto: '与此顾客为同一人（顾客编号）',
    cardMerge: '合并到该顾客',
    cardMerged: '已合并：此编号现为 {into}。',
    cardAliases: '其他编号：{ids}',
  },
};

// setupCustomers returns label(id) for ids on screen and load(customer)
// for the card pane. ctx: link() (the StoreLink), t, onNames() (redraw
// what shows names), prefix (the customer id prefix).
export function setupCustomers(ctx) {
  const { t } = ctx;
  const $ = (id) => document.getElementById(id);
  const names = new Map(); // id -> name ("" = none)
  const wanted = new Set();
  let timer = null;
  let card = null; // the card on screen
  const view = { names: {}, card: null };
  window.consoleCustomers = view;

  function label(id) {
    if (!id || !id.startsWith(ctx.prefix)) return id || '';
    if (!names.has(id)) ask(id);
    const n = names.get(id);
    return n || t('unnamed', { tail: id.slice(-4) });
  }

  function ask(id) {
    if (wanted.has(id)) return;
    wanted.add(id);
    clearTimeout(timer);
    timer = setTimeout(fetchNames, 30); // one call for a screenful
  }

  async function fetchNames() {
    const link = ctx.link();
    const ids = [...wanted].slice(0, 200);
    if (!link || !ids.length) { wanted.clear(); return; }
    try {
      const a = await link.call('customer', 'names', { customers: ids });
      for (const id of ids) {
        names.set(id, (a.names && a.names[id]) || '');
        wanted.delete(id);
      }
      view.names = Object.fromEntries(names);
      ctx.onNames();
    } catch (e) {
      // Not answered (an older store, no link): shown without a name until
      // the card is opened or saved.
      for (const id of ids) { names.set(id, ''); wanted.delete(id); }
      ctx.onNames();
    }
    if (wanted.size) fetchNames();
  }

  function fill() {
    const has = !!card;
    $('card-form').hidden = !has || card.forgotten;
    $('card-forgotten').hidden = !has || !card.forgotten;
    if (!has) return;
    $('card-name').value = card.name || '';
    $('card-phone').value = card.phone || '';
    $('card-tags').value = (card.tags || []).join(', ');
    $('card-notes').value = card.notes || '';
    $('card-consent').checked = !!card.consent;
    $('card-aliases').textContent = card.aliases && card.aliases.length ? t('cardAliases', { ids: card.aliases.join(', ') }) : '';
  }

  async function load(customer) {
    card = null;
    view.card = null;
    $('card-msg').textContent = '';
    fill();
    if (!customer || !customer.startsWith(ctx.prefix)) return;
    try {
      const a = await ctx.link().call('customer', 'card_get', { customer });
      card = a.card;
      view.card = card;
      fill();
    } catch (e) {
      $('card-msg').textContent = t('cardFailed', { code: e.code || 'error' });
    }
  }

  function changed(c) {
    card = c;
    view.card = c;
    names.set(c.customer, c.forgotten ? '(forgotten)' : (c.name || ''));
    fill();
    ctx.onNames();
  }

  $('card-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!card) return;
    const body = {
      customer: card.customer, rev: card.rev, name: $('card-name').value.trim(), phone: $('card-phone').value.trim(),
      notes: $('card-notes').value, tags: $('card-tags').value.split(/[,，]/).map((x) => x.trim()).filter(Boolean),
      consent: $('card-consent').checked,
    };
    try {
      const a = await ctx.link().call('customer', 'card_put', body);
      changed(a.card);
      $('card-msg').textContent = t('cardSaved');
    } catch (err) {
      if (err.code === 'conflict' && err.reason === 'stale_rev') {
        await load(card.customer);
        $('card-msg').textContent = t('cardStale');
        return;
      }
      $('card-msg').textContent = t('cardFailed', { code: err.code || 'error' });
    }
  });

  $('card-revoke').addEventListener('click', async () => {
    if (!card) return;
    try {
      const a = await ctx.link().call('customer', 'revoke', { customer: card.customer });
      $('card-msg').textContent = t('cardRevoked', { n: a.ended });
    } catch (err) {
      $('card-msg').textContent = t('cardFailed', { code: err.code || 'error' });
    }
  });

  $('card-merge').addEventListener('click', async () => {
    const into = $('card-merge-into').value.trim();
    if (!card || !into) return;
    try {
      const a = await ctx.link().call('customer', 'merge', { from: card.customer, into });
      names.delete(card.customer);
      changed(a.card);
      $('card-msg').textContent = t('cardMerged', { into: label(into) });
    } catch (err) {
      $('card-msg').textContent = t('cardFailed', { code: err.code || 'error' });
    }
  });

  return { label, load };
}
