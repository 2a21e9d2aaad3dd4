package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// pathError is a configuration mistake: the dotted path of the key at
// fault, the line where it is written (0 if unknown) and what is wrong.
type pathError struct {
	path string
	line int
	msg  string
}

func (e *pathError) Error() string {
	s := e.msg
	if e.path != "" {
		s = e.path + ": " + s
	}
	if e.line > 0 {
		s += fmt.Sprintf(" (line %d)", e.line)
	}
	return s
}

// maxNodes bounds the nodes one document may expand to, so that a few
// nested anchors and aliases cannot make loading take forever.
const maxNodes = 100_000

// decoder walks a yaml.Node tree into the raw structs, checking every key
// against the yaml tags of the target so that an error can name its exact
// path. It records the line of every path it visits for later checks.
type decoder struct {
	lookup func(string) (string, bool)
	lines  map[string]int
	nodes  int
}

// nodeDecoder is implemented by raw types that decode themselves, such as
// ordered mappings and the approval rule, which is a scalar or a mapping.
type nodeDecoder interface {
	decodeYAML(d *decoder, n *yaml.Node, path string) error
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
)

// errorf returns an error for path, at the line recorded for it or, failing
// that, for its nearest parent.
func (d *decoder) errorf(path, format string, args ...any) error {
	return &pathError{path: path, line: d.lineOf(path), msg: fmt.Sprintf(format, args...)}
}

// errorAt returns an error for path at the line of n.
func errorAt(n *yaml.Node, path, format string, args ...any) error {
	return &pathError{path: path, line: n.Line, msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) lineOf(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		path = parent(path)
	}
	return 0
}

// parent strips the last ".key" or "[i]" from path.
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// resolve follows aliases and counts the node against maxNodes.
func (d *decoder) resolve(n *yaml.Node, path string) (*yaml.Node, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes++
	if d.nodes > maxNodes {
		return nil, errorAt(n, path, "document too large (more than %d values after expanding aliases)", maxNodes)
	}
	return n, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// decode fills v from n.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) error {
	n, err := d.resolve(n, path)
	if err != nil {
		return err
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		return v.Addr().Interface().(nodeDecoder).decodeYAML(d, n, path)
	}
	if v.Type() == durationType {
		s, err := d.scalar(n, path, "a duration")
		if err != nil {
			return err
		}
		dur, err := parseDuration(s)
		if err != nil || dur < 0 {
			return errorAt(n, path, "invalid duration %q", s)
		}
		v.SetInt(int64(dur))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		s, err := d.scalar(n, path, "a string")
		if err != nil {
			return err
		}
		v.SetString(s)
	case reflect.Bool:
		s, err := d.scalar(n, path, "true or false")
		if err != nil {
			return err
		}
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return errorAt(n, path, "want true or false, got %q", s)
		}
	case reflect.Int:
		s, err := d.scalar(n, path, "a whole number")
		if err != nil {
			return err
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			return errorAt(n, path, "want a whole number, got %q", s)
		}
		v.SetInt(int64(i))
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return nil
		}
		p := reflect.New(v.Type().Elem())
		if err := d.decode(n, path, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
	case reflect.Slice:
		return d.decodeSlice(n, path, v)
	case reflect.Struct:
		return d.decodeStruct(n, path, v)
	case reflect.Map:
		return d.decodeMap(n, path, v)
	default:
		// An adapter's settings type with a field no key can fill: a bug,
		// said as an error rather than a crash.
		return errorAt(n, path, "cannot be read into %s", v.Type())
	}
	return nil
}

// scalar returns n's value with ${VAR} expanded; want says what was
// expected, for the error when n is a list or a mapping.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", errorAt(n, path, "want %s, got %s", want, describe(n))
	}
	if isNull(n) {
		return "", nil
	}
	s, err := expand(n.Value, d.lookup)
	if err != nil {
		return "", errorAt(n, path, "%v", err)
	}
	return s, nil
}

// decodeMap decodes a free-form mapping, such as a Jenkins job's
// parameters, into a map with string keys.
func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) error {
	if v.Type().Key().Kind() != reflect.String {
		return errorAt(n, path, "cannot be read into %s", v.Type())
	}
	m := reflect.MakeMap(v.Type())
	err := d.mapping(n, path, func(key string, _, val *yaml.Node) error {
		x := reflect.New(v.Type().Elem()).Elem()
		if err := d.decode(val, join(path, key), x); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(key), x)
		return nil
	})
	if err != nil {
		return err
	}
	v.Set(m)
	return nil
}

func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) error {
	if isNull(n) {
		v.SetZero()
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return errorAt(n, path, "want a list, got %s", describe(n))
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := index(path, i)
		d.lines[p] = item.Line
		if err := d.decode(item, p, s.Index(i)); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

// mapping calls f for each key and value of the mapping n, refusing
// duplicate keys, non-scalar keys and merge keys.
func (d *decoder) mapping(n *yaml.Node, path string, f func(key string, k, v *yaml.Node) error) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errorAt(n, path, "want a mapping, got %s", describe(n))
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return errorAt(k, path, "keys must be plain names, got %s", describe(k))
		}
		key := k.Value
		if k.ShortTag() == "!!merge" {
			return errorAt(k, join(path, key), "merge keys are not supported")
		}
		if first, dup := seen[key]; dup {
			return errorAt(k, join(path, key), "duplicate key (first at line %d)", first)
		}
		seen[key] = k.Line
		if err := f(key, k, v); err != nil {
			return err
		}
		// Later checks about this entry point at its key, not its value.
		d.lines[join(path, key)] = k.Line
	}
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) error {
	fields := yamlFields(v.Type())
	return d.mapping(n, path, func(key string, k, val *yaml.Node) error {
		i, ok := fields[key]
		if !ok {
			return errorAt(k, join(path, key), "unknown key")
		}
		return d.decode(val, join(path, key), v.Field(i))
	})
}

// yamlFields maps the yaml key of each exported field of struct type t to
// its index: the name in its yaml tag, or its lowercased Go name.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

// entry is one key and value of an ordered mapping.
type entry[T any] struct {
	Key   string
	Value T
}

// entries is a mapping whose order matters, or whose checks should run in
// file order so that the first error reported is the first in the file.
type entries[T any] []entry[T]

func (e *entries[T]) decodeYAML(d *decoder, n *yaml.Node, path string) error {
	*e = nil
	return d.mapping(n, path, func(key string, _, val *yaml.Node) error {
		var x T
		if err := d.decode(val, join(path, key), reflect.ValueOf(&x).Elem()); err != nil {
			return err
		}
		*e = append(*e, entry[T]{Key: key, Value: x})
		return nil
	})
}

// expand replaces each ${VAR} in s by lookup(VAR), or by nothing when VAR
// is not set, and each $$ by a single $. Any other $ is kept as it is.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q (write $$ for a literal $)", s)
			}
			name := s[i+2 : i+2+end]
			if !isVarName(name) {
				return "", fmt.Errorf("invalid variable name %q in %q", name, s)
			}
			val, _ := lookup(name)
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// parseDuration is time.ParseDuration, plus whole days: "30d".
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
