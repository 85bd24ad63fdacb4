package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/placeholder"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

func BenchmarkHandlerUnderTheLimit(b *testing.B) {
	key, _ := placeholder.Parse("{client_ip}")
	rules := []config.RateLimit{{Name: "default", KeyTemplate: key, Count: 1000000000, Window: time.Second, Interval: time.Nanosecond, Burst: 50}}
	h := New(rules, []Store{NewMemoryStore(DefaultMaxKeys, nil)}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(reqinfo.With(r.Context(), &reqinfo.Info{ClientIP: "192.0.2.1"}))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, r)
	}
}
