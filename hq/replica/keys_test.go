package replica

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestAPIKeys(t *testing.T) {
	r := newReplica(t)
	ctx := context.Background()

	key, err := r.AddKey(ctx, "crm-sync")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, KeyPrefix) || KeyID(key) == "" {
		t.Fatalf("key %q", key)
	}
	name, err := r.CheckKey(ctx, key)
	if err != nil || name != "crm-sync" {
		t.Fatalf("CheckKey = %q, %v", name, err)
	}

	// Only a hash is kept: the key is in no column.
	var hash []byte
	var id string
	if err := r.pool.QueryRow(ctx, `SELECT id, hash FROM api_keys`).Scan(&id, &hash); err != nil {
		t.Fatal(err)
	}
	if id != KeyID(key) || bytes.Contains(hash, []byte(key)) || len(hash) != 32 {
		t.Errorf("stored id %q hash %x for key %q", id, hash, key)
	}

	for _, bad := range []string{"", "hqk_", key + "x", key[:len(key)-1] + "a", "Bearer " + key, strings.Replace(key, id, "000000000000", 1)} {
		if bad == key {
			continue
		}
		if _, err := r.CheckKey(ctx, bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("CheckKey(%q) = %v, want ErrBadKey", bad, err)
		}
	}

	other, err := r.AddKey(ctx, "  ops desk  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RevokeKey(ctx, KeyID(key)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CheckKey(ctx, key); !errors.Is(err, ErrBadKey) {
		t.Errorf("a revoked key: %v, want ErrBadKey", err)
	}
	if _, err := r.KeyLive(ctx, KeyID(key)); !errors.Is(err, ErrBadKey) {
		t.Errorf("KeyLive of a revoked key: %v", err)
	}
	if n, err := r.KeyLive(ctx, KeyID(other)); err != nil || n != "ops desk" {
		t.Errorf("KeyLive = %q %v", n, err)
	}
	if err := r.RevokeKey(ctx, KeyID(key)); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := r.RevokeKey(ctx, "000000000000"); !errors.Is(err, ErrNoKey) {
		t.Errorf("revoking an unknown key: %v", err)
	}

	keys, err := r.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Name != "crm-sync" || keys[0].RevokedAt == nil || keys[1].Name != "ops desk" || keys[1].RevokedAt != nil {
		t.Errorf("keys %+v", keys)
	}

	for _, name := range []string{"", "   ", strings.Repeat("n", MaxKeyNameLen+1)} {
		if _, err := r.AddKey(ctx, name); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddKey(%q) = %v, want ErrInvalid", name, err)
		}
	}
	keys, _ = r.Keys(ctx)
	if len(keys) != 2 {
		t.Errorf("a refused name made a key: %d keys", len(keys))
	}
}
