// watch.js: the live view of her pet's grooming, from home. Her bookings
// checked in now each get a "Watch" button; the video comes over WebRTC
// through HQ's TURN server only (iceTransportPolicy "relay": the store's
// addresses are never reached from home), signalled through HQ with one
// complete offer and one complete answer (PROTOCOL.md, "Live view at home").
//
// window.watchView tells tests and curious people what the view is doing:
// {state, error, booking, session, framesDecoded, width, height,
//  candidateType, tClick, tAnswer, tFirstFrame}.
import { api, addStrings, t, el, fmtTime, newId, onReady, lang } from '/home/lib.js';

addStrings({
  en: {
    'watch.title': 'Live view',
    'watch.intro': 'Watch your pet being groomed while the visit lasts.',
    'watch.none': 'Nothing to watch now: the live view opens once your pet is checked in at the store.',
    'watch.offline': 'The store is offline now. The live view comes back when it is online.',
    'watch.button': 'Watch',
    'watch.stop': 'Stop',
    'watch.since': 'Checked in, from {time}',
    'watch.starting': 'Connecting to the store…',
    'watch.live': 'Live',
    'watch.ended': 'The live view has ended.',
    'watch.err.unavailable': 'The store is not reachable now. Try again in a moment.',
    'watch.err.forbidden': 'This live view is not yours to watch right now.',
    'watch.err.not_found': 'Your pet is not in front of a camera now. Try again when the groom starts.',
    'watch.err.conflict': 'Your pet is not checked in yet: the live view opens once it is.',
    'watch.err.quota_exceeded': 'Too many people are watching at once. Try again in a moment.',
    'watch.err.connect': 'The video could not connect. Try again.',
    'watch.err.network': 'No connection to HQ. Check your internet and try again.',
    'watch.err.other': 'The live view could not start. Try again in a moment.',
    'watch.retry': 'Try again',
  },
  zh: {
    'watch.title': '实时画面',
    'watch.intro': '在美容期间观看您的宠物。',
    'watch.none': '现在没有可观看的画面：宠物在门店签到后即可观看。',
    'watch.offline': '门店目前离线，恢复在线后即可观看实时画面。',
    'watch.button': '观看',
    'watch.stop': '停止',
    'watch.since': '已签到，{time} 开始',
    'watch.starting': '正在连接门店…',
    'watch.live': '直播中',
    'watch.ended': '实时画面已结束。',
    'watch.err.unavailable': '暂时无法连接门店，请稍后再试。',
    'watch.err.forbidden': '您现在无权观看此画面。',
    'watch.err.not_found': '您的宠物现在不在摄像头前，美容开始后再试。',
    'watch.err.conflict': '您的宠物尚未签到，签到后即可观看。',
    'watch.err.quota_exceeded': '同时观看的人太多，请稍后再试。',
    'watch.err.connect': '视频连接失败，请重试。',
    'watch.err.network': '无法连接总部，请检查网络后重试。',
    'watch.err.other': '实时画面无法开始，请稍后再试。',
    'watch.retry': '重试',
  },
});

const view = { state: 'idle', error: null, booking: null, session: null, framesDecoded: 0, width: 0, height: 0,
  candidateType: null, tClick: null, tAnswer: null, tFirstFrame: null };
window.watchView = view;

let ctx = null;      // {me, store}
let list = [];       // GET /cameras
let current = null;  // {pc, session, timer, video}

const section = () => document.getElementById('watch');

onReady((detail) => { ctx = detail; load(); });
document.addEventListener('home:state', (e) => { if (ctx) { ctx.store = e.detail; if (!current) render(); } });
document.addEventListener('home:lang', () => render());

async function load() {
  try {
    list = (await api('GET', '/cameras')).bookings || [];
  } catch (e) {
    list = [];
    view.error = e.code || 'other';
  }
  render();
}

function serviceName(b) {
  const n = b.service_name || {};
  return (lang() === 'zh' ? n.zh || n.en : n.en || n.zh) || b.service;
}

function render() {
  const s = section();
  if (!s) return;
  s.replaceChildren();
  s.append(el('h2', {}, t('watch.title')), el('p', { class: 'watch-intro' }, t('watch.intro')));
  const online = !ctx || !ctx.store || ctx.store.online !== false;
  if (!online) s.append(el('p', { class: 'watch-note', id: 'watch-offline', role: 'status' }, t('watch.offline')));
  if (list.length === 0) {
    s.append(el('p', { class: 'watch-note', id: 'watch-none' }, t('watch.none')));
  }
  const zone = ctx && ctx.store ? ctx.store.zone : undefined;
  for (const b of list) {
    const watching = current && view.booking === b.booking;
    const card = el('div', { class: 'watch-card', dataset: { booking: b.booking } },
      el('div', { class: 'watch-head' },
        el('div', {}, el('strong', {}, serviceName(b)),
          el('div', { class: 'watch-sub' }, t('watch.since', { time: fmtTime(b.start, zone, false) }))),
        watching
          ? el('button', { type: 'button', class: 'watch-stop', id: 'watch-stop', onclick: () => stop('stopped') }, t('watch.stop'))
          : el('button', { type: 'button', class: 'watch-go', disabled: !online || !!current, onclick: () => start(b) }, t('watch.button'))));
    if (watching) {
      card.append(el('div', { class: 'watch-status', id: 'watch-status', role: 'status' },
        view.state === 'watching' ? t('watch.live') : t('watch.starting')));
      card.append(current.video);
    }
    s.append(card);
  }
  if (view.error && !current) {
    s.append(el('p', { class: 'watch-error', id: 'watch-error', role: 'alert' }, t('watch.err.' + view.error)),
      el('button', { type: 'button', class: 'watch-retry', onclick: () => { view.error = null; load(); } }, t('watch.retry')));
  } else if (view.state === 'ended' && !current) {
    s.append(el('p', { class: 'watch-note', id: 'watch-ended' }, t('watch.ended')));
  }
}

