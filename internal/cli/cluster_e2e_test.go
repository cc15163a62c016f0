package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/httpapi"
	"github.com/audex/audex/internal/s3blobs"
	"github.com/audex/audex/internal/testmedia"
	"github.com/audex/audex/internal/testsvc"
	"github.com/audex/audex/jobs"
)

// Issue #13's acceptance tests: the built binary as API-only replicas
// (`serve --workers 0`) and work nodes (`work`) on one PostgreSQL database
// and one S3 bucket (versitygw), every process on loopback. Each test has
// servers of its own.

// cluster is one test's shared store and bucket, and how to start nodes
// on them.
type cluster struct {
	t     testing.TB
	env   []string // the store, the bucket, its credentials, the signing key
	blobs jobs.Blobs
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	s3srv := testsvc.StartS3(t)
	store := testsvc.StartPostgres(t).NewDatabase(t)
	blobsURL := s3srv.URL(s3srv.NewBucket(t), "audex")
	key := make([]byte, 32)
	rand.Read(key)
	keyFile := filepath.Join(t.TempDir(), "signing.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(hex.EncodeToString(key)), 0o600))
	c := &cluster{t: t, env: []string{"AUDEX_STORE=" + store, "AUDEX_BLOBS=" + blobsURL, "AUDEX_SIGNING_KEY_FILE=" + keyFile}}
	s3env := s3srv.Env()
	for k, v := range s3env {
		c.env = append(c.env, k+"="+v)
	}
	var err error
	c.blobs, err = s3blobs.New(blobsURL, func(k string) string { return s3env[k] })
	require.NoError(t, err)
	return c
}

// replica starts an API-only replica, `serve --workers 0` (with serveEnv's
// defaults: no grace period, a 100 ms drain, unless flags say otherwise).
func (c *cluster) replica(flags ...string) *served {
	c.t.Helper()
	return serveEnv(c.t, c.t.TempDir(), c.env, append([]string{"--workers", "0"}, flags...)...)
}

// node starts a work node, `audex work` with one worker and a 100 ms drain.
func (c *cluster) node(flags ...string) *served {
	c.t.Helper()
	args := append([]string{"work", "--data-dir", c.t.TempDir(), "--workers", "1", "--drain-timeout", "100ms"}, flags...)
	return startLogged(c.t, c.env, "working", args...)
}

// results lists the result objects in the bucket.
func (c *cluster) results() []jobs.BlobInfo {
	c.t.Helper()
	ls, err := c.blobs.List(c.t.Context(), "results/")
	require.NoError(c.t, err)
	return ls
}

// logged counts the lines of the log with message msg about job id.
func (s *served) logged(msg, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.log {
		var line struct{ Msg, Job string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == msg && line.Job == id {
			n++
		}
	}
	return n
}

// longInput is ten minutes of audio: seconds of extraction to MP3, long
// enough to be seen running with progress and interrupted.
func longInput(t *testing.T) string {
	return testmedia.Make(t, "f5-long.mp4", "-f", "lavfi", "-i", "sine=d=600:r=44100", "-c:a", "aac", "-b:a", "32k")
}

// runningOn waits until job id is running with progress on one of nodes
// (its attempt number attempt), seen through replica r, and returns that
// node.
func runningOn(t *testing.T, c *http.Client, r *served, id string, attempt int, nodes ...*served) *served {
	t.Helper()
	var st map[string]any
	require.Eventually(t, func() bool {
		st = r.status(t, c, id)
		p, _ := st["progress"].(float64)
		return st["state"] == "running" && st["attempts"] == float64(attempt) && p > 0
	}, 2*time.Minute, 10*time.Millisecond, "%s never ran attempt %d with progress: %v", id, attempt, st)
	// The node's log says which one it is (read from its pipe, it may
	// come a moment after the status).
	var on []*served
	require.Eventually(t, func() bool {
		on = on[:0]
		for _, n := range nodes {
			if n.cmd.ProcessState == nil && n.logged("job started", id) > 0 {
				on = append(on, n)
			}
		}
		return len(on) > 0
	}, 30*time.Second, 10*time.Millisecond, "no live node logged the start of %s", id)
	require.Len(t, on, 1, "%s started on two live nodes", id)
	return on[0]
}

// final waits for job id to be final, seen through replica r.
func final(t *testing.T, c *http.Client, r *served, id string) map[string]any {
	t.Helper()
	var st map[string]any
	require.Eventually(t, func() bool {
		st = r.status(t, c, id)
		return st["status"] != "pending"
	}, 3*time.Minute, 20*time.Millisecond, "%s never ended: %v", id, st)
	return st
}

// kill SIGKILLs a node and reaps it.
func kill(t *testing.T, n *served) {
	t.Helper()
	require.NoError(t, n.cmd.Process.Kill())
	<-n.done
	n.cmd.Wait()
}

// request sends an authenticated request to a replica.
func request(t *testing.T, c *http.Client, method, url string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set(httpapi.TokenHeader, "s3cret")
	resp, err := c.Do(req)
	require.NoError(t, err)
	return resp
}

// 1. Submit on A, poll on B, download via B with Range. A video_url job
// is fetched by a work node.
func TestClusterSubmitPollDownload(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	a, b := cl.replica("--allow-private-fetch"), cl.replica("--allow-private-fetch")
	nodes := []*served{cl.node("--allow-private-fetch"), cl.node("--allow-private-fetch")}
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 3})

	code, id := a.submit(t, c, src)
	require.Equal(t, http.StatusOK, code, id)
	st := final(t, c, b, id)
	require.Equal(t, "successful", st["status"], "%v", st)
	url, _ := st["url"].(string)
	require.True(t, strings.HasPrefix(url, b.url+"/results/"+id+"/"), url)

	whole := request(t, c, http.MethodGet, url, nil)
	body, err := io.ReadAll(whole.Body)
	whole.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, whole.StatusCode)
	out := filepath.Join(t.TempDir(), "a.mp3")
	require.NoError(t, os.WriteFile(out, body, 0o600))
	assertSeconds(t, testmedia.Decode(t, src).Seconds(), testmedia.Decode(t, out))

	part := request(t, c, http.MethodGet, url, http.Header{"Range": {"bytes=100-1099"}})
	got, err := io.ReadAll(part.Body)
	part.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusPartialContent, part.StatusCode)
	assert.Equal(t, body[100:1100], got)

	video := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(src))))
	defer video.Close()
	r := run(t, t.Context(), nil, map[string]string{"AUDEX_SERVER": a.url, "AUDEX_TOKEN": "s3cret"},
		"submit", video.URL+"/"+filepath.Base(src), "--format", "wav")
	require.Equal(t, ExitOK, r.code, r.stderr)
	byURL := strings.TrimSpace(r.stdout)
	st = final(t, c, b, byURL)
	assert.Equal(t, "successful", st["status"], "%v", st)
	assert.Equal(t, 1, nodes[0].logged("job fetched", byURL)+nodes[1].logged("job fetched", byURL), "fetched once, by a work node")
	assert.Len(t, cl.results(), 2)
}

