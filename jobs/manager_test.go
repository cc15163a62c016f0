package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audex/audex/extract"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpiry(t *testing.T) {
	t.Parallel()

	t.Run("non-persistent expires after retention, then is forgotten after the grace", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		j := b.wait(b.submit("ok", Request{}).ID)
		require.Equal(t, StateSucceeded, j.State)
		assert.Equal(t, t0, j.FinishedAt)
		assert.Equal(t, t0.Add(15*time.Minute), j.ExpiresAt)
		file := b.path(resultsDir, j.ID, "audio.mp3")
		assert.Equal(t, file, j.Result.Path)

		b.clock.Set(t0.Add(14*time.Minute + 59*time.Second))
		b.m.sweep()
		f, j, err := b.m.OpenResult(context.Background(), j.ID)
		require.NoError(t, err)
		assert.Equal(t, "audio:"+j.ID, readAll(t, f))
		require.NoError(t, f.Close())
		assert.Equal(t, StateSucceeded, j.State)

		b.clock.Set(t0.Add(15*time.Minute + time.Second))
		// Expired on read, before any sweep.
		_, j, err = b.m.OpenResult(context.Background(), j.ID)
		require.ErrorIs(t, err, ErrExpired)
		assert.Equal(t, StateExpired, j.State)
		assert.FileExists(t, file)
		b.m.sweep()
		assert.NoFileExists(t, file)
		assert.NoDirExists(t, b.path(resultsDir, j.ID))
		j, err = b.m.Get(j.ID)
		require.NoError(t, err)
		require.Equal(t, StateExpired, j.State)
		assert.Empty(t, j.Result.Path)

		b.clock.Set(t0.Add(15*time.Minute + 24*time.Hour - time.Second))
		b.m.sweep()
		j, err = b.m.Get(j.ID)
		require.NoError(t, err)
		assert.Equal(t, StateExpired, j.State)

		b.clock.Set(t0.Add(15*time.Minute + 24*time.Hour + time.Second))
		_, err = b.m.Get(j.ID) // forgotten on read, before any sweep
		require.ErrorIs(t, err, ErrNotFound)
		b.m.sweep()
		_, err = b.m.store.get(j.ID)
		require.ErrorIs(t, err, ErrNotFound)
		jobs, err := b.m.List("")
		require.NoError(t, err)
		assert.Empty(t, jobs)
	})

	t.Run("persistent is kept", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		j := b.wait(b.submit("ok", Request{Persistent: true, Retention: time.Minute}).ID)
		require.Equal(t, StateSucceeded, j.State)
		assert.True(t, j.ExpiresAt.IsZero())
		b.clock.Set(t0.Add(365 * 24 * time.Hour))
		b.m.sweep()
		f, j, err := b.m.OpenResult(context.Background(), j.ID)
		require.NoError(t, err)
		assert.Equal(t, "audio:"+j.ID, readAll(t, f))
		require.NoError(t, f.Close())
		assert.Equal(t, StateSucceeded, j.State)
	})

	t.Run("retention override", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Retention = time.Hour; c.ExpiredGrace = time.Hour })
		short := b.wait(b.submit("ok", Request{Retention: time.Minute}).ID)
		long := b.wait(b.submit("ok", Request{}).ID)
		b.clock.Set(t0.Add(time.Minute))
		b.m.sweep()
		j, err := b.m.Get(short.ID)
		require.NoError(t, err)
		assert.Equal(t, StateExpired, j.State)
		j, err = b.m.Get(long.ID)
		require.NoError(t, err)
		assert.Equal(t, StateSucceeded, j.State)
	})

	t.Run("failed job keeps its error until retention plus grace", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		j := b.wait(b.submit("noaudio", Request{}).ID)
		require.Equal(t, StateFailed, j.State)
		b.clock.Set(t0.Add(15*time.Minute + time.Second))
		b.m.sweep()
		j, err := b.m.Get(j.ID)
		require.NoError(t, err)
		require.Equal(t, StateFailed, j.State)
		assert.Equal(t, CodeNoAudio, j.Error.Code)
		_, _, err = b.m.OpenResult(context.Background(), j.ID)
		require.ErrorIs(t, err, ErrNotReady)
		b.clock.Set(t0.Add(15*time.Minute + 24*time.Hour))
		b.m.sweep()
		_, err = b.m.Get(j.ID)
		require.ErrorIs(t, err, ErrNotFound)
	})
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		input    string
		state    State
		code     string
		attempts int
	}{
		{"ok", StateSucceeded, "", 1},
		{"noaudio", StateFailed, CodeNoAudio, 1},
		{"enospc", StateFailed, CodeStorageFull, 1},
		{"panic", StateFailed, CodeInternal, 1},
		{"crash-once", StateSucceeded, "", 2},
		{"crash", StateFailed, CodeWorkerCrashed, 2},
		{"nonsense", StateFailed, CodeInternal, 1},
	} {
		t.Run(tc.input, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(c *Config) { c.Workers = 1 })
			j := b.wait(b.submit(tc.input, Request{Owner: "o", Name: "clip.mp4"}).ID)
			require.Equal(t, tc.state, j.State)
			assert.Equal(t, tc.attempts, j.Attempts)
			assert.Equal(t, tc.attempts, b.fx.callsOf(j.ID))
			assert.Equal(t, StageDone, j.Stage)
			assert.Equal(t, Request{Owner: "o", Name: "clip.mp4", Options: extract.Options{Format: extract.MP3}}, j.Request)
			assert.Empty(t, b.entries(inputsDir), "input kept after the job ended")
			assert.Empty(t, b.entries(tmpDir))
			if tc.code == "" {
				assert.Nil(t, j.Error)
				require.NotNil(t, j.Result)
				assert.Equal(t, int64(len("audio:"+j.ID)), j.Result.Size)
				assert.Equal(t, extract.MP3, j.Result.Format)
				assert.Equal(t, 3*time.Second, j.Result.Duration)
				assert.Equal(t, 1.0, j.Progress)
				assert.Equal(t, []string{j.ID}, b.entries(resultsDir))
				return
			}
			require.NotNil(t, j.Error)
			assert.Equal(t, tc.code, j.Error.Code)
			assert.Nil(t, j.Result)
			assert.Empty(t, b.entries(resultsDir))
			// A failing job never takes its runner down.
			assert.Equal(t, StateSucceeded, b.wait(b.submit("ok", Request{}).ID).State)
		})
	}
}

