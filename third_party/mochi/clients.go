// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: mochi-co

package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/xid"

	"github.com/mochi-mqtt/server/v2/packets"
)

const (
	defaultKeepalive             uint16 = 10 // the default connection keepalive value in seconds.
	defaultClientProtocolVersion byte   = 4  // the default mqtt protocol version of connecting clients (if somehow unspecified).
	minimumKeepalive             uint16 = 5  // the minimum recommended keepalive - values under with display a warning.
)

var (
	ErrMinimumKeepalive = errors.New("client keepalive is below minimum recommended value and may exhibit connection instability")
)

// ReadFn is the function signature for the function used for reading and processing new packets.
type ReadFn func(*Client, packets.Packet) error

// Clients contains a map of the clients known by the broker.
type Clients struct {
	internal map[string]*Client // clients known by the broker, keyed on client id.
	sync.RWMutex
}

// NewClients returns an instance of Clients.
func NewClients() *Clients {
	return &Clients{
		internal: make(map[string]*Client),
	}
}

// Add adds a new client to the clients map, keyed on client id.
func (cl *Clients) Add(val *Client) {
	cl.Lock()
	defer cl.Unlock()
	cl.internal[val.ID] = val
}

// GetAll returns all the clients.
func (cl *Clients) GetAll() map[string]*Client {
	cl.RLock()
	defer cl.RUnlock()
	m := map[string]*Client{}
	for k, v := range cl.internal {
		m[k] = v
	}
	return m
}

// Get returns the value of a client if it exists.
func (cl *Clients) Get(id string) (*Client, bool) {
	cl.RLock()
	defer cl.RUnlock()
	val, ok := cl.internal[id]
	return val, ok
}

// Len returns the length of the clients map.
func (cl *Clients) Len() int {
	cl.RLock()
	defer cl.RUnlock()
	val := len(cl.internal)
	return val
}

// Delete removes a client from the internal map.
func (cl *Clients) Delete(id string) {
	cl.Lock()
	defer cl.Unlock()
	delete(cl.internal, id)
}

// DeleteClient removes cl, but not another client that has since taken its
// id (storeedge: a connection ending must not remove its successor).
func (cl *Clients) DeleteClient(c *Client) {
	cl.Lock()
	defer cl.Unlock()
	if cl.internal[c.ID] == c {
		delete(cl.internal, c.ID)
	}
}

// GetByListener returns clients matching a listener id.
func (cl *Clients) GetByListener(id string) []*Client {
	cl.RLock()
	defer cl.RUnlock()
	clients := make([]*Client, 0, cl.Len())
	for _, client := range cl.internal {
		if client.Net.Listener == id && !client.Closed() {
			clients = append(clients, client)
		}
	}
	return clients
}

// Client contains information about a client known by the broker.
type Client struct {
	Properties   ClientProperties // client properties
	State        ClientState      // the operational state of the client.
	Net          ClientConnection // network connection state of the client
	ID           string           // the client id.
	ops          *ops             // ops provides a reference to server ops.
	sync.RWMutex                  // mutex
}

// ClientConnection contains the connection transport and metadata for the client.
type ClientConnection struct {
	Conn     net.Conn      // the net.Conn used to establish the connection
	bconn    *bufio.Reader // a buffered net.Conn for reading packets
	outbuf   *bytes.Buffer // a buffer for writing packets
	writeMu  sync.Mutex    // storeedge: held while writing, apart from the client lock, so a blocked socket never blocks NextPacketID in a publisher's goroutine
	Remote   string        // the remote address of the client
	Listener string        // listener id of the client
	Inline   bool          // if true, the client is the built-in 'inline' embedded client
}

// ClientProperties contains the properties which define the client behaviour.
type ClientProperties struct {
	Props           packets.Properties
	Will            Will
	Username        []byte
	ProtocolVersion byte
	Clean           bool
}

// Will contains the last will and testament details for a client connection.
type Will struct {
	Payload           []byte                 // -
	User              []packets.UserProperty // -
	TopicName         string                 // -
	Flag              uint32                 // 0,1
	WillDelayInterval uint32                 // -
	Qos               byte                   // -
	Retain            bool                   // -
}

