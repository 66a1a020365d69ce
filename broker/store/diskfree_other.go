//go:build !unix

package store

// FreeBytes is not known here: no floor.
func FreeBytes(string) (int64, bool) { return 0, false }
