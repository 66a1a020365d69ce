package chat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/seal"
)

// bucketTestBookings stands in for the booking service's own bucket: its
// change is written in the same transaction as the card.
var bucketTestBookings = []byte("test_bookings")

// postResult is what PostTx returned in the run that committed.
type postResult struct {
	seq    uint64
	stored bool
	emit   func()
}

// postWith runs PostTx in a write transaction of its own, as the booking
// service does: its booking record and the card, then extra (nil = commit).
// It returns Update's error and what PostTx returned in the last run.
func postWith(t testing.TB, e *env, p Post, extra func(*bolt.Tx) error) (postResult, error) {
	t.Helper()
	var r postResult
	err := e.db.Update(t.Context(), func(tx *bolt.Tx) error {
		r = postResult{}
		b, err := tx.CreateBucketIfNotExists(bucketTestBookings)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(p.Customer+"/"+p.ID), []byte("confirmed")); err != nil {
			return err
		}
		if r.seq, r.stored, r.emit, err = e.chat.PostTx(tx, p); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	return r, err
}

// post commits p and publishes its events.
func post(t testing.TB, e *env, p Post) postResult {
	t.Helper()
	r, err := postWith(t, e, p, nil)
	if err != nil {
		t.Fatalf("post %+v: %v", p, err)
	}
	r.emit()
	return r
}

// booked is whether the stand-in booking record of p was committed.
func booked(t testing.TB, e *env, p Post) bool {
	t.Helper()
	found := false
	if err := e.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketTestBookings); b != nil {
			found = b.Get([]byte(p.Customer+"/"+p.ID)) != nil
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

func bookingCard(status, when string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"type":"booking","status":%q,"service":"Bath & trim","at":%q}`, status, when))
}

func custIdent(id string) auth.Identity {
	return auth.Identity{Device: id, Role: "customer", ClientID: id, Customer: true}
}

// A booking card posted into a customer's conversation: the next seq, a
// message event from "booking" on the conversation's topic, the card in
// history like any message; nobody's read pointer, the waiting queue and the
// assistant flag stay as they were.
func TestPostIntoConversation(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.customerLogin(t, "", "phone")
	custID := devOf(cust)
	staff := e.connect(t, anna, "")
	ok(t, cust.call(t, "open", "", `{}`))
	cust.subscribe(t, EventTopic(custID))
	sendText(t, cust, custID, "", "Is Saturday free for Mochi?")
	before := ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, custID)))

	p := Post{Customer: custID, From: "booking", ID: "bk-1-confirmed", Card: bookingCard("confirmed", "2025-03-08T15:00:00+08:00")}
	r := post(t, e, p)
	if r.seq != 2 || !r.stored || !booked(t, e, p) {
		t.Fatalf("post: %+v", r)
	}
	ev := cust.event(t, func(ev Event) bool { return ev.Type == EventMessage && ev.Seq == 2 })
	if ev.V != 1 || ev.ID != p.ID || ev.From != "booking" || ev.Kind != KindCard || ev.Conversation != custID || ev.Auto {
		t.Fatalf("message event: %+v", ev)
	}

	h := cust.history(t, custID)
	if len(h.Messages) != 2 || h.LastSeq != 2 || h.ReadUpTo != 1 || h.Unread != 1 {
		t.Fatalf("customer's history: %s", h.raw)
	}
	m := h.Messages[1]
	if m.Seq != 2 || m.ID != p.ID || m.From != "booking" || m.Kind != KindCard || m.Auto || m.Text != "" || m.Media != nil {
		t.Fatalf("posted message: %+v", m)
	}
	var card map[string]string
	if err := json.Unmarshal(m.Card, &card); err != nil || card["type"] != "booking" || card["status"] != "confirmed" {
		t.Fatalf("card %s: %v", m.Card, err)
	}
	if sh := staff.history(t, custID); len(sh.Messages) != 2 || sh.Messages[1].From != "booking" {
		t.Fatalf("staff's history: %s", sh.raw)
	}
	after := ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, custID)))
	if !slices.Equal(after.Members, before.Members) || after.Assistant != before.Assistant || after.Waiting != nil ||
		receipt(t, after.Receipts, custID) != receipt(t, before.Receipts, custID) ||
		receipt(t, after.Receipts, anna.ID) != receipt(t, before.Receipts, anna.ID) {
		t.Fatalf("the post changed the conversation's state: %s → %s", before.raw, after.raw)
	}
	// Gap-free: the customer's next message follows the card.
	if s := sendText(t, cust, custID, "", "Thanks!"); s.Seq != 3 {
		t.Fatalf("send after the post: %s", s.raw)
	}
}

// A transaction that fails after PostTx stores neither the booking nor the
// card: history, buckets and events are as before, and the same post later
// goes through (its id was not kept either).
func TestPostRolledBack(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.customerLogin(t, "", "phone")
	custID := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))
	cust.subscribe(t, EventTopic(custID))
	sendText(t, cust, custID, "", "hello")
	counts := e.counts(t)

	errBooking := errors.New("booking: slot taken meanwhile")
	p := Post{Customer: custID, From: "booking", ID: "bk-7", Card: bookingCard("confirmed", "2025-03-08T15:00:00+08:00")}
	r, err := postWith(t, e, p, func(*bolt.Tx) error { return errBooking })
	if !errors.Is(err, errBooking) {
		t.Fatalf("the failing transaction: %v", err)
	}
	if !r.stored || r.seq != 2 {
		t.Fatalf("inside the failed transaction PostTx said %+v", r)
	}
	// r.emit is not called: the transaction did not commit.
	if h := cust.history(t, custID); len(h.Messages) != 1 || h.LastSeq != 1 {
		t.Fatalf("history after a rolled-back post: %s", h.raw)
	}
	if after := e.counts(t); !maps.Equal(counts, after) || booked(t, e, p) {
		t.Fatalf("a rolled-back post stored something: %v → %v", counts, after)
	}
	// The customer's next message takes seq 2, and no event of the failed
	// post came before its event.
	sendText(t, cust, custID, "", "marker")
	cust.noEvent(t, func(ev Event) bool { return ev.ID == p.ID },
		func(ev Event) bool { return ev.Type == EventMessage && ev.Seq == 2 && ev.From == custID })

	if r := post(t, e, p); !r.stored || r.seq != 3 {
		t.Fatalf("the same post after the rollback: %+v", r)
	}
}

// A repeated post (same From and ID) stores nothing and returns the first
// seq, whatever its card says now; another service's same id is its own.
func TestPostRepeat(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.customerLogin(t, "", "phone")
	custID := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))

	p := Post{Customer: custID, From: "booking", ID: "bk-9-reminder", Card: bookingCard("reminder", "tomorrow 15:00")}
	first := post(t, e, p)
	counts := e.counts(t)
	p.Card = bookingCard("reminder", "changed meanwhile")
	again := post(t, e, p)
	if again.seq != first.seq || again.stored {
		t.Fatalf("repeat: first %+v, again %+v", first, again)
	}
	if after := e.counts(t); !maps.Equal(counts, after) {
		t.Fatalf("a repeated post stored something: %v → %v", counts, after)
	}
	h := cust.history(t, custID)
	if len(h.Messages) != 1 || !strings.Contains(string(h.Messages[0].Card), "tomorrow 15:00") {
		t.Fatalf("history after a repeat: %s", h.raw)
	}
	if other := post(t, e, Post{Customer: custID, From: "survey", ID: p.ID, Card: json.RawMessage(`{"type":"survey","q":"How was it?"}`)}); !other.stored || other.seq != 2 {
		t.Fatalf("the same id from another service: %+v", other)
	}
}

// A customer without a conversation gets the one their own open would
// create; their open later resumes it, with the card in history.
func TestPostCreatesConversation(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t)})
	const custID = "cust-bookedfirst1"
	p := Post{Customer: custID, From: "booking", ID: "bk-1", Card: bookingCard("confirmed", "2025-03-08T15:00:00+08:00")}
	if r := post(t, e, p); r.seq != 1 || !r.stored {
		t.Fatalf("post to a new customer: %+v", r)
	}

	// The record is the one an open by a customer makes (compare with one).
	other := e.customerLogin(t, "", "other")
	ok(t, other.call(t, "open", "", `{}`))
	var posted, opened *conv
	if err := e.db.View(func(tx *bolt.Tx) error {
		var err error
		if posted, err = e.chat.getConv(tx, custID); err != nil {
			return err
		}
		opened, err = e.chat.getConv(tx, devOf(other))
		return err
	}); err != nil || posted == nil || opened == nil {
		t.Fatalf("records: %+v %+v %v", posted, opened, err)
	}
	if posted.By != custID || !slices.Equal(posted.Members, []string{custID}) || posted.Kind != opened.Kind || posted.Assistant != opened.Assistant || !posted.Assistant || posted.Waiting != nil || posted.V != opened.V {
		t.Fatalf("created by a post %+v, by an open %+v", posted, opened)
	}

	cust := e.customerLogin(t, custID, "phone")
	o := ok(t, cust.call(t, "open", "", `{}`))
	if o.Conversation != custID || o.New || !slices.Equal(o.Members, []string{custID}) || o.LastSeq != 1 || o.Unread != 1 || !o.Assistant {
		t.Fatalf("the customer's first open: %s", o.raw)
	}
	if h := cust.history(t, custID); len(h.Messages) != 1 || h.Messages[0].From != "booking" || h.Messages[0].Kind != KindCard {
		t.Fatalf("history: %s", h.raw)
	}
	if l := ok(t, cust.call(t, "list", "", `{}`)); len(l.Conversations) != 1 || l.Conversations[0].Conversation != custID {
		t.Fatalf("list: %s", l.raw)
	}
}

// A remote customer's conversation files the post for HQ, in the same
// transaction; their first message through HQ lands after it.
func TestPostRemoteCustomer(t *testing.T) {
	e := newEnv(t, Options{Outbox: outbox{}})
	const custID = "hq-c42"
	p := Post{Customer: custID, From: "booking", ID: "bk-42", Card: bookingCard("confirmed", "2025-03-08T15:00:00+08:00")}
	post(t, e, p)
	out := e.outbox(t)
	if len(out) != 1 || out[0].Topic != HQTopic(custID) || out[0].Type != "message" || out[0].From != "booking" ||
		out[0].Kind != KindCard || out[0].ID != p.ID || out[0].Seq != 1 || !strings.Contains(string(out[0].Card), `"status":"confirmed"`) {
		t.Fatalf("outbox: %+v", out)
	}
	if err := e.chat.HandleHQ(t.Context(), HQMessageTopic, []byte(`{"v":1,"id":"hq-m1","customer":"hq-c42","kind":"text","text":"See you Saturday"}`)); err != nil {
		t.Fatal(err)
	}
	h := e.connect(t, anna, "").history(t, custID)
	if len(h.Messages) != 2 || h.Messages[0].From != "booking" || h.Messages[1].From != custID {
		t.Fatalf("history: %s", h.raw)
	}
}

// uploadBlob stores data of type typ in the rig's media store as owner
// would through svc/media.
func uploadBlob(t testing.TB, e *env, owner, typ string, data []byte) string {
	t.Helper()
	sum := sha256.Sum256(data)
	meta := blob.Meta{Type: typ, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Name: "blob"}
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

// "Bathing now" with a photo: PrepareImage takes the reference, the post
// stores the card and an image message, and the customer may fetch the
// photo. A post that is repeated or rolled back gives its reference back
// through release; unknown and non-image blobs are refused.
func TestPostImage(t *testing.T) {
	e := newEnv(t, Options{}, withMedia)
	cust := e.customerLogin(t, "", "phone")
	custID := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))
	cust.subscribe(t, EventTopic(custID))
	hash := uploadPNG(t, e, anna.ID, 40, 30)
	if canFetch(t, e, custIdent(custID), hash) {
		t.Fatal("the customer may fetch a photo before it is posted")
	}

	// Committed: card, then photo. The message keeps the reference.
	im, _, err := e.chat.PrepareImage(t.Context(), hash)
	if err != nil {
		t.Fatal(err)
	}
	if im.Hash != hash || im.Type != "image/png" || im.Width != 40 || im.Height != 30 || im.Thumbnail == "" || refs(t, e, hash) != 1 {
		t.Fatalf("prepared image %+v, %d references", im, refs(t, e, hash))
	}
	p := Post{Customer: custID, From: "booking", ID: "bk-3-bathing", Card: json.RawMessage(`{"type":"progress","step":"bathing"}`), Image: im}
	if r := post(t, e, p); r.seq != 1 || !r.stored {
		t.Fatalf("post with a photo: %+v", r)
	}
	photo := cust.event(t, func(ev Event) bool { return ev.Type == EventMessage && ev.Seq == 2 })
	if photo.ID != p.ID+PhotoIDSuffix || photo.From != "booking" || photo.Kind != KindImage {
		t.Fatalf("photo event: %+v", photo)
	}
	h := cust.history(t, custID)
	if len(h.Messages) != 2 || h.Messages[0].Kind != KindCard || h.Messages[1].Kind != KindImage {
		t.Fatalf("history: %s", h.raw)
	}
	if m := h.Messages[1]; m.ID != p.ID+PhotoIDSuffix || m.From != "booking" || m.Media == nil || *m.Media != *im {
		t.Fatalf("photo message: %+v", m)
	}
	if !canFetch(t, e, custIdent(custID), hash) || refs(t, e, hash) != 1 {
		t.Fatalf("after the post: fetch %v, %d references", canFetch(t, e, custIdent(custID), hash), refs(t, e, hash))
	}
	if canFetch(t, e, custIdent("cust-someoneelse"), hash) {
		t.Fatal("another customer may fetch the photo")
	}

	// Repeated: nothing new; the caller releases its new reference, once
	// however often it calls release.
	im2, release, err := e.chat.PrepareImage(t.Context(), hash)
	if err != nil {
		t.Fatal(err)
	}
	p.Image = im2
	if r := post(t, e, p); r.stored || r.seq != 1 {
		t.Fatalf("repeat: %+v", r)
	}
	release()
	release()
	if n := refs(t, e, hash); n != 1 {
		t.Fatalf("references after a repeat: %d", n)
	}

	// Rolled back: nothing stored, and release gives the reference back.
	counts := e.counts(t)
	im3, release, err := e.chat.PrepareImage(t.Context(), hash)
	if err != nil {
		t.Fatal(err)
	}
	rolled := Post{Customer: custID, From: "booking", ID: "bk-4-drying", Card: json.RawMessage(`{"type":"progress","step":"drying"}`), Image: im3}
	if _, err := postWith(t, e, rolled, func(*bolt.Tx) error { return errors.New("booking: rolled back") }); err == nil {
		t.Fatal("the failing transaction committed")
	}
	release()
	if n := refs(t, e, hash); n != 1 {
		t.Fatalf("references after a rolled-back post: %d", n)
	}
	if after := e.counts(t); !maps.Equal(counts, after) {
		t.Fatalf("a rolled-back post stored something: %v → %v", counts, after)
	}

	// Refused blobs.
	pdf := uploadBlob(t, e, anna.ID, "application/pdf", []byte("%PDF-1.4\n% the grooming price list\n%%EOF\n"))
	missing := sha256.Sum256([]byte("never uploaded"))
	for _, tc := range []struct {
		hash, code string
	}{
		{pdf, svc.CodeBadRequest},
		{hex.EncodeToString(missing[:]), svc.CodeNotFound},
		{"not-a-hash", ""},
	} {
		_, rel, err := e.chat.PrepareImage(t.Context(), tc.hash)
		rel() // harmless on a refusal
		var se *svc.Error
		if !errors.Is(err, ErrPostInput) || (tc.code != "" && (!errors.As(err, &se) || se.Code != tc.code)) {
			t.Fatalf("PrepareImage(%s): %v", tc.hash, err)
		}
	}
	if n := refs(t, e, pdf); n != 0 {
		t.Fatalf("a refused blob has %d references", n)
	}
}

// Bad posts are ErrPostInput from ValidatePost and from PostTx, and store
// nothing; so are posts into a conversation of that id that is not the
// customer's own, or one From is a member of.
func TestPostBadInput(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.customerLogin(t, "", "phone")
	custID := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))
	staff := e.connect(t, anna, "")
	ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, custID)))
	// Staff may name a conversation like a customer: not that customer's.
	ok(t, staff.call(t, "open", "", `{"conversation":"cust-notmine1","members":["tablet-01"]}`))

	card := bookingCard("confirmed", "15:00")
	sum := sha256.Sum256([]byte("x"))
	hash := hex.EncodeToString(sum[:])
	good := Post{Customer: custID, From: "booking", ID: "bk-1", Card: card}
	with := func(f func(*Post)) Post { p := good; f(&p); return p }
	tooBig := json.RawMessage(`{"type":"booking","note":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`)
	stateless := map[string]Post{
		"no customer":          with(func(p *Post) { p.Customer = "" }),
		"customer not an id":   with(func(p *Post) { p.Customer = "cust/../x" }),
		"no from":              with(func(p *Post) { p.From = "" }),
		"from not an id":       with(func(p *Post) { p.From = "booking service" }),
		"from the customer":    with(func(p *Post) { p.From = custID }),
		"from the assistant":   with(func(p *Post) { p.From = AssistantID }),
		"no id":                with(func(p *Post) { p.ID = "" }),
		"id not an id":         with(func(p *Post) { p.ID = "bk\x001" }),
		"id of a photo":        with(func(p *Post) { p.ID = "bk-1" + PhotoIDSuffix }),
		"no card":              with(func(p *Post) { p.Card = nil }),
		"card not JSON":        with(func(p *Post) { p.Card = json.RawMessage(`{"type":`) }),
		"card not an object":   with(func(p *Post) { p.Card = json.RawMessage(`["booking"]`) }),
		"card without type":    with(func(p *Post) { p.Card = json.RawMessage(`{"status":"confirmed"}`) }),
		"card of unknown type": with(func(p *Post) { p.Card = json.RawMessage(`{"type":"coupon"}`) }),
		"card too large":       with(func(p *Post) { p.Card = tooBig }),
		"image without hash":   with(func(p *Post) { p.Image = &MediaInfo{Type: "image/png"} }),
		"image not prepared":   with(func(p *Post) { p.Image = &MediaInfo{Hash: hash} }),
		"image without media":  with(func(p *Post) { p.Image = &MediaInfo{Hash: hash, Type: "image/png", Size: 1} }), // no media store here
	}
	inTx := map[string]Post{
		"not the customer's conversation": with(func(p *Post) { p.Customer = "cust-notmine1" }),
		"from a member":                   with(func(p *Post) { p.From = anna.ID }),
	}
	counts := e.counts(t)
	for name, p := range stateless {
		if err := e.chat.ValidatePost(p); !errors.Is(err, ErrPostInput) {
			t.Errorf("%s: ValidatePost: %v", name, err)
		}
	}
	for name, p := range inTx {
		if err := e.chat.ValidatePost(p); err != nil {
			t.Errorf("%s: ValidatePost refused what only the conversation decides: %v", name, err)
		}
	}
	for name, p := range stateless {
		inTx[name] = p
	}
	for name, p := range inTx {
		if _, err := postWith(t, e, p, nil); !errors.Is(err, ErrPostInput) {
			t.Errorf("%s: PostTx: %v", name, err)
		}
	}
	if after := e.counts(t); !maps.Equal(counts, after) {
		t.Fatalf("refused posts stored something: %v → %v", counts, after)
	}
	// A read-only transaction is the caller's mistake, not bad input.
	if err := e.db.View(func(tx *bolt.Tx) error {
		_, _, emit, err := e.chat.PostTx(tx, good)
		emit()
		return err
	}); err == nil || errors.Is(err, ErrPostInput) {
		t.Fatalf("PostTx in a read transaction: %v", err)
	}
	if err := e.chat.ValidatePost(good); err != nil {
		t.Fatalf("the good post: %v", err)
	}
}

// A posted card is sealed at rest like a sent one: the raw database file
// holds no plaintext of it, and its record names its key.
func TestPostSealedAtRest(t *testing.T) {
	const secret = "Mochi-allergic-to-oatmeal-shampoo-93"
	e := newEnv(t, Options{})
	const custID = "cust-sealed1"
	post(t, e, Post{Customer: custID, From: "booking", ID: "bk-s", Card: json.RawMessage(`{"type":"booking","note":"` + secret + `"}`)})
	if h := e.connect(t, anna, "").history(t, custID); len(h.Messages) != 1 || !strings.Contains(string(h.Messages[0].Card), secret) {
		t.Fatalf("history: %s", h.raw)
	}
	if id, err := seal.KeyID(e.storedMsg(t, custID, 1).Body); err != nil || id != "k1" {
		t.Fatalf("record's key id %q: %v", id, err)
	}
	e.stop()
	raw, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatalf("the database file contains %q in plaintext", secret)
	}
	if !bytes.Contains(raw, []byte("chat_msgs")) {
		t.Fatal("the search looked at the wrong file")
	}
}
