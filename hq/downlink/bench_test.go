package downlink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
)

// BenchmarkNoticeToAList sends one notice to a list of 1 000 stores
// (one message per store on a real mosquitto, each acknowledged) and
// reports the time per send.
//
//	go test -run '^$' -bench NoticeToAList -benchtime 5x ./hq/downlink/
func BenchmarkNoticeToAList(b *testing.B) {
	const n = 1000
	mq := mosquittotest.Start(b, mosquittotest.Options{})
	stores := make([]string, n)
	for i := range stores {
		stores[i] = fmt.Sprintf("s%04d", i)
	}
	rep := openReplicaTB(b, downlink.NewAnswers(nil, nil), stores...)
	down := listen(b, mq.Addr)
	pub, err := downlink.NewMQTTPublisher(context.Background(), downlink.MQTTOptions{URL: "mqtt://" + mq.Addr, ClientID: "hq-bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pub.Close(context.Background()) })
	svc, err := downlink.New(downlink.Options{Pool: rep.Pool(), Publisher: pub})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		out, err := svc.SendNotice(context.Background(), "bench", downlink.NoticeRequest{ID: fmt.Sprintf("n-%d", i),
			Kind: "notice", Title: "Inventory on Sunday", Stores: stores})
		if err != nil || !out.Published {
			b.Fatalf("send: %+v %v", out, err)
		}
	}
	b.StopTimer()
	down.wait(b, b.N*n)
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "msgs/s")
}
