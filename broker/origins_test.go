package broker_test

import (
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// TestDefaultWebsocketOriginsAreTheBoxItself: with the default
// listeners.websocket_origins, a page the box serves (its HTTP listener)
// may open MQTT over WebSocket; a page elsewhere on the web may not.
func TestDefaultWebsocketOriginsAreTheBoxItself(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Config: func(c *broker.Config) {
		def, err := broker.DefaultConfig()
		if err != nil {
			t.Fatal(err)
		}
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = def.Listeners.WebsocketPath
		c.Listeners.WebsocketOrigins = def.Listeners.WebsocketOrigins
	}})
	url := "ws://" + s.Broker().Addrs().Websocket + "/mqtt"
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}}
	for origin, want := range map[string]int{
		"http://" + s.HTTP:            http.StatusSwitchingProtocols,
		"https://evil.example":        http.StatusForbidden,
		"http://shop-elsewhere.local": http.StatusForbidden,
	} {
		c, resp, err := d.Dial(url, http.Header{"Origin": {origin}})
		if c != nil {
			c.Close()
		}
		if resp == nil || resp.StatusCode != want {
			t.Errorf("Origin %s: %v (%v), want %d", origin, resp, err, want)
		}
	}
}
