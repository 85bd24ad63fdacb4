package fleet

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
)

// ACMEStorage is certmagic's Storage in the fleet's store, so that one
// instance orders a certificate and every instance serves it. A value is
// a string key, prefix:acme:<certmagic key> (readable); an index of all
// keys (a sorted set, for listing by prefix) and their times sit beside
// them. Locks are keys with an expiry that their holder renews while it
// works, so that a holder that dies frees its lock within LockTTL.
type ACMEStorage struct {
	f *Fleet
	// LockTTL is how long a lock outlives its holder's last renewal
	// (default 60s); it is renewed every third of it.
	LockTTL time.Duration
	// LockPoll is how often a Lock call waiting for another holder
	// tries again (default 1s).
	LockPoll time.Duration

	mu   sync.Mutex
	held map[string]*heldLock
}

// heldLock is a lock this process holds: its token and the renewal
// that keeps it.
type heldLock struct {
	token string
	stop  context.CancelFunc
	done  chan struct{}
}

// NewACMEStorage returns certmagic's storage in f's store.
func NewACMEStorage(f *Fleet) *ACMEStorage {
	return &ACMEStorage{f: f, LockTTL: time.Minute, LockPoll: time.Second, held: map[string]*heldLock{}}
}

var (
	_ certmagic.Storage          = (*ACMEStorage)(nil)
	_ certmagic.TryLocker        = (*ACMEStorage)(nil)
	_ certmagic.LockLeaseRenewer = (*ACMEStorage)(nil)
)

func (s *ACMEStorage) valueKey(key string) string { return s.f.Key("acme", key) }
func (s *ACMEStorage) indexKey() string           { return s.f.Key("acme-index") }
func (s *ACMEStorage) timesKey() string           { return s.f.Key("acme-modified") }
func (s *ACMEStorage) lockKey(name string) string { return s.f.Key("acme-lock", name) }

// String names the storage in certmagic's logs.
func (s *ACMEStorage) String() string { return "redis:" + s.f.Key("acme") }

