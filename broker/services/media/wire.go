package media

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Field limits of the requests.
const (
	maxNameBytes = 255
	maxTypeBytes = 100
)

// uploadPattern is the alphabet of a client's upload id.
var uploadPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// The request bodies: proto's, with the envelope svc already checked, so
// strict decoding accepts them.
type (
	beginReq struct {
		proto.Envelope
		proto.UploadBeginRequest
	}
	chunkReq struct {
		proto.Envelope
		proto.UploadChunkRequest
	}
	uploadReq struct {
		proto.Envelope
		proto.UploadRef
	} // status and complete
	statReq struct {
		proto.Envelope
		proto.BlobStatRequest
	}
	getReq struct {
		proto.Envelope
		proto.BlobGetRequest
	}
)

func checkUpload(id string) error {
	if !uploadPattern.MatchString(id) {
		return errors.New(`"upload" must be 1-64 letters, digits, '_', '.' or '-'`)
	}
	return nil
}

// normHash checks a SHA-256 in hex (either case) and returns it in lowercase.
func normHash(field, h string) (string, error) {
	if len(h) != 64 {
		return "", fmt.Errorf("%q must be a SHA-256: 64 hex digits", field)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("%q must be a SHA-256: 64 hex digits", field)
	}
	return strings.ToLower(h), nil
}

func decodeBegin(b []byte) (beginReq, error) {
	var r beginReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if err := checkUpload(r.Upload); err != nil {
		return r, err
	}
	if r.Type == "" || len(r.Type) > maxTypeBytes {
		return r, fmt.Errorf(`"type" must be a MIME type of 1-%d bytes`, maxTypeBytes)
	}
	if r.Size <= 0 {
		return r, errors.New(`"size" must be a positive number of bytes`)
	}
	h, err := normHash("sha256", r.SHA256)
	if err != nil {
		return r, err
	}
	r.SHA256 = h
	if len(r.Name) > maxNameBytes || !utf8.ValidString(r.Name) || strings.ContainsFunc(r.Name, unicode.IsControl) {
		return r, fmt.Errorf(`"name" must be UTF-8 text of at most %d bytes without control characters`, maxNameBytes)
	}
	if err := safetext.Check("name", r.Name, false); err != nil {
		return r, err
	}
	if r.DurationMs < 0 {
		return r, errors.New(`"duration_ms" must not be negative`)
	}
	return r, nil
}

// decodeChunk decodes a chunk request and its data, which may be at most
// chunkBytes long.
func decodeChunk(b []byte, chunkBytes int) (chunkReq, []byte, error) {
	var r chunkReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, nil, err
	}
	if err := checkUpload(r.Upload); err != nil {
		return r, nil, err
	}
	if r.Index == nil || *r.Index < 0 {
		return r, nil, errors.New(`"index" must be a chunk index (0, 1, …)`)
	}
	if r.Data == nil || *r.Data == "" {
		return r, nil, errors.New(`"data" must be the chunk's bytes in standard base64`)
	}
	// Refuse an oversized chunk before decoding it.
	if len(*r.Data) > base64.StdEncoding.EncodedLen(chunkBytes) {
		return r, nil, fmt.Errorf("%w: chunk of about %d bytes, at most %d", svc.ErrTooLarge, base64.StdEncoding.DecodedLen(len(*r.Data)), chunkBytes)
	}
	if strings.ContainsAny(*r.Data, "\r\n") {
		return r, nil, errors.New(`"data" must be standard base64 without line breaks`)
	}
	data, err := base64.StdEncoding.Strict().DecodeString(*r.Data)
	if err != nil {
		return r, nil, fmt.Errorf(`"data" is not standard padded base64: %w`, err)
	}
	if len(data) > chunkBytes {
		return r, nil, fmt.Errorf("%w: chunk of %d bytes, at most %d", svc.ErrTooLarge, len(data), chunkBytes)
	}
	return r, data, nil
}

func decodeUpload(b []byte) (uploadReq, error) {
	var r uploadReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	return r, checkUpload(r.Upload)
}

func decodeStat(b []byte) (statReq, error) {
	var r statReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	h, err := normHash("hash", r.Hash)
	if err != nil {
		return r, err
	}
	r.Hash = h
	return r, nil
}

// decodeGet decodes a get request; a missing, zero or larger length than
// maxLength is maxLength.
func decodeGet(b []byte, maxLength int) (getReq, error) {
	var r getReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	h, err := normHash("hash", r.Hash)
	if err != nil {
		return r, err
	}
	r.Hash = h
	if r.Offset < 0 {
		return r, errors.New(`"offset" must not be negative`)
	}
	if r.Length < 0 {
		return r, errors.New(`"length" must not be negative`)
	}
	if r.Length == 0 || r.Length > int64(maxLength) {
		r.Length = int64(maxLength)
	}
	return r, nil
}

// Answers: proto's wire types under the service's names.
type (
	stateAns = proto.UploadState       // begin, status
	chunkAns = proto.UploadChunkAnswer // chunk
	metaAns  = proto.Blob              // complete, stat
	getAns   = proto.BlobPiece         // get
)

func stateOf(st blob.UploadState) stateAns {
	a := stateAns{
		Upload: st.UploadID, ChunkBytes: st.ChunkBytes, Chunks: st.Chunks, Received: st.Received,
		Missing: st.Missing, Complete: st.Done, Hash: st.Hash, Expires: st.Expires.UTC().Truncate(time.Millisecond),
	}
	if a.Missing == nil {
		a.Missing = []int{}
	}
	return a
}

func metaOf(m blob.Meta) metaAns {
	return metaAns{Hash: m.SHA256, Type: m.Type, Size: m.Size, Width: m.Width, Height: m.Height,
		Thumbnail: m.Thumbnail, DurationMs: m.DurationMs}
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
