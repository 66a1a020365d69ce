package broker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/internal/testkit/faultproxy"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// wifi is a device's network link that a test can drop: armed, it closes
// the connection right after the device has written a packet containing
// marker (a request leaves the tablet, then the Wi-Fi goes), and while down
// every new connection fails.
type wifi struct {
	mu      sync.Mutex
	addr    string
	marker  []byte
	down    bool
	dropped chan struct{}
}

func (w *wifi) dial(ctx context.Context, _ *url.URL) (net.Conn, error) {
	w.mu.Lock()
	down := w.down
	w.mu.Unlock()
	if down {
		return nil, fmt.Errorf("wifi down")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", w.addr)
	if err != nil {
		return nil, err
	}
	return &wifiConn{Conn: c, w: w}, nil
}

// dropAfter arms the link: the next packet containing marker is the last
// one through; the link stays down until up.
func (w *wifi) dropAfter(marker string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.marker, w.dropped = []byte(marker), make(chan struct{})
	return w.dropped
}

func (w *wifi) up() {
	w.mu.Lock()
	w.down = false
	w.mu.Unlock()
}

type wifiConn struct {
	net.Conn
	w       *wifi
	header  []byte // the last write, when it was a PUBLISH's fixed header alone
	pending int    // bytes of the marked packet still to go through; -1: none
}

// Write passes p on; once the packet holding the marker has gone through
// whole (paho writes a packet in pieces: fixed header, variable header,
// payload), the link drops.
func (c *wifiConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.mu.Lock()
	if c.pending == 0 && c.w.marker != nil && bytes.Contains(p, c.w.marker) {
		hdr := p
		if c.header != nil {
			hdr = append(c.header, p...)
		}
		if len(hdr) > 1 && hdr[0]&0xf0 == 0x30 {
			// MQTT's remaining length is a little-endian base-128 varint.
			rem, w := binary.Uvarint(hdr[1:])
			c.pending = 1 + w + int(rem) - len(hdr) + len(p)
			c.w.marker = nil
		}
	}
	c.header = nil
	if len(p) <= 5 && len(p) > 1 && p[0]&0xf0 == 0x30 {
		c.header = append([]byte(nil), p...)
	}
	drop := false
	if c.pending > 0 {
		c.pending -= len(p)
		if c.pending <= 0 {
			c.pending, drop = -1, true
			c.w.down = true
			close(c.w.dropped)
		}
	}
	c.w.mu.Unlock()
	if drop {
		c.Conn.Close()
	}
	return n, err
}

// sdkDevice starts a device SDK client (persistent session) behind a
// droppable link and waits until watcher (subscribed to devices/+/status)
// sees it online: its status publish is through, so the request that
// follows is the next packet the broker reads from it.
func sdkDevice(t *testing.T, s *storetest.Store, watcher *storetest.Client, id string) (*device.Client, *wifi) {
	t.Helper()
	w := &wifi{addr: s.Addr}
	c, err := device.New(device.Config{
		Brokers: []string{"mqtt://" + s.Addr}, DeviceID: id, Password: "pw-" + id, Dial: w.dial,
		Heartbeat: -1, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	watcher.WaitFor(t, 1, func(m storetest.Msg) bool {
		return m.Topic == "devices/"+id+"/status" && bytes.Contains(m.Payload, []byte(`"online"`))
	})
	return c, w
}

// TestNothingPersonalOnDisk plays a store day with every kind of personal
// data the store handles — a customer's chat with her phone number, a
// group's title, a booking's notes and contact, a progress note, a live QR
// token, a conversation with a customer at home (through HQ's outbox), a
// kiosk whose Wi-Fi drops in the middle of a request so its answer waits
// in its session — then stops the store and reads every byte of the
// database file, live pages and free pages alike: none of it may be there
// in the clear.
func TestNothingPersonalOnDisk(t *testing.T) {
	const (
		chatText    = "my number is 13812345678 and the rash is back"
		chatPhone   = "13812345678"
		groupTitle  = "Sunflower Babies born in March"
		bookNotes   = "Doudou bites when his paws are touched"
		contactName = "Wang Xiaohong"
		phone       = "13998765432"
		progress    = "found a tick behind the left ear"
		remoteText  = "I am at home, is Doudou ready for pickup"
		staffReply  = "Doudou is drying now, twenty minutes"
		cancelWhy   = "my baby has a fever tonight"
		lateNotes   = "second visit: use the hypoallergenic towel"
	)
	devs := []storetest.Device{
		{ID: "staff-anna", Role: "staff"}, {ID: "tablet-1", Role: "chat-tablet"}, {ID: "kiosk-1", Role: "kiosk"},
		{ID: "kiosk-2", Role: "kiosk"},
	}
	// HQ's broker, behind the store's line: up until the customer at home
	// has written, out for the rest of the day, so what HQ must see after
	// that waits in the outbox.
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	line, err := faultproxy.New("127.0.0.1:0", hqb.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = line.Close() })
	var storeID string
	s := storetest.Start(t, storetest.Options{Devices: devs, Config: func(c *broker.Config) {
		c.Cloud.URL = "mqtt://" + line.Addr()
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
		storeID = c.StoreID
	}})
	// Staff and the chat tablet keep their sessions: every answer they get
	// passes through the session store.
	staff := s.ConnectAs(t, "staff-anna", "pw-staff-anna", "", true)
	tablet := s.ConnectAs(t, "tablet-1", "pw-tablet-1", "", true)
	staff.Subscribe(t, "devices/+/status")

	// A mother scans the code and writes, giving her phone number.
	mom := s.CustomerLogin(t, tablet, "", "phone", true)
	storetest.OK(t, mom.Call(t, "chat", "open", `{}`))
	storetest.OK(t, mom.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, mom.Username, chatText)))
	storetest.OK(t, staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, mom.Username)))

	// The next customer's code is on the tablet's screen: a live token.
	var sess struct {
		URL string `json:"url"`
	}
	storetest.OK(t, tablet.Call(t, "chat", "session", `{}`)).Decode(t, &sess)
	_, token, ok := strings.Cut(sess.URL, "?t=")
	if !ok || len(token) < 20 {
		t.Fatalf("session url %q", sess.URL)
	}

	// Staff make a group for the March babies.
	var grp struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, staff.Call(t, "chat", "group_create", fmt.Sprintf(`{"title":%q,"members":[%q]}`, groupTitle, mom.Username))).Decode(t, &grp)
	storetest.OK(t, staff.Call(t, "chat", "list", `{}`))

	// A customer at home writes through HQ; the line goes out; staff answer
	// (the answer waits in the outbox for HQ).
	hqSend(t, hqb.Addr, "stores/"+storeID+"/down/chat/message", "hqm-1",
		[]byte(fmt.Sprintf(`{"v":1,"id":"hqm-1","customer":"hq-c1","kind":"text","text":%q}`, remoteText)), func() bool {
			a, err := staff.TryCall("chat", "history", fmt.Sprintf("h-%d", time.Now().UnixNano()), `{"conversation":"hq-c1"}`)
			return err == nil && a.OK && strings.Contains(string(a.Raw), "pickup")
		})
	line.Down()
	storetest.OK(t, staff.Call(t, "chat", "assign", `{"conversation":"hq-c1","staff":"staff-anna"}`))
	storetest.OK(t, staff.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":"hq-c1","kind":"text","text":%q}`, staffReply)))

	// At the kiosk (the device SDK, persistent session) a walk-in books a
	// groom; the Wi-Fi drops the moment the request has left the kiosk, so
	// the answer waits in the kiosk's session until it is back.
	kiosk, link := sdkDevice(t, s, staff, "kiosk-1")
	var booked struct {
		Booking struct {
			ID      string `json:"id"`
			Notes   string `json:"notes"`
			Contact struct {
				Phone string `json:"phone"`
			} `json:"contact"`
		} `json:"booking"`
	}
	dropped := link.dropAfter("svc/booking/book")
	id1 := device.NewID()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- kiosk.Do(ctx, "booking", "book", map[string]any{
			"service": "large-dog-groom", "start": "2026-11-24T15:00:00+08:00", "customer": "cust-walkin-7",
			"notes": bookNotes, "contact": map[string]string{"name": contactName, "phone": phone},
		}, &booked, device.WithID(id1))
	}()
	select {
	case <-dropped:
	case <-time.After(15 * time.Second):
		t.Fatal("the kiosk never sent its request")
	}
	waitAnswered(t, s, storetest.Device{ID: "kiosk-1", Role: "kiosk"}, id1, fmt.Sprintf(
		`{"service":"large-dog-groom","start":"2026-11-24T15:00:00+08:00","customer":"cust-walkin-7","notes":%q,"contact":{"name":%q,"phone":%q}}`,
		bookNotes, contactName, phone))
	// The Wi-Fi comes back: the kiosk resumes its session and gets the
	// answer that waited for it.
	link.up()
	if err := <-done; err != nil {
		t.Fatalf("the kiosk's booking after the Wi-Fi came back: %v", err)
	}
	if booked.Booking.Notes != bookNotes || booked.Booking.Contact.Phone != phone {
		t.Fatalf("the kiosk's answer: %+v", booked)
	}

	// Tuesday 14:50: the dog arrives, is checked in and groomed; staff note
	// what they found.
	s.Set(time.Date(2026, 11, 24, 14, 50, 0, 0, s.Now().Location()))
	storetest.OK(t, staff.Call(t, "booking", "check_in", fmt.Sprintf(`{"booking":%q}`, booked.Booking.ID)))
	s.Advance(20 * time.Minute)
	storetest.OK(t, staff.Call(t, "booking", "progress", fmt.Sprintf(`{"booking":%q,"stage":"bathing","note":%q}`, booked.Booking.ID, progress)))
	storetest.OK(t, staff.Call(t, "booking", "board", `{"date":"2026-11-24"}`))

	// The mother books a swim and cancels it with a reason.
	var swim struct {
		Booking struct {
			ID string `json:"id"`
		} `json:"booking"`
	}
	storetest.OK(t, mom.Call(t, "booking", "book", `{"service":"baby-swim","start":"2026-11-25T10:00:00+08:00"}`)).Decode(t, &swim)
	storetest.OK(t, mom.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q,"reason":%q}`, swim.Booking.ID, cancelWhy)))

	// At closing a second kiosk books, and its Wi-Fi goes for the night
	// right after the request: the answer is still waiting in its session
	// when the store stops.
	kiosk2, link2 := sdkDevice(t, s, staff, "kiosk-2")
	dropped2 := link2.dropAfter("svc/booking/book")
	reqID := device.NewID()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = kiosk2.Do(ctx, "booking", "book", map[string]any{
			"service": "large-dog-groom", "start": "2026-11-26T15:00:00+08:00", "customer": "cust-walkin-8",
			"notes": lateNotes, "contact": map[string]string{"name": contactName, "phone": phone},
		}, nil, device.WithID(reqID))
	}()
	select {
	case <-dropped2:
	case <-time.After(15 * time.Second):
		t.Fatal("the second kiosk never sent its request")
	}
	waitAnswered(t, s, storetest.Device{ID: "kiosk-2", Role: "kiosk"}, reqID, fmt.Sprintf(
		`{"service":"large-dog-groom","start":"2026-11-26T15:00:00+08:00","customer":"cust-walkin-8","notes":%q,"contact":{"name":%q,"phone":%q}}`,
		lateNotes, contactName, phone))

	s.Stop()
	path := filepath.Join(s.Dir, "data", broker.DBFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The kiosk's queued answer must still be in the database (in its
	// session), sealed: otherwise this test would look at nothing.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	// Delivered answers, acknowledged outbox entries and rewritten records
	// left freed pages behind: the bytes read above include them.
	if st := db.Stats(); st.FreePageN+st.PendingPageN == 0 {
		t.Error("the database has no free pages: the test does not look at what delivery leaves behind")
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("mqtt_queue")); b != nil {
			return b.ForEach(func(k, _ []byte) error {
				if bytes.HasPrefix(k, []byte("kiosk-2\x00")) {
					queued++
				}
				return nil
			})
		}
		return nil
	})
	db.Close()
	if queued == 0 {
		t.Fatal("no answer is waiting in kiosk-2's session: the scenario did not happen")
	}
	for _, b := range []string{"chat_msgs", "mqtt_msgs", "cloud_outbox", "booking_bookings"} {
		if !bytes.Contains(raw, []byte(b)) {
			t.Fatalf("the database file has no bucket %s: wrong file?", b)
		}
	}
	for what, m := range map[string]string{
		"chat text": chatText, "customer's phone in chat": chatPhone, "group title": groupTitle,
		"booking notes": bookNotes, "contact name": contactName, "contact phone": phone, "progress note": progress,
		"live QR token": token, "HQ customer's message": remoteText, "staff answer to HQ": staffReply,
		"cancel reason": cancelWhy, "queued answer's notes": lateNotes,
	} {
		if i := bytes.Index(raw, []byte(m)); i >= 0 {
			t.Errorf("the database file holds the %s in the clear at byte %d (page %d): %q", what, i, i/os.Getpagesize(), m)
		}
	}
}

// waitAnswered waits until device dev's request reqID (op booking/book
// with body) has been answered: another connection of the same device
// repeats it, and svc gives back the remembered answer only once the first
// was made (and sent, or queued for the session that is away).
func waitAnswered(t *testing.T, s *storetest.Store, dev storetest.Device, reqID, body string) {
	t.Helper()
	other := s.Connect(t, dev, "desk")
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := other.TryCall("booking", "book", reqID, body)
		if err == nil && a.OK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's request %s was not answered: %v %s", dev.ID, reqID, err, a.Raw)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// hqSend has HQ (a client of HQ's broker at addr) send one message to the
// store, with the user property id, and sends it again, same id, every
// 300 ms until taken says the store has it: HQ's broker drops what it gets
// before the store's link has subscribed, and the store takes an id once.
func hqSend(t *testing.T, addr, topic, id string, payload []byte, taken func() bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq-pub"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq-pub", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Disconnect(&paho.Disconnect{}) }()
	deadline := time.Now().Add(20 * time.Second)
	for sent := 1; ; sent++ {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload,
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: id}}}})
		pcancel()
		if err != nil {
			t.Fatalf("HQ publish %s: %v", topic, err)
		}
		for retry := time.Now().Add(300 * time.Millisecond); time.Now().Before(retry); time.Sleep(10 * time.Millisecond) {
			if taken() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("HQ's message %s did not reach the store within 20 s (sent %d times)", id, sent)
		}
	}
}
