package broker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	"gopkg.in/yaml.v3"

	"github.com/storeedge/storeedge/broker/accounts"
	"github.com/storeedge/storeedge/broker/backup"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/proto"
)

// AdminSocket is the name, in data_dir, of the daemon's local admin socket:
// `storeedge admin reset-password` and `storeedge devices export` talk to
// the running daemon through it. It is mode 0600 in the 0750 data_dir, so
// only the box's user (who can read the database anyway) reaches it.
const AdminSocket = "admin.sock"

// adminRequest is one line sent on the admin socket.
type adminRequest struct {
	Op       string `json:"op"` // "reset_password", "export", "backup" or "doctor"
	Account  string `json:"account,omitempty"`
	Password string `json:"password,omitempty"`
	// backup: what to encrypt the archive to (backups.go).
	Passphrase string   `json:"passphrase,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
}

type adminAnswer struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	YAML  string `json:"yaml,omitempty"`
	// backup: the archive's manifest, in the line after the archive.
	Manifest *backup.Manifest `json:"manifest,omitempty"`
	// Checks answer the doctor op: storeedge doctor's checks, fresh.
	Checks []proto.HealthCheck `json:"checks,omitempty"`
}

// startAdminSocket listens on data_dir/admin.sock.
func (b *Broker) startAdminSocket() error {
	path := filepath.Join(b.cfg.DataDir, AdminSocket)
	// A socket left by a daemon that was killed: nobody answers on it.
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("admin socket %s: another daemon answers on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin socket: %w", err)
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	b.acc.adminLn = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serveAdmin(c)
		}
	}()
	return nil
}

func (b *Broker) closeAdminSocket() {
	if b.acc.adminLn != nil {
		_ = b.acc.adminLn.Close() // removes the socket file
	}
}

func (b *Broker) serveAdmin(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return
	}
	var req adminRequest
	ans := adminAnswer{OK: true}
	if err := json.Unmarshal(line, &req); err != nil {
		ans = adminAnswer{Error: "not a request"}
	} else {
		switch req.Op {
		case "reset_password":
			if err := b.acc.reg.SetPassword(context.Background(), "shell", req.Account, req.Password); err != nil {
				ans = adminAnswer{Error: err.Error()}
			} else {
				b.log.Info("accounts: password reset on the box's shell", "account", req.Account)
			}
		case "backup":
			// Streams the archive after the answer (backups.go).
			b.serveBackup(c, req)
			return
		case "doctor":
			// The database check reads every page: the op may take longer
			// than the others.
			_ = c.SetDeadline(time.Now().Add(doctorAdminTimeout))
			ctx, cancel := context.WithTimeout(context.Background(), doctorAdminTimeout)
			checks, err := b.doctorAnswer(ctx)
			cancel()
			if err != nil {
				ans = adminAnswer{Error: err.Error()}
			}
			ans.Checks = checks
		case "export":
			y, err := exportYAML(b.acc.reg.Entries())
			if err != nil {
				ans = adminAnswer{Error: err.Error()}
			}
			ans.YAML = y
		default:
			ans = adminAnswer{Error: "unknown op " + req.Op}
		}
	}
	out, _ := json.Marshal(ans)
	_, _ = c.Write(append(out, '\n'))
}

// callAdmin sends req to the running daemon; running is false when no
// daemon listens (no socket, or a stale one).
func callAdmin(dataDir string, req adminRequest) (ans adminAnswer, running bool, err error) {
	return callAdminFor(dataDir, req, 30*time.Second)
}

// callAdminFor is callAdmin waiting up to d for the answer.
func callAdminFor(dataDir string, req adminRequest, d time.Duration) (ans adminAnswer, running bool, err error) {
	c, err := net.DialTimeout("unix", filepath.Join(dataDir, AdminSocket), 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return adminAnswer{}, false, nil
		}
		return adminAnswer{}, false, fmt.Errorf("admin socket: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return adminAnswer{}, true, fmt.Errorf("admin socket: %w", err)
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return adminAnswer{}, true, fmt.Errorf("admin socket: no answer: %w", err)
	}
	if err := json.Unmarshal(line, &ans); err != nil {
		return adminAnswer{}, true, fmt.Errorf("admin socket: %w", err)
	}
	return ans, true, nil
}

// ResetPassword sets a staff account's password on the box's shell: through
// the running daemon's admin socket (its connections close at once), or,
// when the daemon is stopped, in the database directly.
func ResetPassword(cfg Config, account, password string) error {
	ans, running, err := callAdmin(cfg.DataDir, adminRequest{Op: "reset_password", Account: account, Password: password})
	if err != nil {
		return err
	}
	if running {
		if !ans.OK {
			return errors.New(ans.Error)
		}
		return nil
	}
	if len([]rune(password)) < cfg.Accounts.MinPasswordLength {
		return fmt.Errorf("the password must have at least %d characters", cfg.Accounts.MinPasswordLength)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	keys, err := storeKeys(cfg)
	if err != nil {
		return err
	}
	return withStoppedDB(cfg, false, func(tx *bolt.Tx) error {
		return accounts.SetHashOffline(tx, keys, account, hash, time.Now())
	})
}

// ExportDevices writes the registry in the devices.yaml format (accounts
// that can log in), from the running daemon or the stopped store's
// database.
func ExportDevices(cfg Config, w io.Writer) error {
	ans, running, err := callAdmin(cfg.DataDir, adminRequest{Op: "export"})
	if err != nil {
		return err
	}
	if running {
		if !ans.OK {
			return errors.New(ans.Error)
		}
		_, err := io.WriteString(w, ans.YAML)
		return err
	}
	keys, err := storeKeys(cfg)
	if err != nil {
		return err
	}
	var entries []accounts.Entry
	if err := withStoppedDB(cfg, true, func(tx *bolt.Tx) error {
		var err error
		entries, err = accounts.EntriesOffline(tx, keys)
		return err
	}); err != nil {
		return err
	}
	y, err := exportYAML(entries)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, y)
	return err
}

// storeKeys loads the sealing keys of a stopped store that has a database
// (never making new ones for a data_dir without one).
func storeKeys(cfg Config) (*seal.Keyring, error) {
	if _, err := os.Stat(filepath.Join(cfg.DataDir, DBFile)); err != nil {
		return nil, fmt.Errorf("no store database: %w", err)
	}
	keys, _, err := loadKeys(cfg.Services, cfg.DataDir)
	return keys, err
}

func withStoppedDB(cfg Config, readOnly bool, fn func(*bolt.Tx) error) error {
	path := filepath.Join(cfg.DataDir, DBFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no store database: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: readOnly, Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("%s is locked by a daemon whose admin socket does not answer", path)
	}
	if err != nil {
		return err
	}
	if readOnly {
		err = db.View(fn)
	} else {
		err = db.Update(fn)
	}
	return errors.Join(err, db.Close())
}

// exportYAML writes entries that can log in as devices.yaml.
func exportYAML(entries []accounts.Entry) (string, error) {
	type dev struct {
		ID           string `yaml:"id"`
		Role         string `yaml:"role"`
		PasswordHash string `yaml:"password_hash,omitempty"`
		CertCN       string `yaml:"cert_cn,omitempty"`
	}
	var f struct {
		Devices []dev `yaml:"devices"`
	}
	f.Devices = []dev{}
	var names []string
	for _, e := range entries {
		if e.Disabled || e.Revoked || (e.PasswordHash == "" && e.CertCN == "") {
			continue
		}
		f.Devices = append(f.Devices, dev{e.ID, e.Role, e.PasswordHash, e.CertCN})
		if e.Name != "" || e.Room != "" {
			names = append(names, fmt.Sprintf("#   %s: %s %s", e.ID, e.Name, e.Room))
		}
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		return "", err
	}
	head := "# storeedge device registry, exported by `storeedge devices export`.\n"
	if len(names) > 0 {
		head += "# Names and rooms (kept in the store's database, not in this file):\n" + strings.Join(names, "\n") + "\n"
	}
	return head + string(b), nil
}
