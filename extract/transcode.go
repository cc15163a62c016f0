package extract

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/asticode/go-astiav"
)

// preroll is how much audio before the cut is decoded and thrown away, so
// that decoders with overlapping frames (AAC, MP3's bit reservoir, Opus,
// Vorbis) and the resampler are settled when the first kept sample arrives.
const preroll = 300 * time.Millisecond

// transcoder carries the sample-level state of a transcode. Every position is
// in output-rate samples on the input's presentation timeline.
type transcoder struct {
	*pipeline
	dec, enc *astiav.CodecContext
	codec    *astiav.Codec // enc's
	swr      *astiav.SoftwareResampleContext
	swrUsed  bool // swr has been configured by a conversion
	q        *fifo
	params   encParams
	w        window // the cut, at the output rate; w.lead is fed before it

	frameSize int   // samples per encoder frame (0: any)
	smallLast bool  // the encoder takes a short last frame
	delay     int   // encoder priming (initial_padding)
	dropPkts  int   // priming packets dropped where the container cannot signal them
	decDrops  int   // leading frames a decoder swallows by itself
	tail      int64 // silence fed after the window to push the last samples out

	fromStart bool  // decoding from the very beginning of the stream
	anchored  bool  // nextPos is known
	nextPos   int64 // position of the next converted sample
	written   int64 // samples put in the FIFO (silence included)
	done      bool  // the window is full

	encoded   int64 // samples sent to the encoder
	pktSeen   int
	pktKept   int
	decErrors int
	decLimits int   // of decErrors, those FFmpeg's decoder does not implement
	decLog    *sink // the decoder's messages
	truncated bool
	pktsIn    int
	lastProg  int64

	frame, out, encFrame *astiav.Frame
	pkt, encPkt          *astiav.Packet
	stage                *encodeStage
}

var errRestart = errors.New("restart from the beginning")

