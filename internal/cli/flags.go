package cli

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
)

// timeValue is a flag taking seconds or HH:MM:SS.mmm.
type timeValue struct {
	d   time.Duration
	set bool
}

func (v *timeValue) String() string {
	if v == nil || !v.set {
		return ""
	}
	return timefmt.Seconds(v.d)
}

func (v *timeValue) Set(s string) error {
	d, err := timefmt.Parse(s)
	if err != nil {
		return errors.New("want seconds (90.25) or [HH:]MM:SS[.mmm]")
	}
	v.d, v.set = d, true
	return nil
}

// posInt is a flag taking an integer > 0 (0 is the unset default).
type posInt struct{ n int }

func (v *posInt) String() string {
	if v == nil || v.n == 0 {
		return ""
	}
	return strconv.Itoa(v.n)
}

func (v *posInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return errors.New("want a positive integer")
	}
	v.n = n
	return nil
}

// bitrateValue takes bit/s as 128000, 128k or 0.128M.
type bitrateValue struct{ bps int }

func (v *bitrateValue) String() string {
	if v == nil || v.bps == 0 {
		return ""
	}
	return strconv.Itoa(v.bps)
}

func (v *bitrateValue) Set(s string) error {
	n, err := parseBitrate(s)
	if err != nil {
		return err
	}
	v.bps = n
	return nil
}

func parseBitrate(s string) (int, error) {
	t := strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "K"):
		mult, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1e6, t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	// ParseFloat also takes "inf", "nan" and hex; the range check drops them.
	if err != nil || !(f*mult >= 1000 && f*mult <= 2_000_000) || strings.ContainsAny(t, "xXpPeE_") {
		return 0, errors.New("want bits per second between 1000 and 2000000, like 128000 or 128k")
	}
	return int(f*mult + 0.5), nil
}

// formatValue is an output format flag.
type formatValue struct{ f extract.Format }

func (v *formatValue) String() string {
	if v == nil {
		return ""
	}
	return string(v.f)
}

func (v *formatValue) Set(s string) error {
	f, err := extract.ParseFormat(s)
	if err != nil {
		return fmt.Errorf("want one of %s", formatNames())
	}
	v.f = f
	return nil
}

func formatNames() string {
	var s []string
	for _, f := range extract.Formats() {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}

// copyValue is the --copy flag.
type copyValue struct{ m extract.CopyMode }

func (v *copyValue) String() string {
	if v == nil || v.m == "" {
		return string(extract.CopyAuto)
	}
	return string(v.m)
}

func (v *copyValue) Set(s string) error {
	m, err := extract.ParseCopyMode(s)
	if err != nil {
		return errors.New("want auto, never or always")
	}
	v.m = m
	return nil
}

// jobFlags are the extraction options shared by extract and submit; their
// names follow the extract.Options fields and the HTTP API's fields.
type jobFlags struct {
	start, duration, to timeValue
	full                bool
	format              formatValue
	track               posInt
	lang                string
	rate, channels      posInt
	bitrate             bitrateValue
	copy                copyValue
}

func (j *jobFlags) register(fs *flag.FlagSet) {
	fs.Var(&j.start, "start", "start `TIME` on the input's timeline: seconds (90.25) or [HH:]MM:SS[.mmm] (default 0)")
	fs.Var(&j.duration, "duration", "extract this much audio (`TIME`); default: to the end")
	fs.Var(&j.to, "to", "stop at this `TIME` on the input's timeline (instead of --duration)")
	fs.BoolVar(&j.full, "full", false, "extract from --start to the end of the audio (the default when neither --duration nor --to is given)")
	fs.Var(&j.format, "format", "output `FORMAT`: "+formatNames()+" (default: from -o's extension, else mp3)")
	fs.Var(&j.track, "track", "audio track `N` (1-based, as 'audex probe' lists them); default: FFmpeg's best")
	fs.StringVar(&j.lang, "lang", "", "first audio track in `LANGUAGE`, an ISO 639 code: de, deu and ger all name German")
	fs.Var(&j.rate, "rate", "output sample rate in `HZ` (default: the source's, where the format allows it)")
	fs.Var(&j.channels, "channels", "output channel count `N` (default: the source's, where the format allows it)")
	fs.Var(&j.bitrate, "bitrate", "`BITRATE` of lossy formats in bit/s, e.g. 128k (default: the format's usual, 64k per channel for mp3, aac and ogg)")
	fs.Var(&j.copy, "copy", "copy packets without re-encoding: `MODE` auto (when exact), never or always (or fail)")
}

// span checks the time flags and returns start and duration (0: to the end).
func (j *jobFlags) span() (start, dur time.Duration, err error) {
	switch {
	case j.duration.set && j.to.set:
		return 0, 0, usagef("--duration and --to exclude each other")
	case j.full && (j.duration.set || j.to.set):
		return 0, 0, usagef("--full excludes --duration and --to")
	case j.duration.set && j.duration.d == 0:
		return 0, 0, usagef("--duration must be greater than 0")
	case j.to.set && j.to.d <= j.start.d:
		return 0, 0, usagef("--to (%s) must be after --start (%s)", timefmt.Format(j.to.d), timefmt.Format(j.start.d))
	}
	dur = j.duration.d
	if j.to.set {
		dur = j.to.d - j.start.d
	}
	if dur > extract.DefaultMaxOutputDuration {
		return 0, 0, usagef("duration %s is over the %s limit", timefmt.Format(dur), timefmt.Format(extract.DefaultMaxOutputDuration))
	}
	if l := j.lang; l != "" && (len(l) < 2 || len(l) > 3 || strings.Trim(strings.ToLower(l), "abcdefghijklmnopqrstuvwxyz") != "") {
		return 0, 0, usagef("--lang %q: want a 2- or 3-letter ISO 639 code", l)
	}
	return j.start.d, dur, nil
}

// outputFormat is --format, else the format named by out's extension, else
// MP3. An extension audex does not write is a usage error rather than an
// MP3 file with a misleading name.
func (j *jobFlags) outputFormat(out string) (extract.Format, error) {
	if j.format.f != "" {
		return j.format.f, nil
	}
	if out == "" || out == "-" {
		return extract.MP3, nil
	}
	ext := filepath.Ext(out)
	if ext == "" {
		return extract.MP3, nil
	}
	f, ok := extract.FormatFromPath(out)
	if !ok {
		return "", usagef("cannot tell the output format from %q: use --format (%s)", ext, formatNames())
	}
	return f, nil
}

// options builds extract.Options for an output path.
func (j *jobFlags) options(out string) (extract.Options, error) {
	start, dur, err := j.span()
	if err != nil {
		return extract.Options{}, err
	}
	f, err := j.outputFormat(out)
	if err != nil {
		return extract.Options{}, err
	}
	return extract.Options{
		Format:     f,
		Start:      start,
		Duration:   dur,
		Track:      j.track.n,
		Language:   strings.ToLower(j.lang),
		SampleRate: j.rate.n,
		Channels:   j.channels.n,
		Bitrate:    j.bitrate.bps,
		Copy:       j.copy.m,
	}, nil
}
