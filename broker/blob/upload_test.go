package blob

import (
	"bytes"
	"slices"
	"sync"
	"testing"
)

func TestUploadAndReadBack(t *testing.T) {
	r := newRig(t, smallLimits())
	c := ctx(t)
	data := randomBytes(t, 700_000) // 11 chunks of 64 KiB, 7 pages of 100 KiB
	meta := metaFor("audio/ogg", data)
	meta.DurationMs = 41_500
	st, err := r.m.Begin(c, "tablet-7", "u1", meta)
	if err != nil {
		t.Fatal(err)
	}
	if st.Chunks != 11 || st.ChunkBytes != 64<<10 || len(st.Missing) != 11 || st.Done {
		t.Fatalf("begin: %+v", st)
	}
	// Out of order, as a client retrying after packet loss might.
	for _, i := range []int{10, 3, 0, 1, 2, 9, 4, 5, 6, 7, 8} {
		if st, err = r.m.PutChunk(c, "tablet-7", "u1", i, chunkOf(data, st.ChunkBytes, i)); err != nil {
			t.Fatal(err)
		}
	}
	if st.Received != 11 || len(st.Missing) != 0 {
		t.Fatalf("after all chunks: %+v", st)
	}
	done, err := r.m.Complete(c, "tablet-7", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if !done.Done || done.Hash != meta.SHA256 || done.Meta.DurationMs != 41_500 || done.Meta.Name != "voice-note.ogg" {
		t.Fatalf("complete: %+v", done)
	}
	for _, n := range []int64{1 << 20, 100 << 10, 12_345} {
		if got := r.readAll(done.Hash, n); !bytes.Equal(got, data) {
			t.Fatalf("read back in %d-byte pieces: %d bytes, differ", n, len(got))
		}
	}
	b, err := r.m.Stat(c, done.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if b.Refs != 0 || b.Meta.Size != int64(len(data)) || b.Meta.Type != "audio/ogg" || b.Meta.Name != "" {
		t.Fatalf("stat: %+v (the name belongs to the message, not the blob)", b)
	}
	// Completing again answers the same.
	again, err := r.m.Complete(c, "tablet-7", "u1")
	if err != nil || again.Hash != done.Hash || !again.Done {
		t.Fatalf("second complete: %+v, %v", again, err)
	}
	stored, reserved, _ := r.m.Usage()
	if stored != int64(len(data)) || reserved != 0 {
		t.Fatalf("usage stored %d reserved %d", stored, reserved)
	}
}

func TestResumeAfterReconnect(t *testing.T) {
	r := newRig(t, smallLimits())
	data := randomBytes(t, 300_000) // 5 chunks
	meta := metaFor("video/mp4", data)
	st, err := r.m.Begin(ctx(t), "cam-2", "clip-9", meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if _, err := r.m.PutChunk(ctx(t), "cam-2", "clip-9", i, chunkOf(data, st.ChunkBytes, i)); err != nil {
			t.Fatal(err)
		}
	}
	r.reconnect()

	// The client comes back, begins again with the same id, and is told what to send.
	st, err = r.m.Begin(ctx(t), "cam-2", "clip-9", meta)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Missing, []int{1, 3, 4}) || st.Received != 2 {
		t.Fatalf("after reconnect: missing %v received %d", st.Missing, st.Received)
	}
	status, err := r.m.Status(ctx(t), "cam-2", "clip-9")
	if err != nil || !slices.Equal(status.Missing, st.Missing) {
		t.Fatalf("status: %v, %v", status.Missing, err)
	}
	// Chunk 2 arrives again (its ack was lost), then the rest.
	for _, i := range []int{2, 1, 3, 4} {
		if _, err := r.m.PutChunk(ctx(t), "cam-2", "clip-9", i, chunkOf(data, st.ChunkBytes, i)); err != nil {
			t.Fatal(err)
		}
	}
	done, err := r.m.Complete(ctx(t), "cam-2", "clip-9")
	if err != nil {
		t.Fatal(err)
	}
	r.reconnect()
	if got := r.readAll(done.Hash, 1<<20); !bytes.Equal(got, data) {
		t.Fatal("blob read after restart differs")
	}
}

func TestDuplicateAndConflictingChunks(t *testing.T) {
	r := newRig(t, smallLimits())
	c := ctx(t)
	data := randomBytes(t, 150_000) // 3 chunks, the last 18 928 bytes
	st, err := r.m.Begin(c, "o", "u", metaFor("application/pdf", data))
	if err != nil {
		t.Fatal(err)
	}
	first, err := r.m.PutChunk(c, "o", "u", 1, chunkOf(data, st.ChunkBytes, 1))
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.m.PutChunk(c, "o", "u", 1, chunkOf(data, st.ChunkBytes, 1))
	if err != nil || again.Received != 1 || !slices.Equal(again.Missing, first.Missing) {
		t.Fatalf("same chunk again: %+v, %v", again, err)
	}
	other := bytes.Clone(chunkOf(data, st.ChunkBytes, 1))
	other[100] ^= 1
	_, err = r.m.PutChunk(c, "o", "u", 1, other)
	wantErr(t, err, ErrConflict)

	_, err = r.m.PutChunk(c, "o", "u", 3, []byte("x"))
	wantErr(t, err, ErrInvalid)
	_, err = r.m.PutChunk(c, "o", "u", -1, []byte("x"))
	wantErr(t, err, ErrInvalid)
	_, err = r.m.PutChunk(c, "o", "u", 0, data[:1000]) // short, not the last
	wantErr(t, err, ErrInvalid)
	_, err = r.m.PutChunk(c, "o", "u", 2, data[2*st.ChunkBytes-1:]) // one byte too many
	wantErr(t, err, ErrTooLarge)
	_, err = r.m.PutChunk(c, "o", "nope", 0, data[:st.ChunkBytes])
	wantErr(t, err, ErrNotFound)

	// Completing early names the problem; Status lists what is missing.
	_, err = r.m.Complete(c, "o", "u")
	wantErr(t, err, ErrIncomplete)
	wantErr(t, err, ErrConflict)
	status, _ := r.m.Status(c, "o", "u")
	if !slices.Equal(status.Missing, []int{0, 2}) {
		t.Fatalf("missing %v, want [0 2]", status.Missing)
	}
}

func TestConcurrentRetries(t *testing.T) {
	r := newRig(t, smallLimits())
	c := ctx(t)
	data := randomBytes(t, 400_000)
	st, err := r.m.Begin(c, "o", "u", metaFor("audio/webm", data))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 3 { // three copies of every chunk, in flight together
		for i := range st.Chunks {
			wg.Go(func() {
				if _, err := r.m.PutChunk(c, "o", "u", i, chunkOf(data, st.ChunkBytes, i)); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	hashes := make(chan string, 3)
	for range 3 {
		wg.Go(func() {
			done, err := r.m.Complete(c, "o", "u")
			if err != nil {
				errs <- err
				return
			}
			hashes <- done.Hash
		})
	}
	wg.Wait()
	close(errs)
	close(hashes)
	for err := range errs {
		t.Fatal(err)
	}
	for h := range hashes {
		if h != st.Meta.SHA256 {
			t.Fatalf("hash %s", h)
		}
	}
	stored, reserved, _ := r.m.Usage()
	if stored != int64(len(data)) || reserved != 0 {
		t.Fatalf("usage stored %d reserved %d after racing completes", stored, reserved)
	}
}

func TestBeginIsIdempotent(t *testing.T) {
	r := newRig(t, smallLimits())
	c := ctx(t)
	data := randomBytes(t, 70_000)
	meta := metaFor("audio/mp4", data)
	a, err := r.m.Begin(c, "o", "u", meta)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.m.Begin(c, "o", "u", meta)
	if err != nil || !slices.Equal(a.Missing, b.Missing) {
		t.Fatalf("second begin: %+v, %v", b, err)
	}
	if _, reserved, _ := r.m.Usage(); reserved != meta.Size {
		t.Fatalf("reserved %d after two begins, want %d", reserved, meta.Size)
	}
	other := meta
	other.Size++
	_, err = r.m.Begin(c, "o", "u", other)
	wantErr(t, err, ErrConflict)
	// The same upload id of another owner is another upload.
	if _, err := r.m.Begin(c, "o2", "u", other); err != nil {
		t.Fatal(err)
	}
}

func TestDedup(t *testing.T) {
	r := newRig(t, smallLimits())
	c := ctx(t)
	data := randomBytes(t, 200_000)
	meta := metaFor("video/webm", data)
	first := r.upload("staff-anna", "a1", meta, data)

	meta.Name = "same-clip.webm"
	st, err := r.m.Begin(c, "tablet-3", "b1", meta)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Done || st.Hash != first.Hash || len(st.Missing) != 0 || st.Meta.Name != "same-clip.webm" {
		t.Fatalf("second upload of the same bytes: %+v", st)
	}
	if st, err = r.m.Complete(c, "tablet-3", "b1"); err != nil || !st.Done {
		t.Fatalf("complete of a deduplicated upload: %+v, %v", st, err)
	}
	stored, reserved, _ := r.m.Usage()
	if stored != int64(len(data)) || reserved != 0 {
		t.Fatalf("usage stored %d reserved %d: the blob is stored once", stored, reserved)
	}
	// A hash with another size cannot be the same content.
	liar := meta
	liar.Size = 10
	_, err = r.m.Begin(c, "tablet-3", "b2", liar)
	wantErr(t, err, ErrChecksum)
}

func TestChecksumMismatchDiscardsUpload(t *testing.T) {
	r := newRig(t, smallLimits())
	c := ctx(t)
	data := randomBytes(t, 100_000)
	meta := metaFor("audio/ogg", data)
	sent := bytes.Clone(data)
	sent[99_999] ^= 0x80 // corrupted on the way
	st, err := r.m.Begin(c, "o", "u", meta)
	if err != nil {
		t.Fatal(err)
	}
	for i := range st.Chunks {
		if _, err := r.m.PutChunk(c, "o", "u", i, chunkOf(sent, st.ChunkBytes, i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = r.m.Complete(c, "o", "u")
	wantErr(t, err, ErrChecksum)
	_, err = r.m.Status(c, "o", "u")
	wantErr(t, err, ErrNotFound)
	_, err = r.m.Stat(c, meta.SHA256)
	wantErr(t, err, ErrNotFound)
	if stored, reserved, _ := r.m.Usage(); stored != 0 || reserved != 0 {
		t.Fatalf("usage stored %d reserved %d after a discarded upload", stored, reserved)
	}
	// The client can start over with the same id.
	r.upload("o", "u", meta, data)
}
