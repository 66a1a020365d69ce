package main

// The chat scenarios measure storeedge's chat service (svc/chat/*, PROTOCOL.md
// "Chat") through the request/answer envelope: MQTT 5 requests with a
// Response Topic reply/{client id}/chat and Correlation Data (the request id),
// answered on that topic. mosquitto has no equivalent, so they run against
// storeedge only and the report gives absolute figures against DESIGN.md §7.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/crypto/bcrypt"

	"github.com/storeedge/storeedge/proto"
)

const (
	// chatSenders devices send in chat-send; the first chatSeeders of them
	// seed the conversation of chat-history.
	chatSenders = 100
	chatSeeders = 10
	// chatRole is the devices' role. It must be one of chat.staff_roles
	// (store.yaml: staff, admin): a conversation opened by staff gets no FAQ
	// assistant, so every send stores exactly one message (a chat-tablet's
	// text could be followed by the assistant's answer, which takes a seq).
	chatRole = "staff"
	// chatPassword is every chat device's password. The registry stores a
	// bcrypt hash of cost 4 (bcrypt.MinCost), so 100 logins take milliseconds,
	// not the seconds cost 10 would on 2 cores; the broker verifies it as any
	// other hash.
	chatPassword = "storeedge-bench-chat"
	// chatTextBytes is the size of every message's text.
	chatTextBytes = 200
	// chatPageSize is the history page asked for (the service's default
	// page_size, also its maximum).
	chatPageSize = 100
	// chatCallTimeout bounds one synchronous request (open, history).
	chatCallTimeout = 30 * time.Second
	// chatQueueSize is store.yaml's services.queue_size (the bench config
	// keeps the default; configs_test.go checks it): requests waiting for a
	// worker. The senders' windows together must fit, or the load generator,
	// not the broker, causes "unavailable" answers.
	chatQueueSize = 1024
	// DESIGN.md §7: durable chat sends, 100 senders.
	chatTargetRate  = 10000
	chatTargetP99Ms = 50
)

func chatDevice(i int) string { return fmt.Sprintf("bench-chat-%03d", i) }

// chatText is the text of every message: chatTextBytes of plain ASCII with
// nothing JSON would escape.
var chatText = func() string {
	const phrase = "Is she ready? The groomer says ten more minutes, then a quick photo and you can pick her up at the front desk. "
	return strings.Repeat(phrase, chatTextBytes/len(phrase)+1)[:chatTextBytes]
}()

// chatHash is the registry's hash of chatPassword, made once per process.
var chatHash = sync.OnceValues(func() ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(chatPassword), bcrypt.MinCost)
})

// writeChatDevices appends the chat scenarios' devices to a registry:
// chatSenders devices in chatRole.
func writeChatDevices(b *strings.Builder) error {
	h, err := chatHash()
	if err != nil {
		return fmt.Errorf("chat devices: %w", err)
	}
	for i := range chatSenders {
		fmt.Fprintf(b, "  - id: %s\n    role: %s\n    password_hash: %q\n", chatDevice(i), chatRole, h)
	}
	return nil
}

// chatSendResult is one rep of chat-send.
type chatSendResult struct {
	Senders       int     `json:"senders"`
	Conversations int     `json:"conversations"`
	Window        int     `json:"window"`
	Rate          float64 `json:"rate_sends_per_s"` // ok answers inside the window / its length
	Counted       int64   `json:"counted"`
	P50Ms         float64 `json:"p50_ms"` // publish → answer, ok answers inside the window
	P99Ms         float64 `json:"p99_ms"`
	chatTally
	Drained    bool    `json:"drained"`
	BrokerCPU  float64 `json:"broker_cpu_s"`
	CPUPer100k float64 `json:"broker_cpu_s_per_100k"`
	BenchCPU   float64 `json:"bench_cpu_s"`
	OtherCPU   float64 `json:"other_cpu_s"`
	Profile    string  `json:"cpu_profile,omitempty"`
}

// chatTally counts the sends of a run and everything that went wrong.
type chatTally struct {
	Sent          int64            `json:"sent"`
	OK            int64            `json:"ok"`
	Failed        int64            `json:"failed"` // ok:false answers (or unreadable ones)
	Codes         map[string]int64 `json:"error_codes,omitempty"`
	FirstError    string           `json:"first_error,omitempty"`
	Unanswered    int64            `json:"unanswered"`
	PublishErrors int64            `json:"publish_errors"`
	Foreign       int64            `json:"foreign"`    // answers to no pending request
	SeqErrors     int64            `json:"seq_errors"` // duplicate seqs, or gaps once everything is answered
}

