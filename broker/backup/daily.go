package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// dailyStamp is the UTC time in a daily backup's file name.
const dailyStamp = "20060102T150405Z"

// DailyName is the file name of the daily backup of store made at t:
// daily-STORE-20261207T033000Z.backup. Only files named so are ever
// deleted by the daily backups' pruning.
func DailyName(store string, t time.Time) string {
	return "daily-" + store + "-" + t.UTC().Format(dailyStamp) + ".backup"
}

// DailyFile is a daily backup found in the backup folder.
type DailyFile struct {
	Path  string
	Made  time.Time
	Bytes int64
}

// ListDaily lists store's daily backups in dir, oldest first. Other files
// (a backup made by hand, another store's) are not listed.
func ListDaily(dir, store string) ([]DailyFile, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup folder: %w", err)
	}
	re := regexp.MustCompile(`^daily-` + regexp.QuoteMeta(store) + `-(\d{8}T\d{6}Z)\.backup$`)
	var out []DailyFile
	for _, e := range ents {
		m := re.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		t, err := time.Parse(dailyStamp, m[1])
		if err != nil {
			continue
		}
		f := DailyFile{Path: filepath.Join(dir, e.Name()), Made: t}
		if fi, err := e.Info(); err == nil {
			f.Bytes = fi.Size()
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Made.Before(out[j].Made) })
	return out, nil
}

// Prune deletes store's daily backups in dir made more than keepDays days
// before now, but always keeps the keepDays newest (a clock that jumped
// ahead does not delete them all). It returns the files kept.
func Prune(dir, store string, now time.Time, keepDays int) ([]DailyFile, error) {
	files, err := ListDaily(dir, store)
	if err != nil {
		return nil, err
	}
	cut := now.Add(-time.Duration(keepDays) * 24 * time.Hour)
	var kept []DailyFile
	var errs []error
	for i, f := range files {
		newest := len(files)-i <= keepDays
		if newest || !f.Made.Before(cut) {
			kept = append(kept, f)
			continue
		}
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			kept = append(kept, f)
		}
	}
	if len(errs) > 0 {
		return kept, fmt.Errorf("backup: delete old backups: %w", errors.Join(errs...))
	}
	return kept, nil
}

// DailyOptions configure the daily backups.
type DailyOptions struct {
	// Dir is the backup folder; StoreID names the files.
	Dir, StoreID string
	// At is the time of day ("03:30") in the zone Zone returns (the
	// store's, read at each check).
	At   string
	Zone func() *time.Location
	// KeepDays: how many days of backups to keep.
	KeepDays int
	// Off, when not "", says in people's words why backups are off; the
	// runner then only reports it.
	Off string
	// Write writes one archive to w.
	Write func(ctx context.Context, w io.Writer) (*Manifest, error)
	// Now is the clock (default time.Now); Tick how often it is read
	// (default 30s); Retry how long after a failed attempt the next one
	// is made the same day (default 1h).
	Now   func() time.Time
	Tick  time.Duration
	Retry time.Duration
	Log   *slog.Logger
}

// State is the daily backups' state.
type State struct {
	Enabled bool
	Off     string
	Dir     string
	// LastAttempt, LastOK: when the last backup was attempted and when one
	// last succeeded (zero: never since start, or no backup file).
	LastAttempt time.Time
	LastOK      time.Time
	// LastError is the last attempt's error in people's words, "" when it
	// succeeded.
	LastError string
	// Bytes is the size of the newest backup file; Kept how many daily
	// backups the folder holds.
	Bytes int64
	Kept  int
	// Failures counts failed attempts since start; Next is the next
	// scheduled one.
	Failures uint64
	Next     time.Time
}

// Daily makes the daily backups.
type Daily struct {
	o  DailyOptions
	mu sync.Mutex
	st State
	// done holds the days (in the store's zone, YYYY-MM-DD) that have a
	// backup, so a clock set back does not make a day's backup twice.
	done map[string]bool
	// run serialises attempts (the schedule and RunNow).
	run sync.Mutex
}

// ParseAt checks a time of day "HH:MM".
func ParseAt(s string) (hour, min int, err error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a time of day like 03:30", s)
	}
	return t.Hour(), t.Minute(), nil
}

