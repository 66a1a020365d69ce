package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// runBroken runs the daemon on a config that must not start and returns
// what it printed on stderr; it fails the test unless the daemon exits
// with status 1 within 20 s.
func runBroken(t *testing.T, config string) string {
	t.Helper()
	cmd := exec.Command(testbroker.Binary(t), "-config", config)
	cmd.Dir = t.TempDir()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still running with a broken config\n%s", stderr.String())
	}
	return stderr.String()
}

// What a store owner sees when a file has a mistake: the file, the line,
// the key and what is wanted, and nothing of the program's insides.
func TestBrokenConfigOnStderr(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store.yaml")
	if err := os.WriteFile(store, []byte("store_id: shop-1\nbooking:\n  tick: 5s\n  max_profile: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := runBroken(t, store)
	want := "storeedge: " + store + " line 4: booking.max_profile: unknown key (did you mean max_profiles?)\n"
	if got != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
	}

	// A services file the config points to, with a misspelt key: the
	// message names that file by its path.
	services := filepath.Join(dir, "my-services.yaml")
	typo := strings.Replace(string(configs.Services), "duration:", "duraton:", 1)
	if err := os.WriteFile(services, []byte(typo), 0o600); err != nil {
		t.Fatal(err)
	}
	line := 0
	for i, l := range strings.Split(typo, "\n") {
		if strings.Contains(l, "duraton:") {
			line = i + 1
			break
		}
	}
	o := testbroker.Options{Dir: dir, TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t),
		Devices: "devices: []\n", Extra: "booking:\n  services_file: " + services + "\n"}
	got = runBroken(t, testbroker.WriteConfig(t, o))
	want = "storeedge: booking.services_file: " + services + " line " + strconv.Itoa(line) + ": services[0].duraton: unknown key (did you mean duration?)\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("stderr:\n%s\nwant it to end with:\n%s", got, want)
	}

	// A device registry with a misspelt key, named by its path too.
	o = testbroker.Options{Dir: t.TempDir(), TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t),
		Devices: "devices:\n  - id: kiosk-1\n    role: kiosk\n    pasword_hash: x\n"}
	got = runBroken(t, testbroker.WriteConfig(t, o))
	want = "storeedge: auth: " + filepath.Join(o.Dir, "devices.yaml") + " line 4: devices[0].pasword_hash: unknown key (did you mean password_hash?)\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("stderr:\n%s\nwant it to end with:\n%s", got, want)
	}
	for _, w := range []string{"type ", "catServiceConf", "time.Duration", "int64", "struct"} {
		if strings.Contains(got, w) {
			t.Errorf("stderr names the program's insides (%q):\n%s", w, got)
		}
	}
}