// errorCount is everything that makes a run fail.
func (t chatTally) errorCount() int64 {
	return t.Failed + t.Unanswered + t.PublishErrors + t.Foreign + t.SeqErrors
}

func (t chatTally) err(what string) error {
	if t.errorCount() == 0 {
		return nil
	}
	s := fmt.Sprintf("%s: %d of %d sends answered ok; %d error answers %v, %d unanswered, %d publish errors, %d foreign answers, %d seq errors",
		what, t.OK, t.Sent, t.Failed, t.Codes, t.Unanswered, t.PublishErrors, t.Foreign, t.SeqErrors)
	if t.FirstError != "" {
		s += "; first error: " + t.FirstError
	}
	return errors.New(s)
}

// chatHistoryResult is one rep of chat-history.
type chatHistoryResult struct {
	Messages    int     `json:"messages"`
	Seeders     int     `json:"seeders"`
	SeedSeconds float64 `json:"seed_s"`
	Pages       int     `json:"pages"`
	SyncMs      float64 `json:"sync_ms"`
	Rate        float64 `json:"rate_msgs_per_s"`
	PageP50Ms   float64 `json:"page_p50_ms"`
	PageP99Ms   float64 `json:"page_p99_ms"`
	BrokerCPU   float64 `json:"broker_cpu_s"`
	BenchCPU    float64 `json:"bench_cpu_s"`
	Profile     string  `json:"cpu_profile,omitempty"`
	Seed        chatTally
}

// convSeqs checks the seqs one conversation's send answers carry: each new,
// and together gap-free from 1.
type convSeqs struct {
	mu   sync.Mutex
	seen bitset
	n    int64
	dup  int64
	top  uint64
}

func (t *convSeqs) add(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq == 0 || t.seen.set(seq) {
		t.dup++
		return
	}
	t.n++
	t.top = max(t.top, seq)
}

// errors are duplicates plus the seqs below the highest that no answer had.
func (t *convSeqs) errors() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dup + int64(t.top) - t.n
}

// chatPending is a request waiting for its answer.
type chatPending struct {
	sentAt int64       // bench clock
	reply  chan []byte // a synchronous call's answer; nil for a timed send
}

// chatConn is one device's MQTT 5 connection to the chat service. Timed sends
// keep at most cap(window) requests unanswered; their answers are counted in
// onPublish, on paho's routing goroutine.
type chatConn struct {
	dev   string
	reply string // Response Topic
	cl    *mqttClient
	conv  *convSeqs // the conversation this connection sends to

	window      chan struct{}
	outstanding atomic.Int64
	sent        atomic.Int64
	pubErrors   atomic.Int64
	callSeq     atomic.Int64

	mu       sync.Mutex
	win      measureWindow
	pending  map[string]chatPending // by Correlation Data (= request id)
	ok       int64
	failed   int64
	codes    map[string]int64
	firstErr string
	foreign  int64
	inWindow int64
	lat      []int64 // publish → answer, ns, ok answers inside win
}

// connectChat logs in as device dev and subscribes to its reply topic.
func connectChat(ctx context.Context, addr, dev string, window int) (*chatConn, error) {
	c := &chatConn{
		dev: dev, reply: proto.ReplyTopic(dev, "chat"),
		window: make(chan struct{}, window), pending: map[string]chatPending{}, codes: map[string]int64{},
	}
	cl, err := connectClient(ctx, addr, clientCfg{
		id: dev, username: dev, password: chatPassword, cleanStart: true,
		receiveMax: uint16(max(64, 2*window)), onPublish: c.onPublish,
	})
	if err != nil {
		return nil, err
	}
	c.cl = cl
	if err := cl.subscribe(ctx, 1, proto.ReplyFilter(dev)); err != nil {
		cl.close()
		return nil, err
	}
	return c, nil
}

// answerEnv is the envelope of every answer.
type answerEnv struct{ proto.AnswerHead }

func (a *answerEnv) env() *answerEnv { return a }

// sendAnswer is a send (or open) answer; the bench reads its seq.
type sendAnswer struct {
	answerEnv
	proto.ChatSendAnswer
}

