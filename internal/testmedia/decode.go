package testmedia

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/asticode/go-astiav"
)

// Audio is a decoded audio stream, as FFmpeg plays it back from the start
// (encoder priming signalled by the container already removed).
type Audio struct {
	Rate     int
	Channels int
	Codec    string
	Format   string // demuxer name
	// Samples are interleaved float32.
	Samples []float32
	// StartPTS is the first frame's timestamp in seconds: where the decoded
	// audio starts, after any samples the decoder dropped (Opus's pre-skip).
	StartPTS float64
}

// Frames is the number of samples per channel.
func (a *Audio) Frames() int { return len(a.Samples) / a.Channels }

// Seconds is the decoded duration.
func (a *Audio) Seconds() float64 { return float64(a.Frames()) / float64(a.Rate) }

// Mono is the channel average.
func (a *Audio) Mono() []float64 {
	m := make([]float64, a.Frames())
	for i := range m {
		var s float64
		for c := 0; c < a.Channels; c++ {
			s += float64(a.Samples[i*a.Channels+c])
		}
		m[i] = s / float64(a.Channels)
	}
	return m
}

// Decode decodes the best audio stream of the file at path.
func Decode(t testing.TB, path string) *Audio {
	t.Helper()
	a, err := DecodeFile(path)
	if err != nil {
		t.Fatalf("testmedia: decode %s: %v", path, err)
	}
	return a
}

// DecodeFile is Decode without a testing.TB.
func DecodeFile(path string) (*Audio, error) {
	fc, st, codec, err := openBestAudio(path)
	if err != nil {
		return nil, err
	}
	defer fc.Free()
	defer fc.CloseInput()
	dec := astiav.AllocCodecContext(codec)
	if dec == nil {
		return nil, errors.New("alloc codec context")
	}
	defer dec.Free()
	if err := st.CodecParameters().ToCodecContext(dec); err != nil {
		return nil, err
	}
	setPktTimebase(dec, st.TimeBase())
	if err := dec.Open(codec, nil); err != nil {
		return nil, err
	}
	pkt, frame := astiav.AllocPacket(), astiav.AllocFrame()
	defer pkt.Free()
	defer frame.Free()

	a := &Audio{Codec: codec.Name(), Format: fc.InputFormat().Name(), StartPTS: math.NaN()}
	var buf []byte
	receive := func() error {
		for {
			err := dec.ReceiveFrame(frame)
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			if err != nil {
				return err
			}
			if math.IsNaN(a.StartPTS) && frame.Pts() != astiav.NoPtsValue {
				a.StartPTS = float64(frame.Pts()) * st.TimeBase().Float64()
			}
			if a.Rate == 0 {
				a.Rate, a.Channels = frame.SampleRate(), frame.ChannelLayout().Channels()
			}
			if err := appendSamples(a, frame, &buf); err != nil {
				return err
			}
			frame.Unref()
		}
	}
	for {
		err := fc.ReadFrame(pkt)
		if errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			return nil, err
		}
		if pkt.StreamIndex() == st.Index() {
			if err := dec.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrInvaliddata) {
				pkt.Unref()
				return nil, err
			}
		}
		pkt.Unref()
		if err := receive(); err != nil {
			return nil, err
		}
	}
	if err := dec.SendPacket(nil); err != nil {
		return nil, err
	}
	if err := receive(); err != nil {
		return nil, err
	}
	if a.Channels == 0 {
		return nil, errors.New("no audio decoded")
	}
	return a, nil
}

// Lag estimates, in samples (sub-sample by parabolic interpolation), how
// far got lags behind the reference want: got[i] ≈ want[i-lag]. It searches
// lags in [-maxLag, maxLag] over the first n samples of got.
func Lag(got []float64, ref func(i int) float64, maxLag, n int) float64 {
	n = min(n, len(got))
	want := make([]float64, n+2*maxLag)
	for j := range want {
		want[j] = ref(j - maxLag)
	}
	// got[i] ≈ ref(i-l) = want[i-l+maxLag]
	corr := func(l int) float64 {
		var s float64
		w := want[maxLag-l : maxLag-l+n]
		for i, g := range got[:n] {
			s += g * w[i]
		}
		return s
	}
	vals := make([]float64, 2*maxLag+1)
	best := -maxLag
	for l := -maxLag; l <= maxLag; l++ {
		vals[l+maxLag] = corr(l)
		if vals[l+maxLag] > vals[best+maxLag] {
			best = l
		}
	}
	if best == -maxLag || best == maxLag {
		return float64(best)
	}
	y0, y1, y2 := vals[best-1+maxLag], vals[best+maxLag], vals[best+1+maxLag]
	d := y0 - 2*y1 + y2
	if d == 0 {
		return float64(best)
	}
	return float64(best) + 0.5*(y0-y2)/d
}

