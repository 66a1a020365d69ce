// Package store opens the store's one bbolt database and commits writes in
// groups: every write that arrives while a commit is running joins the next
// one, so many writers share one fsync. Packages own their buckets; store
// only provides the database, the group committer and its figures.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrClosed is returned for writes submitted after Close.
var ErrClosed = errors.New("store: closed")

// Defaults of Options.FreeHeadroom and MaxBatch.
const (
	DefaultFreeHeadroom = 32 << 20
	DefaultMaxBatch     = 1024
)

// ErrFull is returned when a write finds no room: the database has reached
// its configured size cap, or the disk is full (ErrDiskFull).
var ErrFull = errors.New("store: full")

// ErrDiskFull is returned when the disk holding the database has less free
// room than Options.MinFreeBytes, or a write failed for want of room (ENOSPC,
// EDQUOT). It wraps ErrFull, so callers that answer "full" need test only that.
var ErrDiskFull = fmt.Errorf("%w: the disk is full", ErrFull)

// Options configure Open.
type Options struct {
	// Path of the database file; its directory is created when missing.
	Path string
	// MaxBatch caps how many writes one commit carries (default 1024).
	MaxBatch int
	// MaxSize caps the file size in bytes; 0 means no cap.
	MaxSize int64
	// FreeHeadroom is how far past MaxSize a write run with UpdateFree may
	// grow the file (default 32 MiB; bbolt grows a large file 16 MiB at a
	// time). bbolt copies every page a transaction changes, deletes too, so
	// a database filled to its cap could otherwise not delete anything and
	// would stay full.
	FreeHeadroom int64
	// MinFreeBytes is the disk room writes leave free: a group commit that
	// would start with less than this free on the database's file system
	// fails with ErrDiskFull before bbolt writes a page (0 = no floor).
	// Writes that make room (UpdateFree, UpdateFreeAsync) may use it. It
	// should exceed what one group commit writes; when the disk fills
	// anyway, bbolt's ENOSPC is ErrDiskFull too, the file stays consistent
	// and the next commit that finds room succeeds.
	MinFreeBytes int64
	// LockTimeout bounds the wait for the file lock held by another process
	// (default 5 s): a second broker on the same data dir fails instead of hanging.
	LockTimeout time.Duration
	// OnCommit, when set, is told the duration and size of every group commit.
	OnCommit func(d time.Duration, writes int)
}

// DB is an open database with a group committer.
type DB struct {
	bolt     *bolt.DB
	opts     Options
	reqs     chan *write
	stop     chan struct{}
	done     chan struct{}
	closeMu  sync.RWMutex
	closed   bool
	closeErr error

	commits, writes atomic.Uint64
	capped          atomic.Bool  // the last commit met MaxSize
	noSpaceAt       atomic.Int64 // free bytes when a write last met ENOSPC; -1: none since

}

// Stats are the database's figures since Open.
type Stats struct {
	// Commits is how many write transactions were committed: each one is
	// one fsync, however many writes it carried.
	Commits uint64
	// Writes is how many functions (Update, UpdateFree, Enqueue,
	// UpdateAsync) those commits carried.
	Writes uint64
}

// Stats returns the database's figures.
func (db *DB) Stats() Stats {
	return Stats{Commits: db.commits.Load(), Writes: db.writes.Load()}
}

// write is one caller's transaction function waiting for a group commit.
type write struct {
	fn    func(*bolt.Tx) error
	free  bool        // UpdateFree: committed alone, allowed past MaxSize
	frees bool        // UpdateFreeAsync: grouped, but past MaxSize alone when the cap stops it
	flush bool        // Flush: no fn, answered once the writes before it are done
	done  chan error  // Update's caller waits here; nil for UpdateAsync
	onErr func(error) // UpdateAsync's error callback, may be nil
}

// Open opens (or creates) the database and starts its committer.
func Open(opts Options) (*DB, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if opts.FreeHeadroom <= 0 {
		opts.FreeHeadroom = DefaultFreeHeadroom
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o750); err != nil {
		return nil, fmt.Errorf("store: create directory: %w", err)
	}
	b, err := bolt.Open(opts.Path, 0o600, &bolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bolt.FreelistMapType, // large files with churn: O(1) frees
		MaxSize:      int(opts.MaxSize),
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store: %s is locked by another process: %w", opts.Path, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", opts.Path, err)
	}
	db := &DB{
		bolt: b,
		opts: opts,
		reqs: make(chan *write, opts.MaxBatch*4),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	db.noSpaceAt.Store(-1)
	go db.commitLoop()
	return db, nil
}

