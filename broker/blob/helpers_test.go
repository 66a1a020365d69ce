package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
)

var _ Sealer = (*seal.Keyring)(nil)

// rig is a media store over a real database file that can be closed and
// opened again, as after a power cut or a broker restart.
type rig struct {
	t      *testing.T
	path   string
	keys   *seal.Keyring
	spec   string // the first key, "k1:…"
	limits Limits
	clock  *testclock.Clock
	db     *store.DB
	m      *Store
}

func newRig(t *testing.T, l Limits) *rig {
	t.Helper()
	key := make([]byte, seal.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	kr, err := seal.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}

	r := &rig{t: t, path: filepath.Join(t.TempDir(), "store.db"), keys: kr, limits: l,
		spec:  "k1:" + base64.StdEncoding.EncodeToString(key),
		clock: testclock.New(time.Date(2025, 3, 4, 23, 0, 0, 0, time.UTC))}
	r.open()
	t.Cleanup(func() { _ = r.db.Close() })
	return r
}

// rotate makes spec's key current, keeping the rig's first key behind it.
func (r *rig) rotate(spec string) {
	r.t.Helper()
	kr, err := seal.ParseKeys(spec + "," + r.spec)
	if err != nil {
		r.t.Fatal(err)
	}
	r.keys = kr
}

func (r *rig) open() {
	r.t.Helper()
	db, err := store.Open(store.Options{Path: r.path})
	if err != nil {
		r.t.Fatal(err)
	}
	m, err := New(Options{DB: db, Seal: r.keys, Limits: r.limits, UploadTTL: time.Hour, Now: r.clock.Now})
	if err != nil {
		r.t.Fatal(err)
	}
	r.db, r.m = db, m
}

// reconnect closes the database and opens a fresh store on the same file.
func (r *rig) reconnect() {
	r.t.Helper()
	if err := r.db.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func metaFor(typ string, data []byte) Meta {
	sum := sha256.Sum256(data)
	return Meta{Type: typ, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Name: "voice-note.ogg"}
}

func chunkOf(data []byte, chunkBytes, i int) []byte {
	return data[i*chunkBytes : min(len(data), (i+1)*chunkBytes)]
}

// upload sends every chunk and completes.
func (r *rig) upload(owner, id string, meta Meta, data []byte) UploadState {
	r.t.Helper()
	c := ctx(r.t)
	st, err := r.m.Begin(c, owner, id, meta)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, i := range st.Missing {
		if _, err := r.m.PutChunk(c, owner, id, i, chunkOf(data, st.ChunkBytes, i)); err != nil {
			r.t.Fatal(err)
		}
	}
	st, err = r.m.Complete(c, owner, id)
	if err != nil {
		r.t.Fatal(err)
	}
	if !st.Done || st.Hash != meta.SHA256 {
		r.t.Fatalf("completed upload: done %v hash %s, want %s", st.Done, st.Hash, meta.SHA256)
	}
	return st
}

// readAll reads a blob back in pieces of n bytes.
func (r *rig) readAll(hash string, n int64) []byte {
	r.t.Helper()
	var out []byte
	for off := int64(0); ; off += n {
		b, err := r.m.Get(ctx(r.t), hash, off, n)
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, b...)
		if int64(len(b)) < n {
			return out
		}
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func smallLimits() Limits {
	return Limits{ChunkBytes: 64 << 10, PageBytes: 100 << 10}
}
