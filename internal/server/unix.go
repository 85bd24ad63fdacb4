package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/internal/activation"
	"github.com/gatehouse/gatehouse/internal/site"
)

// listen opens a listener's socket: the one systemd passed for its
// address if any (socket activation; inherited reports it), else TCP, or a
// unix socket created with the listener's mode. The file of a unix socket
// left behind by a process that is gone is replaced; one another process
// still listens on is not.
func listen(spec site.Listener, passed *activation.Sockets) (ln net.Listener, inherited bool, err error) {
	network := "tcp"
	if spec.Network == "unix" {
		network = "unix"
	}
	if ln, ok := passed.Listener(network, spec.Address); ok {
		return ln, true, nil
	}
	ln, err = listenOwn(spec)
	return ln, false, err
}

// listenOwn binds a listener's socket.
func listenOwn(spec site.Listener) (net.Listener, error) {
	if spec.Network != "unix" {
		return net.Listen("tcp", spec.Address)
	}
	path := spec.Address
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The socket is created with the umask's bits (no one else may
	// write, so connect, under the usual 022) and then given its mode.
	if err := os.Chmod(path, spec.UnixMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("set the mode of %s: %w", path, err)
	}
	return ln, nil
}

// removeStaleSocket removes the socket file at path when nothing listens
// on it any more.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another process listens on %s", path)
	}
	return os.Remove(path)
}
