package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
)

// ffmpegJob is s as one ffmpeg process, producing what audex produced (res):
// same cut, codec, rate, channels and, for lossy codecs, bit rate.
func (b *runner) ffmpegJob(s spec, res *extract.Result) job {
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}
	if s.start > 0 {
		args = append(args, "-ss", timefmt.Seconds(s.start))
	}
	if s.duration > 0 {
		args = append(args, "-t", timefmt.Seconds(s.duration))
	}
	args = append(args, "-i", s.in.Path, "-map", fmt.Sprintf("0:%d", res.Input.Index), "-vn", "-sn", "-dn")
	if s.copy {
		args = append(args, "-c:a", "copy")
	} else {
		args = append(args, "-c:a", ffmpegEncoder[s.format],
			"-ar", strconv.Itoa(res.SampleRate), "-ac", strconv.Itoa(res.Channels))
		switch s.format {
		case extract.WAV, extract.FLAC:
		case extract.OGG:
			// audex encodes Vorbis in quality mode (-q 4) unless given a
			// bit rate; its Result then reports the measured rate.
			args = append(args, "-q:a", "4")
		default:
			args = append(args, "-b:a", strconv.FormatInt(res.Bitrate, 10))
		}
	}
	args = append(args, "-f", ffmpegMuxer[s.format])
	return func(ctx context.Context, w int) error {
		out := filepath.Join(b.work, fmt.Sprintf("ffmpeg-%d%s", w, s.format.Extension()))
		cmd := exec.CommandContext(ctx, b.c.FFmpeg, append(args[:len(args):len(args)], out)...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s %s: %w: %s", ErrFFmpeg, b.c.FFmpeg, strings.Join(args, " "), err, bytes.TrimSpace(msg))
		}
		return nil
	}
}

// The encoders and muxers audex uses for each format.
var (
	ffmpegEncoder = map[extract.Format]string{
		extract.MP3: "libmp3lame", extract.WAV: "pcm_s16le", extract.AAC: "aac", extract.M4A: "aac",
		extract.OGG: "libvorbis", extract.FLAC: "flac", extract.WMA: "wmav2", extract.AC3: "ac3",
		extract.AMR: "libopencore_amrnb", extract.OPUS: "libopus",
	}
	ffmpegMuxer = map[extract.Format]string{
		extract.MP3: "mp3", extract.WAV: "wav", extract.AAC: "adts", extract.M4A: "ipod",
		extract.OGG: "ogg", extract.FLAC: "flac", extract.WMA: "asf", extract.AC3: "ac3",
		extract.AMR: "amr", extract.OPUS: "opus",
	}
)

// copyFormat is the output format that can hold the input's audio as is.
func copyFormat(ctx context.Context, path string) (extract.Format, bool) {
	info, err := extract.ProbeFile(ctx, path, nil)
	if err != nil || info.BestTrack == 0 {
		return "", false
	}
	f, ok := map[string]extract.Format{
		"aac": extract.M4A, "mp3": extract.MP3, "flac": extract.FLAC, "vorbis": extract.OGG,
		"ac3": extract.AC3, "wmav2": extract.WMA, "pcm_s16le": extract.WAV, "amr_nb": extract.AMR,
		"opus": extract.OPUS,
	}[info.AudioTracks[info.BestTrack-1].Codec]
	return f, ok
}

func ffmpegVersion(ctx context.Context, ff string) (string, error) {
	out, err := exec.CommandContext(ctx, ff, "-hide_banner", "-version").Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s -version: %w", ErrFFmpeg, ff, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	// "ffmpeg version 7.1.5 Copyright ..." -> "7.1.5"
	if f := strings.Fields(line); len(f) >= 3 && f[1] == "version" {
		return f[2], nil
	}
	return strings.TrimSpace(line), nil
}

// inputs returns the measured media: Input for everything, or generated
// fixtures (a long one for the seek rows).
func (c Config) inputs(ctx context.Context) (Media, Media, error) {
	if c.Input != "" {
		info, err := extract.ProbeFile(ctx, c.Input, nil)
		if err != nil {
			return Media{}, Media{}, err
		}
		m := Media{Path: c.Input, Description: describe(info), Duration: info.Duration}
		return m, m, nil
	}
	if c.Quick {
		m, err := c.fixture(ctx, 10*time.Second, "320x240", "500k")
		return m, m, err
	}
	short, err := c.fixture(ctx, 3*time.Minute, "640x360", "1M")
	if err != nil {
		return Media{}, Media{}, err
	}
	minute, err := c.fixture(ctx, time.Minute, "640x360", "1M")
	if err != nil {
		return Media{}, Media{}, err
	}
	long, err := c.loop(ctx, minute, 60)
	return short, long, err
}

