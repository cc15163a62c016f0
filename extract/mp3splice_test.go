package extract

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// lameDelay is what FFmpeg's libmp3lame wrapper primes a stream with,
// decoder delay included (its initial_padding): decoded sample d of a
// stream without a LAME tag is source sample d-lameDelay.
const lameDelay = 576 + mp3DecoderDelay

// mp3Config is one encoding the joiner is tested on.
type mp3Config struct {
	rate, ch int
	vbr      bool // LAME VBR quality 4, else CBR at kbps
	kbps     int
}

func (c mp3Config) String() string {
	if c.vbr {
		return fmt.Sprintf("%d-%dch-vbr4", c.rate, c.ch)
	}
	return fmt.Sprintf("%d-%dch-cbr%d", c.rate, c.ch, c.kbps)
}

// spf is samples per frame: 1152 in MPEG-1 (32 kHz and up), 576 below.
func (c mp3Config) spf() int {
	if c.rate < 32000 {
		return 576
	}
	return 1152
}

// mp3Configs: MPEG-1 and MPEG-2 LSF rates, mono and stereo, CBR 128 kb/s
// and VBR.
func mp3Configs() []mp3Config {
	var cs []mp3Config
	for _, rate := range []int{44100, 48000, 22050, 24000} {
		for _, ch := range []int{1, 2} {
			for _, vbr := range []bool{false, true} {
				cs = append(cs, mp3Config{rate, ch, vbr, 128})
			}
		}
	}
	return cs
}

// musicPCM is n samples per channel of a deterministic music-like signal at
// rate, interleaved 16-bit: a melody of six-harmonic notes gliding into
// each other every half second over a bass line, the channels apart.
// Stationary enough that every frame is coded about as well as the next,
// so a splice that coded worse would show.
func musicPCM(rate, ch, n int) []int16 {
	notes := []float64{220, 261.63, 329.63, 392, 293.66, 349.23, 440, 246.94}
	out := make([]int16, n*ch)
	phase := make([]float64, ch)
	for i := range n {
		t := float64(i) / float64(rate)
		beat := int(t * 2)
		glide := min(1, (t-float64(beat)/2)/0.05)
		f := notes[(beat+len(notes)-1)%len(notes)]*(1-glide) + notes[beat%len(notes)]*glide
		bass := 0.15 * math.Sin(2*math.Pi*notes[(beat/4)%len(notes)]/4*t)
		for c := range ch {
			phase[c] += 2 * math.Pi * f * (1 + 0.002*float64(c)) / float64(rate)
			v := bass
			for h := 1; h <= 6; h++ {
				v += 0.2 / float64(h) * math.Sin(float64(h)*phase[c]+float64(c))
			}
			out[i*ch+c] = int16(math.Round(32767 * v))
		}
	}
	return out
}

// noisePCM is n samples per channel of loud white noise, which no bitrate
// codes well: LAME spends every bit it has and leaves its reservoir empty.
func noisePCM(ch, n int, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]int16, n*ch)
	for i := range out {
		out[i] = int16(rng.IntN(50000) - 25000)
	}
	return out
}

// clicksPCM is n samples per channel of a soft tone with a loud click
// every tenth of a second: the clicks cost LAME all the bits it saved.
func clicksPCM(rate, ch int) []int16 {
	out := make([]int16, rate*ch)
	for i := range out {
		s := i / ch
		if s%(rate/10) < 30 {
			out[i] = int16(30000 * math.Sin(float64(s)))
		} else {
			out[i] = int16(100 * math.Sin(2*math.Pi*440*float64(s)/float64(rate)))
		}
	}
	return out
}

// splitMP3 cuts a headerless stream of Layer III frames into frames.
func splitMP3(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var frames [][]byte
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 4, "a frame cut short")
		h, _ := parseMP3Head(b[:4])
		require.NotZero(t, h.rate, "not a Layer III frame at % x", b[:4])
		n := h.size(int(b[2]>>4), int(b[2]>>1)&1)
		require.LessOrEqual(t, n, len(b), "a frame cut short")
		frames = append(frames, b[:n])
		b = b[n:]
	}
	return frames
}

