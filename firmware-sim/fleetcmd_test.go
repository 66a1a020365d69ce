package main

import (
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
)

// -stores runs the stores, a held backlog included, until HQ's broker has
// everything; a bad -hq is refused before anything runs.
func TestFleetMode(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Options{})
	err := runFleet(fleetFlags{stores: 5, hq: "mqtt://" + b.Addr, prefix: "t-", rate: 120, backlog: 20,
		span: 72 * time.Hour, statusEvery: time.Second, duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = runFleet(fleetFlags{stores: 5, hq: "tcp://" + b.Addr, rate: 1, duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "want mqtt://host:port") {
		t.Fatalf("a bad -hq: %v", err)
	}
}
