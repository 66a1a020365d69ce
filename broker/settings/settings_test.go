package settings_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/settings"
	"github.com/storeedge/storeedge/broker/store"
)

// Settings are on disk when Put returns: a reopened database has them,
// with a version counting the saves; before the first save the store's
// name is the default given.
func TestSettingsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	open := func() (*store.DB, *settings.Store) {
		db, err := store.Open(store.Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		s, err := settings.New(db, func() time.Time { return now })
		if err != nil {
			t.Fatal(err)
		}
		return db, s
	}
	db, s := open()
	if _, ok, err := s.Get(); ok || err != nil {
		t.Fatalf("a new database has settings: %v %v", ok, err)
	}
	if got := s.Name("demo-store"); got != "demo-store" {
		t.Fatalf("name before the setup %q", got)
	}
	if _, err := s.Put(context.Background(), settings.Settings{Name: "宠爱母婴", TimeZone: "Asia/Shanghai", Languages: []string{"zh", "en"}, Kind: settings.KindBoth}); err != nil {
		t.Fatal(err)
	}
	saved, err := s.Put(context.Background(), settings.Settings{Name: "宠爱母婴 Paws & Cradle", TimeZone: "Asia/Shanghai", Languages: []string{"zh"}, Kind: settings.KindPet})
	if err != nil || saved.Version != 2 || !saved.Updated.Equal(now) {
		t.Fatalf("second save: %+v %v", saved, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, s = open()
	defer db.Close()
	got, ok, err := s.Get()
	if err != nil || !ok || got.Name != "宠爱母婴 Paws & Cradle" || got.Kind != settings.KindPet || got.Version != 2 || len(got.Languages) != 1 {
		t.Fatalf("after reopening: %+v %v %v", got, ok, err)
	}
	if s.Name("demo-store") != got.Name {
		t.Fatal("Name does not give the saved name")
	}
}

// The save hook runs in the save's transaction and sees the new name
// there (HQ's bridge files the shop, with the name, in the same commit);
// a hook's error undoes the save.
func TestSaveHookSeesTheNameInTheSameCommit(t *testing.T) {
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := settings.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	fail := false
	s.OnSave(func(tx *bolt.Tx) error {
		seen = append(seen, s.NameIn(tx))
		if fail {
			return errors.New("outbox full")
		}
		return nil
	})
	if _, err := s.Put(context.Background(), settings.Settings{Name: "Paws", TimeZone: "Asia/Shanghai", Languages: []string{"zh"}, Kind: settings.KindPet}); err != nil {
		t.Fatal(err)
	}
	fail = true
	if _, err := s.Put(context.Background(), settings.Settings{Name: "Cradle", TimeZone: "Asia/Shanghai", Languages: []string{"zh"}, Kind: settings.KindPet}); err == nil {
		t.Fatal("a failing hook did not fail the save")
	}
	// (A failed transaction may be run again alone by the group commit.)
	if len(seen) < 2 || seen[0] != "Paws" || seen[len(seen)-1] != "Cradle" {
		t.Fatalf("the hook saw %q, want the name being saved each time", seen)
	}
	if got := s.Name("demo-store"); got != "Paws" {
		t.Fatalf("after a failed save the name is %q, want the one saved before", got)
	}
}