func (p *pipeline) transcode() (*Result, error) {
	t := &transcoder{pipeline: p}
	if err := t.openDecoder(); err != nil {
		return nil, err
	}
	if err := t.openEncoder(); err != nil {
		return nil, err
	}
	if err := t.allocFrames(); err != nil {
		return nil, err
	}
	t.startEncoder()
	if err := t.seek(); err != nil {
		return nil, err
	}
	for {
		err := t.decodeAll()
		if errors.Is(err, errRestart) {
			if err := t.rewind(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	if err := t.flush(); err != nil {
		return nil, err
	}
	return t.result()
}

func (t *transcoder) openDecoder() (err error) {
	t.dec, t.decLog, err = openDecoder(t.st, t.o.Limits.DecoderThreads, t.o.Logger, &t.closers)
	return err
}

// openDecoder opens st's decoder as every reader of a track does: the
// stream's parameters, at most threads threads, the packet time base, and
// FFmpeg's lines about it routed to lg (the returned sink keeps the last
// error). What it allocates is freed by cl.
func openDecoder(st *astiav.Stream, threads int, lg *slog.Logger, cl *closers) (*astiav.CodecContext, *sink, error) {
	cp := st.CodecParameters()
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return nil, nil, fmt.Errorf("%w: no decoder for %s", ErrUnsupportedInput, cp.CodecID())
	}
	dec := astiav.AllocCodecContext(codec)
	if dec == nil {
		return nil, nil, errors.New("open decoder: allocating codec context failed")
	}
	cl.defer_(dec.Free)
	if err := cp.ToCodecContext(dec); err != nil {
		return nil, nil, fmt.Errorf("open decoder: %w", err)
	}
	dec.SetThreadCount(threads)
	setPktTimebase(dec, st.TimeBase())
	log, detach := attach(lg, dec.UnsafePointer())
	cl.defer_(detach)
	if err := dec.Open(codec, nil); err != nil {
		return nil, nil, fmt.Errorf("open decoder %s: %w: %w%s", codec.Name(), classOf(err, ErrInvalidInput), err, said(log))
	}
	return dec, log, nil
}

func (t *transcoder) openEncoder() error {
	codec := astiav.FindEncoderByName(t.spec.encoder)
	if codec == nil {
		return fmt.Errorf("%w: encoder %s is not in this FFmpeg build", ErrUnsupportedFormat, t.spec.encoder)
	}
	srcLayout := sourceLayout(t.dec.ChannelLayout(), t.st.CodecParameters().ChannelLayout().Channels())
	params, err := chooseParams(t.spec, codec, t.o, t.dec.SampleRate(), srcLayout, t.dec.SampleFormat())
	if err != nil {
		return err
	}
	enc, err := t.newEncoder(codec, params, &t.closers)
	if err != nil {
		return err
	}
	t.enc, t.codec, t.params = enc, codec, params
	t.frameSize = enc.FrameSize()
	t.smallLast = acceptsSmallLastFrame(enc)
	t.delay = initialPadding(enc)
	var lead int64
	if t.spec.roundTrip != nil && t.frameSize > 0 {
		// Compensate what the container cannot signal: drop whole priming
		// packets and shift the input so the first kept one starts at Start.
		r, drops := t.spec.roundTrip(enc)
		if r > 0 {
			t.dropPkts = (r + t.frameSize - 1) / t.frameSize
			if !hasDelay(enc) {
				t.tail = int64(r)
			}
		}
		lead = int64(t.dropPkts*t.frameSize - r)
		t.decDrops = drops
	}
	t.w = newWindow(t.o, params.rate, rat(t.st.TimeBase()), t.t0(), lead, t.track)

	if err := t.openOutput(nil, func(ost *astiav.Stream) error {
		if err := ost.CodecParameters().FromCodecContext(enc); err != nil {
			return fmt.Errorf("open output: %w", err)
		}
		ost.SetTimeBase(enc.TimeBase())
		return nil
	}); err != nil {
		return err
	}
	t.q = newFIFO(params.fmt, params.layout.Channels())
	if t.q == nil {
		return errors.New("allocating audio FIFO failed")
	}
	t.defer_(t.q.free)
	return nil
}

// newEncoder opens an encoder for params: the one whose parameters the
// output stream carries, and each segment's (segments.go). What it
// allocates is freed by cl.
func (t *transcoder) newEncoder(codec *astiav.Codec, params encParams, cl *closers) (*astiav.CodecContext, error) {
	enc := astiav.AllocCodecContext(codec)
	if enc == nil {
		return nil, errors.New("open encoder: allocating codec context failed")
	}
	cl.defer_(enc.Free)
	enc.SetSampleRate(params.rate)
	enc.SetChannelLayout(params.layout)
	enc.SetSampleFormat(params.fmt)
	enc.SetTimeBase(astiav.NewRational(1, params.rate))
	if params.bitrate > 0 {
		enc.SetBitRate(params.bitrate)
	}
	if of := astiav.FindOutputFormat(t.spec.muxer); of != nil && of.Flags().Has(astiav.IOFormatFlagGlobalheader) {
		enc.SetFlags(enc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	}
	encLog, detach := attach(t.o.Logger, enc.UnsafePointer())
	cl.defer_(detach)
	var opts *astiav.Dictionary
	if t.spec.vbrQuality > 0 && params.bitrate == 0 {
		opts = astiav.NewDictionary()
		defer opts.Free()
		const qp2lambda = 118 // FF_QP2LAMBDA
		opts.Set("flags", "+qscale", 0)
		opts.Set("global_quality", strconv.Itoa(t.spec.vbrQuality*qp2lambda), 0)
	}
	if err := enc.Open(codec, opts); err != nil {
		// The caller's option where there was one; else FFmpeg's encoder
		// refusing what the source led to: its limit.
		class := ErrUnsupportedInput
		if t.o.SampleRate > 0 || t.o.Channels > 0 || t.o.Bitrate > 0 {
			class = ErrUnsupportedOption
		}
		return nil, fmt.Errorf("open encoder %s (%d Hz, %s, %d bit/s): %w: %w%s", codec.Name(), params.rate, params.layout, params.bitrate, class, err, said(encLog))
	}
	return enc, nil
}

func (t *transcoder) allocFrames() error {
	t.frame, t.out, t.encFrame = astiav.AllocFrame(), astiav.AllocFrame(), astiav.AllocFrame()
	t.pkt, t.encPkt = astiav.AllocPacket(), astiav.AllocPacket()
	for _, f := range []*astiav.Frame{t.frame, t.out, t.encFrame} {
		if f == nil {
			return errors.New("allocating frame failed")
		}
		t.defer_(f.Free)
	}
	for _, p := range []*astiav.Packet{t.pkt, t.encPkt} {
		if p == nil {
			return errors.New("allocating packet failed")
		}
		t.defer_(p.Free)
	}
	n := t.frameSize
	if n <= 0 {
		n = 4096
	}
	t.encFrame.SetNbSamples(n)
	t.encFrame.SetSampleFormat(t.params.fmt)
	t.encFrame.SetChannelLayout(t.params.layout)
	t.encFrame.SetSampleRate(t.params.rate)
	if err := t.encFrame.AllocBuffer(0); err != nil {
		return fmt.Errorf("allocating encoder frame: %w", err)
	}
	// The resampler is replaced on rewinds and layout changes; whichever
	// is current when the pipeline closes is freed here.
	t.defer_(t.freeResampler)
	return t.newResampler()
}

func (t *transcoder) newResampler() error {
	if t.swr != nil {
		t.swr.Free()
	}
	t.swrUsed = false
	t.swr = astiav.AllocSoftwareResampleContext()
	if t.swr == nil {
		return errors.New("allocating resampler failed")
	}
	return nil
}

func (t *transcoder) freeResampler() {
	if t.swr != nil {
		t.swr.Free()
		t.swr = nil
	}
}

// seek jumps close before the window so a cut deep into a long file costs
// what a cut at its start does. Decoding from the beginning is the fallback
// whenever the demuxer cannot land early enough.
func (t *transcoder) seek() error {
	cp := t.st.CodecParameters()
	pre := preroll
	if n := seekPrerollOf(cp); n > 0 && cp.SampleRate() > 0 {
		pre = max(pre, durationOf(int64(n), cp.SampleRate()))
	}
	ts, ok := t.w.seekTarget(pre)
	if !ok || (t.w.coarse(cp.SampleRate()) && cp.CodecID() == astiav.CodecIDVorbis) {
		// Vorbis packets last 64 to 1024 samples: after a seek in a
		// container that dates them in milliseconds (Matroska), no grid
		// puts the landing packet back to the sample. The only exact
		// anchor is the first packet, and decoding starts there.
		t.fromStart = true
		return nil
	}
	if err := t.in.seekFrame(t.st.Index(), ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		if e := t.in.wrapErr("seek", err, ErrInvalidInput); errors.Is(e, ErrCanceled) {
			return e
		}
		return t.rewind()
	}
	return nil
}

// frameGrid is the step, in samples, of the times a stream's packets can
// start at: for Opus, whose packets last any multiple of 2.5 ms, 2.5 ms;
// none for Vorbis (64 to 1024 samples); else the frame size the container
// declares or, where it declares none (AC-3 and FLAC in Matroska, WMA),
// that of a decoded frame (0: none yet). snapped checks the grid against
// the times.
func frameGrid(cp *astiav.CodecParameters, decoded int) int {
	switch {
	case cp.CodecID() == astiav.CodecIDOpus:
		return cp.SampleRate() / 400
	case cp.CodecID() == astiav.CodecIDVorbis:
		return 0
	case cp.FrameSize() > 0:
		return cp.FrameSize()
	}
	return decoded
}

// rewindInput puts the demuxer back at the first packet of the stream.
func (p *pipeline) rewindInput() error {
	ts := p.st.StartTime()
	if ts == astiav.NoPtsValue {
		ts = 0
	}
	if err := p.in.seekFrame(p.st.Index(), ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		if err := p.in.seekFrame(-1, 0, astiav.NewSeekFlags(astiav.SeekFlagByte)); err != nil {
			return p.in.wrapErr("seek to start", err, ErrInvalidInput)
		}
	}
	return nil
}

// rewind restarts decoding at the first packet of the stream.
func (t *transcoder) rewind() error {
	if err := t.rewindInput(); err != nil {
		return err
	}
	flushDecoder(t.dec)
	if err := t.newResampler(); err != nil {
		return err
	}
	t.fromStart, t.anchored = true, false
	return nil
}

// decodeAll reads and decodes packets until the window is full or the input
// ends.
func (t *transcoder) decodeAll() error {
	if t.done {
		return nil
	}
	truncated, err := t.in.packets(t.st.Index(), t.pkt, func(pkt *astiav.Packet) (bool, error) {
		t.pktsIn++
		if err := t.dec.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
			t.decodeFailed(err)
			return true, nil
		}
		err := t.receiveFrames()
		return !t.done, err
	})
	t.truncated = t.truncated || truncated
	if err != nil || t.done {
		return err
	}
	if d, st := t.st.Duration(), t.st.StartTime(); d > 0 && d != astiav.NoPtsValue && st != astiav.NoPtsValue && t.anchored {
		// The stream ended before the end its own index declares (a file
		// cut short leaves an index promising more): say so.
		if t.w.pos(st+d)-t.nextPos > int64(t.params.rate)/10 {
			t.truncated = true
		}
	}
	// Drain the decoder at the end of the input.
	if err := t.dec.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("flush decoder: %w", err)
	}
	return t.receiveFrames()
}

// decodeFailed counts a packet the decoder rejected (and conceals).
func (t *transcoder) decodeFailed(err error) {
	t.decErrors++
	if classOf(err, nil) == ErrUnsupportedInput {
		t.decLimits++
	}
}

func (t *transcoder) receiveFrames() error {
	for !t.done {
		err := t.dec.ReceiveFrame(t.frame)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			t.decodeFailed(err)
			return nil
		}
		err = t.process(t.frame)
		t.frame.Unref()
		if err != nil {
			return err
		}
	}
	return nil
}

