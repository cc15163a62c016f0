package jobs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// TestReservations: places held for arriving inputs count against the
// queue for every kind of submission; a place is used once, given back on
// failure, and passed to the job on success.
func TestReservations(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Workers = 1; c.QueueSize = 3 })
	running := b.submit("block", Request{})
	b.waitStarted(running.ID)
	b.submit("ok", Request{})

	r1, err := b.m.Reserve(0)
	require.NoError(t, err)
	r2, err := b.m.Reserve(0)
	require.NoError(t, err)
	_, err = b.m.Reserve(0)
	require.ErrorIs(t, err, ErrQueueFull, "1 queued + 2 held fill a queue of 3")
	_, err = b.m.SubmitReader(context.Background(), strings.NewReader("ok"), Request{})
	require.ErrorIs(t, err, ErrQueueFull)
	_, err = b.m.SubmitURL(context.Background(), Request{URL: "http://x"})
	require.Error(t, err)
	st, err := b.m.Stats()
	require.NoError(t, err)
	assert.Equal(t, Stats{Queued: 1, Reserved: 2, Running: 1, Workers: 1, QueueSize: 3}, st)

	// A failed submission gives its place back.
	_, err = r1.SubmitReader(context.Background(), strings.NewReader(""), Request{})
	require.ErrorIs(t, err, ErrInvalidRequest)
	_, err = r1.SubmitReader(context.Background(), strings.NewReader("ok"), Request{})
	require.ErrorIs(t, err, ErrInvalidRequest, "a place is used once")
	r1.Release()
	// A successful one hands it to the job.
	src := filepath.Join(t.TempDir(), "in.mp4")
	require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
	j, err := r2.SubmitFile(context.Background(), src, Request{})
	require.NoError(t, err)
	assert.Equal(t, 2, j.QueuePosition)
	assert.FileExists(t, src, "the caller keeps the file")
	r2.Release()
	st, err = b.m.Stats()
	require.NoError(t, err)
	assert.Equal(t, 2, st.Queued)
	assert.Zero(t, st.Reserved)

	// Many callers at once never get more places than the queue has.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []*Reservation
	for range 20 {
		wg.Go(func() {
			if r, err := b.m.Reserve(0); err == nil {
				mu.Lock()
				got = append(got, r)
				mu.Unlock()
			} else {
				assert.ErrorIs(t, err, ErrQueueFull)
			}
		})
	}
	wg.Wait()
	assert.Len(t, got, 1, "one free place")
	for _, r := range got {
		r.Release()
		r.Release()
	}
	st, err = b.m.Stats()
	require.NoError(t, err)
	assert.Zero(t, st.Reserved, "releasing twice gives back one place")

	require.NoError(t, b.m.Close())
	_, err = b.m.Reserve(0)
	require.ErrorIs(t, err, ErrClosed)
}

// TestFreeSpaceReserve: a submission that would leave less than
// MinFreeBytes free is refused with storage_full, counting the inputs of
// reservations still arriving; nothing is stored.
func TestFreeSpaceReserve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const gib = 1 << 30
	free := testmedia.FreeBytes(t, dir, 2*gib)
	// Other tests write to the same disk meanwhile: the margins are
	// hundreds of MB.
	b := setup(t, func(c *Config) { c.Dir = dir; c.MinFreeBytes = free - gib })

	r, err := b.m.Reserve(600 << 20)
	require.NoError(t, err)
	_, err = b.m.Reserve(600 << 20)
	require.ErrorIs(t, err, ErrUnavailable, "600 MiB on its way leaves no room for 600 more")
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, CodeStorageFull, ErrorCode(err))
	r.Release()
	r, err = b.m.Reserve(600 << 20)
	require.NoError(t, err, "released room is free again")
	r.Release()

	require.NoError(t, b.m.Ready())
	full := setup(t, func(c *Config) { c.MinFreeBytes = free + gib })
	assert.Equal(t, CodeStorageFull, ErrorCode(full.m.Ready()), "not ready below the reserve")
	_, err = full.m.Reserve(0)
	assert.Equal(t, CodeStorageFull, ErrorCode(err))
	_, err = full.m.SubmitReader(context.Background(), strings.NewReader("ok"), Request{})
	assert.Equal(t, CodeStorageFull, ErrorCode(err))
	assert.Empty(t, full.entries(inputsDir))
	assert.Empty(t, full.entries(tmpDir))

	off := setup(t, func(c *Config) { c.MinFreeBytes = -1 })
	r, err = off.m.Reserve(free + gib)
	require.NoError(t, err, "no check when turned off")
	r.Release()
}

// watchedEnqueue records whether the manager held reservations off
// (resMu) while the store recorded a job.
type watchedEnqueue struct {
	localQueue
	m        *Manager
	unlocked atomic.Int32 // enqueues that ran while a reservation could be made
	calls    atomic.Int32
}

func (s *watchedEnqueue) enqueue(r *record, max int) error {
	s.calls.Add(1)
	if s.m.resMu.TryLock() {
		s.unlocked.Add(1)
		s.m.resMu.Unlock()
	}
	return s.localQueue.enqueue(r, max)
}

// A job is counted once: recording it and handing it its place in the queue
// is one step that no reservation can see half done (it once could, and a
// nearly full queue then refused an upload it had room for: 19 of 20
// accepted under load). Every submission path goes through it.
func TestPlaceHandedWithTheRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := setup(t, func(c *Config) { c.Dir = dir; c.Workers = 1; c.QueueSize = 4 })
	require.NoError(t, b.m.Close())
	for _, d := range []string{inputsDir, resultsDir, tmpDir} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), dirPerm))
	}
	bolt, err := openBolt(filepath.Join(dir, storeFile))
	require.NoError(t, err)
	st := &watchedEnqueue{localQueue: bolt}
	cfg, err := b.cfg.withDefaults()
	require.NoError(t, err)
	m, err := newManager(cfg, dir, st)
	require.NoError(t, err)
	st.m = m
	b.m = m

	ctx := context.Background()
	_, err = m.SubmitReader(ctx, strings.NewReader("ok"), Request{})
	require.NoError(t, err)
	src := filepath.Join(t.TempDir(), "in.mp4")
	require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
	_, err = m.SubmitFile(ctx, src, Request{})
	require.NoError(t, err)
	r, err := m.Reserve(2)
	require.NoError(t, err)
	_, err = r.SubmitReader(ctx, strings.NewReader("ok"), Request{})
	require.NoError(t, err)
	r.Release()

	assert.Equal(t, int32(3), st.calls.Load())
	assert.Zero(t, st.unlocked.Load(), "jobs recorded while reservations could be counted")
	s, err := m.Stats()
	require.NoError(t, err)
	assert.Zero(t, s.Reserved, "every place handed over or given back once")
}
