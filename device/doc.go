// Package device is the Go SDK for the store's kiosks, chat tablets, cameras
// and staff tablets: one MQTT 5 connection to the store broker (autopaho)
// that logs in with the device's credentials, announces itself on
// devices/{id}/status (with a retained "offline" Last Will), sends heartbeats
// on devices/{id}/telemetry and reconnects with backoff.
//
// Requests. Every service op (svc/{service}/{op}, PROTOCOL.md) is a typed
// method with a context deadline — ChatSend, Book, Upload, … — that returns
// the service's answer, or an *Error whose code matches the sentinels:
//
//	_, err := c.Book(ctx, device.BookRequest{…})
//	if errors.Is(err, device.ErrConflict) { … offer err.(*device.Error).Alternatives … }
//
// A request is put in the client's queue before it is sent: on disk
// (Config.QueueDir, a bbolt file) for the ops that change something, so a
// broker restart, a Wi-Fi drop or a restart of the device program does not
// lose it. The queue is sent in order after every reconnect until each
// request is answered; a request is sent again with the same id, so the
// broker runs it once and answers every repeat with the first answer. The
// caller sees exactly one answer per request. Requests in one lane (the
// conversation for chat, the booking for booking changes) wait for the
// answer of the one before, so they take effect in the order they were made.
//
// Events (chat messages, booking changes, camera signals, anything the
// device's role may subscribe to) arrive on callbacks registered with
// Subscribe and the typed On… helpers; the session is persistent, so events
// published while the device was away arrive when it comes back.
package device
