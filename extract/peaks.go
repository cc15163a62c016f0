package extract

//#cgo pkg-config: libavutil
//#include <libavutil/frame.h>
//#include <libavutil/samplefmt.h>
//
//// Widens *lo and *hi to the smallest and largest sample of samples
//// [off, off+n) of a decoded audio frame, every channel, scaled to [-1, 1].
//// NaN samples are ignored.
//static void audex_peaks_minmax(const AVFrame *f, int off, int n, float *lo, float *hi) {
//	int ch = f->ch_layout.nb_channels;
//	int planar = av_sample_fmt_is_planar(f->format);
//	int planes = planar ? ch : 1, per = planar ? 1 : ch;
//	float mn = *lo, mx = *hi;
//	for (int p = 0; p < planes; p++) {
//		const uint8_t *d = f->extended_data[p];
//		int a = off * per, b = (off + n) * per;
//		switch (av_get_packed_sample_fmt(f->format)) {
//		case AV_SAMPLE_FMT_FLT: {
//			const float *x = (const float *)d;
//			for (int i = a; i < b; i++) { float v = x[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
//			break;
//		}
//		case AV_SAMPLE_FMT_DBL: {
//			const double *x = (const double *)d;
//			for (int i = a; i < b; i++) { float v = (float)x[i]; if (v < mn) mn = v; if (v > mx) mx = v; }
//			break;
//		}
//		case AV_SAMPLE_FMT_S16: {
//			const int16_t *x = (const int16_t *)d;
//			int l = 32767, h = -32768;
//			for (int i = a; i < b; i++) { int v = x[i]; if (v < l) l = v; if (v > h) h = v; }
//			if (b > a) { if (l / 32768.0f < mn) mn = l / 32768.0f; if (h / 32768.0f > mx) mx = h / 32768.0f; }
//			break;
//		}
//		case AV_SAMPLE_FMT_S32: {
//			const int32_t *x = (const int32_t *)d;
//			int32_t l = INT32_MAX, h = INT32_MIN;
//			for (int i = a; i < b; i++) { int32_t v = x[i]; if (v < l) l = v; if (v > h) h = v; }
//			if (b > a) { if (l / 2147483648.0f < mn) mn = l / 2147483648.0f; if (h / 2147483648.0f > mx) mx = h / 2147483648.0f; }
//			break;
//		}
//		case AV_SAMPLE_FMT_S64: {
//			const int64_t *x = (const int64_t *)d;
//			for (int i = a; i < b; i++) { float v = (float)(x[i] / 9223372036854775808.0); if (v < mn) mn = v; if (v > mx) mx = v; }
//			break;
//		}
//		case AV_SAMPLE_FMT_U8: {
//			for (int i = a; i < b; i++) { float v = (d[i] - 128) / 128.0f; if (v < mn) mn = v; if (v > mx) mx = v; }
//			break;
//		}
//		default:
//			break;
//		}
//	}
//	*lo = mn;
//	*hi = mx;
//}
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/asticode/go-astiav"
)

// MaxPeaksColumns is the most columns one Peaks call computes.
const MaxPeaksColumns = 1 << 16

// What a waveform may cost, in audio decoded: the work of Peaks is bounded
// by these, whatever the input's length.
const (
	// A range up to this long is decoded whole: every sample counts.
	peaksWholeMax = 5 * time.Minute
	// A longer range is sampled: about this much audio in all, in windows
	// spread over the columns, each reached by a seek.
	peaksSampledAudio = 90 * time.Second
	// Each window starts this far before the audio it keeps, so that the
	// decoder has settled (overlapping frames, MP3's bit reservoir).
	peaksPreroll = 50 * time.Millisecond
	// A window closer than this to where decoding stands is reached by
	// decoding on rather than by a seek.
	peaksSeekGap = 500 * time.Millisecond
	// peaksMaxDecode stops decoding that cannot seek (or a track of
	// unknown length) after this much audio.
	peaksMaxDecode = 20 * time.Minute
	// peaksBin is the bin of a track of unknown length: its peaks are
	// gathered in bins this wide, then merged into the columns once the
	// end is known.
	peaksBin = 10 * time.Millisecond
)

// PeaksOptions configure [Peaks]. The zero value (and a nil *PeaksOptions)
// gives the peaks of FFmpeg's best audio track over the whole timeline.
type PeaksOptions struct {
	// Track and Language select the audio track as in [Options].
	Track    int
	Language string
	// From is where the first column starts on the input's presentation
	// timeline (as in Options.Start). Defaults to 0.
	From time.Duration
	// To is where the last column ends. 0 means the end of the input (the
	// container's length, else the track's end).
	To time.Duration
	// Logger receives FFmpeg's messages (see SetFFmpegLogLevel). Nil drops
	// them.
	Logger *slog.Logger
	// Limits bound the work on hostile input, as for an extraction.
	Limits Limits
}

