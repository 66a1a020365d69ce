package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

// The binary records a store's acknowledgement of a notice (notice/ack,
// through the replica into notice_deliveries) and a config push's answer.
func TestBinaryRecordsTheStoresAnswers(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hq.yaml")
	if err := os.WriteFile(cfg, []byte("seal:\n  keys_env: \"\"\n  keys_file: "+filepath.Join(dir, "seal.keys")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	var out syncBuf
	cmd := exec.Command(binary(t), "-config", cfg, "-postgres", pg.URL, "-mqtt", "mqtt://"+mq.Addr, "-listen", httpAddr, "-client-id", "hq-down-1")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if code, _ := get("http://" + httpAddr + "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 30s\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	if _, err := db.Exec(ctx, `INSERT INTO notices (id, kind, title, sent_by, sent_at) VALUES ('n-1', 'notice', 'Inventory', 'ops', now());
		INSERT INTO config_pushes (store, version, id, push, sent_by, sent_at) VALUES ('s1', 1, 'cfg-1', '{"v":1,"id":"cfg-1","version":1}', 'ops', now())`); err != nil {
		t.Fatal(err)
	}

	conn, err := net.Dial("tcp", mq.Addr)
	if err != nil {
		t.Fatal(err)
	}
	pub := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "store-s1", OnClientError: func(error) {}})
	if _, err := pub.Connect(ctx, &paho.Connect{ClientID: "store-s1", KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	defer pub.Disconnect(&paho.Disconnect{})
	for i, m := range []struct {
		topic string
		v     any
	}{
		{proto.TopicNoticeAck, proto.NoticeAck{V: 1, ID: "n-1", TS: time.Now()}},
		{proto.TopicConfigAck, proto.ConfigAck{V: 1, ID: "cfg-1", Version: 1, OK: false, Code: "invalid", Reason: "no services", TS: time.Now()}},
	} {
		p, _ := json.Marshal(m.v)
		seq := []string{"1", "2"}[i]
		props := paho.UserProperties{{Key: proto.PropStore, Value: "s1"}, {Key: proto.PropOrigin, Value: "e1/" + seq},
			{Key: proto.PropSeq, Value: seq}, {Key: proto.PropStored, Value: time.Now().UTC().Format(time.RFC3339Nano)},
			{Key: proto.PropEpoch, Value: "e1"}, {Key: proto.PropStream, Value: proto.StreamBooking}, {Key: proto.PropSSeq, Value: seq}}
		if _, err := pub.Publish(ctx, &paho.Publish{QoS: 1, Topic: proto.CloudUpTopic("s1", m.topic), Payload: p,
			Properties: &paho.PublishProperties{User: props}}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		var n int
		if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM notice_deliveries WHERE notice = 'n-1' AND store = 's1')
			+ (SELECT count(*) FROM config_pushes WHERE id = 'cfg-1' AND state = 'refused' AND reason = 'no services')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the answers are not in the replica\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}
