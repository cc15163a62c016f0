package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/jobs"
)

// startUpload opens a raw connection and sends the headers and the first
// chunk of a multipart upload that claims total bytes of video.
func startUpload(t *testing.T, addr string, total, first int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	head := "--B\r\nContent-Disposition: form-data; name=\"video\"; filename=\"a.mp4\"\r\n\r\n"
	tail := "\r\n--B--\r\n"
	_, err = fmt.Fprintf(conn, "POST /job/extract/video/audio/file HTTP/1.1\r\nHost: x\r\n%s: %s\r\n"+
		"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n%s",
		TokenHeader, tokenA, len(head)+total+len(tail), head)
	require.NoError(t, err)
	_, err = conn.Write(bytes.Repeat([]byte{'v'}, first))
	require.NoError(t, err)
	return conn
}

// uploadGrows waits until an upload file holds data.
func (b *bundle) uploadGrows(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, p := range b.uploads() {
			if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "the upload is being written to disk")
}

func TestClientDisconnectMidUpload(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{mutate: func(c *Config) { c.MaxUploadBytes = 64 << 20 }})
	conn := startUpload(t, b.ts.Listener.Addr().String(), 20<<20, 10<<20)
	b.uploadGrows(t)
	conn.Close()
	start := time.Now()
	require.Eventually(t, func() bool { return len(b.uploads()) == 0 }, 10*time.Second, 5*time.Millisecond,
		"the temp file is removed once the client is gone")
	t.Logf("temp file removed %v after the disconnect", time.Since(start))
	require.Eventually(t, func() bool { return strings.Contains(b.logText(), `"path":"/job/extract/video/audio/file"`) }, 10*time.Second, 5*time.Millisecond)
	assert.Zero(t, b.jobCount())
}

