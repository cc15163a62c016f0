package extract

//#cgo pkg-config: libavformat libavcodec libavutil
//#include <libavformat/avformat.h>
//
//static const char *audex_probe_format(uint8_t *buf, int size, int *score) {
//	AVProbeData pd = { .filename = "", .buf = buf, .buf_size = size, .mime_type = NULL };
//	const AVInputFormat *f = av_probe_input_format3(&pd, 1, score);
//	return f ? f->name : NULL;
//}
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// demuxers audex opens. Anything else FFmpeg recognizes (and the build has
// no playlist, concat or other nested-open demuxer at all) is refused.
var allowedDemuxers = []string{
	"mov", "matroska", "webm", "flv", "live_flv", "avi", "mpegts", "mpeg", "mp3", "aac",
	"wav", "w64", "ogg", "flac", "ac3", "eac3", "amr", "amrnb", "amrwb", "asf", "asf_o",
	"aiff", "caf", "dts", "truehd", "mlp",
}

// Only audio decoders may be opened, by probing or by us: a video decoder is
// never started on untrusted input.
var allowedDecoders = "aac,aac_fixed,aac_latm,mp1,mp1float,mp2,mp2float,mp3,mp3float,mp3adu,opus,libopus," +
	"vorbis,flac,alac,ac3,ac3_fixed,eac3,truehd,mlp,dca,wmav1,wmav2,wmapro,wmalossless,amrnb,amrwb," +
	"nellymoser,speex,gsm,gsm_ms,pcm_s8,pcm_u8,pcm_s16le,pcm_s16be,pcm_u16le,pcm_s24le,pcm_s24be," +
	"pcm_s32le,pcm_s32be,pcm_f32le,pcm_f32be,pcm_f64le,pcm_f64be,pcm_alaw,pcm_mulaw,pcm_dvd,pcm_bluray," +
	"adpcm_ima_wav,adpcm_ima_qt,adpcm_ms,adpcm_swf,adpcm_g726,adpcm_yamaha"

// input is an opened demuxer over a Go reader. close releases everything, in
// reverse order of acquisition.
type input struct {
	fc  *astiav.FormatContext
	rd  *reader
	t0  int64 // zero of the presentation timeline, AV_TIME_BASE units
	log *sink // the demuxer's log lines
	closers
	// ahead holds the audio packets findStart read, which readFrame hands
	// out again before reading on: the demuxer is never rewound, since a
	// seek back to the start lands after an MP4's priming packet (its
	// index dates that packet before zero), and a decoder that starts
	// there misses the overlap of the first frame.
	ahead []*astiav.Packet
}

// readFrame reads the next packet: the ones findStart read ahead first.
func (in *input) readFrame(pkt *astiav.Packet) error {
	if len(in.ahead) == 0 {
		return in.fc.ReadFrame(pkt)
	}
	p := in.ahead[0]
	in.ahead[0] = nil
	in.ahead = in.ahead[1:]
	pkt.MoveRef(p)
	p.Free()
	return nil
}

// packets is the one loop over the input's packets: it reads on (the
// packets findStart held first), checking for cancellation before every
// read, and hands fn each packet of stream idx in turn, until fn says to
// stop (more false, or an error) or the input ends. pkt is unreferenced
// after fn returns. The first packet handed out is checked for encryption.
// An input that ends in damage rather than at its end (a truncated or
// corrupt container) ends the audio there, as a player would: truncated
// says so and what came before stands.
func (in *input) packets(idx int, pkt *astiav.Packet, fn func(pkt *astiav.Packet) (more bool, err error)) (truncated bool, err error) {
	for first := true; ; {
		if err := in.rd.ctx.Err(); err != nil {
			return false, fmt.Errorf("%w: %w", ErrCanceled, err)
		}
		if err := in.readFrame(pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				return false, nil
			}
			if e := in.wrapErr("read packet", err, ErrInvalidInput); errors.Is(e, ErrCanceled) || in.rd.err != nil {
				return false, e
			}
			return true, nil
		}
		if pkt.StreamIndex() != idx {
			pkt.Unref()
			continue
		}
		if first && packetEncrypted(pkt) {
			pkt.Unref()
			return false, fmt.Errorf("%w: %w", ErrUnsupportedInput, ErrEncrypted)
		}
		first = false
		more, err := fn(pkt)
		pkt.Unref()
		if err != nil || !more {
			return false, err
		}
	}
}

