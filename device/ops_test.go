package device_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// inbox collects what a handler receives, for a test to wait on.
type inbox[T any] struct {
	mu  sync.Mutex
	got []T
}

func (b *inbox[T]) add(v T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, v)
}

func (b *inbox[T]) all() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// wait returns the first item matching pred, waiting up to 10 s for it.
func (b *inbox[T]) wait(t *testing.T, what string, pred func(T) bool) T {
	t.Helper()
	var found T
	eventually(t, 10*time.Second, what, func() bool {
		for _, v := range b.all() {
			if pred(v) {
				found = v
				return true
			}
		}
		return false
	})
	return found
}

// tabletsSeeChatEvents is the default ACL with chat/%m/events granted to
// chat tablets: the default acl.yaml grants chat events to staff and
// customers only, while PROTOCOL.md sends them to every member.
func tabletsSeeChatEvents(t *testing.T) func(*broker.Config) {
	var acl map[string]any
	if err := yaml.Unmarshal(configs.ACL, &acl); err != nil {
		t.Fatal(err)
	}
	tablet := acl["roles"].(map[string]any)["chat-tablet"].(map[string]any)
	tablet["subscribe"] = append(tablet["subscribe"].([]any), "chat/%m/events")
	b, err := yaml.Marshal(acl)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "acl.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *broker.Config) { c.Auth.ACLFile = path }
}