// NewDaily checks the options and reads the backups already in the folder
// (a folder it cannot read is logged, not an error).
func NewDaily(o DailyOptions) (*Daily, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tick <= 0 {
		o.Tick = 30 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = time.Hour
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Zone == nil {
		o.Zone = func() *time.Location { return time.Local }
	}
	if _, _, err := ParseAt(o.At); err != nil {
		return nil, fmt.Errorf("backup.daily_at: %w", err)
	}
	if o.KeepDays < 1 {
		return nil, fmt.Errorf("backup.keep_days %d: at least 1", o.KeepDays)
	}
	d := &Daily{o: o, done: map[string]bool{}}
	d.st = State{Enabled: o.Off == "", Off: o.Off, Dir: o.Dir}
	if o.Off != "" {
		return d, nil
	}
	// A backup cut short by a crash or a stop left its temporary file.
	if tmps, _ := filepath.Glob(filepath.Join(o.Dir, "daily-"+o.StoreID+"-*.backup.tmp")); len(tmps) > 0 {
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	// A folder that cannot be read (a USB stick not plugged in) does not
	// keep the broker from starting: the first attempt reports it.
	files, err := ListDaily(o.Dir, o.StoreID)
	if err != nil {
		o.Log.Error("backup: the backup folder cannot be read: "+Words(err, o.Dir), "folder", o.Dir)
	}
	d.noteFiles(files)
	if n := len(files); n > 0 {
		d.st.LastOK = files[n-1].Made
	}
	d.st.Next = d.next(o.Now())
	return d, nil
}

func (d *Daily) noteFiles(files []DailyFile) {
	zone := d.o.Zone()
	d.st.Kept = len(files)
	d.st.Bytes = 0
	if n := len(files); n > 0 {
		d.st.Bytes = files[n-1].Bytes
	}
	for _, f := range files {
		d.done[f.Made.In(zone).Format(time.DateOnly)] = true
	}
}

// next is when the next backup is due after now: today's time if today
// has none yet and it has passed or is to come, else tomorrow's.
func (d *Daily) next(now time.Time) time.Time {
	h, m, _ := ParseAt(d.o.At)
	now = now.In(d.o.Zone())
	at := time.Date(now.Year(), now.Month(), now.Day(), h, m, 0, 0, now.Location())
	if d.done[now.Format(time.DateOnly)] {
		return at.AddDate(0, 0, 1)
	}
	if !d.st.LastAttempt.IsZero() && d.st.LastError != "" && !now.Before(at) {
		if r := d.st.LastAttempt.Add(d.o.Retry); r.After(at) {
			return r
		}
	}
	return at
}

// State returns the current state.
func (d *Daily) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// Run makes a backup whenever one is due, until ctx is done.
func (d *Daily) Run(ctx context.Context) {
	if d.o.Off != "" {
		return
	}
	t := time.NewTicker(d.o.Tick)
	defer t.Stop()
	for {
		d.mu.Lock()
		due := !d.o.Now().Before(d.st.Next)
		d.mu.Unlock()
		if due {
			_ = d.RunNow(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunNow makes one backup now, prunes the old ones and records the
// outcome; a failure is logged and kept in the state.
func (d *Daily) RunNow(ctx context.Context) error {
	if d.o.Off != "" {
		return errors.New(d.o.Off)
	}
	d.run.Lock()
	defer d.run.Unlock()
	start := d.o.Now()
	path, m, err := d.write(ctx, start)
	var files []DailyFile
	if err == nil {
		var perr error
		files, perr = Prune(d.o.Dir, d.o.StoreID, start, d.o.KeepDays)
		if perr != nil {
			d.o.Log.Error("backup: made, but old backups could not be deleted", "error", perr)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.LastAttempt = start
	if err != nil {
		if ctx.Err() != nil {
			// Stopping: not the backup's fault; the next start tries again.
			d.st.LastAttempt = time.Time{}
			return err
		}
		d.st.LastError = Words(err, d.o.Dir)
		d.st.Failures++
		d.st.Next = d.next(d.o.Now())
		d.o.Log.Error("backup: the daily backup failed: "+d.st.LastError, "folder", d.o.Dir, "next_try", d.st.Next)
		return err
	}
	d.st.LastError, d.st.LastOK = "", start
	d.done[start.In(d.o.Zone()).Format(time.DateOnly)] = true
	d.noteFiles(files)
	d.st.Next = d.next(d.o.Now())
	d.o.Log.Info("backup: daily backup made", "file", path, "bytes", d.st.Bytes, "db_tx", m.DBTx, "kept", d.st.Kept,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// write makes the day's file: into name.tmp, synced, then renamed.
func (d *Daily) write(ctx context.Context, now time.Time) (string, *Manifest, error) {
	if err := os.MkdirAll(d.o.Dir, 0o700); err != nil {
		return "", nil, err
	}
	path := filepath.Join(d.o.Dir, DailyName(d.o.StoreID, now))
	m, err := WriteFile(ctx, path, d.o.Write)
	return path, m, err
}

// WriteFile writes an archive to path through path.tmp (mode 0600),
// synced and renamed into place; on failure nothing is left.
func WriteFile(ctx context.Context, path string, write func(ctx context.Context, w io.Writer) (*Manifest, error)) (*Manifest, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	m, err := write(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	return m, nil
}

// Words says a backup error in people's words.
func Words(err error, dir string) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Sprintf("no space left on the disk of %s: free some space or point backup.dir at a larger disk", dir)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS):
		return fmt.Sprintf("cannot write in %s (%v): check the folder's owner and permissions", dir, err)
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EEXIST):
		return fmt.Sprintf("the backup folder %s cannot be used (%v): check backup.dir", dir, err)
	case errors.Is(err, ErrNoKey):
		return err.Error()
	}
	return strings.TrimPrefix(err.Error(), "backup: ")
}
