package broker_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/faultproxy"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/internal/testkit/tmpfstest"
	"github.com/storeedge/storeedge/proto"
)

// fullDiskRig is a store whose data_dir is a small tmpfs, with a kiosk
// publishing telemetry, a persistent subscriber to it, and staff and a
// customer chatting and uploading.
type fullDiskRig struct {
	t       *testing.T
	s       *storetest.Store
	disk    string
	kiosk   *paho.Client
	owner   *storetest.Client // persistent subscriber of devices/+/telemetry
	staff   *storetest.Client
	cust    *storetest.Client
	conv    string
	floor   int64
	topic   string // where publish sends (default devices/kiosk-1/telemetry)
	seq     int
	uploadN int

	ackedTelemetry []string // payloads answered PUBACK 0x00
	ackedTexts     []string // chat texts answered ok
	ackedBlobs     map[string][]byte
}

// publish sends one telemetry message at QoS 1 and returns its PUBACK
// reason code.
func (r *fullDiskRig) publish() byte {
	r.t.Helper()
	r.seq++
	payload := fmt.Sprintf(`{"seq":%d,"pad":%q}`, r.seq, strings.Repeat("t", 2000))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic := r.topic
	if topic == "" {
		topic = "devices/kiosk-1/telemetry"
	}
	pr, err := r.kiosk.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	if pr == nil {
		r.t.Fatalf("telemetry %d: no PUBACK: %v", r.seq, err)
	}
	if pr.ReasonCode == 0 {
		r.ackedTelemetry = append(r.ackedTelemetry, payload)
	}
	return pr.ReasonCode
}

// send sends a chat text from c and returns the answer.
func (r *fullDiskRig) send(c *storetest.Client) storetest.Answer {
	r.t.Helper()
	r.seq++
	text := fmt.Sprintf("message %d from %s %s", r.seq, c.Username, strings.Repeat("m", 500))
	a := c.Call(r.t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, r.conv, text))
	if a.OK {
		r.ackedTexts = append(r.ackedTexts, text)
	}
	return a
}

// upload stores a blob of size bytes from staff, chunk by chunk, and
// returns the first refusal (or the ok answer of complete).
func (r *fullDiskRig) upload(size int) storetest.Answer {
	r.t.Helper()
	r.uploadN++
	blob := make([]byte, size)
	for i := range blob {
		blob[i] = byte(i*31 + r.uploadN*7)
	}
	copy(blob, "%PDF-1.4\n")
	sum := sha256.Sum256(blob)
	hash := hex.EncodeToString(sum[:])
	id := fmt.Sprintf("up-%d", r.uploadN)
	if a := r.staff.Call(r.t, "media", "begin", fmt.Sprintf(`{"upload":%q,"type":"application/pdf","size":%d,"sha256":%q}`, id, size, hash)); !a.OK {
		return a
	}
	const chunk = 256 << 10
	for i := 0; i*chunk < size; i++ {
		part := blob[i*chunk : min((i+1)*chunk, size)]
		a := r.staff.Call(r.t, "media", "chunk", fmt.Sprintf(`{"upload":%q,"index":%d,"data":%q}`, id, i, base64.StdEncoding.EncodeToString(part)))
		if !a.OK {
			return a
		}
	}
	a := r.staff.Call(r.t, "media", "complete", fmt.Sprintf(`{"upload":%q}`, id))
	if a.OK {
		r.ackedBlobs[hash] = blob
	}
	return a
}

func (r *fullDiskRig) health() proto.StoreHealth {
	r.t.Helper()
	var h proto.StoreHealth
	storetest.OK(r.t, r.staff.Call(r.t, "store", "health", `{}`)).Decode(r.t, &h)
	return h
}

// refusedFull asserts a service's answer to a write on a full disk.
func refusedFull(t *testing.T, what string, a storetest.Answer) {
	t.Helper()
	if a.OK || a.Error == nil || a.Error.Code != "quota_exceeded" || !strings.Contains(a.Error.Message, "disk is full") {
		t.Fatalf("%s on a full disk: %s, want quota_exceeded saying the disk is full", what, a.Raw)
	}
}

