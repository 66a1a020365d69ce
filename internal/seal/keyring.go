// Package seal holds the store's encryption at rest for personal data: AES-256-GCM
// under a keyring whose key id travels with every sealed record, so keys rotate
// without rewriting old records.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the length of every key: AES-256.
const KeySize = 32

// MaxKeyIDLen bounds a key id; ids are stored in every sealed record.
const MaxKeyIDLen = 32

// ErrNoKeys is returned when a spec or environment variable holds no key.
var ErrNoKeys = errors.New("seal: no keys configured")

// Keyring holds the keys records may be sealed under. The first key of the
// spec is current: Seal uses it; Open uses whichever key a record names.
// A Keyring is safe for concurrent use.
type Keyring struct {
	current string
	keys    map[string]cipher.AEAD
	order   []string
}

// ParseKeys builds a Keyring from a spec such as "k2:BASE64,k1:BASE64": comma
// separated id:key pairs, the current key first. Ids are 1-32 characters of
// [A-Za-z0-9_.-]; keys are 32 bytes in standard base64 (padded or not).
// Errors never include key material.
func ParseKeys(spec string) (*Keyring, error) {
	kr := &Keyring{keys: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("seal: key %d: want id:base64key", i+1)
		}
		id = strings.TrimSpace(id)
		if err := validID(id); err != nil {
			return nil, fmt.Errorf("seal: key %d: %w", i+1, err)
		}
		if _, dup := kr.keys[id]; dup {
			return nil, fmt.Errorf("seal: key id %q appears twice", id)
		}
		key, err := decodeKey(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", id, err)
		}
		aead, err := newAEAD(key)
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %w", id, err)
		}
		kr.keys[id] = aead
		kr.order = append(kr.order, id)
	}
	if len(kr.order) == 0 {
		return nil, ErrNoKeys
	}
	kr.current = kr.order[0]
	return kr, nil
}

// FromEnv builds a Keyring from the spec in the environment variable name
// (see ParseKeys).
func FromEnv(name string) (*Keyring, error) {
	spec, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("seal: environment variable %s: %w", name, ErrNoKeys)
	}
	kr, err := ParseKeys(spec)
	if err != nil {
		return nil, fmt.Errorf("seal: environment variable %s: %w", name, err)
	}
	return kr, nil
}

// Current is the id of the key Seal uses.
func (k *Keyring) Current() string { return k.current }

// IDs lists the key ids, current first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.order...) }

func validID(id string) error {
	if id == "" || len(id) > MaxKeyIDLen {
		return fmt.Errorf("key id must be 1-%d characters", MaxKeyIDLen)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
		default:
			return fmt.Errorf("key id %q: only letters, digits, '_', '.' and '-'", id)
		}
	}
	return nil
}

func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("key is not valid base64")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}
