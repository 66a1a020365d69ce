// Package media is the media service: it maps the MQTT ops on
// svc/media/{op} (see PROTOCOL.md, "Media") to the blob store of
// broker/blob, through the request/answer framework of broker/svc.
//
// Uploads are resumable and chunked: begin declares the blob (type, size,
// SHA-256) under a client-chosen upload id and answers which chunks are
// missing; chunk stores one chunk (base64 in the JSON request); status says
// where an upload stands; complete assembles, verifies and stores the blob
// (with a JPEG thumbnail for JPEG and PNG images). An upload belongs to the
// requesting device (svc.Request.From.Device): two devices may use the same
// upload id without meeting, and anonymous clients may not upload.
//
// stat and get read a stored blob by its SHA-256. Who may read is
// Options.CanFetch's decision (by default: the staff roles). A caller who may
// not read a hash is answered forbidden whether or not the blob exists, so
// not_found is only ever told to callers who may read the hash.
//
// Errors of the media store map to wire codes as broker/blob's doc says:
// ErrTooLarge → too_large, ErrType and ErrInvalid → bad_request, ErrConflict
// and ErrChecksum → conflict, ErrNotFound → not_found, ErrQuota (and a full
// database) → quota_exceeded; anything else is unavailable.
//
// Sizing: a chunk request carries chunk_bytes of data as base64, about 4/3 as
// many characters. The svc Router's Options.MaxRequestBytes (and the broker's
// max_packet_size) must hold RequestBytesFor(chunk_bytes): 353,624 bytes for
// the default 256 KiB chunk. get answers are about as large.
//
// The service keeps no state of its own: every bucket belongs to broker/blob
// (and svc_answers to broker/svc). Run drives the media store's Cleanup.
package media
