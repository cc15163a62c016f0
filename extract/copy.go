package extract

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/asticode/go-astiav"
)

// trimKind is how an output container tells a player to drop samples at
// either end of the stream: what makes a copied cut exact.
type trimKind int

const (
	// trimNone: the container cannot say (ADTS, AC-3, AMR, WMA, FLAC, WAV).
	trimNone trimKind = iota
	// trimEditList: MP4's edit list; its media time skips the samples
	// before the cut in the first copied packet, its segment duration ends
	// the track at the cut's end.
	trimEditList
	// trimLAME: the LAME tag's encoder delay and padding, 12 bits each,
	// which FFmpeg's mp3 muxer writes from skip-samples side data.
	trimLAME
	// trimOgg: Ogg Opus's pre-skip (16 bits, in the header) and the final
	// page's granule position (RFC 7845), which FFmpeg's ogg muxer writes
	// from the stream's initial padding and the packets' times.
	trimOgg
)

// maxLAMEPad is the most either 12-bit field of the LAME tag holds.
const maxLAMEPad = 1<<12 - 1

// maxPreSkip is the most Ogg Opus's 16-bit pre-skip holds.
const maxPreSkip = 1<<16 - 1

// mp3DecoderDelay is what decoders add to the LAME tag's encoder delay
// (and to its padding): the 528 samples of the synthesis filterbank, plus
// one (mp3dec.c, mp3enc.c).
const mp3DecoderDelay = 529

// errNotExact: this copy would not be exact (a reservoir deeper than the
// LAME tag can skip, a cut before what it can express). Nothing has been
// written yet.
var errNotExact = errors.New("copy cannot be exact")

// copyable decides whether packets go to the output unchanged. They do
// when the container takes the source codec, nothing about the audio must
// change, and the copy is exact: the container signals where the cut
// starts and ends (m4a, mp3), or there is no cut and nothing the source
// signals is lost. With CopyAlways anything else is ErrUnsupportedOption,
// saying why.
func (p *pipeline) copyable() (bool, error) {
	o, cp := p.o, p.st.CodecParameters()
	if o.Copy == CopyNever {
		return false, nil
	}
	why := ""
	switch {
	case cp.CodecID() != p.spec.codec:
		why = fmt.Sprintf("%s holds %s, the source is %s", o.Format, p.spec.codec.Name(), p.track.Codec)
	case (o.SampleRate > 0 && o.SampleRate != cp.SampleRate()) ||
		(o.Channels > 0 && o.Channels != cp.ChannelLayout().Channels()) || o.Bitrate > 0:
		why = "the sample rate, channels or bit rate asked for change the audio"
	case p.spec.trim != trimNone:
		return true, nil
	case o.Start > 0 || o.Duration > 0:
		why = fmt.Sprintf("%s cannot signal where a cut starts and ends, so a copy would start and end on packet boundaries", o.Format)
	case o.Format == AAC:
		why = "ADTS cannot carry the encoder delay the source signals"
	}
	if why == "" {
		return true, nil
	}
	if o.Copy == CopyAlways {
		return false, fmt.Errorf("%w: cannot stream-copy %s into %s exactly: %s (copy=auto re-encodes)", ErrUnsupportedOption, p.track.Codec, o.Format, why)
	}
	return false, nil
}

// copyPackets remuxes the track's packets: exactly, through the container's
// own signalling, where it has some (see trimKind); else the whole track.
func (p *pipeline) copyPackets() (*Result, error) {
	if p.spec.trim != trimNone {
		return p.copyExact()
	}
	return p.copyWhole()
}

// copyOutput opens the muxer for a copy of the track, in time base tb.
func (p *pipeline) copyOutput(muxOpts map[string]string, tb astiav.Rational) error {
	cp := p.st.CodecParameters()
	return p.openOutput(muxOpts, func(ost *astiav.Stream) error {
		if err := cp.Copy(ost.CodecParameters()); err != nil {
			return fmt.Errorf("open output: %w", err)
		}
		ost.CodecParameters().SetCodecTag(0)
		ost.SetTimeBase(tb)
		return nil
	})
}

