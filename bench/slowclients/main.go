// Command slowclients measures how ordinary requests fare at a server while
// slow clients attack it: tricklers send request bodies at one byte per
// second, slow readers take a 64 MB response a few KB at a time. It prints
// one line: how many ordinary requests succeeded and their latencies.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	name := flag.String("name", "target", "label for the output line")
	addr := flag.String("addr", "127.0.0.1:8080", "host:port of the server under test")
	tricklers := flag.Int("tricklers", 30, "clients sending request bodies at 1 byte/s")
	readers := flag.Int("readers", 6, "clients reading a 64 MB response slowly")
	readRate := flag.Int("read-rate", 16<<10, "bytes per second each slow reader takes")
	duration := flag.Duration("duration", 12*time.Second, "how long the attack lasts")
	flag.Parse()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < *tricklers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); trickle(*addr, stop) }()
	}
	for i := 0; i < *readers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); slowRead(*addr, *readRate, stop) }()
	}
	time.Sleep(2 * time.Second) // let the attack take hold

	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var lat []time.Duration
	failed := 0
	end := time.Now().Add(*duration - 2*time.Second)
	for time.Now().Before(end) {
		start := time.Now()
		res, err := client.Get("http://" + *addr + "/hello")
		if err == nil {
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				err = fmt.Errorf("status %d", res.StatusCode)
			}
		}
		if err != nil {
			failed++
		} else {
			lat = append(lat, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	total := len(lat) + failed
	slices.Sort(lat)
	pct := func(p float64) string {
		if len(lat) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1fms", float64(lat[int(float64(len(lat)-1)*p)].Microseconds())/1000)
	}
	verdict := "PASS"
	if failed > 0 || len(lat) == 0 || lat[int(float64(len(lat)-1)*0.99)] > 100*time.Millisecond {
		verdict = "FAIL"
	}
	fmt.Printf("%-10s ordinary requests: %3d/%-3d ok  p50 %-8s p99 %-8s max %-8s %s\n",
		*name, len(lat), total, pct(0.5), pct(0.99), pct(1), verdict)
	if verdict == "FAIL" {
		os.Exit(1)
	}
}

// trickle sends a POST whose 100 kB body arrives one byte per second.
func trickle(addr string, stop <-chan struct{}) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n")
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}
}

// slowRead asks for 64 MB and reads it at rate bytes per second.
func slowRead(addr string, rate int, stop <-chan struct{}) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(16 << 10)
	}
	fmt.Fprintf(c, "GET /bytes?n=67108864 HTTP/1.1\r\nHost: bench\r\n\r\n")
	r := bufio.NewReaderSize(c, 4096)
	buf := make([]byte, rate/10)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
		}
	}
}