func TestStalledUploadIsCut(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{mutate: func(c *Config) { c.UploadIdleTimeout = 300 * time.Millisecond }})
	conn := startUpload(t, b.ts.Listener.Addr().String(), 512<<10, 100<<10)
	defer conn.Close()
	b.uploadGrows(t)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the server answers a stalled upload instead of waiting")
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"code":"stalled"`)
	assert.Empty(t, b.uploads())
	assert.Zero(t, b.jobCount())
}

func TestServeLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logs := &bytes.Buffer{}
	base := Config{
		DataDir:           dir,
		Credentials:       []Credential{{Owner: "alice", Token: tokenA}},
		Workers:           1,
		DrainTimeout:      500 * time.Millisecond,
		ReadHeaderTimeout: 300 * time.Millisecond,
		Logger:            slog.New(slog.NewJSONHandler(&lockedWriter{mu: new(sync.Mutex), w: logs}, nil)),
	}
	serve := func(ex jobs.Extractor) (string, context.CancelFunc, <-chan error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		cfg := base
		cfg.Extractor = ex
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, ln, cfg) }()
		return "http://" + ln.Addr().String(), cancel, done
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	submit := func(base string, video string) string {
		body, ct := multipartBody(t, []byte(video), "a.mp4", nil)
		req, _ := http.NewRequest(http.MethodPost, base+"/job/extract/video/audio/file", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set(TokenHeader, tokenA)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var v struct {
			JobID string `json:"job_id"`
		}
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
		return v.JobID
	}
	status := func(base, id string) map[string]any {
		req, _ := http.NewRequest(http.MethodGet, base+"/job/extract/video/audio/status/"+id, nil)
		req.Header.Set(TokenHeader, tokenA)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var v map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
		return v
	}

	held := &fakeExtractor{hold: make(chan struct{})}
	defer close(held.hold)
	addr, cancel, done := serve(held)
	running := submit(addr, "HOLD")
	queued := submit(addr, "v")
	require.Eventually(t, func() bool { return status(addr, running)["state"] == "running" }, 10*time.Second, 10*time.Millisecond)

	// A client that never finishes its headers is cut by ReadHeaderTimeout.
	slow, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	require.NoError(t, err)
	defer slow.Close()
	slow.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(slow)
	require.NoError(t, err, "the server closed the connection before our deadline")

	// Shutdown: the held job cannot finish within the drain timeout, so it
	// goes back to the queue; Serve still returns cleanly.
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its drain timeout")
	}
	client.CloseIdleConnections()

	free := &fakeExtractor{hold: make(chan struct{})}
	close(free.hold)
	addr, cancel, done = serve(free)
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	for _, id := range []string{running, queued} {
		require.Eventually(t, func() bool { return status(addr, id)["status"] == statusSuccessful }, 10*time.Second, 10*time.Millisecond, id)
	}
	assert.Equal(t, 2.0, status(addr, running)["attempts"], "the interrupted job ran again")
	assert.Equal(t, 1.0, status(addr, queued)["attempts"])
	assert.Contains(t, logs.String(), `"msg":"draining"`)
}

// FuzzUploadHandler sends arbitrary bodies to the upload handler: the
// status is always one the API documents, the body is never read past its
// limit, and a refused upload leaves no file.
func FuzzUploadHandler(f *testing.F) {
	b := newBundle(f, &bundleOpts{mutate: func(c *Config) { c.MaxUploadBytes = 64 << 10 }})
	valid, ct := multipartBody(f, []byte("video"), "a.mp4", map[string]string{"start_time": "1", "duration": "2"})
	vb, _ := io.ReadAll(valid)
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add(boundary, vb, "multipart/form-data", true)
	f.Add("B", []byte("--B\r\nContent-Disposition: form-data; name=\"video\"; filename=\"a\"\r\n\r\n\r\n--B--\r\n"), "multipart/form-data", true)
	f.Add("B", []byte("--B\r\nContent-Disposition: form-data; name=\"start_time\"\r\n\r\nNaN\r\n--B--"), "multipart/form-data", true)
	f.Add("B", bytes.Repeat([]byte("x"), 70<<10), "multipart/form-data", true)
	f.Add("", []byte("video=1"), "application/x-www-form-urlencoded", true)
	f.Add("B", vb, "multipart/form-data", false)
	allowed := map[int]bool{200: true, 400: true, 401: true, 408: true, 413: true, 415: true, 422: true, 429: true, 503: true}
	f.Fuzz(func(t *testing.T, boundary string, body []byte, mediaType string, auth bool) {
		cr := &countingReader{r: bytes.NewReader(body)}
		req := httptest.NewRequest(http.MethodPost, "/job/extract/video/audio/file", cr)
		req.Header.Set("Content-Type", mediaType+"; boundary="+boundary)
		if auth {
			req.Header.Set(TokenHeader, tokenA)
		}
		rec := httptest.NewRecorder()
		b.s.ServeHTTP(rec, req)
		require.True(t, allowed[rec.Code], "status %d: %s", rec.Code, rec.Body)
		require.LessOrEqual(t, cr.n.Load(), b.cfg.MaxUploadBytes+multipartSlack+1)
		if rec.Code != http.StatusOK {
			require.Empty(t, b.uploads())
		}
	})
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// FuzzResolveResultPath asks for results under arbitrary (job id, name)
// pairs carrying a valid signature, as if the key had leaked: only the real
// job's file is ever served, never a file outside the results root, even
// through a symlink planted in the results directory.
func FuzzResolveResultPath(f *testing.F) {
	b := newBundle(f, nil)
	id := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
	planted := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
	b.waitStatus(tokenA, id)
	b.waitStatus(tokenA, planted)
	sentinel := []byte("SENTINEL: must never be served")
	require.NoError(f, os.WriteFile(filepath.Join(b.cfg.DataDir, "sentinel"), sentinel, 0o600))
	require.NoError(f, os.WriteFile(filepath.Join(filepath.Dir(b.cfg.DataDir), "sentinel"), sentinel, 0o600))
	victim := filepath.Join(b.cfg.DataDir, "results", planted, "audio.mp3")
	require.NoError(f, os.Remove(victim))
	require.NoError(f, os.Symlink("../../sentinel", victim))

	for _, seed := range [][2]string{
		{id, "x.mp3"}, {planted, "x.mp3"}, {"../../sentinel", "x"}, {id, "../../sentinel"}, {"..", "sentinel"},
		{id + "/../" + planted, "a"}, {"%2e%2e", "%2fetc%2fpasswd"}, {"", ""}, {id, ""}, {"AAAAAAAAAAAAAAAAAAAAAA", "x.mp3"},
		{strings.ToUpper(id), "x.mp3"}, {id + "\x00", "x"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, jobID, name string) {
		p := resultPath(jobID, name)
		u := &url.URL{
			Path:     p,
			RawPath:  resultsPrefix + url.PathEscape(jobID) + "/" + url.PathEscape(name),
			RawQuery: b.s.signer.sign(p, time.Time{}).Encode(),
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()
		rec := httptest.NewRecorder()
		b.s.ServeHTTP(rec, req)
		require.False(t, bytes.Contains(rec.Body.Bytes(), sentinel), "served a file outside the results root")
		if rec.Code == http.StatusOK {
			require.Equal(t, id, jobID)
			require.Equal(t, payload(), rec.Body.Bytes())
			return
		}
		require.Contains(t, []int{301, 307, 308, 400, 403, 404, 410, 500}, rec.Code, "%s", rec.Body)
		if jobID == planted {
			require.NotEqual(t, http.StatusOK, rec.Code)
		}
	})
}

// rss reads the process's resident set size.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestUploadMemoryIsFlat streams a large upload (generated on the fly) and
// samples RSS meanwhile: it must not grow with the upload's size. Not
// parallel, so other tests do not disturb the measurement.
func TestUploadMemoryIsFlat(t *testing.T) {
	const size = 128 << 20
	b := newBundle(t, &bundleOpts{mutate: func(c *Config) { c.MaxUploadBytes = size + 1 }})
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("video", "big.mp4")
		if err == nil {
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			for n := 0; n < size && err == nil; n += len(chunk) {
				_, err = fw.Write(chunk)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	runtime.GC()
	debug.FreeOSMemory()
	base := rss(t)
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if r := rss(t); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	req := b.newRequest(http.MethodPost, "/job/extract/video/audio/file", pr, tokenA)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	start := time.Now()
	r := b.do(req)
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	id := b.jobID(r)
	growth := peak.Load() - base
	t.Logf("%d MiB upload in %v: RSS %d MiB -> peak %d MiB (growth %d MiB)", size>>20, elapsed, base>>20, peak.Load()>>20, growth>>20)
	assert.Less(t, growth, int64(48<<20), "RSS grew with the upload")
	st := b.waitStatus(tokenA, id)
	assert.Equal(t, float64(size), st["metadata"].(map[string]any)["input_bytes"])
}
