package jobs

import (
	"errors"
	"fmt"
	"time"
)

// maxCrashes is how many crash-class interruptions (a process death while
// the job ran, or an Extractor error wrapping ErrWorkerCrashed) a job may
// see: the first re-queues it, the second fails it with worker_crashed.
const maxCrashes = 2

// errTransition: a state change that is not allowed from the record's
// current state (e.g. canceling a job a runner has just finished). Store
// updates that get it change nothing.
var errTransition = errors.New("jobs: invalid state transition")

// record is a job as the store keeps it. Every state change goes through
// one of its methods, which refuse (with errTransition, leaving the record
// unchanged) a change the state machine does not allow:
//
//	queued  -> running (start), canceled (cancelQueued)
//	running -> succeeded (succeed), failed or canceled (finish),
//	           queued (requeue; crashed when under maxCrashes),
//	           failed worker_crashed (crashed at maxCrashes)
//	succeeded -> expired (expire), only for non-persistent jobs after ExpiresAt
//
// Final records are removed (forget) ExpiredGrace after ExpiresAt. A job
// with Request.Notify gets its notice when it turns final (setFinished);
// the notice is pending, claimed and settled (delivered, rejected or
// failed) on its own, whatever the job does next (see notice).
type record struct {
	ID         string
	Seq        uint64 // submission order; the queue order
	State      State
	Attempts   int
	Crashes    int
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ExpiresAt  time.Time
	Request    Request
	InputBytes int64
	// HaveInput: inputs/<id> is complete (always for uploads; for URL jobs
	// once the download was committed).
	HaveInput bool
	Error     *Error
	Result    *Output
	// Notice is the job's notification (Request.Notify), from the moment
	// the job is final; records from before notifications have none.
	Notice *notice

	// position is the 1-based queue position the store computed on read.
	position int
	// What a shared store (pgStore) reads beside the stored record: the
	// stage and progress of a running job as its node last reported them,
	// whether a Cancel asked for its end, and the River job that dispatches
	// it now (0: none).
	stage           Stage
	progress        float64
	cancelRequested bool
	riverJob        int64
}

func (r *record) refuse(what string) error {
	return fmt.Errorf("%w: %s a %s job", errTransition, what, r.State)
}

func (r *record) start(now time.Time) error {
	if r.State != StateQueued {
		return r.refuse("start")
	}
	r.State = StateRunning
	r.Attempts++
	r.StartedAt = now
	return nil
}

// setInput records a queued URL job's downloaded input: the job may now be
// claimed for extraction.
func (r *record) setInput(n int64) error {
	if r.State != StateQueued || !r.needsFetch() {
		return r.refuse("set the input of")
	}
	r.HaveInput, r.InputBytes = true, n
	return nil
}

// failFetch ends a queued URL job whose input could not be downloaded.
func (r *record) failFetch(now time.Time, e *Error, retention time.Duration) error {
	if r.State != StateQueued || !r.needsFetch() {
		return r.refuse("fail the fetch of")
	}
	r.State, r.Error = StateFailed, e
	r.setFinished(now, retention)
	return nil
}

func (r *record) succeed(now time.Time, out *Output, retention time.Duration) error {
	if r.State != StateRunning {
		return r.refuse("complete")
	}
	r.State = StateSucceeded
	r.Result, r.Error = out, nil
	r.setFinished(now, retention)
	return nil
}

// finish ends a running job as failed or canceled.
func (r *record) finish(now time.Time, state State, e *Error, retention time.Duration) error {
	if r.State != StateRunning || (state != StateFailed && state != StateCanceled) {
		return r.refuse("finish")
	}
	r.State, r.Error = state, e
	r.setFinished(now, retention)
	return nil
}

// cancelRunning ends a running job that Cancel or Delete stopped.
func (r *record) cancelRunning(now time.Time, retention time.Duration) error {
	return r.finish(now, StateCanceled, &Error{Code: CodeCanceled, Message: "canceled while running"}, retention)
}

func (r *record) cancelQueued(now time.Time, retention time.Duration) error {
	if r.State != StateQueued {
		return r.refuse("cancel")
	}
	r.State = StateCanceled
	r.Error = &Error{Code: CodeCanceled, Message: "canceled while queued"}
	r.setFinished(now, retention)
	return nil
}

// requeue puts back a job interrupted on purpose (shutdown).
func (r *record) requeue() error {
	if r.State != StateRunning {
		return r.refuse("requeue")
	}
	r.State = StateQueued
	return nil
}

// crashed handles a crash-class interruption: re-queue once, then quarantine.
func (r *record) crashed(now time.Time, retention time.Duration, why string) error {
	if r.State != StateRunning {
		return r.refuse("crash")
	}
	r.Crashes++
	if r.Crashes < maxCrashes {
		r.State = StateQueued
		return nil
	}
	r.State = StateFailed
	r.Error = &Error{Code: CodeWorkerCrashed, Message: fmt.Sprintf("%s (%d times); not retried again", why, r.Crashes)}
	r.setFinished(now, retention)
	return nil
}

func (r *record) expire(now time.Time) error {
	if r.State != StateSucceeded || r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt) {
		return r.refuse("expire")
	}
	r.State = StateExpired
	return nil
}

// setFinished is every way into a final state (expire aside, which starts
// from one): it schedules the job's notification, once.
func (r *record) setFinished(now time.Time, retention time.Duration) {
	r.FinishedAt = now
	if !r.Request.Persistent {
		r.ExpiresAt = now.Add(retention)
	}
	if r.Request.Notify != "" && r.Notice == nil {
		r.Notice = newNotice(now)
	}
}

// stateAt is the state a reader sees at now: a succeeded job past its
// ExpiresAt is expired even before the sweeper has marked it.
func (r *record) stateAt(now time.Time) State {
	if r.State == StateSucceeded && !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		return StateExpired
	}
	return r.State
}

// forgotten reports whether the record is past its grace at now: readers
// treat it as not found and the sweeper removes it.
func (r *record) forgotten(now time.Time, grace time.Duration) bool {
	return r.State.Final() && !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt.Add(grace))
}
