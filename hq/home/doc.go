// Package home is the customers' page at home, served by storeedge-hq: a
// customer the store vouched for (proto.HomeVouch, signed by the store)
// redeems the link code for a login kept on her phone, then sees and
// continues her store conversation through HQ: her messages, photos and
// voice notes go down to the store (cloudsync's downlink), the store's
// answers come back through the replica. While the store is offline HQ
// answers at once from the store's FAQ and says so. Other parts of the
// page (bookings, the live view, notifications) are served by their own
// packages through Routes. PROTOCOL.md, "At home", is the contract.
package home
