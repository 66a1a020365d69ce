// Package blob holds the store's blobs — chat photos, voice notes, short
// video clips, documents — with resumable chunked uploads, content addressing
// by SHA-256, reference counts and image thumbnails, all sealed at rest.
//
// It is a library: the chat service maps its calls to MQTT ops and its typed
// errors to wire codes (ErrTooLarge → too_large, ErrType and ErrInvalid →
// bad_request, ErrConflict and ErrChecksum → conflict, ErrNotFound →
// not_found, ErrQuota → quota_exceeded).
//
// Buckets (owned by this package, nobody else touches them):
//
//	media_uploads  owner 0x00 upload id  → nested bucket per upload:
//	                 "s"                  → upload state (sealed JSON, records.go)
//	                 "o"                  → present while the upload is open
//	                 "c" index (4 B, BE)  → chunk bytes (sealed)
//	                 "d" index (4 B, BE)  → SHA-256 of the chunk (sealed)
//	               "\x00reserved"         → bytes reserved by open uploads (8 B, BE)
//	media_blobs    SHA-256 (32 B)         → blob record (sealed JSON)
//	               "total"                → bytes of all stored blobs (8 B, BE)
//	media_pages    SHA-256 (32 B) page (4 B, BE) → page bytes (sealed)
//
// Every value holding personal data is sealed with additional data naming its
// bucket and key, so a sealed value moved to another key does not open.
// Sealing and opening of large values happens outside write transactions, so
// the group committer is not held up by encryption.
//
// Blob lifetime: Complete stores a blob with no references; the chat service
// calls Ref when a message points at it and Unref when the message goes
// (recall, expiry); at zero references the blob, its pages and its thumbnail
// reference are deleted. A blob nobody references within UploadTTL of its
// last upload is deleted by Cleanup.
package blob
