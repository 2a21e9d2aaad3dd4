package jenkins

import (
	"bytes"
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxLine is the longest console line passed on; the rest of a longer line
// is dropped.
const maxLine = 4 << 10

var (
	// consoleNoteRE is a console note Jenkins hides in the text (a
	// serialized annotation between "ESC[8mha:" and "ESC[0m").
	consoleNoteRE = regexp.MustCompile("\x1b\\[8mha:[^\x1b]*\x1b\\[0m")
	// ansiRE is a terminal escape sequence (colours, cursor moves).
	ansiRE = regexp.MustCompile("\x1b\\[[0-9;?]*[ -/]*[@-~]")
)

// lineSplitter turns console chunks into lines. Chunks end anywhere, in the
// middle of a line or of a character: the unfinished part waits for the
// next chunk.
type lineSplitter struct {
	emit func(string)
	buf  []byte
	cut  bool   // the current line reached maxLine and was emitted already
	last string // the last line that says something (not "Finished: …")
}

func (s *lineSplitter) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if !s.cut {
			if room := maxLine - len(s.buf); len(seg) > room {
				s.buf = trimPartialRune(append(s.buf, seg[:room]...))
				s.flushLine()
				s.cut = true
			} else {
				s.buf = append(s.buf, seg...)
			}
		}
		if i < 0 {
			return
		}
		if !s.cut {
			s.flushLine()
		}
		s.cut = false
		p = p[i+1:]
	}
}

// close passes on a last line without a newline.
func (s *lineSplitter) close() {
	if len(s.buf) > 0 && !s.cut {
		s.flushLine()
	}
	s.buf, s.cut = s.buf[:0], false
}

func (s *lineSplitter) flushLine() {
	line := cleanLine(s.buf)
	s.buf = s.buf[:0]
	if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "Finished: ") {
		s.last = t
	}
	s.emit(line)
}

// cleanLine makes raw console bytes a line fit for chat: no console notes,
// no terminal escapes, valid UTF-8.
func cleanLine(b []byte) string {
	b = bytes.TrimSuffix(b, []byte("\r"))
	if bytes.IndexByte(b, 0x1b) >= 0 {
		b = consoleNoteRE.ReplaceAll(b, nil)
		b = ansiRE.ReplaceAll(b, nil)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// trimPartialRune drops an incomplete UTF-8 sequence from the end of b,
// left there by cutting a long line.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}
