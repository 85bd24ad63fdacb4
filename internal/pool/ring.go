package pool

import (
	"hash/fnv"
	"sort"
	"strconv"
)

// pointsPerWeight is how many points each unit of weight puts on a hash
// ring: enough for an even spread, few enough to build quickly.
const pointsPerWeight = 160

// ring is a consistent-hash ring over a pool's servers: a key maps to the
// first point at or after its hash, so a server leaving moves only the
// keys that were on it.
type ring struct {
	hashes  []uint64
	servers []int // server index per point
}

func newRing(servers []*Server) *ring {
	r := &ring{}
	type point struct {
		h   uint64
		idx int
	}
	var pts []point
	for _, s := range servers {
		for i := 0; i < s.Weight*pointsPerWeight; i++ {
			pts = append(pts, point{hashString(s.URL.String() + "#" + strconv.Itoa(i)), s.index})
		}
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].h < pts[j].h })
	for _, p := range pts {
		r.hashes = append(r.hashes, p.h)
		r.servers = append(r.servers, p.idx)
	}
	return r
}

// lookup returns the index of the first server from key's point on that
// ok accepts, or -1.
func (r *ring) lookup(key string, ok func(int) bool) int {
	if len(r.hashes) == 0 {
		return -1
	}
	h := hashString(key)
	start := sort.Search(len(r.hashes), func(i int) bool { return r.hashes[i] >= h })
	for i := 0; i < len(r.hashes); i++ {
		idx := r.servers[(start+i)%len(r.hashes)]
		if ok(idx) {
			return idx
		}
	}
	return -1
}

// hashString is FNV-1a followed by a 64-bit finalizer, stable across
// processes (so several Gatehouse instances map keys alike).
func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
