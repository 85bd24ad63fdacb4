package fleet

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/metrics"
)

// The watcher's rhythm: a probe each second while the store is up;
// while down, probes back off from 250ms to 5s; members announce
// themselves every 5s and are forgotten 15s after their last word.
const (
	probeEvery     = time.Second
	backoffFirst   = 250 * time.Millisecond
	backoffMost    = 5 * time.Second
	announceEvery  = 5 * time.Second
	memberLifetime = 15 * time.Second
)

// watch probes the store and announces this instance until Close.
func (f *Fleet) watch() {
	defer f.done.Done()
	backoff := backoffFirst
	lastAnnounce := time.Now()
	for {
		wait := probeEvery
		if !f.up.Load() {
			wait = backoff
			backoff = min(backoff*2, backoffMost)
		}
		t := time.NewTimer(wait)
		select {
		case <-f.ctx.Done():
			t.Stop()
			return
		case <-f.wake:
			t.Stop()
			continue
		case <-t.C:
		}
		err := f.probe()
		if err != nil {
			f.errors.Add(1)
			f.setUp(false, err)
			continue
		}
		backoff = backoffFirst
		if !f.up.Load() {
			f.setUp(true, nil)
			f.resync()
			f.announce()
			lastAnnounce = time.Now()
		}
		if time.Since(lastAnnounce) >= announceEvery {
			f.announce()
			lastAnnounce = time.Now()
		}
	}
}

// probe asks the store whether it answers: the server, or every master
// of a cluster, each saying the cluster is whole (a cluster with a master
// gone fails the calls of its slots, so it counts as down until every
// slot is served again).
func (f *Fleet) probe() error {
	ctx, cancel := f.Call(f.ctx)
	defer cancel()
	if cc, ok := f.client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return errClusterDown
			}
			return nil
		})
	}
	return f.client.Ping(ctx).Err()
}

// errClusterDown is a cluster whose nodes say it does not serve every
// slot.
var errClusterDown = errors.New("redis cluster: cluster_state is not ok")

// Member is an instance of the fleet that announced itself lately.
type Member struct {
	Name string `json:"name"`
	// Seen is when it last announced itself.
	Seen time.Time `json:"seen"`
	// Self marks this instance.
	Self bool `json:"self,omitempty"`
}

// announce writes this instance into the members set, drops those that
// have been silent too long, and reads the set back.
func (f *Fleet) announce() {
	ctx, cancel := f.Call(f.ctx)
	defer cancel()
	key := f.Key("members")
	now := time.Now()
	pipe := f.client.Pipeline()
	pipe.ZAdd(ctx, key, redis.Z{Score: float64(now.UnixMilli()), Member: f.name})
	pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.Add(-memberLifetime).UnixMilli(), 10))
	all := pipe.ZRangeWithScores(ctx, key, 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		f.Failed(err)
		return
	}
	list := make([]Member, 0, len(all.Val()))
	for _, z := range all.Val() {
		name, _ := z.Member.(string)
		list = append(list, Member{Name: name, Seen: time.UnixMilli(int64(z.Score)).UTC(), Self: name == f.name})
	}
	f.mu.Lock()
	f.members = list
	f.mu.Unlock()
}

// Status is the store as `gatehouse status` shows it.
type Status struct {
	Up        bool     `json:"up"`
	Name      string   `json:"name"`
	OnFailure string   `json:"on_failure"`
	Errors    uint64   `json:"errors"`
	Members   []Member `json:"members"`
}

// Status reports the store's state and the members last seen.
func (f *Fleet) Status() Status {
	f.mu.Lock()
	members := append([]Member{}, f.members...)
	f.mu.Unlock()
	return Status{Up: f.Up(), Name: f.name, OnFailure: f.failureMode(), Errors: f.errors.Load(), Members: members}
}

var (
	descUp = prometheus.NewDesc(metrics.Prefix+"store_up",
		"1 while the fleet's shared store (Redis or Valkey) answers, 0 while it does not.", nil, nil)
	descErrors = prometheus.NewDesc(metrics.Prefix+"store_errors_total",
		"Calls to the shared store that failed or timed out (each then served as on_failure says).", nil, nil)
	descMembers = prometheus.NewDesc(metrics.Prefix+"fleet_members",
		"Instances of the fleet that announced themselves in the last 15 seconds, as last read.", nil, nil)
)

// Describe sends the store metrics' descriptions.
func (f *Fleet) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUp
	ch <- descErrors
	ch <- descMembers
}

// Collect sends the store's metrics.
func (f *Fleet) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	if f.Up() {
		up = 1
	}
	f.mu.Lock()
	n := len(f.members)
	f.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(f.errors.Load()))
	ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(n))
}

// resync runs every registered resynchronisation: after the store comes
// back (or the subscription reconnects), the features read the state
// they may have missed.
func (f *Fleet) resync() {
	f.mu.Lock()
	list := append([]func(context.Context){}, f.resyncs...)
	f.mu.Unlock()
	for _, fn := range list {
		ctx, cancel := context.WithTimeout(f.ctx, max(f.timeout*8, 2*time.Second))
		fn(ctx)
		cancel()
	}
}

// OnResync registers fn, run when the store is first reached and each
// time it is reached again: it reads what this instance may have missed.
func (f *Fleet) OnResync(fn func(context.Context)) {
	f.mu.Lock()
	f.resyncs = append(f.resyncs, fn)
	f.mu.Unlock()
}
