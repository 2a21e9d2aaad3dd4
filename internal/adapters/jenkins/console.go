package jenkins

import (
	"bytes"
	"regexp"
	"strings"

	"shipmate/internal/textlines"
)

// maxLine is the longest console line passed on; the rest of a longer line
// is dropped.
const maxLine = textlines.DefaultMax

var (
	// consoleNoteRE is a console note Jenkins hides in the text (a
	// serialized annotation between "ESC[8mha:" and "ESC[0m").
	consoleNoteRE = regexp.MustCompile("\x1b\\[8mha:[^\x1b]*\x1b\\[0m")
	// ansiRE is a terminal escape sequence (colours, cursor moves).
	ansiRE = regexp.MustCompile("\x1b\\[[0-9;?]*[ -/]*[@-~]")
)

// lineSplitter turns console chunks into cleaned lines. Chunks end
// anywhere, in the middle of a line or of a character: the unfinished part
// waits for the next chunk.
type lineSplitter struct {
	emit  func(string)
	last  string // the last line that says something (not "Finished: …")
	split textlines.Splitter
}

func (s *lineSplitter) write(p []byte) {
	s.split.Line = s.line
	_, _ = s.split.Write(p)
}

// close passes on a last line without a newline.
func (s *lineSplitter) close() {
	s.split.Line = s.line
	_ = s.split.Close()
}

func (s *lineSplitter) line(b []byte) {
	line := cleanLine(b)
	if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "Finished: ") {
		s.last = t
	}
	s.emit(line)
}

// cleanLine makes raw console bytes a line fit for chat: no console notes,
// no terminal escapes, valid UTF-8.
func cleanLine(b []byte) string {
	if bytes.IndexByte(b, 0x1b) >= 0 {
		b = consoleNoteRE.ReplaceAll(b, nil)
		b = ansiRE.ReplaceAll(b, nil)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
