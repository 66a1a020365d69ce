package main

import (
	"context"
	"log/slog"

	"github.com/storeedge/storeedge/hq/replica"
)

// camHandlers are the uplink topics the cam part applies.
func camHandlers(_ *slog.Logger) map[string]replica.TopicHandler { return nil }

// camPart makes the cam part of the page at home.
func camPart(_ context.Context, _ homeDeps) (homePart, error) { return homePart{}, nil }
