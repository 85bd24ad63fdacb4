// Package fleettest starts real Redis servers for tests: one standalone
// server, or a Redis Cluster of three masters made with
// `redis-cli --cluster create`. scripts/install-peers.sh installs
// redis-server; a test that needs it fails without it.
package fleettest

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/fleet"
)

// Redis is one redis-server process.
type Redis struct {
	Addr string
	t    testing.TB
	args []string
	// cli are redis-cli's options to reach it (TLS, password).
	cli []string
	dir string
	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer
}

// nextPort hands out ports for servers, below the ephemeral range and
// apart from the e2e helpers' range.
var nextPort atomic.Int32

func init() { nextPort.Store(int32(32100 + os.Getpid()%400*10)) }

// freePort returns a port nothing listens on now.
func freePort(t testing.TB) int {
	for range 100 {
		p := int(nextPort.Add(1))
		if p > 39000 {
			nextPort.Store(32100)
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		// The cluster bus listens on port + 10000.
		if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free port for redis-server")
	return 0
}

// StartRedis starts a standalone redis-server on loopback, stopped when
// the test ends.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	return start(t, extra...)
}

func start(t testing.TB, extra ...string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed: run scripts/install-peers.sh")
	}
	port := freePort(t)
	dir := t.TempDir()
	r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), t: t, dir: dir,
		args: append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--protected-mode", "no"}, extra...)}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts the server (again, after Stop) and waits for it to answer.
func (r *Redis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = &bytes.Buffer{}
	r.cmd = exec.Command("redis-server", r.args...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := exec.Command("redis-cli", r.cliArgs("ping")...).CombinedOutput(); err == nil && strings.TrimSpace(string(out)) == "PONG" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("redis-server on %s did not answer:\n%s", r.Addr, r.out.String())
}

// cliArgs are redis-cli's arguments to run args against the server.
func (r *Redis) cliArgs(args ...string) []string {
	host, port, _ := net.SplitHostPort(r.Addr)
	return append(append([]string{"-h", host, "-p", port}, r.cli...), args...)
}

// StartRedisTLS starts a redis-server that speaks TLS only, asks clients
// for a certificate signed by caFile, and requires password.
func StartRedisTLS(t testing.TB, certFile, keyFile, caFile, password string) *Redis {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), t: t, dir: dir,
		args: []string{"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile,
			"--tls-auth-clients", "yes", "--requirepass", password},
		cli: []string{"--tls", "--cert", certFile, "--key", keyFile, "--cacert", caFile, "--sni", "localhost", "--no-auth-warning", "-a", password}}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Stop kills the server (SIGKILL: as a crash would).
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// CLI runs redis-cli against the server and returns its output.
func (r *Redis) CLI(args ...string) string {
	r.t.Helper()
	out, err := exec.Command("redis-cli", r.cliArgs(args...)...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Cluster is a Redis Cluster of three masters.
type Cluster struct {
	Nodes []*Redis
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartCluster starts three cluster-enabled servers and joins them with
// `redis-cli --cluster create`, then waits for cluster_state:ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range 3 {
		n := start(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
		c.Nodes = append(c.Nodes, n)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK(t)
	return c
}

// WaitOK waits until every node says cluster_state:ok.
func (c *Cluster) WaitOK(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range c.Nodes {
			if !strings.Contains(n.CLI("cluster", "info"), "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the cluster of %v did not reach cluster_state:ok", c.Addrs())
}

// Open connects a Fleet to addrs (a cluster when cluster is set) with
// the key prefix prefix, and starts it; it closes when the test ends.
func Open(t testing.TB, prefix string, cluster bool, addrs ...string) *fleet.Fleet {
	t.Helper()
	return open(t, &config.Store{Redis: &config.Redis{Addrs: addrs, Cluster: cluster, Timeout: config.Duration(time.Second)},
		Prefix: prefix, FleetSize: 1, OnFailure: config.StoreFailOpen})
}

// OpenWith connects a Fleet to the server at addr with a failure mode
// and a fleet size.
func OpenWith(t testing.TB, prefix, addr, onFailure string, fleetSize int) *fleet.Fleet {
	t.Helper()
	return open(t, &config.Store{Redis: &config.Redis{Addrs: []string{addr}, Timeout: config.Duration(time.Second)},
		Prefix: prefix, FleetSize: fleetSize, OnFailure: onFailure})
}

func open(t testing.TB, cfg *config.Store) *fleet.Fleet {
	t.Helper()
	f, err := fleet.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	t.Cleanup(f.Close)
	return f
}

// StartSentinel starts a Sentinel watching master under the name name
// (quorum 1), stopped when the test ends.
func StartSentinel(t testing.TB, master *Redis, name string) *Redis {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	host, mport, _ := net.SplitHostPort(master.Addr)
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 2000\n",
		port, dir, name, host, mport, name)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), t: t, dir: dir, args: []string{conf, "--sentinel"}}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}
