package safetext

import "testing"

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		s         string
		multiline bool
		ok        bool
	}{
		{"hello 你好 🐶", false, true},
		{"two\nlines\tand a tab", true, true},
		{"two\nlines", false, false},
		{"nul\x00", true, false},
		{"cr\r\n", true, false},
		{"esc\x1b[31m", true, false},
		{"del\x7f", true, false},
		{"c1\u0085", true, false},
		{"invoice\u202efdp.exe", true, false},
		{"lre\u202a", true, false},
		{"isolate\u2066x\u2069", true, false},
		{"zwj 👨\u200d👩", true, true},
		{"bad \xff utf8", true, false},
	} {
		if err := Check("text", tc.s, tc.multiline); (err == nil) != tc.ok {
			t.Errorf("Check(%q, %v) = %v, want ok=%v", tc.s, tc.multiline, err, tc.ok)
		}
	}
}
