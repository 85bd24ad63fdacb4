package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// copyBinary copies the gatehouse binary to path through a temporary file
// renamed into place, as a package manager replaces it.
func copyBinary(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// keepAsking sends GETs on keep-alive connections until stop, each
// connection reopened after a Connection: close; it counts answers by
// body and requests lost (sent, and the connection ended before an
// answer).
func keepAsking(addr string, stop <-chan struct{}, bodies *sync.Map, lost *atomic.Int64) {
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			lost.Add(1)
			return
		}
		br := bufio.NewReader(c)
		for {
			select {
			case <-stop:
				c.Close()
				return
			default:
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				lost.Add(1)
				break
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				lost.Add(1)
				break
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				lost.Add(1)
				break
			}
			n, _ := bodies.LoadOrStore(string(b), new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			if res.Close {
				break
			}
		}
		c.Close()
	}
}

// startUpgradable starts the binary at bin on config in dir, as a service
// manager would, for an upgrade: its output goes to a file, not a pipe
// (the new process inherits it, and waiting for a pipe's end would wait
// for the new process). It returns the process, its PID and the log of
// both processes so far; at the end of the test it stops both and, if the
// test failed, logs that log.
func startUpgradable(t *testing.T, bin, dir, config, pidFile, addr string) (g *gatehouse, pid int, logged func() string) {
	t.Helper()
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "gatehouse.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	g = &gatehouse{t: t, cfgPath: cfgPath, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	g.cmd = exec.Command(bin, "run", "-c", cfgPath)
	g.cmd.Stdout, g.cmd.Stderr = logFile, logFile
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	logged = func() string { b, _ := os.ReadFile(logPath); return string(b) }
	pid = g.cmd.Process.Pid
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of both processes:\n%s", logged())
		}
		if b, err := os.ReadFile(pidFile); err == nil {
			if newPID, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && newPID != pid {
				_ = syscall.Kill(newPID, syscall.SIGTERM)
			}
		}
		g.stop()
	})
	waitPort(t, addr)
	return g, pid, logged
}

// waitForSuccessor waits until the pid file names a process other than
// oldPID, and returns it.
func waitForSuccessor(t *testing.T, pidFile string, oldPID int) int {
	t.Helper()
	var newPID int
	waitFor(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		newPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return newPID != 0 && newPID != oldPID
	})
	return newPID
}

// A binary upgrade (the binary file replaced, then SIGUSR2) under load
// loses no request: the new process starts on the old one's sockets,
// loads the config, and only once it serves does the old one stop
// accepting and drain; the pid file then names the new process, a
// WebSocket opened before keeps working until it closes, and the old
// process exits.
func TestBinaryUpgradeLosesNothing(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	copyBinary(t, bin)
	up := startUpgradeEcho(t)
	addr, pidFile := freeAddr(t), filepath.Join(dir, "gatehouse.pid")
	config := func(body string) string {
		return fmt.Sprintf(`admin: "off"
pid_file: %s
shutdown_timeout: 20s
sites:
  - listen: ["%s"]
    routes:
      - path: /ws
        proxy: {to: "http://%s"}
      - path: /
        respond: {body: "%s"}
`, pidFile, addr, up, body)
	}
	g, oldPID, logged := startUpgradable(t, bin, dir, config("old"), pidFile, addr)

	ws, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(ws, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	wsr := bufio.NewReader(ws)
	if res, err := http.ReadResponse(wsr, nil); err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	echo := func(msg string) {
		t.Helper()
		fmt.Fprint(ws, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(wsr, got); err != nil || string(got) != strings.ToUpper(msg) {
			t.Fatalf("echo over the WebSocket: %q %v", got, err)
		}
	}
	echo("before")
	var bodies sync.Map
	var lost atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keepAsking(addr, stop, &bodies, &lost)
		}()
	}
	// And wrk, as a user would load it, over the whole upgrade.
	wrk := exec.Command("wrk", "-t1", "-c8", "-d4s", "http://"+addr+"/")
	var wrkOut syncBuffer
	wrk.Stdout, wrk.Stderr = &wrkOut, &wrkOut
	if err := wrk.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)

	// The package is upgraded: a new binary at the path, a new config.
	copyBinary(t, bin)
	g.writeConfig(config("new"))
	_ = g.cmd.Process.Signal(syscall.SIGUSR2)
	waitForSuccessor(t, pidFile, oldPID)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := wrk.Wait(); err != nil {
		t.Fatalf("wrk: %v\n%s", err, wrkOut.String())
	}
	if out := wrkOut.String(); strings.Contains(out, "Socket errors") || strings.Contains(out, "Non-2xx") || !strings.Contains(out, "requests in") {
		t.Errorf("wrk over the upgrade saw errors:\n%s", out)
	} else {
		t.Logf("wrk over the upgrade:\n%s", out)
	}

	if n := lost.Load(); n != 0 {
		t.Errorf("%d requests lost over the upgrade", n)
	}
	count := func(body string) int64 {
		if n, ok := bodies.Load(body); ok {
			return n.(*atomic.Int64).Load()
		}
		return 0
	}
	if count("old") == 0 || count("new") == 0 {
		t.Errorf("answers: %d from the old process, %d from the new one; want both", count("old"), count("new"))
	}
	// The WebSocket stays with the old process, which waits for it.
	echo("during the drain")
	select {
	case <-g.exited:
		t.Fatal("the old process exited with a WebSocket still open")
	default:
	}
	ws.Close()
	select {
	case <-g.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("the old process did not exit once its last WebSocket closed")
	}
	if _, body := get(t, "http://"+addr+"/", nil); string(body) != "new" {
		t.Fatalf("after the old process left: %q", body)
	}
	if !strings.Contains(logged(), "upgrade: the new process serves") {
		t.Fatal("the old process did not log the hand-over")
	}
}