// lameEncode encodes pcm (interleaved, c.ch channels) with the ffmpeg
// program's libmp3lame into Layer III frames, without a Xing frame.
func lameEncode(t testing.TB, c mp3Config, pcm []int16) [][]byte {
	t.Helper()
	dir := t.TempDir()
	wav, mp3 := filepath.Join(dir, "in.wav"), filepath.Join(dir, "out.mp3")
	var b bytes.Buffer
	b.Write(testmedia.WAVHeader(uint32(c.rate), uint32(c.ch), uint32(2*len(pcm))))
	require.NoError(t, binary.Write(&b, binary.LittleEndian, pcm))
	require.NoError(t, os.WriteFile(wav, b.Bytes(), 0o644))
	mode := []string{"-b:a", fmt.Sprintf("%dk", c.kbps)}
	if c.vbr {
		mode = []string{"-q:a", "4"}
	}
	args := append(append([]string{"-v", "error", "-nostdin", "-y", "-i", wav, "-c:a", "libmp3lame"}, mode...),
		"-f", "mp3", "-write_xing", "0", "-id3v2_version", "0", mp3)
	out, err := exec.Command(testmedia.FFmpeg(t), args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(mp3)
	require.NoError(t, err)
	return splitMP3(t, data)
}

// mp3Laying is how a frame of a stream holds its main data, as a decoder
// resolves it through main_data_begin.
type mp3Laying struct {
	main []byte // the main data, the bits after its part2_3_length zeroed
	need int    // how much of the frame's own payload it takes
	free int    // bytes after it to the end of the frame's payload
}

// mp3Layout is how each of frames holds its main data; the error says
// where a frame's main data begins further back than it may (beyond 9 or
// 8 bits, or with the frame beyond what decoders buffer) or outside the stream, or
// ends past its own frame.
func mp3Layout(frames [][]byte) ([]mp3Laying, error) {
	var payloads []byte
	var out []mp3Laying
	for i, f := range frames {
		h, bad := parseMP3Head(f)
		if bad != "" {
			return nil, fmt.Errorf("frame %d: %s", i, bad)
		}
		side := f[h.sideOff() : h.sideOff()+h.sideLen()]
		start := len(payloads)
		payloads = append(payloads, f[h.sideOff()+h.sideLen():]...)
		begin, nbits := h.mainDataBegin(side), h.mainDataBits(side)
		from, n := start-begin, (nbits+7)/8
		if begin > h.reach(len(f)) || from < 0 || from+n > len(payloads) {
			return nil, fmt.Errorf("frame %d (%d bytes): main data [%d, %d) outside [0, %d) (begin %d)", i, len(f), from, from+n, len(payloads), begin)
		}
		m := slices.Clone(payloads[from : from+n])
		if nbits%8 != 0 {
			m[n-1] &= 0xFF << (8 - nbits%8)
		}
		out = append(out, mp3Laying{m, max(0, from+n-start), len(payloads) - from - n})
	}
	return out, nil
}

// mp3Seg is one segment's frames for the joiner.
type mp3Seg struct {
	frames [][]byte
	skip   int
}

// joinMP3 joins segs and returns the joined frames and the kept input
// frames they stand for.
func joinMP3(t testing.TB, segs []mp3Seg) (joined, kept [][]byte) {
	t.Helper()
	j := newMP3Joiner()
	for _, s := range segs {
		out, err := j.add(s.frames, s.skip)
		require.NoError(t, err)
		joined = append(joined, out...)
		kept = append(kept, s.frames[s.skip:]...)
	}
	out, err := j.flush()
	require.NoError(t, err)
	return append(joined, out...), kept
}

// checkJoined asserts what the joiner promises of joined, made from the
// kept frames of segs (kept, in order): one frame per kept frame, with its
// side information and main data bit for bit; every main_data_begin
// within reach and inside the stream; each frame's main data ending in its
// own frame; each frame's header unchanged but where the frame needed
// more room, then at the smallest size that holds it (unless it grew to
// make room for a frame after it at the highest bitrate). It returns which
// frames grew and by how many bytes in all.
func checkJoined(t *testing.T, joined, kept [][]byte, segs []mp3Seg) (grown []int, extra int) {
	t.Helper()
	require.Len(t, joined, len(kept))
	got, err := mp3Layout(joined)
	require.NoError(t, err, "joined stream")
	var want []mp3Laying
	for _, s := range segs {
		l, err := mp3Layout(s.frames)
		require.NoError(t, err, "a segment")
		want = append(want, l[s.skip:]...)
	}
	for i := range joined {
		require.Equal(t, want[i].main, got[i].main, "frame %d's main data", i)
		in, out := kept[i], joined[i]
		h, _ := parseMP3Head(in)
		assert.Equal(t, in[:2], out[:2], "frame %d: header", i)
		assert.Equal(t, in[2]&0x0D, out[2]&0x0D, "frame %d: sampling frequency, private bit", i)
		assert.Equal(t, in[3], out[3], "frame %d: header", i)
		side := func(f []byte) []byte { // but for main_data_begin
			s := slices.Clone(f[h.sideOff() : h.sideOff()+h.sideLen()])
			h.setMainDataBegin(s, 0)
			return s
		}
		assert.Equal(t, side(in), side(out), "frame %d: side information", i)
		if in[2] == out[2] {
			continue
		}
		grown, extra = append(grown, i), extra+len(out)-len(in)
		require.Greater(t, len(out), len(in), "frame %d shrank", i)
		if slices.ContainsFunc(joined[i+1:min(i+4, len(joined))], func(f []byte) bool { return f[2]>>4 == 14 }) {
			continue // grown to make room for a frame after it, at the highest bitrate
		}
		for b := h.bitrate; b <= 14; b++ {
			for pad := range 2 {
				if s := h.size(b, pad); s > len(in) && s < len(out) {
					assert.Less(t, s-h.sideOff()-h.sideLen(), got[i].need, "frame %d: a smaller frame (%d bytes) would hold it", i, s)
				}
			}
		}
	}
	return grown, extra
}

// decodeMP3 decodes a headerless MP3 stream with the ffmpeg program (its
// buffer, bitstream and CRC checks on) and with mpg123, asserts that
// neither reports anything, and returns both decodes, interleaved.
func decodeMP3(t *testing.T, frames [][]byte, ch int) (ff, mpg []float32) {
	t.Helper()
	dir := t.TempDir()
	in, ffWAV, mpgWAV := filepath.Join(dir, "j.mp3"), filepath.Join(dir, "ff.wav"), filepath.Join(dir, "mpg123.wav")
	require.NoError(t, os.WriteFile(in, bytes.Join(frames, nil), 0o644))
	out, err := exec.Command(testmedia.FFmpeg(t), "-v", "error", "-err_detect", "crccheck+bitstream+buffer", "-nostdin", "-y",
		"-f", "mp3", "-i", in, "-c:a", "pcm_f32le", ffWAV).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, string(out), "FFmpeg's decoder reports errors")
	bin, err := exec.LookPath("mpg123")
	if err != nil {
		t.Skip("mpg123 not installed (make test installs it): no second decoder")
	}
	out, err = exec.Command(bin, "-q", "-w", mpgWAV, in).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Empty(t, string(out), "mpg123 reports errors")
	a, b := testmedia.Decode(t, ffWAV), testmedia.Decode(t, mpgWAV)
	require.Equal(t, ch, a.Channels)
	require.Equal(t, ch, b.Channels)
	return a.Samples, b.Samples
}

