package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/asticode/go-astiav"
)

// Extract reads media from src and writes the selected audio to dst in
// opts.Format. src may be any io.Reader: an io.ReadSeeker is read in place,
// anything else is spooled to an unlinked temporary file as it is read, so an
// MP4 whose index sits at the end still opens. Formats whose header is
// completed at the end (wav, mp3, m4a, flac, wma) are spooled too when dst
// cannot seek, so the bytes written are always a complete file.
//
// A nil opts means all defaults. The returned error wraps one of the package's
// sentinel errors; on error, bytes may already have been written to dst.
func Extract(ctx context.Context, dst io.Writer, src io.Reader, opts *Options) (*Result, error) {
	o, err := opts.normalized()
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	if dst == nil || src == nil {
		return nil, fmt.Errorf("extract: %w: nil reader or writer", ErrUnsupportedOption)
	}
	res, err := extractTo(ctx, dst, source{r: src}, o)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	return res, nil
}

// ExtractFile extracts from the file at srcPath into dstPath. Mind the
// order: destination first, as in io.Copy.
//
// The format is opts.Format; when that is empty, the one dstPath's
// extension names (see [FormatFromPath]). A destination whose extension
// names no audio format (none at all, or a video's such as .mp4) fails with
// [ErrUnsupportedFormat] instead of falling back to MP3: with the two paths
// swapped, ExtractFile(ctx, "talk.mp4", "clip.mp3", nil) would otherwise
// replace the video with audio. For AAC in MP4, name the file .m4a or set
// Options.Format = M4A. With Options.Format set, any name is accepted.
//
// ExtractFile never writes over its input: a dstPath that is the file at
// srcPath, however named (the same path, "./" variants, a hard link, a
// symlink to it), fails with [ErrOutputIsInput]. An existing dstPath that is
// not a regular file (a directory, a device, a FIFO) fails with
// [ErrUnsupportedOption]; write to those with [Extract]. These checks run
// before anything is created: on such an error nothing was written.
//
// The output is written to a temporary file beside dstPath and renamed into
// place only on success: a failed or canceled extraction leaves nothing
// behind and dstPath as it was. The rename replaces dstPath as a name: if
// dstPath is a symlink, the link is replaced by the new file and the file
// it pointed to is left alone.
func ExtractFile(ctx context.Context, dstPath, srcPath string, opts *Options) (*Result, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := checkDestination(dstPath, srcPath); err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	if o.Format == "" {
		f, err := formatOfDestination(dstPath)
		if err != nil {
			return nil, fmt.Errorf("extract: %w", err)
		}
		o.Format = f
	}
	o, err := o.normalized()
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dstPath), "."+filepath.Base(dstPath)+".*.part")
	if err != nil {
		// Name dstPath, not the temporary file nobody asked for.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = &fs.PathError{Op: "create", Path: dstPath, Err: pe.Err}
		}
		return nil, fmt.Errorf("extract: create output: %w: %w", ErrOutput, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	res, err := extractTo(ctx, tmp, source{path: srcPath}, o)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	// CreateTemp makes the file private; the result is an ordinary file.
	if err := tmp.Chmod(0o644); err != nil {
		return nil, fmt.Errorf("extract: chmod output: %w: %w", ErrOutput, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("extract: close output: %w: %w", ErrOutput, err)
	}
	if err := os.Rename(tmp.Name(), dstPath); err != nil {
		return nil, fmt.Errorf("extract: rename output: %w: %w", ErrOutput, err)
	}
	ok = true
	return res, nil
}

// checkDestination refuses a destination that is the source, or that is
// not a file the final rename could replace.
func checkDestination(dstPath, srcPath string) error {
	dst, err := os.Stat(dstPath)
	if err != nil {
		// Nothing there to protect (or nothing we can see: creating the
		// output will say what is wrong).
		return nil
	}
	if src, err := os.Stat(srcPath); err == nil && os.SameFile(src, dst) {
		return fmt.Errorf("%w: %s is %s", ErrOutputIsInput, dstPath, srcPath)
	}
	if !dst.Mode().IsRegular() {
		return fmt.Errorf("%w: destination %s is a %s, not a regular file (ExtractFile writes files; write to it with Extract)",
			ErrUnsupportedOption, dstPath, fileKind(dst.Mode()))
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// formatOfDestination is the format dstPath's extension names, or an
// ErrUnsupportedFormat that says how to name the file instead.
func formatOfDestination(dstPath string) (Format, error) {
	if f, ok := FormatFromPath(dstPath); ok {
		return f, nil
	}
	const swapped = "ExtractFile takes the destination first; if this is the video, the paths are swapped"
	switch ext := filepath.Ext(dstPath); strings.ToLower(ext) {
	case "":
		return "", fmt.Errorf("%w: destination %s has no extension to tell the audio format: name it .mp3, .m4a, .wav, ... or set Options.Format", ErrUnsupportedFormat, dstPath)
	case ".mp4":
		// Accepting .mp4 as AAC would let the swapped-paths slip destroy
		// the video whenever the audio file already exists.
		return "", fmt.Errorf("%w: destination %s: .mp4 is what a video is called (%s); for AAC in MP4 name it .m4a or set Options.Format = extract.M4A", ErrUnsupportedFormat, dstPath, swapped)
	default:
		return "", fmt.Errorf("%w: destination %s: extension %q names no audio format (want one of %s, or set Options.Format; %s)", ErrUnsupportedFormat, dstPath, ext, formatList(), swapped)
	}
}

// extractTo picks how to reach dst: in place when it seeks (or the format
// never needs to), through a spool file when the muxer must patch its header.
func extractTo(ctx context.Context, dst io.Writer, src source, o Options) (*Result, error) {
	sp := specs[o.Format]
	if ws, ok := dst.(io.WriteSeeker); ok && writerSeeks(ws) {
		return run(ctx, ws, true, src, o)
	}
	if !sp.seekableOutput {
		return run(ctx, streamWriter{dst}, false, src, o)
	}
	f, err := os.CreateTemp("", "audex-out-*")
	if err != nil {
		return nil, fmt.Errorf("create spool: %w: %w", ErrOutput, err)
	}
	os.Remove(f.Name())
	defer f.Close()
	res, err := run(ctx, f, true, src, o)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind spool: %w: %w", ErrOutput, err)
	}
	if _, err := io.Copy(dst, f); err != nil {
		return nil, fmt.Errorf("copy spool: %w: %w", ErrOutput, err)
	}
	return res, nil
}

func writerSeeks(ws io.WriteSeeker) bool {
	if f, ok := ws.(*os.File); ok {
		st, err := f.Stat()
		return err == nil && st.Mode().IsRegular()
	}
	_, err := ws.Seek(0, io.SeekCurrent)
	return err == nil
}

// streamWriter is a plain io.Writer for muxers that never seek.
type streamWriter struct{ io.Writer }

func (streamWriter) Seek(int64, int) (int64, error) { return 0, errors.New("not seekable") }

// run is one extraction: open, pick the track, then copy or transcode.
func run(ctx context.Context, w io.WriteSeeker, seekable bool, src source, o Options) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCanceled, err)
	}
	in, err := openInput(ctx, src, o.Limits, o.Logger)
	if err != nil {
		return nil, err
	}
	defer in.close()

	st, track, err := selectTrack(in.fc, in.t0, o)
	if err != nil {
		return nil, err
	}
	cp := st.CodecParameters()
	if cp.SampleRate() <= 0 || cp.SampleRate() > o.Limits.MaxSampleRate {
		return nil, fmt.Errorf("%w: sample rate %d Hz", ErrUnsupportedInput, cp.SampleRate())
	}
	if ch := cp.ChannelLayout().Channels(); ch <= 0 || ch > o.Limits.MaxChannels {
		return nil, fmt.Errorf("%w: %d channels", ErrUnsupportedInput, ch)
	}

	p := &pipeline{ctx: ctx, o: o, in: in, st: st, track: track, spec: specs[o.Format]}
	p.wr = &writer{w: w, limit: o.Limits.MaxOutputBytes}
	p.seekable = seekable
	defer p.close()
	copyOK, err := p.copyable()
	if err != nil {
		return nil, err
	}
	if copyOK {
		res, err := p.copyPackets()
		if !errors.Is(err, errNotExact) {
			return res, err
		}
		if o.Copy == CopyAlways {
			return nil, fmt.Errorf("%w: cannot stream-copy %s into %s exactly: %w", ErrUnsupportedOption, track.Codec, o.Format, err)
		}
		// Nothing was written: re-encode, from the start of the input.
		if err := p.rewindInput(); err != nil {
			return nil, err
		}
	}
	return p.transcode()
}

