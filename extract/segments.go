package extract

//#cgo pkg-config: libavcodec libavutil
//#include <libavcodec/avcodec.h>
//#include <string.h>
//
//// Replaces a packet's payload with a copy of d, keeping its properties.
//static int audex_pkt_set_data(AVPacket *p, const uint8_t *d, int n) {
//	AVBufferRef *buf = av_buffer_alloc((size_t)n + AV_INPUT_BUFFER_PADDING_SIZE);
//	if (!buf) return AVERROR(ENOMEM);
//	if (n > 0) memcpy(buf->data, d, n);
//	memset(buf->data + n, 0, AV_INPUT_BUFFER_PADDING_SIZE);
//	av_buffer_unref(&p->buf);
//	p->buf = buf;
//	p->data = buf->data;
//	p->size = n;
//	return 0;
//}
import "C"

import (
	"crypto/md5"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// Segment-parallel encoding. A long output is cut into segments of whole
// encoder frames, each encoded on an encoder of its own while the others
// run, and the packets are stitched, in order, into the stream one encoder
// would have written: the same packet count, timestamps and priming, so
// writePacket and the container's signalling (LAME tag, edit list, the
// compensation for ADTS, AC-3 and WMA) are those of a continuous encode.
//
// A segment's encoder is fed pre encoder frames before it and post after
// it, and their packets are dropped, so each kept packet was made with the
// same overlap (and look-ahead) a continuous encoder has: the frames kept
// at a splice differ from a continuous encode's by quantisation noise only.
// A packet belongs to the segment whose frames its timestamp falls in: the
// encoder dates a packet by its first input frame less the encoder delay.

// spliceRule says whether and how a codec's output is stitched from
// segments (encSpec.splice). The zero value: one encoder only.
type spliceRule struct {
	kind      spliceKind
	pre, post int           // encoder frames fed before and after a segment, dropped
	preroll   time.Duration // at least this much audio fed before, dropped
}

type spliceKind int

const (
	spliceNone spliceKind = iota
	// spliceOverlap: frames stand alone but for the transform's overlap
	// with their neighbours (AAC, AC-3, WMA).
	spliceOverlap
	// spliceFLAC: frames stand alone; their headers number them, and
	// STREAMINFO sums the stream (flacsplice.go).
	spliceFLAC
	// spliceMP3: a frame's main data may lie in the frames before it (the
	// bit reservoir), pre-roll included: mp3Joiner lays it out again
	// (mp3splice.go).
	spliceMP3
)

// segmentLength is the most audio in one segment, and segmentMin the
// shortest output cut into segments (README, Benchmarks: below it two
// encoders were no faster than one). Longer segments pay the pre-roll
// less often (AAC's 3 s, whose frames cost a fresh encoder several times
// a settled one's: a quarter more CPU on a 3-minute file in 45 s
// segments) and hold more PCM. Tests may shorten both before any
// extraction starts (export_test.go).
var (
	segmentLength = 60 * time.Second
	segmentMin    = 30 * time.Second
)

// segmentMemory bounds the PCM the segments being encoded may hold (30 s
// of 48 kHz stereo float is 11 MB; of 8 channels at 96 kHz, 92 MB).
const segmentMemory = 256 << 20

// frameSink picks the one encoder, or segments when the output is long
// enough, the format has a splice rule and Options.Parallelism allows.
func (t *transcoder) frameSink() frameSink {
	size, pre, post, ok := t.segmentPlan()
	if !ok {
		return continuous{t}
	}
	// Every live segment holds its frames until its encoder takes them:
	// bound that PCM by running fewer segments at once.
	perSegment := (size + pre + post) * int64(t.frameSize) * int64(t.params.layout.Channels()*t.params.fmt.BytesPerSample())
	workers := min(t.o.Parallelism, int(max(segmentMemory/perSegment, 2)))
	g := &segmenter{t: t, codec: t.codec, size: size, pre: pre, post: post, workers: workers}
	switch t.spec.splice.kind {
	case spliceFLAC:
		g.flac = &flacJoin{md5: md5.New(), bits: bitsPerRawSample(t.enc)}
	case spliceMP3:
		g.mp3 = newMP3Joiner()
	}
	return g
}

// segmentPlan is the segment length and the pre- and post-roll, in encoder
// frames, when the output is to be encoded in segments. An output of known
// length is cut into a multiple of Parallelism segments of at most
// segmentLength, so that the last round keeps every encoder busy; one of
// unknown length into segments of segmentLength as it grows.
func (t *transcoder) segmentPlan() (size, pre, post int64, ok bool) {
	rule := t.spec.splice
	if rule.kind == spliceNone || t.o.Parallelism < 2 || t.frameSize <= 0 {
		return 0, 0, 0, false
	}
	n := t.w.length()
	if n > 0 && n < samplesOf(segmentMin, t.params.rate) {
		return 0, 0, 0, false
	}
	frames := func(samples int64) int64 { return (samples + int64(t.frameSize) - 1) / int64(t.frameSize) }
	size = frames(samplesOf(segmentLength, t.params.rate))
	if n > 0 {
		total, p := frames(n), int64(t.o.Parallelism)
		segments := (total + size - 1) / size
		segments = (segments + p - 1) / p * p
		size = (total + segments - 1) / segments
	}
	pre, post = max(int64(rule.pre), frames(samplesOf(rule.preroll, t.params.rate))), int64(rule.post)
	return max(size, pre+post+1), pre, post, true
}

// segmenter hands each frame to the segments it belongs to (its own, and
// the pre- or post-roll of a neighbour), starts a segment's encoder when
// its first frame comes, and writes finished segments in order. At most
// workers segments are encoding at once: a new one waits for the oldest
// to be written. It runs on the encode stage's goroutine.
type segmenter struct {
	t         *transcoder
	codec     *astiav.Codec
	size      int64 // encoder frames in a segment
	pre, post int64
	workers   int

	frames int64      // frames received
	live   []*segment // started and not yet written, oldest first
	stop   atomic.Bool
	flac   *flacJoin // FLAC's renumbering and STREAMINFO; nil for others
	mp3    *mp3Joiner
	// mp3Kept are the kept MP3 packets the joiner has not given frames
	// for yet, in order: each takes the next frame's bytes.
	mp3Kept []*astiav.Packet
}

// segment is the encode of frames [num*size-pre, (num+1)*size+post).
type segment struct {
	num   int64
	in    chan []*astiav.Frame // batches of frames; closed after the last
	batch []*astiav.Frame      // filled by the segmenter, sent when full
	open  bool
	done  chan struct{} // closed when its encoder has let go; pkts and err are then set
	pkts  []*astiav.Packet
	err   error
}

func (g *segmenter) encode(f *astiav.Frame) error {
	if g.flac != nil {
		g.flac.sum(f)
	}
	k := g.frames
	g.frames++
	num, off := k/g.size, k%g.size
	if k == 0 || (k+g.pre)%g.size == 0 {
		if err := g.start((k + g.pre) / g.size); err != nil {
			f.Free()
			return err
		}
	}
	var to []*segment
	if num > 0 && off < g.post {
		to = append(to, g.find(num-1))
	}
	to = append(to, g.find(num))
	if off >= g.size-g.pre {
		to = append(to, g.find(num+1))
	}
	for i, s := range to {
		c := f
		if i < len(to)-1 {
			if c = f.Clone(); c == nil {
				f.Free()
				return errors.New("encode: cloning frame failed")
			}
		}
		s.batch = append(s.batch, c)
		if len(s.batch) == stageBatch {
			s.in <- s.batch
			s.batch = nil
		}
	}
	if num > 0 && off == max(g.post-1, 0) {
		g.close(g.find(num - 1))
	}
	return nil
}

// find is the live segment num; every caller's is live by construction.
func (g *segmenter) find(num int64) *segment {
	for _, s := range g.live {
		if s.num == num {
			return s
		}
	}
	panic(fmt.Sprintf("segment %d is not live", num))
}

func (g *segmenter) close(s *segment) {
	if s.open {
		s.open = false
		if len(s.batch) > 0 {
			s.in <- s.batch
			s.batch = nil
		}
		close(s.in)
	}
}

// start writes the oldest segments until fewer than workers are live, then
// starts segment num's encoder.
func (g *segmenter) start(num int64) error {
	for len(g.live) >= g.workers {
		if err := g.write(g.live[0], false); err != nil {
			return err
		}
	}
	// Room for every batch of the segment: the segmenter never waits for
	// an encoder but to write the oldest segment.
	room := (g.size+g.pre+g.post)/stageBatch + 2
	s := &segment{num: num, in: make(chan []*astiav.Frame, room), open: true, done: make(chan struct{})}
	g.live = append(g.live, s)
	go g.run(s)
	return nil
}

// run encodes one segment on an encoder of its own, keeping every packet.
func (g *segmenter) run(s *segment) {
	var cl closers
	defer close(s.done)
	defer cl.close()
	defer func() {
		if p := recover(); p != nil {
			s.err = fmt.Errorf("segment encoder panicked: %v\n%s", p, debug.Stack())
			for b := range s.in {
				freeAll(b)
			}
		}
	}()
	enc, err := g.t.newEncoder(g.codec, g.t.params, &cl)
	pkt := astiav.AllocPacket()
	if pkt != nil {
		cl.defer_(pkt.Free)
	} else if err == nil {
		err = errors.New("encode: allocating packet failed")
	}
	s.err = err
	receive := func() error {
		for {
			err := enc.ReceivePacket(pkt)
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("encode: %w", err)
			}
			c := pkt.Clone()
			pkt.Unref()
			if c == nil {
				return errors.New("encode: cloning packet failed")
			}
			s.pkts = append(s.pkts, c)
		}
	}
	for b := range s.in {
		for _, f := range b {
			if s.err == nil && !g.stop.Load() {
				if err := enc.SendFrame(f); err != nil {
					s.err = fmt.Errorf("encode: %w", err)
				} else {
					s.err = receive()
				}
			}
			f.Free()
		}
	}
	if s.err != nil || g.stop.Load() {
		return
	}
	if err := enc.SendFrame(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		s.err = fmt.Errorf("flush encoder: %w", err)
		return
	}
	s.err = receive()
}

