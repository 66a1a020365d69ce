// The camera viewer: signs in to the store's broker with MQTT over
// WebSocket (lib/store.js), asks svc/camera/watch for a session and
// receives the camera's video from the broker's relay over WebRTC, with the
// signaling on camera/{camera}/signal/{session} (lib/camview.js;
// PROTOCOL.md, "Cameras").
//
// URL: /camera/?camera=cam-1&u=staff-anna prefills the form. A password is
// never taken from the query (it would end up in logs and the Referer);
// automated tests may put it in the fragment, #p=..., which the browser
// never sends, and add autostart=1 to start at once.
//
// Progress is exposed for tests and diagnostics as window.cameraView.

import { StoreLink, StoreError, clientConfig } from '/lib/store.js';
import { watchLive } from '/lib/camview.js';
import { makeI18n } from '/lib/i18n.js';

const STRINGS = {
  en: {
    title: 'Live camera',
    intro: 'Sign in to watch a grooming-room camera.',
    user: 'Username',
    pass: 'Password',
    camera: 'Camera',
    watch: 'Watch',
    watchAgain: 'Watch again',
    stop: 'Stop',
    videoLabel: 'Live video from the camera',
    langButton: '中文',
    caption: 'Camera {camera}',
    captionRoom: 'Camera {camera} · {resource}',
    connecting: 'Connecting to the store’s server…',
    opening: 'Opening the camera…',
    negotiating: 'Starting the video…',
    waitingPicture: 'Connected. Waiting for the picture…',
    live: 'Live',
    liveUntil: 'Live until {time}',
    unstable: 'The connection is unstable. Trying to recover…',
    stopped: 'You stopped the live view.',
    // svc/camera/watch errors, by code
    forbidden: 'This camera is not yours to watch right now.',
    not_found: 'There is no camera called “{camera}”.',
    unavailable: 'The camera is offline at the moment. Please try again in a little while.',
    quota_exceeded: 'Too many people are watching this camera. Please try again later.',
    bad_request: 'The store’s server did not accept the request. Please check the camera name.',
    // other failures
    login: 'Wrong username or password.',
    not_authorized: 'This account may not watch cameras.',
    network: 'Cannot reach the store’s server. Please check the Wi-Fi connection.',
    no_answer: 'The store’s server did not answer. Please try again.',
    connection_lost: 'The connection to the store’s server was lost.',
    no_websocket: 'Live view is not turned on for this store.',
    webrtc: 'The video connection failed.',
    unsupported: 'This browser cannot show live video.',
    missing: 'Please fill in the username, the password and the camera.',
    timeout: 'The video could not be connected in time. Please try again.',
    generic: 'Something went wrong ({code}).',
    // bye reasons from the relay
    bye_grant_ended: 'The visit is over — the live view has ended.',
    bye_closed: 'The live view was closed.',
    bye_timeout: 'The video could not be connected in time. Please try again.',
    bye_camera_offline: 'The camera went offline.',
    bye_shutdown: 'The store’s server is restarting. Please try again in a minute.',
    bye_other: 'The live view has ended.',
  },
  zh: {
    title: '实时画面',
    intro: '登录后即可观看美容室摄像头的实时画面。',
    user: '用户名',
    pass: '密码',
    camera: '摄像头',
    watch: '观看',
    watchAgain: '重新观看',
    stop: '停止',
    videoLabel: '摄像头实时画面',
    langButton: 'English',
    caption: '摄像头 {camera}',
    captionRoom: '摄像头 {camera} · {resource}',
    connecting: '正在连接门店服务器…',
    opening: '正在打开摄像头…',
    negotiating: '正在建立视频连接…',
    waitingPicture: '已连接，正在等待画面…',
    live: '直播中',
    liveUntil: '直播至 {time}',
    unstable: '连接不稳定，正在尝试恢复…',
    stopped: '您已停止观看。',
    forbidden: '您现在无权观看这个摄像头。',
    not_found: '没有名为“{camera}”的摄像头。',
    unavailable: '摄像头暂时离线，请稍后再试。',
    quota_exceeded: '观看这个摄像头的人数已满，请稍后再试。',
    bad_request: '门店服务器未接受此请求，请检查摄像头名称。',
    login: '用户名或密码错误。',
    not_authorized: '此账号无权观看摄像头。',
    network: '无法连接门店服务器，请检查 Wi-Fi 连接。',
    no_answer: '门店服务器没有响应，请重试。',
    connection_lost: '与门店服务器的连接已断开。',
    no_websocket: '本店未开启实时画面功能。',
    webrtc: '视频连接失败。',
    unsupported: '此浏览器无法播放实时画面。',
    missing: '请填写用户名、密码和摄像头。',
    timeout: '视频未能及时连接，请重试。',
    generic: '出现错误（{code}）。',
    bye_grant_ended: '本次服务已结束，实时画面已关闭。',
    bye_closed: '实时画面已关闭。',
    bye_timeout: '视频未能及时连接，请重试。',
    bye_camera_offline: '摄像头已离线。',
    bye_shutdown: '门店服务器正在重启，请一分钟后再试。',
    bye_other: '实时画面已结束。',
  },
};

