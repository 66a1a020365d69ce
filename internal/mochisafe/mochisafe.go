// Package mochisafe holds the calls into mochi-mqtt v2.7.9 that need care to
// not deadlock, for the broker and for every test that runs a mochi server.
package mochisafe

import (
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
func Close(srv *mqtt.Server) error {
	srv.Listeners.CloseAll(func(listenerID string) {
		for _, cl := range srv.Clients.GetAll() {
			if cl.Net.Listener == listenerID && !cl.Closed() {
				_ = srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	})
	return srv.Close()
}