// seekFrame seeks the demuxer; the packets read ahead are dropped.
func (in *input) seekFrame(stream int, ts int64, flags astiav.SeekFlags) error {
	in.dropAhead()
	return in.fc.SeekFrame(stream, ts, flags)
}

func (in *input) dropAhead() {
	for _, p := range in.ahead {
		p.Free()
	}
	in.ahead = nil
}

// source is what the caller handed us: a path or a reader.
type source struct {
	path string
	r    io.Reader
}

// openInput opens src through custom IO (so cancellation reaches every read),
// identifies the container itself (to tell "not media" from "broken media"),
// and reads stream parameters within the limits.
func openInput(ctx context.Context, src source, lim Limits, lg *slog.Logger) (_ *input, err error) {
	installLog()
	in := &input{}
	defer func() {
		if err != nil {
			in.close()
		}
	}()

	var rs io.ReadSeeker
	switch {
	case src.path != "":
		f, err := os.Open(src.path)
		if err != nil {
			return nil, fmt.Errorf("open input: %w", err)
		}
		in.defer_(func() { f.Close() })
		rs = f
	case src.r != nil:
		if s, ok := src.r.(io.ReadSeeker); ok && seekable(s) {
			rs = s
		} else {
			sp, err := newSpool(src.r, "")
			if err != nil {
				return nil, err
			}
			in.defer_(func() { sp.Close() })
			rs = sp
		}
	default:
		return nil, errors.New("open input: no source")
	}
	in.rd = newReader(ctx, rs)

	name, err := probeFormat(in.rd, lim)
	if err != nil {
		return nil, err
	}
	ifmt := astiav.FindInputFormat(name)
	if ifmt == nil || !allowedDemuxer(name) {
		return nil, fmt.Errorf("%w: %s container", ErrUnsupportedInput, name)
	}

	fc := astiav.AllocFormatContext()
	if fc == nil {
		return nil, errors.New("open input: allocating format context failed")
	}
	in.defer_(fc.Free)
	url, protocols := "", "none"
	if src.path != "" {
		// A file is read by FFmpeg's own file protocol. Through Go callbacks
		// every byte of it, video included, would cross into a fresh Go
		// buffer (go-astiav allocates one per read): a tenth of a
		// whole-file extraction's time went to collecting that garbage.
		// Only "file" is allowed, and the protocols are shut once the
		// file is open.
		url, protocols = "file:"+src.path, "file"
	} else {
		ioc, err := astiav.AllocIOContext(ioBufferSize, false, in.rd.read, in.rd.seek, nil)
		if err != nil {
			return nil, fmt.Errorf("open input: %w", err)
		}
		in.defer_(ioc.Free)
		fc.SetPb(ioc)
		// Flag the context as using custom IO so FFmpeg never closes our pb.
		fc.SetFlags(fc.Flags().Add(astiav.FormatContextFlagCustomIo))
	}

	ii := astiav.NewIOInterrupter()
	in.defer_(ii.Free)
	fc.SetIOInterrupter(ii)
	stop := context.AfterFunc(ctx, ii.Interrupt)
	in.defer_(func() { stop() })
	sk, detach := attach(lg, formatContextPtr(fc))
	in.log = sk
	in.defer_(detach)

	d := astiav.NewDictionary()
	defer d.Free()
	for k, v := range map[string]string{
		"probesize":       strconv.FormatInt(lim.ProbeSize, 10),
		"analyzeduration": strconv.FormatInt(lim.AnalyzeDuration.Microseconds(), 10),
		// One more than allowed, so an input over the limit is seen as such
		// by demuxers that skip extra streams instead of failing.
		"max_streams":        strconv.Itoa(lim.MaxStreams + 1),
		"fpsprobesize":       "0",
		"format_whitelist":   strings.Join(allowedDemuxers, ","),
		"codec_whitelist":    allowedDecoders,
		"protocol_whitelist": protocols,
	} {
		if err := d.Set(k, v, 0); err != nil {
			return nil, fmt.Errorf("open input: option %s: %w", k, err)
		}
	}
	if err := fc.OpenInput(url, ifmt, d); err != nil {
		if strings.Contains(in.log.lastError(), "max_streams") {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyStreams, lim.MaxStreams)
		}
		return nil, in.wrapErr("open input", err, ErrInvalidInput)
	}
	in.defer_(fc.CloseInput)
	in.fc = fc
	// No demuxer may open anything else from here on.
	if err := shutProtocols(fc); err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	if err := fc.FindStreamInfo(nil); err != nil {
		return nil, in.wrapErr("read stream info", err, ErrInvalidInput)
	}
	// Some demuxers (FLV, MPEG-TS) only create streams while reading.
	if fc.NbStreams() > lim.MaxStreams {
		return nil, fmt.Errorf("%w: over %d streams", ErrTooManyStreams, lim.MaxStreams)
	}
	if fc.NbStreams() == 0 {
		return nil, in.wrapErr("open input", astiav.ErrInvaliddata, ErrInvalidInput)
	}
	if err := in.findStart(lim.ProbeSize); err != nil {
		return nil, err
	}
	return in, nil
}

