package home

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// While the store is offline (and closed: 03:00 in Shanghai) she is told so
// at once, with the store's FAQ answer to her question, and her message
// goes down with that answer for the store to file after hers.
func TestOfflineAnswer(t *testing.T) {
	e := start(t, Config{})
	e.clock.Set(time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)) // 03:00 Tuesday in Shanghai
	e.shop(t, "s-a")
	e.status(t, "s-a", false)
	tok := e.signIn(t, "s-a", "cust-1")

	start := time.Now()
	var ans struct {
		Message Msg
		Auto    []Msg
	}
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-night-1", "kind": "text", "text": "My baby won't stop crying"}, 200, &ans)
	d := time.Since(start)
	if d > 2*time.Second {
		t.Fatalf("HQ took %v to answer while the store is offline", d)
	}
	t.Logf("HQ answered for the offline store in %v (stored, published, FAQ matched)", d.Round(100*time.Microsecond))
	if ans.Message.Key != "p:m-night-1" || ans.Message.State != "sending" || ans.Message.From != "me" {
		t.Fatalf("her message: %+v", ans.Message)
	}
	if len(ans.Auto) != 1 || ans.Auto[0].Via != "hq" || !ans.Auto[0].Auto || ans.Auto[0].From != "assistant" {
		t.Fatalf("HQ's answer: %+v", ans.Auto)
	}
	text := *ans.Auto[0].Text
	if !strings.Contains(text, "closed") || !strings.Contains(text, "09:30") || !strings.Contains(text, "will reach the store") ||
		!strings.Contains(strings.ToLower(text), "hungry") {
		t.Fatalf("HQ's answer does not say the store is closed, when it opens, and the FAQ's care steps: %q", text)
	}

	// Down to the store: her message with HQ's answer.
	got := e.down.wait(t, "/down/chat/message", 1)
	if got[0].Topic != "stores/s-a/down/chat/message" || got[0].ID != "m-night-1" {
		t.Fatalf("down: %+v", got[0])
	}
	var m proto.HQChatMessage
	if err := json.Unmarshal(got[0].Payload, &m); err != nil {
		t.Fatal(err)
	}
	if m.Customer != "cust-1" || m.Kind != "text" || *m.Text != "My baby won't stop crying" || m.Sent == nil ||
		m.AutoReply == nil || m.AutoReply.Reason != "closed" || m.AutoReply.Intent != "crying_baby" || m.AutoReply.Text != text {
		t.Fatalf("down message: %s", got[0].Payload)
	}

	// In Chinese: the notice and the FAQ's answer in Chinese.
	var zh struct{ Auto []Msg }
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-night-zh", "kind": "text", "text": "宝宝一直哭怎么办"}, 200, &zh)
	if len(zh.Auto) != 1 || !strings.Contains(*zh.Auto[0].Text, "门店现在休息") || !strings.Contains(*zh.Auto[0].Text, "拍嗝") {
		t.Fatalf("HQ's answer in Chinese: %+v", zh.Auto)
	}
	e.exec(t, `DELETE FROM home_messages WHERE id = 'm-night-zh'`) // keep the rest of the story to one message

	// The same message again (a retry): the same answer, nothing new stored.
	var again struct {
		Message Msg
		Auto    []Msg
	}
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-night-1", "kind": "text", "text": "My baby won't stop crying"}, 200, &again)
	if again.Message.ID != "m-night-1" || len(again.Auto) != 1 || *again.Auto[0].Text != text {
		t.Fatalf("the retry: %+v", again)
	}
	var v viewJSON
	e.call(t, "GET", "/messages", tok, nil, 200, &v)
	if len(v.Messages) != 2 || v.Store.Online || v.Store.Open || v.Store.NextOpen == nil {
		t.Fatalf("her view while the store is away: %+v", v)
	}

	// The store comes back and files hers and the answer: the page shows
	// the store's copies (s: keys), delivered, the answer still marked HQ's.
	e.clock.Add(6 * time.Hour)
	e.status(t, "s-a", true)
	e.chat(t, "s-a", "cust-1", 1, "m-night-1", "cust-1", "My baby won't stop crying", false)
	e.chat(t, "s-a", "cust-1", 2, "m-night-1.auto", "assistant", text, true)
	e.call(t, "GET", "/messages", tok, nil, 200, &v)
	if len(v.Messages) != 2 || v.Messages[0].Key != "s:1" || v.Messages[0].ID != "m-night-1" || v.Messages[0].State != "delivered" ||
		v.Messages[1].Key != "s:2" || v.Messages[1].Via != "hq" {
		t.Fatalf("her view once the store has it: %+v", v.Messages)
	}
	// Staff read it: read.
	e.send(t, "s-a", "chat/cust-1/hq", proto.HQChatEntry{V: 1, Type: "read", Origin: "cust-1/read/staff-anna/2", Conversation: "cust-1",
		Customer: "cust-1", Member: "staff-anna", UpTo: 2, TS: e.clock.Now()})
	e.call(t, "GET", "/messages", tok, nil, 200, &v)
	if v.Messages[0].State != "read" {
		t.Fatalf("after staff read it: %+v", v.Messages[0])
	}
}

