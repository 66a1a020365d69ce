// Package homecam is the live view at home: a customer whose pet is checked
// in watches the grooming camera over WebRTC, signalled through HQ (down to
// the store, the answer back through the replica) with media through a TURN
// server whose time-limited credentials it makes. PROTOCOL.md, "At home", is
// the contract.
package homecam
