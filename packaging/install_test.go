package packaging

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// throwawayRoot is an empty system for dpkg --root: its own dpkg database
// and /etc, nothing else. The maintainer scripts run on this machine with
// DPKG_ROOT set (--force-script-chrootless) and must write only inside it.
func throwawayRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "etc", "run", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// dpkgIn runs dpkg on root. Dependencies are not installed in the
// throwaway root (systemd); the scripts use this machine's tools.
func dpkgIn(t *testing.T, root string, args ...string) string {
	t.Helper()
	all := append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--force-confold"}, args...)
	cmd := exec.Command("dpkg", all...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

// systemUser reads the uid and gid of name from root's own files.
func systemUser(t *testing.T, root, name string) (uid, gid int, ok bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 7 && f[0] == name {
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
			return uid, gid, true
		}
	}
	return 0, 0, false
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// daemonInRoot runs the installed /usr/bin/storeedge chrooted into root as
// the storeedge user, as the unit does (-config /etc/storeedge/store.yaml,
// working directory /var/lib/storeedge, NOTIFY_SOCKET), waits for
// READY=1, then stops it with SIGTERM and waits for STOPPING=1 and a clean
// exit. The binary is static: the root needs nothing else.
func daemonInRoot(t *testing.T, root string) {
	t.Helper()
	uid, gid, ok := systemUser(t, root, "storeedge")
	if !ok {
		t.Fatal("no storeedge user in the root")
	}
	sock := filepath.Join(root, "run", "notify")
	_ = os.Remove(sock)
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	cmd := exec.Command("/usr/bin/storeedge", "-config", "/etc/storeedge/store.yaml")
	cmd.Dir = "/var/lib/storeedge"
	cmd.Env = []string{"NOTIFY_SOCKET=/run/notify", "WATCHDOG_USEC=2000000"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	wait := func(prefix string) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case m := <-got:
				if strings.HasPrefix(m, prefix) {
					return
				}
			case err := <-exited:
				exited <- err
				t.Fatalf("the installed storeedge exited before %s: %v\n%s", prefix, err, out.String())
			case <-deadline:
				t.Fatalf("no %s from the installed storeedge\n%s", prefix, out.String())
			}
		}
	}
	wait("READY=1")
	wait("WATCHDOG=1")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait("STOPPING=1")
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("the installed storeedge after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the installed storeedge still runs 30 s after SIGTERM\n%s", out.String())
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Install, upgrade, remove, install again and purge the amd64 package in
// a throwaway root: the user and the data directory are made, the
// installed daemon runs there as that user; what it and the operator wrote
// survives the upgrade, the removal and the new install, and goes only
// with the purge; an edited configuration file survives the upgrade.
func TestInstallUpgradeRemovePurge(t *testing.T) {
	if os.Geteuid() != 0 {
		msg := "dpkg --root and the daemon's own user need root"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	needTool(t, "dpkg", "dpkg")
	needTool(t, "systemd-sysusers", "systemd")
	needTool(t, "deb-systemd-helper", "init-system-helpers")
	debs, upgrade := packages(t)
	root := throwawayRoot(t)
	data := filepath.Join(root, "var/lib/storeedge")
	conf := filepath.Join(root, "etc/storeedge/store.yaml")

	hostWants := "/etc/systemd/system/multi-user.target.wants/storeedge.service"
	hostHadIt := exists(hostWants)
	dpkgIn(t, root, "-i", debs["amd64"])
	uid, gid, ok := systemUser(t, root, "storeedge")
	if !ok || uid == 0 || uid >= 1000 {
		t.Fatalf("storeedge user: uid %d ok %v, want a system user", uid, ok)
	}
	st, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); st.Mode().Perm() != 0o750 || !st.IsDir() || int(sys.Uid) != uid || int(sys.Gid) != gid {
		t.Fatalf("data dir %v owner %d:%d, want 0750 %d:%d", st.Mode(), sys.Uid, sys.Gid, uid, gid)
	}
	if !exists(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/storeedge.service")) {
		t.Error("the service is not enabled in the root")
	}
	if !hostHadIt && exists(hostWants) {
		t.Error("the maintainer scripts enabled storeedge on this machine, outside the root")
	}

	// The operator's edit: the listeners on free loopback ports (also
	// what lets the daemon run here beside other tests).
	edit := fmt.Sprintf("\n# edited on the box\nlisteners:\n  tcp: %q\n  websocket: \"\"\n  tls: \"\"\n  http: %q\n", freePort(t), freePort(t))
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(edit); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// The installed daemon, as its user: it makes its database.
	daemonInRoot(t, root)
	db := filepath.Join(data, "storeedge.db")
	if st, err := os.Stat(db); err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != uid {
		t.Fatalf("the daemon's database: %v", err)
	}
	marker := filepath.Join(data, "kept.txt")
	if err := os.WriteFile(marker, []byte("written between install and upgrade\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	dbBefore, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	// Upgrade.
	dpkgIn(t, root, "-i", upgrade)
	status := dpkgIn(t, root, "-s", "storeedge")
	if !strings.Contains(status, "Version: "+upgradeVerson) || !strings.Contains(status, "Status: install ok installed") {
		t.Fatalf("after the upgrade:\n%s", status)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), edit) {
		t.Fatalf("the edited store.yaml lost its edit on upgrade:\n%s", b)
	}
	if b, err := os.ReadFile(db); err != nil || string(b) != string(dbBefore) {
		t.Fatalf("the database changed or went on upgrade: %v", err)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "written between install and upgrade\n" {
		t.Fatalf("data written before the upgrade: %q %v", b, err)
	}
	if st, _ := os.Stat(data); st.Mode().Perm() != 0o750 {
		t.Fatalf("the upgrade changed the data dir's mode: %v", st.Mode())
	}
	// The new version runs on the old data.
	daemonInRoot(t, root)
	dbBefore, err = os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	// Remove: the program goes, the data and configuration stay.
	dpkgIn(t, root, "-r", "storeedge")
	if exists(filepath.Join(root, "usr/bin/storeedge")) || exists(filepath.Join(root, "lib/systemd/system/storeedge.service")) {
		t.Fatal("remove left the program or the unit")
	}
	for _, p := range []string{marker, db, conf} {
		if !exists(p) {
			t.Fatalf("remove deleted %s", p)
		}
	}
	if b, err := os.ReadFile(db); err != nil || string(b) != string(dbBefore) {
		t.Fatalf("the database changed on remove: %v", err)
	}

	// Installed again after a remove: the data is picked up as it was.
	dpkgIn(t, root, "-i", upgrade)
	if b, err := os.ReadFile(marker); err != nil || string(b) != "written between install and upgrade\n" {
		t.Fatalf("data after remove and install again: %q %v", b, err)
	}
	if b, err := os.ReadFile(db); err != nil || string(b) != string(dbBefore) {
		t.Fatalf("the database after remove and install again: %v", err)
	}
	dpkgIn(t, root, "-r", "storeedge")

	// Purge: the data goes, and every trace of the service.
	dpkgIn(t, root, "-P", "storeedge")
	for _, p := range []string{data, filepath.Join(root, "etc/storeedge"), filepath.Join(root, "etc/default/storeedge"),
		filepath.Join(root, "etc/systemd/system/multi-user.target.wants/storeedge.service"),
		filepath.Join(root, "etc/systemd/system/storeedge.service")} {
		if exists(p) {
			t.Errorf("purge left %s", p)
		}
	}
	if _, _, ok := systemUser(t, root, "storeedge"); !ok {
		t.Error("purge removed the storeedge user (Debian keeps system users)")
	}
	st2 := dpkgIn(t, root, "-l")
	sc := bufio.NewScanner(strings.NewReader(st2))
	for sc.Scan() {
		if strings.Contains(sc.Text(), " storeedge ") && !strings.HasPrefix(sc.Text(), "un") && !strings.HasPrefix(sc.Text(), "pn") {
			t.Errorf("after purge dpkg still lists: %s", sc.Text())
		}
	}
}