// frameSNR is the SNR in dB of each frame-long window of decoded against
// the source pcm (decoded sample d is source sample d-lameDelay), and the
// SNR of the whole; windows the decode does not cover wholly are left out.
func frameSNR(decoded []float32, pcm []int16, ch, spf int) (frames []float64, whole float64) {
	var sigAll, noiseAll float64
	for w := 0; (w+1)*spf*ch <= len(pcm) && (w+1)*spf*ch+lameDelay*ch <= len(decoded); w++ {
		var sig, noise float64
		for i := w * spf * ch; i < (w+1)*spf*ch; i++ {
			s, d := float64(pcm[i])/32768, float64(decoded[i+lameDelay*ch])
			sig += s * s
			noise += (d - s) * (d - s)
		}
		frames = append(frames, 10*math.Log10(sig/max(noise, 1e-20)))
		sigAll, noiseAll = sigAll+sig, noiseAll+noise
	}
	return frames, 10 * math.Log10(sigAll/max(noiseAll, 1e-20))
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

// muxMP3 writes frames through FFmpeg's mp3 muxer into a file, as audex's
// pipeline does: the first packet's skip-samples side data says the
// encoder's priming (lameDelay, which the muxer writes to the LAME tag as
// the encoder delay less the decoder's), the last one's the padding to
// drop at the end. It returns the file's path.
func muxMP3(t *testing.T, frames [][]byte, rate, ch, padding int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "muxed.mp3")
	fc, err := astiav.AllocOutputFormatContext(nil, "mp3", path)
	require.NoError(t, err)
	defer fc.Free()
	pb, err := astiav.OpenIOContext(path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite), nil, nil)
	require.NoError(t, err)
	defer pb.Free()
	fc.SetPb(pb)
	st := fc.NewStream(nil)
	require.NotNil(t, st)
	cp := st.CodecParameters()
	cp.SetMediaType(astiav.MediaTypeAudio)
	cp.SetCodecID(astiav.CodecIDMp3)
	cp.SetSampleRate(rate)
	cp.SetChannelLayout(map[int]astiav.ChannelLayout{1: astiav.ChannelLayoutMono, 2: astiav.ChannelLayoutStereo}[ch])
	st.SetTimeBase(astiav.NewRational(1, rate))
	opts := astiav.NewDictionary()
	defer opts.Free()
	require.NoError(t, opts.Set("id3v2_version", "0", 0))
	require.NoError(t, fc.WriteHeader(opts))
	pkt := astiav.AllocPacket()
	require.NotNil(t, pkt)
	defer pkt.Free()
	spf := 1152
	if rate < 32000 {
		spf = 576
	}
	for i, f := range frames {
		require.NoError(t, pkt.FromData(f))
		pkt.SetPts(int64(i*spf - lameDelay))
		pkt.SetDts(int64(i*spf - lameDelay))
		pkt.SetDuration(int64(spf))
		if i == 0 || i == len(frames)-1 {
			ss := &astiav.SkipSamples{}
			if i == 0 {
				ss.SkipStart = lameDelay
			}
			if i == len(frames)-1 {
				ss.SkipEnd = uint32(padding)
			}
			require.NoError(t, pkt.SideData().SkipSamples().Add(ss))
		}
		pkt.SetStreamIndex(st.Index())
		pkt.RescaleTs(astiav.NewRational(1, rate), st.TimeBase())
		require.NoError(t, fc.WriteInterleavedFrame(pkt))
		pkt.Unref()
	}
	require.NoError(t, fc.WriteTrailer())
	require.NoError(t, pb.Close())
	return path
}

