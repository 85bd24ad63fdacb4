package route

// radix is a compressed prefix tree answering "which stored key is the
// longest prefix of this path" in one walk down the path.
type radix[T any] struct {
	root radixNode[T]
}

type radixNode[T any] struct {
	edges []radixEdge[T]
	has   bool
	val   T
}

type radixEdge[T any] struct {
	label string
	child *radixNode[T]
}

// insert stores v under key; it reports false when key was already present.
func (r *radix[T]) insert(key string, v T) bool {
	n := &r.root
	for {
		if key == "" {
			if n.has {
				return false
			}
			n.has, n.val = true, v
			return true
		}
		i := n.edgeFor(key[0])
		if i < 0 {
			n.edges = append(n.edges, radixEdge[T]{label: key, child: &radixNode[T]{has: true, val: v}})
			return true
		}
		e := &n.edges[i]
		common := commonPrefix(e.label, key)
		if common < len(e.label) {
			// Split the edge at the common prefix.
			mid := &radixNode[T]{edges: []radixEdge[T]{{label: e.label[common:], child: e.child}}}
			e.label, e.child = e.label[:common], mid
		}
		n, key = e.child, key[common:]
	}
}

// longest returns the value of the longest stored key that prefixes path.
func (r *radix[T]) longest(path string) (v T, ok bool) {
	n := &r.root
	for {
		if n.has {
			v, ok = n.val, true
		}
		if path == "" {
			return v, ok
		}
		i := n.edgeFor(path[0])
		if i < 0 {
			return v, ok
		}
		e := n.edges[i]
		if len(path) < len(e.label) || path[:len(e.label)] != e.label {
			return v, ok
		}
		n, path = e.child, path[len(e.label):]
	}
}

func (n *radixNode[T]) edgeFor(b byte) int {
	for i := range n.edges {
		if n.edges[i].label[0] == b {
			return i
		}
	}
	return -1
}

func commonPrefix(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}