// process places one decoded frame on the timeline, converts it to the
// encoder's format and keeps the part inside the window.
func (t *transcoder) process(f *astiav.Frame) error {
	if f.NbSamples() <= 0 {
		return nil
	}
	if f.SampleRate() <= 0 || f.SampleRate() > t.o.Limits.MaxSampleRate {
		return fmt.Errorf("%w: decoded sample rate %d Hz", ErrUnsupportedInput, f.SampleRate())
	}
	if n := f.ChannelLayout().Channels(); n <= 0 || n > t.o.Limits.MaxChannels {
		return fmt.Errorf("%w: decoded %d channels", ErrUnsupportedInput, n)
	}
	fixLayout(f)
	if !t.anchored {
		pts := f.Pts()
		if pts == astiav.NoPtsValue {
			pts = f.PktDts()
		}
		var pos int64
		switch {
		case pts != astiav.NoPtsValue:
			pos = t.w.pos(pts)
			if first := streamStart(t.in.fc, t.st); first != astiav.NoPtsValue {
				cp := t.st.CodecParameters()
				if p, ok := t.w.snapped(pts, first, frameGrid(cp, f.NbSamples()), cp.SampleRate()); ok {
					pos = p
				}
			}
		case t.fromStart:
			pos = t.w.pos(max(t.st.StartTime(), 0))
		default:
			return errRestart
		}
		if pos > t.w.from() && t.written == 0 {
			if !t.fromStart {
				return errRestart
			}
			// The audio starts after the requested start (after the video,
			// say): what a player gives there is silence.
			if err := t.fill(pos); err != nil {
				return err
			}
		}
		t.anchored, t.nextPos = true, pos
	}
	if t.passthrough(f) {
		return t.sink(f)
	}
	if err := t.convert(f); err != nil {
		return err
	}
	return nil
}

