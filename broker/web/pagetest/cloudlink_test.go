package pagetest

// The store health page and the link to headquarters: the link's error is
// shown while the link is down and is gone once a later status says it is
// up again; its times are on the store's clock.

import (
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/faultproxy"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// TestConsoleCloudErrorClears: the link to headquarters is down when the
// store starts; the health page says so with the error, in red. When the
// link comes up, the next status says connected and the error is gone.
// Its "since" is on the store's clock, though the browser is in New York.
func TestConsoleCloudErrorClears(t *testing.T) {
	hq := mosquittotest.Start(t, mosquittotest.Options{})
	line, err := faultproxy.New("127.0.0.1:0", hq.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = line.Close() })
	line.Down()
	s := storetest.Start(t, storetest.Options{Devices: consoleFleet, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
		c.Cloud.URL = "mqtt://" + line.Addr()
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	}})
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}

	b := browsertest.New(t, browsertest.WindowSize(1024, 768))
	setBrowserZone(t, b, browserZone)
	consoleSignedIn(t, b, s)
	consoleClick(t, b, "#tab-health")
	const cloudText = `document.getElementById('cloud').textContent`
	browsertest.WaitJS(t, b, `consoleView.cloud && !consoleView.cloud.connected && !!consoleView.cloud.last_error &&
		document.getElementById('cloud').textContent.includes('Disconnected') &&
		document.getElementById('cloud').textContent.includes(consoleView.cloud.last_error)`, 15*time.Second, showConsole, cloudText)
	if n := browsertest.Eval[int](t, b, `document.querySelectorAll('#cloud .bad').length`); n < 2 {
		t.Errorf("while the link is down: %d red facts, want the state and the error: %s", n, browsertest.Eval[string](t, b, cloudText))
	}
	consoleShot(t, b, "health-link-down")

	line.Up()
	browsertest.WaitJS(t, b, `consoleView.cloud && consoleView.cloud.connected`, 15*time.Second, showConsole)
	browsertest.WaitJS(t, b, `document.getElementById('cloud').textContent.includes('Connected')`, 5*time.Second, cloudText)
	got := browsertest.Eval[string](t, b, cloudText)
	last := browsertest.Eval[string](t, b, `consoleView.cloud.last_error || ''`)
	if strings.Contains(got, "Last error") || (last != "" && strings.Contains(got, last)) {
		t.Errorf("the link is up, but the health page still shows the old error: %s", got)
	}
	if n := browsertest.Eval[int](t, b, `document.querySelectorAll('#cloud .bad').length`); n != 0 {
		t.Errorf("the link is up, but %d facts are red: %s", n, got)
	}
	since, err := time.Parse(time.RFC3339Nano, browsertest.Eval[string](t, b, `consoleView.cloud.since`))
	if err != nil {
		t.Fatalf("since: %v", err)
	}
	if want := since.In(shanghai).Format("2006-01-02 15:04"); !strings.Contains(got, want) {
		t.Errorf("since: want the store's clock %s in %s", want, got)
	}
	consoleShot(t, b, "health-link-up")
}
