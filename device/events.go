package device

import (
	"context"
	"fmt"
	"strings"

	"github.com/eclipse/paho.golang/paho"
)

// Message is an event the client received on a subscription.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

type subscription struct {
	filter  string
	handler func(Message)
}

// Subscribe calls h for every message on filter (MQTT wildcards allowed)
// from now on, and again after every reconnect: the subscription is part
// of the device's persistent session, so messages published while it was
// away arrive when it is back. When connected it subscribes at once and
// reports a refusal (ErrForbidden: the role may not subscribe there);
// otherwise it subscribes when the connection comes up. h runs on the
// client's receiving goroutine: return quickly or hand the message off.
func (c *Client) Subscribe(ctx context.Context, filter string, h func(Message)) error {
	if filter == "" || h == nil {
		return fmt.Errorf("device: subscribe: %w: a filter and a handler are required", ErrBadRequest)
	}
	s := &subscription{filter: filter, handler: h}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.subs = append(c.subs, s)
	up, cm, cctx := c.gen != 0, c.cm, c.connCtx
	c.mu.Unlock()
	if !up {
		return nil
	}
	ctx, cancel := mergeDone(ctx, cctx)
	defer cancel()
	ack, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil {
		if ack != nil && len(ack.Reasons) == 1 && ack.Reasons[0] >= 0x80 {
			c.dropSub(s)
			return fmt.Errorf("device: subscribe %s: %w (SUBACK 0x%02x)", filter, ErrForbidden, ack.Reasons[0])
		}
		// The connection went down: the reconnect subscribes it.
		return nil
	}
	return nil
}

// Unsubscribe removes every handler of filter and the subscription.
func (c *Client) Unsubscribe(ctx context.Context, filter string) error {
	c.mu.Lock()
	kept := c.subs[:0]
	for _, s := range c.subs {
		if s.filter != filter {
			kept = append(kept, s)
		}
	}
	c.subs = kept
	up, cm := c.gen != 0, c.cm
	c.mu.Unlock()
	if !up {
		return nil
	}
	if _, err := cm.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{filter}}); err != nil {
		return fmt.Errorf("device: unsubscribe %s: %w", filter, err)
	}
	return nil
}

func (c *Client) dropSub(s *subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.subs {
		if x == s {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			return
		}
	}
}

// mergeDone is a context that ends when either ends.
func mergeDone(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}

// topicMatch reports whether topic matches the MQTT filter.
func topicMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && !strings.HasPrefix(filter, "$") {
		return false
	}
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, part := range f {
		if part == "#" {
			return true
		}
		if i >= len(t) || part != "+" && part != t[i] {
			return false
		}
	}
	return len(f) == len(t)
}
