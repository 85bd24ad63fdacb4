// Package harness runs the real Gatehouse binary for the benchmark and
// fault tools under bench/: it starts and stops the process, reloads it,
// reads its /metrics, writes a throwaway certificate, and counts what
// clients got.
package harness

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Gatehouse is a running Gatehouse process.
type Gatehouse struct {
	cmd         *exec.Cmd
	metricsAddr string
	// Log is the file its stderr goes to.
	Log string
}

// Start runs bin on the config file cfg, its stderr to logPath, and waits
// until every address in ready accepts connections. metricsAddr is the
// config's metrics listener.
func Start(bin, cfg, logPath, metricsAddr string, ready ...string) (*Gatehouse, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "run", "-c", cfg)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	g := &Gatehouse{cmd: cmd, metricsAddr: metricsAddr, Log: logPath}
	for _, addr := range append(ready, metricsAddr) {
		if err := WaitPort(addr); err != nil {
			g.Stop()
			return nil, err
		}
	}
	return g, nil
}

// Stop kills the process and waits for it.
func (g *Gatehouse) Stop() {
	_ = g.cmd.Process.Kill()
	_ = g.cmd.Wait()
}

// Alive reports whether the process still runs.
func (g *Gatehouse) Alive() bool { return g.cmd.Process.Signal(syscall.Signal(0)) == nil }

// Reload asks the process to read its config again (SIGHUP).
func (g *Gatehouse) Reload() error { return g.cmd.Process.Signal(syscall.SIGHUP) }

// Pid is the process's id.
func (g *Gatehouse) Pid() int { return g.cmd.Process.Pid }

// Gauges reads go_goroutines and process_open_fds from /metrics.
func (g *Gatehouse) Gauges() (goroutines, fds float64, err error) {
	v, err := g.Metric("go_goroutines ", "process_open_fds ")
	return v[0], v[1], err
}

// Settle waits up to 15 s for the goroutines and open files to fall back
// to (at most) goroutines0 and fds0, and returns the last reading.
func (g *Gatehouse) Settle(goroutines0, fds0 float64) (goroutines, fds float64, err error) {
	for range 60 {
		time.Sleep(250 * time.Millisecond)
		if goroutines, fds, err = g.Gauges(); err != nil || goroutines <= goroutines0 && fds <= fds0 {
			break
		}
	}
	return goroutines, fds, err
}

// Metric reads the values of the /metrics lines that start with the
// names given (a name with its labels, then a space).
func (g *Gatehouse) Metric(names ...string) ([]float64, error) {
	out := make([]float64, len(names))
	res, err := http.Get("http://" + g.metricsAddr + "/metrics")
	if err != nil {
		return out, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		for i, name := range names {
			if v, ok := strings.CutPrefix(sc.Text(), name); ok {
				out[i], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out, sc.Err()
}

// FreeAddr is a loopback address nothing listens on.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitPort waits up to 10 s for addr to accept a connection.
func WaitPort(addr string) error {
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

// FileCensus counts the process's open files by kind (socket, pipe,
// anon_inode:[eventpoll], a path...), for finding what leaked.
func (g *Gatehouse) FileCensus() map[string]int {
	dir := fmt.Sprintf("/proc/%d/fd", g.Pid())
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		if i := strings.IndexByte(target, ':'); i > 0 && strings.HasPrefix(target[i+1:], "[") && !strings.HasPrefix(target, "anon_inode") {
			target = target[:i]
		}
		out[target]++
	}
	return out
}

// SocketCensus counts the process's TCP sockets by state and peer
// ("ESTAB to 127.0.0.1:8000"; a client's port is left out), from ss;
// nil when ss is missing.
func (g *Gatehouse) SocketCensus() map[string]int {
	out, err := exec.Command("ss", "-tanpH").Output()
	if err != nil {
		return nil
	}
	mark := fmt.Sprintf("pid=%d,", g.Pid())
	var lines [][]string
	listening := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.Contains(line, mark) {
			continue
		}
		if f[0] == "LISTEN" {
			listening[f[3]] = true
		}
		lines = append(lines, f)
	}
	census := map[string]int{}
	for _, f := range lines {
		switch {
		case f[0] == "LISTEN":
		case listening[f[3]]:
			census[f[0]+" from a client to "+f[3]]++
		default:
			census[f[0]+" to "+f[4]]++
		}
	}
	return census
}
