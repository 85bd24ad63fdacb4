package quicsteer

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
)

// route says where the program should send a datagram (0: the socket of
// the process whose tag it is, 1: the successor's), written plainly.
func route(p []byte, tag Tag) int {
	if len(p) < 1 {
		return ownSocket
	}
	if p[0]&longHeaderBit == 0 {
		if len(p) < 2 || p[1] == byte(tag) {
			return ownSocket
		}
		return successorsSocket
	}
	if len(p) < 5 {
		return ownSocket
	}
	version, kind := binary.BigEndian.Uint32(p[1:5]), p[0]&longTypeBits
	if version == version1 && kind == initialTypeV1 || version == version2 && kind == initialTypeV2 {
		return successorsSocket
	}
	if len(p) < 6 {
		return ownSocket
	}
	if p[5] == 0 {
		return successorsSocket
	}
	if len(p) < 7 || p[6] == byte(tag) {
		return ownSocket
	}
	return successorsSocket
}

// FuzzProgram checks the steering program, run as the kernel runs it,
// against route on any datagram.
func FuzzProgram(f *testing.F) {
	f.Add([]byte{0x40, 7, 1, 2}, byte(7))
	f.Add(longHeader(0xc0, version1, 7), byte(7))
	f.Add(longHeader(0xe0, version1, 7), byte(7))
	f.Add(longHeader(0xd0, version2, 9), byte(7))
	f.Add([]byte{0xc0, 0, 0, 0, 1, 0}, byte(3))
	f.Fuzz(func(t *testing.T, p []byte, tag byte) {
		raw, err := program(Tag(tag))
		if err != nil {
			t.Fatal(err)
		}
		insns, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatal("the program does not disassemble")
		}
		vm, err := bpf.NewVM(insns)
		if err != nil {
			t.Fatal(err)
		}
		got, err := vm.Run(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := route(p, Tag(tag)); got != want {
			t.Fatalf("datagram %x, tag %d: the program says %d, want %d", p, tag, got, want)
		}
	})
}
