package extract

import (
	"errors"
	"fmt"
	"strings"

	"github.com/asticode/go-astiav"
)

// copyable reports whether packets can go to the output unchanged and still
// keep the accuracy promise: the container takes the source codec, nothing
// about the audio must change, and there is no cut (CopyAlways accepts a cut
// that snaps to packet boundaries). AAC into ADTS is never automatic: ADTS
// cannot carry the priming an MP4 edit list signals.
func (p *pipeline) copyable() bool {
	o, cp := p.o, p.st.CodecParameters()
	if o.Copy == CopyNever || cp.CodecID() != p.spec.codec {
		return false
	}
	if (o.SampleRate > 0 && o.SampleRate != cp.SampleRate()) ||
		(o.Channels > 0 && o.Channels != cp.ChannelLayout().Channels()) || o.Bitrate > 0 {
		return false
	}
	if o.Copy == CopyAlways {
		return true
	}
	if o.Format == AAC || o.Start > 0 || o.Duration > 0 {
		return false
	}
	if o.Format == M4A && p.st.StartTime() != astiav.NoPtsValue && p.st.StartTime() < 0 {
		// An m4a track starts at zero: audio dated before it (Matroska
		// dates AAC's priming packet so, and plays it) would be cut.
		return false
	}
	if o.Format == MP3 {
		// An MP3 stream inside a video container carries its priming
		// unsignalled, and the copy must too (no LAME tag, see
		// copyPackets); a raw MP3 source may have signalled it in a LAME
		// tag the copy would lose, so it is re-encoded.
		return !strings.HasPrefix(p.in.fc.InputFormat().Name(), "mp3")
	}
	return true
}

// copyPackets remuxes the track's packets into the output container.
func (p *pipeline) copyPackets() (*Result, error) {
	cp := p.st.CodecParameters()
	var muxOpts map[string]string
	if p.o.Format == MP3 {
		muxOpts = map[string]string{"write_xing": "0"}
	}
	if err := p.openOutput(muxOpts, func(ost *astiav.Stream) error {
		if err := cp.Copy(ost.CodecParameters()); err != nil {
			return fmt.Errorf("open output: %w", err)
		}
		ost.CodecParameters().SetCodecTag(0)
		ost.SetTimeBase(p.st.TimeBase())
		return nil
	}); err != nil {
		return nil, err
	}
	pkt := astiav.AllocPacket()
	if pkt == nil {
		return nil, errors.New("allocating packet failed")
	}
	defer pkt.Free()

	rate := cp.SampleRate()
	w := newWindow(p.o, rate, rat(p.st.TimeBase()), p.t0(), 0, p.track)
	if ts, ok := w.seekTarget(0); ok {
		if err := p.in.seekFrame(p.st.Index(), ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
			return nil, p.in.wrapErr("seek", err, ErrInvalidInput)
		}
	}
	start, end := w.ticks(w.start), int64(-1)
	if !w.open() {
		end = w.ticks(w.end)
	}
	first, last := int64(-1), int64(-1)
	var kept int
	truncated, err := p.in.packets(p.st.Index(), pkt, func(pkt *astiav.Packet) (bool, error) {
		pts := pkt.Pts()
		if pts == astiav.NoPtsValue {
			pts = pkt.Dts()
		}
		if pts != astiav.NoPtsValue {
			if pts+pkt.Duration() <= start && w.start > 0 {
				return true, nil
			}
			if end >= 0 && pts >= end {
				return false, nil
			}
			if first < 0 {
				first = pts
			}
			last = pts + pkt.Duration()
			if w.overLimit(w.pos(last) - w.pos(first)) {
				return false, fmt.Errorf("%w: more than %v of audio", ErrOutputLimit, p.o.Limits.MaxOutputDuration)
			}
		}
		pkt.SetStreamIndex(p.ost.Index())
		pkt.RescaleTs(p.st.TimeBase(), p.ost.TimeBase())
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
		if w.start > 0 {
			return nil, w.beyondEnd(-1)
		}
		return nil, fmt.Errorf("%w: no audio packets", ErrInvalidInput)
	}
	if err := p.finishOutput(); err != nil {
		return nil, err
	}
	res := &Result{
		Format:       p.o.Format,
		Codec:        cp.CodecID().Name(),
		SampleRate:   rate,
		Channels:     cp.ChannelLayout().Channels(),
		Bitrate:      cp.BitRate(),
		Bytes:        p.wr.end,
		Copied:       true,
		Truncated:    truncated,
		Input:        p.track,
		EncoderDelay: 0,
	}
	if l := cp.ChannelLayout(); l.Valid() {
		res.ChannelLayout = l.String()
	}
	if first >= 0 {
		res.StartSample = max(w.pos(first), 0)
		res.Samples = w.pos(last) - res.StartSample
		res.Start = durationOf(res.StartSample, rate)
		res.Duration = durationOf(res.Samples, rate)
	}
	if p.o.Progress != nil {
		p.o.Progress(Progress{Done: res.Duration, Total: res.Duration})
	}
	return res, nil
}
