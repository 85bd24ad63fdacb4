// Command faultinject runs the real Gatehouse binary and makes its world
// misbehave, one fault per row: upstreams that reset, send garbage, fall
// silent, get lengths wrong, flood, or flap up and down; clients that
// churn, hold tens of thousands of connections, half-close, abandon TLS
// handshakes, or flood HTTP/2 with resets and CONTINUATION frames; and the
// machine: the spool disk full, and a reload storm with garbage configs.
// For each it prints the answers clients got against those expected,
// whether ordinary requests sent meanwhile were unaffected, and the
// goroutines and file descriptors Gatehouse held before and after (read
// from its /metrics), so that leaks show. It exits 1 on any surprise.
//
//	faultinject -gatehouse ./gatehouse [-n 20] [-churn 200000] [-conns 50000] [-storm 60s]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/bench/internal/harness"
)

// scenario is one fault: run makes it happen and reports what clients got.
type scenario struct {
	name   string
	expect []string // the outcomes that are right
	run    func(e *env) outcomes
}

// outcomes counts what the clients of a scenario got, by kind (a status
// code, or a word for what a connection saw), with a note for the table.
type outcomes struct {
	got  map[string]int
	note string
}

// counter gathers outcomes from many goroutines.
type counter struct{ harness.Counter }

func (c *counter) add(kind string) { c.Add(kind) }

func (c *counter) outcomes(note string) outcomes { return outcomes{got: c.Counts(), note: note} }

// parallel runs f(i) for i in [0, n) on at most workers goroutines.
func parallel(n, workers int, f func(i int)) { harness.Parallel(n, workers, f) }

type options struct {
	bin          string
	n            int           // requests per upstream fault
	churn        int           // short connections
	conns        int           // keep-alive connections held at once
	storm        time.Duration // the reload storm's length
	flap         time.Duration // the flapping pool's length
	only         string        // run only the scenarios whose name holds this
	spoolDiskMiB int
	keep         bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "gatehouse", "./gatehouse", "the gatehouse binary")
	flag.IntVar(&o.n, "n", 20, "requests per upstream fault, and clients per client fault")
	flag.IntVar(&o.churn, "churn", 200_000, "short connections, one request each")
	flag.IntVar(&o.conns, "conns", 50_000, "keep-alive connections held open at once")
	flag.DurationVar(&o.storm, "storm", time.Minute, "how long the reload storm lasts (a reload every 100ms)")
	flag.DurationVar(&o.flap, "flap", 10*time.Second, "how long the pool flaps")
	flag.StringVar(&o.only, "only", "", "run only the faults whose name contains this")
	flag.IntVar(&o.spoolDiskMiB, "spool-disk", 512, "size of the tmpfs the spool lives on, MiB")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (config, certificate, Gatehouse's log)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "faultinject:", err)
		if errors.Is(err, errFailed) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// errFailed is a run that found a fault mishandled.
var errFailed = errors.New("a fault was mishandled")

func run(o options) error {
	raiseFileLimit(2*o.conns + 10_000)
	dir, err := os.MkdirTemp("", "faultinject")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("work directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	e := &env{dir: dir}
	ups, err := startUpstreams(e)
	if err != nil {
		return err
	}
	defer ups.close()
	disk, err := newSpoolDisk(dir, o.spoolDiskMiB)
	if err != nil {
		return err
	}
	defer disk.close()
	e.spoolDir = disk.dir
	if err := e.start(o.bin); err != nil {
		return err
	}
	defer e.Stop()
	// Warm up: pools, buffers, the metrics page.
	for range 50 {
		get(e.client, e.ordinaryURL)
	}
	_, _, _ = e.Gauges()

	var all []scenario
	all = append(all, upstreamScenarios(o.n)...)
	all = append(all, flappingScenario(ups, o.flap))
	all = append(all, clientScenarios(o)...)
	all = append(all, diskFullScenario(disk, ups, o.n), reloadStormScenario(o.storm))
	fmt.Println("| fault | clients | expected | got | unexpected | ordinary requests ok | goroutines before → after | fds before → after | note |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	failed := false
	for _, s := range all {
		if !strings.Contains(s.name, o.only) {
			continue
		}
		if !runScenario(e, s) {
			failed = true
		}
		if !e.Alive() {
			return fmt.Errorf("gatehouse exited during %q (its log: %s)", s.name, dir+"/gatehouse.log")
		}
	}
	if failed {
		fmt.Println("FAIL: an unexpected answer, an ordinary request affected, or goroutines/fds left behind")
		return errFailed
	}
	fmt.Println("PASS")
	return nil
}

// runScenario runs s beside ordinary requests, prints its row and reports
// whether all went as expected.
func runScenario(e *env, s scenario) bool {
	time.Sleep(200 * time.Millisecond)
	g0, fd0, err := e.Gauges()
	if err != nil {
		fmt.Printf("| %s | metrics: %v |\n", s.name, err)
		return false
	}
	stop := make(chan struct{})
	var ordinary, ordinaryOK atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				code := get(e.client, e.ordinaryURL)
				ordinary.Add(1)
				if code == "200" {
					ordinaryOK.Add(1)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	res := s.run(e)
	close(stop)
	wg.Wait()
	e.client.CloseIdleConnections()
	// What the fault left behind settles (timeouts, closes) first.
	g1, fd1, err := e.Settle(g0, fd0)
	bad := 0
	for kind, k := range res.got {
		if !slices.Contains(s.expect, kind) {
			bad += k
		}
	}
	leak := err != nil || g1 > g0 || fd1 > fd0
	total := 0
	for _, k := range res.got {
		total += k
	}
	fmt.Printf("| %s | %d | %s | %s | %d | %d of %d | %.0f → %.0f | %.0f → %.0f | %s |\n", s.name, total, strings.Join(s.expect, ", "), harness.Summary(res.got), bad,
		ordinaryOK.Load(), ordinary.Load(), g0, g1, fd0, fd1, res.note)
	if leak {
		fmt.Printf("  open files now: %s\n", harness.Summary(e.FileCensus()))
		fmt.Printf("  sockets now: %s\n", harness.Summary(e.SocketCensus()))
	}
	return bad == 0 && total > 0 && ordinaryOK.Load() == ordinary.Load() && !leak
}
