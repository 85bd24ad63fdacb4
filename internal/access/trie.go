// Package access allows and denies requests by client address: allow and
// deny lists of CIDRs (inline, or from a file reloaded on change), matched
// in constant time per request by a binary prefix trie, the first entry
// (in the order written) that holds the address deciding.
package access

import (
	"net/netip"
)

// Trie maps prefixes to a verdict (allow or deny) and the order they were
// inserted in; Lookup finds the first inserted prefix holding an address
// in at most 32 (IPv4) or 128 (IPv6) steps, whatever the number of
// prefixes: the prefixes holding an address all lie on its path from the
// root.
type Trie struct {
	v4, v6 *node
	size   int
}

type node struct {
	child [2]*node
	set   bool
	allow bool
	// rank is the prefix's place in the order of insertion.
	rank int
}

// Insert adds p with its verdict, after every prefix inserted before; a
// prefix given twice keeps its first verdict.
func (t *Trie) Insert(p netip.Prefix, allow bool) {
	p = p.Masked()
	addr := p.Addr()
	root := &t.v6
	if addr.Is4() {
		root = &t.v4
	}
	if *root == nil {
		*root = &node{}
	}
	n := *root
	b := addr.AsSlice()
	for i := 0; i < p.Bits(); i++ {
		bit := b[i/8] >> (7 - i%8) & 1
		if n.child[bit] == nil {
			n.child[bit] = &node{}
		}
		n = n.child[bit]
	}
	if !n.set {
		n.set, n.allow, n.rank = true, allow, t.size
		t.size++
	}
}

// Len is how many distinct prefixes the trie holds.
func (t *Trie) Len() int { return t.size }

// Lookup returns the verdict of the first inserted prefix holding addr,
// and whether any does. IPv4-mapped IPv6 addresses match as IPv4.
func (t *Trie) Lookup(addr netip.Addr) (allow, found bool) {
	addr = addr.Unmap()
	n := t.v6
	if addr.Is4() {
		n = t.v4
	}
	if n == nil {
		return false, false
	}
	var b [16]byte
	bits := 128
	if addr.Is4() {
		a := addr.As4()
		copy(b[:], a[:])
		bits = 32
	} else {
		b = addr.As16()
	}
	rank := -1
	for i := 0; ; i++ {
		if n.set && (rank < 0 || n.rank < rank) {
			allow, found, rank = n.allow, true, n.rank
		}
		if i == bits {
			return allow, found
		}
		n = n.child[b[i/8]>>(7-i%8)&1]
		if n == nil {
			return allow, found
		}
	}
}
