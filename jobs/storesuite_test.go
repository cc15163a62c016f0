package jobs

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storeBackend is what the conformance suite needs of a backend.
type storeBackend struct {
	// open returns a new, empty store for one subtest; the suite closes it.
	open func(t *testing.T) store
	// claim starts the job that the backend's dispatch hands a runner
	// next (nil: none), and fetch takes the URL job it hands a fetcher
	// next: the embedded store's own queue (localQueue), or River's on a
	// shared one.
	claim func(t *testing.T, s store, now time.Time) *record
	fetch func(t *testing.T, s store) *record
}

// localBackend is the dispatch of a store with a local queue: the
// Manager's runners claim from it, its fetchers look for the next fetch.
func localBackend(open func(t *testing.T) store) storeBackend {
	return storeBackend{
		open: open,
		claim: func(t *testing.T, s store, now time.Time) *record {
			r, err := s.(localQueue).claim(now)
			require.NoError(t, err)
			return r
		},
		fetch: func(t *testing.T, s store) *record {
			r, err := s.(localQueue).nextFetch(func(string) bool { return false })
			require.NoError(t, err)
			return r
		},
	}
}

// runStoreSuite is the conformance suite of the store seam: every backend
// (the embedded bbolt file, the shared PostgreSQL database) runs the same
// tests, so that the Manager cannot tell them apart. Where dispatch
// differs (the Manager's own runners on a local queue, River on a shared
// store), be says how a job is handed out.
func runStoreSuite(t *testing.T, be storeBackend) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fresh := func(t *testing.T) store {
		s := be.open(t)
		t.Cleanup(func() { assert.NoError(t, s.close()) })
		return s
	}
	add := func(t *testing.T, s store, req Request, max int) *record {
		t.Helper()
		r := &record{ID: newID(), CreatedAt: t0, Request: req, HaveInput: req.URL == ""}
		require.NoError(t, s.enqueue(r, max))
		return r
	}
	queued := func(t *testing.T, s store) int {
		t.Helper()
		n, err := s.queued()
		require.NoError(t, err)
		return n
	}
	position := func(t *testing.T, s store, id string) int {
		t.Helper()
		r, err := s.get(id)
		require.NoError(t, err)
		return r.position
	}

	t.Run("enqueue orders, places and bounds", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)
		var rs []*record
		for i := range 3 {
			r := add(t, s, Request{Name: "n"}, 3)
			assert.Equal(t, StateQueued, r.State)
			assert.Equal(t, i+1, r.position)
			if i > 0 {
				assert.Greater(t, r.Seq, rs[i-1].Seq, "Seq grows")
			}
			rs = append(rs, r)
		}
		full := &record{ID: newID(), CreatedAt: t0}
		require.ErrorIs(t, s.enqueue(full, 3), ErrQueueFull)
		_, err := s.get(full.ID)
		require.ErrorIs(t, err, ErrNotFound, "a refused record is not stored")
		assert.Error(t, s.enqueue(&record{ID: rs[0].ID, CreatedAt: t0}, 10), "a duplicate id")
		assert.Equal(t, 3, queued(t, s))
		got, err := s.get(rs[1].ID)
		require.NoError(t, err)
		assert.Equal(t, "n", got.Request.Name)
		assert.Equal(t, t0, got.CreatedAt.UTC())
		assert.Equal(t, 2, got.position)
	})

	t.Run("claim takes the oldest job with its input", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)
		url := add(t, s, Request{URL: "http://a/x"}, 10)
		file := add(t, s, Request{}, 10)
		now := t0.Add(time.Minute)
		r := be.claim(t, s, now)
		require.NotNil(t, r)
		assert.Equal(t, file.ID, r.ID, "the URL job ahead has no input yet")
		assert.Equal(t, StateRunning, r.State)
		assert.Equal(t, 1, r.Attempts)
		assert.Equal(t, now, r.StartedAt.UTC())
		assert.Equal(t, 1, queued(t, s))
		assert.Nil(t, be.claim(t, s, now), "only a job without input is queued")

		if q, ok := s.(localQueue); ok {
			f, err := q.nextFetch(func(id string) bool { return id == url.ID })
			require.NoError(t, err)
			assert.Nil(t, f, "a job being fetched is skipped")
		}
		f := be.fetch(t, s)
		require.NotNil(t, f)
		assert.Equal(t, url.ID, f.ID)
		assert.Equal(t, 1, f.position)
		assert.Equal(t, StateQueued, f.State)
		assert.Equal(t, 1, queued(t, s), "a fetch leaves its job queued")

		_, err := s.update(url.ID, func(r *record) error { return r.setInput(42) })
		require.NoError(t, err)
		assert.Nil(t, be.fetch(t, s))
		r = be.claim(t, s, now)
		require.NotNil(t, r)
		assert.Equal(t, url.ID, r.ID)
		assert.Equal(t, int64(42), r.InputBytes)
		assert.Zero(t, queued(t, s))
	})

	t.Run("update keeps the queue in step", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)
		a, b, c := add(t, s, Request{}, 10), add(t, s, Request{}, 10), add(t, s, Request{}, 10)
		r := be.claim(t, s, t0)
		require.NotNil(t, r)
		require.Equal(t, a.ID, r.ID)
		assert.Equal(t, 1, position(t, s, b.ID))

		// Back to the queue: ahead of the later ones, in Seq order.
		r, err := s.update(a.ID, (*record).requeue)
		require.NoError(t, err)
		assert.Equal(t, StateQueued, r.State)
		assert.Equal(t, 1, r.position)
		assert.Equal(t, 3, position(t, s, c.ID))

		// Out of the queue: the rest move up.
		_, err = s.update(b.ID, func(r *record) error { return r.cancelQueued(t0, time.Hour) })
		require.NoError(t, err)
		assert.Equal(t, 2, queued(t, s))
		assert.Equal(t, 2, position(t, s, c.ID))

		// A refused change changes nothing.
		boom := errors.New("boom")
		_, err = s.update(c.ID, func(r *record) error { r.Attempts = 99; return boom })
		require.ErrorIs(t, err, boom)
		got, err := s.get(c.ID)
		require.NoError(t, err)
		assert.Zero(t, got.Attempts)
		_, err = s.update(c.ID, (*record).requeue)
		require.ErrorIs(t, err, errTransition, "a queued job cannot be re-queued")
		_, err = s.update(newID(), (*record).requeue)
		require.ErrorIs(t, err, ErrNotFound)
		_, err = s.update(c.ID, func(r *record) error { r.ID = newID(); return nil })
		require.Error(t, err, "the id is the key")
	})

	t.Run("list, get and remove", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)
		var ids []string
		for range 4 {
			ids = append(ids, add(t, s, Request{}, 10).ID)
		}
		rs, err := s.list()
		require.NoError(t, err)
		require.Len(t, rs, 4)
		for i, r := range rs {
			assert.Equal(t, ids[i], r.ID, "Seq order")
		}
		require.NoError(t, s.remove(ids[1]))
		require.NoError(t, s.remove(ids[1]), "removing twice is no error")
		require.NoError(t, s.remove(newID()))
		_, err = s.get(ids[1])
		require.ErrorIs(t, err, ErrNotFound)
		assert.Equal(t, 3, queued(t, s), "a removed job leaves the queue")
		assert.Equal(t, 2, position(t, s, ids[2]))
		require.NoError(t, s.ping())
		rs, err = s.list()
		require.NoError(t, err)
		assert.Len(t, rs, 3, "a ping shows in no record")
	})

	t.Run("notifications are leased", func(t *testing.T) {
		t.Parallel()
		s := fresh(t)
		plain := add(t, s, Request{}, 10)
		hooked := add(t, s, Request{Notify: "hook"}, 10)
		at, err := s.nextNotice()
		require.NoError(t, err)
		assert.True(t, at.IsZero(), "no notification before a job is final")
		for _, id := range []string{plain.ID, hooked.ID} {
			_, err := s.update(id, func(r *record) error { return r.cancelQueued(t0, time.Hour) })
			require.NoError(t, err)
		}
		at, err = s.nextNotice()
		require.NoError(t, err)
		assert.Equal(t, t0, at.UTC())

		const lease = time.Minute
		rs, err := s.claimNotices(t0.Add(-time.Second), 10, lease)
		require.NoError(t, err)
		assert.Empty(t, rs, "not due yet")
		rs, err = s.claimNotices(t0, 10, lease)
		require.NoError(t, err)
		require.Len(t, rs, 1)
		assert.Equal(t, hooked.ID, rs[0].ID)
		claim := rs[0].Notice.Claim
		require.NotEmpty(t, claim)
		rs, err = s.claimNotices(t0.Add(lease/2), 10, lease)
		require.NoError(t, err)
		assert.Empty(t, rs, "claimed by another until the lease runs out")
		at, err = s.nextNotice()
		require.NoError(t, err)
		assert.Equal(t, t0.Add(lease), at.UTC())

		// The lease ran out: another caller claims it; the first claim can
		// no longer settle it.
		rs, err = s.claimNotices(t0.Add(lease), 10, lease)
		require.NoError(t, err)
		require.Len(t, rs, 1)
		second := rs[0].Notice.Claim
		assert.NotEqual(t, claim, second)
		_, err = s.update(hooked.ID, func(r *record) error {
			return r.settleNotice(claim, t0, NotificationDelivered, "200", time.Time{})
		})
		require.ErrorIs(t, err, errTransition)
		r, err := s.update(hooked.ID, func(r *record) error {
			return r.settleNotice(second, t0.Add(lease), NotificationDelivered, "200", time.Time{})
		})
		require.NoError(t, err)
		assert.Equal(t, NotificationDelivered, r.Notice.State)
		at, err = s.nextNotice()
		require.NoError(t, err)
		assert.True(t, at.IsZero(), "nothing pending")

		// A removed job's notification is never claimed.
		gone := add(t, s, Request{Notify: "hook"}, 10)
		_, err = s.update(gone.ID, func(r *record) error { return r.cancelQueued(t0, time.Hour) })
		require.NoError(t, err)
		require.NoError(t, s.remove(gone.ID))
		rs, err = s.claimNotices(t0.Add(time.Hour), 10, lease)
		require.NoError(t, err)
		assert.Empty(t, rs)
	})
}

// TestBoltStore runs the store conformance suite on the embedded store.
func TestBoltStore(t *testing.T) {
	t.Parallel()
	runStoreSuite(t, localBackend(func(t *testing.T) store {
		s, err := openBolt(filepath.Join(t.TempDir(), storeFile))
		require.NoError(t, err)
		return s
	}))
}
