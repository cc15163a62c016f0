package isolate

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/jobs"
)

// noLeftovers asserts that a job left nothing but its output in dir.
func noLeftovers(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, want, names)
}

func TestPoolExtract(t *testing.T) {
	t.Parallel()

	t.Run("Success", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		dir := t.TempDir()
		var (
			mu    sync.Mutex
			calls []extract.Progress
		)
		res, err := p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), media(t, "audio.mp4"), extract.Options{
			Progress: func(pr extract.Progress) {
				mu.Lock()
				calls = append(calls, pr)
				mu.Unlock()
			},
		})
		require.NoError(t, err)
		assert.Equal(t, extract.MP3, res.Format)
		assert.InDelta(t, 3.0, res.Duration.Seconds(), 0.1)
		st, err := os.Stat(filepath.Join(dir, "out.mp3"))
		require.NoError(t, err)
		assert.Equal(t, res.Bytes, st.Size())
		noLeftovers(t, dir, "out.mp3")
		require.NotEmpty(t, calls, "progress crosses the process boundary")
		for i := 1; i < len(calls); i++ {
			assert.GreaterOrEqual(t, calls[i].Done, calls[i-1].Done)
		}
		assert.Equal(t, res.Duration, calls[len(calls)-1].Done)
	})

	t.Run("OptionsCross", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		dir := t.TempDir()
		res, err := p.Extract(context.Background(), filepath.Join(dir, "out.wav"), media(t, "audio.mp4"), extract.Options{
			Start: time.Second, Duration: time.Second, SampleRate: 8000, Channels: 1,
		})
		require.NoError(t, err)
		assert.Equal(t, extract.WAV, res.Format)
		assert.Equal(t, 8000, res.SampleRate)
		assert.Equal(t, 1, res.Channels)
		assert.InDelta(t, 1.0, res.Duration.Seconds(), 0.05)
	})

	t.Run("NoAudioSurvivesTheBoundary", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		dir := t.TempDir()
		_, err := p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), media(t, "video.mp4"), extract.Options{})
		require.Error(t, err)
		assert.ErrorIs(t, err, extract.ErrNoAudio)
		assert.Equal(t, jobs.CodeNoAudio, jobs.ErrorCode(err))
		assert.NotErrorIs(t, err, ErrCrashed)
		noLeftovers(t, dir)
		assert.Zero(t, p.restarts.Load(), "a failed job keeps its isolate")
	})

	t.Run("LogsReachTheJobLogger", func(t *testing.T) {
		t.Parallel()
		pool := &capture{level: slog.LevelDebug}
		p := newTestPool(t, Config{Logger: slog.New(pool)})
		dir := t.TempDir()
		b, err := os.ReadFile(media(t, "audio.mp4"))
		require.NoError(t, err)
		cut := filepath.Join(dir, "cut.mp4") // its index is at the end: cut off
		require.NoError(t, os.WriteFile(cut, b[:len(b)/2], 0o644))

		job := &capture{level: slog.LevelError}
		_, err = p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), cut, extract.Options{Logger: slog.New(job)})
		assert.ErrorIs(t, err, extract.ErrInvalidInput)
		require.NotEmpty(t, job.records())
		first := job.records()[0]
		assert.Equal(t, slog.LevelError, first.level)
		assert.Equal(t, "moov atom not found", first.msg)
		assert.Equal(t, "mov,mp4,m4a,3gp,3g2,mj2", first.attrs["ffmpeg"], "the demuxer that said it")
		for _, r := range pool.records() {
			assert.NotEqual(t, "moov atom not found", r.msg, "job records go to the job's logger only")
		}

		silent := &capture{level: slog.LevelError + 1}
		_, err = p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), cut, extract.Options{Logger: slog.New(silent)})
		assert.ErrorIs(t, err, extract.ErrInvalidInput)
		assert.Empty(t, silent.records())
	})

	t.Run("MissingInput", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		dir := t.TempDir()
		_, err := p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), filepath.Join(dir, "nope.mp4"), extract.Options{})
		assert.ErrorIs(t, err, os.ErrNotExist)
		noLeftovers(t, dir)
	})

	t.Run("OutputDirMissing", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		_, err := p.Extract(context.Background(), filepath.Join(t.TempDir(), "no", "out.mp3"), media(t, "audio.mp4"), extract.Options{})
		assert.ErrorIs(t, err, extract.ErrOutput)
		assert.ErrorIs(t, err, os.ErrNotExist)
	})

	t.Run("CancelKeepsTheIsolate", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{CancelGrace: time.Minute})
		pids := p.pids()
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := p.Extract(ctx, filepath.Join(dir, "out.mp3"), media(t, "long.mp4"), extract.Options{
			Progress: func(extract.Progress) { cancel() },
		})
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, extract.ErrCanceled)
		assert.Equal(t, jobs.CodeCanceled, jobs.ErrorCode(err))
		noLeftovers(t, dir)
		assert.Zero(t, p.restarts.Load(), "the isolate stopped its job; no kill needed")
		assert.Equal(t, pids, p.pids())
		_, err = p.Extract(context.Background(), filepath.Join(dir, "next.mp3"), media(t, "audio.mp4"), extract.Options{})
		assert.NoError(t, err)
	})

	t.Run("DeadlinePassedBeforeStart", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := p.Extract(ctx, filepath.Join(t.TempDir(), "out.mp3"), media(t, "audio.mp4"), extract.Options{})
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})

	t.Run("IsolateKilledMidJob", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{Size: 2})
		dir := t.TempDir()
		var once sync.Once
		_, err := p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), media(t, "long.mp4"), extract.Options{
			Progress: func(extract.Progress) {
				// The isolate running this job is the one not idle.
				once.Do(func() { killBusyIsolate(t, p) })
			},
		})
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrCrashed)
		assert.ErrorIs(t, err, jobs.ErrWorkerCrashed)
		assert.Equal(t, jobs.CodeWorkerCrashed, jobs.ErrorCode(err))
		assert.Contains(t, err.Error(), "killed")
		noLeftovers(t, dir)
		assert.Equal(t, int64(1), p.restarts.Load())
		// Back to two isolates, and both serve.
		require.Eventually(t, func() bool { return len(p.pids()) == 2 }, 30*time.Second, 5*time.Millisecond)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				_, err := p.Extract(context.Background(), filepath.Join(dir, strconv.Itoa(i)+".mp3"), media(t, "audio.mp4"), extract.Options{})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
	})

	t.Run("PanickingProgressKeepsTheSlot", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		dir := t.TempDir()
		assert.PanicsWithValue(t, "progress hook bug", func() {
			_, _ = p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), media(t, "audio.mp4"), extract.Options{
				Progress: func(extract.Progress) { panic("progress hook bug") },
			})
		})
		_, err := p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), media(t, "audio.mp4"), extract.Options{})
		assert.NoError(t, err, "the isolate in an unknown state was replaced")
		assert.Equal(t, int64(1), p.restarts.Load())
		noLeftovers(t, dir, "out.mp3")
	})

	t.Run("IsolateDiedWhileIdle", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		w := <-p.idle
		require.NoError(t, syscall.Kill(w.pid, syscall.SIGKILL))
		<-w.exited
		p.idle <- w
		_, err := p.Extract(context.Background(), filepath.Join(t.TempDir(), "out.mp3"), media(t, "audio.mp4"), extract.Options{})
		assert.NoError(t, err, "a dead idle isolate is replaced before it gets a job")
		assert.Equal(t, int64(1), p.restarts.Load())
	})

	t.Run("InheritedDescriptorsClosed", func(t *testing.T) {
		// Not parallel: it leaves a descriptor open across exec meanwhile.
		r, w, err := os.Pipe()
		require.NoError(t, err)
		defer r.Close()
		defer w.Close()
		_, err = unix.FcntlInt(w.Fd(), unix.F_SETFD, 0) // inheritable, as from a parent
		require.NoError(t, err)
		leaked, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(w.Fd())))
		require.NoError(t, err)

		p := newTestPool(t, Config{})
		pids := p.pids()
		require.Len(t, pids, 1)
		fds, err := os.ReadDir("/proc/" + strconv.Itoa(pids[0]) + "/fd")
		require.NoError(t, err)
		var links []string
		for _, fd := range fds {
			if l, err := os.Readlink("/proc/" + strconv.Itoa(pids[0]) + "/fd/" + fd.Name()); err == nil {
				links = append(links, l)
			}
		}
		assert.NotContains(t, links, leaked)
		_, err = p.Extract(context.Background(), filepath.Join(t.TempDir(), "out.mp3"), media(t, "audio.mp4"), extract.Options{})
		assert.NoError(t, err)
	})

	t.Run("MemoryLimit", func(t *testing.T) {
		t.Parallel()
		const limit = 512 << 20
		p := newTestPool(t, Config{MemoryLimit: limit})
		pids := p.pids()
		require.Len(t, pids, 1)
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pids[0]) + "/limits")
		require.NoError(t, err)
		var line string
		for l := range strings.Lines(string(b)) {
			if strings.HasPrefix(l, "Max data size") {
				line = l
			}
		}
		require.NotEmpty(t, line)
		if raceEnabled {
			assert.Contains(t, line, "unlimited", "race builds need their shadow memory")
		} else {
			assert.Equal(t, []string{"Max", "data", "size", "536870912", "536870912", "bytes"}, strings.Fields(line))
		}
		_, err = p.Extract(context.Background(), filepath.Join(t.TempDir(), "out.mp3"), media(t, "clip2s.mp4"), extract.Options{})
		assert.NoError(t, err, "extraction fits the cap")
	})
}

