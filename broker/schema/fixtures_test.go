package schema_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/schema"
	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/proto"
)

// released are the fixtures of the released builds (testdata/README.md).
var released = []string{"green1", "green2"}

// fixture is a copy of a released store: its config, and the database's path.
func fixture(t *testing.T, name string) (broker.Config, string) {
	t.Helper()
	src, dir := filepath.Join("testdata", name), t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	gz, err := os.Open(filepath.Join(src, "storeedge.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	if err != nil {
		t.Fatal(err)
	}
	db, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(data, broker.DBFile)
	if err := os.WriteFile(dbPath, db, 0o600); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{"seal.keys": filepath.Join(data, "seal.keys"), "devices.yaml": filepath.Join(dir, "devices.yaml"), "services.yaml": filepath.Join(dir, "services.yaml")} {
		b, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := broker.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.StoreID = "sim-store"
	cfg.DataDir = data
	cfg.Auth.DevicesFile = filepath.Join(dir, "devices.yaml")
	cfg.Booking.ServicesFile = filepath.Join(dir, "services.yaml")
	cfg.Listeners = broker.ListenersConfig{TCP: "127.0.0.1:0"}
	cfg.Log.Level = "warn"
	cfg.Stderr = io.Discard
	// A link to HQ that never connects: the outbox is kept and counted.
	cfg.Cloud.URL = "mqtt://127.0.0.1:9"
	return cfg, dbPath
}

func start(t *testing.T, cfg broker.Config) (*broker.Broker, error) {
	t.Helper()
	b, err := broker.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { stop(t, b) })
	return b, nil
}

func stop(t *testing.T, b *broker.Broker) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// staff logs in as the simulator's staff tablet (its password comes from
// the simulator's default secret, as firmware-sim derives it).
func staff(t *testing.T, b *broker.Broker) *device.Client {
	t.Helper()
	m := hmac.New(sha256.New, []byte("storeedge-sim"))
	m.Write([]byte("staff-sim-1"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := device.Connect(ctx, device.Config{Brokers: []string{"mqtt://" + b.Addrs().TCP}, DeviceID: "staff-sim-1", Password: hex.EncodeToString(m.Sum(nil))[:20]})
	if err != nil {
		t.Fatalf("staff-sim-1 logs in: %v", err)
	}
	t.Cleanup(func() { closeClient(c) })
	return c
}

// TestReleasedDatabasesUpgrade: the database of every released build opens
// with today's broker, which migrates it to version 2 (once: a restart
// adds no history) and then finds its data through the services: a chat
// history, a booking, the media blobs and the outbox for HQ.
func TestReleasedDatabasesUpgrade(t *testing.T) {
	for _, name := range released {
		t.Run(name, func(t *testing.T) {
			cfg, dbPath := fixture(t, name)
			cfg.BuildVersion = "v2.0.0-test"
			if v := fileVersion(t, dbPath); v != 1 {
				t.Fatalf("the fixture is at version %d, want 1", v)
			}
			b, err := start(t, cfg)
			if err != nil {
				t.Fatalf("today's broker on %s's database: %v", name, err)
			}
			c := staff(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			var h proto.StoreHealth
			if err := c.Do(ctx, "store", "health", struct{}{}, &h); err != nil {
				t.Fatal(err)
			}
			if h.Schema != 2 {
				t.Fatalf("health schema %d, want 2", h.Schema)
			}
			if h.OutboxEntries == 0 || h.MediaBytes == 0 {
				t.Fatalf("health: outbox %d entries, media %d bytes; the fixture has both", h.OutboxEntries, h.MediaBytes)
			}

			page, err := c.ChatList(ctx, device.ChatListRequest{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			texts := 0
			for _, conv := range page.Conversations {
				if conv.LastSeq == 0 {
					continue
				}
				var msgs []device.ChatMessage
				for after := uint64(0); ; {
					hp, err := c.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: conv.Conversation, After: after})
					if err != nil {
						t.Fatalf("history of %s: %v", conv.Conversation, err)
					}
					msgs = append(msgs, hp.Messages...)
					if !hp.More {
						break
					}
					after = hp.Next
				}
				if uint64(len(msgs)) != conv.LastSeq {
					t.Fatalf("%s: %d messages in the history, last seq %d", conv.Conversation, len(msgs), conv.LastSeq)
				}
				for _, m := range msgs {
					if m.Kind == device.KindText && m.Text != "" {
						texts++
					}
				}
			}
			if texts == 0 {
				t.Fatalf("no chat text found in %d conversations", len(page.Conversations))
			}

			changes, err := c.Changes(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			booked := map[string]bool{}
			for _, ch := range changes.Changes {
				if ch.Booking != "" {
					booked[ch.Booking] = true
				}
			}
			if len(booked) < 5 {
				t.Fatalf("%d bookings in the change feed, the fixture has more", len(booked))
			}
			for id := range booked {
				d, err := c.GetBooking(ctx, id)
				if err != nil || d.Booking.ID != id || d.Booking.Customer == "" || d.Booking.Service == "" {
					t.Fatalf("booking %s: %+v %v", id, d.Booking, err)
				}
			}

			t.Logf("%s: %d conversations, %d chat texts, %d bookings, %d outbox entries, %d media bytes", name, len(page.Conversations), texts, len(booked), h.OutboxEntries, h.MediaBytes)

			// Once: a restart neither migrates again nor adds history.
			closeClient(c)
			stop(t, b)
			b2, err := start(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if v := b2.SchemaVersion(); v != 2 {
				t.Fatalf("after a restart: schema %d", v)
			}
			stop(t, b2)
			hist := fileHistory(t, dbPath)
			if len(hist) != 1 || hist[0].From != 1 || hist[0].To != 2 || hist[0].At.IsZero() || hist[0].By != "v2.0.0-test" {
				t.Fatalf("history %+v, want the one step 1→2 with its time and the binary's version", hist)
			}
		})
	}
}

// TestFailedMigrationLeavesTheOldDatabase: a migration that breaks half-way
// through (after deleting a released store's chat messages) stops the
// start with an error naming it, and the file is byte for byte what the
// released build wrote: it still runs on it, and today's broker without the
// broken migration finds every message.
func TestFailedMigrationLeavesTheOldDatabase(t *testing.T) {
	cfg, dbPath := fixture(t, "green2")
	before := readFile(t, dbPath)
	runs := 0
	broken := cfg
	broken.Migrations = []schema.Migration{{
		From: 2, To: 3, Name: "rewrite the chat messages",
		Describe: func(*bolt.Tx) (string, error) { return "chat: every message is rewritten", nil },
		Up: func(tx *bolt.Tx) error {
			runs++
			if err := tx.DeleteBucket([]byte("chat_msgs")); err != nil {
				return err
			}
			return errors.New("the disk said no")
		},
	}}
	if _, err := start(t, broken); err == nil || !strings.Contains(err.Error(), "migration 2→3 (rewrite the chat messages) failed, nothing was changed: the disk said no") {
		t.Fatalf("a failing migration: %v", err)
	}
	if !bytes.Equal(readFile(t, dbPath), before) {
		t.Fatal("the failed migration changed the database file")
	}
	if runs != 1 {
		t.Fatalf("the failing migration ran %d times, want once", runs)
	}
	b, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := staff(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	page, err := c.ChatList(ctx, device.ChatListRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, conv := range page.Conversations {
		hp, err := c.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: conv.Conversation})
		if err != nil {
			t.Fatal(err)
		}
		n += len(hp.Messages)
	}
	if n == 0 {
		t.Fatal("the chat messages are gone")
	}
}

// TestNewerDatabaseIsRefused: a database a later storeedge migrated (here
// to a fake version 3) is refused by this build with the message the
// store owner needs, and nothing is written to it.
func TestNewerDatabaseIsRefused(t *testing.T) {
	cfg, dbPath := fixture(t, "green1")
	later := cfg
	later.Migrations = []schema.Migration{fakeThree(0)}
	b, err := start(t, later)
	if err != nil {
		t.Fatal(err)
	}
	if v := b.SchemaVersion(); v != 3 {
		t.Fatalf("the later build: schema %d", v)
	}
	stop(t, b)
	before := readFile(t, dbPath)
	_, err = start(t, cfg)
	var newer *schema.NewerError
	if !errors.As(err, &newer) || err.Error() != "store: database schema 3 is newer than this storeedge (knows up to 2); install the newer storeedge or restore a backup" {
		t.Fatalf("this build on a newer database: %v", err)
	}
	if !bytes.Equal(readFile(t, dbPath), before) {
		t.Fatal("the refused start wrote to the database")
	}
}

func closeClient(c *device.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

func fileVersion(t *testing.T, path string) int {
	t.Helper()
	var v int
	viewFile(t, path, func(tx *bolt.Tx) (err error) { v, err = schema.Version(tx); return err })
	return v
}

func fileHistory(t *testing.T, path string) []schema.Step {
	t.Helper()
	var h []schema.Step
	viewFile(t, path, func(tx *bolt.Tx) (err error) { h, err = schema.History(tx); return err })
	return h
}

func viewFile(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}
