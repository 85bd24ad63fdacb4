package route

import "fmt"

// Table maps request paths to values: exact paths by map, regexes in the
// order added, prefixes through a radix tree.
type Table[T any] struct {
	exact  map[string]T
	regex  []regexEntry[T]
	prefix radix[T]
}

type regexEntry[T any] struct {
	p Pattern
	v T
}

// NewTable returns an empty table.
func NewTable[T any]() *Table[T] {
	return &Table[T]{exact: map[string]T{}}
}

// Add registers v under p. Adding the same exact path or prefix twice is an
// error.
func (t *Table[T]) Add(p Pattern, v T) error {
	switch p.Kind {
	case Exact:
		if _, dup := t.exact[p.Path]; dup {
			return fmt.Errorf("exact path %q is already routed", p.Path)
		}
		t.exact[p.Path] = v
	case Regex:
		t.regex = append(t.regex, regexEntry[T]{p, v})
	default:
		if !t.prefix.insert(p.Path, v) {
			return fmt.Errorf("prefix %q is already routed", p.Path)
		}
	}
	return nil
}

// Match finds the value for path. For regex matches it also returns the
// submatches (index 0 is the whole match), for use as $1, $2... .
func (t *Table[T]) Match(path string) (v T, captures []string, ok bool) {
	if v, ok := t.exact[path]; ok {
		return v, nil, true
	}
	for _, e := range t.regex {
		if m := e.p.Regexp.FindStringSubmatch(path); m != nil {
			return e.v, m, true
		}
	}
	v, ok = t.prefix.longest(path)
	return v, nil, ok
}
