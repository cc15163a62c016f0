package extract_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// The benchmarks measure audex side by side with the ffmpeg program of the
// same FFmpeg build on the same fixture, in the same run, and report:
//   x_vs_ffmpeg  how many times faster audex is (ffmpeg time / audex time)
//   jobs/s       audex extractions per second
// Run them with `make bench`.

// threeMinutes is a 3-minute 720p H.264 / stereo AAC mp4, a typical upload.
func threeMinutes(b *testing.B) string {
	return testmedia.Video(b, testmedia.Spec{Container: "mp4", Seconds: 180, VideoSize: "1280x720"})
}

// oneHour is a long, cheap-to-make H.264/AAC file for seek costs.
func oneHour(b *testing.B) string {
	return testmedia.Make(b, "hour.mp4",
		"-f", "lavfi", "-i", "testsrc2=size=64x48:rate=5:duration=3600",
		"-f", "lavfi", "-i", "sine=f=440:r=48000:d=3600",
		"-c:v", "libopenh264", "-g", "10", "-b:v", "30k", "-c:a", "aac", "-b:a", "64k")
}

type sideBySide struct {
	ours func(out string) error
	cli  func(out string) []string
	ext  string
}

func (s sideBySide) run(b *testing.B) {
	dir := b.TempDir()
	ff := testmedia.FFmpeg(b)
	out := filepath.Join(dir, "ours"+s.ext)
	if err := s.ours(out); err != nil { // warm-up: page cache, FFmpeg init
		b.Fatal(err)
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := s.ours(out); err != nil {
			b.Fatal(err)
		}
	}
	ours := time.Since(start)
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	oursCPU := cpu(after) - cpu(before)

	var cliCPU time.Duration
	start = time.Now()
	for range b.N {
		cmd := exec.Command(ff, s.cli(filepath.Join(dir, "cli"+s.ext))...)
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, o)
		}
		u := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cliCPU += cpu(*u)
	}
	cli := time.Since(start)
	b.ReportMetric(float64(b.N)/ours.Seconds(), "jobs/s")
	b.ReportMetric(cli.Seconds()/ours.Seconds(), "x_vs_ffmpeg")
	b.ReportMetric(oursCPU.Seconds()/cliCPU.Seconds(), "cpu_vs_ffmpeg")
}

func cpu(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

func ffArgs(in string, start, dur float64, extra ...string) func(string) []string {
	return func(out string) []string {
		a := []string{"-v", "error", "-y", "-nostdin"}
		if start > 0 {
			a = append(a, "-ss", strconv.FormatFloat(start, 'f', -1, 64))
		}
		if dur > 0 {
			a = append(a, "-t", strconv.FormatFloat(dur, 'f', -1, 64))
		}
		a = append(a, "-i", in, "-vn")
		return append(append(a, extra...), out)
	}
}

// BenchmarkClip2s is the hosted API's default job: 2 s from the start of a
// 3-minute H.264/AAC mp4.
func BenchmarkClip2s(b *testing.B) {
	src := threeMinutes(b)
	for _, f := range []extract.Format{extract.WAV, extract.MP3} {
		b.Run(f.String(), func(b *testing.B) {
			sideBySide{
				ext: f.Extension(),
				ours: func(out string) error {
					_, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{Format: f, Duration: 2 * time.Second})
					return err
				},
				cli: ffArgs(src, 0, 2),
			}.run(b)
		})
	}
}

// BenchmarkFull extracts the whole 3-minute track.
func BenchmarkFull(b *testing.B) {
	src := threeMinutes(b)
	for _, f := range []extract.Format{extract.MP3, extract.WAV} {
		b.Run(f.String(), func(b *testing.B) {
			sideBySide{
				ext: f.Extension(),
				ours: func(out string) error {
					_, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{Format: f})
					return err
				},
				cli: ffArgs(src, 0, 0),
			}.run(b)
		})
	}
}

