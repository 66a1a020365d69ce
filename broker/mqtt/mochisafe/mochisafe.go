// Package mochisafe holds the calls into mochi-mqtt v2.7.9 that need care to
// not deadlock, for the broker and for every test that runs a mochi server.
package mochisafe

import (
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Close stops a mochi server. mochi's own Server.Close disconnects clients
// through Clients.GetByListener, which read-locks the client map twice; a
// client connecting or leaving in between (a write lock waiting) deadlocks
// both. Here every listener is closed first with a sweep over
// Clients.GetAll (one read lock): each client gets DISCONNECT 0x8B (server
// shutting down), its read loop ends and its Last Will goes out. mochi's
// listeners run that sweep only once, so Server.Close, called next, does not
// run its own.
//
// A client's Last Will goes out from its own goroutine once its read loop
// has ended, not before DisconnectClient returns; Close waits for those
// wills (at most willWait) so that they reach the hooks, which store a
// retained will, before the server and then the database close.
func Close(srv *mqtt.Server) error {
	var swept []*mqtt.Client
	srv.Listeners.CloseAll(func(listenerID string) {
		for _, cl := range srv.Clients.GetAll() {
			if cl.Net.Listener == listenerID && !cl.Closed() {
				_ = srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
				swept = append(swept, cl)
			}
		}
	})
	deadline := time.Now().Add(willWait)
	for _, cl := range swept {
		for willPending(cl) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // mochi signals nothing when a will is sent
		}
	}
	return srv.Close()
}

// willWait bounds how long Close waits for the Last Wills of the clients it
// disconnected.
const willWait = 5 * time.Second

// willPending: cl has a will mochi has not sent yet (mochi clears the flag
// once sent; a delayed will is held by the server instead, not waited for).
func willPending(cl *mqtt.Client) bool {
	return atomic.LoadUint32(&cl.Properties.Will.Flag) == 1 && cl.Properties.Will.WillDelayInterval == 0
}