func TestPanicIsLoggedWithStack(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	j := b.wait(b.submit("panic", Request{}).ID)
	require.Equal(t, StateFailed, j.State)
	assert.Contains(t, j.Error.Message, "fake extractor panics")
	assert.Contains(t, b.logs.String(), "job panicked")
	assert.Contains(t, b.logs.String(), "jobs.(*Manager).attempt", "stack in the log")
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.JobTimeout = 100 * time.Millisecond })
	j := b.wait(b.submit("block", Request{}).ID)
	require.Equal(t, StateFailed, j.State)
	assert.Equal(t, CodeTimeout, j.Error.Code)
	assert.Equal(t, CodeTimeout, ErrorCode(j.Error))
}

func TestDefaultTimeout(t *testing.T) {
	t.Parallel()
	c := Config{}
	assert.Equal(t, 60*time.Second, c.timeout(0))
	assert.Equal(t, 90*time.Second, c.timeout(100_000_000))
	assert.Equal(t, 60*time.Second+300*time.Second, c.timeout(1_000_000_000))
	assert.Equal(t, 30*time.Minute, c.timeout(100_000_000_000))
	c.JobTimeout = time.Second
	assert.Equal(t, time.Second, c.timeout(1<<40))
}

func TestCancel(t *testing.T) {
	t.Parallel()

	t.Run("queued job is canceled at once, running one when its extraction returns", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Workers = 1 })
		a := b.submit("block", Request{})
		b.waitStarted(a.ID)
		q := b.submit("ok", Request{})
		assert.Equal(t, StateQueued, q.State)
		assert.Equal(t, 1, q.QueuePosition)

		j, err := b.m.Cancel(q.ID)
		require.NoError(t, err)
		require.Equal(t, StateCanceled, j.State)
		assert.Equal(t, CodeCanceled, j.Error.Code)
		assert.NoFileExists(t, b.path(inputsDir, q.ID))
		assert.Equal(t, 0, b.fx.callsOf(q.ID))

		_, err = b.m.Cancel(a.ID)
		require.NoError(t, err)
		j = b.wait(a.ID)
		require.Equal(t, StateCanceled, j.State)
		assert.Equal(t, CodeCanceled, j.Error.Code)
		assert.Empty(t, b.entries(inputsDir))

		// Canceling a final job changes nothing.
		j, err = b.m.Cancel(a.ID)
		require.NoError(t, err)
		assert.Equal(t, StateCanceled, j.State)
		_, err = b.m.Cancel("AAAAAAAAAAAAAAAAAAAAAA")
		require.ErrorIs(t, err, ErrNotFound)
	})

	t.Run("the runner stays taken until the extraction returns", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Workers = 1 })
		a := b.submit("stubborn", Request{})
		b.waitStarted(a.ID)
		j, err := b.m.Cancel(a.ID)
		require.NoError(t, err)
		assert.Equal(t, StateRunning, j.State, "still running: the extractor has not returned")
		next := b.submit("ok", Request{})
		time.Sleep(100 * time.Millisecond)
		j, err = b.m.Get(next.ID)
		require.NoError(t, err)
		assert.Equal(t, StateQueued, j.State, "a new job took the slot of an extraction still running")
		assert.Equal(t, 0, b.fx.callsOf(next.ID))
		j, err = b.m.Get(a.ID)
		require.NoError(t, err)
		assert.Equal(t, StateRunning, j.State)

		b.fx.open()
		assert.Equal(t, StateCanceled, b.wait(a.ID).State)
		assert.Equal(t, StateSucceeded, b.wait(next.ID).State)
	})
}

