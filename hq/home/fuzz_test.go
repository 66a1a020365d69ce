package home

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/proto"
)

// Whatever a store's uplink carries on home/vouch or home/revoke, the
// decoder does not panic, and it accepts only what the named key signed.
func FuzzVouchDecoder(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, 32))
	v := proto.HomeVouch{V: 1, ID: "hv-1", Store: "s1", Customer: "cust-1", CodeHash: "a3f1c0e2b4d6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081",
		Expires: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), Key: base64.StdEncoding.EncodeToString(seed.Public().(ed25519.PublicKey))}
	v.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(seed, proto.HomeVouchSigned(v)))
	good, _ := json.Marshal(v)
	f.Add(good)
	f.Add([]byte(`{"v":1,"store":"s1","key":"","sig":""}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m := hq.Message{Store: "s1", Origin: "e/1", LocalTopic: proto.TopicHomeVouch, Payload: payload}
		got, err := parseVouch(m)
		var rf *refused
		if err != nil && !errors.As(err, &rf) {
			t.Fatalf("an error that is not a refusal: %v", err)
		}
		if err == nil {
			pub, _ := base64.StdEncoding.DecodeString(got.Key)
			sig, _ := base64.StdEncoding.DecodeString(got.Sig)
			if got.Store != "s1" || !ed25519.Verify(pub, proto.HomeVouchSigned(got), sig) {
				t.Fatalf("accepted a vouch that is not signed: %s", payload)
			}
		}
		if _, err := parseRevoke(hq.Message{Store: "s1", Origin: "e/2", LocalTopic: proto.TopicHomeRevoke, Payload: payload}); err != nil && !errors.As(err, &rf) {
			t.Fatalf("revoke: an error that is not a refusal: %v", err)
		}
	})
}