// selectTrack applies Track / Language / FFmpeg's choice and discards every
// other stream at the demuxer.
func selectTrack(fc *astiav.FormatContext, t0 int64, o Options) (*astiav.Stream, AudioTrack, error) {
	tracks := audioTracks(fc, t0)
	if len(tracks) == 0 {
		return nil, AudioTrack{}, ErrNoAudio
	}
	var chosen *AudioTrack
	switch {
	case o.Track > 0:
		if o.Track > len(tracks) {
			n := "1 audio track"
			if len(tracks) > 1 {
				n = fmt.Sprintf("%d audio tracks", len(tracks))
			}
			return nil, AudioTrack{}, fmt.Errorf("%w: track %d (input has %s)", ErrTrackNotFound, o.Track, n)
		}
		chosen = &tracks[o.Track-1]
		if o.Language != "" && !langMatch(chosen.Language, o.Language) {
			return nil, AudioTrack{}, fmt.Errorf("%w: track %d is %q, not %q", ErrTrackNotFound, o.Track, chosen.Language, o.Language)
		}
	case o.Language != "":
		for i := range tracks {
			if langMatch(tracks[i].Language, o.Language) {
				chosen = &tracks[i]
				break
			}
		}
		if chosen == nil {
			return nil, AudioTrack{}, fmt.Errorf("%w: no audio track in language %q", ErrTrackNotFound, o.Language)
		}
	default:
		chosen = &tracks[bestTrack(fc, tracks)-1]
	}
	var st *astiav.Stream
	for _, s := range fc.Streams() {
		if s.Index() == chosen.Index {
			st = s
			s.SetDiscard(astiav.DiscardDefault)
		} else {
			s.SetDiscard(astiav.DiscardAll)
		}
	}
	return st, *chosen, nil
}