// ClientState tracks the state of the client.
type ClientState struct {
	TopicAliases    TopicAliases       // a map of topic aliases
	stopCause       atomic.Value       // reason for stopping
	Inflight        *Inflight          // a map of in-flight qos messages the server sent (and the flow-control quotas)
	Inbound         *Inflight          // storeedge: QoS 2 flows the client started, by the client's packet ids (a separate id space [MQTT-2.2.1-3])
	Subscriptions   *Subscriptions     // a map of the subscription filters a client maintains
	disconnected    int64              // the time the client disconnected in unix time, for calculating expiry
	out             outQueue           // packets waiting for the write loop (storeedge: replaces a fixed channel)
	pumpMu          sync.Mutex         // serialises moving deferred publishes to out
	closing         atomic.Bool        // a DISCONNECT is queued; nothing else is queued after it
	ready           atomic.Bool        // CONNACK sent and the session's resend queued: the write loop may start
	endOnce         sync.Once          // only end once
	isTakenOver     atomic.Bool        // used to identify orphaned clients
	takingOver      atomic.Bool        // storeedge: a newer connection is taking this session over (set before it is stopped)
	packetID        uint32             // the current highest packetID
	open            context.Context    // indicate that the client is open for packet exchange
	cancelOpen      context.CancelFunc // cancel function for open context
	outboundQty     int32              // number of packets currently in the outbound queue
	Keepalive       uint16             // the number of seconds the connection can wait
	ServerKeepalive bool               // keepalive was set by the server
}

// newClient returns a new instance of Client. This is almost exclusively used by Server
// for creating new clients, but it lives here because it's not dependent.
func newClient(c net.Conn, o *ops) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	cl := &Client{
		State: ClientState{
			Inflight:      NewInflights(),
			Inbound:       NewInflights(),
			Subscriptions: NewSubscriptions(),
			TopicAliases:  NewTopicAliases(o.options.Capabilities.TopicAliasMaximum),
			open:          ctx,
			cancelOpen:    cancel,
			Keepalive:     defaultKeepalive,
			out:           outQueue{signal: make(chan struct{}, 1), last: time.Now()},
		},
		Properties: ClientProperties{
			ProtocolVersion: defaultClientProtocolVersion, // default protocol version
		},
		ops: o,
	}

	if c != nil {
		cl.Net = ClientConnection{
			Conn:   c,
			bconn:  bufio.NewReaderSize(c, o.options.ClientNetReadBufferSize),
			Remote: c.RemoteAddr().String(),
		}
	}

	return cl
}

// WriteLoop ranges over pending outbound messages and writes them to the client connection.
// storeedge: after each write it moves deferred publishes into the queue as the
// client's send quota and send buffer allow, and a queued DISCONNECT ends the
// connection once written.
func (cl *Client) WriteLoop() {
	for {
		select {
		case <-cl.State.out.signal:
		case <-cl.State.open.Done():
			return
		}
		for cl.State.ready.Load() {
			pk, size := cl.State.out.pop()
			if pk == nil {
				break
			}
			err := cl.WritePacket(*pk)
			atomic.AddInt32(&cl.State.outboundQty, -1)
			cl.State.out.wrote(size)
			if err != nil {
				cl.ops.log.Debug("failed publishing packet", "error", err, "client", cl.ID, "packet", pk)
			}
			if pk.FixedHeader.Type == packets.Disconnect {
				cl.closeAfterDisconnect(packets.Code{Code: pk.ReasonCode, Reason: pk.Properties.ReasonString})
				return
			}
			cl.Pump()
		}
	}
}

// sendBufferBytes is the send buffer of a client: what the write loop may
// hold for it before QoS 0 publishes are dropped and QoS 1/2 wait.
func (cl *Client) sendBufferBytes() int64 {
	if n := cl.ops.options.Capabilities.MaximumClientWriteBytes; n > 0 {
		return n
	}
	return defaultClientWriteBytes
}

// defaultClientWriteBytes is the send buffer when Capabilities.MaximumClientWriteBytes is 0.
const defaultClientWriteBytes = 1 << 20

