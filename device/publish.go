package device

import (
	"context"
	"errors"
	"fmt"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// ErrNotConnected: a plain Publish needs the connection up; unlike
// requests, publishes are not queued.
var ErrNotConnected = errors.New("device: not connected")

// Publish sends one message at QoS 1 and waits for the broker's PUBACK.
// It is not queued: while the connection is down it fails with
// ErrNotConnected. A topic the device's role may not publish to is an
// *Error matching ErrForbidden (PUBACK 0x87); a full store disk matches
// ErrQuotaExceeded (0x97).
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	c.mu.Lock()
	up, closed := c.gen != 0, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case !up:
		return fmt.Errorf("device: publish to %s: %w", topic, ErrNotConnected)
	}
	pr, err := c.conn().Publish(ctx, &paho.Publish{QoS: 1, Retain: retain, Topic: topic, Payload: payload})
	switch {
	case err == nil:
		return nil
	case pr != nil && pr.ReasonCode >= 0x80:
		e := pubackError("", "", "", pr.ReasonCode)
		e.Message = fmt.Sprintf("the broker refused the publish (reason code 0x%02x)", pr.ReasonCode)
		return &publishError{topic: topic, err: e}
	case errors.Is(err, autopaho.ConnectionDownError):
		return fmt.Errorf("device: publish to %s: %w", topic, ErrNotConnected)
	}
	return fmt.Errorf("device: publish to %s: %w", topic, err)
}

// publishError names the topic of a refused publish; it unwraps to the
// *Error with the code.
type publishError struct {
	topic string
	err   *Error
}

func (e *publishError) Error() string {
	return fmt.Sprintf("device: publish to %s: %s: %s", e.topic, e.err.Code, e.err.Message)
}

func (e *publishError) Unwrap() error { return e.err }
