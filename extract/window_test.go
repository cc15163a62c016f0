package extract

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRescale(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a    int64
		b, c rational
		want int64
	}{
		{0, usTB, rational{1, 48000}, 0},
		{1_000_000, usTB, rational{1, 48000}, 48000},
		{1, rational{1, 48000}, usTB, 21},                 // 20.83 µs
		{3, rational{1, 48000}, usTB, 63},                 // 62.5 µs: halves away from zero
		{-3, rational{1, 48000}, usTB, -63},               // and symmetric
		{1, rational{1, 44100}, rational{1, 1000}, 0},     // 0.0227 ms
		{1152, rational{1, 44100}, rational{1, 1000}, 26}, // an MP3 frame: 26.12 ms
		{1024, rational{1, 44100}, rational{1, 1000}, 23}, // an AAC frame: 23.22 ms
		{90_000 * 3600 * 24, rational{1, 90000}, rational{1, 48000}, 48000 * 3600 * 24},
		{math.MaxInt64, rational{1, 1}, rational{1, 1_000_000}, math.MaxInt64}, // saturates
		{math.MinInt64, usTB, usTB, math.MinInt64},                             // AV_NOPTS_VALUE stays
	} {
		assert.Equal(t, c.want, rescale(c.a, c.b, c.c), "%d × %v → %v", c.a, c.b, c.c)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	ms := rational{1, 1000}
	lim := Limits{}.withDefaults()
	for _, c := range []struct {
		name  string
		o     Options
		rate  int
		tb    rational
		zero  int64 // µs
		lead  int64
		track AudioTrack

		start, end, from int64
		open             bool
		seek             int64 // stream ticks; -1: read from the beginning
		length           int64
	}{
		{name: "whole file", o: Options{}, rate: 48000, tb: rational{1, 48000},
			start: 0, end: noEnd, from: 0, open: true, seek: -1},
		{name: "whole file, known length", o: Options{}, rate: 48000, tb: rational{1, 48000},
			track: AudioTrack{Duration: 3 * time.Second},
			start: 0, end: noEnd, from: 0, open: true, seek: -1, length: 144000},
		{name: "open from a start, track starting late", o: Options{Start: time.Second}, rate: 8000, tb: ms,
			track: AudioTrack{Start: 500 * time.Millisecond, Duration: 2 * time.Second},
			start: 8000, end: noEnd, from: 8000, open: true, seek: 700, length: 12000},
		{name: "start within the preroll", o: Options{Start: 200 * time.Millisecond, Duration: time.Second},
			rate: 48000, tb: rational{1, 48000},
			start: 9600, end: 57600, from: 9600, seek: -1, length: 48000},
		{name: "fractional start, rounded to the nearest sample", o: Options{Start: seconds(3.3701), Duration: seconds(2.5)},
			rate: 48000, tb: rational{1, 90000},
			start: 161765, end: 161765 + 120000, from: 161765, seek: 276309, length: 120000},
		{name: "lead before the start", o: Options{Start: time.Second, Duration: time.Second},
			rate: 48000, tb: rational{1, 48000}, lead: 1024,
			start: 48000, end: 96000, from: 46976, seek: 46976 - 14400, length: 48000},
		{name: "timeline zero after the stream's zero", o: Options{Start: 2 * time.Second, Duration: time.Second},
			rate: 44100, tb: ms, zero: 1_400_000,
			start: 88200, end: 132300, from: 88200, seek: 3100, length: 44100},
		{name: "lead reaching before zero", o: Options{Start: 10 * time.Millisecond, Duration: time.Second},
			rate: 48000, tb: rational{1, 48000}, lead: 1600,
			start: 480, end: 48480, from: -1120, seek: -1, length: 48000},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.o.Limits = lim
			w := newWindow(c.o, c.rate, c.tb, c.zero, c.lead, c.track)
			assert.Equal(t, c.start, w.start, "start")
			assert.Equal(t, c.end, w.end, "end")
			assert.Equal(t, c.from, w.from(), "from")
			assert.Equal(t, c.open, w.open(), "open")
			assert.Equal(t, c.length, w.length(), "length")
			ts, ok := w.seekTarget(preroll)
			if c.seek < 0 {
				assert.False(t, ok, "reads from the beginning")
			} else {
				assert.True(t, ok, "seeks")
				assert.Equal(t, c.seek, ts, "seek target")
			}
			// pos and ticks are inverses at sample precision.
			for _, p := range []int64{0, 1, c.start, c.from} {
				assert.InDelta(t, p, w.pos(w.ticks(p)), float64(c.rate)*tickSeconds(c.tb)/2+0.5, "pos(ticks(%d))", p)
			}
			assert.False(t, w.reached(w.start))
			assert.Equal(t, !c.open, w.reached(c.end))
		})
	}
}

func tickSeconds(tb rational) float64 { return float64(tb.num) / float64(tb.den) }

