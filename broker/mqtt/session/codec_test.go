package session

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func sample() packets.Packet {
	return packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
		TopicName:   "chat/c-42/events", Origin: "chat-tablet-3", Created: 1795255240, Expiry: 1795258840,
		Payload: []byte(`{"v":1,"text":"宝宝湿疹怎么处理?"}`),
		Properties: packets.Properties{
			MessageExpiryInterval: 3600, PayloadFormat: 1, PayloadFormatFlag: true,
			ContentType: "application/json", ResponseTopic: "reply/kiosk-01/x", CorrelationData: []byte{1, 2, 3},
			User: []packets.UserProperty{{Key: "store", Val: "demo"}, {Key: "seq", Val: "7"}},
		},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, pk := range []packets.Packet{sample(), {FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, TopicName: "t"}} {
		b, err := encode(pk)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decode(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []struct {
			name      string
			got, want any
		}{
			{"topic", got.TopicName, pk.TopicName}, {"origin", got.Origin, pk.Origin},
			{"qos", got.FixedHeader.Qos, pk.FixedHeader.Qos}, {"retain", got.FixedHeader.Retain, pk.FixedHeader.Retain},
			{"created", got.Created, pk.Created}, {"expiry", got.Expiry, pk.Expiry},
			{"payload", string(got.Payload), string(pk.Payload)},
			{"user", got.Properties.User, pk.Properties.User},
			{"correlation", got.Properties.CorrelationData, pk.Properties.CorrelationData},
			{"response topic", got.Properties.ResponseTopic, pk.Properties.ResponseTopic},
			{"content type", got.Properties.ContentType, pk.Properties.ContentType},
			{"expiry interval", got.Properties.MessageExpiryInterval, pk.Properties.MessageExpiryInterval},
			{"payload format", got.Properties.PayloadFormatFlag, pk.Properties.PayloadFormatFlag},
		} {
			if !reflect.DeepEqual(f.got, f.want) && !(isEmpty(f.got) && isEmpty(f.want)) {
				t.Errorf("%s: got %v, want %v", f.name, f.got, f.want)
			}
		}
	}
}

func isEmpty(v any) bool {
	rv := reflect.ValueOf(v)
	return !rv.IsValid() || ((rv.Kind() == reflect.Slice || rv.Kind() == reflect.String) && rv.Len() == 0)
}

func TestDecodeRejectsDamage(t *testing.T) {
	b, _ := encode(sample())
	for i := 0; i < len(b)-len(sample().Payload); i++ {
		if _, err := decode(b[:i]); err == nil {
			t.Fatalf("record cut at %d decoded", i)
		} else if !errors.Is(err, errCorrupt) {
			t.Fatalf("cut at %d: %v is not errCorrupt", i, err)
		}
	}
	bad := append([]byte{9}, b[1:]...)
	if _, err := decode(bad); !errors.Is(err, errCorrupt) {
		t.Fatalf("unknown version: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := encode(sample())
	f.Add(b)
	f.Add([]byte{1, 1, 0, 0, 1, 't', 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same message.
		again, err := encode(pk)
		if err != nil {
			t.Fatal(err)
		}
		pk2, err := decode(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if pk2.TopicName != pk.TopicName || !bytes.Equal(pk2.Payload, pk.Payload) || len(pk2.Properties.User) != len(pk.Properties.User) {
			t.Fatal("round trip changed the message")
		}
	})
}
