//go:build unix

package store

import "syscall"

// FreeBytes is the room left for an unprivileged writer on dir's file
// system; false when it cannot be read.
func FreeBytes(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true //nolint:unconvert // field types differ between platforms
}
