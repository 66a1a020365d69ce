package web_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/proto"
)

// The pages' JS keeps its own copy of the wire. TestJSWireAgreesWithProto
// reads the requests the JS builds and checks them against package proto:
// every op it calls exists, every field it sends is a field of the op's
// request, and a request written out in full carries every required field.
// The reading is by regular expressions on the pages' own idioms:
// link.call('service', 'op', body), the console's act(b, 'op', body) (a
// booking op) and watchLive(link, target) (camera watch); a body is an
// object literal, a conditional between literals, or a variable set to one
// (with fields added by "name.field = …" before the call).
func TestJSWireAgreesWithProto(t *testing.T) {
	files, err := filepath.Glob("static/*/*.js")
	if err != nil {
		t.Fatal(err)
	}
	var calls []jsCall
	for _, f := range files {
		if strings.Contains(f, "vendor") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, scanJSCalls(t, filepath.ToSlash(f), string(b))...)
	}
	ops, bodies := map[string]bool{}, 0
	for _, c := range calls {
		o, ok := proto.Lookup(c.service, c.op)
		if !ok {
			t.Errorf("%s: the page calls svc/%s/%s, which proto.Ops does not list", c.where, c.service, c.op)
			continue
		}
		ops[o.Topic()] = true
		fields := map[string]proto.Field{}
		if o.Request != nil {
			for f := range proto.Fields(reflect.TypeOf(o.Request)) {
				fields[f.Name] = f
			}
		}
		for _, body := range c.bodies {
			bodies++
			for _, k := range body.keys {
				if _, ok := fields[k]; !ok {
					t.Errorf("%s: svc/%s/%s sends %q, which is not a field of %T", c.where, c.service, c.op, k, o.Request)
				}
			}
			if body.open {
				continue
			}
			for _, f := range fields {
				if f.Required && !slices.Contains(body.keys, f.Name) {
					t.Errorf("%s: svc/%s/%s is sent without %q, a required field of %T", c.where, c.service, c.op, f.Name, o.Request)
				}
			}
		}
	}
	// The scan must keep finding what the pages do; a change of idiom
	// that hides the calls from it fails here rather than passing empty.
	t.Logf("%d calls of %d ops with %d request bodies", len(calls), len(ops), bodies)
	if len(ops) < 25 || bodies < 35 {
		t.Fatalf("found %d ops and %d request bodies in the pages' JS; the idioms the scan reads changed?", len(ops), bodies)
	}
	for _, want := range []string{"svc/chat/send", "svc/chat/read", "svc/booking/progress", "svc/media/chunk", "svc/camera/watch"} {
		if !ops[want] {
			t.Errorf("the scan did not find %s in the pages' JS", want)
		}
	}
}

type jsCall struct {
	where, service, op string
	bodies             []jsBody
}

// jsBody is one object literal a request may be: its keys, and open when
// it has a spread or fields the scan cannot see (so missing fields are not
// checked).
type jsBody struct {
	keys []string
	open bool
}

var (
	jsCallRe  = regexp.MustCompile(`\.call\(\s*'([a-z_]+)'\s*,\s*(?:'([a-z_]+)'|[A-Za-z_]\w*)\s*`)
	jsActRe   = regexp.MustCompile(`\bact\(\s*\w+\s*,\s*'([a-z_]+)'\s*,\s*`)
	jsWatchRe = regexp.MustCompile(`\bwatchLive\(\s*[\w.]+\s*,\s*`)
	jsIdentRe = regexp.MustCompile(`^[A-Za-z_]\w*$`)
)

