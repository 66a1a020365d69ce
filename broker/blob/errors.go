package blob

import (
	"errors"
	"fmt"
)

// Errors a service maps to wire codes; test with errors.Is.
var (
	// ErrInvalid: a malformed argument (empty owner, bad hash, bad index).
	ErrInvalid = errors.New("media: invalid request")
	// ErrTooLarge: the declared size exceeds the type's limit, a chunk is
	// larger than the chunk size, or a read is longer than MaxReadBytes.
	ErrTooLarge = errors.New("media: too large")
	// ErrType: the type is not allowed, or the content is not of that type.
	ErrType = errors.New("media: type not allowed")
	// ErrConflict: a request disagrees with what is stored for the same id
	// (other meta for an upload id, other bytes for a chunk index).
	ErrConflict = errors.New("media: conflict")
	// ErrIncomplete: Complete was called while chunks are missing (it is an
	// ErrConflict); Status lists them.
	ErrIncomplete = fmt.Errorf("%w: upload has missing chunks", ErrConflict)
	// ErrNotFound: no such upload (or it expired) or no such blob.
	ErrNotFound = errors.New("media: not found")
	// ErrChecksum: the assembled bytes do not match the declared SHA-256 or
	// size; the upload is discarded.
	ErrChecksum = errors.New("media: checksum mismatch")
	// ErrQuota: storing the upload would take media bytes past MaxTotalBytes,
	// or the owner has MaxUploadsPerOwner uploads open.
	ErrQuota = errors.New("media: quota exceeded")
	// ErrCorrupt: a stored record does not decode (or does not open).
	ErrCorrupt = errors.New("media: corrupt stored record")
)
