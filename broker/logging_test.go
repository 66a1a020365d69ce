package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestQuietHandlerDemotesMochiConnectionNoise(t *testing.T) {
	var buf bytes.Buffer
	info := slog.New(quietHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	info.Warn("", "listener", "tcp", "error", "EOF")
	info.Warn("client store quota reached", "client", "x")
	if out := buf.String(); strings.Contains(out, "EOF") || !strings.Contains(out, "quota reached") {
		t.Fatalf("at info level: %q", out)
	}
	buf.Reset()
	debug := slog.New(quietHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})})
	debug.With("k", "v").Warn("", "error", "EOF")
	if out := buf.String(); !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, `msg="connection ended"`) || !strings.Contains(out, "error=EOF") || !strings.Contains(out, "k=v") {
		t.Fatalf("at debug level: %q", out)
	}
}
