package doctor_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/doctor"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/strictyaml"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/timesync"
	"github.com/storeedge/storeedge/proto"
)

var defaults = doctor.Config{DiskWarnPercent: 85, DiskFailPercent: 95, InodeWarnPercent: 90, CertWarnDays: 30,
	HQTimeout: 5 * time.Second, DatabaseEvery: 30 * time.Minute, HealthCache: 5 * time.Second}

func want(t *testing.T, c doctor.Check, name, severity, code string, detail ...string) {
	t.Helper()
	if c.Name != name || c.Severity != severity || c.Code != code {
		t.Fatalf("got %s %s %s (%s), want %s %s %s", c.Name, c.Severity, c.Code, c.Detail, name, severity, code)
	}
	for _, d := range detail {
		if !strings.Contains(c.Detail, d) {
			t.Errorf("%s: detail %q does not say %q", c.Code, c.Detail, d)
		}
	}
	if placeholder.MatchString(c.Detail) || placeholder.MatchString(c.Advice) {
		t.Errorf("%s: a placeholder is left: %q / %q", c.Code, c.Detail, c.Advice)
	}
	if severity != doctor.OK && c.Advice == "" {
		t.Errorf("%s: a %s says nothing of what to do", c.Code, severity)
	}
}

type bookingSection struct {
	MaxProfiles int `yaml:"max_profiles"`
}

type storeFile struct {
	Booking bookingSection `yaml:"booking"`
}

var placeholder = regexp.MustCompile(`\{[a-z]+\}`)

// A configuration mistake is a failure that names the file and its line.
func TestConfigCheck(t *testing.T) {
	var v storeFile
	err := strictyaml.DecodeFile("/etc/storeedge/store.yaml", []byte("booking:\n  max_profile: 3\n"), &v)
	if err == nil {
		t.Fatal("the misspelt key decoded")
	}
	c := doctor.ConfigFile("/etc/storeedge/store.yaml", err)
	want(t, c, "config", doctor.Fail, "config_invalid", "/etc/storeedge/store.yaml line 2: booking.max_profile: unknown key (did you mean max_profiles?)")
	want(t, doctor.ConfigFile("/etc/storeedge/store.yaml", nil), "config", doctor.OK, "config_ok", "/etc/storeedge/store.yaml")
	want(t, doctor.ConfigFile("", nil), "config", doctor.OK, "config_builtin")
}

