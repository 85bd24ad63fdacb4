package reqinfo

import (
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	tr := NewTrust([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}, false)
	cases := []struct {
		peer    string
		xff     []string
		want    string
		trusted bool
	}{
		{"203.0.113.5", []string{"1.1.1.1"}, "203.0.113.5", false},
		{"10.1.2.3", nil, "10.1.2.3", true},
		{"10.1.2.3", []string{"1.1.1.1"}, "1.1.1.1", true},
		{"10.1.2.3", []string{"6.6.6.6, 1.1.1.1, 10.9.9.9"}, "1.1.1.1", true},
		{"10.1.2.3", []string{"6.6.6.6", "192.0.2.1"}, "6.6.6.6", true},
		{"10.1.2.3", []string{"garbage, 10.9.9.9"}, "10.9.9.9", true},
		{"::ffff:10.1.2.3", []string{"2001:db8::1"}, "2001:db8::1", true},
	}
	for _, c := range cases {
		got, trusted := tr.ClientIP(netip.MustParseAddr(c.peer), c.xff)
		if got.String() != c.want || trusted != c.trusted {
			t.Errorf("peer %s xff %q: got %s %v, want %s %v", c.peer, c.xff, got, trusted, c.want, c.trusted)
		}
	}
}

// Peers on unix sockets (the zero Addr) are trusted only when "unix:"
// is listed.
func TestUnixPeers(t *testing.T) {
	xff := []string{"198.51.100.7"}
	if got, trusted := NewTrust(nil, false).ClientIP(netip.Addr{}, xff); trusted || got.IsValid() {
		t.Errorf("untrusted unix peer: got %v %v", got, trusted)
	}
	if got, trusted := NewTrust(nil, true).ClientIP(netip.Addr{}, xff); !trusted || got.String() != "198.51.100.7" {
		t.Errorf("trusted unix peer: got %v %v", got, trusted)
	}
}

func TestValidID(t *testing.T) {
	for _, ok := range []string{"abc-123", "a.b_c:d=e", NewID()} {
		if !ValidID(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a\nb", "<script>", string(make([]byte, 129))} {
		if ValidID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
