package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/gatehouse/gatehouse/internal/filewatch"
)

// KeySet is the public keys JWTs are checked against: a JWKS fetched from
// a URL (again every refresh interval, and at once, at most every
// minRefetch, when a token names a key it lacks, so a rotated key is
// honoured within seconds) or read from a file (again when it changes).
type KeySet struct {
	url     *url.URL
	file    string
	client  *http.Client
	log     *slog.Logger
	refresh time.Duration
	// minRefetch spaces the fetches an unknown kid makes.
	minRefetch time.Duration

	set atomic.Pointer[jwk.Set]

	mu        sync.Mutex
	lastFetch time.Time
	stamp     string
}

// Key set timings.
const (
	jwksRefresh  = 5 * time.Minute
	minRefetch   = 5 * time.Second
	jwksTimeout  = 5 * time.Second
	maxJWKSBytes = 1 << 20
)

// NewKeySet returns the keys of the JWKS at u or in file (one of them);
// a URL's keys are fetched by Run, a file is read now.
func NewKeySet(u *url.URL, file string, log *slog.Logger) (*KeySet, error) {
	k := &KeySet{url: u, file: file, log: log, refresh: jwksRefresh, minRefetch: minRefetch, client: &http.Client{Timeout: jwksTimeout}}
	if file != "" {
		if err := k.readFile(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Run fetches a URL's keys now and every refresh interval, or watches a
// file, until ctx ends.
func (k *KeySet) Run(ctx context.Context) {
	if k.file != "" {
		filewatch.Poll(ctx, k.file, k.stamp, 2*time.Second, k.readFile, func(err error) {
			k.log.Error("JWKS file not reloaded; the keys in force stay", "error", err)
		})
		return
	}
	t := time.NewTicker(k.refresh)
	defer t.Stop()
	for {
		k.claim(true)
		k.fetch(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *KeySet) readFile() error {
	k.stamp = filewatch.Stamp(k.file)
	data, err := os.ReadFile(k.file)
	if err != nil {
		return fmt.Errorf("jwks_file: %w", err)
	}
	set, err := jwk.Parse(data)
	if err != nil {
		return fmt.Errorf("jwks_file %s: %w", k.file, err)
	}
	k.set.Store(&set)
	return nil
}

// claim notes a fetch starting now; unless forced, false when the last
// one started less than minRefetch ago.
func (k *KeySet) claim(force bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !force && time.Since(k.lastFetch) < k.minRefetch {
		return false
	}
	k.lastFetch = time.Now()
	return true
}

// fetch gets the URL's keys; a failure keeps the keys in force.
func (k *KeySet) fetch(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url.String(), nil)
	if err != nil {
		return
	}
	res, err := k.client.Do(req)
	if err != nil {
		k.log.Warn("JWKS not fetched; the keys in force stay", "url", k.url.Redacted(), "error", err)
		return
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes))
	if err != nil || res.StatusCode != http.StatusOK {
		k.log.Warn("JWKS not fetched; the keys in force stay", "url", k.url.Redacted(), "status", res.StatusCode, "error", err)
		return
	}
	set, err := jwk.Parse(data)
	if err != nil {
		k.log.Warn("JWKS does not parse; the keys in force stay", "url", k.url.Redacted(), "error", err)
		return
	}
	k.set.Store(&set)
}

// lookup returns the key named kid (any key when kid is empty and the
// set holds one); unknown kid refetches a URL's keys at once, at most
// every minRefetch. false, true: no keys yet.
func (k *KeySet) lookup(ctx context.Context, kid string) (key jwk.Key, ok, noKeys bool) {
	if key, ok, noKeys = k.find(kid); ok || k.url == nil {
		return key, ok, noKeys
	}
	if !k.claim(false) {
		return nil, false, noKeys
	}
	k.fetch(ctx)
	return k.find(kid)
}

func (k *KeySet) find(kid string) (jwk.Key, bool, bool) {
	p := k.set.Load()
	if p == nil {
		return nil, false, true
	}
	set := *p
	if kid == "" {
		if set.Len() == 1 {
			key, ok := set.Key(0)
			return key, ok, false
		}
		return nil, false, false
	}
	key, ok := set.LookupKeyID(kid)
	return key, ok, false
}
