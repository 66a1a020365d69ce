//go:build !unix

package broker

// freeDiskBytes is not known here: no warning.
func freeDiskBytes(string) (int64, bool) { return 0, false }