// checkAcked reads back through the services everything that was
// acknowledged: every chat text, every blob whole, every telemetry message
// at the persistent subscriber.
func (r *fullDiskRig) checkAcked() {
	t := r.t
	t.Helper()
	have := map[string]bool{}
	for after := 0; ; {
		var hist struct {
			Messages []struct {
				Text string `json:"text"`
			} `json:"messages"`
			Next int  `json:"next"`
			More bool `json:"more"`
		}
		storetest.OK(t, r.staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q,"after":%d}`, r.conv, after))).Decode(t, &hist)
		for _, m := range hist.Messages {
			have[m.Text] = true
		}
		if !hist.More {
			break
		}
		after = hist.Next
	}
	for _, text := range r.ackedTexts {
		if !have[text] {
			t.Fatalf("an acknowledged chat message is not in the history (%d there, %d acknowledged): %.40s…", len(have), len(r.ackedTexts), text)
		}
	}
	for hash, blob := range r.ackedBlobs {
		var got []byte
		for off := 0; ; {
			var part struct {
				Data string `json:"data"`
				EOF  bool   `json:"eof"`
			}
			storetest.OK(t, r.staff.Call(t, "media", "get", fmt.Sprintf(`{"hash":%q,"offset":%d}`, hash, off))).Decode(t, &part)
			b, err := base64.StdEncoding.DecodeString(part.Data)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b...)
			off += len(b)
			if part.EOF || len(b) == 0 {
				break
			}
		}
		if string(got) != string(blob) {
			t.Fatalf("blob %s: %d bytes read back, %d stored", hash, len(got), len(blob))
		}
	}
	want := map[string]bool{}
	for _, p := range r.ackedTelemetry {
		want[p] = true
	}
	r.owner.WaitFor(t, len(want), func(m storetest.Msg) bool { return want[string(m.Payload)] })
}

// On a small tmpfs filled by a file and by the traffic itself while devices
// publish and chat: QoS 1 publishes get PUBACK 0x97, chat sends, bookings
// and uploads quota_exceeded saying the disk is full, the health op says
// why, the disk never runs out under bbolt (the floor stops writes first),
// reads go on, nothing acknowledged is lost, and everything goes in again
// without a restart once the file is deleted. The database passes bbolt's
// check at the end.
//
// Without the floor (0) bbolt meets ENOSPC itself: the same answers, and
// nothing is lost or corrupt either.
func TestFullDiskEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		floor int64
	}{{"floor", 6 << 20}, {"enospc", 0}} {
		t.Run(tc.name, func(t *testing.T) { fullDiskEndToEnd(t, tc.floor) })
	}
}

func fullDiskEndToEnd(t *testing.T, floor int64) {
	disk, ok := tmpfstest.Mount(t, 40<<20)
	if !ok {
		return
	}
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	kioskDev := storetest.Device{ID: "kiosk-1", Role: "kiosk"}
	ownerDev := storetest.Device{ID: "owner-li", Role: "admin"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{staffDev, kioskDev, ownerDev}, Config: func(c *broker.Config) {
		c.DataDir = filepath.Join(disk, "data")
		c.Persistence.MinFreeDiskBytes = floor
		c.Chat.CustomerMessagesPerMinute = 0
	}})
	r := &fullDiskRig{t: t, s: s, disk: disk, floor: floor, ackedBlobs: map[string][]byte{}}
	r.owner = s.ConnectAs(t, ownerDev.ID, "pw-"+ownerDev.ID, "", true)
	r.owner.Subscribe(t, "devices/+/telemetry")
	var err error
	r.kiosk, _, err = mqtttest.Dial(t, s.Addr, &paho.Connect{ClientID: kioskDev.ID, CleanStart: true, KeepAlive: 30,
		Username: kioskDev.ID, UsernameFlag: true, Password: []byte("pw-" + kioskDev.ID), PasswordFlag: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.staff = s.Connect(t, staffDev, "")
	r.cust = s.CustomerLogin(t, r.staff, "", "phone", false)
	var open struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, r.cust.Call(t, "chat", "open", `{}`)).Decode(t, &open)
	r.conv = open.Conversation
	storetest.OK(t, r.staff.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, r.conv)))

	// A morning before the disk fills.
	for range 5 {
		if rc := r.publish(); rc != 0 {
			t.Fatalf("telemetry on an empty disk: reason 0x%02x", rc)
		}
		storetest.OK(t, r.send(r.cust))
		storetest.OK(t, r.send(r.staff))
	}
	storetest.OK(t, r.upload(600<<10))
	const bookReq = "book-after-full"
	bookBody := `{"service":"dog-bath","start":"2026-11-24T11:00:00+08:00","customer":"cust-full"}`
	storetest.OK(t, r.staff.Call(t, "booking", "book", `{"service":"dog-bath","start":"2026-11-25T10:00:00+08:00","customer":"cust-before"}`))
	if h := r.health(); h.WritesRefused != "" || h.DiskMinFreeBytes != uint64(floor) {
		t.Fatalf("health on an empty disk: refused %q, floor %d", h.WritesRefused, h.DiskMinFreeBytes)
	}

	// A file takes all but 3 MiB above the floor; the traffic fills the rest.
	filler := filepath.Join(disk, "filler")
	tmpfstest.Fill(t, filler, tmpfstest.Free(t, disk)-floor-3<<20)
	var pubRefused, custRefused, staffRefused, uploadRefused bool
	// Without the floor, a small write (a publish, a text) may go on fitting
	// in pages the database file freed (delivered messages, swept answers):
	// stored and acknowledged rightly; an upload needs new disk. With the
	// floor, every write stops.
	small := floor > 0
	pubRefused, custRefused, staffRefused = !small, !small, !small
	for round := 0; !(pubRefused && custRefused && staffRefused && uploadRefused); round++ {
		if round == 500 {
			t.Fatalf("500 rounds and not everything refused: publish %v, customer %v, staff %v, upload %v; %d bytes free",
				pubRefused, custRefused, staffRefused, uploadRefused, tmpfstest.Free(t, disk))
		}
		switch rc := r.publish(); rc {
		case 0:
		case 0x97:
			pubRefused = true
		default:
			t.Fatalf("telemetry: reason 0x%02x, want 0x00 or 0x97", rc)
		}
		if a := r.send(r.cust); !a.OK {
			refusedFull(t, "a customer's chat send", a)
			custRefused = true
		}
		if a := r.send(r.staff); !a.OK {
			refusedFull(t, "staff's chat send", a)
			staffRefused = true
		}
		if !uploadRefused {
			if a := r.upload(300 << 10); !a.OK {
				refusedFull(t, "a media upload", a)
				uploadRefused = true
			}
		}
		if free := tmpfstest.Free(t, disk); floor > 0 && free <= 0 {
			t.Fatal("the disk ran out: the floor did not stop the writes")
		}
	}
	if floor == 0 {
		// Take the last pages of the disk too.
		tmpfstest.Fill(t, filler, -1)
	}
	// maybeFull: refused with words, or (without the floor) stored.
	maybeFull := func(what string, a storetest.Answer) {
		t.Helper()
		if !a.OK || small {
			refusedFull(t, what, a)
		}
	}

	// Full: every kind of write is refused with words, reads go on, and the
	// health op says why.
	if rc := r.publish(); rc != 0x97 && (small || rc != 0) {
		t.Fatalf("telemetry on a full disk: reason 0x%02x, want 0x97", rc)
	}
	maybeFull("a chat send", r.send(r.staff))
	maybeFull("a booking", r.staff.CallID(t, "booking", "book", bookReq, bookBody))
	// Without the floor, the pages of the upload refused above were freed
	// when it was swept, and a second one may fit in them: stored rightly.
	maybeFull("a media upload", r.upload(300<<10))
	h := r.health()
	if h.WritesRefused != "disk_full" || (floor > 0 && h.DiskFreeBytes >= uint64(floor)) || h.DiskMinFreeBytes != uint64(floor) {
		t.Fatalf("health on a full disk: refused %q, %d bytes free, floor %d", h.WritesRefused, h.DiskFreeBytes, h.DiskMinFreeBytes)
	}
	// The console's checks say the same as the disk line, at once (not a
	// cached "disk_ok" from before it filled).
	if floor > 0 {
		var disk proto.HealthCheck
		for _, c := range h.Checks {
			if c.Name == "disk" {
				disk = c
			}
		}
		if disk.Severity != "fail" || disk.Code != "disk_floor" {
			t.Fatalf("the disk check on a full disk: %+v, want fail disk_floor", disk)
		}
	}
	// Devices that drop off come back: the persistent subscriber gets what
	// it was sent, a staff tablet starts afresh.
	r.owner.Reconnect(t)
	r.staff.Reconnect(t)
	r.checkAcked()
	t.Logf("full after %d telemetry, %d chat texts and %d blobs acknowledged; %d bytes free", len(r.ackedTelemetry), len(r.ackedTexts), len(r.ackedBlobs), h.DiskFreeBytes)

	// Room again, no restart: every kind of write goes in, the booking
	// refused before goes in under the same request id.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if rc := r.publish(); rc != 0 {
		t.Fatalf("telemetry once the disk has room: reason 0x%02x", rc)
	}
	storetest.OK(t, r.send(r.cust))
	storetest.OK(t, r.send(r.staff))
	// The same request again: stored now, or (stored before) the same answer.
	storetest.OK(t, r.staff.CallID(t, "booking", "book", bookReq, bookBody))
	storetest.OK(t, r.upload(600<<10))
	if h := r.health(); h.WritesRefused != "" {
		t.Fatalf("health once the disk has room: refused %q", h.WritesRefused)
	}
	r.checkAcked()

	// Nothing corrupt on disk.
	s.Stop()
	db, err := bolt.Open(filepath.Join(disk, "data", broker.DBFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var problems []string
	var mu sync.Mutex
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			mu.Lock()
			problems = append(problems, err.Error())
			mu.Unlock()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("bbolt check after the full disk: %s", strings.Join(problems, "; "))
	}
}

// A persistent session that comes back while the disk is full gets what was
// queued for it while it was away, in publish order: resuming writes
// nothing new, so a full disk does not stop it.
func TestFullDiskResumesASessionInOrder(t *testing.T) {
	disk, ok := tmpfstest.Mount(t, 32<<20)
	if !ok {
		return
	}
	const floor = 6 << 20
	kioskDev := storetest.Device{ID: "kiosk-1", Role: "kiosk"}
	ownerDev := storetest.Device{ID: "owner-li", Role: "admin"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{kioskDev, ownerDev}, Config: func(c *broker.Config) {
		c.DataDir = filepath.Join(disk, "data")
		c.Persistence.MinFreeDiskBytes = floor
	}})
	r := &fullDiskRig{t: t, s: s, disk: disk, floor: floor}
	r.owner = s.ConnectAs(t, ownerDev.ID, "pw-"+ownerDev.ID, "", true)
	r.owner.Subscribe(t, "devices/+/telemetry")
	var err error
	r.kiosk, _, err = mqtttest.Dial(t, s.Addr, &paho.Connect{ClientID: kioskDev.ID, CleanStart: true, KeepAlive: 30,
		Username: kioskDev.ID, UsernameFlag: true, Password: []byte("pw-" + kioskDev.ID), PasswordFlag: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.owner.Close()
	for range 50 {
		if rc := r.publish(); rc != 0 {
			t.Fatalf("telemetry for an offline session: reason 0x%02x", rc)
		}
	}
	tmpfstest.Fill(t, filepath.Join(disk, "filler"), tmpfstest.Free(t, disk)-floor+1<<20)
	if rc := r.publish(); rc != 0x97 {
		t.Fatalf("telemetry on a full disk: reason 0x%02x, want 0x97", rc)
	}
	r.owner.Reconnect(t)
	got := r.owner.WaitFor(t, len(r.ackedTelemetry), storetest.Topic("devices/kiosk-1/telemetry"))
	for i, m := range got {
		if string(m.Payload) != r.ackedTelemetry[i] {
			t.Fatalf("message %d after the return is %.12s…, want %.12s… (publish order)", i, m.Payload, r.ackedTelemetry[i])
		}
	}
}

// Linked to HQ while the line is out, the outbox holds what devices sent;
// the disk fills and further publishes get 0x97. When the line comes back
// the outbox drains to HQ though the disk is still full (acknowledged
// entries are deleted), and once the disk has room new publishes reach HQ
// too, without a restart.
func TestFullDiskCloudOutboxDrains(t *testing.T) {
	disk, ok := tmpfstest.Mount(t, 32<<20)
	if !ok {
		return
	}
	const floor = 6 << 20
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	line, err := faultproxy.New("127.0.0.1:0", hqb.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = line.Close() })
	line.Down()
	var mu sync.Mutex
	atHQ := map[string]bool{}
	hq, _, err := mqtttest.Dial(t, hqb.Addr, &paho.Connect{ClientID: "hq-watch", CleanStart: true, KeepAlive: 30}, func(p *paho.Publish) {
		mu.Lock()
		atHQ[string(p.Payload)] = true
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hq.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/+/up/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	kioskDev := storetest.Device{ID: "kiosk-1", Role: "kiosk"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{staffDev, kioskDev}, Config: func(c *broker.Config) {
		c.DataDir = filepath.Join(disk, "data")
		c.Persistence.MinFreeDiskBytes = floor
		c.Cloud.URL = "mqtt://" + line.Addr()
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	}})
	// Status goes to HQ at QoS 1 (telemetry at QoS 0, which may be lost).
	r := &fullDiskRig{t: t, s: s, disk: disk, floor: floor, topic: "devices/kiosk-1/status"}
	r.staff = s.Connect(t, staffDev, "")
	r.kiosk, _, err = mqtttest.Dial(t, s.Addr, &paho.Connect{ClientID: kioskDev.ID, CleanStart: true, KeepAlive: 30,
		Username: kioskDev.ID, UsernameFlag: true, Password: []byte("pw-" + kioskDev.ID), PasswordFlag: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if rc := r.publish(); rc != 0 {
			t.Fatalf("a status with the line out: reason 0x%02x", rc)
		}
	}
	waitHealth := func(what string, ok func(proto.StoreHealth) bool) proto.StoreHealth {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			h := r.health()
			if ok(h) {
				return h
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15 s: %+v", what, h)
			}
			time.Sleep(50 * time.Millisecond) // polling the health op with a deadline
		}
	}
	waitHealth("the outbox holds the telemetry", func(h proto.StoreHealth) bool { return h.OutboxEntries >= 200 })

	filler := filepath.Join(disk, "filler")
	tmpfstest.Fill(t, filler, tmpfstest.Free(t, disk)-floor+1<<20)
	if rc := r.publish(); rc != 0x97 {
		t.Fatalf("a status on a full disk: reason 0x%02x, want 0x97", rc)
	}
	// An MQTT 3.1.1 device has no reason codes: it gets no PUBACK, so it
	// keeps the message and sends it again, rather than a PUBACK for a
	// message that was not stored.
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Fatalf("mosquitto_pub not found: install the Debian package mosquitto-clients: %v", err)
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	out, err := exec.CommandContext(ctx, pub, "-V", "mqttv311", "-h", host, "-p", port, "-i", "kiosk-1:v3", "-u", kioskDev.ID, "-P", "pw-"+kioskDev.ID,
		"-q", "1", "-t", "devices/kiosk-1/status", "-m", `{"v3":"not stored"}`).CombinedOutput()
	timedOut := ctx.Err() != nil
	cancel()
	if !timedOut {
		t.Fatalf("an MQTT 3.1.1 publish on a full disk ended (%v: %s): it got a PUBACK for a message that was not stored", err, out)
	}
	line.Up()
	waitHealth("the outbox drains on a full disk", func(h proto.StoreHealth) bool {
		return h.CloudConnected && h.OutboxEntries == 0 && h.WritesRefused == "disk_full"
	})
	arrived := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range r.ackedTelemetry {
			if atHQ[p] {
				n++
			}
		}
		return n
	}
	if n := arrived(); n != len(r.ackedTelemetry) {
		t.Fatalf("%d of %d acknowledged messages at HQ", n, len(r.ackedTelemetry))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if rc := r.publish(); rc != 0 {
			t.Fatalf("telemetry once the disk has room: reason 0x%02x", rc)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for arrived() != len(r.ackedTelemetry) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged messages at HQ 15 s after the disk had room", arrived(), len(r.ackedTelemetry))
		}
		time.Sleep(50 * time.Millisecond) // polling HQ's subscriber with a deadline
	}
	waitHealth("the outbox is empty", func(h proto.StoreHealth) bool { return h.OutboxEntries == 0 && h.WritesRefused == "" })
}
