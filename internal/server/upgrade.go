package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/internal/activation"
)

// readyFDEnv names the descriptor on which a process started by an
// upgrade says it serves (it writes a line, then closes it).
const readyFDEnv = "GATEHOUSE_UPGRADE_READY_FD"

// upgradeTimeout bounds how long the new process may take to serve.
const upgradeTimeout = time.Minute

// socketFile is a listening socket to hand over, and its name.
type socketFile struct {
	name string
	file *os.File
}

// fileOf duplicates the socket of a listener or a UDP socket.
func fileOf(c any) (*os.File, error) {
	switch c := c.(type) {
	case *net.TCPListener:
		return c.File()
	case *net.UnixListener:
		// The old process must not remove the socket's file when it
		// closes its copy: the new one serves on it.
		c.SetUnlinkOnClose(false)
		return c.File()
	case *net.UDPConn:
		return c.File()
	}
	return nil, fmt.Errorf("cannot hand over a %T", c)
}

// listenerFiles duplicates every listening socket of the instance: each
// listener's, the UDP socket of its HTTP/3, and the extra listeners given
// (the admin API's and the metrics').
func (in *Instance) listenerFiles(extra ...net.Listener) ([]socketFile, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []socketFile
	add := func(name string, c any) error {
		f, err := fileOf(c)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, socketFile{name: name, file: f})
		return nil
	}
	var err error
	for addr, l := range in.listeners {
		err = errors.Join(err, add(addr, l.ln))
		if l.udp != nil {
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
		_ = f.file.Close()
	}
}

// startSuccessor runs the binary at this process's path (which a package
// upgrade may have replaced) with the same arguments, handing it files
// as descriptors 3 on, and waits until it serves: it returns the new
// process's PID, or an error when it exited, or did not serve within
// upgradeTimeout (it is then killed).
func startSuccessor(files []socketFile, log *slog.Logger) (int, error) {
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
	extra := make([]*os.File, 0, len(files)+1)
	for i, f := range files {
		names[i] = strings.ReplaceAll(f.name, ":", "_")
		extra = append(extra, f.file)
	}
	extra = append(extra, readyW)
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	cmd.Env = append(os.Environ(),
		activation.UpgradeEnv+"="+strconv.Itoa(len(files)),
		activation.UpgradeNamesEnv+"="+strings.Join(names, ":"),
		readyFDEnv+"="+strconv.Itoa(3+len(files)))
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", exe, err)
	}
	log.Info("upgrade: new process started", "binary", exe, "pid", cmd.Process.Pid)
	said := make(chan bool, 1)
	go func() {
		var b [16]byte
		n, _ := ready.Read(b[:])
		said <- n > 0
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case ok := <-said:
		if ok {
			return cmd.Process.Pid, nil
		}
		return 0, fmt.Errorf("the new process exited before serving: %v", <-exited)
	case err := <-exited:
		return 0, fmt.Errorf("the new process exited before serving: %v", err)
	case <-time.After(upgradeTimeout):
		_ = cmd.Process.Kill()
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

// closeReadyFD keeps the upgrade's ready descriptor from the processes
// this one starts (called early, before any).
func closeReadyFDOnExec() {
	if fd, err := strconv.Atoi(os.Getenv(readyFDEnv)); err == nil && fd >= 3 {
		syscall.CloseOnExec(fd)
	}
}
