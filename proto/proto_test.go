package proto_test

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/proto"
)

// TestOpsListedOnce checks that every op is listed once and that its
// request body is a struct whose every field has a json name.
func TestOpsListedOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range proto.Ops {
		if seen[o.Topic()] {
			t.Errorf("%s listed twice", o.Topic())
		}
		seen[o.Topic()] = true
		if o.Request == nil {
			continue
		}
		rt := reflect.TypeOf(o.Request)
		if rt.Kind() != reflect.Struct {
			t.Errorf("%s: request %s is not a struct", o.Topic(), rt)
			continue
		}
		for f := range proto.Fields(rt) {
			if f.Name == "" || f.Name == "-" {
				t.Errorf("%s: request %s has a field without a json name", o.Topic(), rt)
			}
		}
	}
}

// TestProtocolTables checks that the op tables of PROTOCOL.md list the
// same ops as proto.Ops, with the same "mutating" column.
func TestProtocolTables(t *testing.T) {
	b, err := os.ReadFile("../PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{"## Chat": proto.ServiceChat, "## Bookings": proto.ServiceBooking, "## Media": proto.ServiceMedia,
		"## Customers": proto.ServiceCustomer, "## Accounts": proto.ServiceAccounts, "## At home": proto.ServiceHome}
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| (yes|no)( \\([^|]*\\))? \\|")
	service := ""
	documented := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			service = sections[strings.TrimSpace(line)]
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil || service == "" {
			continue
		}
		o, ok := proto.Lookup(service, m[1])
		if !ok {
			t.Errorf("PROTOCOL.md lists svc/%s/%s; proto.Ops does not", service, m[1])
			continue
		}
		documented[o.Topic()] = true
		if o.Mutating != (m[2] == "yes") {
			t.Errorf("%s: PROTOCOL.md says mutating %s, proto.Ops %v", o.Topic(), m[2], o.Mutating)
		}
	}
	for _, o := range proto.Ops {
		if _, tabled := map[string]bool{proto.ServiceChat: true, proto.ServiceBooking: true, proto.ServiceMedia: true, proto.ServiceCustomer: true, proto.ServiceAccounts: true, proto.ServiceHome: true}[o.Service]; tabled && !documented[o.Topic()] {
			t.Errorf("%s is in proto.Ops, not in PROTOCOL.md's table", o.Topic())
		}
	}
	if len(documented) < 40 {
		t.Fatalf("found %d ops in PROTOCOL.md's tables; the table format changed?", len(documented))
	}
}

func TestRequestTopic(t *testing.T) {
	if got := proto.RequestTopic(proto.ServiceChat, "send"); got != "svc/chat/send" {
		t.Errorf("RequestTopic = %q", got)
	}
	if o, ok := proto.Lookup(proto.ServiceMedia, "chunk"); !ok || o.Topic() != "svc/media/chunk" || !o.Mutating {
		t.Errorf("Lookup(media, chunk) = %+v, %v", o, ok)
	}
	if proto.Mutating(proto.ServiceChat, "nosuch") || proto.Mutating(proto.ServiceChat, "history") || !proto.Mutating(proto.ServiceChat, "send") {
		t.Error("Mutating answers wrongly")
	}
}

// TestRequestEncoding pins the bytes of requests whose presence rules
// matter to the service: an absent text or up_to differs from an empty one.
func TestRequestEncoding(t *testing.T) {
	up := uint64(0)
	i := 0
	data := ""
	for _, c := range []struct {
		v    any
		want string
	}{
		{proto.ChatSendRequest{Conversation: "c", Kind: proto.KindImage, Media: &proto.MediaRef{Hash: "h"}}, `{"conversation":"c","kind":"image","media":{"hash":"h"}}`},
		{proto.ChatSendRequest{Conversation: "c", Kind: proto.KindText, Text: proto.String("")}, `{"conversation":"c","kind":"text","text":""}`},
		{proto.ChatReadRequest{Conversation: "c", UpTo: &up}, `{"conversation":"c","up_to":0}`},
		{proto.UploadChunkRequest{Upload: "u", Index: &i, Data: &data}, `{"upload":"u","index":0,"data":""}`},
		{proto.ChatOpenRequest{}, `{}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("%T: %s, %v; want %s", c.v, b, err, c.want)
		}
	}
}
