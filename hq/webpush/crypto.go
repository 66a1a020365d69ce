package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"
)

// recordSize is the aes128gcm record size HQ writes: the whole
// notification is one record.
const recordSize = 4096

var b64 = base64.RawURLEncoding

// decodeB64 reads base64url with or without padding (browsers give it
// without; some libraries add it).
func decodeB64(s string) ([]byte, error) { return b64.DecodeString(strings.TrimRight(s, "=")) }

// encrypt seals plaintext for one subscription (RFC 8291 with RFC 8188's
// aes128gcm coding, one record): uaPublic is the subscription's p256dh
// (65 bytes), auth its 16-byte secret, as the sender's one-time key and
// salt 16 random bytes. The result is the request body: the header (salt,
// record size, as's public key) and the record.
func encrypt(plaintext, uaPublic, auth []byte, as *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(plaintext) > recordSize-17 {
		return nil, fmt.Errorf("webpush: payload of %d bytes does not fit one record", len(plaintext))
	}
	if len(auth) != 16 || len(salt) != 16 {
		return nil, errors.New("webpush: auth secret and salt must be 16 bytes")
	}
	ua, err := ecdh.P256().NewPublicKey(uaPublic)
	if err != nil {
		return nil, fmt.Errorf("webpush: p256dh: %w", err)
	}
	secret, err := as.ECDH(ua)
	if err != nil {
		return nil, fmt.Errorf("webpush: ecdh: %w", err)
	}
	asPublic := as.PublicKey().Bytes()
	keyInfo := "WebPush: info\x00" + string(uaPublic) + string(asPublic)
	ikm, err := hkdf.Key(sha256.New, secret, auth, keyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("webpush: ikm: %w", err)
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, fmt.Errorf("webpush: prk: %w", err)
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, fmt.Errorf("webpush: cek: %w", err)
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, fmt.Errorf("webpush: nonce: %w", err)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("webpush: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webpush: %w", err)
	}
	out := make([]byte, 0, 16+4+1+len(asPublic)+len(plaintext)+1+gcm.Overhead())
	out = append(out, salt...)
	out = binary.BigEndian.AppendUint32(out, recordSize)
	out = append(out, byte(len(asPublic)))
	out = append(out, asPublic...)
	record := append(append(make([]byte, 0, len(plaintext)+1), plaintext...), 2) // the last record's delimiter
	return gcm.Seal(out, nonce, record, nil), nil
}

// sealFor encrypts plaintext for a subscription with a fresh key and salt.
func sealFor(plaintext, uaPublic, auth []byte) ([]byte, error) {
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webpush: key: %w", err)
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	return encrypt(plaintext, uaPublic, auth, as, salt)
}

// vapid is HQ's application server key (RFC 8292).
type vapid struct {
	key     *ecdsa.PrivateKey
	public  string // base64url of the uncompressed point
	subject string
}

// loadVAPID reads the key file, making it (0600) when missing; created
// says it was made.
func loadVAPID(path, subject string) (v *vapid, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, false, fmt.Errorf("push.vapid_key_file: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, false, fmt.Errorf("push.vapid_key_file: %w", err)
		}
		b = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("push.vapid_key_file: %w", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("push.vapid_key_file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, false, fmt.Errorf("push.vapid_key_file: %w", err)
		}
		created = true
	} else if err != nil {
		return nil, false, fmt.Errorf("push.vapid_key_file: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("push.vapid_key_file %s: no PEM \"PRIVATE KEY\" block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("push.vapid_key_file %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, false, fmt.Errorf("push.vapid_key_file %s: not a P-256 key", path)
	}
	pub, err := ek.PublicKey.Bytes()
	if err != nil {
		return nil, false, fmt.Errorf("push.vapid_key_file %s: %w", path, err)
	}
	return &vapid{key: ek, public: b64.EncodeToString(pub), subject: subject}, created, nil
}

// authorization is the Authorization header for a request to endpoint:
// "vapid t=<ES256 JWT>, k=<public key>", the JWT's audience the
// endpoint's origin, valid for 12 hours.
func (v *vapid) authorization(endpoint string, now time.Time) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("webpush: endpoint: %w", err)
	}
	header := b64.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`))
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}{u.Scheme + "://" + u.Host, now.Add(12 * time.Hour).Unix(), v.subject})
	if err != nil {
		return "", fmt.Errorf("webpush: %w", err)
	}
	signing := header + "." + b64.EncodeToString(claims)
	h := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, v.key, h[:])
	if err != nil {
		return "", fmt.Errorf("webpush: sign: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + signing + "." + b64.EncodeToString(sig) + ", k=" + v.public, nil
}

// validPoint says whether p is an uncompressed P-256 point.
func validPoint(p []byte) bool {
	_, err := ecdh.P256().NewPublicKey(p)
	return err == nil
}
