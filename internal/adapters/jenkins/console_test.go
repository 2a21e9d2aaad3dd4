package jenkins

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLineSplitter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		chunks   []string
		want     []string
		wantLast string
	}{
		{"lines across chunks", []string{"ab", "c\nde", "f\n", "g"}, []string{"abc", "def", "g"}, "g"},
		{"CRLF", []string{"one\r\ntwo\r\n"}, []string{"one", "two"}, "two"},
		{"console notes and colours", []string{"\x1b[8mha:////4AAAAB+LCAAAAAAAAP9b85aBtbiI\x1b[0m[Pipeline] sh\n\x1b[1;31mERROR\x1b[0m: boom\n"},
			[]string{"[Pipeline] sh", "ERROR: boom"}, "ERROR: boom"},
		{"a character split between chunks", []string{"caf\xc3", "\xa9\n"}, []string{"café"}, "café"},
		{"Finished is not the last word", []string{"exit 1\n\nFinished: FAILURE\n"}, []string{"exit 1", "", "Finished: FAILURE"}, "exit 1"},
		{"invalid UTF-8", []string{"a\xffb\n"}, []string{"a\uFFFDb"}, "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			s := &lineSplitter{emit: func(l string) { got = append(got, l) }}
			for _, c := range tc.chunks {
				s.write([]byte(c))
			}
			s.close()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if s.last != tc.wantLast {
				t.Errorf("last = %q, want %q", s.last, tc.wantLast)
			}
		})
	}
}

func TestLineSplitterCutsLongLines(t *testing.T) {
	var got []string
	s := &lineSplitter{emit: func(l string) { got = append(got, l) }}
	long := strings.Repeat("é", maxLine) // 2 bytes each
	s.write([]byte(long[:3000]))
	s.write([]byte(long[3000:] + "\nnext\n"))
	s.close()
	if len(got) != 2 || len(got[0]) > maxLine || !strings.HasPrefix(long, got[0]) || got[1] != "next" {
		t.Errorf("got %d lines, the first %d bytes: %q", len(got), len(got[0]), got[1:])
	}
}

func TestJenkinsMessage(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body, want string
	}{
		{"jetty page", "text/html", "<html><head><title>Error 500</title></head><body><h2>HTTP ERROR 500</h2><pre>java.lang.IllegalStateException: This build is not parameterized!</pre></body></html>",
			"java.lang.IllegalStateException: This build is not parameterized!"},
		{"h2 only", "text/html;charset=utf-8", "<html><body><h2>Access Denied &amp; more</h2></body></html>", "Access Denied & more"},
		{"plain", "text/plain", "  Nothing is submitted\n", "Nothing is submitted"},
		{"empty", "text/html", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string][]string{"Content-Type": {tc.ctype}}
			if got := jenkinsMessage(h, []byte(tc.body)); got != tc.want {
				t.Errorf("jenkinsMessage = %q, want %q", got, tc.want)
			}
		})
	}
}
