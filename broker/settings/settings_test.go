package settings_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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