func TestQueueFull(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Workers = 1; c.QueueSize = 3 })
	running := b.submit("block", Request{})
	b.waitStarted(running.ID)
	var queued []Job
	for i := range 3 {
		j := b.submit("ok", Request{})
		assert.Equal(t, i+1, j.QueuePosition)
		queued = append(queued, j)
	}
	_, err := b.m.SubmitReader(context.Background(), strings.NewReader("ok"), Request{})
	require.ErrorIs(t, err, ErrQueueFull)
	_, err = b.m.SubmitURL(context.Background(), Request{URL: "http://x"})
	require.Error(t, err)
	src := filepath.Join(t.TempDir(), "in.mp4")
	require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
	_, err = b.m.SubmitFile(context.Background(), src, Request{})
	require.ErrorIs(t, err, ErrQueueFull)
	assert.FileExists(t, src, "a rejected file stays with the caller")

	assert.Len(t, b.entries(inputsDir), 4)
	assert.Empty(t, b.entries(tmpDir))
	st, err := b.m.Stats()
	require.NoError(t, err)
	assert.Equal(t, Stats{Queued: 3, Running: 1, Workers: 1, QueueSize: 3}, st)
	all, err := b.m.List("")
	require.NoError(t, err)
	require.Len(t, all, 4)
	assert.Equal(t, running.ID, all[0].ID)
	assert.Equal(t, StateRunning, all[0].State)
	for i, j := range all[1:] {
		assert.Equal(t, queued[i].ID, j.ID)
		assert.Equal(t, i+1, j.QueuePosition)
	}

	// Canceling the head moves everyone up.
	_, err = b.m.Cancel(queued[0].ID)
	require.NoError(t, err)
	j, err := b.m.Get(queued[2].ID)
	require.NoError(t, err)
	assert.Equal(t, 2, j.QueuePosition)
	b.fx.open()
	for _, q := range queued[1:] {
		assert.Equal(t, StateSucceeded, b.wait(q.ID).State)
	}
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	idRE := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

	t.Run("file is taken in", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "clip.mp4")
		require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
		j, err := b.m.SubmitFile(ctx, src, Request{Options: extract.Options{Format: ".WAV"}})
		require.NoError(t, err)
		assert.Regexp(t, idRE, j.ID)
		assert.Equal(t, int64(2), j.InputBytes)
		assert.Equal(t, extract.WAV, j.Request.Options.Format)
		assert.FileExists(t, src, "the caller keeps the file")
		j = b.wait(j.ID)
		assert.Equal(t, StateSucceeded, j.State)
		assert.Equal(t, b.path(resultsDir, j.ID, "audio.wav"), j.Result.Path)
	})

	t.Run("file from another file system is copied in", func(t *testing.T) {
		shm, err := os.MkdirTemp("/dev/shm", "jobs-test-")
		if err != nil {
			t.Skip("no /dev/shm:", err)
		}
		defer os.RemoveAll(shm)
		src := filepath.Join(shm, "clip.mp4")
		require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
		if err := os.Link(src, b.path(tmpDir, "probe")); err == nil {
			os.Remove(b.path(tmpDir, "probe"))
			t.Skip("/dev/shm is on the same file system")
		}
		j, err := b.m.SubmitFile(ctx, src, Request{})
		require.NoError(t, err)
		assert.FileExists(t, src, "the caller keeps the file")
		assert.Equal(t, StateSucceeded, b.wait(j.ID).State)
	})

	t.Run("invalid requests store nothing", func(t *testing.T) {
		before := b.entries(inputsDir)
		for name, submit := range map[string]func() (Job, error){
			"empty reader": func() (Job, error) { return b.m.SubmitReader(ctx, strings.NewReader(""), Request{}) },
			"bad format": func() (Job, error) {
				return b.m.SubmitReader(ctx, strings.NewReader("ok"), Request{Options: extract.Options{Format: "../x"}})
			},
			"URL with upload":      func() (Job, error) { return b.m.SubmitReader(ctx, strings.NewReader("ok"), Request{URL: "http://x"}) },
			"negative retention":   func() (Job, error) { return b.m.SubmitReader(ctx, strings.NewReader("ok"), Request{Retention: -1}) },
			"URL without Fetcher":  func() (Job, error) { return b.m.SubmitURL(ctx, Request{URL: "http://x"}) },
			"missing file":         func() (Job, error) { return b.m.SubmitFile(ctx, filepath.Join(t.TempDir(), "nope"), Request{}) },
			"directory":            func() (Job, error) { return b.m.SubmitFile(ctx, t.TempDir(), Request{}) },
			"very long owner name": func() (Job, error) { return b.m.SubmitURL(ctx, Request{URL: "u", Owner: strings.Repeat("x", 5000)}) },
		} {
			_, err := submit()
			assert.ErrorIs(t, err, ErrInvalidRequest, name)
		}
		assert.Equal(t, before, b.entries(inputsDir))
		assert.Empty(t, b.entries(tmpDir))
	})

	t.Run("canceled reader context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := b.m.SubmitReader(cctx, strings.NewReader("ok"), Request{})
		require.ErrorIs(t, err, context.Canceled)
		assert.Empty(t, b.entries(tmpDir))
	})

	t.Run("unknown and malformed IDs", func(t *testing.T) {
		for _, id := range []string{"", "AAAAAAAAAAAAAAAAAAAAAA", "../../../../etc/passwd", "AAAAAAAAAAAAAAAAAAAAA/", strings.Repeat("A", 23)} {
			_, err := b.m.Get(id)
			assert.ErrorIs(t, err, ErrNotFound, id)
			_, _, err = b.m.OpenResult(context.Background(), id)
			assert.ErrorIs(t, err, ErrNotFound, id)
			assert.ErrorIs(t, b.m.Delete(id), ErrNotFound, id)
		}
	})
}

func TestIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		require.Regexp(t, `^[A-Za-z0-9_-]{22}$`, id)
		require.True(t, validID(id))
		require.False(t, seen[id])
		seen[id] = true
	}
	for _, bad := range []string{"", "A", strings.Repeat("A", 21) + ".", strings.Repeat("A", 21) + "=", strings.Repeat("é", 11)} {
		assert.False(t, validID(bad), bad)
	}
}

// fetcher serves fixed bodies by URL.
type fetcher map[string]string

func (f fetcher) Fetch(ctx context.Context, url string, dst io.Writer) (int64, error) {
	body, ok := f[url]
	switch {
	case !ok:
		return 0, errors.New("404 Not Found")
	case body == "huge":
		return 0, fmt.Errorf("over 1 GB: %w", ErrInputTooLarge)
	}
	n, err := io.WriteString(dst, body)
	return int64(n), err
}

func TestSubmitURL(t *testing.T) {
	t.Parallel()
	f := fetcher{"http://a/ok": "ok", "http://a/empty": "", "http://a/huge": "huge", "http://a/slow": "block"}
	b := setup(t, func(c *Config) { c.Fetcher = f })
	ctx := context.Background()
	for url, want := range map[string]string{
		"http://a/ok": "", "http://a/missing": CodeFetchFailed, "http://a/empty": CodeInvalidInput, "http://a/huge": CodeInputTooLarge,
	} {
		j, err := b.m.SubmitURL(ctx, Request{URL: url})
		require.NoError(t, err)
		assert.Zero(t, j.InputBytes)
		j = b.wait(j.ID)
		if want == "" {
			assert.Equal(t, StateSucceeded, j.State, url)
			assert.Equal(t, int64(2), j.InputBytes)
			continue
		}
		assert.Equal(t, StateFailed, j.State, url)
		assert.Equal(t, want, j.Error.Code, url)
	}
	assert.Empty(t, b.entries(inputsDir))
	assert.Empty(t, b.entries(tmpDir))
}

func TestDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Workers = 1 })
	done := b.wait(b.submit("ok", Request{Persistent: true}).ID)
	running := b.submit("block", Request{})
	b.waitStarted(running.ID)
	queued := b.submit("ok", Request{})
	for _, id := range []string{done.ID, queued.ID, running.ID} {
		require.NoError(t, b.m.Delete(id))
		_, err := b.m.Get(id)
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorIs(t, b.m.Delete(id), ErrNotFound)
	}
	assert.Equal(t, 1, b.fx.callsOf(running.ID))
	assert.Equal(t, 0, b.fx.callsOf(queued.ID))
	assert.Empty(t, b.entries(inputsDir))
	assert.Empty(t, b.entries(resultsDir))
	assert.Empty(t, b.entries(tmpDir))
}

func TestProgressAndStages(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Workers = 1 })
	reached := make(chan struct{})
	b.fx.onStart = func(string) { <-reached }
	j := b.submit("ok", Request{})
	require.Eventually(t, func() bool {
		j, err := b.m.Get(j.ID)
		return err == nil && j.State == StateRunning
	}, 10*time.Second, time.Millisecond)
	j, err := b.m.Get(j.ID)
	require.NoError(t, err)
	assert.Equal(t, StageProbing, j.Stage)
	assert.Equal(t, 1, j.Attempts)
	assert.Equal(t, t0, j.StartedAt)
	assert.Zero(t, j.QueuePosition)
	close(reached)
	j = b.wait(j.ID)
	assert.Equal(t, StageDone, j.Stage)
	assert.Equal(t, 1.0, j.Progress)
}

func TestOwnerFilter(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	a := b.submit("ok", Request{Owner: "a"})
	b.submit("ok", Request{Owner: "b"})
	jobs, err := b.m.List("a")
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	assert.Equal(t, a.ID, jobs[0].ID)
	jobs, err = b.m.List("")
	require.NoError(t, err)
	assert.Len(t, jobs, 2)
}

