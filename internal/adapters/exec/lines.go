package exec

import (
	"strings"

	"shipmate/internal/textlines"
)

// maxLine is the longest output line passed on; the rest of a longer line is
// dropped, so a runaway command cannot flood the chat or the bot's memory.
const maxLine = textlines.DefaultMax

// lineWriter splits a command's output into lines and hands each to emit as
// soon as it is complete. It remembers the last non-empty line for error
// messages and Resolve. Only one goroutine may call Write; Close must be
// called after the last Write.
type lineWriter struct {
	emit  func(string) // may be nil
	last  string
	split textlines.Splitter
}

// Write consumes p in full and never fails, so the command never sees a
// broken pipe because of its output.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.split.Line = w.line
	return w.split.Write(p)
}

// Close passes on a last line that did not end in a newline.
func (w *lineWriter) Close() error {
	w.split.Line = w.line
	return w.split.Close()
}

func (w *lineWriter) line(b []byte) {
	line := strings.ToValidUTF8(string(b), "\uFFFD")
	if t := strings.TrimSpace(line); t != "" {
		w.last = t
	}
	if w.emit != nil {
		w.emit(line)
	}
}
