package extract

import (
	"cmp"
	"fmt"
	"slices"
)

// Joining MP3 segments encoded apart (segment-parallel encoding), in pure
// Go: an mp3packer-style repack across the bit reservoir.
//
// A Layer III frame's main data (its scale factors and Huffman bits) need
// not lie in the frame itself: main_data_begin says how many bytes before
// the frame's own payload it starts, in the stream of payloads (what
// follows each frame's header, CRC and side information). A segment's
// first kept frame can therefore point into the segment's pre-roll frames,
// which the joined stream drops. The joiner takes every kept frame's main
// data from its own segment (pre-roll included) bit for bit, and lays it
// out again in the joined stream: each frame's main data starts as early
// as the previous frame's main data and the reservoir's limits allow (9
// bits of main_data_begin in MPEG-1, 8 in MPEG-2/2.5; frame and reservoir
// together within what decoders buffer, see reach) and must end inside
// the frame's own payload. Bytes no main data takes are zero (ancillary
// data); a protected frame's CRC is computed again.
//
// Where a frame's main data does not fit, because the previous segment
// left less room than the frame's own encoder had saved, the frame gets
// the smallest higher bitrate (and padding) that makes it fit; if even
// 320 kb/s (160 in MPEG-2/2.5) is not enough, frames before it that are
// not yet written grow too (mp3Joiner.lay). Only where every frame in
// reach is at the highest bitrate already can it fail. Frames are never
// added or removed, so every sample stays where it was.
//
// A bitrate change makes a CBR stream formally VBR: FFmpeg's mp3 muxer
// (mp3enc.c) then tags its Xing header "Xing" with a seek table instead of
// "Info"; the frame count it writes counts packets, and the LAME tag's
// encoder delay and padding come from the first and last packets'
// skip-samples side data, all as before (TestMP3JoinSplice, checkMuxed).

// mp3FrameError: frames the joiner cannot join (not MPEG audio Layer III,
// cut short, free-format bitrate, main data outside what the segment
// holds). Segment counts add calls from 0, Frame the frames within it.
type mp3FrameError struct {
	Segment, Frame int
	Reason         string
}

func (e *mp3FrameError) Error() string {
	return fmt.Sprintf("mp3 join: segment %d frame %d: %s", e.Segment, e.Frame, e.Reason)
}

