package strictyaml

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

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

// pathAt finds, among what starts on a line, the key or value a message
// of yaml.v3 (without its "line N: ") is about, and returns its path; ""
// when it cannot tell.
func pathAt(detail string, nodes []nodeAt) string {
	name := ""
	if field, ok := strings.CutPrefix(detail, "field "); ok {
		name, _, _ = strings.Cut(field, " ")
	} else if key, ok := strings.CutPrefix(detail, "mapping key \""); ok {
		name, _, _ = strings.Cut(key, "\"")
	}
	if name != "" {
		for _, n := range nodes {
			if n.key == name {
				return n.path
			}
		}
		return ""
	}
	if _, v, ok := strings.Cut(detail, "`"); ok {
		// yaml.v3 quotes the offending scalar, shortened to "1234567..."
		v, _, _ = strings.Cut(v, "`")
		short, cut := strings.CutSuffix(v, "...")
		for _, n := range nodes {
			if n.key == "" && n.scalar && (n.value == v || cut && strings.HasPrefix(n.value, short)) {
				return n.path
			}
		}
		return ""
	}
	// a collection where a scalar belongs: it starts on the line, most
	// likely as the innermost collection there
	path := ""
	for _, n := range nodes {
		if n.key == "" && !n.scalar && n.path != "" {
			path = n.path
		}
	}
	return path
}
