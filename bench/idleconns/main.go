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
	"context"
	"crypto/tls"
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
	proto := flag.String("proto", "h1", "h1, tls-h1 or tls-h2")
	flag.Parse()
	var h1, h2 http.Protocols
	h1.SetHTTP1(true)
	h2.SetHTTP2(true)
	open, ok := map[string]func(string) (io.Closer, error){"h1": openH1, "tls-h1": openTLS(h1), "tls-h2": openTLS(h2)}[*proto]
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

// openH1 holds one plain HTTP/1.1 connection after one request on it,
// written by hand so that the client keeps nothing but the socket.
func openH1(addr string) (io.Closer, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	var res *http.Response
	if err == nil {
		res, err = http.ReadResponse(bufio.NewReader(c), nil)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return c, nil
}

// openTLS holds one connection over TLS speaking protos (HTTP/1.1 or
// HTTP/2), the certificate unchecked, after one request on it.
func openTLS(protos http.Protocols) func(string) (io.Closer, error) {
	t := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}, Protocols: &protos}
	return func(addr string) (io.Closer, error) {
		cc, err := t.NewClientConn(context.Background(), "https", addr)
		if err != nil {
			return nil, err
		}
		req, _ := http.NewRequest("GET", "https://localhost/", nil)
		res, err := cc.RoundTrip(req)
		if err != nil {
			cc.Close()
			return nil, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return cc, nil
	}
}