// While the store is online it answers itself: HQ sends her message with
// no answer of its own, and adds one only when the store's copy does not
// come back within reply_wait.
func TestOnlineStoreAnswersItself(t *testing.T) {
	e := start(t, Config{ReplyWait: 500 * time.Millisecond})
	e.shop(t, "s-a")
	e.status(t, "s-a", true)
	tok := e.signIn(t, "s-a", "cust-1")

	// The store files it within the wait (as its link would).
	go func() {
		e.down.wait(t, "/down/chat/message", 1)
		e.chat(t, "s-a", "cust-1", 1, "m-1", "cust-1", "What are your opening hours?", false)
	}()
	var ans struct {
		Message Msg
		Auto    []Msg
	}
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-1", "kind": "text", "text": "What are your opening hours?"}, 200, &ans)
	if ans.Message.Key != "s:1" || ans.Message.State != "delivered" || len(ans.Auto) != 0 {
		t.Fatalf("an online store's message: %+v", ans)
	}
	var m proto.HQChatMessage
	_ = json.Unmarshal(e.down.wait(t, "/down/chat/message", 1)[0].Payload, &m)
	if m.AutoReply != nil {
		t.Fatalf("HQ answered for an online store: %+v", m.AutoReply)
	}

	// Online by its status, but the message does not come back: HQ answers.
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-2", "kind": "text", "text": "hello?"}, 200, &ans)
	if ans.Message.State != "sending" || len(ans.Auto) != 1 || ans.Auto[0].Via != "hq" || !strings.Contains(*ans.Auto[0].Text, "offline") {
		t.Fatalf("no copy within reply_wait: %+v", ans)
	}
}