// TestConcurrency hammers one manager from many goroutines (run it with
// -race): every accepted job ends final, exactly one way.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Workers = 4; c.QueueSize = 1000 })
	const submitters, perSubmitter = 8, 25
	var (
		mu       sync.Mutex
		ids      []string
		canceled = map[string]bool{}
		wg       sync.WaitGroup
	)
	ctx, stop := context.WithCancel(context.Background())
	for g := range submitters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range perSubmitter {
				input := []string{"ok", "sleep 2ms", "noaudio", "block"}[rng.IntN(4)]
				j, err := b.m.SubmitReader(ctx, strings.NewReader(input), Request{Owner: fmt.Sprint(g)})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				ids = append(ids, j.ID)
				mu.Unlock()
				if input == "block" || rng.IntN(5) == 0 {
					_, err := b.m.Cancel(j.ID)
					assert.NoError(t, err)
					mu.Lock()
					canceled[j.ID] = true
					mu.Unlock()
				}
			}
		})
	}
	var pollers sync.WaitGroup
	for g := range 4 {
		pollers.Go(func() {
			for ctx.Err() == nil {
				jobs, err := b.m.List("")
				assert.NoError(t, err)
				for _, j := range jobs {
					if _, err := b.m.Get(j.ID); !assert.NoError(t, err) {
						return
					}
					assert.True(t, (j.State == StateQueued) == (j.QueuePosition > 0))
				}
				if g == 0 {
					_, err := b.m.List("3")
					assert.NoError(t, err)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		j := b.wait(id)
		switch j.State {
		case StateSucceeded:
			assert.Equal(t, 1, b.fx.callsOf(id))
			assert.FileExists(t, j.Result.Path)
		case StateFailed:
			assert.Equal(t, CodeNoAudio, j.Error.Code)
		case StateCanceled:
			assert.True(t, canceled[id], "canceled without a Cancel")
			assert.LessOrEqual(t, b.fx.callsOf(id), 1)
		default:
			t.Errorf("job %s ended %s", id, j.State)
		}
	}
	stop()
	pollers.Wait()
	jobs, err := b.m.List("")
	require.NoError(t, err)
	assert.Len(t, jobs, submitters*perSubmitter)
	assert.Empty(t, b.entries(inputsDir))
	assert.Empty(t, b.entries(tmpDir))
}

func TestShutdown(t *testing.T) {
	t.Parallel()

	t.Run("drains running jobs and keeps queued ones", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Workers = 2 })
		var ids []string
		for range 6 {
			ids = append(ids, b.submit("block", Request{}).ID)
		}
		b.waitStarted(ids[0])
		b.waitStarted(ids[1])
		shut := make(chan error)
		go func() { shut <- b.m.Shutdown(context.Background()) }()
		require.Eventually(t, func() bool {
			_, err := b.m.SubmitReader(context.Background(), strings.NewReader("ok"), Request{})
			return errors.Is(err, ErrClosed)
		}, 10*time.Second, time.Millisecond)
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned (%v) with jobs running", err)
		default:
		}
		b.fx.open() // the running jobs finish
		require.NoError(t, <-shut)
		_, err := b.m.Get(ids[0])
		require.ErrorIs(t, err, ErrClosed)
		require.NoError(t, b.m.Close())
		for i, id := range ids {
			assert.Equal(t, min(1, 2-min(i, 2)), b.fx.callsOf(id), "job %d", i)
		}

		b.start()
		for i, id := range ids {
			j := b.wait(id)
			assert.Equal(t, StateSucceeded, j.State)
			assert.Equal(t, 1, j.Attempts)
			assert.Equal(t, 1, b.fx.callsOf(id), "job %d ran twice", i)
		}
	})

	t.Run("timeout cancels and re-queues running jobs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		a := b.submit("block", Request{})
		b.waitStarted(a.ID)
		q := b.submit("block", Request{})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, b.m.Shutdown(ctx), context.DeadlineExceeded)
		b.cfg.Extractor = newFakeOK(b)
		b.start()
		for _, id := range []string{a.ID, q.ID} {
			j := b.wait(id)
			assert.Equal(t, StateSucceeded, j.State)
		}
	})

	t.Run("Close cancels running jobs and re-queues them", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		a := b.submit("block", Request{})
		b.waitStarted(a.ID)
		require.NoError(t, b.m.Close())
		_, err := b.m.Wait(context.Background(), a.ID)
		require.ErrorIs(t, err, ErrClosed)
		_, err = b.m.Cancel(a.ID)
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorIs(t, b.m.Delete(a.ID), ErrClosed)

		b.start()
		j, err := b.m.Get(a.ID)
		require.NoError(t, err)
		assert.Contains(t, []State{StateQueued, StateRunning}, j.State)
		b.fx.open()
		j = b.wait(a.ID)
		assert.Equal(t, StateSucceeded, j.State)
		assert.Equal(t, 2, j.Attempts, "interrupted by Close, then run again")
		assert.Equal(t, 2, b.fx.callsOf(a.ID))
	})

	t.Run("Wait returns when the manager closes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		a := b.submit("block", Request{})
		errc := make(chan error)
		go func() {
			_, err := b.m.Wait(context.Background(), a.ID)
			errc <- err
		}()
		b.waitStarted(a.ID)
		require.NoError(t, b.m.Close())
		require.ErrorIs(t, <-errc, ErrClosed)
	})
}

// newFakeOK returns a fake whose gate is already open, so "block" jobs
// succeed.
func newFakeOK(b *bundle) *fake {
	f := newFake()
	f.open()
	b.fx = f
	return f
}

