package extract

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// The cut window in pure Go: no cgo, so its arithmetic is table-tested on
// its own (window_test.go) and every path (transcode, copy) asks it rather
// than redoing the sums in its own units.

// rational is a time base: num/den seconds per tick (AVRational).
type rational struct{ num, den int64 }

// usTB is AV_TIME_BASE_Q, the microseconds of FFmpeg's format-level times.
var usTB = rational{1, 1_000_000}

// rescale converts a from time base b to time base c, rounding to the
// nearest tick with halves away from zero, as av_rescale_q does. Results
// that do not fit in an int64 saturate.
func rescale(a int64, b, c rational) int64 {
	num, den := b.num*c.den, c.num*b.den // both positive for real time bases
	if den <= 0 || num < 0 {
		return math.MinInt64
	}
	if a == math.MinInt64 {
		return math.MinInt64
	}
	neg := a < 0
	if neg {
		a = -a
	}
	hi, lo := bits.Mul64(uint64(a), uint64(num))
	lo, carry := bits.Add64(lo, uint64(den/2), 0)
	hi += carry
	var q uint64
	if hi >= uint64(den) {
		q = math.MaxInt64
	} else {
		q, _ = bits.Div64(hi, lo, uint64(den))
		q = min(q, math.MaxInt64)
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

// noEnd is a window's end when it runs to the end of the audio.
const noEnd = math.MaxInt64

// window is the part of the input's presentation timeline one extraction
// keeps, counted in samples at one rate (the output's when transcoding,
// the stream's when copying) from the timeline's zero. It is built once,
// from the options and the stream, and answers where to seek, how many
// samples to drop at each end and whether the start lies beyond the end.
type window struct {
	rate  int
	start int64 // first sample of the output
	end   int64 // one past the last sample of the output; noEnd when open
	// lead is how many samples before start the encoder is fed as well:
	// compensation for priming a container cannot signal (see encSpec).
	lead int64
	// max is the most samples an open window may hold
	// (Limits.MaxOutputDuration).
	max int64

	tb   rational // the stream's time base
	zero int64    // the timeline's zero, in microseconds (input.t0)

	asked    time.Duration // Options.Start, for messages
	trackEnd time.Duration // where the container says the track ends; 0 unknown
}

// newWindow is the window o asks for, in samples at rate, on a stream of
// time base tb whose timeline starts at zero (microseconds). lead samples
// before the start are fed to the encoder too; track is the chosen track
// as the container describes it.
func newWindow(o Options, rate int, tb rational, zero, lead int64, track AudioTrack) window {
	w := window{
		rate:  rate,
		start: samplesOf(o.Start, rate),
		end:   noEnd,
		lead:  lead,
		max:   samplesOf(o.Limits.MaxOutputDuration, rate),
		tb:    tb,
		zero:  zero,
		asked: o.Start,
	}
	if o.Duration > 0 {
		w.end = w.start + samplesOf(o.Duration, rate)
	}
	if track.Duration > 0 {
		w.trackEnd = track.Start + track.Duration
	}
	return w
}

// open reports a window that runs to the end of the audio.
func (w window) open() bool { return w.end == noEnd }

// from is the first sample fed to the encoder: start less the lead.
func (w window) from() int64 { return w.start - w.lead }

// sampleTB is the time base of one sample.
func (w window) sampleTB() rational { return rational{1, int64(w.rate)} }

// pos is the sample position on the timeline of a stream timestamp.
func (w window) pos(ts int64) int64 {
	return rescale(ts, w.tb, w.sampleTB()) - rescale(w.zero, usTB, w.sampleTB())
}

// ticks is the stream timestamp of a sample position on the timeline.
func (w window) ticks(pos int64) int64 {
	return rescale(w.zero+rescale(pos, w.sampleTB(), usTB), usTB, w.tb)
}

// snapped is the timeline position of a packet whose timestamp ts the
// container may have rounded (FLV always, and Matroska by default, keep
// milliseconds, which codec frames seldom last): the stream's packets each
// hold frame samples at inRate, so the exact position is on the grid of
// frames anchored at the stream's first packet, first (the continuous
// decode's timeline). ok is false, and ts is to be taken as it is, where
// the time base is fine enough to be exact already, or ts lies farther
// from the grid than rounding to the time base explains (a gap, a frame of
// another size).
func (w window) snapped(ts, first int64, frame, inRate int) (pos int64, ok bool) {
	return w.snappedFrom(ts, first, w.pos(first), frame, inRate)
}

// snappedFrom is snapped with the grid's anchor given as the rounded
// timestamp first of a packet whose exact position is firstPos (an Opus
// stream's first packet, which Matroska dates by its pre-skip rounded to
// the millisecond).
func (w window) snappedFrom(ts, first, firstPos int64, frame, inRate int) (pos int64, ok bool) {
	tick, bound, grid := w.grid(frame, inRate)
	if !grid {
		return 0, false
	}
	d := float64(ts-first) * tick // samples from the first packet
	k := math.Round(d / float64(frame))
	if math.Abs(d-k*float64(frame)) > bound {
		return 0, false
	}
	return firstPos + rescale(int64(k)*int64(frame), rational{1, int64(inRate)}, w.sampleTB()), true
}

// grid says how a stream's timestamps, at inRate with frames of frame
// samples, relate to its samples: tick is the samples per tick of the time
// base; where a tick is longer than a sample, bound is how far rounding
// can put a timestamp from the truth (ts and the anchor each half a tick,
// and half a sample) and grid whether frames are long enough for snapped
// to tell which one a timestamp means.
func (w window) grid(frame, inRate int) (tick, bound float64, grid bool) {
	tick = float64(w.tb.num) * float64(inRate) / float64(w.tb.den)
	bound = tick + 0.5
	return tick, bound, tick > 1 && inRate > 0 && float64(frame) > 2*bound
}

// coarse reports a time base whose ticks are longer than a sample at
// inRate: timestamps in it may have been rounded.
func (w window) coarse(inRate int) bool {
	tick, _, _ := w.grid(0, inRate)
	return tick > 1
}

// seekTarget is where to seek so that preroll of audio before the first
// sample fed gets decoded too: a stream timestamp, or ok false when that
// lies at or before the timeline's zero and reading from the beginning of
// the stream is the way there.
func (w window) seekTarget(preroll time.Duration) (ts int64, ok bool) {
	p := w.from() - samplesOf(preroll, w.rate)
	if p <= 0 {
		return 0, false
	}
	return w.ticks(p), true
}

// clip says, of n samples at position pos, how many in front lie before
// the first sample fed (drop them), how many are inside the window (keep
// them) and how many after its end (drop them).
func (w window) clip(pos, n int64) (head, keep, tail int64) {
	lo := min(max(pos, w.from()), pos+n)
	hi := max(min(pos+n, w.end), lo)
	return lo - pos, hi - lo, pos + n - hi
}

// reached reports whether position pos is at or past the window's end.
func (w window) reached(pos int64) bool { return !w.open() && pos >= w.end }

// length is how many samples the output should hold, or 0 when unknown (an
// open window on a track of unknown duration).
func (w window) length() int64 {
	if !w.open() {
		return w.end - w.start
	}
	if w.trackEnd > 0 {
		return max(samplesOf(w.trackEnd, w.rate)-w.start, 0)
	}
	return 0
}

// overLimit reports whether an open window's output of n samples has gone
// past Limits.MaxOutputDuration (a closed one was checked by Options).
func (w window) overLimit(n int64) bool { return w.open() && n > w.max }

// beyondEnd is ErrStartBeyondEnd saying where the audio ends: at sample
// position audioEnd, or, when that is unknown (< 0), where the container
// says the track ends.
func (w window) beyondEnd(audioEnd int64) error {
	end := time.Duration(-1)
	switch {
	case audioEnd >= 0:
		end = durationOf(audioEnd, w.rate)
	case w.trackEnd > 0:
		end = w.trackEnd
	}
	if end < 0 {
		return fmt.Errorf("%w: start %v, the audio ends earlier", ErrStartBeyondEnd, w.asked)
	}
	return fmt.Errorf("%w: start %v, the audio ends at %v", ErrStartBeyondEnd, w.asked, end.Round(time.Millisecond))
}

// durationOf converts samples at rate to a time.Duration, rounded to the
// nearest nanosecond.
func durationOf(samples int64, rate int) time.Duration {
	return time.Duration(math.Round(float64(samples) * 1e9 / float64(rate)))
}

// samplesOf converts d to samples at rate, rounded to the nearest sample.
func samplesOf(d time.Duration, rate int) int64 {
	return int64(math.Round(d.Seconds() * float64(rate)))
}
