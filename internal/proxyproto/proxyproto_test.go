package proxyproto

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"strings"
	"testing"
)

func v2(cmd, fam byte, body []byte) []byte {
	b := append([]byte{}, v2sig...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func TestRead(t *testing.T) {
	v4body := []byte{192, 0, 2, 1, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb}
	v6body := append(append(netip.MustParseAddr("2001:db8::1").AsSlice(), netip.MustParseAddr("2001:db8::2").AsSlice()...), 0x30, 0x39, 0x00, 0x50)
	for _, c := range []struct {
		name, in, want string
		local          bool
	}{
		{"v1 tcp4", "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n", "192.0.2.1:56324", false},
		{"v1 tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 12345 80\r\nrest", "[2001:db8::1]:12345", false},
		{"v1 unknown", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest", "", true},
		{"v2 tcp4", string(v2(1, 0x11, v4body)) + "GET / HTTP/1.1\r\n", "192.0.2.1:56324", false},
		{"v2 tcp4 with a TLV", string(v2(1, 0x11, append(v4body, 0x04, 0, 1, 'x'))) + "rest", "192.0.2.1:56324", false},
		{"v2 tcp6", string(v2(1, 0x21, v6body)) + "rest", "[2001:db8::1]:12345", false},
		{"v2 local", string(v2(0, 0x00, nil)) + "rest", "", true},
	} {
		r := strings.NewReader(c.in)
		h, err := Read(r)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if h.Local != c.local || (!c.local && h.Source.String() != c.want) {
			t.Errorf("%s: %+v, want source %s local %v", c.name, h, c.want, c.local)
		}
		// Exactly the header is read: the connection's data is left.
		if rest, _ := io.ReadAll(r); string(rest) != "rest" && string(rest) != "GET / HTTP/1.1\r\n" {
			t.Errorf("%s: left %q", c.name, rest)
		}
	}
}

func TestReadRefuses(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\n",
		"PROXY TCP4 192.0.2.1 198.51.100.1 056324 443\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.1 65536 443\r\n",
		"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.1 1\r\n",
		"PROXY TCP5 192.0.2.1 198.51.100.1 1 2\r\n",
		"PROXY TCP4 192.0.2.1  198.51.100.1 1 2\r\n",
		"PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n",
		"PROXY TCP4 192.0.2.1",
		string(v2(1, 0x11, []byte{1, 2, 3})),
		string(v2(1, 0x21, make([]byte, 20))),
		string(v2(2, 0x11, make([]byte, 12))),
		string(v2(1, 0x31, make([]byte, 216))),
		string(append(append([]byte{}, v2sig...), 0x10, 0x11, 0, 12)),
		string(append(append([]byte{}, v2sig...), 0x21, 0x11, 0xff, 0xff)),
		string(v2(1, 0x11, make([]byte, 12)))[:20],
	} {
		if h, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("accepted %q: %+v", in, h)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET"))
	f.Add(v2(1, 0x11, []byte{192, 0, 2, 1, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb}))
	f.Add(v2(1, 0x21, make([]byte, 36)))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		h, err := Read(r)
		if err != nil {
			return
		}
		consumed := len(in) - r.Len()
		if consumed > v1Max && !bytes.HasPrefix(in, v2sig) {
			t.Fatalf("v1 header of %d bytes accepted", consumed)
		}
		if !h.Local && (!h.Source.IsValid() || !h.Dest.IsValid()) {
			t.Fatalf("a PROXY header without valid addresses: %+v", h)
		}
		// A v1 header read again from its own bytes says the same.
		if bytes.HasPrefix(in, []byte("PROXY ")) {
			h2, err := Read(bytes.NewReader(in[:consumed]))
			if err != nil || h2 != h {
				t.Fatalf("re-read differs: %+v %v", h2, err)
			}
		}
	})
}
