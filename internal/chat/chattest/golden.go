package chattest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// GoldenJSON is v as a golden file holds it: indented JSON, without HTML
// escaping, so that a golden shows "<script>" and "&" as the platform
// receives them rather than as "\u003c" and "\u0026" (both decode to the
// same value).
func GoldenJSON(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Golden checks got against the golden file testdata/name, which it first
// rewrites with got when update is set (go test -update), and returns the
// file's content.
func Golden(t *testing.T, name string, got []byte, update bool) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update if the change is intended):\n%s", path, got)
	}
	return want
}
