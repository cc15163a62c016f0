//go:build linux

package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/isolate"
	"github.com/audex/audex/internal/testmedia"
	"github.com/audex/audex/jobs"
)

// The hostile-input corpus of reliability.md (rows B1-B14), end to end: each
// input is uploaded to a real loopback server running the in-process
// pipeline, and the test checks the final job status and code, that a failed
// job leaves no file, how long the job took and how far the process's
// resident memory rose while it ran. The library-level checks of the same
// rows (seek callback, codec whitelist) are in extract/hostile_test.go.
//
// Time bounds are the table's, multiplied by budgetSlack: the machine is
// shared and a race-enabled build is several times slower; a real hang runs
// into the job timeout, far beyond them.
const budgetSlack = 4

// countingExtractor is the real pipeline (in this process or in isolate
// processes), counting its calls and applying fixed limits to every job
// (the service has no per-request limits).
type countingExtractor struct {
	inner  jobs.Extractor
	limits extract.Limits
	calls  atomic.Int64
}

func (c *countingExtractor) Extract(ctx context.Context, dst, src string, opts extract.Options) (*extract.Result, error) {
	c.calls.Add(1)
	opts.Limits = c.limits
	return c.inner.Extract(ctx, dst, src, opts)
}

// isolateChildEnv makes the test binary an extraction isolate process.
const isolateChildEnv = "AUDEX_HTTPAPI_ISOLATE_CHILD"

// corpus is a service on the real pipeline with one worker, so each job
// runs alone and the memory it takes can be told apart, for the hostile
// inputs.
type corpus struct {
	*bundle
	ex       *countingExtractor
	isolated bool // extractions run in an isolate process
}

func newCorpus(t *testing.T, limits extract.Limits, isolated bool) *corpus {
	t.Helper()
	c := &corpus{ex: &countingExtractor{inner: jobs.InProcess{}, limits: limits}, isolated: isolated}
	if isolated {
		exe, err := os.Executable()
		require.NoError(t, err)
		pool, err := isolate.NewPool(&isolate.Config{
			Command: exe, Size: 1, Logger: slog.New(slog.DiscardHandler),
			// The race runtime otherwise sleeps a second before an isolate exits.
			Env: []string{isolateChildEnv + "=1", "GORACE=atexit_sleep_ms=0"},
		})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, pool.Close()) })
		c.ex.inner = pool
	}
	c.bundle = newBundle(t, &bundleOpts{workers: 1, extractor: c.ex, realClock: true,
		mutate: func(c *Config) { c.MaxUploadBytes = 64 << 20 }})
	return c
}

// outcome is what became of one hostile upload.
type outcome struct {
	id      string
	status  string // successful or failed
	code    string
	st      map[string]any
	audio   *testmedia.Audio // the downloaded result, decoded
	pcm     string           // SHA-256 of the decoded samples
	elapsed time.Duration    // from accepted to final
	rssPeak int64            // peak resident memory over the pre-job baseline
	rss     bool             // rssPeak was measured
}

// output is the status's metadata.output, nil for a failed job.
func (o *outcome) output() map[string]any {
	out, _ := o.st["metadata"].(map[string]any)["output"].(map[string]any)
	return out
}

