package quicsteer

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// QUIC versions whose Initial packets the program recognizes (RFC 9000,
// RFC 9369) and the long header's type bits for Initial in each.
const (
	version1         = 0x00000001
	version2         = 0x6b3343cf
	initialTypeV1    = 0x00
	initialTypeV2    = 0x10
	longHeaderBit    = 0x80
	longTypeBits     = 0x30
	longDCIDLenAt    = 5
	longDCIDAt       = 6
	shortDCIDAt      = 1
	ownSocket        = 0
	successorsSocket = 1
)

// program returns the reuseport program of a process whose socket is the
// first of its group (index 0) and whose connection IDs start with tag:
// a datagram whose destination connection ID starts with tag goes to
// index 0, any other, and every Initial packet (whose connection ID the
// client chose), to index 1, the successor's socket. Without a successor
// index 1 does not exist and the kernel falls back to its hash, over the
// one socket. The program sees the UDP payload from offset 0; a load past
// its end returns 0, the own socket.
func program(tag Tag) ([]bpf.RawInstruction, error) {
	t := uint32(tag)
	return bpf.Assemble([]bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 0, Size: 1},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: longHeaderBit, SkipTrue: 0, SkipFalse: 13}, // → 15
		// Long header: Initial packets go to the successor.
		/* 2 */ bpf.LoadAbsolute{Off: 1, Size: 4},
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: version1, SkipTrue: 0, SkipFalse: 3}, // → 7
		/* 4 */ bpf.LoadAbsolute{Off: 0, Size: 1},
		/* 5 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: longTypeBits},
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: initialTypeV1, SkipTrue: 11, SkipFalse: 4}, // → 18, 11
		/* 7 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: version2, SkipTrue: 0, SkipFalse: 3}, // → 11
		/* 8 */ bpf.LoadAbsolute{Off: 0, Size: 1},
		/* 9 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: longTypeBits},
		/* 10 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: initialTypeV2, SkipTrue: 7, SkipFalse: 0}, // → 18, 11
		// Other long headers: by the destination connection ID.
		/* 11 */ bpf.LoadAbsolute{Off: longDCIDLenAt, Size: 1},
		/* 12 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 5, SkipFalse: 0}, // → 18
		/* 13 */ bpf.LoadAbsolute{Off: longDCIDAt, Size: 1},
		/* 14 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: t, SkipTrue: 2, SkipFalse: 3}, // → 17, 18
		// Short header: the connection ID follows the first byte.
		/* 15 */ bpf.LoadAbsolute{Off: shortDCIDAt, Size: 1},
		/* 16 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: t, SkipTrue: 0, SkipFalse: 1}, // → 17, 18
		/* 17 */ bpf.RetConstant{Val: ownSocket},
		/* 18 */ bpf.RetConstant{Val: successorsSocket},
	})
}

// Steer attaches to conn's reuseport group the program that keeps
// datagrams for connection IDs starting with tag on conn and sends every
// other to the socket a successor binds next. conn must be the first
// socket of its group: a process steers only while no predecessor's
// socket is left.
func Steer(conn net.PacketConn, tag Tag) error {
	raw, err := program(tag)
	if err != nil {
		return fmt.Errorf("assemble the steering program: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, in := range raw {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: unsafe.SliceData(filter)}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return fmt.Errorf("steer HTTP/3: %T has no descriptor", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &prog)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("attach the steering program to %s: %w", conn.LocalAddr(), serr)
	}
	return nil
}