// streamStart is where a stream's played audio or video begins, in its
// time base, or NoPtsValue when unknown: FFmpeg's start time, but for Opus
// in Matroska, whose first packet the demuxer dates CodecDelay (the
// pre-skip) before the first sample played (the Ogg demuxer counts the
// pre-skip in already), the time of that first played sample. The skipped
// samples are never heard, so they pull neither the timeline's zero nor the
// track's start earlier. The demuxer subtracts CodecDelay rounded to the
// time base, and the decoder adds the pre-skip rounded the same way to the
// frame it trims: the sum is the first frame's time, exactly the block
// time the muxer wrote.
func streamStart(fc *astiav.FormatContext, st *astiav.Stream) int64 {
	start := st.StartTime()
	cp := st.CodecParameters()
	if start == astiav.NoPtsValue || cp.CodecID() != astiav.CodecIDOpus || cp.SampleRate() <= 0 ||
		!strings.Contains(fc.InputFormat().Name(), "matroska") {
		return start
	}
	return start + astiav.RescaleQ(int64(initialPaddingOf(cp)), astiav.NewRational(1, cp.SampleRate()), st.TimeBase())
}

// findStart sets t0, the earliest start of any stream (see streamStart). FFmpeg only dates an
// H.264 stream after decoding a few of its frames, which audex never does;
// for those streams it reads the first packets' timestamps itself, keeping
// the audio packets it reads on the way for readFrame, up to maxHeld bytes
// of them. An input that interleaves more audio than that before its video
// is sought back to the start instead.
func (in *input) findStart(maxHeld int64) error {
	fc := in.fc
	in.t0 = 0
	if s := fc.StartTime(); s != astiav.NoPtsValue {
		in.t0 = s
	}
	usTB := astiav.NewRational(1, astiav.TimeBase)
	first := map[int]int64{}
	seen := map[int]int{}
	streams := fc.Streams()
	adjusted := false
	for _, s := range streams {
		if s.CodecParameters().CodecID() == astiav.CodecIDH264 {
			first[s.Index()] = math.MaxInt64
		}
		if st := s.StartTime(); st != astiav.NoPtsValue && streamStart(fc, s) != st {
			adjusted = true
		}
	}
	if adjusted {
		// FFmpeg's start is the earliest packet, pre-skip included (and
		// FFmpeg gives that start to the H.264 streams it could not date,
		// which are dated below).
		in.t0 = math.MaxInt64
		for _, s := range streams {
			if _, h264 := first[s.Index()]; h264 {
				continue
			}
			if st := streamStart(fc, s); st != astiav.NoPtsValue {
				in.t0 = min(in.t0, astiav.RescaleQ(st, s.TimeBase(), usTB))
			}
		}
		if in.t0 == math.MaxInt64 {
			in.t0 = 0
		}
	}
	if len(first) == 0 {
		return nil
	}
	pkt := astiav.AllocPacket()
	if pkt == nil {
		return errors.New("allocating packet failed")
	}
	defer pkt.Free()
	in.defer_(in.dropAhead)
	// A B-frame stream's earliest timestamp is among its first few packets.
	const perStream, budget = 8, 500
	done := 0
	var held int64
	rewind := false
	for n := 0; n < budget && done < len(first); n++ {
		if err := fc.ReadFrame(pkt); err != nil {
			if errors.Is(err, astiav.ErrExit) {
				return in.wrapErr("read stream starts", err, ErrInvalidInput)
			}
			break
		}
		i := pkt.StreamIndex()
		if i >= len(streams) { // FLV and MPEG-TS add streams as they find them
			streams = fc.Streams()
		}
		st := streams[i]
		if cur, ok := first[i]; ok && seen[i] < perStream {
			ts := pkt.Pts()
			if ts == astiav.NoPtsValue {
				ts = pkt.Dts()
			}
			if ts != astiav.NoPtsValue {
				first[i] = min(cur, astiav.RescaleQ(ts, st.TimeBase(), usTB))
			}
			if seen[i]++; seen[i] == perStream {
				done++
			}
		}
		if !rewind && st.CodecParameters().MediaType() == astiav.MediaTypeAudio {
			if held += int64(pkt.Size()); held > maxHeld {
				rewind = true
				in.dropAhead()
			} else {
				p := astiav.AllocPacket()
				if p == nil {
					return errors.New("allocating packet failed")
				}
				p.MoveRef(pkt)
				in.ahead = append(in.ahead, p)
			}
		}
		pkt.Unref()
	}
	for _, ts := range first {
		if ts != math.MaxInt64 {
			in.t0 = min(in.t0, ts)
		}
	}
	if rewind {
		// The seek lands on the earliest packet the demuxer dates at the
		// start: an MP4's AAC priming packet is dated before it and
		// skipped (its first frame then decodes without that overlap).
		if err := fc.SeekFrame(-1, math.MinInt64+1, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
			if err := fc.SeekFrame(-1, 0, astiav.NewSeekFlags(astiav.SeekFlagByte)); err != nil {
				return in.wrapErr("rewind", err, ErrInvalidInput)
			}
		}
	}
	return nil
}

