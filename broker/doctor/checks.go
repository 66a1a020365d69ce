package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/timesync"
	"github.com/storeedge/storeedge/proto"
)

// ConfigFile is the config check: err is what loading file (and the files
// it names) said; file "" is the built-in configuration.
func ConfigFile(file string, err error) Check {
	switch {
	case err != nil:
		return mk("config", Fail, "config_invalid", map[string]string{"error": err.Error()})
	case file == "":
		return mk("config", OK, "config_builtin", nil)
	}
	return mk("config", OK, "config_ok", map[string]string{"file": file})
}

// NotChecked stands for the check name when the configuration did not
// load: without it the data directory, keys and links are not known.
func NotChecked(name string) Check { return mk(name, Warn, "config_first", nil) }

// maxDBProblems is how many of the consistency check's problems are named.
const maxDBProblems = 5

// Database runs bbolt's consistency check (Tx.Check) on tx, which reads
// every page: on a big database it takes a while, and a writer that must
// grow the file waits for it.
func Database(tx *bolt.Tx) Check {
	var errs []string
	n := 0
	for err := range tx.Check() {
		n++
		if len(errs) < maxDBProblems {
			errs = append(errs, err.Error())
		}
	}
	if n > 0 {
		msg := strings.Join(errs, "; ")
		if n > len(errs) {
			msg += fmt.Sprintf("; and %d more", n-len(errs))
		}
		return mk("database", Fail, "database_bad", map[string]string{"count": strconv.Itoa(n), "error": msg})
	}
	return mk("database", OK, "database_ok", map[string]string{"size": Bytes(tx.Size())})
}

// DatabaseMissing: data_dir holds no database yet.
func DatabaseMissing(dir string) Check {
	return mk("database", Warn, "database_new", map[string]string{"dir": dir})
}

// DatabaseUnreadable: the database file could not be opened.
func DatabaseUnreadable(path string, err error) Check {
	if errors.Is(err, bolt.ErrTimeout) {
		return mk("database", Fail, "database_locked", map[string]string{"path": path})
	}
	return mk("database", Fail, "database_open", map[string]string{"path": path, "error": err.Error()})
}

// KeysNoDatabase: the keys check needs the database, which could not be read.
func KeysNoDatabase() Check { return mk("keys", Warn, "keys_nodb", nil) }

// BackupStopped: the backups' state is the daemon's; it is stopped.
func BackupStopped() Check { return mk("backup", Warn, "backup_stopped", nil) }

// DatabaseRunning: the daemon's first check has not finished yet.
func DatabaseRunning() Check { return mk("database", OK, "database_wait", nil) }

// Keys opens sealed (sealed with additionalData) with keys. found is false
// when the store has no sealed record yet; keysErr is why the keys could
// not be loaded (keys is nil then).
func Keys(keys *seal.Keyring, keysErr error, sealed, additionalData []byte, found bool) Check {
	if !found {
		return mk("keys", OK, "keys_unused", nil)
	}
	if keysErr != nil {
		return mk("keys", Fail, "keys_missing", map[string]string{"error": keysErr.Error()})
	}
	if _, err := keys.Open(sealed, additionalData); err != nil {
		msg := err.Error()
		switch {
		case errors.Is(err, seal.ErrUnknownKey):
			id, _ := seal.KeyID(sealed)
			msg = fmt.Sprintf("the records are sealed under key %q, which these keys do not hold (they hold %s)", id, strings.Join(keys.IDs(), ", "))
		case errors.Is(err, seal.ErrAuth):
			id, _ := seal.KeyID(sealed)
			msg = fmt.Sprintf("the key named %q is not the key the records were sealed with", id)
		}
		return mk("keys", Fail, "keys_wrong", map[string]string{"error": msg})
	}
	return mk("keys", OK, "keys_ok", map[string]string{"key": keys.Current()})
}

