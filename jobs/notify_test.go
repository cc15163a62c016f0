package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeNotifier answers attempts from a script: the n-th call gets
// results[n-1] (nil beyond the script). Calls with block set wait for the
// attempt's context.
type fakeNotifier struct {
	clock   func() time.Time
	results []error
	block   bool

	mu      sync.Mutex
	calls   []notifyCall
	inCh    chan notifyCall // every call, as it starts (buffered)
	busy    int             // calls under way
	peak    int             // most calls under way at once
	release chan struct{}
}

type notifyCall struct {
	n  Notification
	at time.Time // the manager's clock at the call
}

func newFakeNotifier(clock func() time.Time, results ...error) *fakeNotifier {
	return &fakeNotifier{clock: clock, results: results, inCh: make(chan notifyCall, 100), release: make(chan struct{})}
}

func (f *fakeNotifier) Notify(ctx context.Context, n Notification) error {
	c := notifyCall{n: n, at: f.clock()}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	i := len(f.calls)
	f.busy++
	f.peak = max(f.peak, f.busy)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.busy--
		f.mu.Unlock()
	}()
	f.inCh <- c
	if f.block {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.release:
		}
	}
	if i <= len(f.results) {
		return f.results[i-1]
	}
	return nil
}

func (f *fakeNotifier) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// next waits for the next call.
func (f *fakeNotifier) next(t *testing.T) notifyCall {
	t.Helper()
	select {
	case c := <-f.inCh:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no notification attempt")
		return notifyCall{}
	}
}

// fastPoll makes the notifier look at the store often, as the tests move
// the clock by hand.
var fastPoll = &NotifierOptions{PollInterval: 2 * time.Millisecond}

// waitNotification waits until the job's notification is in state s.
func (b *bundle) waitNotification(id string, s NotificationState) Job {
	b.t.Helper()
	var j Job
	require.Eventually(b.t, func() bool {
		var err error
		j, err = b.m.Get(id)
		require.NoError(b.t, err)
		return j.Notification != nil && j.Notification.State == s
	}, 20*time.Second, time.Millisecond, "notification of %s never %s", id, s)
	return j
}

// TestNotifyOncePerJob: a job with a target gets exactly one notification,
// with the final job in it; a job without one gets none.
func TestNotifyOncePerJob(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	fn := newFakeNotifier(b.clock.Now)
	require.NoError(t, b.m.StartNotifier(fn, fastPoll))
	require.ErrorIs(t, b.m.StartNotifier(fn, nil), ErrInvalidRequest, "one notifier per manager")

	plain := b.wait(b.submit("ok", Request{}).ID)
	assert.Nil(t, plain.Notification)
	j := b.submit("ok", Request{Notify: "target-1"})
	assert.Nil(t, j.Notification, "no notification before the job is final")
	failed := b.submit("noaudio", Request{Notify: "target-2"})

	calls := map[string]notifyCall{}
	for range 2 {
		c := fn.next(t)
		calls[c.n.Job.ID] = c
	}
	c := calls[j.ID]
	assert.Equal(t, "target-1", c.n.Target)
	assert.Equal(t, 1, c.n.Attempt)
	assert.Equal(t, StateSucceeded, c.n.Job.State)
	assert.NotNil(t, c.n.Job.Result)
	assert.True(t, validID(c.n.ID), c.n.ID)
	assert.Equal(t, StateFailed, calls[failed.ID].n.Job.State)
	assert.Equal(t, CodeNoAudio, calls[failed.ID].n.Job.Error.Code)
	assert.NotEqual(t, c.n.ID, calls[failed.ID].n.ID)

	got := b.waitNotification(j.ID, NotificationDelivered)
	assert.Equal(t, &NotificationStatus{ID: c.n.ID, State: NotificationDelivered, Attempts: 1, LastAttemptAt: t0, LastResult: "delivered"}, got.Notification)
	b.waitNotification(failed.ID, NotificationDelivered)
	next, err := b.m.store.nextNotice()
	require.NoError(t, err)
	assert.Zero(t, next, "nothing pending")
	assert.Equal(t, 2, fn.count(), "one attempt per job")
}

