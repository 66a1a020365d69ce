// The camera viewer: signs in to the store's broker with MQTT over
// WebSocket (the vendored mqtt.js), asks svc/camera/watch for a session and
// receives the camera's video from the broker's relay over WebRTC, with the
// signaling on camera/{camera}/signal/{session} (PROTOCOL.md, "Cameras").
//
// URL: /camera/?camera=cam-1&u=staff-anna prefills the form. A password is
// never taken from the query (it would end up in logs and the Referer);
// automated tests may put it in the fragment, #p=..., which the browser
// never sends, and add autostart=1 to start at once.
//
// Progress is exposed for tests and diagnostics as window.cameraView.
(function () {
  'use strict';

  // Every visible string, in English and Chinese. {name} is filled in.
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

  // Time limits, in ms.
  const CONNECT_TIMEOUT = 10000; // MQTT CONNECT to CONNACK
  const ANSWER_TIMEOUT = 15000; // a service answer
  const PEER_GRACE = 5000; // past the session's expires_in_ms

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

  function pickLang() {
    let saved = null;
    try { saved = localStorage.getItem('storeedge.lang'); } catch (e) { /* storage off */ }
    if (saved && STRINGS[saved]) return saved;
    const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
    for (const l of langs) {
      const base = String(l).toLowerCase().split('-')[0];
      if (STRINGS[base]) return base;
    }
    return 'en';
  }

  let lang = pickLang();

  function t(key, params) {
    const s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    return s.replace(/\{(\w+)\}/g, (m, k) => (params && params[k] != null ? String(params[k]) : m));
  }

  // The messages on screen, as keys, so that switching the language
  // redraws them.
  let statusMsg = null; // {key, params}
  let errorMsg = null;
  let captionMsg = null;
  let startLabel = 'watch';

  function render() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
    for (const node of document.querySelectorAll('[data-i18n]')) {
      node.textContent = t(node.dataset.i18n);
    }
    for (const node of document.querySelectorAll('[data-i18n-label]')) {
      node.setAttribute('aria-label', t(node.dataset.i18nLabel));
    }
    el.start.textContent = t(startLabel);
    el.lang.textContent = t('langButton');
    el.lang.setAttribute('lang', lang === 'zh' ? 'en' : 'zh-CN');
    el.status.textContent = statusMsg ? t(statusMsg.key, statusMsg.params) : '';
    el.error.textContent = errorMsg ? t(errorMsg.key, errorMsg.params) : '';
    el.caption.textContent = captionMsg ? t(captionMsg.key, captionMsg.params) : '';
  }

  el.lang.addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    try { localStorage.setItem('storeedge.lang', lang); } catch (e) { /* storage off */ }
    render();
  });

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

  // ---- helpers --------------------------------------------------------

  const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

  // A ULID: 48 bits of milliseconds and 80 random bits, 26 characters.
  function ulid() {
    let ts = '';
    let now = Date.now();
    for (let i = 0; i < 10; i++) { ts = B32[now % 32] + ts; now = Math.floor(now / 32); }
    const r = crypto.getRandomValues(new Uint8Array(16));
    let rnd = '';
    for (let i = 0; i < 16; i++) rnd += B32[r[i] % 32]; // 256 is a multiple of 32: uniform
    return ts + rnd;
  }

  function randomSuffix(n) {
    const r = crypto.getRandomValues(new Uint8Array(n));
    let s = '';
    for (let i = 0; i < n; i++) s += B32[r[i] % 32].toLowerCase();
    return s;
  }

  class ViewError extends Error {
    constructor(code, params) { super(code); this.code = code; this.params = params; }
  }

  function withTimeout(promise, ms, code) {
    let timer;
    return Promise.race([
      promise,
      new Promise((_, reject) => { timer = setTimeout(() => reject(new ViewError(code)), ms); }),
    ]).finally(() => clearTimeout(timer));
  }

  function decode(bytes) {
    if (bytes == null) return '';
    if (typeof bytes === 'string') return bytes;
    return new TextDecoder().decode(bytes);
  }

  // ---- where the broker is ---------------------------------------------

  // fetchConfig reads /client.json; it resolves with a ViewError rather
  // than rejecting, so that an early fetch nobody awaits yet cannot end in
  // an unhandled rejection.
  function fetchConfig() {
    return fetch('/client.json', { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : new ViewError(r.status === 404 ? 'no_websocket' : 'network')))
      .catch(() => new ViewError('network'));
  }

  // Fetched as the page loads, not on Watch: it saves a round trip (25 to
  // 50 ms) between the tap and the picture.
  let prefetched = fetchConfig();

  // ---- one viewing session -------------------------------------------

  let session = null; // the current Session, or null

  class Session {
    constructor(username, password, camera) {
      this.username = username;
      this.password = password;
      this.camera = camera;
      this.clientId = username + ':web-' + randomSuffix(8);
      this.client = null;
      this.pc = null;
      this.topic = null;
      this.pending = new Map(); // correlation data -> {resolve}
      this.early = []; // remote candidates before the answer
      this.answered = false;
      this.timers = [];
      this.closed = false;
      this.connectedOnce = false;
    }

    live() { return !this.closed && session === this; }

    async run() {
      setStatus('connecting');
      if (!window.mqtt || !window.RTCPeerConnection) throw new ViewError('unsupported');
      const cfg = await this.clientConfig();
      const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
      const url = scheme + location.hostname + ':' + cfg.mqtt.ws_port + (cfg.mqtt.ws_path || '/mqtt');
      await this.connect(url);
      if (!this.live()) return;

      await this.subscribe('reply/' + this.clientId + '/#');
      setStatus('opening');
      const ans = await this.call('svc/camera/watch', { camera: this.camera });
      if (!this.live()) return;
      if (!ans.ok) {
        const code = ans.error && ans.error.code;
        throw new ViewError(WATCH_ERRORS.includes(code) ? code : 'generic', { code: code || '?', camera: this.camera });
      }
      this.watch = ans;
      this.topic = ans.topic;
      captionMsg = ans.resource
        ? { key: 'captionRoom', params: { camera: ans.camera || this.camera, resource: ans.resource } }
        : { key: 'caption', params: { camera: ans.camera || this.camera } };
      await this.subscribe(this.topic);
      if (!this.live()) return;
      setStatus('negotiating');
      await this.negotiate(ans);
    }

    async clientConfig() {
      let cfg = await (prefetched || fetchConfig());
      prefetched = null; // used once: a later start asks again
      if (cfg instanceof ViewError) cfg = await fetchConfig(); // the early try failed
      if (cfg instanceof ViewError) throw cfg;
      if (!cfg || !cfg.mqtt || !cfg.mqtt.ws_port) throw new ViewError('no_websocket');
      return cfg;
    }

    connect(url) {
      return new Promise((resolve, reject) => {
        // No automatic reconnect until the first connection: a wrong
        // password must end in an error, not in retries.
        const client = window.mqtt.connect(url, {
          protocolVersion: 5,
          clientId: this.clientId,
          username: this.username,
          password: this.password,
          clean: true,
          keepalive: 30,
          reconnectPeriod: 0,
          connectTimeout: CONNECT_TIMEOUT,
          resubscribe: true,
        });
        this.client = client;
        client.on('connect', () => {
          if (!this.connectedOnce) {
            this.connectedOnce = true;
            // Later drops (Wi-Fi roaming) reconnect and resubscribe; the
            // video keeps flowing meanwhile, it does not go through MQTT.
            client.options.reconnectPeriod = 2000;
            resolve();
          } else if (this.live() && view.state === 'watching') {
            this.showLive();
          }
        });
        client.on('error', (err) => {
          if (this.connectedOnce) return; // reconnecting; 'close' tells
          // 0x86 bad user name or password; 0x87 not authorized; 0x85 client id refused.
          const rc = err && (err.code || err.reasonCode);
          if (rc === 134 || rc === 4 || rc === 5) reject(new ViewError('login'));
          else if (rc === 135 || rc === 133) reject(new ViewError('not_authorized'));
          else reject(new ViewError('network'));
          client.end(true);
        });
        client.on('close', () => {
          if (!this.connectedOnce) { reject(new ViewError('network')); return; }
          if (this.live() && view.state === 'watching') setStatus('unstable');
        });
        client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
      });
    }

    subscribe(filter) {
      return withTimeout(new Promise((resolve, reject) => {
        this.client.subscribe(filter, { qos: 1 }, (err, granted) => {
          if (err) { reject(new ViewError('network')); return; }
          if (granted && granted[0] && granted[0].qos >= 128) { reject(new ViewError('not_authorized')); return; }
          resolve();
        });
      }), ANSWER_TIMEOUT, 'no_answer');
    }

    publish(topic, obj) {
      if (!this.live()) return;
      this.client.publish(topic, JSON.stringify(obj), { qos: 1 });
    }

    // call sends an MQTT 5 request and resolves with the decoded answer.
    call(topic, body) {
      const corr = randomSuffix(12);
      const req = Object.assign({ v: 1, id: ulid() }, body);
      const answered = new Promise((resolve) => { this.pending.set(corr, resolve); });
      this.client.publish(topic, JSON.stringify(req), {
        qos: 1,
        properties: { responseTopic: 'reply/' + this.clientId + '/camera', correlationData: corr },
      });
      return withTimeout(answered, ANSWER_TIMEOUT, 'no_answer').finally(() => this.pending.delete(corr));
    }

    onMessage(topic, payload, packet) {
      if (!this.live()) return;
      let msg;
      try { msg = JSON.parse(decode(payload)); } catch (e) { return; }
      if (topic.startsWith('reply/' + this.clientId + '/')) {
        const corr = decode(packet && packet.properties && packet.properties.correlationData);
        const resolve = this.pending.get(corr);
        if (resolve) resolve(msg);
        return;
      }
      if (topic === this.topic) this.onSignal(msg);
    }

    signal(obj) {
      return this.publish(this.topic, Object.assign({ v: 1, from: this.clientId }, obj));
    }

    async negotiate(ans) {
      const iceServers = Array.isArray(ans.ice_servers) ? ans.ice_servers : [];
      const pc = new RTCPeerConnection({ iceServers });
      this.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.ontrack = (e) => {
        if (!this.live()) return;
        el.video.srcObject = e.streams && e.streams[0] ? e.streams[0] : new MediaStream([e.track]);
        el.video.play().catch(() => { /* autoplay of muted video is allowed; nothing to do */ });
      };
      pc.onicecandidate = (e) => {
        if (!this.live() || !e.candidate || !e.candidate.candidate) return;
        this.signal({ type: 'candidate', candidate: e.candidate.toJSON() });
      };
      pc.onconnectionstatechange = () => {
        if (!this.live()) return;
        switch (pc.connectionState) {
          case 'connected':
            if (view.tConnected == null) view.tConnected = performance.now();
            setState('watching');
            this.showLive();
            break;
          case 'disconnected':
            setStatus('unstable');
            break;
          case 'failed':
            this.fail(new ViewError('webrtc'));
            break;
        }
      };
      // The relay drops a session not connected in time and says so with
      // bye "timeout"; this covers a relay that is gone altogether.
      const limit = (Number(ans.expires_in_ms) > 0 ? Number(ans.expires_in_ms) : 15000) + PEER_GRACE;
      this.timers.push(setTimeout(() => {
        if (this.live() && view.tConnected == null) this.fail(new ViewError('timeout'));
      }, limit));

      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      if (!this.live()) return;
      this.signal({ type: 'offer', sdp: pc.localDescription.sdp });
    }

    async onSignal(msg) {
      if (!msg || msg.from === this.clientId) return; // our own, echoed back
      const pc = this.pc;
      try {
        switch (msg.type) {
          case 'answer':
            // Once: a QoS 1 message may come twice.
            if (!pc || this.answered) return;
            this.answered = true;
            await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
            for (const c of this.early.splice(0)) await this.addCandidate(c);
            break;
          case 'candidate':
            if (!msg.candidate || !msg.candidate.candidate) return; // end of candidates
            if (!pc || !pc.remoteDescription) { this.early.push(msg.candidate); return; }
            await this.addCandidate(msg.candidate);
            break;
          case 'bye':
            this.end(msg.reason || 'other');
            break;
        }
      } catch (e) {
        this.fail(new ViewError('webrtc'));
      }
    }

    async addCandidate(c) {
      try {
        await this.pc.addIceCandidate(c);
      } catch (e) {
        // One bad candidate (an mDNS name this device cannot resolve, say)
        // must not end the session; the others may work.
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
        const time = until.toLocaleTimeString(lang === 'zh' ? 'zh-CN' : 'en', { hour: '2-digit', minute: '2-digit' });
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
      this.teardown(reason === 'stopped');
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
      const code = err instanceof ViewError ? err.code : 'generic';
      view.error = code;
      errorMsg = { key: code, params: Object.assign({ code, camera: this.camera }, err && err.params) };
      this.teardown(true);
      setStatus(null);
      setState('error');
      el.start.focus();
    }

    stop() { this.end('stopped'); }

    // teardown closes the peer connection and the MQTT connection, after
    // telling the relay with a bye when we hang up (hangup) while it may
    // still hold the session.
    teardown(hangup) {
      this.closed = true;
      if (session === this) session = null;
      for (const id of this.timers) clearTimeout(id);
      this.timers = [];
      if (this.pc) this.pc.close();
      el.video.srcObject = null;
      const client = this.client;
      if (!client) return;
      if (hangup && this.topic && client.connected) {
        client.publish(this.topic, JSON.stringify({ v: 1, type: 'bye', from: this.clientId, reason: 'closed' }), { qos: 1 });
        client.end(false); // after the bye is acknowledged
      } else {
        client.end(true);
      }
    }
  }

  // ---- frames ---------------------------------------------------------

  // Count frames shown: requestVideoFrameCallback where there is one, the
  // playback quality counter elsewhere.
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    const onFrame = () => {
      if (el.video.srcObject) {
        view.framesDecoded++;
        if (view.tFirstFrame == null) {
          view.tFirstFrame = performance.now();
          if (view.state === 'watching' && session) session.showLive();
        }
      }
      el.video.requestVideoFrameCallback(onFrame);
    };
    el.video.requestVideoFrameCallback(onFrame);
  } else {
    setInterval(() => {
      const q = el.video.getVideoPlaybackQuality ? el.video.getVideoPlaybackQuality() : null;
      if (q && el.video.srcObject && q.totalVideoFrames > view.framesDecoded) {
        view.framesDecoded = q.totalVideoFrames;
        if (view.tFirstFrame == null) {
          view.tFirstFrame = performance.now();
          if (view.state === 'watching' && session) session.showLive();
        }
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
})();
