package waf

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/buffer"
	"github.com/gatehouse/gatehouse/internal/config"
)

// newTestHandler is the CRS at paranoia 1 with body_limit limit in front
// of a handler that records the body it got.
func newTestHandler(t *testing.T, lib *Library, limit int64, partial bool, got *string) *Handler {
	t.Helper()
	p := &config.WAFPolicy{Block: true, Paranoia: 1, Inbound: 5, Outbound: 4, BodyLimit: limit, PartialBodies: partial, Responses: true}
	return testHandler(t, lib, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = string(b)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	}))
}

// testHandler is policy p of lib in front of next, spooling bodies in a
// temporary directory.
func testHandler(tb testing.TB, lib *Library, p *config.WAFPolicy, next http.Handler) *Handler {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, _, err := New(lib, p, next, Options{Log: log, Spool: &buffer.Spool{Dir: tb.TempDir(), Memory: 1 << 10, Budget: buffer.NewBudget(1 << 30)}})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func post(h http.Handler, body string, chunked bool) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "http://app.example/form", strings.NewReader(body))
	if chunked {
		r.ContentLength = -1
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "text/html")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestBodyLimit(t *testing.T) {
	lib := NewLibrary(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var got string
	small := "name=" + strings.Repeat("a", 100)
	big := "name=" + strings.Repeat("a", 5000)
	attackLate := big + "&q=" + "1' OR '1'='1"

	reject := newTestHandler(t, lib, 4096, false, &got)
	for _, chunked := range []bool{false, true} {
		got = ""
		if w := post(reject, small, chunked); w.Code != 200 || got != small {
			t.Errorf("reject, small body (chunked %v): %d, upstream got %d bytes", chunked, w.Code, len(got))
		}
		got = ""
		if w := post(reject, big, chunked); w.Code != 413 || got != "" {
			t.Errorf("reject, big body (chunked %v): %d, upstream got %d bytes", chunked, w.Code, len(got))
		}
	}

	partial := newTestHandler(t, lib, 4096, true, &got)
	for _, chunked := range []bool{false, true} {
		got = ""
		if w := post(partial, big, chunked); w.Code != 200 || got != big {
			t.Errorf("partial, big body (chunked %v): %d, upstream got %d of %d bytes", chunked, w.Code, len(got), len(big))
		}
		// Past the limit nothing is inspected: the documented trade.
		got = ""
		if w := post(partial, attackLate, chunked); w.Code != 200 || got != attackLate {
			t.Errorf("partial, attack past the limit (chunked %v): %d", chunked, w.Code)
		}
		if w := post(partial, "q=1' OR '1'='1&"+big, chunked); w.Code != 403 {
			t.Errorf("partial, attack within the limit (chunked %v): %d, want 403", chunked, w.Code)
		}
	}
}