// TestNotifyBackoff: a notification that fails twice and then succeeds
// gets 3 attempts, spaced by the backoff (the clock is moved by hand: no
// attempt comes before its time).
func TestNotifyBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	boom := errors.New("receiver answered 500")
	fn := newFakeNotifier(b.clock.Now, boom, boom)
	opts := &NotifierOptions{PollInterval: 2 * time.Millisecond, MinBackoff: 10 * time.Second}
	require.NoError(t, b.m.StartNotifier(fn, opts))
	id := b.submit("ok", Request{Notify: "x"}).ID

	c1 := fn.next(t)
	assert.Equal(t, t0, c1.at)
	j := b.waitNotification(id, NotificationPending)
	for j.Notification.Attempts != 1 {
		j = b.waitNotification(id, NotificationPending)
	}
	n := j.Notification
	assert.Equal(t, "receiver answered 500", n.LastResult)
	assert.Equal(t, t0, n.LastAttemptAt)
	assert.GreaterOrEqual(t, n.NextAttemptAt.Sub(t0), 7500*time.Millisecond, "first backoff: 10 s ± 25 %%")
	assert.LessOrEqual(t, n.NextAttemptAt.Sub(t0), 12500*time.Millisecond)

	// Just before it is due, nobody may claim it.
	rs, err := b.m.store.claimNotices(n.NextAttemptAt.Add(-time.Nanosecond), 10, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, rs)
	assert.Equal(t, 1, fn.count())

	b.clock.Set(n.NextAttemptAt)
	c2 := fn.next(t)
	assert.Equal(t, 2, c2.n.Attempt)
	assert.Equal(t, c1.n.ID, c2.n.ID, "the same notification id on every attempt")
	assert.Equal(t, n.NextAttemptAt, c2.at)
	require.Eventually(t, func() bool {
		j, _ = b.m.Get(id)
		return j.Notification.Attempts == 2
	}, 20*time.Second, time.Millisecond)
	n2 := j.Notification
	assert.Equal(t, NotificationPending, n2.State)
	gap := n2.NextAttemptAt.Sub(c2.at)
	assert.GreaterOrEqual(t, gap, 15*time.Second, "second backoff: 20 s ± 25 %%")
	assert.LessOrEqual(t, gap, 25*time.Second)

	b.clock.Set(n2.NextAttemptAt)
	c3 := fn.next(t)
	assert.Equal(t, 3, c3.n.Attempt)
	assert.Equal(t, n2.NextAttemptAt, c3.at)
	j = b.waitNotification(id, NotificationDelivered)
	assert.Equal(t, 3, j.Notification.Attempts)
	assert.Equal(t, c3.at, j.Notification.LastAttemptAt)
	assert.Zero(t, j.Notification.NextAttemptAt)
	assert.Equal(t, 3, fn.count())
}

func TestNotifyBackoffSchedule(t *testing.T) {
	t.Parallel()
	o := (&NotifierOptions{MinBackoff: 10 * time.Second, MaxBackoff: time.Hour}).withDefaults()
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600}
	for i, w := range want {
		assert.Equal(t, w*time.Second, o.backoff(i+1, 0.5), "failure %d", i+1)
		assert.Equal(t, w*time.Second*3/4, o.backoff(i+1, 0), "failure %d, least jitter", i+1)
	}
	assert.Equal(t, time.Duration(float64(time.Hour)*1.25), o.backoff(1000, 1-1e-9).Round(time.Second))
}