// Store puts value at key.
func (s *ACMEStorage) Store(ctx context.Context, key string, value []byte) error {
	c := s.f.client
	if err := c.Set(ctx, s.valueKey(key), value, 0).Err(); err != nil {
		s.f.Failed(err)
		return fmt.Errorf("acme storage: store %s: %w", key, err)
	}
	pipe := c.Pipeline()
	pipe.ZAdd(ctx, s.indexKey(), redis.Z{Member: key})
	pipe.HSet(ctx, s.timesKey(), key, time.Now().UnixMilli())
	if _, err := pipe.Exec(ctx); err != nil {
		s.f.Failed(err)
		return fmt.Errorf("acme storage: index %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key; fs.ErrNotExist when there is none.
func (s *ACMEStorage) Load(ctx context.Context, key string) ([]byte, error) {
	v, err := s.f.client.Get(ctx, s.valueKey(key)).Bytes()
	if err == redis.Nil {
		return nil, fmt.Errorf("acme storage: %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		s.f.Failed(err)
		return nil, fmt.Errorf("acme storage: load %s: %w", key, err)
	}
	return v, nil
}

// under lists the indexed keys that start with dir + "/" (every key
// for dir "").
func (s *ACMEStorage) under(ctx context.Context, dir string) ([]string, error) {
	min, max := "-", "+"
	if dir != "" {
		min, max = "["+dir+"/", "("+dir+"/\xff"
	}
	keys, err := s.f.client.ZRangeByLex(ctx, s.indexKey(), &redis.ZRangeBy{Min: min, Max: max}).Result()
	if err != nil {
		s.f.Failed(err)
		return nil, fmt.Errorf("acme storage: list %s: %w", dir, err)
	}
	return keys, nil
}

// Delete deletes key, and every key under it.
func (s *ACMEStorage) Delete(ctx context.Context, key string) error {
	keys, err := s.under(ctx, key)
	if err != nil {
		return err
	}
	for _, k := range append(keys, key) {
		pipe := s.f.client.Pipeline()
		pipe.Del(ctx, s.valueKey(k))
		pipe.ZRem(ctx, s.indexKey(), k)
		pipe.HDel(ctx, s.timesKey(), k)
		if _, err := pipe.Exec(ctx); err != nil {
			s.f.Failed(err)
			return fmt.Errorf("acme storage: delete %s: %w", k, err)
		}
	}
	return nil
}

// Exists reports whether key is a value or has values under it.
func (s *ACMEStorage) Exists(ctx context.Context, key string) bool {
	n, err := s.f.client.Exists(ctx, s.valueKey(key)).Result()
	if err == nil && n > 0 {
		return true
	}
	keys, err := s.under(ctx, key)
	return err == nil && len(keys) > 0
}

// List returns the keys under path: all of them (recursive), or its
// direct entries, values and directories alike.
func (s *ACMEStorage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	keys, err := s.under(ctx, path)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("acme storage: %s: %w", path, fs.ErrNotExist)
	}
	if recursive {
		return keys, nil
	}
	seen := map[string]bool{}
	var out []string
	base := path
	if base != "" {
		base += "/"
	}
	for _, k := range keys {
		rest := strings.TrimPrefix(k, base)
		first, _, _ := strings.Cut(rest, "/")
		if e := base + first; !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Stat describes key: a value (terminal) or a directory of values.
func (s *ACMEStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	n, err := s.f.client.StrLen(ctx, s.valueKey(key)).Result()
	if err != nil {
		s.f.Failed(err)
		return certmagic.KeyInfo{}, fmt.Errorf("acme storage: stat %s: %w", key, err)
	}
	if n > 0 || s.f.client.Exists(ctx, s.valueKey(key)).Val() > 0 {
		info := certmagic.KeyInfo{Key: key, Size: n, IsTerminal: true}
		if ms, err := s.f.client.HGet(ctx, s.timesKey(), key).Result(); err == nil {
			if v, err := strconv.ParseInt(ms, 10, 64); err == nil {
				info.Modified = time.UnixMilli(v)
			}
		}
		return info, nil
	}
	if keys, err := s.under(ctx, key); err == nil && len(keys) > 0 {
		return certmagic.KeyInfo{Key: key}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("acme storage: %s: %w", key, fs.ErrNotExist)
}

// renewScript extends a lock's expiry when it still holds the token.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// Lock takes the lock name, waiting while another holder has it (until
// it unlocks, or its lock expires) or until ctx ends.
func (s *ACMEStorage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if ok {
			return nil
		}
		if err != nil && ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(s.LockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("acme storage: lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// TryLock takes the lock name if it is free.
func (s *ACMEStorage) TryLock(ctx context.Context, name string) (bool, error) {
	token := newToken()
	ok, err := s.f.client.SetNX(ctx, s.lockKey(name), token, s.LockTTL).Result()
	if err != nil {
		s.f.Failed(err)
		return false, fmt.Errorf("acme storage: lock %s: %w", name, err)
	}
	if !ok {
		return false, nil
	}
	rctx, stop := context.WithCancel(context.Background())
	h := &heldLock{token: token, stop: stop, done: make(chan struct{})}
	s.mu.Lock()
	s.held[name] = h
	s.mu.Unlock()
	go s.keep(rctx, name, h)
	return true, nil
}

// keep renews a held lock every third of its lifetime until it is
// unlocked.
func (s *ACMEStorage) keep(ctx context.Context, name string, h *heldLock) {
	defer close(h.done)
	t := time.NewTicker(s.LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := s.f.Call(ctx)
		err := renewScript.Run(cctx, s.f.client, []string{s.lockKey(name)}, h.token, s.LockTTL.Milliseconds()).Err()
		cancel()
		s.f.Failed(err)
	}
}

// RenewLockLease makes the held lock name last lease from now.
func (s *ACMEStorage) RenewLockLease(ctx context.Context, name string, lease time.Duration) error {
	s.mu.Lock()
	h := s.held[name]
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("acme storage: renew %s: not held here", name)
	}
	n, err := renewScript.Run(ctx, s.f.client, []string{s.lockKey(name)}, h.token, lease.Milliseconds()).Int()
	if err != nil {
		s.f.Failed(err)
		return fmt.Errorf("acme storage: renew %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("acme storage: renew %s: the lock expired and went to another holder", name)
	}
	return nil
}

// Unlock releases the lock name, if this process still holds it.
func (s *ACMEStorage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("acme storage: unlock %s: not held here", name)
	}
	h.stop()
	<-h.done
	if err := unlockScript.Run(ctx, s.f.client, []string{s.lockKey(name)}, h.token).Err(); err != nil {
		s.f.Failed(err)
		return fmt.Errorf("acme storage: unlock %s: %w", name, err)
	}
	return nil
}

// ACMEStorage is the fleet's certmagic storage, one per process (its
// locks are this process's).
func (f *Fleet) ACMEStorage() *ACMEStorage {
	f.acmeOnce.Do(func() { f.acme = NewACMEStorage(f) })
	return f.acme
}
