package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// compactTxBytes is how much Compact copies per transaction.
const compactTxBytes = 64 << 20

// ErrRunning is returned by Compact when the database is open (the broker
// is running).
var ErrRunning = errors.New("the database is in use: stop the broker first")

// Compact rewrites the database of a stopped store into a new file that
// holds only its live records, puts it in place of the old one and
// overwrites the old one with zeros before deleting it. bbolt never wipes
// the pages it frees, so data an older version wrote in the clear (and has
// since sealed or deleted) stays in the file until a page is reused;
// Compact removes it. (On flash storage the old blocks may survive in the
// card's spare area; sealing before writing is what keeps new data safe.)
// It returns the file's size before and after.
func Compact(cfg Config) (before, after int64, err error) {
	path := filepath.Join(cfg.DataDir, DBFile)
	tmp, old := path+".compact", path+".old"
	// A compaction that stopped half-way left these behind.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, 0, fmt.Errorf("compact: %w", err)
	}
	if err := wipe(old); err != nil {
		return 0, 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("compact: %w", err)
	}
	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return 0, 0, fmt.Errorf("compact %s: %w", path, ErrRunning)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("compact: open %s: %w", path, err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		src.Close()
		return 0, 0, fmt.Errorf("compact: create %s: %w", tmp, err)
	}
	err = bolt.Compact(dst, src, compactTxBytes)
	err = errors.Join(err, dst.Close(), src.Close())
	if err != nil {
		_ = os.Remove(tmp)
		return 0, 0, fmt.Errorf("compact: %w", err)
	}
	// The new file is complete and synced (every bbolt commit is); swap
	// the files, then wipe the old one.
	if err := os.Rename(path, old); err != nil {
		return 0, 0, fmt.Errorf("compact: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, 0, errors.Join(fmt.Errorf("compact: %w", err), os.Rename(old, path))
	}
	if err := syncDir(cfg.DataDir); err != nil {
		return 0, 0, err
	}
	if err := wipe(old); err != nil {
		return 0, 0, err
	}
	nfi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("compact: %w", err)
	}
	return fi.Size(), nfi.Size(), nil
}

// wipe overwrites a file with zeros, syncs and removes it; a file that does
// not exist is fine.
func wipe(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("compact: wipe %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err == nil {
		zero := make([]byte, 1<<20)
		for left := fi.Size(); left > 0 && err == nil; {
			n := min(left, int64(len(zero)))
			_, err = f.Write(zero[:n])
			left -= n
		}
	}
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		return fmt.Errorf("compact: wipe %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	err = errors.Join(d.Sync(), d.Close())
	if err != nil {
		return fmt.Errorf("compact: sync %s: %w", dir, err)
	}
	return nil
}
