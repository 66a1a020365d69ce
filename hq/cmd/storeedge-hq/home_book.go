package main

import (
	"context"
	"log/slog"

	"github.com/storeedge/storeedge/hq/replica"
)

// bookHandlers are the uplink topics the book part applies.
func bookHandlers(_ *slog.Logger) map[string]replica.TopicHandler { return nil }

// bookPart makes the book part of the page at home.
func bookPart(_ context.Context, _ homeDeps) (homePart, error) { return homePart{}, nil }
