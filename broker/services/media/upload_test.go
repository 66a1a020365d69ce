package media

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/svc"
)

// A photo goes up in chunks, the connection drops half-way, the client
// reconnects, begins again and gets the missing chunks, resends one it had
// sent already (stored once), completes, and staff read it back.
func TestUploadResumeCompleteAndGet(t *testing.T) {
	e := newEnv(t, envOptions{})
	img := testPNG(t, 320, 200)
	cb := testLimits().ChunkBytes
	chunks := (len(img) + cb - 1) / cb
	if chunks < 5 {
		t.Fatalf("test image is only %d bytes (%d chunks); want several", len(img), chunks)
	}
	const up = "photo-1.png"
	begin := beginBody(up, "image/png", img)

	c := e.connect(t, tablet)
	a := ok(t, c.call(t, "begin", "b1", begin))
	if a.Upload != up || a.ChunkBytes != cb || a.Chunks != chunks || a.Received != 0 || a.Complete || a.Hash != "" {
		t.Fatalf("begin: %s", a.raw)
	}
	if !slices.Equal(a.Missing, seq(0, chunks)) {
		t.Fatalf("begin missing %v, want all %d", a.Missing, chunks)
	}
	// An open upload lapses after media.DefaultUploadIdle without progress
	// (the rig's UploadTTL, an hour, bounds a finished one's answer).
	if want := e.clock.Now().Add(blob.DefaultUploadIdle); !a.Expires.Equal(want) {
		t.Fatalf("expires %v, want %v", a.Expires, want)
	}
	half := chunks / 2
	firstAnswer := ""
	for i := range half {
		a := ok(t, c.call(t, "chunk", fmt.Sprintf("c%d", i), chunkBody(up, i, chunkOf(img, cb, i))))
		if a.Upload != up || a.Index != i || a.Received != i+1 || a.Chunks != chunks {
			t.Fatalf("chunk %d: %s", i, a.raw)
		}
		if i == 0 {
			firstAnswer = a.raw
		}
	}

	// The connection drops; the tablet comes back and begins again.
	c.close()
	c = e.connect(t, tablet)
	a = ok(t, c.call(t, "begin", "b2", begin))
	if a.Received != half || !slices.Equal(a.Missing, seq(half, chunks)) || a.Complete {
		t.Fatalf("resumed begin: %s", a.raw)
	}
	st := ok(t, c.call(t, "status", "", fmt.Sprintf(`{"upload":%q}`, up)))
	if st.Received != half || !slices.Equal(st.Missing, a.Missing) || st.Chunks != chunks {
		t.Fatalf("status: %s", st.raw)
	}

	// A chunk retried after the reconnect is not stored twice: under a new
	// request id the handler runs and the store sees the same bytes…
	keys, usage := e.uploadKeys(t), e.usage(t)
	a = ok(t, c.call(t, "chunk", "c1-retry", chunkBody(up, 1, chunkOf(img, cb, 1))))
	if a.Received != half || a.Index != 1 {
		t.Fatalf("retried chunk: %s", a.raw)
	}
	if k, u := e.uploadKeys(t), e.usage(t); k != keys || u != usage {
		t.Fatalf("retried chunk changed the store: keys %d → %d, usage %v → %v", keys, k, usage, u)
	}
	// …and under its first request id it gets the first answer, byte for byte.
	dups := e.router.Stats().Duplicates
	a = ok(t, c.call(t, "chunk", "c0", chunkBody(up, 0, chunkOf(img, cb, 0))))
	if a.raw != firstAnswer || e.router.Stats().Duplicates != dups+1 {
		t.Fatalf("repeated request: %s, want the first answer %s", a.raw, firstAnswer)
	}
	if k := e.uploadKeys(t); k != keys {
		t.Fatalf("repeated request changed the store: keys %d → %d", keys, k)
	}
	// Other bytes for a stored chunk are a conflict.
	other := bytes.Clone(chunkOf(img, cb, 1))
	other[0] ^= 0xff
	fails(t, c.call(t, "chunk", "", chunkBody(up, 1, other)), svc.CodeConflict)

	// Completing early is a conflict; status lists what is missing.
	fails(t, c.call(t, "complete", "", fmt.Sprintf(`{"upload":%q}`, up)), svc.CodeConflict)
	for _, i := range st.Missing {
		ok(t, c.call(t, "chunk", "", chunkBody(up, i, chunkOf(img, cb, i))))
	}
	done := ok(t, c.call(t, "complete", "", fmt.Sprintf(`{"upload":%q}`, up)))
	if done.Hash != hashOf(img) || done.Type != "image/png" || done.Size != int64(len(img)) ||
		done.Width != 320 || done.Height != 200 || len(done.Thumbnail) != 64 {
		t.Fatalf("complete: %s", done.raw)
	}
	again := ok(t, c.call(t, "complete", "", fmt.Sprintf(`{"upload":%q}`, up)))
	if again.Hash != done.Hash || again.Thumbnail != done.Thumbnail {
		t.Fatalf("complete again: %s, first %s", again.raw, done.raw)
	}
	st = ok(t, c.call(t, "status", "", fmt.Sprintf(`{"upload":%q}`, up)))
	if !st.Complete || st.Hash != done.Hash || len(st.Missing) != 0 || st.Received != chunks {
		t.Fatalf("status after complete: %s", st.raw)
	}
	if u := e.usage(t); u[1] != 0 || u[0] <= int64(len(img)) {
		t.Fatalf("usage after complete: %v (image %d bytes)", u, len(img))
	}

	// Another device sending the same bytes is done at once.
	c2 := e.connect(t, tablet2)
	a = ok(t, c2.call(t, "begin", "", beginBody("mine", "image/png", img)))
	if !a.Complete || a.Hash != done.Hash || len(a.Missing) != 0 {
		t.Fatalf("dedup begin: %s", a.raw)
	}

	// Staff read the image back, in pieces smaller and larger than a page.
	s := e.connect(t, anna)
	for _, n := range []int{5000, 0, 1 << 30} {
		if got := readAll(t, s, done.Hash, n); !bytes.Equal(got, img) {
			t.Fatalf("get in pieces of %d: %d bytes back, not the image", n, len(got))
		}
	}
	g := ok(t, s.call(t, "get", "", fmt.Sprintf(`{"hash":%q}`, done.Hash)))
	if len(g.Data) != cb || g.Offset != 0 || g.EOF {
		t.Fatalf("get without length: %d bytes eof %v, want a chunk's %d", len(g.Data), g.EOF, cb)
	}
	g = ok(t, s.call(t, "get", "", fmt.Sprintf(`{"hash":%q,"offset":%d,"length":10}`, done.Hash, len(img))))
	if len(g.Data) != 0 || !g.EOF {
		t.Fatalf("get at the end: %s", g.raw)
	}
	fails(t, s.call(t, "get", "", fmt.Sprintf(`{"hash":%q,"offset":%d}`, done.Hash, len(img)+1)), svc.CodeBadRequest)

	m := ok(t, s.call(t, "stat", "", fmt.Sprintf(`{"hash":%q}`, done.Hash)))
	if m.Hash != done.Hash || m.Type != "image/png" || m.Size != int64(len(img)) || m.Width != 320 || m.Thumbnail != done.Thumbnail {
		t.Fatalf("stat: %s", m.raw)
	}
	tm := ok(t, s.call(t, "stat", "", fmt.Sprintf(`{"hash":%q}`, done.Thumbnail)))
	thumb := readAll(t, s, done.Thumbnail, 0)
	if tm.Type != "image/jpeg" || tm.Size != int64(len(thumb)) || !bytes.HasPrefix(thumb, []byte{0xff, 0xd8}) || hashOf(thumb) != done.Thumbnail {
		t.Fatalf("thumbnail: stat %s, %d bytes", tm.raw, len(thumb))
	}
	if max(tm.Width, tm.Height) > 256 || tm.Width == 0 {
		t.Fatalf("thumbnail is %d×%d", tm.Width, tm.Height)
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestUploadErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.connect(t, tablet)
	img := testPNG(t, 64, 64)
	cb := testLimits().ChunkBytes

	t.Run("wrong sha256", func(t *testing.T) {
		body := fmt.Sprintf(`{"upload":"bad-sha","type":"image/png","size":%d,"sha256":%q}`, len(img), hashOf([]byte("other bytes")))
		a := ok(t, c.call(t, "begin", "", body))
		for _, i := range a.Missing {
			ok(t, c.call(t, "chunk", "", chunkBody("bad-sha", i, chunkOf(img, cb, i))))
		}
		fails(t, c.call(t, "complete", "", `{"upload":"bad-sha"}`), svc.CodeConflict)
		// The upload is discarded, its reservation released.
		fails(t, c.call(t, "status", "", `{"upload":"bad-sha"}`), svc.CodeNotFound)
		if u := e.usage(t); u[1] != 0 {
			t.Fatalf("reserved %d after a failed upload", u[1])
		}
	})
	t.Run("content not of the declared type", func(t *testing.T) {
		data := bytes.Repeat([]byte("not a png "), 100)
		a := ok(t, c.call(t, "begin", "", beginBody("not-png", "image/png", data)))
		ok(t, c.call(t, "chunk", "", chunkBody("not-png", a.Missing[0], data)))
		fails(t, c.call(t, "complete", "", `{"upload":"not-png"}`), svc.CodeBadRequest)
	})
	t.Run("type not allowed", func(t *testing.T) {
		a := fails(t, c.call(t, "begin", "", beginBody("gif", "image/gif", img)), svc.CodeBadRequest)
		if !bytes.Contains([]byte(a.Error.Message), []byte("image/png")) {
			t.Fatalf("message does not list the allowed types: %s", a.Error.Message)
		}
	})
	t.Run("declared size too large", func(t *testing.T) {
		body := fmt.Sprintf(`{"upload":"huge","type":"image/png","size":%d,"sha256":%q}`, 10<<20+1, hashOf(img))
		fails(t, c.call(t, "begin", "", body), svc.CodeTooLarge)
		body = fmt.Sprintf(`{"upload":"huge","type":"video/mp4","size":%d,"sha256":%q}`, 50<<20+1, hashOf(img))
		fails(t, c.call(t, "begin", "", body), svc.CodeTooLarge)
	})
	t.Run("other declaration for the same upload", func(t *testing.T) {
		ok(t, c.call(t, "begin", "", beginBody("twice", "image/png", img)))
		fails(t, c.call(t, "begin", "", beginBody("twice", "image/png", append(bytes.Clone(img), 0))), svc.CodeConflict)
	})
	t.Run("chunks", func(t *testing.T) {
		data := make([]byte, 2*cb+100)
		ok(t, c.call(t, "begin", "", fmt.Sprintf(`{"upload":"ch","type":"audio/ogg","size":%d,"sha256":%q,"duration_ms":1500}`, len(data), hashOf(data))))
		fails(t, c.call(t, "chunk", "", chunkBody("ch", 0, make([]byte, cb+1))), svc.CodeTooLarge)
		fails(t, c.call(t, "chunk", "", chunkBody("ch", 2, make([]byte, 101))), svc.CodeTooLarge) // the last chunk holds 100
		fails(t, c.call(t, "chunk", "", chunkBody("ch", 2, make([]byte, 99))), svc.CodeBadRequest)
		fails(t, c.call(t, "chunk", "", chunkBody("ch", 0, make([]byte, cb-1))), svc.CodeBadRequest)
		fails(t, c.call(t, "chunk", "", chunkBody("ch", 3, make([]byte, 10))), svc.CodeBadRequest)
		fails(t, c.call(t, "chunk", "", chunkBody("nope", 0, make([]byte, 10))), svc.CodeNotFound)
		st := ok(t, c.call(t, "status", "", `{"upload":"ch"}`))
		if st.Received != 0 || len(st.Missing) != 3 {
			t.Fatalf("refused chunks were stored: %s", st.raw)
		}
		for i := range 3 {
			ok(t, c.call(t, "chunk", "", chunkBody("ch", i, chunkOf(data, cb, i))))
		}
		a := ok(t, c.call(t, "complete", "", `{"upload":"ch"}`))
		if a.Type != "audio/ogg" || a.DurationMs != 1500 || a.Width != 0 || a.Thumbnail != "" {
			t.Fatalf("complete audio: %s", a.raw)
		}
	})
	t.Run("unknown upload", func(t *testing.T) {
		fails(t, c.call(t, "status", "", `{"upload":"nope"}`), svc.CodeNotFound)
		fails(t, c.call(t, "complete", "", `{"upload":"nope"}`), svc.CodeNotFound)
	})
	t.Run("uploads are per device", func(t *testing.T) {
		ok(t, c.call(t, "begin", "", beginBody("private", "image/png", img)))
		other := e.connect(t, cam)
		fails(t, other.call(t, "status", "", `{"upload":"private"}`), svc.CodeNotFound)
	})
}

func TestQuota(t *testing.T) {
	l := testLimits()
	l.MaxUploadsPerOwner = 1
	e := newEnv(t, envOptions{limits: l})
	c := e.connect(t, tablet)
	ok(t, c.call(t, "begin", "", beginBody("one", "application/pdf", []byte("%PDF-1.4 one"))))
	fails(t, c.call(t, "begin", "", beginBody("two", "application/pdf", []byte("%PDF-1.4 two"))), svc.CodeQuotaExceeded)
}

// A full 256 KiB chunk, with the longest ids and a bulky reply_to, fits a
// router sized with RequestBytesFor; one byte more is the service's too_large.
func TestDefaultChunkFitsRequestBytesFor(t *testing.T) {
	if got := RequestBytesFor(256 << 10); got != 353624 || RequestBytesFor(0) != got {
		t.Fatalf("RequestBytesFor(256 KiB) = %d, RequestBytesFor(0) = %d", got, RequestBytesFor(0))
	}
	e := newEnv(t, envOptions{limits: blob.DefaultLimits()})
	if e.svc.RequestBytes() != 353624 {
		t.Fatalf("RequestBytes %d", e.svc.RequestBytes())
	}
	c := e.connect(t, tablet)
	data := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 100<<10) // 300 KiB, "+//" in base64
	up := string(bytes.Repeat([]byte("u"), 64))
	ok(t, c.call(t, "begin", "", fmt.Sprintf(`{"upload":%q,"type":"audio/ogg","size":%d,"sha256":%q}`, up, len(data), hashOf(data))))
	replyTo := "reply/" + c.id + "/" + string(bytes.Repeat([]byte("x"), 3000))
	id := string(bytes.Repeat([]byte("i"), 64))
	body := fmt.Sprintf(`{"reply_to":%q,%s`, replyTo, chunkBody(up, 0, data[:256<<10])[1:])
	a := ok(t, c.call(t, "chunk", id, body))
	if a.Received != 1 || a.Chunks != 2 {
		t.Fatalf("full chunk: %s", a.raw)
	}
	a = fails(t, c.call(t, "chunk", "", chunkBody(up, 1, make([]byte, 256<<10+1))), svc.CodeTooLarge)
	if !bytes.Contains([]byte(a.Error.Message), []byte("chunk")) {
		t.Fatalf("too_large not from the service: %s", a.Error.Message)
	}
	// Past the router's limit the router answers.
	fails(t, c.call(t, "chunk", "", fmt.Sprintf(`{"upload":"x","index":0,"data":"%s"}`, bytes.Repeat([]byte("A"), RequestBytesFor(0)))), svc.CodeTooLarge)
}