func TestSecondManagerOnSameDirFails(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	_, err := New(b.cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in use")
}

// BenchmarkSubmitReader measures an accepted submission: spool, fsyncs and
// the store commit.
func BenchmarkSubmitReader(b *testing.B) {
	fx := newFake()
	m, err := New(Config{Dir: b.TempDir(), Workers: 1, QueueSize: 1 << 30, Extractor: fx})
	require.NoError(b, err)
	defer m.Close()
	fx.onStart = func(string) { <-fx.gate } // keep the queue as it is
	defer fx.open()
	for b.Loop() {
		if _, err := m.SubmitReader(context.Background(), strings.NewReader("ok"), Request{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := newID()
		require.True(t, validID(id), id)
		require.NotEqual(t, byte('-'), id[0], "an ID must not read as a command-line flag")
		require.False(t, seen[id])
		seen[id] = true
	}
}

// TestNoClaimOnceStopping: a runner that checked for the stop just before
// Close must not take a job afterwards, such as the one Close re-queues
// (it did, under load: the job ran a second time in the closing manager).
func TestNoClaimOnceStopping(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Workers = 1 })
	running := b.submit("block", Request{})
	b.waitStarted(running.ID)
	queued := b.submit("ok", Request{})
	b.m.beginClose()
	r, err := b.m.claim()
	require.NoError(t, err)
	assert.Nil(t, r, "no job taken once the manager stops")
	j, err := b.m.Get(queued.ID)
	require.NoError(t, err)
	assert.Equal(t, StateQueued, j.State)
}

// gate is a Fetcher that holds every download until released or
// canceled, and tells when one starts.
type gate struct {
	started chan string
	release chan struct{}
}

func (g *gate) Fetch(ctx context.Context, url string, dst io.Writer) (int64, error) {
	g.started <- url
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-g.release:
	}
	n, err := io.WriteString(dst, "ok")
	return int64(n), err
}

// TestFetchStage: a URL job's download holds no runner. With one runner,
// a file job submitted behind a URL job whose server does not answer
// succeeds while the URL job is still fetching (queued, stage fetching,
// not counted as an attempt); released, the URL job is queued for
// extraction and succeeds; a canceled download leaves nothing.
func TestFetchStage(t *testing.T) {
	t.Parallel()
	g := &gate{started: make(chan string, 4), release: make(chan struct{})}
	b := setup(t, func(c *Config) { c.Workers = 1; c.Fetcher = g })
	ctx := context.Background()
	slow, err := b.m.SubmitURL(ctx, Request{URL: "http://a/slow"})
	require.NoError(t, err)
	assert.Equal(t, "http://a/slow", <-g.started)
	file := b.submit("ok", Request{})
	assert.Equal(t, StateSucceeded, b.wait(file.ID).State, "the file job ran while the URL job was fetching")
	j, err := b.m.Get(slow.ID)
	require.NoError(t, err)
	assert.Equal(t, StateQueued, j.State)
	assert.Equal(t, StageFetching, j.Stage)
	assert.Zero(t, j.Attempts)

	close(g.release)
	j = b.wait(slow.ID)
	assert.Equal(t, StateSucceeded, j.State)
	assert.Equal(t, 1, j.Attempts)
	assert.Equal(t, int64(2), j.InputBytes)

	g2 := &gate{started: make(chan string, 4), release: make(chan struct{})}
	b2 := setup(t, func(c *Config) { c.Workers = 1; c.Fetcher = g2 })
	canceled, err := b2.m.SubmitURL(ctx, Request{URL: "http://a/slow"})
	require.NoError(t, err)
	<-g2.started
	j, err = b2.m.Cancel(canceled.ID)
	require.NoError(t, err)
	assert.Equal(t, StateCanceled, j.State)
	require.NoError(t, b2.m.Shutdown(ctx), "the canceled download has returned")
	assert.Empty(t, b2.entries(inputsDir))
	assert.Empty(t, b2.entries(tmpDir))
}

// TestFetchResumesAfterRestart: a download cut off by a shutdown starts
// again at the next start; the job was never running.
func TestFetchResumesAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := &gate{started: make(chan string, 4), release: make(chan struct{})}
	b := setup(t, func(c *Config) { c.Dir = dir; c.Workers = 1; c.Fetcher = g })
	j, err := b.m.SubmitURL(context.Background(), Request{URL: "http://a/slow"})
	require.NoError(t, err)
	<-g.started
	require.NoError(t, b.m.Close())

	g2 := &gate{started: make(chan string, 4), release: make(chan struct{})}
	close(g2.release)
	b2 := setup(t, func(c *Config) { c.Dir = dir; c.Workers = 1; c.Fetcher = g2 })
	j = b2.wait(j.ID)
	assert.Equal(t, StateSucceeded, j.State)
	assert.Equal(t, 1, j.Attempts)
	assert.Equal(t, "http://a/slow", <-g2.started)
}