// TestNotifyStops: rejection ends a notification at once; RetryFor ends
// one that keeps failing, with a last attempt at the end of the window.
func TestNotifyStops(t *testing.T) {
	t.Parallel()

	t.Run("rejected", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		fn := newFakeNotifier(b.clock.Now, fmt.Errorf("receiver answered 410 Gone: %w", ErrNotificationRejected))
		require.NoError(t, b.m.StartNotifier(fn, fastPoll))
		id := b.submit("ok", Request{Notify: "x"}).ID
		j := b.waitNotification(id, NotificationRejected)
		assert.Equal(t, 1, j.Notification.Attempts)
		assert.Contains(t, j.Notification.LastResult, "410 Gone")
		next, err := b.m.store.nextNotice()
		require.NoError(t, err)
		assert.Zero(t, next)
		b.clock.Set(t0.Add(48 * time.Hour))
		rs, err := b.m.store.claimNotices(b.clock.Now(), 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, rs)
		assert.Equal(t, 1, fn.count())
	})

	t.Run("retried for RetryFor, then failed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		boom := errors.New("timeout")
		fn := newFakeNotifier(b.clock.Now, boom, boom, boom, boom, boom)
		require.NoError(t, b.m.StartNotifier(fn, &NotifierOptions{PollInterval: 2 * time.Millisecond, MinBackoff: 40 * time.Second, RetryFor: time.Minute}))
		id := b.submit("ok", Request{Notify: "x"}).ID
		var ats []time.Time
		for i := 1; ; i++ {
			c := fn.next(t)
			ats = append(ats, c.at)
			var j Job
			require.Eventually(t, func() bool {
				j, _ = b.m.Get(id)
				return j.Notification.Attempts == i
			}, 20*time.Second, time.Millisecond)
			if j.Notification.State != NotificationPending {
				assert.Equal(t, NotificationFailed, j.Notification.State)
				break
			}
			b.clock.Set(j.Notification.NextAttemptAt)
		}
		require.Len(t, ats, 3)
		assert.Equal(t, t0, ats[0])
		assert.Equal(t, t0.Add(time.Minute), ats[2], "the last attempt at the end of the window")
	})

	t.Run("deleted job", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		fn := newFakeNotifier(b.clock.Now, errors.New("boom"))
		require.NoError(t, b.m.StartNotifier(fn, fastPoll))
		id := b.submit("ok", Request{Notify: "x"}).ID
		fn.next(t)
		b.waitNotification(id, NotificationPending)
		require.NoError(t, b.m.Delete(id))
		next, err := b.m.store.nextNotice()
		require.NoError(t, err)
		assert.Zero(t, next, "the notification went with the job")
	})
}

// TestNotifyClaims: a due notification goes to one claimer at a time, until
// its claim runs out; only the current claim may settle it.
func TestNotifyClaims(t *testing.T) {
	t.Parallel()
	b := setup(t, nil) // no notifier: the test claims by hand
	id := b.submit("ok", Request{Notify: "x"}).ID
	b.wait(id)
	st := b.m.store

	rs, err := st.claimNotices(t0, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	first := rs[0].Notice.Claim
	rs, err = st.claimNotices(t0.Add(59*time.Second), 10, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, rs, "claimed by the first until its claim runs out")
	next, err := st.nextNotice()
	require.NoError(t, err)
	assert.True(t, next.Equal(t0.Add(time.Minute)), "next eligible at %v", next)

	rs, err = st.claimNotices(t0.Add(time.Minute), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, rs, 1, "a claim that ran out is taken over")
	second := rs[0].Notice.Claim
	assert.NotEqual(t, first, second)

	_, err = st.update(id, func(r *record) error {
		return r.settleNotice(first, t0, NotificationDelivered, "delivered", time.Time{})
	})
	require.ErrorIs(t, err, errTransition, "the first claimer was too late")
	r, err := st.update(id, func(r *record) error {
		return r.settleNotice(second, t0.Add(time.Minute), NotificationDelivered, "delivered", time.Time{})
	})
	require.NoError(t, err)
	assert.Equal(t, NotificationDelivered, r.Notice.State)
	assert.Equal(t, 1, r.Notice.Attempts)
	next, err = st.nextNotice()
	require.NoError(t, err)
	assert.Zero(t, next)
}

// TestNotifyAcrossRestarts: a pending notification, and one whose attempt
// was under way when the process stopped, are delivered by the next
// manager on the data directory.
func TestNotifyAcrossRestarts(t *testing.T) {
	t.Parallel()

	t.Run("pending", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		fn := newFakeNotifier(b.clock.Now, errors.New("boom"))
		require.NoError(t, b.m.StartNotifier(fn, fastPoll))
		id := b.submit("ok", Request{Notify: "x"}).ID
		j := b.waitNotification(id, NotificationPending)
		for j.Notification.Attempts != 1 {
			j = b.waitNotification(id, NotificationPending)
		}
		require.NoError(t, b.m.Close())

		b.start()
		fn2 := newFakeNotifier(b.clock.Now)
		require.NoError(t, b.m.StartNotifier(fn2, fastPoll))
		b.clock.Set(j.Notification.NextAttemptAt)
		c := fn2.next(t)
		assert.Equal(t, 2, c.n.Attempt)
		assert.Equal(t, j.Notification.ID, c.n.ID)
		b.waitNotification(id, NotificationDelivered)
	})

	t.Run("claimed when the process died", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		id := b.submit("ok", Request{Notify: "x"}).ID
		b.wait(id)
		// A claim as the dead process left it: it would last an hour.
		rs, err := b.m.store.claimNotices(t0, 1, time.Hour)
		require.NoError(t, err)
		require.Len(t, rs, 1)
		require.NoError(t, b.m.Close())

		b.start()
		fn := newFakeNotifier(b.clock.Now)
		require.NoError(t, b.m.StartNotifier(fn, fastPoll))
		c := fn.next(t)
		assert.Equal(t, t0, c.at, "released at start-up, not an hour later")
		assert.Equal(t, 1, c.n.Attempt, "an attempt cut off is not counted")
		b.waitNotification(id, NotificationDelivered)
	})

	t.Run("cut off by Close", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		fn := newFakeNotifier(b.clock.Now)
		fn.block = true
		require.NoError(t, b.m.StartNotifier(fn, fastPoll))
		id := b.submit("ok", Request{Notify: "x"}).ID
		fn.next(t)
		require.NoError(t, b.m.Close())
		r, err := b.reopenStore().get(id)
		require.NoError(t, err)
		assert.Equal(t, NotificationPending, r.Notice.State)
		assert.Zero(t, r.Notice.Attempts)
		assert.Empty(t, r.Notice.Claim, "released on the way out")
	})
}

