package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/httpapi"
	"github.com/audex/audex/internal/timefmt"
)

var probeCmd = &command{
	name:    "probe",
	args:    "INPUT [--json] [--peaks N [--from TIME] [--to TIME] [--track N | --lang LANGUAGE]]",
	summary: "show a file's container, duration and audio tracks",
	help: `
Reads INPUT's container and stream headers (without decoding) and lists its
audio tracks. The TRACK column is what 'audex extract --track' takes; "*"
marks the track extracted by default. INPUT "-" reads standard input.

With --peaks N it also draws the waveform of a track (the best one, or
--track/--lang): the smallest and largest sample of each of N columns of
equal time from --from to --to (default: the whole input), decoding the audio
only. A range longer than a few minutes is sampled, a short window per
column, so a long input costs what a short one does; the output says so.
With --json the columns are "peaks": {"min": [...], "max": [...]}, full scale
being -1 and 1, times in seconds.

Examples:
  audex probe movie.mkv
  audex probe movie.mp4 --json | jq '.audio_tracks[].codec'
  audex probe movie.mp4 --peaks 800 --json | jq '.peaks.max'
  audex probe movie.mp4 --peaks 60 --from 1:00 --to 1:30 --track 2
`,
}

func init() { probeCmd.run = runProbe }

func runProbe(ctx context.Context, e *env, args []string) error {
	fs := probeCmd.newFlags()
	asJSON := fs.Bool("json", false, "print the probe result as JSON (times in seconds)")
	var pf peaksFlags
	pf.register(fs)
	pos, err := probeCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "INPUT"); err != nil {
		return err
	}
	if err := pf.check(); err != nil {
		return err
	}
	in := pos[0]
	var info *extract.Info
	var wave *extract.Waveform
	switch {
	case in == "-" && pf.n.n > 0:
		// Read twice (probe, then peaks): standard input is kept in an
		// unlinked temporary file first.
		var f *os.File
		if f, err = os.CreateTemp("", "audex-stdin-*"); err != nil {
			return fail(in, err)
		}
		os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(f, inputReader(ctx, e.stdin)); err != nil {
			return fail(in, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fail(in, err)
		}
		if info, err = extract.Probe(ctx, f, nil); err != nil {
			return fail(in, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fail(in, err)
		}
		wave, err = extract.Peaks(ctx, f, pf.n.n, pf.options())
	case in == "-":
		info, err = extract.Probe(ctx, inputReader(ctx, e.stdin), nil)
	default:
		if info, err = extract.ProbeFile(ctx, in, nil); err == nil && pf.n.n > 0 {
			wave, err = extract.PeaksFile(ctx, in, pf.n.n, pf.options())
		}
	}
	if err != nil {
		return fail(in, err)
	}
	if *asJSON {
		out := newProbeJSON(info)
		if wave != nil {
			out.Peaks = httpapi.NewPeaks(wave)
		}
		return printJSON(e.stdout, out)
	}
	printInfo(e.stdout, in, info)
	if wave != nil {
		printPeaks(e.stdout, wave)
	}
	return nil
}

// peaksFlags are probe's waveform flags.
type peaksFlags struct {
	n        posInt
	from, to timeValue
	track    posInt
	lang     string
}

func (p *peaksFlags) register(fs *flag.FlagSet) {
	fs.Var(&p.n, "peaks", fmt.Sprintf("also draw the waveform in `N` columns (at most %d)", extract.MaxPeaksColumns))
	fs.Var(&p.from, "from", "the waveform starts at this `TIME` (default 0)")
	fs.Var(&p.to, "to", "the waveform ends at this `TIME` (default: the end)")
	fs.Var(&p.track, "track", "the waveform's audio track `N` (default: FFmpeg's best)")
	fs.StringVar(&p.lang, "lang", "", "the waveform's track: the first in `LANGUAGE` (ISO 639)")
}

func (p *peaksFlags) check() error {
	switch {
	case p.n.n == 0 && (p.from.set || p.to.set || p.track.n > 0 || p.lang != ""):
		return usagef("--from, --to, --track and --lang go with --peaks N")
	case p.n.n > extract.MaxPeaksColumns:
		return usagef("--peaks: at most %d columns", extract.MaxPeaksColumns)
	case p.to.set && p.to.d <= p.from.d:
		return usagef("--to must be after --from")
	}
	return nil
}

func (p *peaksFlags) options() *extract.PeaksOptions {
	return &extract.PeaksOptions{Track: p.track.n, Language: p.lang, From: p.from.d, To: p.to.d}
}

// printPeaks says what the waveform covers and draws it in one line of
// block characters (the column's largest magnitude).
func printPeaks(w io.Writer, p *extract.Waveform) {
	how := "every sample"
	if p.Sampled {
		how = "sampled"
	}
	fmt.Fprintf(w, "waveform of track %d, %s to %s, %s, %s:\n", p.Track.Track,
		timefmt.Format(p.From.Round(time.Millisecond)), timefmt.Format(p.To.Round(time.Millisecond)),
		plural(len(p.Max), "column"), how)
	const blocks = " ▁▂▃▄▅▆▇█"
	levels := []rune(blocks)
	var b strings.Builder
	for i := range p.Max {
		m := max(p.Max[i], -p.Min[i])
		b.WriteRune(levels[min(int(m*float32(len(levels)-1)+0.5), len(levels)-1)])
	}
	fmt.Fprintln(w, b.String())
}

func printInfo(w io.Writer, name string, info *extract.Info) {
	fmt.Fprintf(w, "%s: %s (%s), %s, %s", name, info.Container, info.ContainerLongName,
		durationText(info.Duration), plural(info.Streams, "stream"))
	if info.Bitrate > 0 {
		fmt.Fprintf(w, ", %s", bitrateText(info.Bitrate))
	}
	fmt.Fprintln(w)
	if len(info.AudioTracks) == 0 {
		fmt.Fprintln(w, "no audio tracks")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRACK\tSTREAM\tCODEC\tRATE\tCHANNELS\tBITRATE\tLANG\tSTART\tDURATION\tTITLE")
	for _, t := range info.AudioTracks {
		mark := " "
		if t.Track == info.BestTrack {
			mark = "*"
		}
		codec := t.Codec
		if t.Profile != "" {
			codec += " (" + t.Profile + ")"
		}
		layout := t.ChannelLayout
		if layout == "" {
			layout = fmt.Sprint(t.Channels)
		}
		lang := t.Language
		if lang == "" {
			lang = "-"
		}
		br := "-"
		if t.Bitrate > 0 {
			br = bitrateText(t.Bitrate)
		}
		fmt.Fprintf(tw, "%s%d\t%d\t%s\t%d Hz\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, t.Track, t.Index, codec,
			t.SampleRate, layout, br, lang, timefmt.Format(t.Start.Round(1e6)), durationText(t.Duration), t.Title)
	}
	tw.Flush()
}

func durationText(d time.Duration) string {
	if d <= 0 {
		return "unknown"
	}
	return timefmt.Format(d.Round(time.Millisecond))
}

func bitrateText(bps int64) string {
	return fmt.Sprintf("%d kb/s", (bps+500)/1000)
}
