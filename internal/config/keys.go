package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// findUnknownKeys walks the document alongside the Go type it decodes into
// and reports every mapping key that has no field, with a suggestion when a
// known key is close. It reports all of them, where the decoder stops at the
// first.
func findUnknownKeys(node ast.Node, t reflect.Type, at keyPath, report func(ast.Node, keyPath, string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	node = unwrap(node)
	switch t.Kind() {
	case reflect.Struct:
		m, ok := node.(*ast.MappingNode)
		if !ok {
			return
		}
		fields := yamlFields(t)
		for _, kv := range m.Values {
			name := scalarString(kv.Key)
			f, ok := fields[name]
			if !ok {
				msg := fmt.Sprintf("unknown key %q", name)
				if s := closest(name, mapKeys(fields)); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				report(kv.Key, at.key(name), msg)
				continue
			}
			findUnknownKeys(kv.Value, f.Type, at.key(name), report)
		}
	case reflect.Map:
		m, ok := node.(*ast.MappingNode)
		if !ok {
			return
		}
		for _, kv := range m.Values {
			name := scalarString(kv.Key)
			findUnknownKeys(kv.Value, t.Elem(), at.key(name), report)
		}
	case reflect.Slice:
		s, ok := node.(*ast.SequenceNode)
		if !ok {
			// A list may be written as its one element (rate_limit).
			if _, isMap := node.(*ast.MappingNode); isMap {
				findUnknownKeys(node, t.Elem(), at, report)
			}
			return
		}
		for i, v := range s.Values {
			findUnknownKeys(v, t.Elem(), at.idx(i), report)
		}
	}
}

// unwrap skips tags and anchors to reach the node that carries the value.
func unwrap(node ast.Node) ast.Node {
	for {
		switch n := node.(type) {
		case *ast.TagNode:
			node = n.Value
		case *ast.AnchorNode:
			node = n.Value
		default:
			return node
		}
	}
}

// yamlFields maps each YAML key of a struct to its field.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := make(map[string]reflect.StructField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

// closest returns the candidate nearest to name, or "" when none is close.
func closest(name string, candidates []string) string {
	best, bestDist := "", len(name)/2+2
	for _, k := range candidates {
		if d := editDistance(strings.ToLower(name), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// mapKeys returns the keys of m, sorted.
func mapKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
