package jobs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The crash test re-executes the test binary as a child that runs a
// manager on a given data directory. The child reports on stdout:
//
//	submitted <id>   the job was accepted (Submit returned)
//	start <id>       the extractor started on the job
//	final <id> <s>   the child saw the job reach final state s
const (
	crashChildEnv  = "JOBS_CRASH_CHILD_DIR"
	crashSubmitEnv = "JOBS_CRASH_CHILD_SUBMIT"
)

// crashChild runs in the child process until it is killed.
func crashChild(dir string) int {
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	fx := newFake()
	fx.onStart = func(id string) { say("start %s", id) }
	m, err := New(Config{Dir: dir, Workers: 2, QueueSize: 1000, Extractor: fx,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	watch := func(id string) {
		j, err := m.Wait(context.Background(), id)
		if err == nil {
			say("final %s %s", id, j.State)
		}
	}
	jobs, err := m.List("")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	for _, j := range jobs {
		go watch(j.ID)
	}
	if os.Getenv(crashSubmitEnv) != "" {
		// A poison job first (it blocks until killed), then short ones.
		inputs := []string{"block"}
		for i := range 20 {
			inputs = append(inputs, fmt.Sprintf("sleep %dms", 20+7*i))
		}
		for _, in := range inputs {
			j, err := m.SubmitReader(context.Background(), strings.NewReader(in), Request{})
			if err != nil {
				fmt.Fprintln(os.Stderr, "child:", err)
				return 2
			}
			say("submitted %s", j.ID)
			go watch(j.ID)
		}
	}
	select {} // until SIGKILL
}

// child is a running crash child and what it has said.
type child struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	eof   chan struct{}
}

func startChild(t *testing.T, dir string, submit bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	if submit {
		cmd.Env = append(cmd.Env, crashSubmitEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, eof: make(chan struct{})}
	go func() {
		defer close(c.eof)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
		}
		io.Copy(io.Discard, out)
	}()
	return c
}

// said returns the IDs of the lines that start with verb (and, for final
// lines, the state).
func (c *child) said(verb string) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := map[string]string{}
	for _, l := range c.lines {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == verb {
			ids[f[1]] = strings.Join(f[2:], " ")
		}
	}
	return ids
}

func (c *child) starts(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Count(strings.Join(c.lines, "\n")+"\n", "start "+id+"\n")
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
	<-c.eof
	err := c.cmd.Wait()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "killed")
}

func (c *child) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !assert.Eventually(t, cond, 60*time.Second, 5*time.Millisecond, what) {
		c.mu.Lock()
		t.Fatalf("the child said:\n%s", strings.Join(c.lines, "\n"))
	}
}

// TestCrashRecovery SIGKILLs a real process running jobs, twice, and opens
// the data directory again: every accepted job reaches a final state,
// nothing is lost, nothing completes twice, and the job that was running
// during both deaths is quarantined as worker_crashed.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	// First life: 21 jobs accepted; killed with the poison job running and
	// a few jobs done.
	c1 := startChild(t, dir, true)
	var poison string
	c1.waitFor(t, "first child runs the poison job and finishes 3 jobs", func() bool {
		c1.mu.Lock()
		// The first submitted (its start may be said before it).
		for _, l := range c1.lines {
			if id, ok := strings.CutPrefix(l, "submitted "); ok && poison == "" {
				poison = id
			}
		}
		c1.mu.Unlock()
		return poison != "" && c1.starts(poison) == 1 && len(c1.said("final")) >= 3 && len(c1.said("submitted")) == 21
	})
	c1.kill(t)
	submitted := c1.said("submitted")
	require.Len(t, submitted, 21)
	done1 := c1.said("final")

	// Second life: killed as soon as the poison job is running again.
	c2 := startChild(t, dir, false)
	c2.waitFor(t, "second child runs the poison job again", func() bool { return c2.starts(poison) == 1 })
	c2.kill(t)
	done2 := c2.said("final")

	// Third life, in this process.
	fx := newFake()
	m, err := New(Config{Dir: dir, Workers: 2, Extractor: fx})
	require.NoError(t, err)
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	succeeded := 0
	for id := range submitted {
		j, err := m.Wait(ctx, id)
		require.NoError(t, err, "job %s lost", id)
		require.True(t, j.State.Final(), "job %s: %s", id, j.State)
		starts := c1.starts(id) + c2.starts(id) + fx.callsOf(id)
		assert.GreaterOrEqual(t, j.Attempts, starts, "job %s", id)
		if s, ok := done1[id]; ok {
			assert.Equal(t, string(j.State), s, "job %s changed after it was final", id)
			assert.Zero(t, c2.starts(id)+fx.callsOf(id), "job %s ran again after it was final", id)
		}
		if s, ok := done2[id]; ok {
			assert.Equal(t, string(j.State), s, "job %s changed after it was final", id)
			assert.Zero(t, fx.callsOf(id), "job %s ran again after it was final", id)
		}
		switch {
		case id == poison:
			require.Equal(t, StateFailed, j.State)
			assert.Equal(t, CodeWorkerCrashed, j.Error.Code)
			assert.Equal(t, 2, j.Attempts)
			assert.Zero(t, fx.callsOf(id), "the quarantined job ran a third time")
		case j.State == StateSucceeded:
			succeeded++
			entries, err := os.ReadDir(filepath.Join(dir, resultsDir, id))
			require.NoError(t, err)
			assert.Len(t, entries, 1, "job %s", id)
			f, _, err := m.OpenResult(context.Background(), id)
			require.NoError(t, err)
			assert.Equal(t, "audio:"+id, readAll(t, f))
			f.Close()
		default:
			// Only a job that was running during both deaths may fail: it
			// was claimed once in each child (a child may die between the
			// claim and the "start" line, so the lines cannot tell).
			require.Equal(t, StateFailed, j.State, "job %s", id)
			assert.Equal(t, CodeWorkerCrashed, j.Error.Code, "job %s", id)
			assert.Equal(t, 2, j.Attempts, "job %s", id)
			assert.Zero(t, fx.callsOf(id), "job %s", id)
		}
	}
	assert.GreaterOrEqual(t, succeeded, 15)
	jobs, err := m.List("")
	require.NoError(t, err)
	assert.Len(t, jobs, len(submitted), "jobs appeared from nowhere")
	for _, sub := range []string{inputsDir, tmpDir} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		require.NoError(t, err)
		assert.Empty(t, entries, sub)
	}
	entries, err := os.ReadDir(filepath.Join(dir, resultsDir))
	require.NoError(t, err)
	assert.Len(t, entries, succeeded)
}
