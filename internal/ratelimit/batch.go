package ratelimit

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/fleet"
)

// batcher sends the GCRA calls of a shared limit that arrive while
// others are in flight as one pipeline: one write and one round trip for
// many requests, on both sides. At most maxPipelines are in flight; a
// call waits for the next one to leave, which takes every call queued.
type batcher struct {
	fleet *fleet.Fleet

	mu       sync.Mutex
	queue    []*gcraCall
	inFlight int
}

// maxPipelines bounds the pipelines of one limit in flight at once.
const maxPipelines = 4

// gcraCall is one decision asked of the store.
type gcraCall struct {
	key  string
	args []any
	res  []int64
	err  error
	done chan struct{}
}

// run asks the store for c and waits for its answer.
func (b *batcher) run(c *gcraCall) {
	c.done = make(chan struct{})
	b.mu.Lock()
	b.queue = append(b.queue, c)
	start := b.inFlight < maxPipelines
	if start {
		b.inFlight++
	}
	b.mu.Unlock()
	if start {
		go b.send()
	}
	<-c.done
}

// send sends what is queued, again and again until nothing is.
func (b *batcher) send() {
	for {
		b.mu.Lock()
		batch := b.queue
		b.queue = nil
		if len(batch) == 0 {
			b.inFlight--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.exec(batch)
	}
}

// exec runs batch as one pipeline of EVALSHA calls; a store that does
// not know the script yet (started afresh, another cluster node) gets
// those calls again as EVAL, which loads it.
func (b *batcher) exec(batch []*gcraCall) {
	ctx, cancel := b.fleet.Call(context.Background())
	defer cancel()
	client := b.fleet.Client()
	pipe := client.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = gcra.EvalSha(ctx, pipe, []string{c.key}, c.args...)
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range batch {
		c.res, c.err = cmds[i].Int64Slice()
		if c.err != nil && strings.HasPrefix(c.err.Error(), "NOSCRIPT") {
			c.res, c.err = gcra.Eval(ctx, client, []string{c.key}, c.args...).Int64Slice()
		}
		close(c.done)
	}
}
