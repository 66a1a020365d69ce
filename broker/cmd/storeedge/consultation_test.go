package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png" // also registers the decoder for the QR code
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// svcClient is a paho v5 client that calls svc/{service}/{op} and collects
// chat events.
type svcClient struct {
	t      *testing.T
	c      *paho.Client
	nc     net.Conn
	id     string
	n      atomic.Int64
	mu     sync.Mutex
	wait   map[string]chan []byte
	events []map[string]any
}

func dialSvc(t *testing.T, addr, user, password, clientID string) *svcClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := &svcClient{t: t, nc: nc, id: clientID, wait: map[string]chan []byte{}}
	s.c = paho.NewClient(paho.ClientConfig{Conn: nc, ClientID: clientID, PacketTimeout: 10 * time.Second,
		OnClientError: func(error) {},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			s.mu.Lock()
			defer s.mu.Unlock()
			if strings.HasPrefix(p.Topic, "reply/") && p.Properties != nil {
				if ch := s.wait[string(p.Properties.CorrelationData)]; ch != nil {
					ch <- p.Payload
				}
				return true, nil
			}
			var ev map[string]any
			if json.Unmarshal(p.Payload, &ev) == nil {
				s.events = append(s.events, ev)
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := s.c.Connect(ctx, &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true,
		Username: user, UsernameFlag: true, Password: []byte(password), PasswordFlag: true})
	if err != nil {
		t.Fatalf("connect %s: %v %+v", clientID, err, ca)
	}
	t.Cleanup(func() { nc.Close() })
	s.subscribe("reply/"+clientID+"/#", true)
	return s
}

func (s *svcClient) close() { _ = s.c.Disconnect(&paho.Disconnect{}); s.nc.Close() }

// subscribe subscribes at QoS 1 and reports whether the broker granted it.
func (s *svcClient) subscribe(filter string, must bool) bool {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sa, err := s.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil && must {
		s.t.Fatalf("%s subscribe %s: %v", s.id, filter, err)
	}
	granted := err == nil && sa != nil && len(sa.Reasons) == 1 && sa.Reasons[0] < 0x80
	if must && !granted {
		s.t.Fatalf("%s subscribe %s refused: %+v", s.id, filter, sa)
	}
	return granted
}

// call sends one request and returns the decoded answer; it fails the test
// unless the answer's ok matches wantOK.
func (s *svcClient) call(op string, fields map[string]any, wantOK bool) map[string]any {
	s.t.Helper()
	n := s.n.Add(1)
	corr := fmt.Sprint(n)
	if fields == nil {
		fields = map[string]any{}
	}
	if _, ok := fields["id"]; !ok {
		fields["id"] = fmt.Sprintf("%s-%d", strings.ReplaceAll(s.id, ":", "."), n)
	}
	fields["v"] = 1
	payload, err := json.Marshal(fields)
	if err != nil {
		s.t.Fatal(err)
	}
	ch := make(chan []byte, 1)
	s.mu.Lock()
	s.wait[corr] = ch
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := s.c.Publish(ctx, &paho.Publish{Topic: "svc/" + op, QoS: 1, Payload: payload,
		Properties: &paho.PublishProperties{ResponseTopic: "reply/" + s.id + "/a", CorrelationData: []byte(corr)}}); err != nil {
		s.t.Fatalf("%s publish %s: %v", s.id, op, err)
	}
	select {
	case raw := <-ch:
		var a map[string]any
		if err := json.Unmarshal(raw, &a); err != nil {
			s.t.Fatalf("answer to %s: %v: %s", op, err, raw)
		}
		if a["ok"] != wantOK {
			s.t.Fatalf("%s %s %s: want ok=%v, got %s", s.id, op, clipStr(string(payload)), wantOK, raw)
		}
		return a
	case <-ctx.Done():
		s.t.Fatalf("%s: no answer to %s", s.id, op)
		return nil
	}
}

func clipStr(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// event waits for an event matching pred.
func (s *svcClient) event(what string, pred func(map[string]any) bool) map[string]any {
	s.t.Helper()
	var got map[string]any
	poll(s.t, s.id+": event "+what, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ev := range s.events {
			if pred(ev) {
				got = ev
				return true
			}
		}
		return false
	})
	return got
}

func num(v any) uint64 {
	f, _ := v.(float64)
	return uint64(f)
}

func isEvent(typ string, seq uint64) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		return ev["type"] == typ && (seq == 0 || num(ev["seq"]) == seq || num(ev["up_to"]) == seq)
	}
}

