package device

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/storeedge/storeedge/proto"
)

// Credentials are a device's own login, as enrolment gives them.
type Credentials struct {
	ID       string `json:"id"`
	Password string `json:"password"`
	Role     string `json:"role"`
	Name     string `json:"name,omitempty"`
	Room     string `json:"room,omitempty"`
	// MQTT (host:port) and WebSocket (ws://…) are the broker's addresses
	// as the store knows them; "" when it has no such listener.
	MQTT      string `json:"mqtt,omitempty"`
	WebSocket string `json:"websocket,omitempty"`
}

// Brokers are the broker addresses for Config.Brokers: mqtt://MQTT, then
// WebSocket.
func (c Credentials) Brokers() []string {
	var out []string
	if c.MQTT != "" {
		out = append(out, "mqtt://"+c.MQTT)
	}
	if c.WebSocket != "" {
		out = append(out, c.WebSocket)
	}
	return out
}

// EnrollError is the store's refusal of a pairing code: Code is one of
// PROTOCOL.md's POST /enroll codes (not_found: unknown or used, expired,
// quota_exceeded: too many attempts, bad_request, …).
type EnrollError struct {
	Status  int
	Code    string
	Message string
}

func (e *EnrollError) Error() string {
	return fmt.Sprintf("device: enrol: %s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// Enroll redeems a pairing code (shown by the console's "Add a device") at
// url, the store's enrolment address (http://<box>:8080/enroll, the QR
// code's "enroll"), and keeps the credentials it gets in the file keep
// (written whole or not at all, mode 0600). A code works once: keep the
// file, and use LoadCredentials after.
func Enroll(ctx context.Context, url, code, keep string) (Credentials, error) {
	if keep == "" {
		return Credentials{}, errors.New("device: enrol: name the file that keeps the credentials")
	}
	body, err := json.Marshal(proto.EnrollRequest{Code: code})
	if err != nil {
		return Credentials{}, fmt.Errorf("device: enrol: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Credentials{}, fmt.Errorf("device: enrol: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Credentials{}, fmt.Errorf("device: enrol: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Credentials{}, fmt.Errorf("device: enrol: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return Credentials{}, &EnrollError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	var a proto.EnrollAnswer
	if err := json.Unmarshal(b, &a); err != nil || a.ID == "" || a.Password == "" {
		return Credentials{}, fmt.Errorf("device: enrol: the store's answer is not credentials: %.200s", b)
	}
	c := Credentials(a)
	if err := saveCredentials(keep, c); err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// LoadCredentials reads the credentials Enroll kept.
func LoadCredentials(path string) (Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("device: credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		return Credentials{}, fmt.Errorf("device: credentials %s: not a credentials file", path)
	}
	return c, nil
}

// saveCredentials writes c to path through a temporary file in the same
// directory, synced and renamed, mode 0600.
func saveCredentials(path string, c Credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("device: credentials: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".credentials-*")
	if err != nil {
		return fmt.Errorf("device: credentials: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("device: credentials: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("device: credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("device: credentials: %w", err)
	}
	return nil
}
