package svc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/storeedge/storeedge/broker/store"
)

// A service's commit error becomes the answer a client can act on.
func TestFromCommit(t *testing.T) {
	refused := Errorf(CodeConflict, "slot taken")
	disk := errors.New("input/output error")
	cases := []struct {
		err      error
		code     string // "" = not an *Error (answered unavailable)
		wrapping error
	}{
		{fmt.Errorf("in the transaction: %w", refused), CodeConflict, refused},
		{fmt.Errorf("commit: %w", store.ErrFull), CodeQuotaExceeded, nil},
		{disk, "", disk},
	}
	if FromCommit("booking", nil) != nil {
		t.Fatal("nil is not nil")
	}
	for _, c := range cases {
		got := FromCommit("booking", c.err)
		var e *Error
		isErr := errors.As(got, &e)
		switch {
		case c.code != "" && (!isErr || e.Code != c.code):
			t.Errorf("%v: got %v, want code %s", c.err, got, c.code)
		case c.code == "" && isErr:
			t.Errorf("%v: got code %s, want an internal error", c.err, e.Code)
		case c.wrapping != nil && !errors.Is(got, c.wrapping):
			t.Errorf("%v: %v does not wrap it", c.err, got)
		}
	}
}
