package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/httpapi"
	"github.com/audex/audex/internal/testmedia"
)

// served is a running `audex serve` (or `audex work`) and its JSON log.
type served struct {
	cmd  *exec.Cmd
	url  string // "" for a work node
	mu   sync.Mutex
	log  []string
	done chan struct{} // stderr is closed
}

// serve starts the binary on a loopback port with five workers, a short
// drain timeout and no grace period (unless flags say otherwise), on data
// directory dir.
func serve(t testing.TB, dir string, flags ...string) *served {
	t.Helper()
	return serveEnv(t, dir, nil, flags...)
}

// serveEnv is serve with variables added to its environment.
func serveEnv(t testing.TB, dir string, env []string, flags ...string) *served {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir,
		"--workers", "5", "--queue", "100", "--drain-timeout", "100ms", "--shutdown-grace", "0"}, flags...)
	return startLogged(t, append([]string{"AUDEX_TOKEN=s3cret"}, env...), "serving", args...)
}

// startLogged starts the binary with args and variables added to its
// environment, and returns once it has logged the line with message ready
// (its "addr" field, if any, is the server's address). The process is
// killed when t ends if it is still running.
func startLogged(t testing.TB, env []string, ready string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(audexBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	s := &served{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
			cmd.Wait()
		}
	})
	addr := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.log = append(s.log, sc.Text())
			s.mu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == ready {
				select {
				case addr <- line.Addr:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		if a != "" {
			s.url = "http://" + a
		}
	case <-s.done:
		t.Fatalf("audex %s exited before it was ready:\n%s", args[0], s.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("audex %s did not start:\n%s", args[0], s.logText())
	}
	return s
}

func (s *served) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.log, "\n")
}

// succeeded counts the "job succeeded" log lines per job.
func (s *served) succeeded() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := map[string]int{}
	for _, l := range s.log {
		var line struct{ Msg, Job string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "job succeeded" {
			n[line.Job]++
		}
	}
	return n
}

// submit uploads the file at path for its whole audio as MP3; it returns
// the status code and the job id (or the error).
func (s *served) submit(t testing.TB, c *http.Client, path string) (int, string) {
	t.Helper()
	a := newUpload(t, path).submit(c, s)
	if a.err != nil {
		return 0, a.err.Error()
	}
	return a.code, a.id
}

func (s *served) status(t testing.TB, c *http.Client, id string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+"/job/extract/video/audio/status/"+id, nil)
	require.NoError(t, err)
	req.Header.Set(httpapi.TokenHeader, "s3cret")
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

// stop sends SIGTERM and requires a clean exit.
func (s *served) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	s.wait(t)
}

func (s *served) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("audex did not exit after SIGTERM:\n%s", s.logText())
	}
	require.NoError(t, s.cmd.Wait(), "exit status; log:\n%s", s.logText())
}

// TestBinaryShutdownWithWork is reliability.md F5 on the real binary: with
// 5 long extractions running in isolate processes and 20 jobs queued,
// `audex serve` gets SIGTERM. It refuses new submissions, cuts the running
// jobs off after its drain timeout (they go back to the queue) and exits 0.
// Started again on the same data directory, it brings all 25 jobs to
// success, the interrupted ones on their second attempt, and each job
// succeeds exactly once.
func TestBinaryShutdownWithWork(t *testing.T) {
	t.Parallel()
	// Ten minutes of audio to MP3: seconds of work per job, far beyond the
	// 100 ms drain timeout.
	long := testmedia.Make(t, "f5-long.mp4", "-f", "lavfi", "-i", "sine=d=600:r=44100", "-c:a", "aac", "-b:a", "32k")
	short := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})
	data := filepath.Join(t.TempDir(), "data")
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()

	s := serve(t, data)
	var running, queued []string
	for range 5 {
		code, id := s.submit(t, c, long)
		require.Equal(t, http.StatusOK, code, id)
		running = append(running, id)
	}
	for _, id := range running {
		require.Eventually(t, func() bool { return s.status(t, c, id)["state"] == "running" }, 20*time.Second, 5*time.Millisecond, id)
	}
	for range 20 {
		code, id := s.submit(t, c, short)
		require.Equal(t, http.StatusOK, code, id)
		queued = append(queued, id)
	}
	for _, id := range queued {
		require.Equal(t, "queued", s.status(t, c, id)["state"], id)
	}
	for _, id := range running {
		require.Equal(t, "running", s.status(t, c, id)["state"], "%s still running at SIGTERM", id)
	}

	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool { return strings.Contains(s.logText(), `"msg":"draining"`) }, 10*time.Second, time.Millisecond)
	c.CloseIdleConnections()
	code, msg := s.submit(t, c, short)
	t.Logf("a submission after SIGTERM: %d %s", code, msg)
	assert.NotEqual(t, http.StatusOK, code, "new submissions are refused while draining")
	s.wait(t)
	first := s.succeeded()
	for _, id := range running {
		assert.Zero(t, first[id], "%s was cut off, not finished", id)
	}

	s2 := serve(t, data)
	defer s2.stop(t)
	start := time.Now()
	for _, id := range append(running, queued...) {
		var st map[string]any
		require.Eventually(t, func() bool {
			st = s2.status(t, c, id)
			return st["status"] != "pending"
		}, 60*time.Second, 10*time.Millisecond, id)
		assert.Equal(t, "successful", st["status"], "%s: %v", id, st)
		want := 1.0 // queued ones ran once
		if slices.Contains(running, id) {
			want = 2 // cut off, then run again
		}
		assert.Equal(t, want, st["attempts"], id)
		entries, err := os.ReadDir(filepath.Join(data, "results", id))
		require.NoError(t, err)
		assert.Len(t, entries, 1, "one result file for %s", id)
	}
	t.Logf("after the restart all 25 jobs finished in %v", time.Since(start).Round(time.Millisecond))
	second := s2.succeeded()
	for _, id := range append(running, queued...) {
		assert.Equal(t, 1, first[id]+second[id], "%s succeeded exactly once", id)
	}
}
