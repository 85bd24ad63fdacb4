package auth

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// ForwardOptions configure forward auth.
type ForwardOptions struct {
	// URL is the auth service's endpoint.
	URL *url.URL
	// CopyHeaders are copied from the service's 2xx answer onto the
	// upstream request; PassHeaders are sent from the client's request
	// to the service.
	CopyHeaders, PassHeaders []string
	// Cache, when set, remembers an admission for identical credentials
	// (the PassHeaders' values) that long.
	Cache time.Duration
	// Timeout bounds the service's answer.
	Timeout time.Duration
	// PassCredentials keeps Authorization on the upstream request.
	PassCredentials bool
	// Failed, when set, counts the requests the service refused.
	Failed func()
	// Client makes the requests to the service.
	Client *http.Client
	// Log gets the service's failures.
	Log *slog.Logger
}

// Forward asks an external service about each request, as nginx's
// auth_request and Traefik's forwardAuth: a GET (no body) carrying the
// request's method, scheme, host, URI and client as X-Forwarded-* and the
// PassHeaders. A 2xx admits the request, with CopyHeaders copied onto it;
// a 401 or 403 goes to the client as it is (with its WWW-Authenticate
// and body), so does a 3xx (a login redirect); anything else, or no
// answer in time, refuses the request (500, or 503): it fails closed.
type Forward struct {
	*ForwardClient
	next http.Handler
}

// ForwardClient is one forward-auth configuration's state, shared by
// every route it guards: the connections to the service and the
// remembered admissions.
type ForwardClient struct {
	opt ForwardOptions

	mu    sync.Mutex
	cache map[[32]byte]admission
}

// admission is a remembered 2xx: the headers to copy, until when.
type admission struct {
	headers http.Header
	until   time.Time
}

// maxAdmissions bounds the remembered admissions.
const maxAdmissions = 4096

// maxAuthBody bounds the body of a refusal passed on to the client.
const maxAuthBody = 64 << 10

// NewForward wraps next in forward auth.
func NewForward(opt ForwardOptions, next http.Handler) *Forward {
	return NewForwardClient(opt).Wrap(next)
}

// Wrap guards next with the client's service.
func (f *ForwardClient) Wrap(next http.Handler) *Forward {
	return &Forward{ForwardClient: f, next: next}
}

// NewForwardClient returns the state of one forward-auth configuration.
func NewForwardClient(opt ForwardOptions) *ForwardClient {
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		opt.Client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &ForwardClient{opt: opt, cache: map[[32]byte]admission{}}
}

func (f *Forward) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, cacheable := f.cacheKey(r)
	if cacheable {
		if h, ok := f.remembered(key); ok {
			f.admit(w, r, h)
			return
		}
	}
	res, err := f.ask(r)
	if err != nil {
		// Unreachable or too slow: refused, not let through.
		f.opt.Log.Warn("forward auth failed", "url", f.opt.URL.Redacted(), "error", err, "request_id", reqinfo.From(r.Context()).ID)
		errpage.Write(w, http.StatusServiceUnavailable)
		return
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		h := http.Header{}
		for _, name := range f.opt.CopyHeaders {
			if v := res.Header.Values(name); len(v) > 0 {
				h[http.CanonicalHeaderKey(name)] = v
			}
		}
		if cacheable {
			f.remember(key, h)
		}
		f.admit(w, r, h)
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden ||
		res.StatusCode >= 300 && res.StatusCode < 400:
		if res.StatusCode >= 400 && f.opt.Failed != nil {
			f.opt.Failed()
		}
		for _, name := range []string{"Www-Authenticate", "Location", "Set-Cookie", "Content-Type", "Cache-Control"} {
			if v := res.Header.Values(name); len(v) > 0 {
				w.Header()[name] = v
			}
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, maxAuthBody))
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	default:
		f.opt.Log.Warn("forward auth answered neither 2xx, 3xx, 401 nor 403", "url", f.opt.URL.Redacted(), "status", res.StatusCode,
			"request_id", reqinfo.From(r.Context()).ID)
		errpage.Write(w, http.StatusInternalServerError)
	}
}

// ask sends the request's facts to the service.
func (f *ForwardClient) ask(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(r.Context(), f.opt.Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.opt.URL.String(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	info := reqinfo.From(r.Context())
	for _, name := range f.opt.PassHeaders {
		if v := r.Header.Values(name); len(v) > 0 {
			req.Header[http.CanonicalHeaderKey(name)] = v
		}
	}
	req.Header.Set("X-Forwarded-Method", r.Method)
	req.Header.Set("X-Forwarded-Proto", info.Scheme)
	req.Header.Set("X-Forwarded-Host", r.Host)
	req.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
	req.Header.Set("X-Forwarded-For", info.ClientIP)
	res, err := f.opt.Client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	res.Body = cancelOnClose{res.Body, cancel}
	return res, nil
}

// admit copies the service's headers onto the request and passes it on.
func (f *Forward) admit(w http.ResponseWriter, r *http.Request, h http.Header) {
	for k, v := range h {
		r.Header[k] = v
	}
	if !f.opt.PassCredentials {
		r.Header.Del("Authorization")
	}
	f.next.ServeHTTP(w, r)
}

// cacheKey hashes the credentials the service is shown; false when
// admissions are not remembered, or the request carries none.
func (f *ForwardClient) cacheKey(r *http.Request) ([32]byte, bool) {
	if f.opt.Cache <= 0 {
		return [32]byte{}, false
	}
	h := sha256.New()
	any := false
	for _, name := range f.opt.PassHeaders {
		for _, v := range r.Header.Values(name) {
			any = true
			_, _ = io.WriteString(h, name+"\x00"+v+"\x00")
		}
	}
	var key [32]byte
	h.Sum(key[:0])
	return key, any
}

func (f *ForwardClient) remembered(key [32]byte) (http.Header, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.cache[key]
	if !ok || time.Now().After(a.until) {
		return nil, false
	}
	return a.headers, true
}

func (f *ForwardClient) remember(key [32]byte, h http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cache) >= maxAdmissions {
		now := time.Now()
		for k, a := range f.cache {
			if now.After(a.until) || len(f.cache) >= maxAdmissions {
				delete(f.cache, k)
			}
		}
	}
	f.cache[key] = admission{headers: h, until: time.Now().Add(f.opt.Cache)}
}

// cancelOnClose ends the request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
