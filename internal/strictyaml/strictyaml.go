// Package strictyaml decodes configuration YAML strictly: an unknown key is an
// error, so a misspelt setting is reported instead of silently ignored, and
// DecodeFile says what is wrong in the words of the person editing the file:
// file, line, key and what is wanted there.
package strictyaml

import (
	"bytes"
	"errors"
	"io"

	"gopkg.in/yaml.v3"
)

// Decode decodes one YAML document into v, rejecting keys v does not have. An
// empty document (only comments) leaves v unchanged.
func Decode(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