// onPublish receives every answer.
func (c *chatConn) onPublish(p *paho.Publish) {
	now := clock()
	var key string
	if p.Properties != nil {
		key = string(p.Properties.CorrelationData)
	}
	c.mu.Lock()
	pd, found := c.pending[key]
	delete(c.pending, key)
	if !found {
		c.foreign++
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if pd.reply != nil {
		pd.reply <- p.Payload
		return
	}
	var a sendAnswer
	err := json.Unmarshal(p.Payload, &a)
	c.mu.Lock()
	switch {
	case err != nil || a.ID != key || (!a.OK && a.Error == nil):
		c.failure("bad_answer", string(p.Payload))
	case !a.OK:
		c.failure(a.Error.Code, string(p.Payload))
	default:
		c.ok++
		if c.win.in(now) {
			c.inWindow++
			c.lat = append(c.lat, now-pd.sentAt)
		}
	}
	c.mu.Unlock()
	if err == nil && a.OK && c.conv != nil {
		c.conv.add(a.Seq)
	}
	c.outstanding.Add(-1)
	<-c.window
}

// failure counts an error answer; c.mu is held.
func (c *chatConn) failure(code, raw string) {
	c.failed++
	c.codes[code]++
	if c.firstErr == "" {
		c.firstErr = raw
	}
}

func (c *chatConn) publish(ctx context.Context, op, id string, payload []byte) error {
	_, err := c.cl.PublishWithOptions(ctx, &paho.Publish{
		Topic: proto.RequestTopic(proto.ServiceChat, op), QoS: 1, Payload: payload,
		Properties: &paho.PublishProperties{ResponseTopic: c.reply, CorrelationData: []byte(id)},
	}, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	return err
}

// call sends one request and waits for its answer, decoded into into,
// which must be ok:true.
func (c *chatConn) call(ctx context.Context, op string, req any, into interface{ env() *answerEnv }) error {
	id := fmt.Sprintf("q%d", c.callSeq.Add(1))
	body, err := requestBody(id, req)
	if err != nil {
		return err
	}
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[id] = chatPending{sentAt: clock(), reply: ch}
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}
	if err := c.publish(ctx, op, id, body); err != nil {
		forget()
		return fmt.Errorf("%s %s: publish: %w", c.dev, op, err)
	}
	tm := time.NewTimer(chatCallTimeout)
	defer tm.Stop()
	var raw []byte
	select {
	case raw = <-ch:
	case <-tm.C:
		forget()
		return fmt.Errorf("%s %s: no answer within %v", c.dev, op, chatCallTimeout)
	case <-ctx.Done():
		forget()
		return ctx.Err()
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%s %s: answer %s: %w", c.dev, op, raw, err)
	}
	if a := into.env(); a.ID != id || !a.OK {
		return fmt.Errorf("%s %s: answer %s", c.dev, op, raw)
	}
	return nil
}

// requestBody is req (a proto request) with the envelope's id and v.
func requestBody(id string, req any) ([]byte, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	fields["id"], _ = json.Marshal(id)
	fields["v"], _ = json.Marshal(proto.Version)
	return json.Marshal(fields)
}

// open opens (creates or resumes) conversation conv with members.
func (c *chatConn) open(ctx context.Context, conv string, members []string) error {
	return c.call(ctx, "open", proto.ChatOpenRequest{Conversation: conv, Members: members}, &sendAnswer{})
}

// sendBody is a send request (proto.ChatSendRequest of kind text), built
// by hand for speed: {"id":…,"v":1,"conversation":…,"kind":"text","text":…}.
// id and conv are made of characters JSON does not escape.
func sendBody(id, conv string) []byte {
	b := make([]byte, 0, 80+len(id)+len(conv)+len(chatText))
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","v":1,"conversation":"`...)
	b = append(b, conv...)
	b = append(b, `","kind":"text","text":"`...)
	b = append(b, chatText...)
	return append(b, `"}`...)
}

// runSends sends text messages to conv, each with a new request id
// (idPrefix + counter), as fast as the window allows (or paced, interval ns
// apart), until stopAt (bench clock), limit sends (0 = none), an error or
// ctx's end.
func (c *chatConn) runSends(ctx context.Context, conv, idPrefix string, stopAt int64, limit int, interval int64) {
	next := clock()
	for n := 0; limit == 0 || n < limit; n++ {
		if interval > 0 {
			next = paceNext(next, stopAt, interval)
		}
		select {
		case c.window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		now := clock()
		if now >= stopAt {
			<-c.window
			return
		}
		id := idPrefix + strconv.Itoa(n)
		c.mu.Lock()
		c.pending[id] = chatPending{sentAt: now}
		c.mu.Unlock()
		c.outstanding.Add(1)
		if err := c.publish(ctx, "send", id, sendBody(id, conv)); err != nil {
			c.pubErrors.Add(1)
			if !errors.Is(err, paho.ErrNetworkErrorAfterStored) {
				// Never left: no answer will come.
				c.mu.Lock()
				delete(c.pending, id)
				c.mu.Unlock()
				c.outstanding.Add(-1)
				<-c.window
			}
			return
		}
		c.sent.Add(1)
	}
}

// drainChat waits until every timed send is answered, at most limit, or
// quiet without progress; it reports whether all were.
func drainChat(conns []*chatConn, limit, quiet time.Duration) bool {
	deadline := time.Now().Add(limit)
	lastProgress, last := time.Now(), int64(-1)
	for {
		var out int64
		for _, c := range conns {
			out += c.outstanding.Load()
		}
		if out == 0 {
			return true
		}
		now := time.Now()
		if out != last {
			last, lastProgress = out, now
		}
		if now.After(deadline) || now.Sub(lastProgress) > quiet {
			return false
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// tally adds up the connections' counters and the conversations' seq checks;
// it also returns the latency samples and the answers inside the window.
func tally(conns []*chatConn, convs []*convSeqs) (t chatTally, lat []int64, inWindow int64) {
	t.Codes = map[string]int64{}
	for _, c := range conns {
		t.Sent += c.sent.Load()
		t.PublishErrors += c.pubErrors.Load()
		t.Unanswered += c.outstanding.Load()
		c.mu.Lock()
		t.OK += c.ok
		t.Failed += c.failed
		t.Foreign += c.foreign
		for k, v := range c.codes {
			t.Codes[k] += v
		}
		if t.FirstError == "" {
			t.FirstError = c.firstErr
		}
		inWindow += c.inWindow
		lat = append(lat, c.lat...)
		c.mu.Unlock()
	}
	if t.Unanswered == 0 {
		// Gaps mean something only when every send has its answer.
		for _, s := range convs {
			t.SeqErrors += s.errors()
		}
	} else {
		for _, s := range convs {
			s.mu.Lock()
			t.SeqErrors += s.dup
			s.mu.Unlock()
		}
	}
	return t, lat, inWindow
}

func closeChat(conns []*chatConn) {
	cs := make([]*mqttClient, 0, len(conns))
	for _, c := range conns {
		if c != nil {
			cs = append(cs, c.cl)
		}
	}
	closeAll(cs)
}

// connectChatAll logs in devices 0..n-1.
func connectChatAll(ctx context.Context, b *broker, n, window int) ([]*chatConn, error) {
	conns := make([]*chatConn, n)
	err := connectAll(n, 16, func(i int) error {
		c, err := connectChat(ctx, b.addr, chatDevice(i), window)
		conns[i] = c
		return err
	})
	if err != nil {
		closeChat(conns)
		return nil, fmt.Errorf("chat devices: %w", err)
	}
	return conns, nil
}

// profilePath is where -profile puts one run's CPU profile ("" = none).
func profilePath(b *broker, opt options, scenario string, rep int) string {
	if opt.profileDir == "" || b.kind != kindStoreedge {
		return ""
	}
	return filepath.Join(opt.profileDir, fmt.Sprintf("%s-%d.pprof", scenario, rep))
}

// runChatSend: chatSenders devices, each in its own connection, send 200-byte
// texts as fast as their answers come back (opt.chatWindow in flight each),
// for the measured window. The senders share opt.chatConvs conversations,
// sender i in conversation i mod chatConvs. The default is one conversation
// per sender: a store's chats are mostly one customer and one consultant, so
// 100 busy senders are 100 conversations; fewer, shared conversations
// measure what a conversation's serialised seq costs under contention.
func runChatSend(ctx context.Context, b *broker, opt options, rep int) (*chatSendResult, error) {
	res := &chatSendResult{Senders: chatSenders, Conversations: opt.chatConvs, Window: opt.chatWindow}
	conns, err := connectChatAll(ctx, b, chatSenders, opt.chatWindow)
	if err != nil {
		return nil, err
	}
	defer func() { closeChat(conns) }()

	convs := make([]*convSeqs, opt.chatConvs)
	members := make([][]string, opt.chatConvs)
	for i := range chatSenders {
		k := i % opt.chatConvs
		members[k] = append(members[k], chatDevice(i))
	}
	for k := range convs {
		convs[k] = &convSeqs{}
	}
	convID := func(i int) string { return fmt.Sprintf("send-%03d", i%opt.chatConvs) }
	// Every sender opens its conversation: the first member of each creates
	// it (naming all members), the others then resume it.
	for _, first := range []bool{true, false} {
		err := connectAll(chatSenders, 16, func(i int) error {
			if (i < opt.chatConvs) != first {
				return nil
			}
			conns[i].conv = convs[i%opt.chatConvs]
			return conns[i].open(ctx, convID(i), members[i%opt.chatConvs])
		})
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
	}

	start := clock()
	win := measureWindow{t0: start + int64(opt.warmup), t1: start + int64(opt.warmup+opt.duration)}
	for _, c := range conns {
		c.mu.Lock()
		c.win = win
		c.mu.Unlock()
	}
	var interval int64
	if opt.rate > 0 {
		interval = int64(float64(time.Second) * chatSenders / opt.rate)
	}
	runCtx, cancelRun := context.WithTimeout(ctx, opt.warmup+opt.duration+opt.drain+time.Minute)
	defer cancelRun()
	var senders sync.WaitGroup
	for i, c := range conns {
		senders.Go(func() { c.runSends(runCtx, convID(i), "s", win.t1, 0, interval) })
	}

	sleepUntil(ctx, win.t0)
	var waitProfile func() error
	if res.Profile = profilePath(b, opt, "chat-send", rep); res.Profile != "" {
		waitProfile = b.cpuProfile(int(math.Ceil(opt.duration.Seconds())), res.Profile)
	}
	cpu0 := markCPU(b.pid())
	sleepUntil(ctx, win.t1)
	cpu1 := markCPU(b.pid())
	senders.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	if err := b.unexpectedExit(); err != nil {
		return nil, err
	}
	if err := errors.Join(cpu0.err, cpu1.err); err != nil {
		return nil, fmt.Errorf("broker CPU: %w", err)
	}
	res.Drained = drainChat(conns, opt.drain, opt.drain)
	if waitProfile != nil {
		if err := waitProfile(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: chat-send: %v\n", err)
			res.Profile = ""
		}
	}

	res.BrokerCPU, res.BenchCPU, res.OtherCPU = cpuBetween(cpu0, cpu1)
	var lat []int64
	res.chatTally, lat, res.Counted = tally(conns, convs)
	res.Rate = float64(res.Counted) / opt.duration.Seconds()
	p50, p99 := latencySummary(lat)
	res.P50Ms, res.P99Ms = ms(p50), ms(p99)
	if res.Counted > 0 {
		res.CPUPer100k = res.BrokerCPU / float64(res.Counted) * 1e5
	}
	return res, res.err("chat-send")
}

// historyAnswer is a history page.
type historyAnswer struct {
	answerEnv
	proto.HistoryPage
}

// syncHistory reads conversation conv from seq 0, page after page, following
// next while more, and checks it holds exactly want messages with seqs
// 1..want in order, each the bench's text from one of the seeders. It
// returns the number of pages and each page's publish → answer time (ns).
func syncHistory(ctx context.Context, c *chatConn, conv string, want int) (pages int, lat []int64, err error) {
	var after uint64
	got := 0
	for {
		if pages > want/chatPageSize+2 {
			return pages, lat, fmt.Errorf("history: still more after %d pages (%d messages)", pages, got)
		}
		var a historyAnswer
		t := clock()
		if err := c.call(ctx, "history", proto.ChatHistoryRequest{Conversation: conv, After: after, Limit: chatPageSize}, &a); err != nil {
			return pages, lat, err
		}
		lat = append(lat, clock()-t)
		pages++
		for _, m := range a.Messages {
			got++
			switch {
			case m.Seq != uint64(got):
				return pages, lat, fmt.Errorf("history: message %d has seq %d (after %d)", got, m.Seq, after)
			case m.Kind != "text" || m.Text != chatText || !strings.HasPrefix(m.From, "bench-chat-"):
				return pages, lat, fmt.Errorf("history: seq %d is not a bench message: kind %q from %q, %d-byte text", m.Seq, m.Kind, m.From, len(m.Text))
			}
		}
		if len(a.Messages) > 0 && a.Next != a.Messages[len(a.Messages)-1].Seq || len(a.Messages) == 0 && a.Next != after {
			return pages, lat, fmt.Errorf("history: page after %d: next %d does not follow its %d messages", after, a.Next, len(a.Messages))
		}
		if !a.More {
			break
		}
		if len(a.Messages) == 0 {
			return pages, lat, fmt.Errorf("history: empty page after %d says more", after)
		}
		after = a.Next
	}
	if got != want {
		return pages, lat, fmt.Errorf("history: synced %d messages, want %d", got, want)
	}
	return pages, lat, nil
}

// runChatHistory seeds one conversation with opt.historyMsgs messages from
// chatSeeders devices (the chat-send machinery, untimed), then times one
// device syncing it from seq 0 in pages of chatPageSize: from the first
// request to the last answer, the bench's decoding and checking included.
func runChatHistory(ctx context.Context, b *broker, opt options, rep int) (*chatHistoryResult, error) {
	res := &chatHistoryResult{Messages: opt.historyMsgs, Seeders: chatSeeders}
	conns, err := connectChatAll(ctx, b, chatSeeders, opt.chatWindow)
	if err != nil {
		return nil, err
	}
	defer func() { closeChat(conns) }()
	const conv = "history"
	members := make([]string, chatSeeders)
	for i := range members {
		members[i] = chatDevice(i)
	}
	if err := conns[0].open(ctx, conv, members); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}

	seq := &convSeqs{}
	t := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		c.conv = seq
		n := opt.historyMsgs / chatSeeders
		if i < opt.historyMsgs%chatSeeders {
			n++
		}
		wg.Go(func() { c.runSends(ctx, conv, "h", math.MaxInt64, n, 0) })
	}
	wg.Wait()
	drainChat(conns, time.Minute, 10*time.Second)
	res.SeedSeconds = time.Since(t).Seconds()
	res.Seed, _, _ = tally(conns, []*convSeqs{seq})
	if err := res.Seed.err("seed"); err != nil {
		return res, err
	}
	if res.Seed.OK != int64(opt.historyMsgs) {
		return res, fmt.Errorf("seed: %d of %d messages stored", res.Seed.OK, opt.historyMsgs)
	}

	reader := conns[0]
	cpu0 := markCPU(b.pid())
	t0 := clock()
	pages, lat, err := syncHistory(ctx, reader, conv, opt.historyMsgs)
	el := time.Duration(clock() - t0)
	cpu1 := markCPU(b.pid())
	if err != nil {
		return res, err
	}
	if err := errors.Join(cpu0.err, cpu1.err); err != nil {
		return nil, fmt.Errorf("broker CPU: %w", err)
	}
	res.Pages, res.SyncMs = pages, ms(el)
	res.Rate = float64(opt.historyMsgs) / el.Seconds()
	p50, p99 := latencySummary(lat)
	res.PageP50Ms, res.PageP99Ms = ms(p50), ms(p99)
	res.BrokerCPU, res.BenchCPU, _ = cpuBetween(cpu0, cpu1)

	// A single sync is too short to profile: with -profile, sync again
	// (checked, untimed) for 2 s while the profile runs.
	if res.Profile = profilePath(b, opt, "chat-history", rep); res.Profile != "" {
		const secs = 2
		wait := b.cpuProfile(secs, res.Profile)
		for end := time.Now().Add(secs * time.Second); time.Now().Before(end); {
			if _, _, err := syncHistory(ctx, reader, conv, opt.historyMsgs); err != nil {
				return res, err
			}
		}
		if err := wait(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: chat-history: %v\n", err)
			res.Profile = ""
		}
	}
	return res, b.unexpectedExit()
}

// chatVerdict compares a chat-send summary with DESIGN.md §7.
func chatVerdict(rate, p99 float64) string {
	if math.IsNaN(rate) {
		return "-"
	}
	var miss []string
	if rate < chatTargetRate {
		miss = append(miss, "rate")
	}
	if p99 > chatTargetP99Ms {
		miss = append(miss, "p99")
	}
	if len(miss) == 0 {
		return "met"
	}
	slices.Sort(miss)
	return "MISSED (" + strings.Join(miss, ", ") + ")"
}
