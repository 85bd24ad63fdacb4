package cache

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// Shared is a tier of the cache that every instance of a fleet sees (the
// fleet's store): behind the memory and disk tiers, it holds responses up
// to a size limit, and it collapses the fleet's misses of one key with a
// short lock.
type Shared interface {
	// Get returns what is stored under key, nil on a miss or a failure.
	Get(ctx context.Context, key string) []byte
	// Set stores val under key for ttl.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration)
	// Lock takes key's fetch lock for at most ttl; held false: another
	// instance holds it. unlock is never nil.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), held bool)
	// Locked reports whether key's fetch lock is held (false when the
	// store cannot say: the waiter then takes its own turn).
	Locked(ctx context.Context, key string) bool
	// Delete drops the keys; DeletePrefix every key that starts with
	// prefix.
	Delete(ctx context.Context, keys ...string)
	DeletePrefix(ctx context.Context, prefix string)
}

// SharedOptions configure the shared tier of a Store.
type SharedOptions struct {
	Tier Shared
	// MaxObject is the largest body it keeps.
	MaxObject int64
	// LockTimeout bounds how long a miss waits for another instance's
	// origin request of the same key.
	LockTimeout time.Duration
}

// sharedPoll is how often a miss waiting on another instance's origin
// request looks for its response.
const sharedPoll = 20 * time.Millisecond

// sharedMinTTL keeps a response that needs validation (no freshness
// left, but validators) in the shared tier for this long.
const sharedMinTTL = time.Minute

// encodeEntry makes e one value: the length of its metadata in JSON, the
// metadata, the body.
func encodeEntry(e *Entry, body []byte) ([]byte, error) {
	meta, err := json.Marshal(&e.Meta)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4, 4+len(meta)+len(body))
	binary.BigEndian.PutUint32(out, uint32(len(meta)))
	out = append(out, meta...)
	return append(out, body...), nil
}

// decodeEntry reads a value encodeEntry made.
func decodeEntry(v []byte) (*Entry, error) {
	if len(v) < 4 {
		return nil, errors.New("cache: short shared entry")
	}
	n := int(binary.BigEndian.Uint32(v))
	if n > len(v)-4 {
		return nil, errors.New("cache: truncated shared entry")
	}
	e := &Entry{}
	if err := json.Unmarshal(v[4:4+n], &e.Meta); err != nil {
		return nil, err
	}
	e.body = v[4+n:]
	if int64(len(e.body)) != e.Meta.Size {
		return nil, errors.New("cache: shared entry's body is not its size")
	}
	e.init()
	return e, nil
}

// lookupShared looks key up in the shared tier; a variant that matches
// r comes into the local tiers.
func (s *Store) lookupShared(primary string, r *http.Request) *Entry {
	if s.shared.Tier == nil {
		return nil
	}
	v := s.shared.Tier.Get(r.Context(), primary)
	if v == nil {
		return nil
	}
	e, err := decodeEntry(v)
	if err != nil || e.Meta.Primary != primary || e.Meta.Variant == "" {
		return nil
	}
	vs := &variants{entries: []*Entry{e}}
	if vs.match(r) == nil {
		return nil
	}
	s.Stats.SharedHits.Add(1)
	s.index(e.Meta.URL, e.Meta.Primary)
	if e.Meta.Size <= s.memoryObjectLimit() {
		s.putMemory(e)
	}
	return e
}

// putShared copies e to the shared tier when it is small enough, for as
// long as it is fresh plus the time it may be served stale.
func (s *Store) putShared(ctx context.Context, e *Entry) {
	if s.shared.Tier == nil || e.Meta.Size > s.shared.MaxObject {
		return
	}
	f := e.freshness(time.Now())
	ttl := f.Lifetime - f.Age + max(staleWindow(f.CC.StaleWhileRevalidate, e.Meta.SWR), staleWindow(f.CC.StaleIfError, e.Meta.SIE))
	if ttl < sharedMinTTL && (e.Meta.Header["Etag"] != nil || e.Meta.Header["Last-Modified"] != nil) {
		ttl = max(ttl, sharedMinTTL)
	}
	if ttl < time.Second {
		return
	}
	body := e.body
	if body == nil {
		r, c, err := e.Body()
		if err != nil {
			return
		}
		body, err = io.ReadAll(io.LimitReader(r, e.Meta.Size+1))
		c.Close()
		if err != nil || int64(len(body)) != e.Meta.Size {
			return
		}
	}
	v, err := encodeEntry(e, body)
	if err != nil {
		return
	}
	s.shared.Tier.Set(ctx, e.Meta.Primary, v, ttl)
	s.Stats.SharedStores.Add(1)
}

// sharedClaim is a miss's turn in the fleet: held, this instance fetches
// (and calls unlock once the response is stored); not held, another
// instance is fetching and found, when not nil, is its response. A lock
// let go without a response to share (the page could not be stored)
// ends the wait: this instance takes its turn.
func (s *Store) sharedClaim(primary string, r *http.Request) (unlock func(), found *Entry) {
	if s.shared.Tier == nil {
		return func() {}, nil
	}
	unlock, held := s.shared.Tier.Lock(r.Context(), primary, s.shared.LockTimeout)
	if held {
		return unlock, nil
	}
	deadline := time.Now().Add(s.shared.LockTimeout)
	t := time.NewTicker(sharedPoll)
	defer t.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-r.Context().Done():
			return func() {}, nil
		case <-t.C:
		}
		if e := s.lookupShared(primary, r); e != nil {
			return func() {}, e
		}
		if !s.shared.Tier.Locked(r.Context(), primary) {
			if unlock, held := s.shared.Tier.Lock(r.Context(), primary, s.shared.LockTimeout); held {
				return unlock, nil
			}
		}
	}
	return func() {}, nil
}

// purgeShared drops the shared tier's copies of url: under the keys this
// instance knows for it and under the default key.
func (s *Store) purgeShared(url string, keys []string) {
	if s.shared.Tier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.shared.Tier.Delete(ctx, append(keys, "GET "+url)...)
}

// purgeSharedPrefix drops the shared tier's copies of every URL that
// starts with prefix (under the default key).
func (s *Store) purgeSharedPrefix(prefix string) {
	if s.shared.Tier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.shared.Tier.DeletePrefix(ctx, "GET "+prefix)
}