// bestTrack returns FFmpeg's pick as a 1-based track number.
func bestTrack(fc *astiav.FormatContext, tracks []AudioTrack) int {
	s, _, err := fc.FindBestStream(astiav.MediaTypeAudio, -1, -1)
	if err == nil && s != nil {
		for _, t := range tracks {
			if t.Index == s.Index() {
				return t.Track
			}
		}
	}
	return 1
}

// pipeline holds one extraction's FFmpeg objects. All of them live and die on
// the calling goroutine; close frees them in reverse order.
type pipeline struct {
	ctx      context.Context
	o        Options
	in       *input
	st       *astiav.Stream
	track    AudioTrack
	spec     encSpec
	wr       *writer
	seekable bool
	closers

	ofc *astiav.FormatContext
	ost *astiav.Stream
}

// closers frees C objects and undoes registrations in the reverse order of
// their acquisition; each owner of FFmpeg objects (an input, a pipeline, a
// peaker) keeps one and closes it on every path.
type closers []func()

// defer_ adds f to run at close.
func (c *closers) defer_(f func()) { *c = append(*c, f) }

func (c *closers) close() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
	*c = nil
}

// ffmpegLimits are the errors by which FFmpeg says it lacks something (a
// feature not implemented, a codec or muxer left out of the build) rather
// than that the input is wrong.
var ffmpegLimits = []astiav.Error{
	astiav.ErrPatchwelcome, astiav.ErrExperimental, astiav.ErrDecoderNotFound,
	astiav.ErrEncoderNotFound, astiav.ErrMuxerNotFound, astiav.Error(-int(syscall.ENOSYS)),
}

