package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeServer speaks the job API: a job is pending for one poll, then
// successful with the upload reversed as its result (reported truncated
// when the upload says "cut"), or failed when the upload says "bad".
type fakeServer struct {
	*httptest.Server
	mu     sync.Mutex
	jobs   map[string]*fakeJob
	fields map[string]string // of the last submit
}

type fakeJob struct {
	polls  int
	result string
	failed bool
}

func newFakeServer(t *testing.T, token string) *fakeServer {
	f := &fakeServer{jobs: map[string]*fakeJob{}}
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("apy-token") != token {
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"unauthorized","code":"unauthorized"}`))
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /job/extract/video/audio/file", auth(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseMultipartForm(1<<20))
		file, _, err := r.FormFile("video")
		require.NoError(t, err)
		b, _ := io.ReadAll(file)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.fields = map[string]string{}
		for k, v := range r.MultipartForm.Value {
			f.fields[k] = v[0]
		}
		id := "job" + string(rune('a'+len(f.jobs)))
		rev := []byte(string(b))
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		f.jobs[id] = &fakeJob{result: string(rev), failed: string(b) == "bad"}
		json.NewEncoder(w).Encode(map[string]string{"job_id": id})
	}))
	mux.HandleFunc("GET /job/extract/video/audio/status/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id := r.PathValue("id")
		j := f.jobs[id]
		if j == nil {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"job not found","code":"not_found"}`))
			return
		}
		j.polls++
		st := map[string]any{"job_id": id, "status": "pending", "stage": "extracting", "progress": 50}
		switch {
		case j.polls > 1 && j.failed:
			st = map[string]any{"job_id": id, "status": "failed", "message": "no audio stream", "code": "no_audio_stream"}
		case j.polls > 1:
			st = map[string]any{"job_id": id, "status": "successful", "url": "/download/" + id + "/result.mp3",
				"metadata": map[string]any{"output": map[string]any{"duration": 1.5, "truncated": j.result == "tuc"}}}
		}
		json.NewEncoder(w).Encode(st)
	}))
	mux.HandleFunc("GET /download/{id}/result.mp3", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Disposition", `attachment; filename="movie.mp3"`)
		io.WriteString(w, f.jobs[r.PathValue("id")].result)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func TestSubmitStatusFetch(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, "tok")
	vars := map[string]string{"AUDEX_SERVER": srv.URL, "AUDEX_TOKEN": "tok"}
	ctx := context.Background()
	dir := t.TempDir()
	in := filepath.Join(dir, "movie.mp4")
	require.NoError(t, os.WriteFile(in, []byte("video bytes"), 0o644))

	r := run(t, ctx, nil, vars, "submit", in, "--start", "1:30.5", "--duration", "2", "--format", "wav", "--lang", "de", "--bitrate", "96k")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "joba\n", r.stdout)
	assert.Equal(t, map[string]string{"start_time": "90.5", "duration": "2", "output_format": "wav", "language": "de", "bitrate": "96000"}, srv.fields)

	r = run(t, ctx, nil, vars, "status", "joba")
	assert.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "joba: pending, extracting 50%\n", r.stdout)

	r = run(t, ctx, nil, vars, "status", "joba", "--json")
	assert.Equal(t, ExitOK, r.code, r.stderr)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	assert.Equal(t, "successful", st["status"])

	r = run(t, ctx, nil, vars, "fetch", "joba", "-o", filepath.Join(dir, "out.wav"))
	require.Equal(t, ExitOK, r.code, r.stderr)
	b, err := os.ReadFile(filepath.Join(dir, "out.wav"))
	require.NoError(t, err)
	assert.Equal(t, "setyb oediv", string(b))

	// "-" writes standard output.
	r = run(t, ctx, nil, vars, "fetch", "joba", "-o", "-")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "setyb oediv", r.stdout)

	r = run(t, ctx, nil, vars, "status", "nope")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "audex: nope: job not found\n", r.stderr)
}

func TestSubmitWait(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t, "tok")
	ctx := context.Background()
	dir := t.TempDir()
	in := filepath.Join(dir, "movie.mp4")
	require.NoError(t, os.WriteFile(in, []byte("abc"), 0o644))

	// --wait writes into the working directory, named after the input,
	// and says where.
	wd := t.TempDir()
	r := runIn(t, ctx, wd, nil, nil, "submit", in, "--wait", "--server", srv.URL, "--token", "tok", "--format", "ogg")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, filepath.Join(wd, "movie.ogg")+": 3 B\n", r.stdout)
	b, err := os.ReadFile(filepath.Join(wd, "movie.ogg"))
	require.NoError(t, err)
	assert.Equal(t, "cba", string(b))
	assert.NoFileExists(t, filepath.Join(dir, "movie.ogg"), "not next to the input")
	assert.Equal(t, "true", srv.fields["full_audio"], "no duration: the whole audio, as extract does")

	// A missing output directory fails before the upload.
	srv.mu.Lock()
	jobs := len(srv.jobs)
	srv.mu.Unlock()
	gone := filepath.Join(dir, "gone")
	r = run(t, ctx, nil, nil, "submit", in, "-o", filepath.Join(gone, "x.mp3"), "--server", srv.URL, "--token", "tok")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "audex: "+filepath.Join(gone, "x.mp3")+": the directory "+gone+" does not exist\n", r.stderr)
	srv.mu.Lock()
	assert.Len(t, srv.jobs, jobs, "nothing submitted")
	srv.mu.Unlock()

	// A failed job exits 1 with the server's reason, and writes nothing.
	bad := filepath.Join(dir, "bad.mp4")
	require.NoError(t, os.WriteFile(bad, []byte("bad"), 0o644))
	r = run(t, ctx, nil, map[string]string{"AUDEX_TOKEN": "tok"}, "submit", bad, "-o", filepath.Join(dir, "bad.mp3"), "--server", srv.URL)
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "audex: jobb: job failed: no audio stream (no_audio_stream)\n", r.stderr)
	assert.NoFileExists(t, filepath.Join(dir, "bad.mp3"))

	r = run(t, ctx, nil, nil, "status", "jobb", "--server", srv.URL, "--token", "tok")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "jobb: failed: no audio stream (no_audio_stream)\n", r.stdout)
	assert.Empty(t, r.stderr, "the reason is said once")

	// The result of an input cut short comes with a warning.
	cut := filepath.Join(dir, "cut.mp4")
	require.NoError(t, os.WriteFile(cut, []byte("cut"), 0o644))
	r = runIn(t, ctx, wd, nil, nil, "submit", cut, "--wait", "--server", srv.URL, "--token", "tok")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, filepath.Join(wd, "cut.mp3")+": 3 B\n", r.stdout)
	assert.Regexp(t, `^audex: warning: the input of job job. ends early \(cut short or damaged\): the output holds the audio up to that point\n$`, r.stderr)

	// Wrong token.
	r = run(t, ctx, nil, nil, "submit", in, "--server", srv.URL, "--token", "nope")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "audex: "+in+": HTTP 401: unauthorized (unauthorized)\n", r.stderr)

	// Unreachable server.
	r = run(t, ctx, nil, nil, "status", "x", "--server", "http://127.0.0.1:1")
	assert.Equal(t, ExitFailure, r.code)
	assert.True(t, strings.HasPrefix(r.stderr, "audex: x: GET /job/extract/video/audio/status/x: "), r.stderr)
}