// Pump moves deferred QoS 1/2 publishes, oldest first, to the write loop while
// the client has send quota (its Receive Maximum, [MQTT-3.3.4-9]) and its send
// buffer has room.
func (cl *Client) Pump() {
	cl.State.pumpMu.Lock()
	defer cl.State.pumpMu.Unlock()
	if !cl.State.ready.Load() || !cl.State.Inflight.HasDeferred() {
		return
	}
	limit := cl.sendBufferBytes()
	for !cl.Closed() && !cl.State.closing.Load() {
		if q, _ := cl.State.Inflight.SendQuota(); q <= 0 {
			return
		}
		if cl.State.out.size() >= limit {
			return
		}
		pk, ok := cl.State.Inflight.NextImmediate()
		if !ok {
			return
		}
		cl.State.Inflight.DecreaseSendQuota()
		cl.State.out.push(&pk, packetSize(pk))
		atomic.AddInt32(&cl.State.outboundQty, 1)
	}
}

// stallWindow is how long a client's writes may make no progress before it
// counts as stalled rather than busy.
const stallWindow = 500 * time.Millisecond

// enqueueQos0 queues a QoS 0 publish unless the send buffer is full. When it
// is full but the client is still reading (a write finished within
// stallWindow), the caller — the publisher's goroutine — waits for room, as
// TCP would make it wait: a healthy reader that is merely behind a burst loses
// nothing. A stalled client's messages are dropped at once, so it slows
// nobody (after at most one stallWindow when it stops).
func (cl *Client) enqueueQos0(pk *packets.Packet) bool {
	size := packetSize(*pk)
	limit := cl.sendBufferBytes()
	for {
		if cl.State.closing.Load() || cl.Closed() {
			return false
		}
		room, progressed := cl.State.out.pushIfRoom(pk, size, limit)
		if room {
			atomic.AddInt32(&cl.State.outboundQty, 1)
			return true
		}
		wait := stallWindow - time.Since(progressed)
		if wait <= 0 {
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-cl.State.out.progressed():
		case <-t.C:
		case <-cl.State.open.Done():
		}
		t.Stop()
	}
}

// CloseAfterWrites ends the connection with a DISCONNECT written after the
// packet being written now; queued packets are discarded (QoS 1/2 ones stay in
// the session). The socket gets a write deadline, so a client that does not
// read at all is closed after the grace (Options.SlowClientGrace) rather than
// never. It reports false when the client was being closed already.
func (cl *Client) CloseAfterWrites(code packets.Code) bool {
	if !cl.State.closing.CompareAndSwap(false, true) {
		return false
	}
	grace := cl.slowClientGrace()
	dropped, qos0 := cl.State.out.replace(&packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
		ReasonCode:  code.Code,
		Properties:  packets.Properties{ReasonString: code.Reason},
	})
	atomic.AddInt32(&cl.State.outboundQty, int32(1-dropped))
	// QoS 1/2 ones stay in the session; the QoS 0 ones are gone: count them.
	atomic.AddInt64(&cl.ops.info.MessagesDropped, int64(qos0))
	if cl.Net.Conn != nil {
		_ = cl.Net.Conn.SetWriteDeadline(time.Now().Add(grace))
	}
	// Not every connection unblocks a write already under way at its new
	// deadline (a WebSocket applies it to the next write): close it then.
	time.AfterFunc(grace, func() { cl.Stop(code) })
	return true
}

// slowClientGrace is Options.SlowClientGrace or its default.
func (cl *Client) slowClientGrace() time.Duration {
	if g := cl.ops.options.SlowClientGrace; g > 0 {
		return g
	}
	return 5 * time.Second
}

// closeAfterDisconnect ends the connection once the DISCONNECT is written. A
// TCP or TLS connection is half-closed first and read on until the client
// closes it or the grace passes (its last acknowledgements are processed):
// closing a socket with unread input sends a reset, and a reset makes the
// client's kernel throw away what it has not read yet, the DISCONNECT
// included.
func (cl *Client) closeAfterDisconnect(code packets.Code) {
	cw, ok := cl.Net.Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		cl.Stop(code)
		return
	}
	// The read loop ends the client when the client closes its side; the
	// first Stop decides the cause (stopCause holds one concrete type).
	time.AfterFunc(cl.slowClientGrace(), func() { cl.Stop(code) })
}

// SetReady lets the write loop start once the CONNACK is sent and the
// session's unacknowledged messages are queued first (storeedge: upstream's
// write loop could send a message fanned out to a returning client before its
// CONNACK, or before the resend of an older one).
func (cl *Client) SetReady() {
	cl.State.ready.Store(true)
	cl.State.out.wake()
	cl.Pump()
}