// MPEG audio header tables for Layer III (ISO 11172-3, 13818-3 and the
// MPEG-2.5 extension), indexed by the header's fields.
var (
	mp3Kbps = [2][16]int{ // [lsf][bitrate_index]; 0 is free format, 15 invalid
		{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
		{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
	}
	mp3Rates = map[byte][3]int{ // [version bits][sampling_frequency]
		3: {44100, 48000, 32000}, // MPEG-1
		2: {22050, 24000, 16000}, // MPEG-2
		0: {11025, 12000, 8000},  // MPEG-2.5
	}
)

// mp3Head is what the joiner reads from a frame's header.
type mp3Head struct {
	version byte // header bits: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
	rate    int  // samples per second
	bitrate int  // bitrate_index, 1..14
	pad     int  // padding bit
	mono    bool
	crc     bool // protection_bit 0: a CRC-16 follows the header
}

func (h mp3Head) lsf() bool { return h.version != 3 }

// sideOff is where the side information starts; sideLen its length.
func (h mp3Head) sideOff() int {
	if h.crc {
		return 6
	}
	return 4
}

func (h mp3Head) sideLen() int {
	switch {
	case !h.lsf() && h.mono:
		return 17
	case !h.lsf():
		return 32
	case h.mono:
		return 9
	}
	return 17
}

// size is the frame's length in bytes at bitrate index b and padding pad.
func (h mp3Head) size(b, pad int) int {
	if h.lsf() {
		return 72000*mp3Kbps[1][b]/h.rate + pad
	}
	return 144000*mp3Kbps[0][b]/h.rate + pad
}

// maxBegin is the furthest back main_data_begin can point.
func (h mp3Head) maxBegin() int {
	if h.lsf() {
		return 255
	}
	return 511
}

// reach is how far back the main data of a frame of size bytes may begin:
// main_data_begin's 9 bits (MPEG-1) or 8 (MPEG-2/2.5), and a frame and the
// reservoir it draws on within 7680 bits per granule, what LAME's own
// frames keep to by default (lame_init's MDB_MAXIMUM: its reservoir is at
// most that buffer less the frame), so decoders of its output buffer it.
func (h mp3Head) reach(size int) int {
	buffer := 1920
	if h.lsf() {
		buffer = 960
	}
	return max(0, min(h.maxBegin(), buffer-size))
}

// readMP3Head reads what a Layer III frame's header says about its layout
// (version, mode, CRC), as the exact copy's reservoir reading needs it;
// the error is the reason frame is not a Layer III frame.
func readMP3Head(frame []byte) (mp3Head, string) {
	if len(frame) < 4 {
		return mp3Head{}, fmt.Sprintf("%d bytes, shorter than a header", len(frame))
	}
	if frame[0] != 0xFF || frame[1]&0xE0 != 0xE0 {
		return mp3Head{}, "no frame sync"
	}
	h := mp3Head{version: (frame[1] >> 3) & 3, crc: frame[1]&1 == 0, mono: frame[3]>>6 == 3}
	switch {
	case h.version == 1:
		return h, "reserved MPEG version"
	case (frame[1]>>1)&3 != 1:
		return h, "not Layer III"
	}
	return h, ""
}

// parseMP3Head reads frame's header and checks that frame is exactly one
// whole Layer III frame of a bitrate the joiner may change; the error is
// the reason it is not.
func parseMP3Head(frame []byte) (mp3Head, string) {
	h, bad := readMP3Head(frame)
	switch {
	case bad != "":
		return h, bad
	case frame[2]>>4 == 0:
		return h, "free-format bitrate, which cannot be changed"
	case frame[2]>>4 == 15:
		return h, "invalid bitrate index"
	case (frame[2]>>2)&3 == 3:
		return h, "reserved sampling frequency"
	}
	h.rate, h.bitrate, h.pad = mp3Rates[h.version][(frame[2]>>2)&3], int(frame[2]>>4), int(frame[2]>>1)&1
	// The smallest frame (8 kb/s at 24 kHz, 24 bytes) holds a header, a
	// CRC and stereo side information.
	if n := h.size(h.bitrate, h.pad); n != len(frame) {
		return h, fmt.Sprintf("%d bytes where the header says %d", len(frame), n)
	}
	return h, ""
}

// readBits reads n bits (n <= 16) of b from bit offset off, most significant first.
func readBits(b []byte, off, n int) int {
	v := 0
	for i := off; i < off+n; i++ {
		v = v<<1 | int(b[i/8]>>(7-i%8))&1
	}
	return v
}

// mainDataBegin reads main_data_begin from side information.
func (h mp3Head) mainDataBegin(side []byte) int {
	if h.lsf() {
		return int(side[0])
	}
	return readBits(side, 0, 9)
}

// setMainDataBegin writes main_data_begin (which must fit) into side.
func (h mp3Head) setMainDataBegin(side []byte, begin int) {
	if h.lsf() {
		side[0] = byte(begin)
		return
	}
	side[0], side[1] = byte(begin>>1), side[1]&0x7F|byte(begin&1)<<7
}

// mainDataBits is the length of the frame's main data: the part2_3_length
// of every granule and channel. After main_data_begin and the private bits
// (and in MPEG-1 the scfsi bits), each granule/channel's side information
// starts with part2_3_length, every 59 bits in MPEG-1 and 63 in MPEG-2/2.5.
func (h mp3Head) mainDataBits(side []byte) int {
	ch := 2
	if h.mono {
		ch = 1
	}
	off, stride, n := 9+5+4, 59, 2*ch // MPEG-1 mono
	switch {
	case !h.lsf() && !h.mono:
		off = 9 + 3 + 8
	case h.lsf():
		off, stride, n = 8+1, 63, ch
		if !h.mono {
			off = 8 + 2
		}
	}
	total := 0
	for k := range n {
		total += readBits(side, off+k*stride, 12)
	}
	return total
}

// mp3CRC is the CRC-16 (polynomial 0x8005, initial value 0xFFFF) of a
// protected Layer III frame: over the header's last two bytes and the
// side information.
func mp3CRC(frame []byte, h mp3Head) uint16 {
	crc := uint16(0xFFFF)
	feed := func(b byte) {
		for i := 7; i >= 0; i-- {
			bit := (b>>i)&1 == 1
			top := crc&0x8000 != 0
			crc <<= 1
			if top != bit {
				crc ^= 0x8005
			}
		}
	}
	feed(frame[2])
	feed(frame[3])
	for _, b := range frame[6 : 6+h.sideLen()] {
		feed(b)
	}
	return crc
}

// mp3Laid is a kept frame in the joined stream, not yet written out.
type mp3Laid struct {
	head      mp3Head
	hdr       []byte // the input frame's header, CRC and side information
	main      []byte // its main data, from its own segment
	bitrate   int    // bitrate_index and padding bit of the output frame
	pad       int
	start     int // payload start in the joined stream's payload bytes
	mainStart int // where its main data starts there; -1 until laid
}

func (f *mp3Laid) size() int { return f.head.size(f.bitrate, f.pad) }

func (f *mp3Laid) payload() int { return f.size() - f.head.sideOff() - f.head.sideLen() }

func (f *mp3Laid) end() int { return f.start + f.payload() }

// mp3Joiner joins segments of Layer III frames into one stream (see the
// comment at the top of this file). It is not safe for concurrent use, and
// not to be used after an error.
type mp3Joiner struct {
	first    *mp3Head   // the first frame's header: every frame must match it
	segments int        // add calls so far
	held     []*mp3Laid // laid out, not yet written: later main data may still go into them
	next     int        // payload start of held[0]: where the written frames end
	mainEnd  int        // where the written frames' main data ends
}

// newMP3Joiner returns a joiner that turns segments of MPEG audio frames
// into one continuous stream.
func newMP3Joiner() *mp3Joiner { return &mp3Joiner{} }

// add takes one segment's frames in order (one MPEG-1/2/2.5 Layer III frame
// per element, header included, as FFmpeg's libmp3lame wrapper emits them
// as packets), of which the first skip are pre-roll to drop, and returns the
// re-laid frames that are final so far (it may hold back a few frames whose
// payload still receives following frames' main data). The frames returned
// by add and flush, in order, stand one for one for the frames kept.
func (j *mp3Joiner) add(frames [][]byte, skip int) ([][]byte, error) {
	seg := j.segments
	j.segments++
	if skip < 0 || skip > len(frames) {
		return nil, &mp3FrameError{seg, 0, fmt.Sprintf("skip %d of %d frames", skip, len(frames))}
	}
	heads := make([]mp3Head, len(frames))
	starts := make([]int, len(frames)+1) // payload starts in the segment's own stream
	var payloads []byte
	for i, f := range frames {
		h, bad := parseMP3Head(f)
		if bad == "" && j.first != nil && (h.version != j.first.version || h.rate != j.first.rate || h.mono != j.first.mono) {
			bad = "MPEG version, sample rate or channel count differs from the first frame's"
		}
		if bad != "" {
			return nil, &mp3FrameError{seg, i, bad}
		}
		if j.first == nil {
			j.first = &h
		}
		heads[i] = h
		payloads = append(payloads, f[h.sideOff()+h.sideLen():]...)
		starts[i+1] = len(payloads)
	}
	var out [][]byte
	for i := skip; i < len(frames); i++ {
		h, f := heads[i], frames[i]
		side := f[h.sideOff() : h.sideOff()+h.sideLen()]
		from := starts[i] - h.mainDataBegin(side)
		n := (h.mainDataBits(side) + 7) / 8
		switch {
		case from < 0:
			return nil, &mp3FrameError{seg, i, fmt.Sprintf("main data begins %d bytes before the segment's first frame (too little pre-roll)", -from)}
		case from+n > starts[i+1]:
			return nil, &mp3FrameError{seg, i, fmt.Sprintf("main data (%d bytes) runs %d bytes past the frame's end", n, from+n-starts[i+1])}
		}
		laid := &mp3Laid{head: h, hdr: slices.Clone(f[:h.sideOff()+h.sideLen()]),
			main: slices.Clone(payloads[from : from+n]), bitrate: h.bitrate, pad: h.pad}
		if err := j.lay(laid); err != nil {
			return nil, &mp3FrameError{seg, i, err.Error()}
		}
		out = j.emit(out, false)
	}
	return out, nil
}

// flush returns the frames still held.
func (j *mp3Joiner) flush() ([][]byte, error) {
	return j.emit(nil, true), nil
}

// lay lays f out after the frames held. Where its main data does not
// fit, frames grow, each to the smallest size that does it: f itself, else
// f at its largest and the frame before it, and so on back through the
// frames held; then each frame grown shrinks back as far as it can. A held
// frame that grows adds room at its end, moving the main data of the
// frames after it later or not at all; a frame whose main data starts in
// a frame already written must not move, and layout refuses that.
func (j *mp3Joiner) lay(f *mp3Laid) error {
	f.mainStart = -1
	fs := append(j.held, f)
	if j.layout(fs) {
		j.held = fs
		return nil
	}
	orig := make([][2]int, len(fs))
	for i, g := range fs {
		orig[i] = [2]int{g.bitrate, g.pad}
	}
	for m := len(fs) - 1; m >= 0; m-- {
		if !grow(fs[m], orig[m], func() bool { return j.layout(fs) }) {
			continue // fs[m] stays at its largest
		}
		for i := m + 1; i < len(fs); i++ { // as small again as may be
			grow(fs[i], orig[i], func() bool { return j.layout(fs) })
		}
		j.held = fs
		return nil
	}
	return fmt.Errorf("%d bytes of main data fit nowhere, even with every frame held (%d) at the highest bitrate", len(f.main), len(fs))
}

// grow sets g to the smallest size from from (bitrate index and padding)
// up that fits; false, with g at its largest, if none does.
func grow(g *mp3Laid, from [2]int, fits func() bool) bool {
	type option struct{ bitrate, pad, size int }
	var opts []option
	base := g.head.size(from[0], from[1])
	for b := from[0]; b <= 14; b++ {
		for pad := range 2 {
			if s := g.head.size(b, pad); s > base || [2]int{b, pad} == from {
				opts = append(opts, option{b, pad, s})
			}
		}
	}
	slices.SortStableFunc(opts, func(a, b option) int { return cmp.Compare(a.size, b.size) })
	for _, o := range opts {
		g.bitrate, g.pad = o.bitrate, o.pad
		if fits() {
			return true
		}
	}
	return false
}

// layout places fs (the frames held and a new one), at their sizes, after
// the frames written: each frame's main data as early as the previous
// frame's main data and its reach allow. It reports whether every frame's
// main data then ends in its own frame, with no frame moved whose main
// data starts in a frame already written, and if so keeps the places.
func (j *mp3Joiner) layout(fs []*mp3Laid) bool {
	start, mainEnd := j.next, j.mainEnd
	places := make([][2]int, len(fs))
	for i, f := range fs {
		ms := max(mainEnd, start-f.head.reach(f.size()))
		if ms+len(f.main) > start+f.payload() || (f.mainStart >= 0 && f.mainStart < j.next && ms != f.mainStart) {
			return false
		}
		places[i] = [2]int{start, ms}
		start, mainEnd = start+f.payload(), ms+len(f.main)
	}
	for i, f := range fs {
		f.start, f.mainStart = places[i][0], places[i][1]
	}
	return true
}

// mp3Hold is how many frames the joiner holds at least: frames that may
// still grow to make room for a later frame's main data.
const mp3Hold = 8

// emit appends to out the held frames no later main data can reach and
// beyond the last mp3Hold (all of them if all), written out.
func (j *mp3Joiner) emit(out [][]byte, all bool) [][]byte {
	for len(j.held) > 0 {
		f, last := j.held[0], j.held[len(j.held)-1]
		if !all && (len(j.held) <= mp3Hold || f.end() > last.end()-f.head.maxBegin()) {
			break
		}
		out = append(out, j.write(f))
		j.held = j.held[1:]
		j.next, j.mainEnd = f.end(), f.mainStart+len(f.main)
	}
	return out
}

// write makes f's output frame: its header with the new bitrate, its side
// information with the new main_data_begin, a CRC if it had one, and the
// main data of every laid frame that falls in its payload.
func (j *mp3Joiner) write(f *mp3Laid) []byte {
	h := f.head
	b := make([]byte, h.size(f.bitrate, f.pad))
	copy(b, f.hdr)
	b[2] = byte(f.bitrate)<<4 | b[2]&0x0D | byte(f.pad)<<1
	h.setMainDataBegin(b[h.sideOff():], f.start-f.mainStart)
	if h.crc {
		crc := mp3CRC(b, h)
		b[4], b[5] = byte(crc>>8), byte(crc)
	}
	payload := b[h.sideOff()+h.sideLen():]
	for _, g := range j.held {
		if g.mainStart >= f.end() {
			break
		}
		lo, hi := max(g.mainStart, f.start), min(g.mainStart+len(g.main), f.end())
		if lo < hi {
			copy(payload[lo-f.start:hi-f.start], g.main[lo-g.mainStart:])
		}
	}
	return b
}
