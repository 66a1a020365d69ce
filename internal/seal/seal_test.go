package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t testing.TB) string {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

func mustParse(t testing.TB, spec string) *Keyring {
	t.Helper()
	kr, err := ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestRoundTrip(t *testing.T) {
	kr := mustParse(t, "k1:"+newKey(t))
	for _, pt := range [][]byte{nil, {}, []byte("red bumpy rash on the cheeks"), bytes.Repeat([]byte{7}, 300_000)} {
		s, err := kr.Seal(pt, []byte("chat/c1/m1"))
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != len(pt)+Overhead(2) {
			t.Fatalf("sealed %d bytes into %d, want overhead %d", len(pt), len(s), Overhead(2))
		}
		if len(pt) > 8 && bytes.Contains(s, pt[:8]) {
			t.Fatal("sealed record contains the plaintext")
		}
		got, err := kr.Open(s, []byte("chat/c1/m1"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatal("round trip changed the plaintext")
		}
		if id, _ := KeyID(s); id != "k1" {
			t.Fatalf("KeyID = %q", id)
		}
	}
}

func TestNoncesDiffer(t *testing.T) {
	kr := mustParse(t, "k1:"+newKey(t))
	a, _ := kr.Seal([]byte("same"), nil)
	b, _ := kr.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical: nonce reused")
	}
}

func TestRotation(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	old := mustParse(t, "k1:"+k1)
	rec, err := old.Seal([]byte("formula stage 2"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustParse(t, "k2:"+k2+", k1:"+k1)
	if rotated.Current() != "k2" {
		t.Fatalf("current = %q, want k2", rotated.Current())
	}
	got, err := rotated.Open(rec, []byte("ad"))
	if err != nil || string(got) != "formula stage 2" {
		t.Fatalf("old record after rotation: %q, %v", got, err)
	}
	fresh, _ := rotated.Seal([]byte("new"), []byte("ad"))
	if id, _ := KeyID(fresh); id != "k2" {
		t.Fatalf("new record sealed under %q, want k2", id)
	}
	// A keyring that dropped k1 names the missing key.
	dropped := mustParse(t, "k2:"+k2)
	_, err = dropped.Open(rec, []byte("ad"))
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("open with k1 removed: %v, want ErrUnknownKey naming k1", err)
	}
	// The old keyring cannot read what the new key sealed.
	if _, err := old.Open(fresh, []byte("ad")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old keyring opened a k2 record: %v", err)
	}
}

func TestTamperingFails(t *testing.T) {
	kr := mustParse(t, "k1:"+newKey(t)+",k2:"+newKey(t))
	rec, err := kr.Seal([]byte("fever of 38.5, what now?"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range rec {
		for bit := range 8 {
			bad := bytes.Clone(rec)
			bad[i] ^= 1 << bit
			if _, err := kr.Open(bad, []byte("ad")); err == nil {
				t.Fatalf("flipping bit %d of byte %d went unnoticed", bit, i)
			}
		}
	}
	for n := range len(rec) {
		if _, err := kr.Open(rec[:n], []byte("ad")); err == nil {
			t.Fatalf("record truncated to %d bytes opened", n)
		}
	}
	if _, err := kr.Open(append(bytes.Clone(rec), 0), []byte("ad")); !errors.Is(err, ErrAuth) {
		t.Fatalf("extended record: %v, want ErrAuth", err)
	}
}

func TestWrongAdditionalDataFails(t *testing.T) {
	kr := mustParse(t, "k1:"+newKey(t))
	rec, _ := kr.Seal([]byte("photo"), []byte("media/page/aa/0"))
	for _, ad := range [][]byte{nil, []byte("media/page/aa/1"), []byte("media/page/aa/0 ")} {
		if _, err := kr.Open(rec, ad); !errors.Is(err, ErrAuth) {
			t.Fatalf("additional data %q: %v, want ErrAuth", ad, err)
		}
	}
}

func TestSameIDDifferentKeyFails(t *testing.T) {
	a := mustParse(t, "k1:"+newKey(t))
	b := mustParse(t, "k1:"+newKey(t))
	rec, _ := a.Seal([]byte("x"), nil)
	if _, err := b.Open(rec, nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("%v, want ErrAuth", err)
	}
}

func TestParseKeysErrors(t *testing.T) {
	good := newKey(t)
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for name, spec := range map[string]string{
		"empty":        "",
		"only commas":  " , ,",
		"no colon":     "k1" + good,
		"bad base64":   "k1:!!!",
		"short key":    "k1:" + short,
		"empty id":     ":" + good,
		"bad id":       "k/1:" + good,
		"long id":      strings.Repeat("k", 33) + ":" + good,
		"duplicate id": "k1:" + good + ",k1:" + newKey(t),
	} {
		_, err := ParseKeys(spec)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), good) {
			t.Errorf("%s: error leaks the key: %v", name, err)
		}
	}
	raw := strings.TrimRight(good, "=")
	if _, err := ParseKeys(" k1 : " + raw + " "); err != nil {
		t.Fatalf("unpadded key with spaces: %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("STOREEDGE_TEST_SEAL_KEYS", "k9:"+newKey(t)+",k8:"+newKey(t))
	kr, err := FromEnv("STOREEDGE_TEST_SEAL_KEYS")
	if err != nil {
		t.Fatal(err)
	}
	if kr.Current() != "k9" || strings.Join(kr.IDs(), ",") != "k9,k8" {
		t.Fatalf("current %q ids %v", kr.Current(), kr.IDs())
	}
	if _, err := FromEnv("STOREEDGE_TEST_SEAL_UNSET"); !errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), "STOREEDGE_TEST_SEAL_UNSET") {
		t.Fatalf("unset variable: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	kr := mustParse(t, "k1:"+newKey(t))
	for _, b := range [][]byte{nil, {1}, {2, 2, 'k', '1'}, {1, 0}, {1, 40}} {
		if _, err := kr.Open(b, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v: %v, want ErrMalformed", b, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	kr := mustParse(f, "k1:"+newKey(f)+",k2:"+newKey(f))
	rec, _ := kr.Seal([]byte("hello"), []byte("ad"))
	f.Add(rec, []byte("ad"))
	f.Add([]byte{1, 2, 'k', '1'}, []byte(nil))
	f.Add([]byte{1, 2, 'k', '3', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte(nil))
	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		pt, err := kr.Open(sealed, ad)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrAuth) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Only a genuine record opens: the seed, with its own additional data.
		if !bytes.Equal(sealed, rec) || string(pt) != "hello" {
			t.Fatalf("forged record opened: %x", sealed)
		}
	})
}
