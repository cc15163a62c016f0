package isolate

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/audex/audex/internal/testmedia"
)

// childEnv makes the test binary an isolate process: the pool tests start
// real isolates by re-executing it.
const childEnv = "AUDEX_ISOLATE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := ServeProcess(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "isolate:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Count descriptors once the runtime's poller holds its own.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	fds := openFDs()
	code := m.Run()
	if code == 0 {
		if err := leaks(fds); err != nil {
			fmt.Fprintln(os.Stderr, "leak check:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// leaks reports goroutines, file descriptors or child processes left over
// once the tests are done.
func leaks(fds int) error {
	if err := goleak.Find(); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, kids := openFDs(), children()
		if n <= fds && len(kids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d file descriptors open (%d before the tests), child processes %v", n, fds, kids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		panic(err)
	}
	return len(ents)
}

// children lists the pids of this process's live child processes.
func children() []string {
	var kids []string
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		kids = append(kids, strings.Fields(string(b))...)
	}
	return kids
}

// fixtures are the test inputs by name, generated on first use with the
// build's ffmpeg.
var fixtures = map[string]testmedia.Spec{
	// 3 s of stereo AAC in MP4.
	"audio.mp4": {Container: "mp4", Seconds: 3, NoVideo: true},
	// 60 s of AAC in MP4: long enough to cancel or kill mid-job.
	"long.mp4": {Container: "mp4", Seconds: 60, NoVideo: true, Signal: "sine"},
	// 1 s of H.264 without audio.
	"video.mp4": {Container: "mp4", Seconds: 1, NoAudio: true},
	// A 2 s clip of H.264 and stereo AAC, as a phone would upload it.
	"clip2s.mp4": {Container: "mp4", Seconds: 2},
}

// media returns the path of a generated test input.
func media(tb testing.TB, name string) string {
	tb.Helper()
	spec, ok := fixtures[name]
	require.True(tb, ok, "unknown fixture %q", name)
	return testmedia.Video(tb, spec)
}

// tLog is an io.Writer that logs to a test.
type tLog struct{ tb testing.TB }

func (w tLog) Write(b []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// newTestPool starts a pool whose isolates are this test binary; the pool is
// closed when the test ends.
func newTestPool(tb testing.TB, cfg Config) *Pool {
	tb.Helper()
	exe, err := os.Executable()
	require.NoError(tb, err)
	cfg.Command = exe
	// The race runtime otherwise sleeps a second before each isolate exits.
	cfg.Env = append(cfg.Env, childEnv+"=1", "GORACE=atexit_sleep_ms=0")
	if cfg.Size == 0 {
		cfg.Size = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slogToTest(tb)
	}
	p, err := NewPool(&cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, p.Close()) })
	return p
}

// pids returns the pool's live isolate pids.
func (p *Pool) pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for w := range p.live {
		pids = append(pids, w.pid)
	}
	return pids
}

func slogToTest(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLog{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// capture is a slog.Handler that keeps records, with their attributes
// (not those added by With) flattened to strings.
type capture struct {
	level slog.Level
	mu    sync.Mutex
	recs  []captured
}

type captured struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (c *capture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.level }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c *capture) WithGroup(string) slog.Handler                { return c }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	rec := captured{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	c.recs = append(c.recs, rec)
	c.mu.Unlock()
	return nil
}

func (c *capture) records() []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]captured(nil), c.recs...)
}
