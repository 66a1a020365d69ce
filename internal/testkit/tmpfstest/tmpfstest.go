// Package tmpfstest mounts a small tmpfs for a test, so that a test can fill
// a real disk: the store's data dir on it runs out of room as a store box's
// card does.
package tmpfstest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv marks a test binary re-run inside a user and mount namespace.
const childEnv = "STOREEDGE_TMPFS_CHILD"

// Mount mounts a tmpfs of size bytes on a fresh directory and unmounts it
// when the test ends. It needs root (CI runs as root). Not root, it re-runs
// the test alone in `unshare -rm` (root in its own user and mount
// namespace), reports that run's output and result, and returns ok false:
// the caller then returns at once. It never skips.
func Mount(t *testing.T, size int64) (dir string, ok bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv(childEnv) != "" {
			t.Fatalf("tmpfs: not root even in unshare -rm (uid %d)", os.Geteuid())
		}
		reexec(t)
		return "", false
	}
	dir = filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0750", size)); err != nil {
		t.Fatalf("mount -t tmpfs -o size=%d on %s: %v (needs root or CAP_SYS_ADMIN)", size, dir, err)
	}
	t.Cleanup(func() {
		// Lazily: a file still open (a failed test's broker) must not keep
		// the mount, nor fail every later test.
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("umount %s: %v", dir, err)
		}
	})
	return dir, true
}

// reexec runs this test alone in unshare -rm and reports its result.
func reexec(t *testing.T) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("tmpfs: not root and no unshare (Debian package util-linux) to mount one: %v", err)
	}
	args := []string{"-rm", os.Args[0], "-test.run", "^" + strings.ReplaceAll(t.Name(), "/", "$/^") + "$", "-test.v", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout", time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("run as root in unshare -rm:\n%s", out)
	if err != nil {
		t.Fatalf("tmpfs: the test in unshare -rm failed (or user namespaces are off: run as root): %v", err)
	}
}

// Fill writes a file of n bytes (or as many as fit, when n < 0) at path and
// returns how many were written; a full disk ends it without an error.
func Fill(t *testing.T, path string, n int64) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var done int64
	for n < 0 || done < n {
		p := buf
		if n >= 0 && n-done < int64(len(p)) {
			p = p[:n-done]
		}
		w, err := f.Write(p)
		done += int64(w)
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return done
			}
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	return done
}

// Free is the room left on dir's file system.
func Free(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
