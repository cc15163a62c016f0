package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// started lists the jobs the server has started, in order, from its log.
func (s *served) started() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, l := range s.log {
		var line struct{ Msg, Job string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "job started" {
			ids = append(ids, line.Job)
		}
	}
	return ids
}

// waitStarted waits until the server's log says it started a job that is
// not among known, and returns its id.
func (s *served) waitStarted(t *testing.T, known ...string) string {
	t.Helper()
	var id string
	require.Eventually(t, func() bool {
		for _, j := range s.started() {
			if !slices.Contains(known, j) {
				id = j
				return true
			}
		}
		return false
	}, time.Minute, 5*time.Millisecond, "no job started:\n%s", s.logText())
	return id
}

// TestBinaryCancel runs the CLI in-process against a real `audex serve`:
// an interrupt (the context main's signal.NotifyContext cancels) during
// `submit --wait` cancels the job on the server; `audex cancel` cancels a
// running job and leaves a finished one, result and all; an unknown job
// is "job not found".
func TestBinaryCancel(t *testing.T) {
	t.Parallel()
	// Ten minutes of audio to MP3: seconds of work, far longer than it
	// takes to see the job start and cancel it.
	long := testmedia.Make(t, "f5-long.mp4", "-f", "lavfi", "-i", "sine=d=600:r=44100", "-c:a", "aac", "-b:a", "32k")
	short := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})
	s := serve(t, filepath.Join(t.TempDir(), "data"))
	defer s.stop(t)
	vars := map[string]string{"AUDEX_SERVER": s.url, "AUDEX_TOKEN": "s3cret"}
	ctx := context.Background()
	var seen []string

	// Ctrl-C during submit --wait.
	out := filepath.Join(t.TempDir(), "long.mp3")
	sigctx, interrupt := context.WithCancel(ctx)
	done := make(chan result, 1)
	go func() { done <- run(t, sigctx, nil, vars, "submit", long, "--wait", "-o", out) }()
	id := s.waitStarted(t)
	seen = append(seen, id)
	interrupt()
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("submit --wait did not return after the interrupt")
	}
	assert.Equal(t, ExitInterrupted, r.code, r.stderr)
	assert.Equal(t, "audex: interrupted; job "+id+" canceled\n", r.stderr)
	assert.NoFileExists(t, out)
	r = run(t, ctx, nil, vars, "status", id, "--wait", "--json")
	assert.Equal(t, ExitFailure, r.code, r.stderr)
	var st struct{ Status, State, Code string }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
	assert.Equal(t, "failed", st.Status)
	assert.Equal(t, "canceled", st.State)
	assert.Equal(t, "canceled", st.Code)

	// audex cancel on a running job waits until it is canceled.
	r = run(t, ctx, nil, vars, "submit", long)
	require.Equal(t, ExitOK, r.code, r.stderr)
	id = strings.TrimSpace(r.stdout)
	require.Equal(t, id, s.waitStarted(t, seen...))
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
