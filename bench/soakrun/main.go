// Command soakrun runs the real Gatehouse binary for a long while under a
// mix of traffic (HTTP/1.1, HTTP/2 and HTTP/3; proxied, static, uploads,
// downloads, WebSockets, not-found and upstream-down answers) with a
// reload every so often, samples its resident memory, goroutines and
// open files, and prints their slopes after warm-up. It exits 1 on any
// unexpected answer, a reload not applied, or goroutines or files left
// behind once the traffic stops.
//
//	soakrun -gatehouse ./gatehouse [-duration 10m] [-reload 30s] [-sample 10s]
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
)

// run is one soak: Gatehouse, its addresses and the clients.
type run struct {
	*harness.Gatehouse
	dir, cfg              string
	plain, tls, plainAddr string // base URLs, and the plain listener's address
	c                     *clients
}

func main() {
	bin := flag.String("gatehouse", "./gatehouse", "the gatehouse binary")
	duration := flag.Duration("duration", 10*time.Minute, "how long the traffic runs")
	reloadEvery := flag.Duration("reload", 30*time.Second, "time between reloads")
	sampleEvery := flag.Duration("sample", 10*time.Second, "time between samples")
	flag.Parse()
	if err := soak(*bin, *duration, *reloadEvery, *sampleEvery); err != nil {
		fmt.Fprintln(os.Stderr, "soakrun:", err)
		if errors.Is(err, errFailed) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// errFailed is a soak that saw something wrong.
var errFailed = errors.New("the soak found a fault")

func soak(bin string, duration, reloadEvery, sampleEvery time.Duration) error {
	dir, err := os.MkdirTemp("", "soak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	up, err := listen(upstream())
	if err != nil {
		return err
	}
	defer up.Close()
	r := &run{dir: dir, c: newClients()}
	if err := r.start(bin, up.Addr()); err != nil {
		return err
	}
	defer r.Stop()

	// Warm up: every job a few times, then measure the idle baseline.
	var warm harness.Counter
	for _, j := range jobs {
		for range 3 {
			warm.Add(j.do(r))
		}
	}
	r.c.closeIdle()
	time.Sleep(2 * time.Second)
	g0, fd0, err := r.Gauges()
	if err != nil {
		return err
	}

	fmt.Printf("soak: %v of traffic, a reload every %v, samples every %v\n", duration, reloadEvery, sampleEvery)
	stop := make(chan struct{})
	var counts = make([]harness.Counter, len(jobs))
	var total atomic.Int64
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				counts[i].Add(j.do(r))
				total.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	reloads := r.reloadEvery(reloadEvery, stop, &wg)
	samples := sampleUntil(r, sampleEvery, duration, &total)
	close(stop)
	wg.Wait()

	// Once the traffic stops, what it held goes.
	r.c.closeIdle()
	g1, fd1, err := r.Settle(g0, fd0)
	if err != nil {
		return err
	}
	applied, _ := r.Metric(`gatehouse_config_reloads_total{result="success"} `)
	failed := report(samples, duration/5, counts, g0, g1, fd0, fd1)
	sent := reloads.Load() + 1 // the load at start counts too
	fmt.Printf("reloads: %d sent, %.0f applied\n", sent, applied[0])
	if float64(sent) != applied[0] {
		failed = true
	}
	if !r.Alive() {
		return fmt.Errorf("gatehouse exited (its log: %s)", r.Log)
	}
	if failed {
		fmt.Println("FAIL")
		return errFailed
	}
	fmt.Println("PASS")
	return nil
}

// start writes the config, a certificate and a static file, and starts
// Gatehouse.
func (r *run) start(bin string, up net.Addr) error {
	cert, key, err := harness.WriteCert(r.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "www", "static"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.dir, "www", "static", "file.txt"), staticBody, 0o644); err != nil {
		return err
	}
	plain, tlsAddr, metrics := harness.FreeAddr(), harness.FreeAddr(), harness.FreeAddr()
	r.plain, r.tls, r.plainAddr = "http://"+plain, "https://"+tlsAddr, plain
	r.cfg = filepath.Join(r.dir, "gatehouse.yaml")
	routes := fmt.Sprintf(`    routes:
      - path: /static/
        static: {root: "%s"}
      - path: /missing
        respond: {status: 404}
      - path: /down/
        proxy: {to: "http://%s"}
      - path: /
        proxy: {to: "http://%s"}
`, filepath.Join(r.dir, "www"), harness.FreeAddr(), up)
	config := fmt.Sprintf(`admin: "off"
access_log: {output: "%s"}
metrics: {listen: "%s"}
sites:
  - listen: ["%s"]
%s  - listen: ["https://%s"]
    tls: {cert: "%s", key: "%s"}
%s`, filepath.Join(r.dir, "access.log"), metrics, plain, routes, tlsAddr, cert, key, routes)
	if err := os.WriteFile(r.cfg, []byte(config), 0o644); err != nil {
		return err
	}
	r.Gatehouse, err = harness.Start(bin, r.cfg, filepath.Join(r.dir, "gatehouse.log"), metrics, plain, tlsAddr)
	return err
}

// reloadEvery reloads Gatehouse every d until stop; it returns the count.
func (r *run) reloadEvery(d time.Duration, stop <-chan struct{}, wg *sync.WaitGroup) *atomic.Int64 {
	var n atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if r.Reload() == nil {
					n.Add(1)
				}
			}
		}
	}()
	return &n
}

// sample is Gatehouse's state at one moment.
type sample struct {
	at                        time.Duration
	rss, goroutines, fds, req float64
}

// sampleUntil samples every d for the run's duration.
func sampleUntil(r *run, d, duration time.Duration, total *atomic.Int64) []sample {
	start := time.Now()
	var out []sample
	for {
		v, err := r.Metric("process_resident_memory_bytes ", "go_goroutines ", "process_open_fds ")
		if err == nil {
			out = append(out, sample{time.Since(start), v[0] / (1 << 20), v[1], v[2], float64(total.Load())})
		}
		if time.Since(start)+d > duration {
			time.Sleep(duration - time.Since(start))
			return out
		}
		time.Sleep(d)
	}
}