const BYE_REASONS = ['grant_ended', 'closed', 'timeout', 'camera_offline', 'shutdown'];
const WATCH_ERRORS = ['forbidden', 'not_found', 'unavailable', 'quota_exceeded', 'bad_request'];
// Failures of the session itself that have words of their own; any other
// code from svc/camera/watch shows as generic, with the code.
const SESSION_ERRORS = ['no_answer', 'webrtc', 'timeout', 'unsupported', 'network'];

// window.cameraView: what tests and diagnostics read. Times are
// performance.now() values; framesDecoded counts frames shown.
const view = {
  state: 'idle', // idle | connecting | watching | ended | error
  error: null, // an error code (forbidden, login, network, ...)
  reason: null, // the relay's bye reason, or 'stopped'
  framesDecoded: 0,
  tClick: null,
  tConnected: null,
  tFirstFrame: null,
};
window.cameraView = view;

const $ = (id) => document.getElementById(id);
const el = {
  intro: $('intro'), form: $('login'), user: $('user'), pass: $('pass'), camera: $('camera'),
  start: $('start'), viewer: $('viewer'), caption: $('caption'), video: $('video'),
  stop: $('stop'), status: $('status'), error: $('error'), lang: $('lang'),
};

// ---- language -------------------------------------------------------

const i18n = makeI18n(STRINGS, 'storeedge.lang');
const t = (key, params) => i18n.t(key, params);

// The messages on screen, as keys, so that switching the language
// redraws them.
let statusMsg = null; // {key, params}
let errorMsg = null;
let captionMsg = null;
let startLabel = 'watch';

function render() {
  i18n.apply();
  document.title = t('title');
  el.start.textContent = t(startLabel);
  el.lang.textContent = t('langButton');
  el.lang.setAttribute('lang', i18n.lang === 'zh' ? 'en' : 'zh-CN');
  el.status.textContent = statusMsg ? t(statusMsg.key, statusMsg.params) : '';
  el.error.textContent = errorMsg ? t(errorMsg.key, errorMsg.params) : '';
  el.caption.textContent = captionMsg ? t(captionMsg.key, captionMsg.params) : '';
}

el.lang.addEventListener('click', () => i18n.setLang(i18n.lang === 'zh' ? 'en' : 'zh'));
i18n.onChange(render);

function setStatus(key, params) { statusMsg = key ? { key, params } : null; render(); }

function setState(state) {
  view.state = state;
  document.body.dataset.state = state;
  const busy = state === 'connecting' || state === 'watching';
  el.form.hidden = busy;
  el.intro.hidden = busy; // the room goes to the picture on a phone
  el.viewer.hidden = !busy;
  if (state === 'ended' || state === 'error') startLabel = 'watchAgain';
  render();
}

