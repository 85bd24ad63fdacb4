package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse/gatehouse/internal/filewatch"
)

// Passwords is an htpasswd file in force: read again when it changes,
// and checked so that a storm of wrong passwords cannot slow everyone
// else. bcrypt work is bounded (a slot per CPU) and each client address
// has at most one check running, so one address's storm takes one slot
// while other clients get the rest; passwords verified recently are
// remembered (by a hash of user and password, never the password) and
// pass without bcrypt.
type Passwords struct {
	path string
	log  *slog.Logger

	users atomic.Pointer[Users]
	stamp string

	slots   chan struct{}
	mu      sync.Mutex
	clients map[string]*clientTurn

	cacheMu sync.Mutex
	cache   map[[32]byte]verified
}

// clientTurn lets one check of an address run at a time.
type clientTurn struct {
	turn chan struct{}
	refs int
}

// verified is a remembered successful check: the hash it was checked
// against (a changed file forgets it) and until when it holds.
type verified struct {
	hash  string
	until time.Time
}

// Cache bounds: how many successful checks are remembered, for how long.
const (
	maxVerified = 4096
	verifiedTTL = 5 * time.Minute
)

// dummyHash is checked when the user is unknown, so that an unknown user
// takes as long as a wrong password; made on first use.
var dummyHash = sync.OnceValue(func() entry {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)
	return entry{kind: hashBcrypt, hash: h}
})

// NewPasswords reads the htpasswd file at path.
func NewPasswords(path string, log *slog.Logger) (*Passwords, error) {
	p := &Passwords{path: path, log: log, slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		clients: map[string]*clientTurn{}, cache: map[[32]byte]verified{}}
	if err := p.load(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Passwords) load() error {
	stamp := filewatch.Stamp(p.path)
	users, err := ReadHtpasswd(p.path)
	if err != nil {
		return fmt.Errorf("users_file: %w", err)
	}
	p.users.Store(&users)
	p.stamp = stamp
	return nil
}

// Watch reads the file again when it changes, checking every interval
// until ctx ends. A file that no longer parses keeps the users in force.
func (p *Passwords) Watch(ctx context.Context, interval time.Duration) {
	filewatch.Poll(ctx, p.path, p.stamp, interval, func() error {
		if err := p.load(); err != nil {
			return err
		}
		p.log.Info("users file reloaded", "file", p.path, "users", len(*p.users.Load()))
		return nil
	}, func(err error) {
		p.log.Error("users file not reloaded; the users in force stay", "error", err)
	})
}

// Check reports whether password is user's. client names the address
// the check is made for; ctx ending gives up the wait for a turn.
func (p *Passwords) Check(ctx context.Context, client, user, password string) bool {
	e, known := (*p.users.Load())[user]
	if known && e.kind != hashBcrypt {
		return e.verify(password)
	}
	key := sha256.Sum256([]byte(user + "\x00" + password))
	if known && p.remembered(key, e) {
		return true
	}
	if !p.acquire(ctx, client) {
		return false
	}
	defer p.release(client)
	if !known {
		dummyHash().verify(password)
		return false
	}
	if !e.verify(password) {
		return false
	}
	p.remember(key, e)
	return true
}

// acquire waits for client's turn, then for a slot.
func (p *Passwords) acquire(ctx context.Context, client string) bool {
	p.mu.Lock()
	t := p.clients[client]
	if t == nil {
		t = &clientTurn{turn: make(chan struct{}, 1)}
		p.clients[client] = t
	}
	t.refs++
	p.mu.Unlock()
	select {
	case t.turn <- struct{}{}:
	case <-ctx.Done():
		p.leave(client, t)
		return false
	}
	select {
	case p.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		<-t.turn
		p.leave(client, t)
		return false
	}
}

// release gives back the slot and client's turn.
func (p *Passwords) release(client string) {
	<-p.slots
	p.mu.Lock()
	t := p.clients[client]
	p.mu.Unlock()
	<-t.turn
	p.leave(client, t)
}

func (p *Passwords) leave(client string, t *clientTurn) {
	p.mu.Lock()
	if t.refs--; t.refs == 0 {
		delete(p.clients, client)
	}
	p.mu.Unlock()
}

func (p *Passwords) remembered(key [32]byte, e entry) bool {
	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	v, ok := p.cache[key]
	return ok && v.hash == string(e.hash) && time.Now().Before(v.until)
}

func (p *Passwords) remember(key [32]byte, e entry) {
	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	if len(p.cache) >= maxVerified {
		for k := range p.cache {
			delete(p.cache, k)
			if len(p.cache) < maxVerified/2 {
				break
			}
		}
	}
	p.cache[key] = verified{hash: string(e.hash), until: time.Now().Add(verifiedTTL)}
}
