package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/audex/audex/extract"
)

// errTimeout is the cause of a job context's deadline.
var errTimeout = errors.New("jobs: job timed out")

// run is a job a runner is running: one of Config.Workers goroutines, each a slot for one extraction at a time.
type run struct {
	rec          *record
	ctx          context.Context
	cancel       context.CancelCauseFunc
	userCanceled atomic.Bool
	stage        atomic.Value  // Stage
	progress     atomic.Uint64 // float64 bits
	done         chan struct{} // closed once the outcome is committed, files cleaned up and the run unregistered
}

func (r *run) status() (Stage, float64) {
	return r.stage.Load().(Stage), math.Float64frombits(r.progress.Load())
}

func (r *run) setStage(s Stage) { r.stage.Store(s) }

func (m *Manager) runner() {
	defer m.runners.Done()
	var backoff time.Duration
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		r, err := m.claim()
		if err != nil {
			backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
			m.log.Error("claiming a job failed", "err", err, "retry_in", backoff)
			select {
			case <-m.stop:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if r == nil {
			select {
			case <-m.stop:
				return
			case <-m.wake:
			}
			continue
		}
		m.signal() // another job may be waiting for another idle runner
		m.execute(r)
	}
}

// claim takes the next queued job, if any, and registers its run. Once the
// manager is stopping it takes none: a runner that checked m.stop just
// before Close must not take the job Close has just re-queued (the commit
// that re-queues it holds claimMu too, after m.stop closed).
func (m *Manager) claim() (*run, error) {
	m.claimMu.Lock()
	defer m.claimMu.Unlock()
	select {
	case <-m.stop:
		return nil, nil
	default:
	}
	rec, err := m.store.claim(m.cfg.Now())
	if err != nil || rec == nil {
		return nil, err
	}
	return m.begin(rec), nil
}

// begin registers the run of a job just claimed (rec, running), by a
// runner or by a River worker; claimMu is held.
func (m *Manager) begin(rec *record) *run {
	ctx, cancel := context.WithCancelCause(m.runCtx)
	r := &run{rec: rec, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	r.setStage(StageProbing)
	m.mu.Lock()
	m.runs[rec.ID] = r
	m.mu.Unlock()
	m.log.Info("job started", "job", rec.ID, "attempt", rec.Attempts, "node", m.cfg.Node)
	m.notify()
	return r
}

// execute runs one attempt of a job and commits its outcome, which it
// returns (nil when none was recorded: see conclude).
func (m *Manager) execute(r *run) *record {
	out, err := m.attempt(r)
	rec := m.conclude(r, out, err)
	r.cancel(nil)
	m.mu.Lock()
	if m.runs[r.rec.ID] == r {
		delete(m.runs, r.rec.ID)
	}
	m.mu.Unlock()
	close(r.done)
	return rec
}

// attempt runs a job whose input is stored (a URL job's was fetched
// before it was queued for extraction, see fetch.go): extract, store. A
// panic anywhere in it becomes an internal error.
func (m *Manager) attempt(r *run) (out *Output, err error) {
	id := r.rec.ID
	defer func() {
		if p := recover(); p != nil {
			m.log.Error("job panicked", "job", id, "panic", p, "stack", string(debug.Stack()))
			out, err = nil, &Error{Code: CodeInternal, Message: fmt.Sprintf("panic: %v", p)}
		}
	}()
	r.setStage(StageProbing)
	limit := m.cfg.timeout(r.rec.InputBytes)
	ctx, cancel := context.WithTimeoutCause(r.ctx, limit, errTimeout)
	defer cancel()
	opts := r.rec.Request.Options
	opts.Parallelism = m.cores()
	opts.Progress = func(p extract.Progress) {
		r.setStage(StageExtracting)
		r.progress.Store(math.Float64bits(p.Fraction()))
	}
	src, err := m.localInput(ctx, id)
	if err != nil {
		return nil, m.timedOut(ctx, limit, err)
	}
	if src != localPath(m.blobs, inputKey(id)) {
		defer os.Remove(src)
	}
	tmp := m.tmpPath(id, tmpOutput+opts.Format.Extension())
	defer os.Remove(tmp)
	res, err := m.cfg.Extractor.Extract(ctx, tmp, src, opts)
	if err != nil {
		return nil, m.timedOut(ctx, limit, err)
	}
	r.setStage(StageStoring)
	out, err = m.storeResult(ctx, id, opts.Format, tmp, res)
	if err != nil {
		m.deleteResults(id)
		return nil, m.timedOut(ctx, limit, err)
	}
	return out, err
}

// timedOut is err, or the job's timeout error when ctx's deadline caused it.
func (m *Manager) timedOut(ctx context.Context, limit time.Duration, err error) error {
	if errors.Is(context.Cause(ctx), errTimeout) {
		return &Error{Code: CodeTimeout, Message: fmt.Sprintf("the job did not finish within %v", limit)}
	}
	return err
}

// localInput returns a local file holding the job's input: the blob's own
// file when the blobs are on this disk, else a download into tmp/ (which
// the caller removes).
func (m *Manager) localInput(ctx context.Context, id string) (string, error) {
	if p := localPath(m.blobs, inputKey(id)); p != "" {
		return p, nil
	}
	b, err := m.blobs.Open(ctx, inputKey(id))
	if err != nil {
		return "", fmt.Errorf("%w: get input: %w", ErrUnavailable, err)
	}
	defer b.Close()
	tmp := m.tmpPath(id, tmpSource)
	if _, err := spool(ctx, tmp, b); err != nil {
		return "", fmt.Errorf("%w: get input: %w", ErrUnavailable, err)
	}
	return tmp, nil
}

// storeResult puts the extracted file into the blobs, durably, at
// results/<id>/audio.<ext>.
func (m *Manager) storeResult(ctx context.Context, id string, f extract.Format, tmp string, res *extract.Result) (*Output, error) {
	fi, err := os.Stat(tmp)
	if err == nil {
		err = m.blobs.Put(ctx, resultKey(id, resultName(f)), tmp)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: store result: %w", err)
	}
	out := &Output{Size: fi.Size(), Format: f, Extract: res}
	if res != nil {
		out.Duration = res.Duration
	}
	return out, nil
}

// conclude commits the outcome of an attempt and cleans up after it. Only
// the attempt the job is still in may commit: on a shared store a job
// whose node was taken for dead has been re-queued (and perhaps started
// again elsewhere) meanwhile, and this attempt's outcome is dropped.
func (m *Manager) conclude(r *run, out *Output, err error) *record {
	id := r.rec.ID
	now := m.cfg.Now()
	ret := m.retention(r.rec)
	var fn func(*record) error
	switch {
	case err == nil:
		fn = func(rec *record) error { return rec.succeed(now, out, ret) }
	case r.userCanceled.Load():
		fn = func(rec *record) error { return rec.cancelRunning(now, ret) }
	case errors.Is(context.Cause(r.ctx), errShutdown):
		fn = (*record).requeue
	case errors.Is(err, ErrWorkerCrashed):
		fn = func(rec *record) error { return rec.crashed(now, ret, err.Error()) }
	default:
		e, ok := errors.AsType[*Error](err)
		if !ok {
			e = &Error{Code: ErrorCode(err), Message: err.Error()}
		}
		fn = func(rec *record) error { return rec.finish(now, StateFailed, e, ret) }
	}
	rec, cerr := m.commit(id, func(rec *record) error {
		switch {
		case rec.State != StateRunning || rec.Attempts != r.rec.Attempts:
			return fmt.Errorf("%w: attempt %d is no longer the job's", errTransition, r.rec.Attempts)
		case err != nil && rec.cancelRequested:
			// Canceled from another node: whatever stopped the run.
			return rec.cancelRunning(now, ret)
		}
		return fn(rec)
	})
	switch {
	case errors.Is(cerr, ErrNotFound):
		// Deleted meanwhile (from another node): nothing of it stays.
		m.deleteResults(id)
		m.deleteBlob(inputKey(id))
	case errors.Is(cerr, errTransition):
		// Taken for dead: a result this attempt put shares its key with
		// the job's other attempts; it goes only once no attempt may want
		// it (the job ended without one).
		if cur, err := m.store.get(id); err == nil && cur.State.Final() && cur.State != StateSucceeded {
			m.deleteResults(id)
		}
	}
	if rec == nil {
		return nil
	}
	if rec.State != StateSucceeded {
		m.deleteResults(id)
	}
	if rec.State.Final() {
		m.deleteBlob(inputKey(id))
	}
	args := []any{"job", id, "state", rec.State, "attempt", rec.Attempts}
	if rec.Error != nil {
		args = append(args, "code", rec.Error.Code, "err", rec.Error.Message)
	}
	m.log.Info("job "+string(rec.State), args...)
	m.notify()
	return rec
}

// commit stores a run's outcome. While the store fails it retries, until
// the manager is stopped hard; then the job stays running in the store and
// the next start (or a shared store's reaper) treats it as interrupted.
func (m *Manager) commit(id string, fn func(*record) error) (*record, error) {
	backoff := 50 * time.Millisecond
	for {
		m.claimMu.Lock()
		rec, err := m.store.update(id, fn)
		if err == nil || errors.Is(err, errTransition) || errors.Is(err, ErrNotFound) || m.runCtx.Err() != nil {
			m.claimMu.Unlock()
			if err != nil {
				m.log.Error("recording a job's outcome failed", "job", id, "err", err)
				return nil, err
			}
			return rec, nil
		}
		m.claimMu.Unlock()
		m.log.Error("recording a job's outcome failed; retrying", "job", id, "err", err, "retry_in", backoff)
		select {
		case <-m.runCtx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