// An upgrade (here asked with `gatehouse upgrade`) whose new process
// cannot load the config leaves the old process serving, and the log
// says why.
func TestFailedUpgradeKeepsServing(t *testing.T) {
	dir := t.TempDir()
	addr, pidFile := freeAddr(t), filepath.Join(dir, "gatehouse.pid")
	cfg := fmt.Sprintf("admin: \"off\"\npid_file: %s\nsites:\n  - listen: [\"%s\"]\n    routes:\n      - path: /\n        respond: {body: \"still here\"}\n", pidFile, addr)
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	g := startProcess(t, cfgPath, []string{"run", "-c", cfgPath}, addr)
	pid := g.cmd.Process.Pid

	// A config the new process cannot load.
	if err := os.WriteFile(cfgPath, []byte("sites: [ {listen: \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// `gatehouse upgrade` finds the process by its pid file.
	if out, err := exec.Command(binPath, "upgrade", "--pid", pidFile).CombinedOutput(); err != nil {
		t.Fatalf("gatehouse upgrade: %v: %s", err, out)
	}
	g.waitLog("upgrade failed; this process keeps serving")
	defer func() { g.stop(); t.Logf("stderr:\n%s", g.stderr.String()) }()
	if _, body := get(t, "http://"+addr+"/", nil); string(body) != "still here" {
		t.Fatalf("after a failed upgrade: %q", body)
	}
	if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Fatalf("pid file names %q, want the old process %d", b, pid)
	}
}

// An upgrade to a binary that does not start (a package upgrade left a
// broken file at the path) leaves the old process serving, and the log
// says why.
func TestBrokenBinaryUpgradeKeepsServing(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	copyBinary(t, bin)
	addr, pidFile := freeAddr(t), filepath.Join(dir, "gatehouse.pid")
	cfg := fmt.Sprintf("admin: \"off\"\npid_file: %s\nsites:\n  - listen: [\"%s\"]\n    routes:\n      - path: /\n        respond: {body: \"still here\"}\n", pidFile, addr)
	g, pid, logged := startUpgradable(t, bin, dir, cfg, pidFile, addr)
	for i, broken := range []string{
		"#!/bin/sh\necho 'cannot start' >&2\nexit 3\n", // starts, then fails
		"\x7fELF garbage", // cannot be executed at all
	} {
		tmp := bin + ".new"
		if err := os.WriteFile(tmp, []byte(broken), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bin); err != nil {
			t.Fatal(err)
		}
		_ = g.cmd.Process.Signal(syscall.SIGUSR2)
		waitFor(t, func() bool { return strings.Count(logged(), "upgrade failed; this process keeps serving") == i+1 })
		if _, body := get(t, "http://"+addr+"/", nil); string(body) != "still here" {
			t.Fatalf("after upgrade %d to a broken binary: %q", i, body)
		}
		if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
			t.Fatalf("pid file names %q, want the old process %d", b, pid)
		}
	}
	// A good binary at the path again: the next upgrade takes.
	copyBinary(t, bin)
	_ = g.cmd.Process.Signal(syscall.SIGUSR2)
	waitForSuccessor(t, pidFile, pid)
	if _, body := get(t, "http://"+addr+"/", nil); string(body) != "still here" {
		t.Fatalf("after the good upgrade: %q", body)
	}
}
