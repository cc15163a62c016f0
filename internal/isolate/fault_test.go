//go:build audexfault

package isolate

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
	"github.com/audex/audex/jobs"
)

// poison writes an input that trips the fault marker.
func poison(t *testing.T, marker string) string {
	path := filepath.Join(t.TempDir(), "poison.mp4")
	require.NoError(t, os.WriteFile(path, []byte(marker+" and then some bytes"), 0o644))
	return path
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestFaultCrash(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, Config{Size: 2})
	before := p.pids()
	dir := t.TempDir()

	// One poisoned job among normal ones, all at once.
	const normal = 6
	var wg sync.WaitGroup
	errs := make([]error, normal)
	for i := range normal {
		wg.Go(func() {
			_, errs[i] = p.Extract(context.Background(), filepath.Join(dir, strconv.Itoa(i)+".mp3"), media(t, "audio.mp4"), extract.Options{})
		})
	}
	_, crashErr := p.Extract(context.Background(), filepath.Join(dir, "poison.mp3"), poison(t, FaultCrashMarker), extract.Options{})
	wg.Wait()

	require.Error(t, crashErr)
	assert.ErrorIs(t, crashErr, ErrCrashed)
	assert.Equal(t, jobs.CodeWorkerCrashed, jobs.ErrorCode(crashErr))
	assert.NotErrorIs(t, crashErr, context.DeadlineExceeded)
	for i, err := range errs {
		assert.NoError(t, err, "normal job %d", i)
	}
	_, err := os.Stat(filepath.Join(dir, "poison.mp3"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, int64(1), p.restarts.Load())

	// The pool is back to full strength with one new process.
	require.Eventually(t, func() bool { return len(p.pids()) == 2 }, 30*time.Second, 10*time.Millisecond)
	after := p.pids()
	dead := 0
	for _, pid := range before {
		if !alive(pid) {
			dead++
		}
	}
	assert.Equal(t, 1, dead, "exactly the crashed isolate is gone")
	assert.NotElementsMatch(t, before, after)
	var again sync.WaitGroup
	for i := range 2 {
		again.Go(func() {
			_, err := p.Extract(context.Background(), filepath.Join(dir, "again"+strconv.Itoa(i)+".mp3"), media(t, "audio.mp4"), extract.Options{})
			assert.NoError(t, err)
		})
	}
	again.Wait()
}

func TestFaultHang(t *testing.T) {
	t.Parallel()

	t.Run("JobTimeout", func(t *testing.T) {
		t.Parallel()
		const timeout, grace = time.Second, 200 * time.Millisecond
		p := newTestPool(t, Config{Size: 2, JobTimeout: timeout, CancelGrace: grace})
		before := p.pids()
		dir := t.TempDir()

		normalErr := make(chan error, 1)
		go func() {
			_, err := p.Extract(context.Background(), filepath.Join(dir, "normal.mp3"), media(t, "audio.mp4"), extract.Options{})
			normalErr <- err
		}()
		start := time.Now()
		_, err := p.Extract(context.Background(), filepath.Join(dir, "hang.mp3"), poison(t, FaultHangMarker), extract.Options{})
		elapsed := time.Since(start)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, jobs.CodeTimeout, jobs.ErrorCode(err))
		assert.NotErrorIs(t, err, ErrCrashed)
		assert.GreaterOrEqual(t, elapsed, timeout+grace, "killed only after the deadline and the grace")
		assert.Less(t, elapsed, timeout+grace+10*time.Second, "the hang ends at the deadline, not in an hour")
		assert.NoError(t, <-normalErr, "the other isolate kept working")
		noLeftovers(t, dir, "normal.mp3")

		require.Eventually(t, func() bool { return len(p.pids()) == 2 }, 30*time.Second, 10*time.Millisecond)
		dead := 0
		for _, pid := range before {
			if !alive(pid) {
				dead++
			}
		}
		assert.Equal(t, 1, dead, "the hung isolate was killed and replaced")
		_, err = p.Extract(context.Background(), filepath.Join(dir, "after.mp3"), media(t, "audio.mp4"), extract.Options{})
		assert.NoError(t, err)
	})

	t.Run("ContextDeadline", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{CancelGrace: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := p.Extract(ctx, filepath.Join(t.TempDir(), "hang.mp3"), poison(t, FaultHangMarker), extract.Options{})
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, err, extract.ErrCanceled)
		assert.Equal(t, int64(1), p.restarts.Load())
	})

	t.Run("CancelKillsAfterGrace", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{CancelGrace: 100 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		_, err := p.Extract(ctx, filepath.Join(t.TempDir(), "hang.mp3"), poison(t, FaultHangMarker), extract.Options{})
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, int64(1), p.restarts.Load())
	})

	t.Run("CloseKillsHungIsolate", func(t *testing.T) {
		t.Parallel()
		p := newTestPool(t, Config{CancelGrace: 100 * time.Millisecond})
		pids := p.pids()
		errc := make(chan error, 1)
		go func() {
			_, err := p.Extract(context.Background(), filepath.Join(t.TempDir(), "hang.mp3"), poison(t, FaultHangMarker), extract.Options{})
			errc <- err
		}()
		// Close once the job has its isolate: the isolate hangs whether or
		// not the cancel reaches it first, and only a kill ends it.
		require.Eventually(t, func() bool { return len(p.idle) == 0 }, 10*time.Second, time.Millisecond)
		require.NoError(t, p.Close())
		assert.ErrorIs(t, <-errc, ErrClosed)
		assert.False(t, alive(pids[0]))
	})
}

