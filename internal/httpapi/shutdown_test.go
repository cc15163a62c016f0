package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
)

// F5 (graceful shutdown with work) runs the service in a real process: the
// test binary re-executed as a child that serves on a data directory until
// SIGTERM, the way a command built on Run would.
const (
	serveChildEnv = "AUDEX_HTTPAPI_SERVE_CHILD" // the data directory
	// serveChildFastEnv makes the child's slow inputs fast (the restart).
	serveChildFastEnv = "AUDEX_HTTPAPI_SERVE_CHILD_FAST"
	// extractionsLog, beside the data directory, gets one line per
	// extraction that ran to its end: "done <job id>".
	extractionsLog = "extractions.log"
)

// logExtractor stands in for the pipeline in the child: inputs starting
// with "SLOW" take a minute (unless fast), others 100 ms; each finished
// extraction is appended to the log.
type logExtractor struct {
	log  string
	fast bool
}

func (e logExtractor) Extract(ctx context.Context, dst, src string, opts extract.Options) (*extract.Result, error) {
	in, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	d := 100 * time.Millisecond
	if strings.HasPrefix(string(in), "SLOW") && !e.fast {
		d = time.Minute
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", extract.ErrCanceled, ctx.Err())
	case <-time.After(d):
	}
	if err := os.WriteFile(dst, []byte("audio"), 0o640); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(e.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	// The job id is the input's file name in the data directory.
	_, err = fmt.Fprintf(f, "done %s\n", filepath.Base(src))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return &extract.Result{Format: opts.Format, Duration: time.Second, Bytes: 5}, err
}

// serveChild is the child's main: it prints "listening <addr>" and serves
// until SIGTERM, logging JSON to stderr.
func serveChild(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	fmt.Printf("listening %s\n", ln.Addr())
	err = Serve(ctx, ln, Config{
		DataDir:      dir,
		Credentials:  []Credential{{Owner: "alice", Token: tokenA}},
		Workers:      5,
		QueueSize:    100,
		DrainTimeout: 500 * time.Millisecond,
		Extractor:    logExtractor{log: filepath.Join(filepath.Dir(dir), extractionsLog), fast: os.Getenv(serveChildFastEnv) != ""},
		Logger:       slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// server is a running child and what it logged.
type server struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{} // the child's output is closed
}

func startServer(t *testing.T, dir string, fast bool) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveChildEnv+"="+dir)
	if fast {
		cmd.Env = append(cmd.Env, serveChildFastEnv+"=1")
	}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	s := &server{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
			cmd.Wait()
		}
	})
	addr := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
		io.Copy(io.Discard, stdout)
	})
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
	})
	go func() {
		wg.Wait()
		close(s.done)
	}()
	select {
	case s.addr = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not start:\n%s", s.logs())
	}
	return s
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

func (s *server) submit(t *testing.T, client *http.Client, video string) (int, string) {
	t.Helper()
	body, ct := multipartBody(t, []byte(video), "a.mp4", nil)
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/job/extract/video/audio/file", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set(TokenHeader, tokenA)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var v struct {
		JobID string `json:"job_id"`
	}
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v.JobID
}

func (s *server) status(t *testing.T, client *http.Client, id string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr+"/job/extract/video/audio/status/"+id, nil)
	req.Header.Set(TokenHeader, tokenA)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	s.wait(t)
}

func (s *server) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not exit after SIGTERM:\n%s", s.logs())
	}
	require.NoError(t, s.cmd.Wait(), "exit status; log:\n%s", s.logs())
}

// TestShutdownWithWork is F5: a served process with 5 jobs running (slower
// than the drain timeout) and 20 queued gets SIGTERM. It refuses new
// submissions, re-queues the running jobs and exits 0; restarted on the
// same data directory it brings all 25 jobs to success, the interrupted
// ones on their second attempt, and no extraction completes twice.
func TestShutdownWithWork(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	s := startServer(t, dir, false)
	var slow, queued []string
	for i := range 25 {
		video := "queued"
		if i < 5 {
			video = "SLOW"
		}
		code, id := s.submit(t, client, video)
		require.Equal(t, http.StatusOK, code, id)
		if i < 5 {
			slow = append(slow, id)
			continue
		}
		queued = append(queued, id)
		if i == 5 {
			// The first five hold every worker; the rest wait.
			for _, id := range slow {
				require.Eventually(t, func() bool { return s.status(t, client, id)["state"] == "running" }, 10*time.Second, 5*time.Millisecond)
			}
		}
	}
	for _, id := range queued {
		require.Equal(t, "queued", s.status(t, client, id)["state"], id)
	}

	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool { return strings.Contains(s.logs(), `"msg":"draining"`) }, 10*time.Second, time.Millisecond)
	client.CloseIdleConnections()
	code, msg := s.submit(t, client, "late")
	t.Logf("a submission after SIGTERM: %d %s", code, msg)
	assert.NotEqual(t, http.StatusOK, code, "a submission after SIGTERM is refused (%d %s)", code, msg)
	s.wait(t)
	logs := s.logs()
	assert.Contains(t, logs, `"jobs_drained":false`, "the slow jobs were cut off")

	s = startServer(t, dir, true)
	defer s.stop(t)
	for _, id := range append(slow, queued...) {
		var st map[string]any
		require.Eventually(t, func() bool {
			st = s.status(t, client, id)
			return st["status"] != statusPending
		}, 30*time.Second, 10*time.Millisecond, id)
		assert.Equal(t, statusSuccessful, st["status"], "%s: %v", id, st)
	}
	for _, id := range slow {
		assert.Equal(t, 2.0, s.status(t, client, id)["attempts"], "%s was interrupted once", id)
	}
	for _, id := range queued {
		assert.Equal(t, 1.0, s.status(t, client, id)["attempts"], id)
	}

	b, err := os.ReadFile(filepath.Join(base, extractionsLog))
	require.NoError(t, err)
	done := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		done[strings.TrimPrefix(line, "done ")]++
	}
	assert.Len(t, done, 25, "every job's extraction completed")
	for id, n := range done {
		assert.Equal(t, 1, n, "%s completed %d times", id, n)
	}
}
