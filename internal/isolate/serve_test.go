package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
)

func TestErrorRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []error{
		fmt.Errorf("extract: open input: %w", extract.ErrNoAudio),
		fmt.Errorf("extract: probe: %w: %w", extract.ErrUnsupportedInput, extract.ErrEncrypted),
		fmt.Errorf("extract: decode: %w: %w", extract.ErrCanceled, context.DeadlineExceeded),
		fmt.Errorf("extract: write: %w: %w", extract.ErrOutput, syscall.ENOSPC),
		fmt.Errorf("extract: open input: %w", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}),
		errors.New("something without a sentinel"),
	}
	for _, k := range errorKinds {
		cases = append(cases, fmt.Errorf("step: %w", k.err))
	}
	for _, orig := range cases {
		b, err := json.Marshal(encodeError(orig))
		require.NoError(t, err)
		var w wireError
		require.NoError(t, json.Unmarshal(b, &w))
		got := w.decode()
		assert.Equal(t, orig.Error(), got.Error())
		for _, k := range errorKinds {
			assert.Equal(t, errors.Is(orig, k.err), errors.Is(got, k.err), "%q: errors.Is %s", orig, k.kind)
		}
	}
}

func TestErrorKindsUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, k := range errorKinds {
		assert.False(t, seen[k.kind], "kind %q twice", k.kind)
		seen[k.kind] = true
	}
	// A kind from a newer isolate is dropped, the message kept.
	got := (&wireError{Kinds: []string{"no_audio", "from_the_future"}, Message: "m"}).decode()
	assert.ErrorIs(t, got, extract.ErrNoAudio)
	assert.EqualError(t, got, "m")
}

// served is an in-process Serve with a fake job, driven over pipes.
type served struct {
	in      *lineWriter
	closeIn func()
	replies chan reply
	errc    chan error
}

func startServe(t *testing.T, fn extractFunc) *served {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &served{in: &lineWriter{w: inW}, closeIn: func() { inW.Close() }, replies: make(chan reply, 1000), errc: make(chan error, 1)}
	go func() {
		err := serve(context.Background(), inR, outW, fn, 0)
		inR.Close()
		outW.Close()
		s.errc <- err
	}()
	go func() {
		sc := newLineScanner(outR)
		for sc.Scan() {
			var m reply
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				s.replies <- m
			}
		}
		close(s.replies)
	}()
	t.Cleanup(func() {
		inW.Close()
		<-s.errc
		for range s.replies {
		}
	})
	m := s.next(t)
	require.Equal(t, msgReady, m.Type)
	require.Equal(t, protocolVersion, m.Version)
	require.Equal(t, os.Getpid(), m.PID)
	return s
}

func (s *served) send(t *testing.T, q request) {
	t.Helper()
	require.NoError(t, s.in.send(q))
}

func (s *served) next(t *testing.T) reply {
	t.Helper()
	select {
	case m, ok := <-s.replies:
		if !ok {
			t.Fatalf("serve's output ended: %v", <-s.errc)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no reply from serve")
		return reply{}
	}
}

func (s *served) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.errc:
		s.errc <- err // for Cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
		return nil
	}
}

// blockUntilCanceled is a job that runs until its context ends.
func blockUntilCanceled(started chan<- struct{}) extractFunc {
	return func(ctx context.Context, _, _ string, _ *extract.Options) (*extract.Result, error) {
		close(started)
		<-ctx.Done()
		return nil, fmt.Errorf("extract: decode: %w: %w", extract.ErrCanceled, ctx.Err())
	}
}

