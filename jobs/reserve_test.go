package jobs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

	r1, err := b.m.Reserve()
	require.NoError(t, err)
	r2, err := b.m.Reserve()
	require.NoError(t, err)
	_, err = b.m.Reserve()
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
	assert.NoFileExists(t, src, "the manager took the file")
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
			if r, err := b.m.Reserve(); err == nil {
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
	_, err = b.m.Reserve()
	require.ErrorIs(t, err, ErrClosed)
}