// 2. SIGKILL the node running a job: all K jobs succeed, the interrupted
// one on its second attempt, and exactly K results are in the bucket.
func TestClusterNodeKilled(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	a, b := cl.replica(), cl.replica()
	nodes := []*served{cl.node(), cl.node()}
	short := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})

	code, long := a.submit(t, c, longInput(t))
	require.Equal(t, http.StatusOK, code, long)
	ids := []string{long}
	for range 3 {
		code, id := b.submit(t, c, short)
		require.Equal(t, http.StatusOK, code, id)
		ids = append(ids, id)
	}
	victim := runningOn(t, c, b, long, 1, nodes...)
	kill(t, victim)
	t.Logf("killed the node running %s", long)

	for _, id := range ids {
		st := final(t, c, a, id)
		assert.Equal(t, "successful", st["status"], "%s: %v", id, st)
		want := 1.0
		if id == long {
			want = 2
		}
		assert.Equal(t, want, st["attempts"], id)
	}
	assert.Len(t, cl.results(), len(ids), "one result object per job")
}

// 3. A job whose node dies twice ends worker_crashed.
func TestClusterTwoDeaths(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	a, b := cl.replica(), cl.replica()
	nodes := []*served{cl.node(), cl.node()}

	code, id := a.submit(t, c, longInput(t))
	require.Equal(t, http.StatusOK, code, id)
	first := runningOn(t, c, b, id, 1, nodes...)
	kill(t, first)
	second := runningOn(t, c, b, id, 2, nodes...)
	kill(t, second)
	// No work node is left: the replicas' reapers settle the job.
	st := final(t, c, a, id)
	assert.Equal(t, "failed", st["status"], "%v", st)
	assert.Equal(t, "worker_crashed", st["code"], "%v", st)
	assert.Empty(t, cl.results())
}