// write waits for the oldest live segment and writes the packets it keeps:
// those dated in its own frames, and for the last segment all that follow.
func (g *segmenter) write(s *segment, last bool) error {
	g.close(s)
	<-s.done
	g.live = g.live[1:]
	defer freePackets(s.pkts)
	if s.err != nil {
		return s.err
	}
	n, delay := int64(g.t.frameSize), int64(g.t.delay)
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if s.num > 0 {
		lo = s.num*g.size*n - delay
	}
	if !last {
		hi = (s.num+1)*g.size*n - delay
	}
	if g.mp3 != nil {
		return g.joinMP3(s, lo, hi)
	}
	for i, p := range s.pkts {
		if p.Pts() < lo || p.Pts() >= hi {
			continue
		}
		s.pkts[i] = nil
		err := g.emit(p)
		p.Free()
		if err != nil {
			return err
		}
	}
	return nil
}

func (g *segmenter) emit(p *astiav.Packet) error {
	if g.flac != nil {
		if err := g.flac.next(p); err != nil {
			return err
		}
	}
	return g.t.writePacket(p)
}

// joinMP3 hands the joiner a segment's frames up to hi, of which those
// before lo are pre-roll, and writes the frames it returns on the kept
// packets, in order.
func (g *segmenter) joinMP3(s *segment, lo, hi int64) error {
	var frames [][]byte
	skip := 0
	for i, p := range s.pkts {
		if p.Pts() >= hi {
			continue
		}
		frames = append(frames, p.Data())
		if p.Pts() < lo {
			skip++
			continue
		}
		s.pkts[i] = nil
		g.mp3Kept = append(g.mp3Kept, p)
	}
	out, err := g.mp3.add(frames, skip)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return g.writeMP3(out)
}

