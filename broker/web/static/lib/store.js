// The pages' link to the store broker: MQTT 5 over WebSocket with the
// vendored mqtt.js (loaded as a classic script before the page's modules,
// as window.mqtt), the request/answer envelope of PROTOCOL.md and the ids
// it asks for. Shared by the customer chat page and the staff console.
//
//   const link = new StoreLink({ username, password });
//   await link.connect();
//   const view = await link.call('chat', 'open');
//   await link.subscribe('chat/' + view.conversation + '/events', (topic, ev) => …);

// ---- configuration ----------------------------------------------------

// clientConfig reads /client.json and says where the MQTT WebSocket
// listener is: the page's own host, on the listener's port (a port of its
// own), wss when the page came over https (browsers refuse ws from an https
// page).
export async function clientConfig() {
  let cfg;
  try {
    const res = await fetch('/client.json', { cache: 'no-store' });
    // No client configuration at all: the store does not let browsers in.
    if (res.status === 404) cfg = {};
    else if (!res.ok) throw new Error('HTTP ' + res.status);
    else cfg = await res.json();
  } catch (e) {
    throw new StoreError('network', 'cannot read /client.json: ' + (e && e.message));
  }
  const port = cfg && cfg.mqtt && Number(cfg.mqtt.ws_port);
  if (!port) throw new StoreError('no_websocket', 'the store has no MQTT WebSocket listener');
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const path = (cfg.mqtt.ws_path || '/mqtt');
  // store: the name the owner gave the store at first run, else its id.
  return { url: scheme + location.hostname + ':' + port + path, store: cfg.name || cfg.store || '' };
}

// ---- ids --------------------------------------------------------------

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastMs = -1;
let lastRand = null; // 16 random 5-bit digits of the last id

function randomDigits(n) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x & 31);
}

