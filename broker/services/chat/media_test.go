package chat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"testing"
	"time"

	media "github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
)

// uploadPNG stores a w×h PNG in the rig's media store as owner would
// through svc/media (Begin, every chunk, Complete) and returns its hash.
func uploadPNG(t testing.TB, e *env, owner string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x * 5), uint8(y * 7), 90, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	sum := sha256.Sum256(data)
	meta := media.Meta{Type: "image/png", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Name: "rash.png"}
	id := "up-" + meta.SHA256[:8]
	st, err := e.media.Begin(t.Context(), owner, id, meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range st.Missing {
		if _, err := e.media.PutChunk(t.Context(), owner, id, i, data[i*st.ChunkBytes:min(len(data), (i+1)*st.ChunkBytes)]); err != nil {
			t.Fatal(err)
		}
	}
	if st, err = e.media.Complete(t.Context(), owner, id); err != nil || !st.Done {
		t.Fatalf("complete: %+v %v", st, err)
	}
	return meta.SHA256
}

// refs is a blob's reference count; -1 when the blob is gone.
func refs(t testing.TB, e *env, hash string) int64 {
	t.Helper()
	b, err := e.media.Stat(t.Context(), hash)
	if errors.Is(err, media.ErrNotFound) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Refs
}

func canFetch(t testing.TB, e *env, who auth.Identity, hash string) bool {
	t.Helper()
	okay, err := e.chat.CanFetch(t.Context(), who, hash)
	if err != nil {
		t.Fatal(err)
	}
	return okay
}

func ident(d device) auth.Identity { return auth.Identity{Device: d.ID, Role: d.Role, ClientID: d.ID} }