// checkMuxed: frames muxed by FFmpeg's mp3 muxer carry a Xing header with
// the frame count (tagged "Info" if every frame has the first's bitrate,
// "Xing" otherwise) and a LAME tag whose delay and padding FFmpeg's
// decoder and mpg123 (gapless) honour: both decode exactly the frames'
// samples less the priming and the padding.
func checkMuxed(t *testing.T, frames [][]byte, rate, ch int) {
	t.Helper()
	spf := 1152
	if rate < 32000 {
		spf = 576
	}
	padding := spf/2 + 7
	path := muxMP3(t, frames, rate, ch, padding)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	h, _ := parseMP3Head(b[:4])
	require.NotZero(t, h.rate, "the Xing frame")
	xing := b[4+h.sideLen():]
	vbr := slices.ContainsFunc(frames, func(f []byte) bool { return f[2]>>4 != frames[0][2]>>4 })
	assert.Equal(t, map[bool]string{false: "Info", true: "Xing"}[vbr], string(xing[:4]), "the Xing header's tag")
	assert.Equal(t, uint32(len(frames)), binary.BigEndian.Uint32(xing[8:]), "the Xing header's frame count")
	want := len(frames)*spf - lameDelay - padding
	assert.Equal(t, want, testmedia.Decode(t, path).Frames(), "FFmpeg's decode of the muxed file")
	wav := filepath.Join(t.TempDir(), "mpg123.wav")
	out, err := exec.Command("mpg123", "-q", "--gapless", "-w", wav, path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, want, testmedia.Decode(t, wav).Frames(), "mpg123's decode of the muxed file")
}