// fill writes silence up to position pos (clipped to the window).
func (t *transcoder) fill(pos int64) error {
	at := t.w.from() + t.written
	_, n, _ := t.w.clip(at, pos-at)
	if n <= 0 {
		return nil
	}
	if err := t.q.writeSilence(int(n)); err != nil {
		return err
	}
	t.written += n
	t.done = t.done || t.w.reached(at+n)
	return t.encodeReady(false)
}

func (t *transcoder) passthrough(f *astiav.Frame) bool {
	return f.SampleRate() == t.params.rate && f.SampleFormat() == t.params.fmt && f.ChannelLayout().Equal(t.params.layout)
}

func (t *transcoder) convert(f *astiav.Frame) error {
	if !t.swrUsed {
		if err := prepareRemix(t.swr, f, t.params.layout); err != nil {
			return err
		}
	}
	t.out.Unref()
	t.setOutParams(t.out)
	err := t.swr.ConvertFrame(f, t.out)
	if errors.Is(err, astiav.ErrInputChanged) {
		// The source changed rate or layout mid-stream: drain the old
		// resampler, then start a new one.
		if err := t.drainResampler(); err != nil {
			return err
		}
		if err := t.newResampler(); err != nil {
			return err
		}
		if err := prepareRemix(t.swr, f, t.params.layout); err != nil {
			return err
		}
		t.out.Unref()
		t.setOutParams(t.out)
		err = t.swr.ConvertFrame(f, t.out)
	}
	if err != nil {
		// FFmpeg's limit, not a fault of the input: every layout of up to
		// 64 channels is mixed (prepareRemix), so this is a resampler
		// refusing what it was asked.
		return fmt.Errorf("%w: resampling %d Hz %s to %d Hz %s: %w", ErrUnsupportedInput,
			f.SampleRate(), f.ChannelLayout(), t.params.rate, t.params.layout, err)
	}
	t.swrUsed = true
	return t.sink(t.out)
}

