package proto

import (
	"iter"
	"reflect"
	"strings"
)

// Field is one JSON field of a wire struct.
type Field struct {
	Name string // the json name
	// Required fields are those a sender always writes (no omitempty or
	// omitzero): the service needs them.
	Required bool
	Type     reflect.Type
}

// Fields yields the JSON fields of struct type t, those of embedded
// structs promoted (a shallower field hides a deeper one of the same name).
func Fields(t reflect.Type) iter.Seq[Field] {
	return func(yield func(Field) bool) {
		seen := map[string]bool{}
		level := []reflect.Type{t}
		for len(level) > 0 {
			var next []reflect.Type
			var here []Field
			for _, st := range level {
				for i := range st.NumField() {
					f := st.Field(i)
					tag := f.Tag.Get("json")
					name, opts, _ := strings.Cut(tag, ",")
					if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
						next = append(next, f.Type)
						continue
					}
					if !f.IsExported() || name == "-" && opts == "" {
						continue
					}
					if name == "" {
						name = f.Name
					}
					if seen[name] {
						continue
					}
					req := !strings.Contains(","+opts+",", ",omitempty,") && !strings.Contains(","+opts+",", ",omitzero,")
					here = append(here, Field{Name: name, Required: req, Type: f.Type})
				}
			}
			for _, f := range here {
				seen[f.Name] = true
				if !yield(f) {
					return
				}
			}
			level = next
		}
	}
}
