//go:build !race

package jobs

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// soakJobsEnv sets the number of jobs of TestSoak; make soak runs 2,000.
const soakJobsEnv = "AUDEX_SOAK_JOBS"

// TestSoak is reliability.md L3: sequential jobs through one in-process
// manager, cycling good and bad inputs, after which resident memory must
// have stopped growing (the least-squares slope after warm-up), and
// goroutines, file descriptors and OS threads must be back where they were
// after warm-up. By default it runs a short version with a looser bound
// (the slope of 100 jobs is noisier); make soak runs the full one:
//
//	AUDEX_SOAK_JOBS=2000 internal/ffmpeg/with-env go test -run TestSoak -v ./jobs
//
// It is skipped under -race, whose shadow memory grows by design.
func TestSoak(t *testing.T) {
	// The short run is still warming up (malloc, the store's pages), so it
	// only catches leaks of 25 KB a job and more: a codec context, an IO
	// buffer or a frame per job. The full run's steady state (measured:
	// 0.4-0.5 MiB per 1,000 jobs) holds the table's bound.
	total, warmup, every, bound := 150, 50, 10, 25.0 // bound in MiB per 1,000 jobs
	// Go never retires an OS thread it made for a blocked cgo call, so one
	// burst of load during the short run leaves a few more behind; the full
	// run, measured on a quiet machine, holds the table's ±2.
	threadSlack := 8
	if s := os.Getenv(soakJobsEnv); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, soakJobsEnv)
		require.GreaterOrEqual(t, n, 400, "%s: the full soak needs 200 warm-up jobs and as many to measure", soakJobsEnv)
		total, warmup, every, bound = n, 200, 25, 1.0
		threadSlack = 2
	} else if testing.Short() {
		t.Skip("soak")
	}
	testmedia.StableMalloc()

	aac := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 2})
	faststart := readFixture(t, testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 2, Extra: []string{"-movflags", "+faststart"}}))
	moovAtEnd := readFixture(t, aac)
	fixtures := []struct {
		name  string
		data  []byte
		state State
	}{
		{"aac.mp4", moovAtEnd, StateSucceeded},
		{"opus.mkv", readFixture(t, testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 2, AudioCodec: "libopus"})), StateSucceeded},
		{"opus.webm", readFixture(t, testmedia.Video(t, testmedia.Spec{Container: "webm", Seconds: 2})), StateSucceeded},
		// Cut in the middle: with the index in front the first half plays;
		// with it at the end there is no index at all.
		{"truncated-faststart.mp4", faststart[:len(faststart)/2], StateSucceeded},
		{"truncated.mp4", moovAtEnd[:len(moovAtEnd)/2], StateFailed},
	}
	formats := []extract.Format{extract.MP3, extract.M4A, extract.WAV}

	m, err := New(Config{Dir: t.TempDir(), Workers: 1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	ctx := t.Context()
	job := func(i int) {
		fx := fixtures[i%len(fixtures)]
		j, err := m.SubmitReader(ctx, bytes.NewReader(fx.data), Request{Options: extract.Options{Format: formats[i%len(formats)]}})
		require.NoError(t, err)
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		j, err = m.Wait(wctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, fx.state, j.State, "job %d (%s): %+v", i, fx.name, j.Error)
		// Results are deleted as they would expire, so the data directory
		// and the store stay the same size.
		require.NoError(t, m.Delete(j.ID))
	}

	start := time.Now()
	for i := range warmup {
		job(i)
	}
	g0, fds0, th0 := runtime.NumGoroutine(), testmedia.FDs(), testmedia.Threads()
	var xs, ys []float64
	measured := time.Now()
	for i := warmup; i < total; i++ {
		job(i)
		if (i-warmup)%every == 0 || i == total-1 {
			xs = append(xs, float64(i))
			ys = append(ys, float64(testmedia.RSS()))
			t.Logf("after job %4d: RSS %.2f MiB", i, ys[len(ys)-1]/(1<<20))
		}
	}
	elapsed := time.Since(measured)
	// Let the last job's goroutines (its watchers, the extraction's) end.
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= g0+2 }, 5*time.Second, 10*time.Millisecond,
		"goroutines back to baseline: %d after warm-up, %d now", g0, runtime.NumGoroutine())
	g1, fds1, th1 := runtime.NumGoroutine(), testmedia.FDs(), testmedia.Threads()

	slope := testmedia.Slope(xs, ys) * 1000 / (1 << 20)
	t.Logf("soak: %d jobs (%d warm-up) in %v, %.0f jobs/s after warm-up", total, warmup, time.Since(start).Round(time.Millisecond),
		float64(total-warmup)/elapsed.Seconds())
	t.Logf("soak: RSS %.1f MiB -> %.1f MiB, slope %.3f MiB per 1,000 jobs (bound %.1f)", ys[0]/(1<<20), ys[len(ys)-1]/(1<<20), slope, bound)
	t.Logf("soak: goroutines %d -> %d, fds %d -> %d, threads %d -> %d", g0, g1, fds0, fds1, th0, th1)
	assert.Less(t, slope, bound, "RSS must stop growing")
	assert.LessOrEqual(t, fds1, fds0+2, "file descriptors back to baseline")
	assert.LessOrEqual(t, th1, th0+threadSlack, "threads back to baseline")
	for _, d := range []string{inputsDir, tmpDir, resultsDir} {
		es, err := os.ReadDir(m.dir + "/" + d)
		require.NoError(t, err)
		assert.Empty(t, es, "%s left behind", d)
	}
}

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
