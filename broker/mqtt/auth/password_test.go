package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argon2idHash builds a PHC string the way common tools (argon2 CLI,
// passlib) print it.
func argon2idHash(pw string, salt []byte) string {
	const m, t, p = 8 * 1024, 2, 1
	key := argon2.IDKey([]byte(pw), salt, t, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestHashAndVerifyPassword(t *testing.T) {
	h, err := HashPassword("s3cret-kiosk")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != 10 {
		t.Fatalf("cost %d, %v; want 10", cost, err)
	}
	if ok, err := VerifyPassword(h, "s3cret-kiosk"); !ok || err != nil {
		t.Fatalf("right password: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(h, "s3cret-kiosK"); ok || err != nil {
		t.Fatalf("wrong password: %v, %v", ok, err)
	}
	if _, err := HashPassword(""); err == nil {
		t.Fatal("empty password hashed")
	}
	if _, err := HashPassword(strings.Repeat("x", 73)); err == nil {
		t.Fatal("73-byte password hashed (bcrypt would silently ignore the tail)")
	}
	// $2b$ and $2y$ spellings of the same hash verify too.
	for _, prefix := range []string{"$2b$", "$2y$"} {
		if ok, err := VerifyPassword(prefix+h[4:], "s3cret-kiosk"); !ok || err != nil {
			t.Fatalf("%s: %v, %v", prefix, ok, err)
		}
	}

	a := argon2idHash("tablet-pw", []byte("0123456789abcdef"))
	if ok, err := VerifyPassword(a, "tablet-pw"); !ok || err != nil {
		t.Fatalf("argon2id right password: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(a, "tablet-pX"); ok || err != nil {
		t.Fatalf("argon2id wrong password: %v, %v", ok, err)
	}
	padded := a + "=="
	if ok, err := VerifyPassword(padded, "tablet-pw"); !ok || err != nil {
		t.Fatalf("argon2id with padding: %v, %v", ok, err)
	}
}

func TestBadHashes(t *testing.T) {
	good := argon2idHash("pw", []byte("0123456789abcdef"))
	parts := strings.Split(good, "$")
	bad := []string{
		"",
		"plaintext",
		"$1$abc$def",
		"$2a$10$short",
		"$2x$10$szvhcH0JNm/5v7qpdO8uo.tSJsEXXp3cExDBfyfO7yt7mAO0WZoUS",
		"$2a$31$szvhcH0JNm/5v7qpdO8uo.tSJsEXXp3cExDBfyfO7yt7mAO0WZoUS", // far too slow
		"$argon2i$v=19$m=8192,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=16$m=8192,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=8192,t=2$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=8192,t=2,p=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=0,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=99999999,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=8192,t=2,p=1$!!!$" + parts[5],
		"$argon2id$v=19$m=8192,t=2,p=1$" + parts[4] + "$c2hvcnQ",
		"$argon2id$v=19$m=8192,t=2,p=1$" + parts[4],
	}
	for _, h := range bad {
		if err := checkHash(h); !errors.Is(err, ErrBadHash) {
			t.Errorf("checkHash(%q) = %v, want ErrBadHash", h, err)
		}
		if ok, err := VerifyPassword(h, "pw"); ok || !errors.Is(err, ErrBadHash) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false, ErrBadHash", h, ok, err)
		}
	}
}

func TestVerifyCacheBounded(t *testing.T) {
	c := newVerifyCache(8, time.Minute)
	now := time.Unix(1000, 0)
	for i := range 100 {
		c.add(verifyKey("h", []byte(fmt.Sprint(i))), now)
		if len(c.m) > 8 {
			t.Fatalf("cache grew to %d entries", len(c.m))
		}
	}
	k := verifyKey("h", []byte("fresh"))
	c.add(k, now)
	if !c.hit(k, now.Add(59*time.Second)) {
		t.Fatal("fresh entry missing")
	}
	if c.hit(k, now.Add(time.Minute)) {
		t.Fatal("entry outlived its ttl")
	}
	if verifyKey("ab", []byte("c")) == verifyKey("a", []byte("bc")) {
		t.Fatal("cache key is ambiguous")
	}
}

func TestRateLimiter(t *testing.T) {
	r := newRateLimiter(3, 16)
	now := time.Unix(5000, 0)
	for i := range 3 {
		if ok, _, _ := r.allow("10.0.0.1", now); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	ok, logNow, refused := r.allow("10.0.0.1", now)
	if ok || !logNow || refused != 1 {
		t.Fatalf("4th attempt: ok=%v log=%v refused=%d", ok, logNow, refused)
	}
	for range 5 {
		if ok, logNow, _ := r.allow("10.0.0.1", now.Add(10*time.Second)); ok || logNow {
			t.Fatalf("within the minute: ok=%v log=%v", ok, logNow)
		}
	}
	if ok, _, _ := r.allow("10.0.0.2", now); !ok {
		t.Fatal("other source limited")
	}
	// 20 s refill one token (3 per minute).
	if ok, _, _ := r.allow("10.0.0.1", now.Add(30*time.Second)); !ok {
		t.Fatal("not refilled after 30 s")
	}
	if ok, _, _ := r.allow("10.0.0.1", now.Add(70*time.Second)); !ok {
		t.Fatal("not refilled after 70 s")
	}
	// Many sources: memory stays bounded.
	for i := range 1000 {
		r.allow(fmt.Sprintf("192.168.%d.%d", i/256, i%256), now.Add(80*time.Second))
		if len(r.buckets) > 16 {
			t.Fatalf("%d buckets", len(r.buckets))
		}
	}
	if remoteHost("10.1.2.3:5555") != "10.1.2.3" || remoteHost("[::1]:1883") != "::1" || remoteHost("pipe") != "pipe" {
		t.Fatal("remoteHost")
	}
}
