package blob

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

var (
	bucketUploads = []byte("media_uploads")
	bucketBlobs   = []byte("media_blobs")
	bucketPages   = []byte("media_pages")

	keyState    = []byte("s")
	keyOpen     = []byte("o")
	keyReserved = []byte("\x00reserved")
	keyTotal    = []byte("total")
)

const (
	recordVersion = 1
	maxIDLen      = 128
	maxNameLen    = 255
	maxTypeLen    = 100
	maxChunks     = 1 << 20
)

// uploadRecord is the stored state of one upload (sealed JSON). A finished
// upload keeps a record with Done and Hash until it expires, so a retried
// Begin, PutChunk or Complete gets the same answer.
type uploadRecord struct {
	V          int   `json:"v"`
	Meta       Meta  `json:"meta"` // as declared in Begin (normalised)
	ChunkBytes int   `json:"chunk_bytes"`
	Created    int64 `json:"created"` // unix ms
	Expires    int64 `json:"expires"` // unix ms
	// Touched is when the last chunk was stored (unix ms, 0 = none yet):
	// an open upload lapses Options.UploadIdle after it (or after Created).
	Touched int64 `json:"touched,omitempty"`
	Done    bool  `json:"done,omitempty"`
	Result  *Meta `json:"result,omitempty"` // the stored blob's meta, when Done
}

// blobRecord is the stored record of one blob (sealed JSON). Meta.Name is
// never stored: a name belongs to the message, not to the content.
type blobRecord struct {
	V         int   `json:"v"`
	Meta      Meta  `json:"meta"`
	Refs      int64 `json:"refs"`
	PageBytes int   `json:"page_bytes"`
	Pages     int   `json:"pages"`
	Claimed   int64 `json:"claimed"` // unix ms of the last upload that produced it
}

func (u uploadRecord) chunks() int { return numChunks(u.Meta.Size, u.ChunkBytes) }

func numChunks(size int64, chunk int) int {
	if size <= 0 || chunk <= 0 {
		return 0
	}
	n := (size-1)/int64(chunk) + 1
	if n > maxChunks {
		return maxChunks + 1 // too many; callers reject it (and int may be 32 bits)
	}
	return int(n)
}

func encodeUpload(u uploadRecord) ([]byte, error) {
	u.V = recordVersion
	b, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("media: encode upload: %w", err)
	}
	return b, nil
}

// decodeUpload parses and checks a stored upload state.
func decodeUpload(b []byte) (uploadRecord, error) {
	var u uploadRecord
	if err := json.Unmarshal(b, &u); err != nil {
		return uploadRecord{}, fmt.Errorf("%w: upload: %w", ErrCorrupt, err)
	}
	if u.V != recordVersion {
		return uploadRecord{}, fmt.Errorf("%w: upload version %d", ErrCorrupt, u.V)
	}
	if err := checkMeta(u.Meta); err != nil {
		return uploadRecord{}, fmt.Errorf("%w: upload: %w", ErrCorrupt, err)
	}
	if u.Done != (u.Result != nil) {
		return uploadRecord{}, fmt.Errorf("%w: upload done without result", ErrCorrupt)
	}
	if u.Result != nil {
		if err := checkMeta(*u.Result); err != nil {
			return uploadRecord{}, fmt.Errorf("%w: upload result: %w", ErrCorrupt, err)
		}
	}
	if u.ChunkBytes <= 0 || u.chunks() > maxChunks {
		return uploadRecord{}, fmt.Errorf("%w: upload chunk size %d for %d bytes", ErrCorrupt, u.ChunkBytes, u.Meta.Size)
	}
	return u, nil
}

func encodeBlob(r blobRecord) ([]byte, error) {
	r.V = recordVersion
	r.Meta.Name = ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("media: encode blob: %w", err)
	}
	return b, nil
}

// decodeBlob parses and checks a stored blob record.
func decodeBlob(b []byte) (blobRecord, error) {
	var r blobRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return blobRecord{}, fmt.Errorf("%w: blob: %w", ErrCorrupt, err)
	}
	if r.V != recordVersion {
		return blobRecord{}, fmt.Errorf("%w: blob version %d", ErrCorrupt, r.V)
	}
	if err := checkMeta(r.Meta); err != nil {
		return blobRecord{}, fmt.Errorf("%w: blob: %w", ErrCorrupt, err)
	}
	if r.Refs < 0 || r.PageBytes <= 0 || r.Pages != numChunks(r.Meta.Size, r.PageBytes) {
		return blobRecord{}, fmt.Errorf("%w: blob refs %d, %d pages of %d bytes for %d bytes", ErrCorrupt, r.Refs, r.Pages, r.PageBytes, r.Meta.Size)
	}
	return r, nil
}

// checkMeta checks the shape of a meta (not the configured limits).
func checkMeta(m Meta) error {
	switch {
	case m.Type == "" || len(m.Type) > maxTypeLen:
		return fmt.Errorf("%w: type must be 1-%d characters", ErrInvalid, maxTypeLen)
	case m.Size <= 0:
		return fmt.Errorf("%w: size must be positive", ErrInvalid)
	case len(m.Name) > maxNameLen:
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalid, maxNameLen)
	case m.DurationMs < 0 || m.Width < 0 || m.Height < 0:
		return fmt.Errorf("%w: negative duration or dimension", ErrInvalid)
	}
	if _, err := hashKey(m.SHA256); err != nil {
		return err
	}
	if m.Thumbnail != "" {
		if _, err := hashKey(m.Thumbnail); err != nil {
			return err
		}
	}
	return nil
}

// hashKey turns a lowercase hex SHA-256 into its 32-byte key.
func hashKey(h string) ([]byte, error) {
	if len(h) != 64 || strings.ToLower(h) != h {
		return nil, fmt.Errorf("%w: sha256 must be 64 lowercase hex digits", ErrInvalid)
	}
	k, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: sha256 must be 64 lowercase hex digits", ErrInvalid)
	}
	return k, nil
}

func uploadKey(owner, uploadID string) []byte {
	return []byte(owner + "\x00" + uploadID)
}

func checkIDs(owner, uploadID string) error {
	for _, s := range []string{owner, uploadID} {
		if s == "" || len(s) > maxIDLen || strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("%w: owner and upload id must be 1-%d bytes without NUL", ErrInvalid, maxIDLen)
		}
	}
	return nil
}

func indexKey(prefix byte, i int) []byte {
	k := make([]byte, 5)
	k[0] = prefix
	binary.BigEndian.PutUint32(k[1:], uint32(i))
	return k
}

func pageKey(hash []byte, i int) []byte {
	k := make([]byte, 0, 36)
	k = append(k, hash...)
	return binary.BigEndian.AppendUint32(k, uint32(i))
}

// Additional data binding each sealed value to its place.
func adState(uk []byte) []byte { return append([]byte("media_uploads/s/"), uk...) }
func adChunk(uk []byte, prefix byte, i int) []byte {
	return binary.BigEndian.AppendUint32(append(append([]byte("media_uploads/"), prefix, '/'), uk...), uint32(i))
}
func adBlob(hash []byte) []byte { return append([]byte("media_blobs/"), hash...) }
func adPage(key []byte) []byte  { return append([]byte("media_pages/"), key...) }

func getCounter(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putCounter(n int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(max(n, 0)))
}
