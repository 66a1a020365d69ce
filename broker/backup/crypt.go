package backup

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
)

const (
	magic          = "storeedge-backup 1"
	passphraseLine = "passphrase "
	// maxHeaderLine bounds a line of the archive's header: a wrapped key
	// is about 300 bytes of base64.
	maxHeaderLine = 4096
	// DefaultWorkFactor is the scrypt work factor (2^N; memory 2^N KiB)
	// of the passphrase: 64 MiB, about a second on a small board (age's
	// own default, 18, takes 256 MiB).
	DefaultWorkFactor = 16
	// maxWorkFactor is the most a restore accepts (age's limit).
	maxWorkFactor = 22
)

// Errors a restore reports; each says what to do in people's words.
var (
	// ErrNoKey: neither a passphrase nor a recipient to encrypt to.
	ErrNoKey = errors.New("no passphrase and no recipient to encrypt the backup to: set the passphrase variable (backup.passphrase_env) or backup.recipient (an age1… public key)")
	// ErrWrongKey: the passphrase or identities given do not open it.
	ErrWrongKey = errors.New("the passphrase or identity given does not open this backup")
	// ErrDamaged: the archive's bytes are not what was written.
	ErrDamaged = errors.New("the backup is damaged")
	// ErrNotBackup: the file is not a storeedge backup at all.
	ErrNotBackup = errors.New("this file is not a storeedge backup")
)

// Encryption says whom an archive is encrypted to: a passphrase, age X25519
// recipients (age1…), or both.
type Encryption struct {
	Passphrase string
	Recipients []string
	// WorkFactor is the passphrase's scrypt work factor (0: DefaultWorkFactor).
	WorkFactor int
}

// Key opens an archive: its passphrase, or age identities (the secret of a
// recipient it was encrypted to).
type Key struct {
	Passphrase string
	Identities []age.Identity
}

// ParseRecipient checks an age X25519 public key (age1…).
func ParseRecipient(s string) error {
	_, err := age.ParseX25519Recipient(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not an age public key (age1…): %w", s, err)
	}
	return nil
}

// encrypt writes the archive's header to w and returns the writer of its
// encrypted body; Close finishes it.
func encrypt(w io.Writer, e Encryption) (io.WriteCloser, error) {
	if e.Passphrase == "" && len(e.Recipients) == 0 {
		return nil, ErrNoKey
	}
	var rs []age.Recipient
	for _, s := range e.Recipients {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("backup recipient %q is not an age public key (age1…): %w", s, err)
		}
		rs = append(rs, r)
	}
	hdr := magic + "\n"
	if e.Passphrase != "" {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, fmt.Errorf("backup: archive key: %w", err)
		}
		sr, err := age.NewScryptRecipient(e.Passphrase)
		if err != nil {
			return nil, fmt.Errorf("backup: passphrase: %w", err)
		}
		wf := e.WorkFactor
		if wf == 0 {
			wf = DefaultWorkFactor
		}
		if wf < 1 || wf > maxWorkFactor {
			return nil, fmt.Errorf("backup: scrypt work factor %d: between 1 and %d", wf, maxWorkFactor)
		}
		sr.SetWorkFactor(wf)
		var wrapped bytes.Buffer
		ww, err := age.Encrypt(&wrapped, sr)
		if err != nil {
			return nil, fmt.Errorf("backup: wrap the archive key: %w", err)
		}
		if _, err := io.WriteString(ww, id.String()); err != nil {
			return nil, fmt.Errorf("backup: wrap the archive key: %w", err)
		}
		if err := ww.Close(); err != nil {
			return nil, fmt.Errorf("backup: wrap the archive key: %w", err)
		}
		hdr += passphraseLine + base64.StdEncoding.EncodeToString(wrapped.Bytes()) + "\n"
		rs = append(rs, id.Recipient())
	}
	hdr += "\n"
	if _, err := io.WriteString(w, hdr); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	body, err := age.Encrypt(w, rs...)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return body, nil
}

// decrypt reads an archive's header from r and returns its decrypted body.
func decrypt(r io.Reader, k Key) (io.Reader, error) {
	br := bufio.NewReaderSize(r, maxHeaderLine)
	line, err := readLine(br)
	if err != nil || line != magic {
		return nil, ErrNotBackup
	}
	var wrapped []byte
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, fmt.Errorf("%w: its header is cut short or garbled", ErrDamaged)
		}
		if line == "" {
			break
		}
		if b64, ok := strings.CutPrefix(line, passphraseLine); ok {
			if wrapped, err = base64.StdEncoding.DecodeString(b64); err != nil {
				return nil, fmt.Errorf("%w: its passphrase line is garbled", ErrDamaged)
			}
			continue
		}
		return nil, fmt.Errorf("%w: an unknown header line", ErrDamaged)
	}
	ids := append([]age.Identity(nil), k.Identities...)
	if k.Passphrase != "" {
		if wrapped == nil {
			if len(ids) == 0 {
				return nil, fmt.Errorf("%w: it was made without a passphrase; give the identity (age secret key) of its recipient", ErrWrongKey)
			}
		} else {
			si, err := age.NewScryptIdentity(k.Passphrase)
			if err != nil {
				return nil, fmt.Errorf("backup: passphrase: %w", err)
			}
			si.SetMaxWorkFactor(maxWorkFactor)
			kr, err := age.Decrypt(bytes.NewReader(wrapped), si)
			switch {
			case errors.Is(err, age.ErrIncorrectIdentity):
				if len(ids) == 0 {
					return nil, fmt.Errorf("%w: the passphrase is not the one it was made with", ErrWrongKey)
				}
			case err != nil:
				return nil, fmt.Errorf("%w: its passphrase line does not open: %v", ErrDamaged, err)
			default:
				sk, err := io.ReadAll(kr)
				if err != nil {
					return nil, fmt.Errorf("%w: its passphrase line does not open: %v", ErrDamaged, err)
				}
				id, err := age.ParseX25519Identity(strings.TrimSpace(string(sk)))
				if err != nil {
					return nil, fmt.Errorf("%w: its archive key: %v", ErrDamaged, err)
				}
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: give its passphrase or an identity file", ErrWrongKey)
	}
	body, err := age.Decrypt(br, ids...)
	var nomatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &nomatch):
		return nil, fmt.Errorf("%w: it was encrypted for someone else", ErrWrongKey)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return body, nil
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	return string(line[:len(line)-1]), nil
}
