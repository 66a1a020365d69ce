package broker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/backup"
	"github.com/storeedge/storeedge/broker/schema"
	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// mqttSession is a raw paho client that keeps its session (Clean Start
// off) and collects what arrives on it.
type mqttSession struct {
	c    *paho.Client
	mu   sync.Mutex
	msgs map[string][]string // topic → payloads
}

func dialSession(t *testing.T, addr, id, user string, clean bool) *mqttSession {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &mqttSession{msgs: map[string][]string{}}
	s.c = paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: 10 * time.Second,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			s.mu.Lock()
			s.msgs[pr.Packet.Topic] = append(s.msgs[pr.Packet.Topic], string(pr.Packet.Payload))
			s.mu.Unlock()
			return true, nil
		}},
		OnClientError: func(error) {}})
	exp := uint32(3600)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: clean, Username: user, UsernameFlag: true,
		Password: []byte("pw-" + user), PasswordFlag: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}}); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { _ = s.c.Disconnect(&paho.Disconnect{}) })
	return s
}

func (s *mqttSession) got(topic string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs[topic]...)
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type chatHistory struct {
	LastSeq  int `json:"last_seq"`
	Messages []struct {
		Seq   int    `json:"seq"`
		Text  string `json:"text"`
		Media *struct {
			Hash string `json:"hash"`
		} `json:"media"`
	} `json:"messages"`
	More bool `json:"more"`
	Next int  `json:"next"`
}

