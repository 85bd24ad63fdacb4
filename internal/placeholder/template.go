package placeholder

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/tmpl"
)

// Template is a redirect target: literal text with placeholders
// ({host}, {uri}...) and the route regex's groups ($1, ${2}). A group's
// or a placeholder's value is written as it is, never read again as a
// template.
type Template struct {
	parts []templatePart
	// fixed: no placeholder and no group, the same for every request.
	fixed bool
}

type templatePart struct {
	value Value
	group int // -1: value
}

// ParseTemplate parses s: groups as in rewrites, placeholders as in
// header values.
func ParseTemplate(s string) (Template, error) {
	t, err := tmpl.Parse(s)
	if err != nil {
		return Template{}, err
	}
	out := Template{fixed: true}
	t.Each(func(lit string, group int) {
		if err != nil {
			return
		}
		if group >= 0 {
			out.parts = append(out.parts, templatePart{group: group})
			out.fixed = false
			return
		}
		var v Value
		if v, err = Parse(lit); err == nil {
			out.parts = append(out.parts, templatePart{value: v, group: -1})
			out.fixed = out.fixed && len(v.funcs) == 0
		}
	})
	return out, err
}

// MaxGroup is the highest group the template refers to.
func (t Template) MaxGroup() int {
	n := 0
	for _, p := range t.parts {
		n = max(n, p.group)
	}
	return n
}

// Fixed reports whether the template renders the same for every request.
func (t Template) Fixed() bool { return t.fixed }

// Render fills the template in for one request, with the route regex's
// groups (index 0 the whole match).
func (t Template) Render(r *http.Request, info *reqinfo.Info, groups []string) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch {
		case p.group < 0:
			b.WriteString(p.value.Render(r, info))
		case p.group < len(groups):
			b.WriteString(groups[p.group])
		}
	}
	return b.String()
}
