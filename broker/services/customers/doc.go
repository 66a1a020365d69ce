// Package customers is the customer service, svc/customer: customer cards
// (name or nickname, phone, notes, tags, consent to messages; her pets and
// babies are her booking profiles, linked by her id and listed with the
// card, never copied), the console's names for customer ids, and the
// staff's and the customer's own actions on her logins and data: revoke,
// merge (two phones, one person) and "forget me".
//
// Cards are sealed at rest (the record keeps rev, times and flags in the
// clear, the personal fields sealed with the customer id as additional
// data). Every change is versioned: card_put names the rev it read and a
// different one is answered conflict.
//
// Merge makes one id an alias of the other rather than moving her
// conversation and bookings (her profiles do move: they describe her, not
// a past event): every record (messages' senders,
// bookings, cards already sent to HQ, the outbox) stays true to what
// happened, nothing is rewritten across services in a transaction that
// could half-fail, and the alias is resolved where a name is shown and
// where she logs in (her second phone logs in as the kept id from then on).
//
// Buckets (owned by this package):
//
//	customer_cards  customer id → card record (JSON: rev, updated, by,
//	                forgotten, alias_of, aliases, sealed)
package customers
