// The customer's side of the consultants' desk (PROTOCOL.md, "Chat"): who
// is answering her ("Lin is answering", from the conversation's agent and
// its agent events, changing when a colleague takes over), and "… is
// typing" both ways on chat/{conversation}/typing — sent at most every few
// seconds while she types, false when she stops or sends.
//
// chat.js calls onOpen with the open answer, onEvent with each chat event,
// resync after a reconnect and render with every redraw. State for tests:
// window.chatView.agent and window.chatView.typing.

export const DESK_STRINGS = {
  en: {
    answering: '{who} is answering',
    isTyping: '{who} is typing…',
    storeTyping: 'The store is typing…',
  },
  zh: {
    answering: '{who} 正在为你服务',
    isTyping: '{who} 正在输入…',
    storeTyping: '店员正在输入…',
  },
};

// "true" at most every SEND_EVERY while typing; "false" IDLE after the last
// key or when sent; a "true" not renewed within SHOWN is dropped.
const SEND_EVERY = 3000;
const IDLE = 5000;
const SHOWN = 8000;

export function setupDesk({ link, view, t }) {
  const $ = (id) => document.getElementById(id);
  view.agent = null; // {id, name}
  view.typing = []; // names
  const typing = new Map(); // member -> shown until (ms)
  let sent = 0;
  let idle = null;

  function publish(on) {
    const l = link();
    if (!l || !view.conversation || l.status !== 'online') return;
    l.publish('chat/' + view.conversation + '/typing', { v: 1, typing: on }, { qos: 0 });
  }

  function stop() {
    clearTimeout(idle);
    idle = null;
    if (sent) { publish(false); sent = 0; }
  }

  $('text').addEventListener('input', () => {
    if (view.state !== 'ready') return;
    if (!$('text').value.trim()) { stop(); return; }
    const now = Date.now();
    if (now - sent >= SEND_EVERY) { publish(true); sent = now; }
    clearTimeout(idle);
    idle = setTimeout(stop, IDLE);
  });
  $('composer').addEventListener('submit', () => stop());

  function onTyping(topic, msg) {
    if (!msg || typeof msg !== 'object' || !msg.from || msg.from === view.customer) return;
    if (msg.typing) {
      typing.set(msg.from, Date.now() + SHOWN);
      setTimeout(render, SHOWN + 50);
    } else {
      typing.delete(msg.from);
    }
    render();
  }

  function setAgent(id, name) {
    view.agent = id ? { id, name: name || '' } : null;
    render();
  }

  function render() {
    const a = view.agent;
    const line = $('agent');
    line.hidden = !(a && a.name);
    line.textContent = a && a.name ? t('answering', { who: a.name }) : '';
    const now = Date.now();
    const who = [];
    for (const [from, until] of typing) {
      if (until <= now) { typing.delete(from); continue; }
      who.push(a && a.id === from && a.name ? t('isTyping', { who: a.name }) : t('storeTyping'));
    }
    view.typing = who;
    $('typing').textContent = who.length ? [...new Set(who)].join(' ') : '';
  }

  return {
    async onOpen(conv) {
      setAgent(conv.agent, conv.agent_name);
      try {
        await link().subscribe('chat/' + view.conversation + '/typing', onTyping);
      } catch (e) { /* an older store without typing: the chat works without it */ }
    },
    onEvent(ev) {
      if (ev.type === 'agent') setAgent(ev.member, ev.name);
      else if (ev.type === 'message' && typing.delete(ev.from)) render();
    },
    // resync asks again who is answering: agent events sent while the
    // phone was offline are not kept for it.
    async resync() {
      try {
        const conv = await link().call('chat', 'open', {});
        setAgent(conv.agent, conv.agent_name);
      } catch (e) { /* the next reconnect tries again */ }
    },
    render,
  };
}
