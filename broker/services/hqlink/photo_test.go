package hqlink_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"testing"

	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// A photo staff send in a conversation with a customer at home reaches HQ
// the documented way: the chat entry carries the blob's hash, HQ asks for
// it on hq/media/get, and the store sends it whole on media/{hash}.
func TestPhotoInHQConversation(t *testing.T) {
	h := startHQ(t)
	s := st.Start(t, st.Options{Devices: fleet, Config: h.config})
	staff := s.Connect(t, anna, "")
	h.send("chat/message", "m-1", []byte(`{"v":1,"id":"hqm-1","customer":"hq-c9","kind":"text","text":"Can I see the new cat tree?"}`))
	waitUp(h, "chat/hq-c9/hq", func(e proto.HQChatEntry) bool { return e.ID == "hqm-1" })

	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 200, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	hash := hex.EncodeToString(sum[:])
	st.OK(t, staff.Call(t, "media", "begin", fmt.Sprintf(`{"upload":"tree-1","type":"image/png","size":%d,"sha256":%q}`, buf.Len(), hash)))
	st.OK(t, staff.Call(t, "media", "chunk", fmt.Sprintf(`{"upload":"tree-1","index":0,"data":%q}`, base64.StdEncoding.EncodeToString(buf.Bytes()))))
	st.OK(t, staff.Call(t, "media", "complete", `{"upload":"tree-1"}`))
	st.OK(t, staff.Call(t, "chat", "open", `{"conversation":"hq-c9"}`))
	st.OK(t, staff.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":"hq-c9","kind":"image","media":{"hash":%q}}`, hash)))

	e := waitUp(h, "chat/hq-c9/hq", func(e proto.HQChatEntry) bool { return e.Kind == "image" })
	if e.Media == nil || e.Media.Hash != hash || e.Customer != "hq-c9" || e.From != "staff-anna" {
		t.Fatalf("the photo's chat entry: %+v", e)
	}
	h.send("media/get", "mg-1", []byte(fmt.Sprintf(`{"v":1,"id":"mg-1","hash":%q}`, e.Media.Hash)))
	mb := waitUp(h, "media/"+hash, func(b proto.MediaBlob) bool { return b.Hash == hash })
	if mb.V != 1 || mb.Mime != "image/png" || mb.Size != int64(buf.Len()) || !bytes.Equal(mb.Data, buf.Bytes()) {
		t.Fatalf("the blob at HQ: v %d mime %s size %d, %d bytes", mb.V, mb.Mime, mb.Size, len(mb.Data))
	}
}
