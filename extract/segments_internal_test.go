package extract

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/stretchr/testify/assert"
)

// TestSegmentPlan: which outputs are encoded in segments, and in what
// frames, with the package's test segments (TestMain).
func TestSegmentPlan(t *testing.T) {
	const rate = 44100
	aacPre := max(int64(math.Ceil(specs[AAC].splice.preroll.Seconds()*rate/1024)), 2)
	for _, c := range []struct {
		name        string
		format      Format
		frameSize   int
		parallelism int
		duration    time.Duration // 0: to the end of a track of unknown length
		ok          bool
		pre, post   int64
	}{
		{"aac 60 s", AAC, 1024, 2, time.Minute, true, aacPre, 2},
		{"m4a unknown length", M4A, 1024, 4, 0, true, aacPre, 2},
		{"aac 100 s on 4", AAC, 1024, 4, 100 * time.Second, true, aacPre, 2},
		{"ac3", AC3, 1536, 2, time.Minute, true, 2, 1},
		{"wma", WMA, 2048, 2, time.Minute, true, 2, 1},
		{"flac", FLAC, 4608, 2, time.Minute, true, 0, 0},
		{"one encoder asked", AAC, 1024, 1, time.Minute, false, 0, 0},
		{"shorter than the shortest", AAC, 1024, 2, segmentMin / 2, false, 0, 0},
		{"mp3", MP3, 1152, 2, time.Minute, true, 8, 2},
		{"vorbis", OGG, 0, 2, time.Minute, false, 0, 0},
		{"wav", WAV, 0, 2, time.Minute, false, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Duration: c.duration, Parallelism: c.parallelism}
			tr := &transcoder{pipeline: &pipeline{o: o, spec: specs[c.format]}, frameSize: c.frameSize, params: encParams{rate: rate}}
			tr.w = newWindow(o, rate, rational{1, rate}, 0, 0, AudioTrack{})
			size, pre, post, ok := tr.segmentPlan()
			if !assert.Equal(t, c.ok, ok) || !ok {
				return
			}
			assert.Equal(t, c.pre, pre, "pre-roll frames")
			assert.Equal(t, c.post, post, "post-roll frames")
			most := max((int64(segmentLength.Seconds()*rate)+int64(c.frameSize)-1)/int64(c.frameSize), pre+post+1)
			if c.duration == 0 {
				assert.Equal(t, most, size, "frames in a segment")
				return
			}
			assert.LessOrEqual(t, size, most, "frames in a segment")
			total := (int64(c.duration.Seconds()*rate) + int64(c.frameSize) - 1) / int64(c.frameSize)
			segments := (total + size - 1) / size
			if segmentLength >= 10*time.Second { // the rounding evens out (not so for AUDEX_TEST_SEGMENTS' short ones)
				assert.Zero(t, segments%int64(c.parallelism), "%d segments of %d frames for %d encoders", segments, size, c.parallelism)
			}
			assert.Greater(t, size*segments, total-size, "no segment is empty")
		})
	}
}

// flacTestFrame is a FLAC frame as FFmpeg's encoder writes it (fixed block
// size 4608: code 1 is 192, so 0111 with the size in 16 bits; 44.1 kHz;
// stereo 16-bit), numbered num, over payload.
func flacTestFrame(num uint64, payload []byte) []byte {
	b := []byte{0xFF, 0xF8, 0x79, 0x18}
	b = flacAppendUTF8(b, num)
	b = binary.BigEndian.AppendUint16(b, 4608-1)
	b = append(b, flacCRC8(b))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint16(b, flacCRC16(b))
}

