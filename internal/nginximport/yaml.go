package nginximport

import (
	"strconv"
	"strings"
)

// node is a piece of the YAML written out: a scalar (already in YAML
// form), a mapping with its keys in the order set, or a sequence; with
// comment lines written above it.
type node struct {
	scalar  string
	keys    []string
	vals    []*node
	items   []*node
	isMap   bool
	isSeq   bool
	comment []string
}

func newMap() *node { return &node{isMap: true} }
func newSeq() *node { return &node{isSeq: true} }

// str is a YAML string scalar (double-quoted when it needs to be).
func str(s string) *node { return &node{scalar: quote(s)} }

// num is an integer scalar.
func num(n int) *node { return &node{scalar: strconv.Itoa(n)} }

// boolean is a true/false scalar.
func boolean(b bool) *node { return &node{scalar: strconv.FormatBool(b)} }

// strs is a sequence of strings.
func strs(list ...string) *node {
	s := newSeq()
	for _, v := range list {
		s.items = append(s.items, str(v))
	}
	return s
}

// set sets key to v (replacing an earlier value of the key in place).
func (n *node) set(key string, v *node) *node {
	for i, k := range n.keys {
		if k == key {
			n.vals[i] = v
			return v
		}
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
	return v
}

// get returns the value of key, or nil.
func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// child returns the mapping at key, made if absent.
func (n *node) child(key string) *node {
	if c := n.get(key); c != nil {
		return c
	}
	return n.set(key, newMap())
}

// add appends v to a sequence.
func (n *node) add(v *node) *node {
	n.items = append(n.items, v)
	return v
}

// note adds a comment line above the node.
func (n *node) note(format string) *node {
	n.comment = append(n.comment, format)
	return n
}

// empty reports whether a mapping or sequence holds nothing.
func (n *node) empty() bool {
	return (n.isMap && len(n.keys) == 0) || (n.isSeq && len(n.items) == 0)
}

// plainSafe matches strings YAML reads back as the same string unquoted.
func plainSafe(s string) bool {
	if s == "" || strings.TrimSpace(s) != s {
		return false
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "~", "y", "n":
		return false
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '/' || r == '_' || r == '.' || r == '-' || r == '+':
			if i == 0 && r == '-' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// quote writes s as a YAML scalar: plain when that reads back the same,
// else double-quoted with JSON's escapes (which YAML shares).
func quote(s string) string {
	if plainSafe(s) {
		return s
	}
	return strconv.Quote(s)
}

// write renders n as a YAML document.
func write(n *node) string {
	var b strings.Builder
	writeMapping(&b, n, 0)
	return b.String()
}

func writeComments(b *strings.Builder, comments []string, indent int) {
	for _, c := range comments {
		for _, line := range strings.Split(c, "\n") {
			b.WriteString(strings.Repeat(" ", indent))
			b.WriteString("# ")
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
}

func writeMapping(b *strings.Builder, n *node, indent int) {
	for i, k := range n.keys {
		v := n.vals[i]
		writeComments(b, v.comment, indent)
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteString(quote(k))
		b.WriteByte(':')
		writeValue(b, v, indent)
	}
}

// writeValue writes v after "key:" or "-".
func writeValue(b *strings.Builder, v *node, indent int) {
	switch {
	case v.isMap && len(v.keys) == 0:
		b.WriteString(" {}\n")
	case v.isSeq && len(v.items) == 0:
		b.WriteString(" []\n")
	case v.isMap:
		b.WriteByte('\n')
		writeMapping(b, v, indent+2)
	case v.isSeq:
		b.WriteByte('\n')
		for _, item := range v.items {
			comments := item.comment
			if item.isMap && len(item.keys) > 0 {
				comments = append(comments[:len(comments):len(comments)], item.vals[0].comment...)
			}
			writeComments(b, comments, indent+2)
			b.WriteString(strings.Repeat(" ", indent+2))
			b.WriteByte('-')
			if item.isMap && len(item.keys) > 0 {
				// The first key on the dash's line (its comments went
				// above the dash), the rest below it.
				firstVal := *item.vals[0]
				firstVal.comment = nil
				first := &node{isMap: true, keys: item.keys[:1], vals: []*node{&firstVal}}
				var inner strings.Builder
				writeMapping(&inner, first, indent+4)
				b.WriteByte(' ')
				b.WriteString(strings.TrimLeft(inner.String(), " "))
				rest := &node{isMap: true, keys: item.keys[1:], vals: item.vals[1:]}
				writeMapping(b, rest, indent+4)
				continue
			}
			writeValue(b, item, indent+2)
		}
	default:
		b.WriteByte(' ')
		b.WriteString(v.scalar)
		b.WriteByte('\n')
	}
}
