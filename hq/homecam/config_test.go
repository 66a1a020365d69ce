package homecam

import (
	"strings"
	"testing"
	"time"
)

// TestConfigNamesTheKey: every setting that cannot work is refused naming
// its key; zero values take the defaults.
func TestConfigNamesTheKey(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	d := Config{}.WithDefaults()
	if d.AnswerWait != 8*time.Second || d.CredentialTTL != 4*time.Hour || d.MaxOfferBytes != 65536 || d.MaxWaiting != 200 {
		t.Errorf("defaults %+v", d)
	}
	for _, c := range []struct {
		key string
		cfg Config
	}{
		{"home_camera.turn_urls", Config{TURNURLs: []string{"http://x"}, TURNSecretFile: "s"}},
		{"home_camera.turn_secret_file", Config{TURNURLs: []string{"turn:x:3478"}}},
		{"home_camera.credential_ttl", Config{CredentialTTL: time.Second}},
		{"home_camera.answer_wait", Config{AnswerWait: time.Minute}},
		{"home_camera.max_offer_bytes", Config{MaxOfferBytes: 10}},
		{"home_camera.max_waiting", Config{MaxWaiting: -1}},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: %v", c.key, err)
		}
	}
}