// makeDB writes a database of many pages and returns its path.
func makeDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("messages"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put(fmt.Appendf(nil, "key-%05d", i), bytes.Repeat([]byte{'v'}, 100)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// corruptLeaf flips the first key of a leaf page to "zzzz", so that the
// page's keys are out of order, as a bad sector or a torn write leaves it.
func corruptLeaf(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	for off := 2 * ps; off+ps <= len(b); off += ps {
		flags, count := binary.LittleEndian.Uint16(b[off+8:]), binary.LittleEndian.Uint16(b[off+10:])
		if flags != 0x02 || count < 10 {
			continue
		}
		i := bytes.Index(b[off+16:off+ps], []byte("key-"))
		if i < 0 {
			continue
		}
		copy(b[off+16+i:], "zzzz")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no leaf page to corrupt")
}

func checkDB(t *testing.T, path string) doctor.Check {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var c doctor.Check
	if err := db.View(func(tx *bolt.Tx) error { c = doctor.Database(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	return c
}

// bbolt's consistency check: a sound database passes; a copy with bytes
// flipped in a page fails, naming the problem.
func TestDatabaseCheck(t *testing.T) {
	path := makeDB(t)
	want(t, checkDB(t, path), "database", doctor.OK, "database_ok")
	corruptLeaf(t, path)
	c := checkDB(t, path)
	want(t, c, "database", doctor.Fail, "database_bad", "problems in the database")
	if !strings.Contains(c.Detail, "page") {
		t.Errorf("the detail names no page: %s", c.Detail)
	}
}

func keyring(t *testing.T, spec string) *seal.Keyring {
	t.Helper()
	k, err := seal.ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(id string) string {
	k := make([]byte, seal.KeySize)
	_, _ = rand.Read(k)
	return id + ":" + base64.StdEncoding.EncodeToString(k)
}

// The keys open a record sealed with them; another key under the same id,
// or keys without the record's id, do not.
func TestKeysCheck(t *testing.T) {
	right := keyring(t, newKey("k1"))
	sealed, err := right.Seal([]byte(`{"id":"staff-anna"}`), []byte("accounts/staff-anna"))
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("accounts/staff-anna")
	want(t, doctor.Keys(right, nil, sealed, ad, true), "keys", doctor.OK, "keys_ok", "k1")
	want(t, doctor.Keys(keyring(t, newKey("k1")), nil, sealed, ad, true), "keys", doctor.Fail, "keys_wrong", `"k1" is not the key`)
	want(t, doctor.Keys(keyring(t, newKey("k2")), nil, sealed, ad, true), "keys", doctor.Fail, "keys_wrong", `key "k1"`, "k2")
	want(t, doctor.Keys(nil, errors.New("services.keys_file: open /var/lib/storeedge/seal.keys: no such file or directory"), sealed, ad, true),
		"keys", doctor.Fail, "keys_missing", "seal.keys")
	want(t, doctor.Keys(nil, errors.New("no keys"), nil, nil, false), "keys", doctor.OK, "keys_unused")
}

func usedPercent(t *testing.T, dir string) (disk, inodes int) {
	t.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	used := fs.Blocks - fs.Bfree
	disk = int((used*100 + used + fs.Bavail - 1) / (used + fs.Bavail))
	if fs.Files > 0 {
		inodes = int(((fs.Files-fs.Ffree)*100 + fs.Files - 1) / fs.Files)
	}
	return disk, inodes
}

// The disk's real use against thresholds set around it: below the warning
// ok, at it a warning, at the limit a failure.
func TestDiskAndInodes(t *testing.T) {
	dir := t.TempDir()
	disk, inodes := usedPercent(t, dir)
	if disk < 1 || disk > 98 {
		t.Fatalf("the test needs a disk between 1%% and 98%% used, this one is %d%%", disk)
	}
	c := defaults
	c.DiskWarnPercent, c.DiskFailPercent = disk+1, disk+2
	want(t, doctor.Disk(dir, c), "disk", doctor.OK, "disk_ok", fmt.Sprintf("%d%%", disk))
	c.DiskWarnPercent, c.DiskFailPercent = disk, 100
	want(t, doctor.Disk(dir, c), "disk", doctor.Warn, "disk_low", fmt.Sprintf("%d%% of the disk of %s is in use (warning at %d%%)", disk, dir, disk))
	c.DiskWarnPercent, c.DiskFailPercent = 1, disk
	want(t, doctor.Disk(dir, c), "disk", doctor.Fail, "disk_full", fmt.Sprintf("(limit %d%%)", disk), "free")
	want(t, doctor.Disk(filepath.Join(dir, "gone"), c), "disk", doctor.Fail, "disk_unknown")
	// Below the free space the store keeps, writes are refused: a failure
	// whatever the share in use.
	c.DiskWarnPercent, c.DiskFailPercent = disk+1, disk+2
	c.MinFreeBytes = 1 << 62
	want(t, doctor.Disk(dir, c), "disk", doctor.Fail, "disk_floor", "less than the", "refused")
	c.MinFreeBytes = 1
	want(t, doctor.Disk(dir, c), "disk", doctor.OK, "disk_ok")

	if inodes == 0 {
		want(t, doctor.Inodes(dir, c), "inodes", doctor.OK, "inodes_none")
		return
	}
	c.InodeWarnPercent = inodes + 1
	want(t, doctor.Inodes(dir, c), "inodes", doctor.OK, "inodes_ok")
	c.InodeWarnPercent = inodes
	want(t, doctor.Inodes(dir, c), "inodes", doctor.Warn, "inodes_low", fmt.Sprintf("(warning at %d%%)", inodes))
}

// writeCert writes a self-signed certificate valid from notBefore to
// notAfter and its key.
func writeCert(t *testing.T, dir string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "storeedge.local"},
		NotBefore: notBefore, NotAfter: notAfter, DNSNames: []string{"storeedge.local"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestCertificate(t *testing.T) {
	now := time.Now()
	want(t, doctor.Certificate("", "", now, defaults), "certificate", doctor.OK, "cert_none")

	cert, key := writeCert(t, t.TempDir(), now.Add(-400*24*time.Hour), now.Add(-24*time.Hour))
	want(t, doctor.Certificate(cert, key, now, defaults), "certificate", doctor.Fail, "cert_expired", cert, "expired on")

	cert, key = writeCert(t, t.TempDir(), now.Add(-time.Hour), now.Add(10*24*time.Hour+time.Hour))
	want(t, doctor.Certificate(cert, key, now, defaults), "certificate", doctor.Warn, "cert_soon", "in 10 days")

	cert, key = writeCert(t, t.TempDir(), now.Add(-time.Hour), now.Add(100*24*time.Hour+time.Hour))
	want(t, doctor.Certificate(cert, key, now, defaults), "certificate", doctor.OK, "cert_ok", "(100 days)")

	cert, key = writeCert(t, t.TempDir(), now.Add(24*time.Hour), now.Add(100*24*time.Hour))
	want(t, doctor.Certificate(cert, key, now, defaults), "certificate", doctor.Warn, "cert_early")

	// The key of another certificate, and a file that is not one.
	_, other := writeCert(t, t.TempDir(), now.Add(-time.Hour), now.Add(time.Hour))
	want(t, doctor.Certificate(cert, other, now, defaults), "certificate", doctor.Fail, "cert_bad")
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want(t, doctor.Certificate(junk, key, now, defaults), "certificate", doctor.Fail, "cert_bad")
}

func cloudConfig(url, user, password string) cloudsync.Config {
	return cloudsync.Config{URL: url, Username: user, Password: password}
}

// HQ's broker: not linked, not reachable, refusing the store's login,
// a TLS handshake that fails, no answer within hq_timeout, and reachable.
func TestHQ(t *testing.T) {
	ctx := context.Background()
	want(t, doctor.HQ(ctx, doctor.HQLink{}), "hq", doctor.OK, "hq_off")

	hq := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"store-1": "right-password"}})
	link := doctor.HQLink{ClientID: "store-1", Probe: true, Timeout: 5 * time.Second}

	link.Cloud = cloudConfig("mqtt://"+hq.Addr, "store-1", "right-password")
	want(t, doctor.HQ(ctx, link), "hq", doctor.OK, "hq_reachable", hq.Addr)

	link.Cloud = cloudConfig("mqtt://"+hq.Addr, "store-1", "wrong-password")
	c := doctor.HQ(ctx, link)
	want(t, c, "hq", doctor.Fail, "hq_refused", "refused the store's login")
	if !strings.Contains(c.Detail, "0x86") && !strings.Contains(c.Detail, "0x87") {
		t.Errorf("the refusal's reason is not named: %s", c.Detail)
	}

	link.Cloud = cloudConfig("tls://"+hq.Addr, "store-1", "right-password")
	want(t, doctor.HQ(ctx, link), "hq", doctor.Fail, "hq_tls", "secure connection")

	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	link.Cloud = cloudConfig("mqtt://"+closed, "store-1", "right-password")
	want(t, doctor.HQ(ctx, link), "hq", doctor.Warn, "hq_unreachable", "cannot be reached", "refused")

	// A port that takes the connection and never answers the CONNECT.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	link.Cloud = cloudConfig("mqtt://"+mute.Addr().String(), "store-1", "right-password")
	link.Timeout = time.Second
	start := time.Now()
	want(t, doctor.HQ(ctx, link), "hq", doctor.Warn, "hq_unreachable", "no answer within 1s")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the probe took %s, past hq_timeout 1s", d)
	}

	// The running daemon's word: connected, or down with its last error.
	since := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	link = doctor.HQLink{Cloud: cloudConfig("mqtt://"+closed, "", ""), Status: &cloudsync.Status{Connected: true, Since: since, Backlog: 12}}
	want(t, doctor.HQ(ctx, link), "hq", doctor.OK, "hq_connected", "12 entries")
	link.Status = &cloudsync.Status{Since: since, Backlog: 40, LastError: "connect: dial tcp: connection refused"}
	want(t, doctor.HQ(ctx, link), "hq", doctor.Warn, "hq_down", "connection refused", "40 entries")
}

func TestClock(t *testing.T) {
	want(t, doctor.Clock(timesync.Status{Synced: true, Source: "kernel"}, nil), "clock", doctor.OK, "clock_synced")
	want(t, doctor.Clock(timesync.Status{Source: "kernel"}, nil), "clock", doctor.Warn, "clock_unsynced")
	want(t, doctor.Clock(timesync.Status{}, errors.New("adjtimex: operation not permitted")), "clock", doctor.Warn, "clock_unknown", "not permitted")
	// The kernel answers on this machine, whichever way.
	if c := doctor.Clock(timesync.Kernel()); c.Code == "clock_unknown" {
		t.Errorf("the kernel's clock state: %s", c.Detail)
	}
}

func TestBackup(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
	want(t, doctor.Backup(nil, now), "backup", doctor.Warn, "backup_off", "not set up")
	want(t, doctor.Backup(&proto.BackupHealth{Off: "no passphrase or recipient is set"}, now), "backup", doctor.Warn, "backup_off", "not set up")
	want(t, doctor.Backup(&proto.BackupHealth{Enabled: true}, now), "backup", doctor.Warn, "backup_none")
	want(t, doctor.Backup(&proto.BackupHealth{Enabled: true, Last: at(time.Hour), LastOK: at(30 * time.Hour), Error: "no space left on device"}, now),
		"backup", doctor.Warn, "backup_failed", "no space left on device")
	want(t, doctor.Backup(&proto.BackupHealth{Enabled: true, Last: at(50 * time.Hour), LastOK: at(50 * time.Hour), Kept: 7}, now), "backup", doctor.Warn, "backup_old", "50 hours ago")
	want(t, doctor.Backup(&proto.BackupHealth{Enabled: true, Last: at(9 * time.Hour), LastOK: at(9 * time.Hour), Kept: 7}, now), "backup", doctor.OK, "backup_ok", "7 backups")
}

// The exit status is the worst severity; the text has a line per check
// with its sign, then what to do; --json is the contract's shape.
func TestOutput(t *testing.T) {
	ok := doctor.Clock(timesync.Status{Synced: true}, nil)
	warn := doctor.Backup(nil, time.Now())
	fail := doctor.ConfigFile("store.yaml", errors.New("store.yaml line 3: limits.max_clients: unknown key"))
	for _, tc := range []struct {
		checks []doctor.Check
		code   int
		worst  string
	}{
		{nil, 0, "ok"},
		{[]doctor.Check{ok}, 0, "ok"},
		{[]doctor.Check{ok, warn}, 1, "warn"},
		{[]doctor.Check{fail, ok, warn}, 2, "fail"},
	} {
		if got := doctor.ExitCode(tc.checks); got != tc.code {
			t.Errorf("exit %d, want %d", got, tc.code)
		}
		var b bytes.Buffer
		if err := doctor.WriteJSON(&b, tc.checks); err != nil {
			t.Fatal(err)
		}
		var r struct {
			Checks   []map[string]any `json:"checks"`
			Severity string           `json:"severity"`
		}
		if err := json.Unmarshal(b.Bytes(), &r); err != nil || r.Severity != tc.worst || r.Checks == nil || len(r.Checks) != len(tc.checks) {
			t.Errorf("json %s: %v", b.String(), err)
		}
	}
	var b bytes.Buffer
	if err := doctor.WriteText(&b, []doctor.Check{fail, ok, warn}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, line := range []string{
		"✗ config       A configuration file has a mistake: store.yaml line 3: limits.max_clients: unknown key\n",
		"✓ clock        The clock is set from a time source (NTP).\n",
		"! backup       Backups are not set up.\n",
		"What to do:\n  ✗ config: Correct the line named here",
		"  ! backup: Set backup.passphrase_env",
		"1 failure, 1 warning.\n",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("the text lacks %q:\n%s", line, got)
		}
	}
}

// Every code has its words in the console, in English and in Chinese.
func TestConsoleHasEveryCode(t *testing.T) {
	js, err := os.ReadFile(filepath.Join("..", "web", "static", "console", "console.js"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(js)
	start := strings.Index(s, "const DOCTOR_WORDS = {")
	if start < 0 {
		t.Fatal("console.js has no DOCTOR_WORDS")
	}
	end := strings.Index(s[start:], "\n};")
	table := s[start : start+end]
	en, zh, ok := strings.Cut(table, "\n  zh: {")
	if !ok {
		t.Fatal("DOCTOR_WORDS has no zh table")
	}
	jsq := func(s string) string {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		_ = e.Encode(s)
		return strings.TrimSpace(b.String())
	}
	for _, code := range doctor.Codes() {
		if !strings.Contains(zh, "\n    "+code+": [") {
			t.Errorf("console.js DOCTOR_WORDS.zh has no words for %s", code)
		}
		detail, advice, _ := doctor.Words(code)
		if line := "\n    " + code + ": [" + jsq(detail) + ", " + jsq(advice) + "],"; !strings.Contains(en, line) {
			t.Errorf("console.js DOCTOR_WORDS.en does not say what doctor says for %s:%s", code, line)
		}
	}
	for _, n := range doctor.Names {
		if !strings.Contains(s, "check_"+n+":") {
			t.Errorf("console.js names no check %s (check_%s)", n, n)
		}
	}
}

// The doctor: section's bounds.
func TestConfigValidate(t *testing.T) {
	if err := defaults.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []func(*doctor.Config){
		func(c *doctor.Config) { c.DiskWarnPercent, c.DiskFailPercent = 95, 90 },
		func(c *doctor.Config) { c.DiskFailPercent = 101 },
		func(c *doctor.Config) { c.InodeWarnPercent = 0 },
		func(c *doctor.Config) { c.CertWarnDays = -1 },
		func(c *doctor.Config) { c.HQTimeout = 0 },
		func(c *doctor.Config) { c.DatabaseEvery = time.Second },
		func(c *doctor.Config) { c.HealthCache = time.Hour },
	} {
		c := defaults
		edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "doctor.") {
			t.Errorf("%+v: %v, want an error naming the key", c, err)
		}
	}
}
