package accesslog

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// syslogQueue bounds the records waiting for the syslog server: beyond it
// records are dropped rather than ever making a request wait.
const syslogQueue = 8192

// syslogPRI is facility local7 (23), severity info (6), as nginx's
// access_log syslog: default: <190>.
const syslogPRI = "<190>"

// syslogOutput sends each line as one RFC 5424 message to a syslog
// server: a datagram over UDP, or octet-counted frames (RFC 6587 3.4.1)
// over TCP, from a goroutine of its own fed by a bounded queue. A server
// that is down or slow never blocks a request: records that do not fit
// the queue are dropped, counted, and reported in the log once a minute.
type syslogOutput struct {
	network, addr string
	header        []byte // " HOSTNAME APP-NAME PROCID MSGID SD "
	queue         chan []byte
	done          chan struct{}
	dropped       atomic.Uint64
	onDrop        func()
	log           *slog.Logger
}

func newSyslogOutput(url string, opt Options) (*syslogOutput, error) {
	network, addr := "udp", strings.TrimPrefix(url, "syslog://")
	if rest, ok := strings.CutPrefix(url, "syslog+tcp://"); ok {
		network, addr = "tcp", rest
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("access log %q: want syslog://HOST:PORT or syslog+tcp://HOST:PORT", url)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "-"
	}
	o := &syslogOutput{
		network: network, addr: addr, queue: make(chan []byte, syslogQueue), done: make(chan struct{}),
		header: fmt.Appendf(nil, " %s gatehouse %d access - ", printASCII(host, 255), os.Getpid()),
		onDrop: opt.Dropped, log: opt.Log,
	}
	go o.send()
	return o, nil
}

// printASCII keeps the printable ASCII of s (RFC 5424 header fields), at
// most max bytes.
func printASCII(s string, max int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// write queues the message of one line, or drops it when the queue is
// full.
func (o *syslogOutput) write(line []byte) {
	msg := make([]byte, 0, len(syslogPRI)+40+len(o.header)+len(line))
	msg = append(msg, syslogPRI...)
	msg = append(msg, '1', ' ')
	msg = time.Now().UTC().AppendFormat(msg, "2006-01-02T15:04:05.000000Z")
	msg = append(msg, o.header...)
	msg = append(msg, line[:len(line)-1]...) // without the newline
	select {
	case o.queue <- msg:
	default:
		o.dropped.Add(1)
		if o.onDrop != nil {
			o.onDrop()
		}
	}
}

// send delivers queued messages until the queue closes, connecting (again)
// as needed.
func (o *syslogOutput) send() {
	defer close(o.done)
	report := time.NewTicker(time.Minute)
	defer report.Stop()
	var conn net.Conn
	var w *bufio.Writer
	var reported uint64
	var retryAt time.Time
	defer func() {
		if conn != nil {
			_ = w.Flush()
			_ = conn.Close()
		}
	}()
	for {
		var msg []byte
		var ok bool
		select {
		case msg, ok = <-o.queue:
			if !ok {
				return
			}
		case <-report.C:
			if n := o.dropped.Load(); n > reported {
				o.log.Warn("access log records dropped: the syslog server could not take them", "addr", o.addr, "dropped", n-reported)
				reported = n
			}
			continue
		}
		if conn == nil {
			if time.Now().Before(retryAt) {
				o.drop()
				continue
			}
			c, err := net.DialTimeout(o.network, o.addr, 2*time.Second)
			if err != nil {
				o.log.Warn("syslog server unreachable", "addr", o.addr, "error", err)
				retryAt = time.Now().Add(time.Second)
				o.drop()
				continue
			}
			conn, w = c, bufio.NewWriterSize(c, 64<<10)
		}
		err := o.deliver(conn, w, msg)
		if err != nil {
			o.log.Warn("syslog server connection lost", "addr", o.addr, "error", err)
			_ = conn.Close()
			conn, w = nil, nil
			o.drop()
		}
	}
}

// deliver writes one message (and, over TCP, those queued behind it) to
// the connection.
func (o *syslogOutput) deliver(conn net.Conn, w *bufio.Writer, msg []byte) error {
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if o.network == "udp" {
		_, err := conn.Write(msg)
		return err
	}
	for {
		var num [20]byte
		_, _ = w.Write(strconv.AppendInt(num[:0], int64(len(msg)), 10))
		_ = w.WriteByte(' ')
		_, _ = w.Write(msg)
		select {
		case next, ok := <-o.queue:
			if ok {
				msg = next
				continue
			}
			return w.Flush()
		default:
			return w.Flush()
		}
	}
}

func (o *syslogOutput) drop() {
	o.dropped.Add(1)
	if o.onDrop != nil {
		o.onDrop()
	}
}

// reopen has nothing to do: a syslog server has no file to rotate.
func (o *syslogOutput) reopen() error { return nil }

// close sends what is queued (bounded by the connection's write timeout)
// and closes the connection.
func (o *syslogOutput) close() error {
	close(o.queue)
	<-o.done
	return nil
}