// reopenStore opens the closed manager's store, for a look inside.
func (b *bundle) reopenStore() store {
	b.t.Helper()
	st, err := openBolt(b.path(storeFile))
	require.NoError(b.t, err)
	b.t.Cleanup(func() { st.close() })
	return st
}

// TestNotifySlowReceiver: attempts run beside the runners, at most
// Concurrency at once; a receiver that hangs holds no job.
func TestNotifySlowReceiver(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Workers = 1 })
	fn := newFakeNotifier(b.clock.Now)
	fn.block = true
	require.NoError(t, b.m.StartNotifier(fn, &NotifierOptions{Concurrency: 2, PollInterval: 2 * time.Millisecond}))
	var ids []string
	for range 5 {
		ids = append(ids, b.submit("ok", Request{Notify: "x"}).ID)
	}
	for _, id := range ids {
		assert.Equal(t, StateSucceeded, b.wait(id).State, "the one runner is not held by hanging receivers")
	}
	fn.next(t)
	fn.next(t)
	stats, err := b.m.Stats()
	require.NoError(t, err)
	assert.Zero(t, stats.Running)
	close(fn.release)
	for _, id := range ids {
		b.waitNotification(id, NotificationDelivered)
	}
	fn.mu.Lock()
	defer fn.mu.Unlock()
	assert.Equal(t, 2, fn.peak, "at most Concurrency attempts at once")
	assert.Len(t, fn.calls, 5)
}

// TestNotifyPanics: a panicking notifier fails the attempt, which is
// retried.
func TestNotifyPanics(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	require.NoError(t, b.m.StartNotifier(panicky{}, fastPoll))
	id := b.submit("ok", Request{Notify: "x"}).ID
	j := b.waitNotification(id, NotificationPending)
	for j.Notification.Attempts == 0 {
		j = b.waitNotification(id, NotificationPending)
	}
	assert.Contains(t, j.Notification.LastResult, "notifier panicked: no")
	assert.Contains(t, b.logs.String(), "notifier panicked")
}

type panicky struct{}

func (panicky) Notify(context.Context, Notification) error { panic("no") }

// TestRecordWithoutNotice: a record stored before notifications existed
// loads, and its job has none.
func TestRecordWithoutNotice(t *testing.T) {
	t.Parallel()
	const old = `{"id":"AAAAAAAAAAAAAAAAAAAAAA","seq":1,"state":"succeeded","attempts":1,"crashes":0,` +
		`"created_at":"2025-03-01T14:00:00Z","finished_at":"2025-03-01T14:00:01Z","request":{"options":{"format":"mp3"},"persistent":true},` +
		`"input_bytes":2,"have_input":true,"result":{"size":5,"format":"mp3","duration":1000000000}}`
	var r record
	require.NoError(t, json.Unmarshal([]byte(old), &r))
	assert.Nil(t, r.Notice)
	assert.Nil(t, noticeKey(&r))
	assert.Nil(t, r.Notice.status())
}

func TestStartNotifierAfterClose(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	require.NoError(t, b.m.Close())
	require.ErrorIs(t, b.m.StartNotifier(newFakeNotifier(b.clock.Now), nil), ErrClosed)
	require.ErrorIs(t, b.m.StartNotifier(nil, nil), ErrInvalidRequest)
}
