package blob

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/internal/seal"
)

// testPNG draws a w×h gradient with a red square, so a thumbnail has
// something to average.
func testPNG(t *testing.T, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 90, 255})
		}
	}
	for y := h / 4; y < h/2; y++ {
		for x := w / 4; x < w/2; x++ {
			img.Set(x, y, color.NRGBA{255, 0, 0, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestThumbnailOfLargePNG(t *testing.T) {
	r := newRig(t, Limits{ChunkBytes: 32 << 10})
	data := testPNG(t, 1024, 768)
	meta := metaFor("image/png", data)
	meta.Name = "rash-cheek.png"
	done := r.upload("parent-1", "p1", meta, data)
	if done.Meta.Width != 1024 || done.Meta.Height != 768 || done.Meta.Thumbnail == "" {
		t.Fatalf("image meta: %+v", done.Meta)
	}
	th, err := r.m.Stat(ctx(t), done.Meta.Thumbnail)
	if err != nil {
		t.Fatal(err)
	}
	if th.Meta.Type != "image/jpeg" || th.Refs != 1 {
		t.Fatalf("thumbnail blob: %+v", th)
	}
	img, err := jpeg.Decode(bytes.NewReader(r.readAll(done.Meta.Thumbnail, 1<<20)))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	b := img.Bounds()
	if max(b.Dx(), b.Dy()) != 256 || b.Dx() != 256 || b.Dy() != 192 {
		t.Fatalf("thumbnail is %dx%d, want 256x192", b.Dx(), b.Dy())
	}
	if th.Meta.Width != 256 || th.Meta.Height != 192 {
		t.Fatalf("thumbnail meta %dx%d", th.Meta.Width, th.Meta.Height)
	}
	// The red square is still red in the thumbnail.
	cr, cg, _, _ := img.At(96, 72).RGBA()
	if cr>>8 < 200 || cg>>8 > 60 {
		t.Fatalf("thumbnail pixel in the red square is %d,%d", cr>>8, cg>>8)
	}
}

func TestThumbnailOfPortraitJPEG(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 300, 900))
	for i := range src.Pix {
		src.Pix[i] = 200
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, src, nil); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, Limits{})
	done := r.upload("o", "j", metaFor("image/jpeg", b.Bytes()), b.Bytes())
	th, err := r.m.Stat(ctx(t), done.Meta.Thumbnail)
	if err != nil {
		t.Fatal(err)
	}
	if th.Meta.Width != 85 || th.Meta.Height != 256 {
		t.Fatalf("portrait thumbnail %dx%d, want 85x256", th.Meta.Width, th.Meta.Height)
	}
}

func TestTooManyPixelsStoresWithoutThumbnail(t *testing.T) {
	r := newRig(t, Limits{MaxImagePixels: 1000})
	data := testPNG(t, 64, 64)
	done := r.upload("o", "u", metaFor("image/png", data), data)
	if done.Meta.Thumbnail != "" || done.Meta.Width != 64 {
		t.Fatalf("meta %+v, want dimensions and no thumbnail", done.Meta)
	}
}

func TestSealedAtRest(t *testing.T) {
	r := newRig(t, smallLimits())
	c := ctx(t)
	// Recognisable plaintext: a chunk made of a repeated phrase.
	data := bytes.Repeat([]byte("my two-month-old keeps crying at night; "), 4000)
	meta := metaFor("application/pdf", append([]byte("%PDF-1.4\n"), data...))
	meta.Name = "night-feeding-plan-emma.pdf"
	body := append([]byte("%PDF-1.4\n"), data...)
	needles := [][]byte{[]byte("keeps crying at night"), []byte("night-feeding-plan-emma")}

	st, err := r.m.Begin(c, "parent-9", "doc", meta)
	if err != nil {
		t.Fatal(err)
	}
	for i := range st.Chunks {
		if _, err := r.m.PutChunk(c, "parent-9", "doc", i, chunkOf(body, st.ChunkBytes, i)); err != nil {
			t.Fatal(err)
		}
	}
	assertNotInFile(t, r.path, needles) // while the upload is open
	done, err := r.m.Complete(c, "parent-9", "doc")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.db.Close(); err != nil {
		t.Fatal(err)
	}
	assertNotInFile(t, r.path, needles) // stored blob, and freed chunk pages
	r.open()
	if got := r.readAll(done.Hash, 1<<20); !bytes.Equal(got, body) {
		t.Fatal("blob does not read back")
	}
}

func assertNotInFile(t *testing.T, path string, needles [][]byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range needles {
		if bytes.Contains(raw, n) {
			t.Fatalf("the database file holds %q in plaintext", n)
		}
	}
}

func TestRefUnrefErases(t *testing.T) {
	r := newRig(t, Limits{})
	c := ctx(t)
	data := testPNG(t, 640, 480)
	done := r.upload("o", "u", metaFor("image/png", data), data)
	for range 2 {
		if err := r.m.Ref(c, done.Hash); err != nil {
			t.Fatal(err)
		}
	}
	if left, err := r.m.Unref(c, done.Hash); err != nil || left != 1 {
		t.Fatalf("unref: %d, %v", left, err)
	}
	if _, err := r.m.Stat(c, done.Hash); err != nil {
		t.Fatal("blob gone while a message still points at it")
	}
	// The message is recalled: the photo and its thumbnail are erased.
	if left, err := r.m.Unref(c, done.Hash); err != nil || left != 0 {
		t.Fatalf("last unref: %d, %v", left, err)
	}
	_, err := r.m.Get(c, done.Hash, 0, 10)
	wantErr(t, err, ErrNotFound)
	_, err = r.m.Stat(c, done.Meta.Thumbnail)
	wantErr(t, err, ErrNotFound)
	if stored, _, _ := r.m.Usage(); stored != 0 {
		t.Fatalf("%d bytes still counted after erasing", stored)
	}
	var pages int
	if err := r.db.View(func(tx *bolt.Tx) error {
		pages = tx.Bucket(bucketPages).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if pages != 0 {
		t.Fatalf("%d pages left after erasing", pages)
	}
	wantErr(t, r.m.Ref(c, done.Hash), ErrNotFound)
	_, err = r.m.Unref(c, done.Hash)
	wantErr(t, err, ErrNotFound)
}

func TestLimits(t *testing.T) {
	r := newRig(t, Limits{
		AllowedTypes:       []string{"image/png", "image/jpeg", "audio/ogg"},
		MaxBytes:           map[string]int64{"audio/ogg": 1000},
		DefaultMaxBytes:    5000,
		MaxTotalBytes:      8000,
		MaxUploadsPerOwner: 2,
		MaxReadBytes:       100,
	})
	c := ctx(t)
	big := randomBytes(t, 1001)
	_, err := r.m.Begin(c, "o", "a", metaFor("video/mp4", big))
	wantErr(t, err, ErrType)
	_, err = r.m.Begin(c, "o", "a", metaFor("audio/ogg", big))
	wantErr(t, err, ErrTooLarge)
	_, err = r.m.Begin(c, "o", "a", metaFor("image/png", randomBytes(t, 5001)))
	wantErr(t, err, ErrTooLarge)
	_, err = r.m.Begin(c, "", "a", metaFor("image/png", big))
	wantErr(t, err, ErrInvalid)
	bad := metaFor("image/png", big)
	bad.SHA256 = "xyz"
	_, err = r.m.Begin(c, "o", "a", bad)
	wantErr(t, err, ErrInvalid)

	// Quota: 8000 bytes, reserved by open uploads.
	if _, err := r.m.Begin(c, "o1", "a", metaFor("image/png", randomBytes(t, 5000))); err != nil {
		t.Fatal(err)
	}
	_, err = r.m.Begin(c, "o2", "b", metaFor("image/png", randomBytes(t, 3001)))
	wantErr(t, err, ErrQuota)
	// Per-owner open uploads.
	for _, id := range []string{"x", "y"} {
		if _, err := r.m.Begin(c, "o3", id, metaFor("audio/ogg", randomBytes(t, 10))); err != nil {
			t.Fatal(err)
		}
	}
	_, err = r.m.Begin(c, "o3", "z", metaFor("audio/ogg", randomBytes(t, 10)))
	wantErr(t, err, ErrQuota)

	// Content that is not what it claims to be is refused at Complete.
	notPNG := []byte("MZ\x90\x00 this is not a picture")
	r.upload("o4", "ok", metaFor("audio/ogg", notPNG), notPNG) // unchecked container type
	fake := append([]byte("GIF89a"), notPNG...)
	if _, err := r.m.Begin(c, "o4", "fake", metaFor("image/png", fake)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.PutChunk(c, "o4", "fake", 0, fake); err != nil {
		t.Fatal(err)
	}
	_, err = r.m.Complete(c, "o4", "fake")
	wantErr(t, err, ErrType)
	_, err = r.m.Status(c, "o4", "fake")
	wantErr(t, err, ErrNotFound) // discarded

	h := metaFor("audio/ogg", notPNG).SHA256
	_, err = r.m.Get(c, h, 0, 101)
	wantErr(t, err, ErrTooLarge)
	_, err = r.m.Get(c, h, int64(len(notPNG))+1, 10)
	wantErr(t, err, ErrInvalid)
	if b, err := r.m.Get(c, h, 3, 100); err != nil || !bytes.Equal(b, notPNG[3:]) {
		t.Fatalf("ranged read: %q, %v", b, err)
	}
}

func TestCleanup(t *testing.T) {
	r := newRig(t, smallLimits())
	c := ctx(t)
	kept := randomBytes(t, 1000)
	keptDone := r.upload("o", "kept", metaFor("audio/ogg", kept), kept)
	if err := r.m.Ref(c, keptDone.Hash); err != nil {
		t.Fatal(err)
	}
	unused := randomBytes(t, 2000)
	unusedDone := r.upload("o", "unused", metaFor("audio/ogg", unused), unused)
	stale := randomBytes(t, 200_000)
	st, err := r.m.Begin(c, "o", "stale", metaFor("audio/ogg", stale))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.PutChunk(c, "o", "stale", 0, chunkOf(stale, st.ChunkBytes, 0)); err != nil {
		t.Fatal(err)
	}
	// Pages a Complete wrote before the box lost power.
	hk, _ := hashKey(metaFor("audio/ogg", stale).SHA256)
	if _, err := r.m.writePages(c, hk, bytes.NewReader(stale), int64(len(stale))); err != nil {
		t.Fatal(err)
	}

	if cs, err := r.m.Cleanup(c); err != nil || cs.Uploads != 0 || cs.Blobs != 0 || cs.OrphanPages != 2 {
		t.Fatalf("cleanup before expiry: %+v, %v", cs, err)
	}
	r.clock.Advance(time.Hour)
	cs, err := r.m.Cleanup(c)
	if err != nil {
		t.Fatal(err)
	}
	// The stale upload and the done markers of kept and unused; the unused blob.
	if cs.Uploads != 3 || cs.Blobs != 1 || cs.OrphanPages != 0 {
		t.Fatalf("cleanup after expiry: %+v", cs)
	}
	_, err = r.m.Status(c, "o", "stale")
	wantErr(t, err, ErrNotFound)
	_, err = r.m.Stat(c, unusedDone.Hash)
	wantErr(t, err, ErrNotFound)
	if got := r.readAll(keptDone.Hash, 1<<20); !bytes.Equal(got, kept) {
		t.Fatal("referenced blob damaged by cleanup")
	}
	stored, reserved, _ := r.m.Usage()
	if stored != int64(len(kept)) || reserved != 0 {
		t.Fatalf("usage stored %d reserved %d", stored, reserved)
	}
	// An expired upload id can be used again.
	r.upload("o", "stale", metaFor("audio/ogg", stale), stale)
}

func TestBlobsReadableAfterKeyRotation(t *testing.T) {
	r := newRig(t, smallLimits())
	data := randomBytes(t, 150_000)
	done := r.upload("o", "u", metaFor("audio/ogg", data), data)
	spec := "k2:" + base64.StdEncoding.EncodeToString(randomBytes(t, seal.KeySize))
	next, err := seal.ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	// Without the old key the blob cannot be read, and says so.
	r.keys = next
	r.reconnect()
	_, err = r.m.Get(ctx(t), done.Hash, 0, 10)
	wantErr(t, err, ErrCorrupt)
	wantErr(t, err, seal.ErrUnknownKey)
	// With the old key kept behind the new current one, it reads again.
	r.rotate(spec)
	r.reconnect()
	if got := r.readAll(done.Hash, 1<<20); !bytes.Equal(got, data) {
		t.Fatal("blob differs after rotation")
	}
}
