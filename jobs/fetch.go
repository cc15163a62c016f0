package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"
)

// The fetch stage: a URL job's input is downloaded by a small pool of its
// own, while the job is queued (stage fetching), and stored through Blobs;
// only then may a runner claim the job for extraction. A server that
// trickles its bytes thus holds a fetch slot, never an extraction slot,
// and file jobs run past it. A fetch interrupted by a shutdown or a crash
// starts again at the next start: the job is still queued without input.

// needsFetch reports whether r is a URL job whose input is not stored yet.
func (r *record) needsFetch() bool { return r.Request.URL != "" && !r.HaveInput }

// fetcher takes queued URL jobs without input, one at a time, until the
// manager closes.
func (m *Manager) fetcher() {
	defer m.fetchers.Done()
	for {
		select {
		case <-m.fetchCtx.Done():
			return
		default:
		}
		r, ctx, err := m.claimFetch()
		if err != nil {
			m.log.Error("claiming a fetch failed", "err", err)
			select {
			case <-m.fetchCtx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if r == nil {
			select {
			case <-m.fetchCtx.Done():
				return
			case <-m.fetchWake:
			}
			continue
		}
		m.signalFetch() // another URL job may be waiting for another idle fetcher
		m.fetchOne(ctx, r)
	}
}

// claimFetch takes the oldest queued URL job without input that no other
// fetcher has, and registers its fetch (Cancel ends it).
// (fetchMu serializes the claims: only they add to m.fetching.)
func (m *Manager) claimFetch() (*record, context.Context, error) {
	m.fetchMu.Lock()
	defer m.fetchMu.Unlock()
	m.mu.Lock()
	busy := make(map[string]bool, len(m.fetching))
	for id := range m.fetching {
		busy[id] = true
	}
	m.mu.Unlock()
	var r *record
	err := m.use(func() error {
		var err error
		r, err = m.store.nextFetch(func(id string) bool { return busy[id] })
		return storeErr(err)
	})
	if err != nil || r == nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(m.fetchCtx)
	m.mu.Lock()
	m.fetching[r.ID] = cancel
	m.mu.Unlock()
	return r, ctx, nil
}

// signalFetch wakes one idle fetcher.
func (m *Manager) signalFetch() {
	select {
	case m.fetchWake <- struct{}{}:
	default:
	}
}

// fetchOne downloads a job's input, stores it and records it; the job is
// then queued for extraction. A failure fails the job (fetch_failed,
// timeout, input_too_large...); a cancel or a shutdown leaves it as Cancel
// or the next start finds it.
func (m *Manager) fetchOne(ctx context.Context, r *record) {
	id := r.ID
	defer func() {
		m.mu.Lock()
		delete(m.fetching, id)
		m.mu.Unlock()
	}()
	m.log.Info("job fetching", "job", id)
	n, err := m.download(ctx, r)
	if ctx.Err() != nil {
		// Canceled (the record says so) or shut down (fetched again at the
		// next start): nothing of the download is kept.
		m.deleteBlob(inputKey(id))
		return
	}
	now := m.cfg.Now()
	var rec *record
	uerr := m.use(func() error {
		var err2 error
		if err == nil {
			rec, err2 = m.store.update(id, func(rec *record) error { return rec.setInput(n) })
		} else {
			e, ok := errors.AsType[*Error](err)
			if !ok {
				e = &Error{Code: ErrorCode(err), Message: err.Error()}
			}
			rec, err2 = m.store.update(id, func(rec *record) error { return rec.failFetch(now, e, m.retention(rec)) })
		}
		return err2
	})
	if uerr != nil {
		// Canceled or deleted meanwhile, or the store failed: the job
		// stays as the store has it (queued without input is fetched again
		// at the next start).
		m.deleteBlob(inputKey(id))
		if !errors.Is(uerr, errTransition) && !errors.Is(uerr, ErrNotFound) {
			m.log.Error("recording a fetch failed", "job", id, "err", uerr)
		}
		return
	}
	if err != nil {
		m.log.Info("job "+string(rec.State), "job", id, "state", rec.State, "code", rec.Error.Code, "err", rec.Error.Message)
	} else {
		m.log.Info("job fetched", "job", id, "input_bytes", n)
		m.signal()
	}
	m.notify()
}

// download fetches a URL job's input into the blobs and returns its size.
func (m *Manager) download(ctx context.Context, r *record) (n int64, err error) {
	id := r.ID
	defer func() {
		if p := recover(); p != nil {
			m.log.Error("fetch panicked", "job", id, "panic", p, "stack", string(debug.Stack()))
			n, err = 0, &Error{Code: CodeInternal, Message: fmt.Sprintf("panic: %v", p)}
		}
	}()
	limit := m.cfg.fetchTimeout()
	tctx, cancel := context.WithTimeoutCause(ctx, limit, errTimeout)
	defer cancel()
	tmp := m.tmpPath(id, tmpFetch)
	defer os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return 0, fmt.Errorf("jobs: fetch: %w", err)
	}
	n, err = m.cfg.Fetcher.Fetch(tctx, r.Request.URL, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n == 0 {
		err = &Error{Code: CodeInvalidInput, Message: "the fetched input is empty"}
	}
	if err == nil {
		if err = m.blobs.Put(tctx, inputKey(id), tmp); err != nil {
			err = fmt.Errorf("%w: store input: %w", ErrUnavailable, err)
		}
	}
	switch {
	case err == nil, ctx.Err() != nil:
		return n, err
	case errors.Is(context.Cause(tctx), errTimeout):
		return 0, &Error{Code: CodeTimeout, Message: fmt.Sprintf("fetching the input took over %v", limit)}
	case ErrorCode(err) == CodeInternal:
		return 0, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	return 0, err
}
