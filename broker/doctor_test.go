package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"github.com/storeedge/storeedge/broker/backup"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/doctor"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

var doctorFleet = []storetest.Device{{ID: "staff-anna", Role: "staff"}, {ID: "kiosk-1", Role: "kiosk"}}

func byName(checks []proto.HealthCheck) map[string]proto.HealthCheck {
	m := map[string]proto.HealthCheck{}
	for _, c := range checks {
		m[c.Name] = c
	}
	return m
}

func names(checks []proto.HealthCheck) string {
	var n []string
	for _, c := range checks {
		n = append(n, c.Name)
	}
	return strings.Join(n, ",")
}

func runDoctor(t *testing.T, path string) map[string]proto.HealthCheck {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	checks, err := broker.Doctor(ctx, path)
	if err != nil {
		t.Fatalf("doctor could not run: %v", err)
	}
	if got, want := names(checks), strings.Join(doctor.Names, ","); got != want {
		t.Fatalf("checks %s, want %s", got, want)
	}
	return byName(checks)
}

func expect(t *testing.T, m map[string]proto.HealthCheck, name, severity, code string, detail ...string) {
	t.Helper()
	c := m[name]
	if c.Severity != severity || c.Code != code {
		t.Fatalf("%s: %s %s (%s), want %s %s", name, c.Severity, c.Code, c.Detail, severity, code)
	}
	for _, d := range detail {
		if !strings.Contains(c.Detail, d) {
			t.Errorf("%s: %q does not say %q", name, c.Detail, d)
		}
	}
}

