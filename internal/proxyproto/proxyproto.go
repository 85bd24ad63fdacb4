// Package proxyproto reads the PROXY protocol header (versions 1 and 2,
// haproxy.org/download/2.9/doc/proxy-protocol.txt) that a load balancer
// puts in front of a connection to say which client it carries. The
// parser is strict: anything but a well-formed header is an error, and
// it reads exactly the header's bytes, never past them, so that the
// connection's own data is left for the server.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Header is what a PROXY header says.
type Header struct {
	// Local is set for a connection the balancer made itself (v2 LOCAL,
	// v1 UNKNOWN): no client address; the peer's own applies.
	Local bool
	// Source is the client, Dest the address it connected to.
	Source, Dest netip.AddrPort
}

// ErrNotProxy reports a connection that does not start with a PROXY
// header.
var ErrNotProxy = errors.New("no PROXY protocol header")

// v2sig is the version 2 signature.
var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// v1Max is the longest version 1 header, CRLF included.
const v1Max = 107

// maxV2 bounds a version 2 header's address and TLV part.
const maxV2 = 4096

// Read reads one header from r, exactly its bytes.
func Read(r io.Reader) (Header, error) {
	var start [12]byte
	if _, err := io.ReadFull(r, start[:]); err != nil {
		return Header{}, fmt.Errorf("read PROXY header: %w", err)
	}
	switch {
	case bytes.Equal(start[:], v2sig):
		return readV2(r)
	case bytes.HasPrefix(start[:], []byte("PROXY ")):
		return readV1(r, start[:])
	}
	return Header{}, ErrNotProxy
}

// readV1 reads the rest of a version 1 line, byte by byte up to CRLF.
func readV1(r io.Reader, start []byte) (Header, error) {
	line := append(make([]byte, 0, v1Max), start...)
	var b [1]byte
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) >= v1Max {
			return Header{}, errors.New("PROXY v1 header too long")
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return Header{}, fmt.Errorf("read PROXY v1 header: %w", err)
		}
		if b[0] == '\n' && line[len(line)-1] != '\r' {
			return Header{}, errors.New("PROXY v1 header: LF without CR")
		}
		line = append(line, b[0])
	}
	return parseV1(string(line[:len(line)-2]))
}

func parseV1(line string) (Header, error) {
	f := strings.Split(line, " ")
	if len(f) < 2 || f[0] != "PROXY" {
		return Header{}, errors.New("malformed PROXY v1 header")
	}
	switch f[1] {
	case "UNKNOWN":
		return Header{Local: true}, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, fmt.Errorf("PROXY v1: unknown protocol %q", f[1])
	}
	if len(f) != 6 {
		return Header{}, errors.New("PROXY v1: want PROXY TCPn SRC DST SPORT DPORT")
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sp, err3 := parsePort(f[4])
	dp, err4 := parsePort(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Header{}, fmt.Errorf("PROXY v1: %w", err)
	}
	if want4 := f[1] == "TCP4"; src.Is4() != want4 || dst.Is4() != want4 || src.Zone() != "" || dst.Zone() != "" {
		return Header{}, fmt.Errorf("PROXY v1: addresses do not match %s", f[1])
	}
	return Header{Source: netip.AddrPortFrom(src, sp), Dest: netip.AddrPortFrom(dst, dp)}, nil
}

// parsePort parses a decimal port without sign or leading zeros.
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("bad port %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

// readV2 reads the rest of a version 2 header after its signature.
func readV2(r io.Reader) (Header, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Header{}, fmt.Errorf("read PROXY v2 header: %w", err)
	}
	verCmd, fam := hdr[0], hdr[1]
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if verCmd>>4 != 2 {
		return Header{}, fmt.Errorf("PROXY v2: version %d", verCmd>>4)
	}
	if n > maxV2 {
		return Header{}, fmt.Errorf("PROXY v2: %d bytes of addresses is too many", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return Header{}, fmt.Errorf("read PROXY v2 header: %w", err)
	}
	switch verCmd & 0xf {
	case 0: // LOCAL: the balancer's own connection (health checks)
		return Header{Local: true}, nil
	case 1: // PROXY
	default:
		return Header{}, fmt.Errorf("PROXY v2: command %d", verCmd&0xf)
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return Header{}, errors.New("PROXY v2: short IPv4 addresses")
		}
		src := netip.AddrFrom4([4]byte(body[0:4]))
		dst := netip.AddrFrom4([4]byte(body[4:8]))
		return Header{Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:])),
			Dest: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:]))}, nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return Header{}, errors.New("PROXY v2: short IPv6 addresses")
		}
		src := netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		dst := netip.AddrFrom16([16]byte(body[16:32])).Unmap()
		return Header{Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:])),
			Dest: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[34:]))}, nil
	case 0x00: // UNSPEC: no address to take
		return Header{Local: true}, nil
	}
	return Header{}, fmt.Errorf("PROXY v2: unsupported address family 0x%02x", fam)
}