// ---- where the broker is ---------------------------------------------

// Fetched as the page loads, not on Watch: it saves a round trip (25 to
// 50 ms) between the tap and the picture. It resolves with the error
// rather than rejecting, so that an early fetch nobody awaits yet cannot
// end in an unhandled rejection.
let prefetched = clientConfig().catch((e) => e);

async function brokerURL() {
  let cfg = await (prefetched || clientConfig().catch((e) => e));
  prefetched = null; // used once: a later start asks again
  if (cfg instanceof Error) cfg = await clientConfig(); // the early try failed: once more, or its error
  return cfg.url;
}

// ---- one viewing session -------------------------------------------

// errorCode turns a failure into one of the page's error codes, and the
// code to show for a generic one.
function errorCode(err) {
  const code = err && err.code;
  if (err instanceof StoreError) {
    // The broker's CONNACK: 0x87 not authorized, 0x85 client id refused.
    if ((code === 'login' || code === 'network') && (err.reason === '135' || err.reason === '133')) return { code: 'not_authorized' };
    if (code === 'login' || code === 'network' || code === 'no_websocket' || code === 'no_answer') return { code };
  }
  if (WATCH_ERRORS.includes(code) || SESSION_ERRORS.includes(code)) return { code };
  return { code: 'generic', shown: code || '?' };
}

let session = null; // the current Session, or null

class Session {
  constructor(username, password, camera) {
    this.username = username;
    this.password = password;
    this.camera = camera;
    this.link = null;
    this.watcher = null; // watchLive's handle
    this.watch = null; // the watch answer
    this.closed = false;
  }

  live() { return !this.closed && session === this; }

  async run() {
    setStatus('connecting');
    if (!window.mqtt || !window.RTCPeerConnection) throw new StoreError('unsupported');
    const url = await brokerURL();
    if (!this.live()) return;
    this.link = new StoreLink({ username: this.username, password: this.password, url });
    // After the first connection, drops (Wi-Fi roaming) reconnect and
    // resubscribe; the video keeps flowing meanwhile, it does not go
    // through MQTT.
    this.link.onStatus((s) => {
      if (!this.live() || view.state !== 'watching') return;
      if (s === 'reconnecting') setStatus('unstable');
      else if (s === 'online') this.showLive();
    });
    await this.link.connect();
    if (!this.live()) return;
    this.watcher = watchLive(this.link, { camera: this.camera }, el.video, (state, info) => this.onWatch(state, info));
  }

  onWatch(state, info) {
    if (!this.live()) return;
    switch (state) {
      case 'opening':
        setStatus('opening');
        break;
      case 'negotiating':
        this.watch = info;
        captionMsg = info.resource
          ? { key: 'captionRoom', params: { camera: info.camera || this.camera, resource: info.resource } }
          : { key: 'caption', params: { camera: info.camera || this.camera } };
        setStatus('negotiating');
        break;
      case 'live':
        if (view.tConnected == null) view.tConnected = performance.now();
        setState('watching');
        this.showLive();
        break;
      case 'unstable':
        setStatus('unstable');
        break;
      case 'ended':
        this.end(info.reason || 'other');
        break;
      case 'error':
        this.fail(info);
        break;
    }
  }

  // showLive says the session is live, once the picture is there.
  showLive() {
    if (view.tFirstFrame == null) {
      setStatus('waitingPicture');
      return;
    }
    const until = this.watch && this.watch.until ? new Date(this.watch.until) : null;
    if (until && !isNaN(until)) {
      const time = until.toLocaleTimeString(i18n.lang === 'zh' ? 'zh-CN' : 'en', { hour: '2-digit', minute: '2-digit' });
      setStatus('liveUntil', { time });
    } else {
      setStatus('live');
    }
  }

