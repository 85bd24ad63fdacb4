package waf

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

func benchHandler(b *testing.B) *Handler {
	b.Helper()
	p := &config.WAFPolicy{Block: true, Paranoia: 1, Inbound: 5, Outbound: 4, BodyLimit: config.DefaultWAFBodyLimit, Responses: true}
	return testHandler(b, NewLibrary(slog.New(slog.NewTextHandler(io.Discard, nil))), p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>"+strings.Repeat("x", 1000)+"</body></html>")
	}))
}

func benchRequest(method, body string) *http.Request {
	r := httptest.NewRequest(method, "http://bench.example/", strings.NewReader(body))
	r.Header.Set("Accept", "text/html,application/xhtml+xml")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0")
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return r
}

func BenchmarkSmallGET(b *testing.B) {
	h := benchHandler(b)
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, benchRequest("GET", ""))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkForm100K(b *testing.B) {
	h := benchHandler(b)
	var form strings.Builder
	for i := range 50 {
		form.WriteString("field")
		form.WriteString(strings.Repeat("1", i%3+1))
		form.WriteString(string(rune('a'+i%26)) + "=" + strings.Repeat("v", 2000) + "&")
	}
	form.WriteString("last=1")
	body := form.String()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, benchRequest("POST", body))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
