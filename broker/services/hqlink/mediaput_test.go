package hqlink_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/services/hqlink"
	"github.com/storeedge/storeedge/broker/store"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/internal/testkit/svctest"
	"github.com/storeedge/storeedge/proto"
)

func putPayload(t *testing.T, id, cust, typ string, data []byte, hash string) []byte {
	t.Helper()
	if hash == "" {
		sum := sha256.Sum256(data)
		hash = hex.EncodeToString(sum[:])
	}
	p, err := json.Marshal(proto.HQMediaPut{V: 1, ID: id, Customer: cust, Hash: hash, Type: typ, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A blob from home is stored when its hash, type and size are right (once,
// however often it comes), and refused — nothing stored — otherwise.
func TestMediaPut(t *testing.T) {
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "store.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ms, err := blob.New(blob.Options{DB: db, Seal: svctest.Keys(t), Limits: blob.Limits{DefaultMaxBytes: 64 << 10, ChunkBytes: 4 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := hqlink.New(hqlink.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	l.Use(nil, nil, nil, ms)

	photo := noisePNG(t, 40) // several chunks
	sum := sha256.Sum256(photo)
	hash := hex.EncodeToString(sum[:])
	for _, id := range []string{"mp-1", "mp-1", "mp-2"} {
		if err := l.HandleMediaPut(t.Context(), putPayload(t, id, "cust-anna01", "image/png", photo, "")); err != nil {
			t.Fatalf("put %s: %v", id, err)
		}
	}
	b, err := ms.Stat(t.Context(), hash)
	if err != nil || b.Meta.Type != "image/png" || b.Meta.Size != int64(len(photo)) {
		t.Fatalf("the stored blob: %+v %v", b, err)
	}
	got, err := ms.Get(t.Context(), hash, 0, int64(len(photo)))
	if err != nil || string(got) != string(photo) {
		t.Fatalf("the stored bytes differ (%d of %d): %v", len(got), len(photo), err)
	}
	voice := []byte("OggS\x00\x02 a voice note from home")
	if err := l.HandleMediaPut(t.Context(), putPayload(t, "mp-3", "hq-c9", "audio/ogg", voice, "")); err != nil {
		t.Fatalf("a voice note of a remote customer: %v", err)
	}

	big := make([]byte, 65<<10)
	for name, p := range map[string][]byte{
		"hash of other bytes": putPayload(t, "mp-9", "cust-anna01", "image/png", photo, fmt.Sprintf("%064x", 1)),
		"hash not hex":        putPayload(t, "mp-9", "cust-anna01", "image/png", photo, "ZZ"),
		"a PDF":               putPayload(t, "mp-9", "cust-anna01", "application/pdf", []byte("%PDF-1.4"), ""),
		"a video":             putPayload(t, "mp-9", "cust-anna01", "video/mp4", []byte("...."), ""),
		"not a PNG":           putPayload(t, "mp-9", "cust-anna01", "image/png", []byte("not a png at all"), ""),
		"over the limit":      putPayload(t, "mp-9", "cust-anna01", "audio/webm", big, ""),
		"no data":             putPayload(t, "mp-9", "cust-anna01", "image/png", nil, fmt.Sprintf("%064x", 2)),
		"no customer":         putPayload(t, "mp-9", "", "image/png", photo, ""),
		"a device":            putPayload(t, "mp-9", "staff-anna", "image/png", photo, ""),
		"version 2":           []byte(`{"v":2,"id":"mp-9","customer":"cust-anna01","hash":"` + hash + `","type":"image/png","data":"` + base64.StdEncoding.EncodeToString(photo) + `"}`),
		"unknown field":       []byte(`{"v":1,"id":"mp-9","customer":"cust-anna01","hash":"` + hash + `","type":"image/png","data":"","x":1}`),
	} {
		if err := l.HandleMediaPut(t.Context(), p); !errors.Is(err, hqlink.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	for _, h := range []string{fmt.Sprintf("%064x", 1), hashOf([]byte("not a png at all")), hashOf(big)} {
		if _, err := ms.Stat(t.Context(), h); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("a refused blob %s… is stored: %v", h[:8], err)
		}
	}
	if s := l.Stats(); s.PutStored != 4 || s.PutRefused != 2 {
		t.Errorf("counters: %+v (want 4 stored, 2 refused by the blob store)", s)
	}
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A photo from home reaches the store's conversation the documented way:
// HQ puts the blob (hq/media/put), then sends her message referring to it
// (hq/chat/message, her cust-… id); staff see the photo in her own
// conversation and HQ gets the chat entry back. Her recall from home
// (hq/chat/recall) comes back as a recall entry.
func TestPhotoFromHome(t *testing.T) {
	h := startHQ(t)
	s := st.Start(t, st.Options{Devices: fleet, Config: h.config})
	staff := s.Connect(t, anna, "")
	she := s.CustomerLogin(t, staff, "", "", false)
	var open struct{ Conversation string }
	st.OK(t, she.Call(t, "chat", "open", `{}`)).Decode(t, &open)
	cust := open.Conversation

	photo := noisePNG(t, 30)
	hash := hashOf(photo)
	h.send("media/put", "mp-1", putPayload(t, "mp-1", cust, "image/png", photo, ""))
	h.send("chat/message", "hm-1", []byte(fmt.Sprintf(`{"v":1,"id":"hm-1","customer":%q,"kind":"image","media":{"hash":%q,"type":"image/png","size":%d}}`, cust, hash, len(photo))))
	e := waitUp(h, "chat/"+cust+"/hq", func(e proto.HQChatEntry) bool { return e.ID == "hm-1" })
	if e.Kind != "image" || e.Media == nil || e.Media.Hash != hash || e.From != cust || e.Customer != cust {
		t.Fatalf("the photo's entry at HQ: %+v", e)
	}
	var hist struct{ Messages []proto.ChatMessage }
	st.OK(t, staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, cust))).Decode(t, &hist)
	if n := len(hist.Messages); n == 0 || hist.Messages[n-1].Media == nil || hist.Messages[n-1].Media.Hash != hash {
		t.Fatalf("staff's view of her conversation: %+v", hist.Messages)
	}

	// She takes it back from home: the store recalls it and tells HQ.
	h.send("chat/recall", "hr-1", []byte(fmt.Sprintf(`{"v":1,"id":"hr-1","customer":%q,"message":"hm-1"}`, cust)))
	r := waitUp(h, "chat/"+cust+"/hq", func(r proto.HQChatEntry) bool { return r.Type == "recall" && r.Seq == e.Seq })
	if r.From != cust {
		t.Fatalf("the recall at HQ: %+v", r)
	}
}
