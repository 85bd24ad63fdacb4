// Package tmpl parses and expands the replacement templates of rewrites and
// redirects: $1...$9 and ${N} stand for regex groups, $$ for a dollar sign.
package tmpl

import (
	"fmt"
	"strconv"
	"strings"
)

// Template is a parsed replacement: literal text and group references.
type Template struct {
	parts []part
	// maxGroup is the highest group referenced.
	maxGroup int
}

type part struct {
	lit   string
	group int // -1 for a literal
}

// Parse parses s. A "$" must be followed by a digit, "{N}" or "$".
func Parse(s string) (Template, error) {
	var t Template
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return Template{}, fmt.Errorf("%q ends with a lone $ (write $$ for a dollar sign)", s)
		}
		next := s[i+1]
		var n int
		switch {
		case next == '$':
			lit.WriteByte('$')
			i++
			continue
		case next >= '0' && next <= '9':
			n = int(next - '0')
			i++
		case next == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return Template{}, fmt.Errorf("%q: ${ without a closing }", s)
			}
			v, err := strconv.Atoi(s[i+2 : i+2+end])
			if err != nil || v < 0 || v > 99 {
				return Template{}, fmt.Errorf("%q: ${%s} is not a group number", s, s[i+2:i+2+end])
			}
			n = v
			i += 2 + end
		default:
			return Template{}, fmt.Errorf("%q: $%c is not a group reference (write $$ for a dollar sign)", s, next)
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String(), group: -1})
			lit.Reset()
		}
		t.parts = append(t.parts, part{group: n})
		t.maxGroup = max(t.maxGroup, n)
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{lit: lit.String(), group: -1})
	}
	return t, nil
}

// MaxGroup is the highest group number the template refers to.
func (t Template) MaxGroup() int { return t.maxGroup }

// Expand fills the template with groups (index 0 the whole match); a
// group that did not take part is empty.
func (t Template) Expand(groups []string) string {
	if len(t.parts) == 1 && t.parts[0].group < 0 {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch {
		case p.group < 0:
			b.WriteString(p.lit)
		case p.group < len(groups):
			b.WriteString(groups[p.group])
		}
	}
	return b.String()
}

// Each calls f for every part in order: a literal (group -1) or a group
// reference.
func (t Template) Each(f func(lit string, group int)) {
	for _, p := range t.parts {
		f(p.lit, p.group)
	}
}