// packetSize estimates the bytes a publish takes on the wire.
func packetSize(pk packets.Packet) int64 {
	n := int64(len(pk.TopicName) + len(pk.Payload) + 16)
	for _, u := range pk.Properties.User {
		n += int64(len(u.Key) + len(u.Val) + 5)
	}
	return n + int64(len(pk.Properties.CorrelationData)+len(pk.Properties.ResponseTopic)+len(pk.Properties.ContentType))
}

// outQueue is a client's write queue: unbounded by count, bounded by the bytes
// its callers admit (pushIfRoom, Pump), so one stalled client holds at most its
// send buffer and never blocks the goroutine that fans out to it.
type outQueue struct {
	mu     sync.Mutex
	pkts   []*packets.Packet
	sizes  []int64
	head   int
	bytes  int64
	signal chan struct{} // wakes the write loop
	last   time.Time     // when a write last finished
	moved  chan struct{} // closed (and replaced) when a write finishes, for waiting publishers
}

func (q *outQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *outQueue) push(pk *packets.Packet, size int64) {
	q.mu.Lock()
	q.pkts = append(q.pkts, pk)
	q.sizes = append(q.sizes, size)
	q.bytes += size
	q.mu.Unlock()
	q.wake()
}

// pushIfRoom queues pk if it fits under limit; otherwise it reports when the
// last write finished.
func (q *outQueue) pushIfRoom(pk *packets.Packet, size, limit int64) (bool, time.Time) {
	q.mu.Lock()
	if q.bytes > 0 && q.bytes+size > limit {
		last := q.last
		q.mu.Unlock()
		return false, last
	}
	q.pkts = append(q.pkts, pk)
	q.sizes = append(q.sizes, size)
	q.bytes += size
	q.mu.Unlock()
	q.wake()
	return true, time.Time{}
}

// progressed returns a channel closed when the next write finishes.
func (q *outQueue) progressed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.moved == nil {
		q.moved = make(chan struct{})
	}
	return q.moved
}

// pop takes the oldest packet; its bytes stay counted until wrote.
func (q *outQueue) pop() (*packets.Packet, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.pkts) {
		return nil, 0
	}
	pk, size := q.pkts[q.head], q.sizes[q.head]
	q.pkts[q.head] = nil
	q.head++
	if q.head == len(q.pkts) {
		q.pkts, q.sizes, q.head = q.pkts[:0], q.sizes[:0], 0
	}
	return pk, size
}

func (q *outQueue) wrote(size int64) {
	q.mu.Lock()
	q.bytes -= size
	q.last = time.Now()
	if q.moved != nil {
		close(q.moved)
		q.moved = nil
	}
	q.mu.Unlock()
}

func (q *outQueue) size() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func (q *outQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pkts) - q.head
}

// replace discards what waits and queues pk alone; it returns how many
// packets were discarded, and how many of them were QoS 0 publishes.
func (q *outQueue) replace(pk *packets.Packet) (n, qos0 int) {
	q.mu.Lock()
	n = len(q.pkts) - q.head
	for i := q.head; i < len(q.pkts); i++ {
		q.bytes -= q.sizes[i]
		if p := q.pkts[i]; p.FixedHeader.Type == packets.Publish && p.FixedHeader.Qos == 0 {
			qos0++
		}
	}
	q.pkts, q.sizes, q.head = []*packets.Packet{pk}, []int64{0}, 0
	q.mu.Unlock()
	q.wake()
	return n, qos0
}

