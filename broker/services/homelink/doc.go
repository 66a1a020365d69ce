// Package homelink is the store's side of "continue at home": it vouches
// for a customer the store knows to HQ (proto.HomeVouch, signed with the
// store's Ed25519 key, filed in the outbox) so her phone gets a login at
// HQ, and asks HQ to end her logins (a lost phone, a forgotten customer).
// PROTOCOL.md, "At home", is the contract.
package homelink
