package accesslog

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestReopenLosesAndSplitsNothing rotates the file while writers log:
// every line lands whole in the old file or the new one.
func TestReopenLosesAndSplitsNothing(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/access.log"
	l, err := New(config.AccessLog{Format: "json", Output: path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const writers, each = 4, 2000
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				l.Log(&Record{Time: time.Now(), Method: "GET", URI: fmt.Sprintf("/%d/%d/%s", w, i, strings.Repeat("x", 80)), Status: 200})
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range []string{path + ".1", path} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if line == "" {
				continue
			}
			if !strings.HasPrefix(line, `{"time":`) || !strings.HasSuffix(line, "}") {
				t.Fatalf("split line in %s: %q", f, line)
			}
			total++
		}
	}
	if total != writers*each {
		t.Errorf("%d lines, want %d", total, writers*each)
	}
}

// rfc5424 matches the messages: PRI VERSION TIMESTAMP HOST APP PROCID MSGID SD MSG.
var rfc5424 = regexp.MustCompile(`^<190>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ gatehouse \d+ access - (\{.*\})$`)

func TestSyslogOverUDPAndTCP(t *testing.T) {
	// UDP: one datagram per record.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := New(config.AccessLog{Format: "json", Output: "syslog://" + pc.LocalAddr().String()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		l.Log(&Record{Time: time.Now(), Method: "GET", URI: "/udp/" + strconv.Itoa(i), Status: 200})
	}
	buf := make([]byte, 64<<10)
	for i := 0; i < 3; i++ {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		m := rfc5424.FindSubmatch(buf[:n])
		if m == nil || !strings.Contains(string(m[1]), `"uri":"/udp/`+strconv.Itoa(i)+`"`) {
			t.Fatalf("datagram %d: %q", i, buf[:n])
		}
	}
	l.Close()

	// TCP: octet-counted frames.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 10)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			size, err := br.ReadString(' ')
			if err != nil {
				return
			}
			n, _ := strconv.Atoi(strings.TrimSpace(size))
			msg := make([]byte, n)
			if _, err := io.ReadFull(br, msg); err != nil {
				return
			}
			got <- string(msg)
		}
	}()
	l, err = New(config.AccessLog{Format: "combined", Output: "syslog+tcp://" + ln.Addr().String()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		l.Log(&Record{Time: time.Now(), Remote: "1.2.3.4", Method: "GET", URI: "/tcp/" + strconv.Itoa(i), Proto: "HTTP/1.1", Status: 200})
	}
	for i := 0; i < 3; i++ {
		select {
		case msg := <-got:
			if !strings.HasPrefix(msg, "<190>1 ") || !strings.Contains(msg, `"GET /tcp/`+strconv.Itoa(i)+` HTTP/1.1"`) || strings.HasSuffix(msg, "\n") {
				t.Fatalf("frame %d: %q", i, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no frame over TCP")
		}
	}
	l.Close()
}

// TestSyslogDownNeverBlocks: records for a server that cannot be reached
// are dropped and counted, at once.
func TestSyslogDownNeverBlocks(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	var dropped atomic.Int64
	l, err := New(config.AccessLog{Format: "json", Output: "syslog+tcp://" + addr}, Options{Dropped: func() { dropped.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 3*syslogQueue; i++ {
		l.Log(&Record{Time: time.Now(), Method: "GET", URI: "/", Status: 200})
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("logging took %v with the server down", d)
	}
	l.Close()
	if dropped.Load() == 0 {
		t.Error("no record counted as dropped")
	}
}