// hostile uploads data as filename with full_audio and WAV output (exact
// PCM to compare), waits for the job and collects its outcome. A failed
// job must leave no result and no temporary file.
func (b *corpus) hostile(t *testing.T, data []byte, filename string) *outcome {
	t.Helper()
	// Memory is measured in a plain build only (the race detector's shadow
	// memory grows with every Go allocation, and its GC is slow), and only
	// when the extraction runs in this process.
	measure := !raceEnabled && !b.isolated
	var base int64
	var peak atomic.Int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	if !measure {
		close(sampled)
	} else {
		base = testmedia.RSS()
		go func() {
			defer close(sampled)
			for {
				if r := statmRSS(); r > peak.Load() {
					peak.Store(r)
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
	}
	r := b.submitFile(tokenA, data, filename, map[string]string{"full_audio": "true", "output_format": "wav"}, "")
	accepted := time.Now()
	id := b.jobID(r)
	st := b.waitStatus(tokenA, id)
	o := &outcome{id: id, st: st, elapsed: time.Since(accepted), rss: measure}
	close(stop)
	<-sampled
	o.rssPeak = max(peak.Load()-base, 0)
	o.status, _ = st["status"].(string)
	o.code, _ = st["code"].(string)
	if o.status == statusSuccessful {
		o.audio = b.resultAudio(t, id)
		o.pcm = pcmHash(o.audio)
	} else {
		assert.NotContains(t, st, "url")
		assert.Nil(t, o.output())
		b.requireNoFilesOf(t, id)
	}
	msg := ""
	if o.status == statusFailed {
		msg, _ = st["message"].(string)
	}
	t.Logf("%-28s %-10s %-22s %6.0f ms  RSS +%3d MiB  %s", filename, o.status, o.code,
		float64(o.elapsed.Microseconds())/1000, o.rssPeak>>20, msg)
	return o
}

// resultAudio decodes a succeeded job's result file. (Downloading it
// through its link is covered by the end-to-end tests.)
func (b *bundle) resultAudio(t *testing.T, id string) *testmedia.Audio {
	t.Helper()
	f, j, err := b.m.OpenResult(context.Background(), id)
	require.NoError(t, err)
	f.Close()
	return testmedia.Decode(t, j.Result.Path)
}

// requireNoFilesOf waits for a final job's input, temporary output and
// result directory to be gone (they are removed just after the outcome is
// committed).
func (b *bundle) requireNoFilesOf(t *testing.T, id string) {
	t.Helper()
	assert.Eventually(t, func() bool {
		left, _ := filepath.Glob(filepath.Join(b.cfg.DataDir, "*", id+"*"))
		tmp, _ := os.ReadDir(filepath.Join(b.cfg.DataDir, "tmp"))
		return len(left) == 0 && len(tmp) == 0
	}, 5*time.Second, 5*time.Millisecond, "job %s left files", id)
}

// within asserts a row's time bound (with slack).
func within(t *testing.T, o *outcome, bound time.Duration) {
	t.Helper()
	assert.Less(t, o.elapsed, budgetSlack*bound, "%s: the table's bound is %v", o.st["metadata"].(map[string]any)["input_name"], bound)
}

// rssBelow asserts a row's memory bound, where it was measured.
func rssBelow(t *testing.T, o *outcome, mib int64) {
	t.Helper()
	if o.rss {
		assert.Less(t, o.rssPeak, mib<<20, "%s: peak RSS growth", o.st["metadata"].(map[string]any)["input_name"])
	}
}

func pcmHash(a *testmedia.Audio) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d/%d/", a.Rate, a.Channels)
	buf := make([]byte, 4)
	for _, s := range a.Samples {
		binary.LittleEndian.PutUint32(buf, math.Float32bits(s))
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// flipBytes returns a copy of b with about 1 byte in 100 after offset from
// changed, reproducibly.
func flipBytes(b []byte, from int, seed uint64) []byte {
	c := bytes.Clone(b)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := from; i < len(c); i++ {
		if r.IntN(100) == 0 {
			c[i] ^= byte(1 + r.IntN(255))
		}
	}
	return c
}

// flipPayloads returns a copy of b with about 1 byte in 100 inside the
// given packet ranges changed, reproducibly. The first 4 bytes of each
// packet are kept: an MP3 frame header or an Opus TOC byte is framing, and
// a broken one loses the frame before any decoder sees it.
func flipPayloads(b []byte, ranges [][2]int64, seed uint64) []byte {
	c := bytes.Clone(b)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for _, rg := range ranges {
		for i := rg[0] + 4; i < rg[1]; i++ {
			if r.IntN(100) == 0 {
				c[i] ^= byte(1 + r.IntN(255))
			}
		}
	}
	return c
}

// patchDurations overwrites the 32-bit duration of every version-0 mvhd/mdhd box.
func patchDurations(b []byte, dur uint32) []byte {
	c := bytes.Clone(b)
	n := 0
	for _, box := range []string{"mvhd", "mdhd"} {
		for i := 0; ; {
			j := bytes.Index(c[i:], []byte(box))
			if j < 0 {
				break
			}
			at := i + j + 4 // version, flags, created, modified, timescale, duration
			if c[at] == 0 && at+20 <= len(c) {
				binary.BigEndian.PutUint32(c[at+16:], dur)
				n++
			}
			i = at
		}
	}
	if n == 0 {
		panic("no mvhd/mdhd box")
	}
	return c
}

// TestHostileInputsEndToEnd runs the corpus on the in-process pipeline.
// It is not parallel: it measures the process's memory per job.
func TestHostileInputsEndToEnd(t *testing.T) {
	testmedia.StableMalloc()
	hostileCorpus(t, false)
}

// TestHostileInputsIsolated runs the corpus with the extractions in an
// isolate process, the server's default: the same outcomes.
func TestHostileInputsIsolated(t *testing.T) {
	t.Parallel()
	hostileCorpus(t, true)
}

func hostileCorpus(t *testing.T, isolated bool) {
	b := newCorpus(t, extract.Limits{}, isolated)
	ex := b.ex
	fsPath := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4, Extra: []string{"-movflags", "+faststart"}})
	faststart := readFixture(t, fsPath)
	moovAtEnd := readFixture(t, testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4}))

	t.Run("B1a empty part is refused at submit", func(t *testing.T) {
		start := time.Now()
		r := b.submitFile(tokenA, []byte{}, "x.mp4", nil, "")
		elapsed := time.Since(start)
		assert.Equal(t, 400, r.StatusCode)
		assert.Equal(t, "empty_input", r.json(t)["code"])
		assert.Less(t, elapsed, budgetSlack*100*time.Millisecond)
		assert.Zero(t, b.jobCount(), "no job")
		assert.Empty(t, b.uploads(), "no upload file")
		assert.Zero(t, ex.calls.Load(), "FFmpeg never called")
	})

	t.Run("B1b random bytes", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		data := make([]byte, 1<<20)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		o := b.hostile(t, data, "x.mp4")
		assert.Equal(t, jobs.CodeUnrecognizedFormat, o.code)
		within(t, o, 2*time.Second)
		rssBelow(t, o, 50)
	})

	t.Run("B2 truncated faststart", func(t *testing.T) {
		for _, frac := range []float64{0.1, 0.5, 0.9} {
			cut := faststart[:int(float64(len(faststart))*frac)]
			first := b.hostile(t, cut, fmt.Sprintf("cut%02.0f.mp4", frac*100))
			if first.status == statusSuccessful {
				assert.LessOrEqual(t, first.audio.Seconds(), 4*frac+0.1, "no more audio than the file holds")
				assert.LessOrEqual(t, first.output()["duration"], 4*frac+0.1)
			} else {
				assert.Contains(t, []string{jobs.CodeInvalidInput, jobs.CodeNoAudio}, first.code)
			}
			within(t, first, 5*time.Second)
			again := b.hostile(t, cut, fmt.Sprintf("cut%02.0f-again.mp4", frac*100))
			assert.Equal(t, first.status+first.code+first.pcm, again.status+again.code+again.pcm, "the same outcome every run")
		}
	})

	t.Run("B3 index at the end", func(t *testing.T) {
		fs := b.hostile(t, faststart, "faststart.mp4")
		end := b.hostile(t, moovAtEnd, "moov-at-end.mp4")
		require.Equal(t, statusSuccessful, fs.status)
		require.Equal(t, statusSuccessful, end.status)
		assert.Equal(t, fs.pcm, end.pcm, "identical PCM")
		moov := bytes.LastIndex(moovAtEnd, []byte("moov"))
		require.Positive(t, moov)
		cut := b.hostile(t, moovAtEnd[:moov+64], "moov-cut.mp4")
		assert.Equal(t, jobs.CodeInvalidInput, cut.code)
		within(t, cut, 2*time.Second)
	})

	t.Run("B4 video only", func(t *testing.T) {
		o := b.hostile(t, readFixture(t, testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true})), "video-only.mp4")
		assert.Equal(t, jobs.CodeNoAudio, o.code)
		within(t, o, 2*time.Second)
		if !isolated {
			// The build has no video decoder, and nothing in this process
			// (workers run elsewhere) ever asks for one.
			assert.Zero(t, testmedia.VideoDecoders(), "video decoders linked")
			opens := testmedia.CountDecoderOpens()
			assert.Zero(t, opens.Video+opens.VideoRefused, "video decoder openings asked for")
		}
	})

	t.Run("B5 mismatched extensions", func(t *testing.T) {
		wav := readFixture(t, testmedia.Make(t, "b5.wav", "-f", "lavfi", "-i", "sine=d=1:r=44100"))
		mkv := readFixture(t, testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 1, AudioCodec: "flac"}))
		for _, c := range []struct {
			data       []byte
			right, dis string
		}{{wav, "a.wav", "a.mp4"}, {mkv, "a.mkv", "a.mov"}} {
			right, dis := b.hostile(t, c.data, c.right), b.hostile(t, c.data, c.dis)
			require.Equal(t, statusSuccessful, dis.status, "content probing wins over the name")
			assert.Equal(t, right.pcm, dis.pcm)
		}
		o := b.hostile(t, []byte(strings.Repeat("just some text, not a video\n", 40)), "text.mp4")
		assert.Equal(t, jobs.CodeUnrecognizedFormat, o.code)
	})

	t.Run("B6 nested opens", func(t *testing.T) {
		testB6(t, b)
	})

	t.Run("B7 huge claimed sizes", func(t *testing.T) {
		pcm := make([]byte, 44100*2) // 1 s of mono silence
		o := b.hostile(t, append(testmedia.WAVHeader(44100, 1, 0xFFFFFFFF), pcm...), "huge.wav")
		require.Equal(t, statusSuccessful, o.status, o.code)
		assert.Equal(t, 44100, o.audio.Frames(), "the audio actually present")
		within(t, o, 2*time.Second)
		rssBelow(t, o, 100)

		o = b.hostile(t, patchDurations(faststart, 0xFFFFFFF0), "long-claimed.mp4")
		require.Equal(t, statusSuccessful, o.status, o.code)
		assert.InDelta(t, 4.0, o.audio.Seconds(), 0.05, "the audio actually present")
		within(t, o, 2*time.Second)
		rssBelow(t, o, 100)
	})

	t.Run("B8 absurd audio parameters", func(t *testing.T) {
		pcm := make([]byte, 4096)
		for _, c := range []struct {
			rate, ch uint32
			code     string // "" for success
		}{
			{0, 1, jobs.CodeInvalidInput}, {7, 1, ""}, {384000, 1, ""}, {1<<31 - 1, 1, jobs.CodeUnsupportedInput},
			{44100, 0, jobs.CodeUnsupportedInput}, {44100, 64, ""}, {44100, 1023, jobs.CodeUnsupportedInput},
		} {
			o := b.hostile(t, append(testmedia.WAVHeader(c.rate, c.ch, uint32(len(pcm))), pcm...), fmt.Sprintf("r%d-c%d.wav", c.rate, c.ch))
			assert.Equal(t, c.code, o.code, "rate %d channels %d: %v", c.rate, c.ch, o.st["message"])
			within(t, o, 2*time.Second)
		}
	})

	t.Run("B9 many streams", func(t *testing.T) {
		tracks := func(n int) []string {
			a := []string{"-f", "lavfi", "-i", "sine=d=0.5:r=8000"}
			for range n {
				a = append(a, "-map", "0:a")
			}
			return append(a, "-c:a", "pcm_s16le")
		}
		one := b.hostile(t, readFixture(t, testmedia.Make(t, "s1.mkv", tracks(1)...)), "one-track.mkv")
		many := readFixture(t, testmedia.Make(t, "s100.mkv", tracks(100)...))
		o := b.hostile(t, many, "100-tracks.mkv")
		require.Equal(t, statusSuccessful, o.status, o.code)
		assert.Equal(t, one.pcm, o.pcm, "the same as the single track")
		within(t, o, 3*time.Second)
		// ffmpeg cannot write 1,001 streams; a service whose cap is 50
		// stands in for the 1001-stream case.
		tight := newCorpus(t, extract.Limits{MaxStreams: 50}, isolated)
		o = tight.hostile(t, many, "100-tracks-cap-50.mkv")
		assert.Equal(t, jobs.CodeTooManyStreams, o.code)
	})

	t.Run("B10 decompression bomb", func(t *testing.T) {
		// 120 s of FLAC silence (a few KB) against a 30 s output cap.
		bomb := readFixture(t, testmedia.Make(t, "bomb.flac", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "120"))
		t.Logf("bomb: %d bytes", len(bomb))
		tight := newCorpus(t, extract.Limits{MaxOutputDuration: 30 * time.Second}, isolated)
		o := tight.hostile(t, bomb, "bomb.flac")
		assert.Equal(t, jobs.CodeOutputLimit, o.code)
		rssBelow(t, o, 150)
	})

	t.Run("B11 audio only after the probe window", func(t *testing.T) {
		// 8 MB of video-only MPEG-TS, then a second with audio: the audio
		// PID appears only beyond the 5 MB probe size.
		video := readFixture(t, testmedia.Make(t, "b11-video.ts", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25:duration=12",
			"-c:v", "mpeg4", "-q:v", "1"))
		require.Greater(t, len(video), extract.DefaultProbeSize)
		tail := readFixture(t, testmedia.Video(t, testmedia.Spec{Container: "ts", Seconds: 1}))
		o := b.hostile(t, append(bytes.Clone(video), tail...), "late-audio.ts")
		if o.status == statusFailed {
			assert.Equal(t, jobs.CodeNoAudio, o.code, "the audio stream is declared but not found within the probe limits")
		}
		within(t, o, 5*time.Second)
	})

	t.Run("B12 bad parameters", func(t *testing.T) {
		// Submit-time parameter errors are TestSubmitRejections and
		// FuzzParseJobParams; the run-time case is here.
		r := b.submitFile(tokenA, faststart, "x.mp4", map[string]string{"start_time": "3600"}, "")
		st := b.waitStatus(tokenA, b.jobID(r))
		assert.Equal(t, jobs.CodeStartBeyondEnd, st["code"])
		assert.NotContains(t, st, "url", "never a successful empty file")
	})

	t.Run("B13 corrupted packets", func(t *testing.T) {
		// 1 byte in 100 of the audio packets' payloads is changed (seeded),
		// the container around them is left intact. Each case either fails
		// above the decode-error threshold or succeeds with its errors
		// reported, and every frame it lost counted among them.
		mp3 := testmedia.Make(t, "b13.mp3", "-f", "lavfi", "-i", "aevalsrc="+testmedia.SignalExpr+":s=44100:d=4", "-c:a", "libmp3lame")
		webm := testmedia.Video(t, testmedia.Spec{Container: "webm", Seconds: 4})
		for i, c := range []struct {
			name    string
			path    string
			frame   float64 // seconds per coded frame
			detects bool    // the decoder notices corruption (Opus has no check to fail)
		}{{"aac.mp4", fsPath, 1024.0 / 48000, true}, {"mp3.mp3", mp3, 1152.0 / 44100, true}, {"opus.webm", webm, 960.0 / 48000, false}} {
			clean := b.hostile(t, readFixture(t, c.path), "clean-"+c.name)
			require.Equal(t, statusSuccessful, clean.status)
			ranges, err := testmedia.AudioPackets(c.path)
			require.NoError(t, err)
			o := b.hostile(t, flipPayloads(readFixture(t, c.path), ranges, uint64(10+i)), "flipped-"+c.name)
			within(t, o, 5*time.Second)
			if o.status == statusFailed {
				assert.Equal(t, jobs.CodeInvalidInput, o.code, "%s: above the decode-error threshold: %v", c.name, o.st["message"])
				continue
			}
			errs, _ := o.output()["decode_errors"].(float64)
			if c.detects {
				assert.Positive(t, errs, "%s: decode errors reported", c.name)
			}
			got, want := o.audio.Seconds(), clean.audio.Seconds()
			t.Logf("%s: %.3f s of %.3f s (%+.1f%%) with %.0f decode errors in %d packets", c.name, got, want, 100*(got-want)/want, errs, len(ranges))
			assert.InDelta(t, want, got, 0.05*want, "%s: duration within 5%% of the clean file", c.name)
			assert.LessOrEqual(t, got, want+c.frame, "%s: no more audio than the clean file", c.name)
			assert.GreaterOrEqual(t, got, want-(errs+1)*c.frame, "%s: every lost frame is a reported decode error", c.name)
		}
		// Flipping bytes anywhere also hits the framing: what is read
		// before the damage (or around it) is kept, or the job fails typed.
		for i, c := range []struct{ name, path string }{{"mp3.mp3", mp3}, {"opus.webm", webm}} {
			o := b.hostile(t, flipBytes(readFixture(t, c.path), 4096, uint64(20+i)), "flipped-anywhere-"+c.name)
			within(t, o, 5*time.Second)
			if o.status == statusFailed {
				assert.Contains(t, []string{jobs.CodeInvalidInput, jobs.CodeNoAudio}, o.code)
			} else {
				assert.LessOrEqual(t, o.audio.Seconds(), 4.0+0.03)
				t.Logf("%s flipped anywhere: %.3f s of 4 s kept", c.name, o.audio.Seconds())
			}
		}
	})

	t.Run("B14 encrypted", func(t *testing.T) {
		enc := readFixture(t, testmedia.Make(t, "cenc.mp4", "-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac",
			"-encryption_scheme", "cenc-aes-ctr", "-encryption_key", "76a6c65c5ea762046bd749a2e632ccbb",
			"-encryption_kid", "a7e61c373e219033c21091fa607bf3b8"))
		o := b.hostile(t, enc, "cenc.mp4")
		assert.Equal(t, jobs.CodeEncrypted, o.code)
		within(t, o, 2*time.Second)
	})

	assert.Empty(t, b.uploads(), "no upload file left")
}