// Update runs fn in the next group commit and returns once that commit is on
// disk. fn must only touch the caller's own buckets and must be safe to run a
// second time on a fresh transaction: when another function in the group fails,
// the group is rolled back and each function is retried alone.
func (db *DB) Update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return db.wait(ctx, &write{fn: fn, done: make(chan error, 1)})
}

// UpdateFree is Update for a transaction that makes room: deleting expired
// or lapsed data. It is committed alone, and may grow the file up to
// FreeHeadroom past MaxSize, so that clean-ups still run in a database that
// is full (where bbolt would refuse the pages a delete copies).
func (db *DB) UpdateFree(ctx context.Context, fn func(*bolt.Tx) error) error {
	return db.wait(ctx, &write{fn: fn, free: true, done: make(chan error, 1)})
}

// Flush returns once every write submitted before it has been committed or
// has failed (each caller is told which). It writes nothing itself, so it
// returns nil on a full disk or at the size cap too.
func (db *DB) Flush(ctx context.Context) error {
	return db.wait(ctx, &write{flush: true, done: make(chan error, 1)})
}

// wait submits w and waits for its commit.
func (db *DB) wait(ctx context.Context, w *write) error {
	if err := db.submit(ctx, w); err != nil {
		return err
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		// The write may still commit; the caller only stops waiting.
		return fmt.Errorf("store: waiting for commit: %w", ctx.Err())
	}
}

// Enqueue queues fn for the next group commit and returns at once; the channel
// receives fn's result when the commit is on disk. It lets a caller keep
// working (reading the next packet) while its write waits for the fsync. The
// same rules as for Update apply to fn.
func (db *DB) Enqueue(fn func(*bolt.Tx) error) <-chan error {
	w := &write{fn: fn, done: make(chan error, 1)}
	if err := db.submit(context.Background(), w); err != nil {
		w.done <- err
	}
	return w.done
}

// UpdateAsync queues fn for the next group commit without waiting for it. It is
// for bookkeeping whose loss in a crash is harmless (for example deleting an
// acknowledged message, which at worst is delivered once more). When fn fails,
// or the database is closed, onErr (if not nil) is called with the error; it
// runs on the committer and must not block.
func (db *DB) UpdateAsync(fn func(*bolt.Tx) error, onErr func(error)) {
	w := &write{fn: fn, onErr: onErr}
	if err := db.submit(context.Background(), w); err != nil && onErr != nil {
		onErr(err)
	}
}

// UpdateFreeAsync is UpdateAsync for a transaction that makes room
// (deleting what was delivered or has lapsed). It is committed with the
// others as usual, so a stream of them costs no more fsyncs than
// UpdateAsync; only when the size cap refuses it is it committed alone with
// FreeHeadroom, as UpdateFree is, so that a full database can still drain.
func (db *DB) UpdateFreeAsync(fn func(*bolt.Tx) error, onErr func(error)) {
	w := &write{fn: fn, onErr: onErr, frees: true}
	if err := db.submit(context.Background(), w); err != nil && onErr != nil {
		onErr(err)
	}
}

func (db *DB) submit(ctx context.Context, w *write) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	select {
	case db.reqs <- w:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: queueing write: %w", ctx.Err())
	}
}

// View runs a read-only transaction. Keep it short: a long read blocks the
// file from growing (bbolt remaps under an exclusive lock).
func (db *DB) View(fn func(*bolt.Tx) error) error {
	return db.bolt.View(fn)
}

// Size is the database file size in bytes.
func (db *DB) Size() int64 {
	var n int64
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n
}

// Path is the database file's path.
func (db *DB) Path() string { return db.opts.Path }

// Close commits every queued write, then closes the file.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		<-db.done
		return db.closeErr
	}
	db.closed = true
	close(db.stop)
	db.closeMu.Unlock()
	<-db.done
	if err := db.bolt.Close(); err != nil {
		db.closeErr = fmt.Errorf("store: close: %w", err)
	}
	return db.closeErr
}

// commitLoop takes whatever writes are waiting, commits them together, and
// repeats. No timer: while one commit is syncing, the next group gathers, so a
// lone writer pays one fsync and a crowd shares one.
func (db *DB) commitLoop() {
	defer close(db.done)
	group := make([]*write, 0, db.opts.MaxBatch)
	for {
		group = group[:0]
		select {
		case w := <-db.reqs:
			group = append(group, w)
		case <-db.stop:
			// Drain what was queued before Close.
			for {
				select {
				case w := <-db.reqs:
					group = append(group, w)
					if len(group) == db.opts.MaxBatch {
						db.commit(group)
						group = group[:0]
					}
					continue
				default:
				}
				break
			}
			if len(group) > 0 {
				db.commit(group)
			}
			return
		}
	gather:
		for len(group) < db.opts.MaxBatch {
			select {
			case w := <-db.reqs:
				group = append(group, w)
			default:
				break gather
			}
		}
		db.commit(group)
	}
}

