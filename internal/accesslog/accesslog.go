// Package accesslog writes one line per request, as JSON (the default) or in
// the combined format nginx and Apache use.
package accesslog

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/config"
)

// Record is what is logged about one request.
type Record struct {
	Time         time.Time
	Remote       string
	Method       string
	Host         string
	URI          string
	Proto        string
	Status       int
	Bytes        int64
	Duration     time.Duration
	Upstream     string
	UpstreamTime time.Duration
	RequestID    string
	UserAgent    string
	Referer      string
	// Route is the configured path of the route that answered ("" for
	// none); TraceID the trace the request belongs to, when tracing is
	// on; Cache what the HTTP cache did ("" where none applies).
	Route   string
	TraceID string
	Cache   string
	// WAF, WAFRules and WAFScore are what the WAF did, the ids of the
	// rules that matched and the anomaly score ("" and 0 when no rule
	// matched).
	WAF      string
	WAFRules string
	WAFScore int
}

// Logger writes records to one output. A nil *Logger logs nothing.
type Logger struct {
	out      output
	combined bool
	bufPool  sync.Pool
	// second is the JSON time stamp of the current second, up to its
	// fraction, formatted once per second.
	second atomic.Pointer[secondStamp]
}

// output takes whole lines.
type output interface {
	// write takes one line, ended by a newline; it must not keep line.
	write(line []byte)
	// reopen opens a file output again (after log rotation).
	reopen() error
	close() error
}

// secondStamp is "2006-01-02T15:04:05." for one second of UTC time.
type secondStamp struct {
	unix int64
	text []byte
}

// Options are what a logger takes besides its config.
type Options struct {
	// Log receives the logger's own problems (a syslog server that
	// cannot be reached, records dropped).
	Log *slog.Logger
	// Dropped is called for every record dropped because the output could
	// not take it (a syslog server that cannot keep up).
	Dropped func()
}

// New opens the output named by cfg: stdout, stderr, off, a file path
// (appended to, created 0640), or syslog://HOST:PORT (UDP) and
// syslog+tcp://HOST:PORT (RFC 5424 messages).
func New(cfg config.AccessLog, opt Options) (*Logger, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	l := &Logger{combined: cfg.Format == "combined"}
	l.bufPool.New = func() any { b := make([]byte, 0, 512); return &b }
	switch {
	case cfg.Output == "off":
		return nil, nil
	case cfg.Output == "" || cfg.Output == "stdout":
		l.out = newStreamOutput(os.Stdout, "")
	case cfg.Output == "stderr":
		l.out = newStreamOutput(os.Stderr, "")
	case strings.HasPrefix(cfg.Output, "syslog://") || strings.HasPrefix(cfg.Output, "syslog+tcp://"):
		out, err := newSyslogOutput(cfg.Output, opt)
		if err != nil {
			return nil, err
		}
		l.out = out
	default:
		f, err := openLogFile(cfg.Output)
		if err != nil {
			return nil, err
		}
		l.out = newStreamOutput(f, cfg.Output)
	}
	return l, nil
}

// Reopen opens a file output again, for log rotation (SIGUSR1): lines
// written before go to the old file, whole, and lines after to the new.
// Other outputs need nothing.
func (l *Logger) Reopen() error {
	if l == nil {
		return nil
	}
	return l.out.reopen()
}

// Close writes out what is buffered and closes a file output.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	return l.out.close()
}

// Log writes one record.
func (l *Logger) Log(r *Record) {
	if l == nil {
		return
	}
	bp := l.bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if l.combined {
		b = appendCombined(b, r)
	} else {
		b = l.appendJSON(b, r)
	}
	l.out.write(b)
	*bp = b
	l.bufPool.Put(bp)
}