// copyStore copies a stopped store's data_dir beside it and writes a
// store.yaml for the copy; edit changes the copy before the check.
func copyStore(t *testing.T, s *storetest.Store) (cfgPath, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	if err := os.CopyFS(dataDir, os.DirFS(filepath.Join(s.Dir, "data"))); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(dataDir, broker.AdminSocket))
	b, err := os.ReadFile(filepath.Join(s.Dir, "store.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), filepath.Join(s.Dir, "data"), dataDir, 1)
	if y == string(b) {
		t.Fatal("no data_dir in the store's config")
	}
	cfgPath = filepath.Join(dir, "store.yaml")
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dataDir
}

// flipPages puts the first key of every leaf page out of order (its first
// byte 0xff), as a bad sector or a torn write would: whichever pages are
// in use (some are free), the damage is in them.
func flipPages(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps, n := os.Getpagesize(), 0
	for off := 2 * ps; off+ps <= len(b); off += ps {
		flags, count := binary.LittleEndian.Uint16(b[off+8:]), binary.LittleEndian.Uint16(b[off+10:])
		if flags != 0x02 || count < 2 {
			continue
		}
		elem := off + 16
		pos, ksize := int(binary.LittleEndian.Uint32(b[elem+4:])), binary.LittleEndian.Uint32(b[elem+8:])
		if ksize == 0 || elem+pos >= off+ps {
			continue
		}
		b[elem+pos] = 0xff
		n++
	}
	if n == 0 {
		t.Fatal("no leaf page to flip")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A stopped store: the database opened read only and checked, its keys
// open a record. Then what a technician meets: a configuration line that
// is wrong, an ACL with a mistake, a database with a damaged page, keys
// that are not the store's.
func TestDoctorStoppedStore(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: doctorFleet})
	s.Stop()
	cfgPath := filepath.Join(s.Dir, "store.yaml")
	m := runDoctor(t, cfgPath)
	expect(t, m, "config", doctor.OK, "config_ok", cfgPath)
	expect(t, m, "database", doctor.OK, "database_ok")
	expect(t, m, "keys", doctor.OK, "keys_ok", "k1")
	expect(t, m, "hq", doctor.OK, "hq_off")
	expect(t, m, "backup", doctor.Warn, "backup_stopped")
	if m["database"].Checked != nil {
		t.Errorf("a stopped store's database check is of now, not of %v", m["database"].Checked)
	}
	// The daily backups in the backup folder say what the daemon would.
	cfg, err := broker.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.BackupDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(cfg.BackupDir(), backup.DailyName(cfg.StoreID, time.Now().Add(-72*time.Hour)))
	if err := os.WriteFile(old, []byte("age"), 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, runDoctor(t, cfgPath), "backup", doctor.Warn, "backup_old", "72 hours ago")
	if err := os.WriteFile(filepath.Join(cfg.BackupDir(), backup.DailyName(cfg.StoreID, time.Now().Add(-time.Hour))), []byte("age"), 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, runDoctor(t, cfgPath), "backup", doctor.OK, "backup_ok", "2 backups")
	if err := os.RemoveAll(cfg.BackupDir()); err != nil {
		t.Fatal(err)
	}

	// A misspelt key in store.yaml: the line, the key, what is wanted;
	// the rest cannot be known and says so.
	bad := filepath.Join(t.TempDir(), "store.yaml")
	if err := os.WriteFile(bad, []byte("store_id: shop-1\nbooking:\n  tick: 5s\n  max_profile: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m = runDoctor(t, bad)
	expect(t, m, "config", doctor.Fail, "config_invalid", bad+" line 4: booking.max_profile: unknown key (did you mean max_profiles?)")
	expect(t, m, "database", doctor.Warn, "config_first")

	// The ACL the config names has a mistake on line 3.
	cfgCopy, dataDir := copyStore(t, s)
	acl := filepath.Join(filepath.Dir(dataDir), "acl.yaml")
	if err := os.WriteFile(acl, []byte("roles:\n  staff:\n    publsh: [\"svc/#\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y, _ := os.ReadFile(cfgCopy)
	withACL := filepath.Join(filepath.Dir(dataDir), "store-acl.yaml")
	if err := os.WriteFile(withACL, []byte(strings.Replace(string(y), "acl_file: \"\"", "acl_file: "+acl, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	m = runDoctor(t, withACL)
	expect(t, m, "config", doctor.Fail, "config_invalid", acl+" line 3")
	expect(t, m, "database", doctor.OK, "database_ok") // the rest is still checked

	// Keys that are not the ones the records were sealed with.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(filepath.Join(dataDir, "seal.keys"), []byte("k1:"+base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m = runDoctor(t, cfgCopy)
	expect(t, m, "keys", doctor.Fail, "keys_wrong", "do not open")
	expect(t, m, "database", doctor.OK, "database_ok")
	if err := os.Remove(filepath.Join(dataDir, "seal.keys")); err != nil {
		t.Fatal(err)
	}
	m = runDoctor(t, cfgCopy)
	expect(t, m, "keys", doctor.Fail, "keys_missing", "seal.keys")
	if _, err := os.Stat(filepath.Join(dataDir, "seal.keys")); err == nil {
		t.Error("doctor made a new key file")
	}

	// A copy of the database with a page damaged.
	cfgCopy, dataDir = copyStore(t, s)
	flipPages(t, filepath.Join(dataDir, broker.DBFile))
	m = runDoctor(t, cfgCopy)
	if c := m["database"]; c.Severity != doctor.Fail || (c.Code != "database_bad" && c.Code != "database_open") {
		t.Fatalf("a damaged database: %s %s (%s)", c.Severity, c.Code, c.Detail)
	}
	if !strings.Contains(m["database"].Advice, "storeedge restore") {
		t.Errorf("no word of what to do: %q", m["database"].Advice)
	}
}

// With the daemon running, doctor asks it over the admin socket: the
// database check is the daemon's (with its time), the backups' state is
// the daemon's word, and the health op lists the same checks.
func TestDoctorRunningDaemon(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: doctorFleet})
	m := runDoctor(t, filepath.Join(s.Dir, "store.yaml"))
	expect(t, m, "database", doctor.OK, "database_ok")
	if m["database"].Checked == nil {
		t.Error("the daemon's database check has no time")
	}
	expect(t, m, "keys", doctor.OK, "keys_ok")
	expect(t, m, "backup", doctor.Warn, "backup_off", "not set up")

	staff := s.Connect(t, doctorFleet[0], "")
	var h proto.StoreHealth
	storetest.OK(t, staff.Call(t, "store", "health", `{}`)).Decode(t, &h)
	if got, want := names(h.Checks), strings.Join(doctor.Names, ","); got != want {
		t.Fatalf("health checks %s, want %s", got, want)
	}
	hm := byName(h.Checks)
	// The database check ran for doctor a moment ago: its last result,
	// reused, not run again for the health op.
	if c := hm["database"]; c.Code != "database_ok" || c.Checked == nil || !c.Checked.Equal(*m["database"].Checked) {
		t.Errorf("health's database check: %+v, want doctor's of %v", c, m["database"].Checked)
	}
	expect(t, hm, "config", doctor.OK, "config_ok")
	expect(t, hm, "backup", doctor.Warn, "backup_off")
	for _, c := range h.Checks {
		if c.Detail == "" || (c.Severity != doctor.OK && c.Advice == "") {
			t.Errorf("%s says too little: %+v", c.Name, c)
		}
	}
}

// A store linked to an HQ broker that refuses its password: the health op
// says the link is down with the bridge's error; storeedge doctor, through
// the running daemon, reaches HQ itself and says the login is refused.
func TestDoctorHQRefusesTheStore(t *testing.T) {
	hq := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"store-1": "right-password"}})
	s := storetest.Start(t, storetest.Options{Devices: doctorFleet, Config: func(c *broker.Config) {
		c.Cloud.URL = "mqtt://" + hq.Addr
		c.Cloud.Username, c.Cloud.Password = "store-1", "wrong-password"
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
		c.Doctor.HealthCache = 0
	}})
	staff := s.Connect(t, doctorFleet[0], "")
	deadline := time.Now().Add(15 * time.Second)
	for {
		var h proto.StoreHealth
		storetest.OK(t, staff.Call(t, "store", "health", `{}`)).Decode(t, &h)
		c := byName(h.Checks)["hq"]
		if c.Code == "hq_down" && strings.Contains(c.Detail, "connect") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the health op's hq check: %+v", c)
		}
		time.Sleep(50 * time.Millisecond) // polling the bridge's status through the op
	}
	m := runDoctor(t, filepath.Join(s.Dir, "store.yaml"))
	expect(t, m, "hq", doctor.Fail, "hq_refused", hq.Addr, "refused the store's login")
	if !strings.Contains(m["hq"].Advice, "cloud.username") {
		t.Errorf("what to do: %q", m["hq"].Advice)
	}
}

// store.yaml's doctor: section is checked when the config loads.
func TestDoctorConfigBounds(t *testing.T) {
	p := filepath.Join(t.TempDir(), "store.yaml")
	if err := os.WriteFile(p, []byte("doctor:\n  disk_warn_percent: 99\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := broker.LoadConfig(p); err == nil || !strings.Contains(err.Error(), "doctor.disk_warn_percent 99, disk_fail_percent 95") {
		t.Fatalf("a warning above the failure: %v", err)
	}
	cfg, err := broker.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Doctor; d.DiskWarnPercent != 85 || d.DiskFailPercent != 95 || d.InodeWarnPercent != 90 || d.CertWarnDays != 30 ||
		d.HQTimeout != 10*time.Second || d.DatabaseEvery != 30*time.Minute || d.HealthCache != 5*time.Second {
		t.Errorf("the embedded doctor: section: %+v", d)
	}
}