// Disk checks the headroom of dir's file system against c.
func Disk(dir string, c Config) Check {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return mk("disk", Fail, "disk_unknown", map[string]string{"dir": dir, "error": err.Error()})
	}
	// As df counts: what is used of what is used plus what is available
	// to an unprivileged writer (the blocks kept for root are not).
	used := fs.Blocks - fs.Bfree
	avail := fs.Bavail
	pct := 0
	if used+avail > 0 {
		pct = int((used*100 + used + avail - 1) / (used + avail)) // rounded up, as df does
	}
	args := map[string]string{"dir": dir, "used": strconv.Itoa(pct), "free": Bytes(int64(avail) * int64(fs.Bsize)), //nolint:unconvert // field types differ between platforms
		"warn": strconv.Itoa(c.DiskWarnPercent), "fail": strconv.Itoa(c.DiskFailPercent)}
	free := int64(avail) * int64(fs.Bsize) //nolint:unconvert // field types differ between platforms
	switch {
	case c.MinFreeBytes > 0 && free < c.MinFreeBytes:
		args["floor"] = Bytes(c.MinFreeBytes)
		return mk("disk", Fail, "disk_floor", args)
	case pct >= c.DiskFailPercent:
		return mk("disk", Fail, "disk_full", args)
	case pct >= c.DiskWarnPercent:
		return mk("disk", Warn, "disk_low", args)
	}
	return mk("disk", OK, "disk_ok", args)
}

// Inodes checks the file entries of dir's file system against c.
func Inodes(dir string, c Config) Check {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return mk("inodes", Fail, "disk_unknown", map[string]string{"dir": dir, "error": err.Error()})
	}
	if fs.Files == 0 {
		return mk("inodes", OK, "inodes_none", map[string]string{"dir": dir})
	}
	pct := int(((fs.Files-fs.Ffree)*100 + fs.Files - 1) / fs.Files)
	args := map[string]string{"dir": dir, "used": strconv.Itoa(pct), "warn": strconv.Itoa(c.InodeWarnPercent)}
	if pct >= c.InodeWarnPercent {
		return mk("inodes", Warn, "inodes_low", args)
	}
	return mk("inodes", OK, "inodes_ok", args)
}

// Certificate checks the TLS listener's certificate (certFile, keyFile;
// "" when there is none) at now.
func Certificate(certFile, keyFile string, now time.Time, c Config) Check {
	if certFile == "" {
		return mk("certificate", OK, "cert_none", nil)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return mk("certificate", Fail, "cert_bad", map[string]string{"error": err.Error()})
	}
	leaf := pair.Leaf
	if leaf == nil {
		return mk("certificate", Fail, "cert_bad", map[string]string{"error": certFile + ": no certificate in it"})
	}
	args := map[string]string{"file": certFile, "until": leaf.NotAfter.UTC().Format(time.RFC3339),
		"from": leaf.NotBefore.UTC().Format(time.RFC3339)}
	left := leaf.NotAfter.Sub(now)
	args["days"] = strconv.Itoa(int(left.Hours() / 24))
	switch {
	case !now.Before(leaf.NotAfter):
		return mk("certificate", Fail, "cert_expired", args)
	case now.Before(leaf.NotBefore):
		return mk("certificate", Warn, "cert_early", args)
	case left < time.Duration(c.CertWarnDays)*24*time.Hour:
		return mk("certificate", Warn, "cert_soon", args)
	}
	return mk("certificate", OK, "cert_ok", args)
}

// HQLink is what the hq check looks at.
type HQLink struct {
	// Cloud is the cloud: section; off when its URL is empty.
	Cloud cloudsync.Config
	// ClientID is the bridge's client id on HQ's broker.
	ClientID string
	// Status is the running daemon's cloudsync status; nil when stopped.
	Status *cloudsync.Status
	// Probe, when set, reaches HQ's broker when Status does not say the
	// link is up (storeedge doctor; the health op only reads Status).
	Probe bool
	// Timeout bounds the probe (doctor.hq_timeout).
	Timeout time.Duration
}

