package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the gatehouse binary built once for the whole package.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "gatehouse")
	out, err := exec.Command("go", "build", "-o", binPath, "../cmd/gatehouse").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build gatehouse: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// handedOut remembers every port freeAddr has given in this test binary,
// so two addresses asked for in a row are never the same port.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freeAddr returns a loopback address with a port nobody listens on, on
// TCP or UDP. It is picked below the kernel's ephemeral range (32768 and
// up), where outgoing connections and ":0" listeners take theirs: a port
// found free there could be taken again by another test's client before
// the server under test binds it.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		handedOut.Lock()
		taken := handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if taken {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return addr
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return ""
}

// waitPort waits until addr (host:port, or unix:PATH) accepts connections.
func waitPort(t *testing.T, addr string) {
	t.Helper()
	network := "tcp"
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", path
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout(network, addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// gatehouse is a running gatehouse process.
type gatehouse struct {
	t       *testing.T
	cmd     *exec.Cmd
	cfgPath string
	stdout  *syncBuffer
	stderr  *syncBuffer
	exited  chan struct{}
}

// startGatehouse writes cfg to a temp file, runs `gatehouse run -c` on it
// and waits until every address in wait accepts connections.
func startGatehouse(t *testing.T, cfg string, wait ...string) *gatehouse {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return startProcess(t, path, []string{"run", "-c", path}, wait...)
}

// startProcess runs the gatehouse binary with args.
func startProcess(t *testing.T, cfgPath string, args []string, wait ...string) *gatehouse {
	t.Helper()
	g := &gatehouse{t: t, cfgPath: cfgPath, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	g.cmd = exec.Command(binPath, args...)
	g.cmd.Stdout, g.cmd.Stderr = g.stdout, g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(g.stop)
	for _, addr := range wait {
		waitPort(t, addr)
	}
	return g
}

// stop sends SIGTERM and waits for the process to exit.
func (g *gatehouse) stop() {
	select {
	case <-g.exited:
	default:
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(15 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.exited
		}
	}
	if g.t.Failed() {
		g.t.Logf("gatehouse stderr:\n%s", g.stderr.String())
	}
}

// writeConfig replaces the config file (for a reload).
func (g *gatehouse) writeConfig(cfg string) {
	if err := os.WriteFile(g.cfgPath, []byte(cfg), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// reload runs `gatehouse reload -c` and returns its output and exit code.
func (g *gatehouse) reload() (string, int) {
	out, err := exec.Command(binPath, "reload", "-c", g.cfgPath).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		g.t.Fatal(err)
	}
	return string(out), code
}

// waitLog waits until the process's stderr or stdout contains s.
func (g *gatehouse) waitLog(s string) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(g.stderr.String(), s) || strings.Contains(g.stdout.String(), s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.t.Fatalf("log never showed %q; stderr:\n%s", s, g.stderr.String())
}

// startGunicorn runs testdata/app.py under real Gunicorn with sync workers
// and returns its address.
func startGunicorn(t *testing.T, workers int) string {
	t.Helper()
	addr := freeAddr(t)
	runPeer(t, "gunicorn", gunicornCmd(t, addr, workers, "app"), syscall.SIGTERM, addr)
	return addr
}

// gunicornCmd is the command that serves testdata/app.py on addr, its
// /whoami answering name.
func gunicornCmd(t *testing.T, addr string, workers int, name string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("gunicorn")
	if err != nil {
		t.Fatal("gunicorn is not installed: run scripts/test.sh, which installs the test peers")
	}
	return exec.Command(bin, "--workers", fmt.Sprint(workers), "--worker-class", "sync",
		"--bind", addr, "--chdir", "testdata", "--timeout", "60", "--env", "APP_NAME="+name, "app:app")
}

// runPeer starts a peer program, waits until it listens on addr, and stops
// it with sig when the test ends (killing it if it lingers), showing its
// output when the test failed.
func runPeer(t *testing.T, name string, cmd *exec.Cmd, sig os.Signal, addr string) {
	t.Helper()
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(sig)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs.String())
		}
	})
	waitPort(t, addr)
}
