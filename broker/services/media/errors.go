package media

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/quota"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
)

// caller returns the requester's device id, the owner of its uploads;
// anonymous clients may not upload.
func caller(req *svc.Request) (string, error) {
	if req.From.Device == "" {
		return "", svc.Errorf(svc.CodeForbidden, "uploading media needs a registered device")
	}
	return req.From.Device, nil
}

// mediaErr maps an error of the media store to the op's answer (see doc.go).
// Errors without a wire code are wrapped: the router answers unavailable and
// logs them.
func mediaErr(op string, err error) error {
	var se *svc.Error
	var qe *blob.QuotaError
	code := ""
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &qe):
		d := quota.Details{Reason: qe.Reason}
		if qe.RetryAfter > 0 {
			d.RetryAfter = max(1, int64(math.Ceil(qe.RetryAfter.Seconds())))
		}
		return svc.WithDetails(svc.Errorf(svc.CodeQuotaExceeded, "%s", clientMessage(err)), d)
	case errors.Is(err, blob.ErrCorrupt):
		// Not the client's fault, whatever else the error says.
	case errors.Is(err, blob.ErrTooLarge):
		code = svc.CodeTooLarge
	case errors.Is(err, blob.ErrType), errors.Is(err, blob.ErrInvalid):
		code = svc.CodeBadRequest
	case errors.Is(err, blob.ErrConflict), errors.Is(err, blob.ErrChecksum):
		code = svc.CodeConflict
	case errors.Is(err, blob.ErrNotFound):
		code = svc.CodeNotFound
	case errors.Is(err, blob.ErrQuota):
		code = svc.CodeQuotaExceeded
	case errors.Is(err, store.ErrDiskFull):
		return svc.Errorf(svc.CodeQuotaExceeded, "the store's disk is full; try again later")
	case errors.Is(err, store.ErrFull):
		return svc.Errorf(svc.CodeQuotaExceeded, "the store's database is full; try again later")
	}
	if code == "" {
		return fmt.Errorf("mediasvc: %s: %w", op, err)
	}
	return svc.Errorf(code, "%s", clientMessage(err))
}

// clientMessage is the media store's error text without its package prefixes
// (the client did not call a Go package).
func clientMessage(err error) string {
	return strings.ReplaceAll(err.Error(), "media: ", "")
}

// forbiddenFetch is the answer to a caller who may not read a hash, whether
// or not the blob exists.
func forbiddenFetch() error {
	return svc.Errorf(svc.CodeForbidden, "you may not fetch this blob")
}
