package server

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/bans"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/fleet"
	"github.com/gatehouse/gatehouse/internal/waf"
)

// Event kinds of the fleet.
const (
	eventBan         = "ban"
	eventPatches     = "patches"
	eventMaintenance = "maintenance"
	eventPurge       = "purge"
)

// sharing is what this instance shares with the fleet, as the running
// config says (a reload may change it; the store itself takes a restart).
type sharing struct {
	bans  atomic.Bool // every ban (bans.shared)
	admin atomic.Bool // the admin API's changes (admin.shared)
}

// openFleet connects to the store the first config that names one
// names, and wires the shared bans, patches, maintenance switch and
// purges to it. Later configs keep the connection.
func (in *Instance) openFleet(cfg *config.Config, ws *waf.Service) (*fleet.Fleet, error) {
	in.share.bans.Store(cfg.Bans != nil && cfg.Bans.Shared)
	in.share.admin.Store(cfg.Admin.Shared)
	if f := in.fleet.Load(); f != nil {
		if !reflect.DeepEqual(in.storeCfg, cfg.Store) {
			in.log.Warn("store settings changed; they take effect after a restart")
		}
		return f, nil
	}
	if cfg.Store == nil {
		return nil, nil
	}
	f, err := fleet.Open(cfg.Store, in.log)
	if err != nil {
		return nil, err
	}
	in.storeCfg = cfg.Store
	in.wireBans(f)
	in.wirePatches(f, ws)
	in.wireMaintenance(f)
	in.wirePurges(f)
	in.fleet.Store(f)
	f.Start()
	return f, nil
}

// Fleet is the link to the fleet's store, nil without one.
func (in *Instance) Fleet() *fleet.Fleet { return in.fleet.Load() }

// banMessage is a ban or a lift as the fleet's events carry it.
type banMessage struct {
	IP     string `json:"ip"`
	Until  int64  `json:"until,omitempty"` // unix milliseconds
	Lifted bool   `json:"lifted,omitempty"`
}

// wireBans shares bans: each is kept in a sorted set (the address,
// scored by its expiry) and announced; an instance that reconnects reads
// the set back.
func (in *Instance) wireBans(f *fleet.Fleet) {
	key := f.Key("bans")
	// One sender, so that a ban and its lift reach the store in order;
	// the request that earned a ban does not wait for it.
	queue := make(chan func(), 1024)
	go func() {
		for {
			select {
			case fn := <-queue:
				fn()
			case <-f.Done():
				return
			}
		}
	}()
	send := func(fn func()) {
		if !f.Up() {
			return // the resynchronisation brings this instance's bans up
		}
		select {
		case queue <- fn:
		default:
			in.log.Warn("fleet ban queue full; this change stays local until the next resynchronisation")
		}
	}
	in.bans.SetShare(&bans.Share{
		Ban: func(ip netip.Addr, until time.Time, auto bool) {
			if !in.share.bans.Load() && (auto || !in.share.admin.Load()) {
				return
			}
			send(func() {
				ctx, cancel := f.Call(context.Background())
				defer cancel()
				err := f.Client().ZAddGT(ctx, key, redis.Z{Score: float64(until.UnixMilli()), Member: ip.String()}).Err()
				if !f.Failed(err) {
					_ = f.Publish(context.Background(), eventBan, banMessage{IP: ip.String(), Until: until.UnixMilli()})
				}
			})
		},
		Lift: func(ip netip.Addr) {
			if !in.share.bans.Load() && !in.share.admin.Load() {
				return
			}
			send(func() {
				ctx, cancel := f.Call(context.Background())
				defer cancel()
				if !f.Failed(f.Client().ZRem(ctx, key, ip.String()).Err()) {
					_ = f.Publish(context.Background(), eventBan, banMessage{IP: ip.String(), Lifted: true})
				}
			})
		},
	})
	f.Handle(eventBan, func(ev fleet.Event) {
		var m banMessage
		if json.Unmarshal(ev.Data, &m) != nil {
			return
		}
		ip, err := netip.ParseAddr(m.IP)
		if err != nil {
			return
		}
		if m.Lifted {
			in.bans.Lift(ip)
			return
		}
		in.bans.Apply(ip, time.UnixMilli(m.Until))
	})
	f.OnResync(func(ctx context.Context) {
		if !in.share.bans.Load() && !in.share.admin.Load() {
			return
		}
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		c := f.Client()
		// Bans started here while the store was away go up first.
		if in.share.bans.Load() {
			for _, e := range in.bans.Entries() {
				c.ZAddGT(ctx, key, redis.Z{Score: float64(e.Expires.UnixMilli()), Member: e.IP})
			}
		}
		c.ZRemRangeByScore(ctx, key, "-inf", now)
		list, err := c.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
		if f.Failed(err) {
			return
		}
		for _, z := range list {
			s, _ := z.Member.(string)
			if ip, err := netip.ParseAddr(s); err == nil {
				in.bans.Apply(ip, time.UnixMilli(int64(z.Score)))
			}
		}
	})
}

// sharedPatch is a virtual patch as the store keeps it: a hash field
// per patch id, ordered by when it was added.
type sharedPatch struct {
	Rule  string `json:"rule"`
	Added int64  `json:"added"` // unix nanoseconds
}

