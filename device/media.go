package device

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/storeedge/storeedge/proto"
)

// Media: uploads in chunks that survive a dropped connection, and reading
// blobs back (PROTOCOL.md, "Media"). Media requests are not kept on disk
// (a chunk is about 342 KiB of base64): an upload interrupted by a restart
// of the program resumes when Upload is called again with the same upload
// id and data.

// uploadWorkers is how many chunks of one upload travel at once.
const uploadWorkers = 4

// UploadRequest is one file to upload.
type UploadRequest struct {
	// Upload is the upload id: 1-64 of A-Z a-z 0-9 _ . -, unique among the
	// device's open uploads. Upload again with the same id to resume.
	// Default: the content's SHA-256, so the same bytes resume on their own.
	Upload string
	// Type is the MIME type: image/jpeg, image/png, image/webp, audio/ogg,
	// audio/mp4, audio/webm, video/mp4, video/webm or application/pdf.
	Type string
	// Name is a file name to show (optional).
	Name string
	// DurationMs is the length of audio and video (optional).
	DurationMs int64
	Data       []byte
	// Progress, when set, is called after each chunk is stored with the
	// chunks stored so far by this call and the chunks this call sends.
	// It runs on the upload's goroutines: return quickly.
	Progress func(sent, total int)
}

// Blob is a stored blob. Width, Height and Thumbnail (the hash of a JPEG of
// at most 256 pixels on its longer side, itself a blob) are known for JPEG
// and PNG images, DurationMs for audio and video. UploadState is where an
// upload stands: Missing are the chunk indexes still to send; Complete
// means the blob is stored (Hash names it).
type (
	Blob        = proto.Blob
	UploadState = proto.UploadState
)

func media[T any](ctx context.Context, c *Client, op string, req any) (T, error) {
	return call[T](ctx, c, proto.ServiceMedia, op, req, Durable(false))
}

// Upload uploads r.Data and answers the stored blob: it declares the
// upload (begin), sends the chunks the store lacks, up to 4 at a time, and
// completes it. Called again with the same upload id after an interruption
// it sends only the chunks still missing; when the store holds the content
// already it sends none.
func (c *Client) Upload(ctx context.Context, r UploadRequest) (Blob, error) {
	if len(r.Data) == 0 {
		return Blob{}, fmt.Errorf("device: upload: %w: no data", ErrBadRequest)
	}
	sum := sha256.Sum256(r.Data)
	hash := hex.EncodeToString(sum[:])
	if r.Upload == "" {
		r.Upload = hash
	}
	st, err := media[UploadState](ctx, c, "begin", proto.UploadBeginRequest{Upload: r.Upload, Type: r.Type,
		Size: int64(len(r.Data)), SHA256: hash, Name: r.Name, DurationMs: r.DurationMs})
	if err != nil {
		return Blob{}, err
	}
	if !st.Complete {
		if st.ChunkBytes <= 0 || st.Chunks != (len(r.Data)+st.ChunkBytes-1)/st.ChunkBytes {
			return Blob{}, fmt.Errorf("device: upload %s: the store declared %d chunks of %d bytes for %d bytes",
				r.Upload, st.Chunks, st.ChunkBytes, len(r.Data))
		}
		if err := c.sendChunks(ctx, r, st); err != nil {
			return Blob{}, err
		}
	}
	b, err := media[Blob](ctx, c, "complete", proto.UploadRef{Upload: r.Upload})
	if err != nil {
		return Blob{}, err
	}
	if b.Hash != hash {
		return Blob{}, fmt.Errorf("device: upload %s: the store answered blob %s, the data is %s", r.Upload, b.Hash, hash)
	}
	return b, nil
}

// sendChunks sends st.Missing, uploadWorkers at a time; the first failure
// stops the rest.
func (c *Client) sendChunks(ctx context.Context, r UploadRequest, st UploadState) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	todo := make(chan int)
	var (
		mu   sync.Mutex
		sent int
		wg   sync.WaitGroup
	)
	for range min(uploadWorkers, len(st.Missing)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range todo {
				if i < 0 || i >= st.Chunks {
					cancel(fmt.Errorf("device: upload %s: the store asked for chunk %d of %d", r.Upload, i, st.Chunks))
					return
				}
				end := min((i+1)*st.ChunkBytes, len(r.Data))
				data := base64.StdEncoding.EncodeToString(r.Data[i*st.ChunkBytes : end])
				body := proto.UploadChunkRequest{Upload: r.Upload, Index: &i, Data: &data}
				if _, err := media[struct{}](ctx, c, "chunk", body); err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				sent++
				n := sent
				mu.Unlock()
				if r.Progress != nil {
					r.Progress(n, len(st.Missing))
				}
			}
		}()
	}
feed:
	for _, i := range st.Missing {
		select {
		case todo <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(todo)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// UploadStatus says where an upload of this device stands.
func (c *Client) UploadStatus(ctx context.Context, upload string) (UploadState, error) {
	return media[UploadState](ctx, c, "status", proto.UploadRef{Upload: upload})
}

// BlobStat reads a stored blob's fields.
func (c *Client) BlobStat(ctx context.Context, hash string) (Blob, error) {
	return media[Blob](ctx, c, "stat", proto.BlobStatRequest{Hash: hash})
}

// Download reads a whole blob, piece by piece, and checks it against its
// hash. Members of a conversation read the blobs sent in it; staff read any.
func (c *Client) Download(ctx context.Context, hash string) ([]byte, error) {
	var buf bytes.Buffer
	for {
		a, err := media[proto.BlobPiece](ctx, c, "get", proto.BlobGetRequest{Hash: hash, Offset: int64(buf.Len())})
		if err != nil {
			return nil, err
		}
		piece, err := base64.StdEncoding.DecodeString(a.Data)
		if err != nil {
			return nil, fmt.Errorf("device: download %s: data at %d: %w", hash, buf.Len(), err)
		}
		buf.Write(piece)
		if a.EOF {
			break
		}
		if len(piece) == 0 {
			return nil, fmt.Errorf("device: download %s: empty piece at %d before the end", hash, buf.Len())
		}
	}
	sum := sha256.Sum256(buf.Bytes())
	if got := hex.EncodeToString(sum[:]); got != strings.ToLower(hash) {
		return nil, fmt.Errorf("device: download %s: the %d bytes read hash to %s", hash, buf.Len(), got)
	}
	return buf.Bytes(), nil
}
