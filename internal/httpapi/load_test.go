package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadEnv switches the load tests to their full size (make load): 20 MB
// uploads instead of 256 KiB.
const loadEnv = "AUDEX_LOAD"

// holdUpload is a streamed multipart submit body of size bytes of video
// that the fake extractor holds ("HOLD..."), with its exact length.
func holdUpload(size int) (io.Reader, int64, string) {
	head := "--B\r\nContent-Disposition: form-data; name=\"video\"; filename=\"a.mp4\"\r\n\r\nHOLD"
	tail := "\r\n--B--\r\n"
	body := io.MultiReader(strings.NewReader(head), io.LimitReader(vees{}, int64(size-4)), strings.NewReader(tail))
	return body, int64(len(head) + size - 4 + len(tail)), "multipart/form-data; boundary=B"
}

// statmRSS is the resident memory now, 0 when unknown.
func statmRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// vees reads as an endless run of 'v'.
type vees struct{}

func (vees) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'v'
	}
	return len(p), nil
}

// TestConcurrentUploads is L1: 50 clients upload at once into a queue of 20
// behind one busy worker; each is accepted or told to retry (429/503 with
// Retry-After), none gets a 5xx, and no upload file is left. Each upload
// holds its place in the queue while it arrives, so the refused ones are
// refused before their bodies are read. The uploads are 256 KiB here and
// 20 MB under make load, which also reports submit latency (L1 asks for a
// p99 within 2 s) and peak memory.
func TestConcurrentUploads(t *testing.T) {
	size := 256 << 10
	full := os.Getenv(loadEnv) != ""
	if full {
		size = 20 << 20
	} else {
		t.Parallel()
	}
	b := newBundle(t, &bundleOpts{workers: 1, queueSize: 20, mutate: func(c *Config) { c.MaxUploadBytes = int64(size) }})
	const clients = 50
	type result struct {
		status     int
		retryAfter string
		body       []byte
		latency    time.Duration
		sent       int64 // body bytes the client had to produce
	}
	results := make(chan result, clients)
	var peak atomic.Int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	base := statmRSS()
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), statmRSS()))
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			body, n, ct := holdUpload(size)
			counted := &countingReader{r: body}
			req, _ := http.NewRequest(http.MethodPost, b.url("/job/extract/video/audio/file"), counted)
			req.ContentLength = n
			req.Header.Set("Content-Type", ct)
			req.Header.Set(TokenHeader, tokenA)
			t0 := time.Now()
			resp, err := b.client.Do(req)
			if !assert.NoError(t, err) {
				return
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, resp.Header.Get("Retry-After"), rb, time.Since(t0), counted.n.Load()}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	close(results)
	accepted, refused := 0, 0
	var refusedSent int64
	refusals := map[string]int{} // status and body: why, when the count is off
	var latencies []time.Duration
	for r := range results {
		latencies = append(latencies, r.latency)
		switch r.status {
		case http.StatusOK:
			accepted++
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			refused++
			refusedSent += r.sent
			refusals[fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))]++
			assert.NotEmpty(t, r.retryAfter, "a refusal says when to retry")
		default:
			t.Errorf("status %d: %s", r.status, r.body)
		}
	}
	slices.Sort(latencies)
	require.Len(t, latencies, clients)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(clients-1))].Round(time.Millisecond) }
	t.Logf("%d x %d KiB in %v: %d accepted, %d refused (%d KiB of their bodies sent); submit latency p50 %v p99 %v; RSS %d MiB, peak +%d MiB",
		clients, size>>10, elapsed.Round(time.Millisecond), accepted, refused, refusedSent>>10, pct(0.5), pct(0.99), base>>20, (peak.Load()-base)>>20)
	// 20 wait and one runs (if the worker took the first before the last
	// client asked for a place); the rest were refused.
	assert.Contains(t, []int{20, 21}, accepted, "refusals: %v", refusals)
	assert.Equal(t, accepted, b.jobCount())
	assert.Empty(t, b.uploads(), "no upload file left")
	if full {
		// Loopback buffers take a few MB of a refused body before the
		// refusal reaches the client; 20 MB each were not read.
		assert.Less(t, refusedSent, int64(refused)*int64(size)/4, "refused uploads were not received")
	}
	if full && !raceEnabled {
		// Uploads stream to disk: memory does not grow with 1 GB of them.
		assert.Less(t, peak.Load()-base, int64(300<<20), "peak RSS growth")
	}
}

// TestQueueOverflow is L2(a): with one job running and a queue of 100, 150
// quick submissions (10 at a time) get exactly 100 jobs; the other 50 are
// told 429 with Retry-After and leave nothing behind.
func TestQueueOverflow(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{workers: 1, queueSize: 100})
	running := b.jobID(b.submitFile(tokenA, []byte("HOLD"), "x.mp4", nil, ""))
	require.Eventually(t, func() bool { return b.status(tokenA, running).json(t)["state"] == "running" }, 10*time.Second, 5*time.Millisecond)

	var accepted, refused atomic.Int64
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	for i := range 150 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			body, n, ct := holdUpload(1 << 10)
			req, _ := http.NewRequest(http.MethodPost, b.url("/job/extract/video/audio/file"), body)
			req.ContentLength = n
			req.Header.Set("Content-Type", ct)
			req.Header.Set(TokenHeader, tokenA)
			resp, err := b.client.Do(req)
			if !assert.NoError(t, err, "submit %d", i) {
				return
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				accepted.Add(1)
			case http.StatusTooManyRequests:
				refused.Add(1)
				assert.Equal(t, "5", resp.Header.Get("Retry-After"))
				assert.Contains(t, string(rb), `"code":"queue_full"`)
			default:
				t.Errorf("submit %d: status %d: %s", i, resp.StatusCode, rb)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(100), accepted.Load(), "exactly the queue's size accepted")
	assert.Equal(t, int64(50), refused.Load())
	assert.Equal(t, 101, b.jobCount(), "100 queued jobs and the running one")
	assert.Empty(t, b.uploads(), "refused bodies are not kept")
	tmp, err := os.ReadDir(b.cfg.DataDir + "/tmp")
	require.NoError(t, err)
	assert.Empty(t, tmp)
	st, err := b.m.Stats()
	require.NoError(t, err)
	assert.Equal(t, 100, st.Queued, fmt.Sprintf("%+v", st))

	// With the queue full, a new upload is refused before its body is read.
	body, n, ct := holdUpload(64 << 20)
	counted := &countingReader{r: body}
	req, _ := http.NewRequest(http.MethodPost, b.url("/job/extract/video/audio/file"), counted)
	req.ContentLength = n
	req.Header.Set("Content-Type", ct)
	req.Header.Set(TokenHeader, tokenA)
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Less(t, counted.n.Load(), int64(8<<20), "the 64 MiB body was not read before the refusal")
}