// testB6 submits playlists, concat scripts and session descriptions that
// point at a sentinel file and a loopback listener: the jobs must fail,
// the listener see no connection, and the sentinel never be opened
// (watched with inotify).
func testB6(t *testing.T, b *corpus) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	})
	defer func() {
		ln.Close()
		wg.Wait()
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	addr := ln.Addr().String()

	sentinel := filepath.Join(t.TempDir(), "secret.wav")
	require.NoError(t, os.WriteFile(sentinel, readFixture(t, testmedia.Make(t, "b6.wav", "-f", "lavfi", "-i", "sine=d=1")), 0o644))
	watch := newOpenWatch(t, sentinel)

	for name, body := range map[string]string{
		"hls.mp4": "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n" +
			"#EXTINF:10,\nfile://" + sentinel + "\n#EXTINF:10,\n" + sentinel + "\n" +
			"#EXTINF:10,\nhttp://" + addr + "/x.ts\n#EXT-X-ENDLIST\n",
		"hls-http-only.ts": "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://" + addr + "/seg.ts\n#EXT-X-ENDLIST\n",
		"master.m3u8.mp4":  "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://" + addr + "/v.m3u8\n",
		"concat.mp4":       "ffconcat version 1.0\nfile '" + sentinel + "'\nfile 'http://" + addr + "/x.wav'\n",
		"sdp.mp4":          fmt.Sprintf("v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio %d RTP/AVP 0\n", port),
		"url-list.mp4":     "ffconcat version 1.0\nfile 'file:" + sentinel + "'\n",
	} {
		o := b.hostile(t, []byte(body), name)
		assert.Equal(t, statusFailed, o.status, name)
		assert.Contains(t, []string{jobs.CodeUnrecognizedFormat, jobs.CodeUnsupportedInput}, o.code, "%s: %v", name, o.st["message"])
	}
	// An AVI subtitle packet starting with GAB2 makes FFmpeg's AVI demuxer
	// probe and open a nested demuxer on its payload: once a way to smuggle
	// in a playlist. The audio beside it is extracted; the playlist goes
	// nowhere.
	playlist := "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n" + sentinel + "\n#EXTINF:10,\nhttp://" + addr + "/x.ts\n#EXT-X-ENDLIST\n"
	o := b.hostile(t, gab2AVI(playlist), "gab2.avi")
	require.Equal(t, statusSuccessful, o.status, "%s: %v", o.code, o.st["message"])
	assert.Equal(t, 8000, o.audio.Frames(), "the AVI's second of audio")

	assert.Zero(t, conns.Load(), "no connection to the loopback listener")
	assert.Zero(t, watch.opens(), "the sentinel file was never opened")

	// The checks can fail: a real connection and a real open are seen.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c.Close()
	require.Eventually(t, func() bool { return conns.Load() == 1 }, 5*time.Second, time.Millisecond)
	_, err = os.ReadFile(sentinel)
	require.NoError(t, err)
	assert.Equal(t, 1, watch.opens(), "the watch sees an open")
}