// BenchmarkCopy stream-copies the whole AAC track into m4a.
func BenchmarkCopy(b *testing.B) {
	src := threeMinutes(b)
	sideBySide{
		ext: ".m4a",
		ours: func(out string) error {
			res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{Format: extract.M4A})
			if err == nil && !res.Copied {
				err = fmt.Errorf("not copied")
			}
			return err
		},
		cli: ffArgs(src, 0, 0, "-c:a", "copy"),
	}.run(b)
}

// BenchmarkSeek cuts 2 s at 0:00 and at 59:00 of a one-hour file; the
// at_59m_vs_0 metric is their cost ratio (target: at most 1.1).
func BenchmarkSeek(b *testing.B) {
	src := oneHour(b)
	dir := b.TempDir()
	cut := func(at time.Duration) error {
		_, err := extract.ExtractFile(context.Background(), filepath.Join(dir, "o.wav"), src, &extract.Options{Start: at, Duration: 2 * time.Second})
		return err
	}
	if err := cut(59 * time.Minute); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var early, late time.Duration
	for range b.N {
		s := time.Now()
		if err := cut(0); err != nil {
			b.Fatal(err)
		}
		early += time.Since(s)
		s = time.Now()
		if err := cut(59 * time.Minute); err != nil {
			b.Fatal(err)
		}
		late += time.Since(s)
	}
	b.ReportMetric(late.Seconds()/early.Seconds(), "at_59m_vs_0")
	b.ReportMetric(float64(b.N)/late.Seconds(), "jobs/s_at_59m")
}

// BenchmarkFullParallel extracts the whole 3-minute track to the formats
// whose long outputs are encoded in segments, taking turns run by run:
// audex as configured (Parallelism: GOMAXPROCS, set by -cpu), audex on one
// encoder, and the ffmpeg program. x_vs_ffmpeg and x_vs_one_encoder are
// wall-time ratios, cpu_vs_one_encoder what the segments cost in CPU time
// (pre-roll, and encoders sharing the cores). make bench runs it at the
// machine's GOMAXPROCS; for a sweep:
//
//	internal/ffmpeg/with-env go test -run '^$' -bench FullParallel -benchtime 5x -cpu 1,2,4 ./extract
func BenchmarkFullParallel(b *testing.B) {
	src := threeMinutes(b)
	for _, f := range []extract.Format{extract.M4A, extract.MP3} {
		b.Run(f.String(), func(b *testing.B) {
			dir := b.TempDir()
			ff := testmedia.FFmpeg(b)
			ours := func(parallelism int) (time.Duration, time.Duration) {
				var before, after syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &before)
				start := time.Now()
				_, err := extract.ExtractFile(context.Background(), filepath.Join(dir, "ours"+f.Extension()), src,
					&extract.Options{Format: f, Parallelism: parallelism, Copy: extract.CopyNever})
				wall := time.Since(start)
				syscall.Getrusage(syscall.RUSAGE_SELF, &after)
				if err != nil {
					b.Fatal(err)
				}
				return wall, cpu(after) - cpu(before)
			}
			cli := func() time.Duration {
				cmd := exec.Command(ff, ffArgs(src, 0, 0)(filepath.Join(dir, "cli"+f.Extension()))...)
				start := time.Now()
				if o, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("ffmpeg: %v\n%s", err, o)
				}
				return time.Since(start)
			}
			ours(0) // warm-up
			b.ResetTimer()
			var wallPar, cpuPar, wallOne, cpuOne, wallCLI time.Duration
			for range b.N {
				w, c := ours(0)
				wallPar, cpuPar = wallPar+w, cpuPar+c
				w, c = ours(1)
				wallOne, cpuOne = wallOne+w, cpuOne+c
				wallCLI += cli()
			}
			b.StopTimer()
			b.ReportMetric(wallCLI.Seconds()/wallPar.Seconds(), "x_vs_ffmpeg")
			b.ReportMetric(wallOne.Seconds()/wallPar.Seconds(), "x_vs_one_encoder")
			b.ReportMetric(cpuPar.Seconds()/cpuOne.Seconds(), "cpu_vs_one_encoder")
			b.ReportMetric(wallPar.Seconds()/float64(b.N), "s/job")
		})
	}
}
