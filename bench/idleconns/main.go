// Command idleconns opens N keep-alive connections to a server, makes one
// request on each so the server has seen a full exchange, then holds them
// idle, prints "ready", and waits for its standard input to close. A bench
// script measures the server's memory meanwhile.
//
// -proto picks the connections: "h1" plain HTTP/1.1 (the default),
// "tls-h1" HTTP/1.1 over TLS, "tls-h2" HTTP/2 over TLS, as a browser
// holds them (the certificate is not checked).
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"

	"golang.org/x/net/http2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server host:port")
	n := flag.Int("n", 10000, "connections to hold")
	proto := flag.String("proto", "h1", "h1, tls-h1 or tls-h2")
	flag.Parse()
	open, ok := map[string]func(string) (io.Closer, error){"h1": openH1, "tls-h1": openTLSH1, "tls-h2": openTLSH2}[*proto]
	if !ok {
		fmt.Fprintln(os.Stderr, "idleconns: -proto is h1, tls-h1 or tls-h2")
		os.Exit(2)
	}

	conns := make([]io.Closer, 0, *n)
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
			c, err := open(*addr)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
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

// exchange makes one HTTP/1.1 request on c and reads the response.
func exchange(c net.Conn) error {
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		return err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return res.Body.Close()
}

func openH1(addr string) (io.Closer, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := exchange(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func openTLSH1(addr string) (io.Closer, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	if err := exchange(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// openTLSH2 holds one HTTP/2 connection: a transport of its own, so that
// each connection is separate.
func openTLSH2(addr string) (io.Closer, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"h2"}})
	if err != nil {
		return nil, err
	}
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		c.Close()
		return nil, fmt.Errorf("no h2 from %s", addr)
	}
	cc, err := (&http2.Transport{}).NewClientConn(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	req, _ := http.NewRequest("GET", "https://localhost/", nil)
	res, err := cc.RoundTrip(req)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return c, nil
}
