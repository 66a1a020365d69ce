package strictyaml

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is a configuration file that could not be read, in the words of
// the person who edits it: the file, and for each problem its line, the
// key's path ("services[1].duration") and what is wanted there. It names no
// type of the program reading the file.
type Error struct {
	// File names the file: its path, or its usual name ("services.yaml").
	File     string
	Problems []Problem
}

// Problem is one mistake in a file.
type Problem struct {
	Line int    // 1-based; 0 when not known
	Key  string // path of the key, e.g. "services[1].duration"; "" when not known
	Msg  string // what is wrong and what is wanted
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		var b strings.Builder
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, " line %d", p.Line)
		}
		b.WriteString(": ")
		if p.Key != "" {
			b.WriteString(p.Key)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
		lines[i] = b.String()
	}
	return strings.Join(lines, "\n")
}

// DecodeFile is Decode for a file named file (a path, or the file's usual
// name when it is embedded or its path is not known here): a problem is
// returned as an *Error in plain words, e.g.
//
//	services.yaml line 12: services[1].duraton: unknown key (did you mean duration?)
//	store.yaml line 3: limits.max_clients: want a whole number, not "many"
func DecodeFile(file string, b []byte, v any) error {
	err := Decode(b, v)
	if err == nil {
		return nil
	}
	return explain(file, b, v, err)
}

// InFile names the file of the *Error in err (if any) by path, for a
// caller that knows where the bytes came from; it returns err. It must see
// err before anything wraps it: fmt.Errorf fixes a message when it wraps.
func InFile(err error, path string) error {
	var e *Error
	if path != "" && errors.As(err, &e) {
		e.File = path
	}
	return err
}

var (
	syntaxLine  = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownKey  = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	setTwice    = regexp.MustCompile(`^field (\S+) already set in type (\S+)$`)
	dupKey      = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
	wrongKind   = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
	typeLineMsg = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// explain turns a decode error of yaml.v3 into an *Error.
func explain(file string, src []byte, v any, err error) *Error {
	e := &Error{File: file}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		hint := "check the indentation (spaces, not tabs) and that each key ends with a colon"
		e.Problems = append(e.Problems, Problem{Line: line, Msg: "not valid YAML (" + msg + "): " + hint})
		return e
	}
	var root yaml.Node
	lines := map[int][]nodeAt{}
	if yaml.Unmarshal(src, &root) == nil {
		walk(&root, "", lines)
	}
	types := map[string]reflect.Type{}
	collectTypes(reflect.TypeOf(v), types)
	for _, msg := range te.Errors {
		e.Problems = append(e.Problems, problem(msg, lines, types))
	}
	return e
}

// problem explains one of yaml.v3's "line N: ..." messages.
func problem(msg string, lines map[int][]nodeAt, types map[string]reflect.Type) Problem {
	var p Problem
	detail := msg
	if m := typeLineMsg.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		detail = m[2]
	}
	p.Key = pathAt(detail, lines[p.Line])
	switch {
	case unknownKey.MatchString(detail):
		m := unknownKey.FindStringSubmatch(detail)
		p.Msg = "unknown key" + suggest(m[1], keysOf(types[m[2]]))
	case setTwice.MatchString(detail):
		m := setTwice.FindStringSubmatch(detail)
		p.Msg = fmt.Sprintf("%s is set twice", m[1])
	case dupKey.MatchString(detail):
		m := dupKey.FindStringSubmatch(detail)
		p.Msg = fmt.Sprintf("key %s appears twice (also at line %s)", m[1], m[2])
	case wrongKind.MatchString(detail):
		m := wrongKind.FindStringSubmatch(detail)
		p.Msg = "want " + expect(m[3], types) + ", not " + got(m[1], m[2])
	default:
		p.Msg = detail
	}
	return p
}

// got says in words what the file holds: !!str `abc` is "abc".
func got(tag, value string) string {
	switch tag {
	case "seq":
		return "a list"
	case "map":
		return "a section of keys"
	case "null":
		return "nothing"
	case "str":
		return strconv.Quote(value)
	}
	return value
}

var durationType = reflect.TypeOf(time.Duration(0))

// expect says in words what a value of the Go type named name must look
// like.
func expect(name string, types map[string]reflect.Type) string {
	t, ok := types[name]
	if !ok {
		switch {
		case strings.HasPrefix(name, "[]"):
			return "a list (one \"- item\" per line)"
		case strings.HasPrefix(name, "map["), strings.HasPrefix(name, "struct"):
			return "a section of \"key: value\" lines"
		}
		return "another kind of value (see the comments in the example file)"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return "a duration such as 45m, 90s or 1h30m"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a single word or text"
	case reflect.Slice, reflect.Array:
		return "a list (one \"- item\" per line)"
	case reflect.Map, reflect.Struct:
		return "a section of \"key: value\" lines"
	}
	return "another kind of value (see the comments in the example file)"
}

// collectTypes records t and every type reachable from it by its name as
// yaml.v3 writes it in errors (reflect's String).
func collectTypes(t reflect.Type, seen map[string]reflect.Type) {
	if t == nil {
		return
	}
	if _, ok := seen[t.String()]; ok {
		return
	}
	seen[t.String()] = t
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		collectTypes(t.Elem(), seen)
	case reflect.Map:
		collectTypes(t.Key(), seen)
		collectTypes(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			collectTypes(t.Field(i).Type, seen)
		}
	}
}

// keysOf lists the YAML keys of a struct type, as yaml.v3 names them.
func keysOf(t reflect.Type) []string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			keys = append(keys, keysOf(f.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys = append(keys, name)
	}
	sort.Strings(keys)
	return keys
}

// suggest names the known key closest to a misspelt one, or lists the
// keys when there are few.
func suggest(key string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := distance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(1, len(key)/3) {
		return " (did you mean " + best + "?)"
	}
	if len(known) > 0 && len(known) <= 12 {
		return " (the keys here are: " + strings.Join(known, ", ") + ")"
	}
	return ""
}

// distance is the edit distance of a and b (insert, delete, replace, swap
// of neighbours).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			c := 1
			if ra[i-1] == rb[j-1] {
				c = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+c)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