// TestMP3Join: 8 s of music encoded whole, and in segments of a second and
// a bit whose encoders start 4 frames early, joined. At 44.1/48 kHz
// (MPEG-1) and 22.05/24 kHz (MPEG-2), mono and stereo, CBR 128 kb/s and
// VBR: the joined stream has the whole encode's frame count; every kept
// frame's main data is carried over bit for bit within reach
// (checkJoined); FFmpeg's decoder (with its buffer and bitstream checks)
// and mpg123 decode it without a word, to exactly the whole encode's
// length; in both decodes every frame around a splice has an SNR against
// the source no more than 1 dB below the file's median frame (VBR codes
// some passages well under its median by design, the single encoder too:
// there, no more than 1 dB below the single encoder's same frame), and the
// whole is within 0.3 dB of the single encoder's. How often frames grew,
// and by how much, is logged.
func TestMP3Join(t *testing.T) {
	t.Parallel()
	for _, c := range mp3Configs() {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			spf, ch := c.spf(), c.ch
			pcm := musicPCM(c.rate, ch, 8*c.rate)
			samples := len(pcm) / ch
			whole := lameEncode(t, c, pcm)
			n := len(whole)
			size, pre := c.rate/spf+5, 4
			var segs []mp3Seg
			var splices []int
			for f := 0; f < n; f += size {
				g, from := min(f+size, n), max(f-pre, 0)
				to := min((g+4)*spf, samples) // the frames kept are made with the look-ahead a whole encode has
				if g == n {
					to = samples
				}
				frames := lameEncode(t, c, pcm[from*spf*ch:to*ch])
				require.GreaterOrEqual(t, len(frames), f-from+g-f)
				segs = append(segs, mp3Seg{frames[:f-from+g-f], f - from})
				if f > 0 {
					splices = append(splices, f)
				}
			}
			joined, kept := joinMP3(t, segs)
			require.Len(t, joined, n)
			grown, extra := checkJoined(t, joined, kept, segs)

			ff, mpg := decodeMP3(t, joined, ch)
			checkMuxed(t, joined, c.rate, ch)
			ffWhole, _ := decodeMP3(t, whole, ch)
			assert.Len(t, ff, n*spf*ch, "FFmpeg's decode")
			assert.Len(t, mpg, n*spf*ch, "mpg123's decode")
			assert.Len(t, ffWhole, n*spf*ch, "the whole encode's decode")
			snrWholeFrames, snrWhole := frameSNR(ffWhole, pcm, ch, spf)
			for name, dec := range map[string][]float32{"FFmpeg": ff, "mpg123": mpg} {
				snr, all := frameSNR(dec, pcm, ch, spf)
				med := median(snr)
				worst := math.Inf(1)
				for _, f := range splices {
					// Encoder frame f's samples start at source sample
					// f*spf-576: check the windows around that.
					for w := f - 2; w <= f; w++ {
						assert.GreaterOrEqual(t, snr[w], min(med, snrWholeFrames[w])-1, "%s: window %d at the splice before frame %d: %.1f dB (single encoder %.1f), median %.1f", name, w, f, snr[w], snrWholeFrames[w], med)
						worst = min(worst, snr[w]-min(med, snrWholeFrames[w]))
					}
				}
				assert.InDelta(t, snrWhole, all, 0.3, "%s: SNR of the joined stream against a single encoder's", name)
				t.Logf("%s: %d splices, %d frames grew (+%d bytes, %.3f%%); SNR median %.2f dB, worst at a splice %+.2f dB from the median (or the single encoder's frame, if lower); whole %.2f dB, single encoder %.2f",
					name, len(splices), len(grown), extra, 100*float64(extra)/float64(len(bytes.Join(whole, nil))), med, worst, all, snrWhole)
			}
		})
	}
}