// killBusyIsolate SIGKILLs the pool's isolate that is running a job.
func killBusyIsolate(t *testing.T, p *Pool) {
	idle := map[int]bool{}
	var held []*proc
	for range len(p.idle) {
		w := <-p.idle
		idle[w.pid] = true
		held = append(held, w)
	}
	for _, w := range held {
		p.idle <- w
	}
	for _, pid := range p.pids() {
		if !idle[pid] {
			assert.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
			return
		}
	}
	t.Error("no busy isolate")
}

// startLongJob starts extracting the long fixture into dir and returns once
// the isolate reports progress; the channel gets the extraction's error.
func startLongJob(t *testing.T, p *Pool, dir string) <-chan error {
	t.Helper()
	started := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	src := media(t, "long.mp4") // on the test's goroutine: it may fail the test
	go func() {
		_, err := p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), src, extract.Options{
			Progress: func(extract.Progress) { once.Do(func() { close(started) }) },
		})
		errc <- err
	}()
	<-started
	return errc
}

func TestPoolLifecycle(t *testing.T) {
	t.Parallel()

	t.Run("ShutdownLetsJobsFinish", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		dir := t.TempDir()
		errc := startLongJob(t, p, dir)
		require.NoError(t, p.Shutdown(context.Background()))
		assert.NoError(t, <-errc, "the running job finished")
		_, err := p.Extract(context.Background(), filepath.Join(dir, "late.mp3"), media(t, "audio.mp4"), extract.Options{})
		assert.ErrorIs(t, err, ErrClosed)
		assert.Empty(t, p.pids())
	})

	t.Run("ShutdownTimesOutThenCloses", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{})
		dir := t.TempDir()
		errc := startLongJob(t, p, dir)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.ErrorIs(t, p.Shutdown(ctx), context.Canceled)
		err := <-errc
		assert.ErrorIs(t, err, ErrClosed, "Close stops the running job")
		assert.ErrorIs(t, err, extract.ErrCanceled)
		noLeftovers(t, dir)
		assert.Empty(t, p.pids())
	})

	t.Run("CloseIsIdempotent", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{Size: 2})
		require.NoError(t, p.Close())
		require.NoError(t, p.Close())
		require.NoError(t, p.Shutdown(context.Background()))
		_, err := p.Extract(context.Background(), "out.mp3", "in.mp4", extract.Options{})
		assert.ErrorIs(t, err, ErrClosed)
	})

	t.Run("CloseKillsWhatIgnoresEOF", func(t *testing.T) {
		t.Parallel()
		// An isolate that does not exit when its stdin closes, with a child
		// that holds its pipes: Close returns only once every holder of the
		// pipes is dead, so it must kill the whole process group.
		script := fmt.Sprintf(`echo '{"type":"ready","version":%d}'; sleep 120; echo done`, protocolVersion)
		p, err := NewPool(&Config{Command: "/bin/sh", Args: []string{"-c", script}, Size: 1, CancelGrace: 100 * time.Millisecond, Logger: slogToTest(t)})
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, p.Close())
		assert.Less(t, time.Since(start), 60*time.Second, "killed after the grace, not after sleep 120")
	})

	t.Run("BadCommand", func(t *testing.T) {
		t.Parallel()
		_, err := NewPool(&Config{Command: filepath.Join(t.TempDir(), "missing"), Logger: slogToTest(t)})
		assert.ErrorIs(t, err, os.ErrNotExist)
	})

	t.Run("NotAnIsolate", func(t *testing.T) {
		t.Parallel()
		_, err := NewPool(&Config{Command: "/bin/sh", Args: []string{"-c", "echo hello; exit 3"}, Size: 2, Logger: slogToTest(t)})
		require.Error(t, err)
		assert.ErrorIs(t, err, errProtocol)
	})
}