func (db *DB) commit(group []*write) {
	normal := group[:0:0]
	var flushes []*write
	for _, w := range group {
		switch {
		case w.flush:
			flushes = append(flushes, w)
		case w.free:
			db.commitFree(w)
		default:
			normal = append(normal, w)
		}
	}
	if len(normal) > 0 {
		db.commitGroup(normal)
	}
	for _, w := range flushes {
		reply(w, nil)
	}
}

// commitFree commits an UpdateFree write alone with the size cap raised by
// FreeHeadroom. Only the committer writes, so the cap is changed between
// write transactions, never during one.
func (db *DB) commitFree(w *write) {
	if db.opts.MaxSize > 0 {
		db.bolt.MaxSize = int(db.opts.MaxSize + db.opts.FreeHeadroom)
		defer func() { db.bolt.MaxSize = int(db.opts.MaxSize) }()
	}
	start := time.Now()
	err := db.bolt.Update(w.fn)
	if err == nil {
		db.observe(start, 1)
	}
	reply(w, wrapFull(err))
}

func (db *DB) commitGroup(group []*write) {
	if err := db.roomLeft(); err != nil {
		for _, w := range group {
			if w.frees {
				db.commitFree(w)
			} else {
				reply(w, err)
			}
		}
		return
	}
	start := time.Now()
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		for _, w := range group {
			if err := w.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		db.uncap()
		db.observe(start, len(group))
		for _, w := range group {
			reply(w, nil)
		}
		return
	}
	// One function (or the commit itself) failed: retry each alone so the
	// failure lands only on its own caller.
	for _, w := range group {
		start := time.Now()
		err := wrapFull(db.bolt.Update(w.fn))
		if err == nil {
			db.uncap()
			db.observe(start, 1)
		} else if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			free, _ := FreeBytes(filepath.Dir(db.opts.Path))
			db.noSpaceAt.Store(free)
		} else if errors.Is(err, berrors.ErrMaxSizeReached) {
			db.capped.Store(true)
		}
		if w.frees && errors.Is(err, ErrFull) {
			db.commitFree(w)
			continue
		}
		reply(w, err)
	}
}

func (db *DB) observe(start time.Time, n int) {
	db.commits.Add(1)
	db.writes.Add(uint64(n))
	if db.opts.OnCommit != nil {
		db.opts.OnCommit(time.Since(start), n)
	}
}

func reply(w *write, err error) {
	if w.done != nil {
		w.done <- err
	} else if err != nil && w.onErr != nil {
		w.onErr(err)
	}
}

func wrapFull(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// roomLeft is ErrDiskFull when the database's file system has less free
// than MinFreeBytes (a file system it cannot read counts as roomy: the
// write then tells).
func (db *DB) roomLeft() error {
	if db.opts.MinFreeBytes <= 0 {
		return nil
	}
	free, ok := FreeBytes(filepath.Dir(db.opts.Path))
	if !ok || free >= db.opts.MinFreeBytes {
		return nil
	}
	return fmt.Errorf("%w: %d bytes free on the disk of %s, writes keep %d free", ErrDiskFull, free, filepath.Dir(db.opts.Path), db.opts.MinFreeBytes)
}

// roomBack is how much more free than at the last ENOSPC counts as room
// again (a write that fits in the database's free pages needs none).
const roomBack = 1 << 20

// uncap clears "the database is at its cap" after a commit that went in,
// once the database has roomBack below its cap again (counting bbolt's
// free pages): a one-byte write that fits in a freed page is not room, and
// the health op would otherwise say nothing is wrong while most writes are
// refused.
func (db *DB) uncap() {
	if !db.capped.Load() {
		return
	}
	if db.opts.MaxSize <= 0 {
		db.capped.Store(false)
		return
	}
	free := int64(db.bolt.Stats().FreePageN) * int64(db.bolt.Info().PageSize)
	if db.opts.MaxSize-db.Size()+free >= roomBack {
		db.capped.Store(false)
	}
}

// Refusing says why writes are refused now: "disk_full" when the disk has
// less free than MinFreeBytes, or a write ran out of disk and no room has
// come back since; "db_full" when the last write found the database at its
// size cap; "" when writes go in.
func (db *DB) Refusing() string {
	if db.roomLeft() != nil {
		return "disk_full"
	}
	if at := db.noSpaceAt.Load(); at >= 0 {
		if free, ok := FreeBytes(filepath.Dir(db.opts.Path)); !ok || free < at+roomBack {
			return "disk_full"
		}
		db.noSpaceAt.CompareAndSwap(at, -1)
	}
	if db.capped.Load() {
		return "db_full"
	}
	return ""
}
