package exec

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// script writes body to a shell script in a fresh temporary directory and
// returns the argv that runs it.
func script(t *testing.T, body string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "step.sh")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"sh", path}
}

// shq quotes s for a shell script.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// mustNew returns an Executor for cfg, with placeholder deploy and rollback
// commands if cfg has none.
func mustNew(t *testing.T, cfg Config) *Executor {
	t.Helper()
	if cfg.Deploy == nil {
		cfg.Deploy = []string{"true"}
	}
	if cfg.Rollback == nil {
		cfg.Rollback = []string{"true"}
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// lines collects Progress output; tests read it while a command still runs.
type lines struct {
	mu  sync.Mutex
	all []string
	c   chan string
}

func newLines() *lines { return &lines{c: make(chan string, 100000)} }

func (l *lines) progress(line string) {
	l.mu.Lock()
	l.all = append(l.all, line)
	l.mu.Unlock()
	l.c <- line
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

// await waits for the line want, failing the test after d.
func (l *lines) await(t *testing.T, want string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case got := <-l.c:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("no line %q within %s; got %q", want, d, l.get())
		}
	}
}
