package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/audex/audex/internal/bench"
	"github.com/audex/audex/internal/ffmpeg"
)

var benchCmd = &command{
	name:    "bench",
	args:    "[flags]",
	summary: "measure extraction throughput, side by side with ffmpeg",
	help: `
Measures audex on this machine and prints a table: 2-second clip jobs per
second (the hosted API's default job: 2 s from a 3-minute H.264/AAC mp4, to wav
and mp3), whole-file real-time factor per output format (outputs of 30 s or
more are encoded in segments on GOMAXPROCS encoders; mp3 and m4a are measured
on one encoder too), stream copy, the cost of a clip 59 minutes into a 1-hour
file against one at 0:00, jobs per second for 1..N concurrent workers, and the
2-second wav clip run as one process of this audex program per job, as a shell
loop would (start-up included; --audex names another audex program).

When an ffmpeg program is available every row is also measured with it (one
process per job, same cut, codec and parameters) and the speed-up printed,
with the CPU time per job of either side. It is --ffmpeg, else $AUDEX_FFMPEG,
else the ffmpeg of audex's own pinned FFmpeg build when it is in the cache
(internal/ffmpeg/build.sh --profile tools, which make test builds), else ffmpeg
on PATH; bench says which it uses. Without --input the fixtures are generated
with that ffmpeg once and cached: they need an ffmpeg with the OpenH264 encoder
and the lavfi sources.

A full run takes a few minutes; --quick takes seconds (a 10-second fixture,
short measurements) and is meant for CI: its figures are indicative only,
not for comparing or quoting.

Examples:
  audex bench
  audex bench --quick
  audex bench --input movie.mp4 --workers 8 --plot bench.svg
  audex bench --json > bench.json
`,
}

func init() { benchCmd.run = runBench }

func runBench(ctx context.Context, e *env, args []string) error {
	fs := benchCmd.newFlags()
	cfg := bench.Config{}
	fs.StringVar(&cfg.FFmpeg, "ffmpeg", "", "baseline ffmpeg `PROGRAM` (default $AUDEX_FFMPEG, else audex's pinned build's, else ffmpeg on PATH)")
	fs.StringVar(&cfg.Audex, "audex", "", "audex `PROGRAM` run as a process per job (default: this program)")
	fs.StringVar(&cfg.Input, "input", "", "measure this media `FILE` instead of generated fixtures")
	fs.BoolVar(&cfg.Quick, "quick", false, "a run of seconds, for CI; the figures are indicative only")
	fs.IntVar(&cfg.MaxWorkers, "workers", 0, "measure 1..`N` concurrent workers (default twice the CPU count; --quick: 2)")
	fs.DurationVar(&cfg.Budget, "time", 0, "`DURATION` of each measurement (default 3s; --quick: 100ms)")
	fs.StringVar(&cfg.CacheDir, "cache", "", "`DIR` for generated fixtures (default the user cache directory's audex/bench)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	plotPath := fs.String("plot", "", "also draw throughput vs workers and speed-up per format to `FILE` (.svg)")
	pos, err := benchCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	if cfg.MaxWorkers < 0 || cfg.Budget < 0 {
		return usagef("--workers and --time must not be negative")
	}
	if p := *plotPath; p != "" && !hasExt(p, ".svg") {
		return usagef("--plot %q: want a .svg file (PNG is no longer drawn: convert the SVG, e.g. rsvg-convert)", p)
	}
	if cfg.Audex == "" {
		if exe, err := os.Executable(); err == nil {
			cfg.Audex = exe
		}
	}
	from := baselineFFmpeg(ctx, e, &cfg.FFmpeg)
	if cfg.FFmpeg != "" {
		fmt.Fprintf(e.stderr, "bench: baseline %s (%s)\n", cfg.FFmpeg, from)
	}
	cfg.Log = e.stderr
	rep, err := bench.Run(ctx, cfg)
	if errors.Is(err, bench.ErrAudex) {
		return fmt.Errorf("%w\n(the audex program is %s; choose another with --audex)", err, cfg.Audex)
	}
	if errors.Is(err, bench.ErrFFmpeg) {
		return fmt.Errorf("%w\n(the ffmpeg used is %s, %s; choose another with --ffmpeg)", err, cfg.FFmpeg, from)
	}
	if err != nil {
		return err
	}
	if *plotPath != "" {
		if err := rep.Plot(*plotPath); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if err := rep.WriteTable(e.stdout); err != nil {
		return err
	}
	if cfg.Quick {
		fmt.Fprintln(e.stdout, "Quick mode: short measurements, so these figures are indicative only; run without --quick for figures to compare or quote.")
	}
	return nil
}

// baselineFFmpeg fills in the baseline ffmpeg when --ffmpeg did not name
// one, and says where it came from.
func baselineFFmpeg(ctx context.Context, e *env, path *string) string {
	if *path != "" {
		return "--ffmpeg"
	}
	if *path = e.getenv("AUDEX_FFMPEG"); *path != "" {
		return "$AUDEX_FFMPEG"
	}
	if p, err := ffmpeg.Tool(ctx, "ffmpeg"); err == nil {
		*path = p
		return "audex's pinned FFmpeg build"
	}
	*path, _ = exec.LookPath("ffmpeg")
	return "ffmpeg on PATH"
}
