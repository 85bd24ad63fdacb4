package sdnotify

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/sdnotify/sdnotifytest"
)

func TestMessagesReachTheSocket(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	n, err := FromEnv()
	if err != nil || n == nil {
		t.Fatalf("FromEnv = %v, %v", n, err)
	}
	defer n.Close()
	if err := n.Ready("serving"); err != nil {
		t.Fatal(err)
	}
	if got := sock.Next(t); got != "READY=1\nSTATUS=serving\n" {
		t.Fatalf("ready: %q", got)
	}
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	if got := sock.Next(t); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reloading: %q", got)
	}
	_ = n.Stopping()
	if got := sock.Next(t); !strings.HasPrefix(got, "STOPPING=1\n") {
		t.Fatalf("stopping: %q", got)
	}
}

func TestWatchdogPingsAtHalfTheInterval(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	n, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Watchdog(ctx)
	if got := sock.Next(t); got != "WATCHDOG=1\n" {
		t.Fatalf("watchdog: %q", got)
	}
}

func TestWithoutSystemdNothingHappens(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n, err := FromEnv()
	if n != nil || err != nil {
		t.Fatalf("FromEnv = %v, %v", n, err)
	}
	if err := n.Ready("serving"); err != nil {
		t.Fatal(err)
	}
	n.Watchdog(context.Background()) // returns at once
}
