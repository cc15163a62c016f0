package extract

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// TestFindStartHoldsAudio: the audio packets read while dating an H.264
// stream are held for the decoder, up to the probe size; past it the input
// is sought back to the start instead. Either way reading begins with the
// audio's first packet, and (PCM having no priming packet to skip) the
// extraction equals that of the audio alone.
func TestFindStartHoldsAudio(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mov", Seconds: 2, Signal: "sine", AudioCodec: "pcm_s16le"})
	alone := testmedia.Make(t, "pcm-alone.mov", "-i", src, "-map", "0:a", "-c", "copy")
	wav := func(path string, lim Limits) *testmedia.Audio {
		out := filepath.Join(t.TempDir(), "out.wav")
		_, err := ExtractFile(context.Background(), out, path, &Options{Format: WAV, Limits: lim})
		require.NoError(t, err)
		return testmedia.Decode(t, out)
	}
	want := wav(alone, Limits{})
	for _, c := range []struct {
		probeSize int64
		held      bool
	}{{0, true}, {8 << 10, false}} {
		lim := Limits{ProbeSize: c.probeSize}.withDefaults()
		in, err := openInput(context.Background(), source{path: src}, lim, nil)
		require.NoError(t, err)
		assert.Equal(t, c.held, len(in.ahead) > 0, "probe size %d", lim.ProbeSize)
		pkt := astiav.AllocPacket()
		for {
			require.NoError(t, in.readFrame(pkt))
			if in.fc.Streams()[pkt.StreamIndex()].CodecParameters().MediaType() == astiav.MediaTypeAudio {
				break
			}
			pkt.Unref()
		}
		assert.Zero(t, pkt.Pts(), "probe size %d: the first audio packet", lim.ProbeSize)
		pkt.Free()
		in.close()
		assert.Equal(t, want.Samples, wav(src, Limits{ProbeSize: c.probeSize}).Samples, "probe size %d", lim.ProbeSize)
	}
}

// TestStreamStart: an Opus track in Matroska starts at its first played
// sample, not at the pre-skip packet the demuxer dates CodecDelay earlier;
// the codec parameters audex reads through unsafe (initial padding, seek
// pre-roll) are Matroska's CodecDelay and SeekPreRoll.
func TestStreamStart(t *testing.T) {
	t.Parallel()
	for _, c := range []testmedia.Spec{{Container: "webm", Seconds: 2}, {Container: "opus", Seconds: 2}} {
		in, err := openInput(context.Background(), source{path: testmedia.Video(t, c)}, Limits{}.withDefaults(), nil)
		require.NoError(t, err)
		for _, s := range in.fc.Streams() {
			cp := s.CodecParameters()
			if cp.CodecID() != astiav.CodecIDOpus {
				continue
			}
			assert.Equal(t, 312, initialPaddingOf(cp), "%s: libopus's pre-skip", c.Container)
			assert.Equal(t, 3840, seekPrerollOf(cp), "%s: 80 ms", c.Container)
			assert.Equal(t, int64(0), streamStart(in.fc, s), "%s: the first played sample", c.Container)
		}
		assert.Equal(t, int64(0), in.t0, "%s: the timeline starts with the audio played, not its pre-skip", c.Container)
		in.close()
	}
}
