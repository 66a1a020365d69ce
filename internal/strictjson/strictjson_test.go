package strictjson

import (
	"encoding/json"
	"strings"
	"testing"
)

type env struct {
	ID string `json:"id"`
	V  int    `json:"v"`
}

type inner struct {
	Hash string `json:"hash"`
}

type req struct {
	env
	Text    *string         `json:"text"`
	Card    json.RawMessage `json:"card"`
	Media   *inner          `json:"media"`
	Members []inner         `json:"members"`
	Tags    map[string]int  `json:"tags"`
	Skip    string          `json:"-"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{`{"id":"a","v":1,"text":"hi","media":{"hash":"x"},"members":[{"hash":"y"}],"tags":{"a":1},"card":{"type":"p","x":[1,{"k":2}]}}`, ""},
		{`{"id":"a","v":1,"Text":"hi"}`, `unknown field "Text"`},
		{`{"id":"a","v":1,"TEXT":"hi"}`, `unknown field "TEXT"`},
		{`{"ID":"a","v":1}`, `unknown field "ID"`},
		{`{"id":"a","v":1,"text":"a","text":"b"}`, `duplicate field "text"`},
		{`{"id":"a","id":"b","v":1}`, `duplicate field "id"`},
		{`{"id":"a","v":1,"card":{"type":"product","type":"booking"}}`, `duplicate field "card.type"`},
		{`{"id":"a","v":1,"media":{"Hash":"x"}}`, `unknown field "media.Hash"`},
		{`{"id":"a","v":1,"members":[{"hash":"x"},{"hash":"y","hash":"z"}]}`, `duplicate field "members[1].hash"`},
		{`{"id":"a","v":1,"tags":{"a":1,"a":2}}`, `duplicate field "tags.a"`},
		{`{"id":"a","v":1,"nope":1}`, `unknown field "nope"`},
		{`{"id":"a","v":1,"Skip":"x"}`, `unknown field "Skip"`},
		{`{"id":"a","v":1} {}`, `data after the object`},
		{`[1]`, `request must be a JSON object`},
		{`{"id":"a","v":1,"text":5}`, `wrong type (number) for field "text"`},
		{`{"id":"a","v":1,`, `malformed JSON`},
		{`{"id":"a","v":1,"card":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, `nested deeper`},
	} {
		var r req
		err := Decode([]byte(tc.in), &r)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%.60s: error %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestDecodeFills(t *testing.T) {
	var r req
	if err := Decode([]byte(`{"id":"a","v":1,"text":"hi","members":[{"hash":"y"}]}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.ID != "a" || r.V != 1 || *r.Text != "hi" || r.Members[0].Hash != "y" {
		t.Fatalf("decoded %+v", r)
	}
}
