package jobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	// The runtime's poller opens its own descriptors on first use (by the
	// crash test's pipes); start it before counting.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	fds := testmedia.FDs()
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
		if n := testmedia.FDs(); n > fds {
			fmt.Fprintf(os.Stderr, "leaked file descriptors: %d open before the tests, %d after: %v\n", fds, n, fdTargets())
			code = 1
		}
	}
	os.Exit(code)
}

func fdTargets() []string {
	es, _ := os.ReadDir("/proc/self/fd")
	var ts []string
	for _, e := range es {
		t, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		ts = append(ts, t)
	}
	return ts
}

// fake is a controllable Extractor. What it does is written in the job's
// input:
//
//	ok             write "audio:<id>" to dst, report progress, succeed
//	sleep <d>      wait d (or until ctx is done), then as ok
//	block          wait until ctx is done or the gate opens (then as ok)
//	half           report half the progress, then as block
//	stubborn       ignore ctx: wait for the gate, then fail with ctx's error
//	panic          panic
//	crash          fail with ErrWorkerCrashed
//	crash-once     fail with ErrWorkerCrashed on the job's first call, then as ok
//	noaudio        fail with extract.ErrNoAudio
//	enospc         fail with ENOSPC wrapped in extract.ErrOutput
type fake struct {
	gate    chan struct{}
	started chan string // job IDs, as extractions start (never blocks: buffered)
	onStart func(id string)

	mu    sync.Mutex
	calls map[string]int
}

func newFake() *fake {
	return &fake{gate: make(chan struct{}), started: make(chan string, 1000), calls: map[string]int{}}
}

func (f *fake) open() { close(f.gate) }

func (f *fake) callsOf(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

func (f *fake) Extract(ctx context.Context, dst, src string, opts extract.Options) (*extract.Result, error) {
	id := filepath.Base(src)
	in, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("fake: read input: %w", err)
	}
	f.mu.Lock()
	f.calls[id]++
	n := f.calls[id]
	f.mu.Unlock()
	if f.onStart != nil {
		f.onStart(id)
	}
	select {
	case f.started <- id:
	default:
	}
	cmd, arg, _ := strings.Cut(string(in), " ")
	canceled := func() error { return fmt.Errorf("fake: %w: %w", extract.ErrCanceled, ctx.Err()) }
	switch cmd {
	case "ok":
	case "sleep":
		d, err := time.ParseDuration(arg)
		if err != nil {
			return nil, err
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, canceled()
		}
	case "half", "block":
		if cmd == "half" && opts.Progress != nil {
			opts.Progress(extract.Progress{Done: time.Second, Total: 2 * time.Second})
		}
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, canceled()
		}
	case "stubborn":
		<-f.gate
		if ctx.Err() != nil {
			return nil, canceled()
		}
	case "panic":
		panic("fake extractor panics")
	case "crash":
		return nil, fmt.Errorf("fake: worker process: %w", ErrWorkerCrashed)
	case "crash-once":
		if n == 1 {
			return nil, fmt.Errorf("fake: worker process: %w", ErrWorkerCrashed)
		}
	case "noaudio":
		return nil, fmt.Errorf("fake: find stream: %w", extract.ErrNoAudio)
	case "enospc":
		return nil, fmt.Errorf("fake: write: %w: %w", extract.ErrOutput, syscall.ENOSPC)
	default:
		return nil, fmt.Errorf("fake: unknown command %q", in)
	}
	if opts.Progress != nil {
		opts.Progress(extract.Progress{Done: time.Second, Total: 3 * time.Second})
		opts.Progress(extract.Progress{Done: 3 * time.Second, Total: 3 * time.Second})
	}
	if err := os.WriteFile(dst, []byte("audio:"+id), 0o600); err != nil {
		return nil, err
	}
	return &extract.Result{Format: opts.Format, Duration: 3 * time.Second}, nil
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var t0 = time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC)

// bundle is a fresh manager on a fresh data directory.
type bundle struct {
	t     *testing.T
	m     *Manager
	cfg   Config
	fx    *fake
	clock *clock
	logs  *syncBuffer
}

func setup(t *testing.T, mod func(*Config)) *bundle {
	t.Helper()
	b := &bundle{t: t, fx: newFake(), clock: &clock{t: t0}, logs: &syncBuffer{}}
	b.cfg = Config{
		Dir:           t.TempDir(),
		Workers:       2,
		Extractor:     b.fx,
		Now:           b.clock.Now,
		SweepInterval: time.Hour, // tests call sweep themselves
		Logger:        slog.New(slog.NewTextHandler(b.logs, nil)),
	}
	if mod != nil {
		mod(&b.cfg)
	}
	b.start()
	t.Cleanup(func() {
		select {
		case <-b.fx.gate:
		default:
			b.fx.open()
		}
		b.m.Close()
	})
	return b
}

// start (re)opens the manager on the bundle's directory.
func (b *bundle) start() {
	b.t.Helper()
	m, err := New(b.cfg)
	require.NoError(b.t, err)
	b.m = m
}

func (b *bundle) submit(input string, req Request) Job {
	b.t.Helper()
	j, err := b.m.SubmitReader(context.Background(), strings.NewReader(input), req)
	require.NoError(b.t, err)
	return j
}

func (b *bundle) wait(id string) Job {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	j, err := b.m.Wait(ctx, id)
	require.NoError(b.t, err)
	return j
}

// waitStarted waits until the fake has started the job's extraction.
func (b *bundle) waitStarted(id string) {
	b.t.Helper()
	require.Eventually(b.t, func() bool { return b.fx.callsOf(id) > 0 }, 20*time.Second, time.Millisecond)
}

func (b *bundle) path(elem ...string) string {
	return filepath.Join(append([]string{b.cfg.Dir}, elem...)...)
}

// entries lists a data subdirectory.
func (b *bundle) entries(sub string) []string {
	b.t.Helper()
	es, err := os.ReadDir(b.path(sub))
	require.NoError(b.t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(data)
}