// gathered resolves once the connection has all its candidates (the offer
// goes through HQ whole: no trickle), or after 5 s with what it has.
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === 'complete') { pc.removeEventListener('icegatheringstatechange', done); resolve(); } };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 5000);
  });
}

const known = ['unavailable', 'forbidden', 'not_found', 'conflict', 'quota_exceeded', 'network', 'connect'];

async function start(b) {
  if (current) return;
  Object.assign(view, { state: 'starting', error: null, booking: b.booking, session: null, framesDecoded: 0, width: 0, height: 0,
    candidateType: null, tClick: performance.now(), tAnswer: null, tFirstFrame: null });
  const video = el('video', { class: 'watch-video', id: 'watch-video', autoplay: true, playsinline: true, muted: true });
  video.muted = true;
  current = { pc: null, session: null, timer: null, video };
  render();
  try {
    const ice = await api('GET', '/ice');
    const pc = new RTCPeerConnection({ iceServers: ice.ice_servers, iceTransportPolicy: 'relay' });
    current.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); };
    // The store ends the view (the visit is over, the pet checked out):
    // its side closes; a connection that never came up failed.
    pc.onconnectionstatechange = () => {
      if (!current || current.pc !== pc) return;
      const st = pc.connectionState;
      if (st === 'failed' || st === 'closed') stop(view.state === 'watching' ? 'ended' : 'connect');
    };
    pc.oniceconnectionstatechange = () => {
      if (current && current.pc === pc && pc.iceConnectionState === 'closed' && view.state === 'watching') stop('ended');
    };
    const firstFrame = () => {
      if (view.tFirstFrame === null) view.tFirstFrame = performance.now();
      view.width = video.videoWidth; view.height = video.videoHeight;
      if (view.state === 'starting') { view.state = 'watching'; render(); }
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(firstFrame);
    else video.addEventListener('loadeddata', firstFrame, { once: true });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const res = await api('POST', '/watch', { id: newId(), booking: b.booking, offer: pc.localDescription.sdp });
    if (!current || current.pc !== pc) return; // stopped meanwhile
    current.session = view.session = res.session;
    view.tAnswer = performance.now();
    await pc.setRemoteDescription({ type: 'answer', sdp: res.answer });
    lastFrames = -1; lastFrameAt = performance.now();
    current.timer = setInterval(() => stats(pc, video), 250);
  } catch (e) {
    stop(known.includes(e.code) ? e.code : 'other');
  }
}

async function stats(pc, video) {
  try {
    const report = await pc.getStats();
    let pair = null;
    report.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') view.framesDecoded = r.framesDecoded || 0;
      if (r.type === 'transport' && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId);
    });
    if (!pair) report.forEach((r) => { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r; });
    if (pair) {
      const local = report.get(pair.localCandidateId);
      if (local) view.candidateType = local.candidateType;
    }
    view.width = video.videoWidth; view.height = video.videoHeight;
    // The store stops the media when the view ends (the visit is over,
    // the pet checked out); the connection itself only times out later.
    const now = performance.now();
    if (view.framesDecoded !== lastFrames) { lastFrames = view.framesDecoded; lastFrameAt = now; }
    else if (view.state === 'watching' && now - lastFrameAt > STALL_MS) stop('ended');
  } catch { /* the connection closed meanwhile */ }
}

// STALL_MS: no new frame for this long ends the view (a camera sends 15-30
// a second).
const STALL_MS = 4000;
let lastFrames = -1, lastFrameAt = 0;

// stop ends the view: why is "stopped" (her button), "ended" or an error code.
function stop(why) {
  const c = current;
  if (!c) return;
  current = null;
  if (c.timer) clearInterval(c.timer);
  if (c.pc) c.pc.close();
  if (c.session) api('POST', '/watch/' + encodeURIComponent(c.session) + '/bye').catch(() => {});
  c.video.srcObject = null;
  if (why === 'stopped' || why === 'ended') { view.state = 'ended'; view.error = null; }
  else { view.state = 'error'; view.error = why; }
  render();
}
