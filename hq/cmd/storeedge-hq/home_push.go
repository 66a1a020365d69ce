package main

import "context"

// pushPart makes the push part of the page at home.
func pushPart(_ context.Context, _ homeDeps) (homePart, error) { return homePart{}, nil }
