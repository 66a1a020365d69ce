package hqrig_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make deps (scripts/install-test-deps.sh) installs coturn, the TURN
// server the rig's viewers at home go through, when turnserver is missing,
// and leaves it alone when it is there. The script runs with a PATH of its
// own where apt-get, sudo, systemctl and service only write down what they
// were asked.
func TestDepsInstallCoturnWhenMissing(t *testing.T) {
	script, err := filepath.Abs("../../../scripts/install-test-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, withTurn bool) string {
		bin := t.TempDir()
		calls := filepath.Join(t.TempDir(), "calls")
		for _, tool := range []string{"bash", "ls", "id"} {
			p, err := exec.LookPath(tool)
			if err != nil {
				t.Fatalf("%s: %v", tool, err)
			}
			if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
				t.Fatal(err)
			}
		}
		stub := func(name, body string) {
			if err := os.WriteFile(filepath.Join(bin, name), []byte("#!"+filepath.Join(bin, "bash")+"\n"+body+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		stub("apt-get", `echo "apt-get $*" >> `+calls)
		stub("sudo", `"$@"`)
		stub("systemctl", `echo "systemctl $*" >> `+calls)
		stub("service", `echo "service $*" >> `+calls)
		if withTurn {
			stub("turnserver", "exit 0")
		}
		cmd := exec.Command(filepath.Join(bin, "bash"), script)
		cmd.Env = []string{"PATH=" + bin, "HOME=" + t.TempDir()}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("install-test-deps.sh: %v\n%s", err, out)
		}
		b, err := os.ReadFile(calls)
		if err != nil {
			t.Fatalf("nothing installed: %v", err)
		}
		return string(b)
	}
	installed := func(calls string) string {
		for _, l := range strings.Split(calls, "\n") {
			if strings.HasPrefix(l, "apt-get install") {
				return l + " "
			}
		}
		return ""
	}
	got := run(t, false)
	if !strings.Contains(installed(got), " coturn ") {
		t.Fatalf("without turnserver, coturn not installed; calls:\n%s", got)
	}
	if !strings.Contains(got, "systemctl disable --now coturn") {
		t.Fatalf("Debian's own coturn left running:\n%s", got)
	}
	if got := run(t, true); strings.Contains(installed(got), " coturn ") {
		t.Fatalf("coturn installed though turnserver is there:\n%s", got)
	}
}