// HQ checks the link to HQ: the daemon's status when it is connected,
// else a probe (TCP, TLS, MQTT CONNECT with the store's credentials) when
// l.Probe, else the status's last error.
func HQ(ctx context.Context, l HQLink) Check {
	if !l.Cloud.Enabled() {
		return mk("hq", OK, "hq_off", nil)
	}
	st := l.Status
	if st != nil && st.Connected {
		return mk("hq", OK, "hq_connected", map[string]string{"since": st.Since.UTC().Format(time.RFC3339),
			"backlog": strconv.FormatInt(st.Backlog, 10)})
	}
	if !l.Probe {
		args := map[string]string{"since": "", "backlog": "0", "error": "no status yet"}
		if st != nil {
			args["since"] = st.Since.UTC().Format(time.RFC3339)
			args["backlog"] = strconv.FormatInt(st.Backlog, 10)
			if st.LastError != "" {
				args["error"] = st.LastError
			}
		}
		return mk("hq", Warn, "hq_down", args)
	}
	pctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	start := time.Now()
	err := l.Cloud.Probe(pctx, l.ClientID)
	args := map[string]string{"url": l.Cloud.URL}
	if err == nil {
		args["ms"] = strconv.FormatInt(time.Since(start).Milliseconds(), 10)
		return mk("hq", OK, "hq_reachable", args)
	}
	// The connection's deadline is the probe's: either may say so first.
	timedOut := ctx.Err() == nil && (pctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded))
	args["error"] = err.Error()
	if timedOut {
		args["error"] = fmt.Sprintf("no answer within %s (doctor.hq_timeout)", l.Timeout)
	}
	var pe *cloudsync.ProbeError
	if errors.As(err, &pe) {
		args["error"] = pe.Err.Error()
		if timedOut {
			args["error"] = fmt.Sprintf("no answer within %s (doctor.hq_timeout) at the %s step", l.Timeout, pe.Step)
		}
		switch pe.Step {
		case cloudsync.ProbeTLS:
			return mk("hq", Fail, "hq_tls", args)
		case cloudsync.ProbeLogin:
			if pe.Reason != 0 {
				return mk("hq", Fail, "hq_refused", args)
			}
		}
	}
	return mk("hq", Warn, "hq_unreachable", args)
}

// Clock checks what timesync.Kernel says.
func Clock(st timesync.Status, err error) Check {
	switch {
	case err != nil:
		return mk("clock", Warn, "clock_unknown", map[string]string{"error": err.Error()})
	case !st.Synced:
		return mk("clock", Warn, "clock_unsynced", nil)
	}
	return mk("clock", OK, "clock_synced", nil)
}

// BackupStale: no backup that worked in this long is a warning.
const BackupStale = 48 * time.Hour

// Backup checks the daily backups' state at now; nil or not Enabled means
// backups are not set up.
func Backup(b *proto.BackupHealth, now time.Time) Check {
	switch {
	case b == nil || !b.Enabled:
		return mk("backup", Warn, "backup_off", nil)
	case b.Error != "":
		return mk("backup", Warn, "backup_failed", map[string]string{"error": b.Error})
	case b.LastOK == nil:
		return mk("backup", Warn, "backup_none", nil)
	}
	args := map[string]string{"last": b.LastOK.UTC().Format(time.RFC3339), "kept": strconv.Itoa(b.Kept),
		"hours": strconv.Itoa(int(now.Sub(*b.LastOK).Hours()))}
	if now.Sub(*b.LastOK) > BackupStale {
		return mk("backup", Warn, "backup_old", args)
	}
	return mk("backup", OK, "backup_ok", args)
}

// Bytes says a size for people: 1.5 GB, 320 MB, 12 kB.
func Bytes(n int64) string {
	const k = 1000
	switch {
	case n >= k*k*k:
		return fmt.Sprintf("%.1f GB", float64(n)/(k*k*k))
	case n >= k*k:
		return fmt.Sprintf("%.0f MB", float64(n)/(k*k))
	case n >= k:
		return fmt.Sprintf("%.0f kB", float64(n)/k)
	}
	return fmt.Sprintf("%d bytes", n)
}
