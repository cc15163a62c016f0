package extract

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/asticode/go-astiav"
)

// encodeStage runs the encoder and the muxer on a goroutine of their own, so
// that decoding and resampling the next frames overlaps encoding these, as
// FFmpeg's own command line pipelines a job. Frames cross over as new
// references. Between startEncoder and stopEncoder the encoder, its packet
// and the muxer belong to the stage's goroutine alone; before and after, to
// the caller's.
type encodeStage struct {
	frames chan []*astiav.Frame
	batch  []*astiav.Frame // filled by the sender, handed over when full
	done   chan struct{}
	abort  atomic.Bool

	mu  sync.Mutex
	err error
}

func (s *encodeStage) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *encodeStage) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// frameSink is what the stage hands its frames to: the one encoder
// (continuous) or segments encoded at once (segmenter, segments.go). Both
// end in t.writePacket, on the stage's goroutine.
type frameSink interface {
	// encode takes f (it frees it) and writes the packets ready.
	encode(f *astiav.Frame) error
	// finish flushes and writes the last packets.
	finish() error
	// abort drops what is queued; it returns once every encoder it
	// started has let go.
	abort()
}

// continuous is the one encoder t.enc, fed every frame in order.
type continuous struct{ t *transcoder }

func (c continuous) encode(f *astiav.Frame) error {
	err := c.t.enc.SendFrame(f)
	f.Free()
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return c.t.writePackets()
}

func (c continuous) finish() error {
	if err := c.t.enc.SendFrame(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("flush encoder: %w", err)
	}
	return c.t.writePackets()
}

func (continuous) abort() {}

func (t *transcoder) startEncoder() {
	s := &encodeStage{frames: make(chan []*astiav.Frame, 4), done: make(chan struct{})}
	t.stage = s
	sink := t.frameSink()
	go func() {
		defer close(s.done)
		defer func() {
			if p := recover(); p != nil {
				s.fail(fmt.Errorf("encoder stage panicked: %v\n%s", p, debug.Stack()))
				for b := range s.frames {
					freeAll(b)
				}
				sink.abort()
			}
		}()
		for b := range s.frames {
			for i, f := range b {
				if s.abort.Load() || s.failed() != nil {
					freeAll(b[i:]) // keep draining so the sender never blocks
					break
				}
				if err := sink.encode(f); err != nil {
					s.fail(err)
				}
			}
		}
		if s.abort.Load() || s.failed() != nil {
			sink.abort()
			return
		}
		if err := sink.finish(); err != nil {
			s.fail(err)
		}
	}()
	// On any early return the stage is told to drop what it has and stop,
	// before the encoder and muxer are freed.
	t.defer_(func() { t.stopEncoder(true) })
}

// stageBatch frames cross over together: one hand-over (and one wake-up of
// a waiting goroutine) per batch rather than per frame.
const stageBatch = 16

// send hands the stage a new reference to f.
func (t *transcoder) send(f *astiav.Frame) error {
	s := t.stage
	if err := s.failed(); err != nil {
		return err
	}
	c := f.Clone()
	if c == nil {
		return errors.New("encode: cloning frame failed")
	}
	s.batch = append(s.batch, c)
	if len(s.batch) == stageBatch {
		s.frames <- s.batch
		s.batch = nil
	}
	return nil
}

func freeAll(frames []*astiav.Frame) {
	for _, f := range frames {
		f.Free()
	}
}

// stopEncoder ends the stage: with abort it drops queued frames, otherwise
// it encodes them, flushes the encoder and writes the last packets. It
// returns once the stage's goroutine has let go of the encoder and muxer.
func (t *transcoder) stopEncoder(abort bool) error {
	s := t.stage
	if s == nil {
		return nil
	}
	t.stage = nil
	if abort {
		s.abort.Store(true)
		freeAll(s.batch)
	} else if len(s.batch) > 0 {
		s.frames <- s.batch
	}
	s.batch = nil
	close(s.frames)
	<-s.done
	return s.failed()
}
