package hqlink_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/services/hqlink"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/svctest"
	"github.com/storeedge/storeedge/proto"
)

type mediaRig struct {
	db    *store.DB
	media *blob.Store
	ob    *outbox.Outbox
	link  *hqlink.Link
}

// newMediaRig is the store's database, blob store and outbox (the shipped
// topic map, a budget of maxOutbox bytes) with a Link sending blobs of at
// most maxMedia bytes.
func newMediaRig(t *testing.T, maxOutbox, maxMedia int64) *mediaRig {
	t.Helper()
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "store.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ms, err := blob.New(blob.Options{DB: db, Seal: svctest.Keys(t)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := topicmap.Parse(configs.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(outbox.Options{Classify: m.Class, MaxBytes: maxOutbox})
	if err != nil {
		t.Fatal(err)
	}
	l, err := hqlink.New(hqlink.Options{DB: db, Outbox: ob, MaxMediaBytes: maxMedia})
	if err != nil {
		t.Fatal(err)
	}
	l.Use(nil, nil, nil, ms)
	return &mediaRig{db: db, media: ms, ob: ob, link: l}
}

// noisePNG is a side×side PNG of noise (it does not compress).
func noisePNG(t *testing.T, side int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	x := uint32(2463534242)
	for i := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img.Pix[i] = byte(x)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (r *mediaRig) upload(t *testing.T, data []byte, typ string) string {
	t.Helper()
	sum := sha256.Sum256(data)
	meta := blob.Meta{Type: typ, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Name: "photo"}
	id := "up-" + meta.SHA256[:8]
	st, err := r.media.Begin(t.Context(), "staff-anna", id, meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range st.Missing {
		if _, err := r.media.PutChunk(t.Context(), "staff-anna", id, i, data[i*st.ChunkBytes:min(len(data), (i+1)*st.ChunkBytes)]); err != nil {
			t.Fatal(err)
		}
	}
	if st, err = r.media.Complete(t.Context(), "staff-anna", id); err != nil || !st.Done {
		t.Fatalf("complete: %+v %v", st, err)
	}
	return meta.SHA256
}

func (r *mediaRig) entries(t *testing.T) []outbox.Entry {
	t.Helper()
	var out []outbox.Entry
	if err := r.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = r.ob.Next(tx, 100, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func get(hash string) []byte {
	return []byte(fmt.Sprintf(`{"v":1,"id":"mg-%s","hash":%q}`, hash[:6], hash))
}

// HQ asks for a photo a conversation refers to: the store files it whole
// on media/{hash}, class media. One it does not have, one over
// max_media_bytes and one the outbox has no room for are each counted and
// filed nowhere; a request that is not one is ErrInvalid.
func TestMediaGet(t *testing.T) {
	photo, large := noisePNG(t, 200), noisePNG(t, 300)
	r := newMediaRig(t, 0, int64(len(photo)))
	hash := r.upload(t, photo, "image/png")
	if err := r.link.HandleMediaGet(t.Context(), get(hash)); err != nil {
		t.Fatal(err)
	}
	es := r.entries(t)
	if len(es) != 1 || es[0].Topic != proto.TopicMediaPrefix+hash || es[0].Class != outbox.ClassMedia {
		t.Fatalf("outbox: %+v", es)
	}
	var mb proto.MediaBlob
	if err := json.Unmarshal(es[0].Payload, &mb); err != nil || mb.V != 1 || mb.Hash != hash || mb.Mime != "image/png" ||
		mb.Size != int64(len(photo)) || string(mb.Data) != string(photo) {
		t.Fatalf("the blob sent: v %d hash %s mime %s size %d, %d bytes of data (%v)", mb.V, mb.Hash, mb.Mime, mb.Size, len(mb.Data), err)
	}
	if s := r.link.Stats(); s.MediaSent != 1 {
		t.Fatalf("stats: %+v", s)
	}

	missing := hex.EncodeToString(make([]byte, 32))
	if err := r.link.HandleMediaGet(t.Context(), get(missing)); err != nil {
		t.Fatal(err)
	}
	big := r.upload(t, large, "image/png")
	if err := r.link.HandleMediaGet(t.Context(), get(big)); err != nil {
		t.Fatal(err)
	}
	if s := r.link.Stats(); s.MediaMissing != 1 || s.MediaTooLarge != 1 || len(r.entries(t)) != 1 {
		t.Fatalf("stats %+v, outbox %d entries", s, len(r.entries(t)))
	}
	for _, bad := range []string{`{"v":1,"id":"x","hash":"../etc"}`, `{"v":2,"id":"x","hash":"` + hash + `"}`, `{"v":1,"id":"x","hash":"` + hash + `","more":1}`, `[`} {
		if err := r.link.HandleMediaGet(t.Context(), []byte(bad)); !errors.Is(err, hqlink.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", bad, err)
		}
	}

	// An outbox whose budget is held by what it may not evict.
	full := newMediaRig(t, int64(len(photo)), int64(len(photo)))
	hash = full.upload(t, photo, "image/png")
	if err := full.db.Update(t.Context(), func(tx *bolt.Tx) error {
		return full.ob.Put(tx, "booking/changes", make([]byte, len(photo)/2))
	}); err != nil {
		t.Fatal(err)
	}
	if err := full.link.HandleMediaGet(t.Context(), get(hash)); err != nil {
		t.Fatal(err)
	}
	if s := full.link.Stats(); s.MediaNoRoom != 1 || len(full.entries(t)) != 1 {
		t.Fatalf("no room: stats %+v, outbox %d entries", s, len(full.entries(t)))
	}
}
