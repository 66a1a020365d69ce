package webpush_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/storeedge/storeedge/hq/config"
	"github.com/storeedge/storeedge/hq/webpush"
)

// The shipped hq.yaml sets every push key, to valid values that are the
// package's defaults.
func TestShippedConfig(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Push
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	want := webpush.Config{VAPIDKeyFile: webpush.DefaultVAPIDKeyFile, Subject: "mailto:hq-operator@example.com",
		TTL: 24 * time.Hour, SendTimeout: webpush.DefaultSendTimeout, MaxPayloadBytes: webpush.DefaultMaxPayloadBytes,
		BodyChars: webpush.DefaultBodyChars, Workers: webpush.DefaultWorkers, ReconnectWait: webpush.DefaultReconnectWait,
		SentKeep: webpush.DefaultSentKeep, AllowedHosts: webpush.DefaultAllowedHosts}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("hq.yaml push:\n got %+v\nwant %+v", p, want)
	}
}
