package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUploadCutAtDrainDeadline: an upload still arriving when a shutdown's
// drain timeout runs out is answered 503 with Retry-After (not a closed
// connection), and nothing of it is kept: no spooled file, no input, no
// job.
func TestUploadCutAtDrainDeadline(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dir := t.TempDir()
	cfg := Config{
		DataDir:      dir,
		Credentials:  []Credential{{Owner: "alice", Token: tokenA}},
		Workers:      1,
		Extractor:    &fakeExtractor{hold: make(chan struct{})},
		DrainTimeout: 50 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, cfg) }()

	pr, pw := io.Pipe()
	defer pw.Close()
	mw := multipart.NewWriter(pw)
	req, err := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/job/extract/video/audio/file", pr)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set(TokenHeader, tokenA)
	type result struct {
		resp *http.Response
		err  error
	}
	answered := make(chan result, 1)
	c := &http.Client{}
	defer c.CloseIdleConnections()
	go func() {
		resp, err := c.Do(req)
		answered <- result{resp, err}
	}()
	go func() {
		fw, _ := mw.CreateFormFile("video", "a.mp4")
		fw.Write(make([]byte, 64<<10))
		// The rest never comes: the writer blocks until the test ends.
	}()
	spooled := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, uploadsDir, uploadPattern))
		return m
	}
	require.Eventually(t, func() bool { return len(spooled()) == 1 }, 30*time.Second, time.Millisecond, "the upload is arriving")

	cancel()
	var r result
	select {
	case r = <-answered:
	case <-time.After(30 * time.Second):
		pw.CloseWithError(io.ErrUnexpectedEOF)
		t.Fatal("no answer to the upload cut off at the drain deadline")
	}
	require.NoError(t, r.err, "the upload gets an answer")
	defer r.resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, r.resp.StatusCode)
	assert.Equal(t, "5", r.resp.Header.Get("Retry-After"))
	var body errorBody
	require.NoError(t, json.NewDecoder(r.resp.Body).Decode(&body))
	assert.Equal(t, "unavailable", body.Code)
	require.NoError(t, <-served)

	assert.Empty(t, spooled(), "no spooled upload left")
	inputs, _ := os.ReadDir(filepath.Join(dir, "inputs"))
	assert.Empty(t, inputs, "no input kept")
}
