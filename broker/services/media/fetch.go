package media

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/storeedge/storeedge/broker/svc"
)

// mayFetch asks CanFetch (or, without it, checks the staff roles) before the
// blob is looked up: a refusal is forbidden whether the blob exists or not.
func (s *Service) mayFetch(ctx context.Context, req *svc.Request, hash string) error {
	if s.o.CanFetch == nil {
		if s.staff(req.From.Role) {
			return nil
		}
		return forbiddenFetch()
	}
	ok, err := s.o.CanFetch(ctx, req.From, hash)
	if err != nil {
		return fmt.Errorf("mediasvc: CanFetch %s: %w", hash, err)
	}
	if !ok {
		return forbiddenFetch()
	}
	return nil
}

// stat answers a blob's meta.
func (s *Service) stat(ctx context.Context, req *svc.Request) (any, error) {
	r, err := decodeStat(req.Body)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	if err := s.mayFetch(ctx, req, r.Hash); err != nil {
		return nil, err
	}
	b, err := s.o.Media.Stat(ctx, r.Hash)
	if err != nil {
		return nil, mediaErr("stat", err)
	}
	return metaOf(b.Meta), nil
}

// get answers up to length bytes of a blob from offset.
func (s *Service) get(ctx context.Context, req *svc.Request) (any, error) {
	r, err := decodeGet(req.Body, s.maxRead)
	if err != nil {
		return nil, svc.BadInput(err)
	}
	if err := s.mayFetch(ctx, req, r.Hash); err != nil {
		return nil, err
	}
	b, err := s.o.Media.Stat(ctx, r.Hash)
	if err != nil {
		return nil, mediaErr("get", err)
	}
	if r.Offset > b.Meta.Size {
		return nil, svc.Errorf(svc.CodeBadRequest, "offset %d is past the end of the blob (%d bytes)", r.Offset, b.Meta.Size)
	}
	data, err := s.o.Media.Get(ctx, r.Hash, r.Offset, r.Length)
	if err != nil {
		return nil, mediaErr("get", err)
	}
	return getAns{Hash: r.Hash, Offset: r.Offset, Data: base64.StdEncoding.EncodeToString(data),
		EOF: r.Offset+int64(len(data)) >= b.Meta.Size}, nil
}