// A photo message refers to an uploaded blob: history carries its meta
// (type, size, dimensions, thumbnail), each message holds a reference, the
// kind must fit the type, and only members of a conversation with a live
// message pointing at the blob (and staff) may fetch it; a recall drops the
// message's reference and its fetch right.
func TestMediaMessages(t *testing.T) {
	e := newEnv(t, Options{}, withMedia)
	staff := e.connect(t, anna, "")
	c1 := e.connect(t, tablet, "")
	c2 := e.connect(t, tablet2, "")
	ok(t, staff.call(t, "open", "", `{"conversation":"mm-1","members":["tablet-01"]}`))
	ok(t, staff.call(t, "open", "", `{"conversation":"mm-2","members":["tablet-02"]}`))
	hash := uploadPNG(t, e, "tablet-01", 40, 30)
	if n := refs(t, e, hash); n != 0 {
		t.Fatalf("an uploaded blob nobody sent has %d references", n)
	}
	// Before any message, only staff may fetch it.
	if canFetch(t, e, ident(tablet), hash) || !canFetch(t, e, ident(anna), hash) {
		t.Fatal("fetch rights before any message")
	}

	send := func(c *client, conv, reqID, kind, h string) answer {
		t.Helper()
		a, err := c.try("send", reqID, fmt.Sprintf(`{"conversation":%q,"kind":%q,"media":{"hash":%q},"text":"her cheek this morning"}`, conv, kind, h))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	s := ok(t, send(c1, "mm-1", "img-1", KindImage, hash))
	if n := refs(t, e, hash); n != 1 {
		t.Fatalf("references after one message: %d", n)
	}
	h := staff.history(t, "mm-1")
	if len(h.Messages) != 1 || h.Messages[0].Seq != s.Seq {
		t.Fatalf("history: %s", h.raw)
	}
	m := h.Messages[0]
	blob, err := e.media.Stat(t.Context(), hash)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindImage || m.Text != "her cheek this morning" || m.Media == nil || m.Media.Hash != hash || m.Media.Type != "image/png" ||
		m.Media.Size != blob.Meta.Size || m.Media.Width != 40 || m.Media.Height != 30 || len(m.Media.Thumbnail) != 64 || m.Media.Thumbnail != blob.Meta.Thumbnail {
		t.Fatalf("media message: %+v (blob %+v)", m.Media, blob.Meta)
	}
	thumb := m.Media.Thumbnail
	if refs(t, e, thumb) != 1 {
		t.Fatal("the thumbnail is not stored")
	}

	// Refused sends take no reference and store nothing.
	before := e.counts(t)
	fails(t, send(c1, "mm-1", "", KindVoice, hash), "bad_request") // a voice message with an image
	fails(t, send(c1, "mm-1", "", KindVideo, hash), "bad_request")
	missing := sha256.Sum256([]byte("never uploaded"))
	fails(t, send(c1, "mm-1", "", KindImage, hex.EncodeToString(missing[:])), "not_found")
	fails(t, send(c2, "mm-1", "", KindImage, hash), "forbidden") // not a member
	if after := e.counts(t); !maps.Equal(before, after) {
		t.Fatalf("refused media sends stored something: %v → %v", before, after)
	}
	// A repeated send, to the handler (no svc answer): same seq, no second reference.
	got, err := e.chat.send(t.Context(), e.request(t, tablet, "send", "img-1", fmt.Sprintf(`{"conversation":"mm-1","kind":"image","media":{"hash":%q},"text":"her cheek this morning"}`, hash)))
	if err != nil || got.(*sendAns).Seq != s.Seq {
		t.Fatalf("repeat: %+v %v", got, err)
	}
	if n := refs(t, e, hash); n != 1 {
		t.Fatalf("references after a refused or repeated send: %d", n)
	}
	// A file message takes any type.
	if f := send(c1, "mm-1", "", KindFile, hash); !f.OK {
		t.Fatalf("file message: %s", f.raw)
	}
	ok(t, c1.call(t, "recall", "", `{"conversation":"mm-1","seq":2}`))

	// The same photo in another conversation: a second reference.
	ok(t, send(c2, "mm-2", "img-2", KindImage, hash))
	if n := refs(t, e, hash); n != 2 {
		t.Fatalf("references after two conversations: %d", n)
	}
	for _, tc := range []struct {
		who  auth.Identity
		want bool
	}{
		{ident(tablet), true}, {ident(tablet2), true}, {ident(anna), true},
		{auth.Identity{Device: "tablet-99", Role: "chat-tablet"}, false},
		{auth.Identity{Device: "cust-abcd1234", Role: "customer", Customer: true}, false},
		{auth.Identity{Role: "anonymous", Anonymous: true}, false},
	} {
		if got := canFetch(t, e, tc.who, hash); got != tc.want {
			t.Fatalf("CanFetch(%+v) = %v", tc.who, got)
		}
	}
	// The photo's thumbnail goes with it: a phone shows it instead of the
	// whole photo. Only for members.
	if !canFetch(t, e, ident(tablet), thumb) || canFetch(t, e, auth.Identity{Device: "tablet-99", Role: "chat-tablet"}, thumb) {
		t.Fatal("fetch rights on the thumbnail")
	}

	// Recalling mm-1's photo: one reference left, tablet-01 loses the right.
	e.clock.Advance(time.Minute)
	ok(t, c1.call(t, "recall", "", `{"conversation":"mm-1","seq":1}`))
	if n := refs(t, e, hash); n != 1 {
		t.Fatalf("references after a recall: %d", n)
	}
	if m := staff.history(t, "mm-1").Messages[0]; m.Recalled == nil || m.Media != nil || m.Text != "" {
		t.Fatalf("recalled media message: %+v", m)
	}
	if e.storedMsg(t, "mm-1", 1).Media != "" {
		t.Fatal("the tombstone still names the blob")
	}
	if canFetch(t, e, ident(tablet), hash) || !canFetch(t, e, ident(tablet2), hash) ||
		canFetch(t, e, ident(tablet), thumb) || !canFetch(t, e, ident(tablet2), thumb) {
		t.Fatal("fetch rights after the recall in mm-1")
	}
	// Recalling again changes nothing.
	ok(t, c1.call(t, "recall", "", `{"conversation":"mm-1","seq":1}`))
	if n := refs(t, e, hash); n != 1 {
		t.Fatalf("references after a repeated recall: %d", n)
	}
	// The last reference goes: the blob and its thumbnail are erased.
	ok(t, c2.call(t, "recall", "", `{"conversation":"mm-2","seq":1}`))
	if refs(t, e, hash) != -1 || refs(t, e, thumb) != -1 {
		t.Fatal("blob or thumbnail left after the last recall")
	}
	if canFetch(t, e, ident(tablet2), hash) {
		t.Fatal("fetch right after the last recall")
	}
}

// Without a media store, media messages are bad_request.
func TestMediaWithoutStore(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.connect(t, tablet, "")
	ok(t, c.call(t, "open", "", `{"conversation":"nm","members":["staff-anna"]}`))
	sum := sha256.Sum256([]byte("x"))
	fails(t, c.call(t, "send", "", fmt.Sprintf(`{"conversation":"nm","kind":"image","media":{"hash":%q}}`, hex.EncodeToString(sum[:]))), "bad_request")
}