// TestMP3JoinSplice: the two extremes at a splice, with real encoder
// output. "No room": the previous segment is the one of a few encodes
// (clicks or noise, CBR 128, 64 or 32 kb/s) that leaves the least space
// after one of its frames, as the joiner lays it out, and ends there; the
// next segment's first kept frame draws on a reservoir its own encoder
// filled over half a second of a soft tone (the frame of noise or clicks
// after it that draws most), more than that space: it
// cannot fit where its encoder put it, so it (or, where it is at the
// highest bitrate already, the frame before it) must grow, and maybe
// frames after it, each to the smallest bitrate and padding that do.
// "Room": the previous segment is the soft tone, ending with its
// reservoir at its fullest, so the same frame fits as it is and no frame
// changes. In both, checkJoined holds, FFmpeg and mpg123 decode the stream
// without a word to its exact length, and each segment's audio, but for
// the two frames after the splice, which overlap the other segment's,
// decodes to what the segment decodes to alone: the bumps change nothing
// but the frames' sizes; and FFmpeg's mp3 muxer writes the joined frames
// with the right Xing header and LAME tag (checkMuxed). Each case once
// more with CRC-protected frames,
// whose CRCs the joiner recomputes (FFmpeg's decoder checks them).
func TestMP3JoinSplice(t *testing.T) {
	t.Parallel()
	for _, c := range mp3Configs() {
		for _, v := range []struct{ room, crc bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			room := v.room
			name := c.String() + map[bool]string{false: "-no-room", true: "-room"}[room] + map[bool]string{false: "", true: "-crc"}[v.crc]
			encode := func(t *testing.T, c mp3Config, pcm []int16) [][]byte {
				if v.crc {
					return protect(t, lameEncode(t, c, pcm))
				}
				return lameEncode(t, c, pcm)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				spf, ch := c.spf(), c.ch
				quiet := make([]int16, c.rate*ch) // a soft tone: cheap to code
				for i := range quiet {
					quiet[i] = int16(300 * math.Sin(2*math.Pi*440*float64(i/ch)/float64(c.rate)))
				}
				type source struct {
					c   mp3Config
					pcm []int16
				}
				sources := []source{{c, quiet}}
				if !room {
					sources = nil
					for _, kbps := range []int{128, 64, 32} {
						for _, pcm := range [][]int16{clicksPCM(c.rate, ch), noisePCM(ch, c.rate, 1)} {
							sources = append(sources, source{mp3Config{c.rate, ch, false, kbps}, pcm})
						}
					}
				}
				var prev [][]byte
				k, free := -1, 0
				for _, e := range sources {
					frames := encode(t, e.c, e.pcm)
					joined, _ := joinMP3(t, []mp3Seg{{frames, 0}})
					l := mustLayout(t, joined)
					for i := 3; i < len(l)-3; i++ {
						if k < 0 || (room && l[i].free > free) || (!room && l[i].free < free) {
							prev, k, free = frames, i, l[i].free
						}
					}
				}
				// The next segment: half a second of the soft tone as pre-roll,
				// then noise or clicks; its first kept frame is the frame of the
				// second half (of either) whose main data most exceeds its own
				// payload.
				var next [][]byte
				skip, wants := 0, math.MinInt
				for _, loud := range [][]int16{noisePCM(ch, c.rate/2, 2), clicksPCM(c.rate, ch)[:c.rate/2*ch]} {
					frames := encode(t, c, append(slices.Clone(quiet[:c.rate/2*ch]), loud...))
					l := mustLayout(t, frames)
					for i := c.rate / 2 / spf; i < len(frames)-4; i++ {
						h, _ := parseMP3Head(frames[i])
						if w := len(l[i].main) - (len(frames[i]) - h.sideOff() - h.sideLen()); w > wants {
							next, skip, wants = frames, i, w
						}
					}
				}
				segs := []mp3Seg{{prev[:k+1], 0}, {next[:len(next)-2], skip}}
				joined, kept := joinMP3(t, segs)
				grown, extra := checkJoined(t, joined, kept, segs)
				t.Logf("room at the splice %d bytes; the first kept frame's main data exceeds its payload by %d bytes: %d frames grew by %d bytes in all %v",
					free, wants, len(grown), extra, grown)
				if room {
					require.LessOrEqual(t, wants, free, "precondition: the frame fits in the room left")
					assert.Empty(t, grown, "frames grew although they fit")
				} else {
					require.Greater(t, wants, free, "precondition: the frame does not fit in the room left")
					require.NotEmpty(t, grown, "frames grew")
				}
				ff, mpg := decodeMP3(t, joined, ch)
				assert.Len(t, ff, len(joined)*spf*ch, "FFmpeg's decode")
				assert.Len(t, mpg, len(joined)*spf*ch, "mpg123's decode")
				checkMuxed(t, joined, c.rate, ch)
				ffPrev, mpgPrev := decodeMP3(t, prev[:k+1], ch)
				ffNext, mpgNext := decodeMP3(t, next[:len(next)-2], ch)
				for _, d := range []struct {
					name               string
					joined, prev, next []float32
				}{{"FFmpeg", ff, ffPrev, ffNext}, {"mpg123", mpg, mpgPrev, mpgNext}} {
					// Joined frame k+1+i is the next segment's frame skip+i.
					n := (k + 1) * spf * ch
					assert.LessOrEqual(t, maxDiff(d.prev[:n], d.joined[:n]), 1.0/16384, "%s: the previous segment", d.name)
					assert.LessOrEqual(t, maxDiff(d.next[(skip+2)*spf*ch:], d.joined[n+2*spf*ch:]), 1.0/16384, "%s: the next segment", d.name)
				}
			})
		}
	}
}

