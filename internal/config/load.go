package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Load reads, decodes, defaults and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes, defaults and validates a config document. file names the
// source in error messages and anchors relative paths ("" means the working
// directory).
func Parse(data []byte, file string) (*Config, error) {
	l := loader{file: file}
	cfg, decoded := l.decode(data)
	if !decoded {
		return nil, l.problems
	}
	cfg.File = file
	cfg.Dir = "."
	if file != "" {
		cfg.Dir = filepath.Dir(file)
	}
	applyDefaults(cfg)
	validate(cfg, l.reportAt)
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	return cfg, nil
}

// loader collects problems while decoding one document.
type loader struct {
	file     string
	body     ast.Node
	problems Problems
}

// decode parses the document into a Config. It reports false when the
// result is unusable for further validation (syntax or type errors); unknown
// keys are reported but do not stop validation.
func (l *loader) decode(data []byte) (*Config, bool) {
	cfg := &Config{}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		l.reportErr(err)
		return cfg, false
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		l.problems = append(l.problems, Problem{File: l.file, Line: 1, Column: 1, Message: "the config is empty: it needs at least one site"})
		return cfg, false
	}
	if len(f.Docs) > 1 {
		l.report(f.Docs[1].Body, nil, "only one YAML document is allowed")
	}
	l.body = f.Docs[0].Body
	if _, ok := unwrap(l.body).(*ast.MappingNode); !ok {
		l.report(l.body, nil, "the config must be a mapping of keys (admin, upstreams, sites, ...)")
		return cfg, false
	}
	if tags := ast.Filter(ast.TagType, l.body); len(tags) > 0 {
		for _, tag := range tags {
			l.report(tag, locate(l.body, tag.GetToken(), nil), "YAML tags (!...) are not used in Gatehouse configs")
		}
		return cfg, false
	}
	findUnknownKeys(l.body, reflect.TypeOf(Config{}), nil, l.report)
	if err := decodeNode(l.body, cfg); err != nil {
		l.reportErr(err)
		return cfg, false
	}
	return cfg, true
}

// decodeNode runs the YAML decoder, turning a panic inside it (seen on some
// malformed documents) into an error.
func decodeNode(node ast.Node, cfg *Config) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &nodeError{node, fmt.Sprintf("the document has a structure Gatehouse cannot read (%v)", p)}
		}
	}()
	return yaml.NodeToValue(node, cfg)
}

// report records a problem at node's position.
func (l *loader) report(node ast.Node, at keyPath, msg string) {
	p := Problem{File: l.file, Key: at.String(), Message: msg}
	if node != nil {
		if tk := node.GetToken(); tk != nil {
			p.Line, p.Column = tk.Position.Line, tk.Position.Column
		}
	}
	l.problems = append(l.problems, p)
}

// reportAt records a problem at the node addressed by at, or at the nearest
// ancestor that exists.
func (l *loader) reportAt(at keyPath, msg string) {
	l.report(lookup(l.body, at), at, msg)
}

// reportErr converts a decoder error into a located problem.
func (l *loader) reportErr(err error) {
	var ne *nodeError
	if errors.As(err, &ne) {
		l.report(ne.node, locate(l.body, ne.node.GetToken(), nil), ne.msg)
		return
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		p := Problem{File: l.file, Message: ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil {
			p.Line, p.Column = tk.Position.Line, tk.Position.Column
			p.Key = locate(l.body, tk, nil).String()
		}
		l.problems = append(l.problems, p)
		return
	}
	l.problems = append(l.problems, Problem{File: l.file, Message: err.Error()})
}

// lookup finds the node addressed by at. For a mapping key it returns the
// key node, so that the position names the key; when part of the path is
// missing it returns the deepest node found.
func lookup(node ast.Node, at keyPath) ast.Node {
	cur := node
	for i, e := range at {
		last := i == len(at)-1
		switch v := e.(type) {
		case string:
			m, ok := unwrap(cur).(*ast.MappingNode)
			if !ok {
				return cur
			}
			var next ast.Node
			for _, kv := range m.Values {
				if scalarString(kv.Key) == v {
					if last {
						return kv.Key
					}
					next = kv.Value
					break
				}
			}
			if next == nil {
				return cur
			}
			cur = next
		case int:
			s, ok := unwrap(cur).(*ast.SequenceNode)
			if !ok || v >= len(s.Values) {
				return cur
			}
			cur = s.Values[v]
		}
	}
	return cur
}

// locate returns the path of the node that carries tok (nil when absent).
func locate(node ast.Node, tok *token.Token, at keyPath) keyPath {
	if node == nil || tok == nil {
		return nil
	}
	if node.GetToken() == tok {
		return at
	}
	switch n := unwrap(node).(type) {
	case *ast.MappingNode:
		for _, kv := range n.Values {
			k := at.key(scalarString(kv.Key))
			if kv.Key.GetToken() == tok {
				return k
			}
			if p := locate(kv.Value, tok, k); p != nil {
				return p
			}
		}
	case *ast.SequenceNode:
		for i, v := range n.Values {
			if p := locate(v, tok, at.idx(i)); p != nil {
				return p
			}
		}
	}
	return nil
}

// Finish applies defaults to a config built in code (quick mode) and
// validates it like a file.
func Finish(c *Config) (*Config, error) {
	l := loader{file: c.File}
	if c.Dir == "" {
		c.Dir = "."
	}
	applyDefaults(c)
	validate(c, l.reportAt)
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	return c, nil
}