// copiedResult is the Result of a copy of samples [start, start+n).
func (p *pipeline) copiedResult(w window, n int64, delay int, truncated bool) *Result {
	cp := p.st.CodecParameters()
	res := &Result{
		Format:       p.o.Format,
		Codec:        cp.CodecID().Name(),
		SampleRate:   w.rate,
		Channels:     cp.ChannelLayout().Channels(),
		Bitrate:      cp.BitRate(),
		Start:        durationOf(w.start, w.rate),
		StartSample:  w.start,
		Duration:     durationOf(n, w.rate),
		Samples:      n,
		Bytes:        p.wr.end,
		Copied:       true,
		Truncated:    truncated,
		Input:        p.track,
		EncoderDelay: delay,
	}
	if l := cp.ChannelLayout(); l.Valid() {
		res.ChannelLayout = l.String()
	}
	if p.o.Progress != nil {
		p.o.Progress(Progress{Done: res.Duration, Total: res.Duration})
	}
	return res
}

// copiedPacket is a packet held back by the copy, at its timeline position.
type copiedPacket struct {
	pkt    *astiav.Packet
	pos, n int64
}

// copyExact copies the packets that cover the window plus those the decoder
// needs before it, timed so that the window's first sample is at 0, and
// has the container drop the surplus at both ends.
func (p *pipeline) copyExact() (*Result, error) {
	cp := p.st.CodecParameters()
	rate := cp.SampleRate()
	tb := p.st.TimeBase()
	w := newWindow(p.o, rate, rat(tb), p.t0(), 0, p.track)
	// The grid's anchor is the stream's first packet: for Opus in
	// Matroska, dated by its pre-skip rounded, exactly the pre-skip before
	// the first played sample.
	first := p.st.StartTime()
	firstPos := int64(0)
	if first != astiav.NoPtsValue {
		firstPos = w.pos(first)
		if s := streamStart(p.in.fc, p.st); s != first {
			firstPos = w.pos(s) - rescale(int64(initialPaddingOf(cp)), rational{1, int64(rate)}, w.sampleTB())
		}
	}
	grid := frameGrid(cp, 0)
	// Each packet's place on the timeline: milliseconds put back on the
	// frame grid (see window.snapped), the frame size for its length.
	place := func(pkt *astiav.Packet, next int64) (pos, n int64) {
		pos = next
		if ts := pkt.Pts(); ts != astiav.NoPtsValue {
			pos = w.pos(ts)
			if first != astiav.NoPtsValue {
				if q, ok := w.snappedFrom(ts, first, firstPos, grid, rate); ok {
					pos = q
				}
			}
		}
		switch {
		case cp.CodecID() == astiav.CodecIDOpus:
			n = rescale(int64(opusPacketSamples(pkt.Data())), rational{1, 48000}, w.sampleTB())
		case cp.FrameSize() > 0:
			n = int64(cp.FrameSize())
		default:
			n = rescale(pkt.Duration(), rat(tb), w.sampleTB())
		}
		return pos, n
	}

	if ts, ok := w.seekTarget(preroll); ok {
		if err := p.in.seekFrame(p.st.Index(), ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
			return nil, p.in.wrapErr("seek", err, ErrInvalidInput)
		}
	}

	// Packets before the window are held (the last few) until the one that
	// holds the window's first sample says how many of them to copy.
	const keep = 32 // Opus: 300 ms of 10 ms packets
	var held []copiedPacket
	defer func() {
		for _, h := range held {
			h.pkt.Free()
		}
	}()
	hold := func(pkt *astiav.Packet, pos, n int64) error {
		c := astiav.AllocPacket()
		if c == nil {
			return errors.New("allocating packet failed")
		}
		c.MoveRef(pkt)
		held = append(held, copiedPacket{c, pos, n})
		return nil
	}

	opened := false
	var skip, end, next int64
	var written int
	truncated, err := p.in.packets(p.st.Index(), p.pkt(), func(pkt *astiav.Packet) (bool, error) {
		pos, n := place(pkt, next)
		next = pos + n
		if !opened {
			if pos+n <= w.start {
				if len(held) == keep {
					held[0].pkt.Free()
					held = held[1:]
				}
				return true, hold(pkt, pos, n)
			}
			if err := hold(pkt, pos, n); err != nil {
				return false, err
			}
			from, err := p.copyFrom(held, w)
			if err != nil {
				return false, err
			}
			for _, h := range held[:from] {
				h.pkt.Free()
			}
			held = held[from:]
			skip = w.start - held[0].pos
			if err := p.openCopy(skip, w); err != nil {
				return false, err
			}
			opened = true
			// Everything held but the newest goes out; the newest is
			// held back in case it is the last.
			for len(held) > 1 {
				if err := p.writeCopied(held[0], w, skip, -1, written == 0); err != nil {
					return false, err
				}
				written++
				held[0].pkt.Free()
				held = held[1:]
			}
			return !w.reached(pos + n), nil
		}
		if w.reached(pos) {
			return false, nil
		}
		if w.overLimit(pos + n - w.start) {
			return false, fmt.Errorf("%w: more than %v of audio", ErrOutputLimit, p.o.Limits.MaxOutputDuration)
		}
		if err := p.writeCopied(held[0], w, skip, -1, written == 0); err != nil {
			return false, err
		}
		written++
		held[0].pkt.Free()
		held = held[:0]
		if err := hold(pkt, pos, n); err != nil {
			return false, err
		}
		return !w.reached(pos + n), nil
	})
	if err != nil {
		return nil, err
	}
	if !opened {
		if w.start > 0 {
			return nil, w.beyondEnd(-1)
		}
		return nil, fmt.Errorf("%w: no audio packets", ErrInvalidInput)
	}
	last := held[0]
	end = last.pos + last.n
	switch {
	case !w.open():
		end = min(end, w.end)
	case !w.coarse(rate) && last.pkt.Duration() > 0:
		// The source's own end: its last packet's duration (an MP4's
		// stts) or its end padding (an MP3's LAME tag).
		end = min(end, last.pos+rescale(last.pkt.Duration(), rat(tb), w.sampleTB()))
	}
	if ss, ok := last.pkt.SideData().SkipSamples().Get(); ok && w.open() && int64(ss.SkipEnd) < last.n {
		end = min(end, last.pos+last.n-int64(ss.SkipEnd))
	}
	if err := p.writeCopied(last, w, skip, end, written == 0); err != nil {
		return nil, err
	}
	if err := p.finishOutput(); err != nil {
		return nil, err
	}
	return p.copiedResult(w, end-w.start, int(skip), truncated), nil
}

