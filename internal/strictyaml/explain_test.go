package strictyaml

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type testRoom struct {
	Name  string        `yaml:"name"`
	Seats uint          `yaml:"seats"`
	Open  bool          `yaml:"open"`
	Slot  time.Duration `yaml:"slot"`
	Tags  []string      `yaml:"tags"`
	Ratio float64       `yaml:"ratio"`
}

type testFile struct {
	Rooms []testRoom          `yaml:"rooms"`
	Notes map[string]string   `yaml:"notes"`
	Extra struct{ A int }     `yaml:"extra"`
	Deep  map[string]testRoom `yaml:"deep"`
}

func TestDecodeFileInPeoplesWords(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"misspelt key", "rooms:\n  - name: a\n    seets: 3\n", "x.yaml line 3: rooms[0].seets: unknown key (did you mean seats?)"},
		{"swapped letters", "rooms:\n  - naem: a\n", "x.yaml line 2: rooms[0].naem: unknown key (did you mean name?)"},
		{"far from any key", "rooms:\n  - colour: red\n", "x.yaml line 2: rooms[0].colour: unknown key (the keys here are: name, open, ratio, seats, slot, tags)"},
		{"key in a map of sections", "deep:\n  r1:\n    sloot: 5m\n", "x.yaml line 3: deep.r1.sloot: unknown key (did you mean slot?)"},
		{"duration", "rooms:\n  - slot: an hour\n", `x.yaml line 2: rooms[0].slot: want a duration such as 45m, 90s or 1h30m, not "an hour"`},
		{"count below 0", "rooms:\n  - seats: -2\n", "x.yaml line 2: rooms[0].seats: want a whole number, 0 or more, not -2"},
		{"yes or no", "rooms:\n  - open: maybe\n", `x.yaml line 2: rooms[0].open: want true or false, not "maybe"`},
		{"number", "rooms:\n  - ratio: half\n", `x.yaml line 2: rooms[0].ratio: want a number, not "half"`},
		{"word for a list", "rooms:\n  - tags: quiet\n", `x.yaml line 2: rooms[0].tags: want a list (one "- item" per line), not "quiet"`},
		{"list for a section", "notes: [a, b]\n", "x.yaml line 1: notes: want a section of \"key: value\" lines, not a list"},
		{"word for a section", "extra: 3\n", "x.yaml line 1: extra: want a section of \"key: value\" lines, not 3"},
		{"section for a list", "rooms: {name: a}\n", "x.yaml line 1: rooms: want a list (one \"- item\" per line), not a section of keys"},
		{"syntax", "rooms:\n  - name: a: b\n", "x.yaml line 2: not valid YAML (mapping values are not allowed in this context)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f testFile
			err := DecodeFile("x.yaml", []byte(tc.yaml), &f)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
			for _, w := range []string{"type ", "testRoom", "testFile", "time.Duration", "uint", "float64", "[]string", "map[", "struct", "!!", "unmarshal"} {
				if strings.Contains(err.Error(), w) {
					t.Errorf("%s: names the program's insides (%q)", err, w)
				}
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "x.yaml" || len(e.Problems) == 0 {
				t.Errorf("not an *Error of x.yaml: %#v", err)
			}
		})
	}
}

func TestDecodeFileEveryProblemAndInFile(t *testing.T) {
	var f testFile
	err := DecodeFile("rooms.yaml", []byte("rooms:\n  - seets: 3\n  - slot: soon\n"), &f)
	err = fmt.Errorf("rooms_file: %w", InFile(err, "/etc/store/rooms.yaml"))
	want := "rooms_file: /etc/store/rooms.yaml line 2: rooms[0].seets: unknown key (did you mean seats?)\n" +
		`/etc/store/rooms.yaml line 3: rooms[1].slot: want a duration such as 45m, 90s or 1h30m, not "soon"`
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	if err := DecodeFile("rooms.yaml", []byte("# nothing yet\n"), &f); err != nil {
		t.Errorf("an empty file: %v", err)
	}
}
