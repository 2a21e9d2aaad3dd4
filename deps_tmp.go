package main
import (
 _ "go.etcd.io/bbolt"
 _ "github.com/rs/zerolog"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "go.yaml.in/yaml/v3"
 _ "github.com/google/go-cmp/cmp"
 _ "golang.org/x/term"
)
func main(){}
