package homecam

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is its settings in hq.yaml ("home_camera:"); zero fields take the
// defaults.
type Config struct {
	// TURNURLs are the TURN server's addresses handed to both ends
	// ("turn:turn.example.com:3478?transport=udp", "turns:…:5349"). Empty:
	// the live view at home is off (its requests answer 503).
	TURNURLs []string `yaml:"turn_urls"`
	// TURNSecretFile holds coturn's static-auth-secret (use-auth-secret):
	// the credentials HQ makes are HMACs under it. Required with TURNURLs.
	TURNSecretFile string `yaml:"turn_secret_file"`
	// CredentialTTL is how long a TURN credential is valid (default 4h: a
	// groom's length; coturn checks it again at every refresh).
	CredentialTTL time.Duration `yaml:"credential_ttl"`
	// AnswerWait bounds the wait for the store's answer (default 8s); the
	// store drops a watch that reaches it later.
	AnswerWait time.Duration `yaml:"answer_wait"`
	// MaxOfferBytes bounds the browser's SDP offer (default 65536; 413 beyond).
	MaxOfferBytes int `yaml:"max_offer_bytes"`
	// MaxWaiting bounds the watches waiting for stores' answers at once on
	// this instance (default 200; 429 beyond).
	MaxWaiting int `yaml:"max_waiting"`
}

// Defaults of Config.
const (
	DefaultCredentialTTL = 4 * time.Hour
	DefaultAnswerWait    = 8 * time.Second
	DefaultMaxOfferBytes = 64 << 10
	DefaultMaxWaiting    = 200
)

// WithDefaults fills zero fields with the defaults.
func (c Config) WithDefaults() Config {
	if c.CredentialTTL == 0 {
		c.CredentialTTL = DefaultCredentialTTL
	}
	if c.AnswerWait == 0 {
		c.AnswerWait = DefaultAnswerWait
	}
	if c.MaxOfferBytes == 0 {
		c.MaxOfferBytes = DefaultMaxOfferBytes
	}
	if c.MaxWaiting == 0 {
		c.MaxWaiting = DefaultMaxWaiting
	}
	return c
}

// Validate reports every setting that cannot work, naming the key.
func (c Config) Validate() error {
	var errs []error
	for _, u := range c.TURNURLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "turn" && p.Scheme != "turns") || p.Opaque == "" {
			errs = append(errs, fmt.Errorf("home_camera.turn_urls %q: want turn:host:port?transport=udp or turns:host:port", u))
		}
	}
	if len(c.TURNURLs) > 0 && strings.TrimSpace(c.TURNSecretFile) == "" {
		errs = append(errs, errors.New("home_camera.turn_secret_file: required with turn_urls (coturn's static-auth-secret)"))
	}
	if c.CredentialTTL < 0 || (c.CredentialTTL > 0 && c.CredentialTTL < time.Minute) || c.CredentialTTL > 48*time.Hour {
		errs = append(errs, fmt.Errorf("home_camera.credential_ttl %v: want 1m to 48h", c.CredentialTTL))
	}
	if c.AnswerWait < 0 || (c.AnswerWait > 0 && c.AnswerWait < 500*time.Millisecond) || c.AnswerWait > 25*time.Second {
		errs = append(errs, fmt.Errorf("home_camera.answer_wait %v: want 500ms to 25s", c.AnswerWait))
	}
	if c.MaxOfferBytes < 0 || (c.MaxOfferBytes > 0 && c.MaxOfferBytes < 4096) || c.MaxOfferBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("home_camera.max_offer_bytes %d: want 4096 to 1048576", c.MaxOfferBytes))
	}
	if c.MaxWaiting < 0 || c.MaxWaiting > 100000 {
		errs = append(errs, fmt.Errorf("home_camera.max_waiting %d: want 1 to 100000", c.MaxWaiting))
	}
	return errors.Join(errs...)
}

// readSecret reads the TURN secret file ("" without TURN).
func (c Config) readSecret() ([]byte, error) {
	if len(c.TURNURLs) == 0 {
		return nil, nil
	}
	b, err := os.ReadFile(c.TURNSecretFile)
	if err != nil {
		return nil, fmt.Errorf("home_camera.turn_secret_file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil, fmt.Errorf("home_camera.turn_secret_file %s is empty", c.TURNSecretFile)
	}
	return []byte(s), nil
}