// A long-poll answers at once when her view changed, else waits and wakes
// as soon as a staff reply reaches the replica (applied anywhere: the
// database's notification).
func TestLongPollWakes(t *testing.T) {
	e := start(t, Config{})
	e.shop(t, "s-a")
	e.status(t, "s-a", true)
	tok := e.signIn(t, "s-a", "cust-1")
	e.chat(t, "s-a", "cust-1", 1, "m-1", "cust-1", "hi", false)
	var v viewJSON
	e.call(t, "GET", "/messages?since=&wait=20", tok, nil, 200, &v)
	if len(v.Messages) != 1 || v.Version == "" {
		t.Fatalf("first view: %+v", v)
	}
	done := make(chan viewJSON, 1)
	began := time.Now()
	go func() {
		var w viewJSON
		e.call(t, "GET", "/messages?since="+v.Version+"&wait=20", tok, nil, 200, &w)
		done <- w
	}()
	select {
	case w := <-done:
		t.Fatalf("the long-poll answered with nothing new: %+v", w)
	case <-time.After(300 * time.Millisecond): // it is waiting
	}
	applied := time.Now()
	e.chat(t, "s-a", "cust-1", 2, "m-2", "staff-anna", "Hello Lin, how can I help?", false)
	select {
	case w := <-done:
		t.Logf("woken %v after the staff reply was applied", time.Since(applied).Round(100*time.Microsecond))
		if len(w.Messages) != 2 || w.Messages[1].From != "staff" || w.Messages[1].Sender != "Anna" || w.Version == v.Version {
			t.Fatalf("woken view: %+v", w)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Fatalf("woken after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long-poll did not wake on a staff reply")
	}
	// The database connection it listens on is cut: it listens again, and
	// a long-poll still wakes on the next reply.
	var pid int
	if err := e.rep.Pool().QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN hq_messages'`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `SELECT pg_terminate_backend($1)`, pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := e.rep.Pool().QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN hq_messages' AND pid <> $1`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 && e.srv.Listening() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("it does not listen again after its connection was cut")
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	e.call(t, "GET", "/messages", tok, nil, 200, &v)
	go func() {
		var w viewJSON
		e.call(t, "GET", "/messages?since="+v.Version+"&wait=20", tok, nil, 200, &w)
		done <- w
	}()
	e.waiting(t, "s-a", "cust-1")
	e.chat(t, "s-a", "cust-1", 3, "m-3", "staff-anna", "Still there?", false)
	select {
	case w := <-done:
		if len(w.Messages) != 3 {
			t.Fatalf("after the reconnect: %+v", w.Messages)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long-poll did not wake after the reconnect")
	}

	// wait is bounded: an unchanged view comes back after the wait.
	began = time.Now()
	e.call(t, "GET", "/messages?since=nothing-changed&wait=1", tok, nil, 200, &v)
	e.call(t, "GET", "/messages?since="+v.Version+"&wait=1", tok, nil, 200, &v)
	if d := time.Since(began); d < time.Second || d > 5*time.Second {
		t.Fatalf("an unchanged view after %v", d)
	}
}

// Photos and voice notes: at most max_media_bytes (413), sent down before
// the message that names them; a blob of her conversation that HQ lacks is
// asked of the store (202).
func TestMedia(t *testing.T) {
	e := start(t, Config{MaxMedia: 2048, ReplyWait: time.Millisecond})
	e.status(t, "s-a", true)
	tok := e.signIn(t, "s-a", "cust-1")
	b := e.call(t, "POST", "/media", tok, rawBody{"image/jpeg", make([]byte, 2049)}, 413, nil)
	if errCode(b) != "too_large" {
		t.Fatalf("too large: %s", b)
	}
	e.call(t, "POST", "/media", tok, rawBody{"text/html", []byte("<script>")}, 400, nil)
	photo := []byte("\xff\xd8\xff a small photo")
	var up struct {
		Hash, Type string
		Size       int
	}
	e.call(t, "POST", "/media", tok, rawBody{"image/jpeg", photo}, 200, &up)
	if len(up.Hash) != 64 || up.Type != "image/jpeg" || up.Size != len(photo) {
		t.Fatalf("upload: %+v", up)
	}
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-photo", "kind": "voice",
		"media": map[string]any{"hash": up.Hash}}, 400, nil)
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-photo", "kind": "image",
		"media": map[string]any{"hash": up.Hash, "type": "image/gif", "size": 1, "width": 40, "height": 30}}, 200, nil)
	all := e.down.wait(t, "", 2)
	if !strings.HasSuffix(all[0].Topic, "/down/media/put") || !strings.HasSuffix(all[1].Topic, "/down/chat/message") {
		t.Fatalf("order down: %s then %s", all[0].Topic, all[1].Topic)
	}
	var put proto.HQMediaPut
	var msg proto.HQChatMessage
	_ = json.Unmarshal(all[0].Payload, &put)
	_ = json.Unmarshal(all[1].Payload, &msg)
	if put.Hash != up.Hash || string(put.Data) != string(photo) || put.Customer != "cust-1" || put.Type != "image/jpeg" ||
		msg.Media == nil || msg.Media.Hash != up.Hash || msg.Media.Type != "image/jpeg" || msg.Media.Size != int64(len(photo)) || msg.Media.Width != 40 {
		t.Fatalf("down: %+v %+v", put, msg)
	}
	got := e.call(t, "GET", "/media/"+up.Hash, tok, nil, 200, nil)
	if string(got) != string(photo) {
		t.Fatalf("her photo back: %q", got)
	}
	// Staff's photo in her conversation, not at HQ yet: asked for.
	staffHash := strings.Repeat("ab", 32)
	e.send(t, "s-a", "chat/cust-1/hq", proto.HQChatEntry{V: 1, Type: "message", Origin: "cust-1/1", Conversation: "cust-1",
		Customer: "cust-1", Seq: 1, ID: "s-1", From: "staff-anna", Kind: "image", TS: e.clock.Now(),
		Media: &proto.MediaInfo{Hash: staffHash, Type: "image/jpeg", Size: 10}})
	var pending struct{ Pending bool }
	e.call(t, "GET", "/media/"+staffHash, tok, nil, 202, &pending)
	if !pending.Pending {
		t.Fatal("not pending")
	}
	g := e.down.wait(t, "/down/media/get", 1)
	var mg proto.MediaGet
	_ = json.Unmarshal(g[0].Payload, &mg)
	if mg.Hash != staffHash || g[0].Topic != "stores/s-a/down/media/get" {
		t.Fatalf("media get: %+v", g[0])
	}
	// The store's blobs, once at HQ, are served; one that is not a
	// picture or a sound is only a download, never a page on HQ's origin.
	page := []byte("<script>alert(1)</script>")
	sum := sha256.Sum256(page)
	pageHash := hex.EncodeToString(sum[:])
	e.send(t, "s-a", "chat/cust-1/hq", proto.HQChatEntry{V: 1, Type: "message", Origin: "cust-1/2", Conversation: "cust-1",
		Customer: "cust-1", Seq: 2, ID: "s-2", From: "staff-anna", Kind: "file", TS: e.clock.Now(),
		Media: &proto.MediaInfo{Hash: pageHash, Type: "text/html", Size: int64(len(page))}})
	if err := e.send(t, "s-a", proto.TopicMediaPrefix+pageHash, proto.MediaBlob{V: 1, Hash: pageHash, Mime: "text/html", Size: int64(len(page)), Data: page}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.web.URL+"/home/api/v1/media/"+pageHash, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != string(page) || res.Header.Get("Content-Type") != "application/octet-stream" ||
		res.Header.Get("Content-Disposition") != "attachment" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("the store's html blob: %d %v", res.StatusCode, res.Header)
	}

	// Another hash: not hers, not in her conversation.
	e.call(t, "GET", "/media/"+strings.Repeat("cd", 32), tok, nil, 404, nil)
}

// A message can be taken back within recall_window only; the recall goes
// down to the store.
func TestRecallWindow(t *testing.T) {
	e := start(t, Config{MessagesPerMinute: 3})
	e.status(t, "s-a", false)
	tok := e.signIn(t, "s-a", "cust-1")
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-1", "kind": "text", "text": "oops"}, 200, nil)
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-2", "kind": "text", "text": "keep"}, 200, nil)
	e.clock.Add(90 * time.Second)
	var ans struct{ Message Msg }
	e.call(t, "POST", "/messages/m-1/recall", tok, nil, 200, &ans)
	if !ans.Message.Recalled || ans.Message.Text != nil {
		t.Fatalf("recalled: %+v", ans.Message)
	}
	g := e.down.wait(t, "/down/chat/recall", 1)
	var rc proto.HQChatRecall
	_ = json.Unmarshal(g[0].Payload, &rc)
	if rc.Message != "m-1" || rc.Customer != "cust-1" || g[0].ID != rc.ID {
		t.Fatalf("recall down: %+v", g[0])
	}
	e.clock.Add(31 * time.Second)
	if c := errCode(e.call(t, "POST", "/messages/m-2/recall", tok, nil, 409, nil)); c != "conflict" {
		t.Fatalf("late recall: %s", c)
	}
	// Read receipts go down with her store id.
	e.call(t, "POST", "/read", tok, map[string]any{"up_to": 7}, 204, nil)
	var rd proto.HQChatRead
	_ = json.Unmarshal(e.down.wait(t, "/down/chat/read", 1)[0].Payload, &rd)
	if rd.Customer != "cust-1" || rd.UpTo != 7 {
		t.Fatalf("read down: %+v", rd)
	}
	// Limits: too long; too many (3 a minute here), said with retry_after.
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-long", "kind": "text", "text": strings.Repeat("x", 4097)}, 413, nil)
	for _, id := range []string{"m-3", "m-5", "m-6"} { // the earlier ones are over a minute old
		e.call(t, "POST", "/messages", tok, map[string]any{"id": id, "kind": "text", "text": "more"}, 200, nil)
	}
	b := e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-4", "kind": "text", "text": "four"}, 429, nil)
	if errCode(b) != "quota_exceeded" || !strings.Contains(string(b), `"retry_after":`) {
		t.Fatalf("the 4th message in a minute: %s", b)
	}
	e.clock.Add(time.Minute)
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-4", "kind": "text", "text": "four"}, 200, nil)
}

// While HQ's broker cannot take her messages the page is told so (503)
// and HQ keeps them; once the broker is back HQ sends them by itself, in
// the order she sent them.
func TestBrokerDown(t *testing.T) {
	e := start(t, Config{PublishTimeout: 300 * time.Millisecond, ResendEvery: 200 * time.Millisecond})
	e.status(t, "s-a", false)
	tok := e.signIn(t, "s-a", "cust-1")
	e.broker.Stop()
	for i, text := range []string{"are you there?", "hello?"} {
		b := e.call(t, "POST", "/messages", tok, map[string]any{"id": fmt.Sprintf("m-%d", i+1), "kind": "text", "text": text}, 503, nil)
		if errCode(b) != "unavailable" {
			t.Fatalf("with the broker down: %s", b)
		}
		e.clock.Add(time.Second)
	}
	var v viewJSON
	e.call(t, "GET", "/messages", tok, nil, 200, &v)
	if len(v.Messages) != 4 || v.Messages[0].ID != "m-1" || v.Messages[0].State != "sending" || v.Messages[2].ID != "m-2" {
		t.Fatalf("kept: %+v", v.Messages)
	}
	e.broker.Restart(t)
	down := listenDown(t, e.broker.Addr)
	// QoS 1 is at least once: a publish that timed out while the client
	// reconnected may still arrive beside its resend, and the store takes
	// each id once (TestHQConversation in broker/services/chat). What the
	// store sees is the ids in order of first arrival.
	got := down.waitIDs(t, "/down/chat/message", 2)
	if got[0] != "m-1" || got[1] != "m-2" {
		t.Fatalf("sent again: %v", got)
	}
	// Marked sent once taken: a later message follows them and they are not
	// sent again after it.
	e.call(t, "POST", "/messages", tok, map[string]any{"id": "m-3", "kind": "text", "text": "third"}, 200, nil)
	got = down.waitIDs(t, "/down/chat/message", 3)
	if len(got) != 3 || got[2] != "m-3" {
		t.Fatalf("after the broker came back: %v", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := e.srv.o.Pool.QueryRow(t.Context(), `SELECT count(*) FROM home_messages WHERE published_at IS NULL`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still wait to be sent again after HQ's broker took them", waiting)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// When the server stops (SIGTERM), waiting long-polls answer at once, so
// the HTTP server's shutdown does not wait out their 25 s.
func TestLongPollEndsOnStop(t *testing.T) {
	e := start(t, Config{})
	tok := e.signIn(t, "s-a", "cust-1")
	var v viewJSON
	e.call(t, "GET", "/messages", tok, nil, 200, &v)
	done := make(chan time.Duration, 1)
	go func() {
		began := time.Now()
		e.call(t, "GET", "/messages?since="+v.Version+"&wait=25", tok, nil, 200, nil)
		done <- time.Since(began)
	}()
	e.waiting(t, "s-a", "cust-1")
	e.stopRun()
	select {
	case d := <-done:
		if d > 5*time.Second {
			t.Fatalf("answered %v after the stop", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a long-poll still waits after the server stopped")
	}
}

// One customer may keep max_waits_per_customer long-polls waiting; one more
// is refused (429), not queued.
func TestLongPollsPerCustomer(t *testing.T) {
	e := start(t, Config{MaxWaitsPerCustomer: 2})
	tok := e.signIn(t, "s-a", "cust-1")
	other := e.signIn(t, "s-a", "cust-2")
	var me struct{ Customer customerJSON }
	e.call(t, "GET", "/me", tok, nil, 200, &me)
	var v viewJSON
	e.call(t, "GET", "/messages", tok, nil, 200, &v)
	done := make(chan struct{}, 2)
	for i := 0; i < 2; i++ {
		go func() {
			e.call(t, "GET", "/messages?since="+v.Version+"&wait=25", tok, nil, 200, nil)
			done <- struct{}{}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.srv.waitMu.Lock()
		n := e.srv.polls[me.Customer.ID]
		e.srv.waitMu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d long-polls wait, want 2", n)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	b := e.call(t, "GET", "/messages?since="+v.Version+"&wait=25", tok, nil, 429, nil)
	if errCode(b) != "quota_exceeded" {
		t.Fatalf("a third long-poll: %s", b)
	}
	e.call(t, "GET", "/messages?since="+v.Version, tok, nil, 200, nil) // no wait: answered
	e.call(t, "GET", "/messages?wait=1", other, nil, 200, nil)         // another customer: her own count
	e.chat(t, "s-a", "cust-1", 1, "m-1", "staff-anna", "hello", false)
	<-done
	<-done
	e.call(t, "GET", "/messages?since=x&wait=25", tok, nil, 200, nil)
}
