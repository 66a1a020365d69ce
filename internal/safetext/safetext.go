// Package safetext checks text that people send to other people (chat
// messages, captions, titles, names, notes) for characters that are not
// text: NUL and the other control characters, and the Unicode bidirectional
// embedding, override and isolate controls, which make a staff console or a
// phone show characters in another order than they were sent
// ("invoice‮fdp.exe").
package safetext

import (
	"fmt"
	"unicode/utf8"
)

// Check returns an error naming the first character of s that is not
// allowed: invalid UTF-8, a C0 control other than tab and (when multiline)
// line feed, DEL, a C1 control, or a bidi control (U+202A–U+202E,
// U+2066–U+2069). field names the field in the message.
func Check(field, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not valid UTF-8", field)
	}
	for i, r := range s {
		if bad(r, multiline) {
			return fmt.Errorf("%q holds the control character U+%04X at byte %d: control and bidi override characters are not allowed", field, r, i)
		}
	}
	return nil
}

func bad(r rune, multiline bool) bool {
	switch {
	case r == '\t':
		return false
	case r == '\n':
		return !multiline
	case r < 0x20, r == 0x7f, 0x80 <= r && r <= 0x9f:
		return true
	case 0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069:
		return true
	}
	return false
}
