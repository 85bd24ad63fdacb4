package access

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// linear is the reference: the first matching prefix.
func linear(entries []entry, addr netip.Addr) (allow, found bool) {
	addr = addr.Unmap()
	for _, e := range entries {
		if e.p.Contains(addr) {
			return e.allow, true
		}
	}
	return false, false
}

type entry struct {
	p     netip.Prefix
	allow bool
}

func TestTrieFirstMatchWins(t *testing.T) {
	var tr Trie
	for _, e := range []struct {
		p     string
		allow bool
	}{{"10.1.2.3/32", true}, {"10.1.0.0/16", false}, {"10.0.0.0/8", true}, {"192.0.2.0/24", true}, {"192.0.2.7/32", false},
		{"0.0.0.0/0", false}, {"2001:db8:1::/48", true}, {"2001:db8::/32", false}, {"10.1.0.0/16", true}} {
		tr.Insert(netip.MustParsePrefix(e.p), e.allow)
	}
	for addr, want := range map[string][2]bool{
		"198.51.100.1": {false, true}, "10.9.9.9": {true, true}, "10.1.9.9": {false, true}, "10.1.2.3": {true, true},
		"::ffff:10.9.9.9": {true, true}, "2001:db8::1": {false, true}, "2001:db8:1::1": {true, true}, "2001:dead::1": {false, false},
		// A broader entry written first decides over a narrower one after it.
		"192.0.2.7": {true, true},
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
