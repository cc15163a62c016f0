package isolate

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/jobs"
)

// FuzzIsolatedExtract feeds arbitrary bytes to an isolate process as a job's
// input (reliability doc, F-10). Every outcome must be one of: success with
// an output within the limits, or a typed failure (a jobs code other than
// internal) that leaves no output, within the job timeout plus the grace. A
// isolate crash is a finding: FFmpeg or the pipeline crashed on the input.
// Without -fuzz it runs the seeds: the fixtures, cut in half, and non-media.
func FuzzIsolatedExtract(f *testing.F) {
	for _, name := range []string{"audio.mp4", "video.mp4", "clip2s.mp4"} {
		b, err := os.ReadFile(media(f, name))
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte("#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n"))
	const (
		timeout  = 10 * time.Second
		grace    = time.Second
		maxOut   = time.Minute
		maxBytes = 32 << 20
	)
	p := newTestPool(f, Config{Size: 1, JobTimeout: timeout, CancelGrace: grace, MemoryLimit: 768 << 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "in"), filepath.Join(dir, "out.wav")
		require.NoError(t, os.WriteFile(src, data, 0o600))
		start := time.Now()
		res, err := p.Extract(context.Background(), dst, src, extract.Options{
			Limits: extract.Limits{MaxOutputDuration: maxOut, MaxOutputBytes: maxBytes},
		})
		assert.Less(t, time.Since(start), timeout+grace+10*time.Second, "bounded by the job timeout")
		if err != nil {
			require.NotErrorIs(t, err, ErrCrashed, "the isolate crashed on this input")
			assert.NotEqual(t, jobs.CodeInternal, jobs.ErrorCode(err), "untyped error: %v", err)
			_, statErr := os.Stat(dst)
			assert.ErrorIs(t, statErr, os.ErrNotExist, "no output on failure")
			return
		}
		st, err := os.Stat(dst)
		require.NoError(t, err)
		assert.Equal(t, res.Bytes, st.Size())
		assert.LessOrEqual(t, res.Bytes, int64(maxBytes))
		assert.LessOrEqual(t, res.Duration, maxOut)
	})
}
