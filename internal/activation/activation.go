// Package activation takes the listening sockets systemd passes a service
// (socket activation: $LISTEN_PID, $LISTEN_FDS and $LISTEN_FDNAMES, the
// sockets from descriptor 3 on), so that the service serves on sockets it
// did not bind: ports below 1024 without privileges, and connections that
// queue while the service starts or restarts. A Gatehouse process that
// hands over to a new binary passes its sockets the same way
// ($GATEHOUSE_LISTEN_FDS).
package activation

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// firstFD is the first descriptor systemd passes.
const firstFD = 3

// Sockets are the sockets passed and not yet taken. The zero value and
// nil hold none.
type Sockets struct {
	mu      sync.Mutex
	streams []net.Listener
	packets []net.PacketConn
}

// UpgradeEnv names the count of sockets a Gatehouse process passes the
// binary that replaces it (a zero-downtime upgrade), from descriptor 3 on
// like systemd's; UpgradeNamesEnv their names, colon-separated.
const (
	UpgradeEnv      = "GATEHOUSE_LISTEN_FDS"
	UpgradeNamesEnv = "GATEHOUSE_LISTEN_FDNAMES"
)

// FromEnv takes the sockets passed to this process, by systemd
// ($LISTEN_FDS, when $LISTEN_PID names this process) or by the Gatehouse
// process it replaces ($GATEHOUSE_LISTEN_FDS), and clears the variables,
// so that no child takes them too. It returns nil, nil when none were
// passed.
func FromEnv() (*Sockets, error) {
	pid, count, names := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES")
	upgrade, upgradeNames := os.Getenv(UpgradeEnv), os.Getenv(UpgradeNamesEnv)
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", UpgradeEnv, UpgradeNamesEnv} {
		_ = os.Unsetenv(v)
	}
	switch {
	case pid != "" && pid == strconv.Itoa(os.Getpid()):
		return take(count, names)
	case upgrade != "":
		return take(upgrade, upgradeNames)
	}
	return nil, nil
}

// take takes count sockets from descriptor 3 on.
func take(count, names string) (*Sockets, error) {
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%q passed sockets: not a count", count)
	}
	nameList := strings.Split(names, ":")
	s := &Sockets{}
	for i := range n {
		fd := firstFD + i
		name := "LISTEN_FD_" + strconv.Itoa(fd)
		if i < len(nameList) && nameList[i] != "" {
			name = nameList[i]
		}
		syscall.CloseOnExec(fd)
		if err := s.add(fd, name); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// add takes descriptor fd: a listening stream socket or a datagram one.
func (s *Sockets) add(fd int, name string) error {
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	if err != nil {
		return fmt.Errorf("socket %s (descriptor %d) passed by systemd: %w", name, fd, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close() // the listener holds a duplicate
	switch typ {
	case syscall.SOCK_STREAM:
		ln, err := net.FileListener(f)
		if err != nil {
			return fmt.Errorf("socket %s passed by systemd: %w", name, err)
		}
		s.streams = append(s.streams, ln)
	case syscall.SOCK_DGRAM:
		pc, err := net.FilePacketConn(f)
		if err != nil {
			return fmt.Errorf("socket %s passed by systemd: %w", name, err)
		}
		s.packets = append(s.packets, pc)
	default:
		return fmt.Errorf("socket %s passed by systemd is neither a stream nor a datagram socket", name)
	}
	return nil
}

// Listener takes the passed stream socket bound to address (network
// "tcp" or "unix"), if there is one.
func (s *Sockets) Listener(network, address string) (net.Listener, bool) {
	if s == nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ln := range s.streams {
		if ln.Addr().Network() == network && matches(ln.Addr(), address) {
			s.streams = append(s.streams[:i], s.streams[i+1:]...)
			return ln, true
		}
	}
	return nil, false
}

// PacketConn takes the passed UDP socket bound to address, if any.
func (s *Sockets) PacketConn(address string) (net.PacketConn, bool) {
	if s == nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, pc := range s.packets {
		if matches(pc.LocalAddr(), address) {
			s.packets = append(s.packets[:i], s.packets[i+1:]...)
			return pc, true
		}
	}
	return nil, false
}

// Left are the addresses of the sockets not taken.
func (s *Sockets) Left() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ln := range s.streams {
		out = append(out, ln.Addr().Network()+" "+ln.Addr().String())
	}
	for _, pc := range s.packets {
		out = append(out, pc.LocalAddr().Network()+" "+pc.LocalAddr().String())
	}
	return out
}

// Close closes the sockets not taken.
func (s *Sockets) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ln := range s.streams {
		_ = ln.Close()
	}
	for _, pc := range s.packets {
		_ = pc.Close()
	}
	s.streams, s.packets = nil, nil
}

// matches reports whether a socket bound to bound serves the listen
// address address: the same unix path; or the same port and either the
// same IP, or an address for every interface on both sides (":8080" and
// "0.0.0.0:8080" match a socket on "[::]:8080" or "0.0.0.0:8080").
func matches(bound net.Addr, address string) bool {
	if u, ok := bound.(*net.UnixAddr); ok {
		return u.Name == address
	}
	var ap netip.AddrPort
	switch a := bound.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		return false
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil || port != strconv.Itoa(int(ap.Port())) {
		return false
	}
	ip := ap.Addr().Unmap()
	if host == "" {
		return ip.IsUnspecified()
	}
	want, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	if want.IsUnspecified() {
		return ip.IsUnspecified()
	}
	return want.Unmap() == ip
}