func scanJSCalls(t *testing.T, file, src string) []jsCall {
	t.Helper()
	var out []jsCall
	add := func(at int, service, op string, rest int) {
		c := jsCall{where: file + ":" + lineOf(src, at), service: service, op: op}
		if rest >= 0 {
			c.bodies = jsBodies(src, at, rest)
		}
		out = append(out, c)
	}
	for _, m := range jsCallRe.FindAllStringSubmatchIndex(src, -1) {
		if m[4] < 0 {
			// The op is a variable: the console's act() (below) names it.
			if !strings.Contains(src[m[0]:m[1]], "'booking', op") {
				t.Errorf("%s:%s: a call with a variable op the scan does not know", file, lineOf(src, m[0]))
			}
			continue
		}
		rest := -1
		if m[1] < len(src) && src[m[1]] == ',' {
			rest = m[1] + 1
		}
		add(m[0], src[m[2]:m[3]], src[m[4]:m[5]], rest)
	}
	for _, m := range jsActRe.FindAllStringSubmatchIndex(src, -1) {
		if strings.HasPrefix(src[m[0]:], "act(b, op, body") {
			continue
		}
		add(m[0], proto.ServiceBooking, src[m[2]:m[3]], m[1])
	}
	for _, m := range jsWatchRe.FindAllStringIndex(src, -1) {
		if strings.Contains(src[max(0, m[0]-20):m[0]], "function") {
			continue // its definition
		}
		add(m[0], proto.ServiceCamera, "watch", m[1])
	}
	return out
}

// jsBodies reads the argument that starts at src[from:] of the call at
// src[at]: object literals, or a variable the code set to them.
func jsBodies(src string, at, from int) []jsBody {
	arg := strings.TrimSpace(jsExpr(src, from))
	if jsIdentRe.MatchString(arg) {
		def := regexp.MustCompile(`\b(?:const|let|var)\s+` + arg + `\s*=\s*`)
		locs := def.FindAllStringIndex(src[:at], -1)
		if len(locs) == 0 {
			return nil // a parameter: its callers' literals are read there
		}
		start := locs[len(locs)-1][1]
		bodies := jsLiterals(jsExpr(src, start))
		var added []string
		for _, m := range regexp.MustCompile(`\b`+arg+`\.([a-z_]+)\s*=[^=]`).FindAllStringSubmatch(src[start:at], -1) {
			added = append(added, m[1])
		}
		for i := range bodies {
			bodies[i].keys = append(bodies[i].keys, added...)
		}
		return bodies
	}
	return jsLiterals(arg)
}

// jsExpr returns the expression at src[from:], up to a comma, closing
// bracket or semicolon at its own depth.
func jsExpr(src string, from int) string {
	depth := 0
	for i := from; i < len(src); i++ {
		switch c := src[i]; c {
		case '\'', '"', '`':
			i = jsSkipString(src, i)
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth == 0 {
				return src[from:i]
			}
			depth--
		case ',', ';':
			if depth == 0 {
				return src[from:i]
			}
		}
	}
	return src[from:]
}

// jsLiterals finds the object literals at the top of an expression
// ("{…}", "x ? {…} : {…}").
func jsLiterals(expr string) []jsBody {
	var out []jsBody
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '\'', '"', '`':
			i = jsSkipString(expr, i)
		case '(', '[':
			i = jsSkipGroup(expr, i)
		case '{':
			end := jsSkipGroup(expr, i)
			out = append(out, jsKeys(expr[i+1:end]))
			i = end
		}
	}
	return out
}

// jsKeys reads the keys of an object literal's inside.
func jsKeys(inner string) jsBody {
	var b jsBody
	start := 0
	entry := func(e string) {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
		case strings.HasPrefix(e, "..."):
			b.open = true
		default:
			k, _, _ := strings.Cut(e, ":")
			b.keys = append(b.keys, strings.Trim(strings.TrimSpace(k), `'"`))
		}
	}
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case '\'', '"', '`':
			i = jsSkipString(inner, i)
		case '(', '[', '{':
			i = jsSkipGroup(inner, i)
		case ',':
			entry(inner[start:i])
			start = i + 1
		}
	}
	entry(inner[start:])
	return b
}

func jsSkipString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j
		}
	}
	return len(s) - 1
}

func jsSkipGroup(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '\'', '"', '`':
			j = jsSkipString(s, j)
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(s) - 1
}

func lineOf(src string, at int) string { return strconv.Itoa(strings.Count(src[:at], "\n") + 1) }
