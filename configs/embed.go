// Package configs holds the configuration files shipped inside the binary.
package configs

import _ "embed" // for go:embed

// Default is shipmate.yaml, the configuration used when no file is given.
//
//go:embed shipmate.yaml
var Default []byte

// Example is example.yaml, the commented example configuration.
//
//go:embed example.yaml
var Example []byte