// ParseConnect parses the connect parameters and properties for a client.
func (cl *Client) ParseConnect(lid string, pk packets.Packet) {
	cl.Net.Listener = lid

	cl.Properties.ProtocolVersion = pk.ProtocolVersion
	cl.Properties.Username = pk.Connect.Username
	cl.Properties.Clean = pk.Connect.Clean
	cl.Properties.Props = pk.Properties.Copy(false)

	if cl.Properties.Props.ReceiveMaximum > cl.ops.options.Capabilities.MaximumInflight { // 3.3.4 Non-normative
		cl.Properties.Props.ReceiveMaximum = cl.ops.options.Capabilities.MaximumInflight
	}

	if pk.Connect.Keepalive <= minimumKeepalive {
		cl.ops.log.Warn(
			ErrMinimumKeepalive.Error(),
			"client", cl.ID,
			"keepalive", pk.Connect.Keepalive,
			"recommended", minimumKeepalive,
		)
	}

	cl.State.Keepalive = pk.Connect.Keepalive                                              // [MQTT-3.2.2-22]
	cl.State.Inflight.ResetReceiveQuota(int32(cl.ops.options.Capabilities.ReceiveMaximum)) // server receive max per client
	cl.State.Inflight.ResetSendQuota(int32(cl.sendQuota()))                                // client receive max
	cl.State.TopicAliases.Outbound = NewOutboundTopicAliases(cl.Properties.Props.TopicAliasMaximum)

	cl.ID = pk.Connect.ClientIdentifier
	if cl.ID == "" {
		cl.ID = xid.New().String() // [MQTT-3.1.3-6] [MQTT-3.1.3-7]
		cl.Properties.Props.AssignedClientID = cl.ID
	}

	if pk.Connect.WillFlag {
		cl.Properties.Will = Will{
			Qos:               pk.Connect.WillQos,
			Retain:            pk.Connect.WillRetain,
			Payload:           pk.Connect.WillPayload,
			TopicName:         pk.Connect.WillTopic,
			WillDelayInterval: pk.Connect.WillProperties.WillDelayInterval,
			User:              pk.Connect.WillProperties.User,
		}
		if pk.Properties.SessionExpiryIntervalFlag &&
			pk.Properties.SessionExpiryInterval < pk.Connect.WillProperties.WillDelayInterval {
			cl.Properties.Will.WillDelayInterval = pk.Properties.SessionExpiryInterval
		}
		if pk.Connect.WillFlag {
			cl.Properties.Will.Flag = 1 // atomic for checking
		}
	}
}

// sendQuota is how many QoS 1/2 publishes may await the client's acknowledgement
// ([MQTT-3.3.4-9]): its Receive Maximum; 65535 when an MQTT 5 client sends none
// (3.1.2.11.3); the server's own Receive Maximum for MQTT 3 clients, which have
// no way to say. Never more than the inflight store holds.
func (cl *Client) sendQuota() uint16 {
	caps := cl.ops.options.Capabilities
	n := cl.Properties.Props.ReceiveMaximum
	if n == 0 {
		n = math.MaxUint16
		if cl.Properties.ProtocolVersion < 5 && caps.ReceiveMaximum > 0 {
			n = caps.ReceiveMaximum
		}
	}
	if caps.MaximumInflight > 0 && n > caps.MaximumInflight {
		n = caps.MaximumInflight
	}
	return n
}

// refreshDeadline refreshes the read/write deadline for the net.Conn connection.
func (cl *Client) refreshDeadline(keepalive uint16) {
	var expiry time.Time // nil time can be used to disable deadline if keepalive = 0
	if keepalive > 0 {
		expiry = time.Now().Add(time.Duration(keepalive+(keepalive/2)) * time.Second) // [MQTT-3.1.2-22]
	}

	if cl.Net.Conn != nil {
		_ = cl.Net.Conn.SetDeadline(expiry) // [MQTT-3.1.2-22]
	}
}

// NextPacketID returns the next available (unused) packet id for the client.
// If no unused packet ids are available, an error is returned and the client
// should be disconnected.
func (cl *Client) NextPacketID() (i uint32, err error) {
	cl.Lock()
	defer cl.Unlock()

	i = atomic.LoadUint32(&cl.State.packetID)
	started := i
	overflowed := false
	for {
		if overflowed && i == started {
			return 0, packets.ErrQuotaExceeded
		}

		if i >= cl.ops.options.Capabilities.maximumPacketID {
			overflowed = true
			i = 0
			continue
		}

		i++

		if _, ok := cl.State.Inflight.Get(uint16(i)); !ok {
			atomic.StoreUint32(&cl.State.packetID, i)
			return i, nil
		}
	}
}

