package jobs

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"
)

// A Reservation holds one place in the queue, and room on disk, for a
// submission whose input is still arriving, such as an upload being
// received. While it is held the queue counts as one job fuller for
// everyone else (and the disk as fuller by the input's expected size), so
// when either is full an upload is refused before its body is read rather
// than after it, and no input is stored that could not be queued. It is
// used by one submission, or released.
type Reservation struct {
	m     *Manager
	bytes int64
	mu    sync.Mutex
	held  bool // the place is still counted
	used  bool // a submission took it
}

// Reserve takes a place in the queue for an input of about inputBytes (0
// when unknown). It fails with ErrQueueFull when queued jobs and held
// reservations fill the queue; ErrUnavailable wrapping syscall.ENOSPC when
// the input would leave less than Config.MinFreeBytes free; ErrClosed after
// Shutdown or Close; and ErrUnavailable when the store cannot be read.
func (m *Manager) Reserve(inputBytes int64) (*Reservation, error) {
	if err := m.checkOpen(); err != nil {
		return nil, err
	}
	inputBytes = max(inputBytes, 0)
	if err := m.reserve(inputBytes); err != nil {
		return nil, err
	}
	return &Reservation{m: m, bytes: inputBytes, held: true}, nil
}

// Release gives the place back. It is a no-op once the place was given
// back or a submission made with it returned; call it (deferred) whatever
// happens.
func (r *Reservation) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held {
		r.held = false
		r.m.unreserve(r.bytes)
	}
}

// SubmitFile is Manager.SubmitFile in the reserved place. The place is
// given back when it returns: to the queue on error, to the new job on
// success.
func (r *Reservation) SubmitFile(ctx context.Context, path string, req Request) (Job, error) {
	return r.submit(&req, func() (Job, error) { return r.m.submitFile(ctx, path, req) })
}

// SubmitReader is Manager.SubmitReader in the reserved place.
func (r *Reservation) SubmitReader(ctx context.Context, rd io.Reader, req Request) (Job, error) {
	return r.submit(&req, func() (Job, error) { return r.m.submitReader(ctx, rd, req) })
}

func (r *Reservation) submit(req *Request, fn func() (Job, error)) (Job, error) {
	r.mu.Lock()
	usable := r.held && !r.used
	r.used = true
	r.mu.Unlock()
	if !usable {
		return Job{}, fmt.Errorf("%w: reservation already used or released", ErrInvalidRequest)
	}
	defer r.Release()
	if err := r.m.admit(req, false); err != nil {
		return Job{}, err
	}
	return fn()
}

// reserve counts one more place held, if queued jobs and held places leave
// room in the queue and the input leaves Config.MinFreeBytes free on disk.
// The count of queued jobs is read under the same lock that orders
// unreserve after a job's commit, so a place is never counted free twice:
// at worst a job just stored is counted both queued and reserved for a
// moment. The store's own check when a job is stored stays the last word.
func (m *Manager) reserve(inputBytes int64) error {
	return m.use(func() error {
		m.resMu.Lock()
		defer m.resMu.Unlock()
		n, err := m.store.queued()
		if err != nil {
			return storeErr(err)
		}
		if n+m.reserved >= m.cfg.QueueSize {
			return ErrQueueFull
		}
		if err := m.roomFor(m.reservedBytes + inputBytes); err != nil {
			return err
		}
		m.reserved++
		m.reservedBytes += inputBytes
		return nil
	})
}

func (m *Manager) unreserve(inputBytes int64) {
	m.resMu.Lock()
	m.reserved--
	m.reservedBytes -= inputBytes
	m.resMu.Unlock()
}

// roomFor checks that n more bytes leave Config.MinFreeBytes free in the
// data directory.
func (m *Manager) roomFor(n int64) error {
	if m.cfg.MinFreeBytes < 0 {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.dir, &st); err != nil {
		return fmt.Errorf("%w: data directory: %w", ErrUnavailable, err)
	}
	free := int64(st.Bavail) * st.Bsize
	if free-n < m.cfg.MinFreeBytes {
		return fmt.Errorf("%w: %w: %d MiB free, %d MiB on its way, %d MiB kept free",
			ErrUnavailable, syscall.ENOSPC, free>>20, n>>20, m.cfg.MinFreeBytes>>20)
	}
	return nil
}
