package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
)

// sseEvent is one server-sent event, or a comment line (name ":").
type sseEvent struct {
	name string
	data []byte
}

// sseReader reads events off a stream.
type sseReader struct{ sc *bufio.Scanner }

func newSSEReader(r io.Reader) *sseReader { return &sseReader{sc: bufio.NewScanner(r)} }

// next returns the next event or comment; io.EOF at the end of the stream.
func (r *sseReader) next() (sseEvent, error) {
	var e sseEvent
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if e.name != "" {
				return e, nil
			}
		case strings.HasPrefix(line, ":"):
			return sseEvent{name: ":"}, nil
		case strings.HasPrefix(line, "event: "):
			e.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			e.data = append(e.data, strings.TrimPrefix(line, "data: ")...)
		case strings.HasPrefix(line, "retry: "):
			e.name = "retry"
		default:
			return e, fmt.Errorf("unexpected line %q", line)
		}
	}
	if err := r.sc.Err(); err != nil {
		return e, err
	}
	return e, io.EOF
}

// openStream asks for a job's status as a stream. The caller closes the
// body.
func (b *bundle) openStream(token, id string) *http.Response {
	b.t.Helper()
	req := b.newRequest(http.MethodGet, "/job/extract/video/audio/status/"+id, nil, token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	return resp
}

// statusEvents reads events until the stream ends, checking each status
// against the document, and sends each to got.
func (b *bundle) statusEvents(r io.Reader, got chan<- sseEvent) error {
	defer close(got)
	rd := newSSEReader(r)
	schema := b.openapi.doc.Components.Schemas["JobStatus"]
	for {
		e, err := rd.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if e.name == eventStatus || e.name == eventDone {
			var v any
			if err := json.Unmarshal(e.data, &v); err != nil {
				return err
			}
			if err := schema.Value.VisitJSON(v); err != nil {
				return fmt.Errorf("event %s: %w", e.data, err)
			}
		}
		got <- e
	}
}

// steppedExtractor reports 25 %, waits for a step, reports 75 %, waits for
// a step, and succeeds.
type steppedExtractor struct {
	fakeExtractor
	step chan struct{}
}

func (s *steppedExtractor) Extract(ctx context.Context, dst, src string, opts extract.Options) (*extract.Result, error) {
	if in, _ := os.ReadFile(src); !bytes.HasPrefix(in, []byte("STEP")) {
		return s.fakeExtractor.Extract(ctx, dst, src, opts)
	}
	for _, f := range []float64{0.25, 0.75} {
		opts.Progress(extract.Progress{Done: time.Duration(f * float64(time.Minute)), Total: time.Minute})
		select {
		case <-s.step:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.fakeExtractor.Extract(ctx, dst, src, opts)
}

// TestStatusStream: the stream shows a queued job's place, a running job's
// stage and progress as they change, then the final status, and ends.
func TestStatusStream(t *testing.T) {
	t.Parallel()
	ex := &steppedExtractor{step: make(chan struct{})}
	b := newBundle(t, &bundleOpts{workers: 1, extractor: ex})
	running := b.jobID(b.submitFile(tokenA, []byte("STEP"), "a.mp4", nil, ""))
	queued := b.jobID(b.submitFile(tokenA, []byte("a video"), "b.mp4", nil, ""))

	events := map[string]chan sseEvent{}
	done := make(chan error, 2)
	for _, id := range []string{running, queued} {
		resp := b.openStream(tokenA, id)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		ch := make(chan sseEvent, 100)
		events[id] = ch
		go func() { done <- b.statusEvents(resp.Body, ch) }()
	}
	status := func(e sseEvent) map[string]any {
		var v map[string]any
		require.NoError(t, json.Unmarshal(e.data, &v), "%s", e.data)
		return v
	}
	// waitFor reads id's events until one satisfies ok.
	waitFor := func(id, what string, ok func(e sseEvent, st map[string]any) bool) map[string]any {
		t.Helper()
		for {
			select {
			case e, open := <-events[id]:
				require.True(t, open, "the stream of %s ended before %s", id, what)
				if e.name != eventStatus && e.name != eventDone {
					continue
				}
				if st := status(e); ok(e, st) {
					return st
				}
				require.NotEqual(t, eventDone, e.name, "%s: done before %s", id, what)
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: no %s", id, what)
			}
		}
	}
	st := waitFor(queued, "queued at 1", func(e sseEvent, st map[string]any) bool {
		return st["state"] == "queued" && st["queue_position"] == 1.0
	})
	assert.Equal(t, statusPending, st["status"])
	waitFor(running, "25 %", func(e sseEvent, st map[string]any) bool {
		return st["stage"] == "extracting" && st["progress"] == 25.0
	})
	ex.step <- struct{}{}
	st = waitFor(running, "75 %", func(e sseEvent, st map[string]any) bool { return st["progress"] == 75.0 })
	assert.Equal(t, "extracting, 75% done", st["message"])
	ex.step <- struct{}{}
	st = waitFor(running, "done", func(e sseEvent, st map[string]any) bool { return e.name == eventDone })
	assert.Equal(t, statusSuccessful, st["status"])
	assert.Contains(t, st["url"], "/results/"+running+"/")
	waitFor(queued, "running", func(e sseEvent, st map[string]any) bool { return e.name == eventDone || st["state"] == "running" })
	for range 2 {
		require.NoError(t, <-done, "streams end after the final event")
	}
	_, open := <-events[running]
	assert.False(t, open, "nothing after done")

	// A final job's stream is its done event alone; the document covers it.
	req := b.newRequest(http.MethodGet, "/job/extract/video/audio/status/"+running, nil, tokenA)
	req.Header.Set("Accept", "application/json, text/event-stream")
	r := b.do(req)
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "text/event-stream", r.Header.Get("Content-Type"))
	assert.Equal(t, 1, strings.Count(string(r.body), "event: "), "%s", r.body)
	assert.Contains(t, string(r.body), "event: done\ndata: {\"job_id\":\""+running+"\",\"status\":\"successful\"")
}

// TestStatusStreamAuth: a stream has the status route's auth and
// ownership.
func TestStatusStreamAuth(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	id := b.jobID(b.submitFile(tokenA, []byte("a video"), "a.mp4", nil, ""))
	get := func(token, id string) *response {
		req := b.newRequest(http.MethodGet, "/job/extract/video/audio/status/"+id, nil, token)
		req.Header.Set("Accept", "text/event-stream")
		return b.do(req)
	}
	unknown := get(tokenA, "AAAAAAAAAAAAAAAAAAAAAA")
	other := get(tokenB, id)
	assert.Equal(t, http.StatusNotFound, other.StatusCode)
	assert.Equal(t, unknown.body, other.body, "another owner's job is as unknown")
	assert.Equal(t, "application/json", other.Header.Get("Content-Type"))
	assert.Equal(t, http.StatusUnauthorized, get("", id).StatusCode)
	assert.Equal(t, http.StatusUnauthorized, get("wrong", id).StatusCode)

	// HEAD (which the mux routes to GET handlers) is answered at once, as
	// for the plain status.
	req := b.newRequest(http.MethodHead, "/job/extract/video/audio/status/"+id, nil, tokenA)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
}

// TestStatusStreamLimits: with 200 idle streams asked for, the per-owner
// and total limits hold (the rest get 429), idle streams get heartbeats,
// and a drain ends them all.
func TestStatusStreamLimits(t *testing.T) {
	t.Parallel()
	const total, perOwner = 150, 100
	b := newBundle(t, &bundleOpts{workers: 1, mutate: func(c *Config) {
		c.MaxStreams, c.MaxStreamsPerOwner = total, perOwner
		c.StreamHeartbeat = 200 * time.Millisecond
	}})
	b.jobID(b.submitFile(tokenA, []byte("HOLD"), "hold.mp4", nil, "")) // keeps the one worker
	jobOf := map[string]string{
		tokenA: b.jobID(b.submitFile(tokenA, []byte("a video"), "a.mp4", nil, "")),
		tokenB: b.jobID(b.submitFile(tokenB, []byte("a video"), "b.mp4", nil, "")),
	}
	// A client of its own: 200 connections at once.
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	open := func(token string) *http.Response {
		req := b.newRequest(http.MethodGet, "/job/extract/video/audio/status/"+jobOf[token], nil, token)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := c.Do(req)
		require.NoError(t, err)
		return resp
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	var streams []*http.Response
	refused := map[string]int{}
	for i := range 200 {
		token := tokenA
		if i >= 120 {
			token = tokenB
		}
		resp := open(token)
		switch resp.StatusCode {
		case http.StatusOK:
			streams = append(streams, resp)
		case http.StatusTooManyRequests:
			refused[token]++
			assert.NotEmpty(t, resp.Header.Get("Retry-After"))
			body, _ := io.ReadAll(resp.Body)
			assert.Contains(t, string(body), `"code":"too_many_streams"`)
			resp.Body.Close()
		default:
			t.Fatalf("stream %d: %s", i, resp.Status)
		}
	}
	defer func() {
		for _, s := range streams {
			s.Body.Close()
		}
	}()
	require.Len(t, streams, total)
	assert.Equal(t, 120-perOwner, refused[tokenA], "alice past her limit")
	assert.Equal(t, 80-(total-perOwner), refused[tokenB], "bob past the total")
	assert.Equal(t, total, b.s.streams.open())
	// The document covers the refusal.
	req := b.newRequest(http.MethodGet, "/job/extract/video/audio/status/"+jobOf[tokenA], nil, tokenA)
	req.Header.Set("Accept", "text/event-stream")
	assert.Equal(t, http.StatusTooManyRequests, b.do(req).StatusCode)

	// Every stream is live: its first event, then a heartbeat.
	readers := make([]*sseReader, len(streams))
	for i, s := range streams {
		readers[i] = newSSEReader(s.Body)
		e, err := readers[i].next()
		require.NoError(t, err)
		require.Equal(t, "retry", e.name)
		e, err = readers[i].next()
		require.NoError(t, err)
		require.Equal(t, eventStatus, e.name)
	}
	for _, i := range []int{0, len(readers) - 1} {
		e, err := readers[i].next()
		require.NoError(t, err)
		assert.Equal(t, ":", e.name, "a heartbeat on an idle stream")
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d idle streams (client and server in this process): %.1f KiB heap and %.1f goroutines each",
		total, float64(int64(after.HeapInuse)-int64(before.HeapInuse))/total/1024,
		float64(runtime.NumGoroutine()-goroutines)/total)

	// A drain ends every stream, without a done event.
	b.s.SetDraining()
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			for {
				e, err := readers[i].next()
				if err != nil {
					assert.ErrorIs(t, err, io.EOF)
					return
				}
				assert.NotEqual(t, eventDone, e.name)
			}
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool { return b.s.streams.open() == 0 }, 10*time.Second, time.Millisecond)
}

func TestAcceptsEventStream(t *testing.T) {
	t.Parallel()
	for accept, want := range map[string]bool{
		"text/event-stream":                      true,
		"application/json, text/event-stream":    true,
		"text/event-stream; charset=utf-8":       true,
		"TEXT/Event-Stream":                      true,
		"application/json":                       false,
		"":                                       false,
		"*/*":                                    false,
		"text/event-streams, text/event-stream2": false,
	} {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		assert.Equal(t, want, acceptsEventStream(req), "%q", accept)
	}
}

// TestStatusStreamPacesReads: a waiting stream reads its job at most once
// every streamProgressEvery, however often the manager signals changes
// (with a shared store, every node's): a burst of 200 changes of other
// jobs costs it a read per quarter second, not one per change, and it
// still follows its own job to the end.
func TestStatusStreamPacesReads(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{workers: 1})
	holder := b.jobID(b.submitFile(tokenA, []byte("HOLD"), "hold.mp4", nil, "")) // keeps the one worker
	id := b.jobID(b.submitFile(tokenA, []byte("a video"), "a.mp4", nil, ""))
	resp := b.openStream(tokenA, id)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	events := make(chan sseEvent, 100)
	done := make(chan error, 1)
	go func() { done <- b.statusEvents(resp.Body, events) }()
	for e := range events {
		if e.name == eventStatus {
			break // the stream has read its job and waits
		}
	}
	reads := func() int {
		m := string(b.do(b.newRequest(http.MethodGet, "/metrics", nil, "")).body)
		var n int
		for line := range strings.Lines(m) {
			if _, err := fmt.Sscanf(line, "audex_status_stream_reads_total %d", &n); err == nil {
				return n
			}
		}
		t.Fatalf("no audex_status_stream_reads_total in\n%s", m)
		return 0
	}

	before, start := reads(), time.Now()
	for range 100 { // a submission and a deletion: two changes
		other := b.jobID(b.submitFile(tokenB, []byte("v"), "x.mp4", nil, ""))
		require.Equal(t, http.StatusNoContent, b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+other, nil, tokenB)).StatusCode)
	}
	elapsed := time.Since(start)
	n := reads() - before
	assert.LessOrEqual(t, n, int(elapsed/streamProgressEvery)+2, "%d reads in %s", n, elapsed)

	// Canceling the holder lets the job run: the stream shows it to the end.
	require.Equal(t, http.StatusNoContent, b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+holder, nil, tokenA)).StatusCode)
	var last sseEvent
	for e := range events {
		last = e
	}
	require.NoError(t, <-done)
	assert.Equal(t, eventDone, last.name)
	assert.Contains(t, string(last.data), `"status":"successful"`)
}