func (g *segmenter) writeMP3(frames [][]byte) error {
	for _, f := range frames {
		if len(g.mp3Kept) == 0 {
			return errors.New("encode: mp3 join gave more frames than were kept")
		}
		p := g.mp3Kept[0]
		g.mp3Kept = g.mp3Kept[1:]
		err := setPacketData(p, f)
		if err == nil {
			err = g.t.writePacket(p)
		}
		p.Free()
		if err != nil {
			return err
		}
	}
	return nil
}

// finish ends the segments still live: the one holding the last frame is
// the last, one holding only pre-roll is dropped.
func (g *segmenter) finish() error {
	if g.frames == 0 {
		return nil
	}
	lastNum := (g.frames - 1) / g.size
	for _, s := range g.live {
		g.close(s)
	}
	for len(g.live) > 0 {
		s := g.live[0]
		if s.num > lastNum {
			g.drop(s)
			continue
		}
		if err := g.write(s, s.num == lastNum); err != nil {
			g.abort()
			return err
		}
	}
	if g.mp3 != nil {
		out, err := g.mp3.flush()
		if err == nil {
			err = g.writeMP3(out)
		}
		if err == nil && len(g.mp3Kept) > 0 {
			err = fmt.Errorf("encode: mp3 join gave %d frames fewer than were kept", len(g.mp3Kept))
		}
		if err != nil {
			g.abort()
			return err
		}
	}
	return nil
}

func (g *segmenter) abort() {
	g.stop.Store(true)
	for _, s := range g.live {
		g.close(s)
	}
	for len(g.live) > 0 {
		g.drop(g.live[0])
	}
	freePackets(g.mp3Kept)
	g.mp3Kept = nil
}

// drop waits for the oldest live segment and discards its packets.
func (g *segmenter) drop(s *segment) {
	g.close(s)
	<-s.done
	g.live = g.live[1:]
	freePackets(s.pkts)
}

func freePackets(pkts []*astiav.Packet) {
	for _, p := range pkts {
		if p != nil {
			p.Free()
		}
	}
}

// setPacketData replaces p's payload with a copy of data, keeping its
// timestamps and side data. go-astiav v0.39.0's Packet holds exactly the
// C pointer as its only field (see packetEncrypted).
func setPacketData(p *astiav.Packet, data []byte) error {
	var d *C.uint8_t
	if len(data) > 0 {
		d = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	return avErr(int(C.audex_pkt_set_data(*(**C.AVPacket)(unsafe.Pointer(p)), d, C.int(len(data)))))
}
