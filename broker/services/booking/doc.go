// Package booking is the store's booking desk: appointments for the
// services of the catalogue (catalog.go; kept in the database and edited
// live by admins, seeded from services.yaml: shop.go) on the store's resources, made at
// the kiosk, by a customer in the chat, by staff or online through HQ. It
// runs on a broker/svc Router (requests on svc/booking/{op}) and publishes
// every change on booking/events and booking/customer/{customer}/events.
// PROTOCOL.md, section "Bookings", is the wire contract; slots.go decides
// which starts are free and which resources a booking gets.
//
// Ops (Register adds them; PROTOCOL.md has the fields):
//
//	services        the catalogue, stages, time zone, horizon      read-only
//	availability    free starts of a service, up to 31 days        read-only
//	book            a booking for a customer                       mutating
//	reschedule      move a booked booking                          mutating
//	cancel          cancel a booked booking                        mutating
//	no_show         staff: the customer did not come               mutating
//	check_in        kiosk or staff: the customer is here           mutating
//	progress        staff or camera: a stage, with a photo         mutating
//	complete        staff: the visit is over                       mutating
//	survey          the customer's score and comment               mutating
//	get             one booking                                    read-only
//	list            a customer's bookings from a date on           read-only
//	board           staff: one day's bookings, with profiles       read-only
//	board_days      staff: bookings per day, for a week view       read-only
//	customers       staff: customers booked by name or phone       read-only
//	changes         staff and HQ's bridge: the change feed         read-only
//	profile_put     create or replace a pet or baby profile        mutating
//	profile_list    a customer's profiles                          read-only
//	profile_delete  delete a profile                               mutating
//	catalog_get     the editable catalogue and its version         read-only
//	catalog_set     admin: replace the catalogue (versioned)       mutating
//	closure_add     admin: close dates, telling booked customers   mutating
//	closure_remove  admin: reopen a closure's dates                mutating
//	closure_list    the closures not over yet                      read-only
//
// Who may do what. Customers (scan-to-chat logins) act on their own
// bookings and profiles only. Options.DeskRoles (kiosks) book for a customer
// they name, change the bookings they made and check any booking in;
// Options.StaffRoles do everything; Options.ProgressRoles post stages;
// Options.FeedRoles read the change feed. A customer's visits may not
// overlap unless the request confirms (desk.go); staff book walk-ins by
// name and phone as new customers. Notes and contacts are shown to
// the customer, staff and the device that made the booking only.
//
// Durability and idempotency. A change is one bbolt transaction (broker/store
// group commit) holding the booking, its indexes, its reminders, its
// change-feed entry, the Outbox entry, the chat card and the answer svc
// keeps for repeated request ids (svc.Request.Keep), answered once on disk.
// svc remembers answers for a day; besides, what a request creates
// gets an id derived from the requester and the request id (derivedID), and
// booking_ids maps requester+request id to the booking, so a request
// repeated after a crash, or a transaction run twice, lands on the same
// booking. Double booking is impossible: the slot is checked again inside
// the write transaction, and bbolt runs writers one at a time, each seeing
// the ones before: of two requests for the last slot one books and the other
// gets conflict with the nearest free slots.
//
// The scheduler (scheduler.go) keeps reminders and survey invitations in
// booking_due under their due time, written by the transaction that books,
// moves, ends or completes a booking. FireDue deletes an entry and files its
// change and card in one transaction, so each fires once across crashes; a
// reminder made stale by a later one already due, or by the start, is
// dropped. Run fires what is due every Options.Tick and after each change.
//
// The change feed (changes.go) numbers every change with a gap-free
// per-store seq. Run publishes it in seq order and records how far it got;
// after a crash it publishes again from there, so an event may repeat (same
// seq) but none is lost. Changes carry ids, times and states, no notes,
// contacts, profiles or survey comments; published ones are pruned after
// Options.ChangesKept.
//
// HQ (hq.go). Online requests arrive on hq/booking/request and
// hq/booking/cancel; the store, the system of record for its slots, decides
// each when it arrives (a walk-in may have taken the slot: conflict, with
// alternatives) and stores the Outcome under HQ's request id, so a replay
// gets the same outcome. Outcomes go to the Outbox and booking/hq/outcome.
//
// At rest. Notes, contacts, cancel reasons, profiles and survey comments are sealed with
// Options.Seal, with "booking/{booking|profile|survey}/{id}" as additional
// data, and so is each progress stage's note ("booking/progress/{id}/{n}");
// notes an older version stored in the clear are still shown, and
// SealOldNotes (called at start) seals them. Buckets (owned by this package; dates are yyyymmdd in the store's
// zone, 4 bytes; times Unix ms, 8 bytes; integers big-endian):
//
//	booking_bookings  booking id                             → booking (JSON)
//	booking_busy      date booking id 0x00 resource          → from ms, to ms
//	booking_byday     date start booking id                  → (empty)
//	booking_bycust    customer 0x00 start booking id         → (empty)
//	booking_ids       requester 0x00 request id              → booking id
//	                  "pf" 0x00 customer 0x00 profile id     → (empty)
//	booking_profiles  profile id                             → customer, sealed profile
//	booking_hq        HQ request id                          → Outcome (JSON)
//	booking_due       due ms booking id 0x00 what            → (empty)
//	booking_changes   seq                                    → Change (JSON)
//	booking_meta      "seq", "published"                     → seq
//	booking_surveys   booking id                             → score, sealed comment
//	booking_contacts  customer                               → sealed name and phone, updated (desk.go)
//	booking_shop      "catalog", "version", "seed", "seeded" → the catalogue (JSON), its version, the seed's hash
//	booking_closures  closure id                             → closure (JSON)
//
// booking_busy holds the bookings that hold their resources (booked, checked
// in, completed) over duration plus buffer; booking_due's what is
// "remind/{minutes before}" or "survey"; booking_ids is also the profile
// index (profile_list scans a customer's "pf" prefix).
package booking