func TestServe(t *testing.T) {
	t.Parallel()

	t.Run("ResultAndProgress", func(t *testing.T) {
		t.Parallel()
		var gotSrc, gotDst string
		var gotOpts extract.Options
		s := startServe(t, func(ctx context.Context, dst, src string, opts *extract.Options) (*extract.Result, error) {
			gotSrc, gotDst, gotOpts = src, dst, *opts
			for i := 1; i <= 3; i++ {
				opts.Progress(extract.Progress{Done: time.Duration(i) * time.Second, Total: 3 * time.Second})
			}
			return &extract.Result{Format: extract.WAV, Duration: 3 * time.Second, Bytes: 42}, nil
		})
		s.send(t, request{Type: msgJob, ID: 7, Src: "/in.mp4", Dst: "/out.wav", Progress: true,
			Options: toWireOptions(extract.Options{Format: extract.WAV, Start: time.Second, Limits: extract.Limits{MaxStreams: 5}})})
		for i := 1; i <= 3; i++ {
			m := s.next(t)
			assert.Equal(t, reply{Type: msgProgress, ID: 7, Done: time.Duration(i) * time.Second, Total: 3 * time.Second}, m)
		}
		m := s.next(t)
		assert.Equal(t, msgDone, m.Type)
		assert.Equal(t, uint64(7), m.ID)
		assert.Nil(t, m.Error)
		require.NotNil(t, m.Result)
		assert.Equal(t, extract.Result{Format: extract.WAV, Duration: 3 * time.Second, Bytes: 42}, *m.Result.result())
		assert.Equal(t, "/in.mp4", gotSrc)
		assert.Equal(t, "/out.wav", gotDst)
		assert.Equal(t, extract.WAV, gotOpts.Format)
		assert.Equal(t, time.Second, gotOpts.Start)
		assert.Equal(t, 5, gotOpts.Limits.MaxStreams)
		s.closeIn()
		assert.NoError(t, s.wait(t))
	})

	t.Run("NoProgressUnlessAsked", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, func(ctx context.Context, _, _ string, opts *extract.Options) (*extract.Result, error) {
			if opts.Progress != nil {
				return nil, errors.New("progress hook set")
			}
			return &extract.Result{}, nil
		})
		s.send(t, request{Type: msgJob, ID: 1})
		m := s.next(t)
		assert.Equal(t, msgDone, m.Type)
		assert.Nil(t, m.Error)
	})

	t.Run("LogRecords", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, func(_ context.Context, _, _ string, opts *extract.Options) (*extract.Result, error) {
			lg := opts.Logger.With("job", "j1").WithGroup("ff")
			lg.Debug("too quiet")
			lg.Warn("moov atom not found", "ctx", "AVFormatContext", slog.Group("at", "pos", 42), "err", errors.New("EOF"))
			return &extract.Result{}, nil
		})
		warn := slog.LevelWarn
		s.send(t, request{Type: msgJob, ID: 4, LogLevel: &warn})
		m := s.next(t)
		assert.Equal(t, msgLog, m.Type)
		assert.Equal(t, uint64(4), m.ID)
		assert.Equal(t, slog.LevelWarn, m.Level)
		assert.Equal(t, "moov atom not found", m.Msg)
		assert.Equal(t, []logAttr{{"job", "j1"}, {"ff.ctx", "AVFormatContext"}, {"ff.at.pos", float64(42)}, {"ff.err", "EOF"}}, m.Attrs)
		assert.Equal(t, msgDone, s.next(t).Type)
	})

	t.Run("ErrorKeepsSentinels", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, func(context.Context, string, string, *extract.Options) (*extract.Result, error) {
			return &extract.Result{Bytes: 1}, fmt.Errorf("extract: select track: %w", extract.ErrNoAudio)
		})
		s.send(t, request{Type: msgJob, ID: 1})
		m := s.next(t)
		assert.Nil(t, m.Result, "no result with an error")
		require.NotNil(t, m.Error)
		assert.ErrorIs(t, m.Error.decode(), extract.ErrNoAudio)
		assert.EqualError(t, m.Error.decode(), "extract: select track: no audio stream")
	})

	t.Run("CancelMessage", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		s := startServe(t, blockUntilCanceled(started))
		s.send(t, request{Type: msgJob, ID: 3})
		<-started
		s.send(t, request{Type: msgCancel, ID: 3})
		m := s.next(t)
		assert.Equal(t, msgDone, m.Type)
		require.NotNil(t, m.Error)
		assert.ErrorIs(t, m.Error.decode(), extract.ErrCanceled)
		assert.ErrorIs(t, m.Error.decode(), context.Canceled)
	})

	t.Run("EOFCancelsAndReturns", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		s := startServe(t, blockUntilCanceled(started))
		s.send(t, request{Type: msgJob, ID: 1})
		<-started
		s.closeIn()
		assert.NoError(t, s.wait(t))
		m := s.next(t)
		require.NotNil(t, m.Error, "the canceled job still reports")
		assert.ErrorIs(t, m.Error.decode(), context.Canceled)
	})

	t.Run("PanicFailsOnlyTheJob", func(t *testing.T) {
		t.Parallel()
		calls := 0
		s := startServe(t, func(context.Context, string, string, *extract.Options) (*extract.Result, error) {
			calls++
			if calls == 1 {
				panic("boom")
			}
			return &extract.Result{Bytes: 1}, nil
		})
		s.send(t, request{Type: msgJob, ID: 1})
		m := s.next(t)
		require.NotNil(t, m.Error)
		assert.Contains(t, m.Error.Message, "panic: boom")
		s.send(t, request{Type: msgJob, ID: 2})
		m = s.next(t)
		assert.Nil(t, m.Error)
		assert.Equal(t, uint64(2), m.ID)
	})

	violations := map[string]func(t *testing.T, s *served){
		"JobWhileBusy": func(t *testing.T, s *served) {
			s.send(t, request{Type: msgJob, ID: 1})
			s.send(t, request{Type: msgJob, ID: 2})
		},
		"UnknownType": func(t *testing.T, s *served) { s.send(t, request{Type: "launch"}) },
		"NotJSON": func(t *testing.T, s *served) {
			_, err := s.in.w.Write([]byte("{\"type\":\n"))
			require.NoError(t, err)
		},
	}
	for name, violate := range violations {
		t.Run("Violation"+name, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{})
			s := startServe(t, blockUntilCanceled(started))
			violate(t, s)
			assert.ErrorIs(t, s.wait(t), errProtocol)
		})
	}
}
