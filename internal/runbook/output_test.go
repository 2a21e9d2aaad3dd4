package runbook

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestOutputKeepsHeadAndTail(t *testing.T) {
	o := newOutput(3, 12, redactor{})
	var stored, shown []string
	for i := 1; i <= 100; i++ {
		o.add(fmt.Sprintf("line %d\n", i))
		if i%10 == 0 {
			s, c, _ := o.take()
			stored, shown = append(stored, s...), append(shown, c...)
		}
	}
	stored = append(stored, o.rest()...)
	want := []string{"line 1", "line 2", "line 3", "… 85 lines left out …"}
	for i := 89; i <= 100; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	if !slices.Equal(stored, want) {
		t.Errorf("stored %q\nwant %q", stored, want)
	}
	// Taken every 10 lines, chat is shown every line.
	if len(shown) != 100 || shown[99] != "line 100" {
		t.Errorf("shown %d lines, last %q", len(shown), shown[len(shown)-1])
	}
}

func TestOutputShownWhenChatFallsBehind(t *testing.T) {
	o := newOutput(500, 20, redactor{})
	for i := 1; i <= 1000; i++ {
		o.add(fmt.Sprint(i))
	}
	_, shown, tail := o.take()
	if len(shown) != 21 || shown[0] != "… 980 lines not shown here …" || shown[20] != "1000" {
		t.Errorf("shown %q", shown)
	}
	if len(tail) != logTail || tail[logTail-1] != "1000" {
		t.Errorf("tail %q", tail)
	}
}

func TestOutputCutsEndlessLines(t *testing.T) {
	o := newOutput(10, 10, redactor{})
	o.add(strings.Repeat("x", 1<<20))
	s, _, _ := o.take()
	if n := len([]rune(s[0])); n != maxLineRunes+1 || !strings.HasSuffix(s[0], "…") {
		t.Errorf("a 1 MiB line was kept as %d runes", n)
	}
}
