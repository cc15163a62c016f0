package extract

// What an exact copy reads in codec packets, in pure Go (table-tested in
// frames_test.go). MPEG audio Layer III frames keep part of their data in
// earlier frames (the bit reservoir): a copy from frame k must carry every
// earlier frame that data lies in. An Opus packet's length in samples is in
// its first byte.

// mp3Reservoir reads a Layer III frame: how many bytes before its own main
// data its main data begins (main_data_begin: the reservoir it draws on)
// and how many bytes of main data it holds itself. ok is false for what is
// not a Layer III frame. It reads no more than the frame's layout: a copy
// carries frames of any bitrate, free format included (mp3splice.go's
// joiner, which rewrites frames, checks more).
func mp3Reservoir(frame []byte) (begin, holds int, ok bool) {
	h, bad := readMP3Head(frame)
	off, side := h.sideOff(), h.sideLen()
	if bad != "" || len(frame) < off+side {
		return 0, 0, false
	}
	return h.mainDataBegin(frame[off:]), len(frame) - off - side, true
}

// mp3Needs is the index of the earliest of frames[0..k] a decoder must be
// given for frame k to decode as it does in the whole stream: the frame
// before it (the filterbanks' overlap) and every frame the reservoirs of
// those two reach into. ok is false when a reservoir reaches before
// frames[0], or a frame is not Layer III.
func mp3Needs(frames [][]byte, k int) (first int, ok bool) {
	first = max(k-1, 0)
	for f := k; f >= k-1 && f >= 0; f-- {
		begin, _, ok := mp3Reservoir(frames[f])
		if !ok {
			return 0, false
		}
		for j := f - 1; begin > 0; j-- {
			if j < 0 {
				return 0, false
			}
			_, holds, ok := mp3Reservoir(frames[j])
			if !ok {
				return 0, false
			}
			begin -= holds
			first = min(first, j)
		}
	}
	return first, true
}

// opusPacketSamples is how many samples (at 48 kHz) an Opus packet decodes
// to, from its TOC byte (RFC 6716, 3.1): the frame size its configuration
// names times its frame count; 0 for what is not a packet.
func opusPacketSamples(p []byte) int {
	if len(p) < 1 {
		return 0
	}
	config := p[0] >> 3
	var frame int
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]int{480, 960, 1920, 2880}[config&3]
	case config < 16: // hybrid: 10, 20 ms
		frame = [2]int{480, 960}[config&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]int{120, 240, 480, 960}[config&3]
	}
	switch p[0] & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	}
	if len(p) < 2 {
		return 0
	}
	return int(p[1]&0x3F) * frame
}