// maxDiff is the largest difference between a and b sample for sample
// (+Inf if their lengths differ). mpg123 rounds to 16 bits with a result
// that can differ in the last bit with what it decoded before.
func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// mustLayout is mp3Layout of frames that must be well formed.
func mustLayout(t *testing.T, frames [][]byte) []mp3Laying {
	t.Helper()
	l, err := mp3Layout(frames)
	require.NoError(t, err)
	return l
}

// protect is frames made CRC-protected (the protection bit cleared, a CRC
// after the header), laid out again by a joiner with the same main data,
// for the CRC rows of TestMP3JoinSplice (FFmpeg's decoder checks the CRCs).
func protect(t *testing.T, frames [][]byte) [][]byte {
	t.Helper()
	j := newMP3Joiner()
	var out [][]byte
	for i, l := range mustLayout(t, frames) {
		h, _ := parseMP3Head(frames[i])
		require.False(t, h.crc)
		hdr := append(append([]byte{frames[i][0], frames[i][1] &^ 1, frames[i][2], frames[i][3]}, 0, 0), frames[i][4:4+h.sideLen()]...)
		h.crc = true
		require.NoError(t, j.lay(&mp3Laid{head: h, hdr: hdr, main: l.main, bitrate: h.bitrate, pad: h.pad}))
		out = j.emit(out, false)
	}
	return j.emit(out, true)
}

// synthMP3 is an MPEG-1 stereo 44.1 kHz frame at bitrate index b whose
// main data begins begin bytes back and is n bytes long (part2_3_length
// spread over its four granule/channels), all its other bits zero.
func synthMP3(b, begin, n int) []byte {
	h := mp3Head{version: 3, rate: 44100, bitrate: b}
	f := make([]byte, h.size(b, 0))
	f[0], f[1], f[2], f[3] = 0xFF, 0xFB, byte(b)<<4, 0x00
	side := f[4:]
	h.setMainDataBegin(side, begin)
	for k, bits := 0, n*8; k < 4; k++ {
		part := min(bits, 4095)
		bits -= part
		for i := range 12 { // part2_3_length of granule/channel k
			if part>>(11-i)&1 == 1 {
				off := 20 + k*59 + i
				side[off/8] |= 0x80 >> (off % 8)
			}
		}
	}
	return f
}