// ResendInflightMessages attempts to resend any pending inflight messages to connected clients.
func (cl *Client) ResendInflightMessages(force bool) error {
	if cl.State.Inflight.Len() == 0 {
		return nil
	}

	// storeedge: every publish joins the session's queue in the order it was
	// first queued — those sent on an earlier connection with DUP set, and
	// any fanned out to the client since it came back after them — and goes
	// out as the client's send quota allows ([MQTT-3.3.4-9]); upstream wrote
	// them all at once, racing newer messages. Other packets (PUBREL) are
	// written now.
	cl.State.Inflight.ResetDeferred()
	for _, tk := range cl.State.Inflight.GetAll(false) {
		cl.ops.hooks.OnQosPublish(cl, tk, tk.Created, 0)
		if tk.FixedHeader.Type == packets.Publish {
			if cl.State.Inflight.WasInherited(tk.PacketID) && !tk.FixedHeader.Dup {
				tk.FixedHeader.Dup = true // [MQTT-3.3.1-1] [MQTT-3.3.1-3]
				cl.State.Inflight.Set(tk)
			}
			cl.State.Inflight.Defer(tk.PacketID)
			continue
		}

		err := cl.WritePacket(tk)
		if err != nil {
			return err
		}

		if tk.FixedHeader.Type == packets.Puback || tk.FixedHeader.Type == packets.Pubcomp {
			if ok := cl.State.Inflight.Delete(tk.PacketID); ok {
				cl.ops.hooks.OnQosComplete(cl, tk)
				atomic.AddInt64(&cl.ops.info.Inflight, -1)
			}
		}
	}

	return nil
}

// ClearInflights deletes all inflight messages for the client, e.g. for a disconnected user with a clean session.
func (cl *Client) ClearInflights() {
	for _, tk := range cl.State.Inflight.GetAll(false) {
		if ok := cl.State.Inflight.Delete(tk.PacketID); ok {
			cl.ops.hooks.OnQosDropped(cl, tk)
			atomic.AddInt64(&cl.ops.info.Inflight, -1)
		}
	}
	for _, tk := range cl.State.Inbound.GetAll(false) {
		if ok := cl.State.Inbound.Delete(tk.PacketID); ok {
			atomic.AddInt64(&cl.ops.info.Inflight, -1)
		}
	}
}

// ClearExpiredInflights deletes any inflight messages which have expired.
func (cl *Client) ClearExpiredInflights(now, maximumExpiry int64) []uint16 {
	deleted := []uint16{}
	for _, tk := range cl.State.Inflight.GetAll(false) {
		expired := tk.ProtocolVersion == 5 && tk.Expiry > 0 && tk.Expiry < now // [MQTT-3.3.2-5]

		// If the maximum message expiry interval is set (greater than 0), and the message
		// retention period exceeds the maximum expiry, the message will be forcibly removed.
		enforced := maximumExpiry > 0 && now-tk.Created > maximumExpiry

		if expired || enforced {
			if ok := cl.State.Inflight.Delete(tk.PacketID); ok {
				cl.ops.hooks.OnQosDropped(cl, tk)
				atomic.AddInt64(&cl.ops.info.Inflight, -1)
				deleted = append(deleted, tk.PacketID)
			}
		}
	}

	return deleted
}

// Read reads incoming packets from the connected client and transforms them into
// packets to be handled by the packetHandler.
func (cl *Client) Read(packetHandler ReadFn) error {
	var err error

	for {
		if cl.Closed() {
			return nil
		}

		cl.refreshDeadline(cl.State.Keepalive)
		fh := new(packets.FixedHeader)
		err = cl.ReadFixedHeader(fh)
		if err != nil {
			return err
		}

		pk, err := cl.ReadPacket(fh)
		if err != nil {
			return err
		}

		err = packetHandler(cl, pk) // Process inbound packet.
		if err != nil {
			return err
		}
	}
}

// Stop instructs the client to shut down all processing goroutines and disconnect.
func (cl *Client) Stop(err error) {
	cl.State.endOnce.Do(func() {

		if cl.Net.Conn != nil {
			_ = cl.Net.Conn.Close() // omit close error
		}

		if err != nil {
			cl.State.stopCause.Store(err)
		}

		if cl.State.cancelOpen != nil {
			cl.State.cancelOpen()
		}

		atomic.StoreInt64(&cl.State.disconnected, time.Now().Unix())
	})
}