// wirePatches shares the virtual patches (admin.shared): each is a field
// of one hash; a change is announced and every instance reads the hash
// back and compiles it.
func (in *Instance) wirePatches(f *fleet.Fleet, ws *waf.Service) {
	if ws == nil {
		return
	}
	key := f.Key("waf", "patches")
	ws.Patches.SetShare(&waf.PatchShare{
		Add: func(id, rule string) {
			if !in.share.admin.Load() {
				return
			}
			raw, _ := json.Marshal(sharedPatch{Rule: rule, Added: time.Now().UnixNano()})
			ctx, cancel := f.Call(context.Background())
			defer cancel()
			if !f.Failed(f.Client().HSet(ctx, key, id, raw).Err()) {
				_ = f.Publish(context.Background(), eventPatches, id)
			}
		},
		Remove: func(id string) {
			if !in.share.admin.Load() {
				return
			}
			ctx, cancel := f.Call(context.Background())
			defer cancel()
			if !f.Failed(f.Client().HDel(ctx, key, id).Err()) {
				_ = f.Publish(context.Background(), eventPatches, id)
			}
		},
	})
	load := func(ctx context.Context, seed bool) {
		if !in.share.admin.Load() {
			return
		}
		all, err := f.Client().HGetAll(ctx, key).Result()
		if f.Failed(err) {
			return
		}
		if len(all) == 0 && seed {
			// A fleet's first instance brings the patches of its file.
			for i, p := range ws.Patches.List() {
				raw, _ := json.Marshal(sharedPatch{Rule: p.Rule, Added: int64(i)})
				f.Client().HSetNX(ctx, key, p.ID, raw)
			}
			return
		}
		type entry struct {
			id string
			sharedPatch
		}
		list := make([]entry, 0, len(all))
		for id, raw := range all {
			var p sharedPatch
			if json.Unmarshal([]byte(raw), &p) == nil {
				list = append(list, entry{id, p})
			}
		}
		slices.SortFunc(list, func(a, b entry) int {
			if a.Added != b.Added {
				return int(min(max(a.Added-b.Added, -1), 1))
			}
			return strings.Compare(a.id, b.id)
		})
		patches := make([]waf.Patch, 0, len(list))
		for _, e := range list {
			patches = append(patches, waf.Patch{ID: e.id, Rule: e.Rule})
		}
		if err := ws.Patches.SetAll(patches); err != nil {
			in.log.Error("fleet's waf patches not applied; keeping these", "error", err)
		}
	}
	f.Handle(eventPatches, func(fleet.Event) {
		ctx, cancel := f.Call(context.Background())
		defer cancel()
		load(ctx, false)
	})
	f.OnResync(func(ctx context.Context) { load(ctx, true) })
}

// wireMaintenance shares the maintenance switch (admin.shared): one key
// holds it, a change is announced.
func (in *Instance) wireMaintenance(f *fleet.Fleet) {
	key := f.Key("maintenance")
	apply := func(on bool) {
		if in.maintenance.Swap(on) != on {
			in.log.Info("maintenance switched by the fleet", "on", on)
		}
	}
	f.Handle(eventMaintenance, func(ev fleet.Event) {
		var on bool
		if in.share.admin.Load() && json.Unmarshal(ev.Data, &on) == nil {
			apply(on)
		}
	})
	f.OnResync(func(ctx context.Context) {
		if !in.share.admin.Load() {
			return
		}
		v, err := f.Client().Get(ctx, key).Result()
		if f.Failed(err) || err != nil {
			return
		}
		apply(v == "true")
	})
}

// shareMaintenance passes the admin API's maintenance switch to the
// fleet (admin.shared).
func (in *Instance) shareMaintenance(on bool) {
	f := in.fleet.Load()
	if f == nil || !in.share.admin.Load() {
		return
	}
	ctx, cancel := f.Call(context.Background())
	defer cancel()
	if !f.Failed(f.Client().Set(ctx, f.Key("maintenance"), strconv.FormatBool(on), 0).Err()) {
		_ = f.Publish(context.Background(), eventMaintenance, on)
	}
}

// sharePurge passes the admin API's cache purges to the fleet
// (admin.shared).
func (in *Instance) sharePurge(url string, prefix bool) {
	if f := in.fleet.Load(); f != nil && in.share.admin.Load() {
		_ = f.Publish(context.Background(), eventPurge, purgeMessage{URL: url, Prefix: prefix})
	}
}

// purgeMessage is a purge as the fleet's events carry it.
type purgeMessage struct {
	URL    string `json:"url"`
	Prefix bool   `json:"prefix,omitempty"`
}

// wirePurges shares cache purges (admin.shared): the instance asked
// drops the shared tier's copies; every instance drops its own.
func (in *Instance) wirePurges(f *fleet.Fleet) {
	f.Handle(eventPurge, func(ev fleet.Event) {
		var m purgeMessage
		if !in.share.admin.Load() || json.Unmarshal(ev.Data, &m) != nil {
			return
		}
		if st := in.cacheStore(); st != nil {
			if m.Prefix {
				st.PurgePrefixLocal(m.URL)
			} else {
				st.PurgeLocal(m.URL)
			}
		}
	})
}

// fleetCollector reports the store's metrics once there is a store.
type fleetCollector struct{ in *Instance }

// Describe sends nothing: the store's metrics appear with the store
// (an unchecked collector).
func (fleetCollector) Describe(chan<- *prometheus.Desc) {}

// Collect sends the store's metrics, when there is a store.
func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	if f := c.in.Fleet(); f != nil {
		f.Collect(ch)
	}
}
