package downlink_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/ingest"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// The whole loop with a real store: HQ's marketing sends a promotion
// through the API; it crosses HQ's broker to the store's link, the store
// keeps it (staff list it) and acknowledges it through its outbox; HQ's
// consumer applies the acknowledgement through the replica, and the
// notice's deliveries name the store. The store that has not acknowledged
// is pending.
func TestNoticeReachesARealStoreAndComesBackAcknowledged(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	var storeID string
	s := st.Start(t, st.Options{Devices: []st.Device{{ID: "staff-anna", Role: "staff"}}, Config: func(c *broker.Config) {
		c.Cloud.URL = "mqtt://" + mq.Addr
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
		storeID = c.StoreID
	}})

	ans := downlink.NewAnswers(nil, nil)
	rep := openReplica(t, ans, storeID, "far-away")
	u, _ := url.Parse("mqtt://" + mq.Addr)
	cons, err := ingest.New(ingest.Options{Replica: rep, Brokers: []*url.URL{u}, ClientID: "hq-ingest-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// HQ's consumers are subscribed before anything is sent (a shared
	// subscription made later does not get what was published before).
	for deadline := time.Now().Add(10 * time.Second); !cons.Ready(); {
		if time.Now().After(deadline) {
			t.Fatal("HQ's consumer never subscribed")
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}

	pub, err := downlink.NewMQTTPublisher(ctx, downlink.MQTTOptions{URL: u.String(), ClientID: "hq-downlink-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	svc, err := downlink.New(downlink.Options{Pool: rep.Pool(), Publisher: pub})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(svc.Handler())
	t.Cleanup(web.Close)
	e := &hqEnv{t: t, web: web}

	// The store's link subscribes at HQ a moment after it starts: until
	// then HQ's broker has no subscriber and says so; the same request
	// again publishes again.
	body := `{"id":"promo-spa","kind":"promotion","title":"Spa week -20%","stores":["` + storeID + `","far-away"]}`
	deadline := time.Now().Add(20 * time.Second)
	for {
		var sent downlink.NoticeSent
		if code := e.call("POST", "/api/v1/notices", "marketing", body, &sent); code != 201 && code != 200 {
			t.Fatalf("send: %d %+v", code, sent)
		}
		if !strings.Contains(sent.PublishError, "store "+storeID+":") {
			// far-away has never linked: HQ says it has no subscriber.
			if sent.Published || !strings.Contains(sent.PublishError, "store far-away: "+downlink.ErrNoSubscribers.Error()) {
				t.Fatalf("send: %+v", sent)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store's link never subscribed: %+v", sent)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}

	staff := s.Connect(t, st.Device{ID: "staff-anna", Role: "staff"}, "")
	var d downlink.NoticeDetail
	for deadline := time.Now().Add(20 * time.Second); ; {
		e.call("GET", "/api/v1/notices/promo-spa", "marketing", "", &d)
		if len(d.Deliveries) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no acknowledgement from the store: %+v", d)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	if d.Deliveries[0].Store != storeID || len(d.Pending) != 1 || d.Pending[0] != "far-away" || d.Notice.Acked != 1 {
		t.Fatalf("deliveries: %+v", d)
	}
	var l proto.NoticesList
	st.OK(t, staff.Call(t, "notices", "list", `{}`)).Decode(t, &l)
	if len(l.Notices) != 1 || l.Notices[0].ID != "promo-spa" || l.Notices[0].From != "marketing" {
		t.Fatalf("the store's list: %+v", l)
	}
}