// pkt is a packet for reading, freed with the pipeline.
func (p *pipeline) pkt() *astiav.Packet {
	pkt := astiav.AllocPacket()
	if pkt != nil {
		p.defer_(pkt.Free)
	}
	return pkt
}

// copyFrom is the index of the first held packet the copy starts with, the
// last one being the packet that holds the window's first sample: the
// packets before it the decoder needs to settle, where there are some.
func (p *pipeline) copyFrom(held []copiedPacket, w window) (int, error) {
	k := len(held) - 1
	switch p.spec.trim {
	case trimOgg:
		// Opus's decoder needs its seek pre-roll (80 ms) to be usable and
		// the transcoder's 300 ms to agree with the continuous decode to
		// float precision.
		pre := max(int64(seekPrerollOf(p.st.CodecParameters())), samplesOf(preroll, w.rate))
		from := k
		for from > 0 && held[from].pos > w.start-pre {
			from--
		}
		if skip := w.start - held[from].pos; skip > maxPreSkip {
			return 0, fmt.Errorf("%w: the cut needs %d samples skipped, more than Ogg Opus's pre-skip holds (%d)", errNotExact, skip, maxPreSkip)
		}
		return from, nil
	case trimEditList:
		// AAC's overlap and transform windows: two frames before are
		// plenty; the edit list skips any number of samples.
		return max(k-2, 0), nil
	}
	frames := make([][]byte, len(held))
	for i, h := range held {
		frames[i] = h.pkt.Data()
	}
	from, ok := mp3Needs(frames, k)
	if !ok {
		return 0, fmt.Errorf("%w: the bit reservoir reaches further back than the %d frames held", errNotExact, len(held))
	}
	skip := w.start - held[from].pos
	if skip > 0 && skip < mp3DecoderDelay && from > 0 {
		from-- // the LAME tag's delay cannot be negative
		skip = w.start - held[from].pos
	}
	if skip > maxLAMEPad+mp3DecoderDelay {
		return 0, fmt.Errorf("%w: the cut needs %d samples skipped, more than the LAME tag's encoder delay holds (%d)", errNotExact, skip-mp3DecoderDelay, maxLAMEPad)
	}
	if skip > 0 && skip < mp3DecoderDelay {
		return 0, fmt.Errorf("%w: the cut lies %d samples into a stream whose priming is not signalled, less than the LAME tag can express", errNotExact, skip)
	}
	return from, nil
}

