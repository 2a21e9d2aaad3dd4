package config

import (
	"errors"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"shipmate/internal/fielderr"
)

// Block is an adapter's part of the configuration (an app's exec:,
// kubernetes: or jenkins: block, its smoke checks, chat.discord, the
// jenkins server): the configuration keeps it as written and hands it, with
// its key path, to the adapter, which decodes and checks it. Errors keep
// naming the exact key and its line.
type Block struct {
	d    *decoder
	node *yaml.Node
	path string
}

func (b *Block) decodeYAML(d *decoder, n *yaml.Node, path string) error {
	b.d, b.node, b.path = d, n, path
	return nil
}

// Path is the block's key path, such as apps.checkout.kubernetes.
func (b *Block) Path() string { return b.path }

// Decode fills v (a pointer to the adapter's settings type, with yaml tags)
// from the block: unknown keys are refused and ${VAR} expanded, as
// everywhere in the configuration.
func (b *Block) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("config: Decode needs a non-nil pointer")
	}
	return b.d.decode(b.node, b.path, rv.Elem())
}

// Errorf is an error about key of the block ("" for the block itself), at
// its line.
func (b *Block) Errorf(key, format string, args ...any) error {
	path := b.path + key // an index: smoke[1]
	if key != "" && !strings.HasPrefix(key, "[") {
		path = join(b.path, key)
	}
	return b.d.errorf(path, format, args...)
}

// Check words an adapter's check of its settings as a configuration error:
// a *fielderr.Error names its key within the block; any other error is
// about the block as a whole. nil stays nil.
func (b *Block) Check(err error) error {
	if err == nil {
		return nil
	}
	var fe *fielderr.Error
	if errors.As(err, &fe) {
		return b.Errorf(fe.Key, "%s", fe.Msg)
	}
	return b.Errorf("", "%v", err)
}

// Scalar returns the value of key in the block, with ${VAR} expanded, and
// whether the key is there. The configuration reads the few keys it needs
// itself this way (whether a block is switched on, an app's on_failure).
func (b *Block) Scalar(key string) (string, bool) {
	if b == nil || b.node.Kind != yaml.MappingNode {
		return "", false
	}
	for i := 0; i+1 < len(b.node.Content); i += 2 {
		if k, v := b.node.Content[i], b.node.Content[i+1]; k.Value == key && v.Kind == yaml.ScalarNode {
			s, err := b.d.scalar(v, join(b.path, key), "")
			return s, err == nil
		}
	}
	return "", false
}