// history fetches every message of a conversation, page by page.
func (s *svcClient) history(conv string) (msgs []map[string]any, last map[string]any) {
	s.t.Helper()
	after := uint64(0)
	for {
		a := s.call("chat/history", map[string]any{"conversation": conv, "after": after, "limit": 2}, true)
		for _, m := range a["messages"].([]any) {
			msgs = append(msgs, m.(map[string]any))
		}
		after, last = num(a["next"]), a
		if a["more"] != true {
			return msgs, last
		}
	}
}

// openFAQ writes faq.yaml with the store open around the clock, so the test
// does not depend on the time of day it runs at.
func openFAQ(t *testing.T, dir string) string {
	t.Helper()
	y := regexp.MustCompile(`\["\d\d:\d\d-\d\d:\d\d"\]`).ReplaceAll(configs.FAQ, []byte(`["00:00-24:00"]`))
	y = regexp.MustCompile(`(?m)^    - \{date: .*\}\n`).ReplaceAll(y, nil)
	y = bytes.Replace(y, []byte("  closed:\n"), []byte("  closed: []\n"), 1)
	p := filepath.Join(dir, "faq.yaml")
	if err := os.WriteFile(p, y, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testPhoto is a small PNG a customer might send (a rash, a matted coat).
func testPhoto(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	for y := range 300 {
		for x := range 400 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// redeem posts a scan-to-chat token as the customer page does.
func redeem(t *testing.T, httpAddr, token string) (*http.Response, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"token": token})
	resp, err := http.Post("http://"+httpAddr+"/chat/redeem", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("redeem answer: %v", err)
	}
	return resp, out
}

// observer runs mosquitto_sub (MQTT 5, persistent session) on every chat
// event, as a staff device; it reconnects by itself across a broker restart.
type observer struct {
	mu     sync.Mutex
	lines  []string
	stderr bytes.Buffer // written by exec's copier: under mu
}

func (o *observer) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stderr.Write(b)
}

func (o *observer) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return fmt.Sprintf("%d lines:\n%s\nstderr: %s", len(o.lines), strings.Join(o.lines, "\n"), o.stderr.String())
}

func (o *observer) seen(pred func(topic, payload string) bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range o.lines {
		topic, payload, _ := strings.Cut(l, " ")
		if pred(topic, payload) {
			return true
		}
	}
	return false
}

func startObserver(t *testing.T, addr string, d device) *observer {
	t.Helper()
	bin := needTool(t, "mosquitto_sub", "mosquitto-clients")
	host, port, _ := net.SplitHostPort(addr)
	// mosquitto_sub block-buffers stdout into a pipe: stdbuf makes it
	// hand over each line as it arrives.
	stdbuf := needTool(t, "stdbuf", "coreutils")
	cmd := exec.Command(stdbuf, "-oL", bin, "-V", "5", "-h", host, "-p", port, "-u", d.id, "-P", d.password,
		"-i", d.id+":observer", "-c", "-x", "3600", "-q", "1", "-v", "-d", "-t", "chat/+/events")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{}
	cmd.Stderr = o
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			o.mu.Lock()
			o.lines = append(o.lines, sc.Text())
			o.mu.Unlock()
		}
	}()
	return o
}

