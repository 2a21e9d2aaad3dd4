package exec

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// maxLine is the longest output line passed on; the rest of a longer line is
// dropped, so a runaway command cannot flood the chat or the bot's memory.
const maxLine = 4 << 10

// lineWriter splits a command's output into lines and hands each to emit as
// soon as it is complete. It remembers the last non-empty line for error
// messages and Resolve. Only one goroutine may call Write; Close must be
// called after the last Write.
type lineWriter struct {
	emit func(string) // may be nil
	buf  []byte
	cut  bool // the current line reached maxLine and was emitted already
	last string
}

// Write consumes p in full and never fails, so the command never sees a
// broken pipe because of its output.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if !w.cut {
			if room := maxLine - len(w.buf); len(seg) > room {
				w.buf = append(w.buf, seg[:room]...)
				w.buf = trimPartialRune(w.buf)
				w.flush()
				w.cut = true
			} else {
				w.buf = append(w.buf, seg...)
			}
		}
		if i < 0 {
			break
		}
		if !w.cut {
			w.flush()
		}
		w.cut = false
		p = p[i+1:]
	}
	return n, nil
}

// Close passes on a last line that did not end in a newline.
func (w *lineWriter) Close() error {
	if len(w.buf) > 0 && !w.cut {
		w.flush()
	}
	w.buf, w.cut = nil, false
	return nil
}

func (w *lineWriter) flush() {
	line := strings.ToValidUTF8(string(bytes.TrimSuffix(w.buf, []byte("\r"))), "\uFFFD")
	w.buf = w.buf[:0]
	if t := strings.TrimSpace(line); t != "" {
		w.last = t
	}
	if w.emit != nil {
		w.emit(line)
	}
}

// trimPartialRune drops an incomplete UTF-8 sequence from the end of b, left
// there by cutting a long line.
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