func TestFLACRenumber(t *testing.T) {
	payload := []byte("subframes: any bytes, kept as they are")
	for _, c := range []struct{ from, to uint64 }{
		{0, 0}, {0, 1}, {3, 127}, {0, 128}, {5, 0x7FF}, {0, 0x800}, {9, 1 << 20}, {0, 1<<31 - 1}, {1<<31 - 1, 2},
	} {
		got, err := flacRenumber(flacTestFrame(c.from, payload), c.to)
		if assert.NoError(t, err) {
			assert.Equal(t, flacTestFrame(c.to, payload), got, "%d -> %d", c.from, c.to)
			assert.Zero(t, flacCRC16(got), "a frame's CRC-16 over itself and its CRC is 0")
		}
	}
	bad := flacTestFrame(7, payload)
	bad[6] ^= 1 // the header CRC no longer matches
	_, err := flacRenumber(bad, 1)
	assert.ErrorIs(t, err, errFLACFrame)
	_, err = flacRenumber([]byte{0xFF, 0xF9, 0, 0, 0, 0, 0, 0}, 1) // variable block size
	assert.ErrorIs(t, err, errFLACFrame)
}

func TestFLACUTF8(t *testing.T) {
	for v, want := range map[uint64][]byte{
		0: {0}, 0x7F: {0x7F}, 0x80: {0xC2, 0x80}, 0x7FF: {0xDF, 0xBF}, 0x800: {0xE0, 0xA0, 0x80},
		0xFFFF: {0xEF, 0xBF, 0xBF}, 0x10000: {0xF0, 0x90, 0x80, 0x80}, 1<<31 - 1: {0xFD, 0xBF, 0xBF, 0xBF, 0xBF, 0xBF},
		1 << 35: {0xFE, 0xA0, 0x80, 0x80, 0x80, 0x80, 0x80},
	} {
		got := flacAppendUTF8(nil, v)
		assert.Equal(t, want, got, "%#x", v)
		assert.Equal(t, len(want), flacUTF8Len(got[0]))
	}
}

func TestFLACStreamInfo(t *testing.T) {
	si := make([]byte, 34)
	si[10], si[11], si[12], si[13] = 0x0A, 0xC4, 0x42, 0xF0 // 44.1 kHz, stereo, 16-bit, and 0 samples
	sum := make([]byte, 16)
	for i := range sum {
		sum[i] = byte(i + 1)
	}
	flacStreamInfo(si, 12, 0x123456, 0x9_8765_4321, sum)
	assert.Equal(t, []byte{0, 0, 12}, si[4:7], "min frame size")
	assert.Equal(t, []byte{0x12, 0x34, 0x56}, si[7:10], "max frame size")
	assert.Equal(t, []byte{0x0A, 0xC4, 0x42, 0xF9, 0x87, 0x65, 0x43, 0x21}, si[10:18], "rate, channels, bits kept; 36-bit total")
	assert.Equal(t, sum, si[18:])
}

// TestSegmentMemory: many cores on a wide, fast output run fewer segments
// at once than Parallelism, so that the PCM they hold stays bounded.
func TestSegmentMemory(t *testing.T) {
	const rate = 96000
	o := Options{Format: AAC, Parallelism: 64}
	tr := &transcoder{pipeline: &pipeline{o: o, spec: specs[AAC]}, frameSize: 1024,
		params: encParams{rate: rate, layout: astiav.ChannelLayout7Point1, fmt: astiav.SampleFormatFltp}}
	tr.w = newWindow(o, rate, rational{1, rate}, 0, 0, AudioTrack{Duration: time.Hour})
	g, ok := tr.frameSink().(*segmenter)
	if !assert.True(t, ok, "segments") {
		return
	}
	held := int64(g.workers) * (g.size + g.pre + g.post) * 1024 * 8 * 4
	assert.Less(t, g.workers, 64)
	assert.GreaterOrEqual(t, g.workers, 2)
	assert.LessOrEqual(t, held, int64(segmentMemory), "%d segments of %d frames", g.workers, g.size)

	o.Parallelism = 2
	tr.o = o
	g = tr.frameSink().(*segmenter)
	assert.Equal(t, 2, g.workers, "within the bound: Parallelism")
}
