package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// shellEnv is shell with extra environment variables.
func shellEnv(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testbroker.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// `storeedge backup FILE` on the shell while the daemon runs (through its
// admin socket) and when it is stopped; `storeedge restore FILE` into an
// empty data_dir, refusing a non-empty one and a wrong passphrase in
// words; a daemon started on the restored folder has the acknowledged
// retained message.
func TestBackupAndRestoreOnTheShell(t *testing.T) {
	const extra = "backup:\n  scrypt_work_factor: 10\n  passphrase_env: SE_CLI_BACKUP_PASS\n"
	pass := []string{"SE_CLI_BACKUP_PASS=a passphrase for the shell"}
	p := startDaemon(t, extra, anna, admin)
	cfg := filepath.Join(p.Opts.Dir, "store.yaml")
	c, err := login(t, p.Opts.TCP, admin, admin.id, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "store/sign", QoS: 1, Retain: true, Payload: []byte("open till 9")}); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	file := filepath.Join(out, "running.backup")
	if o, err := shellEnv(t, nil, "backup", "-config", cfg, file); err == nil || !strings.Contains(o, "no passphrase") {
		t.Fatalf("backup without a passphrase or recipient: %v %s", err, o)
	}
	o, err := shellEnv(t, pass, "backup", "-config", cfg, file)
	if err != nil || !strings.Contains(o, "written to "+file) {
		t.Fatalf("backup while running: %v\n%s", err, o)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup file: %v %v", fi, err)
	}
	if o, err := shellEnv(t, pass, "backup", "-config", cfg, file); err == nil || !strings.Contains(o, "exists already") {
		t.Fatalf("backup over an existing file: %v %s", err, o)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if o, err := shellEnv(t, pass, "backup", "-config", cfg, filepath.Join(out, "stopped.backup")); err != nil {
		t.Fatalf("backup of a stopped store: %v\n%s", err, o)
	}
	// To HQ's key alone, restored with its identity file.
	hq, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(out, "hq.key")
	if err := os.WriteFile(idFile, []byte(hq.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hqFile := filepath.Join(out, "hq.backup")
	if o, err := shellEnv(t, nil, "backup", "-config", cfg, "-recipient", hq.Recipient().String(), hqFile); err != nil || !strings.Contains(o, "the secret key of "+hq.Recipient().String()) {
		t.Fatalf("backup to a recipient: %v\n%s", err, o)
	}
	o3 := testbroker.Options{Dir: t.TempDir(), TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t), Extra: extra}
	if o, err := shellEnv(t, nil, "restore", "-config", testbroker.WriteConfig(t, o3), "-identity", idFile, hqFile); err != nil || !strings.Contains(o, "restored the backup") {
		t.Fatalf("restore with -identity: %v\n%s", err, o)
	}

	// Restore into a new box's folder.
	o2 := testbroker.Options{Dir: t.TempDir(), TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t), Devices: registry(t, anna, admin), Extra: extra}
	rcfg := testbroker.WriteConfig(t, o2)
	if o, err := shellEnv(t, []string{"SE_CLI_BACKUP_PASS=not the passphrase"}, "restore", "-config", rcfg, file); err == nil || !strings.Contains(o, "does not open") {
		t.Fatalf("restore with a wrong passphrase: %v %s", err, o)
	}
	if o, err := shellEnv(t, pass, "restore", "-config", cfg, file); err == nil || !strings.Contains(o, "not empty") {
		t.Fatalf("restore over the running store's folder: %v %s", err, o)
	}
	etc := filepath.Join(o2.Dir, "etc")
	o, err = shellEnv(t, pass, "restore", "-config", rcfg, "-config-out", etc, file)
	if err != nil || !strings.Contains(o, "restored the backup of store test-store") || !strings.Contains(o, "new epoch") {
		t.Fatalf("restore: %v\n%s", err, o)
	}
	if _, err := os.Stat(filepath.Join(etc, "store.yaml")); err != nil {
		t.Fatalf("-config-out: %v\n%s", err, o)
	}
	r := testbroker.Start(t, o2)
	sub, err := login(t, r.Opts.TCP, admin, admin.id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "store/sign", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the retained sign on the restored box", func() bool {
		m := sub.got()
		return len(m) == 1 && string(m[0].Payload) == "open till 9"
	})
}

// A daily backup that cannot be made is never silent: the daemon logs it
// in words and /metrics shows the failed attempt.
func TestDailyBackupFailureIsLogged(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SE_CLI_DAILY_PASS", "a passphrase for the daemon")
	p := startDaemon(t, "backup:\n  scrypt_work_factor: 10\n  passphrase_env: SE_CLI_DAILY_PASS\n  dir: "+filepath.Join(blocker, "backups")+"\n", anna)
	poll(t, "the failure in the log", func() bool {
		return strings.Contains(p.Log(), "the daily backup failed: the backup folder "+filepath.Join(blocker, "backups")+" cannot be used")
	})
	resp, err := http.Get("http://" + p.Opts.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "\nstoreedge_backup_last_attempt_ok 0\n") || !strings.Contains(string(b), "\nstoreedge_backup_failures_total 1\n") {
		t.Fatalf("metrics:\n%s", grepLines(string(b), "storeedge_backup"))
	}
}
