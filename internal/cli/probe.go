package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
)

var probeCmd = &command{
	name:    "probe",
	args:    "INPUT [--json]",
	summary: "show a file's container, duration and audio tracks",
	help: `
Reads INPUT's container and stream headers (without decoding) and lists its
audio tracks. The TRACK column is what 'audex extract --track' takes; "*"
marks the track extracted by default. INPUT "-" reads standard input.

Examples:
  audex probe movie.mkv
  audex probe movie.mp4 --json | jq '.audio_tracks[].codec'
`,
}

func init() { probeCmd.run = runProbe }

func runProbe(ctx context.Context, e *env, args []string) error {
	fs := probeCmd.newFlags()
	asJSON := fs.Bool("json", false, "print the probe result as JSON (times in seconds)")
	pos, err := probeCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "INPUT"); err != nil {
		return err
	}
	in := pos[0]
	var info *extract.Info
	if in == "-" {
		info, err = extract.Probe(ctx, inputReader(ctx, e.stdin), nil)
	} else {
		info, err = extract.ProbeFile(ctx, in, nil)
	}
	if err != nil {
		return fail(in, err)
	}
	if *asJSON {
		return printJSON(e.stdout, newProbeJSON(info))
	}
	printInfo(e.stdout, in, info)
	return nil
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