// newId makes a ULID: 10 Crockford base32 digits of the time in ms, then
// 16 random ones. Ids made in the same millisecond count up from the first
// one's random part, so ids made by this page sort in the order they were
// made (the outbox relies on that).
export function newId() {
  let ms = Date.now();
  if (ms <= lastMs) {
    ms = lastMs;
    let i = lastRand.length - 1;
    while (i >= 0 && lastRand[i] === 31) { lastRand[i] = 0; i--; }
    if (i >= 0) lastRand[i]++;
    else lastRand = randomDigits(16); // 80 bits ran over: practically never
  } else {
    lastMs = ms;
    lastRand = randomDigits(16);
    lastRand[0] &= 15; // room to count up without overflowing
  }
  let time = '';
  for (let i = 0, t = ms; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time + lastRand.map((d) => CROCKFORD[d]).join('');
}

function randomSuffix(n) {
  return randomDigits(n).map((d) => CROCKFORD[d].toLowerCase()).join('');
}

// ---- errors -----------------------------------------------------------

// StoreError is a refused request (code as in PROTOCOL.md: bad_request,
// not_found, forbidden, conflict, too_large, quota_exceeded, unavailable)
// or a failure of the link itself: login, network, no_websocket,
// no_answer, closed.
export class StoreError extends Error {
  constructor(code, message, details) {
    super(message || code);
    this.name = 'StoreError';
    this.code = code;
    this.details = details || {};
    this.reason = (details && details.reason) || null;
  }
}

// CONNACK reason codes that mean the login itself is wrong (MQTT 5: 0x86
// bad user name or password, 0x87 not authorized, 0x8C bad authentication
// method; 3.1.1: 4 and 5), as opposed to a network that is down.
const LOGIN_CODES = new Set([0x86, 0x87, 0x8c, 4, 5]);

const decoder = new TextDecoder();

function text(b) {
  if (b == null) return '';
  if (typeof b === 'string') return b;
  return decoder.decode(b);
}

// topicMatches applies MQTT filter rules (+ one level, # the rest).
function topicMatches(filter, topic) {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

// ---- the link ---------------------------------------------------------

const CONNECT_TIMEOUT = 10000;
const RECONNECT_PERIOD = 1000;

export class StoreLink {
  constructor({ username, password, suffix, url } = {}) {
    this.username = username;
    this.password = password;
    this._clientId = username + ':' + (suffix || 'web-' + randomSuffix(8));
    this._url = url || null; // else from clientConfig()
    this._client = null;
    this._status = 'offline';
    this._statusCbs = new Set();
    this._subs = new Map(); // filter -> Set of handlers
    this._pending = new Map(); // request id -> pending call
    this._connectedOnce = false;
    this._closed = false;
    this._loginRefused = null;
  }

  get clientId() { return this._clientId; }

  // onLoginRefused calls cb when a reconnect is refused for the login
  // itself (it was revoked or has ended): retrying cannot help. The link
  // keeps retrying until the page closes it.
  onLoginRefused(cb) { this._loginRefused = cb; }
  get status() { return this._status; }

  // onStatus calls cb with every change of status ('connecting',
  // 'online', 'reconnecting', 'offline'); it returns a function that stops
  // the calls.
  onStatus(cb) {
    this._statusCbs.add(cb);
    return () => this._statusCbs.delete(cb);
  }

  _setStatus(s) {
    if (this._status === s) return;
    this._status = s;
    for (const cb of this._statusCbs) {
      try { cb(s); } catch (e) { console.error(e); }
    }
  }

  // connect resolves at the first CONNACK. Until then a failure ends the
  // attempt (a wrong password must be an error, not endless retries);
  // after it, a dropped connection is retried every second for good.
  async connect() {
    if (this._client) throw new StoreError('bad_request', 'connect called twice');
    if (!globalThis.mqtt) throw new StoreError('network', 'mqtt.js is not loaded');
    this._setStatus('connecting');
    let url = this._url;
    if (!url) {
      try {
        url = (await clientConfig()).url;
      } catch (e) {
        this._setStatus('offline');
        throw e;
      }
    }
    return new Promise((resolve, reject) => {
      const client = globalThis.mqtt.connect(url, {
        protocolVersion: 5,
        clientId: this._clientId,
        username: this.username,
        password: this.password,
        clean: true,
        keepalive: 30,
        reconnectPeriod: 0,
        connectTimeout: CONNECT_TIMEOUT,
        // Subscriptions are made again by onConnect, with their handlers.
        resubscribe: false,
      });
      this._client = client;
      let settled = false;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        this._setStatus('offline');
        client.end(true);
        reject(err);
      };
      client.on('connect', () => {
        if (!this._connectedOnce) {
          this._connectedOnce = true;
          client.options.reconnectPeriod = RECONNECT_PERIOD;
        }
        this._onConnect();
        if (!settled) { settled = true; resolve(); }
      });
      client.on('error', (err) => {
        const rc = err && (err.code != null ? err.code : err.reasonCode);
        if (this._connectedOnce) { // reconnecting; 'close' tells
          if (LOGIN_CODES.has(rc) && this._loginRefused && !this._closed) this._loginRefused();
          return;
        }
        if (LOGIN_CODES.has(rc)) fail(new StoreError('login', 'the store refused the login', { reason: String(rc) }));
        // The reason code, when there is one, lets a page tell a refused
        // client id (0x85) from a network that is down.
        else fail(new StoreError('network', (err && err.message) || 'cannot reach the store', typeof rc === 'number' ? { reason: String(rc) } : null));
      });
      client.on('close', () => {
        if (!this._connectedOnce) { fail(new StoreError('network', 'cannot reach the store')); return; }
        if (!this._closed) this._setStatus('reconnecting');
      });
      client.on('offline', () => {
        if (this._connectedOnce && !this._closed) this._setStatus('reconnecting');
      });
      client.on('message', (topic, payload, packet) => this._onMessage(topic, payload, packet));
    });
  }

  // _onConnect runs after every CONNACK. The session is clean, so the
  // subscriptions are made again, the reply topic first; then the calls
  // not yet answered go out again with their ids (the broker answers a
  // repeat of a request it already ran with its first answer).
  _onConnect() {
    const client = this._client;
    const filters = ['reply/' + this._clientId + '/#', ...this._subs.keys()];
    client.subscribe(filters, { qos: 1 }, () => {
      if (this._client !== client || !client.connected) return;
      this._setStatus('online');
      for (const p of this._pending.values()) this._publish(p);
    });
  }

  _publish(p) {
    const client = this._client;
    if (!client || !client.connected) return; // sent on the next connect
    client.publish('svc/' + p.service + '/' + p.op, JSON.stringify(p.payload), {
      qos: 1,
      properties: {
        responseTopic: 'reply/' + this._clientId + '/' + p.service,
        correlationData: p.id,
      },
    }, (err) => {
      // A PUBACK with a failure reason: the broker refused the request
      // itself (the role may not publish there, a quota), so no answer
      // will come; fail now instead of at the timeout. A publish cut off
      // by a lost connection has no reason code and is sent again.
      const rc = err && typeof err.code === 'number' ? err.code : 0;
      if (rc < 0x80 || this._pending.get(p.id) !== p) return;
      const code = rc === 0x87 ? 'forbidden' : rc === 0x97 ? 'quota_exceeded' : rc === 0x95 ? 'too_large' : 'unavailable';
      p.settle(new StoreError(code, err.message || 'the store refused the request'));
    });
  }

  _onMessage(topic, payload, packet) {
    let obj;
    try { obj = JSON.parse(text(payload)); } catch (e) { return; }
    if (topic.startsWith('reply/' + this._clientId + '/')) {
      const corr = text(packet && packet.properties && packet.properties.correlationData);
      const p = this._pending.get(obj && obj.id) || this._pending.get(corr);
      if (p) p.settle(obj);
      return;
    }
    for (const [filter, handlers] of this._subs) {
      if (!topicMatches(filter, topic)) continue;
      for (const h of handlers) {
        try { h(topic, obj); } catch (e) { console.error(e); }
      }
    }
  }

  // call sends svc/{service}/{op} and resolves with the answer's result
  // fields, or rejects with a StoreError. While the link is down the
  // request waits, and goes out (again) with the same id after the
  // reconnect, until it is answered or times out.
  call(service, op, body = {}, { id, timeoutMs = 15000 } = {}) {
    if (this._closed) return Promise.reject(new StoreError('closed', 'the link is closed'));
    const reqId = id || newId();
    return new Promise((resolve, reject) => {
      const p = {
        id: reqId, service, op,
        payload: Object.assign({}, body, { v: 1, id: reqId }),
        settle: (ans) => {
          this._pending.delete(reqId);
          clearTimeout(p.timer);
          if (ans instanceof StoreError) { reject(ans); return; }
          if (ans && ans.ok === true) {
            const res = Object.assign({}, ans);
            delete res.ok; delete res.id; delete res.v;
            resolve(res);
            return;
          }
          const e = (ans && ans.error) || {};
          reject(new StoreError(e.code || 'unavailable', e.message || 'refused', e.details));
        },
      };
      p.timer = setTimeout(() => p.settle(new StoreError('no_answer', 'no answer from the store')), timeoutMs);
      const prev = this._pending.get(reqId);
      if (prev) prev.settle(new StoreError('no_answer', 'replaced by a repeat'));
      this._pending.set(reqId, p);
      if (this._status === 'online') this._publish(p);
    });
  }

  // subscribe adds handler for filter (QoS 1) and resolves with a function
  // that removes it. Made again after every reconnect.
  subscribe(filter, handler) {
    let set = this._subs.get(filter);
    const fresh = !set;
    if (fresh) { set = new Set(); this._subs.set(filter, set); }
    set.add(handler);
    const unsubscribe = () => {
      const s = this._subs.get(filter);
      if (!s) return;
      s.delete(handler);
      if (s.size === 0) {
        this._subs.delete(filter);
        if (this._client && this._client.connected) this._client.unsubscribe(filter);
      }
    };
    const client = this._client;
    if (!fresh || !client || !client.connected) return Promise.resolve(unsubscribe);
    return new Promise((resolve, reject) => {
      client.subscribe(filter, { qos: 1 }, (err, granted) => {
        if (err) { resolve(unsubscribe); return; } // the connection dropped: made on reconnect
        if (granted && granted[0] && granted[0].qos >= 128) {
          unsubscribe();
          reject(new StoreError('forbidden', 'not allowed to subscribe to ' + filter));
          return;
        }
        resolve(unsubscribe);
      });
    });
  }

  // publish sends obj as JSON on topic (QoS 1) when the link is up, and
  // says whether it did: for messages that are not requests, such as a
  // camera session's signaling, which make no sense to hold for later.
  publish(topic, obj, { qos = 1 } = {}) {
    const client = this._client;
    if (!client || !client.connected) return false;
    client.publish(topic, JSON.stringify(obj), { qos });
    return true;
  }

  // close ends the link for good; calls still waiting fail with 'closed'.
  // With flush, messages already published (a camera session's bye) are
  // delivered before the connection closes, if it is up.
  close({ flush = false } = {}) {
    this._closed = true;
    for (const p of [...this._pending.values()]) p.settle(new StoreError('closed', 'the link is closed'));
    if (this._client) this._client.end(!(flush && this._client.connected));
    this._setStatus('offline');
  }
}

// ---- outbox -----------------------------------------------------------

// Outbox keeps what was typed while the link was down, in localStorage
// (it survives a reload), oldest first. Each item keeps the id it gets
// here: sending it again after a drop is then a repeat the broker ignores.
export class Outbox {
  constructor(key) {
    this.key = key;
    this._mem = []; // when storage is off (private mode, full)
  }

  _load() {
    try {
      const s = localStorage.getItem(this.key);
      return s ? JSON.parse(s) : [];
    } catch (e) {
      return this._mem.slice();
    }
  }

  _save(list) {
    this._mem = list.slice();
    try { localStorage.setItem(this.key, JSON.stringify(list)); } catch (e) { /* kept in memory */ }
  }

  add(item) {
    const it = Object.assign({}, item);
    if (!it.id) it.id = newId();
    const list = this._load();
    list.push(it);
    this._save(list);
    return it;
  }

  items() { return this._load(); }

  remove(id) { this._save(this._load().filter((it) => it.id !== id)); }
}
