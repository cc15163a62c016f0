package extract

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedReader returns a scripted sequence of (n, err) results, including
// the ones the io.Reader contract allows but C must never see: (0, nil),
// short reads, io.EOF together with data, n > len(b), a panic.
type scriptedReader struct {
	script []byte
	i      int
	pos    int64
}

func (s *scriptedReader) Read(b []byte) (int, error) {
	if s.i >= len(s.script) {
		return 0, io.EOF
	}
	op := s.script[s.i]
	s.i++
	n := min(int(op>>3), len(b))
	switch op & 7 {
	case 0:
		return 0, nil
	case 1:
		return n, nil
	case 2:
		return n, io.EOF
	case 3:
		return 0, io.EOF
	case 4:
		return 0, errors.New("disk on fire")
	case 5:
		return len(b) + 1, nil // a broken reader
	case 6:
		panic("reader panicked")
	}
	return n, io.ErrUnexpectedEOF
}

func (s *scriptedReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		s.pos = off
	case io.SeekCurrent:
		s.pos += off
	case io.SeekEnd:
		s.pos = 1000 + off
	}
	if s.pos < 0 {
		return 0, errors.New("negative")
	}
	return s.pos, nil
}

// FuzzIOReadAdapter (reliability F-6): whatever the Go reader does, the
// read callback never returns 0 bytes or more than asked to C, never
// panics into C, and maps cancellation to AVERROR_EXIT.
func FuzzIOReadAdapter(f *testing.F) {
	f.Add([]byte{0, 1 << 3, 2<<3 | 2, 3}, false)
	f.Add([]byte{5, 6, 7, 4}, false)
	f.Add([]byte{1 << 3}, true)
	f.Fuzz(func(t *testing.T, script []byte, cancel bool) {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		if cancel {
			stop()
		}
		rd := newReader(ctx, &scriptedReader{script: script})
		buf := make([]byte, 16)
		for range len(script) + 3 {
			n, err := rd.read(buf)
			if cancel {
				require.ErrorIs(t, err, astiav.ErrExit)
				return
			}
			if err != nil {
				var ae astiav.Error
				require.True(t, errors.As(err, &ae), "errors to C are AVERRORs: %v", err)
				assert.Zero(t, n)
				continue
			}
			assert.Positive(t, n, "never 0 bytes without an error")
			assert.LessOrEqual(t, n, len(buf))
		}
	})
}

// FuzzSeekAdapter (reliability F-7): the seek callback answers FFmpeg's
// size query with the true size, rejects what it cannot do with a negative
// error, and never panics.
func FuzzSeekAdapter(f *testing.F) {
	f.Add(int64(0), 0)
	f.Add(int64(5), 0x10000)
	f.Add(int64(-1), 0x20000)
	f.Add(int64(1<<62), 2)
	f.Add(int64(-100), 1)
	f.Fuzz(func(t *testing.T, off int64, whence int) {
		data := bytes.Repeat([]byte("audex"), 200)
		rd := newReader(context.Background(), bytes.NewReader(data))
		pos, err := rd.seek(off, whence)
		if whence&^avseekForce == avseekSize {
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), pos)
			return
		}
		if err != nil {
			var ae astiav.Error
			require.True(t, errors.As(err, &ae))
			assert.Less(t, int(ae), 0)
			return
		}
		assert.GreaterOrEqual(t, pos, int64(0))
	})
}

func TestSpool(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10000)
	sp, err := newSpool(onlyReaderT{bytes.NewReader(data)}, t.TempDir())
	require.NoError(t, err)
	defer sp.Close()
	assert.Equal(t, int64(-1), sp.Size(), "unknown until the source ends")
	end, err := sp.Seek(-10, io.SeekEnd) // an index at the end
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)-10), end)
	assert.Equal(t, int64(len(data)), sp.Size())
	got := make([]byte, 10)
	_, err = io.ReadFull(sp, got)
	require.NoError(t, err)
	assert.Equal(t, data[len(data)-10:], got)
	_, err = sp.Seek(5, io.SeekStart) // and back
	require.NoError(t, err)
	_, err = io.ReadFull(sp, got)
	require.NoError(t, err)
	assert.Equal(t, data[5:15], got)
}

type onlyReaderT struct{ r io.Reader }

func (o onlyReaderT) Read(b []byte) (int, error) { return o.r.Read(b) }
