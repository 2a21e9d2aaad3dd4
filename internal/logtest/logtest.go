// Package logtest collects log output in tests, from any number of
// goroutines at once.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer for a test's logger; String reads what it got.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