// Waveform is what [Peaks] computes: the smallest and largest sample of
// every column of equal time between From and To, over every channel of the
// track, on a scale where full scale is -1 and 1.
type Waveform struct {
	// Track is the track the peaks are of.
	Track AudioTrack
	// From and To are the part of the timeline the columns cover: column i
	// of n covers From + i*(To-From)/n up to From + (i+1)*(To-From)/n.
	From, To time.Duration
	// Min and Max hold one value per column. A column with no audio (before
	// the track starts, after it ends, or not reached) holds 0 and 0.
	Min, Max []float32
	// Sampled reports that the columns hold the peaks of windows of the
	// range, not of every sample: a range longer than a few minutes is
	// sampled to keep the work bounded (O(1) seeks, one per column).
	Sampled bool
}

// Peaks computes a waveform of n columns of the audio track of src, decoding
// the audio only (no video decoder is opened). A range of a few minutes is
// decoded whole; a longer one is sampled, with a seek to a short window in
// each column, so a one-hour input costs about what a few minutes do: see
// Waveform.Sampled. For a sub-range, set opts.From and opts.To (a zoom decodes
// only that range). A nil opts means the whole timeline of the best track.
//
// n must be from 1 to [MaxPeaksColumns]. The returned error wraps one of the
// package's sentinels: [ErrNoAudio], [ErrTrackNotFound],
// [ErrStartBeyondEnd] for a From at or after the end, [ErrCanceled], ...
func Peaks(ctx context.Context, src io.Reader, n int, opts *PeaksOptions) (*Waveform, error) {
	if src == nil {
		return nil, fmt.Errorf("peaks: %w: nil reader", ErrUnsupportedOption)
	}
	return peaks(ctx, source{r: src}, n, opts)
}

// PeaksFile is Peaks on the file at path.
func PeaksFile(ctx context.Context, path string, n int, opts *PeaksOptions) (*Waveform, error) {
	return peaks(ctx, source{path: path}, n, opts)
}

func peaks(ctx context.Context, src source, n int, opts *PeaksOptions) (*Waveform, error) {
	var o PeaksOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case n < 1 || n > MaxPeaksColumns:
		return nil, fmt.Errorf("peaks: %w: %d columns (want 1 to %d)", ErrUnsupportedOption, n, MaxPeaksColumns)
	case o.From < 0 || o.To < 0:
		return nil, fmt.Errorf("peaks: %w: negative time", ErrUnsupportedOption)
	case o.To != 0 && o.To <= o.From:
		return nil, fmt.Errorf("peaks: %w: range ends at %v, not after its start %v", ErrUnsupportedOption, o.To, o.From)
	case o.Track < 0:
		return nil, fmt.Errorf("peaks: %w: negative track %d", ErrUnsupportedOption, o.Track)
	}
	o.Limits = o.Limits.withDefaults()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("peaks: %w: %w", ErrCanceled, err)
	}
	in, err := openInput(ctx, src, o.Limits, o.Logger)
	if err != nil {
		return nil, fmt.Errorf("peaks: %w", err)
	}
	defer in.close()
	st, track, err := selectTrack(in.fc, in.t0, Options{Track: o.Track, Language: o.Language})
	if err != nil {
		return nil, fmt.Errorf("peaks: %w", err)
	}
	cp := st.CodecParameters()
	if cp.SampleRate() <= 0 || cp.SampleRate() > o.Limits.MaxSampleRate {
		return nil, fmt.Errorf("peaks: %w: sample rate %d Hz", ErrUnsupportedInput, cp.SampleRate())
	}
	if ch := cp.ChannelLayout().Channels(); ch <= 0 || ch > o.Limits.MaxChannels {
		return nil, fmt.Errorf("peaks: %w: %d channels", ErrUnsupportedInput, ch)
	}

	// The timeline's end: the container's length as a player shows it,
	// else where the track ends; 0 when neither is known.
	var end time.Duration
	if d := in.fc.Duration(); d > 0 && d != astiav.NoPtsValue {
		end = time.Duration(d) * time.Microsecond
	} else if track.Duration > 0 {
		end = track.Start + track.Duration
	}
	if end > 0 && o.From >= end {
		return nil, fmt.Errorf("peaks: %w: from %v, the input ends at %v", ErrStartBeyondEnd, o.From, end)
	}
	to := o.To
	if to == 0 {
		to = end
	}

	w := &peaker{ctx: ctx, in: in, st: st, lim: o.Limits, log: o.Logger}
	defer w.close()
	if err := w.openDecoder(); err != nil {
		return nil, fmt.Errorf("peaks: %w", err)
	}
	res := &Waveform{Track: track, From: o.From, To: to}
	if to == 0 {
		// Length unknown: gather fine bins as far as the audio goes (or
		// the work bound), then merge them into n columns.
		bins := int(peaksMaxDecode / peaksBin)
		w.setColumns(o.From.Seconds(), peaksBin.Seconds(), bins, peaksBin.Seconds())
		if err := w.run(); err != nil {
			return nil, fmt.Errorf("peaks: %w", err)
		}
		if w.last <= o.From.Seconds() {
			return nil, fmt.Errorf("peaks: %w: no decodable audio", ErrInvalidInput)
		}
		res.To = time.Duration(math.Ceil((w.last - o.From.Seconds()) * 1e9))
		res.Min, res.Max = w.merge(n, res.To-o.From)
		res.Sampled = w.cut
		return res, nil
	}

	span := (to - o.From).Seconds()
	col := span / float64(n)
	win := col
	if to-o.From > peaksWholeMax {
		// Sampled: one window per column, the windows together about
		// peaksSampledAudio of audio.
		win = min(col, max(peaksSampledAudio.Seconds()/float64(n), 0.01))
	}
	w.setColumns(o.From.Seconds(), col, n, win)
	if err := w.run(); err != nil {
		return nil, fmt.Errorf("peaks: %w", err)
	}
	if w.samples == 0 && w.decErrors > 0 {
		return nil, fmt.Errorf("peaks: %w: no decodable audio", ErrInvalidInput)
	}
	res.Min, res.Max = w.result()
	res.Sampled = win < col || w.cut
	return res, nil
}

