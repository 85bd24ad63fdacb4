// Command idleconns opens N keep-alive connections to a server, makes one
// request on each so the server has seen a full exchange, then holds them
// idle, prints "ready", and waits for its standard input to close. A bench
// script measures the server's memory meanwhile.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server host:port")
	n := flag.Int("n", 10000, "connections to hold")
	flag.Parse()

	conns := make([]net.Conn, 0, *n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200)
	failed := 0
	for i := 0; i < *n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", *addr)
			if err == nil {
				_, err = fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
			}
			if err == nil {
				var res *http.Response
				res, err = http.ReadResponse(bufio.NewReader(c), nil)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if c != nil {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	fmt.Printf("ready %d open %d failed\n", len(conns), failed)
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
