package cache

import (
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// fetch sends up (the client's request, or a conditional one made from
// it) to the origin and answers client with what comes back: the new
// response, streamed to the client while it is stored when it may be;
// with st, the stored response a 304 validated or stale-if-error allows.
// fl, when set, is the flight other requests for the key wait on.
func (h *Handler) fetch(w http.ResponseWriter, client, up *http.Request, info *reqinfo.Info, req *request, st *stale, fl *flight) {
	rec := &recorder{Forwarder: errpage.Forwarder{W: w}, h: h, w: w, client: client, up: up, info: info, req: req, st: st, fl: fl,
		requestTime: time.Now(), head: client.Method == http.MethodHead, narrowed: up != client && narrows(client)}
	completed := false
	defer func() { rec.finish(completed) }()
	h.next.ServeHTTP(rec, up)
	completed = true
}

// What a recorder does with the body the origin sends.
const (
	passBody    = iota // to the client only
	storeBody          // to the client and the store
	discardBody        // nowhere: the client got a stored response
)

// recorder is the response writer of an origin request: it decides at
// the status line whether the response is stored, answered from a stored
// one instead (after a 304, or a 5xx that stale-if-error covers) or just
// passed on, and tees the body into the store.
type recorder struct {
	// Forwarder gives the proxy the site's error pages and interception
	// (an intercepted response is not stored: the page is no-store).
	errpage.Forwarder
	h           *Handler
	w           http.ResponseWriter
	client, up  *http.Request
	info        *reqinfo.Info
	req         *request
	st          *stale
	fl          *flight
	requestTime time.Time
	// head: the client asked HEAD, so the body goes nowhere but the
	// store.
	head bool
	// narrowed: the client's conditions or range were left out of up;
	// view cuts a 200 back to what the client asked for.
	narrowed bool
	view     clientView

	wroteHeader bool
	mode        int
	// The response being stored: its metadata, its body so far in
	// memory (while small enough for the memory tier) and in a file of
	// the disk tier, and the length announced.
	meta     *Meta
	buf      []byte
	inMemory bool
	file     *os.File
	want     int64
	limit    int64
	failed   bool
}

func (rc *recorder) Header() http.Header { return rc.w.Header() }

func (rc *recorder) WriteHeader(code int) {
	if rc.wroteHeader {
		return
	}
	if code < 200 {
		if code != http.StatusSwitchingProtocols && rc.mode != discardBody {
			rc.w.WriteHeader(code) // 103 Early Hints
		}
		return
	}
	rc.wroteHeader = true
	now := time.Now()
	hdr := rc.w.Header()
	h := rc.h
	if st := rc.st; st != nil && st.entry != nil {
		if code == http.StatusNotModified && !st.unconditional {
			e := h.freshen(st.entry, hdr, rc.requestTime, now)
			cookies := hdr["Set-Cookie"]
			clear(hdr)
			if cookies != nil {
				hdr["Set-Cookie"] = cookies
			}
			h.store.Stats.Revalidated.Add(1)
			h.setStatus(hdr, rc.info, "revalidated", "fwd=stale; fwd-status=304; stored")
			rc.mode = discardBody
			rc.release()
			h.serveStored(rc.w, rc.client, e, e.freshness(now))
			return
		}
		if serverError(code) && st.ifError > 0 {
			if f := st.entry.freshness(now); f.Staleness() <= st.ifError {
				clear(hdr)
				h.store.Stats.Stale.Add(1)
				h.setStatus(hdr, rc.info, "stale", "fwd=stale; fwd-status="+strconv.Itoa(code)+"; detail=stale-if-error")
				rc.mode = discardBody
				rc.release()
				h.serveStored(rc.w, rc.client, st.entry, f)
				return
			}
		}
	}
	fwd, outcome := "miss", "miss"
	switch {
	case rc.st != nil:
		fwd, outcome = "stale", "expired"
	case rc.req.cc.NoCache:
		fwd = "request"
	}
	h.store.Stats.Misses.Add(1)
	params := "fwd=" + fwd + "; fwd-status=" + strconv.Itoa(code)
	if meta := h.storable(code, hdr, rc); meta != nil {
		rc.startStoring(meta)
		params += "; stored"
	} else {
		rc.release()
		if code < 500 && rc.up.Method == http.MethodGet {
			h.markPass(rc.req.primary)
		}
		if rc.st != nil && rc.st.entry != nil && code < 500 {
			// The origin has moved on from what is stored.
			h.store.removeEntry(rc.st.entry)
		}
	}
	h.setStatus(hdr, rc.info, outcome, params)
	if rc.narrowed && code == http.StatusOK {
		code = rc.view.prepare(rc.client, hdr)
	} else {
		rc.view.end = -1
	}
	rc.w.WriteHeader(code)
}

// narrows reports whether r has fields a miss leaves out.
func narrows(r *http.Request) bool {
	for _, name := range narrowedFields {
		if r.Header[name] != nil {
			return true
		}
	}
	return false
}

func serverError(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// startStoring prepares to keep the body of the response meta describes.
func (rc *recorder) startStoring(meta *Meta) {
	s := rc.h.store
	rc.mode, rc.meta = storeBody, meta
	rc.want = -1
	if cl := rc.w.Header()["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			rc.want = n
		}
	}
	rc.limit = s.maxObject
	memLimit := s.memoryObjectLimit()
	if s.disk == nil {
		rc.limit = min(rc.limit, memLimit)
	}
	rc.inMemory = rc.want <= memLimit
	if rc.inMemory && rc.want > 0 {
		rc.buf = make([]byte, 0, rc.want)
	}
	if s.disk != nil {
		f, err := s.disk.newFile()
		if err != nil {
			rc.h.log.Warn("cache disk: cannot store", "error", err)
			if !rc.inMemory {
				rc.failed = true
			}
		}
		rc.file = f
	}
}

func (rc *recorder) Write(p []byte) (int, error) {
	if !rc.wroteHeader {
		rc.WriteHeader(http.StatusOK)
	}
	switch rc.mode {
	case discardBody:
		return len(p), nil
	case storeBody:
		rc.keep(p)
	}
	if rc.head {
		return len(p), nil
	}
	out := rc.view.cut(p)
	if len(out) == 0 {
		return len(p), nil
	}
	if _, err := rc.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// keep adds p to the body being stored, giving up on storing once it is
// larger than allowed or the file cannot be written.
func (rc *recorder) keep(p []byte) {
	if rc.failed {
		return
	}
	size := rc.meta.Size + int64(len(p))
	if size > rc.limit {
		rc.failed = true
		return
	}
	rc.meta.Size = size
	if rc.inMemory {
		if size > rc.h.store.memoryObjectLimit() {
			rc.inMemory, rc.buf = false, nil
			if rc.file == nil {
				rc.failed = true
				return
			}
		} else {
			rc.buf = append(rc.buf, p...)
		}
	}
	if rc.file != nil {
		if _, err := rc.file.Write(p); err != nil {
			rc.h.log.Warn("cache disk: cannot store", "error", err)
			rc.h.store.disk.abort(rc.file)
			rc.file = nil
			if !rc.inMemory {
				rc.failed = true
			}
		}
	}
}

// finish stores a complete response, drops an incomplete one, and lets
// the requests waiting on the flight go.
func (rc *recorder) finish(completed bool) {
	if completed && !rc.wroteHeader {
		rc.WriteHeader(http.StatusOK)
	}
	if rc.mode == storeBody {
		ok := completed && !rc.failed && (rc.want < 0 || rc.meta.Size == rc.want)
		rc.commit(ok)
	}
	rc.release()
}

// commit hands a complete body to the store, or drops it.
func (rc *recorder) commit(ok bool) {
	s := rc.h.store
	if !ok {
		if rc.file != nil {
			s.disk.abort(rc.file)
		}
		return
	}
	e := &Entry{Meta: *rc.meta}
	if rc.inMemory {
		e.body = rc.buf
		if e.body == nil {
			e.body = []byte{}
		}
	}
	if rc.file != nil {
		f, err := s.disk.commit(rc.file, &e.Meta)
		if err != nil {
			rc.h.log.Warn("cache disk: cannot store", "error", err)
		}
		e.file = f
	}
	if e.body == nil && e.file == nil {
		return
	}
	e.init()
	s.put(e)
	rc.h.clearPass(e.Meta.Primary)
}

// release lets the requests waiting for this one's answer go: to the
// stored response, or to the origin themselves.
func (rc *recorder) release() {
	if rc.fl != nil {
		rc.fl.release()
	}
}

// Flush passes a flush on to the client.
func (rc *recorder) Flush() {
	if rc.mode != discardBody && !rc.head {
		_ = http.NewResponseController(rc.w).Flush()
	}
}

// Unwrap gives http.ResponseController the client's writer (deadlines).
func (rc *recorder) Unwrap() http.ResponseWriter { return rc.w }
