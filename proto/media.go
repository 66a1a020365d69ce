package proto

import "time"

// Media: the ops of svc/media (PROTOCOL.md, "Media"): a resumable, chunked
// upload into the store's content-addressed blobs, and reading them back.

// UploadBeginRequest starts (or resumes) upload Upload of Size bytes whose
// SHA-256 is SHA256.
type UploadBeginRequest struct {
	Upload     string `json:"upload"`
	Type       string `json:"type"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Name       string `json:"name,omitempty"`
	DurationMs int64  `json:"duration_ms,omitempty"`
}

// UploadChunkRequest is chunk Index of an upload, its bytes in standard
// base64. Both are required.
type UploadChunkRequest struct {
	Upload string  `json:"upload"`
	Index  *int    `json:"index"`
	Data   *string `json:"data"`
}

// UploadRef names an upload (status, complete).
type UploadRef struct {
	Upload string `json:"upload"`
}

// BlobStatRequest names a blob (stat).
type BlobStatRequest struct {
	Hash string `json:"hash"`
}

// BlobGetRequest reads a piece of a blob from Offset, at most Length bytes
// (0: the store's chunk size).
type BlobGetRequest struct {
	Hash   string `json:"hash"`
	Offset int64  `json:"offset,omitempty"`
	Length int64  `json:"length,omitempty"`
}

// UploadState is where an upload stands (begin, status). Missing lists the
// chunks still to send, ascending; Received counts the chunks stored.
type UploadState struct {
	Upload     string    `json:"upload"`
	ChunkBytes int       `json:"chunk_bytes"`
	Chunks     int       `json:"chunks"`
	Received   int       `json:"received"`
	Missing    []int     `json:"missing"`
	Complete   bool      `json:"complete"`
	Hash       string    `json:"hash,omitempty"`
	Expires    time.Time `json:"expires"`
}

// UploadChunkAnswer acknowledges a stored chunk.
type UploadChunkAnswer struct {
	Upload   string `json:"upload"`
	Index    int    `json:"index"`
	Received int    `json:"received"`
	Chunks   int    `json:"chunks"`
}

// Blob is a stored blob (complete, stat); Width, Height and Thumbnail are
// known for JPEG and PNG images, DurationMs for audio and video.
type Blob struct {
	Hash       string `json:"hash"`
	Type       string `json:"type"`
	Size       int64  `json:"size"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	Thumbnail  string `json:"thumbnail,omitempty"`
	DurationMs int64  `json:"duration_ms,omitempty"`
}

// BlobPiece is a piece of a blob (get), its bytes in standard base64; EOF
// is true when it ends the blob.
type BlobPiece struct {
	Hash   string `json:"hash"`
	Offset int64  `json:"offset"`
	Data   string `json:"data"`
	EOF    bool   `json:"eof"`
}
