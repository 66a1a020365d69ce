package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

// The binary serves the page at home at /home/: a store's vouch that
// arrives through HQ's broker becomes a login, and her message goes down
// to the store on HQ's broker.
func TestBinaryHome(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hq.yaml")
	if err := os.WriteFile(cfg, []byte("seal:\n  keys_env: \"\"\n  keys_file: "+filepath.Join(dir, "seal.keys")+"\nhome:\n  reply_wait: 100ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	var out syncBuf
	cmd := exec.Command(binary(t), "-config", cfg, "-postgres", pg.NewDB(t), "-mqtt", "mqtt://"+mq.Addr,
		"-listen", httpAddr, "-client-id", "hq-home-1")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for code, _ := get(base + "/readyz"); code != 200; code, _ = get(base + "/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 30s\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if code, page := get(base + "/home/"); code != 200 || !strings.Contains(page, `src="/home/home.js"`) {
		t.Fatalf("the page at home: %d %s", code, page)
	}

	// The store: its vouch goes up, and it listens for what comes down.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var down []*paho.Publish
	conn, err := net.Dial("tcp", mq.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "store-s1", OnClientError: func(error) {},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			mu.Lock()
			down = append(down, pr.Packet)
			mu.Unlock()
			return true, nil
		}}})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "store-s1", KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/s1/down/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pubKey, key, _ := ed25519.GenerateKey(rand.Reader)
	code := "k7m3q2xw9abcdefghjkl"
	sum := sha256.Sum256([]byte(code))
	v := proto.HomeVouch{V: 1, ID: "hv-1", Store: "s1", Customer: "cust-8f2a", CodeHash: hex.EncodeToString(sum[:]),
		Expires: time.Now().Add(15 * time.Minute), Key: base64.StdEncoding.EncodeToString(pubKey)}
	v.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, proto.HomeVouchSigned(v)))
	payload, _ := json.Marshal(v)
	props := paho.UserProperties{{Key: proto.PropStore, Value: "s1"}, {Key: proto.PropOrigin, Value: "e1/1"},
		{Key: proto.PropSeq, Value: "1"}, {Key: proto.PropStored, Value: time.Now().UTC().Format(time.RFC3339Nano)},
		{Key: proto.PropEpoch, Value: "e1"}, {Key: proto.PropStream, Value: "booking"}, {Key: proto.PropSSeq, Value: strconv.Itoa(1)}}
	if _, err := c.Publish(ctx, &paho.Publish{QoS: 1, Topic: proto.CloudUpTopic("s1", proto.TopicHomeVouch), Payload: payload,
		Properties: &paho.PublishProperties{User: props}}); err != nil {
		t.Fatal(err)
	}

	// The phone redeems the link (retrying while the vouch is on its way).
	call := func(method, path, token, body string) (int, []byte) {
		req, _ := http.NewRequest(method, base+"/home/api/v1"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	var login struct{ Token string }
	for {
		st, b := call("POST", "/login", "", `{"store":"s1","code":"`+code+`","device":"test"}`)
		if st == 200 {
			_ = json.Unmarshal(b, &login)
			break
		}
		if st != 404 || ctx.Err() != nil {
			t.Fatalf("login: %d %s\n%s", st, b, out.String())
		}
		time.Sleep(50 * time.Millisecond) // poll interval, as the page retries
	}
	if st, b := call("GET", "/me", login.Token, ""); st != 200 || !strings.Contains(string(b), `"customer":"cust-8f2a"`) {
		t.Fatalf("me: %d %s", st, b)
	}
	// The store never said it is online: HQ answers her and sends her message down.
	st, b := call("POST", "/messages", login.Token, `{"id":"m-home-1","kind":"text","text":"hello from home"}`)
	if st != 200 || !strings.Contains(string(b), `"via":"hq"`) {
		t.Fatalf("send: %d %s", st, b)
	}
	for {
		mu.Lock()
		n := len(down)
		var p *paho.Publish
		if n > 0 {
			p = down[0]
		}
		mu.Unlock()
		if p != nil {
			if p.Topic != "stores/s1/down/chat/message" || p.Properties.User.Get("id") != "m-home-1" ||
				!strings.Contains(string(p.Payload), `"customer":"cust-8f2a"`) || !strings.Contains(string(p.Payload), `"auto_reply"`) {
				t.Fatalf("down: %s %s", p.Topic, p.Payload)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("nothing came down\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if _, metrics := get(base + "/metrics"); !strings.Contains(metrics, `storeedge_hq_home_uplink_total{result="applied",topic="home/vouch"} 1`) {
		t.Fatalf("metrics:\n%s", metrics)
	}
}