func TestChat(t *testing.T) {
	s := startStore(t, storetest.Options{Config: tabletsSeeChatEvents(t)})
	tablet := connect(t, config(s, "tablet-1"))
	staff := connect(t, config(s, "staff-anna"))
	ctx := ctxFor(t, 30*time.Second)

	var staffEvents, tabletEvents inbox[device.ChatEvent]
	if err := staff.OnChatEvents(ctx, "+", staffEvents.add); err != nil {
		t.Fatal(err)
	}
	open, err := tablet.ChatOpen(ctx, device.ChatOpenRequest{Members: []string{"staff-anna"}})
	if err != nil {
		t.Fatal(err)
	}
	conv := open.Conversation
	if !open.New || !slices.Contains(open.Members, "staff-anna") || !slices.Contains(open.Members, "tablet-1") {
		t.Fatalf("open: %+v", open)
	}
	if err := tablet.OnChatEvents(ctx, conv, tabletEvents.add); err != nil {
		t.Fatal(err)
	}

	sent, err := tablet.ChatSend(ctx, device.ChatSendRequest{Conversation: conv, Kind: device.KindText, Text: proto.String("Is Dou ready yet?")})
	if err != nil {
		t.Fatal(err)
	}
	if sent.Seq == 0 || sent.ID == "" || sent.Conversation != conv {
		t.Fatalf("send: %+v", sent)
	}
	ev := staffEvents.wait(t, "staff sees the tablet's message", func(e device.ChatEvent) bool {
		return e.Type == device.ChatEventMessage && e.ID == sent.ID
	})
	if ev.Conversation != conv || ev.Seq != sent.Seq || ev.From != "tablet-1" || ev.Kind != device.KindText {
		t.Fatalf("message event: %+v", ev)
	}
	h, err := staff.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: conv, After: ev.Seq - 1, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || h.Messages[0].Text != "Is Dou ready yet?" || h.Messages[0].From != "tablet-1" {
		t.Fatalf("staff history: %+v", h)
	}

	reply, err := staff.ChatSend(ctx, device.ChatSendRequest{Conversation: conv, Kind: device.KindText, Text: proto.String("Drying now, 10 minutes")})
	if err != nil {
		t.Fatal(err)
	}
	tabletEvents.wait(t, "the tablet sees the staff's reply", func(e device.ChatEvent) bool {
		return e.Type == device.ChatEventMessage && e.ID == reply.ID && e.From == "staff-anna" && e.Seq == reply.Seq
	})
	page, err := tablet.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: conv})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(page.Messages); n == 0 || page.Unread == 0 || page.Messages[n-1].Text != "Drying now, 10 minutes" || page.LastSeq != reply.Seq {
		t.Fatalf("tablet history: unread %d, last_seq %d, messages %+v", page.Unread, page.LastSeq, page.Messages)
	}
	read, err := tablet.ChatRead(ctx, conv, page.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	if read.Unread != 0 || read.UpTo != page.LastSeq {
		t.Fatalf("read: %+v", read)
	}
	staffEvents.wait(t, "staff sees the read receipt", func(e device.ChatEvent) bool {
		return e.Type == device.ChatEventRead && e.Member == "tablet-1" && e.UpTo == page.LastSeq
	})

	// Only the sender recalls.
	if _, err := staff.ChatRecall(ctx, conv, sent.Seq); !errors.Is(err, device.ErrForbidden) {
		t.Fatalf("staff recalling the tablet's message: %v", err)
	}
	rc, err := tablet.ChatRecall(ctx, conv, sent.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Seq != sent.Seq || rc.Recalled.IsZero() {
		t.Fatalf("recall: %+v", rc)
	}
	staffEvents.wait(t, "staff sees the recall", func(e device.ChatEvent) bool {
		return e.Type == device.ChatEventRecall && e.Seq == sent.Seq && e.By == "tablet-1"
	})
	h, err = staff.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: conv, After: sent.Seq - 1, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || h.Messages[0].Recalled == nil || h.Messages[0].Text != "" {
		t.Fatalf("recalled message in history: %+v", h.Messages)
	}
}

// TestChatStaffOps: the staff side of the chat — the waiting queue, quick
// replies, groups and assignment — through the typed calls.
func TestChatStaffOps(t *testing.T) {
	s := startStore(t, storetest.Options{})
	tablet := connect(t, config(s, "tablet-1"))
	staff := connect(t, config(s, "staff-anna"))
	admin := connect(t, config(s, "admin-1"))
	ctx := ctxFor(t, 30*time.Second)

	open, err := tablet.ChatOpen(ctx, device.ChatOpenRequest{Members: []string{"staff-anna"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tablet.ChatHandoff(ctx, open.Conversation); err != nil {
		t.Fatal(err)
	}
	waiting, err := staff.ChatWaiting(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(waiting, func(v device.ConversationView) bool { return v.Conversation == open.Conversation && v.Waiting != nil }) {
		t.Fatalf("waiting after handoff: %+v", waiting)
	}
	v, err := admin.ChatAssign(ctx, open.Conversation, "staff-anna")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(v.Assigned, "staff-anna") {
		t.Fatalf("assign: %+v", v)
	}
	if _, err := staff.QuickReplies(ctx); err != nil {
		t.Fatal(err)
	}

	g, err := staff.GroupCreate(ctx, "Corgi owners", []string{"tablet-1"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Kind != "group" || !slices.Contains(g.Members, "tablet-1") {
		t.Fatalf("group_create: %+v", g)
	}
	g, err = staff.GroupAdd(ctx, g.Conversation, []string{"tablet-2"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Added, []string{"tablet-2"}) {
		t.Fatalf("group_add: %+v", g)
	}
	g, err = tablet.GroupRemove(ctx, g.Conversation, []string{"tablet-1"}) // leaving
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(g.Members, "tablet-1") {
		t.Fatalf("group_remove: %+v", g)
	}
	h, err := staff.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: g.Conversation})
	if err != nil {
		t.Fatal(err)
	}
	var card device.Card
	if len(h.Messages) != 3 || h.Messages[0].Kind != device.KindSystem || h.Messages[0].DecodeCard(&card) != nil || card.Type != "members" {
		t.Fatalf("group history: %+v", h.Messages)
	}
	list, err := tablet.ChatList(ctx, device.ChatListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Conversations) != 1 || list.Conversations[0].Conversation != open.Conversation {
		t.Fatalf("the tablet's conversations after leaving the group: %+v", list.Conversations)
	}
	sess, err := tablet.ChatSession(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if sess.Customer == "" || sess.URL == "" || !bytes.HasPrefix(sess.QRPNG, []byte("\x89PNG")) {
		t.Fatalf("session: %+v", sess)
	}
}

func TestBookingVisit(t *testing.T) {
	s := startStore(t, storetest.Options{})
	kiosk := connect(t, config(s, "kiosk-1"))
	staff := connect(t, config(s, "staff-anna"))
	cam := connect(t, config(s, "cam-1"))
	admin := connect(t, config(s, "admin-1"))
	ctx := ctxFor(t, 60*time.Second)
	const customer = "cust-doudou"

	var changes, customerChanges inbox[device.Change]
	if err := staff.OnBookingChanges(ctx, changes.add); err != nil {
		t.Fatal(err)
	}
	if err := admin.OnCustomerBookings(ctx, customer, customerChanges.add); err != nil {
		t.Fatal(err)
	}

	cat, err := kiosk.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(cat.Services, func(s device.Service) bool { return s.ID == "dog-groom" && s.Minutes == 90 }) ||
		cat.TimeZone == "" || len(cat.Stages) < 2 {
		t.Fatalf("services: %+v", cat)
	}
	today := s.Now().Format(time.DateOnly)
	av, err := kiosk.Availability(ctx, device.AvailabilityRequest{Service: "dog-groom", Date: today})
	if err != nil {
		t.Fatal(err)
	}
	if len(av.Days) != 1 || av.Days[0].Date != today || len(av.Days[0].Slots) == 0 {
		t.Fatalf("availability today: %+v", av)
	}
	slot := av.Days[0].Slots[0]
	if !slot.Start.After(s.Now()) || slot.End.Sub(slot.Start) != 90*time.Minute {
		t.Fatalf("first slot: %+v (now %v)", slot, s.Now())
	}

	// Dou's owner is at the kiosk: until her phone confirms the kiosk's
	// presence code, the kiosk reaches none of her profiles.
	_, err = kiosk.ProfileList(ctx, customer)
	var refused *device.Error
	if !errors.Is(err, device.ErrForbidden) || !errors.As(err, &refused) || refused.Reason != "not_present" {
		t.Fatalf("profiles of a customer not at the kiosk: %v", err)
	}
	code, err := kiosk.KioskPresenceStart(ctx)
	if err != nil || code.Code == "" || !strings.Contains(code.URL, "present="+code.Code) || !bytes.HasPrefix(code.QRPNG, []byte("\x89PNG")) {
		t.Fatalf("presence code: %+v %v", code, err)
	}
	user, pw := s.CustomerCredentials(t, s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "desk"), customer)
	phone := connect(t, device.Config{Brokers: []string{"mqtt://" + s.Addr}, DeviceID: user, Password: pw, NoPresence: true, Log: testLog})
	if p, err := phone.PresenceConfirm(ctx, code.Code); err != nil || p.Device != "kiosk-1" || p.Customer != customer {
		t.Fatalf("confirm: %+v %v", p, err)
	}
	if p, err := kiosk.KioskPresence(ctx); err != nil || p.Customer != customer || p.Until == nil {
		t.Fatalf("who is at the kiosk: %+v %v", p, err)
	}

	pet, err := kiosk.ProfilePut(ctx, customer, device.Profile{Kind: "pet", Name: "Dou", Species: "dog", Size: "small"})
	if err != nil {
		t.Fatal(err)
	}
	pets, err := kiosk.ProfileList(ctx, customer)
	if err != nil {
		t.Fatal(err)
	}
	if pet.ID == "" || len(pets) != 1 || pets[0].ID != pet.ID || pets[0].Name != "Dou" {
		t.Fatalf("profile %+v, list %+v", pet, pets)
	}

	b, err := kiosk.Book(ctx, device.BookRequest{Service: "dog-groom", Start: slot.Start, Customer: customer, Profile: pet.ID, Notes: "afraid of the dryer"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != device.StatusBooked || !b.Start.Equal(slot.Start) || b.Customer != customer || b.Profile != pet.ID ||
		b.By != "kiosk-1" || b.Source != "kiosk" || b.Notes != "afraid of the dryer" || b.Rev != 1 {
		t.Fatalf("book: %+v", b)
	}

	// Book the same start until every resource is taken.
	var taken *device.Error
	for i := 0; taken == nil; i++ {
		if i == 10 {
			t.Fatal("10 bookings of one start and no conflict")
		}
		_, err := kiosk.Book(ctx, device.BookRequest{Service: "dog-groom", Start: slot.Start, Customer: fmt.Sprintf("cust-other-%d", i)})
		if err == nil {
			continue
		}
		if !errors.Is(err, device.ErrConflict) || !errors.As(err, &taken) {
			t.Fatalf("booking a full start: %v", err)
		}
	}
	if taken.Reason != "taken" || len(taken.Alternatives) == 0 {
		t.Fatalf("conflict: reason %q, alternatives %v", taken.Reason, taken.Alternatives)
	}
	for _, alt := range taken.Alternatives {
		if alt.Start.Equal(slot.Start) || alt.Start.Before(s.Now()) || alt.End.Sub(alt.Start) != 90*time.Minute {
			t.Fatalf("alternative %+v for %v", alt, slot.Start)
		}
	}

	ci, err := staff.CheckIn(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Status != device.StatusCheckedIn || ci.Stage != cat.Stages[0] {
		t.Fatalf("check-in: %+v", ci)
	}

	photo := jpegPhoto(t)
	blob, err := cam.Upload(ctx, device.UploadRequest{Type: "image/jpeg", Name: "bathing.jpg", Data: photo})
	if err != nil {
		t.Fatal(err)
	}
	if blob.Width != 320 || blob.Height != 240 || blob.Thumbnail == "" {
		t.Fatalf("photo blob: %+v", blob)
	}
	pr, err := cam.Progress(ctx, device.ProgressRequest{Booking: b.ID, Stage: "bathing", Note: "in the bath", Photo: blob.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pr.Progress); pr.Stage != "bathing" || n == 0 || pr.Progress[n-1].Photo != blob.Hash || pr.Progress[n-1].By != "cam-1" {
		t.Fatalf("progress: %+v", pr)
	}

	for _, typ := range []string{"created", "checked_in", "progress"} {
		ch := changes.wait(t, "staff sees the change "+typ, func(c device.Change) bool { return c.Booking == b.ID && c.Type == typ })
		if ch.Seq == 0 || ch.Customer != customer || ch.TS.IsZero() {
			t.Fatalf("change %s: %+v", typ, ch)
		}
		if typ == "progress" && (ch.Photo != blob.Hash || ch.Stage != "bathing") {
			t.Fatalf("progress change: %+v", ch)
		}
	}
	customerChanges.wait(t, "the customer's topic has the booking", func(c device.Change) bool {
		return c.Booking == b.ID && c.Type == "created" && c.Start.Equal(slot.Start)
	})
	feed, err := staff.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(feed.Changes, func(c device.Change) bool { return c.Booking == b.ID && c.Type == "progress" }) || feed.Last == 0 {
		t.Fatalf("change feed: %+v", feed)
	}

	// The customer's conversation holds the cards and the photo; staff read it.
	h, err := staff.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: customer})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	var photoMsg *device.ChatMessage
	for i, m := range h.Messages {
		if m.From != "booking" {
			continue
		}
		if m.Kind == device.KindImage {
			photoMsg = &h.Messages[i]
			continue
		}
		var card device.Card
		if err := m.DecodeCard(&card); err != nil {
			t.Fatal(err)
		}
		events = append(events, card.Type+"/"+card.Event)
	}
	if want := []string{"booking/created", "booking/checked_in", "progress/progress"}; !slices.Equal(events, want) {
		t.Fatalf("cards in the customer's chat: %v, want %v", events, want)
	}
	if photoMsg == nil || photoMsg.Media == nil || photoMsg.Media.Hash != blob.Hash {
		t.Fatalf("progress photo in the customer's chat: %+v", photoMsg)
	}
	got, err := staff.Download(ctx, blob.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, photo) {
		t.Fatal("the downloaded photo differs from the uploaded one")
	}

	board, err := staff.Board(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(board.Bookings, func(e device.BoardEntry) bool {
		return e.ID == b.ID && e.Status == device.StatusCheckedIn && e.Profile != nil && e.Profile.Name == "Dou"
	}) {
		t.Fatalf("board: %+v", board)
	}
	atDesk, err := kiosk.GetBooking(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if atDesk.Booking.Stage != "bathing" || atDesk.Booking.Notes != "afraid of the dryer" || atDesk.Profile != nil {
		t.Fatalf("get at the kiosk: %+v", atDesk)
	}
	atStaff, err := staff.GetBooking(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if atStaff.Profile == nil || atStaff.Profile.ID != pet.ID {
		t.Fatalf("get for staff: %+v", atStaff)
	}
}

func TestUploadDownload(t *testing.T) {
	s := startStore(t, storetest.Options{})
	tablet := connect(t, config(s, "tablet-1"))
	staff := connect(t, config(s, "staff-anna"))
	ctx := ctxFor(t, 60*time.Second)

	data := noisePNG(t, 480, 480, 1)
	if len(data) <= 2*256<<10 || len(data) > 3*256<<10 {
		t.Fatalf("the test image is %d bytes, want 3 chunks", len(data))
	}
	var sent, total atomic.Int64
	blob, err := tablet.Upload(ctx, device.UploadRequest{Upload: "photo-1", Type: "image/png", Name: "dou.png", Data: data,
		Progress: func(n, of int) { sent.Add(1); total.Store(int64(of)) }})
	if err != nil {
		t.Fatal(err)
	}
	if blob.Hash != sha(data) || blob.Size != int64(len(data)) || blob.Type != "image/png" || blob.Width != 480 || blob.Thumbnail == "" {
		t.Fatalf("blob: %+v", blob)
	}
	if sent.Load() != 3 || total.Load() != 3 {
		t.Fatalf("%d of %d chunks reported sent, want 3", sent.Load(), total.Load())
	}
	st, err := tablet.UploadStatus(ctx, "photo-1")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete || st.Chunks != 3 || st.Received != 3 || len(st.Missing) != 0 || st.Hash != blob.Hash {
		t.Fatalf("status: %+v", st)
	}
	stat, err := staff.BlobStat(ctx, blob.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if stat != blob {
		t.Fatalf("stat %+v, upload answered %+v", stat, blob)
	}
	got, err := staff.Download(ctx, blob.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("staff downloaded other bytes")
	}

	// A blob nobody has sent is for staff only; once sent, members read it.
	if _, err := tablet.Download(ctx, blob.Hash); !errors.Is(err, device.ErrForbidden) {
		t.Fatalf("the tablet reading an unsent blob: %v", err)
	}
	open, err := tablet.ChatOpen(ctx, device.ChatOpenRequest{Members: []string{"staff-anna"}})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tablet.ChatSend(ctx, device.ChatSendRequest{Conversation: open.Conversation, Kind: device.KindImage,
		Media: &device.MediaRef{Hash: blob.Hash}, Text: proto.String("Dou after the bath")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := tablet.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: open.Conversation, After: msg.Seq - 1, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || h.Messages[0].Media == nil || h.Messages[0].Media.Hash != blob.Hash ||
		h.Messages[0].Media.Width != 480 || h.Messages[0].Text != "Dou after the bath" {
		t.Fatalf("image message: %+v", h.Messages)
	}
	if got, err := tablet.Download(ctx, blob.Hash); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the tablet reading the image it sent: %v", err)
	}

	// The same bytes again: the store has them, no chunk is sent.
	sent.Store(0)
	again, err := tablet.Upload(ctx, device.UploadRequest{Upload: "photo-2", Type: "image/png", Data: data,
		Progress: func(int, int) { sent.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if again.Hash != blob.Hash || sent.Load() != 0 {
		t.Fatalf("uploading stored content: %+v, %d chunks sent", again, sent.Load())
	}
}

// TestUploadResumes: an upload cut off after its first chunk is resumed by
// calling Upload again with the same upload id; only the missing chunks go.
func TestUploadResumes(t *testing.T) {
	s := startStore(t, storetest.Options{})
	tablet := connect(t, config(s, "tablet-1"))
	staff := connect(t, config(s, "staff-anna"))
	ctx := ctxFor(t, 120*time.Second)

	data := noisePNG(t, 940, 930, 2) // about 2.6 MB: 11 chunks
	cut, cancel := context.WithCancel(ctx)
	_, err := tablet.Upload(cut, device.UploadRequest{Upload: "clip-1", Type: "image/png", Data: data,
		Progress: func(int, int) { cancel() }}) // the tablet loses the customer after one chunk
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the cut upload: %v", err)
	}
	before, err := tablet.UploadStatus(ctx, "clip-1")
	if err != nil {
		t.Fatal(err)
	}
	chunks := (len(data) + 256<<10 - 1) / (256 << 10)
	if before.Complete || before.Received == 0 || before.Received >= before.Chunks || before.Chunks != chunks {
		t.Fatalf("status after the cut: %+v", before)
	}

	t.Logf("after the cut: %d of %d chunks stored", before.Received, before.Chunks)

	var sent, total atomic.Int64
	blob, err := tablet.Upload(ctx, device.UploadRequest{Upload: "clip-1", Type: "image/png", Data: data,
		Progress: func(n, of int) { sent.Add(1); total.Store(int64(of)) }})
	if err != nil {
		t.Fatal(err)
	}
	if blob.Hash != sha(data) {
		t.Fatalf("resumed blob %s, want %s", blob.Hash, sha(data))
	}
	// Chunks still in flight at the cut may have landed since: at most the
	// missing ones go.
	if sent.Load() == 0 || sent.Load() != total.Load() || int(sent.Load()) > before.Chunks-before.Received {
		t.Fatalf("the resume sent %d chunks (of %d); %d of %d were stored before", sent.Load(), total.Load(), before.Received, before.Chunks)
	}
	got, err := staff.Download(ctx, blob.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the resumed upload stored other bytes")
	}
}

func TestCameraSignals(t *testing.T) {
	s := startStore(t, storetest.Options{})
	cam := connect(t, config(s, "cam-1"))
	staff := connect(t, config(s, "staff-anna"))
	kiosk := connect(t, config(s, "kiosk-1"))
	ctx := ctxFor(t, 30*time.Second)

	type got struct {
		camera, session string
		s               device.Signal
	}
	var atCam, atStaff inbox[got]
	if err := cam.OnSignals(ctx, "cam-1", func(camera, session string, s device.Signal) { atCam.add(got{camera, session, s}) }); err != nil {
		t.Fatal(err)
	}
	if err := staff.OnSignals(ctx, "+", func(camera, session string, s device.Signal) { atStaff.add(got{camera, session, s}) }); err != nil {
		t.Fatal(err)
	}

	if err := staff.SendSignal(ctx, "cam-1", "s1", device.Signal{Type: device.SignalOffer, SDP: "v=0 offer"}); err != nil {
		t.Fatal(err)
	}
	offer := atCam.wait(t, "the camera gets the offer", func(g got) bool { return g.s.Type == device.SignalOffer })
	if offer.session != "s1" || offer.s.From != "staff-anna" || offer.s.SDP != "v=0 offer" || offer.s.V != 1 || offer.camera != "cam-1" {
		t.Fatalf("offer at the camera: %+v", offer)
	}
	if err := cam.SendSignal(ctx, "cam-1", "s1", device.Signal{Type: device.SignalAnswer, SDP: "v=0 answer"}); err != nil {
		t.Fatal(err)
	}
	mid, line := "0", uint16(0)
	if err := cam.SendSignal(ctx, "cam-1", "s1", device.Signal{Type: device.SignalCandidate,
		Candidate: &device.ICECandidate{Candidate: "candidate:1 1 udp 2122260223 192.168.1.20 50000 typ host", SDPMid: &mid, SDPMLineIndex: &line}}); err != nil {
		t.Fatal(err)
	}
	ans := atStaff.wait(t, "staff get the answer", func(g got) bool { return g.s.Type == device.SignalAnswer })
	if ans.session != "s1" || ans.s.From != "cam-1" || ans.s.SDP != "v=0 answer" || ans.camera != "cam-1" {
		t.Fatalf("answer at staff: %+v", ans)
	}
	cand := atStaff.wait(t, "staff get the candidate", func(g got) bool { return g.s.Type == device.SignalCandidate })
	if cand.s.Candidate == nil || *cand.s.Candidate.SDPMid != "0" || cand.s.Candidate.SDPMLineIndex == nil {
		t.Fatalf("candidate at staff: %+v", cand.s.Candidate)
	}
	for _, g := range atStaff.all() {
		if g.s.From == "staff-anna" {
			t.Fatalf("staff got their own signal back: %+v", g)
		}
	}

	// A kiosk has no business with cameras; a camera only with its own topics.
	err := kiosk.SendSignal(ctx, "cam-1", "s1", device.Signal{Type: device.SignalOffer, SDP: "v=0"})
	var se *device.Error
	if !errors.Is(err, device.ErrForbidden) || !errors.As(err, &se) {
		t.Fatalf("a kiosk signalling a camera: %v", err)
	}
	if err := cam.SendSignal(ctx, "cam-2", "s1", device.Signal{Type: device.SignalBye}); !errors.Is(err, device.ErrForbidden) {
		t.Fatalf("a camera signalling another camera: %v", err)
	}

	s.Stop()
	eventually(t, 5*time.Second, "the camera sees the broker gone", func() bool { return !cam.Connected() })
	if err := cam.SendSignal(ctx, "cam-1", "s1", device.Signal{Type: device.SignalBye}); !errors.Is(err, device.ErrNotConnected) {
		t.Fatalf("signalling while disconnected: %v", err)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// jpegPhoto is a 320×240 JPEG, a gradient.
func jpegPhoto(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// noisePNG is a w×h PNG of random opaque pixels: it hardly compresses, so
// it is about 3·w·h bytes.
func noisePNG(t *testing.T, w, h int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		v := r.Uint32()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(v), uint8(v>>8), uint8(v>>16), 255
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
