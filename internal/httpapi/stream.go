package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/audex/audex/jobs"
)

// Live status. GET /job/extract/video/audio/status/{job_id} with
// Accept: text/event-stream answers server-sent events instead of one
// status:
//
//	retry: 3000
//
//	event: status
//	data: {the status answer}          at once, then at every change of state,
//	                                    stage, progress or queue position
//	: ping                              every StreamHeartbeat while nothing changes
//
//	event: done
//	data: {the final status answer}    and the stream ends
//
// Auth and ownership are the status route's. A stream also ends, without a
// done event, when the job is deleted, when the server drains, or when the
// client stops reading (each write has a deadline); a client then polls
// (or opens a new stream). Streams are bounded: MaxStreams in all,
// MaxStreamsPerOwner per owner (one more gets 429 with Retry-After), and
// one per connection (HTTP/1.1 carries one request at a time).
//
// A waiting stream reads its job again at every jobs.Manager.Changed, but
// no more often than every streamProgressEvery: with a shared store that
// signal comes from every node, for every job's change of state and every
// running job's progress report, and each read is a query. So a stream
// costs the store at most 4 reads a second however busy the cluster, and
// shows a change a quarter of a second late at worst.

const (
	eventStatus = "status"
	eventDone   = "done"
	// streamProgressEvery is how often a running job's progress is read
	// (progress changes are not signaled by Manager.Changed on one node,
	// state changes are), and the least time between two reads of a job.
	streamProgressEvery = 250 * time.Millisecond
	// streamWriteTimeout bounds each write: a client that stops reading
	// loses its stream instead of holding it.
	streamWriteTimeout = 10 * time.Second
	// streamRetryMillis is the reconnection delay a stream tells clients.
	streamRetryMillis = 3000
)

var errTooManyStreams = errors.New("too many status streams")

// acceptsEventStream reports whether r asks for text/event-stream.
func acceptsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == "text/event-stream" {
				return true
			}
		}
	}
	return false
}

// streamLimiter counts the open streams, in all and per owner.
type streamLimiter struct {
	mu               sync.Mutex
	max, maxPerOwner int
	total            int
	perOwner         map[string]int
}

func newStreamLimiter(max, maxPerOwner int) *streamLimiter {
	return &streamLimiter{max: max, maxPerOwner: maxPerOwner, perOwner: map[string]int{}}
}

// acquire takes a place for one of owner's streams, if there is one.
func (l *streamLimiter) acquire(owner string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.perOwner[owner] >= l.maxPerOwner {
		return false
	}
	l.total++
	l.perOwner[owner]++
	return true
}

func (l *streamLimiter) release(owner string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perOwner[owner]--; l.perOwner[owner] <= 0 {
		delete(l.perOwner, owner)
	}
}

func (l *streamLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// streamKey is what a status event is sent again for when it changes.
func streamKey(b statusBody) string {
	return fmt.Sprint(b.Status, b.State, b.Stage, b.Progress, b.QueuePosition, b.Attempts, b.Message)
}

// streamStatus streams job j (already checked to be owner's) until it is
// final.
func (s *Server) streamStatus(w http.ResponseWriter, r *http.Request, owner string, j jobs.Job) {
	if !s.streams.acquire(owner) {
		info(r).err = errTooManyStreams
		s.retryAfter(w)
		writeError(w, http.StatusTooManyRequests, "too_many_streams", "too many open status streams: retry later, or poll")
		return
	}
	defer s.streams.release(owner)
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()

	rc := http.NewResponseController(w)
	write := func(format string, args ...any) bool {
		rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	event := func(name string, b statusBody) bool {
		data, err := json.Marshal(b)
		if err != nil {
			return false
		}
		return write("event: %s\ndata: %s\n\n", name, data)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy must not hold events back
	w.WriteHeader(http.StatusOK)
	if !write("retry: %d\n\n", streamRetryMillis) {
		return
	}

	base := s.baseURL(r)
	heartbeat := time.NewTicker(s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	last := ""
	var next time.Time // no read before
	for {
		if wait := time.Until(next); wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.Context().Done():
				return
			case <-s.drain:
				return
			}
		}
		// Take the change signal before reading, so that no change
		// between the two is missed.
		changed := s.m.Changed()
		var err error
		j, err = s.m.Get(j.ID)
		next = time.Now().Add(streamProgressEvery)
		s.metrics.streamReads.Inc()
		if err != nil {
			// Deleted, forgotten, or the store is down: a client polls to
			// learn which.
			info(r).err = err
			return
		}
		b := s.statusOf(base, j)
		if j.State.Final() {
			event(eventDone, b)
			return
		}
		if k := streamKey(b); k != last {
			if !event(eventStatus, b) {
				return
			}
			last = k
		}
		var progress <-chan time.Time
		var t *time.Timer
		if j.State == jobs.StateRunning {
			t = time.NewTimer(streamProgressEvery)
			progress = t.C
		}
		ok := true
		select {
		case <-changed:
		case <-progress:
		case <-heartbeat.C:
			ok = write(": ping\n\n")
		case <-r.Context().Done():
			ok = false
		case <-s.drain:
			ok = false
		}
		if t != nil {
			t.Stop()
		}
		if !ok {
			return
		}
	}
}