func TestFaultMemoryCap(t *testing.T) {
	t.Parallel()
	if raceEnabled {
		t.Skip("race-enabled isolates run without a memory cap; run this test without -race")
	}
	p := newTestPool(t, Config{MemoryLimit: 512 << 20})
	pids := p.pids()
	dir := t.TempDir()
	_, err := p.Extract(context.Background(), filepath.Join(dir, "big.mp3"), poison(t, FaultAllocMarker), extract.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), errFaultAllocRefused.Error())
	assert.NotErrorIs(t, err, ErrCrashed, "C's malloc failed; the isolate lives on")
	assert.Equal(t, pids, p.pids())
	_, err = p.Extract(context.Background(), filepath.Join(dir, "out.mp3"), media(t, "audio.mp4"), extract.Options{})
	assert.NoError(t, err)
}

// TestFaultJobs runs poisoned jobs through the job manager on a pool: the
// crashing one is retried once and fails worker_crashed, the hanging one
// fails timeout, and every other job succeeds.
func TestFaultJobs(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, Config{Size: 2, CancelGrace: 100 * time.Millisecond})
	m, err := jobs.New(jobs.Config{Dir: t.TempDir(), Workers: 2, JobTimeout: 2 * time.Second, Extractor: p, Logger: slogToTest(t)})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, m.Close()) })
	ctx := context.Background()

	submit := func(path string) string {
		job, err := m.SubmitFile(ctx, path, jobs.Request{Options: extract.Options{Format: extract.MP3}})
		require.NoError(t, err)
		return job.ID
	}
	crash := submit(poison(t, FaultCrashMarker))
	hang := submit(poison(t, FaultHangMarker))
	// L4: one pathological job among 20 normal ones.
	var normal []string
	for range 20 {
		normal = append(normal, submit(testmedia.Copy(t, media(t, "audio.mp4"))))
	}

	job, err := m.Wait(ctx, crash)
	require.NoError(t, err)
	assert.Equal(t, jobs.StateFailed, job.State)
	require.NotNil(t, job.Error)
	assert.Equal(t, jobs.CodeWorkerCrashed, job.Error.Code)
	assert.Equal(t, 2, job.Attempts, "retried once")

	job, err = m.Wait(ctx, hang)
	require.NoError(t, err)
	assert.Equal(t, jobs.StateFailed, job.State)
	require.NotNil(t, job.Error)
	assert.Equal(t, jobs.CodeTimeout, job.Error.Code)
	ran := job.FinishedAt.Sub(job.StartedAt)
	assert.GreaterOrEqual(t, ran, 2*time.Second, "killed at the job timeout, not before")
	assert.Less(t, ran, 2*time.Second+100*time.Millisecond+3*time.Second, "killed at the job timeout (plus the grace), not later")

	for _, id := range normal {
		job, err := m.Wait(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, jobs.StateSucceeded, job.State, "job %s: %v", id, job.Error)
	}
	assert.Equal(t, int64(3), p.restarts.Load(), "two crashes and one hang")
}
