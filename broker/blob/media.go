package blob

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DB is the transactional store blobs live in (broker/store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Sealer encrypts values at rest (internal/seal.Keyring).
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Defaults of Options.UploadIdle and UploadTTL.
const (
	DefaultUploadIdle = 10 * time.Minute
	DefaultUploadTTL  = 24 * time.Hour
)

// Options configure New.
type Options struct {
	DB     DB
	Seal   Sealer
	Limits Limits
	// UploadTTL is how long an upload may take from Begin to Complete, how
	// long a finished upload's answer is remembered, and how long a blob may
	// stay unreferenced after its last upload (default 24 h).
	UploadTTL time.Duration
	// UploadIdle is how long an open upload may go without progress (its
	// Begin or a new chunk) before it lapses and its reserved bytes are
	// free again (default 10 min; never later than UploadTTL).
	UploadIdle time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Meta describes a blob. The client declares Type, Size, SHA256 (lowercase
// hex), Name and, for audio and video, DurationMs; for images the store
// sets Width and Height from the decoded image and Thumbnail to the hash of
// a JPEG thumbnail that is itself a blob.
type Meta struct {
	Type       string `json:"type"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Name       string `json:"name,omitempty"`
	DurationMs int64  `json:"duration_ms,omitempty"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	Thumbnail  string `json:"thumbnail,omitempty"`
}

// UploadState is where an upload stands.
type UploadState struct {
	Owner    string
	UploadID string
	Meta     Meta
	// ChunkBytes is the size of every chunk but the last, which holds the rest.
	ChunkBytes int
	Chunks     int
	Received   int
	// Missing lists the chunk indexes not yet stored, ascending; a client
	// resuming after a reconnect sends these.
	Missing []int
	// Done: the blob is stored under Hash (Meta.SHA256); nothing is missing.
	Done    bool
	Hash    string
	Expires time.Time
}

// Blob is a stored blob's meta and reference count.
type Blob struct {
	Meta Meta
	Refs int64
}

// Store is the media blob store. It is safe for concurrent use.
type Store struct {
	db     DB
	seal   Sealer
	limits Limits
	ttl    time.Duration
	idle   time.Duration
	now    func() time.Time
	locks  keyedLock
	thumbs chan struct{} // a slot per image being decoded
}

// New checks the options and returns the store. Buckets are created by the
// first write.
func New(o Options) (*Store, error) {
	if o.DB == nil || o.Seal == nil {
		return nil, errors.New("media: DB and Seal are required")
	}
	l, err := o.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.UploadTTL < 0 {
		return nil, fmt.Errorf("media: negative UploadTTL %v", o.UploadTTL)
	}
	if o.UploadTTL == 0 {
		o.UploadTTL = DefaultUploadTTL
	}
	if o.UploadIdle < 0 {
		return nil, fmt.Errorf("media: negative UploadIdle %v", o.UploadIdle)
	}
	if o.UploadIdle == 0 {
		o.UploadIdle = DefaultUploadIdle
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{db: o.DB, seal: o.Seal, limits: l, ttl: o.UploadTTL, idle: o.UploadIdle, now: o.Now, locks: keyedLock{held: map[string]chan struct{}{}},
		thumbs: make(chan struct{}, l.ThumbnailWorkers)}, nil
}

// Limits returns the effective limits (defaults filled in).
func (s *Store) Limits() Limits { return s.limits }

func (s *Store) nowMs() int64 { return s.now().UnixMilli() }

// freer is a DB that can commit a transaction that makes room past its size
// cap (broker/store.DB.UpdateFree).
type freer interface {
	UpdateFree(ctx context.Context, fn func(*bolt.Tx) error) error
}

// update runs fn in a write transaction after making sure the buckets exist.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx, b buckets) error) error {
	return s.updateWith(ctx, s.db.Update, fn)
}

// updateFree is update for the deletes that make room (clean-up, dropping
// a blob's last reference): they must commit in a full database too.
func (s *Store) updateFree(ctx context.Context, fn func(tx *bolt.Tx, b buckets) error) error {
	if f, ok := s.db.(freer); ok {
		return s.updateWith(ctx, f.UpdateFree, fn)
	}
	return s.update(ctx, fn)
}

func (s *Store) updateWith(ctx context.Context, run func(context.Context, func(*bolt.Tx) error) error, fn func(tx *bolt.Tx, b buckets) error) error {
	return run(ctx, func(tx *bolt.Tx) error {
		var b buckets
		var err error
		if b.uploads, err = tx.CreateBucketIfNotExists(bucketUploads); err != nil {
			return fmt.Errorf("media: bucket: %w", err)
		}
		if b.blobs, err = tx.CreateBucketIfNotExists(bucketBlobs); err != nil {
			return fmt.Errorf("media: bucket: %w", err)
		}
		if b.pages, err = tx.CreateBucketIfNotExists(bucketPages); err != nil {
			return fmt.Errorf("media: bucket: %w", err)
		}
		return fn(tx, b)
	})
}

// view runs fn in a read transaction; buckets not yet created are nil.
func (s *Store) view(fn func(b buckets) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return fn(buckets{uploads: tx.Bucket(bucketUploads), blobs: tx.Bucket(bucketBlobs), pages: tx.Bucket(bucketPages)})
	})
}

type buckets struct{ uploads, blobs, pages *bolt.Bucket }

// open decrypts a stored value; failures are ErrCorrupt.
func (s *Store) open(sealed, ad []byte) ([]byte, error) {
	pt, err := s.seal.Open(sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return pt, nil
}

func (s *Store) sealValue(pt, ad []byte) ([]byte, error) {
	v, err := s.seal.Seal(pt, ad)
	if err != nil {
		return nil, fmt.Errorf("media: seal: %w", err)
	}
	return v, nil
}

// readBlob loads a blob record; nil record when absent.
func (s *Store) readBlob(blobs *bolt.Bucket, hk []byte) (*blobRecord, error) {
	if blobs == nil {
		return nil, nil
	}
	v := blobs.Get(hk)
	if v == nil {
		return nil, nil
	}
	pt, err := s.open(v, adBlob(hk))
	if err != nil {
		return nil, err
	}
	r, err := decodeBlob(pt)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *Store) writeBlob(blobs *bolt.Bucket, hk []byte, r blobRecord) error {
	pt, err := encodeBlob(r)
	if err != nil {
		return err
	}
	v, err := s.sealValue(pt, adBlob(hk))
	if err != nil {
		return err
	}
	return blobs.Put(hk, v)
}

// readUpload loads an upload's bucket and state; nil when absent.
func (s *Store) readUpload(uploads *bolt.Bucket, uk []byte) (*bolt.Bucket, *uploadRecord, error) {
	if uploads == nil {
		return nil, nil, nil
	}
	ub := uploads.Bucket(uk)
	if ub == nil {
		return nil, nil, nil
	}
	v := ub.Get(keyState)
	if v == nil {
		return ub, nil, fmt.Errorf("%w: upload without state", ErrCorrupt)
	}
	pt, err := s.open(v, adState(uk))
	if err != nil {
		return ub, nil, err
	}
	u, err := decodeUpload(pt)
	if err != nil {
		return ub, nil, err
	}
	return ub, &u, nil
}

func (s *Store) writeUpload(ub *bolt.Bucket, uk []byte, u uploadRecord) error {
	pt, err := encodeUpload(u)
	if err != nil {
		return err
	}
	v, err := s.sealValue(pt, adState(uk))
	if err != nil {
		return err
	}
	return ub.Put(keyState, v)
}

func addCounter(b *bolt.Bucket, key []byte, delta int64) error {
	return b.Put(key, putCounter(getCounter(b.Get(key))+delta))
}
