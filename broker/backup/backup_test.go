package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/backup"
	"github.com/storeedge/storeedge/broker/store"
)

const keys = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"

// source is a database with a few records and a config file.
func source(t *testing.T) (backup.Source, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "src.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("chat"))
		if err != nil {
			return err
		}
		for _, k := range []string{"a", "b", "c"} {
			if err := b.Put([]byte(k), bytes.Repeat([]byte(k), 1000)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "store.yaml")
	if err := os.WriteFile(cfg, []byte("store_id: s1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return backup.Source{StoreID: "s1", View: db.View, Keys: []byte(keys), KeysFrom: "test",
		Configs: []backup.ConfigFile{{Role: "store.yaml", Path: cfg}, {Role: "auth.devices_file", Path: filepath.Join(dir, "missing.yaml")}}}, dir
}

func write(t *testing.T, src backup.Source, enc backup.Encryption) []byte {
	t.Helper()
	var buf bytes.Buffer
	if enc.Passphrase != "" && enc.WorkFactor == 0 {
		enc.WorkFactor = 10
	}
	m, err := backup.Write(context.Background(), &buf, src, enc)
	if err != nil {
		t.Fatal(err)
	}
	if m.Buckets["chat"] != 3 || len(m.Configs()) != 1 || m.Configs()[0].Role != "store.yaml" {
		t.Fatalf("manifest: %+v", m)
	}
	return buf.Bytes()
}

// An archive opens with its passphrase or with the identity of its
// recipient, or either when made with both; the members come back as
// they were, and never in the clear in the file.
func TestRoundTrip(t *testing.T) {
	src, _ := source(t)
	hq, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		enc  backup.Encryption
		keys []backup.Key
	}{
		{"passphrase", backup.Encryption{Passphrase: "correct horse"}, []backup.Key{{Passphrase: "correct horse"}}},
		{"recipient", backup.Encryption{Recipients: []string{hq.Recipient().String()}}, []backup.Key{{Identities: []age.Identity{hq}}}},
		{"both", backup.Encryption{Passphrase: "correct horse", Recipients: []string{hq.Recipient().String()}},
			[]backup.Key{{Passphrase: "correct horse"}, {Identities: []age.Identity{hq}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			arch := write(t, src, c.enc)
			if bytes.Contains(arch, []byte(strings.TrimSpace(keys))) || bytes.Contains(arch, bytes.Repeat([]byte("a"), 100)) {
				t.Fatal("the keys or the data are in the clear in the archive")
			}
			for _, k := range c.keys {
				out := t.TempDir()
				got, err := backup.Extract(context.Background(), bytes.NewReader(arch), k, backup.Targets{
					DB: filepath.Join(out, "storeedge.db"), Keys: filepath.Join(out, "seal.keys"), ConfigDir: out})
				if err != nil {
					t.Fatal(err)
				}
				if string(got.Keys) != keys {
					t.Fatalf("keys %q", got.Keys)
				}
				if b, err := os.ReadFile(filepath.Join(out, "store.yaml")); err != nil || string(b) != "store_id: s1\n" {
					t.Fatalf("config: %q %v", b, err)
				}
				db, err := bolt.Open(filepath.Join(out, "storeedge.db"), 0o600, &bolt.Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				err = db.View(func(tx *bolt.Tx) error {
					if v := tx.Bucket([]byte("chat")).Get([]byte("b")); !bytes.Equal(v, bytes.Repeat([]byte("b"), 1000)) {
						return errors.New("record b lost")
					}
					return nil
				})
				db.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A wrong passphrase, another recipient's identity, a flipped byte or a
// cut-short file are refused in words, and nothing is written.
func TestRefused(t *testing.T) {
	src, _ := source(t)
	arch := write(t, src, backup.Encryption{Passphrase: "correct horse"})
	other, _ := age.GenerateX25519Identity()
	check := func(name string, data []byte, k backup.Key, want error) {
		t.Helper()
		out := t.TempDir()
		_, err := backup.Extract(context.Background(), bytes.NewReader(data), k, backup.Targets{DB: filepath.Join(out, "storeedge.db"), Keys: filepath.Join(out, "seal.keys"), ConfigDir: out})
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", name, err, want)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Fatalf("%s: left %v behind", name, ents)
		}
	}
	check("wrong passphrase", arch, backup.Key{Passphrase: "wrong horse"}, backup.ErrWrongKey)
	check("other identity", arch, backup.Key{Identities: []age.Identity{other}}, backup.ErrWrongKey)
	for _, at := range []int{len(arch) / 2, len(arch) - 20} {
		bad := bytes.Clone(arch)
		bad[at] ^= 0x01
		check("flipped byte", bad, backup.Key{Passphrase: "correct horse"}, backup.ErrDamaged)
	}
	check("cut short", arch[:len(arch)-100], backup.Key{Passphrase: "correct horse"}, backup.ErrDamaged)
	check("not a backup", []byte("hello\n"), backup.Key{Passphrase: "x"}, backup.ErrNotBackup)
	if _, err := backup.Write(context.Background(), &bytes.Buffer{}, src, backup.Encryption{}); !errors.Is(err, backup.ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
}

// Pruning deletes only the store's own daily files past keep_days, and
// always keeps the keep_days newest.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 7, 3, 30, 0, 0, time.UTC)
	for d := 0; d < 10; d++ {
		if err := os.WriteFile(filepath.Join(dir, backup.DailyName("s1", now.AddDate(0, 0, -d))), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	others := []string{backup.DailyName("s2", now.AddDate(0, 0, -30)), "by-hand.backup", "daily-s1-old.backup"}
	for _, n := range others {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := backup.Prune(dir, "s1", now, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 8 { // today and the 7 days before: made at most 7 days ago
		t.Fatalf("kept %d: %v", len(kept), kept)
	}
	for _, n := range others {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Fatalf("%s was deleted", n)
		}
	}
	// A clock that jumped a year ahead keeps the 7 newest.
	kept, err = backup.Prune(dir, "s1", now.AddDate(1, 0, 0), 7)
	if err != nil || len(kept) != 7 {
		t.Fatalf("after a jump: %d kept, %v", len(kept), err)
	}
}

// stallWriter blocks its first write of the database member until
// release is closed, so a test can act while Write holds its read
// transaction.
type stallWriter struct {
	n       int
	inside  chan struct{}
	release chan struct{}
	once    bool
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if !w.once && w.n > 64<<10 { // past the header, the keys and the configs
		w.once = true
		close(w.inside)
		<-w.release
	}
	return len(p), nil
}

// While a backup holds its read transaction (its reader slow), the
// store's group commits go on; cancelling its context ends it, and the
// database then closes at once (no read transaction left open).
func TestBackupBesideWrites(t *testing.T) {
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "store.db")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Room to write without the file growing during the backup.
	big := bytes.Repeat([]byte("x"), 4<<20)
	if err := db.Update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("pad"))
		if err != nil {
			return err
		}
		return b.Put([]byte("p"), big)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx *bolt.Tx) error { return tx.Bucket([]byte("pad")).Delete([]byte("p")) }); err != nil {
		t.Fatal(err)
	}
	src := backup.Source{StoreID: "s1", View: db.View, Keys: []byte(keys)}
	w := &stallWriter{inside: make(chan struct{}), release: make(chan struct{})}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := backup.Write(bctx, w, src, backup.Encryption{Passphrase: "p", WorkFactor: 10})
		done <- err
	}()
	select {
	case <-w.inside:
	case err := <-done:
		t.Fatalf("the backup ended before its database member: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the backup never reached its database member")
	}
	for i := range 50 {
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		err := db.Update(wctx, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("chat"))
			if err != nil {
				return err
			}
			return b.Put(fmt.Appendf(nil, "m%03d", i), bytes.Repeat([]byte("m"), 2000))
		})
		wcancel()
		if err != nil {
			t.Fatalf("commit %d while a backup reads: %v", i, err)
		}
	}
	cancel()
	close(w.release)
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled backup: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled backup did not end")
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the database does not close: a read transaction is still open")
	}
}
