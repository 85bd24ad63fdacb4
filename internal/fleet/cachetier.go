package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// CacheTier is the HTTP cache's shared tier in the store: a string key
// per cache key (prefix:cache:KEY, readable, so that a purge by URL
// prefix can scan for it), and a short lock per key that collapses the
// fleet's misses.
type CacheTier struct{ f *Fleet }

// NewCacheTier returns the cache's tier in f's store.
func NewCacheTier(f *Fleet) *CacheTier { return &CacheTier{f: f} }

// Get returns what is stored under key, nil on a miss or while the store
// is down.
func (c *CacheTier) Get(ctx context.Context, key string) []byte {
	if !c.f.Up() {
		return nil
	}
	ctx, cancel := c.f.Call(ctx)
	defer cancel()
	v, err := c.f.client.Get(ctx, c.f.Key("cache", key)).Bytes()
	if c.f.Failed(err) || err != nil {
		return nil
	}
	return v
}

// Set stores val under key for ttl.
func (c *CacheTier) Set(ctx context.Context, key string, val []byte, ttl time.Duration) {
	if !c.f.Up() {
		return
	}
	ctx, cancel := c.f.Call(ctx)
	defer cancel()
	c.f.Failed(c.f.client.Set(ctx, c.f.Key("cache", key), val, ttl).Err())
}

// unlockScript deletes a lock only when it still holds this holder's
// token (an expired lock may have gone to someone else).
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Lock takes key's fetch lock for at most ttl. While the store is down
// every instance holds it (each goes to the origin).
func (c *CacheTier) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool) {
	if !c.f.Up() {
		return func() {}, true
	}
	lockKey := c.f.Key("cache-lock", key)
	token := newToken()
	cctx, cancel := c.f.Call(ctx)
	ok, err := c.f.client.SetNX(cctx, lockKey, token, ttl).Result()
	cancel()
	if c.f.Failed(err) {
		return func() {}, true
	}
	if !ok {
		return func() {}, false
	}
	return func() {
		ctx, cancel := c.f.Call(context.Background())
		defer cancel()
		c.f.Failed(unlockScript.Run(ctx, c.f.client, []string{lockKey}, token).Err())
	}, true
}

// Locked reports whether key's fetch lock is held; false when the store
// cannot say (the waiter then takes its own turn).
func (c *CacheTier) Locked(ctx context.Context, key string) bool {
	if !c.f.Up() {
		return false
	}
	ctx, cancel := c.f.Call(ctx)
	defer cancel()
	n, err := c.f.client.Exists(ctx, c.f.Key("cache-lock", key)).Result()
	if c.f.Failed(err) {
		return false
	}
	return n > 0
}

// Delete drops the keys.
func (c *CacheTier) Delete(ctx context.Context, keys ...string) {
	if len(keys) == 0 {
		return
	}
	// One call per key: in a Redis Cluster the keys are in other slots.
	for _, k := range keys {
		cctx, cancel := c.f.Call(ctx)
		err := c.f.client.Del(cctx, c.f.Key("cache", k)).Err()
		cancel()
		if c.f.Failed(err) {
			return
		}
	}
}

// DeletePrefix drops every key that starts with prefix, scanning each
// master of a cluster.
func (c *CacheTier) DeletePrefix(ctx context.Context, prefix string) {
	pattern := globEscape(c.f.Key("cache", prefix)) + "*"
	scan := func(ctx context.Context, client redis.Cmdable) error {
		iter := client.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			if err := client.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := c.f.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	} else {
		err = scan(ctx, c.f.client)
	}
	c.f.Failed(err)
}

// globEscape escapes what SCAN's MATCH pattern treats as special.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// newToken is a random value that tells one lock holder from another.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
