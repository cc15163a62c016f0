// Package testmedia makes media fixtures for tests at run time with the
// ffmpeg program of audex's own FFmpeg build, and decodes results back to
// samples with FFmpeg's libraries, independently of the extract package, so
// tests can assert what a standard decoder plays.
package testmedia

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// FFmpeg returns the ffmpeg program to generate fixtures with: $AUDEX_FFMPEG
// (set by internal/ffmpeg/with-env), else ffmpeg on PATH. A test that needs
// fixtures fails without it: CI must never silently skip them.
func FFmpeg(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("AUDEX_FFMPEG"); p != "" {
		return p
	}
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("testmedia: no ffmpeg: run tests through internal/ffmpeg/with-env (make test)")
	}
	return p
}

var mu sync.Mutex

// Make runs `ffmpeg -v error -y ARGS OUT` once per distinct (ffmpeg, args,
// name) and returns OUT, a file named name in a cache shared by the tests
// of this machine (fixtures are deterministic; the cache key includes the
// ffmpeg build). Callers must not modify the file.
func Make(t testing.TB, name string, args ...string) string {
	t.Helper()
	ff := FFmpeg(t)
	h := sha256.New()
	fmt.Fprintln(h, ff, name, strings.Join(args, "\x00"))
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(os.TempDir(), "audex-testmedia")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, key+"-"+name)
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(out); err == nil {
		return out
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.tmp%s", key, os.Getpid(), filepath.Ext(name)))
	cmd := exec.Command(ff, append(append([]string{"-v", "error", "-y", "-nostdin"}, args...), tmp)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		cmdline := strings.Join(args, " ")
		if len(cmdline) > 300 {
			cmdline = cmdline[:300] + "..."
		}
		t.Fatalf("testmedia: ffmpeg %s: %v\n%s", cmdline, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Copy returns a private copy of a fixture that the test may modify or hand
// over (e.g. to a job manager that takes ownership).
func Copy(t testing.TB, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// The time-coded test signal: in second k, two tones whose frequencies depend
// on k, with a GapSeconds silence at the start of every second. Its
// autocorrelation has one sharp peak, so a decoded cut can be placed on the
// source timeline to within a sample by cross-correlation (see Lag).
const GapSeconds = 0.02

// SignalExpr is the aevalsrc expression of Signal.
const SignalExpr = "if(lt(mod(t\\,1)\\,0.02)\\,0\\,0.5*sin(2*PI*(300+40*floor(t))*t)+0.3*sin(2*PI*(1700-60*floor(t))*t))"

// Signal is the test signal's value at time t seconds (t >= 0).
func Signal(t float64) float64 {
	k := math.Floor(t)
	if t-k < GapSeconds {
		return 0
	}
	return 0.5*math.Sin(2*math.Pi*(300+40*k)*t) + 0.3*math.Sin(2*math.Pi*(1700-60*k)*t)
}

// Spec describes a generated video fixture.
type Spec struct {
	// Container is the file extension: mp4, mov, mkv, webm, flv, avi, 3gp,
	// ts, or, audio only, ogg (Vorbis) and opus (Opus in Ogg).
	Container string
	// Seconds of media. Defaults to 4.
	Seconds float64
	// Audio codec (ffmpeg encoder name). Defaults to the container's usual one.
	AudioCodec string
	// Rate and Channels of the audio. Default 48000 and 2 (3gp: 8000, 1).
	Rate, Channels int
	// Signal: "timecode" (Signal, the default) or "sine".
	Signal string
	// NoVideo leaves the video stream out; NoAudio the audio stream.
	NoVideo, NoAudio bool
	// AudioDelay makes the audio start this many seconds after the video.
	AudioDelay float64
	// VideoSize is the picture size, e.g. "1280x720". Defaults to 320x240
	// (176x144 for 3gp).
	VideoSize string
	// Extra ffmpeg output options, appended last.
	Extra []string
}

// Video makes a fixture per spec and returns its path.
func Video(t testing.TB, s Spec) string {
	t.Helper()
	if s.Seconds == 0 {
		s.Seconds = 4
	}
	vcodec, acodec := "libopenh264", "aac"
	rate, ch := 48000, 2
	switch s.Container {
	case "mp4", "mov", "mkv":
	case "webm":
		vcodec, acodec = "libvpx", "libopus"
	case "flv":
		vcodec, acodec, rate = "flv", "aac", 44100
	case "avi":
		vcodec, acodec = "mpeg4", "libmp3lame"
	case "3gp":
		vcodec, acodec, rate, ch = "h263", "libopencore_amrnb", 8000, 1
	case "ts":
		vcodec, acodec = "libopenh264", "mp2"
	case "ogg", "opus": // audio only
		vcodec, acodec = "", "libvorbis"
		if s.Container == "opus" {
			acodec = "libopus"
		}
		s.NoVideo = true
	default:
		t.Fatalf("testmedia: unknown container %q", s.Container)
	}
	if s.AudioCodec != "" {
		acodec = s.AudioCodec
	}
	if s.Rate != 0 {
		rate = s.Rate
	}
	if s.Channels != 0 {
		ch = s.Channels
	}
	size := "320x240"
	if s.Container == "3gp" {
		size = "176x144"
	}
	if s.VideoSize != "" {
		size = s.VideoSize
	}
	expr := SignalExpr
	if s.Signal == "sine" {
		expr = "0.5*sin(2*PI*440*t)"
	}
	var args []string
	if !s.NoVideo {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=25:duration=%g", size, s.Seconds))
	}
	if !s.NoAudio {
		chans := strings.TrimSuffix(strings.Repeat(expr+"|", ch), "|")
		if s.AudioDelay > 0 {
			args = append(args, "-itsoffset", fmt.Sprint(s.AudioDelay))
		}
		args = append(args, "-f", "lavfi", "-i",
			fmt.Sprintf("aevalsrc=%s:s=%d:d=%g", chans, rate, s.Seconds-s.AudioDelay))
		if ch > 2 {
			args = append(args, "-af", fmt.Sprintf("aformat=channel_layouts=%s", layoutFor(ch)))
		}
	}
	if !s.NoVideo {
		args = append(args, "-c:v", vcodec, "-g", "25")
		if vcodec == "libopenh264" {
			args = append(args, "-b:v", "300k")
			if s.VideoSize != "" {
				args[len(args)-1] = "2M"
			}
		}
	}
	if !s.NoAudio {
		args = append(args, "-c:a", acodec)
		if acodec == "libopencore_amrnb" {
			args = append(args, "-b:a", "12.2k")
		}
	}
	args = append(args, s.Extra...)
	name := fmt.Sprintf("%s-%s-%s-%d-%d-%g-%g.%s", s.Signal, size, acodec, rate, ch, s.Seconds, s.AudioDelay, s.Container)
	return Make(t, name, args...)
}

func layoutFor(ch int) string {
	switch ch {
	case 6:
		return "5.1"
	case 8:
		return "7.1"
	case 4:
		return "quad"
	case 3:
		return "3.0"
	}
	return fmt.Sprintf("%dc", ch)
}