// appendSamples converts one decoded frame to interleaved float32 in Go, so
// the check does not depend on FFmpeg's resampler.
func appendSamples(a *Audio, f *astiav.Frame, buf *[]byte) error {
	ch, n := a.Channels, f.NbSamples()
	sf := f.SampleFormat()
	size, err := f.SamplesBufferSize(1)
	if err != nil {
		return err
	}
	if cap(*buf) < size {
		*buf = make([]byte, size)
	}
	b := (*buf)[:size]
	if _, err := f.SamplesCopyToBuffer(b, 1); err != nil {
		return err
	}
	bps := sf.BytesPerSample()
	var conv func([]byte) float32
	switch sf {
	case astiav.SampleFormatU8, astiav.SampleFormatU8P:
		conv = func(x []byte) float32 { return (float32(x[0]) - 128) / 128 }
	case astiav.SampleFormatS16, astiav.SampleFormatS16P:
		conv = func(x []byte) float32 { return float32(int16(binary.LittleEndian.Uint16(x))) / 32768 }
	case astiav.SampleFormatS32, astiav.SampleFormatS32P:
		conv = func(x []byte) float32 { return float32(int32(binary.LittleEndian.Uint32(x))) / 2147483648 }
	case astiav.SampleFormatFlt, astiav.SampleFormatFltp:
		conv = func(x []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(x)) }
	case astiav.SampleFormatDbl, astiav.SampleFormatDblp:
		conv = func(x []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(x))) }
	default:
		return fmt.Errorf("unhandled sample format %s", sf)
	}
	planar := sf.IsPlanar()
	for i := 0; i < n; i++ {
		for c := 0; c < ch; c++ {
			off := (i*ch + c) * bps
			if planar {
				off = (c*n + i) * bps
			}
			a.Samples = append(a.Samples, conv(b[off:off+bps]))
		}
	}
	return nil
}

// AudioPackets returns the file ranges [start, end) holding the payloads of
// the best audio stream's packets, for tests that corrupt packets rather
// than the container around them. A packet is located where the demuxer
// says it starts, or just after (Matroska reports its block's position);
// packets not found verbatim in the file are left out.
func AudioPackets(path string) ([][2]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fc, st, _, err := openBestAudio(path)
	if err != nil {
		return nil, err
	}
	defer fc.Free()
	defer fc.CloseInput()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	var ranges [][2]int64
	const slack = 64 // container bytes between a reported position and the payload
	for {
		err := fc.ReadFrame(pkt)
		if errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			return nil, err
		}
		if pos := pkt.Pos(); pkt.StreamIndex() == st.Index() && pos >= 0 && pos < int64(len(data)) {
			p := pkt.Data()
			window := data[pos:min(int64(len(data)), pos+int64(len(p))+slack)]
			if i := bytes.Index(window, p); i >= 0 {
				ranges = append(ranges, [2]int64{pos + int64(i), pos + int64(i) + int64(len(p))})
			}
		}
		pkt.Unref()
	}
	if len(ranges) == 0 {
		return nil, errors.New("no audio packet found verbatim in the file")
	}
	return ranges, nil
}

// openBestAudio opens path with FFmpeg's own defaults (independently of
// extract) and finds its best audio stream. On success the caller closes
// the input and frees the context; on error nothing is left to free.
func openBestAudio(path string) (*astiav.FormatContext, *astiav.Stream, *astiav.Codec, error) {
	fc := astiav.AllocFormatContext()
	if fc == nil {
		return nil, nil, nil, errors.New("alloc format context")
	}
	// Only audio decoders: reading stream information would otherwise open
	// video decoders, which CountDecoderOpens must see from audex alone.
	d := astiav.NewDictionary()
	defer d.Free()
	if err := d.Set("codec_whitelist", audioDecoders(), 0); err != nil {
		fc.Free()
		return nil, nil, nil, err
	}
	if err := fc.OpenInput(path, nil, d); err != nil {
		fc.Free()
		return nil, nil, nil, err
	}
	st, codec, err := func() (*astiav.Stream, *astiav.Codec, error) {
		if err := fc.FindStreamInfo(nil); err != nil {
			return nil, nil, err
		}
		return fc.FindBestStream(astiav.MediaTypeAudio, -1, -1)
	}()
	if err != nil {
		fc.CloseInput()
		fc.Free()
		return nil, nil, nil, err
	}
	return fc, st, codec, nil
}

// audioDecoders lists the build's audio decoders, comma-separated.
var audioDecoders = sync.OnceValue(func() string {
	var names []string
	for _, c := range astiav.Codecs() {
		if c.IsDecoder() && c.ID().MediaType() == astiav.MediaTypeAudio {
			names = append(names, c.Name())
		}
	}
	return strings.Join(names, ",")
})