func (t *transcoder) setOutParams(o *astiav.Frame) {
	o.SetSampleFormat(t.params.fmt)
	o.SetChannelLayout(t.params.layout)
	o.SetSampleRate(t.params.rate)
}

func (t *transcoder) drainResampler() error {
	for t.swr != nil && t.swrUsed && !t.done {
		t.out.Unref()
		t.setOutParams(t.out)
		if err := t.swr.ConvertFrame(nil, t.out); err != nil {
			return fmt.Errorf("flush resampler: %w", err)
		}
		if t.out.NbSamples() == 0 {
			return nil
		}
		if err := t.sink(t.out); err != nil {
			return err
		}
	}
	return nil
}

// sink keeps the part of a converted chunk that falls inside the window.
func (t *transcoder) sink(c *astiav.Frame) error {
	n := int64(c.NbSamples())
	pos := t.nextPos
	t.nextPos += n
	if head, keep, _ := t.w.clip(pos, n); keep > 0 {
		if err := t.q.write(c, int(head), int(keep)); err != nil {
			return fmt.Errorf("buffer samples: %w", err)
		}
		t.written += keep
	}
	t.done = t.done || t.w.reached(pos+n)
	if t.w.overLimit(t.written - t.w.lead) {
		return fmt.Errorf("%w: more than %v of audio", ErrOutputLimit, t.o.Limits.MaxOutputDuration)
	}
	return t.encodeReady(false)
}

// encodeReady sends whole encoder frames from the FIFO; with last, also the
// remainder (padded with silence for encoders that need whole frames) and
// the encoder's flush.
func (t *transcoder) encodeReady(last bool) error {
	n := t.frameSize
	if n <= 0 {
		n = t.encFrame.NbSamples()
	}
	for t.q.size() >= n {
		if err := t.encodeFromFIFO(n); err != nil {
			return err
		}
	}
	if !last {
		t.progress()
		return nil
	}
	if t.tail > 0 {
		if err := t.q.writeSilence(int(t.tail)); err != nil {
			return err
		}
		for t.q.size() >= n {
			if err := t.encodeFromFIFO(n); err != nil {
				return err
			}
		}
	}
	if rest := t.q.size(); rest > 0 {
		if !t.smallLast && t.frameSize > 0 {
			if err := t.q.writeSilence(n - rest); err != nil {
				return err
			}
			rest = n
		}
		if err := t.encodeFromFIFO(rest); err != nil {
			return err
		}
	}
	return t.stopEncoder(false)
}

func (t *transcoder) encodeFromFIFO(n int) error {
	if err := t.encFrame.MakeWritable(); err != nil {
		return fmt.Errorf("encoder frame: %w", err)
	}
	t.encFrame.SetNbSamples(n)
	if err := t.q.read(t.encFrame, n); err != nil {
		return fmt.Errorf("read FIFO: %w", err)
	}
	t.encFrame.SetPts(t.encoded)
	t.encoded += int64(n)
	return t.send(t.encFrame)
}