// peaker is one Peaks call's decoder and columns. Times are seconds on
// the presentation timeline (0 = the input's start).
type peaker struct {
	ctx context.Context
	in  *input
	st  *astiav.Stream
	lim Limits
	log *slog.Logger

	dec   *astiav.CodecContext
	pkt   *astiav.Packet
	frame *astiav.Frame
	closers

	from, col, win float64 // first column's start, column width, window width
	lo, hi         []float32

	pos       float64 // where decoding stands: the end of the last frame
	known     bool    // pos is known (false right after a seek)
	decoded   float64 // seconds of audio decoded in all
	samples   int64   // samples that fell in a window
	last      float64 // end of the last frame that held audio
	decErrors int
	cut       bool // the work bound stopped decoding early
}

// openDecoder opens the track's decoder (the same setup as an
// extraction's) and the packet and frame it reads into.
func (w *peaker) openDecoder() (err error) {
	if w.dec, _, err = openDecoder(w.st, w.lim.DecoderThreads, w.log, &w.closers); err != nil {
		return err
	}
	w.pkt = astiav.AllocPacket()
	if w.pkt == nil {
		return errors.New("allocating packet failed")
	}
	w.defer_(w.pkt.Free)
	w.frame = astiav.AllocFrame()
	if w.frame == nil {
		return errors.New("allocating frame failed")
	}
	w.defer_(w.frame.Free)
	return nil
}

// setColumns lays out n columns of width col from from, each keeping the
// window of width win at its middle.
func (w *peaker) setColumns(from, col float64, n int, win float64) {
	w.from, w.col, w.win = from, col, win
	w.lo, w.hi = make([]float32, n), make([]float32, n)
	for i := range w.lo {
		w.lo[i], w.hi[i] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
}

// window is column c's window.
func (w *peaker) window(c int) (a, b float64) {
	a = w.from + float64(c)*w.col + (w.col-w.win)/2
	return a, a + w.win
}

// run decodes every column's window in turn: by decoding on when the next
// window is near, else by seeking close before it.
func (w *peaker) run() error {
	preroll, gap := peaksPreroll.Seconds(), peaksSeekGap.Seconds()
	// Decoding starts at the beginning, where the input was left open.
	w.pos, w.known = 0, true
	for c := range w.lo {
		a, b := w.window(c)
		if a-preroll > w.pos+gap {
			if err := w.seek(a - preroll); err != nil {
				return err
			}
		}
		if w.known && w.pos >= b {
			continue
		}
		stopped := false
		_, err := w.in.packets(w.st.Index(), w.pkt, func(pkt *astiav.Packet) (bool, error) {
			if w.decoded > peaksMaxDecode.Seconds() {
				w.cut, stopped = true, true
				return false, nil
			}
			if err := w.dec.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
				w.decErrors++
				return true, nil
			}
			if err := w.receive(); err != nil {
				return false, err
			}
			stopped = w.known && w.pos >= b
			return !stopped, nil
		})
		switch {
		case err != nil:
			return err
		case w.cut:
			return nil
		case !stopped:
			// The input ended (or broke off: what came before stands).
			// Drain the decoder.
			if err := w.dec.SendPacket(nil); err == nil {
				return w.receive()
			}
			return nil
		}
	}
	return nil
}

