package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a config file, located by line and column.
type Problem struct {
	File   string
	Line   int
	Column int
	// Key is the dotted path of the offending key, e.g. sites[0].routes[1].path.
	Key     string
	Message string
}

// String formats the problem as FILE:LINE:COL: KEY: MESSAGE.
func (p Problem) String() string {
	var b strings.Builder
	file := p.File
	if file == "" {
		file = "<config>"
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%s:%d:%d: ", file, p.Line, p.Column)
	} else {
		fmt.Fprintf(&b, "%s: ", file)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is the error returned for an invalid config: every problem found.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// keyPath addresses a node of the document: string elements are mapping
// keys, int elements are sequence indexes.
type keyPath []any

func (k keyPath) key(name string) keyPath { return append(k[:len(k):len(k)], name) }
func (k keyPath) idx(i int) keyPath       { return append(k[:len(k):len(k)], i) }

// String renders the path as sites[0].routes[1].path.
func (k keyPath) String() string {
	var b strings.Builder
	for _, e := range k {
		switch v := e.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		}
	}
	return b.String()
}
