// Package customer issues scan-to-chat credentials for shoppers.
//
// The flow:
//
//  1. A chat tablet in the store asks for a session: Issue makes a one-time
//     token for a customer id (a new "cust-…" id, or a returning customer's),
//     and returns it with the customer page's URL carrying it (?t=TOKEN).
//     QRPNG draws that URL as a QR code for the tablet's screen.
//  2. The customer's phone scans the code and opens the page, which POSTs
//     {"token": "…"} to Handler. Redeem consumes the token (once, before it
//     expires) and answers with an MQTT login: username = customer id,
//     password = a new random session secret, valid for Options.SessionTTL
//     since it was last used: each login renews it (the phone keeps it, and
//     a customer who comes back is the same customer). Revoke ends it.
//  3. The broker's authenticator checks that login with VerifyCustomer, and
//     its ACL asks CustomerActive whether the customer still holds a session.
//  4. Sweep deletes expired tokens and sessions; call it now and then.
//
// Issue trusts its caller: whoever may call it may mint a login for any
// customer id, and whoever holds the ticket's URL logs in as that customer.
// Gate it behind the device's role, and resume a known customer only on
// proof that she is there: a person who sees her, or her own confirmation
// of the device's presence code (presence.go: StartPresence,
// ConfirmPresence, TakePresence), which also limits what a kiosk reaches.
//
// At rest only hashes are stored: the database holds SHA-256 of each token
// and of each session secret, never a usable token or password. A token is
// 32 random bytes and a secret 32 random bytes (both base64url, no padding),
// so an unsalted hash suffices.
//
// Durability and atomicity. Issue and Redeem return after their bbolt
// transaction is on disk (broker/store group commit). Redeem reads the token,
// marks it redeemed and adds the session in one transaction, so of two
// concurrent redeems of one token exactly one wins; the other gets ErrUsed.
// Transaction functions decide only from what is stored (they may run twice);
// random values and the clock are read before the transaction.
//
// Buckets (owned by this package, nobody else touches them):
//
//	customer_tokens    sha256(token)                    → token record (JSON:
//	                                                       customer, issued_by,
//	                                                       issued, expires, redeemed)
//	customer_sessions  customer 0x00 sha256(secret)     → expires (Unix ms,
//	                                                       8 bytes, big-endian)
//	customer_presence  device id                        → presence record (JSON:
//	                                                       code (sha256),
//	                                                       code_expires,
//	                                                       customer, until)
//	customer_aliases   merged customer id               → the id it was merged
//	                                                       into (Merge)
//
// A redeemed token is kept (marked) until it expires, so a replay is told
// ErrUsed rather than ErrNotFound.
package customer