// gab2AVI is an AVI holding 1 s of 8 kHz mono PCM and a subtitle stream
// whose first packet is a GAB2 header wrapping sub: the AVI demuxer probes
// such a payload and opens a demuxer on it (CVE-2017-9993 smuggled an HLS
// playlist in this way).
func gab2AVI(sub string) []byte {
	le := binary.LittleEndian
	u16 := func(b []byte, v ...uint16) []byte {
		for _, x := range v {
			b = le.AppendUint16(b, x)
		}
		return b
	}
	u32 := func(b []byte, v ...uint32) []byte {
		for _, x := range v {
			b = le.AppendUint32(b, x)
		}
		return b
	}
	chunk := func(id string, data ...[]byte) []byte {
		body := bytes.Join(data, nil)
		b := u32([]byte(id), uint32(len(body)))
		b = append(b, body...)
		if len(body)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	list := func(kind string, parts ...[]byte) []byte {
		return chunk("LIST", append([][]byte{[]byte(kind)}, parts...)...)
	}
	// AVISTREAMHEADER: type, handler, flags, priority+language, initial
	// frames, scale, rate, start, length, buffer size, quality, sample
	// size, frame rectangle.
	strh := func(typ string, scale, rate, length, sampleSize uint32) []byte {
		return chunk("strh", append(u32([]byte(typ+"\x00\x00\x00\x00"), 0, 0, 0, scale, rate, 0, length, 0, 0xFFFFFFFF, sampleSize), make([]byte, 8)...))
	}
	pcm := make([]byte, 16000)
	for i := range 8000 {
		le.PutUint16(pcm[2*i:], uint16(int16(8000*math.Sin(2*math.Pi*440*float64(i)/8000))))
	}
	// GAB2, NUL, version 2, an empty UTF-16 title, flags, size, payload.
	gab2 := u32(u16([]byte("GAB2\x00"), 2), 0)
	gab2 = append(u32(u16(gab2, 0), uint32(len(sub))), sub...)
	avih := chunk("avih", u32(nil, 0, 16000, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0))
	audio := list("strl", strh("auds", 1, 8000, 8000, 2), chunk("strf", u16(u32(u16(nil, 1, 1), 8000, 16000), 2, 16, 0)))
	text := list("strl", strh("txts", 1, 1000, 1, 0), chunk("strf"))
	movi := list("movi", chunk("01tx", gab2), chunk("00wb", pcm))
	return chunk("RIFF", []byte("AVI "), list("hdrl", avih, audio, text), movi)
}

// openWatch counts opens of one file with inotify.
type openWatch struct {
	t  *testing.T
	fd int
}

func newOpenWatch(t *testing.T, path string) *openWatch {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	_, err = syscall.InotifyAddWatch(fd, path, syscall.IN_OPEN)
	require.NoError(t, err)
	return &openWatch{t: t, fd: fd}
}

// opens drains the events seen since the last call and counts them.
func (w *openWatch) opens() int {
	n := 0
	buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
	for {
		k, err := syscall.Read(w.fd, buf)
		if errors.Is(err, syscall.EAGAIN) {
			return n
		}
		require.NoError(w.t, err)
		for off := 0; off+syscall.SizeofInotifyEvent <= k; {
			// struct inotify_event: wd, mask, cookie, len, name[len].
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			if mask&syscall.IN_OPEN != 0 {
				n++
			}
			off += syscall.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
		}
	}
}
