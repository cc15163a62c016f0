package httpapi

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/jobs"
)

// trickler is a loopback video server that sends 10 bytes every 20 ms
// (500 B/s) until the client goes away; started is closed at its first
// request.
func trickler(t *testing.T) (*httptest.Server, <-chan struct{}) {
	started := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		once.Do(func() { close(started) })
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := w.Write([]byte("0123456789")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, started
}

// TestURLFetchHoldsNoWorker is issue #13's "URL inputs must not occupy
// extraction workers": with one extraction worker, a video_url job whose
// server trickles 500 B/s does not delay a file job submitted after it (the
// file job succeeds while the URL job is still fetching, pending, stage
// fetching); and the minimum rate (16 KiB per FetchIdleTimeout, 100 ms
// here) ends such a download with fetch_failed.
func TestURLFetchHoldsNoWorker(t *testing.T) {
	t.Parallel()
	t.Run("file job passes", func(t *testing.T) {
		t.Parallel()
		srv, started := trickler(t)
		// A minute per 16 KiB: the trickle lasts as long as the test needs.
		b := newBundle(t, &bundleOpts{workers: 1, realClock: true, mutate: func(c *Config) { c.FetchIdleTimeout = time.Minute }})
		slow := b.jobID(b.submitURL(tokenA, srv.URL+"/slow.mp4", nil))
		<-started
		file := b.jobID(b.submitFile(tokenA, []byte("v"), "a.mp4", nil, ""))
		st := b.waitStatus(tokenA, file)
		assert.Equal(t, statusSuccessful, st["status"], "%v", st)
		st = b.status(tokenA, slow).json(t)
		assert.Equal(t, statusPending, st["status"], "%v", st)
		assert.Equal(t, string(jobs.StageFetching), st["stage"], "%v", st)
		// Deleting it ends the download.
		r := b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+slow, nil, tokenA))
		require.Less(t, r.StatusCode, 300)
	})
	t.Run("minimum rate", func(t *testing.T) {
		t.Parallel()
		srv, _ := trickler(t)
		b := newBundle(t, &bundleOpts{workers: 1, realClock: true, mutate: func(c *Config) { c.FetchIdleTimeout = 100 * time.Millisecond }})
		id := b.jobID(b.submitURL(tokenA, srv.URL+"/slow.mp4", nil))
		st := b.waitStatus(tokenA, id)
		assert.Equal(t, statusFailed, st["status"], "%v", st)
		assert.Equal(t, jobs.CodeFetchFailed, st["code"])
		assert.Contains(t, st["message"], "less than 16384 bytes in 100ms")
	})
}