// The store is in use: a queued message for a tablet that is away, a
// retained status, a chat with a photo, a booking, each acknowledged. A
// backup is made through the running daemon's admin socket while staff
// keep chatting; it is restored into an empty folder, and a broker
// started on it has every acknowledged message, chat, booking and blob,
// read through the services; its link to HQ starts a new epoch.
func TestBackupRestoreFindsEverythingAcknowledged(t *testing.T) {
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	devs := []storetest.Device{staffDev, {ID: "admin-1", Role: "admin"}, {ID: "admin-2", Role: "admin"}}
	s := storetest.Start(t, storetest.Options{Devices: devs, Config: func(c *broker.Config) { c.Backup.ScryptWorkFactor = 10 }})
	cfg, err := broker.LoadConfig(filepath.Join(s.Dir, "store.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// A tablet subscribed with a persistent session goes away; what is
	// published to it meanwhile waits in the store.
	tablet := dialSession(t, s.Addr, "admin-1:tablet", "admin-1", true)
	ctx := context.Background()
	if _, err := tablet.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "store/notes/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	_ = tablet.c.Disconnect(&paho.Disconnect{})
	pub := dialSession(t, s.Addr, "admin-2:pub", "admin-2", true)
	for i := range 5 {
		if _, err := pub.c.Publish(ctx, &paho.Publish{Topic: "store/notes/today", QoS: 1, Payload: fmt.Appendf(nil, "note %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.c.Publish(ctx, &paho.Publish{Topic: "store/notes/door", QoS: 1, Retain: true, Payload: []byte("the back door sticks")}); err != nil {
		t.Fatal(err)
	}

	// A photo (a PDF here: no thumbnail to wait for), sent in a group chat.
	staff := s.Connect(t, staffDev, "")
	blobData := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("vaccination record "), 300)...)
	sum := sha256.Sum256(blobData)
	storetest.OK(t, staff.Call(t, "media", "begin", fmt.Sprintf(`{"upload":"up-1","type":"application/pdf","size":%d,"sha256":%q}`, len(blobData), hex.EncodeToString(sum[:]))))
	storetest.OK(t, staff.Call(t, "media", "chunk", fmt.Sprintf(`{"upload":"up-1","index":0,"data":%q}`, base64.StdEncoding.EncodeToString(blobData))))
	var blob struct {
		Hash string `json:"hash"`
	}
	storetest.OK(t, staff.Call(t, "media", "complete", `{"upload":"up-1"}`)).Decode(t, &blob)
	var grp struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, staff.Call(t, "chat", "group_create", `{"title":"Team","members":["admin-1"]}`)).Decode(t, &grp)
	storetest.OK(t, staff.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"file","media":{"hash":%q},"text":"Bella's record"}`, grp.Conversation, blob.Hash)))
	var booked struct {
		Booking struct {
			ID    string `json:"id"`
			Start string `json:"start"`
		} `json:"booking"`
	}
	storetest.OK(t, staff.Call(t, "booking", "book", `{"service":"baby-swim","start":"2026-11-25T10:00:00+08:00","customer":"cust-walkin-7","notes":"first swim"}`)).Decode(t, &booked)

	// Staff keep chatting while the backup is made.
	writer := s.Connect(t, staffDev, "writer")
	var acked atomic.Int64 // messages 2…acked+1 are acknowledged
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a, err := writer.TryCall("chat", "send", fmt.Sprintf("w-%d", i), fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"busy %d"}`, grp.Conversation, i))
			if err != nil || !a.OK {
				t.Errorf("send %d during the backup: %v %s", i, err, a.Raw)
				return
			}
			acked.Store(int64(i))
		}
	}()
	waitUntil(t, "staff chatting", 10*time.Second, func() bool { return acked.Load() >= 20 })
	before := acked.Load()
	file := filepath.Join(t.TempDir(), "store.backup")
	m, err := backup.WriteFile(ctx, file, func(ctx context.Context, w io.Writer) (*backup.Manifest, error) {
		return broker.Backup(ctx, cfg, w, backup.Encryption{Passphrase: "a long passphrase"})
	})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "chatting after the backup", 10*time.Second, func() bool { return acked.Load() >= before+10 })
	close(stop)
	wg.Wait()
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if m.StoreID != cfg.StoreID || m.Buckets["media_blobs"] < 1 || len(m.Configs()) < 2 || m.Schema != schemaTarget(t) {
		t.Fatalf("manifest: %+v", m)
	}

	// Refused: a data_dir that holds anything, with nothing changed.
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	rcfg := cfg
	rcfg.DataDir = full
	if _, err := broker.Restore(ctx, rcfg, file, backup.Key{Passphrase: "a long passphrase"}, ""); !errors.Is(err, broker.ErrNotEmpty) || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("restore into a folder with a file: %v", err)
	}
	if ents, _ := os.ReadDir(full); len(ents) != 1 {
		t.Fatalf("the refused restore wrote %v", ents)
	}
	// Refused: a wrong passphrase, a damaged archive; nothing written.
	rcfg.DataDir = filepath.Join(t.TempDir(), "data")
	if _, err := broker.Restore(ctx, rcfg, file, backup.Key{Passphrase: "another passphrase"}, ""); !errors.Is(err, backup.ErrWrongKey) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)*2/3] ^= 0x20
	damaged := filepath.Join(t.TempDir(), "damaged.backup")
	if err := os.WriteFile(damaged, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.Restore(ctx, rcfg, damaged, backup.Key{Passphrase: "a long passphrase"}, ""); !errors.Is(err, backup.ErrDamaged) {
		t.Fatalf("damaged archive: %v", err)
	}
	if ents, _ := os.ReadDir(rcfg.DataDir); len(ents) != 0 {
		t.Fatalf("a refused restore left %v", ents)
	}

	// The restore.
	s.Stop()
	confOut := filepath.Join(t.TempDir(), "etc")
	res, err := broker.Restore(ctx, rcfg, file, backup.Key{Passphrase: "a long passphrase"}, confOut)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(confOut, "store.yaml")); err != nil || !bytes.Contains(b, []byte("store_id: "+cfg.StoreID)) {
		t.Fatalf("the restored store.yaml: %v", err)
	}
	if _, err := os.Stat(filepath.Join(confOut, "devices.yaml")); err != nil {
		t.Fatalf("the restored devices.yaml: %v", err)
	}
	ep := restoredEpoch(t, rcfg)
	if ep.Reason != outbox.EpochRestored || ep.ID != res.Epoch || ep.ID == "" {
		t.Fatalf("the restored outbox's epoch: %+v (restore said %q)", ep, res.Epoch)
	}

	r := storetest.Start(t, storetest.Options{Devices: devs, Config: func(c *broker.Config) { c.DataDir = rcfg.DataDir }})
	// The tablet comes back to the restored box and gets what waited.
	back := dialSession(t, r.Addr, "admin-1:tablet", "admin-1", false)
	waitUntil(t, "the queued notes", 10*time.Second, func() bool { return len(back.got("store/notes/today")) == 5 })
	for i, p := range back.got("store/notes/today") {
		if p != fmt.Sprintf("note %d", i) {
			t.Fatalf("queued note %d: %q", i, p)
		}
	}
	late := dialSession(t, r.Addr, "admin-2:late", "admin-2", true)
	if _, err := late.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "store/notes/door", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the retained note", 10*time.Second, func() bool { return len(late.got("store/notes/door")) == 1 })

	rs := r.Connect(t, staffDev, "")
	var h chatHistory
	var texts []string
	var media string
	for after := 0; ; {
		storetest.OK(t, rs.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q,"after":%d}`, grp.Conversation, after))).Decode(t, &h)
		for _, m := range h.Messages {
			if m.Seq != len(texts)+1 {
				t.Fatalf("history: seq %d after %d", m.Seq, len(texts))
			}
			texts = append(texts, m.Text)
			if m.Media != nil {
				media = m.Media.Hash
			}
		}
		if !h.More {
			break
		}
		after = h.Next
	}
	// Everything acknowledged before the backup began is there; what was
	// acknowledged while it ran is there up to the snapshot, without gaps.
	// (Seq 1 is the group's "created" message, 2 the photo.)
	if len(texts) < int(before)+2 || len(texts) > int(acked.Load())+2 {
		t.Fatalf("restored %d messages; %d were acknowledged before the backup, %d in all", len(texts), before+2, acked.Load()+2)
	}
	if texts[1] != "Bella's record" || media != blob.Hash {
		t.Fatalf("the photo message: %q %q", texts[1], media)
	}
	for i, x := range texts[2:] {
		if x != fmt.Sprintf("busy %d", i+1) {
			t.Fatalf("message %d: %q", i+3, x)
		}
	}
	var got struct {
		Data string `json:"data"`
		EOF  bool   `json:"eof"`
	}
	storetest.OK(t, rs.Call(t, "media", "get", fmt.Sprintf(`{"hash":%q}`, blob.Hash))).Decode(t, &got)
	if d, _ := base64.StdEncoding.DecodeString(got.Data); !bytes.Equal(d, blobData) || !got.EOF {
		t.Fatalf("the restored blob: %d bytes, eof %v", len(d), got.EOF)
	}
	var bk struct {
		Booking struct {
			ID, Start, Notes string
		} `json:"booking"`
	}
	storetest.OK(t, rs.Call(t, "booking", "get", fmt.Sprintf(`{"booking":%q}`, booked.Booking.ID))).Decode(t, &bk)
	if bk.Booking.ID != booked.Booking.ID || bk.Booking.Start != booked.Booking.Start || bk.Booking.Notes != "first swim" {
		t.Fatalf("the restored booking: %+v", bk)
	}
	// And a restore over the restored store is refused.
	if _, err := broker.Restore(ctx, rcfg, file, backup.Key{Passphrase: "a long passphrase"}, ""); !errors.Is(err, broker.ErrNotEmpty) {
		t.Fatalf("restore over a store: %v", err)
	}
}

// restoredEpoch reads the outbox's epoch of a stopped store.
func restoredEpoch(t *testing.T, cfg broker.Config) outbox.EpochInfo {
	t.Helper()
	db, err := bolt.Open(filepath.Join(cfg.DataDir, broker.DBFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := topicmap.Parse(configs.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(outbox.Options{Classify: m.Class})
	if err != nil {
		t.Fatal(err)
	}
	var ep outbox.EpochInfo
	if err := db.View(func(tx *bolt.Tx) (err error) { ep, err = ob.Epoch(tx); return err }); err != nil {
		t.Fatal(err)
	}
	return ep
}

func metricsText(t *testing.T, s *storetest.Store) string {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type backupHealth struct {
	Backup *struct {
		Enabled bool       `json:"enabled"`
		Off     string     `json:"off"`
		Last    *time.Time `json:"last"`
		LastOK  *time.Time `json:"last_ok"`
		Error   string     `json:"error"`
		Kept    int        `json:"kept"`
		Bytes   int64      `json:"bytes"`
		Next    *time.Time `json:"next"`
	} `json:"backup"`
}

func readBackupHealth(t *testing.T, c *storetest.Client) backupHealth {
	t.Helper()
	var h backupHealth
	storetest.OK(t, c.Call(t, "store", "health", `{}`)).Decode(t, &h)
	if h.Backup == nil {
		t.Fatal("the store's health has no backup")
	}
	return h
}

// metricValue is the value of an unlabelled metric on /metrics.
func metricValue(t *testing.T, text, name string) string {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// Daily backups: made at daily_at in the store's time zone as its clock
// moves (and at once by a box that was off then), kept keep_days days
// (only the daemon's own files are deleted), and their state is in the
// store's health and /metrics. A failed one (the seal keys cannot be
// read) is reported there, tried again an hour later, and clears once a
// backup succeeds.
func TestDailyBackups(t *testing.T) {
	t.Setenv("SE_TEST_BACKUP_PASSPHRASE", "the daily passphrase")
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	oldOwn := filepath.Join(dir, backup.DailyName("demo-store", time.Date(2026, 10, 1, 19, 30, 0, 0, time.UTC)))
	foreign := []string{filepath.Join(dir, "by-hand.backup"), filepath.Join(dir, backup.DailyName("other-store", time.Date(2026, 10, 1, 19, 30, 0, 0, time.UTC)))}
	for _, f := range append([]string{oldOwn}, foreign...) {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{staffDev},
		Config: func(c *broker.Config) {
			c.StoreID = "demo-store"
			c.Backup.Dir, c.Backup.KeepDays, c.Backup.DailyAt = dir, 3, "03:30"
			c.Backup.PassphraseEnv, c.Backup.ScryptWorkFactor = "SE_TEST_BACKUP_PASSPHRASE", 10
		},
		Wire: func(_ *storetest.Store, c *broker.Config) { c.Backup.Tick = 10 * time.Millisecond }})
	staff := s.Connect(t, staffDev, "")
	var svcs struct {
		TimeZone string `json:"time_zone"`
	}
	storetest.OK(t, staff.Call(t, "booking", "services", `{}`)).Decode(t, &svcs)
	zone, err := time.LoadLocation(svcs.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, zone) }
	waitFor := func(what string, ok func(backupHealth) bool) backupHealth {
		t.Helper()
		var h backupHealth
		waitUntil(t, what, 20*time.Second, func() bool { h = readBackupHealth(t, staff); return ok(h) })
		return h
	}
	madeAt := func(at time.Time) func(backupHealth) bool {
		return func(h backupHealth) bool {
			return h.Backup.LastOK != nil && h.Backup.LastOK.Equal(at) && h.Backup.Error == ""
		}
	}
	files := func() int {
		fs, err := backup.ListDaily(dir, "demo-store")
		if err != nil {
			t.Fatal(err)
		}
		return len(fs)
	}

	// Monday 08:00: the box was off at 03:30, so it makes today's now.
	start := s.Now()
	h := waitFor("the first daily backup", madeAt(start))
	if !h.Backup.Enabled || h.Backup.Kept != 2 || h.Backup.Bytes < 1000 || h.Backup.Next == nil {
		t.Fatalf("health after the first backup: %+v", *h.Backup)
	}
	mt := metricsText(t, s)
	for name, want := range map[string]string{"storeedge_backup_enabled": "1", "storeedge_backup_files_kept": "2", "storeedge_backup_last_attempt_ok": "1",
		"storeedge_backup_failures_total": "0", "storeedge_backup_last_success_timestamp_seconds": fmt.Sprintf("%.9g", float64(start.Unix())),
		"storeedge_backup_bytes": fmt.Sprint(h.Backup.Bytes)} {
		if got := metricValue(t, mt, name); got != want {
			t.Fatalf("%s = %q, want %q", name, got, want)
		}
	}
	// The file is a real backup of this store.
	fs, _ := backup.ListDaily(dir, "demo-store")
	f, err := os.Open(fs[len(fs)-1].Path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := backup.Verify(context.Background(), f, backup.Key{Passphrase: "the daily passphrase"})
	f.Close()
	if err != nil || c.Manifest.StoreID != "demo-store" {
		t.Fatalf("the daily backup: %v", err)
	}

	// Tuesday 03:29: not yet; 03:31: made.
	s.Set(day(24, 3, 29))
	if h := readBackupHealth(t, staff); !h.Backup.Next.Equal(day(24, 3, 30)) || h.Backup.Kept != 2 {
		t.Fatalf("before Tuesday's backup: %+v", *h.Backup)
	}
	s.Set(day(24, 3, 31))
	waitFor("Tuesday's backup", madeAt(day(24, 3, 31)))
	// Wednesday: the October file goes (older than 3 days, not among the
	// 3 newest); Thursday four are kept (Monday's is 3 days old).
	s.Set(day(25, 3, 31))
	waitFor("Wednesday's backup", madeAt(day(25, 3, 31)))
	if _, err := os.Stat(oldOwn); !errors.Is(err, os.ErrNotExist) || files() != 3 {
		t.Fatalf("Wednesday: the October backup %v, %d files", err, files())
	}
	s.Set(day(26, 3, 31))
	if h := waitFor("Thursday's backup", madeAt(day(26, 3, 31))); h.Backup.Kept != 4 || files() != 4 {
		t.Fatalf("Thursday: kept %d, %d files", h.Backup.Kept, files())
	}

	// Friday the seal keys cannot be read: the backup fails, loudly.
	keys := filepath.Join(s.Dir, "data", "seal.keys")
	if err := os.Rename(keys, keys+".away"); err != nil {
		t.Fatal(err)
	}
	s.Set(day(27, 3, 31))
	h = waitFor("Friday's failure", func(h backupHealth) bool { return h.Backup.Error != "" })
	if !strings.Contains(h.Backup.Error, "seal keys") || !h.Backup.Last.Equal(day(27, 3, 31)) || !h.Backup.LastOK.Equal(day(26, 3, 31)) ||
		!h.Backup.Next.Equal(day(27, 4, 31)) || h.Backup.Kept != 4 {
		t.Fatalf("after a failed backup: %+v", *h.Backup)
	}
	mt = metricsText(t, s)
	if metricValue(t, mt, "storeedge_backup_last_attempt_ok") != "0" || metricValue(t, mt, "storeedge_backup_failures_total") != "1" {
		t.Fatalf("metrics after a failed backup:\n%s", mt)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
		t.Fatalf("a failed backup left %v", tmps)
	}
	// The keys are back; an hour later it is made (and Tuesday's, now
	// more than 3 days old, goes).
	if err := os.Rename(keys+".away", keys); err != nil {
		t.Fatal(err)
	}
	s.Set(day(27, 4, 32))
	h = waitFor("Friday's retry", madeAt(day(27, 4, 32)))
	if h.Backup.Kept != 3 || metricValue(t, metricsText(t, s), "storeedge_backup_last_attempt_ok") != "1" {
		t.Fatalf("after the retry: %+v", *h.Backup)
	}
	for _, f := range foreign {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("a file the daemon did not make was deleted: %v", err)
		}
	}
}

// Without a passphrase or a recipient daily backups are off, and the
// health and /metrics say so.
func TestDailyBackupsOff(t *testing.T) {
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{staffDev},
		Config: func(c *broker.Config) { c.Backup.PassphraseEnv = "SE_TEST_UNSET_PASSPHRASE" }})
	h := readBackupHealth(t, s.Connect(t, staffDev, ""))
	if h.Backup.Enabled || !strings.Contains(h.Backup.Off, "off") || !strings.Contains(h.Backup.Off, "SE_TEST_UNSET_PASSPHRASE") {
		t.Fatalf("health: %+v", *h.Backup)
	}
	if v := metricValue(t, metricsText(t, s), "storeedge_backup_enabled"); v != "0" {
		t.Fatalf("storeedge_backup_enabled %q", v)
	}
}

// A full disk: the daily backup fails with the words "no space left", in
// the health and /metrics, leaves no partial file, and is made an hour
// later once there is room again.
func TestDailyBackupDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		msg := "mounting a small tmpfs for the backup folder needs root"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	t.Setenv("SE_TEST_FULL_PASSPHRASE", "the daily passphrase")
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{staffDev},
		Config: func(c *broker.Config) {
			c.Backup.Dir, c.Backup.PassphraseEnv, c.Backup.ScryptWorkFactor = dir, "SE_TEST_FULL_PASSPHRASE", 10
		},
		Wire: func(_ *storetest.Store, c *broker.Config) { c.Backup.Tick = 10 * time.Millisecond }})
	staff := s.Connect(t, staffDev, "")
	var h backupHealth
	waitUntil(t, "the failed backup", 20*time.Second, func() bool { h = readBackupHealth(t, staff); return h.Backup.Error != "" })
	if !strings.Contains(h.Backup.Error, "no space left") || h.Backup.LastOK != nil || h.Backup.Kept != 0 {
		t.Fatalf("health on a full disk: %+v", *h.Backup)
	}
	if v := metricValue(t, metricsText(t, s), "storeedge_backup_last_attempt_ok"); v != "0" {
		t.Fatalf("storeedge_backup_last_attempt_ok %q", v)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a failed backup left %v", ents)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size=16m"); err != nil {
		t.Fatal(err)
	}
	s.Advance(time.Hour)
	waitUntil(t, "the backup once there is room", 20*time.Second, func() bool { h = readBackupHealth(t, staff); return h.Backup.LastOK != nil })
	if h.Backup.Error != "" || h.Backup.Kept != 1 {
		t.Fatalf("health after the retry: %+v", *h.Backup)
	}
}

// schemaTarget is the schema version this build brings a database to.
func schemaTarget(t *testing.T) int {
	t.Helper()
	reg, err := schema.NewRegistry(schema.Migrations()...)
	if err != nil {
		t.Fatal(err)
	}
	return reg.Target()
}
