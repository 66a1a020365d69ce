// Package homebook is the bookings part of the page at home: a store's
// services and prices, free times asked of the store live (bounded wait) or
// from the replica's last known picture (marked so), booking, moving and
// cancelling requests sent down to the store, and the store's decisions.
// PROTOCOL.md, "At home" → "Bookings at home", is the contract.
package homebook