// TestMP3JoinErrors: what the joiner refuses, with a typed error naming the
// segment and frame, and never a panic.
func TestMP3JoinErrors(t *testing.T) {
	t.Parallel()
	real := lameEncode(t, mp3Config{44100, 1, false, 128}, musicPCM(44100, 1, 44100))
	edit := func(i int, fn func(f []byte) []byte) [][]byte {
		fs := slices.Clone(real)
		fs[i] = fn(slices.Clone(fs[i]))
		return fs
	}
	drained := func(n int) [][]byte { // 320 kb/s frames whose main data fills them: no room after
		fs := make([][]byte, n)
		for i := range fs {
			fs[i] = synthMP3(14, 0, 1044-36)
		}
		return fs
	}
	firstDrawing := slices.IndexFunc(real[1:], func(f []byte) bool { return (int(f[4])<<1 | int(f[5]>>7)) > 0 }) + 1
	require.Positive(t, firstDrawing)
	for _, c := range []struct {
		name           string
		segs           []mp3Seg
		segment, frame int
		reason         string
	}{
		{"no sync", []mp3Seg{{edit(3, func(f []byte) []byte { f[0] = 0; return f }), 0}}, 0, 3, "no frame sync"},
		{"layer II", []mp3Seg{{edit(0, func(f []byte) []byte { f[1] = 0xFD; return f }), 0}}, 0, 0, "not Layer III"},
		{"reserved version", []mp3Seg{{edit(0, func(f []byte) []byte { f[1] = 0xEB; return f }), 0}}, 0, 0, "reserved MPEG version"},
		{"free format", []mp3Seg{{edit(1, func(f []byte) []byte { f[2] &= 0x0F; return f }), 0}}, 0, 1, "free-format"},
		{"bitrate index 15", []mp3Seg{{edit(1, func(f []byte) []byte { f[2] |= 0xF0; return f }), 0}}, 0, 1, "invalid bitrate"},
		{"reserved sampling frequency", []mp3Seg{{edit(1, func(f []byte) []byte { f[2] |= 0x0C; return f }), 0}}, 0, 1, "reserved sampling"},
		{"cut short", []mp3Seg{{edit(2, func(f []byte) []byte { return f[:len(f)-1] }), 0}}, 0, 2, "where the header says"},
		{"two frames in one", []mp3Seg{{edit(2, func(f []byte) []byte { return append(f, real[3]...) }), 0}}, 0, 2, "where the header says"},
		{"header only", []mp3Seg{{edit(0, func(f []byte) []byte { return f[:3] }), 0}}, 0, 0, "shorter than a header"},
		{"skip beyond the frames", []mp3Seg{{real[:3], 4}}, 0, 0, "skip 4 of 3"},
		{"negative skip", []mp3Seg{{real, -1}}, 0, 0, "skip -1"},
		{"too little pre-roll", []mp3Seg{{real[:2], 0}, {real[firstDrawing:], 0}}, 1, 0, "before the segment's first frame"},
		{"main data past its frame", []mp3Seg{{edit(4, func(f []byte) []byte { f[6], f[7] = f[6]|0x3F, f[7]|0xFC; return f }), 0}}, 0, 4, "past the frame's end"},
		{"another sample rate", []mp3Seg{{real[:5], 0}, {lameEncode(t, mp3Config{48000, 1, false, 128}, musicPCM(48000, 1, 4800)), 0}}, 1, 0, "differs from the first frame's"},
		{"no room even at 320 kb/s", []mp3Seg{{drained(12), 0}, {[][]byte{synthMP3(14, 0, 0), synthMP3(14, 511, 1008+511)}, 1}}, 1, 1, "fit nowhere"},
	} {
		j := newMP3Joiner()
		var err error
		for _, s := range c.segs {
			if _, err = j.add(s.frames, s.skip); err != nil {
				break
			}
		}
		var fe *mp3FrameError
		if assert.ErrorAs(t, err, &fe, c.name) {
			assert.Equal(t, [2]int{c.segment, c.frame}, [2]int{fe.Segment, fe.Frame}, c.name)
			assert.Contains(t, fe.Reason, c.reason, c.name)
		}
	}
}

// FuzzMP3Joiner: any bytes, cut into frames where headers say (and into
// short garbage elsewhere), then into two segments with any skips: the
// joiner returns a typed error or a stream with one frame per kept frame,
// each with its main data, laid within reach and its own frame.
func FuzzMP3Joiner(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint8(0), uint8(0))
	f.Add(bytes.Repeat([]byte{0xFF, 0xFB, 0x90, 0xC0}, 200), uint8(1), uint8(0), uint8(1))
	f.Add(append(synthMP3(14, 0, 1008), synthMP3(9, 300, 400)...), uint8(1), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut, skip1, skip2 uint8) {
		var frames [][]byte
		for len(data) > 0 {
			n := 1 + int(data[0])%48
			if len(data) >= 4 {
				if h, _ := parseMP3Head(data[:4]); h.rate != 0 { // a header: as long as it says
					n = h.size(h.bitrate, h.pad)
				}
			}
			n = min(n, len(data))
			frames, data = append(frames, data[:n]), data[n:]
		}
		at := int(cut) % (len(frames) + 1)
		segs := []mp3Seg{{frames[:at], int(skip1) % (at + 2)}, {frames[at:], int(skip2) % (len(frames) - at + 2)}}
		j := newMP3Joiner()
		var out [][]byte
		kept := 0
		for _, s := range segs {
			o, err := j.add(s.frames, s.skip)
			if err != nil {
				var fe *mp3FrameError
				require.ErrorAs(t, err, &fe)
				return
			}
			out, kept = append(out, o...), kept+len(s.frames)-s.skip
		}
		o, err := j.flush()
		require.NoError(t, err)
		out = append(out, o...)
		require.Len(t, out, kept)
		got, err := mp3Layout(out)
		require.NoError(t, err)
		var want []mp3Laying
		for _, s := range segs {
			l, err := mp3Layout(s.frames)
			if err != nil {
				return // a pre-roll frame's main data lies outside the segment: the kept frames' may not
			}
			want = append(want, l[s.skip:]...)
		}
		for i := range got {
			require.Equal(t, want[i].main, got[i].main, "frame %d's main data", i)
		}
	})
}
