package faqstore

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/storeedge/storeedge/proto"
)

// Entries lists the intents' answers and the quick replies of an FAQ, in
// its order, as the console edits them.
func Entries(y []byte) (intents, quick []proto.FAQEntry, err error) {
	var doc struct {
		Intents []struct {
			ID     string        `yaml:"id"`
			Health bool          `yaml:"health"`
			Answer proto.FAQText `yaml:"answer"`
		} `yaml:"intents"`
		QuickReplies []struct {
			ID    string        `yaml:"id"`
			Title string        `yaml:"title"`
			Text  proto.FAQText `yaml:"text"`
		} `yaml:"quick_replies"`
	}
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, nil, fmt.Errorf("faqstore: %w", err)
	}
	intents, quick = []proto.FAQEntry{}, []proto.FAQEntry{}
	for _, in := range doc.Intents {
		intents = append(intents, proto.FAQEntry{ID: in.ID, Health: in.Health, FAQText: in.Answer})
	}
	for _, q := range doc.QuickReplies {
		quick = append(quick, proto.FAQEntry{ID: q.ID, Title: q.Title, FAQText: q.Text})
	}
	return intents, quick, nil
}

// Patch returns y with the answers of the intents named in answers and the
// texts of the quick replies named in quick replaced (comments and the
// rest kept). An id the FAQ does not have is an error naming it.
func Patch(y []byte, answers, quick map[string]proto.FAQText) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(y, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: not a mapping", ErrInvalid)
	}
	root := doc.Content[0]
	if err := patchList(root, "intents", "answer", answers); err != nil {
		return nil, err
	}
	if err := patchList(root, "quick_replies", "text", quick); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("faqstore: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("faqstore: encode: %w", err)
	}
	return out.Bytes(), nil
}

// patchList sets field.zh and field.en of the entries of list named in
// texts.
func patchList(root *yaml.Node, list, field string, texts map[string]proto.FAQText) error {
	if len(texts) == 0 {
		return nil
	}
	seq := child(root, list)
	left := map[string]bool{}
	for id := range texts {
		left[id] = true
	}
	if seq != nil && seq.Kind == yaml.SequenceNode {
		for _, e := range seq.Content {
			idNode := child(e, "id")
			if idNode == nil {
				continue
			}
			t, ok := texts[idNode.Value]
			if !ok {
				continue
			}
			delete(left, idNode.Value)
			f := child(e, field)
			if f == nil || f.Kind != yaml.MappingNode {
				f = &yaml.Node{Kind: yaml.MappingNode}
				e.Content = append(e.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: field}, f)
			}
			setText(f, "zh", t.ZH)
			setText(f, "en", t.EN)
		}
	}
	if len(left) > 0 {
		ids := make([]string, 0, len(left))
		for id := range left {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return fmt.Errorf("%w: %s: no such id in the FAQ: %s", ErrInvalid, list, strings.Join(ids, ", "))
	}
	return nil
}

func child(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setText(m *yaml.Node, key, text string) {
	style := yaml.Style(0)
	if strings.Contains(text, "\n") {
		style = yaml.LiteralStyle
	}
	n := child(m, key)
	if n == nil {
		n = &yaml.Node{Kind: yaml.ScalarNode}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, n)
	}
	n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "!!str", text, style
}

var errBothForms = errors.New(`send "yaml" or "answers"/"quick_replies", not both`)