func TestWindowClip(t *testing.T) {
	t.Parallel()
	w := newWindow(Options{Start: time.Second, Duration: 10 * time.Millisecond, Limits: Limits{}.withDefaults()},
		48000, rational{1, 48000}, 0, 100, AudioTrack{})
	// The window feeds [47900, 48480).
	for _, c := range []struct {
		pos, n, head, keep, tail int64
	}{
		{0, 1024, 1024, 0, 0},           // wholly before
		{47000, 1024, 900, 124, 0},      // straddles the first sample fed
		{47900, 580, 0, 580, 0},         // exactly the window
		{48000, 1024, 0, 480, 544},      // straddles the end
		{47000, 2048, 900, 580, 568},    // covers the whole window
		{48480, 1024, 0, 0, 1024},       // wholly after
		{48100, 0, 0, 0, 0},             // nothing
		{48479, 1, 0, 1, 0},             // the last sample
		{-4096, 1024, 1024, 0, 0},       // before zero
		{47899, 2, 1, 1, 0},             // one in
		{48480 - 1, 2, 0, 1, 1},         // one out
		{47900 - 10, 10, 10, 0, 0},      // ends where the window begins
		{48480, 0, 0, 0, 0},             // empty at the end
		{40000, 10000, 7900, 580, 1520}, // a long chunk
	} {
		head, keep, tail := w.clip(c.pos, c.n)
		assert.Equal(t, [3]int64{c.head, c.keep, c.tail}, [3]int64{head, keep, tail}, "clip(%d, %d)", c.pos, c.n)
	}
	open := newWindow(Options{Limits: Limits{}.withDefaults()}, 48000, rational{1, 48000}, 0, 0, AudioTrack{})
	head, keep, tail := open.clip(1<<40, 1024)
	assert.Equal(t, [3]int64{0, 1024, 0}, [3]int64{head, keep, tail}, "an open window keeps everything after its start")
}

func TestWindowLimits(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxOutputDuration: time.Second}.withDefaults()
	open := newWindow(Options{Limits: lim}, 8000, rational{1, 8000}, 0, 0, AudioTrack{})
	assert.False(t, open.overLimit(8000))
	assert.True(t, open.overLimit(8001))
	closed := newWindow(Options{Duration: time.Second, Limits: lim}, 8000, rational{1, 8000}, 0, 0, AudioTrack{})
	assert.False(t, closed.overLimit(1<<40), "a closed window's length was checked against the limit up front")
}

func TestWindowBeyondEnd(t *testing.T) {
	t.Parallel()
	lim := Limits{}.withDefaults()
	w := newWindow(Options{Start: 5 * time.Second, Limits: lim}, 48000, rational{1, 48000}, 0, 0,
		AudioTrack{Start: 500 * time.Millisecond, Duration: 3 * time.Second})
	for _, c := range []struct {
		audioEnd int64
		want     string
	}{
		{144000, "start beyond end of audio: start 5s, the audio ends at 3s"},
		{-1, "start beyond end of audio: start 5s, the audio ends at 3.5s"},
	} {
		err := w.beyondEnd(c.audioEnd)
		assert.ErrorIs(t, err, ErrStartBeyondEnd)
		assert.EqualError(t, err, c.want)
	}
	unknown := newWindow(Options{Start: 5 * time.Second, Limits: lim}, 48000, rational{1, 48000}, 0, 0, AudioTrack{})
	assert.EqualError(t, unknown.beyondEnd(-1), "start beyond end of audio: start 5s, the audio ends earlier")
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func TestWindowSnapped(t *testing.T) {
	t.Parallel()
	lim := Limits{}.withDefaults()
	ms := rational{1, 1000}
	at44 := newWindow(Options{Limits: lim}, 44100, ms, 0, 0, AudioTrack{})
	at48 := newWindow(Options{Limits: lim}, 48000, ms, -23_000, 0, AudioTrack{})
	for _, c := range []struct {
		name        string
		w           window
		ts, first   int64
		frame, rate int
		pos         int64
		ok          bool
	}{
		{"MP3 frame 100 at 26.122 ms, stored 2612 ms", at44, 2612, 0, 1152, 44100, 115200, true},
		{"AAC frame 43, stored 998 ms", at44, 998, 0, 1024, 44100, 44032, true},
		{"first packet before zero (-23 ms), frame 10", at44, 209, -23, 1024, 44100, -1014 + 10240, true},
		{"output at another rate", at48, 209, -23, 1024, 44100, 0 + 11146, true},
		{"off the grid by more than a tick: a gap", at44, 2650, 0, 1152, 44100, 0, false},
		{"no frame size", at44, 2612, 0, 0, 44100, 0, false},
		{"a time base finer than a sample", newWindow(Options{Limits: lim}, 44100, rational{1, 44100}, 0, 0, AudioTrack{}), 115200, 0, 1152, 44100, 0, false},
		{"frames shorter than twice the rounding (16 samples at 8 kHz)", at44, 20, 0, 16, 8000, 0, false},
	} {
		pos, ok := c.w.snapped(c.ts, c.first, c.frame, c.rate)
		assert.Equal(t, c.ok, ok, c.name)
		if c.ok {
			assert.Equal(t, c.pos, pos, c.name)
		}
	}
}
