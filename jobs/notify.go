package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"
)

// NotificationState is where a job's notification is.
type NotificationState string

// The notification states. Pending is the only one that is not final.
const (
	// NotificationPending: not delivered yet; attempts go on.
	NotificationPending NotificationState = "pending"
	// NotificationDelivered: an attempt succeeded.
	NotificationDelivered NotificationState = "delivered"
	// NotificationRejected: an attempt failed with ErrNotificationRejected
	// (the receiver asked for no more, or the target may never be
	// reached); no more attempts.
	NotificationRejected NotificationState = "rejected"
	// NotificationFailed: no attempt succeeded within
	// NotifierOptions.RetryFor; no more attempts.
	NotificationFailed NotificationState = "failed"
)

// String returns the state's name.
func (s NotificationState) String() string { return string(s) }

// NotificationStatus is what a Job shows of its notification.
type NotificationStatus struct {
	// ID identifies the notification; it is the same on every attempt, so
	// a receiver can drop the copies at-least-once delivery may bring.
	ID    string            `json:"id"`
	State NotificationState `json:"state"`
	// Attempts counts the attempts made so far. An attempt cut off by a
	// crash or a shutdown is not counted: it is made again.
	Attempts int `json:"attempts"`
	// LastAttemptAt is when the last attempt started; zero before the first.
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	// LastResult is the last attempt's outcome in a few words: "delivered",
	// or the Notifier's error.
	LastResult string `json:"last_result,omitempty"`
	// NextAttemptAt is when the next attempt is due, while pending.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
}

// Notification is one attempt to deliver a job's notification, as a
// Notifier gets it.
type Notification struct {
	// ID is the notification's id, the same on every attempt.
	ID string
	// Target is the job's Request.Notify.
	Target string
	// Attempt is 1 for the first attempt, 2 for the first retry, ...
	Attempt int
	// Job is the job as it is at the attempt (final: succeeded, failed,
	// canceled, or expired when its result expired before the delivery).
	Job Job
}

// Notifier delivers notifications: Manager.StartNotifier calls Notify
// once per attempt, from a few goroutines of its own, never from a job's
// runner. Notify returns nil when the notification was delivered; an error
// wrapping ErrNotificationRejected when it must not be tried again; any
// other error to have it retried later. It must return once ctx is done.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// NotifierOptions configure StartNotifier. The zero value is usable.
type NotifierOptions struct {
	// Concurrency is how many attempts may run at once. Defaults to 4.
	Concurrency int
	// Timeout bounds one attempt (the context Notify gets). Defaults to
	// 10 s.
	Timeout time.Duration
	// MinBackoff is the wait after a first failed attempt; each further
	// failure doubles it, up to MaxBackoff, and every wait is drawn
	// within ±25 % of that (jitter). Defaults to 10 s and 1 hour.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// RetryFor is how long after the job's end attempts go on: the last
	// one is made at that moment at the latest, and when it fails too the
	// notification is failed. Defaults to 24 hours. (A job that is
	// forgotten, see Config.ExpiredGrace, or deleted takes its
	// notification with it.)
	RetryFor time.Duration
	// PollInterval is the longest the notifier sleeps between looks at
	// the store. Due notifications of this process wake it at once;
	// polling finds those another process made due (a shared store) and
	// those due by a clock that real time does not drive (Config.Now in
	// tests). Defaults to 30 s.
	PollInterval time.Duration
}

// Defaults of NotifierOptions.
const (
	DefaultNotifyConcurrency  = 4
	DefaultNotifyTimeout      = 10 * time.Second
	DefaultNotifyMinBackoff   = 10 * time.Second
	DefaultNotifyMaxBackoff   = time.Hour
	DefaultNotifyRetryFor     = 24 * time.Hour
	DefaultNotifyPollInterval = 30 * time.Second

	// leaseMargin is how much longer than an attempt's timeout its claim
	// lasts: time to record the outcome.
	leaseMargin = time.Minute
	// maxResultLen bounds NotificationStatus.LastResult.
	maxResultLen = 200
	// maxNotifyLen bounds Request.Notify.
	maxNotifyLen = 16 << 10
)