// StopCause returns the reason the client connection was stopped, if any.
func (cl *Client) StopCause() error {
	if cl.State.stopCause.Load() == nil {
		return nil
	}
	return cl.State.stopCause.Load().(error)
}

// StopTime returns the the time the client disconnected in unix time, else zero.
func (cl *Client) StopTime() int64 {
	return atomic.LoadInt64(&cl.State.disconnected)
}

// Closed returns true if client connection is closed.
func (cl *Client) Closed() bool {
	return cl.State.open == nil || cl.State.open.Err() != nil
}

func (cl *Client) IsTakenOver() bool {
	return cl.State.isTakenOver.Load()
}

// ReadFixedHeader reads in the values of the next packet's fixed header.
func (cl *Client) ReadFixedHeader(fh *packets.FixedHeader) error {
	if cl.Net.bconn == nil {
		return ErrConnectionClosed
	}

	b, err := cl.Net.bconn.ReadByte()
	if err != nil {
		return err
	}

	err = fh.Decode(b)
	if err != nil {
		return err
	}

	var bu int
	fh.Remaining, bu, err = packets.DecodeLength(cl.Net.bconn)
	if err != nil {
		return err
	}

	if cl.ops.options.Capabilities.MaximumPacketSize > 0 && uint32(fh.Remaining+1) > cl.ops.options.Capabilities.MaximumPacketSize {
		return packets.ErrPacketTooLarge // [MQTT-3.2.2-15]
	}

	atomic.AddInt64(&cl.ops.info.BytesReceived, int64(bu+1))
	return nil
}

// initialReadAlloc is the most ReadPacket allocates before a packet's bytes arrive.
const initialReadAlloc = 64 * 1024

// ReadPacket reads the remaining buffer into an MQTT packet.
func (cl *Client) ReadPacket(fh *packets.FixedHeader) (pk packets.Packet, err error) {
	atomic.AddInt64(&cl.ops.info.PacketsReceived, 1)

	pk.ProtocolVersion = cl.Properties.ProtocolVersion // inherit client protocol version for decoding
	pk.FixedHeader = *fh
	// storeedge: a packet larger than initialReadAlloc is read into a buffer
	// that grows with the bytes that arrive, so a claimed length costs
	// nothing until it is sent (upstream allocated it at once).
	var p []byte
	var n int
	if fh.Remaining <= initialReadAlloc {
		p = make([]byte, fh.Remaining)
		n, err = io.ReadFull(cl.Net.bconn, p)
	} else {
		var rb bytes.Buffer
		rb.Grow(initialReadAlloc)
		var n64 int64
		n64, err = io.CopyN(&rb, cl.Net.bconn, int64(fh.Remaining))
		n, p = int(n64), rb.Bytes()
		if errors.Is(err, io.EOF) && n > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil {
		return pk, err
	}

	atomic.AddInt64(&cl.ops.info.BytesReceived, int64(n))

	// Decode the remaining packet values using a fresh copy of the bytes,
	// otherwise the next packet will change the data of this one.
	px := p // storeedge: p is this packet's own buffer
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectDecode(px)
	case packets.Disconnect:
		err = pk.DisconnectDecode(px)
	case packets.Connack:
		err = pk.ConnackDecode(px)
	case packets.Publish:
		err = pk.PublishDecode(px)
		if err == nil {
			atomic.AddInt64(&cl.ops.info.MessagesReceived, 1)
		}
	case packets.Puback:
		err = pk.PubackDecode(px)
	case packets.Pubrec:
		err = pk.PubrecDecode(px)
	case packets.Pubrel:
		err = pk.PubrelDecode(px)
	case packets.Pubcomp:
		err = pk.PubcompDecode(px)
	case packets.Subscribe:
		err = pk.SubscribeDecode(px)
	case packets.Suback:
		err = pk.SubackDecode(px)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(px)
	case packets.Unsuback:
		err = pk.UnsubackDecode(px)
	case packets.Pingreq:
	case packets.Pingresp:
	case packets.Auth:
		err = pk.AuthDecode(px)
	default:
		err = fmt.Errorf("invalid packet type; %v", pk.FixedHeader.Type)
	}

	if err != nil {
		return pk, err
	}

	pk, err = cl.ops.hooks.OnPacketRead(cl, pk)
	return
}