// seek moves decoding to just before t. A demuxer that cannot seek there
// leaves decoding where it was, to go on from (bounded by peaksMaxDecode).
func (w *peaker) seek(t float64) error {
	ts := astiav.RescaleQ(w.in.t0+int64(t*1e6), astiav.NewRational(1, astiav.TimeBase), w.st.TimeBase())
	if err := w.in.seekFrame(w.st.Index(), ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		if e := w.in.wrapErr("seek", err, ErrInvalidInput); errors.Is(e, ErrCanceled) {
			return e
		}
		return nil
	}
	flushDecoder(w.dec)
	w.known = false
	return nil
}

func (w *peaker) receive() error {
	for {
		err := w.dec.ReceiveFrame(w.frame)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			w.decErrors++
			return nil
		}
		err = w.place(w.frame)
		w.frame.Unref()
		if err != nil {
			return err
		}
	}
}

// place puts a decoded frame's samples into the windows it overlaps.
func (w *peaker) place(f *astiav.Frame) error {
	ns, rate := f.NbSamples(), f.SampleRate()
	if ns <= 0 {
		return nil
	}
	if rate <= 0 || rate > w.lim.MaxSampleRate {
		return fmt.Errorf("%w: decoded sample rate %d Hz", ErrUnsupportedInput, rate)
	}
	if ch := f.ChannelLayout().Channels(); ch <= 0 || ch > w.lim.MaxChannels {
		return fmt.Errorf("%w: decoded %d channels", ErrUnsupportedInput, ch)
	}
	t := w.pos
	pts := f.Pts()
	if pts == astiav.NoPtsValue {
		pts = f.PktDts()
	}
	switch {
	case pts != astiav.NoPtsValue:
		tb := w.st.TimeBase()
		t = float64(pts)*float64(tb.Num())/float64(tb.Den()) - float64(w.in.t0)/1e6
	case !w.known:
		// Just after a seek, a frame that says nothing of where it is
		// cannot be placed.
		return nil
	}
	r := float64(rate)
	dur := float64(ns) / r
	w.pos, w.known = t+dur, true
	w.decoded += dur
	w.last = max(w.last, t+dur)
	n := len(w.lo)
	c0 := int(math.Floor((t - w.from) / w.col))
	c1 := int(math.Floor((t + dur - w.from) / w.col))
	for c := max(c0, 0); c <= min(c1, n-1); c++ {
		a, b := w.window(c)
		i0 := max(int(math.Ceil((a-t)*r)), 0)
		i1 := min(int(math.Ceil((b-t)*r)), ns)
		if i1 <= i0 {
			continue
		}
		C.audex_peaks_minmax((*C.AVFrame)(f.UnsafePointer()), C.int(i0), C.int(i1-i0),
			(*C.float)(&w.lo[c]), (*C.float)(&w.hi[c]))
		w.samples += int64(i1 - i0)
	}
	return nil
}

// result is the columns, clamped to [-1, 1], 0 where nothing landed.
func (w *peaker) result() (lo, hi []float32) {
	lo, hi = make([]float32, len(w.lo)), make([]float32, len(w.hi))
	for i := range w.lo {
		if w.lo[i] <= w.hi[i] {
			lo[i] = min(max(w.lo[i], -1), 1)
			hi[i] = min(max(w.hi[i], -1), 1)
		}
	}
	return lo, hi
}

// merge folds the bins into n columns over span.
func (w *peaker) merge(n int, span time.Duration) (lo, hi []float32) {
	bins, bhi := w.result()
	lo, hi = make([]float32, n), make([]float32, n)
	per := span.Seconds() / float64(n) / w.col // bins per column
	for c := range n {
		b0 := int(math.Floor(float64(c) * per))
		b1 := max(int(math.Ceil(float64(c+1)*per)), b0+1)
		for b := b0; b < min(b1, len(bins)); b++ {
			lo[c] = min(lo[c], bins[b])
			hi[c] = max(hi[c], bhi[b])
		}
	}
	return lo, hi
}
