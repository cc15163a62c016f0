package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/asticode/go-astiav"
)

// FFmpeg's seek "whence" extensions.
const (
	avseekSize  = 0x10000 // return the stream size, do not seek
	avseekForce = 0x20000 // hint: seek even if costly
)

// Reads are small and seek often (an index, then the cut); writes are
// sequential, and each buffer's worth is one cgo callback, one copy and one
// write system call.
const (
	ioBufferSize  = 64 << 10
	outBufferSize = 256 << 10
)

// reader adapts an io.ReadSeeker to FFmpeg's read/seek callbacks, keeping
// both contracts: it never returns 0 bytes to C (that is EOF), holds back an
// io.EOF delivered together with data until the next call, answers the size
// query, maps cancellation to AVERROR_EXIT and never lets a panic cross into C.
type reader struct {
	ctx     context.Context
	r       io.ReadSeeker
	pendEOF bool
	err     error // first non-EOF error, for the caller's message
	size    int64 // -1 until known
}

func newReader(ctx context.Context, r io.ReadSeeker) *reader {
	return &reader{ctx: ctx, r: r, size: -1}
}

func (r *reader) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return astiav.ErrEio
}

func (r *reader) read(b []byte) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, r.fail(fmt.Errorf("panic in read: %v\n%s", p, debug.Stack()))
		}
	}()
	if r.ctx.Err() != nil {
		return 0, astiav.ErrExit
	}
	if r.pendEOF {
		r.pendEOF = false
		return 0, astiav.ErrEof
	}
	// A Reader may return (0, nil); retry a few times before calling it EOF
	// rather than hand C a zero-length read.
	for range 100 {
		n, err = r.r.Read(b)
		if n < 0 || n > len(b) {
			return 0, r.fail(fmt.Errorf("reader returned %d bytes for a %d-byte buffer", n, len(b)))
		}
		if n > 0 {
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.fail(err)
				}
				r.pendEOF = true
			}
			return n, nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, astiav.ErrEof
			}
			return 0, r.fail(err)
		}
	}
	return 0, astiav.ErrEof
}

func (r *reader) seek(offset int64, whence int) (pos int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			pos, err = 0, r.fail(fmt.Errorf("panic in seek: %v\n%s", p, debug.Stack()))
		}
	}()
	if r.ctx.Err() != nil {
		return 0, astiav.ErrExit
	}
	whence &^= avseekForce
	if whence == avseekSize {
		return r.sizeOf()
	}
	switch whence {
	case io.SeekStart, io.SeekCurrent, io.SeekEnd:
	default:
		return 0, astiav.Error(-22) // EINVAL
	}
	if whence == io.SeekStart && offset < 0 {
		return 0, astiav.Error(-22)
	}
	r.pendEOF = false
	pos, err = r.r.Seek(offset, whence)
	if err != nil {
		return 0, astiav.Error(-22)
	}
	return pos, nil
}

func (r *reader) sizeOf() (int64, error) {
	if r.size >= 0 {
		return r.size, nil
	}
	if f, ok := r.r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			r.size = st.Size()
			return r.size, nil
		}
	}
	if s, ok := r.r.(interface{ Size() int64 }); ok {
		if n := s.Size(); n >= 0 {
			r.size = n
			return n, nil
		}
		return 0, astiav.Error(-38) // ENOSYS: not known yet
	}
	cur, err := r.r.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, astiav.Error(-38)
	}
	end, err := r.r.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, astiav.Error(-38)
	}
	if _, err := r.r.Seek(cur, io.SeekStart); err != nil {
		return 0, r.fail(err)
	}
	r.size = end
	return end, nil
}

// spool makes a non-seekable reader seekable by keeping every byte read in
// an anonymous temporary file: backward seeks replay from the file, forward
// seeks (an MP4 index at the end) read ahead through it.
type spool struct {
	src io.Reader
	f   *os.File
	n   int64 // bytes spooled so far
	pos int64
	eof bool
}

func newSpool(src io.Reader, dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "audex-spool-*")
	if err != nil {
		return nil, fmt.Errorf("%w: spool: %w", ErrOutput, err)
	}
	// Unlinked at once: nothing is left behind whatever happens next.
	os.Remove(f.Name())
	return &spool{src: src, f: f}, nil
}

func (s *spool) Close() error { return s.f.Close() }

// fill reads from src until n >= want or src ends.
func (s *spool) fill(want int64) error {
	buf := make([]byte, 64<<10)
	for !s.eof && s.n < want {
		m, err := s.src.Read(buf)
		if m > 0 {
			if _, werr := s.f.WriteAt(buf[:m], s.n); werr != nil {
				return werr
			}
			s.n += int64(m)
		}
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (s *spool) Read(b []byte) (int, error) {
	if s.pos >= s.n {
		if err := s.fill(s.pos + int64(len(b))); err != nil {
			return 0, err
		}
	}
	if s.pos >= s.n {
		return 0, io.EOF
	}
	m, err := s.f.ReadAt(b[:min(int64(len(b)), s.n-s.pos)], s.pos)
	s.pos += int64(m)
	if err == io.EOF {
		err = nil
	}
	return m, err
}

func (s *spool) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = s.pos + offset
	case io.SeekEnd:
		if err := s.fill(1<<62 - 1); err != nil {
			return 0, err
		}
		abs = s.n + offset
	default:
		return 0, errors.New("bad whence")
	}
	if abs < 0 {
		return 0, errors.New("negative position")
	}
	if abs > s.n {
		if err := s.fill(abs); err != nil {
			return 0, err
		}
	}
	s.pos = abs
	return abs, nil
}

// Size is the total size once the source has ended, else -1.
func (s *spool) Size() int64 {
	if s.eof {
		return s.n
	}
	return -1
}

// writer adapts an io.WriteSeeker to FFmpeg's write/seek callbacks, counting
// bytes against the output limit and keeping the Go error (ENOSPC, ...) so
// the caller can wrap it.
type writer struct {
	w     io.WriteSeeker
	pos   int64
	end   int64 // high-water mark = bytes in the output
	limit int64
	err   error
}

var errLimit = errors.New("output byte limit")

func (w *writer) write(b []byte) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, w.fail(fmt.Errorf("panic in write: %v\n%s", p, debug.Stack()))
		}
	}()
	if w.err != nil {
		return 0, astiav.ErrEio
	}
	if w.pos+int64(len(b)) > w.limit {
		return 0, w.fail(errLimit)
	}
	n, err = w.w.Write(b)
	w.pos += int64(n)
	w.end = max(w.end, w.pos)
	if err != nil {
		return 0, w.fail(err)
	}
	return n, nil
}

func (w *writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return astiav.ErrEio
}

func (w *writer) seek(offset int64, whence int) (pos int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			pos, err = 0, w.fail(fmt.Errorf("panic in seek: %v\n%s", p, debug.Stack()))
		}
	}()
	whence &^= avseekForce
	if whence == avseekSize {
		return w.end, nil
	}
	pos, err = w.w.Seek(offset, whence)
	if err != nil {
		return 0, astiav.Error(-22)
	}
	w.pos = pos
	return pos, nil
}