  // end closes the session after the relay's bye (reason) or the Stop
  // button ('stopped').
  end(reason) {
    if (!this.live()) return;
    view.reason = reason;
    this.teardown();
    if (reason === 'stopped') {
      setStatus('stopped');
    } else {
      setStatus('bye_' + (BYE_REASONS.includes(reason) ? reason : 'other'));
    }
    setState('ended');
    el.start.focus();
  }

  fail(err) {
    if (!this.live()) return;
    const { code, shown } = errorCode(err);
    view.error = code;
    errorMsg = { key: code, params: { code: shown || code, camera: this.camera } };
    this.teardown();
    setStatus(null);
    setState('error');
    el.start.focus();
  }

  // stop hangs up: watchLive tells the relay with a bye and reports
  // 'ended', which ends the session here.
  stop() {
    if (this.watcher && this.live()) this.watcher.stop();
    this.end('stopped');
  }

  // teardown closes the viewing and the MQTT connection; the link is
  // flushed first, so that a bye just sent reaches the relay, which then
  // need not wait for a timeout.
  teardown() {
    this.closed = true;
    if (session === this) session = null;
    if (this.watcher) this.watcher.stop(); // a no-op once it has ended
    el.video.srcObject = null;
    if (this.link) this.link.close({ flush: true });
  }
}

// ---- frames ---------------------------------------------------------

function onFirstFrame() {
  if (view.tFirstFrame != null) return;
  view.tFirstFrame = performance.now();
  if (view.state === 'watching' && session) session.showLive();
}

// Count frames shown: requestVideoFrameCallback where there is one, the
// playback quality counter elsewhere.
if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
  const onFrame = () => {
    if (el.video.srcObject) {
      view.framesDecoded++;
      onFirstFrame();
    }
    el.video.requestVideoFrameCallback(onFrame);
  };
  el.video.requestVideoFrameCallback(onFrame);
} else {
  setInterval(() => {
    const q = el.video.getVideoPlaybackQuality ? el.video.getVideoPlaybackQuality() : null;
    if (q && el.video.srcObject && q.totalVideoFrames > view.framesDecoded) {
      view.framesDecoded = q.totalVideoFrames;
      onFirstFrame();
    }
  }, 250);
}

// ---- start and stop -------------------------------------------------

function start() {
  const username = el.user.value.trim();
  const password = el.pass.value;
  const camera = el.camera.value.trim();
  errorMsg = null;
  if (!username || !password || !camera) {
    errorMsg = { key: 'missing' };
    render();
    (!username ? el.user : !password ? el.pass : el.camera).focus();
    return;
  }
  if (session) session.teardown();
  Object.assign(view, {
    state: 'idle', error: null, reason: null, framesDecoded: 0,
    tClick: performance.now(), tConnected: null, tFirstFrame: null,
  });
  captionMsg = { key: 'caption', params: { camera } };
  const s = new Session(username, password, camera);
  session = s;
  setState('connecting');
  el.stop.focus();
  s.run().catch((err) => s.fail(err));
}

el.form.addEventListener('submit', (e) => {
  e.preventDefault();
  start();
});

el.stop.addEventListener('click', () => {
  if (session) session.stop();
});

// Leaving the page hangs up, so the relay need not wait for a timeout.
window.addEventListener('pagehide', () => {
  if (session) session.stop();
});

// ---- prefill from the URL -------------------------------------------

const q = new URLSearchParams(location.search);
if (q.get('u')) el.user.value = q.get('u');
if (q.get('camera')) el.camera.value = q.get('camera');
const frag = new URLSearchParams(location.hash.replace(/^#/, ''));
if (frag.get('p')) {
  el.pass.value = frag.get('p');
  // Out of the address bar and the history.
  history.replaceState(null, '', location.pathname + location.search);
}
render();
if (q.get('autostart') === '1' && el.user.value && el.pass.value && el.camera.value) {
  start();
} else {
  (el.user.value ? (el.pass.value ? el.start : el.pass) : el.user).focus();
}
