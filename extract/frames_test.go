package extract

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// mp3Frame is a Layer III frame of size bytes whose main data begins begin
// bytes back: MPEG-1 stereo (32 bytes of side information) unless mono or
// mpeg2; with a CRC if crc.
func mp3Frame(size, begin int, mpeg2, mono, crc bool) []byte {
	f := make([]byte, size)
	f[0], f[1] = 0xFF, 0xFB // MPEG-1 Layer III, no CRC
	if mpeg2 {
		f[1] = 0xF3
	}
	if crc {
		f[1] &^= 1
	}
	if mono {
		f[3] = 0xC0
	}
	off := 4
	if crc {
		off += 2
	}
	if mpeg2 {
		f[off] = byte(begin)
	} else {
		f[off], f[off+1] = byte(begin>>1), byte(begin&1)<<7
	}
	return f
}

func TestMP3Reservoir(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name         string
		frame        []byte
		begin, holds int
		ok           bool
	}{
		{"mpeg-1 stereo", mp3Frame(417, 300, false, false, false), 300, 417 - 4 - 32, true},
		{"mpeg-1 mono with crc", mp3Frame(417, 511, false, true, true), 511, 417 - 6 - 17, true},
		{"mpeg-2 stereo", mp3Frame(208, 200, true, false, false), 200, 208 - 4 - 17, true},
		{"mpeg-2 mono", mp3Frame(104, 0, true, true, false), 0, 104 - 4 - 9, true},
		{"no sync", []byte{0, 0, 0, 0, 0, 0}, 0, 0, false},
		{"layer II", []byte{0xFF, 0xFD, 0, 0, 0, 0}, 0, 0, false},
		{"too short for its side information", mp3Frame(417, 1, false, false, false)[:20], 0, 0, false},
	} {
		begin, holds, ok := mp3Reservoir(c.frame)
		assert.Equal(t, c.ok, ok, c.name)
		if c.ok {
			assert.Equal(t, [2]int{c.begin, c.holds}, [2]int{begin, holds}, c.name)
		}
	}
}

func TestMP3Needs(t *testing.T) {
	t.Parallel()
	f := func(begin int) []byte { return mp3Frame(417, begin, false, false, false) } // holds 381 bytes
	for _, c := range []struct {
		name   string
		frames [][]byte
		k      int
		first  int
		ok     bool
	}{
		{"no reservoir: the frame before, for the overlap", [][]byte{f(0), f(0), f(0), f(0)}, 3, 2, true},
		{"the first frame of a stream", [][]byte{f(0)}, 0, 0, true},
		{"frame k draws on k-1 only", [][]byte{f(0), f(0), f(0), f(200)}, 3, 2, true},
		{"frame k-1 draws on k-2", [][]byte{f(0), f(0), f(300), f(0)}, 3, 1, true},
		{"a reservoir over two frames", [][]byte{f(0), f(0), f(0), f(511), f(0)}, 4, 1, true},
		{"reaching before what is held", [][]byte{f(511), f(511)}, 1, 0, false},
		{"not Layer III", [][]byte{f(0), {0, 1, 2, 3}}, 1, 0, false},
	} {
		first, ok := mp3Needs(c.frames, c.k)
		assert.Equal(t, c.ok, ok, c.name)
		if c.ok {
			assert.Equal(t, c.first, first, c.name)
		}
	}
}

func TestOpusPacketSamples(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		packet []byte
		want   int
	}{
		{"CELT 20 ms, one frame (libopus's default)", []byte{31 << 3}, 960},
		{"CELT 2.5 ms, two frames", []byte{16<<3 | 1}, 240},
		{"SILK 60 ms, two frames of different sizes", []byte{3<<3 | 2}, 5760},
		{"hybrid 10 ms, three frames (code 3)", []byte{12<<3 | 3, 3}, 1440},
		{"CELT 5 ms, code 3 with padding flags", []byte{17<<3 | 3, 0xC0 | 4}, 960},
		{"code 3 cut short", []byte{31<<3 | 3}, 0},
		{"empty", nil, 0},
	} {
		assert.Equal(t, c.want, opusPacketSamples(c.packet), c.name)
	}
}
