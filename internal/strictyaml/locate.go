package strictyaml

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Locate adds the path of the offending key ("services[3].needs[0]")
// to each line of a decode error, which yaml.v3 only locates by line: a
// store editing a long file finds "services[3]" quicker than "line 97".
// When the error is not a yaml.TypeError it is returned unchanged.
func Locate(src []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(src, &root) != nil {
		return err
	}
	lines := map[int][]nodeAt{}
	walk(&root, "", lines)
	var errs []error
	for _, msg := range te.Errors {
		errs = append(errs, errors.New(locate(msg, lines)))
	}
	return errors.Join(errs...)
}

// nodeAt is what starts on a line: a mapping key (key set) or a value,
// with its path.
type nodeAt struct {
	key, path, value string
	scalar           bool
}

// walk records where every key and value of n starts.
func walk(n *yaml.Node, path string, lines map[int][]nodeAt) {
	if n.Kind != yaml.DocumentNode {
		lines[n.Line] = append(lines[n.Line], nodeAt{path: path, value: n.Value, scalar: n.Kind == yaml.ScalarNode})
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walk(c, fmt.Sprintf("%s[%d]", path, i), lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[k.Line] = append(lines[k.Line], nodeAt{key: k.Value, path: p})
			walk(v, p, lines)
		}
	}
}

// locate rewrites "line 12: field neds not found in type ..." as
// "services[1].neds (line 12): field neds not found in type ...", and
// "line 9: cannot unmarshal !!str `lots` into int64" as
// "services[0].price (line 9): ...". It leaves a message it cannot place
// as it is.
func locate(msg string, lines map[int][]nodeAt) string {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return msg
	}
	num, detail, ok := strings.Cut(rest, ": ")
	if !ok {
		return msg
	}
	line, err := strconv.Atoi(num)
	if err != nil {
		return msg
	}
	path := ""
	if field, ok := strings.CutPrefix(detail, "field "); ok {
		name, _, _ := strings.Cut(field, " not found")
		for _, n := range lines[line] {
			if n.key == name {
				path = n.path
				break
			}
		}
	} else if _, v, ok := strings.Cut(detail, "`"); ok {
		// yaml.v3 quotes the offending scalar, shortened to "1234567..."
		v, _, _ = strings.Cut(v, "`")
		short, cut := strings.CutSuffix(v, "...")
		for _, n := range lines[line] {
			if n.key == "" && n.scalar && (n.value == v || cut && strings.HasPrefix(n.value, short)) {
				path = n.path
				break
			}
		}
	} else {
		// a collection where a scalar belongs: it starts on the line, most
		// likely as the innermost collection there
		for _, n := range lines[line] {
			if n.key == "" && !n.scalar && n.path != "" {
				path = n.path
			}
		}
	}
	if path == "" {
		return msg
	}
	return fmt.Sprintf("%s (line %d): %s", path, line, detail)
}
