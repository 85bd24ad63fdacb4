// Package sdnotify tells systemd how the service is doing, with the
// sd_notify protocol: one datagram per message to the unix socket named
// by $NOTIFY_SOCKET, each message newline-separated KEY=VALUE fields
// (READY=1, RELOADING=1, STOPPING=1, STATUS=..., WATCHDOG=1). Outside
// systemd (no $NOTIFY_SOCKET) every call does nothing.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends notifications to the service manager.
type Notifier struct {
	conn     *net.UnixConn
	watchdog time.Duration
}

// FromEnv returns the notifier $NOTIFY_SOCKET names (a path, or an
// abstract socket starting with "@"), with the watchdog interval from
// $WATCHDOG_USEC when $WATCHDOG_PID is unset or names this process. It
// returns nil, nil when there is no $NOTIFY_SOCKET; a nil Notifier's
// methods do nothing.
func FromEnv() (*Notifier, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil, nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("NOTIFY_SOCKET %s: %w", path, err)
	}
	n := &Notifier{conn: conn}
	if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
		if usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && usec > 0 {
			n.watchdog = time.Duration(usec) * time.Microsecond
		}
	}
	return n, nil
}

// Send sends one message of the fields given ("READY=1", "STATUS=...").
func (n *Notifier) Send(fields ...string) error {
	if n == nil {
		return nil
	}
	_, err := n.conn.Write([]byte(strings.Join(fields, "\n") + "\n"))
	return err
}

// Ready says the service is serving, with status as its STATUS line (on
// one line: newlines become "; ").
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1", "STATUS="+strings.ReplaceAll(status, "\n", "; "))
}

// Reloading says a reload has started (systemd's Type=notify-reload waits
// for READY=1 after it).
func (n *Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return n.Send("RELOADING=1")
	}
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(ts.Nano()/1000, 10))
}

// Stopping says the service is shutting down.
func (n *Notifier) Stopping() error {
	return n.Send("STOPPING=1", "STATUS=stopping: draining requests in flight")
}

// Watchdog sends WATCHDOG=1 at half the interval systemd asked for
// (WatchdogSec=) until ctx ends; without a watchdog it returns at once.
func (n *Notifier) Watchdog(ctx context.Context) {
	if n == nil || n.watchdog <= 0 {
		return
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = n.Send("WATCHDOG=1")
		}
	}
}

// Close closes the socket.
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	return n.conn.Close()
}
