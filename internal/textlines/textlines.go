// Package textlines splits streamed output (a command's pipes, a CI
// console) into lines fit for chat: each line is passed on as soon as it is
// complete, and a runaway line is cut at a bound without splitting a
// character, so no output can flood the chat or the bot's memory.
package textlines

import (
	"bytes"
	"unicode/utf8"
)

// DefaultMax is the longest line passed on when Splitter.Max is zero.
const DefaultMax = 4 << 10

// Splitter turns chunks that end anywhere — inside a line, inside a
// character — into lines. Only one goroutine may use it.
type Splitter struct {
	// Line receives each line without its "\n" or a trailing "\r". The
	// slice is reused after Line returns.
	Line func(b []byte)
	// Max bounds a line in bytes (DefaultMax when zero); the rest of a
	// longer line is dropped.
	Max int

	buf []byte
	cut bool // the current line reached Max and was passed on already
}

// Write consumes p in full and never fails, so a writer never sees a
// broken pipe because of its output.
func (s *Splitter) Write(p []byte) (int, error) {
	n := len(p)
	limit := s.Max
	if limit <= 0 {
		limit = DefaultMax
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if !s.cut {
			if room := limit - len(s.buf); len(seg) > room {
				s.buf = trimPartialRune(append(s.buf, seg[:room]...))
				s.flush()
				s.cut = true
			} else {
				s.buf = append(s.buf, seg...)
			}
		}
		if i < 0 {
			break
		}
		if !s.cut {
			s.flush()
		}
		s.cut = false
		p = p[i+1:]
	}
	return n, nil
}

// Close passes on a last line that did not end in a newline.
func (s *Splitter) Close() error {
	if len(s.buf) > 0 && !s.cut {
		s.flush()
	}
	s.buf, s.cut = s.buf[:0], false
	return nil
}

func (s *Splitter) flush() {
	s.Line(bytes.TrimSuffix(s.buf, []byte("\r")))
	s.buf = s.buf[:0]
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
