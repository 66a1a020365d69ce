package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// shell runs `storeedge args…` as the box's user would, with stdin.
func shell(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(testbroker.Binary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestAdminResetPasswordOnTheShell: `storeedge admin reset-password NAME`
// while the daemon runs goes through its admin socket: the old password
// stops working and the account's connection is closed at once; with the
// daemon stopped it writes the database itself. A short password changes
// nothing. `storeedge devices export` prints the registry in both states.
func TestAdminResetPasswordOnTheShell(t *testing.T) {
	p := startDaemon(t, "", anna, admin)
	cfg := filepath.Join(p.Opts.Dir, "store.yaml")
	c, err := login(t, p.Opts.TCP, anna, anna.id, nil)
	if err != nil {
		t.Fatal(err)
	}

	if out, err := shell(t, "short\n", "admin", "reset-password", "-config", cfg, anna.id); err == nil || !strings.Contains(out, "at least 10 characters") {
		t.Fatalf("a short password: %v %s; want refused", err, out)
	}
	if _, err := login(t, p.Opts.TCP, anna, anna.id+":2", nil); err != nil {
		t.Fatalf("after a refused reset, the old password: %v", err)
	}

	out, err := shell(t, "anna-new-password-1\n", "admin", "reset-password", "-config", cfg, anna.id)
	if err != nil {
		t.Fatalf("reset-password: %v\n%s", err, out)
	}
	if strings.Contains(out, "anna-new-password-1") || strings.Contains(p.Log(), "anna-new-password-1") {
		t.Fatal("the new password is echoed or logged")
	}
	select {
	case <-c.Done():
	case <-time.After(time.Second):
		t.Fatal("anna's connection is still up a second after her password was reset")
	}
	if _, err := login(t, p.Opts.TCP, anna, anna.id, nil); err == nil {
		t.Fatal("the old password still works")
	}
	annaNew := device{anna.id, anna.role, "anna-new-password-1"}
	if _, err := login(t, p.Opts.TCP, annaNew, anna.id, nil); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	exp, err := shell(t, "", "devices", "export", "-config", cfg)
	if err != nil || !strings.Contains(exp, "id: staff-anna") || !strings.Contains(exp, "id: admin-1") || !strings.Contains(exp, "password_hash: $2") {
		t.Fatalf("export while running: %v\n%s", err, exp)
	}

	// Stopped: the command opens the database itself.
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err := shell(t, "anna-third-password\n", "admin", "reset-password", "-config", cfg, anna.id); err != nil {
		t.Fatalf("reset-password, daemon stopped: %v\n%s", err, out)
	}
	if out, err := shell(t, "whatever-password\n", "admin", "reset-password", "-config", cfg, "nobody"); err == nil {
		t.Fatalf("an unknown account: %s; want an error", out)
	}
	exp2, err := shell(t, "", "devices", "export", "-config", cfg)
	if err != nil || !strings.Contains(exp2, "id: staff-anna") {
		t.Fatalf("export while stopped: %v\n%s", err, exp2)
	}
	// The restart imports devices.yaml again: anna's entry there (her
	// first password) does not undo the resets, made outside the file.
	p2 := testbroker.Start(t, p.Opts)
	if _, err := login(t, p2.Opts.TCP, annaNew, anna.id, nil); err == nil {
		t.Fatal("the second password still works after the offline reset")
	}
	if _, err := login(t, p2.Opts.TCP, anna, anna.id, nil); err == nil {
		t.Fatal("the file's password came back at the restart")
	}
	if _, err := login(t, p2.Opts.TCP, device{anna.id, anna.role, "anna-third-password"}, anna.id, nil); err != nil {
		t.Fatalf("the password set while stopped: %v", err)
	}
}
