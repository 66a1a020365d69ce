// The rating card on the customer's chat page (svc/chat/rate, PROTOCOL.md
// "Close, rate and reports"). When staff close her conversation a system
// message with a "closed" card arrives; the page draws it as a card with
// five stars and a comment box. She rates each closing once: once her
// "rated" message is in the history the card says thank you instead. She
// can keep writing meanwhile (her message reopens the conversation) and
// still rate the earlier closing.

export const RATE_STRINGS = {
  en: {
    rateTitle: 'The chat was closed. How did we do?',
    rateStar: '{n} of 5 stars',
    rateComment: 'Anything to add? (optional)',
    rateSend: 'Send rating',
    ratePick: 'Tap the stars to rate.',
    rateFailed: 'Could not send the rating ({code}). Try again.',
    rateTooLong: 'The comment is too long.',
    rateThanks: 'Thank you! You rated this chat {stars}.',
    rateYours: 'Your rating: {stars}',
    closedNote: 'The store closed the chat. Write again any time.',
  },
  zh: {
    rateTitle: '本次咨询已结束，请为我们的服务评分',
    rateStar: '{n} 星（满分 5 星）',
    rateComment: '还有什么想说的？（选填）',
    rateSend: '提交评分',
    ratePick: '请点击星星评分。',
    rateFailed: '评分未能发送（{code}），请重试。',
    rateTooLong: '评论太长了。',
    rateThanks: '谢谢！您为本次咨询打了 {stars}。',
    rateYours: '您的评分：{stars}',
    closedNote: '门店已结束本次咨询，您随时可以再发消息。',
  },
};

const STAR = '★', EMPTY = '☆';
const starsText = (n) => STAR.repeat(n) + EMPTY.repeat(5 - n);

// setupRating returns the renderers of closed and rated cards. c: { t, el,
// newId, link(), conversation(), messages(), refresh() }. The comment's
// limit (chat.max_rating_comment) is the store's: a longer one is refused
// with too_large and the card says so.
export function setupRating(c) {
  const { t, el } = c;
  const drafts = new Map(); // closing -> {stars, comment, id, sending, error}

  function ratedOf(closing) {
    return c.messages().find((m) => m.kind === 'system' && m.card && m.card.type === 'rated' && m.card.closing === closing);
  }

  // sig changes when the card must be drawn again.
  function sig(m) {
    if (!m.card || m.card.type !== 'closed') return '';
    const r = ratedOf(m.card.closing);
    return r ? 'rated' + r.card.stars : 'open';
  }

  function renderClosed(m, box) {
    const closing = m.card.closing;
    const card = el('div', 'card card-rate');
    card.id = 'rate-' + closing;
    box.append(card);
    const rated = ratedOf(closing);
    if (rated) {
      card.append(el('p', 'card-title', t('closedNote')));
      card.append(el('p', 'card-text rate-done', t('rateThanks', { stars: starsText(rated.card.stars) })));
      return;
    }
    const d = drafts.get(closing) || { stars: 0, comment: '', id: '', sending: false, error: '' };
    drafts.set(closing, d);
    card.append(el('p', 'card-title', t('rateTitle')));
    const row = el('div', 'rate-stars');
    row.setAttribute('role', 'group');
    row.setAttribute('aria-label', t('rateTitle'));
    const buttons = [];
    const paint = () => buttons.forEach((b, i) => {
      b.textContent = i < d.stars ? STAR : EMPTY;
      b.setAttribute('aria-pressed', String(i + 1 === d.stars));
    });
    for (let i = 1; i <= 5; i++) {
      const b = el('button', 'star', EMPTY);
      b.type = 'button';
      b.dataset.stars = String(i);
      b.setAttribute('aria-label', t('rateStar', { n: i }));
      b.addEventListener('click', () => { d.stars = i; d.error = ''; err.textContent = ''; paint(); });
      buttons.push(b);
      row.append(b);
    }
    paint();
    card.append(row);
    const label = el('label', 'rate-label', t('rateComment'));
    const area = el('textarea', 'rate-comment');
    area.id = 'rate-comment-' + closing;
    label.htmlFor = area.id;
    area.rows = 2;
    area.value = d.comment;
    area.addEventListener('input', () => { d.comment = area.value; });
    card.append(label, area);
    const send = el('button', 'primary rate-send', t('rateSend'));
    send.type = 'button';
    send.disabled = d.sending;
    const err = el('p', 'error rate-error', d.error);
    err.setAttribute('role', 'alert');
    send.addEventListener('click', async () => {
      const link = c.link();
      if (!link || d.sending) return;
      if (!d.stars) { err.textContent = t('ratePick'); return; }
      const body = { conversation: c.conversation(), closing, stars: d.stars };
      const comment = d.comment.trim();
      if (comment) body.comment = comment;
      // The same rating again after a failure is the same request.
      const key = JSON.stringify(body);
      if (!d.id || d.key !== key) { d.id = c.newId(); d.key = key; }
      d.sending = true;
      send.disabled = true;
      try {
        await link.call('chat', 'rate', body, { id: d.id });
        d.error = '';
        c.refresh();
      } catch (e) {
        const code = (e && e.code) || 'error';
        if (code === 'conflict') { c.refresh(); return; } // rated already, from another phone
        d.error = code === 'too_large' ? t('rateTooLong') : t('rateFailed', { code });
        err.textContent = d.error;
      } finally {
        d.sending = false;
        send.disabled = false;
      }
    });
    card.append(send, err);
  }

  function renderRated(m, box) {
    box.append(el('p', 'text', t('rateYours', { stars: starsText(m.card.stars) })));
    if (m.card.comment) box.append(el('p', 'text rate-your-comment', '“' + m.card.comment + '”'));
  }

  return { sig, renderClosed, renderRated };
}
