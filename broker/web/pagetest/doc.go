// Package pagetest tests the broker's browser pages (broker/web/static)
// in headless Chromium against a whole store started in the test: the
// pages talk MQTT over WebSocket to the real broker and its services.
//
// The tests live here rather than in package web because a real store
// (internal/testkit/storetest) imports the broker, which imports web: a test of
// web that started one would be an import cycle. The package has no code
// of its own.
package pagetest
