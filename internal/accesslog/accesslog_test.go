package accesslog

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestJSONLineIsValidJSONWhateverTheInput(t *testing.T) {
	r := &Record{Time: time.Unix(0, 0), Remote: "127.0.0.1", Method: "GET", Host: "x\"y", URI: "/a\nb\x00\xff\u00e9",
		Proto: "HTTP/1.1", Status: 200, Bytes: 5, Duration: 1500 * time.Microsecond, Upstream: "10.0.0.1:80",
		RequestID: "id", UserAgent: "ua\\\"", Referer: "\x7f"}
	line := (&Logger{}).appendJSON(nil, r)
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if got["uri"] != "/a\nb\x00\ufffd\u00e9" || got["host"] != "x\"y" || got["duration_ms"] != 1.5 || got["upstream"] != "10.0.0.1:80" {
		t.Errorf("decoded %v", got)
	}
}

// The time stamp is right across seconds, with its cached part renewed.
func TestJSONTimeStamps(t *testing.T) {
	l := &Logger{}
	for _, ts := range []string{"2026-11-29T19:59:59.998Z", "2026-11-29T19:59:59.999Z", "2026-11-29T20:00:00.000Z", "2027-01-01T00:00:00.007Z"} {
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(l.appendTime(nil, tm.In(time.FixedZone("X", 3600)))); got != ts {
			t.Errorf("got %s, want %s", got, ts)
		}
	}
}

func TestCombinedLineCannotBeForged(t *testing.T) {
	r := &Record{Time: time.Unix(0, 0).UTC(), Remote: "1.2.3.4", Method: "GET", URI: "/x\" 200 1 \"\n", Proto: "HTTP/1.1", Status: 404}
	line := string(appendCombined(nil, r))
	if strings.Count(line, "\n") != 1 || strings.Count(line, `"`) != 6 {
		t.Errorf("forged fields survive: %q", line)
	}
	if !strings.HasPrefix(line, `1.2.3.4 - - [01/Jan/1970:00:00:00 +0000] "GET /x\x22 200 1 \x22\x0a HTTP/1.1" 404 0 "-" "-"`) {
		t.Errorf("line: %q", line)
	}
}

func TestFileOutputIsWrittenOnClose(t *testing.T) {
	path := t.TempDir() + "/access.log"
	l, err := New(config.AccessLog{Format: "json", Output: path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3000; i++ { // more than one buffer's worth
		l.Log(&Record{Time: time.Unix(0, 0), Method: "GET", URI: "/" + strings.Repeat("x", 50), Status: 200})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3000 {
		t.Fatalf("%d lines, want 3000", len(lines))
	}
	for _, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("broken line %q", line)
		}
	}
}
