package typing

import (
	"testing"

	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/proto"
)

// Typing never goes to HQ: the store's default cloud map takes no typing
// topic (events of the same conversation go up, as before), and only
// chat/{conversation}/typing is treated as typing.
func TestTypingNotInCloudMap(t *testing.T) {
	m, err := topicmap.Parse(configs.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := m.Match(proto.ChatTypingTopic("cust-abc123")); ok {
		t.Fatalf("the cloud map sends typing to HQ: %+v", r)
	}
	if _, ok := m.Match("chat/cust-abc123/hq"); !ok {
		t.Fatal("the cloud map takes no chat entry at all: the check above proves nothing")
	}
	for topic, want := range map[string]string{
		"chat/c1/typing": "c1", "chat/c1/events": "", "chat//typing": "", "chat/a/b/typing": "", "x/c1/typing": "",
	} {
		got, ok := conversation(topic)
		if got != want || ok != (want != "") {
			t.Errorf("conversation(%q) = %q, %v; want %q", topic, got, ok, want)
		}
	}
}
