package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/internal/activation"
	"github.com/gatehouse/gatehouse/internal/quicsteer"
	"golang.org/x/sys/unix"
)

// readyFDEnv names the descriptor on which a process started by an
// upgrade says it serves (it writes a line, then closes it).
const readyFDEnv = "GATEHOUSE_UPGRADE_READY_FD"

// upgradeTimeout bounds how long the new process may take to serve.
const upgradeTimeout = time.Minute

// socketFile is a listening socket to hand over: its name, and a
// duplicate of its descriptor (close-on-exec; the hand-over places it).
type socketFile struct {
	name string
	fd   int
}

// dupOf duplicates the descriptor of a listener or a UDP socket. Through
// the raw connection, not File: an *os.File handed to a child is switched
// to blocking mode, and the mode belongs to the socket, so this process's
// own accept loop would then block in the kernel where closing the
// listener cannot wake it.
func dupOf(c any) (int, error) {
	var rc syscall.RawConn
	var err error
	switch c := c.(type) {
	case *net.TCPListener:
		rc, err = c.SyscallConn()
	case *net.UnixListener:
		// The old process must not remove the socket's file when it
		// closes its copy: the new one serves on it.
		c.SetUnlinkOnClose(false)
		rc, err = c.SyscallConn()
	case *net.UDPConn:
		rc, err = c.SyscallConn()
	default:
		return -1, fmt.Errorf("cannot hand over a %T", c)
	}
	if err != nil {
		return -1, err
	}
	dup := -1
	var dupErr error
	if err := rc.Control(func(fd uintptr) { dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return dup, dupErr
}

// listenerFiles duplicates every listening socket of the instance to
// hand over: each listener's, the extra listeners given (the admin API's
// and the metrics'), and the UDP socket of an HTTP/3 listener when it
// cannot be shared. A shareable UDP socket stays out: the successor binds
// its own beside it, and this one is steered to keep the datagrams of
// this process's connections (quicsteer).
func (in *Instance) listenerFiles(extra ...net.Listener) ([]socketFile, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []socketFile
	add := func(name string, c any) error {
		fd, err := dupOf(c)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, socketFile{name: name, fd: fd})
		return nil
	}
	var err error
	for addr, l := range in.listeners {
		err = errors.Join(err, add(addr, l.ln))
		if l.udp == nil {
			continue
		}
		steerErr := errors.New("a socket bound without SO_REUSEPORT")
		if quicsteer.Shareable(l.udp) {
			steerErr = quicsteer.Steer(l.udp, in.quicTag)
		}
		l.udpPassed.Store(steerErr != nil)
		if steerErr != nil {
			in.log.Warn("upgrade: HTTP/3 connections of this process will close at the hand-over", "addr", addr, "reason", steerErr)
			err = errors.Join(err, add(addr+"/udp", l.udp))
		}
	}
	for _, ln := range extra {
		if ln != nil {
			err = errors.Join(err, add(ln.Addr().String(), ln))
		}
	}
	if err != nil {
		closeFiles(out)
		return nil, err
	}
	return out, nil
}

func closeFiles(files []socketFile) {
	for _, f := range files {
		_ = syscall.Close(f.fd)
	}
}

// startSuccessor runs the binary at this process's path (which a package
// upgrade may have replaced) with the same arguments, handing it files
// as descriptors 3 on and tag for its QUIC connection IDs, and waits until it serves: it returns the new
// process's PID, or an error when it exited, or did not serve within
// upgradeTimeout (it is then killed).
func startSuccessor(files []socketFile, tag quicsteer.Tag, log *slog.Logger) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("find this binary: %w", err)
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer ready.Close()
	names := make([]string, len(files))
	fds := []uintptr{0, 1, 2}
	for i, f := range files {
		names[i] = strings.ReplaceAll(f.name, ":", "_")
		fds = append(fds, uintptr(f.fd))
	}
	fds = append(fds, readyW.Fd())
	env := append(os.Environ(),
		activation.UpgradeEnv+"="+strconv.Itoa(len(files)),
		activation.UpgradeNamesEnv+"="+strings.Join(names, ":"),
		readyFDEnv+"="+strconv.Itoa(len(fds)-1),
		tag.Env())
	// syscall, not os/exec: os/exec would take the sockets as *os.File
	// (see dupOf).
	pid, err := syscall.ForkExec(exe, append([]string{exe}, os.Args[1:]...), &syscall.ProcAttr{Env: env, Files: fds})
	readyW.Close()
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", exe, err)
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return 0, err
	}
	log.Info("upgrade: new process started", "binary", exe, "pid", pid)
	said := make(chan bool, 1)
	go func() {
		var b [16]byte
		n, _ := ready.Read(b[:])
		said <- n > 0
	}()
	exited := make(chan error, 1)
	go func() {
		state, err := proc.Wait()
		if err == nil {
			err = errors.New(state.String())
		}
		exited <- err
	}()
	select {
	case ok := <-said:
		if ok {
			return pid, nil
		}
		return 0, fmt.Errorf("the new process exited before serving: %v", <-exited)
	case err := <-exited:
		return 0, fmt.Errorf("the new process exited before serving: %v", err)
	case <-time.After(upgradeTimeout):
		_ = proc.Kill()
		return 0, fmt.Errorf("the new process did not serve within %v", upgradeTimeout)
	}
}

// sayServing tells the process that started this one by an upgrade that
// this one serves, if it did.
func sayServing() {
	v := os.Getenv(readyFDEnv)
	_ = os.Unsetenv(readyFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return
	}
	f := os.NewFile(uintptr(fd), "upgrade-ready")
	_, _ = f.WriteString("serving\n")
	_ = f.Close()
}

// startedByUpgrade returns the PID of the process that started this one
// by an upgrade (its parent, while it drains), or 0; call it before
// sayServing.
func startedByUpgrade() int {
	if os.Getenv(readyFDEnv) == "" {
		return 0
	}
	return os.Getppid()
}

// closeReadyFD keeps the upgrade's ready descriptor from the processes
// this one starts (called early, before any).
func closeReadyFDOnExec() {
	if fd, err := strconv.Atoi(os.Getenv(readyFDEnv)); err == nil && fd >= 3 {
		syscall.CloseOnExec(fd)
	}
}
