package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/audex/audex/extract"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecoveryOfPlantedState plants what a dead process leaves behind (jobs
// still marked running, half-written files) and checks what New makes of it.
func TestRecoveryOfPlantedState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{inputsDir, resultsDir, tmpDir} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), dirPerm))
	}
	st, err := openBolt(filepath.Join(dir, storeFile))
	require.NoError(t, err)
	plant := func(input string, state State, crashes int, req Request) *record {
		req.Options.Format = extract.MP3
		r := &record{ID: newID(), CreatedAt: t0.Add(-time.Hour), Request: req, InputBytes: int64(len(input)), HaveInput: req.URL == ""}
		require.NoError(t, st.enqueue(r, 100))
		if input != "" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, inputsDir, r.ID), []byte(input), 0o600))
		}
		r, err := st.update(r.ID, func(r *record) error {
			switch state {
			case StateRunning:
				r.Crashes = crashes
				return r.start(t0.Add(-time.Minute))
			case StateSucceeded:
				if err := r.start(t0.Add(-time.Minute)); err != nil {
					return err
				}
				return r.succeed(t0.Add(-time.Minute), &Output{Size: 5, Format: extract.MP3}, time.Hour)
			}
			return nil
		})
		require.NoError(t, err)
		return r
	}
	queued := plant("ok", StateQueued, 0, Request{})
	once := plant("ok", StateRunning, 0, Request{})
	twice := plant("ok", StateRunning, 1, Request{})
	done := plant("", StateSucceeded, 0, Request{})
	url := plant("", StateQueued, 0, Request{URL: "http://a/ok"})
	require.NoError(t, st.close())

	// Files of the dead process: the finished job's result (kept), a
	// partial result of the job that was running (removed), temp files, an
	// input nobody refers to, a result directory nobody refers to.
	write := func(rel string) string {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), dirPerm))
		require.NoError(t, os.WriteFile(p, []byte("audio"), 0o600))
		return p
	}
	result := write(filepath.Join(resultsDir, done.ID, "audio.mp3"))
	orphans := []string{
		write(filepath.Join(resultsDir, done.ID, "audio.mp3.tmp123")),
		write(filepath.Join(resultsDir, once.ID, "audio.mp3")),
		write(filepath.Join(resultsDir, newID(), "audio.mp3")),
		write(filepath.Join(tmpDir, once.ID+tmpOutput+".mp3")),
		write(filepath.Join(tmpDir, newID()+tmpUpload)),
		write(filepath.Join(inputsDir, newID())),
		write(filepath.Join(inputsDir, done.ID)),
	}
	// A result directory made just before a death, the file not yet in it.
	emptyDir := filepath.Join(dir, resultsDir, newID())
	require.NoError(t, os.MkdirAll(emptyDir, dirPerm))

	fx := newFake()
	fx.open()
	clk := &clock{t: t0}
	m, err := New(Config{Dir: dir, Workers: 1, Extractor: fx, Fetcher: fetcher{"http://a/ok": "ok"}, Now: clk.Now})
	require.NoError(t, err)
	defer m.Close()
	for _, p := range orphans {
		assert.NoFileExists(t, p)
	}
	assert.NoDirExists(t, emptyDir)
	assert.FileExists(t, result)

	j, err := m.Get(twice.ID)
	require.NoError(t, err)
	require.Equal(t, StateFailed, j.State, "running during two deaths")
	assert.Equal(t, CodeWorkerCrashed, j.Error.Code)
	assert.Equal(t, t0, j.FinishedAt)

	for _, id := range []string{queued.ID, once.ID, url.ID} {
		j := waitJob(t, m, id)
		assert.Equal(t, StateSucceeded, j.State)
	}
	j = waitJob(t, m, once.ID)
	assert.Equal(t, 2, j.Attempts)
	j, err = m.Get(done.ID)
	require.NoError(t, err)
	assert.Equal(t, StateSucceeded, j.State)
	assert.Equal(t, t0.Add(-time.Minute+time.Hour), j.ExpiresAt, "expiry survives a restart")
	assert.Zero(t, fx.callsOf(done.ID)+fx.callsOf(twice.ID))
}

func waitJob(t *testing.T, m *Manager, id string) Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	j, err := m.Wait(ctx, id)
	require.NoError(t, err)
	return j
}

// flakyStore fails every write while broken is set.
type flakyStore struct {
	localQueue
	broken atomic.Bool
}

var errDiskGone = errors.New("disk gone")

func (s *flakyStore) enqueue(r *record, max int) error {
	if s.broken.Load() {
		return errDiskGone
	}
	return s.localQueue.enqueue(r, max)
}

func (s *flakyStore) update(id string, fn func(*record) error) (*record, error) {
	if s.broken.Load() {
		return nil, errDiskGone
	}
	return s.localQueue.update(id, fn)
}

func (s *flakyStore) ping() error {
	if s.broken.Load() {
		return errDiskGone
	}
	return s.localQueue.ping()
}

func (s *flakyStore) claim(now time.Time) (*record, error) {
	if s.broken.Load() {
		return nil, errDiskGone
	}
	return s.localQueue.claim(now)
}

