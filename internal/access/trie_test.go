package access

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// linear is the reference: the most specific matching prefix, deny on a
// tie.
func linear(entries []entry, addr netip.Addr) (allow, found bool) {
	addr = addr.Unmap()
	best := -1
	for _, e := range entries {
		if e.p.Contains(addr) {
			if e.p.Bits() > best || (e.p.Bits() == best && !e.allow) {
				if e.p.Bits() > best {
					allow = e.allow
				} else {
					allow = allow && e.allow
				}
				best, found = e.p.Bits(), true
			}
		}
	}
	return allow, found
}

type entry struct {
	p     netip.Prefix
	allow bool
}

func TestTrieMatchesTheMostSpecific(t *testing.T) {
	var tr Trie
	for _, e := range []struct {
		p     string
		allow bool
	}{{"0.0.0.0/0", false}, {"10.0.0.0/8", true}, {"10.1.0.0/16", false}, {"10.1.2.3/32", true}, {"2001:db8::/32", false}, {"2001:db8:1::/48", true}} {
		tr.Insert(netip.MustParsePrefix(e.p), e.allow)
	}
	for addr, want := range map[string][2]bool{
		"192.0.2.1": {false, true}, "10.9.9.9": {true, true}, "10.1.9.9": {false, true}, "10.1.2.3": {true, true},
		"::ffff:10.9.9.9": {true, true}, "2001:db8::1": {false, true}, "2001:db8:1::1": {true, true}, "2001:dead::1": {false, false},
	} {
		allow, found := tr.Lookup(netip.MustParseAddr(addr))
		if allow != want[0] || found != want[1] {
			t.Errorf("%s: allow %v found %v, want %v", addr, allow, found, want)
		}
	}
}

func FuzzTrieAgainstLinear(f *testing.F) {
	f.Add(uint64(1), uint32(0x0a000001))
	f.Fuzz(func(t *testing.T, seed uint64, probe uint32) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var tr Trie
		var entries []entry
		for range rng.IntN(40) + 1 {
			a := netip.AddrFrom4([4]byte{byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			p := netip.PrefixFrom(a, rng.IntN(33)).Masked()
			allow := rng.IntN(2) == 0
			tr.Insert(p, allow)
			entries = append(entries, entry{p, allow})
		}
		for i := range 50 {
			addr := netip.AddrFrom4([4]byte{byte(probe >> 24 % 4), byte(probe >> 16), byte(probe>>8) ^ byte(i), byte(probe) + byte(i)})
			ga, gf := tr.Lookup(addr)
			wa, wf := linear(entries, addr)
			if ga != wa || gf != wf {
				t.Fatalf("%s: trie %v/%v, linear %v/%v (entries %v)", addr, ga, gf, wa, wf, entries)
			}
		}
	})
}