func (o *NotifierOptions) withDefaults() NotifierOptions {
	var c NotifierOptions
	if o != nil {
		c = *o
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultNotifyConcurrency
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultNotifyTimeout
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultNotifyMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultNotifyMaxBackoff
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.RetryFor <= 0 {
		c.RetryFor = DefaultNotifyRetryFor
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultNotifyPollInterval
	}
	return c
}

// lease is how long a claim on a notification lasts.
func (o NotifierOptions) lease() time.Duration { return o.Timeout + leaseMargin }

// backoff is the wait after the failures-th failed attempt, before jitter
// (u in [0, 1) draws it within ±25 %).
func (o NotifierOptions) backoff(failures int, u float64) time.Duration {
	d := o.MinBackoff
	for i := 1; i < failures && d < o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.MaxBackoff)
	return time.Duration(float64(d) * (0.75 + 0.5*u))
}

// notice is a job's notification as the store keeps it (record.Notice).
//
// A notice is pending until an attempt settles it. Attempts are claimed:
// a claim (a random token) holds the notice until ClaimedUntil, and only
// the holder of the current claim may record the attempt's outcome. A
// claim whose holder died runs out, and the notice can be claimed again;
// so on a store shared by many processes each attempt is made by one of
// them, and a process that was too slow cannot overwrite another's
// outcome.
type notice struct {
	ID    string            `json:"id"`
	State NotificationState `json:"state"`
	// Attempts counts the attempts whose outcome was recorded.
	Attempts int `json:"attempts"`
	// Since is when the job turned final: RetryFor counts from it.
	Since time.Time `json:"since"`
	// DueAt is when the next attempt may start.
	DueAt time.Time `json:"due_at"`
	// ClaimedUntil and Claim: the current claim, if any.
	ClaimedUntil  time.Time `json:"claimed_until,omitzero"`
	Claim         string    `json:"claim,omitempty"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	LastResult    string    `json:"last_result,omitempty"`
}

func newNotice(now time.Time) *notice {
	return &notice{ID: newID(), State: NotificationPending, Since: now, DueAt: now}
}

// eligible is when the notice may next be claimed: when it is due, or when
// a claim on it runs out, whichever is later; zero once it is settled.
func (n *notice) eligible() time.Time {
	if n == nil || n.State != NotificationPending {
		return time.Time{}
	}
	if n.ClaimedUntil.After(n.DueAt) {
		return n.ClaimedUntil
	}
	return n.DueAt
}

func (n *notice) status() *NotificationStatus {
	if n == nil {
		return nil
	}
	s := &NotificationStatus{ID: n.ID, State: n.State, Attempts: n.Attempts, LastAttemptAt: n.LastAttemptAt, LastResult: n.LastResult}
	if n.State == NotificationPending {
		s.NextAttemptAt = n.eligible()
	}
	return s
}

func refuseNotice(what string) error {
	return fmt.Errorf("%w: %s a notification that is not pending or not ours", errTransition, what)
}

// claimNotice claims the record's notification until now+lease.
func (r *record) claimNotice(now time.Time, lease time.Duration) error {
	n := r.Notice
	if n == nil || n.State != NotificationPending || now.Before(n.eligible()) {
		return refuseNotice("claim")
	}
	n.ClaimedUntil, n.Claim = now.Add(lease), newID()
	return nil
}

// settleNotice records the outcome of the attempt made under claim, which
// started at: the notice becomes state, due again at due when pending.
func (r *record) settleNotice(claim string, at time.Time, state NotificationState, result string, due time.Time) error {
	n := r.Notice
	if n == nil || n.State != NotificationPending || claim == "" || n.Claim != claim {
		return refuseNotice("settle")
	}
	n.Attempts++
	n.LastAttemptAt, n.LastResult, n.State = at, truncateResult(result), state
	n.Claim, n.ClaimedUntil = "", time.Time{}
	if state == NotificationPending {
		n.DueAt = due
	}
	return nil
}

// releaseNotice ends a claim without an outcome (the attempt was cut off):
// the notification is due again at once. An empty claim releases any.
func (r *record) releaseNotice(claim string) error {
	n := r.Notice
	if n == nil || n.State != NotificationPending || (claim != "" && n.Claim != claim) {
		return refuseNotice("release")
	}
	n.Claim, n.ClaimedUntil = "", time.Time{}
	return nil
}

func truncateResult(s string) string {
	if len(s) <= maxResultLen {
		return s
	}
	for n := maxResultLen; n > 0; n-- {
		if s[n]&0xC0 != 0x80 {
			return s[:n] + "…"
		}
	}
	return ""
}

// StartNotifier starts delivering the notifications of jobs submitted with
// Request.Notify through n, and returns at once. Delivery runs on
// goroutines of its own (opts.Concurrency of them at most), never on a
// job's runner: a slow receiver holds no extraction. Notifications are
// durable: each is stored with its job when the job turns final, and
// survives restarts until an attempt settles it.
//
// Delivery is at least once. Each attempt claims the notification in the
// store first (see the notice type); a failed attempt is retried after an
// exponential backoff with jitter, for opts.RetryFor; an attempt cut off
// by a crash is made again after the next New (a shutdown releases it at
// once). Receivers tell copies apart by Notification.ID.
//
// Delivery stops with the manager (Shutdown waits for attempts under way,
// Close cancels them). A manager runs one notifier: a second call fails
// with ErrInvalidRequest, and one after Shutdown or Close with ErrClosed.
func (m *Manager) StartNotifier(n Notifier, opts *NotifierOptions) error {
	if n == nil {
		return fmt.Errorf("%w: nil Notifier", ErrInvalidRequest)
	}
	o := opts.withDefaults()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closing:
		return ErrClosed
	case m.notifying:
		return fmt.Errorf("%w: a notifier is already running", ErrInvalidRequest)
	}
	m.notifying = true
	// The dispatcher counts as a runner: Shutdown and Close wait for it,
	// and it for the attempts it started, before the store closes.
	m.runners.Add(1)
	go m.dispatch(n, o)
	return nil
}

// dispatch claims due notifications and hands each to a goroutine of its
// own, at most o.Concurrency at a time, until the manager stops.
func (m *Manager) dispatch(n Notifier, o NotifierOptions) {
	defer m.runners.Done()
	slots := make(chan struct{}, o.Concurrency)
	freed := make(chan struct{}, 1)
	defer func() {
		// Wait for the attempts under way.
		for range o.Concurrency {
			slots <- struct{}{}
		}
	}()
	var backoff time.Duration
	for {
		changed := m.Changed()
		select {
		case <-m.stop:
			return
		default:
		}
		wait := o.PollInterval
		if free := cap(slots) - len(slots); free > 0 {
			rs, next, err := m.claimNotices(free, o)
			if err != nil {
				backoff = min(max(2*backoff, 50*time.Millisecond), min(o.PollInterval, 5*time.Second))
				m.log.Error("claiming notifications failed", "err", err, "retry_in", backoff)
				wait = backoff
			} else {
				backoff = 0
				for _, r := range rs {
					slots <- struct{}{}
					go func() {
						defer func() {
							<-slots
							select {
							case freed <- struct{}{}:
							default:
							}
						}()
						m.deliver(n, r, o)
					}()
				}
				if len(rs) == free {
					continue // more may be due
				}
				if !next.IsZero() {
					wait = min(wait, max(next.Sub(m.cfg.Now()), time.Millisecond))
				}
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-m.stop:
			t.Stop()
			return
		case <-changed:
		case <-freed:
		case <-t.C:
		}
		t.Stop()
	}
}

// claimNotices claims up to max due notifications, and says when the next
// one not claimed is due (zero: none).
func (m *Manager) claimNotices(max int, o NotifierOptions) ([]*record, time.Time, error) {
	var rs []*record
	var next time.Time
	err := m.use(func() error {
		// Look before claiming: a claim is a write (and an fsync), and the
		// notifier looks at every change of every job.
		now := m.cfg.Now()
		var err error
		next, err = m.store.nextNotice()
		if err != nil || next.IsZero() || next.After(now) {
			return storeErr(err)
		}
		if rs, err = m.store.claimNotices(now, max, o.lease()); err != nil {
			return storeErr(err)
		}
		next, err = m.store.nextNotice()
		return storeErr(err)
	})
	return rs, next, err
}

// deliver makes one attempt at r's notification, which this process has
// claimed, and records its outcome.
func (m *Manager) deliver(n Notifier, r *record, o NotifierOptions) {
	id, nt := r.ID, r.Notice
	at := m.cfg.Now()
	ctx, cancel := context.WithTimeout(m.runCtx, o.Timeout)
	err := m.safeNotify(ctx, n, Notification{ID: nt.ID, Target: r.Request.Notify, Attempt: nt.Attempts + 1, Job: m.view(r, at)})
	cancel()
	if err != nil && m.runCtx.Err() != nil {
		// Cut off by Close or a hurried Shutdown: not the receiver's
		// failure. Make it again after the restart.
		if _, uerr := m.store.update(id, func(rec *record) error { return rec.releaseNotice(nt.Claim) }); uerr != nil && !errors.Is(uerr, ErrNotFound) {
			m.log.Error("releasing a notification failed", "job", id, "notification", nt.ID, "err", uerr)
		}
		m.log.Info("notification attempt cut off by shutdown", "job", id, "notification", nt.ID)
		return
	}
	now := m.cfg.Now()
	state, result, due := NotificationDelivered, "delivered", time.Time{}
	switch {
	case err == nil:
	case errors.Is(err, ErrNotificationRejected):
		state, result = NotificationRejected, err.Error()
	case !now.Before(nt.Since.Add(o.RetryFor)):
		state, result = NotificationFailed, err.Error()
	default:
		state, result = NotificationPending, err.Error()
		due = now.Add(o.backoff(nt.Attempts+1, rand.Float64()))
		if deadline := nt.Since.Add(o.RetryFor); due.After(deadline) {
			due = deadline // the last attempt falls at the end of RetryFor
		}
	}
	_, uerr := m.store.update(id, func(rec *record) error { return rec.settleNotice(nt.Claim, at, state, result, due) })
	switch {
	case errors.Is(uerr, ErrNotFound):
		// Deleted or forgotten meanwhile.
	case errors.Is(uerr, errTransition):
		m.log.Warn("a notification's claim ran out before its outcome was recorded", "job", id, "notification", nt.ID)
	case uerr != nil:
		// The claim runs out and the attempt is made again.
		m.log.Error("recording a notification attempt failed", "job", id, "notification", nt.ID, "err", uerr)
	}
	args := []any{"job", id, "notification", nt.ID, "attempt", nt.Attempts + 1, "state", state}
	if err != nil {
		args = append(args, "err", err.Error())
	}
	if state == NotificationPending {
		args = append(args, "next_attempt_at", due)
	}
	m.log.Info("notification attempt", args...)
}

// safeNotify calls n, turning a panic into a failed attempt.
func (m *Manager) safeNotify(ctx context.Context, n Notifier, nt Notification) (err error) {
	defer func() {
		if p := recover(); p != nil {
			m.log.Error("notifier panicked", "job", nt.Job.ID, "notification", nt.ID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("jobs: notifier panicked: %v", p)
		}
	}()
	return n.Notify(ctx, nt)
}
