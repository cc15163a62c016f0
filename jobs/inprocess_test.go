package jobs

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInProcess runs real extractions through the default extractor.
func TestInProcess(t *testing.T) {
	t.Parallel()
	video := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})
	videoOnly := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true})
	junk := filepath.Join(t.TempDir(), "junk.mp4")
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	require.NoError(t, os.WriteFile(junk, b, 0o600))

	var progressed atomic.Bool
	m, err := New(Config{Dir: t.TempDir(), Workers: 2})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()

	good, err := m.SubmitFile(ctx, testmedia.Copy(t, video), Request{
		Options: extract.Options{Format: extract.M4A, Start: time.Second, Duration: 2 * time.Second},
	})
	require.NoError(t, err)
	noAudio, err := m.SubmitFile(ctx, testmedia.Copy(t, videoOnly), Request{})
	require.NoError(t, err)
	bad, err := m.SubmitFile(ctx, junk, Request{})
	require.NoError(t, err)

	go func() {
		for {
			j, err := m.Get(good.ID)
			if err != nil || j.State.Final() {
				return
			}
			if j.State == StateRunning && j.Progress > 0 {
				progressed.Store(true)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	j := waitJob(t, m, good.ID)
	require.Equal(t, StateSucceeded, j.State, "%+v", j.Error)
	assert.Equal(t, extract.M4A, j.Result.Format)
	assert.InDelta(t, 2.0, j.Result.Duration.Seconds(), 0.001)
	require.NotNil(t, j.Result.Extract)
	assert.Equal(t, "aac", j.Result.Extract.Codec)
	assert.Equal(t, j.Result.Extract.Bytes, j.Result.Size)
	audio := testmedia.Decode(t, j.Result.Path)
	assert.InDelta(t, 2.0, audio.Seconds(), 0.03)
	assert.Equal(t, 48000, audio.Rate)
	t.Logf("progress seen while running: %v", progressed.Load())

	j = waitJob(t, m, noAudio.ID)
	require.Equal(t, StateFailed, j.State)
	assert.Equal(t, CodeNoAudio, j.Error.Code)
	j = waitJob(t, m, bad.ID)
	require.Equal(t, StateFailed, j.State)
	assert.Contains(t, []string{CodeUnrecognizedFormat, CodeInvalidInput}, j.Error.Code)

	for _, d := range []string{inputsDir, tmpDir} {
		es, err := os.ReadDir(filepath.Join(m.dir, d))
		require.NoError(t, err)
		assert.Empty(t, es, d)
	}
}
