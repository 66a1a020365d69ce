package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// FileAdmins is a minimal account registry for first-run tests, the
// broker's setup.Admins: an admin is a device of role admin in the test
// store's devices.yaml, which the broker then reloads (as SIGHUP does), so
// the new admin logs in over MQTT and in the console. Wire it with
//
//	Wire: func(s *storetest.Store, c *broker.Config) { c.Admins = storetest.FileAdmins(s) },
func FileAdmins(s *Store) *Admins { return &Admins{s: s} }

// Admins: see FileAdmins.
type Admins struct {
	s  *Store
	mu sync.Mutex
	// Created lists the admins created, in order.
	Created []string
}

type devicesFile struct {
	Devices []map[string]string `yaml:"devices"`
}

func (a *Admins) read() (devicesFile, string, error) {
	path := filepath.Join(a.s.Dir, "devices.yaml")
	var f devicesFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, path, fmt.Errorf("storetest admins: %w", err)
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return f, path, fmt.Errorf("storetest admins: %w", err)
	}
	return f, path, nil
}

// HasAdmin reports whether the registry has a device of role admin.
func (a *Admins) HasAdmin(context.Context) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, _, err := a.read()
	if err != nil {
		return false, err
	}
	for _, d := range f.Devices {
		if d["role"] == "admin" {
			return true, nil
		}
	}
	return false, nil
}

// CreateAdmin adds an admin with that password and reloads the registry.
func (a *Admins) CreateAdmin(_ context.Context, name, password string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, path, err := a.read()
	if err != nil {
		return err
	}
	for _, d := range f.Devices {
		if d["id"] == name {
			return fmt.Errorf("storetest admins: %s exists", name)
		}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return err
	}
	f.Devices = append(f.Devices, map[string]string{"id": name, "role": "admin", "password_hash": string(h)})
	y, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, y, 0o600); err != nil {
		return err
	}
	if b := a.s.b; b != nil {
		if err := b.Reload(); err != nil {
			return err
		}
	}
	a.Created = append(a.Created, name)
	return nil
}