// wrapErr turns an FFmpeg error into one of ours: cancellation first, then a
// reader's own failure, then the given class (ErrUnsupportedInput where the
// error is one of FFmpeg's limits).
func (in *input) wrapErr(step string, err error, class error) error {
	class = classOf(err, class)
	if ctxErr := in.rd.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w: %w", step, ErrCanceled, ctxErr)
	}
	if in.rd.err != nil {
		return fmt.Errorf("%s: read: %w", step, in.rd.err)
	}
	if in.log != nil {
		if said := in.log.lastError(); said != "" {
			return fmt.Errorf("%s: %w: %w (%s)", step, class, err, said)
		}
	}
	return fmt.Errorf("%s: %w: %w", step, class, err)
}

func seekable(s io.Seeker) bool {
	_, err := s.Seek(0, io.SeekCurrent)
	return err == nil
}

func allowedDemuxer(name string) bool {
	for _, n := range strings.Split(name, ",") {
		for _, a := range allowedDemuxers {
			if n == a {
				return true
			}
		}
	}
	return false
}

// probeFormat identifies the container from the first bytes, the way
// avformat_open_input would (growing the window until the score is
// convincing), then rewinds.
func probeFormat(rd *reader, lim Limits) (string, error) {
	const padding = 64 // AVPROBE_PADDING_SIZE and then some
	maxSize := int(min(lim.ProbeSize, 1<<20))
	var buf []byte // grown as needed: most containers are known by 2 KiB
	best, bestScore := "", 0
	for size := 2048; ; size *= 2 {
		size = min(size, maxSize)
		if cap(buf) < size+padding {
			buf = append(make([]byte, 0, size+padding), buf...)
		}
		for len(buf) < size {
			n, err := rd.read(buf[len(buf):size])
			buf = buf[:len(buf)+n]
			if err != nil {
				if errors.Is(err, astiav.ErrExit) {
					return "", fmt.Errorf("probe: %w: %w", ErrCanceled, rd.ctx.Err())
				}
				if rd.err != nil {
					return "", fmt.Errorf("probe: read: %w", rd.err)
				}
				break // EOF: probe what we have
			}
		}
		if len(buf) == 0 {
			return "", fmt.Errorf("%w: empty input", ErrUnrecognizedInput)
		}
		data := append(buf[:len(buf):len(buf)], make([]byte, padding)...)
		var score C.int
		name := C.audex_probe_format((*C.uint8_t)(unsafe.Pointer(&data[0])), C.int(len(buf)), &score)
		if name != nil && int(score) > bestScore {
			best, bestScore = C.GoString(name), int(score)
		}
		// 25 is AVPROBE_SCORE_RETRY: below it FFmpeg keeps reading.
		if bestScore > 25 || len(buf) < size || size >= maxSize {
			break
		}
	}
	rd.pendEOF = false
	if _, err := rd.r.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("probe: rewind: %w", err)
	}
	if best == "" {
		return "", fmt.Errorf("%w: no known container or codec signature", ErrUnrecognizedInput)
	}
	return best, nil
}