// 4. Cancel on B while the job runs on a node: canceled within 1 s, and no
// result object.
func TestClusterCancel(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	a, b := cl.replica(), cl.replica()
	nodes := []*served{cl.node(), cl.node()}

	code, id := a.submit(t, c, longInput(t))
	require.Equal(t, http.StatusOK, code, id)
	on := runningOn(t, c, a, id, 1, nodes...)
	asked := time.Now()
	resp := request(t, c, http.MethodDelete, b.url+"/job/extract/video/audio/"+id, nil)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, resp.Status)
	var st map[string]any
	for {
		st = b.status(t, c, id)
		if st["state"] == "canceled" || time.Since(asked) > 5*time.Second {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(asked)
	require.Equal(t, "canceled", st["state"], "%v", st)
	assert.Less(t, took, time.Second, "canceled through B %v after the request", took)
	require.Eventually(t, func() bool { return on.logged("job canceled", id) > 0 }, time.Minute, 10*time.Millisecond,
		"the node running %s did not stop it:\n%s", id, on.logText())
	assert.Empty(t, cl.results())
	t.Logf("canceled on B, seen canceled %v after the request", took.Round(time.Millisecond))
}

// 5. Short retention: the link answers 410, no object is left, and the job
// is forgotten after the grace period.
func TestClusterRetention(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	keep := []string{"--retention", "3s"}
	a, b := cl.replica(keep...), cl.replica(keep...)
	cl.node(append(keep, "--expired-grace", "2s", "--sweep-interval", "200ms")...)
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})

	code, id := a.submit(t, c, src)
	require.Equal(t, http.StatusOK, code, id)
	st := final(t, c, b, id)
	require.Equal(t, "successful", st["status"], "%v", st)
	url := st["url"].(string)
	require.Eventually(t, func() bool {
		resp := request(t, c, http.MethodGet, url, nil)
		resp.Body.Close()
		return resp.StatusCode == http.StatusGone
	}, time.Minute, 50*time.Millisecond, "the result never expired")
	require.Eventually(t, func() bool {
		ls, err := cl.blobs.List(t.Context(), "")
		return err == nil && len(ls) == 0
	}, time.Minute, 50*time.Millisecond, "objects left in the bucket")
	require.Eventually(t, func() bool {
		resp := request(t, c, http.MethodGet, a.url+"/job/extract/video/audio/status/"+id, nil)
		resp.Body.Close()
		return resp.StatusCode == http.StatusNotFound
	}, time.Minute, 50*time.Millisecond, "the job was not forgotten")
}

// 6. Concurrent submissions to both replicas, no node running: exactly
// --queue are accepted, the rest get 429.
func TestClusterQueueBound(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	const queue, each = 5, 8
	a, b := cl.replica("--queue", "5"), cl.replica("--queue", "5")
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})

	codes := make(chan int, 2*each)
	var wg sync.WaitGroup
	for _, r := range []*served{a, b} {
		for range each {
			wg.Go(func() {
				code, _ := r.submit(t, c, src)
				codes <- code
			})
		}
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for code := range codes {
		n[code]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: queue, http.StatusTooManyRequests: 2*each - queue}, n)
}

// 7. SIGTERM on a node: its job goes back to the queue without counting a
// crash, and the other node takes it at once. That node is then SIGKILLed,
// and a third one still runs the job to success: had the shutdown counted
// as a crash, this death would have been the job's second and ended it
// worker_crashed.
func TestClusterNodeTerminated(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	a, b := cl.replica(), cl.replica()
	nodes := []*served{cl.node(), cl.node()}

	code, id := a.submit(t, c, longInput(t))
	require.Equal(t, http.StatusOK, code, id)
	first := runningOn(t, c, b, id, 1, nodes...)
	first.stop(t)
	assert.Contains(t, first.logText(), `"msg":"stopped"`)
	second := runningOn(t, c, b, id, 2, nodes...)
	kill(t, second)
	cl.node()
	st := final(t, c, a, id)
	assert.Equal(t, "successful", st["status"], "%v", st)
	assert.Equal(t, 3.0, st["attempts"])
	assert.Len(t, cl.results(), 1)
}

// 8. Rolling restart of a replica under a steady stream of submissions:
// every one is answered 200 or 503 with Retry-After until the replica's
// grace period ends, the other replica goes on accepting, and the
// replica started in its place answers for the jobs.
func TestClusterRollingRestart(t *testing.T) {
	t.Parallel()
	cl := newCluster(t)
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	flags := []string{"--queue", "100000", "--shutdown-grace", "3s"}
	a, b := cl.replica(flags...), cl.replica(flags...)
	cl.node()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})
	u := newUpload(t, src)
	got := <-restartStream(t, c, a, u)
	a.wait(t)
	checkStream(t, a, got, "5")
	var ids []string
	for _, ans := range got {
		if ans.code == http.StatusOK {
			ids = append(ids, ans.id)
		}
	}
	ans := u.submit(c, b)
	require.Equal(t, http.StatusOK, ans.code, "B accepts while A restarts: %v", ans.err)
	ids = append(ids, ans.id)

	a2 := cl.replica(flags...)
	for _, id := range ids {
		st := final(t, c, a2, id)
		assert.Equal(t, "successful", st["status"], "%s: %v", id, st)
	}
}
