// Package chat is the store's consultation service: conversations between
// customers and staff with a gap-free per-conversation sequence, idempotent
// sends, history after seq N, read receipts with unread counts, and recall.
// It runs on a broker/svc Router (requests on svc/chat/{op}, answers on the
// caller's reply/ topic) and publishes events on chat/{conversation}/events.
// PROTOCOL.md, section "Chat", is the wire contract.
//
// Ops (Register adds them; PROTOCOL.md has the fields):
//
//	open          open or resume a conversation                 mutating
//	send          text, card, image/voice/video/file message    mutating
//	history       messages after seq N, one page at a time      read-only
//	read          read receipt up to seq N (monotonic)          mutating
//	delivered     delivery receipt up to seq N (monotonic)      mutating
//	recall        the sender erases a message in a window       mutating
//	list          the caller's conversations, with unread       read-only
//	group_create  staff: a group with members                   mutating
//	group_add     staff: add members (system message)           mutating
//	group_remove  staff: remove members; a member may leave     mutating
//	handoff       the customer asks for a person                mutating
//	waiting       staff: conversations waiting for a person     read-only
//	assign        give a conversation to a staff member         mutating
//	quick_replies staff: saved snippets, whether the store is open read-only
//	session       a scan-to-chat code (URL and QR PNG)          not remembered
//	close         staff: close a customer's conversation        mutating
//	rate          the customer rates a closing, once            mutating
//	report        staff: closings' figures by day or staff      read-only
//	search        staff: find words in messages, newest first   read-only
//	note_add      staff: a note on a conversation or customer   mutating
//	notes         staff: the notes and labels of one            read-only
//	labels_set    staff: replace the labels of one              mutating
//	transfer      staff: offer a conversation to a colleague    mutating
//	transfer_answer the colleague accepts or declines           mutating
//	readers       who of the members has read message seq       read-only
//	transfers     staff: colleagues, and open offers to or by me read-only
//
// Who may do what. Members are device ids, customer ids (scan-to-chat) and
// remote customers' ids (hq-…, see hq.go). Staff roles (Options.StaffRoles)
// create groups and run the waiting queue; those not in
// Options.AssignedOnlyRoles also open, join and read any conversation. A
// customer has one conversation named after them plus the groups staff put
// them in. Only members send and mark read; only the sender recalls.
// Anonymous clients are refused. Member() answers the ACL's %m placeholder,
// so the broker delivers a conversation's events to its members only.
//
// The FAQ assistant (assistant.go) answers a customer's message in the same
// transaction that stores it; handoffs, unanswered questions and after-hours
// messages put the conversation in the waiting queue until staff reply.
//
// The desk (desk.go). A staff member offers a conversation to a colleague
// (a staff account, Options.Colleagues); the colleague accepts (she is
// assigned and becomes the agent the customer sees by name) or declines,
// and an offer unanswered for Options.TransferTimeout expires
// (ExpireTransfers, run by RunTransfers). readers answers who of a group has
// read a message from the members' read pointers. "… is typing" is not
// this package's: broker/mqtt/typing relays it, asking Member.
//
// Store services post into a customer's conversation (post.go): PostTx
// files a card, and optionally a photo, in the service's own bbolt
// transaction, so a booking change and its card commit together. The sender
// is the service ("booking"), not a member; the message id is indexed like a
// send's, so a retried transaction stores nothing twice. A customer without
// a conversation gets the one their own open would create.
//
// Close and rate, reports (close.go): staff close a customer's
// conversation, she rates the closing, her next message reopens it; report
// adds up the closings (internal/chatreport).
//
// Durability and idempotency. A send assigns the next seq and stores the
// message, its id index and the conversation's new last seq in one bbolt
// transaction (broker/store group commit) and answers only after it is on
// disk. svc remembers the answer for a repeated request id, stored in that
// same transaction (svc.Request.Keep: one commit per send, as for every op
// that writes); on top of that the message id is indexed per conversation
// and sender (bucket chat_ids), so a send repeated after its answer expired,
// or made through HQ, finds its first seq and stores nothing.
//
// At rest. Message bodies (the text, or the card JSON) are sealed with
// Options.Seal (AES-GCM, internal/seal: the key id is inside the record)
// with the conversation id and seq as additional data, so a record moved to
// another place does not open. Events carry no bodies: an event queued for an
// offline persistent session is stored by broker/mqtt/session, and must not put
// plaintext on disk. Members fetch bodies with history. A recall replaces
// the record by a tombstone without the sealed body. A group's title is
// sealed too (conversation id as additional data); titles stored in the
// clear by older versions are still read and are sealed at start
// (SealOldTitles).
//
// Buckets (owned by this package, nobody else touches them):
//
//	chat_convs  conv id                          → conversation (JSON, sealed title)
//	chat_msgs   conv id 0x00 seq (8 bytes, BE)   → message (JSON, sealed body)
//	chat_ids    conv id 0x00 sender 0x00 msg id  → seq (8 bytes, BE)
//	chat_reads      member 0x00 conv id          → read up to seq (8 bytes, BE)
//	chat_delivered  member 0x00 conv id          → delivered up to seq
//	chat_media      sha256 hex 0x00 conv 0x00 seq → (empty): who may fetch a blob
//	chat_waiting    conv id                      → waiting since (unix ms)
//	chat_closings   conv id 0x00 closing (8 bytes, BE) → closing (JSON: times, staff)
//	chat_ratings    conv id 0x00 closing (8 bytes, BE) → rating (JSON: stars, seq)
//	chat_notes      target 0x00 ms (8 bytes) 0x00 note id → note (JSON, sealed text)
//	chat_labels     target                       → label ids (JSON)
//
// A target is "c" 0x00 conversation id or "u" 0x00 customer id.
//
// Search, labels and notes (search.go, notes.go) are staff's only. Search
// keeps no index: it opens the messages the caller may read, newest first,
// within a time budget and a number of hits (Options.SearchBudget,
// SearchResults), and says how far back it read. Notes are sealed with
// their key as additional data. Neither notes nor labels are published,
// filed for HQ or put in a customer's answer.
//
//	chat_transfers  conv id                      → last transfer offer (JSON, sealed note)
//
// chat_reads is also the membership index: list scans a member's prefix,
// Member looks a key up, and removing a member deletes theirs.
//
// Events are at least once and may arrive out of seq order (they are
// published after commit by concurrent handlers, and again when a send is
// repeated): subscribers key them by seq and sync with history.
package chat
