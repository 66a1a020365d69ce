package broker

import (
	"context"
	"log/slog"
)

// quietHandler lowers mochi's per-connection noise: its listeners log every
// connection that ends with an error (a client that went away, a refused
// login) at Warn with an empty message. Those become Debug records named
// "connection ended"; everything else passes unchanged.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "" && r.Level == slog.LevelWarn {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		q := slog.NewRecord(r.Time, slog.LevelDebug, "connection ended", r.PC)
		r.Attrs(func(a slog.Attr) bool { q.AddAttrs(a); return true })
		r = q
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
