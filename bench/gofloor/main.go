// Command gofloor is the least an HTTP/1.1 server in Go can do per request:
// it finds the end of each request head and writes a fixed 200 response,
// with no parsing, routing, logging or timeouts. It measures the floor that
// Go's runtime and network poller put under any Go server on a machine, to
// compare with nginx in bench/README.md:
//
//	go run ./bench/gofloor -listen 127.0.0.1:18199 &
//	wrk -t1 -c50 -d8s http://127.0.0.1:18199/
//
// With -loops N it is instead an event loop server, as nginx is: N loops,
// each on its own thread with its own epoll set and SO_REUSEPORT listener,
// reading and answering every ready connection inline, no goroutine per
// connection (Linux only): the floor of an event-loop front end in Go.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"log"
	"net"
)

const response = "HTTP/1.1 200 OK\r\nServer: gofloor\r\nContent-Type: text/plain\r\n" +
	"Content-Length: 6\r\n\r\nhello\n"

func main() {
	addr := flag.String("listen", "127.0.0.1:18199", "address to listen on")
	loops := flag.Int("loops", 0, "serve from this many event loops instead of a goroutine per connection")
	flag.Parse()
	if *loops > 0 {
		log.Fatal(serveLoops(*addr, *loops))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go serve(c)
	}
}

// serve answers every request head on c with the fixed response.
func serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	br := bufio.NewReaderSize(c, 4096)
	out := []byte(response)
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		data, _ := br.Peek(br.Buffered())
		end := bytes.Index(data, []byte("\r\n\r\n"))
		if end < 0 {
			if len(data) == br.Size() {
				return
			}
			if _, err := br.Peek(len(data) + 1); err != nil {
				return
			}
			continue
		}
		_, _ = br.Discard(end + 4)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
