// Photos and voice notes through the media service (PROTOCOL.md, "Media"):
// upload in chunks that survive a dropped connection, read back in
// pieces, and shrink a photo before it goes.

import { newId, StoreError } from './store.js';

// ---- SHA-256 ----------------------------------------------------------

// crypto.subtle exists only in secure contexts (https, localhost); a phone
// on the shop's Wi-Fi opens the page over plain http, so there is a small
// implementation of our own to fall back on.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export function sha256Fallback(bytes) {
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const len = bytes.length;
  // The message, a 1 bit, zeros, and the length in bits (64-bit big-endian).
  const total = Math.ceil((len + 9) / 64) * 64;
  const m = new Uint8Array(total);
  m.set(bytes);
  m[len] = 0x80;
  const dv = new DataView(m.buffer);
  dv.setUint32(total - 8, Math.floor(len / 0x20000000), false);
  dv.setUint32(total - 4, (len * 8) >>> 0, false);
  const w = new Uint32Array(64);
  for (let off = 0; off < total; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = dv.getUint32(off + i * 4, false);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15], b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, '0')).join('');
}

export async function sha256Hex(bytes) {
  if (globalThis.crypto && crypto.subtle) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
  }
  return sha256Fallback(bytes);
}

// ---- base64 -----------------------------------------------------------

function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(b64) {
  const s = atob(b64 || '');
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// ---- upload -----------------------------------------------------------

// uploadBlob stores blob with the media service and resolves with the
// blob's fields (hash, type, size, width, height, thumbnail, duration_ms).
// type is the MIME type without parameters ("audio/webm;codecs=opus" is
// sent as audio/webm: the store matches types exactly). A chunk that goes
// out twice after a reconnect is stored once.
export async function uploadBlob(link, blob, { type, name, durationMs } = {}) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const mime = String(type || blob.type || 'application/octet-stream').split(';')[0].trim().toLowerCase();
  const upload = newId();
  const decl = { upload, type: mime, size: bytes.length, sha256: await sha256Hex(bytes) };
  if (name) decl.name = String(name).slice(0, 200);
  if (durationMs != null && /^(audio|video)\//.test(mime)) decl.duration_ms = Math.max(0, Math.round(durationMs));

  let state = await link.call('media', 'begin', decl);
  for (let round = 0; round < 3 && !state.complete; round++) {
    const size = state.chunk_bytes;
    for (const index of state.missing || []) {
      const part = bytes.subarray(index * size, Math.min(bytes.length, (index + 1) * size));
      await link.call('media', 'chunk', { upload, index, data: toBase64(part) }, { timeoutMs: 60000 });
    }
    try {
      return await link.call('media', 'complete', { upload }, { timeoutMs: 60000 });
    } catch (e) {
      // Chunks missing (a drop at the wrong moment): ask what is missing,
      // send it, complete with a new request id. Anything else is final.
      if (!(e instanceof StoreError) || e.code !== 'conflict') throw e;
      state = await link.call('media', 'status', { upload });
      if (state.complete) break;
    }
  }
  return link.call('media', 'complete', { upload }, { timeoutMs: 60000 });
}

// ---- download ---------------------------------------------------------

const urls = new Map(); // hash -> Promise of an object URL

// blobURL reads a blob in pieces (svc/media/get) and resolves with an
// object URL for it; each blob is read once per page.
export function blobURL(link, hash, type) {
  const key = hash + '|' + (type || '');
  let p = urls.get(key);
  if (!p) {
    p = (async () => {
      const parts = [];
      let offset = 0;
      for (;;) {
        const ans = await link.call('media', 'get', { hash, offset });
        const data = fromBase64(ans.data);
        parts.push(data);
        offset += data.length;
        if (ans.eof || data.length === 0) break;
      }
      return URL.createObjectURL(new Blob(parts, { type: type || 'application/octet-stream' }));
    })();
    p.catch(() => urls.delete(key)); // a failed read may be tried again
    urls.set(key, p);
  }
  return p;
}

// ---- photos -----------------------------------------------------------

async function decodeImage(file) {
  if (globalThis.createImageBitmap) {
    try {
      return await createImageBitmap(file, { imageOrientation: 'from-image' });
    } catch (e) { /* an older browser: the <img> way below */ }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

// resizeImage draws the photo into a canvas at most maxSide pixels on its
// longer side and resolves with a JPEG: a phone's 12-megapixel photo
// becomes a few hundred KB, a couple of chunks on the shop's Wi-Fi.
export async function resizeImage(file, maxSide = 1600, quality = 0.85) {
  const img = await decodeImage(file);
  const w0 = img.width || img.naturalWidth, h0 = img.height || img.naturalHeight;
  const scale = Math.min(1, maxSide / Math.max(w0, h0));
  const w = Math.max(1, Math.round(w0 * scale)), h = Math.max(1, Math.round(h0 * scale));
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff'; // a transparent PNG gets white, not black, behind it
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(img, 0, 0, w, h);
  if (img.close) img.close();
  return new Promise((resolve, reject) => {
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the photo could not be converted'))), 'image/jpeg', quality);
  });
}