func (t *transcoder) writePackets() error {
	for {
		err := t.enc.ReceivePacket(t.encPkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		if err := t.writePacket(t.encPkt); err != nil {
			return err
		}
	}
}

// writePacket muxes the encoded stream's next packet (the one encoder's,
// or the segments' in order) and lets go of it: priming packets the
// container cannot signal are dropped, the rest shifted by the lead.
func (t *transcoder) writePacket(pkt *astiav.Packet) error {
	t.pktSeen++
	if t.pktSeen <= t.dropPkts {
		pkt.Unref()
		return nil
	}
	if lead := t.w.lead; lead > 0 {
		pkt.SetPts(pkt.Pts() - lead)
		pkt.SetDts(pkt.Dts() - lead)
	}
	t.pktKept++
	pkt.SetStreamIndex(t.ost.Index())
	pkt.RescaleTs(t.enc.TimeBase(), t.ost.TimeBase())
	if err := t.ofc.WriteInterleavedFrame(pkt); err != nil {
		return t.outErr("write packet", err)
	}
	return nil
}

func (t *transcoder) progress() {
	if t.o.Progress == nil {
		return
	}
	done := max(t.written-t.w.lead, 0)
	total := t.w.length()
	step := int64(t.params.rate) // at least every second of audio...
	if total > 0 {
		step = max(total/100, 1) // ...or every 1%
	}
	if done-t.lastProg < step && !(t.done && done != t.lastProg) {
		return
	}
	t.lastProg = done
	t.o.Progress(Progress{Done: durationOf(done, t.params.rate), Total: durationOf(total, t.params.rate)})
}

func (t *transcoder) flush() error {
	if err := t.drainResampler(); err != nil {
		return err
	}
	if t.decErrors >= 8 && t.decErrors*2 > t.pktsIn {
		if t.decLimits*2 >= t.decErrors {
			// FFmpeg's limit (a feature its decoder does not implement),
			// not corrupt input.
			return fmt.Errorf("%w: %d of %d audio packets use what FFmpeg's %s decoder does not implement%s",
				ErrUnsupportedInput, t.decErrors, t.pktsIn, t.dec.CodecID().Name(), said(t.decLog))
		}
		return fmt.Errorf("%w: %d of %d audio packets failed to decode%s", ErrInvalidInput, t.decErrors, t.pktsIn, said(t.decLog))
	}
	if t.written <= t.w.lead {
		if t.w.start > 0 {
			end := int64(-1)
			if t.anchored {
				end = t.nextPos
			}
			return t.w.beyondEnd(end)
		}
		if t.decLimits > 0 && t.decLimits*2 >= t.decErrors {
			return fmt.Errorf("%w: no audio FFmpeg's %s decoder can decode%s", ErrUnsupportedInput, t.dec.CodecID().Name(), said(t.decLog))
		}
		return fmt.Errorf("%w: no decodable audio%s", ErrInvalidInput, said(t.decLog))
	}
	if err := t.encodeReady(true); err != nil {
		return err
	}
	return t.finishOutput()
}

func (t *transcoder) result() (*Result, error) {
	rate := t.params.rate
	samples := t.written - t.w.lead
	if t.spec.roundTrip != nil && t.frameSize > 0 {
		// What a decoder plays: every kept packet is a whole frame.
		samples = int64((t.pktKept - t.decDrops) * t.frameSize)
	}
	if kept := t.written - t.w.lead; t.o.Progress != nil && t.lastProg != kept {
		t.o.Progress(Progress{Done: durationOf(kept, rate), Total: durationOf(kept, rate)})
	}
	bitrate := t.enc.BitRate()
	if samples > 0 && (bitrate == 0 || t.spec.bitrate == nil) {
		bitrate = int64(float64(t.wr.end*8) * float64(rate) / float64(samples))
	}
	return &Result{
		Format:        t.o.Format,
		Codec:         t.enc.CodecID().Name(),
		SampleRate:    rate,
		Channels:      t.params.layout.Channels(),
		ChannelLayout: t.params.layout.String(),
		Bitrate:       bitrate,
		Start:         durationOf(t.w.start, rate),
		StartSample:   t.w.start,
		Duration:      durationOf(samples, rate),
		Samples:       samples,
		Bytes:         t.wr.end,
		EncoderDelay:  t.delay,
		DecodeErrors:  t.decErrors,
		Truncated:     t.truncated,
		Input:         t.track,
	}, nil
}
