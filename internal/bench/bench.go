// Package bench measures audex's extraction throughput on this machine, side
// by side with the ffmpeg program of the same FFmpeg build: the clip job the
// hosted API runs by default, whole-file real-time factor per output format,
// stream copy, the cost of a cut far into a long file, throughput against
// the number of concurrent workers, and a clip run as a process of the audex
// program per job, as a shell loop runs it (start-up included).
//
// The baseline runs one ffmpeg process per job, as a service shelling out to
// ffmpeg would; both sides get the same input, cut, codec, sample rate,
// channel count and bit rate, and write a file. The ffmpeg 7 program runs
// demuxing, decoding, encoding and muxing on threads of their own, so one of
// its jobs can use more than one core, where audex runs a job on one thread;
// the concurrency rows show what that is worth once every core is busy.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
)

// Config configures a run. FFmpeg or Input must be set.
type Config struct {
	// FFmpeg is the ffmpeg program used for the baseline and to generate
	// fixtures. Empty: no baseline, and Input is required.
	FFmpeg string
	// Audex is the audex program, run as a process per job for the
	// GroupProcess row. Empty: that row is left out.
	Audex string
	// Input is the media file to measure. Empty: fixtures are generated
	// with FFmpeg (a 3-minute H.264/AAC mp4 and a 1-hour one; Quick: one
	// 10-second file) and cached in CacheDir.
	Input string
	// Quick makes a run take seconds: short fixture, short measurements,
	// three output formats, at most two workers.
	Quick bool
	// MaxWorkers is the largest concurrency measured. Defaults to twice the
	// CPU count (Quick: 2).
	MaxWorkers int
	// Budget is how long each side of a row runs in all (and at least
	// MinRuns jobs). Defaults to 3 s (Quick: 100 ms).
	Budget time.Duration
	// MinRuns defaults to 3 (Quick: 1).
	MinRuns int
	// Rounds is how many alternating turns audex and ffmpeg take within
	// each row, so that a change in the machine's load weighs on both
	// alike. Defaults to 3 (Quick: 1).
	Rounds int
	// CacheDir keeps generated fixtures. Defaults to the user cache
	// directory's audex/bench.
	CacheDir string
	// Log receives one line per step. Nil is silent.
	Log io.Writer
}

// Units of Row.Unit.
const (
	JobsPerSecond = "jobs/s"
	Realtime      = "x realtime"
	MsPerJob      = "ms/job"
)

// Row groups.
const (
	GroupClip        = "clip"
	GroupProcess     = "process"
	GroupFull        = "full"
	GroupCopy        = "copy"
	GroupSeek        = "seek"
	GroupConcurrency = "concurrency"
)

// Report is a finished run.
type Report struct {
	Machine Machine `json:"machine"`
	// FFmpeg is the baseline program, empty without one.
	FFmpeg        string `json:"ffmpeg,omitempty"`
	FFmpegVersion string `json:"ffmpeg_version,omitempty"`
	Quick         bool   `json:"quick"`
	// Input and LongInput describe what was measured.
	Input     Media `json:"input"`
	LongInput Media `json:"long_input"`
	Rows      []Row `json:"rows"`
}

// Machine describes where the run happened.
type Machine struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	GoVersion string `json:"go_version"`
}

// Media is one measured input.
type Media struct {
	Path        string        `json:"path"`
	Description string        `json:"description"`
	Duration    time.Duration `json:"duration"`
	Generated   bool          `json:"generated"`
}

// Row is one line of the table.
type Row struct {
	Group string `json:"group"`
	Name  string `json:"name"`
	Unit  string `json:"unit"`
	// Format and Workers say what the row varied, for plots.
	Format  extract.Format `json:"format,omitempty"`
	Workers int            `json:"workers"`
	// Parallelism is the encoders one job may use
	// (extract.Options.Parallelism): 1 for the whole-file rows on one
	// encoder, 0 (GOMAXPROCS) elsewhere.
	Parallelism int      `json:"parallelism,omitempty"`
	Audex       Measure  `json:"audex"`
	FFmpeg      *Measure `json:"ffmpeg,omitempty"`
	// Speedup is how many times faster audex was than ffmpeg (for ms/job
	// rows too); 0 without a baseline.
	Speedup float64 `json:"speedup,omitempty"`
}

