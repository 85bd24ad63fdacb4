package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// limit is one configured rate limit with the store that counts it.
type limit struct {
	cfg   *config.RateLimit
	rule  Rule
	store Store
	// policy is the limit's RateLimit-Policy item; quoted its name as
	// the RateLimit header gives it.
	policy, quoted string
}

// Handler refuses (or delays) requests over a route's rate limits before
// they reach the rest of the route.
type Handler struct {
	next   http.Handler
	limits []limit
	// policyValue is the RateLimit-Policy field, shared by every
	// response (never modified).
	policyValue []string
	refused     func()
}

// New wraps next in the limits; stores gives the store of each limit (in
// order); refused, when set, is called for each request refused.
func New(rules []config.RateLimit, stores []Store, next http.Handler, refused func()) *Handler {
	h := &Handler{next: next, refused: refused}
	items := make([]string, 0, len(rules))
	for i := range rules {
		c := &rules[i]
		l := limit{cfg: c, rule: Rule{Interval: c.Interval, Burst: c.Burst, Delay: c.Delay}, store: stores[i], quoted: strconv.Quote(c.Name)}
		l.policy = l.quoted + ";q=" + strconv.Itoa(c.Count) + ";w=" + strconv.Itoa(int(c.Window/time.Second))
		h.limits = append(h.limits, l)
		items = append(items, l.policy)
	}
	h.policyValue = []string{strings.Join(items, ", ")}
	return h
}

// ServeHTTP takes one request from each limit's key; any refusal answers
// 429, and in delay mode the request waits for the latest of its turns.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := reqinfo.From(r.Context())
	var wait time.Duration
	var buf [96]byte
	state := buf[:0]
	for i := range h.limits {
		l := &h.limits[i]
		if l.cfg.KeyTemplate.Empty(r, info) {
			continue
		}
		d := l.store.Take(l.cfg.KeyTemplate.Render(r, info), l.rule)
		if !d.Allowed {
			h.refuse(w, l, d)
			return
		}
		if l.cfg.Delay {
			wait = max(wait, d.Delay)
		}
		if len(state) > 0 {
			state = append(state, ", "...)
		}
		state = append(state, l.quoted...)
		state = append(state, ";r="...)
		state = strconv.AppendInt(state, int64(d.Remaining), 10)
		state = append(state, ";t="...)
		state = strconv.AppendInt(state, int64(seconds(d.Reset)), 10)
	}
	if len(state) > 0 {
		hdr := w.Header()
		hdr["Ratelimit-Policy"] = h.policyValue
		hdr["Ratelimit"] = []string{string(state)}
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

// refuse answers the limit's status (429 by default) with when to come
// back.
func (h *Handler) refuse(w http.ResponseWriter, l *limit, d Decision) {
	if h.refused != nil {
		h.refused()
	}
	hdr := w.Header()
	retry := strconv.Itoa(max(seconds(d.RetryAfter), 1))
	hdr["Retry-After"] = []string{retry}
	hdr["Ratelimit-Policy"] = h.policyValue
	hdr["Ratelimit"] = []string{l.quoted + ";r=0;t=" + retry}
	status := l.cfg.Status
	if status == 0 {
		status = http.StatusTooManyRequests
	}
	if d.Unavailable {
		status = http.StatusServiceUnavailable
	}
	errpage.Write(w, status)
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
