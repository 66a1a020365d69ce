package media

import (
	"context"
	"errors"
	"strings"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/svc"
)

// begin declares an upload, or resumes it when the same declaration was
// begun before under the same upload id.
func (s *Service) begin(ctx context.Context, req *svc.Request) (_ any, err error) {
	owner, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeBegin(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	meta := blob.Meta{Type: r.Type, Size: r.Size, SHA256: r.SHA256, Name: r.Name, DurationMs: r.DurationMs}
	var opts []blob.BeginOption
	if req.From.Customer {
		// A customer is held to the customer limits of the media store, and
		// a new upload spends its size of the customer's daily bytes (given
		// back when it is not begun after all).
		opts = append(opts, blob.AsCustomer())
		if _, serr := s.o.Media.Status(ctx, owner, r.Upload); errors.Is(serr, blob.ErrNotFound) {
			if qerr := s.o.CustomerBytes.Take(owner, r.Size); qerr != nil {
				return nil, qerr
			}
			defer func() { // err: the answer's error
				if err != nil {
					s.o.CustomerBytes.Give(owner, r.Size)
				}
			}()
		}
	}
	st, err := s.o.Media.Begin(ctx, owner, r.Upload, meta, opts...)
	s.noteQuota(owner, req.From.Customer, err)
	if err != nil {
		if errors.Is(err, blob.ErrType) {
			return nil, svc.Errorf(svc.CodeBadRequest, "type %q is not accepted; allowed: %s",
				clip(r.Type), strings.Join(s.o.Media.Limits().AllowedTypes, ", "))
		}
		return nil, mediaErr("begin", err)
	}
	return stateOf(st), nil
}

// chunk stores one chunk. A chunk sent again (a retry after a reconnect)
// with the same bytes is not stored again.
func (s *Service) chunk(ctx context.Context, req *svc.Request) (any, error) {
	owner, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, data, err := decodeChunk(req.Body, s.chunkBytes)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	st, err := s.o.Media.PutChunk(ctx, owner, r.Upload, *r.Index, data)
	if err != nil {
		return nil, mediaErr("chunk", err)
	}
	return chunkAns{Upload: st.UploadID, Index: *r.Index, Received: st.Received, Chunks: st.Chunks}, nil
}

// status says where an upload stands.
func (s *Service) status(ctx context.Context, req *svc.Request) (any, error) {
	owner, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeUpload(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	st, err := s.o.Media.Status(ctx, owner, r.Upload)
	if err != nil {
		return nil, mediaErr("status", err)
	}
	return stateOf(st), nil
}

// complete assembles, verifies and stores the upload's blob.
func (s *Service) complete(ctx context.Context, req *svc.Request) (any, error) {
	owner, err := caller(req)
	if err != nil {
		return nil, err
	}
	r, err := decodeUpload(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	st, err := s.o.Media.Complete(ctx, owner, r.Upload)
	if err != nil {
		if errors.Is(err, blob.ErrIncomplete) {
			return nil, svc.Errorf(svc.CodeConflict, "upload %q has missing chunks; status lists them", r.Upload)
		}
		return nil, mediaErr("complete", err)
	}
	return metaOf(st.Meta), nil
}
