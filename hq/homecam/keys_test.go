package homecam_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"testing"

	"github.com/storeedge/storeedge/internal/seal"
)

func testKeys(t testing.TB) *seal.Keyring {
	t.Helper()
	var k [32]byte
	_, _ = rand.Read(k[:])
	keys, err := seal.ParseKeys("t1:" + base64.StdEncoding.EncodeToString(k[:]))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s+"\n"), 0o600) }