// TestStoreUnavailable: while the store cannot be written nothing is
// acknowledged, and work resumes when it comes back.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := setup(t, func(c *Config) { c.Dir = dir; c.Workers = 1 })
	require.NoError(t, b.m.Close())
	for _, d := range []string{inputsDir, resultsDir, tmpDir} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), dirPerm))
	}
	bolt, err := openBolt(filepath.Join(dir, storeFile))
	require.NoError(t, err)
	st := &flakyStore{localQueue: bolt}
	cfg, err := b.cfg.withDefaults()
	require.NoError(t, err)
	m, err := newManager(cfg, dir, st)
	require.NoError(t, err)
	b.m = m

	running := b.submit("block", Request{})
	b.waitStarted(running.ID)
	require.NoError(t, m.Ready())
	st.broken.Store(true)
	require.NoError(t, m.Ready(), "reads work, and no write has failed yet")
	_, err = m.SubmitReader(context.Background(), strings.NewReader("ok"), Request{})
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, CodeUnavailable, ErrorCode(err))
	require.ErrorIs(t, m.Ready(), ErrUnavailable, "a failed write makes the check probe, and fail")
	_, err = m.Stats()
	require.NoError(t, err, "reads still work")
	src := filepath.Join(t.TempDir(), "in.mp4")
	require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
	_, err = m.SubmitFile(context.Background(), src, Request{})
	require.ErrorIs(t, err, ErrUnavailable)
	assert.FileExists(t, src, "the caller keeps a file that was not accepted")
	assert.Equal(t, []string{running.ID}, b.entries(inputsDir))
	assert.Empty(t, b.entries(tmpDir))

	// The running job finishes while the store is down: its outcome is
	// committed once the store is back.
	b.fx.open()
	require.Eventually(t, func() bool { return strings.Contains(b.logs.String(), "retrying") }, 20*time.Second, time.Millisecond)
	j, err := m.Get(running.ID)
	require.NoError(t, err)
	assert.Equal(t, StateRunning, j.State, "an outcome that could not be stored")
	st.broken.Store(false)
	require.NoError(t, m.Ready(), "the probe sees the store back")
	assert.Equal(t, StateSucceeded, b.wait(running.ID).State)
	j, err = m.SubmitFile(context.Background(), src, Request{})
	require.NoError(t, err)
	assert.Equal(t, StateSucceeded, b.wait(j.ID).State)
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return errors.Join(errors.New("context"), err) }
	for err, code := range map[error]string{
		nil:                          "",
		extract.ErrNoAudio:           CodeNoAudio,
		extract.ErrTrackNotFound:     CodeTrackNotFound,
		extract.ErrUnrecognizedInput: CodeUnrecognizedFormat,
		extract.ErrInvalidInput:      CodeInvalidInput,
		extract.ErrUnsupportedInput:  CodeUnsupportedInput,
		wrap(errors.Join(extract.ErrEncrypted, extract.ErrUnsupportedInput)): CodeEncrypted,
		extract.ErrTooManyStreams:                                  CodeTooManyStreams,
		extract.ErrUnsupportedFormat:                               CodeUnsupportedFormat,
		extract.ErrUnsupportedOption:                               CodeUnsupportedOption,
		extract.ErrStartBeyondEnd:                                  CodeStartBeyondEnd,
		extract.ErrOutputLimit:                                     CodeOutputLimit,
		extract.ErrOutputIsInput:                                   CodeOutputIsInput,
		wrap(extract.ErrCanceled):                                  CodeCanceled,
		errors.Join(extract.ErrCanceled, context.DeadlineExceeded): CodeTimeout,
		errors.Join(extract.ErrOutput, syscall.ENOSPC):             CodeStorageFull,
		extract.ErrOutput:                                          CodeInternal,
		ErrWorkerCrashed:                                           CodeWorkerCrashed,
		ErrFetch:                                                   CodeFetchFailed,
		ErrInputTooLarge:                                           CodeInputTooLarge,
		wrap(ErrNotFound):                                          CodeNotFound,
		ErrQueueFull:                                               CodeQueueFull,
		ErrClosed:                                                  CodeClosed,
		ErrInvalidRequest:                                          CodeInvalidRequest,
		ErrExpired:                                                 CodeExpired,
		ErrNotReady:                                                CodeNotReady,
		ErrUnavailable:                                             CodeUnavailable,
		errors.New("something else"):                               CodeInternal,
		wrap(&Error{Code: "custom", Message: "m"}):                 "custom",
	} {
		assert.Equal(t, code, ErrorCode(err), "%v", err)
	}
}

func TestParseState(t *testing.T) {
	t.Parallel()
	for _, s := range states {
		got, err := ParseState(s.String())
		require.NoError(t, err)
		assert.Equal(t, s, got)
		assert.Equal(t, s != StateQueued && s != StateRunning, s.Final())
	}
	_, err := ParseState("Queued")
	require.ErrorIs(t, err, ErrInvalidRequest)
}
