package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// nodeError is returned by the custom decoders so that the loader can place
// the message at the node's position.
type nodeError struct {
	node ast.Node
	msg  string
}

func (e *nodeError) Error() string { return e.msg }

// Duration is a time span written as 30s, 5m, 1h, 1h30m, 7d or a bare number
// of seconds.
type Duration time.Duration

// UnmarshalYAML decodes a duration scalar.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	s := strings.TrimSpace(scalarString(node))
	v, err := ParseDuration(s)
	if err != nil {
		return &nodeError{node, err.Error()}
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a duration, accepting a "d" (day) unit and a bare
// number of seconds besides Go's syntax.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	if days, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 2h, 7d)", s)
		}
		d := time.Duration(n) * 24 * time.Hour
		if rest != "" {
			r, err := time.ParseDuration(rest)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 2h, 7d)", s)
			}
			d += r
		}
		return d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 2h, 7d)", s)
	}
	return d, nil
}

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts "host:port", "off" or {listen, token}.
func (a *Admin) UnmarshalYAML(node ast.Node) error {
	if isScalar(node) {
		*a = Admin{Listen: scalarString(node)}
		return nil
	}
	type plain Admin
	var p plain
	if err := yaml.NodeToValue(node, &p); err != nil {
		return err
	}
	*a = Admin(p)
	return nil
}

// Off reports whether the admin API is switched off.
func (a Admin) Off() bool { return a.Listen == "off" }

// Addr is the address the admin API listens on: Listen, or the default.
func (a Admin) Addr() string {
	if a.Listen == "" {
		return DefaultAdmin
	}
	return a.Listen
}

// FileMode is a file's permission bits, written in octal: 0660, "0660"
// or 0o660.
type FileMode uint32

// UnmarshalYAML decodes an octal mode.
func (m *FileMode) UnmarshalYAML(node ast.Node) error {
	s := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(scalarString(node)), "0o"), "0O")
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return &nodeError{node, fmt.Sprintf("want permission bits in octal such as 0660, got %q", scalarString(node))}
	}
	*m = FileMode(v)
	return nil
}

// Targets is a proxy destination: one string (a pool name or URL) or a list
// of URLs.
type Targets []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (t *Targets) UnmarshalYAML(node ast.Node) error {
	switch n := node.(type) {
	case *ast.SequenceNode:
		out := make(Targets, 0, len(n.Values))
		for _, v := range n.Values {
			if !isScalar(v) {
				return &nodeError{v, "expected a URL string"}
			}
			out = append(out, scalarString(v))
		}
		*t = out
		return nil
	default:
		if !isScalar(node) {
			return &nodeError{node, "expected a pool name, a URL or a list of URLs"}
		}
		*t = Targets{scalarString(node)}
		return nil
	}
}

// UnmarshalYAML accepts "http://host:port" or {url: ..., weight: N}.
func (s *ServerEntry) UnmarshalYAML(node ast.Node) error {
	if isScalar(node) {
		*s = ServerEntry{URL: scalarString(node)}
		return nil
	}
	type plain ServerEntry
	var p plain
	if err := yaml.NodeToValue(node, &p); err != nil {
		return err
	}
	*s = ServerEntry(p)
	return nil
}

func isScalar(node ast.Node) bool {
	switch node.(type) {
	case *ast.MappingNode, *ast.SequenceNode, *ast.MappingValueNode, *ast.NullNode:
		return false
	}
	return node != nil
}

func scalarString(node ast.Node) string {
	if node == nil {
		return ""
	}
	if s, ok := node.(*ast.StringNode); ok {
		return s.Value
	}
	if t := node.GetToken(); t != nil {
		return t.Value
	}
	return node.String()
}
