package chat

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	media "github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
)

// A customer of the store continues at home: HQ writes into her own
// conversation (cust-…), the one she has in the shop, with text, photos
// (the blob put first) and HQ's answer while the store was offline, filed
// after hers as the assistant's, which keeps the store's own assistant
// quiet and flags the conversation for staff. She recalls a message from
// home after the store's recall window (HQ checked its own), and a
// customer the store does not know gets nothing.
func TestHQHomeCustomer(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), Outbox: outbox{}}, withMedia, withTokens)
	e.setClock(t, openTime)
	she := e.customerLogin(t, "", "")
	cust := ok(t, she.call(t, "open", "", `{}`)).Conversation
	staff := e.connect(t, anna, "")
	hq := func(topic, payload string) error { return e.chat.HandleHQ(t.Context(), topic, []byte(payload)) }

	// Unknown customer of the store: refused, nothing opened.
	if err := hq(HQMessageTopic, `{"v":1,"id":"hm-0","customer":"cust-nobody77","kind":"text","text":"hello"}`); !errors.Is(err, ErrHQInput) {
		t.Fatalf("a message for a customer the store does not know: %v", err)
	}
	fails(t, staff.call(t, "history", "", `{"conversation":"cust-nobody77"}`), "not_found")

	// Her question at 3 a.m. with HQ's answer: twice (a replay), stored once.
	msg := fmt.Sprintf(`{"v":1,"id":"hm-1","customer":%q,"kind":"text","text":"What time do you open?","lang":"en",`+
		`"sent":"2025-03-04T19:00:00Z","auto_reply":{"text":"The store is offline now; it opens at 9:30.","intent":"opening_hours","reason":"offline"}}`, cust)
	for range 2 {
		if err := hq(HQMessageTopic, msg); err != nil {
			t.Fatal(err)
		}
	}
	h := staff.history(t, cust)
	if len(h.Messages) != 2 || h.Messages[0].From != cust || h.Messages[0].ID != "hm-1" ||
		h.Messages[1].From != AssistantID || !h.Messages[1].Auto || h.Messages[1].Intent != "opening_hours" ||
		h.Messages[1].Text != "The store is offline now; it opens at 9:30." {
		t.Fatalf("her message and HQ's answer (the store's assistant must not answer again): %s", h.raw)
	}
	if o := ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, cust))); o.Waiting == nil {
		t.Fatalf("a conversation HQ answered while the store was away is not waiting for staff: %s", o.raw)
	}
	// The notice alone is marked hq_closed.
	if err := hq(HQMessageTopic, fmt.Sprintf(`{"v":1,"id":"hm-2","customer":%q,"kind":"text","text":"Is a red rash bad?","auto_reply":{"text":"The store is closed now.","reason":"closed"}}`, cust)); err != nil {
		t.Fatal(err)
	}
	h = staff.history(t, cust)
	if len(h.Messages) != 4 || h.Messages[3].Intent != "hq_closed" || !h.Messages[3].Auto {
		t.Fatalf("the closed notice: %s", h.raw)
	}
	// Without auto_reply the store's assistant answers as in the shop.
	if err := hq(HQMessageTopic, fmt.Sprintf(`{"v":1,"id":"hm-3","customer":%q,"kind":"text","text":"What time do you open?","lang":"en"}`, cust)); err != nil {
		t.Fatal(err)
	}
	h = staff.history(t, cust)
	if len(h.Messages) != 6 || h.Messages[5].From != AssistantID || h.Messages[5].Intent != "opening_hours" {
		t.Fatalf("the store's own assistant: %s", h.raw)
	}

	// A photo: its blob is in the store (hq/media/put) before the message.
	hash := uploadPNG(t, e, cust, 40, 30)
	if err := hq(HQMessageTopic, fmt.Sprintf(`{"v":1,"id":"hm-4","customer":%q,"kind":"image","media":{"hash":%q,"type":"image/png","size":1}}`, cust, hash)); err != nil {
		t.Fatal(err)
	}
	h = staff.history(t, cust)
	last := h.Messages[len(h.Messages)-1]
	if last.ID != "hm-4" || last.Kind != KindImage || last.Media == nil || last.Media.Hash != hash || last.Media.Type != "image/png" {
		t.Fatalf("the photo from home: %s", h.raw)
	}
	if !canFetch(t, e, auth.Identity{Device: cust, Role: "customer", Customer: true}, hash) {
		t.Fatal("she cannot fetch her own photo")
	}
	// A voice note.
	voice := []byte("OggS\x00\x02 a voice note from home")
	vsum := sha256.Sum256(voice)
	vhash := hex.EncodeToString(vsum[:])
	if _, err := e.media.Begin(t.Context(), cust, "hq-v1", media.Meta{Type: "audio/ogg", Size: int64(len(voice)), SHA256: vhash}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.media.PutChunk(t.Context(), cust, "hq-v1", 0, voice); err != nil {
		t.Fatal(err)
	}
	if _, err := e.media.Complete(t.Context(), cust, "hq-v1"); err != nil {
		t.Fatal(err)
	}
	if err := hq(HQMessageTopic, fmt.Sprintf(`{"v":1,"id":"hm-v","customer":%q,"kind":"voice","media":{"hash":%q,"type":"audio/ogg","size":%d,"duration_ms":2000}}`, cust, vhash, len(voice))); err != nil {
		t.Fatal(err)
	}
	h = staff.history(t, cust)
	if last := h.Messages[len(h.Messages)-1]; last.ID != "hm-v" || last.Kind != KindVoice || last.Media == nil || last.Media.Type != "audio/ogg" {
		t.Fatalf("the voice note from home: %s", h.raw)
	}
	for _, bad := range []string{
		fmt.Sprintf(`{"v":1,"id":"hm-5","customer":%q,"kind":"voice","media":{"hash":%q}}`, cust, hash),                              // a photo is not a voice note
		fmt.Sprintf(`{"v":1,"id":"hm-5","customer":%q,"kind":"image","media":{"hash":"%064x"}}`, cust, 7),                            // no such blob
		fmt.Sprintf(`{"v":1,"id":"hm-5","customer":%q,"kind":"video","media":{"hash":%q}}`, cust, hash),                              // not from home
		fmt.Sprintf(`{"v":1,"id":"hm-5","customer":%q,"kind":"text","text":"hi","auto_reply":{"text":"x","reason":"sleepy"}}`, cust), // a reason HQ has not
	} {
		if err := hq(HQMessageTopic, bad); !errors.Is(err, ErrHQInput) {
			t.Errorf("%s: %v", bad, err)
		}
	}

	// Recall from home an hour later (past the store's own window).
	e.setClock(t, openTime.Add(time.Hour))
	recall := fmt.Sprintf(`{"v":1,"id":"hr-1","customer":%q,"message":"hm-2"}`, cust)
	for range 2 {
		if err := hq(HQRecallTopic, recall); err != nil {
			t.Fatal(err)
		}
	}
	h = staff.history(t, cust)
	if m := h.Messages[2]; m.ID != "hm-2" || m.Recalled == nil || m.Text != "" {
		t.Fatalf("the recalled message: %s", h.raw)
	}
	ob := e.outbox(t)
	if en := ob[len(ob)-1]; en.Type != "recall" || en.Seq != 3 || en.Customer != cust {
		t.Fatalf("the recall for HQ: %+v", en)
	}
	for _, bad := range []string{
		fmt.Sprintf(`{"v":1,"id":"hr-2","customer":%q,"message":"hm-404"}`, cust),       // no such message
		`{"v":1,"id":"hr-2","customer":"cust-nobody77","message":"hm-1"}`,               // no such customer
		fmt.Sprintf(`{"v":1,"id":"hr-2","customer":%q,"message":"auto-hq-hm-1"}`, cust), // not hers
	} {
		if err := hq(HQRecallTopic, bad); !errors.Is(err, ErrHQInput) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// Her read receipt from home.
	if err := hq(HQReadTopic, fmt.Sprintf(`{"v":1,"id":"hd-1","customer":%q,"up_to":4}`, cust)); err != nil {
		t.Fatal(err)
	}
}
