// Live video from the broker's camera relay over a StoreLink
// (PROTOCOL.md, "Cameras", viewer side): svc/camera/watch, then the
// WebRTC offer/answer and candidates on the session's signal topic.
//
//   const v = watchLive(link, { booking: 'bk-…' }, videoElement, (state, info) => …);
//   v.stop();
//
// state: 'opening' | 'negotiating' | 'live' | 'unstable' | 'ended' | 'error';
// info: the watch answer ('negotiating'), {reason} ('ended': the relay's
// bye reason or 'stopped'), {code} ('error': the watch error's code,
// 'webrtc', 'timeout' or 'unsupported').

const PEER_GRACE = 5000; // past the session's expires_in_ms

export function watchLive(link, target, video, onState) {
  let closed = false;
  let pc = null;
  let topic = null;
  let unsub = null;
  let answered = false;
  let timer = null;
  const early = [];
  const report = (s, info) => { if (!closed || s === 'ended' || s === 'error') onState(s, info || {}); };

  const signal = (obj) => {
    if (closed || !topic) return;
    link.publish(topic, Object.assign({ v: 1, from: link.clientId }, obj));
  };

  const teardown = (hangup) => {
    if (closed) return;
    if (hangup) signal({ type: 'bye', reason: 'closed' });
    closed = true;
    clearTimeout(timer);
    if (pc) pc.close();
    if (unsub) unsub();
    video.srcObject = null;
  };

  const fail = (code) => { teardown(true); onState('error', { code }); };
  const end = (reason) => { teardown(reason === 'stopped'); onState('ended', { reason }); };

  const addCandidate = async (c) => {
    try { await pc.addIceCandidate(c); } catch (e) { /* one bad candidate need not end the session */ }
  };

  const onSignal = async (msg) => {
    if (closed || !msg || msg.from === link.clientId) return; // our own, echoed back
    try {
      if (msg.type === 'answer') {
        if (answered) return; // QoS 1: it may come twice
        answered = true;
        await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
        for (const c of early.splice(0)) await addCandidate(c);
      } else if (msg.type === 'candidate') {
        if (!msg.candidate || !msg.candidate.candidate) return;
        if (!pc.remoteDescription) early.push(msg.candidate);
        else await addCandidate(msg.candidate);
      } else if (msg.type === 'bye') {
        end(msg.reason || 'other');
      }
    } catch (e) {
      fail('webrtc');
    }
  };

  (async () => {
    // Callbacks start after watchLive has returned its handle, so the
    // caller may compare it with the one it holds.
    await null;
    if (!globalThis.RTCPeerConnection) { fail('unsupported'); return; }
    report('opening');
    let ans;
    try {
      ans = await link.call('camera', 'watch', target);
    } catch (e) {
      fail(e.code || 'generic');
      return;
    }
    if (closed) return;
    topic = ans.topic;
    unsub = await link.subscribe(topic, (t, msg) => onSignal(msg));
    if (closed) { unsub(); return; }
    report('negotiating', ans);
    pc = new RTCPeerConnection({ iceServers: Array.isArray(ans.ice_servers) ? ans.ice_servers : [] });
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.ontrack = (e) => {
      video.srcObject = e.streams && e.streams[0] ? e.streams[0] : new MediaStream([e.track]);
      video.play().catch(() => { /* muted autoplay is allowed */ });
    };
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) signal({ type: 'candidate', candidate: e.candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => {
      if (closed) return;
      if (pc.connectionState === 'connected') { clearTimeout(timer); report('live', ans); }
      else if (pc.connectionState === 'disconnected') report('unstable');
      else if (pc.connectionState === 'failed') fail('webrtc');
    };
    const limit = (Number(ans.expires_in_ms) > 0 ? Number(ans.expires_in_ms) : 15000) + PEER_GRACE;
    timer = setTimeout(() => { if (!closed && pc.connectionState !== 'connected') fail('timeout'); }, limit);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    signal({ type: 'offer', sdp: pc.localDescription.sdp });
  })().catch((e) => fail((e && e.code) || 'webrtc'));

  return { stop: () => end('stopped') };
}
