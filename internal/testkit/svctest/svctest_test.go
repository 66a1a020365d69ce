package svctest_test

import (
	"testing"

	"github.com/storeedge/storeedge/internal/testkit/svctest"
)

func TestPayload(t *testing.T) {
	for body, want := range map[string]string{
		"":                   `{"id":"r1","v":1}`,
		"{}":                 `{"id":"r1","v":1}`,
		`{"text":"hi"}`:      `{"id":"r1","v":1,"text":"hi"}`,
		" {\"a\":1,\"b\":2}": `{"id":"r1","v":1,"a":1,"b":2}`,
	} {
		if got := svctest.Payload("r1", body); got != want {
			t.Errorf("Payload(%q) = %s, want %s", body, got, want)
		}
	}
}
