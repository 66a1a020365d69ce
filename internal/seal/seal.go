package seal

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// A sealed record (format version 1):
//
//	version  byte = 1
//	key id   length byte, then the id (1-32 bytes)
//	nonce    12 random bytes
//	sealed   AES-256-GCM ciphertext and 16-byte tag
//
// The header (version and key id) is authenticated together with the caller's
// additional data, so no byte of the record can change unnoticed.
const (
	formatVersion = 1
	nonceSize     = 12
	tagSize       = 16
)

// Overhead is how many bytes Seal adds to a plaintext sealed under a key id of
// length idLen.
func Overhead(idLen int) int { return 2 + idLen + nonceSize + tagSize }

var (
	// ErrMalformed: the input is not a sealed record of a known version.
	ErrMalformed = errors.New("seal: malformed sealed record")
	// ErrUnknownKey: the record names a key id the keyring does not hold.
	ErrUnknownKey = errors.New("seal: record sealed under an unknown key id")
	// ErrAuth: the record, or its additional data, was altered, or was sealed
	// under a different key with the same id.
	ErrAuth = errors.New("seal: authentication failed")
)

// Seal encrypts plaintext under the current key. additionalData is
// authenticated but not stored: Open must be given the same bytes (bind a
// record to where it is stored, e.g. its bucket and key).
func (k *Keyring) Seal(plaintext, additionalData []byte) ([]byte, error) {
	if k == nil || k.current == "" {
		return nil, ErrNoKeys
	}
	aead := k.keys[k.current]
	hdrLen := 2 + len(k.current)
	out := make([]byte, hdrLen+nonceSize, hdrLen+nonceSize+len(plaintext)+tagSize)
	out[0] = formatVersion
	out[1] = byte(len(k.current))
	copy(out[2:], k.current)
	nonce := out[hdrLen : hdrLen+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, aad(out[:hdrLen], additionalData)), nil
}

// Open decrypts a record made by Seal under any key of the keyring, checking
// it against additionalData.
func (k *Keyring) Open(sealed, additionalData []byte) ([]byte, error) {
	id, hdrLen, err := header(sealed)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, ErrNoKeys
	}
	aead, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	nonce := sealed[hdrLen : hdrLen+nonceSize]
	pt, err := aead.Open(nil, nonce, sealed[hdrLen+nonceSize:], aad(sealed[:hdrLen], additionalData))
	if err != nil {
		return nil, fmt.Errorf("%w (key %q)", ErrAuth, id)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// KeyID reports which key a record was sealed under, without decrypting it;
// a rotation job re-seals records whose id is not Current.
func KeyID(sealed []byte) (string, error) {
	id, _, err := header(sealed)
	return id, err
}

func header(sealed []byte) (id string, hdrLen int, err error) {
	if len(sealed) < 2 || sealed[0] != formatVersion {
		return "", 0, ErrMalformed
	}
	n := int(sealed[1])
	if n == 0 || n > MaxKeyIDLen || len(sealed) < 2+n+nonceSize+tagSize {
		return "", 0, ErrMalformed
	}
	return string(sealed[2 : 2+n]), 2 + n, nil
}

// aad is the data GCM authenticates: the record header, then the caller's.
func aad(hdr, additionalData []byte) []byte {
	b := make([]byte, 0, len(hdr)+len(additionalData))
	return append(append(b, hdr...), additionalData...)
}
