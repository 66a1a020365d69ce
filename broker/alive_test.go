package broker

import (
	"context"
	"testing"
)

// A serving broker is alive; once it has shut down (its database closed)
// it is not, so a watchdog stops vouching for it.
func TestAliveWhileServingOnly(t *testing.T) {
	b := startWithDevice(t, "kiosk-1", "kiosk", nil)
	if err := b.Alive(context.Background()); err != nil {
		t.Fatalf("serving broker: %v", err)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Alive(context.Background()); err == nil {
		t.Fatal("a broker that has shut down answered alive")
	}
	// The database itself, with the ready flag forced: the read fails.
	b.ready.Store(true)
	if err := b.Alive(context.Background()); err == nil {
		t.Fatal("a closed database answered alive")
	}
}
