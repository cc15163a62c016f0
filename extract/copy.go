package extract

import (
	"errors"
	"fmt"
	"strings"
	"time"

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

// startBeyondEnd is ErrStartBeyondEnd saying where the audio ends: at end
// on the presentation timeline, or, when that is unknown (< 0), where the
// container says the track ends.
func (p *pipeline) startBeyondEnd(end time.Duration) error {
	if end < 0 && p.track.Duration > 0 {
		end = p.track.Start + p.track.Duration
	}
	if end < 0 {
		return fmt.Errorf("%w: start %v, the audio ends earlier", ErrStartBeyondEnd, p.o.Start)
	}
	return fmt.Errorf("%w: start %v, the audio ends at %v", ErrStartBeyondEnd, p.o.Start, end.Round(time.Millisecond))
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

	tb := p.st.TimeBase()
	usTB := astiav.NewRational(1, astiav.TimeBase)
	t0 := astiav.RescaleQ(p.t0(), usTB, tb)
	start := t0 + astiav.RescaleQ(p.o.Start.Microseconds(), usTB, tb)
	end := int64(-1)
	if p.o.Duration > 0 {
		end = start + astiav.RescaleQ(p.o.Duration.Microseconds(), usTB, tb)
	}
	if p.o.Start > 0 {
		if err := p.in.seekFrame(p.st.Index(), start, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
			return nil, p.in.wrapErr("seek", err, ErrInvalidInput)
		}
	}
	maxDur := astiav.RescaleQ(p.o.Limits.MaxOutputDuration.Microseconds(), usTB, tb)
	first, last := int64(-1), int64(-1)
	var kept int
	truncated := false
	for {
		if err := p.canceled(); err != nil {
			return nil, err
		}
		err := p.in.readFrame(pkt)
		if err != nil {
			if errors.Is(err, astiav.ErrEof) {
				break
			}
			if e := p.in.wrapErr("read packet", err, ErrInvalidInput); errors.Is(e, ErrCanceled) || p.in.rd.err != nil {
				return nil, e
			}
			truncated = true
			break
		}
		if pkt.StreamIndex() != p.st.Index() {
			pkt.Unref()
			continue
		}
		if kept == 0 && packetEncrypted(pkt) {
			pkt.Unref()
			return nil, fmt.Errorf("%w: %w", ErrUnsupportedInput, ErrEncrypted)
		}
		pts := pkt.Pts()
		if pts == astiav.NoPtsValue {
			pts = pkt.Dts()
		}
		if pts != astiav.NoPtsValue {
			if pts+pkt.Duration() <= start && p.o.Start > 0 {
				pkt.Unref()
				continue
			}
			if end >= 0 && pts >= end {
				pkt.Unref()
				break
			}
			if first < 0 {
				first = pts
			}
			last = pts + pkt.Duration()
			if last-first > maxDur {
				pkt.Unref()
				return nil, fmt.Errorf("%w: more than %v of audio", ErrOutputLimit, p.o.Limits.MaxOutputDuration)
			}
		}
		pkt.SetStreamIndex(p.ost.Index())
		pkt.RescaleTs(tb, p.ost.TimeBase())
		pkt.SetPos(-1)
		kept++
		if err := p.ofc.WriteInterleavedFrame(pkt); err != nil {
			return nil, p.outErr("write packet", err)
		}
	}
	if kept == 0 {
		if p.o.Start > 0 {
			return nil, p.startBeyondEnd(-1)
		}
		return nil, fmt.Errorf("%w: no audio packets", ErrInvalidInput)
	}
	if err := p.finishOutput(); err != nil {
		return nil, err
	}
	rate := cp.SampleRate()
	outTB := astiav.NewRational(1, rate)
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
		res.StartSample = max(astiav.RescaleQ(first-t0, tb, outTB), 0)
		res.Samples = astiav.RescaleQ(last-max(first, t0), tb, outTB)
		res.Start = durationOf(res.StartSample, rate)
		res.Duration = durationOf(res.Samples, rate)
	}
	if p.o.Progress != nil {
		p.o.Progress(Progress{Done: res.Duration, Total: res.Duration})
	}
	return res, nil
}
