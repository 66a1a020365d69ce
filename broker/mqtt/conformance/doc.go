// Package conformance checks the store broker against the MQTT 5.0 and MQTT
// 3.1.1 OASIS specifications, the way a device maker would: every test starts
// the real daemon (internal/testkit/storetest, in this process, on loopback) with a
// test role in its ACL and registered devices, and talks to it over TCP as an
// ordinary client. There is no code here besides this comment: the package is
// its tests.
//
// Each test is named after the normative statement it checks, MQTT 5 numbering
// (TestMQTT_3_3_4_9_ReceiveMaximum checks [MQTT-3.3.4-9]); a statement of MQTT
// 3.1.1 alone is prefixed TestMQTT311_. The comment on each test quotes its
// statement. What is covered: the reason codes and properties of PUBACK,
// PUBREC, PUBCOMP, SUBACK and UNSUBACK (checked byte for byte), flow control
// towards a client (Receive Maximum), retained messages with their
// properties, the Will Delay Interval, session expiry, resending what a
// client left unacknowledged, packet identifiers, shared subscriptions,
// topic aliases in both directions, subscription identifiers, `$` topics and
// wildcards, Keep Alive, and user properties passed through in order (also
// to a client asking for no problem information). Closing a connection that
// never sends CONNECT (the specification only says the server SHOULD, 4.8 of
// 3.1.1 and 3.1 of 5.0) is the broker's limits.connect_timeout, tested with
// the other limits in broker/mqttcore_test.go.
//
// Three kinds of client drive the broker: paho.golang's low-level paho.Client
// (MQTT 5, reason codes and properties as sent), a raw-TCP client that writes
// hand-built packets and reads the reply bytes (raw_test.go), and, as a second
// implementation, the mosquitto command line clients (mosquitto_pub and
// mosquitto_sub, Debian package mosquitto-clients). Without them those tests
// are skipped, or fail when CI=true.
//
// Run it with
//
//	go test -count=1 ./broker/mqtt/conformance/ -v
//
// (STORETEST_LOG=1 shows the broker's log). It takes a few seconds: the
// tests run in parallel, each on its own broker, and only the keep-alive
// and will-delay tests wait, for the seconds they measure. A failing test is
// a deviation from the specification; its message shows the bytes or the
// messages that deviate.
package conformance
