package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// runDoctor runs `storeedge doctor args…` and returns its stdout, stderr
// and exit status.
func runDoctorCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(testbroker.Binary(t), append([]string{"doctor"}, args...)...)
	cmd.Dir = t.TempDir()
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default:
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("storeedge doctor still running after 60 s\n%s%s", o.String(), e.String())
	}
	return o.String(), e.String(), code
}

type doctorReport struct {
	Checks []struct {
		Name, Severity, Code, Detail, Advice string
		Checked                              *time.Time
	} `json:"checks"`
	Severity string `json:"severity"`
}

func (r doctorReport) check(t *testing.T, name string) (severity, code string, checked *time.Time) {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Severity, c.Code, c.Checked
		}
	}
	t.Fatalf("no %s check in %+v", name, r)
	return "", "", nil
}

// Exit statuses: 2 for a failure (a wrong line in store.yaml), with the
// line in the output and what to do; 3 when doctor cannot run at all.
func TestDoctorExitCodes(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store.yaml")
	if err := os.WriteFile(store, []byte("store_id: shop-1\nlimits:\n  max_clients: many\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runDoctorCmd(t, "-config", store)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (a failure)\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"✗ config       A configuration file has a mistake: " + store + " line 3: limits.max_clients: unknown key",
		"What to do:", "  ✗ config: Correct the line named here", "1 failure"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, code = runDoctorCmd(t, "-config", store, "--json")
	var r doctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if sev, c, _ := r.check(t, "config"); code != 2 || r.Severity != "fail" || sev != "fail" || c != "config_invalid" {
		t.Errorf("--json: exit %d, %+v", code, r)
	}

	if _, errOut, code := runDoctorCmd(t, "--no-such-flag"); code != 3 || !strings.Contains(errOut, "no-such-flag") {
		t.Errorf("an unknown flag: exit %d, want 3: %s", code, errOut)
	}
	if _, errOut, code := runDoctorCmd(t, "extra"); code != 3 || !strings.Contains(errOut, "usage: storeedge doctor") {
		t.Errorf("an argument: exit %d, want 3: %s", code, errOut)
	}
}

// The daemon running: doctor asks it through the admin socket (the
// database check carries the daemon's time); killed, doctor opens the
// store's files itself. Backups are not set up: a warning, exit 1.
func TestDoctorWithDaemon(t *testing.T) {
	p := startDaemon(t, "", kiosk, anna)
	cfg := filepath.Join(p.Opts.Dir, "store.yaml")
	out, errOut, code := runDoctorCmd(t, "-config", cfg, "--json")
	var r doctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json: %v\n%s%s", err, out, errOut)
	}
	if code != 1 || r.Severity != "warn" {
		t.Fatalf("exit %d severity %s, want 1 warn: %s", code, r.Severity, out)
	}
	if sev, c, at := r.check(t, "database"); sev != "ok" || c != "database_ok" || at == nil {
		t.Errorf("database through the daemon: %s %s at %v", sev, c, at)
	}
	if sev, c, _ := r.check(t, "keys"); sev != "ok" || c != "keys_ok" {
		t.Errorf("keys: %s %s", sev, c)
	}
	if _, c, _ := r.check(t, "backup"); c != "backup_off" {
		t.Errorf("backup through the daemon: %s, want backup_off", c)
	}

	p.Kill()
	out, errOut, code = runDoctorCmd(t, "-config", cfg)
	if code != 1 {
		t.Fatalf("stopped: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"✓ database", "✓ keys ", "! backup       Not known while storeedge is stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("stopped: output lacks %q:\n%s", want, out)
		}
	}
}

// Run by another user than the daemon's, doctor cannot reach the admin
// socket in the 0750 data_dir: it says how to run it, and exits 3.
func TestDoctorAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		msg := "switching to the user nobody needs root"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	setpriv := needTool(t, "setpriv", "util-linux")
	p := startDaemon(t, "", kiosk, anna)
	cfg := filepath.Join(p.Opts.Dir, "store.yaml")
	// nobody may read the config and walk to data_dir, not into it.
	// (The test's own directories only: t.TempDir and its parent.)
	for _, d := range []string{p.Opts.Dir, filepath.Dir(p.Opts.Dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	// The built binary's directory is root's alone: a copy nobody may run.
	bin, err := os.ReadFile(testbroker.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(p.Opts.Dir, "storeedge")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", exe, "doctor", "-config", cfg)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit: %v, want 3\n%s%s", err, o.String(), e.String())
	}
	t.Logf("as nobody: %s", e.String())
	if !strings.Contains(e.String(), "run storeedge doctor as root or as the daemon's user") {
		t.Errorf("stderr: %s", e.String())
	}
}
