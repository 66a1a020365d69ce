package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/schema"
	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// TestMigrateOnTheShell: `storeedge migrate --dry-run` on a stopped store
// from a released build lists its version, the target and each pending
// migration with what it changes, and leaves the file as it was;
// `storeedge migrate` applies them (a second run has nothing to do); with
// the daemon running it refuses; a database newer than the binary is
// refused, by migrate and by the daemon, without a write.
func TestMigrateOnTheShell(t *testing.T) {
	fx := filepath.Join("..", "..", "schema", "testdata", "green1")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(data, "storeedge.db")
	gunzip(t, filepath.Join(fx, "storeedge.db.gz"), dbPath)
	copyFile(t, filepath.Join(fx, "seal.keys"), filepath.Join(data, "seal.keys"))
	copyFile(t, filepath.Join(fx, "services.yaml"), filepath.Join(dir, "services.yaml"))
	devices, err := os.ReadFile(filepath.Join(fx, "devices.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	opts := testbroker.Options{Dir: dir, TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t), Devices: string(devices),
		Extra: "booking:\n  services_file: " + filepath.Join(dir, "services.yaml") + "\n"}
	cfg := testbroker.WriteConfig(t, opts)

	before := readBytes(t, dbPath)
	out, err := shell(t, "", "migrate", "-config", cfg, "--dry-run")
	if err != nil {
		t.Fatalf("migrate --dry-run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"database " + dbPath + ": schema 1; this storeedge brings it to schema 2",
		"1 → 2  keep the schema version",
		"schema_meta: the schema version and its history are kept from now on",
		"dry run: nothing was changed",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("migrate --dry-run says\n%s\nwant %q in it", out, want)
		}
	}
	if !bytes.Equal(readBytes(t, dbPath), before) {
		t.Fatal("the dry run changed the database file")
	}

	out, err = shell(t, "", "migrate", "-config", cfg)
	if err != nil || !strings.Contains(out, "applied: the database is now at schema 2") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if v, hist := dbVersion(t, dbPath); v != 2 || len(hist) != 1 || hist[0].From != 1 || hist[0].By == "" {
		t.Fatalf("after migrate: version %d, history %+v", v, hist)
	}
	out, err = shell(t, "", "migrate", "-config", cfg)
	if err != nil || !strings.Contains(out, "nothing to do: the database is up to date") {
		t.Fatalf("migrate again: %v\n%s", err, out)
	}

	p := testbroker.Start(t, opts)
	out, err = shell(t, "", "migrate", "-config", cfg)
	if err == nil || !strings.Contains(out, "storeedge migrate: the storeedge daemon is running (its admin socket answers): stop it first") {
		t.Fatalf("migrate while the daemon runs: %v\n%s", err, out)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}

	// A later storeedge's database.
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(schema.Bucket)).Put([]byte("version"), []byte("9"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before = readBytes(t, dbPath)
	const newer = "store: database schema 9 is newer than this storeedge (knows up to 2); install the newer storeedge or restore a backup"
	out, err = shell(t, "", "migrate", "-config", cfg, "--dry-run")
	if err == nil || !strings.Contains(out, "storeedge migrate: "+newer) {
		t.Fatalf("migrate on a newer database: %v\n%s", err, out)
	}
	daemon := exec.Command(testbroker.Binary(t), "-config", cfg)
	dout, err := daemon.CombinedOutput()
	if err == nil || !strings.Contains(string(dout), "storeedge: "+newer) {
		t.Fatalf("the daemon on a newer database: %v\n%s", err, dout)
	}
	if !bytes.Equal(readBytes(t, dbPath), before) {
		t.Fatal("a newer database was written to")
	}
}

func dbVersion(t *testing.T, path string) (int, []schema.Step) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	var h []schema.Step
	if err := db.View(func(tx *bolt.Tx) (err error) {
		if v, err = schema.Version(tx); err != nil {
			return err
		}
		h, err = schema.History(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v, h
}

func gunzip(t *testing.T, from, to string) {
	t.Helper()
	f, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
