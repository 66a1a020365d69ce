package hqrig

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// A linked store's topic map points its home_url at HQ's page, the rest
// of the map as it was; a map without home_url is left alone.
func TestHomeMap(t *testing.T) {
	src := []byte("# the map\nmap:\n  - { local: \"chat/+/hq\", class: chat, qos: 1 }\n# HQ's page\nhome_url: \"\"\nuplink:\n  status_every: 30s\n")
	got, ok := homeMap(src, "http://127.0.0.2:4100/home/")
	if !ok {
		t.Fatal("home_url not found")
	}
	var f struct {
		Map     []map[string]any `yaml:"map"`
		HomeURL string           `yaml:"home_url"`
		Uplink  map[string]any   `yaml:"uplink"`
	}
	if err := yaml.Unmarshal(got, &f); err != nil {
		t.Fatalf("%v:\n%s", err, got)
	}
	if f.HomeURL != "http://127.0.0.2:4100/home/" || len(f.Map) != 1 || f.Uplink["status_every"] != "30s" {
		t.Fatalf("got %+v from:\n%s", f, got)
	}
	if strings.Count(string(got), "home_url") != 1 {
		t.Fatalf("home_url more than once:\n%s", got)
	}
	if _, ok := homeMap([]byte("map: []\n"), "http://x/home/"); ok {
		t.Fatal("a map without home_url was changed")
	}
}
