package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// childEnv makes the test binary a worker process: the pool tests start
// real workers by re-executing it.
const childEnv = "AUDEX_WORKER_TEST_CHILD"

var fixtureDir string

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := ServeProcess(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
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
	dir, err := os.MkdirTemp("", "audex-worker-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
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

// fixtureArgs are ffmpeg arguments (before the output path) for each test
// input, generated on first use with the build's ffmpeg.
var fixtureArgs = map[string][]string{
	// 3 s of AAC in MP4.
	"audio.mp4": {"-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac"},
	// 60 s of AAC in MP4: long enough to cancel or kill mid-job.
	"long.mp4": {"-f", "lavfi", "-i", "sine=frequency=440:duration=60", "-c:a", "aac"},
	// 1 s of H.264 without audio.
	"video.mp4": {"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=1", "-c:v", "libopenh264"},
	// 2 s clip of H.264 and stereo AAC, as a phone would upload it.
	"clip2s.mp4": {
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2,aformat=channel_layouts=stereo",
		"-c:v", "libopenh264", "-c:a", "aac", "-shortest",
	},
}

var fixtures sync.Map // name → *fixture

type fixture struct {
	once sync.Once
	path string
	err  error
}

// media returns the path of a generated test input.
func media(tb testing.TB, name string) string {
	tb.Helper()
	args, ok := fixtureArgs[name]
	require.True(tb, ok, "unknown fixture %q", name)
	v, _ := fixtures.LoadOrStore(name, &fixture{})
	f := v.(*fixture)
	f.once.Do(func() {
		ffmpeg := os.Getenv("AUDEX_FFMPEG")
		if ffmpeg == "" {
			ffmpeg = "ffmpeg"
		}
		f.path = filepath.Join(fixtureDir, name)
		cmd := exec.Command(ffmpeg, append(append([]string{"-v", "error", "-nostdin", "-y"}, args...), f.path)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			f.err = fmt.Errorf("ffmpeg %v: %w\n%s", args, err, out)
		}
	})
	require.NoError(tb, f.err, "run tests through internal/ffmpeg/with-env")
	return f.path
}

// tLog is an io.Writer that logs to a test.
type tLog struct{ tb testing.TB }

func (w tLog) Write(b []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// newTestPool starts a pool whose workers are this test binary; the pool is
// closed when the test ends.
func newTestPool(tb testing.TB, cfg Config) *Pool {
	tb.Helper()
	exe, err := os.Executable()
	require.NoError(tb, err)
	cfg.Command = exe
	// The race runtime otherwise sleeps a second before each worker exits.
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

// pids returns the pool's live worker pids.
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
