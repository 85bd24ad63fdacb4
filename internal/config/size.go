package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Size is a number of bytes, written as 512, 64KB, 10MB, 1GB (or KiB, MiB,
// GiB, or nginx's k, m, g). Every unit is a power of 1024, as in nginx.
type Size int64

// UnmarshalYAML decodes a size scalar.
func (s *Size) UnmarshalYAML(node ast.Node) error {
	v, err := ParseSize(strings.TrimSpace(scalarString(node)))
	if err != nil {
		return &nodeError{node, err.Error()}
	}
	*s = Size(v)
	return nil
}

// ParseSize parses a byte count with an optional unit.
func ParseSize(s string) (int64, error) {
	num := strings.TrimRight(s, "kKmMgGtTiIbB ")
	unit := strings.ToLower(strings.TrimSpace(s[len(num):]))
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (use e.g. 512, 64KB, 10MB, 1GB)", s)
	}
	var mult int64
	switch unit {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	case "t", "tb", "tib":
		mult = 1 << 40
	default:
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, unit)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}