// fixture makes (or finds in the cache) an H.264 + AAC-LC mp4 with a 2 s GOP
// and 48 kHz stereo audio: two tones and a little noise.
func (c Config) fixture(ctx context.Context, d time.Duration, size, vbitrate string) (Media, error) {
	sec := timefmt.Seconds(d)
	args := []string{
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=25:duration=%s", size, sec),
		"-f", "lavfi", "-i", fmt.Sprintf("aevalsrc=0.4*sin(2*PI*440*t)+0.1*(2*random(0)-1)|0.4*sin(2*PI*660*t)+0.1*(2*random(1)-1):s=48000:d=%s", sec),
		"-c:v", "libopenh264", "-b:v", vbitrate, "-g", "50", "-c:a", "aac", "-b:a", "128k",
		"-movflags", "+faststart", "-shortest",
	}
	name := fmt.Sprintf("h264-aac-%s-%s.mp4", size, strings.ReplaceAll(clock(d), ":", "m"))
	path, err := c.cached(ctx, name, args)
	if err != nil {
		return Media{}, err
	}
	return c.media(ctx, path)
}

// loop makes a file of n copies of m back to back, by stream copy.
func (c Config) loop(ctx context.Context, m Media, n int) (Media, error) {
	// The cached file's name is "<hash>-<name>.mp4".
	_, base, _ := strings.Cut(strings.TrimSuffix(filepath.Base(m.Path), ".mp4"), "-")
	name := fmt.Sprintf("%s-x%d.mp4", base, n)
	args := []string{"-stream_loop", strconv.Itoa(n - 1), "-i", m.Path, "-c", "copy", "-movflags", "+faststart"}
	path, err := c.cached(ctx, name, args)
	if err != nil {
		return Media{}, err
	}
	return c.media(ctx, path)
}

func (c Config) media(ctx context.Context, path string) (Media, error) {
	info, err := extract.ProbeFile(ctx, path, nil)
	if err != nil {
		return Media{}, err
	}
	return Media{Path: path, Description: describe(info), Duration: info.Duration, Generated: true}, nil
}

// cached runs `ffmpeg ARGS OUT` unless the cache already has OUT for the same
// ffmpeg and arguments.
func (c Config) cached(ctx context.Context, name string, args []string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, c.FFmpeg, strings.Join(args, "\x00"))
	out := filepath.Join(c.CacheDir, hex.EncodeToString(h.Sum(nil))[:12]+"-"+name)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(c.CacheDir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(c.Log, "bench: generating %s (once; cached in %s)\n", name, c.CacheDir)
	tmp := out + fmt.Sprintf(".%d.tmp.mp4", os.Getpid())
	full := append(append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...), tmp)
	if msg, err := exec.CommandContext(ctx, c.FFmpeg, full...).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("%w: generate %s with %s: %w: %s", ErrFFmpeg, name, c.FFmpeg, err, bytes.TrimSpace(msg))
	}
	return out, os.Rename(tmp, out)
}

// describe is a one-line summary of an input.
func describe(info *extract.Info) string {
	s := fmt.Sprintf("%s, %s", strings.Split(info.Container, ",")[0], clock(info.Duration))
	if info.BestTrack > 0 {
		t := info.AudioTracks[info.BestTrack-1]
		s += fmt.Sprintf(", %s %d Hz %d ch", t.Codec, t.SampleRate, t.Channels)
	}
	return s
}

func machine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// ErrAudex wraps a failure of the audex program (Config.Audex) in the
// process-per-job row.
var ErrAudex = errors.New("audex program failed")

// processJob is s as one process of the audex program, as a shell loop
// runs it: `audex extract IN -o OUT --start .. --duration ..`, with the rate
// and channels the in-process run produced (res), like the baseline.
func (b *runner) processJob(s spec, res *extract.Result) job {
	args := []string{"extract", s.in.Path, "--format", string(s.format),
		"--rate", strconv.Itoa(res.SampleRate), "--channels", strconv.Itoa(res.Channels), "--copy", "never"}
	if s.start > 0 {
		args = append(args, "--start", timefmt.Seconds(s.start))
	}
	if s.duration > 0 {
		args = append(args, "--duration", timefmt.Seconds(s.duration))
	}
	return func(ctx context.Context, w int) error {
		out := filepath.Join(b.work, fmt.Sprintf("audex-proc-%d%s", w, s.format.Extension()))
		cmd := exec.CommandContext(ctx, b.c.Audex, append(args[:len(args):len(args)], "-o", out)...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s %s: %w: %s", ErrAudex, b.c.Audex, strings.Join(args, " "), err, bytes.TrimSpace(msg))
		}
		return nil
	}
}
