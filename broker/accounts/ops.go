package accounts

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// QRSize is the side of a pairing QR code in pixels.
const QRSize = 320

// Register adds the ops of svc/accounts/… to router, callable by
// adminRoles only. enrollURL tells the POST /enroll address devices reach.
func (r *Registry) Register(router *svc.Router, enrollURL func() string, adminRoles []string) error {
	if len(adminRoles) == 0 {
		adminRoles = []string{r.o.AdminRole}
	}
	handlers := map[string]svc.Handler{
		"staff_add":            r.opStaffAdd,
		"staff_list":           r.listOf(proto.KindStaff),
		"staff_reset_password": r.opReset,
		"staff_disable":        r.opDisable(true),
		"staff_enable":         r.opDisable(false),
		"device_add":           r.opDeviceAdd(enrollURL),
		"device_list":          r.listOf(proto.KindDevice),
		"device_update":        r.opDeviceUpdate,
		"device_rotate":        r.opRotate(enrollURL),
		"device_revoke":        r.opRevoke,
	}
	opts := map[string][]svc.OpOption{}
	for name := range handlers {
		opts[name] = []svc.OpOption{svc.Roles(adminRoles...)}
	}
	return router.HandleService(proto.ServiceAccounts, handlers, opts)
}

func decode(b []byte, v any) error {
	if err := strictjson.Decode(b, v); err != nil {
		return svc.Errorf(svc.CodeBadRequest, "%v", err)
	}
	return nil
}

// answer maps the registry's errors to the documented codes. A password
// never appears in a message.
func answer(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrBadInput):
		return svc.Errorf(svc.CodeBadRequest, "%v", err)
	case errors.Is(err, ErrNotFound):
		return svc.Errorf(svc.CodeNotFound, "%v", err)
	case errors.Is(err, ErrConflict):
		return svc.Errorf(svc.CodeConflict, "%v", err)
	}
	return svc.FromCommit("accounts", err)
}

func (r *Registry) opStaffAdd(ctx context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.StaffAddRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	e, err := r.AddStaff(ctx, req.From.Device, q.Account, q.Name, q.Role, q.Password)
	if err != nil {
		return nil, answer(err)
	}
	return map[string]any{"account": r.Info(&e)}, nil
}

func (r *Registry) listOf(kind string) svc.Handler {
	return func(_ context.Context, req *svc.Request) (any, error) {
		var q proto.Envelope
		if err := decode(req.Body, &q); err != nil {
			return nil, err
		}
		out := proto.AccountList{Accounts: []proto.AccountInfo{}}
		for _, e := range r.Entries() {
			if e.Kind == kind {
				out.Accounts = append(out.Accounts, r.Info(&e))
			}
		}
		sort.SliceStable(out.Accounts, func(i, j int) bool {
			return out.Accounts[i].Revoked != out.Accounts[j].Revoked && !out.Accounts[i].Revoked
		})
		return out, nil
	}
}

func (r *Registry) opReset(ctx context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.PasswordRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	return nil, answer(r.SetPassword(ctx, req.From.Device, q.Account, q.Password))
}

func (r *Registry) opDisable(disabled bool) svc.Handler {
	return func(ctx context.Context, req *svc.Request) (any, error) {
		var q struct {
			proto.Envelope
			proto.AccountRequest
		}
		if err := decode(req.Body, &q); err != nil {
			return nil, err
		}
		return nil, answer(r.SetDisabled(ctx, req.From.Device, q.Account, disabled))
	}
}

func (r *Registry) pairingAnswer(e *Entry, code string, enrollURL func() string) (any, error) {
	qr, err := json.Marshal(map[string]string{"enroll": enrollURL(), "code": code})
	if err != nil {
		return nil, err
	}
	png, err := customer.QRPNG(string(qr), QRSize)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	return proto.Pairing{Account: r.Info(e), Code: code, Expires: rfc(e.PairingUntil), QR: string(qr),
		QRPNG: base64.StdEncoding.EncodeToString(png)}, nil
}

func (r *Registry) opDeviceAdd(enrollURL func() string) svc.Handler {
	return func(ctx context.Context, req *svc.Request) (any, error) {
		var q struct {
			proto.Envelope
			proto.DeviceAddRequest
		}
		if err := decode(req.Body, &q); err != nil {
			return nil, err
		}
		e, code, err := r.AddDevice(ctx, req.From.Device, q.Role, q.Name, q.Room)
		if err != nil {
			return nil, answer(err)
		}
		return r.pairingAnswer(&e, code, enrollURL)
	}
}

func (r *Registry) opDeviceUpdate(ctx context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.DeviceUpdateRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if q.Name == nil && q.Room == nil {
		return nil, svc.Errorf(svc.CodeBadRequest, "give name, room or both")
	}
	return nil, answer(r.UpdateDevice(ctx, req.From.Device, q.Account, q.Name, q.Room))
}

func (r *Registry) opRotate(enrollURL func() string) svc.Handler {
	return func(ctx context.Context, req *svc.Request) (any, error) {
		var q struct {
			proto.Envelope
			proto.AccountRequest
		}
		if err := decode(req.Body, &q); err != nil {
			return nil, err
		}
		e, code, err := r.Rotate(ctx, req.From.Device, q.Account)
		if err != nil {
			return nil, answer(err)
		}
		return r.pairingAnswer(&e, code, enrollURL)
	}
}

func (r *Registry) opRevoke(ctx context.Context, req *svc.Request) (any, error) {
	var q struct {
		proto.Envelope
		proto.AccountRequest
	}
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	return nil, answer(r.Revoke(ctx, req.From.Device, q.Account))
}
