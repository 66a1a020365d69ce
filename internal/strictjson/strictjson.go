// Package strictjson decodes request payloads more strictly than
// encoding/json: a field name must match its struct tag exactly (encoding/json
// also accepts "Text" or "TEXT" for "text"), a name may appear only once in an
// object (encoding/json keeps the last), a field the target has no place for
// is an error, and nothing may follow the object. Every service decodes its
// requests with Decode, so "case-sensitive, once each, no unknown fields"
// holds for every op alike.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// MaxDepth is the deepest nesting of objects and arrays a payload may have.
const MaxDepth = 64

// Error is a payload Decode refused. Field is the dotted path of the field
// at fault ("card.type", "members[2]"), "" when the fault is not one field's.
type Error struct {
	Field   string
	Problem string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return fmt.Sprintf("%s %q", e.Problem, e.Field)
}

// Decode decodes the single JSON object in b into v, a non-nil pointer.
// Names are matched case-sensitively against v's json tags (the Go field
// name for an untagged field); duplicate names are refused at any depth,
// inside json.RawMessage and map values too; unknown names are refused
// wherever v's type says which names exist (structs, at any depth).
func Decode(b []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("strictjson: Decode needs a non-nil pointer")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	first, err := peek(b)
	if err != nil || first != '{' {
		return &Error{Problem: "request must be a JSON object"}
	}
	if err := walk(dec, rv.Type().Elem(), "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Problem: "data after the object"}
	}
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return typeError(err)
	}
	return nil
}

// peek returns the first non-space byte of b.
func peek(b []byte) (byte, error) {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	return b[0], nil
}

// typeError words encoding/json's errors for the client: which field had
// the wrong type.
func typeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &Error{Field: te.Field, Problem: "wrong type (" + te.Value + ") for field"}
	}
	return &Error{Problem: "malformed JSON: " + err.Error()}
}

func syntaxError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Problem: "malformed JSON: unexpected end of input"}
	}
	return &Error{Problem: "malformed JSON: " + err.Error()}
}

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// walk reads one value from dec and checks its object names against t
// (nil: any names, each once).
func walk(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	if depth > MaxDepth {
		return &Error{Field: path, Problem: fmt.Sprintf("nested deeper than %d levels at", MaxDepth)}
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(unmarshaler) || t.Kind() == reflect.Interface) {
		t = nil // decodes itself (json.RawMessage, time.Time, …): names are free
	}
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = fieldsOf(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return syntaxError(err)
			}
			key, _ := kt.(string)
			sub := join(path, key)
			if seen[key] {
				return &Error{Field: sub, Problem: "duplicate field"}
			}
			seen[key] = true
			ft := elem
			if fields != nil {
				var ok bool
				if ft, ok = fields[key]; !ok {
					return &Error{Field: sub, Problem: "unknown field"}
				}
			}
			if err := walk(dec, ft, sub, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return syntaxError(err)
		}
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walk(dec, elem, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return syntaxError(err)
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf returns the JSON names of struct t's fields and their types, with
// the fields of embedded structs promoted (the shallower one wins a name,
// as in encoding/json).
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	collect(t, out, map[reflect.Type]bool{})
	fieldCache.Store(t, out)
	return out
}

func collect(t reflect.Type, out map[string]reflect.Type, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	for _, et := range embedded {
		inner := map[string]reflect.Type{}
		collect(et, inner, visiting)
		for k, v := range inner {
			if _, taken := out[k]; !taken {
				out[k] = v
			}
		}
	}
}
