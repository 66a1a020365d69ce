package device

import (
	"context"
	"encoding/json"
)

// call sends svc/{service}/{op} and decodes the answer into a T: the typed
// ops are thin wrappers around it.
func call[T any](ctx context.Context, c *Client, service, op string, req any, opts ...CallOption) (T, error) {
	var out T
	if err := c.Do(ctx, service, op, req, &out, opts...); err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// inLane puts the lane first so that a caller's own InLane still wins.
func inLane(lane string, opts []CallOption) []CallOption {
	return append([]CallOption{InLane(lane)}, opts...)
}

// onJSON subscribes to filter and hands each message, decoded into a T,
// to h. A payload that does not decode is logged and skipped: one bad
// publisher must not stop the events of the others.
func onJSON[T any](ctx context.Context, c *Client, filter string, h func(topic string, v T)) error {
	return c.Subscribe(ctx, filter, func(m Message) {
		var v T
		if err := json.Unmarshal(m.Payload, &v); err != nil {
			c.cfg.Log.Warn("device: event not readable", "topic", m.Topic, "err", err)
			return
		}
		h(m.Topic, v)
	})
}
