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
	m    *Manager
	p    *place
	mu   sync.Mutex
	held bool // Release has not run
	used bool // a submission took it
}

// place is one place counted in the queue for a submission whose input is
// still arriving, with the bytes it expects. It stops being counted once:
// given back when the submission fails or is abandoned (unreserve), or
// handed to the job in the step that records it (enqueue). given is guarded
// by Manager.resMu.
type place struct {
	bytes int64
	given bool
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
	p, err := m.reserve(inputBytes)
	if err != nil {
		return nil, err
	}
	return &Reservation{m: m, p: p, held: true}, nil
}

// Release gives the place back. It is a no-op once the place was given
// back or a submission made with it returned; call it (deferred) whatever
// happens.
func (r *Reservation) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held {
		r.held = false
		r.m.unreserve(r.p)
	}
}

// SubmitFile is Manager.SubmitFile in the reserved place. The place is
// given back when it returns: to the queue on error, to the new job on
// success.
func (r *Reservation) SubmitFile(ctx context.Context, path string, req Request) (Job, error) {
	return r.submit(&req, func() (Job, error) { return r.m.submitFile(ctx, path, req, r.p) })
}

// SubmitReader is Manager.SubmitReader in the reserved place.
func (r *Reservation) SubmitReader(ctx context.Context, rd io.Reader, req Request) (Job, error) {
	return r.submit(&req, func() (Job, error) { return r.m.submitReader(ctx, rd, req, r.p) })
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
// The count of queued jobs is read under resMu, under which enqueue also
// records a job and hands it its place: a job is counted once, as held or
// as queued, never both or neither. The store's own check when a job is
// stored stays the last word.
func (m *Manager) reserve(inputBytes int64) (*place, error) {
	err := m.use(func() error {
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
	if err != nil {
		return nil, err
	}
	return &place{bytes: inputBytes}, nil
}

// unreserve gives p back, unless that was done or it was handed to a job.
func (m *Manager) unreserve(p *place) {
	m.resMu.Lock()
	m.give(p)
	m.resMu.Unlock()
}

// give stops counting p; resMu is held.
func (m *Manager) give(p *place) {
	if !p.given {
		p.given = true
		m.reserved--
		m.reservedBytes -= p.bytes
	}
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