// TestConsultation holds a whole consultation against the daemon: a chat
// tablet shows a scan-to-chat QR code, the customer's phone redeems it and
// chats (an FAQ question answered automatically, a photo, "转人工"), the
// broker restarts (kill -9) in the middle, a consultant takes over from the
// waiting queue and answers, receipts flow both ways, the consultant recalls
// a message, and the customer's second device syncs the same history. A
// mosquitto_sub observer sees the events, and no event carries a body.
func TestConsultation(t *testing.T) {
	tablet := device{"tablet-01", "chat-tablet", "tablet-pass-01"}
	consultant := device{"staff-mei", "staff", "mei-pass-01"}
	obs := device{"staff-obs", "staff", "obs-pass-01"}
	dir := t.TempDir()
	opts := testbroker.Options{Dir: dir, TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t),
		Devices: registry(t, tablet, consultant, obs)}
	opts.Extra = fmt.Sprintf("chat:\n  public_url: http://%s/chat\n  faq_file: %q\n", opts.HTTP, openFAQ(t, dir))
	p := testbroker.Start(t, opts)
	watch := startObserver(t, opts.TCP, obs)
	// Events published before the observer subscribed are not for it: start
	// once it has its SUBACK (mosquitto_sub -d prints it).
	if !pollOK(func() bool { return strings.Contains(watch.String(), "received SUBACK") }) {
		_ = p.Signal(syscall.SIGQUIT) // the goroutine dump goes to the log
		_, _ = p.Wait(5 * time.Second)
		t.Fatalf("mosquitto_sub did not subscribe: %s\nbroker log: %s", watch, p.Log())
	}

	// The chat tablet asks for a session: a one-time URL and its QR code.
	tab := dialSvc(t, opts.TCP, tablet.id, tablet.password, tablet.id)
	sess := tab.call("chat/session", nil, true)
	url, _ := sess["url"].(string)
	custID, _ := sess["customer"].(string)
	if !strings.HasPrefix(url, "http://"+opts.HTTP+"/chat?t=") || !strings.HasPrefix(custID, "cust-") || sess["conversation"] != custID {
		t.Fatalf("session: %v", sess)
	}
	qrPNG, err := base64.StdEncoding.DecodeString(sess["qr_png"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, qrPNG); got != url {
		t.Fatalf("QR code says %q, want %q", got, url)
	}
	token := strings.TrimPrefix(url, "http://"+opts.HTTP+"/chat?t=")

	// The phone redeems the token once; a replay is refused.
	resp, login := redeem(t, opts.HTTP, token)
	if resp.StatusCode != 200 || login["username"] != custID {
		t.Fatalf("redeem: %d %v", resp.StatusCode, login)
	}
	if resp, again := redeem(t, opts.HTTP, token); resp.StatusCode != http.StatusGone {
		t.Fatalf("replayed token: %d %v", resp.StatusCode, again)
	}
	password := login["password"].(string)

	phone := dialSvc(t, opts.TCP, custID, password, custID+":phone")
	o := phone.call("chat/open", nil, true)
	if o["conversation"] != custID || o["new"] != true || o["assistant"] != true {
		t.Fatalf("open: %v", o)
	}
	// Events of one's own conversation only (membership is checked by the ACL).
	phone.subscribe("chat/"+custID+"/events", true)
	if phone.subscribe("chat/+/events", false) || phone.subscribe("chat/someone-else/events", false) {
		t.Fatal("a customer may subscribe only to their own conversation's events")
	}
	conv := custID

	// An FAQ question is answered at once, marked automatic.
	q := "你们几点开门？周末营业吗"
	s1 := phone.call("chat/send", map[string]any{"conversation": conv, "kind": "text", "text": q}, true)
	if num(s1["seq"]) != 1 {
		t.Fatalf("send: %v", s1)
	}
	auto := phone.event("automatic answer", func(ev map[string]any) bool { return ev["type"] == "message" && ev["auto"] == true })
	if num(auto["seq"]) != 2 || auto["from"] != "assistant" {
		t.Fatalf("automatic answer event: %v", auto)
	}

	// A photo: chunked upload through svc/media, then an image message.
	photo := testPhoto(t)
	sum := sha256.Sum256(photo)
	hash := hex.EncodeToString(sum[:])
	b := phone.call("media/begin", map[string]any{"upload": "photo-1", "type": "image/png", "size": len(photo), "sha256": hash}, true)
	chunk := int(num(b["chunk_bytes"]))
	for i := 0; i*chunk < len(photo); i++ {
		part := photo[i*chunk : min(len(photo), (i+1)*chunk)]
		phone.call("media/chunk", map[string]any{"upload": "photo-1", "index": i, "data": base64.StdEncoding.EncodeToString(part)}, true)
	}
	done := phone.call("media/complete", map[string]any{"upload": "photo-1"}, true)
	if done["hash"] != hash {
		t.Fatalf("complete: %v", done)
	}
	s3 := phone.call("chat/send", map[string]any{"conversation": conv, "kind": "image", "media": map[string]any{"hash": hash}, "text": "宝宝脸上起了红疹"}, true)
	if num(s3["seq"]) != 3 {
		t.Fatalf("photo send: %v", s3)
	}

	// Transfer to a human.
	s4 := phone.call("chat/send", map[string]any{"conversation": conv, "kind": "text", "text": "转人工"}, true)
	if num(s4["seq"]) != 4 {
		t.Fatalf("handoff send: %v", s4)
	}
	phone.event("waiting", isEvent("waiting", 0))
	phone.event("handoff reply", func(ev map[string]any) bool {
		return ev["type"] == "message" && num(ev["seq"]) == 5 && ev["auto"] == true
	})

	// The broker dies in the middle of the consultation and comes back.
	p.Kill()
	p = testbroker.Start(t, opts)
	phone.close()
	tab.close()
	tab = dialSvc(t, opts.TCP, tablet.id, tablet.password, tablet.id)
	phone = dialSvc(t, opts.TCP, custID, password, custID+":phone")
	phone.subscribe("chat/"+custID+"/events", true)

	// A consultant takes the conversation from the waiting queue.
	mei := dialSvc(t, opts.TCP, consultant.id, consultant.password, consultant.id)
	w := mei.call("chat/waiting", nil, true)
	queue, _ := w["conversations"].([]any)
	if len(queue) != 1 || queue[0].(map[string]any)["conversation"] != conv {
		t.Fatalf("waiting queue: %v", w)
	}
	mei.call("chat/assign", map[string]any{"conversation": conv, "staff": consultant.id}, true)
	mei.subscribe("chat/"+conv+"/events", true)
	msgs, _ := mei.history(conv)
	if len(msgs) != 5 || msgs[0]["text"] != q || msgs[1]["auto"] != true || msgs[3]["text"] != "转人工" {
		t.Fatalf("consultant's history: %v", msgs)
	}
	media, _ := msgs[2]["media"].(map[string]any)
	if msgs[2]["kind"] != "image" || media["hash"] != hash || num(media["width"]) != 400 || media["thumbnail"] == "" {
		t.Fatalf("photo message: %v", msgs[2])
	}
	got := mei.call("media/get", map[string]any{"hash": hash, "offset": 0, "length": len(photo)}, true)
	if data, _ := base64.StdEncoding.DecodeString(got["data"].(string)); !bytes.Equal(data, photo) {
		t.Fatalf("the consultant's copy of the photo differs (%d bytes)", len(data))
	}

	// The consultant answers; the phone gets it, confirms delivery, reads.
	s6 := mei.call("chat/send", map[string]any{"conversation": conv, "kind": "text", "text": "您好，我是美美。红疹范围大吗？有没有发烧？"}, true)
	if num(s6["seq"]) != 6 {
		t.Fatalf("consultant send: %v", s6)
	}
	phone.event("consultant's message", isEvent("message", 6))
	phone.call("chat/delivered", map[string]any{"conversation": conv, "up_to": 6}, true)
	mei.event("delivered receipt", isEvent("delivered", 6))
	phone.call("chat/read", map[string]any{"conversation": conv, "up_to": 6}, true)
	mei.event("read receipt", isEvent("read", 6))
	if w := mei.call("chat/waiting", nil, true); len(w["conversations"].([]any)) != 0 {
		t.Fatalf("answered conversation still waiting: %v", w)
	}

	// A message sent by mistake is recalled.
	wrong := "（发错了）下午三点的美容预约已确认"
	s7 := mei.call("chat/send", map[string]any{"conversation": conv, "kind": "text", "text": wrong}, true)
	mei.call("chat/recall", map[string]any{"conversation": conv, "seq": s7["seq"]}, true)
	phone.event("recall", isEvent("recall", num(s7["seq"])))
	phone.call("chat/read", map[string]any{"conversation": conv, "up_to": 7}, true)

	// The customer's second device: she confirms the tablet's presence code
	// from her phone, then the tablet makes a new code for her.
	code := tab.call("chat/presence_start", nil, true)
	phone.call("chat/presence_confirm", map[string]any{"code": code["code"]}, true)
	sess2 := tab.call("chat/session", map[string]any{"customer": custID}, true)
	resp, login2 := redeem(t, opts.HTTP, strings.TrimPrefix(sess2["url"].(string), "http://"+opts.HTTP+"/chat?t="))
	if resp.StatusCode != 200 || login2["username"] != custID {
		t.Fatalf("second redeem: %d %v", resp.StatusCode, login2)
	}
	pad := dialSvc(t, opts.TCP, custID, login2["password"].(string), custID+":tablet")
	onPhone, lastPhone := phone.history(conv)
	onPad, lastPad := pad.history(conv)
	a, _ := json.Marshal(onPhone)
	bb, _ := json.Marshal(onPad)
	if !bytes.Equal(a, bb) || len(onPad) != 7 {
		t.Fatalf("devices disagree:\nphone %s\npad   %s", a, bb)
	}
	if onPad[6]["recalled"] == nil || onPad[6]["text"] != nil {
		t.Fatalf("recalled message on the second device: %v", onPad[6])
	}
	if num(lastPad["read_up_to"]) != 7 || num(lastPad["unread"]) != 0 || num(lastPhone["read_up_to"]) != 7 {
		t.Fatalf("receipts differ between devices: %v / %v", lastPhone, lastPad)
	}

	// The observer (mosquitto_sub, across the restart) saw the consultation's
	// events — and never a message body.
	for _, want := range []struct{ what, typ string }{{"message", `"type":"message"`}, {"waiting", `"type":"waiting"`},
		{"delivered", `"type":"delivered"`}, {"read", `"type":"read"`}, {"recall", `"type":"recall"`}} {
		if !pollOK(func() bool {
			return watch.seen(func(topic, payload string) bool {
				return topic == "chat/"+conv+"/events" && strings.Contains(payload, want.typ)
			})
		}) {
			t.Fatalf("observer did not see a %s event; it saw %s", want.what, watch)
		}
	}
	if watch.seen(func(_, payload string) bool {
		return strings.Contains(payload, "红疹") || strings.Contains(payload, "几点开门") || strings.Contains(payload, "发错了")
	}) {
		t.Fatal("an event carried a message body")
	}

	// Nothing of what was said is readable in the database file.
	p.Kill()
	raw, err := os.ReadFile(filepath.Join(dir, "data", "storeedge.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{q, "宝宝脸上起了红疹", "红疹范围大吗", wrong, password} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("%q is readable in the database file", s)
		}
	}
	if bytes.Contains(raw, photo[100:400]) {
		t.Fatal("the photo is readable in the database file")
	}
}

// pollOK polls cond until it holds or 10 s pass.
func pollOK(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("QR code is not an image: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		// gozxing's finder-pattern search misses about 3 in 1 000 clean
		// rendered codes (random tokens); read as a pure code, every one of
		// those decodes.
		res, err = qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil {
		t.Fatalf("QR code does not decode: %v", err)
	}
	return res.GetText()
}
