package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// TestBinaryCancel runs the CLI in-process against a real `audex serve`:
// an interrupt (the context main's signal.NotifyContext cancels) during
// `submit --wait` cancels the job on the server; `audex cancel` cancels a
// pending job and leaves a finished one, result and all; an unknown job
// is "job not found". The jobs to cancel are URL jobs whose video never
// finishes arriving from a loopback server: they stay pending until
// canceled, however slow the machine (a long extraction could finish first).
func TestBinaryCancel(t *testing.T) {
	t.Parallel()
	fetching := make(chan string, 4)
	quit := make(chan struct{})
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(make([]byte, 32<<10))
		w.(http.Flusher).Flush()
		fetching <- r.URL.Path
		select {
		case <-r.Context().Done():
		case <-quit:
		}
	}))
	t.Cleanup(func() { close(quit); stall.Close() })
	fetched := func(path string) {
		t.Helper()
		select {
		case p := <-fetching:
			require.Equal(t, path, p)
		case <-time.After(time.Minute):
			t.Fatal("the server did not start fetching " + path)
		}
	}
	short := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})
	s := serve(t, filepath.Join(t.TempDir(), "data"), "--allow-private-fetch")
	defer s.stop(t)
	vars := map[string]string{"AUDEX_SERVER": s.url, "AUDEX_TOKEN": "s3cret"}
	ctx := context.Background()

	// Ctrl-C during submit --wait.
	out := filepath.Join(t.TempDir(), "long.mp3")
	sigctx, interrupt := context.WithCancel(ctx)
	done := make(chan result, 1)
	go func() { done <- run(t, sigctx, nil, vars, "submit", stall.URL+"/a.mp4", "--wait", "-o", out) }()
	fetched("/a.mp4")
	// Interrupted once it waits: the server has answered a status request
	// (an interrupt during the submission itself leaves no id to cancel).
	require.Eventually(t, func() bool {
		return strings.Contains(s.logText(), `"path":"/job/extract/video/audio/status/`)
	}, time.Minute, 5*time.Millisecond, "the client never asked for the status:\n%s", s.logText())
	interrupt()
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("submit --wait did not return after the interrupt")
	}
	assert.Equal(t, ExitInterrupted, r.code, r.stderr)
	require.Regexp(t, `^audex: interrupted; job \S+ canceled\n$`, r.stderr)
	id := strings.Fields(r.stderr)[3]
	assert.NoFileExists(t, out)
	r = run(t, ctx, nil, vars, "status", id, "--wait", "--json")
	assert.Equal(t, ExitFailure, r.code, r.stderr)
	var st struct{ Status, State, Code string }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
	assert.Equal(t, "failed", st.Status)
	assert.Equal(t, "canceled", st.State)
	assert.Equal(t, "canceled", st.Code)

	// audex cancel on a pending job waits until it is canceled.
	r = run(t, ctx, nil, vars, "submit", stall.URL+"/b.mp4")
	require.Equal(t, ExitOK, r.code, r.stderr)
	id = strings.TrimSpace(r.stdout)
	fetched("/b.mp4")
	r = run(t, ctx, nil, vars, "cancel", id)
	assert.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, id+": canceled\n", r.stdout)
	r = run(t, ctx, nil, vars, "status", id)
	assert.Equal(t, ExitFailure, r.code)
	assert.True(t, strings.HasPrefix(r.stdout, id+": failed: ") && strings.HasSuffix(r.stdout, " (canceled)\n"), r.stdout)
	assert.Empty(t, r.stderr, "the reason is said once")
	r = run(t, ctx, nil, vars, "cancel", id)
	assert.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, id+": already canceled\n", r.stdout)

	// A finished job is left alone, its result kept.
	r = run(t, ctx, nil, vars, "submit", short, "--format", "wav")
	require.Equal(t, ExitOK, r.code, r.stderr)
	id = strings.TrimSpace(r.stdout)
	r = run(t, ctx, nil, vars, "status", id, "--wait")
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, ctx, nil, vars, "cancel", id)
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "audex: "+id+": already successful: nothing to cancel\n", r.stderr)
	out = filepath.Join(t.TempDir(), "short.wav")
	r = run(t, ctx, nil, vars, "fetch", id, "-o", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Positive(t, testmedia.Decode(t, out).Seconds())

	// Unknown jobs, of a job id's shape or not.
	for _, id := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "nope"} {
		for _, cmd := range []string{"status", "cancel", "fetch"} {
			r = run(t, ctx, nil, vars, cmd, id)
			assert.Equal(t, ExitFailure, r.code)
			assert.Equal(t, "audex: "+id+": job not found\n", r.stderr, "%s %s", cmd, id)
		}
	}
}