// WritePacket encodes and writes a packet to the client.
func (cl *Client) WritePacket(pk packets.Packet) error {
	if cl.Closed() {
		return ErrConnectionClosed
	}

	if cl.Net.Conn == nil {
		return nil
	}

	if pk.Expiry > 0 {
		expiry := pk.Expiry - time.Now().Unix()
		if expiry < 1 {
			expiry = 1
		}
		pk.Properties.MessageExpiryInterval = uint32(expiry) // [MQTT-3.3.2-6]
	}

	pk.ProtocolVersion = cl.Properties.ProtocolVersion
	if pk.Mods.MaxSize == 0 { // NB we use this statement to embed client packet sizes in tests
		pk.Mods.MaxSize = cl.Properties.Props.MaximumPacketSize
	}

	if cl.Properties.Props.RequestProblemInfoFlag && cl.Properties.Props.RequestProblemInfo == 0x0 {
		pk.Mods.DisallowProblemInfo = true // [MQTT-3.1.2-29] strict, no problem info on any packet if set
	}

	if pk.FixedHeader.Type != packets.Connack || cl.Properties.Props.RequestResponseInfo == 0x1 || cl.ops.options.Capabilities.Compatibilities.AlwaysReturnResponseInfo {
		pk.Mods.AllowResponseInfo = true // [MQTT-3.1.2-28] we need to know which properties we can encode
	}

	pk = cl.ops.hooks.OnPacketEncode(cl, pk)

	var err error
	buf := new(bytes.Buffer)
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(buf)
	case packets.Connack:
		err = pk.ConnackEncode(buf)
	case packets.Publish:
		err = pk.PublishEncode(buf)
	case packets.Puback:
		err = pk.PubackEncode(buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(buf)
	case packets.Suback:
		err = pk.SubackEncode(buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(buf)
	case packets.Unsuback:
		err = pk.UnsubackEncode(buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(buf)
	case packets.Pingresp:
		err = pk.PingrespEncode(buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(buf)
	case packets.Auth:
		err = pk.AuthEncode(buf)
	default:
		err = fmt.Errorf("%w: %v", packets.ErrNoValidPacketAvailable, pk.FixedHeader.Type)
	}
	if err != nil {
		return err
	}

	if pk.Mods.MaxSize > 0 && uint32(buf.Len()) > pk.Mods.MaxSize {
		return packets.ErrPacketTooLarge // [MQTT-3.1.2-24] [MQTT-3.1.2-25]
	}

	n, err := func() (int64, error) {
		cl.Net.writeMu.Lock()
		defer cl.Net.writeMu.Unlock()
		if cl.State.out.pending() == 0 {
			if cl.Net.outbuf == nil {
				return buf.WriteTo(cl.Net.Conn)
			}

			// first write to buffer, then flush buffer
			n, _ := cl.Net.outbuf.Write(buf.Bytes()) // will always be successful
			err = cl.flushOutbuf()
			return int64(n), err
		}

		// there are more writes in the queue
		if cl.Net.outbuf == nil {
			if buf.Len() >= cl.ops.options.ClientNetWriteBufferSize {
				return buf.WriteTo(cl.Net.Conn)
			}
			cl.Net.outbuf = new(bytes.Buffer)
		}

		n, _ := cl.Net.outbuf.Write(buf.Bytes()) // will always be successful
		if cl.Net.outbuf.Len() < cl.ops.options.ClientNetWriteBufferSize {
			return int64(n), nil
		}

		err = cl.flushOutbuf()
		return int64(n), err
	}()
	if err != nil {
		return err
	}

	atomic.AddInt64(&cl.ops.info.BytesSent, n)
	atomic.AddInt64(&cl.ops.info.PacketsSent, 1)
	if pk.FixedHeader.Type == packets.Publish {
		atomic.AddInt64(&cl.ops.info.MessagesSent, 1)
	}

	cl.ops.hooks.OnPacketSent(cl, pk, buf.Bytes())

	return err
}

func (cl *Client) flushOutbuf() (err error) {
	if cl.Net.outbuf == nil {
		return
	}

	_, err = cl.Net.outbuf.WriteTo(cl.Net.Conn)
	if err == nil {
		cl.Net.outbuf = nil
	}
	return
}
