package exec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLineWriter(t *testing.T) {
	long := strings.Repeat("x", maxLine)
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string
		last   string
	}{
		{"empty", nil, nil, ""},
		{"one line", []string{"hello\n"}, []string{"hello"}, "hello"},
		{"no final newline", []string{"a\nb"}, []string{"a", "b"}, "b"},
		{"split across writes", []string{"he", "llo\nwor", "ld\n"}, []string{"hello", "world"}, "world"},
		{"crlf", []string{"a\r\nb\r\n"}, []string{"a", "b"}, "b"},
		{"blank lines kept, last skips them", []string{"  x  \n\n \n"}, []string{"  x  ", "", " "}, "x"},
		{"exactly max", []string{long, "\n", "next\n"}, []string{long, "next"}, "next"},
		{"cut at max", []string{long + "yyy\nnext\n"}, []string{long, "next"}, "next"},
		{"cut across writes", []string{long[:100], long[100:] + "y", "yyy", "y\nz"}, []string{long, "z"}, "z"},
		{"cut never ending", []string{long, "y", "y"}, []string{long}, long},
		{"cut keeps whole runes", []string{long[:maxLine-1] + "é\n"}, []string{long[:maxLine-1]}, long[:maxLine-1]},
		{"invalid utf-8 replaced", []string{"a\xffb\n"}, []string{"a\uFFFDb"}, "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			w := &lineWriter{emit: func(s string) { got = append(got, s) }}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			w.Close()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if w.last != tc.last {
				t.Errorf("last = %q, want %q", w.last, tc.last)
			}
		})
	}
}
