package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/sdnotify/sdnotifytest"
)

// Under systemd (Type=notify-reload), Gatehouse says READY=1 once it
// serves, RELOADING=1 then READY=1 around each reload (a failed one with
// a STATUS saying the previous config stays), and STOPPING=1 at shutdown.
func TestSystemdNotifications(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	addr := freeAddr(t)
	cfg := fmt.Sprintf("admin: \"off\"\nsites:\n  - listen: [\"%s\"]\n    routes:\n      - path: /\n        respond: {body: \"one\\n\"}\n", addr)
	g := startGatehouse(t, cfg)
	if got := sock.Next(t); got != "READY=1\nSTATUS=serving\n" {
		t.Fatalf("at start: %q", got)
	}
	if _, body := get(t, "http://"+addr+"/", nil); string(body) != "one\n" {
		t.Fatalf("READY=1 sent before the listener answers: %q", body)
	}

	if err := os.WriteFile(g.cfgPath, []byte(strings.Replace(cfg, "one", "two", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = g.cmd.Process.Signal(syscall.SIGHUP)
	if got := sock.Next(t); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reload start: %q", got)
	}
	if got := sock.Next(t); got != "READY=1\nSTATUS=serving\n" {
		t.Fatalf("reload end: %q", got)
	}
	if _, body := get(t, "http://"+addr+"/", nil); string(body) != "two\n" {
		t.Fatalf("after the reload: %q", body)
	}

	if err := os.WriteFile(g.cfgPath, []byte("sites: [ {listen: \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = g.cmd.Process.Signal(syscall.SIGHUP)
	if got := sock.Next(t); !strings.HasPrefix(got, "RELOADING=1\n") {
		t.Fatalf("failed reload start: %q", got)
	}
	got := sock.Next(t)
	if !strings.HasPrefix(got, "READY=1\nSTATUS=serving the previous config: reload failed: ") || strings.Count(got, "\n") != 2 {
		t.Fatalf("failed reload end: %q", got)
	}
	if _, body := get(t, "http://"+addr+"/", nil); string(body) != "two\n" {
		t.Fatalf("after the failed reload: %q", body)
	}

	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	if got := sock.Next(t); !strings.HasPrefix(got, "STOPPING=1\n") {
		t.Fatalf("at shutdown: %q", got)
	}
	<-g.exited
}

// Started by systemd-socket-activate (as by a .socket unit), Gatehouse
// serves on the sockets it is passed, TCP and unix, instead of binding:
// the first connection, which started it, is answered.
func TestSocketActivation(t *testing.T) {
	dir := t.TempDir()
	addr, sock := freeAddr(t), filepath.Join(dir, "gatehouse.sock")
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	cfg := fmt.Sprintf("admin: \"off\"\nsites:\n  - listen: [\"%s\", \"unix:%s\"]\n    routes:\n      - path: /\n        respond: {body: \"activated\\n\"}\n", addr, sock)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-socket-activate", "-l", addr, "-l", sock, binPath, "run", "-c", cfgPath)
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("output:\n%s", stderr.String())
		}
	}()
	waitPort(t, addr) // systemd-socket-activate's socket; Gatehouse starts at the first connection
	if _, body := get(t, "http://"+addr+"/", nil); string(body) != "activated\n" {
		t.Fatalf("over TCP: %q", body)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	res, err := client.Get("http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "activated\n" {
		t.Fatalf("over the unix socket: %q", body)
	}
	if n := strings.Count(stderr.String(), "listening on a passed socket"); n != 2 {
		t.Fatalf("%d sockets taken from systemd, want 2", n)
	}
}
