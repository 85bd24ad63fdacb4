// Package fleet lets several Gatehouse instances behave as one by keeping
// their shared state in Redis or Valkey (standalone, Sentinel or
// Cluster): it owns the connection, watches whether the store answers
// (gatehouse_store_up, one log line per change, reconnection with
// backoff), announces this instance among the fleet's members, carries
// the fleet's events over pub/sub, and gives the features that share
// state what they need: the client, key names, and the call bounds.
//
// Nothing here is a protocol of our own between instances: every
// instance talks to the store only.
package fleet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/config"
)

// Fleet is this instance's link to the fleet's store.
type Fleet struct {
	client  redis.UniversalClient
	cluster bool
	prefix  string
	name    string
	// id tells this process's events from the others' (the name may
	// repeat after a restart).
	id         string
	log        *slog.Logger
	timeout    time.Duration
	failClosed bool
	fleetSize  int

	up      atomic.Bool
	errors  atomic.Uint64
	wake    chan struct{} // a failed call asks the watcher to probe now
	ctx     context.Context
	cancel  context.CancelFunc
	done    sync.WaitGroup
	started atomic.Bool

	mu       sync.Mutex
	handlers map[string]func(Event)
	resyncs  []func(context.Context)
	members  []Member

	acmeOnce sync.Once
	acme     *ACMEStorage
}

// Open connects to the store cfg names. It does not wait for the store:
// an instance starts, and serves as on_failure says, while it is down.
func Open(cfg *config.Store, log *slog.Logger) (*Fleet, error) {
	r := cfg.Redis
	tlsConf, err := storeTLS(r)
	if err != nil {
		return nil, err
	}
	setLogger(log)
	timeout := r.Timeout.Std()
	name := cfg.Name
	if name == "" {
		host, _ := os.Hostname()
		name = host + "-" + strconv.Itoa(os.Getpid())
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	f := &Fleet{cluster: r.Cluster, prefix: cfg.Prefix, name: name, id: hex.EncodeToString(idb[:]), log: log.With("component", "store"),
		timeout: timeout, failClosed: cfg.OnFailure == config.StoreFailClosed, fleetSize: cfg.FleetSize,
		wake: make(chan struct{}, 1), handlers: map[string]func(Event){}}
	// Calls fail fast: a store that does not answer within the timeout
	// is treated as down and the watcher probes it with backoff.
	dial := max(timeout*4, time.Second)
	switch {
	case r.Cluster:
		f.client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: r.Addrs, Username: r.Username, Password: r.Password,
			TLSConfig: tlsConf, DialTimeout: dial, ReadTimeout: timeout, WriteTimeout: timeout, ContextTimeoutEnabled: true,
			MaxRetries: 1, MaxRedirects: 3, DisableIdentity: true, DialerRetries: 1})
	case r.SentinelMaster != "":
		f.client = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: r.SentinelMaster, SentinelAddrs: r.Addrs,
			SentinelPassword: r.SentinelPassword, Username: r.Username, Password: r.Password, DB: r.DB, TLSConfig: tlsConf,
			DialTimeout: dial, ReadTimeout: timeout, WriteTimeout: timeout, ContextTimeoutEnabled: true, MaxRetries: 1,
			DisableIdentity: true, DialerRetries: 1})
	default:
		f.client = redis.NewClient(&redis.Options{Addr: r.Addrs[0], Username: r.Username, Password: r.Password, DB: r.DB,
			TLSConfig: tlsConf, DialTimeout: dial, ReadTimeout: timeout, WriteTimeout: timeout, ContextTimeoutEnabled: true,
			MaxRetries: 1, DisableIdentity: true, DialerRetries: 1})
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f, nil
}

// storeTLS is the TLS configuration of the store's connections, nil for
// plain TCP.
func storeTLS(r *config.Redis) (*tls.Config, error) {
	t := r.TLS
	if t == nil {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if c.ServerName == "" && len(r.Addrs) > 0 && !r.Cluster && r.SentinelMaster == "" {
		c.ServerName, _, _ = net.SplitHostPort(r.Addrs[0])
	}
	if t.CA != "" {
		pool, err := config.LoadCertPool(t.CA)
		if err != nil {
			return nil, fmt.Errorf("store tls ca: %w", err)
		}
		c.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("store tls cert: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Start probes the store, then keeps watching it, announcing this
// instance and receiving the fleet's events, until Close. Register the
// event handlers and resynchronisations first.
func (f *Fleet) Start() {
	if !f.started.CompareAndSwap(false, true) {
		return
	}
	if err := f.probe(); err != nil {
		f.log.Warn("store unreachable; serving on without it", "error", err, "on_failure", f.failureMode())
	} else {
		f.up.Store(true)
		f.log.Info("store reachable", "name", f.name)
		f.resync()
		f.announce()
	}
	f.done.Add(2)
	go f.watch()
	go f.listen()
}

// Close stops watching and closes the connections.
func (f *Fleet) Close() {
	f.cancel()
	f.done.Wait()
	if f.started.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
		f.client.ZRem(ctx, f.Key("members"), f.name)
		cancel()
	}
	_ = f.client.Close()
}

// Client is the store's client, for the features that share state.
func (f *Fleet) Client() redis.UniversalClient { return f.client }

// Key names a key: the prefix, then parts joined by ':'.
func (f *Fleet) Key(parts ...string) string {
	n := len(f.prefix)
	for _, p := range parts {
		n += 1 + len(p)
	}
	b := make([]byte, 0, n)
	b = append(b, f.prefix...)
	for _, p := range parts {
		b = append(b, ':')
		b = append(b, p...)
	}
	return string(b)
}

// Done is closed when the fleet closes.
func (f *Fleet) Done() <-chan struct{} { return f.ctx.Done() }

// Up reports whether the store answered lately.
func (f *Fleet) Up() bool { return f.up.Load() }

// FailClosed reports whether requests whose feature needs the store are
// refused while it is down (on_failure: closed).
func (f *Fleet) FailClosed() bool { return f.failClosed }

// FleetSize is the configured hint of how many instances share the load.
func (f *Fleet) FleetSize() int { return f.fleetSize }

// Name is this instance's name among the members.
func (f *Fleet) Name() string { return f.name }

// Call returns a context bounded by the store timeout, for one call.
func (f *Fleet) Call(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, f.timeout)
}

// Failed records a failed call: anything but a missing key marks the
// store down until the watcher's probe succeeds. It reports whether err
// was such a failure.
func (f *Fleet) Failed(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	if errors.Is(err, context.Canceled) && f.ctx.Err() == nil {
		// The request gave up, not the store.
		return true
	}
	f.errors.Add(1)
	f.setUp(false, err)
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return true
}

// setUp records a change of the store's state, logging it once.
func (f *Fleet) setUp(up bool, err error) {
	if f.up.Swap(up) == up {
		return
	}
	if up {
		f.log.Info("store reachable again", "name", f.name)
		return
	}
	f.log.Warn("store unreachable; serving on without it", "error", err, "on_failure", f.failureMode())
}

func (f *Fleet) failureMode() string {
	if f.failClosed {
		return config.StoreFailClosed
	}
	return config.StoreFailOpen
}

// goRedisLogger sends go-redis's own messages to the error log at debug
// level (its reconnection attempts would otherwise fill stderr while the
// store is down; the state changes are logged once by the watcher).
type goRedisLogger struct{ log *slog.Logger }

func (l goRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

var setLoggerOnce sync.Once

// setLogger points go-redis's process-wide logger at log, once.
func setLogger(log *slog.Logger) {
	setLoggerOnce.Do(func() { redis.SetLogger(goRedisLogger{log}) })
}