func (l *Logger) appendJSON(b []byte, r *Record) []byte {
	b = append(b, `{"time":"`...)
	b = l.appendTime(b, r.Time)
	b = append(b, `","remote":`...)
	b = appendJSONString(b, r.Remote)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, r.Method)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, r.Host)
	b = append(b, `,"uri":`...)
	b = appendJSONString(b, r.URI)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, r.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, r.Bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'f', 3, 64)
	if r.Upstream != "" {
		b = append(b, `,"upstream":`...)
		b = appendJSONString(b, r.Upstream)
		b = append(b, `,"upstream_time_ms":`...)
		b = strconv.AppendFloat(b, float64(r.UpstreamTime.Microseconds())/1000, 'f', 3, 64)
	}
	if r.Route != "" {
		b = append(b, `,"route":`...)
		b = appendJSONString(b, r.Route)
	}
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, r.RequestID)
	if r.TraceID != "" {
		b = append(b, `,"trace_id":`...)
		b = appendJSONString(b, r.TraceID)
	}
	if r.Cache != "" {
		b = append(b, `,"cache":`...)
		b = appendJSONString(b, r.Cache)
	}
	if r.WAF != "" {
		b = append(b, `,"waf":`...)
		b = appendJSONString(b, r.WAF)
		b = append(b, `,"waf_rules":`...)
		b = appendJSONString(b, r.WAFRules)
		b = append(b, `,"waf_score":`...)
		b = strconv.AppendInt(b, int64(r.WAFScore), 10)
	}
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, r.UserAgent)
	b = append(b, `,"referer":`...)
	b = appendJSONString(b, r.Referer)
	return append(b, "}\n"...)
}

// appendCombined writes the combined log format followed by the request ID,
// upstream address and times:
// remote - - [time] "request" status bytes "referer" "agent" id upstream duration upstream_time
func appendCombined(b []byte, r *Record) []byte {
	b = append(b, r.Remote...)
	b = append(b, " - - ["...)
	b = r.Time.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `] "`...)
	b = appendEscaped(b, r.Method)
	b = append(b, ' ')
	b = appendEscaped(b, r.URI)
	b = append(b, ' ')
	b = appendEscaped(b, r.Proto)
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.Bytes, 10)
	b = append(b, ` "`...)
	b = appendEscaped(b, r.Referer)
	b = append(b, `" "`...)
	b = appendEscaped(b, r.UserAgent)
	b = append(b, `" `...)
	b = appendEscaped(b, r.RequestID)
	b = append(b, ' ')
	if r.Upstream == "" {
		b = append(b, '-')
	} else {
		b = appendEscaped(b, r.Upstream)
	}
	b = append(b, ' ')
	b = strconv.AppendFloat(b, r.Duration.Seconds(), 'f', 3, 64)
	b = append(b, ' ')
	if r.Upstream == "" {
		b = append(b, '-')
	} else {
		b = strconv.AppendFloat(b, r.UpstreamTime.Seconds(), 'f', 3, 64)
	}
	return append(b, '\n')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	// The common case, a string with nothing to escape, is appended whole.
	clean := 0
	for clean < len(s) && jsonSafe(s[clean]) {
		clean++
	}
	b = append(b, s[:clean]...)
	for i := clean; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

// jsonSafe reports whether c stands for itself inside a JSON string.
func jsonSafe(c byte) bool {
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
}

// appendEscaped appends s with quotes, backslashes, control and non-ASCII
// bytes written as \xHH, as nginx does, so a line cannot be forged.
func appendEscaped(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendTime appends t in UTC as 2006-01-02T15:04:05.000Z; all but the
// milliseconds are formatted once per second.
func (l *Logger) appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	st := l.second.Load()
	if st == nil || st.unix != t.Unix() {
		st = &secondStamp{unix: t.Unix(), text: formatSecond(t)}
		l.second.Store(st)
	}
	b = append(b, st.text...)
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// formatSecond formats t as 2006-01-02T15:04:05. without the layout
// parsing of time.Format.
func formatSecond(t time.Time) []byte {
	b := make([]byte, 0, 20)
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	return append(b, '.')
}

// appendDigits appends n zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var d [8]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}