// openCopy opens the muxer for an exact copy that skips skip samples.
func (p *pipeline) openCopy(skip int64, w window) error {
	if p.spec.trim == trimOgg {
		cp := p.st.CodecParameters()
		return p.openOutput(nil, func(ost *astiav.Stream) error {
			ocp := ost.CodecParameters()
			if err := cp.Copy(ocp); err != nil {
				return fmt.Errorf("open output: %w", err)
			}
			ocp.SetCodecTag(0)
			ost.SetTimeBase(astiav.NewRational(1, w.rate))
			// The pre-skip, in the OpusHead the muxer writes as it is and
			// in the initial padding its granule positions count.
			head := cp.ExtraData()
			if len(head) < 19 || string(head[:8]) != "OpusHead" {
				return fmt.Errorf("%w: the source's Opus header is missing", errNotExact)
			}
			binary.LittleEndian.PutUint16(head[10:], uint16(skip))
			if err := ocp.SetExtraData(head); err != nil {
				return fmt.Errorf("open output: %w", err)
			}
			setInitialPadding(ocp, int(skip))
			return nil
		})
	}
	var muxOpts map[string]string
	if p.spec.trim == trimLAME {
		// No LAME tag for a copy that trims nothing, whose source did not
		// signal its priming (an MP3 inside a video container): the tag
		// would have decoders skip 529 samples the source plays.
		xing := "1"
		if skip == 0 && w.open() {
			xing = "0"
		} else if skip == 0 {
			return fmt.Errorf("%w: a cut from the stream's first sample that ends early needs the LAME tag, which then skips 529 samples the source plays", errNotExact)
		}
		muxOpts = map[string]string{"write_xing": xing}
	}
	return p.copyOutput(muxOpts, astiav.NewRational(1, w.rate))
}

// writeCopied writes a copied packet timed so that the window's first
// sample is at 0; end >= 0 marks the last packet and where the copy ends.
func (p *pipeline) writeCopied(c copiedPacket, w window, skip, end int64, first bool) error {
	pkt := c.pkt
	ts := c.pos - w.start
	pkt.SetPts(ts)
	pkt.SetDts(ts)
	pkt.SetDuration(c.n)
	if end >= 0 && (p.spec.trim == trimEditList || p.spec.trim == trimOgg) {
		// The segment (m4a) or the last granule position (ogg) ends at
		// the cut: the last packet's duration is cut.
		pkt.SetDuration(max(end-c.pos, 1))
	}
	if p.spec.trim == trimLAME {
		ss := &astiav.SkipSamples{}
		if first {
			ss.SkipStart = uint32(skip)
		}
		if end >= 0 {
			ss.SkipEnd = uint32(max(c.pos+c.n-end, 0))
		}
		if err := pkt.SideData().SkipSamples().Add(ss); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
	}
	pkt.SetStreamIndex(p.ost.Index())
	pkt.RescaleTs(astiav.NewRational(1, w.rate), p.ost.TimeBase())
	pkt.SetPos(-1)
	if err := p.ofc.WriteInterleavedFrame(pkt); err != nil {
		return p.outErr("write packet", err)
	}
	return nil
}

// copyWhole remuxes every packet of the track unchanged (no cut).
func (p *pipeline) copyWhole() (*Result, error) {
	cp := p.st.CodecParameters()
	var muxOpts map[string]string
	if p.o.Format == MP3 {
		muxOpts = map[string]string{"write_xing": "0"}
	}
	if err := p.copyOutput(muxOpts, p.st.TimeBase()); err != nil {
		return nil, err
	}
	rate := cp.SampleRate()
	tb := p.st.TimeBase()
	w := newWindow(p.o, rate, rat(tb), p.t0(), 0, p.track)
	first, last := int64(-1), int64(-1)
	var kept int
	truncated, err := p.in.packets(p.st.Index(), p.pkt(), func(pkt *astiav.Packet) (bool, error) {
		pts := pkt.Pts()
		if pts == astiav.NoPtsValue {
			pts = pkt.Dts()
		}
		if pts != astiav.NoPtsValue {
			if first < 0 {
				first = pts
			}
			last = pts + pkt.Duration()
			if w.overLimit(w.pos(last) - w.pos(first)) {
				return false, fmt.Errorf("%w: more than %v of audio", ErrOutputLimit, p.o.Limits.MaxOutputDuration)
			}
		}
		pkt.SetStreamIndex(p.ost.Index())
		pkt.RescaleTs(tb, p.ost.TimeBase())
		pkt.SetPos(-1)
		kept++
		if err := p.ofc.WriteInterleavedFrame(pkt); err != nil {
			return false, p.outErr("write packet", err)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if kept == 0 {
		return nil, fmt.Errorf("%w: no audio packets", ErrInvalidInput)
	}
	if err := p.finishOutput(); err != nil {
		return nil, err
	}
	var n int64
	if first >= 0 {
		n = w.pos(last) - max(w.pos(first), 0)
	}
	res := p.copiedResult(w, n, 0, truncated)
	if first >= 0 {
		res.StartSample = max(w.pos(first), 0)
		res.Start = durationOf(res.StartSample, rate)
	}
	return res, nil
}
