package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrBadHash is returned for a password hash that is neither a well-formed
// bcrypt hash ($2a$, $2b$, $2y$) nor a well-formed argon2id PHC string.
var ErrBadHash = errors.New("unsupported or malformed password hash")

// bcryptCost is the cost HashPassword uses: about 50-100 ms on the store box.
const bcryptCost = 10

// Limits on hashes read from devices.yaml, so that a typo in the registry
// cannot make one login take minutes or gigabytes on a small ARM box.
const (
	maxBcryptCost    = 14
	maxArgon2Memory  = 1 << 20 // KiB, 1 GiB
	maxArgon2Time    = 64
	maxArgon2Threads = 64
)

// HashPassword returns a bcrypt hash (cost 10) of pw for devices.yaml.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("hash password: empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// VerifyPassword reports whether pw matches hash, a bcrypt hash or an argon2id
// PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash). The comparison is
// constant-time. A mismatch is (false, nil); an error means the hash itself is
// unusable (it wraps ErrBadHash).
func VerifyPassword(hash, pw string) (bool, error) {
	switch {
	case isBcrypt(hash):
		if err := checkBcrypt(hash); err != nil {
			return false, err
		}
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
			return false, nil
		default:
			return false, fmt.Errorf("verify password: %w: %w", ErrBadHash, err)
		}
	case strings.HasPrefix(hash, "$argon2id$"):
		p, err := parseArgon2id(hash)
		if err != nil {
			return false, err
		}
		got := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		return subtle.ConstantTimeCompare(got, p.key) == 1, nil
	default:
		return false, fmt.Errorf("verify password: %w: want bcrypt ($2a$/$2b$/$2y$) or $argon2id$", ErrBadHash)
	}
}

// checkHash validates a hash from the registry without a password.
func checkHash(hash string) error {
	switch {
	case isBcrypt(hash):
		return checkBcrypt(hash)
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err := parseArgon2id(hash)
		return err
	default:
		return fmt.Errorf("%w: want bcrypt ($2a$/$2b$/$2y$) or $argon2id$", ErrBadHash)
	}
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")
}

func checkBcrypt(h string) error {
	if len(h) != 60 {
		return fmt.Errorf("%w: a bcrypt hash is 60 characters, this one is %d", ErrBadHash, len(h))
	}
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadHash, err)
	}
	if cost > maxBcryptCost {
		return fmt.Errorf("%w: bcrypt cost %d is too slow for the store box (at most %d)", ErrBadHash, cost, maxBcryptCost)
	}
	return nil
}

type argon2Params struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseArgon2id parses "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>" with
// salt and hash in unpadded standard base64 (padding is tolerated).
func parseArgon2id(s string) (argon2Params, error) {
	bad := func(why string) (argon2Params, error) {
		return argon2Params{}, fmt.Errorf("%w: argon2id: %s", ErrBadHash, why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("want $argon2id$v=19$m=..,t=..,p=..$salt$hash")
	}
	if parts[2] != "v=19" {
		return bad(fmt.Sprintf("version %q, want v=19", parts[2]))
	}
	var p argon2Params
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return bad(fmt.Sprintf("parameters %q: want m=..,t=..,p=..", parts[3]))
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return bad(fmt.Sprintf("parameter %s=%q: want a positive integer", k, v))
		}
		switch k {
		case "m":
			if n > maxArgon2Memory {
				return bad(fmt.Sprintf("m=%d KiB is more than the store box can spare (at most %d)", n, maxArgon2Memory))
			}
			p.memory = uint32(n)
		case "t":
			if n > maxArgon2Time {
				return bad(fmt.Sprintf("t=%d is too slow (at most %d)", n, maxArgon2Time))
			}
			p.time = uint32(n)
		case "p":
			if n > maxArgon2Threads {
				return bad(fmt.Sprintf("p=%d (at most %d)", n, maxArgon2Threads))
			}
			p.threads = uint8(n)
		default:
			return bad(fmt.Sprintf("unknown parameter %q", k))
		}
	}
	if !seen["m"] || !seen["t"] || !seen["p"] {
		return bad(fmt.Sprintf("parameters %q: want m=..,t=..,p=..", parts[3]))
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[4], "=")); err != nil || len(p.salt) < 8 || len(p.salt) > 64 {
		return bad("salt: want 8-64 bytes of base64")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[5], "=")); err != nil || len(p.key) < 16 || len(p.key) > 128 {
		return bad("hash: want 16-128 bytes of base64")
	}
	return p, nil
}

// dummyHash is compared against when the device is unknown or has no
// password, so that a wrong username costs as much time as a wrong password
// and does not reveal which device ids exist.
const dummyHash = "$2a$10$szvhcH0JNm/5v7qpdO8uo.tSJsEXXp3cExDBfyfO7yt7mAO0WZoUS"

// verifyCache remembers successful verifications for a short time, keyed by
// sha256(hash, 0, password), so that a reconnect storm does not repeat the
// expensive hash for every device. Failures are never cached. Changing a
// device's hash changes the key, so a reload takes effect at once.
type verifyCache struct {
	mu  sync.Mutex
	m   map[[32]byte]time.Time // key -> expiry
	max int
	ttl time.Duration
}

func newVerifyCache(max int, ttl time.Duration) *verifyCache {
	return &verifyCache{m: make(map[[32]byte]time.Time), max: max, ttl: ttl}
}

func verifyKey(hash string, pw []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(hash))
	h.Write([]byte{0})
	h.Write(pw)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *verifyCache) hit(k [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[k]
	if !ok {
		return false
	}
	if !now.Before(exp) {
		delete(c.m, k)
		return false
	}
	return true
}

func (c *verifyCache) add(k [32]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, exp := range c.m {
			if !now.Before(exp) {
				delete(c.m, key)
			}
		}
		// Still full: drop arbitrary entries down to 3/4 (they only cost a
		// re-hash), so that the sweep above is not repeated on every add.
		for key := range c.m {
			if len(c.m) < c.max*3/4 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = now.Add(c.ttl)
}
