package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/timefmt"
)

var extractCmd = &command{
	name:    "extract",
	args:    "INPUT [-o OUTPUT] [flags]",
	summary: "extract audio from a video file",
	help: `
Extracts the audio of INPUT (any video or audio file FFmpeg reads) into OUTPUT,
cut sample-accurately to --start and --duration/--to, in the format named by
--format or by OUTPUT's extension (mp3 by default).

Without -o the output goes next to INPUT, named after it with the format's
extension (movie.mp4 -> movie.mp3); an existing file of that name is replaced,
never INPUT itself. INPUT "-" reads standard input; OUTPUT "-" writes standard
output (the default when INPUT is "-").

A progress bar is shown when standard error is a terminal. Interrupting
(Ctrl-C) stops at once and leaves no partial output file.

Examples:
  audex extract movie.mp4                          # whole audio to movie.mp3
  audex extract movie.mp4 -o clip.wav --start 1:30 --duration 2.5
  audex extract movie.mkv -o speech.flac --lang de --rate 16000 --channels 1
  audex extract movie.mp4 -o track.m4a --copy always   # AAC copied, not re-encoded
  curl -s https://example.com/v.mp4 | audex extract - --format ogg > v.ogg
  audex extract movie.mp4 -o clip.mp3 --start 10 --to 20 --json
`,
}

func init() { extractCmd.run = runExtract }

func runExtract(ctx context.Context, e *env, args []string) error {
	fs := extractCmd.newFlags()
	var jf jobFlags
	jf.register(fs)
	out := fs.String("o", "", "output `FILE`; \"-\" for standard output (default: INPUT's name with the format's extension)")
	asJSON := fs.Bool("json", false, "print the result as JSON on standard output (times in seconds)")
	verbose := fs.Bool("v", false, "show FFmpeg's log on standard error")
	pos, err := extractCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "INPUT"); err != nil {
		return err
	}
	in := pos[0]
	opts, err := jf.options(*out)
	if err != nil {
		return err
	}
	dst := *out
	if dst == "" {
		dst, err = defaultOutput(in, opts.Format)
		if err != nil {
			return err
		}
	}
	if dst != "-" {
		if err := checkOutputDir(dst); err != nil {
			return err
		}
	}
	if dst == "-" {
		if *asJSON {
			return usagef("--json needs -o FILE: the audio goes to standard output")
		}
		if isTerminal(e.stdout) {
			return usagef("refusing to write audio to a terminal: use -o FILE or redirect standard output")
		}
	}
	if *verbose {
		extract.SetFFmpegLogLevel(slog.LevelInfo)
		opts.Logger = slog.New(&lineHandler{w: e.stderr})
	}
	var b *bar
	if !*verbose {
		b = newBar(e.stderr, "extracting")
		opts.Progress = func(p extract.Progress) {
			b.set(p.Fraction(), "extracting "+timefmt.Format(p.Done.Truncate(time.Second)))
		}
	}
	res, err := extractTo(ctx, e, dst, in, &opts)
	b.done()
	if err != nil {
		return fail(in, err)
	}
	if res.Truncated {
		warnTruncated(e, in, res.Duration)
	}
	if *asJSON {
		return printJSON(e.stdout, newResultJSON(res))
	}
	if dst != "-" {
		fmt.Fprintf(e.stdout, "%s: %s\n", dst, describeResult(res))
	}
	return nil
}

// defaultOutput names the output after the input, beside it.
func defaultOutput(in string, f extract.Format) (string, error) {
	if in == "-" {
		return "-", nil
	}
	out := strings.TrimSuffix(in, filepath.Ext(in)) + f.Extension()
	if sameFile(in, out) {
		return "", usagef("the output would replace %s: use -o", in)
	}
	return out, nil
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// extractTo runs the extraction between paths or standard streams. A file
// output is always written through a temporary file and renamed into place.
func extractTo(ctx context.Context, e *env, dst, src string, o *extract.Options) (*extract.Result, error) {
	switch {
	case src != "-" && dst != "-":
		if sameFile(src, dst) {
			return nil, fmt.Errorf("output %s is the input", dst)
		}
		return extract.ExtractFile(ctx, dst, src, o)
	case dst == "-":
		r := inputReader(ctx, e.stdin)
		if src != "-" {
			f, err := os.Open(src)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			r = f
		}
		return extract.Extract(ctx, e.stdout, r, o)
	default:
		var res *extract.Result
		err := writeAtomic(dst, func(w io.Writer) error {
			var err error
			res, err = extract.Extract(ctx, w, inputReader(ctx, e.stdin), o)
			return err
		})
		return res, err
	}
}

// checkOutputDir fails when the output path dst cannot be created for want
// of its directory. It runs before any work: otherwise the error would come
// at the end, and name the temporary file rather than dst.
func checkOutputDir(dst string) error {
	dir := filepath.Dir(dst)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(dst, fmt.Errorf("the directory %s does not exist", dir))
	case err != nil:
		return fail(dst, err)
	case !fi.IsDir():
		return fail(dst, fmt.Errorf("%s is not a directory", dir))
	}
	return nil
}

// warnTruncated says that input ended early: an output of length d (< 0:
// unknown) holds the audio up to there, not what the input's index promised.
func warnTruncated(e *env, input string, d time.Duration) {
	if input == "-" {
		input = "standard input"
	}
	what := "the audio"
	if d >= 0 {
		what = "the " + timefmt.Format(d.Round(time.Millisecond)) + " of audio"
	}
	fmt.Fprintf(e.stderr, "audex: warning: %s ends early (cut short or damaged): the output holds %s up to that point\n", input, what)
}

// writeAtomic writes path through a temporary file in the same directory,
// renamed into place only when write succeeds; on failure nothing is left.
func writeAtomic(path string, write func(w io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		// Name the file asked for, not the temporary one.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = &fs.PathError{Op: "create", Path: path, Err: pe.Err}
		}
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	// CreateTemp makes the file private; the result is an ordinary file.
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// describeResult is the one-line summary of an extraction.
func describeResult(r *extract.Result) string {
	s := fmt.Sprintf("%s (%s) %d Hz %s, %s from %s, %s",
		r.Format, r.Codec, r.SampleRate, r.ChannelLayout, timefmt.Format(r.Duration.Round(1e6)),
		timefmt.Format(r.Start.Round(1e6)), humanBytes(r.Bytes))
	if r.Copied {
		s += ", stream copy"
	}
	if r.DecodeErrors > 0 {
		s += fmt.Sprintf(", %s concealed", plural(r.DecodeErrors, "decode error"))
	}
	return s
}

// plural is "1 track", "2 tracks", "0 tracks".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// lineHandler prints FFmpeg's log lines for -v as "ffmpeg[class] level: msg".
type lineHandler struct {
	w     io.Writer
	attrs []slog.Attr
}

func (h *lineHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	class := ""
	find := func(a slog.Attr) bool {
		if a.Key == "ffmpeg" {
			class = a.Value.String()
			return false
		}
		return true
	}
	for _, a := range h.attrs {
		find(a)
	}
	r.Attrs(find)
	if class != "" {
		class = "[" + class + "]"
	}
	_, err := fmt.Fprintf(h.w, "ffmpeg%s %s: %s\n", class, strings.ToLower(r.Level.String()), r.Message)
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &lineHandler{w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