// classOf is class, or ErrUnsupportedInput where err is one of FFmpeg's
// limits: those are never the input's fault.
func classOf(err, class error) error {
	for _, l := range ffmpegLimits {
		if errors.Is(err, l) {
			return ErrUnsupportedInput
		}
	}
	return class
}

// rat is an FFmpeg rational as the window's.
func rat(r astiav.Rational) rational { return rational{int64(r.Num()), int64(r.Den())} }

// t0 is the zero of the presentation timeline in AV_TIME_BASE units.
func (p *pipeline) t0() int64 { return p.in.t0 }

// openOutput sets up the muxer over the Go writer; params come from enc, or
// from the input stream when copying.
func (p *pipeline) openOutput(muxOpts map[string]string, configure func(ost *astiav.Stream) error) error {
	ofc, err := astiav.AllocOutputFormatContext(nil, p.spec.muxer, "")
	if err != nil || ofc == nil {
		return fmt.Errorf("open output: muxer %s: %w", p.spec.muxer, err)
	}
	p.defer_(ofc.Free)
	var seek astiav.IOContextSeekFunc
	if p.seekable {
		seek = p.wr.seek
	}
	ioc, err := astiav.AllocIOContext(outBufferSize, true, nil, seek, p.wr.write)
	if err != nil {
		return fmt.Errorf("open output: %w", err)
	}
	p.defer_(ioc.Free)
	ofc.SetPb(ioc)
	muxLog, detach := attach(p.o.Logger, formatContextPtr(ofc))
	p.defer_(detach)
	ost := ofc.NewStream(nil)
	if ost == nil {
		return errors.New("open output: allocating stream failed")
	}
	if err := configure(ost); err != nil {
		return err
	}
	var d *astiav.Dictionary
	if len(muxOpts) > 0 {
		d = astiav.NewDictionary()
		defer d.Free()
		for k, v := range muxOpts {
			if err := d.Set(k, v, 0); err != nil {
				return fmt.Errorf("open output: option %s: %w", k, err)
			}
		}
	}
	if err := ofc.WriteHeader(d); err != nil {
		if e := p.outErr("write header", err); p.wr.err != nil || p.ctx.Err() != nil {
			return e
		}
		// Not the writer: the muxer refuses the stream, FFmpeg's limit.
		return fmt.Errorf("write header: %w: the %s muxer refuses the audio: %w%s", ErrUnsupportedInput, p.spec.muxer, err, said(muxLog))
	}
	p.ofc, p.ost = ofc, ost
	return nil
}

// outErr attributes a muxer failure: the Go writer's own error (ENOSPC, the
// byte limit) beats FFmpeg's generic EIO.
func (p *pipeline) outErr(step string, err error) error {
	if errors.Is(p.wr.err, errLimit) {
		return fmt.Errorf("%s: %w: more than %d bytes", step, ErrOutputLimit, p.o.Limits.MaxOutputBytes)
	}
	if p.wr.err != nil {
		return fmt.Errorf("%s: %w: %w", step, ErrOutput, p.wr.err)
	}
	if ctxErr := p.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w: %w", step, ErrCanceled, ctxErr)
	}
	return fmt.Errorf("%s: %w", step, err)
}

func (p *pipeline) finishOutput() error {
	if err := p.ofc.WriteTrailer(); err != nil {
		return p.outErr("write trailer", err)
	}
	p.ofc.Pb().Flush()
	if p.wr.err != nil {
		return p.outErr("flush output", p.wr.err)
	}
	return nil
}
