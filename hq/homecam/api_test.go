package homecam_test

// The live view's API at home against a real PostgreSQL and a real HQ
// broker (mosquitto), without a store: what she may see and ask, the
// store's answer as the replica applies it, and what happens without one.

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/pion/turn/v5"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/hq/homecam"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/internal/testkit/turntest"
	"github.com/storeedge/storeedge/proto"
)

const offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"

type apiRig struct {
	url       string
	customers map[string]home.Customer
	cmu       sync.Mutex
	mu        sync.Mutex
	down      []string // topics HQ sent down to store s1
	rep       *replica.Replica
	turn      *turntest.Server
	her       home.Customer
}

func startAPI(t *testing.T) *apiRig {
	t.Helper()
	ctx := context.Background()
	rep, err := replica.Open(ctx, pgtest.Start(t).URL, replica.Options{Keys: testKeys(t), Handlers: homecam.Handlers(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rep.Close)
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pub, err := downlink.NewMQTTPublisher(ctx, downlink.MQTTOptions{URL: "mqtt://" + mq.Addr, ClientID: "hq-api-down", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	a := &apiRig{rep: rep, turn: turntest.Start(t, turntest.Options{}),
		her: home.Customer{ID: "hc-00000000000000aa", Store: "s1", Customer: "cust-her", Login: "hl-1"}}
	for _, q := range []string{
		`INSERT INTO stores (store, name, online) VALUES ('s1', 'Paws', true), ('s2', 'Offline', false)`,
		`INSERT INTO home_customers (id, store, customer) VALUES ('hc-00000000000000aa', 's1', 'cust-her'),
		   ('hc-00000000000000bb', 's1', 'cust-other'), ('hc-00000000000000cc', 's2', 'cust-away')`,
		`INSERT INTO bookings (store, booking, customer, service, status, stage, start_at, end_at) VALUES
		   ('s1', 'bk-in', 'cust-her', 'dog-groom', 'checked_in', 'bath', now(), now() + interval '1 hour'),
		   ('s1', 'bk-later', 'cust-her', 'dog-groom', 'confirmed', '', now() + interval '1 day', now() + interval '25 hours'),
		   ('s1', 'bk-other', 'cust-other', 'dog-groom', 'checked_in', '', now(), now() + interval '1 hour'),
		   ('s2', 'bk-away', 'cust-away', 'dog-groom', 'checked_in', '', now(), now() + interval '1 hour')`,
		`INSERT INTO shop_info (store, info, ts) VALUES ('s1', '{"v":1,"catalog":{"hours":{},"resources":[],"services":[{"id":"dog-groom","name":{"zh":"洗护","en":"Dog groom"},"category":"pet","minutes":90,"price":100,"currency":"CNY","needs":[]}]},"ts":"2026-12-01T00:00:00Z"}', now())`,
	} {
		if _, err := rep.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Store s1's subscription at HQ's broker (its cloudsync's session).
	conn, err := net.Dial("tcp", mq.Addr)
	if err != nil {
		t.Fatal(err)
	}
	sc := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "store-s1", OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			a.mu.Lock()
			a.down = append(a.down, pr.Packet.Topic)
			a.mu.Unlock()
			return true, nil
		}}})
	if _, err := sc.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "store-s1", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/s1/down/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Disconnect(&paho.Disconnect{}) })
	secret := t.TempDir() + "/secret"
	if err := writeFile(secret, a.turn.Secret); err != nil {
		t.Fatal(err)
	}
	srv, err := homecam.New(homecam.Options{Config: homecam.Config{TURNURLs: []string{a.turn.URL()}, TURNSecretFile: secret,
		AnswerWait: 700 * time.Millisecond}, Pool: rep.Pool(), Pub: pub, State: replicaState(rep), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, srv)
	customers := map[string]home.Customer{
		"tok-her":   a.her,
		"tok-other": {ID: "hc-00000000000000bb", Store: "s1", Customer: "cust-other"},
		"tok-away":  {ID: "hc-00000000000000cc", Store: "s2", Customer: "cust-away"},
	}
	a.customers = customers
	mux := http.NewServeMux()
	srv.Mount(mux, func(h home.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			a.cmu.Lock()
			c, ok := a.customers[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			a.cmu.Unlock()
			if !ok {
				httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "Sign in again.")
				return
			}
			h(w, r, c)
		}
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	a.url = hs.URL + "/home/api/v1"
	return a
}

// addCustomer signs in another customer with tok.
func (a *apiRig) addCustomer(tok, id, store, customer string) {
	a.cmu.Lock()
	a.customers[tok] = home.Customer{ID: id, Store: store, Customer: customer}
	a.cmu.Unlock()
}

// call sends body (JSON unless a string) and returns the status and the
// decoded answer.
func (a *apiRig) call(t *testing.T, tok, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, a.url+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func code(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestICECredentialsWorkOnCoturn: /ice hands out coturn REST credentials
// named after her, which the real TURN server accepts.
func TestICECredentialsWorkOnCoturn(t *testing.T) {
	a := startAPI(t)
	st, m := a.call(t, "tok-her", "GET", "/ice", nil)
	if st != 200 {
		t.Fatalf("GET /ice: %d %v", st, m)
	}
	var got struct {
		ICE []proto.ICEServer `json:"ice_servers"`
	}
	b, _ := json.Marshal(m)
	_ = json.Unmarshal(b, &got)
	if len(got.ICE) != 1 || len(got.ICE[0].URLs) != 1 || got.ICE[0].URLs[0] != a.turn.URL() {
		t.Fatalf("ice_servers %+v", got.ICE)
	}
	user := got.ICE[0].Username
	exp, who, _ := strings.Cut(user, ":")
	if n, err := strconv.ParseInt(exp, 10, 64); err != nil || who != a.her.ID ||
		time.Until(time.Unix(n, 0)) < 3*time.Hour || time.Until(time.Unix(n, 0)) > 5*time.Hour {
		t.Errorf("username %q: want <expiry in 4h>:%s", user, a.her.ID)
	}
	mac := hmac.New(sha1.New, []byte(a.turn.Secret))
	mac.Write([]byte(user))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); got.ICE[0].Credential != want {
		t.Errorf("credential %q, want %q", got.ICE[0].Credential, want)
	}
	if err := allocate(a.turn, user, got.ICE[0].Credential); err != nil {
		t.Errorf("coturn refused HQ's credentials: %v", err)
	}
	if st, m := a.call(t, "", "GET", "/ice", nil); st != 401 || code(m) != "unauthorized" {
		t.Errorf("without a login: %d %v", st, m)
	}
}

func allocate(srv *turntest.Server, user, pass string) error {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	addr := net.JoinHostPort(srv.IP, strconv.Itoa(srv.Port))
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: srv.Realm, RTO: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		return err
	}
	relay, err := c.Allocate()
	if err != nil {
		return err
	}
	return relay.Close()
}

// TestCamerasOnlyHerCheckedIn: /cameras lists her checked-in bookings
// only, with the service's name from the shop.
func TestCamerasOnlyHerCheckedIn(t *testing.T) {
	a := startAPI(t)
	st, m := a.call(t, "tok-her", "GET", "/cameras", nil)
	bs, _ := m["bookings"].([]any)
	if st != 200 || len(bs) != 1 {
		t.Fatalf("GET /cameras: %d %v", st, m)
	}
	b := bs[0].(map[string]any)
	if b["booking"] != "bk-in" || b["stage"] != "bath" || b["service_name"].(map[string]any)["en"] != "Dog groom" {
		t.Errorf("her camera: %v", b)
	}
}

// TestWatchRefusals: what she cannot watch is refused at HQ with the
// contract's codes, and nothing goes to the store.
func TestWatchRefusals(t *testing.T) {
	a := startAPI(t)
	w := func(id, booking, off string) map[string]any {
		return map[string]any{"id": id, "booking": booking, "offer": off}
	}
	for _, c := range []struct {
		name, tok string
		body      any
		status    int
		code      string
	}{
		{"another customer's booking", "tok-her", w("watch-0001", "bk-other", offer), 404, "not_found"},
		{"no such booking", "tok-her", w("watch-0002", "bk-none", offer), 404, "not_found"},
		{"not checked in yet", "tok-her", w("watch-0003", "bk-later", offer), 409, "conflict"},
		{"the store offline", "tok-away", w("watch-0004", "bk-away", offer), 503, "unavailable"},
		{"a bad id", "tok-her", w("no", "bk-in", offer), 400, "bad_request"},
		{"not an offer", "tok-her", w("watch-0005", "bk-in", "hello"), 400, "bad_request"},
		{"an unknown field", "tok-her", `{"id":"watch-0006","booking":"bk-in","offer":"v=0 m=video","x":1}`, 400, "bad_request"},
		{"an offer too large", "tok-her", w("watch-0007", "bk-in", offer+strings.Repeat("a=x\r\n", 20000)), 413, "too_large"},
		{"no login", "", w("watch-0008", "bk-in", offer), 401, "unauthorized"},
	} {
		st, m := a.call(t, c.tok, "POST", "/watch", c.body)
		e, _ := m["error"].(map[string]any)
		if st != c.status || code(m) != c.code || e["message"] == "" {
			t.Errorf("%s: %d %v, want %d %s with a message", c.name, st, m, c.status, c.code)
		}
	}
	a.mu.Lock()
	if len(a.down) != 0 {
		t.Errorf("refused watches went down to the store: %v", a.down)
	}
	a.mu.Unlock()
	// Her own booking, the store online but not answering: 503 after answer_wait.
	start := time.Now()
	st, m := a.call(t, "tok-her", "POST", "/watch", w("watch-0009", "bk-in", offer))
	if st != 503 || code(m) != "unavailable" || time.Since(start) < 700*time.Millisecond || time.Since(start) > 5*time.Second {
		t.Errorf("no answer: %d %v after %v, want 503 unavailable after answer_wait", st, m, time.Since(start))
	}
	// Another customer's session cannot be ended by her.
	if st, m := a.call(t, "tok-her", "POST", "/watch/hc-00000000000000bb.watch-0001/bye", nil); st != 404 || code(m) != "not_found" {
		t.Errorf("bye of another's session: %d %v", st, m)
	}
	if st, _ := a.call(t, "tok-her", "POST", "/watch/"+homecam.Session(a.her, "watch-0009")+"/bye", nil); st != 204 {
		t.Errorf("bye of her session: %d", st)
	}
	want := []string{"stores/s1/down/camera/watch", "stores/s1/down/camera/bye"}
	waitFor(t, 5*time.Second, "the watch and the bye at the store", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return strings.Join(a.down, " ") == strings.Join(want, " ")
	})
}

// TestStoreAnswerThroughReplica: the store's answer (as the replica
// applies camera/hq/answer) reaches the waiting watch; a refusal keeps
// the store's code; an answer from another store does not count; a bad
// answer is a bad message.
func TestStoreAnswerThroughReplica(t *testing.T) {
	a := startAPI(t)
	ctx := context.Background()
	apply := func(store string, ans any) error {
		p, _ := json.Marshal(ans)
		tx, err := a.rep.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		err = homecam.Handlers(quiet)[proto.TopicCameraAnswer].ApplyUplink(ctx, tx, hq.Message{Store: store, LocalTopic: proto.TopicCameraAnswer, Payload: p})
		if err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	// A watch waiting while another store answers her session id: that
	// answer is not her store's, so the wait ends unanswered.
	s1 := homecam.Session(a.her, "watch-ok01")
	var st int
	var m map[string]any
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, m = a.call(t, "tok-her", "POST", "/watch", map[string]any{"id": "watch-ok01", "booking": "bk-in", "offer": offer})
	}()
	if err := apply("s2", proto.HQCameraAnswer{V: 1, Session: s1, OK: true, Answer: "v=0 forged", Camera: "cam-x"}); err != nil {
		t.Fatal(err)
	}
	<-done
	if st != 503 || code(m) != "unavailable" {
		t.Errorf("with only another store's answer: %d %v, want 503 unavailable", st, m)
	}

	// Her store's answer, arriving while the watch waits: the answer.
	s2 := homecam.Session(a.her, "watch-ok02")
	done = make(chan struct{})
	go func() {
		defer close(done)
		st, m = a.call(t, "tok-her", "POST", "/watch", map[string]any{"id": "watch-ok02", "booking": "bk-in", "offer": offer})
	}()
	if err := apply("s1", proto.HQCameraAnswer{V: 1, Session: s2, OK: true, Answer: "v=0 real", Camera: "cam-1"}); err != nil {
		t.Fatal(err)
	}
	<-done
	if st != 200 || m["session"] != s2 || m["answer"] != "v=0 real" || m["camera"] != "cam-1" {
		t.Errorf("answered watch: %d %v", st, m)
	}
	// The same watch again (the page retried): the same answer at once.
	if st, m := a.call(t, "tok-her", "POST", "/watch", map[string]any{"id": "watch-ok02", "booking": "bk-in", "offer": offer}); st != 200 || m["answer"] != "v=0 real" {
		t.Errorf("repeated watch: %d %v", st, m)
	}

	s3 := homecam.Session(a.her, "watch-no03")
	if err := apply("s1", proto.HQCameraAnswer{V: 1, Session: s3, Code: "forbidden", Message: "camera cam-1 shows table-1 only to the customer checked in there now"}); err != nil {
		t.Fatal(err)
	}
	if st, m := a.call(t, "tok-her", "POST", "/watch", map[string]any{"id": "watch-no03", "booking": "bk-in", "offer": offer}); st != 403 || code(m) != "forbidden" {
		t.Errorf("refused watch: %d %v", st, m)
	}

	for _, bad := range []any{"not json", proto.HQCameraAnswer{V: 2, Session: "x"}, proto.HQCameraAnswer{V: 1}} {
		if err := apply("s1", bad); !errors.Is(err, replica.ErrBadMessage) {
			t.Errorf("bad answer %v: %v, want ErrBadMessage", bad, err)
		}
	}
}
