package fleet

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event is one message to every instance of the fleet: a ban, a patch
// change, the maintenance switch, a purge.
type Event struct {
	// Kind names the handler it goes to.
	Kind string `json:"kind"`
	// From is the sending process.
	From string `json:"from"`
	// Data is the kind's payload.
	Data json.RawMessage `json:"data"`
}

// Handle registers fn for the events of kind that other instances send
// (this instance applies its own changes before publishing them).
// Register before Start.
func (f *Fleet) Handle(kind string, fn func(Event)) {
	f.mu.Lock()
	f.handlers[kind] = fn
	f.mu.Unlock()
}

// Publish sends an event to every instance. A store that is down loses
// it; the others catch up when they resynchronise from the state kept in
// the store.
func (f *Fleet) Publish(ctx context.Context, kind string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(Event{Kind: kind, From: f.id, Data: raw})
	if err != nil {
		return err
	}
	ctx, cancel := f.Call(ctx)
	defer cancel()
	if err := f.client.Publish(ctx, f.Key("events"), msg).Err(); err != nil {
		f.Failed(err)
		return err
	}
	return nil
}

// listen receives the fleet's events until Close. go-redis
// resubscribes after a lost connection; each subscription after the
// first means events may have been missed, so the features resync.
func (f *Fleet) listen() {
	defer f.done.Done()
	ps := f.client.Subscribe(f.ctx, f.Key("events"))
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(5*time.Second), redis.WithChannelSendTimeout(time.Second))
	subscribed := 0
	for {
		select {
		case <-f.ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind != "subscribe" {
					continue
				}
				subscribed++
				if subscribed > 1 {
					f.log.Info("store subscription restored; resynchronising")
					f.resync()
				}
			case *redis.Message:
				f.dispatch(m.Payload)
			}
		}
	}
}

// dispatch hands one message to its kind's handler.
func (f *Fleet) dispatch(payload string) {
	var ev Event
	if err := json.Unmarshal([]byte(payload), &ev); err != nil || ev.From == f.id {
		return
	}
	f.mu.Lock()
	fn := f.handlers[ev.Kind]
	f.mu.Unlock()
	if fn != nil {
		fn(ev)
	}
}