// Measure is one side of a row.
type Measure struct {
	Value   float64 `json:"value"`
	Runs    int     `json:"runs"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the CPU time the runs took: the bench process's for
	// audex in-process, the child processes' for ffmpeg and audex run as a
	// process.
	CPUSeconds float64 `json:"cpu_seconds"`
}

// ErrNoFixture: there is neither an input nor an ffmpeg to make one.
var ErrNoFixture = errors.New("no input to measure: give an input file, or an ffmpeg program to generate one")

// ErrFFmpeg wraps a failure of the ffmpeg program (Config.FFmpeg) while it
// generated fixtures or ran a baseline job: often an ffmpeg built without
// an encoder the fixtures need (the 3-minute fixture is H.264 by OpenH264).
var ErrFFmpeg = errors.New("ffmpeg failed")

func (c Config) withDefaults() (Config, error) {
	if c.Input == "" && c.FFmpeg == "" {
		return c, ErrNoFixture
	}
	if c.MaxWorkers <= 0 {
		c.MaxWorkers = 2 * runtime.NumCPU()
		if c.Quick {
			c.MaxWorkers = 2
		}
	}
	if c.Budget <= 0 {
		c.Budget = 3 * time.Second
		if c.Quick {
			c.Budget = 100 * time.Millisecond
		}
	}
	if c.MinRuns <= 0 {
		c.MinRuns = 3
		if c.Quick {
			c.MinRuns = 1
		}
	}
	if c.Rounds <= 0 {
		c.Rounds = 3
		if c.Quick {
			c.Rounds = 1
		}
	}
	if c.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		c.CacheDir = filepath.Join(dir, "audex", "bench")
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c, nil
}

// ClipDuration is the hosted API's default clip length.
const ClipDuration = 2 * time.Second

// Run measures and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	r := &Report{Machine: machine(), FFmpeg: c.FFmpeg, Quick: c.Quick}
	if c.FFmpeg != "" {
		if r.FFmpegVersion, err = ffmpegVersion(ctx, c.FFmpeg); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	if r.Input, r.LongInput, err = c.inputs(ctx); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	work, err := os.MkdirTemp("", "audex-bench-*")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(work)
	b := &runner{c: c, r: r, work: work}
	if err := b.all(ctx); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return r, nil
}

type runner struct {
	c    Config
	r    *Report
	work string
}

// job is one unit of work; worker numbers let parallel jobs write apart.
type job func(ctx context.Context, worker int) error

// spec says what a row's jobs do, for both sides.
type spec struct {
	in       Media
	start    time.Duration
	duration time.Duration // 0: to the end
	format   extract.Format
	copy     bool
	process  bool // run by the audex program, a process per job
	// parallelism is extract.Options.Parallelism (0: GOMAXPROCS).
	parallelism int
}

func (b *runner) all(ctx context.Context) error {
	in, long := b.r.Input, b.r.LongInput
	clipAt := time.Duration(0)
	for _, f := range []extract.Format{extract.WAV, extract.MP3} {
		s := spec{in: in, start: clipAt, duration: ClipDuration, format: f}
		if err := b.row(ctx, GroupClip, fmt.Sprintf("%s clip -> %s", secs(ClipDuration), f), JobsPerSecond, s, 1); err != nil {
			return err
		}
	}
	if b.c.Audex != "" {
		s := spec{in: in, start: clipAt, duration: ClipDuration, format: extract.WAV, process: true}
		name := fmt.Sprintf("%s clip -> %s, a process per job", secs(ClipDuration), extract.WAV)
		if err := b.row(ctx, GroupProcess, name, MsPerJob, s, 1); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(b.c.Log, "bench: skipping the process-per-job row: no audex program\n")
	}
	formats := extract.Formats()
	if b.c.Quick {
		formats = []extract.Format{extract.WAV, extract.MP3, extract.M4A}
	}
	for _, f := range formats {
		s := spec{in: in, format: f}
		if err := b.row(ctx, GroupFull, "whole file -> "+string(f), Realtime, s, 1); err != nil {
			return err
		}
	}
	// Long outputs are encoded in segments on GOMAXPROCS encoders (the
	// rows above); these are the same jobs on one encoder, for the
	// speed-up and the CPU time that costs.
	for _, f := range []extract.Format{extract.MP3, extract.M4A} {
		s := spec{in: in, format: f, parallelism: 1}
		if err := b.row(ctx, GroupFull, "whole file -> "+string(f)+", one encoder", Realtime, s, 1); err != nil {
			return err
		}
	}
	if f, ok := copyFormat(ctx, in.Path); ok {
		s := spec{in: in, format: f, copy: true}
		if err := b.row(ctx, GroupCopy, "stream copy -> "+string(f), Realtime, s, 1); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(b.c.Log, "bench: skipping stream copy: no output format holds %s's audio codec\n", in.Path)
	}
	far := seekPoint(long.Duration)
	for _, at := range []time.Duration{0, far} {
		s := spec{in: long, start: at, duration: ClipDuration, format: extract.MP3}
		name := fmt.Sprintf("%s clip at %s -> mp3", secs(ClipDuration), clock(at))
		if err := b.row(ctx, GroupSeek, name, MsPerJob, s, 1); err != nil {
			return err
		}
	}
	for w := 1; w <= b.c.MaxWorkers; w++ {
		s := spec{in: in, start: clipAt, duration: ClipDuration, format: extract.MP3}
		name := fmt.Sprintf("%s clip -> mp3, %d workers", secs(ClipDuration), w)
		if w == 1 {
			name = fmt.Sprintf("%s clip -> mp3, 1 worker", secs(ClipDuration))
		}
		if err := b.row(ctx, GroupConcurrency, name, JobsPerSecond, s, w); err != nil {
			return err
		}
	}
	return nil
}

// seekPoint is where the "far" clip starts: the last whole minute but one
// of a long file (59:00 of an hour), or 3 s before the end of a short one.
func seekPoint(d time.Duration) time.Duration {
	if d >= 2*time.Minute {
		return (d - time.Minute).Truncate(time.Minute)
	}
	return max(0, d-ClipDuration-time.Second).Truncate(100 * time.Millisecond)
}

// row measures s on audex and, with a baseline, on ffmpeg, and appends it.
// The two sides take turns in Rounds short rounds, so that a change in the
// machine's load during the row weighs on both alike.
func (b *runner) row(ctx context.Context, group, name, unit string, s spec, workers int) error {
	fmt.Fprintf(b.c.Log, "bench: %s\n", name)
	ajob, params, err := b.audexJob(ctx, s)
	if err != nil {
		return fmt.Errorf("%s: audex: %w", name, err)
	}
	sides := []job{ajob}
	if b.c.FFmpeg != "" {
		fjob := b.ffmpegJob(s, params)
		if err := fjob(ctx, 0); err != nil { // warm-up, and a clear error
			return fmt.Errorf("%s: ffmpeg: %w", name, err)
		}
		sides = append(sides, fjob)
	}
	totals := make([]Measure, len(sides))
	minRuns := (b.c.MinRuns + b.c.Rounds - 1) / b.c.Rounds
	for range b.c.Rounds {
		for i, j := range sides {
			runs, elapsed, cpu, err := b.measure(ctx, j, workers, b.c.Budget/time.Duration(b.c.Rounds), minRuns)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", name, []string{"audex", "ffmpeg"}[i], err)
			}
			totals[i].Runs += runs
			totals[i].Seconds += elapsed.Seconds()
			totals[i].CPUSeconds += cpu.Seconds()
		}
	}
	media := params.Duration.Seconds()
	for i := range totals {
		m := &totals[i]
		n := float64(m.Runs)
		switch unit {
		case JobsPerSecond:
			m.Value = n / m.Seconds
		case Realtime:
			m.Value = n * media / m.Seconds
		case MsPerJob:
			m.Value = m.Seconds * 1000 * float64(workers) / n
		}
	}
	row := Row{Group: group, Name: name, Unit: unit, Workers: workers, Parallelism: s.parallelism, Audex: totals[0]}
	if group != GroupSeek && group != GroupConcurrency && s.parallelism == 0 {
		row.Format = s.format
	}
	if len(totals) > 1 {
		row.FFmpeg = &totals[1]
		row.Speedup = row.Audex.Value / row.FFmpeg.Value
		if unit == MsPerJob {
			row.Speedup = row.FFmpeg.Value / row.Audex.Value
		}
	}
	b.r.Rows = append(b.r.Rows, row)
	return nil
}

// audexJob runs s once (warm-up, and to learn the output parameters the
// baseline must match) and returns the job.
func (b *runner) audexJob(ctx context.Context, s spec) (job, *extract.Result, error) {
	opts := extract.Options{Format: s.format, Start: s.start, Duration: s.duration, Copy: extract.CopyNever, Parallelism: s.parallelism}
	if s.copy {
		opts.Copy = extract.CopyAlways
	}
	out := func(w int) string { return filepath.Join(b.work, fmt.Sprintf("audex-%d%s", w, s.format.Extension())) }
	res, err := extract.ExtractFile(ctx, out(0), s.in.Path, &opts)
	if err != nil {
		return nil, nil, err
	}
	if s.process {
		j := b.processJob(s, res)
		if err := j(ctx, 0); err != nil { // warm-up, and a clear error
			return nil, nil, err
		}
		return j, res, nil
	}
	return func(ctx context.Context, w int) error {
		_, err := extract.ExtractFile(ctx, out(w), s.in.Path, &opts)
		return err
	}, res, nil
}

// measure runs j on workers goroutines until budget is spent and at least
// minRuns jobs are done, and returns how many were done in how long, and
// the CPU time this process and its children took meanwhile.
func (b *runner) measure(ctx context.Context, j job, workers int, budget time.Duration, minRuns int) (int, time.Duration, time.Duration, error) {
	var (
		runs     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu0 := cpuTime()
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && (time.Since(start) < budget || runs.Load() < int64(minRuns)) {
				if err := j(ctx, w); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				runs.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	if firstErr != nil {
		return 0, 0, 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, 0, err
	}
	return int(runs.Load()), elapsed, cpu, nil
}

// cpuTime is the CPU time, user and system, of this process and of its
// children that have ended.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	var d time.Duration
	for _, r := range []syscall.Rusage{self, children} {
		d += time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return d
}

func secs(d time.Duration) string { return timefmt.Seconds(d) + " s" }

// clock writes d as M:SS or H:MM:SS.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
